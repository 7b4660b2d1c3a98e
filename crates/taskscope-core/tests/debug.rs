//! Every public type with a hand-written `Debug` says what it is and what state it is in, so a
//! `{:?}` in a log or an assertion message is useful.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_lite::future::block_on;
use taskscope_core::testing::test_runtime;
use taskscope_core::{
    BlockingJob, BoxError, BoxedSleep, Builder, CancelReason, CancelToken, LocalScope, Runtime, Task, TrySpawnError,
    local_scope,
};

/// Asserts that `shown` names `what` first and mentions each of `parts`.
fn shows(shown: String, what: &str, parts: &[&str]) {
    assert!(shown.starts_with(what), "{what}'s Debug starts with its name: {shown:?}");
    for part in parts {
        assert!(shown.contains(part), "{what}'s Debug mentions {part:?}: {shown:?}");
    }
}

/// A runtime that shows each task it is given before it runs it.
#[derive(Debug)]
struct Showing(Arc<dyn Runtime>, Arc<Mutex<Vec<String>>>);

impl Runtime for Showing {
    fn spawn(&self, task: Task) {
        self.1.lock().unwrap().push(format!("{task:?}"));
        self.0.spawn(task);
    }
    fn spawn_blocking(&self, job: BlockingJob) {
        self.0.spawn_blocking(job);
    }
    fn sleep_until(&self, deadline: Instant) -> BoxedSleep {
        self.0.sleep_until(deadline)
    }
    fn name(&self) -> &'static str {
        "showing"
    }
}

#[test]
fn the_spawned_scopes_types_show_their_state() {
    let tasks = Arc::new(Mutex::new(Vec::new()));
    let rt: Arc<dyn Runtime> = Arc::new(Showing(test_runtime(), tasks.clone()));
    block_on(Builder::new().runtime(rt).limit(1).unwrap().run(async |s| {
        shows(format!("{s:?}"), "Scope", &["live_children"]);
        shows(format!("{:?}", s.spawner()), "Spawner", &["live_children"]);
        shows(format!("{:?}", s.child().name("c")), "ChildBuilder", &["\"c\""]);
        // Holds the only slot until the `try_spawn` below was refused.
        let (held, release) = futures_util::future::abortable(std::future::pending::<()>());
        let h = s.spawn_named("first", async move {
            let _ = held.await;
            Ok::<_, BoxError>(1)
        });
        shows(format!("{h:?}"), "JoinHandle", &["\"first\""]);
        match s.try_spawn(async { Ok(2) }) {
            Err(e @ TrySpawnError::Full(_)) => shows(format!("{e:?}"), "Full", &[]),
            other => panic!("the only slot is taken: {other:?}"),
        }
        release.abort();
        let join = h.join();
        shows(format!("{join:?}"), "Join", &[]);
        assert_eq!(join.await?, 1);
        let start = s.start(|ready| async move {
            shows(format!("{ready:?}"), "Ready", &[]);
            ready.send(3);
            Ok(())
        });
        shows(format!("{start:?}"), "Start", &[]);
        let (v, _) = start.await?;
        assert_eq!(v, 3);
        Ok::<_, BoxError>(())
    }))
    .unwrap();
    let tasks = tasks.lock().unwrap();
    assert!(!tasks.is_empty());
    for task in tasks.iter() {
        shows(task.clone(), "Task", &["done"]);
    }
}

#[test]
fn tokens_reasons_and_sleeps_show_their_state() {
    let token = CancelToken::new();
    shows(format!("{token:?}"), "CancelToken", &[]);
    shows(format!("{:?}", token.cancelled()), "Cancelled", &[]);
    shows(format!("{:?}", token.clone().cancelled_owned()), "CancelledOwned", &[]);
    shows(format!("{:?}", token.run_until_cancelled(async {})), "RunUntilCancelled", &[]);
    shows(format!("{:?}", CancelReason::Deadline), "Deadline", &[]);
    shows(format!("{:?}", BoxError::msg("boom")), "\"boom\"", &[]);
    let shown = block_on(
        Builder::new()
            .runtime(test_runtime())
            .run(async |_| Ok::<_, BoxError>(format!("{:?}", taskscope_core::sleep(Duration::from_millis(1))))),
    )
    .unwrap();
    shows(shown, "Sleep", &["runtime", "deadline"]);
}

#[test]
fn the_local_scopes_types_show_their_state() {
    block_on(local_scope(async |s: &LocalScope<'_, BoxError>| {
        shows(format!("{s:?}"), "LocalScope", &["live_children"]);
        shows(format!("{:?}", s.spawner()), "LocalSpawner", &["live_children"]);
        shows(format!("{:?}", s.child().name("c")), "LocalChildBuilder", &["\"c\""]);
        let h = s.spawn_named("first", async { Ok(1) });
        shows(format!("{h:?}"), "LocalJoinHandle", &["\"first\""]);
        let join = h.join();
        shows(format!("{join:?}"), "LocalJoin", &[]);
        assert_eq!(join.await?, 1);
        let start = s.start(|ready| async move {
            shows(format!("{ready:?}"), "LocalReady", &[]);
            ready.send(3);
            Ok(())
        });
        shows(format!("{start:?}"), "LocalStart", &[]);
        let (v, _) = start.await?;
        assert_eq!(v, 3);
        Ok(())
    }))
    .unwrap();
}
