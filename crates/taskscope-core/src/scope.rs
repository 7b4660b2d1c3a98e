//! [`Scope`]: children spawned into it, waited for, cancelled together.

use std::any::Any;
use std::cell::Cell;
use std::fmt;
use std::future::Future;
use std::ops::Deref;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use event_listener::EventListener;
use futures_util::task::AtomicWaker;
use pin_project_lite::pin_project;

use crate::error::{ChildError, ErrorGroup, JoinError, ScopeError};
use crate::runtime::{BoxedSleep, Runtime};
use crate::slab::Slab;
use crate::token::{CancelReason, CancelToken, Name};
use crate::util::lock;

type Payload = Box<dyn Any + Send>;

static GLOBAL_LIVE: AtomicUsize = AtomicUsize::new(0);

/// The number of live children of all scopes in the process: spawned and not yet dropped
/// (O1, the "no orphans" gauge). Zero whenever no scope is running.
///
/// ```
/// assert_eq!(taskscope_core::live_children(), 0);
/// ```
pub fn live_children() -> usize {
    GLOBAL_LIVE.load(Ordering::Acquire)
}

// ---------------------------------------------------------------------------------------------
// Ambient context: the scope whose child (or body) is being polled on this thread.

trait ScopeCtx: Send + Sync {
    fn token(&self) -> &CancelToken;
    fn runtime(&self) -> &Arc<dyn Runtime>;
    /// A nested scope counts as one live child of its enclosing scope until it has finished,
    /// or — if dropped early — until its last child has been dropped (S1 across nesting).
    fn hold(&self);
    fn release(&self);
}

thread_local! {
    static AMBIENT: Cell<Option<Arc<dyn ScopeCtx>>> = const { Cell::new(None) };
}

/// Makes `slot` the ambient scope while alive: swaps it into the thread-local (no refcount
/// traffic) and swaps it back on drop, even when unwinding.
struct Enter<'a> {
    slot: &'a mut Option<Arc<dyn ScopeCtx>>,
    entered: bool,
}

impl<'a> Enter<'a> {
    fn new(slot: &'a mut Option<Arc<dyn ScopeCtx>>) -> Self {
        let mine = slot.take();
        match AMBIENT.try_with(|c| c.replace(mine.clone())) {
            Ok(prev) => {
                *slot = prev;
                drop(mine);
                Self { slot, entered: true }
            }
            // Thread-locals are being destroyed: run without an ambient scope.
            Err(_) => {
                *slot = mine;
                Self { slot, entered: false }
            }
        }
    }
}

impl Drop for Enter<'_> {
    fn drop(&mut self) {
        if self.entered {
            let prev = self.slot.take();
            if let Ok(mine) = AMBIENT.try_with(|c| c.replace(prev)) {
                *self.slot = mine;
            }
        }
    }
}

fn with_ambient<R>(f: impl FnOnce(Option<&Arc<dyn ScopeCtx>>) -> R) -> R {
    let cur = AMBIENT.try_with(Cell::take).ok().flatten();
    let r = f(cur.as_ref());
    let _ = AMBIENT.try_with(|c| c.set(cur));
    r
}

/// The token of the innermost scope whose child or body is running on this thread, if any.
///
/// Lets code deep inside a child observe cancellation without being handed the token.
///
/// ```
/// assert!(taskscope_core::current_token().is_none()); // not inside a scope
/// ```
pub fn current_token() -> Option<CancelToken> {
    with_ambient(|a| a.map(|s| s.token().clone()))
}

/// The runtime of the innermost scope whose child or body is running on this thread, if any.
/// Nested scopes use it when no runtime is given explicitly.
pub fn current_runtime() -> Option<Arc<dyn Runtime>> {
    with_ambient(|a| a.map(|s| s.runtime().clone()))
}

// ---------------------------------------------------------------------------------------------
// Children.

const RUNNING: u8 = 0;
const FINISHED: u8 = 1;
const FAILED: u8 = 2;
const PANICKED: u8 = 3;
const CANCELLED: u8 = 4;
const CLOSED: u8 = 5;

