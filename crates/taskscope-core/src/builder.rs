//! [`Builder`]: configures and runs a scope; the owner's driver future.

use std::convert::Infallible;
use std::fmt;
use std::future::{Future, IntoFuture};
use std::marker::PhantomData;
use std::num::NonZeroUsize;
use std::panic::Location;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::detect::{DetectRuntime, resolve_runtime};
use crate::error::{Elapsed, ScopeError, ZeroLimit};
use crate::runtime::Runtime;
use crate::scope::{Driver, Inner, Policy, Scope, Spawner, ambient_link};
use crate::spawn::{DynRuntime, Spawn};
use crate::sync::Mutex;
use crate::token::{CancelReason, CancelToken, Name};
use crate::trace::{ScopeSpan, in_scope};
use crate::util::lock;

/// Configures and runs a scope. [`Builder::run`] is the one entry point for a scope with a
/// body; `scope` functions in the facade are shorthands for it.
///
/// Everything is a choice on the same scope: a runtime, a parent token, a grace period (C2),
/// a deadline (C7), a concurrency limit (L1), a policy (L2, L3).
///
/// ```
/// # use taskscope_core::{Builder, BoxError};
/// # let rt = taskscope_core::test_runtime();
/// # futures_lite::future::block_on(async {
/// let total = Builder::new()
///     .runtime(rt)
///     .name("sum")
///     .run(async |s| {
///         let handles: Vec<_> = (1..=3).map(|i| s.spawn(async move { Ok::<_, BoxError>(i) })).collect();
///         let mut total = 0;
///         for h in handles {
///             total += h.await?;
///         }
///         Ok(total)
///     })
///     .await
///     .unwrap();
/// assert_eq!(total, 6);
/// # });
/// ```
///
/// `R` is how children are spawned: the default, `Arc<dyn Runtime>`, works with any runtime
/// (each child is core's task inside a task of the runtime's); a runtime type that implements
/// [`Spawn`] (the adapters' `TokioRuntime`, `SmolRuntime`, the facade's `Rt`) spawns each
/// child straight into the runtime's own task, one allocation. [`Builder::new`] makes the
/// default kind, [`Builder::typed`] any other.
#[must_use = "a Builder does nothing until `run` is awaited"]
pub struct Builder<R = DynRuntime> {
    runtime: Option<Arc<dyn Runtime>>,
    fallback: Option<DetectRuntime>,
    // The line that created the builder, named by the "no runtime" panic.
    caller: Option<&'static Location<'static>>,
    name: Option<Name>,
    parent: Option<CancelToken>,
    grace: Duration,
    deadline: Option<Deadline>,
    policy: Policy,
    limit: Option<NonZeroUsize>,
    spawn: PhantomData<fn() -> R>,
}

impl<R> Clone for Builder<R> {
    fn clone(&self) -> Self {
        Self {
            runtime: self.runtime.clone(),
            fallback: self.fallback,
            caller: self.caller,
            name: self.name.clone(),
            parent: self.parent.clone(),
            grace: self.grace,
            deadline: self.deadline,
            policy: self.policy,
            limit: self.limit,
            spawn: PhantomData,
        }
    }
}

impl<R> Default for Builder<R> {
    fn default() -> Self {
        Self {
            runtime: None,
            fallback: None,
            caller: None,
            name: None,
            parent: None,
            grace: Duration::ZERO,
            deadline: None,
            policy: Policy::default(),
            limit: None,
            spawn: PhantomData,
        }
    }
}

impl<R> fmt::Debug for Builder<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("runtime", &self.runtime)
            .field("name", &self.name)
            .field("parent", &self.parent)
            .field("grace", &self.grace)
            .field("deadline", &self.deadline)
            .field("policy", &self.policy)
            .field("limit", &self.limit)
            .field("spawn", &std::any::type_name::<R>())
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, Copy)]
enum Deadline {
    At(Instant),
    After(Duration),
}

impl Builder {
    /// A builder with defaults: the ambient runtime and parent (the enclosing scope, if any),
    /// no grace period, no deadline, no limit, [`Policy::FailFast`].
    ///
    /// It remembers the caller's line: if the scope finds no runtime when it starts, the panic
    /// message names that line.
    #[track_caller]
    pub fn new() -> Self {
        Self { caller: Some(Location::caller()), ..Self::default() }
    }
}

