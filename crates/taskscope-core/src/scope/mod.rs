//! Scopes: children spawned into them, waited for, cancelled together.
//!
//! One concept per module: [`Scope`], [`Spawner`] and the per-child spawn options here;
//! `inner` (the shared state: cancellation, owner drop), `table` (each child's 24-byte slot:
//! the state its task and handle share, and the abort walk; `unsafe`), `outcome` (what a
//! child's end does, the final outcome), `driver` (the owner's future, grace and deadline
//! timers), `body` (`ChildTask`, core's wrapper around each child's future, which the runtime
//! stores in its own task, and the `End` it returns), `handle` (the `JoinHandle`), `blocking`
//! (blocking children), `ambient` (what a poll carries on its thread), `lent` (the ambient
//! scope lent to the thread-local for a poll), `gauge` (the process-wide count).

mod ambient;
mod blocking;
mod body;
mod child;
mod driver;
mod gauge;
mod handle;
mod inner;
#[allow(unsafe_code)]
mod lent;
mod outcome;
mod table;

use std::fmt;
use std::future::Future;
use std::ops::Deref;
use std::sync::Arc;

pub(crate) use ambient::{ScopeCtx, ambient_link, enter, mark_handed_cancellation, poll_tracked};
pub use ambient::{current_runtime, current_token};
pub(crate) use body::{StartHook, drop_caught, drop_quietly, with_panic};
pub use child::ChildBuilder;
pub(crate) use driver::Driver;
pub use gauge::live_children;
pub(crate) use handle::ended_without_value;
pub use handle::{ChildState, Join, JoinHandle};
pub(crate) use inner::Inner;
pub use outcome::Policy;
pub(crate) use outcome::{Outcome, Payload};

use crate::erased::ErasedJoin;
use crate::error::TrySpawnError;
use crate::limit::Permit;
use crate::runtime::Runtime;
use crate::spawn::{DynRuntime, Spawn};
use crate::sync::Ordering;
use crate::token::{CancelReason, CancelToken, Name};
use crate::trace::ChildSpan;
use crate::util::lock;
use ambient::Shield;
use body::{ChildInfo, ChildTask};
use body::{Extra, Slot};
use inner::LIVE_UNIT;
use table::{HandleSlot, TaskSlot};

/// How a child is spawned: the options of the various spawn methods.
pub(crate) struct SpawnOpts<E> {
    pub(crate) name: Option<Name>,
    pub(crate) shielded: bool,
    pub(crate) permit: Option<Permit>,
    pub(crate) hook: Option<Arc<dyn StartHook<E>>>,
}

// ---------------------------------------------------------------------------------------------
// Spawner and Scope.

/// A `'static`, cloneable handle that spawns children into a scope: give one to a child so it
/// can spawn siblings (S3). One that outlives its scope can still be called: the spawn is
/// refused and the future dropped unpolled (S4).
pub struct Spawner<E, R = DynRuntime> {
    pub(crate) inner: Arc<Inner<E>>,
    /// The runtime children are spawned on, as the static spawn path sees it (see [`Spawn`]).
    pub(crate) rt: R,
}

impl<E, R: Clone> Clone for Spawner<E, R> {
    fn clone(&self) -> Self {
        Self { inner: self.inner.clone(), rt: self.rt.clone() }
    }
}

impl<E, R> fmt::Debug for Spawner<E, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Spawner")
            .field("runtime", &self.inner.rt.name())
            .field("live_children", &self.inner.live_count())
            .field("token", &self.inner.token)
            .finish()
    }
}

