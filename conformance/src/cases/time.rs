//! P4, portable time: `sleep`, `sleep_until`, `now`, `interval` and `yield_now` run on the
//! runtime of the enclosing scope, never early, `Duration::MAX` is forever (never an overflow
//! panic), and the futures are cancel-safe.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use taskscope_core::{
    BlockingJob, BoxError, BoxedSleep, Runtime, Task, interval, move_on_after, now, sleep, sleep_until, yield_now,
};

use crate::Harness;
use crate::support::{Builder, Gate, OnDrop, assert_prompt, builder, err, expect_failed, inside_scope, messages};

/// P4: `sleep(d)` completes no earlier than `d` after it was called, on the scope's clock, in
/// the body and in a child.
pub fn p4_sleep_waits_at_least_its_duration(h: &dyn Harness) {
    h.block_on(Box::pin(async {
        builder(h)
            .run(async |s| {
                for ms in [0, 1, 5, 20] {
                    let start = now();
                    sleep(Duration::from_millis(ms)).await;
                    assert!(now() >= start + Duration::from_millis(ms), "a {ms} ms sleep in the body ended early");
                }
                s.spawn(async {
                    let start = now();
                    sleep(Duration::from_millis(10)).await;
                    assert!(now() >= start + Duration::from_millis(10), "a 10 ms sleep in a child ended early");
                    Ok::<_, BoxError>(())
                });
                Ok(())
            })
            .await
            .unwrap();
    }));
}

/// P4: `sleep_until` an instant already past completes at once; a future instant is waited
/// for.
pub fn p4_sleep_until_a_past_instant_completes_at_once(h: &dyn Harness) {
    h.block_on(Box::pin(inside_scope(h, async {
        let start = Instant::now();
        let t = now();
        sleep_until(t.checked_sub(Duration::from_millis(5)).unwrap_or(t)).await;
        sleep_until(t).await;
        assert_prompt(start, "a sleep until a past instant");
        let deadline = now() + Duration::from_millis(5);
        sleep_until(deadline).await;
        assert!(now() >= deadline, "sleep_until ended before its deadline");
    })));
}

/// P4: `Duration::MAX`, an instant far in the future and an interval of `Duration::MAX` mean
/// "never": pending until dropped, never an overflow panic.
pub fn p4_duration_max_is_forever_never_a_panic(h: &dyn Harness) {
    h.block_on(Box::pin(inside_scope(h, async {
        let short = Duration::from_millis(20);
        assert_eq!(move_on_after(short, sleep(Duration::MAX)).await, None, "sleep(Duration::MAX) completed");
        let far = now().checked_add(Duration::from_secs(100 * 365 * 24 * 3600)).expect("100 years is representable");
        assert_eq!(move_on_after(short, sleep_until(far)).await, None, "a sleep of 100 years completed");
        let mut every = interval(Duration::MAX);
        every.tick().await; // the first tick is at once
        assert_eq!(move_on_after(short, every.tick()).await, None, "an interval of Duration::MAX ticked twice");
    })));
}

/// P4: a child sleeping forever is cancelled promptly when a sibling fails (a `Sleep` is
/// dropped like any future).
pub fn p4_a_child_sleeping_forever_is_cancelled_promptly(h: &dyn Harness) {
    h.block_on(Box::pin(async {
        let start = Instant::now();
        let dropped = Arc::new(AtomicBool::new(false));
        let d = dropped.clone();
        let asleep = Gate::new();
        let r = builder(h)
            .run(async |s| {
                let flag = OnDrop(move || d.store(true, Ordering::SeqCst));
                let opened = asleep.clone();
                s.spawn(async move {
                    let _flag = flag;
                    let forever = sleep(Duration::MAX);
                    opened.open();
                    forever.await;
                    Ok::<_, BoxError>(())
                });
                let asleep = asleep.clone();
                s.spawn(async move {
                    asleep.wait().await;
                    Err::<(), _>(err("boom"))
                });
                Ok(())
            })
            .await;
        assert_eq!(
            messages(&expect_failed(r)),
            ["boom"],
            "messages of the failed scope's group members, in completion order"
        );
        assert!(dropped.load(Ordering::SeqCst), "the sleeping child was not dropped");
        assert_prompt(start, "cancelling a child sleeping forever");
    }));
}

/// A runtime that counts the timers it creates and the clock readings it gives.
#[derive(Debug)]
struct Counting {
    inner: Arc<dyn Runtime>,
    sleeps: AtomicUsize,
    nows: AtomicUsize,
}

impl Runtime for Counting {
    fn spawn(&self, task: Task) {
        self.inner.spawn(task);
    }
    fn spawn_blocking(&self, job: BlockingJob) {
        self.inner.spawn_blocking(job);
    }
    fn sleep_until(&self, deadline: Instant) -> BoxedSleep {
        self.sleeps.fetch_add(1, Ordering::SeqCst);
        self.inner.sleep_until(deadline)
    }
    fn now(&self) -> Instant {
        self.nows.fetch_add(1, Ordering::SeqCst);
        self.inner.now()
    }
    fn name(&self) -> &'static str {
        "counting"
    }
}

