//! Cases that pin down interleavings, error types and inputs at the edges of the contract:
//! a handle against its child's own scopes (C9, O3), a start report against the child's end
//! (L4), a permit against a waiter giving up (L1), a cancellation handed to a child as a value
//! (F2, F3, C7) whatever the error type, deep token chains (T2), and misuse (L3).
//!
//! Where an ordering between threads is the point, the case repeats the race many times; core's
//! loom models (`crates/taskscope-core`, `--cfg taskscope_loom`) explore every interleaving of
//! the same synchronization.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use taskscope_core::{
    BoxError, CancelToken, ChildState, JoinError, Policy, Ready, ScopeError, TrySpawnError, fail_after,
};

use crate::Harness;
use crate::support::*;

/// A grace period no case waits out: the scope ends when its children have.
const LONG: Duration = Duration::from_secs(30);

/// The scope failed with exactly `expected` in its group, in that order: `why` says what the
/// members should be, `what` what the scope should have done.
fn expect_members<T: std::fmt::Debug>(r: Result<T, ScopeError<BoxError>>, expected: &[&str], why: &str, what: &str) {
    match r {
        Err(ScopeError::Failed(group)) => {
            let members: Vec<String> = group.iter().map(ToString::to_string).collect();
            assert_eq!(members, expected, "{why}");
        }
        other => panic!("{what}, got {other:?}"),
    }
}

/// The scope was cancelled and collected exactly `expected` meanwhile, in that order: `why`
/// says what the members should be.
fn expect_cancelled_with<T: std::fmt::Debug>(r: Result<T, ScopeError<BoxError>>, expected: &[&str], why: &str) {
    match r {
        Err(ScopeError::Cancelled { errors: Some(group), .. }) => {
            let members: Vec<String> = group.iter().map(ToString::to_string).collect();
            assert_eq!(members, expected, "{why}");
        }
        other => panic!("expected a cancelled scope with errors collected, got {other:?}"),
    }
}

/// L1: a queued child whose handle is cancelled on another thread at the moment the running
/// child frees the slot never strands the slot: the next child still runs.
pub fn l1_a_queued_child_cancelled_as_the_slot_frees_loses_no_permit(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let r = builder(h)
            .limit(1)
            .expect("limit 1 is valid")
            .run(async |s| {
                for round in 0..200 {
                    let release = Arc::new(AtomicBool::new(false));
                    let r = release.clone();
                    let holder = s.spawn(async move {
                        while !r.load(Ordering::SeqCst) {
                            yield_now().await;
                        }
                        ok()
                    });
                    let queued = s.spawn(async { ok() });
                    // Race: the holder finishing (on a runtime thread) against the queued
                    // child's handle being cancelled (on a plain thread).
                    let canceller = std::thread::spawn(move || {
                        release.store(true, Ordering::SeqCst);
                        queued.cancel();
                        queued
                    });
                    holder.await?;
                    let queued = canceller.join().expect("the canceller thread panicked");
                    let _ = queued.await;
                    let start = Instant::now();
                    let next = s.spawn(async move { Ok(round) }).await?;
                    assert_eq!(next, round, "round {round}: the child after the race returned another value");
                    assert_prompt(start, &format!("round {round}: a child spawned after the race"));
                }
                Ok::<_, BoxError>(())
            })
            .await;
        assert!(r.is_ok(), "the scope failed: {r:?}");
    }));
}

/// Starts a child that ends with `end` without reporting ready, hands its reporter to a
/// sibling that reports only once the child is no longer counted (its end is decided by then),
/// and returns what the start call says after that late report.
async fn start_then_report_late(
    s: &Scope<BoxError>,
    end: Result<(), BoxError>,
) -> Result<(u32, taskscope_core::JoinHandle<(), BoxError>), JoinError<BoxError>> {
    let reporter: Arc<Mutex<Option<Ready<u32>>>> = Arc::default();
    let sent = Gate::new();
    let slot = reporter.clone();
    let start = s.start(move |ready: Ready<u32>| {
        *slot.lock().unwrap() = Some(ready);
        async move { end }
    });
    let (done, sp) = (sent.clone(), s.spawner());
    s.spawn(async move {
        while sp.live_children() > 1 {
            yield_now().await;
        }
        let ready = reporter.lock().unwrap().take().expect("the started child left its reporter");
        ready.send(7);
        done.open();
        ok()
    });
    // Only look at the start once the late report has been made.
    sent.wait().await;
    start.await
}

