//! `--alloc`: the same rows under each allocator this system has, side by side.
//!
//! A child of a scope costs two heap allocations against the raw runtime's one, and on
//! tokio's multi-thread runtime the cells are freed on worker threads other than the one that
//! allocated them, so the allocator's share of a row is large and differs between allocators.
//! This runs the selected rows once per allocator, each in a fresh copy of this binary with the
//! allocator preloaded (`LD_PRELOAD`), so users see what part of a ratio is the allocator's.
//! Allocators that are not installed are listed as missing, never faked.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The allocators compared: glibc's (no preload), then shared libraries found on this system.
const ALLOCATORS: &[(&str, &[&str])] = &[
    ("glibc", &[]),
    ("jemalloc", &["libjemalloc.so.2", "libjemalloc.so"]),
    ("mimalloc", &["libmimalloc.so.2", "libmimalloc.so"]),
];

/// Where distributions install shared libraries.
const LIB_DIRS: &[&str] = &[
    "/usr/lib/x86_64-linux-gnu",
    "/usr/lib/aarch64-linux-gnu",
    "/usr/lib64",
    "/usr/lib",
    "/usr/local/lib",
    "/opt/homebrew/lib",
];

/// The shared library for `names`, if installed.
fn find(names: &[&str]) -> Option<PathBuf> {
    LIB_DIRS.iter().flat_map(|d| names.iter().map(move |n| Path::new(d).join(n))).find(|p| p.is_file())
}

/// One row of a child run's `--json` output.
#[derive(Debug, Clone, PartialEq)]
struct Parsed {
    key: (String, String, u64, String),
    ours_ns: f64,
    base_ns: f64,
    ratio: f64,
}

/// The value of `"name":` in a flat JSON object printed by `Row::to_json`.
fn field<'a>(line: &'a str, name: &str) -> Option<&'a str> {
    let start = line.find(&format!("\"{name}\":"))? + name.len() + 3;
    let rest = &line[start..];
    let rest = rest.strip_prefix('"').map_or(rest, |r| r);
    let end = rest.find(['"', ',', '}'])?;
    Some(&rest[..end])
}

fn parse_row(line: &str) -> Option<Parsed> {
    Some(Parsed {
        key: (
            field(line, "bench")?.to_owned(),
            field(line, "backend")?.to_owned(),
            field(line, "n")?.parse().ok()?,
            field(line, "base")?.to_owned(),
        ),
        ours_ns: field(line, "ours_ns")?.parse().ok()?,
        base_ns: field(line, "base_ns")?.parse().ok()?,
        ratio: field(line, "ratio")?.parse().ok()?,
    })
}

/// Runs this binary with `args` (plus `--json`) once per allocator and prints the rows side
/// by side: ns per child of ours and of the baseline, and their ratio, per allocator.
pub fn compare(args: &[String]) {
    let exe = std::env::current_exe().expect("the bench knows its own path");
    let mut columns: Vec<(String, Vec<Parsed>)> = Vec::new();
    for (name, libs) in ALLOCATORS {
        let preload = if libs.is_empty() {
            None
        } else if let Some(lib) = find(libs) {
            Some(lib)
        } else {
            eprintln!(
                "alloc: {name} is not installed here (looked for {} in {}); skipped",
                libs.join(" or "),
                LIB_DIRS.join(", ")
            );
            continue;
        };
        eprintln!(
            "alloc: running under {name}{}",
            preload.as_ref().map(|p| format!(" ({})", p.display())).unwrap_or_default()
        );
        let mut cmd = Command::new(&exe);
        cmd.args(args).arg("--json");
        if let Some(lib) = &preload {
            cmd.env("LD_PRELOAD", lib);
        }
        let out = match cmd.output() {
            Ok(out) if out.status.success() => out,
            Ok(out) => {
                eprintln!(
                    "alloc: the run under {name} failed ({}):\n{}",
                    out.status,
                    String::from_utf8_lossy(&out.stderr)
                );
                continue;
            }
            Err(e) => {
                eprintln!("alloc: cannot run {}: {e}", exe.display());
                continue;
            }
        };
        let rows = String::from_utf8_lossy(&out.stdout).lines().filter_map(parse_row).collect();
        columns.push(((*name).to_owned(), rows));
    }
    print!("{}", table(&columns));
}

/// The side-by-side table: one line per row of the first allocator, one column group per
/// allocator (`ours ns / baseline ns = ratio`).
fn table(columns: &[(String, Vec<Parsed>)]) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let Some((_, first)) = columns.first() else {
        return "alloc: no allocator could be run\n".to_owned();
    };
    let _ = write!(out, "{:<12} {:<9} {:>7} {:<17}", "bench", "backend", "n", "baseline");
    for (name, _) in columns {
        let _ = write!(out, " {:>26}", format!("{name}: ours/base ns = ratio"));
    }
    out.push('\n');
    for row in first {
        let (bench, backend, n, base) = &row.key;
        let _ = write!(out, "{bench:<12} {backend:<9} {n:>7} {base:<17}");
        for (_, rows) in columns {
            match rows.iter().find(|r| r.key == row.key) {
                Some(r) => {
                    let _ = write!(out, " {:>26}", format!("{:.0}/{:.0} = {:.2}", r.ours_ns, r.base_ns, r.ratio));
                }
                None => {
                    let _ = write!(out, " {:>26}", "-");
                }
            }
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_json_row_is_read_back() {
        let line = r#"{"bench":"spawn_join","backend":"tokio-mt","n":1000,"ours_ns":512.5,"base":"vec-handles","base_ns":300.0,"ratio":1.708}"#;
        let row = parse_row(line).expect("a row");
        assert_eq!(row.key, ("spawn_join".to_owned(), "tokio-mt".to_owned(), 1000, "vec-handles".to_owned()));
        assert_eq!((row.ours_ns, row.base_ns, row.ratio), (512.5, 300.0, 1.708));
    }

    #[test]
    fn the_table_puts_allocators_side_by_side() {
        let row = |ratio| Parsed { key: ("b".into(), "x".into(), 10, "raw".into()), ours_ns: 2.0, base_ns: 1.0, ratio };
        let t = table(&[("glibc".into(), vec![row(2.0)]), ("jemalloc".into(), vec![row(1.5)])]);
        let line = t.lines().nth(1).expect("one row");
        assert!(line.contains("2/1 = 2.00") && line.contains("2/1 = 1.50"), "{t}");
    }
}
