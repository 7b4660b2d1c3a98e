//! O2 with T2: a child cancelled under a chain of 10^5 tokens records its cancel reason with a
//! subscriber that formats every field (as `tracing-subscriber`'s fmt layer does): the recorded
//! text is bounded (the root reason, and the chain's length as a number), and recording it
//! neither recurses once per level nor formats the whole chain. In its own test binary: a
//! stack overflow is a process abort, not a test failure.
#![cfg(feature = "tracing")]

use std::sync::Mutex;

use futures_lite::future::block_on;
use taskscope_core::{BoxError, Builder, CancelToken, test_runtime};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

/// Formats every field it is given, keeping the longest text.
#[derive(Default)]
struct Formatting {
    next: Mutex<u64>,
    longest: Mutex<usize>,
}

struct Len<'a>(&'a Mutex<usize>);

impl Visit for Len<'_> {
    fn record_debug(&mut self, _: &Field, value: &dyn std::fmt::Debug) {
        let n = format!("{value:?}").len();
        let mut l = self.0.lock().unwrap();
        *l = (*l).max(n);
    }
}

impl Subscriber for Formatting {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, attrs: &Attributes<'_>) -> Id {
        attrs.record(&mut Len(&self.longest));
        let mut n = self.next.lock().unwrap();
        *n += 1;
        Id::from_u64(*n)
    }
    fn record(&self, _: &Id, values: &Record<'_>) {
        values.record(&mut Len(&self.longest));
    }
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, _: &Event<'_>) {}
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

#[test]
fn a_reason_under_a_deep_token_chain_is_recorded_bounded() {
    let subscriber = std::sync::Arc::new(Formatting::default());
    tracing::subscriber::set_global_default(subscriber.clone()).unwrap();
    let root = CancelToken::new();
    let mut leaf = root.child();
    for _ in 0..100_000 {
        leaf = leaf.child();
    }
    let r = block_on(Builder::new().runtime(test_runtime()).parent(&leaf).run(async |s| {
        s.spawn(std::future::pending::<Result<(), BoxError>>());
        root.cancel();
        Ok::<_, BoxError>(())
    }));
    assert!(r.unwrap_err().is_cancelled());
    let longest = *subscriber.longest.lock().unwrap();
    assert!(longest < 100, "a recorded field is {longest} characters long");
}
