//! C2, C7, C8, T3 — grace periods, deadlines, shielding and cancellation reasons,
//! and the nested-deadline scenario of the `nested_deadline` example.
//!
//! Deadline cases never depend on a sleep being exact: they assert outcomes, and at most a
//! lower bound on elapsed time (a deadline never fires early) measured on the runtime's clock.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use taskscope_core::{
    BoxError, CancelReason, CancelToken, Elapsed, Runtime, ScopeError, current_token, fail_after, fail_at,
    move_on_after, move_on_at,
};

use crate::Harness;
use crate::support::*;

/// C7: a scope's timeout cancels it; after teardown (every child dropped) the owner gets
/// "elapsed", never before the deadline.
pub fn c7_scope_timeout_elapsed_after_teardown(h: &dyn Harness) {
    let rt = h.runtime();
    h.block_on(Box::pin(async move {
        let t = Tracker::new();
        let start = rt.now();
        let r = builder(h)
            .timeout(Duration::from_millis(20))
            .run(async |s| {
                for _ in 0..3 {
                    s.spawn(guarded_forever(t.guard()));
                }
                Ok::<_, BoxError>(())
            })
            .await;
        let err = r.unwrap_err();
        assert!(err.is_elapsed(), "{err:?}");
        assert_eq!(err.reason(), Some(&CancelReason::Deadline), "value of `err.reason()`");
        assert_eq!(t.live(), 0, "a child outlived the elapsed scope");
        assert!(rt.now() - start >= Duration::from_millis(20), "the deadline fired early");
    }));
}

/// C7: `fail_after` on any future never fires before its deadline (on the runtime's clock).
pub fn c7_fail_after_never_fires_early(h: &dyn Harness) {
    let rt = h.runtime();
    h.block_on(Box::pin(async move {
        inside_scope(h, async {
            let start = rt.now();
            let r = fail_after(Duration::from_millis(30), forever()).await;
            assert_eq!(r, Err(Elapsed::default()), "outcome (`r`)");
            let elapsed = rt.now() - start;
            let d = Duration::from_millis(30);
            assert!(elapsed >= d, "the deadline fired after {elapsed:?}, expected at least {d:?}");
        })
        .await;
    }));
}

/// C7: a future that completes before its deadline gives its output.
pub fn c7_fail_after_returns_output_in_time(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        inside_scope(h, async {
            let r = fail_after(Duration::from_secs(3600), async {
                yield_now().await;
                7
            })
            .await;
            assert_eq!(r, Ok(7), "outcome (`r`)");
        })
        .await;
    }));
}

/// C7: `move_on_after` gives `None` on expiry, `Some` in time.
pub fn c7_move_on_after_gives_none(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        inside_scope(h, async {
            assert_eq!(
                move_on_after(Duration::from_millis(5), forever()).await,
                None,
                "outcome of `move_on_after(Duration::from_millis(5), forever()).await`"
            );
            assert_eq!(
                move_on_after(Duration::from_secs(3600), async { 3 }).await,
                Some(3),
                "outcome of `move_on_after(Duration::from_secs(3600), async {{ 3 }}).await`"
            );
        })
        .await;
    }));
}

/// C7: the absolute forms (`fail_at`, `move_on_at`, `Builder::deadline`) behave like the
/// relative ones.
pub fn c7_absolute_deadlines(h: &dyn Harness) {
    let rt = h.runtime();
    h.block_on(Box::pin(async move {
        let at = rt.now() + Duration::from_millis(10);
        inside_scope(h, async {
            assert_eq!(
                fail_at(at, forever()).await,
                Err(Elapsed::default()),
                "outcome of `fail_at(at, forever()).await`"
            );
            let now = rt.now();
            assert!(now >= at, "fail_at returned {:?} before its deadline, expected at or after it", at - now);
            let later = rt.now() + Duration::from_millis(5);
            assert_eq!(move_on_at(later, forever()).await, None, "outcome of `move_on_at(later, forever()).await`");
            let now = rt.now();
            assert!(now >= later, "move_on_at returned {:?} before its deadline, expected at or after it", later - now);
        })
        .await;
        let at = rt.now() + Duration::from_millis(10);
        let r = builder(h)
            .deadline(at)
            .run(async |_s| {
                forever().await;
                ok()
            })
            .await;
        assert!(r.as_ref().is_err_and(|e| e.is_elapsed()), "expected an elapsed outcome, saw {r:?}");
        let now = rt.now();
        assert!(now >= at, "the scope returned {:?} before its deadline, expected at or after it", at - now);
    }));
}

