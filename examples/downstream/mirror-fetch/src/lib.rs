//! mirror-fetch: fetch files from mirrors concurrently — a library written once against
//! `taskscope`, with no runtime feature and no runtime-specific code. The application that
//! uses it picks tokio or smol (or both) with a feature of its own `taskscope` dependency;
//! every scope, deadline and sleep here runs on whatever runtime that application runs.
//!
//! It shows, end to end:
//! - [`fetch_all`]: fan-out with a concurrency limit (L1), an overall deadline (C7), and the
//!   first failure cancelling the rest (F1), the pages in the order asked for with the
//!   library's own error type (`taskscope::builder().all(..)`);
//! - [`fetch_fastest`]: the first mirror to answer wins, the others are cancelled (L3);
//! - [`fetch_each`]: collect every outcome (L2) and split the typed errors by kind (F6);
//! - portable time: the simulated network waits with `taskscope::sleep` (P4).
//!
//! [`story`] runs all of it and tells what happened; the three applications in
//! `examples/downstream/app-*` print it, each on its own runtime, and CI checks that they
//! print the same story. The tests (`tests/every_backend.rs`) run on every backend through
//! `taskscope::test_on_every_backend!`.
#![forbid(unsafe_code)]

use std::fmt;
use std::future::Future;
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use taskscope::{ErrorGroup, Policy, ScopeError};

/// Why a fetch failed: the library's own error type (no `BoxError` needed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchError {
    /// The mirror has no such file.
    NotFound {
        /// The path asked for.
        path: String,
    },
    /// The mirror refused the connection.
    Refused {
        /// The mirror's name.
        mirror: &'static str,
    },
}

impl fmt::Display for FetchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FetchError::NotFound { path } => write!(f, "not found: {path}"),
            FetchError::Refused { mirror } => write!(f, "{mirror} refused the connection"),
        }
    }
}

impl std::error::Error for FetchError {}

/// A fetched file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    /// The mirror that served it.
    pub mirror: &'static str,
    /// Its path.
    pub path: String,
}

/// A simulated mirror, the stand-in for the network: it answers after its latency (a
/// `taskscope::sleep`), says "not found" for paths starting with `missing`, or refuses every
/// connection. It counts its fetches, so the story can show that none outlives its scope.
#[derive(Debug, Clone)]
pub struct Mirror {
    name: &'static str,
    latency: Duration,
    refuses: bool,
    stats: Arc<Stats>,
}

#[derive(Debug, Default)]
struct Stats {
    in_flight: AtomicUsize,
    running: AtomicUsize,
    peak: AtomicUsize,
    cancelled: AtomicUsize,
}

/// One fetch, from the moment it is asked for: a fetch dropped before it answered (running or
/// not yet started) was cancelled.
struct Request {
    stats: Arc<Stats>,
    answered: bool,
}

impl Request {
    fn new(stats: Arc<Stats>) -> Self {
        stats.in_flight.fetch_add(1, Ordering::SeqCst);
        Self { stats, answered: false }
    }

    fn answered(&mut self) {
        self.answered = true;
    }
}

impl Drop for Request {
    fn drop(&mut self) {
        self.stats.in_flight.fetch_sub(1, Ordering::SeqCst);
        if !self.answered {
            self.stats.cancelled.fetch_add(1, Ordering::SeqCst);
        }
    }
}

/// A fetch that is running (polled at least once, not yet answered or dropped).
struct Running<'a>(&'a Stats);

