//! The report binary's command line: bad flags give a usage error and exit code 2; the
//! formats run.

use std::process::{Command, Output};

fn report(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_taskscope-conformance")).args(args).output().expect("the report binary runs")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn an_unknown_flag_is_a_usage_error() {
    let o = report(&["--jsn"]);
    assert_eq!(o.status.code(), Some(2), "exit code for an unknown flag");
    assert!(stderr(&o).contains("unknown argument \"--jsn\""), "stderr names the flag: {}", stderr(&o));
    assert!(stderr(&o).contains("usage: taskscope-conformance"), "stderr shows the usage: {}", stderr(&o));
}

#[test]
fn a_flag_without_its_value_is_a_usage_error() {
    let o = report(&["--filter"]);
    assert_eq!(o.status.code(), Some(2), "exit code for --filter without a text");
    assert!(stderr(&o).contains("--filter needs a text"), "stderr: {}", stderr(&o));
}

#[test]
fn bad_values_are_usage_errors() {
    for args in [
        &["--repeat", "0"][..],
        &["--repeat", "x"],
        &["--timeout", "-1"],
        &["--timeout", "soon"],
        &["--json", "--markdown"],
    ] {
        let o = report(args);
        assert_eq!(o.status.code(), Some(2), "exit code for {args:?}; stderr: {}", stderr(&o));
        assert!(stderr(&o).starts_with("error: "), "stderr for {args:?}: {}", stderr(&o));
    }
}

#[test]
fn an_unknown_backend_is_a_usage_error_that_lists_the_backends() {
    let o = report(&["--backend", "nope"]);
    assert_eq!(o.status.code(), Some(2), "exit code for an unknown backend");
    assert!(stderr(&o).contains("smol-global"), "stderr lists the backends: {}", stderr(&o));
}

#[test]
fn help_prints_the_usage_and_succeeds() {
    let o = report(&["--help"]);
    assert_eq!(o.status.code(), Some(0), "exit code for --help");
    assert!(stdout(&o).contains("--markdown"), "stdout: {}", stdout(&o));
}

#[test]
fn markdown_and_json_run_a_selection() {
    let o = report(&["--markdown", "--filter", "s6_empty", "--backend", "smol-st", "--backend", "smol-global"]);
    assert_eq!(o.status.code(), Some(0), "exit code; stdout: {}", stdout(&o));
    assert!(stdout(&o).contains("| rule | smol-st | smol-global |"), "markdown table header: {}", stdout(&o));
    let o = report(&["--json", "--filter", "s6_empty", "--backend", "tokio-ct"]);
    assert_eq!(o.status.code(), Some(0), "exit code; stdout: {}", stdout(&o));
    assert!(
        stdout(&o).starts_with("{\"backend\":\"tokio-ct\",\"rule\":\"S6\",\"case\":\"s6_empty_scope_completes_at_once\",\"status\":\"pass\""),
        "json line: {}",
        stdout(&o)
    );
}

#[test]
fn contract_first_checks_the_contract_then_runs_the_rest() {
    let o = report(&["--contract-first", "--filter", "s6_empty", "--backend", "smol-global"]);
    assert_eq!(o.status.code(), Some(0), "exit code; stdout: {}", stdout(&o));
    assert!(stderr(&o).contains("smol-global keeps every clause"), "stderr: {}", stderr(&o));
}
