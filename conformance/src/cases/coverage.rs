//! More cases per rule: each rule from the angles the first cases and the ported ones leave
//! open (escaped spawners, wide scopes, panics racing errors, destructor panics, grace-period
//! edges, per-child cancellation, token helpers, ambient context).

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use taskscope_core::{BoxError, CancelReason, CancelToken, ChildState, ErrorGroup, JoinError, ScopeError};

use crate::Harness;
use crate::support::*;

const LONG: Duration = Duration::from_secs(30);

#[derive(Debug)]
struct Leaf;

impl std::fmt::Display for Leaf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("leaf")
    }
}

impl std::error::Error for Leaf {}

/// Polls `fut` (a scope future) until `ready()` holds, then returns it still pending.
async fn drive_until<F: Future + Unpin>(fut: &mut F, ready: impl Fn() -> bool) {
    futures_lite::future::poll_fn(|cx| {
        let _ = Pin::new(&mut *fut).poll(cx);
        if ready() {
            Poll::Ready(())
        } else {
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    })
    .await;
}

/// S5: a spawner that a child smuggled out of the scope refuses spawns once the scope is over.
pub fn s5_a_spawner_escaped_through_a_child_is_closed(h: &dyn Harness) {
    type TrySpawn = Box<dyn Fn() -> ChildState + Send>;
    h.block_on(Box::pin(async move {
        let slot: Arc<Mutex<Option<TrySpawn>>> = Arc::default();
        builder(h)
            .run(async |s| {
                let (sp, slot) = (s.spawner(), slot.clone());
                s.spawn(async move {
                    let try_spawn: TrySpawn = Box::new(move || sp.spawn(async { ok() }).state());
                    *slot.lock().unwrap() = Some(try_spawn);
                    ok()
                });
                Ok::<_, BoxError>(())
            })
            .await
            .unwrap();
        let try_spawn = slot.lock().unwrap().take().expect("the child never ran");
        assert_eq!(try_spawn(), ChildState::Closed, "value of `try_spawn()`");
    }));
}

/// S6: one scope with 10,000 children waits for all of them and hands back every value.
pub fn s6_ten_thousand_children_in_one_scope(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let handles = builder(h)
            .run(async |s| {
                Ok::<_, BoxError>(
                    (0..10_000_u64).map(|i| s.spawn(async move { Ok::<_, BoxError>(i) })).collect::<Vec<_>>(),
                )
            })
            .await
            .unwrap();
        let sum: u64 = handles.into_iter().map(|hd| hd.result().unwrap()).sum();
        assert_eq!(sum, 10_000 * 9_999 / 2, "value of `sum`");
    }));
}

/// S1: the scope waits for a cancelled child's destructor to finish, however slow it is.
pub fn s1_the_scope_waits_for_a_slow_destructor(h: &dyn Harness) {
    struct SlowDrop(Arc<AtomicBool>);
    impl Drop for SlowDrop {
        fn drop(&mut self) {
            std::thread::sleep(Duration::from_millis(20));
            self.0.store(true, Ordering::SeqCst);
        }
    }
    h.block_on(Box::pin(async move {
        let dropped = Arc::new(AtomicBool::new(false));
        let blocked = Gate::new();
        let r: Result<(), _> = builder(h)
            .run(async |s| {
                let (slow, b) = (SlowDrop(dropped.clone()), blocked.clone());
                s.spawn(async move {
                    let _slow = slow;
                    b.open();
                    forever().await;
                    ok()
                });
                blocked.wait().await;
                Err(err("stop"))
            })
            .await;
        expect_failed(r);
        assert!(dropped.load(Ordering::SeqCst), "the scope returned before the destructor finished");
    }));
}

