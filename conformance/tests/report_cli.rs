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

#[test]
fn the_sim_column_prints_virtual_time_beside_real_time_in_every_format() {
    let args = ["--backend", "smol-st", "--backend", "sim", "--filter", "c7_seeds_nested_deadline_scenario"];
    let o = report(&args);
    assert_eq!(o.status.code(), Some(0), "exit code; stdout: {}", stdout(&o));
    let text = stdout(&o);
    let row = text.lines().find(|l| l.starts_with("C7    c7_seeds")).expect("the case's row");
    let words = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
    let columns: Vec<String> = row.split('|').map(words).collect();
    assert!(!columns[1].contains("virtual"), "a real backend prints only real time: {row}");
    assert!(columns[2].ends_with("virtual 250.0ms"), "the sim cell shows the 250 ms virtual deadline: {row}");
    let total = text.lines().find(|l| l.starts_with("total ")).expect("a total line in the summary");
    assert!(words(total).ends_with("virtual 250.0ms"), "the total line sums the sim column's virtual time: {total}");

    let o = report(&[&["--json"][..], &args].concat());
    let lines: Vec<String> = stdout(&o).lines().map(String::from).collect();
    let sim = lines.iter().find(|l| l.starts_with("{\"backend\":\"sim\"")).expect("a sim line");
    let smol = lines.iter().find(|l| l.starts_with("{\"backend\":\"smol-st\"")).expect("a smol-st line");
    assert!(sim.contains(",\"virtual_millis\":250.000"), "the sim line has its virtual time: {sim}");
    assert!(!smol.contains("virtual_millis"), "a real backend has no virtual time: {smol}");

    let o = report(&[&["--markdown"][..], &args].concat());
    let md = stdout(&o);
    assert!(md.contains(", virtual 250.0 ms |"), "markdown shows the sim's virtual time: {md}");
    assert!(md.contains("| total |"), "markdown has a total row: {md}");
}

/// A case that sleeps one second on its runtime's clock.
fn p5_sleeps_one_second(h: &dyn taskscope_conformance::Harness) {
    let rt = h.runtime();
    h.block_on(Box::pin(async move {
        let wake = rt.now() + std::time::Duration::from_secs(1);
        rt.sleep_until(wake).await;
    }));
}

#[test]
fn a_one_second_virtual_sleep_shows_a_second_of_virtual_time_and_far_less_real_time() {
    use taskscope_conformance::report::{Options, run};
    use taskscope_conformance::{Backend, Case, backends};

    let case = Case { name: "p5_sleeps_one_second", run: p5_sleeps_one_second };
    let sim = Backend::new("sim", backends::sim);
    let report = run(&[&sim], &[&case], &Options::default());
    assert!(report.ok(), "the case passes: {}", report.text());
    let cell = report.cell(case.name, "sim").expect("the sim cell");
    let virtual_ms = cell.median_virtual_ms().expect("the sim reports a virtual time");
    assert!(virtual_ms >= 1000.0, "one second of virtual sleep, got {virtual_ms} ms");
    // A real one-second sleep could not take less than a second.
    assert!(cell.median_ms() < 1000.0, "the virtual second took {} ms of real time", cell.median_ms());
    let total = report.column_total("sim").expect("the sim column");
    assert_eq!(total.virtual_ms, Some(virtual_ms), "the column total is the one case's virtual time");
    assert!(report.text().contains("virtual"), "the text report prints it: {}", report.text());
}

#[test]
fn a_backend_on_real_time_reports_no_virtual_time() {
    use taskscope_conformance::report::{Options, run};
    use taskscope_conformance::{Backend, backends, cases};

    let case = cases::ALL.iter().find(|c| c.name == "s6_empty_scope_completes_at_once").expect("the case");
    let smol = Backend::new("smol-st", backends::smol_st);
    let report = run(&[&smol], &[case], &Options::default());
    assert_eq!(report.cell(case.name, "smol-st").unwrap().median_virtual_ms(), None);
    assert_eq!(report.column_total("smol-st").unwrap().virtual_ms, None);
    assert!(!report.text().contains("virtual"), "{}", report.text());
}
