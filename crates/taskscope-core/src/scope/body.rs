//! Core's wrapper around every child's future (C1, C8, F5, F7, L1, L4): its own abort check,
//! its running slot under a limit, panic capture, the drop of its future in place, and what it
//! hands to the scope when the future is gone; its span (O2), entered while its future is
//! polled or dropped.

use std::any::Any;
use std::future::Future;
use std::marker::PhantomData;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::{Arc, Weak};
use std::task::{Context, Poll};

use pin_project_lite::pin_project;

use super::ambient::{Drain, ScopeCtx, poll_in};
use super::handle::{CANCELLED, child_state};
use super::inner::Inner;
use super::lent::Ambient;
use super::outcome::{Outcome, Payload};
use super::table::TaskSlot;
use crate::limit::{Acquire, Permit};
use crate::sync::Ordering;
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
    /// Core's wrapper around every spawned child's future: its own abort check, panic
    /// capture and drop handling, and the publication of its end. The runtime stores it in
    /// its own task cell (the child's one allocation besides its 24-byte slot) and hands its
    /// output, the child's [`End`], to the child's handle through the runtime's join handle.
    /// Core, not the runtime, decides every outcome: the runtime only carries the `End`.
    pub(crate) struct ChildTask<F, T, E>
    where
        T: Send,
        T: 'static,
        E: Send,
        E: 'static,
    {
        #[pin]
        fut: Option<F>,
        // The scope (lent to the thread-local as the ambient scope while the child's future
        // is polled); `None` once the child is done: a done child does not keep its scope
        // alive.
        scope: Option<Arc<Inner<E>>>,
        // What only some children have, boxed to keep every child small.
        extra: Option<Box<Extra<E>>>,
        // The task's side of the child's slot (state, cancellation, waker); `None` once the
        // child's state is published.
        task: Option<TaskSlot>,
        // The child's name and supervisor, shared with its handle; `None` for an unnamed
        // child of an unsupervised scope.
        info: Option<Arc<ChildInfo<E>>>,
        // Zero-sized without the `tracing` feature.
        span: ChildSpan,
        // The child's value type, which its end carries (the parked end is type-erased).
        value: PhantomData<fn() -> T>,
    }

    impl<F, T, E> PinnedDrop for ChildTask<F, T, E>
    where
        T: Send,
        T: 'static,
        E: Send,
        E: 'static,
    {
        fn drop(this: Pin<&mut Self>) {
            this.dropped();
        }
    }
}

/// What a child's handle and its task share for its whole life: its name, and for a child of
/// a supervised scope (L2) the scope, where an error its dropped handle never read goes (F3).
pub(crate) struct ChildInfo<E> {
    pub(crate) name: Option<Name>,
    pub(super) supervisor: Option<Weak<Inner<E>>>,
}

impl<E> ChildInfo<E> {
    /// `None` when there is nothing to share (no allocation).
    pub(super) fn new(name: Option<Name>, supervisor: Option<Weak<Inner<E>>>) -> Option<Arc<Self>> {
        (name.is_some() || supervisor.is_some()).then(|| Arc::new(Self { name, supervisor }))
    }

    pub(crate) fn name(info: &Option<Arc<Self>>) -> Option<&Name> {
        info.as_ref().and_then(|i| i.name.as_ref())
    }

    fn owned_name(info: &Option<Arc<Self>>) -> Option<Name> {
        Self::name(info).cloned()
    }
}

/// A child's end: what its task returns to the runtime, and the runtime hands to the handle.
/// It carries the value (or a supervised child's error) only if the child ended while its
/// handle was alive (`KEPT` in the slot); whoever ends up with a carried value nobody reads
/// disposes of it: the handle, or this type's drop (a handle dropped while the runtime was
/// still storing the end).
pub(crate) struct End<T, E> {
    pub(crate) kept: Option<Result<T, E>>,
    pub(crate) info: Option<Arc<ChildInfo<E>>>,
}

