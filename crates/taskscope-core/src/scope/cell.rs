//! The child cell (C1, S1): a child's shared state and its task body in one allocation, and
//! the one place core creates a `Pin` by hand.
//!
//! The SAFETY proof of [`ChildCell::with_body`] rests on one premise the compiler enforces
//! here: `body` is private to this module, so this function is the only code that reaches into
//! the mutex that holds it.

use std::ops::Deref;
use std::pin::Pin;
use std::sync::Arc;

use super::body::Body;
use super::handle::Child;
use crate::sync::Mutex;
use crate::util::lock;

/// A child's shared state and its task body, in one allocation: the runtime's [`Task`], the
/// handle and the scope's registry each hold an `Arc` to it. The handle and the registry see
/// the body type-erased ([`SharedChild`]); a refused or blocking child has no body (`()`).
pub(crate) struct ChildCell<T, E, B: ?Sized> {
    child: Child<T, E>,
    /// Private to this module: only [`ChildCell::with_body`] reaches into it.
    body: B,
}

impl<T, E, B> ChildCell<T, E, B> {
    /// A new cell, pinned where it is allocated: the only way to make one.
    pub(super) fn new(child: Child<T, E>, body: B) -> Pin<Arc<Self>> {
        Arc::pin(Self { child, body })
    }
}

/// Anything, for a [`ChildCell`] whose body is erased.
pub(crate) trait Erased: Send + Sync {}
impl<X: ?Sized + Send + Sync> Erased for X {}

/// A child as its handle sees it.
pub(crate) type SharedChild<T, E> = ChildCell<T, E, dyn Erased>;

impl<T, E, B: ?Sized> Deref for ChildCell<T, E, B> {
    type Target = Child<T, E>;
    fn deref(&self) -> &Child<T, E> {
        &self.child
    }
}

impl<T, E, F> ChildCell<T, E, Mutex<Body<F, E>>> {
    /// The child's body, pinned. This is the only place core creates a `Pin` by hand.
    #[allow(unsafe_code)]
    pub(super) fn with_body<R>(self: Pin<&Self>, f: impl FnOnce(Pin<&mut Body<F, E>>, &Child<T, E>) -> R) -> R {
        let mut body = lock(&self.get_ref().body);
        // SAFETY: `Pin::new_unchecked` requires that the `Body` behind this reference is never
        // moved again before it is dropped, and that its memory is not reused before then.
        // - The cell is pinned (`self: Pin<&Self>`; the only constructor, `ChildCell::new`,
        //   allocates it with `Arc::pin`, and no `&mut ChildCell` is ever handed out), so it
        //   stays where it is until its drop glue runs, and the body is a field of it, inline
        //   in a `Mutex` that stores it inline: the body cannot move unless something moves it
        //   out of the mutex.
        // - Nothing does: this function is the only code that reaches into the mutex (`body`
        //   is private to this module, and nothing else here touches it; the drop glue drops
        //   the body in place), and it hands out only
        //   `Pin<&mut Body>`. The body's fields are reached through `pin_project` projections:
        //   the future only as `Pin<&mut Option<F>>`, cleared with `Pin::set`, which drops it
        //   in place. `ChildCell` has no `Drop` impl and no manual `Unpin` impl.
        // - The mutex makes the access exclusive.
        let body = unsafe { Pin::new_unchecked(&mut *body) };
        f(body, &self.get_ref().child)
    }
}