/// C7: a deadline already past cancels at once: the future (or the body) is never polled.
pub fn c7_deadline_already_past_cancels_before_poll(h: &dyn Harness) {
    let rt = h.runtime();
    h.block_on(Box::pin(async move {
        let polled = Arc::new(AtomicBool::new(false));
        let past = rt.now() - Duration::from_millis(1);
        let p = polled.clone();
        let r = builder(h)
            .deadline(past)
            .run(async move |_s| {
                p.store(true, Ordering::SeqCst);
                ok()
            })
            .await;
        assert!(r.as_ref().is_err_and(|e| e.is_elapsed()), "expected an elapsed outcome, saw {r:?}");
        assert!(!polled.load(Ordering::SeqCst), "the body ran after its deadline had passed");
        let p = polled.clone();
        inside_scope(h, async {
            let r = fail_at(past, async move { p.store(true, Ordering::SeqCst) }).await;
            assert_eq!(r, Err(Elapsed::default()), "outcome (`r`)");
            assert_eq!(
                fail_after(Duration::ZERO, async { 1 }).await,
                Err(Elapsed::default()),
                "outcome of `fail_after(Duration::ZERO, async {{ 1 }}).await`"
            );
        })
        .await;
        assert!(!polled.load(Ordering::SeqCst), "the future ran after its deadline had passed");
    }));
}

/// C7: `Duration::MAX` means no deadline (never an overflow panic), on scopes and futures.
pub fn c7_duration_max_means_no_deadline(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let r = builder(h)
            .timeout(Duration::MAX)
            .run(async |s| {
                s.spawn(async {
                    yield_now().await;
                    ok()
                });
                assert_eq!(
                    fail_after(Duration::MAX, async { 1 }).await,
                    Ok(1),
                    "outcome of `fail_after(Duration::MAX, async {{ 1 }}).await`"
                );
                assert_eq!(
                    move_on_after(Duration::MAX, async { 2 }).await,
                    Some(2),
                    "outcome of `move_on_after(Duration::MAX, async {{ 2 }}).await`"
                );
                Ok::<_, BoxError>(5)
            })
            .await;
        assert_eq!(r.unwrap(), 5, "value the scope returned");
    }));
}

/// C7: a manual cancel of a scope with a deadline is not a timeout.
pub fn c7_manual_cancel_is_not_elapsed(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let r = builder(h)
            .timeout(Duration::from_secs(3600))
            .run(async |s| {
                s.spawn(guarded_forever(Tracker::new().guard()));
                s.cancel();
                ok()
            })
            .await;
        let err = r.unwrap_err();
        assert!(!err.is_elapsed(), "a manual cancel reported as elapsed: {err:?}, expected a plain cancel");
        assert!(matches!(err.reason(), Some(CancelReason::Explicit(_))), "{err:?}");
    }));
}

/// C7: when a child fails during the grace after the deadline, the owner gets the group,
/// not "elapsed".
pub fn c7_child_failure_beats_elapsed(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let r = builder(h)
            .timeout(Duration::from_millis(10))
            .grace(Duration::from_secs(30))
            .run(async |s| {
                let token = s.token().clone();
                s.spawn_named("flusher", async move {
                    token.cancelled().await;
                    Err::<(), _>(err("flush failed"))
                });
                ok()
            })
            .await;
        match r {
            Err(ScopeError::Failed(g)) => {
                assert_eq!(g.to_string(), "1 error in scope\n  1. [flusher] flush failed", "displayed text of `g`")
            }
            other => panic!("expected the group, got {other:?}"),
        }
    }));
}

/// C7: a child's own timeout is an ordinary error of that child.
pub fn c7_childs_own_timeout_is_ordinary_error(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let r = builder(h)
            .run(async |s| {
                s.spawn_named("slow", async {
                    fail_after(Duration::from_millis(5), forever()).await?;
                    ok()
                });
                ok()
            })
            .await;
        let Err(ScopeError::Failed(g)) = r else { panic!("expected a failed scope, got {r:?}") };
        assert_eq!(g.members()[0].name(), Some("slow"), "child name of member 0 of group `g`");
        let (timeouts, rest) = g.split_type::<Elapsed>();
        assert_eq!(timeouts.map(|t| t.len()), Some(1), "value of `timeouts.map(|t| t.len())`");
        assert!(rest.is_none(), "the rest of the split: expected nothing left, saw {rest:?}");
    }));
}

