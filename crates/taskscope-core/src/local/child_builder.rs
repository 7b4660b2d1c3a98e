//! Per-child options for a local scope (O1, C8, L1, L4): [`LocalChildBuilder`], one way to give
//! any local child a name and shielding and to spawn it in any mode, with the spawned scope's
//! vocabulary ([`ChildBuilder`](crate::ChildBuilder)). The short forms on [`LocalSpawner`]
//! (`spawn`, `spawn_named`, `spawn_shielded`, `try_spawn`, `spawn_wait`, `start`,
//! `start_named`) are calls to it. There is no `spawn_blocking`: the local scope has no
//! blocking pool, so B1 does not apply (P3).

use std::fmt;
use std::future::Future;

use crate::error::TrySpawnError;
use crate::token::Name;

use super::child::LocalJoinHandle;
use super::spawner::{How, LocalSpawner};
use super::start::{LocalReady, LocalStart};

/// The options of one child of a local scope, then how to spawn it: made by
/// [`LocalSpawner::child`], like the spawned scope's [`ChildBuilder`](crate::ChildBuilder).
/// Every option combines with every spawn mode: a named, shielded
/// [`start`](LocalChildBuilder::start), a named [`try_spawn`](LocalChildBuilder::try_spawn).
///
/// There is no `spawn_blocking`: a local scope spawns nothing and has no blocking pool, so
/// B1 does not apply to it. Blocking work belongs in a spawned scope (`taskscope::scope`),
/// which a local child may open.
///
/// ```
/// use taskscope::{BoxError, local_scope};
///
/// let log = std::cell::RefCell::new(Vec::new()); // borrowed by the child
/// futures_lite::future::block_on(local_scope(async |s| {
///     let flush = s.child().name("flush").shielded().spawn(async {
///         log.borrow_mut().push("flushed");
///         Ok::<_, BoxError>(())
///     });
///     assert_eq!(flush.name(), Some("flush"));
///     Ok(())
/// }))
/// .unwrap();
/// assert_eq!(log.into_inner(), ["flushed"]);
/// ```
#[must_use = "a LocalChildBuilder spawns nothing until one of its spawn methods is called"]
pub struct LocalChildBuilder<'a, 'env, E> {
    spawner: &'a LocalSpawner<'env, E>,
    name: Option<Name>,
    shielded: bool,
}

impl<E> fmt::Debug for LocalChildBuilder<'_, '_, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalChildBuilder").field("name", &self.name).field("shielded", &self.shielded).finish()
    }
}

impl<'env, E: 'env> LocalSpawner<'env, E> {
    /// Options for the next child: a name, shielding, then the spawn mode (see
    /// [`LocalChildBuilder`]). With no option it spawns exactly as the short forms do.
    ///
    /// ```
    /// use taskscope::{BoxError, local_scope};
    ///
    /// let words = ["a", "bb", "ccc"];
    /// let n = futures_lite::future::block_on(local_scope(async |s| {
    ///     let h = s.child().name("count").spawn(async { Ok::<_, BoxError>(words.len()) });
    ///     Ok(h.await?)
    /// }))
    /// .unwrap();
    /// assert_eq!(n, 3);
    /// ```
    pub fn child(&self) -> LocalChildBuilder<'_, 'env, E> {
        LocalChildBuilder { spawner: self, name: None, shielded: false }
    }
}

