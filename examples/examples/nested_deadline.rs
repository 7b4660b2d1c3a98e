//! Nested scopes under one deadline: the outer scope has 0.25 s; `ingest` runs in it,
//! `parse` and `validate` in a nested scope that inherits the deadline. `validate` (0.05 s) and
//! `ingest` (0.1 s) finish; `parse` (0.5 s) is cancelled at the deadline and cleans up; the
//! owner reports the deadline.
//!
//! ```text
//! [0.1s] validate done
//! [0.1s] ingest done
//! [0.3s] parse cancelled, cleaning up
//! [0.3s] phase exceeded deadline; all tasks cancelled
//! [0.3s] Tasks left alive: 0
//! ```

use std::time::Duration;

use taskscope::{BoxError, CancelReason};

use taskscope_examples::{Backend, Log, on_cancel};

/// What the owner saw.
#[derive(Debug)]
pub struct Outcome {
    /// The root cause of the cancellation, if the scope was cancelled.
    pub reason: Option<CancelReason>,
    /// `taskscope::live_children()` once the scope returned.
    pub live_after: usize,
}

async fn stage(log: Log, name: &'static str, secs: f64) -> Result<(), BoxError> {
    let cleanup = on_cancel(|| log.say(format!("{name} cancelled, cleaning up")));
    taskscope::sleep(Duration::from_secs_f64(secs)).await;
    cleanup.disarm();
    log.say(format!("{name} done"));
    Ok(())
}

/// Runs the scenario, telling it through `log`.
pub async fn run(log: &Log) -> Outcome {
    let result = taskscope::builder()
        .timeout(Duration::from_millis(250)) // deadline for the whole phase
        .run(async |outer| {
            let _ingest = outer.spawn_named("ingest", stage(log.clone(), "ingest", 0.1));
            // A nested sub-phase: its token is a child of the outer one, so the deadline
            // reaches its children too.
            taskscope::scope(async |inner| {
                let _parse = inner.spawn_named("parse", stage(log.clone(), "parse", 0.5)); // too slow
                let _validate = inner.spawn_named("validate", stage(log.clone(), "validate", 0.05));
                Ok(())
            })
            .await?;
            Ok(())
        })
        .await;

    let reason = match result {
        Ok(()) => {
            log.say("phase finished in time");
            None
        }
        // The deadline caused the cancellation and no child failed: "elapsed".
        Err(e) if e.is_elapsed() => {
            log.say("phase exceeded deadline; all tasks cancelled");
            Some(CancelReason::Deadline)
        }
        Err(other) => {
            log.say(format!("phase failed: {other}"));
            other.reason().map(|r| r.root().clone())
        }
    };
    let live_after = taskscope::live_children();
    log.say(format!("Tasks left alive: {live_after}"));
    Outcome { reason, live_after }
}

fn main() {
    let backend = Backend::from_args();
    println!("== nested_deadline on {backend}");
    backend.run(run(&Log::new()));
}
