//! The runtime contract itself (P1), and what a runtime does to children at shutdown (C3).
//!
//! Core wraps every child, so most adapter mistakes are invisible by construction. These cases
//! check what core cannot: that `spawn` never polls inline and runs its task, that the
//! adapter's timer never fires early and does fire, that `spawn_blocking` runs its jobs off
//! the async threads (a blocked job never holds up a task), that a panic resumes through
//! `block_on`, and that shutting the runtime down drops every child, runs none of them again,
//! and runs no task spawned during or after it (checked with [`after_shutdown`]).
//!
//! [`CONTRACT`] lists these cases with the clause of the contract each one checks, in the
//! order a "contract first" run checks them.

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use taskscope_core::{BoxError, CancelToken, Runtime, Task};

use crate::support::*;
use crate::{Case, Harness};

/// A clause of the runtime contract and the case that checks it.
#[derive(Clone, Copy, Debug)]
pub struct Clause {
    /// The case.
    pub case: Case,
    /// The clause, as the contract on `Runtime` states it.
    pub clause: &'static str,
}

macro_rules! clauses {
    ($($case:ident => $clause:literal,)*) => {
        /// The runtime-contract cases, each with the clause it checks, in the order a
        /// "contract first" run checks them (`suite!`'s `contract_first: true`, the report's
        /// `--contract-first`): the clauses whose breach would make most other cases fail or
        /// hang come first.
        pub const CONTRACT: &[Clause] = &[$(Clause { case: Case { name: stringify!($case), run: $case }, clause: $clause }),*];
    };
}

clauses! {
    p1_runtime_spawn_never_polls_inline => "spawn never polls the task before it returns",
    p1_runtime_spawn_runs_a_task_to_completion => "spawn runs the task to completion",
    p1_a_sleep_until_a_past_instant_completes_at_once => "sleep_until a past deadline completes at once",
    p1_runtime_timer_never_fires_early => "sleep_until completes at or after its deadline, never before",
    p1_runtime_spawn_blocking_runs_off_the_async_thread => "spawn_blocking runs the job, off the thread that called it",
    p1_blocking_jobs_leave_the_async_workers_free => "spawn_blocking runs jobs off the async workers: a blocked job never holds up a task",
    f5_a_panic_resumes_through_block_on => "block_on resumes a panic of its future in its caller",
    c3_runtime_shutdown_drops_every_child => "shutdown drops every task still on the runtime before it returns",
    c3_no_child_runs_after_runtime_shutdown => "no task is polled after shutdown",
    c3_a_spawn_during_shutdown_never_runs => "a spawn during shutdown (from a task's destructor) drops the task unpolled",
    c3_a_spawn_after_shutdown_is_dropped_unpolled => "a spawn after shutdown drops the task unpolled; neither spawn nor spawn_blocking panics",
}

thread_local! {
    /// Set on a thread while it is inside `Runtime::spawn` called by [`polls_inline`].
    static IN_SPAWN: Cell<bool> = const { Cell::new(false) };
}

/// Whether `rt` polls a task inside `spawn`, before `spawn` returns, on the thread that called
/// it (a task another worker polls meanwhile does not count: only re-entrancy does). Waits
/// until the probe task has ended (run or dropped).
pub(crate) async fn polls_inline(rt: &Arc<dyn Runtime>) -> bool {
    let inline = Arc::new(AtomicBool::new(false));
    let ended = CancelToken::new();
    let (i, guard) = (inline.clone(), ended.clone().drop_guard());
    IN_SPAWN.set(true);
    rt.spawn(Task::new(async move {
        let _ended = guard;
        if IN_SPAWN.get() {
            i.store(true, Ordering::SeqCst);
        }
    }));
    IN_SPAWN.set(false);
    ended.cancelled().await;
    inline.load(Ordering::SeqCst)
}

/// P1: `Runtime::spawn` never polls the task before it returns (an executor that does makes
/// every nested spawn recurse on the stack: 5,000 nested scopes would overflow it and abort
/// the process). Detected by re-entrancy, so a parallel worker polling the task at once is
/// fine.
pub fn p1_runtime_spawn_never_polls_inline(h: &dyn Harness) {
    let rt = h.runtime();
    h.block_on(Box::pin(async move {
        step("spawning a probe task and waiting for it to end");
        let inline = polls_inline(&rt).await;
        assert!(
            !inline,
            "the runtime polled the task inside spawn, before spawn returned (expected: spawn only \
             schedules the task; nested spawns would recurse and overflow the stack)"
        );
    }));
}

