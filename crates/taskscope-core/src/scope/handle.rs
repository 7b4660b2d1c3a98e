//! A child's shared state and its [`JoinHandle`] (C9, O1, O3, F3): what a handle reads, when
//! it reports a terminal state, and what an unread value or error does when it is dropped.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use super::ambient::mark_handed_cancellation;
use super::body::{ChildInfo, End, dispose};
use super::table::HandleSlot;
use crate::erased::ErasedJoin;
use crate::error::{JoinError, ScopeError};
use crate::token::Name;

pub(super) const RUNNING: u8 = 0;
pub(super) const FINISHED: u8 = 1;
pub(super) const FAILED: u8 = 2;
pub(super) const PANICKED: u8 = 3;
pub(super) const CANCELLED: u8 = 4;
pub(super) const CLOSED: u8 = 5;

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

/// A child's state as reported, from the value stored in its cell.
pub(super) fn child_state(state: u8) -> ChildState {
    match state {
        RUNNING => ChildState::Running,
        FINISHED => ChildState::Finished,
        FAILED => ChildState::Failed,
        PANICKED => ChildState::Panicked,
        CANCELLED => ChildState::Cancelled,
        _ => ChildState::Closed,
    }
}

/// A typed handle to a child: await it for the child's value, read its state, cancel it.
///
/// Dropping the handle does nothing to the child: the scope owns it. A value it never read is
/// dropped with it; a supervised child's unread error goes to the scope's group unless the
/// scope has returned (F3). Awaiting the handle of a
/// failed child gives [`JoinError::Failed`]; under the default policy the error itself is in
/// the scope's [`ErrorGroup`](crate::ErrorGroup), so it is never reported twice (F3).
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
    /// The handle's side of the child's slot: its state and its cancellation. `None` for a
    /// refused spawn, which never ran (S4).
    slot: Option<HandleSlot>,
    /// Where the child's end comes from: the runtime's join handle, then what it gave.
    join: JoinState<T, E>,
    /// The child's name (and supervisor), shared with its task.
    info: Option<Arc<ChildInfo<E>>>,
}

// A handle never pins what it holds (the value is only moved out): it is `Unpin` whatever
// `T` and `E` are, so it can be polled in place and awaited by reference.
impl<T, E> Unpin for JoinHandle<T, E> {}

/// The child's end as the handle holds it.
enum JoinState<T, E> {
    /// The runtime's join handle: it yields the child's [`End`] once the task returned it.
    Waiting(ErasedJoin<End<T, E>>),
    /// The end arrived (or never will): what it carried for this handle, if not taken yet.
    Ended(Option<Result<T, E>>),
}

impl<T, E> fmt::Debug for JoinHandle<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle").field("name", &self.name()).field("state", &self.state()).finish()
    }
}

impl<T, E> Drop for JoinHandle<T, E> {
    fn drop(&mut self) {
        let Some(slot) = self.slot.take() else { return };
        // The child ended while this handle was alive and left its end for it: dispose of
        // what this handle never read, here, before the drop returns (a value's destructor
        // unwinds here, as any value's would; an error reaches the group before a body that
        // dropped the handle returns, F3).
        if !slot.release() {
            return;
        }
        let kept = match &mut self.join {
            JoinState::Ended(kept) => kept.take(),
            JoinState::Waiting(join) => take_end(join),
        };
        if let Some(kept) = kept {
            // An error delivered to this handle and never read, while the scope still runs:
            // not lost (F3). Once the scope has taken its errors it is this handle's to drop.
            drop(dispose(kept, &self.info));
        }
    }
}

/// What a child whose state is terminal left for its handle. Its task has returned its end or
/// is returning it: a multi-thread runtime's worker may still be storing the end for a moment
/// (no user code runs in that window), which this waits for.
fn take_end<T, E>(join: &mut ErasedJoin<End<T, E>>) -> Option<Result<T, E>> {
    while !join.is_finished() {
        crate::sync::spin_yield();
    }
    match join.poll_join(&mut Context::from_waker(std::task::Waker::noop())) {
        Poll::Ready(Some(mut end)) => end.kept.take(),
        _ => None,
    }
}

