//! The smol adapter for taskscope: implements [`taskscope_core::Runtime`] over an
//! [`async_executor::Executor`] (or smol's global executor), with `async-io` timers and the
//! `blocking` thread pool, [`Spawn`] (a future spawned straight into the executor's task cell,
//! joined through [`SmolJoin`]), and [`BlockOn`] for tests and examples. Thin by design: every
//! semantic lives in `taskscope-core`.
//!
//! ```
//! use taskscope_core::{BlockOn, BoxError, Builder};
//! use taskscope_smol::SmolBackend;
//!
//! let backend = SmolBackend::multi_thread(2);
//! let n = backend.block_on(Builder::new().runtime(backend.runtime()).run(async |s| {
//!     let h = s.spawn(async { Ok::<_, BoxError>(7) });
//!     Ok(h.await? * 6)
//! }));
//! assert_eq!(n.unwrap(), 42);
//! ```
#![forbid(unsafe_code)]

use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::task::{Context, Poll};
use std::thread::JoinHandle;
use std::time::Instant;

use async_executor::{Executor, FallibleTask};
use event_listener::Event;
use taskscope_core::{BlockOn, BlockingJob, BoxedSleep, RawJoin, Runtime, Spawn, Task};

/// [`Runtime`] for smol: spawns detached tasks on an executor (by default smol's global one,
/// which works from any thread).
#[derive(Clone, Debug)]
pub struct SmolRuntime {
    // Weak: tasks hold scopes, scopes hold this runtime; a strong reference would make a cycle
    // through the executor and keep tasks alive after the executor's owner dropped it.
    executor: Option<Weak<Executor<'static>>>,
    name: &'static str,
}

impl SmolRuntime {
    /// Spawns on smol's global executor (`smol::spawn`).
    pub fn global() -> Self {
        Self { executor: None, name: "smol" }
    }

    /// Spawns on `executor`; something must run it (see [`SmolBackend`]). Once every other
    /// `Arc` to the executor is dropped (and with it every task on it), spawns drop the task
    /// unpolled, as tokio does after shutdown.
    pub fn with_executor(executor: &Arc<Executor<'static>>, name: &'static str) -> Self {
        Self { executor: Some(Arc::downgrade(executor)), name }
    }

    /// The executor this thread is running, if any: set while a [`SmolBackend`] runs
    /// (its `block_on` and its threads), or while an [`enter`](SmolRuntime::enter) guard
    /// lives. The `taskscope` facade's detection consults it, so scopes opened there spawn
    /// on that executor rather than on smol's global one.
    pub fn current() -> Option<Self> {
        CURRENT.try_with(|c| c.borrow().clone()).ok().flatten()
    }

    /// Makes this runtime the [`current`](SmolRuntime::current) one on this thread until the
    /// guard is dropped: an application that runs its own `async_executor::Executor` hands it
    /// to taskscope this way, on each thread that runs it.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use taskscope_smol::SmolRuntime;
    ///
    /// let ex = Arc::new(async_executor::Executor::new());
    /// let _current = SmolRuntime::with_executor(&ex, "my-executor").enter();
    /// assert_eq!(SmolRuntime::current().map(|rt| taskscope_core::Runtime::name(&rt)), Some("my-executor"));
    /// // async_io::block_on(ex.run(main())) would run `main` with this executor detected.
    /// ```
    pub fn enter(&self) -> EnterGuard {
        let prev = CURRENT.try_with(|c| c.replace(Some(self.clone()))).ok().flatten();
        EnterGuard { prev }
    }

    /// Spawns `fut` on this runtime's executor; `None` (with `fut` dropped here, unpolled) if
    /// the executor is gone. [`Runtime::spawn`] and [`Spawn::spawn_child`] both spawn here.
    fn spawn_on<F>(&self, fut: F) -> Option<async_executor::Task<F::Output>>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        match &self.executor {
            Some(ex) => match ex.upgrade() {
                Some(ex) => Some(ex.spawn(fut)),
                None => {
                    drop(fut);
                    None
                }
            },
            None => Some(smol::spawn(fut)),
        }
    }
}

thread_local! {
    static CURRENT: RefCell<Option<SmolRuntime>> = const { RefCell::new(None) };
}

/// Restores the previously current runtime when dropped (see [`SmolRuntime::enter`]).
#[derive(Debug)]
#[must_use = "the runtime is current only while the guard lives"]
pub struct EnterGuard {
    prev: Option<SmolRuntime>,
}

