//! A stand-in for Facebook's Graph API, for tests that send replies.
//!
//! It listens on `127.0.0.1:0`, records every request's path, query and
//! JSON body, and answers like the Send API does. Point the bot at
//! [`GraphStandIn::url`] (as `FB_GRAPH_URL`), then wait for the messages a
//! recipient should get with [`GraphStandIn::wait_for_messages`]. Failures
//! can be scripted with [`GraphStandIn::fail_next`].

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use serde_json::{Value, json};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

/// One request the stand-in received.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// The path, e.g. `/me/messages`.
    pub path: String,
    /// The raw query string, e.g. `access_token=...`.
    pub query: String,
    /// The JSON body (`Value::Null` when it was not JSON).
    pub body: Value,
    /// The status the stand-in answered with.
    pub status: u16,
}

impl Recorded {
    /// Whether this is a Send API message accepted for `psid`.
    fn is_message_to(&self, psid: &str) -> bool {
        self.path.ends_with("/me/messages")
            && self.status == 200
            && self.body["recipient"]["id"] == psid
    }
}

/// What the server task and the test share.
#[derive(Default)]
struct Shared {
    requests: Mutex<Vec<Recorded>>,
    /// How many of the next requests fail, and with which status.
    failures: Mutex<(usize, u16)>,
    arrived: Notify,
}

/// A running Graph API stand-in; it stops when dropped.
pub struct GraphStandIn {
    addr: SocketAddr,
    shared: Arc<Shared>,
    server: JoinHandle<()>,
}

impl GraphStandIn {
    /// Start a stand-in on a free local port.
    pub async fn start() -> GraphStandIn {
        let shared = Arc::new(Shared::default());
        let app = Router::new().fallback(answer).with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind graph stand-in");
        let addr = listener.local_addr().expect("graph stand-in address");
        let server = tokio::spawn(async move {
            axum::serve(listener, app)
                .await
                .expect("graph stand-in serves");
        });
        GraphStandIn {
            addr,
            shared,
            server,
        }
    }

    /// The base URL to use as the Graph API (`FB_GRAPH_URL`).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.requests.lock().unwrap().clone()
    }

    /// The `message` objects accepted so far for `psid`, in order.
    pub fn messages_to(&self, psid: &str) -> Vec<Value> {
        let requests = self.shared.requests.lock().unwrap();
        let accepted = requests.iter().filter(|r| r.is_message_to(psid));
        accepted.map(|r| r.body["message"].clone()).collect()
    }

    /// Wait until at least `count` messages for `psid` were accepted and
    /// return them; panics with what did arrive after `timeout`.
    pub async fn wait_for_messages(
        &self,
        psid: &str,
        count: usize,
        timeout: Duration,
    ) -> Vec<Value> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            // Registered before looking, so no arrival is missed between.
            let arrived = self.shared.arrived.notified();
            let got = self.messages_to(psid);
            if got.len() >= count {
                return got;
            }
            if tokio::time::timeout_at(deadline, arrived).await.is_err() {
                panic!(
                    "expected {count} messages for {psid} within \
                     {timeout:?}, got {got:#?}"
                );
            }
        }
    }

    /// Answer the next `count` requests with `status` and a Graph error.
    pub fn fail_next(&self, count: usize, status: u16) {
        *self.shared.failures.lock().unwrap() = (count, status);
    }
}

impl Drop for GraphStandIn {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// Record one request and answer it as Graph would.
async fn answer(State(shared): State<Arc<Shared>>, req: Request) -> (StatusCode, String) {
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or_default().to_string();
    let bytes = axum::body::to_bytes(req.into_body(), usize::MAX)
        .await
        .unwrap_or_default();
    let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    let status = next_status(&shared);
    let reply = reply_body(status, &body);
    let recorded = Recorded {
        path,
        query,
        body,
        status,
    };
    shared.requests.lock().unwrap().push(recorded);
    shared.arrived.notify_waiters();
    let status = StatusCode::from_u16(status).expect("scripted status is valid");
    (status, reply.to_string())
}

/// 200, or the scripted failure while any are left.
fn next_status(shared: &Shared) -> u16 {
    let mut failures = shared.failures.lock().unwrap();
    if failures.0 == 0 {
        return 200;
    }
    failures.0 -= 1;
    failures.1
}

/// What Graph sends back for a success or a failure.
fn reply_body(status: u16, body: &Value) -> Value {
    if status != 200 {
        let error = json!({ "message": "scripted failure", "code": 2 });
        return json!({ "error": error });
    }
    match body["recipient"]["id"].as_str() {
        Some(id) => json!({ "recipient_id": id, "message_id": "m_standin" }),
        None => json!({ "result": "success" }),
    }
}
