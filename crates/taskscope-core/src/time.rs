//! Portable time (P4): [`sleep`], [`sleep_until`], [`now`], [`interval`] and [`yield_now`],
//! on the runtime of the enclosing scope, so that library code never names a runtime to wait.
//!
//! Each function resolves its runtime when it is called (not when its future is first
//! polled), as tokio's timers do: the deadline of `sleep(d)` is measured on that runtime's
//! clock from the call, and the "no runtime" panic points at the caller's line. Outside any
//! scope core alone has no runtime to use: the `taskscope` facade's functions of the same
//! names also detect tokio or smol; with an explicit runtime, use [`Sleep::until_in`],
//! [`Sleep::after_in`] and [`Interval::new_in`].
//!
//! `Duration::MAX`, or any deadline too far away to represent, means "never": such a sleep
//! stays pending until dropped; it never panics on overflow.
//!
//! Every future here is cancel-safe: dropping a [`Sleep`] or a [`YieldNow`] has no effect,
//! and dropping a [`Tick`] before it completes loses no tick (the next `tick()` returns it).

use std::fmt;
use std::future::Future;
use std::panic::Location;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use crate::detect::resolve_runtime;
use crate::runtime::{BoxedSleep, Runtime};

/// The enclosing scope's runtime, or the "no runtime" panic naming the caller.
#[track_caller]
fn enclosing_runtime() -> Arc<dyn Runtime> {
    resolve_runtime(None, None, Some(Location::caller())).unwrap_or_else(|e| panic!("{e}"))
}

/// Waits until `duration` has passed on the enclosing scope's runtime (Python's
/// `asyncio.sleep`). `Duration::MAX` waits forever.
///
/// # Panics
/// Outside a scope (core alone cannot find a runtime; the `taskscope` facade's `sleep` also
/// detects tokio or smol), with a message naming the caller's line.
///
/// ```
/// # use std::time::Duration;
/// # use taskscope_core::{Builder, BoxError};
/// # let rt = taskscope_core::test_runtime();
/// # futures_lite::future::block_on(async {
/// Builder::new().runtime(rt).run(async |s| {
///     s.spawn(async {
///         let start = taskscope_core::now();
///         taskscope_core::sleep(Duration::from_millis(5)).await;
///         assert!(taskscope_core::now() >= start + Duration::from_millis(5));
///         Ok::<_, BoxError>(())
///     });
///     Ok(())
/// }).await?;
/// # Ok::<_, taskscope_core::ScopeError<BoxError>>(()) }).unwrap();
/// ```
#[track_caller]
pub fn sleep(duration: Duration) -> Sleep {
    Sleep::after_in(&enclosing_runtime(), duration)
}

/// Waits until `deadline` on the enclosing scope's runtime; a deadline already past completes
/// at once.
///
/// # Panics
/// Outside a scope, as [`sleep`].
#[track_caller]
pub fn sleep_until(deadline: Instant) -> Sleep {
    Sleep::until_in(&enclosing_runtime(), deadline)
}

/// The current instant on the enclosing scope's runtime's clock: the clock [`sleep`] and the
/// scope deadlines are measured against (virtual under a simulated runtime).
///
/// # Panics
/// Outside a scope, as [`sleep`].
#[track_caller]
pub fn now() -> Instant {
    enclosing_runtime().now()
}

/// A timer that ticks every `period` on the enclosing scope's runtime; the first tick
/// completes at once. See [`Interval`].
///
/// # Panics
/// If `period` is zero, and outside a scope, as [`sleep`].
#[track_caller]
pub fn interval(period: Duration) -> Interval {
    let rt = enclosing_runtime();
    Interval::new_in(&rt, rt.now(), period)
}

/// Yields once to the executor: completes on its second poll, after waking its task, so that
/// other ready tasks run first. Needs no runtime: it works under any executor.
///
/// ```
/// # futures_lite::future::block_on(async {
/// taskscope_core::yield_now().await;
/// # });
/// ```
pub fn yield_now() -> YieldNow {
    YieldNow { yielded: false }
}

