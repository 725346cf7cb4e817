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

use crate::config::{Access, EnvGrant, Grants, LimitsSpec, Needs, Role};

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


impl Limits {
    /// The limits for a run: the command's requests, filled from the
    /// defaults, then capped by the principal's roles. For each limit the
    /// most generous ceiling among the roles that set one applies; when no
    /// role sets one, the request stands.
    pub fn effective(requested: &LimitsSpec, roles: &[&Role]) -> Limits {
        let d = Limits::default();
        let ceiling = |f: fn(&LimitsSpec) -> Option<u64>| {
            roles.iter().filter_map(|r| f(&r.grants.limits)).max()
        };
        let cap = |value: u64, f: fn(&LimitsSpec) -> Option<u64>| match ceiling(f) {
            Some(c) => value.min(c),
            None => value,
        };
        let timeout_ms = requested.timeout.unwrap_or(d.timeout).as_millis() as u64;
        let timeout_ms = cap(timeout_ms, |l| l.timeout.map(|t| t.as_millis() as u64));
        Limits {
            timeout: Duration::from_millis(timeout_ms),
            fuel: cap(requested.fuel.unwrap_or(d.fuel), |l| l.fuel),
            memory: cap(requested.memory.unwrap_or(d.memory), |l| l.memory),
            output: cap(requested.output.unwrap_or(d.output), |l| l.output),
        }
    }
}

impl Capabilities {
    /// What a run may use: the command's `needs`, each kept only where one
    /// of the principal's roles grants it. `env` reads pass-through values
    /// from `server_env` (the server's own environment in production).
    pub fn effective(
        needs: &Needs,
        roles: &[&Role],
        server_env: &dyn Fn(&str) -> Option<String>,
    ) -> Capabilities {
        let grants: Vec<&Grants> = roles.iter().map(|r| &r.grants).collect();
        Capabilities {
            dirs: needs.dirs.iter().filter_map(|g| granted_dir(g, &grants)).collect(),
            env: needs.env.iter().filter_map(|n| granted_env(n, &grants, server_env)).collect(),
            network: needs.network.iter().filter_map(|n| granted_host(n, &grants)).collect(),
        }
    }
}

/// What a command needs that none of `roles` grants, as `kind value`
/// phrases (`dir /data`, `env TOKEN`, `network api.example.com:443`).
pub fn ungranted(needs: &Needs, roles: &[&Role]) -> Vec<String> {
    let grants: Vec<&Grants> = roles.iter().map(|r| &r.grants).collect();
    let mut missing = Vec::new();
    for dir in needs.dirs.iter().filter(|d| granted_dir(d, &grants).is_none()) {
        missing.push(format!("dir {dir}"));
    }
    let any_env = |name: &str| grants.iter().any(|g| g.env.iter().any(|e| e.name() == name));
    for name in needs.env.iter().filter(|n| !any_env(n)) {
        missing.push(format!("env {name}"));
    }
    for host in needs.network.iter().filter(|h| granted_host(h, &grants).is_none()) {
        missing.push(format!("network {host}"));
    }
    missing
}

/// The grant for a guest path; read-write wins over read-only.
fn granted_dir(guest: &str, grants: &[&Grants]) -> Option<DirCapability> {
    let guest = guest.trim_end_matches('/');
    let matching = grants.iter().flat_map(|g| &g.dirs).filter(|d| d.guest.trim_end_matches('/') == guest);
    let best = matching.max_by_key(|d| d.access == Access::ReadWrite)?;
    Some(DirCapability { host: best.host.clone(), guest: best.guest.clone(), access: best.access })
}

/// The value of a granted variable; fixed values win over pass-through.
fn granted_env(
    name: &str,
    grants: &[&Grants],
    server_env: &dyn Fn(&str) -> Option<String>,
) -> Option<(String, String)> {
    let all = grants.iter().flat_map(|g| &g.env).filter(|e| e.name() == name);
    let mut inherit = false;
    for grant in all {
        match grant {
            EnvGrant::Fixed(n, v) => return Some((n.clone(), v.clone())),
            EnvGrant::Inherit(_) => inherit = true,
        }
    }
    if inherit { server_env(name).map(|v| (name.to_string(), v)) } else { None }
}

/// A needed `host[:port]` narrowed by the first grant that covers it.
fn granted_host(need: &str, grants: &[&Grants]) -> Option<String> {
    let need = HostRule::parse(need)?;
    grants.iter().flat_map(|g| &g.network).find_map(|g| {
        let grant = HostRule::parse(g)?;
        need.within(&grant).map(|r| r.to_string())
    })
}

/// A `host`, `host:port` or `host:*` rule; `*.example.com` matches any
/// subdomain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostRule {
    /// Lowercase host name or IP literal (IPv6 without brackets).
    pub host: String,
    /// The port; `None` is any port.
    pub port: Option<u16>,
}

impl HostRule {
    /// Parse a rule; `None` if the port is not a number or `*`.
    pub fn parse(text: &str) -> Option<HostRule> {
        let text = text.trim();
        let (host, port) = match text.rsplit_once(':') {
            // A bare IPv6 address has colons but no port.
            Some((h, _)) if h.contains(':') && !h.starts_with('[') => (text, None),
            Some((h, "*")) => (h, None),
            Some((h, p)) => (h, Some(p.parse().ok()?)),
            None => (text, None),
        };
        let host = host.trim_start_matches('[').trim_end_matches(']').to_ascii_lowercase();
        (!host.is_empty()).then_some(HostRule { host, port })
    }

