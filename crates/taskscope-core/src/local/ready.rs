//! The ready queue and the children's arena: only woken children are polled (P3's cost goal).
//!
//! Every child has its own waker, which pushes the child's index onto the scope's ready queue
//! (once until it is polled again) and wakes the owner; the owner drains the queue and polls
//! just those children, like `FuturesUnordered`. Wakers must be `Send + Sync`, so the queue is a
//! small mutex-guarded list, while the children themselves stay on the owner's thread.

use std::cell::{Cell, RefCell};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::Waker;

use futures_util::task::{ArcWake, WakerRef, waker, waker_ref};

use crate::sync::{AtomicBool, AtomicWaker, Mutex, Ordering};
use crate::util::lock;

use super::child::LocalChild;

/// The index the body's waker pushes: the body is polled only when it was woken, too.
pub(crate) const BODY: usize = usize::MAX;

crate::sync::local_key! {
    /// The ready queue whose owner is polling on this thread (its address), and the indices
    /// queued meanwhile from this thread: a child that wakes itself or a sibling, or a spawn,
    /// queues its index here without a lock and without waking the owner, which is running.
    static POLLING: Cell<usize> = const { Cell::new(0) };
    static FAST: RefCell<Vec<usize>> = const { RefCell::new(Vec::new()) };
    /// Wakers of finished scopes that nothing else holds, reused by the next ones on this
    /// thread (a waker is one allocation per child otherwise).
    static WAKER_POOL: RefCell<Vec<Arc<ChildWaker>>> = const { RefCell::new(Vec::new()) };
}

/// How many spare wakers a thread keeps (about 40 bytes each).
const POOL_CAP: usize = 1 << 14;

/// Marks `queue`'s owner as polling on this thread while alive, lending it `buffer` for the
/// lock-free path; restores the enclosing owner's on drop (also when unwinding).
pub(crate) struct Polling<'a> {
    prev: usize,
    buffer: &'a mut Vec<usize>,
}

impl<'a> Polling<'a> {
    pub(crate) fn enter(queue: &Arc<ReadyQueue>, buffer: &'a mut Vec<usize>) -> Self {
        let prev = POLLING.with(|p| p.replace(Arc::as_ptr(queue) as usize));
        FAST.with(|f| std::mem::swap(&mut *f.borrow_mut(), buffer));
        Self { prev, buffer }
    }

    /// Moves the indices queued on the lock-free path into `into`.
    pub(crate) fn drain_into(&self, into: &mut Vec<usize>) {
        FAST.with(|f| into.append(&mut f.borrow_mut()));
    }

    pub(crate) fn is_empty(&self) -> bool {
        FAST.with(|f| f.borrow().is_empty())
    }
}

impl Drop for Polling<'_> {
    fn drop(&mut self) {
        FAST.with(|f| std::mem::swap(&mut *f.borrow_mut(), self.buffer));
        POLLING.with(|p| p.set(self.prev));
    }
}

/// The indices of woken children, and the owner's waker.
#[derive(Debug, Default)]
pub(crate) struct ReadyQueue {
    list: Mutex<Vec<usize>>,
    pub(crate) owner: AtomicWaker,
}

impl ReadyQueue {
    fn push(&self, index: usize) {
        lock(&self.list).push(index);
    }

    /// Moves every queued index into `into` (which must be empty), keeping both allocations.
    pub(crate) fn drain_into(&self, into: &mut Vec<usize>) {
        debug_assert!(into.is_empty());
        std::mem::swap(&mut *lock(&self.list), into);
    }

    pub(crate) fn is_empty(&self) -> bool {
        lock(&self.list).is_empty()
    }
}

/// One child's waker: queues its index once until the owner polls it again.
#[derive(Debug)]
pub(crate) struct ChildWaker {
    index: usize,
    queued: AtomicBool,
    /// `None` while the waker is a spare in the pool.
    queue: Option<Arc<ReadyQueue>>,
}

impl ChildWaker {
    pub(crate) fn new(index: usize, queue: Arc<ReadyQueue>) -> Arc<Self> {
        if let Some(mut spare) = WAKER_POOL.try_with(|p| p.borrow_mut().pop()).ok().flatten()
            && let Some(w) = Arc::get_mut(&mut spare)
        {
            w.index = index;
            w.queue = Some(queue);
            w.queued = AtomicBool::new(false);
            return spare;
        }
        Arc::new(Self { index, queued: AtomicBool::new(false), queue: Some(queue) })
    }

