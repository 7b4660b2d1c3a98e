//! First success wins (L3): the same file is asked from three mirrors at once. `us` answers
//! first; the race cancels `eu` and `asia`, which run their cleanup, and returns only once
//! both are gone. Had every mirror failed, the owner would get the group of all three errors.
//!
//! ```text
//! [0.1s] mirror eu cancelled, closing its connection
//! [0.1s] mirror asia cancelled, closing its connection
//! [0.1s] race won: payload from us
//! ```

use std::time::Duration;

use taskscope::BoxError;

use taskscope_examples::{Backend, Log, on_cancel};

async fn mirror(log: Log, name: &'static str, millis: u64) -> Result<String, BoxError> {
    // Runs if the mirror is dropped before it answers: it lost the race.
    let cleanup = on_cancel(|| log.say(format!("mirror {name} cancelled, closing its connection")));
    taskscope::sleep(Duration::from_millis(millis)).await;
    cleanup.disarm();
    Ok(format!("payload from {name}"))
}

/// Runs the race, telling it through `log`, and returns the winner's payload.
///
/// # Errors
/// The group of every mirror's error if all of them fail (none does).
pub async fn run(log: &Log) -> Result<String, BoxError> {
    let mirrors = [mirror(log.clone(), "eu", 300), mirror(log.clone(), "us", 100), mirror(log.clone(), "asia", 500)];
    let winner = taskscope::builder().race(mirrors).await?;
    log.say(format!("race won: {winner}"));
    Ok(winner)
}

fn main() -> Result<(), BoxError> {
    let backend = Backend::from_args();
    println!("== race on {backend}");
    backend.run(run(&Log::new()))?;
    Ok(())
}