/// C7: an inner deadline never extends an outer one.
pub fn c7_inner_deadline_never_extends_outer(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        inside_scope(h, async {
            let r = fail_after(Duration::from_millis(10), async {
                // Much later than the outer one: must not keep the outer waiting.
                fail_after(Duration::from_secs(3600), forever()).await
            })
            .await;
            assert_eq!(r, Err(Elapsed::default()), "outcome (`r`)");
        })
        .await;
    }));
}

/// C7: nested deadlines: the earliest wins, and only the one that expired reports it.
pub fn c7_nested_earliest_deadline_wins(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        inside_scope(h, async {
            let r =
                fail_after(Duration::from_secs(3600), async { fail_after(Duration::from_millis(5), forever()).await })
                    .await;
            // The inner deadline expired; the outer one did not.
            assert_eq!(r, Ok(Err(Elapsed::default())), "outcome (`r`)");
        })
        .await;
    }));
}

/// C7: an outer scope's deadline reaches a nested scope's children as "parent cancelled
/// (deadline)"; the nested scope is not itself "elapsed".
pub fn c7_outer_deadline_reaches_nested_scope(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let seen = Arc::new(Mutex::new(None));
        let nested_outcome = Arc::new(Mutex::new(None));
        let r = builder(h)
            .timeout(Duration::from_millis(10))
            .grace(Duration::from_secs(30))
            .run(async |s| {
                let (seen, nested_outcome) = (seen.clone(), nested_outcome.clone());
                s.spawn(async move {
                    let r = Builder::typed()
                        .grace(Duration::from_secs(30))
                        .run(async |inner| {
                            let seen = seen.clone();
                            inner.spawn(async move {
                                let token = current_token().expect("inside a scope");
                                token.cancelled().await;
                                *seen.lock().unwrap() = token.reason().map(|r| r.root().clone());
                                ok()
                            });
                            ok()
                        })
                        .await;
                    *nested_outcome.lock().unwrap() = Some(r.map_err(|e| (e.is_elapsed(), e.reason().cloned())));
                    ok()
                });
                ok()
            })
            .await;
        assert!(r.as_ref().is_err_and(|e| e.is_elapsed()), "expected an elapsed outcome, saw {r:?}");
        assert_eq!(*seen.lock().unwrap(), Some(CancelReason::Deadline), "what was recorded in `seen`");
        let nested = nested_outcome.lock().unwrap().take().expect("the nested scope returned");
        let (elapsed, reason) = nested.unwrap_err();
        assert!(!elapsed, "an outer deadline is not the nested scope's own");
        assert!(
            matches!(reason, Some(CancelReason::Parent(_))),
            "expected `reason` to match `Some(CancelReason::Parent(_))`, saw {reason:?}"
        );
    }));
}

/// C7: `move_on_after` around a scope returns `None` only after the scope's children were
/// dropped (S1 holds through the deadline).
pub fn c7_move_on_tears_down_nested_scope_first(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let t = Tracker::new();
        inside_scope(h, async {
            let r = move_on_after(
                Duration::from_millis(10),
                Builder::typed().run(async |inner| {
                    for _ in 0..3 {
                        inner.spawn(guarded_forever(t.guard()));
                    }
                    ok()
                }),
            )
            .await;
            assert!(r.is_none(), "the outcome: expected None, saw {r:?}");
            assert_eq!(t.live(), 0, "move_on_after returned before the nested children were dropped");
        })
        .await;
    }));
}

