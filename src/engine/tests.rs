//! Engine tests on the original homelab config and small made-up ones.

use std::path::Path;
use std::time::Duration;

use super::*;
use crate::config::load_str;
use crate::handler::Status;

const HOMELAB: &str = include_str!("../../tests/fixtures/configs/homelab-original.yaml");
const OWNER: &str = "7000000000000001";

fn homelab() -> Config {
    load_str(HOMELAB, Path::new("homelab.yaml")).expect("homelab config loads").config
}

fn titles(reply: &Reply) -> Vec<&str> {
    reply.buttons.iter().map(|b| b.title.as_str()).collect()
}

fn moved_to(step: &Step) -> &str {
    match step {
        Step::Move { state, .. } => state,
        other => panic!("expected a move, got {other:?}"),
    }
}

fn payload(s: &str) -> Input {
    Input::Payload(s.to_string())
}

fn text(s: &str) -> Input {
    Input::Text(s.to_string())
}

fn outcome(status: Status, output: &str) -> Outcome {
    Outcome {
        status,
        output: output.to_string(),
        truncated: false,
        duration: Duration::from_millis(3),
        fuel_used: None,
        peak_memory: None,
        event: None,
    }
}

#[test]
fn get_started_moves_from_initial_to_hello_with_sorted_buttons() {
    let c = homelab();
    let e = Engine::new(&c);
    let step = e.respond(&Principal::guest(), e.current(None), Some(&payload("GetStarted")));
    let Step::Move { state, reply } = step else { panic!("{step:?}") };
    assert_eq!(state, "Hello");
    assert_eq!(reply.text, "How can I help?");
    assert_eq!(titles(&reply), ["Service Info", "Setup", "Reset conversation"]);
}

#[test]
fn help_on_info_is_a_self_loop_answering_with_the_info_message() {
    let c = homelab();
    let e = Engine::new(&c);
    let step = e.respond(&Principal::guest(), &c.states["Info"], Some(&payload("Help")));
    let Step::Move { state, reply } = step else { panic!("{step:?}") };
    assert_eq!(state, "Info");
    assert_eq!(reply.text, "Get more information about my services.");
    assert!(titles(&reply).contains(&"Help"));
}

#[test]
fn buttons_follow_order_id_and_ties_keep_file_order() {
    let c = homelab();
    let e = Engine::new(&c);
    let got: Vec<String> = e.buttons(&c.states["Info"]).into_iter().map(|b| b.payload).collect();
    let want = [
        "ShowBlogInfo", "ShowGrafanaInfo", "ShowPrivatebinInfo", "ShowHackmdInfo",
        "ShowKMSInfo", "ShowMailInfo", "ShowStatusPageInfo", "ShowWireguardInfo",
        "ShowF1Info", "Help", "Back",
    ];
    assert_eq!(got, want);
}

#[test]
fn typed_text_matches_an_event_title_ignoring_case() {
    let c = homelab();
    let e = Engine::new(&c);
    let step = e.respond(&Principal::guest(), &c.states["Hello"], Some(&text("setup")));
    assert_eq!(moved_to(&step), "Setup");
    let step = e.respond(&Principal::guest(), &c.states["Setup"], Some(&text("Setup VPN")));
    assert_eq!(moved_to(&step), "SetupWireguard");
}

#[test]
fn unknown_text_without_a_handler_is_not_understood_with_buttons_again() {
    let c = homelab();
    let e = Engine::new(&c);
    let step = e.respond(&Principal::guest(), &c.states["Hello"], Some(&text("hmm")));
    let Step::Stay { reply } = step else { panic!("{step:?}") };
    assert!(reply.text.contains("didn't understand"));
    assert_eq!(titles(&reply), ["Service Info", "Setup", "Reset conversation"]);
}

#[test]
fn a_message_with_nothing_readable_is_not_understood() {
    let c = homelab();
    let e = Engine::new(&c);
    assert!(matches!(e.respond(&Principal::guest(), &c.states["Hello"], None), Step::Stay { .. }));
}

#[test]
fn guest_text_in_a_handler_state_asks_for_approval() {
    let c = homelab();
    let e = Engine::new(&c);
    let step = e.respond(&Principal::guest(), &c.states["SetupWireguard"], Some(&text("Alex")));
    assert_eq!(step, Step::Ask { command: "setup_wireguard".into(), input: "Alex".into() });
}

#[test]
fn owner_text_in_a_handler_state_runs_the_command() {
    let c = homelab();
    let e = Engine::new(&c);
    let owner = Principal::resolve(&c, Some(OWNER));
    let step = e.respond(&owner, &c.states["SetupWireguard"], Some(&text("Alex")));
    assert_eq!(step, Step::Run { command: "setup_wireguard".into(), input: "Alex".into() });
}

#[test]
fn back_in_a_handler_state_is_an_event_not_handler_input() {
    let c = homelab();
    let e = Engine::new(&c);
    let step = e.respond(&Principal::guest(), &c.states["SetupWireguard"], Some(&text("Back")));
    assert_eq!(moved_to(&step), "Setup");
}

#[test]
fn a_stale_payload_in_a_handler_state_is_never_handler_input() {
    let c = homelab();
    let e = Engine::new(&c);
    let step = e.respond(&Principal::guest(), &c.states["SetupWireguard"], Some(&payload("Alex")));
    assert!(matches!(step, Step::Stay { .. }), "{step:?}");
}

