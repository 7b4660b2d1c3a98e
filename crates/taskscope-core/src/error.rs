//! Error values: [`ErrorGroup`], [`ScopeError`], [`JoinError`].

use std::any::Any;
use std::error::Error;
use std::fmt;

use crate::token::{CancelReason, Name};

/// A type-erased error: the usual error type for scopes whose children fail in different
/// ways (like Python, where any exception can join a group).
///
/// Any `std::error::Error + Send + Sync + 'static` converts into it with `?`; get the concrete
/// error back with [`downcast_ref`](BoxError::downcast_ref) / [`downcast`](BoxError::downcast),
/// or split a whole group by type with [`ErrorGroup::split_type`].
///
/// It is a newtype rather than `Box<dyn Error>` for two reasons: `Box<dyn Error>` does not
/// implement `Error` (so groups of it could not nest), and a type without a lifetime inside
/// lets async closures that open nested scopes inside spawned children compile (rustc cannot
/// prove `Send` for them when the error type holds `dyn Error + 'static`). Like
/// `anyhow::Error`, it does not implement `Error` itself (that would conflict with the
/// blanket `From`); it derefs to `dyn Error`.
///
/// ```
/// use taskscope_core::BoxError;
///
/// fn parse(s: &str) -> Result<u32, BoxError> {
///     Ok(s.parse::<u32>()?)
/// }
/// let e = parse("x").unwrap_err();
/// assert!(e.is::<std::num::ParseIntError>());
/// assert_eq!(BoxError::msg("plain text").to_string(), "plain text");
/// ```
pub struct BoxError(Box<dyn Error + Send + Sync + 'static>);

impl BoxError {
    /// Wraps an error.
    pub fn new(error: impl Error + Send + Sync + 'static) -> Self {
        Self(Box::new(error))
    }

    /// An error that is just a message.
    pub fn msg(message: impl fmt::Display + fmt::Debug + Send + Sync + 'static) -> Self {
        struct Msg<M>(M);
        impl<M: fmt::Debug> fmt::Debug for Msg<M> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
        impl<M: fmt::Display> fmt::Display for Msg<M> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
        impl<M: fmt::Display + fmt::Debug> Error for Msg<M> {}
        Self(Box::new(Msg(message)))
    }

    /// Whether the error is a `T`.
    pub fn is<T: Error + 'static>(&self) -> bool {
        self.0.is::<T>()
    }

    /// The error as a `T`, if it is one.
    pub fn downcast_ref<T: Error + 'static>(&self) -> Option<&T> {
        self.0.downcast_ref::<T>()
    }

    /// The error as a `T`, or itself back if it is not one.
    pub fn downcast<T: Error + 'static>(self) -> Result<T, Self> {
        self.0.downcast::<T>().map(|b| *b).map_err(Self)
    }

    /// The boxed error.
    pub fn into_inner(self) -> Box<dyn Error + Send + Sync + 'static> {
        self.0
    }
}

impl<E: Error + Send + Sync + 'static> From<E> for BoxError {
    fn from(error: E) -> Self {
        Self(Box::new(error))
    }
}

impl From<BoxError> for Box<dyn Error + Send + Sync + 'static> {
    fn from(e: BoxError) -> Self {
        e.0
    }
}

impl std::ops::Deref for BoxError {
    type Target = dyn Error + Send + Sync + 'static;
    fn deref(&self) -> &Self::Target {
        &*self.0
    }
}

impl AsRef<dyn Error + Send + Sync + 'static> for BoxError {
    fn as_ref(&self) -> &(dyn Error + Send + Sync + 'static) {
        &*self.0
    }
}

impl fmt::Debug for BoxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for BoxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// One member of an [`ErrorGroup`]: an error and the name of the child that returned it.
#[derive(Debug)]
pub struct ChildError<E> {
    name: Option<Name>,
    error: E,
}

