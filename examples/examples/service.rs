//! A long-running service with a graceful shutdown: three workers run in one scope, each
//! taking a job every 20 ms, until the owner asks them to stop. Shutdown cancels the scope
//! with a reason; every worker sees its token (C1), stops taking jobs and cleans up within the
//! scope's grace period (C2); a worker whose cleanup outlasts the grace is dropped, and its
//! drop guard says so. The scope returns once every worker is gone (S1).
//!
//! Here the shutdown comes after 0.3 s ([`RUN_FOR`]), so the example behaves the same on every
//! backend and in CI. A real service awaits a signal in [`shutdown_signal`] instead, and
//! nothing else changes: under tokio, `tokio::signal::ctrl_c().await` (tokio's `signal`
//! feature); on any runtime, a signal crate such as `async-ctrlc`.
//!
//! ```text
//! [0.0s] service up: ingest, indexer, uploader
//! [0.3s] shutdown requested: stopping the workers (grace period 0.2s)
//! [0.3s] ingest: closed its listener
//! [0.4s] indexer: flushed its index to disk
//! [0.5s] uploader: grace period over, dropped before its upload finished
//! [0.5s] service stopped (cancelled: shutdown); tasks left alive: 0
//! ```

use std::time::Duration;

use taskscope::{BoxError, CancelReason, CancelToken, ScopeError};

use taskscope_examples::{Backend, Log, on_cancel};

/// How long the service runs before it shuts itself down.
pub const RUN_FOR: Duration = Duration::from_millis(300);

/// How long the workers have to clean up once shutdown begins.
pub const GRACE: Duration = Duration::from_millis(200);

/// What the owner saw.
#[derive(Debug)]
pub struct Outcome {
    /// Why the service stopped (`None` if it returned on its own).
    pub reason: Option<CancelReason>,
    /// The process-wide count of live children once the scope returned (S1: none of its
    /// workers is among them).
    pub live_after: usize,
}

/// Resolves when the service should stop. Replace the sleep with a signal to stop on Ctrl-C,
/// e.g. `tokio::signal::ctrl_c().await` when the service runs on tokio.
pub async fn shutdown_signal() {
    taskscope::sleep(RUN_FOR).await;
}

/// A worker: takes jobs until its token fires, then spends `cleanup` on its async cleanup.
async fn worker(log: Log, name: &'static str, token: CancelToken, cleanup: Duration, done: &'static str) {
    // Runs if the worker is dropped before its cleanup finished: the grace period ran out.
    let dropped = on_cancel(|| log.say(format!("{name}: grace period over, dropped before its {done}")));
    let mut every = taskscope::interval(Duration::from_millis(20));
    while token.run_until_cancelled(every.tick()).await.is_some() {
        // a real worker takes a job here
    }
    taskscope::sleep(cleanup).await; // async cleanup: flush, close, say goodbye
    dropped.disarm();
    log.say(format!("{name}: {done}"));
}

/// Runs the service until [`shutdown_signal`], then shuts it down gracefully.
pub async fn run(log: &Log) -> Outcome {
    let workers = [
        ("ingest", 20, "closed its listener"),
        ("indexer", 100, "flushed its index to disk"),
        ("uploader", 1_000, "upload finished"), // its cleanup is longer than the grace period
    ];
    let result = taskscope::builder()
        .name("service")
        .grace(GRACE)
        .run(async |s| {
            for (name, cleanup, done) in workers {
                let (log, token) = (log.clone(), s.token().clone());
                s.spawn_named(name, async move {
                    worker(log, name, token, Duration::from_millis(cleanup), done).await;
                    Ok::<_, BoxError>(())
                });
            }
            log.say("service up: ingest, indexer, uploader");
            shutdown_signal().await;
            log.say(format!("shutdown requested: stopping the workers (grace period {:.1}s)", GRACE.as_secs_f64()));
            s.cancel_with(CancelReason::Explicit("shutdown".into()));
            Ok(())
        })
        .await;
    let reason = match result {
        Ok(()) => None,
        Err(ScopeError::Cancelled { reason, .. }) => Some(reason),
        Err(ScopeError::Failed(group)) => {
            log.say(format!("service failed: {group}"));
            None
        }
    };
    let live_after = taskscope::live_children();
    let why = reason.as_ref().map_or_else(|| "on its own".to_owned(), ToString::to_string);
    log.say(format!("service stopped ({why}); tasks left alive: {live_after}"));
    Outcome { reason, live_after }
}

fn main() {
    let backend = Backend::from_args();
    println!("== service on {backend}");
    backend.run(run(&Log::new()));
}