/// P1 (Trio `test_timekeeping`, adapted): the runtime's `sleep_until` never completes before
/// its deadline, measured on the runtime's own clock.
pub fn p1_runtime_timer_never_fires_early(h: &dyn Harness) {
    let rt = h.runtime();
    h.block_on(Box::pin(async move {
        for ms in [0, 1, 2, 5, 10, 25] {
            let deadline = rt.now() + Duration::from_millis(ms);
            rt.sleep_until(deadline).await;
            let now = rt.now();
            assert!(now >= deadline, "a {ms} ms sleep completed {:?} early", deadline - now);
        }
    }));
}

/// P1: a sleep until an instant already past completes at once (well within a wide margin).
pub fn p1_a_sleep_until_a_past_instant_completes_at_once(h: &dyn Harness) {
    let rt = h.runtime();
    h.block_on(Box::pin(async move {
        let start = Instant::now();
        let now = rt.now();
        rt.sleep_until(now.checked_sub(Duration::from_millis(5)).unwrap_or(now)).await;
        rt.sleep_until(now).await;
        assert!(start.elapsed() < Duration::from_secs(5), "a past deadline took {:?}", start.elapsed());
    }));
}

/// P1: `Runtime::spawn` runs a task to completion (it does not drop it unpolled).
pub fn p1_runtime_spawn_runs_a_task_to_completion(h: &dyn Harness) {
    let rt = h.runtime();
    h.block_on(Box::pin(async move {
        let ran = Arc::new(AtomicBool::new(false));
        let ended = CancelToken::new();
        let (r, guard) = (ran.clone(), ended.clone().drop_guard());
        rt.spawn(Task::new(async move {
            let _ended = guard; // fires when the task is dropped, finished or not
            yield_now().await;
            r.store(true, Ordering::SeqCst);
        }));
        ended.cancelled().await;
        assert!(ran.load(Ordering::SeqCst), "the runtime dropped the task before it finished");
    }));
}

/// P1: `Runtime::spawn_blocking` runs the job, on another thread than the async code that
/// called it (which can go on running while the job blocks).
pub fn p1_runtime_spawn_blocking_runs_off_the_async_thread(h: &dyn Harness) {
    let rt = h.runtime();
    h.block_on(Box::pin(async move {
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let done = CancelToken::new();
        let released = Arc::new(AtomicBool::new(false));
        let job_thread = Arc::new(Mutex::new(None));
        let (d, rel, jt) = (done.clone(), released.clone(), job_thread.clone());
        rt.spawn_blocking(Box::new(move || {
            *jt.lock().unwrap() = Some(std::thread::current().id());
            // Blocks until the async side runs again: it cannot if the job runs inline.
            rel.store(rx.recv_timeout(Duration::from_secs(5)).is_ok(), Ordering::SeqCst);
            d.cancel();
        }));
        let _ = tx.send(());
        let d = done.clone();
        eventually(&rt, "the blocking job to run", move || d.is_cancelled()).await;
        assert!(released.load(Ordering::SeqCst), "the blocking job blocked the async code that spawned it");
        assert_ne!(*job_thread.lock().unwrap(), Some(std::thread::current().id()), "the job ran on the async thread");
    }));
}

/// How many blocking jobs [`p1_blocking_jobs_leave_the_async_workers_free`] starts: more than
/// the async workers of any runtime it expects to meet.
const BLOCKING_JOBS: usize = 32;

/// How long each of those jobs waits for the async side before it gives up.
const BLOCKING_PATIENCE: Duration = Duration::from_secs(3);

/// P1 / B1: `spawn_blocking` runs its jobs off the async workers. 32 jobs each
/// block until a task spawned after them (on the async side) has run; if the jobs ran as
/// ordinary tasks they would occupy every async worker, the task would never run, and the jobs
/// would give up after 3 s. A pool that runs the jobs one at a time passes.
pub fn p1_blocking_jobs_leave_the_async_workers_free(h: &dyn Harness) {
    let rt = h.runtime();
    h.block_on(Box::pin(async move {
        let released = Arc::new((Mutex::new(false), Condvar::new()));
        let job_started = Gate::new();
        let (done, all_done, gave_up) = (Counter::new(), Gate::new(), Counter::new());
        let give_up_at = Instant::now() + BLOCKING_PATIENCE;
        step("spawning the blocking jobs");
        for _ in 0..BLOCKING_JOBS {
            let (released, job_started) = (released.clone(), job_started.clone());
            let (done, all_done, gave_up) = (done.clone(), all_done.clone(), gave_up.clone());
            rt.spawn_blocking(Box::new(move || {
                job_started.open();
                let (flag, cv) = &*released;
                let mut free = flag.lock().unwrap_or_else(|e| e.into_inner());
                while !*free {
                    let now = Instant::now();
                    if now >= give_up_at {
                        gave_up.incr();
                        break;
                    }
                    free = cv.wait_timeout(free, give_up_at - now).unwrap_or_else(|e| e.into_inner()).0;
                }
                drop(free);
                if done.incr() == BLOCKING_JOBS {
                    all_done.open();
                }
            }));
        }
        let r = released.clone();
        rt.spawn(Task::new(async move {
            job_started.wait().await;
            *r.0.lock().unwrap_or_else(|e| e.into_inner()) = true;
            r.1.notify_all();
        }));
        step("waiting for every blocking job to end");
        all_done.wait().await;
        assert_eq!(
            gave_up.get(),
            0,
            "blocking jobs (of {BLOCKING_JOBS}) that waited {BLOCKING_PATIENCE:?} for an async task that never ran: \
             the jobs held up the async workers (spawn_blocking must run them off those workers)"
        );
    }));
}