impl<E> ChildError<E> {
    /// Pairs an error with the name of the child that returned it.
    pub fn new(name: Option<Name>, error: E) -> Self {
        Self { name, error }
    }
    /// The child's name, if it had one (`None` also for the scope's body).
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }
    /// The error.
    pub fn error(&self) -> &E {
        &self.error
    }
    /// The error, by value.
    pub fn into_error(self) -> E {
        self.error
    }
    fn map<U>(self, f: impl FnOnce(E) -> U) -> ChildError<U> {
        ChildError { name: self.name, error: f(self.error) }
    }
}

impl<E: fmt::Display> fmt::Display for ChildError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.name {
            Some(n) => write!(f, "[{n}] {}", self.error),
            None => write!(f, "{}", self.error),
        }
    }
}

/// Every error a failed scope collected, in completion order: never empty, the first is the
/// cause (F2). It works like Python's `except*` (F6): iterate it, or [`split`](ErrorGroup::split)
/// it into the part you handle and the rest you propagate.
///
/// ```
/// use taskscope_core::{ChildError, ErrorGroup};
///
/// let group = ErrorGroup::new(vec![
///     ChildError::new(Some("a".into()), "timeout"),
///     ChildError::new(Some("b".into()), "refused"),
/// ])
/// .unwrap();
/// assert_eq!(*group.cause(), "timeout");
/// let (timeouts, rest) = group.split(|e| *e == "timeout");
/// assert_eq!(timeouts.unwrap().len(), 1);
/// assert_eq!(rest.unwrap().iter().collect::<Vec<_>>(), [&"refused"]);
/// ```
#[derive(Debug)]
pub struct ErrorGroup<E> {
    members: Vec<ChildError<E>>,
}

impl<E> ErrorGroup<E> {
    /// A group of the given members, or `None` if there are none (a group is never empty).
    pub fn new(members: Vec<ChildError<E>>) -> Option<Self> {
        if members.is_empty() { None } else { Some(Self { members }) }
    }

    /// The number of errors (at least one).
    #[allow(clippy::len_without_is_empty)] // never empty
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// The first error: the one that caused the scope to cancel.
    pub fn cause(&self) -> &E {
        &self.members[0].error
    }

    /// The errors, in completion order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &E> + '_ {
        self.members.iter().map(|m| &m.error)
    }

    /// The members (error and child name), in completion order.
    pub fn members(&self) -> &[ChildError<E>] {
        &self.members
    }

    /// The members, by value.
    pub fn into_members(self) -> Vec<ChildError<E>> {
        self.members
    }

    /// Splits into (matched, rest) by a predicate, keeping order and names; a part is `None`
    /// when empty. Like `except*`: handle one part, propagate the other.
    ///
    /// ```
    /// use taskscope::{ChildError, ErrorGroup};
    ///
    /// #[derive(Debug, PartialEq)]
    /// enum FetchError {
    ///     Timeout,
    ///     NotFound(&'static str),
    /// }
    ///
    /// let group = ErrorGroup::new(vec![
    ///     ChildError::new(Some("a".into()), FetchError::Timeout),
    ///     ChildError::new(Some("b".into()), FetchError::NotFound("/b")),
    /// ])
    /// .expect("not empty");
    /// let (timeouts, rest) = group.split(|e| *e == FetchError::Timeout);
    /// assert_eq!(timeouts.expect("one timeout").members()[0].name(), Some("a"));
    /// assert_eq!(rest.expect("one other").cause(), &FetchError::NotFound("/b"));
    /// ```
    pub fn split(self, mut pred: impl FnMut(&E) -> bool) -> (Option<Self>, Option<Self>) {
        let (yes, no): (Vec<_>, Vec<_>) = self.members.into_iter().partition(|m| pred(&m.error));
        (Self::new(yes), Self::new(no))
    }

    /// Applies `f` to every error, keeping names and order.
    pub fn map<U>(self, mut f: impl FnMut(E) -> U) -> ErrorGroup<U> {
        ErrorGroup { members: self.members.into_iter().map(|m| m.map(&mut f)).collect() }
    }
}

impl<E> IntoIterator for ErrorGroup<E> {
    type Item = E;
    type IntoIter = std::iter::Map<std::vec::IntoIter<ChildError<E>>, fn(ChildError<E>) -> E>;
    fn into_iter(self) -> Self::IntoIter {
        self.members.into_iter().map(ChildError::into_error)
    }
}

