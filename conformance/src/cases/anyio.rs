//! Cases ported from AnyIO's task-group and cancel-scope tests.
//!
//! # Ported from AnyIO
//!
//! Source: `tests/test_taskgroups.py` of [agronholm/anyio] (the version stored at commit
//! `9c7d993a1f2ca57eeaa7eb418f9a26cc53cfa756`: 85 test functions, 89 test items with the
//! parametrized ones; the `TestTaskStatusTyping` class holds static typing checks only and is
//! not counted). Each test is listed once: **ported** (same behaviour, same assertions,
//! translated to Rust), **adapted** (the behaviour exists here but the rules differ, as
//! explained), **lead** (deadlines, shielding, `start`: covered by the `c7_`, `c8_` and `l4_`
//! cases of `deadline.rs` and `policy.rs`), or **n/a** (cannot be expressed in Rust, with why).
//!
//! Translation: a task group is a scope, `start_soon` is `spawn`, `tg.cancel_scope.cancel()` is
//! `Scope::cancel`, a free `CancelScope` is a nested scope (or its token), `wait_all_tasks_blocked`
//! is a [`Gate`] opened by the child once it is blocked, `sleep(n)` in a
//! child that must be cancelled is a 30 s sleep (a broken backend makes the case hang instead of
//! passing by luck), and Python's `finally:` is a destructor ([`OnDrop`]).
//!
//! | AnyIO test | status | case |
//! |---|---|---|
//! | `test_already_closed` | ported (a closed handle instead of `RuntimeError`) | [`s4_spawn_into_a_finished_scope_is_refused`] |
//! | `test_success` | ported | [`s2_every_child_runs_to_completion`] |
//! | `test_run_natively` | adapted: "natively" = driven by a plain task of the runtime, not by the harness | [`p2_scope_runs_inside_a_plain_runtime_task`] |
//! | `test_start_soon_while_running` | ported | [`s3_a_child_spawns_a_sibling_while_running`] |
//! | `test_start_soon_after_error` | ported (a closed handle instead of `RuntimeError`) | [`s4_spawn_after_a_failed_scope_is_refused`] |
//! | `test_start_no_value` | lead | `l4_` cases (policy.rs) |
//! | `test_start_called_twice` | lead (impossible by type: the reporter is consumed) | `l4_` cases |
//! | `test_no_called_started_twice` | lead | `l4_` cases |
//! | `test_start_with_value` | lead | `l4_` cases |
//! | `test_start_crash_before_started_call` | lead | `l4_` cases |
//! | `test_start_crash_after_started_call` | lead | `l4_` cases |
//! | `test_start_no_started_call` | lead | `l4_` cases |
//! | `test_start_cancelled` | lead | `l4_` cases |
//! | `test_start_native_host_cancelled` | adapted: asyncio-only; "cancel the host task" = cancel the child that owns the scope | [`c3_cancelling_the_owner_task_cancels_its_scope`] |
//! | `test_start_native_child_cancelled` | n/a: cancels a raw asyncio task behind AnyIO's back; Rust has no way to cancel a future other than dropping it, which is C3 | — |
//! | `test_propagate_native_cancellation_from_taskgroup` | adapted (as `test_start_native_host_cancelled`) | [`c3_cancelling_the_owner_task_cancels_its_scope`] |
//! | `test_start_exception_delivery` | n/a: passing a sync function where a coroutine function is expected is a type error in Rust | — |
//! | `test_start_cancel_after_error` | lead | `l4_` cases |
//! | `test_host_exception` | ported | [`f2_a_body_error_is_the_only_member`] |
//! | `test_level_cancellation` | adapted: a child spawned before the cancel may or may not have been polled (multi-threaded runtimes), but never passes its next await | [`c1_a_cancelled_child_never_passes_its_next_await`] |
//! | `test_failing_child_task_cancels_host` | ported | [`f1_a_child_failure_stops_a_sleeping_body`] |
//! | `test_failing_host_task_cancels_children` | ported | [`f1_a_body_failure_stops_a_sleeping_child`] |
//! | `test_cancel_scope_in_another_task` | ported (the free cancel scope is a nested scope, cancelled through its token) | [`c6_a_nested_scope_cancelled_from_another_task`] |
//! | `test_cancel_propagation` | adapted: with no grace period the token fires just before children are dropped, so code after the nested scope may run, but only seeing "cancelled by parent" | [`c6_outer_cancel_stops_a_nested_scope_body`] |
//! | `test_cancel_twice` | ported | [`c5_an_owner_cancelled_twice_in_sequence`] |
//! | `test_cancel_exiting_task_group` | ported | [`c6_cancel_reaches_a_nested_scope_already_waiting`] |
//! | `test_cancel_before_entering_scope` | ported | [`c1_a_scope_under_a_cancelled_token_never_polls_its_body`] |
//! | `test_cancel_counter_nested_scopes` | n/a: asyncio's `Task.cancelling()` counter | — |
//! | `test_exception_group_children` | ported (with a grace period, so both errors are collected deterministically) | [`f2_two_child_errors_are_both_collected`] |
//! | `test_exception_group_host` | ported (completion order is defined here: the body's error first) | [`f2_body_and_child_errors_in_completion_order`] |
//! | `test_escaping_cancelled_exception` | ported | [`c5_a_self_cancel_stops_the_body_at_its_next_await`] |
//! | `test_cancel_scope_cleared` | lead (`move_on_after`) | `c7_` cases (deadline.rs) |
//! | `test_fail_after[instant]`, `test_fail_after[delayed]` | lead | `c7_` cases |
//! | `test_fail_after_no_timeout` | lead (`Duration::MAX`) | `c7_` cases |
//! | `test_fail_after_after_cancellation` | lead | `c7_` cases |
//! | `test_fail_after_cancelled_before_deadline` | lead | `c7_` cases |
//! | `test_fail_after_scope_cancelled_before_timeout` | lead (xfail upstream; here a manual cancel is never a timeout, C7) | `c7_` cases |
//! | `test_move_on_after[instant]`, `test_move_on_after[delayed]` | lead | `c7_` cases |
//! | `test_move_on_after_no_timeout` | lead | `c7_` cases |
//! | `test_nested_move_on_after` | lead | `c7_` cases |
//! | `test_shielding` | lead | `c8_` cases (deadline.rs) |
//! | `test_cancel_from_shielded_scope` | lead | `c8_` cases |
//! | `test_cancel_shielded_scope` | lead | `c8_` cases |
//! | `test_cancelled_not_caught` | adapted: a scope whose own `cancel()` was called reports cancelled even if nothing awaited after it (Python leaves `cancelled_caught` false); the body's value is dropped | [`c5_a_cancel_without_a_suspension_still_reports_cancelled`] |
//! | `test_cancel_host_asyncgen` | n/a: asyncio async-generator hosting | — |
//! | `test_shielding_immediate_scope_cancelled` | lead | `c8_` cases |
//! | `test_shielding_mutate` | lead (a shield is fixed when spawned) | `c8_` cases |
//! | `test_cancel_scope_in_child_task` | ported | [`c6_cancelling_a_nested_scope_leaves_the_outer_alone`] |
//! | `test_exception_cancels_siblings` | ported | [`f1_a_failure_after_a_sibling_blocks_cancels_it`] |
//! | `test_cancel_cascade` | adapted: an error raised while the scope is torn down rides along in `Cancelled { errors }`; it never turns the cancel into a failure | [`c5_an_error_during_teardown_does_not_turn_a_cancel_into_a_failure`] |
//! | `test_cancelled_parent` | adapted: a spawn after the cancel is refused (S4) instead of starting a task that is cancelled at once | [`s4_a_child_spawning_into_a_cancelled_scope_gets_a_closed_handle`] |
//! | `test_shielded_deadline` | lead | `c8_` cases |
//! | `test_deadline_reached_on_start` | lead (and `c7_past_deadline_and_duration_max`) | `c7_` cases |
//! | `test_deadline_moved` | n/a: a deadline cannot be moved once the scope started | — |
//! | `test_timeout_error_with_multiple_cancellations` | lead | `c7_` cases |
//! | `test_nested_fail_after` | lead | `c7_` cases |
//! | `test_nested_shield` | lead | `c8_` cases |
//! | `test_triple_nested_shield_checkpoint_in_outer` | lead | `c8_` cases |
//! | `test_triple_nested_shield_checkpoint_in_middle` | lead | `c8_` cases |
//! | `test_task_group_in_generator` | n/a: async-generator finalization across event loops | — |
//! | `test_exception_group_filtering` | ported (the nested member is a cancelled scope carrying only the real error) | [`f6_a_nested_group_holds_only_real_errors`] |
//! | `test_cancel_propagation_with_inner_spawn` | adapted (as `test_cancel_propagation`) | [`c6_outer_cancel_drops_a_nested_scope_body_and_children`] |
//! | `test_escaping_cancelled_error_from_cancelled_task` | lead (`move_on_after` then cancel) | `c7_` cases |
//! | `test_cancel_generator_based_task` | n/a: generator-based coroutines (Python < 3.11) | — |
//! | `test_schedule_old_style_coroutine_func` | n/a: generator-based coroutines | — |
//! | `test_cancel_native_future_tasks` | n/a: asyncio native futures | — |
//! | `test_cancel_native_future_tasks_cancel_scope` | n/a: asyncio native futures | — |
//! | `test_cancel_completed_task` | n/a: asyncio's exception handler | — |
//! | `test_task_in_sync_spawn_callback` | adapted: task identity becomes the ambient scope a child runs in | [`p2_a_child_sees_its_own_scope_as_ambient`] |
//! | `test_shielded_cancel_sleep_time` | lead | `c8_` cases |
//! | `test_cancelscope_wrong_exit_order` | n/a: scopes are lexical (an async closure); misnesting cannot be written (S5) | — |
//! | `test_cancelscope_exit_before_enter` | n/a: same | — |
//! | `test_cancelscope_exit_in_wrong_task` | n/a: same | — |
//! | `test_unhandled_exception_group` | n/a: `KeyboardInterrupt` from an asyncio callback | — |
//! | `test_single_cancellation_exc` | ported | [`c5_a_nested_scope_cancelled_by_its_outer_scope_is_one_cancelled`] |
//! | `test_start_soon_parent_id` | adapted: a sibling spawned by a child belongs to the scope, not to that child | [`s3_a_sibling_spawned_by_a_child_outlives_its_spawner`] |
//! | `test_start_parent_id` | lead | `l4_` cases |
//! | `TestUncancel::test_uncancel_after_native_cancel` | n/a: asyncio `uncancel()` | — |
//! | `TestUncancel::test_uncancel_after_scope_cancel` | n/a: asyncio `uncancel()` | — |
//! | `TestUncancel::test_uncancel_after_scope_and_native_cancel` | n/a: asyncio `uncancel()` | — |
//! | `TestUncancel::test_cancel_message_replaced` | n/a: asyncio `CancelledError` messages | — |
//! | `test_cancel_before_entering_task_group` | adapted: an empty scope opened under a cancelled token reports cancelled (C5) where AnyIO's exits quietly | [`c1_a_scope_under_a_cancelled_token_never_polls_its_body`] |
//! | `test_reraise_cancelled_in_excgroup` | n/a: Python's `catch()` re-raising a cancellation | — |
//! | `test_cancel_child_task_when_host_is_shielded` | lead | `c8_` cases |
//! | `test_start_cancels_parent_scope` | lead | `l4_` cases |
//!
//! Totals (85 tests): 18 ported, 12 adapted, 35 covered by the lead's deadline, shielding and
//! start cases, 20 n/a.
//!
//! [agronholm/anyio]: https://github.com/agronholm/anyio

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use taskscope_core::{BoxError, Builder, CancelReason, CancelToken, ChildState, JoinError, ScopeError, Task};

