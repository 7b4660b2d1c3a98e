//! The benchmark report: taskscope against the raw runtimes, side by side.
//!
//! ```text
//! cargo run --release -p taskscope-bench -- [--quick] [--json] [--backend NAME]... [--bench NAME]... [--n N]... [--reps N]
//! cargo run --release -p taskscope-bench -- --alloc [--quick] [--backend NAME]... [--bench NAME]... [--n N]... [--reps N]
//! ```
//!
//! `--bench`, `--backend` and `--n` select rows (e.g. `--bench local --backend smol-st --n 100000`
//! for one row under a profiler). `--alloc` runs the selected rows (by default `spawn_join` on
//! tokio-mt) once per allocator installed on the system (glibc, jemalloc, mimalloc, each
//! preloaded in a fresh process) and prints them side by side.
//!
//! `--json` prints one object per row, `{"bench","backend","n","ours_ns","base","base_ns","ratio"}`
//! (for `memory` rows the `_ns` fields are bytes per child). Progress goes to stderr.

use std::process::{Command, ExitCode};
use std::time::Instant;

use taskscope_bench::backend::Flavour;
use taskscope_bench::mem::{self, Variant};
use taskscope_bench::report::{self, Config, Row};

const USAGE: &str = "usage: taskscope-bench [--quick] [--json] [--backend tokio-mt|tokio-ct|smol-mt|smol-st]... \
[--bench spawn_join|spawn_join_kept|teardown|cancel|empty_scope|deadline|local|memory]... [--n N]... [--reps N] [--side ours|BASELINE] [--alloc]";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--mem") {
        return mem_child(&args[1..]);
    }
    let alloc = args.iter().any(|a| a == "--alloc");
    let args: Vec<String> = args.into_iter().filter(|a| a != "--alloc").collect();
    match parse(&args) {
        Ok(_) if alloc => {
            let mut args = args;
            if !args.iter().any(|a| a == "--backend") {
                args.extend(["--backend".to_owned(), "tokio-mt".to_owned()]);
            }
            if !args.iter().any(|a| a == "--bench") {
                args.extend(["--bench".to_owned(), "spawn_join".to_owned()]);
            }
            taskscope_bench::alloc::compare(&args);
            ExitCode::SUCCESS
        }
        Ok((cfg, json)) => {
            run(&cfg, json);
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("taskscope-bench: {e}\n{USAGE}");
            ExitCode::from(2)
        }
    }
}

fn parse(args: &[String]) -> Result<(Config, bool), String> {
    let quick = args.iter().any(|a| a == "--quick");
    let mut cfg = if quick { Config::quick() } else { Config::full() };
    let (mut json, mut flavours, mut sizes) = (false, Vec::new(), Vec::new());
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--quick" => {}
            "--json" => json = true,
            "--backend" => {
                let name = it.next().ok_or("--backend needs a name")?;
                flavours.push(Flavour::from_name(name).ok_or_else(|| format!("unknown backend {name:?}"))?);
            }
            "--bench" => cfg.only.push(it.next().ok_or("--bench needs a name")?.clone()),
            "--n" => {
                let n = it.next().ok_or("--n needs a number")?;
                sizes.push(n.parse().ok().filter(|&n: &usize| n > 0).ok_or_else(|| format!("bad --n {n:?}"))?);
            }
            "--side" => cfg.side = Some(it.next().ok_or("--side needs ours or a baseline's name")?.clone()),
            "--reps" => {
                let n = it.next().ok_or("--reps needs a number")?;
                cfg.reps = n.parse().ok().filter(|&r| r > 0).ok_or_else(|| format!("bad --reps {n:?}"))?;
            }
            "-h" | "--help" => return Err("help".into()),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    if !flavours.is_empty() {
        cfg.flavours = flavours;
    }
    if !sizes.is_empty() {
        cfg.sizes = sizes;
    }
    Ok((cfg, json))
}

fn run(cfg: &Config, json: bool) {
    let start = Instant::now();
    let mut rows: Vec<Row> = Vec::new();
    report::run_timing(
        cfg,
        |bench, flavour, n| eprintln!("[{:>6.1}s] {bench} {} n={n}", start.elapsed().as_secs_f64(), flavour.name()),
        |row| {
            if json {
                println!("{}", row.to_json());
            }
            rows.push(row);
        },
    );
    let memory = report::run_memory(cfg, |flavour, variant, n| {
        eprintln!("[{:>6.1}s] memory {} {} n={n}", start.elapsed().as_secs_f64(), flavour.name(), variant.name());
        mem_in_fresh_process(flavour, variant, n)
    });
    for row in memory {
        if json {
            println!("{}", row.to_json());
        }
        rows.push(row);
    }
    if !json {
        print!("{}", report::human(&rows));
    }
    eprintln!("[{:>6.1}s] done", start.elapsed().as_secs_f64());
}

/// Runs `--mem` in a fresh copy of this binary and reads the bytes per child it prints.
fn mem_in_fresh_process(flavour: Flavour, variant: Variant, n: usize) -> Option<f64> {
    let exe = std::env::current_exe().ok()?;
    let out = Command::new(exe).args(["--mem", flavour.name(), variant.name(), &n.to_string()]).output().ok()?;
    if !out.status.success() {
        eprintln!("memory {} {}: the measuring process failed", flavour.name(), variant.name());
        return None;
    }
    String::from_utf8(out.stdout).ok()?.trim().parse().ok()
}

/// The hidden subcommand: `--mem <backend> <ours|raw> <n>` prints bytes per pending child.
fn mem_child(args: &[String]) -> ExitCode {
    let parsed = match args {
        [b, v, n] => Flavour::from_name(b).zip(Variant::from_name(v)).zip(n.parse::<usize>().ok()),
        _ => None,
    };
    let Some(((flavour, variant), n)) = parsed else {
        eprintln!("usage: taskscope-bench --mem <backend> <ours|raw> <n>");
        return ExitCode::from(2);
    };
    match mem::measure(flavour, variant, n) {
        Some(bytes) => {
            println!("{bytes:.1}");
            ExitCode::SUCCESS
        }
        None => {
            eprintln!("taskscope-bench: cannot read the RSS (/proc/self/status) on this system");
            ExitCode::FAILURE
        }
    }
}
