//! A local scope under panics from user code it calls at awkward moments (a join waker, a
//! token waiter, the body's synchronous part, destructors that re-enter the scope): every
//! child's future is still dropped before the scope's drop returns (P3, C3, F7), nothing
//! panics from inside core, and nothing is dropped twice. Also run under Miri.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use futures_lite::future::{block_on, poll_once};
use taskscope_core::{BoxError, ChildState, LocalJoinHandle, LocalScope, LocalSpawner, local_scope};

/// A child that never ends and records when its future is dropped.
struct Forever<'a> {
    dropped: &'a Cell<usize>,
}

impl Future for Forever<'_> {
    type Output = Result<(), BoxError>;
    fn poll(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Self::Output> {
        Poll::Pending
    }
}

impl Drop for Forever<'_> {
    fn drop(&mut self) {
        self.dropped.set(self.dropped.get() + 1);
    }
}

/// A waker whose `wake` panics (any user may poll a handle with its own waker).
struct PanicWaker;
impl Wake for PanicWaker {
    fn wake(self: Arc<Self>) {
        panic!("user waker panics on wake");
    }
}

fn panic_waker() -> Waker {
    Waker::from(Arc::new(PanicWaker))
}

/// Forces a plain closure (not an `async` closure) into the body's signature: its synchronous
/// part runs when `run` calls `body(&scope)`, before the scope's driver exists.
fn sync_body<'env, Fut, C>(c: C) -> C
where
    C: for<'s> FnOnce(&'s LocalScope<'env, BoxError>) -> Fut,
    Fut: Future<Output = Result<(), BoxError>>,
{
    c
}

/// The body's synchronous part spawns, keeps the handle outside, then panics, before the
/// scope's driver exists: the child's future is dropped as the panic leaves the scope, though
/// its handle keeps the node it lives in (P3), and the process does not abort.
#[test]
fn a_body_panicking_after_spawning_drops_every_child() {
    let dropped = Cell::new(0);
    let kept: RefCell<Vec<LocalJoinHandle<'_, (), BoxError>>> = RefCell::new(Vec::new());
    let r = catch_unwind(AssertUnwindSafe(|| {
        block_on(local_scope(sync_body(|s| {
            kept.borrow_mut().push(s.spawn(Forever { dropped: &dropped }));
            if !kept.borrow().is_empty() {
                panic!("body panics synchronously");
            }
            std::future::ready(Ok(()))
        })))
    }));
    assert!(r.is_err());
    assert_eq!(dropped.get(), 1, "P3: the child's future outlived its scope future");
    // Stopped, not just dropped: its handle says it was cancelled.
    assert_eq!(kept.borrow()[0].state(), ChildState::Cancelled);
}

/// A join waker that panics as the scope's drop stops its child: every other child is still
/// stopped (their futures dropped, their handles told) before the panic goes on.
#[test]
fn a_join_waker_panicking_as_the_scope_drops_still_drops_every_child() {
    let dropped = Cell::new(0);
    let kept: RefCell<Vec<LocalJoinHandle<'_, (), BoxError>>> = RefCell::new(Vec::new());
    {
        let mut scope = Box::pin(local_scope(async |s: &LocalScope<'_, BoxError>| {
            let mut a = s.spawn(Forever { dropped: &dropped });
            let b = s.spawn(Forever { dropped: &dropped });
            // Await `a` once with a waker that panics on wake.
            let w = panic_waker();
            assert!(Pin::new(&mut a).poll(&mut Context::from_waker(&w)).is_pending());
            kept.borrow_mut().extend([a, b]);
            std::future::pending::<()>().await;
            Ok(())
        }));
        assert!(block_on(poll_once(scope.as_mut())).is_none());
        let r = catch_unwind(AssertUnwindSafe(move || drop(scope)));
        assert!(r.is_err(), "the user waker's panic came out of the scope's drop");
    }
    let states: Vec<ChildState> = kept.borrow().iter().map(|h| h.state()).collect();
    assert_eq!(dropped.get(), 2, "P3: a child's future outlived its scope's drop; states {states:?}");
}

