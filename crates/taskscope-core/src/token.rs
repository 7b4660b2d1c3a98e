//! [`CancelToken`]: the cooperative cancellation signal, with reasons and child tokens.

use std::borrow::{Borrow, Cow};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, Waker};

use pin_project_lite::pin_project;

use crate::sync::Mutex;
use crate::util::lock;
use slab::Slab;

/// A child's name, as given to [`Spawner::spawn_named`](crate::Spawner::spawn_named).
pub type Name = Cow<'static, str>;

/// Why a token (and the scope it belongs to) was cancelled. The first cause wins (T3).
///
/// A reason can be a long chain of [`Parent`](CancelReason::Parent)s (one per level of nested
/// tokens): formatting and comparing one walk the chain in a loop, never recursing, and a
/// token drops its reason in a loop too (T2). `Display` spells out up to
/// four levels (`parent cancelled (parent cancelled (deadline elapsed))`) and shortens deeper
/// chains to `parent cancelled (N levels up: deadline elapsed)`.
#[derive(Clone)]
#[non_exhaustive]
pub enum CancelReason {
    /// [`CancelToken::cancel`] or [`Scope::cancel`](crate::Spawner::cancel) was called; carries
    /// the caller's message.
    Explicit(Name),
    /// A deadline or timeout expired.
    Deadline,
    /// A child (or the scope's body, named `None`) returned an error.
    SiblingFailed {
        /// The failing child's name, if it had one.
        name: Option<Name>,
    },
    /// A child (or the scope's body, named `None`) panicked.
    SiblingPanicked {
        /// The panicking child's name, if it had one.
        name: Option<Name>,
    },
    /// The parent token was cancelled, for the given reason.
    Parent(Arc<CancelReason>),
    /// The owner dropped the scope future before it completed.
    Dropped,
    /// A child of a [`Policy::Race`](crate::Policy::Race) scope succeeded first: the rest are
    /// cancelled.
    RaceWon {
        /// The winner's name, if it had one.
        name: Option<Name>,
    },
}

impl CancelReason {
    /// The reason at the root of a chain of [`CancelReason::Parent`]s.
    ///
    /// ```
    /// use taskscope_core::{CancelReason, CancelToken};
    /// let parent = CancelToken::new();
    /// let child = parent.child();
    /// parent.cancel_with(CancelReason::Deadline);
    /// assert_eq!(child.reason().unwrap().root(), &CancelReason::Deadline);
    /// ```
    pub fn root(&self) -> &CancelReason {
        let mut r = self;
        while let CancelReason::Parent(p) = r {
            r = p;
        }
        r
    }
}

/// How many levels of [`CancelReason::Parent`] `Display` spells out before shortening.
const SPELLED_OUT_LEVELS: usize = 4;

impl CancelReason {
    /// The number of [`CancelReason::Parent`] levels above the root, and the root.
    fn depth_and_root(&self) -> (usize, &CancelReason) {
        let (mut depth, mut r) = (0, self);
        while let CancelReason::Parent(p) = r {
            depth += 1;
            r = p;
        }
        (depth, r)
    }

    /// `Display` of a reason that is not a [`CancelReason::Parent`].
    fn fmt_root(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CancelReason::Explicit(msg) => write!(f, "cancelled: {msg}"),
            CancelReason::Deadline => f.write_str("deadline elapsed"),
            CancelReason::SiblingFailed { name: Some(n) } => write!(f, "sibling '{n}' failed"),
            CancelReason::SiblingFailed { name: None } => f.write_str("a sibling failed"),
            CancelReason::SiblingPanicked { name: Some(n) } => write!(f, "sibling '{n}' panicked"),
            CancelReason::SiblingPanicked { name: None } => f.write_str("a sibling panicked"),
            CancelReason::Parent(_) => unreachable!("a root is never a Parent"),
            CancelReason::Dropped => f.write_str("scope dropped by its owner"),
            CancelReason::RaceWon { name: Some(n) } => write!(f, "sibling '{n}' won the race"),
            CancelReason::RaceWon { name: None } => f.write_str("a sibling won the race"),
        }
    }

    /// `Debug` of a reason that is not a [`CancelReason::Parent`].
    fn debug_root(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CancelReason::Explicit(msg) => f.debug_tuple("Explicit").field(msg).finish(),
            CancelReason::Deadline => f.write_str("Deadline"),
            CancelReason::SiblingFailed { name } => f.debug_struct("SiblingFailed").field("name", name).finish(),
            CancelReason::SiblingPanicked { name } => f.debug_struct("SiblingPanicked").field("name", name).finish(),
            CancelReason::Parent(_) => unreachable!("a root is never a Parent"),
            CancelReason::Dropped => f.write_str("Dropped"),
            CancelReason::RaceWon { name } => f.debug_struct("RaceWon").field("name", name).finish(),
        }
    }
}

