//! A scope's child slots (S1, C1, C3, C8, C9): the state a child's task and its handle share
//! while the child runs, kept in a per-scope table of 24-byte slots instead of a per-child
//! allocation, and the cancellation walk over it.
//!
//! # One word per child
//!
//! A [`Slot`] is one state word plus a cell for the task's waker. The word's bits:
//!
//! | bit | name | meaning |
//! |---|---|---|
//! | 0 | `TASK` | the child's task holds the slot ([`TaskSlot`]) |
//! | 1 | `HANDLE` | a handle holds the slot ([`HandleSlot`]) |
//! | 2 | `LOCK` | the holder of this bit owns the waker cell |
//! | 3 | `WAKER` | the waker cell holds the task's waker |
//! | 4 | `WAKE_REQ` | a canceller found `LOCK` taken: the holder wakes the task when it unlocks |
//! | 5 | `CANCEL` | the handle cancelled the child (C9) |
//! | 6 | `SHIELDED` | set at claim (C8): the walk skips the slot unless the owner is gone (C3) |
//! | 7 | `KEPT` | the child ended while its handle was alive, and left its end for it |
//! | 8..=10 | state | 0 while running, then the terminal state, written once by the task |
//! | 11..=14 | index | the slot's index in its segment, written at claim |
//!
//! # Invariants (the premises of every `unsafe` block here)
//!
//! 1. A slot is *held* while its word has one of `TASK`, `HANDLE`, `LOCK`. Whoever clears the
//!    last of them, in one read-modify-write, releases the slot: one unit of its segment's
//!    `refs`. `TASK` and `HANDLE` are owned by the [`TaskSlot`] and [`HandleSlot`] values
//!    [`Table::claim`] returns, and cleared only by consuming or dropping them; `LOCK` is
//!    taken and cleared within one call of this module. So a party that holds a bit may
//!    dereference the slot (and its segment).
//! 2. A segment is freed only by the `refs` decrement that reaches 0. `refs` starts at
//!    `SLOTS + 1`: a unit per slot (released by the slot's release, or, for a slot never
//!    claimed, by the table's drop) and the table's own unit (released by the table's drop).
//!    So while the table is alive it frees no segment, and its own pointers, the walk's
//!    included, stay valid; a segment outlives the table as long as a handle holds one of
//!    its slots.
//! 3. Only the holder of `LOCK` (taken by a read-modify-write that found it clear) touches the
//!    waker cell, except a segment's reset, which runs when no slot of it is held.
//! 4. A segment is reused (reset and made current again) only while the table's `grow` lock is
//!    held, only when it is full and every slot of it has been released (`refs == 1`): no
//!    [`TaskSlot`] or [`HandleSlot`] points into it then. A claim that read the segment as
//!    current before it filled may still increment its `next` at any time: that either finds
//!    it full (and goes to the lock) or, after the reset, claims a fresh slot of it, which is
//!    a correct claim (the reset's `next` store is `Release`, the claim's increment `Acquire`).
//!
//! # What a caller must guarantee
//!
//! A canceller's walk reads the claimed slots with plain loads: every claim that precedes a
//! walk must happen-before it. The scope claims a slot while holding its `state` lock, in the
//! critical section that admits the child, and an abort closes the scope under that lock
//! before it walks; a claim that comes later is refused (or, for a shielded child, skipped
//! by the walk anyway). With no such lock, the claim's store and the walk's load would be the
//! store-buffering pattern, and a child claimed concurrently could miss the abort.
//!
//! # Lock order and wake-ups
//!
//! A canceller first publishes its reason (the scope's `aborted`, the handle's `CANCEL` bit
//! set in the same read-modify-write, or `owner_gone`), then locks the slot with a
//! read-modify-write that also sets `WAKE_REQ`. The task registers its waker under `LOCK`
//! and, when it unlocks, learns whether a canceller came meanwhile; a canceller that finds no
//! waker and no lock has a read-modify-write that the task's next lock will read, so the
//! task's check of the reason after it registers sees it. No wake-up is lost, with no
//! `SeqCst` pairing (`tests` below and the loom models check it). The walk holds the `grow`
//! lock, a leaf lock: nothing else is locked under it, and no waker is woken under it.

use std::fmt;
use std::ptr::NonNull;
use std::task::Waker;

use crate::sync::{AtomicUsize, Mutex, Ordering, UnsafeCell};
// A segment's bookkeeping (the current segment, its next index, its units) is reference
// counting, like an `Arc`'s, and stays std's under loom, as `Arc` does (see `sync.rs`): the
// models explore the slot words, where the wake-ups are decided; Miri and the threaded tests
// below cover the bookkeeping.
use crate::util::lock;
use std::sync::atomic::{AtomicPtr, AtomicUsize as Count};

/// Slots per segment: the allocation unit of a table (16 × 24 B plus two counters).
pub(crate) const SLOTS: usize = 16;