/// The state of a child, as reported by [`JoinHandle::state`] (C9).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ChildState {
    /// Spawned, not yet completed or dropped.
    Running,
    /// Returned `Ok`; its value is (or was) available through the handle.
    Finished,
    /// Returned `Err`; the error went to the scope's [`ErrorGroup`].
    Failed,
    /// Panicked; the payload resumes in the scope's owner.
    Panicked,
    /// Dropped before completing, or completed after its scope began cancelling (F4).
    Cancelled,
    /// Never started: the scope was cancelling or finished at spawn time (S4).
    Closed,
}

struct Child<T> {
    name: Option<Name>,
    state: AtomicU8,
    cancel: AtomicBool,
    task_waker: AtomicWaker,
    join_waker: AtomicWaker,
    output: Mutex<Option<T>>,
}

impl<T> Child<T> {
    fn new(name: Option<Name>) -> Self {
        Self {
            name,
            state: AtomicU8::new(RUNNING),
            cancel: AtomicBool::new(false),
            task_waker: AtomicWaker::new(),
            join_waker: AtomicWaker::new(),
            output: Mutex::new(None),
        }
    }

    fn set_state(&self, state: u8) {
        self.state.store(state, Ordering::Release);
        self.join_waker.wake();
    }
}

/// The scope's view of a child: enough to wake it for cancellation.
trait Abort: Send + Sync {
    fn wake_task(&self);
}

impl<T: Send> Abort for Child<T> {
    fn wake_task(&self) {
        self.task_waker.wake();
    }
}

/// A typed handle to a child: await it for the child's value, read its state, cancel it.
///
/// Dropping the handle does nothing to the child: the scope owns it. Awaiting the handle of a
/// failed child gives [`JoinError::Failed`]; the error itself is in the scope's
/// [`ErrorGroup`], so it is never reported twice (F3).
///
/// ```
/// # use taskscope_core::{Builder, BoxError};
/// # let rt = taskscope_core::test_runtime();
/// # futures_lite::future::block_on(async {
/// let (a, b) = Builder::new()
///     .runtime(rt)
///     .run(async |s| Ok::<_, BoxError>((s.spawn(async { Ok(1) }), s.spawn(async { Ok("two") }))))
///     .await?;
/// // The scope waited for both: their results can be harvested afterwards.
/// assert_eq!(a.result()?, 1);
/// assert_eq!(b.await?, "two");
/// # Ok::<_, BoxError>(()) }).unwrap();
/// ```
pub struct JoinHandle<T> {
    child: Arc<Child<T>>,
}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle").field("name", &self.child.name).field("state", &self.state()).finish()
    }
}

impl<T> JoinHandle<T> {
    /// The child's name, if it was spawned with one.
    pub fn name(&self) -> Option<&str> {
        self.child.name.as_deref()
    }

    /// The child's current state.
    pub fn state(&self) -> ChildState {
        match self.child.state.load(Ordering::Acquire) {
            RUNNING => ChildState::Running,
            FINISHED => ChildState::Finished,
            FAILED => ChildState::Failed,
            PANICKED => ChildState::Panicked,
            CANCELLED => ChildState::Cancelled,
            _ => ChildState::Closed,
        }
    }

    /// Whether the child has reached a terminal state (its future has been dropped).
    pub fn is_finished(&self) -> bool {
        self.state() != ChildState::Running
    }

    /// Cancels this child only (C9): its future is dropped at its next suspension point, its
    /// state becomes [`ChildState::Cancelled`], and the scope does not fail. Does nothing if
    /// the child already completed.
    pub fn cancel(&self) {
        self.child.cancel.store(true, Ordering::Release);
        self.child.task_waker.wake();
    }

    /// The child's value without waiting: [`JoinError::Running`] if it has not completed.
    ///
    /// Always ready once the scope has returned (S1), so this is how results are harvested
    /// after the scope, like Python's `task.result()`.
    pub fn result(self) -> Result<T, JoinError> {
        let state = self.child.state.load(Ordering::Acquire);
        self.outcome(state)
    }

    fn outcome(&self, state: u8) -> Result<T, JoinError> {
        let name = self.child.name.clone();
        match state {
            RUNNING => Err(JoinError::Running { name }),
            FINISHED => Ok(lock(&self.child.output)
                .take()
                .expect("JoinHandle: the child's value was already taken by an earlier await")),
            FAILED => Err(JoinError::Failed { name }),
            PANICKED => Err(JoinError::Panicked { name }),
            CANCELLED => Err(JoinError::Cancelled { name }),
            _ => Err(JoinError::Closed { name }),
        }
    }
}

