//! Raw YAML tree → validated [`Config`](super::Config).
//!
//! Loading never stops at the first problem: every error and warning is
//! collected with its position, so `sandbot check` can show them all at
//! once. A config with any error is refused as a whole.
//!
//! The two documents of the original format (RBAC and conversation) may
//! come in either order, or be merged into one document; top-level keys are
//! looked up across all documents.

use std::collections::{HashMap, HashSet, VecDeque};

use std::path::{Path, PathBuf};
use std::time::Duration;

use indexmap::IndexMap;
use regex::Regex;

use super::Span;
use super::model::*;
use super::yaml::{self, Node, NodeKind};

/// How serious a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
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

impl Diagnostic {
    /// Format as `path:line:col: error: message`.
    pub fn render(&self, path: &Path) -> String {
        let level = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        match self.span {
            // Line 0: a problem with the file as a whole.
            Span { line: 0, .. } => format!("{}: {level}: {}", path.display(), self.message),
            Span { line, col } => {
                format!("{}:{line}:{col}: {level}: {}", path.display(), self.message)
            }
        }
    }
}

/// A config that failed to load.
#[derive(Debug, thiserror::Error)]
#[error("invalid config {}", path.display())]
pub struct LoadError {
    /// The file.
    pub path: PathBuf,
    /// Errors and warnings, in file order.
    pub diagnostics: Vec<Diagnostic>,
}

impl LoadError {
    /// Every diagnostic as a `path:line:col: level: message` line.
    pub fn render(&self) -> String {
        let lines: Vec<String> = self
            .diagnostics
            .iter()
            .map(|d| d.render(&self.path))
            .collect();
        lines.join("\n")
    }
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
pub fn load(path: &Path) -> Result<Loaded, LoadError> {
    match std::fs::read_to_string(path) {
        Ok(text) => load_str(&text, path),
        Err(e) => Err(LoadError {
            path: path.to_path_buf(),
            diagnostics: vec![Diagnostic {
                severity: Severity::Error,
                span: Span::default(),
                message: format!("failed to read config: {e}"),
            }],
        }),
    }
}

/// Load and validate config text; `path` is used for messages and to
/// resolve relative paths.
pub fn load_str(text: &str, path: &Path) -> Result<Loaded, LoadError> {
    let mut loader = Loader::new(path);
    let config = match yaml::parse(text) {
        Ok(documents) => Some(loader.config(&documents)),
        Err(e) => {
            loader.error(e.span, e.message);
            None
        }
    };
    let mut diagnostics = loader.diagnostics;
    diagnostics.sort_by_key(|d| (d.span, d.severity));
    match config {
        Some(config) if !diagnostics.iter().any(|d| d.severity == Severity::Error) => Ok(Loaded {
            config,
            warnings: diagnostics,
        }),
        _ => Err(LoadError {
            path: path.to_path_buf(),
            diagnostics,
        }),
    }
}

/// Keys of the RBAC document.
const RBAC_KEYS: [&str; 5] = ["permissions", "roles", "commands", "groups", "users"];
/// Keys of the conversation document.
const CONVERSATION_KEYS: [&str; 5] = [
    "states",
    "events",
    "statemachine",
    "initialState",
    "getStartedEvent",
];
/// The longest handler timeout a config may ask for.
const MAX_TIMEOUT: Duration = Duration::from_secs(24 * 60 * 60);
/// Messenger shows at most this many quick replies.
const MESSENGER_MAX_BUTTONS: usize = 13;
/// Messenger cuts quick-reply titles longer than this.
const MESSENGER_MAX_TITLE: usize = 20;

/// The kinds of object a reference can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Permission,
    Role,
    Command,
    Group,
    User,
    State,
    Event,
}

impl Kind {
    /// The word used in messages.
    fn word(self) -> &'static str {
        match self {
            Kind::Permission => "permission",
            Kind::Role => "role",
            Kind::Command => "command",
            Kind::Group => "group",
            Kind::User => "user",
            Kind::State => "state",
            Kind::Event => "event",
        }
    }

    /// The id written in an object of this kind, if any.
    fn id_of(self, node: &Node) -> Option<&str> {
        self.id_keys()
            .iter()
            .find_map(|k| node.get(k))
            .and_then(Node::as_str)
    }

    /// The fields that hold an object's id, in order of preference.
    fn id_keys(self) -> &'static [&'static str] {
        match self {
            Kind::Permission => &["idstr", "id"],
            Kind::Group => &["name"],
            _ => &["id"],
        }
    }
}