/// C7: a cancellation from outside passes through a deadline region to the future inside; it
/// is not reported as elapsed.
pub fn c7_outer_cancel_is_not_elapsed_for_inner_region(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let got = Arc::new(Mutex::new(None));
        let r = builder(h)
            .grace(Duration::from_secs(30))
            .run(async |s| {
                let got = got.clone();
                s.spawn(async move {
                    let r = fail_after(Duration::from_secs(3600), async {
                        current_token().expect("inside a scope").cancelled().await;
                        "saw the outer cancel"
                    })
                    .await;
                    *got.lock().unwrap() = Some(r);
                    ok()
                });
                yield_now().await;
                s.cancel();
                ok()
            })
            .await;
        assert!(r.as_ref().is_err_and(|e| e.is_cancelled()), "expected a cancelled outcome, saw {r:?}");
        assert_eq!(*got.lock().unwrap(), Some(Ok("saw the outer cancel")), "what was recorded in `got`");
    }));
}

/// C7: timer resolution (tokio rounds up to 1 ms, async-io does not) changes no outcome: a
/// sub-millisecond deadline still elapses, never early.
pub fn c7_sub_millisecond_deadline(h: &dyn Harness) {
    let rt = h.runtime();
    h.block_on(Box::pin(async move {
        inside_scope(h, async {
            for micros in [1, 300, 1_500] {
                let d = Duration::from_micros(micros);
                let start = rt.now();
                assert_eq!(
                    fail_after(d, forever()).await,
                    Err(Elapsed::default()),
                    "outcome of `fail_after(d, forever()).await`"
                );
                let elapsed = rt.now() - start;
                assert!(elapsed >= d, "fail_after({d:?}) fired after {elapsed:?}, expected at least {d:?}");
            }
        })
        .await;
    }));
}

/// C7, the `nested_deadline` example: nested scopes under one 0.25 s deadline: `validate` (0.05 s)
/// and `ingest` (0.1 s) finish, `parse` (0.5 s) is cancelled at the deadline and its cleanup
/// runs, and the owner sees the deadline, not a group.
pub fn c7_seeds_nested_deadline_scenario(h: &dyn Harness) {
    let rt = h.runtime();
    h.block_on(Box::pin(async move {
        let log = Log::new();
        let t = Tracker::new();
        let r = builder(h)
            .timeout(Duration::from_millis(250))
            .run(async |s| {
                let (l, rt2) = (log.clone(), rt.clone());
                s.spawn_named("validate", async move {
                    sleep(&rt2, Duration::from_millis(50)).await;
                    l.push("validate done");
                    ok()
                });
                // A nested scope inside the deadline's scope.
                Builder::typed()
                    .run(async |inner| {
                        let (l, rt2) = (log.clone(), rt.clone());
                        inner.spawn_named("ingest", async move {
                            sleep(&rt2, Duration::from_millis(100)).await;
                            l.push("ingest done");
                            ok()
                        });
                        let (l, rt2, g) = (log.clone(), rt.clone(), t.guard());
                        inner.spawn_named("parse", async move {
                            let cleanup = l.clone();
                            let _cleanup = (OnDrop(move || cleanup.push("parse cleanup")), g);
                            sleep(&rt2, Duration::from_millis(500)).await;
                            l.push("parse done");
                            ok()
                        });
                        ok()
                    })
                    .await?;
                ok()
            })
            .await;
        let err = r.unwrap_err();
        assert!(err.is_elapsed(), "the owner must see the deadline, got {err:?}");
        let log = log.events();
        let has = |e: &str| log.iter().any(|l| l == e);
        assert!(has("validate done") && has("ingest done"), "{log:?}");
        assert!(has("parse cleanup") && !has("parse done"), "{log:?}");
        assert_eq!(t.live(), 0, "live child futures (guards not yet dropped)");
    }));
}

/// C2: during the grace period children may await the runtime's timer to clean up, and the
/// scope waits for them.
pub fn c2_grace_cleanup_can_await_timers(h: &dyn Harness) {
    let rt = h.runtime();
    h.block_on(Box::pin(async move {
        let done = Arc::new(AtomicUsize::new(0));
        let r = builder(h)
            .grace(Duration::from_secs(30))
            .run(async |s| {
                for _ in 0..3 {
                    let (token, done, rt) = (s.token().clone(), done.clone(), rt.clone());
                    s.spawn(async move {
                        token.cancelled().await;
                        sleep(&rt, Duration::from_millis(5)).await; // async cleanup
                        done.fetch_add(1, Ordering::SeqCst);
                        ok()
                    });
                }
                yield_now().await;
                s.cancel();
                ok()
            })
            .await;
        assert!(r.as_ref().is_err_and(|e| e.is_cancelled()), "expected a cancelled outcome, saw {r:?}");
        assert_eq!(done.load(Ordering::SeqCst), 3, "value of `done`");
    }));
}

