//! The conformance report: every case on every built-in backend, as a matrix of cases (grouped
//! by rule) × backends with each case's status and time, then a rule × backend summary (or
//! JSON lines with `--json`). Exits non-zero if any case fails.
//!
//! ```text
//! cargo run --release -p taskscope-conformance -- [--json] [--backend NAME] [--filter TEXT]
//!     [--repeat N] [--timeout SECS] [--list]
//! ```

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use taskscope_conformance::{CASE_TIMEOUT, Case, CaseResult, backends, cases, run_case_with_timeout};

const USAGE: &str =
    "usage: taskscope-conformance [--json] [--backend NAME] [--filter TEXT] [--repeat N] [--timeout SECS] [--list]

  --json           JSON lines {\"backend\",\"rule\",\"case\",\"status\",\"millis\"} (plus \"run\" with --repeat)
  --backend NAME   only this backend (repeatable)
  --filter TEXT    only the cases whose name contains TEXT (repeatable)
  --repeat N       run the selection N times and report every flaky case
  --timeout SECS   how long one case may run before it counts as hung (default 60)
  --list           list the selected cases and exit";

struct Options {
    json: bool,
    backends: Vec<String>,
    filters: Vec<String>,
    repeat: usize,
    timeout: Duration,
    list: bool,
}

fn parse() -> Result<Options, String> {
    let mut o = Options {
        json: false,
        backends: Vec::new(),
        filters: Vec::new(),
        repeat: 1,
        timeout: CASE_TIMEOUT,
        list: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = |what: &str| args.next().ok_or_else(|| format!("{a} needs {what}"));
        match a.as_str() {
            "--json" => o.json = true,
            "--list" => o.list = true,
            "--backend" => o.backends.push(value("a backend name")?),
            "--filter" => o.filters.push(value("a text")?),
            "--repeat" => {
                o.repeat = value("a count")?.parse().map_err(|_| "--repeat needs a positive count".to_string())?;
                if o.repeat == 0 {
                    return Err("--repeat needs a positive count".into());
                }
            }
            "--timeout" => {
                let secs: f64 = value("seconds")?.parse().map_err(|_| "--timeout needs seconds".to_string())?;
                o.timeout = Duration::try_from_secs_f64(secs).map_err(|_| "--timeout needs seconds".to_string())?;
            }
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(o)
}

/// What happened to one case on one backend over every run.
#[derive(Default)]
struct Cell {
    passes: usize,
    fails: usize,
    millis: Vec<f64>,
    first_failure: Option<String>,
}

impl Cell {
    fn median_ms(&self) -> f64 {
        let mut v = self.millis.clone();
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied().unwrap_or(0.0)
    }
    fn status(&self) -> String {
        match (self.passes, self.fails) {
            (_, 0) => "pass".into(),
            (0, _) => "FAIL".into(),
            (_, f) => format!("FLAKY {f}/{}", self.passes + f),
        }
    }
}

fn main() -> ExitCode {
    let o = match parse() {
        Ok(o) => o,
        Err(msg) => {
            if !msg.is_empty() {
                eprintln!("{msg}");
            }
            eprintln!("{USAGE}");
            eprintln!("backends: {}", backends::ALL.iter().map(|b| b.name).collect::<Vec<_>>().join(", "));
            return if msg.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(2) };
        }
    };
    if let Some(unknown) = o.backends.iter().find(|n| !backends::ALL.iter().any(|b| &b.name == n)) {
        eprintln!("no backend named {unknown:?}; try --help");
        return ExitCode::from(2);
    }
    let selected: Vec<_> =
        backends::ALL.iter().filter(|b| o.backends.is_empty() || o.backends.iter().any(|n| n == b.name)).collect();
    let mut chosen: Vec<&Case> =
        cases::ALL.iter().filter(|c| o.filters.is_empty() || o.filters.iter().any(|f| c.name.contains(f))).collect();
    chosen.sort_by_key(|c| rule_key(&c.rule()));
    if chosen.is_empty() {
        eprintln!("no case matches {:?}", o.filters);
        return ExitCode::from(2);
    }
    if o.list {
        for c in &chosen {
            println!("{:<5} {}", c.rule(), c.name);
        }
        return ExitCode::SUCCESS;
    }

    // Cases panic on purpose inside children (F5, F7): keep the report readable.
    std::panic::set_hook(Box::new(|_| {}));

    let started = Instant::now();
    let mut cells: BTreeMap<(&str, &str), Cell> = BTreeMap::new();
    for run in 1..=o.repeat {
        let run_start = Instant::now();
        let mut run_fails = 0;
        let mut slowest = (0.0, "", "");
        for b in &selected {
            for case in &chosen {
                let (pass, ms, msg) = match run_case_with_timeout(b.make, case, o.timeout) {
                    CaseResult::Pass(d) => (true, d.as_secs_f64() * 1e3, None),
                    CaseResult::Fail(m, d) => (false, d.as_secs_f64() * 1e3, Some(m)),
                };
                if o.json {
                    let run_field = if o.repeat > 1 { format!(",\"run\":{run}") } else { String::new() };
                    println!(
                        "{{\"backend\":\"{}\",\"rule\":\"{}\",\"case\":\"{}\",\"status\":\"{}\",\"millis\":{:.3}{run_field}}}",
                        b.name,
                        case.rule(),
                        case.name,
                        if pass { "pass" } else { "fail" },
                        ms
                    );
                }
                if ms > slowest.0 {
                    slowest = (ms, case.name, b.name);
                }
                let cell = cells.entry((case.name, b.name)).or_default();
                cell.millis.push(ms);
                if pass {
                    cell.passes += 1;
                } else {
                    run_fails += 1;
                    cell.fails += 1;
                    cell.first_failure.get_or_insert(msg.unwrap_or_default());
                }
            }
        }
        if o.repeat > 1 {
            eprintln!(
                "run {run}/{}: {} passed, {run_fails} failed ({:.1} s; slowest {} on {}: {:.0} ms)",
                o.repeat,
                chosen.len() * selected.len() - run_fails,
                run_start.elapsed().as_secs_f64(),
                slowest.1,
                slowest.2,
                slowest.0
            );
        }
    }

    let failed_runs: usize = cells.values().map(|c| c.fails).sum();
    let flaky: Vec<_> = cells.iter().filter(|(_, c)| c.passes > 0 && c.fails > 0).collect();
    let broken: Vec<_> = cells.iter().filter(|(_, c)| c.passes == 0).collect();
    if !o.json {
        print_cases(&chosen, &selected, &cells);
        println!();
        print_rules(&chosen, &selected, &cells);
        println!();
        let total = chosen.len() * selected.len() * o.repeat;
        let runs = if o.repeat > 1 { format!(" x {} runs", o.repeat) } else { String::new() };
        println!(
            "{} cases x {} backends{runs}: {} passed, {failed_runs} failed; {} flaky, {} failing ({:.1} s)",
            chosen.len(),
            selected.len(),
            total - failed_runs,
            flaky.len(),
            broken.len(),
            started.elapsed().as_secs_f64()
        );
        for ((case, backend), c) in &broken {
            println!("FAIL  {case} on {backend}: {}", c.first_failure.as_deref().unwrap_or(""));
        }
        for ((case, backend), c) in &flaky {
            println!(
                "FLAKY {case} on {backend}: failed {} of {} runs, first: {}",
                c.fails,
                c.fails + c.passes,
                c.first_failure.as_deref().unwrap_or("")
            );
        }
    }
    if failed_runs == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}

/// One line per case (grouped by rule): status and time on every backend.
fn print_cases(chosen: &[&Case], selected: &[&backends::Backend], cells: &BTreeMap<(&str, &str), Cell>) {
    let width = chosen.iter().map(|c| c.name.len()).max().unwrap_or(4);
    print!("{:<5} {:<width$}", "rule", "case");
    for b in selected {
        print!(" | {:<17}", b.name);
    }
    println!();
    println!("{}", "-".repeat(6 + width + selected.len() * 20));
    for case in chosen {
        print!("{:<5} {:<width$}", case.rule(), case.name);
        for b in selected {
            let c = &cells[&(case.name, b.name)];
            print!(" | {:<17}", format!("{:<5} {:>8.1}ms", c.status(), c.median_ms()));
        }
        println!();
    }
}

/// One line per rule: how many of its cases pass on every backend, and their total time.
fn print_rules(chosen: &[&Case], selected: &[&backends::Backend], cells: &BTreeMap<(&str, &str), Cell>) {
    let mut rules: Vec<String> = chosen.iter().map(|c| c.rule()).collect();
    rules.dedup();
    print!("{:<6}", "rule");
    for b in selected {
        print!(" | {:<20}", b.name);
    }
    println!();
    println!("{}", "-".repeat(6 + selected.len() * 23));
    for rule in rules {
        print!("{rule:<6}");
        for b in selected {
            let (mut ok, mut n, mut ms, mut broken) = (0, 0, 0.0, false);
            for case in chosen.iter().filter(|c| c.rule() == rule) {
                let c = &cells[&(case.name, b.name)];
                n += 1;
                ok += usize::from(c.fails == 0);
                broken |= c.passes == 0;
                ms += c.median_ms();
            }
            let status = if ok == n {
                "pass"
            } else if broken {
                "FAIL"
            } else {
                "FLAKY"
            };
            print!(" | {:<20}", format!("{status:<5} {ok:>2}/{n:<2} {ms:>7.1}ms"));
        }
        println!();
    }
}

/// Report order: the families in the contract's order (S F C T L B O P), then the rule number.
fn rule_key(rule: &str) -> (usize, u32) {
    let family = rule.chars().next().and_then(|c| "SFCTLBOP".find(c)).unwrap_or(99);
    (family, rule.get(1..).and_then(|n| n.parse().ok()).unwrap_or(0))
}
