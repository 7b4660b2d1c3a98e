//! How a third-party adapter runs the suite: a tiny adapter over `futures::executor::ThreadPool`
//! (with `async-io` timers and the `blocking` pool), then one macro call. Every case becomes its
//! own `#[test]` in `mod threadpool`; the cases this runtime cannot meet are marked as expected
//! divergences, with the reason and the failure each must show (such a test passes only while
//! the case fails that way). `contract_first: true` makes every case fail at once, naming the
//! clause, if the adapter breaks the runtime contract; `timeout:` bounds each case.
//!
//! The last test runs the same backend through the report library, as an adapter's own report
//! binary would (`report::main(&[THREADPOOL])` prints the built-in report's matrix, JSON or
//! Markdown for it).
//!
//! In a real adapter crate this file would be `tests/conformance.rs`, with
//! `taskscope-conformance = { version = "0.1", default-features = false }` as the one
//! dev-dependency for the suite.

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use futures::executor::ThreadPool;
use taskscope_conformance::{Backend, cases, diverges, report};
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

taskscope_conformance::suite!(threadpool, threadpool,
    timeout: std::time::Duration::from_secs(10),
    contract_first: true,
    diverges: {
        c3_runtime_shutdown_drops_every_child =>
            "a futures ThreadPool never drops a pending task: each task holds a handle to the pool, \
             so dropping ours shuts nothing down and the children live on"
            fails_with "outlived the runtime's shutdown",
        c3_no_child_runs_after_runtime_shutdown =>
            "same: the pool outlives its last handle while tasks are pending, so children keep running"
            fails_with "after the runtime shut down",
        c3_a_spawn_during_shutdown_never_runs =>
            "same: no shutdown drops the children, so their destructors (which spawn) never run then"
            fails_with "child destructors run by the end of the shutdown",
        c3_a_spawn_after_shutdown_is_dropped_unpolled =>
            "a task spawned on the pool keeps it alive: a spawn after our handle is gone still runs"
            fails_with "a task spawned after the shutdown ran",
    },
);

/// The backend as the report library takes it: name, harness maker, expected divergences.
const THREADPOOL: Backend = Backend::new("threadpool", threadpool).diverging(diverges! {
    c3_runtime_shutdown_drops_every_child => "no shutdown (see the suite above)"
        fails_with "outlived the runtime's shutdown",
    c3_no_child_runs_after_runtime_shutdown => "no shutdown" fails_with "after the runtime shut down",
    c3_a_spawn_during_shutdown_never_runs => "no shutdown" fails_with "child destructors run by the end of the shutdown",
    c3_a_spawn_after_shutdown_is_dropped_unpolled => "no shutdown" fails_with "a task spawned after the shutdown ran",
});

#[test]
fn the_report_library_runs_the_contract_cases_on_this_adapter() {
    let options = report::Options { filters: vec!["p1_".into(), "c3_".into()], ..report::Options::default() };
    let cases: Vec<_> = cases::ALL.iter().filter(|c| options.filters.iter().any(|f| c.name.contains(f))).collect();
    let report = report::run(&[&THREADPOOL], &cases, &options);
    assert!(report.ok(), "the report found cells not as expected:\n{}", report.text());
    let cell = report.cell("c3_runtime_shutdown_drops_every_child", "threadpool").expect("a cell for a selected case");
    assert_eq!(cell.status(), "div", "status of a case that fails as its divergence mark expects");
    assert!(report.markdown().contains("| threadpool | `c3_runtime_shutdown_drops_every_child` |"));
}
