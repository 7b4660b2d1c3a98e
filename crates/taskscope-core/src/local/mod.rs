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
//! - [`LocalSpawner::child`] / [`LocalChildBuilder`]: a name and shielding for a child spawned
//!   in any mode (`spawn`, `try_spawn`, `spawn_wait`, `start`; no `spawn_blocking`, B1 does not
//!   apply), as [`ChildBuilder`](crate::ChildBuilder) does for a spawned scope.
//! - [`local_all`] / [`LocalBuilder::all`] and [`LocalJoinHandle::join`] ([`LocalJoin`]):
//!   every child's value in spawn order or the scope's error, and a handle's end passed on
//!   with `?`, with any error type `E`, as [`Builder::all`](crate::Builder::all) and
//!   [`JoinHandle::join`](crate::JoinHandle::join) do for a spawned scope.
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
mod child_builder;
mod driver;
mod node;
mod ready;
mod spawner;
mod start;
mod state;

use std::future::Future;

use crate::error::ScopeError;

pub use builder::LocalBuilder;
pub use child::{LocalJoin, LocalJoinHandle};
pub use child_builder::LocalChildBuilder;
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

/// Runs the futures as the children of one local scope with every default and gives every
/// value, in the order of `futures` whatever order they finish in: the local scope's
/// `asyncio.gather`, as `taskscope::all` is the spawned scope's. The same as
/// `LocalBuilder::new().all(futures)` ([`LocalBuilder::all`]); set a limit, a policy or (with
/// a runtime as timer, e.g. `taskscope::local_builder()`) a timeout on a builder first.
///
/// The futures may borrow from the caller and need not be `Send`; no runtime is needed. Works
/// with any error type, the user's own enum included. The first error cancels the rest (F1)
/// and the call returns [`ScopeError::Failed`] with the scope's group, each error once (F2,
/// F3); a cancelled scope gives [`ScopeError::Cancelled`] (C5). It never panics for a child
/// that did not finish.
///
/// # Panics
/// Resumes a child's panic once every child is dropped (F5).
///
/// ```
/// use taskscope::{ScopeError, local_all};
///
/// #[derive(Debug, PartialEq)]
/// enum ParseError {
///     NotANumber(String),
/// }
///
/// async fn parse(line: &str) -> Result<u32, ParseError> {
///     line.parse().map_err(|_| ParseError::NotANumber(line.to_owned()))
/// }
///
/// // The futures borrow the lines: no clone, no `'static`.
/// let lines = vec!["1".to_string(), "20".to_string(), "300".to_string()];
/// let numbers = futures_lite::future::block_on(local_all(lines.iter().map(|l| parse(l))));
/// assert_eq!(numbers.unwrap(), [1, 20, 300]);
///
/// let bad = vec!["4".to_string(), "four".to_string()];
/// match futures_lite::future::block_on(local_all(bad.iter().map(|l| parse(l)))) {
///     Err(ScopeError::Failed(group)) => assert_eq!(group.cause(), &ParseError::NotANumber("four".into())),
///     other => panic!("expected the parse error, got {other:?}"),
/// }
/// ```
pub fn local_all<I, F, T, E>(futures: I) -> impl Future<Output = Result<Vec<T>, ScopeError<E>>>
where
    I: IntoIterator<Item = F>,
    F: Future<Output = Result<T, E>>,
    E: 'static,
{
    LocalBuilder::new().all(futures)
}
