//! Start-and-wait-ready for local children (L4): [`LocalReady`] and [`LocalStart`].
//!
//! The report and the child's end are decided by the spawned scope's own start slot: whichever
//! comes first decides, once; a report after the child ended (or failed) is dropped.

use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use crate::error::JoinError;
use crate::scope::{ChildState, Policy, ended_without_value};
use crate::start::{Report, StartSlot};
use crate::token::{CancelReason, CancelToken};

use super::child::{LocalJoinHandle, LocalStartHook};
use super::state::ErrorSink;

/// What a started child's wrapper and its [`LocalStart`] share: the spawned scope's start slot
/// (which decides between the report and the child's end), and the child's error when the slot
/// decided that it failed before reporting ready. The slot holds no error itself, so that
/// [`LocalReady`] names only the value's type.
pub(crate) struct LocalStartSlot<V, E> {
    slot: Rc<StartSlot<V, ()>>,
    error: RefCell<Option<E>>,
}

impl<V, E> LocalStartSlot<V, E> {
    pub(crate) fn new() -> Rc<Self> {
        Rc::new(Self { slot: Rc::new(StartSlot::waiting()), error: RefCell::new(None) })
    }

    pub(crate) fn reporter(&self) -> LocalReady<V> {
        LocalReady { slot: self.slot.clone() }
    }
}

impl<V, E> LocalStartHook<E> for LocalStartSlot<V, E> {
    fn intercept(&self, error: E) -> Option<E> {
        match self.slot.take_error(()) {
            Some(()) => Some(error),
            None => {
                *self.error.borrow_mut() = Some(error);
                None
            }
        }
    }

    fn end(&self) {
        self.slot.ended();
    }
}

/// The reporter a child started with [`LocalSpawner::start`](super::LocalSpawner::start) uses
/// to say it is ready. [`send`](LocalReady::send) consumes it, so reporting twice does not
/// compile:
///
/// ```compile_fail
/// # fn f(ready: taskscope_core::LocalReady<u16>) {
/// ready.send(1);
/// ready.send(2); // error: use of moved value
/// # }
/// ```
///
/// It may be moved to another child of the scope; whichever comes first, the report or the
/// started child's end, decides: a report made after the child ended (or failed) is dropped,
/// and the start call returns [`JoinError::NotReady`] (or the child's error).
#[must_use = "a started child must report ready with `send`, or its start call fails"]
pub struct LocalReady<V> {
    slot: Rc<StartSlot<V, ()>>,
}

impl<V> fmt::Debug for LocalReady<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalReady").finish_non_exhaustive()
    }
}

impl<V> LocalReady<V> {
    /// Reports ready with `value`: the start call returns it, unless the child already ended.
    pub fn send(self, value: V) {
        self.slot.report(value);
    }
}

/// The future returned by [`LocalSpawner::start`](super::LocalSpawner::start): resolves once
/// the child reports ready (with the value it reported and its handle), or ends first (with
/// why).
///
/// # Cancel safety
/// Dropping it before it completes cancels the child (C9); an error the child returned before
/// reporting ready then goes to the scope (F3: never lost).
#[must_use = "futures do nothing unless polled; dropping a `LocalStart` cancels its child"]
pub struct LocalStart<'env, V, T, E> {
    slot: Rc<LocalStartSlot<V, E>>,
    handle: Option<LocalJoinHandle<'env, T, E>>,
    scope: ScopeOf<E>,
}

/// Where a dropped [`LocalStart`]'s early error goes: the scope's errors, and under fail-fast
/// its token (the scope then cancels itself as for any child's error, F1).
pub(crate) struct ScopeOf<E> {
    pub(crate) sink: Rc<ErrorSink<E>>,
    pub(crate) token: CancelToken,
    pub(crate) policy: Policy,
}

impl<V, T, E> fmt::Debug for LocalStart<'_, V, T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalStart").field("handle", &self.handle).finish()
    }
}

impl<'env, V, T, E> LocalStart<'env, V, T, E> {
    pub(crate) fn new(slot: Rc<LocalStartSlot<V, E>>, handle: LocalJoinHandle<'env, T, E>, scope: ScopeOf<E>) -> Self {
        Self { slot, handle: Some(handle), scope }
    }
}

impl<'env, V, T, E> Future for LocalStart<'env, V, T, E> {
    type Output = Result<(V, LocalJoinHandle<'env, T, E>), JoinError<E>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let Some(handle) = this.handle.as_ref() else {
            panic!("`LocalStart` polled after it completed");
        };
        let slot = &this.slot.slot;
        if let Some(v) = slot.take_ready() {
            return Poll::Ready(Ok((v, this.handle.take().expect("checked above"))));
        }
        let state = handle.state();
        if state == ChildState::Running {
            slot.waker.register(cx.waker());
            handle.cell.register_join(cx.waker());
            return Poll::Pending;
        }
        // The child has ended: the slot says which came first, its end or the report.
        let report = slot.settle();
        let handle = this.handle.take().expect("checked above");
        let name = handle.cell.name.clone();
        Poll::Ready(match (report, state) {
            // Reported ready before it ended: started after all.
            (Report::Ready(v), _) => Ok((v, handle)),
            (Report::Failed(()), _) => Err(JoinError::Failed { name, error: this.slot.error.borrow_mut().take() }),
            (_, ChildState::Finished) => Err(JoinError::NotReady { name }),
            (_, state) => Err(ended_without_value(state, name, None)),
        })
    }
}

impl<V, T, E> Drop for LocalStart<'_, V, T, E> {
    fn drop(&mut self) {
        let Some(h) = self.handle.take() else { return };
        // An early error already taken by the slot has nobody to go to but the scope; one that
        // comes later takes the child's ordinary error path (the slot is abandoned).
        let unclaimed = self.slot.slot.abandon().and_then(|()| self.slot.error.borrow_mut().take());
        h.cancel();
        let Some(error) = unclaimed else { return };
        let ScopeOf { sink, token, policy } = &self.scope;
        if sink.finished.get() {
            // The scope already returned: like an unread error in a dropped handle, it is this
            // future's to drop.
            return;
        }
        let name = h.cell.name.clone();
        sink.push(name.clone(), error);
        if *policy == Policy::FailFast {
            token.cancel_with(CancelReason::SiblingFailed { name });
        }
    }
}
