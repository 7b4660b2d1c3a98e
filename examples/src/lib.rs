//! Runnable scenarios of structured concurrency with taskscope, each on every backend.
//!
//! Each scenario is an example program (`examples/<name>.rs`) with one `async fn run` that
//! tells its story through a [`Log`] (`tracing_tree`: through `tracing` spans, kept by its own
//! subscriber) and returns what happened; its `main` runs it on the backend picked with `--backend tokio-mt|tokio-ct|smol-mt|smol-st`. This library compiles the
//! same files as modules, so that `tests/examples_run.rs` runs every scenario on all four
//! backends.
//!
//! ```text
//! cargo run -p taskscope-examples --example sensors -- --backend smol-st
//! ```
//!
//! The scenarios wait with `taskscope::sleep`, which runs on whatever runtime the scope runs
//! on; the helpers here stand in for the rest of what Python gets from `asyncio` itself:
//! [`on_cancel`] (`except CancelledError: cleanup; raise`) and [`Backend::run`]
//! (`asyncio.run`).

use std::fmt;
use std::future::Future;
use std::io::Write;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use taskscope::BlockOn;
use taskscope::smol::SmolBackend;
use taskscope::tokio::TokioBackend;

// The scenarios live in the example programs, so that each reads on its own; the library
// compiles them too (their `main` unused), for the tests.
extern crate self as taskscope_examples;

#[path = "../examples/bounded.rs"]
#[allow(dead_code)]
pub mod bounded;
#[path = "../examples/checkout.rs"]
#[allow(dead_code)]
pub mod checkout;
#[path = "../examples/except_star.rs"]
#[allow(dead_code)]
pub mod except_star;
#[path = "../examples/fanout.rs"]
#[allow(dead_code)]
pub mod fanout;
#[path = "../examples/nested_deadline.rs"]
#[allow(dead_code)]
pub mod nested_deadline;
#[path = "../examples/race.rs"]
#[allow(dead_code)]
pub mod race;
#[path = "../examples/sensors.rs"]
#[allow(dead_code)]
pub mod sensors;
#[path = "../examples/service.rs"]
#[allow(dead_code)]
pub mod service;
#[path = "../examples/tracing_tree.rs"]
#[allow(dead_code)]
pub mod tracing_tree;

/// The runtime flavour an example runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Backend {
    /// tokio, multi-thread scheduler (2 workers).
    TokioMt,
    /// tokio, current-thread scheduler.
    TokioCt,
    /// smol's async-executor, run by 2 threads.
    SmolMt,
    /// smol's async-executor, run only by the thread that blocks on the example.
    SmolSt,
}

impl Backend {
    /// Every backend, in the order the tests run them.
    pub const ALL: [Backend; 4] = [Backend::TokioMt, Backend::TokioCt, Backend::SmolMt, Backend::SmolSt];

