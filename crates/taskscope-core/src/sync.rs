//! The synchronization primitives core's concurrent state is built from, in one place, so that
//! `--cfg taskscope_loom` swaps every one of them for loom's model-checked version (`tests/loom.rs`).
//!
//! What is swapped: the mutexes and atomics that guard a scope, a child, a token, the limit's
//! semaphore and a start slot, the wakers stored in them, and the ambient thread-local. What is
//! not: `Arc`, `Weak` and `OnceLock` (std's; no loom scheduling point can fall inside them in
//! core's use: a `OnceLock` is only read, or set by a closure that runs no loom operation), and
//! the process-wide gauge's sharded static counters (a sum read without ordering claims).

#[cfg(not(taskscope_loom))]
pub(crate) use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
#[cfg(not(taskscope_loom))]
pub(crate) use std::sync::{Mutex, MutexGuard};

#[cfg(taskscope_loom)]
pub(crate) use loom::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
#[cfg(taskscope_loom)]
pub(crate) use loom::sync::{Mutex, MutexGuard};

/// Declares a thread-local with a `const` initializer: std's (its `const` form, with no lazy
/// initialization check on access), or loom's (one per modelled thread) under
/// `--cfg taskscope_loom`. The `const` keyword is matched here and passed on as a token: an
/// `expr` fragment would hide it from `std::thread_local!`, which would then take its lazy form.
macro_rules! local_key {
    ($($(#[$attr:meta])* static $name:ident: $t:ty = const $init:block;)+) => {
        $(
            #[cfg(not(taskscope_loom))]
            std::thread_local! { $(#[$attr])* static $name: $t = const $init; }
            #[cfg(taskscope_loom)]
            loom::thread_local! { $(#[$attr])* static $name: $t = $init; }
        )+
    };
}
pub(crate) use local_key;

/// A slot for one waker, woken at most once per registration: `futures`' `AtomicWaker`, or
/// loom's under `--cfg taskscope_loom`.
#[derive(Debug, Default)]
pub(crate) struct AtomicWaker {
    #[cfg(not(taskscope_loom))]
    inner: futures_util::task::AtomicWaker,
    #[cfg(taskscope_loom)]
    inner: loom::future::AtomicWaker,
}

impl AtomicWaker {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Stores `waker` (replacing any earlier one) for the next [`wake`](Self::wake).
    pub(crate) fn register(&self, waker: &std::task::Waker) {
        #[cfg(not(taskscope_loom))]
        self.inner.register(waker);
        #[cfg(taskscope_loom)]
        self.inner.register_by_ref(waker);
    }

    /// Wakes the stored waker, if any, and clears the slot.
    pub(crate) fn wake(&self) {
        self.inner.wake();
    }
}

/// Lets another thread run, in a wait that is bounded but needs another thread's progress:
/// std's `yield_now`, or loom's (which lets the model schedule that thread) under
/// `--cfg taskscope_loom`.
pub(crate) fn spin_yield() {
    #[cfg(not(taskscope_loom))]
    std::thread::yield_now();
    #[cfg(taskscope_loom)]
    loom::thread::yield_now();
}

/// A cell whose exclusive access a protocol outside the type guarantees: std's `UnsafeCell`,
/// or loom's (which checks that exclusivity in every explored interleaving) under
/// `--cfg taskscope_loom`. Only `scope/table.rs` uses it, for a slot's waker.
#[derive(Debug)]
pub(crate) struct UnsafeCell<T> {
    #[cfg(not(taskscope_loom))]
    inner: std::cell::UnsafeCell<T>,
    #[cfg(taskscope_loom)]
    inner: loom::cell::UnsafeCell<T>,
}

impl<T> UnsafeCell<T> {
    pub(crate) fn new(value: T) -> Self {
        #[cfg(not(taskscope_loom))]
        return Self { inner: std::cell::UnsafeCell::new(value) };
        #[cfg(taskscope_loom)]
        return Self { inner: loom::cell::UnsafeCell::new(value) };
    }

    /// Runs `f` with a raw pointer to the value. Dereferencing it is the caller's unsafe
    /// promise that nothing else reaches the value meanwhile.
    pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
        #[cfg(not(taskscope_loom))]
        return f(self.inner.get());
        #[cfg(taskscope_loom)]
        return self.inner.with_mut(f);
    }
}