/// L4: the reporter handed to a sibling, which reports only after the started child has
/// failed: the report is ignored, the start call returns the child's error, and the scope
/// does not fail (the error was the start call's, F3: not lost, not reported twice).
pub fn l4_a_report_after_the_child_failed_is_ignored(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let r = builder(h)
            .run(async |s| {
                match start_then_report_late(s, Err(err("failed before ready"))).await {
                    Err(JoinError::Failed { error: Some(e), .. }) => {
                        assert_eq!(e.to_string(), "failed before ready", "the start call returned another error");
                    }
                    other => panic!("expected the start call to fail with the child's error, got {other:?}"),
                }
                ok()
            })
            .await;
        assert!(r.is_ok(), "expected the scope to succeed (the start call handled the error), got {r:?}");
    }));
}

/// L4: the reporter handed to a sibling, which reports only after the started child has
/// ended without reporting (successfully): the report is ignored and the start call says the
/// child never became ready.
pub fn l4_a_report_after_the_child_ended_is_ignored(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let r = builder(h)
            .run(async |s| {
                match start_then_report_late(s, ok()).await {
                    Err(JoinError::NotReady { .. }) => {}
                    other => panic!("expected the start call to say the child never became ready, got {other:?}"),
                }
                ok()
            })
            .await;
        assert!(r.is_ok(), "expected the scope to succeed, got {r:?}");
    }));
}

/// L4, F3: a start call dropped without being awaited, after its child failed before reporting
/// ready: the error it would have returned is not lost, it fails the scope like any child's
/// error (and cancels the siblings, F1).
pub fn l4_a_dropped_start_gives_the_early_error_to_the_scope(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let r = builder(h)
            .run(async |s| {
                let child_dropped = Gate::new();
                let dropped = child_dropped.clone();
                let start = s.start(move |_ready: Ready<u32>| {
                    let guard = OnDrop(move || dropped.open());
                    async move {
                        let _guard = guard;
                        Err::<(), _>(err("failed before ready"))
                    }
                });
                // A sibling that only ends when the scope cancels it (F1).
                s.spawn(async {
                    forever().await;
                    ok()
                });
                // The child has returned its error (its future is gone): nobody awaits the start.
                child_dropped.wait().await;
                drop(start);
                ok()
            })
            .await;
        expect_members(
            r,
            &["failed before ready"],
            "expected the early error once in the group",
            "expected the scope to fail with the early error",
        );
    }));
}

/// F2, F3: a child handed a cancellation (the error-less `JoinError` of a failed sibling) that
/// goes on with its cleanup and returns an error of its own in a later poll: that error is a
/// real failure of the cleanup and is collected after the cause, not taken for the
/// cancellation (core counts as passed on only an error returned in the same poll in which it
/// handed the cancellation).
pub fn f3_an_error_from_cleanup_after_a_handed_cancellation_is_collected(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let r = builder(h)
            .grace(Duration::from_secs(30))
            .run(async |s| {
                let go = Gate::new();
                let g = go.clone();
                let first = s.spawn_named("first", async move {
                    g.wait().await;
                    Err::<(), _>(err("cause"))
                });
                s.spawn_named("cleaner", async move {
                    go.open();
                    let handed = first.await;
                    assert!(
                        matches!(handed, Err(JoinError::Failed { error: None, .. })),
                        "expected the sibling's error-less JoinError, got {handed:?}"
                    );
                    // Cleanup that takes another poll, then fails on its own.
                    yield_now().await;
                    Err::<(), _>(err("cleanup failed"))
                });
                ok()
            })
            .await;
        expect_members(
            r,
            &["cause", "cleanup failed"],
            "expected the cause, then the cleanup's own error",
            "expected the scope to fail with both errors",
        );
    }));
}

/// S4, L4: a start into a finished scope is refused even when its child reported ready while
/// its future was being made (before the spawn was refused): the call fails with `Closed`, it
/// does not return the value with a handle that says the child never ran.
pub fn s4_a_refused_start_ignores_a_report_made_while_its_future_was_made(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let sp = builder(h).run(async |s| Ok::<_, BoxError>(s.spawner())).await.expect("the scope succeeds");
        let got = sp
            .start(|ready| {
                ready.send(8080u16);
                async { ok() }
            })
            .await;
        match got {
            Err(JoinError::Closed { .. }) => {}
            Ok((port, handle)) => {
                panic!("a refused start succeeded with {port}; its handle says {:?}", handle.state())
            }
            Err(other) => panic!("expected the start to be refused (Closed), got {other:?}"),
        }
    }));
}

