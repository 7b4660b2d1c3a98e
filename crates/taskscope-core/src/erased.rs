//! [`ErasedJoin`]: any runtime's [`RawJoin`] behind one type, stored inline.
//!
//! A `JoinHandle<T, E>` names neither the runtime nor its join type, yet must hold the
//! runtime's join without a second allocation. The join types core carries (tokio's
//! `JoinHandle`, async-executor's `FallibleTask`, [`DynJoin`](crate::DynJoin)) are one or two
//! words, so `ErasedJoin` stores the join in a two-word buffer and reaches it through a
//! `'static` table of functions monomorphized for its type. A bigger or more aligned join is
//! boxed first (the box is one word).

use std::fmt;
use std::marker::PhantomData;
use std::mem::{MaybeUninit, align_of, size_of};
use std::ptr::NonNull;
use std::task::{Context, Poll};

use crate::spawn::RawJoin;

/// The inline storage: two words, word-aligned.
type Buf = MaybeUninit<[usize; 2]>;

/// Whether a `J` can be stored in [`Buf`] itself.
const fn fits<J>() -> bool {
    size_of::<J>() <= size_of::<Buf>() && align_of::<J>() <= align_of::<Buf>()
}

/// A [`RawJoin<O>`] of any type, stored inline (or boxed, if it does not fit in two words).
///
/// Invariant, kept by this module's privacy: from [`new`](ErasedJoin::new) until `drop`,
/// `buf` holds exactly one valid value of the type `J` that `vt` was made for (`J` is the
/// caller's join, or `Box` of it), and nothing but `vt`'s functions reach it.
pub(crate) struct ErasedJoin<O> {
    buf: Buf,
    /// The table, a promoted constant: valid for the whole program. A raw pointer rather
    /// than a `&'static` reference, so that `ErasedJoin<O>` (and the `JoinHandle<T, E>` that
    /// holds one) needs no `O: 'static` bound to be named.
    vt: NonNull<JoinVt<O>>,
    /// Not `Send` or `Sync` by itself (the buffer hides `J`); see the `unsafe impl`s.
    _not_auto: PhantomData<*mut ()>,
}

/// The functions of one stored join type `J`. Each must be called with a pointer to a
/// [`Buf`] that holds a valid `J`.
struct JoinVt<O> {
    poll: unsafe fn(*mut Buf, &mut Context<'_>) -> Poll<Option<O>>,
    is_finished: unsafe fn(*const Buf) -> bool,
    drop: unsafe fn(*mut Buf),
}

/// # Safety
/// `buf` points to a [`Buf`] holding a valid `J`, which nothing else uses during the call.
unsafe fn poll<J: RawJoin<O>, O>(buf: *mut Buf, cx: &mut Context<'_>) -> Poll<Option<O>> {
    // SAFETY: the caller guarantees a valid, unaliased `J` at `buf`; `fits::<J>()` (checked
    // before the value was written there) makes the cast pointer aligned for `J`.
    let j = unsafe { &mut *buf.cast::<J>() };
    j.poll_join(cx)
}

/// # Safety
/// `buf` points to a [`Buf`] holding a valid `J`, not mutated during the call.
unsafe fn is_finished<J: RawJoin<O>, O>(buf: *const Buf) -> bool {
    // SAFETY: as in `poll`, for a shared reference.
    let j = unsafe { &*buf.cast::<J>() };
    j.is_finished()
}

/// # Safety
/// `buf` points to a [`Buf`] holding a valid `J`, which is never used again.
unsafe fn drop_join<J: RawJoin<O>, O>(buf: *mut Buf) {
    // SAFETY: the caller hands over the valid `J` at `buf` (aligned, as in `poll`) and never
    // touches it again, so it is dropped exactly once.
    unsafe { buf.cast::<J>().drop_in_place() }
}

/// A join too big or too aligned for [`Buf`], boxed: the box is one word.
struct Boxed<J>(Box<J>);

impl<O, J: RawJoin<O>> RawJoin<O> for Boxed<J> {
    fn poll_join(&mut self, cx: &mut Context<'_>) -> Poll<Option<O>> {
        self.0.poll_join(cx)
    }
    fn is_finished(&self) -> bool {
        self.0.is_finished()
    }
}

impl<O: 'static> ErasedJoin<O> {
    /// Stores `join` inline if it fits in two words, boxed otherwise.
    pub(crate) fn new<J: RawJoin<O>>(join: J) -> Self {
        if const { fits::<J>() } { Self::inline(join) } else { Self::inline(Boxed(Box::new(join))) }
    }

