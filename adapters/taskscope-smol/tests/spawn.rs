//! `SmolRuntime`'s `Spawn` and `SmolJoin` against the `RawJoin` contract, on the adapter's
//! backends (the checks are core's `testing::raw_join`).

use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use taskscope_core::testing::{ThreadRuntime, raw_join};
use taskscope_core::{BlockOn, RawJoin, Runtime, Spawn};
use taskscope_smol::{SmolBackend, SmolRuntime};

/// A backend's name and how to build it.
type Flavour = (&'static str, fn() -> SmolBackend);

fn flavours() -> [Flavour; 2] {
    [("smol-mt", || SmolBackend::multi_thread(2)), ("smol-st", SmolBackend::single_thread)]
}

#[test]
fn join_value_roundtrip() {
    for (_, make) in flavours() {
        let b = make();
        raw_join::value_roundtrip(&b.smol_runtime(), &b);
    }
}

#[test]
fn join_value_roundtrip_global() {
    raw_join::value_roundtrip(&SmolRuntime::global(), &raw_join::ParkBlockOn);
}

#[test]
fn join_is_finished_after_completion() {
    for (_, make) in flavours() {
        let b = make();
        raw_join::is_finished_after_completion(&b.smol_runtime(), &b);
    }
}

#[test]
fn join_drop_detaches() {
    for (_, make) in flavours() {
        let b = make();
        raw_join::join_drop_detaches(&b.smol_runtime(), &b);
    }
}

#[test]
fn join_drop_detaches_global() {
    raw_join::join_drop_detaches(&SmolRuntime::global(), &raw_join::ParkBlockOn);
}

#[test]
fn join_none_after_shutdown() {
    for (_, make) in flavours() {
        let b = make();
        let rt = b.smol_runtime();
        raw_join::join_none_after_shutdown(&rt, b);
    }
}

#[test]
fn spawn_child_never_polls_inline() {
    for (_, make) in flavours() {
        let b = make();
        raw_join::spawn_child_never_polls_inline(&b.smol_runtime(), &b);
    }
}

#[test]
fn spawn_child_not_polled_on_return_single_thread() {
    let b = SmolBackend::single_thread();
    raw_join::spawn_child_not_polled_on_return(&b.smol_runtime(), &b);
}

#[test]
fn from_runtime_round_trip() {
    let b = SmolBackend::single_thread();
    raw_join::from_runtime_round_trip(&b.smol_runtime(), &(Arc::new(ThreadRuntime) as Arc<dyn Runtime>));
    assert_eq!(SmolRuntime::from_runtime(&b.runtime()).map(|r| r.name()), Some("smol-st"));
    assert_eq!(SmolRuntime::from_runtime(&SmolRuntime::global().runtime()).map(|r| r.name()), Some("smol"));
}

/// Single-thread only: async-task resumes a task's panic in the thread that runs it, which on
/// `smol-mt` is a worker (the worker would die). Core's futures never panic; this checks
/// that the join itself does not, and reports `None`.
#[test]
fn join_none_after_a_panic() {
    let b = SmolBackend::single_thread();
    let mut j = b.smol_runtime().spawn_child(async {
        if true {
            panic!("a panic the join reports as None");
        }
        0u8
    });
    let resumed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| b.block_on(raw_join::join(&mut j))));
    assert!(resumed.is_err(), "async-executor resumes the panic in its runner");
    assert!(j.is_finished());
    assert_eq!(j.poll_join(&mut Context::from_waker(Waker::noop())), Poll::Ready(None));
}

#[test]
fn join_poll_after_ready_is_none() {
    let b = SmolBackend::single_thread();
    let mut j = b.smol_runtime().spawn_child(async { 1u8 });
    assert_eq!(b.block_on(raw_join::join(&mut j)), Some(1));
    assert_eq!(j.poll_join(&mut Context::from_waker(Waker::noop())), Poll::Ready(None));
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
}