    /// Keeps a waker nothing else holds as a spare for the next scope on this thread.
    fn recycle(mut this: Arc<Self>) {
        if let Some(w) = Arc::get_mut(&mut this) {
            w.queue = None;
            let _ = WAKER_POOL.try_with(|p| {
                let mut p = p.borrow_mut();
                if p.len() < POOL_CAP {
                    p.push(this);
                }
            });
        }
    }

    /// Queues the child; wakes the owner unless it is the owner itself that queues it (a spawn
    /// made inside the owner's poll is picked up by the same poll).
    pub(crate) fn schedule(&self, wake_owner: bool) {
        let Some(queue) = &self.queue else { return };
        if !self.queued.swap(true, Ordering::AcqRel) {
            let here = Arc::as_ptr(queue) as usize;
            if POLLING.try_with(|p| p.get() == here).unwrap_or(false)
                && FAST.try_with(|f| f.borrow_mut().push(self.index)).is_ok()
            {
                return;
            }
            queue.push(self.index);
            if wake_owner {
                queue.owner.wake();
            }
        }
    }

    /// The owner is about to poll the child: a wake from now on queues it again.
    pub(crate) fn unqueue(&self) {
        self.queued.store(false, Ordering::Release);
    }
}

/// `futures`' `ArcWake` rather than std's `Wake`: it lends a child a [`WakerRef`] for a poll
/// without touching the reference count ([`ChildWaker::waker_ref`]).
impl ArcWake for ChildWaker {
    fn wake_by_ref(arc_self: &Arc<Self>) {
        arc_self.schedule(true);
    }
}

impl ChildWaker {
    /// An owned waker of this child (the body keeps one).
    pub(crate) fn waker(this: &Arc<Self>) -> Waker {
        waker(this.clone())
    }

    /// A waker of this child for one poll, borrowed: no reference count changes.
    pub(crate) fn waker_ref(this: &Arc<Self>) -> WakerRef<'_> {
        waker_ref(this)
    }
}

/// A child of a local scope as the arena holds it (its [`Node`](super::node::Node), shared
/// with its handle): borrows for `'env`, need not be `Send`.
pub(crate) type BoxedChild<'env, E> = Pin<Rc<dyn LocalChild<E> + 'env>>;

/// A slot of the arena. `occupied` with `task == None` means: being polled right now (its
/// waker is out with it then).
pub(crate) struct Entry<'env, E> {
    pub(crate) task: Option<BoxedChild<'env, E>>,
    pub(crate) occupied: bool,
    wake: Option<Arc<ChildWaker>>,
}

/// The children of a local scope, by index; freed indices (and their wakers, when nothing else
/// holds them) are reused.
pub(crate) struct Arena<'env, E> {
    pub(crate) entries: Vec<Entry<'env, E>>,
    free: Vec<usize>,
    queue: Arc<ReadyQueue>,
}

impl<'env, E> Arena<'env, E> {
    pub(crate) fn new(queue: Arc<ReadyQueue>) -> Self {
        Self { entries: Vec::new(), free: Vec::new(), queue }
    }

    /// Reserves a slot for a new child: its index and its waker.
    pub(crate) fn reserve(&mut self) -> (usize, Arc<ChildWaker>) {
        if let Some(i) = self.free.pop() {
            let e = &mut self.entries[i];
            // The waker is reused only if no clone of it survived the previous child (a stale
            // clone would wake the new child spuriously, which is harmless but wasteful).
            let wake = match e.wake.take() {
                Some(w) if Arc::strong_count(&w) == 1 => {
                    w.unqueue();
                    w
                }
                _ => ChildWaker::new(i, self.queue.clone()),
            };
            e.wake = Some(wake.clone());
            e.occupied = true;
            return (i, wake);
        }
        let i = self.entries.len();
        let wake = ChildWaker::new(i, self.queue.clone());
        self.entries.push(Entry { task: None, occupied: true, wake: Some(wake.clone()) });
        (i, wake)
    }

    /// Frees a slot whose task has been taken out.
    pub(crate) fn release(&mut self, i: usize) {
        let e = &mut self.entries[i];
        debug_assert!(e.task.is_none());
        e.occupied = false;
        self.free.push(i);
    }

