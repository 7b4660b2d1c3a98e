//! Structured concurrency for async Rust, on any runtime.
//!
//! Children are spawned into a [`scope`]; the scope does not finish until every child has;
//! the first failure cancels the siblings; every error comes back in one [`ErrorGroup`];
//! nothing is ever orphaned. It is Python's `asyncio.TaskGroup`, Trio's nursery and AnyIO's
//! task group, for Rust — and it behaves the same on tokio and smol: pick one with a cargo
//! feature (`tokio`, `smol`, or both: additive), and the `taskscope-conformance` suite proves
//! the semantics identical.
//!
//! ```
//! # #[cfg(feature = "tokio")] {
//! use std::time::Duration;
//! use taskscope::{BoxError, ScopeError};
//!
//! async fn fetch(id: u32) -> Result<String, BoxError> {
//!     taskscope::sleep(Duration::from_millis(10 * id as u64)).await;
//!     Ok(format!("page {id}"))
//! }
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! // Fan out three fetches; the scope returns after the slowest.
//! let (a, b, c) = taskscope::scope(async |s| Ok((s.spawn(fetch(1)), s.spawn(fetch(2)), s.spawn(fetch(3)))))
//!     .await?;
//! assert_eq!([a.result()?, b.result()?, c.result()?], ["page 1", "page 2", "page 3"]);
//!
//! // The first failure cancels the siblings; the owner gets every error in one group.
//! let err = taskscope::scope(async |s| {
//!     s.spawn_named("slow", async { taskscope::sleep(Duration::from_secs(60)).await; Ok(()) });
//!     s.spawn_named("broken", async { Err::<(), _>(BoxError::msg("connection refused")) });
//!     Ok(())
//! })
//! .await
//! .unwrap_err();
//! let ScopeError::Failed(group) = err else { unreachable!() };
//! assert_eq!(group.members()[0].name(), Some("broken"));
//! # Ok::<_, BoxError>(()) }).unwrap();
//! # }
//! ```
//!
//! # Results, and your own error type
//!
//! [`all`] runs futures as the children of one scope and returns their values in order, or the
//! scope's error ([`ScopeError::Failed`] with every error once, or [`ScopeError::Cancelled`]);
//! [`builder`]`().limit(n)?.all(..)` bounds it. Inside a scope, [`JoinHandle::join`] passes a
//! child's end on with `?` into the scope's own error type. Neither needs [`BoxError`]: every
//! child of a scope shares one error type `E`, which may be the library's own enum; the one
//! conversion to write is `From<ScopeError<E>> for E`, which `?` uses on nested scopes and on
//! `join` (see [`JoinHandle::join`]).
//!
//! ```
//! # #[cfg(feature = "smol")] {
//! # use taskscope::BlockOn;
//! # taskscope::smol::SmolBackend::single_thread().block_on(async {
//! use taskscope::ScopeError;
//!
//! #[derive(Debug)]
//! enum AppError {
//!     BadInput(String),
//!     Scope(Box<ScopeError<AppError>>),
//! }
//!
//! impl From<ScopeError<AppError>> for AppError {
//!     fn from(e: ScopeError<AppError>) -> Self {
//!         AppError::Scope(Box::new(e))
//!     }
//! }
//!
//! async fn parse(s: &'static str) -> Result<u32, AppError> {
//!     s.parse().map_err(|_| AppError::BadInput(s.to_owned()))
//! }
//!
//! async fn total() -> Result<u32, AppError> {
//!     // Every value in order, or the scope's error, converted by `?`.
//!     let numbers = taskscope::all(["1", "2", "3"].map(parse)).await?;
//!     // Awaiting children inside a scope, with `?` on each.
//!     let more = taskscope::scope(async |s| {
//!         let (a, b) = (s.spawn(parse("4")), s.child().name("five").spawn(parse("5")));
//!         Ok(a.join().await? + b.join().await?)
//!     })
//!     .await?;
//!     Ok(numbers.iter().sum::<u32>() + more)
//! }
//!
//! assert_eq!(total().await.unwrap(), 15);
//! # });
//! # }
//! ```
//!
//! # Spawned or local scope?
//!
//! Rust's "scoped task trilemma": a sound API gets at most two of concurrency, parallelism and
//! borrowing. [`scope`] gives concurrency and parallelism: children are tasks of the runtime,
//! run on any worker thread, and so must be `Send + 'static` (move or `Arc` what they use).
//! [`local_scope`] gives concurrency and borrowing: children are polled inside the owner's own
//! future, on its thread, so they may borrow from the caller's stack, need not be `Send`
//! (`Rc`, `RefCell` borrows), and need no runtime at all. Both keep the same contract (waiting,
//! fail-fast, error groups, tokens and reasons, grace periods, deadlines, limits, policies).
//!
//! Choose the local scope for I/O-bound fan-out over borrowed data (a request handler fanning
//! out over its own buffers, a parser's sub-tasks, tests), for `!Send` state, or in library code
//! that must not assume a runtime. Choose the spawned scope for CPU-heavy children (the local
//! scope never runs two children at once), for blocking work (B1), for children that must keep
//! running while the owner is blocked, or when the owner's future must be `Send` (a local scope
//! future is not: run it in `block_on`, a tokio `LocalSet` / current-thread runtime, a smol
//! `LocalExecutor`, or inside a spawned scope's body). Nested, they compose: a local scope
//! opened in a spawned child links its token to that scope's, and the other way round.
//!
//! Both speak the same vocabulary: [`LocalSpawner::child`] ([`LocalChildBuilder`]) names and
//! shields a local child in any spawn mode as [`Spawner::child`] does (there is no
//! `spawn_blocking`: B1 does not apply), [`local_all`] and [`LocalBuilder::all`] are the local
//! [`all`], and [`LocalJoinHandle::join`] is the local [`JoinHandle::join`].
//!
//! ```
//! use std::cell::RefCell;
//! use taskscope::{BoxError, local_scope};
//!
//! async fn word_lengths(text: &str) -> Result<Vec<usize>, BoxError> {
//!     let out = RefCell::new(Vec::new()); // borrowed by every child; not `Sync`
//!     local_scope(async |s| {
//!         for word in text.split_whitespace() {
//!             let out = &out; // children borrow `text` and `out`: no `Arc`, no clone
//!             s.spawn(async move {
//!                 out.borrow_mut().push(word.len());
//!                 Ok::<_, BoxError>(())
//!             });
//!         }
//!         Ok(())
//!     })
//!     .await?;
//!     Ok(out.into_inner())
//! }
//!
//! let text = String::from("borrowed from the caller");
//! let mut lengths = futures_lite::future::block_on(word_lengths(&text)).unwrap();
//! lengths.sort();
//! assert_eq!(lengths, [3, 4, 6, 8]);
//! ```
//!
//! # The contract and the guides
//!
//! Every guarantee has a rule ID (S1, F5, C7, ...) cited in these docs. The repository's
//! `docs/semantics.md` states each rule and lists the conformance cases that prove it on every
//! backend; `docs/from-python.md` maps asyncio, AnyIO and Trio onto this API,
//! `docs/choosing-a-scope.md` compares the spawned scope, the local scope and the simulation,
//! and `docs/writing-an-adapter.md` is for bringing another runtime.
//!
//! The body of a scope is an async closure, `async |s| { .. }`, and spawned children own their
//! data (`'static`): [`scope`] shows both mistakes the compiler reports, and their fixes.
//!
//! # Features
//! - `tokio`: the [`tokio`](mod@tokio) adapter. Inside a tokio runtime, [`scope`] spawns there.
//! - `smol`: the [`smol`](mod@smol) adapter. Outside tokio, [`scope`] spawns on the smol
//!   executor the code runs on (a [`smol::SmolBackend`]'s own, or one the application
//!   [entered](smol::SmolRuntime::enter)), else on smol's global executor (which works from any
//!   thread).
//! - neither: the runtime-free parts still work — [`CancelToken`], [`ErrorGroup`], the time
//!   functions inside a scope, and [`Builder`] with an explicit runtime. A library depends on
//!   `taskscope` with no feature and leaves the choice to the application.
//! - `testing`: [`test_on_every_backend!`], which runs an async test on every enabled backend
//!   flavour (see [`testing`]).
//! - `tracing` (O2): every scope and every child, of a spawned or a local scope, gets a
//!   [`tracing`](https://docs.rs/tracing) span (target `taskscope`, level `INFO`, span names
//!   `scope` and `child`, fields `name`, `runtime`, `outcome`, `cancel_reason` (the root
//!   reason), `cancel_depth`), parented so that any subscriber shows the task
//!   tree: a child's span is under its scope's, and a scope opened in a child is under that
//!   child's, though children run on other threads. A child's span is entered while its future
//!   is polled, with the span's subscriber as the thread's default, so the events it logs nest
//!   under it in the same subscriber. A subscriber that panics never changes an outcome. Off by default; without it, none of this
//!   is compiled (no field, no call). `examples/examples/tracing_tree.rs` prints the tree with
//!   a small subscriber of its own.
//!
//! # Finding the runtime (P2)
//!
//! Every entry point here — [`scope`], [`builder`], [`Builder::new`], [`fail_after`] and the
//! other deadline functions, [`sleep`] and the other time functions, [`runtime`] — finds its
//! runtime the same way: the enclosing scope's; else (feature `tokio`) the tokio runtime the
//! code runs in (`Handle::try_current()`); else (feature `smol`) the smol executor the code
//! runs on, else smol's global executor; a simulation (feature `sim`) that drives the code comes
//! first. Scopes and deadlines look when they start (their first
//! poll), so `runtime.block_on(taskscope::scope(..))` finds `runtime`; the time functions look
//! when called, as tokio's own timers do. Where nothing is found the panic (or the
//! [`NoRuntime`] error of [`runtime`]) names the caller's line and the feature to add to the
//! application's `Cargo.toml`.
#![forbid(unsafe_code)]

