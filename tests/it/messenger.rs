//! The original homelab bot served on Messenger, end to end: signed
//! webhooks in, the Send API (a local stand-in) out, real shell handlers
//! with stub `wg` and `infra_cli` commands, SQLite state.

use std::path::Path;
use std::time::Duration;

use serde_json::Value;
use tempfile::TempDir;

use crate::support::graph::GraphStandIn;
use crate::support::server::{
    self, Options, Server, body, post_signed, post_webhook, postback_body, sign1, sign256,
    text_body, write_script,
};
use crate::support::{fixture, homelab};

const GUEST: &str = "7000000000000042";
const OWNER: &str = "7000000000000001";
const WAIT: Duration = Duration::from_secs(20);

/// A homelab bot with stubs, a Graph stand-in and a SQLite store.
struct Homelab {
    graph: GraphStandIn,
    server: Option<Server>,
    dir: TempDir,
}

impl Homelab {
    /// Start the bot on the original config.
    async fn start() -> Homelab {
        Homelab::start_with(&homelab()).await
    }

    /// Start the bot on a given config.
    async fn start_with(config: &Path) -> Homelab {
        let dir = tempfile::tempdir().unwrap();
        install_stubs(dir.path());
        let graph = GraphStandIn::start().await;
        let mut bot = Homelab { graph, server: None, dir };
        bot.server = Some(Server::start(&bot.options(config)));
        bot
    }

    /// The server options for this bot.
    fn options(&self, config: &Path) -> Options {
        Options {
            config: config.to_path_buf(),
            store: format!("sqlite://{}", self.dir.path().join("state.db").display()),
            graph_url: Some(self.graph.url()),
            path: vec![self.dir.path().join("bin")],
            cwd: self.dir.path().to_path_buf(),
        }
    }

    fn server(&self) -> &Server {
        self.server.as_ref().unwrap()
    }

    /// Stop the server and start it again on the same store.
    fn restart(&mut self) {
        self.server.take().unwrap().stop();
        self.server = Some(Server::start(&self.options(&homelab())));
    }

    /// Post a signed body; it must be accepted.
    async fn send(&self, body: &[u8]) {
        assert_eq!(post_signed(self.server(), body).await, 200);
    }

    /// Post a fixture body, signed.
    async fn send_fixture(&self, name: &str) {
        let body = std::fs::read(fixture(&format!("fixtures/messenger/{name}"))).unwrap();
        self.send(&body).await;
    }

    /// Wait until `psid` has received `count` messages; returns them all.
    async fn messages(&self, psid: &str, count: usize) -> Vec<Value> {
        self.graph.wait_for_messages(psid, count, WAIT).await
    }

    /// The text of the `n`th message (1-based) to `psid`, waiting for it.
    async fn nth_text(&self, psid: &str, n: usize) -> String {
        let all = self.messages(psid, n).await;
        all[n - 1]["text"].as_str().unwrap_or_default().to_string()
    }

    /// Walk the guest to SetupWireguard with the fixture bodies.
    async fn guest_to_setup_vpn(&self) {
        self.send_fixture("postback_get_started.json").await;
        assert_eq!(self.nth_text(GUEST, 1).await, "How can I help?");
        self.send_fixture("message_text.json").await;
        assert_eq!(self.nth_text(GUEST, 2).await, "What are you looking to setup?");
        self.send_fixture("message_quick_reply.json").await;
        assert!(self.nth_text(GUEST, 3).await.starts_with("I use wireguard"));
    }

    /// The guest asks for a VPN config named `name`; returns the approval
    /// request the owner got (its payloads).
    async fn guest_requests(&self, name: &str, owner_count: usize) -> (String, String) {
        self.send(&text_body(GUEST, &format!("m_name_{name}_{owner_count}"), name)).await;
        let request = &self.messages(OWNER, owner_count).await[owner_count - 1];
        let replies = request["quick_replies"].as_array().expect("approval has buttons");
        let titles: Vec<&str> = replies.iter().map(|r| r["title"].as_str().unwrap()).collect();
        assert_eq!(titles, ["Approve", "Deny"]);
        let payload = |i: usize| replies[i]["payload"].as_str().unwrap().to_string();
        (payload(0), payload(1))
    }

    /// Lines the `infra_cli` stub logged.
    fn stub_calls(&self) -> Vec<String> {
        let log = self.dir.path().join("infra_cli.log");
        let text = std::fs::read_to_string(log).unwrap_or_default();
        text.lines().map(str::to_string).collect()
    }
}

