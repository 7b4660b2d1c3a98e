//! The four backend flavours, each one runtime instance that both sides of a comparison use.
//!
//! The runtimes are the adapters' own backends ([`TokioBackend`], [`SmolBackend`], as in the
//! conformance report): *ours* goes through their adapter, the baselines spawn raw tasks on the
//! same instance (its tokio handle, its executor), so both sides share the runtime, its threads
//! and its caches.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use taskscope_core::{BlockOn, Runtime};
use taskscope_smol::SmolBackend;
use taskscope_tokio::TokioBackend;

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
    Tokio(TokioBackend),
    Smol(SmolBackend),
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
            Flavour::TokioMt => Kind::Tokio(TokioBackend::multi_thread(THREADS)),
            Flavour::TokioCt => Kind::Tokio(TokioBackend::current_thread()),
            Flavour::SmolMt => Kind::Smol(SmolBackend::multi_thread(THREADS)),
            Flavour::SmolSt => Kind::Smol(SmolBackend::single_thread()),
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
            Kind::Tokio(b) => b.runtime(),
            Kind::Smol(b) => b.runtime(),
        }
    }

    /// Runs `fut` to completion on this thread, driving the runtime as the adapters'
    /// `BlockOn` does.
    pub fn block_on<F: Future>(&self, fut: F) -> F::Output {
        match &self.kind {
            Kind::Tokio(b) => b.block_on(fut),
            Kind::Smol(b) => b.block_on(fut),
        }
    }

    /// Spawns `fut` on the raw runtime; await the handle for its output.
    pub fn spawn<F>(&self, fut: F) -> RawTask<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        match &self.kind {
            Kind::Tokio(b) => RawTask::Tokio(b.handle().spawn(fut)),
            Kind::Smol(b) => RawTask::Smol(b.executor().spawn(fut)),
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
            Kind::Tokio(b) => drop(b.handle().spawn(fut)),
            Kind::Smol(b) => b.executor().spawn(fut).detach(),
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