/// F5: a panic in a child resumes in the owner, and from there out of the harness's
/// `block_on`, with its payload (an adapter's `block_on` must not swallow it).
pub fn f5_a_panic_resumes_through_block_on(h: &dyn Harness) {
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        h.block_on(Box::pin(async move {
            let _ = builder(h)
                .run(async |s| {
                    s.spawn(async {
                        std::panic::panic_any(7_u8);
                        #[allow(unreachable_code)]
                        ok()
                    });
                    forever().await;
                    Ok::<_, BoxError>(())
                })
                .await;
        }));
    }));
    let payload = caught.expect_err("block_on returned normally: the child's panic was lost on its way out");
    assert_eq!(payload.downcast_ref::<u8>(), Some(&7), "the payload of the panic out of block_on (a u8, 7)");
}

/// Starts, in a plain runtime task (not driven by `block_on`), a scope whose children (and a
/// nested scope's child) run until cancelled, calling `tick` every couple of milliseconds;
/// returns once all five are running. The case then returns with the scope still running
/// (its teardown drops the scope, for a runtime that has no shutdown).
async fn leave_a_scope_running(h: &dyn Harness, t: &Tracker, tick: impl Fn() + Clone + Send + Sync + 'static) {
    let rt = h.runtime();
    let stop = CancelToken::new();
    let stopper = stop.clone();
    on_teardown(move || {
        stopper.cancel();
    });
    let started = Counter::new();
    let all_started = Gate::new();
    let (t, st, all, rt2) = (t.clone(), started.clone(), all_started.clone(), rt.clone());
    let child = move |g: Guard, rt: std::sync::Arc<dyn taskscope_core::Runtime>| {
        let (st, all, tick) = (st.clone(), all.clone(), tick.clone());
        async move {
            let _g = g;
            if st.incr() == 5 {
                all.open();
            }
            loop {
                sleep(&rt, Duration::from_millis(2)).await;
                tick();
            }
            #[allow(unreachable_code)]
            ok()
        }
    };
    rt.spawn(Task::new(async move {
        let scope = Builder::typed().runtime(rt2.clone()).run(async |s| {
            for _ in 0..4 {
                s.spawn(child(t.guard(), rt2.clone()));
            }
            let (g, c) = (t.guard(), child.clone());
            s.spawn(async move {
                Builder::typed()
                    .run(async |inner| {
                        inner.spawn(c(g, inner.runtime().clone()));
                        Ok::<_, BoxError>(())
                    })
                    .await?;
                ok()
            });
            forever().await;
            Ok::<_, BoxError>(())
        });
        let _ = stop.run_until_cancelled(scope).await;
    }));
    step("waiting for the five children to start");
    all_started.wait().await;
}

/// C3 at runtime shutdown: a runtime shut down while a scope is still running drops every
/// child future (grandchildren included) by the time the shutdown returns: none is leaked or
/// left running detached.
pub fn c3_runtime_shutdown_drops_every_child(h: &dyn Harness) {
    let t = Tracker::new();
    let t2 = t.clone();
    after_shutdown(move || {
        let live = t2.live();
        assert_eq!(live, 0, "{live} of 5 child futures outlived the runtime's shutdown (expected 0)");
    });
    h.block_on(Box::pin(leave_a_scope_running(h, &t, || {})));
    assert_eq!(t.live(), 5, "live child futures before the shutdown");
}

/// C3 at runtime shutdown: once the runtime has shut down, no child runs again (none was
/// detached, none is polled once more).
pub fn c3_no_child_runs_after_runtime_shutdown(h: &dyn Harness) {
    let t = Tracker::new();
    let ticks = Counter::new();
    let after = ticks.clone();
    after_shutdown(move || {
        let at_shutdown = after.get();
        // Children tick every 2 ms; a wide window, so that a broken runtime is caught even on
        // a loaded machine (60 ms missed a detached child about once in six mutant runs).
        std::thread::sleep(Duration::from_millis(300));
        let ran = after.get() - at_shutdown;
        assert_eq!(ran, 0, "children ticked {ran} times in the 300 ms after the runtime shut down (expected 0)");
    });
    let tk = ticks.clone();
    h.block_on(Box::pin(async move {
        leave_a_scope_running(h, &t, move || {
            tk.incr();
        })
        .await;
        let rt = h.runtime();
        let tk = ticks.clone();
        eventually(&rt, "the children to tick", move || tk.get() >= 5).await;
    }));
}