impl fmt::Display for CancelReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (depth, root) = self.depth_and_root();
        if depth > SPELLED_OUT_LEVELS {
            f.write_str("parent cancelled (")?;
            write!(f, "{depth} levels up: ")?;
            root.fmt_root(f)?;
            return f.write_str(")");
        }
        for _ in 0..depth {
            f.write_str("parent cancelled (")?;
        }
        root.fmt_root(f)?;
        for _ in 0..depth {
            f.write_str(")")?;
        }
        Ok(())
    }
}

impl fmt::Debug for CancelReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (depth, root) = self.depth_and_root();
        for _ in 0..depth {
            f.write_str("Parent(")?;
        }
        root.debug_root(f)?;
        for _ in 0..depth {
            f.write_str(")")?;
        }
        Ok(())
    }
}

impl PartialEq for CancelReason {
    fn eq(&self, other: &Self) -> bool {
        let (mut a, mut b) = (self, other);
        loop {
            match (a, b) {
                (CancelReason::Parent(x), CancelReason::Parent(y)) => {
                    if Arc::ptr_eq(x, y) {
                        return true;
                    }
                    (a, b) = (x, y);
                }
                (CancelReason::Explicit(x), CancelReason::Explicit(y)) => return x == y,
                (CancelReason::Deadline, CancelReason::Deadline) | (CancelReason::Dropped, CancelReason::Dropped) => {
                    return true;
                }
                (CancelReason::SiblingFailed { name: x }, CancelReason::SiblingFailed { name: y })
                | (CancelReason::SiblingPanicked { name: x }, CancelReason::SiblingPanicked { name: y })
                | (CancelReason::RaceWon { name: x }, CancelReason::RaceWon { name: y }) => return x == y,
                _ => return false,
            }
        }
    }
}

impl Eq for CancelReason {}

struct Node {
    reason: OnceLock<CancelReason>,
    links: Mutex<Links>,
    parent: Option<(Arc<Node>, usize)>,
}

/// What a token's cancellation reaches: its children and its waiters, under one lock.
struct Links {
    /// Set (under the lock) once the token is cancelled: no waiter or child registers after.
    fired: bool,
    children: Slab<std::sync::Weak<Node>>,
    /// The wakers of pending `cancelled()` futures, by the key each future keeps.
    waiters: Slab<Waker>,
}

impl Drop for Node {
    /// Unlinks the node from its parent, and walks up the chain of parents this node held the
    /// last reference to, one at a time: a chain of any length is freed in constant stack
    /// (T2; a recursive drop overflows a 2 MiB stack at about 10^5 levels).
    fn drop(&mut self) {
        let mut next = self.parent.take();
        while let Some((parent, key)) = next {
            remove_freeing(&mut lock(&parent.links).children, key);
            next = match Arc::into_inner(parent) {
                // The last reference: free it here, without letting its own drop recurse.
                Some(mut node) => {
                    drop_reason(node.reason.take());
                    node.parent.take()
                }
                None => None,
            };
        }
        drop_reason(self.reason.take());
    }
}

/// Removes `key` (if present), and frees the slab's memory once it is empty: a long-lived
/// token with bursts of short-lived children or waiters does not keep its peak (T2).
fn remove_freeing<T>(slab: &mut Slab<T>, key: usize) {
    if slab.try_remove(key).is_some() && slab.is_empty() {
        *slab = Slab::new();
    }
}

