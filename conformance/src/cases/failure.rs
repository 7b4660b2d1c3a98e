//! F — failure.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use taskscope_core::{BoxError, CancelReason, ChildError, ChildState, ErrorGroup, JoinError, ScopeError};

use crate::Harness;
use crate::support::*;

fn group<T: std::fmt::Debug>(r: Result<T, ScopeError<BoxError>>) -> ErrorGroup<BoxError> {
    match r {
        Err(ScopeError::Failed(g)) => g,
        other => panic!("expected a failed scope, got {other:?}"),
    }
}

/// F1: the first child error cancels the siblings (their futures are dropped).
pub fn f1_child_error_cancels_siblings(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let t = Tracker::new();
        let r = builder(h)
            .run(async |s| {
                for _ in 0..5 {
                    let g = t.guard();
                    s.spawn(async move {
                        let _g = g;
                        forever().await;
                        ok()
                    });
                }
                s.spawn(async { Err::<(), _>(err("boom")) });
                Ok(())
            })
            .await;
        assert_eq!(group(r).cause().to_string(), "boom", "displayed cause of the error group of `r`");
        assert_eq!(t.dropped(), 5, "child futures dropped so far");
    }));
}

/// F1: an error returned by the body cancels the children too.
pub fn f1_body_error_cancels_children(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let t = Tracker::new();
        let r: Result<(), _> = builder(h)
            .run(async |s| {
                let g = t.guard();
                s.spawn(async move {
                    let _g = g;
                    forever().await;
                    ok()
                });
                Err(err("body failed"))
            })
            .await;
        let g = group(r);
        assert_eq!(g.len(), 1, "number of entries in `g`");
        assert_eq!(g.members()[0].name(), None, "child name of member 0 of group `g`");
        assert_eq!(t.live(), 0, "live child futures (guards not yet dropped)");
    }));
}

/// F1: the body is treated like a child: a child's failure cancels the body (drops its future).
pub fn f1_child_error_cancels_body(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let t = Tracker::new();
        let r: Result<(), _> = builder(h)
            .run(async |s| {
                let _g = t.guard();
                s.spawn(async { Err::<(), _>(err("child failed")) });
                forever().await;
                Ok(())
            })
            .await;
        assert_eq!(group(r).cause().to_string(), "child failed", "displayed cause of the error group of `r`");
        assert_eq!(t.live(), 0, "the body's future was not dropped");
    }));
}

/// F2: always a group, even of one; the first error is the cause.
pub fn f2_single_error_is_a_group_of_one(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let r = builder(h)
            .run(async |s| {
                s.spawn_named("only", async { Err::<(), _>(err("e1")) });
                Ok(())
            })
            .await;
        let g = group(r);
        assert_eq!(g.len(), 1, "number of entries in `g`");
        assert_eq!(g.members()[0].name(), Some("only"), "child name of member 0 of group `g`");
    }));
}

/// F2: errors returned during teardown (before the last child is dropped) are collected, in
/// completion order; cancellation itself is never a member.
pub fn f2_errors_collected_in_completion_order(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let second_may_fail = Gate::new();
        let r = builder(h)
            .run(async |s| {
                let gate = second_may_fail.clone();
                s.spawn_named("first", async move {
                    gate.open();
                    Err::<(), _>(err("first"))
                });
                // This child errs from its destructor-free cleanup path: it fails as soon as it
                // sees the token, before it is dropped (it never awaits after that).
                let token = s.token().clone();
                s.spawn_named("second", async move {
                    token.cancelled().await;
                    Err::<(), _>(err("second"))
                });
                s.spawn_named("quiet", async {
                    forever().await;
                    ok()
                });
                Ok(())
            })
            .await;
        let g = group(r);
        let names: Vec<_> = g.members().iter().map(|m| m.name().unwrap().to_string()).collect();
        assert_eq!(names[0], "first", "value of `names[0]`");
        assert!(names.iter().all(|n| n != "quiet"), "a cancelled child became a member");
        // "second" may or may not have been polled before the hard cancel; if it was, it
        // comes after "first".
        assert!(names.len() <= 2, "group members {names:?}: expected at most 2 (first, maybe second)");
    }));
}

/// F2: with a grace period, errors children return while being cancelled are collected after
/// the cause, in completion order.
pub fn f2_errors_during_grace_follow_the_cause(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let r = builder(h)
            .grace(Duration::from_secs(30))
            .run(async |s| {
                for name in ["a", "b"] {
                    let token = s.token().clone();
                    s.spawn_named(name, async move {
                        token.cancelled().await;
                        Err::<(), _>(err(&format!("{name} cleanup failed")))
                    });
                }
                s.spawn_named("cause", async { Err::<(), _>(err("cause")) });
                Ok(())
            })
            .await;
        let g = group(r);
        assert_eq!(g.len(), 3, "number of entries in `g`");
        assert_eq!(g.cause().to_string(), "cause", "displayed cause of group `g`");
        assert_eq!(g.members()[0].name(), Some("cause"), "child name of member 0 of group `g`");
    }));
}

