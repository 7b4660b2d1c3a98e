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

fn block_on<F: std::future::Future>(fut: F) -> F::Output {
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
