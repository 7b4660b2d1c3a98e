//! Helpers for writing cases: drop trackers, gates, timed waits with wide margins.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use taskscope_core::{BoxError, Builder, CancelReason, CancelToken, ErrorGroup, Runtime, ScopeError};

use crate::Harness;

/// A scope builder on the harness's runtime.
pub fn builder(h: &dyn Harness) -> Builder {
    Builder::new().runtime(h.runtime())
}

/// Runs `fut` as the body of a scope on the harness's runtime, so that code that needs an
/// enclosing scope (such as `fail_after`, which times itself on the scope's runtime) has one;
/// returns its output, and panics if the scope does not succeed.
pub async fn inside_scope<F: std::future::Future>(h: &dyn Harness, fut: F) -> F::Output {
    builder(h).run(async |_s| Ok::<_, BoxError>(fut.await)).await.unwrap_or_else(|e| panic!("the scope failed: {e}"))
}

/// Counts live guards: each child holds one; the count drops when its future is dropped.
#[derive(Clone, Debug, Default)]
pub struct Tracker {
    live: Arc<AtomicUsize>,
    dropped: Arc<AtomicUsize>,
}

/// Held by a child future; its drop is what "the child's future was dropped" means.
#[derive(Debug)]
pub struct Guard(Tracker);

impl Tracker {
    /// A new tracker with nothing live.
    pub fn new() -> Self {
        Self::default()
    }
    /// A guard counted as live until dropped.
    pub fn guard(&self) -> Guard {
        self.live.fetch_add(1, Ordering::SeqCst);
        Guard(self.clone())
    }
    /// Guards alive now.
    pub fn live(&self) -> usize {
        self.live.load(Ordering::SeqCst)
    }
    /// Guards dropped so far.
    pub fn dropped(&self) -> usize {
        self.dropped.load(Ordering::SeqCst)
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.0.dropped.fetch_add(1, Ordering::SeqCst);
        self.0.live.fetch_sub(1, Ordering::SeqCst);
    }
}

/// An async one-shot event (a [`CancelToken`] used as a gate): `open` it, `wait` for it.
#[derive(Clone, Debug, Default)]
pub struct Gate(CancelToken);

impl Gate {
    /// A closed gate.
    pub fn new() -> Self {
        Self::default()
    }
    /// Opens the gate, releasing every waiter (now and later).
    pub fn open(&self) {
        self.0.cancel();
    }
    /// Whether the gate is open.
    pub fn is_open(&self) -> bool {
        self.0.is_cancelled()
    }
    /// Waits until the gate is open.
    pub async fn wait(&self) {
        self.0.cancelled().await;
    }
}

/// Sleeps on the runtime's timer.
pub async fn sleep(rt: &Arc<dyn Runtime>, d: Duration) {
    rt.sleep_until(rt.now() + d).await;
}

/// Waits (polling every millisecond on the runtime's timer) until `cond` holds; panics with
/// `what` after a wide margin (10 s). Used only where the contract says "promptly".
pub async fn eventually(rt: &Arc<dyn Runtime>, what: &str, cond: impl Fn() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < Duration::from_secs(10), "timed out waiting for: {what}");
        sleep(rt, Duration::from_millis(1)).await;
    }
}

/// Never completes.
pub async fn forever() {
    std::future::pending::<()>().await;
}

/// A child that succeeds with `()`.
pub fn ok() -> Result<(), BoxError> {
    Ok(())
}

/// A boxed error with `msg`.
pub fn err(msg: &str) -> BoxError {
    BoxError::msg(msg.to_string())
}

/// Yields to the runtime once.
pub async fn yield_now() {
    futures_lite::future::yield_now().await;
}

/// Holds `guard` (so its drop is observed) and waits forever: the usual body of a child that
/// only ever ends by being cancelled.
pub async fn guarded_forever(guard: Guard) -> Result<(), BoxError> {
    let _guard = guard;
    forever().await;
    ok()
}

/// Polls `fut`, catching a panic: `Err(payload)` if it panicked.
pub async fn catch_panic<F: std::future::Future>(fut: F) -> Result<F::Output, Box<dyn std::any::Any + Send>> {
    futures_lite::future::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(fut)).await
}