use std::future::{Future, IntoFuture};
use std::panic::Location;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use taskscope_core::*;

mod rt;
pub use rt::{ChildBuilder, Rt, RtJoin, Scope, Spawner};

/// The tokio adapter ([`taskscope_tokio`]).
#[cfg(feature = "tokio")]
pub mod tokio {
    pub use taskscope_tokio::*;
}

/// The smol adapter ([`taskscope_smol`]).
#[cfg(feature = "smol")]
pub mod smol {
    pub use taskscope_smol::*;
}

/// The deterministic simulation backend ([`taskscope_sim`]).
#[cfg(feature = "sim")]
pub mod sim {
    pub use taskscope_sim::*;
}

#[cfg(feature = "testing")]
pub mod testing;

/// What the "no runtime" error advises, for the features this build has.
const HELP: &str = if cfg!(feature = "tokio") {
    concat!(
        "It is not running inside a tokio runtime: run it inside one (`#[tokio::main]`, `Runtime::block_on`), \
         or let it fall back to smol by adding taskscope's `smol` feature in the application's own Cargo.toml: \
         `taskscope = { version = \"",
        env!("CARGO_PKG_VERSION"),
        "\", features = [\"tokio\", \"smol\"] }`"
    )
} else {
    concat!(
        "No runtime feature of taskscope is enabled. An application enables one in its own Cargo.toml: \
         `taskscope = { version = \"",
        env!("CARGO_PKG_VERSION"),
        "\", features = [\"tokio\"] }` (or \"smol\", or both); a library depends on taskscope with no feature \
         and leaves the choice to the application"
    )
};