/// Stub `wg` and `infra_cli` under `dir/bin`; `infra_cli` logs its
/// arguments to `dir/infra_cli.log` and prints an address.
fn install_stubs(dir: &Path) {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let wg = "#!/bin/sh\ncase \"$1\" in\n  genkey) echo cHJpdmF0ZS1rZXk=;;\n  \
              pubkey) cat >/dev/null; echo cHVibGljLWtleQ==;;\nesac\n";
    write_script(&bin, "wg", wg);
    let log = dir.join("infra_cli.log");
    let infra = format!("#!/bin/sh\necho \"$*\" >> '{}'\necho 10.8.0.7/32\n", log.display());
    write_script(&bin, "infra_cli", &infra);
}

/// Nothing more arrives for `psid` within a short while.
async fn assert_quiet(bot: &Homelab, psid: &str, expected: usize) {
    tokio::time::sleep(Duration::from_millis(700)).await;
    let got = bot.graph.messages_to(psid);
    assert_eq!(got.len(), expected, "unexpected messages: {got:#?}");
}

/// A guest asks for a VPN, the owner approves, the stub runs with the
/// guest's input and the guest gets the output.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guest_vpn_request_approved_by_owner_runs_and_replies() {
    let bot = Homelab::start().await;
    bot.guest_to_setup_vpn().await;
    let (approve, _) = bot.guest_requests("Alex", 1).await;
    let ack = bot.nth_text(GUEST, 4).await;
    assert!(ack.contains("You need approval to run \"Setup Wireguard\""), "{ack}");
    let request = bot.nth_text(OWNER, 1).await;
    assert!(request.contains("asks to run \"Setup Wireguard\""), "{request}");
    assert!(request.contains("Alex"), "{request}");

    bot.send(&postback_body(OWNER, "m_ok", &approve)).await;
    let guest = bot.messages(GUEST, 6).await;
    assert!(guest[4]["text"].as_str().unwrap().contains("Owner-fb approved your request"));
    let output = guest[5]["text"].as_str().unwrap();
    assert!(output.contains("Successfully added vpn config for Alex"), "{output}");
    assert!(output.contains("Address = 10.8.0.7/32"), "{output}");
    let summary = bot.nth_text(OWNER, 2).await;
    assert!(summary.starts_with("Approved. Ran \"Setup Wireguard\""), "{summary}");
    let calls = bot.stub_calls();
    assert_eq!(calls.len(), 1);
    assert!(calls[0].contains("-vpn-client-name Alex"), "{calls:?}");
}

/// A denied request runs nothing and tells the guest.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn denied_request_runs_nothing_and_tells_the_guest() {
    let bot = Homelab::start().await;
    bot.guest_to_setup_vpn().await;
    let (_, deny) = bot.guest_requests("Alex", 1).await;
    bot.send(&postback_body(OWNER, "m_no", &deny)).await;
    let told = bot.nth_text(GUEST, 5).await;
    assert!(told.contains("was denied by Owner-fb"), "{told}");
    assert!(bot.nth_text(OWNER, 2).await.starts_with("Denied."));
    assert!(bot.stub_calls().is_empty());
}

/// Approving twice runs once; the second tap is told who decided.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approving_twice_runs_once() {
    let bot = Homelab::start().await;
    bot.guest_to_setup_vpn().await;
    let (approve, deny) = bot.guest_requests("Alex", 1).await;
    bot.send(&postback_body(OWNER, "m_ok1", &approve)).await;
    bot.messages(OWNER, 2).await;
    bot.send(&postback_body(OWNER, "m_ok2", &approve)).await;
    bot.send(&postback_body(OWNER, "m_no3", &deny)).await;
    let owner = bot.messages(OWNER, 4).await;
    for late in &owner[2..4] {
        let text = late["text"].as_str().unwrap();
        assert_eq!(text, "This request was already approved by Owner-fb.");
    }
    assert_eq!(bot.stub_calls().len(), 1);
}

