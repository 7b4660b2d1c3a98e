//! The conformance report as a library: runs every case on any list of backends ([`Backend`]:
//! a name, a harness maker, its expected divergences) and prints a case × backend matrix
//! (status and time), a rule × backend summary with each column's total time and the failures,
//! or JSON lines, or Markdown (for a README or a CI summary). Times are real; a backend with a
//! virtual clock ([`Harness::virtual_elapsed`](crate::Harness::virtual_elapsed), the simulation
//! among the built-in ones) gets its virtual time printed beside them. The built-in report binary is [`main`] over
//! [`backends::ALL`](crate::backends::ALL); an adapter author gets the same report for their
//! adapter with a binary (or a `harness = false` test) of their own:
//!
//! ```no_run
//! use std::process::ExitCode;
//! use taskscope_conformance::{Backend, diverges, report};
//! # fn my_harness() -> Box<dyn taskscope_conformance::Harness> { unimplemented!() }
//!
//! fn main() -> ExitCode {
//!     report::main(&[Backend::new("mine", my_harness).diverging(diverges! {
//!         c3_runtime_shutdown_drops_every_child => "a process-wide executor has no shutdown",
//!     })])
//! }
//! ```
//!
//! Every flag of the built-in report works there too (see [`USAGE`]).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use crate::{Backend, CASE_TIMEOUT, Case, Verdict, cases, check_contract, run_case_timed, run_case_with_timeout};

/// The report's command line.
pub const USAGE: &str = "usage: taskscope-conformance [--json | --markdown] [--backend NAME] [--filter TEXT] \
[--repeat N] [--timeout SECS] [--contract-first] [--list]

  --json            JSON lines {\"backend\",\"rule\",\"case\",\"status\",\"millis\"} (plus
                    \"virtual_millis\" on a backend with a virtual clock, \"run\" with --repeat,
                    \"message\" for a failure or an expected divergence)
  --markdown        a Markdown summary: rule x backend table, failures, divergences, case matrix
  --backend NAME    only this backend (repeatable)
  --filter TEXT     only the cases whose name contains TEXT (repeatable)
  --repeat N        run the selection N times and report every flaky case
  --timeout SECS    how long one case may run before it counts as hung (default 20)
  --contract-first  check the runtime-contract cases on each backend first; stop at the first
                    broken clause, naming it
  --list            list the selected cases and exit";

/// How the report prints.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// The case matrix, the rule summary and the failures, as plain text.
    Text,
    /// JSON lines, one per case run.
    Json,
    /// Markdown tables.
    Markdown,
}

/// What to run and how to print it: parsed from the command line by [`parse_args`].
#[derive(Clone, Debug)]
pub struct Options {
    /// Output format.
    pub format: Format,
    /// Only these backends (all if empty).
    pub backends: Vec<String>,
    /// Only the cases whose name contains one of these (all if empty).
    pub filters: Vec<String>,
    /// How many times to run the selection.
    pub repeat: usize,
    /// How long one case may run.
    pub timeout: Duration,
    /// Check the runtime contract first, stop at the first broken clause.
    pub contract_first: bool,
    /// List the selected cases and exit.
    pub list: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            format: Format::Text,
            backends: Vec::new(),
            filters: Vec::new(),
            repeat: 1,
            timeout: CASE_TIMEOUT,
            contract_first: false,
            list: false,
        }
    }
}

/// A command line the report cannot run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UsageError {
    /// `-h` / `--help`: print the usage, exit successfully.
    Help,
    /// A bad flag or value: what is wrong.
    Bad(String),
}