impl<'a, 'env, E: 'env> LocalChildBuilder<'a, 'env, E> {
    /// Names the child (O1): the name appears in its handle, in the scope's
    /// [`ErrorGroup`](crate::ErrorGroup) and in the cancel reason its failure gives its
    /// siblings.
    ///
    /// ```
    /// use taskscope::{BoxError, ScopeError, local_scope};
    ///
    /// let err = futures_lite::future::block_on(local_scope(async |s| {
    ///     s.child().name("db").spawn(async { Err::<(), _>(BoxError::msg("refused")) });
    ///     Ok(())
    /// }))
    /// .unwrap_err();
    /// let ScopeError::Failed(group) = err else { panic!("not a failure: {err}") };
    /// assert_eq!(group.members()[0].name(), Some("db"));
    /// ```
    pub fn name(mut self, name: impl Into<Name>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Shields the child (C8): the scope's cancellation — its own `cancel`, a failure, an
    /// outer scope or token, a deadline — does not reach it (scopes opened inside it see a
    /// token of their own), it does not count against a concurrency limit (so
    /// [`try_spawn`](LocalChildBuilder::try_spawn) never finds the scope full and
    /// [`spawn_wait`](LocalChildBuilder::spawn_wait) never waits), and it is accepted while the
    /// scope is cancelling. It is still bounded by S1 (the scope waits for it), its own
    /// cancellation applies ([`LocalJoinHandle::cancel`]), and the owner dropping the scope
    /// future drops it (C3, P3). See [`LocalSpawner::spawn_shielded`].
    ///
    /// ```
    /// use std::cell::Cell;
    /// use taskscope::{BoxError, local_scope};
    ///
    /// let flushed = Cell::new(false);
    /// let r = futures_lite::future::block_on(local_scope(async |s| {
    ///     s.child().name("flush").shielded().spawn(async {
    ///         futures_lite::future::yield_now().await; // survives the cancel below
    ///         flushed.set(true);
    ///         Ok::<_, BoxError>(())
    ///     });
    ///     s.cancel();
    ///     Ok(())
    /// }));
    /// assert!(r.unwrap_err().is_cancelled());
    /// assert!(flushed.get()); // the scope waited for it
    /// ```
    pub fn shielded(mut self) -> Self {
        self.shielded = true;
        self
    }

    fn how(self) -> (&'a LocalSpawner<'env, E>, How<'env, E>) {
        (self.spawner, How { name: self.name, shielded: self.shielded, permit: None, hook: None })
    }

    /// Spawns the child: see [`LocalSpawner::spawn`]. It may borrow anything that outlives the
    /// scope and need not be `Send`. In a scope with a concurrency limit an unshielded child
    /// waits for a running slot, in spawn order, before its first poll.
    ///
    /// ```
    /// use taskscope::{BoxError, local_scope};
    ///
    /// let html = String::from("<html>");
    /// let page = futures_lite::future::block_on(local_scope(async |s| {
    ///     let h = s.child().name("index").spawn(async { Ok::<_, BoxError>(html.as_str()) });
    ///     Ok(h.await?)
    /// }))
    /// .unwrap();
    /// assert_eq!(page, "<html>");
    /// ```
    pub fn spawn<F, T>(self, fut: F) -> LocalJoinHandle<'env, T, E>
    where
        F: Future<Output = Result<T, E>> + 'env,
        T: 'env,
    {
        let (spawner, how) = self.how();
        spawner.spawn_child(fut, how)
    }

    /// Spawns the child if the scope has a free running slot (L1), without waiting: see
    /// [`LocalSpawner::try_spawn`]. Gives `fut` back with [`TrySpawnError::Full`] when every
    /// slot is taken, or [`TrySpawnError::Closed`] when the scope refuses spawns (S4). A
    /// shielded child takes no slot: it is refused only once the scope has finished.
    ///
    /// ```
    /// use taskscope::{BoxError, LocalBuilder, TrySpawnError};
    ///
    /// futures_lite::future::block_on(LocalBuilder::new().limit(1)?.run(async |s| {
    ///     let gate = s.token().child();
    ///     let g = gate.clone();
    ///     s.child().name("first").try_spawn(async move { g.cancelled().await; Ok(()) }).unwrap();
    ///     let refused = s.child().name("second").try_spawn(async { Ok(()) });
    ///     let Err(TrySpawnError::Full(fut)) = refused else { panic!("the scope is full") };
    ///     gate.cancel();
    ///     s.spawn(fut); // the future came back: spawn it once there is room
    ///     Ok::<_, BoxError>(())
    /// }))?;
    /// # Ok::<_, BoxError>(())
    /// ```
    pub fn try_spawn<F, T>(self, fut: F) -> Result<LocalJoinHandle<'env, T, E>, TrySpawnError<F>>
    where
        F: Future<Output = Result<T, E>> + 'env,
        T: 'env,
    {
        let (spawner, mut how) = self.how();
        let st = &spawner.shared.state;
        if st.refuses(how.shielded) {
            return Err(TrySpawnError::Closed(fut));
        }
        // A shielded child takes no slot.
        if let Some(sem) = st.sem.as_ref().filter(|_| !how.shielded) {
            match sem.try_acquire() {
                Ok(p) => how.permit = Some(p),
                Err(true) => return Err(TrySpawnError::Closed(fut)),
                Err(false) => return Err(TrySpawnError::Full(fut)),
            }
        }
        Ok(spawner.spawn_child(fut, how))
    }

    /// Spawns the child once the scope has a free running slot (L1), waiting first come first
    /// served while it is full: see [`LocalSpawner::spawn_wait`] (also for cancel safety). A
    /// shielded child takes no slot and spawns at once.
    ///
    /// ```
    /// use taskscope::{BoxError, LocalBuilder};
    ///
    /// let total = futures_lite::future::block_on(LocalBuilder::new().limit(2)?.run(async |s| {
    ///     let mut handles = Vec::new();
    ///     for i in 0..5u64 {
    ///         // The body waits here while both slots are taken.
    ///         handles.push(s.child().name(format!("square {i}")).spawn_wait(async move { Ok(i * i) }).await);
    ///     }
    ///     let mut total = 0;
    ///     for h in handles {
    ///         total += h.await?;
    ///     }
    ///     Ok::<_, BoxError>(total)
    /// }))?;
    /// assert_eq!(total, 30);
    /// # Ok::<_, BoxError>(())
    /// ```
    pub async fn spawn_wait<F, T>(self, fut: F) -> LocalJoinHandle<'env, T, E>
    where
        F: Future<Output = Result<T, E>> + 'env,
        T: 'env,
    {
        let (spawner, mut how) = self.how();
        let sem = match &spawner.shared.state.sem {
            Some(sem) if !how.shielded => sem,
            _ => return spawner.spawn_child(fut, how),
        };
        match sem.acquire().await {
            Some(permit) => {
                how.permit = Some(permit);
                spawner.spawn_child(fut, how)
            }
            None => spawner.refused(how.name, fut),
        }
    }

    /// Starts the child and waits until it reports ready (L4): see [`LocalSpawner::start`]. A
    /// shielded start survives the scope's cancellation while it waits, and after.
    ///
    /// ```
    /// use taskscope::{BoxError, local_scope};
    ///
    /// futures_lite::future::block_on(local_scope(async |s| {
    ///     let (port, server) = s
    ///         .child()
    ///         .name("server")
    ///         .start(|ready| async move {
    ///             ready.send(8080u16); // bound and listening
    ///             Ok::<_, BoxError>(())
    ///         })
    ///         .await?;
    ///     assert_eq!((port, server.name()), (8080, Some("server")));
    ///     Ok(())
    /// }))
    /// .unwrap();
    /// ```
    pub fn start<V, T, F, Fut>(self, f: F) -> LocalStart<'env, V, T, E>
    where
        F: FnOnce(LocalReady<V>) -> Fut,
        Fut: Future<Output = Result<T, E>> + 'env,
        V: 'env,
        T: 'env,
    {
        let (spawner, how) = self.how();
        spawner.start_child(how, f)
    }
}
