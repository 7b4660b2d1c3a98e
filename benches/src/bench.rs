//! The benchmarks: each one is *ours* and one or more *baselines*, every function one timed run
//! of `n` children on a [`Backend`], returning the time of the measured part only (setup such
//! as spawning the pending children of a teardown is not timed).
//!
//! Adding a row is one more [`Bench`] in [`BENCHES`]; [`PLANNED`] lists the rows not built yet.

use std::future::pending;
use std::time::{Duration, Instant};

use futures_concurrency::future::FutureGroup;
use futures_util::stream::{FuturesUnordered, StreamExt};
use taskscope::{Builder, Scope};
use taskscope_core::{BoxError, CancelToken, LocalScope, ScopeError, local_scope};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::backend::{Backend, Flavour};
use crate::probe::Countdown;

/// One timed run of `n` children on a backend: the measured duration.
pub type RunFn = fn(&Backend, usize) -> Duration;

/// A baseline of a benchmark: the same work on the raw runtime.
#[derive(Clone, Copy, Debug)]
pub struct Baseline {
    /// Its name in reports (the `base` field).
    pub name: &'static str,
    /// The flavours it applies to.
    pub applies: fn(Flavour) -> bool,
    /// One timed run.
    pub run: RunFn,
}

/// A benchmark: ours against its baselines.
#[derive(Clone, Copy, Debug)]
pub struct Bench {
    /// Its name in reports (the `bench` field).
    pub name: &'static str,
    /// What it measures, for the human report.
    pub what: &'static str,
    /// Run only at this `n` (the sizes of the run otherwise).
    pub fixed_n: Option<usize>,
    /// The flavours it applies to.
    pub applies: fn(Flavour) -> bool,
    /// One timed run of ours.
    pub ours: RunFn,
    /// The baselines; each gives one row, paired with the same runs of ours.
    pub baselines: &'static [Baseline],
}

/// Applies to every flavour.
pub fn any(_: Flavour) -> bool {
    true
}

/// Applies to the tokio flavours.
pub fn tokio_only(f: Flavour) -> bool {
    f.is_tokio()
}

/// Applies to the smol flavours.
pub fn smol_only(f: Flavour) -> bool {
    !f.is_tokio()
}

/// Every benchmark, in report order (memory is separate: see [`crate::mem`]).
pub const BENCHES: &[Bench] = &[
    Bench {
        name: "spawn_join",
        what: "spawn + join of n trivial children (ours: one scope, handles dropped, the scope joins)",
        fixed_n: None,
        applies: any,
        ours: spawn_join_ours,
        baselines: &[
            Baseline { name: "vec-handles", applies: any, run: spawn_join_vec },
            Baseline { name: "joinset", applies: tokio_only, run: spawn_join_joinset },
        ],
    },
    Bench {
        name: "spawn_join_kept",
        what: "spawn + join of n trivial children, every handle kept in a Vec and awaited in order \
               (ours: `h.await?` in the body)",
        fixed_n: None,
        applies: any,
        ours: spawn_join_kept_ours,
        baselines: &[Baseline { name: "vec-handles", applies: any, run: spawn_join_vec }],
    },
    Bench {
        name: "teardown",
        what: "fail-fast teardown: n-1 pending children + 1 that fails when released; time from the release \
               until the scope returned with every child dropped",
        fixed_n: None,
        applies: any,
        ours: teardown_ours,
        baselines: &[
            Baseline { name: "joinset-shutdown", applies: tokio_only, run: teardown_joinset },
            Baseline { name: "task-drop", applies: smol_only, run: teardown_task_drop },
        ],
    },
    Bench {
        name: "cancel",
        what: "cooperative cancel: n children awaiting the token; time from the cancel until the scope returned",
        fixed_n: None,
        applies: any,
        ours: cancel_ours,
        baselines: &[Baseline { name: "tokio-util-token", applies: any, run: cancel_tokio_util }],
    },
    Bench {
        name: "empty_scope",
        what: "n empty scopes opened and closed in sequence, ns per scope",
        fixed_n: Some(10_000),
        applies: any,
        ours: empty_scope_ours,
        baselines: &[Baseline { name: "raw-spawn-join", applies: any, run: empty_raw }],
    },
    Bench {
        name: "deadline",
        what: "spawn + join of n trivial children in a scope with a 1 h timeout, against the same scope without",
        fixed_n: None,
        applies: any,
        ours: deadline_ours,
        baselines: &[Baseline { name: "no-deadline", applies: any, run: spawn_join_ours }],
    },
    Bench {
        name: "local",
        what: "local scope (P3): n children polled in the owner's future, each yielding once (woken, polled \
               again), against the same futures in a FuturesUnordered and in a futures-concurrency FutureGroup \
               drained to the end; fu-3-allocs is FuturesUnordered with three allocations per child added (a \
               boxed future, an Rc, an Arc): the allocator's share",
        fixed_n: None,
        applies: any,
        ours: local_ours,
        baselines: &[
            Baseline { name: "FuturesUnordered", applies: any, run: local_futures_unordered },
            Baseline { name: "FutureGroup", applies: any, run: local_future_group },
            Baseline { name: "fu-3-allocs", applies: any, run: local_fu_three_allocs },
        ],
    },
];