/// A waker on the scope's token (any user can wait on `s.token()`) that panics when the
/// scope's drop fires the token: every child is still dropped before the panic goes on.
#[test]
fn a_token_waiter_panicking_as_the_scope_drops_still_drops_every_child() {
    let dropped = Cell::new(0);
    let kept: RefCell<Vec<LocalJoinHandle<'_, (), BoxError>>> = RefCell::new(Vec::new());
    {
        let mut scope = Box::pin(local_scope(async |s: &LocalScope<'_, BoxError>| {
            kept.borrow_mut().push(s.spawn(Forever { dropped: &dropped }));
            let token = s.token().clone();
            let mut wait = Box::pin(token.cancelled_owned());
            let w = panic_waker();
            assert!(wait.as_mut().poll(&mut Context::from_waker(&w)).is_pending());
            std::future::pending::<()>().await;
            drop(wait);
            Ok(())
        }));
        assert!(block_on(poll_once(scope.as_mut())).is_none());
        let r = catch_unwind(AssertUnwindSafe(move || drop(scope)));
        assert!(r.is_err());
    }
    assert_eq!(dropped.get(), 1, "P3: the child's future outlived its scope's drop");
}

/// A child's destructor re-enters the scope while the scope drops its children: it spawns,
/// cancels the scope, cancels and drops other children's handles, and drops its own handle.
/// Nothing panics inside core and no node is touched twice.
#[test]
fn destructors_reentering_the_scope_as_it_drops_are_handled() {
    struct Evil<'a, 'env> {
        sp: LocalSpawner<'env, BoxError>,
        others: Rc<RefCell<Vec<LocalJoinHandle<'env, (), BoxError>>>>,
        dropped: &'a Cell<usize>,
    }
    impl Future for Evil<'_, '_> {
        type Output = Result<(), BoxError>;
        fn poll(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Self::Output> {
            Poll::Pending
        }
    }
    impl Drop for Evil<'_, '_> {
        fn drop(&mut self) {
            self.dropped.set(self.dropped.get() + 1);
            let h = self.sp.spawn(async { Ok(()) });
            assert_eq!(h.state(), ChildState::Closed);
            let h = self.sp.spawn_shielded(async { Ok(()) });
            assert_eq!(h.state(), ChildState::Closed);
            self.sp.cancel();
            for h in self.others.borrow().iter() {
                h.cancel();
            }
            self.others.borrow_mut().clear();
        }
    }
    let dropped = Cell::new(0);
    let others = Rc::new(RefCell::new(Vec::new()));
    {
        let mut scope = Box::pin(local_scope(async |s: &LocalScope<'_, BoxError>| {
            for _ in 0..4 {
                let h = s.spawn(Evil { sp: s.spawner(), others: others.clone(), dropped: &dropped });
                others.borrow_mut().push(h);
            }
            std::future::pending::<()>().await;
            Ok(())
        }));
        assert!(block_on(poll_once(scope.as_mut())).is_none());
    }
    assert_eq!(dropped.get(), 4);
    assert!(others.borrow().is_empty());
}

/// The re-entrancy above during a hard cancellation (step 3 of the driver), where shielded
/// spawns are still accepted: a destructor spawns a shielded child that runs to completion.
#[test]
fn a_destructor_spawning_a_shielded_child_during_a_hard_cancel() {
    struct Spawns<'env> {
        sp: LocalSpawner<'env, BoxError>,
        ran: Rc<Cell<bool>>,
    }
    impl Future for Spawns<'_> {
        type Output = Result<(), BoxError>;
        fn poll(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Self::Output> {
            Poll::Pending
        }
    }
    impl Drop for Spawns<'_> {
        fn drop(&mut self) {
            let ran = self.ran.clone();
            let h = self.sp.spawn_shielded(async move {
                ran.set(true);
                Ok(())
            });
            assert_eq!(h.state(), ChildState::Running);
        }
    }
    let ran = Rc::new(Cell::new(false));
    let r = block_on(local_scope(async |s: &LocalScope<'_, BoxError>| {
        s.spawn(Spawns { sp: s.spawner(), ran: ran.clone() });
        s.spawn(Spawns { sp: s.spawner(), ran: ran.clone() });
        futures_lite::future::yield_now().await;
        s.cancel();
        Ok(())
    }));
    assert!(r.is_err());
    assert!(ran.get());
}