impl<E: Send + 'static, R: Spawn> Spawner<E, R> {
    /// Spawns a child. The scope waits for it; its error fails the scope (F1); its value is
    /// read through the returned handle.
    ///
    /// If the scope is cancelling or finished, `fut` is dropped without being polled and the
    /// handle reports [`ChildState::Closed`] (S4). In a scope with a concurrency
    /// [`limit`](crate::Builder::limit) the child waits for a running slot, in spawn order, before its
    /// first poll; use [`spawn_wait`](Spawner::spawn_wait) to make the spawner itself wait
    /// (backpressure) or [`try_spawn`](Spawner::try_spawn) to be told the scope is full.
    ///
    /// The child must own what it uses (`Send + 'static`): move or clone data into it.
    ///
    /// To give the child a name or shielding, or to spawn it in another mode, use
    /// [`child`](Spawner::child): `s.spawn(fut)` is `s.child().spawn(fut)`. To collect the
    /// values of many children in order, see [`Builder::all`](crate::Builder::all); to pass a
    /// handle's end on with `?` into your own error type, [`JoinHandle::join`].
    ///
    /// ```
    /// # use taskscope::BlockOn;
    /// # taskscope::smol::SmolBackend::single_thread().block_on(async {
    /// use taskscope::BoxError;
    ///
    /// let names = vec!["a".to_owned(), "b".to_owned()];
    /// let total = taskscope::scope(async |s| {
    ///     let handles: Vec<_> = names
    ///         .iter()
    ///         .cloned() // each child owns its name
    ///         .map(|name| s.spawn(async move { Ok::<_, BoxError>(name.len()) }))
    ///         .collect();
    ///     let mut total = 0;
    ///     for h in handles {
    ///         total += h.await?; // awaiting a handle inside the scope
    ///     }
    ///     Ok(total)
    /// })
    /// .await?;
    /// assert_eq!(total, 2);
    /// # Ok::<_, BoxError>(()) }).unwrap();
    /// ```
    pub fn spawn<F, T>(&self, fut: F) -> JoinHandle<T, E>
    where
        F: Future<Output = Result<T, E>> + Send + 'static,
        T: Send + 'static,
    {
        self.child().spawn(fut)
    }

    /// Spawns a named child: the name appears in errors, cancel reasons and handles (O1).
    /// Short for `self.child().name(name).spawn(fut)` (see [`ChildBuilder`]).
    pub fn spawn_named<F, T>(&self, name: impl Into<Name>, fut: F) -> JoinHandle<T, E>
    where
        F: Future<Output = Result<T, E>> + Send + 'static,
        T: Send + 'static,
    {
        self.child().name(name).spawn(fut)
    }

    /// Spawns a child if the scope has a free running slot (L1), without waiting: otherwise
    /// gives `fut` back with [`TrySpawnError::Full`] (or [`TrySpawnError::Closed`] if the scope
    /// is cancelling or finished). A scope without a limit is never full. Short for
    /// `self.child().try_spawn(fut)` (see [`ChildBuilder::try_spawn`]).
    ///
    /// ```
    /// # use taskscope_core::{Builder, BoxError, TrySpawnError};
    /// # let rt = taskscope_core::test_runtime();
    /// # futures_lite::future::block_on(async {
    /// Builder::new().runtime(rt).limit(1)?.run(async |s| {
    ///     let gate = s.token().child();
    ///     let g = gate.clone();
    ///     s.try_spawn(async move { g.cancelled().await; Ok(()) }).unwrap();
    ///     let refused = s.try_spawn(async { Ok(()) });
    ///     assert!(matches!(refused, Err(TrySpawnError::Full(_))));
    ///     gate.cancel();
    ///     Ok::<_, BoxError>(())
    /// }).await?;
    /// # Ok::<_, BoxError>(()) }).unwrap();
    /// ```
    pub fn try_spawn<F, T>(&self, fut: F) -> Result<JoinHandle<T, E>, TrySpawnError<F>>
    where
        F: Future<Output = Result<T, E>> + Send + 'static,
        T: Send + 'static,
    {
        self.child().try_spawn(fut)
    }

    /// Spawns a child once the scope has a free running slot (L1): waits, first come first
    /// served, while the scope is full (backpressure, like Go's `errgroup.Go` after
    /// `SetLimit`). In a scope without a limit it spawns at once. Short for
    /// `self.child().spawn_wait(fut)` (see [`ChildBuilder::spawn_wait`]).
    ///
    /// # Cancel safety
    /// Cancel-safe: dropping the future before it completes gives up its place in the queue
    /// (a slot handed to it in the meantime passes to the next in line) and drops `fut`
    /// unpolled. If the scope starts cancelling while it waits, `fut` is dropped unpolled and
    /// the handle reports [`ChildState::Closed`] (S4).
    ///
    /// ```
    /// # use taskscope_core::{Builder, BoxError};
    /// # let rt = taskscope_core::test_runtime();
    /// # futures_lite::future::block_on(async {
    /// let total = Builder::new().runtime(rt).limit(2)?.run(async |s| {
    ///     let mut handles = Vec::new();
    ///     for i in 0..10u64 {
    ///         // At most two run at once; the body waits here while both slots are taken.
    ///         handles.push(s.spawn_wait(async move { Ok::<_, BoxError>(i * i) }).await);
    ///     }
    ///     let mut total = 0;
    ///     for h in handles { total += h.await?; }
    ///     Ok(total)
    /// }).await?;
    /// assert_eq!(total, 285);
    /// # Ok::<_, BoxError>(()) }).unwrap();
    /// ```
    pub async fn spawn_wait<F, T>(&self, fut: F) -> JoinHandle<T, E>
    where
        F: Future<Output = Result<T, E>> + Send + 'static,
        T: Send + 'static,
    {
        self.child().spawn_wait(fut).await
    }

    /// Spawns a shielded child (C8): cleanup that must run to completion. The scope's
    /// cancellation — its own `cancel`, a failure, an outer scope or token, a deadline — does
    /// not reach it: its [`current_token`] is a token of its own, it is not dropped when the
    /// siblings are, and it may be spawned while the scope is cancelling (for example from a
    /// cancelled child's destructor). It is still bounded by S1: the scope waits for it. Its
    /// own cancellation still applies ([`JoinHandle::cancel`], a deadline inside it), and the
    /// owner dropping the scope future drops it too (C3: nothing is left to wait for it).
    /// It does not count against a concurrency limit.
    ///
    /// Refused (S4) only once the scope has finished or been dropped. Short for
    /// `self.child().shielded().spawn(fut)`; [`ChildBuilder::shielded`] shields a child of
    /// any spawn mode, a named one, a started one, a blocking one.
    ///
    /// ```
    /// # use taskscope_core::{Builder, BoxError, ScopeError};
    /// # use std::sync::{Arc, atomic::{AtomicBool, Ordering}};
    /// # let rt = taskscope_core::test_runtime();
    /// # futures_lite::future::block_on(async {
    /// let flushed = Arc::new(AtomicBool::new(false));
    /// let f = flushed.clone();
    /// let r = Builder::new().runtime(rt).run(async |s| {
    ///     s.spawn_shielded(async move {
    ///         futures_lite::future::yield_now().await; // survives the cancel below
    ///         f.store(true, Ordering::SeqCst);
    ///         Ok::<_, BoxError>(())
    ///     });
    ///     s.cancel();
    ///     Ok(())
    /// }).await;
    /// assert!(matches!(r, Err(ScopeError::Cancelled { .. })));
    /// assert!(flushed.load(Ordering::SeqCst)); // the scope waited for it
    /// # });
    /// ```
    pub fn spawn_shielded<F, T>(&self, fut: F) -> JoinHandle<T, E>
    where
        F: Future<Output = Result<T, E>> + Send + 'static,
        T: Send + 'static,
    {
        self.child().shielded().spawn(fut)
    }

    /// Admits a child as live (S1) and claims its slot, unless the scope refuses spawns (S4).
    fn admit(&self, shielded: bool) -> Option<(TaskSlot, HandleSlot)> {
        let st = lock(&self.inner.state);
        // Cancelling starts when the token fires, even before the owner closes the scope (a
        // parent's cancellation reaches the token first).
        if st.done || (!shielded && (st.closed || self.inner.token.is_cancelled())) {
            return None;
        }
        self.inner.live.fetch_add(LIVE_UNIT, Ordering::AcqRel);
        gauge::add();
        // Claimed under `state`: see `inner.rs` on why an abort then always finds it.
        let slots = self.inner.table.claim(shielded);
        drop(st);
        Some(slots)
    }

    /// What a new child's task and handle share: its name, and for a child of a supervised
    /// scope the scope, so that an error left unread in a dropped handle still reaches the
    /// group (F3). `None` (no allocation) for an unnamed child of any other scope.
    fn child_info(&self, name: Option<Name>) -> Option<Arc<ChildInfo<E>>> {
        let supervisor = (self.inner.policy == Policy::Supervise).then(|| Arc::downgrade(&self.inner));
        ChildInfo::new(name, supervisor)
    }

    /// The handle of a refused spawn (S4): `work` is dropped without being run.
    fn refused<T, W>(&self, name: Option<Name>, work: W) -> JoinHandle<T, E> {
        drop(work);
        ChildSpan::new(&self.inner.span, name.as_ref(), Some(&self.inner.rt))
            .end(ChildState::Closed, || self.inner.token.reason().cloned());
        JoinHandle::refused(ChildInfo::new(name, None))
    }

    pub(crate) fn spawn_child<F, T>(&self, fut: F, how: SpawnOpts<E>) -> JoinHandle<T, E>
    where
        F: Future<Output = Result<T, E>> + Send + 'static,
        T: Send + 'static,
    {
        let slot = match (how.permit, &self.inner.sem) {
            (Some(p), _) => Slot::Held(p),
            // A free slot is taken at spawn: the child is admitted, and a cancellation with a
            // grace period gives it the grace like any running child (C2). Only a child that
            // has to queue waits (FIFO), and never starts once the scope is cancelling (L1).
            (None, Some(sem)) if !how.shielded => match sem.try_acquire() {
                Ok(permit) => Slot::Held(permit),
                Err(_) => Slot::Waiting(sem.acquire()),
            },
            (None, _) => Slot::Unlimited,
        };
        let shield: Option<Arc<dyn ScopeCtx>> = if how.shielded {
            Some(Arc::new(Shield { token: CancelToken::new(), scope: self.inner.clone() }))
        } else {
            None
        };
        let extra = match (shield, slot, how.hook) {
            (None, Slot::Unlimited, None) => None,
            (shield, slot, hook) => Some(Box::new(Extra { shield, slot, hook, drain: None, parked: None })),
        };
        let Some((task, handle)) = self.admit(how.shielded) else {
            // Refused (S4): the future is dropped unpolled, and nothing keeps the scope alive.
            return self.refused(how.name, (fut, extra));
        };
        let info = self.child_info(how.name);
        let child = ChildTask::new(fut, self.inner.clone(), extra, task, info.clone());
        let join = self.rt.spawn_child(child);
        JoinHandle::new(handle, ErasedJoin::new(join), info)
    }
}

