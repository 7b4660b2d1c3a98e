//! Structured concurrency for async Rust, on any runtime.
//!
//! Children are spawned into a [`scope`]; the scope does not finish until every child has;
//! the first failure cancels the siblings; every error comes back in one [`ErrorGroup`];
//! nothing is ever orphaned. It is Python's `asyncio.TaskGroup`, Trio's nursery and AnyIO's
//! task group, for Rust — and it behaves the same on tokio and smol: pick one with a cargo
//! feature (`tokio`, `smol`, or both: additive), and the `taskscope-conformance` suite proves
//! the semantics identical.
//!
//! ```
//! # #[cfg(feature = "tokio")] {
//! use std::time::Duration;
//! use taskscope::{BoxError, ScopeError};
//!
//! async fn fetch(id: u32) -> Result<String, BoxError> {
//!     tokio::time::sleep(Duration::from_millis(10 * id as u64)).await;
//!     Ok(format!("page {id}"))
//! }
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! // Fan out three fetches; the scope returns after the slowest.
//! let (a, b, c) = taskscope::scope(async |s| Ok((s.spawn(fetch(1)), s.spawn(fetch(2)), s.spawn(fetch(3)))))
//!     .await?;
//! assert_eq!([a.result()?, b.result()?, c.result()?], ["page 1", "page 2", "page 3"]);
//!
//! // The first failure cancels the siblings; the owner gets every error in one group.
//! let err = taskscope::scope(async |s| {
//!     s.spawn_named("slow", async { tokio::time::sleep(Duration::from_secs(60)).await; Ok(()) });
//!     s.spawn_named("broken", async { Err::<(), _>(BoxError::msg("connection refused")) });
//!     Ok(())
//! })
//! .await
//! .unwrap_err();
//! let ScopeError::Failed(group) = err else { unreachable!() };
//! assert_eq!(group.members()[0].name(), Some("broken"));
//! # Ok::<_, BoxError>(()) }).unwrap();
//! # }
//! ```
//!
//! # Spawned or local scope?
//!
//! Rust's "scoped task trilemma": a sound API gets at most two of concurrency, parallelism and
//! borrowing. [`scope`] gives concurrency and parallelism: children are tasks of the runtime,
//! run on any worker thread, and so must be `Send + 'static` (move or `Arc` what they use).
//! [`local_scope`] gives concurrency and borrowing: children are polled inside the owner's own
//! future, on its thread, so they may borrow from the caller's stack, need not be `Send`
//! (`Rc`, `RefCell` borrows), and need no runtime at all. Both keep the same contract (waiting,
//! fail-fast, error groups, tokens and reasons, grace periods, deadlines, limits, policies).
//!
//! Choose the local scope for I/O-bound fan-out over borrowed data (a request handler fanning
//! out over its own buffers, a parser's sub-tasks, tests), for `!Send` state, or in library code
//! that must not assume a runtime. Choose the spawned scope for CPU-heavy children (the local
//! scope never runs two children at once), for blocking work (B1), for children that must keep
//! running while the owner is blocked, or when the owner's future must be `Send` (a local scope
//! future is not: run it in `block_on`, a tokio `LocalSet` / current-thread runtime, a smol
//! `LocalExecutor`, or inside a spawned scope's body). Nested, they compose: a local scope
//! opened in a spawned child links its token to that scope's, and the other way round.
//!
//! ```
//! use std::cell::RefCell;
//! use taskscope::{BoxError, local_scope};
//!
//! async fn word_lengths(text: &str) -> Result<Vec<usize>, BoxError> {
//!     let out = RefCell::new(Vec::new()); // borrowed by every child; not `Sync`
//!     local_scope(async |s| {
//!         for word in text.split_whitespace() {
//!             let out = &out; // children borrow `text` and `out`: no `Arc`, no clone
//!             s.spawn(async move {
//!                 out.borrow_mut().push(word.len());
//!                 Ok::<_, BoxError>(())
//!             });
//!         }
//!         Ok(())
//!     })
//!     .await?;
//!     Ok(out.into_inner())
//! }
//!
//! let text = String::from("borrowed from the caller");
//! let mut lengths = futures_lite::future::block_on(word_lengths(&text)).unwrap();
//! lengths.sort();
//! assert_eq!(lengths, [3, 4, 6, 8]);
//! ```
//!
//! # Features
//! - `tokio`: the [`tokio`](mod@tokio) adapter. Inside a tokio runtime, [`scope`] spawns there.
//! - `smol`: the [`smol`](mod@smol) adapter. Outside tokio, [`scope`] uses smol's global
//!   executor (which works from any thread).
//! - neither: the runtime-free parts still work — [`CancelToken`], [`ErrorGroup`], and
//!   [`Builder`] with an explicit runtime.
#![forbid(unsafe_code)]

