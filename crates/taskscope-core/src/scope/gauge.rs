//! The process-wide gauge of live children (O1, O3): the "no orphans" count of every scope.
//!
//! Sharded so that threads spawning and finishing children do not all write one cache line: a
//! child is counted up on the shard of the thread that spawned it and down on the shard of the
//! thread that dropped it, so a shard may go "negative"; the sum is exact. The shards are
//! std's atomics even under loom: a sum read without ordering claims.

use std::sync::atomic::{AtomicIsize, AtomicUsize, Ordering};

const SHARDS: usize = 16;

#[repr(align(128))]
struct Shard(AtomicIsize);

static GAUGE: [Shard; SHARDS] = [const { Shard(AtomicIsize::new(0)) }; SHARDS];

fn shard() -> &'static AtomicIsize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static INDEX: usize = NEXT.fetch_add(1, Ordering::Relaxed) % SHARDS;
    }
    &GAUGE[INDEX.try_with(|i| *i).unwrap_or(0)].0
}

/// A child was registered.
pub(super) fn add() {
    shard().fetch_add(1, Ordering::AcqRel);
}

/// A child is gone (before its handle reports it: O3).
pub(super) fn sub() {
    shard().fetch_sub(1, Ordering::AcqRel);
}

/// The number of live children of all scopes in the process: spawned and not yet dropped
/// (O1, the "no orphans" gauge). Zero whenever no scope is running.
///
/// ```
/// assert_eq!(taskscope_core::live_children(), 0);
/// ```
pub fn live_children() -> usize {
    let sum: isize = GAUGE.iter().map(|s| s.0.load(Ordering::Acquire)).sum();
    usize::try_from(sum).unwrap_or(0)
}
