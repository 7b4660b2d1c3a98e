//! The simulated runtime (P5): one thread, a virtual clock, a seeded choice of the next task.
//!
//! Everything runs inside [`BlockOn::block_on`] on the calling thread. Each step picks one
//! entry of the ready set (the `block_on` future, a woken task, or a blocking job) with the
//! seeded [`Rng`]; when nothing is ready, the virtual clock jumps to the earliest pending
//! timer. Wakers only push onto the ready set, so the order of events is a function of the
//! seed alone. Dropping the [`Sim`] drops every task (C3 at runtime shutdown).
//!
//! Blocking jobs (B1) run on a thread of their own while the simulation waits for them, up to
//! a real-time grace ([`Sim::blocking_grace`]): a job that finishes within it is one atomic,
//! deterministic step. A job still running after it (one that waits for the async side, for
//! example by watching a token) goes on beside the simulation, which then no longer waits for
//! it; from then on the schedule depends on when it finishes.

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::pin::{Pin, pin};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError, Weak};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use taskscope_core::{BlockOn, BlockingJob, BoxedSleep, Runtime, Task};

use crate::Rng;

/// The deterministic simulation backend: a seeded, single-threaded runtime with a virtual
/// clock. Give [`Sim::runtime`] to scopes, drive them with [`BlockOn::block_on`].
///
/// ```
/// use std::time::Duration;
/// use taskscope_core::{BlockOn, BoxError, Builder};
/// use taskscope_sim::Sim;
///
/// let sim = Sim::new(42);
/// let rt = sim.runtime();
/// let r = sim.block_on(Builder::new().runtime(rt.clone()).timeout(Duration::from_secs(3600)).run(async |s| {
///     let rt = rt.clone();
///     s.spawn(async move {
///         rt.sleep_until(rt.now() + Duration::from_secs(7200)).await; // never reached
///         Ok::<_, BoxError>(())
///     });
///     Ok(())
/// }));
/// assert!(r.unwrap_err().is_elapsed());
/// assert_eq!(sim.elapsed(), Duration::from_secs(3600)); // an hour of virtual time, at once
/// ```
pub struct Sim {
    shared: Arc<Shared>,
}

/// The [`Runtime`] of a [`Sim`]. It holds the simulation weakly (tasks hold scopes, scopes
/// hold their runtime): once the `Sim` is dropped, spawns drop their task unpolled.
#[derive(Clone)]
pub struct SimRuntime {
    shared: Weak<Shared>,
}

struct Shared {
    state: Mutex<State>,
    /// Signalled when another thread makes something ready or a blocking job ends.
    wakeup: Condvar,
    base: Instant,
    seed: u64,
    blocking_grace: Duration,
    idle_wait: Duration,
}

/// An entry of the ready set.
#[derive(Clone, Copy, Debug)]
enum Ready {
    /// The future given to `block_on`.
    Main,
    /// A spawned task: its slot and the slot's generation (a stale entry is skipped).
    Task(usize, u64),
    /// A blocking job waiting to be started.
    Job(u64),
}

struct Slot {
    generation: u64,
    /// `None` while the task is being polled.
    task: Option<Task>,
    waker: Waker,
    queued: bool,
}

struct State {
    slots: Vec<Option<Slot>>,
    free: Vec<usize>,
    generations: u64,
    ready: Vec<Ready>,
    main_queued: bool,
    jobs: BTreeMap<u64, BlockingJob>,
    next_job: u64,
    /// Blocking jobs started on their thread and not finished yet.
    running_jobs: usize,
    timers: BTreeMap<(Duration, u64), Waker>,
    next_timer: u64,
    elapsed: Duration,
    rng: Rng,
    polls: u64,
    closed: bool,
    driving: bool,
}

