//! The taskscope conformance suite: the proof that every backend gives the same semantics.
//!
//! Every rule of the semantics contract (`DESIGN.md`: S1, F5, C7, ...) has at least one case
//! here, named after it (`s1_scope_waits_for_every_child_drop`, ...). A case is a plain
//! function taking a [`Harness`] — a runtime adapter plus a way to block on a future — so the
//! same case runs on every backend.
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
//! then passes only if the case fails:
//!
//! ```ignore
//! taskscope_conformance::suite!(my_backend, || make(), diverges: {
//!     c3_dropped_scope_cancels_children => "our executor never drops tasks on shutdown",
//! });
//! ```
//!
//! The built-in backends run the same way in this crate's `tests/`, and the report binary
//! (`cargo run --release -p taskscope-conformance`) prints the rule × backend matrix.
#![forbid(unsafe_code)]

use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use taskscope_core::{BlockOn, Runtime};

pub mod cases;
pub mod support;

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
/// hangs fails (its thread is left behind).
pub fn run_case(make: fn() -> Box<dyn Harness>, case: &Case) -> CaseResult {
    let start = Instant::now();
    let (tx, rx) = std::sync::mpsc::channel();
    let run = case.run;
    let thread = std::thread::Builder::new()
        .name(case.name.to_string())
        .spawn(move || {
            let result = catch_unwind(AssertUnwindSafe(|| {
                let h = make();
                run(&*h);
                drop(h);
            }));
            let _ = tx.send(result.map_err(|p| taskscope_core::panic_message(&*p).to_string()));
        })
        .expect("conformance: could not spawn the case thread");
    match rx.recv_timeout(CASE_TIMEOUT) {
        Ok(Ok(())) => {
            let _ = thread.join();
            CaseResult::Pass(start.elapsed())
        }
        Ok(Err(msg)) => {
            let _ = thread.join();
            CaseResult::Fail(msg, start.elapsed())
        }
        Err(_) => CaseResult::Fail(format!("hung: no result after {CASE_TIMEOUT:?}"), start.elapsed()),
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
