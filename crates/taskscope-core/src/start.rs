//! Start-and-wait-ready (L4): [`Spawner::start`](crate::Spawner::start), [`Ready`], [`Start`].

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use futures_util::task::AtomicWaker;

use crate::error::JoinError;
use crate::scope::{ChildState, JoinHandle, StartHook};
use crate::util::lock;

/// What a started child and its [`Start`] future share.
pub(crate) struct StartSlot<V, E> {
    value: Mutex<Option<V>>,
    readied: AtomicBool,
    /// The child's error, taken before it reported ready.
    error: Mutex<Option<E>>,
    waker: AtomicWaker,
}

impl<V, E> StartSlot<V, E> {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Self {
            value: Mutex::new(None),
            readied: AtomicBool::new(false),
            error: Mutex::new(None),
            waker: AtomicWaker::new(),
        })
    }
}

impl<V: Send, E: Send> StartHook<E> for StartSlot<V, E> {
    fn intercept(&self, error: E) -> Option<E> {
        // `send` happened before the child returned (same task), so this load sees it.
        if self.readied.load(Ordering::Acquire) {
            Some(error)
        } else {
            *lock(&self.error) = Some(error);
            None
        }
    }
}

trait ReadySink<V>: Send + Sync {
    fn send(&self, value: V);
}

impl<V: Send, E: Send> ReadySink<V> for StartSlot<V, E> {
    fn send(&self, value: V) {
        *lock(&self.value) = Some(value);
        self.readied.store(true, Ordering::Release);
        self.waker.wake();
    }
}

/// The reporter a child started with [`Spawner::start`](crate::Spawner::start) uses to say it
/// is ready. [`send`](Ready::send) consumes it, so reporting twice does not compile:
///
/// ```compile_fail
/// # fn f(ready: taskscope_core::Ready<u16>) {
/// ready.send(1);
/// ready.send(2); // error: use of moved value
/// # }
/// ```
///
/// Dropping it without sending is allowed: if the child then ends, the start call gets
/// [`JoinError::NotReady`].
#[must_use = "a started child must report ready with `send`, or its start call fails"]
pub struct Ready<V> {
    sink: Arc<dyn ReadySink<V>>,
}

impl<V> fmt::Debug for Ready<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ready").finish_non_exhaustive()
    }
}

impl<V: Send + 'static> Ready<V> {
    pub(crate) fn new<E: Send + 'static>(slot: Arc<StartSlot<V, E>>) -> Self {
        Self { sink: slot }
    }

    /// Reports ready with `value`: the start call returns it.
    pub fn send(self, value: V) {
        self.sink.send(value);
    }
}

/// The future returned by [`Spawner::start`](crate::Spawner::start): resolves once the child
/// reports ready (with the value it reported and its handle), or ends first (with why).
///
/// # Cancel safety
/// Dropping it before it completes cancels the child (C9): a start that is given up never
/// leaves a half-started child behind.
#[must_use = "futures do nothing unless polled; dropping a `Start` cancels its child"]
pub struct Start<V, T, E> {
    slot: Arc<StartSlot<V, E>>,
    handle: Option<JoinHandle<T, E>>,
}

impl<V, T, E> fmt::Debug for Start<V, T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Start").field("handle", &self.handle).finish()
    }
}

impl<V, T, E> Start<V, T, E> {
    pub(crate) fn new(slot: Arc<StartSlot<V, E>>, handle: JoinHandle<T, E>) -> Self {
        Self { slot, handle: Some(handle) }
    }
}

impl<V, T, E> Future for Start<V, T, E> {
    type Output = Result<(V, JoinHandle<T, E>), JoinError<E>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let Some(handle) = this.handle.as_ref() else {
            panic!("`Start` polled after it completed");
        };
        let slot = this.slot.clone();
        let ready = || lock(&slot.value).take();
        if let Some(v) = ready() {
            return Poll::Ready(Ok((v, this.handle.take().expect("checked above"))));
        }
        slot.waker.register(cx.waker());
        handle.child.join_waker.register(cx.waker());
        if let Some(v) = ready() {
            return Poll::Ready(Ok((v, this.handle.take().expect("checked above"))));
        }
        let state = handle.state();
        if state == ChildState::Running {
            return Poll::Pending;
        }
        // The child ended: it may have reported ready just before.
        if let Some(v) = ready() {
            return Poll::Ready(Ok((v, this.handle.take().expect("checked above"))));
        }
        let handle = this.handle.take().expect("checked above");
        let name = handle.child.name.clone();
        let err = match state {
            ChildState::Failed => JoinError::Failed { name, error: lock(&this.slot.error).take() },
            ChildState::Finished => JoinError::NotReady { name },
            ChildState::Panicked => JoinError::Panicked { name },
            ChildState::Cancelled => JoinError::Cancelled { name },
            _ => JoinError::Closed { name },
        };
        Poll::Ready(Err(err))
    }
}

impl<V, T, E> Drop for Start<V, T, E> {
    fn drop(&mut self) {
        if let Some(h) = self.handle.take() {
            h.cancel();
        }
    }
}
