//! Blocking children (B1, C8, C9): a closure on the runtime's blocking pool, waited for by its
//! scope, watching a token of its own that the scope's cancellation and its handle's `cancel`
//! both fire (a shielded one's: only its handle's `cancel` and the owner dropping the scope);
//! its span (O2), entered while the closure runs.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Weak};
use std::task::{Context, Poll};

use super::ambient::poll_tracked;
use super::body::{ChildInfo, End, cancel_reason, publish_end};
use super::handle::{JoinHandle, child_state};
use super::inner::Inner;
use super::outcome::Outcome;
use super::table::TaskSlot;
use super::{SpawnOpts, Spawner};
use crate::erased::ErasedJoin;
use crate::spawn::{RawJoin, Spawn};
use crate::sync::{AtomicBool, AtomicWaker, Mutex, Ordering};
use crate::token::{CancelReason, CancelToken, Name};
use crate::trace::ChildSpan;
use crate::util::lock;

impl<E: Send + 'static, R: Spawn> Spawner<E, R> {
    /// Runs blocking work in the scope (B1), on the runtime's blocking pool (tokio's
    /// `spawn_blocking`, smol's `blocking::unblock`), like Python's `asyncio.to_thread`.
    ///
    /// The closure gets a token of its own, a child of the scope's: it fires when the scope is
    /// cancelled and when the returned handle's [`cancel`](JoinHandle::cancel) is called. A
    /// running closure cannot be dropped, so it should check [`CancelToken::is_cancelled`] to
    /// stop early. The scope waits for it (S1) however the scope ends; its error fails the
    /// scope and its panic resumes in the owner like any child's. If the scope is cancelled
    /// before the closure starts, it never runs. Cancelled through its handle, whatever it
    /// returns is dropped and the handle reports [`ChildState::Cancelled`](crate::ChildState::Cancelled) (C9). It does not
    /// count against a concurrency limit (the blocking pool bounds it). Short for
    /// `self.child().spawn_blocking(f)`; [`ChildBuilder`](crate::ChildBuilder) names or
    /// shields it.
    ///
    /// ```
    /// # use taskscope_core::{Builder, BoxError};
    /// # let rt = taskscope_core::test_runtime();
    /// # futures_lite::future::block_on(async {
    /// let sum = Builder::new().runtime(rt).run(async |s| {
    ///     let h = s.spawn_blocking(|token| {
    ///         let mut sum = 0u64;
    ///         for i in 0..1_000u64 {
    ///             if token.is_cancelled() { break; } // stop early when the scope cancels
    ///             sum += i;
    ///         }
    ///         Ok::<_, BoxError>(sum)
    ///     });
    ///     Ok(h.await?)
    /// }).await?;
    /// assert_eq!(sum, 499_500);
    /// # Ok::<_, BoxError>(()) }).unwrap();
    /// ```
    pub fn spawn_blocking<F, T>(&self, f: F) -> JoinHandle<T, E>
    where
        F: FnOnce(&CancelToken) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
    {
        self.child().spawn_blocking(f)
    }

    /// Runs blocking work as a child spawned as `how` says (its name, its shielding).
    pub(super) fn spawn_blocking_child<F, T>(&self, how: SpawnOpts<E>, f: F) -> JoinHandle<T, E>
    where
        F: FnOnce(&CancelToken) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
    {
        let shielded = how.shielded;
        let Some((task, handle)) = self.admit(shielded) else { return self.refused(how.name, f) };
        let info = self.child_info(how.name);
        let cell =
            Arc::new(BlockingCell { end: Mutex::new(None), done: AtomicBool::new(false), waker: AtomicWaker::new() });
        // The closure watches a token of its own. The handle's `cancel` fires it: the slot's
        // waker is a `CancelOnWake` (C9). So does the scope's cancellation: through the token
        // tree for an ordinary child; for a shielded one (C8), whose token is no child of the
        // scope's, only when the owner drops the scope (C3), through the walk that reaches
        // shielded slots then.
        let token = if shielded { CancelToken::new() } else { self.inner.token.child() };
        let waker =
            std::task::Waker::from(Arc::new(CancelOnWake { token: token.clone(), scope: Arc::downgrade(&self.inner) }));
        if task.register(&waker) {
            waker.wake_by_ref();
        }
        let span = ChildSpan::new(&self.inner.span, ChildInfo::name(&info), Some(&self.inner.rt));
        let job = BlockingChild {
            scope: self.inner.clone(),
            cell: cell.clone(),
            info: info.clone(),
            task: Some(task),
            token: Some(token),
            shielded,
            f: Some(f),
            span,
        };
        self.inner.rt.spawn_blocking(Box::new(move || job.run()));
        JoinHandle::new(handle, ErasedJoin::new(BlockingJoin(cell)), info)
    }
}