/// F2, C7: a nested scope's cancellation passed on through a deadline region (`fail_after`
/// lets the outer cancellation through to the nested scope and hands back its result) in the
/// poll that receives it: not a member, so the outer scope reports "elapsed".
pub fn c7_a_nested_cancellation_passed_on_through_fail_after_is_elapsed(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let r = builder(h)
            .timeout(Duration::from_millis(20))
            .grace(Duration::from_secs(30))
            .run(async |s| {
                s.spawn_named("nested", async move {
                    fail_after(
                        Duration::from_secs(60),
                        Builder::typed().run(async |inner| {
                            inner.spawn(std::future::pending::<Result<(), BoxError>>());
                            ok()
                        }),
                    )
                    .await??;
                    ok()
                });
                ok()
            })
            .await;
        match &r {
            Err(e) if e.is_elapsed() => {}
            other => panic!("expected the outer scope to report elapsed, got {other:?}"),
        }
    }));
}

/// F2, F3, B1: a blocking child is a child: it reads a failed sibling's handle (core's
/// cancellation, handed over as an error-less `JoinError`) and passes it on with `?` in the
/// same call while the scope is cancelling: not a second member.
pub fn f3_a_blocking_child_passing_on_a_handed_cancellation_is_not_a_second_member(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let r = builder(h)
            .run(async |s| {
                let go = Gate::new();
                let g = go.clone();
                let first = s.spawn_named("first", async move {
                    g.wait().await;
                    Err::<(), _>(err("boom"))
                });
                s.spawn_blocking(move |_token| {
                    go.open();
                    while !first.is_finished() {
                        std::thread::yield_now();
                    }
                    first.result()?;
                    ok()
                });
                ok()
            })
            .await;
        expect_members(
            r,
            &["boom"],
            "the failed sibling's error once, and nothing else",
            "expected the scope to fail with the sibling's error",
        );
    }));
}

/// C9: the value of a running child, asked for without waiting, is "running", not some
/// other reason for having no value.
pub fn c9_the_result_of_a_running_child_says_running(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let r = builder(h)
            .run(async |s| {
                let go = Gate::new();
                let g = go.clone();
                let h = s.spawn(async move {
                    g.wait().await;
                    ok()
                });
                // A sibling run to its end first: the runtime has had every chance to poll `h`.
                let peek = s.spawn(async { Ok::<_, BoxError>(()) });
                peek.await?;
                match h.result() {
                    Err(JoinError::Running { .. }) => {}
                    other => panic!("expected JoinError::Running for a child still waiting, got {other:?}"),
                }
                go.open();
                ok()
            })
            .await;
        assert!(r.is_ok(), "expected the scope to succeed, got {r:?}");
    }));
}

/// F5, C9: a sibling that awaits the handle of a child that panicked (during the grace period
/// the panic started) is told it panicked; the panic then resumes in the owner.
pub fn f5_a_handle_of_a_panicked_child_says_panicked(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let seen: Arc<Mutex<Option<String>>> = Arc::default();
        let record = seen.clone();
        let fut = builder(h).grace(Duration::from_secs(30)).run(async |s| {
            let go = Gate::new();
            let g = go.clone();
            let boom = s.spawn_named("boom", async move {
                g.wait().await;
                std::panic::panic_any(7_u32);
                #[allow(unreachable_code)]
                ok()
            });
            s.spawn(async move {
                go.open();
                let got = boom.await;
                *record.lock().unwrap() = Some(format!("{got:?}"));
                ok()
            });
            ok()
        });
        let caught = futures_lite::future::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(fut)).await;
        let payload = caught.expect_err("the panic did not resume in the owner");
        assert_eq!(payload.downcast_ref::<u32>(), Some(&7), "the payload changed");
        let seen = seen.lock().unwrap().take().expect("the sibling awaited the handle");
        assert!(seen.starts_with("Err(Panicked"), "the sibling was told {seen}, not that the child panicked");
    }));
}

/// L1, S4: a `spawn_wait` blocked on a full limit stops waiting as soon as the scope is
/// cancelled (with a grace period, while the children holding the slots still run): it gets
/// a refused (`Closed`) handle at once, not a slot when the grace period ends.
pub fn l1_a_waiting_spawn_wait_is_refused_when_the_scope_cancels(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let seen: Arc<Mutex<Option<ChildState>>> = Arc::default();
        let record = seen.clone();
        let r = builder(h)
            .grace(Duration::from_secs(30))
            .limit(2)
            .expect("limit 2 is valid")
            .run(async |s| {
                let (release, waiting) = (Gate::new(), Gate::new());
                let r = release.clone();
                // Holds a slot until the waiting spawn has been refused; ignores the cancel.
                s.spawn(async move {
                    r.wait().await;
                    ok()
                });
                let (sp, w) = (s.spawner(), waiting.clone());
                s.spawn(async move {
                    let mut wait = std::pin::pin!(sp.spawn_wait(async { ok() }));
                    assert!(
                        futures_lite::future::poll_once(&mut wait).await.is_none(),
                        "both slots are held: the spawn waits"
                    );
                    w.open();
                    let refused = wait.await;
                    *record.lock().unwrap() = Some(refused.state());
                    release.open();
                    ok()
                });
                waiting.wait().await;
                s.cancel();
                ok()
            })
            .await;
        assert!(matches!(r, Err(ScopeError::Cancelled { .. })), "expected the scope to be cancelled, got {r:?}");
        assert_eq!(*seen.lock().unwrap(), Some(ChildState::Closed), "the waiting spawn was not refused");
    }));
}

