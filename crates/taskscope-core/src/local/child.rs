//! A local scope's children: the cell a child shares with its [`LocalJoinHandle`] (and the
//! handle's [`LocalJoin`], which passes its end on with `?`: F2, F3), and the wrapper around
//! its future (the two live in one allocation, a [`Node`]) (abort check, slot of the limit,
//! panic capture, drop handling: C1, C8, C9, F4, F5, F7, L1); its span (O2), entered while its
//! future is polled or dropped.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::rc::{Rc, Weak};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use pin_project_lite::pin_project;

use crate::error::{JoinError, ScopeError};
use crate::limit::{Acquire, Permit};
use crate::scope::{
    ChildState, Outcome, drop_caught, drop_quietly, mark_handed_cancellation, poll_tracked, with_panic,
};
use crate::token::{CancelReason, Name};
use crate::trace::ChildSpan;

use super::ambient::Around;
use super::node::{Node, SharedNode};
use super::ready::ChildWaker;
use super::state::{ErrorSink, State};

/// What a child shares with its handle. `Cell`s only (taken and put back), which keeps it
/// small.
pub(crate) struct ChildCell<T, E> {
    pub(crate) name: Option<Name>,
    state: Cell<ChildState>,
    cancel: Cell<bool>,
    /// The child's own waker while it runs (a handle's `cancel` wakes it).
    waker: Cell<Option<Arc<ChildWaker>>>,
    join_waker: Cell<Option<Waker>>,
    /// The value, or (supervised children) the error, for the handle to take.
    pub(crate) output: Cell<Option<Result<T, E>>>,
    /// The handle was dropped: a value is dropped, a supervised error goes to the group.
    pub(crate) detached: Cell<bool>,
    /// A supervised child's scope errors (F3: an unread error is not lost).
    sink: Option<Weak<ErrorSink<E>>>,
}

impl<T, E> ChildCell<T, E> {
    pub(crate) fn new(name: Option<Name>, waker: Option<Arc<ChildWaker>>, sink: Option<Weak<ErrorSink<E>>>) -> Self {
        Self {
            name,
            state: Cell::new(ChildState::Running),
            cancel: Cell::new(false),
            waker: Cell::new(waker),
            join_waker: Cell::new(None),
            output: Cell::new(None),
            detached: Cell::new(false),
            sink,
        }
    }

    pub(crate) fn set_state(&self, state: ChildState) {
        self.state.set(state);
        drop(self.waker.take());
        if let Some(w) = self.join_waker.take() {
            w.wake();
        }
    }

    pub(crate) fn state(&self) -> ChildState {
        self.state.get()
    }

    pub(crate) fn register_join(&self, waker: &Waker) {
        let kept = self.join_waker.take().filter(|w| w.will_wake(waker));
        self.join_waker.set(Some(kept.unwrap_or_else(|| waker.clone())));
    }

    /// Queues the running child for a poll (see [`ChildWaker::schedule`]).
    pub(crate) fn schedule(&self, wake_owner: bool) {
        if let Some(w) = self.waker.take() {
            w.schedule(wake_owner);
            self.waker.set(Some(w));
        }
    }
}