/// The detection path every entry point shares, once no scope encloses the code (see the
/// crate docs).
fn detect() -> Result<Arc<dyn Runtime>, NoRuntime> {
    // A simulation drives every task on its own thread: when one runs here, it is the runtime.
    #[cfg(feature = "sim")]
    if let Some(rt) = taskscope_sim::current() {
        return Ok(rt);
    }
    #[cfg(feature = "tokio")]
    if let Ok(rt) = taskscope_tokio::TokioRuntime::current() {
        return Ok(Arc::new(rt));
    }
    #[cfg(feature = "smol")]
    return Ok(Arc::new(taskscope_smol::SmolRuntime::current().unwrap_or_else(taskscope_smol::SmolRuntime::global)));
    #[allow(unreachable_code)]
    Err(NoRuntime::new(HELP))
}

/// The runtime code here would use: the enclosing scope's, else the detected one (see the
/// crate docs); the error names the caller's line and what to do.
///
/// ```
/// # #[cfg(feature = "tokio")]
/// tokio::runtime::Runtime::new().unwrap().block_on(async {
///     assert_eq!(taskscope::runtime().unwrap().name(), "tokio-mt");
/// });
/// ```
#[track_caller]
pub fn runtime() -> Result<Arc<dyn Runtime>, NoRuntime> {
    let caller = Location::caller();
    current_runtime().map_or_else(detect, Ok).map_err(|e| e.at(caller))
}

