//! Start-and-wait-ready (L4): [`Spawner::start`](crate::Spawner::start), [`Ready`], [`Start`].

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Weak};
use std::task::{Context, Poll};

use crate::error::JoinError;
use crate::scope::{ChildState, Inner, JoinHandle, SpawnOpts, Spawner, StartHook, ended_without_value};
use crate::spawn::Spawn;
use crate::sync::{AtomicWaker, Mutex};
use crate::token::Name;
use crate::util::lock;

/// What a started child and its [`Start`] future share: whichever comes first, the report or
/// the child's end, decides, under the one lock (L4). The local scope's start shares it too.
pub(crate) struct StartSlot<V, E> {
    report: Mutex<Report<V, E>>,
    pub(crate) waker: AtomicWaker,
}

/// Where a start stands.
pub(crate) enum Report<V, E> {
    /// Neither the report nor the child's end yet.
    Waiting,
    /// Reported ready, the value not yet taken by the [`Start`] future.
    Ready(V),
    /// Reported ready and the value taken: the child is an ordinary child now.
    Taken,
    /// The child returned this error before reporting ready: the start call returns it.
    Failed(E),
    /// The child ended (or was never started) before reporting ready.
    Ended,
    /// The [`Start`] future was dropped before the child reported ready or ended: nobody
    /// takes a report or an early error any more (the child's error goes to the scope).
    Abandoned,
}

impl<V, E> StartSlot<V, E> {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Self::waiting())
    }

    /// A slot where neither the report nor the child's end has come yet.
    pub(crate) fn waiting() -> Self {
        Self { report: Mutex::new(Report::Waiting), waker: AtomicWaker::new() }
    }

    /// The child's spawn was refused (S4): it never started, whatever it reported while its
    /// future was being made. The reported value is dropped outside the lock (user code).
    pub(crate) fn refused(&self) {
        let reported = std::mem::replace(&mut *lock(&self.report), Report::Ended);
        drop(reported);
    }

    /// The [`Start`] future is gone. Decided under the lock, against the child's `intercept`:
    /// an early error already here is returned (for the scope); one that comes later is given
    /// back to the child's own error path by `intercept`.
    pub(crate) fn abandon(&self) -> Option<E> {
        let mut report = lock(&self.report);
        match std::mem::replace(&mut *report, Report::Abandoned) {
            Report::Failed(error) => Some(error),
            Report::Waiting => None,
            other => {
                *report = other;
                None
            }
        }
    }

    /// The child returned `error`: taken (`None`) if it had not reported ready, else given back.
    pub(crate) fn take_error(&self, error: E) -> Option<E> {
        let mut report = lock(&self.report);
        match *report {
            // Not ready yet: the error is the start call's, not the scope's.
            Report::Waiting => {
                *report = Report::Failed(error);
                None
            }
            _ => Some(error),
        }
    }

    /// The child ended (its future is gone): a report that comes later is ignored.
    pub(crate) fn ended(&self) {
        let mut report = lock(&self.report);
        if let Report::Waiting = *report {
            *report = Report::Ended;
        }
    }

    /// The child reports ready with `value`: kept and the start call woken if neither a report
    /// nor the child's end came first, else dropped (outside the lock: its destructor is user
    /// code).
    pub(crate) fn report(&self, value: V) {
        let late = {
            let mut report = lock(&self.report);
            match *report {
                Report::Waiting => {
                    *report = Report::Ready(value);
                    None
                }
                // The child already ended (or failed): too late, the report is ignored.
                _ => Some(value),
            }
        };
        match late {
            // Dropped outside the lock: the value's destructor is user code.
            Some(value) => drop(value),
            None => self.waker.wake(),
        }
    }

    /// The reported value, if the child reported ready and nobody took it yet.
    pub(crate) fn take_ready(&self) -> Option<V> {
        let mut report = lock(&self.report);
        match std::mem::replace(&mut *report, Report::Taken) {
            Report::Ready(v) => Some(v),
            other => {
                *report = other;
                None
            }
        }
    }

    /// How the start ended, once the child has: taken (the slot says `Taken` afterwards).
    pub(crate) fn settle(&self) -> Report<V, E> {
        std::mem::replace(&mut *lock(&self.report), Report::Taken)
    }
}