/// F3: a child's failure inside a nested scope is reported once: as the one member of the
/// outer group (nesting the inner group), not again through the child's handle.
pub fn f3_a_nested_failure_is_reported_once(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let handle_said = Arc::new(Mutex::new(None));
        let r: Result<(), _> = builder(h)
            .grace(LONG)
            .run(async |s| {
                let outer = s.spawn_named("outer-child", async {
                    Builder::typed()
                        .run(async |inner| {
                            inner.spawn_named("leaf", async { Err::<(), BoxError>(BoxError::new(Leaf)) });
                            Ok(())
                        })
                        .await?;
                    ok()
                });
                let got = outer.await;
                *handle_said.lock().unwrap() = Some(matches!(got, Err(JoinError::Failed { .. })));
                Ok(())
            })
            .await;
        let g = expect_failed(r);
        assert_eq!(g.len(), 1, "{g}");
        assert_eq!(g.members()[0].name(), Some("outer-child"), "child name of member 0 of group `g`");
        assert_eq!(*handle_said.lock().unwrap(), Some(true), "the handle did not say failed");
        let (leaves, rest) = g.split_type::<Leaf>();
        assert!(rest.is_none(), "the rest of the split: expected nothing left, saw {rest:?}");
        assert_eq!(leaves.unwrap().len(), 1, "the leaf error was reported more than once");
    }));
}

/// F4: the body's value is dropped, not returned, when a child fails after the body returned.
pub fn f4_the_body_value_is_dropped_when_a_child_fails(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let t = Tracker::new();
        let r = builder(h)
            .run(async |s| {
                let may_fail = Gate::new();
                let g = may_fail.clone();
                s.spawn(async move {
                    g.wait().await;
                    Err::<(), _>(err("late"))
                });
                may_fail.open();
                Ok(t.guard())
            })
            .await;
        assert_eq!(
            messages(&expect_failed(r)),
            ["late"],
            "messages of the failed scope's group members, in completion order"
        );
        assert_eq!(t.live(), 0, "the body's value was kept");
    }));
}

/// F5: when several children panic, the first panic resumes in the owner; later ones are
/// dropped.
pub fn f5_the_first_panic_wins(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let caught = catch_panic(builder(h).grace(LONG).run(async |s| {
            let token = s.token().clone();
            s.spawn_named("second", async move {
                token.cancelled().await;
                std::panic::panic_any(2_u32);
                #[allow(unreachable_code)]
                ok()
            });
            s.spawn_named("first", async {
                std::panic::panic_any(1_u32);
                #[allow(unreachable_code)]
                ok()
            });
            Ok::<_, BoxError>(())
        }))
        .await;
        let payload = caught.expect_err("no panic resumed");
        assert_eq!(payload.downcast_ref::<u32>(), Some(&1), "payload of the resumed panic");
    }));
}

/// F5: a panic resumes in the owner even when errors were collected before it.
pub fn f5_a_panic_after_an_error_still_resumes(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let caught = catch_panic(builder(h).grace(LONG).run(async |s| {
            let token = s.token().clone();
            s.spawn_named("panicker", async move {
                token.cancelled().await;
                std::panic::panic_any(9_u32);
                #[allow(unreachable_code)]
                ok()
            });
            s.spawn_named("failer", async { Err::<(), _>(err("first")) });
            Ok::<_, BoxError>(())
        }))
        .await;
        let payload = caught.expect_err("the panic was replaced by the error group");
        assert_eq!(payload.downcast_ref::<u32>(), Some(&9), "payload of the resumed panic");
    }));
}

/// F5: a panic in a nested scope's child resumes in the child that owns the nested scope,
/// which panics in turn, so the outer owner gets the original payload.
pub fn f5_a_panic_in_a_nested_scope_reaches_the_outer_owner(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let caught = catch_panic(builder(h).run(async |s| {
            s.spawn(async {
                Builder::typed()
                    .run(async |inner| {
                        inner.spawn(async {
                            std::panic::panic_any(99_u64);
                            #[allow(unreachable_code)]
                            ok()
                        });
                        Ok::<_, BoxError>(())
                    })
                    .await?;
                ok()
            });
            Ok::<_, BoxError>(())
        }))
        .await;
        let payload = caught.expect_err("the nested panic was lost");
        assert_eq!(payload.downcast_ref::<u64>(), Some(&99), "payload of the resumed panic");
    }));
}