/// The handle of a child of a local scope: its state, its cancellation (C9), its value.
///
/// Like [`JoinHandle`](crate::JoinHandle), but not `Send`: it belongs to the owner's thread, as
/// the child does. Awaiting it waits for the child; [`result`](LocalJoinHandle::result) takes
/// the value without waiting (always ready once the scope has returned, S1).
///
/// ```
/// use taskscope_core::{BoxError, ChildState, local_scope};
///
/// let data = vec![1, 2, 3];
/// let (sum, max) = futures_lite::future::block_on(local_scope(async |s| {
///     Ok::<_, BoxError>((s.spawn(async { Ok(data.iter().sum::<i32>()) }), s.spawn(async { Ok(data.iter().max().copied()) })))
/// }))
/// .unwrap();
/// assert_eq!(sum.state(), ChildState::Finished);
/// assert_eq!((sum.result().unwrap(), max.result().unwrap()), (6, Some(3)));
/// ```
///
/// `'env` is the scope's: the handle shares one allocation with the child's future, which may
/// borrow for `'env`, so the handle cannot outlive what the child borrows, even once the child
/// is done:
///
/// ```compile_fail
/// use taskscope_core::{BoxError, local_scope};
///
/// let handle;
/// {
///     let data = vec![1, 2, 3];
///     handle = futures_lite::future::block_on(local_scope(async |s| {
///         Ok::<_, BoxError>(s.spawn(async { Ok(data.len()) }))
///     }))
///     .unwrap();
/// } // error: `data` does not live long enough
/// drop(handle);
/// ```
pub struct LocalJoinHandle<'env, T, E> {
    pub(crate) cell: Pin<Rc<SharedNode<'env, T, E>>>,
}

impl<T, E> fmt::Debug for LocalJoinHandle<'_, T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalJoinHandle").field("name", &self.cell.name).field("state", &self.state()).finish()
    }
}

impl<T, E> Drop for LocalJoinHandle<'_, T, E> {
    fn drop(&mut self) {
        self.cell.detached.set(true);
        let Some(Err(unread)) = self.cell.output.take() else { return };
        // Delivered to this handle, never read, and the scope still running: not lost (F3).
        if let Some(sink) = self.cell.sink.as_ref().and_then(Weak::upgrade)
            && !sink.finished.get()
        {
            sink.push(self.cell.name.clone(), unread);
        }
    }
}

impl<'env, T, E> LocalJoinHandle<'env, T, E> {
    /// The child's name, if it was spawned with one.
    pub fn name(&self) -> Option<&str> {
        self.cell.name.as_deref()
    }

    /// The child's current state.
    pub fn state(&self) -> ChildState {
        self.cell.state()
    }

    /// Whether the child has reached a terminal state (its future has been dropped).
    pub fn is_finished(&self) -> bool {
        self.state() != ChildState::Running
    }

    /// Cancels this child only (C9): its future is dropped by the owner at the child's next
    /// suspension point, its state becomes [`ChildState::Cancelled`], and the scope does not
    /// fail. Does nothing if the child already completed. A shielded child is cancelled too.
    pub fn cancel(&self) {
        self.cell.cancel.set(true);
        self.cell.schedule(true);
    }

    /// The child's value without waiting: [`JoinError::Running`] if it has not completed.
    pub fn result(self) -> Result<T, JoinError<E>> {
        self.outcome()
    }

    /// Waits for the child, like awaiting the handle, but gives an error of the scope's own
    /// type `E`, so that `h.join().await?` works in a body or child whose error is the user's
    /// own enum, as [`JoinHandle::join`](crate::JoinHandle::join) does for a spawned scope.
    /// `E` needs the one conversion `?` already uses on a nested scope's result,
    /// `From<ScopeError<E>>`; with [`BoxError`](crate::BoxError) it holds as is.
    ///
    /// The error is the child's own where it was delivered to the handle (a supervised child,
    /// L2); otherwise it is a bare [`ScopeError::Cancelled`] converted into `E`, saying why the
    /// child has no value (a failed sibling, a panicked one, a cancelled or never started
    /// child). Passed on with `?` while the scope is cancelling, that error is the scope's own
    /// cancellation coming back: it is dropped, never a second member of the group (F2, F3).
    ///
    /// ```
    /// use taskscope::{ScopeError, local_scope};
    ///
    /// #[derive(Debug)]
    /// enum FetchError {
    ///     NotFound(String),
    ///     Scope(Box<ScopeError<FetchError>>),
    /// }
    ///
    /// // The conversion `?` uses for nested scopes serves handles too.
    /// impl From<ScopeError<FetchError>> for FetchError {
    ///     fn from(e: ScopeError<FetchError>) -> Self {
    ///         FetchError::Scope(Box::new(e))
    ///     }
    /// }
    ///
    /// async fn fetch(path: &str) -> Result<String, FetchError> {
    ///     match path {
    ///         "/missing" => Err(FetchError::NotFound(path.to_owned())),
    ///         _ => Ok(format!("contents of {path}")),
    ///     }
    /// }
    ///
    /// let paths = [String::from("/index"), String::from("/missing")]; // borrowed by the children
    /// let r = futures_lite::future::block_on(local_scope(async |s| {
    ///     let index = s.spawn(fetch(&paths[0]));
    ///     let missing = s.spawn(fetch(&paths[1]));
    ///     let page = index.join().await?;
    ///     missing.join().await?; // its failure has cancelled the scope: passed on, not counted twice
    ///     Ok(page)
    /// }));
    /// let Err(ScopeError::Failed(group)) = r else { panic!("expected the failure") };
    /// assert_eq!(group.len(), 1);
    /// assert!(matches!(group.cause(), FetchError::NotFound(p) if p == "/missing"));
    /// ```
    pub fn join(self) -> LocalJoin<'env, T, E>
    where
        E: From<ScopeError<E>>,
    {
        LocalJoin { handle: self }
    }

