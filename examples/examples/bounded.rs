//! Seed 5, two policies on the same scope API:
//!
//! 1. Bounded fan-out (`gather` behind a semaphore): eight downloads, at most three at once
//!    (L1). Results come back in spawn order; the peak concurrency is three.
//! 2. First success wins (a race, L3): three mirrors; `us` answers first, the others are
//!    cancelled and run their cleanup before the race returns.
//!
//! ```text
//! [0.0s] download 0 started (3 running at most)
//! ...
//! [0.2s] bounded fan-out done: 8 files, peak concurrency 3
//! [0.3s] mirror eu cancelled, cleaning up
//! [0.3s] mirror asia cancelled, cleaning up
//! [0.3s] race won: payload from us
//! ```

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use taskscope::BoxError;

use taskscope_examples::{Backend, Log, on_cancel};

/// What the owner saw.
#[derive(Debug)]
pub struct Outcome {
    /// The downloaded files, in spawn order.
    pub files: Vec<String>,
    /// The most downloads that ran at once.
    pub peak: usize,
    /// The race's winner.
    pub winner: String,
}

async fn download(log: Log, i: usize, running: Arc<AtomicUsize>, peak: Arc<AtomicUsize>) -> Result<String, BoxError> {
    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
    peak.fetch_max(now, Ordering::SeqCst);
    log.say(format!("download {i} started"));
    taskscope::sleep(Duration::from_millis(50)).await;
    running.fetch_sub(1, Ordering::SeqCst);
    Ok(format!("file-{i}"))
}

async fn mirror(log: Log, name: &'static str, secs: f64) -> Result<String, BoxError> {
    let cleanup = on_cancel(|| log.say(format!("mirror {name} cancelled, cleaning up")));
    taskscope::sleep(Duration::from_secs_f64(secs)).await;
    cleanup.disarm();
    Ok(format!("payload from {name}"))
}

/// Runs the scenario, telling it through `log`.
///
/// # Errors
/// If a download fails or every mirror fails (none does).
pub async fn run(log: &Log) -> Result<Outcome, BoxError> {
    let (running, peak) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let files = taskscope::builder()
        .limit(3)? // at most three downloads at once; the rest wait their turn, in order
        .run(async |s| {
            let handles: Vec<_> =
                (0..8).map(|i| s.spawn(download(log.clone(), i, running.clone(), peak.clone()))).collect();
            let mut files = Vec::new();
            for h in handles {
                files.push(h.await?);
            }
            Ok::<_, BoxError>(files)
        })
        .await?;
    let peak = peak.load(Ordering::SeqCst);
    log.say(format!("bounded fan-out done: {} files, peak concurrency {peak}", files.len()));

    let winner = taskscope::builder()
        .race([mirror(log.clone(), "eu", 0.3), mirror(log.clone(), "us", 0.1), mirror(log.clone(), "asia", 0.5)])
        .await?;
    log.say(format!("race won: {winner}"));
    Ok(Outcome { files, peak, winner })
}

fn main() -> Result<(), BoxError> {
    let backend = Backend::from_args();
    println!("== bounded on {backend}");
    backend.run(run(&Log::new()))?;
    Ok(())
}