/// F5 with C2: siblings finish their async cleanup (within the grace period) before the panic
/// resumes in the owner.
pub fn f5_siblings_finish_grace_cleanup_before_the_panic_resumes(h: &dyn Harness) {
    let rt = h.runtime();
    h.block_on(Box::pin(async move {
        let cleaned = Arc::new(AtomicBool::new(false));
        let caught = catch_panic(builder(h).grace(LONG).run(async |s| {
            let (token, c, rt) = (s.token().clone(), cleaned.clone(), rt.clone());
            s.spawn(async move {
                token.cancelled().await;
                sleep(&rt, Duration::from_millis(5)).await;
                c.store(true, Ordering::SeqCst);
                ok()
            });
            s.spawn(async {
                panic!("bomb");
                #[allow(unreachable_code)]
                ok()
            });
            Ok::<_, BoxError>(())
        }))
        .await;
        assert!(caught.is_err(), "the panic did not resume");
        assert!(cleaned.load(Ordering::SeqCst), "the panic resumed before the sibling's cleanup ended");
    }));
}

/// F6: the group is a usable error value: it iterates, maps (keeping names), converts into a
/// `BoxError` with `?`, and an error reporter walking the `source()` chain prints each member once.
pub fn f6_a_group_is_a_usable_error_value(h: &dyn Harness) {
    fn propagate(r: Result<(), ScopeError<BoxError>>) -> Result<(), BoxError> {
        r?;
        Ok(())
    }
    h.block_on(Box::pin(async move {
        let r: Result<(), _> = builder(h)
            .grace(LONG)
            .run(async |s| {
                let token = s.token().clone();
                s.spawn_named("b", async move {
                    token.cancelled().await;
                    Err::<(), _>(err("second"))
                });
                s.spawn_named("a", async { Err::<(), _>(err("first")) });
                Ok(())
            })
            .await;
        let boxed = propagate(r).unwrap_err();
        let scope_err = boxed.downcast_ref::<ScopeError<BoxError>>().expect("`?` lost the scope error");
        // An error reporter (anyhow, eyre) prints the error and then each `source()`: every
        // member must appear once in that report, not once per level of the chain.
        let mut report = scope_err.to_string();
        let mut source = std::error::Error::source(scope_err);
        while let Some(e) = source {
            report.push_str(&format!("\ncaused by: {e}"));
            source = e.source();
        }
        assert_eq!(report.matches("first").count(), 1, "a member printed more than once in the error chain:\n{report}");
        assert_eq!(report.matches("second").count(), 1, "a member missing or repeated in the error chain:\n{report}");
        let group = boxed.downcast::<ScopeError<BoxError>>().unwrap().into_errors().unwrap();
        assert_eq!((&group).into_iter().count(), 2, "value of `(&group).into_iter().count()`");
        let mapped: ErrorGroup<String> = group.map(|e| e.to_string());
        let members: Vec<_> =
            mapped.into_members().into_iter().map(|m| (m.name().map(str::to_string), m.into_error())).collect();
        assert_eq!(
            members,
            [(Some("a".into()), "first".to_string()), (Some("b".into()), "second".to_string())],
            "value of `members`"
        );
    }));
}

/// F6: the group's text counts and numbers every member, with child names where given.
pub fn f6_display_lists_every_member_with_its_name(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let r: Result<(), _> = builder(h)
            .grace(LONG)
            .run(async |s| {
                let token = s.token().clone();
                s.spawn_named("b", async move {
                    token.cancelled().await;
                    Err::<(), _>(err("second"))
                });
                s.spawn_named("a", async { Err::<(), _>(err("first")) });
                s.token().cancelled().await;
                Err(err("from the body"))
            })
            .await;
        let text = expect_failed(r).to_string();
        assert!(text.starts_with("3 errors in scope"), "{text}");
        for part in ["1. [a] first", "[b] second", "from the body"] {
            assert!(text.contains(part), "{part:?} missing from {text:?}");
        }
        assert!(text.contains("2.") && text.contains("3."), "{text}");
    }));
}