impl<T, E> JoinHandle<T, E> {
    /// The handle of a spawned child.
    pub(super) fn new(slot: HandleSlot, join: ErasedJoin<End<T, E>>, info: Option<Arc<ChildInfo<E>>>) -> Self {
        Self { slot: Some(slot), join: JoinState::Waiting(join), info }
    }

    /// The handle of a refused spawn (S4): closed, with nothing to wait for.
    pub(super) fn refused(info: Option<Arc<ChildInfo<E>>>) -> Self {
        Self { slot: None, join: JoinState::Ended(None), info }
    }

    /// The child's name, if it was spawned with one.
    pub fn name(&self) -> Option<&str> {
        ChildInfo::name(&self.info).map(|n| &**n)
    }

    pub(crate) fn owned_name(&self) -> Option<Name> {
        ChildInfo::name(&self.info).cloned()
    }

    /// The state stored in the child's slot (`CLOSED` for a refused spawn).
    fn raw_state(&self) -> u8 {
        self.slot.as_ref().map_or(CLOSED, HandleSlot::state)
    }

    /// Waits until the child's end has arrived (the state is then terminal), without taking
    /// what it carries. Registers `cx` with the runtime's join handle.
    pub(crate) fn poll_ended(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let JoinState::Waiting(join) = &mut self.join else { return Poll::Ready(()) };
        match join.poll_join(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Some(mut end)) => {
                self.join = JoinState::Ended(end.kept.take());
                Poll::Ready(())
            }
            // The runtime dropped the task (shutdown). Its end is published by core in the
            // task's drop, or, for a child waiting for the scopes it opened, by the last of
            // them to drain (C9): until then the state still says running.
            Poll::Ready(None) if self.raw_state() == RUNNING => {
                cx.waker().wake_by_ref();
                Poll::Pending
            }
            Poll::Ready(None) => {
                self.join = JoinState::Ended(None);
                Poll::Ready(())
            }
        }
    }

    /// The child's current state.
    pub fn state(&self) -> ChildState {
        child_state(self.raw_state())
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
        if let Some(slot) = &self.slot {
            slot.cancel();
        }
    }

    /// The child's value without waiting: [`JoinError::Running`] if it has not completed.
    ///
    /// Always ready once the scope has returned (S1), so this is how results are harvested
    /// after the scope, like Python's `task.result()`.
    ///
    /// ```
    /// # use taskscope::BlockOn;
    /// # taskscope::smol::SmolBackend::single_thread().block_on(async {
    /// use taskscope::BoxError;
    ///
    /// let (users, orders) = taskscope::scope(async |s| {
    ///     Ok((s.spawn(async { Ok::<_, BoxError>(5) }), s.spawn(async { Ok::<_, BoxError>(6) })))
    /// })
    /// .await?;
    /// // The scope has returned, so every child has completed.
    /// assert_eq!(users.result()? + orders.result()?, 11);
    /// # Ok::<_, BoxError>(()) }).unwrap();
    /// ```
    pub fn result(mut self) -> Result<T, JoinError<E>> {
        let state = self.raw_state();
        if state != RUNNING
            && let JoinState::Waiting(join) = &mut self.join
        {
            self.join = JoinState::Ended(take_end(join));
        }
        self.outcome(state)
    }

    /// Waits for the child, like awaiting the handle, but gives an error of the scope's own
    /// type `E`, so that `h.join().await?` works in a body or child whose error is the user's
    /// own enum. `E` needs the one conversion `?` already uses on a nested scope's result,
    /// `From<ScopeError<E>>`; with [`BoxError`](crate::BoxError) it holds as is.
    ///
    /// The error is the child's own where it was delivered to the handle (a supervised child,
    /// L2); otherwise it is a bare [`ScopeError::Cancelled`] converted into `E`, saying why the
    /// child has no value (a failed sibling, a panicked one, a cancelled or never started
    /// child). Passed on with `?` while the scope is cancelling, that error is the scope's own
    /// cancellation coming back: it is dropped, never a second member of the group (F2, F3).
    ///
    /// ```
    /// # use taskscope::BlockOn;
    /// # taskscope::smol::SmolBackend::single_thread().block_on(async {
    /// use taskscope::ScopeError;
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
    /// let r = taskscope::scope(async |s| {
    ///     let index = s.spawn(fetch("/index"));
    ///     let missing = s.spawn(fetch("/missing"));
    ///     let page = index.join().await?;
    ///     missing.join().await?; // its failure has cancelled the scope: passed on, not counted twice
    ///     Ok(page)
    /// })
    /// .await;
    /// let Err(ScopeError::Failed(group)) = r else { panic!("expected the failure") };
    /// assert_eq!(group.len(), 1);
    /// assert!(matches!(group.cause(), FetchError::NotFound(p) if p == "/missing"));
    /// # });
    /// ```
    pub fn join(self) -> Join<T, E>
    where
        E: From<ScopeError<E>>,
    {
        Join { handle: self }
    }

    fn outcome(&mut self, state: u8) -> Result<T, JoinError<E>> {
        let name = self.owned_name();
        let kept = match &mut self.join {
            JoinState::Ended(kept) => kept.take(),
            JoinState::Waiting(_) => None,
        };
        match state {
            RUNNING => Err(JoinError::Running { name }),
            FINISHED => match kept {
                Some(Ok(v)) => Ok(v),
                _ => panic!("JoinHandle: the child's value was already taken by an earlier await"),
            },
            _ => Err(ended_without_value(child_state(state), name, kept.and_then(Result::err))),
        }
    }
}

