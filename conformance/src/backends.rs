//! The built-in backend flavours: tokio multi-thread and current-thread, smol multi-thread and
//! single-thread, and the deterministic simulation (P5).

use taskscope_sim::Sim;
use taskscope_smol::SmolBackend;
use taskscope_tokio::TokioBackend;

use crate::{Harness, harness};

/// A built-in backend flavour.
#[derive(Clone, Copy, Debug)]
pub struct Backend {
    /// Its name in reports: `tokio-mt`, `tokio-ct`, `smol-mt`, `smol-st`, `sim`.
    pub name: &'static str,
    /// Builds a fresh harness.
    pub make: fn() -> Box<dyn Harness>,
}

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

/// The deterministic simulation with seed 0: virtual time, seeded schedule.
pub fn sim() -> Box<dyn Harness> {
    let b = Sim::new(0);
    harness(b.runtime(), b)
}

/// Every built-in flavour, in report order.
pub const ALL: &[Backend] = &[
    Backend { name: "tokio-mt", make: tokio_mt },
    Backend { name: "tokio-ct", make: tokio_ct },
    Backend { name: "smol-mt", make: smol_mt },
    Backend { name: "smol-st", make: smol_st },
    Backend { name: "sim", make: sim },
];
