//! Randomized scope trees checked against a model of the rules (S1–S4, F1–F5, C1–C7, C9,
//! L1–L3, T3).
//!
//! [`Tree::generate`] draws, from a seed, a tree of nested scopes whose children sleep, then
//! succeed, fail, panic, spawn a sibling or open a nested scope; children either watch their
//! token (and then clean up for a while, successfully or not) or ignore it, some are
//! shielded and some cancelled through their handle; scopes get random policies, deadlines, grace periods,
//! limits, and the root an external cancellation.
//!
//! [`Tree::predict`] is an independent model: every leaf's work is a sleep of a known length,
//! so with all event times distinct (the generator redraws a tree until they are) the outcome
//! follows from the rules by arithmetic: which event cancels each scope first, when, which
//! children are still running then, what the grace lets them do. [`check_tree`] runs the tree
//! on a [`Harness`] and compares: the outcome kind, every error exactly once and in order
//! (F2, F3), the reason of a cancellation, a panic's payload, no child future alive after its
//! scope (S1, with drop guards), and, on a virtual clock, the exact finishing time.
//!
//! The model covers, deliberately, only shapes whose outcome the rules fix: errors from the
//! body only under fail-fast, no grace period on racing scopes or on nested scopes where a
//! panic may happen, nested scopes fail-fast.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use taskscope_core::{BoxError, CancelReason, CancelToken, Policy, Runtime, ScopeError, Task};

use crate::Harness;
use crate::support::{Builder, Spawner, Tracker, catch_panic};

/// A small seeded generator (splitmix64), so that a seed names one tree on every machine.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator whose stream is determined by `seed`.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// A number in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + ((u128::from(self.next_u64()) * u128::from(hi - lo + 1)) >> 64) as u64
    }
    /// `true` with probability `percent` / 100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.range(0, 99) < percent
    }
}

/// The size of the trees drawn, and the length of one time unit.
#[derive(Clone, Copy, Debug)]
pub struct Shape {
    /// Event times are drawn in `1..=span` units.
    pub span: u64,
    /// One unit of time.
    pub unit: Duration,
    /// At most this many children per scope (siblings spawned later not counted).
    pub max_children: u64,
    /// At most this many levels of nested scopes under the root.
    pub max_depth: u32,
    /// Events in the same instant whose order the rules fix only on one thread (a child
    /// spawned just before its spawner fails starts after the failure) are generated.
    pub same_instant: bool,
}

impl Shape {
    /// For a virtual clock: fine-grained times, bigger trees.
    pub const VIRTUAL: Shape =
        Shape { span: 1000, unit: Duration::from_millis(1), max_children: 6, max_depth: 2, same_instant: true };
    /// For real clocks: coarse units (50 ms between any two events: wide margins against
    /// scheduling jitter), small trees.
    pub const REAL: Shape =
        Shape { span: 16, unit: Duration::from_millis(50), max_children: 3, max_depth: 1, same_instant: false };
}

/// A scope of the tree.
#[derive(Clone, Debug)]
pub struct ScopeSpec {
    policy: Policy,
    /// Timeout, in units from the scope's start.
    deadline: Option<u64>,
    grace: u64,
    limit: Option<usize>,
    /// The body spawns every child, then sleeps this long and returns.
    body_ms: u64,
    /// The body returns this error instead of `Ok` (fail-fast only).
    body_err: Option<u32>,
    children: Vec<ChildSpec>,
}

/// A child of a scope: it works (sleeps) for `run` units, then may spawn a sibling, then ends.
#[derive(Clone, Debug)]
pub struct ChildSpec {
    run: u64,
    end: End,
    /// Keeps working through a cancellation (until dropped), instead of watching its token.
    ignores_token: bool,
    /// When watching its token and cancelled with a grace period: cleans up this long, then
    /// returns this error or `Ok`.
    cleanup: (u64, Option<u32>),
    sibling: Option<Box<ChildSpec>>,
    /// Cancelled through its handle at this time (units from the scope's start), C9.
    cancel_at: Option<u64>,
    /// Spawned shielded (C8): the scope's cancellation neither drops it nor ends its work
    /// (it also ignores its token); the scope waits for it.
    shielded: bool,
}

