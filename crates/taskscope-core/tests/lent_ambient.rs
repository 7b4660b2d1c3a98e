//! The ambient scope as code running in a scope reads it (`current_token`, `current_runtime`,
//! a nested scope's link) from every position that lends it: a scope's body, a child, a
//! nested scope inside a child, a shielded child, a blocking child, a local scope and its
//! children; also with a runtime that polls each child inline inside its spawner's poll, so
//! that lends nest. CI runs it under Miri, which checks every read of the lent pointer.

use std::sync::{Arc, Mutex};
use std::task::{Context, Wake, Waker};
use std::time::Instant;

use futures_lite::future::block_on;
use taskscope_core::testing::ThreadRuntime;
use taskscope_core::{
    BlockingJob, BoxError, BoxedSleep, Builder, CancelToken, LocalBuilder, Runtime, Scope, Task, current_runtime,
    current_token,
};

/// Whether `t` is `of` (a child token made from `t` shows up in `of`'s child count).
fn same(t: &CancelToken, of: &CancelToken) -> bool {
    let before = of.child_count();
    let c = t.child();
    let r = of.child_count() == before + 1;
    drop(c);
    r
}

/// A runtime that polls each task once inline, on the spawning thread (inside the spawner's
/// own poll), then finishes it on a thread of its own.
#[derive(Debug)]
struct Inline;

struct Noop;
impl Wake for Noop {
    fn wake(self: Arc<Self>) {}
}

impl Runtime for Inline {
    fn spawn(&self, mut task: Task) {
        let w = Waker::from(Arc::new(Noop));
        if std::pin::Pin::new(&mut task).poll(&mut Context::from_waker(&w)).is_pending() {
            ThreadRuntime.spawn(task);
        }
    }
    fn spawn_blocking(&self, job: BlockingJob) {
        std::thread::spawn(job);
    }
    fn sleep_until(&self, deadline: Instant) -> BoxedSleep {
        ThreadRuntime.sleep_until(deadline)
    }
    fn name(&self) -> &'static str {
        "inline"
    }
}

fn check_spawned(rt: Arc<dyn Runtime>) {
    let out = block_on(Builder::new().runtime(rt).run(async |s: &Scope<BoxError>| {
        assert!(same(&current_token().unwrap(), s.token()), "body: its scope");
        assert!(current_runtime().is_some());
        let outer = s.token().clone();
        let o2 = outer.clone();
        let child = s.spawn(async move {
            assert!(same(&current_token().unwrap(), &o2), "child: its scope");
            // A nested scope inside the child links to the child's scope.
            let n = Builder::new()
                .run(async |n: &Scope<BoxError>| {
                    assert!(same(&current_token().unwrap(), n.token()), "nested body");
                    let nt = n.token().clone();
                    let g = n.spawn(async move {
                        assert!(same(&current_token().unwrap(), &nt));
                        futures_lite::future::yield_now().await;
                        assert!(same(&current_token().unwrap(), &nt));
                        Ok(1)
                    });
                    futures_lite::future::yield_now().await;
                    assert!(same(&current_token().unwrap(), n.token()), "nested body after yield");
                    Ok(g.await? + 1)
                })
                .await?;
            // Back in the child after the nested scope: its own scope again.
            assert!(same(&current_token().unwrap(), &o2), "child after nested scope");
            Ok::<_, BoxError>(n)
        });
        let child = child.await?;
        let o3 = outer.clone();
        let shielded = s.spawn_shielded(async move {
            let t = current_token().unwrap();
            assert!(!same(&t, &o3), "a shielded child sees its own token");
            let n =
                Builder::new().run(async |_n: &Scope<BoxError>| Ok::<_, BoxError>(current_token().unwrap())).await?;
            drop(n);
            futures_lite::future::yield_now().await;
            assert!(same(&current_token().unwrap(), &t));
            Ok::<_, BoxError>(3)
        });
        let shielded = shielded.await?;
        let o4 = outer.clone();
        let blocking = s.child().spawn_blocking(move |_tok| {
            // A blocking child: no scope of its own is lent.
            let _ = (current_token(), &o4);
            Ok::<_, BoxError>(4)
        });
        assert!(same(&current_token().unwrap(), s.token()), "body after spawns");
        Ok(child + shielded + blocking.await?)
    }));
    assert_eq!(out.unwrap(), 9);
    assert!(current_token().is_none());
}

#[test]
fn spawned_children_read_their_lent_scope() {
    check_spawned(Arc::new(ThreadRuntime));
}

#[test]
fn inline_polled_children_nest_their_lent_scopes() {
    check_spawned(Arc::new(Inline));
}

#[test]
fn local_scopes_read_their_lent_scope() {
    let rt: Arc<dyn Runtime> = Arc::new(ThreadRuntime);
    let seen = Mutex::new(0);
    let seen_ref = &seen;
    let out = block_on(LocalBuilder::new().runtime(rt).run(async |s| {
        let st = s.token().clone();
        assert!(same(&current_token().unwrap(), &st), "local body");
        let st2 = st.clone();
        let a = s.spawn(async move {
            assert!(same(&current_token().unwrap(), &st2), "local child");
            let n = Builder::new()
                .run(async |_n: &Scope<BoxError>| {
                    futures_lite::future::yield_now().await;
                    Ok::<_, BoxError>(1)
                })
                .await?;
            assert!(same(&current_token().unwrap(), &st2));
            Ok::<_, BoxError>(n)
        });
        let a = a.await?;
        let st3 = st.clone();
        let b = s.child().shielded().spawn(async move {
            let t = current_token().unwrap();
            assert!(!same(&t, &st3), "local shielded child: own token");
            futures_lite::future::yield_now().await;
            assert!(same(&current_token().unwrap(), &t));
            *seen_ref.lock().unwrap() += 1;
            Ok::<_, BoxError>(2)
        });
        Ok::<_, BoxError>(a + b.await?)
    }));
    assert_eq!(out.unwrap(), 3);
    assert_eq!(*seen.lock().unwrap(), 1);
}
