//! Helpers for writing cases: drop trackers, gates, timed waits with wide margins, a runtime
//! whose clock jumps, and the progress a case reports (its steps and pending waits, printed if
//! it hangs).

use std::future::Future;
use std::panic::Location;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use taskscope_core::{
    BlockingJob, BoxError, BoxedSleep, CancelReason, CancelToken, ErrorGroup, Runtime, ScopeError, Task,
};

use crate::Harness;

/// What the cases' scopes spawn their children through. With the `backends` feature, the
/// facade's runtime: on a tokio or smol runtime each child is spawned into the runtime's own
/// task and joined through the runtime's join handle (the path `taskscope`'s users get), on any
/// other runtime through [`Runtime::spawn`]. Without it (a third-party adapter's build), every
/// runtime through [`Runtime::spawn`]. A harness decides which by the runtime it gives: a
/// runtime that does not downcast to an adapter's type ([`Runtime::as_any`]) always takes
/// the [`Runtime::spawn`] path (the `*-dyn` flavours wrap tokio's and smol's that way).
#[cfg(feature = "backends")]
pub type Rt = taskscope::Rt;
/// What the cases' scopes spawn their children through: every runtime through
/// [`Runtime::spawn`] (the build without the `backends` feature).
#[cfg(not(feature = "backends"))]
pub type Rt = taskscope_core::DynRuntime;

/// The builder of the cases' scopes (see [`Rt`]).
pub type Builder = taskscope_core::Builder<Rt>;
/// The scope handle the cases' bodies get (see [`Rt`]).
pub type Scope<E> = taskscope_core::Scope<E, Rt>;
/// The `'static` spawner of the cases' scopes (see [`Rt`]).
pub type Spawner<E> = taskscope_core::Spawner<E, Rt>;
/// A child builder of the cases' scopes (see [`Rt`]).
pub type ChildBuilder<'a, E> = taskscope_core::ChildBuilder<'a, E, Rt>;

/// A scope builder on the harness's runtime.
pub fn builder(h: &dyn Harness) -> Builder {
    Builder::typed().runtime(h.runtime())
}

/// Runs `fut` as the body of a scope on the harness's runtime, so that code that needs an
/// enclosing scope (such as `fail_after`, which times itself on the scope's runtime) has one;
/// returns its output, and panics if the scope does not succeed.
pub async fn inside_scope<F: std::future::Future>(h: &dyn Harness, fut: F) -> F::Output {
    builder(h).run(async |_s| Ok::<_, BoxError>(fut.await)).await.unwrap_or_else(|e| panic!("the scope failed: {e}"))
}

/// A runtime whose clock the case moves forward: `now()` and the timers read the harness's
/// clock plus a skew that [`Skewed::jump`] adds to, as a clock does that jumps ahead while a
/// task runs (a long poll, a suspended machine).
#[derive(Debug)]
pub(crate) struct Skewed {
    inner: Arc<dyn Runtime>,
    skew: Mutex<Duration>,
}

impl Skewed {
    /// The harness's runtime, its clock not moved yet.
    pub(crate) fn new(h: &dyn Harness) -> Arc<Self> {
        Arc::new(Skewed { inner: h.runtime(), skew: Mutex::new(Duration::ZERO) })
    }
    /// Moves the clock forward by `by`.
    pub(crate) fn jump(&self, by: Duration) {
        *self.skew.lock().unwrap() += by;
    }
    /// How far the clock has been moved.
    pub(crate) fn skew(&self) -> Duration {
        *self.skew.lock().unwrap()
    }
}

impl Runtime for Skewed {
    fn spawn(&self, task: Task) {
        self.inner.spawn(task);
    }
    fn spawn_blocking(&self, job: BlockingJob) {
        self.inner.spawn_blocking(job);
    }
    fn sleep_until(&self, deadline: Instant) -> BoxedSleep {
        let skew = self.skew();
        self.inner.sleep_until(deadline.checked_sub(skew).unwrap_or_else(|| self.inner.now()))
    }
    fn now(&self) -> Instant {
        self.inner.now() + self.skew()
    }
    fn name(&self) -> &'static str {
        "skewed"
    }
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
///
/// A gate made on a case's thread belongs to that case: while a [`wait`](Gate::wait) on it
/// is pending (on any thread), the case's hang message lists it, with the line of the wait.
#[derive(Clone, Debug)]
pub struct Gate(CancelToken, Option<Progress>);

