//! The runtime contract itself (P1), and what a runtime does to children at shutdown (C3).
//!
//! Core wraps every child, so most adapter mistakes are invisible by construction. These cases
//! check what core cannot: that the adapter's timer never fires early and does fire, that
//! `spawn` and `spawn_blocking` run their work (the latter off the async threads), that a
//! panic resumes through `block_on`, and that shutting the runtime down drops every child and
//! runs none of them again (checked with [`after_shutdown`]).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use taskscope_core::{BoxError, Builder, CancelToken, Task};

use crate::Harness;
use crate::support::*;

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
    let payload = caught.expect_err("the panic was lost on its way out of block_on");
    assert_eq!(payload.downcast_ref::<u8>(), Some(&7), "the payload changed");
}

/// Starts, in a plain runtime task (not driven by `block_on`), a scope whose children (and a
/// nested scope's child) run until cancelled, calling `tick` every couple of milliseconds;
/// returns once all five are running. The case then returns with the scope still running.
async fn leave_a_scope_running(h: &dyn Harness, t: &Tracker, tick: impl Fn() + Clone + Send + Sync + 'static) {
    let rt = h.runtime();
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
        let _ = Builder::new()
            .runtime(rt2.clone())
            .run(async |s| {
                for _ in 0..4 {
                    s.spawn(child(t.guard(), rt2.clone()));
                }
                let (g, c) = (t.guard(), child.clone());
                s.spawn(async move {
                    Builder::new()
                        .run(async |inner| {
                            inner.spawn(c(g, inner.runtime().clone()));
                            Ok::<_, BoxError>(())
                        })
                        .await?;
                    ok()
                });
                forever().await;
                Ok::<_, BoxError>(())
            })
            .await;
    }));
    all_started.wait().await;
}

/// C3 at runtime shutdown: a runtime shut down while a scope is still running drops every
/// child future (grandchildren included) by the time the shutdown returns: none is leaked or
/// left running detached.
pub fn c3_runtime_shutdown_drops_every_child(h: &dyn Harness) {
    let t = Tracker::new();
    let t2 = t.clone();
    after_shutdown(move || {
        assert_eq!(t2.live(), 0, "{} child futures outlived the runtime's shutdown", t2.live());
    });
    h.block_on(Box::pin(leave_a_scope_running(h, &t, || {})));
    assert_eq!(t.live(), 5);
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
        assert_eq!(after.get(), at_shutdown, "children ran after the runtime shut down");
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
