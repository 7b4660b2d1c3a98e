//! A thread-per-task runtime for core's own doctests and unit tests (not for production).

use std::sync::Arc;
use std::time::Instant;

use crate::runtime::{BlockingJob, BoxedSleep, Runtime, Task};

/// One OS thread per task, driven by a tiny block_on; timers are threads that sleep.
#[doc(hidden)]
#[derive(Debug)]
pub struct ThreadRuntime;

/// A [`ThreadRuntime`] as `Arc<dyn Runtime>`, for doctests.
#[doc(hidden)]
pub fn test_runtime() -> Arc<dyn Runtime> {
    Arc::new(ThreadRuntime)
}

pub(crate) fn block_on<F: std::future::Future>(fut: F) -> F::Output {
    use std::task::{Context, Poll, Wake, Waker};
    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut fut = std::pin::pin!(fut);
    loop {
        if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return v;
        }
        std::thread::park();
    }
}

impl Runtime for ThreadRuntime {
    fn spawn(&self, task: Task) {
        std::thread::spawn(move || block_on(task));
    }
    fn spawn_blocking(&self, job: BlockingJob) {
        std::thread::spawn(job);
    }
    fn sleep_until(&self, deadline: Instant) -> BoxedSleep {
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let waker: Arc<std::sync::Mutex<Option<std::task::Waker>>> = Arc::default();
        let w2 = waker.clone();
        std::thread::spawn(move || {
            std::thread::sleep(deadline.saturating_duration_since(Instant::now()));
            let _ = tx.send(());
            if let Some(w) = w2.lock().unwrap().take() {
                w.wake();
            }
        });
        Box::pin(std::future::poll_fn(move |cx| {
            *waker.lock().unwrap() = Some(cx.waker().clone());
            match rx.try_recv() {
                Ok(()) | Err(std::sync::mpsc::TryRecvError::Disconnected) => std::task::Poll::Ready(()),
                Err(std::sync::mpsc::TryRecvError::Empty) => std::task::Poll::Pending,
            }
        }))
    }
    fn name(&self) -> &'static str {
        "threads"
    }
}

