//! Outbound network rules for handlers.
//!
//! A run's `capabilities.network` is a list of rules: `host:port`, `host`
//! (any port) or `host:*`. When the run starts, [`AllowedSet::resolve`]
//! turns them into the exact socket addresses the guest may reach, once;
//! every connect the guest makes afterwards is checked against that set by
//! [`AllowedSet::permits`], so a name that resolves differently mid-run
//! cannot widen what was granted.
//!
//! A rule naming an IP literal allows exactly that address, in any range:
//! an operator who writes `127.0.0.1:5432` means it. A host name is
//! different: its resolved addresses in private, loopback, link-local,
//! shared (carrier-grade NAT), unspecified, broadcast or multicast ranges
//! are dropped, so a public name pointed at an internal address (DNS
//! rebinding) reaches nothing.
//!
//! Guests may only connect (TCP) or send to and receive from (UDP) allowed
//! addresses. Binding is refused except the implicit bind to an ephemeral
//! port that every outgoing socket performs; listening and accepting are
//! always refused.
//!
//! A rule whose host does not resolve, or that does not parse, allows
//! nothing and is logged at `warn`; the run still starts.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use wasmtime_wasi::sockets::SocketAddrUse;

/// A network rule that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid network rule {rule:?}: {reason}")]
pub struct RuleError {
    /// The rule as written.
    pub rule: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

/// The host part of a rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuleHost {
    /// An IP literal: allowed exactly, whatever its range.
    Ip(IpAddr),
    /// A host name, resolved when a run starts.
    Name(String),
}

/// One parsed network rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// What may be reached.
    pub host: RuleHost,
    /// The one port allowed, or `None` for any port.
    pub port: Option<u16>,
}

impl Rule {
    /// Parses `host:port`, `host`, `host:*`, `[v6]:port` or a bare IPv6
    /// literal.
    pub fn parse(rule: &str) -> Result<Rule, RuleError> {
        let error = |reason| RuleError {
            rule: rule.to_string(),
            reason,
        };
        let (host, port) = split_host_port(rule.trim()).ok_or(error("bad host:port"))?;
        if host.is_empty() {
            return Err(error("empty host"));
        }
        let port = match port {
            None | Some("*") => None,
            Some(p) => Some(p.parse::<u16>().map_err(|_| error("bad port"))?),
        };
        let host = match host.parse::<IpAddr>() {
            Ok(ip) => RuleHost::Ip(ip),
            Err(_) if is_host_name(host) => RuleHost::Name(host.to_ascii_lowercase()),
            Err(_) => return Err(error("bad host name")),
        };
        Ok(Rule { host, port })
    }
}

/// Splits a rule into host and optional port text.
fn split_host_port(rule: &str) -> Option<(&str, Option<&str>)> {
    if let Some(rest) = rule.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        return match after {
            "" => Some((host, None)),
            _ => Some((host, Some(after.strip_prefix(':')?))),
        };
    }
    // More than one colon and no brackets: a bare IPv6 literal.
    if rule.matches(':').count() > 1 {
        return Some((rule, None));
    }
    match rule.split_once(':') {
        Some((host, port)) => Some((host, Some(port))),
        None => Some((rule, None)),
    }
}

/// True for a plausible DNS name: letters, digits, `-`, `_` and dots.
fn is_host_name(host: &str) -> bool {
    host.len() <= 253
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
}

/// The addresses one run may reach, fixed when the run starts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowedSet {
    /// Allowed IPs, each with one port or any port (`None`).
    entries: Vec<(IpAddr, Option<u16>)>,
}

impl AllowedSet {
    /// Resolves a run's rules into the set of reachable addresses.
    ///
    /// Rules that do not parse or do not resolve are skipped with a
    /// warning; they allow nothing.
    pub async fn resolve(rules: &[String]) -> AllowedSet {
        let mut set = AllowedSet::default();
        for text in rules {
            match Rule::parse(text) {
                Ok(rule) => set.add_rule(&rule).await,
                Err(error) => tracing::warn!(%error, "network rule skipped"),
            }
        }
        set
    }

    /// Adds one rule, resolving a host name if needed.
    async fn add_rule(&mut self, rule: &Rule) {
        match &rule.host {
            RuleHost::Ip(ip) => self.add(*ip, rule.port),
            RuleHost::Name(name) => {
                for ip in lookup(name).await {
                    self.add_resolved(name, ip, rule.port);
                }
            }
        }
    }