/// Waits for the child. Once the child is done the handle is ready at once.
///
/// # Cancel safety
/// Cancel-safe: dropping the await leaves the child and its value untouched.
impl<T> Future for JoinHandle<T> {
    type Output = Result<T, JoinError>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = self.child.state.load(Ordering::Acquire);
        if state == RUNNING {
            self.child.join_waker.register(cx.waker());
            state = self.child.state.load(Ordering::Acquire);
            if state == RUNNING {
                return Poll::Pending;
            }
        }
        Poll::Ready(self.outcome(state))
    }
}

enum Outcome<T, E> {
    Value(T),
    Error(E),
    Panic(Payload),
    Cancelled,
}

pin_project! {
    /// Core's wrapper around every child: its own abort check, panic capture and drop guard.
    struct ChildTask<F, T, E> {
        #[pin]
        fut: Option<F>,
        child: Arc<Child<T>>,
        scope: Arc<Inner<E>>,
        key: usize,
        ambient: Option<Arc<dyn ScopeCtx>>,
    }

    impl<F, T, E> PinnedDrop for ChildTask<F, T, E> {
        fn drop(this: Pin<&mut Self>) {
            // Dropped by the runtime before completing (e.g. at runtime shutdown): still
            // dropped by us, with panics caught, and counted.
            let mut this = this.project();
            if this.fut.is_some() {
                let outcome = match drop_caught(this.fut.as_mut()) {
                    Some(p) => Outcome::Panic(p),
                    None => Outcome::Cancelled,
                };
                this.scope.child_done(*this.key, this.child, outcome);
            }
        }
    }
}

/// Drops a pinned future in place, catching a panic from its destructor (F7).
fn drop_caught<F>(mut fut: Pin<&mut Option<F>>) -> Option<Payload> {
    catch_unwind(AssertUnwindSafe(|| fut.set(None))).err().inspect(|_| {
        // Assignment writes `None` even when the old value's destructor unwinds.
        debug_assert!(fut.is_none());
    })
}

impl<F, T, E> Future for ChildTask<F, T, E>
where
    F: Future<Output = Result<T, E>>,
    E: Send + 'static,
    T: Send + 'static,
{
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut this = self.project();
        let Some(fut) = this.fut.as_mut().as_pin_mut() else {
            return Poll::Ready(());
        };
        if this.scope.aborted.load(Ordering::Acquire) || this.child.cancel.load(Ordering::Acquire) {
            let outcome = drop_caught(this.fut).map_or(Outcome::Cancelled, Outcome::Panic);
            this.scope.child_done(*this.key, this.child, outcome);
            return Poll::Ready(());
        }
        let polled = {
            let _enter = Enter::new(this.ambient);
            catch_unwind(AssertUnwindSafe(|| fut.poll(cx)))
        };
        let outcome = match polled {
            Ok(Poll::Pending) => {
                this.child.task_waker.register(cx.waker());
                // An abort that raced the poll may have found no waker: look again.
                if this.scope.aborted.load(Ordering::Acquire) || this.child.cancel.load(Ordering::Acquire) {
                    cx.waker().wake_by_ref();
                }
                return Poll::Pending;
            }
            Ok(Poll::Ready(Ok(v))) => Outcome::Value(v),
            Ok(Poll::Ready(Err(e))) => Outcome::Error(e),
            Err(p) => Outcome::Panic(p),
        };
        let outcome = match (drop_caught(this.fut), outcome) {
            (Some(p), Outcome::Panic(first)) => {
                drop(p);
                Outcome::Panic(first)
            }
            (Some(p), _) => Outcome::Panic(p),
            (None, o) => o,
        };
        this.scope.child_done(*this.key, this.child, outcome);
        Poll::Ready(())
    }
}

// ---------------------------------------------------------------------------------------------
// The scope's shared state.

struct State<E> {
    /// No more spawns: the scope is cancelling or finished.
    closed: bool,
    errors: Vec<ChildError<E>>,
    panic: Option<Payload>,
    children: Slab<Arc<dyn Abort>>,
}