/// Walks the YAML tree, building the model and collecting diagnostics.
struct Loader {
    /// The config file, for messages.
    path: PathBuf,
    /// Folder relative paths are resolved against.
    base: PathBuf,
    /// Everything found so far.
    diagnostics: Vec<Diagnostic>,
    /// References seen so far, checked once every object is known.
    refs: Vec<Ref>,
    /// Every id written in the config, per kind, even of objects that had
    /// errors, so one mistake is reported once and not again at each use.
    defined: HashMap<&'static str, HashSet<String>>,
}

impl Loader {
    /// A loader for the config at `path`.
    fn new(path: &Path) -> Loader {
        let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let base = if base.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            base
        };
        Loader {
            path: path.to_path_buf(),
            base,
            diagnostics: Vec::new(),
            refs: Vec::new(),
            defined: HashMap::new(),
        }
    }

    /// Record an error.
    fn error(&mut self, span: Span, message: impl Into<String>) {
        let message = message.into();
        self.diagnostics.push(Diagnostic {
            severity: Severity::Error,
            span,
            message,
        });
    }

    /// Record a warning.
    fn warn(&mut self, span: Span, message: impl Into<String>) {
        let message = message.into();
        self.diagnostics.push(Diagnostic {
            severity: Severity::Warning,
            span,
            message,
        });
    }

    /// Build the whole config from its documents.
    fn config(&mut self, documents: &[Node]) -> Config {
        let top = self.top_level(documents);
        let get = |key: &str| top.get(key).copied();
        let permissions = self.objects(get("permissions"), Kind::Permission, Self::permission);
        let roles = self.objects(get("roles"), Kind::Role, Self::role);
        let commands = self.objects(get("commands"), Kind::Command, Self::command);
        let groups = self.objects(get("groups"), Kind::Group, Self::group);
        let users = self.objects(get("users"), Kind::User, Self::user);
        let states = self.objects(get("states"), Kind::State, Self::state);
        let events = self.objects(get("events"), Kind::Event, Self::event);
        let transitions = self.list(get("statemachine"), "statemachine", Self::transition);
        let initial_state = self.optional_string(get("initialState"), "Initial");
        let get_started_event = self.optional_string(get("getStartedEvent"), "GetStarted");
        let config = Config {
            path: self.path.clone(),
            permissions,
            roles,
            commands,
            groups,
            users,
            states,
            events,
            transitions,
            initial_state,
            get_started_event,
        };
        self.check_references();
        self.check_conversation(&config, &top);
        config
    }

    /// Every top-level key across all documents; duplicates are errors.
    fn top_level<'a>(&mut self, documents: &'a [Node]) -> IndexMap<String, &'a Node> {
        let mut top: IndexMap<String, &Node> = IndexMap::new();
        for doc in documents {
            if doc.is_null() {
                continue;
            }
            let NodeKind::Map(entries) = &doc.kind else {
                self.error(
                    doc.span,
                    format!("expected a mapping at the top, found {}", doc.kind_name()),
                );
                continue;
            };
            for (key, value) in entries {
                let name = key.as_str().unwrap_or_default().to_string();
                if !RBAC_KEYS.contains(&name.as_str())
                    && !CONVERSATION_KEYS.contains(&name.as_str())
                {
                    let all: Vec<&str> = RBAC_KEYS
                        .iter()
                        .chain(&CONVERSATION_KEYS)
                        .copied()
                        .collect();
                    let hint = suggest(&name, &all);
                    self.warn(key.span, format!("unknown key `{name}` (ignored){hint}"));
                    continue;
                }
                if let Some(first) = top.get(&name) {
                    let line = first.span.line;
                    self.error(
                        key.span,
                        format!("duplicate top-level key `{name}` (first at line {line})"),
                    );
                    continue;
                }
                top.insert(name, value);
            }
        }
        top
    }

    /// A list of objects keyed by id; duplicate ids are errors.
    fn objects<T>(
        &mut self,
        node: Option<&Node>,
        kind: Kind,
        build: fn(&mut Self, &Node) -> Option<(String, T)>,
    ) -> IndexMap<String, T>
    where
        T: HasSpan,
    {
        let mut out: IndexMap<String, T> = IndexMap::new();
        let key = plural(kind);
        for item in self.items(node, key) {
            if let Some(id) = kind.id_of(item) {
                self.defined.entry(key).or_default().insert(id.to_string());
            }
            let Some((id, value)) = build(self, item) else {
                continue;
            };
            if let Some(first) = out.get(&id) {
                let line = first.span().line;
                let word = kind.word();
                self.error(
                    item.span,
                    format!("duplicate {word} id \"{id}\" (first defined at line {line})"),
                );
                continue;
            }
            out.insert(id, value);
        }
        out
    }

    /// A plain list of items.
    fn list<T>(
        &mut self,
        node: Option<&Node>,
        key: &str,
        build: fn(&mut Self, &Node) -> Option<T>,
    ) -> Vec<T> {
        let items: Vec<&Node> = self.items(node, key);
        items
            .into_iter()
            .filter_map(|item| build(self, item))
            .collect()
    }

    /// The items of a top-level list (absent or null means empty).
    fn items<'a>(&mut self, node: Option<&'a Node>, key: &str) -> Vec<&'a Node> {
        match node {
            None => Vec::new(),
            Some(n) if n.is_null() => Vec::new(),
            Some(Node {
                kind: NodeKind::Seq(items),
                ..
            }) => items.iter().collect(),
            Some(n) => {
                self.error(
                    n.span,
                    format!("`{key}` must be a list, found {}", n.kind_name()),
                );
                Vec::new()
            }
        }
    }

    /// The entries of an object, warning about keys not in `known`.
    fn fields<'a>(&mut self, node: &'a Node, what: &str, known: &[&str]) -> Option<Fields<'a>> {
        let NodeKind::Map(entries) = &node.kind else {
            self.error(
                node.span,
                format!("expected a {what} mapping, found {}", node.kind_name()),
            );
            return None;
        };
        let mut fields = Fields {
            span: node.span,
            map: HashMap::new(),
        };
        for (key, value) in entries {
            let name = key.as_str().unwrap_or_default();
            if !known.contains(&name) {
                let hint = suggest(name, known);
                self.warn(
                    key.span,
                    format!("unknown key `{name}` in {what} (ignored){hint}"),
                );
            } else if fields.map.insert(name.to_string(), value).is_some() {
                self.error(key.span, format!("duplicate key `{name}` in {what}"));
            }
        }
        Some(fields)
    }

    /// A required string field.
    fn required(&mut self, f: &Fields, keys: &[&str], what: &str) -> Option<String> {
        match keys.iter().find_map(|k| f.map.get(*k)) {
            Some(node) => self.string(node, keys[0]),
            None => {
                self.error(f.span, format!("{what} has no `{}`", keys[0]));
                None
            }
        }
    }

    /// A scalar as a string.
    fn string(&mut self, node: &Node, key: &str) -> Option<String> {
        match node.as_str() {
            Some(s) if !node.is_null() => Some(s.to_string()),
            _ => {
                self.error(
                    node.span,
                    format!("`{key}` must be text, found {}", node.kind_name()),
                );
                None
            }
        }
    }

    /// An optional string field with a default.
    fn optional_string(&mut self, node: Option<&Node>, default: &str) -> String {
        node.and_then(|n| self.string(n, "value"))
            .unwrap_or_else(|| default.to_string())
    }

    /// An optional boolean field.
    fn boolean(&mut self, f: &Fields, key: &str) -> bool {
        let Some(node) = f.map.get(key) else {
            return false;
        };
        match node.as_str() {
            Some("true" | "True" | "TRUE" | "yes") => true,
            Some("false" | "False" | "FALSE" | "no") => false,
            _ if node.is_null() => false,
            _ => {
                self.error(node.span, format!("`{key}` must be true or false"));
                false
            }
        }
    }

    /// An optional integer field.
    fn integer(&mut self, f: &Fields, key: &str) -> Option<i64> {
        let node = f.map.get(key)?;
        match node.as_str().map(|s| s.trim().parse::<i64>()) {
            Some(Ok(n)) => Some(n),
            _ => {
                self.error(node.span, format!("`{key}` must be a whole number"));
                None
            }
        }
    }

    /// A reference: an alias to an object, or its id as a string. Checked
    /// against the defined ids later, in [`Self::check_references`].
    fn reference(&mut self, node: &Node, kind: Kind) -> Option<Ref> {
        let id = match &node.kind {
            NodeKind::Map(_) => kind.id_of(node),
            NodeKind::Scalar { .. } if !node.is_null() => node.as_str(),
            _ => None,
        };
        match id {
            Some(id) => {
                let r = Ref {
                    id: id.to_string(),
                    span: node.span,
                    kind,
                };
                self.refs.push(r.clone());
                Some(r)
            }
            None => {
                let word = kind.word();
                self.error(
                    node.span,
                    format!(
                        "expected a {word} (an alias or its id), found {}",
                        node.kind_name()
                    ),
                );
                None
            }
        }
    }

    /// A list of references (a single reference is accepted too).
    fn references(&mut self, f: &Fields, key: &str, kind: Kind) -> Vec<String> {
        let Some(node) = f.map.get(key) else {
            return Vec::new();
        };
        let items: Vec<&Node> = match &node.kind {
            NodeKind::Seq(items) => items.iter().collect(),
            _ if node.is_null() => Vec::new(),
            _ => vec![node],
        };
        let refs: Vec<Ref> = items
            .into_iter()
            .filter_map(|n| self.reference(n, kind))
            .collect();
        refs.into_iter().map(|r| r.id).collect()
    }

    /// One permission.
    fn permission(&mut self, node: &Node) -> Option<(String, Permission)> {
        let f = self.fields(node, "permission", &["idstr", "id", "description"])?;
        let id = self.required(&f, &["idstr", "id"], "permission")?;
        Some((
            id.clone(),
            Permission {
                id,
                span: node.span,
            },
        ))
    }

    /// One role.
    fn role(&mut self, node: &Node) -> Option<(String, Role)> {
        let f = self.fields(
            node,
            "role",
            &["id", "permissions", "grants", "description"],
        )?;
        let id = self.required(&f, &["id"], "role")?;
        let permissions = self.references(&f, "permissions", Kind::Permission);
        let grants = f
            .map
            .get("grants")
            .map(|g| self.grants(g))
            .unwrap_or_default();
        Some((
            id.clone(),
            Role {
                id,
                permissions,
                grants,
                span: node.span,
            },
        ))
    }
}

