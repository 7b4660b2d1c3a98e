//! Statically dispatched spawning: a future spawned straight into the runtime's own task cell,
//! its output carried back by the runtime's own join handle.
//!
//! [`Runtime`] is object-safe and spawns only `Task`s, whose output is `()`; [`Spawn`] is its
//! generic counterpart (a generic method, so not object-safe), implemented by an adapter's
//! runtime type (`TokioRuntime`, `SmolRuntime`) and, for every other runtime, by
//! `Arc<dyn Runtime>` itself through [`DynJoin`]. [`RawJoin`] is the contract core relies on
//! when it reads a spawned future's output.

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use crate::runtime::{RawTask, Runtime, Task};
use crate::sync::Mutex;
use crate::util::lock;

/// A runtime's join handle for a future given to [`Spawn::spawn_child`], as core holds it.
///
/// # Contract
/// - [`poll_join`](RawJoin::poll_join) returns `Ready(Some(o))` once the future returned `o`,
///   and `Ready(None)` if the runtime dropped the task instead (at shutdown, or a task spawned
///   during or after it) or the future panicked. Until then it returns `Pending` and wakes
///   `cx`'s waker when that changes.
/// - It never panics, and never returns `Pending` because of a runtime's cooperative budget
///   (tokio's coop): once the task is finished, the next poll is `Ready`.
/// - Polling again after a `Ready` may return `Ready(None)` (the output is handed out once).
/// - [`is_finished`](RawJoin::is_finished) is `true` once the task completed or was dropped
///   by the runtime, so that the next `poll_join` is `Ready`.
/// - Dropping it **detaches** the task: the task keeps running to completion; dropping a
///   join never cancels (async-executor's own `Task` would cancel, so its carrier detaches).
///
/// ```
/// use std::sync::Arc;
/// use std::task::{Context, Poll, Waker};
/// use taskscope_core::{RawJoin, Runtime, Spawn};
///
/// let rt: Arc<dyn Runtime> = Arc::new(taskscope_core::testing::ThreadRuntime);
/// let mut join = rt.spawn_child(async { 6 * 7 });
/// let out = futures_lite::future::block_on(std::future::poll_fn(|cx| join.poll_join(cx)));
/// assert_eq!(out, Some(42));
/// assert!(join.is_finished());
/// // The output is handed out once.
/// assert_eq!(join.poll_join(&mut Context::from_waker(Waker::noop())), Poll::Ready(None));
/// ```
pub trait RawJoin<O>: Send + Unpin + 'static {
    /// `Ready(Some(o))` once the future returned `o`; `Ready(None)` if the runtime dropped
    /// the task or the future panicked; `Pending` (with `cx`'s waker registered) before.
    fn poll_join(&mut self, cx: &mut Context<'_>) -> Poll<Option<O>>;

    /// Whether the task is finished (completed or dropped): the next poll is `Ready`.
    fn is_finished(&self) -> bool;
}

/// A runtime that spawns a future into its own task cell and hands back its own join handle:
/// one allocation per spawned future, where [`Runtime::spawn`] of a wrapping [`Task`] needs
/// more. Not object-safe (its spawn method is generic); [`Spawn::runtime`] gives the same
/// runtime as an object, for everything else core needs from it.
///
/// # Contract
/// [`spawn_child`](Spawn::spawn_child) has the contract of [`Runtime::spawn`]: it schedules
/// the future and returns without polling it; while the runtime runs, the future runs to
/// completion, detached from the returned join (see [`RawJoin`]); during or after shutdown it
/// drops `fut` unpolled, and the join then yields `None`. It never panics.
///
/// ```
/// use std::sync::Arc;
/// use taskscope_core::{RawJoin, Runtime, Spawn};
///
/// let rt: Arc<dyn Runtime> = Arc::new(taskscope_core::testing::ThreadRuntime);
/// let mut join = rt.spawn_child(async { "done" });
/// let out = futures_lite::future::block_on(std::future::poll_fn(|cx| join.poll_join(cx)));
/// assert_eq!(out, Some("done"));
/// // The object form of any `Spawn`, and back.
/// assert!(<Arc<dyn Runtime> as Spawn>::from_runtime(&rt.runtime()).is_some());
/// ```
pub trait Spawn: Clone + Send + Sync + fmt::Debug + 'static {
    /// The runtime's join handle for a future with output `O`.
    type Join<O: Send + 'static>: RawJoin<O>;

    /// Spawns `fut` detached and returns its join; see the trait's contract.
    fn spawn_child<F>(&self, fut: F) -> Self::Join<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static;

    /// The same runtime as an object: timers, blocking pool, name.
    fn runtime(&self) -> Arc<dyn Runtime>;

    /// The runtime behind `rt` as `Self`, or `None` if it is another kind of runtime (an
    /// adapter downcasts through [`Runtime::as_any`]).
    fn from_runtime(rt: &Arc<dyn Runtime>) -> Option<Self>;
}

