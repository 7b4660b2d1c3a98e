//! A scope's shared state (C1, C3, C4, S1, S4): the slot table of its children, the live count
//! the owner waits on, cancellation (token first, then abort), the owner dropping the scope,
//! and the hold a nested scope keeps on what opened it.
//!
//! Locks and their order: `state` (errors, panic, closed/done flags) is taken alone, or under
//! the lock a task spawned through `Runtime::spawn` is polled under (a child spawning, failing
//! or finishing takes it), never the other way round. The table's `grow` lock is taken under
//! `state` (a spawn claims its slot while admitted) and alone (the abort walk); it is a leaf.
//! `enclosing` is a leaf lock.
//!
//! Invariants: `live` counts [`LIVE_UNIT`] per admitted child not yet published and per
//! nested scope's hold; the owner finishes only at `live == 0` with the body gone; `done` is set
//! under `state` before the owner takes the errors, and nothing is collected after it. A child
//! claims its slot under `state`, in the same critical section that admits it, so an abort,
//! which closes the scope under `state` before it walks the table, either finds the slot or
//! has refused the spawn.

use std::sync::Arc;
use std::time::Duration;

use super::ambient::{Drain, ScopeCtx};
use super::outcome::{Payload, Policy};
use super::table::Table;
use crate::error::ChildError;
use crate::limit::Semaphore;
use crate::runtime::Runtime;
use crate::sync::{AtomicBool, AtomicUsize, AtomicWaker, Mutex, Ordering};
use crate::token::{CancelReason, CancelToken};
use crate::trace::ScopeSpan;
use crate::util::lock;

/// What a nested scope holds open until it has drained: its enclosing scope, and the drain of
/// the child whose poll opened it.
type Holds = (Option<Arc<dyn ScopeCtx>>, Option<Arc<Drain>>);

/// A scope's `live` counter counts each live child (or nested scope's hold) as `LIVE_UNIT`.
/// A child being published gives back all but one unit before its handle wakes and the last one
/// after (see [`Inner::publish`]): the reported count, `live / LIVE_UNIT` rounded down, leaves
/// out every child being published (exact while fewer than `LIVE_UNIT` publish at once), and
/// the owner, which waits for `live == 0`, never finishes while a handle still says running.
pub(super) const LIVE_UNIT: usize = if usize::BITS >= 64 { 1 << 24 } else { 1 << 10 };

pub(crate) struct State<E> {
    /// No more (unshielded) spawns: the scope is cancelling or finished.
    pub(crate) closed: bool,
    /// No spawns at all: the scope finished or its owner dropped it.
    pub(crate) done: bool,
    pub(crate) errors: Vec<ChildError<E>>,
    pub(crate) panic: Option<Payload>,
}

pub(crate) struct Inner<E> {
    pub(crate) rt: Arc<dyn Runtime>,
    pub(crate) token: CancelToken,
    pub(crate) grace: Duration,
    pub(super) policy: Policy,
    /// L1: the running slots, when the scope has a limit.
    pub(super) sem: Option<Arc<Semaphore>>,
    /// A deadline region (`fail_after` and friends): only its own deadline drops the body; an
    /// outer cancellation passes through it to the future inside.
    pub(crate) transparent: bool,
    /// Hard cancellation: children drop their futures at their next poll.
    pub(crate) aborted: AtomicBool,
    /// A race has a winner.
    pub(super) won: AtomicBool,
    /// The owner has returned (or resumed a panic): dropping the scope future is a no-op.
    pub(crate) finished: AtomicBool,
    /// Children spawned and not yet dropped.
    pub(crate) live: AtomicUsize,
    /// The children's slots: what a child's task and handle share, and what the abort walks.
    pub(super) table: Table,
    pub(crate) owner: AtomicWaker,
    pub(crate) state: Mutex<State<E>>,
    /// The enclosing scope this one holds open (see [`ScopeCtx::hold`]), and the drain of the
    /// child whose poll opened it (see [`Drain`]); both taken when released.
    pub(super) enclosing: Mutex<Holds>,
    /// The owner dropped the scope before it finished: the last child releases the hold.
    pub(super) owner_gone: AtomicBool,
    /// The scope's span (O2), the parent of its children's; zero-sized without `tracing`.
    pub(crate) span: ScopeSpan,
}

impl<E: Send + 'static> ScopeCtx for Inner<E> {
    fn token(&self) -> &CancelToken {
        &self.token
    }
    fn runtime(&self) -> &Arc<dyn Runtime> {
        &self.rt
    }
    fn hold(&self) {
        self.live.fetch_add(LIVE_UNIT, Ordering::AcqRel);
    }
    fn release(&self) {
        self.live_done(LIVE_UNIT);
    }
}

