//! Cases ported from Trio's nursery and cancel-scope tests.
//!
//! # Ported from Trio
//!
//! Sources, in [python-trio/trio]: `src/trio/_core/_tests/test_run.py` (the tests that involve
//! nurseries or cancel scopes; the run loop's own tests are summarized at the end) and
//! `src/trio/_core/_tests/test_cancel.py` (cancel reasons). A nursery is a scope,
//! `nursery.cancel_scope.cancel()` is `Scope::cancel`, a free `CancelScope` is a nested scope,
//! `wait_all_tasks_blocked` is a [`Gate`], and Trio's `MockClock` becomes
//! real timers with wide margins.
//!
//! | Trio test | status | case |
//! |---|---|---|
//! | `test_nursery_main_block_error_basic` | ported | [`f2_a_body_error_comes_back_unchanged`] |
//! | `test_nursery_explicit_exception` | ported | [`f2_a_body_error_comes_back_unchanged`] |
//! | `test_child_crash_basic` | ported | [`f2_a_child_error_comes_back_unchanged`] |
//! | `test_basic_interleave` | adapted: multi-threaded runtimes have no scheduling rounds, so the interleaving is forced with gates; what is tested is that both children make progress concurrently | [`s2_children_interleave_at_suspension_points`] |
//! | `test_task_crash_propagation` | ported | [`f1_a_failure_cancels_a_sibling_that_never_blocks`] |
//! | `test_main_and_task_both_crash` | ported | [`f2_body_and_child_errors_in_completion_order`](crate::cases::f2_body_and_child_errors_in_completion_order) |
//! | `test_two_child_crashes` | ported | [`f2_two_child_errors_are_both_collected`](crate::cases::f2_two_child_errors_are_both_collected) |
//! | `test_child_crash_wakes_parent` | ported (existing case) | [`f1_child_error_cancels_body`](crate::cases::f1_child_error_cancels_body) |
//! | `test_out_of_context` | adapted: no ambient scope outside a scope | [`p2_the_ambient_scope_is_set_only_inside_it`](crate::cases::p2_the_ambient_scope_is_set_only_inside_it) |
//! | `test_current_statistics` | adapted: the live-children gauge | [`o1_the_live_count_follows_a_handle_cancel`] |
//! | `test_cancel_scope_repr` | adapted: a handle's name and state | [`o1_a_handle_reports_its_name_and_state`] |
//! | `test_cancel_scope_validation` | n/a: NaN or negative deadlines cannot be written with `Instant`/`Duration` | — |
//! | `test_cancel_points` | ported (existing case) | [`c1_cancel_takes_effect_at_next_suspension`](crate::cases::c1_cancel_takes_effect_at_next_suspension) |
//! | `test_cancel_edge_cases` | ported | [`t1_cancelled_is_level_triggered`] (and [`c4_cancel_is_idempotent_first_reason_wins`](crate::cases::c4_cancel_is_idempotent_first_reason_wins)) |
//! | `test_cancel_scope_exceptiongroup_filtering` | adapted: cancellations are never members, the one real error rides along with the parent's cancel | [`c5_a_parent_cancel_keeps_the_errors_of_the_grace`] |
//! | `test_precancelled_task` | adapted: a spawn into a cancelled scope is refused (S4) where Trio starts it | [`s4_spawn_into_cancelling_scope_is_refused`](crate::cases::s4_spawn_into_cancelling_scope_is_refused) |
//! | `test_cancel_shielding` | lead | `c8_` cases (deadline.rs) |
//! | `test_cancel_inheritance` | ported | [`c6_cancel_reaches_every_leaf_of_a_tree`] |
//! | `test_cancel_shield_abort` | lead | `c8_` cases |
//! | `test_basic_timeout` | lead | `c7_` cases (deadline.rs) |
//! | `test_cancel_scope_nesting` | adapted: no `cancelled_caught`; what is kept is "the first reason stands per scope" (shield part: lead) | [`t3_an_own_reason_survives_a_later_outer_cancel`], [`t3_an_outer_reason_reaches_a_nested_scope_as_parent`] |
//! | `test_unshield_while_cancel_propagating` | lead | `c8_` cases |
//! | `test_cancel_unbound` | adapted: cancel before entry and after entry are kept; reuse and re-entry cannot be written (a scope is one closure call) | [`c1_a_scope_under_a_cancelled_token_never_polls_its_body`](crate::cases::c1_a_scope_under_a_cancelled_token_never_polls_its_body), [`c6_a_nested_scope_cancelled_from_another_task`](crate::cases::c6_a_nested_scope_cancelled_from_another_task) |
//! | `test_cancel_scope_misnesting` | n/a: scopes are lexical, misnesting cannot be written (S5) | — |
//! | `test_timekeeping` | adapted: the runtime's timer never fires early | [`p1_runtime_timer_never_fires_early`](crate::cases::p1_runtime_timer_never_fires_early) |
//! | `test_failed_abort`, `test_broken_abort`, `test_slow_abort_basic`, `test_slow_abort_edge_cases` | n/a: Trio's low-level abort callbacks | — |
//! | `test_task_tree_introspection`, `test_task_nursery_stack` | n/a: task-tree introspection | — |
//! | `test_nursery_closure` | ported (existing cases) | [`s2_late_spawns_are_waited_for`](crate::cases::s2_late_spawns_are_waited_for), [`s4_spawn_into_a_finished_scope_is_refused`](crate::cases::s4_spawn_into_a_finished_scope_is_refused) |
//! | `test_spawn_name` | ported | [`o1_names_reach_handles_errors_and_reasons`] |
//! | `test_current_effective_deadline` | lead | `c7_` cases |
//! | `test_nice_error_on_bad_calls_to_run_or_spawn` | n/a: type errors in Rust | — |
//! | `test_calling_asyncio_function_gives_nice_error`, `test_asyncio_function_inside_nursery_does_not_explode` | n/a: asyncio futures inside Trio | — |
//! | `test_trivial_yields` | n/a: checkpoint accounting | — |
//! | `test_nursery_start`, `test_nursery_start_with_cancelled_nursery`, `test_nursery_start_keeps_nursery_open`, `test_trio_run_strict_before_started` | lead | `l4_` cases (policy.rs) |
//! | `test_nursery_stop_iteration` | n/a: `StopIteration` semantics | — |
//! | `test_nursery_stop_async_iteration` | adapted: a scope per item of an async zip, ended by a typed "stop" error | [`s6_a_scope_per_item_in_a_loop`] |
//! | `test_traceback_frame_removal` | n/a: Python tracebacks | — |
//! | `test_contextvar_support`, `test_contextvar_multitask`, `test_system_task_contexts` | n/a: contextvars | — |
//! | `test_Nursery_init`, `test_Nursery_private_init`, `test_Nursery_subclass`, `test_Cancelled_init`, `test_Cancelled_str`, `test_Cancelled_subclass`, `test_CancelScope_subclass` | n/a: a `Scope` cannot be built by users (core's compile-fail doctest, S5); Rust has no subclassing | — |
//! | `test_sniffio_integration` | adapted (existing case): runtime detection inside a child | [`p2_nested_scope_detects_runtime`](crate::cases::p2_nested_scope_detects_runtime) |
//! | `test_very_deep_cancel_scope_nesting` | ported | [`t1_a_deep_token_chain_cancels_without_overflow`] (and [`s6_five_thousand_nested_scopes`](crate::cases::s6_five_thousand_nested_scopes)) |
//! | `test_cancel_scope_deadline_duplicates` | n/a: Trio's deadline heap | — |
//! | `test_simple_cancel_scope_usage_doesnt_create_cyclic_garbage`, `test_cancel_scope_exit_doesnt_create_cyclic_garbage`, `test_nursery_cancel_doesnt_create_cyclic_garbage` | adapted: memory is freed (T2) | [`t2_dropped_child_tokens_free_memory`](crate::cases::t2_dropped_child_tokens_free_memory), [`t2_a_cancelled_token_keeps_no_children`](crate::cases::t2_a_cancelled_token_keeps_no_children) |
//! | `test_locals_destroyed_promptly_on_cancel` | ported (existing case) | [`s1_cancelled_children_dropped_before_return`](crate::cases::s1_cancelled_children_dropped_before_return) |
//! | `test_setting_strict_exception_groups`, `test_nursery_collapse` | adapted: always strict, a group even of one (F2), nested scopes nest groups (F6) | [`f2_single_error_is_a_group_of_one`](crate::cases::f2_single_error_is_a_group_of_one), [`f6_nested_scopes_nest_groups`](crate::cases::f6_nested_scopes_nest_groups) |
//! | `test_cancel_scope_no_cancellederror` | n/a: raising a hand-made exception group | — |
//! | the run loop's own tests (`test_basic`, `test_initial_task_error`, `test_run_nesting`, `test_nursery_warn_use_async_with`, `test_reschedule`, `test_current_time*`, `test_current_clock`, `test_current_task`, `test_root_task`, `test_error_in_run_loop`, system tasks, `TrioToken`, instruments, `test_Task_custom_sleep_data`, coroutine detaching, `test_async_function_implemented_in_C`) | n/a: Trio's run loop, not nurseries | — |
//! | `test_cancel.py::test_cancel_reason` | ported (the deadline part: [`t3_deadline_reason_reaches_children`](crate::cases::t3_deadline_reason_reaches_children)) | [`t3_an_explicit_reason_carries_its_message`] |
//! | `test_cancel.py::test_cancel_reason_nursery` | ported | [`t3_a_cancelled_child_reads_the_failer_then_fails_too`] |
//! | `test_cancel.py::test_cancel_reason_nursery2` | ported | [`t3_the_reason_names_the_failer_when_the_failure_is_gated`] |
//! | `test_cancel.py::test_cancel_reason_not_overwritten` | ported | [`t3_an_explicit_reason_is_not_overwritten_by_the_deadline`] |
//! | `test_cancel.py::test_cancel_reason_not_overwritten_2` | adapted (marked broken upstream): here the first reason, the deadline, stands | [`t3_a_deadline_reason_is_not_overwritten_by_a_cancel`] |
//!
//! Totals (70 tests named above, plus the run loop's own tests in one row): 18 ported (4 onto
//! cases that already existed), 17 adapted, 9 covered by the lead's deadline, shielding and start
//! cases, 26 n/a.
//!
//! [python-trio/trio]: https://github.com/python-trio/trio

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use taskscope_core::{BoxError, CancelReason, CancelToken, ChildState, ScopeError};