use crate::Harness;
use crate::support::*;

/// A sleep long enough that a case only passes if it is cancelled (a broken backend hangs).
const LONG: Duration = Duration::from_secs(30);

/// S4 (AnyIO `test_already_closed`): a spawn into a scope that has finished is refused: the
/// future is dropped at once, unpolled, and the handle says "closed".
pub fn s4_spawn_into_a_finished_scope_is_refused(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let t = Tracker::new();
        let polled = Arc::new(AtomicBool::new(false));
        let sp = builder(h).run(async |s| Ok::<_, BoxError>(s.spawner())).await.unwrap();
        let (g, p) = (t.guard(), polled.clone());
        let handle = sp.spawn(async move {
            let _g = g;
            p.store(true, Ordering::SeqCst);
            Err::<(), _>(err("fail"))
        });
        assert_eq!(t.live(), 0, "the refused future was not dropped at once");
        let got = handle.await;
        assert!(matches!(got, Err(JoinError::Closed { .. })), "{got:?}");
        assert!(!polled.load(Ordering::SeqCst), "the refused future was polled");
    }));
}

/// S2 (AnyIO `test_success`): every child runs to completion before the scope returns.
pub fn s2_every_child_runs_to_completion(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let results = Arc::new(Mutex::new(BTreeSet::new()));
        builder(h)
            .run(async |s| {
                for v in ["a", "b"] {
                    let r = results.clone();
                    s.spawn(async move {
                        r.lock().unwrap().insert(v);
                        ok()
                    });
                }
                Ok::<_, BoxError>(())
            })
            .await
            .unwrap();
        assert_eq!(*results.lock().unwrap(), BTreeSet::from(["a", "b"]), "what was recorded in `results`");
    }));
}

