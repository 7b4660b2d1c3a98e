//! The suite must be able to fail: deliberately broken adapters ("mutants"), each wrapping a
//! real backend and breaking the runtime contract in one way, must each make at least one case
//! fail. Every case runs against every mutant; the failing ones are printed (run with
//! `--nocapture` to see them), and the cases meant to catch each mutant must be among them.
//!
//! Core wraps every child itself (panic capture, drop guard, abort flag), so many adapter bugs
//! cannot show by construction; each mutant here breaks something core has to trust the
//! runtime for: running tasks, waking them, timers, the blocking pool, shutdown, `block_on`.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use taskscope_conformance::{CaseResult, Harness, backends, cases, check_contract, run_case_with_timeout};
use taskscope_core::{BlockingJob, BoxedSleep, Runtime, Task};

/// How one mutant breaks the contract.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// `spawn` hands tasks to a global executor that outlives the backend: at shutdown the
    /// children are not cancelled, they run on, detached.
    Detach,
    /// `sleep_until(d)` fires after a quarter of the time left.
    EarlyTimer,
    /// `sleep_until` never fires.
    NeverFires,
    /// `block_on` swallows a panic instead of resuming it in its caller (like a detached
    /// async-executor task loses it).
    LosePanics,
    /// At shutdown, unfinished tasks are not dropped but polled once more, 20 ms later, then
    /// dropped: a cancelled task runs again.
    PollAfterShutdown,
    /// At shutdown, unfinished tasks are leaked (`mem::forget`): their destructors never run.
    LeakOnShutdown,
    /// `spawn` drops the task without ever polling it.
    DropUnpolled,
    /// The wakers given to tasks ignore `wake_by_ref` (lost wake-ups).
    LostWakeups,
    /// `spawn_blocking` runs the job inline, on the async thread that called it.
    InlineBlocking,
    /// `spawn_blocking` drops the job.
    NoBlocking,
    /// `spawn_blocking` runs the job as an ordinary task, on the async workers.
    BlockingAsTasks,
    /// Once the harness starts dropping (shutdown), `spawn` hands tasks to smol's global
    /// executor instead of dropping them: spawns during and after shutdown run.
    SpawnAfterShutdown,
    /// `spawn` polls the task once, inline, before scheduling it: nested spawns recurse.
    PollsInline,
}

#[derive(Debug)]
struct MutantRuntime {
    inner: Arc<dyn Runtime>,
    kind: Kind,
    /// Set when the harness starts dropping.
    shut: Arc<AtomicBool>,
}

impl Runtime for MutantRuntime {
    fn spawn(&self, task: Task) {
        match self.kind {
            Kind::Detach => smol::spawn(task).detach(),
            Kind::SpawnAfterShutdown if self.shut.load(Ordering::SeqCst) => smol::spawn(task).detach(),
            Kind::PollsInline => {
                let mut task = task;
                // The task re-registers its waker when the runtime polls it next.
                if Pin::new(&mut task).poll(&mut Context::from_waker(Waker::noop())).is_pending() {
                    self.inner.spawn(task);
                }
            }
            Kind::DropUnpolled => drop(task),
            Kind::PollAfterShutdown | Kind::LeakOnShutdown => {
                self.inner.spawn(Task::new(AtShutdown { task: Some(task), kind: self.kind }))
            }
            Kind::LostWakeups => self.inner.spawn(Task::new(NoWakeByRef(task))),
            _ => self.inner.spawn(task),
        }
    }

    fn spawn_blocking(&self, job: BlockingJob) {
        match self.kind {
            Kind::InlineBlocking => job(),
            Kind::NoBlocking => drop(job),
            Kind::BlockingAsTasks => self.inner.spawn(Task::new(async move { job() })),
            _ => self.inner.spawn_blocking(job),
        }
    }

    fn sleep_until(&self, deadline: Instant) -> BoxedSleep {
        match self.kind {
            Kind::EarlyTimer => {
                let now = self.inner.now();
                let early = if deadline > now { now + (deadline - now) / 4 } else { deadline };
                self.inner.sleep_until(early)
            }
            Kind::NeverFires => Box::pin(std::future::pending()),
            _ => self.inner.sleep_until(deadline),
        }
    }

    fn now(&self) -> Instant {
        self.inner.now()
    }

    fn name(&self) -> &'static str {
        "mutant"
    }
}

/// A task that misbehaves when the executor drops it unfinished (at shutdown).
struct AtShutdown {
    task: Option<Task>,
    kind: Kind,
}

