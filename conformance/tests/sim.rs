//! The whole suite on the deterministic simulation backend (`sim`, seed 0): every case, in
//! virtual time.
taskscope_conformance::suite!(sim, taskscope_conformance::backends::sim);

/// Every case once more on the simulation, printing its virtual and real duration (run with
/// `--nocapture` to see the table): time-based cases run in virtual time.
#[test]
fn virtual_and_real_time_of_every_case() {
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use taskscope_conformance::{CaseResult, Harness, cases, run_case};
    use taskscope_core::{BlockOn, Runtime};
    use taskscope_sim::Sim;

    static LAST: Mutex<Duration> = Mutex::new(Duration::ZERO);

    /// A sim harness that records its virtual time when dropped.
    struct Recording(Sim, Arc<dyn Runtime>);
    impl Harness for Recording {
        fn runtime(&self) -> Arc<dyn Runtime> {
            self.1.clone()
        }
        fn block_on(&self, fut: std::pin::Pin<Box<dyn std::future::Future<Output = ()> + '_>>) {
            self.0.block_on(fut);
        }
    }
    impl Drop for Recording {
        fn drop(&mut self) {
            *LAST.lock().unwrap() = self.0.elapsed();
        }
    }
    fn make() -> Box<dyn Harness> {
        let sim = Sim::new(0);
        let rt = sim.runtime();
        Box::new(Recording(sim, rt))
    }

    let (mut virtual_total, mut real_total) = (Duration::ZERO, Duration::ZERO);
    println!("{:<72} {:>12} {:>10}", "case", "virtual", "real");
    for case in cases::ALL {
        let real = match run_case(make, case) {
            CaseResult::Pass(d) => d,
            CaseResult::Fail(msg, _) => panic!("{} failed on sim: {msg}", case.name),
        };
        let virt = *LAST.lock().unwrap();
        virtual_total += virt;
        real_total += real;
        println!("{:<72} {:>12.1?} {:>10.1?}", case.name, virt, real);
    }
    println!("{} cases: {virtual_total:.1?} of virtual time in {real_total:.1?} of real time", cases::ALL.len());
}
