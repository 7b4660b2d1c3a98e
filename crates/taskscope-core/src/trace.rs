//! Tracing spans for scopes and children (O2), behind the `tracing` feature.
//!
//! Every scope and every child gets a span (target `taskscope`, level INFO; span names `scope`
//! and `child`) with the fields `name`, `runtime`, `outcome` and `cancel_reason`, the last two
//! recorded when known. The parents are explicit, because children run on other threads than
//! the code that spawns them:
//! - a child's span is a child of its scope's span, whoever spawns it and from where;
//! - a scope's span is a child of the span of the child (or scope body) whose poll opens it,
//!   and outside any scope, of the thread's current span.
//!
//! A child's span is entered while its future is polled or dropped, and a scope's while its
//! owner's future is polled, so the user's own events and spans nest under them.
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
    use std::pin::Pin;
    use std::sync::Arc;
    use std::task::{Context, Poll};

    use pin_project_lite::pin_project;
    use tracing::Span;
    use tracing::field::{Empty, display};
    use tracing::span::Id;

    use crate::error::ScopeError;
    use crate::runtime::Runtime;
    use crate::scope::ChildState;
    use crate::sync::local_key;
    use crate::token::{CancelReason, Name};

    local_key! {
        /// The span of the child or scope body being polled on this thread: the parent of a
        /// scope opened there.
        static POLLED: Cell<Option<Id>> = const { Cell::new(None) };
    }

    fn record_end(span: &Span, outcome: &'static str, reason: Option<&CancelReason>) {
        span.record("outcome", outcome);
        if let Some(reason) = reason {
            span.record("cancel_reason", display(reason));
        }
    }

    /// Enters `span` and makes it the parent of scopes opened on this thread until dropped.
    fn enter(span: &Span) -> Entered<'_> {
        let prev = POLLED.try_with(|p| p.replace(span.id())).ok().flatten();
        Entered { _entered: span.enter(), prev }
    }

    /// A span entered by a poll (see [`ChildSpan::enter`]).
    pub(crate) struct Entered<'a> {
        _entered: tracing::span::Entered<'a>,
        prev: Option<Id>,
    }

    impl Drop for Entered<'_> {
        fn drop(&mut self) {
            let _ = POLLED.try_with(|p| p.set(self.prev.take()));
        }
    }

    /// A scope's span.
    #[derive(Clone, Debug)]
    pub(crate) struct ScopeSpan(Span);

    impl ScopeSpan {
        /// No span (a deadline region of `fail_after` and friends is not a scope).
        pub(crate) fn none() -> Self {
            Self(Span::none())
        }

        /// The span of a scope being opened on this thread (see the module's opening comment
        /// for its parent).
        pub(crate) fn open(name: Option<&Name>, runtime: Option<&Arc<dyn Runtime>>) -> Self {
            let name = name.map(|n| &**n);
            let runtime = runtime.map(|rt| rt.name());
            let parent = POLLED.try_with(|p| {
                let id = p.take();
                p.set(id.clone());
                id
            });
            Self(match parent.ok().flatten() {
                Some(parent) => tracing::info_span!(
                    target: "taskscope",
                    parent: parent,
                    "scope",
                    name,
                    runtime,
                    outcome = Empty,
                    cancel_reason = Empty
                ),
                None => tracing::info_span!(
                    target: "taskscope",
                    "scope",
                    name,
                    runtime,
                    outcome = Empty,
                    cancel_reason = Empty
                ),
            })
        }
    }

    /// A child's span.
    #[derive(Debug)]
    pub(crate) struct ChildSpan(Span);

    impl ChildSpan {
        /// The span of a child of the scope whose span is `scope`.
        pub(crate) fn new(scope: &ScopeSpan, name: Option<&Name>, runtime: &Arc<dyn Runtime>) -> Self {
            Self(tracing::info_span!(
                target: "taskscope",
                parent: &scope.0,
                "child",
                name = name.map(|n| &**n),
                runtime = runtime.name(),
                outcome = Empty,
                cancel_reason = Empty
            ))
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
            self.0 = Span::none();
        }
    }

    /// Runs a scope's owner future inside the scope's span, and records the scope's outcome
    /// (`ok`, `failed`, `cancelled` with its reason, `panicked`; a scope dropped before it
    /// finished is `cancelled`, because its owner dropped it).
    pub(crate) fn in_scope<F>(span: ScopeSpan, fut: F) -> InScope<F> {
        InScope { fut, span: span.0, done: false }
    }

    pin_project! {
        /// The future of [`in_scope`].
        pub(crate) struct InScope<F> {
            #[pin]
            fut: F,
            span: Span,
            done: bool,
        }

        impl<F> PinnedDrop for InScope<F> {
            fn drop(this: Pin<&mut Self>) {
                let this = this.project();
                if !*this.done {
                    record_end(this.span, "cancelled", Some(&CancelReason::Dropped));
                }
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
            let _entered = enter(this.span);
            let mut unwinding = Unwinding { span: this.span, done: this.done, armed: true };
            let polled = this.fut.poll(cx);
            unwinding.armed = false;
            drop(unwinding);
            if let Poll::Ready(out) = &polled {
                *this.done = true;
                match out {
                    Ok(_) => record_end(this.span, "ok", None),
                    Err(ScopeError::Failed(_)) => record_end(this.span, "failed", None),
                    Err(ScopeError::Cancelled { reason, .. }) => record_end(this.span, "cancelled", Some(reason)),
                }
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
        pub(crate) fn new(_: &ScopeSpan, _: Option<&Name>, _: &Arc<dyn Runtime>) -> Self {
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
