//! Deadlines for any future (C7): [`fail_after`], [`fail_at`], [`move_on_after`],
//! [`move_on_at`], and the [`Elapsed`] error.
//!
//! These take their runtime (for the timer) from the enclosing scope. Outside any scope use
//! [`Builder::fail`] / [`Builder::move_on`] with [`Builder::runtime`], or the `taskscope`
//! facade's functions of the same names, which detect tokio or smol.
//!
//! To bound a whole scope, with a grace period for its children and an outcome that tells
//! "elapsed" from "failed", give the scope itself a [`Builder::timeout`] or
//! [`Builder::deadline`].

use std::future::{Future, IntoFuture};
use std::time::{Duration, Instant};

use crate::builder::Builder;
use crate::error::Elapsed;

/// Runs `fut` for at most `timeout` (AnyIO's `fail_after`, Python's `asyncio.timeout`): its
/// output, or [`Elapsed`] once the deadline has cancelled it and every scope opened inside it
/// has been torn down.
///
/// Deadlines nest: the earliest wins, an inner one never extends an outer one. A timeout of
/// zero cancels at once, before `fut` is polled; `Duration::MAX` means no deadline. Only this
/// deadline gives `Elapsed`: a cancellation of the enclosing scope passes through to `fut`.
///
/// # Panics
/// When first polled outside a scope (there is no runtime to time it with), naming the
/// caller's line: use [`Builder::fail`] with a runtime, or the facade's
/// `taskscope::fail_after`, which detects tokio or smol.
///
/// # Cancel safety
/// Dropping it drops `fut` (and cancels any scope inside it, C3).
///
/// ```
/// # use std::time::Duration;
/// # use taskscope_core::{Builder, BoxError, Elapsed, fail_after};
/// # let rt = taskscope_core::test_runtime();
/// # futures_lite::future::block_on(async {
/// Builder::new().runtime(rt).run(async |s| {
///     let slow = fail_after(Duration::from_millis(5), std::future::pending::<()>()).await;
///     assert_eq!(slow, Err(Elapsed::default()));
///     assert_eq!(fail_after(Duration::MAX, async { 7 }).await, Ok(7));
///     Ok::<_, BoxError>(())
/// }).await?;
/// # Ok::<_, taskscope_core::ScopeError<BoxError>>(()) }).unwrap();
/// ```
#[track_caller]
pub fn fail_after<F: IntoFuture>(timeout: Duration, fut: F) -> impl Future<Output = Result<F::Output, Elapsed>> {
    Builder::new().timeout(timeout).fail(fut)
}

/// [`fail_after`] with an absolute deadline. A deadline already past cancels at once.
///
/// # Panics
/// Outside a scope, as [`fail_after`].
#[track_caller]
pub fn fail_at<F: IntoFuture>(deadline: Instant, fut: F) -> impl Future<Output = Result<F::Output, Elapsed>> {
    Builder::new().deadline(deadline).fail(fut)
}

/// Runs `fut` for at most `timeout` (AnyIO's `move_on_after`): `Some(output)`, or `None` once
/// the deadline has cancelled it and every scope inside it has been torn down. Otherwise as
/// [`fail_after`].
///
/// # Panics
/// Outside a scope, as [`fail_after`].
///
/// ```
/// # use std::time::Duration;
/// # use taskscope_core::{Builder, BoxError, move_on_after};
/// # let rt = taskscope_core::test_runtime();
/// # futures_lite::future::block_on(async {
/// Builder::new().runtime(rt).run(async |_s| {
///     // A nested scope under a deadline: its children are torn down before `None` returns.
///     let r = move_on_after(Duration::from_millis(5), Builder::new().run(async |inner| {
///         inner.spawn(async { std::future::pending::<Result<(), BoxError>>().await });
///         Ok(())
///     })).await;
///     assert!(r.is_none());
///     Ok::<_, BoxError>(())
/// }).await?;
/// # Ok::<_, taskscope_core::ScopeError<BoxError>>(()) }).unwrap();
/// ```
#[track_caller]
pub fn move_on_after<F: IntoFuture>(timeout: Duration, fut: F) -> impl Future<Output = Option<F::Output>> {
    Builder::new().timeout(timeout).move_on(fut)
}

/// [`move_on_after`] with an absolute deadline.
///
/// # Panics
/// Outside a scope, as [`fail_after`].
#[track_caller]
pub fn move_on_at<F: IntoFuture>(deadline: Instant, fut: F) -> impl Future<Output = Option<F::Output>> {
    Builder::new().deadline(deadline).move_on(fut)
}

#[cfg(all(test, not(taskscope_loom)))]
mod tests {
    use std::time::Duration;

    use crate::{BoxError, Builder, fail_after, test_runtime};

    /// C7: "elapsed" only when the deadline cancelled the body. A body that returns its value
    /// in the poll during which the deadline passes (it blocks past it) was never cancelled:
    /// the region gives the value.
    #[test]
    fn a_value_returned_as_the_deadline_passes_is_the_regions_value() {
        let out = futures_lite::future::block_on(Builder::new().runtime(test_runtime()).run(async |_s| {
            let v = fail_after(Duration::from_millis(1), async {
                // Blocks well past the deadline inside the body's first and only poll.
                std::thread::sleep(Duration::from_millis(50));
                3
            })
            .await;
            Ok::<_, BoxError>(v)
        }));
        assert_eq!(out.unwrap(), Ok(3));
    }
}