/// A child polls its own handle and cancels itself, drops its own handle from inside its
/// poll, and a sibling awaits a handle returned out of a nested local scope.
#[test]
fn a_child_touching_its_own_handle_while_polled() {
    let me: Rc<RefCell<Option<LocalJoinHandle<'_, (), BoxError>>>> = Rc::default();
    let me2 = me.clone();
    let r = block_on(local_scope(async |s: &LocalScope<'_, BoxError>| {
        let h = s.spawn(async move {
            futures_lite::future::yield_now().await;
            // Await our own handle once (registers this child's waker as join waker), cancel
            // ourselves, drop our own handle, then yield: the next poll stops us.
            let mut mine = me2.borrow_mut().take().unwrap();
            assert!(poll_once(&mut mine).await.is_none());
            mine.cancel();
            drop(mine);
            futures_lite::future::yield_now().await;
            unreachable!("a cancelled child is not polled again");
        });
        *me.borrow_mut() = Some(h);
        let inner = local_scope(async |t: &LocalScope<'_, BoxError>| Ok(t.spawn(async { Ok(5) }))).await?;
        assert_eq!(inner.await?, 5);
        Ok(())
    }));
    assert!(r.is_ok(), "{r:?}");
}

/// A handle's join waker that panics when its child finishes normally: the panic comes out
/// of the scope's poll; catching it and dropping the scope still drops the siblings.
#[test]
fn a_join_waker_panicking_on_a_normal_finish_leaves_the_scope_droppable() {
    let dropped = Cell::new(0);
    let kept: RefCell<Vec<LocalJoinHandle<'_, (), BoxError>>> = RefCell::new(Vec::new());
    {
        let mut scope = Box::pin(local_scope(async |s: &LocalScope<'_, BoxError>| {
            let mut a = s.spawn(async { Ok(()) });
            let b = s.spawn(Forever { dropped: &dropped });
            let w = panic_waker();
            assert!(Pin::new(&mut a).poll(&mut Context::from_waker(&w)).is_pending());
            kept.borrow_mut().extend([a, b]);
            std::future::pending::<()>().await;
            Ok(())
        }));
        let r = catch_unwind(AssertUnwindSafe(|| block_on(poll_once(scope.as_mut()))));
        assert!(r.is_err(), "the waker's panic came out of the scope's poll");
    }
    assert_eq!(dropped.get(), 1, "P3: the sibling's future outlived its scope");
}

/// A join waker that panics during the hard cancellation inside the scope's poll
/// (`s.cancel()`): the panic comes out of the poll only after every other victim was stopped,
/// so none outlives the scope.
#[test]
fn a_join_waker_panicking_during_a_hard_cancel_still_drops_every_child() {
    let dropped = Cell::new(0);
    let kept: RefCell<Vec<LocalJoinHandle<'_, (), BoxError>>> = RefCell::new(Vec::new());
    {
        let mut scope = Box::pin(local_scope(async |s: &LocalScope<'_, BoxError>| {
            let mut a = s.spawn(Forever { dropped: &dropped });
            let b = s.spawn(Forever { dropped: &dropped });
            let w = panic_waker();
            assert!(Pin::new(&mut a).poll(&mut Context::from_waker(&w)).is_pending());
            kept.borrow_mut().extend([a, b]);
            futures_lite::future::yield_now().await;
            s.cancel();
            std::future::pending::<()>().await;
            Ok(())
        }));
        let r = catch_unwind(AssertUnwindSafe(|| block_on(scope.as_mut())));
        assert!(r.is_err(), "the waker's panic came out of the scope's poll");
    }
    assert_eq!(dropped.get(), 2, "P3: a child's future outlived its scope");
}
