//! [`Scope`]: children spawned into it, waited for, cancelled together.

use std::any::Any;
use std::cell::Cell;
use std::fmt;
use std::future::Future;
use std::ops::Deref;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::{Arc, Weak};
use std::task::{Context, Poll};
use std::time::Duration;

use pin_project_lite::pin_project;

use crate::error::{ChildError, JoinError};
use crate::limit::{Acquire, Permit, Semaphore, TrySpawnError};
use crate::runtime::{RawTask, Runtime, Task};
use crate::start::{Ready, Start, StartSlot};
use crate::sync::{AtomicBool, AtomicU8, AtomicUsize, AtomicWaker, Mutex, Ordering, local_key};
use crate::token::{CancelReason, CancelToken, Name};
use crate::util::{lock, try_lock};

pub(crate) type Payload = Box<dyn Any + Send>;

/// The process-wide gauge, sharded so that threads spawning and finishing children do not all
/// write one cache line: a child is counted up on the shard of the thread that spawned it and
/// down on the shard of the thread that dropped it, so a shard may go "negative"; the sum is
/// exact.
mod gauge {
    use std::sync::atomic::{AtomicIsize, AtomicUsize, Ordering};

    const SHARDS: usize = 16;

    #[repr(align(128))]
    struct Shard(AtomicIsize);

    static GAUGE: [Shard; SHARDS] = [const { Shard(AtomicIsize::new(0)) }; SHARDS];

    fn shard() -> &'static AtomicIsize {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        thread_local! {
            static INDEX: usize = NEXT.fetch_add(1, Ordering::Relaxed) % SHARDS;
        }
        &GAUGE[INDEX.try_with(|i| *i).unwrap_or(0)].0
    }

    pub(super) fn add() {
        shard().fetch_add(1, Ordering::AcqRel);
    }

    pub(super) fn sub() {
        shard().fetch_sub(1, Ordering::AcqRel);
    }

    pub(super) fn read() -> usize {
        let sum: isize = GAUGE.iter().map(|s| s.0.load(Ordering::Acquire)).sum();
        usize::try_from(sum).unwrap_or(0)
    }
}

/// The number of live children of all scopes in the process: spawned and not yet dropped
/// (O1, the "no orphans" gauge). Zero whenever no scope is running.
///
/// ```
/// assert_eq!(taskscope_core::live_children(), 0);
/// ```
pub fn live_children() -> usize {
    gauge::read()
}

// ---------------------------------------------------------------------------------------------
// Ambient context: the scope whose child (or body) is being polled on this thread.

pub(crate) trait ScopeCtx: Send + Sync {
    fn token(&self) -> &CancelToken;
    fn runtime(&self) -> &Arc<dyn Runtime>;
    /// A nested scope counts as one live child of its enclosing scope until it has finished,
    /// or — if dropped early — until its last child has been dropped (S1 across nesting).
    fn hold(&self);
    fn release(&self);
    /// For [`EnterScope`]: the context back as its concrete type.
    fn into_any(self: Arc<Self>) -> Arc<dyn Any + Send + Sync>;
}

local_key! {
    static AMBIENT: Cell<Option<Arc<dyn ScopeCtx>>> = const { Cell::new(None) };
}

/// Makes `slot` the ambient scope while alive: swaps it into the thread-local (no refcount
/// traffic) and swaps it back on drop, even when unwinding.
pub(crate) struct Enter<'a> {
    slot: &'a mut Option<Arc<dyn ScopeCtx>>,
    entered: bool,
}

impl<'a> Enter<'a> {
    pub(crate) fn new(slot: &'a mut Option<Arc<dyn ScopeCtx>>) -> Self {
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

/// Makes the scope in `slot` the ambient scope while alive, like [`Enter`], for a child of
/// that scope: the typed `Arc` itself is moved into the thread-local for the poll and taken
/// back after it, so a child needs no second reference to its scope.
struct EnterScope<'a, E: Send + 'static> {
    slot: &'a mut Option<Arc<Inner<E>>>,
    prev: Option<Arc<dyn ScopeCtx>>,
    entered: bool,
}

impl<'a, E: Send + 'static> EnterScope<'a, E> {
    fn new(slot: &'a mut Option<Arc<Inner<E>>>) -> Self {
        let mut mine = slot.take().map(|s| s as Arc<dyn ScopeCtx>);
        match AMBIENT.try_with(|c| c.replace(mine.take())) {
            Ok(prev) => Self { slot, prev, entered: true },
            // Thread-locals are being destroyed: run without an ambient scope.
            Err(_) => {
                *slot = mine.and_then(|m| m.into_any().downcast().ok());
                Self { slot, prev: None, entered: false }
            }
        }
    }
}

impl<E: Send + 'static> Drop for EnterScope<'_, E> {
    fn drop(&mut self) {
        if self.entered {
            // The thread-local cannot be destroyed while this thread is inside a poll, so
            // `mine` always comes back.
            if let Ok(Some(mine)) = AMBIENT.try_with(|c| c.replace(self.prev.take())) {
                *self.slot = mine.into_any().downcast().ok();
            }
        }
    }
}

pub(crate) fn with_ambient<R>(f: impl FnOnce(Option<&Arc<dyn ScopeCtx>>) -> R) -> R {
    let cur = AMBIENT.try_with(Cell::take).ok().flatten();
    let r = f(cur.as_ref());
    let _ = AMBIENT.try_with(|c| c.set(cur));
    r
}

local_key! {
    /// Set while a child's future is polled on this thread: that child's [`Drain`], if a scope
    /// opened in it already made one. `None` outside a child's poll (and in a scope's body).
    static DRAIN: Cell<Option<Option<Arc<Drain>>>> = const { Cell::new(None) };
}

local_key! {
    /// Set during the poll of a child or a body when core hands that future a cancellation:
    /// a nested scope's bare "cancelled by the parent", or a handle's error-less `JoinError`
    /// (see [`mark_handed_cancellation`]).
    static HANDED: Cell<bool> = const { Cell::new(false) };
}

/// Core is handing the future being polled a cancellation as a value. If that future then
/// returns an error in the same poll while its own scope is cancelling, the error is that
/// cancellation, passed on with `?`: it is dropped, not collected (F2, F3), whatever the error
/// type is.
pub(crate) fn mark_handed_cancellation() {
    let _ = HANDED.try_with(|h| h.set(true));
}

/// Runs one poll of a child's or body's future with its own [`HANDED`] flag (and, for a
/// child, its [`DRAIN`] slot) on this thread; returns the poll's result and whether core
/// handed the future a cancellation during it. The previous values are restored afterwards,
/// so polls nest (a body polled inside a child's poll).
pub(crate) fn poll_tracked<R>(mut drain: Option<&mut Option<Arc<Drain>>>, poll: impl FnOnce() -> R) -> (R, bool) {
    let prev_handed = HANDED.try_with(|h| h.replace(false)).unwrap_or(false);
    let mine = drain.as_deref_mut().map(Option::take);
    let prev_drain = DRAIN.try_with(|c| c.replace(mine)).ok().flatten();
    let r = poll();
    let handed = HANDED.try_with(|h| h.replace(prev_handed)).unwrap_or(false);
    let back = DRAIN.try_with(|c| c.replace(prev_drain)).ok().flatten();
    if let Some(slot) = drain {
        *slot = back.flatten();
    }
    (r, handed)
}

/// What a child's handle waits for besides the child's future (C9): the scopes the child
/// opened, still draining after the future was dropped. Made by the first scope a child
/// opens (see [`Drain::hold_current`]); each such scope holds it until it has drained.
pub(crate) struct Drain {
    /// Scopes opened in the child and not yet drained.
    holds: AtomicUsize,
    /// The child's publication (see [`Inner::publish`]), deferred until `holds` is zero.
    pending: Mutex<Option<Box<dyn FnOnce() + Send>>>,
}

impl Drain {
    /// Called by a scope being opened: if this thread is polling a child, hold its drain
    /// (making it on first use).
    pub(crate) fn hold_current() -> Option<Arc<Drain>> {
        DRAIN
            .try_with(|c| {
                let mut slot = c.take()?;
                let drain = slot
                    .get_or_insert_with(|| Arc::new(Drain { holds: AtomicUsize::new(0), pending: Mutex::new(None) }))
                    .clone();
                drain.holds.fetch_add(1, Ordering::AcqRel);
                c.set(Some(slot));
                Some(drain)
            })
            .ok()
            .flatten()
    }

