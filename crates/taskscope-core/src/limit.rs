//! The concurrency limit (L1): a small FIFO semaphore whose waiters are enqueued when created,
//! so children start in spawn order, and whose permits are handed over directly to the next
//! waiter (a released permit can never be taken by a newcomer, nor stranded by a waiter that
//! gave up).

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use crate::sync::{AtomicU8, AtomicWaker, Mutex, Ordering};
use crate::util::lock;

const WAITING: u8 = 0;
const GRANTED: u8 = 1;
const CLOSED: u8 = 2;

#[derive(Debug)]
struct Waiter {
    state: AtomicU8,
    waker: AtomicWaker,
}

#[derive(Debug)]
struct State {
    permits: usize,
    queue: VecDeque<Arc<Waiter>>,
    closed: bool,
}

#[derive(Debug)]
pub(crate) struct Semaphore {
    state: Mutex<State>,
}

impl Semaphore {
    pub(crate) fn new(permits: usize) -> Arc<Self> {
        Arc::new(Self { state: Mutex::new(State { permits, queue: VecDeque::new(), closed: false }) })
    }

    /// Takes a permit now, or enqueues a waiter (FIFO) whose place is kept from this call on.
    pub(crate) fn acquire(self: &Arc<Self>) -> Acquire {
        let mut st = lock(&self.state);
        if st.closed {
            return Acquire { sem: self.clone(), waiter: None, result: Some(None) };
        }
        if st.permits > 0 && st.queue.is_empty() {
            st.permits -= 1;
            return Acquire { sem: self.clone(), waiter: None, result: Some(Some(Permit { sem: self.clone() })) };
        }
        let waiter = Arc::new(Waiter { state: AtomicU8::new(WAITING), waker: AtomicWaker::new() });
        st.queue.push_back(waiter.clone());
        Acquire { sem: self.clone(), waiter: Some(waiter), result: None }
    }

    /// A permit now, if one is free and nobody is waiting (the non-waiting spawn).
    pub(crate) fn try_acquire(self: &Arc<Self>) -> Result<Permit, bool> {
        let mut st = lock(&self.state);
        if st.closed {
            return Err(true);
        }
        if st.permits > 0 && st.queue.is_empty() {
            st.permits -= 1;
            Ok(Permit { sem: self.clone() })
        } else {
            Err(false)
        }
    }

    /// Refuses every waiter, now and later: the scope is cancelling or finished.
    pub(crate) fn close(&self) {
        let waiters = {
            let mut st = lock(&self.state);
            st.closed = true;
            let waiters = std::mem::take(&mut st.queue);
            // Under the lock, like `release`: a waiter's state changes only under it.
            for w in &waiters {
                w.state.store(CLOSED, Ordering::Release);
            }
            waiters
        };
        for w in waiters {
            w.waker.wake();
        }
    }

    /// Hands the permit to the first waiter in line, or returns it to the pool.
    ///
    /// The waiter is granted under the lock: [`Acquire`]'s drop decides under the same lock
    /// whether its waiter is still queued (then removes it) or was granted (then passes the
    /// permit on), so a grant can never land on a waiter that already gave up.
    fn release(&self) {
        let next = {
            let mut st = lock(&self.state);
            match st.queue.pop_front() {
                Some(w) => {
                    w.state.store(GRANTED, Ordering::Release);
                    Some(w)
                }
                None => {
                    st.permits += 1;
                    None
                }
            }
        };
        if let Some(w) = next {
            w.waker.wake();
        }
    }

    /// Permits in the pool (not handed to a waiter).
    #[cfg(test)]
    pub(crate) fn available(&self) -> usize {
        lock(&self.state).permits
    }
}

/// One running slot of a limited scope; released (to the next waiter, in order) on drop.
#[derive(Debug)]
pub(crate) struct Permit {
    sem: Arc<Semaphore>,
}

impl Drop for Permit {
    fn drop(&mut self) {
        self.sem.release();
    }
}

/// Waits for a permit: `Some(permit)`, or `None` once the semaphore is closed.
///
/// Cancel-safe: dropping it gives up its place, and a permit handed over to it in the meantime
/// passes on to the next waiter.
#[derive(Debug)]
pub(crate) struct Acquire {
    sem: Arc<Semaphore>,
    waiter: Option<Arc<Waiter>>,
    result: Option<Option<Permit>>,
}

