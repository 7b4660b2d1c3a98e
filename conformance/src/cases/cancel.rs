//! C — cancellation.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use taskscope_core::{BoxError, CancelReason, CancelToken, ChildState, JoinError, ScopeError};

use crate::Harness;
use crate::support::*;

/// C1: cancelling fires the token first (children can observe it), then drops every child.
pub fn c1_token_fires_before_children_dropped(h: &dyn Harness) {
    struct Check(CancelToken, Arc<AtomicUsize>);
    impl Drop for Check {
        fn drop(&mut self) {
            if self.0.is_cancelled() {
                self.1.fetch_add(1, Ordering::SeqCst);
            }
        }
    }
    h.block_on(Box::pin(async move {
        let saw_token = Arc::new(AtomicUsize::new(0));
        let t = Tracker::new();
        let r = builder(h)
            .run(async |s| {
                for _ in 0..4 {
                    let (c, g) = (Check(s.token().clone(), saw_token.clone()), t.guard());
                    s.spawn(async move {
                        let (_c, _g) = (c, g);
                        forever().await;
                        ok()
                    });
                }
                yield_now().await;
                s.cancel();
                Ok::<_, BoxError>(())
            })
            .await;
        assert!(r.as_ref().is_err_and(|e| e.is_cancelled()), "expected a cancelled outcome, saw {r:?}");
        assert_eq!(t.live(), 0, "live child futures (guards not yet dropped)");
        assert_eq!(saw_token.load(Ordering::SeqCst), 4, "a child was dropped before the token fired");
    }));
}

/// C1: cancellation takes effect at the child's next suspension point: a running poll is
/// never interrupted (the code after `cancel()` in the same poll runs), the code after the
/// next `.await` never does.
pub fn c1_cancel_takes_effect_at_next_suspension(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let steps = Arc::new(std::sync::Mutex::new(Vec::new()));
        let r = builder(h)
            .run(async |s| {
                let (st, sp) = (steps.clone(), s.spawner());
                s.spawn(async move {
                    st.lock().unwrap().push("before cancel");
                    sp.cancel();
                    st.lock().unwrap().push("same poll, after cancel");
                    yield_now().await; // the child is dropped here
                    st.lock().unwrap().push("after the suspension point");
                    ok()
                });
                Ok::<_, BoxError>(())
            })
            .await;
        assert!(r.as_ref().is_err_and(|e| e.is_cancelled()), "expected a cancelled outcome, saw {r:?}");
        assert_eq!(
            *steps.lock().unwrap(),
            ["before cancel", "same poll, after cancel"],
            "what was recorded in `steps`"
        );
    }));
}

/// C2: with a grace period, children see the token and may finish async cleanup.
pub fn c2_grace_period_allows_async_cleanup(h: &dyn Harness) {
    let rt = h.runtime();
    h.block_on(Box::pin(async move {
        let cleaned = Arc::new(AtomicUsize::new(0));
        let r = builder(h)
            .grace(Duration::from_secs(30))
            .run(async |s| {
                let (token, c, rt) = (s.token().clone(), cleaned.clone(), rt.clone());
                s.spawn(async move {
                    token.cancelled().await;
                    sleep(&rt, Duration::from_millis(5)).await; // async cleanup
                    c.fetch_add(1, Ordering::SeqCst);
                    ok()
                });
                yield_now().await;
                s.cancel();
                Ok::<_, BoxError>(())
            })
            .await;
        assert!(r.as_ref().is_err_and(|e| e.is_cancelled()), "expected a cancelled outcome, saw {r:?}");
        assert_eq!(cleaned.load(Ordering::SeqCst), 1, "value of `cleaned`");
    }));
}

/// C2: a child that ignores cancellation cannot hang the scope past its grace period.
pub fn c2_grace_expiry_drops_stubborn_children(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let t = Tracker::new();
        let r = builder(h)
            .grace(Duration::from_millis(20))
            .run(async |s| {
                let g = t.guard();
                s.spawn(async move {
                    let _g = g;
                    forever().await; // ignores the token
                    ok()
                });
                yield_now().await;
                s.cancel();
                Ok::<_, BoxError>(())
            })
            .await;
        assert!(r.as_ref().is_err_and(|e| e.is_cancelled()), "expected a cancelled outcome, saw {r:?}");
        assert_eq!(t.live(), 0, "live child futures (guards not yet dropped)");
    }));
}

