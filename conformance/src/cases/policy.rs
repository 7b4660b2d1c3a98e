//! L1–L4, B1 — concurrency limits, supervise and race policies, start-and-wait-ready, and
//! blocking work, with the "bounded gather" and "first success with
//! cleanup" scenarios.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_lite::future::poll_once;
use taskscope_core::{BoxError, CancelReason, ChildState, JoinError, Policy, ScopeError, TrySpawnError, ZeroLimit};

use crate::Harness;
use crate::support::*;

/// Counts children running now and the peak.
#[derive(Clone, Default)]
struct Running {
    now: Arc<AtomicUsize>,
    peak: Arc<AtomicUsize>,
    started: Arc<AtomicUsize>,
}

/// Held while a child runs.
struct Slot(Running);

impl Running {
    fn enter(&self) -> Slot {
        let now = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak.fetch_max(now, Ordering::SeqCst);
        self.started.fetch_add(1, Ordering::SeqCst);
        Slot(self.clone())
    }
    fn started(&self) -> usize {
        self.started.load(Ordering::SeqCst)
    }
    fn peak(&self) -> usize {
        self.peak.load(Ordering::SeqCst)
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.now.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A boxed racer, so that racers built differently share one type.
type Racer<T> = std::pin::Pin<Box<dyn std::future::Future<Output = Result<T, BoxError>> + Send>>;

/// L1: at most `n` children run at once; the rest wait and run later.
pub fn l1_limit_bounds_running_children(h: &dyn Harness) {
    let rt = h.runtime();
    h.block_on(Box::pin(async move {
        let running = Running::default();
        let gate = Gate::new();
        builder(h)
            .limit(3)
            .unwrap()
            .run(async |s| {
                for _ in 0..12 {
                    let (r, g) = (running.clone(), gate.clone());
                    s.spawn(async move {
                        let _slot = r.enter();
                        g.wait().await;
                        ok()
                    });
                }
                eventually(&rt, "three children started", || running.started() == 3).await;
                for _ in 0..20 {
                    yield_now().await;
                }
                assert_eq!(running.started(), 3, "a fourth child started while three were running");
                gate.open();
                ok()
            })
            .await
            .unwrap();
        assert_eq!(running.started(), 12, "children started in all");
        assert_eq!(running.peak(), 3, "most children running at once");
    }));
}

/// L1: children waiting for a slot start in spawn order (FIFO).
pub fn l1_waiting_children_start_in_spawn_order(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let order = Arc::new(Mutex::new(Vec::new()));
        builder(h)
            .limit(1)
            .unwrap()
            .run(async |s| {
                for i in 0..8 {
                    let order = order.clone();
                    s.spawn(async move {
                        order.lock().unwrap().push(i);
                        yield_now().await;
                        ok()
                    });
                }
                ok()
            })
            .await
            .unwrap();
        assert_eq!(*order.lock().unwrap(), (0..8).collect::<Vec<_>>(), "what was recorded in `order`");
    }));
}

/// L1: `spawn_wait` makes the spawner wait while the scope is full (backpressure).
pub fn l1_spawn_wait_applies_backpressure(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        builder(h)
            .limit(1)
            .unwrap()
            .run(async |s| {
                let gate = Gate::new();
                let g = gate.clone();
                s.spawn(async move {
                    g.wait().await;
                    ok()
                });
                let mut waiting = Box::pin(s.spawn_wait(async { ok() }));
                for _ in 0..10 {
                    assert!(poll_once(&mut waiting).await.is_none(), "spawn_wait returned while the scope was full");
                    yield_now().await;
                }
                gate.open();
                let handle = waiting.await;
                handle.await?;
                ok()
            })
            .await
            .unwrap();
    }));
}