impl<E, R> Spawner<E, R> {
    /// The scope's cancel token: children watch it to stop cooperatively.
    pub fn token(&self) -> &CancelToken {
        &self.inner.token
    }

    /// Cancels the scope ([`CancelReason::Explicit`]): the token fires, then every child is
    /// dropped (C1). The owner gets [`ScopeError::Cancelled`](crate::ScopeError::Cancelled) (C5). Idempotent (C4).
    pub fn cancel(&self) {
        self.cancel_with(CancelReason::Explicit(Name::Borrowed("Scope::cancel() called")));
    }

    /// Cancels the scope with the given reason (the first reason stands).
    pub fn cancel_with(&self, reason: CancelReason) {
        self.inner.cancel(reason);
    }

    /// The number of live children: spawned and not yet dropped (O1).
    pub fn live_children(&self) -> usize {
        self.inner.live_count()
    }

    /// Whether spawns are refused: the scope is cancelling or finished.
    pub fn is_closed(&self) -> bool {
        let st = lock(&self.inner.state);
        st.closed || st.done || self.inner.token.is_cancelled()
    }

    /// The runtime the scope spawns on.
    pub fn runtime(&self) -> &Arc<dyn Runtime> {
        &self.inner.rt
    }
}

/// The scope handle given to the body. It cannot escape the body (S5): the body receives a
/// `&Scope`, and `Scope` is neither `Clone` nor constructible by users. Use
/// [`spawner`](Scope::spawner) for a `'static` handle to give to children.
///
/// All spawning methods come from [`Spawner`], through `Deref`.
///
/// ```compile_fail
/// # use taskscope_core::{Builder, Scope, BoxError};
/// # async fn f(rt: std::sync::Arc<dyn taskscope_core::Runtime>) {
/// let mut escaped: Option<&Scope<BoxError>> = None;
/// let _ = Builder::new().runtime(rt).run(async |s: &Scope<BoxError>| {
///     escaped = Some(s); // error: borrowed data escapes the body
///     Ok(())
/// }).await;
/// # }
/// ```
pub struct Scope<E, R = DynRuntime> {
    pub(crate) spawner: Spawner<E, R>,
}

