//! O2: with the `tracing` feature, every scope and child has a span, parented so that a
//! subscriber sees the task tree, with the outcome and cancel reason recorded. A small
//! collecting subscriber, installed once as the global default (children run on other
//! threads), keeps every span and event; each test reads back the tree under its own root
//! scope, named uniquely, so tests running at once do not see each other's spans.
#![cfg(feature = "tracing")]

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use futures_lite::future::block_on;
use taskscope_core::{BoxError, Builder, CancelToken, LocalBuilder, local_scope, test_runtime};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

/// A span or an event as the collector saw it.
#[derive(Debug, Default)]
struct Node {
    /// `scope`, `child`, or `event`.
    kind: &'static str,
    parent: Option<u64>,
    fields: BTreeMap<&'static str, String>,
    /// Live handles (`Span` values) to the span; the span closes at zero.
    refs: usize,
    closed: bool,
}

#[derive(Default)]
struct Collector {
    next: AtomicU64,
    nodes: Mutex<HashMap<u64, Node>>,
}

thread_local! {
    /// The spans entered on this thread, innermost last: the contextual parent.
    static ENTERED: RefCell<Vec<u64>> = const { RefCell::new(Vec::new()) };
}

struct Fields<'a>(&'a mut BTreeMap<&'static str, String>);

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name(), value.to_owned());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name(), format!("{value:?}"));
    }
}

impl Collector {
    fn nodes(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Node>> {
        self.nodes.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn add(&self, kind: &'static str, parent: Option<&Id>, contextual: bool) -> u64 {
        let id = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        let parent = match parent {
            Some(p) => Some(p.into_u64()),
            None if contextual => ENTERED.with(|e| e.borrow().last().copied()),
            None => None,
        };
        self.nodes().insert(id, Node { kind, parent, fields: BTreeMap::new(), refs: 1, closed: false });
        id
    }

    /// The tree under the root scope named `root`, one line per span or event, indented by depth:
    /// `kind name [runtime] outcome (cancel reason)`, children in creation order.
    fn tree(&self, root: &str) -> String {
        let nodes = self.nodes();
        let mut ids: Vec<u64> = nodes.keys().copied().collect();
        ids.sort_unstable();
        let top = ids.iter().copied().filter(|id| nodes[id].fields.get("name").map(String::as_str) == Some(root));
        let mut out = String::new();
        let mut stack: Vec<(u64, usize)> = top.map(|id| (id, 0)).collect();
        while let Some((id, depth)) = stack.pop() {
            let n = &nodes[&id];
            let get = |k| n.fields.get(k).map_or("-", String::as_str);
            let line = match n.kind {
                "event" => format!("event {}", get("message")),
                kind => format!("{kind} {} [{}] {}", get("name"), get("runtime"), get("outcome")),
            };
            let reason = n.fields.get("cancel_reason").map(|r| format!(" ({r})")).unwrap_or_default();
            writeln!(out, "{}{line}{reason}", "  ".repeat(depth)).unwrap();
            let under = ids.iter().rev().copied().filter(|c| nodes[c].parent == Some(id));
            stack.extend(under.map(|c| (c, depth + 1)));
        }
        out
    }
}

impl Collector {
    /// Whether the span whose `name` field is `name` is closed.
    fn is_closed(&self, name: &str) -> Option<bool> {
        let nodes = self.nodes();
        nodes.values().find(|n| n.fields.get("name").is_some_and(|n| n == name)).map(|n| n.closed)
    }

    /// The field `field` of the span whose `name` field is `name`.
    fn field_of(&self, name: &str, field: &str) -> Option<String> {
        let nodes = self.nodes();
        nodes.values().find(|n| n.fields.get("name").is_some_and(|n| n == name))?.fields.get(field).cloned()
    }

    /// Whether the span whose `name` field is `name` has a parent.
    fn has_parent(&self, name: &str) -> Option<bool> {
        let nodes = self.nodes();
        nodes.values().find(|n| n.fields.get("name").is_some_and(|n| n == name)).map(|n| n.parent.is_some())
    }

    /// The span name and `name` field of the parent of the span whose `name` field is `name`.
    fn parent_of(&self, name: &str) -> Option<(&'static str, String)> {
        let nodes = self.nodes();
        let node = nodes.values().find(|n| n.fields.get("name").is_some_and(|n| n == name))?;
        let parent = &nodes[&node.parent?];
        Some((parent.kind, parent.fields.get("name").cloned().unwrap_or_default()))
    }
}

impl Subscriber for Collector {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, attrs: &Attributes<'_>) -> Id {
        let id = self.add(attrs.metadata().name(), attrs.parent(), attrs.is_contextual());
        attrs.record(&mut Fields(&mut self.nodes().get_mut(&id).expect("just added").fields));
        Id::from_u64(id)
    }
    fn record(&self, span: &Id, values: &Record<'_>) {
        if let Some(n) = self.nodes().get_mut(&span.into_u64()) {
            values.record(&mut Fields(&mut n.fields));
        }
    }
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn clone_span(&self, id: &Id) -> Id {
        if let Some(n) = self.nodes().get_mut(&id.into_u64()) {
            n.refs += 1;
        }
        id.clone()
    }
    fn try_close(&self, id: Id) -> bool {
        let mut nodes = self.nodes();
        let Some(n) = nodes.get_mut(&id.into_u64()) else { return false };
        n.refs = n.refs.saturating_sub(1);
        n.closed = n.refs == 0;
        n.closed
    }
    fn event(&self, event: &Event<'_>) {
        let id = self.add("event", event.parent(), event.is_contextual());
        event.record(&mut Fields(&mut self.nodes().get_mut(&id).expect("just added").fields));
    }
    fn enter(&self, span: &Id) {
        ENTERED.with(|e| e.borrow_mut().push(span.into_u64()));
    }
    fn exit(&self, span: &Id) {
        ENTERED.with(|e| {
            let mut e = e.borrow_mut();
            if let Some(at) = e.iter().rposition(|s| *s == span.into_u64()) {
                e.remove(at);
            }
        });
    }
}

/// The collector, installed as the global default on first use.
fn collector() -> &'static Collector {
    static COLLECTOR: OnceLock<Arc<Collector>> = OnceLock::new();
    COLLECTOR.get_or_init(|| {
        let c = Arc::new(Collector::default());
        tracing::subscriber::set_global_default(c.clone()).expect("no other global subscriber in this test binary");
        c
    })
}

