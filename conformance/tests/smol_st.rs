//! The whole suite on the built-in `smol_st` backend.
taskscope_conformance::suite!(smol_st, taskscope_conformance::backends::smol_st);