/// The future of [`sleep`] and [`sleep_until`]: completes at its deadline on its runtime's
/// clock. Cancel-safe: dropping it has no effect.
#[must_use = "a Sleep does nothing unless awaited"]
pub struct Sleep {
    rt: Arc<dyn Runtime>,
    /// `None`: never.
    deadline: Option<Instant>,
    /// The runtime's timer, created on the first poll that finds the deadline ahead.
    timer: Option<BoxedSleep>,
}

impl Sleep {
    /// A sleep on `rt` until `deadline`.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # let rt = taskscope_core::test_runtime();
    /// # futures_lite::future::block_on(async {
    /// let start = rt.now();
    /// taskscope_core::Sleep::until_in(&rt, start + Duration::from_millis(2)).await;
    /// assert!(rt.now() >= start + Duration::from_millis(2));
    /// # });
    /// ```
    pub fn until_in(rt: &Arc<dyn Runtime>, deadline: Instant) -> Sleep {
        Sleep { rt: rt.clone(), deadline: Some(deadline), timer: None }
    }

    /// A sleep on `rt` for `duration` from now on its clock; `Duration::MAX` (or any duration
    /// too long to represent) never completes.
    pub fn after_in(rt: &Arc<dyn Runtime>, duration: Duration) -> Sleep {
        Sleep { rt: rt.clone(), deadline: rt.now().checked_add(duration), timer: None }
    }

    /// When it completes; `None` for never.
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// Moves the deadline to `deadline` (earlier or later), as if newly created; `None` for
    /// never.
    pub fn reset(&mut self, deadline: Option<Instant>) {
        self.deadline = deadline;
        self.timer = None;
    }

    /// The name of the runtime it sleeps on (such as `"tokio-mt"`).
    pub fn runtime_name(&self) -> &'static str {
        self.rt.name()
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        // Never: nothing will ever wake it, which is what "forever" means.
        let Some(deadline) = this.deadline else { return Poll::Pending };
        if this.timer.is_none() {
            if this.rt.now() >= deadline {
                return Poll::Ready(());
            }
            this.timer = Some(this.rt.sleep_until(deadline));
        }
        let timer = this.timer.as_mut().expect("the timer was just created");
        if timer.as_mut().poll(cx).is_ready() {
            this.timer = None;
            // A runtime's timer never fires early (its contract); a deadline moved by `reset`
            // is re-checked by the next poll.
            return Poll::Ready(());
        }
        Poll::Pending
    }
}

impl fmt::Debug for Sleep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sleep").field("runtime", &self.rt.name()).field("deadline", &self.deadline).finish()
    }
}

/// A periodic timer (Python's `while True: ...; await asyncio.sleep(p)` without the drift, or
/// tokio's `Interval`): [`tick`](Interval::tick) completes at `start`, `start + period`,
/// `start + 2 * period`, ... and returns the instant it was scheduled for.
///
/// Missed ticks are skipped: a tick that completes late schedules the next one at the first
/// multiple of the period still ahead, so a slow consumer never gets a burst of ticks. A
/// period of `Duration::MAX` ticks once, then never again.
///
/// ```
/// # use std::time::Duration;
/// # use taskscope_core::{Builder, BoxError};
/// # let rt = taskscope_core::test_runtime();
/// # futures_lite::future::block_on(async {
/// Builder::new().runtime(rt).run(async |_s| {
///     let mut every = taskscope_core::interval(Duration::from_millis(2));
///     let first = every.tick().await; // at once
///     let second = every.tick().await;
///     assert_eq!(second, first + Duration::from_millis(2));
///     Ok::<_, BoxError>(())
/// }).await?;
/// # Ok::<_, taskscope_core::ScopeError<BoxError>>(()) }).unwrap();
/// ```
#[derive(Debug)]
pub struct Interval {
    sleep: Sleep,
    period: Duration,
}

