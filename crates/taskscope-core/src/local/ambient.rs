//! What a local scope's children and body see around them (C6, C8): the scope's token for
//! scopes nested inside them, and its runtime (for deadlines and nested spawned scopes).
//!
//! With a runtime, the local scope is an ordinary ambient scope for the duration of each poll
//! (so `current_token`, `current_runtime`, a nested `Builder` or `fail_after` find it); a
//! nested spawned scope holds it open until its own children are gone (S1 across nesting).
//! Without a runtime there is no ambient scope, and a thread-local parent token lets nested
//! local scopes link their tokens all the same.

use std::cell::Cell;
use std::sync::Arc;

use crate::runtime::Runtime;
use crate::scope::{ScopeCtx, enter};
use crate::sync::{AtomicUsize, Mutex, Ordering};
use crate::token::CancelToken;
use crate::util::lock;

use super::ready::ReadyQueue;

crate::sync::local_key! {
    /// The token of the innermost runtime-less local scope being polled on this thread.
    static LOCAL_PARENT: Cell<Option<CancelToken>> = const { Cell::new(None) };
}

/// The parent token a new local scope links to when it is given none and no ambient scope
/// exists: the innermost runtime-less local scope being polled on this thread.
pub(crate) fn local_parent() -> Option<CancelToken> {
    LOCAL_PARENT
        .try_with(|c| {
            let t = c.take();
            let out = t.clone();
            c.set(t);
            out
        })
        .ok()
        .flatten()
}

/// Nested spawned scopes holding the local scope open, and who to wake when the last lets go.
pub(crate) struct Holds {
    count: AtomicUsize,
    queue: Arc<ReadyQueue>,
    /// The local scope's owner is gone: the last hold releases the enclosing scope's hold.
    orphan: Mutex<Option<Arc<dyn ScopeCtx>>>,
}

impl Holds {
    pub(crate) fn new(queue: Arc<ReadyQueue>) -> Arc<Self> {
        Arc::new(Self { count: AtomicUsize::new(0), queue, orphan: Mutex::new(None) })
    }

    pub(crate) fn is_zero(&self) -> bool {
        self.count.load(Ordering::SeqCst) == 0
    }

    /// The owner dropped the scope: hand `enclosing` to the last hold (or release it now).
    pub(crate) fn orphan(&self, enclosing: Arc<dyn ScopeCtx>) {
        *lock(&self.orphan) = Some(enclosing);
        if self.is_zero() {
            let e = lock(&self.orphan).take();
            if let Some(e) = e {
                e.release();
            }
        }
    }

    fn hold(&self) {
        self.count.fetch_add(1, Ordering::SeqCst);
    }

    fn release(&self) {
        if self.count.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.queue.owner.wake();
            let e = lock(&self.orphan).take();
            if let Some(e) = e {
                e.release();
            }
        }
    }
}

/// A local scope as an ambient scope (or a shielded child's own context, with its own token).
pub(crate) struct LocalCtx {
    pub(crate) token: CancelToken,
    pub(crate) rt: Arc<dyn Runtime>,
    pub(crate) holds: Arc<Holds>,
}

impl ScopeCtx for LocalCtx {
    fn token(&self) -> &CancelToken {
        &self.token
    }
    fn runtime(&self) -> &Arc<dyn Runtime> {
        &self.rt
    }
    fn hold(&self) {
        self.holds.hold();
    }
    fn release(&self) {
        self.holds.release();
    }
}

/// What a poll runs inside: an ambient context (with a runtime) or a thread-local parent
/// token (without).
pub(crate) enum Around {
    Ctx(Arc<LocalCtx>),
    Token(Cell<Option<CancelToken>>),
}

impl Around {
    pub(crate) fn new(token: &CancelToken, rt: Option<&Arc<dyn Runtime>>, holds: &Arc<Holds>) -> Self {
        match rt {
            Some(rt) => Around::Ctx(Arc::new(LocalCtx { token: token.clone(), rt: rt.clone(), holds: holds.clone() })),
            None => Around::Token(Cell::new(Some(token.clone()))),
        }
    }

    /// Runs `f` inside this context (lent or swapped into the thread-locals and back: no
    /// refcounts).
    pub(crate) fn run<R>(&self, f: impl FnOnce() -> R) -> R {
        match self {
            Around::Ctx(ctx) => enter(ctx, || {
                let _parent = SwapParent::new(None);
                f()
            }),
            Around::Token(cell) => {
                let parent = SwapParent::new(cell.take());
                let r = f();
                cell.set(parent.restore());
                r
            }
        }
    }
}

/// Puts a token in [`LOCAL_PARENT`] while alive; gives it back on [`restore`](Self::restore)
/// (or just restores the previous one on drop, when unwinding).
struct SwapParent {
    prev: Option<Option<CancelToken>>,
}

impl SwapParent {
    fn new(token: Option<CancelToken>) -> Self {
        Self { prev: LOCAL_PARENT.try_with(|c| c.replace(token)).ok() }
    }

    fn restore(mut self) -> Option<CancelToken> {
        match self.prev.take() {
            Some(prev) => LOCAL_PARENT.try_with(|c| c.replace(prev)).ok().flatten(),
            None => None,
        }
    }
}

impl Drop for SwapParent {
    fn drop(&mut self) {
        if let Some(prev) = self.prev.take() {
            let _ = LOCAL_PARENT.try_with(|c| c.set(prev));
        }
    }
}