/// F3: every error is reported exactly once: in the group, never again through a handle.
pub fn f3_no_error_lost_or_duplicated(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let n = 50;
        let r = builder(h)
            .grace(Duration::from_secs(30))
            .run(async |s| {
                // Every child is spawned before any fails: a spawn after the first failure
                // would be refused (S4), which is not what this case is about.
                let all_spawned = Gate::new();
                for i in 0..n {
                    let gate = all_spawned.clone();
                    s.spawn_named(format!("c{i}"), async move {
                        gate.wait().await;
                        Err::<(), _>(err(&format!("e{i}")))
                    });
                }
                all_spawned.open();
                Ok(())
            })
            .await;
        let g = group(r);
        let mut msgs: Vec<_> = g.iter().map(|e| e.to_string()).collect();
        msgs.sort();
        msgs.dedup();
        assert_eq!(msgs.len(), g.len(), "an error was reported twice");
        // Under a grace period nothing is dropped early, so every child's error arrives.
        assert_eq!(g.len(), n, "number of entries in `g`");
    }));
}

/// F3: awaiting the handle of a failed child says "failed", without the error value.
pub fn f3_handle_of_failed_child_has_no_error_copy(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let seen = Arc::new(Mutex::new(None));
        let r: Result<(), _> = builder(h)
            .grace(Duration::from_secs(30))
            .run(async |s| {
                let bad = s.spawn_named("bad", async { Err::<(), _>(err("once")) });
                *seen.lock().unwrap() = Some(bad.await);
                Ok(())
            })
            .await;
        assert_eq!(group(r).len(), 1, "members in the error group of `r`");
        let got = seen.lock().unwrap().take().unwrap();
        assert!(matches!(&got, Err(JoinError::Failed { name: Some(n), error: None }) if n == "bad"), "{got:?}");
    }));
}

/// F4: a value returned by a child after cancellation began is dropped, not returned.
pub fn f4_value_after_cancellation_is_dropped(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let t = Tracker::new();
        let mut late = None;
        let r = builder(h)
            .grace(Duration::from_secs(30))
            .run(async |s| {
                let token = s.token().clone();
                let g = t.guard();
                late = Some(s.spawn(async move {
                    token.cancelled().await;
                    Ok::<_, BoxError>(g) // the value itself is a guard
                }));
                s.spawn(async { Err::<Guard, _>(err("boom")) });
                Ok(())
            })
            .await;
        assert_eq!(group(r).len(), 1, "members in the error group of `r`");
        let late = late.unwrap();
        assert_eq!(late.state(), ChildState::Cancelled, "state reported by handle `late`");
        let result = late.result();
        assert!(
            matches!(result, Err(JoinError::Cancelled { .. })),
            "the late child's result: expected Err(Cancelled), saw {:?}",
            result.map(|_| "a value")
        );
        assert_eq!(t.live(), 0, "the late value was kept");
    }));
}

/// F5: a child panic cancels the siblings; once every child is dropped the panic resumes in
/// the owner with its original payload.
pub fn f5_panic_resumes_in_owner_after_siblings_dropped(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let t = Tracker::new();
        let siblings_dropped_at_resume = Arc::new(AtomicUsize::new(usize::MAX));
        let fut = builder(h).run(async |s| {
            for _ in 0..5 {
                let g = t.guard();
                s.spawn(async move {
                    let _g = g;
                    forever().await;
                    ok()
                });
            }
            s.spawn(async {
                std::panic::panic_any(42_u32);
                #[allow(unreachable_code)]
                ok()
            });
            Ok(())
        });
        let caught = futures_lite::future::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(fut)).await;
        siblings_dropped_at_resume.store(t.dropped(), Ordering::SeqCst);
        let payload = caught.expect_err("the panic did not resume in the owner");
        assert_eq!(payload.downcast_ref::<u32>(), Some(&42), "the payload changed");
        assert_eq!(siblings_dropped_at_resume.load(Ordering::SeqCst), 5, "value of `siblings_dropped_at_resume`");
        assert_eq!(t.live(), 0, "live child futures (guards not yet dropped)");
    }));
}

/// F5: a panic in the body cancels the children and resumes after they are dropped.
pub fn f5_body_panic_resumes_after_children_dropped(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let t = Tracker::new();
        let fut = builder(h).run(async |s| {
            let g = t.guard();
            s.spawn(async move {
                let _g = g;
                forever().await;
                ok()
            });
            yield_now().await;
            panic!("body panic");
            #[allow(unreachable_code)]
            Ok(())
        });
        let caught = futures_lite::future::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(fut)).await;
        let payload = caught.expect_err("the panic did not resume");
        assert_eq!(taskscope_core::panic_message(&*payload), "body panic", "message of the resumed panic");
        assert_eq!(t.live(), 0, "live child futures (guards not yet dropped)");
    }));
}

