//! P3 — the local scope: every rule that applies to it, on its own list ([`LOCAL`]).
//!
//! A local scope polls its children inside the owner's own future, so these cases borrow from
//! the stack, use `Rc` and `RefCell` freely, and drive the scope with the harness's `block_on`
//! (or with no runtime at all); the harness's runtime serves only as a timer (deadlines, grace
//! periods, sleeps). [`NOT_APPLICABLE`] lists the rules that cannot apply, with the reason.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::pin;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::Poll;
use std::time::{Duration, Instant};

use taskscope_core::{
    BoxError, CancelReason, CancelToken, ChildState, JoinError, LocalBuilder, LocalScope, Policy, Runtime, ScopeError,
    TrySpawnError, local_scope,
};

use crate::support::*;
use crate::{Case, Harness};

type R<T> = Result<T, ScopeError<BoxError>>;

/// A local scope builder whose timer is the harness's runtime.
fn lb(h: &dyn Harness) -> LocalBuilder {
    LocalBuilder::new().runtime(h.runtime())
}

/// A child that only ends by being cancelled, holding `g`.
async fn parked(g: Guard) -> Result<(), BoxError> {
    guarded_forever(g).await
}

// ---------------------------------------------------------------------------------------------
// S — scope lifetime

/// S1: the local scope completes only after every child future has been dropped.
pub fn s1_local_scope_waits_for_every_child_drop(h: &dyn Harness) {
    let rt = h.runtime();
    h.block_on(Box::pin(async move {
        let t = Tracker::new();
        let r: R<()> = local_scope(async |s| {
            for i in 0..20 {
                let (g, rt) = (t.guard(), &rt);
                s.spawn(async move {
                    let _g = g;
                    sleep(rt, Duration::from_millis(i % 5)).await;
                    ok()
                });
            }
            Ok(())
        })
        .await;
        assert!(r.is_ok());
        assert_eq!((t.live(), t.dropped()), (0, 20));
    }));
}

/// S1: also when a failure cancels them, no child is alive when the scope returns.
pub fn s1_local_cancelled_children_dropped_before_return(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let t = Tracker::new();
        let r: R<()> = local_scope(async |s| {
            for _ in 0..10 {
                s.spawn(parked(t.guard()));
            }
            s.spawn(async { Err::<(), _>(err("boom")) });
            Ok(())
        })
        .await;
        assert!(matches!(r, Err(ScopeError::Failed(_))));
        assert_eq!((t.live(), t.dropped()), (0, 10));
    }));
}

/// S2: the body runs concurrently with the children, and children spawned while the scope
/// waits (by other children) are waited for too.
pub fn s2_local_body_runs_concurrently_and_late_spawns_are_waited_for(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let gate = Gate::new();
        let late_done = Cell::new(false);
        let r: R<()> = local_scope(async |s| {
            let sp = s.spawner();
            let (gate2, late_done) = (&gate, &late_done);
            s.spawn(async move {
                gate2.wait().await; // opened by the body: they run concurrently
                sp.spawn(async move {
                    yield_now().await;
                    late_done.set(true);
                    ok()
                });
                ok()
            });
            yield_now().await;
            gate.open();
            Ok(())
        })
        .await;
        assert!(r.is_ok());
        assert!(late_done.get(), "a child spawned while the scope waited was not waited for");
    }));
}

/// S3: a child spawns siblings into its own scope and opens nested local scopes.
pub fn s3_local_child_spawns_siblings_and_nested_scopes(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let seen = RefCell::new(Vec::new());
        let r: R<()> = local_scope(async |s| {
            let (sp, seen) = (s.spawner(), &seen);
            s.spawn(async move {
                sp.spawn(async move {
                    seen.borrow_mut().push("sibling");
                    ok()
                });
                local_scope(async |inner| {
                    inner.spawn(async move {
                        seen.borrow_mut().push("nested");
                        ok()
                    });
                    Ok::<_, BoxError>(())
                })
                .await?;
                ok()
            });
            Ok(())
        })
        .await;
        assert!(r.is_ok());
        let mut seen = seen.into_inner();
        seen.sort();
        assert_eq!(seen, ["nested", "sibling"]);
    }));
}

/// S4: a spawn into a cancelling scope never polls the future: dropped at once, "closed".
pub fn s4_local_spawn_into_cancelling_scope_is_refused(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let polled = Cell::new(false);
        let t = Tracker::new();
        let r: R<()> = local_scope(async |s| {
            s.cancel();
            let g = t.guard();
            let handle = s.spawn(async {
                let _g = g;
                polled.set(true);
                ok()
            });
            assert_eq!(handle.state(), ChildState::Closed);
            assert_eq!(t.live(), 0, "a refused future must be dropped at once");
            assert!(matches!(s.try_spawn(async { ok() }), Err(TrySpawnError::Closed(_))));
            Ok(())
        })
        .await;
        assert!(r.unwrap_err().is_cancelled());
        assert!(!polled.get());
    }));
}

/// S5: a spawner that escapes the scope obeys S4: its spawns are refused.
pub fn s5_local_escaped_spawner_is_closed(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let polled = Cell::new(false); // outlives the spawner, which may still borrow it
        let (spawner, before) =
            local_scope(async |s| Ok::<_, BoxError>((s.spawner(), s.spawn(async { Ok(1) })))).await.unwrap();
        assert_eq!(before.result().unwrap(), 1);
        let late = spawner.spawn(async {
            polled.set(true);
            Ok(2)
        });
        assert_eq!(late.state(), ChildState::Closed);
        assert!(spawner.is_closed());
        assert!(!polled.get());
    }));
}

/// S6: an empty local scope completes at once (first poll), and scopes opened per item in a
/// loop, each with a child, all work.
pub fn s6_local_empty_scope_completes_at_once(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let mut fut = pin!(local_scope(async |_s| Ok::<_, BoxError>(7)));
        let first = futures_lite::future::poll_once(&mut fut).await;
        assert_eq!(first.map(Result::unwrap), Some(7));
        let mut total = 0;
        for i in 0..1_000 {
            total += local_scope(async |s| Ok::<_, BoxError>(s.spawn(async move { Ok(i) })))
                .await
                .unwrap()
                .result()
                .unwrap();
        }
        assert_eq!(total, 499_500);
    }));
}

/// S6: 10,000 children in one local scope.
pub fn s6_local_ten_thousand_children(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let sum = Cell::new(0u64);
        let r: R<()> = local_scope(async |s| {
            for i in 0..10_000u64 {
                let sum = &sum;
                s.spawn(async move {
                    yield_now().await;
                    sum.set(sum.get() + i);
                    ok()
                });
            }
            Ok(())
        })
        .await;
        assert!(r.is_ok());
        assert_eq!(sum.get(), 49_995_000);
    }));
}

/// S6: 5,000 nested local scopes work. A local scope polls its children inside its own poll,
/// so nesting depth costs stack, as any chain of nested futures does: the chain runs on a
/// thread with a stack sized for it (64 MiB), and finishes and tears down without overflow.
pub fn s6_local_five_thousand_nested_scopes(_h: &dyn Harness) {
    fn nest(depth: usize, t: &Tracker) -> std::pin::Pin<Box<dyn Future<Output = Result<usize, BoxError>> + '_>> {
        Box::pin(async move {
            if depth == 0 {
                return Ok(0);
            }
            let d = local_scope(async |s| {
                let g = t.guard();
                let h = s.spawn(async move {
                    let _g = g;
                    yield_now().await;
                    nest(depth - 1, t).await
                });
                Ok::<_, BoxError>(h.await? + 1)
            })
            .await?;
            Ok(d)
        })
    }
    let out = std::thread::Builder::new()
        .stack_size(64 << 20)
        .spawn(|| {
            let t = Tracker::new();
            let depth = futures_lite::future::block_on(nest(5_000, &t)).unwrap();
            (depth, t.live())
        })
        .expect("spawn the deep thread")
        .join()
        .expect("5,000 nested local scopes");
    assert_eq!(out, (5_000, 0));
}

// ---------------------------------------------------------------------------------------------
// F — failure

/// F1: the first child error cancels the siblings and the body.
pub fn f1_local_child_error_cancels_siblings_and_body(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let t = Tracker::new();
        let r: R<()> = local_scope(async |s| {
            let _body_guard = t.guard();
            for _ in 0..5 {
                s.spawn(parked(t.guard()));
            }
            s.spawn(async { Err::<(), _>(err("boom")) });
            forever().await;
            Ok(())
        })
        .await;
        assert_eq!(expect_failed(r).cause().to_string(), "boom");
        assert_eq!((t.live(), t.dropped()), (0, 6));
    }));
}

/// F1: an error returned by the body cancels the children; it is the group's only member.
pub fn f1_local_body_error_cancels_children(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let t = Tracker::new();
        let r: R<()> = local_scope(async |s| {
            s.spawn(parked(t.guard()));
            yield_now().await;
            Err(err("body failed"))
        })
        .await;
        let g = expect_failed(r);
        assert_eq!((g.len(), g.members()[0].name()), (1, None));
        assert_eq!(t.live(), 0);
    }));
}

