//! The owner's future (S1, S2, F1, C2, C3, C7): drives the body like a child, runs the deadline
//! and grace timers, waits until every child is gone, and returns the scope's outcome.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use pin_project_lite::pin_project;

use super::ambient::{mark_handed_cancellation, poll_in};
use super::body::drop_caught;
use super::inner::Inner;
use super::outcome::finish;
use crate::error::ScopeError;
use crate::runtime::BoxedSleep;
use crate::sync::Ordering;
use crate::token::{CancelReason, Wait};

pin_project! {
    /// The owner's future: drives the body, runs the deadline and grace timers, waits for the
    /// children, and chooses the outcome. Dropping it before it finished cancels the scope (C3).
    pub(crate) struct Driver<B, T, E> {
        inner: Arc<Inner<E>>,
        #[pin]
        body: Option<B>,
        value: Option<T>,
        deadline: Option<Instant>,
        deadline_timer: Option<BoxedSleep>,
        // The scope's own deadline expired (a transparent region must tell it from an outer
        // cancellation).
        expired: bool,
        // A transparent region's body returned its value in a poll in which core handed it a
        // cancellation: the value may carry that cancellation, so the region hands it on as
        // such when it returns (F2, F3).
        handed_value: bool,
        grace_timer: Option<BoxedSleep>,
        wait: Wait,
    }

    impl<B, T, E> PinnedDrop for Driver<B, T, E> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            this.inner.token.unregister(this.wait);
            this.inner.owner_dropped();
            // A panic while dropping the body has no owner left to resume in.
            let _ = drop_caught(this.body);
        }
    }
}

impl<B, T, E: Send + 'static> Driver<B, T, E> {
    pub(crate) fn new(inner: Arc<Inner<E>>, body: B, deadline: Option<Instant>) -> Self {
        Driver {
            inner,
            body: Some(body),
            value: None,
            deadline,
            deadline_timer: None,
            expired: false,
            handed_value: false,
            grace_timer: None,
            wait: Wait::default(),
        }
    }
}

impl<B, T, E> Future for Driver<B, T, E>
where
    B: Future<Output = Result<T, E>>,
    E: Send + 'static,
{
    type Output = Result<T, ScopeError<E>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let inner: &Inner<E> = this.inner;
        loop {
            // 1. Our own deadline. A transparent region keeps its timer after an outer
            //    cancellation; a scope is already cancelling then. Once the body has returned
            //    and no child is left (`idle`), the deadline has nothing to cancel: the scope
            //    finishes with its value (C7: "elapsed" only when the deadline cancelled
            //    something). A child spawned meanwhile through an escaped spawner makes the
            //    finish below fail, and the loop comes back here for the deadline (step 4).
            let idle = this.body.is_none() && inner.live.load(Ordering::Acquire) == 0;
            if let Some(deadline) = *this.deadline
                && !*this.expired
                && (inner.transparent || !inner.token.is_cancelled())
                && !idle
            {
                let rt = &inner.rt;
                let timer = this.deadline_timer.get_or_insert_with(|| rt.sleep_until(deadline));
                if rt.now() >= deadline || timer.as_mut().poll(cx).is_ready() {
                    *this.deadline_timer = None;
                    *this.expired = true;
                    // A transparent region has no grace period: this drops its future at once.
                    inner.cancel(CancelReason::Deadline);
                    continue;
                }
            }

            // 2. Cancellation from any source (our token, a parent, the deadline): abort at
            //    once, or after the grace period. A transparent region lets an outer
            //    cancellation through to its body instead.
            let passthrough = inner.transparent && !*this.expired;
            if inner.token.is_cancelled() && !passthrough && !inner.aborted.load(Ordering::Acquire) {
                if inner.grace.is_zero() {
                    inner.abort();
                } else {
                    inner.close();
                    let rt = &inner.rt;
                    let timer = this.grace_timer.get_or_insert_with(|| {
                        let end = rt.now().checked_add(inner.grace);
                        end.map_or_else(|| Box::pin(std::future::pending()) as BoxedSleep, |end| rt.sleep_until(end))
                    });
                    if timer.as_mut().poll(cx).is_ready() {
                        inner.abort();
                    }
                }
            }

            // 3. The body, treated like a child (F1).
            if let Some(body) = this.body.as_mut().as_pin_mut() {
                if inner.aborted.load(Ordering::Acquire) {
                    if let Some(p) = drop_caught(this.body.as_mut()) {
                        inner.panicked(None, p);
                    }
                } else {
                    let (polled, handed) =
                        poll_in(Some(this.inner), None, || catch_unwind(AssertUnwindSafe(|| body.poll(cx))));
                    match polled {
                        Ok(Poll::Pending) => {}
                        Ok(Poll::Ready(result)) => {
                            if let Some(p) = drop_caught(this.body.as_mut()) {
                                inner.panicked(None, p);
                            }
                            match result {
                                Ok(v) => {
                                    *this.value = Some(v);
                                    *this.handed_value = handed && inner.transparent;
                                }
                                // The cancellation core handed the body in this poll, passed
                                // on (F2, F3): dropped, not collected.
                                Err(e) if handed && inner.token.is_cancelled() => {
                                    if let Err(p) = catch_unwind(AssertUnwindSafe(move || drop(e))) {
                                        inner.panicked(None, p);
                                    }
                                }
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

            // 4. Done once the body and every child are (S1).
            inner.owner.register(cx.waker());
            if this.body.is_none() {
                match finish(inner, this.value) {
                    Some(out) => {
                        match &out {
                            // A bare cancellation from outside, handed to whoever awaits this
                            // scope.
                            Err(ScopeError::Cancelled { reason: CancelReason::Parent(_), errors: None }) => {
                                mark_handed_cancellation();
                            }
                            // A region's value that may carry a cancellation handed to its body.
                            Ok(_) if *this.handed_value => mark_handed_cancellation(),
                            _ => {}
                        }
                        return Poll::Ready(out);
                    }
                    // A child came in after step 1 skipped the deadline: look at it again.
                    None if idle && this.deadline.is_some() && !*this.expired => continue,
                    None => {}
                }
            }

            // 5. Wait: children wake the owner when the last one is dropped or when they
            //    cancel the scope; a parent's cancellation arrives through the token.
            //    The owner's waker is registered now: look again at whatever may have changed
            //    since the body was polled (an abort that found no waker on the first poll).
            if this.body.is_some() && inner.aborted.load(Ordering::Acquire) {
                continue;
            }
            if this.body.is_none() && inner.live.load(Ordering::Acquire) == 0 {
                continue;
            }
            if !inner.token.is_cancelled() {
                if inner.token.poll_cancelled(this.wait, cx).is_ready() {
                    continue;
                }
            } else if !passthrough && !inner.aborted.load(Ordering::Acquire) && this.grace_timer.is_none() {
                continue;
            }
            return Poll::Pending;
        }
    }
}