use crate::Harness;
use crate::support::*;

const LONG: Duration = Duration::from_secs(30);

#[derive(Debug, PartialEq, Eq)]
struct Whoops(u64);

impl std::fmt::Display for Whoops {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "whoops #{}", self.0)
    }
}

impl std::error::Error for Whoops {}

/// F2 (Trio `test_nursery_main_block_error_basic`, `test_nursery_explicit_exception`): the
/// body's error comes back as the group's only member, the very value (type and content).
pub fn f2_a_body_error_comes_back_unchanged(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let r: Result<(), _> = builder(h).run(async |_s| Err(BoxError::new(Whoops(0x5eed)))).await;
        let g = expect_failed(r);
        assert_eq!(g.len(), 1, "number of entries in `g`");
        assert_eq!(
            g.cause().downcast_ref::<Whoops>(),
            Some(&Whoops(0x5eed)),
            "concrete type and value of the cause of `g`"
        );
    }));
}

/// F2 (Trio `test_child_crash_basic`): a child's error comes back the same way, with the
/// child's name.
pub fn f2_a_child_error_comes_back_unchanged(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let r: Result<(), _> = builder(h)
            .run(async |s| {
                s.spawn_named("erroring", async { Err::<(), _>(BoxError::new(Whoops(7))) });
                Ok(())
            })
            .await;
        let g = expect_failed(r);
        assert_eq!(g.len(), 1, "number of entries in `g`");
        assert_eq!(g.members()[0].name(), Some("erroring"), "child name of member 0 of group `g`");
        assert_eq!(g.cause().downcast_ref::<Whoops>(), Some(&Whoops(7)), "concrete type and value of the cause of `g`");
    }));
}

