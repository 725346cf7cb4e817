//! Configuration: one YAML file → a validated [`Config`].
//!
//! - [`yaml`]: parses YAML into a tree that remembers where every node
//!   came from, resolving aliases across documents.
//! - [`load`]: turns that tree into the model, collecting errors and
//!   warnings that carry `file:line:col`.
//! - [`model`]: the validated model the rest of sandbot reads.

pub mod load;
pub mod model;
pub mod yaml;

pub use load::{Diagnostic, LoadError, Loaded, Severity, load, load_str};
pub use model::*;

/// A position in the config file, 1-based.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Span {
    /// Line, from 1.
    pub line: usize,
    /// Column, from 1.
    pub col: usize,
}