    /// The name used on the command line (`tokio-mt`, `tokio-ct`, `smol-mt`, `smol-st`).
    pub fn name(self) -> &'static str {
        match self {
            Backend::TokioMt => "tokio-mt",
            Backend::TokioCt => "tokio-ct",
            Backend::SmolMt => "smol-mt",
            Backend::SmolSt => "smol-st",
        }
    }

    /// Parses a backend name, as printed by [`name`](Backend::name).
    pub fn parse(name: &str) -> Option<Backend> {
        Backend::ALL.into_iter().find(|b| b.name() == name)
    }

    /// The backend given on the command line with `--backend NAME` (or `--backend=NAME`);
    /// `tokio-mt` when there is none. Prints the usage and exits on anything else.
    pub fn from_args() -> Backend {
        let args: Vec<String> = std::env::args().skip(1).collect();
        let name = match args.as_slice() {
            [] => return Backend::TokioMt,
            [flag, name] if flag == "--backend" => name.as_str(),
            [flag] if flag.starts_with("--backend=") => &flag["--backend=".len()..],
            _ => "",
        };
        Backend::parse(name).unwrap_or_else(|| {
            let names: Vec<_> = Backend::ALL.iter().map(|b| b.name()).collect();
            eprintln!("usage: [--backend {}] (default tokio-mt)", names.join("|"));
            std::process::exit(2)
        })
    }

    /// Builds the runtime and runs `main` on it to completion, like Python's `asyncio.run`.
    ///
    /// Nothing else is needed: every `taskscope::scope` and `taskscope::sleep` inside `main`
    /// detects the runtime it runs on (the tokio runtime, or the smol backend's own
    /// executor).
    pub fn run<F: Future>(self, main: F) -> F::Output {
        match self {
            Backend::TokioMt => TokioBackend::multi_thread(2).block_on(main),
            Backend::TokioCt => TokioBackend::current_thread().block_on(main),
            Backend::SmolMt => SmolBackend::multi_thread(2).block_on(main),
            Backend::SmolSt => SmolBackend::single_thread().block_on(main),
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Runs `cleanup` if dropped before [`disarm`](OnCancel::disarm): put one in a child before
/// its awaits, disarm it once the work is done. A cancelled child is dropped at its next
/// await, which runs the cleanup — Python's `except CancelledError: cleanup(); raise`.
///
/// ```
/// # use taskscope_examples::on_cancel;
/// let cleanup = on_cancel(|| println!("Cleanup initiated"));
/// drop(cleanup); // cancelled: prints
/// on_cancel(|| println!("never printed")).disarm(); // finished: nothing to clean up
/// ```
pub fn on_cancel<F: FnOnce()>(cleanup: F) -> OnCancel<F> {
    OnCancel { cleanup: Some(cleanup) }
}

/// The guard returned by [`on_cancel`].
#[must_use = "dropping the guard at once runs the cleanup"]
pub struct OnCancel<F: FnOnce()> {
    cleanup: Option<F>,
}

impl<F: FnOnce()> OnCancel<F> {
    /// The work completed: forget the cleanup.
    pub fn disarm(mut self) {
        self.cleanup = None;
    }
}

impl<F: FnOnce()> Drop for OnCancel<F> {
    fn drop(&mut self) {
        if let Some(cleanup) = self.cleanup.take() {
            cleanup();
        }
    }
}

impl<F: FnOnce()> fmt::Debug for OnCancel<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OnCancel").field("armed", &self.cleanup.is_some()).finish()
    }
}

/// The story an example tells: each line is printed (unless quiet) with the time since the
/// log was created, rounded to 0.1 s, and kept for the tests. Clone it into children.
#[derive(Clone, Debug)]
pub struct Log {
    inner: Arc<LogInner>,
}

#[derive(Debug)]
struct LogInner {
    start: Instant,
    echo: bool,
    lines: Mutex<Vec<(Duration, String)>>,
}

impl Log {
    /// A log that prints every line as it is said.
    pub fn new() -> Log {
        Log::with_echo(true)
    }

    /// A log that only records (for tests).
    pub fn quiet() -> Log {
        Log::with_echo(false)
    }

    fn with_echo(echo: bool) -> Log {
        Log { inner: Arc::new(LogInner { start: Instant::now(), echo, lines: Mutex::new(Vec::new()) }) }
    }

    /// Records (and prints) one line, stamped with the time since the log was created.
    pub fn say(&self, line: impl Into<String>) {
        let line = line.into();
        let at = self.inner.start.elapsed();
        let mut lines = self.inner.lines.lock().unwrap_or_else(PoisonError::into_inner);
        if self.inner.echo {
            // Ignore write errors: `| head` must not make a child panic.
            let _ = writeln!(std::io::stdout().lock(), "[{:.1}s] {line}", at.as_secs_f64());
        }
        lines.push((at, line));
    }

    /// The lines said so far, in order.
    pub fn lines(&self) -> Vec<String> {
        self.entries().into_iter().map(|(_, line)| line).collect()
    }

    /// The lines said so far, in order, with the time each was said.
    pub fn entries(&self) -> Vec<(Duration, String)> {
        self.inner.lines.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }
}

impl Default for Log {
    fn default() -> Self {
        Log::new()
    }
}
