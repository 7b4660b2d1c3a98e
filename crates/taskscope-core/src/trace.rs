//! Tracing spans for scopes and children (O2), behind the `tracing` feature.
//!
//! Every scope and every child, of a spawned scope or of a local scope (P3), gets a span
//! (target `taskscope`, level INFO; span names `scope` and `child`) with the fields `name`,
//! `runtime` (absent for a local scope without one), `outcome`, `cancel_reason` and
//! `cancel_depth`, the last three recorded when known. The parents are explicit, because
//! children run on other threads than the code that spawns them:
//! - a child's span is a child of its scope's span, whoever spawns it and from where, made by
//!   the scope span's subscriber;
//! - a scope's span is a child of the span of the child (or scope body) whose poll opens it,
//!   made by that span's subscriber, and outside any scope, of the thread's current span.
//!
//! A child's span is entered while its future is polled or dropped, and a scope's while its
//! owner's future is polled, with the span's subscriber as the thread's default meanwhile, so
//! the user's own events and spans nest under them in the same subscriber. A scope's span
//! closes when the scope returns or its owner drops it, whoever still holds the scope; a
//! child's when the child ends.
//!
//! Every call into `tracing` is caught here: a subscriber that panics loses its span data,
//! never an outcome, a publication or a scope (F7).
//!
//! Without the feature every type here is zero-sized and every function does nothing: the call
//! sites compile to nothing, and no struct grows (checked at compile time below).

#[cfg(feature = "tracing")]
pub(crate) use on::*;

#[cfg(not(feature = "tracing"))]
pub(crate) use off::*;

#[cfg(feature = "tracing")]
mod on {
    use std::cell::Cell;
    use std::future::Future;
    use std::mem;
    use std::panic::{AssertUnwindSafe, catch_unwind};
    use std::pin::Pin;
    use std::sync::{Arc, Mutex, PoisonError};
    use std::task::{Context, Poll};

    use pin_project_lite::pin_project;
    use tracing::Span;
    use tracing::dispatcher::{self, DefaultGuard, Dispatch};
    use tracing::field::{Empty, display};
    use tracing::span::Id;

    use crate::error::ScopeError;
    use crate::runtime::Runtime;
    use crate::scope::ChildState;
    use crate::sync::local_key;
    use crate::token::{CancelReason, Name};

    local_key! {
        /// The span (its subscriber and id) of the child or scope body being polled on this
        /// thread: the parent of a scope opened there. The poll's [`Entered`] keeps the span
        /// open meanwhile.
        static POLLED: Cell<Option<(Dispatch, Id)>> = const { Cell::new(None) };
    }

    /// Runs `f`, which calls into the subscriber, dropping a panic from it: a broken
    /// subscriber never changes an outcome nor leaves a child unpublished (F7).
    fn quiet<R>(f: impl FnOnce() -> R) -> Option<R> {
        catch_unwind(AssertUnwindSafe(f)).ok()
    }

    /// Drops `span` (which may close it in the subscriber), leaving no span in its place.
    fn release(span: &mut Span) {
        let span = mem::replace(span, Span::none());
        quiet(move || drop(span));
    }

    /// The subscriber and id of `span`, if it is enabled.
    fn parts(span: &Span) -> Option<(Dispatch, Id)> {
        span.with_subscriber(|(id, dispatch)| (dispatch.clone(), id.clone()))
    }

    /// Records the outcome and, for a cancellation, the reason at the root of the chain of
    /// [`CancelReason::Parent`]s and the chain's length (`0`: the scope's own reason). Both are
    /// bounded, however deep the token tree (T2).
    fn record_end(span: &Span, outcome: &'static str, reason: Option<&CancelReason>) {
        quiet(|| {
            span.record("outcome", outcome);
            if let Some(reason) = reason {
                span.record("cancel_reason", display(reason.root()));
                span.record("cancel_depth", parent_depth(reason));
            }
        });
    }

    /// How many [`CancelReason::Parent`] levels lead to the root reason.
    fn parent_depth(mut reason: &CancelReason) -> u64 {
        let mut depth = 0;
        while let CancelReason::Parent(parent) = reason {
            (reason, depth) = (parent, depth + 1);
        }
        depth
    }

