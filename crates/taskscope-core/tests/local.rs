//! The local scope (P3): borrowing, `!Send` children, no runtime, every executor.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use std::future::Future;

use futures_lite::future::{block_on, yield_now};
use taskscope_core::{BoxError, ChildState, LocalScope, local_scope};

#[test]
fn children_borrow_from_the_stack_and_mutate_through_refcell() {
    let log = RefCell::new(Vec::new());
    let input = vec![1, 2, 3];
    let out = block_on(local_scope(async |s: &LocalScope<'_, BoxError>| {
        for x in &input {
            let log = &log;
            s.spawn(async move {
                yield_now().await;
                log.borrow_mut().push(*x * 10);
                Ok(())
            });
        }
        Ok(input.len())
    }));
    assert_eq!(out.unwrap(), 3);
    let mut got = log.into_inner();
    got.sort();
    assert_eq!(got, [10, 20, 30]);
}

#[test]
fn rc_children_are_not_send_and_work() {
    let counter = Rc::new(Cell::new(0));
    let h = block_on(local_scope(async |s| {
        let c = counter.clone();
        Ok::<_, BoxError>(s.spawn(async move {
            c.set(c.get() + 1);
            Ok(Rc::clone(&c))
        }))
    }))
    .unwrap();
    assert_eq!(h.state(), ChildState::Finished);
    assert_eq!(h.result().unwrap().get(), 1);
}

#[test]
#[should_panic(expected = "no runtime to time it with")]
fn a_grace_period_without_a_timer_is_refused_when_the_scope_starts() {
    let _ = block_on(
        taskscope_core::LocalBuilder::new()
            .grace(std::time::Duration::from_millis(1))
            .run(async |_s: &LocalScope<'_, BoxError>| Ok(())),
    );
}

#[test]
fn a_spawn_from_outside_the_owners_poll_wakes_the_owner() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::{Context, Poll, Wake, Waker};

    struct Count(AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    let wakes = Arc::new(Count(AtomicUsize::new(0)));
    let waker = Waker::from(wakes.clone());
    let mut cx = Context::from_waker(&waker);

    let gate = taskscope_core::CancelToken::new();
    let slot = RefCell::new(None);
    let mut scope = Box::pin(local_scope(async |s: &LocalScope<'_, BoxError>| {
        *slot.borrow_mut() = Some(s.spawner());
        s.spawn(async {
            gate.cancelled().await;
            Ok(())
        });
        Ok(())
    }));
    assert!(scope.as_mut().poll(&mut cx).is_pending());
    let before = wakes.0.load(Ordering::SeqCst);
    let spawner = slot.borrow_mut().take().unwrap();
    spawner.spawn(async {
        gate.cancel();
        Ok(())
    });
    assert!(wakes.0.load(Ordering::SeqCst) > before, "a spawn from outside did not wake the owner");
    assert!(matches!(scope.as_mut().poll(&mut cx), Poll::Ready(Ok(()))));
}

/// C9: a running child's handle says so: not finished, and `result()` is `JoinError::Running`;
/// once the child is done, `is_finished()` is true.
#[test]
fn a_handle_says_whether_its_child_is_running() {
    let gate = Cell::new(false);
    block_on(local_scope(async |s: &LocalScope<'_, BoxError>| {
        let gate = &gate;
        let waiting = s.spawn(std::future::poll_fn(move |cx| {
            if gate.get() {
                return std::task::Poll::Ready(Ok(()));
            }
            cx.waker().wake_by_ref();
            std::task::Poll::Pending
        }));
        assert!(!waiting.is_finished());
        assert!(matches!(waiting.result(), Err(taskscope_core::JoinError::Running { .. })));
        let done = s.spawn(async { Ok(1) });
        while !done.is_finished() {
            yield_now().await;
        }
        gate.set(true);
        assert_eq!(done.result()?, 1);
        Ok(())
    }))
    .unwrap();
}

