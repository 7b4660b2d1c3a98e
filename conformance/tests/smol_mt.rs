//! The whole suite on the built-in `smol_mt` backend.
taskscope_conformance::suite!(smol_mt, taskscope_conformance::backends::smol_mt);
