//! The whole suite on the deterministic simulation backend (`sim`, seed 0): every case, in
//! virtual time.
taskscope_conformance::suite!(sim, taskscope_conformance::backends::sim);

/// Every case once more on the simulation, printing its virtual and real duration (run with
/// `--nocapture` to see the table): time-based cases run in virtual time, read from the sim
/// harness's virtual clock as the report reads it.
#[test]
fn virtual_and_real_time_of_every_case() {
    use std::time::Duration;

    use taskscope_conformance::{CASE_TIMEOUT, CaseResult, CaseRun, backends, cases, run_case_timed};

    let (mut virtual_total, mut real_total) = (Duration::ZERO, Duration::ZERO);
    println!("{:<72} {:>12} {:>10}", "case", "virtual", "real");
    for case in cases::ALL {
        let CaseRun { result, virtual_elapsed } = run_case_timed(backends::sim, case, CASE_TIMEOUT);
        let real = match result {
            CaseResult::Pass(d) => d,
            CaseResult::Fail(msg, _) => panic!("{} failed on sim: {msg}", case.name),
        };
        let virt = virtual_elapsed.expect("the sim harness reads its virtual clock");
        virtual_total += virt;
        real_total += real;
        println!("{:<72} {:>12.1?} {:>10.1?}", case.name, virt, real);
    }
    println!("{} cases: {virtual_total:.1?} of virtual time in {real_total:.1?} of real time", cases::ALL.len());
}