/// C3 at runtime shutdown: a spawn made while the runtime shuts down (by a child's destructor,
/// as the runtime drops the child) drops the task unpolled: it never runs, then or later.
pub fn c3_a_spawn_during_shutdown_never_runs(h: &dyn Harness) {
    const CHILDREN: usize = 4;
    let (destructors, ran, dropped) = (Counter::new(), Counter::new(), Counter::new());
    let (d, r, k) = (destructors.clone(), ran.clone(), dropped.clone());
    after_shutdown(move || {
        assert_eq!(
            d.get(),
            CHILDREN,
            "child destructors run by the end of the shutdown (each spawns a task from its destructor)"
        );
        // Wait until every such task is dropped (or one ran), then a little longer: a runtime
        // that accepted the spawns would run them within milliseconds.
        let start = Instant::now();
        while k.get() < CHILDREN && r.get() == 0 && start.elapsed() < Duration::from_millis(300) {
            std::thread::sleep(Duration::from_millis(1));
        }
        std::thread::sleep(Duration::from_millis(50));
        let (ran, dropped) = (r.get(), k.get());
        assert_eq!(ran, 0, "tasks spawned during the shutdown that ran after it (expected none)");
        assert_eq!(dropped, CHILDREN, "tasks spawned during the shutdown that were dropped (unpolled) within 300 ms");
    });
    let rt = h.runtime();
    let stop = CancelToken::new();
    let stopper = stop.clone();
    on_teardown(move || {
        stopper.cancel();
    });
    let started = Counter::new();
    let all_started = Gate::new();
    let (st, all) = (started.clone(), all_started.clone());
    let rt2 = rt.clone();
    h.block_on(Box::pin(async move {
        rt.spawn(Task::new(async move {
            let scope = Builder::typed().runtime(rt2.clone()).run(async |s| {
                for _ in 0..CHILDREN {
                    let (rt, d, r, k, st, all) =
                        (rt2.clone(), destructors.clone(), ran.clone(), dropped.clone(), st.clone(), all.clone());
                    s.spawn(async move {
                        let _spawns_on_drop = OnDrop(move || {
                            d.incr();
                            let (r, k) = (r.clone(), k.clone());
                            // Made here, so that it counts the task's drop even if never polled.
                            let dropped = OnDrop(move || {
                                k.incr();
                            });
                            rt.spawn(Task::new(async move {
                                let _dropped = dropped;
                                r.incr();
                            }));
                        });
                        if st.incr() == CHILDREN {
                            all.open();
                        }
                        forever().await;
                        ok()
                    });
                }
                forever().await;
                Ok::<_, BoxError>(())
            });
            let _ = stop.run_until_cancelled(scope).await;
        }));
        step("waiting for the children to start");
        all_started.wait().await;
    }));
}

/// C3 after runtime shutdown: a spawn through a runtime handle kept past the shutdown drops
/// the task unpolled (it never runs), and neither `spawn` nor `spawn_blocking` panics.
pub fn c3_a_spawn_after_shutdown_is_dropped_unpolled(h: &dyn Harness) {
    let rt = h.runtime();
    after_shutdown(move || {
        let (ran, dropped) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicBool::new(false)));
        let (r, d) = (ran.clone(), dropped.clone());
        let spawned = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let dropped = OnDrop(move || d.store(true, Ordering::SeqCst));
            rt.spawn(Task::new(async move {
                let _dropped = dropped;
                r.store(true, Ordering::SeqCst);
            }));
        }));
        assert!(spawned.is_ok(), "spawn after the shutdown panicked (expected: it drops the task)");
        let blocking = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| rt.spawn_blocking(Box::new(|| {}))));
        assert!(blocking.is_ok(), "spawn_blocking after the shutdown panicked (expected: it runs or drops the job)");
        let start = Instant::now();
        while !dropped.load(Ordering::SeqCst) && start.elapsed() < Duration::from_millis(300) {
            std::thread::sleep(Duration::from_millis(1));
        }
        std::thread::sleep(Duration::from_millis(50));
        assert!(!ran.load(Ordering::SeqCst), "a task spawned after the shutdown ran (expected: dropped unpolled)");
        assert!(dropped.load(Ordering::SeqCst), "a task spawned after the shutdown was not dropped within 300 ms");
    });
    let rt = h.runtime();
    h.block_on(Box::pin(async move {
        step("checking that the runtime runs a task before its shutdown");
        let ran = Gate::new();
        let r = ran.clone();
        rt.spawn(Task::new(async move { r.open() }));
        ran.wait().await;
    }));
}
