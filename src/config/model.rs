//! The validated configuration: what the rest of sandbot reads.
//!
//! Everything here has been checked by [`super::load`]: every reference
//! points at an object that exists, ids are unique, and each command has
//! exactly one way to run. Code outside `config` never sees raw YAML.

use std::path::PathBuf;
use std::time::Duration;

use indexmap::IndexMap;
use regex::Regex;

use super::Span;

/// A whole sandbot configuration: RBAC model plus conversation.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file the configuration was read from.
    pub path: PathBuf,
    /// Permissions by id, in file order.
    pub permissions: IndexMap<String, Permission>,
    /// Roles by id, in file order.
    pub roles: IndexMap<String, Role>,
    /// Commands by id, in file order.
    pub commands: IndexMap<String, Command>,
    /// Groups by name, in file order.
    pub groups: IndexMap<String, Group>,
    /// Users by id, in file order.
    pub users: IndexMap<String, User>,
    /// States by id, in file order.
    pub states: IndexMap<String, State>,
    /// Events by id, in file order.
    pub events: IndexMap<String, Event>,
    /// Transitions in file order.
    pub transitions: Vec<Transition>,
    /// The state a new conversation starts in. Default: `Initial`.
    pub initial_state: String,
    /// The payload Messenger's Get Started button sends. Default:
    /// `GetStarted`.
    pub get_started_event: String,
}

/// A named permission, granted through roles.
#[derive(Debug, Clone)]
pub struct Permission {
    /// The permission's id (`idstr` or `id` in YAML).
    pub id: String,
    /// Where it was defined.
    pub span: Span,
}

/// A set of permissions plus what handlers may use on its authority.
#[derive(Debug, Clone)]
pub struct Role {
    /// The role's id.
    pub id: String,
    /// Ids of the permissions the role holds.
    pub permissions: Vec<String>,
    /// Capabilities and limit ceilings for handlers run on this role's
    /// authority. Default: nothing granted, no ceilings.
    pub grants: Grants,
    /// Where it was defined.
    pub span: Span,
}

/// A command: a shell script or WebAssembly module run as a handler.
#[derive(Debug, Clone)]
pub struct Command {
    /// The command's id.
    pub id: String,
    /// The name shown to people. Default: the id.
    pub pretty_name: String,
    /// How the command runs.
    pub run: Runnable,
    /// Permissions a user needs to run it without approval.
    pub permissions: Vec<String>,
    /// The role whose holders may approve a run for someone who lacks the
    /// permissions. Default: none, so such users are simply refused.
    pub approved_by: Option<String>,
    /// Whether the handler's output is shown to the user. Default: false,
    /// which shows a short success or failure line instead.
    pub show_cmd_output: bool,
    /// Text appended after a successful run. Default: none.
    pub on_success: Option<String>,
    /// Resource limits the command asks for; unset fields take defaults.
    pub limits: LimitsSpec,
    /// Rules the user's input must satisfy before anything runs.
    pub input: InputRules,
    /// Capabilities the handler asks for. Default: none.
    pub needs: Needs,
    /// Where it was defined.
    pub span: Span,
}

/// How a command runs.
#[derive(Debug, Clone)]
pub enum Runnable {
    /// A script run by `/bin/sh -c`.
    Shell {
        /// The script text, exactly as written in the config.
        script: String,
    },
    /// A WebAssembly module or component.
    Wasm {
        /// Absolute path of the `.wasm` (or `.wat`) file.
        module: PathBuf,
    },
}

/// Limits a command asks for. `None` means "the default".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LimitsSpec {
    /// Wall-clock limit for one run.
    pub timeout: Option<Duration>,
    /// Fuel budget (wasm only).
    pub fuel: Option<u64>,
    /// Linear memory ceiling in bytes (wasm only).
    pub memory: Option<u64>,
    /// Bytes of stdout kept.
    pub output: Option<u64>,
}

/// Checks on the user's free text, applied before any run or approval.
#[derive(Debug, Clone, Default)]
pub struct InputRules {
    /// The whole input must match this regex (anchored on both ends).
    pub pattern: Option<Regex>,
    /// The pattern as written, for messages.
    pub pattern_text: Option<String>,
    /// Maximum input length in characters.
    pub max_length: Option<usize>,
}

/// Capabilities a command's handler asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Needs {
    /// Guest paths, such as `/data`.
    pub dirs: Vec<String>,
    /// Environment variable names.
    pub env: Vec<String>,
    /// `host:port` or `host` the handler connects to.
    pub network: Vec<String>,
}

/// What a role lets handlers use.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Grants {
    /// Host directories mapped into the guest.
    pub dirs: Vec<DirGrant>,
    /// Environment variables passed to handlers.
    pub env: Vec<EnvGrant>,
    /// `host:port` patterns handlers may connect to (`*` as a port or a
    /// leading `*.` label is a wildcard).
    pub network: Vec<String>,
    /// Ceilings on the limits a command may ask for.
    pub limits: LimitsSpec,
}

/// One directory a role grants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirGrant {
    /// Absolute host path (relative paths are resolved against the config
    /// file's folder).
    pub host: PathBuf,
    /// The path the guest sees.
    pub guest: String,
    /// Whether the guest may write.
    pub access: Access,
}

/// Access mode of a granted directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Read only (the default).
    ReadOnly,
    /// Read and write.
    ReadWrite,
}

/// One environment variable a role grants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnvGrant {
    /// Passed through from the server's environment by name.
    Inherit(String),
    /// A fixed value.
    Fixed(String, String),
}

impl EnvGrant {
    /// The variable's name.
    pub fn name(&self) -> &str {
        match self {
            EnvGrant::Inherit(name) | EnvGrant::Fixed(name, _) => name,
        }
    }
}

/// A named set of roles.
#[derive(Debug, Clone)]
pub struct Group {
    /// The group's name.
    pub name: String,
    /// Role ids.
    pub roles: Vec<String>,
    /// Where it was defined.
    pub span: Span,
}

/// A known person.
#[derive(Debug, Clone)]
pub struct User {
    /// The user's id: their Messenger page-scoped id in the original format.
    pub id: String,
    /// Display name. Default: the id.
    pub name: String,
    /// Role ids held directly.
    pub roles: Vec<String>,
    /// Group names.
    pub groups: Vec<String>,
    /// Where it was defined.
    pub span: Span,
}

/// A conversation state.
#[derive(Debug, Clone)]
pub struct State {
    /// The state's id.
    pub id: String,
    /// What the bot says on entering it.
    pub message: String,
    /// Permissions all required to enter.
    pub permissions: Vec<String>,
    /// Command ids listed under `commands` (accepted, unused).
    pub commands: Vec<String>,
    /// The command run on free text in this state.
    pub default_handler: Option<String>,
    /// Where it was defined.
    pub span: Span,
}

/// An event: a button and the text that fires it.
#[derive(Debug, Clone)]
pub struct Event {
    /// The event's id: the button payload and the text a user may type.
    pub id: String,
    /// Button title. Default: the id.
    pub message: String,
    /// Button order; ties keep file order. Default: 0.
    pub order_id: i64,
    /// Where it was defined.
    pub span: Span,
}

/// A move from any of `src` to `dst` when `event` fires.
#[derive(Debug, Clone)]
pub struct Transition {
    /// The event id.
    pub event: String,
    /// Source state ids.
    pub src: Vec<String>,
    /// Destination state id.
    pub dst: String,
    /// Where it was defined.
    pub span: Span,
}
