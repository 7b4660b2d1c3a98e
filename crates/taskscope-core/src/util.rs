//! Small internal helpers.

use std::sync::{Mutex, MutexGuard};

/// Locks, ignoring poisoning: core never panics while holding its own locks, and user code
/// never runs under them, so a poisoned lock still holds consistent data.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
