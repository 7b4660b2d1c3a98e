//! Every example scenario, on every backend: the outcome and the order of events, never exact
//! timings (only lower bounds, which timers guarantee).

use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use taskscope::CancelReason;
use taskscope_examples::checkout::CheckoutError;
use taskscope_examples::{
    Backend, Log, bounded, checkout, except_star, fanout, nested_deadline, race, sensors, service, tracing_tree,
};

/// `taskscope::live_children()` is process-wide: run one scenario at a time.
fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The index of the line equal to `line`, failing with the whole transcript if absent.
fn pos(lines: &[String], line: &str, backend: Backend) -> usize {
    lines.iter().position(|l| l == line).unwrap_or_else(|| panic!("{backend}: no line {line:?} in {lines:#?}"))
}

fn at(log: &Log, line: &str) -> Duration {
    log.entries().into_iter().find(|(_, l)| l == line).map(|(t, _)| t).expect("line present")
}

#[test]
fn sensors_b_fails_a_is_cancelled_and_cleaned_up() {
    for backend in Backend::ALL {
        let _serial = serial();
        let before = taskscope::live_children();
        let log = Log::quiet();
        let out = backend.run(sensors::run(&log));
        let lines = log.lines();

        assert_eq!(out.errors, [("Sensor-B".to_owned(), "Sensor Sensor-B failed!".to_owned())], "{backend}");
        assert_eq!(out.live_after, before, "{backend}: a child outlived its scope");
        // Both sensors start (in either order: they run in parallel on some backends) ...
        let mut starts = lines[..2].to_vec();
        starts.sort();
        assert_eq!(starts, ["Reading from Sensor-A", "Reading from Sensor-B"], "{backend}");
        // ... then A is cancelled and cleans up before the owner sees the group.
        let cleanup = pos(&lines, "Cleanup initiated for Sensor-A", backend);
        let caught = pos(&lines, "Caught exception group containing: [Sensor-B] Sensor Sensor-B failed!", backend);
        assert!(cleanup < caught, "{backend}: {lines:#?}");
        assert_eq!(lines[caught + 1], format!("Tasks left alive: {before}"), "{backend}");
        assert_eq!(lines.len(), caught + 2, "{backend}: {lines:#?}");
        assert!(!lines.iter().any(|l| l.starts_with("Successfully")), "{backend}: A ran to completion");
        assert!(at(&log, "Cleanup initiated for Sensor-A") >= Duration::from_millis(500), "{backend}");
    }
}

#[test]
fn fanout_returns_after_the_slowest_and_results_are_harvested() {
    for backend in Backend::ALL {
        let _serial = serial();
        let log = Log::quiet();
        let results = backend.run(fanout::run(&log)).unwrap_or_else(|e| panic!("{backend}: {e}"));

        assert_eq!(results, ["users: 5 rows", "orders: 6 rows", "inventory: 9 rows"], "{backend}");
        assert_eq!(
            log.lines(),
            [
                "fetched orders",
                "fetched users",
                "fetched inventory",
                "all done",
                r#"results: ["users: 5 rows", "orders: 6 rows", "inventory: 9 rows"]"#,
            ],
            "{backend}"
        );
        assert!(at(&log, "all done") >= Duration::from_millis(300), "{backend}: returned before the slowest");
    }
}

#[test]
fn except_star_handles_each_kind_separately() {
    for backend in Backend::ALL {
        let _serial = serial();
        let log = Log::quiet();
        let out = backend.run(except_star::run(&log)).unwrap_or_else(|e| panic!("{backend}: unhandled {e}"));

        assert_eq!(out.value_errors, ["[a] bad value"], "{backend}");
        assert_eq!(out.type_errors, ["[b] wrong type"], "{backend}");
        assert_eq!(log.lines(), ["value errors: [a] bad value", "type errors: [b] wrong type"], "{backend}");
    }
}

#[test]
fn nested_scopes_share_one_deadline() {
    for backend in Backend::ALL {
        let _serial = serial();
        let log = Log::quiet();
        let out = backend.run(nested_deadline::run(&log));
        let lines = log.lines();

        assert_eq!(out.reason, Some(CancelReason::Deadline), "{backend}");
        let validate = pos(&lines, "validate done", backend);
        let ingest = pos(&lines, "ingest done", backend);
        let reported = pos(&lines, "phase exceeded deadline; all tasks cancelled", backend);
        assert!(validate < reported && ingest < reported, "{backend}: {lines:#?}");
        assert!(!lines.iter().any(|l| l == "parse done"), "{backend}: parse outlived the deadline");
        assert!(at(&log, "phase exceeded deadline; all tasks cancelled") >= Duration::from_millis(250), "{backend}");
    }
}

/// S1 for grandchildren: `parse`, a child of the nested scope, must be dropped (and clean up)
/// before the outer scope returns. Fails on tokio-ct, smol-mt and smol-st: when the deadline
/// aborts the outer scope, it drops its body — and the nested scope in it — without waiting
/// for the nested scope's children; on smol-st `parse` is never dropped at all.
#[test]
fn nested_deadline_grandchildren_are_dropped_before_the_owner_returns() {
    for backend in Backend::ALL {
        let _serial = serial();
        let before = taskscope::live_children();
        let log = Log::quiet();
        let out = backend.run(nested_deadline::run(&log));
        let lines = log.lines();

        let cleanup = pos(&lines, "parse cancelled, cleaning up", backend);
        let reported = pos(&lines, "phase exceeded deadline; all tasks cancelled", backend);
        assert!(cleanup < reported, "{backend}: {lines:#?}");
        assert_eq!(out.live_after, before, "{backend}: a grandchild outlived its scope");
    }
}