/// L1: a waiting spawn that is cancelled gives up its place, drops its future unpolled, and
/// never strands a permit.
pub fn l1_cancelled_spawn_wait_never_strands_a_permit(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let polled = Arc::new(AtomicBool::new(false));
        builder(h)
            .limit(1)
            .unwrap()
            .run(async |s| {
                let gate = Gate::new();
                let g = gate.clone();
                let busy = s.spawn(async move {
                    g.wait().await;
                    ok()
                });
                let p = polled.clone();
                let mut abandoned = Box::pin(s.spawn_wait(async move {
                    p.store(true, Ordering::SeqCst);
                    ok()
                }));
                assert!(
                    poll_once(&mut abandoned).await.is_none(),
                    "the spawn_wait of a full scope completed, expected it to wait for a permit"
                );
                let mut next = Box::pin(s.spawn_wait(async { Ok::<_, BoxError>("ran") }));
                assert!(
                    poll_once(&mut next).await.is_none(),
                    "the next spawn_wait completed, expected it to wait for a permit"
                );
                gate.open();
                busy.await?;
                drop(abandoned); // may have been handed the permit already: it must pass on
                let h = next.await;
                assert_eq!(h.await?, "ran", "value of `h.await?`");
                ok()
            })
            .await
            .unwrap();
        assert!(!polled.load(Ordering::SeqCst), "an abandoned spawn_wait future was polled");
    }));
}

/// L1: the non-waiting spawn reports "full" and gives the future back.
pub fn l1_try_spawn_reports_full(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        builder(h)
            .limit(2)
            .unwrap()
            .run(async |s| {
                let gate = Gate::new();
                let mut busy = Vec::new();
                for _ in 0..2 {
                    let g = gate.clone();
                    let fut = async move {
                        g.wait().await;
                        ok()
                    };
                    busy.push(s.try_spawn(fut).map_err(|e| e.to_string()).unwrap());
                }
                let fut = async { Ok::<_, BoxError>(()) };
                let e = match s.try_spawn(fut) {
                    Err(e @ TrySpawnError::Full(_)) => e,
                    other => panic!("expected Full, got {other:?}"),
                };
                assert!(e.to_string().contains("full"), "expected the text of `e` to contain \"full\", saw {}", e);
                let fut = e.into_inner(); // given back, unpolled
                gate.open();
                for b in busy {
                    b.await?;
                }
                s.try_spawn(fut).map_err(|e| e.to_string()).unwrap().await?;
                ok()
            })
            .await
            .unwrap();
    }));
}

/// L1: a limit of zero is refused with a clear error.
pub fn l1_zero_limit_is_refused(_h: &dyn Harness) {
    let e = Builder::typed().limit(0).unwrap_err();
    assert_eq!(e, ZeroLimit, "value of `e`");
    assert!(e.to_string().contains("use a limit of at least 1"), "{e}");
}

/// L1: children still waiting for a slot when the scope is cancelled never start.
pub fn l1_queued_children_never_start_after_cancel(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let started = Arc::new(AtomicUsize::new(0));
        let t = Tracker::new();
        let handles = Arc::new(Mutex::new(Vec::new()));
        let r = builder(h)
            .limit(1)
            .unwrap()
            .grace(Duration::from_secs(30))
            .run(async |s| {
                for _ in 0..4 {
                    let (st, g, token) = (started.clone(), t.guard(), s.token().clone());
                    handles.lock().unwrap().push(s.spawn(async move {
                        let _g = g;
                        st.fetch_add(1, Ordering::SeqCst);
                        token.cancelled().await;
                        ok()
                    }));
                }
                while started.load(Ordering::SeqCst) == 0 {
                    yield_now().await;
                }
                s.cancel();
                ok()
            })
            .await;
        assert!(r.as_ref().is_err_and(|e| e.is_cancelled()), "expected a cancelled outcome, saw {r:?}");
        assert_eq!(started.load(Ordering::SeqCst), 1, "a queued child started after the cancel");
        assert_eq!(t.live(), 0, "live child futures (guards not yet dropped)");
        let states: Vec<_> = handles.lock().unwrap().iter().map(|h| h.state()).collect();
        assert_eq!(states[1..], [ChildState::Cancelled; 3], "value of `states[1..]`");
    }));
}

