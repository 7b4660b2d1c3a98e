//! The whole suite on the built-in `tokio_ct` backend.
taskscope_conformance::suite!(tokio_ct, taskscope_conformance::backends::tokio_ct);