/// C3, C8: an owner dropping a scope that had already cancelled (its abort done, a shielded child
/// still running, which the scope was waiting for) drops that child too: nothing is left to wait
/// for it.
pub fn c3_dropping_a_cancelled_scope_drops_its_shielded_child(h: &dyn Harness) {
    let rt = h.runtime();
    h.block_on(Box::pin(async move {
        let t = Tracker::new();
        let started = Gate::new();
        {
            let (g, st) = (t.guard(), started.clone());
            let scope = builder(h).run(async |s| {
                s.spawn_shielded(async move {
                    let _g = g;
                    st.open();
                    forever().await;
                    ok()
                });
                // Aborts the scope now (no grace period); the shielded child keeps running.
                s.cancel();
                ok()
            });
            // Run the scope until its shielded child has started, then drop it.
            futures_lite::future::or(async { drop(scope.await) }, started.wait()).await;
        }
        eventually(&rt, "the shielded child to be dropped", || t.live() == 0).await;
        assert_eq!(t.dropped(), 1, "the shielded child's future was dropped once");
    }));
}

/// C3: when the owner drops the scope future, every child is cancelled (dropped promptly), none
/// detached, none polled again.
pub fn c3_dropped_scope_cancels_children(h: &dyn Harness) {
    let rt = h.runtime();
    h.block_on(Box::pin(async move {
        let t = Tracker::new();
        let polls_after_drop = Arc::new(AtomicUsize::new(0));
        let dropped_flag = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let started = Arc::new(AtomicUsize::new(0));
        {
            let fut = builder(h).run(async |s| {
                for _ in 0..8 {
                    let (g, p, d, st, rt) =
                        (t.guard(), polls_after_drop.clone(), dropped_flag.clone(), started.clone(), rt.clone());
                    s.spawn(async move {
                        let _g = g;
                        st.fetch_add(1, Ordering::SeqCst);
                        loop {
                            sleep(&rt, Duration::from_millis(1)).await;
                            if d.load(Ordering::SeqCst) {
                                p.fetch_add(1, Ordering::SeqCst);
                            }
                        }
                        #[allow(unreachable_code)]
                        ok()
                    });
                }
                forever().await;
                Ok::<_, BoxError>(())
            });
            let mut fut = Box::pin(fut);
            // Drive the scope until every child has started, then drop it.
            let st = started.clone();
            futures_lite::future::poll_fn(|cx| {
                let _ = fut.as_mut().poll(cx);
                if st.load(Ordering::SeqCst) == 8 {
                    std::task::Poll::Ready(())
                } else {
                    cx.waker().wake_by_ref();
                    std::task::Poll::Pending
                }
            })
            .await;
            drop(fut);
            dropped_flag.store(true, Ordering::SeqCst);
        }
        let live = t.clone();
        eventually(&rt, "every child dropped after the scope was", move || live.live() == 0).await;
        // A poll already running when the drop returned may finish (C3); there were at most 8.
        let late_polls = polls_after_drop.load(Ordering::SeqCst);
        assert!(
            late_polls <= 8,
            "children polled after the drop returned: {late_polls}, expected at most 8 (one running poll each)"
        );
        let before = polls_after_drop.load(Ordering::SeqCst);
        sleep(&rt, Duration::from_millis(20)).await;
        assert_eq!(polls_after_drop.load(Ordering::SeqCst), before, "a child kept running: detached");
    }));
}

/// C4: cancelling is idempotent; the first reason stands; cancelling a finished child does
/// nothing.
pub fn c4_cancel_is_idempotent_first_reason_wins(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let mut done = None;
        let r = builder(h)
            .run(async |s| {
                let finished = s.spawn(async { Ok::<_, BoxError>(1) });
                while !finished.is_finished() {
                    yield_now().await;
                }
                finished.cancel();
                assert_eq!(finished.state(), ChildState::Finished, "state reported by handle `finished`");
                done = Some(finished);
                s.cancel_with(CancelReason::Explicit("first".into()));
                s.cancel_with(CancelReason::Explicit("second".into()));
                s.cancel();
                Ok::<_, BoxError>(())
            })
            .await;
        match r {
            Err(ScopeError::Cancelled { reason, errors: None }) => {
                assert_eq!(reason, CancelReason::Explicit("first".into()), "cancel reason the child read")
            }
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(done.unwrap().result().unwrap(), 1, "value of `done.unwrap().result().unwrap()`");
    }));
}

/// C5: the owner tells success, failure and cancellation apart.
pub fn c5_three_outcomes_are_distinct(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let ok = builder(h).run(async |_s| Ok::<_, BoxError>(5)).await;
        assert_eq!(ok.unwrap(), 5, "value of `ok`");
        let failed: Result<(), _> = builder(h)
            .run(async |s| {
                s.spawn(async { Err::<(), _>(err("x")) });
                Ok(())
            })
            .await;
        assert!(
            matches!(failed, Err(ScopeError::Failed(_))),
            "expected `failed` to match `Err(ScopeError::Failed(_))`, saw {failed:?}"
        );
        let cancelled: Result<(), ScopeError<BoxError>> = builder(h)
            .run(async |s| {
                s.cancel();
                Ok(())
            })
            .await;
        assert!(
            matches!(cancelled, Err(ScopeError::Cancelled { errors: None, .. })),
            "expected `cancelled` to match `Err(ScopeError::Cancelled {{ errors: None, .. }})`, saw {cancelled:?}"
        );
    }));
}