/// Something defined at a position.
trait HasSpan {
    /// Where it was defined.
    fn span(&self) -> Span;
}

macro_rules! has_span {
    ($($t:ty),*) => {
        $(impl HasSpan for $t {
            fn span(&self) -> Span {
                self.span
            }
        })*
    };
}
has_span!(Permission, Role, Command, Group, User, State, Event);

/// The known fields of one object.
struct Fields<'a> {
    /// Where the object starts.
    span: Span,
    /// Field name → value.
    map: HashMap<String, &'a Node>,
}

/// A reference waiting to be checked.
#[derive(Debug, Clone)]
struct Ref {
    /// The id it names.
    id: String,
    /// Where it is written.
    span: Span,
    /// What it should name.
    kind: Kind,
}

/// The top-level key holding objects of a kind.
fn plural(kind: Kind) -> &'static str {
    match kind {
        Kind::Permission => "permissions",
        Kind::Role => "roles",
        Kind::Command => "commands",
        Kind::Group => "groups",
        Kind::User => "users",
        Kind::State => "states",
        Kind::Event => "events",
    }
}

/// Commands, groups, users and their parts.
impl Loader {
    /// One command.
    fn command(&mut self, node: &Node) -> Option<(String, Command)> {
        const KNOWN: &[&str] = &[
            "id",
            "prettyName",
            "cmd",
            "wasm",
            "permissions",
            "approvedBy",
            "showCmdOutput",
            "onSuccess",
            "limits",
            "input",
            "needs",
            "description",
        ];
        let f = self.fields(node, "command", KNOWN)?;
        let id = self.required(&f, &["id"], "command")?;
        let run = self.runnable(&f, &id);
        let permissions = self.references(&f, "permissions", Kind::Permission);
        let approved_by = f.map.get("approvedBy").and_then(|n| {
            if n.is_null() {
                None
            } else {
                self.reference(n, Kind::Role).map(|r| r.id)
            }
        });
        let pretty_name = match f.map.get("prettyName") {
            Some(n) => self.string(n, "prettyName").unwrap_or_else(|| id.clone()),
            None => id.clone(),
        };
        // Every field is read before giving up on a bad `cmd`/`wasm`, so
        // all of a command's mistakes are reported at once.
        let show_cmd_output = self.boolean(&f, "showCmdOutput");
        let on_success = f
            .map
            .get("onSuccess")
            .and_then(|n| self.string(n, "onSuccess"));
        let limits = f
            .map
            .get("limits")
            .map(|n| self.limits(n))
            .unwrap_or_default();
        let input = f
            .map
            .get("input")
            .map(|n| self.input_rules(n))
            .unwrap_or_default();
        let needs = f
            .map
            .get("needs")
            .map(|n| self.needs(n))
            .unwrap_or_default();
        let command = Command {
            id: id.clone(),
            pretty_name,
            run: run?,
            permissions,
            approved_by,
            show_cmd_output,
            on_success,
            limits,
            input,
            needs,
            span: node.span,
        };
        Some((id, command))
    }

