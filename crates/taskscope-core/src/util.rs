//! Small internal helpers.

use std::sync::{Mutex, MutexGuard, TryLockError};

/// Locks, ignoring poisoning: core never panics while holding its own locks, and user code
/// never runs under them, so a poisoned lock still holds consistent data.
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
