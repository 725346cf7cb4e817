//! Wasm handlers through the whole bot: capabilities follow the principal
//! a run is for, approvals lend the approver's grants, hostile guests end
//! with a clear message, and a component's event moves the conversation.

use std::path::Path;
use std::sync::Arc;

use sandbot::bot::Bot;
use sandbot::channel::{Delivery, Inbound, Input};
use sandbot::config::load_str;
use sandbot::handler::Runner;
use sandbot::store::{self, Decision};

use crate::support::fixture;

const ADMIN: &str = "messenger:100";
const GUEST: &str = "messenger:200";

/// A bot over config text written beside the guests.
fn bot(yaml: &str) -> Bot {
    let path = fixture("guests/bot.yaml");
    let config = load_str(yaml, &path).expect("config loads").config;
    let runner = Runner::prepare(&config).expect("handlers compile");
    Bot::new(
        Arc::new(config),
        store::open("memory").unwrap(),
        Arc::new(runner),
    )
}

/// Send text (or a payload) as `from`; returns every delivery.
async fn say(bot: &Bot, from: &str, input: Input) -> Vec<Delivery> {
    bot.handle(Inbound {
        address: from.into(),
        message_id: None,
        input: Some(input),
    })
    .await
}

fn text(s: &str) -> Input {
    Input::Text(s.into())
}

fn tap(s: &str) -> Input {
    Input::Payload(s.into())
}

/// What a delivery shows, text then output.
fn shown(d: &Delivery) -> String {
    d.reply.plain_text()
}

/// The config for the two-roles tests: the same preopen-listing module
/// behind an open command and a guarded one; only `admin` grants /data.
fn two_roles(data: &Path) -> String {
    format!(
        r#"
permissions: [&p {{id: data}}]
roles:
- &admin
  id: admin
  permissions: [*p]
  grants:
    dirs: [{{host: "{data}", guest: /data, access: read-only}}]
commands:
- &open {{id: open, wasm: list_preopens.wat, needs: {{dirs: [/data]}}, showCmdOutput: true}}
- &guarded
  id: guarded
  wasm: {{module: list_preopens.wat}}
  needs: {{dirs: [/data]}}
  permissions: [*p]
  approvedBy: *admin
  showCmdOutput: true
users: [{{id: "100", name: Admin, roles: [*admin]}}]
---
states:
- {{id: Initial, message: pick, defaultHandler: *open}}
- {{id: Guarded, message: guarded, defaultHandler: *guarded}}
events: [{{id: Go}}, {{id: Back}}]
statemachine:
- {{name: Go, src: [Initial], dst: Guarded}}
- {{name: Back, src: [Guarded], dst: Initial}}
"#,
        data = data.display()
    )
}

/// One handler, two principals: the admin's run sees /data, a guest's
/// does not.
#[tokio::test]
async fn the_same_handler_sees_data_for_the_admin_and_not_for_a_guest() {
    let data = tempfile::tempdir().unwrap();
    let bot = bot(&two_roles(data.path()));
    let admin = say(&bot, ADMIN, text("ls")).await;
    assert_eq!(shown(&admin[0]).trim(), "/data");
    let guest = say(&bot, GUEST, text("ls")).await;
    assert!(!shown(&guest[0]).contains("/data"), "{guest:?}");
    assert!(shown(&guest[0]).starts_with("Done"), "{guest:?}");
}

/// A guest's request approved by the admin runs with the admin's grants.
#[tokio::test]
async fn an_approved_run_gets_the_approvers_grants() {
    let data = tempfile::tempdir().unwrap();
    let bot = bot(&two_roles(data.path()));
    say(&bot, GUEST, tap("Go")).await;
    let asked = say(&bot, GUEST, text("ls")).await;
    let request = asked
        .iter()
        .find(|d| d.to == ADMIN)
        .expect("admin is asked");
    let approve = request.reply.buttons[0].payload.clone();
    let decided = say(&bot, ADMIN, tap(&approve)).await;
    let to_guest: Vec<String> = decided
        .iter()
        .filter(|d| d.to == GUEST)
        .map(shown)
        .collect();
    assert!(to_guest.iter().any(|t| t.trim() == "/data"), "{to_guest:?}");
    let audit = bot.store().recent_audit(1).unwrap();
    assert_eq!(audit[0].approver.as_deref(), Some("100"));
    assert_eq!(audit[0].outcome, "success");
    assert!(audit[0].fuel_used.is_some_and(|f| f > 0));
}

/// Deciding from the shell's address works like a tap in chat.
#[tokio::test]
async fn a_decision_from_the_cli_address_is_checked_like_a_tap() {
    let data = tempfile::tempdir().unwrap();
    let bot = bot(&two_roles(data.path()));
    say(&bot, GUEST, tap("Go")).await;
    say(&bot, GUEST, text("ls")).await;
    let pending = bot.store().pending_approvals(store::now()).unwrap();
    let refused = bot
        .decide("cli:nobody", &pending[0].id, Decision::Approve)
        .await;
    assert!(shown(&refused[0]).contains("not allowed"), "{refused:?}");
    let done = bot.decide("cli:100", &pending[0].id, Decision::Deny).await;
    assert!(
        done.iter()
            .any(|d| d.to == GUEST && shown(d).contains("denied by Admin"))
    );
}

/// An infinite loop ends with a clear message, and the bot goes on.
#[tokio::test]
async fn an_infinite_loop_is_stopped_and_the_next_message_is_served() {
    let yaml = r#"
commands: [{id: spin, wasm: infinite_loop.wat, limits: {fuel: 1000000}}]
---
states: [{id: Initial, message: hi, defaultHandler: spin}]
"#;
    let bot = bot(yaml);
    let stopped = say(&bot, GUEST, text("go")).await;
    assert!(
        shown(&stopped[0]).contains("used up its compute budget"),
        "{stopped:?}"
    );
    let audit = bot.store().recent_audit(1).unwrap();
    assert_eq!(audit[0].outcome, "out-of-fuel");
    let next = say(&bot, GUEST, text("again")).await;
    assert!(shown(&next[0]).contains("used up its compute budget"));
}

/// A component of our world returns an event that moves the user on.
#[tokio::test]
async fn a_components_reply_event_moves_the_user_to_the_named_state() {
    let path = fixture("../config/example-wasm.yaml");
    let config = sandbot::config::load(&path).expect("example loads").config;
    let runner = Runner::prepare(&config).expect("handlers compile");
    let bot = Bot::new(
        Arc::new(config),
        store::open("memory").unwrap(),
        Arc::new(runner),
    );
    let ada = "terminal:ada";
    say(&bot, ada, tap("VpnName")).await;
    assert_eq!(bot.current_state(ada), "VpnName");
    let replies = say(&bot, ada, text("laptop")).await;
    assert_eq!(bot.current_state(ada), "VpnNameAccepted", "{replies:?}");
    assert_eq!(
        shown(replies.last().unwrap()),
        "That name is free. An admin will finish the setup."
    );
}