impl<T, E> End<T, E> {
    pub(crate) fn empty() -> Self {
        Self { kept: None, info: None }
    }
}

impl<T, E> Drop for End<T, E> {
    fn drop(&mut self) {
        if let Some(kept) = self.kept.take() {
            // A runtime's code runs this: nothing may unwind.
            drop_quietly(dispose(kept, &self.info));
        }
    }
}

/// Disposes of a value or error nobody will read: a value is dropped here (its destructor may
/// unwind into the caller); an error of a supervised child goes to the scope's group unless
/// the scope is done (F3), else it is returned to be dropped.
pub(crate) fn dispose<T, E>(kept: Result<T, E>, info: &Option<Arc<ChildInfo<E>>>) -> Option<E> {
    match kept {
        Ok(v) => {
            drop(v);
            None
        }
        Err(e) => match info.as_ref().and_then(|i| i.supervisor.as_ref()).and_then(Weak::upgrade) {
            Some(scope) => scope.collect_unless_done(ChildInfo::owned_name(info), e),
            None => Some(e),
        },
    }
}

/// A child whose future is gone, waiting for the scopes it opened to drain before it publishes
/// (C9).
pub(super) struct Parked<T, E> {
    drain: Arc<Drain>,
    state: u8,
    kept: Option<Result<T, E>>,
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
    /// The child's end (a [`Parked`]) while it waits for those scopes to drain: type-erased
    /// so that `Extra` does not depend on the child's value type, and only read back on
    /// that rare path.
    pub(super) parked: Option<Box<dyn Any + Send>>,
}

impl<E> Extra<E> {
    pub(super) fn empty() -> Box<Self> {
        Box::new(Self { shield: None, slot: Slot::Unlimited, hook: None, drain: None, parked: None })
    }

    pub(super) fn is_shielded(extra: &Option<Box<Self>>) -> bool {
        extra.as_ref().is_some_and(|x| x.shield.is_some())
    }
}

