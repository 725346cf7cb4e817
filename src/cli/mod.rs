//! Subcommands, one module each. Each has an `Args` struct (clap derive,
//! every flag with an environment variable) and a `run` function that
//! returns the process exit code.

pub mod approvals;
pub mod can_i;
pub mod chat;
pub mod check;
pub mod graph;
pub mod serve;
pub mod test;
pub mod web_login;

use std::path::Path;
use std::process::ExitCode;

use crate::config::{self, Loaded};

/// Load a config for a subcommand, printing its errors on failure.
pub fn load_config(path: &Path) -> Result<Loaded, ExitCode> {
    config::load(path).map_err(|e| {
        eprintln!("{}", e.render());
        let errors = e
            .diagnostics
            .iter()
            .filter(|d| d.severity == config::Severity::Error)
            .count();
        eprintln!(
            "{}: {errors} error(s); the config was not loaded",
            path.display()
        );
        ExitCode::FAILURE
    })
}
