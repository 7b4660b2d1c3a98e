//! Every benchmark on every backend at n = 100, one repetition: the benchmarks' own assertions
//! (every child started, the failing child failed, every child dropped by the time the scope
//! returned, the scope's outcome) run on every flavour.

use taskscope_bench::backend::Flavour;
use taskscope_bench::bench::BENCHES;
use taskscope_bench::mem;
use taskscope_bench::report::{self, Config};

#[test]
fn every_bench_runs_on_every_backend() {
    let cfg = Config::smoke();
    let mut rows = Vec::new();
    report::run_timing(&cfg, |_, _, _| {}, |r| rows.push(r));
    let expected: usize = BENCHES
        .iter()
        .flat_map(|b| Flavour::ALL.into_iter().map(move |f| b.baselines.iter().filter(|x| (x.applies)(f)).count()))
        .sum();
    assert_eq!(rows.len(), expected);
    for &f in &Flavour::ALL {
        assert!(rows.iter().any(|r| r.backend == f.name()), "no row for {}", f.name());
    }
    for r in &rows {
        assert_eq!(r.n, 100, "{r:?}");
        assert!(r.ours_ns > 0.0 && r.base_ns > 0.0 && r.ratio.is_finite(), "{r:?}");
        assert!(r.to_json().starts_with(r#"{"bench":""#));
    }
    if !taskscope_bench::bench::PLANNED.is_empty() {
        assert!(report::human(&rows).contains("not yet built"));
    }

    let memory = report::run_memory(&cfg, mem::measure);
    if mem::rss_bytes().is_some() {
        assert_eq!(memory.len(), Flavour::ALL.len());
    }
    assert_eq!(taskscope_core::live_children(), 0, "no child outlives the benchmarks");
}
