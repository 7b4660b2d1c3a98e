//! Small internal helpers.

use std::sync::TryLockError;

use crate::sync::{Mutex, MutexGuard};

/// Locks, ignoring poisoning. Core's own code never panics while holding a lock. User code
/// runs under exactly one of core's locks: a child's body lock (`ChildCell::with_body`), held
/// while its future is polled or dropped; every such call is wrapped in `catch_unwind` inside
/// the lock, so a user panic never unwinds through it either. A poisoned lock therefore still
/// holds consistent data.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// [`lock`] without waiting: `None` if another thread holds the lock.
pub(crate) fn try_lock<T>(m: &Mutex<T>) -> Option<MutexGuard<'_, T>> {
    match m.try_lock() {
        Ok(g) => Some(g),
        Err(TryLockError::Poisoned(e)) => Some(e.into_inner()),
        Err(TryLockError::WouldBlock) => None,
    }
}