/// Drops a reason in constant stack: a token `n` levels down a chain carries
/// `Parent(Parent(...))` `n` deep, each level an `Arc` that the level above may share.
fn drop_reason(mut reason: Option<CancelReason>) {
    while let Some(CancelReason::Parent(parent)) = reason {
        reason = Arc::into_inner(parent);
    }
}

/// A `cancelled()` future's registration with its token: the key of its waker.
#[derive(Debug, Default)]
pub(crate) struct Wait(Option<usize>);

/// A cooperative cancellation signal: cheap to clone, `Send + Sync`, needs no runtime.
///
/// Cancelling is level-triggered and idempotent: once cancelled, always cancelled, and the
/// first [`CancelReason`] stands. A [`child`](CancelToken::child) is cancelled with its parent,
/// never the other way round; a dropped child frees its memory at once (T2).
///
/// Every [`Scope`](crate::Scope) owns one; children read it with
/// [`Scope::token`](crate::Spawner::token) to stop cooperatively before being dropped.
///
/// ```
/// use taskscope_core::{CancelReason, CancelToken};
///
/// let token = CancelToken::new();
/// let child = token.child();
/// assert!(!child.is_cancelled());
/// token.cancel();
/// assert!(child.is_cancelled());
/// assert!(matches!(child.reason(), Some(CancelReason::Parent(_))));
/// futures_lite::future::block_on(child.cancelled()); // resolves at once
/// ```
#[derive(Clone)]
pub struct CancelToken {
    node: Arc<Node>,
}

impl Default for CancelToken {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for CancelToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CancelToken").field("reason", &self.reason()).finish()
    }
}

impl CancelToken {
    /// A new, uncancelled root token.
    pub fn new() -> Self {
        Self::from_node(None)
    }

    fn from_node(parent: Option<(Arc<Node>, usize)>) -> Self {
        Self {
            node: Arc::new(Node {
                reason: OnceLock::new(),
                links: Mutex::new(Links { fired: false, children: Slab::new(), waiters: Slab::new() }),
                parent,
            }),
        }
    }

    /// A child token: cancelled when `self` is (with [`CancelReason::Parent`]), but cancelling
    /// the child leaves `self` alone. A child of an already-cancelled token starts cancelled.
    ///
    /// ```
    /// use taskscope_core::CancelToken;
    /// let parent = CancelToken::new();
    /// let child = parent.child();
    /// child.cancel();
    /// assert!(!parent.is_cancelled());
    /// ```
    pub fn child(&self) -> CancelToken {
        let mut links = lock(&self.node.links);
        if let Some(reason) = self.node.reason.get() {
            drop(links);
            let child = Self::new();
            child.cancel_with(CancelReason::Parent(Arc::new(reason.clone())));
            return child;
        }
        let slot = links.children.vacant_entry();
        let child = Self::from_node(Some((self.node.clone(), slot.key())));
        slot.insert(Arc::downgrade(&child.node));
        child
    }

    /// Cancels with [`CancelReason::Explicit`] (message `"cancel() called"`). Returns `true`
    /// if this call cancelled the token, `false` if it was already cancelled.
    pub fn cancel(&self) -> bool {
        self.cancel_with(CancelReason::Explicit(Cow::Borrowed("cancel() called")))
    }

    /// Cancels with the given reason, then every descendant with [`CancelReason::Parent`].
    /// The first reason stands: returns `false`, changing nothing, if already cancelled.
    ///
    /// ```
    /// use taskscope_core::{CancelReason, CancelToken};
    /// let t = CancelToken::new();
    /// assert!(t.cancel_with(CancelReason::Deadline));
    /// assert!(!t.cancel_with(CancelReason::Explicit("later".into())));
    /// assert_eq!(t.reason(), Some(&CancelReason::Deadline));
    /// ```
    pub fn cancel_with(&self, reason: CancelReason) -> bool {
        if self.node.reason.set(reason).is_err() {
            return false;
        }
        // Iterative, so that a deep chain of tokens cannot overflow the stack.
        let mut work = vec![self.node.clone()];
        while let Some(node) = work.pop() {
            let (waiters, children) = {
                let mut links = lock(&node.links);
                links.fired = true;
                (std::mem::take(&mut links.waiters), std::mem::take(&mut links.children))
            };
            for (_, w) in waiters {
                w.wake();
            }
            if children.is_empty() {
                continue;
            }
            let parent_reason = Arc::new(node.reason.get().cloned().expect("reason set before propagation"));
            for child in children.into_iter().filter_map(|(_, w)| w.upgrade()) {
                if child.reason.set(CancelReason::Parent(parent_reason.clone())).is_ok() {
                    work.push(child);
                }
            }
        }
        true
    }

