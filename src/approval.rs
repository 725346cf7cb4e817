//! The approval lifecycle: ask, decide, run once.
//!
//! A user who lacks a command's permissions may ask for it to be run. The
//! request is stored under an unguessable id (128 random bits), and every
//! holder of the command's `approvedBy` role gets it with Approve and Deny
//! buttons whose payloads carry that id.
//!
//! A decision is accepted only when all of these hold, checked at decision
//! time against the current config:
//! - it arrives as a button payload (typed text never decides);
//! - the decider holds the `approvedBy` role now;
//! - the decider is not the requester;
//! - the request is still pending and has not expired — the store records
//!   the first decision atomically, so a replayed or concurrent tap finds
//!   it already decided and is told by whom.
//!
//! This module holds the pure parts (ids, payloads, wording, who may
//! decide); [`bot`](crate::bot) drives the store and the run.

use std::time::Duration;

use rand::RngCore;

use crate::channel::{Button, Reply};
use crate::config::{Command, Config};
use crate::rbac::Principal;
use crate::store::{Approval, ApprovalStatus, Decision, Timestamp};

/// How long a request can be decided: 24 hours.
pub const DEFAULT_EXPIRY: Duration = Duration::from_secs(24 * 60 * 60);

/// Payload prefix of Approve buttons.
const APPROVE: &str = "sandbot:approve:";
/// Payload prefix of Deny buttons.
const DENY: &str = "sandbot:deny:";

/// A fresh unguessable approval id: 128 random bits as hex.
pub fn new_id() -> String {
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// The button payload for a decision on an approval.
pub fn payload(decision: Decision, id: &str) -> String {
    match decision {
        Decision::Approve => format!("{APPROVE}{id}"),
        Decision::Deny => format!("{DENY}{id}"),
    }
}

/// The decision and approval id a payload carries, if it is one.
pub fn parse_payload(payload: &str) -> Option<(Decision, &str)> {
    if let Some(id) = payload.strip_prefix(APPROVE) {
        return Some((Decision::Approve, id));
    }
    payload.strip_prefix(DENY).map(|id| (Decision::Deny, id))
}

/// A new pending approval.
pub fn new_request(
    command: &Command,
    requester: &str,
    requester_name: &str,
    state: &str,
    input: &str,
    now: Timestamp,
) -> Approval {
    Approval {
        id: new_id(),
        command: command.id.clone(),
        requester: requester.to_string(),
        requester_name: requester_name.to_string(),
        state: state.to_string(),
        input: input.to_string(),
        created_at: now,
        expires_at: now + DEFAULT_EXPIRY.as_secs() as Timestamp,
        status: ApprovalStatus::Pending,
    }
}

/// The message approvers get, with Approve and Deny buttons.
pub fn request_message(approval: &Approval, command: &Command) -> Reply {
    let text = format!(
        "{} asks to run \"{}\" with this input:\n\n{}\n\nThe request expires in {} hours.",
        approval.requester_name,
        command.pretty_name,
        shown_input(&approval.input),
        DEFAULT_EXPIRY.as_secs() / 3600,
    );
    let buttons = vec![
        Button {
            title: "Approve".into(),
            payload: payload(Decision::Approve, &approval.id),
        },
        Button {
            title: "Deny".into(),
            payload: payload(Decision::Deny, &approval.id),
        },
    ];
    Reply {
        text,
        output: None,
        buttons,
    }
}

/// The most input characters an approval request shows.
const SHOWN_INPUT: usize = 500;

/// The input as an approver should see it: nothing hidden. Control
/// characters are escaped, long runs of blanks (which could push the
/// rest out of view) are counted instead of shown, and very long input is
/// cut with its full length stated.
pub fn shown_input(input: &str) -> String {
    let mut out = String::new();
    let mut blanks = String::new();
    let flush = |blanks: &mut String, out: &mut String| {
        match blanks.chars().count() {
            n if n >= 4 => out.push_str(&format!(" [{n} blank characters] ")),
            _ => out.push_str(blanks),
        }
        blanks.clear();
    };
    for c in input.chars() {
        if c.is_whitespace() {
            blanks.push(c);
            continue;
        }
        flush(&mut blanks, &mut out);
        if c.is_control() || matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}') {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    flush(&mut blanks, &mut out);
    let total = input.chars().count();
    if out.chars().count() > SHOWN_INPUT {
        let cut: String = out.chars().take(SHOWN_INPUT).collect();
        return format!("{cut}… (cut; the input has {total} characters)");
    }
    out
}

/// Why a decider may not decide an approval.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The command is gone from the config or has no approvers now.
    #[error("this request can no longer be decided")]
    NoApprovers,
    /// The decider does not hold the approver role now.
    #[error("you are not allowed to decide this request")]
    NotApprover,
    /// The decider made the request.
    #[error("you cannot decide your own request")]
    OwnRequest,
}