    /// Stores `join` in the buffer itself; `new` calls it only for a `J` that fits.
    fn inline<J: RawJoin<O>>(join: J) -> Self {
        // A constant per `J`, so this compiles to nothing where `new` calls it; a `const`
        // block cannot be used here, because the branch `new` does not take is compiled too.
        assert!(fits::<J>(), "ErasedJoin::inline: the join does not fit its buffer");
        let vt: &'static JoinVt<O> =
            const { &JoinVt { poll: poll::<J, O>, is_finished: is_finished::<J, O>, drop: drop_join::<J, O> } };
        let mut buf = Buf::uninit();
        // SAFETY: `buf` is a live local, valid for writes of `size_of::<Buf>()` bytes at the
        // alignment of `Buf`; the assertion above makes both enough for a `J`. The `J` is
        // moved in, and from here on owned by the buffer (see the type's invariant).
        unsafe { buf.as_mut_ptr().cast::<J>().write(join) };
        Self { buf, vt: NonNull::from(vt), _not_auto: PhantomData }
    }
}

impl<O> ErasedJoin<O> {
    fn vt(&self) -> &JoinVt<O> {
        // SAFETY: `vt` was made from a `&'static JoinVt<O>` (a promoted constant) in `inline`,
        // and is never written: the table lives, unchanged, for the whole program.
        unsafe { self.vt.as_ref() }
    }

    /// Polls the stored join: see [`RawJoin::poll_join`].
    pub(crate) fn poll_join(&mut self, cx: &mut Context<'_>) -> Poll<Option<O>> {
        // SAFETY: by the type's invariant `buf` holds a valid `J` of `vt`'s type; `&mut self`
        // makes the access exclusive.
        unsafe { (self.vt().poll)(&mut self.buf, cx) }
    }

    /// Whether the stored join is finished: see [`RawJoin::is_finished`]. Takes `&mut self`
    /// although the join's own method takes `&self`: the join is reached only through an
    /// exclusive borrow, which is what makes `ErasedJoin` `Sync` without `J: Sync`.
    pub(crate) fn is_finished(&mut self) -> bool {
        // SAFETY: by the type's invariant `buf` holds a valid `J` of `vt`'s type, and the
        // exclusive borrow means nothing mutates it meanwhile.
        unsafe { (self.vt().is_finished)(&self.buf) }
    }
}

impl<O> Drop for ErasedJoin<O> {
    fn drop(&mut self) {
        // SAFETY: by the type's invariant `buf` holds a valid `J` of `vt`'s type; it is
        // dropped here, once, and `buf` (a `MaybeUninit`) is not dropped again.
        unsafe { (self.vt().drop)(&mut self.buf) }
    }
}

// SAFETY: the buffer holds a `J: RawJoin<O>`, and `RawJoin` requires `Send`, so moving the
// `ErasedJoin` to another thread moves a `Send` value; the values it yields are `O: Send`.
unsafe impl<O: Send> Send for ErasedJoin<O> {}

// SAFETY: a shared `&ErasedJoin` reaches nothing of the stored join: every method that does
// takes `&mut self` (as `SyncWrapper` does), and `vt` is a table of functions. So sharing
// `&ErasedJoin` across threads shares no `J`, and `J: Sync` is not needed.
unsafe impl<O: Send> Sync for ErasedJoin<O> {}

impl<O> fmt::Debug for ErasedJoin<O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ErasedJoin").finish_non_exhaustive()
    }
}