const TASK: usize = 1 << 0;
const HANDLE: usize = 1 << 1;
const LOCK: usize = 1 << 2;
const WAKER: usize = 1 << 3;
const WAKE_REQ: usize = 1 << 4;
const CANCEL: usize = 1 << 5;
const SHIELDED: usize = 1 << 6;
const KEPT: usize = 1 << 7;
const STATE_SHIFT: u32 = 8;
const STATE_MASK: usize = 0b111 << STATE_SHIFT;
const INDEX_SHIFT: u32 = 11;
const INDEX_MASK: usize = 0b1111 << INDEX_SHIFT;
const HOLDERS: usize = TASK | HANDLE | LOCK;

const _: () = assert!(SLOTS <= (INDEX_MASK >> INDEX_SHIFT) + 1);

/// One child's shared state: see the module's table of bits.
struct Slot {
    word: AtomicUsize,
    waker: UnsafeCell<Option<Waker>>,
}

/// `SLOTS` slots and their counters. `repr(C)` with the slots first: a slot's address minus
/// its index times the slot size is the segment's address.
#[repr(C)]
struct Segment {
    slots: [Slot; SLOTS],
    /// The next index to claim; past `SLOTS` once full (claims that lost the race add more).
    next: Count,
    /// Units still held: see invariant 2.
    refs: Count,
}

impl Segment {
    fn new() -> Self {
        Self {
            slots: std::array::from_fn(|_| Slot { word: AtomicUsize::new(0), waker: UnsafeCell::new(None) }),
            next: Count::new(0),
            refs: Count::new(SLOTS + 1),
        }
    }
}

/// A segment pointer as the table keeps it.
#[derive(Clone, Copy, PartialEq, Eq)]
struct SegPtr(NonNull<Segment>);

// SAFETY: a `SegPtr` is only an address; what may be done through it is governed by the
// module's invariants, which do not depend on the thread (a segment's fields are atomics, and
// the waker cell is reached only under `LOCK`, whose read-modify-writes order the accesses).
#[allow(unsafe_code)]
unsafe impl Send for SegPtr {}

impl SegPtr {
    /// Allocates a fresh segment; freed by [`SegPtr::release`] reaching 0.
    fn alloc() -> Self {
        Self(NonNull::from(Box::leak(Box::new(Segment::new()))))
    }

    fn get(&self) -> &Segment {
        // SAFETY: only called by the table on segments in its list, which it does not free
        // while alive (invariant 2), or by a slot holder on its own segment (invariant 1).
        #[allow(unsafe_code)]
        unsafe {
            self.0.as_ref()
        }
    }

    fn slot(self, index: usize) -> SlotPtr {
        assert!(index < SLOTS);
        // SAFETY: `index < SLOTS`, so the offset stays inside the segment's allocation; the
        // pointer keeps the provenance of the whole allocation (raw pointer arithmetic, no
        // intermediate reference), so `SlotPtr::segment` may step back from it.
        #[allow(unsafe_code)]
        SlotPtr(unsafe { NonNull::new_unchecked(self.0.as_ptr().cast::<Slot>().add(index)) })
    }

    /// Gives back `units` of the segment's `refs`, freeing it if they were the last.
    fn release(self, units: usize) {
        if units == 0 {
            return;
        }
        if self.get().refs.fetch_sub(units, Ordering::AcqRel) == units {
            // SAFETY: the decrement reached 0: every unit is given back, so no slot is held, the
            // table is gone (its unit is among them), and nobody else can reach the segment
            // (invariant 2). It was allocated by `SegPtr::alloc` with `Box`.
            #[allow(unsafe_code)]
            drop(unsafe { Box::from_raw(self.0.as_ptr()) });
        }
    }
}

/// A pointer to one slot, valid while its owner holds a bit of the slot (invariant 1).
#[derive(Clone, Copy)]
struct SlotPtr(NonNull<Slot>);

impl SlotPtr {
    fn get(&self) -> &Slot {
        // SAFETY: every `SlotPtr` in this module is used by a party that holds a bit of the
        // slot (`TaskSlot`, `HandleSlot`, or a `LOCK` taken within the call), or by the walk
        // under the table's lock: the segment is alive (invariants 1, 2).
        #[allow(unsafe_code)]
        unsafe {
            self.0.as_ref()
        }
    }

    fn segment(self, word: usize) -> SegPtr {
        let index = (word & INDEX_MASK) >> INDEX_SHIFT;
        // SAFETY: the index bits were written at claim from the index this pointer was made
        // with (`SegPtr::slot`), and never change: stepping back `index` slots gives the
        // segment's first slot, which is the segment's address (`repr(C)`, slots first), with
        // the provenance of the whole allocation.
        #[allow(unsafe_code)]
        SegPtr(unsafe { NonNull::new_unchecked(self.0.as_ptr().sub(index).cast::<Segment>()) })
    }

