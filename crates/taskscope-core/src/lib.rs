//! Runtime-agnostic structured concurrency: the semantics of `taskscope`, once.
//!
//! Most users depend on the `taskscope` facade, which re-exports this crate and adds the
//! tokio and smol adapters. Adapter authors implement [`Runtime`] (and [`BlockOn`] for tests)
//! and run the `taskscope-conformance` suite against it.
//!
//! - [`Builder`] / [`Scope`] / [`Spawner`] / [`JoinHandle`]: spawn children into a scope; the
//!   scope finishes only once every child has; the first failure cancels the rest.
//! - [`CancelToken`] and [`CancelReason`]: the cooperative signal that comes first.
//! - [`ErrorGroup`] and [`ScopeError`]: every error, in one value.
//! - [`live_children`]: the process-wide "no orphans" gauge.
#![forbid(unsafe_code)]

mod builder;
mod deadline;
mod error;
mod limit;
mod runtime;
mod scope;
mod slab;
mod start;
mod token;
mod util;

pub use builder::{Builder, DetectRuntime};
pub use deadline::{Elapsed, fail_after, fail_at, move_on_after, move_on_at};
pub use error::{BoxError, ChildError, ErrorGroup, JoinError, ScopeError, panic_message};
pub use limit::{TrySpawnError, ZeroLimit};
pub use runtime::{BlockOn, BlockingJob, BoxedSleep, BoxedTask, Runtime};
pub use scope::{ChildState, JoinHandle, Policy, Scope, Spawner, current_runtime, current_token, live_children};
pub use start::{Ready, Start};
pub use token::{CancelReason, CancelToken, Cancelled, CancelledOwned, DropGuard, Name, RunUntilCancelled};

#[doc(hidden)]
pub use testing::test_runtime;

#[doc(hidden)]
pub mod testing;