/// C2: during the grace period the scope refuses new (unshielded) spawns (S4).
pub fn c2_spawns_refused_during_grace(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let refused = Arc::new(AtomicBool::new(false));
        let r = builder(h)
            .grace(Duration::from_secs(30))
            .run(async |s| {
                let (token, sp, refused) = (s.token().clone(), s.spawner(), refused.clone());
                s.spawn(async move {
                    token.cancelled().await;
                    let late = sp.spawn(async { ok() });
                    refused.store(late.state() == taskscope_core::ChildState::Closed, Ordering::SeqCst);
                    ok()
                });
                yield_now().await;
                s.cancel();
                ok()
            })
            .await;
        assert!(r.as_ref().is_err_and(|e| e.is_cancelled()), "expected a cancelled outcome, saw {r:?}");
        assert!(refused.load(Ordering::SeqCst), "a spawn during the grace period was accepted");
    }));
}

/// C2: a deadline with a grace period: children see the deadline reason and may clean up.
pub fn c2_grace_applies_after_deadline(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let log = Log::new();
        let r = builder(h)
            .timeout(Duration::from_millis(5))
            .grace(Duration::from_secs(30))
            .run(async |s| {
                let (token, l) = (s.token().clone(), log.clone());
                s.spawn(async move {
                    token.cancelled().await;
                    if token.reason() == Some(&CancelReason::Deadline) {
                        l.push("cleanup after deadline");
                    }
                    yield_now().await;
                    l.push("cleanup finished");
                    ok()
                });
                ok()
            })
            .await;
        assert!(r.as_ref().is_err_and(|e| e.is_elapsed()), "expected an elapsed outcome, saw {r:?}");
        assert_eq!(log.events(), ["cleanup after deadline", "cleanup finished"], "events in `log`, in order");
    }));
}

/// C8: a shielded child is not cancelled with its scope: the scope waits for it.
pub fn c8_shielded_child_survives_scope_cancel(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let log = Log::new();
        let r = builder(h)
            .run(async |s| {
                let gate = Gate::new();
                let (g, l) = (gate.clone(), log.clone());
                s.spawn_shielded(async move {
                    g.wait().await; // opened after the cancel below
                    let token = current_token().expect("inside a scope");
                    l.push(if token.is_cancelled() { "shield saw the cancel" } else { "shield finished" });
                    ok()
                });
                s.cancel();
                gate.open();
                ok()
            })
            .await;
        assert!(r.as_ref().is_err_and(|e| e.is_cancelled()), "expected a cancelled outcome, saw {r:?}");
        assert_eq!(log.events(), ["shield finished"], "events in `log`, in order");
    }));
}

/// C8: shielding also holds against the scope's deadline and a sibling's failure; the
/// shielded child's value is kept.
pub fn c8_shield_holds_against_deadline_and_failure(h: &dyn Harness) {
    let rt = h.runtime();
    h.block_on(Box::pin(async move {
        let r = builder(h)
            .timeout(Duration::from_millis(5))
            .run(async |s| {
                let rt = rt.clone();
                let shielded = s.spawn_shielded(async move {
                    sleep(&rt, Duration::from_millis(30)).await; // outlives the deadline
                    Ok::<_, BoxError>("flushed")
                });
                Ok(shielded)
            })
            .await;
        let e = r.unwrap_err();
        assert!(e.is_elapsed(), "{e:?}");
        let handle = Arc::new(Mutex::new(None));
        let failed = builder(h)
            .run(async |s| {
                // The shielded child wakes on the scope's token, i.e. while its siblings are
                // being dropped for the failure below; it must not be dropped with them.
                let token = s.token().clone();
                *handle.lock().unwrap() = Some(s.spawn_shielded(async move {
                    token.cancelled().await;
                    yield_now().await;
                    Ok::<_, BoxError>(1)
                }));
                s.spawn(async { Err::<u32, _>(err("boom")) });
                ok()
            })
            .await;
        assert!(matches!(failed, Err(ScopeError::Failed(_))), "{failed:?}");
        let shielded = handle.lock().unwrap().take().unwrap();
        assert_eq!(shielded.result().unwrap(), 1, "value of child `shielded`");
    }));
}

