//! The taskscope conformance suite: the proof that every backend gives the same semantics.
//!
//! Every rule of the semantics contract (`docs/semantics.md`: S1, F5, C7, ...) has at least one case
//! here, named after it (`s1_scope_waits_for_every_child_drop`, ...). A case is a plain
//! function taking a [`Harness`] — a runtime adapter plus a way to block on a future — so the
//! same case runs on every backend: [`cases::ALL`] lists them, in report order.
//!
//! Where the cases come from:
//! - one module per rule family (scope lifetime, failure, cancellation, tokens, deadlines and
//!   shielding, limits and policies);
//! - [`cases::anyio`] and [`cases::trio`]: ports of AnyIO's task-group tests and of Trio's
//!   nursery and cancel-scope tests, each module opening with the table of every upstream test:
//!   ported, adapted (and why), covered elsewhere, or not applicable (and why);
//! - [`cases::contract`]: the runtime contract itself (timers never early, `spawn` and
//!   `spawn_blocking` run their work, panics resume through `block_on`) and runtime shutdown
//!   (every child dropped, none run again), the things core has to trust an adapter for;
//! - [`cases::coverage`]: more angles per rule;
//! - `results.rs` and `child_options.rs` (cases re-exported in [`cases`]): collecting every
//!   child's value or the scope's error with a typed error enum (`Builder::all`,
//!   `JoinHandle::join`), and per-child options combined with every spawn mode
//!   (`Spawner::child`).
//!
//! Beside the cases, [`trees`] draws random trees of nested scopes from a seed and checks each
//! against a model of the rules (outcome, every error once, no child alive after its scope).
//!
//! Cases are deterministic: they order events with gates and drop trackers (see [`support`]),
//! never with sleeps; where a timer is the point, margins are wide, and a child that must be
//! cancelled sleeps 30 s, so that a broken backend fails instead of passing by luck.
//!
//! # Running the suite against your adapter
//!
//! Add this crate as a dev-dependency (with `default-features = false` you skip the built-in
//! backends), then in `tests/conformance.rs`:
//!
//! ```ignore
//! taskscope_conformance::suite!(my_backend, || {
//!     let backend = my_adapter::Backend::new();
//!     taskscope_conformance::harness(backend.runtime(), backend)
//! });
//! ```
//!
//! Each case becomes its own `#[test]` (inside `mod my_backend`), so failures are named. Every
//! assertion says what it expected and what it saw; a case that hangs (past the case timeout,
//! [`CASE_TIMEOUT`] unless `timeout:` says otherwise) fails with what it was doing: its phase
//! (running, shutting the runtime down, ...), its last [`support::step`] and every wait still
//! pending ([`support::Gate::wait`], [`support::eventually`], with their source lines).
//!
//! Options of [`suite!`], in this order: `timeout: Duration`; `contract_first: true` (every
//! case first checks the runtime-contract cases, [`cases::CONTRACT`], and fails at once with
//! the broken clause's name: fix that first); and `diverges: { ... }`, the cases your runtime
//! cannot meet, each with its reason and optionally the failure it must show. Names are
//! checked at compile time; a marked test passes only if the case fails (as pinned), and tells
//! you to remove the mark once it passes:
//!
//! ```ignore
//! taskscope_conformance::suite!(my_backend, || make(),
//!     timeout: std::time::Duration::from_secs(10),
//!     contract_first: true,
//!     diverges: {
//!         c3_runtime_shutdown_drops_every_child => "our executor never drops tasks on shutdown"
//!             fails_with "outlived the runtime's shutdown",
//!     },
//! );
//! ```
//!
//! A complete example is this crate's `tests/third_party_threadpool.rs`: an adapter over
//! `futures::executor::ThreadPool` with `async-io` timers and the `blocking` pool (about forty
//! lines), the macro call that runs the whole suite on it, with the shutdown cases it
//! legitimately diverges on marked and explained, and the same backend run through the
//! [`report`] library.
//!
//! # Shutdown, and global executors
//!
//! Dropping a harness shuts its runtime down: every task still on it is dropped, none is
//! polled again, and a spawn during or after the shutdown drops its task unpolled (the
//! "Shutdown" section of `Runtime`'s contract; the C3 shutdown cases check it). A
//! process-wide executor (smol's global one, which `taskscope::scope` uses with the `smol`
//! feature outside tokio) has no shutdown: build its harness with [`shared_harness`]. Its four
//! shutdown cases are then expected divergences ([`backends::GLOBAL_EXECUTOR_DIVERGES`] has
//! them, with reasons); every other case must pass, and each case's tasks must all end after
//! the case, so that one case cannot starve the next (see [`shared_harness`] for what a shared
//! flavour cannot isolate). The built-in report has this flavour as its `smol-global` column.
//!
//! # The suite can fail
//!
//! `tests/mutants.rs` runs every case against deliberately broken adapters, each wrapping a
//! real backend, and asserts that each is caught (`cargo test -p taskscope-conformance --test
//! mutants -- --nocapture` prints which cases fail for each):
//!
//! | mutant | caught by (among others) |
//! |---|---|
//! | `spawn` detaches tasks onto a global executor that outlives the backend (while claiming a shutdown) | `c3_runtime_shutdown_drops_every_child`, `c3_no_child_runs_after_runtime_shutdown` |
//! | the timer fires early (after a quarter of the time) | `p1_runtime_timer_never_fires_early`, `c7_` cases |
//! | the timer never fires | `p1_a_sleep_until_a_past_instant_completes_at_once`, `c2_grace_expiry_drops_stubborn_children`, ~40 more |
//! | `block_on` loses panics | `f5_a_panic_resumes_through_block_on` |
//! | a cancelled task runs once more (polled again after shutdown) | `c3_runtime_shutdown_drops_every_child`, `c3_no_child_runs_after_runtime_shutdown` |
//! | destructors never run on shutdown (tasks leaked) | `c3_runtime_shutdown_drops_every_child` |
//! | `spawn` drops tasks unpolled | `p1_runtime_spawn_runs_a_task_to_completion`, most of the suite |
//! | `spawn` polls the task inline before returning | `p1_runtime_spawn_never_polls_inline`, `s6_five_thousand_nested_scopes` (by name, without overflowing the stack) |
//! | wakers ignore `wake_by_ref` (lost wake-ups) | `c9_cancel_one_child_only`, ~20 more |
//! | `spawn_blocking` runs the job inline | `p1_runtime_spawn_blocking_runs_off_the_async_thread` |
//! | `spawn_blocking` runs the job as an ordinary task on the async workers | `p1_blocking_jobs_leave_the_async_workers_free` |
//! | `spawn_blocking` never runs the job | `p1_runtime_spawn_blocking_runs_off_the_async_thread`, `b1_` cases |
//! | spawns during and after shutdown go to a global executor and run | `c3_a_spawn_during_shutdown_never_runs`, `c3_a_spawn_after_shutdown_is_dropped_unpolled` |
//!
//! # The report
//!
//! `cargo run --release -p taskscope-conformance` runs every case on the built-in backends
//! ([`backends::ALL`]: tokio and smol flavours, the deterministic simulation `sim`, whose
//! cases run in virtual time, smol's global executor, and tokio's and smol's multi-thread
//! runtimes behind [`backends::DynOnly`]; on the four tokio and smol flavours the scopes spawn
//! each child into the runtime's own task, on the others through `Runtime::spawn`, see
//! [`support::Rt`]) and prints a case × backend matrix
//! (status and time: real time, and virtual time too on a backend with a virtual clock, see
//! [`Harness::virtual_elapsed`]), a rule × backend summary with each column's total, the failures and the expected divergences, and exits non-zero on any failure;
//! `-- --json` prints JSON lines instead, `--markdown` Markdown, `--backend` and `--filter`
//! narrow the selection, `--repeat N` runs it N times and reports flaky cases, `--timeout`
//! sets the case timeout, `--contract-first` checks the runtime contract first. The same
//! report runs on any list of backends through [`report::main`].
#![forbid(unsafe_code)]