/// S2 (Trio `test_basic_interleave`, adapted): two children progress concurrently, each
/// waiting at every step for the other one's previous step.
pub fn s2_children_interleave_at_suspension_points(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let log = Log::new();
        let a_steps: Vec<Gate> = (0..3).map(|_| Gate::new()).collect();
        let b_steps: Vec<Gate> = (0..3).map(|_| Gate::new()).collect();
        builder(h)
            .run(async |s| {
                let (l, a, b) = (log.clone(), a_steps.clone(), b_steps.clone());
                s.spawn(async move {
                    for i in 0..3 {
                        if i > 0 {
                            b[i - 1].wait().await;
                        }
                        l.push(format!("a{i}"));
                        a[i].open();
                    }
                    ok()
                });
                let (l, a, b) = (log.clone(), a_steps.clone(), b_steps.clone());
                s.spawn(async move {
                    for i in 0..3 {
                        a[i].wait().await;
                        l.push(format!("b{i}"));
                        b[i].open();
                    }
                    ok()
                });
                Ok::<_, BoxError>(())
            })
            .await
            .unwrap();
        assert_eq!(log.events(), ["a0", "b0", "a1", "b1", "a2", "b2"], "events in `log`, in order");
    }));
}

/// F1 (Trio `test_task_crash_propagation`): a failure cancels a sibling that never blocks (it
/// only yields, so it is always ready to run); its cleanup runs.
pub fn f1_a_failure_cancels_a_sibling_that_never_blocks(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let record = Log::new();
        let looping = Gate::new();
        let r: Result<(), _> = builder(h)
            .run(async |s| {
                let (rec, l) = (record.clone(), looping.clone());
                s.spawn(async move {
                    let _finally = OnDrop(move || rec.push("looper cancelled"));
                    loop {
                        yield_now().await;
                        l.open();
                    }
                    #[allow(unreachable_code)]
                    ok()
                });
                let l = looping.clone();
                s.spawn(async move {
                    l.wait().await;
                    Err::<(), _>(err("argh"))
                });
                Ok(())
            })
            .await;
        assert_eq!(
            messages(&expect_failed(r)),
            ["argh"],
            "messages of the failed scope's group members, in completion order"
        );
        assert_eq!(record.events(), ["looper cancelled"], "events in `record`, in order");
    }));
}

