//! Stress test for the spawned scope's `unsafe` code: a child's future lives in the task its
//! runtime stores it in, and the state its handle shares lives in the scope's slot table.
//! Every child here is `!Unpin` and checks, on every poll and in its destructor, that it never
//! moved; children migrate between worker threads, handles are dropped on other threads while
//! their children finish, a runtime shutdown drops pending children through `Task`'s
//! destructor, children with side state (limited, shielded, started) are cancelled before and
//! after they start, and refused spawns drop their futures unpolled. Also run under Miri
//! (`cargo +nightly miri test -p taskscope-core --test child_cell`), with smaller counts.

use std::future::Future;
use std::marker::PhantomPinned;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::thread::JoinHandle as Thread;
use std::time::Instant;

use async_executor::Executor;
use taskscope_core::testing::ThreadRuntime;
use taskscope_core::{BlockingJob, BoxError, BoxedSleep, Builder, Runtime, Scope, Task};

const CHILDREN: usize = if cfg!(miri) { 24 } else { 3_000 };
const WORKERS: usize = 3;

/// A runtime over an async-executor with worker threads; shutting it down drops every task
/// still pending, on the calling thread.
#[derive(Debug)]
struct Pool {
    ex: Mutex<Option<Arc<Executor<'static>>>>,
    stop: Arc<AtomicBool>,
    workers: Mutex<Vec<Thread<()>>>,
}

impl Pool {
    fn start() -> Arc<Self> {
        let ex = Arc::new(Executor::new());
        let stop = Arc::new(AtomicBool::new(false));
        let workers = (0..WORKERS)
            .map(|_| {
                let (ex, stop) = (ex.clone(), stop.clone());
                std::thread::spawn(move || {
                    while !stop.load(Ordering::Acquire) {
                        if !ex.try_tick() {
                            std::thread::yield_now();
                        }
                    }
                })
            })
            .collect();
        Arc::new(Self { ex: Mutex::new(Some(ex)), stop, workers: Mutex::new(workers) })
    }

    /// Stops the workers, then drops the executor: every pending task is dropped here.
    fn shutdown(&self) {
        self.stop.store(true, Ordering::Release);
        for w in self.workers.lock().unwrap().drain(..) {
            w.join().unwrap();
        }
        let ex = self.ex.lock().unwrap().take();
        drop(ex);
    }
}

impl Runtime for Pool {
    fn spawn(&self, task: Task) {
        match &*self.ex.lock().unwrap() {
            Some(ex) => ex.spawn(task).detach(),
            None => drop(task),
        }
    }
    fn spawn_blocking(&self, job: BlockingJob) {
        std::thread::spawn(job);
    }
    fn sleep_until(&self, deadline: Instant) -> BoxedSleep {
        ThreadRuntime.sleep_until(deadline)
    }
    fn name(&self) -> &'static str {
        "stress-pool"
    }
}

/// What the children report.
#[derive(Default)]
struct Tally {
    polls: AtomicUsize,
    drops: AtomicUsize,
    moved: AtomicUsize,
}

/// A `!Unpin` future that yields `yields` times, then returns `value`, checking on every poll
/// and on drop that it is where it was first polled.
struct Pinned {
    addr: AtomicUsize,
    yields: AtomicUsize,
    value: usize,
    tally: Arc<Tally>,
    _pin: PhantomPinned,
}

impl Pinned {
    fn new(yields: usize, value: usize, tally: &Arc<Tally>) -> Self {
        Self {
            addr: AtomicUsize::new(0),
            yields: AtomicUsize::new(yields),
            value,
            tally: tally.clone(),
            _pin: PhantomPinned,
        }
    }

    fn check(&self) {
        let here = self as *const Self as usize;
        let first = self.addr.load(Ordering::Relaxed);
        if first == 0 {
            self.addr.store(here, Ordering::Relaxed);
        } else if first != here {
            self.tally.moved.fetch_add(1, Ordering::SeqCst);
        }
    }
}