use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use taskscope_core::{BlockOn, BlockingJob, BoxedSleep, CancelToken, Runtime, Task};

pub mod cases;
pub mod report;
pub mod support;
pub mod trees;

#[cfg(feature = "backends")]
pub mod backends;

/// A backend under test: a runtime adapter and a way to block on a future with it.
///
/// # Shutdown
/// Dropping a harness shuts its runtime down (see the shutdown clauses of
/// [`Runtime`]'s contract): by the time the drop returns, every task still on the runtime has
/// been dropped and none is polled again; a spawn made during the shutdown (by a task's
/// destructor) or after it (through a runtime handle kept past it) drops the task unpolled.
/// The C3 shutdown cases check this with [`support::after_shutdown`]. A harness over a
/// process-wide executor that has no shutdown is built with [`shared_harness`] instead.
pub trait Harness: Send + Sync {
    /// The runtime given to every scope the cases open.
    fn runtime(&self) -> Arc<dyn Runtime>;
    /// Runs `fut` to completion on the calling thread, driving the runtime as needed.
    fn block_on(&self, fut: Pin<Box<dyn Future<Output = ()> + '_>>);
    /// For a harness over a shared, process-wide executor ([`shared_harness`]): the live
    /// count of the tasks and blocking jobs spawned through [`runtime`](Harness::runtime),
    /// which the runner waits to fall to zero after each case. `None` (the default) for a
    /// harness that owns its runtime.
    fn shared_tasks(&self) -> Option<TaskCount> {
        None
    }
    /// For a backend with a virtual clock (the simulation, P5): the virtual time that has
    /// passed on it since the harness was made, which the report prints beside the real time
    /// ([`virtual_harness`] builds such a harness). `None` (the default) for a backend on real
    /// time.
    fn virtual_elapsed(&self) -> Option<Duration> {
        None
    }
}

struct BlockOnHarness<B> {
    runtime: Arc<dyn Runtime>,
    backend: B,
    shared: Option<TaskCount>,
    clock: Option<fn(&B) -> Duration>,
}

impl<B: BlockOn + Send + Sync> Harness for BlockOnHarness<B> {
    fn runtime(&self) -> Arc<dyn Runtime> {
        self.runtime.clone()
    }
    fn block_on(&self, fut: Pin<Box<dyn Future<Output = ()> + '_>>) {
        self.backend.block_on(fut);
    }
    fn shared_tasks(&self) -> Option<TaskCount> {
        self.shared.clone()
    }
    fn virtual_elapsed(&self) -> Option<Duration> {
        self.clock.map(|elapsed| elapsed(&self.backend))
    }
}

/// A [`Harness`] from a runtime adapter and the [`BlockOn`] that drives it. `backend` owns the
/// runtime: dropping the harness drops `backend`, and that must shut the runtime down (see
/// [`Harness`]).
///
/// ```
/// use taskscope_conformance::{cases, harness, run_case};
/// use taskscope_smol::SmolBackend;
///
/// let make = || {
///     let backend = SmolBackend::multi_thread(2);
///     harness(backend.runtime(), backend)
/// };
/// assert!(run_case(make, &cases::ALL[0]).is_pass());
/// ```
pub fn harness<B: BlockOn + Send + Sync + 'static>(runtime: Arc<dyn Runtime>, backend: B) -> Box<dyn Harness> {
    Box::new(BlockOnHarness { runtime, backend, shared: None, clock: None })
}