impl Drop for EnterGuard {
    fn drop(&mut self) {
        let prev = self.prev.take();
        let _ = CURRENT.try_with(|c| c.replace(prev));
    }
}

impl Runtime for SmolRuntime {
    fn spawn(&self, task: Task) {
        // Detached: dropping an async-executor Task would cancel it; core needs it to run on.
        if let Some(t) = self.spawn_on(task) {
            t.detach();
        }
    }

    fn spawn_blocking(&self, job: BlockingJob) {
        blocking::unblock(job).detach();
    }

    fn sleep_until(&self, deadline: Instant) -> BoxedSleep {
        let timer = async_io::Timer::at(deadline);
        Box::pin(async move {
            timer.await;
        })
    }

    fn name(&self) -> &'static str {
        self.name
    }

    fn as_any(&self) -> Option<&dyn std::any::Any> {
        Some(self)
    }
}

/// Spawns on the same executor as [`Runtime::spawn`]: the future lives in async-task's own
/// cell, and its output comes back through the executor's task handle, made fallible (in a
/// [`SmolJoin`]). Once the executor is gone, the future is dropped unpolled on the calling
/// thread and the join yields `None`.
///
/// ```
/// use taskscope_core::{BlockOn, RawJoin, Spawn};
/// use taskscope_smol::{SmolBackend, SmolRuntime};
///
/// let backend = SmolBackend::single_thread();
/// let rt = backend.smol_runtime();
/// let mut join = rt.spawn_child(async { 6 * 7 });
/// let out = backend.block_on(std::future::poll_fn(|cx| join.poll_join(cx)));
/// assert_eq!(out, Some(42));
/// // Back from the runtime as an object (nested scopes do this).
/// assert!(SmolRuntime::from_runtime(&rt.runtime()).is_some());
/// ```
impl Spawn for SmolRuntime {
    type Join<O: Send + 'static> = SmolJoin<O>;

    fn spawn_child<F>(&self, fut: F) -> SmolJoin<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        SmolJoin { task: self.spawn_on(fut).map(async_executor::Task::fallible) }
    }

    fn runtime(&self) -> Arc<dyn Runtime> {
        Arc::new(self.clone())
    }

    fn from_runtime(rt: &Arc<dyn Runtime>) -> Option<Self> {
        rt.as_any()?.downcast_ref::<Self>().cloned()
    }
}

/// async-executor's task handle as a [`RawJoin`]: the join of [`SmolRuntime`]'s
/// [`Spawn::spawn_child`].
///
/// It holds the handle as a [`FallibleTask`], so a task the executor dropped (the executor
/// itself was dropped) yields `None` instead of panicking, as does a poll after `Ready`.
/// Dropping it **detaches** the task ([`FallibleTask::detach`]): an async-executor handle
/// dropped as it is would cancel the task.
///
/// ```
/// use taskscope_core::{BlockOn, RawJoin, Spawn};
/// use taskscope_smol::{SmolBackend, SmolJoin};
///
/// let backend = SmolBackend::multi_thread(1);
/// let mut join: SmolJoin<&str> = backend.smol_runtime().spawn_child(async { "done" });
/// assert_eq!(backend.block_on(std::future::poll_fn(|cx| join.poll_join(cx))), Some("done"));
/// assert!(join.is_finished());
/// ```
pub struct SmolJoin<O> {
    /// `None` if the executor was gone at spawn, or once a poll returned `Ready`.
    task: Option<FallibleTask<O>>,
}

impl<O> fmt::Debug for SmolJoin<O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmolJoin").field("finished", &self.task.as_ref().is_none_or(FallibleTask::is_finished)).finish()
    }
}

impl<O: Send + 'static> RawJoin<O> for SmolJoin<O> {
    fn poll_join(&mut self, cx: &mut Context<'_>) -> Poll<Option<O>> {
        let Some(task) = self.task.as_mut() else { return Poll::Ready(None) };
        let Poll::Ready(out) = Pin::new(task).poll(cx) else { return Poll::Pending };
        self.task = None;
        Poll::Ready(out)
    }

    fn is_finished(&self) -> bool {
        self.task.as_ref().is_none_or(FallibleTask::is_finished)
    }
}

impl<O> Drop for SmolJoin<O> {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.detach();
        }
    }
}