    /// Whether the token has been cancelled.
    pub fn is_cancelled(&self) -> bool {
        self.node.reason.get().is_some()
    }

    /// Why the token was cancelled, or `None` if it has not been.
    pub fn reason(&self) -> Option<&CancelReason> {
        self.node.reason.get()
    }

    /// The number of live child tokens registered with this one (diagnostics; see T2).
    ///
    /// ```
    /// use taskscope_core::CancelToken;
    /// let t = CancelToken::new();
    /// let c = t.child();
    /// assert_eq!(t.child_count(), 1);
    /// drop(c);
    /// assert_eq!(t.child_count(), 0);
    /// ```
    pub fn child_count(&self) -> usize {
        lock(&self.node.links).children.len()
    }

    /// A future that resolves once the token is cancelled (at once if it already is).
    ///
    /// # Cancel safety
    /// Cancel-safe: dropping it loses nothing; any number may wait at once, on any thread.
    ///
    /// ```
    /// # use taskscope::BlockOn;
    /// # taskscope::smol::SmolBackend::single_thread().block_on(async {
    /// use taskscope::BoxError;
    ///
    /// taskscope::scope(async |s| {
    ///     let token = s.token().clone();
    ///     s.spawn(async move {
    ///         token.cancelled().await; // wait until the scope is cancelled
    ///         println!("stopping: {}", token.reason().expect("cancelled"));
    ///         Ok::<_, BoxError>(())
    ///     });
    ///     s.cancel(); // the child sees its token fire
    ///     Ok(())
    /// })
    /// .await
    /// .unwrap_err();
    /// # });
    /// ```
    pub fn cancelled(&self) -> Cancelled<'_> {
        Cancelled(Waiter::new(self))
    }

    /// Like [`cancelled`](CancelToken::cancelled), but owns a clone of the token, so the future
    /// is `'static` and can be moved into a spawned child.
    ///
    /// # Cancel safety
    /// Cancel-safe, as [`cancelled`](CancelToken::cancelled).
    pub fn cancelled_owned(self) -> CancelledOwned {
        CancelledOwned(Waiter::new(self))
    }

    /// Runs `fut` until it completes (`Some(output)`) or the token is cancelled (`None`,
    /// and `fut` is dropped). If the token is already cancelled, `fut` is never polled.
    ///
    /// ```
    /// use taskscope_core::CancelToken;
    /// let t = CancelToken::new();
    /// t.cancel();
    /// let out = futures_lite::future::block_on(t.run_until_cancelled(async { 1 }));
    /// assert_eq!(out, None);
    /// ```
    ///
    /// # Cancel safety
    /// As cancel-safe as `fut` itself.
    pub fn run_until_cancelled<F: Future>(&self, fut: F) -> RunUntilCancelled<'_, F> {
        RunUntilCancelled { cancelled: self.cancelled(), fut }
    }

    /// A guard that cancels the token when dropped, unless [`disarm`](DropGuard::disarm)ed.
    ///
    /// ```
    /// use taskscope_core::CancelToken;
    /// let t = CancelToken::new();
    /// drop(t.clone().drop_guard());
    /// assert!(t.is_cancelled());
    /// ```
    pub fn drop_guard(self) -> DropGuard {
        DropGuard { token: Some(self) }
    }

    /// Polls for cancellation, keeping an event listener between calls.
    pub(crate) fn poll_cancelled(&self, wait: &mut Wait, cx: &mut Context<'_>) -> Poll<()> {
        if self.is_cancelled() {
            // Our waker, if registered, is (or is about to be) drained by the canceller.
            wait.0 = None;
            return Poll::Ready(());
        }
        let mut links = lock(&self.node.links);
        if links.fired {
            wait.0 = None;
            return Poll::Ready(());
        }
        match wait.0.and_then(|k| links.waiters.get_mut(k)) {
            Some(w) => {
                if !w.will_wake(cx.waker()) {
                    w.clone_from(cx.waker());
                }
            }
            None => wait.0 = Some(links.waiters.insert(cx.waker().clone())),
        }
        Poll::Pending
    }

    /// Forgets a pending registration (a `cancelled()` future dropped before it fired).
    pub(crate) fn unregister(&self, wait: &mut Wait) {
        if let Some(k) = wait.0.take() {
            // Cancelled: the canceller drains (or already drained) every waiter, ours included,
            // so there is nothing to remove and no need to contend for the lock with it.
            if self.is_cancelled() {
                return;
            }
            let mut links = lock(&self.node.links);
            // Once fired, the waiters were drained and keys mean nothing any more.
            if !links.fired {
                remove_freeing(&mut links.waiters, k);
            }
        }
    }
}