/// [`runtime`], or the "no runtime" panic at the caller's line.
#[track_caller]
fn runtime_here() -> Arc<dyn Runtime> {
    runtime().unwrap_or_else(|e| panic!("{e}"))
}

/// Configures and runs a scope on the detected runtime: core's
/// [`Builder`](taskscope_core::Builder), which this wraps, with the facade's detection (see
/// the crate docs) when no runtime is given and no scope encloses it. Each method is the core
/// builder's method of the same name.
///
/// ```
/// # #[cfg(feature = "smol")] {
/// # use taskscope::BlockOn;
/// use std::time::Duration;
/// use taskscope::BoxError;
///
/// # taskscope::smol::SmolBackend::single_thread().block_on(async {
/// let r = taskscope::Builder::new().timeout(Duration::from_millis(10)).run(async |s| {
///     s.spawn(async { taskscope::sleep(Duration::MAX).await; Ok::<_, BoxError>(()) });
///     Ok(())
/// }).await;
/// assert!(r.unwrap_err().is_elapsed());
/// # });
/// # }
/// ```
#[derive(Debug, Clone)]
#[must_use = "a Builder does nothing until `run` is awaited"]
pub struct Builder(taskscope_core::Builder<Rt>);

impl Default for Builder {
    #[track_caller]
    fn default() -> Self {
        Self::new()
    }
}

impl From<Builder> for taskscope_core::Builder<Rt> {
    fn from(b: Builder) -> Self {
        b.0
    }
}

impl Builder {
    /// A builder whose runtime is detected when the scope starts; the "no runtime" panic
    /// names this line. See [`taskscope_core::Builder::new`].
    #[inline]
    #[track_caller]
    pub fn new() -> Self {
        Self(taskscope_core::Builder::<Rt>::typed().fallback_runtime(detect))
    }

    /// See [`taskscope_core::Builder::runtime`].
    #[inline]
    pub fn runtime(self, rt: Arc<dyn Runtime>) -> Self {
        Self(self.0.runtime(rt))
    }

    /// See [`taskscope_core::Builder::name`].
    #[inline]
    pub fn name(self, name: impl Into<Name>) -> Self {
        Self(self.0.name(name))
    }

    /// See [`taskscope_core::Builder::parent`].
    #[inline]
    pub fn parent(self, token: &CancelToken) -> Self {
        Self(self.0.parent(token))
    }

    /// See [`taskscope_core::Builder::grace`].
    #[inline]
    pub fn grace(self, grace: Duration) -> Self {
        Self(self.0.grace(grace))
    }

    /// See [`taskscope_core::Builder::deadline`].
    #[inline]
    pub fn deadline(self, deadline: Instant) -> Self {
        Self(self.0.deadline(deadline))
    }

    /// See [`taskscope_core::Builder::timeout`].
    #[inline]
    pub fn timeout(self, timeout: Duration) -> Self {
        Self(self.0.timeout(timeout))
    }

    /// See [`taskscope_core::Builder::policy`].
    #[inline]
    pub fn policy(self, policy: Policy) -> Self {
        Self(self.0.policy(policy))
    }

    /// See [`taskscope_core::Builder::limit`].
    ///
    /// # Errors
    /// [`ZeroLimit`] for `n == 0`.
    #[inline]
    pub fn limit(self, n: usize) -> Result<Self, ZeroLimit> {
        self.0.limit(n).map(Self)
    }

