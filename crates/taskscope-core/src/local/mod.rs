//! The local scope (P3): children polled inside the owner's own future — no spawn, no
//! runtime — so they may borrow from the stack and need not be `Send` or `'static`.
//!
//! Every S, F, C, T and L rule holds as for the spawned scope, except parallelism (the
//! children take turns on the owner's thread) and B1 (there is no blocking pool to wait for).
//! Dropping the scope future drops every child synchronously, before the drop returns. It runs
//! under any executor: `futures::executor::block_on`, `futures_lite::future::block_on`, inside
//! a tokio or smol task, or inside another scope's child.
//!
//! Only woken children are polled: each child has its own waker, which queues the child's
//! index and wakes the owner (like `FuturesUnordered`), so a wake-up costs the same whatever
//! the number of children.
//!
//! - [`local_scope`] / [`LocalBuilder`]: open one (with a name, parent token, grace period,
//!   deadline, limit, policy as for [`Builder`](crate::Builder)).
//! - [`LocalScope`] / [`LocalSpawner`] / [`LocalJoinHandle`]: spawn, spawn named, shielded,
//!   with backpressure ([`spawn_wait`](LocalSpawner::spawn_wait),
//!   [`try_spawn`](LocalSpawner::try_spawn)), start-and-wait-ready
//!   ([`start`](LocalSpawner::start), [`LocalReady`], [`LocalStart`]).
//! - Errors, tokens and reasons are the spawned scope's own: [`ScopeError`](crate::ScopeError),
//!   [`ErrorGroup`](crate::ErrorGroup), [`JoinError`](crate::JoinError),
//!   [`CancelToken`](crate::CancelToken), [`CancelReason`](crate::CancelReason).
//!
//! # Borrowing is checked
//! A child borrows for the whole scope, so what it borrows cannot be freed or moved while the
//! scope future exists:
//!
//! ```compile_fail
//! use taskscope_core::{BoxError, local_scope};
//!
//! let names = vec!["a".to_string()];
//! let scope = local_scope(async |s| {
//!     s.spawn(async { Ok::<_, BoxError>(names.len()) }); // borrows `names`
//!     Ok(())
//! });
//! drop(names); // error: cannot move out of `names` because it is borrowed
//! futures_lite::future::block_on(scope).unwrap();
//! ```

mod ambient;
mod builder;
mod child;
mod driver;
mod ready;
mod spawner;
mod start;
mod state;

use crate::error::ScopeError;

pub use builder::LocalBuilder;
pub use child::LocalJoinHandle;
pub use spawner::{LocalScope, LocalSpawner};
pub use start::{LocalReady, LocalStart};

/// Runs a local scope with every default ([`LocalBuilder::run`]): `body` spawns children
/// through the [`LocalScope`] it receives; they are polled inside this future, may borrow from
/// the caller's stack, and need not be `Send`. No runtime is needed.
///
/// ```
/// use std::cell::RefCell;
/// use std::rc::Rc;
/// use taskscope_core::{BoxError, local_scope};
///
/// let log = RefCell::new(Vec::new()); // borrowed by every child, not `Sync`
/// let shared = Rc::new(5); // not `Send`
/// futures_lite::future::block_on(local_scope(async |s| {
///     for i in 0..3 {
///         let (log, shared) = (&log, shared.clone());
///         s.spawn(async move {
///             log.borrow_mut().push(i * *shared);
///             Ok::<_, BoxError>(())
///         });
///     }
///     Ok(())
/// }))
/// .unwrap();
/// assert_eq!(log.into_inner(), [0, 5, 10]);
/// ```
///
/// # Panics
/// Resumes panics of the body and children once every child is dropped (F5).
///
/// # Cancel safety
/// Dropping the future drops every child before the drop returns (C3, P3).
pub async fn local_scope<'env, T, E, F>(body: F) -> Result<T, ScopeError<E>>
where
    F: AsyncFnOnce(&LocalScope<'env, E>) -> Result<T, E>,
    E: 'static,
{
    LocalBuilder::new().run(body).await
}
