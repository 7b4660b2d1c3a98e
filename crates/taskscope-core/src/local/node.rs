//! A local child in one allocation (P3's cost goal): the state its handle shares
//! ([`ChildCell`]) and core's wrapper around its future ([`ChildTask`]) live in one pinned
//! `Rc`, which the scope's arena and the child's handle both hold. This module is the one
//! place the local scope creates a `Pin` by hand.
//!
//! The SAFETY proof of [`Node::with_body`] rests on one premise the compiler enforces here:
//! `body` is private to this module, so that function is the only code that reaches into it.
//!
//! Invariants the rest of the local scope keeps (each is what makes a rule hold, not what
//! makes the `unsafe` block sound):
//! - A handle that outlives the scope keeps the node's memory, never the child's future (P3:
//!   dropping the scope drops every child, before the drop returns). The arena holds a node
//!   for as long as its future is alive; whoever takes a node out of it (to poll it, or to
//!   stop it) puts it back or drops its future, also when user code it calls panics
//!   (`stop_children` stops every victim before a panic goes on), and the arena drops in place
//!   any future still in it when it is dropped itself.
//! - While a node is polled or stopped it is out of the arena, in the hands of exactly one
//!   caller, so the body's `RefCell` is never borrowed twice; a handle reaches only `cell`.

use std::cell::RefCell;
use std::ops::Deref;
use std::pin::Pin;
use std::rc::Rc;

use super::child::{ChildCell, ChildTask};

/// A local child's shared state and its task body, in one allocation. The handle sees the
/// body type-erased ([`SharedNode`]); a refused child has no body (`()`).
pub(crate) struct Node<T, E, B: ?Sized> {
    cell: ChildCell<T, E>,
    /// Whether the scope's cancellation passes the child by (C8): read while the arena is
    /// borrowed, without touching the body.
    pub(crate) shielded: bool,
    /// Private to this module: only [`Node::with_body`] reaches into it.
    body: B,
}

/// Anything, for a [`Node`] whose body is erased.
pub(crate) trait Erased {}
impl<X: ?Sized> Erased for X {}

/// A child as its handle sees it: the body is erased, its lifetime (what the child's future
/// borrows) is kept.
pub(crate) type SharedNode<'env, T, E> = Node<T, E, dyn Erased + 'env>;

impl<T, E, B> Node<T, E, B> {
    /// A new node, pinned where it is allocated: the only way to make one.
    pub(crate) fn new(cell: ChildCell<T, E>, shielded: bool, body: B) -> Pin<Rc<Self>> {
        Rc::pin(Self { cell, shielded, body })
    }
}

impl<T, E, B: ?Sized> Deref for Node<T, E, B> {
    type Target = ChildCell<T, E>;
    fn deref(&self) -> &ChildCell<T, E> {
        &self.cell
    }
}

impl<'h, F, T, E> Node<T, E, RefCell<ChildTask<'h, F, E>>> {
    /// The child's task body, pinned, with the state it shares with its handle. This is the
    /// only place the local scope creates a `Pin` by hand.
    ///
    /// # Panics
    /// If the body is already borrowed: the invariants above rule that out (a node being
    /// polled or stopped is out of the arena, in one caller's hands).
    #[allow(unsafe_code)]
    pub(crate) fn with_body<R>(
        self: Pin<&Self>,
        f: impl FnOnce(Pin<&mut ChildTask<'h, F, E>>, &ChildCell<T, E>) -> R,
    ) -> R {
        let this = self.get_ref();
        let mut body = this.body.borrow_mut();
        // SAFETY: `Pin::new_unchecked` requires that the `ChildTask` behind this reference is
        // never moved again before it is dropped, and that its memory is not reused before
        // then.
        // - The node is pinned (`self: Pin<&Self>`; the only constructor, `Node::new`,
        //   allocates it with `Rc::pin`, and no `&mut Node` is ever handed out: `Rc` gives
        //   only shared references, and `Pin<Rc<_>>` gives the `Rc` back only for an `Unpin` node,
        //   whose body is then `Unpin` too and needs no pinning), so it stays
        //   where it is until its drop glue runs, and the body is a field of it, inline in a
        //   `RefCell` that stores it inline: the body cannot move unless something moves it
        //   out of the `RefCell`.
        // - Nothing does: this function is the only code that reaches into the `RefCell`
        //   (`body` is private to this module, and nothing else here touches it; the drop glue
        //   drops the body in place), and it hands out only `Pin<&mut ChildTask>`. The task's
        //   fields are reached through `pin_project` projections: the future only as
        //   `Pin<&mut Option<F>>`, cleared with `Pin::set`, which drops it in place. `Node`
        //   has no `Drop` impl and no manual `Unpin` impl.
        // - The `RefCell` makes the access exclusive (a second borrow panics instead).
        let body = unsafe { Pin::new_unchecked(&mut *body) };
        f(body, &this.cell)
    }
}
