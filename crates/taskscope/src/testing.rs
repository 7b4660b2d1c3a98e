//! Test on every backend (P6), as AnyIO's pytest plugin runs one test on asyncio and trio:
//! [`test_on_every_backend!`](crate::test_on_every_backend) turns one async test body into a
//! named `#[test]` per enabled backend flavour, so a failure says which backend broke.
//!
//! A library that depends on `taskscope` with no runtime feature adds one dev-dependency:
//!
//! ```toml
//! [dependencies]
//! taskscope = "0.1"
//!
//! [dev-dependencies]
//! taskscope = { version = "0.1", features = ["testing", "tokio", "smol"] }
//! ```
//!
//! and writes, in `tests/fetch.rs`:
//!
//! ```
//! # #[cfg(any(feature = "tokio", feature = "smol"))] mod tests {
//! taskscope::test_on_every_backend! {
//!     async fn sleeps_then_answers() {
//!         taskscope::sleep(std::time::Duration::from_millis(1)).await;
//!         let n = taskscope::scope(async |s| {
//!             let h = s.spawn(async { Ok::<_, taskscope::BoxError>(21) });
//!             Ok(h.await? * 2)
//!         })
//!         .await
//!         .unwrap();
//!         assert_eq!(n, 42);
//!     }
//!
//!     // A test may return a `Result`, and take `#[should_panic]` or `#[ignore]`.
//!     async fn with_errors() -> Result<(), taskscope::BoxError> {
//!         taskscope::fail_after(std::time::Duration::from_secs(5), async { Ok(()) }).await?
//!     }
//! }
//! # }
//! # fn main() {}
//! ```
//!
//! which gives the tests `sleeps_then_answers::tokio_mt`, `sleeps_then_answers::tokio_ct`,
//! `sleeps_then_answers::smol_mt` and `sleeps_then_answers::smol_st` (those whose feature is
//! enabled). Each runs the body on a fresh runtime of its flavour, through
//! [`BlockOn`], with no scope around it: the code under test finds the
//! runtime the way an application's code does (see the crate docs), so the test also proves
//! that the library needs no runtime-specific code.
//!
//! # Why here
//!
//! The macro lives in the facade, behind the `testing` feature, rather than in a crate of its
//! own: the facade already has the backend features a test needs (`tokio`, `smol`), so one
//! dev-dependency line enables both the backends and the macro, and the generated tests
//! follow the features the library's tests enable. It is a `macro_rules!` macro: no
//! proc-macro dependency.
//!
//! # Adding a backend
//!
//! A flavour is a [`Flavour`] variant with its arm in [`run`], and one line in the list the
//! macro expands (`__taskscope_backend_tests!`), inside the gate of the facade feature that
//! brings the backend (`__taskscope_if_tokio!`, `__taskscope_if_smol!`: a gate is a macro
//! defined twice, expanding or not with the feature, because a `cfg` written in the macro's
//! output would test the calling crate's features). The deterministic simulation backend
//! joined this way behind the `sim` feature: its line runs the body once per seed (the body is a
//! function, so it can be called again for every seed) and names the failing seed.
//!
//! With the `sim` feature, each function also gets a `sim` test: the body runs on the
//! simulation once for each of [`SIM_SEEDS`] seeds (virtual time: sleeps are instant), and a
//! failure prints the seed and the command that replays it.

use std::future::Future;

#[cfg(any(feature = "tokio", feature = "smol", feature = "sim"))]
use crate::BlockOn;

/// A backend flavour a test runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Flavour {
    /// tokio's multi-thread scheduler, 2 workers.
    #[cfg(feature = "tokio")]
    TokioMt,
    /// tokio's current-thread scheduler.
    #[cfg(feature = "tokio")]
    TokioCt,
    /// async-executor run by 2 threads (and the test's thread).
    #[cfg(feature = "smol")]
    SmolMt,
    /// async-executor run by the test's thread only.
    #[cfg(feature = "smol")]
    SmolSt,
    /// The deterministic simulation (virtual time, seeded schedule): the generated test runs
    /// the body once per seed (see [`run_seeds`]).
    #[cfg(feature = "sim")]
    Sim,
}

