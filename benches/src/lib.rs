//! Side-by-side benchmarks of taskscope against the raw runtimes it runs on.
//!
//! Every benchmark runs *ours* (a taskscope scope on a backend flavour) and a *baseline* (the
//! same work written directly against the raw runtime) on the **same** runtime instance, in the
//! same process, interleaved repetition by repetition, and reports the median nanoseconds per
//! child of each and the median of the paired ratios `ours / baseline`.
//!
//! - [`backend`]: the four flavours (tokio multi-thread / current-thread, async-executor on two
//!   threads / one thread), built exactly as the adapters' own backends build them, exposing both
//!   the taskscope runtime and raw spawning.
//! - [`bench`](mod@bench): the benchmarks and their baselines, as a table ([`bench::BENCHES`]); a new row
//!   is one more entry there.
//! - [`mem`]: memory per pending child, measured from RSS in a fresh process.
//! - [`probe`]: the counters the benchmarks use to know that children started and were dropped.
//! - [`report`]: the harness (repetitions, interleaving, medians) and the two output formats.
//! - [`stats`]: median and paired-ratio helpers.
//! - [`soak`]: many scopes and child tokens in one process; the gauge back at zero, RSS flat
//!   (binary: `cargo run --release -p taskscope-bench --bin soak`).
//!
//! The report binary: `cargo run --release -p taskscope-bench -- [--quick] [--json]`.
#![forbid(unsafe_code)]

pub mod alloc;
pub mod backend;
pub mod bench;
pub mod mem;
pub mod probe;
pub mod report;
pub mod soak;
pub mod stats;