struct Inner<E> {
    rt: Arc<dyn Runtime>,
    token: CancelToken,
    grace: Duration,
    /// Hard cancellation: children drop their futures at their next poll.
    aborted: AtomicBool,
    /// The owner has returned (or resumed a panic): dropping the scope future is a no-op.
    finished: AtomicBool,
    /// Children spawned and not yet dropped.
    live: AtomicUsize,
    owner: AtomicWaker,
    state: Mutex<State<E>>,
    /// The enclosing scope this one holds open (see [`ScopeCtx::hold`]); taken when released.
    enclosing: Mutex<Option<Arc<dyn ScopeCtx>>>,
    /// The owner dropped the scope before it finished: the last child releases the hold.
    owner_gone: AtomicBool,
}

impl<E: Send + 'static> ScopeCtx for Inner<E> {
    fn token(&self) -> &CancelToken {
        &self.token
    }
    fn runtime(&self) -> &Arc<dyn Runtime> {
        &self.rt
    }
    fn hold(&self) {
        self.live.fetch_add(1, Ordering::AcqRel);
    }
    fn release(&self) {
        self.live_done();
    }
}

impl<E> Inner<E> {
    /// Fires the token (first reason stands), then closes the scope and, with no grace period,
    /// drops every child at once (C1). With a grace period the owner runs the timer.
    fn cancel(&self, reason: CancelReason) {
        self.token.cancel_with(reason);
        if self.grace.is_zero() {
            self.abort();
        } else {
            lock(&self.state).closed = true;
            self.owner.wake();
        }
    }

    /// One live item (a child, or a nested scope's hold) is gone: wake the owner on the last one,
    /// and if the owner already dropped the scope, release our own hold on the enclosing scope
    /// (transitively, so a chain of dropped nested scopes drains in order).
    fn live_done(&self) {
        // SeqCst pairs with the owner guard's store of `owner_gone` and load of `live`: at least
        // one side sees the other, so the hold is always released.
        if self.live.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.owner.wake();
            if self.owner_gone.load(Ordering::SeqCst) {
                self.release_enclosing();
            }
        }
    }

    /// Releases the hold on the enclosing scope, once.
    fn release_enclosing(&self) {
        let enclosing = lock(&self.enclosing).take();
        if let Some(e) = enclosing {
            e.release();
        }
    }

    /// Closes the scope and wakes every child so that it drops its future.
    fn abort(&self) {
        let children = {
            let mut st = lock(&self.state);
            st.closed = true;
            if self.aborted.swap(true, Ordering::AcqRel) {
                return;
            }
            let mut v = Vec::with_capacity(st.children.len());
            st.children.for_each(|c| v.push(c.clone()));
            v
        };
        for c in children {
            c.wake_task();
        }
        self.owner.wake();
    }

    fn record_panic(&self, p: Payload) {
        let extra = {
            let mut st = lock(&self.state);
            if st.panic.is_none() {
                st.panic = Some(p);
                None
            } else {
                Some(p)
            }
        };
        // Only the first payload resumes; dropping a later one must not unwind into core.
        if let Some(p) = extra {
            let _ = catch_unwind(AssertUnwindSafe(move || drop(p)));
        }
    }

    fn fail(&self, name: Option<Name>, error: E) {
        lock(&self.state).errors.push(ChildError::new(name.clone(), error));
        self.cancel(CancelReason::SiblingFailed { name });
    }

    fn panicked(&self, name: Option<Name>, p: Payload) {
        self.record_panic(p);
        self.cancel(CancelReason::SiblingPanicked { name });
    }

    fn child_done<T>(&self, key: usize, child: &Child<T>, outcome: Outcome<T, E>) {
        let state = match outcome {
            Outcome::Value(v) if self.token.is_cancelled() => {
                // F4: a value returned after cancellation began is dropped.
                if let Err(p) = catch_unwind(AssertUnwindSafe(move || drop(v))) {
                    self.panicked(child.name.clone(), p);
                    PANICKED
                } else {
                    CANCELLED
                }
            }
            Outcome::Value(v) => {
                *lock(&child.output) = Some(v);
                FINISHED
            }
            Outcome::Error(e) => {
                self.fail(child.name.clone(), e);
                FAILED
            }
            Outcome::Panic(p) => {
                self.panicked(child.name.clone(), p);
                PANICKED
            }
            Outcome::Cancelled => CANCELLED,
        };
        let entry = lock(&self.state).children.remove(key);
        drop(entry);
        child.set_state(state);
        GLOBAL_LIVE.fetch_sub(1, Ordering::AcqRel);
        self.live_done();
    }
}