    /// Enters `span`, makes its subscriber the thread's default (so the user's events and
    /// spans reach the subscriber of the task tree they belong to, whatever the thread), and
    /// makes it the parent of scopes opened on this thread, until dropped.
    fn enter(span: &Span) -> Entered<'_> {
        let parts = parts(span);
        let default = parts.as_ref().and_then(|(dispatch, id)| {
            let default = quiet(|| dispatcher::set_default(dispatch));
            quiet(|| dispatch.enter(id));
            default
        });
        let prev = POLLED.try_with(|p| p.replace(parts)).ok().flatten();
        Entered { span, prev, default }
    }

    /// A span entered by a poll (see [`ChildSpan::enter`]).
    pub(crate) struct Entered<'a> {
        span: &'a Span,
        prev: Option<(Dispatch, Id)>,
        default: Option<DefaultGuard>,
    }

    impl Drop for Entered<'_> {
        fn drop(&mut self) {
            quiet(|| self.span.with_subscriber(|(id, dispatch)| dispatch.exit(id)));
            let prev = self.prev.take();
            let _ = POLLED.try_with(|p| p.set(prev));
            let default = self.default.take();
            quiet(move || drop(default));
        }
    }

    /// A scope's span, shared by the scope's holders (its spawners, its owner's future):
    /// closed once the scope finished or its owner dropped it ([`in_scope`]), whoever still
    /// holds the scope. `None` when no subscriber is interested.
    #[derive(Clone, Debug)]
    pub(crate) struct ScopeSpan(Option<Arc<Mutex<Span>>>);

    impl ScopeSpan {
        /// No span (a deadline region of `fail_after` and friends is not a scope).
        pub(crate) fn none() -> Self {
            Self(None)
        }

        /// The span of a scope being opened on this thread (see the module's opening comment
        /// for its parent), made by the parent's subscriber.
        pub(crate) fn open(name: Option<&Name>, runtime: Option<&Arc<dyn Runtime>>) -> Self {
            let name = name.map(|n| &**n);
            let runtime = runtime.map(|rt| rt.name());
            let parent = POLLED
                .try_with(|p| {
                    let parts = p.take();
                    p.set(parts.clone());
                    parts
                })
                .ok()
                .flatten();
            let span = quiet(|| match parent {
                Some((dispatch, parent)) => dispatcher::with_default(&dispatch, || {
                    tracing::info_span!(
                        target: "taskscope",
                        parent: parent,
                        "scope",
                        name,
                        runtime,
                        outcome = Empty,
                        cancel_reason = Empty,
                        cancel_depth = Empty
                    )
                }),
                None => tracing::info_span!(
                    target: "taskscope",
                    "scope",
                    name,
                    runtime,
                    outcome = Empty,
                    cancel_reason = Empty,
                    cancel_depth = Empty
                ),
            });
            match span {
                Some(span) if !span.is_disabled() => Self(Some(Arc::new(Mutex::new(span)))),
                Some(mut span) => {
                    release(&mut span);
                    Self(None)
                }
                None => Self(None),
            }
        }

        /// A handle to the span while the scope runs; no span once it is closed.
        fn current(&self) -> Span {
            let Some(shared) = &self.0 else { return Span::none() };
            let span = shared.lock().unwrap_or_else(PoisonError::into_inner);
            quiet(|| span.clone()).unwrap_or_else(Span::none)
        }

        /// Closes the span: takes it out of the holder every clone shares.
        fn close(&self) {
            if let Some(shared) = &self.0 {
                let mut span = mem::replace(&mut *shared.lock().unwrap_or_else(PoisonError::into_inner), Span::none());
                release(&mut span);
            }
        }
    }

    /// A child's span.
    #[derive(Debug)]
    pub(crate) struct ChildSpan(Span);

    impl ChildSpan {
        /// The span of a child of the scope whose span is `scope`, made by the scope span's
        /// subscriber; a root span if the scope's span is closed (a spawn refused by a
        /// finished scope, S4).
        pub(crate) fn new(scope: &ScopeSpan, name: Option<&Name>, runtime: Option<&Arc<dyn Runtime>>) -> Self {
            let name = name.map(|n| &**n);
            let runtime = runtime.map(|rt| rt.name());
            let mut parent = scope.current();
            let span = quiet(|| match parts(&parent) {
                Some((dispatch, parent)) => dispatcher::with_default(&dispatch, || {
                    tracing::info_span!(
                        target: "taskscope",
                        parent: parent,
                        "child",
                        name,
                        runtime,
                        outcome = Empty,
                        cancel_reason = Empty,
                        cancel_depth = Empty
                    )
                }),
                None => tracing::info_span!(
                    target: "taskscope",
                    parent: None,
                    "child",
                    name,
                    runtime,
                    outcome = Empty,
                    cancel_reason = Empty,
                    cancel_depth = Empty
                ),
            });
            release(&mut parent);
            Self(span.unwrap_or_else(Span::none))
        }

        /// Enters the span for a poll (or the drop) of the child's future.
        pub(crate) fn enter(&self) -> Entered<'_> {
            enter(&self.0)
        }

        /// The child ended in `state`: records its outcome (`ok`, `failed`, `panicked`,
        /// `cancelled`, or `closed` for a refused spawn) and, if it was cancelled or refused,
        /// `reason`; then closes the span (the child's cell may outlive it in a handle).
        pub(crate) fn end(&mut self, state: ChildState, reason: impl FnOnce() -> Option<CancelReason>) {
            if self.0.is_disabled() {
                return;
            }
            let outcome = match state {
                ChildState::Running => "running",
                ChildState::Finished => "ok",
                ChildState::Failed => "failed",
                ChildState::Panicked => "panicked",
                ChildState::Cancelled => "cancelled",
                ChildState::Closed => "closed",
            };
            let reason = matches!(state, ChildState::Cancelled | ChildState::Closed).then(reason).flatten();
            record_end(&self.0, outcome, reason.as_ref());
            release(&mut self.0);
        }
    }

    impl Drop for ChildSpan {
        fn drop(&mut self) {
            release(&mut self.0);
        }
    }

    /// Runs a scope's owner future inside the scope's span, and records the scope's outcome
    /// (`ok`, `failed`, `cancelled` with its reason, `panicked`; a scope dropped before it
    /// finished is `cancelled`, because its owner dropped it), then closes the span.
    pub(crate) fn in_scope<F>(span: ScopeSpan, fut: F) -> InScope<F> {
        InScope { fut, own: span.current(), shared: span, done: false }
    }

    pin_project! {
        /// The future of [`in_scope`].
        pub(crate) struct InScope<F> {
            #[pin]
            fut: F,
            // This future's handle to the span, entered while the owner's future is polled.
            own: Span,
            // The scope's holder of the span, emptied when the scope ends.
            shared: ScopeSpan,
            done: bool,
        }

        impl<F> PinnedDrop for InScope<F> {
            fn drop(this: Pin<&mut Self>) {
                let this = this.project();
                if !*this.done {
                    record_end(this.own, "cancelled", Some(&CancelReason::Dropped));
                }
                release(this.own);
                this.shared.close();
            }
        }
    }

    /// Records `panicked` if a poll unwinds (a panic resuming in the owner, F5).
    struct Unwinding<'a> {
        span: &'a Span,
        done: &'a mut bool,
        armed: bool,
    }

    impl Drop for Unwinding<'_> {
        fn drop(&mut self) {
            if self.armed {
                record_end(self.span, "panicked", None);
                *self.done = true;
            }
        }
    }

    impl<F, T, E> Future for InScope<F>
    where
        F: Future<Output = Result<T, ScopeError<E>>>,
    {
        type Output = F::Output;

        fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
            let this = self.project();
            let polled = {
                let _entered = enter(this.own);
                let mut unwinding = Unwinding { span: this.own, done: this.done, armed: true };
                let polled = this.fut.poll(cx);
                unwinding.armed = false;
                polled
            };
            if let Poll::Ready(out) = &polled {
                *this.done = true;
                match out {
                    Ok(_) => record_end(this.own, "ok", None),
                    Err(ScopeError::Failed(_)) => record_end(this.own, "failed", None),
                    Err(ScopeError::Cancelled { reason, .. }) => record_end(this.own, "cancelled", Some(reason)),
                }
                release(this.own);
                this.shared.close();
            }
            polled
        }
    }
}

