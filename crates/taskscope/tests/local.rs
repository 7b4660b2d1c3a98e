//! The local scope inside tokio (P3): in a `LocalSet` task, and with the detected timer.
#![cfg(feature = "tokio")]

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use taskscope::{BoxError, local_scope};

#[test]
fn local_scope_inside_a_tokio_local_task_borrows_and_sleeps() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let local = tokio::task::LocalSet::new();
    let total = local.block_on(&rt, async {
        tokio::task::spawn_local(async {
            let prices = vec![3u32, 4, 5];
            let seen = Rc::new(Cell::new(0u32));
            local_scope(async |s| {
                for p in &prices {
                    let seen = seen.clone();
                    s.spawn(async move {
                        tokio::time::sleep(Duration::from_millis(u64::from(*p))).await;
                        seen.set(seen.get() + p);
                        Ok::<_, BoxError>(())
                    });
                }
                Ok(())
            })
            .await
            .unwrap();
            seen.get()
        })
        .await
        .unwrap()
    });
    assert_eq!(total, 12);
}

#[test]
fn local_builder_detects_the_tokio_timer() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let r = rt.block_on(async {
        taskscope::local_builder()
            .timeout(Duration::from_millis(5))
            .run(async |s| {
                s.spawn(std::future::pending::<Result<(), BoxError>>());
                Ok(())
            })
            .await
    });
    assert!(r.unwrap_err().is_elapsed());
}
