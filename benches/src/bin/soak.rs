//! The soak run: many scopes and child tokens in one long-lived process, on each backend; checks
//! that the process-wide gauge is back at zero and prints RSS before and after.
//!
//! ```text
//! cargo run --release -p taskscope-bench --bin soak -- [--scopes N] [--tokens N] [--backend NAME]...
//! ```
//!
//! Defaults: 10^6 scopes and 10^6 tokens per backend, after a warm-up of 10^4 scopes. Exits
//! non-zero if a child outlived its scope or the parent token kept a child.

use std::process::ExitCode;

use taskscope_bench::backend::Flavour;
use taskscope_bench::soak;

const USAGE: &str = "usage: soak [--scopes N] [--tokens N] [--backend tokio-mt|tokio-ct|smol-mt|smol-st]...";

fn main() -> ExitCode {
    let (mut scopes, mut tokens, mut flavours) = (1_000_000usize, 1_000_000usize, Vec::new());
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut number = |what: &str| -> Option<usize> {
            let v = args.next();
            let n = v.as_deref().and_then(|v| v.parse().ok());
            if n.is_none() {
                eprintln!("soak: {what} needs a number, got {v:?}\n{USAGE}");
            }
            n
        };
        match a.as_str() {
            "--scopes" => match number("--scopes") {
                Some(n) => scopes = n,
                None => return ExitCode::from(2),
            },
            "--tokens" => match number("--tokens") {
                Some(n) => tokens = n,
                None => return ExitCode::from(2),
            },
            "--backend" => match args.next().as_deref().and_then(Flavour::from_name) {
                Some(f) => flavours.push(f),
                None => {
                    eprintln!("soak: --backend needs one of tokio-mt, tokio-ct, smol-mt, smol-st\n{USAGE}");
                    return ExitCode::from(2);
                }
            },
            other => {
                eprintln!("soak: unknown argument {other:?}\n{USAGE}");
                return ExitCode::from(2);
            }
        }
    }
    if flavours.is_empty() {
        flavours = Flavour::ALL.to_vec();
    }
    let mut ok = true;
    for f in flavours {
        let s = soak::run(f, 10_000, scopes, tokens);
        println!("{}", s.line());
        ok &= s.gauge_after == 0 && s.parent_children_after == 0;
    }
    if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}