/// L2, L4, F3: under the supervise policy, a dropped start call's early error joins the group
/// without cancelling anything: the sibling runs to its end and keeps its value.
pub fn l2_a_dropped_start_under_supervise_cancels_nothing(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let mut sibling = None;
        let r = builder(h)
            .policy(Policy::Supervise)
            .run(async |s| {
                let (child_dropped, go) = (Gate::new(), Gate::new());
                let dropped = child_dropped.clone();
                let start = s.start(move |_ready: Ready<u32>| {
                    let guard = OnDrop(move || dropped.open());
                    async move {
                        let _guard = guard;
                        Err::<(), _>(err("failed before ready"))
                    }
                });
                let g = go.clone();
                sibling = Some(s.spawn(async move {
                    g.wait().await;
                    Ok::<_, BoxError>(7)
                }));
                child_dropped.wait().await;
                drop(start);
                go.open();
                ok()
            })
            .await;
        expect_members(
            r,
            &["failed before ready"],
            "expected the early error once in the group",
            "expected the supervised scope to report the early error",
        );
        let sibling = sibling.expect("the body ran").result();
        assert_eq!(sibling.ok(), Some(7), "the sibling was cancelled instead of running to its end");
    }));
}

/// A user's own error type, with the conversion from a nested scope's error that `?` uses.
#[derive(Debug)]
enum AppError {
    Scope(String),
    Fetch(&'static str),
}

impl std::fmt::Display for AppError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AppError::Scope(e) => write!(f, "nested: {e}"),
            AppError::Fetch(what) => write!(f, "fetch failed: {what}"),
        }
    }
}

impl From<ScopeError<AppError>> for AppError {
    fn from(e: ScopeError<AppError>) -> Self {
        AppError::Scope(e.to_string())
    }
}

impl From<JoinError<AppError>> for AppError {
    fn from(e: JoinError<AppError>) -> Self {
        match e.into_error() {
            Some(e) => e,
            None => AppError::Scope("a child did not finish".into()),
        }
    }
}

/// C7, F2: an outer deadline with a grace period around a nested scope whose owner passes the
/// nested cancellation on with `?` into the user's own error enum: the outcome is "elapsed",
/// exactly as with `BoxError` (cancellation is never a member, whatever `E` is).
pub fn c7_elapsed_with_a_typed_error_passed_on_by_a_nested_scope(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let nested_dropped = Tracker::new();
        let r: Result<(), ScopeError<AppError>> = builder(h)
            .timeout(Duration::from_millis(20))
            .grace(Duration::from_secs(30))
            .run(async |s: &Scope<AppError>| {
                let t = nested_dropped.clone();
                s.spawn_named("nested", async move {
                    Builder::typed()
                        .run(async |inner: &Scope<AppError>| {
                            inner.spawn(async move {
                                let _guard = t.guard();
                                forever().await;
                                Ok::<_, AppError>(())
                            });
                            Ok(())
                        })
                        .await?;
                    Ok::<_, AppError>(())
                });
                Ok(())
            })
            .await;
        match &r {
            Err(e) if e.is_elapsed() => {}
            other => panic!("expected the outer scope to report elapsed, got {other:?}"),
        }
        assert_eq!(nested_dropped.live(), 0, "a nested child outlived the scope");
    }));
}

/// F3, F1: `h.await?` on a failed child (under a grace period, so the body is still polled)
/// gives the body an error-less `JoinError`, which it passes on: the group holds the child's
/// error once, not a second "child failed" member.
pub fn f3_a_failed_handle_passed_on_with_question_mark_is_not_a_second_member(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let r = builder(h)
            .grace(Duration::from_secs(30))
            .run(async |s| {
                let fetch = s.spawn_named("fetch", async { Err::<(), _>(err("refused")) });
                fetch.await?;
                ok()
            })
            .await;
        let group = expect_failed(r);
        assert_eq!(messages(&group), ["refused"], "expected exactly the child's error in the group");
        assert_eq!(group.members()[0].name(), Some("fetch"), "child name of member 0 of group `group`");
    }));
}