#[test]
fn get_started_from_any_state_restarts_the_conversation() {
    let c = homelab();
    let e = Engine::new(&c);
    let step = e.respond(&Principal::guest(), &c.states["Blog"], Some(&payload("GetStarted")));
    assert_eq!(moved_to(&step), "Hello");
}

#[test]
fn a_state_that_no_longer_exists_falls_back_to_the_start() {
    let c = homelab();
    let e = Engine::new(&c);
    assert_eq!(e.current(Some("Removed")).id, "Initial");
    assert_eq!(e.current(Some("Info")).id, "Info");
}

const GUARDED: &str = r#"
permissions: [&p {idstr: secret}]
roles: [&r {id: r, permissions: [*p]}]
commands:
- &echo
  id: echo
  prettyName: Echo
  cmd: echo "$line"
  showCmdOutput: true
  onSuccess: All good.
  input: {pattern: "[a-z]+", maxLength: 5}
- &hidden {id: hidden, cmd: "true"}
- &locked {id: locked, cmd: "true", permissions: [*p]}
users: [{id: u1, roles: [*r]}]
---
initialState: Start
states:
- {id: Start, message: hi, defaultHandler: *echo}
- {id: Vault, message: secrets, permissions: [*p]}
- {id: Done, message: finished}
- {id: Locked, message: locked, defaultHandler: *locked}
events:
- {id: Open, message: Open}
- {id: Finish, message: Finish}
- {id: Lock, message: Lock}
statemachine:
- {name: *Open, src: [Start], dst: Vault}
- {name: Finish, src: [Start], dst: Done}
- {name: Lock, src: [Start], dst: Locked}
"#;

fn guarded() -> Config {
    let text = GUARDED.replace("*Open", "Open");
    load_str(&text, Path::new("guarded.yaml")).expect("guarded config loads").config
}

#[test]
fn entering_a_state_needs_its_permissions() {
    let c = guarded();
    let e = Engine::new(&c);
    let start = &c.states["Start"];
    let step = e.respond(&Principal::guest(), start, Some(&payload("Open")));
    let Step::Stay { reply } = step else { panic!("{step:?}") };
    assert!(reply.text.contains("don't have access"));
    let member = Principal::resolve(&c, Some("u1"));
    assert_eq!(moved_to(&e.respond(&member, start, Some(&payload("Open")))), "Vault");
}

#[test]
fn input_rules_are_checked_before_anything_runs() {
    let c = guarded();
    let e = Engine::new(&c);
    let start = &c.states["Start"];
    let too_long = e.respond(&Principal::guest(), start, Some(&text("abcdefg")));
    assert!(matches!(&too_long, Step::Stay { reply } if reply.text.contains("too long")));
    let bad = e.respond(&Principal::guest(), start, Some(&text("ab1")));
    assert!(matches!(&bad, Step::Stay { reply } if reply.text.contains("[a-z]+")));
    let ok = e.respond(&Principal::guest(), start, Some(&text("abc")));
    assert_eq!(ok, Step::Run { command: "echo".into(), input: "abc".into() });
}

#[test]
fn a_command_without_approvers_is_refused_to_those_who_lack_permission() {
    let c = guarded();
    let e = Engine::new(&c);
    let step = e.respond(&Principal::guest(), &c.states["Locked"], Some(&text("go")));
    assert!(matches!(&step, Step::Stay { reply } if reply.text.contains("not allowed")), "{step:?}");
}

#[test]
fn a_successful_run_shows_output_then_on_success() {
    let c = guarded();
    let e = Engine::new(&c);
    let (start, cmd) = (&c.states["Start"], &c.commands["echo"]);
    let limits = Limits::default();
    let (replies, next) =
        e.after_run(&Principal::guest(), start, cmd, &outcome(Status::Success, "abc\n"), &limits);
    assert_eq!(next, None);
    assert_eq!(replies[0].output.as_deref(), Some("abc"));
    assert_eq!(replies[1].text, "All good.");
    assert_eq!(titles(&replies[1]), ["Open", "Finish", "Lock"]);
}

#[test]
fn a_failed_run_says_why_and_skips_on_success() {
    let c = guarded();
    let e = Engine::new(&c);
    let (start, cmd) = (&c.states["Start"], &c.commands["echo"]);
    let limits = Limits::default();
    let (replies, _) =
        e.after_run(&Principal::guest(), start, cmd, &outcome(Status::TimedOut, ""), &limits);
    assert_eq!(replies.len(), 1);
    assert!(replies[0].text.contains("ran longer than 30s"), "{}", replies[0].text);
}

#[test]
fn a_handler_event_moves_the_user_on() {
    let c = guarded();
    let e = Engine::new(&c);
    let (start, cmd) = (&c.states["Start"], &c.commands["echo"]);
    let mut done = outcome(Status::Success, "ok");
    done.event = Some("Finish".into());
    let (replies, next) = e.after_run(&Principal::guest(), start, cmd, &done, &Limits::default());
    assert_eq!(next.as_deref(), Some("Done"));
    assert_eq!(replies.last().unwrap().text, "finished");
}
