//! `except*`: two children fail with different error types; the owner handles each
//! kind separately with [`ErrorGroup::split_type`](taskscope::ErrorGroup::split_type), and
//! would propagate any other kind.
//!
//! ```text
//! [0.1s] value errors: [a] bad value
//! [0.1s] type errors: [b] wrong type
//! ```

use std::error::Error;
use std::fmt;
use std::time::Duration;

use taskscope::{BoxError, ScopeError};

use taskscope_examples::{Backend, Log};

/// Python's `ValueError`.
#[derive(Debug)]
pub struct ValueError(pub String);

/// Python's `TypeError`.
#[derive(Debug)]
pub struct TypeError(pub String);

impl fmt::Display for ValueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Display for TypeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Error for ValueError {}
impl Error for TypeError {}

/// What the owner handled, as the group members' `Display` (`[child] message`).
#[derive(Debug, Default)]
pub struct Outcome {
    /// The `ValueError`s.
    pub value_errors: Vec<String>,
    /// The `TypeError`s.
    pub type_errors: Vec<String>,
}

async fn flaky(error: impl Error + Send + Sync + 'static) -> Result<(), BoxError> {
    taskscope::sleep(Duration::from_millis(50)).await;
    Err(BoxError::new(error))
}

fn listed<E: fmt::Display>(group: &taskscope::ErrorGroup<E>) -> Vec<String> {
    group.members().iter().map(|m| m.to_string()).collect()
}

/// Runs the scenario, telling it through `log`.
///
/// # Errors
/// The errors of any other kind, re-raised like an unmatched `except*` (there are none).
pub async fn run(log: &Log) -> Result<Outcome, BoxError> {
    let result = taskscope::builder()
        // Both children fail at 0.05 s. The first failure cancels the scope; the grace period
        // lets a sibling failing at the same moment still report, as in asyncio.
        .grace(Duration::from_millis(100))
        .run(async |s| {
            let _a = s.spawn_named("a", flaky(ValueError("bad value".into())));
            let _b = s.spawn_named("b", flaky(TypeError("wrong type".into())));
            Ok(())
        })
        .await;

    let mut outcome = Outcome::default();
    let group = match result {
        Ok(()) => return Ok(outcome),
        Err(ScopeError::Failed(group)) => group,
        Err(other) => return Err(other.into()),
    };
    // except* ValueError
    let (value_errors, rest) = group.split_type::<ValueError>();
    if let Some(eg) = value_errors {
        outcome.value_errors = listed(&eg);
        log.say(format!("value errors: {}", outcome.value_errors.join(", ")));
    }
    // except* TypeError
    let (type_errors, rest) = match rest {
        Some(rest) => rest.split_type::<TypeError>(),
        None => (None, None),
    };
    if let Some(eg) = type_errors {
        outcome.type_errors = listed(&eg);
        log.say(format!("type errors: {}", outcome.type_errors.join(", ")));
    }
    // Anything else propagates.
    match rest {
        Some(rest) => Err(rest.into()),
        None => Ok(outcome),
    }
}

fn main() -> Result<(), BoxError> {
    let backend = Backend::from_args();
    println!("== except_star on {backend}");
    backend.run(run(&Log::new()))?;
    Ok(())
}