/// O1 (Trio `test_current_statistics`, adapted): the scope's live-children count goes up with
/// a spawn and back down once a child cancelled through its handle has been dropped.
pub fn o1_the_live_count_follows_a_handle_cancel(h: &dyn Harness) {
    let rt = h.runtime();
    h.block_on(Box::pin(async move {
        let r = builder(h)
            .run(async |s| {
                assert_eq!(s.live_children(), 0, "live children of the scope (`s.live_children()`)");
                let child = s.spawn(async {
                    forever().await;
                    ok()
                });
                assert_eq!(s.live_children(), 1, "live children of the scope (`s.live_children()`)");
                child.cancel();
                let sp = s.spawner();
                eventually(&rt, "the cancelled child to be dropped", move || sp.live_children() == 0).await;
                Ok::<_, BoxError>(child.state())
            })
            .await;
        assert_eq!(r.unwrap(), ChildState::Cancelled, "value the scope returned");
    }));
}

/// O1 (Trio `test_cancel_scope_repr`, adapted): a handle reports its child's name and state
/// while it runs and once it has finished.
pub fn o1_a_handle_reports_its_name_and_state(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let release = Gate::new();
        let r = builder(h)
            .run(async |s| {
                let rel = release.clone();
                let named = s.spawn_named("sleeper", async move {
                    rel.wait().await;
                    Ok::<_, BoxError>(1)
                });
                let anonymous = s.spawn(async { Ok::<_, BoxError>(2) });
                assert_eq!(named.name(), Some("sleeper"), "name reported by `named`");
                assert_eq!(anonymous.name(), None, "name reported by `anonymous`");
                assert_eq!(named.state(), ChildState::Running, "state reported by handle `named`");
                assert!(!named.is_finished(), "`named` is finished, expected not finished");
                release.open();
                while !named.is_finished() || !anonymous.is_finished() {
                    yield_now().await;
                }
                assert_eq!(named.state(), ChildState::Finished, "state reported by handle `named`");
                Ok::<_, BoxError>((named, anonymous))
            })
            .await;
        let (named, anonymous) = r.unwrap();
        assert_eq!(named.result().unwrap(), 1, "value of child `named`");
        assert_eq!(anonymous.result().unwrap(), 2, "value of child `anonymous`");
    }));
}

