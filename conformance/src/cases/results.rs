//! Results with any error type: `Builder::all` runs futures as the children of one scope and
//! gives every value in spawn order, or the scope's own error — the group of every error, each
//! once, or the cancellation — whatever the error type (S1, F2, F3, C5, C7, L1, L2, L3); and
//! `JoinHandle::join` passes a handle's end on with `?` into the user's own error enum, through
//! the `From<ScopeError<E>>` that nested scopes use, without ever counting an error twice (F2,
//! F3, L2, C9).
//!
//! Every case here uses a typed error enum, never `BoxError`.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use taskscope_core::{CancelReason, CancelToken, Policy, ScopeError, current_token};

use crate::Harness;
use crate::support::*;

/// A user's own error type: the kinds a fetch fails with, and the one conversion `?` needs for
/// nested scopes and for `JoinHandle::join`.
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

/// A fetch, boxed so that different ones go in one list.
type Fetch = std::pin::Pin<Box<dyn Future<Output = Result<u8, FetchError>> + Send>>;

/// The values of a scope that must have succeeded.
fn values<T>(r: Result<T, ScopeError<FetchError>>) -> T {
    r.unwrap_or_else(|e| panic!("expected the scope to succeed, got {e:?}"))
}

/// The errors of a group, as `(child name, error)` pairs, in completion order.
fn members(group: &taskscope_core::ErrorGroup<FetchError>) -> Vec<(Option<&str>, &FetchError)> {
    group.members().iter().map(|m| (m.name(), m.error())).collect()
}

/// S1: `all` gives every value in spawn order when the children finish in the reverse order.
pub fn s1_all_gives_every_value_in_spawn_order(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let n = 5;
        let gates: Vec<Gate> = (0..n).map(|_| Gate::new()).collect();
        let finished = Log::new();
        let futures: Vec<_> = (0..n)
            .map(|i| {
                let (mine, previous, log) =
                    (gates[i].clone(), i.checked_sub(1).map(|p| gates[p].clone()), finished.clone());
                async move {
                    // The last child finishes first and lets the one before it finish, and so on.
                    if i + 1 < n {
                        mine.wait().await;
                    }
                    log.push(i.to_string());
                    if let Some(previous) = previous {
                        previous.open();
                    }
                    Ok::<_, FetchError>(i * 10)
                }
            })
            .collect();
        let r = builder(h).all(futures).await;
        assert_eq!(finished.events(), ["4", "3", "2", "1", "0"], "the children's completion order");
        assert_eq!(values(r), [0, 10, 20, 30, 40], "the values, in spawn order");
    }));
}

/// F2, F3: when the scope fails, `all` gives the scope's group: every error returned before the
/// last child was dropped, each once, in completion order, with no member for a child that
/// was cancelled (and no panic for it).
pub fn f2_all_of_a_failed_scope_gives_the_group_with_each_error_once(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let token_of = || current_token().expect("a child runs inside its scope");
        let first = async { Err::<u8, _>(FetchError::NotFound("a")) };
        let during_grace = async move {
            token_of().cancelled().await;
            Err(FetchError::Refused("b"))
        };
        let cancelled = async move {
            token_of().cancelled().await;
            Ok(3) // after the cancellation: dropped (F4), never a value of `all`
        };
        let futures: Vec<Fetch> = vec![Box::pin(during_grace), Box::pin(cancelled), Box::pin(first)];
        let r = builder(h).grace(Duration::from_secs(30)).all(futures).await;
        let Err(ScopeError::Failed(group)) = r else { panic!("expected the failed scope's group, got {r:?}") };
        assert_eq!(
            members(&group),
            [(None, &FetchError::NotFound("a")), (None, &FetchError::Refused("b"))],
            "the group: the cause, then the error returned during the grace, each once"
        );
    }));
}

/// C5: a scope cancelled from outside gives `all` one bare "cancelled" with the reason, never
/// a panic for the children that did not finish.
pub fn c5_all_of_a_cancelled_scope_is_cancelled_not_a_panic(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let outer = CancelToken::new();
        let canceller = outer.clone();
        let finished = Tracker::new();
        let (g1, g2) = (finished.guard(), finished.guard());
        let futures: Vec<Fetch> = vec![
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
        let r = builder(h).parent(&outer).all(futures).await;
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

/// C7: `all` under a timeout that passes gives "elapsed" once every child is dropped.
pub fn c7_all_past_its_timeout_is_elapsed(h: &dyn Harness) {
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
        let r = builder(h).timeout(Duration::from_millis(20)).all(futures).await;
        assert!(r.as_ref().is_err_and(ScopeError::is_elapsed), "expected elapsed, got {r:?}");
        assert_eq!(children.live(), 0, "a child outlived `all`");
    }));
}