/// C8: a shielded child's value is kept even though its scope was cancelled meanwhile.
pub fn c8_shielded_value_is_kept(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let handle = Arc::new(Mutex::new(None));
        let r = builder(h)
            .run(async |s| {
                let gate = Gate::new();
                let g = gate.clone();
                *handle.lock().unwrap() = Some(s.spawn_shielded(async move {
                    g.wait().await;
                    Ok::<_, BoxError>(42)
                }));
                s.cancel();
                gate.open();
                ok()
            })
            .await;
        assert!(r.as_ref().is_err_and(|e| e.is_cancelled()), "expected a cancelled outcome, saw {r:?}");
        let h = handle.lock().unwrap().take().unwrap();
        assert_eq!(h.result().unwrap(), 42, "value of child `h`");
    }));
}

/// C8: a shielded child's own deadline still applies.
pub fn c8_shielded_own_deadline_applies(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let got = Arc::new(Mutex::new(None));
        let r = builder(h)
            .run(async |s| {
                let got = got.clone();
                s.spawn_shielded(async move {
                    let r = fail_after(Duration::from_millis(5), forever()).await;
                    *got.lock().unwrap() = Some(r);
                    ok()
                });
                s.cancel();
                ok()
            })
            .await;
        assert!(r.as_ref().is_err_and(|e| e.is_cancelled()), "expected a cancelled outcome, saw {r:?}");
        assert_eq!(*got.lock().unwrap(), Some(Err(Elapsed::default())), "what was recorded in `got`");
    }));
}

/// C8: cleanup spawned shielded from a cancelled child's destructor runs to completion, and
/// the scope waits for it.
pub fn c8_shielded_cleanup_spawned_from_destructor(h: &dyn Harness) {
    struct Flush(Spawner<BoxError>, Log);
    impl Drop for Flush {
        fn drop(&mut self) {
            let l = self.1.clone();
            self.0.spawn_shielded(async move {
                yield_now().await;
                l.push("flushed");
                ok()
            });
        }
    }
    h.block_on(Box::pin(async move {
        let log = Log::new();
        let r = builder(h)
            .run(async |s| {
                let flush = Flush(s.spawner(), log.clone());
                s.spawn(async move {
                    let _flush = flush;
                    forever().await;
                    ok()
                });
                yield_now().await;
                s.cancel();
                ok()
            })
            .await;
        assert!(r.as_ref().is_err_and(|e| e.is_cancelled()), "expected a cancelled outcome, saw {r:?}");
        assert_eq!(log.events(), ["flushed"], "events in `log`, in order");
    }));
}

/// C8: scopes opened inside a shielded child do not see the outer cancellation.
pub fn c8_nested_scope_in_shield_not_cancelled(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let got = Arc::new(Mutex::new(None));
        let r = builder(h)
            .run(async |s| {
                let (gate, got) = (Gate::new(), got.clone());
                let g = gate.clone();
                s.spawn_shielded(async move {
                    let r = Builder::typed()
                        .run(async |inner| {
                            let h = inner.spawn(async move {
                                g.wait().await;
                                Ok::<_, BoxError>(9)
                            });
                            Ok(h.await?)
                        })
                        .await;
                    *got.lock().unwrap() = Some(r.map_err(|e| e.to_string()));
                    ok()
                });
                s.cancel();
                gate.open();
                ok()
            })
            .await;
        assert!(r.as_ref().is_err_and(|e| e.is_cancelled()), "expected a cancelled outcome, saw {r:?}");
        assert_eq!(*got.lock().unwrap(), Some(Ok(9)), "what was recorded in `got`");
    }));
}

/// C8 with C3: dropping the scope future drops shielded children too (nothing is left to
/// wait for them), promptly.
pub fn c8_owner_drop_still_drops_shielded(h: &dyn Harness) {
    let rt = h.runtime();
    h.block_on(Box::pin(async move {
        let t = Tracker::new();
        let started = Gate::new();
        {
            let fut = builder(h).run(async |s| {
                s.spawn_shielded(guarded_forever(t.guard()));
                started.open();
                forever().await;
                ok()
            });
            let mut fut = Box::pin(fut);
            let _ = futures_lite::future::poll_once(&mut fut).await;
            started.wait().await;
        }
        eventually(&rt, "the shielded child is dropped", || t.live() == 0).await;
    }));
}