fn pending_forever() -> std::future::Pending<Result<(), BoxError>> {
    std::future::pending()
}

/// The tree: the scope's span over its children's, a scope opened in a child under that
/// child's span (children run on other threads), a user event in a child under the child,
/// and each outcome and cancel reason recorded.
#[test]
fn spans_show_the_task_tree_with_outcomes() {
    let c = collector();
    let r = block_on(Builder::new().runtime(test_runtime()).name("tree-root").run(async |s| {
        let ok = s.spawn_named("ok", async {
            tracing::info!("hello from ok");
            Ok(())
        });
        let nest = s.spawn_named("nest", async {
            Builder::new()
                .name("inner")
                .run(async |s| {
                    s.spawn_named("leaf", async { Ok::<_, BoxError>(()) });
                    Ok(())
                })
                .await?;
            Ok(())
        });
        ok.await?;
        nest.await?;
        s.spawn_named("waiter", pending_forever());
        s.spawn_named("boom", async { Err::<(), _>(BoxError::msg("boom")) });
        Ok::<_, BoxError>(())
    }));
    assert!(r.is_err());
    assert_eq!(
        c.tree("tree-root"),
        "scope tree-root [threads] failed
  child ok [threads] ok
    event hello from ok
  child nest [threads] ok
    scope inner [threads] ok
      child leaf [threads] ok
  child waiter [threads] cancelled (sibling 'boom' failed)
  child boom [threads] failed
"
    );
}

