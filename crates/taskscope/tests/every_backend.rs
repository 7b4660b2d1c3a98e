//! `test_on_every_backend!` (P6): one body, one named test per enabled flavour, each on its
//! own runtime, found by the same detection as an application's code.
#![cfg(all(feature = "testing", any(feature = "tokio", feature = "smol", feature = "sim")))]

use std::time::Duration;

use taskscope::BoxError;
use taskscope::testing::Flavour;

fn thread_test_name() -> String {
    std::thread::current().name().unwrap_or_default().to_string()
}

taskscope::test_on_every_backend! {
    /// Each generated test runs on the flavour in its name, and the code inside detects it.
    async fn each_test_runs_on_the_backend_it_is_named_after() {
        let detected = taskscope::runtime().unwrap().name();
        // libtest names the thread after the test: `..::tokio_mt` runs on "tokio-mt".
        let test = thread_test_name();
        let flavour = test.rsplit("::").next().unwrap().replace('_', "-");
        assert_eq!(detected, flavour, "{test}");
    }

    async fn a_body_may_return_a_result() -> Result<(), BoxError> {
        let n = taskscope::scope(async |s| {
            let h = s.spawn(async {
                taskscope::sleep(Duration::from_millis(1)).await;
                Ok::<_, BoxError>(21)
            });
            Ok(h.await? * 2)
        })
        .await?;
        assert_eq!(n, 42);
        Ok(())
    }

    #[should_panic(expected = "the body's own panic")]
    async fn attributes_apply_to_every_flavour() {
        panic!("the body's own panic");
    }
}

#[test]
fn every_enabled_flavour_has_a_name_and_runs() {
    let names: Vec<_> = Flavour::ALL.iter().map(|f| f.name()).collect();
    let mut expected = Vec::new();
    if cfg!(feature = "tokio") {
        expected.extend(["tokio-mt", "tokio-ct"]);
    }
    if cfg!(feature = "smol") {
        expected.extend(["smol-mt", "smol-st"]);
    }
    if cfg!(feature = "sim") {
        expected.push("sim");
    }
    assert_eq!(names, expected);
    for f in Flavour::ALL {
        assert_eq!(taskscope::testing::run(*f, async || taskscope::runtime().unwrap().name()), f.name());
    }
}

/// The `sim` flavour runs the body once per seed, each on a fresh simulation that the code
/// inside detects, in virtual time.
#[cfg(feature = "sim")]
#[test]
fn the_sim_flavour_runs_every_seed_in_virtual_time() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let runs = AtomicUsize::new(0);
    taskscope::testing::run_seeds(5, async || {
        runs.fetch_add(1, Ordering::SeqCst);
        assert_eq!(taskscope::runtime().unwrap().name(), "sim");
        let start = taskscope::now();
        taskscope::sleep(Duration::from_secs(3600)).await;
        assert_eq!(taskscope::now() - start, Duration::from_secs(3600), "a virtual hour, exactly");
    });
    let expected = match (std::env::var("TASKSCOPE_SIM_SEED"), std::env::var("TASKSCOPE_SIM_SEEDS")) {
        (Ok(_), _) => 1,
        (_, Ok(n)) => n.parse().expect("TASKSCOPE_SIM_SEEDS is a number"),
        _ => 5,
    };
    assert_eq!(runs.load(Ordering::SeqCst), expected, "one run per seed");
}