impl<E, R> fmt::Debug for Scope<E, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Scope").field(&self.spawner).finish()
    }
}

impl<E, R> Deref for Scope<E, R> {
    type Target = Spawner<E, R>;
    fn deref(&self) -> &Spawner<E, R> {
        &self.spawner
    }
}

impl<E, R: Clone> Scope<E, R> {
    /// A `'static`, cloneable spawner for this scope, to move into children (S3, S5).
    pub fn spawner(&self) -> Spawner<E, R> {
        self.spawner.clone()
    }
}

#[cfg(all(test, not(taskscope_loom)))]
mod tests {
    use super::*;
    use crate::builder::Builder;
    use crate::error::BoxError;
    use std::time::Duration;

    /// Finished children's slots are reused: a long-lived scope with many short-lived children
    /// keeps a bounded table.
    #[test]
    fn the_table_stays_bounded_for_sequential_children() {
        let rt = crate::test_runtime();
        let segments = futures_lite::future::block_on(Builder::new().runtime(rt).run(async |s| {
            for i in 0..1_000u32 {
                s.spawn(async move { Ok::<_, BoxError>(i) }).await?;
            }
            Ok::<_, BoxError>(s.inner.table.segments())
        }))
        .unwrap();
        assert!(segments <= 4, "the table grew to {segments} segments");
    }

