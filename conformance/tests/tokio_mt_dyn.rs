//! The whole suite on the built-in `tokio_mt_dyn` backend: tokio's multi-thread runtime behind
//! `DynOnly`, so every child goes through `Runtime::spawn`.
taskscope_conformance::suite!(tokio_mt_dyn, taskscope_conformance::backends::tokio_mt_dyn);
