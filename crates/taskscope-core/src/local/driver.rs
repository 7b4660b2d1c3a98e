//! The owner's future of a local scope: polls the body and the woken children inside its own
//! poll, runs the deadline and grace timers, drops children on cancellation, chooses the
//! outcome (S1, S2, F1, F5, C1, C2, C3, C7). Dropping it drops every child before it returns.

use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use pin_project_lite::pin_project;

use crate::error::ScopeError;
use crate::runtime::BoxedSleep;
use crate::scope::{ScopeCtx, drop_caught, mark_handed_cancellation, poll_tracked};
use crate::token::{CancelReason, Wait};

use super::ready::{BODY, ChildWaker};
use super::spawner::{Shared, stop_children};

pub(crate) const NO_TIMER: &str = "taskscope: this local scope has a deadline or a grace period but no runtime to time it with. \
                        Give one with `LocalBuilder::runtime`, open it inside a scope that has one, or use the \
                        `taskscope` facade's `local_builder()`, which detects tokio or smol";

pin_project! {
    #[project = DriverProj]
    pub(crate) struct LocalDriver<'env, B, T, E> {
        shared: Rc<Shared<'env, E>>,
        #[pin]
        body: Option<B>,
        body_wake: Arc<ChildWaker>,
        body_waker: Waker,
        value: Option<T>,
        deadline: Option<Instant>,
        deadline_timer: Option<BoxedSleep>,
        grace_timer: Option<BoxedSleep>,
        wait: Wait,
        batch: Vec<usize>,
        // The lock-free queue of this owner's thread, kept between polls.
        fast: Vec<usize>,
        // The scope this one holds open while its nested spawned scopes drain.
        enclosing: Option<Arc<dyn ScopeCtx>>,
        // The hard cancellation has dropped the body and every unshielded child.
        dropped: bool,
        finished: bool,
    }

    impl<'env, B, T, E> PinnedDrop for LocalDriver<'env, B, T, E> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            let st = &this.shared.state;
            st.token.unregister(this.wait);
            if *this.finished {
                return;
            }
            // C3, P3: cancel, refuse every spawn, and drop every child (shielded ones too:
            // nothing is left to wait for them) before returning. Panics have no owner left.
            // A user waker woken by the token may panic: every child is dropped first anyway.
            let fired = catch_unwind(AssertUnwindSafe(|| st.token.cancel_with(CancelReason::Dropped)));
            st.done.set(true);
            st.close();
            st.aborted.set(true);
            let _ = drop_caught(this.body);
            let stopped = catch_unwind(AssertUnwindSafe(|| stop_children(this.shared, |_| true)));
            st.sink.finished.set(true);
            if let Some(e) = this.enclosing.take() {
                st.holds.orphan(e);
            }
            // Everything is dropped and released: now the first panic goes on.
            match (fired, stopped) {
                (Err(p), Err(q)) => {
                    crate::scope::drop_quietly(q);
                    std::panic::resume_unwind(p);
                }
                (Err(p), _) | (_, Err(p)) => std::panic::resume_unwind(p),
                _ => {}
            }
        }
    }
}

impl<'env, B, T, E> LocalDriver<'env, B, T, E> {
    pub(crate) fn new(
        shared: Rc<Shared<'env, E>>,
        body: B,
        deadline: Option<Instant>,
        enclosing: Option<Arc<dyn ScopeCtx>>,
    ) -> Self {
        let wake = ChildWaker::new(BODY, shared.state.queue.clone());
        // The body is polled first, without waking anyone.
        wake.schedule(false);
        let body_waker = ChildWaker::waker(&wake);
        if let Some(e) = &enclosing {
            e.hold();
        }
        Self {
            shared,
            body: Some(body),
            body_wake: wake,
            body_waker,
            value: None,
            deadline,
            deadline_timer: None,
            grace_timer: None,
            wait: Wait::default(),
            batch: Vec::new(),
            fast: Vec::new(),
            enclosing,
            dropped: false,
            finished: false,
        }
    }
}

impl<B, T, E> Future for LocalDriver<'_, B, T, E>
where
    B: Future<Output = Result<T, E>>,
{
    type Output = Result<T, ScopeError<E>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        assert!(!*this.finished, "a local scope polled after it completed");
        let shared: Rc<Shared<'_, E>> = this.shared.clone();
        // The scope is the ambient context of the whole poll (its body and children, and the
        // destructors of children it drops): entered once, not once per child.
        shared.state.around.run(|| drive(this, cx))
    }
}

