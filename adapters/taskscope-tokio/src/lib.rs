//! The tokio adapter for taskscope: implements [`taskscope_core::Runtime`] over a tokio
//! [`Handle`], and [`BlockOn`] for tests and examples. Thin by design: every semantic
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
use std::sync::Arc;
use std::time::Instant;

use taskscope_core::{BlockOn, BlockingJob, BoxedSleep, Runtime, Task};
use tokio::runtime::{Handle, RuntimeFlavor};

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
        Arc::new(TokioRuntime::from_handle(self.rt.handle().clone()))
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
