//! Helpers for writing cases: drop trackers, gates, timed waits with wide margins.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use taskscope_core::{BoxError, Builder, CancelToken, Runtime};

use crate::Harness;

/// A scope builder on the harness's runtime.
pub fn builder(h: &dyn Harness) -> Builder {
    Builder::new().runtime(h.runtime())
}

/// Counts live guards: each child holds one; the count drops when its future is dropped.
#[derive(Clone, Debug, Default)]
pub struct Tracker {
    live: Arc<AtomicUsize>,
    dropped: Arc<AtomicUsize>,
}

/// Held by a child future; its drop is what "the child's future was dropped" means.
#[derive(Debug)]
pub struct Guard(Tracker);

impl Tracker {
    /// A new tracker with nothing live.
    pub fn new() -> Self {
        Self::default()
    }
    /// A guard counted as live until dropped.
    pub fn guard(&self) -> Guard {
        self.live.fetch_add(1, Ordering::SeqCst);
        Guard(self.clone())
    }
    /// Guards alive now.
    pub fn live(&self) -> usize {
        self.live.load(Ordering::SeqCst)
    }
    /// Guards dropped so far.
    pub fn dropped(&self) -> usize {
        self.dropped.load(Ordering::SeqCst)
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.0.dropped.fetch_add(1, Ordering::SeqCst);
        self.0.live.fetch_sub(1, Ordering::SeqCst);
    }
}

/// An async one-shot event (a [`CancelToken`] used as a gate): `open` it, `wait` for it.
#[derive(Clone, Debug, Default)]
pub struct Gate(CancelToken);

impl Gate {
    /// A closed gate.
    pub fn new() -> Self {
        Self::default()
    }
    /// Opens the gate, releasing every waiter (now and later).
    pub fn open(&self) {
        self.0.cancel();
    }
    /// Whether the gate is open.
    pub fn is_open(&self) -> bool {
        self.0.is_cancelled()
    }
    /// Waits until the gate is open.
    pub async fn wait(&self) {
        self.0.cancelled().await;
    }
}

/// Sleeps on the runtime's timer.
pub async fn sleep(rt: &Arc<dyn Runtime>, d: Duration) {
    rt.sleep_until(rt.now() + d).await;
}

/// Waits (polling every millisecond on the runtime's timer) until `cond` holds; panics with
/// `what` after a wide margin (10 s). Used only where the contract says "promptly".
pub async fn eventually(rt: &Arc<dyn Runtime>, what: &str, cond: impl Fn() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < Duration::from_secs(10), "timed out waiting for: {what}");
        sleep(rt, Duration::from_millis(1)).await;
    }
}

/// Never completes.
pub async fn forever() {
    std::future::pending::<()>().await;
}

/// A child that succeeds with `()`.
pub fn ok() -> Result<(), BoxError> {
    Ok(())
}

/// A boxed error with `msg`.
pub fn err(msg: &str) -> BoxError {
    BoxError::msg(msg.to_string())
}

/// Yields to the runtime once.
pub async fn yield_now() {
    futures_lite::future::yield_now().await;
}