/// A guest who sends the approve payload decides nothing, as text or as a
/// forged button tap.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guest_cannot_decide_with_the_approve_payload() {
    let bot = Homelab::start().await;
    bot.guest_to_setup_vpn().await;
    let (approve, _) = bot.guest_requests("Alex", 1).await;
    bot.send(&postback_body(GUEST, "m_forged", &approve)).await;
    let refused = bot.nth_text(GUEST, 5).await;
    assert_eq!(refused, "Sorry, you are not allowed to decide this request.");
    // Typed, it is just more handler input: another request, nothing runs.
    bot.send(&text_body(GUEST, "m_typed", &approve)).await;
    bot.messages(OWNER, 2).await;
    assert!(bot.stub_calls().is_empty());
    bot.send(&postback_body(OWNER, "m_ok", &approve)).await;
    bot.messages(OWNER, 3).await;
    assert_eq!(bot.stub_calls().len(), 1, "the real request is still pending");
}

/// State and a pending approval survive a restart, and the approval can
/// still be approved.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_and_pending_approval_survive_a_restart() {
    let mut bot = Homelab::start().await;
    bot.guest_to_setup_vpn().await;
    let (approve, _) = bot.guest_requests("Alex", 1).await;
    bot.restart();
    bot.send(&postback_body(OWNER, "m_ok", &approve)).await;
    let output = bot.nth_text(GUEST, 6).await;
    assert!(output.contains("Successfully added vpn config for Alex"), "{output}");
    // The guest is still in SetupWireguard: Back leads to Setup.
    bot.send(&text_body(GUEST, "m_back", "Back")).await;
    assert_eq!(bot.nth_text(GUEST, 7).await, "What are you looking to setup?");
}

/// Forged, missing and wrong-algorithm signatures are refused and nothing
/// is processed; the legacy SHA-1 header is accepted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_signatures_are_rejected_and_nothing_is_processed() {
    let bot = Homelab::start().await;
    let server = bot.server();
    let get_started = postback_body(GUEST, "m_forged_gs", "GetStarted");
    let forged = sign256(b"something else");
    assert_eq!(post_webhook(server, &get_started, None).await, 401);
    let header = Some(("x-hub-signature-256", forged));
    assert_eq!(post_webhook(server, &get_started, header).await, 403);
    let sha1_as_256 = sign1(&get_started).replace("sha1=", "sha256=");
    let header = Some(("x-hub-signature-256", sha1_as_256));
    assert_eq!(post_webhook(server, &get_started, header).await, 403);
    let md5 = Some(("x-hub-signature-256", "md5=00".to_string()));
    assert!(matches!(post_webhook(server, &get_started, md5).await, 401 | 403));
    assert_quiet(&bot, GUEST, 0).await;

    // Had any of those been processed, "Setup" would now be understood.
    let setup = text_body(GUEST, "m_setup", "Setup");
    let legacy = Some(("x-hub-signature", sign1(&setup)));
    assert_eq!(post_webhook(server, &setup, legacy).await, 200);
    let reply = bot.nth_text(GUEST, 1).await;
    assert!(reply.contains("didn't understand"), "{reply}");
}

/// The same message id delivered twice is handled once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redelivered_message_is_handled_once() {
    let bot = Homelab::start().await;
    bot.send_fixture("postback_get_started.json").await;
    bot.send_fixture("postback_get_started.json").await;
    bot.messages(GUEST, 1).await;
    assert_quiet(&bot, GUEST, 1).await;
}

/// Echoes, deliveries and reads get 200 and no reply; an attachment gets
/// "not understood".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn echoes_receipts_and_attachments() {
    let bot = Homelab::start().await;
    bot.send_fixture("message_echo.json").await;
    bot.send_fixture("delivery_and_read.json").await;
    assert_quiet(&bot, GUEST, 0).await;
    bot.send_fixture("attachment_only.json").await;
    let reply = bot.nth_text(GUEST, 1).await;
    assert!(reply.contains("didn't understand"), "{reply}");
}

/// One POST with two users answers both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_of_two_users_answers_both() {
    let bot = Homelab::start().await;
    bot.send_fixture("batch_two_users.json").await;
    assert_eq!(bot.nth_text(GUEST, 1).await, "How can I help?");
    assert_eq!(bot.nth_text(OWNER, 1).await, "How can I help?");
}

/// Non-ASCII text, escaped as Messenger escapes it, verifies and reaches
/// the approver unchanged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_ascii_text_verifies_and_round_trips() {
    let bot = Homelab::start().await;
    bot.guest_to_setup_vpn().await;
    bot.send_fixture("message_unicode.json").await;
    let request = bot.nth_text(OWNER, 1).await;
    assert!(request.contains("Grüße Jörg 👋 — café"), "{request}");
}

