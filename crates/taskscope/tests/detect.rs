//! One detection path (P2): every way a facade user opens a scope, sets a deadline or sleeps
//! finds the same runtime, and with none the same message, naming the caller's line.

use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

use taskscope::{BoxError, current_runtime};

type Probe = Pin<Box<dyn Future<Output = &'static str>>>;

/// The name of the runtime each entry point ends up on, from inside it.
#[allow(dead_code)]
fn probes() -> Vec<(&'static str, Probe)> {
    fn here() -> &'static str {
        current_runtime().expect("inside a scope").name()
    }
    let body = async |_s: &taskscope::Scope<BoxError>| Ok(here());
    vec![
        ("scope", Box::pin(async move { taskscope::scope(body).await.unwrap() })),
        ("builder", Box::pin(async move { taskscope::builder().run(body).await.unwrap() })),
        ("Builder::new", Box::pin(async move { taskscope::Builder::new().run(body).await.unwrap() })),
        ("fail_after", Box::pin(async { taskscope::fail_after(Duration::MAX, async { here() }).await.unwrap() })),
        ("fail_at", Box::pin(async { taskscope::fail_at(far(), async { here() }).await.unwrap() })),
        ("move_on_after", Box::pin(async { taskscope::move_on_after(Duration::MAX, async { here() }).await.unwrap() })),
        ("move_on_at", Box::pin(async { taskscope::move_on_at(far(), async { here() }).await.unwrap() })),
        ("sleep", Box::pin(async { taskscope::sleep(Duration::ZERO).runtime_name() })),
        ("runtime", Box::pin(async { taskscope::runtime().unwrap().name() })),
        (
            "a child",
            Box::pin(async {
                let h = taskscope::scope(async |s| Ok::<_, BoxError>(s.spawn(async { Ok::<_, BoxError>(here()) })));
                h.await.unwrap().result().unwrap()
            }),
        ),
    ]
}

#[allow(dead_code)]
fn far() -> Instant {
    Instant::now() + Duration::from_secs(3600)
}

#[cfg(feature = "tokio")]
mod tokio_detected {
    use taskscope::BlockOn;
    use taskscope::tokio::TokioBackend;

    #[test]
    fn every_entry_point_finds_tokio_current_thread() {
        let rt = TokioBackend::current_thread();
        for (entry, probe) in super::probes() {
            assert_eq!(rt.block_on(probe), "tokio-ct", "{entry}");
        }
    }

    #[test]
    fn every_entry_point_finds_tokio_multi_thread() {
        let rt = TokioBackend::multi_thread(2);
        for (entry, probe) in super::probes() {
            assert_eq!(rt.block_on(probe), "tokio-mt", "{entry}");
        }
    }
}

#[cfg(feature = "smol")]
mod smol_detected {
    use std::sync::Arc;

    use taskscope::smol::{SmolBackend, SmolRuntime};
    use taskscope::{BlockOn, BoxError};

    #[test]
    fn every_entry_point_finds_a_single_thread_backend() {
        let rt = SmolBackend::single_thread();
        for (entry, probe) in super::probes() {
            assert_eq!(rt.block_on(probe), "smol-st", "{entry}");
        }
    }

    #[test]
    fn every_entry_point_finds_a_multi_thread_backend() {
        let rt = SmolBackend::multi_thread(2);
        for (entry, probe) in super::probes() {
            assert_eq!(rt.block_on(probe), "smol-mt", "{entry}");
        }
    }

    #[test]
    fn children_of_a_single_thread_backend_run_on_its_thread() {
        // smol's global executor would run them on its own threads.
        let me = std::thread::current().id();
        let ran_on = SmolBackend::single_thread().block_on(taskscope::scope(async |s| {
            let h = s.spawn(async { Ok::<_, BoxError>(std::thread::current().id()) });
            Ok::<_, BoxError>(h)
        }));
        assert_eq!(ran_on.unwrap().result().unwrap(), me);
    }

    #[test]
    fn an_executor_the_application_enters_is_detected() {
        let ex = Arc::new(async_executor::Executor::new());
        let _current = SmolRuntime::with_executor(&ex, "app-executor").enter();
        for (entry, probe) in super::probes() {
            assert_eq!(futures_lite::future::block_on(ex.run(probe)), "app-executor", "{entry}");
        }
    }

    #[test]
    fn outside_any_executor_smol_falls_back_to_its_global_executor() {
        let name = futures_lite::future::block_on(taskscope::scope(async |_s| {
            Ok::<_, BoxError>(taskscope::current_runtime().unwrap().name())
        }));
        assert_eq!(name.unwrap(), "smol");
    }

    #[test]
    fn inside_tokio_with_both_features_tokio_wins() {
        #[cfg(feature = "tokio")]
        {
            let rt = taskscope::tokio::TokioBackend::current_thread();
            let _smol = SmolRuntime::global().enter();
            assert_eq!(rt.block_on(async { taskscope::runtime().unwrap().name() }), "tokio-ct");
        }
    }
}

/// Where no runtime can be found, every entry point panics with the same message, which
/// names the caller's line and the feature to add.
#[cfg(not(feature = "smol"))]
#[test]
fn without_a_runtime_every_entry_point_says_the_same_at_the_callers_line() {
    fn message(f: impl FnOnce()) -> String {
        let p = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).expect_err("no runtime: it must panic");
        taskscope::panic_message(&*p).to_string()
    }
    fn ignore<T>(_: T) {}
    use futures_lite::future::block_on;
    let body = async |_s: &taskscope::Scope<BoxError>| Ok(());
    let mut seen = Vec::new();
    // The message names the line of the call, within the statement starting at `line`.
    let mut check = |line: u32, msg: String| {
        let at = msg.find(concat!(file!(), ":")).unwrap_or_else(|| panic!("the message names {}: {msg}", file!()));
        let rest = &msg[at + file!().len() + 1..];
        let named: u32 = rest[..rest.find(':').unwrap()].parse().unwrap();
        assert!((line..line + 4).contains(&named), "the message names line {named}, the call is at {line}: {msg}");
        seen.push(msg.replace(&msg[at..msg.find(" (it is").unwrap()], "LINE"));
    };
    check(line!(), message(|| ignore(block_on(taskscope::scope(body)))));
    check(line!(), message(|| ignore(block_on(taskscope::builder().run(body)))));
    check(line!(), message(|| ignore(block_on(taskscope::Builder::new().run(body)))));
    check(line!(), message(|| ignore(block_on(taskscope::fail_after(Duration::ZERO, async {})))));
    check(line!(), message(|| ignore(block_on(taskscope::move_on_at(Instant::now(), async {})))));
    check(line!(), message(|| ignore(taskscope::sleep(Duration::ZERO))));
    check(line!(), message(|| ignore(taskscope::now())));
    check(line!(), message(|| ignore(taskscope::interval(Duration::from_secs(1)))));
    check(line!(), taskscope::runtime().unwrap_err().to_string());
    assert!(seen.windows(2).all(|w| w[0] == w[1]), "{seen:#?}");
    let feature = if cfg!(feature = "tokio") { "features = [\"tokio\", \"smol\"]" } else { "features = [\"tokio\"]" };
    assert!(seen[0].contains(feature), "names the feature to add: {}", seen[0]);
    assert!(seen[0].contains("Cargo.toml"), "{}", seen[0]);
}
