//! How a third-party adapter runs the suite: a tiny adapter over `futures::executor::ThreadPool`
//! (with `async-io` timers and the `blocking` pool), then one macro call. Every case becomes its
//! own `#[test]` in `mod threadpool`; the cases this runtime cannot meet are marked as expected
//! divergences, with the reason (such a test passes only while the case fails).
//!
//! In a real adapter crate this file would be `tests/conformance.rs`, with
//! `taskscope-conformance = { version = "0.1", default-features = false }` as the one
//! dev-dependency for the suite.

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use futures::executor::ThreadPool;
use taskscope_core::{BlockOn, BlockingJob, BoxedSleep, Runtime, Task};

/// The adapter: [`Runtime`] over a thread pool.
#[derive(Debug, Clone)]
pub struct ThreadPoolRuntime {
    pool: ThreadPool,
}

impl Runtime for ThreadPoolRuntime {
    fn spawn(&self, task: Task) {
        self.pool.spawn_ok(task);
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
        "threadpool"
    }
}

/// For tests: blocks the calling thread on a future (the pool runs the children).
#[derive(Debug)]
pub struct ThreadPoolBlockOn;

impl BlockOn for ThreadPoolBlockOn {
    fn block_on<F: Future>(&self, fut: F) -> F::Output {
        futures::executor::block_on(fut)
    }
}

fn threadpool() -> Box<dyn taskscope_conformance::Harness> {
    let pool = ThreadPool::builder().pool_size(2).name_prefix("threadpool-").create().expect("a thread pool");
    taskscope_conformance::harness(Arc::new(ThreadPoolRuntime { pool }), ThreadPoolBlockOn)
}

taskscope_conformance::suite!(threadpool, threadpool, diverges: {
    c3_runtime_shutdown_drops_every_child =>
        "a futures ThreadPool never drops a pending task: each task holds a handle to the pool, \
         so dropping ours shuts nothing down and the children live on",
    c3_no_child_runs_after_runtime_shutdown =>
        "same: the pool outlives its last handle while tasks are pending, so children keep running",
});