/// F2: errors are collected in completion order (during a grace period too); one error is a
/// group of one.
pub fn f2_local_errors_in_completion_order(h: &dyn Harness) {
    let rt = h.runtime();
    h.block_on(Box::pin(async move {
        let r: R<()> = lb(h)
            .grace(Duration::from_secs(10))
            .run(async |s| {
                let token = s.token().clone();
                s.spawn_named("late", async move {
                    token.cancelled().await;
                    Err::<(), _>(err("second"))
                });
                s.spawn_named("first", async { Err::<(), _>(err("first")) });
                Ok(())
            })
            .await;
        let g = expect_failed(r);
        assert_eq!(messages(&g), ["first", "second"]);
        assert_eq!(g.members()[1].name(), Some("late"));
        let one: R<()> = local_scope(async |s| {
            s.spawn(async { Err::<(), _>(err("only")) });
            Ok(())
        })
        .await;
        assert_eq!(expect_failed(one).len(), 1);
        drop(rt);
    }));
}

/// F2: a nested scope's bare cancellation by its parent, returned with `?` during a grace
/// period, is not a member of the parent's group.
pub fn f2_local_nested_cancellation_is_not_a_member(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let r: R<()> = lb(h)
            .grace(Duration::from_secs(10))
            .run(async |s| {
                s.spawn(async {
                    local_scope(async |inner| {
                        let token = inner.token().clone();
                        inner.spawn(async move {
                            token.cancelled().await;
                            ok()
                        });
                        Ok::<_, BoxError>(())
                    })
                    .await?;
                    ok()
                });
                s.spawn(async { Err::<(), _>(err("real")) });
                Ok(())
            })
            .await;
        assert_eq!(messages(&expect_failed(r)), ["real"]);
    }));
}

/// F3: no error is lost or reported twice: a failed child's handle has no copy of the error.
pub fn f3_local_no_error_lost_or_duplicated(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let mut handle = None;
        let r: R<()> = local_scope(async |s| {
            handle = Some(s.spawn_named("bad", async { Err::<(), _>(err("once")) }));
            Ok(())
        })
        .await;
        assert_eq!(messages(&expect_failed(r)), ["once"]);
        match handle.unwrap().result() {
            Err(JoinError::Failed { name, error: None }) => assert_eq!(name.as_deref(), Some("bad")),
            other => panic!("expected Failed without a copy, got {other:?}"),
        }
    }));
}

/// F3: a body that cancels its own scope and then returns an error of its own (no
/// cancellation was handed to it) has that error collected: it is not taken for a
/// cancellation passed on.
pub fn f3_local_a_body_error_after_its_own_cancel_is_collected(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let r: R<()> = local_scope(async |s| {
            s.cancel();
            Err(err("cleanup failed"))
        })
        .await;
        let (_, errors) = expect_cancelled(r);
        assert_eq!(errors.map(|g| messages(&g)), Some(vec!["cleanup failed".to_string()]));
    }));
}

/// F4: a value returned by a child after cancellation began is dropped, not returned.
pub fn f4_local_value_after_cancellation_is_dropped(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let value_dropped = Rc::new(Cell::new(false));
        let mut handle = None;
        let r: R<()> = lb(h)
            .grace(Duration::from_secs(10))
            .run(async |s| {
                let (token, flag) = (s.token().clone(), value_dropped.clone());
                handle = Some(s.spawn(async move {
                    token.cancelled().await;
                    Ok(OnDrop(move || flag.set(true)))
                }));
                s.cancel();
                Ok(())
            })
            .await;
        assert!(r.unwrap_err().is_cancelled());
        assert!(value_dropped.get());
        assert!(handle.unwrap().result().unwrap_err().is_cancelled());
    }));
}

/// F5: a child panic cancels the siblings (they read the reason); once every child is dropped,
/// the panic resumes in the owner with its original payload.
pub fn f5_local_panic_resumes_after_every_child_dropped(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let t = Tracker::new();
        let reason = RefCell::new(None);
        let out = catch_panic(local_scope(async |s: &LocalScope<'_, BoxError>| {
            let token = s.token().clone();
            let (g, reason) = (t.guard(), &reason);
            s.spawn(async move {
                let _g = g;
                let _read = OnDrop(|| *reason.borrow_mut() = token.reason().cloned());
                forever().await;
                ok()
            });
            s.spawn_named("bomb", async {
                yield_now().await;
                panic!("original payload");
                #[allow(unreachable_code)]
                ok()
            });
            Ok(())
        }))
        .await;
        let payload = out.expect_err("the panic must resume in the owner");
        assert_eq!(taskscope_core::panic_message(&*payload), "original payload");
        assert_eq!(t.live(), 0, "a sibling was alive when the panic resumed");
        assert_eq!(*reason.borrow(), Some(CancelReason::SiblingPanicked { name: Some("bomb".into()) }));
    }));
}

/// F6: the group splits by type and its display names the children.
pub fn f6_local_group_splits_by_type_and_displays_names(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let r: R<()> = lb(h)
            .policy(Policy::Supervise)
            .run(async |s| {
                s.spawn_named("io", async { Err::<(), _>(BoxError::new(std::io::Error::other("disk"))) });
                s.spawn_named("parse", async { Err::<(), _>(BoxError::new("x".parse::<u8>().unwrap_err())) });
                Ok(())
            })
            .await;
        let g = expect_failed(r);
        let text = g.to_string();
        assert!(text.contains("[io] disk") && text.contains("[parse]"), "{text}");
        let (io, rest) = g.split_type::<std::io::Error>();
        assert_eq!(io.unwrap().len(), 1);
        assert_eq!(rest.unwrap().members()[0].name(), Some("parse"));
    }));
}

/// F7: a panic in a child's destructor while it is being cancelled is caught and resumes as a
/// panic in the owner (F5); it never aborts the process.
pub fn f7_local_panic_in_destructor_during_cancel(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let dropped = Arc::new(AtomicBool::new(false));
        let out = catch_panic(local_scope(async |s: &LocalScope<'_, BoxError>| {
            let bomb = PanicOnDrop(dropped.clone(), "destructor panic");
            s.spawn(async move {
                let _bomb = bomb;
                forever().await;
                ok()
            });
            s.spawn(async { Err::<(), _>(err("trigger")) });
            Ok(())
        }))
        .await;
        assert!(dropped.load(Ordering::SeqCst));
        assert_eq!(taskscope_core::panic_message(&*out.unwrap_err()), "destructor panic");
    }));
}

// ---------------------------------------------------------------------------------------------
// C — cancellation

/// C1: cancelling fires the token (with the reason) before dropping the children, and takes
/// effect at a child's next suspension point.
pub fn c1_local_token_fires_before_children_dropped(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let seen = RefCell::new(None);
        let after_cancel = Cell::new(false);
        let r: R<()> = local_scope(async |s| {
            let (token, seen) = (s.token().clone(), &seen);
            s.spawn(async move {
                let _d = OnDrop(|| *seen.borrow_mut() = token.reason().cloned());
                forever().await;
                ok()
            });
            let after_cancel = &after_cancel;
            let sp = s.spawner();
            s.spawn(async move {
                yield_now().await;
                sp.cancel_with(CancelReason::Explicit("stop".into()));
                after_cancel.set(true); // a running poll is never interrupted
                yield_now().await;
                unreachable!("polled past its next suspension point after the cancel");
                #[allow(unreachable_code)]
                ok()
            });
            Ok(())
        })
        .await;
        assert_eq!(expect_cancelled(r).0, CancelReason::Explicit("stop".into()));
        assert_eq!(*seen.borrow(), Some(CancelReason::Explicit("stop".into())));
        assert!(after_cancel.get());
    }));
}

/// C2: with a grace period, children see the token and finish async cleanup; when it runs out
/// the stubborn ones are dropped.
pub fn c2_local_grace_period_cleanup_and_expiry(h: &dyn Harness) {
    let rt = h.runtime();
    h.block_on(Box::pin(async move {
        let cleaned = Cell::new(false);
        let t = Tracker::new();
        // The grace period runs on the runtime's clock (virtual under a simulation); promptness
        // is real time.
        let (start, clock) = (Instant::now(), rt.now());
        let r: R<()> = lb(h)
            .grace(Duration::from_millis(50))
            .run(async |s| {
                let (token, cleaned, rt) = (s.token().clone(), &cleaned, &rt);
                s.spawn(async move {
                    token.cancelled().await;
                    sleep(rt, Duration::from_millis(1)).await; // async cleanup
                    cleaned.set(true);
                    ok()
                });
                s.spawn(parked(t.guard())); // ignores the token
                s.cancel();
                Ok(())
            })
            .await;
        assert!(r.unwrap_err().is_cancelled());
        assert!(cleaned.get());
        assert_eq!(t.live(), 0);
        assert!(
            rt.now().duration_since(clock) >= Duration::from_millis(50),
            "stubborn child dropped before the grace ran out"
        );
        assert_prompt(start, "the grace expiry");
    }));
}