impl<'a> Running<'a> {
    fn new(stats: &'a Stats) -> Self {
        let now = stats.running.fetch_add(1, Ordering::SeqCst) + 1;
        stats.peak.fetch_max(now, Ordering::SeqCst);
        Self(stats)
    }
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.running.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Mirror {
    /// A mirror that serves every file after `latency` (and "not found" for `missing*`
    /// paths, after a millisecond).
    pub fn new(name: &'static str, latency: Duration) -> Self {
        Self { name, latency, refuses: false, stats: Arc::default() }
    }

    /// A mirror that refuses every connection, after a millisecond.
    pub fn refusing(name: &'static str) -> Self {
        Self { refuses: true, ..Self::new(name, Duration::ZERO) }
    }

    /// Its name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Asks for `path`: the fetch counts as in flight from this call until it answers or is
    /// dropped (cancelled).
    ///
    /// # Errors
    /// [`FetchError::Refused`] from a refusing mirror, [`FetchError::NotFound`] for a path
    /// starting with `missing`.
    pub fn fetch(&self, path: &str) -> impl Future<Output = Result<Page, FetchError>> + Send + 'static {
        let mut request = Request::new(self.stats.clone());
        let answer = if self.refuses {
            Err(FetchError::Refused { mirror: self.name })
        } else if path.starts_with("missing") {
            Err(FetchError::NotFound { path: path.to_owned() })
        } else {
            Ok(Page { mirror: self.name, path: path.to_owned() })
        };
        let delay = if answer.is_ok() { self.latency } else { Duration::from_millis(1) };
        async move {
            let running = Running::new(&request.stats);
            taskscope::sleep(delay).await; // a cancelled fetch is dropped here
            drop(running);
            request.answered();
            answer
        }
    }

    /// Fetches asked for and not yet answered or dropped.
    pub fn in_flight(&self) -> usize {
        self.stats.in_flight.load(Ordering::SeqCst)
    }

    /// The most fetches that ran at once.
    pub fn peak(&self) -> usize {
        self.stats.peak.load(Ordering::SeqCst)
    }

    /// Fetches dropped before they answered (running, or never started).
    pub fn cancelled(&self) -> usize {
        self.stats.cancelled.load(Ordering::SeqCst)
    }
}

/// Fetches every path from `mirror`, at most `limit` at once, within `deadline` overall; the
/// first failure cancels the rest. Pages come back in the order of `paths`.
///
/// # Errors
/// [`ScopeError::Failed`] with the failure (and any other error that raced it), or
/// [`ScopeError::Cancelled`] with [`is_elapsed`](ScopeError::is_elapsed) once the deadline
/// cancelled every fetch.
pub async fn fetch_all(
    mirror: &Mirror,
    paths: &[&str],
    limit: NonZeroUsize,
    deadline: Duration,
) -> Result<Vec<Page>, ScopeError<FetchError>> {
    taskscope::builder()
        .limit(limit.get())
        .expect("a NonZeroUsize is not zero")
        .timeout(deadline)
        .all(paths.iter().map(|path| mirror.fetch(path)))
        .await
}

/// Asks every mirror for `path`: the first to answer wins and the others are cancelled.
///
/// # Errors
/// [`ScopeError::Failed`] with every mirror's error if none could serve it.
///
/// # Panics
/// If `mirrors` is empty.
pub async fn fetch_fastest(mirrors: &[Mirror], path: &str) -> Result<Page, ScopeError<FetchError>> {
    taskscope::builder().race(mirrors.iter().map(|mirror| mirror.fetch(path))).await
}

/// What [`fetch_each`] got: the pages, and the failures split by kind.
#[derive(Debug, Default)]
pub struct Report {
    /// The pages fetched, sorted by path.
    pub pages: Vec<Page>,
    /// The paths no mirror had: expected, skipped (sorted).
    pub missing: Vec<String>,
    /// Every other failure, to report.
    pub other: Option<ErrorGroup<FetchError>>,
}

/// Runs every `(mirror, path)` fetch to its end — one failure cancels nothing — and splits the
/// failures by kind, like Python's `except* NotFound: ... except* Exception: ...`.
///
/// # Errors
/// Only if the enclosing code cancels it ([`ScopeError::Cancelled`]).
pub async fn fetch_each(jobs: &[(Mirror, &str)]) -> Result<Report, ScopeError<FetchError>> {
    let pages = Arc::new(Mutex::new(Vec::new()));
    let outcome = taskscope::builder()
        .policy(Policy::Supervise)
        .run(async |s| {
            for (mirror, path) in jobs {
                let (fetch, pages) = (mirror.fetch(path), pages.clone());
                s.spawn(async move {
                    let page = fetch.await?;
                    pages.lock().unwrap_or_else(PoisonError::into_inner).push(page);
                    Ok(())
                });
            }
            Ok(())
        })
        .await;
    let failures = match outcome {
        Ok(()) => None,
        Err(ScopeError::Failed(group)) => Some(group),
        Err(cancelled) => return Err(cancelled),
    };
    let (missing, other) = match failures {
        Some(group) => group.split(|e| matches!(e, FetchError::NotFound { .. })),
        None => (None, None),
    };
    let mut missing: Vec<String> = missing
        .into_iter()
        .flatten()
        .filter_map(|e| match e {
            FetchError::NotFound { path } => Some(path),
            FetchError::Refused { .. } => None,
        })
        .collect();
    missing.sort();
    let mut pages = std::mem::take(&mut *pages.lock().unwrap_or_else(PoisonError::into_inner));
    pages.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(Report { pages, missing, other })
}

