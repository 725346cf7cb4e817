//! Conversation tests: scripted conversations run against the real bot.
//!
//! A test file is a YAML list of tests. Each test has a `name`, an
//! optional `as` (a configured user id; a guest otherwise) and `steps`.
//! A step sends something — `say: text` types text, `tap: X` taps the
//! button titled or with payload `X` — and may expect things afterwards:
//!
//! - `reply`: text that one of the replies to the sender contains;
//! - `buttons`: the button titles of the last reply to the sender;
//! - `state`: the state the conversation is in;
//! - `approval`: whether the step asked for an approval.
//!
//! ```yaml
//! - name: a guest asks for a VPN and needs approval
//!   steps:
//!     - tap: GetStarted
//!       state: Hello
//!     - say: Setup
//!       buttons: [Setup VPN, Back]
//!     - tap: Setup VPN
//!     - say: Alex
//!       approval: true
//! ```
//!
//! Each test runs on a fresh in-memory store with the config's real
//! handlers, as the address `test:<user>` (bound to that user) or
//! `test:guest`. A test stops at its first failed expectation.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;

use crate::bot::Bot;
use crate::channel::{Button, Delivery, Inbound, Input, Reply};
use crate::config::Config;
use crate::handler::Runner;
use crate::store::{self, Store};

/// One scripted conversation.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// What the test shows, in a sentence.
    pub name: String,
    /// The configured user to talk as. Default: a guest.
    #[serde(rename = "as", default)]
    pub user: Option<String>,
    /// What is sent and what is expected, in order.
    pub steps: Vec<Step>,
}

/// One message sent and what should follow.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// Text to type.
    #[serde(default)]
    pub say: Option<String>,
    /// A button to tap, by title or payload.
    #[serde(default)]
    pub tap: Option<String>,
    /// Text one reply to the sender must contain.
    #[serde(default)]
    pub reply: Option<String>,
    /// The titles of the last reply's buttons, in order.
    #[serde(default)]
    pub buttons: Option<Vec<String>>,
    /// The state after the step.
    #[serde(default)]
    pub state: Option<String>,
    /// Whether the step started an approval.
    #[serde(default)]
    pub approval: Option<bool>,
}

impl Step {
    /// `say "Setup"` or `tap "Back"`, for messages.
    pub fn action(&self) -> String {
        match (&self.say, &self.tap) {
            (Some(text), _) => format!("say {text:?}"),
            (None, Some(tap)) => format!("tap {tap:?}"),
            (None, None) => "nothing".to_string(),
        }
    }
}

/// Why a test file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// The file could not be read.
    #[error("failed to read test file {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a valid list of tests.
    #[error("invalid test file {path}: {source}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// Why, with the line and column.
        #[source]
        source: serde_yaml_ng::Error,
    },
    /// A test breaks a rule the parser cannot check.
    #[error("invalid test file {path}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

/// Read and check a test file.
pub fn load(path: &Path) -> Result<Vec<Scenario>, ScenarioError> {
    let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Read {
        path: path.into(),
        source,
    })?;
    parse(&text, path)
}

/// Parse and check test file text; `path` is used in messages.
pub fn parse(text: &str, path: &Path) -> Result<Vec<Scenario>, ScenarioError> {
    let scenarios: Vec<Scenario> =
        serde_yaml_ng::from_str(text).map_err(|source| ScenarioError::Parse {
            path: path.into(),
            source,
        })?;
    for scenario in &scenarios {
        check(scenario).map_err(|message| ScenarioError::Invalid {
            path: path.into(),
            message,
        })?;
    }
    Ok(scenarios)
}

/// Rules serde cannot express: each step sends exactly one thing.
fn check(scenario: &Scenario) -> Result<(), String> {
    for (i, step) in scenario.steps.iter().enumerate() {
        if step.say.is_some() == step.tap.is_some() {
            return Err(format!(
                "test {:?}, step {}: give exactly one of say or tap",
                scenario.name,
                i + 1
            ));
        }
    }
    Ok(())
}

/// A failed expectation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The test's name.
    pub test: String,
    /// The step, from 1; 0 for a problem before the first step.
    pub step: usize,
    /// What the step did, e.g. `say "Setup"`.
    pub action: String,
    /// What was expected and what happened.
    pub message: String,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.step == 0 {
            return write!(f, "test {:?}: {}", self.test, self.message);
        }
        write!(
            f,
            "test {:?}, step {} ({}): {}",
            self.test, self.step, self.action, self.message
        )
    }
}