/// F3 with the user's own error type: a child that passes on a sibling's error-less
/// `JoinError` with `?` adds no member.
pub fn f3_a_typed_error_passed_on_from_a_handle_is_not_a_second_member(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let r: Result<(), ScopeError<AppError>> = builder(h)
            .grace(Duration::from_secs(30))
            .run(async |s: &Scope<AppError>| {
                let gate = Gate::new();
                let g = gate.clone();
                let fetch = s.spawn_named("fetch", async move {
                    g.wait().await;
                    Err::<(), _>(AppError::Fetch("mirror down"))
                });
                s.spawn_named("waiter", async move {
                    fetch.await?;
                    Ok::<_, AppError>(())
                });
                gate.open();
                Ok(())
            })
            .await;
        match r {
            Err(ScopeError::Failed(group)) => {
                let members: Vec<String> = group.members().iter().map(ToString::to_string).collect();
                assert_eq!(members, ["[fetch] fetch failed: mirror down"], "expected only the fetch error");
            }
            other => panic!("expected a failed scope, got {other:?}"),
        }
    }));
}

/// C9, B1: a running blocking child cancelled through its handle: its token fires at once, and
/// once the closure returns, its value is dropped and the handle reports "cancelled".
pub fn c9_a_blocking_child_is_cancelled_through_its_handle(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let r = builder(h)
            .run(async |s| {
                let started = Gate::new();
                let st = started.clone();
                let saw_token = Arc::new(AtomicBool::new(false));
                let saw = saw_token.clone();
                let child = s.spawn_blocking(move |token: &CancelToken| {
                    st.open();
                    let start = Instant::now();
                    while !token.is_cancelled() && start.elapsed() < PROMPT {
                        std::thread::sleep(Duration::from_millis(1));
                    }
                    saw.store(token.is_cancelled(), Ordering::SeqCst);
                    Ok::<_, BoxError>(42)
                });
                started.wait().await;
                child.cancel();
                let r = child.await;
                assert!(saw_token.load(Ordering::SeqCst), "the blocking closure's token did not fire on cancel()");
                assert!(
                    matches!(r, Err(JoinError::Cancelled { .. })),
                    "expected the cancelled blocking child to report cancelled, got {r:?}"
                );
                ok()
            })
            .await;
        assert!(r.is_ok(), "a handle cancel is not a failure of the scope, got {r:?}");
    }));
}

/// C9: a child cancelled through its handle reports "cancelled" only once every scope it
/// opened has drained: here a chain of two nested scopes, whose innermost child is dropped
/// one scheduling round after its parent (repeated: on a multi-threaded runtime the order
/// varies).
pub fn c9_a_cancelled_handle_reports_after_the_childs_scopes_drained(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        for round in 0..20 {
            let deepest = Tracker::new();
            let r = builder(h)
            .run(async |s| {
                let running = Gate::new();
                let (d, go) = (deepest.clone(), running.clone());
                let child = s.spawn(async move {
                    Builder::typed()
                        .run(async |outer: &Scope<BoxError>| {
                            outer.spawn(async move {
                                Builder::typed()
                                    .run(async |inner: &Scope<BoxError>| {
                                        inner.spawn(guarded_forever(d.guard()));
                                        go.open();
                                        Ok(())
                                    })
                                    .await?;
                                ok()
                            });
                            Ok(())
                        })
                        .await?;
                    ok()
                });
                running.wait().await;
                child.cancel();
                let r = child.await;
                assert!(matches!(r, Err(JoinError::Cancelled { .. })), "expected cancelled, got {r:?}");
                assert_eq!(
                    deepest.live(),
                    0,
                    "round {round}: the handle reported cancelled while a scope the child opened still had a live child"
                );
                ok()
            })
            .await;
            assert!(r.is_ok(), "{r:?}");
        }
    }));
}

/// O3: once a handle reports a terminal state, the scope's live count no longer includes the
/// child (repeated, so that the child finishing on another runtime thread races the read).
pub fn o3_the_count_drops_before_the_handle_reports(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let r = builder(h)
            .run(async |s| {
                for round in 0..300 {
                    let child = s.spawn(async { ok() });
                    while !child.is_finished() {
                        yield_now().await;
                    }
                    let live = s.live_children();
                    assert_eq!(
                        live,
                        0,
                        "round {round}: the handle says {:?} but the scope counts {live} live children",
                        child.state()
                    );
                    assert_eq!(child.state(), ChildState::Finished, "state reported by handle `child`");
                }
                ok()
            })
            .await;
        assert!(r.is_ok(), "{r:?}");
    }));
}

