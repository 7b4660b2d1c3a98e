//! S — scope lifetime.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use taskscope_core::{BoxError, ChildState, JoinError};

use crate::Harness;
use crate::support::*;

/// S1: the scope completes only after every child future has been dropped, whether it
/// finished or was cancelled.
pub fn s1_scope_waits_for_every_child_drop(h: &dyn Harness) {
    let rt = h.runtime();
    h.block_on(Box::pin(async move {
        let t = Tracker::new();
        let r = builder(h)
            .run(async |s| {
                for i in 0..20 {
                    let g = t.guard();
                    let rt = rt.clone();
                    s.spawn(async move {
                        let _g = g;
                        sleep(&rt, std::time::Duration::from_millis(i % 5)).await;
                        ok()
                    });
                }
                Ok::<_, BoxError>(())
            })
            .await;
        assert!(r.is_ok(), "the outcome: expected Ok, saw {r:?}");
        assert_eq!(t.live(), 0, "a child future was still alive when the scope returned");
        assert_eq!(t.dropped(), 20, "child futures dropped so far");
    }));
}

/// S1: also when the children are cancelled by a failure, none is alive when the scope returns.
pub fn s1_cancelled_children_dropped_before_return(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let t = Tracker::new();
        let r = builder(h)
            .run(async |s| {
                for _ in 0..10 {
                    let g = t.guard();
                    s.spawn(async move {
                        let _g = g;
                        forever().await;
                        ok()
                    });
                }
                s.spawn(async { Err::<(), _>(err("boom")) });
                Ok::<_, BoxError>(())
            })
            .await;
        assert!(
            matches!(r, Err(taskscope_core::ScopeError::Failed(_))),
            "expected `r` to match `Err(taskscope_core::ScopeError::Failed(_))`, saw {r:?}"
        );
        assert_eq!(t.live(), 0, "live child futures (guards not yet dropped)");
        assert_eq!(t.dropped(), 10, "child futures dropped so far");
    }));
}

/// S2: the body runs concurrently with its children (it can wait for a child's signal).
pub fn s2_body_runs_concurrently_with_children(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let gate = Gate::new();
        let r = builder(h)
            .run(async |s| {
                let g = gate.clone();
                s.spawn(async move {
                    g.open();
                    ok()
                });
                gate.wait().await; // would hang if children only started after the body
                Ok::<_, BoxError>(7)
            })
            .await;
        assert_eq!(r.unwrap(), 7, "value the scope returned");
    }));
}

/// S2: children spawned by other children while the scope waits are waited for too.
pub fn s2_late_spawns_are_waited_for(h: &dyn Harness) {
    let rt = h.runtime();
    h.block_on(Box::pin(async move {
        let t = Tracker::new();
        let done = Arc::new(AtomicUsize::new(0));
        let r = builder(h)
            .run(async |s| {
                let sp = s.spawner();
                let (t2, d2, rt2) = (t.clone(), done.clone(), rt.clone());
                s.spawn(async move {
                    // Spawn after the body has returned and the owner is waiting.
                    sleep(&rt2, std::time::Duration::from_millis(5)).await;
                    let g = t2.guard();
                    sp.spawn(async move {
                        let _g = g;
                        sleep(&rt2, std::time::Duration::from_millis(5)).await;
                        d2.fetch_add(1, Ordering::SeqCst);
                        ok()
                    });
                    ok()
                });
                Ok::<_, BoxError>(())
            })
            .await;
        assert!(r.is_ok(), "the outcome: expected Ok, saw {r:?}");
        assert_eq!(done.load(Ordering::SeqCst), 1, "the late child did not run to completion");
        assert_eq!(t.live(), 0, "live child futures (guards not yet dropped)");
    }));
}

/// S3: a child can spawn siblings into its own scope, and open a nested scope.
pub fn s3_child_spawns_siblings_and_nested_scopes(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let r = builder(h)
            .run(async |s| {
                let sp = s.spawner();
                let outer = s.spawn(async move {
                    let sibling = sp.spawn(async { Ok::<_, BoxError>(2) });
                    let nested = Builder::typed()
                        .run(async |inner| {
                            let a = inner.spawn(async { Ok::<_, BoxError>(3) });
                            Ok(a.await?)
                        })
                        .await?;
                    Ok::<_, BoxError>(sibling.await? * nested)
                });
                Ok(outer.await?)
            })
            .await;
        assert_eq!(r.unwrap(), 6, "value the scope returned");
    }));
}

/// S4: a spawn into a cancelling scope never polls the future, drops it at once, and the
/// handle says "closed".
pub fn s4_spawn_into_cancelling_scope_is_refused(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let polled = Arc::new(AtomicUsize::new(0));
        let t = Tracker::new();
        let mut state = None;
        let r = builder(h)
            .run(async |s| {
                s.cancel();
                let (p, g) = (polled.clone(), t.guard());
                let handle = s.spawn(async move {
                    let _g = g;
                    p.fetch_add(1, Ordering::SeqCst);
                    ok()
                });
                assert_eq!(t.live(), 0, "the refused future was not dropped at once");
                state = Some(handle.state());
                let refused = handle.await;
                assert!(
                    matches!(refused, Err(JoinError::Closed { .. })),
                    "the refused spawn's handle: expected Err(Closed), saw {:?}",
                    refused.map(|()| "Ok(())")
                );
                Ok::<_, BoxError>(())
            })
            .await;
        assert!(r.as_ref().is_err_and(|e| e.is_cancelled()), "expected a cancelled outcome, saw {r:?}");
        assert_eq!(state, Some(ChildState::Closed), "value of `state`");
        assert_eq!(polled.load(Ordering::SeqCst), 0, "value of `polled`");
    }));
}

