//! The behaviour every [`Store`] backend must share, written once.
//!
//! Each function checks one promise of the trait against any backend;
//! [`store_contract!`] turns the whole list into `#[test]`s for one
//! backend, given an expression that makes a fresh store (anything that
//! dereferences to a `Store`).

use super::*;

/// Generate one `#[test]` per contract function for a backend.
macro_rules! store_contract {
    ($make:expr) => {
        crate::store::contract_tests::store_contract!(
            @tests $make;
            a_conversation_state_round_trips,
            a_message_id_is_new_only_the_first_time,
            an_inserted_approval_reads_back_unchanged,
            the_first_decision_wins_and_the_second_learns_who_decided,
            a_denial_is_recorded_as_denied,
            an_expired_approval_cannot_be_decided,
            an_unknown_approval_is_not_found,
            pending_approvals_exclude_decided_and_expired_ones,
            audit_rows_come_back_newest_first,
            the_outbox_is_first_in_first_out_and_taken_once,
            a_login_token_works_once,
            an_expired_login_token_does_not_work,
            addresses_bind_to_users_and_rebind,
        );
    };
    (@tests $make:expr; $($name:ident),+ $(,)?) => {
        $(
            #[test]
            fn $name() {
                let fixture = $make;
                crate::store::contract_tests::$name(&*fixture);
            }
        )+
    };
}
pub(crate) use store_contract;

/// A pending approval created at 100 and expiring at 1000.
fn approval(id: &str) -> Approval {
    Approval {
        id: id.to_string(),
        command: "add-vpn-client".to_string(),
        requester: "messenger:42".to_string(),
        requester_name: "Guest Person".to_string(),
        state: "AskName".to_string(),
        input: "laptop".to_string(),
        created_at: 100,
        expires_at: 1000,
        status: ApprovalStatus::Pending,
    }
}

/// An audit row told apart by its time and command.
fn audit(at: Timestamp, command: &str) -> AuditRecord {
    AuditRecord {
        at,
        user: "messenger:42".to_string(),
        command: command.to_string(),
        approver: Some("alice".to_string()),
        approval: Some("ap-1".to_string()),
        input: "laptop".to_string(),
        outcome: "exit".to_string(),
        exit_code: Some(3),
        duration_ms: 12,
        fuel_used: Some(u64::MAX),
        peak_memory: Some(65536),
    }
}

pub(super) fn a_conversation_state_round_trips(store: &dyn Store) {
    assert_eq!(store.conversation_state("web:1").unwrap(), None);
    store.set_conversation_state("web:1", "Initial").unwrap();
    store.set_conversation_state("web:1", "Menu").unwrap();
    store.set_conversation_state("web:2", "Other").unwrap();
    let state = store.conversation_state("web:1").unwrap();
    assert_eq!(state.as_deref(), Some("Menu"));
}

pub(super) fn a_message_id_is_new_only_the_first_time(store: &dyn Store) {
    assert!(store.mark_message_seen("mid.1").unwrap());
    assert!(!store.mark_message_seen("mid.1").unwrap());
    assert!(store.mark_message_seen("mid.2").unwrap());
}

pub(super) fn an_inserted_approval_reads_back_unchanged(store: &dyn Store) {
    let original = approval("ap-1");
    store.insert_approval(&original).unwrap();
    assert_eq!(store.approval("ap-1").unwrap(), Some(original));
    assert_eq!(store.approval("ap-2").unwrap(), None);
}

pub(super) fn the_first_decision_wins_and_the_second_learns_who_decided(store: &dyn Store) {
    store.insert_approval(&approval("ap-1")).unwrap();
    let alice = ApprovalStatus::Approved {
        by: "alice".to_string(),
        at: 200,
    };

    let first = store.decide_approval("ap-1", Decision::Approve, "alice", 200);
    let second = store.decide_approval("ap-1", Decision::Deny, "bob", 201);

    let DecideOutcome::Recorded(recorded) = first.unwrap() else {
        panic!("the first decision was not recorded");
    };
    assert_eq!(recorded.status, alice);
    let DecideOutcome::AlreadyDecided(existing) = second.unwrap() else {
        panic!("the second decision was not refused");
    };
    assert_eq!(existing.status, alice);
    assert_eq!(store.approval("ap-1").unwrap().unwrap().status, alice);
}

