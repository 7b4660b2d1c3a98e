//! Model checks of a scope's own synchronization, through the public API, with loom: each
//! model runs a small scope whose children are loom threads, and loom explores the
//! interleavings of their atomics, locks and wake-ups (up to a preemption bound).
//!
//! Run with (about a minute in release mode):
//!
//! ```sh
//! RUSTFLAGS="--cfg taskscope_loom" cargo test -p taskscope-core --release --lib --test loom
//! ```
//!
//! The unit-level models (the limit's semaphore, the start slot, the token tree) live next to
//! their code, in `#[cfg(all(test, taskscope_loom))]` modules (the only unit tests compiled
//! under `--cfg taskscope_loom`); `--lib` runs them.
#![cfg(taskscope_loom)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use loom::future::block_on;
use taskscope_core::{
    BlockingJob, BoxError, BoxedSleep, Builder, LocalScope, Policy, RawJoin, Ready, Runtime, ScopeError, Spawn, Task,
    local_scope,
};

/// A runtime whose every task is a loom thread, and whose timers never fire (the models use
/// none).
#[derive(Debug)]
struct LoomRuntime;

impl Runtime for LoomRuntime {
    fn spawn(&self, task: Task) {
        loom::thread::spawn(move || block_on(task));
    }
    fn spawn_blocking(&self, job: BlockingJob) {
        loom::thread::spawn(job);
    }
    fn sleep_until(&self, _deadline: Instant) -> BoxedSleep {
        Box::pin(std::future::pending())
    }
    fn name(&self) -> &'static str {
        "loom"
    }
}

/// The static spawn path under loom: each child is a loom thread, and its join a cell behind
/// one loom mutex (a runtime's own join handle, as far as core can tell). The models spawn
/// through it (`Builder::<LoomSpawn>::typed()`), as the facade spawns through tokio's and
/// smol's own tasks; `a_terminal_handle_is_never_still_counted` keeps the dyn path
/// (`Runtime::spawn` with a `Task`).
#[derive(Clone, Debug)]
struct LoomSpawn;

struct JoinCell<O> {
    out: Option<O>,
    done: bool,
    waker: Option<std::task::Waker>,
}

struct LoomJoin<O>(Arc<loom::sync::Mutex<JoinCell<O>>>);

impl<O: Send + 'static> RawJoin<O> for LoomJoin<O> {
    fn poll_join(&mut self, cx: &mut std::task::Context<'_>) -> std::task::Poll<Option<O>> {
        let mut cell = self.0.lock().unwrap();
        if cell.done {
            return std::task::Poll::Ready(cell.out.take());
        }
        cell.waker = Some(cx.waker().clone());
        std::task::Poll::Pending
    }
    fn is_finished(&self) -> bool {
        self.0.lock().unwrap().done
    }
}

impl Spawn for LoomSpawn {
    type Join<O: Send + 'static> = LoomJoin<O>;

    fn spawn_child<F>(&self, fut: F) -> LoomJoin<F::Output>
    where
        F: std::future::Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let cell = Arc::new(loom::sync::Mutex::new(JoinCell { out: None, done: false, waker: None }));
        let shared = cell.clone();
        loom::thread::spawn(move || {
            let out = block_on(fut);
            let waker = {
                let mut cell = shared.lock().unwrap();
                cell.out = Some(out);
                cell.done = true;
                cell.waker.take()
            };
            if let Some(waker) = waker {
                waker.wake();
            }
        });
        LoomJoin(cell)
    }

    fn runtime(&self) -> Arc<dyn Runtime> {
        rt()
    }

    fn from_runtime(_: &Arc<dyn Runtime>) -> Option<Self> {
        Some(LoomSpawn)
    }
}

/// A builder whose children spawn through [`LoomSpawn`].
fn builder() -> Builder<LoomSpawn> {
    Builder::<LoomSpawn>::typed()
}

fn rt() -> Arc<dyn Runtime> {
    Arc::new(LoomRuntime)
}

/// Runs `f` under loom with a preemption bound that keeps each model to seconds.
fn model(f: impl Fn() + Sync + Send + 'static) {
    model_bounded(2, f);
}

/// [`model`] with a preemption bound of its own: 1 for the models where a sibling's failure
/// aborts the scope while children run on other threads. Each child's slot word, join cell
/// and live count are modelled operations, and at a bound of 2 these models run for over
/// fifteen minutes; the slot protocol they exercise is checked exhaustively (no bound) by the
/// unit models in `scope/table.rs`.
fn model_bounded(bound: usize, f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = Some(bound);
    }
    builder.check(f);
}

