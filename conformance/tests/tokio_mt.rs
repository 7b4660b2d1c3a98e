//! The whole suite on the built-in `tokio_mt` backend.
taskscope_conformance::suite!(tokio_mt, taskscope_conformance::backends::tokio_mt);
