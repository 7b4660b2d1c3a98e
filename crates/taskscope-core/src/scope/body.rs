//! Core's wrapper around every child's future (C1, C8, F5, F7, L1, L4): its own abort check,
//! its running slot under a limit, panic capture, the drop of its future in place, and what it
//! hands to the scope when the future is gone; its span (O2), entered while its future is
//! polled or dropped.

use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;

use super::ambient::{Drain, ScopeCtx, poll_in};
use super::cell::ChildCell;
use super::handle::{Child, child_state};
use super::inner::Inner;
use super::outcome::{Outcome, Payload};
use super::table::TaskSlot;
use crate::limit::{Acquire, Permit};
use crate::runtime::RawTask;
use crate::sync::{Mutex, Ordering};
use crate::token::{CancelReason, Name};
use crate::trace::ChildSpan;

/// Lets [`Spawner::start`] take a child's error if it ends before reporting ready (L4).
pub(crate) trait StartHook<E>: Send + Sync {
    /// `None` if the error was taken (the child had not reported ready), else the error back.
    fn intercept(&self, error: E) -> Option<E>;
    /// The child ended (its future is gone): a report that comes later is ignored.
    fn end(&self);
}

/// Where a child of a limited scope (L1) stands with its permit.
pub(super) enum Slot {
    Unlimited,
    Waiting(Acquire),
    Held(#[allow(dead_code)] Permit),
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
        // The task's side of the child's slot (state, cancellation, waker); `None` once the
        // child's state is published, or handed to a deferred publication.
        task: Option<TaskSlot>,
        // Zero-sized without the `tracing` feature.
        span: ChildSpan,
    }
}

/// The parts of a child's body that only some children have.
pub(super) struct Extra<E> {
    /// A shielded child's own ambient context (C8).
    pub(super) shield: Option<Arc<dyn ScopeCtx>>,
    /// A limited scope's child's running slot (L1).
    pub(super) slot: Slot,
    /// A started child's hook (L4).
    pub(super) hook: Option<Arc<dyn StartHook<E>>>,
    /// The scopes this child opened, for its handle to wait for (C9).
    pub(super) drain: Option<Arc<Drain>>,
}

impl<E> Extra<E> {
    pub(super) fn empty() -> Box<Self> {
        Box::new(Self { shield: None, slot: Slot::Unlimited, hook: None, drain: None })
    }

    pub(super) fn is_shielded(extra: &Option<Box<Self>>) -> bool {
        extra.as_ref().is_some_and(|x| x.shield.is_some())
    }
}

/// A child's scope, outside its poll.
fn scope_of<E>(scope: &Option<Arc<Inner<E>>>) -> &Inner<E> {
    scope.as_deref().expect("taskscope: a child's scope is only lent out during its own poll")
}