/// P2 (AnyIO `test_run_natively`, adapted): a scope driven by a plain task of the runtime (not
/// by the harness's `block_on`, not inside another scope) works the same.
pub fn p2_scope_runs_inside_a_plain_runtime_task(h: &dyn Harness) {
    let rt = h.runtime();
    h.block_on(Box::pin(async move {
        let out = Arc::new(Mutex::new(None));
        let done = CancelToken::new();
        let (o, guard, rt2) = (out.clone(), done.clone().drop_guard(), rt.clone());
        rt.spawn(Task::new(async move {
            let _done = guard; // fires when the task ends, even by a panic
            let r = Builder::new()
                .runtime(rt2)
                .run(async |s| {
                    let a = s.spawn(async { Ok::<_, BoxError>(20) });
                    let b = s.spawn(async {
                        yield_now().await;
                        Ok::<_, BoxError>(22)
                    });
                    Ok::<_, BoxError>(a.await? + b.await?)
                })
                .await;
            *o.lock().unwrap() = Some(r.map_err(|e| e.to_string()));
        }));
        done.cancelled().await;
        let got = out.lock().unwrap().take().expect("the runtime task ended without a result (did it panic?)");
        assert_eq!(got, Ok(42), "value of `got`");
    }));
}

/// S3 (AnyIO `test_start_soon_while_running`): a running child spawns a sibling through a
/// spawner and waits for it.
pub fn s3_a_child_spawns_a_sibling_while_running(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let r = builder(h)
            .run(async |s| {
                let sp = s.spawner();
                let child = s.spawn(async move {
                    let sibling = sp.spawn(async {
                        yield_now().await;
                        Ok::<_, BoxError>(5)
                    });
                    Ok::<_, BoxError>(sibling.await? + 1)
                });
                Ok(child.await?)
            })
            .await;
        assert_eq!(r.unwrap(), 6, "value the scope returned");
    }));
}

/// S4 (AnyIO `test_start_soon_after_error`): once a scope has failed, a spawn through a
/// spawner that escaped it is refused.
pub fn s4_spawn_after_a_failed_scope_is_refused(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let mut sp = None;
        let r: Result<(), _> = builder(h)
            .run(async |s| {
                sp = Some(s.spawner());
                Err(err("division by zero"))
            })
            .await;
        assert_eq!(
            messages(&expect_failed(r)),
            ["division by zero"],
            "messages of the failed scope's group members, in completion order"
        );
        let sp = sp.unwrap();
        assert!(sp.is_closed(), "`sp` is not closed, expected closed");
        let polled = Arc::new(AtomicBool::new(false));
        let p = polled.clone();
        let handle = sp.spawn(async move {
            p.store(true, Ordering::SeqCst);
            ok()
        });
        assert_eq!(handle.state(), ChildState::Closed, "state reported by handle `handle`");
        assert!(!polled.load(Ordering::SeqCst), "`polled` was true, expected false");
    }));
}