/// How a child ends when not cancelled.
#[derive(Clone, Debug)]
pub enum End {
    /// `Ok(())`.
    Ok,
    /// An error with this id.
    Err(u32),
    /// A panic with this id as payload.
    Panic(u32),
    /// Opens this nested scope (right away, `run` is then zero) and returns its result with `?`.
    Nested(Box<ScopeSpec>),
}

/// A generated tree: the root scope and, maybe, the time its parent token is cancelled.
#[derive(Clone, Debug)]
pub struct Tree {
    root: ScopeSpec,
    external: Option<u64>,
}

/// An error member the model expects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Member {
    /// A leaf's error, by id (its message is `E<id>!`).
    Leaf(u32),
    /// A nested scope's failure: its group.
    Group(Vec<Member>),
    /// A nested scope's own deadline (an ordinary error for its parent, C7).
    Elapsed,
    /// A nested scope cancelled by its parent, with the errors its children returned during
    /// its grace period.
    Cancelled(Vec<Member>),
}

/// Why a scope was cancelled, as the model sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Why {
    /// Its own deadline.
    Deadline,
    /// Its parent (token) was cancelled.
    Parent,
    /// A race was won.
    RaceWon,
}

/// The outcome the model predicts for a scope.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Succeeded.
    Ok,
    /// Failed with exactly these errors, in this order.
    Failed(Vec<Member>),
    /// Cancelled for this reason, with these errors collected during the grace.
    Cancelled(Why, Vec<Member>),
    /// A panic with this payload resumed.
    Panic(u32),
}

struct Ids(u32);

impl Ids {
    fn next(&mut self) -> u32 {
        self.0 += 1;
        self.0
    }
}

impl Tree {
    /// Draws a tree from `seed`, redrawing until all its event times are distinct.
    pub fn generate(seed: u64, shape: Shape) -> Tree {
        let mut rng = Rng::new(seed);
        loop {
            let mut ids = Ids(0);
            let root = gen_scope(&mut rng, &mut ids, shape, 0, true, true);
            let external = rng.chance(20).then(|| rng.range(1, shape.span));
            let tree = Tree { root, external };
            if tree.predict_timed().is_some() {
                return tree;
            }
        }
    }

    /// The outcome the rules give, and when (in units) the root scope ends.
    pub fn predict(&self) -> (Outcome, u64) {
        self.predict_timed().expect("generate only returns trees with distinct event times")
    }

    fn predict_timed(&self) -> Option<(Outcome, u64)> {
        let mut times = Times(Default::default());
        let outer = self.external.map(|t| (t, Why::Parent));
        if let Some(t) = self.external {
            times.add(self, 0, t);
        }
        let r = model_scope(&self.root, 0, outer, &mut times);
        times.distinct().then_some(r)
    }
}