/// C5: cancelled from outside (a parent token) with no failures gives one bare "cancelled".
pub fn c5_outside_cancel_is_bare_cancelled(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let outer = CancelToken::new();
        let r: Result<(), ScopeError<BoxError>> = builder(h)
            .parent(&outer)
            .run(async |s| {
                s.spawn(async {
                    forever().await;
                    ok()
                });
                outer.cancel_with(CancelReason::Explicit("shutdown".into()));
                Ok(())
            })
            .await;
        match r {
            Err(ScopeError::Cancelled { reason: CancelReason::Parent(p), errors: None }) => {
                assert_eq!(*p, CancelReason::Explicit("shutdown".into()), "value of `*p`")
            }
            other => panic!("unexpected {other:?}"),
        }
    }));
}

/// C5: cancelled with errors during the grace: the reason and the errors.
pub fn c5_cancelled_keeps_grace_errors(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let r: Result<(), ScopeError<BoxError>> = builder(h)
            .grace(Duration::from_secs(30))
            .run(async |s| {
                let token = s.token().clone();
                s.spawn_named("cleanup", async move {
                    token.cancelled().await;
                    Err::<(), _>(err("cleanup failed"))
                });
                yield_now().await;
                s.cancel();
                Ok(())
            })
            .await;
        match r {
            Err(ScopeError::Cancelled { reason: CancelReason::Explicit(_), errors: Some(g) }) => {
                assert_eq!(g.members()[0].name(), Some("cleanup"), "child name of member 0 of group `g`")
            }
            other => panic!("unexpected {other:?}"),
        }
    }));
}

/// C6: cancelling the outer scope reaches every grandchild, including a nested scope that is
/// already waiting for its children; the inner token's reason names the parent.
pub fn c6_outer_cancel_reaches_grandchildren(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let t = Tracker::new();
        let inner_waiting = Gate::new();
        let inner_reason = Arc::new(Mutex::new(None));
        let r = builder(h)
            .grace(Duration::from_secs(30))
            .run(async |s| {
                let (t2, gate, ir) = (t.clone(), inner_waiting.clone(), inner_reason.clone());
                s.spawn(async move {
                    Builder::typed()
                        .grace(Duration::from_secs(30))
                        .run(async |inner| {
                            let (g, token, ir) = (t2.guard(), inner.token().clone(), ir.clone());
                            inner.spawn(async move {
                                let _g = g;
                                token.cancelled().await;
                                *ir.lock().unwrap() = token.reason().cloned();
                                ok()
                            });
                            gate.open();
                            Ok(())
                        })
                        .await?;
                    ok()
                });
                inner_waiting.wait().await;
                s.cancel_with(CancelReason::Explicit("outer".into()));
                Ok::<_, BoxError>(())
            })
            .await;
        assert!(r.as_ref().is_err_and(|e| e.is_cancelled()), "expected a cancelled outcome, saw {r:?}");
        assert_eq!(t.live(), 0, "live child futures (guards not yet dropped)");
        let reason = inner_reason.lock().unwrap().clone().expect("the grandchild never saw the token");
        assert_eq!(reason.root(), &CancelReason::Explicit("outer".into()), "root cause of the cancel reason `reason`");
        assert!(
            matches!(reason, CancelReason::Parent(_)),
            "expected `reason` to match `CancelReason::Parent(_)`, saw {reason:?}"
        );
    }));
}

/// C6: an inner scope's failure is the error of the child that awaited it.
pub fn c6_inner_failure_is_childs_error(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let r: Result<(), _> = builder(h)
            .run(async |s| {
                s.spawn_named("worker", async {
                    Builder::typed()
                        .run(async |inner| {
                            inner.spawn(async { Err::<(), BoxError>(err("deep")) });
                            Ok(())
                        })
                        .await?;
                    ok()
                });
                Ok(())
            })
            .await;
        let Err(ScopeError::Failed(g)) = r else { panic!("expected a failed scope, got {r:?}") };
        assert_eq!(g.members()[0].name(), Some("worker"), "child name of member 0 of group `g`");
        let cause = g.cause().to_string();
        assert!(cause.contains("deep"), "the group's cause is {cause:?}, expected the innermost error (\"deep\")");
    }));
}