// ---------------------------------------------------------------------------------------------
// Spawner and Scope.

/// A `'static`, cloneable handle that spawns children into a scope: give one to a child so it
/// can spawn siblings (S3). One that outlives its scope can still be called: the spawn is
/// refused and the future dropped unpolled (S4).
pub struct Spawner<E> {
    inner: Arc<Inner<E>>,
}

impl<E> Clone for Spawner<E> {
    fn clone(&self) -> Self {
        Self { inner: self.inner.clone() }
    }
}

impl<E> fmt::Debug for Spawner<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Spawner")
            .field("runtime", &self.inner.rt.name())
            .field("live_children", &self.inner.live.load(Ordering::Relaxed))
            .field("token", &self.inner.token)
            .finish()
    }
}

impl<E: Send + 'static> Spawner<E> {
    /// Spawns a child. The scope waits for it; its error fails the scope (F1); its value is
    /// read through the returned handle.
    ///
    /// If the scope is cancelling or finished, `fut` is dropped without being polled and the
    /// handle reports [`ChildState::Closed`] (S4).
    pub fn spawn<F, T>(&self, fut: F) -> JoinHandle<T>
    where
        F: Future<Output = Result<T, E>> + Send + 'static,
        T: Send + 'static,
    {
        self.spawn_inner(None, fut)
    }

    /// Spawns a named child: the name appears in errors, cancel reasons and handles (O1).
    pub fn spawn_named<F, T>(&self, name: impl Into<Name>, fut: F) -> JoinHandle<T>
    where
        F: Future<Output = Result<T, E>> + Send + 'static,
        T: Send + 'static,
    {
        self.spawn_inner(Some(name.into()), fut)
    }

    fn spawn_inner<F, T>(&self, name: Option<Name>, fut: F) -> JoinHandle<T>
    where
        F: Future<Output = Result<T, E>> + Send + 'static,
        T: Send + 'static,
    {
        let child = Arc::new(Child::new(name));
        let key = {
            let mut st = lock(&self.inner.state);
            if st.closed {
                None
            } else {
                self.inner.live.fetch_add(1, Ordering::AcqRel);
                GLOBAL_LIVE.fetch_add(1, Ordering::AcqRel);
                Some(st.children.insert(child.clone()))
            }
        };
        let Some(key) = key else {
            child.state.store(CLOSED, Ordering::Release);
            drop(fut);
            return JoinHandle { child };
        };
        let task = ChildTask {
            fut: Some(fut),
            child: child.clone(),
            scope: self.inner.clone(),
            key,
            ambient: Some(self.inner.clone()),
        };
        self.inner.rt.spawn(Box::pin(task));
        JoinHandle { child }
    }
}

impl<E> Spawner<E> {
    /// The scope's cancel token: children watch it to stop cooperatively.
    pub fn token(&self) -> &CancelToken {
        &self.inner.token
    }

    /// Cancels the scope ([`CancelReason::Explicit`]): the token fires, then every child is
    /// dropped (C1). The owner gets [`ScopeError::Cancelled`] (C5). Idempotent (C4).
    pub fn cancel(&self) {
        self.cancel_with(CancelReason::Explicit(Name::Borrowed("Scope::cancel() called")));
    }

    /// Cancels the scope with the given reason (the first reason stands).
    pub fn cancel_with(&self, reason: CancelReason) {
        self.inner.cancel(reason);
    }

    /// The number of live children: spawned and not yet dropped (O1).
    pub fn live_children(&self) -> usize {
        self.inner.live.load(Ordering::Acquire)
    }

    /// Whether spawns are refused: the scope is cancelling or finished.
    pub fn is_closed(&self) -> bool {
        lock(&self.inner.state).closed
    }

    /// The runtime the scope spawns on.
    pub fn runtime(&self) -> &Arc<dyn Runtime> {
        &self.inner.rt
    }
}