    /// A scope the child opened has drained: on the last one, run the child's publication if
    /// its future is already gone.
    fn release(&self) {
        if self.holds.fetch_sub(1, Ordering::AcqRel) == 1 {
            let pending = lock(&self.pending).take();
            if let Some(publish) = pending {
                publish();
            }
        }
    }

    /// The child's future is gone: publish now if every scope it opened has drained, else
    /// leave `publish` to the last [`release`](Self::release). Both sides decide under the
    /// `pending` lock, so exactly one of them runs it.
    fn finish(&self, publish: Box<dyn FnOnce() + Send>) {
        let now = {
            let mut pending = lock(&self.pending);
            if self.holds.load(Ordering::Acquire) == 0 {
                Some(publish)
            } else {
                *pending = Some(publish);
                None
            }
        };
        if let Some(publish) = now {
            publish();
        }
    }
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
    /// Returned `Err`.
    Failed,
    /// Panicked; the payload resumes in the scope's owner.
    Panicked,
    /// Dropped before completing, or completed after its scope began cancelling (F4).
    Cancelled,
    /// Never started: the scope was cancelling or finished at spawn time (S4).
    Closed,
}

pub(crate) struct Child<T, E> {
    pub(crate) name: Option<Name>,
    pub(crate) state: AtomicU8,
    cancel: AtomicBool,
    task_waker: AtomicWaker,
    pub(crate) join_waker: AtomicWaker,
    /// The value, or (supervised children) the error, for the handle to take.
    output: Mutex<Option<Result<T, E>>>,
    /// The handle was dropped: a supervised child's error goes to the scope's group instead.
    detached: AtomicBool,
    /// The scope, for a supervised child (L2): an error delivered to a handle that is then
    /// dropped unread goes to the scope's group (F3).
    supervisor: Option<Weak<Inner<E>>>,
}

impl<T, E> Child<T, E> {
    fn new(name: Option<Name>, supervisor: Option<Weak<Inner<E>>>) -> Self {
        Self {
            name,
            state: AtomicU8::new(RUNNING),
            cancel: AtomicBool::new(false),
            task_waker: AtomicWaker::new(),
            join_waker: AtomicWaker::new(),
            output: Mutex::new(None),
            detached: AtomicBool::new(false),
            supervisor,
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
    fn is_live(&self) -> bool;
}

impl<T: Send, E: Send, B: ?Sized + Send + Sync> Abort for ChildCell<T, E, B> {
    fn wake_task(&self) {
        self.child.task_waker.wake();
    }
    fn is_live(&self) -> bool {
        self.child.state.load(Ordering::Acquire) == RUNNING
    }
}

/// A child's shared state and its task body, in one allocation: the runtime's [`Task`], the
/// handle and the scope's registry each hold an `Arc` to it. The handle and the registry see
/// the body type-erased ([`SharedChild`]); a refused or blocking child has no body (`()`).
pub(crate) struct ChildCell<T, E, B: ?Sized> {
    child: Child<T, E>,
    body: B,
}

/// Anything, for a [`ChildCell`] whose body is erased.
pub(crate) trait Erased: Send + Sync {}
impl<X: ?Sized + Send + Sync> Erased for X {}

/// A child as its handle sees it.
pub(crate) type SharedChild<T, E> = ChildCell<T, E, dyn Erased>;

impl<T, E, B: ?Sized> Deref for ChildCell<T, E, B> {
    type Target = Child<T, E>;
    fn deref(&self) -> &Child<T, E> {
        &self.child
    }
}

impl<T, E, F> ChildCell<T, E, Mutex<Body<F, E>>> {
    /// The child's body, pinned. This is the only place core creates a `Pin` by hand.
    #[allow(unsafe_code)]
    fn with_body<R>(self: Pin<&Self>, f: impl FnOnce(Pin<&mut Body<F, E>>, &Child<T, E>) -> R) -> R {
        let mut body = lock(&self.get_ref().body);
        // SAFETY: `Pin::new_unchecked` requires that the `Body` behind this reference is never
        // moved again before it is dropped, and that its memory is not reused before then.
        // - The cell is pinned (`self: Pin<&Self>`; every cell is created by `Arc::pin`), so it
        //   stays where it is until its drop glue runs, and the body is a field of it, inline
        //   in a `Mutex` that stores it inline: the body cannot move unless something moves it
        //   out of the mutex.
        // - Nothing does: this function is the only code that reaches into the mutex (besides
        //   the drop glue, which drops the body in place), and it hands out only
        //   `Pin<&mut Body>`. The body's fields are reached through `pin_project` projections:
        //   the future only as `Pin<&mut Option<F>>`, cleared with `Pin::set`, which drops it
        //   in place. `ChildCell` has no `Drop` impl and no manual `Unpin` impl.
        // - The mutex makes the access exclusive.
        let body = unsafe { Pin::new_unchecked(&mut *body) };
        f(body, &self.get_ref().child)
    }
}

/// What a nested scope holds open until it has drained: its enclosing scope, and the drain of
/// the child whose poll opened it.
type Holds = (Option<Arc<dyn ScopeCtx>>, Option<Arc<Drain>>);

/// A scope's `live` counter counts each live child (or nested scope's hold) as two units, so
/// that a child being published can be taken out of the reported count before its handle
/// wakes and out of the owner's count after (see [`Inner::publish`]).
const LIVE_UNIT: usize = 2;

/// The registry of a scope is compacted no earlier than at this length.
const COMPACT_MIN: usize = 64;

/// A typed handle to a child: await it for the child's value, read its state, cancel it.
///
/// Dropping the handle does nothing to the child: the scope owns it. Awaiting the handle of a
/// failed child gives [`JoinError::Failed`]; under the default policy the error itself is in
/// the scope's [`ErrorGroup`], so it is never reported twice (F3).
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
pub struct JoinHandle<T, E> {
    pub(crate) child: Pin<Arc<SharedChild<T, E>>>,
}

impl<T, E> fmt::Debug for JoinHandle<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle").field("name", &self.child.name).field("state", &self.state()).finish()
    }
}

impl<T, E> Drop for JoinHandle<T, E> {
    fn drop(&mut self) {
        self.child.detached.store(true, Ordering::Release);
        // Drop an unread value now: the scope's registry may keep the child a while longer.
        let output = lock(&self.child.output).take();
        let Some(Err(unread)) = output else { return };
        let Some(scope) = &self.child.supervisor else { return };
        // Delivered to this handle, never read, and the scope still running: not lost (F3).
        // Once the scope has taken its errors it is the handle's to drop, like any value.
        if let Some(scope) = scope.upgrade()
            && let Some(late) = scope.collect_unless_done(self.child.name.clone(), unread)
        {
            drop(late);
        }
    }
}

impl<T, E> JoinHandle<T, E> {
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
    /// the child already completed. A shielded child (C8) is cancelled too: shielding protects
    /// from the scope's cancellation, not from its own. A blocking child's token fires at once;
    /// once its closure returns, its value is dropped and it reports cancelled.
    ///
    /// The handle reports the terminal state only once the child's future has been dropped and
    /// every scope the child opened has drained, like awaiting a cancelled Python task.
    pub fn cancel(&self) {
        self.child.cancel.store(true, Ordering::Release);
        self.child.task_waker.wake();
    }

    /// The child's value without waiting: [`JoinError::Running`] if it has not completed.
    ///
    /// Always ready once the scope has returned (S1), so this is how results are harvested
    /// after the scope, like Python's `task.result()`.
    pub fn result(self) -> Result<T, JoinError<E>> {
        let state = self.child.state.load(Ordering::Acquire);
        self.outcome(state)
    }