/// L1, "bounded gather": ten fetches, at most three at once, results in order.
pub fn l1_seeds_bounded_gather(h: &dyn Harness) {
    let rt = h.runtime();
    h.block_on(Box::pin(async move {
        let running = Running::default();
        let pages = builder(h)
            .limit(3)
            .unwrap()
            .run(async |s| {
                let handles: Vec<_> = (0..10u64)
                    .map(|i| {
                        let (r, rt) = (running.clone(), rt.clone());
                        s.spawn(async move {
                            let _slot = r.enter();
                            sleep(&rt, Duration::from_millis(i % 3)).await;
                            Ok::<_, BoxError>(format!("page {i}"))
                        })
                    })
                    .collect();
                let mut pages = Vec::new();
                for h in handles {
                    pages.push(h.await?);
                }
                Ok(pages)
            })
            .await
            .unwrap();
        assert_eq!(pages, (0..10).map(|i| format!("page {i}")).collect::<Vec<_>>(), "value of `pages`");
        assert!(running.peak() <= 3, "peak concurrency {} over the limit", running.peak());
    }));
}

/// L2: under the supervisor policy an error does not cancel the siblings.
pub fn l2_supervisor_errors_do_not_cancel_siblings(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let (a, b) = builder(h)
            .policy(Policy::Supervise)
            .run(async |s| {
                let failed = Gate::new();
                let f = failed.clone();
                let a = s.spawn_named("a", async move {
                    f.open();
                    Err::<u32, _>(err("a broke"))
                });
                let b = s.spawn_named("b", async move {
                    failed.wait().await; // runs on after its sibling failed
                    yield_now().await;
                    Ok(2)
                });
                Ok::<_, BoxError>((a, b))
            })
            .await
            .unwrap();
        let a = a.result().unwrap_err();
        assert_eq!(a.name(), Some("a"), "name reported by `a`");
        assert_eq!(
            a.into_error().map(|e| e.to_string()).as_deref(),
            Some("a broke"),
            "value of `a.into_error().map(|e| e.to_string()).as_deref()`"
        );
        assert_eq!(b.result().unwrap(), 2, "value of child `b`");
    }));
}

/// L2: the supervisor returns every child's outcome: values, errors, cancellations.
pub fn l2_supervisor_returns_every_outcome(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let handles = builder(h)
            .policy(Policy::Supervise)
            .run(async |s| {
                let hs = vec![
                    s.spawn(async { Ok::<_, BoxError>(1) }),
                    s.spawn(async { Err(err("two")) }),
                    s.spawn(async { Ok(3) }),
                    s.spawn(async { Err(err("four")) }),
                ];
                Ok(hs)
            })
            .await
            .unwrap();
        let outcomes: Vec<_> = handles
            .into_iter()
            .map(|h| h.result().map_err(|e| e.into_error().expect("the error is in the handle").to_string()))
            .collect();
        assert_eq!(
            outcomes,
            [Ok(1), Err("two".into()), Ok(3), Err("four".into())],
            "outcomes of the supervised children, in spawn order"
        );
    }));
}

/// L2, F3: a supervised child's error whose handle was dropped is not lost: it fails the
/// scope once every child is done.
pub fn l2_supervisor_unclaimed_error_goes_to_group(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let finished = Arc::new(AtomicBool::new(false));
        let r = builder(h)
            .policy(Policy::Supervise)
            .run(async |s| {
                s.spawn_named("fire-and-forget", async { Err::<(), _>(err("lost?")) });
                let f = finished.clone();
                s.spawn(async move {
                    for _ in 0..5 {
                        yield_now().await;
                    }
                    f.store(true, Ordering::SeqCst);
                    ok()
                });
                ok()
            })
            .await;
        assert!(finished.load(Ordering::SeqCst), "a sibling was cancelled under the supervisor");
        match r {
            Err(ScopeError::Failed(g)) => {
                assert_eq!(g.to_string(), "1 error in scope\n  1. [fire-and-forget] lost?", "displayed text of `g`")
            }
            other => panic!("expected the unclaimed error in a group, got {other:?}"),
        }
    }));
}