/// An owned async-executor, run by `n` threads or by the `block_on` caller alone, with its
/// adapter: for tests, examples and the conformance report.
///
/// Dropping the backend stops its threads and drops the executor, which drops every task
/// still on it.
#[derive(Debug)]
pub struct SmolBackend {
    executor: Arc<Executor<'static>>,
    stop: Arc<Stop>,
    threads: Vec<JoinHandle<()>>,
    name: &'static str,
}

/// Tells the executor threads to return.
#[derive(Debug, Default)]
struct Stop {
    flag: AtomicBool,
    event: Event,
}

impl Stop {
    async fn wait(&self) {
        loop {
            if self.flag.load(Ordering::Acquire) {
                return;
            }
            let listener = self.event.listen();
            if self.flag.load(Ordering::Acquire) {
                return;
            }
            listener.await;
        }
    }
}

impl SmolBackend {
    /// An executor driven by `threads` OS threads (children run in parallel); `block_on`
    /// also drives it.
    ///
    /// # Panics
    /// If the OS refuses to create the threads.
    pub fn multi_thread(threads: usize) -> Self {
        let executor = Arc::new(Executor::new());
        let stop = Arc::new(Stop::default());
        let threads = (0..threads.max(1))
            .map(|i| {
                let (ex, stop) = (executor.clone(), stop.clone());
                std::thread::Builder::new()
                    .name(format!("taskscope-smol-{i}"))
                    .spawn(move || {
                        let _current = SmolRuntime::with_executor(&ex, "smol-mt").enter();
                        async_io::block_on(ex.run(stop.wait()))
                    })
                    .expect("taskscope-smol: could not spawn an executor thread")
            })
            .collect();
        Self { executor, stop, threads, name: "smol-mt" }
    }

    /// An executor driven only by the thread inside [`BlockOn::block_on`]: children run
    /// concurrently with the owner, never in parallel.
    pub fn single_thread() -> Self {
        Self { executor: Arc::new(Executor::new()), stop: Arc::default(), threads: Vec::new(), name: "smol-st" }
    }

    /// The adapter for this executor, ready to give to a scope.
    pub fn runtime(&self) -> Arc<dyn Runtime> {
        Arc::new(self.smol_runtime())
    }

    /// The adapter for this executor as its own type, for [`Spawn`].
    pub fn smol_runtime(&self) -> SmolRuntime {
        SmolRuntime::with_executor(&self.executor, self.name)
    }

    /// The executor itself, to run raw smol tasks beside the scopes (benchmarks do).
    pub fn executor(&self) -> &Arc<Executor<'static>> {
        &self.executor
    }
}

impl BlockOn for SmolBackend {
    /// Runs `fut` on this thread, driving the executor; meanwhile this backend is the
    /// [`SmolRuntime::current`] one here.
    fn block_on<F: Future>(&self, fut: F) -> F::Output {
        let _current = SmolRuntime::with_executor(&self.executor, self.name).enter();
        async_io::block_on(self.executor.run(fut))
    }
}

impl Drop for SmolBackend {
    fn drop(&mut self) {
        self.stop.flag.store(true, Ordering::Release);
        self.stop.event.notify(usize::MAX);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn current_name() -> Option<&'static str> {
        SmolRuntime::current().map(|rt| rt.name())
    }

    #[test]
    fn enter_guards_nest_and_restore_the_previous_runtime() {
        let (a, b) = (Arc::new(Executor::new()), Arc::new(Executor::new()));
        assert_eq!(current_name(), None);
        let outer = SmolRuntime::with_executor(&a, "a").enter();
        let inner = SmolRuntime::with_executor(&b, "b").enter();
        assert_eq!(current_name(), Some("b"));
        drop(inner);
        assert_eq!(current_name(), Some("a"));
        drop(outer);
        assert_eq!(current_name(), None);
    }

    #[test]
    fn a_backend_is_current_inside_block_on_and_on_its_threads_only() {
        let st = SmolBackend::single_thread();
        assert_eq!(st.block_on(async { current_name() }), Some("smol-st"));
        assert_eq!(current_name(), None, "block_on restores the previous runtime");
        let mt = SmolBackend::multi_thread(2);
        let on_worker = mt.block_on(mt.executor().spawn(async { current_name() }));
        assert_eq!(on_worker, Some("smol-mt"));
    }
}
