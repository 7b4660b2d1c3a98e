//! The state a local scope shares with its children, spawners and handles: token, flags, the
//! collected errors and panic, and what a child's outcome does to the scope (F1–F5, C1, C4,
//! C9, L2, L3). Everything is single-threaded (`Cell`s): only wakers cross threads.

use std::cell::{Cell, RefCell};
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use crate::error::{ChildError, ErrorGroup, ScopeError};
use crate::limit::Semaphore;
use crate::runtime::Runtime;
use crate::scope::{ChildState, Outcome, Payload, Policy, drop_quietly};
use crate::token::{CancelReason, CancelToken, Name};
use crate::trace::ScopeSpan;

use super::ambient::{Around, Holds};
use super::child::ChildCell;
use super::ready::ReadyQueue;

/// The errors of a scope, shared with supervised children's handles: an error delivered to a
/// handle that is dropped unread still reaches the group (F3).
#[derive(Debug)]
pub(crate) struct ErrorSink<E> {
    pub(crate) errors: RefCell<Vec<ChildError<E>>>,
    /// The scope has returned: nothing can be added any more.
    pub(crate) finished: Cell<bool>,
}

impl<E> ErrorSink<E> {
    pub(crate) fn push(&self, name: Option<Name>, error: E) {
        self.errors.borrow_mut().push(ChildError::new(name, error));
    }
}

pub(crate) struct State<E> {
    pub(crate) token: CancelToken,
    pub(crate) rt: Option<Arc<dyn Runtime>>,
    pub(crate) grace: Duration,
    pub(crate) policy: Policy,
    pub(crate) sem: Option<Arc<Semaphore>>,
    /// No more unshielded spawns: the scope is cancelling or finished.
    pub(crate) closed: Cell<bool>,
    /// No spawns at all: the scope finished or its owner dropped it.
    pub(crate) done: Cell<bool>,
    /// Hard cancellation: the owner drops every unshielded child.
    pub(crate) aborted: Cell<bool>,
    /// A race has a winner.
    won: Cell<bool>,
    /// The owner is inside its poll: a spawn is picked up without waking it.
    pub(crate) polling: Cell<bool>,
    pub(crate) live: Cell<usize>,
    pub(crate) sink: Rc<ErrorSink<E>>,
    panic: RefCell<Option<Payload>>,
    pub(crate) around: Around,
    pub(crate) holds: Arc<Holds>,
    pub(crate) queue: Arc<ReadyQueue>,
    /// The scope's span (O2), the parent of its children's; zero-sized without `tracing`.
    pub(crate) span: ScopeSpan,
}

impl<E: 'static> State<E> {
    pub(crate) fn new(
        token: CancelToken,
        rt: Option<Arc<dyn Runtime>>,
        grace: Duration,
        policy: Policy,
        limit: Option<usize>,
        queue: Arc<ReadyQueue>,
        span: ScopeSpan,
    ) -> Self {
        let holds = Holds::new(queue.clone());
        Self {
            around: Around::new(&token, rt.as_ref(), &holds),
            token,
            rt,
            grace,
            policy,
            sem: limit.map(Semaphore::new),
            closed: Cell::new(false),
            done: Cell::new(false),
            aborted: Cell::new(false),
            won: Cell::new(false),
            polling: Cell::new(false),
            live: Cell::new(0),
            sink: Rc::new(ErrorSink { errors: RefCell::new(Vec::new()), finished: Cell::new(false) }),
            panic: RefCell::new(None),
            holds,
            queue,
            span,
        }
    }
}

impl<E> State<E> {
    /// Fires the token (the first reason stands, C4), closes the scope, and with no grace
    /// period marks it aborted: the owner drops every unshielded child (C1).
    pub(crate) fn cancel(&self, reason: CancelReason) {
        self.token.cancel_with(reason);
        self.close();
        if self.grace.is_zero() {
            self.aborted.set(true);
        }
        if !self.polling.get() {
            self.queue.owner.wake();
        }
    }

