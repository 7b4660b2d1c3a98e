//! Which path each built-in flavour's scopes spawn their children through: into tokio's or
//! smol's own task (what `taskscope`'s users get), or through `Runtime::spawn` (sim, the
//! `*-dyn` flavours, any other adapter). The suite covers both only while this holds.

use taskscope_conformance::backends::ALL;
use taskscope_conformance::support::Rt;
use taskscope_core::Spawn;

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
    let seen: Vec<(&str, &str)> = ALL
        .iter()
        .map(|b| {
            let h = (b.make)();
            let rt = Rt::from_runtime(&h.runtime()).expect("the facade's runtime takes any runtime");
            (b.name, rt.kind())
        })
        .collect();
    assert_eq!(seen, expected);
}
