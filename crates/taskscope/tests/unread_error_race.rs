//! F3 under a plain race on a multi-thread runtime: a body drops a supervised child's handle
//! as soon as its state says failed, while the runtime's worker may still be storing the
//! child's end. The error reaches the scope's group every time (before the body returns), on
//! each multi-thread flavour, through the facade's static spawn path.

#![cfg(all(feature = "tokio", feature = "smol"))]

use taskscope::{BlockOn, BoxError, Policy, ScopeError};

const RUNS: usize = 2_000;

fn check(backend: &impl BlockOn) {
    for run in 0..RUNS {
        let r = backend.block_on(taskscope::builder().policy(Policy::Supervise).run(async |s| {
            let h = s.spawn(async { Err::<(), BoxError>(BoxError::msg("boom")) });
            while !h.is_finished() {
                std::hint::spin_loop();
            }
            drop(h); // unread: its error goes to the group (F3)
            Ok::<_, BoxError>(())
        }));
        match r {
            Err(ScopeError::Failed(group)) => assert_eq!(group.len(), 1, "run {run}"),
            other => panic!("run {run}: the unread error was lost: {other:?}"),
        }
    }
}

#[test]
fn an_unread_error_of_a_handle_dropped_at_the_childs_end_is_never_lost_on_smol_mt() {
    check(&taskscope::smol::SmolBackend::multi_thread(2));
}

#[test]
fn an_unread_error_of_a_handle_dropped_at_the_childs_end_is_never_lost_on_tokio_mt() {
    check(&taskscope::tokio::TokioBackend::multi_thread(2));
}
