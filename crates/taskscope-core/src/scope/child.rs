//! Per-child options (O1, C8, L1, L4, B1): [`ChildBuilder`], one way to give any child a name
//! and shielding and to spawn it in any mode. The short forms on [`Spawner`] (`spawn`,
//! `spawn_named`, `spawn_shielded`, `try_spawn`, `spawn_wait`, `start`, `start_named`,
//! `spawn_blocking`) are calls to it.

use std::fmt;
use std::future::Future;

use super::{JoinHandle, SpawnOpts, Spawner};
use crate::error::TrySpawnError;
use crate::spawn::{DynRuntime, Spawn};
use crate::start::{Ready, Start};
use crate::token::{CancelToken, Name};
use crate::util::lock;

/// The options of one child, then how to spawn it: made by [`Spawner::child`], like
/// `std::thread::Builder` or tokio's `JoinSet::build_task`. Every option combines with every
/// spawn mode: a named, shielded [`start`](ChildBuilder::start), a named
/// [`try_spawn`](ChildBuilder::try_spawn), a shielded
/// [`spawn_blocking`](ChildBuilder::spawn_blocking).
///
/// ```
/// # use taskscope::BlockOn;
/// # taskscope::smol::SmolBackend::single_thread().block_on(async {
/// use taskscope::BoxError;
///
/// taskscope::scope(async |s| {
///     let flush = s.child().name("flush").shielded().spawn(async { Ok::<_, BoxError>(()) });
///     assert_eq!(flush.name(), Some("flush"));
///     Ok(())
/// })
/// .await?;
/// # Ok::<_, taskscope::ScopeError<BoxError>>(()) }).unwrap();
/// ```
#[must_use = "a ChildBuilder spawns nothing until one of its spawn methods is called"]
pub struct ChildBuilder<'a, E, R = DynRuntime> {
    spawner: &'a Spawner<E, R>,
    name: Option<Name>,
    shielded: bool,
}

impl<E, R> fmt::Debug for ChildBuilder<'_, E, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChildBuilder").field("name", &self.name).field("shielded", &self.shielded).finish()
    }
}

impl<E, R> Spawner<E, R> {
    /// Options for the next child: a name, shielding, then the spawn mode (see
    /// [`ChildBuilder`]). With no option it spawns exactly as the short forms do.
    ///
    /// ```
    /// # use taskscope::BlockOn;
    /// # taskscope::smol::SmolBackend::single_thread().block_on(async {
    /// use taskscope::BoxError;
    ///
    /// let n = taskscope::scope(async |s| {
    ///     let h = s.child().name("count").spawn(async { Ok::<_, BoxError>(3) });
    ///     Ok(h.await?)
    /// })
    /// .await?;
    /// assert_eq!(n, 3);
    /// # Ok::<_, taskscope::ScopeError<BoxError>>(()) }).unwrap();
    /// ```
    pub fn child(&self) -> ChildBuilder<'_, E, R> {
        ChildBuilder { spawner: self, name: None, shielded: false }
    }
}

