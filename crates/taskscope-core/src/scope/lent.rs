//! A reference lent to a thread-local for the length of one call: how a child's or a body's
//! poll makes its scope the ambient scope (C6, C8, C9) without moving its `Arc` in and out or
//! touching a reference count, and without taking it back through a downcast.
//!
//! # Safety
//!
//! A [`Lent`] cell holds a pointer to a value that a [`Lent::lend`] call on this thread is
//! borrowing, or nothing. That is its one invariant, and it rests on three premises that this
//! module's privacy enforces:
//!
//! 1. Only [`Lent::lend`] writes the cell. It stores a pointer made from a shared reference it
//!    was given, so the value stays borrowed, and so alive and unmoved, until `lend` returns.
//! 2. `lend` puts the previous pointer back before it returns, on every path: a guard's drop
//!    does it, which also runs when the call unwinds. A guard cannot be leaked (`mem::forget`)
//!    because it is a local of `lend`, never handed out. Calls on one thread therefore nest:
//!    whatever pointer the cell holds belongs to the innermost `lend` still running on this
//!    thread, whose borrow is live.
//! 3. The cell is `!Sync` and lives in a thread-local, so only the thread whose `lend` call
//!    borrows the value reads the pointer. The value itself is `Sync` (every [`Ambient`] is),
//!    so reading it from that thread is allowed whatever thread made it.
//!
//! [`Lent::with`] turns the pointer back into a reference that lives only for its callback,
//! which runs inside the `lend` call that stored the pointer (premise 2). Nothing inside that
//! callback can drop or move the value: its owner is shared-borrowed by that `lend` call,
//! further up this thread's stack.
//!
//! The cell is only touched from one thread, so there is nothing for loom to model. The unit
//! tests below (nesting, unwinding, reading the lent value in every position) and
//! `tests/lent_ambient.rs` (the ambient scope read from every real position that lends it: a
//! body, a child, a nested scope, a shielded child, a local scope, and children polled inline
//! inside their spawner's poll) run under Miri with stacked and with tree borrows in CI.

use std::cell::Cell;
use std::ptr::NonNull;
use std::sync::Arc;

use super::ambient::ScopeCtx;

/// What a poll can make the ambient scope: an `Arc` of a scope context, read in place.
pub(crate) trait Ambient: Sync {
    /// The scope context, borrowed.
    fn ctx(&self) -> &dyn ScopeCtx;
    /// The scope context, owned: for a nested scope, which keeps a link to it.
    fn to_ctx(&self) -> Arc<dyn ScopeCtx>;
}

impl<T: ScopeCtx + 'static> Ambient for Arc<T> {
    fn ctx(&self) -> &dyn ScopeCtx {
        &**self
    }
    fn to_ctx(&self) -> Arc<dyn ScopeCtx> {
        self.clone()
    }
}

impl Ambient for Arc<dyn ScopeCtx> {
    fn ctx(&self) -> &dyn ScopeCtx {
        &**self
    }
    fn to_ctx(&self) -> Arc<dyn ScopeCtx> {
        self.clone()
    }
}

/// A thread-local's slot for an [`Ambient`] lent by the innermost running [`Lent::lend`].
pub(crate) struct Lent {
    ptr: Cell<Option<NonNull<dyn Ambient>>>,
}

/// Puts the previous pointer back when `lend` returns or unwinds (premise 2).
struct Restore<'c> {
    cell: &'c Lent,
    prev: Option<NonNull<dyn Ambient>>,
}

impl Drop for Restore<'_> {
    fn drop(&mut self) {
        self.cell.ptr.set(self.prev);
    }
}

impl Lent {
    /// An empty slot.
    pub(crate) const fn new() -> Self {
        Self { ptr: Cell::new(None) }
    }

    /// Runs `f` with `value` lent: [`with`](Self::with) on this thread sees it (or, for
    /// `None`, sees nothing) until `f` returns or unwinds; then the previous value is back.
    pub(crate) fn lend<R>(&self, value: Option<&(dyn Ambient + 'static)>, f: impl FnOnce() -> R) -> R {
        let _restore = Restore { cell: self, prev: self.ptr.replace(value.map(NonNull::from)) };
        f()
    }

    /// Runs `f` with the value lent by the innermost running [`lend`](Self::lend), if any.
    pub(crate) fn with<R>(&self, f: impl FnOnce(Option<&dyn Ambient>) -> R) -> R {
        // SAFETY: by the module's invariant, a pointer in the cell was made from a shared
        // reference that a `lend` call running on this thread still borrows, and that call
        // outlives `f` (premise 2). So the pointee is alive, unmoved and not mutably borrowed
        // for as long as the reference made here is used, which is only inside `f`; and it is
        // `Sync`, so any thread may read it (premise 3).
        let value = self.ptr.get().map(|p| unsafe { p.as_ref() });
        f(value)
    }
}

#[cfg(all(test, not(taskscope_loom)))]
mod tests {
    use std::panic::{AssertUnwindSafe, catch_unwind};

    use super::*;
    use crate::scope::ambient::TestCtx;
    use crate::token::CancelToken;

    /// The token of the lent value, or `None`.
    fn lent_token(cell: &Lent) -> Option<CancelToken> {
        cell.with(|v| v.map(|v| v.ctx().token().clone()))
    }

    #[test]
    fn a_lent_value_is_seen_only_while_its_call_runs() {
        let cell = Lent::new();
        let scope = TestCtx::new();
        assert!(lent_token(&cell).is_none());
        cell.lend(Some(&scope), || {
            scope.token.cancel();
            assert!(lent_token(&cell).is_some_and(|t| t.is_cancelled()));
        });
        assert!(lent_token(&cell).is_none());
    }

    #[test]
    fn nested_calls_give_the_outer_value_back() {
        let cell = Lent::new();
        let (outer, inner) = (TestCtx::new(), TestCtx::new());
        outer.token.cancel();
        cell.lend(Some(&outer), || {
            cell.lend(Some(&inner), || assert!(lent_token(&cell).is_some_and(|t| !t.is_cancelled())));
            // A nested call that lends nothing hides the outer value while it runs.
            cell.lend(None, || assert!(lent_token(&cell).is_none()));
            assert!(lent_token(&cell).is_some_and(|t| t.is_cancelled()));
        });
        assert!(lent_token(&cell).is_none());
    }

    #[test]
    fn an_unwinding_call_gives_the_previous_value_back() {
        let cell = Lent::new();
        let (outer, inner) = (TestCtx::new(), TestCtx::new());
        outer.token.cancel();
        cell.lend(Some(&outer), || {
            let unwound = catch_unwind(AssertUnwindSafe(|| cell.lend(Some(&inner), || panic!("the call unwinds"))));
            assert!(unwound.is_err());
            assert!(lent_token(&cell).is_some_and(|t| t.is_cancelled()));
        });
        assert!(lent_token(&cell).is_none());
    }

    #[test]
    fn an_owned_link_outlives_the_call_that_lent_it() {
        let cell = Lent::new();
        let link = {
            let scope = TestCtx::new();
            let dynamic: Arc<dyn ScopeCtx> = scope.clone();
            let link = cell.lend(Some(&dynamic), || cell.with(|v| v.map(Ambient::to_ctx)));
            drop((scope, dynamic));
            link
        };
        // The lent values are gone; the link made during the call holds its own reference.
        let link = link.expect("lent during the call");
        link.token().cancel();
        assert!(link.token().is_cancelled());
        assert!(lent_token(&cell).is_none());
    }
}
