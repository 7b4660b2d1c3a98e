//! Memory per pending child: the growth of the resident set size over `n` children that are
//! spawned and polled once, then stay pending.
//!
//! Each measurement should run in a fresh process (the report binary re-executes itself with
//! the hidden `--mem <backend> <ours|raw> <n>` subcommand), so that memory freed by earlier
//! benchmarks and kept by the allocator does not hide the growth.

use std::future::pending;

use taskscope::{Builder, Scope};
use taskscope_core::BoxError;

use crate::backend::{Backend, Flavour};
use crate::bench;
use crate::probe::Countdown;

/// What is measured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Variant {
    /// Children of one taskscope scope (their `JoinHandle`s dropped: the scope keeps them).
    Ours,
    /// Detached raw tasks (no handle kept): the runtime's own floor.
    Raw,
}

impl Variant {
    /// Its name on the `--mem` command line.
    pub fn name(self) -> &'static str {
        match self {
            Variant::Ours => "ours",
            Variant::Raw => "raw",
        }
    }

    /// The variant with this [`name`](Variant::name).
    pub fn from_name(name: &str) -> Option<Self> {
        [Variant::Ours, Variant::Raw].into_iter().find(|v| v.name() == name)
    }
}

/// The resident set size of this process in bytes (`VmRSS` of `/proc/self/status`), or `None`
/// where that file does not exist (not Linux).
pub fn rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.trim_start_matches("VmRSS:").trim().trim_end_matches("kB").trim().parse().ok()?;
    Some(kib * 1024)
}

/// Bytes of RSS per pending child: spawns `n` children that each record their first poll and
/// then stay pending, and divides the RSS growth by `n`. `None` if RSS cannot be read.
///
/// Both variants first warm the runtime with the same small spawn + join workloads, so that
/// lazily created runtime structures are not counted.
pub fn measure(flavour: Flavour, variant: Variant, n: usize) -> Option<f64> {
    let be = Backend::new(flavour);
    bench::spawn_join_ours(&be, 1000);
    bench::spawn_join_vec(&be, 1000);
    let started = Countdown::new(n);
    let delta = match variant {
        Variant::Raw => be.block_on(async {
            let before = rss_bytes()?;
            for _ in 0..n {
                let started = started.clone();
                be.spawn_detached(async move {
                    started.hit();
                    pending::<()>().await;
                });
            }
            started.wait().await;
            Some(rss_bytes()? as f64 - before as f64)
        }),
        Variant::Ours => be.block_on(async {
            let mut delta = None;
            let out = Builder::new()
                .runtime(be.runtime())
                .run(async |s: &Scope<BoxError>| {
                    let before = rss_bytes();
                    for _ in 0..n {
                        let started = started.clone();
                        s.spawn(async move {
                            started.hit();
                            pending::<()>().await;
                            Ok(())
                        });
                    }
                    started.wait().await;
                    delta = before.zip(rss_bytes()).map(|(b, a)| a as f64 - b as f64);
                    s.cancel();
                    Ok(())
                })
                .await;
            assert!(out.is_err(), "memory: the scope was cancelled");
            delta
        }),
    }?;
    assert_eq!(started.count(), n, "memory: every child was polled");
    Some(delta / n as f64)
}