/// T1 (Trio `test_cancel_edge_cases`): cancellation is level-triggered: once fired,
/// `cancelled()` resolves every time, and `run_until_cancelled` never even polls its future.
pub fn t1_cancelled_is_level_triggered(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let token = CancelToken::new();
        token.cancel();
        token.cancel(); // idempotent
        token.cancelled().await;
        token.cancelled().await;
        let polled = AtomicBool::new(false);
        let got = token
            .run_until_cancelled(async {
                polled.store(true, Ordering::SeqCst);
                1
            })
            .await;
        assert_eq!(got, None, "value of `got`");
        assert!(!polled.load(Ordering::SeqCst), "run_until_cancelled polled its future on a cancelled token");
        let t2 = token.clone();
        let r = builder(h)
            .run(async |s| {
                let c = s.spawn(async move {
                    t2.cancelled().await;
                    t2.cancelled().await;
                    Ok::<_, BoxError>(2)
                });
                Ok(c.await?)
            })
            .await;
        assert_eq!(r.unwrap(), 2, "value the scope returned");
    }));
}

/// C5 (Trio `test_cancel_scope_exceptiongroup_filtering`, adapted): a scope cancelled from
/// outside, whose children see the token and one of them fails while being cancelled, gives
/// "cancelled by the parent" with that one error; the cancelled children are not members.
pub fn c5_a_parent_cancel_keeps_the_errors_of_the_grace(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let outer = CancelToken::new();
        let r: Result<(), _> = builder(h)
            .parent(&outer)
            .grace(LONG)
            .run(async |s| {
                for _ in 0..2 {
                    let token = s.token().clone();
                    s.spawn(async move {
                        token.cancelled().await;
                        ok()
                    });
                }
                let token = s.token().clone();
                s.spawn_named("crasher", async move {
                    token.cancelled().await;
                    Err::<(), _>(err("KeyError"))
                });
                outer.cancel_with(CancelReason::Explicit("outer".into()));
                Ok(())
            })
            .await;
        let (reason, errors) = expect_cancelled(r);
        assert!(matches!(reason, CancelReason::Parent(_)), "{reason:?}");
        assert_eq!(reason.root(), &CancelReason::Explicit("outer".into()), "root cause of the cancel reason `reason`");
        let errors = errors.expect("the crasher's error was lost");
        assert_eq!(messages(&errors), ["KeyError"], "messages of the members of group `errors`, in completion order");
        assert_eq!(errors.members()[0].name(), Some("crasher"), "child name of member 0 of group `errors`");
    }));
}

/// C6 (Trio `test_cancel_inheritance`): cancelling a scope reaches every leaf of a tree of
/// nested scopes at once.
pub fn c6_cancel_reaches_every_leaf_of_a_tree(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let record = Log::new();
        let started = Counter::new();
        let all_started = Gate::new();
        let r: Result<(), _> = builder(h)
            .run(async |s| {
                for w in ["w1", "w2"] {
                    let (rec, st, all) = (record.clone(), started.clone(), all_started.clone());
                    s.spawn(async move {
                        Builder::typed()
                            .run(async |nursery| {
                                for l in ["l1", "l2"] {
                                    let (rec, st, all) = (rec.clone(), st.clone(), all.clone());
                                    let ident = format!("{w}-{l}");
                                    nursery.spawn(async move {
                                        let _finally = OnDrop(move || rec.push(ident.clone()));
                                        if st.incr() == 4 {
                                            all.open();
                                        }
                                        forever().await;
                                        ok()
                                    });
                                }
                                Ok::<_, BoxError>(())
                            })
                            .await?;
                        ok()
                    });
                }
                all_started.wait().await;
                s.cancel();
                Ok(())
            })
            .await;
        expect_cancelled(r);
        let mut leaves = record.events();
        leaves.sort();
        assert_eq!(leaves, ["w1-l1", "w1-l2", "w2-l1", "w2-l2"], "value of `leaves`");
    }));
}