/// C7: a scope timeout cancels with reason Deadline, after teardown.
pub fn c7_timeout_cancels_with_deadline_reason(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let t = Tracker::new();
        let r: Result<(), ScopeError<BoxError>> = builder(h)
            .timeout(Duration::from_millis(20))
            .run(async |s| {
                let g = t.guard();
                s.spawn(async move {
                    let _g = g;
                    forever().await;
                    ok()
                });
                Ok(())
            })
            .await;
        assert!(matches!(r, Err(ScopeError::Cancelled { reason: CancelReason::Deadline, errors: None })), "expected `r` to match `Err(ScopeError::Cancelled {{ reason: CancelReason::Deadline, errors: None }})`, saw {r:?}");
        assert_eq!(t.live(), 0, "live child futures (guards not yet dropped)");
    }));
}

/// C7: a deadline already past cancels at once; `Duration::MAX` means none (no overflow).
pub fn c7_past_deadline_and_duration_max(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let past: Result<(), ScopeError<BoxError>> = builder(h)
            .deadline(Instant::now() - Duration::from_millis(1))
            .run(async |s| {
                s.spawn(async {
                    forever().await;
                    ok()
                });
                Ok(())
            })
            .await;
        assert!(matches!(past, Err(ScopeError::Cancelled { reason: CancelReason::Deadline, .. })), "expected `past` to match `Err(ScopeError::Cancelled {{ reason: CancelReason::Deadline, .. }})`, saw {past:?}");
        let none = builder(h).timeout(Duration::MAX).run(async |_s| Ok::<_, BoxError>(1)).await;
        assert_eq!(none.unwrap(), 1, "value of `none`");
    }));
}

/// C9: cancelling one child through its handle cancels only that child; it is not a failure.
pub fn c9_cancel_one_child_only(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let t = Tracker::new();
        let mut handles = None;
        let r = builder(h)
            .run(async |s| {
                let g = t.guard();
                let victim = s.spawn_named("victim", async move {
                    let _g = g;
                    forever().await;
                    Ok::<_, BoxError>(0)
                });
                let survivor = s.spawn(async {
                    yield_now().await;
                    Ok::<_, BoxError>(2)
                });
                victim.cancel();
                handles = Some((victim, survivor));
                Ok::<_, BoxError>(1)
            })
            .await;
        assert_eq!(r.unwrap(), 1, "cancelling one child failed the scope");
        let (victim, survivor) = handles.unwrap();
        assert_eq!(victim.state(), ChildState::Cancelled, "state reported by handle `victim`");
        let got = victim.result();
        assert!(matches!(&got, Err(JoinError::Cancelled { name: Some(n) }) if n == "victim"), "{got:?}");
        assert_eq!(survivor.result().unwrap(), 2, "value of child `survivor`");
        assert_eq!(t.live(), 0, "live child futures (guards not yet dropped)");
    }));
}

/// C9: a handle reports the real terminal state of each child.
pub fn c9_handles_report_terminal_states(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let mut hs = None;
        let fut = builder(h).grace(Duration::from_secs(30)).run(async |s| {
            let may_fail = Gate::new();
            let fin = s.spawn(async { Ok::<_, BoxError>(()) });
            let cancelled = s.spawn(async {
                forever().await;
                ok()
            });
            let g = may_fail.clone();
            let failed = s.spawn(async move {
                g.wait().await;
                Err::<(), _>(err("e"))
            });
            cancelled.cancel();
            while !fin.is_finished() || !cancelled.is_finished() {
                yield_now().await;
            }
            hs = Some((fin, failed, cancelled));
            may_fail.open();
            Ok(())
        });
        let r = fut.await;
        assert!(
            matches!(r, Err(ScopeError::Failed(_))),
            "expected `r` to match `Err(ScopeError::Failed(_))`, saw {r:?}"
        );
        let (fin, failed, cancelled) = hs.unwrap();
        assert_eq!(fin.state(), ChildState::Finished, "state reported by handle `fin`");
        assert_eq!(failed.state(), ChildState::Failed, "state reported by handle `failed`");
        assert_eq!(cancelled.state(), ChildState::Cancelled, "state reported by handle `cancelled`");
        let mut panicked = None;
        let fut = builder(h).run(async |s| {
            panicked = Some(s.spawn(async {
                panic!("p");
                #[allow(unreachable_code)]
                ok()
            }));
            Ok::<_, BoxError>(())
        });
        let caught = futures_lite::future::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(fut)).await;
        assert!(caught.is_err(), "expected a panic, saw none");
        assert_eq!(
            panicked.unwrap().state(),
            ChildState::Panicked,
            "state reported by the handle (`panicked.unwrap()`)"
        );
    }));
}