/// C3 (AnyIO `test_propagate_native_cancellation_from_taskgroup` and
/// `test_start_native_host_cancelled`, adapted): cancelling the task that owns a scope (here a
/// child cancelled through its handle) drops the scope future, which cancels the scope's own
/// children; they are dropped before the outer scope returns.
pub fn c3_cancelling_the_owner_task_cancels_its_scope(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let t = Tracker::new();
        let started = Gate::new();
        let mut owner_state = None;
        let r = builder(h)
            .run(async |s| {
                let (t2, st) = (t.clone(), started.clone());
                let owner = s.spawn(async move {
                    Builder::new()
                        .run(async |inner| {
                            inner.spawn(guarded_forever(t2.guard()));
                            st.open();
                            forever().await;
                            Ok::<_, BoxError>(())
                        })
                        .await?;
                    ok()
                });
                started.wait().await;
                owner.cancel();
                while !owner.is_finished() {
                    yield_now().await;
                }
                owner_state = Some(owner.state());
                Ok::<_, BoxError>(())
            })
            .await;
        assert!(r.is_ok(), "cancelling one child failed the scope: {r:?}");
        assert_eq!(owner_state, Some(ChildState::Cancelled), "value of `owner_state`");
        assert_eq!(t.live(), 0, "the cancelled owner's scope left a child alive");
        assert_eq!(t.dropped(), 1, "child futures dropped so far");
    }));
}

/// F2 (AnyIO `test_host_exception`): the body's error cancels a sleeping child, and the group
/// holds that one error only.
pub fn f2_a_body_error_is_the_only_member(h: &dyn Harness) {
    let rt = h.runtime();
    h.block_on(Box::pin(async move {
        let start = Instant::now();
        let result = Arc::new(AtomicBool::new(false));
        let r: Result<(), _> = builder(h)
            .run(async |s| {
                let (res, rt) = (result.clone(), rt.clone());
                s.spawn(async move {
                    sleep(&rt, LONG).await;
                    res.store(true, Ordering::SeqCst);
                    ok()
                });
                Err(err("dummy error"))
            })
            .await;
        let g = expect_failed(r);
        assert_eq!(messages(&g), ["dummy error"], "messages of the members of group `g`, in completion order");
        assert_eq!(g.members()[0].name(), None, "the body's error has no child name");
        assert!(!result.load(Ordering::SeqCst), "`result` was true, expected false");
        assert_prompt(start, "stopping the sleeping child");
    }));
}

/// C1 (AnyIO `test_level_cancellation`, adapted): a child spawned just before the scope is
/// cancelled may have started (on a multi-threaded runtime), but it never gets past its next
/// suspension point, even when what it waits for happens right after the cancel.
pub fn c1_a_cancelled_child_never_passes_its_next_await(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let marker = Arc::new(AtomicUsize::new(0));
        let wake = Gate::new();
        let r: Result<(), _> = builder(h)
            .run(async |s| {
                let (m, w) = (marker.clone(), wake.clone());
                s.spawn(async move {
                    m.store(1, Ordering::SeqCst);
                    w.wait().await;
                    m.store(2, Ordering::SeqCst);
                    ok()
                });
                s.cancel();
                wake.open(); // would let the child through, were it not cancelled
                Ok(())
            })
            .await;
        expect_cancelled(r);
        assert!(marker.load(Ordering::SeqCst) <= 1, "the child ran past its await after the cancel");
    }));
}

/// F1 (AnyIO `test_failing_child_task_cancels_host`): a child's failure stops the body in the
/// middle of a (long) sleep.
pub fn f1_a_child_failure_stops_a_sleeping_body(h: &dyn Harness) {
    let rt = h.runtime();
    h.block_on(Box::pin(async move {
        let sleep_completed = AtomicBool::new(false);
        let body_blocked = Gate::new();
        let start = Instant::now();
        let r: Result<(), _> = builder(h)
            .run(async |s| {
                let b = body_blocked.clone();
                s.spawn(async move {
                    b.wait().await;
                    Err::<(), _>(err("foo"))
                });
                body_blocked.open();
                sleep(&rt, LONG).await;
                sleep_completed.store(true, Ordering::SeqCst);
                Ok(())
            })
            .await;
        assert_eq!(
            messages(&expect_failed(r)),
            ["foo"],
            "messages of the failed scope's group members, in completion order"
        );
        assert!(!sleep_completed.load(Ordering::SeqCst), "`sleep_completed` was true, expected false");
        assert_prompt(start, "stopping the sleeping body");
    }));
}

/// F1 (AnyIO `test_failing_host_task_cancels_children`): the body's failure stops a child in
/// the middle of a (long) sleep.
pub fn f1_a_body_failure_stops_a_sleeping_child(h: &dyn Harness) {
    let rt = h.runtime();
    h.block_on(Box::pin(async move {
        let start = Instant::now();
        let sleep_completed = Arc::new(AtomicBool::new(false));
        let child_blocked = Gate::new();
        let r: Result<(), _> = builder(h)
            .run(async |s| {
                let (done, b, rt) = (sleep_completed.clone(), child_blocked.clone(), rt.clone());
                s.spawn(async move {
                    b.open();
                    sleep(&rt, LONG).await;
                    done.store(true, Ordering::SeqCst);
                    ok()
                });
                child_blocked.wait().await;
                Err(err("foo"))
            })
            .await;
        assert_eq!(
            messages(&expect_failed(r)),
            ["foo"],
            "messages of the failed scope's group members, in completion order"
        );
        assert!(!sleep_completed.load(Ordering::SeqCst), "`sleep_completed` was true, expected false");
        assert_prompt(start, "stopping the sleeping child");
    }));
}

