//! [`LocalBuilder`]: configures and runs a local scope (P3) with the same choices as a spawned
//! scope: name, parent token, grace period (C2), deadline (C7), limit (L1), policy (L2, L3);
//! and its shorthands `race` (L3) and `all` (every value in spawn order or the scope's error:
//! S1, F2, F3, C5).

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::num::NonZeroUsize;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::detect::DetectRuntime;
use crate::error::ScopeError;
use crate::error::ZeroLimit;
use crate::runtime::Runtime;
use crate::scope::{Policy, ambient_link};
use crate::token::{CancelReason, CancelToken, Name};
use crate::trace::{ScopeSpan, in_scope};

use super::ambient::local_parent;
use super::driver::LocalDriver;
use super::ready::{Arena, ReadyQueue};
use super::spawner::{LocalScope, LocalSpawner, Shared};
use super::state::State;

/// Configures and runs a local scope. [`LocalBuilder::run`] is the entry point;
/// [`local_scope`](crate::local_scope) is the shorthand with every default.
///
/// The runtime is optional: it is used only as a timer, for a [`deadline`](Self::deadline) or
/// a [`grace`](Self::grace) period, and to let spawned scopes nested in the children find it.
/// It is the one given with [`runtime`](Self::runtime), else the enclosing scope's, else the
/// one found by [`fallback_runtime`](Self::fallback_runtime) (the `taskscope` facade's
/// `local_builder()` detects tokio or smol). Children are never spawned on it.
///
/// ```
/// use std::time::Duration;
/// use taskscope_core::{BoxError, LocalBuilder};
///
/// let rt = taskscope_core::test_runtime(); // a timer, for the deadline
/// let names = ["a", "b", "c"];
/// let r = futures_lite::future::block_on(
///     LocalBuilder::new().runtime(rt).timeout(Duration::from_millis(20)).run(async |s| {
///         for n in &names {
///             s.spawn_named(*n, async move { std::future::pending::<Result<(), BoxError>>().await });
///         }
///         Ok(())
///     }),
/// );
/// assert!(r.unwrap_err().is_elapsed());
/// ```
#[derive(Debug, Default, Clone)]
#[must_use = "a LocalBuilder does nothing until `run` is awaited"]
pub struct LocalBuilder {
    runtime: Option<Arc<dyn Runtime>>,
    fallback: Option<DetectRuntime>,
    name: Option<Name>,
    parent: Option<CancelToken>,
    grace: Duration,
    deadline: Option<Deadline>,
    policy: Policy,
    limit: Option<NonZeroUsize>,
}

#[derive(Debug, Clone, Copy)]
enum Deadline {
    At(Instant),
    After(Duration),
}

impl LocalBuilder {
    /// A builder with defaults: no runtime unless one is ambient, the ambient parent token (the
    /// enclosing scope's, if any), no grace period, no deadline, no limit,
    /// [`Policy::FailFast`].
    pub fn new() -> Self {
        Self::default()
    }

    /// The runtime whose timer runs the deadline and grace period.
    pub fn runtime(mut self, rt: Arc<dyn Runtime>) -> Self {
        self.runtime = Some(rt);
        self
    }

    /// How to find a runtime when none was given and the scope is not nested in another:
    /// called when the scope starts.
    pub fn fallback_runtime(mut self, detect: DetectRuntime) -> Self {
        self.fallback = Some(detect);
        self
    }

    /// A name for the scope (for diagnostics).
    pub fn name(mut self, name: impl Into<Name>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// The token whose cancellation cancels this scope (default: the enclosing scope's token).
    pub fn parent(mut self, token: &CancelToken) -> Self {
        self.parent = Some(token.clone());
        self
    }

    /// Grace period (C2): after the token fires, children may finish async cleanup for this
    /// long before they are dropped. Default zero: dropped at once. Needs a runtime (a timer).
    pub fn grace(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }

    /// Cancels the scope with [`CancelReason::Deadline`](crate::CancelReason::Deadline) at
    /// `deadline` (C7); see [`Builder::deadline`](crate::Builder::deadline). Needs a runtime.
    pub fn deadline(mut self, deadline: Instant) -> Self {
        self.deadline = Some(Deadline::At(deadline));
        self
    }

    /// Like [`deadline`](Self::deadline), `timeout` after the scope starts. `Duration::MAX` (or
    /// any timeout too large to represent) means no deadline.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.deadline = Some(Deadline::After(timeout));
        self
    }

