//! A child whose future is gone while a scope it opened still drains waits for that scope
//! before it publishes (C9): its task stays pending, parked. If the runtime shuts down then and
//! drops that task, the publication passes to the draining scope: once the scope's blocking
//! job ends, the child's handle reports it cancelled and the enclosing scope, whose owner runs
//! on a thread of its own, returns (S1). On both spawn paths: straight into smol's own task,
//! and through `Runtime::spawn`.

use std::sync::Arc;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::time::Duration;

use taskscope::smol::{SmolBackend, SmolRuntime};
use taskscope_core::{BoxError, Builder, DynRuntime, Runtime, Spawn};

/// Generous: once the gate opens everything ends at once; this only turns a hang into a
/// failure.
const HANG: Duration = Duration::from_secs(20);

/// Sends when dropped: the child's future is gone.
struct OnDrop(Sender<()>);

impl Drop for OnDrop {
    fn drop(&mut self) {
        let _ = self.0.send(());
    }
}

fn wait<T>(rx: &Receiver<T>, what: &str) -> T {
    rx.recv_timeout(HANG).unwrap_or_else(|_| panic!("timed out waiting until {what}"))
}

fn a_parked_child_dropped_by_the_runtime_still_publishes<R: Spawn>() {
    let backend = SmolBackend::multi_thread(1);
    let rt: Arc<dyn Runtime> = backend.runtime();
    let (started_tx, started) = channel();
    let (dropped_tx, dropped) = channel();
    let (gate_tx, gate) = channel::<()>();
    let (done_tx, done) = channel();
    let owner = std::thread::spawn(move || {
        let out = futures_lite::future::block_on(Builder::<R>::typed().runtime(rt).run(async move |s| {
            let h = s.spawn(async move {
                let _guard = OnDrop(dropped_tx);
                Builder::new()
                    .run(async move |n| {
                        let job = n.spawn_blocking(move |_token| {
                            let _ = started_tx.send(());
                            // A blocking job cannot be dropped: its scope waits for it.
                            let _ = gate.recv();
                            Ok::<_, BoxError>(())
                        });
                        job.await?;
                        Ok::<_, BoxError>(())
                    })
                    .await
                    .map_err(BoxError::from)
            });
            // This thread only drives the owner, so the body may block on the test's signal.
            wait(&started, "the nested scope's blocking job started");
            h.cancel();
            let joined = h.await;
            Ok::<_, BoxError>(joined.map_err(|e| (e.is_cancelled(), e.to_string())))
        }));
        let _ = done_tx.send(out.map_err(|e| e.to_string()));
    });
    wait(&dropped, "the cancelled child's future was dropped");
    // The child is now parked for its nested scope. The shutdown joins the executor's thread
    // (its poll that parked the child has returned) and drops every task still on it.
    drop(backend);
    gate_tx.send(()).expect("the blocking job waits at the gate");
    let out = wait(&done, "the scope returned after its child's nested scope drained");
    owner.join().expect("the owner's thread does not panic");
    let joined = out.expect("the scope succeeds: its only child was cancelled through its handle");
    match joined {
        Err((cancelled, msg)) => assert!(cancelled, "the handle reports the child cancelled, got: {msg}"),
        Ok(()) => panic!("the child's future was dropped: it cannot have returned a value"),
    }
}

#[test]
fn on_smols_own_task() {
    a_parked_child_dropped_by_the_runtime_still_publishes::<SmolRuntime>();
}

#[test]
fn through_runtime_spawn() {
    a_parked_child_dropped_by_the_runtime_still_publishes::<DynRuntime>();
}