/// A registration of interest in a token's cancellation, borrowed ([`Cancelled`]) or owned
/// ([`CancelledOwned`]): polls the token and unregisters its waker when dropped.
struct Waiter<T: Borrow<CancelToken>> {
    token: T,
    wait: Wait,
}

impl<T: Borrow<CancelToken>> Waiter<T> {
    fn new(token: T) -> Self {
        Self { token, wait: Wait::default() }
    }

    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        self.token.borrow().poll_cancelled(&mut self.wait, cx)
    }
}

impl<T: Borrow<CancelToken>> Drop for Waiter<T> {
    fn drop(&mut self) {
        self.token.borrow().unregister(&mut self.wait);
    }
}

/// Future returned by [`CancelToken::cancelled`]: resolves once the token is cancelled.
#[must_use = "futures do nothing unless polled"]
pub struct Cancelled<'a>(Waiter<&'a CancelToken>);

impl fmt::Debug for Cancelled<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cancelled").field("token", self.0.token).finish()
    }
}

impl Future for Cancelled<'_> {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.get_mut().0.poll(cx)
    }
}

/// Future returned by [`CancelToken::cancelled_owned`]: a `'static` [`Cancelled`].
#[must_use = "futures do nothing unless polled"]
pub struct CancelledOwned(Waiter<CancelToken>);

impl fmt::Debug for CancelledOwned {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CancelledOwned").field("token", &self.0.token).finish()
    }
}

impl Future for CancelledOwned {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.get_mut().0.poll(cx)
    }
}

pin_project! {
    /// Future returned by [`CancelToken::run_until_cancelled`].
    #[must_use = "futures do nothing unless polled"]
    pub struct RunUntilCancelled<'a, F> {
        cancelled: Cancelled<'a>,
        #[pin]
        fut: F,
    }
}

impl<F> fmt::Debug for RunUntilCancelled<'_, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RunUntilCancelled").field("token", self.cancelled.0.token).finish_non_exhaustive()
    }
}

impl<F: Future> Future for RunUntilCancelled<'_, F> {
    type Output = Option<F::Output>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if Pin::new(this.cancelled).poll(cx).is_ready() {
            return Poll::Ready(None);
        }
        this.fut.poll(cx).map(Some)
    }
}

/// Cancels its token when dropped; see [`CancelToken::drop_guard`].
#[derive(Debug)]
#[must_use = "dropping the guard at once cancels the token"]
pub struct DropGuard {
    token: Option<CancelToken>,
}

impl DropGuard {
    /// Gives the token back without cancelling it.
    pub fn disarm(mut self) -> CancelToken {
        self.token.take().expect("token present until disarmed")
    }
}

impl Drop for DropGuard {
    fn drop(&mut self) {
        if let Some(t) = self.token.take() {
            t.cancel();
        }
    }
}

#[cfg(all(test, not(taskscope_loom)))]
mod waiter_tests {
    use super::*;
    use futures_lite::future::{block_on, poll_once};

    fn waiters(t: &CancelToken) -> usize {
        lock(&t.node.links).waiters.len()
    }

