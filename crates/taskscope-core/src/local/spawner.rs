//! [`LocalScope`] and [`LocalSpawner`]: spawning borrowed, `!Send` children into a local
//! scope (S3, S4, S5, C8, L1, L4).
//!
//! # Why borrowing is sound
//! A local scope's children are `Future + 'env`, stored type-erased as `dyn … + 'env` in the
//! scope's arena, which lives in the owner's future. `'env` is a parameter of
//! [`LocalScope<'env, E>`] and is invariant (the arena is behind a `RefCell`), so a child can
//! only borrow what outlives the whole scope future, never what the body owns; and since the
//! scope future's type mentions `'env`, the borrow checker keeps every borrowed value alive
//! (and not mutably borrowed elsewhere) for as long as that future exists. Dropping the scope
//! future drops every child synchronously, before the drop returns. A child's handle shares one
//! allocation with the child's future (see `node.rs`), so the handle carries `'env` too and
//! cannot outlive what the child borrows.

use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::ops::Deref;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::rc::Rc;
use std::sync::Arc;

use crate::error::TrySpawnError;
use crate::limit::Permit;
use crate::runtime::Runtime;
use crate::scope::{ChildState, Policy, drop_quietly};
use crate::token::{CancelReason, CancelToken, Name};
use crate::trace::ChildSpan;

use super::ambient::Around;
use super::child::{ChildCell, ChildTask, LocalJoinHandle, LocalStartHook, Slot};
use super::node::Node;
use super::ready::{Arena, BoxedChild};
use super::start::{LocalReady, LocalStart, LocalStartSlot, ScopeOf};
use super::state::State;

/// What a local scope's owner, spawners and children share.
pub(crate) struct Shared<'env, E> {
    pub(crate) state: State<E>,
    pub(crate) arena: RefCell<Arena<'env, E>>,
}

/// A cloneable handle that spawns children into a local scope: give one to a child so that it
/// can spawn siblings (S3). It is neither `Send` nor `'static`: it lives on the owner's thread,
/// for `'env` at most. One that outlives its scope can still be called: the spawn is refused
/// and the future dropped unpolled (S4).
pub struct LocalSpawner<'env, E> {
    pub(crate) shared: Rc<Shared<'env, E>>,
}

impl<E> Clone for LocalSpawner<'_, E> {
    fn clone(&self) -> Self {
        Self { shared: self.shared.clone() }
    }
}

impl<E> fmt::Debug for LocalSpawner<'_, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalSpawner")
            .field("live_children", &self.shared.state.live.get())
            .field("token", &self.shared.state.token)
            .finish()
    }
}

/// How a child is spawned: its options ([`LocalChildBuilder`](super::LocalChildBuilder)) and
/// what its spawn mode adds (a running slot already taken, a start call's hook).
pub(super) struct How<'h, E> {
    pub(super) name: Option<Name>,
    pub(super) shielded: bool,
    pub(super) permit: Option<Permit>,
    pub(super) hook: Option<Rc<dyn LocalStartHook<E> + 'h>>,
}

