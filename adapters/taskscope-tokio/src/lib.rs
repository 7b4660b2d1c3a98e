//! The tokio adapter for taskscope: implements [`taskscope_core::Runtime`] over a tokio
//! [`Handle`], [`Spawn`] (a future spawned straight into tokio's task cell, joined through
//! [`TokioJoin`]), and [`BlockOn`] for tests and examples. Thin by design: every semantic
//! (cancellation, panics, error collection) lives in `taskscope-core`.
//!
//! ```
//! use taskscope_core::{BlockOn, BoxError, Builder};
//! use taskscope_tokio::TokioBackend;
//!
//! let backend = TokioBackend::multi_thread(2);
//! let n = backend.block_on(Builder::new().runtime(backend.runtime()).run(async |s| {
//!     let h = s.spawn(async { Ok::<_, BoxError>(7) });
//!     Ok(h.await? * 6)
//! }));
//! assert_eq!(n.unwrap(), 42);
//! ```
#![forbid(unsafe_code)]

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use taskscope_core::{BlockOn, BlockingJob, BoxedSleep, RawJoin, Runtime, Spawn, Task};
use tokio::runtime::{Handle, RuntimeFlavor};
use tokio::task::JoinHandle;

/// [`Runtime`] for tokio: spawns on a captured [`Handle`], so it works from any thread, inside
/// or outside the runtime, and never hits tokio's "no reactor running" panic.
#[derive(Clone, Debug)]
pub struct TokioRuntime {
    handle: Handle,
    name: &'static str,
}

/// The error of [`TokioRuntime::current`] outside a tokio runtime.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoTokioRuntime;

impl fmt::Display for NoTokioRuntime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "taskscope-tokio: not inside a tokio runtime. Run this code inside one (e.g. \
             #[tokio::main] or Runtime::block_on), or build the adapter from a Handle with \
             TokioRuntime::from_handle",
        )
    }
}

impl std::error::Error for NoTokioRuntime {}

impl TokioRuntime {
    /// The runtime the current thread is running in.
    pub fn current() -> Result<Self, NoTokioRuntime> {
        Handle::try_current().map(Self::from_handle).map_err(|_| NoTokioRuntime)
    }

    /// An adapter spawning on `handle`. The runtime must have its time driver enabled
    /// (`enable_time` or `enable_all`) for deadlines.
    pub fn from_handle(handle: Handle) -> Self {
        let name = match handle.runtime_flavor() {
            RuntimeFlavor::CurrentThread => "tokio-ct",
            _ => "tokio-mt",
        };
        Self { handle, name }
    }

    /// The underlying tokio handle.
    pub fn handle(&self) -> &Handle {
        &self.handle
    }
}

impl Runtime for TokioRuntime {
    fn spawn(&self, task: Task) {
        // Detached: core's wrapper does its own bookkeeping, the JoinHandle is not needed.
        drop(self.handle.spawn(task));
    }

    fn spawn_blocking(&self, job: BlockingJob) {
        drop(self.handle.spawn_blocking(job));
    }

    fn sleep_until(&self, deadline: Instant) -> BoxedSleep {
        // The timer is created inside the runtime's context, wherever the caller is.
        let _enter = self.handle.enter();
        Box::pin(tokio::time::sleep_until(deadline.into()))
    }

    fn name(&self) -> &'static str {
        self.name
    }

    fn as_any(&self) -> Option<&dyn std::any::Any> {
        Some(self)
    }
}

/// Spawns on the captured [`Handle`], as [`Runtime::spawn`] does: the future lives in tokio's
/// own task cell, and its output comes back through tokio's [`JoinHandle`] (in a
/// [`TokioJoin`]). After the runtime shut down, tokio drops the future unpolled on the calling
/// thread, and the join yields `None`.
///
/// ```
/// use taskscope_core::{BlockOn, RawJoin, Spawn};
/// use taskscope_tokio::{TokioBackend, TokioRuntime};
///
/// let backend = TokioBackend::current_thread();
/// let rt = TokioRuntime::from_handle(backend.handle().clone());
/// let mut join = rt.spawn_child(async { 6 * 7 });
/// let out = backend.block_on(std::future::poll_fn(|cx| join.poll_join(cx)));
/// assert_eq!(out, Some(42));
/// // Back from the runtime as an object (nested scopes do this).
/// assert!(TokioRuntime::from_runtime(&rt.runtime()).is_some());
/// ```
impl Spawn for TokioRuntime {
    type Join<O: Send + 'static> = TokioJoin<O>;