impl Interval {
    /// An interval on `rt` whose first tick is at `start`.
    ///
    /// # Panics
    /// If `period` is zero: such an interval would never let anything else run.
    #[track_caller]
    pub fn new_in(rt: &Arc<dyn Runtime>, start: Instant, period: Duration) -> Interval {
        assert!(!period.is_zero(), "taskscope: an interval's period must be greater than zero");
        Interval { sleep: Sleep::until_in(rt, start), period }
    }

    /// Waits for the next tick and returns the instant it was scheduled for.
    ///
    /// # Cancel safety
    /// Dropping the returned future before it completes loses no tick: the next call returns
    /// the same one.
    pub fn tick(&mut self) -> Tick<'_> {
        Tick { interval: self }
    }

    /// Polls for the next tick (for hand-written futures); as [`tick`](Interval::tick).
    pub fn poll_tick(&mut self, cx: &mut Context<'_>) -> Poll<Instant> {
        let Some(scheduled) = self.sleep.deadline else { return Poll::Pending };
        if Pin::new(&mut self.sleep).poll(cx).is_pending() {
            return Poll::Pending;
        }
        let now = self.sleep.rt.now();
        self.sleep.reset(next_tick(scheduled, now, self.period));
        Poll::Ready(scheduled)
    }

    /// The period between ticks.
    pub fn period(&self) -> Duration {
        self.period
    }
}

/// The first `scheduled + k * period` (k ≥ 1) after `now`; `None` if it is not representable.
fn next_tick(scheduled: Instant, now: Instant, period: Duration) -> Option<Instant> {
    let next = scheduled.checked_add(period)?;
    if next > now {
        return Some(next);
    }
    // Late by at least one period: skip the missed ticks.
    let late = now.duration_since(scheduled).as_nanos();
    let period_ns = period.as_nanos();
    let skip = (late / period_ns + 1).checked_mul(period_ns)?;
    let skip = Duration::new(u64::try_from(skip / 1_000_000_000).ok()?, (skip % 1_000_000_000) as u32);
    scheduled.checked_add(skip)
}

/// The future of [`Interval::tick`]: the instant the tick was scheduled for.
#[must_use = "a Tick does nothing unless awaited"]
#[derive(Debug)]
pub struct Tick<'a> {
    interval: &'a mut Interval,
}

impl Future for Tick<'_> {
    type Output = Instant;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Instant> {
        self.get_mut().interval.poll_tick(cx)
    }
}

/// The future of [`yield_now`].
#[must_use = "a YieldNow does nothing unless awaited"]
#[derive(Debug)]
pub struct YieldNow {
    yielded: bool,
}

impl Future for YieldNow {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.yielded {
            return Poll::Ready(());
        }
        self.yielded = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

#[cfg(all(test, not(taskscope_loom)))]
mod tests {
    use super::*;

    #[test]
    fn next_tick_skips_missed_ticks() {
        let t = Instant::now();
        let p = Duration::from_millis(10);
        assert_eq!(next_tick(t, t, p), Some(t + p));
        assert_eq!(next_tick(t, t + Duration::from_millis(25), p), Some(t + Duration::from_millis(30)));
        assert_eq!(next_tick(t, t + Duration::from_millis(10), p), Some(t + Duration::from_millis(20)));
        assert_eq!(next_tick(t, t, Duration::MAX), None);
    }

    #[test]
    fn a_sleep_and_an_interval_say_when_and_how_often() {
        let rt = crate::test_runtime();
        let at = rt.now() + Duration::from_secs(5);
        assert_eq!(Sleep::until_in(&rt, at).deadline(), Some(at));
        assert_eq!(Sleep::after_in(&rt, Duration::MAX).deadline(), None);
        assert_eq!(Interval::new_in(&rt, at, Duration::from_millis(7)).period(), Duration::from_millis(7));
    }

    #[test]
    fn outside_a_scope_the_panic_names_the_callers_line() {
        let line = line!() + 1;
        let p = std::panic::catch_unwind(|| sleep(Duration::from_millis(1))).unwrap_err();
        let msg = crate::panic_message(&*p).to_string();
        assert!(msg.contains(&format!("{}:{line}:", file!())), "{msg}");
        assert!(msg.contains("Builder::runtime"), "{msg}");
    }
}
