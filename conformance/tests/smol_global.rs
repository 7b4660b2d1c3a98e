//! The whole suite on smol's global executor as the facade uses it (`taskscope::scope` with the
//! `smol` feature outside tokio), with its expected shutdown divergences.
taskscope_conformance::suite!(smol_global, backend: taskscope_conformance::backends::SMOL_GLOBAL);