/// Counts drops of the values it is attached to.
#[derive(Clone, Default)]
struct Drops(Arc<AtomicUsize>);

impl Drops {
    fn count(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

struct Counted(Drops, &'static str);

impl Drop for Counted {
    fn drop(&mut self) {
        (self.0).0.fetch_add(1, Ordering::SeqCst);
    }
}

impl std::fmt::Debug for Counted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.1)
    }
}

impl std::fmt::Display for Counted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.1)
    }
}

impl std::error::Error for Counted {}

/// S1: the last child's completion hands over to the owner waiting for it (no lost wake-up:
/// loom reports a deadlock if the owner is never woken), and both values are there.
#[test]
fn last_child_completion_wakes_the_waiting_owner() {
    model(|| {
        let r = block_on(builder().runtime(rt()).run(async |s| {
            let a = s.spawn(async { Ok::<_, BoxError>(1) });
            let b = s.spawn(async { Ok::<_, BoxError>(2) });
            Ok((a, b))
        }));
        let (a, b) = r.expect("the scope succeeds");
        assert_eq!((a.result().unwrap(), b.result().unwrap()), (1, 2));
    });
}

/// F1, C1: a child's failure cancels the scope while a sibling registers and finishes on
/// another thread: the group holds the error once, and the scope returns.
#[test]
fn a_failure_racing_a_sibling_completion() {
    model_bounded(1, || {
        let r = block_on(builder().runtime(rt()).run(async |s| {
            s.spawn(async { Err::<(), _>(BoxError::msg("down")) });
            s.spawn(async { Ok::<_, BoxError>(()) });
            Ok(())
        }));
        match r {
            Err(ScopeError::Failed(g)) => assert_eq!(g.len(), 1),
            other => panic!("expected one failure, got {other:?}"),
        }
    });
}

/// C1: a sibling's failure aborts the scope while a child returns its first `Pending` (and
/// registers its waker) on another thread: an abort walk that found no waker yet is made up
/// for, the waiting child is woken and its future dropped (loom reports a deadlock if it never
/// is), and the scope returns the failure.
#[test]
fn an_abort_racing_a_childs_first_pending_wakes_it() {
    model_bounded(1, || {
        let drops = Drops::default();
        let waiter = Counted(drops.clone(), "waiter");
        let r = block_on(builder().runtime(rt()).run(async |s| {
            s.spawn(async move {
                // Owned by the future from the start, polled or not.
                let _owned = waiter;
                std::future::pending::<()>().await;
                Ok::<_, BoxError>(())
            });
            s.spawn(async { Err::<(), _>(BoxError::msg("down")) });
            Ok(())
        }));
        assert!(matches!(r, Err(ScopeError::Failed(_))), "expected the failure, got {r:?}");
        assert_eq!(drops.count(), 1, "the waiting child's future was not dropped");
    });
}

/// A loom runtime whose clock the model moves: `now()` is an hour later once `jump` was called.
/// Its timers never fire, so a deadline is seen only by reading the clock.
#[derive(Debug)]
struct JumpClock {
    base: Instant,
    jumped: AtomicBool,
}

impl JumpClock {
    fn jump(&self) {
        self.jumped.store(true, Ordering::SeqCst);
    }
}

impl Runtime for JumpClock {
    fn spawn(&self, task: Task) {
        LoomRuntime.spawn(task);
    }
    fn spawn_blocking(&self, job: BlockingJob) {
        LoomRuntime.spawn_blocking(job);
    }
    fn sleep_until(&self, deadline: Instant) -> BoxedSleep {
        LoomRuntime.sleep_until(deadline)
    }
    fn now(&self) -> Instant {
        let skew = if self.jumped.load(Ordering::SeqCst) { Duration::from_secs(3600) } else { Duration::ZERO };
        self.base + skew
    }
    fn name(&self) -> &'static str {
        "loom-jump-clock"
    }
}