fn gen_scope(rng: &mut Rng, ids: &mut Ids, shape: Shape, depth: u32, root: bool, panics: bool) -> ScopeSpec {
    let policy = if !root {
        Policy::FailFast
    } else {
        match rng.range(0, 9) {
            0..=5 => Policy::FailFast,
            6..=7 => Policy::Supervise,
            _ => Policy::Race,
        }
    };
    let fail_fast = policy == Policy::FailFast;
    // Nested scopes where a panic may happen get no grace period (below).
    let panics = panics && (root || rng.chance(50));
    let n = rng.range(if root { 1 } else { 0 }, shape.max_children);
    let mut children: Vec<ChildSpec> = (0..n).map(|_| gen_child(rng, ids, shape, depth, panics, true)).collect();
    // Handle cancellations (C9) where keeping a handle does not change where errors go (a
    // supervising scope delivers an error to a live handle instead of its group).
    if policy != Policy::Supervise {
        for c in &mut children {
            c.cancel_at = rng.chance(15).then(|| rng.range(1, shape.span));
        }
    }
    // Nested scopes get a grace only where no panic can happen in them (a panic during a
    // nested grace is outside what the model predicts).
    let grace =
        if (root || !panics) && policy != Policy::Race && rng.chance(40) { rng.range(1, shape.span / 2) } else { 0 };
    let limit = (root && rng.chance(25)).then(|| rng.range(1, 2) as usize);
    let mut body_ms = if policy == Policy::Race { 0 } else { rng.range(0, shape.span / 2) };
    let body_err = (fail_fast && rng.chance(10)).then(|| ids.next());
    // A nested scope failing in its first poll would tie with its parent's other children
    // starting (their first polls come in scheduler order): the model cannot order them.
    // On real multi-threaded runtimes a child may also start in parallel with a body that
    // fails in its first poll.
    if body_err.is_some() && (!root || !shape.same_instant) {
        body_ms = body_ms.max(1);
    }
    if !shape.same_instant {
        // On real runtimes a sibling spawned by a child that then fails (or wins a race) may
        // start in parallel, before the scope is cancelled: only successful children of
        // non-racing scopes spawn siblings there.
        for c in children.iter_mut().filter(|c| !matches!(c.end, End::Ok) || policy == Policy::Race) {
            c.sibling = None;
        }
    }
    // Shielded leaves (C8), in the root without a limit (a shielded leaf keeps a nested
    // scope running past a panic, which would reach its parent during the parent's grace).
    if root && limit.is_none() {
        for c in children.iter_mut().filter(|c| matches!(c.end, End::Ok | End::Err(_))) {
            c.shielded = rng.chance(8);
            c.ignores_token |= c.shielded;
        }
    }
    ScopeSpec {
        policy,
        deadline: rng.chance(30).then(|| rng.range(1, shape.span)),
        grace,
        limit,
        body_ms,
        body_err,
        children,
    }
}

fn gen_child(rng: &mut Rng, ids: &mut Ids, shape: Shape, depth: u32, panics: bool, may_spawn: bool) -> ChildSpec {
    let end = match rng.range(0, 9) {
        0..=3 => End::Ok,
        4..=6 => End::Err(ids.next()),
        7 if panics => End::Panic(ids.next()),
        8 | 9 if depth < shape.max_depth => End::Nested(Box::new(gen_scope(rng, ids, shape, depth + 1, false, panics))),
        _ => End::Ok,
    };
    let nested = matches!(end, End::Nested(_));
    ChildSpec {
        run: if nested { 0 } else { rng.range(1, shape.span) },
        ignores_token: matches!(end, End::Ok | End::Err(_)) && rng.chance(30),
        shielded: false,
        cleanup: (rng.range(1, shape.span / 2), rng.chance(40).then(|| ids.next())),
        sibling: (may_spawn && !nested && rng.chance(15))
            .then(|| Box::new(gen_child(rng, ids, shape, depth, panics, false))),
        end,
        cancel_at: None,
    }
}

/// Every independent event time of a tree, by event (the address of its spec and what it
/// is): distinct events must have distinct times for the outcome to be fixed. The model may
/// visit an event twice (a nested scope first on its own, then cancelled by its parent).
struct Times(std::collections::BTreeSet<(u64, usize, u8)>);

impl Times {
    fn add<T>(&mut self, event: &T, what: u8, t: u64) {
        self.0.insert((t, std::ptr::from_ref(event) as usize, what));
    }
    fn distinct(&self) -> bool {
        let times: Vec<u64> = self.0.iter().map(|e| e.0).collect();
        times.windows(2).all(|w| w[0] != w[1])
    }
}