impl<E: Send + 'static> Inner<E> {
    /// A new scope's state, linked to the ambient scope (if any): child token, hold (S1).
    #[allow(clippy::too_many_arguments)] // one per choice of the builder, and the span
    pub(crate) fn new(
        rt: Arc<dyn Runtime>,
        token: CancelToken,
        grace: Duration,
        policy: Policy,
        limit: Option<usize>,
        transparent: bool,
        enclosing: Option<Arc<dyn ScopeCtx>>,
        span: ScopeSpan,
    ) -> Arc<Self> {
        let inner = Arc::new(Inner {
            rt,
            token,
            grace,
            policy,
            sem: limit.map(Semaphore::new),
            transparent,
            aborted: AtomicBool::new(false),
            won: AtomicBool::new(false),
            finished: AtomicBool::new(false),
            live: AtomicUsize::new(0),
            table: Table::new(),
            owner: AtomicWaker::new(),
            state: Mutex::new(State { closed: false, done: false, errors: Vec::new(), panic: None }),
            enclosing: Mutex::new((None, None)),
            owner_gone: AtomicBool::new(false),
            span,
        });
        if let Some(e) = enclosing {
            e.hold();
            lock(&inner.enclosing).0 = Some(e);
        }
        lock(&inner.enclosing).1 = Drain::hold_current();
        inner
    }
}

impl<E> Inner<E> {
    /// Fires the token (first reason stands), then closes the scope and, with no grace period,
    /// drops every child at once (C1). With a grace period the owner runs the timer.
    pub(crate) fn cancel(&self, reason: CancelReason) {
        self.token.cancel_with(reason);
        if self.grace.is_zero() {
            self.abort();
        } else {
            self.close();
            self.owner.wake();
        }
    }

    /// No more spawns (shielded ones excepted); children waiting for a slot never start.
    pub(crate) fn close(&self) {
        lock(&self.state).closed = true;
        if let Some(sem) = &self.sem {
            sem.close();
        }
    }

    /// The number of live children (and nested scopes' holds), as reported (O1, O3): a child
    /// whose state is being published no longer counts.
    pub(crate) fn live_count(&self) -> usize {
        self.live.load(Ordering::Acquire) / LIVE_UNIT
    }

    /// `units` of live count are gone (a nested scope's hold, or the second half of a child's
    /// [`publish`](Self::publish)): wake the owner on the last one, and if the owner already
    /// dropped the scope, release our own hold on the enclosing scope (transitively, so a
    /// chain of dropped nested scopes drains in order).
    pub(super) fn live_done(&self, units: usize) {
        // SeqCst pairs with the owner's store of `owner_gone` and load of `live`: at least one
        // side sees the other, so the hold is always released.
        if self.live.fetch_sub(units, Ordering::SeqCst) == units {
            self.owner.wake();
            if self.owner_gone.load(Ordering::SeqCst) {
                self.release_enclosing();
            }
        }
    }

    /// Releases the hold on the enclosing scope, and on the child that opened this scope
    /// (C9: its handle reports only once this scope has drained), once.
    pub(crate) fn release_enclosing(&self) {
        let (enclosing, drain) = {
            let mut held = lock(&self.enclosing);
            (held.0.take(), held.1.take())
        };
        if let Some(e) = enclosing {
            e.release();
        }
        if let Some(d) = drain {
            d.release();
        }
    }

    /// The owner dropped the scope future before it finished (C3): cancel, drop every child
    /// (shielded ones too: nothing can wait for them any more), and hand the hold on the
    /// enclosing scope to the last child.
    pub(crate) fn owner_dropped(&self) {
        if self.finished.load(Ordering::Acquire) {
            self.release_enclosing();
            return;
        }
        self.token.cancel_with(CancelReason::Dropped);
        lock(&self.state).done = true;
        self.owner_gone.store(true, Ordering::SeqCst);
        // Shielded children stop too now: they need a walk that starts after `owner_gone` is
        // set. An abort that walks here is one; if the scope had already aborted, walk again.
        if !self.abort() {
            self.wake_all();
        }
        if self.live.load(Ordering::SeqCst) == 0 {
            self.release_enclosing();
        }
    }

    /// Closes the scope and wakes every child so that it drops its future. Returns whether this
    /// call was the one that aborted (and walked the children).
    pub(crate) fn abort(&self) -> bool {
        self.close();
        if self.aborted.swap(true, Ordering::AcqRel) {
            return false;
        }
        self.wake_all();
        self.owner.wake();
        true
    }

    /// Wakes every live child so that it looks at its abort flag, once each: the walk takes
    /// each registered waker. Shielded children (C8) are left alone unless the owner is gone
    /// (C3), whose flag the caller set before.
    pub(super) fn wake_all(&self) {
        self.table.cancel_all(self.owner_gone.load(Ordering::SeqCst));
    }
}