impl<'env, E: 'env> LocalSpawner<'env, E> {
    /// Spawns a child: it may borrow anything that outlives the scope, and need not be `Send`.
    /// The scope waits for it; its error fails the scope (F1); its value is read through the
    /// returned handle. Short for `self.child().spawn(fut)` (see
    /// [`LocalChildBuilder`](super::LocalChildBuilder)).
    ///
    /// If the scope is cancelling or finished, `fut` is dropped without being polled and the
    /// handle reports [`ChildState::Closed`] (S4). In a scope with a concurrency
    /// [`limit`](super::LocalBuilder::limit) the child waits for a running slot, in spawn order,
    /// before its first poll.
    pub fn spawn<F, T>(&self, fut: F) -> LocalJoinHandle<'env, T, E>
    where
        F: Future<Output = Result<T, E>> + 'env,
        T: 'env,
    {
        self.child().spawn(fut)
    }

    /// Spawns a named child: the name appears in errors, cancel reasons and handles (O1).
    /// Short for `self.child().name(name).spawn(fut)`.
    pub fn spawn_named<F, T>(&self, name: impl Into<Name>, fut: F) -> LocalJoinHandle<'env, T, E>
    where
        F: Future<Output = Result<T, E>> + 'env,
        T: 'env,
    {
        self.child().name(name).spawn(fut)
    }

    /// Spawns a child if the scope has a free running slot (L1), without waiting: otherwise
    /// gives `fut` back with [`TrySpawnError::Full`] (or [`TrySpawnError::Closed`] if the scope
    /// is cancelling or finished). A scope without a limit is never full. Short for
    /// `self.child().try_spawn(fut)` (see
    /// [`LocalChildBuilder::try_spawn`](super::LocalChildBuilder::try_spawn)).
    pub fn try_spawn<F, T>(&self, fut: F) -> Result<LocalJoinHandle<'env, T, E>, TrySpawnError<F>>
    where
        F: Future<Output = Result<T, E>> + 'env,
        T: 'env,
    {
        self.child().try_spawn(fut)
    }

    /// Spawns a child once the scope has a free running slot (L1): waits, first come first
    /// served, while the scope is full (backpressure). In a scope without a limit it spawns
    /// at once. Short for `self.child().spawn_wait(fut)` (see
    /// [`LocalChildBuilder::spawn_wait`](super::LocalChildBuilder::spawn_wait)).
    ///
    /// # Cancel safety
    /// Cancel-safe: dropping the future gives up its place in the queue and drops `fut`
    /// unpolled. If the scope starts cancelling while it waits, `fut` is dropped unpolled and
    /// the handle reports [`ChildState::Closed`] (S4).
    pub async fn spawn_wait<F, T>(&self, fut: F) -> LocalJoinHandle<'env, T, E>
    where
        F: Future<Output = Result<T, E>> + 'env,
        T: 'env,
    {
        self.child().spawn_wait(fut).await
    }

    /// Spawns a shielded child (C8): cleanup that must run to completion. The scope's
    /// cancellation does not reach it (scopes opened inside it see a token of their own), it is
    /// not dropped when the siblings are, and it may be spawned while the scope is cancelling.
    /// The scope still waits for it (S1); its own handle still cancels it, and dropping the
    /// scope future drops it too. It does not count against a concurrency limit. Short for
    /// `self.child().shielded().spawn(fut)` (see
    /// [`LocalChildBuilder::shielded`](super::LocalChildBuilder::shielded)).
    pub fn spawn_shielded<F, T>(&self, fut: F) -> LocalJoinHandle<'env, T, E>
    where
        F: Future<Output = Result<T, E>> + 'env,
        T: 'env,
    {
        self.child().shielded().spawn(fut)
    }

    /// Starts a child and waits until it reports ready (L4, AnyIO's `task_group.start`): `f`
    /// gets a [`LocalReady`] reporter, and the call returns the value the child reports with
    /// the child's handle, while the child runs on in the scope. An error before ready is
    /// returned by this call and does not fail the scope; a child that ends without reporting
    /// ready gives [`JoinError::NotReady`](crate::JoinError::NotReady). Short for
    /// `self.child().start(f)` (see
    /// [`LocalChildBuilder::start`](super::LocalChildBuilder::start)).
    ///
    /// # Cancel safety
    /// Dropping the returned future before it completes cancels the child (C9).
    ///
    /// ```
    /// use taskscope::{BoxError, local_scope};
    ///
    /// futures_lite::future::block_on(local_scope(async |s| {
    ///     let (port, _server) = s.start(|ready| async move {
    ///         ready.send(8080u16);
    ///         Ok::<_, BoxError>(())
    ///     }).await?;
    ///     assert_eq!(port, 8080);
    ///     Ok(())
    /// })).unwrap();
    /// ```
    pub fn start<V, T, F, Fut>(&self, f: F) -> LocalStart<'env, V, T, E>
    where
        F: FnOnce(LocalReady<V>) -> Fut,
        Fut: Future<Output = Result<T, E>> + 'env,
        V: 'env,
        T: 'env,
    {
        self.child().start(f)
    }

    /// [`start`](LocalSpawner::start) with a name for the child. Short for
    /// `self.child().name(name).start(f)`.
    pub fn start_named<V, T, F, Fut>(&self, name: impl Into<Name>, f: F) -> LocalStart<'env, V, T, E>
    where
        F: FnOnce(LocalReady<V>) -> Fut,
        Fut: Future<Output = Result<T, E>> + 'env,
        V: 'env,
        T: 'env,
    {
        self.child().name(name).start(f)
    }

    /// Starts a child spawned as `how` says (its name, its shielding), with a start hook.
    pub(super) fn start_child<V, T, F, Fut>(&self, how: How<'env, E>, f: F) -> LocalStart<'env, V, T, E>
    where
        F: FnOnce(LocalReady<V>) -> Fut,
        Fut: Future<Output = Result<T, E>> + 'env,
        V: 'env,
        T: 'env,
    {
        let slot = LocalStartSlot::new();
        let fut = f(slot.reporter());
        let hook: Rc<dyn LocalStartHook<E> + 'env> = slot.clone();
        let handle = self.spawn_child(fut, How { hook: Some(hook), ..how });
        let st = &self.shared.state;
        let scope = ScopeOf { sink: st.sink.clone(), token: st.token.clone(), policy: st.policy };
        LocalStart::new(slot, handle, scope)
    }

    /// The handle of a refused spawn (S4): `work` is dropped without being run; its span
    /// (O2) records `closed`.
    pub(super) fn refused<T, W>(&self, name: Option<Name>, work: W) -> LocalJoinHandle<'env, T, E> {
        drop(work);
        let st = &self.shared.state;
        ChildSpan::new(&st.span, name.as_ref(), st.rt.as_ref()).end(ChildState::Closed, || st.token.reason().cloned());
        let cell = ChildCell::new(name, None, None);
        cell.set_state(ChildState::Closed);
        LocalJoinHandle { cell: Node::new(cell, false, ()) }
    }

    pub(super) fn spawn_child<F, T>(&self, fut: F, how: How<'env, E>) -> LocalJoinHandle<'env, T, E>
    where
        F: Future<Output = Result<T, E>> + 'env,
        T: 'env,
    {
        let st = &self.shared.state;
        if st.refuses(how.shielded) {
            if let Some(hook) = &how.hook {
                // Never started: a report that comes later is ignored (L4).
                hook.end();
            }
            return self.refused(how.name, fut);
        }
        let slot = match (how.permit, &st.sem) {
            (Some(p), _) => Slot::Held(p),
            (None, Some(sem)) if !how.shielded => Slot::Waiting(sem.acquire()),
            (None, _) => Slot::Unlimited,
        };
        let shield = how.shielded.then(|| Around::new(&CancelToken::new(), st.rt.as_ref(), &st.holds));
        let sink = (st.policy == Policy::Supervise).then(|| Rc::downgrade(&st.sink));
        let span = ChildSpan::new(&st.span, how.name.as_ref(), st.rt.as_ref());
        let (index, wake) = self.shared.arena.borrow_mut().reserve();
        let cell = ChildCell::new(how.name, Some(wake), sink);
        let node = Node::new(cell, how.shielded, RefCell::new(ChildTask::new(fut, slot, shield, how.hook, span)));
        let task: BoxedChild<'env, E> = node.clone();
        self.shared.arena.borrow_mut().entries[index].task = Some(task);
        st.live.set(st.live.get() + 1);
        node.schedule(!st.polling.get());
        LocalJoinHandle { cell: node }
    }
}