/// L2, F5: a panic still cancels a supervised scope and resumes in the owner.
pub fn l2_supervisor_panic_still_resumes(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let t = Tracker::new();
        let r = catch_panic(builder(h).policy(Policy::Supervise).run(async |s| {
            s.spawn(guarded_forever(t.guard()));
            s.spawn(async {
                yield_now().await;
                panic!("supervised panic");
                #[allow(unreachable_code)]
                ok()
            });
            ok()
        }))
        .await;
        let payload = r.expect_err("the panic resumes in the owner");
        assert_eq!(taskscope_core::panic_message(&*payload), "supervised panic", "message of the resumed panic");
        assert_eq!(t.live(), 0, "live child futures (guards not yet dropped)");
    }));
}

/// L3: the first success wins, the rest are cancelled (dropped before the race returns).
pub fn l3_race_first_success_wins(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let t = Tracker::new();
        let go = Gate::new();
        let racers: Vec<_> = (0..4)
            .map(|i| {
                let (g, go) = (t.guard(), go.clone());
                Box::pin(async move {
                    let _g = g;
                    if i == 2 {
                        go.wait().await;
                        return Ok::<_, BoxError>(i);
                    }
                    forever().await;
                    Ok(i)
                }) as Racer<i32>
            })
            .collect();
        go.open();
        let winner = builder(h).race(racers).await.unwrap();
        assert_eq!(winner, 2, "value of `winner`");
        assert_eq!(t.live(), 0, "a loser outlived the race");
    }));
}

/// L3: if every racer fails, the owner gets the group of all their errors.
pub fn l3_race_all_fail_gives_group_of_all(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let racers = ["a", "b", "c"].map(|m| async move { Err::<(), _>(err(m)) });
        let r = builder(h).race(racers).await;
        let Err(ScopeError::Failed(g)) = r else { panic!("expected the group, got {r:?}") };
        let mut msgs: Vec<_> = g.iter().map(|e| e.to_string()).collect();
        msgs.sort();
        assert_eq!(msgs, ["a", "b", "c"], "member messages, in completion order");
    }));
}

/// L3: a failure does not end the race: a later success still wins.
pub fn l3_race_failures_do_not_cancel(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let failed = Gate::new();
        let f = failed.clone();
        let racers: Vec<Racer<&str>> = vec![
            Box::pin(async move {
                f.open();
                Err(err("mirror a down"))
            }),
            Box::pin(async move {
                failed.wait().await;
                yield_now().await;
                Ok("from b")
            }),
        ];
        assert_eq!(
            builder(h).race(racers).await.unwrap(),
            "from b",
            "value of `builder(h).race(racers).await.unwrap()`"
        );
    }));
}