impl<'a, E> IntoIterator for &'a ErrorGroup<E> {
    type Item = &'a E;
    type IntoIter = std::iter::Map<std::slice::Iter<'a, ChildError<E>>, fn(&'a ChildError<E>) -> &'a E>;
    fn into_iter(self) -> Self::IntoIter {
        self.members.iter().map(ChildError::error)
    }
}

impl ErrorGroup<BoxError> {
    /// Splits boxed errors by type, like `except* T`: (the members that are a `T`, downcast;
    /// the rest). Members that are themselves groups from nested scopes
    /// ([`ErrorGroup<BoxError>`] or a failed [`ScopeError<BoxError>`]) are split recursively,
    /// so their matching leaves are found and their other leaves stay nested in the rest.
    ///
    /// ```
    /// use taskscope_core::{BoxError, ChildError, ErrorGroup};
    ///
    /// #[derive(Debug)]
    /// struct Timeout;
    /// impl std::fmt::Display for Timeout {
    ///     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
    ///         f.write_str("timeout")
    ///     }
    /// }
    /// impl std::error::Error for Timeout {}
    ///
    /// let group = ErrorGroup::new(vec![
    ///     ChildError::new(None, BoxError::new(Timeout)),
    ///     ChildError::new(None, BoxError::msg("disk full")),
    /// ])
    /// .unwrap();
    /// let (timeouts, rest) = group.split_type::<Timeout>();
    /// assert_eq!(timeouts.unwrap().len(), 1);
    /// assert_eq!(rest.unwrap().cause().to_string(), "disk full");
    /// ```
    pub fn split_type<T: Error + Send + Sync + 'static>(self) -> (Option<ErrorGroup<T>>, Option<ErrorGroup<BoxError>>) {
        let mut yes = Vec::new();
        let mut no = Vec::new();
        for m in self.members {
            split_member::<T>(m, &mut yes, &mut no);
        }
        (ErrorGroup::new(yes), ErrorGroup::new(no))
    }
}

fn split_member<T: Error + Send + Sync + 'static>(
    m: ChildError<BoxError>,
    yes: &mut Vec<ChildError<T>>,
    no: &mut Vec<ChildError<BoxError>>,
) {
    let ChildError { name, error } = m;
    let error = match error.downcast::<T>() {
        Ok(t) => return yes.push(ChildError { name, error: t }),
        Err(e) => e,
    };
    let inner = match error.downcast::<ErrorGroup<BoxError>>() {
        Ok(group) => group,
        Err(error) => match error.downcast::<ScopeError<BoxError>>() {
            Ok(scope_err) => match scope_err {
                ScopeError::Failed(group) => group,
                other => return no.push(ChildError { name, error: BoxError::new(other) }),
            },
            Err(error) => return no.push(ChildError { name, error }),
        },
    };
    let (matched, rest) = inner.split_type::<T>();
    if let Some(matched) = matched {
        yes.extend(matched.members);
    }
    if let Some(rest) = rest {
        no.push(ChildError { name, error: BoxError::new(rest) });
    }
}

impl<E: fmt::Display> fmt::Display for ErrorGroup<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.members.len();
        write!(f, "{n} error{} in scope", if n == 1 { "" } else { "s" })?;
        for (i, m) in self.members.iter().enumerate() {
            let text = m.to_string().replace('\n', "\n     ");
            write!(f, "\n  {}. {text}", i + 1)?;
        }
        Ok(())
    }
}

/// A group is an error for any displayable member type, [`BoxError`] included (so that
/// `ScopeError<BoxError>` converts into a `BoxError` with `?`, and groups nest). Its
/// `Display` lists every member; it has no single `source`.
impl<E: fmt::Debug + fmt::Display> Error for ErrorGroup<E> {}