impl Future for AtShutdown {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let Some(task) = self.task.as_mut() else { return Poll::Ready(()) };
        let out = Pin::new(task).poll(cx);
        if out.is_ready() {
            self.task = None;
        }
        out
    }
}

impl Drop for AtShutdown {
    fn drop(&mut self) {
        let Some(mut task) = self.task.take() else { return };
        if self.kind == Kind::LeakOnShutdown {
            std::mem::forget(task);
        } else {
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(20));
                let _ = Pin::new(&mut task).poll(&mut Context::from_waker(Waker::noop()));
                // Dropped well after every task's extra poll: a scope owner dropped at the same
                // moment would abort its children first, and hide the mutant from the cases.
                std::thread::sleep(Duration::from_millis(200));
                drop(task);
            });
        }
    }
}

/// Polls its task with a waker whose `wake_by_ref` does nothing.
struct NoWakeByRef(Task);

struct ByValueOnly(Waker);

impl Wake for ByValueOnly {
    fn wake(self: Arc<Self>) {
        self.0.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {}
}

impl Future for NoWakeByRef {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let waker = Waker::from(Arc::new(ByValueOnly(cx.waker().clone())));
        Pin::new(&mut self.0).poll(&mut Context::from_waker(&waker))
    }
}

struct MutantHarness {
    base: Box<dyn Harness>,
    rt: Arc<dyn Runtime>,
    kind: Kind,
    shut: Arc<AtomicBool>,
}

impl Drop for MutantHarness {
    fn drop(&mut self) {
        // Before `base` (a field) is dropped: its shutdown sees the flag set.
        self.shut.store(true, Ordering::SeqCst);
    }
}

impl Harness for MutantHarness {
    fn runtime(&self) -> Arc<dyn Runtime> {
        self.rt.clone()
    }
    fn block_on(&self, fut: Pin<Box<dyn Future<Output = ()> + '_>>) {
        if self.kind == Kind::LosePanics {
            self.base.block_on(Box::pin(async move {
                let _ = futures_lite::future::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(fut)).await;
            }));
        } else {
            self.base.block_on(fut);
        }
    }
}

fn mutant(kind: Kind, base: fn() -> Box<dyn Harness>) -> Box<dyn Harness> {
    let base = base();
    let shut = Arc::new(AtomicBool::new(false));
    let rt: Arc<dyn Runtime> = Arc::new(MutantRuntime { inner: base.runtime(), kind, shut: shut.clone() });
    Box::new(MutantHarness { base, rt, kind, shut })
}

/// How long a case may run against a mutant: hung cases are common here (a timer that never
/// fires), and the longest correct case takes well under a second.
const TIMEOUT: Duration = Duration::from_secs(4);

/// Cases of one mutant run in parallel (hung ones mostly wait).
const WORKERS: usize = 8;

/// Runs every case against the mutant; returns the failures, in suite order.
fn failures(make: fn() -> Box<dyn Harness>) -> Vec<(&'static str, String)> {
    let next = AtomicUsize::new(0);
    let found = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..WORKERS {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(case) = cases::ALL.get(i) else { break };
                    if let CaseResult::Fail(msg, _) = run_case_with_timeout(make, case, TIMEOUT) {
                        found.lock().unwrap().push((i, case.name, msg));
                    }
                }
            });
        }
    });
    let mut found = found.into_inner().unwrap();
    found.sort_by_key(|f| f.0);
    found.into_iter().map(|(_, name, msg)| (name, msg)).collect()
}

/// Runs the suite against a mutant: it must fail, and among the failures must be `catchers`.
fn caught(name: &str, make: fn() -> Box<dyn Harness>, catchers: &[&str]) {
    let start = Instant::now();
    let failed = failures(make);
    println!(
        "mutant {name}: {} of {} cases fail ({:.1} s)",
        failed.len(),
        cases::ALL.len(),
        start.elapsed().as_secs_f64()
    );
    for (case, msg) in &failed {
        println!("  {case}: {}", msg.lines().next().unwrap_or(""));
    }
    assert!(!failed.is_empty(), "the suite did not catch mutant {name}");
    for c in catchers {
        assert!(cases::ALL.iter().any(|k| k.name == *c), "no case named {c}");
        assert!(failed.iter().any(|(f, _)| f == c), "{c} did not catch mutant {name}");
    }
}