/// C3 and P3: dropping the scope future drops every child (shielded ones too) synchronously,
/// before the drop returns; none is polled again.
pub fn c3_local_dropping_the_scope_drops_every_child_synchronously(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let t = Tracker::new();
        let polls = Cell::new(0);
        {
            let mut fut = Box::pin(local_scope(async |s| {
                for _ in 0..8 {
                    let (g, polls) = (t.guard(), &polls);
                    s.spawn(async move {
                        let _g = g;
                        loop {
                            polls.set(polls.get() + 1);
                            yield_now().await;
                        }
                        #[allow(unreachable_code)]
                        ok()
                    });
                }
                s.spawn_shielded(parked(t.guard()));
                forever().await;
                Ok::<_, BoxError>(())
            }));
            assert!(futures_lite::future::poll_once(&mut fut).await.is_none());
            assert_eq!(t.live(), 9);
            drop(fut);
            assert_eq!(t.live(), 0, "a child outlived the drop of its local scope");
        }
        let after = polls.get();
        yield_now().await;
        assert_eq!(polls.get(), after);
    }));
}

/// C4: cancelling is idempotent, the first reason stands; cancelling a finished scope or a
/// finished child does nothing.
pub fn c4_local_cancel_is_idempotent_first_reason_wins(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let r: R<()> = local_scope(async |s| {
            s.cancel_with(CancelReason::Explicit("first".into()));
            s.cancel_with(CancelReason::Explicit("second".into()));
            s.cancel();
            Ok(())
        })
        .await;
        assert_eq!(expect_cancelled(r).0, CancelReason::Explicit("first".into()));
        let (sp, done) =
            local_scope(async |s| Ok::<_, BoxError>((s.spawner(), s.spawn(async { Ok(3) })))).await.unwrap();
        sp.cancel();
        done.cancel();
        assert_eq!(done.result().unwrap(), 3);
    }));
}

/// C5: succeeded, failed and cancelled are distinct; a cancel from outside with no failures is
/// one bare "cancelled"; errors of the grace are kept.
pub fn c5_local_three_outcomes_are_distinct(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let ok_: R<u8> = local_scope(async |_s| Ok(1)).await;
        assert_eq!(ok_.unwrap(), 1);
        let failed: R<u8> = local_scope(async |_s| Err(err("x"))).await;
        assert!(matches!(failed, Err(ScopeError::Failed(_))));
        let outer = CancelToken::new();
        outer.cancel_with(CancelReason::Explicit("outside".into()));
        let cancelled: R<u8> = LocalBuilder::new().parent(&outer).run(async |_s| Ok(1)).await;
        let (reason, errors) = expect_cancelled(cancelled);
        assert!(matches!(reason, CancelReason::Parent(_)) && errors.is_none());
        let grace: R<()> = lb(h)
            .grace(Duration::from_secs(10))
            .run(async |s| {
                let token = s.token().clone();
                s.spawn(async move {
                    token.cancelled().await;
                    Err::<(), _>(err("during grace"))
                });
                s.cancel();
                Ok(())
            })
            .await;
        let (_, errors) = expect_cancelled(grace);
        assert_eq!(messages(&errors.unwrap()), ["during grace"]);
    }));
}

/// C6: an inner local scope's token is a child of the outer one's (also with no runtime), so
/// cancelling the outer reaches a grandchild in a nested scope that is already waiting; an
/// inner failure is the error of the child that awaited it.
pub fn c6_local_outer_cancel_reaches_grandchildren(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let reason = RefCell::new(None);
        let r: R<()> = local_scope(async |s| {
            let reason = &reason;
            s.spawn(async move {
                local_scope(async |inner| {
                    let token = inner.token().clone();
                    inner.spawn(async move {
                        let _d = OnDrop(|| *reason.borrow_mut() = token.reason().map(|r| r.root().clone()));
                        forever().await;
                        ok()
                    });
                    Ok::<_, BoxError>(())
                })
                .await?;
                ok()
            });
            yield_now().await;
            s.cancel_with(CancelReason::Explicit("outer".into()));
            Ok(())
        })
        .await;
        assert!(r.unwrap_err().is_cancelled());
        assert_eq!(*reason.borrow(), Some(CancelReason::Explicit("outer".into())));
        let nested_failure: R<()> = local_scope(async |s| {
            s.spawn_named("awaiter", async {
                local_scope(async |inner| {
                    inner.spawn(async { Err::<(), _>(err("inner")) });
                    Ok::<_, BoxError>(())
                })
                .await?;
                ok()
            });
            Ok(())
        })
        .await;
        let g = expect_failed(nested_failure);
        assert_eq!(g.members()[0].name(), Some("awaiter"));
        assert!(g.cause().to_string().contains("inner"));
    }));
}

/// C6: with a runtime, a spawned scope nested in a local child sees the local scope as its
/// parent: the local scope's cancellation reaches its children, and the local scope waits for
/// them.
pub fn c6_local_nested_spawned_scope_is_linked(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let t = Tracker::new();
        let r: R<()> = lb(h)
            .run(async |s| {
                let g = t.guard();
                s.spawn(async move {
                    Builder::typed()
                        .run(async |inner| {
                            inner.spawn(parked(g));
                            Ok::<_, BoxError>(())
                        })
                        .await?;
                    ok()
                });
                yield_now().await;
                s.cancel();
                Ok(())
            })
            .await;
        assert!(r.unwrap_err().is_cancelled());
        assert_eq!(t.live(), 0, "a grandchild outlived the local scope");
    }));
}

/// C7: a timeout cancels with the deadline reason and gives "elapsed" after teardown; a child
/// failure beats elapsed; a deadline already past cancels before the body is polled;
/// `Duration::MAX` means none.
pub fn c7_local_timeout_deadline_and_elapsed(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let t = Tracker::new();
        let seen = RefCell::new(None);
        let r: R<()> = lb(h)
            .timeout(Duration::from_millis(20))
            .run(async |s| {
                let (token, seen) = (s.token().clone(), &seen);
                let g = t.guard();
                s.spawn(async move {
                    let _g = g;
                    let _d = OnDrop(|| *seen.borrow_mut() = token.reason().cloned());
                    forever().await;
                    ok()
                });
                Ok(())
            })
            .await;
        let e = r.unwrap_err();
        assert!(e.is_elapsed(), "{e}");
        assert_eq!((t.live(), seen.borrow().clone()), (0, Some(CancelReason::Deadline)));

        let failed: R<()> = lb(h)
            .timeout(Duration::from_millis(10))
            .grace(Duration::from_secs(10))
            .run(async |s| {
                let token = s.token().clone();
                s.spawn(async move {
                    token.cancelled().await;
                    Err::<(), _>(err("cleanup failed"))
                });
                Ok(())
            })
            .await;
        assert_eq!(messages(&expect_failed(failed)), ["cleanup failed"]);

        let polled = Cell::new(false);
        let past: R<()> = lb(h)
            .deadline(Instant::now() - Duration::from_millis(1))
            .run(async |_s| {
                polled.set(true);
                Ok(())
            })
            .await;
        assert!(past.unwrap_err().is_elapsed());
        assert!(!polled.get());
        let never: R<u8> = lb(h).timeout(Duration::MAX).run(async |_s| Ok(5)).await;
        assert_eq!(never.unwrap(), 5);
    }));
}

/// C8: a shielded child survives the scope's cancellation and the scope waits for it; the
/// owner dropping the scope still drops it (see the C3 case).
pub fn c8_local_shielded_child_survives_scope_cancel(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let flushed = Cell::new(false);
        let mut handle = None;
        let r: R<()> = local_scope(async |s| {
            let flushed = &flushed;
            handle = Some(s.spawn_shielded(async move {
                yield_now().await;
                yield_now().await;
                flushed.set(true);
                Ok(9)
            }));
            s.cancel();
            Ok(())
        })
        .await;
        assert!(r.unwrap_err().is_cancelled());
        assert!(flushed.get(), "the scope did not wait for its shielded child");
        assert_eq!(handle.unwrap().result().unwrap(), 9, "a shielded child's value is kept");
    }));
}

/// C9: cancelling one child through its handle cancels only that child: "cancelled", not a
/// failure; handles report the real terminal states.
pub fn c9_local_cancel_one_child_only(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let t = Tracker::new();
        let mut handles = None;
        let r: R<u8> = lb(h)
            .policy(Policy::Supervise)
            .run(async |s| {
                let victim = s.spawn(parked(t.guard()));
                let fine = s.spawn(async {
                    yield_now().await;
                    ok()
                });
                let bad = s.spawn(async { Err::<(), _>(err("bad")) });
                let shielded = s.spawn_shielded(parked(t.guard()));
                yield_now().await;
                victim.cancel();
                shielded.cancel();
                let v = (&mut *Box::pin(victim)).await;
                assert!(v.unwrap_err().is_cancelled());
                handles = Some((fine, bad, shielded));
                Ok(1)
            })
            .await;
        assert_eq!(r.unwrap(), 1);
        let (fine, bad, shielded) = handles.unwrap();
        assert_eq!(
            [fine.state(), bad.state(), shielded.state()],
            [ChildState::Finished, ChildState::Failed, ChildState::Cancelled]
        );
        assert_eq!(t.live(), 0);
    }));
}

// ---------------------------------------------------------------------------------------------
// T — cancel token