/// A child instance in the model.
struct Running<'a> {
    spec: &'a ChildSpec,
    start: u64,
    /// When it ends if not cancelled, and how.
    end: u64,
    result: Result<(), Fault>,
    done: bool,
}

#[derive(Clone, Debug)]
enum Fault {
    Error(Member),
    Panic(u32),
}

/// The model of one scope started at `t0`, whose parent cancels it at `outer` (if ever):
/// returns its outcome and the time it ends. Event times that matter are recorded in `times`.
fn model_scope(spec: &ScopeSpec, t0: u64, outer: Option<(u64, Why)>, times: &mut Times) -> (Outcome, u64) {
    // The natural course of a child started at `start`.
    fn natural<'a>(c: &'a ChildSpec, start: u64, times: &mut Times) -> Running<'a> {
        let (end, result) = match &c.end {
            End::Ok => (start + c.run, Ok(())),
            End::Err(id) => (start + c.run, Err(Fault::Error(Member::Leaf(*id)))),
            End::Panic(id) => (start + c.run, Err(Fault::Panic(*id))),
            End::Nested(s) => {
                let (o, end) = model_scope(s, start, None, times);
                let r = match o {
                    Outcome::Ok => Ok(()),
                    Outcome::Failed(m) => Err(Fault::Error(Member::Group(m))),
                    Outcome::Cancelled(Why::Deadline, m) if m.is_empty() => Err(Fault::Error(Member::Elapsed)),
                    Outcome::Panic(id) => Err(Fault::Panic(id)),
                    Outcome::Cancelled(..) => unreachable!("a nested scope is only cancelled by its deadline here"),
                };
                (end, r)
            }
        };
        if !matches!(c.end, End::Nested(_)) {
            times.add(c, 0, end);
        }
        Running { spec: c, start, end, result, done: false }
    }

    let mut running: Vec<Running<'_>> = Vec::new();
    let mut queue: std::collections::VecDeque<&ChildSpec> = std::collections::VecDeque::new();
    let slots = spec.limit.unwrap_or(usize::MAX);
    let active = |running: &Vec<Running<'_>>| running.iter().filter(|r| !r.done).count();
    let mut body_end = Some(t0 + spec.body_ms);
    times.add(spec, 1, t0 + spec.body_ms);
    let deadline = spec.deadline.map(|d| t0 + d);
    if let Some(d) = deadline {
        times.add(spec, 2, d);
    }
    let mut errors: Vec<Member> = Vec::new();
    let mut won = false;
    // Handle cancellations still to come: (time, the child's spec).
    let mut handle_cancels: Vec<(u64, &ChildSpec)> =
        spec.children.iter().filter_map(|c| c.cancel_at.map(|x| (t0 + x, c))).collect();
    for &(t, c) in &handle_cancels {
        times.add(c, 5, t);
    }
    // A scope opened under an already cancelled parent (a nested scope opened by a sibling
    // spawned just before its spawner failed) refuses every spawn (S4).
    let born_cancelled = outer.is_some_and(|(t, _)| t <= t0);
    for c in spec.children.iter().filter(|_| !born_cancelled) {
        if active(&running) < slots {
            running.push(natural(c, t0, times));
        } else {
            queue.push_back(c);
        }
    }
    // Events in time order until the scope ends or is cancelled.
    let cancel: Option<(u64, Why, Option<Fault>)> = loop {
        let next_child = running.iter().enumerate().filter(|(_, r)| !r.done).min_by_key(|(_, r)| r.end);
        let mut next = u64::MAX;
        if let Some((_, r)) = next_child {
            next = next.min(r.end);
        }
        if let Some(b) = body_end {
            next = next.min(b);
        }
        let next_handle = handle_cancels.iter().enumerate().min_by_key(|(_, (t, _))| *t).map(|(i, &(t, c))| (i, t, c));
        if let Some((_, t, _)) = next_handle {
            // A handle cancel only matters while its child may still run.
            next = next.min(t);
        }
        if next == u64::MAX || (next_child.is_none() && body_end.is_none() && queue.is_empty()) {
            // Every child and the body are done: the scope ends with the last of them.
            break None;
        }
        // The earlier of the parent's cancellation and the deadline, if it comes first.
        let timed = [outer, deadline.map(|d| (d, Why::Deadline))].into_iter().flatten().min_by_key(|&(t, _)| t);
        if let Some((t, why)) = timed.filter(|&(t, _)| t <= next) {
            break Some((t, why, None));
        }
        let now = next;
        if let Some((i, _, c)) = next_handle.filter(|&(_, t, _)| t == now) {
            handle_cancels.swap_remove(i);
            // C9: dropped at once (running) or never started (waiting for a slot); not a
            // failure, not a win; a running child's slot passes to the next in line (L1).
            if let Some(r) = running.iter_mut().find(|r| std::ptr::eq(r.spec, c) && !r.done) {
                r.done = true;
                r.end = now;
                while active(&running) < slots
                    && let Some(q) = queue.pop_front()
                {
                    running.push(natural(q, now, times));
                }
            } else {
                queue.retain(|q| !std::ptr::eq(*q, c));
            }
            continue;
        }
        if body_end == Some(now) {
            body_end = None;
            if let Some(id) = spec.body_err {
                break Some((now, Why::Parent, Some(Fault::Error(Member::Leaf(id)))));
            }
            continue;
        }
        let (i, _) = next_child.expect("a child ends next");
        let (result, sibling) = (running[i].result.clone(), running[i].spec.sibling.as_deref());
        // The child spawns its sibling just before it ends, still holding its slot.
        if let Some(s) = sibling {
            if active(&running) < slots {
                running.push(natural(s, now, times));
            } else {
                queue.push_back(s);
            }
        }
        running[i].done = true;
        match (result, spec.policy) {
            (Ok(()), Policy::Race) => {
                won = true;
                break Some((now, Why::RaceWon, None));
            }
            (Ok(()), _) => {}
            // A panic cancels the scope whatever its policy (F5, L2).
            (Err(f @ Fault::Panic(_)), _) | (Err(f), Policy::FailFast) => break Some((now, Why::Parent, Some(f))),
            (Err(Fault::Error(m)), _) => errors.push(m),
        }
        // The freed slot goes to the next in line, unless the scope is now cancelling (then
        // every waiting child is dropped unpolled).
        while active(&running) < slots
            && let Some(c) = queue.pop_front()
        {
            running.push(natural(c, now, times));
        }
    };
    let Some((c, why, cause)) = cancel else {
        let end = running.iter().map(|r| r.end).max().unwrap_or(t0).max(t0 + spec.body_ms);
        return (if errors.is_empty() { Outcome::Ok } else { Outcome::Failed(errors) }, end);
    };
    // Cancelled at `c`: queued children never start; running ones get the grace period.
    let mut end = c;
    let mut late: Vec<(u64, Member)> = Vec::new();
    if spec.grace > 0 {
        times.add(spec, 3, c + spec.grace);
    }
    for r in running.iter().filter(|r| !r.done && r.end > c) {
        if spec.grace == 0 && !r.spec.shielded {
            continue;
        }
        let expiry = c + spec.grace;
        let (finish, result) = if let End::Nested(s) = &r.spec.end {
            // The parent's cancellation reaches the nested scope at `c` (C6), which tears down
            // under its own grace. A bare cancellation by the parent is not an error (F2);
            // errors collected meanwhile are (F3).
            let (o, nested_end) = model_scope(s, r.start, Some((c, Why::Parent)), times);
            let result = match o {
                Outcome::Ok => Ok(()),
                Outcome::Cancelled(Why::Parent, m) if m.is_empty() => Ok(()),
                Outcome::Cancelled(Why::Parent, m) => Err(Fault::Error(Member::Cancelled(m))),
                Outcome::Cancelled(Why::Deadline, m) if m.is_empty() => Err(Fault::Error(Member::Elapsed)),
                Outcome::Failed(m) => Err(Fault::Error(Member::Group(m))),
                other => unreachable!("a nested scope ends {other:?} only where the generator allows no grace: {s:?}"),
            };
            (nested_end, result)
        } else if r.spec.ignores_token {
            (r.end, r.result.clone())
        } else {
            let (ms, err) = r.spec.cleanup;
            times.add(r.spec, 4, c + ms);
            (c + ms, err.map_or(Ok(()), |id| Err(Fault::Error(Member::Leaf(id)))))
        };
        // Cancelled through its handle during the grace: dropped then, no error (C9).
        let (finish, result) = match r.spec.cancel_at.map(|x| t0 + x) {
            Some(h) if h > c && h < finish => (h, Ok(())),
            _ => (finish, result),
        };
        if finish < expiry || r.spec.shielded {
            end = end.max(finish);
            if let Err(Fault::Error(m)) = result {
                late.push((finish, m));
            }
        } else {
            end = end.max(expiry);
        }
    }
    // The body is treated like a child (F1): with a grace it ignores the token and runs on.
    if let Some(b) = body_end.filter(|&b| spec.grace > 0 && b > c) {
        if b < c + spec.grace {
            end = end.max(b);
            if let Some(id) = spec.body_err {
                late.push((b, Member::Leaf(id)));
            }
        } else {
            end = end.max(c + spec.grace);
        }
    }
    late.sort_by_key(|(t, _)| *t);
    let late: Vec<Member> = late.into_iter().map(|(_, m)| m).collect();
    let outcome = match cause {
        Some(Fault::Panic(id)) => Outcome::Panic(id),
        Some(Fault::Error(m)) => Outcome::Failed(std::iter::once(m).chain(late).collect()),
        None => {
            let all: Vec<Member> = errors.into_iter().chain(late).collect();
            match why {
                Why::RaceWon if won && body_end.is_none() => Outcome::Ok,
                Why::Deadline if !all.is_empty() => Outcome::Failed(all),
                _ => Outcome::Cancelled(why, all),
            }
        }
    };
    (outcome, end)
}