impl Future for Acquire {
    type Output = Option<Permit>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Permit>> {
        if let Some(r) = self.result.take() {
            return Poll::Ready(r);
        }
        let Some(w) = self.waiter.as_ref() else { return Poll::Ready(None) };
        let mut state = w.state.load(Ordering::Acquire);
        if state == WAITING {
            w.waker.register(cx.waker());
            state = w.state.load(Ordering::Acquire);
        }
        match state {
            WAITING => Poll::Pending,
            GRANTED => {
                self.waiter = None;
                Poll::Ready(Some(Permit { sem: self.sem.clone() }))
            }
            _ => {
                self.waiter = None;
                Poll::Ready(None)
            }
        }
    }
}

impl Drop for Acquire {
    fn drop(&mut self) {
        let Some(w) = self.waiter.take() else { return };
        let granted = {
            let mut st = lock(&self.sem.state);
            // Under the lock the state is final: either still queued (remove it) or granted.
            if w.state.load(Ordering::Acquire) == WAITING {
                st.queue.retain(|q| !Arc::ptr_eq(q, &w));
                false
            } else {
                w.state.load(Ordering::Acquire) == GRANTED
            }
        };
        if granted {
            // Handed a permit but never took it: pass it on, never strand it.
            self.sem.release();
        }
    }
}

#[cfg(all(test, not(taskscope_loom)))]
mod tests {
    use super::*;
    use futures_lite::future::{block_on, poll_once};

    #[test]
    fn fifo_handover_and_cancel_never_strands_a_permit() {
        let sem = Semaphore::new(1);
        let p = block_on(sem.acquire()).unwrap();
        let mut a = sem.acquire();
        let mut b = sem.acquire();
        assert!(block_on(poll_once(&mut a)).is_none());
        assert!(block_on(poll_once(&mut b)).is_none());
        drop(p); // handed to `a`, first in line
        assert_eq!(sem.available(), 0);
        drop(a); // `a` gives up its granted permit: it passes to `b`
        let pb = block_on(poll_once(&mut b)).flatten().expect("b got the permit");
        drop(pb);
        assert_eq!(sem.available(), 1);
        assert!(sem.try_acquire().is_ok());
    }

    #[test]
    fn close_releases_waiters_with_none() {
        let sem = Semaphore::new(1);
        let _p = sem.try_acquire().unwrap();
        let a = sem.acquire();
        sem.close();
        assert!(block_on(a).is_none());
        assert!(block_on(sem.acquire()).is_none());
    }
}

/// Model checks of the semaphore (`RUSTFLAGS="--cfg taskscope_loom" cargo test -p taskscope-core
/// --release --lib loom`): every interleaving of a permit's release with a waiter giving up
/// and with the scope closing.
#[cfg(all(test, taskscope_loom))]
mod loom_models {
    use super::*;
    use loom::future::block_on;
    use loom::thread;

    /// A permit released while its only waiter gives up is never lost: afterwards the pool has
    /// it back, whichever side ran first (L1).
    #[test]
    fn release_racing_a_waiter_drop_never_loses_the_permit() {
        loom::model(|| {
            let sem = Semaphore::new(1);
            let permit = sem.try_acquire().expect("one permit");
            let waiter = sem.acquire();
            let releaser = thread::spawn(move || drop(permit));
            drop(waiter);
            releaser.join().unwrap();
            assert_eq!(sem.available(), 1, "the permit was lost");
        });
    }

    /// The same race with a second waiter in line: the permit reaches it, or the pool.
    #[test]
    fn release_racing_a_waiter_drop_passes_the_permit_on() {
        loom::model(|| {
            let sem = Semaphore::new(1);
            let permit = sem.try_acquire().expect("one permit");
            let first = sem.acquire();
            let second = sem.acquire();
            let releaser = thread::spawn(move || drop(permit));
            drop(first);
            let got = block_on(second).expect("the second waiter gets the permit");
            releaser.join().unwrap();
            drop(got);
            assert_eq!(sem.available(), 1);
        });
    }

    /// Closing while a permit is released: a waiter either gets the permit or `None`, never
    /// hangs, and no permit is lost.
    #[test]
    fn close_racing_release_wakes_every_waiter() {
        loom::model(|| {
            let sem = Semaphore::new(1);
            let permit = sem.try_acquire().expect("one permit");
            let waiter = sem.acquire();
            let s = sem.clone();
            let closer = thread::spawn(move || s.close());
            let releaser = thread::spawn(move || drop(permit));
            drop(block_on(waiter));
            closer.join().unwrap();
            releaser.join().unwrap();
            assert_eq!(sem.available(), 1);
        });
    }
}
