//! Per-child options that compose: `Spawner::child()` gives any child a name and shielding,
//! then spawns it in any mode (`spawn`, `try_spawn`, `spawn_wait`, `start`, `spawn_blocking`),
//! and each combination keeps the rules of its parts: a name reaches handles and groups (O1),
//! shielding holds against the scope's cancellation but not against the child's own (C8, C9),
//! a limit refuses or waits (L1), a start reports ready (L4), blocking work is waited for (B1).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use taskscope_core::{BoxError, CancelToken, ChildState, JoinHandle, ScopeError, TrySpawnError, current_token};

use crate::Harness;
use crate::support::*;

/// The members of a group, as `[name] error` lines.
fn named_members(e: &ScopeError<BoxError>) -> Vec<String> {
    e.errors().map(|g| g.members().iter().map(ToString::to_string).collect()).unwrap_or_default()
}

/// Spins (on a blocking thread) until `flag` is set, for at most [`PROMPT`].
fn spin_until(flag: &AtomicBool) {
    let start = Instant::now();
    while !flag.load(Ordering::SeqCst) && start.elapsed() < PROMPT {
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
}

/// C8, O1: a named, shielded child keeps running through its scope's cancellation (its token
/// does not fire) and reports its name: its error, returned after the cancel, is in the
/// cancelled outcome's group under that name.
pub fn c8_a_named_shielded_child_survives_cancel_and_reports_its_name(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let log = Log::new();
        let r = builder(h)
            .run(async |s| {
                let gate = Gate::new();
                let (g, l) = (gate.clone(), log.clone());
                let flush = s.child().name("flush").shielded().spawn(async move {
                    g.wait().await; // opened after the cancel below
                    let token = current_token().expect("inside a scope");
                    l.push(if token.is_cancelled() { "flush saw the cancel" } else { "flush ran on" });
                    Err::<(), _>(err("disk full"))
                });
                assert_eq!(flush.name(), Some("flush"), "the handle's name");
                s.cancel();
                gate.open();
                ok()
            })
            .await;
        assert_eq!(log.events(), ["flush ran on"], "events in `log`");
        let e = r.expect_err("the scope was cancelled");
        assert!(e.is_cancelled(), "expected a cancelled outcome, saw {e:?}");
        assert_eq!(named_members(&e), ["[flush] disk full"], "the group of the cancelled outcome");
    }));
}

/// L1, O1: a named `try_spawn` on a scope whose limit is taken gives the future back,
/// unpolled; once a slot is free the same future spawns under its name.
pub fn l1_a_named_try_spawn_on_a_full_limit_gives_the_future_back(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        builder(h)
            .limit(1)
            .expect("1 is a valid limit")
            .run(async |s| {
                let gate = Gate::new();
                let g = gate.clone();
                let first = s.child().name("first").try_spawn(async move {
                    g.wait().await;
                    ok()
                });
                let first = first.expect("a free slot");
                let polled = Arc::new(AtomicBool::new(false));
                let p = polled.clone();
                let second = async move {
                    p.store(true, Ordering::SeqCst);
                    Ok::<_, BoxError>("second's value")
                };
                let fut = match s.child().name("second").try_spawn(second) {
                    Err(TrySpawnError::Full(fut)) => fut,
                    other => panic!("expected Full with the future, got {other:?}"),
                };
                assert!(!polled.load(Ordering::SeqCst), "the refused future was polled");
                gate.open();
                first.await?;
                let second = s.child().name("second").try_spawn(fut).map_err(|e| e.to_string()).expect("a free slot");
                assert_eq!(second.name(), Some("second"), "the handle's name");
                assert_eq!(second.await?, "second's value", "the future that came back ran");
                ok()
            })
            .await
            .unwrap();
    }));
}