/// F7: a child future whose destructor panics after it completed is handled as a panic: it
/// resumes in the owner, the handle says "panicked".
pub fn f7_a_destructor_panic_after_completion_is_a_panic(h: &dyn Harness) {
    struct Finishes(#[allow(dead_code)] PanicOnDrop);
    impl Future for Finishes {
        type Output = Result<u8, BoxError>;
        fn poll(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Self::Output> {
            Poll::Ready(Ok(1))
        }
    }
    h.block_on(Box::pin(async move {
        let ran = Arc::new(AtomicBool::new(false));
        let mut handle = None;
        let caught = catch_panic(builder(h).run(async |s| {
            handle = Some(s.spawn(Finishes(PanicOnDrop(ran.clone(), "late destructor"))));
            Ok::<_, BoxError>(())
        }))
        .await;
        assert!(ran.load(Ordering::SeqCst), "`ran` was false, expected true");
        let payload = caught.expect_err("the destructor panic was lost");
        assert_eq!(taskscope_core::panic_message(&*payload), "late destructor", "message of the resumed panic");
        assert_eq!(handle.unwrap().state(), ChildState::Panicked, "state reported by the handle (`handle.unwrap()`)");
    }));
}

/// F7 with L4: a value a started child reported, left unread because its start call was
/// dropped, is dropped when the child ends; a panic in its destructor is the child's panic:
/// it resumes in the owner, and the scope still returns.
pub fn f7_an_unread_started_value_panicking_on_drop_is_a_panic(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let ran = Arc::new(AtomicBool::new(false));
        let bomb = PanicOnDrop(ran.clone(), "started value destructor");
        let caught = catch_panic(builder(h).run(async |s| {
            let sent = Gate::new();
            let g = sent.clone();
            let start = s.start(|ready| async move {
                ready.send(bomb);
                g.open();
                forever().await;
                ok()
            });
            sent.wait().await;
            drop(start); // cancels the child, which holds the unread value
            Ok::<_, BoxError>(())
        }))
        .await;
        assert!(ran.load(Ordering::SeqCst), "`ran` was false, expected true");
        let payload = caught.expect_err("the destructor panic was lost");
        assert_eq!(
            taskscope_core::panic_message(&*payload),
            "started value destructor",
            "message of the resumed panic"
        );
    }));
}

/// F7 with C3: when the owner drops the scope, a child whose destructor panics is still
/// dropped with the panic caught (nobody is left to resume it); the process survives and the
/// other children are dropped too.
pub fn f7_a_destructor_panic_after_the_owner_dropped_the_scope_is_contained(h: &dyn Harness) {
    let rt = h.runtime();
    h.block_on(Box::pin(async move {
        let ran = Arc::new(AtomicBool::new(false));
        let t = Tracker::new();
        let started = Counter::new();
        {
            let mut fut = Box::pin(builder(h).run(async |s| {
                let (bomb, st) = (PanicOnDrop(ran.clone(), "destructor panic"), started.clone());
                s.spawn(async move {
                    let _b = bomb;
                    st.incr();
                    forever().await;
                    ok()
                });
                let (g, st) = (t.guard(), started.clone());
                s.spawn(async move {
                    let _g = g;
                    st.incr();
                    forever().await;
                    ok()
                });
                forever().await;
                Ok::<_, BoxError>(())
            }));
            let st = started.clone();
            drive_until(&mut fut, move || st.get() == 2).await;
        }
        let (r, t2) = (ran.clone(), t.clone());
        eventually(&rt, "both children dropped", move || r.load(Ordering::SeqCst) && t2.live() == 0).await;
    }));
}