/// Parses the report's arguments (without the program name).
///
/// ```
/// use taskscope_conformance::report::{Format, UsageError, parse_args};
///
/// let o = parse_args(["--markdown", "--timeout", "5"].map(String::from)).unwrap();
/// assert_eq!(o.format, Format::Markdown);
/// assert!(matches!(parse_args(["--jsn".to_string()]), Err(UsageError::Bad(_))));
/// ```
pub fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Options, UsageError> {
    let mut o = Options::default();
    let mut args = args.into_iter();
    let bad = |m: String| UsageError::Bad(m);
    while let Some(a) = args.next() {
        let mut value = |what: &str| args.next().ok_or_else(|| bad(format!("{a} needs {what}")));
        match a.as_str() {
            "--json" | "--markdown" => {
                let f = if a == "--json" { Format::Json } else { Format::Markdown };
                if o.format != Format::Text && o.format != f {
                    return Err(bad("--json and --markdown exclude each other".into()));
                }
                o.format = f;
            }
            "--list" => o.list = true,
            "--contract-first" => o.contract_first = true,
            "--backend" => o.backends.push(value("a backend name")?),
            "--filter" => o.filters.push(value("a text")?),
            "--repeat" => {
                let v = value("a count")?;
                o.repeat = v
                    .parse()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| bad(format!("--repeat needs a positive count, not {v:?}")))?;
            }
            "--timeout" => {
                let v = value("seconds")?;
                o.timeout = v
                    .parse::<f64>()
                    .ok()
                    .filter(|s| *s > 0.0)
                    .and_then(|s| Duration::try_from_secs_f64(s).ok())
                    .ok_or_else(|| bad(format!("--timeout needs a positive number of seconds, not {v:?}")))?;
            }
            "-h" | "--help" => return Err(UsageError::Help),
            other => return Err(bad(format!("unknown argument {other:?}"))),
        }
    }
    Ok(o)
}

/// The report's entry point over `backends`: parses [`std::env::args`], runs, prints; exits
/// 0 if every case passed (or failed as its divergence mark expects), 1 otherwise, 2 on a bad
/// command line (with the usage on stderr).
pub fn main(backends: &[Backend]) -> ExitCode {
    main_with_args(backends, std::env::args().skip(1))
}