/// A [`Harness`] like [`harness`] over a backend whose clock is virtual: `elapsed` reads the
/// virtual time that has passed on `backend` since it was made, and the report prints it
/// beside each case's real time ([`Harness::virtual_elapsed`], [`run_case_timed`]).
///
/// ```
/// use std::time::Duration;
/// use taskscope_conformance::{CASE_TIMEOUT, cases, run_case_timed, virtual_harness};
/// use taskscope_sim::Sim;
///
/// let make = || {
///     let sim = Sim::new(0);
///     virtual_harness(sim.runtime(), sim, Sim::elapsed)
/// };
/// let run = run_case_timed(make, &cases::ALL[0], CASE_TIMEOUT);
/// assert!(run.result.is_pass());
/// assert!(run.virtual_elapsed.is_some());
/// ```
pub fn virtual_harness<B: BlockOn + Send + Sync + 'static>(
    runtime: Arc<dyn Runtime>,
    backend: B,
    elapsed: fn(&B) -> Duration,
) -> Box<dyn Harness> {
    Box::new(BlockOnHarness { runtime, backend, shared: None, clock: Some(elapsed) })
}

/// A [`Harness`] over a shared, process-wide executor that dropping the harness cannot shut
/// down (smol's global executor, `async-global-executor`, a static thread pool): the
/// "global" flavour of the runtime contract.
///
/// Such a runtime meets every clause of the contract except shutdown: it has none, so the
/// shutdown cases ([`cases::CONTRACT`] lists them) fail on it, and are marked as expected
/// divergences ([`diverges!`]). Everything a scope promises (S1, C3 for a dropped scope, ...)
/// still holds, since core gives it, not the runtime.
///
/// Isolation: cases share the executor, so the harness counts every task and blocking job
/// spawned through its runtime, and after each case (and the cleanups it registered with
/// [`support::on_teardown`]) the runner waits up to [`SHARED_SETTLE`] for the count to fall to
/// zero; a case that leaves work running fails by name instead of slowing every later case.
/// What a shared flavour cannot isolate: a task that blocks an executor thread (no runtime can
/// preempt a poll), work spawned on the executor without going through the harness's runtime,
/// and a case abandoned after a hang (its tasks run on until they end).
///
/// ```
/// use std::sync::Arc;
/// use taskscope_core::BlockOn;
///
/// struct GlobalBlockOn;
/// impl BlockOn for GlobalBlockOn {
///     fn block_on<F: std::future::Future>(&self, fut: F) -> F::Output {
///         futures_lite::future::block_on(fut)
///     }
/// }
///
/// let h = taskscope_conformance::shared_harness(Arc::new(taskscope_smol::SmolRuntime::global()), GlobalBlockOn);
/// assert!(h.shared_tasks().is_some());
/// ```
pub fn shared_harness<B: BlockOn + Send + Sync + 'static>(runtime: Arc<dyn Runtime>, backend: B) -> Box<dyn Harness> {
    let count = TaskCount::default();
    let runtime: Arc<dyn Runtime> = Arc::new(Counted { inner: runtime, count: count.clone() });
    Box::new(BlockOnHarness { runtime, backend, shared: Some(count), clock: None })
}