/// T3 (Trio `test_cancel_scope_nesting`, adapted): a nested scope cancelled for its own reason
/// keeps that reason when its outer scope is cancelled afterwards; each scope reports its own.
pub fn t3_an_own_reason_survives_a_later_outer_cancel(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let seen = Arc::new(Mutex::new(None));
        let mut nested = None;
        let r: Result<(), _> = builder(h)
            .grace(LONG)
            .run(async |s| {
                let outer = s.spawner();
                let r = Builder::typed()
                    .grace(LONG)
                    .run(async |inner| {
                        let (token, seen) = (inner.token().clone(), seen.clone());
                        inner.spawn(async move {
                            token.cancelled().await;
                            *seen.lock().unwrap() = token.reason().cloned();
                            ok()
                        });
                        inner.cancel_with(CancelReason::Explicit("inner".into()));
                        outer.cancel_with(CancelReason::Explicit("outer".into()));
                        Ok::<_, BoxError>(())
                    })
                    .await;
                nested = Some(r);
                Ok(())
            })
            .await;
        assert_eq!(expect_cancelled(r).0, CancelReason::Explicit("outer".into()), "reason the scope was cancelled");
        let nested = nested.expect("the nested scope never returned");
        assert_eq!(
            expect_cancelled(nested).0,
            CancelReason::Explicit("inner".into()),
            "reason the scope was cancelled"
        );
        assert_eq!(*seen.lock().unwrap(), Some(CancelReason::Explicit("inner".into())), "what was recorded in `seen`");
    }));
}

/// T3 (Trio `test_cancel_scope_nesting`, adapted): when the outer scope is cancelled first, a
/// nested scope's reason is "parent cancelled" (with the outer reason at its root), and its
/// own later cancel changes nothing.
pub fn t3_an_outer_reason_reaches_a_nested_scope_as_parent(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let mut nested = None;
        let r: Result<(), _> = builder(h)
            .grace(LONG)
            .run(async |s| {
                let outer = s.spawner();
                let r = Builder::typed()
                    .grace(LONG)
                    .run(async |inner| {
                        outer.cancel_with(CancelReason::Explicit("outer".into()));
                        inner.cancel_with(CancelReason::Explicit("inner".into()));
                        Ok::<_, BoxError>(())
                    })
                    .await;
                nested = Some(r);
                Ok(())
            })
            .await;
        assert_eq!(expect_cancelled(r).0, CancelReason::Explicit("outer".into()), "reason the scope was cancelled");
        let (reason, _) = expect_cancelled(nested.expect("the nested scope never returned"));
        assert!(matches!(reason, CancelReason::Parent(_)), "{reason:?}");
        assert_eq!(reason.root(), &CancelReason::Explicit("outer".into()), "root cause of the cancel reason `reason`");
    }));
}

/// O1 (Trio `test_spawn_name`): names given at spawn time (static or computed) reach the
/// handle, the error group, the siblings' cancel reason and the group's text.
pub fn o1_names_reach_handles_errors_and_reasons(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let reason = Arc::new(Mutex::new(None));
        let r: Result<(), _> = builder(h)
            .grace(LONG)
            .run(async |s| {
                let static_name = s.spawn_named("static", async { ok() });
                assert_eq!(static_name.name(), Some("static"), "name reported by `static_name`");
                let (token, rs) = (s.token().clone(), reason.clone());
                let computed = s.spawn_named(format!("worker-{}", 3), async move {
                    token.cancelled().await;
                    *rs.lock().unwrap() = token.reason().cloned();
                    ok()
                });
                assert_eq!(computed.name(), Some("worker-3"), "name reported by `computed`");
                s.spawn_named(format!("failer-{}", 7), async { Err::<(), _>(err("oops")) });
                Ok(())
            })
            .await;
        let g = expect_failed(r);
        assert_eq!(g.members()[0].name(), Some("failer-7"), "child name of member 0 of group `g`");
        assert!(g.to_string().contains("[failer-7] oops"), "{g}");
        assert_eq!(
            *reason.lock().unwrap(),
            Some(CancelReason::SiblingFailed { name: Some("failer-7".into()) }),
            "what was recorded in `reason`"
        );
    }));
}

#[derive(Debug)]
struct StopIteration;

impl std::fmt::Display for StopIteration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("stop iteration")
    }
}

