//! The conformance report: every case on every built-in backend, as a matrix of cases (grouped
//! by rule) × backends with each case's status and time, then a rule × backend summary (or
//! JSON lines with `--json`, Markdown with `--markdown`). Exits non-zero if any case fails
//! (an expected divergence that fails as marked is not a failure), 2 on a bad command line.
//!
//! ```text
//! cargo run --release -p taskscope-conformance -- [--json | --markdown] [--backend NAME]
//!     [--filter TEXT] [--repeat N] [--timeout SECS] [--contract-first] [--list]
//! ```

fn main() -> std::process::ExitCode {
    taskscope_conformance::report::main(taskscope_conformance::backends::ALL)
}