/// Why a child that ended in `state` (failed, panicked, cancelled or never started) has no value
/// to give, as its handle or its start call reports it. An error-less answer is core's
/// cancellation handed to the caller as a value: it is marked as such (F2, F3).
pub(crate) fn ended_without_value<E>(state: ChildState, name: Option<Name>, error: Option<E>) -> JoinError<E> {
    let err = match (state, error) {
        (ChildState::Failed, Some(error)) => return JoinError::Failed { name, error: Some(error) },
        (ChildState::Failed, None) => JoinError::Failed { name, error: None },
        (ChildState::Panicked, _) => JoinError::Panicked { name },
        (ChildState::Cancelled, _) => JoinError::Cancelled { name },
        _ => JoinError::Closed { name },
    };
    mark_handed_cancellation();
    err
}

/// Waits for the child. Once the child is done the handle is ready at once.
///
/// # Cancel safety
/// Cancel-safe: dropping the await leaves the child and its value untouched.
impl<T, E> Future for JoinHandle<T, E> {
    type Output = Result<T, JoinError<E>>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        if this.poll_ended(cx).is_pending() {
            return Poll::Pending;
        }
        let state = this.raw_state();
        Poll::Ready(this.outcome(state))
    }
}

/// The future of [`JoinHandle::join`]: the child's value, or an error of the scope's own type.
///
/// # Cancel safety
/// Cancel-safe, like awaiting the handle: dropping it leaves the child and its value untouched
/// (but the handle goes with it).
#[must_use = "futures do nothing unless polled"]
pub struct Join<T, E> {
    handle: JoinHandle<T, E>,
}

impl<T, E> fmt::Debug for Join<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Join").field(&self.handle).finish()
    }
}

impl<T, E: From<ScopeError<E>>> Future for Join<T, E> {
    type Output = Result<T, E>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.handle).poll(cx).map(|r| r.map_err(JoinError::into_scope_type))
    }
}