// ---------------------------------------------------------------------------------------------
// Running a tree.

/// What running a tree observed.
struct Run {
    tracker: Tracker,
    unit: Duration,
    rt: Arc<dyn Runtime>,
    spawned: Arc<AtomicUsize>,
}

fn sleep_units(rt: &Arc<dyn Runtime>, unit: Duration, n: u64) -> taskscope_core::BoxedSleep {
    rt.sleep_until(rt.now() + unit * n as u32)
}

fn leaf_error(id: u32) -> BoxError {
    BoxError::msg(format!("E{id}!"))
}

type ChildFuture = std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), BoxError>> + Send>>;

fn run_child(run: Arc<Run>, c: ChildSpec, token: CancelToken, spawner: Spawner<BoxError>) -> ChildFuture {
    Box::pin(async move {
        let _guard = run.tracker.guard();
        run.spawned.fetch_add(1, Ordering::SeqCst);
        if let End::Nested(s) = &c.end {
            return run_scope(run.clone(), (**s).clone(), None).await.map_err(BoxError::from);
        }
        let work = sleep_units(&run.rt, run.unit, c.run);
        if c.ignores_token {
            work.await;
        } else if futures_lite::future::or(
            async {
                work.await;
                false
            },
            async {
                token.cancelled().await;
                true
            },
        )
        .await
        {
            let (ms, err) = c.cleanup;
            sleep_units(&run.rt, run.unit, ms).await;
            return err.map_or(Ok(()), |id| Err(leaf_error(id)));
        }
        if let Some(s) = &c.sibling {
            let (r, t, sp) = (run.clone(), token.clone(), spawner.clone());
            spawner.spawn(run_child(r, (**s).clone(), t, sp));
        }
        match c.end {
            End::Ok => Ok(()),
            End::Err(id) => Err(leaf_error(id)),
            End::Panic(id) => std::panic::panic_any(id),
            End::Nested(_) => unreachable!("handled above"),
        }
    })
}