    /// How a command runs: exactly one of `cmd` and `wasm`.
    fn runnable(&mut self, f: &Fields, id: &str) -> Option<Runnable> {
        match (f.map.get("cmd"), f.map.get("wasm")) {
            (Some(_), Some(wasm)) => {
                self.error(
                    wasm.span,
                    format!("command \"{id}\" has both `cmd` and `wasm`; pick one"),
                );
                None
            }
            (None, None) => {
                self.error(
                    f.span,
                    format!("command \"{id}\" has neither `cmd` nor `wasm`"),
                );
                None
            }
            (Some(cmd), None) => {
                let script = self.string(cmd, "cmd")?;
                Some(Runnable::Shell { script })
            }
            (None, Some(wasm)) => self.wasm(wasm),
        }
    }

    /// `wasm: path` or `wasm: {module: path}`.
    fn wasm(&mut self, node: &Node) -> Option<Runnable> {
        let module_node = match &node.kind {
            NodeKind::Map(_) => {
                let f = self.fields(node, "wasm", &["module"])?;
                match f.map.get("module") {
                    Some(m) => *m,
                    None => {
                        self.error(node.span, "`wasm` has no `module`");
                        return None;
                    }
                }
            }
            _ => node,
        };
        let module = self.path(module_node, "module")?;
        if !module.is_file() {
            let shown = module.display();
            self.error(
                module_node.span,
                format!("wasm module {shown} does not exist"),
            );
            return None;
        }
        Some(Runnable::Wasm { module })
    }