/// The outcome of a whole file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Names of the tests that passed.
    pub passed: Vec<String>,
    /// One failure per failed test.
    pub failures: Vec<Failure>,
}

impl Report {
    /// Add one test's result.
    pub fn record(&mut self, name: &str, result: Result<(), Failure>) {
        match result {
            Ok(()) => self.passed.push(name.to_string()),
            Err(failure) => self.failures.push(failure),
        }
    }

    /// `N passed, M failed`.
    pub fn summary(&self) -> String {
        format!(
            "{} passed, {} failed",
            self.passed.len(),
            self.failures.len()
        )
    }
}

/// Run every test, each on a fresh memory store.
pub async fn run_all(config: Arc<Config>, runner: Arc<Runner>, scenarios: &[Scenario]) -> Report {
    let mut report = Report::default();
    for scenario in scenarios {
        let result = run(config.clone(), runner.clone(), scenario).await;
        report.record(&scenario.name, result);
    }
    report
}

/// Run one test; the first failed expectation ends it.
pub async fn run(
    config: Arc<Config>,
    runner: Arc<Runner>,
    scenario: &Scenario,
) -> Result<(), Failure> {
    let fail = |step: usize, action: String, message: String| Failure {
        test: scenario.name.clone(),
        step,
        action,
        message,
    };
    let store: Arc<dyn Store> = Arc::new(store::memory::MemoryStore::default());
    let address = sender(&config, store.as_ref(), scenario)
        .map_err(|message| fail(0, String::new(), message))?;
    let mut talk = Talk {
        bot: Bot::new(config, store.clone(), runner),
        store,
        address,
        shown: None,
    };
    for (i, step) in scenario.steps.iter().enumerate() {
        talk.step(step)
            .await
            .map_err(|message| fail(i + 1, step.action(), message))?;
    }
    Ok(())
}

/// The address a test talks from, bound to its user when it has one.
fn sender(config: &Config, store: &dyn Store, scenario: &Scenario) -> Result<String, String> {
    let Some(user) = &scenario.user else {
        return Ok("test:guest".to_string());
    };
    if !config.users.contains_key(user) {
        return Err(format!("user {user:?} is not in the config"));
    }
    let address = format!("test:{user}");
    store
        .bind_address(&address, user)
        .map_err(|e| format!("failed to bind {address}: {e}"))?;
    Ok(address)
}

/// A conversation in progress.
struct Talk {
    bot: Bot,
    store: Arc<dyn Store>,
    address: String,
    /// The reply shown last, whose buttons `tap` looks in.
    shown: Option<Reply>,
}

impl Talk {
    /// Send one step's message and check its expectations.
    async fn step(&mut self, step: &Step) -> Result<(), String> {
        let input = self.input(step)?;
        let pending_before = self.pending()?;
        let inbound = Inbound {
            address: self.address.clone(),
            message_id: None,
            input: Some(input),
        };
        let deliveries = self.bot.handle(inbound).await;
        let mine = replies_to(&deliveries, &self.address);
        if let Some(last) = mine.last() {
            self.shown = Some((*last).clone());
        }
        let requested = self.pending()? > pending_before;
        self.expect(step, &mine, requested)
    }

    /// What a step sends: text, or the payload of the button it names.
    /// A tap must name a button on show, except the Get Started event,
    /// which Messenger offers as a button of its own at any time.
    fn input(&mut self, step: &Step) -> Result<Input, String> {
        if let Some(text) = &step.say {
            return Ok(Input::Text(text.clone()));
        }
        let tap = step.tap.clone().unwrap_or_default();
        let shown = self
            .shown
            .get_or_insert_with(|| self.bot.current_reply(&self.address));
        if let Some(button) = find_button(&shown.buttons, &tap) {
            return Ok(Input::Payload(button.payload.clone()));
        }
        if tap == self.bot.config().get_started_event {
            return Ok(Input::Payload(tap));
        }
        Err(format!(
            "no button {tap:?} to tap; shown: {:?}",
            titles(&shown.buttons)
        ))
    }

    fn pending(&self) -> Result<usize, String> {
        let pending = self.store.pending_approvals(store::now());
        pending
            .map(|p| p.len())
            .map_err(|e| format!("failed to read approvals: {e}"))
    }

