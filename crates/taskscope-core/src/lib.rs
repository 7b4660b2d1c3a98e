//! Runtime-agnostic structured concurrency: the semantics of `taskscope`, once.
//!
//! Most users depend on the `taskscope` facade, which re-exports this crate and adds the
//! tokio and smol adapters. Adapter authors implement [`Runtime`] (and [`BlockOn`] for tests)
//! and run the `taskscope-conformance` suite against it.
//!
//! - [`Builder`] / [`Scope`] / [`Spawner`] / [`JoinHandle`]: spawn children into a scope; the
//!   scope finishes only once every child has; the first failure cancels the rest.
//! - [`Spawner::child`] / [`ChildBuilder`]: a name and shielding for a child spawned in any
//!   mode (`spawn`, `try_spawn`, `spawn_wait`, `start`, `spawn_blocking`).
//! - [`Builder::all`] and [`JoinHandle::join`]: every child's value in spawn order or the
//!   scope's error, and a handle's end passed on with `?`, with any error type `E` (the
//!   user's own enum included).
//! - [`local_scope`] / [`LocalBuilder`] (P3): a scope whose children are polled inside the
//!   owner's own future, so they may borrow and need not be `Send`, with the same vocabulary:
//!   [`LocalSpawner::child`] / [`LocalChildBuilder`], [`local_all`] / [`LocalBuilder::all`],
//!   [`LocalJoinHandle::join`].
//! - [`CancelToken`] and [`CancelReason`]: the cooperative signal that comes first.
//! - [`ErrorGroup`] and [`ScopeError`]: every error, in one value.
//! - [`live_children`]: the process-wide "no orphans" gauge.
//! - [`sleep`], [`sleep_until`], [`now`], [`interval`], [`yield_now`]: portable time on the
//!   enclosing scope's runtime (P4), so library code never names a runtime to wait.
//! - [`Spawn`] / [`RawJoin`] (for adapters): a future spawned straight into the runtime's own
//!   task cell, its output read back through the runtime's own join handle; [`DynJoin`] is
//!   that join for any `Arc<dyn Runtime>`. Scopes do not spawn through it yet.
//! - [`NoRuntime`]: what every entry point says, naming the caller's line, when it finds no
//!   runtime (P2).
//! - Feature `tracing` (O2, off by default): a `tracing` span per scope and per child, of a
//!   spawned or a local scope (target `taskscope`, fields `name`, `runtime`, `outcome`,
//!   `cancel_reason`, `cancel_depth`), parented so that any subscriber shows the task tree;
//!   compiled out entirely when off.
//!
//! Every guarantee has a rule ID in the semantics contract (`docs/semantics.md` in the
//! repository), cited below, and a conformance case named after it.
//!
//! # Grace periods, deadlines and shielding (C2, C7, C8)
//!
//! | Python / AnyIO / Trio | taskscope |
//! |---|---|
//! | `async with asyncio.timeout(t): async with TaskGroup()` | [`Builder::timeout`] (or [`Builder::deadline`]); [`ScopeError::is_elapsed`] |
//! | `anyio.fail_after(t)` around any code | [`fail_after`] / [`fail_at`] → `Result<T, Elapsed>` |
//! | `anyio.move_on_after(t)` | [`move_on_after`] / [`move_on_at`] → `Option<T>` |
//! | `except CancelledError: await cleanup(); raise` | [`Builder::grace`]: children see the token, then get the grace period |
//! | `CancelScope(shield=True)`, Kotlin's `NonCancellable` | [`Spawner::spawn_shielded`], [`ChildBuilder::shielded`] |
//!
//! ```
//! # use std::time::Duration;
//! # use taskscope_core::{Builder, BoxError, CancelReason};
//! # let rt = taskscope_core::test_runtime();
//! # futures_lite::future::block_on(async {
//! let r = Builder::new()
//!     .runtime(rt)
//!     .timeout(Duration::from_millis(20))
//!     .grace(Duration::from_secs(5)) // children may clean up after the deadline
//!     .run(async |s| {
//!         let token = s.token().clone();
//!         s.spawn(async move {
//!             token.cancelled().await; // fires at the deadline
//!             assert_eq!(token.reason(), Some(&CancelReason::Deadline));
//!             Ok::<_, BoxError>(()) // async cleanup would go here
//!         });
//!         Ok(())
//!     })
//!     .await;
//! assert!(r.unwrap_err().is_elapsed());
//! # });
//! ```
//!
//! # Limits and policies (L1–L4, B1)
//!
//! All are choices on the same scope: [`Builder::limit`] (at most `n` children at once, FIFO,
//! with [`Spawner::spawn_wait`] and [`Spawner::try_spawn`]), [`Builder::policy`] with
//! [`Policy::Supervise`] (collect every outcome) or [`Policy::Race`] (first success wins, also
//! as [`Builder::race`]), [`Spawner::start`] (wait until a child reports ready) and
//! [`Spawner::spawn_blocking`] (blocking work, waited for).
//!
//! ```
//! # use taskscope_core::{Builder, BoxError};
//! # let rt = taskscope_core::test_runtime();
//! # futures_lite::future::block_on(async {
//! // Python: `async with asyncio.Semaphore(3)` around each of ten fetches, gathered.
//! let pages = Builder::new().runtime(rt).limit(3)?.run(async |s| {
//!     let handles: Vec<_> = (0..10).map(|i| s.spawn(async move { Ok::<_, BoxError>(i * 10) })).collect();
//!     let mut pages = Vec::new();
//!     for h in handles { pages.push(h.await?); }
//!     Ok(pages)
//! }).await?;
//! assert_eq!(pages[9], 90);
//! # Ok::<_, BoxError>(()) }).unwrap();
//! ```
// `unsafe` is allowed in four modules only, each with its SAFETY proofs and premises written
// down: `scope/table.rs` (a spawned child's 24-byte slot in a per-scope table: the state its
// task and handle share), `erased.rs` (any runtime's join handle stored inline in a
// `JoinHandle`), `scope/lent.rs` (the ambient scope lent to a thread-local for one poll), and
// `local/node.rs` (a local child's future pinned inside the allocation it shares with its
// handle). Their unit tests and `tests/child_cell.rs`, `tests/local_node.rs` run under Miri;
// `scope/table.rs`'s loom models check its wake-up protocol exhaustively (`scope/lent.rs` is
// touched by one thread only: nothing for loom to model).
#![deny(unsafe_code)]