    /// Runs the scope: `body` spawns children through the [`Scope`] it receives, and the
    /// scope completes when the body and every child have. See
    /// [`taskscope_core::Builder::run`].
    ///
    /// # Panics
    /// If no runtime is found when the scope starts (naming the line that created the
    /// builder); resumes panics of the body and children once every child is dropped.
    ///
    /// ```
    /// # #[cfg(feature = "smol")] {
    /// # use taskscope::BlockOn;
    /// use std::time::Duration;
    /// use taskscope::{BoxError, CancelReason};
    ///
    /// # taskscope::smol::SmolBackend::single_thread().block_on(async {
    /// // A named scope with a grace period: cancelled children get 1 s to clean up.
    /// let err = taskscope::builder()
    ///     .name("workers")
    ///     .grace(Duration::from_secs(1))
    ///     .run(async |s| {
    ///         let token = s.token().clone();
    ///         s.spawn(async move {
    ///             token.cancelled().await;
    ///             // async cleanup would go here, within the grace period
    ///             Ok::<_, BoxError>(())
    ///         });
    ///         s.cancel_with(CancelReason::Explicit("shutting down".into()));
    ///         Ok(())
    ///     })
    ///     .await
    ///     .unwrap_err();
    /// assert!(err.is_cancelled());
    /// # });
    /// # }
    /// ```
    #[inline]
    pub fn run<T, E, F>(self, body: F) -> impl Future<Output = Result<T, ScopeError<E>>>
    where
        F: AsyncFnOnce(&Scope<E>) -> Result<T, E>,
        E: Send + 'static,
    {
        self.0.run(body)
    }

    /// Races the futures (L3). See [`taskscope_core::Builder::race`].
    ///
    /// # Panics
    /// If `futures` is empty, and as [`run`](Builder::run).
    #[inline]
    pub fn race<I, F, T, E>(self, futures: I) -> impl Future<Output = Result<T, ScopeError<E>>>
    where
        I: IntoIterator<Item = F>,
        F: Future<Output = Result<T, E>> + Send + 'static,
        T: Send + 'static,
        E: Send + 'static,
    {
        self.0.race(futures)
    }

    /// Runs the futures as the children of one scope and gives every value in their order,
    /// or the scope's error, with any error type. See [`taskscope_core::Builder::all`] and
    /// [`all`].
    ///
    /// # Panics
    /// At the call under [`Policy::Race`], and as [`run`](Builder::run).
    #[inline]
    #[track_caller]
    pub fn all<I, F, T, E>(self, futures: I) -> impl Future<Output = Result<Vec<T>, ScopeError<E>>>
    where
        I: IntoIterator<Item = F>,
        F: Future<Output = Result<T, E>> + Send + 'static,
        T: Send + 'static,
        E: Send + 'static,
    {
        self.0.all(futures)
    }

    /// Runs `fut` under this builder's deadline. See [`taskscope_core::Builder::fail`].
    #[inline]
    pub fn fail<F: IntoFuture>(self, fut: F) -> impl Future<Output = Result<F::Output, Elapsed>> {
        self.0.fail(fut)
    }

    /// Runs `fut` under this builder's deadline, `None` on expiry. See
    /// [`taskscope_core::Builder::move_on`].
    #[inline]
    pub fn move_on<F: IntoFuture>(self, fut: F) -> impl Future<Output = Option<F::Output>> {
        self.0.move_on(fut)
    }
}

/// A [`Builder`] whose runtime is detected when the scope starts; set limits, deadlines or
/// names on it, then [`run`](Builder::run) it. The same as [`Builder::new`].
///
/// ```
/// # #[cfg(feature = "smol")] {
/// # use taskscope::BlockOn;
/// use std::time::Duration;
/// use taskscope::BoxError;
///
/// async fn square(n: u64) -> Result<u64, BoxError> {
///     taskscope::sleep(Duration::from_millis(n)).await;
///     Ok(n * n)
/// }
///
/// # taskscope::smol::SmolBackend::single_thread().block_on(async {
/// // At most two children at once, and the whole scope within five seconds.
/// let squares = taskscope::builder()
///     .limit(2)?
///     .timeout(Duration::from_secs(5))
///     .run(async |s| {
///         let handles: Vec<_> = (1..=4).map(|n| s.spawn(square(n))).collect();
///         let mut squares = Vec::new();
///         for h in handles {
///             squares.push(h.await?);
///         }
///         Ok(squares)
///     })
///     .await?;
/// assert_eq!(squares, [1, 4, 9, 16]);
/// # Ok::<_, BoxError>(()) }).unwrap();
/// # }
/// ```
#[track_caller]
pub fn builder() -> Builder {
    Builder::new()
}