#[cfg(not(feature = "tracing"))]
mod off {
    use std::sync::Arc;

    use crate::runtime::Runtime;
    use crate::scope::ChildState;
    use crate::token::{CancelReason, Name};

    /// A scope's span: nothing without the `tracing` feature.
    #[derive(Clone, Debug)]
    pub(crate) struct ScopeSpan;

    impl ScopeSpan {
        #[inline(always)]
        pub(crate) fn none() -> Self {
            Self
        }

        #[inline(always)]
        pub(crate) fn open(_: Option<&Name>, _: Option<&Arc<dyn Runtime>>) -> Self {
            Self
        }
    }

    /// A child's span: nothing without the `tracing` feature.
    #[derive(Debug)]
    pub(crate) struct ChildSpan;

    /// An entered span: nothing without the `tracing` feature.
    pub(crate) struct Entered;

    impl ChildSpan {
        #[inline(always)]
        pub(crate) fn new(_: &ScopeSpan, _: Option<&Name>, _: Option<&Arc<dyn Runtime>>) -> Self {
            Self
        }

        #[inline(always)]
        pub(crate) fn enter(&self) -> Entered {
            Entered
        }

        #[inline(always)]
        pub(crate) fn end(&mut self, _: ChildState, _: impl FnOnce() -> Option<CancelReason>) {}
    }

    /// The owner's future, as it is.
    #[inline(always)]
    pub(crate) fn in_scope<F>(_: ScopeSpan, fut: F) -> F {
        fut
    }

    // Zero cost when off: the fields that hold these add nothing to any struct.
    const _: () = assert!(size_of::<ScopeSpan>() == 0 && size_of::<ChildSpan>() == 0);
    const _: () = assert!(align_of::<ScopeSpan>() == 1 && align_of::<ChildSpan>() == 1);
}