impl Default for Gate {
    fn default() -> Self {
        Self::new()
    }
}

impl Gate {
    /// A closed gate.
    pub fn new() -> Self {
        Self(CancelToken::new(), current())
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
    #[track_caller]
    pub fn wait(&self) -> impl Future<Output = ()> + Send + '_ {
        let at = Location::caller();
        let progress = self.1.clone().or_else(current);
        async move {
            let _pending = progress.map(|p| p.wait_started(format!("a gate to open (Gate::wait at {at})")));
            self.0.cancelled().await;
        }
    }
}

/// Sleeps on the runtime's timer.
pub async fn sleep(rt: &Arc<dyn Runtime>, d: Duration) {
    rt.sleep_until(rt.now() + d).await;
}

/// Waits (polling every millisecond on the runtime's timer) until `cond` holds; panics with
/// `what` after a wide margin ([`PROMPT`]). Used only where the contract says "promptly".
/// While it waits, the case's hang message lists it.
#[track_caller]
pub fn eventually<'a>(
    rt: &'a Arc<dyn Runtime>,
    what: &'a str,
    cond: impl Fn() -> bool + 'a,
) -> impl Future<Output = ()> + 'a {
    let at = Location::caller();
    let progress = current();
    async move {
        let _pending = progress.map(|p| p.wait_started(format!("{what} (eventually at {at})")));
        let start = Instant::now();
        while !cond() {
            let waited = start.elapsed();
            assert!(waited < PROMPT, "waited {waited:?} (at most {PROMPT:?}) for: {what}");
            sleep(rt, Duration::from_millis(1)).await;
        }
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
    static TEARDOWNS: std::cell::RefCell<Vec<ShutdownCheck>> = const { std::cell::RefCell::new(Vec::new()) };
    static PROGRESS: std::cell::RefCell<Option<Progress>> = const { std::cell::RefCell::new(None) };
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

/// Registers a cleanup to run once the case is over, whatever happened (after the harness is
/// dropped and the [`after_shutdown`] checks ran, or after the case failed): a case that
/// leaves work running on purpose stops it here, so that on a shared executor (see
/// [`shared_harness`](crate::shared_harness)) it does not run on into later cases. Call it
/// from the case function itself, like [`after_shutdown`].
pub fn on_teardown(cleanup: impl FnOnce() + 'static) {
    TEARDOWNS.with(|c| c.borrow_mut().push(Box::new(cleanup)));
}

/// Takes the cleanups registered on this thread by [`on_teardown`].
pub(crate) fn take_teardowns() -> Vec<ShutdownCheck> {
    TEARDOWNS.with(|c| std::mem::take(&mut *c.borrow_mut()))
}

/// Records the step a case has reached (on the case's thread, or in a future that
/// `Harness::block_on` drives there): if the case hangs, the
/// failure prints the last step, so that it says what the case was doing.
pub fn step(what: impl Into<String>) {
    if let Some(p) = current() {
        p.lock().step = Some(what.into());
    }
}

/// What a running case has reached, shared between its thread, its waits and the runner
/// that prints it if the case hangs.
#[derive(Clone, Debug, Default)]
pub(crate) struct Progress(Arc<Mutex<ProgressState>>);

#[derive(Debug, Default)]
struct ProgressState {
    phase: &'static str,
    step: Option<String>,
    block_ons: usize,
    in_block_on: bool,
    waits: Vec<(u64, String)>,
    next_wait: u64,
    /// Pending runtime timers: id, how long each was set for, when (in real time) it was set.
    timers: Vec<(u64, Duration, Instant)>,
}

/// Removes its wait from the case's pending waits when dropped.
#[derive(Debug)]
struct PendingWait(Progress, u64);

impl Drop for PendingWait {
    fn drop(&mut self) {
        self.0.lock().waits.retain(|w| w.0 != self.1);
    }
}

/// Removes its timer from the case's pending timers when dropped.
#[derive(Debug)]
pub(crate) struct PendingTimer(Progress, u64);

impl Drop for PendingTimer {
    fn drop(&mut self) {
        self.0.lock().timers.retain(|t| t.0 != self.1);
    }
}

impl Progress {
    pub(crate) fn new() -> Self {
        let p = Self::default();
        p.phase("running the case");
        p
    }
    fn lock(&self) -> std::sync::MutexGuard<'_, ProgressState> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
    pub(crate) fn phase(&self, phase: &'static str) {
        self.lock().phase = phase;
    }
    pub(crate) fn block_on_entered(&self) {
        let mut st = self.lock();
        st.block_ons += 1;
        st.in_block_on = true;
    }
    pub(crate) fn block_on_left(&self) {
        self.lock().in_block_on = false;
    }
    fn wait_started(&self, what: String) -> PendingWait {
        let mut st = self.lock();
        let id = st.next_wait;
        st.next_wait += 1;
        st.waits.push((id, what));
        PendingWait(self.clone(), id)
    }
    pub(crate) fn timer_started(&self, set_for: Duration) -> PendingTimer {
        let mut st = self.lock();
        let id = st.next_wait;
        st.next_wait += 1;
        st.timers.push((id, set_for, Instant::now()));
        PendingTimer(self.clone(), id)
    }
    /// Where the case is: phase, last step, and pending waits, for a hang message.
    pub(crate) fn describe(&self) -> String {
        let st = self.lock();
        let mut out = format!("it was {}", st.phase);
        if st.in_block_on {
            out += &format!(", inside block_on call #{}", st.block_ons);
        }
        match &st.step {
            Some(step) => out += &format!("; last step reached: {step}"),
            None => out += "; no step recorded",
        }
        if st.waits.is_empty() {
            out += "; no pending Gate::wait or eventually";
        } else {
            let waits: Vec<&str> = st.waits.iter().map(|w| w.1.as_str()).collect();
            out += &format!("; still waiting for: {}", waits.join("; "));
        }
        // The most overdue pending timer: one long past its time points at the runtime's timer.
        let overdue = st.timers.iter().max_by_key(|t| t.2.elapsed().saturating_sub(t.1));
        if let Some((_, set_for, at)) = overdue {
            out += &format!(
                "; {} runtime timer(s) pending, the most overdue set for {set_for:.1?} and waiting for {:.1?}",
                st.timers.len(),
                at.elapsed()
            );
        }
        out
    }
}

/// The progress of the case running on this thread, if any.
fn current() -> Option<Progress> {
    PROGRESS.with(|p| p.borrow().clone())
}

/// Makes `progress` this thread's case progress (the runner calls it on the case's thread).
pub(crate) fn enter_case(progress: Progress) {
    drop(take_shutdown_checks());
    drop(take_teardowns());
    PROGRESS.with(|p| *p.borrow_mut() = Some(progress));
}

/// Clears this thread's case progress.
pub(crate) fn leave_case() {
    PROGRESS.with(|p| *p.borrow_mut() = None);
}

/// Asserts that what started at `start` ended promptly: well within [`PROMPT`], which is far
/// shorter than the 30 s sleeps cases use for "only ends if cancelled" (so a lost wake-up that
/// leaves a cancelled future to its own timer fails the case instead of passing slowly).
pub fn assert_prompt(start: Instant, what: &str) {
    let took = start.elapsed();
    assert!(took < PROMPT, "{what} took {took:?}, expected well under {PROMPT:?} (a lost wake-up?)");
}

/// What [`assert_prompt`] accepts: a wide margin.
pub const PROMPT: Duration = Duration::from_secs(10);