fn lock(m: &Mutex<State>) -> MutexGuard<'_, State> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Sim {
    /// A simulation whose schedule is determined by `seed`.
    pub fn new(seed: u64) -> Self {
        Self {
            shared: Arc::new(Shared {
                state: Mutex::new(State {
                    slots: Vec::new(),
                    free: Vec::new(),
                    generations: 0,
                    ready: Vec::new(),
                    main_queued: false,
                    jobs: BTreeMap::new(),
                    next_job: 0,
                    running_jobs: 0,
                    timers: BTreeMap::new(),
                    next_timer: 0,
                    elapsed: Duration::ZERO,
                    rng: Rng::new(seed),
                    polls: 0,
                    closed: false,
                    driving: false,
                }),
                wakeup: Condvar::new(),
                base: Instant::now(),
                seed,
                blocking_grace: Duration::from_millis(100),
                idle_wait: Duration::from_millis(250),
            }),
        }
    }

    /// How long (real time) the simulation waits for a blocking job before letting it run
    /// beside the simulation (default 100 ms). Call before anything is spawned.
    ///
    /// # Panics
    /// If the simulation has already been handed out (its runtime cloned or used).
    #[track_caller]
    pub fn blocking_grace(mut self, grace: Duration) -> Self {
        Arc::get_mut(&mut self.shared)
            .expect("Sim::blocking_grace: configure the simulation before calling runtime()")
            .blocking_grace = grace;
        self
    }

    /// How long (real time) the simulation waits, with no task ready, no timer pending and no
    /// blocking job running, for a wake-up from another thread before it reports a deadlock
    /// (default 250 ms).
    ///
    /// # Panics
    /// If the simulation has already been handed out (its runtime cloned or used).
    #[track_caller]
    pub fn deadlock_wait(mut self, wait: Duration) -> Self {
        Arc::get_mut(&mut self.shared)
            .expect("Sim::deadlock_wait: configure the simulation before calling runtime()")
            .idle_wait = wait;
        self
    }

    /// The runtime to give to scopes.
    pub fn runtime(&self) -> Arc<dyn Runtime> {
        Arc::new(SimRuntime { shared: Arc::downgrade(&self.shared) })
    }

    /// The seed this simulation was created with.
    pub fn seed(&self) -> u64 {
        self.shared.seed
    }

    /// Virtual time elapsed since the simulation was created.
    pub fn elapsed(&self) -> Duration {
        lock(&self.shared.state).elapsed
    }

    /// How many polls (of tasks, the `block_on` future and blocking jobs) the simulation has
    /// run: a cheap fingerprint of a schedule.
    pub fn polls(&self) -> u64 {
        lock(&self.shared.state).polls
    }

    /// The next entry of the ready set, chosen by the seeded generator.
    fn pick(&self) -> Option<Ready> {
        let mut st = lock(&self.shared.state);
        if st.ready.is_empty() {
            return None;
        }
        let n = st.ready.len() as u64;
        let i = st.rng.below(n) as usize;
        let entry = st.ready.swap_remove(i);
        st.polls += 1;
        match entry {
            Ready::Main => st.main_queued = false,
            Ready::Task(id, generation) => {
                if let Some(Some(slot)) = st.slots.get_mut(id)
                    && slot.generation == generation
                {
                    slot.queued = false;
                }
            }
            Ready::Job(_) => {}
        }
        Some(entry)
    }

    fn poll_task(&self, id: usize, generation: u64) {
        let (mut task, waker) = {
            let mut st = lock(&self.shared.state);
            let Some(Some(slot)) = st.slots.get_mut(id) else { return };
            if slot.generation != generation {
                return;
            }
            let Some(task) = slot.task.take() else { return };
            (task, slot.waker.clone())
        };
        let done = Pin::new(&mut task).poll(&mut Context::from_waker(&waker)).is_ready();
        let mut st = lock(&self.shared.state);
        if done {
            st.slots[id] = None;
            st.free.push(id);
            drop(st);
            drop(task);
        } else if let Some(Some(slot)) = st.slots.get_mut(id) {
            slot.task = Some(task);
        }
    }

    fn run_job(&self, id: u64) {
        let Some(job) = lock(&self.shared.state).jobs.remove(&id) else { return };
        lock(&self.shared.state).running_jobs += 1;
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let end = JobEnd { shared: Arc::downgrade(&self.shared), _done: tx };
        std::thread::Builder::new()
            .name("taskscope-sim-blocking".into())
            .spawn(move || {
                let _end = end;
                job();
            })
            .expect("taskscope-sim: could not spawn a thread for a blocking job");
        // Within the grace the job is one atomic step: nothing else runs meanwhile.
        let _ = rx.recv_timeout(self.shared.blocking_grace);
    }

    /// Nothing is ready: move the clock to the next timer, or wait for another thread, or
    /// report a deadlock.
    fn idle(&self) {
        let mut st = lock(&self.shared.state);
        if !st.ready.is_empty() {
            return;
        }
        if let Some((&(at, _), _)) = st.timers.first_key_value() {
            st.elapsed = st.elapsed.max(at);
            let mut due = Vec::new();
            while let Some(entry) = st.timers.first_entry() {
                if entry.key().0 > at {
                    break;
                }
                due.push(entry.remove());
            }
            drop(st);
            due.into_iter().for_each(Waker::wake);
            return;
        }
        if st.running_jobs > 0 {
            let _unused =
                self.shared.wakeup.wait_while(st, |s| s.ready.is_empty() && s.running_jobs > 0 && s.timers.is_empty());
            return;
        }
        let (st, _) = self
            .shared
            .wakeup
            .wait_timeout_while(st, self.shared.idle_wait, |s| {
                s.ready.is_empty() && s.running_jobs == 0 && s.timers.is_empty()
            })
            .unwrap_or_else(PoisonError::into_inner);
        if st.ready.is_empty() && st.running_jobs == 0 && st.timers.is_empty() {
            let (tasks, elapsed, seed) = (st.slots.iter().flatten().count(), st.elapsed, self.shared.seed);
            drop(st);
            panic!(
                "simulation deadlock: the block_on future is pending but no task is ready, no timer is pending \
                 and no blocking job is running ({tasks} tasks parked, virtual time {elapsed:?}, seed {seed}); \
                 something waits for a wake-up that never comes"
            );
        }
    }
}