/// C7, S1: a scope's body returns as the scope's deadline passes while another thread spawns
/// a child that only ends when cancelled, through a spawner the body gave away. Whether the
/// child comes in before the scope finishes or is refused, the scope never waits for it past
/// its deadline (loom reports a deadlock if it does): "elapsed" with the child cancelled, or
/// the body's value with the child refused.
#[test]
fn a_child_spawned_as_a_scope_past_its_deadline_finishes_is_cancelled_or_refused() {
    model(|| {
        let clock = Arc::new(JumpClock { base: Instant::now(), jumped: AtomicBool::new(false) });
        let rt: Arc<dyn Runtime> = clock.clone();
        let r = block_on(builder().runtime(rt).timeout(Duration::from_secs(60)).run(async |s| {
            let spawner = s.spawner();
            loom::thread::spawn(move || {
                drop(spawner.spawn(async {
                    std::future::pending::<()>().await;
                    Ok::<_, BoxError>(())
                }));
            });
            clock.jump();
            Ok::<_, BoxError>(1)
        }));
        match r {
            Ok(1) => {}
            Err(e) if e.is_elapsed() => {}
            other => panic!("expected the value or elapsed, got {other:?}"),
        }
    });
}

/// O3: whenever a handle reports a terminal state, the scope's count no longer includes the
/// child.
#[test]
fn a_terminal_handle_is_never_still_counted() {
    model(|| {
        let r = block_on(Builder::new().runtime(rt()).run(async |s| {
            let h = s.spawn(async { Ok::<_, BoxError>(()) });
            if h.is_finished() {
                assert_eq!(s.live_children(), 0, "a finished child still counted");
            }
            Ok(())
        }));
        r.expect("the scope succeeds");
    });
}

/// F3: a supervised child's error, delivered to its handle, and the handle dropped unread on
/// another thread while the scope finishes: the error is either in the scope's group or
/// dropped with the handle, never left behind in the finished scope.
#[test]
fn an_unread_error_dropped_while_the_scope_finishes_is_never_left_behind() {
    model(|| {
        let drops = Drops::default();
        let d = drops.clone();
        let mut keep = None;
        let mut dropper = None;
        let r = block_on(builder().runtime(rt()).policy(Policy::Supervise).run(async |s| {
            keep = Some(s.spawner());
            let h = s.spawn(async move { Err::<(), _>(BoxError::new(Counted(d, "unread"))) });
            // Hand the handle to a thread that drops it, racing the scope's finish.
            dropper = Some(loom::thread::spawn(move || drop(h)));
            Ok(())
        }));
        dropper.expect("the body ran").join().unwrap();
        match r {
            Ok(()) => {}
            Err(ScopeError::Failed(g)) => assert_eq!(g.len(), 1),
            Err(e) => panic!("unexpected outcome {e}"),
        }
        // The spawner keeps the scope's state alive: an error left in it would not be dropped.
        assert!(keep.is_some());
        assert_eq!(drops.count(), 1, "the unread error was left in the finished scope");
    });
}

/// L4: the reporter moved to another thread races the child's failure: whichever comes first
/// decides; a late report is ignored, the start call returns the child's error, and the
/// error is never lost (it is the start call's, or the report won and it fails the scope).
#[test]
fn a_report_racing_the_childs_failure() {
    model(|| {
        let r = block_on(builder().runtime(rt()).run(async |s| {
            let start = s.start(|ready: Ready<u8>| {
                loom::thread::spawn(move || ready.send(1));
                async { Err::<(), _>(BoxError::msg("failed")) }
            });
            Ok(start.await.map(|(v, _)| v).map_err(|e| e.to_string()))
        }));
        match r {
            // The child failed first: the start call has its error; the scope did not fail.
            Ok(Err(e)) => assert!(e.contains("failed"), "{e}"),
            // The report came first: the start call has the value, and the error fails the scope.
            Err(ScopeError::Failed(g)) => assert_eq!(g.len(), 1),
            other => panic!("the child's error was lost: {other:?}"),
        }
    });
}

/// C3: the owner drops the scope future while a child completes on its own thread: the
/// child's future is dropped, and nothing is counted live afterwards.
#[test]
fn owner_drop_racing_a_child_completion() {
    model(|| {
        let drops = Drops::default();
        let d = drops.clone();
        let mut fut = Box::pin(builder().runtime(rt()).run(async |s| {
            s.spawn(async move {
                let _c = Counted(d, "child");
                Ok::<_, BoxError>(())
            });
            std::future::pending::<()>().await;
            Ok::<_, BoxError>(())
        }));
        // Poll once (the body spawns and waits), then drop the scope future.
        let waker = futures_util::task::noop_waker();
        let _ = fut.as_mut().poll(&mut std::task::Context::from_waker(&waker));
        drop(fut);
        // The child's thread ends by itself; loom runs it to its end before the model ends.
        assert!(drops.count() <= 1);
    });
}