impl<V: Send, E: Send> StartHook<E> for StartSlot<V, E> {
    fn intercept(&self, error: E) -> Option<E> {
        self.take_error(error)
    }

    fn end(&self) {
        self.ended();
    }
}

/// The reporting side of a [`StartSlot`], type-erased over the child's error type.
trait ReadySink<V>: Send + Sync {
    fn send(&self, value: V);
}

impl<V: Send, E: Send> ReadySink<V> for StartSlot<V, E> {
    fn send(&self, value: V) {
        self.report(value);
    }
}

/// The reporter a child started with [`Spawner::start`](crate::Spawner::start) uses to say it
/// is ready. [`send`](Ready::send) consumes it, so reporting twice does not compile:
///
/// ```compile_fail
/// # fn f(ready: taskscope_core::Ready<u16>) {
/// ready.send(1);
/// ready.send(2); // error: use of moved value
/// # }
/// ```
///
/// Dropping it without sending is allowed: if the child then ends, the start call gets
/// [`JoinError::NotReady`].
#[must_use = "a started child must report ready with `send`, or its start call fails"]
pub struct Ready<V> {
    sink: Arc<dyn ReadySink<V>>,
}

impl<V> fmt::Debug for Ready<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ready").finish_non_exhaustive()
    }
}

impl<V: Send + 'static> Ready<V> {
    pub(crate) fn new<E: Send + 'static>(slot: Arc<StartSlot<V, E>>) -> Self {
        Self { sink: slot }
    }

    /// Reports ready with `value`: the start call returns it.
    pub fn send(self, value: V) {
        self.sink.send(value);
    }
}

/// The future returned by [`Spawner::start`](crate::Spawner::start): resolves once the child
/// reports ready (with the value it reported and its handle), or ends first (with why).
///
/// # Cancel safety
/// Dropping it before it completes cancels the child (C9): a start that is given up never
/// leaves a half-started child behind. An error the child returned before reporting ready,
/// which this future would have returned, then goes to the scope like any child's error
/// (F1, F3: never lost).
#[must_use = "futures do nothing unless polled; dropping a `Start` cancels its child"]
pub struct Start<V, T, E> {
    slot: Arc<StartSlot<V, E>>,
    handle: Option<JoinHandle<T, E>>,
    /// Where an early error goes if this future is dropped before returning it.
    scope: Weak<Inner<E>>,
}

impl<V, T, E> fmt::Debug for Start<V, T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Start").field("handle", &self.handle).finish()
    }
}

impl<V, T, E> Start<V, T, E> {
    pub(crate) fn new(slot: Arc<StartSlot<V, E>>, handle: JoinHandle<T, E>, scope: Weak<Inner<E>>) -> Self {
        Self { slot, handle: Some(handle), scope }
    }
}

impl<V, T, E> Future for Start<V, T, E> {
    type Output = Result<(V, JoinHandle<T, E>), JoinError<E>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let Some(handle) = this.handle.as_mut() else {
            panic!("`Start` polled after it completed");
        };
        if let Some(v) = this.slot.take_ready() {
            return Poll::Ready(Ok((v, this.handle.take().expect("checked above"))));
        }
        this.slot.waker.register(cx.waker());
        let ended = handle.poll_ended(cx);
        if let Some(v) = this.slot.take_ready() {
            return Poll::Ready(Ok((v, this.handle.take().expect("checked above"))));
        }
        // The slot may already say how the child ended; the handle's end arrives after it, and
        // the error is mapped from the state that came with it.
        if ended.is_pending() {
            return Poll::Pending;
        }
        let state = handle.state();
        let report = this.slot.settle();
        let handle = this.handle.take().expect("checked above");
        let name = handle.owned_name();
        Poll::Ready(match (report, state) {
            // Reported ready before it ended: started after all.
            (Report::Ready(v), _) => Ok((v, handle)),
            (Report::Failed(error), _) => Err(JoinError::Failed { name, error: Some(error) }),
            (_, ChildState::Finished) => Err(JoinError::NotReady { name }),
            (_, state) => Err(ended_without_value(state, name, None)),
        })
    }
}

