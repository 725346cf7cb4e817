//! `sandbot check`, `graph` and `can-i` on real and broken configs.

use std::fs;

use crate::support::{fixture, homelab, sandbot, text};

/// The original Go bot's config loads unchanged.
#[test]
fn check_accepts_the_original_homelab_config() {
    let out = sandbot(&["check", homelab().to_str().unwrap()]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stdout.contains("16 states, 18 events, 21 transitions"), "{stdout}");
    assert!(stdout.contains("SetupWireguard → setup_wireguard (shell, approved by role \"admin\")"));
}

/// The shipped example config is valid with no warnings at all.
#[test]
fn check_accepts_the_example_config_strictly() {
    let example = fixture("../config/example.yaml");
    let out = sandbot(&["check", "--strict", example.to_str().unwrap()]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "stdout:\n{stdout}\nstderr:\n{stderr}");
}

/// Each file in `tests/configs/invalid/` fails `check` with exactly the
/// error lines in its `.expected` file (paths shown relative).
#[test]
fn check_rejects_each_invalid_config_with_its_expected_errors() {
    let dir = fixture("configs/invalid");
    let mut checked = 0;
    for entry in fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("yaml") {
            continue;
        }
        let expected_path = path.with_extension("expected");
        let expected = fs::read_to_string(&expected_path)
            .unwrap_or_else(|_| panic!("missing {}", expected_path.display()));
        let name = path.file_name().unwrap().to_str().unwrap();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_sandbot"))
            .args(["check", name])
            .current_dir(&dir)
            .output()
            .unwrap();
        let (_, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(1), "{name} should fail:\n{stderr}");
        let errors: Vec<&str> = stderr.lines().filter(|l| l.contains(": error: ")).collect();
        let want: Vec<&str> = expected.lines().filter(|l| !l.is_empty()).collect();
        assert_eq!(errors, want, "{name}");
        checked += 1;
    }
    assert!(checked >= 5, "only {checked} invalid configs found");
}

/// Warnings never fail `check` unless `--strict` is given.
#[test]
fn warnings_fail_check_only_when_strict() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("warn.yaml");
    fs::write(&path, "states:\n- id: Initial\n  message: hi\n  colour: blue\n- id: Lost\n").unwrap();
    let path = path.to_str().unwrap();
    let relaxed = sandbot(&["check", path]);
    let (_, stderr) = text(&relaxed);
    assert!(relaxed.status.success(), "{stderr}");
    assert!(stderr.contains("warn.yaml:4:3: warning: unknown key `colour` in state"), "{stderr}");
    assert!(stderr.contains("warn.yaml:5:3: warning: state \"Lost\" cannot be reached"), "{stderr}");
    assert_eq!(sandbot(&["check", "--strict", path]).status.code(), Some(1));
}

/// `graph` draws every transition in both formats.
#[test]
fn graph_prints_dot_and_mermaid() {
    let config = homelab();
    let dot = sandbot(&["graph", config.to_str().unwrap()]);
    assert!(text(&dot).0.contains("\"Setup\" -> \"SetupWireguard\" [label=\"Setup VPN\"];"));
    let mermaid = sandbot(&["graph", "--format", "mermaid", config.to_str().unwrap()]);
    assert!(text(&mermaid).0.contains("Setup --> SetupWireguard: Setup VPN"));
}

/// `can-i` says yes with the granting chain, no with what is missing.
#[test]
fn can_i_explains_yes_and_no() {
    let config = homelab();
    let config = config.to_str().unwrap();
    let args = |user| ["can-i", config, "--user", user, "--command", "setup_wireguard"];
    let yes = sandbot(&args("7000000000000001"));
    assert_eq!(yes.status.code(), Some(0));
    let (stdout, _) = text(&yes);
    assert!(
        stdout.contains("permission \"run-shell-commands-perm\" ← role \"admin\" ← group \"owner\""),
        "{stdout}"
    );
    let no = sandbot(&args("7000000000000042"));
    assert_eq!(no.status.code(), Some(1));
    let (stdout, _) = text(&no);
    assert!(stdout.contains("missing permission \"run-shell-commands-perm\""), "{stdout}");
    assert!(stdout.contains("approved by role \"admin\": Owner-fb (7000000000000001)"), "{stdout}");
}