    fn outcome(&self) -> Result<T, JoinError<E>> {
        let name = self.cell.name.clone();
        match self.state() {
            ChildState::Running => Err(JoinError::Running { name }),
            ChildState::Finished => match self.cell.output.take() {
                Some(Ok(v)) => Ok(v),
                _ => panic!("LocalJoinHandle: the child's value was already taken by an earlier await"),
            },
            ChildState::Failed => {
                let error = self.cell.output.take().and_then(Result::err);
                if error.is_none() {
                    // An error-less `JoinError`: core's cancellation, handed over (F2).
                    mark_handed_cancellation();
                }
                Err(JoinError::Failed { name, error })
            }
            ChildState::Panicked => {
                mark_handed_cancellation();
                Err(JoinError::Panicked { name })
            }
            ChildState::Cancelled => {
                mark_handed_cancellation();
                Err(JoinError::Cancelled { name })
            }
            _ => {
                mark_handed_cancellation();
                Err(JoinError::Closed { name })
            }
        }
    }
}

/// Waits for the child. Once the child is done the handle is ready at once.
///
/// # Cancel safety
/// Cancel-safe: dropping the await leaves the child and its value untouched.
impl<T, E> Future for LocalJoinHandle<'_, T, E> {
    type Output = Result<T, JoinError<E>>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if self.state() == ChildState::Running {
            self.cell.register_join(cx.waker());
            return Poll::Pending;
        }
        Poll::Ready(self.outcome())
    }
}

/// The future of [`LocalJoinHandle::join`]: the child's value, or an error of the scope's own
/// type.
///
/// # Cancel safety
/// Cancel-safe, like awaiting the handle: dropping it leaves the child and its value untouched
/// (but the handle goes with it).
///
/// ```
/// use taskscope::{BoxError, LocalJoin, local_scope};
///
/// let base = 21; // borrowed by the child
/// let n = futures_lite::future::block_on(local_scope(async |s| {
///     let join: LocalJoin<'_, u32, BoxError> = s.spawn(async { Ok(base) }).join();
///     Ok::<_, BoxError>(join.await? * 2)
/// }))
/// .unwrap();
/// assert_eq!(n, 42);
/// ```
#[must_use = "futures do nothing unless polled"]
pub struct LocalJoin<'env, T, E> {
    handle: LocalJoinHandle<'env, T, E>,
}

impl<T, E> fmt::Debug for LocalJoin<'_, T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("LocalJoin").field(&self.handle).finish()
    }
}

impl<T, E: From<ScopeError<E>>> Future for LocalJoin<'_, T, E> {
    type Output = Result<T, E>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // The handle marks an error-less end as core's cancellation handed over (F2, F3).
        Pin::new(&mut self.handle).poll(cx).map(|r| r.map_err(JoinError::into_scope_type))
    }
}