    /// Compare what happened with what the step expects.
    fn expect(&self, step: &Step, mine: &[&Reply], requested: bool) -> Result<(), String> {
        if let Some(want) = &step.reply {
            expect_reply(want, mine)?;
        }
        if let Some(want) = &step.buttons {
            let got = mine.last().map(|r| titles(&r.buttons)).unwrap_or_default();
            if &got != want {
                return Err(format!("expected buttons {want:?}, got {got:?}"));
            }
        }
        if let Some(want) = &step.state {
            let got = self.bot.current_state(&self.address);
            if &got != want {
                return Err(format!("expected state {want:?}, got {got:?}"));
            }
        }
        match step.approval {
            Some(true) if !requested => Err("expected an approval request, got none".into()),
            Some(false) if requested => Err("expected no approval request, got one".into()),
            _ => Ok(()),
        }
    }
}

/// A button by title, or else by payload.
fn find_button<'a>(buttons: &'a [Button], name: &str) -> Option<&'a Button> {
    let by_title = buttons.iter().find(|b| b.title == name);
    by_title.or_else(|| buttons.iter().find(|b| b.payload == name))
}

fn replies_to<'a>(deliveries: &'a [Delivery], address: &str) -> Vec<&'a Reply> {
    deliveries
        .iter()
        .filter(|d| d.to == address)
        .map(|d| &d.reply)
        .collect()
}

fn titles(buttons: &[Button]) -> Vec<String> {
    buttons.iter().map(|b| b.title.clone()).collect()
}

fn expect_reply(want: &str, mine: &[&Reply]) -> Result<(), String> {
    let texts: Vec<String> = mine.iter().map(|r| r.plain_text()).collect();
    if texts.iter().any(|t| t.contains(want)) {
        return Ok(());
    }
    match texts.is_empty() {
        true => Err(format!(
            "expected a reply containing {want:?}, got no reply"
        )),
        false => Err(format!(
            "expected a reply containing {want:?}, got {:?}",
            texts.join("\n")
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(text: &str) -> Result<Vec<Scenario>, ScenarioError> {
        parse(text, Path::new("t.yaml"))
    }

    #[test]
    fn a_test_file_parses_into_steps() {
        let text = r#"
- name: walks
  as: "42"
  steps:
    - tap: GetStarted
      state: Hello
      buttons: [Setup, Back]
    - say: Alex
      reply: Done
      approval: true
"#;
        let scenarios = parse_str(text).unwrap();
        assert_eq!(scenarios[0].user.as_deref(), Some("42"));
        assert_eq!(scenarios[0].steps[0].action(), r#"tap "GetStarted""#);
        assert_eq!(scenarios[0].steps[1].approval, Some(true));
    }

    #[test]
    fn a_step_that_sends_nothing_is_refused() {
        let err = parse_str("- name: x\n  steps:\n    - state: Hello\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"invalid test file t.yaml: test "x", step 1: give exactly one of say or tap"#
        );
    }

    #[test]
    fn a_misspelt_expectation_is_refused() {
        let err = parse_str("- name: x\n  steps:\n    - say: hi\n      stat: Hello\n");
        assert!(
            err.unwrap_err()
                .to_string()
                .contains("unknown field `stat`")
        );
    }

    #[test]
    fn a_failure_names_the_test_step_and_action() {
        let failure = Failure {
            test: "name".into(),
            step: 3,
            action: r#"say "Setup""#.into(),
            message: r#"expected state "Setup", got "Hello""#.into(),
        };
        assert_eq!(
            failure.to_string(),
            r#"test "name", step 3 (say "Setup"): expected state "Setup", got "Hello""#
        );
    }

    #[test]
    fn tap_finds_a_button_by_title_before_payload() {
        let buttons = vec![
            Button {
                title: "Back".into(),
                payload: "Setup".into(),
            },
            Button {
                title: "Setup".into(),
                payload: "GoSetup".into(),
            },
        ];
        assert_eq!(find_button(&buttons, "Setup").unwrap().payload, "GoSetup");
        assert_eq!(find_button(&buttons, "Back").unwrap().payload, "Setup");
        assert!(find_button(&buttons, "Nope").is_none());
    }

    #[test]
    fn a_missing_reply_text_is_reported_with_what_came() {
        let reply = Reply::text("How can I help?");
        let err = expect_reply("Setup", &[&reply]).unwrap_err();
        assert_eq!(
            err,
            r#"expected a reply containing "Setup", got "How can I help?""#
        );
    }
}