/// A cancelled scope records its reason; a child cancelled through its handle records that.
#[test]
fn cancel_reasons_are_recorded() {
    let c = collector();
    let r = block_on(Builder::new().runtime(test_runtime()).name("cancel-root").run(async |s| {
        let h = s.spawn_named("alone", pending_forever());
        h.cancel();
        let _ = h.await;
        s.cancel();
        Ok::<_, BoxError>(())
    }));
    assert!(r.unwrap_err().is_cancelled());
    // The handle's own reason: no enclosing scope in between.
    assert_eq!(c.field_of("alone", "cancel_depth"), Some("0".to_owned()));
    assert_eq!(
        c.tree("cancel-root"),
        "scope cancel-root [threads] cancelled (cancelled: Scope::cancel() called)
  child alone [threads] cancelled (cancelled: JoinHandle::cancel() called)
"
    );
}

/// A panicking child and the scope it resumes in both record `panicked`.
#[test]
fn panics_are_recorded() {
    let c = collector();
    let r = std::panic::catch_unwind(|| {
        block_on(Builder::new().runtime(test_runtime()).name("panic-root").run(async |s| {
            s.spawn_named("bad", async { panic!("child panicked on purpose") as Result<(), BoxError> });
            Ok::<_, BoxError>(())
        }))
    });
    assert!(r.is_err());
    assert_eq!(c.tree("panic-root"), "scope panic-root [threads] panicked\n  child bad [threads] panicked\n");
}

/// Blocking children get spans; a local scope opened in a scope's body is under that scope,
/// with its child (on the enclosing scope's runtime) under it, and an event in the local child
/// under the child.
#[test]
fn blocking_and_local_scopes_have_spans() {
    let c = collector();
    let r = block_on(Builder::new().runtime(test_runtime()).name("more-root").run(async |s| {
        s.spawn_blocking(|_| {
            tracing::info!("blocking work");
            Ok::<_, BoxError>(())
        })
        .await?;
        local_scope(async |s| {
            s.spawn(async {
                tracing::info!("in a local child");
                Ok::<_, BoxError>(())
            });
            Ok(())
        })
        .await?;
        Ok::<_, BoxError>(())
    }));
    r.unwrap();
    assert_eq!(
        c.tree("more-root"),
        "scope more-root [threads] ok
  child - [threads] ok
    event blocking work
  scope - [threads] ok
    child - [threads] ok
      event in a local child
"
    );
}

/// A local scope's children (P3) have spans under the local scope's span, with their names and
/// outcomes: an event in a local child is under the child, a scope opened in a local child is
/// under the child, and a child cancelled through its handle or by a failing sibling records
/// why. A local scope without a runtime gives its children none.
#[test]
fn local_children_have_spans_under_the_local_scope() {
    let c = collector();
    let r = block_on(LocalBuilder::new().name("local-root").run(async |s| {
        let ok = s.spawn_named("local-ok", async {
            tracing::info!("hello from a local child");
            Ok(())
        });
        let nest = s.spawn_named("local-nest", async {
            LocalBuilder::new()
                .name("local-inner")
                .run(async |s| {
                    s.spawn_named("local-leaf", async { Ok::<_, BoxError>(()) });
                    Ok(())
                })
                .await?;
            Ok(())
        });
        ok.await?;
        nest.await?;
        let stopped = s.spawn_named("local-stopped", pending_forever());
        stopped.cancel();
        assert!(stopped.await.is_err());
        s.spawn_named("local-waiter", pending_forever());
        s.spawn_named("local-boom", async { Err::<(), _>(BoxError::msg("boom")) });
        Ok::<_, BoxError>(())
    }));
    assert!(r.is_err());
    assert_eq!(
        c.tree("local-root"),
        "scope local-root [-] failed
  child local-ok [-] ok
    event hello from a local child
  child local-nest [-] ok
    scope local-inner [-] ok
      child local-leaf [-] ok
  child local-stopped [-] cancelled (cancelled: LocalJoinHandle::cancel() called)
  child local-waiter [-] cancelled (sibling 'local-boom' failed)
  child local-boom [-] failed
"
    );
}