    /// A path relative to the config file's folder.
    fn path(&mut self, node: &Node, key: &str) -> Option<PathBuf> {
        let text = self.string(node, key)?;
        Some(tidy(&self.base.join(text)))
    }

    /// `limits: {timeout, fuel, memory, output}`.
    fn limits(&mut self, node: &Node) -> LimitsSpec {
        let Some(f) = self.fields(node, "limits", &["timeout", "fuel", "memory", "output"]) else {
            return LimitsSpec::default();
        };
        LimitsSpec {
            timeout: f.map.get("timeout").and_then(|n| self.duration(n)),
            fuel: self
                .integer(&f, "fuel")
                .and_then(|n| self.non_negative(&f, "fuel", n)),
            memory: f.map.get("memory").and_then(|n| self.bytes(n, "memory")),
            output: f.map.get("output").and_then(|n| self.bytes(n, "output")),
        }
    }

    /// A non-negative number as u64.
    fn non_negative(&mut self, f: &Fields, key: &str, n: i64) -> Option<u64> {
        let value = u64::try_from(n).ok();
        if value.is_none() {
            let span = f.map.get(key).map(|n| n.span).unwrap_or(f.span);
            self.error(span, format!("`{key}` must not be negative"));
        }
        value
    }

    /// A duration such as `5s` or `1m 30s`.
    fn duration(&mut self, node: &Node) -> Option<Duration> {
        let text = node.as_str().unwrap_or_default();
        match humantime::parse_duration(text.trim()) {
            Ok(d) if d > MAX_TIMEOUT => {
                self.error(node.span, "`timeout` must be at most 24h");
                None
            }
            Ok(d) if !d.is_zero() => Some(d),
            Ok(_) => {
                self.error(node.span, "`timeout` must be longer than zero");
                None
            }
            Err(e) => {
                tracing::debug!(error = %e, "bad duration");
                self.error(
                    node.span,
                    "`timeout` is not a duration like `5s` or `1m 30s`",
                );
                None
            }
        }
    }