impl Flavour {
    /// Every enabled flavour, in the order the tests are generated.
    pub const ALL: &'static [Flavour] = &[
        #[cfg(feature = "tokio")]
        Flavour::TokioMt,
        #[cfg(feature = "tokio")]
        Flavour::TokioCt,
        #[cfg(feature = "smol")]
        Flavour::SmolMt,
        #[cfg(feature = "smol")]
        Flavour::SmolSt,
        #[cfg(feature = "sim")]
        Flavour::Sim,
    ];

    /// The flavour's name, which is also the name of the runtime it detects (`tokio-mt`,
    /// `tokio-ct`, `smol-mt`, `smol-st`).
    pub fn name(self) -> &'static str {
        match self {
            #[cfg(feature = "tokio")]
            Flavour::TokioMt => "tokio-mt",
            #[cfg(feature = "tokio")]
            Flavour::TokioCt => "tokio-ct",
            #[cfg(feature = "smol")]
            Flavour::SmolMt => "smol-mt",
            #[cfg(feature = "smol")]
            Flavour::SmolSt => "smol-st",
            #[cfg(feature = "sim")]
            Flavour::Sim => "sim",
        }
    }
}

/// Runs `test()` to completion on a fresh runtime of `flavour` and returns its output; the
/// runtime is shut down before this returns. What the generated tests call.
///
/// ```
/// # #[cfg(feature = "smol")] {
/// use taskscope::testing::{Flavour, run};
/// let name = run(Flavour::SmolSt, async || taskscope::runtime().unwrap().name());
/// assert_eq!(name, "smol-st");
/// # }
/// ```
pub fn run<F, Fut>(flavour: Flavour, test: F) -> Fut::Output
where
    F: FnOnce() -> Fut,
    Fut: Future,
{
    // Without a backend feature there is no flavour: `flavour` cannot exist.
    #[cfg(not(any(feature = "tokio", feature = "smol", feature = "sim")))]
    let _ = test;
    match flavour {
        #[cfg(feature = "tokio")]
        Flavour::TokioMt => taskscope_tokio::TokioBackend::multi_thread(2).block_on(test()),
        #[cfg(feature = "tokio")]
        Flavour::TokioCt => taskscope_tokio::TokioBackend::current_thread().block_on(test()),
        #[cfg(feature = "smol")]
        Flavour::SmolMt => taskscope_smol::SmolBackend::multi_thread(2).block_on(test()),
        #[cfg(feature = "smol")]
        Flavour::SmolSt => taskscope_smol::SmolBackend::single_thread().block_on(test()),
        #[cfg(feature = "sim")]
        Flavour::Sim => taskscope_sim::Sim::new(0).block_on(test()),
    }
}

/// How many seeds the `sim` test of [`test_on_every_backend!`](crate::test_on_every_backend)
/// runs (`TASKSCOPE_SIM_SEEDS` overrides it, `TASKSCOPE_SIM_SEED` runs one).
#[cfg(feature = "sim")]
pub const SIM_SEEDS: u64 = 32;

/// What a test body may return: `()` or a `Result` whose error fails the test.
pub trait TestOutcome {
    /// Panics if the outcome is a failure.
    fn check(self);
}

impl TestOutcome for () {
    fn check(self) {}
}

impl<E: std::fmt::Debug> TestOutcome for Result<(), E> {
    #[track_caller]
    fn check(self) {
        if let Err(e) = self {
            panic!("the test body returned an error: {e:?}");
        }
    }
}

/// Runs `test()` on the simulation once per seed `0..seeds` (each on a fresh simulation whose
/// runtime the code under test detects); a failing seed is printed with the command that
/// replays it (see [`taskscope_sim::check`]). What the generated `sim` tests call.
///
/// ```
/// # #[cfg(feature = "sim")] {
/// use taskscope::testing::run_seeds;
/// run_seeds(8, async || {
///     let t = taskscope::now();
///     taskscope::sleep(std::time::Duration::from_secs(3600)).await; // virtual: instant
///     assert!(taskscope::now() - t >= std::time::Duration::from_secs(3600));
/// });
/// # }
/// ```
#[cfg(feature = "sim")]
#[track_caller]
pub fn run_seeds<F, Fut>(seeds: u64, mut test: F)
where
    F: FnMut() -> Fut,
    Fut: Future,
    Fut::Output: TestOutcome,
{
    taskscope_sim::check(seeds, |_rt| {
        let run = test();
        async move { run.await.check() }
    });
}

