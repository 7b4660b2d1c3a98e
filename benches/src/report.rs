//! The harness and the report: repetitions, interleaving, medians, and the two output formats.
//!
//! For each benchmark, flavour and `n`, every repetition takes one sample of ours and one of
//! each baseline, in an order that rotates from one repetition to the next (so neither side
//! always runs first). A sample repeats the timed run until it has covered at least
//! [`Config::per_sample`] children, and is the time per child. One unrecorded warm-up sample
//! of each side comes first. A row reports the median sample of each side and the median of
//! the per-repetition ratios `ours / baseline`.

use std::fmt::Write as _;
use std::time::Duration;

use crate::backend::{Backend, Flavour};
use crate::bench::{BENCHES, Bench, PLANNED, RunFn};
use crate::mem::Variant;
use crate::stats;

/// What to run.
#[derive(Clone, Debug)]
pub struct Config {
    /// Repetitions per row.
    pub reps: usize,
    /// Children a sample covers at least (a run of a small `n` is repeated).
    pub per_sample: usize,
    /// The `n` of every benchmark without a fixed one.
    pub sizes: Vec<usize>,
    /// The flavours.
    pub flavours: Vec<Flavour>,
    /// Only the benchmarks with these names (all if empty; `memory` names the memory rows).
    pub only: Vec<String>,
    /// Children of a memory measurement.
    pub mem_n: usize,
    /// Memory measurements (fresh processes) per side and flavour.
    pub mem_reps: usize,
    /// Run only one side of each timing row: `ours`, or a baseline's name (for a profiler,
    /// whose samples then all belong to that side). The other side's fields are NaN.
    pub side: Option<String>,
}

impl Config {
    /// The full run (a few minutes).
    pub fn full() -> Self {
        Self {
            reps: 9,
            per_sample: 200_000,
            sizes: vec![1_000, 10_000, 100_000],
            flavours: Flavour::ALL.to_vec(),
            only: Vec::new(),
            mem_n: 100_000,
            mem_reps: 5,
            side: None,
        }
    }

    /// `--quick`: the same rows with fewer repetitions and shorter samples (under 2 minutes).
    pub fn quick() -> Self {
        Self { reps: 5, per_sample: 50_000, mem_reps: 3, ..Self::full() }
    }

    /// A run for tests: every row at tiny sizes, one repetition.
    pub fn smoke() -> Self {
        Self { reps: 1, per_sample: 1, sizes: vec![100], mem_n: 100, mem_reps: 1, ..Self::full() }
    }

    /// Whether the benchmark named `name` is selected.
    pub fn selects(&self, name: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|o| o == name)
    }
}

/// One row of the report. For memory rows the `_ns` fields are bytes per child.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    /// The benchmark.
    pub bench: &'static str,
    /// The flavour's name.
    pub backend: &'static str,
    /// Children per run (scopes per run for `empty_scope`).
    pub n: usize,
    /// Median ns per child of ours (bytes per child for memory).
    pub ours_ns: f64,
    /// The baseline's name.
    pub base: &'static str,
    /// Median ns per child of the baseline (bytes per child for memory).
    pub base_ns: f64,
    /// Median of the paired ratios ours / baseline.
    pub ratio: f64,
}

fn json_number(x: f64, decimals: usize) -> String {
    if x.is_finite() { format!("{x:.decimals$}") } else { "null".to_owned() }
}

impl Row {
    /// The row as one JSON object: `{"bench","backend","n","ours_ns","base","base_ns","ratio"}`
    /// (a non-finite number is `null`).
    pub fn to_json(&self) -> String {
        format!(
            r#"{{"bench":"{}","backend":"{}","n":{},"ours_ns":{},"base":"{}","base_ns":{},"ratio":{}}}"#,
            self.bench,
            self.backend,
            self.n,
            json_number(self.ours_ns, 1),
            self.base,
            json_number(self.base_ns, 1),
            json_number(self.ratio, 3),
        )
    }
}

/// One sample: the time per child of `run`, repeated until it covered `per_sample` children.
fn sample(run: RunFn, be: &Backend, n: usize, per_sample: usize) -> f64 {
    let runs = per_sample.div_ceil(n).max(1);
    let total: Duration = (0..runs).map(|_| run(be, n)).sum();
    total.as_nanos() as f64 / (runs * n) as f64
}