/// T2: a chain of 10^5 child tokens held only by its leaf is cancelled from the root and then
/// dropped, on a thread with a small stack: both run in constant stack.
pub fn t2_a_deep_token_chain_held_by_its_leaf_drops_in_constant_stack(_h: &dyn Harness) {
    let dropped = std::thread::Builder::new()
        .name("t2-deep-chain".into())
        .stack_size(256 * 1024)
        .spawn(|| {
            let root = CancelToken::new();
            let mut leaf = root.child();
            for _ in 0..100_000 {
                leaf = leaf.child();
            }
            root.cancel();
            assert!(leaf.is_cancelled(), "the cancel did not reach the leaf");
            drop(leaf);
            root.child_count()
        })
        .expect("spawn a thread")
        .join();
    match dropped {
        Ok(children) => assert_eq!(children, 0, "the root still lists {children} children after the chain was dropped"),
        Err(p) => panic!("the chain thread panicked: {}", taskscope_core::panic_message(&*p)),
    }
}

/// L3: racing no futures is refused at the call, before anything runs, with a message that
/// says what to do.
pub fn l3_racing_no_futures_is_refused_at_the_call(h: &dyn Harness) {
    let rt = h.runtime();
    let refused = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
        let futures: Vec<std::future::Ready<Result<(), BoxError>>> = Vec::new();
        let _never_polled = Builder::typed().runtime(rt).race(futures);
    }));
    let payload = refused.expect_err("racing no futures was accepted");
    let msg = taskscope_core::panic_message(&*payload);
    assert!(msg.contains("no futures"), "the panic message does not say what is wrong: {msg:?}");
}

/// C2, L1: a child admitted within the limit (a free slot at spawn) but not polled yet when the
/// scope is cancelled gets the grace period like any running child: it is polled, sees the
/// token, and finishes its cleanup; only a child that had to queue never starts.
pub fn c2_a_child_admitted_within_the_limit_gets_the_grace(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let (polled, cleaned_up) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicBool::new(false)));
        let (p, c) = (polled.clone(), cleaned_up.clone());
        let r = builder(h)
            .grace(Duration::from_secs(30))
            .limit(2)
            .expect("limit 2 is valid")
            .run(async |s| {
                let token = s.token().clone();
                s.spawn(async move {
                    p.store(true, Ordering::SeqCst);
                    token.cancelled().await;
                    c.store(true, Ordering::SeqCst); // async cleanup during the grace
                    ok()
                });
                Err::<(), _>(err("the body fails at once"))
            })
            .await;
        assert_eq!(messages(&expect_failed(r)), ["the body fails at once"]);
        assert!(polled.load(Ordering::SeqCst), "the admitted child was dropped without ever being polled");
        assert!(cleaned_up.load(Ordering::SeqCst), "the admitted child did not get its grace period");
    }));
}

/// L1, S4: on a scope without a limit, `try_spawn` spawns at once while the scope is open (it
/// is never full), and once the scope is cancelling gives the future back as `Closed`,
/// unpolled.
pub fn l1_try_spawn_without_a_limit_spawns_until_the_scope_closes(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let polled = Arc::new(AtomicBool::new(false));
        let r = builder(h)
            .run(async |s| {
                let spawned = s.try_spawn(async { Ok::<_, BoxError>(7) });
                let handle = match spawned {
                    Ok(handle) => handle,
                    Err(e) => panic!("try_spawn on an open scope without a limit was refused: {e}"),
                };
                assert_eq!(handle.await?, 7, "the child spawned by try_spawn returned another value");
                s.cancel();
                let p = polled.clone();
                match s.try_spawn(async move {
                    p.store(true, Ordering::SeqCst);
                    ok()
                }) {
                    Err(TrySpawnError::Closed(_)) => {}
                    Err(TrySpawnError::Full(_)) => panic!("a scope without a limit reported full"),
                    Ok(h) => panic!("try_spawn into a cancelling scope spawned (state {:?})", h.state()),
                }
                ok()
            })
            .await;
        assert!(matches!(r, Err(ScopeError::Cancelled { .. })), "expected the cancelled outcome, got {r:?}");
        assert!(!polled.load(Ordering::SeqCst), "the refused future was polled");
    }));
}

