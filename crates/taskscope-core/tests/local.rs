//! The local scope (P3): borrowing, `!Send` children, no runtime, every executor.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

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