    /// Releases the slot: called by whoever cleared the last holder bit, with the word it left.
    fn release(self, word: usize) {
        debug_assert_eq!(word & HOLDERS, 0);
        self.segment(word).release(1);
    }

    /// Takes the stored waker. Only for the holder of `LOCK` that saw `WAKER`.
    fn take_waker(&self) -> Option<Waker> {
        // SAFETY: the caller holds `LOCK` (invariant 3): no one else touches the cell now.
        #[allow(unsafe_code)]
        self.get().waker.with_mut(|w| unsafe { (*w).take() })
    }

    /// A canceller: sets `flags` with `LOCK` and `WAKE_REQ` in one read-modify-write, then,
    /// if it got the lock, takes the task's waker and unlocks. Returns the waker to wake (the
    /// caller wakes it outside any lock) and whether the task still held the slot.
    ///
    /// The caller holds the slot (a handle) or the table's `grow` lock (the walk), so the
    /// memory is valid; a slot found released (no holder bit) is only unlocked again, never
    /// released a second time, and cannot be reset meanwhile (resets take `grow`).
    fn cancel_take(self, flags: usize) -> (Option<Waker>, bool) {
        let word = &self.get().word;
        let prev = word.fetch_or(flags | LOCK | WAKE_REQ, Ordering::AcqRel);
        if prev & LOCK != 0 {
            // The task (registering or ending) or another canceller holds the lock: the task
            // sees WAKE_REQ when it unlocks and wakes itself; a canceller takes the waker.
            return (None, prev & TASK != 0);
        }
        let waker = if prev & WAKER != 0 { self.take_waker() } else { None };
        let now = word.fetch_and(!(LOCK | WAKER | WAKE_REQ), Ordering::AcqRel) & !(LOCK | WAKER | WAKE_REQ);
        // Released by this unlock only if this lock made the canceller a holder of a held slot.
        if prev & (TASK | HANDLE) != 0 && now & HOLDERS == 0 {
            self.release(now);
        }
        (waker, prev & TASK != 0)
    }

    /// [`cancel_take`](Self::cancel_take), waking the task at once. `false` if the task had
    /// already let go of the slot.
    fn cancel(self, flags: usize) -> bool {
        let (waker, live) = self.cancel_take(flags);
        if let Some(waker) = waker {
            waker.wake();
        }
        live
    }
}

/// The task's side of a slot: holds `TASK` until [`TaskSlot::complete`] (or its drop).
pub(crate) struct TaskSlot(SlotPtr);

/// The handle's side of a slot: holds `HANDLE` until dropped or [`HandleSlot::release`]d.
pub(crate) struct HandleSlot(SlotPtr);

// SAFETY: the slot is reached through atomics, and its waker cell only under `LOCK`
// (invariant 3); the memory is valid while the bit is held (invariant 1), on any thread.
#[allow(unsafe_code)]
unsafe impl Send for TaskSlot {}
// SAFETY: see `Send` above: every method takes `&self` and goes through the atomic word.
#[allow(unsafe_code)]
unsafe impl Sync for TaskSlot {}
// SAFETY: as for `TaskSlot`.
#[allow(unsafe_code)]
unsafe impl Send for HandleSlot {}
// SAFETY: as for `TaskSlot`.
#[allow(unsafe_code)]
unsafe impl Sync for HandleSlot {}

impl fmt::Debug for TaskSlot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskSlot").field("word", &format_args!("{:#x}", self.word())).finish()
    }
}

impl fmt::Debug for HandleSlot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HandleSlot")
            .field("word", &format_args!("{:#x}", self.0.get().word.load(Ordering::Relaxed)))
            .finish()
    }
}

/// The task's hold on `LOCK` during a registration: unlocks when dropped (also if the
/// runtime's `Waker::clone` unwinds), so a slot is never left locked.
struct Unlock<'a> {
    slot: &'a Slot,
    /// Whether `WAKER` was set when the task locked (only the lock holder changes it).
    had_waker: bool,
}

impl Unlock<'_> {
    /// Unlocks in one read-modify-write that also makes `WAKER` say whether the cell holds
    /// a waker, so a canceller that locks next sees the waker (`WAKER` is set exactly while
    /// the cell holds one, outside `LOCK`). Returns whether a canceller came meanwhile.
    fn unlock(self) -> bool {
        let this = std::mem::ManuallyDrop::new(self);
        Self::release(&this)
    }

    fn release(&self) -> bool {
        // SAFETY: the holder of `LOCK` (this guard's owner) reads the cell (invariant 3).
        #[allow(unsafe_code)]
        let has = self.slot.waker.with_mut(|cell| unsafe { (*cell).is_some() });
        // `LOCK` is set (ours) and `WAKER` is `had_waker`: toggling flips exactly those bits.
        let toggle = LOCK | if has != self.had_waker { WAKER } else { 0 };
        let prev = self.slot.word.fetch_xor(toggle, Ordering::AcqRel);
        if prev & WAKE_REQ == 0 {
            return false;
        }
        // Only a lock holder reads WAKE_REQ: clearing it after the unlock affects nobody.
        self.slot.word.fetch_and(!WAKE_REQ, Ordering::Relaxed);
        true
    }
}