/// One poll of the owner, inside the scope's context (see the module's opening comment).
fn drive<B, T, E>(mut this: DriverProj<'_, '_, B, T, E>, cx: &mut Context<'_>) -> Poll<Result<T, ScopeError<E>>>
where
    B: Future<Output = Result<T, E>>,
{
    let shared: &Shared<'_, E> = this.shared;
    let st = &shared.state;
    st.queue.owner.register(cx.waker());
    st.polling.set(true);
    let _polling = ResetPolling(&st.polling);
    let fast = super::ready::Polling::enter(&st.queue, this.fast);
    // Each child about once per poll; then yield, so that a child that keeps waking itself
    // cannot starve the executor.
    let mut budget = st.live.get() + 16;
    loop {
        // 1. Our own deadline (C7).
        if let Some(deadline) = *this.deadline
            && !st.token.is_cancelled()
        {
            let rt = st.rt.as_ref().expect(NO_TIMER);
            let timer = this.deadline_timer.get_or_insert_with(|| rt.sleep_until(deadline));
            if rt.now() >= deadline || timer.as_mut().poll(cx).is_ready() {
                *this.deadline_timer = None;
                *this.deadline = None;
                st.cancel(CancelReason::Deadline);
            }
        }

        // 2. Cancellation from any source: abort at once, or after the grace period (C1, C2).
        if st.token.is_cancelled() && !st.aborted.get() {
            st.close();
            if st.grace.is_zero() {
                st.aborted.set(true);
            } else {
                let rt = st.rt.as_ref().expect(NO_TIMER);
                let timer = this.grace_timer.get_or_insert_with(|| match rt.now().checked_add(st.grace) {
                    Some(end) => rt.sleep_until(end),
                    None => Box::pin(std::future::pending()),
                });
                if timer.as_mut().poll(cx).is_ready() {
                    st.aborted.set(true);
                }
            }
        }

        // 3. Hard cancellation: the body and every unshielded child are dropped now.
        if st.aborted.get() && !*this.dropped {
            *this.dropped = true;
            if this.body.is_some()
                && let Some(p) = drop_caught(this.body.as_mut())
            {
                st.panicked(None, p);
            }
            stop_children(shared, |c| !c.is_shielded());
        }

        // 4. The woken: the body (treated like a child, F1) and children.
        shared.state.queue.drain_into(this.batch);
        fast.drain_into(this.batch);
        for i in this.batch.drain(..) {
            budget = budget.saturating_sub(1);
            if i == BODY {
                this.body_wake.unqueue();
                poll_body(st, this.body.as_mut(), this.body_waker, this.value);
                continue;
            }
            let Some((task, wake)) = shared.arena.borrow_mut().take_for_poll(i) else { continue };
            let done = task.as_ref().poll_child(&mut Context::from_waker(&ChildWaker::waker_ref(&wake)), st).is_ready();
            // A finished child's node holds nothing of the user's any more: the arena lets go of it.
            let task = if done { None } else { Some(task) };
            shared.arena.borrow_mut().put_back(i, task, wake);
        }

        // 5. Done once the body and every child are (S1), and nested spawned scopes too.
        if this.body.is_none() && st.live.get() == 0 && st.holds.is_zero() {
            *this.finished = true;
            if let Some(e) = this.enclosing.take() {
                e.release();
            }
            let out = st.finish(this.value);
            if let Err(ScopeError::Cancelled { reason: CancelReason::Parent(_), errors: None }) = &out {
                // A bare cancellation from outside, handed to whoever awaits this scope.
                mark_handed_cancellation();
            }
            return Poll::Ready(out);
        }

        // 6. More to do now?
        let cancel_pending = st.token.is_cancelled() && !st.aborted.get() && this.grace_timer.is_none();
        if !st.queue.is_empty() || !fast.is_empty() || cancel_pending || (st.aborted.get() && !*this.dropped) {
            if budget == 0 {
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            continue;
        }
        if st.token.is_cancelled() {
            // Cancelled from another thread since step 2 looked: handle it now, since no
            // wake-up is coming for it (the waiters were woken before we registered).
            if !st.aborted.get() && this.grace_timer.is_none() {
                continue;
            }
        } else if st.token.poll_cancelled(this.wait, cx).is_ready() {
            continue;
        }
        return Poll::Pending;
    }
}

/// Resets the owner's "inside its poll" flag, also when a panic resumes.
struct ResetPolling<'a>(&'a std::cell::Cell<bool>);

impl Drop for ResetPolling<'_> {
    fn drop(&mut self) {
        self.0.set(false);
    }
}

fn poll_body<B, T, E>(st: &super::state::State<E>, mut body: Pin<&mut Option<B>>, waker: &Waker, value: &mut Option<T>)
where
    B: Future<Output = Result<T, E>>,
{
    let Some(fut) = body.as_mut().as_pin_mut() else { return };
    let mut cx = Context::from_waker(waker);
    let (polled, handed) = poll_tracked(None, || catch_unwind(AssertUnwindSafe(|| fut.poll(&mut cx))));
    match polled {
        Ok(Poll::Pending) => {}
        Ok(Poll::Ready(result)) => {
            if let Some(p) = drop_caught(body) {
                st.panicked(None, p);
            }
            match result {
                Ok(v) => *value = Some(v),
                // The cancellation core handed the body in this poll, passed on (F2, F3).
                Err(e) if handed && st.token.is_cancelled() => {
                    if let Err(p) = catch_unwind(AssertUnwindSafe(move || drop(e))) {
                        st.panicked(None, p);
                    }
                }
                Err(e) => st.fail(None, e),
            }
        }
        Err(p) => {
            let _ = drop_caught(body);
            st.panicked(None, p);
        }
    }
}