    /// Adds an address a host name resolved to, unless it is internal.
    fn add_resolved(&mut self, name: &str, ip: IpAddr, port: Option<u16>) {
        if is_public(ip) {
            self.add(ip, port);
        } else {
            tracing::warn!(host = name, %ip, "internal address of a host name dropped");
        }
    }

    /// Adds an address unconditionally.
    fn add(&mut self, ip: IpAddr, port: Option<u16>) {
        let entry = (canonical(ip), port);
        if !self.entries.contains(&entry) {
            self.entries.push(entry);
        }
    }

    /// True when no address at all is allowed.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// True when the guest may connect to (or exchange datagrams with)
    /// `addr`.
    pub fn allows(&self, addr: SocketAddr) -> bool {
        let ip = canonical(addr.ip());
        self.entries
            .iter()
            .any(|&(allowed, port)| allowed == ip && port.is_none_or(|p| p == addr.port()))
    }

    /// The verdict for one socket operation a guest attempts.
    pub fn permits(&self, addr: SocketAddr, usage: SocketAddrUse) -> bool {
        match usage {
            SocketAddrUse::TcpConnect | SocketAddrUse::UdpSend | SocketAddrUse::UdpReceive => {
                self.allows(addr)
            }
            // The implicit bind of an outgoing socket: wildcard address,
            // ephemeral port.
            SocketAddrUse::TcpBind | SocketAddrUse::UdpBind => {
                addr.ip().is_unspecified() && addr.port() == 0
            }
            SocketAddrUse::TcpListen | SocketAddrUse::TcpAccept => false,
        }
    }
}

/// Resolves a host name; failures resolve to nothing.
async fn lookup(name: &str) -> Vec<IpAddr> {
    match tokio::net::lookup_host((name, 0)).await {
        Ok(addrs) => addrs.map(|a| a.ip()).collect(),
        Err(error) => {
            tracing::warn!(host = name, %error, "network rule host did not resolve");
            Vec::new()
        }
    }
}

/// Maps an IPv4-mapped IPv6 address to plain IPv4, so both spellings of
/// one address compare equal.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