fn messages(group: &ErrorGroup<FetchError>) -> String {
    group.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
}

fn paths(pages: &[Page]) -> String {
    pages.iter().map(|p| p.path.as_str()).collect::<Vec<_>>().join(", ")
}

/// Runs every feature of the library once and tells what happened, one line each: the same
/// lines on every runtime (no timings, only outcomes and counts the semantics fix).
pub async fn story() -> Vec<String> {
    let mut lines = Vec::new();
    let limit = NonZeroUsize::new(2).expect("2 is not zero");

    // 1. Fan-out with a limit.
    let eu = Mirror::new("eu", Duration::from_millis(50));
    let files = ["a.txt", "b.txt", "c.txt", "d.txt", "e.txt", "f.txt"];
    match fetch_all(&eu, &files, limit, Duration::from_secs(30)).await {
        Ok(pages) => lines.push(format!(
            "fan-out: {} pages from eu, at most {} at once (peak {}): {}",
            pages.len(),
            limit,
            eu.peak(),
            paths(&pages)
        )),
        Err(e) => lines.push(format!("fan-out failed: {e}")),
    }

    // 2. An overall deadline.
    let slow = Mirror::new("slow", Duration::from_secs(30));
    match fetch_all(&slow, &files, limit, Duration::from_millis(50)).await {
        Err(e) if e.is_elapsed() => lines.push(format!(
            "deadline: gave up on slow after the overall deadline; {} fetches cancelled, {} still in flight",
            slow.cancelled(),
            slow.in_flight()
        )),
        other => lines.push(format!("deadline: unexpected {other:?}")),
    }

    // 3. The first failure cancels the rest.
    let us = Mirror::new("us", Duration::from_secs(30));
    let with_missing = ["a.txt", "missing-1.txt", "b.txt", "c.txt"];
    match fetch_all(&us, &with_missing, NonZeroUsize::new(4).expect("4"), Duration::from_secs(30)).await {
        Err(ScopeError::Failed(group)) => lines.push(format!(
            "first failure: {} ({} error); {} other fetches cancelled, {} still in flight",
            group.cause(),
            group.len(),
            us.cancelled(),
            us.in_flight()
        )),
        other => lines.push(format!("first failure: unexpected {other:?}")),
    }

    // 4. The first answer wins.
    let mirrors = [
        Mirror::new("far", Duration::from_secs(30)),
        Mirror::new("near", Duration::from_millis(100)),
        Mirror::refusing("down"),
    ];
    match fetch_fastest(&mirrors, "index.html").await {
        Ok(page) => lines.push(format!(
            "race: index.html from {}; {} slower mirror cancelled, {} still in flight",
            page.mirror,
            mirrors.iter().map(Mirror::cancelled).sum::<usize>(),
            mirrors.iter().map(Mirror::in_flight).sum::<usize>()
        )),
        Err(e) => lines.push(format!("race failed: {e}")),
    }

    // 5. Collect every outcome; split the errors by kind.
    let down = Mirror::refusing("down");
    let jobs = [
        (eu.clone(), "a.txt"),
        (eu.clone(), "missing-2.txt"),
        (down, "b.txt"),
        (eu.clone(), "missing-1.txt"),
        (eu.clone(), "c.txt"),
    ];
    match fetch_each(&jobs).await {
        Ok(report) => {
            lines.push(format!("collect-all: {} pages ({})", report.pages.len(), paths(&report.pages)));
            lines.push(format!("  missing, skipped: {}", report.missing.join(", ")));
            match report.other {
                Some(other) => lines.push(format!("  other errors, reported: {}", messages(&other))),
                None => lines.push("  no other errors".to_owned()),
            }
        }
        Err(e) => lines.push(format!("collect-all cancelled: {e}")),
    }
    lines
}
