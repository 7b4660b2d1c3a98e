//! Fan-out: three fetches with different delays. The scope returns only after the
//! slowest; the results are harvested afterwards from the handles, like `task.result()`.
//!
//! ```text
//! [0.1s] fetched orders
//! [0.2s] fetched users
//! [0.3s] fetched inventory
//! [0.3s] all done
//! [0.3s] results: ["users: 3 rows", "orders: 5 rows", "inventory: 9 rows"]
//! ```

use std::time::Duration;

use taskscope::BoxError;

use taskscope_examples::{Backend, Log};

async fn fetch(log: Log, name: &'static str, secs: f64) -> Result<String, BoxError> {
    taskscope::sleep(Duration::from_secs_f64(secs)).await;
    log.say(format!("fetched {name}"));
    Ok(format!("{name}: {} rows", name.len()))
}

/// Runs the scenario, telling it through `log`; returns the harvested results in spawn order.
///
/// # Errors
/// If a fetch fails (none does).
pub async fn run(log: &Log) -> Result<Vec<String>, BoxError> {
    let (users, orders, inventory) = taskscope::scope(async |s| {
        Ok((
            s.spawn_named("users", fetch(log.clone(), "users", 0.2)),
            s.spawn_named("orders", fetch(log.clone(), "orders", 0.1)),
            s.spawn_named("inventory", fetch(log.clone(), "inventory", 0.3)),
        ))
    })
    .await?;
    // Control reaches here only after all three completed: every result is ready.
    log.say("all done");
    let results = vec![users.result()?, orders.result()?, inventory.result()?];
    log.say(format!("results: {results:?}"));
    Ok(results)
}

fn main() -> Result<(), BoxError> {
    let backend = Backend::from_args();
    println!("== fanout on {backend}");
    backend.run(run(&Log::new()))?;
    Ok(())
}