impl<R: Spawn> Builder<R> {
    /// A builder like [`Builder::new`] whose children spawn through `R` (see [`Spawn`]): the
    /// scope's runtime, given or found, is converted with [`Spawn::from_runtime`] when the
    /// scope starts.
    ///
    /// ```
    /// use taskscope::smol::{SmolBackend, SmolRuntime};
    /// use taskscope::{BlockOn, BoxError};
    /// use taskscope_core::Builder;
    ///
    /// let backend = SmolBackend::single_thread();
    /// let n = backend.block_on(Builder::<SmolRuntime>::typed().runtime(backend.runtime()).run(async |s| {
    ///     let h = s.spawn(async { Ok::<_, BoxError>(21) });
    ///     Ok(h.await? * 2)
    /// }));
    /// assert_eq!(n.unwrap(), 42);
    /// ```
    #[track_caller]
    pub fn typed() -> Self {
        Self { caller: Some(Location::caller()), ..Self::default() }
    }

    /// The runtime to spawn children on.
    pub fn runtime(mut self, rt: Arc<dyn Runtime>) -> Self {
        self.runtime = Some(rt);
        self
    }

    /// How to find a runtime when none was given and the scope is not nested in another:
    /// called when the scope starts (its first poll), so a scope created outside a runtime and
    /// then handed to one (`runtime.block_on(scope)`) finds it. The `taskscope` facade's
    /// builders detect tokio or smol this way; when `detect` fails, the message of its
    /// [`NoRuntime`](crate::NoRuntime) is the panic's.
    pub fn fallback_runtime(mut self, detect: DetectRuntime) -> Self {
        self.fallback = Some(detect);
        self
    }

    /// A name for the scope (for diagnostics).
    pub fn name(mut self, name: impl Into<Name>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// The token whose cancellation cancels this scope (default: the enclosing scope's token,
    /// if this scope is opened inside another scope's child or body).
    pub fn parent(mut self, token: &CancelToken) -> Self {
        self.parent = Some(token.clone());
        self
    }

    /// Grace period (C2): after the token fires, children may finish async cleanup for this
    /// long before they are dropped; errors they return meanwhile are collected. Default
    /// zero: dropped at once. A child that ignores the token cannot hang the scope past it.
    pub fn grace(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }

    /// Cancels the scope with [`CancelReason::Deadline`](crate::CancelReason::Deadline) at `deadline` (C7): `fail_at` for a
    /// scope. After teardown the owner gets [`ScopeError::Cancelled`] with that reason
    /// ([`ScopeError::is_elapsed`]), or [`ScopeError::Failed`] if a child failed. A deadline
    /// already past cancels at once, before the body is polled. An inner deadline never
    /// extends an outer one: the outer scope's cancellation reaches this one whichever is
    /// later. The deadline counts only if the scope sees it while its body or a child is
    /// still running: a scope that finds its body returned and every child ended gives the
    /// body's value, even if the deadline passed in the meantime (it cancelled nothing).
    ///
    /// To bound any future (or get `None` instead of an error), see
    /// [`fail_after`](crate::fail_after) and [`move_on_after`](crate::move_on_after).
    pub fn deadline(mut self, deadline: Instant) -> Self {
        self.deadline = Some(Deadline::At(deadline));
        self
    }

    /// Like [`deadline`](Builder::deadline), `timeout` after the scope starts (its first
    /// poll): `fail_after` for a scope. `Duration::MAX` (or any timeout too large to represent)
    /// means no deadline.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use taskscope_core::{Builder, BoxError};
    /// # let rt = taskscope_core::test_runtime();
    /// # futures_lite::future::block_on(async {
    /// let r = Builder::new().runtime(rt).timeout(Duration::from_millis(10)).run(async |s| {
    ///     s.spawn(async { std::future::pending::<Result<(), BoxError>>().await });
    ///     Ok(())
    /// }).await;
    /// assert!(r.unwrap_err().is_elapsed());
    /// # });
    /// ```
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.deadline = Some(Deadline::After(timeout));
        self
    }

    /// What a child's outcome does to the scope (L2, L3); default [`Policy::FailFast`].
    pub fn policy(mut self, policy: Policy) -> Self {
        self.policy = policy;
        self
    }