impl Drop for Unlock<'_> {
    fn drop(&mut self) {
        self.release();
    }
}

/// How a child's end met its handle, from [`TaskSlot::complete`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Completed {
    /// The handle was alive and the end is kept for it (`KEPT` is set).
    pub(crate) kept: bool,
}

impl TaskSlot {
    fn word(&self) -> usize {
        self.0.get().word.load(Ordering::Acquire)
    }

    /// Whether the handle cancelled the child (C9).
    pub(crate) fn is_cancelled(&self) -> bool {
        self.word() & CANCEL != 0
    }

    /// Whether the child was claimed shielded (C8).
    #[cfg(all(test, not(taskscope_loom)))]
    pub(crate) fn is_shielded(&self) -> bool {
        self.word() & SHIELDED != 0
    }

    /// Stores the task's waker, at a `Pending` (lazy registration: a child that never waits
    /// is never registered). Returns `true` if a canceller came while the waker was being
    /// stored: the caller wakes the task. The caller checks its cancel reasons after this
    /// call either way (see the module's "Lock order and wake-ups").
    pub(crate) fn register(&self, waker: &Waker) -> bool {
        let slot = self.0.get();
        let prev = slot.word.fetch_or(LOCK, Ordering::AcqRel);
        if prev & LOCK != 0 {
            // A canceller holds the lock, so its reason is published (its read-modify-write
            // came first and this one read it; setting a set bit changed nothing): wake the
            // task to look at it again.
            return true;
        }
        // Unlocks even if the runtime's `Waker::clone` unwinds, so a panicking clone never
        // leaves the slot locked.
        let unlock = Unlock { slot, had_waker: prev & WAKER != 0 };
        // SAFETY: this call took `LOCK` above (invariant 3), and keeps it until `unlock` goes.
        #[allow(unsafe_code)]
        let old = slot.waker.with_mut(|cell| match unsafe { &mut *cell } {
            Some(old) if old.will_wake(waker) => None,
            cell => cell.replace(waker.clone()),
        });
        let woken = unlock.unlock();
        // The replaced waker is the runtime's code: dropped outside the lock.
        drop(old);
        woken
    }

    /// The child ended with `state` (non-zero, below 8): writes it, sets `KEPT` if `keep` and
    /// the handle is still alive, and lets go of the slot. The stored waker is dropped here,
    /// unless a canceller holding `LOCK` takes it.
    pub(crate) fn complete(self, state: u8, keep: bool) -> Completed {
        let slot = self.0;
        std::mem::forget(self);
        Self::end(slot, state, keep)
    }

    fn end(slot: SlotPtr, state: u8, keep: bool) -> Completed {
        assert!(state != 0 && state < 8, "taskscope: a terminal state is 1..=7");
        let word = &slot.get().word;
        // A waker is taken under `LOCK`; a child that never waited has none, and nobody but
        // this task stores one, so it skips the lock.
        let mut waker = None;
        let mut toggle = TASK | ((state as usize) << STATE_SHIFT) | if keep { KEPT } else { 0 };
        if word.load(Ordering::Acquire) & WAKER != 0 {
            let prev = word.fetch_or(LOCK, Ordering::AcqRel);
            if prev & LOCK == 0 {
                // Ours: take the waker and unlock in the final update. (Under a canceller's
                // lock the canceller takes it.)
                waker = if prev & WAKER != 0 { slot.take_waker() } else { None };
                toggle |= LOCK | (prev & WAKER);
            }
        }
        // TASK, our LOCK and WAKER are set, the state bits and KEPT are clear: toggling them
        // is one read-modify-write. `KEPT` set while the handle is already gone is read by
        // nobody: what counts is `HANDLE` in the word this update replaced.
        let prev = word.fetch_xor(toggle, Ordering::AcqRel);
        let now = prev ^ toggle;
        if now & HOLDERS == 0 {
            slot.release(now);
        }
        drop(waker);
        Completed { kept: keep && prev & HANDLE != 0 }
    }
}

impl Drop for TaskSlot {
    /// A task that ends without [`TaskSlot::complete`] (its owner unwound) leaves the child
    /// cancelled.
    fn drop(&mut self) {
        Self::end(self.0, CANCELLED_STATE, false);
    }
}

/// The state [`TaskSlot`]'s drop writes: core's "cancelled".
const CANCELLED_STATE: u8 = super::handle::CANCELLED;

impl HandleSlot {
    fn word(&self) -> usize {
        self.0.get().word.load(Ordering::Acquire)
    }