/// S4/S5: a spawner that escaped its finished scope refuses spawns; nothing detaches.
pub fn s5_escaped_spawner_is_closed(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let polled = Arc::new(AtomicUsize::new(0));
        let sp: Spawner<BoxError> = builder(h).run(async |s| Ok(s.spawner())).await.unwrap();
        assert!(sp.is_closed(), "`sp` is not closed, expected closed");
        let p = polled.clone();
        let handle = sp.spawn(async move {
            p.fetch_add(1, Ordering::SeqCst);
            ok()
        });
        assert_eq!(handle.state(), ChildState::Closed, "state reported by handle `handle`");
        assert_eq!(sp.live_children(), 0, "live children of the scope (`sp.live_children()`)");
        assert_eq!(polled.load(Ordering::SeqCst), 0, "value of `polled`");
    }));
}

/// S6: a scope with no children completes on its first poll, with the body's value.
pub fn s6_empty_scope_completes_at_once(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        for i in 0..1000 {
            let v = builder(h).run(async |_s| Ok::<_, BoxError>(i)).await.unwrap();
            assert_eq!(v, i, "value of `v`");
        }
    }));
}

/// S6: 5,000 nested scopes (each child opening the next scope) work without a stack overflow,
/// and cancelling the outermost reaches the innermost.
pub fn s6_five_thousand_nested_scopes(h: &dyn Harness) {
    fn nest(
        depth: usize,
        t: Tracker,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<usize, BoxError>> + Send>> {
        Box::pin(async move {
            if depth == 0 {
                return Ok(0);
            }
            let d = Builder::typed()
                .run(async |s| {
                    let g = t.guard();
                    let t2 = t.clone();
                    let h = s.spawn(async move {
                        let _g = g;
                        nest(depth - 1, t2).await
                    });
                    Ok::<_, BoxError>(h.await? + 1)
                })
                .await?;
            Ok(d)
        })
    }
    h.block_on(Box::pin(async move {
        // A runtime that polls inside `spawn` would recurse 5,000 times here and overflow the
        // stack, aborting the whole process: fail by name instead.
        let inline = super::contract::polls_inline(&h.runtime()).await;
        assert!(
            !inline,
            "not run: the runtime polls tasks inside spawn (see p1_runtime_spawn_never_polls_inline), so 5,000 \
             nested scopes would overflow the stack and abort the process"
        );
        let t = Tracker::new();
        let t2 = t.clone();
        step("opening 5,000 nested scopes");
        let depth = builder(h).run(async move |_s| nest(5000, t2).await).await.expect("the outermost scope failed");
        assert_eq!(depth, 5000, "depth reached by the nested scopes");
        assert_eq!(t.live(), 0, "live child futures after the outermost scope returned");
    }));
}

/// S1 across nesting: when an outer scope is cancelled and drops its body, the children of a
/// scope nested in that body are dropped before the outer scope returns.
pub fn s1_nested_scope_in_body_drained_before_outer_returns(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let t = Tracker::new();
        let r: Result<(), _> = builder(h)
            .timeout(std::time::Duration::from_millis(10))
            .run(async |_outer| {
                Builder::typed()
                    .run(async |inner| {
                        let g = t.guard();
                        inner.spawn(async move {
                            let _g = g;
                            forever().await;
                            ok()
                        });
                        Ok(())
                    })
                    .await?;
                Ok::<(), BoxError>(())
            })
            .await;
        assert!(r.as_ref().is_err_and(|e| e.is_cancelled()), "expected a cancelled outcome, saw {r:?}");
        assert_eq!(t.live(), 0, "a grandchild outlived the outer scope");
    }));
}

/// S1 across nesting: the same when the nested scope lives in a child that the outer scope's
/// failure cancels.
pub fn s1_nested_scope_in_child_drained_before_outer_returns(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let t = Tracker::new();
        let nested_running = Gate::new();
        let r: Result<(), _> = builder(h)
            .run(async |s| {
                let (t2, gate) = (t.clone(), nested_running.clone());
                s.spawn(async move {
                    Builder::typed()
                        .run(async |inner| {
                            for _ in 0..4 {
                                let g = t2.guard();
                                inner.spawn(async move {
                                    let _g = g;
                                    forever().await;
                                    ok()
                                });
                            }
                            gate.open();
                            forever().await;
                            Ok(())
                        })
                        .await?;
                    ok()
                });
                nested_running.wait().await;
                s.spawn(async { Err::<(), _>(err("fail")) });
                Ok::<(), BoxError>(())
            })
            .await;
        assert!(
            matches!(r, Err(taskscope_core::ScopeError::Failed(_))),
            "expected `r` to match `Err(taskscope_core::ScopeError::Failed(_))`, saw {r:?}"
        );
        assert_eq!(t.live(), 0, "a grandchild outlived the outer scope");
        assert_eq!(t.dropped(), 4, "child futures dropped so far");
    }));
}