/// A [`LocalBuilder`] whose timer (for a deadline or a grace period) is detected when the
/// scope starts, as [`builder`] detects a runtime: the enclosing scope's, else tokio's, else
/// smol's. A local scope never spawns on it; without a deadline or grace period none is needed
/// (use [`local_scope`]).
///
/// ```
/// # #[cfg(feature = "tokio")]
/// tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
///     let cities = ["Oslo", "Lima"];
///     let r = taskscope::local_builder()
///         .timeout(std::time::Duration::from_millis(10))
///         .run(async |s| {
///             for c in &cities {
///                 s.spawn_named(*c, std::future::pending::<Result<(), taskscope::BoxError>>());
///             }
///             Ok(())
///         })
///         .await;
///     assert!(r.unwrap_err().is_elapsed());
/// });
/// ```
pub fn local_builder() -> LocalBuilder {
    LocalBuilder::new().fallback_runtime(detect)
}

/// Runs a scope on the detected runtime: `body` spawns children through the [`Scope`] it
/// receives; the scope completes when the body and every child have (S1).
///
/// Returns the body's value, [`ScopeError::Failed`] with every child error, or
/// [`ScopeError::Cancelled`]. A child panic cancels the rest and resumes here.
///
/// # Panics
/// If no runtime is found when the scope starts (see the crate docs): the message names this
/// call's line and what to do. Resumes panics of the body and children once every child is
/// dropped.
///
/// # Cancel safety
/// Dropping the future cancels the scope: every child is dropped, none detached.
///
/// # Example
///
/// ```
/// # #[cfg(feature = "smol")] {
/// # use taskscope::BlockOn;
/// use taskscope::{BoxError, ScopeError};
///
/// async fn fetch(id: u32) -> Result<String, BoxError> {
///     if id == 0 {
///         return Err(BoxError::msg("no such page"));
///     }
///     Ok(format!("page {id}"))
/// }
///
/// # taskscope::smol::SmolBackend::single_thread().block_on(async {
/// // Fan out; the scope returns once both children have.
/// let (a, b) = taskscope::scope(async |s| Ok((s.spawn(fetch(1)), s.spawn(fetch(2))))).await?;
/// assert_eq!(a.result()?, "page 1");
/// assert_eq!(b.result()?, "page 2");
///
/// // A failure cancels the siblings and comes back in the group.
/// let err = taskscope::scope(async |s| {
///     s.spawn_named("missing", fetch(0));
///     Ok(())
/// })
/// .await
/// .unwrap_err();
/// let ScopeError::Failed(group) = err else { panic!("expected a failure") };
/// assert_eq!(group.members()[0].name(), Some("missing"));
/// assert!(group.to_string().contains("[missing] no such page"));
/// # Ok::<_, BoxError>(()) }).unwrap();
/// # }
/// ```
///
/// # Two mistakes the compiler reports
///
/// The body must be an **async closure**, `async |s| { .. }`. A closure returning an async
/// block, `|s| async move { .. }`, does not compile: the type of `s` cannot be inferred
/// (`E0282`), and once annotated the returned future would outlive the borrowed scope.
///
/// ```compile_fail,E0282
/// use taskscope::{BoxError, ScopeError};
///
/// async fn run() -> Result<(), ScopeError<BoxError>> {
///     taskscope::scope(|s| async move {
///         s.spawn(async { Ok::<_, BoxError>(()) });
///         Ok(())
///     })
///     .await
/// }
/// ```
///
/// Fix: write `taskscope::scope(async |s| { .. })` (or `async move |s|` to move captures in).
///
/// A **child must be `'static`**: it may run on another thread, so it cannot borrow the
/// caller's locals. A borrowing child is reported as "borrowed value does not live long
/// enough" or "`'1` must outlive `'static`", pointing at the whole body:
///
/// ```compile_fail,E0597
/// use taskscope::{BoxError, ScopeError};
///
/// async fn count(words: Vec<String>) -> Result<usize, ScopeError<BoxError>> {
///     taskscope::scope(async |s| {
///         let h = s.spawn(async { Ok::<_, BoxError>(words.len()) }); // borrows `words`
///         Ok(h.await?)
///     })
///     .await
/// }
/// ```
///
/// Fix: move what the child needs into it, cloning (or `Arc`-sharing) what the caller still
/// uses: `s.spawn(async move { Ok::<_, BoxError>(words.len()) })`. Children that must borrow
/// can run in a local scope instead, which polls them inside the owner's future.
///
/// ```
/// use taskscope::{BoxError, ScopeError};
///
/// async fn count(words: Vec<String>) -> Result<usize, ScopeError<BoxError>> {
///     taskscope::scope(async |s| {
///         let h = s.spawn(async move { Ok::<_, BoxError>(words.len()) }); // owns `words`
///         Ok(h.await?)
///     })
///     .await
/// }
/// ```
#[track_caller]
pub fn scope<T, E, F>(body: F) -> impl Future<Output = Result<T, ScopeError<E>>>
where
    F: AsyncFnOnce(&Scope<E>) -> Result<T, E>,
    E: Send + 'static,
{
    Builder::new().run(body)
}