    /// A size such as `32MiB` or `16KiB` (a bare number is bytes).
    fn bytes(&mut self, node: &Node, key: &str) -> Option<u64> {
        let text = node.as_str().unwrap_or_default().trim();
        match text.parse::<bytesize::ByteSize>() {
            Ok(size) => Some(size.as_u64()),
            Err(_) => {
                self.error(node.span, format!("`{key}` is not a size like `32MiB`"));
                None
            }
        }
    }

    /// `input: {pattern, maxLength}`.
    fn input_rules(&mut self, node: &Node) -> InputRules {
        let Some(f) = self.fields(node, "input", &["pattern", "maxLength"]) else {
            return InputRules::default();
        };
        let max_length = self
            .integer(&f, "maxLength")
            .and_then(|n| self.non_negative(&f, "maxLength", n))
            .map(|n| n as usize);
        let Some(pattern_node) = f.map.get("pattern") else {
            return InputRules {
                max_length,
                ..InputRules::default()
            };
        };
        let text = self.string(pattern_node, "pattern");
        // The whole input must match, so anchor both ends.
        let pattern = text
            .as_ref()
            .and_then(|t| match Regex::new(&format!("^(?:{t})$")) {
                Ok(re) => Some(re),
                Err(e) => {
                    let text = e.to_string();
                    let last = text.lines().last().unwrap_or_default();
                    let first = last.trim_start_matches("error: ").to_string();
                    self.error(
                        pattern_node.span,
                        format!("`pattern` is not a valid regex: {first}"),
                    );
                    None
                }
            });
        InputRules {
            pattern,
            pattern_text: text,
            max_length,
        }
    }

    /// `needs: {dirs, env, network}`.
    fn needs(&mut self, node: &Node) -> Needs {
        let Some(f) = self.fields(node, "needs", &["dirs", "env", "network"]) else {
            return Needs::default();
        };
        Needs {
            dirs: self.strings(&f, "dirs"),
            env: self.strings(&f, "env"),
            network: self.strings(&f, "network"),
        }
    }

    /// A list of strings (absent means empty).
    fn strings(&mut self, f: &Fields, key: &str) -> Vec<String> {
        let Some(node) = f.map.get(key) else {
            return Vec::new();
        };
        match &node.kind {
            NodeKind::Seq(items) => items.iter().filter_map(|n| self.string(n, key)).collect(),
            _ if node.is_null() => Vec::new(),
            _ => {
                self.error(node.span, format!("`{key}` must be a list"));
                Vec::new()
            }
        }
    }

    /// `grants: {dirs, env, network, limits}` on a role.
    fn grants(&mut self, node: &Node) -> Grants {
        let Some(f) = self.fields(node, "grants", &["dirs", "env", "network", "limits"]) else {
            return Grants::default();
        };
        let dirs = match f.map.get("dirs") {
            Some(Node {
                kind: NodeKind::Seq(items),
                ..
            }) => items.iter().filter_map(|n| self.dir_grant(n)).collect(),
            Some(n) if !n.is_null() => {
                self.error(n.span, "`dirs` must be a list");
                Vec::new()
            }
            _ => Vec::new(),
        };
        let env = self.strings(&f, "env").into_iter().map(env_grant).collect();
        Grants {
            dirs,
            env,
            network: self.strings(&f, "network"),
            limits: f
                .map
                .get("limits")
                .map(|n| self.limits(n))
                .unwrap_or_default(),
        }
    }

    /// One granted directory.
    fn dir_grant(&mut self, node: &Node) -> Option<DirGrant> {
        let f = self.fields(node, "directory grant", &["host", "guest", "access"])?;
        let Some(host_node) = f.map.get("host").copied() else {
            self.error(f.span, "directory grant has no `host`");
            return None;
        };
        let host = self.path(host_node, "host")?;
        let guest = self.required(&f, &["guest"], "directory grant")?;
        if !guest.starts_with('/') {
            let span = f.map.get("guest").map(|n| n.span).unwrap_or(f.span);
            self.error(span, format!("guest path \"{guest}\" must be absolute"));
        }
        let access = match f.map.get("access").and_then(|n| n.as_str()) {
            None | Some("read-only") => Access::ReadOnly,
            Some("read-write") => Access::ReadWrite,
            Some(other) => {
                let span = f.map["access"].span;
                self.error(
                    span,
                    format!("`access` must be read-only or read-write, not \"{other}\""),
                );
                Access::ReadOnly
            }
        };
        Some(DirGrant {
            host,
            guest,
            access,
        })
    }

