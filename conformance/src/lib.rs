//! The taskscope conformance suite: the proof that every backend gives the same semantics.
//!
//! Every rule of the semantics contract (`docs/semantics.md`: S1, F5, C7, ...) has at least one case
//! here, named after it (`s1_scope_waits_for_every_child_drop`, ...). A case is a plain
//! function taking a [`Harness`] — a runtime adapter plus a way to block on a future — so the
//! same case runs on every backend: [`cases::ALL`] lists them, in report order.
//!
//! Where the cases come from:
//! - one module per rule family (scope lifetime, failure, cancellation, tokens, deadlines and
//!   shielding, limits and policies);
//! - [`cases::anyio`] and [`cases::trio`]: ports of AnyIO's task-group tests and of Trio's
//!   nursery and cancel-scope tests, each module opening with the table of every upstream test:
//!   ported, adapted (and why), covered elsewhere, or not applicable (and why);
//! - [`cases::contract`]: the runtime contract itself (timers never early, `spawn` and
//!   `spawn_blocking` run their work, panics resume through `block_on`) and runtime shutdown
//!   (every child dropped, none run again), the things core has to trust an adapter for;
//! - [`cases::coverage`]: more angles per rule.
//!
//! Beside the cases, [`trees`] draws random trees of nested scopes from a seed and checks each
//! against a model of the rules (outcome, every error once, no child alive after its scope).
//!
//! Cases are deterministic: they order events with gates and drop trackers (see [`support`]),
//! never with sleeps; where a timer is the point, margins are wide, and a child that must be
//! cancelled sleeps 30 s, so that a broken backend fails instead of passing by luck.
//!
//! # Running the suite against your adapter
//!
//! Add this crate as a dev-dependency (with `default-features = false` you skip the built-in
//! tokio and smol backends), then in `tests/conformance.rs`:
//!
//! ```ignore
//! taskscope_conformance::suite!(my_backend, || {
//!     let backend = my_adapter::Backend::new();
//!     taskscope_conformance::harness(backend.runtime(), backend)
//! });
//! ```
//!
//! Each case becomes its own `#[test]` (inside `mod my_backend`), so failures are named. A case
//! your runtime cannot meet can be marked as an expected divergence, with the reason; the test
//! then passes only if the case fails (and tells you to remove the mark once it passes):
//!
//! ```ignore
//! taskscope_conformance::suite!(my_backend, || make(), diverges: {
//!     c3_runtime_shutdown_drops_every_child => "our executor never drops tasks on shutdown",
//! });
//! ```
//!
//! A complete example is this crate's `tests/third_party_threadpool.rs`: an adapter over
//! `futures::executor::ThreadPool` with `async-io` timers and the `blocking` pool (about forty
//! lines), and the macro call that runs the whole suite on it, with the two shutdown cases it
//! legitimately diverges on marked and explained.
//!
//! # The suite can fail
//!
//! `tests/mutants.rs` runs every case against deliberately broken adapters, each wrapping a
//! real backend, and asserts that each is caught (`cargo test -p taskscope-conformance --test
//! mutants -- --nocapture` prints which cases fail for each):
//!
//! | mutant | caught by (among others) |
//! |---|---|
//! | `spawn` detaches tasks onto a global executor that outlives the backend | `c3_runtime_shutdown_drops_every_child`, `c3_no_child_runs_after_runtime_shutdown` |
//! | the timer fires early (after a quarter of the time) | `p1_runtime_timer_never_fires_early`, `c7_` cases |
//! | the timer never fires | `p1_a_sleep_until_a_past_instant_completes_at_once`, `c2_grace_expiry_drops_stubborn_children`, ~40 more |
//! | `block_on` loses panics | `f5_a_panic_resumes_through_block_on` |
//! | a cancelled task runs once more (polled again after shutdown) | `c3_runtime_shutdown_drops_every_child`, `c3_no_child_runs_after_runtime_shutdown` |
//! | destructors never run on shutdown (tasks leaked) | `c3_runtime_shutdown_drops_every_child` |
//! | `spawn` drops tasks unpolled | `p1_runtime_spawn_runs_a_task_to_completion`, most of the suite |
//! | wakers ignore `wake_by_ref` (lost wake-ups) | `c9_cancel_one_child_only`, ~20 more |
//! | `spawn_blocking` runs the job inline | `p1_runtime_spawn_blocking_runs_off_the_async_thread` |
//! | `spawn_blocking` never runs the job | `p1_runtime_spawn_blocking_runs_off_the_async_thread`, `b1_` cases |
//!
//! # The report
//!
//! `cargo run --release -p taskscope-conformance` runs every case on the five built-in
//! backends (tokio and smol flavours, and the deterministic simulation `sim`, whose cases run
//! in virtual time) and prints a case × backend matrix (status and time), a rule × backend summary,
//! and exits non-zero on any failure; `-- --json` prints JSON lines instead, `--backend` and
//! `--filter` narrow the selection, `--repeat N` runs it N times and reports flaky cases.
#![forbid(unsafe_code)]