impl<E> LocalSpawner<'_, E> {
    /// The scope's cancel token: children watch it to stop cooperatively.
    pub fn token(&self) -> &CancelToken {
        &self.shared.state.token
    }

    /// Cancels the scope ([`CancelReason::Explicit`]): the token fires, then every unshielded
    /// child is dropped (C1). The owner gets [`ScopeError::Cancelled`](crate::ScopeError)
    /// (C5). Idempotent (C4).
    pub fn cancel(&self) {
        self.cancel_with(CancelReason::Explicit(Name::Borrowed("LocalScope::cancel() called")));
    }

    /// Cancels the scope with the given reason (the first reason stands).
    pub fn cancel_with(&self, reason: CancelReason) {
        self.shared.state.cancel(reason);
    }

    /// The number of live children: spawned and not yet dropped. (Local children are not in
    /// the process-wide [`live_children`](crate::live_children) gauge: they are not tasks of
    /// any runtime, and cannot outlive their scope's future.)
    pub fn live_children(&self) -> usize {
        self.shared.state.live.get()
    }

    /// Whether spawns are refused: the scope is cancelling or finished.
    pub fn is_closed(&self) -> bool {
        self.shared.state.refuses(false)
    }

    /// The runtime the scope times its deadline and grace period with, if it has one.
    pub fn runtime(&self) -> Option<&Arc<dyn Runtime>> {
        self.shared.state.rt.as_ref()
    }
}

