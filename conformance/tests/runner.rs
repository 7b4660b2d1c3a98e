//! The case runner itself: what a hang reports, how divergence marks judge a result, and the
//! per-case isolation of a shared (global) executor.

use std::time::Duration;

use taskscope_conformance::support::{Gate, step};
use taskscope_conformance::{
    Case, CaseResult, Divergence, Harness, Verdict, backends, diverges, run_case_with_timeout,
};
use taskscope_core::{CancelToken, Task};

fn hangs_on_a_gate(h: &dyn Harness) {
    h.block_on(Box::pin(async {
        step("waiting for the gate nobody opens");
        Gate::new().wait().await;
    }));
}

#[test]
fn a_hang_reports_the_phase_the_last_step_and_the_pending_wait() {
    let case = Case { name: "hangs_on_a_gate", run: hangs_on_a_gate };
    let CaseResult::Fail(msg, _) = run_case_with_timeout(backends::smol_st, &case, Duration::from_secs(2)) else {
        panic!("a case waiting on a closed gate passed")
    };
    assert!(msg.starts_with("hung: no result after 2s"), "the hang message: {msg}");
    assert!(msg.contains("it was running the case, inside block_on call #1"), "the phase: {msg}");
    assert!(msg.contains("last step reached: waiting for the gate nobody opens"), "the step: {msg}");
    assert!(msg.contains("a gate to open (Gate::wait at conformance/tests/runner.rs:"), "the pending wait: {msg}");
}

static LEFT_RUNNING: std::sync::LazyLock<CancelToken> = std::sync::LazyLock::new(CancelToken::new);

fn leaves_a_task_running(h: &dyn Harness) {
    let stop = LEFT_RUNNING.clone();
    h.runtime().spawn(Task::new(async move { stop.cancelled().await }));
}

#[test]
fn a_case_that_leaves_a_task_on_a_shared_executor_fails_by_name() {
    let case = Case { name: "leaves_a_task_running", run: leaves_a_task_running };
    let result = run_case_with_timeout(backends::smol_global, &case, Duration::from_secs(10));
    LEFT_RUNNING.cancel();
    let CaseResult::Fail(msg, _) = result else { panic!("a case that left a task on the global executor passed") };
    assert!(msg.starts_with("1 task(s) the case spawned were still alive"), "the leftover message: {msg}");
}

#[test]
fn the_same_case_passes_on_an_owned_runtime_whose_shutdown_drops_the_task() {
    let case = Case { name: "leaves_a_task_running", run: leaves_a_task_running };
    let result = run_case_with_timeout(backends::smol_mt, &case, Duration::from_secs(10));
    assert!(result.is_pass(), "an owned runtime drops the task at shutdown: {result:?}");
}

const MARKS: &[Divergence] = diverges! {
    c3_runtime_shutdown_drops_every_child => "pinned" fails_with "outlived the runtime's shutdown",
    c3_no_child_runs_after_runtime_shutdown => "unpinned",
};

#[test]
fn a_pinned_mark_accepts_only_its_failure() {
    let fail = |m: &str| CaseResult::Fail(m.into(), Duration::ZERO);
    let pinned = Some(&MARKS[0]);
    assert_eq!(
        Verdict::of(&fail("5 of 5 child futures outlived the runtime's shutdown"), pinned),
        Verdict::Diverged("5 of 5 child futures outlived the runtime's shutdown".into()),
        "the pinned failure"
    );
    assert_eq!(
        Verdict::of(&fail("hung: no result after 20s"), pinned),
        Verdict::WrongFailure("hung: no result after 20s".into()),
        "an unrelated failure (a hang) under a pinned mark"
    );
    assert_eq!(Verdict::of(&CaseResult::Pass(Duration::ZERO), pinned), Verdict::UnexpectedPass, "a pass");
    assert_eq!(Verdict::of(&fail("anything"), Some(&MARKS[1])), Verdict::Diverged("anything".into()), "unpinned");
    assert_eq!(Verdict::of(&fail("x"), None), Verdict::Fail("x".into()), "an unmarked failure");
}