use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use taskscope_core::{BlockOn, CancelToken, Runtime};

pub mod cases;
pub mod support;
pub mod trees;

#[cfg(feature = "backends")]
pub mod backends;

/// A backend under test: a runtime adapter and a way to block on a future with it.
pub trait Harness: Send + Sync {
    /// The runtime given to every scope the cases open.
    fn runtime(&self) -> Arc<dyn Runtime>;
    /// Runs `fut` to completion on the calling thread, driving the runtime as needed.
    fn block_on(&self, fut: Pin<Box<dyn Future<Output = ()> + '_>>);
}

struct BlockOnHarness<B> {
    runtime: Arc<dyn Runtime>,
    backend: B,
}

impl<B: BlockOn + Send + Sync> Harness for BlockOnHarness<B> {
    fn runtime(&self) -> Arc<dyn Runtime> {
        self.runtime.clone()
    }
    fn block_on(&self, fut: Pin<Box<dyn Future<Output = ()> + '_>>) {
        self.backend.block_on(fut);
    }
}

/// A [`Harness`] from a runtime adapter and the [`BlockOn`] that drives it.
pub fn harness<B: BlockOn + Send + Sync + 'static>(runtime: Arc<dyn Runtime>, backend: B) -> Box<dyn Harness> {
    Box::new(BlockOnHarness { runtime, backend })
}

/// A case of the suite: its name (which starts with its rule ID) and its function.
#[derive(Clone, Copy, Debug)]
pub struct Case {
    /// The case's name, e.g. `"s1_scope_waits_for_every_child_drop"`.
    pub name: &'static str,
    /// Runs the case; panics on failure.
    pub run: fn(&dyn Harness),
}

impl Case {
    /// The rule ID the case proves, e.g. `"S1"`.
    pub fn rule(&self) -> String {
        self.name.split('_').next().unwrap_or("").to_ascii_uppercase()
    }
}

/// How long one case may run before it counts as hung (a hang is a failure, e.g. an adapter
/// that never drops a cancelled task).
pub const CASE_TIMEOUT: Duration = Duration::from_secs(60);

/// How a case ended when run by [`run_case`].
#[derive(Debug)]
pub enum CaseResult {
    /// It passed, in this time.
    Pass(Duration),
    /// It failed with this message, after this time.
    Fail(String, Duration),
}

/// Runs one case on a fresh harness, on its own thread, with [`CASE_TIMEOUT`]. A case that
/// hangs fails (see [`run_case_with_timeout`]).
pub fn run_case(make: fn() -> Box<dyn Harness>, case: &Case) -> CaseResult {
    run_case_with_timeout(make, case, CASE_TIMEOUT)
}