/// C8: a shielded child can still be cancelled through its own handle.
pub fn c8_handle_cancel_reaches_shielded_child(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let t = Tracker::new();
        let r = builder(h)
            .run(async |s| {
                let h = s.spawn_shielded(guarded_forever(t.guard()));
                yield_now().await;
                h.cancel();
                Ok::<_, BoxError>(h)
            })
            .await;
        let h = r.unwrap();
        let outcome = h.result();
        assert!(
            outcome.as_ref().is_err_and(|e| e.is_cancelled()),
            "the child's outcome: expected cancelled, saw {outcome:?}"
        );
        assert_eq!(t.live(), 0, "live child futures (guards not yet dropped)");
    }));
}

/// T3: children read the deadline reason through their token.
pub fn t3_children_read_deadline_reason(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let r = builder(h)
            .timeout(Duration::from_millis(5))
            .grace(Duration::from_secs(30))
            .run(async |s| {
                for _ in 0..2 {
                    let seen = seen.clone();
                    s.spawn(async move {
                        let token = current_token().expect("inside a scope");
                        token.cancelled().await;
                        seen.lock().unwrap().push(token.reason().cloned());
                        ok()
                    });
                }
                ok()
            })
            .await;
        assert!(r.as_ref().is_err_and(|e| e.is_elapsed()), "expected an elapsed outcome, saw {r:?}");
        assert_eq!(
            *seen.lock().unwrap(),
            [Some(CancelReason::Deadline), Some(CancelReason::Deadline)],
            "what was recorded in `seen`"
        );
    }));
}

/// T3: the explicit reason carries the caller's message; a later cause does not replace it.
pub fn t3_explicit_message_first_cause_wins(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let seen = Arc::new(Mutex::new(None));
        let r = builder(h)
            .timeout(Duration::from_millis(5))
            .grace(Duration::from_secs(30))
            .run(async |s| {
                let seen = seen.clone();
                let token = s.token().clone();
                s.spawn(async move {
                    token.cancelled().await;
                    *seen.lock().unwrap() = token.reason().cloned();
                    Err::<(), _>(err("late failure"))
                });
                s.cancel_with(CancelReason::Explicit("shutting down".into()));
                ok()
            })
            .await;
        let (reason, errors) = match r {
            Err(ScopeError::Cancelled { reason, errors }) => (reason, errors),
            other => panic!("expected cancelled, got {other:?}"),
        };
        assert_eq!(reason, CancelReason::Explicit("shutting down".into()), "cancel reason the child read");
        assert_eq!(reason.to_string(), "cancelled: shutting down", "displayed text of `reason`");
        assert_eq!(errors.map(|g| g.len()), Some(1), "value of `errors.map(|g| g.len())`");
        assert_eq!(
            *seen.lock().unwrap(),
            Some(CancelReason::Explicit("shutting down".into())),
            "what was recorded in `seen`"
        );
    }));
}

/// T3: a grandchild of a cancelled scope reads the chain of reasons, rooted at the cause.
pub fn t3_parent_reason_chain(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let outer = CancelToken::new();
        let seen = Arc::new(Mutex::new(None));
        let o = outer.clone();
        let r = builder(h)
            .parent(&outer)
            .grace(Duration::from_secs(30))
            .run(async |s| {
                let (seen, waiting) = (seen.clone(), Gate::new());
                let w = waiting.clone();
                s.spawn(async move {
                    Builder::typed()
                        .grace(Duration::from_secs(30))
                        .run(async |inner| {
                            let (seen, w) = (seen.clone(), w.clone());
                            inner.spawn(async move {
                                let token = current_token().expect("inside a scope");
                                w.open();
                                token.cancelled().await;
                                *seen.lock().unwrap() = token.reason().cloned();
                                ok()
                            });
                            ok()
                        })
                        .await?;
                    ok()
                });
                waiting.wait().await;
                o.cancel_with(CancelReason::Explicit("operator".into()));
                ok()
            })
            .await;
        assert!(r.as_ref().is_err_and(|e| e.is_cancelled()), "expected a cancelled outcome, saw {r:?}");
        let reason = seen.lock().unwrap().take().expect("the grandchild saw the cancel");
        assert!(matches!(&reason, CancelReason::Parent(p) if matches!(&**p, CancelReason::Parent(_))), "{reason:?}");
        assert_eq!(
            reason.root(),
            &CancelReason::Explicit("operator".into()),
            "root cause of the cancel reason `reason`"
        );
    }));
}