impl<V, T, E> Drop for Start<V, T, E> {
    fn drop(&mut self) {
        let Some(h) = self.handle.take() else { return };
        let unclaimed = self.slot.abandon();
        h.cancel();
        if let Some(error) = unclaimed
            && let Some(scope) = self.scope.upgrade()
            && let Some(late) = scope.unclaimed(h.owned_name(), error)
        {
            // The scope already returned: like an unread error in a dropped handle, it is
            // this future's to drop.
            drop(late);
        }
    }
}

/// Model checks of the start slot (`RUSTFLAGS="--cfg taskscope_loom" cargo test -p
/// taskscope-core --release --lib loom`): a report from another thread against the child's end.
impl<E: Send + 'static, R: Spawn> Spawner<E, R> {
    /// Starts a child and waits until it reports ready (L4, AnyIO's `task_group.start`): `f`
    /// gets a [`Ready`] reporter, and the call returns the value the child reports together
    /// with the child's handle, while the child runs on in the scope.
    ///
    /// - An error the child returns before reporting ready is returned by this call
    ///   ([`JoinError::Failed`] with the error) and does not fail the scope.
    /// - A child that ends without reporting ready gives [`JoinError::NotReady`].
    /// - Reporting twice is impossible: [`Ready::send`] consumes the reporter.
    /// - After ready, the child is an ordinary child: its error fails the scope.
    ///
    /// Short for `self.child().start(f)`; [`ChildBuilder`](crate::ChildBuilder) names or
    /// shields the child.
    ///
    /// # Cancel safety
    /// Dropping the returned future before it completes cancels the child (C9); an error the
    /// child returned before reporting ready then goes to the scope (F3: never lost).
    ///
    /// ```
    /// # use taskscope_core::{Builder, BoxError};
    /// # let rt = taskscope_core::test_runtime();
    /// # futures_lite::future::block_on(async {
    /// Builder::new().runtime(rt).run(async |s| {
    ///     let (port, _server) = s
    ///         .start(|ready| async move {
    ///             ready.send(8080u16); // bound and listening
    ///             // ... serve until cancelled ...
    ///             Ok::<_, BoxError>(())
    ///         })
    ///         .await?;
    ///     assert_eq!(port, 8080);
    ///     Ok(())
    /// }).await?;
    /// # Ok::<_, BoxError>(()) }).unwrap();
    /// ```
    pub fn start<V, T, F, Fut>(&self, f: F) -> Start<V, T, E>
    where
        F: FnOnce(Ready<V>) -> Fut,
        Fut: Future<Output = Result<T, E>> + Send + 'static,
        V: Send + 'static,
        T: Send + 'static,
    {
        self.child().start(f)
    }

    /// [`start`](Spawner::start) with a name for the child. Short for
    /// `self.child().name(name).start(f)` (see [`ChildBuilder`](crate::ChildBuilder)).
    pub fn start_named<V, T, F, Fut>(&self, name: impl Into<Name>, f: F) -> Start<V, T, E>
    where
        F: FnOnce(Ready<V>) -> Fut,
        Fut: Future<Output = Result<T, E>> + Send + 'static,
        V: Send + 'static,
        T: Send + 'static,
    {
        self.child().name(name).start(f)
    }

    /// Starts a child spawned as `how` says (its name, its shielding), with its start hook.
    pub(crate) fn start_child<V, T, F, Fut>(&self, how: SpawnOpts<E>, f: F) -> Start<V, T, E>
    where
        F: FnOnce(Ready<V>) -> Fut,
        Fut: Future<Output = Result<T, E>> + Send + 'static,
        V: Send + 'static,
        T: Send + 'static,
    {
        let slot = StartSlot::new();
        let fut = f(Ready::new(slot.clone()));
        let handle = self.spawn_child(fut, SpawnOpts { hook: Some(slot.clone()), ..how });
        if handle.state() == ChildState::Closed {
            // Refused (S4): a report made while its future was being made does not count.
            slot.refused();
        }
        Start::new(slot, handle, Arc::downgrade(&self.inner))
    }
}

