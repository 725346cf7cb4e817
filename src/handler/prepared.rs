//! The compiled wasm handlers of one config, keyed by command id.

use crate::config::Config;

use super::{Invocation, Outcome, PrepareError};

/// Compiled wasm handlers for a config's commands.
pub struct Prepared {}

impl Prepared {
    /// Compile every wasm command of `config`.
    pub fn new(_config: &Config) -> Result<Prepared, Vec<PrepareError>> {
        Ok(Prepared {})
    }

    /// Run a wasm command.
    pub async fn run(&self, _command: &str, _inv: &Invocation) -> Outcome {
        Outcome::failed_to_start("wasm handlers are not available in this build".into())
    }

    /// Kind and imports of a compiled command.
    pub fn describe(&self, _command: &str) -> Option<(String, Vec<String>)> {
        None
    }
}