    /// No more unshielded spawns; children waiting for a slot never start.
    pub(crate) fn close(&self) {
        self.closed.set(true);
        if let Some(sem) = &self.sem {
            sem.close();
        }
    }

    /// Whether spawns other than shielded ones are refused.
    pub(crate) fn refuses(&self, shielded: bool) -> bool {
        self.done.get() || (!shielded && (self.closed.get() || self.token.is_cancelled()))
    }

    /// Records an error and cancels the scope (F1).
    pub(crate) fn fail(&self, name: Option<Name>, error: E) {
        self.sink.push(name.clone(), error);
        self.cancel(CancelReason::SiblingFailed { name });
    }

    /// Records the first panic (only it resumes, F5) and cancels the scope.
    pub(crate) fn panicked(&self, name: Option<Name>, p: Payload) {
        let extra = {
            let mut slot = self.panic.borrow_mut();
            if slot.is_none() {
                *slot = Some(p);
                None
            } else {
                Some(p)
            }
        };
        if let Some(p) = extra {
            drop_quietly(p);
        }
        self.cancel(CancelReason::SiblingPanicked { name });
    }

    /// Drops a value nobody will read (F4), catching a panic from its destructor (F7).
    fn drop_late<V>(&self, name: &Option<Name>, v: V) -> ChildState {
        match catch_unwind(AssertUnwindSafe(move || drop(v))) {
            Ok(()) => ChildState::Cancelled,
            Err(p) => {
                self.panicked(name.clone(), p);
                ChildState::Panicked
            }
        }
    }

    /// A child's future is gone: record its outcome in its handle and the scope.
    pub(crate) fn child_done<T>(&self, child: &ChildCell<T, E>, outcome: Outcome<T, E>, shielded: bool) {
        let state = match outcome {
            Outcome::Value(v) => {
                let keep = (shielded || !self.token.is_cancelled())
                    && (self.policy != Policy::Race || !self.won.replace(true));
                if keep {
                    if child.detached.get() {
                        let _ = self.drop_late(&child.name, v);
                    } else {
                        child.output.set(Some(Ok(v)));
                    }
                    if self.policy == Policy::Race {
                        self.cancel(CancelReason::RaceWon { name: child.name.clone() });
                    }
                    ChildState::Finished
                } else {
                    self.drop_late(&child.name, v)
                }
            }
            Outcome::Error(e) => {
                match self.policy {
                    Policy::Race => self.sink.push(child.name.clone(), e),
                    Policy::Supervise if child.detached.get() => self.sink.push(child.name.clone(), e),
                    Policy::Supervise => child.output.set(Some(Err(e))),
                    _ => self.fail(child.name.clone(), e),
                }
                ChildState::Failed
            }
            Outcome::Handled => ChildState::Failed,
            Outcome::Panic(p) => {
                self.panicked(child.name.clone(), p);
                ChildState::Panicked
            }
            Outcome::Cancelled => ChildState::Cancelled,
        };
        self.live.set(self.live.get() - 1);
        child.set_state(state);
    }

    /// The outcome of a scope with no live child left (C5, C7); resumes a recorded panic (F5).
    pub(crate) fn finish<T>(&self, value: &mut Option<T>) -> Result<T, ScopeError<E>> {
        self.done.set(true);
        self.sink.finished.set(true);
        self.close();
        if let Some(p) = self.panic.borrow_mut().take() {
            resume_unwind(p);
        }
        let errors = std::mem::take(&mut *self.sink.errors.borrow_mut());
        let cancelled = |reason: &CancelReason| Err(ScopeError::Cancelled { reason: reason.clone(), errors: None });
        match self.token.reason() {
            // Supervise and race collect errors without cancelling.
            None => match ErrorGroup::new(errors) {
                Some(group) => Err(ScopeError::Failed(group)),
                None => Ok(value
                    .take()
                    .expect("taskscope: local scope finished without a value, an error or a cancellation")),
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
        }
    }
}
