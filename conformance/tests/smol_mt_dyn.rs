//! The whole suite on the built-in `smol_mt_dyn` backend: smol's multi-thread executor behind
//! `DynOnly`, so every child goes through `Runtime::spawn`.
taskscope_conformance::suite!(smol_mt_dyn, taskscope_conformance::backends::smol_mt_dyn);