/// Every runtime spawns through [`Runtime::spawn`]: the future and its output live in a cell
/// shared by the [`Task`] and the [`DynJoin`] (two allocations: the cell, and the boxed
/// future).
impl Spawn for Arc<dyn Runtime> {
    type Join<O: Send + 'static> = DynJoin<O>;

    fn spawn_child<F>(&self, fut: F) -> DynJoin<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let cell = Arc::pin(DynCell { fut: Mutex::new(Some(Box::pin(fut))), out: Mutex::new(Out::Running(None)) });
        let raw: Pin<Arc<dyn RawTask>> = cell.clone();
        self.spawn(Task::from_raw(raw));
        DynJoin { cell }
    }

    fn runtime(&self) -> Arc<dyn Runtime> {
        self.clone()
    }

    fn from_runtime(rt: &Arc<dyn Runtime>) -> Option<Self> {
        Some(rt.clone())
    }
}

/// Any runtime, spawned on through the object-safe [`Runtime`] contract: the default runtime
/// parameter of [`Builder`](crate::Builder), [`Scope`](crate::Scope),
/// [`Spawner`](crate::Spawner) and [`ChildBuilder`](crate::ChildBuilder), so that code naming
/// `Scope<E>` works with every runtime. A scope's children spawn as with `Arc<dyn Runtime>`'s
/// [`Spawn`].
///
/// ```
/// use std::sync::Arc;
/// use taskscope_core::{DynRuntime, Runtime, Spawn};
///
/// let rt: Arc<dyn Runtime> = Arc::new(taskscope_core::testing::ThreadRuntime);
/// let any = DynRuntime::from_runtime(&rt).unwrap();
/// assert_eq!(any.runtime().name(), rt.name());
/// ```
#[derive(Clone, Debug)]
pub struct DynRuntime(Arc<dyn Runtime>);

impl Spawn for DynRuntime {
    type Join<O: Send + 'static> = DynJoin<O>;

    fn spawn_child<F>(&self, fut: F) -> DynJoin<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.0.spawn_child(fut)
    }

    fn runtime(&self) -> Arc<dyn Runtime> {
        self.0.clone()
    }

    fn from_runtime(rt: &Arc<dyn Runtime>) -> Option<Self> {
        Some(Self(rt.clone()))
    }
}

/// The join of a future spawned through [`Runtime::spawn`] (`Arc<dyn Runtime>`'s
/// [`Spawn`]): the output is handed over in a cell that the runtime's [`Task`] also drives.
/// Dropping it detaches.
///
/// ```
/// use std::sync::Arc;
/// use taskscope_core::{DynJoin, RawJoin, Runtime, Spawn};
///
/// let rt: Arc<dyn Runtime> = Arc::new(taskscope_core::testing::ThreadRuntime);
/// let mut join: DynJoin<u32> = rt.spawn_child(async { 7 });
/// assert_eq!(futures_lite::future::block_on(std::future::poll_fn(|cx| join.poll_join(cx))), Some(7));
/// ```
pub struct DynJoin<O> {
    cell: Pin<Arc<dyn JoinSide<O>>>,
}