    fn outcome(&self, state: u8) -> Result<T, JoinError<E>> {
        let name = self.child.name.clone();
        if matches!(state, PANICKED | CANCELLED | CLOSED)
            || (state == FAILED && lock(&self.child.output).as_ref().is_none_or(|o| o.is_ok()))
        {
            // An error-less `JoinError`: core's cancellation, handed over as a value (F2).
            mark_handed_cancellation();
        }
        match state {
            RUNNING => Err(JoinError::Running { name }),
            FINISHED => match lock(&self.child.output).take() {
                Some(Ok(v)) => Ok(v),
                _ => panic!("JoinHandle: the child's value was already taken by an earlier await"),
            },
            FAILED => Err(JoinError::Failed { name, error: lock(&self.child.output).take().and_then(Result::err) }),
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
impl<T, E> Future for JoinHandle<T, E> {
    type Output = Result<T, JoinError<E>>;
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

pub(crate) enum Outcome<T, E> {
    Value(T),
    Error(E),
    Panic(Payload),
    Cancelled,
    /// An error taken by a [`start`](Spawner::start) call before its child reported ready:
    /// the child failed, the scope does not.
    Handled,
}

/// Lets [`Spawner::start`] take a child's error if it ends before reporting ready (L4).
pub(crate) trait StartHook<E>: Send + Sync {
    /// `None` if the error was taken (the child had not reported ready), else the error back.
    fn intercept(&self, error: E) -> Option<E>;
    /// The child ended (its future is gone): a report that comes later is ignored.
    fn end(&self);
}

/// Where a child of a limited scope (L1) stands with its permit.
enum Slot {
    Unlimited,
    Waiting(Acquire),
    Held(#[allow(dead_code)] Permit),
}

/// How a child is spawned: the options of the various spawn methods.
struct Spawn<E> {
    name: Option<Name>,
    shielded: bool,
    permit: Option<Permit>,
    hook: Option<Arc<dyn StartHook<E>>>,
}

impl<E> Spawn<E> {
    fn plain(name: Option<Name>) -> Self {
        Self { name, shielded: false, permit: None, hook: None }
    }
}

pin_project! {
    /// Core's wrapper around every child's future: its own abort check, panic capture and
    /// drop handling. It lives in the child's [`ChildCell`], polled through [`Task`].
    pub(crate) struct Body<F, E> {
        #[pin]
        fut: Option<F>,
        // The scope; `None` while it is the ambient scope of this child's poll, and once the
        // child is done (a done child does not keep its scope alive).
        scope: Option<Arc<Inner<E>>>,
        // What only some children have, boxed to keep every child small.
        extra: Option<Box<Extra<E>>>,
    }
}

/// The parts of a child's body that only some children have.
struct Extra<E> {
    /// A shielded child's own ambient context (C8).
    shield: Option<Arc<dyn ScopeCtx>>,
    /// A limited scope's child's running slot (L1).
    slot: Slot,
    /// A started child's hook (L4).
    hook: Option<Arc<dyn StartHook<E>>>,
    /// The scopes this child opened, for its handle to wait for (C9).
    drain: Option<Arc<Drain>>,
}

impl<E> Extra<E> {
    fn empty() -> Box<Self> {
        Box::new(Self { shield: None, slot: Slot::Unlimited, hook: None, drain: None })
    }

    fn is_shielded(extra: &Option<Box<Self>>) -> bool {
        extra.as_ref().is_some_and(|x| x.shield.is_some())
    }
}

/// A child's scope, outside its poll.
fn scope_of<E>(scope: &Option<Arc<Inner<E>>>) -> &Inner<E> {
    scope.as_deref().expect("taskscope: a child's scope is only lent out during its own poll")
}

/// `outcome`, unless dropping what the child left behind panicked (`late`): a panic wins over
/// any other outcome, and only the first panic of a child is kept.
fn with_panic<T, E>(outcome: Outcome<T, E>, late: Option<Payload>) -> Outcome<T, E> {
    match (late, outcome) {
        (None, outcome) => outcome,
        (Some(late), Outcome::Panic(first)) => {
            drop_quietly(late);
            Outcome::Panic(first)
        }
        (Some(late), other) => {
            drop_quietly(other);
            Outcome::Panic(late)
        }
    }
}

/// Drops `v`, ignoring a panic from its destructor: for what nobody can be told about.
fn drop_quietly<V>(v: V) {
    let _ = catch_unwind(AssertUnwindSafe(move || drop(v)));
}

/// Drops a pinned future in place, catching a panic from its destructor (F7).
pub(crate) fn drop_caught<F>(mut fut: Pin<&mut Option<F>>) -> Option<Payload> {
    catch_unwind(AssertUnwindSafe(|| fut.set(None))).err().inspect(|_| {
        // Assignment writes `None` even when the old value's destructor unwinds.
        debug_assert!(fut.is_none());
    })
}

impl<F, E> Body<F, E> {
    fn must_stop<T>(scope: &Inner<E>, child: &Child<T, E>, shielded: bool) -> bool {
        child.cancel.load(Ordering::Acquire)
            || if shielded { scope.owner_gone.load(Ordering::SeqCst) } else { scope.aborted.load(Ordering::Acquire) }
    }

    /// The future is gone: let go of everything that refers to the scope (the cell may
    /// outlive the scope in a handle), then report the outcome.
    /// `me` is the runtime's task of this very child: kept by a publication that has to
    /// wait for the scopes the child opened (C9).
    fn finish<T>(self: Pin<&mut Self>, me: &Pin<Arc<dyn RawTask>>, child: &Child<T, E>, outcome: Outcome<T, E>)
    where
        E: Send + 'static,
    {
        let this = self.project();
        debug_assert!(this.fut.is_none());
        let scope = this.scope.take().expect("taskscope: a child's scope is only lent out during its own poll");
        let shielded = Extra::is_shielded(this.extra);
        let drain = this.extra.as_mut().and_then(|x| x.drain.take());
        if let Some(hook) = this.extra.as_ref().and_then(|x| x.hook.as_ref()) {
            // Before the state is published: the start call maps the state to its error.
            hook.end();
        }
        let (extra, waker) = (this.extra.take(), child.task_waker.take());
        // A started child's hook may hold the last reference to the value or error it reported
        // (its `Start` was dropped): user destructors, caught like the future's own (F7). The
        // waker goes too, so a finished child no longer holds on to the runtime's task.
        let late = catch_unwind(AssertUnwindSafe(move || drop((extra, waker)))).err();
        let state = scope.child_done(child, with_panic(outcome, late), shielded);
        match drain {
            None => {
                scope.publish(|| child.set_state(state));
                // The last reference to a scope whose owner is gone drops its unread errors:
                // contained.
                drop_quietly(scope);
            }
            Some(drain) => {
                let task = me.clone();
                drain.finish(Box::new(move || {
                    scope.publish(|| task.as_ref().publish_state(state));
                    drop_quietly(scope);
                }));
            }
        }
    }

    /// Drops the future in place and reports the child cancelled (or panicked, if the
    /// future's destructor panicked: F7).
    fn stop<T>(mut self: Pin<&mut Self>, me: &Pin<Arc<dyn RawTask>>, child: &Child<T, E>)
    where
        E: Send + 'static,
    {
        let outcome = drop_caught(self.as_mut().project().fut).map_or(Outcome::Cancelled, Outcome::Panic);
        self.finish(me, child, outcome);
    }

    /// The runtime dropped the task before it completed (for example at runtime shutdown):
    /// the future is still dropped by core, with panics caught, and the child counted.
    fn dropped<T>(self: Pin<&mut Self>, me: &Pin<Arc<dyn RawTask>>, child: &Child<T, E>)
    where
        E: Send + 'static,
    {
        if self.fut.is_some() {
            self.stop(me, child);
        }
    }

    fn poll<T>(
        mut self: Pin<&mut Self>,
        me: &Pin<Arc<dyn RawTask>>,
        child: &Child<T, E>,
        cx: &mut Context<'_>,
    ) -> Poll<()>
    where
        F: Future<Output = Result<T, E>>,
        E: Send + 'static,
        T: Send + 'static,
    {
        let mut this = self.as_mut().project();
        if this.fut.is_none() {
            return Poll::Ready(());
        }
        macro_rules! stop {
            () => {{
                self.stop(me, child);
                return Poll::Ready(());
            }};
        }
        let shielded = Extra::is_shielded(this.extra);
        if Self::must_stop(scope_of(this.scope), child, shielded) {
            stop!();
        }
        // L1: wait (FIFO) for a running slot before the first poll.
        if let Some(extra) = this.extra.as_deref_mut()
            && let Slot::Waiting(acquire) = &mut extra.slot
        {
            match Pin::new(acquire).poll(cx) {
                // Granted only after the scope began cancelling: never start (S4).
                Poll::Ready(Some(_)) if scope_of(this.scope).token.is_cancelled() && !shielded => stop!(),
                Poll::Ready(Some(permit)) => extra.slot = Slot::Held(permit),
                // The scope is cancelling: a child that never started never starts.
                Poll::Ready(None) => stop!(),
                Poll::Pending => {
                    child.task_waker.register(cx.waker());
                    if Self::must_stop(scope_of(this.scope), child, shielded) {
                        cx.waker().wake_by_ref();
                    }
                    return Poll::Pending;
                }
            }
        }
        let fut = this.fut.as_mut().as_pin_mut().expect("checked above");
        let mut drain = this.extra.as_mut().and_then(|x| x.drain.take());
        let (polled, handed) = poll_tracked(Some(&mut drain), || match this.extra.as_deref_mut() {
            Some(Extra { shield: shield @ Some(_), .. }) => {
                let _enter = Enter::new(shield);
                catch_unwind(AssertUnwindSafe(|| fut.poll(cx)))
            }
            _ => {
                let _enter = EnterScope::new(this.scope);
                catch_unwind(AssertUnwindSafe(|| fut.poll(cx)))
            }
        });
        if drain.is_some() {
            this.extra.get_or_insert_with(Extra::empty).drain = drain;
        }
        let outcome = match polled {
            Ok(Poll::Pending) => {
                child.task_waker.register(cx.waker());
                // An abort that raced the poll may have found no waker: look again.
                if Self::must_stop(scope_of(this.scope), child, shielded) {
                    cx.waker().wake_by_ref();
                }
                return Poll::Pending;
            }
            Ok(Poll::Ready(Ok(v))) => Outcome::Value(v),
            // The cancellation core handed this child in this poll, passed on (F2, F3).
            Ok(Poll::Ready(Err(e))) if handed && scope_of(this.scope).token.is_cancelled() => {
                catch_unwind(AssertUnwindSafe(move || drop(e))).map_or_else(Outcome::Panic, |()| Outcome::Cancelled)
            }
            Ok(Poll::Ready(Err(e))) => match this.extra.as_ref().and_then(|x| x.hook.as_ref()) {
                None => Outcome::Error(e),
                Some(hook) => hook.intercept(e).map_or(Outcome::Handled, Outcome::Error),
            },
            Err(p) => Outcome::Panic(p),
        };
        let outcome = with_panic(outcome, drop_caught(this.fut));
        self.finish(me, child, outcome);
        Poll::Ready(())
    }
}

impl<T, E, F> RawTask for ChildCell<T, E, Mutex<Body<F, E>>>
where
    F: Future<Output = Result<T, E>> + Send + 'static,
    E: Send + 'static,
    T: Send + 'static,
{
    fn poll(self: Pin<&Self>, me: &Pin<Arc<dyn RawTask>>, cx: &mut Context<'_>) -> Poll<()> {
        self.with_body(|body, child| body.poll(me, child, cx))
    }
    fn drop_task(self: Pin<&Self>, me: &Pin<Arc<dyn RawTask>>) {
        self.with_body(|body, child| body.dropped(me, child));
    }
    fn publish_state(self: Pin<&Self>, state: u8) {
        self.child.set_state(state);
    }
}

/// The ambient context of a shielded child (C8): the scope's runtime and live count, but a
/// token of its own, so that scopes opened inside it do not see the scope's cancellation.
struct Shield<E> {
    token: CancelToken,
    scope: Arc<Inner<E>>,
}

impl<E: Send + 'static> ScopeCtx for Shield<E> {
    fn token(&self) -> &CancelToken {
        &self.token
    }
    fn runtime(&self) -> &Arc<dyn Runtime> {
        &self.scope.rt
    }
    fn hold(&self) {
        self.scope.hold();
    }
    fn release(&self) {
        self.scope.release();
    }
    fn into_any(self: Arc<Self>) -> Arc<dyn Any + Send + Sync> {
        self
    }
}

// ---------------------------------------------------------------------------------------------
// The scope's shared state.

/// What a child's outcome does to its scope (L2, L3). The body always behaves as under
/// [`Policy::FailFast`]: its error cancels the scope (F1).
///
/// ```
/// # use taskscope_core::{Builder, BoxError, JoinError, Policy};
/// # let rt = taskscope_core::test_runtime();
/// # futures_lite::future::block_on(async {
/// // Supervise: one failure does not cancel the others; every outcome is in its handle.
/// let handles = Builder::new()
///     .runtime(rt)
///     .policy(Policy::Supervise)
///     .run(async |s| {
///         Ok::<_, BoxError>(vec![
///             s.spawn(async { Ok(1) }),
///             s.spawn(async { Err(BoxError::msg("down")) }),
///             s.spawn(async { Ok(3) }),
///         ])
///     })
///     .await
///     .unwrap();
/// let outcomes: Vec<_> = handles.into_iter().map(|h| h.result().map_err(|e| e.into_error().unwrap().to_string())).collect();
/// assert_eq!(outcomes, [Ok(1), Err("down".to_string()), Ok(3)]);
/// # });
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Policy {
    /// The default: the first error (or panic) cancels the scope, and the scope returns the
    /// [`ErrorGroup`] of every error (F1, F2), like Python's `TaskGroup`.
    #[default]
    FailFast,
    /// Collect-all (L2), like `gather(return_exceptions=True)` or Java's `awaitAll`: errors do
    /// not cancel anything; every child runs to its end and its outcome, error included, is
    /// delivered to its [`JoinHandle`]. An error whose handle was dropped goes to the scope's
    /// group instead (F3: never lost), and the scope then returns [`ScopeError::Failed`] once
    /// every child is done.
    Supervise,
    /// First-ok (L3), like AnyIO's racing patterns or Java's `anySuccessfulResultOrThrow`: the
    /// first child to succeed wins, its value stays in its handle, and the scope is cancelled
    /// ([`CancelReason::RaceWon`]) so the rest are dropped; errors do not cancel anything. If
    /// no child succeeds, the scope returns the group of every error. [`Builder::race`] is the
    /// convenient form. A win also cancels the body if it is still running; the scope then
    /// returns [`ScopeError::Cancelled`] with the `RaceWon` reason.
    Race,
}

pub(crate) struct State<E> {
    /// No more (unshielded) spawns: the scope is cancelling or finished.
    pub(crate) closed: bool,
    /// No spawns at all: the scope finished or its owner dropped it.
    pub(crate) done: bool,
    pub(crate) errors: Vec<ChildError<E>>,
    pub(crate) panic: Option<Payload>,
    /// Every child spawned, to wake them on abort. Finished children are not removed one by
    /// one (that would take this lock on every completion, contended with the spawner):
    /// the list is compacted when a spawn finds it doubled since the last compaction, or when
    /// a completing child finds it mostly finished (see [`Inner::child_done`]).
    children: Vec<Pin<Arc<dyn Abort>>>,
    compact_at: usize,
}

impl<E> State<E> {
    /// Drops the registry's references to finished children (each is the last reference
    /// once the child's handle is gone; nothing of the user's runs: a finished child's future
    /// and unread value are already dropped).
    fn compact(&mut self, registered: &AtomicUsize) {
        self.children.retain(|c| c.is_live());
        self.compact_at = (self.children.len() * 2).max(COMPACT_MIN);
        if self.children.capacity() > self.compact_at * 2 {
            self.children.shrink_to(self.compact_at);
        }
        registered.store(self.children.len(), Ordering::Relaxed);
    }
}

pub(crate) struct Inner<E> {
    pub(crate) rt: Arc<dyn Runtime>,
    pub(crate) token: CancelToken,
    pub(crate) grace: Duration,
    policy: Policy,
    /// L1: the running slots, when the scope has a limit.
    sem: Option<Arc<Semaphore>>,
    /// A deadline region (`fail_after` and friends): only its own deadline drops the body; an
    /// outer cancellation passes through it to the future inside.
    pub(crate) transparent: bool,
    /// Hard cancellation: children drop their futures at their next poll.
    pub(crate) aborted: AtomicBool,
    /// A race has a winner.
    won: AtomicBool,
    /// The owner has returned (or resumed a panic): dropping the scope future is a no-op.
    pub(crate) finished: AtomicBool,
    /// Children spawned and not yet dropped.
    pub(crate) live: AtomicUsize,
    /// The length of the registry (`State::children`), written under the lock, read without.
    registered: AtomicUsize,
    pub(crate) owner: AtomicWaker,
    pub(crate) state: Mutex<State<E>>,
    /// The enclosing scope this one holds open (see [`ScopeCtx::hold`]), and the drain of the
    /// child whose poll opened it (see [`Drain`]); both taken when released.
    enclosing: Mutex<Holds>,
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
        self.live.fetch_add(LIVE_UNIT, Ordering::AcqRel);
    }
    fn release(&self) {
        self.live_done(LIVE_UNIT);
    }
    fn into_any(self: Arc<Self>) -> Arc<dyn Any + Send + Sync> {
        self
    }
}

impl<E: Send + 'static> Inner<E> {
    /// A new scope's state, linked to the ambient scope (if any): child token, hold (S1).
    pub(crate) fn new(
        rt: Arc<dyn Runtime>,
        token: CancelToken,
        grace: Duration,
        policy: Policy,
        limit: Option<usize>,
        transparent: bool,
        enclosing: Option<Arc<dyn ScopeCtx>>,
    ) -> Arc<Self> {
        let inner = Arc::new(Inner {
            rt,
            token,
            grace,
            policy,
            sem: limit.map(Semaphore::new),
            transparent,
            aborted: AtomicBool::new(false),
            won: AtomicBool::new(false),
            finished: AtomicBool::new(false),
            live: AtomicUsize::new(0),
            registered: AtomicUsize::new(0),
            owner: AtomicWaker::new(),
            state: Mutex::new(State {
                closed: false,
                done: false,
                errors: Vec::new(),
                panic: None,
                children: Vec::new(),
                compact_at: COMPACT_MIN,
            }),
            enclosing: Mutex::new((None, None)),
            owner_gone: AtomicBool::new(false),
        });
        if let Some(e) = enclosing {
            e.hold();
            lock(&inner.enclosing).0 = Some(e);
        }
        lock(&inner.enclosing).1 = Drain::hold_current();
        inner
    }
}

impl<E> Inner<E> {
    /// Fires the token (first reason stands), then closes the scope and, with no grace period,
    /// drops every child at once (C1). With a grace period the owner runs the timer.
    pub(crate) fn cancel(&self, reason: CancelReason) {
        self.token.cancel_with(reason);
        if self.grace.is_zero() {
            self.abort();
        } else {
            self.close();
            self.owner.wake();
        }
    }

    /// No more spawns (shielded ones excepted); children waiting for a slot never start.
    pub(crate) fn close(&self) {
        lock(&self.state).closed = true;
        if let Some(sem) = &self.sem {
            sem.close();
        }
    }

    /// The number of live children (and nested scopes' holds), as reported (O1, O3): a child
    /// whose state is being published no longer counts.
    pub(crate) fn live_count(&self) -> usize {
        self.live.load(Ordering::Acquire) / LIVE_UNIT
    }

    /// `units` of live count are gone (a nested scope's hold, or the second half of a child's
    /// [`publish`](Self::publish)): wake the owner on the last one, and if the owner already
    /// dropped the scope, release our own hold on the enclosing scope (transitively, so a
    /// chain of dropped nested scopes drains in order).
    fn live_done(&self, units: usize) {
        // SeqCst pairs with the owner's store of `owner_gone` and load of `live`: at least one
        // side sees the other, so the hold is always released.
        if self.live.fetch_sub(units, Ordering::SeqCst) == units {
            self.owner.wake();
            if self.owner_gone.load(Ordering::SeqCst) {
                self.release_enclosing();
            }
        }
    }

    /// Releases the hold on the enclosing scope, and on the child that opened this scope
    /// (C9: its handle reports only once this scope has drained), once.
    pub(crate) fn release_enclosing(&self) {
        let (enclosing, drain) = {
            let mut held = lock(&self.enclosing);
            (held.0.take(), held.1.take())
        };
        if let Some(e) = enclosing {
            e.release();
        }
        if let Some(d) = drain {
            d.release();
        }
    }

    /// The owner dropped the scope future before it finished (C3): cancel, drop every child
    /// (shielded ones too: nothing can wait for them any more), and hand the hold on the
    /// enclosing scope to the last child.
    pub(crate) fn owner_dropped(&self) {
        if self.finished.load(Ordering::Acquire) {
            self.release_enclosing();
            return;
        }
        self.token.cancel_with(CancelReason::Dropped);
        lock(&self.state).done = true;
        self.owner_gone.store(true, Ordering::SeqCst);
        self.abort();
        self.wake_all();
        if self.live.load(Ordering::SeqCst) == 0 {
            self.release_enclosing();
        }
    }

    /// Closes the scope and wakes every child so that it drops its future.
    pub(crate) fn abort(&self) {
        self.close();
        if self.aborted.swap(true, Ordering::AcqRel) {
            return;
        }
        self.wake_all();
        self.owner.wake();
    }

    /// Wakes every live child so that it looks at its abort flag. Waking under the lock needs
    /// no copy of the list: a wake only schedules the child (it never polls it inline), and a
    /// child finishing meanwhile just waits for the lock to remove itself.
    fn wake_all(&self) {
        for c in &lock(&self.state).children {
            if c.is_live() {
                c.wake_task();
            }
        }
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
            drop_quietly(p);
        }
    }

    /// Records an error and cancels the scope (F1).
    pub(crate) fn fail(&self, name: Option<Name>, error: E) {
        self.collect(name.clone(), error);
        self.cancel(CancelReason::SiblingFailed { name });
    }

    /// Records an error without cancelling anything (supervise, race).
    pub(crate) fn collect(&self, name: Option<Name>, error: E) {
        lock(&self.state).errors.push(ChildError::new(name, error));
    }

    /// [`collect`](Self::collect), unless the owner already took the errors (the scope is
    /// done): then the error is given back. Decided under the lock the owner takes them
    /// under, so an error is either in the group or given back, never left behind (F3).
    fn collect_unless_done(&self, name: Option<Name>, error: E) -> Option<E> {
        let mut st = lock(&self.state);
        if st.done {
            return Some(error);
        }
        st.errors.push(ChildError::new(name, error));
        None
    }

    pub(crate) fn panicked(&self, name: Option<Name>, p: Payload) {
        self.record_panic(p);
        self.cancel(CancelReason::SiblingPanicked { name });
    }

    /// Drops a value nobody will read (one that arrived too late, F4, or whose handle is gone),
    /// catching a panic from its destructor: that panic is the child's.
    fn drop_late<V>(&self, name: &Option<Name>, v: V) -> u8 {
        if let Err(p) = catch_unwind(AssertUnwindSafe(move || drop(v))) {
            self.panicked(name.clone(), p);
            PANICKED
        } else {
            CANCELLED
        }
    }
}

impl<E> Inner<E> {
    /// A child's future is gone: record its outcome (a value for its handle, an error for the
    /// group, a panic to resume) and return the child's terminal state, which the caller then
    /// [`publish`](Self::publish)es. A shielded child was not cancelled with its scope, so its
    /// value is kept.
    pub(crate) fn child_done<T>(&self, child: &Child<T, E>, outcome: Outcome<T, E>, shielded: bool) -> u8 {
        match outcome {
            Outcome::Value(v) => {
                let keep = (shielded || !self.token.is_cancelled())
                    && (self.policy != Policy::Race || !self.won.swap(true, Ordering::AcqRel));
                if keep {
                    // Nobody can read it if the handle is gone: drop it now rather than keep it
                    // in the cell. Looked at again under the lock, which the handle's drop
                    // takes after marking itself detached, so a value never outlives both.
                    let unread = if child.detached.load(Ordering::Acquire) {
                        Some(v)
                    } else {
                        let mut out = lock(&child.output);
                        if child.detached.load(Ordering::Acquire) {
                            Some(v)
                        } else {
                            *out = Some(Ok(v));
                            None
                        }
                    };
                    if let Some(v) = unread {
                        // The child finished all the same: its state stays "finished".
                        let _ = self.drop_late(&child.name, v);
                    }
                    if self.policy == Policy::Race {
                        self.cancel(CancelReason::RaceWon { name: child.name.clone() });
                    }
                    FINISHED
                } else {
                    // F4: a value returned after cancellation began (or after a race was won)
                    // is dropped.
                    self.drop_late(&child.name, v)
                }
            }
            Outcome::Error(e) => {
                match self.policy {
                    Policy::FailFast => self.fail(child.name.clone(), e),
                    Policy::Race => self.collect(child.name.clone(), e),
                    Policy::Supervise => {
                        let mut out = lock(&child.output);
                        if child.detached.load(Ordering::Acquire) {
                            drop(out);
                            self.collect(child.name.clone(), e);
                        } else {
                            *out = Some(Err(e));
                        }
                    }
                }
                FAILED
            }
            Outcome::Handled => FAILED,
            Outcome::Panic(p) => {
                self.panicked(child.name.clone(), p);
                PANICKED
            }
            Outcome::Cancelled => CANCELLED,
        }
    }