/// The rows of one benchmark on one backend at one `n` (one per applicable baseline).
pub fn measure(bench: &Bench, be: &Backend, n: usize, reps: usize, per_sample: usize) -> Vec<Row> {
    let flavour = be.flavour();
    let bases: Vec<_> = bench.baselines.iter().filter(|b| (b.applies)(flavour)).collect();
    let runs: Vec<RunFn> = std::iter::once(bench.ours).chain(bases.iter().map(|b| b.run)).collect();
    for run in &runs {
        sample(*run, be, n, per_sample.min(n));
    }
    let mut samples = vec![Vec::with_capacity(reps); runs.len()];
    for rep in 0..reps {
        for i in 0..runs.len() {
            let k = (i + rep) % runs.len();
            samples[k].push(sample(runs[k], be, n, per_sample));
        }
    }
    bases
        .iter()
        .enumerate()
        .map(|(i, base)| {
            let (ours_ns, base_ns, ratio) = stats::summarize(&samples[0], &samples[i + 1]);
            Row { bench: bench.name, backend: flavour.name(), n, ours_ns, base: base.name, base_ns, ratio }
        })
        .collect()
}

/// One side of a timing row, alone (see [`Config::side`]): `None` if the side is neither
/// `ours` nor a baseline of this row.
pub fn measure_side(bench: &Bench, be: &Backend, n: usize, reps: usize, per_sample: usize, side: &str) -> Option<Row> {
    let flavour = be.flavour();
    let (run, base) = if side == "ours" {
        (bench.ours, None)
    } else {
        let b = bench.baselines.iter().find(|b| b.name == side && (b.applies)(flavour))?;
        (b.run, Some(b.name))
    };
    sample(run, be, n, per_sample.min(n));
    let samples: Vec<f64> = (0..reps).map(|_| sample(run, be, n, per_sample)).collect();
    let median = stats::median(&samples);
    let (ours_ns, base_ns) = if base.is_some() { (f64::NAN, median) } else { (median, f64::NAN) };
    Some(Row {
        bench: bench.name,
        backend: flavour.name(),
        n,
        ours_ns,
        base: base.unwrap_or("-"),
        base_ns,
        ratio: f64::NAN,
    })
}

/// Runs every selected timing benchmark, calling `progress` before each (benchmark, flavour,
/// n) and `row` with each finished row.
pub fn run_timing(cfg: &Config, mut progress: impl FnMut(&str, Flavour, usize), mut row: impl FnMut(Row)) {
    for bench in BENCHES.iter().filter(|b| cfg.selects(b.name)) {
        for &flavour in cfg.flavours.iter().filter(|&&f| (bench.applies)(f)) {
            let be = Backend::new(flavour);
            // A fixed n is capped by the largest size, so that small runs stay small.
            let largest = cfg.sizes.iter().copied().max().unwrap_or(0);
            let sizes = bench.fixed_n.map_or_else(|| cfg.sizes.clone(), |n| vec![n.min(largest)]);
            for n in sizes {
                progress(bench.name, flavour, n);
                match &cfg.side {
                    None => measure(bench, &be, n, cfg.reps, cfg.per_sample).into_iter().for_each(&mut row),
                    Some(side) => {
                        measure_side(bench, &be, n, cfg.reps, cfg.per_sample, side).into_iter().for_each(&mut row)
                    }
                }
            }
        }
    }
}

