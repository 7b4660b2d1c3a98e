//! Finding the runtime (P2): the explicit one, else the enclosing scope's, else what a
//! [`DetectRuntime`] function finds; else a [`NoRuntime`] error that says what to do and
//! names the caller's line.
//!
//! Every entry point that needs a runtime — [`Builder`](crate::Builder) when a scope starts,
//! the deadline functions, the time functions ([`sleep`](crate::sleep), ...) — resolves it
//! through [`resolve_runtime`], so they all find the same one.

use std::fmt;
use std::panic::Location;
use std::sync::Arc;

use crate::runtime::Runtime;
use crate::scope::current_runtime;

/// A function that finds a runtime where no scope encloses the code (see
/// [`Builder::fallback_runtime`](crate::Builder::fallback_runtime)): the `taskscope` facade's
/// detects tokio or smol. On failure it explains, in a [`NoRuntime`], what to do.
pub type DetectRuntime = fn() -> Result<Arc<dyn Runtime>, NoRuntime>;

/// No runtime was found for a scope, a deadline or a timer: the code is not inside a scope, no
/// runtime was given, and none was detected. Its message says what to do and, where known, the
/// line of the call that needed the runtime.
///
/// ```
/// let err = taskscope_core::NoRuntime::new("Enable the `tokio` feature.");
/// let err = err.at(std::panic::Location::caller());
/// assert!(err.to_string().starts_with("taskscope: no async runtime for the call at "));
/// assert!(err.to_string().ends_with("Enable the `tokio` feature."));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NoRuntime {
    help: &'static str,
    caller: Option<&'static Location<'static>>,
}

/// What to do, when core alone (no detector) finds no runtime.
const CORE_HELP: &str = "Give the scope a runtime with `Builder::runtime`, or depend on the `taskscope` facade, \
                         which detects tokio or smol (an application enables its `tokio` or `smol` feature in \
                         its own Cargo.toml)";

impl NoRuntime {
    /// An error whose message ends with `help`, the advice of whoever looked for a runtime
    /// (a [`DetectRuntime`] function explains what it looked for and what to add).
    pub const fn new(help: &'static str) -> Self {
        Self { help, caller: None }
    }

    /// The same error, naming `caller` as the line that needed a runtime.
    pub fn at(self, caller: &'static Location<'static>) -> Self {
        Self { caller: Some(caller), ..self }
    }

    /// The line that needed a runtime, if known.
    pub fn caller(&self) -> Option<&'static Location<'static>> {
        self.caller
    }

    /// The advice part of the message.
    pub fn help(&self) -> &'static str {
        self.help
    }
}

impl Default for NoRuntime {
    /// Core's own advice (no detector was consulted).
    fn default() -> Self {
        Self::new(CORE_HELP)
    }
}

impl fmt::Display for NoRuntime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("taskscope: no async runtime for ")?;
        match self.caller {
            Some(at) => write!(f, "the call at {at}")?,
            None => f.write_str("this call")?,
        }
        write!(f, " (it is not inside a scope and no runtime was given). {}", self.help)
    }
}

impl std::error::Error for NoRuntime {}

/// The one resolution path: `explicit`, else the enclosing scope's runtime, else `detect`'s,
/// else [`NoRuntime`] (core's advice when there is no detector), naming `caller`.
pub(crate) fn resolve_runtime(
    explicit: Option<Arc<dyn Runtime>>,
    detect: Option<DetectRuntime>,
    caller: Option<&'static Location<'static>>,
) -> Result<Arc<dyn Runtime>, NoRuntime> {
    let found = match explicit.or_else(current_runtime) {
        Some(rt) => Ok(rt),
        None => detect.map_or_else(|| Err(NoRuntime::default()), |d| d()),
    };
    found.map_err(|e| match (e.caller, caller) {
        (None, Some(at)) => e.at(at),
        _ => e,
    })
}

#[cfg(all(test, not(taskscope_loom)))]
mod tests {
    use std::time::Duration;

    use crate::NoRuntime;

    #[test]
    fn no_runtime_keeps_its_advice_and_the_line_that_needed_a_runtime() {
        let plain = NoRuntime::new("enable the `tokio` feature");
        assert_eq!(plain.help(), "enable the `tokio` feature");
        assert_eq!(plain.caller(), None);
        let here = std::panic::Location::caller();
        let at = plain.at(here);
        assert_eq!(at.caller(), Some(here));
        assert_eq!(at.help(), "enable the `tokio` feature");
    }

    #[test]
    fn a_builder_outside_a_scope_names_the_line_that_created_it() {
        let line = line!() + 1;
        let scope = crate::Builder::new().run(async |_| Ok::<_, crate::BoxError>(()));
        let p = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| futures_lite::future::block_on(scope)))
            .unwrap_err();
        let msg = crate::panic_message(&*p).to_string();
        assert!(msg.contains(&format!("{}:{line}:", file!())), "{msg}");
    }

    #[test]
    fn a_deadline_outside_a_scope_names_the_callers_line() {
        let line = line!() + 1;
        let f = crate::fail_after(Duration::from_millis(1), async {});
        let p =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| futures_lite::future::block_on(f))).unwrap_err();
        let msg = crate::panic_message(&*p).to_string();
        assert!(msg.contains(&format!("{}:{line}:", file!())), "{msg}");
    }
}