#[cfg(all(test, not(taskscope_loom)))]
mod tests {
    use crate::builder::Builder;
    use crate::error::BoxError;

    /// A start call and its reporter print what they are, and the start call its child's
    /// handle (name and state).
    #[test]
    fn start_and_ready_debug_name_themselves_and_the_child() {
        let rt = crate::test_runtime();
        futures_lite::future::block_on(Builder::new().runtime(rt).run(async |s| {
            let mut shown = String::new();
            let start = s.start_named("server", |ready: crate::Ready<u16>| {
                shown = format!("{ready:?}");
                async move {
                    ready.send(1);
                    Ok::<_, BoxError>(())
                }
            });
            assert_eq!(shown, "Ready { .. }");
            let printed = format!("{start:?}");
            assert!(printed.starts_with("Start { handle: Some(JoinHandle { name: Some(\"server\")"), "{printed}");
            start.await?;
            Ok::<_, BoxError>(())
        }))
        .unwrap();
    }
}

#[cfg(all(test, taskscope_loom))]
mod loom_models {
    use super::*;
    use loom::thread;

    /// L4, F3: the report and the child's error race: exactly one wins; the error goes to the
    /// start call (report too late, value dropped) or back to the scope (report first).
    #[test]
    fn report_racing_the_childs_error_decides_once() {
        loom::model(|| {
            let slot: Arc<StartSlot<u8, &'static str>> = StartSlot::new();
            let ready = Ready::new(slot.clone());
            let reporter = thread::spawn(move || ready.send(1));
            let back = slot.intercept("failed");
            slot.end();
            reporter.join().unwrap();
            let report = std::mem::replace(&mut *lock(&slot.report), Report::Taken);
            match (back, report) {
                // The child failed first: the start call has the error, the report was dropped.
                (None, Report::Failed(e)) => assert_eq!(e, "failed"),
                // The report came first: the value waits for the start call, the error is the
                // scope's.
                (Some(e), Report::Ready(v)) => assert_eq!((e, v), ("failed", 1)),
                _ => panic!("the report and the child's end were both lost or both kept"),
            }
        });
    }

    /// L4, F3: the start call dropped while the child fails before ready: the error reaches
    /// the scope exactly once, through the drop or through the child's own error path.
    #[test]
    fn a_dropped_start_racing_the_childs_error_loses_nothing() {
        loom::model(|| {
            let slot: Arc<StartSlot<u8, &'static str>> = StartSlot::new();
            let other = slot.clone();
            let dropper = thread::spawn(move || other.abandon());
            let back = slot.intercept("failed");
            let taken = dropper.join().unwrap();
            match (back, taken) {
                (Some(e), None) | (None, Some(e)) => assert_eq!(e, "failed"),
                (back, taken) => panic!("the error was lost or doubled: child path {back:?}, drop {taken:?}"),
            }
        });
    }

    /// L4: a report racing a child that ends without an error: the report counts only if it
    /// came first.
    #[test]
    fn report_racing_the_childs_end() {
        loom::model(|| {
            let slot: Arc<StartSlot<u8, &'static str>> = StartSlot::new();
            let ready = Ready::new(slot.clone());
            let reporter = thread::spawn(move || ready.send(1));
            slot.end();
            reporter.join().unwrap();
            let report = std::mem::replace(&mut *lock(&slot.report), Report::Taken);
            assert!(matches!(report, Report::Ready(1) | Report::Ended));
        });
    }
}
