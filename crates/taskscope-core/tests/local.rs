//! The local scope (P3): borrowing, `!Send` children, no runtime, every executor.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use std::future::Future;

use futures_lite::future::{block_on, yield_now};
use taskscope_core::{BoxError, ChildState, LocalScope, local_scope};

#[test]
fn children_borrow_from_the_stack_and_mutate_through_refcell() {
    let log = RefCell::new(Vec::new());
    let input = vec![1, 2, 3];
    let out = block_on(local_scope(async |s: &LocalScope<'_, BoxError>| {
        for x in &input {
            let log = &log;
            s.spawn(async move {
                yield_now().await;
                log.borrow_mut().push(*x * 10);
                Ok(())
            });
        }
        Ok(input.len())
    }));
    assert_eq!(out.unwrap(), 3);
    let mut got = log.into_inner();
    got.sort();
    assert_eq!(got, [10, 20, 30]);
}

#[test]
fn rc_children_are_not_send_and_work() {
    let counter = Rc::new(Cell::new(0));
    let h = block_on(local_scope(async |s| {
        let c = counter.clone();
        Ok::<_, BoxError>(s.spawn(async move {
            c.set(c.get() + 1);
            Ok(Rc::clone(&c))
        }))
    }))
    .unwrap();
    assert_eq!(h.state(), ChildState::Finished);
    assert_eq!(h.result().unwrap().get(), 1);
}

#[test]
#[should_panic(expected = "no runtime to time it with")]
fn a_grace_period_without_a_timer_is_refused_when_the_scope_starts() {
    let _ = block_on(
        taskscope_core::LocalBuilder::new()
            .grace(std::time::Duration::from_millis(1))
            .run(async |_s: &LocalScope<'_, BoxError>| Ok(())),
    );
}

#[test]
fn a_spawn_from_outside_the_owners_poll_wakes_the_owner() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::{Context, Poll, Wake, Waker};

    struct Count(AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    let wakes = Arc::new(Count(AtomicUsize::new(0)));
    let waker = Waker::from(wakes.clone());
    let mut cx = Context::from_waker(&waker);

    let gate = taskscope_core::CancelToken::new();
    let slot = RefCell::new(None);
    let mut scope = Box::pin(local_scope(async |s: &LocalScope<'_, BoxError>| {
        *slot.borrow_mut() = Some(s.spawner());
        s.spawn(async {
            gate.cancelled().await;
            Ok(())
        });
        Ok(())
    }));
    assert!(scope.as_mut().poll(&mut cx).is_pending());
    let before = wakes.0.load(Ordering::SeqCst);
    let spawner = slot.borrow_mut().take().unwrap();
    spawner.spawn(async {
        gate.cancel();
        Ok(())
    });
    assert!(wakes.0.load(Ordering::SeqCst) > before, "a spawn from outside did not wake the owner");
    assert!(matches!(scope.as_mut().poll(&mut cx), Poll::Ready(Ok(()))));
}