pub(super) fn a_denial_is_recorded_as_denied(store: &dyn Store) {
    store.insert_approval(&approval("ap-1")).unwrap();
    store
        .decide_approval("ap-1", Decision::Deny, "bob", 300)
        .unwrap();
    let denied = ApprovalStatus::Denied {
        by: "bob".to_string(),
        at: 300,
    };
    assert_eq!(store.approval("ap-1").unwrap().unwrap().status, denied);
}

pub(super) fn an_expired_approval_cannot_be_decided(store: &dyn Store) {
    store.insert_approval(&approval("ap-1")).unwrap();
    let outcome = store.decide_approval("ap-1", Decision::Approve, "alice", 1000);
    let DecideOutcome::Expired(expired) = outcome.unwrap() else {
        panic!("an expired approval was decided");
    };
    assert_eq!(expired.status, ApprovalStatus::Pending);
    let status = store.approval("ap-1").unwrap().unwrap().status;
    assert_eq!(status, ApprovalStatus::Pending);
}

pub(super) fn an_unknown_approval_is_not_found(store: &dyn Store) {
    let outcome = store.decide_approval("nope", Decision::Approve, "alice", 1);
    assert_eq!(outcome.unwrap(), DecideOutcome::NotFound);
}

pub(super) fn pending_approvals_exclude_decided_and_expired_ones(store: &dyn Store) {
    let mut later = approval("ap-later");
    later.created_at = 150;
    let mut expired = approval("ap-expired");
    expired.expires_at = 400;
    for a in [later, approval("ap-first"), approval("ap-decided"), expired] {
        store.insert_approval(&a).unwrap();
    }
    store
        .decide_approval("ap-decided", Decision::Deny, "bob", 300)
        .unwrap();

    let pending = store.pending_approvals(500).unwrap();

    let ids: Vec<&str> = pending.iter().map(|a| a.id.as_str()).collect();
    assert_eq!(ids, ["ap-first", "ap-later"]);
}

pub(super) fn audit_rows_come_back_newest_first(store: &dyn Store) {
    let bare = AuditRecord {
        at: 3,
        command: "c".into(),
        ..Default::default()
    };
    store.record_audit(&audit(1, "a")).unwrap();
    store.record_audit(&audit(2, "b")).unwrap();
    store.record_audit(&bare).unwrap();

    let recent = store.recent_audit(2).unwrap();

    assert_eq!(recent, [bare, audit(2, "b")]);
}

pub(super) fn the_outbox_is_first_in_first_out_and_taken_once(store: &dyn Store) {
    for (to, json) in [("a", "1"), ("b", "2"), ("c", "3")] {
        store.push_outbox(to, json).unwrap();
    }
    let first = store.take_outbox(2).unwrap();
    let rest = store.take_outbox(10).unwrap();
    let after = store.take_outbox(10).unwrap();

    let pair = |a: &str, b: &str| (a.to_string(), b.to_string());
    assert_eq!(first, [pair("a", "1"), pair("b", "2")]);
    assert_eq!(rest, [pair("c", "3")]);
    assert!(after.is_empty());
}

pub(super) fn a_login_token_works_once(store: &dyn Store) {
    store.insert_login_token("tok", "alice", 100).unwrap();
    let first = store.take_login_token("tok", 50).unwrap();
    let second = store.take_login_token("tok", 51).unwrap();
    assert_eq!(first.as_deref(), Some("alice"));
    assert_eq!(second, None);
}

pub(super) fn an_expired_login_token_does_not_work(store: &dyn Store) {
    store.insert_login_token("tok", "alice", 100).unwrap();
    assert_eq!(store.take_login_token("tok", 100).unwrap(), None);
    assert_eq!(store.take_login_token("other", 1).unwrap(), None);
}

pub(super) fn addresses_bind_to_users_and_rebind(store: &dyn Store) {
    store.bind_address("web:1", "alice").unwrap();
    store.bind_address("web:2", "bob").unwrap();
    store.bind_address("messenger:9", "alice").unwrap();
    store.bind_address("web:2", "alice").unwrap();

    assert_eq!(store.bound_user("web:2").unwrap().as_deref(), Some("alice"));
    assert_eq!(store.bound_user("web:3").unwrap(), None);
    let addresses = store.bound_addresses("alice").unwrap();
    assert_eq!(addresses, ["web:1", "web:2", "messenger:9"]);
    assert!(store.bound_addresses("bob").unwrap().is_empty());
}