/// Runs an async test body on every enabled backend flavour, each as its own named `#[test]`
/// (P6): `async fn name() { ... }` becomes `mod name` with one test per flavour (`tokio_mt`,
/// `tokio_ct`, `smol_mt`, `smol_st`, `sim`, as the `tokio`, `smol` and `sim` features allow;
/// `sim` runs the body over [`SIM_SEEDS`](crate::testing) seeds). The body may
/// return a `Result` (as a `#[test]` may), and attributes such as `#[should_panic]` or
/// `#[ignore]` apply to every flavour's test. Several functions may be given in one call.
///
/// Needs the `testing` feature and at least one backend feature; see [`testing`](crate::testing).
#[macro_export]
macro_rules! test_on_every_backend {
    ($( $(#[$attr:meta])* async fn $name:ident() $(-> $ret:ty)? $body:block )*) => {
        $(
            mod $name {
                #[allow(unused_imports)]
                use super::*;

                async fn __taskscope_test_body() $(-> $ret)? $body

                $crate::__taskscope_backend_tests! { [$(#[$attr])*] [$(-> $ret)?] }
            }
        )*
    };
}

/// One `#[test]` per enabled flavour; the one list of flavours (a new backend adds its line
/// here, behind its feature).
#[doc(hidden)]
#[macro_export]
macro_rules! __taskscope_backend_tests {
    ([$($attr:tt)*] [$($ret:tt)*]) => {
        $crate::__taskscope_if_no_backend! {}
        $crate::__taskscope_if_tokio! {
            $($attr)* #[test] fn tokio_mt() $($ret)* { $crate::testing::run($crate::testing::Flavour::TokioMt, __taskscope_test_body) }
            $($attr)* #[test] fn tokio_ct() $($ret)* { $crate::testing::run($crate::testing::Flavour::TokioCt, __taskscope_test_body) }
        }
        $crate::__taskscope_if_smol! {
            $($attr)* #[test] fn smol_mt() $($ret)* { $crate::testing::run($crate::testing::Flavour::SmolMt, __taskscope_test_body) }
            $($attr)* #[test] fn smol_st() $($ret)* { $crate::testing::run($crate::testing::Flavour::SmolSt, __taskscope_test_body) }
        }
        $crate::__taskscope_if_sim! {
            $($attr)* #[test] fn sim() { $crate::testing::run_seeds($crate::testing::SIM_SEEDS, __taskscope_test_body) }
        }
    };
}

/// Expands its input only with the `sim` feature.
#[cfg(feature = "sim")]
#[doc(hidden)]
#[macro_export]
macro_rules! __taskscope_if_sim {
    ($($t:tt)*) => { $($t)* };
}

#[cfg(not(feature = "sim"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __taskscope_if_sim {
    ($($t:tt)*) => {};
}

/// Expands its input only with the `tokio` feature (a `cfg` written in the macro would test
/// the calling crate's features, not taskscope's).
#[cfg(feature = "tokio")]
#[doc(hidden)]
#[macro_export]
macro_rules! __taskscope_if_tokio {
    ($($t:tt)*) => { $($t)* };
}

#[cfg(not(feature = "tokio"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __taskscope_if_tokio {
    ($($t:tt)*) => {};
}

/// Expands its input only with the `smol` feature.
#[cfg(feature = "smol")]
#[doc(hidden)]
#[macro_export]
macro_rules! __taskscope_if_smol {
    ($($t:tt)*) => { $($t)* };
}

#[cfg(not(feature = "smol"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __taskscope_if_smol {
    ($($t:tt)*) => {};
}

/// A compile error when no backend feature is enabled (the tests would silently be none).
#[cfg(not(any(feature = "tokio", feature = "smol", feature = "sim")))]
#[doc(hidden)]
#[macro_export]
macro_rules! __taskscope_if_no_backend {
    () => {
        ::std::compile_error!(
            "taskscope::test_on_every_backend! has no backend to run on: enable taskscope's `tokio` and/or `smol` \
             feature in the dev-dependency (features = [\"testing\", \"tokio\", \"smol\"])"
        );
    };
}

#[cfg(any(feature = "tokio", feature = "smol", feature = "sim"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __taskscope_if_no_backend {
    () => {};
}
