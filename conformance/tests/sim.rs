//! The whole suite on the deterministic simulation backend (`sim`, seed 0): every case, in
//! virtual time.
taskscope_conformance::suite!(sim, taskscope_conformance::backends::sim);
