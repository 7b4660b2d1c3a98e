//! Soak: a long-lived process opening and closing many scopes and child tokens, to show that
//! nothing accumulates (O1, T2, S1): after `n` scopes — a quarter failing, a quarter cancelled,
//! a quarter under a deadline, with nested scopes — and `n` short-lived child tokens of one
//! long-lived parent, the process-wide gauge is back at zero, the parent lists no children, and
//! the resident set size is flat.

use std::sync::Arc;
use std::time::{Duration, Instant};

use taskscope_core::{BoxError, Builder, CancelToken, Runtime, Scope, ScopeError};

use crate::backend::{Backend, Flavour};
use crate::mem::rss_bytes;

/// What one soak run saw.
#[derive(Debug, Clone)]
pub struct Soak {
    /// The flavour it ran on.
    pub flavour: Flavour,
    /// Scopes opened and closed.
    pub scopes: usize,
    /// Child tokens made and dropped.
    pub tokens: usize,
    /// Outcomes: succeeded, failed, cancelled, elapsed.
    pub outcomes: [usize; 4],
    /// RSS after a warm-up of `warmup` scopes, and at the end (bytes; `None` off Linux).
    pub rss: (Option<u64>, Option<u64>),
    /// Live children of all scopes at the end (must be 0).
    pub gauge_after: usize,
    /// Children the long-lived parent token still lists at the end (must be 0).
    pub parent_children_after: usize,
    /// Wall time.
    pub took: Duration,
}

impl Soak {
    /// RSS growth from after the warm-up to the end, in bytes (negative: shrank).
    pub fn rss_growth(&self) -> Option<i64> {
        let (a, b) = self.rss;
        Some(i64::try_from(b?).ok()? - i64::try_from(a?).ok()?)
    }

    /// One line for humans.
    pub fn line(&self) -> String {
        let mib = |b: Option<u64>| b.map_or("n/a".to_string(), |b| format!("{:.1} MiB", b as f64 / 1048576.0));
        format!(
            "{:<8} {} scopes (ok {} / failed {} / cancelled {} / elapsed {}), {} tokens: RSS {} -> {} ({}), \
             gauge after {}, parent's children after {}, {:.1} s",
            self.flavour.name(),
            self.scopes,
            self.outcomes[0],
            self.outcomes[1],
            self.outcomes[2],
            self.outcomes[3],
            self.tokens,
            mib(self.rss.0),
            mib(self.rss.1),
            self.rss_growth().map_or("n/a".into(), |g| format!("{:+.1} KiB", g as f64 / 1024.0)),
            self.gauge_after,
            self.parent_children_after,
            self.took.as_secs_f64(),
        )
    }
}

/// Which of the four shapes scope `i` takes.
async fn one_scope(rt: &Arc<dyn Runtime>, i: usize) -> usize {
    let b = Builder::new().runtime(rt.clone());
    let r: Result<(), ScopeError<BoxError>> = match i % 4 {
        // Succeeds: two children, one of them opening a nested scope.
        0 => {
            b.run(async |s| {
                s.spawn(async { Ok(()) });
                s.spawn(async {
                    Builder::new()
                        .run(async |n: &Scope<BoxError>| {
                            n.spawn(async { Ok(()) });
                            Ok(())
                        })
                        .await?;
                    Ok(())
                });
                Ok(())
            })
            .await
        }
        // Fails: one child fails, its pending sibling is cancelled.
        1 => {
            b.run(async |s| {
                s.spawn(async { std::future::pending::<Result<(), BoxError>>().await });
                s.spawn(async { Err::<(), _>(BoxError::msg("soak failure")) });
                Ok(())
            })
            .await
        }
        // Cancelled by its body, with pending children.
        2 => {
            b.run(async |s| {
                s.spawn(async { std::future::pending::<Result<(), BoxError>>().await });
                s.cancel();
                Ok(())
            })
            .await
        }
        // A deadline already past: cancelled before the body runs, reported as elapsed.
        _ => {
            b.timeout(Duration::ZERO)
                .run(async |s| {
                    s.spawn(async { Ok(()) });
                    Ok(())
                })
                .await
        }
    };
    match r {
        Ok(()) => 0,
        Err(ScopeError::Failed(_)) => 1,
        Err(e) if e.is_elapsed() => 3,
        Err(_) => 2,
    }
}

/// Runs the soak on `flavour`: `warmup` scopes first (not counted in the RSS baseline), then
/// `scopes` scopes and `tokens` child tokens of one long-lived parent.
pub fn run(flavour: Flavour, warmup: usize, scopes: usize, tokens: usize) -> Soak {
    let start = Instant::now();
    let be = Backend::new(flavour);
    let rt = be.runtime();
    let mut outcomes = [0usize; 4];
    let parent = CancelToken::new();
    let rss_before = be.block_on(async {
        for i in 0..warmup {
            one_scope(&rt, i).await;
        }
        for _ in 0..warmup {
            drop(parent.child());
        }
        rss_bytes()
    });
    be.block_on(async {
        for i in 0..scopes {
            outcomes[one_scope(&rt, i).await] += 1;
        }
    });
    for i in 0..tokens {
        let child = parent.child();
        if i % 2 == 0 {
            child.cancel();
        }
    }
    let rss_after = rss_bytes();
    Soak {
        flavour,
        scopes,
        tokens,
        outcomes,
        rss: (rss_before, rss_after),
        gauge_after: taskscope_core::live_children(),
        parent_children_after: parent.child_count(),
        took: start.elapsed(),
    }
}