/// L1: `all` keeps the builder's concurrency limit, and still gives the values in spawn order.
pub fn l1_all_keeps_the_limit(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let (running, peak) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let futures: Vec<_> = (0..8u32)
            .map(|i| {
                let (running, peak) = (running.clone(), peak.clone());
                async move {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    peak.fetch_max(now, Ordering::SeqCst);
                    for _ in 0..3 {
                        yield_now().await;
                    }
                    running.fetch_sub(1, Ordering::SeqCst);
                    Ok::<_, FetchError>(i)
                }
            })
            .collect();
        let r = builder(h).limit(2).expect("2 is a valid limit").all(futures).await;
        assert_eq!(values(r), (0..8).collect::<Vec<_>>(), "the values, in spawn order");
        let peak = peak.load(Ordering::SeqCst);
        assert!((1..=2).contains(&peak), "at most 2 children at once, saw {peak}");
    }));
}

/// L2: under the supervise policy `all` lets every child run to its end, and gives the group
/// of every error.
pub fn l2_all_under_supervise_runs_every_child_and_gives_every_error(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let failed = Gate::new();
        let finished = Arc::new(AtomicBool::new(false));
        let (f1, f2, done) = (failed.clone(), failed.clone(), finished.clone());
        let futures: Vec<Fetch> = vec![
            Box::pin(async move {
                f1.open();
                Err(FetchError::NotFound("a"))
            }),
            Box::pin(async move {
                f2.wait().await; // after a sibling failed: not cancelled
                yield_now().await;
                done.store(true, Ordering::SeqCst);
                Ok(2)
            }),
            Box::pin(async { Err(FetchError::Refused("c")) }),
        ];
        let r = builder(h).policy(Policy::Supervise).all(futures).await;
        let Err(ScopeError::Failed(group)) = r else { panic!("expected the group of both errors, got {r:?}") };
        let mut errors: Vec<_> = group.iter().collect();
        errors.sort_by_key(|e| format!("{e:?}"));
        assert_eq!(errors, [&FetchError::NotFound("a"), &FetchError::Refused("c")], "every error, each once");
        assert!(finished.load(Ordering::SeqCst), "a failure cancelled a supervised sibling");
    }));
}

/// L3: `all` under the race policy is refused at the call, before any future is polled: a race
/// keeps only the first success.
pub fn l3_all_under_race_is_refused_at_the_call(h: &dyn Harness) {
    let polled = Arc::new(AtomicBool::new(false));
    let p = polled.clone();
    let futures = vec![async move {
        p.store(true, Ordering::SeqCst);
        Ok::<_, FetchError>(1)
    }];
    let refused = catch_unwind(AssertUnwindSafe(|| drop(builder(h).policy(Policy::Race).all(futures))));
    let payload = refused.expect_err("`all` under Policy::Race was accepted");
    let message = taskscope_core::panic_message(&*payload);
    assert!(message.contains("use `race`"), "the panic should say what to use instead, said: {message}");
    assert!(!polled.load(Ordering::SeqCst), "a future was polled");
}

/// F3, F1: a typed error passed on with `h.join().await?` from a failed child (under a grace
/// period, so the body is still polled) is the scope's cancellation coming back: the group
/// holds the child's error once, no second member for the body.
pub fn f3_a_typed_error_passed_on_with_join_is_not_a_second_member(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let r = builder(h)
            .grace(Duration::from_secs(30))
            .run(async |s: &Scope<FetchError>| {
                let fetch = s.spawn_named("fetch", async { Err::<u8, _>(FetchError::NotFound("x")) });
                let page = fetch.join().await?; // compiles with the user's own enum
                Ok(page)
            })
            .await;
        let Err(ScopeError::Failed(group)) = r else { panic!("expected a failed scope, got {r:?}") };
        assert_eq!(members(&group), [(Some("fetch"), &FetchError::NotFound("x"))], "only the child's error, once");
    }));
}

/// L2: `join` gives a supervised child's own typed error back, not wrapped, and a value through
/// `?`; the error is the body's to handle, not the group's.
pub fn l2_join_gives_a_supervised_childs_own_typed_error(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let r = builder(h)
            .policy(Policy::Supervise)
            .run(async |s: &Scope<FetchError>| {
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

/// C9: `join` on a child cancelled through its handle gives the user's error type, converted
/// from a bare cancelled scope error that names the child; the scope does not fail.
pub fn c9_join_of_a_child_cancelled_through_its_handle_is_a_typed_error(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let r = builder(h)
            .run(async |s: &Scope<FetchError>| {
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
