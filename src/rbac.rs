//! Who may do what, and why. Pure.
//!
//! A user holds roles directly and through groups; roles hold permissions.
//! A sender the config does not know is a guest: no roles, no permissions.
//! Every answer can explain itself: [`Verdict`] carries the chain that
//! grants each permission, or the permissions that are missing.

use std::collections::BTreeSet;
use std::fmt;

use crate::config::{Command, Config, User};

/// How a user holds a role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Via {
    /// Listed under the user's `roles`.
    Direct,
    /// Through the named group.
    Group(String),
}

/// One role a principal holds, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldRole {
    /// The role's id.
    pub role: String,
    /// How it is held.
    pub via: Via,
}

/// Someone on whose authority things happen: a configured user or a guest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The configured user id; `None` for a guest.
    pub user: Option<String>,
    /// Every role held, in config order, without duplicates.
    pub roles: Vec<HeldRole>,
}

impl Principal {
    /// The principal for a configured user id; unknown ids are guests.
    pub fn resolve(config: &Config, user: Option<&str>) -> Principal {
        let Some(u) = user.and_then(|id| config.users.get(id)) else {
            return Principal::guest();
        };
        Principal { user: Some(u.id.clone()), roles: held_roles(config, u) }
    }

    /// A guest: no user, no roles.
    pub fn guest() -> Principal {
        Principal { user: None, roles: Vec::new() }
    }

    /// Whether the principal holds `role`.
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r.role == role)
    }

    /// Every permission the principal holds.
    pub fn permissions<'c>(&self, config: &'c Config) -> BTreeSet<&'c str> {
        self.roles
            .iter()
            .filter_map(|held| config.roles.get(&held.role))
            .flat_map(|role| role.permissions.iter().map(String::as_str))
            .collect()
    }

    /// Whether the principal holds all of `required`; explains either way.
    pub fn check(&self, config: &Config, required: &[String]) -> Verdict {
        let held = self.permissions(config);
        let missing: Vec<String> =
            required.iter().filter(|p| !held.contains(p.as_str())).cloned().collect();
        if !missing.is_empty() {
            return Verdict::Denied { missing };
        }
        let chain = required.iter().map(|p| self.grant_of(config, p)).collect();
        Verdict::Allowed { chain }
    }

    /// Whether the principal may run `command` without approval.
    pub fn may_run(&self, config: &Config, command: &Command) -> bool {
        self.check(config, &command.permissions).is_allowed()
    }

    /// The first role (and how it is held) that grants `permission`.
    fn grant_of(&self, config: &Config, permission: &str) -> Grant {
        let held = self.roles.iter().find(|held| {
            config.roles.get(&held.role).is_some_and(|r| r.permissions.iter().any(|p| p == permission))
        });
        Grant { permission: permission.to_string(), role: held.cloned() }
    }
}

/// The roles a user holds, directly first, then through groups.
fn held_roles(config: &Config, user: &User) -> Vec<HeldRole> {
    let direct = user.roles.iter().map(|r| HeldRole { role: r.clone(), via: Via::Direct });
    let grouped = user.groups.iter().filter_map(|g| config.groups.get(g)).flat_map(|g| {
        g.roles.iter().map(|r| HeldRole { role: r.clone(), via: Via::Group(g.name.clone()) })
    });
    let mut roles: Vec<HeldRole> = Vec::new();
    for held in direct.chain(grouped) {
        if !roles.iter().any(|r| r.role == held.role) {
            roles.push(held);
        }
    }
    roles
}

/// Every configured user holding `role`, in config order.
pub fn holders<'c>(config: &'c Config, role: &str) -> Vec<&'c User> {
    config
        .users
        .values()
        .filter(|u| held_roles(config, u).iter().any(|h| h.role == role))
        .collect()
}

/// One required permission and the role that grants it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// The permission.
    pub permission: String,
    /// The role granting it; `None` only when nothing was required.
    pub role: Option<HeldRole>,
}

/// An RBAC answer with its reasons.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Allowed; one grant per required permission (empty when the command
    /// requires none).
    Allowed {
        /// How each permission is held.
        chain: Vec<Grant>,
    },
    /// Denied; the permissions that are missing.
    Denied {
        /// Permission ids the principal lacks.
        missing: Vec<String>,
    },
}

impl Verdict {
    /// True when allowed.
    pub fn is_allowed(&self) -> bool {
        matches!(self, Verdict::Allowed { .. })
    }
}

impl fmt::Display for Grant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.role {
            None => write!(f, "permission \"{}\"", self.permission),
            Some(HeldRole { role, via: Via::Direct }) => {
                write!(f, "permission \"{}\" ← role \"{role}\" (held directly)", self.permission)
            }
            Some(HeldRole { role, via: Via::Group(g) }) => write!(
                f,
                "permission \"{}\" ← role \"{role}\" ← group \"{g}\"",
                self.permission
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::load_str;
    use std::path::Path;

    const CONFIG: &str = r#"
permissions:
- &run {idstr: run}
- &read {idstr: read}
roles:
- &admin {id: admin, permissions: [*run, *read]}
- &reader {id: reader, permissions: [*read]}
commands:
- &deploy {id: deploy, cmd: "true", permissions: [*run], approvedBy: *admin}
groups:
- {name: ops, roles: [*admin]}
users:
- {id: "1", name: Owner, groups: [ops]}
- {id: "2", name: Reader, roles: [*reader]}
- {id: "3", name: Both, roles: [*admin], groups: [ops]}
---
states: [{id: Initial, message: hi, defaultHandler: *deploy}]
"#;

    fn config() -> Config {
        load_str(CONFIG, Path::new("rbac.yaml")).expect("valid config").config
    }

    #[test]
    fn roles_come_from_groups_and_directly() {
        let c = config();
        let owner = Principal::resolve(&c, Some("1"));
        assert_eq!(owner.roles, vec![HeldRole { role: "admin".into(), via: Via::Group("ops".into()) }]);
        let reader = Principal::resolve(&c, Some("2"));
        assert_eq!(reader.roles, vec![HeldRole { role: "reader".into(), via: Via::Direct }]);
    }

    #[test]
    fn a_role_held_twice_is_listed_once_with_the_direct_path_first() {
        let c = config();
        let both = Principal::resolve(&c, Some("3"));
        assert_eq!(both.roles.len(), 1);
        assert_eq!(both.roles[0].via, Via::Direct);
    }

    #[test]
    fn unknown_senders_are_guests_without_permissions() {
        let c = config();
        let guest = Principal::resolve(&c, Some("999"));
        assert_eq!(guest, Principal::guest());
        assert!(guest.permissions(&c).is_empty());
        assert!(!guest.may_run(&c, &c.commands["deploy"]));
    }

    #[test]
    fn verdict_names_the_missing_permission_or_the_granting_chain() {
        let c = config();
        let reader = Principal::resolve(&c, Some("2"));
        assert_eq!(reader.check(&c, &["run".into()]), Verdict::Denied { missing: vec!["run".into()] });
        let owner = Principal::resolve(&c, Some("1"));
        let Verdict::Allowed { chain } = owner.check(&c, &["run".into()]) else { panic!() };
        assert_eq!(chain[0].to_string(), "permission \"run\" ← role \"admin\" ← group \"ops\"");
    }

    #[test]
    fn holders_of_a_role_include_group_members() {
        let c = config();
        let ids: Vec<&str> = holders(&c, "admin").iter().map(|u| u.id.as_str()).collect();
        assert_eq!(ids, ["1", "3"]);
    }
}