    /// Makes a child's terminal state visible (O3): first the counts drop (the process gauge,
    /// and half of the child's live units, so [`live_count`](Self::live_count) no longer
    /// includes it), then `set_state` stores the state and wakes the handle, and only then the
    /// last unit goes, which lets the owner finish (S1): whoever sees the handle's terminal
    /// state sees counts without the child, and the scope never returns while a handle still
    /// says "running".
    pub(crate) fn publish(&self, set_state: impl FnOnce()) {
        gauge::sub();
        self.live.fetch_sub(1, Ordering::SeqCst);
        set_state();
        // The registry entry stays until the next compaction: no lock on this path, unless
        // the registry is mostly finished children (whose cells, futures' space included, it
        // keeps allocated), and then only if the lock is free.
        let registered = self.registered.load(Ordering::Relaxed);
        if registered >= 2 * COMPACT_MIN
            && self.live_count() * 4 < registered
            && let Some(mut st) = try_lock(&self.state)
        {
            st.compact(&self.registered);
        }
        self.live_done(1);
    }
}

// ---------------------------------------------------------------------------------------------
// Spawner and Scope.

/// A `'static`, cloneable handle that spawns children into a scope: give one to a child so it
/// can spawn siblings (S3). One that outlives its scope can still be called: the spawn is
/// refused and the future dropped unpolled (S4).
pub struct Spawner<E> {
    pub(crate) inner: Arc<Inner<E>>,
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
            .field("live_children", &self.inner.live_count())
            .field("token", &self.inner.token)
            .finish()
    }
}

impl<E: Send + 'static> Spawner<E> {
    /// Spawns a child. The scope waits for it; its error fails the scope (F1); its value is
    /// read through the returned handle.
    ///
    /// If the scope is cancelling or finished, `fut` is dropped without being polled and the
    /// handle reports [`ChildState::Closed`] (S4). In a scope with a concurrency
    /// [`limit`](Builder::limit) the child waits for a running slot, in spawn order, before its
    /// first poll; use [`spawn_wait`](Spawner::spawn_wait) to make the spawner itself wait
    /// (backpressure) or [`try_spawn`](Spawner::try_spawn) to be told the scope is full.
    pub fn spawn<F, T>(&self, fut: F) -> JoinHandle<T, E>
    where
        F: Future<Output = Result<T, E>> + Send + 'static,
        T: Send + 'static,
    {
        self.spawn_child(fut, Spawn::plain(None))
    }

