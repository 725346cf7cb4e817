//! sandbot: a self-hosted chatbot whose conversation, permissions and
//! sandboxed handlers are described in one YAML file.
//!
//! # Layout
//!
//! Dependencies flow one way: server → channels → engine → handlers and
//! store. The engine decides; channels and handlers do I/O.
//!
//! - [`config`]: YAML → validated model, with `file:line:col` errors.
//! - [`rbac`]: who may do what, and why. Pure.
//! - [`engine`]: one message in, the decision out. Pure.
//! - [`approval`]: the approval lifecycle.
//! - [`handler`]: shell and wasm runners behind one interface, and the
//!   sandbox policy that decides what a run may use.
//! - [`store`]: persistence behind one trait (SQLite, memory).
//! - [`channel`]: Messenger, web chat and terminal I/O.
//! - [`bot`]: ties engine, store, approvals and handlers together for
//!   one inbound message.
//! - [`server`]: the axum router, shared state and shutdown.
//! - [`scenario`]: scripted conversation tests (`sandbot test`).
//! - [`cli`]: one module per subcommand.

pub mod approval;
pub mod bot;
pub mod channel;
pub mod cli;
pub mod config;
pub mod engine;
pub mod handler;
pub mod rbac;
pub mod scenario;
pub mod server;
pub mod store;