/// T1: a local scope under a token cancelled from another thread wakes and tears down (no lost
/// wake-up across threads), under a plain `block_on` with no runtime.
pub fn t1_local_token_cancelled_from_another_thread(_h: &dyn Harness) {
    // Many rounds: the cancel lands at a different point of the owner's poll each time.
    for _ in 0..300 {
        let parent = CancelToken::new();
        let p2 = parent.clone();
        let canceller = std::thread::spawn(move || p2.cancel());
        let t = Tracker::new();
        let r: R<()> = futures_lite::future::block_on(LocalBuilder::new().parent(&parent).run(async |s| {
            s.spawn(parked(t.guard()));
            Ok(())
        }));
        canceller.join().unwrap();
        assert!(r.unwrap_err().is_cancelled());
        assert_eq!(t.live(), 0);
    }
}

/// T2: local scopes under a long-lived token leave no child token behind.
pub fn t2_local_scopes_free_their_tokens(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let parent = CancelToken::new();
        for _ in 0..1_000 {
            let r: R<()> = LocalBuilder::new()
                .parent(&parent)
                .run(async |s| {
                    s.spawn(async { ok() });
                    Ok(())
                })
                .await;
            r.unwrap();
        }
        assert_eq!(parent.child_count(), 0);
    }));
}

/// T3: children read the reason: the failing sibling's name, the first cause winning.
pub fn t3_local_children_read_the_first_reason(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let seen = RefCell::new(None);
        let r: R<()> = local_scope(async |s| {
            let (token, seen) = (s.token().clone(), &seen);
            s.spawn(async move {
                let _d = OnDrop(|| *seen.borrow_mut() = token.reason().cloned());
                forever().await;
                ok()
            });
            s.spawn_named("db", async { Err::<(), _>(err("down")) });
            s.spawn_named("cache", async { Err::<(), _>(err("down too")) });
            Ok(())
        })
        .await;
        expect_failed(r);
        assert_eq!(*seen.borrow(), Some(CancelReason::SiblingFailed { name: Some("db".into()) }));
    }));
}

// ---------------------------------------------------------------------------------------------
// L — limits and policies

/// L1: at most `n` children run at once; queued ones start in spawn order.
pub fn l1_local_limit_bounds_running_children(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let (running, peak) = (Cell::new(0), Cell::new(0));
        let order = RefCell::new(Vec::new());
        let r: R<()> = lb(h)
            .limit(3)
            .unwrap()
            .run(async |s| {
                for i in 0..12 {
                    let (running, peak, order) = (&running, &peak, &order);
                    s.spawn(async move {
                        order.borrow_mut().push(i);
                        running.set(running.get() + 1);
                        peak.set(peak.get().max(running.get()));
                        yield_now().await;
                        yield_now().await;
                        running.set(running.get() - 1);
                        ok()
                    });
                }
                Ok(())
            })
            .await;
        assert!(r.is_ok());
        assert_eq!(peak.get(), 3);
        assert_eq!(order.into_inner(), (0..12).collect::<Vec<_>>());
    }));
}

/// L1: `spawn_wait` applies backpressure, `try_spawn` reports full, a limit of zero is refused,
/// and children still queued when the scope cancels never start.
pub fn l1_local_backpressure_try_spawn_and_zero(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        assert!(LocalBuilder::new().limit(0).is_err());
        let gate = Gate::new();
        let started = Cell::new(0);
        let r: R<()> = lb(h)
            .limit(1)
            .unwrap()
            .run(async |s| {
                let (gate2, started) = (&gate, &started);
                s.try_spawn(async move {
                    started.set(started.get() + 1);
                    gate2.wait().await;
                    ok()
                })
                .unwrap();
                assert!(matches!(s.try_spawn(async { ok() }), Err(TrySpawnError::Full(_))));
                let waiting = s.spawn_wait(async move {
                    started.set(started.get() + 1);
                    ok()
                });
                let mut waiting = pin!(waiting);
                assert!(futures_lite::future::poll_once(&mut waiting).await.is_none(), "spawn_wait must wait");
                gate.open();
                waiting.await.await?;
                let queued = s.spawn(async move {
                    started.set(started.get() + 100);
                    ok()
                });
                let blocker = s.spawn(async {
                    forever().await;
                    ok()
                });
                drop(blocker);
                s.cancel();
                assert!(queued.await.is_err());
                Ok(())
            })
            .await;
        assert!(r.unwrap_err().is_cancelled());
        assert_eq!(started.get(), 2, "a queued child started after the cancel");
    }));
}

/// L2: under supervise, errors do not cancel siblings and every outcome is in its handle; an
/// error whose handle was dropped goes to the group (F3).
pub fn l2_local_supervisor_returns_every_outcome(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let r: R<Vec<_>> = lb(h)
            .policy(Policy::Supervise)
            .run(async |s| {
                Ok(vec![
                    s.spawn(async { Ok(1) }),
                    s.spawn(async { Err(err("down")) }),
                    s.spawn(async {
                        yield_now().await;
                        Ok(3)
                    }),
                ])
            })
            .await;
        let outcomes: Vec<_> =
            r.unwrap().into_iter().map(|h| h.result().map_err(|e| e.into_error().unwrap().to_string())).collect();
        assert_eq!(outcomes, [Ok(1), Err("down".to_string()), Ok(3)]);
        let unclaimed: R<()> = lb(h)
            .policy(Policy::Supervise)
            .run(async |s| {
                drop(s.spawn(async { Err::<(), _>(err("unclaimed")) }));
                Ok(())
            })
            .await;
        assert_eq!(messages(&expect_failed(unclaimed)), ["unclaimed"]);
    }));
}

/// L3: the first success wins and the rest are dropped; if all fail, the group of all.
pub fn l3_local_race_first_success_wins(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let t = Tracker::new();
        let mirrors = ["a", "b", "c"];
        let tref = &t;
        let won = LocalBuilder::new()
            .race(mirrors.iter().map(|m| async move {
                if *m == "b" {
                    yield_now().await;
                    Ok::<_, BoxError>(format!("from {m}"))
                } else {
                    parked(tref.guard()).await?;
                    unreachable!()
                }
            }))
            .await
            .unwrap();
        assert_eq!(won, "from b");
        assert_eq!(t.live(), 0);
        let all_fail =
            LocalBuilder::new().race((0..3).map(|i| async move { Err::<(), _>(err(&format!("e{i}"))) })).await;
        assert_eq!(expect_failed(all_fail).len(), 3);
    }));
}

/// L4: start-and-wait-ready: the reported value; an error before ready is the start's error
/// and does not fail the scope; ending without ready is an error; dropping the start cancels
/// the child.
pub fn l4_local_start_and_wait_ready(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let t = Tracker::new();
        let r: R<()> = local_scope(async |s| {
            let (port, server) = s
                .start(|ready| async move {
                    yield_now().await;
                    ready.send(8080u16);
                    ok()
                })
                .await?;
            assert_eq!(port, 8080);
            server.await?;
            let early =
                s.start(|_ready: taskscope_core::LocalReady<u8>| async { Err::<(), _>(err("bind failed")) }).await;
            assert_eq!(early.unwrap_err().into_error().unwrap().to_string(), "bind failed");
            let never = s.start(|ready: taskscope_core::LocalReady<u8>| async move {
                drop(ready);
                ok()
            });
            assert!(matches!(never.await, Err(JoinError::NotReady { .. })));
            let g = t.guard();
            let mut pending = Box::pin(s.start(|_ready: taskscope_core::LocalReady<u8>| parked(g)));
            assert!(futures_lite::future::poll_once(&mut pending).await.is_none());
            drop(pending);
            Ok(())
        })
        .await;
        assert!(r.is_ok(), "{r:?}");
        assert_eq!(t.live(), 0);
    }));
}

/// L4: the reporter moved to a sibling, which reports only after the started child ended
/// without reporting: the child's end came first and decides, so the start call says
/// "not ready" and the late value is dropped, not returned.
pub fn l4_local_a_report_after_the_child_ended_is_ignored(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let late_value_dropped = Cell::new(false);
        let r: R<()> = local_scope(async |s| {
            let reporter: Rc<RefCell<Option<taskscope_core::LocalReady<OnDrop<_>>>>> = Rc::default();
            let (child_dropped, sent) = (Gate::new(), Gate::new());
            let (slot, dropped) = (reporter.clone(), child_dropped.clone());
            let start = s.start(move |ready| {
                *slot.borrow_mut() = Some(ready);
                let guard = OnDrop(move || dropped.open());
                async move {
                    let _guard = guard;
                    ok()
                }
            });
            let (slot, dropped, done, flag) =
                (reporter.clone(), child_dropped.clone(), sent.clone(), &late_value_dropped);
            s.spawn(async move {
                dropped.wait().await;
                let ready = slot.borrow_mut().take().expect("the started child left its reporter");
                ready.send(OnDrop(move || flag.set(true)));
                done.open();
                ok()
            });
            // Only look at the start once the late report has been made.
            sent.wait().await;
            match start.await {
                Err(JoinError::NotReady { .. }) => {}
                Ok(_) => panic!("the start call returned a report made after its child had ended"),
                Err(other) => panic!("expected the start call to say the child ended before ready, got {other:?}"),
            }
            Ok(())
        })
        .await;
        assert!(r.is_ok(), "expected the scope to succeed, got {r:?}");
        assert!(late_value_dropped.get(), "the value reported too late was never dropped");
    }));
}

