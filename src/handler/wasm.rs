//! WebAssembly handlers run in wasmtime.