    /// The child's terminal state, or 0 while it runs.
    pub(crate) fn state(&self) -> u8 {
        ((self.word() & STATE_MASK) >> STATE_SHIFT) as u8
    }

    /// Cancels the child (C9): sets `CANCEL` and wakes the task if it waits. `false` if it
    /// had already ended.
    pub(crate) fn cancel(&self) -> bool {
        self.0.cancel(CANCEL)
    }

    /// Lets go of the slot; returns whether the child's end was kept for this handle.
    pub(crate) fn release(self) -> bool {
        let slot = self.0;
        std::mem::forget(self);
        Self::drop_bit(slot)
    }

    fn drop_bit(slot: SlotPtr) -> bool {
        let prev = slot.get().word.fetch_and(!HANDLE, Ordering::AcqRel);
        let after = prev & !HANDLE;
        if after & HOLDERS == 0 {
            slot.release(after);
        }
        prev & KEPT != 0
    }
}

impl Drop for HandleSlot {
    fn drop(&mut self) {
        Self::drop_bit(self.0);
    }
}

/// The segments, behind the lock that grows, reuses and walks them.
struct Segments {
    all: Vec<SegPtr>,
    /// Where the next search for a reusable segment starts (round robin).
    cursor: usize,
}

/// A scope's slot table: claims are lock-free while the current segment has room.
pub(crate) struct Table {
    cur: AtomicPtr<Segment>,
    grow: Mutex<Segments>,
}

impl fmt::Debug for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Table").field("segments", &lock(&self.grow).all.len()).finish()
    }
}

impl Default for Table {
    fn default() -> Self {
        Self::new()
    }
}

/// How many full segments a grow looks at for one it can reuse before it allocates.
const REUSE_PROBES: usize = 4;

impl Table {
    /// An empty table: its first claim allocates the first segment.
    pub(crate) fn new() -> Self {
        Self { cur: AtomicPtr::new(std::ptr::null_mut()), grow: Mutex::new(Segments { all: Vec::new(), cursor: 0 }) }
    }

    /// How many segments the table has allocated.
    #[cfg(all(test, not(taskscope_loom)))]
    pub(crate) fn segments(&self) -> usize {
        lock(&self.grow).all.len()
    }

    /// Claims a slot for a new child: both sides of it, the task's and the handle's.
    pub(crate) fn claim(&self, shielded: bool) -> (TaskSlot, HandleSlot) {
        loop {
            let seen = self.cur.load(Ordering::Acquire);
            if let Some(seg) = NonNull::new(seen).map(SegPtr) {
                let index = seg.get().next.fetch_add(1, Ordering::Acquire);
                if index < SLOTS {
                    let slot = seg.slot(index);
                    let word = TASK | HANDLE | (index << INDEX_SHIFT) | if shielded { SHIELDED } else { 0 };
                    slot.get().word.store(word, Ordering::Release);
                    return (TaskSlot(slot), HandleSlot(slot));
                }
            }
            self.grow(seen);
        }
    }

    /// Makes a segment with room current, unless another claim already did.
    fn grow(&self, seen: *mut Segment) {
        let mut segs = lock(&self.grow);
        let cur = self.cur.load(Ordering::Relaxed);
        // `seen` may have filled, been reset and been made current again meanwhile (ABA): grow
        // only if the current segment really is full.
        if cur != seen || NonNull::new(cur).is_some_and(|c| SegPtr(c).get().next.load(Ordering::Relaxed) < SLOTS) {
            return;
        }
        let n = segs.all.len();
        for _ in 0..REUSE_PROBES.min(n) {
            let seg = segs.all[segs.cursor % n];
            segs.cursor = (segs.cursor + 1) % n;
            let s = seg.get();
            // Full (every non-current segment is) and every slot released: no holder points
            // into it (invariant 4).
            if seg.0.as_ptr() != seen && s.refs.load(Ordering::Acquire) == 1 {
                for slot in &s.slots {
                    slot.word.store(0, Ordering::Relaxed);
                    // SAFETY: no slot of the segment is held (refs == 1 is the table's unit
                    // alone), and we hold `grow`: nothing else reaches the cell (invariant 3).
                    #[allow(unsafe_code)]
                    let old = slot.waker.with_mut(|w| unsafe { (*w).take() });
                    debug_assert!(old.is_none(), "a released slot keeps no waker");
                }
                s.refs.store(SLOTS + 1, Ordering::Relaxed);
                s.next.store(0, Ordering::Release);
                self.cur.store(seg.0.as_ptr(), Ordering::Release);
                return;
            }
        }
        let seg = SegPtr::alloc();
        segs.all.push(seg);
        self.cur.store(seg.0.as_ptr(), Ordering::Release);
    }