#[cfg(all(test, not(taskscope_loom)))]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Waker;

    use super::*;

    fn poll_once<O: 'static>(j: &mut ErasedJoin<O>) -> Poll<Option<O>> {
        j.poll_join(&mut Context::from_waker(Waker::noop()))
    }

    /// A join that is ready with `value` (non-zero) at the first poll, then `None`; counts
    /// its drops. With `PAD` = 0 it is two words (stored inline); each `PAD` adds a word.
    struct Ready<const PAD: usize> {
        drops: Arc<AtomicUsize>,
        value: u32,
        pad: [usize; PAD],
    }

    impl<const PAD: usize> Ready<PAD> {
        fn new(value: u32, drops: &Arc<AtomicUsize>) -> Self {
            Self { drops: drops.clone(), value, pad: [PAD; PAD] }
        }
    }

    impl<const PAD: usize> RawJoin<u64> for Ready<PAD> {
        fn poll_join(&mut self, _: &mut Context<'_>) -> Poll<Option<u64>> {
            assert!(self.pad.iter().all(|&p| p == PAD), "the padding survived the moves");
            Poll::Ready(Some(std::mem::take(&mut self.value)).filter(|&v| v != 0).map(u64::from))
        }
        fn is_finished(&self) -> bool {
            true
        }
    }

    impl<const PAD: usize> Drop for Ready<PAD> {
        fn drop(&mut self) {
            self.drops.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// A join aligned beyond a word.
    #[repr(align(64))]
    struct Aligned(Ready<0>);

    impl RawJoin<u64> for Aligned {
        fn poll_join(&mut self, cx: &mut Context<'_>) -> Poll<Option<u64>> {
            assert_eq!(std::ptr::from_mut(self).addr() % 64, 0, "the join is aligned");
            self.0.poll_join(cx)
        }
        fn is_finished(&self) -> bool {
            self.0.is_finished()
        }
    }

    /// Moves the erased join around (a `Vec` of them, a reallocation), polls it twice.
    fn exercise(j: ErasedJoin<u64>, value: u64, drops: &Arc<AtomicUsize>) {
        let mut v = vec![j];
        v.reserve(100);
        let mut j = v.pop().unwrap();
        assert!(j.is_finished());
        assert_eq!(poll_once(&mut j), Poll::Ready(Some(value)));
        assert_eq!(poll_once(&mut j), Poll::Ready(None));
        assert_eq!(drops.load(Ordering::SeqCst), 0);
        drop(j);
        assert_eq!(drops.load(Ordering::SeqCst), 1, "dropped exactly once");
    }

    #[test]
    fn erased_join_inline() {
        assert!(fits::<Ready<0>>(), "two words: stored inline");
        assert_eq!(size_of::<ErasedJoin<u64>>(), 3 * size_of::<usize>());
        let drops = Arc::new(AtomicUsize::new(0));
        exercise(ErasedJoin::new(Ready::<0>::new(3, &drops)), 3, &drops);
    }

    #[test]
    fn erased_join_oversize_is_boxed() {
        assert!(!fits::<Ready<4>>());
        let drops = Arc::new(AtomicUsize::new(0));
        exercise(ErasedJoin::new(Ready::<4>::new(4, &drops)), 4, &drops);
    }

    #[test]
    fn erased_join_overaligned_is_boxed() {
        assert!(!fits::<Aligned>());
        let drops = Arc::new(AtomicUsize::new(0));
        exercise(ErasedJoin::new(Aligned(Ready::new(5, &drops))), 5, &drops);
    }

    #[test]
    fn erased_join_zero_sized() {
        struct Never;
        impl RawJoin<u64> for Never {
            fn poll_join(&mut self, _: &mut Context<'_>) -> Poll<Option<u64>> {
                Poll::Pending
            }
            fn is_finished(&self) -> bool {
                false
            }
        }
        let mut j = ErasedJoin::new(Never);
        assert!(!j.is_finished());
        assert_eq!(poll_once(&mut j), Poll::Pending);
    }

    #[test]
    fn erased_join_drop_without_poll() {
        let drops = Arc::new(AtomicUsize::new(0));
        drop(ErasedJoin::new(Ready::<0>::new(1, &drops)));
        drop(ErasedJoin::new(Ready::<4>::new(1, &drops)));
        drop(ErasedJoin::new(Aligned(Ready::new(1, &drops))));
        assert_eq!(drops.load(Ordering::SeqCst), 3, "each join dropped exactly once");
    }

    #[test]
    fn erased_join_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<ErasedJoin<u64>>();
        let drops = Arc::new(AtomicUsize::new(0));
        let j = ErasedJoin::new(Ready::<0>::new(9, &drops));
        let d = drops.clone();
        std::thread::spawn(move || exercise(j, 9, &d)).join().unwrap();
        assert_eq!(drops.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn erased_join_over_an_async_executor_task() {
        /// async-executor's own join, detached on drop, as the smol adapter's carrier is.
        struct Fallible(Option<async_executor::FallibleTask<u64>>);
        impl RawJoin<u64> for Fallible {
            fn poll_join(&mut self, cx: &mut Context<'_>) -> Poll<Option<u64>> {
                let Some(t) = self.0.as_mut() else { return Poll::Ready(None) };
                let out = std::pin::Pin::new(t).poll(cx);
                if out.is_ready() {
                    self.0 = None;
                }
                out
            }
            fn is_finished(&self) -> bool {
                self.0.as_ref().is_none_or(|t| t.is_finished())
            }
        }
        impl Drop for Fallible {
            fn drop(&mut self) {
                if let Some(t) = self.0.take() {
                    t.detach();
                }
            }
        }
        use std::future::Future;
        assert!(fits::<Fallible>());
        let ex = async_executor::Executor::new();
        let mut j = ErasedJoin::new(Fallible(Some(ex.spawn(async { 11u64 }).fallible())));
        let dropped = ErasedJoin::new(Fallible(Some(ex.spawn(async { 12u64 }).fallible())));
        drop(dropped);
        assert_eq!(poll_once(&mut j), Poll::Pending);
        while ex.try_tick() {}
        assert!(j.is_finished());
        assert_eq!(poll_once(&mut j), Poll::Ready(Some(11)));
        let mut gone = ErasedJoin::new(Fallible(Some(ex.spawn(async { 13u64 }).fallible())));
        drop(ex);
        assert_eq!(poll_once(&mut gone), Poll::Ready(None), "the executor dropped the task");
    }

    #[test]
    fn erased_join_over_a_dyn_join() {
        use crate::{Runtime, Spawn};
        let rt: Arc<dyn Runtime> = Arc::new(crate::testing::ThreadRuntime);
        let mut j = ErasedJoin::new(rt.spawn_child(async { 21u64 }));
        let out = futures_lite::future::block_on(std::future::poll_fn(|cx| j.poll_join(cx)));
        assert_eq!(out, Some(21));
        assert!(j.is_finished());
    }
}
