//! Cancellation injection: every await point is a tested cancellation point.
//!
//! A Rust future is cancelled by being dropped between two polls (C1: at its next suspension
//! point). [`cancel_at_every_poll`] makes each of those points happen, one run at a time: a
//! first run counts the polls of the target future, then the same seed runs again once per
//! poll `k`, cancelling the target just before its `k`-th poll, and the caller's invariants
//! are checked after every run. The simulation makes the first `k` polls of every run
//! identical to the counting run's, so each run tests exactly one await point.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use taskscope_core::{BlockOn, Runtime};

use crate::Sim;

/// Where [`cancel_at_every_poll`] cancelled one run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Point {
    /// The poll the target was cancelled before (`0`: before it ever ran), or `None` for the
    /// first run, which cancels nothing and counts the polls.
    pub at: Option<u64>,
    /// How many polls the target took in the run that cancelled nothing.
    pub of: u64,
}

/// Given to the test body of [`cancel_at_every_poll`]: wraps the future to cancel.
#[derive(Clone, Debug)]
pub struct Injector {
    inner: Arc<InjectorState>,
}

#[derive(Debug)]
struct InjectorState {
    at: Option<u64>,
    polls: AtomicU64,
    fired: AtomicBool,
}

type Action = Box<dyn FnOnce() + Send>;

impl Injector {
    fn new(at: Option<u64>) -> Self {
        Self { inner: Arc::new(InjectorState { at, polls: AtomicU64::new(0), fired: AtomicBool::new(false) }) }
    }

    /// Wraps the target: at the injection point it is dropped (a hard cancellation, what a
    /// timeout or a lost `select!` does) and the wrapper returns `None`; otherwise `Some` of
    /// its output. Every future an injector wraps counts towards the same poll count.
    pub fn wrap<F: Future>(&self, fut: F) -> Injected<F> {
        Injected { fut: Some(Box::pin(fut)), injector: self.clone(), action: None }
    }

    /// Wraps the target: at the injection point `cancel` runs (for example
    /// `move || token.cancel()` or `move || handle.cancel()`), then the target goes on being
    /// polled, so it sees a cooperative cancellation at that await point. The wrapper always
    /// returns `Some` of the output.
    pub fn wrap_with<F: Future>(&self, fut: F, cancel: impl FnOnce() + Send + 'static) -> Injected<F> {
        Injected { fut: Some(Box::pin(fut)), injector: self.clone(), action: Some(Mutex::new(Some(Box::new(cancel)))) }
    }

    /// Whether the injection happened in this run.
    pub fn fired(&self) -> bool {
        self.inner.fired.load(Ordering::SeqCst)
    }
}

/// The future of [`Injector::wrap`] and [`Injector::wrap_with`].
#[must_use = "futures do nothing unless polled"]
pub struct Injected<F: Future> {
    fut: Option<Pin<Box<F>>>,
    injector: Injector,
    action: Option<Mutex<Option<Action>>>,
}

impl<F: Future> std::fmt::Debug for Injected<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Injected").field("done", &self.fut.is_none()).finish()
    }
}

impl<F: Future> Future for Injected<F> {
    type Output = Option<F::Output>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if self.fut.is_none() {
            return Poll::Ready(None);
        }
        let state = &self.injector.inner;
        let k = state.polls.fetch_add(1, Ordering::SeqCst);
        if state.at == Some(k) && !state.fired.swap(true, Ordering::SeqCst) {
            match self.action.as_ref().and_then(|a| a.lock().unwrap_or_else(|e| e.into_inner()).take()) {
                Some(cancel) => cancel(),
                None => {
                    self.fut = None;
                    return Poll::Ready(None);
                }
            }
        }
        let fut = self.fut.as_mut().expect("checked above");
        match fut.as_mut().poll(cx) {
            Poll::Ready(out) => {
                self.fut = None;
                Poll::Ready(Some(out))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

/// Runs `body` on a [`Sim`] with `seed` once without cancelling, counting the polls of the
/// future it wraps with the [`Injector`], then once per poll `k`, cancelling the target just
/// before its `k`-th poll. After every run (and after the simulation has shut down, so every
/// task is dropped) `check` gets the [`Point`] and the body's output: assert your invariants
/// there. Returns how many runs cancelled something (the polls of the first run).
///
/// ```
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use std::time::Duration;
/// use taskscope_core::{BoxError, Builder};
///
/// // Invariant under test: a child that takes a connection always gives it back, wherever it
/// // is cancelled (here through a drop guard; without one, the check fails at poll 1).
/// struct Conn(Arc<AtomicUsize>);
/// impl Drop for Conn {
///     fn drop(&mut self) { self.0.fetch_sub(1, Ordering::SeqCst); }
/// }
/// let open = Arc::new(AtomicUsize::new(0));
/// let o = open.clone();
/// let points = taskscope_sim::cancel_at_every_poll(
///     7,
///     move |rt, inject| {
///         let open = o.clone();
///         async move {
///             Builder::new().runtime(rt.clone()).run(async |s| {
///                 let work = async move {
///                     open.fetch_add(1, Ordering::SeqCst);
///                     let _conn = Conn(open);
///                     for _ in 0..3 {
///                         rt.sleep_until(rt.now() + Duration::from_millis(10)).await;
///                     }
///                 };
///                 s.spawn(async move { inject.wrap(work).await; Ok::<_, BoxError>(()) });
///                 Ok(())
///             }).await.unwrap();
///         }
///     },
///     |point, ()| assert_eq!(open.load(Ordering::SeqCst), 0, "leaked when cancelled at {point:?}"),
/// );
/// assert_eq!(points, 4); // its start and three timers: each one a tested cancellation point
/// ```
///
/// # Panics
/// If a run does not reach the poll it should be cancelled at (the body is not deterministic
/// under the simulation: it depends on something outside it), and with any panic of the body
/// or of `check`.
#[track_caller]
pub fn cancel_at_every_poll<B, Fut, C>(seed: u64, mut body: B, mut check: C) -> u64
where
    B: FnMut(Arc<dyn Runtime>, Injector) -> Fut,
    Fut: Future,
    C: FnMut(Point, Fut::Output),
{
    let mut run = |at: Option<u64>| {
        let sim = Sim::new(seed);
        let injector = Injector::new(at);
        let out = sim.block_on(body(sim.runtime(), injector.clone()));
        drop(sim);
        (out, injector.inner.polls.load(Ordering::SeqCst), injector.fired())
    };
    let (out, polls, _) = run(None);
    check(Point { at: None, of: polls }, out);
    for k in 0..polls {
        let (out, _, fired) = run(Some(k));
        assert!(
            fired,
            "cancel_at_every_poll: run {k} never reached poll {k} of the target (the counting run took {polls}): \
             the body depends on something outside the simulation (seed {seed})"
        );
        check(Point { at: Some(k), of: polls }, out);
    }
    polls
}
