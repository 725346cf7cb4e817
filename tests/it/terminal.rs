//! `sandbot chat` driven through its stdin, and `sandbot test` on the
//! shipped conversation tests.

use std::io::Write;
use std::process::{Command, Stdio};

use crate::support::{fixture, homelab, root, text};

/// The stand-in `wg` and `infra_cli` before the system PATH.
fn stub_path() -> String {
    format!(
        "{}:/usr/local/bin:/usr/bin:/bin",
        fixture("conversations/bin").display()
    )
}

/// Run a subcommand with the stubs on PATH and `stdin` as input.
fn run(args: &[&str], stdin: &str) -> std::process::Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_sandbot"))
        .args(args)
        .env("PATH", stub_path())
        .env("SANDBOT_LOG", "warn")
        .current_dir(root())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

/// The owner walks the homelab config in the terminal by button numbers
/// and text, and runs the VPN handler, which prints its config.
#[test]
fn chat_walks_the_homelab_config_and_runs_a_handler() {
    let config = homelab();
    let args = ["chat", config.to_str().unwrap(), "--as", "7000000000000001"];
    let out = run(
        &args,
        "GetStarted\nSetup\nSetup VPN\nLaptop\n/state\n/quit\n",
    );
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stdout.contains("What are you looking to setup?"),
        "{stdout}"
    );
    assert!(
        stdout.contains("Successfully added vpn config for Laptop"),
        "{stdout}"
    );
    assert!(
        stdout.contains("SetupWireguard"),
        "/state names the state:\n{stdout}"
    );
}

/// A guest's request in the terminal shows the approval request sent to
/// the owner.
#[test]
fn chat_shows_an_approval_request_sent_to_someone_else() {
    let config = homelab();
    let out = run(
        &["chat", config.to_str().unwrap()],
        "GetStarted\nSetup\nSetupVPN\nAlex\n",
    );
    let (stdout, _) = text(&out);
    assert!(
        stdout.contains("→ to messenger:7000000000000001"),
        "{stdout}"
    );
    assert!(
        stdout.contains("asks to run \"Setup Wireguard\""),
        "{stdout}"
    );
}

/// The shipped conversation tests pass on both configs.
#[test]
fn shipped_conversation_tests_pass() {
    let example = [
        "test",
        "config/example.yaml",
        "tests/conversations/example.yaml",
    ];
    let out = run(&example, "");
    assert!(out.status.success(), "{:?}", text(&out));
    let homelab = homelab();
    let homelab = [
        "test",
        homelab.to_str().unwrap(),
        "tests/conversations/homelab.yaml",
    ];
    let out = run(&homelab, "");
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains(" passed, 0 failed"), "{stdout}");
}

/// A test expecting the wrong reply fails, naming the test and the step.
#[test]
fn a_wrong_expectation_fails_and_points_at_the_step() {
    let dir = tempfile::tempdir().unwrap();
    let tests = dir.path().join("wrong.yaml");
    let wrong = "- name: greeting\n  steps:\n    - tap: GetStarted\n      reply: Good morning\n";
    std::fs::write(&tests, wrong).unwrap();
    let config = homelab();
    let out = run(
        &["test", config.to_str().unwrap(), tests.to_str().unwrap()],
        "",
    );
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    let all = format!("{stdout}{stderr}");
    assert!(all.contains("test \"greeting\", step 1"), "{all}");
    assert!(all.contains("Good morning"), "{all}");
    assert!(all.contains("0 passed, 1 failed"), "{all}");
}