/// A row that is planned but not built yet.
#[derive(Clone, Copy, Debug)]
pub struct Planned {
    /// The bench name it will have.
    pub name: &'static str,
    /// Its baseline.
    pub base: &'static str,
    /// Why it is not there.
    pub why: &'static str,
}

/// Rows not built yet, mentioned in the human report.
pub const PLANNED: &[Planned] = &[];

/// The error type of ours.
type E = BoxError;

/// A trivial child.
async fn trivial() -> Result<(), E> {
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// spawn + join

fn spawn_join_scope(be: &Backend, n: usize, timeout: Option<Duration>) -> Duration {
    let rt = be.runtime();
    be.block_on(async {
        let builder = match timeout {
            Some(t) => Builder::new().runtime(rt).timeout(t),
            None => Builder::new().runtime(rt),
        };
        let t0 = Instant::now();
        let out = builder
            .run(async |s: &Scope<E>| {
                for _ in 0..n {
                    s.spawn(trivial());
                }
                Ok(())
            })
            .await;
        let elapsed = t0.elapsed();
        out.expect("spawn_join: the scope failed");
        elapsed
    })
}

/// Ours: one scope spawning `n` trivial children; the scope joins them.
pub fn spawn_join_ours(be: &Backend, n: usize) -> Duration {
    spawn_join_scope(be, n, None)
}

/// Ours, with the handles kept: one scope whose body spawns `n` trivial children, keeps their
/// handles in a `Vec` and awaits each in order (the output path: every value goes through its
/// handle).
pub fn spawn_join_kept_ours(be: &Backend, n: usize) -> Duration {
    let rt = be.runtime();
    be.block_on(async {
        let t0 = Instant::now();
        let out = Builder::new()
            .runtime(rt)
            .run(async |s: &Scope<E>| {
                let handles: Vec<_> = (0..n).map(|_| s.spawn(trivial())).collect();
                for h in handles {
                    h.await?;
                }
                Ok(())
            })
            .await;
        let elapsed = t0.elapsed();
        out.expect("spawn_join_kept: the scope failed");
        elapsed
    })
}

/// Baseline: `n` raw spawns, the handles collected in a `Vec` and awaited in order.
pub fn spawn_join_vec(be: &Backend, n: usize) -> Duration {
    be.block_on(async {
        let t0 = Instant::now();
        let handles: Vec<_> = (0..n).map(|_| be.spawn(async {})).collect();
        for h in handles {
            h.await;
        }
        t0.elapsed()
    })
}

/// Baseline (tokio): `n` spawns into a `JoinSet`, joined with `join_next`.
pub fn spawn_join_joinset(be: &Backend, n: usize) -> Duration {
    be.block_on(async {
        let t0 = Instant::now();
        let mut set = JoinSet::new();
        for _ in 0..n {
            set.spawn(async {});
        }
        while let Some(r) = set.join_next().await {
            r.expect("joinset: a child failed");
        }
        t0.elapsed()
    })
}

// ---------------------------------------------------------------------------------------------
// Fail-fast teardown

/// What every teardown run shares: `n` children in all, each with a drop probe; `n - 1` stay
/// pending forever, one fails once the gate opens.
struct Teardown {
    n: usize,
    started: std::sync::Arc<Countdown>,
    dropped: std::sync::Arc<Countdown>,
    gate: CancelToken,
}

impl Teardown {
    fn new(n: usize) -> Self {
        assert!(n >= 2, "teardown needs at least two children");
        Self { n, started: Countdown::new(n), dropped: Countdown::new(n), gate: CancelToken::new() }
    }

    fn pending_child(&self) -> impl Future<Output = Result<(), E>> + Send + 'static {
        let (probe, started) = (self.dropped.drop_probe(), self.started.clone());
        async move {
            let _probe = probe;
            started.hit();
            pending::<()>().await;
            Ok(())
        }
    }

    fn failing_child(&self) -> impl Future<Output = Result<(), E>> + Send + 'static {
        let (probe, started, gate) = (self.dropped.drop_probe(), self.started.clone(), self.gate.clone());
        async move {
            let _probe = probe;
            started.hit();
            gate.cancelled().await;
            Err(BoxError::msg("teardown: the failing child"))
        }
    }

    fn assert_all_dropped(&self) {
        assert_eq!(self.dropped.count(), self.n, "teardown: every child dropped by the end");
    }
}