/// L3, "first success with cleanup": the losers' cleanup has run when the race
/// returns, and they see why they were cancelled.
pub fn l3_seeds_first_success_with_cleanup(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let cleaned = Arc::new(Mutex::new(Vec::new()));
        let r = builder(h)
            .policy(Policy::Race)
            .grace(Duration::from_secs(30))
            .run(async |s| {
                let mut hs = Vec::new();
                let all_spawned = Gate::new();
                for name in ["slow-1", "fast", "slow-2"] {
                    let (c, token, go) = (cleaned.clone(), s.token().clone(), all_spawned.clone());
                    hs.push(s.spawn_named(name, async move {
                        if name == "fast" {
                            go.wait().await;
                            return Ok::<_, BoxError>(name);
                        }
                        token.cancelled().await;
                        yield_now().await; // async cleanup during the grace
                        c.lock().unwrap().push((name, token.reason().cloned()));
                        Ok(name)
                    }));
                }
                all_spawned.open();
                Ok(hs)
            })
            .await
            .unwrap();
        let states: Vec<_> = r.iter().map(|h| h.state()).collect();
        assert_eq!(
            states,
            [ChildState::Cancelled, ChildState::Finished, ChildState::Cancelled],
            "states reported by the handles, in spawn order"
        );
        let mut cleaned = cleaned.lock().unwrap().clone();
        cleaned.sort_by_key(|c| c.0);
        let won = Some(CancelReason::RaceWon { name: Some("fast".into()) });
        assert_eq!(cleaned, [("slow-1", won.clone()), ("slow-2", won)], "value of `cleaned`");
        assert_eq!(
            r.into_iter().nth(1).unwrap().result().unwrap(),
            "fast",
            "value of `r.into_iter().nth(1).unwrap().result().unwrap()`"
        );
    }));
}

/// L4: `start` returns the value the child reports; the child runs on in the scope.
pub fn l4_start_returns_ready_value(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let served = Arc::new(AtomicBool::new(false));
        builder(h)
            .run(async |s| {
                let (sv, stop) = (served.clone(), Gate::new());
                let st = stop.clone();
                let (port, server) = s
                    .start(|ready| async move {
                        ready.send(8080u16);
                        st.wait().await;
                        sv.store(true, Ordering::SeqCst);
                        Ok::<_, BoxError>("served")
                    })
                    .await?;
                assert_eq!(port, 8080, "value of `port`");
                assert_eq!(server.state(), ChildState::Running, "the child runs on after ready");
                stop.open();
                assert_eq!(server.await?, "served", "value of `server.await?`");
                ok()
            })
            .await
            .unwrap();
        assert!(served.load(Ordering::SeqCst), "`served` was false, expected true");
    }));
}

/// L4: an error before ready is the start call's error and does not fail the scope.
pub fn l4_error_before_ready_is_the_start_error(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let r = builder(h)
            .run(async |s| {
                let r = s
                    .start_named("server", |_ready: taskscope_core::Ready<u16>| async {
                        Err::<(), _>(err("bind failed"))
                    })
                    .await;
                let e = r.expect_err("the start call fails");
                assert_eq!(e.name(), Some("server"), "name reported by `e`");
                assert_eq!(
                    e.into_error().map(|e| e.to_string()).as_deref(),
                    Some("bind failed"),
                    "value of `e.into_error().map(|e| e.to_string()).as_deref()`"
                );
                Ok::<_, BoxError>("scope fine")
            })
            .await;
        assert_eq!(r.unwrap(), "scope fine", "value the scope returned");
    }));
}

/// L4: a child that ends without reporting ready is an error of the start call.
pub fn l4_ending_without_ready_is_an_error(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        builder(h)
            .run(async |s| {
                let r = s.start(|ready: taskscope_core::Ready<u16>| async move {
                    drop(ready);
                    yield_now().await;
                    ok()
                });
                let e = r.await.expect_err("no ready");
                assert!(matches!(e, JoinError::NotReady { .. }), "{e:?}");
                assert_eq!(e.to_string(), "child ended without reporting ready", "displayed text of `e`");
                ok()
            })
            .await
            .unwrap();
    }));
}

/// L4: dropping the start call before ready cancels the child.
pub fn l4_cancelling_start_cancels_the_child(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let t = Tracker::new();
        let r = builder(h)
            .run(async |s| {
                let g = t.guard();
                let mut start = s.start(|_ready: taskscope_core::Ready<()>| guarded_forever(g));
                assert!(
                    poll_once(&mut start).await.is_none(),
                    "the start call completed, expected it to wait for the child to report ready"
                );
                drop(start);
                Ok::<_, BoxError>("owner unaffected")
            })
            .await;
        assert_eq!(r.unwrap(), "owner unaffected", "value the scope returned");
        assert_eq!(t.live(), 0, "live child futures (guards not yet dropped)");
    }));
}