/// How long the runner waits, after a case on a [`shared_harness`], for the case's tasks to
/// end before it fails the case for leaving them running.
pub const SHARED_SETTLE: Duration = Duration::from_secs(2);

/// The live count of the tasks and blocking jobs spawned through a [`shared_harness`]'s
/// runtime.
#[derive(Clone, Debug, Default)]
pub struct TaskCount(Arc<AtomicUsize>);

impl TaskCount {
    /// Tasks and jobs spawned and not yet ended (finished or dropped).
    pub fn get(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
    fn enter(&self) -> Entered {
        self.0.fetch_add(1, Ordering::SeqCst);
        Entered(self.clone())
    }
}

/// Counted as live until dropped (with the task or job that holds it).
struct Entered(TaskCount);

impl Drop for Entered {
    fn drop(&mut self) {
        (self.0).0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The runtime of a [`shared_harness`]: the real one, counting what goes through it.
#[derive(Debug)]
struct Counted {
    inner: Arc<dyn Runtime>,
    count: TaskCount,
}

impl Runtime for Counted {
    fn spawn(&self, task: Task) {
        let entered = self.count.enter();
        self.inner.spawn(Task::new(async move {
            let _entered = entered;
            task.await;
        }));
    }
    fn spawn_blocking(&self, job: BlockingJob) {
        let entered = self.count.enter();
        self.inner.spawn_blocking(Box::new(move || {
            let _entered = entered;
            job();
        }));
    }
    fn sleep_until(&self, deadline: Instant) -> BoxedSleep {
        self.inner.sleep_until(deadline)
    }
    fn now(&self) -> Instant {
        self.inner.now()
    }
    fn name(&self) -> &'static str {
        self.inner.name()
    }
}

/// A case of the suite: its name (which starts with its rule ID) and its function.
#[derive(Clone, Copy, Debug)]
pub struct Case {
    /// The case's name, e.g. `"s1_scope_waits_for_every_child_drop"`.
    pub name: &'static str,
    /// Runs the case; panics on failure.
    pub run: fn(&dyn Harness),
}

impl Case {
    /// The rule ID the case proves, e.g. `"S1"`.
    pub fn rule(&self) -> String {
        self.name.split('_').next().unwrap_or("").to_ascii_uppercase()
    }
}

/// A case a backend is expected to fail, with the reason, and optionally the failure it must
/// fail with. Built with [`diverges!`], which checks the case name at compile time.
#[derive(Clone, Copy, Debug)]
pub struct Divergence {
    /// The case.
    pub case: Case,
    /// Why the backend cannot meet it.
    pub reason: &'static str,
    /// A fragment the failure message must contain: another failure of the case is not the
    /// expected divergence, and fails. `None`: any failure is accepted.
    pub fails_with: Option<&'static str>,
}

/// How a case ended on a backend, judged against its divergence mark (if any).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Passed, unmarked.
    Pass,
    /// Failed, unmarked: the message.
    Fail(String),
    /// Failed as its divergence mark expects: the failure message.
    Diverged(String),
    /// Marked as an expected divergence but passed: the mark should go.
    UnexpectedPass,
    /// Marked, but failed without the pinned fragment: the message.
    WrongFailure(String),
}

impl Verdict {
    /// Judges `result` against `mark`.
    pub fn of(result: &CaseResult, mark: Option<&Divergence>) -> Self {
        match (result, mark) {
            (CaseResult::Pass(_), None) => Self::Pass,
            (CaseResult::Fail(m, _), None) => Self::Fail(m.clone()),
            (CaseResult::Pass(_), Some(_)) => Self::UnexpectedPass,
            (CaseResult::Fail(m, _), Some(d)) => match d.fails_with {
                Some(frag) if !m.contains(frag) => Self::WrongFailure(m.clone()),
                _ => Self::Diverged(m.clone()),
            },
        }
    }
    /// Whether this is what the backend is expected to do (a pass, or the marked failure).
    pub fn is_ok(&self) -> bool {
        matches!(self, Self::Pass | Self::Diverged(_))
    }
}

/// The expected divergences of a backend, each case name checked at compile time (a typo is
/// an error: the name must be a case function in [`cases`]), each with its reason and
/// optionally `fails_with` a fragment its failure message must contain:
///
/// ```
/// const GLOBAL: &[taskscope_conformance::Divergence] = taskscope_conformance::diverges! {
///     c3_runtime_shutdown_drops_every_child => "our executor has no shutdown"
///         fails_with "outlived the runtime's shutdown",
///     c3_no_child_runs_after_runtime_shutdown => "same",
/// };
/// assert_eq!(GLOBAL[0].fails_with, Some("outlived the runtime's shutdown"));
/// assert_eq!(GLOBAL[1].case.name, "c3_no_child_runs_after_runtime_shutdown");
/// ```
///
/// A misspelled case is a compile error:
///
/// ```compile_fail
/// const TYPO: &[taskscope_conformance::Divergence] = taskscope_conformance::diverges! {
///     c3_runtime_shutdown_drops_every_chlid => "typo",
/// };
/// ```
#[macro_export]
macro_rules! diverges {
    ($($case:ident => $why:literal $(fails_with $frag:literal)?),* $(,)?) => {
        &[$($crate::Divergence {
            case: $crate::Case { name: ::std::stringify!($case), run: $crate::cases::$case },
            reason: $why,
            fails_with: $crate::__fragment!($($frag)?),
        }),*]
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __fragment {
    () => {
        ::std::option::Option::None
    };
    ($frag:literal) => {
        ::std::option::Option::Some($frag)
    };
}

/// A backend flavour for the report: its name (a column), how to build a fresh harness, and
/// its expected divergences.
#[derive(Clone, Copy, Debug)]
pub struct Backend {
    /// Its name in reports, such as `tokio-mt`.
    pub name: &'static str,
    /// Builds a fresh harness (one per case).
    pub make: fn() -> Box<dyn Harness>,
    /// The cases it is expected to fail (see [`diverges!`]).
    pub diverges: &'static [Divergence],
}

impl Backend {
    /// A backend with no expected divergence.
    pub const fn new(name: &'static str, make: fn() -> Box<dyn Harness>) -> Self {
        Self { name, make, diverges: &[] }
    }
    /// The same backend, expected to fail these cases.
    pub const fn diverging(self, diverges: &'static [Divergence]) -> Self {
        Self { diverges, ..self }
    }
    /// The divergence mark of `case`, if any.
    pub fn mark(&self, case: &str) -> Option<&'static Divergence> {
        self.diverges.iter().find(|d| d.case.name == case)
    }
}

/// How long one case may run before it counts as hung (a hang is a failure, e.g. an adapter
/// that never drops a cancelled task). The slowest case takes about 0.3 s, and cases give up
/// on their own waits after 10 s (with a message saying what they waited for), so this only
/// catches real hangs. [`suite!`]'s `timeout:` and the report's `--timeout` change it.
pub const CASE_TIMEOUT: Duration = Duration::from_secs(20);

/// How a case ended when run by [`run_case`].
#[derive(Clone, Debug)]
pub enum CaseResult {
    /// It passed, in this time.
    Pass(Duration),
    /// It failed with this message, after this time.
    Fail(String, Duration),
}

impl CaseResult {
    /// Whether the case passed.
    pub fn is_pass(&self) -> bool {
        matches!(self, Self::Pass(_))
    }
    /// How long it ran.
    pub fn elapsed(&self) -> Duration {
        match self {
            Self::Pass(d) | Self::Fail(_, d) => *d,
        }
    }
}

/// How a case ended, with the virtual time it took on a backend with a virtual clock: see
/// [`run_case_timed`].
#[derive(Clone, Debug)]
pub struct CaseRun {
    /// How it ended, with its real time.
    pub result: CaseResult,
    /// The virtual time that passed while it ran ([`Harness::virtual_elapsed`] read when the
    /// case returned, before its harness was dropped). `None` on a backend on real time, or
    /// for a case that hung.
    pub virtual_elapsed: Option<Duration>,
}

/// Runs one case on a fresh harness, on its own thread, with [`CASE_TIMEOUT`]. A case that
/// hangs fails (see [`run_case_with_timeout`]).
pub fn run_case(make: fn() -> Box<dyn Harness>, case: &Case) -> CaseResult {
    run_case_with_timeout(make, case, CASE_TIMEOUT)
}

/// Runs one case on a fresh harness, on its own thread, and fails it if it has not finished
/// after `timeout`: [`run_case_timed`] without the virtual time.
pub fn run_case_with_timeout(make: fn() -> Box<dyn Harness>, case: &Case, timeout: Duration) -> CaseResult {
    run_case_timed(make, case, timeout).result
}

/// Runs one case on a fresh harness, on its own thread, and fails it if it has not finished
/// after `timeout`; on a backend with a virtual clock the result carries the virtual time the
/// case took too.
///
/// The harness is dropped (its runtime shut down) when the case returns, then the checks the
/// case registered with [`support::after_shutdown`] run, then (whatever happened) its
/// [`support::on_teardown`] cleanups; on a [`shared_harness`], the runner then waits for the
/// case's tasks to end (see there). A case that hangs is abandoned: its pending and later
/// [`Harness::block_on`] calls return at once (dropping their futures), so that its harness
/// is dropped and its tasks stop; its thread is left to finish on its own. The failure says
/// where the case was: its phase, its last [`support::step`], and what it was still waiting
/// for (every pending [`support::Gate::wait`] and [`support::eventually`]).
pub fn run_case_timed(make: fn() -> Box<dyn Harness>, case: &Case, timeout: Duration) -> CaseRun {
    let start = Instant::now();
    let (tx, rx) = std::sync::mpsc::channel();
    let run = case.run;
    let abandon = CancelToken::new();
    let abandoned = abandon.clone();
    let progress = support::Progress::new();
    let watched = progress.clone();
    let spawned = std::thread::Builder::new().name(case.name.to_string()).spawn(move || {
        support::enter_case(progress.clone());
        let mut shared = None;
        let mut virtual_elapsed = None;
        let result = catch_unwind(AssertUnwindSafe(|| {
            let inner = make();
            let runtime: Arc<dyn Runtime> = Arc::new(Watched { inner: inner.runtime(), progress: progress.clone() });
            let h = Abandonable { inner, runtime, abandon: abandoned, progress: progress.clone() };
            shared = h.shared_tasks();
            let ran = catch_unwind(AssertUnwindSafe(|| run(&h)));
            virtual_elapsed = h.virtual_elapsed();
            if let Err(panic) = ran {
                std::panic::resume_unwind(panic);
            }
            progress.phase("dropping the harness (shutting its runtime down)");
            drop(h);
            progress.phase("running the checks after shutdown");
            for check in support::take_shutdown_checks() {
                check();
            }
        }))
        .map_err(|p| taskscope_core::panic_message(&*p).to_string());
        drop(support::take_shutdown_checks());
        progress.phase("running the case's cleanups");
        let cleaned = catch_unwind(AssertUnwindSafe(|| {
            for cleanup in support::take_teardowns() {
                cleanup();
            }
        }));
        let mut result = match (result, cleaned) {
            (Ok(()), Err(p)) => Err(format!("a cleanup panicked: {}", taskscope_core::panic_message(&*p))),
            (r, _) => r,
        };
        if let Some(count) = shared {
            progress.phase("waiting for the case's tasks to end on the shared executor");
            let settle = Instant::now();
            while count.get() > 0 && settle.elapsed() < SHARED_SETTLE {
                std::thread::sleep(Duration::from_millis(1));
            }
            let left = count.get();
            if left > 0 {
                let msg = format!(
                    "{left} task(s) the case spawned were still alive {SHARED_SETTLE:?} after it ended: on a \
                     shared executor they would run on into later cases"
                );
                result = match result {
                    Ok(()) => Err(msg),
                    Err(e) => Err(format!("{e} (and: {msg})")),
                };
            }
        }
        support::leave_case();
        let _ = tx.send((result, virtual_elapsed));
    });
    let thread = match spawned {
        Ok(t) => t,
        Err(e) => {
            let result = CaseResult::Fail(format!("could not spawn the case thread: {e}"), start.elapsed());
            return CaseRun { result, virtual_elapsed: None };
        }
    };
    match rx.recv_timeout(timeout) {
        Ok((outcome, virtual_elapsed)) => {
            let _ = thread.join();
            let result = match outcome {
                Ok(()) => CaseResult::Pass(start.elapsed()),
                Err(msg) => CaseResult::Fail(msg, start.elapsed()),
            };
            CaseRun { result, virtual_elapsed }
        }
        Err(_) => {
            // Described first: abandoning the case drops its pending waits.
            let at = watched.describe();
            abandon.cancel();
            let result = CaseResult::Fail(format!("hung: no result after {timeout:?}; {at}"), start.elapsed());
            CaseRun { result, virtual_elapsed: None }
        }
    }
}

/// The harness a case sees under [`run_case_with_timeout`]: the real one, plus a way to
/// abandon a hung case, and the case's progress.
struct Abandonable {
    inner: Box<dyn Harness>,
    runtime: Arc<dyn Runtime>,
    abandon: CancelToken,
    progress: support::Progress,
}

/// The runtime a case sees under [`run_case_with_timeout`]: the harness's own, whose timers
/// are listed in the case's progress while they are pending (a hang then says how long its
/// timers have waited); everything else goes straight through, the adapter's type included
/// ([`Runtime::as_any`]), so that scopes spawn on the harness's runtime the way they would
/// without the wrapper.
#[derive(Debug)]
struct Watched {
    inner: Arc<dyn Runtime>,
    progress: support::Progress,
}

impl Runtime for Watched {
    fn spawn(&self, task: Task) {
        self.inner.spawn(task);
    }
    fn spawn_blocking(&self, job: BlockingJob) {
        self.inner.spawn_blocking(job);
    }
    fn sleep_until(&self, deadline: Instant) -> BoxedSleep {
        let sleep = self.inner.sleep_until(deadline);
        let pending = self.progress.timer_started(deadline.saturating_duration_since(self.inner.now()));
        Box::pin(async move {
            let _pending = pending;
            sleep.await;
        })
    }
    fn now(&self) -> Instant {
        self.inner.now()
    }
    fn name(&self) -> &'static str {
        self.inner.name()
    }
    fn as_any(&self) -> Option<&dyn std::any::Any> {
        self.inner.as_any()
    }
}

impl Harness for Abandonable {
    fn runtime(&self) -> Arc<dyn Runtime> {
        self.runtime.clone()
    }
    fn block_on(&self, fut: Pin<Box<dyn Future<Output = ()> + '_>>) {
        if self.abandon.is_cancelled() {
            return;
        }
        self.progress.block_on_entered();
        let abandon = self.abandon.clone();
        self.inner.block_on(Box::pin(futures_lite::future::or(fut, async move { abandon.cancelled().await })));
        self.progress.block_on_left();
    }
    fn shared_tasks(&self) -> Option<TaskCount> {
        self.inner.shared_tasks()
    }
    fn virtual_elapsed(&self) -> Option<Duration> {
        self.inner.virtual_elapsed()
    }
}

/// How [`suite!`] runs the cases of one backend: built by the macro from its options.
#[derive(Debug)]
pub struct SuiteConfig {
    timeout: Duration,
    contract_first: bool,
    diverges: &'static [Divergence],
    contract: OnceLock<Result<(), String>>,
}

impl SuiteConfig {
    /// A configuration: the case timeout, whether the runtime contract is checked before any
    /// other case, and the expected divergences.
    pub const fn new(timeout: Duration, contract_first: bool, diverges: &'static [Divergence]) -> Self {
        Self { timeout, contract_first, diverges, contract: OnceLock::new() }
    }
}

/// The first clause of the runtime contract that `make`'s backend breaks, in the order of
/// [`cases::CONTRACT`] (a case marked as an expected divergence in `diverges` counts as kept
/// if it fails as marked): `Err` names the clause, the case and its failure.
pub fn check_contract(
    make: fn() -> Box<dyn Harness>,
    diverges: &[Divergence],
    timeout: Duration,
) -> Result<(), String> {
    for clause in cases::CONTRACT {
        let mark = diverges.iter().find(|d| d.case.name == clause.case.name);
        let verdict = Verdict::of(&run_case_with_timeout(make, &clause.case, timeout), mark);
        let why = match verdict {
            Verdict::Pass | Verdict::Diverged(_) => continue,
            Verdict::Fail(m) | Verdict::WrongFailure(m) => m,
            Verdict::UnexpectedPass => "passed, but is marked as an expected divergence: remove the mark".into(),
        };
        return Err(format!(
            "the runtime breaks its contract: \"{}\" (case {}): {why}",
            clause.clause, clause.case.name
        ));
    }
    Ok(())
}

/// Runs the case named `name` as a test under `config`: panics with the case's message if it
/// fails. A case marked as an expected divergence passes only if it fails (as pinned by its
/// mark's `fails_with`).
pub fn run_as_test(make: fn() -> Box<dyn Harness>, config: &SuiteConfig, name: &str) {
    let case = cases::ALL.iter().find(|c| c.name == name).unwrap_or_else(|| panic!("no case named {name}"));
    if config.contract_first && !cases::CONTRACT.iter().any(|c| c.case.name == name) {
        let contract = config.contract.get_or_init(|| check_contract(make, config.diverges, config.timeout));
        if let Err(e) = contract {
            panic!("{name} not run: {e}");
        }
    }
    let mark = config.diverges.iter().find(|d| d.case.name == name);
    match Verdict::of(&run_case_with_timeout(make, case, config.timeout), mark) {
        Verdict::Pass | Verdict::Diverged(_) => {}
        Verdict::Fail(msg) => panic!("{name} failed: {msg}"),
        Verdict::UnexpectedPass => panic!(
            "{name} was marked as an expected divergence ({}) but passed: remove the mark",
            mark.map_or("", |d| d.reason)
        ),
        Verdict::WrongFailure(msg) => panic!(
            "{name} failed, but not as its divergence mark expects (a failure containing {:?}): {msg}",
            mark.and_then(|d| d.fails_with).unwrap_or("")
        ),
    }
}

/// Turns the whole suite into `#[test]`s for one backend: `suite!(module_name, || harness)`,
/// then optionally, in this order:
/// - `timeout: <Duration>`: how long a case may run before it counts as hung (default
///   [`CASE_TIMEOUT`]);
/// - `contract_first: true`: every case first checks (once per test binary) the runtime-contract
///   cases ([`cases::CONTRACT`]), and fails at once, naming the broken clause, if one fails;
/// - `diverges: { case_name => "reason" [fails_with "fragment"], ... }`: expected divergences
///   (see [`diverges!`]; names are checked at compile time).
///
/// The same options apply to `suite!(module_name, backend: BACKEND)`, which takes a
/// [`Backend`] (name, harness maker, divergences: the one value the report takes too).
///
/// ```ignore
/// taskscope_conformance::suite!(my_backend, || make(),
///     timeout: std::time::Duration::from_secs(5),
///     contract_first: true,
///     diverges: {
///         c3_runtime_shutdown_drops_every_child => "a process-wide executor has no shutdown"
///             fails_with "outlived the runtime's shutdown",
///     },
/// );
/// ```
#[macro_export]
macro_rules! suite {
    ($module:ident, backend: $backend:expr
        $(, timeout: $timeout:expr)?
        $(, contract_first: $contract_first:expr)?
        $(,)?
    ) => {
        mod $module {
            #[allow(unused_imports)]
            use super::*;
            fn __make() -> ::std::boxed::Box<dyn $crate::Harness> {
                ($backend.make)()
            }
            static __CONFIG: $crate::SuiteConfig = $crate::SuiteConfig::new(
                $crate::__first!($($timeout,)? $crate::CASE_TIMEOUT),
                $crate::__first!($($contract_first,)? false),
                $backend.diverges,
            );
            $crate::__with_cases!($crate::__suite_tests);
        }
    };
    ($module:ident, $make:expr
        $(, timeout: $timeout:expr)?
        $(, contract_first: $contract_first:expr)?
        $(, diverges: { $($diverges:tt)* })?
        $(,)?
    ) => {
        mod $module {
            #[allow(unused_imports)]
            use super::*;
            fn __make() -> ::std::boxed::Box<dyn $crate::Harness> {
                ($make)()
            }
            static __CONFIG: $crate::SuiteConfig = $crate::SuiteConfig::new(
                $crate::__first!($($timeout,)? $crate::CASE_TIMEOUT),
                $crate::__first!($($contract_first,)? false),
                $crate::diverges!($($($diverges)*)?),
            );
            $crate::__with_cases!($crate::__suite_tests);
        }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __first {
    ($first:expr $(, $rest:expr)*) => {
        $first
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __suite_tests {
    ($($case:ident),* $(,)?) => {
        $(
            #[test]
            fn $case() {
                $crate::run_as_test(__make, &__CONFIG, ::std::stringify!($case));
            }
        )*
    };
}