    /// Cancels every claimed child whose task still holds its slot: wakes each registered one
    /// once. Shielded children (C8) are skipped unless `owner_gone` (C3). The caller
    /// published its reason first (`aborted`, `owner_gone`). Returns how many slots it woke
    /// or flagged.
    pub(crate) fn cancel_all(&self, owner_gone: bool) -> usize {
        let mut wakers = Vec::new();
        let mut reached = 0;
        {
            let segs = lock(&self.grow);
            for seg in &segs.all {
                let claimed = seg.get().next.load(Ordering::Acquire).min(SLOTS);
                for index in 0..claimed {
                    let slot = seg.slot(index);
                    let w = slot.get().word.load(Ordering::Acquire);
                    if w & TASK == 0 || (w & SHIELDED != 0 && !owner_gone) {
                        continue;
                    }
                    // The segment stays alive: the table's unit is still held (invariant 2).
                    if let (Some(waker), _) = slot.cancel_take(0) {
                        wakers.push(waker);
                    }
                    reached += 1;
                }
            }
        }
        // Woken outside the lock: a waker is the runtime's code.
        for waker in wakers {
            waker.wake();
        }
        reached
    }
}

impl Drop for Table {
    fn drop(&mut self) {
        let segs = std::mem::take(&mut lock(&self.grow).all);
        for seg in segs {
            let unclaimed = SLOTS - seg.get().next.load(Ordering::Acquire).min(SLOTS);
            seg.release(1 + unclaimed);
        }
    }
}