/// A blocking job of a scope (B1): reports its outcome, and if the pool drops it unrun (at
/// shutdown), reports it cancelled, so the scope never waits forever.
struct BlockingChild<F, T, E> {
    scope: Arc<Inner<E>>,
    /// Where the job's end goes, for its handle.
    cell: Arc<BlockingCell<End<T, E>>>,
    info: Option<Arc<ChildInfo<E>>>,
    /// The task's side of the child's slot; `None` once the state is published.
    task: Option<TaskSlot>,
    /// The closure's token; `None` once the job ended (it leaves the token tree before the
    /// child's state is published: T2).
    token: Option<CancelToken>,
    shielded: bool,
    f: Option<F>,
    span: ChildSpan,
}

/// Where a blocking child's end waits for its handle: the blocking pool's jobs have no join
/// handle of their own.
struct BlockingCell<O> {
    end: Mutex<Option<O>>,
    done: AtomicBool,
    waker: AtomicWaker,
}

/// The handle's side of a [`BlockingCell`]: a [`RawJoin`] like a runtime's join handle.
struct BlockingJoin<O>(Arc<BlockingCell<O>>);

impl<O: Send + 'static> RawJoin<O> for BlockingJoin<O> {
    fn poll_join(&mut self, cx: &mut Context<'_>) -> Poll<Option<O>> {
        if !self.0.done.load(Ordering::Acquire) {
            self.0.waker.register(cx.waker());
            if !self.0.done.load(Ordering::Acquire) {
                return Poll::Pending;
            }
        }
        Poll::Ready(lock(&self.0.end).take())
    }
    fn is_finished(&self) -> bool {
        self.0.done.load(Ordering::Acquire)
    }
}

/// A blocking child's task waker, stored in its slot: waking it fires the child's token. The
/// handle's `cancel` wakes it (C9), and so does the scope's walk: for a shielded child (C8)
/// only once the owner dropped the scope (C3), which is the reason it then gives.
struct CancelOnWake<E> {
    token: CancelToken,
    scope: Weak<Inner<E>>,
}

impl<E: Send + 'static> std::task::Wake for CancelOnWake<E> {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        let reason = if self.scope.upgrade().is_none_or(|scope| scope.owner_gone.load(Ordering::SeqCst)) {
            CancelReason::Dropped
        } else {
            CancelReason::Explicit(Name::Borrowed("JoinHandle::cancel() called"))
        };
        self.token.cancel_with(reason);
    }
}

