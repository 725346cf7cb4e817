//! Start the real `sandbot serve` for a test and talk to it.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use hmac::{KeyInit, Mac};

/// The app secret every test server uses.
pub const APP_SECRET: &str = "test-app-secret";
/// The verify token every test server uses.
pub const VERIFY_TOKEN: &str = "test-verify-token";

/// A running `sandbot serve`, stopped when dropped.
pub struct Server {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// Everything the server logged so far is read from here.
    log: mpsc::Receiver<String>,
}

/// How to start a server.
pub struct Options {
    /// Config file.
    pub config: PathBuf,
    /// `--store` URL.
    pub store: String,
    /// Graph API stand-in base URL, if any.
    pub graph_url: Option<String>,
    /// Folders put before the system PATH (stub commands).
    pub path: Vec<PathBuf>,
    /// Working directory.
    pub cwd: PathBuf,
}

impl Server {
    /// Start a server and wait until it listens.
    pub fn start(options: &Options) -> Server {
        let mut path: Vec<String> = options.path.iter().map(|p| p.display().to_string()).collect();
        path.push("/usr/local/bin:/usr/bin:/bin".into());
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_sandbot"));
        cmd.args(["serve", "--listen", "127.0.0.1:0", "--store", &options.store, "-c"])
            .arg(&options.config)
            .current_dir(&options.cwd)
            .env_clear()
            .env("PATH", path.join(":"))
            .env("SANDBOT_LOG", "info,sandbot=debug")
            .env("FB_APP_SECRET", APP_SECRET)
            .env("FB_VERIFY_TOKEN", VERIFY_TOKEN)
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if let Some(url) = &options.graph_url {
            cmd.env("FB_GRAPH_URL", url).env("FB_PAGE_TOKEN", "test-page-token");
        }
        let mut child = cmd.spawn().expect("sandbot serve starts");
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let base = wait_for_listening(&rx);
        Server { child, base, log: rx }
    }

    /// The URL of a path on this server.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Stop with SIGTERM and wait for a clean exit.
    pub fn stop(mut self) {
        terminate(&mut self.child);
    }

    /// Log lines printed since the last call.
    pub fn drain_log(&self) -> Vec<String> {
        self.log.try_iter().collect()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Send SIGTERM and wait up to 10 s for exit.
fn terminate(child: &mut Child) {
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
    for _ in 0..100 {
        if let Ok(Some(status)) = child.try_wait() {
            assert!(status.success(), "server exited with {status}");
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("server did not stop within 10 s of SIGTERM");
}

/// Read log lines until the `listening` line; returns the base URL.
fn wait_for_listening(log: &mpsc::Receiver<String>) -> String {
    let mut seen = Vec::new();
    while let Ok(line) = log.recv_timeout(Duration::from_secs(30)) {
        if let Some(addr) = line.split("address=").nth(1).filter(|_| line.contains("listening")) {
            let addr = addr.split_whitespace().next().unwrap();
            return format!("http://{addr}");
        }
        seen.push(line);
    }
    panic!("server did not start listening; log:\n{}", seen.join("\n"));
}

/// `sha256=<hex>` of the body under the test app secret.
pub fn sign256(body: &[u8]) -> String {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(APP_SECRET.as_bytes()).unwrap();
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// `sha1=<hex>` of the body under the test app secret.
pub fn sign1(body: &[u8]) -> String {
    let mut mac = hmac::Hmac::<sha1::Sha1>::new_from_slice(APP_SECRET.as_bytes()).unwrap();
    mac.update(body);
    format!("sha1={}", hex::encode(mac.finalize().into_bytes()))
}

/// POST a body to the webhook with the given signature header.
pub async fn post_webhook(server: &Server, body: &[u8], header: Option<(&str, String)>) -> u16 {
    let client = reqwest::Client::new();
    let mut req = client
        .post(server.url("/webhooks/messenger"))
        .header("content-type", "application/json")
        .body(body.to_vec());
    if let Some((name, value)) = header {
        req = req.header(name, value);
    }
    req.send().await.expect("webhook answers").status().as_u16()
}

/// POST a correctly signed body.
pub async fn post_signed(server: &Server, body: &[u8]) -> u16 {
    post_webhook(server, body, Some(("x-hub-signature-256", sign256(body)))).await
}

/// A Messenger webhook body, shaped like the fixtures, with one event.
pub fn body(sender: &str, event: serde_json::Value) -> Vec<u8> {
    let mut messaging = serde_json::json!({
        "sender": {"id": sender},
        "recipient": {"id": "100000000000777"},
        "timestamp": 1764770000000u64,
    });
    for (k, v) in event.as_object().unwrap() {
        messaging[k] = v.clone();
    }
    let body = serde_json::json!({
        "object": "page",
        "entry": [{"id": "100000000000777", "time": 1764770000000u64, "messaging": [messaging]}],
    });
    serde_json::to_vec(&body).unwrap()
}

/// A typed text message.
pub fn text_body(sender: &str, mid: &str, text: &str) -> Vec<u8> {
    body(sender, serde_json::json!({"message": {"mid": mid, "text": text}}))
}

/// A button tap (postback).
pub fn postback_body(sender: &str, mid: &str, payload: &str) -> Vec<u8> {
    body(sender, serde_json::json!({"postback": {"mid": mid, "title": "x", "payload": payload}}))
}

/// Write an executable script.
pub fn write_script(dir: &Path, name: &str, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
}