/// The scope handle given to the body. It cannot escape the body (S5): the body receives a
/// `&Scope`, and `Scope` is neither `Clone` nor constructible by users. Use
/// [`spawner`](Scope::spawner) for a `'static` handle to give to children.
///
/// All spawning methods come from [`Spawner`], through `Deref`.
///
/// ```compile_fail
/// # use taskscope_core::{Builder, Scope, BoxError};
/// # async fn f(rt: std::sync::Arc<dyn taskscope_core::Runtime>) {
/// let mut escaped: Option<&Scope<BoxError>> = None;
/// let _ = Builder::new().runtime(rt).run(async |s: &Scope<BoxError>| {
///     escaped = Some(s); // error: borrowed data escapes the body
///     Ok(())
/// }).await;
/// # }
/// ```
pub struct Scope<E> {
    spawner: Spawner<E>,
}

impl<E> fmt::Debug for Scope<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Scope").field(&self.spawner).finish()
    }
}

impl<E> Deref for Scope<E> {
    type Target = Spawner<E>;
    fn deref(&self) -> &Spawner<E> {
        &self.spawner
    }
}

impl<E> Scope<E> {
    /// A `'static`, cloneable spawner for this scope, to move into children (S3, S5).
    pub fn spawner(&self) -> Spawner<E> {
        self.spawner.clone()
    }
}

// ---------------------------------------------------------------------------------------------
// Builder and the owner's driver.

/// Configures and runs a scope. [`Builder::run`] is the one entry point; `scope` functions in
/// the facade are shorthands for it.
///
/// ```
/// # use taskscope_core::{Builder, BoxError};
/// # let rt = taskscope_core::test_runtime();
/// # futures_lite::future::block_on(async {
/// let total = Builder::new()
///     .runtime(rt)
///     .name("sum")
///     .run(async |s| {
///         let handles: Vec<_> = (1..=3).map(|i| s.spawn(async move { Ok::<_, BoxError>(i) })).collect();
///         let mut total = 0;
///         for h in handles {
///             total += h.await?;
///         }
///         Ok(total)
///     })
///     .await
///     .unwrap();
/// assert_eq!(total, 6);
/// # });
/// ```
#[derive(Debug, Default)]
#[must_use = "a Builder does nothing until `run` is awaited"]
pub struct Builder {
    runtime: Option<Arc<dyn Runtime>>,
    fallback: Option<DetectRuntime>,
    name: Option<Name>,
    parent: Option<CancelToken>,
    grace: Duration,
    deadline: Option<Deadline>,
}

/// A function that finds a runtime (see [`Builder::fallback_runtime`]).
pub type DetectRuntime = fn() -> Option<Arc<dyn Runtime>>;

#[derive(Debug, Clone, Copy)]
enum Deadline {
    At(Instant),
    After(Duration),
}

impl Builder {
    /// A builder with defaults: the ambient runtime and parent (the enclosing scope, if any),
    /// no grace period, no deadline.
    pub fn new() -> Self {
        Self::default()
    }

    /// The runtime to spawn children on.
    pub fn runtime(mut self, rt: Arc<dyn Runtime>) -> Self {
        self.runtime = Some(rt);
        self
    }

    /// How to find a runtime when none was given and the scope is not nested in another:
    /// called when the scope starts (its first poll). The `taskscope` facade uses it to detect
    /// tokio or smol.
    pub fn fallback_runtime(mut self, detect: DetectRuntime) -> Self {
        self.fallback = Some(detect);
        self
    }

    /// A name for the scope (for diagnostics).
    pub fn name(mut self, name: impl Into<Name>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// The token whose cancellation cancels this scope (default: the enclosing scope's token,
    /// if this scope is opened inside another scope's child or body).
    pub fn parent(mut self, token: &CancelToken) -> Self {
        self.parent = Some(token.clone());
        self
    }

    /// Grace period (C2): after the token fires, children may finish async cleanup for this
    /// long before they are dropped. Default zero: dropped at once.
    pub fn grace(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }

    /// Cancels the scope with [`CancelReason::Deadline`] at `deadline` (C7).
    pub fn deadline(mut self, deadline: Instant) -> Self {
        self.deadline = Some(Deadline::At(deadline));
        self
    }

    /// Cancels the scope with [`CancelReason::Deadline`] `timeout` after it starts (C7).
    /// `Duration::MAX` means no deadline.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.deadline = Some(Deadline::After(timeout));
        self
    }