    /// One group.
    fn group(&mut self, node: &Node) -> Option<(String, Group)> {
        let f = self.fields(node, "group", &["name", "roles", "description"])?;
        let name = self.required(&f, &["name"], "group")?;
        let roles = self.references(&f, "roles", Kind::Role);
        Some((
            name.clone(),
            Group {
                name,
                roles,
                span: node.span,
            },
        ))
    }

    /// One user.
    fn user(&mut self, node: &Node) -> Option<(String, User)> {
        let f = self.fields(node, "user", &["id", "name", "roles", "groups"])?;
        let id = self.required(&f, &["id"], "user")?;
        let name = match f.map.get("name") {
            Some(n) => self.string(n, "name").unwrap_or_else(|| id.clone()),
            None => id.clone(),
        };
        let roles = self.references(&f, "roles", Kind::Role);
        let groups = self.references(&f, "groups", Kind::Group);
        Some((
            id.clone(),
            User {
                id,
                name,
                roles,
                groups,
                span: node.span,
            },
        ))
    }
}

/// `; did you mean `x`?` when a known key is close to `name`, else "".
fn suggest(name: &str, known: &[&str]) -> String {
    let distance = |k: &&&str| strsim::levenshtein(&name.to_lowercase(), &k.to_lowercase());
    match known.iter().min_by_key(distance) {
        Some(k) if distance(&k) <= 2 => format!("; did you mean `{k}`?"),
        _ => String::new(),
    }
}

/// `a/./b/../c` as `a/c`, without touching the file system, so messages
/// show paths as a person would write them.
fn tidy(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            Component::CurDir => {}
            Component::ParentDir
                if matches!(out.components().next_back(), Some(Component::Normal(_))) =>
            {
                out.pop();
            }
            other => out.push(other),
        }
    }
    if out.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        out
    }
}

/// `NAME` passes a variable through; `NAME=value` fixes its value.
fn env_grant(text: String) -> EnvGrant {
    match text.split_once('=') {
        Some((name, value)) => EnvGrant::Fixed(name.to_string(), value.to_string()),
        None => EnvGrant::Inherit(text),
    }
}

/// The conversation and whole-config checks.
impl Loader {
    /// One state.
    fn state(&mut self, node: &Node) -> Option<(String, State)> {
        const KNOWN: &[&str] = &["id", "message", "permissions", "commands", "defaultHandler"];
        let f = self.fields(node, "state", KNOWN)?;
        let id = self.required(&f, &["id"], "state")?;
        let message = match f.map.get("message") {
            Some(n) => self.string(n, "message").unwrap_or_default(),
            None => String::new(),
        };
        let permissions = self.references(&f, "permissions", Kind::Permission);
        let commands = self.references(&f, "commands", Kind::Command);
        let default_handler = f.map.get("defaultHandler").and_then(|n| {
            if n.is_null() {
                None
            } else {
                self.reference(n, Kind::Command).map(|r| r.id)
            }
        });
        let state = State {
            id: id.clone(),
            message,
            permissions,
            commands,
            default_handler,
            span: node.span,
        };
        Some((id, state))
    }

    /// One event.
    fn event(&mut self, node: &Node) -> Option<(String, Event)> {
        let f = self.fields(node, "event", &["id", "message", "orderID"])?;
        let id = self.required(&f, &["id"], "event")?;
        let message = match f.map.get("message") {
            Some(n) => self.string(n, "message").unwrap_or_else(|| id.clone()),
            None => id.clone(),
        };
        let order_id = self.integer(&f, "orderID").unwrap_or(0);
        Some((
            id.clone(),
            Event {
                id,
                message,
                order_id,
                span: node.span,
            },
        ))
    }

