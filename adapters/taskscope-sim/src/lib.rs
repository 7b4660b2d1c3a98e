//! Deterministic simulation backend for taskscope (P5): test concurrent code with virtual
//! time, a seeded schedule, seed replay and cancellation injection, under the same runtime
//! contract as the tokio and smol adapters.
//!
//! - [`Sim`]: a single-threaded runtime. Its clock is virtual: it moves only when every task
//!   is idle, jumping to the next timer, so an hour-long timeout takes microseconds. The next
//!   task to run is picked from the ready set by a seeded generator ([`Rng`]): the same seed
//!   gives the same schedule, the same virtual times and the same outcome.
//! - [`check`]: runs a test body over many seeds; a failure prints its seed and the command
//!   that replays it (`TASKSCOPE_SIM_SEED=...`).
//! - [`cancel_at_every_poll`]: runs a test body once per await point of a target future,
//!   cancelling it there, and checks your invariants after each run.
//!
//! A deadlock (the `block_on` future pending with nothing ready, no timer pending, no blocking
//! job running) panics with "simulation deadlock: ..." instead of hanging.
//!
//! ```
//! use std::time::Duration;
//! use taskscope_core::{BoxError, Builder, ScopeError};
//!
//! // The sensor scenario: B fails at 0.5 s, A (2 s) is cancelled then; in virtual time.
//! taskscope_sim::check(20, |rt| async move {
//!     let start = rt.now();
//!     let r = Builder::new().runtime(rt.clone()).run(async |s| {
//!         let rt_a = rt.clone();
//!         s.spawn_named("A", async move {
//!             rt_a.sleep_until(rt_a.now() + Duration::from_secs(2)).await;
//!             Ok::<_, BoxError>(())
//!         });
//!         let rt_b = rt.clone();
//!         s.spawn_named("B", async move {
//!             rt_b.sleep_until(rt_b.now() + Duration::from_millis(500)).await;
//!             Err::<(), _>(BoxError::msg("sensor B failed"))
//!         });
//!         Ok(())
//!     }).await;
//!     let Err(ScopeError::Failed(group)) = r else { panic!("expected a failure, got {r:?}") };
//!     assert_eq!(group.len(), 1);
//!     assert_eq!(rt.now() - start, Duration::from_millis(500)); // exactly, in virtual time
//! });
//! ```
//!
//! # What is deterministic
//!
//! Everything the simulation drives: the order in which tasks run, every virtual instant
//! ([`Runtime::now`](taskscope_core::Runtime::now), timers, deadlines, `fail_after`), and so
//! the outcome. Three things come from outside and are honoured, not controlled:
//!
//! - Blocking work ([`Runtime::spawn_blocking`](taskscope_core::Runtime::spawn_blocking)) runs
//!   on a thread of its own while the simulation waits for it, so a job that finishes within
//!   [`Sim::blocking_grace`] (100 ms of real time by default) is one deterministic step. A job
//!   still running then (one that waits for the async side, for example by watching its
//!   token) goes on beside the simulation, and the schedule after that point depends on when
//!   it ends. Blocking work takes no virtual time.
//! - Wake-ups from threads outside the simulation arrive at whatever point of the schedule
//!   they reach it; with nothing else to do, the simulation waits for them up to
//!   [`Sim::deadlock_wait`] before it reports a deadlock.
//! - Code that reads the real clock (`Instant::now()`) sees real time, which barely moves:
//!   measure with the runtime's `now()` instead.
//!
//! # Using it from a "test on every backend" helper
//!
//! [`check`] takes a seed count and a factory `FnMut(Arc<dyn Runtime>) -> impl Future`, the
//! same shape as a body run once per real backend: a helper that runs a test on tokio and
//! smol can call it as one more backend.
#![forbid(unsafe_code)]

mod inject;
mod rng;
mod seeds;
mod sim;

pub use inject::{Injected, Injector, Point, cancel_at_every_poll};
pub use rng::Rng;
pub use seeds::{SEED_ENV, SEEDS_ENV, check, replay};
pub use sim::{Sim, SimRuntime, current};