    /// Concurrency limit (L1): at most `n` children run at once. A child spawned while all `n`
    /// slots are taken waits (in spawn order) before its first poll; see also
    /// [`Spawner::spawn_wait`] (the spawner waits) and [`Spawner::try_spawn`] (reports full).
    ///
    /// # Errors
    /// [`ZeroLimit`] for `n == 0`, which would never run a child.
    ///
    /// ```
    /// # use taskscope_core::{Builder, BoxError};
    /// # use std::sync::{Arc, atomic::{AtomicUsize, Ordering}};
    /// # let rt = taskscope_core::test_runtime();
    /// # futures_lite::future::block_on(async {
    /// let (running, peak) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    /// Builder::new().runtime(rt).limit(3)?.run(async |s| {
    ///     for _ in 0..20 {
    ///         let (running, peak) = (running.clone(), peak.clone());
    ///         s.spawn(async move {
    ///             let now = running.fetch_add(1, Ordering::SeqCst) + 1;
    ///             peak.fetch_max(now, Ordering::SeqCst);
    ///             futures_lite::future::yield_now().await;
    ///             running.fetch_sub(1, Ordering::SeqCst);
    ///             Ok::<_, BoxError>(())
    ///         });
    ///     }
    ///     Ok(())
    /// }).await?;
    /// assert!(peak.load(Ordering::SeqCst) <= 3);
    /// # Ok::<_, BoxError>(()) }).unwrap();
    /// ```
    pub fn limit(mut self, n: usize) -> Result<Self, ZeroLimit> {
        self.limit = Some(NonZeroUsize::new(n).ok_or(ZeroLimit)?);
        Ok(self)
    }

