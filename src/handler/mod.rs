//! Handlers: the shell scripts and WebAssembly modules that do real work.
//!
//! Both kinds sit behind one interface: an [`Invocation`] goes in, an
//! [`Outcome`] comes out. The invocation already carries the effective
//! [`Limits`] and [`Capabilities`], worked out by [`policy`] from the
//! command's requests and the grants of the principal the run is for; the
//! runners only enforce them.
//!
//! - [`shell`]: `/bin/sh -c`, scrubbed environment, process-group kill.
//! - [`wasm`]: wasmtime with fuel, memory and time limits and a WASI
//!   context built per run from the capabilities.
//! - [`network`]: resolves and enforces a run's outbound-connection rules.
//! - [`output`]: the capped output buffer both runners use.

pub mod network;
pub mod output;
pub mod policy;
pub mod prepared;
pub mod shell;
pub mod wasm;

use std::path::PathBuf;
use std::time::Duration;

use crate::config::{Command, Config, Runnable, Span};

pub use policy::{Capabilities, Limits};

/// Who a run is for, as the handler is told.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunUser {
    /// Channel address, e.g. `messenger:7000000000000042`.
    pub address: String,
    /// The channel name, e.g. `messenger`.
    pub channel: String,
    /// Configured user id, if the sender is a known user.
    pub id: Option<String>,
    /// Display name.
    pub name: String,
}

/// Everything a runner needs for one run.
#[derive(Debug, Clone)]
pub struct Invocation {
    /// Command id.
    pub command: String,
    /// The user's free text.
    pub input: String,
    /// The requester.
    pub user: RunUser,
    /// The conversation state the input arrived in.
    pub state: String,
    /// Effective limits.
    pub limits: Limits,
    /// Effective capabilities.
    pub capabilities: Capabilities,
    /// A scratch folder the runner may use as `HOME`; removed afterwards.
    pub scratch: Option<PathBuf>,
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// Exit code 0 (or a component's successful reply).
    Success,
    /// A non-zero exit code.
    Exit(i32),
    /// A component returned an error message.
    HandlerError(String),
    /// The guest trapped (wasm only).
    Trap(String),
    /// The fuel budget ran out (wasm only).
    OutOfFuel,
    /// The memory ceiling was hit (wasm only).
    OutOfMemory,
    /// The wall-clock limit passed.
    TimedOut,
    /// The host could not start or run the handler.
    Error(String),
}

impl Status {
    /// True for a successful run.
    pub fn is_success(&self) -> bool {
        matches!(self, Status::Success)
    }

    /// The audit label of this status.
    pub fn label(&self) -> &'static str {
        match self {
            Status::Success => "success",
            Status::Exit(_) => "exit",
            Status::HandlerError(_) => "handler-error",
            Status::Trap(_) => "trap",
            Status::OutOfFuel => "out-of-fuel",
            Status::OutOfMemory => "out-of-memory",
            Status::TimedOut => "timeout",
            Status::Error(_) => "error",
        }
    }

    /// A short sentence for the person who asked.
    pub fn describe(&self, limits: &Limits) -> String {
        match self {
            Status::Success => "Done.".to_string(),
            Status::Exit(code) => format!("The command failed (exit code {code})."),
            Status::HandlerError(msg) => format!("The command failed: {msg}"),
            Status::Trap(_) => "The command crashed.".to_string(),
            Status::OutOfFuel => "The command was stopped: it used up its compute budget.".into(),
            Status::OutOfMemory => "The command was stopped: it ran out of memory.".to_string(),
            Status::TimedOut => format!(
                "The command was stopped: it ran longer than {}.",
                humantime::format_duration(limits.timeout)
            ),
            Status::Error(_) => "The command could not be run.".to_string(),
        }
    }
}

/// What a run produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// How it ended.
    pub status: Status,
    /// Captured stdout (or a component's reply text), already capped and
    /// marked when cut.
    pub output: String,
    /// Whether output was cut at the limit.
    pub truncated: bool,
    /// Wall-clock run time.
    pub duration: Duration,
    /// Fuel consumed (wasm only).
    pub fuel_used: Option<u64>,
    /// Peak linear memory in bytes (wasm only).
    pub peak_memory: Option<u64>,
    /// An event the handler asks to fire in the conversation.
    pub event: Option<String>,
}

impl Outcome {
    /// An outcome for a run that never started.
    pub fn failed_to_start(message: String) -> Outcome {
        Outcome {
            status: Status::Error(message),
            output: String::new(),
            truncated: false,
            duration: Duration::ZERO,
            fuel_used: None,
            peak_memory: None,
            event: None,
        }
    }
}

/// How many handlers run at once, over all users. Runs beyond this wait
/// for a slot instead of failing, so many guests starting slow handlers
/// cannot exhaust the wasm instance pool (64 slots) or fork without
/// bound; each user already runs one handler at a time.
pub const MAX_CONCURRENT_RUNS: usize = 32;

/// Runs commands of either kind; holds the compiled wasm modules.
pub struct Runner {
    /// The wasm runtime and each wasm command's compiled handler.
    wasm: prepared::Prepared,
    /// Slots for concurrent runs.
    slots: tokio::sync::Semaphore,
}

impl Runner {
    /// Prepare every command of `config`: wasm modules are compiled now,
    /// so a missing or broken module is reported before serving. Errors
    /// name the command and its module path.
    pub fn prepare(config: &Config) -> Result<Runner, Vec<PrepareError>> {
        let wasm = prepared::Prepared::new(config)?;
        let slots = tokio::sync::Semaphore::new(MAX_CONCURRENT_RUNS);
        Ok(Runner { wasm, slots })
    }

    /// Run `command` for one invocation.
    pub async fn run(&self, command: &Command, inv: &Invocation) -> Outcome {
        // The semaphore is never closed, so acquiring cannot fail.
        let _slot = self.slots.acquire().await.ok();
        match &command.run {
            Runnable::Shell { script } => shell::run(script, inv).await,
            Runnable::Wasm { .. } => self.wasm.run(&command.id, inv).await,
        }
    }

    /// Describe a wasm command's compiled handler: its kind and imports.
    pub fn describe_wasm(&self, command: &str) -> Option<(String, Vec<String>)> {
        self.wasm.describe(command)
    }
}

/// A command whose handler could not be prepared.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("command \"{command}\": {message}")]
pub struct PrepareError {
    /// Command id.
    pub command: String,
    /// Where the command is defined.
    pub span: Span,
    /// What went wrong, naming the module path.
    pub message: String,
}