async fn run_scope(run: Arc<Run>, spec: ScopeSpec, parent: Option<&CancelToken>) -> Result<(), ScopeError<BoxError>> {
    let mut b = Builder::typed().runtime(run.rt.clone()).policy(spec.policy).grace(run.unit * spec.grace as u32);
    if let Some(d) = spec.deadline {
        b = b.timeout(run.unit * d as u32);
    }
    if let Some(n) = spec.limit {
        b = b.limit(n).expect("limits are at least 1");
    }
    if let Some(p) = parent {
        b = b.parent(p);
    }
    b.run(async |s| {
        let start = run.rt.now();
        for c in spec.children.iter().cloned() {
            let cancel_at = c.cancel_at;
            let child = run_child(run.clone(), c.clone(), s.token().clone(), s.spawner());
            let handle = if c.shielded { s.spawn_shielded(child) } else { s.spawn(child) };
            if let Some(x) = cancel_at {
                let (rt, unit) = (run.rt.clone(), run.unit);
                let at = start + unit * x as u32;
                run.rt.spawn(Task::new(async move {
                    rt.sleep_until(at).await;
                    handle.cancel();
                }));
            }
        }
        sleep_units(&run.rt, run.unit, spec.body_ms).await;
        spec.body_err.map_or(Ok(()), |id| Err(leaf_error(id)))
    })
    .await
}