impl<F, T, E> BlockingChild<F, T, E>
where
    F: FnOnce(&CancelToken) -> Result<T, E>,
{
    fn run(mut self) {
        let Some(f) = self.f.take() else { return };
        let stopped = if self.shielded { &self.scope.owner_gone } else { &self.scope.aborted };
        let outcome = if stopped.load(Ordering::SeqCst) || self.cancelled() {
            // Cancelled before it started: never run it. A panic from the closure's destructor
            // is the child's panic, as for a future dropped while cancelled (F7).
            catch_unwind(AssertUnwindSafe(move || drop(f))).map_or_else(Outcome::Panic, |()| Outcome::Cancelled)
        } else {
            // Tracked like a child's poll: an error returned in the same call that read a
            // cancellation core handed over (a failed sibling's error-less `JoinError`) is
            // that cancellation passed on (F2, F3).
            let (ran, handed) = {
                let _entered = self.span.enter();
                let token = self.token.as_ref().expect("taskscope: a blocking job's token lives until it ends");
                poll_tracked(None, || catch_unwind(AssertUnwindSafe(|| f(token))))
            };
            match ran {
                // Cancelled through its handle while it ran (C9): whatever it returned is
                // dropped, and it reports "cancelled", not a failure.
                Ok(result) if self.cancelled() => catch_unwind(AssertUnwindSafe(move || drop(result)))
                    .map_or_else(Outcome::Panic, |()| Outcome::Cancelled),
                Ok(Ok(v)) => Outcome::Value(v),
                Ok(Err(e)) if handed && self.scope.token.is_cancelled() => {
                    catch_unwind(AssertUnwindSafe(move || drop(e))).map_or_else(Outcome::Panic, |()| Outcome::Cancelled)
                }
                Ok(Err(e)) => Outcome::Error(e),
                Err(p) => Outcome::Panic(p),
            }
        };
        self.publish(outcome);
    }
}

impl<F, T, E> BlockingChild<F, T, E> {
    /// The job ended: its token leaves the scope's token tree (the job's and the
    /// cancel-on-wake waker's references), then the child's state is published, so that whoever
    /// sees the handle finished sees the tree without it (T2).
    fn publish(&mut self, outcome: Outcome<T, E>) {
        drop(self.token.take());
        let (state, kept) = self.scope.child_end(ChildInfo::name(&self.info), outcome, self.shielded);
        let task = self.task.take().expect("taskscope: a blocking child publishes once");
        let (scope, by_handle) = (&self.scope, task.is_cancelled());
        self.span.end(child_state(state), || cancel_reason(scope, by_handle));
        // The slot drops the cancel-on-wake waker with the task's side of the slot: the token
        // leaves the tree before the state is visible (T2).
        let end = publish_end(self.scope.clone(), task, &self.info, state, kept);
        *lock(&self.cell.end) = Some(end);
        self.cell.done.store(true, Ordering::Release);
        self.cell.waker.wake();
    }

    /// Whether the handle cancelled the child (C9).
    fn cancelled(&self) -> bool {
        self.task.as_ref().is_some_and(TaskSlot::is_cancelled)
    }
}

impl<F, T, E> Drop for BlockingChild<F, T, E> {
    fn drop(&mut self) {
        if let Some(f) = self.f.take() {
            let outcome = match catch_unwind(AssertUnwindSafe(move || drop(f))) {
                Ok(()) => Outcome::Cancelled,
                Err(p) => Outcome::Panic(p),
            };
            self.publish(outcome);
        }
    }
}

#[cfg(all(test, not(taskscope_loom)))]
mod tests {
    use std::sync::atomic::AtomicBool;
    use std::sync::{Arc, Mutex};
    use std::time::Instant;

    use futures_lite::future::block_on;

    use crate::error::{BoxError, JoinError};
    use crate::runtime::{BlockingJob, BoxedSleep, Runtime, Task};
    use crate::sync::Ordering;
    use crate::{Builder, ChildState};

    /// A runtime whose blocking pool holds each job until the test runs or drops it.
    struct HeldJobs(Arc<dyn Runtime>, Mutex<Vec<BlockingJob>>);