/// L4: after ready the child is an ordinary child: its error fails the scope.
pub fn l4_error_after_ready_fails_the_scope(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let r = builder(h)
            .run(async |s| {
                let (v, _child) = s
                    .start_named("worker", |ready| async move {
                        ready.send(1);
                        yield_now().await;
                        Err::<(), _>(err("crashed after ready"))
                    })
                    .await?;
                assert_eq!(v, 1, "value of `v`");
                forever().await;
                ok()
            })
            .await;
        match r {
            Err(ScopeError::Failed(g)) => {
                assert_eq!(
                    g.to_string(),
                    "1 error in scope\n  1. [worker] crashed after ready",
                    "displayed text of `g`"
                )
            }
            other => panic!("expected the group, got {other:?}"),
        }
    }));
}

/// B1: blocking work runs on the blocking pool and the scope waits for it.
pub fn b1_blocking_work_is_waited_for(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let done = Arc::new(AtomicBool::new(false));
        let r = builder(h)
            .run(async |s| {
                let d = done.clone();
                s.spawn_blocking(move |_token| {
                    std::thread::sleep(Duration::from_millis(20));
                    d.store(true, Ordering::SeqCst);
                    ok()
                });
                Ok::<_, BoxError>(())
            })
            .await;
        r.unwrap();
        assert!(done.load(Ordering::SeqCst), "the scope returned before its blocking work finished");
    }));
}

/// B1: blocking work sees the token and can stop early; the scope still waits for it.
pub fn b1_blocking_work_watches_the_token(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let stopped_early = Arc::new(AtomicBool::new(false));
        let r = builder(h)
            .run(async |s| {
                let (started, st) = (Gate::new(), stopped_early.clone());
                let s2 = started.clone();
                s.spawn_blocking(move |token| {
                    s2.open();
                    let deadline = std::time::Instant::now() + Duration::from_secs(30);
                    while std::time::Instant::now() < deadline {
                        if token.is_cancelled() {
                            st.store(true, Ordering::SeqCst);
                            break;
                        }
                        std::thread::sleep(Duration::from_millis(1));
                    }
                    ok()
                });
                started.wait().await;
                s.cancel();
                ok()
            })
            .await;
        assert!(r.as_ref().is_err_and(|e| e.is_cancelled()), "expected a cancelled outcome, saw {r:?}");
        assert!(stopped_early.load(Ordering::SeqCst), "`stopped_early` was false, expected true");
    }));
}

/// B1: the value of blocking work comes back through its handle; its error fails the scope.
pub fn b1_blocking_value_and_error(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let v = builder(h)
            .run(async |s| {
                let h = s.spawn_blocking(|_| Ok::<_, BoxError>(6 * 7));
                Ok(h.await?)
            })
            .await
            .unwrap();
        assert_eq!(v, 42, "value of `v`");
        let r = builder(h)
            .run(async |s| {
                s.spawn_blocking(|_| Err::<(), _>(err("disk on fire")));
                ok()
            })
            .await;
        match r {
            Err(ScopeError::Failed(g)) => {
                assert_eq!(g.cause().to_string(), "disk on fire", "displayed cause of group `g`")
            }
            other => panic!("expected the group, got {other:?}"),
        }
    }));
}

/// B1, F5: a panic in blocking work resumes in the owner.
pub fn b1_blocking_panic_resumes_in_owner(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let r = catch_panic(builder(h).run(async |s| {
            s.spawn_blocking(|_| -> Result<(), BoxError> { panic!("blocking panic") });
            ok()
        }))
        .await;
        let payload = r.expect_err("the panic resumes");
        assert_eq!(taskscope_core::panic_message(&*payload), "blocking panic", "message of the resumed panic");
    }));
}