/// The scope handle given to a local scope's body. It cannot escape the body (S5): the body
/// receives a `&LocalScope`, which is neither `Clone` nor constructible by users. Use
/// [`spawner`](LocalScope::spawner) for a handle to give to children.
///
/// All spawning methods come from [`LocalSpawner`], through `Deref`.
///
/// ```compile_fail
/// # use taskscope_core::{BoxError, LocalScope, local_scope};
/// # async fn f() {
/// let mut escaped: Option<&LocalScope<'_, BoxError>> = None;
/// let _ = local_scope(async |s: &LocalScope<'_, BoxError>| {
///     escaped = Some(s); // error: borrowed data escapes the body
///     Ok(())
/// }).await;
/// # }
/// ```
pub struct LocalScope<'env, E> {
    pub(crate) spawner: LocalSpawner<'env, E>,
}

impl<E> fmt::Debug for LocalScope<'_, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("LocalScope").field(&self.spawner).finish()
    }
}

impl<'env, E> Deref for LocalScope<'env, E> {
    type Target = LocalSpawner<'env, E>;
    fn deref(&self) -> &LocalSpawner<'env, E> {
        &self.spawner
    }
}

impl<'env, E> LocalScope<'env, E> {
    /// A cloneable spawner for this scope, to move into children (S3).
    pub fn spawner(&self) -> LocalSpawner<'env, E> {
        self.spawner.clone()
    }
}

/// Takes every child out of the arena for which `pick` holds, then stops each (outside the
/// arena's borrow: a child's destructor may spawn).
///
/// Every victim is stopped even if stopping one panics (a user waker woken as it ends): the
/// victims are out of the arena, so one skipped here would outlive the scope (P3). The first
/// panic resumes once all are stopped.
pub(crate) fn stop_children<'env, E>(shared: &Shared<'env, E>, pick: impl FnMut(&BoxedChild<'env, E>) -> bool) {
    let victims = shared.arena.borrow_mut().take_where(pick);
    let mut first = None;
    for child in victims {
        if let Err(p) = catch_unwind(AssertUnwindSafe(|| child.as_ref().stop(&shared.state))) {
            match first {
                None => first = Some(p),
                Some(_) => drop_quietly(p),
            }
        }
    }
    if let Some(p) = first {
        resume_unwind(p);
    }
}

/// Stops every child if dropped armed: covers a panic in the body's synchronous part, before
/// the scope's driver exists (P3).
pub(crate) struct StopAll<'a, 'env, E>(pub(crate) Option<&'a Shared<'env, E>>);

impl<E> Drop for StopAll<'_, '_, E> {
    fn drop(&mut self) {
        if let Some(shared) = self.0.take() {
            shared.state.done.set(true);
            shared.state.close();
            shared.state.aborted.set(true);
            // Already unwinding: a second panic is dropped, not resumed.
            if let Err(p) = catch_unwind(AssertUnwindSafe(|| stop_children(shared, |_| true))) {
                drop_quietly(p);
            }
        }
    }
}