/// How a scope that did not succeed ended (C5). A panic is not an error value: it resumes in
/// the owner (F5).
///
/// ```
/// # use taskscope::BlockOn;
/// # taskscope::smol::SmolBackend::single_thread().block_on(async {
/// use taskscope::{BoxError, CancelReason, ScopeError};
///
/// let outcome = taskscope::scope(async |s| {
///     s.spawn_named("db", async { Err::<(), _>(BoxError::msg("connection refused")) });
///     Ok(())
/// })
/// .await;
/// match outcome {
///     Ok(()) => println!("done"),
///     Err(ScopeError::Failed(group)) => println!("failed: {group}"),
///     Err(ScopeError::Cancelled { reason, .. }) => println!("cancelled: {reason}"),
/// }
///
/// // Cancelled from inside: not a failure, and it says why.
/// let err = taskscope::scope(async |s| {
///     s.cancel_with(CancelReason::Explicit("no longer needed".into()));
///     Ok::<_, BoxError>(())
/// })
/// .await
/// .unwrap_err();
/// assert!(err.is_cancelled() && !err.is_elapsed());
/// assert_eq!(err.reason(), Some(&CancelReason::Explicit("no longer needed".into())));
/// # });
/// ```
#[derive(Debug)]
pub enum ScopeError<E> {
    /// A child or the body returned an error; every error collected, in completion order.
    Failed(ErrorGroup<E>),
    /// The scope was cancelled: by its own [`cancel`](crate::Spawner::cancel), by its token, by an
    /// outer scope or token, or by its deadline ([`CancelReason::Deadline`]: see
    /// [`is_elapsed`](ScopeError::is_elapsed)). `errors` holds any errors children returned
    /// while being cancelled (during a grace period); when the scope's own deadline cancelled
    /// it and a child failed during the grace, the outcome is [`ScopeError::Failed`] instead
    /// (C7: "elapsed" only when no child failed).
    Cancelled {
        /// Why (the first cause).
        reason: CancelReason,
        /// Errors returned after the cancellation began, if any.
        errors: Option<ErrorGroup<E>>,
    },
}

impl<E> ScopeError<E> {
    /// `true` for [`ScopeError::Cancelled`].
    pub fn is_cancelled(&self) -> bool {
        matches!(self, ScopeError::Cancelled { .. })
    }

    /// `true` when the scope's own deadline cancelled it and no child failed: the "elapsed"
    /// outcome of a scope given a [`deadline`](crate::Builder::deadline) or
    /// [`timeout`](crate::Builder::timeout) (C7). A deadline of an outer scope gives
    /// [`CancelReason::Parent`] instead, and a manual cancel is not a timeout.
    pub fn is_elapsed(&self) -> bool {
        matches!(self, ScopeError::Cancelled { reason: CancelReason::Deadline, errors: None })
    }

    /// The group of errors, if any were collected.
    pub fn errors(&self) -> Option<&ErrorGroup<E>> {
        match self {
            ScopeError::Failed(g) => Some(g),
            ScopeError::Cancelled { errors, .. } => errors.as_ref(),
        }
    }

    /// The group of errors, by value, if any were collected.
    pub fn into_errors(self) -> Option<ErrorGroup<E>> {
        match self {
            ScopeError::Failed(g) => Some(g),
            ScopeError::Cancelled { errors, .. } => errors,
        }
    }

    /// The cancellation reason, for [`ScopeError::Cancelled`].
    pub fn reason(&self) -> Option<&CancelReason> {
        match self {
            ScopeError::Failed(_) => None,
            ScopeError::Cancelled { reason, .. } => Some(reason),
        }
    }
}

impl<E: fmt::Display> fmt::Display for ScopeError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScopeError::Failed(g) => g.fmt(f),
            ScopeError::Cancelled { reason, errors: None } => write!(f, "scope cancelled ({reason})"),
            ScopeError::Cancelled { reason, errors: Some(g) } => write!(f, "scope cancelled ({reason}), and {g}"),
        }
    }
}

/// `Display` already lists every member of the group, so `source()` is `None`: error reporters
/// that walk the chain (anyhow, eyre) print each error once. The members themselves are in
/// [`ScopeError::errors`].
impl<E: fmt::Debug + fmt::Display + 'static> Error for ScopeError<E> {}