/// L4, F3: a report made after the started child failed is ignored: the start call returns
/// the child's error, and the scope does not fail.
pub fn l4_local_a_report_after_the_child_failed_is_ignored(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let r: R<()> = local_scope(async |s| {
            let reporter: Rc<RefCell<Option<taskscope_core::LocalReady<u32>>>> = Rc::default();
            let (child_dropped, sent) = (Gate::new(), Gate::new());
            let (slot, dropped) = (reporter.clone(), child_dropped.clone());
            let start = s.start(move |ready| {
                *slot.borrow_mut() = Some(ready);
                let guard = OnDrop(move || dropped.open());
                async move {
                    let _guard = guard;
                    Err::<(), _>(err("failed before ready"))
                }
            });
            let (slot, dropped, done) = (reporter.clone(), child_dropped.clone(), sent.clone());
            s.spawn(async move {
                dropped.wait().await;
                slot.borrow_mut().take().expect("the started child left its reporter").send(7);
                done.open();
                ok()
            });
            sent.wait().await;
            match start.await {
                Err(JoinError::Failed { error: Some(e), .. }) => {
                    assert_eq!(e.to_string(), "failed before ready", "the start call returned another error");
                }
                other => panic!("expected the start call to fail with the child's error, got {other:?}"),
            }
            Ok(())
        })
        .await;
        assert!(r.is_ok(), "expected the scope to succeed (the start call handled the error), got {r:?}");
    }));
}

/// L4, F3: a start call dropped without being awaited, after its child failed before reporting
/// ready: the error is not lost, it fails the scope like any child's error.
pub fn l4_local_a_dropped_start_gives_the_early_error_to_the_scope(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let r: R<()> = local_scope(async |s| {
            let child_dropped = Gate::new();
            let dropped = child_dropped.clone();
            let start = s.start(move |_ready: taskscope_core::LocalReady<u32>| {
                let guard = OnDrop(move || dropped.open());
                async move {
                    let _guard = guard;
                    Err::<(), _>(err("failed before ready"))
                }
            });
            // The child has returned its error (its future is gone): nobody awaits the start.
            child_dropped.wait().await;
            drop(start);
            Ok(())
        })
        .await;
        match r {
            Err(ScopeError::Failed(group)) => {
                let members: Vec<String> = group.iter().map(ToString::to_string).collect();
                assert_eq!(members, ["failed before ready"], "expected the early error once in the group");
            }
            other => panic!("expected the scope to fail with the early error, got {other:?}"),
        }
    }));
}

// ---------------------------------------------------------------------------------------------
// O — observability (the parts that apply: per-scope count and names)

/// O1: the scope's live count and child names.
pub fn o1_local_live_children_and_names(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let r: R<()> = local_scope(async |s| {
            let a = s.spawn_named("a", async {
                forever().await;
                ok()
            });
            assert_eq!((s.live_children(), a.name()), (1, Some("a")));
            a.cancel();
            let a = (&mut *Box::pin(a)).await;
            assert!(a.unwrap_err().is_cancelled());
            assert_eq!(s.live_children(), 0);
            Ok(())
        })
        .await;
        r.unwrap();
    }));
}

/// O2: with the `tracing` feature, a local scope's children have spans under the local
/// scope's span, with their names, the scope's runtime and their outcomes; an event inside a
/// local child is under the child, a scope opened in a local child is under the child, and a
/// child cancelled through its handle or by a failing sibling records why.
#[cfg(feature = "tracing")]
pub fn o2_local_spans_form_the_task_tree(h: &dyn Harness) {
    let (root, tree) = super::spans::collect_spans(|root| {
        h.block_on(Box::pin(async {
            let r: R<()> = lb(h)
                .name(root.to_owned())
                .run(async |s| {
                    let a = s.spawn_named("a", async {
                        tracing::info!("inside a");
                        ok()
                    });
                    let nest = s.spawn_named("nest", async {
                        Builder::typed()
                            .name("inner")
                            .run(async |s| {
                                s.spawn_named("leaf", async { ok() });
                                ok()
                            })
                            .await?;
                        ok()
                    });
                    a.await?;
                    nest.await?;
                    let stopped = s.spawn_named("stopped", async {
                        forever().await;
                        ok()
                    });
                    stopped.cancel();
                    assert!(stopped.await.unwrap_err().is_cancelled());
                    s.spawn_named("waiter", async {
                        forever().await;
                        ok()
                    });
                    s.spawn_named("boom", async { Err::<(), _>(err("boom")) });
                    Ok(())
                })
                .await;
            expect_failed(r);
        }));
    });
    let rt = h.runtime().name();
    let expected = format!(
        "scope {root} [{rt}] failed
  child a [{rt}] ok
    event inside a
  child nest [{rt}] ok
    scope inner [{rt}] ok
      child leaf [{rt}] ok
  child stopped [{rt}] cancelled (cancelled: LocalJoinHandle::cancel() called)
  child waiter [{rt}] cancelled (sibling 'boom' failed)
  child boom [{rt}] failed
"
    );
    assert_eq!(tree, expected, "the local task tree as the subscriber saw it");
}

// ---------------------------------------------------------------------------------------------
// P3 — what only the local scope does

/// P3: children borrow from the stack (shared and mutable borrows through `RefCell`) and use
/// `Rc`: nothing is `Send` or `'static`.
pub fn p3_local_children_borrow_and_need_not_be_send(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let words = ["alpha", "beta", "gamma"];
        let counts = RefCell::new(std::collections::BTreeMap::new());
        let rc = Rc::new(Cell::new(0));
        let r: R<usize> = local_scope(async |s| {
            for w in &words {
                let (counts, rc) = (&counts, rc.clone());
                s.spawn(async move {
                    yield_now().await;
                    counts.borrow_mut().insert(*w, w.len());
                    rc.set(rc.get() + 1);
                    ok()
                });
            }
            Ok(words.len())
        })
        .await;
        assert_eq!(r.unwrap(), 3);
        assert_eq!(rc.get(), 3);
        assert_eq!(counts.into_inner().values().sum::<usize>(), 14);
    }));
}

/// P3: it needs no runtime: a plain `block_on`, with a thread waking a child from outside.
pub fn p3_local_runs_without_a_runtime(_h: &dyn Harness) {
    let gate = Gate::new();
    let g2 = gate.clone();
    let opener = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(5));
        g2.open();
    });
    let r: R<u8> = futures_lite::future::block_on(local_scope(async |s| {
        let h = s.spawn(async {
            gate.wait().await;
            Ok(4)
        });
        Ok(h.await? * 2)
    }));
    opener.join().unwrap();
    assert_eq!(r.unwrap(), 8);
}

/// P3: only woken children are polled: one wake-up among many pending children polls that
/// child once, not every child.
pub fn p3_local_only_woken_children_are_polled(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let polls = Rc::new(Cell::new(0usize));
        let gates: Vec<Gate> = (0..1_000).map(|_| Gate::new()).collect();
        let mut fut = Box::pin(local_scope(async |s| {
            for g in &gates {
                let polls = polls.clone();
                s.spawn(async move {
                    futures_lite::future::poll_fn(|_| {
                        polls.set(polls.get() + 1);
                        Poll::Ready(())
                    })
                    .await;
                    g.wait().await;
                    ok()
                });
            }
            Ok::<_, BoxError>(())
        }));
        assert!(futures_lite::future::poll_once(&mut fut).await.is_none());
        let before = polls.get();
        assert_eq!(before, 1_000);
        gates[500].open();
        assert!(futures_lite::future::poll_once(&mut fut).await.is_none());
        assert_eq!(polls.get(), before, "children polled although not woken");
        for g in &gates {
            g.open();
        }
        fut.await.unwrap();
    }));
}

/// P3: the local scope is `!Send` but runs inside a runtime: here as the body of a spawned
/// scope's... owner task (the harness's `block_on`), with a spawned child alongside feeding it.
pub fn p3_local_runs_inside_a_spawned_scope_body(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let r = Builder::typed()
            .runtime(h.runtime())
            .run(async |outer| {
                let gate = Gate::new();
                let g2 = gate.clone();
                outer.spawn(async move {
                    yield_now().await;
                    g2.open();
                    ok()
                });
                let local = Rc::new(5);
                let v: u8 = local_scope(async |s| {
                    let local = &local;
                    let h = s.spawn(async move {
                        gate.wait().await;
                        Ok(**local)
                    });
                    Ok::<_, BoxError>(h.await? * 2)
                })
                .await?;
                Ok::<_, BoxError>(v)
            })
            .await;
        assert_eq!(r.unwrap(), 10);
    }));
}

// ---------------------------------------------------------------------------------------------
// The spawned scope's toolkit, on the local scope: per-child options (`child()`), results with
// any error type (`all`, `local_all`, `join`). The cases of `child_options.rs` and
// `results.rs`, where they apply (B1 does not: no blocking pool).

