//! The conformance report: every case on every built-in backend, as a rule × backend matrix
//! (or JSON lines with `--json`). Exits non-zero if any case fails.
//!
//! `cargo run --release -p taskscope-conformance -- [--json] [--backend NAME] [--filter TEXT]`

use std::collections::BTreeMap;
use std::process::ExitCode;

use taskscope_conformance::{CaseResult, backends, cases, run_case};

fn main() -> ExitCode {
    let mut json = false;
    let mut backend_filter: Option<String> = None;
    let mut filter: Option<String> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--json" => json = true,
            "--backend" => backend_filter = args.next(),
            "--filter" => filter = args.next(),
            "-h" | "--help" => {
                println!("usage: taskscope-conformance [--json] [--backend NAME] [--filter TEXT]");
                println!("backends: {}", backends::ALL.iter().map(|b| b.name).collect::<Vec<_>>().join(", "));
                return ExitCode::SUCCESS;
            }
            other => {
                eprintln!("unknown argument {other:?}; try --help");
                return ExitCode::from(2);
            }
        }
    }
    let selected: Vec<_> =
        backends::ALL.iter().filter(|b| backend_filter.as_deref().is_none_or(|f| b.name == f)).collect();
    if selected.is_empty() {
        eprintln!("no backend named {backend_filter:?}; try --help");
        return ExitCode::from(2);
    }
    let chosen: Vec<_> = cases::ALL.iter().filter(|c| filter.as_deref().is_none_or(|f| c.name.contains(f))).collect();

    // Cases panic on purpose inside children (F5, F7): keep the report readable.
    std::panic::set_hook(Box::new(|_| {}));

    let mut failures = 0usize;
    // rule -> backend -> (passed, total, millis)
    let mut matrix: BTreeMap<String, BTreeMap<&str, (usize, usize, f64)>> = BTreeMap::new();
    let mut failed_cases = Vec::new();
    for b in &selected {
        for case in &chosen {
            let (pass, ms, msg) = match run_case(b.make, case) {
                CaseResult::Pass(d) => (true, d.as_secs_f64() * 1e3, None),
                CaseResult::Fail(m, d) => (false, d.as_secs_f64() * 1e3, Some(m)),
            };
            if json {
                println!(
                    "{{\"backend\":\"{}\",\"rule\":\"{}\",\"case\":\"{}\",\"status\":\"{}\",\"millis\":{:.3}}}",
                    b.name,
                    case.rule(),
                    case.name,
                    if pass { "pass" } else { "fail" },
                    ms
                );
            }
            let cell = matrix.entry(case.rule()).or_default().entry(b.name).or_default();
            cell.1 += 1;
            cell.2 += ms;
            if pass {
                cell.0 += 1;
            } else {
                failures += 1;
                failed_cases.push(format!("{} on {}: {}", case.name, b.name, msg.unwrap_or_default()));
            }
        }
    }
    if !json {
        print!("{:<6}", "rule");
        for b in &selected {
            print!(" | {:<18}", b.name);
        }
        println!();
        println!("{}", "-".repeat(6 + selected.len() * 21));
        let mut rules: Vec<_> = matrix.keys().cloned().collect();
        rules.sort_by_key(|r| (r.chars().next().map(family_order), r[1..].parse::<u32>().unwrap_or(0)));
        for rule in rules {
            print!("{rule:<6}");
            for b in &selected {
                let (p, t, ms) = matrix[&rule].get(b.name).copied().unwrap_or_default();
                let status = if p == t { "pass" } else { "FAIL" };
                print!(" | {:<18}", format!("{status} {p}/{t} {ms:>7.1}ms"));
            }
            println!();
        }
        println!();
        println!(
            "{} cases x {} backends: {} passed, {} failed",
            chosen.len(),
            selected.len(),
            chosen.len() * selected.len() - failures,
            failures
        );
        for f in &failed_cases {
            println!("FAIL {f}");
        }
    }
    if failures == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}

fn family_order(c: char) -> usize {
    "SFCTLBOP".find(c).unwrap_or(99)
}