/// C2: with a long grace period, the scope returns as soon as the children's cleanup is done,
/// not at the end of the grace period.
pub fn c2_the_scope_returns_when_cleanup_ends_not_at_grace_end(h: &dyn Harness) {
    let rt = h.runtime();
    h.block_on(Box::pin(async move {
        let cleaned = Counter::new();
        let start = Instant::now();
        let r: Result<(), _> = builder(h)
            .grace(LONG)
            .run(async |s| {
                for _ in 0..3 {
                    let (token, c, rt) = (s.token().clone(), cleaned.clone(), rt.clone());
                    s.spawn(async move {
                        token.cancelled().await;
                        sleep(&rt, Duration::from_millis(2)).await;
                        c.incr();
                        ok()
                    });
                }
                s.cancel();
                Ok(())
            })
            .await;
        expect_cancelled(r);
        assert_eq!(cleaned.get(), 3, "count of `cleaned`");
        assert!(start.elapsed() < Duration::from_secs(10), "the scope waited out its grace period");
    }));
}

/// C2 with S4: during the grace period the scope is closed: a spawn is refused even though
/// children are still running their cleanup.
pub fn c2_no_spawn_is_accepted_during_the_grace(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let mut seen = None;
        let r: Result<(), _> = builder(h)
            .grace(LONG)
            .run(async |s| {
                let release = Gate::new();
                let (token, rel) = (s.token().clone(), release.clone());
                s.spawn(async move {
                    token.cancelled().await;
                    rel.wait().await; // still cleaning up
                    ok()
                });
                s.cancel();
                let refused = s.spawn(async { ok() });
                seen = Some((s.is_closed(), s.live_children(), refused.state()));
                release.open();
                Ok(())
            })
            .await;
        expect_cancelled(r);
        assert_eq!(seen, Some((true, 1, ChildState::Closed)), "what the child saw");
    }));
}

/// C3: dropping the scope future cancels the children of scopes nested in its children too;
/// they are dropped promptly.
pub fn c3_dropping_the_scope_drops_grandchildren_promptly(h: &dyn Harness) {
    let rt = h.runtime();
    h.block_on(Box::pin(async move {
        let t = Tracker::new();
        let started = Counter::new();
        {
            let mut fut = Box::pin(builder(h).run(async |s| {
                for _ in 0..2 {
                    let (t2, st) = (t.clone(), started.clone());
                    s.spawn(async move {
                        Builder::typed()
                            .run(async |inner| {
                                for _ in 0..2 {
                                    let (g, st) = (t2.guard(), st.clone());
                                    inner.spawn(async move {
                                        let _g = g;
                                        st.incr();
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
                forever().await;
                Ok::<_, BoxError>(())
            }));
            let st = started.clone();
            drive_until(&mut fut, move || st.get() == 4).await;
        }
        let t2 = t.clone();
        eventually(&rt, "every grandchild dropped after the scope was", move || t2.live() == 0).await;
        assert_eq!(t.dropped(), 4, "child futures dropped so far");
    }));
}

/// C3: a scope future dropped before its first poll runs nothing: no body, no child.
pub fn c3_a_scope_future_dropped_unpolled_runs_nothing(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let ran = AtomicBool::new(false);
        let fut = builder(h).run(async |s| {
            ran.store(true, Ordering::SeqCst);
            s.spawn(async { ok() });
            Ok::<_, BoxError>(())
        });
        drop(fut);
        yield_now().await;
        assert!(!ran.load(Ordering::SeqCst), "`ran` was true, expected false");
    }));
}

/// C4: cancelling a scope that has finished does nothing: no panic, and what it produced is
/// untouched.
pub fn c4_cancelling_a_finished_scope_does_nothing(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let (sp, child) = builder(h)
            .run(async |s| {
                let child = s.spawn(async { Ok::<_, BoxError>(3) });
                Ok::<_, BoxError>((s.spawner(), child))
            })
            .await
            .unwrap();
        sp.cancel();
        sp.cancel_with(CancelReason::Explicit("again".into()));
        assert!(sp.is_closed(), "`sp` is not closed, expected closed");
        assert_eq!(sp.live_children(), 0, "live children of the scope (`sp.live_children()`)");
        assert_eq!(child.state(), ChildState::Finished, "state reported by handle `child`");
        assert_eq!(child.result().unwrap(), 3, "value of child `child`");
    }));
}

/// C4: cancelling one child twice (and again once it is gone) is the same as once: it is
/// dropped once, reported cancelled, and the scope succeeds.
pub fn c4_cancelling_a_child_twice_is_the_same_as_once(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let t = Tracker::new();
        let r = builder(h)
            .run(async |s| {
                let victim = s.spawn(guarded_forever(t.guard()));
                victim.cancel();
                victim.cancel();
                while !victim.is_finished() {
                    yield_now().await;
                }
                victim.cancel();
                Ok::<_, BoxError>(victim.state())
            })
            .await;
        assert_eq!(r.unwrap(), ChildState::Cancelled, "value the scope returned");
        assert_eq!(t.dropped(), 1, "child futures dropped so far");
    }));
}