/// O3: two children publishing at once, on their own threads: a child whose handle already
/// reports a terminal state is never still in the scope's count.
#[test]
fn two_children_publishing_at_once_are_never_overcounted() {
    model(|| {
        let r = block_on(builder().runtime(rt()).run(async |s| {
            let a = s.spawn(async { Ok::<_, BoxError>(()) });
            let b = s.spawn(async { Ok::<_, BoxError>(()) });
            // States only move forward: read them first, then the count.
            let finished = usize::from(a.is_finished()) + usize::from(b.is_finished());
            let live = s.live_children();
            assert!(live <= 2 - finished, "{live} counted with {finished} of 2 handles already finished");
            Ok(())
        }));
        r.expect("the scope succeeds");
    });
}

/// C9: a child cancelled through its handle while a scope it opened still has a child on
/// another thread: the handle reports "cancelled" only once that grandchild has been dropped.
#[test]
fn a_cancelled_handle_reports_after_the_childs_scope_drained() {
    model(|| {
        let drops = Drops::default();
        let grandchild = Counted(drops.clone(), "grandchild");
        let r = block_on(builder().runtime(rt()).run(async |s| {
            let h = s.spawn(async move {
                Builder::new()
                    .run(async |inner| {
                        // Owned by the grandchild's future from the start, polled or not.
                        inner.spawn(async move {
                            let _owned = grandchild;
                            std::future::pending::<()>().await;
                            Ok::<_, BoxError>(())
                        });
                        std::future::pending::<()>().await;
                        Ok::<(), BoxError>(())
                    })
                    .await
                    .map_err(BoxError::new)
            });
            h.cancel();
            assert!(h.await.is_err(), "the child was cancelled");
            assert_eq!(drops.count(), 1, "the handle reported before the child's scope drained");
            Ok(())
        }));
        r.expect("the scope succeeds");
    });
}

/// A local child's parking place: set to ready and woken by another thread.
#[derive(Default)]
struct Park(loom::sync::Mutex<(bool, Option<std::task::Waker>)>);

impl Park {
    /// Ready once another thread has called [`Park::wake`]; registers the waker otherwise.
    fn poll(&self, cx: &mut std::task::Context<'_>) -> std::task::Poll<()> {
        let mut p = self.0.lock().unwrap();
        if p.0 {
            return std::task::Poll::Ready(());
        }
        p.1 = Some(cx.waker().clone());
        std::task::Poll::Pending
    }

    fn wake(&self) {
        let waker = {
            let mut p = self.0.lock().unwrap();
            p.0 = true;
            p.1.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }
}

/// P3: a local child woken from another thread while the owner drains its ready queue is
/// polled again (no lost wake-up: loom reports a deadlock if the owner is never woken), once,
/// and its value reaches the owner; the child borrows the owner's stack.
#[test]
fn a_local_child_woken_from_another_thread_is_polled_again() {
    model(|| {
        let park = Arc::new(Park::default());
        let waker_side = park.clone();
        let th = loom::thread::spawn(move || waker_side.wake());
        let borrowed = 41;
        let r = block_on(local_scope(async |s: &LocalScope<'_, BoxError>| {
            let h = s.spawn(async {
                std::future::poll_fn(|cx| park.poll(cx)).await;
                Ok(borrowed + 1)
            });
            let sibling = s.spawn(async { Ok(1) });
            Ok(h.await? + sibling.await?)
        }));
        th.join().unwrap();
        assert_eq!(r.unwrap(), 43);
    });
}

/// P3, C3: a local scope dropped while another thread wakes its parked child drops the child
/// once, on the owner's thread, before the drop returns; the late wake-up touches nothing of
/// the child's.
#[test]
fn a_local_scope_dropped_while_another_thread_wakes_its_child() {
    model(|| {
        let drops = Drops::default();
        let park = Arc::new(Park::default());
        let waker_side = park.clone();
        let owned = Counted(drops.clone(), "child");
        let mut scope = Box::pin(local_scope(async |s: &LocalScope<'_, BoxError>| {
            s.spawn(async {
                let _owned = owned;
                std::future::poll_fn(|cx| park.poll(cx)).await;
                std::future::pending::<()>().await;
                Ok(())
            });
            std::future::pending::<()>().await;
            Ok(())
        }));
        let th = loom::thread::spawn(move || waker_side.wake());
        assert!(block_on(futures_lite::future::poll_once(scope.as_mut())).is_none());
        drop(scope);
        assert_eq!(drops.count(), 1, "the child was dropped with its scope");
        th.join().unwrap();
    });
}
