//! Stress test for the local scope's one `unsafe` block: a local child's future is pinned
//! inside its node (one allocation shared by the scope's arena and the child's handle). Every
//! child here is `!Unpin` and `!Send`, borrows from the test's stack, and checks on every poll
//! and in its destructor that it never moved; children finish, fail, panic, are cancelled
//! through their handles before and after their first poll, wait for a slot of a limit, are
//! shielded, start, are refused, are woken from another thread, and are dropped with their
//! scope while their handles live on. Also run under Miri (`cargo +nightly miri test -p
//! taskscope-core --test local_node`), with smaller counts.

use std::cell::Cell;
use std::future::Future;
use std::marker::PhantomPinned;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use futures_lite::future::{block_on, poll_once, yield_now};
use taskscope_core::{BoxError, ChildState, JoinError, LocalBuilder, LocalJoinHandle, LocalScope, local_scope};

const CHILDREN: usize = if cfg!(miri) { 12 } else { 2_000 };

/// What the children saw: polls, drops, moves (must stay 0).
#[derive(Default)]
struct Tally {
    polls: Cell<usize>,
    drops: Cell<usize>,
    moved: Cell<usize>,
}

/// How a [`Pinned`] child ends once its yields are used up.
#[derive(Clone, Copy)]
enum End {
    Value,
    Error,
    Panic,
    Forever,
}

/// A `!Unpin`, `!Send` future that borrows its tally, yields `yields` times, then ends as
/// `end` says, checking on every poll and on drop that it is where it was first polled.
struct Pinned<'a> {
    addr: Cell<usize>,
    yields: Cell<usize>,
    end: End,
    value: usize,
    tally: &'a Tally,
    _not_send: Rc<()>,
    _pin: PhantomPinned,
}

impl<'a> Pinned<'a> {
    fn new(yields: usize, end: End, value: usize, tally: &'a Tally) -> Self {
        Self {
            addr: Cell::new(0),
            yields: Cell::new(yields),
            end,
            value,
            tally,
            _not_send: Rc::new(()),
            _pin: PhantomPinned,
        }
    }

    fn check(&self) {
        let here = self as *const Self as usize;
        match self.addr.get() {
            0 => self.addr.set(here),
            first if first != here => self.tally.moved.set(self.tally.moved.get() + 1),
            _ => {}
        }
    }
}

impl Future for Pinned<'_> {
    type Output = Result<usize, BoxError>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.check();
        self.tally.polls.set(self.tally.polls.get() + 1);
        if self.yields.get() > 0 {
            self.yields.set(self.yields.get() - 1);
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        match self.end {
            End::Value => Poll::Ready(Ok(self.value)),
            End::Error => Poll::Ready(Err(BoxError::msg(format!("child {} failed", self.value)))),
            End::Panic => panic!("child {} panicked", self.value),
            End::Forever => Poll::Pending,
        }
    }
}

impl Drop for Pinned<'_> {
    fn drop(&mut self) {
        self.check();
        self.tally.drops.set(self.tally.drops.get() + 1);
    }
}

fn settled(tally: &Tally, spawned: usize) {
    assert_eq!(tally.moved.get(), 0, "a child's future moved while pinned");
    assert_eq!(tally.drops.get(), spawned, "every child's future is dropped exactly once");
}

#[test]
fn children_that_finish_never_move_and_are_dropped_once() {
    let tally = Tally::default();
    let sum = block_on(local_scope(async |s: &LocalScope<'_, BoxError>| {
        let handles: Vec<_> = (0..CHILDREN).map(|i| s.spawn(Pinned::new(i % 3, End::Value, i, &tally))).collect();
        let mut sum = 0;
        for h in handles {
            sum += h.await?;
        }
        Ok(sum)
    }))
    .unwrap();
    assert_eq!(sum, (0..CHILDREN).sum::<usize>());
    settled(&tally, CHILDREN);
}

#[test]
fn handles_outlive_their_scope_but_never_the_children_futures() {
    let tally = Tally::default();
    let handles = block_on(local_scope(async |s: &LocalScope<'_, BoxError>| {
        Ok((0..CHILDREN).map(|i| s.spawn(Pinned::new(i % 2, End::Value, i, &tally))).collect::<Vec<_>>())
    }))
    .unwrap();
    settled(&tally, CHILDREN);
    let values: Vec<usize> = handles.into_iter().map(|h| h.result().unwrap()).collect();
    assert_eq!(values, (0..CHILDREN).collect::<Vec<_>>());
}

#[test]
fn a_failure_stops_every_sibling_in_place() {
    let tally = Tally::default();
    let r = block_on(local_scope(async |s: &LocalScope<'_, BoxError>| {
        for i in 0..CHILDREN {
            let end = if i == CHILDREN / 2 { End::Error } else { End::Forever };
            s.spawn(Pinned::new(i % 4, end, i, &tally));
        }
        Ok(())
    }));
    assert!(r.is_err());
    settled(&tally, CHILDREN);
}

#[test]
fn a_panicking_child_is_dropped_in_place_and_its_siblings_too() {
    let tally = Tally::default();
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        block_on(local_scope(async |s: &LocalScope<'_, BoxError>| {
            for i in 0..CHILDREN {
                let end = if i == 1 { End::Panic } else { End::Forever };
                s.spawn(Pinned::new(i % 3, end, i, &tally));
            }
            Ok(())
        }))
    }));
    assert!(r.is_err(), "the child's panic reaches the owner");
    settled(&tally, CHILDREN);
}