/// Why a [`JoinHandle`](crate::JoinHandle) has no value to give.
///
/// Under the default fail-fast policy a failed child's error is not here: it belongs to the
/// scope's [`ErrorGroup`] (F3: no error is reported twice), and `error` is `None`. Under
/// [`Policy::Supervise`](crate::Policy::Supervise) the error is delivered to the child's handle
/// instead (`error` is `Some`), and to the group only if the handle was dropped first.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum JoinError<E> {
    /// The child returned an error.
    Failed {
        /// The child's name, if any.
        name: Option<Name>,
        /// The error, where it was delivered to the handle (supervised children, and a
        /// [`start`](crate::Spawner::start) that failed before reporting ready).
        error: Option<E>,
    },
    /// The child panicked (the payload resumes in the scope's owner).
    Panicked {
        /// The child's name, if any.
        name: Option<Name>,
    },
    /// The child was cancelled before it completed, or completed after its scope began
    /// cancelling (its value was dropped, F4).
    Cancelled {
        /// The child's name, if any.
        name: Option<Name>,
    },
    /// The scope was cancelling or finished when the spawn was made: the future was dropped
    /// without being polled (S4).
    Closed {
        /// The child's name, if any.
        name: Option<Name>,
    },
    /// The child is still running ([`JoinHandle::result`](crate::JoinHandle::result) only).
    Running {
        /// The child's name, if any.
        name: Option<Name>,
    },
    /// A child started with [`start`](crate::Spawner::start) ended without reporting ready.
    NotReady {
        /// The child's name, if any.
        name: Option<Name>,
    },
}

impl<E> JoinError<E> {
    /// The name of the child concerned, if it had one.
    pub fn name(&self) -> Option<&str> {
        match self {
            JoinError::Failed { name, .. }
            | JoinError::Panicked { name }
            | JoinError::Cancelled { name }
            | JoinError::Closed { name }
            | JoinError::Running { name }
            | JoinError::NotReady { name } => name.as_deref(),
        }
    }

    /// The child's error, where it was delivered to the handle (see [`JoinError::Failed`]).
    pub fn into_error(self) -> Option<E> {
        match self {
            JoinError::Failed { error, .. } => error,
            _ => None,
        }
    }

    /// `true` for [`JoinError::Cancelled`].
    pub fn is_cancelled(&self) -> bool {
        matches!(self, JoinError::Cancelled { .. })
    }
}

impl<E> JoinError<E> {
    /// What happened to the child, for messages.
    fn what(&self) -> &'static str {
        match self {
            JoinError::Failed { error: Some(_), .. } => "failed",
            JoinError::Failed { error: None, .. } => "failed (its error is in the scope's error group)",
            JoinError::Panicked { .. } => "panicked",
            JoinError::Cancelled { .. } => "was cancelled",
            JoinError::Closed { .. } => "was not started: the scope was already cancelling or finished",
            JoinError::Running { .. } => "is still running",
            JoinError::NotReady { .. } => "ended without reporting ready",
        }
    }

    fn describe(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => write!(f, "child '{n}' {}", self.what()),
            None => write!(f, "child {}", self.what()),
        }
    }

    /// The child's end as a value of the scope's own error type `E`, for `?` (see
    /// [`JoinHandle::join`](crate::JoinHandle::join)): the child's own error where it was
    /// delivered to the handle; otherwise the cancellation the child's end stands for, a bare
    /// [`ScopeError::Cancelled`] converted with the `From<ScopeError<E>>` that `?` uses on a
    /// nested scope's result: [`CancelReason::SiblingFailed`] for a failed child whose error
    /// is in the group, [`CancelReason::SiblingPanicked`] for a panicked one, an explicit
    /// reason that says what happened otherwise.
    pub(crate) fn into_scope_type(self) -> E
    where
        E: From<ScopeError<E>>,
    {
        let reason = match self {
            JoinError::Failed { error: Some(error), .. } => return error,
            JoinError::Failed { name, error: None } => CancelReason::SiblingFailed { name },
            JoinError::Panicked { name } => CancelReason::SiblingPanicked { name },
            other => {
                struct Describe<'a, E>(&'a JoinError<E>);
                impl<E> fmt::Display for Describe<'_, E> {
                    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        self.0.describe(f)
                    }
                }
                CancelReason::Explicit(Name::Owned(Describe(&other).to_string()))
            }
        };
        E::from(ScopeError::Cancelled { reason, errors: None })
    }
}