/// Runs the futures as the children of one scope on the detected runtime and gives every
/// value, in the order of `futures` whatever order they finish in: `asyncio.gather` inside a
/// `TaskGroup`, JS's `Promise.all`. The same as `taskscope::builder().all(futures)`; set a
/// limit, a timeout or a policy on a [`builder`] first.
///
/// Works with any error type, the user's own enum included. The first error cancels the rest
/// (F1) and the call returns [`ScopeError::Failed`] with the scope's [`ErrorGroup`], each
/// error once (F2, F3); a cancelled scope gives [`ScopeError::Cancelled`] (C5). It never
/// panics for a child that did not finish.
///
/// # Panics
/// If no runtime is found when it starts (naming this call's line); resumes a child's panic
/// once every child is dropped.
///
/// ```
/// # #[cfg(feature = "smol")] {
/// # use taskscope::BlockOn;
/// # taskscope::smol::SmolBackend::single_thread().block_on(async {
/// use std::time::Duration;
/// use taskscope::ScopeError;
///
/// #[derive(Debug, PartialEq)]
/// enum LookupError {
///     Unknown(&'static str),
/// }
///
/// async fn lookup(host: &'static str) -> Result<[u8; 4], LookupError> {
///     match host {
///         "one.one.one.one" => Ok([1, 1, 1, 1]),
///         "dns.google" => Ok([8, 8, 8, 8]),
///         _ => {
///             taskscope::sleep(Duration::from_millis(1)).await;
///             Err(LookupError::Unknown(host))
///         }
///     }
/// }
///
/// let ips = taskscope::all(["dns.google", "one.one.one.one"].map(lookup)).await;
/// assert_eq!(ips.unwrap(), [[8, 8, 8, 8], [1, 1, 1, 1]]);
///
/// match taskscope::all(["dns.google", "nowhere.invalid"].map(lookup)).await {
///     Err(ScopeError::Failed(group)) => assert_eq!(group.cause(), &LookupError::Unknown("nowhere.invalid")),
///     other => panic!("expected the lookup error, got {other:?}"),
/// }
/// # });
/// # }
/// ```
#[track_caller]
pub fn all<I, F, T, E>(futures: I) -> impl Future<Output = Result<Vec<T>, ScopeError<E>>>
where
    I: IntoIterator<Item = F>,
    F: Future<Output = Result<T, E>> + Send + 'static,
    T: Send + 'static,
    E: Send + 'static,
{
    Builder::new().all(futures)
}

/// Runs `fut` for at most `timeout` (AnyIO's `fail_after`, C7): its output, or [`Elapsed`]
/// once the deadline has cancelled it and every scope opened inside it has been torn down.
/// The timer runs on the detected runtime; the full contract is
/// [`taskscope_core::fail_after`]'s.
///
/// To bound a scope with a grace period for its children, use [`builder`] with
/// [`Builder::timeout`] instead.
///
/// # Panics
/// If no runtime is found when it starts, naming this call's line.
///
/// ```
/// # #[cfg(feature = "tokio")]
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// use std::time::Duration;
/// let r = taskscope::fail_after(Duration::from_millis(10), taskscope::sleep(Duration::from_secs(60))).await;
/// assert!(r.is_err()); // taskscope::Elapsed
/// # });
/// ```
#[track_caller]
pub fn fail_after<F: IntoFuture>(timeout: Duration, fut: F) -> impl Future<Output = Result<F::Output, Elapsed>> {
    Builder::new().timeout(timeout).fail(fut)
}