/// F3, C5: a deadline region that ends on its own in a scope that is cancelling hands its
/// caller no cancellation: an error the body returns right after it, in the same poll, is the
/// body's own and is collected, not dropped as a cancellation passed on.
pub fn f3_an_error_after_a_region_that_ended_on_its_own_while_cancelling_is_collected(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let r: Result<(), _> = builder(h)
            .run(async |s| {
                s.cancel();
                let v = fail_after(Duration::from_secs(60), async { 1 }).await;
                assert_eq!(v.ok(), Some(1), "the region ends with its body's value");
                Err(err("cleanup failed"))
            })
            .await;
        expect_cancelled_with(r, &["cleanup failed"], "the body's own error is in the group");
    }));
}

/// L1, S4: a slot handed to a queued child after its scope began cancelling (the parent's
/// token fired, the grace period runs) never starts that child: it ends cancelled, unpolled.
pub fn l1_a_slot_granted_after_the_scope_began_cancelling_never_starts_its_child(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let outer = CancelToken::new();
        let started = Arc::new(AtomicBool::new(false));
        let (o, st) = (outer.clone(), started.clone());
        let mut queued = None;
        let r: Result<(), _> = builder(h)
            .parent(&outer)
            .grace(LONG)
            .limit(1)
            .expect("limit 1 is valid")
            .run(async |s| {
                // Holds the only slot; cancels the parent, then frees the slot as it returns.
                s.spawn(async move {
                    o.cancel();
                    ok()
                });
                queued = Some(s.spawn(async move {
                    st.store(true, Ordering::SeqCst);
                    ok()
                }));
                ok()
            })
            .await;
        assert!(!started.load(Ordering::SeqCst), "the queued child started after the scope began cancelling");
        let queued = queued.expect("the body ran");
        // Cancelled while queued; or, where the first child ran on another thread before the body
        // spawned the second, refused at the spawn (S4).
        let state = queued.state();
        assert!(
            matches!(state, ChildState::Cancelled | ChildState::Closed),
            "the queued child never started: {state:?}"
        );
        assert!(matches!(r, Err(ScopeError::Cancelled { .. })), "the parent cancelled the scope, got {r:?}");
    }));
}

/// F5, F7: the first panic resumes in the owner; a later child's panic payload whose own
/// destructor panics is dropped without unwinding into core or the runtime.
pub fn f5_a_later_panic_payload_that_panics_when_dropped_is_contained(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let dropped = Arc::new(AtomicBool::new(false));
        let d = dropped.clone();
        let caught = catch_panic(builder(h).grace(LONG).run(async |s| {
            let token = s.token().clone();
            s.spawn_named("second", async move {
                token.cancelled().await;
                std::panic::panic_any(PanicOnDrop(d, "a payload that panics when dropped"));
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
        assert_eq!(payload.downcast_ref::<u32>(), Some(&1), "the first panic resumes");
        assert!(dropped.load(Ordering::SeqCst), "the later payload was dropped");
    }));
}

/// F7, B1: a blocking child whose closure panics when dropped, cancelled through its handle
/// right after the spawn, makes the scope resume that panic whether the closure ran (and
/// dropped what it held) or was dropped unrun: never swallowed.
pub fn f7_a_blocking_child_cancelled_before_it_ran_panicking_on_drop_is_a_panic(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        for round in 0..40 {
            let dropped = Arc::new(AtomicBool::new(false));
            let bomb = PanicOnDrop(dropped.clone(), "a blocking closure that panics when dropped");
            let caught = catch_panic(builder(h).run(async |s| {
                let handle = s.spawn_blocking(move |_token| {
                    let _held = bomb;
                    Ok::<_, BoxError>(())
                });
                handle.cancel();
                Ok::<_, BoxError>(())
            }))
            .await;
            let payload = caught.expect_err("the destructor's panic was swallowed");
            let message = payload.downcast_ref::<String>().map(String::as_str);
            assert_eq!(message, Some("a blocking closure that panics when dropped"), "round {round}");
            assert!(dropped.load(Ordering::SeqCst));
        }
    }));
}

/// S4, C6: cancelling starts when the scope's token fires: a spawn made after the parent's
/// token fired, before the owner has run again to close the scope, is refused unpolled.
pub fn s4_a_spawn_after_the_parent_token_fired_is_refused(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let outer = CancelToken::new();
        let polled = Arc::new(AtomicBool::new(false));
        let p = polled.clone();
        let r: Result<(), _> = builder(h)
            .parent(&outer)
            .run(async |s| {
                outer.cancel();
                let handle = s.spawn(async move {
                    p.store(true, Ordering::SeqCst);
                    ok()
                });
                assert_eq!(handle.state(), ChildState::Closed, "a spawn after the parent's token fired");
                ok()
            })
            .await;
        assert!(!polled.load(Ordering::SeqCst), "the refused child was polled");
        assert!(r.is_err_and(|e| e.is_cancelled()), "the parent cancelled the scope");
    }));
}