impl<E: fmt::Display> fmt::Display for JoinError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.describe(f)?;
        if let JoinError::Failed { error: Some(e), .. } = self {
            write!(f, ": {e}")?;
        }
        Ok(())
    }
}

impl<E: fmt::Debug + fmt::Display> Error for JoinError<E> {}

/// A readable message from a panic payload (`&str` or `String` payloads; otherwise a placeholder).
///
/// ```
/// let p = std::panic::catch_unwind(|| panic!("boom {}", 1)).unwrap_err();
/// assert_eq!(taskscope_core::panic_message(&*p), "boom 1");
/// ```
pub fn panic_message(payload: &(dyn Any + Send)) -> &str {
    payload
        .downcast_ref::<&'static str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("<non-string panic payload>")
}

/// The deadline of [`fail_after`](crate::fail_after) / [`fail_at`](crate::fail_at) expired before the future completed.
///
/// It is an ordinary error: a child whose own timeout expires returns it, and the scope
/// collects it like any other error (C7).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Elapsed(pub(crate) ());

impl fmt::Display for Elapsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("deadline elapsed")
    }
}

impl std::error::Error for Elapsed {}

/// A concurrency limit of zero was asked for (L1): no child could ever run.
///
/// ```
/// let err = taskscope_core::Builder::new().limit(0).unwrap_err();
/// assert!(err.to_string().contains("at least 1"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ZeroLimit;

impl fmt::Display for ZeroLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a concurrency limit of 0 would never run a child: use a limit of at least 1")
    }
}

impl std::error::Error for ZeroLimit {}

/// Why [`Spawner::try_spawn`](crate::Spawner::try_spawn) did not spawn; gives the future back.
pub enum TrySpawnError<F> {
    /// Every running slot of the scope's concurrency limit is taken (L1).
    Full(F),
    /// The scope is cancelling or finished (S4).
    Closed(F),
}

impl<F> TrySpawnError<F> {
    /// The future that was not spawned.
    pub fn into_inner(self) -> F {
        match self {
            TrySpawnError::Full(f) | TrySpawnError::Closed(f) => f,
        }
    }
}

impl<F> fmt::Debug for TrySpawnError<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrySpawnError::Full(_) => f.write_str("Full(..)"),
            TrySpawnError::Closed(_) => f.write_str("Closed(..)"),
        }
    }
}

impl<F> fmt::Display for TrySpawnError<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrySpawnError::Full(_) => f.write_str("the scope is full: every slot of its concurrency limit is taken"),
            TrySpawnError::Closed(_) => f.write_str("the scope is cancelling or finished: no more spawns"),
        }
    }
}

impl<F> std::error::Error for TrySpawnError<F> {}

#[cfg(all(test, not(taskscope_loom)))]
mod tests {
    use super::{BoxError, ChildError, ErrorGroup, JoinError, ScopeError};
    use crate::CancelReason;

    #[test]
    fn a_box_error_says_which_type_it_holds() {
        let e = BoxError::new(std::io::Error::other("disk"));
        assert!(e.is::<std::io::Error>());
        assert!(!e.is::<std::fmt::Error>());
    }

    #[test]
    fn only_a_cancelled_scope_error_says_cancelled() {
        let group = ErrorGroup::new(vec![ChildError::new(None, BoxError::msg("boom"))]).unwrap();
        assert!(!ScopeError::Failed(group).is_cancelled());
        let cancelled = ScopeError::<BoxError>::Cancelled { reason: CancelReason::Deadline, errors: None };
        assert!(cancelled.is_cancelled());
    }

    #[test]
    fn only_a_cancelled_join_error_says_cancelled() {
        assert!(!JoinError::<BoxError>::Failed { name: None, error: None }.is_cancelled());
        assert!(!JoinError::<BoxError>::Panicked { name: None }.is_cancelled());
        assert!(JoinError::<BoxError>::Cancelled { name: None }.is_cancelled());
    }
}
