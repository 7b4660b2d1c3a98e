//! Counters the benchmarks use to observe children: how many started (were polled once) and
//! how many were dropped. Both sides of every comparison use the same probes, so their cost
//! (one atomic increment per child) cancels out.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use event_listener::Event;

/// Counts hits up to a target; [`wait`](Countdown::wait) resolves once the target is reached.
#[derive(Debug)]
pub struct Countdown {
    count: AtomicUsize,
    target: usize,
    event: Event,
}

impl Countdown {
    /// A countdown that completes after `target` hits.
    pub fn new(target: usize) -> Arc<Self> {
        Arc::new(Self { count: AtomicUsize::new(0), target, event: Event::new() })
    }

    /// Records one hit; the one that reaches the target wakes every waiter.
    pub fn hit(&self) {
        if self.count.fetch_add(1, Ordering::AcqRel) + 1 == self.target {
            self.event.notify(usize::MAX);
        }
    }

    /// The hits so far.
    pub fn count(&self) -> usize {
        self.count.load(Ordering::Acquire)
    }

    /// Resolves once the target has been reached (at once if it already has).
    pub async fn wait(&self) {
        loop {
            if self.count() >= self.target {
                return;
            }
            let listener = self.event.listen();
            if self.count() >= self.target {
                return;
            }
            listener.await;
        }
    }

    /// A guard that hits this countdown when it is dropped: put one in a child to observe that
    /// the child's future was dropped.
    pub fn drop_probe(self: &Arc<Self>) -> DropProbe {
        DropProbe(self.clone())
    }
}

/// Hits its [`Countdown`] when dropped (see [`Countdown::drop_probe`]).
#[derive(Debug)]
pub struct DropProbe(Arc<Countdown>);

impl Drop for DropProbe {
    fn drop(&mut self) {
        self.0.hit();
    }
}

#[cfg(test)]
mod tests {
    use super::Countdown;

    #[test]
    fn countdown_counts_hits_and_drops() {
        let c = Countdown::new(2);
        c.hit();
        drop(c.drop_probe());
        assert_eq!(c.count(), 2);
        async_io::block_on(c.wait()); // resolves at once
    }
}