    /// A `cancelled()` future dropped while pending leaves no waker behind; the others are all
    /// woken by the cancel, and a late poll resolves at once.
    #[test]
    fn dropped_waiters_unregister_and_the_rest_are_woken() {
        let t = CancelToken::new();
        let mut kept: Vec<_> = (0..10).map(|_| Box::pin(t.clone().cancelled_owned())).collect();
        for f in &mut kept {
            assert!(block_on(poll_once(f)).is_none());
        }
        let mut dropped: Vec<_> = (0..5).map(|_| Box::pin(t.cancelled())).collect();
        for f in &mut dropped {
            assert!(block_on(poll_once(f)).is_none());
        }
        assert_eq!(waiters(&t), 15);
        drop(dropped);
        assert_eq!(waiters(&t), 10);
        t.cancel();
        assert_eq!(waiters(&t), 0);
        for f in kept {
            block_on(f);
        }
        block_on(t.cancelled());
    }

    /// Counts its wake-ups.
    struct Count(std::sync::atomic::AtomicUsize);

    impl std::task::Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    }

    /// A `cancelled()` future polled again with another waker (it moved to another task)
    /// wakes that one, not the first.
    #[test]
    fn a_waiter_polled_with_a_new_waker_wakes_the_new_one() {
        let t = CancelToken::new();
        let (first, second) = (Arc::new(Count(0.into())), Arc::new(Count(0.into())));
        let mut fut = Box::pin(t.cancelled());
        for w in [&first, &second] {
            let waker = std::task::Waker::from(w.clone());
            assert!(fut.as_mut().poll(&mut Context::from_waker(&waker)).is_pending());
        }
        t.cancel();
        assert_eq!(second.0.load(std::sync::atomic::Ordering::SeqCst), 1, "the latest waker is woken");
        assert_eq!(first.0.load(std::sync::atomic::Ordering::SeqCst), 0, "the replaced waker is not");
    }

    /// `child_count` counts the live children of a token, and a dropped child leaves.
    #[test]
    fn child_count_counts_live_children() {
        let t = CancelToken::new();
        let (a, b) = (t.child(), t.child());
        assert_eq!(t.child_count(), 2);
        drop(a);
        assert_eq!(t.child_count(), 1);
        drop(b);
        assert_eq!(t.child_count(), 0);
    }

    /// A disarmed guard gives back the very token it held: cancelling it cancels the clones.
    #[test]
    fn a_disarmed_guard_gives_back_its_token() {
        let t = CancelToken::new();
        let back = t.clone().drop_guard().disarm();
        assert!(!t.is_cancelled(), "disarming does not cancel");
        back.cancel();
        assert!(t.is_cancelled(), "the token given back is the one the guard held");
    }

    /// No lost wake-up when the cancel races the registration on another thread.
    #[test]
    fn cancel_racing_registration_always_wakes() {
        for _ in 0..200 {
            let t = CancelToken::new();
            let t2 = t.clone();
            let canceller = std::thread::spawn(move || t2.cancel());
            block_on(t.cancelled());
            canceller.join().unwrap();
        }
    }
}

/// Model checks of the token tree (`RUSTFLAGS="--cfg taskscope_loom" cargo test -p
/// taskscope-core --release --lib loom`): cancellation against child creation, child drops
/// and waiter registration, in every interleaving.
#[cfg(all(test, taskscope_loom))]
mod loom_models {
    use super::*;
    use loom::future::block_on;
    use loom::thread;

    /// T1: a child made while its parent is being cancelled on another thread is cancelled
    /// either way (registered before the cancel, or made from an already cancelled parent).
    #[test]
    fn cancel_racing_child_creation_reaches_the_child() {
        loom::model(|| {
            let parent = CancelToken::new();
            let p = parent.clone();
            let canceller = thread::spawn(move || p.cancel());
            let child = parent.child();
            canceller.join().unwrap();
            assert!(child.is_cancelled(), "a child escaped its parent's cancellation");
            assert!(matches!(child.reason(), Some(CancelReason::Parent(_))));
        });
    }

    /// T2: a child dropped while its parent is cancelled leaves nothing registered.
    #[test]
    fn cancel_racing_child_drop_leaves_no_child() {
        loom::model(|| {
            let parent = CancelToken::new();
            let child = parent.child();
            let dropper = thread::spawn(move || drop(child));
            parent.cancel();
            dropper.join().unwrap();
            assert_eq!(parent.child_count(), 0);
        });
    }

