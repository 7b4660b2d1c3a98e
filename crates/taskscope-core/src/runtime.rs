//! The runtime contract: the little that core needs from an async runtime.
//!
//! An adapter gives core what only a runtime can give: spawn a detached `Send + 'static`
//! future, run blocking work on a pool, sleep until an instant. Everything else — child
//! bookkeeping, panic capture, cancellation, error collection — lives in core, so every
//! adapter gets identical semantics by construction.
//!
//! Core never relies on what a runtime does with a task's join handle (tokio detaches on drop,
//! async-executor cancels), with panics, or with cancellation: the futures given to
//! [`Runtime::spawn`] never panic, always run to completion on their own, and do their own
//! bookkeeping when dropped early (for example at runtime shutdown).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use crate::sync::Mutex;
use crate::util::lock;

/// A unit of work core hands to [`Runtime::spawn`]: a `Future<Output = ()>` that is `Send`,
/// `Unpin` and `'static`, and never unwinds when polled.
///
/// An adapter spawns it as it is (`tokio::spawn(task)`, `executor.spawn(task).detach()`): the
/// runtime stores the `Task` inline in its own task cell, and a child of a scope needs just
/// one allocation besides that cell (its future and the state its handle shares are
/// allocated together). Dropping a `Task` before it completes (for example when the runtime
/// shuts down) drops the child's future and records the child as cancelled, at once, on the
/// dropping thread.
///
/// [`Task::new`] wraps any future, for runtimes' own tests and tools.
///
/// ```
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicBool, Ordering};
/// use taskscope_core::{Runtime, Task};
///
/// let rt = taskscope_core::testing::ThreadRuntime;
/// let ran = Arc::new(AtomicBool::new(false));
/// let (r, (tx, rx)) = (ran.clone(), std::sync::mpsc::channel());
/// rt.spawn(Task::new(async move {
///     r.store(true, Ordering::SeqCst);
///     tx.send(()).unwrap();
/// }));
/// rx.recv().unwrap();
/// assert!(ran.load(Ordering::SeqCst));
/// ```
#[must_use = "a task does nothing unless it is spawned and polled"]
pub struct Task {
    /// `None` once completed: the child's cell is released as soon as its task is done.
    raw: Option<Pin<Arc<dyn RawTask>>>,
}

/// What a [`Task`] drives: a future spawned through [`Runtime::spawn`] (see `spawn.rs`), or a
/// boxed future.
pub(crate) trait RawTask: Send + Sync {
    /// Polls the future; never unwinds.
    fn poll(self: Pin<&Self>, cx: &mut Context<'_>) -> Poll<()>;
    /// The runtime dropped the task: finish it as dropped. Does nothing if it already
    /// completed.
    fn drop_task(self: Pin<&Self>);
}

/// The future of [`Task::new`].
struct Boxed(Mutex<Pin<Box<dyn Future<Output = ()> + Send + 'static>>>);

impl RawTask for Boxed {
    fn poll(self: Pin<&Self>, cx: &mut Context<'_>) -> Poll<()> {
        lock(&self.0).as_mut().poll(cx)
    }
    fn drop_task(self: Pin<&Self>) {}
}

impl Task {
    /// Wraps any future as a task. Core's own children do not go through this.
    ///
    /// `fut` should not panic: a runtime is free to do anything with a panicking task (core's
    /// children catch every panic of the user's future before it reaches the runtime).
    pub fn new<F>(fut: F) -> Self
    where
        F: Future<Output = ()> + Send + 'static,
    {
        Self::from_raw(Arc::pin(Boxed(Mutex::new(Box::pin(fut)))))
    }

    pub(crate) fn from_raw(raw: Pin<Arc<dyn RawTask>>) -> Self {
        Self { raw: Some(raw) }
    }
}

impl fmt::Debug for Task {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Task").field("done", &self.raw.is_none()).finish()
    }
}

impl Future for Task {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let Some(raw) = &self.raw else { return Poll::Ready(()) };
        let polled = raw.as_ref().poll(cx);
        if polled.is_ready() {
            self.raw = None;
        }
        polled
    }
}

impl Drop for Task {
    fn drop(&mut self) {
        if let Some(raw) = &self.raw {
            raw.as_ref().drop_task();
        }
    }
}

/// A type-erased sleep returned by [`Runtime::sleep_until`].
pub type BoxedSleep = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// A type-erased blocking closure given to [`Runtime::spawn_blocking`].
pub type BlockingJob = Box<dyn FnOnce() + Send + 'static>;