/// P4: the time functions use the enclosing scope's runtime (its timers and its clock), in the
/// body, in a child, and in a nested scope that was given no runtime.
pub fn p4_time_runs_on_the_enclosing_scopes_runtime(h: &dyn Harness) {
    h.block_on(Box::pin(async {
        let counting =
            Arc::new(Counting { inner: h.runtime(), sleeps: AtomicUsize::new(0), nows: AtomicUsize::new(0) });
        let rt: Arc<dyn Runtime> = counting.clone();
        let sleeps = || counting.sleeps.load(Ordering::SeqCst);
        let nows = || counting.nows.load(Ordering::SeqCst);
        Builder::typed()
            .runtime(rt)
            .run(async |s| {
                let (s0, n0) = (sleeps(), nows());
                sleep(Duration::from_millis(2)).await;
                assert!(sleeps() > s0 && nows() > n0, "the body's sleep did not use the scope's runtime");
                let n1 = nows();
                let _ = now();
                assert!(nows() > n1, "now() did not read the scope's clock");
                let s1 = sleeps();
                s.spawn(async {
                    sleep(Duration::from_millis(2)).await;
                    Ok::<_, BoxError>(())
                })
                .await
                .unwrap();
                assert!(sleeps() > s1, "a child's sleep did not use the scope's runtime");
                let s2 = sleeps();
                Builder::typed()
                    .run(async |_inner| {
                        let mut every = interval(Duration::from_millis(2));
                        every.tick().await;
                        every.tick().await;
                        Ok::<_, BoxError>(())
                    })
                    .await
                    .unwrap();
                assert!(sleeps() > s2, "a nested scope's interval did not use the outer scope's runtime");
                Ok::<_, BoxError>(())
            })
            .await
            .unwrap();
    }));
}

/// P4: `now()` reads the runtime's clock, and it never goes backwards.
pub fn p4_now_is_the_runtimes_clock(h: &dyn Harness) {
    let rt = h.runtime();
    h.block_on(Box::pin(inside_scope(h, async move {
        let mut last = rt.now();
        for _ in 0..100 {
            let t = now();
            assert!(t >= last, "now() went backwards");
            last = t;
        }
        assert!(rt.now() >= last, "now() is ahead of the runtime's clock");
    })));
}

/// P4: an interval's first tick is at once; each later tick is one period after the one
/// before (or, if the consumer fell a period behind, on the same grid), never early.
pub fn p4_interval_ticks_every_period(h: &dyn Harness) {
    h.block_on(Box::pin(inside_scope(h, async {
        let period = Duration::from_millis(10);
        let start = now();
        let mut every = interval(period);
        let first = every.tick().await;
        assert!(first >= start && first <= now(), "the first tick is not at once");
        let (mut last, mut seen) = (first, now());
        for i in 1..=3 {
            let t = every.tick().await;
            let offset = t.duration_since(first);
            assert!(t > last, "tick {i} is not after the one before");
            assert_eq!(offset.as_nanos() % period.as_nanos(), 0, "tick {i} is off the period's grid");
            if seen < last + period {
                // The consumer was on time: no tick may be skipped.
                assert_eq!(t, last + period, "tick {i} was not one period after the last");
            }
            assert!(now() >= t, "tick {i} completed before its instant");
            (last, seen) = (t, now());
        }
    })));
}

/// P4: a consumer that falls behind gets the late tick once, then the ticks missed meanwhile
/// are skipped (no burst): the next tick is the first multiple of the period still ahead.
pub fn p4_interval_skips_missed_ticks(h: &dyn Harness) {
    h.block_on(Box::pin(inside_scope(h, async {
        let period = Duration::from_millis(10);
        let mut every = interval(period);
        let first = every.tick().await;
        sleep(period * 3 + period / 2).await;
        let late = every.tick().await;
        assert_eq!(late, first + period, "the late tick is the one scheduled");
        // The late tick was taken at least 3.5 periods after the first: the ticks at 2 and 3
        // periods are missed and skipped.
        let next = every.tick().await;
        let since = next.duration_since(first);
        assert!(next >= first + period * 4, "a missed tick came in a burst");
        assert_eq!(since.as_nanos() % period.as_nanos(), 0, "the next tick is off the period's grid");
        assert!(now() >= next, "the tick completed early");
    })));
}

/// P4: dropping a `Tick` before it completes loses no tick: the next `tick()` returns it.
pub fn p4_a_dropped_tick_loses_no_tick(h: &dyn Harness) {
    h.block_on(Box::pin(inside_scope(h, async {
        let period = Duration::from_millis(200);
        let mut every = interval(period);
        let first = every.tick().await;
        assert_eq!(move_on_after(Duration::from_millis(5), every.tick()).await, None, "ticked early");
        assert_eq!(every.tick().await, first + period, "the dropped tick was lost");
    })));
}

/// P4: `yield_now` lets a sibling run, even on a single-threaded runtime.
pub fn p4_yield_now_lets_a_sibling_run(h: &dyn Harness) {
    h.block_on(Box::pin(async {
        let flag = Arc::new(AtomicBool::new(false));
        let (f1, f2) = (flag.clone(), flag.clone());
        builder(h)
            .run(async |s| {
                s.spawn(async move {
                    let mut spins = 0u64;
                    while !f1.load(Ordering::SeqCst) {
                        spins += 1;
                        assert!(spins < 10_000_000, "yield_now never let the sibling run");
                        yield_now().await;
                    }
                    Ok::<_, BoxError>(())
                });
                s.spawn(async move {
                    f2.store(true, Ordering::SeqCst);
                    Ok::<_, BoxError>(())
                });
                Ok(())
            })
            .await
            .unwrap();
        assert!(flag.load(Ordering::SeqCst), "`flag` was false, expected true");
    }));
}
