//! What a child's end does to its scope, and what the owner gets (F1–F4, L2, L3, C5, C7, O3):
//! a value for its handle, an error for the group, a panic to resume, a cancellation that is
//! never a member; the publication order of a child's terminal state; and the scope's final
//! outcome once every child is gone.

use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};

use super::body::drop_quietly;
use super::gauge;
use super::handle::{CANCELLED, FAILED, FINISHED, PANICKED};
use super::inner::{Inner, LIVE_UNIT};
use crate::error::{ChildError, ErrorGroup, ScopeError};
use crate::sync::Ordering;
use crate::token::{CancelReason, Name};
use crate::util::lock;

/// A panic's payload, kept to resume in the owner (F5).
pub(crate) type Payload = Box<dyn Any + Send>;

/// How a child's future ended, as its wrapper saw it.
pub(crate) enum Outcome<T, E> {
    Value(T),
    Error(E),
    Panic(Payload),
    Cancelled,
    /// An error taken by a [`start`](Spawner::start) call before its child reported ready:
    /// the child failed, the scope does not.
    Handled,
}

// ---------------------------------------------------------------------------------------------
// The scope's shared state.

/// What a child's outcome does to its scope (L2, L3). The body always behaves as under
/// [`Policy::FailFast`]: its error cancels the scope (F1).
///
/// ```
/// # use taskscope_core::{Builder, BoxError, JoinError, Policy};
/// # let rt = taskscope_core::test_runtime();
/// # futures_lite::future::block_on(async {
/// // Supervise: one failure does not cancel the others; every outcome is in its handle.
/// let handles = Builder::new()
///     .runtime(rt)
///     .policy(Policy::Supervise)
///     .run(async |s| {
///         Ok::<_, BoxError>(vec![
///             s.spawn(async { Ok(1) }),
///             s.spawn(async { Err(BoxError::msg("down")) }),
///             s.spawn(async { Ok(3) }),
///         ])
///     })
///     .await
///     .unwrap();
/// let outcomes: Vec<_> = handles.into_iter().map(|h| h.result().map_err(|e| e.into_error().unwrap().to_string())).collect();
/// assert_eq!(outcomes, [Ok(1), Err("down".to_string()), Ok(3)]);
/// # });
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Policy {
    /// The default: the first error (or panic) cancels the scope, and the scope returns the
    /// [`ErrorGroup`] of every error (F1, F2), like Python's `TaskGroup`.
    #[default]
    FailFast,
    /// Collect-all (L2), like `gather(return_exceptions=True)` or Java's `awaitAll`: errors do
    /// not cancel anything; every child runs to its end and its outcome, error included, is
    /// delivered to its [`JoinHandle`](crate::JoinHandle). An error whose handle was dropped goes to the scope's
    /// group instead (F3: never lost), and the scope then returns [`ScopeError::Failed`] once
    /// every child is done.
    Supervise,
    /// First-ok (L3), like AnyIO's racing patterns or Java's `anySuccessfulResultOrThrow`: the
    /// first child to succeed wins, its value stays in its handle, and the scope is cancelled
    /// ([`CancelReason::RaceWon`]) so the rest are dropped; errors do not cancel anything. If
    /// no child succeeds, the scope returns the group of every error. [`Builder::race`](crate::Builder::race) is the
    /// convenient form. A win also cancels the body if it is still running; the scope then
    /// returns [`ScopeError::Cancelled`] with the `RaceWon` reason.
    Race,
}

impl<E> Inner<E> {
    pub(super) fn record_panic(&self, p: Payload) {
        let extra = {
            let mut st = lock(&self.state);
            if st.panic.is_none() {
                st.panic = Some(p);
                None
            } else {
                Some(p)
            }
        };
        // Only the first payload resumes; dropping a later one must not unwind into core.
        if let Some(p) = extra {
            drop_quietly(p);
        }
    }

    /// Records an error and cancels the scope (F1).
    pub(crate) fn fail(&self, name: Option<Name>, error: E) {
        self.collect(name.clone(), error);
        self.cancel(CancelReason::SiblingFailed { name });
    }

    /// Records an error without cancelling anything (supervise, race).
    pub(crate) fn collect(&self, name: Option<Name>, error: E) {
        lock(&self.state).errors.push(ChildError::new(name, error));
    }

    /// [`collect`](Self::collect), unless the owner already took the errors (the scope is
    /// done): then the error is given back. Decided under the lock the owner takes them
    /// under, so an error is either in the group or given back, never left behind (F3).
    pub(super) fn collect_unless_done(&self, name: Option<Name>, error: E) -> Option<E> {
        let mut st = lock(&self.state);
        if st.done {
            return Some(error);
        }
        st.errors.push(ChildError::new(name, error));
        None
    }

    /// A child's error that its receiver (a dropped start call) can no longer take: it is the
    /// scope's, as if the child had returned it now (F1 under fail-fast; collected under the
    /// other policies). Given back if the scope is already done (F3: decided under the lock).
    pub(crate) fn unclaimed(&self, name: Option<Name>, error: E) -> Option<E> {
        let error = self.collect_unless_done(name.clone(), error);
        if error.is_none() && self.policy == Policy::FailFast {
            self.cancel(CancelReason::SiblingFailed { name });
        }
        error
    }

