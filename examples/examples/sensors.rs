//! Sensor feeds: Sensor-A reads for 2 s, Sensor-B fails after 0.5 s. B's failure
//! cancels A at once (A runs its cleanup), the owner gets a group holding B's error, and no
//! task is left alive.
//!
//! ```text
//! [0.0s] Reading from Sensor-A
//! [0.0s] Reading from Sensor-B
//! [0.5s] Cleanup initiated for Sensor-A
//! [0.5s] Caught exception group containing: [Sensor-B] Sensor Sensor-B failed!
//! [0.5s] Tasks left alive: 0
//! ```

use std::time::Duration;

use taskscope::{BoxError, ScopeError};

use taskscope_examples::{Backend, Log, on_cancel};

/// What the owner saw.
#[derive(Debug)]
pub struct Outcome {
    /// The group's members, as `(child name, error message)`.
    pub errors: Vec<(String, String)>,
    /// `taskscope::live_children()` once the scope returned.
    pub live_after: usize,
}

async fn read_sensor(log: Log, name: &'static str, secs: f64, fail: bool) -> Result<(), BoxError> {
    log.say(format!("Reading from {name}"));
    let cleanup = on_cancel(|| log.say(format!("Cleanup initiated for {name}")));
    taskscope::sleep(Duration::from_secs_f64(secs)).await; // if the scope cancels us, we are dropped here and `cleanup` runs
    cleanup.disarm();
    if fail {
        return Err(BoxError::msg(format!("Sensor {name} failed!")));
    }
    log.say(format!("Successfully read from {name}"));
    Ok(())
}

/// Runs the scenario, telling it through `log`.
pub async fn run(log: &Log) -> Outcome {
    let result = taskscope::scope(async |s| {
        let _a = s.spawn_named("Sensor-A", read_sensor(log.clone(), "Sensor-A", 2.0, false));
        let _b = s.spawn_named("Sensor-B", read_sensor(log.clone(), "Sensor-B", 0.5, true));
        Ok(())
    })
    .await;

    let mut errors = Vec::new();
    match result {
        Ok(()) => log.say("All sensors read"),
        Err(ScopeError::Failed(group)) => {
            let members: Vec<String> = group.members().iter().map(|m| m.to_string()).collect();
            log.say(format!("Caught exception group containing: {}", members.join(", ")));
            errors = group.members().iter().map(|m| (m.name().unwrap_or("?").into(), m.error().to_string())).collect();
        }
        Err(cancelled) => log.say(format!("Main was cancelled: {cancelled}")),
    }
    let live_after = taskscope::live_children();
    log.say(format!("Tasks left alive: {live_after}"));
    Outcome { errors, live_after }
}

fn main() {
    let backend = Backend::from_args();
    println!("== sensors on {backend}");
    backend.run(run(&Log::new()));
}