/// F3, L2: a supervised child's error delivered to its handle and left unread is not lost
/// when the handle is dropped later, while the scope still runs: it goes to the group.
pub fn f3_a_supervised_error_left_in_a_handle_dropped_later_goes_to_the_group(h: &dyn Harness) {
    let rt = h.runtime();
    h.block_on(Box::pin(async move {
        let r = builder(h)
            .policy(Policy::Supervise)
            .run(async |s| {
                let handle = s.spawn_named("unread", async { Err::<(), _>(err("left in the handle")) });
                eventually(&rt, "the child failed", || handle.is_finished()).await;
                assert_eq!(handle.state(), ChildState::Failed);
                drop(handle);
                ok()
            })
            .await;
        expect_members(r, &["left in the handle"], "the unread error is in the group", "expected a failed scope");
    }));
}

/// T2, B1: a finished blocking child's token leaves its scope's token tree even while its
/// handle is kept: nothing of the child's holds on to it.
pub fn t2_a_finished_blocking_childs_token_leaves_the_tree(h: &dyn Harness) {
    let rt = h.runtime();
    h.block_on(Box::pin(async move {
        let r = builder(h)
            .run(async |s| {
                let before = s.token().child_count();
                let handle = s.spawn_blocking(|_token| Ok::<_, BoxError>(7));
                eventually(&rt, "the blocking child finished", || handle.is_finished()).await;
                assert_eq!(s.token().child_count(), before, "the finished child's token is still in the tree");
                assert_eq!(handle.await?, 7);
                ok()
            })
            .await;
        r.expect("the scope succeeds");
    }));
}

/// C8, T1: a shielded child's ambient token is its own, one token throughout: cancelling what
/// `current_token()` gives it cancels the scopes it opens afterwards, never its own scope.
pub fn c8_a_shielded_childs_ambient_token_is_its_own(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let r = builder(h)
            .run(async |s| {
                let handle = s.spawn_shielded(async {
                    taskscope_core::current_token().expect("a child has a token").cancel();
                    let nested: Result<(), _> = Builder::typed().run(async |_| ok()).await;
                    Ok::<_, BoxError>(nested.is_err_and(|e| e.is_cancelled()))
                });
                assert!(handle.await?, "a scope opened after the child's own token fired is cancelled");
                assert!(!s.token().is_cancelled(), "the shielded child's token is not its scope's");
                ok()
            })
            .await;
        r.expect("the scope succeeds");
    }));
}

/// S4, C8: a shielded `try_spawn` through a spawner that outlived its scope is refused with
/// `TrySpawnError::Closed`, the future given back unpolled.
pub fn s4_a_shielded_try_spawn_into_a_finished_scope_is_closed(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let spawner = builder(h).run(async |s| Ok::<_, BoxError>(s.spawner())).await.expect("the scope succeeds");
        match spawner.child().shielded().try_spawn(async { ok() }) {
            Err(TrySpawnError::Closed(_)) => {}
            other => panic!("expected Err(Closed) from a finished scope, got {other:?}"),
        }
    }));
}

/// L1, C8: a shielded `spawn_wait` takes no slot: it spawns at once while every slot is
/// taken.
pub fn l1_a_shielded_spawn_wait_spawns_at_once_while_the_slots_are_taken(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let r = builder(h)
            .limit(1)
            .expect("limit 1 is valid")
            .run(async |s| {
                let release = Gate::new();
                let held = release.clone();
                s.spawn(async move {
                    held.wait().await;
                    ok()
                });
                let mut wait = Box::pin(s.child().shielded().spawn_wait(async { Ok(5) }));
                let handle =
                    futures_lite::future::poll_once(&mut wait).await.expect("a shielded spawn_wait waits for no slot");
                assert_eq!(handle.await?, 5);
                release.open();
                ok()
            })
            .await;
        r.expect("the scope succeeds");
    }));
}

/// F3, B1: a blocking child's own error, returned after its scope's cancellation reached it
/// (no cancellation was handed to it), is collected, not dropped as a cancellation passed on.
pub fn f3_a_blocking_childs_own_error_during_cancellation_is_collected(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let started = Gate::new();
        let st = started.clone();
        let r: Result<(), _> = builder(h)
            .grace(LONG)
            .run(async |s| {
                s.spawn_blocking(move |token| {
                    st.open();
                    futures_lite::future::block_on(token.cancelled());
                    Err::<(), _>(err("cleanup failed"))
                });
                started.wait().await;
                s.cancel();
                ok()
            })
            .await;
        expect_cancelled_with(r, &["cleanup failed"], "the blocking child's own error is in the group");
    }));
}