    /// What a child's outcome does to the scope (L2, L3); default [`Policy::FailFast`].
    pub fn policy(mut self, policy: Policy) -> Self {
        self.policy = policy;
        self
    }

    /// Concurrency limit (L1): at most `n` children run at once; see
    /// [`Builder::limit`](crate::Builder::limit).
    ///
    /// # Errors
    /// [`ZeroLimit`] for `n == 0`, which would never run a child.
    pub fn limit(mut self, n: usize) -> Result<Self, ZeroLimit> {
        self.limit = Some(NonZeroUsize::new(n).ok_or(ZeroLimit)?);
        Ok(self)
    }

    /// Runs the local scope: calls `body` with the scope handle, and completes once the body
    /// and every child have completed or been dropped (S1, S2). Children are polled inside this
    /// future; they may borrow anything that outlives it and need not be `Send`.
    ///
    /// Returns the body's value, or [`ScopeError::Failed`] with every error (F2), or
    /// [`ScopeError::Cancelled`] (C5). A panic in a child or the body cancels the scope and
    /// resumes here once every child is dropped (F5).
    ///
    /// # Panics
    /// With a deadline or a grace period but no runtime (see [`LocalBuilder`]); and resumes
    /// panics of the body and children, as described above.
    ///
    /// # Cancel safety
    /// Dropping the future cancels the scope and drops every child, shielded ones included,
    /// before the drop returns (C3, P3).
    pub async fn run<'env, T, E, F>(self, body: F) -> Result<T, ScopeError<E>>
    where
        F: AsyncFnOnce(&LocalScope<'env, E>) -> Result<T, E>,
        E: 'static,
    {
        let enclosing = ambient_link();
        let rt = self
            .runtime
            .or_else(|| enclosing.as_ref().map(|a| a.runtime().clone()))
            .or_else(|| self.fallback.and_then(|f| f().ok()));
        assert!(rt.is_some() || (self.deadline.is_none() && self.grace.is_zero()), "{}", super::driver::NO_TIMER);
        let parent = self.parent.or_else(|| enclosing.as_ref().map(|a| a.token().clone())).or_else(local_parent);
        let token = parent.map_or_else(CancelToken::new, |p| p.child());
        let deadline = match (self.deadline, &rt) {
            (Some(Deadline::At(at)), _) => Some(at),
            (Some(Deadline::After(d)), Some(rt)) => rt.now().checked_add(d),
            (Some(Deadline::After(_)), None) => None,
            (None, _) => None,
        };
        let span = ScopeSpan::open(self.name.as_ref(), rt.as_ref());
        let queue = Arc::new(ReadyQueue::default());
        let limit = self.limit.map(NonZeroUsize::get);
        let state = State::new(token, rt, self.grace, self.policy, limit, queue.clone(), span.clone());
        let shared = Rc::new(Shared { state, arena: RefCell::new(Arena::new(queue)) });
        let scope = LocalScope { spawner: LocalSpawner { shared: shared.clone() } };
        let mut guard = super::spawner::StopAll(Some(&*shared));
        let body = body(&scope);
        guard.0 = None;
        drop(guard);
        in_scope(span, LocalDriver::new(shared, body, deadline, enclosing)).await
    }

    /// Races the futures (L3, [`Policy::Race`]) as children of a local scope: the first to
    /// succeed wins and the rest are dropped; if every one fails, the owner gets the group of
    /// all their errors.
    ///
    /// # Panics
    /// If `futures` is empty (there is nothing to race), and as [`run`](Self::run) does.
    ///
    /// ```
    /// use taskscope_core::{BoxError, LocalBuilder};
    ///
    /// let mirrors = ["a", "b", "c"];
    /// let fetches = mirrors.iter().map(|m| async move {
    ///     if *m == "b" { Ok::<_, BoxError>(format!("from {m}")) } else { std::future::pending().await }
    /// });
    /// let won = futures_lite::future::block_on(LocalBuilder::new().race(fetches)).unwrap();
    /// assert_eq!(won, "from b");
    /// ```
    pub async fn race<'env, I, F, T, E>(self, futures: I) -> Result<T, ScopeError<E>>
    where
        I: IntoIterator<Item = F>,
        F: Future<Output = Result<T, E>> + 'env,
        T: 'env,
        E: 'static,
    {
        let handles = self
            .policy(Policy::Race)
            .run(async move |s: &LocalScope<'env, E>| Ok(futures.into_iter().map(|f| s.spawn(f)).collect::<Vec<_>>()))
            .await?;
        assert!(!handles.is_empty(), "taskscope: `LocalBuilder::race` needs at least one future to race");
        let winner = handles.into_iter().find_map(|h| h.result().ok());
        Ok(winner.expect("taskscope: a race scope succeeded without a winner"))
    }

    /// Runs the futures as the children of one local scope and gives every value, in the order
    /// of `futures` whatever order they finish in (like `asyncio.gather` in a `TaskGroup`, or
    /// JS's `Promise.all`): the local form of [`Builder::all`](crate::Builder::all). The futures
    /// may borrow anything that outlives this call and need not be `Send`. It works with any
    /// error type `E`, the user's own enum included.
    ///
    /// The builder's options apply: its [`limit`](Self::limit) (children start in order, at
    /// most `n` at once), its [`timeout`](Self::timeout) or deadline, its grace period and its
    /// [`policy`](Self::policy). Under [`Policy::FailFast`] (the default) the first error
    /// cancels the rest (F1); under [`Policy::Supervise`] every child runs to its end (L2).
    /// Either way, if any child failed the call returns [`ScopeError::Failed`] with the scope's
    /// [`ErrorGroup`](crate::ErrorGroup) — each error once, in completion order (F2, F3) — and
    /// if the scope was cancelled or its deadline passed, [`ScopeError::Cancelled`] (C5, C7).
    /// It never panics for a child that did not finish; a child's panic resumes here, as in
    /// [`run`](Self::run). [`local_all`](crate::local_all) is the shorthand with every default.
    ///
    /// # Panics
    /// At the call, before anything runs, under [`Policy::Race`], which keeps only the first
    /// success (use [`race`](Self::race)); while awaited, as [`run`](Self::run) does.
    ///
    /// ```
    /// use std::collections::HashMap;
    /// use taskscope::{LocalBuilder, ScopeError};
    ///
    /// #[derive(Debug, PartialEq)]
    /// enum LookupError {
    ///     Unknown(u32),
    /// }
    ///
    /// let table = HashMap::from([(1, "one"), (2, "two"), (3, "three")]); // borrowed, not cloned
    /// let lookup = |id: u32| {
    ///     let table = &table;
    ///     async move { table.get(&id).copied().ok_or(LookupError::Unknown(id)) }
    /// };
    ///
    /// // At most two at once; the values in the order of the ids.
    /// let names = futures_lite::future::block_on(LocalBuilder::new().limit(2)?.all([3, 1, 2].map(lookup)));
    /// assert_eq!(names.unwrap(), ["three", "one", "two"]);
    ///
    /// // A failure: the scope's group, with the user's own error in it.
    /// let r = futures_lite::future::block_on(LocalBuilder::new().all([1, 7].map(lookup)));
    /// let Err(ScopeError::Failed(group)) = r else { panic!("7 is unknown") };
    /// assert_eq!(group.cause(), &LookupError::Unknown(7));
    /// # Ok::<_, taskscope::ZeroLimit>(())
    /// ```
    #[track_caller]
    pub fn all<I, F, T, E>(self, futures: I) -> impl Future<Output = Result<Vec<T>, ScopeError<E>>>
    where
        I: IntoIterator<Item = F>,
        F: Future<Output = Result<T, E>>,
        E: 'static,
    {
        assert!(
            self.policy != Policy::Race,
            "taskscope: `all` needs every child's value, and Policy::Race keeps only the first success: \
             use `race` for the first success, or another policy for `all`"
        );
        let futures: Vec<F> = futures.into_iter().collect();
        async move {
            // Each child puts its value in its own slot, at its spawn position, borrowed from
            // here (the scope ends before the slots do). A child's error goes through the scope
            // as any child's does (its handle is dropped at once, so under Supervise too the
            // error joins the group, F3).
            let slots: Vec<Cell<Option<T>>> = futures.iter().map(|_| Cell::new(None)).collect();
            self.run(async |s| {
                for (fut, slot) in futures.into_iter().zip(&slots) {
                    s.spawn_wait(async move {
                        slot.set(Some(fut.await?));
                        Ok(())
                    })
                    .await;
                }
                Ok(())
            })
            .await?;
            // The scope succeeded: every child returned its value (nothing drops a local child
            // without cancelling its scope but its handle, which nobody holds here). Should one
            // be missing all the same, the call says so as a cancellation, never a panic.
            slots.into_iter().map(Cell::into_inner).collect::<Option<Vec<T>>>().ok_or_else(|| {
                let reason = CancelReason::Explicit(Name::Borrowed("a child of `all` ended without a value"));
                ScopeError::Cancelled { reason, errors: None }
            })
        }
    }
}
