//! Bounded fan-out (Python: `gather` behind a `Semaphore`): eight downloads, at most three at
//! once (L1). Results come back in spawn order; the peak concurrency is three.
//!
//! ```text
//! [0.0s] download 0 started
//! ...
//! [0.2s] bounded fan-out done: 8 files, peak concurrency 3
//! ```

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use taskscope::BoxError;

use taskscope_examples::{Backend, Log};

/// What the owner saw.
#[derive(Debug)]
pub struct Outcome {
    /// The downloaded files, in spawn order.
    pub files: Vec<String>,
    /// The most downloads that ran at once.
    pub peak: usize,
}

async fn download(log: Log, i: usize, running: Arc<AtomicUsize>, peak: Arc<AtomicUsize>) -> Result<String, BoxError> {
    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
    peak.fetch_max(now, Ordering::SeqCst);
    log.say(format!("download {i} started"));
    taskscope::sleep(Duration::from_millis(50)).await;
    running.fetch_sub(1, Ordering::SeqCst);
    Ok(format!("file-{i}"))
}

/// Runs the scenario, telling it through `log`.
///
/// # Errors
/// If a download fails (none does).
pub async fn run(log: &Log) -> Result<Outcome, BoxError> {
    let (running, peak) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let files = taskscope::builder()
        .limit(3)? // at most three downloads at once; the rest wait their turn, in order
        .all((0..8).map(|i| download(log.clone(), i, running.clone(), peak.clone())))
        .await?; // the files in spawn order, or the scope's error
    let peak = peak.load(Ordering::SeqCst);
    log.say(format!("bounded fan-out done: {} files, peak concurrency {peak}", files.len()));
    Ok(Outcome { files, peak })
}

fn main() -> Result<(), BoxError> {
    let backend = Backend::from_args();
    println!("== bounded on {backend}");
    backend.run(run(&Log::new()))?;
    Ok(())
}