    /// Spawns a named child: the name appears in errors, cancel reasons and handles (O1).
    pub fn spawn_named<F, T>(&self, name: impl Into<Name>, fut: F) -> JoinHandle<T, E>
    where
        F: Future<Output = Result<T, E>> + Send + 'static,
        T: Send + 'static,
    {
        self.spawn_child(fut, Spawn::plain(Some(name.into())))
    }

    /// Spawns a child if the scope has a free running slot (L1), without waiting: otherwise
    /// gives `fut` back with [`TrySpawnError::Full`] (or [`TrySpawnError::Closed`] if the scope
    /// is cancelling or finished). A scope without a limit is never full.
    ///
    /// ```
    /// # use taskscope_core::{Builder, BoxError, TrySpawnError};
    /// # let rt = taskscope_core::test_runtime();
    /// # futures_lite::future::block_on(async {
    /// Builder::new().runtime(rt).limit(1)?.run(async |s| {
    ///     let gate = s.token().child();
    ///     let g = gate.clone();
    ///     s.try_spawn(async move { g.cancelled().await; Ok(()) }).unwrap();
    ///     let refused = s.try_spawn(async { Ok(()) });
    ///     assert!(matches!(refused, Err(TrySpawnError::Full(_))));
    ///     gate.cancel();
    ///     Ok::<_, BoxError>(())
    /// }).await?;
    /// # Ok::<_, BoxError>(()) }).unwrap();
    /// ```
    pub fn try_spawn<F, T>(&self, fut: F) -> Result<JoinHandle<T, E>, TrySpawnError<F>>
    where
        F: Future<Output = Result<T, E>> + Send + 'static,
        T: Send + 'static,
    {
        let permit = match &self.inner.sem {
            None if self.is_closed() => return Err(TrySpawnError::Closed(fut)),
            None => None,
            Some(sem) => match sem.try_acquire() {
                Ok(p) => Some(p),
                Err(true) => return Err(TrySpawnError::Closed(fut)),
                Err(false) => return Err(TrySpawnError::Full(fut)),
            },
        };
        Ok(self.spawn_child(fut, Spawn { permit, ..Spawn::plain(None) }))
    }