    /// The part of `self` that `grant` allows, if any.
    fn within(&self, grant: &HostRule) -> Option<HostRule> {
        let host_ok = match grant.host.strip_prefix("*.") {
            Some(domain) => self.host.ends_with(&format!(".{domain}")),
            None => grant.host == self.host,
        };
        let port = match (self.port, grant.port) {
            (Some(a), Some(b)) if a != b => return None,
            (a, b) => a.or(b),
        };
        host_ok.then(|| HostRule { host: self.host.clone(), port })
    }
}

impl std::fmt::Display for HostRule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let host = if self.host.contains(':') { format!("[{}]", self.host) } else { self.host.clone() };
        match self.port {
            Some(p) => write!(f, "{host}:{p}"),
            None => write!(f, "{host}:*"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{DirGrant, Span};

    fn role(grants: Grants) -> Role {
        Role { id: "r".into(), permissions: vec![], grants, span: Span::default() }
    }

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn nothing_needed_means_nothing_granted() {
        let r = role(Grants {
            dirs: vec![DirGrant { host: "/srv".into(), guest: "/data".into(), access: Access::ReadWrite }],
            env: vec![EnvGrant::Fixed("A".into(), "1".into())],
            network: vec!["example.com:443".into()],
            limits: LimitsSpec::default(),
        });
        let caps = Capabilities::effective(&Needs::default(), &[&r], &no_env);
        assert_eq!(caps, Capabilities::default());
    }

    #[test]
    fn needs_are_kept_only_where_granted() {
        let r = role(Grants {
            dirs: vec![DirGrant { host: "/srv".into(), guest: "/data".into(), access: Access::ReadOnly }],
            env: vec![EnvGrant::Inherit("TOKEN".into()), EnvGrant::Fixed("MODE".into(), "prod".into())],
            network: vec!["*.example.com:443".into(), "10.0.0.1".into()],
            limits: LimitsSpec::default(),
        });
        let needs = Needs {
            dirs: vec!["/data".into(), "/etc".into()],
            env: vec!["TOKEN".into(), "MODE".into(), "HOME".into()],
            network: vec!["api.example.com".into(), "example.org:443".into(), "10.0.0.1:22".into()],
        };
        let env = |n: &str| (n == "TOKEN").then(|| "secret".to_string());
        let caps = Capabilities::effective(&needs, &[&r], &env);
        assert_eq!(caps.dirs.len(), 1);
        assert_eq!(caps.dirs[0].host, PathBuf::from("/srv"));
        assert_eq!(caps.env, vec![("TOKEN".into(), "secret".into()), ("MODE".into(), "prod".into())]);
        assert_eq!(caps.network, vec!["api.example.com:443", "10.0.0.1:22"]);
        assert_eq!(ungranted(&needs, &[&r]), vec!["dir /etc", "env HOME", "network example.org:443"]);
    }

    #[test]
    fn read_write_wins_when_two_roles_grant_the_same_dir() {
        let ro = role(Grants {
            dirs: vec![DirGrant { host: "/a".into(), guest: "/data".into(), access: Access::ReadOnly }],
            ..Grants::default()
        });
        let rw = role(Grants {
            dirs: vec![DirGrant { host: "/b".into(), guest: "/data".into(), access: Access::ReadWrite }],
            ..Grants::default()
        });
        let needs = Needs { dirs: vec!["/data".into()], ..Needs::default() };
        let caps = Capabilities::effective(&needs, &[&ro, &rw], &no_env);
        assert_eq!(caps.dirs[0].access, Access::ReadWrite);
    }

    #[test]
    fn limits_default_then_cap_at_the_most_generous_ceiling() {
        let asked = LimitsSpec { fuel: Some(5_000), memory: Some(1 << 30), ..LimitsSpec::default() };
        let tight = role(Grants { limits: LimitsSpec { memory: Some(1 << 20), ..Default::default() }, ..Default::default() });
        let loose = role(Grants { limits: LimitsSpec { memory: Some(1 << 25), ..Default::default() }, ..Default::default() });
        let limits = Limits::effective(&asked, &[&tight, &loose]);
        assert_eq!(limits.memory, 1 << 25);
        assert_eq!(limits.fuel, 5_000);
        assert_eq!(limits.timeout, DEFAULT_TIMEOUT);
        assert_eq!(Limits::effective(&LimitsSpec::default(), &[]), Limits::default());
    }

    #[test]
    fn host_rules_parse_ports_wildcards_and_ipv6() {
        assert_eq!(HostRule::parse("a.b:80"), Some(HostRule { host: "a.b".into(), port: Some(80) }));
        assert_eq!(HostRule::parse("a.b:*"), Some(HostRule { host: "a.b".into(), port: None }));
        assert_eq!(HostRule::parse("::1"), Some(HostRule { host: "::1".into(), port: None }));
        assert_eq!(HostRule::parse("[::1]:8080"), Some(HostRule { host: "::1".into(), port: Some(8080) }));
        assert_eq!(HostRule::parse("a.b:http"), None);
    }
}