/// C9: a child can cancel a sibling through its handle and await it: the sibling is reported
/// cancelled and the scope succeeds.
pub fn c9_a_sibling_cancels_a_child_through_its_handle(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let t = Tracker::new();
        let r = builder(h)
            .run(async |s| {
                let victim = s.spawn(guarded_forever(t.guard()));
                let killer = s.spawn(async move {
                    victim.cancel();
                    let got = victim.await;
                    Ok::<_, BoxError>(matches!(got, Err(JoinError::Cancelled { .. })))
                });
                Ok(killer.await?)
            })
            .await;
        assert!(r.unwrap(), "the cancelled sibling was not reported cancelled");
        assert_eq!(t.live(), 0, "live child futures (guards not yet dropped)");
    }));
}

/// C9: a child can await a sibling's value through its handle.
pub fn c9_a_sibling_awaits_another_childs_value(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let release = Gate::new();
        let r = builder(h)
            .run(async |s| {
                let rel = release.clone();
                let producer = s.spawn(async move {
                    rel.wait().await;
                    Ok::<_, BoxError>(41)
                });
                let consumer = s.spawn(async move { Ok::<_, BoxError>(producer.await? + 1) });
                release.open();
                Ok(consumer.await?)
            })
            .await;
        assert_eq!(r.unwrap(), 42, "value the scope returned");
    }));
}

/// C9 with C2: under a grace period too, cancelling one child through its handle drops it at
/// once, is not a failure, and does not cancel the scope.
pub fn c9_a_cancelled_child_is_not_a_failure_even_under_grace(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let t = Tracker::new();
        let start = Instant::now();
        let r = builder(h)
            .grace(LONG)
            .run(async |s| {
                let victim = s.spawn(guarded_forever(t.guard()));
                victim.cancel();
                while !victim.is_finished() {
                    yield_now().await;
                }
                Ok::<_, BoxError>((victim.state(), s.token().is_cancelled()))
            })
            .await;
        assert_eq!(r.unwrap(), (ChildState::Cancelled, false), "value the scope returned");
        assert_eq!(t.live(), 0, "live child futures (guards not yet dropped)");
        assert!(start.elapsed() < Duration::from_secs(10), "the handle cancel waited out the grace");
    }));
}

/// T1: `run_until_cancelled` drops its future (and what it holds) when the token fires.
pub fn t1_run_until_cancelled_drops_its_future_when_the_token_fires(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let t = Tracker::new();
        let token = CancelToken::new();
        let r = builder(h)
            .run(async |s| {
                let (g, tk, started) = (t.guard(), token.clone(), Gate::new());
                let st = started.clone();
                let waiter = s.spawn(async move {
                    st.open();
                    let got = tk
                        .run_until_cancelled(async move {
                            let _g = g;
                            forever().await;
                            5
                        })
                        .await;
                    Ok::<_, BoxError>(got)
                });
                started.wait().await;
                token.cancel();
                Ok(waiter.await?)
            })
            .await;
        assert_eq!(r.unwrap(), None, "value the scope returned");
        assert_eq!(t.live(), 0, "run_until_cancelled kept its future");
    }));
}

