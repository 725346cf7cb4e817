//! The sandbox policy: what a handler may use, and for how long.
//!
//! A handler gets exactly what its command `needs`, intersected with the
//! `grants` of the roles held by the principal it runs for (the requester,
//! or the approver of an approved run). Deny by default: a command that
//! needs nothing gets nothing, and a need no role grants is dropped.
//! Limits are the command's requests, filled from defaults and capped by
//! the most generous ceiling among the principal's roles.

use std::path::PathBuf;
use std::time::Duration;

use crate::config::Access;

/// Default wall-clock limit for one run: 30 s.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// Default stdout kept: 64 KiB.
pub const DEFAULT_OUTPUT: u64 = 64 * 1024;
/// Default fuel budget for wasm runs: 1e9 units (roughly a second or two of
/// guest work on a modern core).
pub const DEFAULT_FUEL: u64 = 1_000_000_000;
/// Default linear-memory ceiling for wasm runs, over all memories: 64 MiB.
pub const DEFAULT_MEMORY: u64 = 64 * 1024 * 1024;

/// The limits one run is held to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Wall-clock limit.
    pub timeout: Duration,
    /// Fuel budget (wasm only).
    pub fuel: u64,
    /// Memory ceiling in bytes over all of a run's memories (wasm only).
    pub memory: u64,
    /// Bytes of stdout kept; the rest is dropped and marked.
    pub output: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            timeout: DEFAULT_TIMEOUT,
            fuel: DEFAULT_FUEL,
            memory: DEFAULT_MEMORY,
            output: DEFAULT_OUTPUT,
        }
    }
}

/// One directory the guest sees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirCapability {
    /// Host folder.
    pub host: PathBuf,
    /// Path inside the guest.
    pub guest: String,
    /// Read-only or read-write.
    pub access: Access,
}

/// What one run may use. Built per run; empty means nothing at all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Capabilities {
    /// Directories to preopen.
    pub dirs: Vec<DirCapability>,
    /// Environment variables, name and value.
    pub env: Vec<(String, String)>,
    /// Outbound connections allowed: `host:port`, `host` (any port) or
    /// `host:*` rules. Host names are resolved when the run starts; see
    /// [`super::network`].
    pub network: Vec<String>,
}