/// L1, O1: a named `spawn_wait` waits while the limit is taken, then spawns under its name.
pub fn l1_a_named_spawn_wait_waits_for_a_free_slot(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        builder(h)
            .limit(1)
            .expect("1 is a valid limit")
            .run(async |s| {
                let gate = Gate::new();
                let g = gate.clone();
                let first = s.spawn(async move {
                    g.wait().await;
                    ok()
                });
                let mut waiting = std::pin::pin!(s.child().name("next").spawn_wait(async { Ok::<_, BoxError>(7) }));
                assert!(
                    futures_lite::future::poll_once(waiting.as_mut()).await.is_none(),
                    "spawn_wait spawned into a full scope"
                );
                gate.open();
                let next = waiting.await;
                assert_eq!(next.name(), Some("next"), "the handle's name");
                first.await?;
                assert_eq!(next.await?, 7, "the child's value");
                ok()
            })
            .await
            .unwrap();
    }));
}

/// L4, C8, O1: a named, shielded start reports ready, and its child keeps running through the
/// scope's cancellation; its value is kept for its handle.
pub fn l4_a_named_shielded_start_survives_the_scope_cancel(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let handle: Arc<Mutex<Option<JoinHandle<&str, BoxError>>>> = Arc::default();
        let keep = handle.clone();
        let r = builder(h)
            .run(async |s| {
                let gate = Gate::new();
                let g = gate.clone();
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
                *keep.lock().unwrap() = Some(server);
                s.cancel();
                gate.open();
                ok()
            })
            .await;
        assert!(r.as_ref().is_err_and(ScopeError::is_cancelled), "expected a cancelled outcome, saw {r:?}");
        let server = handle.lock().unwrap().take().expect("the handle was kept");
        assert_eq!(server.result().map_err(|e| e.to_string()), Ok("served"), "the shielded child's value");
    }));
}

/// B1, O1: a named blocking child reports its name: in its handle, and in the group when it
/// fails.
pub fn b1_a_named_blocking_child_reports_its_name(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let r = builder(h)
            .run(async |s| {
                let checksum = s.child().name("checksum").spawn_blocking(|_token| Err::<u64, _>(err("bad sector")));
                assert_eq!(checksum.name(), Some("checksum"), "the handle's name");
                ok()
            })
            .await;
        let e = r.expect_err("the blocking child failed");
        assert_eq!(named_members(&e), ["[checksum] bad sector"], "the group");
    }));
}

/// C8, B1: a shielded blocking child is not cancelled with its scope: its token does not fire
/// when the scope is cancelled, the scope waits for it, and its value is kept.
pub fn c8_a_shielded_blocking_child_is_not_cancelled_with_its_scope(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let handle: Arc<Mutex<Option<JoinHandle<bool, BoxError>>>> = Arc::default();
        let keep = handle.clone();
        let finished = Arc::new(AtomicBool::new(false));
        let done = finished.clone();
        let r = builder(h)
            .run(async |s| {
                let started = Gate::new();
                let st = started.clone();
                let release = Arc::new(AtomicBool::new(false));
                let rel = release.clone();
                let flush = s.child().shielded().spawn_blocking(move |token: &CancelToken| {
                    st.open();
                    spin_until(&rel); // set after the cancel below
                    done.store(true, Ordering::SeqCst);
                    Ok::<_, BoxError>(token.is_cancelled())
                });
                *keep.lock().unwrap() = Some(flush);
                started.wait().await;
                s.cancel();
                release.store(true, Ordering::SeqCst);
                ok()
            })
            .await;
        assert!(r.as_ref().is_err_and(ScopeError::is_cancelled), "expected a cancelled outcome, saw {r:?}");
        assert!(finished.load(Ordering::SeqCst), "the scope returned before its shielded blocking child");
        let flush = handle.lock().unwrap().take().expect("the handle was kept");
        assert_eq!(flush.state(), ChildState::Finished, "the shielded blocking child's state");
        assert_eq!(flush.result().map_err(|e| e.to_string()), Ok(false), "its token fired with the scope's cancel");
    }));
}