/// Ours: the scope returns `Failed` once every child is dropped (S1).
pub fn teardown_ours(be: &Backend, n: usize) -> Duration {
    let rt = be.runtime();
    let t = Teardown::new(n);
    be.block_on(async {
        let mut t0 = None;
        let out = Builder::new()
            .runtime(rt)
            .run(async |s: &Scope<E>| {
                for _ in 1..n {
                    s.spawn(t.pending_child());
                }
                s.spawn(t.failing_child());
                t.started.wait().await;
                t0 = Some(Instant::now());
                t.gate.cancel();
                Ok(())
            })
            .await;
        let elapsed = t0.expect("teardown: the body ran").elapsed();
        assert!(matches!(out, Err(ScopeError::Failed(_))), "teardown: the scope failed");
        t.assert_all_dropped();
        elapsed
    })
}

/// Baseline (tokio): a `JoinSet`; `join_next` gives the failure, then `shutdown` aborts and
/// waits for the rest.
pub fn teardown_joinset(be: &Backend, n: usize) -> Duration {
    let t = Teardown::new(n);
    be.block_on(async {
        let mut set = JoinSet::new();
        for _ in 1..n {
            set.spawn(t.pending_child());
        }
        set.spawn(t.failing_child());
        t.started.wait().await;
        let t0 = Instant::now();
        t.gate.cancel();
        let first = set.join_next().await.expect("joinset: a child").expect("joinset: no panic");
        assert!(first.is_err(), "joinset: the failing child completes first");
        set.shutdown().await;
        t.dropped.wait().await;
        let elapsed = t0.elapsed();
        t.assert_all_dropped();
        elapsed
    })
}

/// Baseline (smol): a `Vec` of tasks; await the failing one, drop the others, wait until every
/// future has been dropped (async-executor drops them later, on the executor).
pub fn teardown_task_drop(be: &Backend, n: usize) -> Duration {
    let t = Teardown::new(n);
    be.block_on(async {
        let tasks: Vec<_> = (1..n).map(|_| be.spawn(t.pending_child())).collect();
        let failing = be.spawn(t.failing_child());
        t.started.wait().await;
        let t0 = Instant::now();
        t.gate.cancel();
        assert!(failing.await.is_err(), "task-drop: the failing child fails");
        drop(tasks);
        t.dropped.wait().await;
        let elapsed = t0.elapsed();
        t.assert_all_dropped();
        elapsed
    })
}

// ---------------------------------------------------------------------------------------------
// Cooperative cancel

/// Ours: `n` children await the scope's token, then return `Ok`; `Scope::cancel` fires it.
/// (With no grace period, C1 also drops every child at its next poll: whichever comes first.)
pub fn cancel_ours(be: &Backend, n: usize) -> Duration {
    let rt = be.runtime();
    let started = Countdown::new(n);
    be.block_on(async {
        let mut t0 = None;
        let out = Builder::new()
            .runtime(rt)
            .run(async |s: &Scope<E>| {
                for _ in 0..n {
                    let (token, started) = (s.token().clone(), started.clone());
                    s.spawn(async move {
                        started.hit();
                        token.cancelled().await;
                        Ok(())
                    });
                }
                started.wait().await;
                t0 = Some(Instant::now());
                s.cancel();
                Ok(())
            })
            .await;
        let elapsed = t0.expect("cancel: the body ran").elapsed();
        assert!(matches!(out, Err(ScopeError::Cancelled { .. })), "cancel: the scope reports cancelled");
        elapsed
    })
}