impl std::error::Error for StopIteration {}

/// An async iterator over `0..count`.
struct Counting {
    count: usize,
    next: AtomicUsize,
}

async fn next_item(it: Arc<Counting>) -> Result<usize, BoxError> {
    yield_now().await;
    let v = it.next.load(Ordering::SeqCst);
    if v >= it.count {
        return Err(BoxError::new(StopIteration));
    }
    it.next.store(v + 1, Ordering::SeqCst);
    Ok(v)
}

/// S6 (Trio `test_nursery_stop_async_iteration`, adapted): a scope per item of an async zip
/// over two iterators: each scope fetches both next items; the first scope that fails with
/// "stop" ends the loop.
pub fn s6_a_scope_per_item_in_a_loop(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let (a, b) = (
            Arc::new(Counting { count: 4, next: AtomicUsize::new(0) }),
            Arc::new(Counting { count: 2, next: AtomicUsize::new(0) }),
        );
        let mut rows = Vec::new();
        for _ in 0..10 {
            let r = builder(h)
                .run(async |s| Ok::<_, BoxError>((s.spawn(next_item(a.clone())), s.spawn(next_item(b.clone())))))
                .await;
            match r {
                Ok((x, y)) => rows.push([x.result().unwrap(), y.result().unwrap()]),
                Err(ScopeError::Failed(g)) => {
                    let (stops, rest) = g.split_type::<StopIteration>();
                    assert!(stops.is_some() && rest.is_none(), "{rest:?}");
                    break;
                }
                Err(other) => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(rows, [[0, 0], [1, 1]], "value of `rows`");
    }));
}

/// T1 (Trio `test_very_deep_cancel_scope_nesting`): cancelling the root of a chain of 5,000
/// child tokens reaches the deepest one without overflowing the stack.
pub fn t1_a_deep_token_chain_cancels_without_overflow(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let root = CancelToken::new();
        let mut chain = vec![root.clone()];
        for _ in 0..5000 {
            let next = chain.last().unwrap().child();
            chain.push(next);
        }
        root.cancel_with(CancelReason::Explicit("root".into()));
        let deepest = chain.last().unwrap().clone();
        assert!(deepest.is_cancelled(), "`deepest` is not cancelled, expected cancelled");
        assert_eq!(
            deepest.reason().unwrap().root(),
            &CancelReason::Explicit("root".into()),
            "value of `deepest.reason().unwrap().root()`"
        );
        deepest.cancelled().await;
        drop(deepest);
        // Deepest first, so that no drop has to walk the whole chain.
        while chain.pop().is_some() {}
    }));
}

/// T3 (Trio `test_cancel_reason`): an explicit cancel's message reaches the children (in the
/// reason and its text) and the owner.
pub fn t3_an_explicit_reason_carries_its_message(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let seen = Arc::new(Mutex::new(None));
        let r: Result<(), _> = builder(h)
            .grace(LONG)
            .run(async |s| {
                let (token, seen) = (s.token().clone(), seen.clone());
                s.spawn(async move {
                    token.cancelled().await;
                    let reason = token.reason().cloned().unwrap();
                    *seen.lock().unwrap() = Some((reason.to_string(), reason));
                    ok()
                });
                s.cancel_with(CancelReason::Explicit("hello".into()));
                Ok(())
            })
            .await;
        let e = r.unwrap_err();
        assert!(e.to_string().contains("hello"), "{e}");
        assert_eq!(
            expect_cancelled::<()>(Err(e)).0,
            CancelReason::Explicit("hello".into()),
            "value of `expect_cancelled::<()>(Err(e)).0`"
        );
        let (text, reason) = seen.lock().unwrap().take().expect("the child never saw the token");
        assert_eq!(reason, CancelReason::Explicit("hello".into()), "cancel reason the child read");
        assert!(text.contains("hello"), "{text}");
    }));
}