/// A user's own error type: the kinds a fetch fails with, and the one conversion `?` needs for
/// nested scopes and for `LocalJoinHandle::join`.
#[derive(Debug)]
enum FetchError {
    NotFound(&'static str),
    Refused(&'static str),
    Scope(Box<ScopeError<FetchError>>),
}

impl From<ScopeError<FetchError>> for FetchError {
    fn from(e: ScopeError<FetchError>) -> Self {
        FetchError::Scope(Box::new(e))
    }
}

/// Kinds compare; a scope error is never equal to anything (the cases match on it instead).
impl PartialEq for FetchError {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (FetchError::NotFound(a), FetchError::NotFound(b)) | (FetchError::Refused(a), FetchError::Refused(b)) => {
                a == b
            }
            _ => false,
        }
    }
}

/// A fetch, boxed so that different ones go in one list; it may borrow and need not be `Send`.
type Fetch<'a> = std::pin::Pin<Box<dyn Future<Output = Result<u8, FetchError>> + 'a>>;

/// The values of a scope that must have succeeded.
fn values<T>(r: Result<T, ScopeError<FetchError>>) -> T {
    r.unwrap_or_else(|e| panic!("expected the scope to succeed, got {e:?}"))
}

/// The errors of a group, as `(child name, error)` pairs, in completion order.
fn members(group: &taskscope_core::ErrorGroup<FetchError>) -> Vec<(Option<&str>, &FetchError)> {
    group.members().iter().map(|m| (m.name(), m.error())).collect()
}

/// The members of a group, as `[name] error` lines.
fn named_members(e: &ScopeError<BoxError>) -> Vec<String> {
    e.errors().map(|g| g.members().iter().map(ToString::to_string).collect()).unwrap_or_default()
}

/// S1: `local_all` gives every value in spawn order when the children finish in the reverse
/// order; the futures borrow the gates and the log from the caller.
pub fn s1_local_all_gives_every_value_in_spawn_order(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let n = 5;
        let gates: Vec<Gate> = (0..n).map(|_| Gate::new()).collect();
        let finished = RefCell::new(Vec::new());
        let (gates_ref, log) = (&gates, &finished);
        let futures = (0..n).map(|i| async move {
            // The last child finishes first and lets the one before it finish, and so on.
            if i + 1 < n {
                gates_ref[i].wait().await;
            }
            log.borrow_mut().push(i);
            if let Some(previous) = i.checked_sub(1) {
                gates_ref[previous].open();
            }
            Ok::<_, FetchError>(i * 10)
        });
        let r = taskscope_core::local_all(futures).await;
        assert_eq!(finished.into_inner(), [4, 3, 2, 1, 0], "the children's completion order");
        assert_eq!(values(r), [0, 10, 20, 30, 40], "the values, in spawn order");
    }));
}

/// F2, F3: when the local scope fails, `all` gives the scope's group: every error returned
/// before the last child was dropped, each once, in completion order, with no member for a
/// child that was cancelled (and no panic for it).
pub fn f2_local_all_of_a_failed_scope_gives_the_group_with_each_error_once(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let token_of = || taskscope_core::current_token().expect("a local child with a runtime sees its scope");
        let first = async { Err::<u8, _>(FetchError::NotFound("a")) };
        let during_grace = async move {
            token_of().cancelled().await;
            Err(FetchError::Refused("b"))
        };
        let cancelled = async move {
            token_of().cancelled().await;
            Ok(3) // after the cancellation: dropped (F4), never a value of `all`
        };
        let futures: Vec<Fetch<'_>> = vec![Box::pin(during_grace), Box::pin(cancelled), Box::pin(first)];
        let r = lb(h).grace(Duration::from_secs(30)).all(futures).await;
        let Err(ScopeError::Failed(group)) = r else { panic!("expected the failed scope's group, got {r:?}") };
        assert_eq!(
            members(&group),
            [(None, &FetchError::NotFound("a")), (None, &FetchError::Refused("b"))],
            "the group: the cause, then the error returned during the grace, each once"
        );
    }));
}

/// C5: a local scope cancelled from outside gives `all` one bare "cancelled" with the reason,
/// never a panic for the children that did not finish.
pub fn c5_local_all_of_a_cancelled_scope_is_cancelled_not_a_panic(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let outer = CancelToken::new();
        let finished = Tracker::new();
        let (g1, g2, canceller) = (finished.guard(), finished.guard(), &outer);
        let futures: Vec<Fetch<'_>> = vec![
            Box::pin(async { Ok(1) }),
            Box::pin(async move {
                let _guard = g1;
                canceller.cancel_with(CancelReason::Explicit("shutting down".into()));
                forever().await;
                Ok(2)
            }),
            Box::pin(async move {
                let _guard = g2;
                forever().await;
                Ok(3)
            }),
        ];
        let r = LocalBuilder::new().parent(&outer).all(futures).await;
        match r {
            Err(ScopeError::Cancelled { reason, errors: None }) => assert_eq!(
                reason.root(),
                &CancelReason::Explicit("shutting down".into()),
                "the reason of the outer cancellation"
            ),
            other => panic!("expected a bare cancelled outcome, got {other:?}"),
        }
        assert_eq!(finished.live(), 0, "a child outlived `all`");
    }));
}

/// C7: `all` on a local scope under a timeout that passes gives "elapsed" once every child is
/// dropped.
pub fn c7_local_all_past_its_timeout_is_elapsed(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let children = Tracker::new();
        let futures: Vec<_> = (0..3)
            .map(|i| {
                let guard = children.guard();
                async move {
                    let _guard = guard;
                    if i == 1 {
                        forever().await;
                    }
                    Ok::<_, FetchError>(i)
                }
            })
            .collect();
        let r = lb(h).timeout(Duration::from_millis(20)).all(futures).await;
        assert!(r.as_ref().is_err_and(ScopeError::is_elapsed), "expected elapsed, got {r:?}");
        assert_eq!(children.live(), 0, "a child outlived `all`");
    }));
}

/// C7: a local scope whose body returns its value in the poll during which the scope's
/// deadline passes (the clock jumps an hour past it while the body runs), with no child left,
/// gives its value, as a spawned scope does: the deadline cancelled nothing.
pub fn c7_local_a_scope_whose_body_returns_as_its_deadline_passes_gives_its_value(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let skewed = Skewed::new(h);
        let rt: Arc<dyn Runtime> = skewed.clone();
        let r: R<u32> = LocalBuilder::new()
            .runtime(rt)
            .timeout(Duration::from_secs(60))
            .run(async |_s| {
                skewed.jump(Duration::from_secs(3600));
                Ok(1)
            })
            .await;
        assert_eq!(r.ok(), Some(1), "outcome of a local scope whose body returned as its deadline passed");
    }));
}

/// L1: `all` keeps the local builder's concurrency limit, and still gives the values in spawn
/// order.
pub fn l1_local_all_keeps_the_limit(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let (running, peak) = (Cell::new(0usize), Cell::new(0usize));
        let (running_ref, peak_ref) = (&running, &peak);
        let futures = (0..8u32).map(|i| async move {
            running_ref.set(running_ref.get() + 1);
            peak_ref.set(peak_ref.get().max(running_ref.get()));
            for _ in 0..3 {
                yield_now().await;
            }
            running_ref.set(running_ref.get() - 1);
            Ok::<_, FetchError>(i)
        });
        let r = LocalBuilder::new().limit(2).expect("2 is a valid limit").all(futures).await;
        assert_eq!(values(r), (0..8).collect::<Vec<_>>(), "the values, in spawn order");
        assert_eq!(peak.get(), 2, "at most 2 children at once (and the limit was used)");
    }));
}

/// L2: under the supervise policy `all` on a local scope lets every child run to its end, and
/// gives the group of every error.
pub fn l2_local_all_under_supervise_runs_every_child_and_gives_every_error(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let failed = Gate::new();
        let finished = Cell::new(false);
        let (f1, f2, done) = (&failed, &failed, &finished);
        let futures: Vec<Fetch<'_>> = vec![
            Box::pin(async move {
                f1.open();
                Err(FetchError::NotFound("a"))
            }),
            Box::pin(async move {
                f2.wait().await; // after a sibling failed: not cancelled
                yield_now().await;
                done.set(true);
                Ok(2)
            }),
            Box::pin(async { Err(FetchError::Refused("c")) }),
        ];
        let r = LocalBuilder::new().policy(Policy::Supervise).all(futures).await;
        let Err(ScopeError::Failed(group)) = r else { panic!("expected the group of both errors, got {r:?}") };
        let mut errors: Vec<_> = group.iter().collect();
        errors.sort_by_key(|e| format!("{e:?}"));
        assert_eq!(errors, [&FetchError::NotFound("a"), &FetchError::Refused("c")], "every error, each once");
        assert!(finished.get(), "a failure cancelled a supervised sibling");
    }));
}