/// C6 (AnyIO `test_cancel_scope_in_another_task`): a nested scope opened by a child can be
/// cancelled from another task (through its token); the child sees "cancelled" and the outer
/// scope carries on.
pub fn c6_a_nested_scope_cancelled_from_another_task(h: &dyn Harness) {
    let rt = h.runtime();
    h.block_on(Box::pin(async move {
        let start = Instant::now();
        let published: Arc<Mutex<Option<CancelToken>>> = Arc::default();
        let ready = Gate::new();
        let result = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Mutex::new(None));
        let r = builder(h)
            .run(async |s| {
                let (p, rd, res, seen2, rt) =
                    (published.clone(), ready.clone(), result.clone(), seen.clone(), rt.clone());
                s.spawn(async move {
                    let r = Builder::new()
                        .run(async |local| {
                            *p.lock().unwrap() = Some(local.token().clone());
                            rd.open();
                            sleep(&rt, LONG).await;
                            res.store(true, Ordering::SeqCst);
                            Ok::<_, BoxError>(())
                        })
                        .await;
                    *seen2.lock().unwrap() = Some(r.map_err(|e| e.reason().cloned()));
                    ok()
                });
                ready.wait().await;
                let local = published.lock().unwrap().clone().unwrap();
                local.cancel_with(CancelReason::Explicit("from another task".into()));
                Ok::<_, BoxError>(())
            })
            .await;
        assert!(r.is_ok(), "{r:?}");
        assert!(!result.load(Ordering::SeqCst), "`result` was true, expected false");
        assert_prompt(start, "stopping the nested scope");
        let seen = seen.lock().unwrap().take().expect("the child never saw its nested scope end");
        assert_eq!(seen, Err(Some(CancelReason::Explicit("from another task".into()))), "what the child saw");
    }));
}

/// C6 (AnyIO `test_cancel_propagation`, adapted): cancelling the outer scope stops the body of
/// a nested scope opened by a child. With no grace period the token fires just before children
/// are dropped, so the child may see its nested scope return, but only as "cancelled by the
/// parent"; the nested body never completes.
pub fn c6_outer_cancel_stops_a_nested_scope_body(h: &dyn Harness) {
    let rt = h.runtime();
    h.block_on(Box::pin(async move {
        let nested_running = Gate::new();
        let body_completed = Arc::new(AtomicBool::new(false));
        let nested_outcome = Arc::new(Mutex::new(None));
        let r: Result<(), _> = builder(h)
            .run(async |s| {
                let (gate, done, outcome, rt) =
                    (nested_running.clone(), body_completed.clone(), nested_outcome.clone(), rt.clone());
                s.spawn(async move {
                    let r = Builder::new()
                        .run(async |_inner| {
                            gate.open();
                            sleep(&rt, LONG).await;
                            done.store(true, Ordering::SeqCst);
                            Ok::<_, BoxError>(())
                        })
                        .await;
                    *outcome.lock().unwrap() = Some(r.map_err(|e| e.reason().map(|r| r.root().clone())));
                    ok()
                });
                nested_running.wait().await;
                s.cancel_with(CancelReason::Explicit("outer".into()));
                Ok(())
            })
            .await;
        expect_cancelled(r);
        assert!(!body_completed.load(Ordering::SeqCst), "the nested body ran on after the cancel");
        if let Some(seen) = nested_outcome.lock().unwrap().take() {
            assert_eq!(seen, Err(Some(CancelReason::Explicit("outer".into()))), "what the child saw");
        }
    }));
}

/// C5 (AnyIO `test_cancel_twice`): the same owner can have two scopes cancelled in a row, each
/// stopping its body in the middle of a sleep.
pub fn c5_an_owner_cancelled_twice_in_sequence(h: &dyn Harness) {
    let rt = h.runtime();
    h.block_on(Box::pin(async move {
        for round in 0..2 {
            let reached = AtomicBool::new(false);
            let blocked = Gate::new();
            let start = Instant::now();
            let r: Result<(), _> = builder(h)
                .run(async |s| {
                    let (sp, b) = (s.spawner(), blocked.clone());
                    s.spawn(async move {
                        b.wait().await;
                        sp.cancel();
                        ok()
                    });
                    blocked.open();
                    sleep(&rt, LONG).await;
                    reached.store(true, Ordering::SeqCst);
                    Ok(())
                })
                .await;
            let (reason, errors) = expect_cancelled(r);
            assert!(matches!(reason, CancelReason::Explicit(_)), "round {round}: {reason:?}");
            assert!(errors.is_none(), "errors collected (`errors`): expected none, saw {errors:?}");
            assert!(!reached.load(Ordering::SeqCst), "round {round}: execution reached past the sleep");
            assert_prompt(start, "stopping the sleeping body");
        }
    }));
}

/// C6 (AnyIO `test_cancel_exiting_task_group`): a nested scope whose body has returned and
/// which is waiting for its children is still reached by the outer cancel: its child is
/// dropped (its `finally` runs) before the outer scope returns.
pub fn c6_cancel_reaches_a_nested_scope_already_waiting(h: &dyn Harness) {
    let rt = h.runtime();
    h.block_on(Box::pin(async move {
        let cancel_received = Arc::new(AtomicBool::new(false));
        let waiting = Gate::new();
        let r: Result<(), _> = builder(h)
            .run(async |s| {
                let (cr, w, rt) = (cancel_received.clone(), waiting.clone(), rt.clone());
                s.spawn(async move {
                    Builder::new()
                        .run(async |tg2| {
                            tg2.spawn(async move {
                                let _finally = OnDrop(move || cr.store(true, Ordering::SeqCst));
                                w.open();
                                sleep(&rt, LONG).await;
                                ok()
                            });
                            Ok::<_, BoxError>(()) // the nested scope now waits for its child
                        })
                        .await?;
                    ok()
                });
                waiting.wait().await;
                s.cancel();
                Ok(())
            })
            .await;
        expect_cancelled(r);
        assert!(cancel_received.load(Ordering::SeqCst), "`cancel_received` was false, expected true");
    }));
}