/// Lets a start call take a child's error if it ends before reporting ready (L4).
pub(crate) trait LocalStartHook<E> {
    /// `None` if the error was taken (the child had not reported ready), else the error back.
    fn intercept(&self, error: E) -> Option<E>;
    /// The child ended (its future is gone, or it never started): a later report is ignored.
    fn end(&self);
}

/// Where a child of a limited scope stands with its running slot (L1).
pub(crate) enum Slot {
    Unlimited,
    Waiting(Acquire),
    Held(#[allow(dead_code)] Permit),
}

/// A child as the owner sees it: poll it, or drop its future now.
pub(crate) trait LocalChild<E> {
    /// Polls the child; on `Ready` its future is gone and its outcome recorded.
    fn poll_child(self: Pin<&Self>, cx: &mut Context<'_>, scope: &State<E>) -> Poll<()>;
    /// Drops the future now and records the child cancelled (or panicked, F7).
    fn stop(self: Pin<&Self>, scope: &State<E>);
    /// Whether the scope's cancellation passes it by (C8).
    fn is_shielded(&self) -> bool;
    /// Drops the future in place if it is still there, recording nothing: for a child the
    /// scope can no longer tell about (its arena is being dropped). A panic from the
    /// destructor is dropped too.
    fn discard(self: Pin<&Self>);
}

impl<F, T, E> LocalChild<E> for Node<T, E, RefCell<ChildTask<'_, F, E>>>
where
    F: Future<Output = Result<T, E>>,
{
    fn poll_child(self: Pin<&Self>, cx: &mut Context<'_>, scope: &State<E>) -> Poll<()> {
        self.with_body(|task, cell| task.poll_child(cx, scope, cell))
    }

    fn stop(self: Pin<&Self>, scope: &State<E>) {
        self.with_body(|task, cell| task.stop(scope, cell));
    }

    fn is_shielded(&self) -> bool {
        self.shielded
    }

    fn discard(self: Pin<&Self>) {
        self.with_body(|task, _| {
            if let Some(p) = drop_caught(task.project().fut) {
                drop_quietly(p);
            }
        });
    }
}

pin_project! {
    /// Core's wrapper around a local child's future.
    pub(crate) struct ChildTask<'h, F, E> {
        #[pin]
        fut: Option<F>,
        // What only some children have (a limit's slot, a shield, a start hook), boxed to
        // keep every child small.
        extra: Option<Box<Extra<'h, E>>>,
        shielded: bool,
        // Zero-sized without the `tracing` feature.
        span: ChildSpan,
    }
}

/// The parts of a child that only some children have.
pub(crate) struct Extra<'h, E> {
    slot: Slot,
    /// A shielded child's own context (its own token).
    shield: Option<Around>,
    hook: Option<Rc<dyn LocalStartHook<E> + 'h>>,
}

impl<'h, F, E> ChildTask<'h, F, E> {
    pub(crate) fn new(
        fut: F,
        slot: Slot,
        shield: Option<Around>,
        hook: Option<Rc<dyn LocalStartHook<E> + 'h>>,
        span: ChildSpan,
    ) -> Self {
        let shielded = shield.is_some();
        let extra = match (slot, shield, hook) {
            (Slot::Unlimited, None, None) => None,
            (slot, shield, hook) => Some(Box::new(Extra { slot, shield, hook })),
        };
        Self { fut: Some(fut), extra, shielded, span }
    }
}

/// Why a child that ended cancelled was, for its span (O2): its handle, or its scope's reason.
fn cancel_reason<T, E>(scope: &State<E>, child: &ChildCell<T, E>) -> Option<CancelReason> {
    if child.cancel.get() {
        return Some(CancelReason::Explicit(Name::Borrowed("LocalJoinHandle::cancel() called")));
    }
    scope.token.reason().cloned()
}