/// True for an address on the public internet.
pub fn is_public(ip: IpAddr) -> bool {
    match canonical(ip) {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

/// IPv4: not private, loopback, link-local, shared, unspecified,
/// broadcast or multicast.
fn is_public_v4(ip: Ipv4Addr) -> bool {
    let shared = ip.octets()[0] == 100 && (ip.octets()[1] & 0xc0) == 64;
    !(ip.is_private()
        || ip.is_loopback()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || shared
        || ip.octets()[0] == 0)
}

/// IPv6: not loopback, unspecified, multicast, unique-local or
/// link-local.
fn is_public_v6(ip: Ipv6Addr) -> bool {
    !(ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || ip.is_unique_local()
        || ip.is_unicast_link_local())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(text: &str) -> SocketAddr {
        text.parse().unwrap()
    }

    fn set_of(rules: &[&str]) -> AllowedSet {
        let mut set = AllowedSet::default();
        for rule in rules {
            let rule = Rule::parse(rule).unwrap();
            let RuleHost::Ip(ip) = rule.host else {
                panic!("test rules must be IP literals");
            };
            set.add(ip, rule.port);
        }
        set
    }

    #[test]
    fn host_and_port_parse_into_a_name_rule_with_that_port() {
        let rule = Rule::parse("API.Example.com:443").unwrap();
        assert_eq!(rule.host, RuleHost::Name("api.example.com".into()));
        assert_eq!(rule.port, Some(443));
    }

    #[test]
    fn a_bare_host_and_a_star_port_both_mean_any_port() {
        assert_eq!(Rule::parse("example.com").unwrap().port, None);
        assert_eq!(Rule::parse("example.com:*").unwrap().port, None);
    }

    #[test]
    fn ipv6_literals_parse_bare_and_bracketed() {
        let bare = Rule::parse("::1").unwrap();
        assert_eq!(bare.host, RuleHost::Ip("::1".parse().unwrap()));
        assert_eq!(bare.port, None);
        let bracketed = Rule::parse("[2001:db8::1]:8080").unwrap();
        assert_eq!(bracketed.port, Some(8080));
    }

    #[test]
    fn malformed_rules_are_rejected_with_a_reason() {
        assert_eq!(Rule::parse("host:99999").unwrap_err().reason, "bad port");
        assert_eq!(Rule::parse(":80").unwrap_err().reason, "empty host");
        assert_eq!(Rule::parse("a b:80").unwrap_err().reason, "bad host name");
        assert!(Rule::parse("[::1]80").is_err());
    }

    #[test]
    fn an_ip_rule_with_a_port_allows_only_that_port() {
        let set = set_of(&["127.0.0.1:8080"]);
        assert!(set.allows(addr("127.0.0.1:8080")));
        assert!(!set.allows(addr("127.0.0.1:8081")));
        assert!(!set.allows(addr("127.0.0.2:8080")));
    }

    #[test]
    fn an_ip_rule_without_a_port_allows_every_port() {
        let set = set_of(&["10.0.0.5:*"]);
        assert!(set.allows(addr("10.0.0.5:1")));
        assert!(set.allows(addr("10.0.0.5:65535")));
    }

    #[test]
    fn an_ipv4_mapped_ipv6_address_matches_its_ipv4_rule() {
        let set = set_of(&["192.0.2.7:53"]);
        assert!(set.allows(addr("[::ffff:192.0.2.7]:53")));
    }

    #[test]
    fn an_empty_set_allows_nothing() {
        let set = AllowedSet::default();
        assert!(set.is_empty());
        assert!(!set.allows(addr("93.184.216.34:443")));
    }

    #[test]
    fn internal_addresses_of_a_host_name_are_dropped() {
        let mut set = AllowedSet::default();
        for ip in ["127.0.0.1", "10.1.2.3", "169.254.169.254", "::1", "fd00::1"] {
            set.add_resolved("evil.example", ip.parse().unwrap(), None);
        }
        set.add_resolved("good.example", "93.184.216.34".parse().unwrap(), None);
        assert!(!set.allows(addr("169.254.169.254:80")));
        assert!(!set.allows(addr("127.0.0.1:80")));
        assert!(set.allows(addr("93.184.216.34:80")));
    }

    #[test]
    fn public_ranges_are_public_and_special_ranges_are_not() {
        let public = ["8.8.8.8", "2606:4700::1111"];
        let internal = [
            "192.168.1.1",
            "172.16.0.1",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "fe80::1",
            "ff02::1",
            "::",
            "::ffff:127.0.0.1",
        ];
        for ip in public {
            assert!(is_public(ip.parse().unwrap()), "{ip} should be public");
        }
        for ip in internal {
            assert!(!is_public(ip.parse().unwrap()), "{ip} should be internal");
        }
    }

    #[test]
    fn only_ephemeral_wildcard_binds_are_permitted() {
        let set = set_of(&["127.0.0.1:80"]);
        assert!(set.permits(addr("0.0.0.0:0"), SocketAddrUse::TcpBind));
        assert!(set.permits(addr("[::]:0"), SocketAddrUse::UdpBind));
        assert!(!set.permits(addr("0.0.0.0:80"), SocketAddrUse::TcpBind));
        assert!(!set.permits(addr("127.0.0.1:0"), SocketAddrUse::TcpBind));
    }

    #[test]
    fn listening_and_accepting_are_refused_even_on_allowed_addresses() {
        let set = set_of(&["127.0.0.1:80"]);
        assert!(!set.permits(addr("127.0.0.1:80"), SocketAddrUse::TcpListen));
        assert!(!set.permits(addr("127.0.0.1:80"), SocketAddrUse::TcpAccept));
        assert!(set.permits(addr("127.0.0.1:80"), SocketAddrUse::TcpConnect));
    }

    #[tokio::test]
    async fn resolving_skips_bad_rules_and_keeps_ip_literals() {
        let rules = vec!["not a rule".to_string(), "127.0.0.1:9".to_string()];
        let set = AllowedSet::resolve(&rules).await;
        assert!(set.allows(addr("127.0.0.1:9")));
        assert_eq!(set.entries.len(), 1);
    }

    #[tokio::test]
    async fn localhost_by_name_resolves_to_nothing_allowed() {
        let set = AllowedSet::resolve(&["localhost:80".to_string()]).await;
        assert!(!set.allows(addr("127.0.0.1:80")));
        assert!(set.is_empty());
    }
}