/// [`fail_after`] with an absolute deadline.
///
/// # Panics
/// As [`fail_after`].
#[track_caller]
pub fn fail_at<F: IntoFuture>(deadline: Instant, fut: F) -> impl Future<Output = Result<F::Output, Elapsed>> {
    Builder::new().deadline(deadline).fail(fut)
}

/// Runs `fut` for at most `timeout` (AnyIO's `move_on_after`): `Some(output)`, or `None` once
/// the deadline has cancelled it and every scope inside it has been torn down (see
/// [`fail_after`]).
///
/// # Panics
/// As [`fail_after`].
///
/// ```
/// # #[cfg(feature = "smol")] {
/// # use taskscope::BlockOn;
/// # taskscope::smol::SmolBackend::single_thread().block_on(async {
/// use std::time::Duration;
/// let r = taskscope::move_on_after(Duration::from_millis(10), std::future::pending::<()>()).await;
/// assert_eq!(r, None);
/// # });
/// # }
/// ```
#[track_caller]
pub fn move_on_after<F: IntoFuture>(timeout: Duration, fut: F) -> impl Future<Output = Option<F::Output>> {
    Builder::new().timeout(timeout).move_on(fut)
}

/// [`move_on_after`] with an absolute deadline.
///
/// # Panics
/// As [`fail_after`].
#[track_caller]
pub fn move_on_at<F: IntoFuture>(deadline: Instant, fut: F) -> impl Future<Output = Option<F::Output>> {
    Builder::new().deadline(deadline).move_on(fut)
}

/// Waits until `duration` has passed (Python's `asyncio.sleep`, P4), on the runtime of the
/// enclosing scope, else the detected one (see the crate docs), resolved now.
/// `Duration::MAX` waits forever. See [`taskscope_core::sleep`] and [`Sleep`].
///
/// # Panics
/// If no runtime is found, at the caller's line, saying what to do. The fallible form is
/// `Sleep::after_in(&taskscope::runtime()?, duration)` ([`runtime`] gives the [`NoRuntime`]
/// error instead of panicking).
///
/// ```
/// # #[cfg(feature = "smol")] {
/// # use taskscope::BlockOn;
/// # taskscope::smol::SmolBackend::single_thread().block_on(async {
/// use std::time::Duration;
/// let start = taskscope::now();
/// taskscope::sleep(Duration::from_millis(5)).await;
/// assert!(taskscope::now() - start >= Duration::from_millis(5));
/// # });
/// # }
/// ```
#[track_caller]
pub fn sleep(duration: Duration) -> Sleep {
    Sleep::after_in(&runtime_here(), duration)
}

/// Waits until `deadline` (P4); a deadline already past completes at once. Otherwise as
/// [`sleep`].
///
/// # Panics
/// As [`sleep`].
#[track_caller]
pub fn sleep_until(deadline: Instant) -> Sleep {
    Sleep::until_in(&runtime_here(), deadline)
}

/// The current instant on the clock [`sleep`] and deadlines use (P4): the enclosing scope's
/// runtime's, else the detected one's.
///
/// # Panics
/// As [`sleep`].
#[track_caller]
pub fn now() -> Instant {
    runtime_here().now()
}

/// A timer ticking every `period` (P4), the first tick at once; on the runtime of the
/// enclosing scope, else the detected one. See [`Interval`].
///
/// # Panics
/// If `period` is zero, and as [`sleep`].
///
/// ```
/// # #[cfg(feature = "tokio")]
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// use std::time::Duration;
/// let mut every = taskscope::interval(Duration::from_millis(2));
/// let first = every.tick().await;
/// assert_eq!(every.tick().await, first + Duration::from_millis(2));
/// # });
/// ```
#[track_caller]
pub fn interval(period: Duration) -> Interval {
    let rt = runtime_here();
    Interval::new_in(&rt, rt.now(), period)
}

/// The README's Rust examples, compiled and run as doctests (the `tokio` feature runs its
/// `#[tokio::main]`).
#[cfg(all(doctest, feature = "tokio"))]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;