    pub(crate) fn panicked(&self, name: Option<Name>, p: Payload) {
        self.record_panic(p);
        self.cancel(CancelReason::SiblingPanicked { name });
    }

    /// Drops a value nobody will read (one that arrived too late, F4, or whose handle is gone),
    /// catching a panic from its destructor: that panic is the child's.
    pub(super) fn drop_late<V>(&self, name: Option<&Name>, v: V) -> u8 {
        if let Err(p) = catch_unwind(AssertUnwindSafe(move || drop(v))) {
            self.panicked(name.cloned(), p);
            PANICKED
        } else {
            CANCELLED
        }
    }

    /// A child's future is gone: record its outcome (an error for the group, a panic to
    /// resume) and return the child's terminal state, which the caller then
    /// [`publish`](Self::publish)es, with what the child leaves for its handle: its value, or a
    /// supervised child's error (L2). Whether the handle is still there to take it is decided
    /// at publication, by the slot's final update. A shielded child was not cancelled with its
    /// scope, so its value is kept.
    pub(crate) fn child_end<T>(
        &self,
        name: Option<&Name>,
        outcome: Outcome<T, E>,
        shielded: bool,
    ) -> (u8, Option<Result<T, E>>) {
        match outcome {
            Outcome::Value(v) => {
                let keep = (shielded || !self.token.is_cancelled())
                    && (self.policy != Policy::Race || !self.won.swap(true, Ordering::AcqRel));
                if keep {
                    if self.policy == Policy::Race {
                        self.cancel(CancelReason::RaceWon { name: name.cloned() });
                    }
                    (FINISHED, Some(Ok(v)))
                } else {
                    // F4: a value returned after cancellation began (or after a race was won)
                    // is dropped.
                    (self.drop_late(name, v), None)
                }
            }
            Outcome::Error(e) => match self.policy {
                Policy::FailFast => {
                    self.fail(name.cloned(), e);
                    (FAILED, None)
                }
                Policy::Race => {
                    self.collect(name.cloned(), e);
                    (FAILED, None)
                }
                Policy::Supervise => (FAILED, Some(Err(e))),
            },
            Outcome::Handled => (FAILED, None),
            Outcome::Panic(p) => {
                self.panicked(name.cloned(), p);
                (PANICKED, None)
            }
            Outcome::Cancelled => (CANCELLED, None),
        }
    }

    /// Makes a child's terminal state visible (O3): first the counts drop (the process gauge,
    /// and half of the child's live units, so [`live_count`](Self::live_count) no longer
    /// includes it), then `set_state` stores the state and wakes the handle, and only then the
    /// last unit goes, which lets the owner finish (S1): whoever sees the handle's terminal
    /// state sees counts without the child, and the scope never returns while a handle still
    /// says "running".
    pub(crate) fn publish(&self, set_state: impl FnOnce()) {
        gauge::sub();
        self.live.fetch_sub(LIVE_UNIT - 1, Ordering::SeqCst);
        set_state();
        self.live_done(1);
    }
}

/// Completes the scope if no child is live, choosing the outcome (C5); resumes a recorded
/// panic (F5).
pub(super) fn finish<T, E>(inner: &Inner<E>, value: &mut Option<T>) -> Option<Result<T, ScopeError<E>>> {
    let (errors, panic) = {
        let mut st = lock(&inner.state);
        if inner.live.load(Ordering::Acquire) != 0 {
            return None;
        }
        // `done` refuses every spawn from here on; `close` below also releases limit waiters.
        st.done = true;
        (std::mem::take(&mut st.errors), st.panic.take())
    };
    inner.finished.store(true, Ordering::Release);
    inner.close();
    if let Some(p) = panic {
        resume_unwind(p);
    }
    let cancelled = |reason: &CancelReason| Err(ScopeError::Cancelled { reason: reason.clone(), errors: None });
    let out = match inner.token.reason() {
        // A transparent region: only its own deadline is an outcome, and only when it cancelled
        // the body (C7): a value the body returned before the deadline was seen is the
        // region's value, even if the deadline has passed since.
        _ if inner.transparent => match value.take() {
            Some(v) => Ok(v),
            None => cancelled(&CancelReason::Deadline),
        },
        // Supervise and race collect errors without cancelling.
        None => match ErrorGroup::new(errors) {
            Some(group) => Err(ScopeError::Failed(group)),
            None => Ok(value.take().expect("taskscope: scope finished without a value, an error or a cancellation")),
        },
        Some(reason @ CancelReason::RaceWon { .. }) => match value.take() {
            Some(v) => Ok(v),
            None => cancelled(reason),
        },
        // C7: "elapsed" only when no child failed; otherwise the group.
        Some(
            reason @ (CancelReason::SiblingFailed { .. }
            | CancelReason::SiblingPanicked { .. }
            | CancelReason::Deadline),
        ) => match ErrorGroup::new(errors) {
            Some(group) => Err(ScopeError::Failed(group)),
            None => cancelled(reason),
        },
        Some(reason) => Err(ScopeError::Cancelled { reason: reason.clone(), errors: ErrorGroup::new(errors) }),
    };
    Some(out)
}