/// C1 (AnyIO `test_cancel_before_entering_scope`, `test_cancel_before_entering_task_group`): a
/// scope opened under a token that is already cancelled never polls its body and reports
/// "cancelled by the parent".
pub fn c1_a_scope_under_a_cancelled_token_never_polls_its_body(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let token = CancelToken::new();
        token.cancel_with(CancelReason::Explicit("before".into()));
        let polled = AtomicBool::new(false);
        let r: Result<(), _> = builder(h)
            .parent(&token)
            .run(async |_s| {
                polled.store(true, Ordering::SeqCst);
                Ok::<_, BoxError>(())
            })
            .await;
        let (reason, errors) = expect_cancelled(r);
        assert!(matches!(reason, CancelReason::Parent(_)), "{reason:?}");
        assert_eq!(reason.root(), &CancelReason::Explicit("before".into()), "root cause of the cancel reason `reason`");
        assert!(errors.is_none(), "errors collected (`errors`): expected none, saw {errors:?}");
        assert!(!polled.load(Ordering::SeqCst), "the body was polled under a cancelled token");
    }));
}

/// F2 (AnyIO `test_exception_group_children`, Trio `test_two_child_crashes`): two children
/// that fail both end up in the group (with a grace period nothing is dropped before it fails,
/// so the count is exact).
pub fn f2_two_child_errors_are_both_collected(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let r: Result<(), _> = builder(h)
            .grace(LONG)
            .run(async |s| {
                let all_spawned = Gate::new();
                for name in ["task1", "task2"] {
                    let g = all_spawned.clone();
                    s.spawn_named(name, async move {
                        g.wait().await;
                        Err::<(), _>(err(name))
                    });
                }
                all_spawned.open();
                Ok(())
            })
            .await;
        let g = expect_failed(r);
        let mut msgs = messages(&g);
        msgs.sort();
        assert_eq!(msgs, ["task1", "task2"], "member messages, in completion order");
        assert!(g.to_string().starts_with("2 errors in scope"), "{g}");
    }));
}

/// F2 (AnyIO `test_exception_group_host`, Trio `test_main_and_task_both_crash`): the body's
/// error and a child's error raised while being cancelled are both collected, the body's (the
/// cause) first.
pub fn f2_body_and_child_errors_in_completion_order(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let r: Result<(), _> = builder(h)
            .grace(LONG)
            .run(async |s| {
                let token = s.token().clone();
                s.spawn_named("child", async move {
                    token.cancelled().await;
                    Err::<(), _>(err("child"))
                });
                Err(err("host"))
            })
            .await;
        let g = expect_failed(r);
        assert_eq!(messages(&g), ["host", "child"], "messages of the members of group `g`, in completion order");
        assert_eq!(g.members()[0].name(), None, "child name of member 0 of group `g`");
        assert_eq!(g.members()[1].name(), Some("child"), "child name of member 1 of group `g`");
    }));
}

/// C5 (AnyIO `test_escaping_cancelled_exception`): a body that cancels its own scope is stopped
/// at its next await, and the owner gets one bare "cancelled".
pub fn c5_a_self_cancel_stops_the_body_at_its_next_await(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let reached = AtomicBool::new(false);
        let r: Result<(), _> = builder(h)
            .run(async |s| {
                s.cancel();
                yield_now().await;
                reached.store(true, Ordering::SeqCst);
                Ok::<_, BoxError>(())
            })
            .await;
        let (reason, errors) = expect_cancelled(r);
        assert!(
            matches!(reason, CancelReason::Explicit(_)),
            "expected `reason` to match `CancelReason::Explicit(_)`, saw {reason:?}"
        );
        assert!(errors.is_none(), "errors collected (`errors`): expected none, saw {errors:?}");
        assert!(!reached.load(Ordering::SeqCst), "`reached` was true, expected false");
    }));
}

/// C5 (AnyIO `test_cancelled_not_caught`, adapted): a scope whose own `cancel()` was called
/// reports "cancelled" even when the body returns without awaiting anything after it; the
/// body's value is dropped, not returned.
pub fn c5_a_cancel_without_a_suspension_still_reports_cancelled(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let t = Tracker::new();
        let r = builder(h)
            .run(async |s| {
                s.cancel();
                Ok::<_, BoxError>(t.guard())
            })
            .await;
        let (reason, _) = expect_cancelled(r);
        assert!(
            matches!(reason, CancelReason::Explicit(_)),
            "expected `reason` to match `CancelReason::Explicit(_)`, saw {reason:?}"
        );
        assert_eq!(t.live(), 0, "the body's value was kept");
    }));
}

/// C6 (AnyIO `test_cancel_scope_in_child_task`): cancelling a nested scope opened by a child
/// does not cancel the outer scope; its body carries on to the end.
pub fn c6_cancelling_a_nested_scope_leaves_the_outer_alone(h: &dyn Harness) {
    let rt = h.runtime();
    h.block_on(Box::pin(async move {
        let published: Arc<Mutex<Option<CancelToken>>> = Arc::default();
        let ready = Gate::new();
        let host_done = AtomicBool::new(false);
        let mut outer_cancelled = None;
        let r = builder(h)
            .run(async |s| {
                let (p, rd) = (published.clone(), ready.clone());
                s.spawn(async move {
                    let _ = Builder::new()
                        .run(async |child_scope| {
                            *p.lock().unwrap() = Some(child_scope.token().clone());
                            rd.open();
                            forever().await;
                            Ok::<_, BoxError>(())
                        })
                        .await;
                    ok()
                });
                ready.wait().await;
                published.lock().unwrap().clone().unwrap().cancel();
                sleep(&rt, Duration::from_millis(1)).await;
                host_done.store(true, Ordering::SeqCst);
                outer_cancelled = Some(s.token().is_cancelled());
                Ok::<_, BoxError>(())
            })
            .await;
        assert!(r.is_ok(), "{r:?}");
        assert!(host_done.load(Ordering::SeqCst), "`host_done` was false, expected true");
        assert_eq!(outer_cancelled, Some(false), "the outer scope's token fired");
    }));
}