/// Checks of the [`RawJoin`](crate::RawJoin) and [`Spawn`](crate::Spawn) contracts, one
/// behaviour per function, for an adapter's own tests: each takes the adapter's `Spawn` value
/// and the [`BlockOn`](crate::BlockOn) that drives it, and panics on a violation.
///
/// ```
/// use std::sync::Arc;
/// use taskscope_core::Runtime;
/// use taskscope_core::testing::{ThreadRuntime, raw_join};
///
/// let rt: Arc<dyn Runtime> = Arc::new(ThreadRuntime);
/// raw_join::value_roundtrip(&rt, &raw_join::ParkBlockOn);
/// ```
#[doc(hidden)]
pub mod raw_join {
    use std::cell::Cell;
    use std::future::{Future, poll_fn};
    use std::pin::Pin;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex, mpsc};
    use std::task::{Context, Poll, Waker};

    use crate::{BlockOn, RawJoin, Runtime, Spawn};

    /// [`BlockOn`] by parking the calling thread, for runtimes that run tasks on their own
    /// threads (such as [`ThreadRuntime`](super::ThreadRuntime)).
    #[derive(Debug)]
    pub struct ParkBlockOn;

    impl BlockOn for ParkBlockOn {
        fn block_on<F: Future>(&self, fut: F) -> F::Output {
            super::block_on(fut)
        }
    }

    /// Awaits `join`.
    pub async fn join<O, J: RawJoin<O>>(join: &mut J) -> Option<O> {
        poll_fn(|cx| join.poll_join(cx)).await
    }

    /// Polls `join` once with a no-op waker.
    pub fn poll_once<O, J: RawJoin<O>>(join: &mut J) -> Poll<Option<O>> {
        join.poll_join(&mut Context::from_waker(Waker::noop()))
    }

    /// Returns `Pending` once (waking itself), then `Ready`: lets other tasks run.
    pub async fn yield_now() {
        let mut yielded = false;
        poll_fn(|cx| {
            if std::mem::replace(&mut yielded, true) {
                Poll::Ready(())
            } else {
                cx.waker().wake_by_ref();
                Poll::Pending
            }
        })
        .await;
    }

    /// A future that stays pending until [`Gate::open`], for a task that must not finish yet.
    #[derive(Debug, Default, Clone)]
    pub struct Gate(Arc<Mutex<(bool, Option<Waker>)>>);

    impl Gate {
        /// Opens the gate and wakes its waiter.
        pub fn open(&self) {
            let waker = {
                let mut g = self.0.lock().unwrap();
                g.0 = true;
                g.1.take()
            };
            if let Some(w) = waker {
                w.wake();
            }
        }

        /// Completes once the gate is open.
        pub async fn wait(&self) {
            poll_fn(|cx| {
                let mut g = self.0.lock().unwrap();
                if g.0 {
                    Poll::Ready(())
                } else {
                    g.1 = Some(cx.waker().clone());
                    Poll::Pending
                }
            })
            .await;
        }
    }

    /// Counts its drops, and records whether it was polled; pending until its gate opens.
    #[derive(Debug)]
    struct Probe {
        gate: Gate,
        polled: Arc<AtomicBool>,
        drops: Arc<AtomicUsize>,
    }

    impl Probe {
        fn new() -> (Self, Arc<AtomicBool>, Arc<AtomicUsize>) {
            let (polled, drops) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicUsize::new(0)));
            (Self { gate: Gate::default(), polled: polled.clone(), drops: drops.clone() }, polled, drops)
        }
    }

    impl Future for Probe {
        type Output = u32;
        fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<u32> {
            self.polled.store(true, Ordering::SeqCst);
            let gate = self.gate.clone();
            let mut wait = std::pin::pin!(gate.wait());
            wait.as_mut().poll(cx).map(|()| 1)
        }
    }

    impl Drop for Probe {
        fn drop(&mut self) {
            self.drops.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// The join yields the future's value, and is finished afterwards.
    pub fn value_roundtrip<S: Spawn>(s: &S, b: &impl BlockOn) {
        let mut j = s.spawn_child(async { String::from("forty-two") });
        let out = b.block_on(join(&mut j));
        assert_eq!(out.as_deref(), Some("forty-two"));
        assert!(j.is_finished(), "finished after Ready");
        // The output is handed out once; polling again must not panic.
        assert!(matches!(poll_once(&mut j), Poll::Ready(None)), "Ready(None) after the value");
    }

    /// `is_finished` turns true once the task completed, before the join is polled.
    pub fn is_finished_after_completion<S: Spawn>(s: &S, b: &impl BlockOn) {
        let gate = Gate::default();
        let g = gate.clone();
        let mut j = s.spawn_child(async move {
            g.wait().await;
            3u8
        });
        assert!(!j.is_finished(), "finished before its gate opened");
        gate.open();
        b.block_on(async {
            while !j.is_finished() {
                yield_now().await;
            }
        });
        assert_eq!(poll_once(&mut j), Poll::Ready(Some(3)), "Ready at once when finished");
    }

    thread_local! {
        static IN_SPAWN: Cell<bool> = const { Cell::new(false) };
    }

    /// `spawn_child` returns before the future is first polled, from the runtime's thread and
    /// from outside it.
    pub fn spawn_child_never_polls_inline<S: Spawn>(s: &S, b: &impl BlockOn) {
        fn spawn_checked<S: Spawn>(s: &S) -> S::Join<bool> {
            IN_SPAWN.set(true);
            // The future reads the flag of the thread it is polled on: `true` only if it is
            // polled on this thread inside this call.
            let j = s.spawn_child(async { IN_SPAWN.get() });
            IN_SPAWN.set(false);
            j
        }
        let mut outside = spawn_checked(s);
        let inside = b.block_on(async {
            let mut j = spawn_checked(s);
            join(&mut j).await
        });
        assert_eq!(inside, Some(false), "spawn_child polled the future inline (runtime thread)");
        assert_eq!(b.block_on(join(&mut outside)), Some(false), "spawn_child polled the future inline");
    }

    /// On a runtime whose only thread is the one in `block_on`: right after `spawn_child`
    /// returns there, the future has not been polled.
    pub fn spawn_child_not_polled_on_return<S: Spawn>(s: &S, b: &impl BlockOn) {
        let polled = b.block_on(async {
            let (fut, polled, _) = Probe::new();
            let gate = fut.gate.clone();
            let mut j = s.spawn_child(fut);
            let was = polled.load(Ordering::SeqCst);
            gate.open();
            assert_eq!(join(&mut j).await, Some(1));
            was
        });
        assert!(!polled, "spawn_child polled the future before returning");
    }

    /// Dropping the join detaches: the task still runs to completion.
    pub fn join_drop_detaches<S: Spawn>(s: &S, b: &impl BlockOn) {
        let gate = Gate::default();
        let (g, (tx, rx)) = (gate.clone(), mpsc::channel());
        let j = s.spawn_child(async move {
            g.wait().await;
            tx.send(7u32).unwrap();
        });
        drop(j);
        gate.open();
        let got = b.block_on(async {
            loop {
                match rx.try_recv() {
                    Ok(v) => return v,
                    Err(mpsc::TryRecvError::Empty) => yield_now().await,
                    Err(mpsc::TryRecvError::Disconnected) => panic!("the task was dropped with its join"),
                }
            }
        });
        assert_eq!(got, 7);
    }

    /// After the runtime shut down (`shutdown` drops the [`BlockOn`] value that owns it), the
    /// join of a task it dropped yields `None` without panicking, and a task spawned after
    /// the shutdown is dropped unpolled and its join yields `None`.
    pub fn join_none_after_shutdown<S: Spawn, B: BlockOn>(s: &S, b: B) {
        let (fut, polled, drops) = Probe::new();
        let mut j = s.spawn_child(fut);
        b.block_on(async {
            while !polled.load(Ordering::SeqCst) {
                yield_now().await;
            }
        });
        assert!(!j.is_finished());
        drop(b);
        assert_eq!(drops.load(Ordering::SeqCst), 1, "the shutdown dropped the pending task");
        assert!(j.is_finished(), "finished once the runtime dropped it");
        assert_eq!(poll_once(&mut j), Poll::Ready(None));

        let (fut, polled, drops) = Probe::new();
        let mut late = s.spawn_child(fut);
        assert_eq!(drops.load(Ordering::SeqCst), 1, "a spawn after shutdown drops the future at once");
        assert!(!polled.load(Ordering::SeqCst), "a spawn after shutdown polled the future");
        assert_eq!(poll_once(&mut late), Poll::Ready(None));
    }

    /// `S::from_runtime` finds `s` behind its own `runtime()`, and refuses `other`.
    pub fn from_runtime_round_trip<S: Spawn>(s: &S, other: &Arc<dyn Runtime>) {
        let rt = s.runtime();
        let back = S::from_runtime(&rt).expect("from_runtime of its own runtime()");
        assert_eq!(back.runtime().name(), rt.name());
        assert!(S::from_runtime(other).is_none(), "from_runtime accepted another runtime");
    }
}