/// What a scope's result was, in the model's terms; `None` for a result the model never gives.
fn observe(r: &Result<(), ScopeError<BoxError>>) -> Result<Outcome, String> {
    fn members(g: &taskscope_core::ErrorGroup<BoxError>) -> Result<Vec<Member>, String> {
        g.iter().map(member).collect()
    }
    fn member(e: &BoxError) -> Result<Member, String> {
        if let Some(nested) = e.downcast_ref::<ScopeError<BoxError>>() {
            return match nested {
                ScopeError::Failed(g) => Ok(Member::Group(members(g)?)),
                n if n.is_elapsed() => Ok(Member::Elapsed),
                ScopeError::Cancelled { reason: CancelReason::Parent(_), errors: Some(g) } => {
                    Ok(Member::Cancelled(members(g)?))
                }
                other => Err(format!("unexpected nested outcome as an error: {other:?}")),
            };
        }
        let text = e.to_string();
        text.strip_prefix('E')
            .and_then(|t| t.strip_suffix('!'))
            .and_then(|t| t.parse().ok())
            .map(Member::Leaf)
            .ok_or_else(|| format!("unexpected error {text:?}"))
    }
    Ok(match r {
        Ok(()) => Outcome::Ok,
        Err(ScopeError::Failed(g)) => Outcome::Failed(members(g)?),
        Err(ScopeError::Cancelled { reason, errors }) => {
            let why = match reason {
                CancelReason::Deadline => Why::Deadline,
                CancelReason::Parent(_) => Why::Parent,
                CancelReason::RaceWon { .. } => Why::RaceWon,
                other => return Err(format!("unexpected reason {other:?}")),
            };
            Outcome::Cancelled(why, errors.as_ref().map(members).transpose()?.unwrap_or_default())
        }
    })
}

/// How [`check_tree`] runs and checks a tree.
#[derive(Clone, Copy, Debug)]
pub struct Mode {
    /// The trees drawn.
    pub shape: Shape,
    /// The root's end time must match the model's to the unit (for virtual clocks).
    pub exact_time: bool,
    /// The process-wide [`live_children`](taskscope_core::live_children) gauge must read zero
    /// after each tree (only when nothing else runs scopes in the process meanwhile).
    pub gauge: bool,
}