#[test]
fn checkout_inventory_fails_and_payment_is_cancelled() {
    for backend in Backend::ALL {
        let _serial = serial();
        let log = Log::quiet();
        let out = backend.run(checkout::run(&log));
        let lines = log.lines();

        assert_eq!(out.errors, [("inventory".to_owned(), CheckoutError::OutOfStock("SKU-42"))], "{backend}");
        assert_eq!(
            lines,
            ["address: ok", "payment: cancelled, cleaning up", "Checkout failed: [inventory] SKU-42 is out of stock",],
            "{backend}"
        );
    }
}

#[test]
fn backend_names_round_trip() {
    for backend in Backend::ALL {
        assert_eq!(Backend::parse(backend.name()), Some(backend));
        assert_eq!(backend.to_string(), backend.name());
    }
    assert_eq!(Backend::parse("tokio"), None);
}

#[test]
fn bounded_fan_out_respects_the_limit() {
    for backend in Backend::ALL {
        let _serial = serial();
        let log = Log::quiet();
        let out = backend.run(bounded::run(&log)).unwrap_or_else(|e| panic!("{backend}: {e}"));

        assert_eq!(out.files, (0..8).map(|i| format!("file-{i}")).collect::<Vec<_>>(), "{backend}");
        assert!(out.peak <= 3, "{backend}: {} downloads ran at once", out.peak);
    }
}

#[test]
fn race_returns_the_first_success_after_the_losers_cleaned_up() {
    for backend in Backend::ALL {
        let _serial = serial();
        let before = taskscope::live_children();
        let log = Log::quiet();
        let winner = backend.run(race::run(&log)).unwrap_or_else(|e| panic!("{backend}: {e}"));
        let lines = log.lines();

        assert_eq!(winner, "payload from us", "{backend}");
        let won = pos(&lines, "race won: payload from us", backend);
        let eu = pos(&lines, "mirror eu cancelled, closing its connection", backend);
        let asia = pos(&lines, "mirror asia cancelled, closing its connection", backend);
        assert!(eu < won && asia < won, "{backend}: the race returned before the losers cleaned up: {lines:#?}");
        assert_eq!(lines.len(), 3, "{backend}: {lines:#?}");
        assert_eq!(taskscope::live_children(), before, "{backend}");
    }
}

#[test]
fn service_shuts_down_gracefully_and_drops_the_worker_that_outlasts_the_grace() {
    for backend in Backend::ALL {
        let _serial = serial();
        let before = taskscope::live_children();
        let log = Log::quiet();
        let out = backend.run(service::run(&log));
        let lines = log.lines();

        assert_eq!(out.reason, Some(CancelReason::Explicit("shutdown".into())), "{backend}");
        assert_eq!(out.live_after, before, "{backend}: a worker outlived the service");
        let requested = pos(&lines, "shutdown requested: stopping the workers (grace period 0.2s)", backend);
        let ingest = pos(&lines, "ingest: closed its listener", backend);
        let indexer = pos(&lines, "indexer: flushed its index to disk", backend);
        let uploader = pos(&lines, "uploader: grace period over, dropped before its upload finished", backend);
        let stopped =
            pos(&lines, &format!("service stopped (cancelled: shutdown); tasks left alive: {before}"), backend);
        assert!(
            requested < ingest && ingest < stopped && indexer < stopped && uploader < stopped,
            "{backend}: {lines:#?}"
        );
        assert!(
            !lines.iter().any(|l| l == "uploader: upload finished"),
            "{backend}: the grace period did not cut it off"
        );
        assert!(
            at(&log, "shutdown requested: stopping the workers (grace period 0.2s)") >= service::RUN_FOR,
            "{backend}"
        );
        let cut_off = at(&log, "uploader: grace period over, dropped before its upload finished");
        assert!(cut_off >= service::RUN_FOR + service::GRACE, "{backend}: dropped before the grace ran out");
    }
}

/// O2: the tree subscriber sees the nested scope under the child that opened it, the
/// cancelled sibling with its reason, and each child's events under the child.
#[test]
fn tracing_tree_shows_the_task_tree_with_outcomes() {
    tracing_tree::install();
    for backend in Backend::ALL {
        let _serial = serial();
        let lines = backend.run(tracing_tree::run());
        let rt = backend.name();
        let expected = [
            format!("scope checkout [{rt}] failed"),
            format!("├─ child inventory [{rt}] ok"),
            format!("│  └─ scope reserve [{rt}] ok"),
            format!("│     ├─ child warehouse-a [{rt}] ok"),
            format!("│     └─ child warehouse-b [{rt}] ok"),
            format!("├─ child email [{rt}] cancelled: sibling 'payment' failed"),
            "│  └─ event: draft discarded, nothing sent".to_owned(),
            format!("└─ child payment [{rt}] failed"),
            "   └─ event: charging the card".to_owned(),
        ];
        assert_eq!(lines, expected, "{backend}");
    }
}

/// Every program in `examples/` is compiled into the library as a module, so the tests above
/// can run its scenario on every backend.
#[test]
fn every_example_program_is_a_tested_module() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/examples");
    let lib = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/src/lib.rs")).expect("read src/lib.rs");
    let this = include_str!("examples_run.rs");
    for entry in std::fs::read_dir(dir).expect("read examples/") {
        let file = entry.expect("directory entry").file_name().to_string_lossy().into_owned();
        let Some(module) = file.strip_suffix(".rs") else { continue };
        assert!(
            lib.contains(&format!("#[path = \"../examples/{file}\"]")),
            "examples/{file} is not a module of src/lib.rs"
        );
        assert!(this.contains(&format!("{module}::run(")), "no test runs examples/{file}'s scenario");
    }
}