    /// Runs the scope: calls `body` with the scope handle, and completes once the body and
    /// every child have completed or been dropped (S1, S2).
    ///
    /// Returns the body's value, or [`ScopeError::Failed`] with every error (F2), or
    /// [`ScopeError::Cancelled`] (C5). A panic in a child or the body cancels the scope and
    /// resumes here once every child is dropped (F5).
    ///
    /// # Panics
    /// If no runtime was given and none is ambient (this is not inside another scope): give
    /// one with [`Builder::runtime`], or use the `taskscope` facade's `scope`, which detects
    /// tokio or smol. Also resumes panics of the body and children, as described above.
    ///
    /// # Cancel safety
    /// Dropping the future cancels the scope (C3): every child is dropped promptly by its
    /// runtime and none is polled again; nothing is detached.
    pub async fn run<T, E, F>(self, body: F) -> Result<T, ScopeError<E>>
    where
        F: AsyncFnOnce(&Scope<E>) -> Result<T, E>,
        E: Send + 'static,
    {
        let enclosing = with_ambient(|a| a.cloned());
        let ambient_rt = enclosing.as_ref().map(|a| a.runtime().clone());
        let ambient_token = enclosing.as_ref().map(|a| a.token().clone());
        let rt = self.runtime.or(ambient_rt).or_else(|| self.fallback.and_then(|f| f())).expect(
            "taskscope: no runtime for this scope. Give one with `Builder::runtime`, or use \
             `taskscope::scope` (the facade with the `tokio` or `smol` feature), which detects \
             the running runtime",
        );
        let token = match self.parent.or(ambient_token) {
            Some(parent) => parent.child(),
            None => CancelToken::new(),
        };
        let deadline = match self.deadline {
            Some(Deadline::At(at)) => Some(at),
            Some(Deadline::After(d)) => rt.now().checked_add(d),
            None => None,
        };
        let inner = Arc::new(Inner {
            rt,
            token,
            grace: self.grace,
            aborted: AtomicBool::new(false),
            finished: AtomicBool::new(false),
            live: AtomicUsize::new(0),
            owner: AtomicWaker::new(),
            state: Mutex::new(State { closed: false, errors: Vec::new(), panic: None, children: Slab::new() }),
            enclosing: Mutex::new(None),
            owner_gone: AtomicBool::new(false),
        });
        if let Some(e) = enclosing {
            e.hold();
            *lock(&inner.enclosing) = Some(e);
        }
        let scope = Scope { spawner: Spawner { inner } };
        let _guard = OwnerGuard { inner: &scope.spawner.inner };
        Driver {
            inner: &scope.spawner.inner,
            ambient: Some(scope.spawner.inner.clone()),
            body: Some(body(&scope)),
            value: None,
            deadline,
            deadline_timer: None,
            grace_timer: None,
            listener: None,
        }
        .await
    }
}

/// Cancels the scope if the owner drops it before it finished (C3).
struct OwnerGuard<'a, E> {
    inner: &'a Inner<E>,
}

impl<E> Drop for OwnerGuard<'_, E> {
    fn drop(&mut self) {
        if self.inner.finished.load(Ordering::Acquire) {
            self.inner.release_enclosing();
        } else {
            self.inner.token.cancel_with(CancelReason::Dropped);
            self.inner.abort();
            // Children may still be running: the enclosing scope must wait for them (S1),
            // so the hold is released by the last one, or now if none is live.
            self.inner.owner_gone.store(true, Ordering::SeqCst);
            if self.inner.live.load(Ordering::SeqCst) == 0 {
                self.inner.release_enclosing();
            }
        }
    }
}

pin_project! {
    struct Driver<'s, B, T, E> {
        inner: &'s Arc<Inner<E>>,
        ambient: Option<Arc<dyn ScopeCtx>>,
        #[pin]
        body: Option<B>,
        value: Option<T>,
        deadline: Option<Instant>,
        deadline_timer: Option<BoxedSleep>,
        grace_timer: Option<BoxedSleep>,
        listener: Option<EventListener>,
    }
}