    fn spawn_child<F>(&self, fut: F) -> TokioJoin<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        TokioJoin { handle: Some(self.handle.spawn(fut)) }
    }

    fn runtime(&self) -> Arc<dyn Runtime> {
        Arc::new(self.clone())
    }

    fn from_runtime(rt: &Arc<dyn Runtime>) -> Option<Self> {
        rt.as_any()?.downcast_ref::<Self>().cloned()
    }
}

/// tokio's [`JoinHandle`] as a [`RawJoin`]: the join of [`TokioRuntime`]'s
/// [`Spawn::spawn_child`].
///
/// It polls the handle outside tokio's cooperative budget (through
/// [`tokio::task::coop::unconstrained`]), so a finished task is `Ready` even in a task that
/// used up its budget; a [`JoinError`](tokio::task::JoinError) (the runtime dropped the task,
/// or the future panicked) is `None`; after a `Ready` it yields `None` instead of tokio's
/// "polled after completion" panic. Dropping it detaches the task, as tokio's handle does.
///
/// ```
/// use taskscope_core::{BlockOn, RawJoin, Spawn};
/// use taskscope_tokio::{TokioBackend, TokioJoin, TokioRuntime};
///
/// let backend = TokioBackend::multi_thread(1);
/// let rt = TokioRuntime::from_handle(backend.handle().clone());
/// let mut join: TokioJoin<&str> = rt.spawn_child(async { "done" });
/// assert_eq!(backend.block_on(std::future::poll_fn(|cx| join.poll_join(cx))), Some("done"));
/// assert!(join.is_finished());
/// ```
pub struct TokioJoin<O> {
    /// `None` once a poll returned `Ready`: tokio's handle panics if polled again.
    handle: Option<JoinHandle<O>>,
}

impl<O> fmt::Debug for TokioJoin<O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokioJoin")
            .field("finished", &self.handle.as_ref().is_none_or(JoinHandle::is_finished))
            .finish()
    }
}

impl<O: Send + 'static> RawJoin<O> for TokioJoin<O> {
    fn poll_join(&mut self, cx: &mut Context<'_>) -> Poll<Option<O>> {
        let Some(handle) = self.handle.as_mut() else { return Poll::Ready(None) };
        let mut free = tokio::task::coop::unconstrained(handle);
        let Poll::Ready(out) = Pin::new(&mut free).poll(cx) else { return Poll::Pending };
        self.handle = None;
        Poll::Ready(out.ok())
    }

    fn is_finished(&self) -> bool {
        self.handle.as_ref().is_none_or(JoinHandle::is_finished)
    }
}

/// An owned tokio runtime of either flavour, with its adapter: for tests, examples and the
/// conformance report.
#[derive(Debug)]
pub struct TokioBackend {
    rt: tokio::runtime::Runtime,
}

impl TokioBackend {
    /// A multi-thread runtime with `workers` worker threads.
    ///
    /// # Panics
    /// If the OS refuses to create the runtime's threads.
    pub fn multi_thread(workers: usize) -> Self {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(workers.max(1))
            .enable_time()
            .build()
            .expect("taskscope-tokio: could not build a multi-thread runtime");
        Self { rt }
    }

    /// A current-thread runtime: children run only while [`BlockOn::block_on`] runs.
    ///
    /// # Panics
    /// If the OS refuses to create the runtime.
    pub fn current_thread() -> Self {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("taskscope-tokio: could not build a current-thread runtime");
        Self { rt }
    }

    /// The adapter for this runtime, ready to give to a scope.
    pub fn runtime(&self) -> Arc<dyn Runtime> {
        Arc::new(self.tokio_runtime())
    }

    /// The adapter for this runtime as its own type, for [`Spawn`].
    pub fn tokio_runtime(&self) -> TokioRuntime {
        TokioRuntime::from_handle(self.rt.handle().clone())
    }

    /// The runtime's handle, to spawn raw tokio tasks beside the scopes (benchmarks do).
    pub fn handle(&self) -> &Handle {
        self.rt.handle()
    }
}

impl BlockOn for TokioBackend {
    fn block_on<F: Future>(&self, fut: F) -> F::Output {
        self.rt.block_on(fut)
    }
}
