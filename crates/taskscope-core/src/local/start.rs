//! Start-and-wait-ready for local children (L4): [`LocalReady`] and [`LocalStart`].

use std::cell::{Cell, RefCell};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use crate::error::JoinError;
use crate::scope::{ChildState, mark_handed_cancellation};

use super::child::{LocalJoinHandle, LocalStartHook};

/// What the reporter and the start call share: the reported value.
struct ReadyCell<V> {
    value: RefCell<Option<V>>,
    readied: Cell<bool>,
    /// The child ended with an error before reporting: a later report is ignored (F3).
    failed: Cell<bool>,
    waker: RefCell<Option<Waker>>,
}

/// What a started child's wrapper and its [`LocalStart`] share.
pub(crate) struct LocalStartSlot<V, E> {
    ready: Rc<ReadyCell<V>>,
    /// The child's error, taken before it reported ready.
    error: RefCell<Option<E>>,
}

impl<V, E> LocalStartSlot<V, E> {
    pub(crate) fn new() -> Rc<Self> {
        let ready = ReadyCell {
            value: RefCell::new(None),
            readied: Cell::new(false),
            failed: Cell::new(false),
            waker: RefCell::new(None),
        };
        Rc::new(Self { ready: Rc::new(ready), error: RefCell::new(None) })
    }

    pub(crate) fn reporter(&self) -> LocalReady<V> {
        LocalReady { cell: self.ready.clone() }
    }
}

impl<V, E> LocalStartHook<E> for LocalStartSlot<V, E> {
    fn intercept(&self, error: E) -> Option<E> {
        if self.ready.readied.get() {
            Some(error)
        } else {
            *self.error.borrow_mut() = Some(error);
            self.ready.failed.set(true);
            None
        }
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
/// started child's end, decides.
#[must_use = "a started child must report ready with `send`, or its start call fails"]
pub struct LocalReady<V> {
    cell: Rc<ReadyCell<V>>,
}

impl<V> fmt::Debug for LocalReady<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalReady").finish_non_exhaustive()
    }
}

impl<V> LocalReady<V> {
    /// Reports ready with `value`: the start call returns it.
    pub fn send(self, value: V) {
        let c = &self.cell;
        if c.failed.get() {
            return;
        }
        *c.value.borrow_mut() = Some(value);
        c.readied.set(true);
        if let Some(w) = c.waker.borrow_mut().take() {
            w.wake();
        }
    }
}

/// The future returned by [`LocalSpawner::start`](super::LocalSpawner::start): resolves once
/// the child reports ready (with the value it reported and its handle), or ends first (with
/// why).
///
/// # Cancel safety
/// Dropping it before it completes cancels the child (C9).
#[must_use = "futures do nothing unless polled; dropping a `LocalStart` cancels its child"]
pub struct LocalStart<V, T, E> {
    slot: Rc<LocalStartSlot<V, E>>,
    handle: Option<LocalJoinHandle<T, E>>,
}

impl<V, T, E> fmt::Debug for LocalStart<V, T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalStart").field("handle", &self.handle).finish()
    }
}

impl<V, T, E> LocalStart<V, T, E> {
    pub(crate) fn new(slot: Rc<LocalStartSlot<V, E>>, handle: LocalJoinHandle<T, E>) -> Self {
        Self { slot, handle: Some(handle) }
    }
}

impl<V, T, E> Future for LocalStart<V, T, E> {
    type Output = Result<(V, LocalJoinHandle<T, E>), JoinError<E>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let Some(handle) = this.handle.as_ref() else {
            panic!("`LocalStart` polled after it completed");
        };
        if let Some(v) = this.slot.ready.value.borrow_mut().take() {
            return Poll::Ready(Ok((v, this.handle.take().expect("checked above"))));
        }
        let state = handle.state();
        if state == ChildState::Running {
            *this.slot.ready.waker.borrow_mut() = Some(cx.waker().clone());
            handle.cell.register_join(cx.waker());
            return Poll::Pending;
        }
        let handle = this.handle.take().expect("checked above");
        let name = handle.cell.name.clone();
        let err = match state {
            ChildState::Failed => JoinError::Failed { name, error: this.slot.error.borrow_mut().take() },
            ChildState::Finished => JoinError::NotReady { name },
            ChildState::Panicked => JoinError::Panicked { name },
            ChildState::Cancelled => JoinError::Cancelled { name },
            _ => JoinError::Closed { name },
        };
        if matches!(err, JoinError::Panicked { .. } | JoinError::Cancelled { .. } | JoinError::Closed { .. }) {
            // An error-less `JoinError`: core's cancellation, handed over (F2).
            mark_handed_cancellation();
        }
        Poll::Ready(Err(err))
    }
}

impl<V, T, E> Drop for LocalStart<V, T, E> {
    fn drop(&mut self) {
        if let Some(h) = self.handle.take() {
            h.cancel();
        }
    }
}