/// Runs the tree of `seed` on `h` and checks it against the model; panics with the seed, the
/// tree and both outcomes on any difference. Returns the outcome.
pub fn check_tree(h: &dyn Harness, seed: u64, mode: Mode) -> Outcome {
    let shape = mode.shape;
    let tree = Tree::generate(seed, shape);
    let (expected, expected_end) = tree.predict();
    let rt = h.runtime();
    let run = Arc::new(Run { tracker: Tracker::new(), unit: shape.unit, rt: rt.clone(), spawned: Arc::default() });
    let mut observed = None;
    h.block_on(Box::pin(async {
        let external = CancelToken::new();
        if let Some(t) = tree.external {
            let (timer_rt, ext) = (rt.clone(), external.clone());
            let at = rt.now() + shape.unit * t as u32;
            rt.spawn(Task::new(async move {
                timer_rt.sleep_until(at).await;
                ext.cancel();
            }));
        }
        let start = rt.now();
        let real = Instant::now();
        let r = catch_panic(run_scope(run.clone(), tree.root.clone(), Some(&external))).await;
        let took = rt.now() - start;
        observed = Some((r, took, real.elapsed()));
    }));
    let (r, took, _real) = observed.expect("block_on ran the tree");
    CHILDREN.fetch_add(run.spawned.load(Ordering::Relaxed), Ordering::Relaxed);
    let fail = |what: String| -> ! {
        panic!("tree seed {seed}: {what}\nexpected: {expected:?} at {expected_end} units\ntree: {tree:#?}")
    };
    let outcome = match r {
        Err(payload) => match payload.downcast_ref::<u32>() {
            Some(id) => Outcome::Panic(*id),
            None => fail(format!("a foreign panic: {}", taskscope_core::panic_message(&*payload))),
        },
        Ok(r) => observe(&r).unwrap_or_else(|e| fail(e)),
    };
    if outcome != expected {
        fail(format!("outcome {outcome:?}"));
    }
    if run.tracker.live() != 0 {
        fail(format!("{} child futures alive after the scope returned (S1)", run.tracker.live()));
    }
    if mode.gauge && taskscope_core::live_children() != 0 {
        fail(format!("live_children() reads {} after the tree (S1, O1)", taskscope_core::live_children()));
    }
    if mode.exact_time && took != shape.unit * expected_end as u32 {
        fail(format!("ended at {took:?}, the model says {expected_end} units"));
    }
    outcome
}

/// What a batch of [`check_trees`] ran.
#[derive(Clone, Debug, Default)]
pub struct Stats {
    /// Trees run.
    pub trees: u64,
    /// Child futures polled (leaves and nested scopes' children, siblings included).
    pub children: usize,
    /// Trees whose root succeeded, failed, was cancelled, panicked.
    pub ok: u64,
    /// See `ok`.
    pub failed: u64,
    /// See `ok`.
    pub cancelled: u64,
    /// See `ok`.
    pub panicked: u64,
}

/// Runs the trees of seeds `first..first + count`, each on a fresh harness from `make` (given
/// the tree's seed, which a simulation can use as its scheduling seed too); on a failure the
/// panic names the seed.
pub fn check_trees(make: &dyn Fn(u64) -> Box<dyn Harness>, first: u64, count: u64, mode: Mode) -> Stats {
    let before = CHILDREN.load(Ordering::Relaxed);
    let mut stats = Stats { trees: count, ..Stats::default() };
    for seed in first..first + count {
        let h = make(seed);
        match check_tree(&*h, seed, mode) {
            Outcome::Ok => stats.ok += 1,
            Outcome::Failed(_) => stats.failed += 1,
            Outcome::Cancelled(..) => stats.cancelled += 1,
            Outcome::Panic(_) => stats.panicked += 1,
        }
    }
    stats.children = CHILDREN.load(Ordering::Relaxed) - before;
    stats
}

/// Children run by [`check_tree`] so far (for reports).
static CHILDREN: AtomicUsize = AtomicUsize::new(0);