#[test]
fn handles_cancel_children_before_and_after_their_first_poll() {
    let tally = Tally::default();
    let states = block_on(local_scope(async |s: &LocalScope<'_, BoxError>| {
        let handles: Vec<_> = (0..CHILDREN).map(|i| s.spawn(Pinned::new(2, End::Forever, i, &tally))).collect();
        for h in handles.iter().step_by(2) {
            h.cancel();
        }
        yield_now().await;
        for h in handles.iter().skip(1).step_by(2) {
            h.cancel();
        }
        let mut states = Vec::new();
        for h in handles {
            states.push(matches!(h.await, Err(JoinError::Cancelled { .. })));
        }
        Ok(states)
    }))
    .unwrap();
    assert!(states.into_iter().all(|c| c), "every child was cancelled");
    settled(&tally, CHILDREN);
}

#[test]
fn limited_shielded_and_started_children_never_move() {
    let tally = Tally::default();
    let r = block_on(LocalBuilder::new().limit(3).expect("3 is a valid limit").run(
        async |s: &LocalScope<'_, BoxError>| {
            let mut handles = Vec::new();
            for i in 0..CHILDREN {
                handles.push(match i % 3 {
                    0 => s.spawn(Pinned::new(i % 2, End::Value, i, &tally)),
                    1 => s.spawn_shielded(Pinned::new(1, End::Value, i, &tally)),
                    _ => {
                        let tally = &tally;
                        let (v, h) = s
                            .start(move |ready| async move {
                                ready.send(i);
                                Pinned::new(1, End::Value, i, tally).await
                            })
                            .await?;
                        assert_eq!(v, i);
                        h
                    }
                });
            }
            let mut sum = 0;
            for h in handles {
                sum += h.await?;
            }
            Ok(sum)
        },
    ));
    assert_eq!(r.unwrap(), (0..CHILDREN).sum::<usize>());
    settled(&tally, CHILDREN);
}

#[test]
fn refused_spawns_drop_their_futures_unpolled() {
    let tally = Tally::default();
    let refused = block_on(local_scope(async |s: &LocalScope<'_, BoxError>| {
        s.cancel();
        let handles: Vec<LocalJoinHandle<'_, usize, BoxError>> =
            (0..CHILDREN).map(|i| s.spawn(Pinned::new(0, End::Value, i, &tally))).collect();
        Ok(handles.iter().filter(|h| h.state() == ChildState::Closed).count())
    }));
    assert!(refused.is_err(), "the scope was cancelled");
    assert_eq!(tally.polls.get(), 0, "a refused child is never polled");
    settled(&tally, CHILDREN);
}

#[test]
fn dropping_the_scope_midway_drops_every_child_in_place_while_handles_live() {
    let tally = Tally::default();
    let kept: Rc<Cell<Vec<LocalJoinHandle<'_, usize, BoxError>>>> = Rc::default();
    {
        let mut scope = Box::pin(local_scope(async |s: &LocalScope<'_, BoxError>| {
            let handles = (0..CHILDREN).map(|i| s.spawn(Pinned::new(3, End::Forever, i, &tally))).collect();
            kept.set(handles);
            std::future::pending::<()>().await;
            Ok(())
        }));
        assert!(block_on(poll_once(scope.as_mut())).is_none());
        assert!(tally.polls.get() > 0);
    }
    settled(&tally, CHILDREN);
    let handles = kept.take();
    assert_eq!(handles.len(), CHILDREN);
    assert!(handles.iter().all(|h| h.state() == ChildState::Cancelled));
}

/// Whether another thread has woken a [`Parked`] child, and the waker it wakes.
type Park = Mutex<(bool, Option<Waker>)>;

/// A child parked until another thread wakes it.
struct Parked<'a> {
    woken: &'a Park,
    _pin: PhantomPinned,
}

impl Future for Parked<'_> {
    type Output = Result<usize, BoxError>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut w = self.woken.lock().unwrap();
        if w.0 {
            return Poll::Ready(Ok(1));
        }
        w.1 = Some(cx.waker().clone());
        Poll::Pending
    }
}

#[test]
fn children_woken_from_another_thread_are_polled_in_place() {
    let n = if cfg!(miri) { 4 } else { 64 };
    let cells: Vec<Arc<Park>> = (0..n).map(|_| Arc::default()).collect();
    let wakers = cells.clone();
    let waker_thread = std::thread::spawn(move || {
        for cell in wakers {
            loop {
                let mut w = cell.lock().unwrap();
                if let Some(waker) = w.1.take() {
                    w.0 = true;
                    drop(w);
                    waker.wake();
                    break;
                }
                drop(w);
                std::thread::yield_now();
            }
        }
    });
    let sum = block_on(local_scope(async |s: &LocalScope<'_, BoxError>| {
        let handles: Vec<_> = cells.iter().map(|c| s.spawn(Parked { woken: c, _pin: PhantomPinned })).collect();
        let mut sum = 0;
        for h in handles {
            sum += h.await?;
        }
        Ok(sum)
    }))
    .unwrap();
    waker_thread.join().unwrap();
    assert_eq!(sum, n);
}