    /// A burst of children that all finish frees its slots for the next burst: the table
    /// grows to the peak of live children, not to the number ever spawned.
    #[test]
    fn the_table_grows_to_the_peak_not_the_total() {
        let rt = crate::test_runtime();
        let segments = futures_lite::future::block_on(Builder::new().runtime(rt).run(async |s| {
            for _ in 0..10 {
                let gate = CancelToken::new();
                let handles: Vec<_> = (0..200)
                    .map(|_| {
                        let gate = gate.clone();
                        s.spawn(async move {
                            gate.cancelled().await;
                            Ok::<_, BoxError>(())
                        })
                    })
                    .collect();
                gate.cancel();
                for h in handles {
                    h.await?;
                }
            }
            Ok::<_, BoxError>(s.inner.table.segments())
        }))
        .unwrap();
        let peak = 200usize.div_ceil(table::SLOTS);
        assert!(segments <= 2 * peak + 1, "{segments} segments for a peak of {peak}");
    }

    /// A child's cell (kept alive by its task and its handle) lets go of its scope once
    /// the child is done, refused or dropped: no reference cycle keeps a finished scope alive.
    #[test]
    fn done_children_do_not_keep_their_scope_alive() {
        let rt = crate::test_runtime();
        let (spawner, handles) = futures_lite::future::block_on(Builder::new().runtime(rt).run(async |s| {
            let done = s.spawn(async { Ok::<_, BoxError>(1u8) });
            let cancelled = s.spawn(std::future::pending::<Result<u8, BoxError>>());
            cancelled.cancel();
            Ok::<_, BoxError>((s.spawner(), [done, cancelled]))
        }))
        .unwrap();
        assert_eq!(handles.each_ref().map(JoinHandle::state), [ChildState::Finished, ChildState::Cancelled]);
        let refused = spawner.spawn(async { Ok(2u8) });
        assert_eq!(refused.state(), ChildState::Closed);
        // A child's thread may still be returning from its last `child_done` call.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while Arc::strong_count(&spawner.inner) > 1 && std::time::Instant::now() < deadline {
            std::thread::yield_now();
        }
        assert_eq!(Arc::strong_count(&spawner.inner), 1, "only the spawner we hold is left");
        drop((handles, refused));
    }
}