impl<'a, E: Send + 'static, R: Spawn> ChildBuilder<'a, E, R> {
    /// Names the child (O1): the name appears in its handle, in the scope's
    /// [`ErrorGroup`](crate::ErrorGroup) and in the cancel reason its failure gives its
    /// siblings.
    ///
    /// ```
    /// # use taskscope::BlockOn;
    /// # taskscope::smol::SmolBackend::single_thread().block_on(async {
    /// use taskscope::{BoxError, ScopeError};
    ///
    /// let err = taskscope::scope(async |s| {
    ///     s.child().name("db").spawn(async { Err::<(), _>(BoxError::msg("refused")) });
    ///     Ok(())
    /// })
    /// .await
    /// .unwrap_err();
    /// let ScopeError::Failed(group) = err else { panic!("not a failure: {err}") };
    /// assert_eq!(group.members()[0].name(), Some("db"));
    /// # });
    /// ```
    pub fn name(mut self, name: impl Into<Name>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Shields the child (C8): the scope's cancellation — its own `cancel`, a failure, an
    /// outer scope or token, a deadline — does not reach it, it does not count against a
    /// concurrency limit (so [`try_spawn`](ChildBuilder::try_spawn) never finds the scope
    /// full and [`spawn_wait`](ChildBuilder::spawn_wait) never waits), and it is accepted
    /// while the scope is cancelling. It is still bounded by S1 (the scope waits for it), its
    /// own cancellation applies ([`JoinHandle::cancel`]), and the owner dropping the scope
    /// future cancels it (C3). A shielded blocking child's token fires only for those two.
    /// See [`Spawner::spawn_shielded`].
    ///
    /// ```
    /// # use taskscope::BlockOn;
    /// # taskscope::smol::SmolBackend::single_thread().block_on(async {
    /// use std::sync::{Arc, atomic::{AtomicBool, Ordering}};
    /// use taskscope::BoxError;
    ///
    /// let flushed = Arc::new(AtomicBool::new(false));
    /// let f = flushed.clone();
    /// let r = taskscope::scope(async |s| {
    ///     s.child().name("flush").shielded().spawn(async move {
    ///         taskscope::yield_now().await; // survives the cancel below
    ///         f.store(true, Ordering::SeqCst);
    ///         Ok::<_, BoxError>(())
    ///     });
    ///     s.cancel();
    ///     Ok(())
    /// })
    /// .await;
    /// assert!(r.unwrap_err().is_cancelled());
    /// assert!(flushed.load(Ordering::SeqCst)); // the scope waited for it
    /// # });
    /// ```
    pub fn shielded(mut self) -> Self {
        self.shielded = true;
        self
    }

    fn how(self) -> (&'a Spawner<E, R>, SpawnOpts<E>) {
        (self.spawner, SpawnOpts { name: self.name, shielded: self.shielded, permit: None, hook: None })
    }

    /// Spawns the child: see [`Spawner::spawn`]. In a scope with a concurrency limit an
    /// unshielded child waits for a running slot, in spawn order, before its first poll.
    ///
    /// ```
    /// # use taskscope::BlockOn;
    /// # taskscope::smol::SmolBackend::single_thread().block_on(async {
    /// use taskscope::BoxError;
    ///
    /// let page = taskscope::scope(async |s| {
    ///     let h = s.child().name("index").spawn(async { Ok::<_, BoxError>("<html>") });
    ///     Ok(h.await?)
    /// })
    /// .await?;
    /// assert_eq!(page, "<html>");
    /// # Ok::<_, taskscope::ScopeError<BoxError>>(()) }).unwrap();
    /// ```
    pub fn spawn<F, T>(self, fut: F) -> JoinHandle<T, E>
    where
        F: Future<Output = Result<T, E>> + Send + 'static,
        T: Send + 'static,
    {
        let (spawner, how) = self.how();
        spawner.spawn_child(fut, how)
    }

    /// Spawns the child if the scope has a free running slot (L1), without waiting: see
    /// [`Spawner::try_spawn`]. Gives `fut` back with [`TrySpawnError::Full`] when every slot
    /// is taken, or [`TrySpawnError::Closed`] when the scope refuses spawns (S4). A shielded
    /// child takes no slot: it is refused only once the scope has finished.
    ///
    /// ```
    /// # use taskscope::BlockOn;
    /// # taskscope::smol::SmolBackend::single_thread().block_on(async {
    /// use taskscope::{BoxError, TrySpawnError};
    ///
    /// taskscope::builder().limit(1)?.run(async |s| {
    ///     let gate = s.token().child();
    ///     let g = gate.clone();
    ///     s.child().name("first").try_spawn(async move { g.cancelled().await; Ok(()) }).unwrap();
    ///     let refused = s.child().name("second").try_spawn(async { Ok(()) });
    ///     let Err(TrySpawnError::Full(fut)) = refused else { panic!("the scope is full") };
    ///     gate.cancel();
    ///     s.spawn(fut); // the future came back: spawn it once there is room
    ///     Ok::<_, BoxError>(())
    /// })
    /// .await?;
    /// # Ok::<_, BoxError>(()) }).unwrap();
    /// ```
    pub fn try_spawn<F, T>(self, fut: F) -> Result<JoinHandle<T, E>, TrySpawnError<F>>
    where
        F: Future<Output = Result<T, E>> + Send + 'static,
        T: Send + 'static,
    {
        let (spawner, mut how) = self.how();
        let inner = &spawner.inner;
        match &inner.sem {
            // A shielded child takes no slot, and is refused only once the scope has finished.
            _ if how.shielded && lock(&inner.state).done => return Err(TrySpawnError::Closed(fut)),
            _ if how.shielded => {}
            None if spawner.is_closed() => return Err(TrySpawnError::Closed(fut)),
            None => {}
            Some(sem) => match sem.try_acquire() {
                Ok(p) => how.permit = Some(p),
                Err(true) => return Err(TrySpawnError::Closed(fut)),
                Err(false) => return Err(TrySpawnError::Full(fut)),
            },
        }
        Ok(spawner.spawn_child(fut, how))
    }

    /// Spawns the child once the scope has a free running slot (L1), waiting first come first
    /// served while it is full: see [`Spawner::spawn_wait`] (also for cancel safety). A
    /// shielded child takes no slot and spawns at once.
    ///
    /// ```
    /// # use taskscope::BlockOn;
    /// # taskscope::smol::SmolBackend::single_thread().block_on(async {
    /// use taskscope::BoxError;
    ///
    /// let total = taskscope::builder().limit(2)?.run(async |s| {
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
    /// })
    /// .await?;
    /// assert_eq!(total, 30);
    /// # Ok::<_, BoxError>(()) }).unwrap();
    /// ```
    pub async fn spawn_wait<F, T>(self, fut: F) -> JoinHandle<T, E>
    where
        F: Future<Output = Result<T, E>> + Send + 'static,
        T: Send + 'static,
    {
        let (spawner, mut how) = self.how();
        let sem = match &spawner.inner.sem {
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

    /// Starts the child and waits until it reports ready (L4): see [`Spawner::start`]. A
    /// shielded start survives the scope's cancellation while it waits, and after.
    ///
    /// ```
    /// # use taskscope::BlockOn;
    /// # taskscope::smol::SmolBackend::single_thread().block_on(async {
    /// use taskscope::BoxError;
    ///
    /// taskscope::scope(async |s| {
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
    /// })
    /// .await?;
    /// # Ok::<_, taskscope::ScopeError<BoxError>>(()) }).unwrap();
    /// ```
    pub fn start<V, T, F, Fut>(self, f: F) -> Start<V, T, E>
    where
        F: FnOnce(Ready<V>) -> Fut,
        Fut: Future<Output = Result<T, E>> + Send + 'static,
        V: Send + 'static,
        T: Send + 'static,
    {
        let (spawner, how) = self.how();
        spawner.start_child(how, f)
    }

    /// Runs blocking work as the child (B1), on the runtime's blocking pool: see
    /// [`Spawner::spawn_blocking`]. The closure's token fires when the scope is cancelled
    /// (unless the child is shielded) and when its handle is cancelled.
    ///
    /// ```
    /// # use taskscope::BlockOn;
    /// # taskscope::smol::SmolBackend::single_thread().block_on(async {
    /// use taskscope::BoxError;
    ///
    /// let sum = taskscope::scope(async |s| {
    ///     let h = s.child().name("checksum").spawn_blocking(|token| {
    ///         let mut sum = 0u64;
    ///         for i in 0..1_000u64 {
    ///             if token.is_cancelled() {
    ///                 break;
    ///             }
    ///             sum += i;
    ///         }
    ///         Ok::<_, BoxError>(sum)
    ///     });
    ///     assert_eq!(h.name(), Some("checksum"));
    ///     Ok(h.await?)
    /// })
    /// .await?;
    /// assert_eq!(sum, 499_500);
    /// # Ok::<_, taskscope::ScopeError<BoxError>>(()) }).unwrap();
    /// ```
    pub fn spawn_blocking<F, T>(self, f: F) -> JoinHandle<T, E>
    where
        F: FnOnce(&CancelToken) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
    {
        let (spawner, how) = self.how();
        spawner.spawn_blocking_child(how, f)
    }
}
