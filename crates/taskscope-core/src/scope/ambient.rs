//! What a poll carries on its thread (C6, C8, C9, F2, P2): the ambient scope (the scope whose
//! child or body is being polled, which nested scopes link to for their token, runtime and
//! S1 hold), a shielded child's own context (C8), the drain a child's nested scopes hold
//! (C9), and the flag that marks a cancellation core hands to the polled future (F2, F3). All
//! three live in one thread-local, which a child's or body's poll reaches once ([`poll_in`]).
//! The ambient scope is lent, not moved: the poll's owner keeps its `Arc` and the thread-local
//! borrows it for the poll ([`Lent`], the one `unsafe` piece).

use std::cell::Cell;
use std::sync::Arc;

use super::inner::Inner;
use super::lent::{Ambient, Lent};
use crate::runtime::Runtime;
use crate::sync::{AtomicUsize, Mutex, Ordering, local_key};
use crate::token::CancelToken;
use crate::util::lock;

/// A scope as seen by the code running in it: what nested scopes and the ambient functions
/// need.
pub(crate) trait ScopeCtx: Send + Sync {
    fn token(&self) -> &CancelToken;
    fn runtime(&self) -> &Arc<dyn Runtime>;
    /// A nested scope counts as one live child of its enclosing scope until it has finished,
    /// or — if dropped early — until its last child has been dropped (S1 across nesting).
    fn hold(&self);
    fn release(&self);
}

/// Everything a poll carries on its thread, in one thread-local so that a child's poll reaches
/// it once: the ambient scope, the polled child's drain, and the handed-cancellation flag.
struct PollCtx {
    /// The scope whose child or body is being polled (nested scopes link to it), lent by that
    /// poll.
    ambient: Lent,
    /// Set while a child's future is polled on this thread: that child's [`Drain`], if a scope
    /// opened in it already made one. `None` outside a child's poll (and in a scope's body).
    drain: Cell<Option<Option<Arc<Drain>>>>,
    /// Set during the poll of a child or a body when core hands that future a cancellation:
    /// a nested scope's bare "cancelled by the parent", or a handle's error-less `JoinError`
    /// (see [`mark_handed_cancellation`]).
    handed: Cell<bool>,
}

local_key! {
    static POLL: PollCtx = const {
        PollCtx { ambient: Lent::new(), drain: Cell::new(None), handed: Cell::new(false) }
    };
}