    /// T1: a `cancelled()` waiter registering while another thread cancels is always woken
    /// (loom reports a deadlock on a lost wake-up).
    #[test]
    fn cancel_racing_a_waiter_always_wakes_it() {
        loom::model(|| {
            let token = CancelToken::new();
            let t = token.clone();
            let canceller = thread::spawn(move || t.cancel());
            block_on(token.cancelled());
            canceller.join().unwrap();
        });
    }

    /// T1: a grandchild registering while the root is cancelled is reached through its parent.
    #[test]
    fn cancel_reaches_a_grandchild_made_concurrently() {
        loom::model(|| {
            let root = CancelToken::new();
            let child = root.child();
            let r = root.clone();
            let canceller = thread::spawn(move || r.cancel());
            let grandchild = child.child();
            block_on(grandchild.cancelled());
            canceller.join().unwrap();
            assert!(child.is_cancelled());
        });
    }
}

#[cfg(all(test, not(taskscope_loom)))]
mod reason_tests {
    use super::*;

    fn chain(depth: usize, root: CancelReason) -> CancelReason {
        (0..depth).fold(root, |r, _| CancelReason::Parent(Arc::new(r)))
    }

    /// Up to four levels of parents are spelled out.
    #[test]
    fn shallow_chains_are_spelled_out() {
        assert_eq!(chain(0, CancelReason::Deadline).to_string(), "deadline elapsed");
        assert_eq!(
            chain(2, CancelReason::Deadline).to_string(),
            "parent cancelled (parent cancelled (deadline elapsed))"
        );
        assert_eq!(format!("{:?}", chain(2, CancelReason::Dropped)), "Parent(Parent(Dropped))");
        assert_eq!(
            format!("{:?}", chain(1, CancelReason::SiblingFailed { name: Some("a".into()) })),
            r#"Parent(SiblingFailed { name: Some("a") })"#
        );
    }

    /// A chain deeper than four levels is shortened to its depth and its root; four levels are
    /// still spelled out.
    #[test]
    fn deep_chains_are_shortened() {
        assert_eq!(
            chain(4, CancelReason::Deadline).to_string(),
            "parent cancelled (parent cancelled (parent cancelled (parent cancelled (deadline elapsed))))"
        );
        assert_eq!(chain(5, CancelReason::Deadline).to_string(), "parent cancelled (5 levels up: deadline elapsed)");
    }

    /// Reasons compare by their chain: same depth and same root.
    #[test]
    fn reasons_compare_by_depth_and_root() {
        assert_eq!(chain(3, CancelReason::Deadline), chain(3, CancelReason::Deadline));
        assert_ne!(chain(3, CancelReason::Deadline), chain(2, CancelReason::Deadline));
        assert_ne!(chain(3, CancelReason::Deadline), chain(3, CancelReason::Dropped));
        assert_ne!(CancelReason::SiblingFailed { name: None }, CancelReason::SiblingPanicked { name: None });
    }

    /// T2: formatting and comparing a chain of 10^5 parents runs in constant stack (a 256 KiB
    /// thread would overflow on a recursion this deep).
    #[test]
    fn a_deep_chain_formats_and_compares_in_constant_stack() {
        let chains = std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(|| {
                let (a, b) = (chain(100_000, CancelReason::Deadline), chain(100_000, CancelReason::Deadline));
                assert_eq!(a.to_string(), "parent cancelled (100000 levels up: deadline elapsed)");
                assert_eq!(format!("{a:?}").len(), 100_000 * "Parent()".len() + "Deadline".len());
                assert!(a == b);
                (a, b)
            })
            .expect("spawn a small-stack thread")
            .join()
            .expect("no stack overflow");
        // A chain owned outside any token drops recursively (the enum has no `Drop` impl, so
        // that users can move its fields out): dropped where the stack is large enough.
        std::thread::Builder::new()
            .stack_size(256 << 20)
            .spawn(move || drop(chains))
            .expect("spawn a large-stack thread")
            .join()
            .expect("dropped");
    }
}