/// F5: the handle of a child that panicked says so, once the panic has resumed in the owner.
#[test]
fn a_handle_of_a_panicked_child_says_panicked() {
    let kept = RefCell::new(None);
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        block_on(local_scope(async |s: &LocalScope<'_, BoxError>| {
            *kept.borrow_mut() = Some(s.spawn(async {
                panic!("the child panics");
                #[allow(unreachable_code)]
                Ok(())
            }));
            Ok(())
        }))
    }));
    assert!(r.is_err(), "the panic resumed in the owner");
    let h = kept.into_inner().expect("the body ran");
    assert_eq!(h.state(), ChildState::Panicked);
    assert!(matches!(h.result(), Err(taskscope_core::JoinError::Panicked { .. })));
}

/// F3, L2: a supervised child's error left unread in its handle, which is dropped later while
/// the scope still runs, goes to the group.
#[test]
fn a_supervised_error_left_in_a_handle_dropped_later_goes_to_the_group() {
    let r = block_on(taskscope_core::LocalBuilder::new().policy(taskscope_core::Policy::Supervise).run(
        async |s: &LocalScope<'_, BoxError>| {
            let h = s.spawn(async { Err::<(), _>(BoxError::msg("left in the handle")) });
            while !h.is_finished() {
                yield_now().await;
            }
            drop(h);
            Ok(())
        },
    ));
    match r {
        Err(taskscope_core::ScopeError::Failed(group)) => {
            let members: Vec<String> = group.iter().map(ToString::to_string).collect();
            assert_eq!(members, ["left in the handle"]);
        }
        other => panic!("expected the unread error in the group, got {other:?}"),
    }
}

/// L1, S4: a slot handed to a queued child after its scope began cancelling (the parent's
/// token fired, the grace period runs) never starts that child.
#[test]
fn a_slot_granted_after_the_scope_began_cancelling_never_starts_its_child() {
    let outer = taskscope_core::CancelToken::new();
    let started = Cell::new(false);
    let r = block_on(
        taskscope_core::LocalBuilder::new()
            .runtime(taskscope_core::testing::test_runtime())
            .parent(&outer)
            .grace(std::time::Duration::from_secs(30))
            .limit(1)
            .unwrap()
            .run(async |s: &LocalScope<'_, BoxError>| {
                s.spawn(async {
                    outer.cancel();
                    Ok(())
                });
                let queued = s.spawn(async {
                    started.set(true);
                    Ok(())
                });
                Ok(queued)
            }),
    );
    assert!(r.is_err_and(|e| e.is_cancelled()));
    assert!(!started.get(), "the queued child started after the scope began cancelling");
}

#[test]
fn a_local_scope_dropped_unfinished_releases_the_spawned_scope_around_it() {
    use std::sync::mpsc::channel;
    use std::time::Duration;
    let (counts, seen) = channel();
    let (done, finished) = channel();
    // The spawned scope runs on its own thread: if the local scope kept its hold, that scope
    // would never finish, and this test fails on the count instead of hanging.
    std::thread::spawn(move || {
        let out = block_on(taskscope_core::Builder::new().runtime(taskscope_core::test_runtime()).run(
            async |s: &taskscope_core::Scope<BoxError>| {
                let mut local = Box::pin(local_scope(async |_: &LocalScope<'_, BoxError>| {
                    std::future::pending::<()>().await;
                    Ok(())
                }));
                assert!(futures_lite::future::poll_once(local.as_mut()).await.is_none());
                let held = s.live_children();
                drop(local);
                counts.send((held, s.live_children())).unwrap();
                Ok(())
            },
        ));
        done.send(out.is_ok()).unwrap();
    });
    // While it runs, the local scope holds the spawned scope open like a child (S1); dropped
    // by its owner (C3), it lets go at once.
    assert_eq!(seen.recv().unwrap(), (1, 0));
    assert!(finished.recv_timeout(Duration::from_secs(60)).unwrap());
}

