//! Running a test body over many seeds (P5, P6): each seed is one schedule; a failure names
//! its seed and how to replay it alone.

use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::Arc;

use taskscope_core::{BlockOn, Runtime};

use crate::Sim;

/// The environment variable that replays one seed: `TASKSCOPE_SIM_SEED=1234 cargo test ...`
/// makes [`check`] run that seed only.
pub const SEED_ENV: &str = "TASKSCOPE_SIM_SEED";

/// The environment variable that overrides the number of seeds [`check`] runs, for a longer
/// search than the test asks for: `TASKSCOPE_SIM_SEEDS=100000 cargo test ...`.
pub const SEEDS_ENV: &str = "TASKSCOPE_SIM_SEEDS";

/// Runs `body` once on a fresh [`Sim`] with `seed`, as [`check`] runs each seed: the way to
/// replay one seed from code (a panic resumes as it is).
///
/// ```
/// let mut seen = Vec::new();
/// for _ in 0..2 {
///     let mut order = Vec::new();
///     taskscope_sim::replay(9, |rt| {
///         let order = &mut order;
///         async move {
///             let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
///             taskscope_core::Builder::new().runtime(rt).run(async |s| {
///                 for i in 0..5 {
///                     let log = log.clone();
///                     s.spawn(async move { log.lock().unwrap().push(i); Ok::<_, taskscope_core::BoxError>(()) });
///                 }
///                 Ok(())
///             }).await.unwrap();
///             *order = log.lock().unwrap().clone();
///         }
///     });
///     seen.push(order);
/// }
/// assert_eq!(seen[0], seen[1]); // one seed, one schedule
/// ```
pub fn replay<F, Fut>(seed: u64, body: F)
where
    F: FnOnce(Arc<dyn Runtime>) -> Fut,
    Fut: Future<Output = ()>,
{
    let sim = Sim::new(seed);
    sim.block_on(body(sim.runtime()));
}

/// Runs `body` once per seed `0..seeds`, each time on a fresh [`Sim`] given to `body` as its
/// runtime. A run that panics (an assertion, a deadlock, a panic resumed from a child) stops
/// the loop: the seed and the command that replays it are printed to stderr, then the panic
/// resumes. With [`SEED_ENV`] set, only that seed runs; [`SEEDS_ENV`] overrides `seeds`.
///
/// The body's future need not be `Send`: it runs on the calling thread.
///
/// ```
/// use std::time::Duration;
/// use taskscope_core::{BoxError, Builder};
///
/// taskscope_sim::check(50, |rt| async move {
///     let r = Builder::new().runtime(rt.clone()).run(async |s| {
///         let a = s.spawn(async { Ok::<_, BoxError>(1) });
///         let b = s.spawn(async { Ok::<_, BoxError>(2) });
///         Ok(a.await? + b.await?)
///     }).await;
///     assert_eq!(r.unwrap(), 3); // whatever the interleaving
/// });
/// ```
///
/// # Panics
/// With the first failing seed's panic; if [`SEED_ENV`] or [`SEEDS_ENV`] is not a number.
#[track_caller]
pub fn check<F, Fut>(seeds: u64, mut body: F)
where
    F: FnMut(Arc<dyn Runtime>) -> Fut,
    Fut: Future<Output = ()>,
{
    let number = |name: &str| {
        std::env::var(name)
            .ok()
            .map(|v| v.trim().parse::<u64>().unwrap_or_else(|_| panic!("{name} must be a number, got {v:?}")))
    };
    let chosen: Vec<u64> = match number(SEED_ENV) {
        Some(seed) => vec![seed],
        None => (0..number(SEEDS_ENV).unwrap_or(seeds)).collect(),
    };
    for seed in chosen {
        let sim = Sim::new(seed);
        let rt = sim.runtime();
        let outcome = catch_unwind(AssertUnwindSafe(|| sim.block_on(body(rt))));
        let elapsed = sim.elapsed();
        let dropped = catch_unwind(AssertUnwindSafe(move || drop(sim)));
        if let Err(payload) = outcome.and(dropped) {
            let test = std::thread::current().name().unwrap_or("<your test>").to_string();
            eprintln!(
                "taskscope-sim: failed with seed {seed} (at virtual time {elapsed:?}): {}\n\
                 taskscope-sim: replay it alone with: {SEED_ENV}={seed} cargo test {test} -- --exact",
                taskscope_core::panic_message(&*payload)
            );
            resume_unwind(payload);
        }
    }
}