#[cfg(all(test, not(taskscope_loom)))]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::AtomicUsize as StdCount;
    use std::task::Wake;

    /// A waker that counts its wakes.
    struct Count(StdCount);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    fn counting() -> (Arc<Count>, Waker) {
        let c = Arc::new(Count(StdCount::new(0)));
        (c.clone(), Waker::from(c))
    }

    #[test]
    fn a_slot_is_24_bytes() {
        assert_eq!(std::mem::size_of::<Slot>(), 24);
        assert_eq!(std::mem::size_of::<TaskSlot>(), 8);
    }

    #[test]
    fn a_child_ended_with_its_handle_alive_keeps_its_end_for_it() {
        let table = Table::new();
        let (task, handle) = table.claim(false);
        assert_eq!(handle.state(), 0);
        assert_eq!(task.complete(2, true), Completed { kept: true });
        assert_eq!(handle.state(), 2);
        assert!(handle.release());
    }

    #[test]
    fn a_child_ended_after_its_handle_went_keeps_nothing() {
        let table = Table::new();
        let (task, handle) = table.claim(false);
        assert!(!handle.release());
        assert_eq!(task.complete(2, true), Completed { kept: false });
    }

    #[test]
    fn a_handle_cancel_wakes_the_registered_task_once() {
        let table = Table::new();
        let (task, handle) = table.claim(false);
        let (count, waker) = counting();
        assert!(!task.register(&waker));
        assert!(handle.cancel());
        assert!(task.is_cancelled());
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        // The waker was taken: a second cancel has nothing to wake.
        assert!(handle.cancel());
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        task.complete(CANCELLED_STATE, true);
        assert!(!handle.cancel(), "the task let go of its slot");
    }

    #[test]
    fn the_walk_skips_shielded_children_unless_the_owner_is_gone() {
        let table = Table::new();
        let (plain, _h1) = table.claim(false);
        let (shielded, _h2) = table.claim(true);
        let ((c1, w1), (c2, w2)) = (counting(), counting());
        plain.register(&w1);
        shielded.register(&w2);
        assert!(shielded.is_shielded() && !plain.is_shielded());
        assert_eq!(table.cancel_all(false), 1);
        assert_eq!((c1.0.load(Ordering::SeqCst), c2.0.load(Ordering::SeqCst)), (1, 0));
        shielded.register(&w2);
        assert_eq!(table.cancel_all(true), 2);
        assert_eq!(c2.0.load(Ordering::SeqCst), 1);
        drop((plain, shielded));
    }

    #[test]
    fn an_unregistered_child_is_reached_but_not_woken() {
        let table = Table::new();
        let (task, _handle) = table.claim(false);
        assert_eq!(table.cancel_all(false), 1);
        let (count, waker) = counting();
        // No canceller holds the lock now: the registration goes through, and the caller's
        // check of its reason (the scope's `aborted`) is what stops the child.
        assert!(!task.register(&waker));
        assert_eq!(count.0.load(Ordering::SeqCst), 0);
        drop(task);
    }

    #[test]
    fn registering_the_same_waker_twice_keeps_one() {
        let table = Table::new();
        let (task, handle) = table.claim(false);
        let (count, waker) = counting();
        task.register(&waker);
        task.register(&waker);
        // Ours, the local waker and one stored clone.
        assert_eq!(Arc::strong_count(&count), 3, "one clone stored");
        drop(task);
        assert_eq!(Arc::strong_count(&count), 2, "the stored waker goes with the task");
        assert_eq!(handle.state(), CANCELLED_STATE);
    }

    #[test]
    fn segments_fill_then_are_reused_once_released() {
        let table = Table::new();
        for _ in 0..10 {
            let claims: Vec<_> = (0..SLOTS * 3).map(|_| table.claim(false)).collect();
            for (task, handle) in claims {
                drop(handle);
                task.complete(1, false);
            }
        }
        let n = lock(&table.grow).all.len();
        assert!(n <= 4 + 1, "{n} segments for at most {} live slots", SLOTS * 3);
    }

    #[test]
    fn handles_outlive_their_table() {
        let table = Table::new();
        let mut handles = Vec::new();
        for _ in 0..SLOTS + 3 {
            let (task, handle) = table.claim(false);
            task.complete(3, true);
            handles.push(handle);
        }
        drop(table);
        for h in handles {
            assert_eq!(h.state(), 3);
            assert!(h.release());
        }
    }

    #[test]
    fn a_table_dropped_with_tasks_still_holding_slots() {
        let table = Table::new();
        let (task, handle) = table.claim(false);
        drop(table);
        drop(handle);
        task.complete(1, false);
    }

    /// A claim that saw the current segment full reaches `grow` only after that segment was
    /// released, reset and made current again: it must not replace it (the ABA case), or the
    /// fresh segment's free slots would be stranded until the table drops.
    #[test]
    fn a_stale_grow_keeps_a_reset_segment() {
        let table = Table::new();
        let done = |(t, h): (TaskSlot, HandleSlot)| {
            drop(h);
            t.complete(1, false);
        };
        for _ in 0..20 {
            done(table.claim(false));
            let seen = table.cur.load(Ordering::Acquire);
            let next = |s: *mut Segment| SegPtr(NonNull::new(s).unwrap()).get().next.load(Ordering::Acquire);
            let mut held = Vec::new();
            while next(seen) < SLOTS {
                held.push(table.claim(false));
            }
            held.into_iter().for_each(done);
            // Other claims until a grow reuses `seen`.
            let mut n = 0;
            while !(table.cur.load(Ordering::Acquire) == seen && next(seen) < SLOTS) {
                done(table.claim(false));
                n += 1;
                assert!(n < 10_000, "the segment was never reused");
            }
            // The stale claim resumes.
            table.grow(seen);
            assert_eq!(table.cur.load(Ordering::Acquire), seen, "a segment with free slots was replaced");
        }
        assert!(table.segments() <= 3, "{} segments with no live child", table.segments());
    }

    /// A runtime's `Waker::clone` that unwinds leaves the slot unlocked: later registrations
    /// work, and the slot is released when both sides let go.
    #[test]
    fn a_panicking_waker_clone_leaves_the_slot_unlocked() {
        fn raw() -> std::task::RawWaker {
            static VT: std::task::RawWakerVTable =
                std::task::RawWakerVTable::new(|_| panic!("clone"), |_| {}, |_| {}, |_| {});
            std::task::RawWaker::new(std::ptr::null(), &VT)
        }
        // SAFETY: the vtable's functions ignore the data pointer; `clone` panics, which is
        // what this test is about.
        #[allow(unsafe_code)]
        let bad = unsafe { Waker::from_raw(raw()) };
        let table = Table::new();
        let (task, handle) = table.claim(false);
        let slot = task.0;
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| task.register(&bad)));
        assert!(r.is_err());
        assert_eq!(slot.get().word.load(Ordering::Acquire) & (LOCK | WAKER), 0);
        let (count, good) = counting();
        assert!(!task.register(&good), "no canceller came");
        assert!(handle.cancel());
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        task.complete(1, false);
        drop(handle);
        assert_eq!(table.segments(), 1);
    }

    /// Reuse under contention: resets race stale claims, the walk and handle drops on three
    /// threads, and the table stays near the peak of live slots.
    #[test]
    fn reuse_under_contention_stays_bounded() {
        let rounds = if cfg!(miri) { 10 } else { 20_000 };
        let table = Arc::new(Table::new());
        let threads: Vec<_> = (0..3)
            .map(|t| {
                let table = table.clone();
                std::thread::spawn(move || {
                    let (_count, waker) = counting();
                    for i in 0..rounds {
                        let batch: Vec<_> = (0..SLOTS / 2 + t).map(|_| table.claim(i % 3 == 0)).collect();
                        for (task, _) in &batch {
                            task.register(&waker);
                        }
                        if (i + t) % 2 == 0 {
                            table.cancel_all(i % 4 == 0);
                        }
                        for (k, (task, handle)) in batch.into_iter().enumerate() {
                            if k % 2 == 0 {
                                handle.cancel();
                                drop(handle);
                                task.complete(1, true);
                            } else {
                                let kept = task.complete(2, true);
                                assert_eq!(handle.release(), kept.kept);
                            }
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        // At most 27 slots live at once, over 60,000 batches: the table reuses segments (a
        // grow looks at four for one fully released, so a fragmented table holds some more
        // than the peak), it does not grow with the number of batches.
        assert!(table.segments() <= 64, "{} segments", table.segments());
    }

    /// Claims, registrations, cancels, completions and handle drops from several threads at
    /// once (also under Miri, with fewer rounds): every slot is released exactly once, so
    /// the segments are freed exactly once (Miri reports a leak or a double free otherwise).
    #[test]
    fn churn_across_threads() {
        let rounds = if cfg!(miri) { 20 } else { 2_000 };
        let table = Arc::new(Table::new());
        let threads: Vec<_> = (0..3)
            .map(|t| {
                let table = table.clone();
                std::thread::spawn(move || {
                    let (_count, waker) = counting();
                    for i in 0..rounds {
                        let (task, handle) = table.claim(i % 5 == 0);
                        let other = std::thread::spawn(move || {
                            if i % 2 == 0 {
                                handle.cancel();
                            }
                            handle
                        });
                        task.register(&waker);
                        if (i + t) % 7 == 0 {
                            table.cancel_all(i % 3 == 0);
                        }
                        let kept = task.complete(1 + (i % 5) as u8, true);
                        let handle = other.join().unwrap();
                        assert!(handle.state() != 0);
                        assert_eq!(handle.release(), kept.kept);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
    }
}

#[cfg(all(test, taskscope_loom))]
mod loom_models {
    use super::*;
    use loom::sync::Arc;
    use loom::sync::atomic::AtomicBool;
    use loom::thread;
    use std::sync::atomic::AtomicUsize as StdCount;
    use std::task::Wake;

    struct Count(StdCount);
    impl Wake for Count {
        fn wake(self: std::sync::Arc<Self>) {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    }
    fn counting() -> (std::sync::Arc<Count>, Waker) {
        let c = std::sync::Arc::new(Count(StdCount::new(0)));
        (c.clone(), Waker::from(c))
    }
    fn woken(c: &Count) -> usize {
        c.0.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// L1: a handle's cancel racing the task's first registration: the task sees the cancel
    /// when it checks after registering, or is woken.
    #[test]
    fn a_cancel_racing_the_first_registration_is_never_lost() {
        loom::model(|| {
            let table = Table::new();
            let (task, handle) = table.claim(false);
            let canceller = thread::spawn(move || {
                handle.cancel();
                handle
            });
            let (count, waker) = counting();
            let wake_now = task.register(&waker);
            let seen = task.is_cancelled();
            let handle = canceller.join().unwrap();
            assert!(wake_now || seen || woken(&count) > 0, "the cancel was lost");
            drop(task);
            drop(handle);
        });
    }

    /// L2: the scope's walk racing a registration: with the scope's flag published first, the
    /// task either sees it after registering or is woken.
    #[test]
    fn the_walk_racing_a_registration_is_never_lost() {
        loom::model(|| {
            let table = Arc::new(Table::new());
            let aborted = Arc::new(AtomicBool::new(false));
            let (task, handle) = table.claim(false);
            let (t, a) = (table.clone(), aborted.clone());
            let walker = thread::spawn(move || {
                a.store(true, Ordering::Release);
                t.cancel_all(false);
            });
            let (count, waker) = counting();
            let wake_now = task.register(&waker);
            let seen = aborted.load(Ordering::Acquire);
            walker.join().unwrap();
            assert!(wake_now || seen || woken(&count) > 0, "the abort was lost");
            drop((task, handle));
        });
    }

    /// L3/L4: the task's completion, the handle's drop and the table's drop race: the handle
    /// learns `kept` exactly when the task kept its end, and the segment is freed once
    /// (loom's leak check on the last `Arc`; a double free would fault).
    #[test]
    fn completion_handle_drop_and_table_drop_release_once() {
        loom::model(|| {
            let table = Table::new();
            let (task, handle) = table.claim(false);
            let h = thread::spawn(move || handle.release());
            let completed = task.complete(2, true);
            drop(table);
            let kept = h.join().unwrap();
            assert_eq!(kept, completed.kept);
        });
    }

    /// A cancel racing completion: the canceller either reaches the task before it ends or
    /// finds it gone, and the waker is dropped exactly once.
    #[test]
    fn a_cancel_racing_completion() {
        loom::model(|| {
            let table = Table::new();
            let (task, handle) = table.claim(false);
            let (count, waker) = counting();
            task.register(&waker);
            drop(waker);
            let c = thread::spawn(move || {
                handle.cancel();
                handle
            });
            task.complete(1, true);
            let handle = c.join().unwrap();
            assert!(handle.release());
            assert!(woken(&count) <= 1);
            assert_eq!(std::sync::Arc::strong_count(&count), 1, "the waker was kept or dropped twice");
        });
    }
}