impl<O> fmt::Debug for DynJoin<O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DynJoin").field("finished", &self.cell.is_finished()).finish()
    }
}

impl<O: Send + 'static> RawJoin<O> for DynJoin<O> {
    fn poll_join(&mut self, cx: &mut Context<'_>) -> Poll<Option<O>> {
        self.cell.poll_join(cx)
    }

    fn is_finished(&self) -> bool {
        self.cell.is_finished()
    }
}

/// What a [`DynJoin`] reaches of its cell: the output side only, so that the join's type
/// names the output and not the future.
trait JoinSide<O>: Send + Sync {
    fn poll_join(&self, cx: &mut Context<'_>) -> Poll<Option<O>>;
    fn is_finished(&self) -> bool;
}

/// A future spawned through [`Runtime::spawn`], with the slot its output is handed over in.
///
/// The future and the output sit behind separate locks: the future's lock is held while it
/// is polled or dropped (user code), the output's only for a few moves, so a future that
/// polls its own join, or a join polled while the future runs, never waits on user code.
struct DynCell<F: Future> {
    /// `None` once the future returned, panicked, or was dropped with the task.
    fut: Mutex<Option<Pin<Box<F>>>>,
    out: Mutex<Out<F::Output>>,
}

/// The output slot of a [`DynCell`].
enum Out<O> {
    /// The future has not finished; the waker of the join's last `Pending` poll.
    Running(Option<Waker>),
    /// The future returned this value; nobody has taken it yet.
    Finished(O),
    /// The join took the value.
    Taken,
    /// The future panicked, or the runtime dropped the task before it finished.
    Dropped,
}

impl<F: Future> DynCell<F> {
    /// Ends the task: stores `out` (the value, or `Dropped`) unless the task already ended,
    /// and wakes the join's waker after the lock is released.
    fn finish(&self, out: Out<F::Output>) {
        let waker = {
            let mut slot = lock(&self.out);
            match &mut *slot {
                Out::Running(waker) => {
                    let waker = waker.take();
                    *slot = out;
                    waker
                }
                _ => None,
            }
        };
        if let Some(w) = waker {
            w.wake();
        }
    }

    /// Takes the future out of its lock and drops it here, outside the lock; a panic of its
    /// destructor is swallowed (the task ends as `Dropped` either way).
    fn drop_future(&self) {
        let fut = lock(&self.fut).take();
        if let Some(fut) = fut {
            let _ = catch_unwind(AssertUnwindSafe(move || drop(fut)));
        }
    }
}

impl<F> RawTask for DynCell<F>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    fn poll(self: Pin<&Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_ref();
        let mut fut = lock(&this.fut);
        let Some(f) = fut.as_mut() else { return Poll::Ready(()) };
        match catch_unwind(AssertUnwindSafe(|| f.as_mut().poll(cx))) {
            Ok(Poll::Pending) => return Poll::Pending,
            Ok(Poll::Ready(v)) => {
                let done = fut.take();
                drop(fut);
                // The future returned: it is dropped before its value is handed over, as
                // runtimes do, and a panic of its destructor does not lose the value.
                let _ = catch_unwind(AssertUnwindSafe(move || drop(done)));
                this.finish(Out::Finished(v));
            }
            Err(payload) => {
                drop(fut);
                drop_payload(payload);
                this.drop_future();
                this.finish(Out::Dropped);
            }
        }
        Poll::Ready(())
    }

    fn drop_task(self: Pin<&Self>) {
        let this = self.get_ref();
        this.drop_future();
        this.finish(Out::Dropped);
    }
}