/// F5: the panicking child's handle says "panicked"; siblings see the reason.
pub fn f5_siblings_see_panic_reason(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let reason = Arc::new(Mutex::new(None));
        let fut = builder(h).grace(Duration::from_secs(30)).run(async |s| {
            let (token, r) = (s.token().clone(), reason.clone());
            s.spawn(async move {
                token.cancelled().await;
                *r.lock().unwrap() = token.reason().cloned();
                ok()
            });
            s.spawn_named("bomb", async {
                panic!("kaboom");
                #[allow(unreachable_code)]
                ok()
            });
            Ok(())
        });
        let caught = futures_lite::future::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(fut)).await;
        assert!(caught.is_err(), "expected a panic, saw none");
        assert_eq!(
            reason.lock().unwrap().clone(),
            Some(CancelReason::SiblingPanicked { name: Some("bomb".into()) }),
            "value of `reason.lock().unwrap().clone()`"
        );
    }));
}

/// F6: the group splits like `except*`: by predicate and by type, handling one part and
/// propagating the rest; Display lists every member with child names.
pub fn f6_group_splits_by_type_and_displays_names(h: &dyn Harness) {
    #[derive(Debug)]
    struct ValueError;
    impl std::fmt::Display for ValueError {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("bad value")
        }
    }
    impl std::error::Error for ValueError {}
    h.block_on(Box::pin(async move {
        let r = builder(h)
            .grace(Duration::from_secs(30))
            .run(async |s| {
                // "parse" fails only after "io" has (when the token fires): a fixed order.
                let token = s.token().clone();
                s.spawn_named("parse", async move {
                    token.cancelled().await;
                    Err::<(), BoxError>(BoxError::new(ValueError))
                });
                s.spawn_named("io", async { Err::<(), BoxError>(err("disk full")) });
                Ok(())
            })
            .await;
        let g = group(r);
        let text = g.to_string();
        assert!(text.contains("[parse] bad value") && text.contains("[io] disk full"), "{text}");
        assert_eq!(g.members()[0].name(), Some("io"), "completion order");
        let (values, rest) = g.split_type::<ValueError>();
        assert_eq!(
            values.unwrap().members()[0].name(),
            Some("parse"),
            "value of `values.unwrap().members()[0].name()`"
        );
        let rest = rest.unwrap();
        assert_eq!(rest.len(), 1, "number of entries in `rest`");
        assert_eq!(rest.cause().to_string(), "disk full", "displayed cause of group `rest`");
        let (io, none) = rest.split(|e| e.to_string().contains("disk"));
        assert!(
            io.is_some() && none.is_none(),
            "split by \"disk\": expected (Some, None), saw ({}, {})",
            if io.is_some() { "Some" } else { "None" },
            if none.is_some() { "Some" } else { "None" }
        );
    }));
}

/// F6: nested scopes nest groups; `split_type` finds matching errors inside nested groups.
pub fn f6_nested_scopes_nest_groups(h: &dyn Harness) {
    #[derive(Debug)]
    struct Leaf;
    impl std::fmt::Display for Leaf {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("leaf")
        }
    }
    impl std::error::Error for Leaf {}
    h.block_on(Box::pin(async move {
        let r: Result<(), _> = builder(h)
            .run(async |s| {
                s.spawn_named("outer-child", async {
                    Builder::typed()
                        .run(async |inner| {
                            inner.spawn_named("inner-child", async { Err::<(), BoxError>(BoxError::new(Leaf)) });
                            Ok(())
                        })
                        .await?;
                    ok()
                });
                Ok(())
            })
            .await;
        let g = group(r);
        let nested = g.cause().downcast_ref::<ScopeError<BoxError>>().expect("the member is the inner scope's error");
        assert!(matches!(nested, ScopeError::Failed(inner) if inner.members()[0].name() == Some("inner-child")), "expected `nested` to match `ScopeError::Failed(inner) if inner.members()[0].name() == Some(\"inner-child\")`, saw {nested:?}");
        let (leaves, rest) = g.split_type::<Leaf>();
        assert!(rest.is_none(), "the rest of the split: expected nothing left, saw {rest:?}");
        let leaves = leaves.unwrap();
        assert_eq!(leaves.members()[0].name(), Some("inner-child"), "child name of member 0 of group `leaves`");
        let _: &ChildError<Leaf> = &leaves.members()[0];
    }));
}

/// F7: a panic in a child's destructor while it is being cancelled is caught and handled as a
/// panic (resumes in the owner); the process survives, on every runtime.
pub fn f7_panic_in_destructor_during_cancel(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let ran = Arc::new(AtomicBool::new(false));
        let t = Tracker::new();
        let fut = builder(h).run(async |s| {
            let bomb = PanicOnDrop(ran.clone(), "destructor panic");
            s.spawn(async move {
                let _b = bomb;
                forever().await;
                ok()
            });
            let g = t.guard();
            s.spawn(async move {
                let _g = g;
                forever().await;
                ok()
            });
            yield_now().await;
            s.cancel();
            Ok(())
        });
        let caught = futures_lite::future::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(fut)).await;
        assert!(ran.load(Ordering::SeqCst), "`ran` was false, expected true");
        let payload = caught.expect_err("the destructor panic was lost");
        assert_eq!(taskscope_core::panic_message(&*payload), "destructor panic", "message of the resumed panic");
        assert_eq!(t.live(), 0, "live child futures (guards not yet dropped)");
    }));
}