mod builder;
mod deadline;
mod detect;
#[allow(unsafe_code)]
mod erased;
mod error;
mod limit;
mod local;
mod runtime;
mod scope;
mod spawn;
mod start;
mod sync;
mod time;
mod token;
mod trace;
mod util;

pub use builder::Builder;
pub use deadline::{fail_after, fail_at, move_on_after, move_on_at};
pub use detect::{DetectRuntime, NoRuntime};
pub use error::{
    BoxError, ChildError, Elapsed, ErrorGroup, JoinError, ScopeError, TrySpawnError, ZeroLimit, panic_message,
};
pub use local::{
    LocalBuilder, LocalChildBuilder, LocalJoin, LocalJoinHandle, LocalReady, LocalScope, LocalSpawner, LocalStart,
    local_all, local_scope,
};
pub use runtime::{BlockOn, BlockingJob, BoxedSleep, Runtime, Task};
pub use scope::{
    ChildBuilder, ChildState, Join, JoinHandle, Policy, Scope, Spawner, current_runtime, current_token, live_children,
};
pub use spawn::{DynJoin, DynRuntime, RawJoin, Spawn};
pub use start::{Ready, Start};
pub use time::{Interval, Sleep, Tick, YieldNow, interval, now, sleep, sleep_until, yield_now};
pub use token::{CancelReason, CancelToken, Cancelled, CancelledOwned, DropGuard, Name, RunUntilCancelled};

#[doc(hidden)]
pub use testing::test_runtime;

#[doc(hidden)]
pub mod testing;