impl BlockOn for Sim {
    /// Runs `fut` to completion, driving every task of the simulation on this thread.
    ///
    /// # Panics
    /// With "simulation deadlock: ..." if `fut` is pending and nothing can ever wake it
    /// (see [`Sim::deadlock_wait`]); if called again from inside the simulation; and with
    /// the payload of any panic of `fut` or of a task.
    fn block_on<F: Future>(&self, fut: F) -> F::Output {
        {
            let mut st = lock(&self.shared.state);
            assert!(!st.driving, "Sim::block_on: the simulation is already being driven (nested block_on)");
            st.driving = true;
            st.main_queued = true;
            st.ready.push(Ready::Main);
        }
        let _driving = Driving(&self.shared);
        let _current = Current::enter(self.runtime());
        let mut fut = pin!(fut);
        let waker = Waker::from(Arc::new(MainWaker(Arc::downgrade(&self.shared))));
        loop {
            match self.pick() {
                Some(Ready::Main) => {
                    if let Poll::Ready(out) = fut.as_mut().poll(&mut Context::from_waker(&waker)) {
                        return out;
                    }
                }
                Some(Ready::Task(id, generation)) => self.poll_task(id, generation),
                Some(Ready::Job(id)) => self.run_job(id),
                None => self.idle(),
            }
        }
    }
}

std::thread_local! {
    /// The simulation `block_on` is driving on this thread, for [`current`].
    static CURRENT: std::cell::RefCell<Option<Arc<dyn Runtime>>> = const { std::cell::RefCell::new(None) };
}

/// The runtime of the simulation whose [`block_on`](BlockOn::block_on) is running on this
/// thread (its main future and its tasks are all polled there), if any: how the `taskscope`
/// facade detects a simulation (with its `sim` feature), as it detects tokio or smol.
///
/// ```
/// use taskscope_core::BlockOn;
/// use taskscope_sim::Sim;
///
/// assert!(taskscope_sim::current().is_none());
/// let sim = Sim::new(7);
/// assert_eq!(sim.block_on(async { taskscope_sim::current().map(|rt| rt.name()) }), Some("sim"));
/// ```
pub fn current() -> Option<Arc<dyn Runtime>> {
    CURRENT.try_with(|c| c.borrow().clone()).ok().flatten()
}

/// Makes a simulation [`current`] on this thread while alive; restores the previous one.
struct Current(Option<Arc<dyn Runtime>>);

impl Current {
    fn enter(rt: Arc<dyn Runtime>) -> Self {
        Self(CURRENT.try_with(|c| c.replace(Some(rt))).ok().flatten())
    }
}

impl Drop for Current {
    fn drop(&mut self) {
        let prev = self.0.take();
        let _ = CURRENT.try_with(|c| *c.borrow_mut() = prev);
    }
}

/// Clears the "being driven" mark when `block_on` returns or unwinds.
struct Driving<'a>(&'a Arc<Shared>);

impl Drop for Driving<'_> {
    fn drop(&mut self) {
        let mut st = lock(&self.0.state);
        st.driving = false;
        st.main_queued = false;
        st.ready.retain(|r| !matches!(r, Ready::Main));
    }
}

/// Marks a blocking job finished (also if it panics) and wakes the simulation.
struct JobEnd {
    shared: Weak<Shared>,
    _done: std::sync::mpsc::Sender<()>,
}