#[test]
fn a_nested_local_scope_opened_in_a_later_poll_still_links_to_the_scope_around_it() {
    use std::task::{Context, Poll, Waker};
    let linked = Cell::new(None);
    let parked: RefCell<Option<Waker>> = RefCell::new(None);
    let mut scope = std::pin::pin!(local_scope(async |s: &LocalScope<'_, BoxError>| {
        let outer = s.token().clone();
        let (linked, parked) = (&linked, &parked);
        s.spawn(async move {
            // Pending until the test polls the scope's future again: the scope's token must
            // still be the thread's parent for scopes opened inside it then (C6, without a
            // runtime).
            let mut first = true;
            std::future::poll_fn(|cx| {
                if std::mem::take(&mut first) {
                    *parked.borrow_mut() = Some(cx.waker().clone());
                    Poll::Pending
                } else {
                    Poll::Ready(())
                }
            })
            .await;
            let _ = local_scope(async |inner: &LocalScope<'_, BoxError>| {
                outer.cancel();
                linked.set(Some(inner.token().is_cancelled()));
                Ok(())
            })
            .await;
            Ok(())
        });
        Ok(())
    }));
    let mut cx = Context::from_waker(Waker::noop());
    assert!(scope.as_mut().poll(&mut cx).is_pending());
    parked.borrow_mut().take().expect("the child parked").wake();
    assert!(scope.as_mut().poll(&mut cx).is_ready());
    assert_eq!(linked.get(), Some(true));
}

#[test]
fn a_local_scope_that_panicked_leaves_no_parent_behind_on_its_thread() {
    let stale = RefCell::new(None);
    let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        block_on(local_scope(async |s: &LocalScope<'_, BoxError>| -> Result<(), BoxError> {
            *stale.borrow_mut() = Some(s.token().clone());
            panic!("the body panics (F5)")
        }))
    }));
    assert!(panicked.is_err());
    let stale = stale.into_inner().unwrap();
    // A scope opened afterwards on this thread, outside any scope, has no parent token.
    let seen =
        block_on(local_scope(async |s: &LocalScope<'_, BoxError>| Ok((s.token().is_cancelled(), stale.child_count()))));
    assert_eq!(seen.unwrap(), (false, 0));
}

#[test]
fn a_spawn_into_an_outer_scope_from_a_nested_scopes_child_runs_in_the_same_poll() {
    let ran = Cell::new(false);
    let mut scope = std::pin::pin!(local_scope(async |outer: &LocalScope<'_, BoxError>| {
        let (spawner, ran) = (outer.spawner(), &ran);
        outer.spawn(async move {
            // The outer scope is in its poll, but the nested scope's queue is this thread's:
            // the spawn goes through the outer scope's shared queue, which the outer poll
            // looks at again before it returns.
            local_scope(async |inner: &LocalScope<'_, BoxError>| {
                inner.spawn(async move {
                    spawner.spawn(async move {
                        ran.set(true);
                        Ok(())
                    });
                    Ok(())
                });
                Ok(())
            })
            .await?;
            Ok(())
        });
        Ok(())
    }));
    let polled = scope.as_mut().poll(&mut std::task::Context::from_waker(std::task::Waker::noop()));
    assert!(matches!(polled, std::task::Poll::Ready(Ok(()))), "the scope did not finish in one poll: {polled:?}");
    assert!(ran.get());
}

#[test]
fn a_scope_says_it_is_closed_only_once_it_cancels() {
    let seen = Cell::new(None);
    let _ = block_on(local_scope(async |s: &LocalScope<'_, BoxError>| {
        let open = s.is_closed();
        s.cancel();
        seen.set(Some((open, s.is_closed())));
        Ok(())
    }));
    assert_eq!(seen.get(), Some((false, true)));
}