    /// Takes a queued child out to poll it, with its waker: `None` if the slot is free or
    /// already out.
    pub(crate) fn take_for_poll(&mut self, i: usize) -> Option<(BoxedChild<'env, E>, Arc<ChildWaker>)> {
        let e = self.entries.get_mut(i)?;
        let task = e.task.take()?;
        // Moved out and back (`put_back`) rather than cloned: no reference-count traffic.
        let wake = e.wake.take().expect("taskscope: a queued local child has its waker");
        wake.unqueue();
        Some((task, wake))
    }

    /// Puts a polled child (if still pending) and its waker back; frees the slot otherwise.
    pub(crate) fn put_back(&mut self, i: usize, task: Option<BoxedChild<'env, E>>, wake: Arc<ChildWaker>) {
        let e = &mut self.entries[i];
        e.wake = Some(wake);
        match task {
            Some(task) => e.task = Some(task),
            None => self.release(i),
        }
    }

    /// Takes out every child for which `pick` is true, freeing their slots.
    pub(crate) fn take_where(
        &mut self,
        mut pick: impl FnMut(&BoxedChild<'env, E>) -> bool,
    ) -> Vec<BoxedChild<'env, E>> {
        let mut out = Vec::new();
        for i in 0..self.entries.len() {
            if self.entries[i].task.as_ref().is_some_and(&mut pick) {
                out.extend(self.entries[i].task.take());
                self.release(i);
            }
        }
        out
    }
}

/// The arena is empty by the time it drops: the driver stops every child before it lets go
/// of the scope (on finishing, every child has finished; on being dropped, it stops them all,
/// also when user code panics on the way), and spawns are refused from then on (S4). A child
/// still here (only while a panic unwinds) has its future dropped in place now, as its handle
/// may keep the node it lives in (P3).
impl<E> Drop for Arena<'_, E> {
    fn drop(&mut self) {
        for e in self.entries.drain(..) {
            let Entry { task, wake, .. } = e;
            debug_assert!(
                task.is_none() || std::thread::panicking(),
                "taskscope: a local scope's arena dropped with a live child"
            );
            if let Some(task) = task {
                task.as_ref().discard();
            }
            if let Some(wake) = wake {
                ChildWaker::recycle(wake);
            }
        }
    }
}

#[cfg(all(test, not(taskscope_loom)))]
mod tests {
    use std::sync::Arc;

    use super::{Arena, POOL_CAP, ReadyQueue, WAKER_POOL};
    use crate::{BoxError, LocalScope, local_scope};

    fn spares() -> usize {
        WAKER_POOL.with(|p| p.borrow().len())
    }

    fn run_scope_with(children: usize) {
        futures_lite::future::block_on(local_scope(async |s: &LocalScope<'_, BoxError>| {
            for _ in 0..children {
                s.spawn(async { Ok(()) });
            }
            Ok(())
        }))
        .unwrap();
    }

    /// A finished scope leaves its children's wakers to the thread as spares, up to the cap,
    /// and the next scope's children take them instead of allocating.
    #[test]
    fn finished_scopes_leave_their_wakers_as_spares_up_to_the_cap() {
        assert_eq!(spares(), 0);
        run_scope_with(8);
        let after = spares();
        assert!(after >= 8, "expected at least the 8 children's wakers as spares, got {after}");
        run_scope_with(8);
        assert_eq!(spares(), after, "the second scope took its wakers from the spares");
        run_scope_with(POOL_CAP + 10);
        assert_eq!(spares(), POOL_CAP);
    }

    /// A freed slot is reused by the next child, with its waker when nothing else holds it.
    #[test]
    fn a_freed_slot_and_its_unshared_waker_are_reused() {
        let mut arena: Arena<'_, BoxError> = Arena::new(Arc::new(ReadyQueue::default()));
        let (i, wake) = arena.reserve();
        let first = Arc::downgrade(&wake);
        drop(wake);
        arena.release(i);
        let (j, wake) = arena.reserve();
        assert_eq!(j, i);
        let reused = first.upgrade().expect("the unshared waker was dropped instead of reused");
        assert!(Arc::ptr_eq(&reused, &wake));
    }

    /// A waker a previous child's clone still holds is not given to the next child of its slot.
    #[test]
    fn a_waker_still_held_elsewhere_is_not_reused() {
        let mut arena: Arena<'_, BoxError> = Arena::new(Arc::new(ReadyQueue::default()));
        let (i, stale) = arena.reserve();
        arena.release(i);
        let (j, wake) = arena.reserve();
        assert_eq!(j, i);
        assert!(!Arc::ptr_eq(&stale, &wake));
    }
}