use std::fmt;
use std::sync::Arc;

pub use taskscope_core::*;

/// The tokio adapter ([`taskscope_tokio`]).
#[cfg(feature = "tokio")]
pub mod tokio {
    pub use taskscope_tokio::*;
}

/// The smol adapter ([`taskscope_smol`]).
#[cfg(feature = "smol")]
pub mod smol {
    pub use taskscope_smol::*;
}

/// No runtime could be found for a scope; the message says what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoRuntime;

impl fmt::Display for NoRuntime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if cfg!(feature = "tokio") {
            f.write_str(
                "taskscope: no async runtime found: this code is not running inside a tokio \
                 runtime. Run it inside one (#[tokio::main], Runtime::block_on), enable \
                 taskscope's `smol` feature to fall back to smol's global executor, or give a \
                 runtime explicitly with Builder::runtime",
            )
        } else {
            f.write_str(
                "taskscope: no async runtime adapter is enabled. Enable taskscope's `tokio` or \
                 `smol` feature, or give a runtime explicitly with Builder::runtime",
            )
        }
    }
}

impl std::error::Error for NoRuntime {}

/// The runtime a new scope would use here: the enclosing scope's, else (feature `tokio`) the
/// tokio runtime this thread runs in, else (feature `smol`) smol's global executor.
///
/// ```
/// # #[cfg(feature = "tokio")]
/// tokio::runtime::Runtime::new().unwrap().block_on(async {
///     assert_eq!(taskscope::runtime().unwrap().name(), "tokio-mt");
/// });
/// ```
pub fn runtime() -> Result<Arc<dyn Runtime>, NoRuntime> {
    detect().ok_or(NoRuntime)
}

fn detect() -> Option<Arc<dyn Runtime>> {
    if let Some(rt) = current_runtime() {
        return Some(rt);
    }
    #[cfg(feature = "tokio")]
    if let Ok(rt) = taskscope_tokio::TokioRuntime::current() {
        return Some(Arc::new(rt));
    }
    #[cfg(feature = "smol")]
    return Some(Arc::new(taskscope_smol::SmolRuntime::global()));
    #[allow(unreachable_code)]
    None
}

/// A [`Builder`] whose runtime is detected when the scope starts (see [`runtime`]); set
/// limits, deadlines or names on it, then [`run`](Builder::run) it.
pub fn builder() -> Builder {
    Builder::new().fallback_runtime(detect)
}

/// A [`LocalBuilder`] whose timer (for a deadline or a grace period) is detected when the
/// scope starts, as [`builder`] detects a runtime: the enclosing scope's, else tokio's, else
/// smol's. A local scope never spawns on it; without a deadline or grace period none is needed
/// (use [`local_scope`]).
///
/// ```
/// # #[cfg(feature = "tokio")]
/// tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
///     let cities = ["Oslo", "Lima"];
///     let r = taskscope::local_builder()
///         .timeout(std::time::Duration::from_millis(10))
///         .run(async |s| {
///             for c in &cities {
///                 s.spawn_named(*c, std::future::pending::<Result<(), taskscope::BoxError>>());
///             }
///             Ok(())
///         })
///         .await;
///     assert!(r.unwrap_err().is_elapsed());
/// });
/// ```
pub fn local_builder() -> LocalBuilder {
    LocalBuilder::new().fallback_runtime(detect)
}