/// F1 (AnyIO `test_exception_cancels_siblings`): a child spawned after a sibling is blocked
/// fails, and the blocked sibling is cancelled in the middle of its sleep.
pub fn f1_a_failure_after_a_sibling_blocks_cancels_it(h: &dyn Harness) {
    let rt = h.runtime();
    h.block_on(Box::pin(async move {
        let start = Instant::now();
        let sleep_completed = Arc::new(AtomicBool::new(false));
        let blocked = Gate::new();
        let r: Result<(), _> = builder(h)
            .run(async |s| {
                let (done, b, rt) = (sleep_completed.clone(), blocked.clone(), rt.clone());
                s.spawn(async move {
                    b.open();
                    sleep(&rt, LONG).await;
                    done.store(true, Ordering::SeqCst);
                    ok()
                });
                blocked.wait().await;
                s.spawn(async { Err::<(), _>(err("foo")) });
                Ok(())
            })
            .await;
        assert_eq!(
            messages(&expect_failed(r)),
            ["foo"],
            "messages of the failed scope's group members, in completion order"
        );
        assert!(!sleep_completed.load(Ordering::SeqCst), "`sleep_completed` was true, expected false");
        assert_prompt(start, "stopping the sleeping sibling");
    }));
}

/// C5 (AnyIO `test_cancel_cascade`, adapted): a child that raises right after its nested scope
/// was cancelled does not turn the outer cancel into a failure: the owner gets "cancelled"
/// (the error, if the child got to raise it before being dropped, rides along in `errors`).
pub fn c5_an_error_during_teardown_does_not_turn_a_cancel_into_a_failure(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let t = Tracker::new();
        let nested_running = Gate::new();
        let r: Result<(), _> = builder(h)
            .run(async |s| {
                let (t2, gate) = (t.clone(), nested_running.clone());
                s.spawn(async move {
                    let _ = Builder::new()
                        .run(async |tg2| {
                            tg2.spawn(guarded_forever(t2.guard()));
                            gate.open();
                            Ok::<_, BoxError>(())
                        })
                        .await;
                    Err::<(), _>(err("foo"))
                });
                nested_running.wait().await;
                s.cancel();
                Ok(())
            })
            .await;
        let (reason, errors) = expect_cancelled(r);
        assert!(matches!(reason, CancelReason::Explicit(_)), "{reason:?}");
        if let Some(g) = errors {
            assert_eq!(messages(&g), ["foo"], "messages of the members of group `g`, in completion order");
        }
        assert_eq!(t.live(), 0, "live child futures (guards not yet dropped)");
    }));
}

/// S4 (AnyIO `test_cancelled_parent`, adapted): a child that spawns a sibling after the scope
/// was cancelled gets a closed handle; the sibling never runs (so its error never happens).
pub fn s4_a_child_spawning_into_a_cancelled_scope_gets_a_closed_handle(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let state = Arc::new(Mutex::new(None));
        let polled = Arc::new(AtomicBool::new(false));
        let r: Result<(), _> = builder(h)
            .grace(LONG)
            .run(async |s| {
                let (sp, token, st, p) = (s.spawner(), s.token().clone(), state.clone(), polled.clone());
                s.spawn(async move {
                    token.cancelled().await;
                    let child = sp.spawn(async move {
                        p.store(true, Ordering::SeqCst);
                        Err::<(), _>(err("foo"))
                    });
                    *st.lock().unwrap() = Some(child.state());
                    ok()
                });
                s.cancel();
                Ok(())
            })
            .await;
        let (_, errors) = expect_cancelled(r);
        assert!(errors.is_none(), "{errors:?}");
        assert_eq!(*state.lock().unwrap(), Some(ChildState::Closed), "what was recorded in `state`");
        assert!(!polled.load(Ordering::SeqCst), "`polled` was true, expected false");
    }));
}

/// F6 (AnyIO `test_exception_group_filtering`): an error of the outer scope and an error of a
/// scope nested in its body come back as a group whose second member is the nested scope's
/// outcome, holding only the real error (no cancellation as a member).
pub fn f6_a_nested_group_holds_only_real_errors(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let r: Result<(), _> = builder(h)
            .grace(LONG)
            .run(async |s| {
                let nested_started = Gate::new();
                let gate = nested_started.clone();
                s.spawn_named("parent", async move {
                    gate.wait().await;
                    Err::<(), _>(err("parent task failed"))
                });
                Builder::new()
                    .grace(LONG)
                    .run(async |tg2| {
                        let token = tg2.token().clone();
                        let gate = nested_started.clone();
                        tg2.spawn_named("child", async move {
                            gate.open();
                            token.cancelled().await;
                            Err::<(), _>(err("child task failed"))
                        });
                        tg2.token().cancelled().await;
                        Ok::<_, BoxError>(())
                    })
                    .await?;
                Ok(())
            })
            .await;
        let g = expect_failed(r);
        assert_eq!(g.len(), 2, "{g}");
        assert_eq!(g.cause().to_string(), "parent task failed", "displayed cause of group `g`");
        let nested = g.members()[1].error().downcast_ref::<ScopeError<BoxError>>().expect("the nested scope's outcome");
        let inner = nested.errors().expect("the nested scope lost its child's error");
        assert_eq!(messages(inner), ["child task failed"], "value of `messages(inner)`");
        assert_eq!(inner.members()[0].name(), Some("child"), "child name of member 0 of group `inner`");
    }));
}

