//! Raw YAML tree → validated [`Config`](super::Config).

use std::path::Path;

use super::{Config, Span};

/// How serious a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// The config cannot be used.
    Error,
    /// The config works, but probably not as meant.
    Warning,
}

/// One problem found in a config, with where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// Where.
    pub span: Span,
    /// What, in lowercase words.
    pub message: String,
}

/// A config that failed to load.
#[derive(Debug, thiserror::Error)]
#[error("invalid config {path}")]
pub struct LoadError {
    /// The file.
    pub path: String,
    /// Errors and warnings, in file order.
    pub diagnostics: Vec<Diagnostic>,
}

/// A config that loaded, with any warnings.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The validated config.
    pub config: Config,
    /// Warnings, in file order.
    pub warnings: Vec<Diagnostic>,
}

/// Load and validate a config file.
pub fn load(_path: &Path) -> Result<Loaded, LoadError> {
    todo!()
}

/// Load and validate config text; `path` is used for messages and to
/// resolve relative paths.
pub fn load_str(_text: &str, _path: &Path) -> Result<Loaded, LoadError> {
    todo!()
}
