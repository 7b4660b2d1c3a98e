//! The local scope (P3): children polled inside the owner's own future — no spawn, no
//! runtime — so they may borrow from the stack and need not be `Send` or `'static`.
//!
//! Every S, F, C, T and L rule holds as for the spawned scope, except parallelism (the
//! children take turns on the owner's thread) and B1 (there is no blocking pool to wait for).
//! Dropping the scope future drops every child synchronously, before the drop returns. It runs
//! under any executor: `futures::executor::block_on`, `futures_lite::future::block_on`, a tokio
//! runtime's `block_on`, a task of a single-threaded executor (tokio's `LocalSet` /
//! `spawn_local`, smol's `LocalExecutor`), the body of a scope, or a child of another local
//! scope.
//!
//! The scope's future is not `Send`, even when every child is: see [`local_scope`].
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
mod node;
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
///
/// # Not `Send`, even with `Send` children
/// The scope's future is never `Send`, so it cannot be awaited inside `tokio::spawn`,
/// `smol::spawn` or a spawned scope's child, which need `Send` futures. What the owner shares
/// with its children, spawners and handles (the children themselves, their states and values,
/// the scope's flags) is held with `Rc` and `Cell`, which is what lets children borrow and be
/// `!Send` at no synchronization cost; a `Send` local scope would need `Arc`, locks and atomics
/// for all of it, that is the spawned scope's costs without its parallelism. Inside a
/// multi-threaded runtime's task, use the spawned scope; to keep borrowing or `!Send`
/// children, run the local scope on a single-threaded executor's task:
///
/// ```
/// use std::rc::Rc;
/// use taskscope_core::{BoxError, local_scope};
///
/// // A smol `LocalExecutor` task (tokio: `LocalSet::run_until` with `spawn_local`).
/// let ex = async_executor::LocalExecutor::new();
/// let task = ex.spawn(async {
///     let counter = Rc::new(std::cell::Cell::new(0)); // `!Send`: fine on a local task
///     local_scope(async |s| {
///         for _ in 0..3 {
///             let counter = counter.clone();
///             s.spawn(async move {
///                 counter.set(counter.get() + 1);
///                 Ok::<_, BoxError>(())
///             });
///         }
///         Ok(())
///     })
///     .await
///     .map(|()| counter.get())
/// });
/// assert_eq!(futures_lite::future::block_on(ex.run(task)).unwrap(), 3);
/// ```
///
/// A task of a multi-threaded runtime does not compile, whatever the children:
///
/// ```compile_fail,E0277
/// use taskscope_core::{BoxError, LocalScope, local_scope};
///
/// fn spawn_on_a_thread_pool<F: std::future::Future + Send + 'static>(_task: F) {}
///
/// spawn_on_a_thread_pool(async {
///     // error[E0277]: the local scope's future cannot be sent between threads safely
///     local_scope(async |s: &LocalScope<'_, BoxError>| {
///         s.spawn(async { Ok(1u8) }); // a `Send` child changes nothing
///         Ok(())
///     })
///     .await
/// });
/// ```
pub async fn local_scope<'env, T, E, F>(body: F) -> Result<T, ScopeError<E>>
where
    F: AsyncFnOnce(&LocalScope<'env, E>) -> Result<T, E>,
    E: 'static,
{
    LocalBuilder::new().run(body).await
}