/// Runs one case on a fresh harness, on its own thread, and fails it if it has not finished
/// after `timeout`.
///
/// The harness is dropped (its runtime shut down) when the case returns, then the checks the
/// case registered with [`support::after_shutdown`] run. A case that hangs is abandoned: its
/// pending and later [`Harness::block_on`] calls return at once (dropping their futures), so
/// that its harness is dropped and its tasks stop; its thread is left to finish on its own.
pub fn run_case_with_timeout(make: fn() -> Box<dyn Harness>, case: &Case, timeout: Duration) -> CaseResult {
    let start = Instant::now();
    let (tx, rx) = std::sync::mpsc::channel();
    let run = case.run;
    let abandon = CancelToken::new();
    let abandoned = abandon.clone();
    let spawned = std::thread::Builder::new().name(case.name.to_string()).spawn(move || {
        drop(support::take_shutdown_checks());
        let result = catch_unwind(AssertUnwindSafe(|| {
            let h = Abandonable { inner: make(), abandon: abandoned };
            run(&h);
            drop(h);
            for check in support::take_shutdown_checks() {
                check();
            }
        }));
        drop(support::take_shutdown_checks());
        let _ = tx.send(result.map_err(|p| taskscope_core::panic_message(&*p).to_string()));
    });
    let thread = match spawned {
        Ok(t) => t,
        Err(e) => return CaseResult::Fail(format!("could not spawn the case thread: {e}"), start.elapsed()),
    };
    match rx.recv_timeout(timeout) {
        Ok(Ok(())) => {
            let _ = thread.join();
            CaseResult::Pass(start.elapsed())
        }
        Ok(Err(msg)) => {
            let _ = thread.join();
            CaseResult::Fail(msg, start.elapsed())
        }
        Err(_) => {
            abandon.cancel();
            CaseResult::Fail(format!("hung: no result after {timeout:?}"), start.elapsed())
        }
    }
}

/// The harness a case sees under [`run_case_with_timeout`]: the real one, plus a way to
/// abandon a hung case.
struct Abandonable {
    inner: Box<dyn Harness>,
    abandon: CancelToken,
}

impl Harness for Abandonable {
    fn runtime(&self) -> Arc<dyn Runtime> {
        self.inner.runtime()
    }
    fn block_on(&self, fut: Pin<Box<dyn Future<Output = ()> + '_>>) {
        if self.abandon.is_cancelled() {
            return;
        }
        let abandon = self.abandon.clone();
        self.inner.block_on(Box::pin(futures_lite::future::or(fut, async move { abandon.cancelled().await })));
    }
}

/// Runs `case` as a test: panics with the case's message if it fails. With `diverges`, the
/// case is an expected divergence: the test passes only if the case fails.
pub fn run_as_test(make: fn() -> Box<dyn Harness>, name: &str, diverges: Option<&str>) {
    let case = cases::ALL.iter().find(|c| c.name == name).unwrap_or_else(|| panic!("no case named {name}"));
    match (run_case(make, case), diverges) {
        (CaseResult::Pass(_), None) => {}
        (CaseResult::Fail(msg, _), None) => panic!("{name} failed: {msg}"),
        (CaseResult::Fail(..), Some(_)) => {}
        (CaseResult::Pass(_), Some(why)) => {
            panic!("{name} was marked as an expected divergence ({why}) but passed: remove the mark")
        }
    }
}

/// Turns the whole suite into `#[test]`s for one backend: `suite!(module_name, || harness)`.
/// Optionally `diverges: { case_name => "reason", ... }` marks expected divergences.
#[macro_export]
macro_rules! suite {
    ($module:ident, $make:expr) => {
        $crate::suite!($module, $make, diverges: {});
    };
    ($module:ident, $make:expr, diverges: { $($case:ident => $why:literal),* $(,)? }) => {
        mod $module {
            #[allow(unused_imports)]
            use super::*;
            fn __make() -> ::std::boxed::Box<dyn $crate::Harness> {
                ($make)()
            }
            fn __diverges(name: &str) -> ::std::option::Option<&'static str> {
                $( if name == stringify!($case) { return ::std::option::Option::Some($why); } )*
                let _ = name;
                ::std::option::Option::None
            }
            $crate::__with_cases!($crate::__suite_tests);
        }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __suite_tests {
    ($($case:ident),* $(,)?) => {
        $(
            #[test]
            fn $case() {
                $crate::run_as_test(__make, stringify!($case), __diverges(stringify!($case)));
            }
        )*
    };
}
