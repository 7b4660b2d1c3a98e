//! The four backend flavours, each one runtime instance that both sides of a comparison use.
//!
//! The runtimes are built exactly as `taskscope_tokio::TokioBackend` and
//! `taskscope_smol::SmolBackend` build theirs (same builder calls, same thread counts, same way
//! of driving the executor), but owned here, because those backends do not expose the raw
//! runtime. *Ours* goes through the adapters' public constructors on that same instance
//! ([`TokioRuntime::from_handle`], [`SmolRuntime::with_executor`]), so ours and the baseline share
//! the runtime, its threads and its caches.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::thread;

use async_executor::Executor;
use event_listener::Event;
use taskscope_core::Runtime;
use taskscope_smol::SmolRuntime;
use taskscope_tokio::TokioRuntime;

/// Worker threads of the multi-threaded flavours (as in the conformance report).
pub const THREADS: usize = 2;

/// A backend flavour.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Flavour {
    /// tokio, multi-thread runtime with [`THREADS`] workers; the owner runs in `block_on`.
    TokioMt,
    /// tokio, current-thread runtime.
    TokioCt,
    /// async-executor run by [`THREADS`] threads plus the `block_on` caller (`SmolBackend::multi_thread`).
    SmolMt,
    /// async-executor run by the `block_on` caller only (`SmolBackend::single_thread`).
    SmolSt,
}

impl Flavour {
    /// Every flavour, in report order.
    pub const ALL: [Flavour; 4] = [Flavour::TokioMt, Flavour::TokioCt, Flavour::SmolMt, Flavour::SmolSt];

    /// The flavour's name in reports, as in the conformance report.
    pub fn name(self) -> &'static str {
        match self {
            Flavour::TokioMt => "tokio-mt",
            Flavour::TokioCt => "tokio-ct",
            Flavour::SmolMt => "smol-mt",
            Flavour::SmolSt => "smol-st",
        }
    }

    /// The flavour with this [`name`](Flavour::name).
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.name() == name)
    }

    /// Whether this is a tokio flavour.
    pub fn is_tokio(self) -> bool {
        matches!(self, Flavour::TokioMt | Flavour::TokioCt)
    }
}

/// One runtime instance of a flavour: gives ours its [`Runtime`] and the baselines raw spawns.
pub struct Backend {
    flavour: Flavour,
    kind: Kind,
}

enum Kind {
    Tokio(tokio::runtime::Runtime),
    Smol(SmolExecutor),
}

impl fmt::Debug for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Backend").field("flavour", &self.flavour).finish_non_exhaustive()
    }
}

impl Backend {
    /// Builds the runtime of `flavour`.
    ///
    /// # Panics
    /// If the OS refuses to create the runtime's threads.
    pub fn new(flavour: Flavour) -> Self {
        let kind = match flavour {
            Flavour::TokioMt => Kind::Tokio(
                tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(THREADS)
                    .enable_time()
                    .build()
                    .expect("taskscope-bench: could not build a multi-thread tokio runtime"),
            ),
            Flavour::TokioCt => Kind::Tokio(
                tokio::runtime::Builder::new_current_thread()
                    .enable_time()
                    .build()
                    .expect("taskscope-bench: could not build a current-thread tokio runtime"),
            ),
            Flavour::SmolMt => Kind::Smol(SmolExecutor::new(THREADS)),
            Flavour::SmolSt => Kind::Smol(SmolExecutor::new(0)),
        };
        Self { flavour, kind }
    }

    /// The flavour.
    pub fn flavour(&self) -> Flavour {
        self.flavour
    }

    /// The taskscope adapter on this runtime instance: what ours gives to `Builder::runtime`.
    pub fn runtime(&self) -> Arc<dyn Runtime> {
        match &self.kind {
            Kind::Tokio(rt) => Arc::new(TokioRuntime::from_handle(rt.handle().clone())),
            Kind::Smol(s) => Arc::new(SmolRuntime::with_executor(&s.executor, self.flavour.name())),
        }
    }

    /// Runs `fut` to completion on this thread, driving the runtime as the adapters'
    /// `BlockOn` does.
    pub fn block_on<F: Future>(&self, fut: F) -> F::Output {
        match &self.kind {
            Kind::Tokio(rt) => rt.block_on(fut),
            Kind::Smol(s) => async_io::block_on(s.executor.run(fut)),
        }
    }

    /// Spawns `fut` on the raw runtime; await the handle for its output.
    pub fn spawn<F>(&self, fut: F) -> RawTask<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        match &self.kind {
            Kind::Tokio(rt) => RawTask::Tokio(rt.handle().spawn(fut)),
            Kind::Smol(s) => RawTask::Smol(s.executor.spawn(fut)),
        }
    }

    /// Spawns `fut` on the raw runtime, detached: it runs on (or stays pending) until it
    /// finishes or the runtime is dropped.
    pub fn spawn_detached<F>(&self, fut: F)
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        match &self.kind {
            Kind::Tokio(rt) => drop(rt.handle().spawn(fut)),
            Kind::Smol(s) => s.executor.spawn(fut).detach(),
        }
    }
}

/// A raw task handle: tokio's `JoinHandle` or async-executor's `Task`. Awaiting it gives the
/// output (a tokio `JoinError` panics: the baselines' children never panic).
#[derive(Debug)]
pub enum RawTask<T> {
    /// A tokio task (dropping it detaches the task).
    Tokio(tokio::task::JoinHandle<T>),
    /// An async-executor task (dropping it cancels the task).
    Smol(async_executor::Task<T>),
}

impl<T> Future for RawTask<T> {
    type Output = T;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        match self.get_mut() {
            RawTask::Tokio(h) => Pin::new(h).poll(cx).map(|r| r.expect("taskscope-bench: a raw tokio task failed")),
            RawTask::Smol(t) => Pin::new(t).poll(cx),
        }
    }
}

/// An async-executor run by `threads` OS threads (and by whoever calls `block_on`), as
/// `SmolBackend` runs its own; dropping it stops the threads and drops the executor.
struct SmolExecutor {
    executor: Arc<Executor<'static>>,
    stop: Arc<Stop>,
    threads: Vec<thread::JoinHandle<()>>,
}

#[derive(Default)]
struct Stop {
    flag: AtomicBool,
    event: Event,
}

impl Stop {
    async fn wait(&self) {
        loop {
            if self.flag.load(Ordering::Acquire) {
                return;
            }
            let listener = self.event.listen();
            if self.flag.load(Ordering::Acquire) {
                return;
            }
            listener.await;
        }
    }
}

impl SmolExecutor {
    fn new(threads: usize) -> Self {
        let executor = Arc::new(Executor::new());
        let stop = Arc::new(Stop::default());
        let threads = (0..threads)
            .map(|i| {
                let (ex, stop) = (executor.clone(), stop.clone());
                thread::Builder::new()
                    .name(format!("bench-smol-{i}"))
                    .spawn(move || async_io::block_on(ex.run(stop.wait())))
                    .expect("taskscope-bench: could not spawn an executor thread")
            })
            .collect();
        Self { executor, stop, threads }
    }
}

impl Drop for SmolExecutor {
    fn drop(&mut self) {
        self.stop.flag.store(true, Ordering::Release);
        self.stop.event.notify(usize::MAX);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}