/// The group of a failed scope; panics with the outcome otherwise.
pub fn expect_failed<T: std::fmt::Debug>(r: Result<T, ScopeError<BoxError>>) -> ErrorGroup<BoxError> {
    match r {
        Err(ScopeError::Failed(g)) => g,
        other => panic!("expected a failed scope, got {other:?}"),
    }
}

/// The reason and errors of a cancelled scope; panics with the outcome otherwise.
pub fn expect_cancelled<T: std::fmt::Debug>(
    r: Result<T, ScopeError<BoxError>>,
) -> (CancelReason, Option<ErrorGroup<BoxError>>) {
    match r {
        Err(ScopeError::Cancelled { reason, errors }) => (reason, errors),
        other => panic!("expected a cancelled scope, got {other:?}"),
    }
}

/// The messages of a group's members, in order.
pub fn messages(g: &ErrorGroup<BoxError>) -> Vec<String> {
    g.iter().map(|e| e.to_string()).collect()
}

/// A shared counter.
#[derive(Clone, Debug, Default)]
pub struct Counter(Arc<AtomicUsize>);

impl Counter {
    /// A counter at zero.
    pub fn new() -> Self {
        Self::default()
    }
    /// Adds one; returns the new value.
    pub fn incr(&self) -> usize {
        self.0.fetch_add(1, Ordering::SeqCst) + 1
    }
    /// The current value.
    pub fn get(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

/// A shared, ordered log of events.
#[derive(Clone, Debug, Default)]
pub struct Log(Arc<Mutex<Vec<String>>>);

impl Log {
    /// An empty log.
    pub fn new() -> Self {
        Self::default()
    }
    /// Appends an event.
    pub fn push(&self, event: impl Into<String>) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).push(event.into());
    }
    /// The events so far.
    pub fn events(&self) -> Vec<String> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// Runs `f` when dropped: put one in a child to observe its drop (cancellation) from its
/// destructor, the equivalent of Python's `finally:`.
pub struct OnDrop<F: FnMut()>(pub F);

impl<F: FnMut()> std::fmt::Debug for OnDrop<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OnDrop")
    }
}

impl<F: FnMut()> Drop for OnDrop<F> {
    fn drop(&mut self) {
        (self.0)();
    }
}

/// Sets its flag, then panics with its message, when dropped: a destructor that panics (F7).
#[derive(Debug)]
pub struct PanicOnDrop(pub Arc<AtomicBool>, pub &'static str);

impl Drop for PanicOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
        panic!("{}", self.1);
    }
}

type ShutdownCheck = Box<dyn FnOnce()>;

thread_local! {
    static SHUTDOWN_CHECKS: std::cell::RefCell<Vec<ShutdownCheck>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Registers a check to run after the harness has been dropped (its runtime shut down), for
/// cases about what a runtime does to children at shutdown. Call it from the case function
/// itself (the thread [`run_case`](crate::run_case) runs the case on), not from inside a
/// future. The check panics to fail the case.
///
/// Only [`run_case`](crate::run_case) (and so the [`suite!`](crate::suite) macro and the
/// report) runs these checks; a case called directly registers them and nothing else.
pub fn after_shutdown(check: impl FnOnce() + 'static) {
    SHUTDOWN_CHECKS.with(|c| c.borrow_mut().push(Box::new(check)));
}

/// Takes the checks registered on this thread by [`after_shutdown`].
pub(crate) fn take_shutdown_checks() -> Vec<ShutdownCheck> {
    SHUTDOWN_CHECKS.with(|c| std::mem::take(&mut *c.borrow_mut()))
}

/// Asserts that what started at `start` ended promptly: well within [`PROMPT`], which is far
/// shorter than the 30 s sleeps cases use for "only ends if cancelled" (so a lost wake-up that
/// leaves a cancelled future to its own timer fails the case instead of passing slowly).
pub fn assert_prompt(start: Instant, what: &str) {
    let took = start.elapsed();
    assert!(took < PROMPT, "{what} took {took:?}: not promptly (a lost wake-up?)");
}

/// What [`assert_prompt`] accepts: a wide margin.
pub const PROMPT: Duration = Duration::from_secs(10);