/// Runs a scope on the detected runtime: `body` spawns children through the [`Scope`] it
/// receives; the scope completes when the body and every child have (S1).
///
/// Returns the body's value, [`ScopeError::Failed`] with every child error, or
/// [`ScopeError::Cancelled`]. A child panic cancels the rest and resumes here.
///
/// # Panics
/// If no runtime is found (see [`runtime`]): the message says what to do. Resumes panics of
/// the body and children once every child is dropped.
///
/// # Cancel safety
/// Dropping the future cancels the scope: every child is dropped, none detached.
pub async fn scope<T, E, F>(body: F) -> Result<T, ScopeError<E>>
where
    F: AsyncFnOnce(&Scope<E>) -> Result<T, E>,
    E: Send + 'static,
{
    require_runtime();
    builder().run(body).await
}

fn require_runtime() {
    if let Err(e) = runtime() {
        panic!("{e}");
    }
}

/// Runs `fut` for at most `timeout` (AnyIO's `fail_after`, C7): its output, or [`Elapsed`]
/// once the deadline has cancelled it and every scope opened inside it has been torn down.
/// The timer runs on the detected runtime (see [`runtime`]); the full contract is
/// [`taskscope_core::fail_after`]'s.
///
/// To bound a scope with a grace period for its children, use [`builder`] with
/// [`Builder::timeout`] instead.
///
/// # Panics
/// If no runtime is found (see [`runtime`]).
///
/// ```
/// # #[cfg(feature = "tokio")]
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// use std::time::Duration;
/// let r = taskscope::fail_after(Duration::from_millis(10), tokio::time::sleep(Duration::from_secs(60))).await;
/// assert!(r.is_err()); // taskscope::Elapsed
/// # });
/// ```
pub async fn fail_after<F: std::future::IntoFuture>(
    timeout: std::time::Duration,
    fut: F,
) -> Result<F::Output, Elapsed> {
    require_runtime();
    builder().timeout(timeout).fail(fut).await
}

/// [`fail_after`] with an absolute deadline.
///
/// # Panics
/// If no runtime is found (see [`runtime`]).
pub async fn fail_at<F: std::future::IntoFuture>(deadline: std::time::Instant, fut: F) -> Result<F::Output, Elapsed> {
    require_runtime();
    builder().deadline(deadline).fail(fut).await
}

/// Runs `fut` for at most `timeout` (AnyIO's `move_on_after`): `Some(output)`, or `None` once
/// the deadline has cancelled it and every scope inside it has been torn down (see
/// [`fail_after`]).
///
/// # Panics
/// If no runtime is found (see [`runtime`]).
///
/// ```
/// # #[cfg(feature = "smol")] {
/// # use taskscope::BlockOn;
/// # taskscope::smol::SmolBackend::single_thread().block_on(async {
/// use std::time::Duration;
/// let r = taskscope::move_on_after(Duration::from_millis(10), std::future::pending::<()>()).await;
/// assert_eq!(r, None);
/// # });
/// # }
/// ```
pub async fn move_on_after<F: std::future::IntoFuture>(timeout: std::time::Duration, fut: F) -> Option<F::Output> {
    require_runtime();
    builder().timeout(timeout).move_on(fut).await
}

/// [`move_on_after`] with an absolute deadline.
///
/// # Panics
/// If no runtime is found (see [`runtime`]).
pub async fn move_on_at<F: std::future::IntoFuture>(deadline: std::time::Instant, fut: F) -> Option<F::Output> {
    require_runtime();
    builder().deadline(deadline).move_on(fut).await
}