/// Injection attempts in handler input create no file: the input is data.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shell_injection_in_input_creates_no_file() {
    let bot = Homelab::start().await;
    let target = bot.dir.path().join("pwned");
    let t = target.display();
    let attempts = [
        format!("'; touch {t}; '"),
        format!("$(touch {t})"),
        format!("`touch {t}`"),
        format!("a; touch {t}"),
        format!("\"; touch {t}; echo \""),
    ];
    bot.send(&postback_body(OWNER, "m_gs", "GetStarted")).await;
    bot.send(&text_body(OWNER, "m_setup", "Setup")).await;
    bot.send(&text_body(OWNER, "m_alias", "SetupEmailAlias")).await;
    for (i, attempt) in attempts.iter().enumerate() {
        bot.send(&text_body(OWNER, &format!("m_inj{i}"), attempt)).await;
    }
    bot.messages(OWNER, 3 + attempts.len()).await;
    assert!(!target.exists(), "an injection attempt ran");
    assert_eq!(bot.stub_calls().len(), attempts.len(), "each input ran the script once");
}

/// Info → Help is a valid self-loop answered with the Info message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn help_on_info_answers_with_the_info_message_and_buttons() {
    let bot = Homelab::start().await;
    bot.send(&postback_body(GUEST, "m1", "GetStarted")).await;
    bot.send(&postback_body(GUEST, "m2", "GetInfo")).await;
    bot.send(&postback_body(GUEST, "m3", "Help")).await;
    let all = bot.messages(GUEST, 3).await;
    assert_eq!(all[2]["text"], "Get more information about my services.");
    let titles: Vec<&str> =
        all[2]["quick_replies"].as_array().unwrap().iter().map(|q| q["title"].as_str().unwrap()).collect();
    assert_eq!(titles.first(), Some(&"Blog info"));
    assert!(titles.contains(&"Help") && titles.contains(&"Back"));
}

/// A handler that outlives its timeout is killed with its children and
/// the user is told.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handler_past_its_timeout_is_killed_with_its_children() {
    let dir = tempfile::tempdir().unwrap();
    let pids = dir.path().join("pids");
    let config = dir.path().join("slow.yaml");
    let script = format!("sleep 300 & echo $! >> '{p}'\\n sleep 300 & echo $! >> '{p}'\\n wait", p = pids.display());
    let yaml = format!(
        "commands:\n- id: slow\n  cmd: \"{script}\"\n  limits: {{timeout: 1s}}\n---\n\
         states:\n- id: Initial\n  message: Type anything.\n  defaultHandler: slow\n"
    );
    std::fs::write(&config, yaml).unwrap();
    let bot = Homelab::start_with(&config).await;
    bot.send(&text_body(GUEST, "m_slow", "go")).await;
    let reply = bot.nth_text(GUEST, 1).await;
    assert!(reply.contains("ran longer than 1s"), "{reply}");
    let pids = std::fs::read_to_string(&pids).unwrap();
    let pids: Vec<i32> = pids.lines().map(|l| l.trim().parse().unwrap()).collect();
    assert_eq!(pids.len(), 2);
    for pid in pids {
        let alive = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok();
        assert!(!alive, "child {pid} survived the timeout");
    }
}

/// GET verification echoes the challenge only for the right token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_verification_checks_the_token() {
    let bot = Homelab::start().await;
    let client = reqwest::Client::new();
    let url = |token: &str| {
        bot.server().url(&format!(
            "/fb/webhook?hub.mode=subscribe&hub.verify_token={token}&hub.challenge=12345"
        ))
    };
    let ok = client.get(url(server::VERIFY_TOKEN)).send().await.unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.text().await.unwrap(), "12345");
    let bad = client.get(url("nope")).send().await.unwrap();
    assert_eq!(bad.status(), 403);
}

/// A malformed body is a 400 and the server keeps serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_body_is_refused_and_the_server_goes_on() {
    let bot = Homelab::start().await;
    assert_eq!(post_signed(bot.server(), b"{not json").await, 400);
    let unknown = body(GUEST, serde_json::json!({"reaction": {"emoji": "x"}}));
    assert_eq!(post_signed(bot.server(), &unknown).await, 200);
    bot.send_fixture("postback_get_started.json").await;
    assert_eq!(bot.nth_text(GUEST, 1).await, "How can I help?");
}

