//! Small internal helpers.

use crate::sync::{Mutex, MutexGuard};

/// Locks, ignoring poisoning. Core's own code never panics while holding a lock. User code
/// runs under a core lock only where a future is polled or dropped under it (a local child's
/// node, a task spawned through `Runtime::spawn`), and every such call is wrapped in
/// `catch_unwind` inside the lock, so a user panic never unwinds through it either. A poisoned lock therefore still
/// holds consistent data.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