/// [`main`] with the given arguments (without the program name).
pub fn main_with_args(backends: &[Backend], args: impl IntoIterator<Item = String>) -> ExitCode {
    let names = || backends.iter().map(|b| b.name).collect::<Vec<_>>().join(", ");
    let o = match parse_args(args) {
        Ok(o) => o,
        Err(UsageError::Help) => {
            println!("{USAGE}\n\nbackends: {}", names());
            return ExitCode::SUCCESS;
        }
        Err(UsageError::Bad(msg)) => {
            eprintln!("error: {msg}\n\n{USAGE}\n\nbackends: {}", names());
            return ExitCode::from(2);
        }
    };
    if let Some(unknown) = o.backends.iter().find(|n| !backends.iter().any(|b| &b.name == n)) {
        eprintln!("error: no backend named {unknown:?} (backends: {})", names());
        return ExitCode::from(2);
    }
    let selected: Vec<&Backend> =
        backends.iter().filter(|b| o.backends.is_empty() || o.backends.iter().any(|n| n == b.name)).collect();
    let mut chosen: Vec<&Case> =
        cases::ALL.iter().filter(|c| o.filters.is_empty() || o.filters.iter().any(|f| c.name.contains(f))).collect();
    chosen.sort_by_key(|c| rule_key(&c.rule()));
    if chosen.is_empty() {
        eprintln!("error: no case matches {:?}", o.filters);
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

    if o.contract_first {
        for b in &selected {
            if let Err(e) = check_contract(b.make, b.diverges, o.timeout) {
                println!("contract first: {} {e}", b.name);
                println!("stopped before the other cases: fix this clause first");
                return ExitCode::FAILURE;
            }
            eprintln!("contract first: {} keeps every clause of the runtime contract", b.name);
        }
    }
    let report = run(&selected, &chosen, &o);
    match o.format {
        Format::Text => print!("{}", report.text()),
        Format::Markdown => print!("{}", report.markdown()),
        Format::Json => {}
    }
    let local_ok = run_local(selected[0], &o);
    if report.ok() && local_ok { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}

/// The local scope's own column (P3): its cases ([`cases::local::LOCAL`], with the same
/// filters) on `backend`'s harness, whose `block_on` drives the scope and whose runtime is only
/// its timer; then the rules that cannot apply to it, with the reason. Returns whether every
/// local case passed.
fn run_local(backend: &Backend, o: &Options) -> bool {
    let local: Vec<&Case> = cases::local::LOCAL
        .iter()
        .filter(|c| o.filters.is_empty() || o.filters.iter().any(|f| c.name.contains(f)))
        .collect();
    if local.is_empty() {
        return true;
    }
    let (mut passed, mut failures) = (0, Vec::new());
    for case in &local {
        let result = run_case_with_timeout(backend.make, case, o.timeout);
        let (pass, ms) = match &result {
            crate::CaseResult::Pass(d) => (true, d.as_secs_f64() * 1e3),
            crate::CaseResult::Fail(m, d) => {
                failures.push(format!("{}: {m}", case.name));
                (false, d.as_secs_f64() * 1e3)
            }
        };
        passed += usize::from(pass);
        if matches!(o.format, Format::Json) {
            println!(
                "{{\"backend\":\"local\",\"rule\":\"{}\",\"case\":\"{}\",\"status\":\"{}\",\"millis\":{ms:.3}}}",
                case.rule(),
                case.name,
                if pass { "pass" } else { "fail" }
            );
        }
    }
    if !matches!(o.format, Format::Json) {
        println!("\nlocal scope (P3, driven by {}'s block_on): {passed}/{} cases passed", backend.name, local.len());
        for f in &failures {
            println!("FAIL  {f} on local");
        }
        for (rule, why) in cases::local::NOT_APPLICABLE {
            println!("n/a   {rule} on local: {why}");
        }
    }
    failures.is_empty()
}

/// What happened to one case on one backend over every run.
#[derive(Clone, Debug, Default)]
pub struct Cell {
    /// Runs that went as expected (a pass, or the marked divergence).
    pub oks: usize,
    /// Runs that did not.
    pub bad: usize,
    /// Each run's (real) time, in milliseconds.
    pub millis: Vec<f64>,
    /// Each run's virtual time, in milliseconds, on a backend with a virtual clock (empty on
    /// one on real time).
    pub virtual_millis: Vec<f64>,
    /// The first unexpected verdict.
    pub first_bad: Option<Verdict>,
    /// The first verdict.
    pub first: Option<Verdict>,
}

impl Cell {
    /// The median (real) run time, in milliseconds.
    pub fn median_ms(&self) -> f64 {
        median(&self.millis).unwrap_or(0.0)
    }
    /// The median virtual run time, in milliseconds, on a backend with a virtual clock.
    pub fn median_virtual_ms(&self) -> Option<f64> {
        median(&self.virtual_millis)
    }
    /// A short status: `pass`, `div` (failed as marked), `FAIL`, `XPASS` (marked but passed),
    /// `FLAKY f/n`.
    pub fn status(&self) -> String {
        match (self.oks, self.bad, &self.first_bad, &self.first) {
            (_, 0, _, Some(Verdict::Diverged(_))) => "div".into(),
            (_, 0, _, _) => "pass".into(),
            (0, _, Some(Verdict::UnexpectedPass), _) => "XPASS".into(),
            (0, _, _, _) => "FAIL".into(),
            (_, f, _, _) => format!("FLAKY {f}/{}", self.oks + f),
        }
    }
}

fn median(millis: &[f64]) -> Option<f64> {
    let mut v = millis.to_vec();
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied()
}

/// A time in the report: the real time, and the virtual time after it where there is one.
fn times_text(real_ms: f64, virtual_ms: Option<f64>) -> String {
    match virtual_ms {
        Some(v) => format!("{real_ms:>8.1}ms virtual {v:>9.1}ms"),
        None => format!("{real_ms:>8.1}ms"),
    }
}

/// [`times_text`] for Markdown.
fn times_markdown(real_ms: f64, virtual_ms: Option<f64>) -> String {
    match virtual_ms {
        Some(v) => format!("{real_ms:.1} ms, virtual {v:.1} ms"),
        None => format!("{real_ms:.1} ms"),
    }
}

/// The result of a report run.
#[derive(Debug)]
pub struct Report {
    backends: Vec<Backend>,
    cases: Vec<Case>,
    cells: BTreeMap<(&'static str, &'static str), Cell>,
    repeat: usize,
    elapsed: Duration,
}

/// Runs `cases` on `backends` as `o` says (repeats, timeout); prints JSON lines as it goes if
/// `o.format` is JSON, and a progress line per run on stderr with `--repeat`.
pub fn run(backends: &[&Backend], cases: &[&Case], o: &Options) -> Report {
    let started = Instant::now();
    let mut cells: BTreeMap<(&str, &str), Cell> = BTreeMap::new();
    for run in 1..=o.repeat {
        let run_start = Instant::now();
        let mut run_bad = 0;
        let mut slowest = (0.0, "", "");
        for b in backends {
            for case in cases {
                let crate::CaseRun { result, virtual_elapsed } = run_case_timed(b.make, case, o.timeout);
                let ms = result.elapsed().as_secs_f64() * 1e3;
                let virtual_ms = virtual_elapsed.map(|d| d.as_secs_f64() * 1e3);
                let verdict = Verdict::of(&result, b.mark(case.name));
                if o.format == Format::Json {
                    let run_field = if o.repeat > 1 { format!(",\"run\":{run}") } else { String::new() };
                    let message = match &verdict {
                        Verdict::Fail(m) | Verdict::Diverged(m) | Verdict::WrongFailure(m) => {
                            format!(",\"message\":{}", json_string(m))
                        }
                        _ => String::new(),
                    };
                    let virtual_field = virtual_ms.map(|v| format!(",\"virtual_millis\":{v:.3}")).unwrap_or_default();
                    println!(
                        "{{\"backend\":{},\"rule\":{},\"case\":{},\"status\":\"{}\",\"millis\":{ms:.3}{virtual_field}{run_field}{message}}}",
                        json_string(b.name),
                        json_string(&case.rule()),
                        json_string(case.name),
                        status_word(&verdict),
                    );
                }
                if ms > slowest.0 {
                    slowest = (ms, case.name, b.name);
                }
                let cell = cells.entry((case.name, b.name)).or_default();
                cell.millis.push(ms);
                cell.virtual_millis.extend(virtual_ms);
                if verdict.is_ok() {
                    cell.oks += 1;
                } else {
                    run_bad += 1;
                    cell.bad += 1;
                    cell.first_bad.get_or_insert(verdict.clone());
                }
                cell.first.get_or_insert(verdict);
            }
        }
        if o.repeat > 1 {
            eprintln!(
                "run {run}/{}: {} as expected, {run_bad} not ({:.1} s; slowest {} on {}: {:.0} ms)",
                o.repeat,
                cases.len() * backends.len() - run_bad,
                run_start.elapsed().as_secs_f64(),
                slowest.1,
                slowest.2,
                slowest.0
            );
        }
    }
    Report {
        backends: backends.iter().map(|b| **b).collect(),
        cases: cases.iter().map(|c| **c).collect(),
        cells,
        repeat: o.repeat,
        elapsed: started.elapsed(),
    }
}

/// The JSON status of a verdict: `pass`, `fail`, `diverges` (failed as marked), `xpass`
/// (marked, passed), `wrong-failure` (marked, failed otherwise).
fn status_word(v: &Verdict) -> &'static str {
    match v {
        Verdict::Pass => "pass",
        Verdict::Fail(_) => "fail",
        Verdict::Diverged(_) => "diverges",
        Verdict::UnexpectedPass => "xpass",
        Verdict::WrongFailure(_) => "wrong-failure",
    }
}

fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

impl Report {
    /// Whether every run of every case went as expected.
    pub fn ok(&self) -> bool {
        self.cells.values().all(|c| c.bad == 0)
    }

    /// The cell of `case` on `backend`.
    pub fn cell(&self, case: &str, backend: &str) -> Option<&Cell> {
        self.cells.iter().find(|((c, b), _)| *c == case && *b == backend).map(|(_, cell)| cell)
    }

    fn at(&self, case: &Case, b: &Backend) -> &Cell {
        &self.cells[&(case.name, b.name)]
    }

    fn rules(&self) -> Vec<String> {
        let mut rules: Vec<String> = self.cases.iter().map(|c| c.rule()).collect();
        rules.dedup();
        rules
    }

    /// One rule on one backend: its status, cases as expected / all, and total time.
    fn rule_cell(&self, rule: &str, b: &Backend) -> (&'static str, usize, usize, Totals) {
        let (mut ok, mut n, mut broken) = (0, 0, false);
        let cases: Vec<&Case> = self.cases.iter().filter(|c| c.rule() == rule).collect();
        for case in &cases {
            let c = self.at(case, b);
            n += 1;
            ok += usize::from(c.bad == 0);
            broken |= c.oks == 0;
        }
        let status = if ok == n {
            "pass"
        } else if broken {
            "FAIL"
        } else {
            "FLAKY"
        };
        (status, ok, n, self.totals(&cases, b))
    }

    /// The summed median times of `cases` on `b`: real, and virtual if `b` has a virtual clock.
    fn totals(&self, cases: &[&Case], b: &Backend) -> Totals {
        let cells: Vec<&Cell> = cases.iter().map(|case| self.at(case, b)).collect();
        Totals {
            real_ms: cells.iter().map(|c| c.median_ms()).sum(),
            virtual_ms: self.has_virtual_clock(b).then(|| cells.iter().filter_map(|c| c.median_virtual_ms()).sum()),
        }
    }

    /// Whether `b` reported a virtual time (for any case).
    fn has_virtual_clock(&self, b: &Backend) -> bool {
        self.cases.iter().any(|case| !self.at(case, b).virtual_millis.is_empty())
    }

    /// The width of `b`'s column in the case matrix of [`text`](Self::text).
    fn text_width(&self, b: &Backend) -> usize {
        if self.has_virtual_clock(b) { 37 } else { 17 }
    }

    /// The width of `b`'s column in the rule summary of [`text`](Self::text).
    fn summary_width(&self, b: &Backend) -> usize {
        if self.has_virtual_clock(b) { 40 } else { 20 }
    }

    /// The column of `backend` in total: every case's median time summed (the `total` line of
    /// the rule summary).
    pub fn column_total(&self, backend: &str) -> Option<Totals> {
        let b = self.backends.iter().find(|b| b.name == backend)?;
        let cases: Vec<&Case> = self.cases.iter().collect();
        Some(self.totals(&cases, b))
    }

    fn summary_line(&self) -> String {
        let bad: usize = self.cells.values().map(|c| c.bad).sum();
        let total = self.cases.len() * self.backends.len() * self.repeat;
        let diverged =
            self.cells.values().filter(|c| c.bad == 0 && matches!(c.first, Some(Verdict::Diverged(_)))).count();
        let flaky = self.cells.values().filter(|c| c.oks > 0 && c.bad > 0).count();
        let failing = self.cells.values().filter(|c| c.oks == 0).count();
        let runs = if self.repeat > 1 { format!(" x {} runs", self.repeat) } else { String::new() };
        format!(
            "{} cases x {} backends{runs}: {} as expected ({diverged} of them expected divergences), {bad} not; \
             {flaky} flaky, {failing} failing ({:.1} s)",
            self.cases.len(),
            self.backends.len(),
            total - bad,
            self.elapsed.as_secs_f64()
        )
    }

    /// Every cell not as expected, with its first unexpected verdict.
    fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        for case in &self.cases {
            for b in &self.backends {
                let c = self.at(case, b);
                let Some(v) = &c.first_bad else { continue };
                let what = match v {
                    Verdict::Fail(m) => format!("failed: {m}"),
                    Verdict::WrongFailure(m) => format!(
                        "failed, but not as its divergence mark expects ({:?}): {m}",
                        b.mark(case.name).and_then(|d| d.fails_with).unwrap_or("")
                    ),
                    Verdict::UnexpectedPass => {
                        "passed, but is marked as an expected divergence: remove the mark".into()
                    }
                    Verdict::Pass | Verdict::Diverged(_) => String::new(),
                };
                let kind =
                    if c.oks > 0 { format!("FLAKY ({} of {} runs)", c.bad, c.bad + c.oks) } else { "FAIL".into() };
                out.push(format!("{kind} {} on {}: {what}", case.name, b.name));
            }
        }
        out
    }

    /// Every expected divergence that showed, with its reason.
    fn divergences(&self) -> Vec<(String, &'static str, &'static str)> {
        let mut out = Vec::new();
        for b in &self.backends {
            for case in &self.cases {
                if let (Some(d), Some(Verdict::Diverged(_))) = (b.mark(case.name), &self.at(case, b).first) {
                    out.push((b.name.to_string(), case.name, d.reason));
                }
            }
        }
        out
    }

    /// The plain-text report: case matrix, rule summary, summary line, problems, divergences.
    pub fn text(&self) -> String {
        let mut out = String::new();
        let width = self.cases.iter().map(|c| c.name.len()).max().unwrap_or(4);
        let _ = write!(out, "{:<5} {:<width$}", "rule", "case");
        let mut line = 6 + width;
        for b in &self.backends {
            let w = self.text_width(b);
            let _ = write!(out, " | {:<w$}", b.name);
            line += w + 3;
        }
        let _ = writeln!(out);
        let _ = writeln!(out, "{}", "-".repeat(line));
        for case in &self.cases {
            let _ = write!(out, "{:<5} {:<width$}", case.rule(), case.name);
            for b in &self.backends {
                let c = self.at(case, b);
                let w = self.text_width(b);
                let times = times_text(c.median_ms(), c.median_virtual_ms());
                let _ = write!(out, " | {:<w$}", format!("{:<5} {times}", c.status()));
            }
            let _ = writeln!(out);
        }
        let _ = writeln!(out);
        let _ = write!(out, "{:<6}", "rule");
        let mut line = 6;
        for b in &self.backends {
            let w = self.summary_width(b);
            let _ = write!(out, " | {:<w$}", b.name);
            line += w + 3;
        }
        let _ = writeln!(out);
        let _ = writeln!(out, "{}", "-".repeat(line));
        for rule in self.rules() {
            let _ = write!(out, "{rule:<6}");
            for b in &self.backends {
                let (status, ok, n, t) = self.rule_cell(&rule, b);
                let w = self.summary_width(b);
                let times = times_text(t.real_ms, t.virtual_ms);
                let _ = write!(out, " | {:<w$}", format!("{status:<5} {ok:>2}/{n:<2}{times}"));
            }
            let _ = writeln!(out);
        }
        let _ = write!(out, "{:<6}", "total");
        let all: Vec<&Case> = self.cases.iter().collect();
        for b in &self.backends {
            let t = self.totals(&all, b);
            let w = self.summary_width(b);
            let _ = write!(out, " | {:<w$}", format!("{:<11}{}", "", times_text(t.real_ms, t.virtual_ms)));
        }
        let _ = writeln!(out);
        let _ = writeln!(out);
        let _ = writeln!(out, "{}", self.summary_line());
        for p in self.problems() {
            let _ = writeln!(out, "{p}");
        }
        for (b, case, why) in self.divergences() {
            let _ = writeln!(out, "div   {case} on {b} (expected): {why}");
        }
        out
    }

    /// The Markdown report: summary line, rule × backend table, problems, expected
    /// divergences, and the case matrix (folded).
    pub fn markdown(&self) -> String {
        let mut out = String::new();
        let cell = |s: &str| s.replace('|', "\\|").replace('\n', " ");
        let _ = writeln!(out, "## Conformance report\n\n{}\n", self.summary_line());
        let _ = write!(out, "| rule |");
        for b in &self.backends {
            let _ = write!(out, " {} |", b.name);
        }
        let _ = write!(out, "\n|---|");
        for _ in &self.backends {
            let _ = write!(out, "---|");
        }
        let _ = writeln!(out);
        for rule in self.rules() {
            let _ = write!(out, "| {rule} |");
            for b in &self.backends {
                let (status, ok, n, t) = self.rule_cell(&rule, b);
                let _ = write!(out, " {status} {ok}/{n} ({}) |", times_markdown(t.real_ms, t.virtual_ms));
            }
            let _ = writeln!(out);
        }
        let _ = write!(out, "| total |");
        let all: Vec<&Case> = self.cases.iter().collect();
        for b in &self.backends {
            let t = self.totals(&all, b);
            let _ = write!(out, " {} |", times_markdown(t.real_ms, t.virtual_ms));
        }
        let _ = writeln!(out);
        let problems = self.problems();
        if !problems.is_empty() {
            let _ = writeln!(out, "\n### Not as expected\n");
            for p in problems {
                let _ = writeln!(out, "- {}", cell(&p));
            }
        }
        let divergences = self.divergences();
        if !divergences.is_empty() {
            let _ = writeln!(out, "\n### Expected divergences\n\n| backend | case | reason |\n|---|---|---|");
            for (b, case, why) in divergences {
                let _ = writeln!(out, "| {b} | `{case}` | {} |", cell(why));
            }
        }
        let _ = write!(out, "\n<details><summary>Every case</summary>\n\n| rule | case |");
        for b in &self.backends {
            let _ = write!(out, " {} |", b.name);
        }
        let _ = write!(out, "\n|---|---|");
        for _ in &self.backends {
            let _ = write!(out, "---|");
        }
        let _ = writeln!(out);
        for case in &self.cases {
            let _ = write!(out, "| {} | `{}` |", case.rule(), case.name);
            for b in &self.backends {
                let c = self.at(case, b);
                let _ = write!(out, " {} {} |", c.status(), times_markdown(c.median_ms(), c.median_virtual_ms()));
            }
            let _ = writeln!(out);
        }
        let _ = writeln!(out, "\n</details>");
        out
    }
}

/// The summed median times of some cases on one backend, in milliseconds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Totals {
    /// Real time.
    pub real_ms: f64,
    /// Virtual time, on a backend with a virtual clock; `None` on one on real time.
    pub virtual_ms: Option<f64>,
}

/// Report order: the families in the contract's order (S F C T L B O P), then the rule number.
fn rule_key(rule: &str) -> (usize, u32) {
    let family = rule.chars().next().and_then(|c| "SFCTLBOP".find(c)).unwrap_or(99);
    (family, rule.get(1..).and_then(|n| n.parse().ok()).unwrap_or(0))
}