/// A local child's span is closed once the child ended, and a spawn refused by a finished
/// local scope (S4) gets a root span recording `closed`.
#[test]
fn a_local_childs_span_closes_and_a_refused_local_spawn_is_closed() {
    let c = collector();
    let r = block_on(LocalBuilder::new().name("local-closing-root").run(async |s| {
        s.spawn_named("local-done", async { Ok::<_, BoxError>(()) });
        Ok::<_, BoxError>(s.spawner())
    }));
    let spawner = r.unwrap();
    assert_eq!(c.is_closed("local-done"), Some(true));
    drop(spawner.spawn_named("local-refused-late", async { Ok(()) }));
    assert_eq!(
        (c.has_parent("local-refused-late"), c.field_of("local-refused-late", "outcome")),
        (Some(false), Some("closed".to_owned()))
    );
}

/// A scope's span closes once the scope returned, though a `Spawner` outlives it (S5): a
/// subscriber that exports or prints a span when it closes sees it then.
#[test]
fn a_finished_scopes_span_closes_though_a_spawner_outlives_it() {
    let c = collector();
    let r = block_on(
        Builder::new().runtime(test_runtime()).name("closed-root").run(async |s| Ok::<_, BoxError>(s.spawner())),
    );
    let _spawner = r.unwrap();
    assert_eq!(c.is_closed("closed-root"), Some(true));
}

/// A spawn refused by a finished scope (S4) gets a root span recording `closed`: the scope's
/// span is closed, so it is nobody's parent any more.
#[test]
fn a_spawn_refused_by_a_finished_scope_is_a_root_span() {
    let c = collector();
    let r = block_on(
        Builder::new().runtime(test_runtime()).name("refusing-root").run(async |s| Ok::<_, BoxError>(s.spawner())),
    );
    drop(r.unwrap().spawn_named("refused-late", async { Ok(()) }));
    assert_eq!(
        (c.has_parent("refused-late"), c.field_of("refused-late", "outcome")),
        (Some(false), Some("closed".to_owned()))
    );
}

/// A child cancelled by an enclosing scope records the root reason and how many scopes up it
/// came from (bounded text, however deep the tree: T2).
#[test]
fn a_reason_from_an_enclosing_scope_records_its_root_and_depth() {
    let c = collector();
    let r = block_on(Builder::new().runtime(test_runtime()).name("depth-root").run(async |s| {
        let opened = CancelToken::new();
        let signal = opened.clone();
        s.spawn_named("depth-nest", async move {
            Builder::new()
                .name("depth-inner")
                .run(async |s| {
                    s.spawn_named("depth-leaf", pending_forever());
                    signal.cancel();
                    Ok(())
                })
                .await?;
            Ok::<_, BoxError>(())
        });
        opened.cancelled().await;
        s.cancel();
        Ok::<_, BoxError>(())
    }));
    assert!(r.unwrap_err().is_cancelled());
    assert_eq!(
        (c.field_of("depth-leaf", "cancel_reason"), c.field_of("depth-leaf", "cancel_depth")),
        (Some("cancelled: Scope::cancel() called".to_owned()), Some("1".to_owned()))
    );
}

/// A scope opened outside any scope is under the thread's current span: the application's.
#[test]
fn a_top_level_scope_is_under_the_current_span() {
    let c = collector();
    let request = tracing::info_span!("request", name = "GET /orders");
    let r = request.in_scope(|| {
        block_on(Builder::new().runtime(test_runtime()).name("top-root").run(async |_| Ok::<_, BoxError>(())))
    });
    r.unwrap();
    assert_eq!(c.parent_of("top-root"), Some(("request", "GET /orders".to_owned())));
}

/// A local child's poll enters its span only while it runs: a scope opened afterwards on the
/// same thread, outside any scope and span, is a root, not under that child.
#[test]
fn a_scope_opened_after_a_local_childs_poll_is_not_under_that_child() {
    let c = collector();
    block_on(local_scope(async |s: &taskscope_core::LocalScope<'_, BoxError>| {
        s.spawn_named("polled-then-gone", async { Ok(()) });
        Ok(())
    }))
    .unwrap();
    block_on(
        Builder::new().runtime(test_runtime()).name("opened-after-a-local-child").run(async |_| Ok::<_, BoxError>(())),
    )
    .unwrap();
    assert_eq!(c.has_parent("opened-after-a-local-child"), Some(false));
}
