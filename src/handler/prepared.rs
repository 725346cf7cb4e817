//! The compiled wasm handlers of one config, keyed by command id.
//!
//! The wasm runtime (engine, epoch ticker, pooling allocator) is created
//! only when the config has wasm commands, so a shell-only bot pays
//! nothing for it.

use std::collections::HashMap;
use std::sync::Arc;

use crate::config::{Config, Runnable};

use super::wasm::{HandlerKind, WasmHandler, WasmRuntime};
use super::{Invocation, Outcome, PrepareError};

/// Compiled wasm handlers for a config's commands.
pub struct Prepared {
    /// The runtime, when there is any wasm command.
    runtime: Option<Arc<WasmRuntime>>,
    /// Each wasm command's compiled handler.
    handlers: HashMap<String, WasmHandler>,
}

impl Prepared {
    /// Compile every wasm command of `config`; every failure is reported,
    /// each naming its command and module path.
    pub fn new(config: &Config) -> Result<Prepared, Vec<PrepareError>> {
        let wasm: Vec<_> = config
            .commands
            .values()
            .filter_map(|c| match &c.run {
                Runnable::Wasm { module } => Some((c, module)),
                Runnable::Shell { .. } => None,
            })
            .collect();
        let Some((first, _)) = wasm.first() else {
            return Ok(Prepared {
                runtime: None,
                handlers: HashMap::new(),
            });
        };
        let runtime = WasmRuntime::new().map_err(|e| {
            let message = format!("failed to start the wasm runtime: {e:#}");
            vec![PrepareError {
                command: first.id.clone(),
                span: first.span,
                message,
            }]
        })?;
        let mut handlers = HashMap::new();
        let mut errors = Vec::new();
        for (command, module) in wasm {
            match runtime.load(module) {
                Ok(handler) => {
                    handlers.insert(command.id.clone(), handler);
                }
                Err(e) => errors.push(PrepareError {
                    command: command.id.clone(),
                    span: command.span,
                    message: e.to_string(),
                }),
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Prepared {
            runtime: Some(Arc::new(runtime)),
            handlers,
        })
    }

    /// Run a wasm command.
    pub async fn run(&self, command: &str, inv: &Invocation) -> Outcome {
        match (&self.runtime, self.handlers.get(command)) {
            (Some(runtime), Some(handler)) => runtime.run(handler, inv).await,
            _ => Outcome::failed_to_start(format!("wasm command {command} was not prepared")),
        }
    }

    /// Kind and imports of a compiled command.
    pub fn describe(&self, command: &str) -> Option<(String, Vec<String>)> {
        let handler = self.handlers.get(command)?;
        let kind = match handler.kind() {
            HandlerKind::Preview1Module => "WASI preview 1 module",
            HandlerKind::CliCommand => "wasi:cli command component",
            HandlerKind::SandbotComponent => "sandbot:handler component",
        };
        Some((kind.to_string(), handler.imports()))
    }
}