/// T3 (Trio `test_cancel_reason_nursery`): a child cancelled because a sibling failed reads
/// that sibling's name in the reason, then fails too; both errors are collected.
pub fn t3_a_cancelled_child_reads_the_failer_then_fails_too(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let seen = Arc::new(Mutex::new(None));
        let r: Result<(), _> = builder(h)
            .grace(LONG)
            .run(async |s| {
                let (token, sn) = (s.token().clone(), seen.clone());
                s.spawn_named("cancelled", async move {
                    token.cancelled().await;
                    *sn.lock().unwrap() = token.reason().cloned();
                    Err::<(), _>(err("TypeError"))
                });
                s.spawn_named("failing", async { Err::<(), _>(err("ValueError")) });
                Ok(())
            })
            .await;
        assert_eq!(
            messages(&expect_failed(r)),
            ["ValueError", "TypeError"],
            "messages of the failed scope's group members, in completion order"
        );
        assert_eq!(
            *seen.lock().unwrap(),
            Some(CancelReason::SiblingFailed { name: Some("failing".into()) }),
            "what was recorded in `seen`"
        );
    }));
}

/// T3 (Trio `test_cancel_reason_nursery2`): the same when the failing child was spawned first
/// and fails only once released.
pub fn t3_the_reason_names_the_failer_when_the_failure_is_gated(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let seen = Arc::new(Mutex::new(None));
        let event = Gate::new();
        let r: Result<(), _> = builder(h)
            .grace(LONG)
            .run(async |s| {
                let ev = event.clone();
                s.spawn_named("failing", async move {
                    ev.wait().await;
                    Err::<(), _>(err("ValueError"))
                });
                let (token, sn) = (s.token().clone(), seen.clone());
                s.spawn_named("cancelled", async move {
                    token.cancelled().await;
                    *sn.lock().unwrap() = token.reason().cloned();
                    Err::<(), _>(err("TypeError"))
                });
                event.open();
                Ok(())
            })
            .await;
        assert_eq!(
            messages(&expect_failed(r)),
            ["ValueError", "TypeError"],
            "messages of the failed scope's group members, in completion order"
        );
        assert_eq!(
            *seen.lock().unwrap(),
            Some(CancelReason::SiblingFailed { name: Some("failing".into()) }),
            "what was recorded in `seen`"
        );
    }));
}

/// T3 (Trio `test_cancel_reason_not_overwritten`): a deadline that passes after an explicit
/// cancel does not replace its reason.
pub fn t3_an_explicit_reason_is_not_overwritten_by_the_deadline(h: &dyn Harness) {
    let rt = h.runtime();
    h.block_on(Box::pin(async move {
        let seen = Arc::new(Mutex::new(None));
        let r: Result<(), _> = builder(h)
            .timeout(Duration::from_millis(100))
            .grace(LONG)
            .run(async |s| {
                let (token, sn, rt) = (s.token().clone(), seen.clone(), rt.clone());
                s.spawn(async move {
                    token.cancelled().await;
                    sleep(&rt, Duration::from_millis(200)).await; // past the deadline
                    *sn.lock().unwrap() = token.reason().cloned();
                    ok()
                });
                s.cancel_with(CancelReason::Explicit("first".into()));
                Ok(())
            })
            .await;
        assert_eq!(expect_cancelled(r).0, CancelReason::Explicit("first".into()), "reason the scope was cancelled");
        assert_eq!(*seen.lock().unwrap(), Some(CancelReason::Explicit("first".into())), "what was recorded in `seen`");
    }));
}

/// T3 (Trio `test_cancel_reason_not_overwritten_2`, adapted): an explicit cancel after the
/// deadline fired does not replace the deadline as the reason.
pub fn t3_a_deadline_reason_is_not_overwritten_by_a_cancel(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let seen = Arc::new(Mutex::new(None));
        let r: Result<(), _> = builder(h)
            .timeout(Duration::from_millis(10))
            .grace(LONG)
            .run(async |s| {
                let (token, sn, sp) = (s.token().clone(), seen.clone(), s.spawner());
                s.spawn(async move {
                    token.cancelled().await;
                    sp.cancel_with(CancelReason::Explicit("late".into()));
                    *sn.lock().unwrap() = token.reason().cloned();
                    ok()
                });
                Ok(())
            })
            .await;
        assert_eq!(expect_cancelled(r).0, CancelReason::Deadline, "reason the scope was cancelled");
        assert_eq!(*seen.lock().unwrap(), Some(CancelReason::Deadline), "what was recorded in `seen`");
    }));
}