/// What core needs from an async runtime. Adapters implement it; users rarely call it.
///
/// Implementations must be cheap handles (an `Arc` or a runtime handle inside), `Send + Sync`,
/// and must never panic because of where they are called from: an adapter captures what it
/// needs (a tokio `Handle`, an executor) when it is constructed.
///
/// # Contract
/// - [`spawn`](Runtime::spawn) schedules the task and returns: it never polls the task
///   before it returns (an executor that polls inside `spawn` makes every nested spawn
///   recurse on the stack, and 5,000 nested scopes would overflow it). While the runtime
///   runs, it runs the task to completion, detached; it drops the task only at shutdown (see
///   below), and never polls a task after dropping it.
/// - [`spawn_blocking`](Runtime::spawn_blocking) runs the closure on a thread where blocking
///   is acceptable: never inline in the caller, never as an ordinary task on the async
///   workers (a blocked job must not hold up any task).
/// - [`sleep_until`](Runtime::sleep_until) completes at or after `deadline` (never before);
///   a deadline in the past completes at once.
/// - [`now`](Runtime::now) is the clock `sleep_until` is measured against.
/// - Waking a task schedules it; it never polls the task inside `wake` (every mainstream
///   executor works this way; core wakes children while holding its own lock).
///
/// # Shutdown
/// A runtime that can be shut down (a tokio `Runtime` dropped, an owned executor dropped;
/// for the conformance suite, dropping the test harness) must, by the time the shutdown
/// returns:
/// - have dropped every task still on it (their destructors run, which is how core records
///   those children as cancelled) and poll none of them again;
/// - drop, unpolled, every task spawned during the shutdown (a task's destructor may spawn)
///   or after it (through a handle kept past it): such a task never runs, then or later, and
///   `spawn` does not panic;
/// - not panic in `spawn_blocking` either: after shutdown it may run the job or drop it
///   unrun (core records a dropped job's child as cancelled); jobs already running may be
///   waited for (tokio does) or not (the `blocking` pool does not).
///
/// A process-wide executor that lives as long as the process (smol's global executor,
/// `async-global-executor`) has no shutdown: it meets every clause above except this section,
/// and that is fine for scopes, whose guarantees (S1, C3 for a dropped scope) core gives
/// itself. The conformance suite runs such a runtime as a "shared" flavour, whose shutdown
/// cases are expected divergences.
///
/// # Example
///
/// A deliberately naive runtime, one OS thread per task (core's own doctests use it); real
/// adapters are `taskscope-tokio` and `taskscope-smol`, each under 200 lines:
///
/// ```
/// use std::sync::Arc;
/// use taskscope_core::{Builder, Runtime};
///
/// let rt: Arc<dyn Runtime> = Arc::new(taskscope_core::testing::ThreadRuntime);
/// let out = futures_lite::future::block_on(Builder::new().runtime(rt).run(async |s| {
///     let h = s.spawn(async { Ok::<_, std::io::Error>(21) });
///     Ok(h.await.unwrap() * 2)
/// }));
/// assert_eq!(out.unwrap(), 42);
/// ```
pub trait Runtime: Send + Sync + std::fmt::Debug + 'static {
    /// Spawns a detached task: schedules it and returns, without polling it here. During or
    /// after shutdown, drops it unpolled (see the trait's "Shutdown" section).
    fn spawn(&self, task: Task);

    /// Runs `job` on the runtime's blocking pool, off the async workers. After shutdown it
    /// may run the job or drop it, and never panics.
    fn spawn_blocking(&self, job: BlockingJob);

    /// A future that completes at (or after) `deadline`.
    fn sleep_until(&self, deadline: Instant) -> BoxedSleep;

    /// The current instant on the clock `sleep_until` uses.
    fn now(&self) -> Instant {
        Instant::now()
    }

    /// A short name for reports and errors, such as `"tokio-mt"`.
    fn name(&self) -> &'static str;

    /// The adapter's own value, for a downcast: how [`Spawn::from_runtime`](crate::Spawn::from_runtime)
    /// finds the statically dispatched runtime behind an `Arc<dyn Runtime>`. `None` (the
    /// default) keeps a runtime on the dyn path.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use taskscope_core::Runtime;
    /// use taskscope_core::testing::ThreadRuntime;
    ///
    /// let rt: Arc<dyn Runtime> = Arc::new(ThreadRuntime);
    /// assert!(rt.as_any().is_none());
    /// ```
    fn as_any(&self) -> Option<&dyn std::any::Any> {
        None
    }
}

/// Blocks the current thread on a future: used by tests, examples and the conformance report.
///
/// Not part of what a scope needs; an adapter provides it for its runtime flavours, usually on
/// a backend value that owns the runtime. Dropping that value shuts the runtime down, with
/// the guarantees of [`Runtime`]'s "Shutdown" section: the conformance suite drops it after
/// each case and checks them. `block_on` runs the future on the calling thread and resumes
/// its panics there.
pub trait BlockOn {
    /// Runs `fut` to completion on this thread, driving the runtime as needed.
    fn block_on<F: Future>(&self, fut: F) -> F::Output;
}

impl<R: Runtime + ?Sized> Runtime for Arc<R> {
    fn spawn(&self, task: Task) {
        (**self).spawn(task);
    }
    fn spawn_blocking(&self, job: BlockingJob) {
        (**self).spawn_blocking(job);
    }
    fn sleep_until(&self, deadline: Instant) -> BoxedSleep {
        (**self).sleep_until(deadline)
    }
    fn now(&self) -> Instant {
        (**self).now()
    }
    fn name(&self) -> &'static str {
        (**self).name()
    }
    fn as_any(&self) -> Option<&dyn std::any::Any> {
        (**self).as_any()
    }
}
