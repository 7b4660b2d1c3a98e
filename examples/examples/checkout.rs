//! Checkout: the shipping address, the inventory and the payment method are checked
//! at once. The inventory check fails, so the payment verification is cancelled (and cleans
//! up); the owner reports the failure. The error type is a plain enum: a scope's children
//! share one error type, and the group holds values of it.
//!
//! ```text
//! [0.1s] address: ok
//! [0.2s] payment: cancelled, cleaning up
//! [0.2s] Checkout failed: [inventory] SKU-42 is out of stock
//! ```

use std::fmt;
use std::time::Duration;

use taskscope::ScopeError;

use taskscope_examples::{Backend, Log, on_cancel};

/// Why a checkout step failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckoutError {
    /// The shipping address could not be validated.
    BadAddress,
    /// An item is out of stock.
    OutOfStock(&'static str),
    /// The payment method was refused.
    PaymentDeclined,
}

impl fmt::Display for CheckoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CheckoutError::BadAddress => f.write_str("the shipping address is invalid"),
            CheckoutError::OutOfStock(sku) => write!(f, "{sku} is out of stock"),
            CheckoutError::PaymentDeclined => f.write_str("the payment was declined"),
        }
    }
}

impl std::error::Error for CheckoutError {}

/// What the owner saw.
#[derive(Debug)]
pub struct Outcome {
    /// The group's members, as `(child name, error)`; empty if the order was placed.
    pub errors: Vec<(String, CheckoutError)>,
}

/// One check: takes `secs`, then gives `verdict`; cleans up if cancelled.
async fn check(
    log: Log,
    name: &'static str,
    secs: f64,
    verdict: Result<(), CheckoutError>,
) -> Result<(), CheckoutError> {
    let cleanup = on_cancel(|| log.say(format!("{name}: cancelled, cleaning up")));
    taskscope::sleep(Duration::from_secs_f64(secs)).await;
    cleanup.disarm();
    if verdict.is_ok() {
        log.say(format!("{name}: ok"));
    }
    verdict
}

/// Runs the scenario, telling it through `log`.
pub async fn run(log: &Log) -> Outcome {
    let sold_out = Err(CheckoutError::OutOfStock("SKU-42"));
    let result = taskscope::scope(async |s| {
        let _address = s.spawn_named("address", check(log.clone(), "address", 0.1, Ok(())));
        let _inventory = s.spawn_named("inventory", check(log.clone(), "inventory", 0.2, sold_out));
        let _payment = s.spawn_named("payment", check(log.clone(), "payment", 0.5, Ok(())));
        Ok(())
    })
    .await;

    match result {
        Ok(()) => {
            log.say("Order placed");
            Outcome { errors: Vec::new() }
        }
        Err(ScopeError::Failed(group)) => {
            for member in group.members() {
                log.say(format!("Checkout failed: {member}"));
            }
            Outcome {
                errors: group
                    .into_members()
                    .into_iter()
                    .map(|m| (m.name().unwrap_or("?").to_owned(), m.into_error()))
                    .collect(),
            }
        }
        Err(cancelled) => unreachable!("nothing cancels the checkout from outside: {cancelled}"),
    }
}

fn main() {
    let backend = Backend::from_args();
    println!("== checkout on {backend}");
    backend.run(run(&Log::new()));
}