    /// Spawns a child once the scope has a free running slot (L1): waits, first come first
    /// served, while the scope is full (backpressure, like Go's `errgroup.Go` after
    /// `SetLimit`). In a scope without a limit it spawns at once.
    ///
    /// # Cancel safety
    /// Cancel-safe: dropping the future before it completes gives up its place in the queue
    /// (a slot handed to it in the meantime passes to the next in line) and drops `fut`
    /// unpolled. If the scope starts cancelling while it waits, `fut` is dropped unpolled and
    /// the handle reports [`ChildState::Closed`] (S4).
    ///
    /// ```
    /// # use taskscope_core::{Builder, BoxError};
    /// # let rt = taskscope_core::test_runtime();
    /// # futures_lite::future::block_on(async {
    /// let total = Builder::new().runtime(rt).limit(2)?.run(async |s| {
    ///     let mut handles = Vec::new();
    ///     for i in 0..10u64 {
    ///         // At most two run at once; the body waits here while both slots are taken.
    ///         handles.push(s.spawn_wait(async move { Ok::<_, BoxError>(i * i) }).await);
    ///     }
    ///     let mut total = 0;
    ///     for h in handles { total += h.await?; }
    ///     Ok(total)
    /// }).await?;
    /// assert_eq!(total, 285);
    /// # Ok::<_, BoxError>(()) }).unwrap();
    /// ```
    pub async fn spawn_wait<F, T>(&self, fut: F) -> JoinHandle<T, E>
    where
        F: Future<Output = Result<T, E>> + Send + 'static,
        T: Send + 'static,
    {
        let Some(sem) = &self.inner.sem else { return self.spawn(fut) };
        match sem.acquire().await {
            Some(permit) => self.spawn_child(fut, Spawn { permit: Some(permit), ..Spawn::plain(None) }),
            None => Self::refused(None, fut),
        }
    }