/// L3: `all` on a local builder under the race policy is refused at the call, before any
/// future is polled: a race keeps only the first success.
pub fn l3_local_all_under_race_is_refused_at_the_call(_h: &dyn Harness) {
    let polled = Cell::new(false);
    let futures = vec![async {
        polled.set(true);
        Ok::<_, FetchError>(1)
    }];
    let refused =
        std::panic::catch_unwind(AssertUnwindSafe(|| drop(LocalBuilder::new().policy(Policy::Race).all(futures))));
    let payload = refused.expect_err("`all` under Policy::Race was accepted");
    let message = taskscope_core::panic_message(&*payload);
    assert!(message.contains("use `race`"), "the panic should say what to use instead, said: {message}");
    assert!(!polled.get(), "a future was polled");
}

/// F3, F1: a typed error passed on with `h.join().await?` from a failed local child (under a
/// grace period, so the body is still polled) is the scope's cancellation coming back: the
/// group holds the child's error once, no second member for the body.
pub fn f3_local_a_typed_error_passed_on_with_join_is_not_a_second_member(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let r = lb(h)
            .grace(Duration::from_secs(30))
            .run(async |s: &LocalScope<'_, FetchError>| {
                let fetch = s.spawn_named("fetch", async { Err::<u8, _>(FetchError::NotFound("x")) });
                let page = fetch.join().await?; // compiles with the user's own enum
                Ok(page)
            })
            .await;
        let Err(ScopeError::Failed(group)) = r else { panic!("expected a failed scope, got {r:?}") };
        assert_eq!(members(&group), [(Some("fetch"), &FetchError::NotFound("x"))], "only the child's error, once");
    }));
}

/// F3: the same in a sibling: a local child that passes a failed sibling's end on with
/// `join().await?` during the grace period adds no second member.
pub fn f3_local_a_typed_error_passed_on_with_join_in_a_child_is_not_a_second_member(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let waited = Cell::new(false);
        let r = lb(h)
            .grace(Duration::from_secs(30))
            .run(async |s: &LocalScope<'_, FetchError>| {
                let fetch = s.spawn_named("fetch", async {
                    yield_now().await;
                    Err::<u8, _>(FetchError::NotFound("x"))
                });
                let waited = &waited;
                s.spawn_named("waiter", async move {
                    waited.set(true);
                    let page = fetch.join().await?;
                    Ok(page)
                });
                Ok(())
            })
            .await;
        assert!(waited.get(), "the sibling never waited");
        let Err(ScopeError::Failed(group)) = r else { panic!("expected a failed scope, got {r:?}") };
        assert_eq!(members(&group), [(Some("fetch"), &FetchError::NotFound("x"))], "only the child's error, once");
    }));
}

/// L2: `join` gives a supervised local child's own typed error back, not wrapped, and a value
/// through `?`; the error is the body's to handle, not the group's.
pub fn l2_local_join_gives_a_supervised_childs_own_typed_error(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let r = LocalBuilder::new()
            .policy(Policy::Supervise)
            .run(async |s: &LocalScope<'_, FetchError>| {
                let index = s.spawn(async { Ok::<_, FetchError>("index") });
                let down = s.spawn(async { Err::<&str, _>(FetchError::Refused("down")) });
                let page = index.join().await?;
                let refused = down.join().await;
                assert_eq!(refused, Err(FetchError::Refused("down")), "the child's own error");
                Ok(page)
            })
            .await;
        assert_eq!(values(r), "index", "a handled error does not fail the scope");
    }));
}

/// C9: `join` on a local child cancelled through its handle gives the user's error type,
/// converted from a bare cancelled scope error that names the child; the scope does not fail.
pub fn c9_local_join_of_a_child_cancelled_through_its_handle_is_a_typed_error(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let r = LocalBuilder::new()
            .run(async |s: &LocalScope<'_, FetchError>| {
                let slow = s.spawn_named("slow", async {
                    forever().await;
                    Ok::<u8, FetchError>(1)
                });
                slow.cancel();
                match slow.join().await {
                    Err(FetchError::Scope(e)) => match *e {
                        ScopeError::Cancelled { reason: CancelReason::Explicit(msg), errors: None } => {
                            assert!(msg.contains("'slow' was cancelled"), "the reason should name the child: {msg}");
                        }
                        other => panic!("expected a bare cancelled scope error, got {other:?}"),
                    },
                    other => panic!("expected the cancellation as a FetchError, got {other:?}"),
                }
                Ok(())
            })
            .await;
        assert!(r.is_ok(), "a handle cancel is not a failure of the scope, got {r:?}");
    }));
}

/// C8, O1: a named, shielded local child keeps running through its scope's cancellation (its
/// token does not fire) and reports its name: its error, returned after the cancel, is in the
/// cancelled outcome's group under that name.
pub fn c8_local_a_named_shielded_child_survives_cancel_and_reports_its_name(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let log = RefCell::new(Vec::new());
        let gate = Gate::new();
        let r: R<()> = lb(h)
            .run(async |s| {
                let (g, l) = (&gate, &log);
                let flush = s.child().name("flush").shielded().spawn(async move {
                    g.wait().await; // opened after the cancel below
                    let token = taskscope_core::current_token().expect("a local child with a runtime sees a token");
                    l.borrow_mut().push(if token.is_cancelled() { "flush saw the cancel" } else { "flush ran on" });
                    Err::<(), _>(err("disk full"))
                });
                assert_eq!(flush.name(), Some("flush"), "the handle's name");
                s.cancel();
                gate.open();
                Ok(())
            })
            .await;
        assert_eq!(log.into_inner(), ["flush ran on"], "events in `log`");
        let e = r.expect_err("the scope was cancelled");
        assert!(e.is_cancelled(), "expected a cancelled outcome, saw {e:?}");
        assert_eq!(named_members(&e), ["[flush] disk full"], "the group of the cancelled outcome");
    }));
}

/// L1, O1: a named `try_spawn` on a local scope whose limit is taken gives the future back,
/// unpolled; once a slot is free the same future spawns under its name.
pub fn l1_local_a_named_try_spawn_on_a_full_limit_gives_the_future_back(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let (gate, polled) = (Gate::new(), Cell::new(false));
        let r: R<()> = LocalBuilder::new()
            .limit(1)
            .expect("1 is a valid limit")
            .run(async |s| {
                let (g, p) = (&gate, &polled);
                let first = s.child().name("first").try_spawn(async move {
                    g.wait().await;
                    ok()
                });
                let first = first.expect("a free slot");
                let second = async move {
                    p.set(true);
                    Ok::<_, BoxError>("second's value")
                };
                let fut = match s.child().name("second").try_spawn(second) {
                    Err(TrySpawnError::Full(fut)) => fut,
                    other => panic!("expected Full with the future, got {other:?}"),
                };
                assert!(!polled.get(), "the refused future was polled");
                gate.open();
                first.await?;
                let second = s.child().name("second").try_spawn(fut).map_err(|e| e.to_string()).expect("a free slot");
                assert_eq!(second.name(), Some("second"), "the handle's name");
                assert_eq!(second.await?, "second's value", "the future that came back ran");
                Ok(())
            })
            .await;
        r.unwrap();
    }));
}

/// L1, O1: a named `spawn_wait` on a local scope waits while the limit is taken, then spawns
/// under its name.
pub fn l1_local_a_named_spawn_wait_waits_for_a_free_slot(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let gate = Gate::new();
        let r: R<()> = LocalBuilder::new()
            .limit(1)
            .expect("1 is a valid limit")
            .run(async |s| {
                let g = &gate;
                let first = s.spawn(async move {
                    g.wait().await;
                    ok()
                });
                let mut waiting = pin!(s.child().name("next").spawn_wait(async { Ok::<_, BoxError>(7) }));
                assert!(
                    futures_lite::future::poll_once(waiting.as_mut()).await.is_none(),
                    "spawn_wait spawned into a full scope"
                );
                gate.open();
                let next = waiting.await;
                assert_eq!(next.name(), Some("next"), "the handle's name");
                first.await?;
                assert_eq!(next.await?, 7, "the child's value");
                Ok(())
            })
            .await;
        r.unwrap();
    }));
}

/// C8, L1: a shielded `spawn_wait` on a local scope whose limit is taken spawns at once (a
/// shielded child takes no slot), and runs while the unshielded child holds the slot.
pub fn c8_local_a_shielded_spawn_wait_takes_no_slot(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let gate = Gate::new();
        let r: R<()> = LocalBuilder::new()
            .limit(1)
            .expect("1 is a valid limit")
            .run(async |s| {
                let g = &gate;
                let busy = s.spawn(async move {
                    g.wait().await;
                    ok()
                });
                let mut waiting = pin!(s.child().name("audit").shielded().spawn_wait(async { Ok::<_, BoxError>(5) }));
                let audit = futures_lite::future::poll_once(waiting.as_mut())
                    .await
                    .expect("a shielded spawn_wait waited for a slot of the limit");
                assert_eq!(audit.name(), Some("audit"), "the handle's name");
                assert_eq!(audit.await?, 5, "the shielded child ran while the slot was taken");
                assert!(!busy.is_finished(), "the slot's holder should still be running");
                gate.open();
                busy.await?;
                Ok(())
            })
            .await;
        r.unwrap();
    }));
}