/// C6 (AnyIO `test_cancel_propagation_with_inner_spawn`, adapted): cancelling the outer scope
/// drops both the body and the children of a scope nested in a child, before the outer scope
/// returns. If the child sees its nested scope return at all, it sees "cancelled by parent".
pub fn c6_outer_cancel_drops_a_nested_scope_body_and_children(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let t = Tracker::new();
        let nested_running = Gate::new();
        let returned = Arc::new(Mutex::new(None));
        let r: Result<(), _> = builder(h)
            .run(async |s| {
                let (t2, gate, ret) = (t.clone(), nested_running.clone(), returned.clone());
                s.spawn(async move {
                    let r = Builder::new()
                        .run(async |tg2| {
                            tg2.spawn(guarded_forever(t2.guard()));
                            let _body = t2.guard();
                            gate.open();
                            forever().await;
                            Ok::<_, BoxError>(())
                        })
                        .await;
                    *ret.lock().unwrap() =
                        Some(matches!(r, Err(ScopeError::Cancelled { reason: CancelReason::Parent(_), .. })));
                    ok()
                });
                nested_running.wait().await;
                s.cancel();
                Ok(())
            })
            .await;
        expect_cancelled(r);
        assert_eq!(t.live(), 0, "part of the nested scope outlived the outer one");
        assert_eq!(t.dropped(), 2, "child futures dropped so far");
        if let Some(was_parent_cancel) = returned.lock().unwrap().take() {
            assert!(was_parent_cancel, "the nested scope returned something other than a parent cancel");
        }
    }));
}

/// P2 (AnyIO `test_task_in_sync_spawn_callback`, adapted): a child runs with its own scope as
/// the ambient one: the token `current_token()` gives it is its scope's, not the enclosing
/// scope's, so cancelling it stops only the nested scope.
pub fn p2_a_child_sees_its_own_scope_as_ambient(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let mut inner_result = None;
        let mut outer_cancelled = None;
        let r = builder(h)
            .run(async |s| {
                let r = Builder::new()
                    .run(async |inner| {
                        inner.spawn(async {
                            let ambient = taskscope_core::current_token().expect("no ambient token in a child");
                            ambient.cancel_with(CancelReason::Explicit("via the ambient token".into()));
                            ok()
                        });
                        forever().await;
                        Ok::<_, BoxError>(())
                    })
                    .await;
                inner_result = Some(r.map_err(|e| e.reason().cloned()));
                outer_cancelled = Some(s.token().is_cancelled());
                Ok::<_, BoxError>(())
            })
            .await;
        assert!(r.is_ok(), "{r:?}");
        assert_eq!(
            inner_result,
            Some(Err(Some(CancelReason::Explicit("via the ambient token".into())))),
            "value of `inner_result`"
        );
        assert_eq!(outer_cancelled, Some(false), "value of `outer_cancelled`");
        assert!(taskscope_core::current_token().is_none(), "an ambient token leaked out of the scope");
    }));
}

/// C5 (AnyIO `test_single_cancellation_exc`): a nested scope cancelled by its outer scope (no
/// failures anywhere) gives its owner one bare "cancelled" naming the parent, not a group.
pub fn c5_a_nested_scope_cancelled_by_its_outer_scope_is_one_cancelled(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let mut nested = None;
        let r: Result<(), _> = builder(h)
            .grace(LONG)
            .run(async |s| {
                let outer = s.spawner();
                let r = Builder::new()
                    .run(async |tg| {
                        let blocked = Gate::new();
                        let b = blocked.clone();
                        tg.spawn(async move {
                            b.open();
                            forever().await;
                            ok()
                        });
                        blocked.wait().await;
                        outer.cancel_with(CancelReason::Explicit("outer".into()));
                        forever().await;
                        Ok::<_, BoxError>(())
                    })
                    .await;
                nested = Some(r);
                Ok(())
            })
            .await;
        let (reason, errors) = expect_cancelled(r);
        assert_eq!(reason, CancelReason::Explicit("outer".into()), "cancel reason the child read");
        assert!(errors.is_none(), "errors collected (`errors`): expected none, saw {errors:?}");
        let (inner_reason, inner_errors) = expect_cancelled(nested.expect("the nested scope never returned"));
        assert!(matches!(inner_reason, CancelReason::Parent(_)), "{inner_reason:?}");
        assert_eq!(
            inner_reason.root(),
            &CancelReason::Explicit("outer".into()),
            "root cause of the cancel reason `inner_reason`"
        );
        assert!(inner_errors.is_none(), "errors collected (`inner_errors`): expected none, saw {inner_errors:?}");
    }));
}

/// S3 (AnyIO `test_start_soon_parent_id`, adapted): a sibling spawned by a child belongs to the
/// scope, not to the child: it keeps running after the child that spawned it has finished, and
/// the scope waits for it.
pub fn s3_a_sibling_spawned_by_a_child_outlives_its_spawner(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let release = Gate::new();
        let r = builder(h)
            .run(async |s| {
                let (sp, rel) = (s.spawner(), release.clone());
                let starter = s.spawn(async move {
                    let subtask = sp.spawn(async move {
                        rel.wait().await;
                        Ok::<_, BoxError>(7)
                    });
                    Ok::<_, BoxError>(subtask)
                });
                let subtask = starter.await?;
                assert!(!subtask.is_finished(), "the subtask ended with its spawner");
                release.open();
                Ok::<_, BoxError>(subtask)
            })
            .await;
        let subtask = r.unwrap();
        assert_eq!(subtask.result().unwrap(), 7, "value of child `subtask`");
    }));
}