#[test]
fn a_scope_reports_the_runtime_it_was_given() {
    let given = taskscope_core::test_runtime();
    let same = block_on(taskscope_core::LocalBuilder::new().runtime(given.clone()).run(
        async |s: &LocalScope<'_, BoxError>| Ok(s.runtime().is_some_and(|rt| std::sync::Arc::ptr_eq(rt, &given))),
    ));
    assert!(same.unwrap());
    let none = block_on(local_scope(async |s: &LocalScope<'_, BoxError>| Ok(s.runtime().is_none())));
    assert!(none.unwrap());
}

/// A started child fails before reporting ready, and its start future is dropped unawaited:
/// the error goes to the scope (F3), which cancels under fail-fast (F1) and not under
/// supervise (L2).
fn drop_a_start_after_an_early_error(policy: taskscope_core::Policy) -> (bool, String) {
    let cancelled = Cell::new(None);
    let r = block_on(taskscope_core::LocalBuilder::new().policy(policy).run(async |s: &LocalScope<'_, BoxError>| {
        let start = s.start(|_ready: taskscope_core::LocalReady<()>| async { Err::<(), _>(BoxError::msg("early")) });
        // The child runs, and fails, before the body goes on.
        yield_now().await;
        drop(start);
        cancelled.set(Some(s.token().is_cancelled()));
        Ok(())
    }));
    (cancelled.get().unwrap(), r.unwrap_err().to_string())
}

#[test]
fn a_dropped_start_gives_its_early_error_to_the_scope_which_cancels_under_fail_fast() {
    let (cancelled, err) = drop_a_start_after_an_early_error(taskscope_core::Policy::FailFast);
    assert!(cancelled);
    assert!(err.contains("early"), "{err}");
}

#[test]
fn a_dropped_start_gives_its_early_error_to_the_scope_which_goes_on_under_supervise() {
    let (cancelled, err) = drop_a_start_after_an_early_error(taskscope_core::Policy::Supervise);
    assert!(!cancelled);
    assert!(err.contains("early"), "{err}");
}

#[test]
fn a_child_queued_for_a_slot_ends_cancelled_as_soon_as_its_scope_cancels() {
    use std::task::{Poll, Waker};
    let open = Rc::new(Cell::new(false));
    let parked: Rc<RefCell<Option<Waker>>> = Rc::default();
    let queued_state = Cell::new(None);
    let _ = block_on(
        taskscope_core::LocalBuilder::new()
            .runtime(taskscope_core::test_runtime())
            .limit(1)
            .unwrap()
            .grace(std::time::Duration::from_secs(600))
            .run(async |s: &LocalScope<'_, BoxError>| {
                // Holds the only slot through the grace period, until the body lets it go.
                let (o, p) = (open.clone(), parked.clone());
                s.spawn(std::future::poll_fn(move |cx| {
                    if o.get() {
                        Poll::Ready(Ok(()))
                    } else {
                        *p.borrow_mut() = Some(cx.waker().clone());
                        Poll::Pending
                    }
                }));
                let queued = s.spawn(async { Ok(()) });
                yield_now().await;
                s.cancel();
                // L1: the queue is closed with the scope, so the queued child is done with now,
                // not when a slot frees or the grace period ends.
                yield_now().await;
                queued_state.set(Some(queued.state()));
                open.set(true);
                if let Some(w) = parked.borrow_mut().take() {
                    w.wake();
                }
                Ok(())
            }),
    );
    assert_eq!(queued_state.get(), Some(ChildState::Cancelled));
}

#[test]
fn a_spawn_right_after_the_scope_token_fires_is_refused() {
    let state = Cell::new(None);
    let _ = block_on(local_scope(async |s: &LocalScope<'_, BoxError>| {
        // The token fires without going through the scope's `cancel`: the scope has not yet
        // seen it, and refuses the spawn all the same (S4).
        s.token().cancel();
        state.set(Some(s.spawn(async { Ok(()) }).state()));
        Ok(())
    }));
    assert_eq!(state.get(), Some(ChildState::Closed));
}
