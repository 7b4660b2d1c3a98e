//! Code around `LocalJoinHandle<'env, ..>` that must keep compiling: handles returned out of
//! the body or kept in a container declared after the data their children borrow, a started
//! child's handle awaited by a sibling, `'static` handles kept anywhere.
use futures_lite::future::block_on;
use std::cell::RefCell;
use taskscope_core::{BoxError, LocalScope, local_scope};

#[test]
fn returned_handles_and_outer_vec_declared_after_the_data() {
    let data = [1, 2, 3];
    let mut outer = Vec::new();
    let hs = block_on(local_scope(async |s| {
        outer.push(s.spawn(async { Ok::<_, BoxError>(data.len()) }));
        Ok(vec![s.spawn(async { Ok(data[0]) })])
    }))
    .unwrap();
    assert_eq!(outer.pop().unwrap().result().unwrap(), 3);
    assert_eq!(hs.into_iter().next().unwrap().result().unwrap(), 1);
}

#[test]
fn start_awaited_in_the_body_and_handle_awaited_by_a_sibling() {
    let data = [1, 2, 3];
    let n = block_on(local_scope(async |s: &LocalScope<'_, BoxError>| {
        let (v, h) = s
            .start(|ready| async {
                ready.send(data.len());
                Ok(data[1])
            })
            .await?;
        let j = s.spawn(async move { Ok(h.await? + v) });
        Ok(j.await?)
    }))
    .unwrap();
    assert_eq!(n, 5);
}

#[test]
fn static_children_give_static_handles() {
    thread_local! { static KEEP: RefCell<Vec<taskscope_core::LocalJoinHandle<'static, u8, BoxError>>> = const { RefCell::new(Vec::new()) }; }
    let h = block_on(local_scope(async |s| Ok(s.spawn(async { Ok::<_, BoxError>(7u8) })))).unwrap();
    KEEP.with(|k| k.borrow_mut().push(h));
    assert_eq!(KEEP.with(|k| k.borrow_mut().pop()).unwrap().result().unwrap(), 7);
}