    /// One transition.
    fn transition(&mut self, node: &Node) -> Option<Transition> {
        let f = self.fields(node, "transition", &["name", "src", "dst"])?;
        let event = match f.map.get("name") {
            Some(n) => self.reference(n, Kind::Event).map(|r| r.id),
            None => {
                self.error(f.span, "transition has no `name` (its event)");
                None
            }
        };
        let src = self.references(&f, "src", Kind::State);
        if src.is_empty() {
            self.error(f.span, "transition has no `src` states");
        }
        let dst = match f.map.get("dst") {
            Some(n) => self.reference(n, Kind::State).map(|r| r.id),
            None => {
                self.error(f.span, "transition has no `dst` state");
                None
            }
        };
        Some(Transition {
            event: event?,
            src,
            dst: dst?,
            span: node.span,
        })
    }

    /// Every reference names an object that is defined.
    fn check_references(&mut self) {
        let refs = std::mem::take(&mut self.refs);
        for r in refs {
            let defined = self
                .defined
                .get(plural(r.kind))
                .is_some_and(|ids| ids.contains(&r.id));
            if !defined {
                let (word, id) = (r.kind.word(), &r.id);
                self.error(r.span, format!("unknown {word} \"{id}\""));
            }
        }
    }

    /// Start state, Get Started event, reachability, dead ends and
    /// Messenger's limits.
    fn check_conversation(&mut self, config: &Config, top: &IndexMap<String, &Node>) {
        let start_span = top
            .get("initialState")
            .map(|n| n.span)
            .unwrap_or(Span { line: 1, col: 1 });
        if !config.states.contains_key(&config.initial_state) && !config.states.is_empty() {
            let id = &config.initial_state;
            self.error(
                start_span,
                format!("start state \"{id}\" is not defined (set `initialState`)"),
            );
            return;
        }
        if let Some(node) = top.get("getStartedEvent")
            && !config.events.contains_key(&config.get_started_event)
        {
            let id = &config.get_started_event;
            self.error(
                node.span,
                format!("unknown event \"{id}\" in `getStartedEvent`"),
            );
        }
        self.warn_unreachable(config);
        self.warn_dead_ends(config);
        self.warn_messenger_limits(config);
    }

    /// States no transition path reaches from the start state.
    fn warn_unreachable(&mut self, config: &Config) {
        let mut seen: HashSet<&str> = HashSet::from([config.initial_state.as_str()]);
        let mut queue = VecDeque::from([config.initial_state.as_str()]);
        while let Some(state) = queue.pop_front() {
            let next = config
                .transitions
                .iter()
                .filter(|t| t.src.iter().any(|s| s == state));
            for t in next {
                if seen.insert(t.dst.as_str()) {
                    queue.push_back(t.dst.as_str());
                }
            }
        }
        for state in config
            .states
            .values()
            .filter(|s| !seen.contains(s.id.as_str()))
        {
            let (id, start) = (&state.id, &config.initial_state);
            self.warn(
                state.span,
                format!("state \"{id}\" cannot be reached from \"{start}\""),
            );
        }
    }

    /// States with no way out and nothing to do.
    fn warn_dead_ends(&mut self, config: &Config) {
        for state in config.states.values() {
            let has_exit = config.transitions.iter().any(|t| t.src.contains(&state.id));
            if !has_exit && state.default_handler.is_none() {
                let id = &state.id;
                self.warn(
                    state.span,
                    format!("state \"{id}\" is a dead end: no events lead out of it"),
                );
            }
        }
    }

    /// More buttons, or longer titles, than Messenger shows.
    fn warn_messenger_limits(&mut self, config: &Config) {
        for state in config.states.values() {
            let events: HashSet<&str> = config
                .transitions
                .iter()
                .filter(|t| t.src.contains(&state.id))
                .map(|t| t.event.as_str())
                .collect();
            if events.len() > MESSENGER_MAX_BUTTONS {
                let (id, n) = (&state.id, events.len());
                self.warn(state.span, format!("state \"{id}\" has {n} buttons; Messenger shows the first {MESSENGER_MAX_BUTTONS}"));
            }
        }
        for event in config.events.values() {
            let chars = event.message.chars().count();
            if chars > MESSENGER_MAX_TITLE {
                let title = &event.message;
                self.warn(event.span, format!("button title \"{title}\" has {chars} characters; Messenger cuts it to {MESSENGER_MAX_TITLE}"));
            }
        }
    }
}