impl<B, T, E> Future for Driver<'_, B, T, E>
where
    B: Future<Output = Result<T, E>>,
{
    type Output = Result<T, ScopeError<E>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let inner: &Inner<E> = this.inner;
        loop {
            // 1. Cancellation from any source (our token, a parent, a deadline).
            if inner.token.is_cancelled() {
                if !inner.aborted.load(Ordering::Acquire) {
                    if inner.grace.is_zero() {
                        inner.abort();
                    } else {
                        lock(&inner.state).closed = true;
                        let rt = &inner.rt;
                        let timer = this.grace_timer.get_or_insert_with(|| {
                            let end = rt.now().checked_add(inner.grace);
                            end.map_or_else(
                                || Box::pin(std::future::pending()) as BoxedSleep,
                                |end| rt.sleep_until(end),
                            )
                        });
                        if timer.as_mut().poll(cx).is_ready() {
                            inner.abort();
                        }
                    }
                }
            } else if let Some(deadline) = *this.deadline {
                let rt = &inner.rt;
                let timer = this.deadline_timer.get_or_insert_with(|| rt.sleep_until(deadline));
                if rt.now() >= deadline || timer.as_mut().poll(cx).is_ready() {
                    *this.deadline_timer = None;
                    inner.cancel(CancelReason::Deadline);
                    continue;
                }
            }

            // 2. The body, treated like a child (F1).
            if let Some(body) = this.body.as_mut().as_pin_mut() {
                if inner.aborted.load(Ordering::Acquire) {
                    if let Some(p) = drop_caught(this.body.as_mut()) {
                        inner.panicked(None, p);
                    }
                } else {
                    let polled = {
                        let _enter = Enter::new(this.ambient);
                        catch_unwind(AssertUnwindSafe(|| body.poll(cx)))
                    };
                    match polled {
                        Ok(Poll::Pending) => {}
                        Ok(Poll::Ready(result)) => {
                            if let Some(p) = drop_caught(this.body.as_mut()) {
                                inner.panicked(None, p);
                            }
                            match result {
                                Ok(v) => *this.value = Some(v),
                                Err(e) => inner.fail(None, e),
                            }
                            continue;
                        }
                        Err(p) => {
                            let _ = drop_caught(this.body.as_mut());
                            inner.panicked(None, p);
                            continue;
                        }
                    }
                }
            }

            // 3. Done once the body and every child are (S1).
            if this.body.is_none() {
                inner.owner.register(cx.waker());
                if let Some(out) = finish(inner, this.value) {
                    return Poll::Ready(out);
                }
            }

            // 4. Wait: children wake the owner when the last one is dropped or when they
            //    cancel the scope; a parent's cancellation arrives through the token.
            inner.owner.register(cx.waker());
            if this.body.is_none() && inner.live.load(Ordering::Acquire) == 0 {
                continue;
            }
            if !inner.token.is_cancelled() {
                if inner.token.poll_cancelled(this.listener, cx).is_ready() {
                    continue;
                }
            } else if !inner.aborted.load(Ordering::Acquire) && this.grace_timer.is_none() {
                continue;
            }
            return Poll::Pending;
        }
    }
}

/// Completes the scope if no child is live, choosing the outcome (C5); resumes a recorded
/// panic (F5).
fn finish<T, E>(inner: &Inner<E>, value: &mut Option<T>) -> Option<Result<T, ScopeError<E>>> {
    let (errors, panic) = {
        let mut st = lock(&inner.state);
        if inner.live.load(Ordering::Acquire) != 0 {
            return None;
        }
        st.closed = true;
        (std::mem::take(&mut st.errors), st.panic.take())
    };
    inner.finished.store(true, Ordering::Release);
    if let Some(p) = panic {
        resume_unwind(p);
    }
    let out = match inner.token.reason() {
        None => match value.take() {
            Some(v) => Ok(v),
            None => unreachable!("taskscope: scope finished without a value, an error or a cancellation"),
        },
        Some(reason @ (CancelReason::SiblingFailed { .. } | CancelReason::SiblingPanicked { .. })) => {
            match ErrorGroup::new(errors) {
                Some(group) => Err(ScopeError::Failed(group)),
                None => Err(ScopeError::Cancelled { reason: reason.clone(), errors: None }),
            }
        }
        Some(reason) => Err(ScopeError::Cancelled { reason: reason.clone(), errors: ErrorGroup::new(errors) }),
    };
    Some(out)
}
