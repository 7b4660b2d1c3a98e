//! What a poll carries on its thread (C6, C8, C9, F2, P2): the ambient scope (the scope whose
//! child or body is being polled, which nested scopes link to for their token, runtime and
//! S1 hold), a shielded child's own context (C8), the drain a child's nested scopes hold
//! (C9), and the flag that marks a cancellation core hands to the polled future (F2, F3).

use std::any::Any;
use std::cell::Cell;
use std::sync::Arc;

use super::inner::Inner;
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
    /// For [`Enter`]: the context back as its concrete type.
    fn into_any(self: Arc<Self>) -> Arc<dyn Any + Send + Sync>;
}

local_key! {
    static AMBIENT: Cell<Option<Arc<dyn ScopeCtx>>> = const { Cell::new(None) };
}

/// What can be made the ambient scope by [`Enter`]: any scope context, or a child's typed
/// reference to its own scope (moved in and taken back as its concrete type).
pub(crate) trait AmbientSlot: Sized {
    fn into_ctx(self) -> Arc<dyn ScopeCtx>;
    fn from_ctx(ctx: Arc<dyn ScopeCtx>) -> Option<Self>;
}

impl AmbientSlot for Arc<dyn ScopeCtx> {
    fn into_ctx(self) -> Arc<dyn ScopeCtx> {
        self
    }
    fn from_ctx(ctx: Arc<dyn ScopeCtx>) -> Option<Self> {
        Some(ctx)
    }
}

impl<E: Send + 'static> AmbientSlot for Arc<Inner<E>> {
    fn into_ctx(self) -> Arc<dyn ScopeCtx> {
        self
    }
    fn from_ctx(ctx: Arc<dyn ScopeCtx>) -> Option<Self> {
        ctx.into_any().downcast().ok()
    }
}

/// Makes the scope in `slot` the ambient scope while alive: moves it into the thread-local (no
/// refcount traffic, so a child needs no second reference to its scope) and takes it back on
/// drop, even when unwinding.
pub(crate) struct Enter<'a, S: AmbientSlot> {
    slot: &'a mut Option<S>,
    prev: Option<Arc<dyn ScopeCtx>>,
    entered: bool,
}

impl<'a, S: AmbientSlot> Enter<'a, S> {
    pub(crate) fn new(slot: &'a mut Option<S>) -> Self {
        let mut mine = slot.take().map(S::into_ctx);
        match AMBIENT.try_with(|c| c.replace(mine.take())) {
            Ok(prev) => Self { slot, prev, entered: true },
            // Thread-locals are being destroyed: run without an ambient scope.
            Err(_) => {
                *slot = mine.and_then(S::from_ctx);
                Self { slot, prev: None, entered: false }
            }
        }
    }
}

impl<S: AmbientSlot> Drop for Enter<'_, S> {
    fn drop(&mut self) {
        if self.entered {
            // The thread-local cannot be destroyed while this thread is inside a poll, so
            // `mine` always comes back.
            if let Ok(Some(mine)) = AMBIENT.try_with(|c| c.replace(self.prev.take())) {
                *self.slot = S::from_ctx(mine);
            }
        }
    }
}

/// Runs `f` with the ambient scope context of this thread, if any.
pub(crate) fn with_ambient<R>(f: impl FnOnce(Option<&Arc<dyn ScopeCtx>>) -> R) -> R {
    let cur = AMBIENT.try_with(Cell::take).ok().flatten();
    let r = f(cur.as_ref());
    let _ = AMBIENT.try_with(|c| c.set(cur));
    r
}

local_key! {
    /// Set while a child's future is polled on this thread: that child's [`Drain`], if a scope
    /// opened in it already made one. `None` outside a child's poll (and in a scope's body).
    static DRAIN: Cell<Option<Option<Arc<Drain>>>> = const { Cell::new(None) };
}

local_key! {
    /// Set during the poll of a child or a body when core hands that future a cancellation:
    /// a nested scope's bare "cancelled by the parent", or a handle's error-less `JoinError`
    /// (see [`mark_handed_cancellation`]).
    static HANDED: Cell<bool> = const { Cell::new(false) };
}

/// Core is handing the future being polled a cancellation as a value. If that future then
/// returns an error in the same poll while its own scope is cancelling, the error is that
/// cancellation, passed on with `?`: it is dropped, not collected (F2, F3), whatever the error
/// type is.
pub(crate) fn mark_handed_cancellation() {
    let _ = HANDED.try_with(|h| h.set(true));
}

/// Runs one poll of a child's or body's future with its own [`HANDED`] flag (and, for a
/// child, its [`DRAIN`] slot) on this thread; returns the poll's result and whether core
/// handed the future a cancellation during it. The previous values are restored afterwards,
/// so polls nest (a body polled inside a child's poll).
pub(crate) fn poll_tracked<R>(mut drain: Option<&mut Option<Arc<Drain>>>, poll: impl FnOnce() -> R) -> (R, bool) {
    let prev_handed = HANDED.try_with(|h| h.replace(false)).unwrap_or(false);
    let mine = drain.as_deref_mut().map(Option::take);
    let prev_drain = DRAIN.try_with(|c| c.replace(mine)).ok().flatten();
    let r = poll();
    let handed = HANDED.try_with(|h| h.replace(prev_handed)).unwrap_or(false);
    let back = DRAIN.try_with(|c| c.replace(prev_drain)).ok().flatten();
    if let Some(slot) = drain {
        *slot = back.flatten();
    }
    (r, handed)
}

/// What a child's handle waits for besides the child's future (C9): the scopes the child
/// opened, still draining after the future was dropped. Made by the first scope a child
/// opens (see [`Drain::hold_current`]); each such scope holds it until it has drained.
pub(crate) struct Drain {
    /// Scopes opened in the child and not yet drained.
    holds: AtomicUsize,
    /// The child's publication (see [`Inner::publish`]), deferred until `holds` is zero.
    pending: Mutex<Option<Box<dyn FnOnce() + Send>>>,
}

impl Drain {
    /// Called by a scope being opened: if this thread is polling a child, hold its drain
    /// (making it on first use).
    pub(crate) fn hold_current() -> Option<Arc<Drain>> {
        DRAIN
            .try_with(|c| {
                let mut slot = c.take()?;
                let drain = slot
                    .get_or_insert_with(|| Arc::new(Drain { holds: AtomicUsize::new(0), pending: Mutex::new(None) }))
                    .clone();
                drain.holds.fetch_add(1, Ordering::AcqRel);
                c.set(Some(slot));
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
                if self.holds.load(Ordering::Acquire) == 0 { pending.take() } else { None }
            };
            if let Some(publish) = pending {
                publish();
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
                *pending = Some(publish);
                None
            }
        };
        if let Some(publish) = now {
            publish();
        }
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
    with_ambient(|a| a.map(|s| s.token().clone()))
}

/// The runtime of the innermost scope whose child or body is running on this thread, if any.
/// Nested scopes use it when no runtime is given explicitly.
pub fn current_runtime() -> Option<Arc<dyn Runtime>> {
    with_ambient(|a| a.map(|s| s.runtime().clone()))
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
    fn into_any(self: Arc<Self>) -> Arc<dyn Any + Send + Sync> {
        self
    }
}