/// The memory rows: for each flavour, `cfg.mem_reps` measurements of each side, alternating
/// which side goes first; `measure` does one (in a fresh process, for the report) and gives
/// bytes per child. A flavour where a measurement fails is left out.
pub fn run_memory(cfg: &Config, mut measure: impl FnMut(Flavour, Variant, usize) -> Option<f64>) -> Vec<Row> {
    if !cfg.selects("memory") {
        return Vec::new();
    }
    let mut rows = Vec::new();
    'flavours: for &flavour in &cfg.flavours {
        let (mut ours, mut raw) = (Vec::new(), Vec::new());
        for rep in 0..cfg.mem_reps {
            let order = if rep % 2 == 0 { [Variant::Ours, Variant::Raw] } else { [Variant::Raw, Variant::Ours] };
            for v in order {
                let Some(bytes) = measure(flavour, v, cfg.mem_n) else { continue 'flavours };
                match v {
                    Variant::Ours => ours.push(bytes),
                    Variant::Raw => raw.push(bytes),
                }
            }
        }
        let (ours_ns, base_ns, ratio) = stats::summarize(&ours, &raw);
        rows.push(Row {
            bench: "memory",
            backend: flavour.name(),
            n: cfg.mem_n,
            ours_ns,
            base: "raw-tasks",
            base_ns,
            ratio,
        });
    }
    rows
}

/// The human report: one table per benchmark, in order of first appearance, then the rows
/// not built yet.
pub fn human(rows: &[Row]) -> String {
    let mut out = String::new();
    let mut benches: Vec<&str> = Vec::new();
    for r in rows {
        if !benches.contains(&r.bench) {
            benches.push(r.bench);
        }
    }
    for name in benches {
        let what = BENCHES
            .iter()
            .find(|b| b.name == name)
            .map_or("memory per pending child: RSS growth over n children, fresh process (bytes, not ns)", |b| b.what);
        let unit = match name {
            "memory" => "B/child",
            "empty_scope" => "ns/scope",
            _ => "ns/child",
        };
        let _ = writeln!(out, "{name}: {what}");
        let _ = writeln!(
            out,
            "{:<12} {:<9} {:>7} {:>14} {:<17} {:>14} {:>7}",
            "bench",
            "backend",
            "n",
            format!("ours {unit}"),
            "baseline",
            format!("base {unit}"),
            "ratio"
        );
        for r in rows.iter().filter(|r| r.bench == name) {
            let _ = writeln!(
                out,
                "{:<12} {:<9} {:>7} {:>14.1} {:<17} {:>14.1} {:>7.2}",
                r.bench, r.backend, r.n, r.ours_ns, r.base, r.base_ns, r.ratio
            );
        }
        out.push('\n');
    }
    for p in PLANNED {
        let _ = writeln!(out, "{} (baseline {}): not yet built: {}", p.name, p.base, p.why);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_has_exactly_the_issue_fields() {
        let row = Row {
            bench: "spawn_join",
            backend: "tokio-mt",
            n: 1000,
            ours_ns: 612.34,
            base: "vec-handles",
            base_ns: 580.0,
            ratio: f64::NAN,
        };
        assert_eq!(
            row.to_json(),
            r#"{"bench":"spawn_join","backend":"tokio-mt","n":1000,"ours_ns":612.3,"base":"vec-handles","base_ns":580.0,"ratio":null}"#
        );
    }

    #[test]
    fn memory_rows_pair_sides_per_flavour() {
        let cfg = Config { flavours: vec![Flavour::SmolSt], mem_reps: 3, ..Config::smoke() };
        let rows = run_memory(&cfg, |_, v, _| Some(if v == Variant::Ours { 300.0 } else { 150.0 }));
        assert_eq!(rows.len(), 1);
        assert_eq!((rows[0].ours_ns, rows[0].base_ns, rows[0].ratio), (300.0, 150.0, 2.0));
        assert!(human(&rows).contains("B/child"));
    }

    #[test]
    fn one_side_runs_alone_and_an_unknown_side_gives_no_row() {
        let bench = BENCHES.iter().find(|b| b.name == "spawn_join").expect("spawn_join is a benchmark");
        let be = Backend::new(Flavour::SmolSt);
        let ours = measure_side(bench, &be, 10, 1, 1, "ours").expect("ours runs on every flavour");
        assert!(ours.ours_ns > 0.0 && ours.base_ns.is_nan() && ours.ratio.is_nan());
        let base = measure_side(bench, &be, 10, 1, 1, "vec-handles").expect("a baseline of spawn_join");
        assert!(base.base_ns > 0.0 && base.ours_ns.is_nan() && base.base == "vec-handles");
        // `joinset` is a tokio baseline only.
        assert!(measure_side(bench, &be, 10, 1, 1, "joinset").is_none());
    }
}