/// `outcome`, unless dropping what the child left behind panicked (`late`): a panic wins over
/// any other outcome, and only the first panic of a child is kept.
pub(crate) fn with_panic<T, E>(outcome: Outcome<T, E>, late: Option<Payload>) -> Outcome<T, E> {
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

/// Why a child that ended cancelled was, for its span (O2): `by_handle` if its handle cancelled
/// it.
pub(super) fn cancel_reason<E>(scope: &Inner<E>, by_handle: bool) -> Option<CancelReason> {
    if by_handle {
        return Some(CancelReason::Explicit(Name::Borrowed("JoinHandle::cancel() called")));
    }
    // Core drops a child's future only once its scope's token fired, or its handle cancelled
    // it: otherwise its runtime dropped it (at shutdown).
    Some(
        scope.token.reason().cloned().unwrap_or(CancelReason::Explicit(Name::Borrowed("the runtime dropped the task"))),
    )
}

/// Drops `v`, ignoring a panic from its destructor: for what nobody can be told about.
pub(crate) fn drop_quietly<V>(v: V) {
    let _ = catch_unwind(AssertUnwindSafe(move || drop(v)));
}

/// Drops a pinned future in place, catching a panic from its destructor (F7).
pub(crate) fn drop_caught<F>(mut fut: Pin<&mut Option<F>>) -> Option<Payload> {
    catch_unwind(AssertUnwindSafe(|| fut.set(None))).err().inspect(|_| {
        // Assignment writes `None` even when the old value's destructor unwinds.
        debug_assert!(fut.is_none());
    })
}

/// A started child's future has returned or is about to be dropped: its start call's report
/// window closes now, before the future (and anything in it that could report) goes (L4).
fn end_start<E>(extra: &Option<Box<Extra<E>>>) {
    if let Some(hook) = extra.as_ref().and_then(|x| x.hook.as_ref()) {
        hook.end();
    }
}

impl<F, E> Body<F, E> {
    pub(super) fn new(
        fut: F,
        scope: Arc<Inner<E>>,
        extra: Option<Box<Extra<E>>>,
        task: TaskSlot,
        name: Option<&Name>,
    ) -> Self {
        let span = ChildSpan::new(&scope.span, name, Some(&scope.rt));
        Self { fut: Some(fut), scope: Some(scope), extra, task: Some(task), span }
    }

    fn task(task: &Option<TaskSlot>) -> &TaskSlot {
        task.as_ref().expect("taskscope: a child's slot is held until its state is published")
    }

    pub(super) fn must_stop(scope: &Inner<E>, task: &TaskSlot, shielded: bool) -> bool {
        task.is_cancelled()
            || if shielded { scope.owner_gone.load(Ordering::SeqCst) } else { scope.aborted.load(Ordering::Acquire) }
    }

    /// Stores the task's waker in its slot at a `Pending`, then looks again at the reasons to
    /// stop: a canceller that came meanwhile is seen here or wakes the task (see
    /// `table.rs`, "Lock order and wake-ups").
    fn park(scope: &Inner<E>, task: &TaskSlot, shielded: bool, cx: &mut Context<'_>) {
        if task.register(cx.waker()) || Self::must_stop(scope, task, shielded) {
            cx.waker().wake_by_ref();
        }
    }

    /// The future is gone: let go of everything that refers to the scope (the cell may
    /// outlive the scope in a handle), then report the outcome.
    /// `me` is the runtime's task of this very child: kept by a publication that has to
    /// wait for the scopes the child opened (C9).
    pub(super) fn finish<T>(
        self: Pin<&mut Self>,
        me: &Pin<Arc<dyn RawTask>>,
        child: &Child<T, E>,
        outcome: Outcome<T, E>,
    ) where
        E: Send + 'static,
    {
        let this = self.project();
        debug_assert!(this.fut.is_none());
        let scope = this.scope.take().expect("taskscope: a child's scope is only lent out during its own poll");
        let shielded = Extra::is_shielded(this.extra);
        let drain = this.extra.as_mut().and_then(|x| x.drain.take());
        // Before the state is published: the start call maps the state to its error (the
        // future's drop already ended it; a refused child's did not).
        end_start(this.extra);
        let extra = this.extra.take();
        // A started child's hook may hold the last reference to the value or error it reported
        // (its `Start` was dropped): user destructors, caught like the future's own (F7).
        let late = catch_unwind(AssertUnwindSafe(move || drop(extra))).err();
        let state = scope.child_done(child, with_panic(outcome, late), shielded);
        let task = this.task.take().expect("taskscope: a child's slot is held until its state is published");
        this.span.end(child_state(state), || cancel_reason(&scope, task.is_cancelled()));
        match drain {
            None => {
                // The slot drops the task's waker, so a finished child no longer holds on to
                // the runtime's task.
                scope.publish(|| child.set_state(task, state));
                // The last reference to a scope whose owner is gone drops its unread errors:
                // contained.
                drop_quietly(scope);
            }
            Some(drain) => {
                let cell = me.clone();
                drain.finish(Box::new(move || {
                    scope.publish(|| {
                        task.complete(state, false);
                        cell.as_ref().wake_join();
                    });
                    drop_quietly(scope);
                }));
            }
        }
    }

    /// Drops the future in place and reports the child cancelled (or panicked, if the
    /// future's destructor panicked: F7).
    pub(super) fn stop<T>(mut self: Pin<&mut Self>, me: &Pin<Arc<dyn RawTask>>, child: &Child<T, E>)
    where
        E: Send + 'static,
    {
        let this = self.as_mut().project();
        end_start(this.extra);
        let outcome = {
            let _entered = this.span.enter();
            drop_caught(this.fut).map_or(Outcome::Cancelled, Outcome::Panic)
        };
        self.finish(me, child, outcome);
    }

    /// The runtime dropped the task before it completed (for example at runtime shutdown):
    /// the future is still dropped by core, with panics caught, and the child counted.
    pub(super) fn dropped<T>(self: Pin<&mut Self>, me: &Pin<Arc<dyn RawTask>>, child: &Child<T, E>)
    where
        E: Send + 'static,
    {
        if self.fut.is_some() {
            self.stop(me, child);
        }
    }

    pub(super) fn poll<T>(
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
        if Self::must_stop(scope_of(this.scope), Self::task(this.task), shielded) {
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
                    Self::park(scope_of(this.scope), Self::task(this.task), shielded, cx);
                    return Poll::Pending;
                }
            }
        }
        let fut = this.fut.as_mut().as_pin_mut().expect("checked above");
        let mut drain = this.extra.as_mut().and_then(|x| x.drain.take());
        let (polled, handed) = {
            let _entered = this.span.enter();
            let poll = || catch_unwind(AssertUnwindSafe(|| fut.poll(cx)));
            match this.extra.as_deref_mut() {
                Some(Extra { shield: shield @ Some(_), .. }) => poll_in(Some(shield), Some(&mut drain), poll),
                _ => poll_in(Some(this.scope), Some(&mut drain), poll),
            }
        };
        if drain.is_some() {
            this.extra.get_or_insert_with(Extra::empty).drain = drain;
        }
        let outcome = match polled {
            Ok(Poll::Pending) => {
                // An abort that raced the poll may have found no waker: `park` looks again.
                Self::park(scope_of(this.scope), Self::task(this.task), shielded, cx);
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
        end_start(this.extra);
        let late = {
            let _entered = this.span.enter();
            drop_caught(this.fut)
        };
        let outcome = with_panic(outcome, late);
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
    fn wake_join(self: Pin<&Self>) {
        self.join_waker.wake();
    }
}
