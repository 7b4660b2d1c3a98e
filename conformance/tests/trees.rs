//! Randomized scope trees against the model (see `taskscope_conformance::trees`): a large
//! fixed-seed batch on the simulation (virtual time, exact end times), a small one on every
//! real backend, and a long batch from a random seed on demand:
//!
//! ```text
//! TASKSCOPE_TREES=1000000 cargo test --release -p taskscope-conformance --test trees -- --ignored --nocapture
//! ```
//!
//! (`TASKSCOPE_TREES_SEED=N` starts that batch at seed `N`, to replay a failure.)

use std::sync::RwLock;
use std::time::Instant;

use taskscope_conformance::trees::{Mode, Shape, check_trees};
use taskscope_conformance::{Harness, backends, harness};

/// The gauge is process-wide: a batch that reads it runs alone; the others run together.
static GAUGE: RwLock<()> = RwLock::new(());

fn batch(name: &str, make: &dyn Fn(u64) -> Box<dyn Harness>, first: u64, count: u64, mode: Mode) {
    let _alone = mode.gauge.then(|| GAUGE.write().unwrap_or_else(|e| e.into_inner()));
    let _shared = (!mode.gauge).then(|| GAUGE.read().unwrap_or_else(|e| e.into_inner()));
    // The trees' children panic on purpose with a `u32` payload: keep the output readable.
    static QUIET: std::sync::Once = std::sync::Once::new();
    QUIET.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if info.payload().downcast_ref::<u32>().is_none() {
                default(info);
            }
        }));
    });
    let start = Instant::now();
    let s = check_trees(make, first, count, mode);
    eprintln!(
        "{name}: {count} trees from seed {first}, {} children; {} ok, {} failed, {} cancelled, {} panicked; {:.2?}",
        s.children,
        s.ok,
        s.failed,
        s.cancelled,
        s.panicked,
        start.elapsed()
    );
}

/// The simulation, scheduled by the tree's own seed: each tree also runs a different
/// interleaving.
fn sim(seed: u64) -> Box<dyn Harness> {
    let b = taskscope_sim::Sim::new(seed);
    harness(b.runtime(), b)
}

const VIRTUAL: Mode = Mode { shape: Shape::VIRTUAL, exact_time: true, gauge: true };
const REAL: Mode = Mode { shape: Shape::REAL, exact_time: false, gauge: false };

#[test]
fn ten_thousand_trees_on_sim() {
    batch("sim", &sim, 0, 10_000, VIRTUAL);
}

#[test]
fn trees_on_tokio_mt() {
    batch("tokio-mt", &|_| backends::tokio_mt(), 0, 10, REAL);
}

#[test]
fn trees_on_tokio_ct() {
    batch("tokio-ct", &|_| backends::tokio_ct(), 0, 10, REAL);
}

#[test]
fn trees_on_smol_mt() {
    batch("smol-mt", &|_| backends::smol_mt(), 0, 10, REAL);
}

#[test]
fn trees_on_smol_st() {
    batch("smol-st", &|_| backends::smol_st(), 0, 10, REAL);
}

#[test]
#[ignore = "a long batch on demand: TASKSCOPE_TREES=N (and TASKSCOPE_TREES_SEED=S to replay)"]
fn long_batch_from_a_random_seed() {
    let count = std::env::var("TASKSCOPE_TREES").ok().and_then(|v| v.parse().ok()).unwrap_or(100_000);
    let first = std::env::var("TASKSCOPE_TREES_SEED").ok().and_then(|v| v.parse().ok()).unwrap_or_else(|| {
        use std::hash::{BuildHasher, RandomState};
        RandomState::new().hash_one(Instant::now()) >> 16
    });
    eprintln!("long batch: {count} trees from seed {first} (replay: TASKSCOPE_TREES_SEED={first})");
    batch("sim", &sim, first, count, VIRTUAL);
}
