//! The local-scope cases (P3), each a `#[test]`, driven by a tokio current-thread runtime's
//! `block_on` and by smol's single-threaded one; plus the local scope under
//! `futures::executor::block_on`, inside a smol `LocalExecutor` task and inside a tokio
//! `spawn_local` task (its future is not `Send`, so not inside `tokio::spawn`).

use std::cell::Cell;

use taskscope_conformance::cases::local::LOCAL;
use taskscope_conformance::{CaseResult, backends, run_case};
use taskscope_core::{BoxError, local_scope};

fn run_all(make: fn() -> Box<dyn taskscope_conformance::Harness>, backend: &str) {
    let failures: Vec<String> = LOCAL
        .iter()
        .filter_map(|case| match run_case(make, case) {
            CaseResult::Pass(_) => None,
            CaseResult::Fail(msg, _) => Some(format!("{} on {backend}: {msg}", case.name)),
        })
        .collect();
    assert!(failures.is_empty(), "{} local case(s) failed:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn every_local_case_under_tokio_current_thread() {
    run_all(backends::tokio_ct, "tokio-ct");
}

#[test]
fn every_local_case_under_smol_single_thread() {
    run_all(backends::smol_st, "smol-st");
}

#[test]
fn local_scope_under_futures_executor_block_on() {
    let data = [1, 2, 3];
    let hits = Cell::new(0);
    let sum = futures::executor::block_on(local_scope(async |s| {
        let handles: Vec<_> = data
            .iter()
            .map(|x| {
                let hits = &hits;
                s.spawn(async move {
                    futures_lite::future::yield_now().await;
                    hits.set(hits.get() + 1);
                    Ok::<_, BoxError>(*x)
                })
            })
            .collect();
        let mut sum = 0;
        for h in handles {
            sum += h.await?;
        }
        Ok(sum)
    }))
    .unwrap();
    assert_eq!((sum, hits.get()), (6, 3));
}

#[test]
fn local_scope_inside_a_smol_local_executor_task() {
    let ex = smol::LocalExecutor::new();
    let task = ex.spawn(async {
        let owned = String::from("borrowed by the children");
        let rc = std::rc::Rc::new(Cell::new(0));
        local_scope(async |s| {
            for _ in 0..4 {
                let (owned, rc) = (&owned, rc.clone());
                s.spawn(async move {
                    smol::future::yield_now().await;
                    rc.set(rc.get() + owned.len());
                    Ok::<_, BoxError>(())
                });
            }
            Ok(())
        })
        .await
        .unwrap();
        rc.get()
    });
    assert_eq!(smol::block_on(ex.run(task)), 4 * 24);
}

#[test]
fn local_scope_inside_a_tokio_spawn_local_task() {
    let rt = tokio::runtime::Builder::new_current_thread().build().expect("a tokio runtime");
    let tasks = tokio::task::LocalSet::new();
    let total = tasks.block_on(&rt, async {
        tokio::task::spawn_local(async {
            let words = ["borrowed", "by", "the", "children"];
            let rc = std::rc::Rc::new(Cell::new(0)); // `!Send`: fine on a local task
            local_scope(async |s| {
                for w in &words {
                    let rc = rc.clone();
                    s.spawn(async move {
                        tokio::task::yield_now().await;
                        rc.set(rc.get() + w.len());
                        Ok::<_, BoxError>(())
                    });
                }
                Ok(())
            })
            .await
            .map(|()| rc.get())
        })
        .await
        .expect("the local task ran to the end")
    });
    assert_eq!(total.unwrap(), 8 + 2 + 3 + 8);
}