#[test]
fn mutant_that_detaches_instead_of_cancelling() {
    caught(
        "detach",
        || mutant(Kind::Detach, backends::smol_mt),
        &["c3_runtime_shutdown_drops_every_child", "c3_no_child_runs_after_runtime_shutdown"],
    );
}

#[test]
fn mutant_whose_timer_fires_early() {
    caught("early-timer", || mutant(Kind::EarlyTimer, backends::tokio_mt), &["p1_runtime_timer_never_fires_early"]);
}

#[test]
fn mutant_whose_timer_never_fires() {
    caught(
        "never-fires",
        || mutant(Kind::NeverFires, backends::smol_st),
        &["p1_a_sleep_until_a_past_instant_completes_at_once", "c2_grace_expiry_drops_stubborn_children"],
    );
}

#[test]
fn mutant_that_loses_panics() {
    caught("lose-panics", || mutant(Kind::LosePanics, backends::tokio_ct), &["f5_a_panic_resumes_through_block_on"]);
}

#[test]
fn mutant_that_runs_a_cancelled_task_once_more() {
    caught(
        "poll-after-shutdown",
        || mutant(Kind::PollAfterShutdown, backends::smol_mt),
        &["c3_runtime_shutdown_drops_every_child", "c3_no_child_runs_after_runtime_shutdown"],
    );
}

#[test]
fn mutant_that_never_runs_destructors_on_shutdown() {
    caught(
        "leak-on-shutdown",
        || mutant(Kind::LeakOnShutdown, backends::tokio_mt),
        &["c3_runtime_shutdown_drops_every_child"],
    );
}

#[test]
fn mutant_that_drops_tasks_unpolled() {
    caught(
        "drop-unpolled",
        || mutant(Kind::DropUnpolled, backends::tokio_ct),
        &["p1_runtime_spawn_runs_a_task_to_completion", "s2_every_child_runs_to_completion"],
    );
}

#[test]
fn mutant_that_loses_wake_ups() {
    caught("lost-wakeups", || mutant(Kind::LostWakeups, backends::tokio_mt), &["c9_cancel_one_child_only"]);
}

#[test]
fn mutant_that_runs_blocking_work_inline() {
    caught(
        "inline-blocking",
        || mutant(Kind::InlineBlocking, backends::smol_st),
        &["p1_runtime_spawn_blocking_runs_off_the_async_thread"],
    );
}

#[test]
fn mutant_that_never_runs_blocking_work() {
    caught(
        "no-blocking",
        || mutant(Kind::NoBlocking, backends::tokio_ct),
        &["p1_runtime_spawn_blocking_runs_off_the_async_thread"],
    );
}

#[test]
fn mutant_that_runs_blocking_work_on_the_async_workers() {
    caught(
        "blocking-as-tasks",
        || mutant(Kind::BlockingAsTasks, backends::tokio_mt),
        &["p1_blocking_jobs_leave_the_async_workers_free"],
    );
}

#[test]
fn mutant_that_runs_spawns_made_during_and_after_shutdown() {
    caught(
        "spawn-after-shutdown",
        || mutant(Kind::SpawnAfterShutdown, backends::tokio_ct),
        &["c3_a_spawn_during_shutdown_never_runs", "c3_a_spawn_after_shutdown_is_dropped_unpolled"],
    );
}

#[test]
fn mutant_that_polls_inside_spawn() {
    caught(
        "polls-inline",
        || mutant(Kind::PollsInline, backends::smol_mt),
        &["p1_runtime_spawn_never_polls_inline", "s6_five_thousand_nested_scopes"],
    );
}

#[test]
fn contract_first_names_the_first_broken_clause() {
    let broken = check_contract(|| mutant(Kind::PollsInline, backends::smol_mt), &[], TIMEOUT)
        .expect_err("an adapter that polls inside spawn keeps the contract");
    assert!(
        broken.starts_with(
            "the runtime breaks its contract: \"spawn never polls the task before it returns\" \
             (case p1_runtime_spawn_never_polls_inline)"
        ),
        "the contract-first message: {broken}"
    );
    let broken = check_contract(|| mutant(Kind::BlockingAsTasks, backends::tokio_mt), &[], TIMEOUT)
        .expect_err("an adapter that runs blocking jobs on the async workers keeps the contract");
    assert!(broken.contains("(case p1_blocking_jobs_leave_the_async_workers_free)"), "the message: {broken}");
    check_contract(backends::tokio_ct, &[], TIMEOUT).expect("tokio-ct keeps the contract");
}
