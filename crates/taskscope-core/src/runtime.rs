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

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

/// A type-erased, spawned unit of work: what core hands to [`Runtime::spawn`].
///
/// Core's wrapper futures catch every panic of the user's future, so polling a `BoxedTask`
/// never unwinds into the runtime.
pub type BoxedTask = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

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
/// - [`spawn`](Runtime::spawn) runs the task to completion, detached, or drops it (for
///   example when the runtime shuts down). It must not poll the task after dropping it.
/// - [`spawn_blocking`](Runtime::spawn_blocking) runs the closure on a thread where blocking
///   is acceptable.
/// - [`sleep_until`](Runtime::sleep_until) completes at or after `deadline` (never before);
///   a deadline in the past completes at once.
/// - [`now`](Runtime::now) is the clock `sleep_until` is measured against.
/// - Waking a task schedules it; it never polls the task inside `wake` (every mainstream
///   executor works this way; core wakes children while holding its own lock).
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
    /// Spawns a detached task.
    fn spawn(&self, task: BoxedTask);

    /// Runs `job` on the runtime's blocking pool.
    fn spawn_blocking(&self, job: BlockingJob);

    /// A future that completes at (or after) `deadline`.
    fn sleep_until(&self, deadline: Instant) -> BoxedSleep;

    /// The current instant on the clock `sleep_until` uses.
    fn now(&self) -> Instant {
        Instant::now()
    }

    /// A short name for reports and errors, such as `"tokio-mt"`.
    fn name(&self) -> &'static str;
}

/// Blocks the current thread on a future: used by tests, examples and the conformance report.
///
/// Not part of what a scope needs; an adapter provides it for its runtime flavours.
pub trait BlockOn {
    /// Runs `fut` to completion on this thread, driving the runtime as needed.
    fn block_on<F: Future>(&self, fut: F) -> F::Output;
}

impl<R: Runtime + ?Sized> Runtime for Arc<R> {
    fn spawn(&self, task: BoxedTask) {
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
}
