//! The soak on every backend, small: every scope shape ends as predicted and nothing is left
//! behind (the full run is `cargo run --release -p taskscope-bench --bin soak`).

use taskscope_bench::backend::Flavour;
use taskscope_bench::soak;

#[test]
fn soak_leaves_nothing_behind_on_every_backend() {
    for f in Flavour::ALL {
        let s = soak::run(f, 100, 2_000, 2_000);
        assert_eq!(s.outcomes, [500, 500, 500, 500], "{}: outcomes by shape", f.name());
        assert_eq!(s.gauge_after, 0, "{}: children alive after their scopes", f.name());
        assert_eq!(s.parent_children_after, 0, "{}: the parent token kept dropped children", f.name());
    }
}