/// Baseline: `n` raw tasks await a tokio-util `CancellationToken` (runtime-agnostic, so on smol
/// too), joined through a `Vec` of handles after the cancel.
pub fn cancel_tokio_util(be: &Backend, n: usize) -> Duration {
    let started = Countdown::new(n);
    let token = CancellationToken::new();
    be.block_on(async {
        let handles: Vec<_> = (0..n)
            .map(|_| {
                let (token, started) = (token.clone(), started.clone());
                be.spawn(async move {
                    started.hit();
                    token.cancelled().await;
                })
            })
            .collect();
        started.wait().await;
        let t0 = Instant::now();
        token.cancel();
        for h in handles {
            h.await;
        }
        t0.elapsed()
    })
}

// ---------------------------------------------------------------------------------------------
// Empty scope

/// Ours: `n` empty scopes, opened and closed one after the other.
pub fn empty_scope_ours(be: &Backend, n: usize) -> Duration {
    let rt = be.runtime();
    be.block_on(async {
        let t0 = Instant::now();
        for _ in 0..n {
            Builder::new().runtime(rt.clone()).run(async |_: &Scope<E>| Ok(())).await.expect("empty scope: failed");
        }
        t0.elapsed()
    })
}

/// Baseline: `n` times one raw spawn + join.
pub fn empty_raw(be: &Backend, n: usize) -> Duration {
    be.block_on(async {
        let t0 = Instant::now();
        for _ in 0..n {
            be.spawn(async {}).await;
        }
        t0.elapsed()
    })
}

// ---------------------------------------------------------------------------------------------
// Deadline

/// Ours: as [`spawn_join_ours`], in a scope with `timeout(1 h)` (never reached).
pub fn deadline_ours(be: &Backend, n: usize) -> Duration {
    spawn_join_scope(be, n, Some(Duration::from_secs(3600)))
}

// ---------------------------------------------------------------------------------------------
// Local scope

/// A local child: yields once (so it is woken and polled a second time), then succeeds.
async fn yield_once() -> Result<(), E> {
    let mut yielded = false;
    std::future::poll_fn(|cx| {
        if yielded {
            return std::task::Poll::Ready(());
        }
        yielded = true;
        cx.waker().wake_by_ref();
        std::task::Poll::Pending
    })
    .await;
    Ok(())
}

/// Ours: a local scope with `n` children, handles dropped; the scope joins them.
pub fn local_ours(be: &Backend, n: usize) -> Duration {
    be.block_on(async {
        let t0 = Instant::now();
        local_scope(async |s: &LocalScope<'_, E>| {
            for _ in 0..n {
                s.spawn(yield_once());
            }
            Ok(())
        })
        .await
        .expect("local: the scope failed");
        t0.elapsed()
    })
}

/// Baseline: the same `n` futures in a `FuturesUnordered`, drained to the end.
pub fn local_futures_unordered(be: &Backend, n: usize) -> Duration {
    be.block_on(async {
        let t0 = Instant::now();
        let mut set: FuturesUnordered<_> = (0..n).map(|_| yield_once()).collect();
        while let Some(r) = set.next().await {
            r.expect("FuturesUnordered: a child failed");
        }
        t0.elapsed()
    })
}

/// Baseline: the same `n` futures in a futures-concurrency `FutureGroup`, drained to the end.
pub fn local_future_group(be: &Backend, n: usize) -> Duration {
    be.block_on(async {
        let t0 = Instant::now();
        let group: FutureGroup<_> = (0..n).map(|_| yield_once()).collect();
        let mut group = std::pin::pin!(group);
        while let Some(r) = group.next().await {
            r.expect("FutureGroup: a child failed");
        }
        t0.elapsed()
    })
}

/// Reference: [`local_futures_unordered`] with three allocations added to each future: a
/// waker-sized `Arc` (48 bytes), an `Rc` of a handle's state (112 bytes) and the boxed future.
/// Against [`local_futures_unordered`] it shows what allocations cost a child on this machine's
/// allocator; a local scope's child is one allocation (and a waker from a per-thread pool).
pub fn local_fu_three_allocs(be: &Backend, n: usize) -> Duration {
    be.block_on(async {
        let t0 = Instant::now();
        let mut set: FuturesUnordered<_> = (0..n)
            .map(|_| {
                let (shared, waker) = (std::rc::Rc::new([0u64; 12]), std::sync::Arc::new([0u64; 4]));
                let fut = Box::pin(yield_once());
                async move {
                    let r = fut.await;
                    drop((shared, waker));
                    r
                }
            })
            .collect();
        while let Some(r) = set.next().await {
            r.expect("FuturesUnordered: a child failed");
        }
        t0.elapsed()
    })
}