    /// Resolves the runtime, parent token and enclosing scope: called when the scope starts.
    fn open<E: Send + 'static>(self, transparent: bool) -> (Arc<Inner<E>>, Option<Instant>) {
        let enclosing = ambient_link();
        let ambient_rt = enclosing.as_ref().map(|a| a.runtime().clone());
        let ambient_token = enclosing.as_ref().map(|a| a.token().clone());
        let rt =
            resolve_runtime(self.runtime.or(ambient_rt), self.fallback, self.caller).unwrap_or_else(|e| panic!("{e}"));
        let token = match self.parent.or(ambient_token) {
            Some(parent) => parent.child(),
            None => CancelToken::new(),
        };
        let deadline = match self.deadline {
            Some(Deadline::At(at)) => Some(at),
            Some(Deadline::After(d)) => rt.now().checked_add(d),
            None => None,
        };
        let grace = if transparent { Duration::ZERO } else { self.grace };
        let span = if transparent { ScopeSpan::none() } else { ScopeSpan::open(self.name.as_ref(), Some(&rt)) };
        let limit = self.limit.map(NonZeroUsize::get);
        let inner = Inner::new(rt, token, grace, self.policy, limit, transparent, enclosing, span);
        (inner, deadline)
    }

    /// Runs the scope: calls `body` with the scope handle, and completes once the body and
    /// every child have completed or been dropped (S1, S2).
    ///
    /// Returns the body's value, or [`ScopeError::Failed`] with every error (F2), or
    /// [`ScopeError::Cancelled`] (C5). A panic in a child or the body cancels the scope and
    /// resumes here once every child is dropped (F5).
    ///
    /// # Panics
    /// If no runtime was given, none is ambient (this is not inside another scope) and none
    /// was detected (see [`Builder::fallback_runtime`]), with a [`NoRuntime`](crate::NoRuntime)
    /// message naming the line that created the builder: give one with [`Builder::runtime`],
    /// or use the `taskscope` facade, which detects tokio or smol. Also resumes panics of the
    /// body and children, as described above.
    ///
    /// # Cancel safety
    /// Dropping the future cancels the scope (C3): every child is dropped promptly by its
    /// runtime and none is polled again; nothing is detached.
    ///
    /// # Example
    ///
    /// With an explicit runtime, as an adapter's tests or an application with several runtimes
    /// would (the facade's `taskscope::builder()` finds it by itself):
    ///
    /// ```
    /// use taskscope::smol::SmolBackend;
    /// use taskscope::{BlockOn, BoxError, Builder};
    ///
    /// let backend = SmolBackend::single_thread();
    /// let doubled = backend.block_on(Builder::new().runtime(backend.runtime()).run(async |s| {
    ///     let h = s.spawn(async { Ok::<_, BoxError>(21) });
    ///     Ok(h.await? * 2)
    /// }));
    /// assert_eq!(doubled.unwrap(), 42);
    /// ```
    pub async fn run<T, E, F>(self, body: F) -> Result<T, ScopeError<E>>
    where
        F: AsyncFnOnce(&Scope<E, R>) -> Result<T, E>,
        E: Send + 'static,
    {
        let (inner, deadline) = self.open::<E>(false);
        let rt = R::from_runtime(&inner.rt).unwrap_or_else(|| {
            panic!(
                "taskscope: this scope's runtime `{}` cannot spawn through `{}`: give the builder a runtime of \
                 that kind, or use `Builder::new()`, which spawns on any runtime",
                inner.rt.name(),
                std::any::type_name::<R>()
            )
        });
        let scope = Scope { spawner: Spawner { inner: inner.clone(), rt } };
        in_scope(inner.span.clone(), Driver::new(inner, body(&scope), deadline)).await
    }

    /// Races the futures (L3, [`Policy::Race`]): runs each as a child; the first to succeed
    /// wins and the rest are cancelled; its value is returned. If every one fails, the owner
    /// gets the [`ErrorGroup`](crate::ErrorGroup) of all their errors, in completion order.
    ///
    /// # Panics
    /// At the call, before anything runs, if `futures` is empty (there would be no winner to
    /// return); while awaited, as [`run`](Builder::run) does.
    ///
    /// ```
    /// # use taskscope_core::{Builder, BoxError};
    /// # let rt = taskscope_core::test_runtime();
    /// # futures_lite::future::block_on(async {
    /// let mirrors = ["a", "b", "c"].map(|m| async move {
    ///     if m == "b" { Ok::<_, BoxError>(format!("from {m}")) } else { std::future::pending().await }
    /// });
    /// assert_eq!(Builder::new().runtime(rt).race(mirrors).await?, "from b");
    /// # Ok::<_, taskscope_core::ScopeError<BoxError>>(()) }).unwrap();
    /// ```
    #[track_caller]
    pub fn race<I, F, T, E>(self, futures: I) -> impl Future<Output = Result<T, ScopeError<E>>>
    where
        I: IntoIterator<Item = F>,
        F: Future<Output = Result<T, E>> + Send + 'static,
        T: Send + 'static,
        E: Send + 'static,
    {
        let futures: Vec<F> = futures.into_iter().collect();
        assert!(
            !futures.is_empty(),
            "taskscope: `race` was given no futures: there would be no winner to return; race at least one"
        );
        async move {
            let handles = self
                .policy(Policy::Race)
                .run(async move |s| Ok(futures.into_iter().map(|f| s.spawn(f)).collect::<Vec<_>>()))
                .await?;
            let winner = handles.into_iter().find_map(|h| h.result().ok());
            Ok(winner.expect("taskscope: a race scope succeeded without a winner"))
        }
    }

    /// Runs the futures as the children of one scope and gives every value, in the order of
    /// `futures` whatever order they finish in (like `asyncio.gather` in a `TaskGroup`, or JS's
    /// `Promise.all`). It works with any error type `E`, the user's own enum included.
    ///
    /// The builder's options apply: its [`limit`](Builder::limit) (children start in order,
    /// at most `n` at once), its [`timeout`](Builder::timeout) or deadline, its grace period
    /// and its [`policy`](Builder::policy). Under [`Policy::FailFast`] (the default) the first
    /// error cancels the rest (F1); under [`Policy::Supervise`] every child runs to its end
    /// (L2). Either way, if any child failed the call returns [`ScopeError::Failed`] with the
    /// scope's [`ErrorGroup`](crate::ErrorGroup) — each error once, in completion order (F2,
    /// F3) — and if the scope was cancelled or its deadline passed, [`ScopeError::Cancelled`]
    /// (C5, C7). It never panics for a child that did not finish; a child's panic resumes here,
    /// as in [`run`](Builder::run).
    ///
    /// # Panics
    /// At the call, before anything runs, under [`Policy::Race`], which keeps only the first
    /// success (use [`race`](Builder::race)); while awaited, as [`run`](Builder::run) does.
    ///
    /// ```
    /// # use taskscope::BlockOn;
    /// # taskscope::smol::SmolBackend::single_thread().block_on(async {
    /// use std::time::Duration;
    /// use taskscope::ScopeError;
    ///
    /// #[derive(Debug, PartialEq)]
    /// enum FetchError {
    ///     NotFound(u64),
    /// }
    ///
    /// async fn fetch(id: u64) -> Result<u64, FetchError> {
    ///     taskscope::sleep(Duration::from_millis(10 - id)).await; // later ids finish first
    ///     if id == 7 { Err(FetchError::NotFound(id)) } else { Ok(id * 10) }
    /// }
    ///
    /// // At most three at once; the values in the order of the ids.
    /// let pages = taskscope::builder().limit(3)?.all((1..=5).map(fetch)).await;
    /// assert_eq!(pages.unwrap(), [10, 20, 30, 40, 50]);
    ///
    /// // A failure: the scope's group, with the user's own error in it.
    /// let Err(ScopeError::Failed(group)) = taskscope::builder().all([6, 7, 8].map(fetch)).await else {
    ///     panic!("7 is not found")
    /// };
    /// assert_eq!(group.cause(), &FetchError::NotFound(7));
    /// # Ok::<_, taskscope::ZeroLimit>(()) }).unwrap();
    /// ```
    #[track_caller]
    pub fn all<I, F, T, E>(self, futures: I) -> impl Future<Output = Result<Vec<T>, ScopeError<E>>>
    where
        I: IntoIterator<Item = F>,
        F: Future<Output = Result<T, E>> + Send + 'static,
        T: Send + 'static,
        E: Send + 'static,
    {
        assert!(
            self.policy != Policy::Race,
            "taskscope: `all` needs every child's value, and Policy::Race keeps only the first success: \
             use `race` for the first success, or another policy for `all`"
        );
        let futures: Vec<F> = futures.into_iter().collect();
        async move {
            // Each child puts its value in its own slot, at its spawn position: a child's error
            // goes through the scope as any child's does (its handle is dropped at once, so
            // under Supervise too the error joins the group, F3).
            let slots: Arc<[Mutex<Option<T>>]> = futures.iter().map(|_| Mutex::new(None)).collect();
            let body_slots = slots.clone();
            self.run(async move |s| {
                for (i, fut) in futures.into_iter().enumerate() {
                    let slots = body_slots.clone();
                    s.spawn_wait(async move {
                        let value = fut.await?;
                        *lock(&slots[i]) = Some(value);
                        Ok(())
                    })
                    .await;
                }
                Ok(())
            })
            .await?;
            // The scope succeeded: every child returned its value, unless its runtime dropped it
            // without cancelling the scope (a runtime shutting down).
            let mut values = Vec::with_capacity(slots.len());
            for slot in slots.iter() {
                match lock(slot).take() {
                    Some(value) => values.push(value),
                    None => {
                        let reason = CancelReason::Explicit(Name::Borrowed(
                            "a child of `all` ended without a value: its runtime dropped it",
                        ));
                        return Err(ScopeError::Cancelled { reason, errors: None });
                    }
                }
            }
            Ok(values)
        }
    }

    /// Runs `fut` under this builder's deadline, as a cancel scope (C7): the general form of
    /// [`fail_after`](crate::fail_after) and [`fail_at`](crate::fail_at), with an explicit
    /// runtime or parent token.
    ///
    /// On expiry the future is dropped, and the call returns [`Elapsed`] once every scope
    /// opened inside it has been torn down (S1). Only this deadline does that: a cancellation
    /// from outside passes through to the future (scopes inside see it through their tokens)
    /// and is never reported as elapsed. A value the future returns before the deadline is
    /// seen is the call's value, even if the deadline passed during that last poll or while
    /// scopes the future dropped were still being torn down.
    /// The builder's policy, limit and grace do not apply (there are no children).
    pub async fn fail<F: IntoFuture>(self, fut: F) -> Result<F::Output, Elapsed> {
        let (inner, deadline) = self.open::<Infallible>(true);
        let body = async move { Ok::<_, Infallible>(fut.await) };
        match Driver::new(inner, body, deadline).await {
            Ok(v) => Ok(v),
            Err(ScopeError::Cancelled { .. }) => Err(Elapsed(())),
            Err(ScopeError::Failed(g)) => match *g.cause() {},
        }
    }

    /// Like [`fail`](Builder::fail), but gives `None` on expiry: the general form of
    /// [`move_on_after`](crate::move_on_after) and [`move_on_at`](crate::move_on_at).
    pub async fn move_on<F: IntoFuture>(self, fut: F) -> Option<F::Output> {
        self.fail(fut).await.ok()
    }
}

#[cfg(all(test, not(taskscope_loom)))]
mod tests {
    use super::*;
    use crate::error::BoxError;
    use crate::scope::{Join, Spawner};

    fn assert_send<T: Send>(_: &T) {}

    /// `all`, `join` and a child builder's `spawn_wait` can run inside a spawned task: their
    /// futures are `Send` (checked when this compiles; `all` also runs).
    #[test]
    fn the_futures_of_all_join_and_spawn_wait_are_send() {
        fn join_is_send(j: &Join<u8, BoxError>) {
            assert_send(j);
        }
        fn spawn_wait_is_send(s: &Spawner<BoxError>) {
            assert_send(&s.child().name("a").spawn_wait(async { Ok(1u8) }));
        }
        let _ = (join_is_send, spawn_wait_is_send);
        let all = Builder::new().runtime(crate::test_runtime()).all([async { Ok::<_, BoxError>(1u8) }]);
        assert_send(&all);
        assert_eq!(futures_lite::future::block_on(all).map_err(|e| e.to_string()), Ok(vec![1]));
    }
}