/// Runs `f` with `ctx` as the ambient scope (lent for the call, no refcount traffic): for code
/// that runs inside a context without being a tracked poll (see [`poll_in`] for those).
pub(crate) fn enter<R>(ctx: &(dyn Ambient + 'static), f: impl FnOnce() -> R) -> R {
    let mut f = Some(f);
    match POLL.try_with(|c| c.ambient.lend(Some(ctx), || f.take().map(|f| f()))) {
        Ok(Some(r)) => r,
        // Thread-locals are being destroyed: run without an ambient scope.
        _ => (f.take().expect("taskscope: a call runs once"))(),
    }
}

/// What [`poll_in`] put into the thread-local, and puts back when dropped (also when the poll
/// unwinds): the previous values, and the caller's drain slot that gets its drain back.
struct Tracked<'p, 'a> {
    ctx: &'p PollCtx,
    drain: Option<&'a mut Option<Arc<Drain>>>,
    prev_drain: Option<Option<Arc<Drain>>>,
    prev_handed: bool,
    handed: &'a mut bool,
}

impl Drop for Tracked<'_, '_> {
    fn drop(&mut self) {
        *self.handed = self.ctx.handed.replace(self.prev_handed);
        let back = self.ctx.drain.replace(self.prev_drain.take());
        if let Some(slot) = self.drain.take() {
            *slot = back.flatten();
        }
    }
}

/// Runs one poll of a child's or body's future with its own handed-cancellation flag, and,
/// when given, with `ambient` as the ambient scope (lent for the poll: no refcount traffic).
/// The current drain is the child's `drain` slot, or none outside a child's poll. Returns the
/// poll's result and whether core handed the future a cancellation during it (see
/// [`mark_handed_cancellation`]). One access to the thread-local per poll. The previous values
/// are restored afterwards, even when the poll unwinds, so polls nest (a body polled inside a
/// child's poll).
#[inline]
pub(crate) fn poll_in<R>(
    ambient: Option<&(dyn Ambient + 'static)>,
    mut drain: Option<&mut Option<Arc<Drain>>>,
    poll: impl FnOnce() -> R,
) -> (R, bool) {
    let mut poll = Some(poll);
    let mut handed = false;
    let tracked = POLL.try_with(|ctx| {
        // Outside a child's poll (a body's, a blocking job's) no drain is current.
        let prev_drain = ctx.drain.replace(drain.as_deref_mut().map(Option::take));
        let prev_handed = ctx.handed.replace(false);
        let _tracked = Tracked { ctx, drain, prev_drain, prev_handed, handed: &mut handed };
        let poll = poll.take().expect("taskscope: a poll runs once");
        match ambient {
            Some(ambient) => ctx.ambient.lend(Some(ambient), poll),
            None => poll(),
        }
    });
    match tracked {
        Ok(r) => (r, handed),
        // Thread-locals are being destroyed: run without any context.
        Err(_) => ((poll.take().expect("taskscope: a poll runs once"))(), false),
    }
}

/// [`poll_in`] without an ambient scope of its own: the thread's ambient scope stays.
#[inline]
pub(crate) fn poll_tracked<R>(drain: Option<&mut Option<Arc<Drain>>>, poll: impl FnOnce() -> R) -> (R, bool) {
    poll_in(None, drain, poll)
}

/// `f` of the ambient scope of this thread, if there is one (none while thread-locals are
/// being destroyed).
fn from_ambient<T>(f: impl FnOnce(&dyn Ambient) -> T) -> Option<T> {
    POLL.try_with(|c| c.ambient.with(|a| a.map(f))).ok().flatten()
}

/// The ambient scope of this thread, for a scope opened here to link to (its token's parent,
/// its runtime, its S1 hold), if any.
pub(crate) fn ambient_link() -> Option<Arc<dyn ScopeCtx>> {
    from_ambient(|a| a.to_ctx())
}

/// Core is handing the future being polled a cancellation as a value. If that future then
/// returns an error in the same poll while its own scope is cancelling, the error is that
/// cancellation, passed on with `?`: it is dropped, not collected (F2, F3), whatever the error
/// type is.
pub(crate) fn mark_handed_cancellation() {
    let _ = POLL.try_with(|c| c.handed.set(true));
}

/// What a child's handle waits for besides the child's future (C9): the scopes the child
/// opened, still draining after the future was dropped. Made by the first scope a child
/// opens (see [`Drain::hold_current`]); each such scope holds it until it has drained.
pub(crate) struct Drain {
    /// Scopes opened in the child and not yet drained.
    holds: AtomicUsize,
    /// What the last release does: wake the child's task, which then publishes, or run the
    /// publication itself once the task is gone (see [`Inner::publish`]).
    pending: Mutex<Pending>,
}

/// What a [`Drain`] runs when its last scope drains.
enum Pending {
    Nothing,
    Wake(std::task::Waker),
    Publish(Box<dyn FnOnce() + Send>),
}

impl Drain {
    /// Called by a scope being opened: if this thread is polling a child, hold its drain
    /// (making it on first use).
    pub(crate) fn hold_current() -> Option<Arc<Drain>> {
        POLL.try_with(|c| {
            let mut slot = c.drain.take()?;
            let drain = slot
                .get_or_insert_with(|| {
                    Arc::new(Drain { holds: AtomicUsize::new(0), pending: Mutex::new(Pending::Nothing) })
                })
                .clone();
            drain.holds.fetch_add(1, Ordering::AcqRel);
            c.drain.set(Some(slot));
            Some(drain)
        })
        .ok()
        .flatten()
    }

    /// A scope the child opened has drained: on the last one, run the child's publication if
    /// its future is already gone.
    pub(super) fn release(&self) {
        if self.holds.fetch_sub(1, Ordering::AcqRel) == 1 {
            // Looked at again under the lock: the child may have opened another scope since
            // (then that scope's release publishes).
            let pending = {
                let mut pending = lock(&self.pending);
                if self.holds.load(Ordering::Acquire) == 0 {
                    std::mem::replace(&mut *pending, Pending::Nothing)
                } else {
                    Pending::Nothing
                }
            };
            match pending {
                Pending::Nothing => {}
                Pending::Wake(waker) => waker.wake(),
                Pending::Publish(publish) => publish(),
            }
        }
    }

    /// The child's future is gone: publish now if every scope it opened has drained, else
    /// leave `publish` to the last [`release`](Self::release). Both sides decide under the
    /// `pending` lock, so exactly one of them runs it.
    pub(super) fn finish(&self, publish: Box<dyn FnOnce() + Send>) {
        let now = {
            let mut pending = lock(&self.pending);
            if self.holds.load(Ordering::Acquire) == 0 {
                Some(publish)
            } else {
                *pending = Pending::Publish(publish);
                None
            }
        };
        if let Some(publish) = now {
            publish();
        }
    }

    /// Whether every scope the child opened has drained; if not, the last
    /// [`release`](Self::release) wakes `cx`'s task. Decided under the `pending` lock, like
    /// [`finish`](Self::finish).
    pub(super) fn poll_drained(&self, cx: &mut std::task::Context<'_>) -> std::task::Poll<()> {
        let mut pending = lock(&self.pending);
        if self.holds.load(Ordering::Acquire) == 0 {
            return std::task::Poll::Ready(());
        }
        *pending = Pending::Wake(cx.waker().clone());
        std::task::Poll::Pending
    }
}

/// The token of the innermost scope whose child or body is running on this thread, if any.
///
/// Lets code deep inside a child observe cancellation without being handed the token.
///
/// ```
/// assert!(taskscope_core::current_token().is_none()); // not inside a scope
/// ```
pub fn current_token() -> Option<CancelToken> {
    from_ambient(|a| a.ctx().token().clone())
}

/// The runtime of the innermost scope whose child or body is running on this thread, if any.
/// Nested scopes use it when no runtime is given explicitly.
pub fn current_runtime() -> Option<Arc<dyn Runtime>> {
    from_ambient(|a| a.ctx().runtime().clone())
}

// ---------------------------------------------------------------------------------------------
// Children.

/// The ambient context of a shielded child (C8): the scope's runtime and live count, but a
/// token of its own, so that scopes opened inside it do not see the scope's cancellation.
pub(super) struct Shield<E> {
    pub(super) token: CancelToken,
    pub(super) scope: Arc<Inner<E>>,
}

impl<E: Send + 'static> ScopeCtx for Shield<E> {
    fn token(&self) -> &CancelToken {
        &self.token
    }
    fn runtime(&self) -> &Arc<dyn Runtime> {
        &self.scope.rt
    }
    fn hold(&self) {
        self.scope.hold();
    }
    fn release(&self) {
        self.scope.release();
    }
}

/// A scope context with nothing behind it, for the unit tests of what a poll carries (here and
/// in `lent.rs`): what the thread-local holds is all they look at.
#[cfg(all(test, not(taskscope_loom)))]
pub(super) struct TestCtx {
    pub(super) token: CancelToken,
    rt: Arc<dyn Runtime>,
}

#[cfg(all(test, not(taskscope_loom)))]
impl TestCtx {
    pub(super) fn new() -> Arc<Self> {
        Arc::new(Self { token: CancelToken::new(), rt: crate::test_runtime() })
    }
}

#[cfg(all(test, not(taskscope_loom)))]
impl ScopeCtx for TestCtx {
    fn token(&self) -> &CancelToken {
        &self.token
    }
    fn runtime(&self) -> &Arc<dyn Runtime> {
        &self.rt
    }
    fn hold(&self) {}
    fn release(&self) {}
}

#[cfg(all(test, not(taskscope_loom)))]
mod tests {
    use std::panic::{AssertUnwindSafe, catch_unwind};

    use super::*;

    fn ctx() -> (Arc<dyn ScopeCtx>, *const ()) {
        let ctx: Arc<dyn ScopeCtx> = TestCtx::new();
        let at = Arc::as_ptr(&ctx).cast::<()>();
        (ctx, at)
    }

    /// The ambient scope of this thread, as an address.
    fn ambient() -> Option<*const ()> {
        from_ambient(|a| std::ptr::from_ref(a.ctx()).cast::<()>())
    }

    /// The scope a nested scope opened here would link to, as an address.
    fn link() -> Option<*const ()> {
        ambient_link().map(|a| Arc::as_ptr(&a).cast::<()>())
    }

    fn handed_flag() -> bool {
        POLL.with(|c| c.handed.get())
    }

    #[test]
    fn a_poll_inside_a_poll_gives_the_outer_one_its_context_back() {
        let (outer, outer_at) = ctx();
        let (inner, inner_at) = ctx();
        let mut drain = None;
        let ((), handed) = poll_in(Some(&outer), Some(&mut drain), || {
            assert_eq!(ambient(), Some(outer_at));
            let ((), inner_handed) = poll_in(Some(&inner), None, || {
                assert_eq!(ambient(), Some(inner_at));
                assert_eq!(link(), Some(inner_at));
                // A body's poll is no child's: no drain to hold.
                assert!(Drain::hold_current().is_none());
                mark_handed_cancellation();
            });
            assert!(inner_handed);
            assert_eq!(ambient(), Some(outer_at));
            // The inner poll's flag is its own.
            assert!(!handed_flag());
            // The child's drain is current again.
            assert!(Drain::hold_current().is_some());
        });
        assert!(!handed);
        assert!(drain.is_some(), "the drain made during the child's poll comes back to its slot");
        assert_eq!(ambient(), None);
        assert_eq!(link(), None);
    }

    #[test]
    fn a_poll_that_unwinds_leaves_the_thread_as_it_found_it() {
        let (scope, _) = ctx();
        let mut drain = None;
        let unwound = catch_unwind(AssertUnwindSafe(|| {
            poll_in(Some(&scope), Some(&mut drain), || {
                mark_handed_cancellation();
                let _ = Drain::hold_current();
                panic!("the poll unwinds");
            })
        }));
        assert!(unwound.is_err());
        assert!(drain.is_some());
        assert_eq!(ambient(), None);
        assert!(!handed_flag());
        assert!(Drain::hold_current().is_none());
    }
}