    impl std::fmt::Debug for HeldJobs {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("HeldJobs")
        }
    }

    impl HeldJobs {
        fn take(&self) -> BlockingJob {
            self.1.lock().unwrap().pop().expect("a blocking job was spawned")
        }
    }

    impl Runtime for HeldJobs {
        fn spawn(&self, task: Task) {
            self.0.spawn(task);
        }
        fn spawn_blocking(&self, job: BlockingJob) {
            self.1.lock().unwrap().push(job);
        }
        fn sleep_until(&self, deadline: Instant) -> BoxedSleep {
            self.0.sleep_until(deadline)
        }
        fn name(&self) -> &'static str {
            "held-jobs"
        }
    }

    fn held() -> Arc<HeldJobs> {
        Arc::new(HeldJobs(crate::testing::test_runtime(), Mutex::new(Vec::new())))
    }

    /// C9: a blocking child cancelled through its handle before its job starts never runs.
    #[test]
    fn a_job_cancelled_by_its_handle_before_it_starts_never_runs() {
        let rt = held();
        let ran = Arc::new(AtomicBool::new(false));
        let r = ran.clone();
        block_on(Builder::new().runtime(rt.clone()).run(async |s| {
            let h = s.spawn_blocking(move |_| {
                r.store(true, Ordering::SeqCst);
                Ok::<_, BoxError>(())
            });
            h.cancel();
            rt.take()();
            assert!(matches!(h.await, Err(JoinError::Cancelled { .. })));
            Ok::<_, BoxError>(())
        }))
        .unwrap();
        assert!(!ran.load(Ordering::SeqCst), "the cancelled job ran");
    }

    /// C1, B1: a blocking child whose scope was cancelled before its job starts never runs.
    #[test]
    fn a_job_whose_scope_cancelled_before_it_starts_never_runs() {
        let rt = held();
        let ran = Arc::new(AtomicBool::new(false));
        let r = ran.clone();
        let out = block_on(Builder::new().runtime(rt.clone()).run(async |s| {
            let h = s.spawn_blocking(move |_| {
                r.store(true, Ordering::SeqCst);
                Ok::<_, BoxError>(())
            });
            s.cancel();
            rt.take()();
            assert_eq!(h.state(), ChildState::Cancelled);
            Ok::<_, BoxError>(())
        }));
        assert!(out.is_err_and(|e| e.is_cancelled()));
        assert!(!ran.load(Ordering::SeqCst), "the job ran after its scope was cancelled");
    }

    /// Wakes by recording how many children the token has.
    struct ReadTree(crate::CancelToken, Arc<Mutex<Option<usize>>>);

    impl std::task::Wake for ReadTree {
        fn wake(self: Arc<Self>) {
            self.wake_by_ref();
        }
        fn wake_by_ref(self: &Arc<Self>) {
            *self.1.lock().unwrap() = Some(self.0.child_count());
        }
    }

    /// T2, B1: when a blocking child's handle is woken with its terminal state, the child's
    /// token has already left its scope's token tree.
    #[test]
    fn a_blocking_childs_token_has_left_the_tree_when_its_handle_wakes() {
        let rt = held();
        block_on(Builder::new().runtime(rt.clone()).run(async |s| {
            let before = s.token().child_count();
            let mut h = s.spawn_blocking(|_| Ok::<_, BoxError>(7));
            let seen = Arc::new(Mutex::new(None));
            let waker = std::task::Waker::from(Arc::new(ReadTree(s.token().clone(), seen.clone())));
            let mut cx = std::task::Context::from_waker(&waker);
            assert!(std::pin::Pin::new(&mut h).poll(&mut cx).is_pending(), "the job has not run yet");
            rt.take()();
            assert_eq!(*seen.lock().unwrap(), Some(before), "tokens in the tree when the handle was woken");
            assert_eq!(h.await?, 7);
            Ok::<_, BoxError>(())
        }))
        .unwrap();
    }

    /// B1: a job the pool drops without running it (at shutdown) reports its child cancelled,
    /// so the scope does not wait for it forever.
    #[test]
    fn a_job_dropped_unrun_reports_its_child_cancelled() {
        let rt = held();
        block_on(Builder::new().runtime(rt.clone()).run(async |s| {
            let h = s.spawn_blocking(|_| Ok::<_, BoxError>(()));
            drop(rt.take());
            assert!(matches!(h.await, Err(JoinError::Cancelled { .. })));
            Ok::<_, BoxError>(())
        }))
        .unwrap();
    }
}
