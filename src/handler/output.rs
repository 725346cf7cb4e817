//! A capped output buffer shared by the shell and wasm runners.