impl Drop for JobEnd {
    fn drop(&mut self) {
        if let Some(shared) = self.shared.upgrade() {
            lock(&shared.state).running_jobs -= 1;
            shared.wakeup.notify_all();
        }
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        // Dropping a task may spawn or wake others: drop outside the lock, until none is left.
        loop {
            let (tasks, jobs, timers) = {
                let mut st = lock(&self.shared.state);
                st.closed = true;
                st.ready.clear();
                let tasks: Vec<Task> = st.slots.iter_mut().flatten().filter_map(|s| s.task.take()).collect();
                st.slots.clear();
                st.free.clear();
                (tasks, std::mem::take(&mut st.jobs), std::mem::take(&mut st.timers))
            };
            if tasks.is_empty() && jobs.is_empty() && timers.is_empty() {
                return;
            }
            drop((tasks, jobs, timers));
        }
    }
}

struct MainWaker(Weak<Shared>);

impl Wake for MainWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        let Some(shared) = self.0.upgrade() else { return };
        let mut st = lock(&shared.state);
        if st.driving && !st.main_queued {
            st.main_queued = true;
            st.ready.push(Ready::Main);
            drop(st);
            shared.wakeup.notify_all();
        }
    }
}

struct TaskWaker {
    shared: Weak<Shared>,
    id: usize,
    generation: u64,
}

impl Wake for TaskWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        let Some(shared) = self.shared.upgrade() else { return };
        let mut st = lock(&shared.state);
        if let Some(Some(slot)) = st.slots.get_mut(self.id)
            && slot.generation == self.generation
            && !slot.queued
        {
            slot.queued = true;
            st.ready.push(Ready::Task(self.id, self.generation));
            drop(st);
            shared.wakeup.notify_all();
        }
    }
}

impl Runtime for SimRuntime {
    fn spawn(&self, task: Task) {
        let Some(shared) = self.shared.upgrade() else { return drop(task) };
        let mut st = lock(&shared.state);
        if st.closed {
            drop(st);
            return drop(task);
        }
        st.generations += 1;
        let generation = st.generations;
        let id = st.free.pop().unwrap_or(st.slots.len());
        let waker = Waker::from(Arc::new(TaskWaker { shared: self.shared.clone(), id, generation }));
        let slot = Slot { generation, task: Some(task), waker, queued: true };
        if id == st.slots.len() {
            st.slots.push(Some(slot));
        } else {
            st.slots[id] = Some(slot);
        }
        st.ready.push(Ready::Task(id, generation));
        drop(st);
        shared.wakeup.notify_all();
    }

    fn spawn_blocking(&self, job: BlockingJob) {
        let Some(shared) = self.shared.upgrade() else { return drop(job) };
        let mut st = lock(&shared.state);
        if st.closed {
            drop(st);
            return drop(job);
        }
        let id = st.next_job;
        st.next_job += 1;
        st.jobs.insert(id, job);
        st.ready.push(Ready::Job(id));
        drop(st);
        shared.wakeup.notify_all();
    }

    fn sleep_until(&self, deadline: Instant) -> BoxedSleep {
        let at = self.shared.upgrade().map_or(Duration::ZERO, |s| deadline.saturating_duration_since(s.base));
        Box::pin(Sleep { shared: self.shared.clone(), at, key: None })
    }

    fn now(&self) -> Instant {
        match self.shared.upgrade() {
            Some(s) => {
                let elapsed = lock(&s.state).elapsed;
                s.base + elapsed
            }
            None => Instant::now(),
        }
    }

    fn name(&self) -> &'static str {
        "sim"
    }
}

/// A virtual-time sleep: ready once the simulation's clock reaches `at`.
struct Sleep {
    shared: Weak<Shared>,
    at: Duration,
    key: Option<(Duration, u64)>,
}

impl Future for Sleep {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        // A simulation that is gone never advances its clock again.
        let Some(shared) = self.shared.upgrade() else { return Poll::Pending };
        let mut st = lock(&shared.state);
        if st.elapsed >= self.at {
            if let Some(key) = self.key.take() {
                st.timers.remove(&key);
            }
            return Poll::Ready(());
        }
        let key = match self.key {
            Some(key) => key,
            None => {
                st.next_timer += 1;
                (self.at, st.next_timer)
            }
        };
        st.timers.insert(key, cx.waker().clone());
        drop(st);
        self.key = Some(key);
        Poll::Pending
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        if let (Some(key), Some(shared)) = (self.key, self.shared.upgrade()) {
            lock(&shared.state).timers.remove(&key);
        }
    }
}

impl fmt::Debug for Sim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sim").field("seed", &self.shared.seed).field("elapsed", &self.elapsed()).finish()
    }
}

impl fmt::Debug for SimRuntime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimRuntime").field("seed", &self.shared.upgrade().map(|s| s.seed)).finish()
    }
}
