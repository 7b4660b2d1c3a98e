//! The task tree as `tracing` sees it (O2, the facade's `tracing` feature): every scope and
//! child has a span, parented so that a subscriber sees the tree, with each outcome and
//! cancel reason. A checkout reserves stock in a nested scope, then charges the card while an
//! email is drafted; the card is declined, which cancels the email. The subscriber here is a
//! small hand-written one that keeps the spans and prints them as a tree; with
//! `tracing-subscriber`, `fmt().init()` prints the same spans as log lines.
//!
//! ```text
//! scope checkout [tokio-mt] failed
//! ├─ child inventory [tokio-mt] ok
//! │  └─ scope reserve [tokio-mt] ok
//! │     ├─ child warehouse-a [tokio-mt] ok
//! │     └─ child warehouse-b [tokio-mt] ok
//! ├─ child email [tokio-mt] cancelled: sibling 'payment' failed
//! │  └─ event: draft discarded, nothing sent
//! └─ child payment [tokio-mt] failed
//!    └─ event: charging the card
//! ```

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use taskscope::BoxError;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::subscriber::Interest;
use tracing::{Event, Metadata, Subscriber};

use taskscope_examples::{Backend, on_cancel};

async fn warehouse() -> Result<(), BoxError> {
    taskscope::sleep(Duration::from_millis(20)).await;
    Ok(())
}

async fn checkout() -> Result<(), taskscope::ScopeError<BoxError>> {
    taskscope::builder()
        .name("checkout")
        .run(async |s| {
            let inventory = s.spawn_named("inventory", async {
                // A scope opened in a child: its span is under the child's.
                taskscope::builder()
                    .name("reserve")
                    .run(async |s| {
                        s.spawn_named("warehouse-a", warehouse());
                        s.spawn_named("warehouse-b", warehouse());
                        Ok(())
                    })
                    .await?;
                Ok::<_, BoxError>(())
            });
            inventory.await?;
            s.spawn_named("email", async {
                // An event from the child's destructor: it runs inside the child's span.
                let draft = on_cancel(|| tracing::info!("draft discarded, nothing sent"));
                taskscope::sleep(Duration::from_secs(10)).await;
                draft.disarm();
                Ok::<_, BoxError>(())
            });
            s.spawn_named("payment", async {
                tracing::info!("charging the card");
                taskscope::sleep(Duration::from_millis(50)).await;
                Err::<(), _>(BoxError::msg("card declined"))
            });
            Ok(())
        })
        .await
}

/// Runs the checkout with the tree subscriber collecting, and returns the tree it saw, one
/// line per span or event.
pub async fn run() -> Vec<String> {
    TREE.clear();
    TREE.collecting.store(true, Ordering::SeqCst);
    let outcome = checkout().await;
    TREE.collecting.store(false, Ordering::SeqCst);
    assert!(outcome.is_err(), "the card is declined");
    TREE.lines()
}

/// Installs the tree subscriber as the process's global default (children run on the
/// runtime's threads, where a thread-local default would see nothing). Call it once, first.
pub fn install() {
    // A second call (or another global subscriber) is refused: the first one stays.
    let _ = tracing::subscriber::set_global_default(Arc::clone(&TREE));
}

fn main() {
    install();
    let backend = Backend::from_args();
    println!("== tracing_tree on {backend}");
    for line in backend.run(run()) {
        println!("{line}");
    }
}

// ---------------------------------------------------------------------------------------------
// The tree subscriber.

/// A span or event, with its fields.
struct Node {
    kind: &'static str,
    parent: Option<u64>,
    fields: BTreeMap<&'static str, String>,
}

/// A subscriber that keeps every span and event while `collecting`, and prints them as a tree.
struct Tree {
    collecting: AtomicBool,
    next: AtomicU64,
    nodes: Mutex<BTreeMap<u64, Node>>,
}

static TREE: LazyLock<Arc<Tree>> = LazyLock::new(|| {
    Arc::new(Tree { collecting: AtomicBool::new(false), next: AtomicU64::new(1), nodes: Mutex::new(BTreeMap::new()) })
});

thread_local! {
    /// The spans entered on this thread, innermost last: the parent of an event.
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

impl Tree {
    fn nodes(&self) -> MutexGuard<'_, BTreeMap<u64, Node>> {
        self.nodes.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn clear(&self) {
        self.nodes().clear();
    }

    fn add(
        &self,
        kind: &'static str,
        parent: Option<&Id>,
        contextual: bool,
        record: impl FnOnce(&mut Fields<'_>),
    ) -> u64 {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let parent = match parent {
            Some(p) => Some(p.into_u64()),
            None if contextual => ENTERED.with(|e| e.borrow().last().copied()),
            None => None,
        };
        let mut fields = BTreeMap::new();
        record(&mut Fields(&mut fields));
        self.nodes().insert(id, Node { kind, parent, fields });
        id
    }

    /// The tree, children in the order they were created.
    fn lines(&self) -> Vec<String> {
        let nodes = self.nodes();
        let mut out = Vec::new();
        let roots = nodes.iter().filter(|(_, n)| n.parent.is_none_or(|p| !nodes.contains_key(&p)));
        for (id, _) in roots {
            Self::print(&nodes, *id, "", None, &mut out);
        }
        out
    }

    /// Prints node `id` after `prefix`; `last` is `None` for a root, else whether the node is
    /// its parent's last.
    fn print(nodes: &BTreeMap<u64, Node>, id: u64, prefix: &str, last: Option<bool>, out: &mut Vec<String>) {
        let n = &nodes[&id];
        let get = |k| n.fields.get(k).map_or("-", String::as_str);
        let what = match n.kind {
            "event" => format!("event: {}", get("message")),
            kind => {
                let reason = n.fields.get("cancel_reason").map(|r| format!(": {r}")).unwrap_or_default();
                format!("{kind} {} [{}] {}{reason}", get("name"), get("runtime"), get("outcome"))
            }
        };
        let (branch, more) = match last {
            None => ("", ""),
            Some(false) => ("├─ ", "│  "),
            Some(true) => ("└─ ", "   "),
        };
        out.push(format!("{prefix}{branch}{what}"));
        let children: Vec<u64> = nodes.iter().filter(|(_, c)| c.parent == Some(id)).map(|(c, _)| *c).collect();
        for (i, c) in children.iter().enumerate() {
            Self::print(nodes, *c, &format!("{prefix}{more}"), Some(i + 1 == children.len()), out);
        }
    }
}

impl Subscriber for Tree {
    fn register_callsite(&self, _: &'static Metadata<'static>) -> Interest {
        // Asked again at every span and event: enabled only while collecting.
        Interest::sometimes()
    }
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        self.collecting.load(Ordering::Relaxed)
    }
    fn new_span(&self, attrs: &Attributes<'_>) -> Id {
        Id::from_u64(self.add(attrs.metadata().name(), attrs.parent(), attrs.is_contextual(), |f| attrs.record(f)))
    }
    fn record(&self, span: &Id, values: &Record<'_>) {
        if let Some(n) = self.nodes().get_mut(&span.into_u64()) {
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
