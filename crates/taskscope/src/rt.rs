//! [`Rt`]: the facade's runtime, which spawns each child straight into the task of the runtime
//! it runs on (tokio's or smol's, one allocation per child), or through the object-safe
//! [`Runtime`] contract for any other runtime.
//!
//! The facade's [`Scope`], [`Spawner`] and [`ChildBuilder`] are core's with `Rt` as their
//! runtime parameter, so a body written `async |s| ...` takes `s: &taskscope::Scope<E>` and
//! never names a runtime.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::task::{Context, Poll};

use taskscope_core::{DynJoin, RawJoin, Runtime, Spawn};

/// A scope whose children spawn through [`Rt`]: what the facade's [`scope`](crate::scope),
/// [`builder`](crate::builder) and [`Builder`](crate::Builder) open. See
/// [`taskscope_core::Scope`] for its methods.
pub type Scope<E> = taskscope_core::Scope<E, Rt>;

/// A `'static` handle that spawns into a facade [`Scope`]; see [`taskscope_core::Spawner`].
pub type Spawner<E> = taskscope_core::Spawner<E, Rt>;

/// The options of one child of a facade [`Scope`]; see [`taskscope_core::ChildBuilder`].
pub type ChildBuilder<'a, E> = taskscope_core::ChildBuilder<'a, E, Rt>;

/// The runtime a facade scope spawns on: the scope's [`Runtime`], and, when it is tokio's or
/// smol's, that adapter's own handle, which spawns a child into the runtime's own task.
///
/// Made once per scope, from the scope's runtime ([`Spawn::from_runtime`]); it never fails:
/// any other runtime spawns through [`Runtime::spawn`].
///
/// ```
/// # #[cfg(feature = "smol")] {
/// use taskscope::smol::SmolBackend;
/// use taskscope::{BlockOn, Rt, Spawn};
///
/// let backend = SmolBackend::single_thread();
/// let rt = Rt::from_runtime(&backend.runtime()).unwrap();
/// assert_eq!(rt.kind(), "smol");
/// # }
/// ```
#[derive(Clone)]
pub struct Rt {
    rt: Arc<dyn Runtime>,
    kind: Kind,
}

#[derive(Clone)]
enum Kind {
    #[cfg(feature = "tokio")]
    Tokio(taskscope_tokio::TokioRuntime),
    #[cfg(feature = "smol")]
    Smol(taskscope_smol::SmolRuntime),
    Dyn,
}

impl fmt::Debug for Rt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rt").field("runtime", &self.rt.name()).field("spawns", &self.kind()).finish()
    }
}

impl Rt {
    /// How children are spawned: `"tokio"` or `"smol"` (into the runtime's own task), or
    /// `"dyn"` (through [`Runtime::spawn`]).
    pub fn kind(&self) -> &'static str {
        match self.kind {
            #[cfg(feature = "tokio")]
            Kind::Tokio(_) => "tokio",
            #[cfg(feature = "smol")]
            Kind::Smol(_) => "smol",
            Kind::Dyn => "dyn",
        }
    }
}

/// The join handle of a child spawned through [`Rt`].
pub struct RtJoin<O> {
    join: Join<O>,
}

enum Join<O> {
    #[cfg(feature = "tokio")]
    Tokio(taskscope_tokio::TokioJoin<O>),
    #[cfg(feature = "smol")]
    Smol(taskscope_smol::SmolJoin<O>),
    // Boxed to keep `RtJoin` two words: the dyn path allocates anyway.
    Dyn(Box<DynJoin<O>>),
}

impl<O> fmt::Debug for RtJoin<O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RtJoin").finish_non_exhaustive()
    }
}

impl<O: Send + 'static> RawJoin<O> for RtJoin<O> {
    fn poll_join(&mut self, cx: &mut Context<'_>) -> Poll<Option<O>> {
        match &mut self.join {
            #[cfg(feature = "tokio")]
            Join::Tokio(j) => j.poll_join(cx),
            #[cfg(feature = "smol")]
            Join::Smol(j) => j.poll_join(cx),
            Join::Dyn(j) => j.poll_join(cx),
        }
    }

    fn is_finished(&self) -> bool {
        match &self.join {
            #[cfg(feature = "tokio")]
            Join::Tokio(j) => j.is_finished(),
            #[cfg(feature = "smol")]
            Join::Smol(j) => j.is_finished(),
            Join::Dyn(j) => j.is_finished(),
        }
    }
}

impl Spawn for Rt {
    type Join<O: Send + 'static> = RtJoin<O>;

    fn spawn_child<F>(&self, fut: F) -> RtJoin<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let join = match &self.kind {
            #[cfg(feature = "tokio")]
            Kind::Tokio(rt) => Join::Tokio(rt.spawn_child(fut)),
            #[cfg(feature = "smol")]
            Kind::Smol(rt) => Join::Smol(rt.spawn_child(fut)),
            Kind::Dyn => Join::Dyn(Box::new(self.rt.spawn_child(fut))),
        };
        RtJoin { join }
    }

    fn runtime(&self) -> Arc<dyn Runtime> {
        self.rt.clone()
    }

    fn from_runtime(rt: &Arc<dyn Runtime>) -> Option<Self> {
        #[cfg(feature = "tokio")]
        if let Some(tokio) = taskscope_tokio::TokioRuntime::from_runtime(rt) {
            return Some(Self { rt: rt.clone(), kind: Kind::Tokio(tokio) });
        }
        #[cfg(feature = "smol")]
        if let Some(smol) = taskscope_smol::SmolRuntime::from_runtime(rt) {
            return Some(Self { rt: rt.clone(), kind: Kind::Smol(smol) });
        }
        Some(Self { rt: rt.clone(), kind: Kind::Dyn })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_join_fits_the_handles_inline_buffer() {
        assert!(size_of::<RtJoin<u64>>() <= 2 * size_of::<usize>());
    }
}
