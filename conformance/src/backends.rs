//! The built-in backend flavours: tokio multi-thread and current-thread, smol multi-thread and
//! single-thread (each an owned runtime, shut down when its harness drops), the deterministic
//! simulation (P5), smol's global executor as the facade uses it (a shared flavour, see
//! [`shared_harness`]), and tokio's and smol's multi-thread runtimes behind [`DynOnly`].
//!
//! On `tokio-mt`, `tokio-ct`, `smol-mt` and `smol-st` the cases' scopes spawn each child into
//! the runtime's own task ([`Rt`](crate::support::Rt), the path `taskscope`'s users get); on
//! `sim`, the `*-dyn` flavours and `smol-global` (whose harness counts the tasks spawned
//! through its runtime, so that it sees a case's tasks end) through [`Runtime::spawn`], the
//! path of every other adapter.
//!
//! Adding a backend to the built-in report is one line in [`ALL`] (plus its harness maker).

use std::sync::Arc;
use std::time::Instant;

use taskscope_core::{BlockOn, BlockingJob, BoxedSleep, Runtime, Task};
use taskscope_sim::Sim;
use taskscope_smol::SmolBackend;
use taskscope_tokio::TokioBackend;

pub use crate::Backend;
use crate::{Divergence, Harness, diverges, harness, shared_harness, virtual_harness};

/// tokio, multi-thread runtime with 2 workers.
pub fn tokio_mt() -> Box<dyn Harness> {
    let b = TokioBackend::multi_thread(2);
    harness(b.runtime(), b)
}

/// tokio, current-thread runtime.
pub fn tokio_ct() -> Box<dyn Harness> {
    let b = TokioBackend::current_thread();
    harness(b.runtime(), b)
}

/// async-executor driven by 2 threads.
pub fn smol_mt() -> Box<dyn Harness> {
    let b = SmolBackend::multi_thread(2);
    harness(b.runtime(), b)
}

/// async-executor driven by the blocking thread only.
pub fn smol_st() -> Box<dyn Harness> {
    let b = SmolBackend::single_thread();
    harness(b.runtime(), b)
}

/// tokio, multi-thread runtime with 2 workers, behind [`DynOnly`]: every child is spawned
/// through [`Runtime::spawn`], the path of any third-party
/// adapter, instead of into tokio's own task.
pub fn tokio_mt_dyn() -> Box<dyn Harness> {
    let b = TokioBackend::multi_thread(2);
    harness(DynOnly::wrap(b.runtime()), b)
}

/// async-executor driven by 2 threads, behind [`DynOnly`] (see [`tokio_mt_dyn`]).
pub fn smol_mt_dyn() -> Box<dyn Harness> {
    let b = SmolBackend::multi_thread(2);
    harness(DynOnly::wrap(b.runtime()), b)
}

/// A runtime that forwards everything to another but hides its type
/// ([`Runtime::as_any`] is `None`), so that scopes spawn on
/// it through [`Runtime::spawn`] even when the runtime behind
/// it is one the facade spawns on directly.
///
/// ```
/// use taskscope_conformance::backends::DynOnly;
/// use taskscope_conformance::support::Rt;
/// use taskscope_core::Spawn;
///
/// let backend = taskscope_tokio::TokioBackend::current_thread();
/// assert_eq!(Rt::from_runtime(&backend.runtime()).unwrap().kind(), "tokio");
/// assert_eq!(Rt::from_runtime(&DynOnly::wrap(backend.runtime())).unwrap().kind(), "dyn");
/// ```
#[derive(Debug)]
pub struct DynOnly(Arc<dyn Runtime>);

impl DynOnly {
    /// `rt`, with its type hidden.
    pub fn wrap(rt: Arc<dyn Runtime>) -> Arc<dyn Runtime> {
        Arc::new(DynOnly(rt))
    }
}

impl Runtime for DynOnly {
    fn spawn(&self, task: Task) {
        self.0.spawn(task);
    }
    fn spawn_blocking(&self, job: BlockingJob) {
        self.0.spawn_blocking(job);
    }
    fn sleep_until(&self, deadline: Instant) -> BoxedSleep {
        self.0.sleep_until(deadline)
    }
    fn now(&self) -> Instant {
        self.0.now()
    }
    fn name(&self) -> &'static str {
        self.0.name()
    }
}

/// The deterministic simulation with seed 0: virtual time (reported beside the real time),
/// seeded schedule.
pub fn sim() -> Box<dyn Harness> {
    let b = Sim::new(0);
    virtual_harness(b.runtime(), b, Sim::elapsed)
}

/// What `taskscope::scope` runs on with the `smol` feature outside tokio: the runtime the
/// facade detects there (smol's global executor), blocked on with `smol::block_on`.
///
/// # Panics
/// If the facade detects no runtime (it always finds smol's global one with `smol` on).
pub fn smol_global() -> Box<dyn Harness> {
    let rt = taskscope::runtime().expect("the facade with its `smol` feature always has smol's global executor");
    shared_harness(rt, SmolBlockOn)
}

/// `smol::block_on` (which drives the `async-io` reactor on the calling thread).
#[derive(Debug)]
struct SmolBlockOn;

impl BlockOn for SmolBlockOn {
    fn block_on<F: std::future::Future>(&self, fut: F) -> F::Output {
        async_io::block_on(fut)
    }
}

/// The global executor's expected divergences: it has no shutdown.
pub const GLOBAL_EXECUTOR_DIVERGES: &[Divergence] = diverges! {
    c3_runtime_shutdown_drops_every_child =>
        "a process-wide executor has no shutdown: dropping the harness stops nothing, so the children \
         it holds live on (until the case's teardown cancels their scope)"
        fails_with "outlived the runtime's shutdown",
    c3_no_child_runs_after_runtime_shutdown =>
        "a process-wide executor has no shutdown: its tasks keep running after the harness is dropped"
        fails_with "after the runtime shut down",
    c3_a_spawn_during_shutdown_never_runs =>
        "a process-wide executor has no shutdown, so it never drops the children whose destructors spawn"
        fails_with "child destructors run by the end of the shutdown",
    c3_a_spawn_after_shutdown_is_dropped_unpolled =>
        "a process-wide executor has no shutdown: a spawn after the harness is dropped still runs"
        fails_with "a task spawned after the shutdown ran",
};

/// The facade's default outside tokio, with its expected divergences.
pub const SMOL_GLOBAL: Backend = Backend::new("smol-global", smol_global).diverging(GLOBAL_EXECUTOR_DIVERGES);

/// Every built-in flavour, in report order.
pub const ALL: &[Backend] = &[
    Backend::new("tokio-mt", tokio_mt),
    Backend::new("tokio-ct", tokio_ct),
    Backend::new("smol-mt", smol_mt),
    Backend::new("smol-st", smol_st),
    Backend::new("sim", sim),
    SMOL_GLOBAL,
    Backend::new("tokio-mt-dyn", tokio_mt_dyn),
    Backend::new("smol-mt-dyn", smol_mt_dyn),
];
