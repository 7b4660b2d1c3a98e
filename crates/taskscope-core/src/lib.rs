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

mod error;
mod runtime;
mod scope;
mod slab;
mod token;
mod util;

pub use error::{BoxError, ChildError, ErrorGroup, JoinError, ScopeError, panic_message};
pub use runtime::{BlockOn, BlockingJob, BoxedSleep, BoxedTask, Runtime};
pub use scope::{
    Builder, ChildState, DetectRuntime, JoinHandle, Scope, Spawner, current_runtime, current_token, live_children,
};
pub use token::{CancelReason, CancelToken, Cancelled, CancelledOwned, DropGuard, Name, RunUntilCancelled};

#[doc(hidden)]
pub use testing::test_runtime;

#[doc(hidden)]
pub mod testing;