/// A child's scope, until the child is done.
fn scope_of<E>(scope: &Option<Arc<Inner<E>>>) -> &Inner<E> {
    scope.as_deref().expect("taskscope: a child holds its scope until it is done")
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

impl<F, T: Send + 'static, E: Send + 'static> ChildTask<F, T, E> {
    pub(super) fn new(
        fut: F,
        scope: Arc<Inner<E>>,
        extra: Option<Box<Extra<E>>>,
        task: TaskSlot,
        info: Option<Arc<ChildInfo<E>>>,
    ) -> Self {
        let span = ChildSpan::new(&scope.span, ChildInfo::name(&info), Some(&scope.rt));
        Self { fut: Some(fut), scope: Some(scope), extra, task: Some(task), info, span, value: PhantomData }
    }

    /// The child's end, if it is parked waiting for its drain (C9).
    fn parked(extra: &mut Option<Box<Extra<E>>>) -> Option<&mut Parked<T, E>> {
        extra.as_mut()?.parked.as_mut()?.downcast_mut()
    }

    fn take_parked(extra: &mut Option<Box<Extra<E>>>) -> Option<Parked<T, E>> {
        let parked = extra.as_mut()?.parked.take()?;
        Some(*parked.downcast().expect("taskscope: a child parks its own end"))
    }

    fn task(task: &Option<TaskSlot>) -> &TaskSlot {
        task.as_ref().expect("taskscope: a child's slot is held until its state is published")
    }

    fn must_stop(scope: &Inner<E>, task: &TaskSlot, shielded: bool) -> bool {
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
}

impl<F, T, E> ChildTask<F, T, E>
where
    E: Send + 'static,
    T: Send + 'static,
{
    /// The future is gone: let go of everything that refers to the scope, record the outcome,
    /// and publish it, unless a scope the child opened has not drained yet (C9): then the
    /// task waits for it, parked. `cx` is `None` when the runtime is dropping the task: a
    /// wait is then handed to the drain as a deferred publication.
    fn finish(self: Pin<&mut Self>, outcome: Outcome<T, E>, cx: Option<&mut Context<'_>>) -> Poll<End<T, E>> {
        let this = self.project();
        debug_assert!(this.fut.is_none());
        let scope = this.scope.take().expect("taskscope: a child holds its scope until it is done");
        let shielded = Extra::is_shielded(this.extra);
        let drain = this.extra.as_mut().and_then(|x| x.drain.take());
        // Before the state is published: the start call maps the state to its error (the
        // future's drop already ended it).
        end_start(this.extra);
        let extra = this.extra.take();
        // A started child's hook may hold the last reference to the value or error it reported
        // (its `Start` was dropped): user destructors, caught like the future's own (F7).
        let late = catch_unwind(AssertUnwindSafe(move || drop(extra))).err();
        let (state, kept) = scope.child_end(ChildInfo::name(this.info), with_panic(outcome, late), shielded);
        let task = this.task.as_ref().expect("taskscope: a child's slot is held until its state is published");
        this.span.end(child_state(state), || cancel_reason(&scope, task.is_cancelled()));
        *this.scope = Some(scope);
        match (drain, cx) {
            (None, _) => Poll::Ready(Self::publish(this.scope, this.task, this.info, state, kept)),
            (Some(drain), Some(cx)) => {
                if drain.poll_drained(cx).is_pending() {
                    this.extra.get_or_insert_with(Extra::empty).parked = Some(Box::new(Parked { drain, state, kept }));
                    return Poll::Pending;
                }
                Poll::Ready(Self::publish(this.scope, this.task, this.info, state, kept))
            }
            (Some(drain), None) => {
                Self::hand_to_drain(this.scope, this.task, this.info, Parked { drain, state, kept });
                Poll::Ready(End::empty())
            }
        }
    }

    /// The runtime is dropping the task while the child waits for its drain: the last scope
    /// to drain publishes. Nobody can take a value any more.
    fn hand_to_drain(
        scope: &mut Option<Arc<Inner<E>>>,
        task: &mut Option<TaskSlot>,
        info: &Option<Arc<ChildInfo<E>>>,
        parked: Parked<T, E>,
    ) {
        let (mut scope, mut task, info) = (scope.take(), task.take(), info.clone());
        let Parked { drain, state, kept } = parked;
        drain.finish(Box::new(move || {
            let (state, kept) = undeliverable(state, kept, &info);
            drop(Self::publish(&mut scope, &mut task, &info, state, kept));
        }));
    }

    /// Makes the child's end visible (O3, S1): the slot's final update writes the state and
    /// says whether the handle is still there to read what the child left; if not, that is
    /// disposed of before the last live unit goes.
    fn publish(
        scope: &mut Option<Arc<Inner<E>>>,
        task: &mut Option<TaskSlot>,
        info: &Option<Arc<ChildInfo<E>>>,
        state: u8,
        kept: Option<Result<T, E>>,
    ) -> End<T, E> {
        let scope = scope.take().expect("taskscope: a child publishes once");
        let task = task.take().expect("taskscope: a child's slot is held until its state is published");
        publish_end(scope, task, info, state, kept)
    }

    /// Drops the future in place and records the child cancelled (or panicked, if the
    /// future's destructor panicked: F7).
    fn stop(mut self: Pin<&mut Self>, cx: Option<&mut Context<'_>>) -> Poll<End<T, E>> {
        let this = self.as_mut().project();
        end_start(this.extra);
        let outcome = {
            let _entered = this.span.enter();
            drop_caught(this.fut).map_or(Outcome::Cancelled, Outcome::Panic)
        };
        self.finish(outcome, cx)
    }

    fn poll_child(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<End<T, E>>
    where
        F: Future<Output = Result<T, E>>,
    {
        let mut this = self.as_mut().project();
        if let Some(parked) = Self::parked(this.extra) {
            if parked.drain.poll_drained(cx).is_pending() {
                return Poll::Pending;
            }
            let Parked { state, kept, .. } = Self::take_parked(this.extra).expect("checked above");
            return Poll::Ready(Self::publish(this.scope, this.task, this.info, state, kept));
        }
        if this.fut.is_none() {
            return Poll::Ready(End::empty());
        }
        let shielded = Extra::is_shielded(this.extra);
        if Self::must_stop(scope_of(this.scope), Self::task(this.task), shielded) {
            return self.stop(Some(cx));
        }
        // L1: wait (FIFO) for a running slot before the first poll.
        if let Some(extra) = this.extra.as_deref_mut()
            && let Slot::Waiting(acquire) = &mut extra.slot
        {
            match Pin::new(acquire).poll(cx) {
                // Granted only after the scope began cancelling: never start (S4).
                Poll::Ready(Some(_)) if scope_of(this.scope).token.is_cancelled() && !shielded => {
                    return self.stop(Some(cx));
                }
                Poll::Ready(Some(permit)) => extra.slot = Slot::Held(permit),
                // The scope is cancelling: a child that never started never starts.
                Poll::Ready(None) => return self.stop(Some(cx)),
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
                Some(Extra { shield: Some(shield), .. }) => poll_in(Some(shield), Some(&mut drain), poll),
                _ => poll_in(this.scope.as_ref().map(|s| s as &dyn Ambient), Some(&mut drain), poll),
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
        self.finish(outcome, Some(cx))
    }
}

/// Makes a child's end visible (O3, S1), for a spawned or a blocking child: the slot's final
/// update writes the state and says whether the handle is still there to read what the child
/// left; if not, that is disposed of before the last live unit goes.
pub(super) fn publish_end<T, E>(
    scope: Arc<Inner<E>>,
    task: TaskSlot,
    info: &Option<Arc<ChildInfo<E>>>,
    state: u8,
    kept: Option<Result<T, E>>,
) -> End<T, E> {
    let mut end = End { kept, info: None };
    scope.publish(|| {
        let completed = task.complete(state, end.kept.is_some());
        if completed.kept {
            end.info = info.clone();
        } else if let Some(kept) = end.kept.take() {
            // The handle is gone: nobody reads it. A value's destructor that panics is the
            // child's panic (its state stays "finished", as for F4's late drop).
            match catch_unwind(AssertUnwindSafe(|| dispose(kept, info))) {
                Ok(late) => drop_quietly(late),
                Err(p) => scope.panicked(ChildInfo::owned_name(info), p),
            }
        }
    });
    // The last reference to a scope whose owner is gone drops its unread errors: contained.
    drop_quietly(scope);
    end
}

/// A parked end whose task the runtime dropped: a value can reach no handle any more, so it is
/// dropped and the child reported cancelled; a supervised child's error goes to the group.
fn undeliverable<T, E>(
    state: u8,
    kept: Option<Result<T, E>>,
    info: &Option<Arc<ChildInfo<E>>>,
) -> (u8, Option<Result<T, E>>) {
    match kept {
        Some(Ok(v)) => {
            drop_quietly(v);
            (CANCELLED, None)
        }
        Some(Err(e)) => {
            drop_quietly(dispose(Err::<T, E>(e), info));
            (state, None)
        }
        None => (state, None),
    }
}

impl<F, T: Send + 'static, E: Send + 'static> ChildTask<F, T, E> {
    /// The runtime dropped the task before it completed (for example at runtime shutdown):
    /// the future is still dropped by core, with panics caught, and the child counted; a
    /// child waiting for its drain leaves its publication to the drain.
    fn dropped(mut self: Pin<&mut Self>) {
        if self.fut.is_some() {
            drop(self.stop(None));
        } else if let Some(parked) = Self::take_parked(self.as_mut().project().extra) {
            let this = self.project();
            Self::hand_to_drain(this.scope, this.task, this.info, parked);
        }
    }
}

impl<F, T, E> Future for ChildTask<F, T, E>
where
    F: Future<Output = Result<T, E>>,
    E: Send + 'static,
    T: Send + 'static,
{
    type Output = End<T, E>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<End<T, E>> {
        self.poll_child(cx)
    }
}