/// L4, C8, O1: a named, shielded local start reports ready, and its child keeps running through
/// the scope's cancellation; its value is kept for its handle.
pub fn l4_local_a_named_shielded_start_survives_the_scope_cancel(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let gate = Gate::new();
        let mut kept = None;
        let r: R<()> = LocalBuilder::new()
            .run(async |s| {
                let g = &gate;
                let (port, server) = s
                    .child()
                    .name("server")
                    .shielded()
                    .start(|ready| async move {
                        ready.send(8080u16);
                        g.wait().await; // opened after the cancel below
                        Ok::<_, BoxError>("served")
                    })
                    .await
                    .map_err(|e| e.to_string())
                    .expect("the child reports ready");
                assert_eq!((port, server.name()), (8080, Some("server")), "the reported value and the name");
                kept = Some(server);
                s.cancel();
                gate.open();
                Ok(())
            })
            .await;
        assert!(r.as_ref().is_err_and(ScopeError::is_cancelled), "expected a cancelled outcome, saw {r:?}");
        let server = kept.expect("the handle was kept");
        assert_eq!(server.result().map_err(|e| e.to_string()), Ok("served"), "the shielded child's value");
    }));
}

/// C8, L1: a shielded `try_spawn` is accepted by a local scope that is full and cancelling (it
/// takes no slot), while an unshielded one is refused as closed.
pub fn c8_local_a_shielded_try_spawn_is_accepted_while_cancelling(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let log = RefCell::new(Vec::new());
        let r: R<()> = LocalBuilder::new()
            .limit(1)
            .expect("1 is a valid limit")
            .run(async |s| {
                let busy = s.spawn(async {
                    forever().await;
                    ok()
                });
                s.cancel();
                let plain = s.child().try_spawn(async { ok() });
                assert!(matches!(plain, Err(TrySpawnError::Closed(_))), "expected Closed, got {plain:?}");
                let l = &log;
                let cleanup = s.child().name("cleanup").shielded().try_spawn(async move {
                    yield_now().await;
                    l.borrow_mut().push("cleanup ran");
                    ok()
                });
                let cleanup = cleanup.map_err(|e| e.to_string()).expect("a shielded child is accepted");
                assert_eq!(cleanup.name(), Some("cleanup"), "the handle's name");
                drop(busy);
                Ok(())
            })
            .await;
        assert!(r.as_ref().is_err_and(ScopeError::is_cancelled), "expected a cancelled outcome, saw {r:?}");
        assert_eq!(log.into_inner(), ["cleanup ran"], "events in `log`");
    }));
}

/// P3: `local_all` needs no runtime and takes `!Send` futures that borrow: under a plain
/// `block_on`, children holding an `Rc` and borrowing a `RefCell` give their values in order.
pub fn p3_local_all_borrows_and_needs_no_runtime(_h: &dyn Harness) {
    let seen = RefCell::new(Vec::new());
    let weight = Rc::new(3u32); // `!Send`
    let futures = ["a", "bb", "ccc"].map(|w| {
        let (seen, weight) = (&seen, weight.clone());
        async move {
            yield_now().await;
            seen.borrow_mut().push(w);
            Ok::<_, FetchError>(w.len() as u32 * *weight)
        }
    });
    let r = futures_lite::future::block_on(taskscope_core::local_all(futures));
    assert_eq!(values(r), [3, 6, 9], "the values, in order");
    let mut seen = seen.into_inner();
    seen.sort_unstable();
    assert_eq!(seen, ["a", "bb", "ccc"], "every child ran");
}

/// Rules that cannot apply to the local scope, with the reason.
pub const NOT_APPLICABLE: &[(&str, &str)] = &[
    ("B1", "no blocking pool: the local scope spawns nothing; run blocking work in a spawned scope"),
    #[cfg(not(feature = "tracing"))]
    ("O2", "tracing spans: the case needs this crate's `tracing` feature"),
    ("P1", "the cases here are the P1 column for the local scope: they run on the harness's block_on"),
    ("P2", "backend detection: the local scope needs no backend (its timer comes from the ambient scope or is given)"),
    (
        "P4",
        "portable time runs on a runtime: inside a local scope it behaves as in any code (the p4_ cases, per backend)",
    ),
    (
        "P5",
        "the simulation is a runtime for spawned scopes; a local scope runs under its block_on like under any other",
    ),
    ("P6", "the every-backend test macro runs a body per backend; a local scope inside it needs nothing more"),
];

macro_rules! local_cases {
    ($($case:ident),* $(,)?) => {
        /// Every local-scope case, in report order.
        pub const LOCAL: &[Case] = &[$(Case { name: stringify!($case), run: $case }),*];
    };
}

/// Calls `local_cases!` with the given cases, then those of this crate's `tracing` feature
/// (O2, the local scope's spans), as `__with_optional_cases!` does for [`ALL`](super::ALL).
#[cfg(feature = "tracing")]
macro_rules! with_optional_local_cases {
    ($($case:ident,)*) => {
        local_cases! { $($case,)* o2_local_spans_form_the_task_tree, }
    };
}

/// Calls `local_cases!` with the given cases: this crate's `tracing` feature is off.
#[cfg(not(feature = "tracing"))]
macro_rules! with_optional_local_cases {
    ($($case:ident,)*) => {
        local_cases! { $($case,)* }
    };
}

with_optional_local_cases! {
    s1_local_scope_waits_for_every_child_drop,
    s1_local_cancelled_children_dropped_before_return,
    s1_local_all_gives_every_value_in_spawn_order,
    s2_local_body_runs_concurrently_and_late_spawns_are_waited_for,
    s3_local_child_spawns_siblings_and_nested_scopes,
    s4_local_spawn_into_cancelling_scope_is_refused,
    s5_local_escaped_spawner_is_closed,
    s6_local_empty_scope_completes_at_once,
    s6_local_ten_thousand_children,
    s6_local_five_thousand_nested_scopes,
    f1_local_child_error_cancels_siblings_and_body,
    f1_local_body_error_cancels_children,
    f2_local_errors_in_completion_order,
    f2_local_nested_cancellation_is_not_a_member,
    f2_local_all_of_a_failed_scope_gives_the_group_with_each_error_once,
    f3_local_no_error_lost_or_duplicated,
    f3_local_a_typed_error_passed_on_with_join_is_not_a_second_member,
    f3_local_a_typed_error_passed_on_with_join_in_a_child_is_not_a_second_member,
    f3_local_a_body_error_after_its_own_cancel_is_collected,
    f4_local_value_after_cancellation_is_dropped,
    f5_local_panic_resumes_after_every_child_dropped,
    f6_local_group_splits_by_type_and_displays_names,
    f7_local_panic_in_destructor_during_cancel,
    c1_local_token_fires_before_children_dropped,
    c2_local_grace_period_cleanup_and_expiry,
    c3_local_dropping_the_scope_drops_every_child_synchronously,
    c4_local_cancel_is_idempotent_first_reason_wins,
    c5_local_three_outcomes_are_distinct,
    c5_local_all_of_a_cancelled_scope_is_cancelled_not_a_panic,
    c6_local_outer_cancel_reaches_grandchildren,
    c6_local_nested_spawned_scope_is_linked,
    c7_local_timeout_deadline_and_elapsed,
    c7_local_all_past_its_timeout_is_elapsed,
    c7_local_a_scope_whose_body_returns_as_its_deadline_passes_gives_its_value,
    c8_local_shielded_child_survives_scope_cancel,
    c8_local_a_named_shielded_child_survives_cancel_and_reports_its_name,
    c8_local_a_shielded_spawn_wait_takes_no_slot,
    c8_local_a_shielded_try_spawn_is_accepted_while_cancelling,
    c9_local_cancel_one_child_only,
    c9_local_join_of_a_child_cancelled_through_its_handle_is_a_typed_error,
    t1_local_token_cancelled_from_another_thread,
    t2_local_scopes_free_their_tokens,
    t3_local_children_read_the_first_reason,
    l1_local_limit_bounds_running_children,
    l1_local_backpressure_try_spawn_and_zero,
    l1_local_all_keeps_the_limit,
    l1_local_a_named_try_spawn_on_a_full_limit_gives_the_future_back,
    l1_local_a_named_spawn_wait_waits_for_a_free_slot,
    l2_local_supervisor_returns_every_outcome,
    l2_local_all_under_supervise_runs_every_child_and_gives_every_error,
    l2_local_join_gives_a_supervised_childs_own_typed_error,
    l3_local_race_first_success_wins,
    l3_local_all_under_race_is_refused_at_the_call,
    l4_local_start_and_wait_ready,
    l4_local_a_report_after_the_child_ended_is_ignored,
    l4_local_a_report_after_the_child_failed_is_ignored,
    l4_local_a_dropped_start_gives_the_early_error_to_the_scope,
    l4_local_a_named_shielded_start_survives_the_scope_cancel,
    o1_local_live_children_and_names,
    p3_local_children_borrow_and_need_not_be_send,
    p3_local_runs_without_a_runtime,
    p3_local_only_woken_children_are_polled,
    p3_local_runs_inside_a_spawned_scope_body,
    p3_local_all_borrows_and_needs_no_runtime,
}
