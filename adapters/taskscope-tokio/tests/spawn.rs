//! `TokioRuntime`'s `Spawn` and `TokioJoin` against the `RawJoin` contract, on both tokio
//! flavours (the checks are core's `testing::raw_join`).

use std::future::Future;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use taskscope_core::testing::{ThreadRuntime, raw_join};
use taskscope_core::{BlockOn, RawJoin, Runtime, Spawn};
use taskscope_tokio::{TokioBackend, TokioRuntime};

/// A flavour's name and how to build it.
type Flavour = (&'static str, fn() -> TokioBackend);

fn flavours() -> [Flavour; 2] {
    [("tokio-mt", || TokioBackend::multi_thread(2)), ("tokio-ct", TokioBackend::current_thread)]
}

#[test]
fn join_value_roundtrip() {
    for (_, make) in flavours() {
        let b = make();
        raw_join::value_roundtrip(&b.tokio_runtime(), &b);
    }
}

#[test]
fn join_is_finished_after_completion() {
    for (_, make) in flavours() {
        let b = make();
        raw_join::is_finished_after_completion(&b.tokio_runtime(), &b);
    }
}

#[test]
fn join_drop_detaches() {
    for (_, make) in flavours() {
        let b = make();
        raw_join::join_drop_detaches(&b.tokio_runtime(), &b);
    }
}

#[test]
fn join_none_after_shutdown() {
    for (_, make) in flavours() {
        let b = make();
        let rt = b.tokio_runtime();
        raw_join::join_none_after_shutdown(&rt, b);
    }
}

#[test]
fn spawn_child_never_polls_inline() {
    for (_, make) in flavours() {
        let b = make();
        raw_join::spawn_child_never_polls_inline(&b.tokio_runtime(), &b);
    }
}

#[test]
fn spawn_child_not_polled_on_return_current_thread() {
    let b = TokioBackend::current_thread();
    raw_join::spawn_child_not_polled_on_return(&b.tokio_runtime(), &b);
}

#[test]
fn from_runtime_round_trip() {
    let b = TokioBackend::current_thread();
    let rt = b.tokio_runtime();
    raw_join::from_runtime_round_trip(&rt, &(Arc::new(ThreadRuntime) as Arc<dyn Runtime>));
    assert_eq!(TokioRuntime::from_runtime(&b.runtime()).map(|r| r.name()), Some("tokio-ct"));
    // Through another layer of `Arc`, `as_any` is forwarded.
    let nested: Arc<dyn Runtime> = Arc::new(b.runtime());
    assert!(TokioRuntime::from_runtime(&nested).is_some());
}

/// Polls a fresh `consume_budget` until it returns `Pending`: the task's coop budget is spent.
fn exhaust_budget(cx: &mut Context<'_>) {
    for _ in 0..100_000 {
        if pin!(tokio::task::coop::consume_budget()).poll(cx).is_pending() {
            assert!(!tokio::task::coop::has_budget_remaining());
            return;
        }
    }
    panic!("no coop budget to exhaust: the test would prove nothing");
}

#[test]
fn join_ignores_coop_budget() {
    for (name, make) in flavours() {
        let b = make();
        let rt = b.tokio_runtime();
        let mut ours = rt.spawn_child(async { 5u32 });
        let mut raw = b.handle().spawn(async { 6u32 });
        b.block_on(async {
            while !(ours.is_finished() && raw.is_finished()) {
                raw_join::yield_now().await;
            }
        });
        let (ours_out, raw_out) = b.block_on(std::future::poll_fn(|cx| {
            exhaust_budget(cx);
            let raw_out = Pin::new(&mut raw).poll(cx).map(Result::ok);
            Poll::Ready((ours.poll_join(cx), raw_out))
        }));
        assert_eq!(raw_out, Poll::Pending, "{name}: tokio's own handle obeys the budget (the test's premise)");
        assert_eq!(ours_out, Poll::Ready(Some(5)), "{name}: TokioJoin returned a budget Pending");
        assert_eq!(b.block_on(raw).ok(), Some(6));
    }
}

#[test]
fn join_none_after_a_panic() {
    for (_, make) in flavours() {
        let b = make();
        let mut j = b.tokio_runtime().spawn_child(async {
            if true {
                panic!("a panic the join reports as None");
            }
            0u8
        });
        assert_eq!(b.block_on(raw_join::join(&mut j)), None);
        assert_eq!(j.poll_join(&mut Context::from_waker(Waker::noop())), Poll::Ready(None));
    }
}

/// The same checks on the dyn path: `Arc<dyn Runtime>`'s `Spawn` (`DynJoin` over
/// `Runtime::spawn`) on this adapter's runtimes.
mod dyn_path {
    use super::*;

    #[test]
    fn join_value_roundtrip() {
        for (_, make) in flavours() {
            let b = make();
            raw_join::value_roundtrip(&b.runtime(), &b);
        }
    }

    #[test]
    fn join_is_finished_after_completion() {
        for (_, make) in flavours() {
            let b = make();
            raw_join::is_finished_after_completion(&b.runtime(), &b);
        }
    }

    #[test]
    fn join_drop_detaches() {
        for (_, make) in flavours() {
            let b = make();
            raw_join::join_drop_detaches(&b.runtime(), &b);
        }
    }

    #[test]
    fn join_none_after_shutdown() {
        for (_, make) in flavours() {
            let b = make();
            let rt = b.runtime();
            raw_join::join_none_after_shutdown(&rt, b);
        }
    }

    #[test]
    fn spawn_child_never_polls_inline() {
        for (_, make) in flavours() {
            let b = make();
            raw_join::spawn_child_never_polls_inline(&b.runtime(), &b);
        }
    }

    #[test]
    fn join_ignores_coop_budget() {
        for (name, make) in flavours() {
            let b = make();
            let mut j = b.runtime().spawn_child(async { 5u32 });
            b.block_on(async {
                while !j.is_finished() {
                    raw_join::yield_now().await;
                }
            });
            let out = b.block_on(std::future::poll_fn(|cx| {
                exhaust_budget(cx);
                Poll::Ready(j.poll_join(cx))
            }));
            assert_eq!(out, Poll::Ready(Some(5)), "{name}: DynJoin returned a budget Pending");
        }
    }
}
