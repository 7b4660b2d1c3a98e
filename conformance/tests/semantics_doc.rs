//! `docs/semantics.md` and the suite agree: every rule in the document has its list of cases,
//! generated from [`taskscope_conformance::cases::ALL`], every case names a rule of the document,
//! and a rule with no case is listed in [`NOT_YET_COVERED`] so the gap stays visible.
//!
//! When a case is added or renamed, regenerate the lists with
//! `UPDATE_SEMANTICS=1 cargo test -p taskscope-conformance --features tracing --test semantics_doc`
//! (the feature brings in the tracing case, O2).

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use taskscope_conformance::Case;
use taskscope_conformance::cases::ALL;
use taskscope_conformance::cases::local::LOCAL;

/// Every case: the suite run on every backend, and the local scope's own column.
fn all_cases() -> impl Iterator<Item = &'static Case> {
    ALL.iter().chain(LOCAL.iter())
}

/// Rules the document states that no conformance case proves yet, with where they are tested
/// otherwise (if anywhere). The doc says "not yet covered" under each of them.
const NOT_YET_COVERED: &[(&str, &str)] = &[
    ("P5", "the simulation backend is tested by `adapters/taskscope-sim/tests/` and runs every case as a backend"),
    ("P6", "`test_on_every_backend!` is tested by `crates/taskscope/tests/every_backend.rs`"),
];

const OPEN: &str = "<!-- cases ";
const CLOSE: &str = "<!-- end cases -->";

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("conformance/ has a parent").to_path_buf()
}

/// The file under `conformance/src/cases/` that defines `fn name(`, as a link from `docs/`.
fn case_file(sources: &[(String, String)], name: &str) -> Option<String> {
    let needle = format!("fn {name}(");
    sources.iter().find(|(_, text)| text.contains(&needle)).map(|(file, _)| format!("../conformance/src/cases/{file}"))
}

fn case_sources() -> Vec<(String, String)> {
    let dir = repo_root().join("conformance/src/cases");
    let mut out: Vec<(String, String)> = std::fs::read_dir(&dir)
        .expect("read conformance/src/cases")
        .map(|e| {
            let path = e.expect("directory entry").path();
            let file = path.file_name().expect("file name").to_string_lossy().into_owned();
            (file, std::fs::read_to_string(&path).expect("read a case file"))
        })
        .collect();
    out.sort();
    out
}

/// The generated block for one rule: its cases, or the "not yet covered" line.
fn block(rule: &str, sources: &[(String, String)]) -> String {
    let cases: Vec<&str> = all_cases().filter(|c| c.rule() == rule).map(|c| c.name).collect();
    let mut out = String::new();
    if cases.is_empty() {
        let why = NOT_YET_COVERED.iter().find(|(r, _)| *r == rule).map_or("no reason given", |(_, why)| why);
        writeln!(out, "Not yet covered by a conformance case: {why}.").unwrap();
        return out;
    }
    writeln!(out, "Cases ({}):", cases.len()).unwrap();
    for name in cases {
        match case_file(sources, name) {
            Some(link) => writeln!(out, "- [`{name}`]({link})").unwrap(),
            None => writeln!(out, "- `{name}`").unwrap(),
        }
    }
    out
}

/// The document with every case block regenerated, and the rule IDs it has blocks for.
fn regenerate(doc: &str) -> (String, Vec<String>) {
    let sources = case_sources();
    let mut out = String::new();
    let mut rules = Vec::new();
    let mut rest = doc;
    while let Some(start) = rest.find(OPEN) {
        let header_end = start + rest[start..].find("-->").expect("an unterminated `<!-- cases` marker") + 3;
        let rule = rest[start + OPEN.len()..header_end - 3].trim().to_string();
        let close = header_end + rest[header_end..].find(CLOSE).unwrap_or_else(|| panic!("no `{CLOSE}` after {rule}"));
        out.push_str(&rest[..header_end]);
        out.push('\n');
        out.push_str(&block(&rule, &sources));
        out.push_str(CLOSE);
        rules.push(rule);
        rest = &rest[close + CLOSE.len()..];
    }
    out.push_str(rest);
    (out, rules)
}

#[test]
fn every_case_names_a_rule_of_the_document_and_every_rule_has_a_case() {
    let path = repo_root().join("docs/semantics.md");
    let doc = std::fs::read_to_string(&path).expect("read docs/semantics.md");
    let (_, rules) = regenerate(&doc);
    let documented: BTreeSet<&str> = rules.iter().map(String::as_str).collect();
    assert_eq!(documented.len(), rules.len(), "a rule has two case blocks in docs/semantics.md: {rules:?}");

    let orphans: Vec<&str> = all_cases().filter(|c| !documented.contains(c.rule().as_str())).map(|c| c.name).collect();
    assert!(orphans.is_empty(), "cases name a rule that docs/semantics.md does not state: {orphans:?}");

    let with_cases: BTreeSet<String> = all_cases().map(|c| c.rule()).collect();
    let allowed: BTreeSet<&str> = NOT_YET_COVERED.iter().map(|(r, _)| *r).collect();
    let uncovered: Vec<&str> =
        documented.iter().copied().filter(|r| !with_cases.contains(*r) && !allowed.contains(r)).collect();
    assert!(
        uncovered.is_empty(),
        "rules in docs/semantics.md with no case: {uncovered:?}; add a case, or list the rule in NOT_YET_COVERED"
    );
    let stale: Vec<&str> = allowed.iter().copied().filter(|r| with_cases.contains(*r)).collect();
    assert!(stale.is_empty(), "rules in NOT_YET_COVERED now have cases: remove them from the list: {stale:?}");
    let unknown: Vec<&str> = allowed.iter().copied().filter(|r| !documented.contains(r)).collect();
    assert!(unknown.is_empty(), "NOT_YET_COVERED names rules the document does not state: {unknown:?}");
}

#[test]
fn the_documents_case_lists_are_up_to_date() {
    let path = repo_root().join("docs/semantics.md");
    let doc = std::fs::read_to_string(&path).expect("read docs/semantics.md");
    let (generated, _) = regenerate(&doc);
    if generated == doc {
        return;
    }
    if std::env::var_os("UPDATE_SEMANTICS").is_some() {
        std::fs::write(&path, &generated).expect("write docs/semantics.md");
        return;
    }
    let first = doc.lines().zip(generated.lines()).position(|(a, b)| a != b).unwrap_or(0);
    panic!(
        "docs/semantics.md's case lists are out of date (first difference at line {}).\n\
         Regenerate them with:\n  UPDATE_SEMANTICS=1 cargo test -p taskscope-conformance --features tracing --test semantics_doc",
        first + 1
    );
}