/// T1: a token cancelled from a plain thread, while waiters are still registering, wakes every
/// waiter (no lost wake-up).
pub fn t1_a_token_cancelled_from_a_plain_thread_wakes_async_waiters(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        for _round in 0..10 {
            let token = CancelToken::new();
            let woke = Counter::new();
            let t = token.clone();
            let canceller = std::thread::spawn(move || {
                std::thread::sleep(Duration::from_micros(200));
                t.cancel();
            });
            builder(h)
                .run(async |s| {
                    for _ in 0..4 {
                        let (t, w) = (token.clone(), woke.clone());
                        s.spawn(async move {
                            t.cancelled().await;
                            w.incr();
                            ok()
                        });
                    }
                    token.cancelled().await;
                    Ok::<_, BoxError>(())
                })
                .await
                .unwrap();
            assert_eq!(woke.get(), 4, "count of `woke`");
            canceller.join().unwrap();
        }
    }));
}

/// T1: a drop guard held by a child cancels its token when the child is cancelled (dropped).
pub fn t1_a_drop_guard_cancels_when_its_child_is_cancelled(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let token = CancelToken::new();
        let r = builder(h)
            .run(async |s| {
                let guard = token.clone().drop_guard();
                let child = s.spawn(async move {
                    let _guard = guard;
                    forever().await;
                    ok()
                });
                yield_now().await;
                assert!(!token.is_cancelled(), "`token` is cancelled, expected not cancelled");
                child.cancel();
                token.cancelled().await;
                Ok::<_, BoxError>(())
            })
            .await;
        assert!(r.is_ok(), "the outcome: expected Ok, saw {r:?}");
        assert!(token.is_cancelled(), "`token` is not cancelled, expected cancelled");
    }));
}

/// T1: `cancelled_owned` is `'static`: it can be moved into a spawned child and resolves when
/// the token fires.
pub fn t1_cancelled_owned_can_be_moved_into_a_child(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let token = CancelToken::new();
        let r = builder(h)
            .run(async |s| {
                let wait = token.clone().cancelled_owned();
                let child = s.spawn(async move {
                    wait.await;
                    Ok::<_, BoxError>(1)
                });
                yield_now().await;
                token.cancel();
                Ok(child.await?)
            })
            .await;
        assert_eq!(r.unwrap(), 1, "value the scope returned");
    }));
}

/// T2: a cancelled token keeps no children: children made afterwards start cancelled and are
/// not registered, scopes opened under it included.
pub fn t2_a_cancelled_token_keeps_no_children(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let parent = CancelToken::new();
        parent.cancel();
        let kept: Vec<_> = (0..10_000).map(|_| parent.child()).collect();
        assert!(
            kept.iter().all(CancelToken::is_cancelled),
            "child tokens made from a cancelled parent that are not cancelled: {} of 10000, expected 0",
            kept.iter().filter(|t| !t.is_cancelled()).count()
        );
        assert_eq!(parent.child_count(), 0, "child tokens still held by `parent`");
        for _ in 0..100 {
            let r = builder(h).parent(&parent).run(async |_s| Ok::<_, BoxError>(())).await;
            assert!(r.as_ref().is_err_and(|e| e.is_cancelled()), "expected a cancelled outcome, saw {r:?}");
        }
        assert_eq!(parent.child_count(), 0, "child tokens still held by `parent`");
    }));
}