impl<F, E> ChildTask<'_, F, E> {
    fn must_stop<T>(&self, scope: &State<E>, cell: &ChildCell<T, E>) -> bool {
        cell.cancel.get() || (!self.shielded && scope.aborted.get())
    }

    /// The future is gone: release the slot and hook (user values inside, F7), then report
    /// the outcome to the scope and the child's span.
    fn finish<T>(self: Pin<&mut Self>, scope: &State<E>, cell: &ChildCell<T, E>, outcome: Outcome<T, E>) {
        let this = self.project();
        if let Some(hook) = this.extra.as_ref().and_then(|x| x.hook.as_ref()) {
            // Before the state is set: the start call maps the state to its error (L4).
            hook.end();
        }
        let late = this.extra.take().and_then(|extra| catch_unwind(AssertUnwindSafe(move || drop(extra))).err());
        scope.child_done(cell, with_panic(outcome, late), *this.shielded);
        this.span.end(cell.state(), || cancel_reason(scope, cell));
    }
}

impl<F, T, E> ChildTask<'_, F, E>
where
    F: Future<Output = Result<T, E>>,
{
    fn poll_child(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        scope: &State<E>,
        cell: &ChildCell<T, E>,
    ) -> Poll<()> {
        if self.fut.is_none() {
            return Poll::Ready(());
        }
        if self.must_stop(scope, cell) {
            self.stop(scope, cell);
            return Poll::Ready(());
        }
        let mut this = self.as_mut().project();
        // L1: wait (FIFO) for a running slot before the first poll.
        if let Some(Extra { slot: slot @ Slot::Waiting(_), .. }) = this.extra.as_deref_mut()
            && let Slot::Waiting(acquire) = slot
        {
            match Pin::new(acquire).poll(cx) {
                // A slot granted after the scope began cancelling: never start (S4).
                Poll::Ready(Some(_)) if scope.token.is_cancelled() => {
                    self.stop(scope, cell);
                    return Poll::Ready(());
                }
                Poll::Ready(Some(permit)) => *slot = Slot::Held(permit),
                Poll::Ready(None) => {
                    self.stop(scope, cell);
                    return Poll::Ready(());
                }
                Poll::Pending => return Poll::Pending,
            }
        }
        let fut = this.fut.as_mut().as_pin_mut().expect("checked above");
        let outcome = {
            // The child's span is entered while its future is polled and dropped (O2).
            let _entered = this.span.enter();
            // The owner's poll runs inside the scope's context; a shielded child has its own.
            let poll = || catch_unwind(AssertUnwindSafe(|| fut.poll(cx)));
            let (polled, handed) = poll_tracked(None, || match this.extra.as_ref().and_then(|x| x.shield.as_ref()) {
                Some(shield) => shield.run(poll),
                None => poll(),
            });
            let outcome = match polled {
                Ok(Poll::Pending) => return Poll::Pending,
                Ok(Poll::Ready(Ok(v))) => Outcome::Value(v),
                // The cancellation core handed this child in this poll, passed on (F2, F3).
                Ok(Poll::Ready(Err(e))) if handed && scope.token.is_cancelled() => {
                    catch_unwind(AssertUnwindSafe(move || drop(e))).map_or_else(Outcome::Panic, |()| Outcome::Cancelled)
                }
                Ok(Poll::Ready(Err(e))) => match this.extra.as_ref().and_then(|x| x.hook.as_ref()) {
                    None => Outcome::Error(e),
                    Some(hook) => hook.intercept(e).map_or(Outcome::Handled, Outcome::Error),
                },
                Err(p) => Outcome::Panic(p),
            };
            with_panic(outcome, drop_caught(this.fut))
        };
        self.finish(scope, cell, outcome);
        Poll::Ready(())
    }

    fn stop(mut self: Pin<&mut Self>, scope: &State<E>, cell: &ChildCell<T, E>) {
        if self.fut.is_none() {
            return;
        }
        let this = self.as_mut().project();
        let outcome = {
            let _entered = this.span.enter();
            drop_caught(this.fut).map_or(Outcome::Cancelled, Outcome::Panic)
        };
        self.finish(scope, cell, outcome);
    }
}