impl Future for Pinned {
    type Output = Result<usize, BoxError>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.check();
        self.tally.polls.fetch_add(1, Ordering::SeqCst);
        if self.yields.load(Ordering::Relaxed) == 0 {
            return Poll::Ready(Ok(self.value));
        }
        self.yields.fetch_sub(1, Ordering::Relaxed);
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

impl Drop for Pinned {
    fn drop(&mut self) {
        self.check();
        self.tally.drops.fetch_add(1, Ordering::SeqCst);
    }
}

/// A value whose drops are counted: each must be dropped exactly once, wherever it ends up.
struct Counted(usize, Arc<AtomicUsize>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.1.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn children_never_move_and_are_dropped_once_across_threads() {
    let pool = Pool::start();
    let tally = Arc::new(Tally::default());
    let value_drops = Arc::new(AtomicUsize::new(0));
    let rt: Arc<dyn Runtime> = pool.clone();
    let (t, vd) = (tally.clone(), value_drops.clone());
    let sum = futures_lite::future::block_on(Builder::new().runtime(rt).run(async move |s: &Scope<BoxError>| {
        let mut awaited = Vec::new();
        let mut dropped_elsewhere = Vec::new();
        for i in 0..CHILDREN {
            let inner = Pinned::new(i % 7, i, &t);
            let vd = vd.clone();
            let h = s.spawn(async move { Ok(Counted(inner.await?, vd)) });
            if i % 3 == 0 {
                dropped_elsewhere.push(h);
            } else {
                awaited.push(h);
            }
        }
        // Handles dropped on another thread while their children finish: each value is
        // dropped once, by whichever side comes second.
        let dropper = std::thread::spawn(move || drop(dropped_elsewhere));
        let mut sum = 0;
        for h in awaited {
            sum += h.await?.0;
        }
        dropper.join().unwrap();
        Ok(sum)
    }))
    .unwrap();
    pool.shutdown();
    let expected: usize = (0..CHILDREN).filter(|i| i % 3 != 0).sum();
    assert_eq!(sum, expected);
    assert_eq!(tally.moved.load(Ordering::SeqCst), 0, "a pinned child future moved");
    assert_eq!(tally.drops.load(Ordering::SeqCst), CHILDREN, "every child future is dropped once");
    let polls: usize = (0..CHILDREN).map(|i| i % 7 + 1).sum();
    assert_eq!(tally.polls.load(Ordering::SeqCst), polls);
    assert_eq!(value_drops.load(Ordering::SeqCst), CHILDREN, "every value is dropped once");
}

#[test]
fn runtime_shutdown_drops_pending_children_in_place() {
    let pool = Pool::start();
    let tally = Arc::new(Tally::default());
    let started = Arc::new(AtomicUsize::new(0));
    let scope_ended = Arc::new(AtomicBool::new(false));
    let rt: Arc<dyn Runtime> = pool.clone();
    let (t, st, ended) = (tally.clone(), started.clone(), scope_ended.clone());
    // The owner is itself a task on the pool, so the shutdown drops it and its children.
    pool.spawn(Task::new(async move {
        let _ = Builder::new()
            .runtime(rt)
            .run(async |s: &Scope<BoxError>| {
                for i in 0..CHILDREN {
                    let inner = Pinned::new(i % 4, i, &t);
                    let st = st.clone();
                    s.spawn(async move {
                        inner.await?;
                        st.fetch_add(1, Ordering::SeqCst);
                        std::future::pending::<()>().await;
                        Ok(())
                    });
                }
                std::future::pending::<()>().await;
                Ok(())
            })
            .await;
        ended.store(true, Ordering::SeqCst);
    }));
    while started.load(Ordering::SeqCst) < CHILDREN {
        std::thread::yield_now();
    }
    pool.shutdown();
    assert!(!scope_ended.load(Ordering::SeqCst), "the owner never finished: it was dropped");
    assert_eq!(tally.moved.load(Ordering::SeqCst), 0, "a pinned child future moved");
    assert_eq!(tally.drops.load(Ordering::SeqCst), CHILDREN, "every pending child future is dropped once");
}

#[test]
fn limited_shielded_and_started_children_are_dropped_once_in_place() {
    let pool = Pool::start();
    let tally = Arc::new(Tally::default());
    let rt: Arc<dyn Runtime> = pool.clone();
    let t = tally.clone();
    let spawned = CHILDREN / 3;
    let out = futures_lite::future::block_on(Builder::new().runtime(rt).limit(4).unwrap().run(
        async move |s: &Scope<BoxError>| {
            for i in 0..spawned {
                let inner = Pinned::new(i % 5, i, &t);
                match i % 3 {
                    // Queued for one of the four running slots (L1), in spawn order.
                    0 => drop(s.spawn(async move { inner.await.map(drop) })),
                    // Shielded (C8): not limited, survives the cancel below.
                    1 => drop(s.spawn_shielded(async move { inner.await.map(drop) })),
                    // Started (L4): reports ready, then finishes.
                    _ => {
                        let (v, _h) = s
                            .start(|ready| async move {
                                ready.send(i);
                                inner.await.map(drop)
                            })
                            .await?;
                        assert_eq!(v, i);
                    }
                }
            }
            // Queued children that have not started yet never will (S4).
            s.cancel();
            Ok(())
        },
    ));
    assert!(matches!(out, Err(taskscope_core::ScopeError::Cancelled { .. })), "{out:?}");
    pool.shutdown();
    assert_eq!(tally.moved.load(Ordering::SeqCst), 0, "a pinned child future moved");
    assert_eq!(tally.drops.load(Ordering::SeqCst), spawned, "every child future is dropped once");
}

#[test]
fn refused_children_are_dropped_unpolled() {
    let pool = Pool::start();
    let tally = Arc::new(Tally::default());
    let rt: Arc<dyn Runtime> = pool.clone();
    let spawner = futures_lite::future::block_on(
        Builder::new().runtime(rt).run(async |s: &Scope<BoxError>| Ok::<_, BoxError>(s.spawner())),
    )
    .unwrap();
    for i in 0..CHILDREN / 10 {
        let inner = Pinned::new(0, i, &tally);
        let h = spawner.spawn(async move { inner.await.map(drop) });
        assert_eq!(h.state(), taskscope_core::ChildState::Closed);
    }
    pool.shutdown();
    assert_eq!(tally.polls.load(Ordering::SeqCst), 0, "a refused child was polled");
    assert_eq!(tally.drops.load(Ordering::SeqCst), CHILDREN / 10, "every refused future is dropped once");
}