/// C9, C8: a shielded blocking child is still cancelled through its own handle, also once its
/// scope is cancelling (the scope's cancellation, which does not reach it, must not use up its
/// handle's way in): its token fires, and it reports cancelled.
pub fn c9_a_shielded_blocking_child_is_cancelled_through_its_handle(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let handle: Arc<Mutex<Option<JoinHandle<u8, BoxError>>>> = Arc::default();
        let keep = handle.clone();
        let saw_token = Arc::new(AtomicBool::new(false));
        let saw = saw_token.clone();
        let r = builder(h)
            .run(async |s| {
                let started = Gate::new();
                let st = started.clone();
                let scan = s.child().name("scan").shielded().spawn_blocking(move |token: &CancelToken| {
                    st.open();
                    let start = Instant::now();
                    while !token.is_cancelled() && start.elapsed() < PROMPT {
                        std::thread::sleep(std::time::Duration::from_millis(1));
                    }
                    saw.store(token.is_cancelled(), Ordering::SeqCst);
                    Ok::<_, BoxError>(1)
                });
                started.wait().await;
                s.cancel(); // the scope cancels first: the shielded child runs on
                scan.cancel(); // then its own handle cancels it
                *keep.lock().unwrap() = Some(scan);
                ok()
            })
            .await;
        assert!(r.as_ref().is_err_and(ScopeError::is_cancelled), "expected a cancelled outcome, saw {r:?}");
        assert!(saw_token.load(Ordering::SeqCst), "the token did not fire on the handle's cancel()");
        let scan = handle.lock().unwrap().take().expect("the handle was kept");
        assert_eq!(scan.state(), ChildState::Cancelled, "the child's state");
    }));
}

/// C3, C8: the owner dropping the scope future fires a shielded blocking child's token (its
/// closure cannot be dropped; the token is how it hears that nothing waits for it any more).
pub fn c3_dropping_the_scope_fires_a_shielded_blocking_childs_token(h: &dyn Harness) {
    let rt = h.runtime();
    h.block_on(Box::pin(async move {
        let started = Gate::new();
        let (saw_token, done) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicBool::new(false)));
        {
            let (st, saw, fin) = (started.clone(), saw_token.clone(), done.clone());
            let scope = builder(h).run(async |s| {
                s.child().shielded().spawn_blocking(move |token: &CancelToken| {
                    st.open();
                    let start = Instant::now();
                    while !token.is_cancelled() && start.elapsed() < PROMPT {
                        std::thread::sleep(std::time::Duration::from_millis(1));
                    }
                    saw.store(token.is_cancelled(), Ordering::SeqCst);
                    fin.store(true, Ordering::SeqCst);
                    ok()
                });
                forever().await;
                ok()
            });
            // Run the scope until its blocking child has started, then drop it.
            futures_lite::future::or(async { drop(scope.await) }, started.wait()).await;
        }
        eventually(&rt, "the blocking closure to return", || done.load(Ordering::SeqCst)).await;
        assert!(saw_token.load(Ordering::SeqCst), "the token did not fire when the owner dropped the scope");
    }));
}

/// C8, L1: a shielded `try_spawn` is accepted by a scope that is full and cancelling (it takes
/// no slot), while an unshielded one is refused as closed.
pub fn c8_a_shielded_try_spawn_is_accepted_while_cancelling(h: &dyn Harness) {
    h.block_on(Box::pin(async move {
        let log = Log::new();
        let r = builder(h)
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
                let l = log.clone();
                let cleanup = s.child().name("cleanup").shielded().try_spawn(async move {
                    yield_now().await;
                    l.push("cleanup ran");
                    ok()
                });
                let cleanup = cleanup.map_err(|e| e.to_string()).expect("a shielded child is accepted");
                assert_eq!(cleanup.name(), Some("cleanup"), "the handle's name");
                drop(busy);
                ok()
            })
            .await;
        assert!(r.as_ref().is_err_and(ScopeError::is_cancelled), "expected a cancelled outcome, saw {r:?}");
        assert_eq!(log.events(), ["cleanup ran"], "events in `log`");
    }));
}