impl<F> JoinSide<F::Output> for DynCell<F>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    fn poll_join(&self, cx: &mut Context<'_>) -> Poll<Option<F::Output>> {
        let mut slot = lock(&self.out);
        match &mut *slot {
            Out::Running(waker) => {
                match waker {
                    Some(w) => w.clone_from(cx.waker()),
                    None => *waker = Some(cx.waker().clone()),
                }
                Poll::Pending
            }
            Out::Finished(_) => match std::mem::replace(&mut *slot, Out::Taken) {
                Out::Finished(v) => Poll::Ready(Some(v)),
                _ => unreachable!("the slot was just matched as finished"),
            },
            Out::Taken | Out::Dropped => Poll::Ready(None),
        }
    }

    fn is_finished(&self) -> bool {
        !matches!(*lock(&self.out), Out::Running(_))
    }
}

/// Drops a panic payload, swallowing a panic of its own destructor.
fn drop_payload(payload: Box<dyn Any + Send>) {
    if let Err(again) = catch_unwind(AssertUnwindSafe(move || drop(payload))) {
        std::mem::forget(again);
    }
}

#[cfg(all(test, not(taskscope_loom)))]
mod tests {
    use std::collections::VecDeque;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::mpsc;
    use std::time::Instant;

    use super::*;
    use crate::runtime::{BlockingJob, BoxedSleep};

    /// A runtime whose tasks run only when the test says so, and which can be shut down.
    #[derive(Debug, Default)]
    struct Manual {
        queue: std::sync::Mutex<VecDeque<Task>>,
        shut: AtomicBool,
    }

    impl Manual {
        fn new() -> Arc<Self> {
            Arc::default()
        }

        /// Polls every queued task once (a woken task is not requeued: tests poll again).
        fn run_once(&self) {
            let tasks: Vec<Task> = self.queue.lock().unwrap().drain(..).collect();
            let waker = Waker::noop();
            for mut t in tasks {
                if Pin::new(&mut t).poll(&mut Context::from_waker(waker)).is_pending() {
                    self.queue.lock().unwrap().push_back(t);
                }
            }
        }

        /// Drops every task still queued; later spawns drop theirs unpolled.
        fn shutdown(&self) {
            self.shut.store(true, Ordering::SeqCst);
            let tasks: Vec<Task> = self.queue.lock().unwrap().drain(..).collect();
            drop(tasks);
        }
    }