/// F2: a nested scope cancelled by its parent and propagated with `?` is a cancellation, not a
/// member of the outer group.
pub fn f2_nested_cancellation_is_not_a_member(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let r = builder(h)
            .grace(Duration::from_secs(30))
            .run(async |s| {
                let started = Gate::new();
                let st = started.clone();
                s.spawn_named("worker", async move {
                    Builder::typed()
                        .grace(Duration::from_secs(30))
                        .run(async |inner| {
                            let token = inner.token().clone();
                            inner.spawn(async move {
                                token.cancelled().await;
                                ok()
                            });
                            st.open();
                            ok()
                        })
                        .await?; // Err(Cancelled { Parent(..) }) once the sibling fails
                    ok()
                });
                started.wait().await;
                s.spawn_named("broken", async { Err::<(), _>(err("boom")) });
                ok()
            })
            .await;
        match r {
            Err(ScopeError::Failed(g)) => {
                assert_eq!(g.to_string(), "1 error in scope\n  1. [broken] boom", "displayed text of `g`")
            }
            other => panic!("expected a group of one, got {other:?}"),
        }
    }));
}

/// C7: the "elapsed" outcome is distinct from the other cancellations (C5), and its message
/// says so.
pub fn c7_elapsed_is_a_distinct_outcome(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let r = builder(h).timeout(Duration::ZERO).run(async |_s| Ok::<_, BoxError>(1)).await;
        let err = r.unwrap_err();
        assert!(
            err.is_elapsed() && err.is_cancelled(),
            "a zero timeout: expected an elapsed cancellation, saw {err:?}"
        );
        assert_eq!(err.to_string(), "scope cancelled (deadline elapsed)", "displayed text of `err`");
        assert_eq!(Elapsed::default().to_string(), "deadline elapsed", "value of `Elapsed::default().to_string()`");
    }));
}

/// C7: "elapsed" only when the deadline cancelled the future. A future that returns its
/// output in the poll during which its deadline passes (here the clock jumps an hour past it
/// while the future runs) was never cancelled: `fail_after` gives the output, `move_on_after`
/// gives `Some`.
pub fn c7_an_output_returned_as_the_deadline_passes_is_the_output(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let skewed = Skewed::new(h);
        let rt: Arc<dyn Runtime> = skewed.clone();
        let (failed, moved) = Builder::typed()
            .runtime(rt)
            .run(async |_s| {
                let failed = fail_after(Duration::from_secs(60), async {
                    skewed.jump(Duration::from_secs(3600));
                    1
                })
                .await;
                let moved = move_on_after(Duration::from_secs(60), async {
                    skewed.jump(Duration::from_secs(3600));
                    2
                })
                .await;
                Ok::<_, BoxError>((failed, moved))
            })
            .await
            .unwrap_or_else(|e| panic!("the enclosing scope failed: {e}"));
        assert_eq!(failed, Ok(1), "outcome of `fail_after` whose future returned as the deadline passed");
        assert_eq!(moved, Some(2), "outcome of `move_on_after` whose future returned as the deadline passed");
        assert_eq!(skewed.skew(), Duration::from_secs(7200), "both futures ran");
    }));
}

/// C7: a scope whose body returns its value in the poll during which the scope's deadline
/// passes (the clock jumps an hour past it while the body runs), with no child left, gives
/// its value: the deadline cancelled nothing.
pub fn c7_a_scope_whose_body_returns_as_its_deadline_passes_gives_its_value(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let skewed = Skewed::new(h);
        let rt: Arc<dyn Runtime> = skewed.clone();
        let r = Builder::typed()
            .runtime(rt)
            .timeout(Duration::from_secs(60))
            .run(async |_s| {
                skewed.jump(Duration::from_secs(3600));
                Ok::<_, BoxError>(1)
            })
            .await;
        assert_eq!(r.ok(), Some(1), "outcome of a scope whose body returned as its deadline passed");
    }));
}
