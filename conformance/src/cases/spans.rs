//! O2 — tracing spans: the task tree as a `tracing` subscriber sees it, on every backend.
//!
//! The subscriber is this module's own collector, installed once per process as the global
//! default (children run on the runtime's threads, where a thread-local default would see
//! nothing). It keeps only the spans under a root scope named `o2-root-N` (each case run
//! opens its own), and only while such a case runs, so other cases running at the same time
//! cost it nothing and are not seen. The local scope's O2 case (in `local.rs`) collects with
//! it too, through [`collect_spans`].

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};

use taskscope_core::BoxError;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::subscriber::Interest;
use tracing::{Event, Metadata, Subscriber};

use crate::Harness;
use crate::support::*;

const ROOT_PREFIX: &str = "o2-root-";

/// A kept span or event.
struct Node {
    /// `scope`, `child`, or `event`.
    kind: &'static str,
    parent: Option<u64>,
    fields: BTreeMap<&'static str, String>,
}

#[derive(Default)]
struct Collector {
    next: AtomicU64,
    /// Cases collecting now: spans are enabled only while one runs.
    active: AtomicUsize,
    kept: Mutex<HashMap<u64, Node>>,
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
    fn kept(&self) -> MutexGuard<'_, HashMap<u64, Node>> {
        self.kept.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Keeps a new span or event if it is a root scope or under a kept span.
    fn add(
        &self,
        kind: &'static str,
        parent: Option<&Id>,
        contextual: bool,
        record: impl FnOnce(&mut Fields<'_>),
    ) -> u64 {
        let id = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        let parent = match parent {
            Some(p) => Some(p.into_u64()),
            None if contextual => ENTERED.with(|e| e.borrow().last().copied()),
            None => None,
        };
        let mut fields = BTreeMap::new();
        record(&mut Fields(&mut fields));
        let mut kept = self.kept();
        let root = kind == "scope" && fields.get("name").is_some_and(|n| n.starts_with(ROOT_PREFIX));
        if root || parent.is_some_and(|p| kept.contains_key(&p)) {
            kept.insert(id, Node { kind, parent, fields });
        }
        id
    }

    /// The tree under the root scope named `root`, one line per span or event, indented by
    /// depth: `kind name [runtime] outcome (cancel reason)`, children in creation order.
    fn tree(&self, root: &str) -> String {
        let kept = self.kept();
        let mut ids: Vec<u64> = kept.keys().copied().collect();
        ids.sort_unstable();
        let mut stack: Vec<(u64, usize)> =
            ids.iter().filter(|id| kept[id].fields.get("name").is_some_and(|n| n == root)).map(|id| (*id, 0)).collect();
        let mut out = String::new();
        while let Some((id, depth)) = stack.pop() {
            let n = &kept[&id];
            let get = |k| n.fields.get(k).map_or("-", String::as_str);
            let line = match n.kind {
                "event" => format!("event {}", get("message")),
                kind => format!("{kind} {} [{}] {}", get("name"), get("runtime"), get("outcome")),
            };
            let reason = n.fields.get("cancel_reason").map(|r| format!(" ({r})")).unwrap_or_default();
            writeln!(out, "{}{line}{reason}", "  ".repeat(depth)).unwrap();
            stack.extend(ids.iter().rev().filter(|c| kept[c].parent == Some(id)).map(|c| (*c, depth + 1)));
        }
        out
    }
}

impl Subscriber for Collector {
    fn register_callsite(&self, _: &'static Metadata<'static>) -> Interest {
        // Asked again at every span: enabled only while a case collects.
        Interest::sometimes()
    }
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        self.active.load(Ordering::Acquire) > 0
    }
    fn new_span(&self, attrs: &Attributes<'_>) -> Id {
        Id::from_u64(self.add(attrs.metadata().name(), attrs.parent(), attrs.is_contextual(), |f| attrs.record(f)))
    }
    fn record(&self, span: &Id, values: &Record<'_>) {
        if let Some(n) = self.kept().get_mut(&span.into_u64()) {
            values.record(&mut Fields(&mut n.fields));
        }
    }
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        self.add("event", event.parent(), event.is_contextual(), |f| event.record(f));
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

/// The collector, installed as the process's global default on first use. `None` if another
/// global subscriber was installed first (the case then cannot observe anything).
fn collector() -> Option<&'static Arc<Collector>> {
    static COLLECTOR: OnceLock<Option<Arc<Collector>>> = OnceLock::new();
    COLLECTOR
        .get_or_init(|| {
            let c = Arc::new(Collector::default());
            tracing::subscriber::set_global_default(c.clone()).ok().map(|()| c)
        })
        .as_ref()
}

/// Collecting while alive.
struct Collecting(&'static Collector);

impl Collecting {
    fn start(c: &'static Collector) -> Self {
        c.active.fetch_add(1, Ordering::AcqRel);
        Self(c)
    }
}

impl Drop for Collecting {
    fn drop(&mut self) {
        self.0.active.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Runs `case` with a root scope name of its own, collecting spans meanwhile, and gives back
/// that name and the tree under the root scope of that name, as [`Collector::tree`] writes it.
pub(crate) fn collect_spans(case: impl FnOnce(&str)) -> (String, String) {
    static RUN: AtomicUsize = AtomicUsize::new(0);
    let c = collector().expect("taskscope-conformance's collector is the process's global tracing subscriber");
    let root = format!("{ROOT_PREFIX}{}", RUN.fetch_add(1, Ordering::Relaxed));
    let collecting = Collecting::start(c);
    case(&root);
    drop(collecting);
    let tree = c.tree(&root);
    (root, tree)
}

/// O2: with the `tracing` feature, a scope's span is the parent of its children's spans, a
/// scope opened in a child is under that child's span (the child ran on a runtime thread), an
/// event inside a child is under the child, and every outcome and cancel reason is recorded.
pub fn o2_spans_form_the_task_tree_with_outcomes(h: &dyn Harness) {
    let (root, tree) = collect_spans(|root| {
        h.block_on(Box::pin(async {
            let r = builder(h)
                .name(root.to_owned())
                .run(async |s| {
                    let a = s.spawn_named("a", async {
                        tracing::info!("inside a");
                        ok()
                    });
                    let nest = s.spawn_named("nest", async {
                        Builder::typed()
                            .name("inner")
                            .run(async |s| {
                                s.spawn_named("leaf", async { ok() });
                                ok()
                            })
                            .await?;
                        ok()
                    });
                    a.await?;
                    nest.await?;
                    s.spawn_named("waiter", async {
                        forever().await;
                        ok()
                    });
                    s.spawn_named("boom", async { Err::<(), _>(err("boom")) });
                    Ok::<_, BoxError>(())
                })
                .await;
            expect_failed(r);
        }));
    });
    let rt = h.runtime().name();
    let expected = format!(
        "scope {root} [{rt}] failed
  child a [{rt}] ok
    event inside a
  child nest [{rt}] ok
    scope inner [{rt}] ok
      child leaf [{rt}] ok
  child waiter [{rt}] cancelled (sibling 'boom' failed)
  child boom [{rt}] failed
"
    );
    assert_eq!(tree, expected, "the task tree as the subscriber saw it");
}