    impl Runtime for Manual {
        fn spawn(&self, task: Task) {
            if self.shut.load(Ordering::SeqCst) {
                drop(task);
            } else {
                self.queue.lock().unwrap().push_back(task);
            }
        }
        fn spawn_blocking(&self, job: BlockingJob) {
            job();
        }
        fn sleep_until(&self, _: Instant) -> BoxedSleep {
            Box::pin(std::future::ready(()))
        }
        fn name(&self) -> &'static str {
            "manual"
        }
    }

    fn poll_once<O>(j: &mut impl RawJoin<O>) -> Poll<Option<O>> {
        j.poll_join(&mut Context::from_waker(Waker::noop()))
    }

    /// Counts its drops, and whether it was ever polled.
    struct Probe {
        polled: Arc<AtomicBool>,
        drops: Arc<AtomicUsize>,
    }

    impl Future for Probe {
        type Output = u32;
        fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<u32> {
            self.polled.store(true, Ordering::SeqCst);
            Poll::Pending
        }
    }

    impl Drop for Probe {
        fn drop(&mut self) {
            self.drops.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn probe() -> (Probe, Arc<AtomicBool>, Arc<AtomicUsize>) {
        let (polled, drops) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicUsize::new(0)));
        (Probe { polled: polled.clone(), drops: drops.clone() }, polled, drops)
    }

    #[test]
    fn dyn_join_value_roundtrip_and_is_finished() {
        let m = Manual::new();
        let rt: Arc<dyn Runtime> = m.clone();
        let mut j = rt.spawn_child(async { 42u32 });
        assert!(!j.is_finished());
        assert_eq!(poll_once(&mut j), Poll::Pending);
        m.run_once();
        assert!(j.is_finished());
        assert_eq!(poll_once(&mut j), Poll::Ready(Some(42)));
        assert!(j.is_finished());
        assert_eq!(poll_once(&mut j), Poll::Ready(None), "the value is handed out once");
    }

    #[test]
    fn dyn_spawn_child_never_polls_inline() {
        let m = Manual::new();
        let rt: Arc<dyn Runtime> = m.clone();
        let (fut, polled, _) = probe();
        let _j = rt.spawn_child(fut);
        assert!(!polled.load(Ordering::SeqCst), "spawn_child polled the future");
        m.run_once();
        assert!(polled.load(Ordering::SeqCst));
    }

    #[test]
    fn dyn_join_drop_detaches() {
        let m = Manual::new();
        let rt: Arc<dyn Runtime> = m.clone();
        let (tx, rx) = mpsc::channel();
        let j = rt.spawn_child(async move { tx.send(7u32).unwrap() });
        drop(j);
        m.run_once();
        assert_eq!(rx.try_recv(), Ok(7), "the task ran after its join was dropped");
    }

    #[test]
    fn dyn_join_wakes_on_completion() {
        let rt: Arc<dyn Runtime> = Arc::new(crate::testing::ThreadRuntime);
        let (tx, rx) = mpsc::channel::<()>();
        let mut j = rt.spawn_child(async move {
            // Blocks its own thread until the join has registered.
            rx.recv().unwrap();
            5u8
        });
        let out = futures_lite::future::block_on(std::future::poll_fn(|cx| {
            let p = j.poll_join(cx);
            let _ = tx.send(());
            p
        }));
        assert_eq!(out, Some(5));
    }

    #[test]
    fn dyn_join_none_after_shutdown() {
        let m = Manual::new();
        let rt: Arc<dyn Runtime> = m.clone();
        let (fut, _, drops) = probe();
        let mut j = rt.spawn_child(fut);
        m.run_once();
        assert_eq!(poll_once(&mut j), Poll::Pending);
        m.shutdown();
        assert_eq!(drops.load(Ordering::SeqCst), 1, "the future was dropped by the shutdown");
        assert!(j.is_finished());
        assert_eq!(poll_once(&mut j), Poll::Ready(None));

        let (fut, polled, drops) = probe();
        let mut late = rt.spawn_child(fut);
        assert_eq!(drops.load(Ordering::SeqCst), 1, "a spawn after shutdown drops the future at once");
        assert!(!polled.load(Ordering::SeqCst));
        assert_eq!(poll_once(&mut late), Poll::Ready(None));
    }

    #[test]
    fn dyn_join_none_after_a_panic() {
        let m = Manual::new();
        let rt: Arc<dyn Runtime> = m.clone();
        let mut j = rt.spawn_child(async {
            if true {
                panic!("boom");
            }
            1u8
        });
        m.run_once();
        assert!(j.is_finished());
        assert_eq!(poll_once(&mut j), Poll::Ready(None));
    }

    #[test]
    fn dyn_join_wakes_the_join_on_shutdown() {
        let m = Manual::new();
        let rt: Arc<dyn Runtime> = m.clone();
        let (fut, _, _) = probe();
        let mut j = rt.spawn_child(fut);
        let woken = Arc::new(AtomicBool::new(false));
        struct Flag(Arc<AtomicBool>);
        impl std::task::Wake for Flag {
            fn wake(self: Arc<Self>) {
                self.0.store(true, Ordering::SeqCst);
            }
        }
        let waker = Waker::from(Arc::new(Flag(woken.clone())));
        assert_eq!(j.poll_join(&mut Context::from_waker(&waker)), Poll::Pending);
        m.shutdown();
        assert!(woken.load(Ordering::SeqCst));
    }

    #[test]
    fn dyn_from_runtime_round_trip() {
        let rt: Arc<dyn Runtime> = Arc::new(crate::testing::ThreadRuntime);
        let back = <Arc<dyn Runtime> as Spawn>::from_runtime(&rt.runtime()).unwrap();
        assert!(Arc::ptr_eq(&back, &rt));
    }
}