/// T3 with C1: when the owner drops the scope, the token fires with reason "dropped" before the
/// children are dropped, so a child's destructor can read it.
pub fn t3_a_dropped_owner_gives_reason_dropped(h: &dyn Harness) {
    struct ReadReason(CancelToken, Arc<Mutex<Option<Option<CancelReason>>>>);
    impl Drop for ReadReason {
        fn drop(&mut self) {
            *self.1.lock().unwrap() = Some(self.0.reason().cloned());
        }
    }
    let rt = h.runtime();
    h.block_on(Box::pin(async move {
        let seen = Arc::new(Mutex::new(None));
        let started = Gate::new();
        {
            let mut fut = Box::pin(builder(h).run(async |s| {
                let (reader, st) = (ReadReason(s.token().clone(), seen.clone()), started.clone());
                s.spawn(async move {
                    let _reader = reader;
                    st.open();
                    forever().await;
                    ok()
                });
                forever().await;
                Ok::<_, BoxError>(())
            }));
            let st = started.clone();
            drive_until(&mut fut, move || st.is_open()).await;
        }
        let s2 = seen.clone();
        eventually(&rt, "the child to be dropped", move || s2.lock().unwrap().is_some()).await;
        assert_eq!(seen.lock().unwrap().take(), Some(Some(CancelReason::Dropped)), "what was recorded in `seen`");
    }));
}

/// P2: the ambient scope (token and runtime) is set only while a scope's body or child runs:
/// never outside, and back to none once the scope has returned.
pub fn p2_the_ambient_scope_is_set_only_inside_it(h: &dyn Harness) {
    let name = h.runtime().name();
    h.block_on(Box::pin(async move {
        assert!(
            taskscope_core::current_token().is_none(),
            "an ambient token outside any scope: expected none, saw {:?}",
            taskscope_core::current_token()
        );
        assert!(
            taskscope_core::current_runtime().is_none(),
            "an ambient runtime outside any scope: expected none, saw {:?}",
            taskscope_core::current_runtime()
        );
        let r = builder(h)
            .run(async |s| {
                let in_body = taskscope_core::current_token().map(|t| t.is_cancelled());
                let child = s.spawn(async { Ok::<_, BoxError>(taskscope_core::current_runtime().map(|rt| rt.name())) });
                Ok::<_, BoxError>((in_body, child.await?))
            })
            .await;
        assert_eq!(r.unwrap(), (Some(false), Some(name)), "value the scope returned");
        assert!(taskscope_core::current_token().is_none(), "the ambient token leaked out");
        assert!(taskscope_core::current_runtime().is_none(), "the ambient runtime leaked out");
    }));
}

/// C1: a child blocked on a long timer is dropped without waiting for the timer.
pub fn c1_a_child_blocked_on_a_timer_is_dropped_without_waiting(h: &dyn Harness) {
    let rt = h.runtime();
    h.block_on(Box::pin(async move {
        let start = Instant::now();
        let t = Tracker::new();
        let r: Result<(), _> = builder(h)
            .run(async |s| {
                let (g, rt) = (t.guard(), rt.clone());
                s.spawn(async move {
                    let _g = g;
                    sleep(&rt, LONG).await;
                    ok()
                });
                yield_now().await;
                s.cancel();
                Ok(())
            })
            .await;
        expect_cancelled(r);
        assert_eq!(t.live(), 0, "live child futures (guards not yet dropped)");
        assert!(start.elapsed() < Duration::from_secs(10), "the scope waited for the child's timer");
    }));
}

/// C5 with C4: a failure is not turned into a cancel by a later `cancel()`: the owner gets the
/// group.
pub fn c5_a_failure_is_not_replaced_by_a_later_cancel(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let r: Result<(), _> = builder(h)
            .grace(LONG)
            .run(async |s| {
                s.spawn_named("bad", async { Err::<(), _>(err("bad")) });
                s.token().cancelled().await;
                s.cancel_with(CancelReason::Explicit("late".into()));
                Ok(())
            })
            .await;
        assert_eq!(
            messages(&expect_failed(r)),
            ["bad"],
            "messages of the failed scope's group members, in completion order"
        );
    }));
}