    /// Spawns a shielded child (C8): cleanup that must run to completion. The scope's
    /// cancellation — its own `cancel`, a failure, an outer scope or token, a deadline — does
    /// not reach it: its [`current_token`] is a token of its own, it is not dropped when the
    /// siblings are, and it may be spawned while the scope is cancelling (for example from a
    /// cancelled child's destructor). It is still bounded by S1: the scope waits for it. Its
    /// own cancellation still applies ([`JoinHandle::cancel`], a deadline inside it), and the
    /// owner dropping the scope future drops it too (C3: nothing is left to wait for it).
    /// It does not count against a concurrency limit.
    ///
    /// Refused (S4) only once the scope has finished or been dropped.
    ///
    /// ```
    /// # use taskscope_core::{Builder, BoxError, ScopeError};
    /// # use std::sync::{Arc, atomic::{AtomicBool, Ordering}};
    /// # let rt = taskscope_core::test_runtime();
    /// # futures_lite::future::block_on(async {
    /// let flushed = Arc::new(AtomicBool::new(false));
    /// let f = flushed.clone();
    /// let r = Builder::new().runtime(rt).run(async |s| {
    ///     s.spawn_shielded(async move {
    ///         futures_lite::future::yield_now().await; // survives the cancel below
    ///         f.store(true, Ordering::SeqCst);
    ///         Ok::<_, BoxError>(())
    ///     });
    ///     s.cancel();
    ///     Ok(())
    /// }).await;
    /// assert!(matches!(r, Err(ScopeError::Cancelled { .. })));
    /// assert!(flushed.load(Ordering::SeqCst)); // the scope waited for it
    /// # });
    /// ```
    pub fn spawn_shielded<F, T>(&self, fut: F) -> JoinHandle<T, E>
    where
        F: Future<Output = Result<T, E>> + Send + 'static,
        T: Send + 'static,
    {
        self.spawn_child(fut, Spawn { shielded: true, ..Spawn::plain(None) })
    }

    /// Runs blocking work in the scope (B1), on the runtime's blocking pool (tokio's
    /// `spawn_blocking`, smol's `blocking::unblock`), like Python's `asyncio.to_thread`.
    ///
    /// The closure gets a token of its own, a child of the scope's: it fires when the scope is
    /// cancelled and when the returned handle's [`cancel`](JoinHandle::cancel) is called. A
    /// running closure cannot be dropped, so it should check [`CancelToken::is_cancelled`] to
    /// stop early. The scope waits for it (S1) however the scope ends; its error fails the
    /// scope and its panic resumes in the owner like any child's. If the scope is cancelled
    /// before the closure starts, it never runs. Cancelled through its handle, whatever it
    /// returns is dropped and the handle reports [`ChildState::Cancelled`] (C9). It does not
    /// count against a concurrency limit (the blocking pool bounds it).
    ///
    /// ```
    /// # use taskscope_core::{Builder, BoxError};
    /// # let rt = taskscope_core::test_runtime();
    /// # futures_lite::future::block_on(async {
    /// let sum = Builder::new().runtime(rt).run(async |s| {
    ///     let h = s.spawn_blocking(|token| {
    ///         let mut sum = 0u64;
    ///         for i in 0..1_000u64 {
    ///             if token.is_cancelled() { break; } // stop early when the scope cancels
    ///             sum += i;
    ///         }
    ///         Ok::<_, BoxError>(sum)
    ///     });
    ///     Ok(h.await?)
    /// }).await?;
    /// assert_eq!(sum, 499_500);
    /// # Ok::<_, BoxError>(()) }).unwrap();
    /// ```
    pub fn spawn_blocking<F, T>(&self, f: F) -> JoinHandle<T, E>
    where
        F: FnOnce(&CancelToken) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
    {
        let child = self.new_child(None, ());
        if !self.register(&child, false) {
            return Self::refused(None, f);
        }
        // The closure watches a token of its own, which the scope's cancellation reaches (a
        // child token) and so does the handle's `cancel` (it wakes the child's task waker,
        // which fires the token: C9).
        let token = self.inner.token.child();
        child.task_waker.register(&std::task::Waker::from(Arc::new(CancelOnWake(token.clone()))));
        let job = BlockingChild { scope: self.inner.clone(), child: child.clone(), token, f: Some(f) };
        self.inner.rt.spawn_blocking(Box::new(move || job.run()));
        JoinHandle { child }
    }

    /// Registers a child as live (S1) unless the scope refuses spawns (S4).
    fn register<C: Abort + 'static>(&self, child: &Pin<Arc<C>>, shielded: bool) -> bool {
        let mut st = lock(&self.inner.state);
        // Cancelling starts when the token fires, even before the owner closes the scope (a
        // parent's cancellation reaches the token first).
        if st.done || (!shielded && (st.closed || self.inner.token.is_cancelled())) {
            return false;
        }
        self.inner.live.fetch_add(LIVE_UNIT, Ordering::AcqRel);
        gauge::add();
        if st.children.len() >= st.compact_at {
            // Compacting a registry of mostly live children (a burst of spawns) would keep
            // them all: just let it grow.
            if self.inner.live_count() * 2 < st.children.len() {
                st.compact(&self.inner.registered);
            } else {
                st.compact_at = st.children.len() * 2;
            }
        }
        st.children.push(child.clone());
        self.inner.registered.store(st.children.len(), Ordering::Relaxed);
        true
    }

    /// A new child of this scope, with `body`; a supervised scope's children know it, so
    /// that an error left unread in a dropped handle still reaches the group (F3).
    fn new_child<T, B>(&self, name: Option<Name>, body: B) -> Pin<Arc<ChildCell<T, E, B>>> {
        let supervisor = (self.inner.policy == Policy::Supervise).then(|| Arc::downgrade(&self.inner));
        Arc::pin(ChildCell { child: Child::new(name, supervisor), body })
    }

    /// The handle of a refused spawn (S4): `work` is dropped without being run.
    fn refused<T, W>(name: Option<Name>, work: W) -> JoinHandle<T, E> {
        drop(work);
        let child = Arc::pin(ChildCell { child: Child::new(name, None), body: () });
        child.state.store(CLOSED, Ordering::Release);
        JoinHandle { child }
    }

    fn spawn_child<F, T>(&self, fut: F, how: Spawn<E>) -> JoinHandle<T, E>
    where
        F: Future<Output = Result<T, E>> + Send + 'static,
        T: Send + 'static,
    {
        let slot = match (how.permit, &self.inner.sem) {
            (Some(p), _) => Slot::Held(p),
            (None, Some(sem)) if !how.shielded => Slot::Waiting(sem.acquire()),
            (None, _) => Slot::Unlimited,
        };
        let shield: Option<Arc<dyn ScopeCtx>> = if how.shielded {
            Some(Arc::new(Shield { token: CancelToken::new(), scope: self.inner.clone() }))
        } else {
            None
        };
        let extra = match (shield, slot, how.hook) {
            (None, Slot::Unlimited, None) => None,
            (shield, slot, hook) => Some(Box::new(Extra { shield, slot, hook, drain: None })),
        };
        let body = Body { fut: Some(fut), scope: Some(self.inner.clone()), extra };
        let child = self.new_child(how.name, Mutex::new(body));
        if !self.register(&child, how.shielded) {
            // Refused (S4): the future is dropped unpolled, and nothing keeps the scope alive.
            child.state.store(CLOSED, Ordering::Release);
            child.as_ref().with_body(|mut body, _| {
                body.as_mut().project().fut.set(None);
                let this = body.project();
                (*this.scope, *this.extra) = (None, None);
            });
            return JoinHandle { child };
        }
        self.inner.rt.spawn(Task::from_raw(child.clone()));
        JoinHandle { child }
    }

    /// Starts a child and waits until it reports ready (L4, AnyIO's `task_group.start`): `f`
    /// gets a [`Ready`] reporter, and the call returns the value the child reports together
    /// with the child's handle, while the child runs on in the scope.
    ///
    /// - An error the child returns before reporting ready is returned by this call
    ///   ([`JoinError::Failed`] with the error) and does not fail the scope.
    /// - A child that ends without reporting ready gives [`JoinError::NotReady`].
    /// - Reporting twice is impossible: [`Ready::send`] consumes the reporter.
    /// - After ready, the child is an ordinary child: its error fails the scope.
    ///
    /// # Cancel safety
    /// Dropping the returned future before it completes cancels the child (C9).
    ///
    /// ```
    /// # use taskscope_core::{Builder, BoxError};
    /// # let rt = taskscope_core::test_runtime();
    /// # futures_lite::future::block_on(async {
    /// Builder::new().runtime(rt).run(async |s| {
    ///     let (port, _server) = s
    ///         .start(|ready| async move {
    ///             ready.send(8080u16); // bound and listening
    ///             // ... serve until cancelled ...
    ///             Ok::<_, BoxError>(())
    ///         })
    ///         .await?;
    ///     assert_eq!(port, 8080);
    ///     Ok(())
    /// }).await?;
    /// # Ok::<_, BoxError>(()) }).unwrap();
    /// ```
    pub fn start<V, T, F, Fut>(&self, f: F) -> Start<V, T, E>
    where
        F: FnOnce(Ready<V>) -> Fut,
        Fut: Future<Output = Result<T, E>> + Send + 'static,
        V: Send + 'static,
        T: Send + 'static,
    {
        self.start_child(None, f)
    }

    /// [`start`](Spawner::start) with a name for the child.
    pub fn start_named<V, T, F, Fut>(&self, name: impl Into<Name>, f: F) -> Start<V, T, E>
    where
        F: FnOnce(Ready<V>) -> Fut,
        Fut: Future<Output = Result<T, E>> + Send + 'static,
        V: Send + 'static,
        T: Send + 'static,
    {
        self.start_child(Some(name.into()), f)
    }

    fn start_child<V, T, F, Fut>(&self, name: Option<Name>, f: F) -> Start<V, T, E>
    where
        F: FnOnce(Ready<V>) -> Fut,
        Fut: Future<Output = Result<T, E>> + Send + 'static,
        V: Send + 'static,
        T: Send + 'static,
    {
        let slot = StartSlot::new();
        let fut = f(Ready::new(slot.clone()));
        let handle = self.spawn_child(fut, Spawn { hook: Some(slot.clone()), ..Spawn::plain(name) });
        Start::new(slot, handle)
    }
}

