//! The process-wide gauge of live children (O1), in a test binary of its own so that no other
//! scope runs in the process meanwhile: it counts every live child, spawned or blocking, and
//! returns to zero once they are done.

use futures_lite::future::block_on;
use taskscope_core::testing::test_runtime;
use taskscope_core::{BoxError, Builder, CancelToken, live_children};

#[test]
fn the_process_gauge_counts_live_children_and_returns_to_zero() {
    assert_eq!(live_children(), 0, "no child is live before the scope");
    block_on(Builder::new().runtime(test_runtime()).run(async |s| {
        let gate = CancelToken::new();
        let handles: Vec<_> = (0..3)
            .map(|_| {
                let gate = gate.clone();
                s.spawn(async move {
                    gate.cancelled().await;
                    Ok::<_, BoxError>(())
                })
            })
            .collect();
        let blocking = s.spawn_blocking(|token| {
            futures_lite::future::block_on(token.cancelled());
            Ok::<_, BoxError>(())
        });
        assert_eq!(live_children(), 4, "three children and a blocking one");
        let first = handles.into_iter().next().expect("three handles");
        s.cancel();
        drop(gate);
        assert!(first.await.is_err());
        let _ = blocking.await;
        Ok::<_, BoxError>(())
    }))
    .unwrap_err();
    assert_eq!(live_children(), 0, "every child is done once its scope returned");
}
