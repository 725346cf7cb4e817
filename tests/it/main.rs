//! Integration tests: the real `sandbot` binary, its server and handlers.
//!
//! One test binary, one module per area, so the crate is linked once.

mod support;

mod cli;
mod messenger;
mod messenger_send;
mod terminal;
mod wasm_bot;
mod wasm_sandbox;