/// A blocking job of a scope (B1): reports its outcome, and if the pool drops it unrun (at
/// shutdown), reports it cancelled, so the scope never waits forever.
struct BlockingChild<F, T, E> {
    scope: Arc<Inner<E>>,
    child: Pin<Arc<ChildCell<T, E, ()>>>,
    token: CancelToken,
    f: Option<F>,
}

/// A blocking child's task waker: waking it (the handle's `cancel`) fires the child's token.
struct CancelOnWake(CancelToken);

impl std::task::Wake for CancelOnWake {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.0.cancel_with(CancelReason::Explicit(Name::Borrowed("JoinHandle::cancel() called")));
    }
}

impl<F, T, E> BlockingChild<F, T, E>
where
    F: FnOnce(&CancelToken) -> Result<T, E>,
{
    fn run(mut self) {
        let Some(f) = self.f.take() else { return };
        let outcome = if self.scope.aborted.load(Ordering::Acquire) || self.child.cancel.load(Ordering::Acquire) {
            // Cancelled before it started: never run it.
            drop_quietly(f);
            Outcome::Cancelled
        } else {
            match catch_unwind(AssertUnwindSafe(|| f(&self.token))) {
                // Cancelled through its handle while it ran (C9): whatever it returned is
                // dropped, and it reports "cancelled", not a failure.
                Ok(result) if self.child.cancel.load(Ordering::Acquire) => {
                    catch_unwind(AssertUnwindSafe(move || drop(result)))
                        .map_or_else(Outcome::Panic, |()| Outcome::Cancelled)
                }
                Ok(Ok(v)) => Outcome::Value(v),
                Ok(Err(e)) => Outcome::Error(e),
                Err(p) => Outcome::Panic(p),
            }
        };
        let state = self.scope.child_done(&self.child, outcome, false);
        self.scope.publish(|| self.child.set_state(state));
    }
}

impl<F, T, E> Drop for BlockingChild<F, T, E> {
    fn drop(&mut self) {
        if let Some(f) = self.f.take() {
            let outcome = match catch_unwind(AssertUnwindSafe(move || drop(f))) {
                Ok(()) => Outcome::Cancelled,
                Err(p) => Outcome::Panic(p),
            };
            let state = self.scope.child_done(&self.child, outcome, false);
            self.scope.publish(|| self.child.set_state(state));
        }
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
        self.inner.live_count()
    }

    /// Whether spawns are refused: the scope is cancelling or finished.
    pub fn is_closed(&self) -> bool {
        let st = lock(&self.inner.state);
        st.closed || st.done || self.inner.token.is_cancelled()
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
    pub(crate) spawner: Spawner<E>,
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

#[cfg(all(test, not(taskscope_loom)))]
mod tests {
    use super::*;
    use crate::builder::Builder;
    use crate::error::BoxError;

    /// Finished children leave the registry at the next compaction: a long-lived scope with
    /// many short-lived children does not grow.
    #[test]
    fn registry_stays_bounded_for_sequential_children() {
        let rt = crate::test_runtime();
        let peak = futures_lite::future::block_on(Builder::new().runtime(rt).run(async |s| {
            let mut peak = 0;
            for i in 0..1_000u32 {
                s.spawn(async move { Ok::<_, BoxError>(i) }).await?;
                peak = peak.max(lock(&s.inner.state).children.len());
            }
            Ok::<_, BoxError>(peak)
        }))
        .unwrap();
        assert!(peak <= 2 * COMPACT_MIN, "the registry grew to {peak} entries");
    }

    /// A burst of children that all finish leaves the registry small without any further
    /// spawn: completions compact it once it is mostly finished children.
    #[test]
    fn registry_shrinks_when_a_burst_of_children_finishes() {
        let rt = crate::test_runtime();
        let left = futures_lite::future::block_on(Builder::new().runtime(rt).run(async |s| {
            let gate = CancelToken::new();
            let handles: Vec<_> = (0..400)
                .map(|_| {
                    let gate = gate.clone();
                    s.spawn(async move {
                        gate.cancelled().await;
                        Ok::<_, BoxError>(())
                    })
                })
                .collect();
            gate.cancel();
            for h in handles {
                h.await?;
            }
            Ok::<_, BoxError>(lock(&s.inner.state).children.len())
        }))
        .unwrap();
        assert!(left <= 2 * COMPACT_MIN, "{left} finished children still registered");
    }

    /// A child's cell (kept alive by its handle and the registry) lets go of its scope once
    /// the child is done, refused or dropped: no reference cycle keeps a finished scope alive.
    #[test]
    fn done_children_do_not_keep_their_scope_alive() {
        let rt = crate::test_runtime();
        let (spawner, handles) = futures_lite::future::block_on(Builder::new().runtime(rt).run(async |s| {
            let done = s.spawn(async { Ok::<_, BoxError>(1u8) });
            let cancelled = s.spawn(std::future::pending::<Result<u8, BoxError>>());
            cancelled.cancel();
            Ok::<_, BoxError>((s.spawner(), [done, cancelled]))
        }))
        .unwrap();
        assert_eq!(handles.each_ref().map(JoinHandle::state), [ChildState::Finished, ChildState::Cancelled]);
        let refused = spawner.spawn(async { Ok(2u8) });
        assert_eq!(refused.state(), ChildState::Closed);
        // A child's thread may still be returning from its last `child_done` call.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while Arc::strong_count(&spawner.inner) > 1 && std::time::Instant::now() < deadline {
            std::thread::yield_now();
        }
        assert_eq!(Arc::strong_count(&spawner.inner), 1, "only the spawner we hold is left");
        drop((handles, refused));
    }
}
