//! O2 with a subscriber set as the default of the owner's thread only
//! (`tracing::subscriber::with_default`, as tests and multi-tenant programs do): the children,
//! polled on the runtime's threads, still report to it. And O2 with F7: a subscriber that
//! panics never changes an outcome nor hangs a scope. No global default in this test binary.
#![cfg(feature = "tracing")]

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures_lite::future::block_on;
use taskscope_core::{BoxError, Builder, test_runtime};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

/// A span's kind, `name` field and explicit parent.
type SpanRow = (&'static str, String, Option<u64>);

/// Keeps every span's row and every event's message.
#[derive(Default)]
struct Tree {
    next: AtomicU64,
    spans: Mutex<HashMap<u64, SpanRow>>,
    events: Mutex<Vec<String>>,
}

/// Reads the `name` field of a span or the `message` of an event.
struct Text<'a>(&'static str, &'a mut String);

impl Visit for Text<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == self.0 {
            *self.1 = value.to_owned();
        }
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == self.0 {
            *self.1 = format!("{value:?}");
        }
    }
}

impl Tree {
    fn parent_of(&self, name: &str) -> Option<(&'static str, String)> {
        let spans = self.spans.lock().unwrap_or_else(PoisonError::into_inner);
        let (_, _, parent) = spans.values().find(|(_, n, _)| n == name)?;
        let (kind, n, _) = &spans[&(*parent)?];
        Some((*kind, n.clone()))
    }
}

impl Subscriber for Tree {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, attrs: &Attributes<'_>) -> Id {
        let id = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        let mut name = String::new();
        attrs.record(&mut Text("name", &mut name));
        let row = (attrs.metadata().name(), name, attrs.parent().map(Id::into_u64));
        self.spans.lock().unwrap_or_else(PoisonError::into_inner).insert(id, row);
        Id::from_u64(id)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut message = String::new();
        event.record(&mut Text("message", &mut message));
        self.events.lock().unwrap_or_else(PoisonError::into_inner).push(message);
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

/// A scope opened in a child's future (polled on a runtime thread) is under that child's
/// span, in the subscriber of the owner's thread.
#[test]
fn a_scope_opened_in_a_child_is_under_the_child_with_a_thread_default_subscriber() {
    let tree = Arc::new(Tree::default());
    tracing::subscriber::with_default(tree.clone(), || {
        block_on(Builder::new().runtime(test_runtime()).name("scoped-root").run(async |s| {
            s.spawn_named("nest", async {
                Builder::new()
                    .name("scoped-inner")
                    .run(async |s| {
                        s.spawn_named("scoped-leaf", async { Ok::<_, BoxError>(()) });
                        Ok(())
                    })
                    .await?;
                Ok::<_, BoxError>(())
            })
            .await?;
            Ok::<_, BoxError>(())
        }))
        .unwrap();
    });
    assert_eq!(tree.parent_of("scoped-inner"), Some(("child", "nest".to_owned())));
}

/// The user's event in a child (polled on a runtime thread) reaches the subscriber of the
/// child's span: the owner thread's default.
#[test]
fn an_event_in_a_child_reaches_the_subscriber_of_its_span() {
    let tree = Arc::new(Tree::default());
    tracing::subscriber::with_default(tree.clone(), || {
        block_on(Builder::new().runtime(test_runtime()).run(async |s| {
            s.spawn(async {
                tracing::info!("from a child on a runtime thread");
                Ok::<_, BoxError>(())
            });
            Ok::<_, BoxError>(())
        }))
        .unwrap();
    });
    let events = tree.events.lock().unwrap_or_else(PoisonError::into_inner);
    assert_eq!(*events, ["from a child on a runtime thread"]);
}

/// Which of its methods a [`Panicky`] subscriber panics in.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Hook {
    NewSpan,
    Record,
    Enter,
    Exit,
    CloneSpan,
    Close,
}

/// A subscriber that panics in one of its methods (a buggy layer).
struct Panicky(Hook);

impl Panicky {
    fn check(&self, hook: Hook) {
        if self.0 == hook {
            panic!("the subscriber panicked in {hook:?} on purpose");
        }
    }
}

impl Subscriber for Panicky {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &Attributes<'_>) -> Id {
        self.check(Hook::NewSpan);
        Id::from_u64(1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {
        self.check(Hook::Record);
    }
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, _: &Event<'_>) {}
    fn enter(&self, _: &Id) {
        self.check(Hook::Enter);
    }
    fn exit(&self, _: &Id) {
        self.check(Hook::Exit);
    }
    fn clone_span(&self, id: &Id) -> Id {
        self.check(Hook::CloneSpan);
        id.clone()
    }
    fn try_close(&self, _: Id) -> bool {
        self.check(Hook::Close);
        true
    }
}

/// Runs a scope whose children succeed, fail and are cancelled, with the owner's thread's
/// subscriber panicking in `hook`; the scope must return its usual outcome (within a wide
/// margin: a hang is the failure this looks for).
fn outcome_with_a_subscriber_panicking_in(hook: Hook) -> Result<Vec<u32>, String> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let r = std::panic::catch_unwind(|| {
            tracing::subscriber::with_default(Panicky(hook), || {
                block_on(Builder::new().runtime(test_runtime()).run(async |s| {
                    let a = s.spawn(async { Ok::<_, BoxError>(1) });
                    let b = s.spawn_blocking(|_| Ok::<_, BoxError>(2));
                    let c = s.spawn(std::future::pending::<Result<u32, BoxError>>());
                    c.cancel();
                    let inner = Builder::new().run(async |s| Ok::<_, BoxError>(s.spawn(async { Ok(3) }).await?)).await;
                    Ok::<_, BoxError>(vec![
                        a.await?,
                        b.await?,
                        inner.map_err(BoxError::msg)?,
                        u32::from(c.await.is_err()),
                    ])
                }))
            })
        });
        let _ = tx.send(r.map(|r| r.map_err(|e| e.to_string())).unwrap_or_else(|_| Err("panicked".to_owned())));
    });
    rx.recv_timeout(Duration::from_secs(20)).unwrap_or_else(|_| Err("the scope never returned".to_owned()))
}

#[test]
fn a_subscriber_panicking_in_new_span_changes_no_outcome() {
    assert_eq!(outcome_with_a_subscriber_panicking_in(Hook::NewSpan), Ok(vec![1, 2, 3, 1]));
}

#[test]
fn a_subscriber_panicking_in_record_changes_no_outcome() {
    assert_eq!(outcome_with_a_subscriber_panicking_in(Hook::Record), Ok(vec![1, 2, 3, 1]));
}

#[test]
fn a_subscriber_panicking_in_enter_changes_no_outcome() {
    assert_eq!(outcome_with_a_subscriber_panicking_in(Hook::Enter), Ok(vec![1, 2, 3, 1]));
}

#[test]
fn a_subscriber_panicking_in_exit_changes_no_outcome() {
    assert_eq!(outcome_with_a_subscriber_panicking_in(Hook::Exit), Ok(vec![1, 2, 3, 1]));
}

#[test]
fn a_subscriber_panicking_in_clone_span_changes_no_outcome() {
    assert_eq!(outcome_with_a_subscriber_panicking_in(Hook::CloneSpan), Ok(vec![1, 2, 3, 1]));
}

#[test]
fn a_subscriber_panicking_in_close_changes_no_outcome() {
    assert_eq!(outcome_with_a_subscriber_panicking_in(Hook::Close), Ok(vec![1, 2, 3, 1]));
}
