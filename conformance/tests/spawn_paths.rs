//! Which path each built-in flavour's scopes spawn their children through, as a case sees its
//! harness (through the runner, which wraps the runtime to watch its timers): into tokio's or
//! smol's own task (what `taskscope`'s users get), or through `Runtime::spawn` (sim, the
//! `*-dyn` flavours, smol's global executor behind its counting harness, any other adapter).
//! The suite covers both paths only while this holds.

use std::sync::Mutex;

use taskscope_conformance::backends::ALL;
use taskscope_conformance::support::Rt;
use taskscope_conformance::{Case, CaseResult, Harness, run_case};
use taskscope_core::Spawn;

/// What the probe case saw on the flavour it last ran on.
static SEEN: Mutex<Option<&'static str>> = Mutex::new(None);

/// A case that records the spawn path of the runtime its harness gives.
fn probe(h: &dyn Harness) {
    let rt = Rt::from_runtime(&h.runtime()).expect("the facade's runtime takes any runtime");
    *SEEN.lock().unwrap() = Some(rt.kind());
}

#[test]
fn each_built_in_flavour_spawns_through_its_own_path() {
    let expected = [
        ("tokio-mt", "tokio"),
        ("tokio-ct", "tokio"),
        ("smol-mt", "smol"),
        ("smol-st", "smol"),
        ("sim", "dyn"),
        // A shared harness counts the tasks spawned through its runtime (to see a case's tasks
        // end), which hides the runtime's type.
        ("smol-global", "dyn"),
        ("tokio-mt-dyn", "dyn"),
        ("smol-mt-dyn", "dyn"),
    ];
    let case = Case { name: "probe_the_spawn_path", run: probe };
    let seen: Vec<(&str, &str)> = ALL
        .iter()
        .map(|b| {
            *SEEN.lock().unwrap() = None;
            let result = run_case(b.make, &case);
            assert!(matches!(result, CaseResult::Pass(_)), "the probe fails on {}: {result:?}", b.name);
            (b.name, SEEN.lock().unwrap().take().expect("the probe ran"))
        })
        .collect();
    assert_eq!(seen, expected);
}