/// Whether `decider` (at `address`) may decide `approval` under the
/// current config.
pub fn may_decide(
    config: &Config,
    approval: &Approval,
    decider: &Principal,
    address: &str,
    requester: &Principal,
) -> Result<(), Refusal> {
    let role = config
        .commands
        .get(&approval.command)
        .and_then(|c| c.approved_by.as_deref())
        .ok_or(Refusal::NoApprovers)?;
    if !decider.has_role(role) {
        return Err(Refusal::NotApprover);
    }
    let same_user = decider.user.is_some() && decider.user == requester.user;
    if address == approval.requester || same_user {
        return Err(Refusal::OwnRequest);
    }
    Ok(())
}

/// The word for a decision, as in "approved by".
pub fn decided_word(status: &ApprovalStatus) -> &'static str {
    match status {
        ApprovalStatus::Pending => "pending",
        ApprovalStatus::Approved { .. } => "approved",
        ApprovalStatus::Denied { .. } => "denied",
    }
}

/// Who decided, if anyone.
pub fn decided_by(status: &ApprovalStatus) -> Option<&str> {
    match status {
        ApprovalStatus::Pending => None,
        ApprovalStatus::Approved { by, .. } | ApprovalStatus::Denied { by, .. } => Some(by),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::load_str;
    use std::path::Path;

    const HOMELAB: &str = include_str!("../tests/fixtures/configs/homelab-original.yaml");

    #[test]
    fn ids_are_long_random_and_distinct() {
        let (a, b) = (new_id(), new_id());
        assert_eq!(a.len(), 32);
        assert_ne!(a, b);
    }

    #[test]
    fn approvers_see_hidden_padding_and_control_characters() {
        let padded = format!("alice{}-forward-to evil@example.net", " ".repeat(2100));
        assert_eq!(
            shown_input(&padded),
            "alice [2100 blank characters] -forward-to evil@example.net"
        );
        assert_eq!(shown_input("a\nb"), "a\nb");
        assert_eq!(shown_input("a\n\n\n\n\nb"), "a [5 blank characters] b");
        assert_eq!(shown_input("x\u{202e}y"), "x\\u{202e}y");
        assert_eq!(shown_input("Alex Smith"), "Alex Smith");
        assert!(shown_input(&"y".repeat(900)).ends_with("(cut; the input has 900 characters)"));
    }

    #[test]
    fn payloads_round_trip_and_other_text_is_no_decision() {
        assert_eq!(
            parse_payload(&payload(Decision::Approve, "ab")),
            Some((Decision::Approve, "ab"))
        );
        assert_eq!(
            parse_payload(&payload(Decision::Deny, "cd")),
            Some((Decision::Deny, "cd"))
        );
        assert_eq!(parse_payload("Approve"), None);
    }

    #[test]
    fn only_current_approvers_other_than_the_requester_may_decide() {
        let c = load_str(HOMELAB, Path::new("h.yaml")).unwrap().config;
        let cmd = &c.commands["setup_wireguard"];
        let a = new_request(cmd, "messenger:42", "Guest", "SetupWireguard", "Alex", 0);
        let owner = Principal::resolve(&c, Some("7000000000000001"));
        let guest = Principal::guest();
        assert_eq!(
            may_decide(&c, &a, &owner, "messenger:7000000000000001", &guest),
            Ok(())
        );
        assert_eq!(
            may_decide(&c, &a, &guest, "messenger:43", &guest),
            Err(Refusal::NotApprover)
        );
        let own = new_request(cmd, "messenger:7000000000000001", "Owner", "S", "x", 0);
        let r = may_decide(&c, &own, &owner, "messenger:7000000000000001", &owner);
        assert_eq!(r, Err(Refusal::OwnRequest));
        let own_elsewhere = may_decide(&c, &own, &owner, "web:abc", &owner);
        assert_eq!(own_elsewhere, Err(Refusal::OwnRequest));
    }
}
