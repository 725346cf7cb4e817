//! The Send API: the bot's replies to Messenger users.
//!
//! A reply becomes one or more `RESPONSE` messages to
//! `{graph}/me/messages`. Text longer than Messenger allows is split on
//! paragraph, line or word boundaries; buttons ride on the last part as
//! quick replies, within Messenger's limits (see the parent module).
//!
//! Failed requests are retried only when trying again can help: on 429,
//! on 5xx and when no connection could be made, with a doubling pause
//! (200 ms, 400 ms, 800 ms). A request that timed out is not retried,
//! since Facebook may have delivered it already and a retry would send the
//! message twice. The page token travels in the query string, so errors
//! are logged without their URL.

use std::time::Duration;

use serde_json::{Value, json};

use crate::channel::{Button, Outbox, Reply};

/// The Graph API base used unless `FB_GRAPH_URL` says otherwise.
pub const DEFAULT_GRAPH_URL: &str = "https://graph.facebook.com/v23.0";

/// The most characters one message may hold.
pub const MAX_TEXT_CHARS: usize = 2000;

/// The most quick replies one message may carry.
pub const MAX_QUICK_REPLIES: usize = 13;

/// The most characters a quick reply title may show.
pub const MAX_TITLE_CHARS: usize = 20;

/// Sent as the text when a reply has buttons but no text, since Messenger
/// will not show quick replies under an empty message.
const BUTTONS_ONLY_TEXT: &str = "Choose an option:";

/// How long one request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// The pause before the first retry; it doubles each time.
const FIRST_BACKOFF: Duration = Duration::from_millis(200);

/// How many times a failed request is tried again.
const MAX_RETRIES: u32 = 3;

/// Why a Send API request failed.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// No answer: the connection failed or timed out.
    #[error("graph api request failed")]
    Transport(#[source] reqwest::Error),
    /// Graph answered with an error status.
    #[error("graph api answered {status}: {message} (code {code:?})")]
    Graph {
        /// The HTTP status.
        status: u16,
        /// Graph's `error.code`, when it sent one.
        code: Option<i64>,
        /// Graph's `error.message`, or the status text.
        message: String,
    },
}

impl SendError {
    /// Whether trying the same request again may succeed.
    fn is_retryable(&self) -> bool {
        match self {
            SendError::Transport(err) => err.is_connect(),
            SendError::Graph { status, .. } => *status == 429 || *status >= 500,
        }
    }
}

/// A Messenger page's Send API client.
#[derive(Clone)]
pub struct SendApi {
    client: reqwest::Client,
    graph_url: String,
    page_token: String,
}

impl std::fmt::Debug for SendApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SendApi")
            .field("graph_url", &self.graph_url)
            .field("page_token", &"<redacted>")
            .finish()
    }
}

impl SendApi {
    /// A client for the Graph API at `graph_url` (e.g.
    /// [`DEFAULT_GRAPH_URL`]) acting as the page owning `page_token`.
    pub fn new(graph_url: String, page_token: String) -> SendApi {
        let client = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .build()
            .unwrap_or_else(|err| {
                tracing::warn!(error = %err, "default http client used for graph api");
                reqwest::Client::new()
            });
        let graph_url = graph_url.trim_end_matches('/').to_string();
        SendApi {
            client,
            graph_url,
            page_token,
        }
    }

    /// Send `reply` to `to` (`messenger:<psid>` or a bare psid), stopping
    /// at the first part that fails so parts never arrive out of order.
    pub async fn send(&self, to: &str, reply: &Reply) -> Result<(), SendError> {
        let psid = to.strip_prefix("messenger:").unwrap_or(to);
        for message in messages(reply) {
            let body = json!({
                "recipient": { "id": psid },
                "messaging_type": "RESPONSE",
                "message": message,
            });
            self.post("me/messages", &body).await?;
        }
        Ok(())
    }

    /// Set the payload the Get Started button sends.
    pub async fn set_get_started(&self, payload: &str) -> Result<(), SendError> {
        let body = json!({ "get_started": { "payload": payload } });
        self.post("me/messenger_profile", &body).await
    }

    /// POST `body` to `path`, retrying as the module doc describes.
    async fn post(&self, path: &str, body: &Value) -> Result<(), SendError> {
        let mut pause = FIRST_BACKOFF;
        let mut retries = 0;
        loop {
            match self.post_once(path, body).await {
                Err(err) if err.is_retryable() && retries < MAX_RETRIES => {
                    tracing::warn!(
                        path,
                        error = %err,
                        retry_in = ?pause,
                        "graph api request will be retried"
                    );
                    tokio::time::sleep(pause).await;
                    pause *= 2;
                    retries += 1;
                }
                other => return other,
            }
        }
    }

    /// One POST, with Graph's error read from the body when it fails.
    async fn post_once(&self, path: &str, body: &Value) -> Result<(), SendError> {
        let url = format!("{}/{}", self.graph_url, path);
        let response = self
            .client
            .post(url)
            .query(&[("access_token", &self.page_token)])
            .json(body)
            .send()
            .await
            .map_err(|err| SendError::Transport(err.without_url()))?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let answer: Value = response.json().await.unwrap_or(Value::Null);
        Err(graph_error(status, &answer))
    }
}

#[async_trait::async_trait]
impl Outbox for SendApi {
    async fn deliver(&self, to: &str, reply: &Reply) {
        match self.send(to, reply).await {
            Ok(()) => tracing::debug!(to, "messenger reply sent"),
            Err(err) => tracing::warn!(to, error = %err, "messenger reply not sent"),
        }
    }
}

/// Graph's `{"error":{"message","code"}}`, or the status when absent.
fn graph_error(status: reqwest::StatusCode, answer: &Value) -> SendError {
    let error = &answer["error"];
    let message = error["message"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| status.to_string());
    SendError::Graph {
        status: status.as_u16(),
        code: error["code"].as_i64(),
        message,
    }
}

/// The `message` objects for one reply, in sending order.
fn messages(reply: &Reply) -> Vec<Value> {
    let mut parts = split_text(&reply.plain_text(), MAX_TEXT_CHARS);
    if reply.buttons.is_empty() {
        return parts
            .into_iter()
            .map(|text| json!({ "text": text }))
            .collect();
    }
    if parts.is_empty() {
        parts.push(BUTTONS_ONLY_TEXT.to_string());
    }
    let last = parts.len() - 1;
    let quick = quick_replies(&reply.buttons);
    let with_buttons = |(i, text)| match i == last {
        true => json!({ "text": text, "quick_replies": quick }),
        false => json!({ "text": text }),
    };
    parts.into_iter().enumerate().map(with_buttons).collect()
}

/// Buttons as quick replies: the first 13, titles cut to 20 characters.
fn quick_replies(buttons: &[Button]) -> Vec<Value> {
    if buttons.len() > MAX_QUICK_REPLIES {
        tracing::warn!(
            buttons = buttons.len(),
            kept = MAX_QUICK_REPLIES,
            "reply has more buttons than messenger shows; extra ones dropped"
        );
    }
    let quick_reply = |b: &Button| {
        json!({
            "content_type": "text",
            "title": cut_title(&b.title),
            "payload": b.payload,
        })
    };
    buttons
        .iter()
        .take(MAX_QUICK_REPLIES)
        .map(quick_reply)
        .collect()
}

/// `title`, or its first 19 characters and `…` when it is too long.
fn cut_title(title: &str) -> String {
    if title.chars().count() <= MAX_TITLE_CHARS {
        return title.to_string();
    }
    let kept: String = title.chars().take(MAX_TITLE_CHARS - 1).collect();
    format!("{kept}…")
}

/// Split `text` into parts of at most `limit` characters.
///
/// A part ends at the last paragraph break, else line break, else space
/// in its second half; only text with none of those is cut mid-word.
/// The break a part ends on is dropped; all other text is kept.
fn split_text(text: &str, limit: usize) -> Vec<String> {
    let mut parts = Vec::new();
    let mut rest = text;
    while rest.chars().count() > limit {
        let (head, tail) = split_once_at(rest, limit);
        if !head.trim().is_empty() {
            parts.push(head.to_string());
        }
        rest = tail;
    }
    if !rest.trim().is_empty() {
        parts.push(rest.to_string());
    }
    parts
}

/// The first part of `text` (at most `limit` characters) and the rest.
fn split_once_at(text: &str, limit: usize) -> (&str, &str) {
    let hard = text
        .char_indices()
        .nth(limit)
        .map_or(text.len(), |(i, _)| i);
    let window = &text[..hard];
    for sep in ["\n\n", "\n", " "] {
        if let Some(at) = window.rfind(sep).filter(|&at| at > hard / 2) {
            return (&text[..at], &text[at + sep.len()..]);
        }
    }
    text.split_at(hard)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::Router;
    use axum::extract::{Request, State};
    use axum::http::StatusCode;
    use std::sync::{Arc, Mutex};

    /// What the stand-in saw: path, query and JSON body.
    type Seen = Arc<Mutex<Vec<(String, String, Value)>>>;

    /// A local Graph API that records requests and answers with the
    /// statuses it is given, then 200.
    struct Graph {
        url: String,
        seen: Seen,
    }

    #[derive(Clone)]
    struct GraphState {
        seen: Seen,
        statuses: Arc<Mutex<Vec<u16>>>,
    }

    async fn record(State(state): State<GraphState>, req: Request) -> (StatusCode, String) {
        let path = req.uri().path().to_string();
        let query = req.uri().query().unwrap_or_default().to_string();
        let bytes = axum::body::to_bytes(req.into_body(), usize::MAX)
            .await
            .unwrap();
        let body = serde_json::from_slice(&bytes).unwrap();
        state.seen.lock().unwrap().push((path, query, body));
        let status = state.statuses.lock().unwrap().pop().unwrap_or(200);
        let answer = json!({ "error": { "message": "nope", "code": 100 } });
        (StatusCode::from_u16(status).unwrap(), answer.to_string())
    }

    async fn graph(mut statuses: Vec<u16>) -> Graph {
        statuses.reverse();
        let seen = Seen::default();
        let state = GraphState {
            seen: seen.clone(),
            statuses: Arc::new(Mutex::new(statuses)),
        };
        let app = Router::new().fallback(record).with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Graph { url, seen }
    }

    impl Graph {
        fn api(&self) -> SendApi {
            SendApi::new(format!("{}/", self.url), "page-token".into())
        }

        fn bodies(&self) -> Vec<Value> {
            self.seen
                .lock()
                .unwrap()
                .iter()
                .map(|s| s.2.clone())
                .collect()
        }
    }

    fn buttons(n: usize) -> Vec<Button> {
        let button = |i| Button {
            title: format!("Option number {i} with a long title"),
            payload: format!("Event{i}"),
        };
        (0..n).map(button).collect()
    }

    #[tokio::test]
    async fn a_reply_goes_to_me_messages_with_the_token_and_psid() {
        let g = graph(vec![]).await;
        g.api()
            .send("messenger:42", &Reply::text("hello"))
            .await
            .unwrap();
        let (path, query, body) = g.seen.lock().unwrap()[0].clone();
        assert_eq!(
            (path.as_str(), query.as_str()),
            ("/me/messages", "access_token=page-token")
        );
        let want = json!({
            "recipient": { "id": "42" },
            "messaging_type": "RESPONSE",
            "message": { "text": "hello" },
        });
        assert_eq!(body, want);
    }

    #[tokio::test]
    async fn a_long_reply_is_sent_in_parts_with_buttons_on_the_last() {
        let g = graph(vec![]).await;
        let text = "word ".repeat(900);
        let reply = Reply {
            text: text.clone(),
            buttons: buttons(2),
            ..Reply::default()
        };
        g.api().send("messenger:42", &reply).await.unwrap();
        let bodies = g.bodies();
        assert_eq!(bodies.len(), 3);
        for body in &bodies[..2] {
            assert!(body["message"]["quick_replies"].is_null());
        }
        assert_eq!(
            bodies[2]["message"]["quick_replies"]
                .as_array()
                .unwrap()
                .len(),
            2
        );
        let texts: Vec<&str> = bodies
            .iter()
            .map(|b| b["message"]["text"].as_str().unwrap())
            .collect();
        assert!(texts.iter().all(|t| t.chars().count() <= MAX_TEXT_CHARS));
        assert_eq!(texts.join(" "), text);
    }

    #[tokio::test]
    async fn twenty_buttons_become_thirteen_short_quick_replies() {
        let g = graph(vec![]).await;
        let reply = Reply {
            text: "Pick".into(),
            buttons: buttons(20),
            ..Reply::default()
        };
        g.api().send("messenger:42", &reply).await.unwrap();
        let quick = g.bodies()[0]["message"]["quick_replies"].clone();
        let quick = quick.as_array().unwrap();
        assert_eq!(quick.len(), MAX_QUICK_REPLIES);
        assert_eq!(quick[12]["payload"], "Event12");
        for q in quick {
            assert_eq!(q["content_type"], "text");
            let title = q["title"].as_str().unwrap();
            assert!(title.chars().count() <= MAX_TITLE_CHARS && title.ends_with('…'));
        }
    }

    #[tokio::test]
    async fn buttons_without_text_still_get_a_short_text() {
        let g = graph(vec![]).await;
        let reply = Reply {
            buttons: buttons(1),
            ..Reply::default()
        };
        g.api().send("messenger:42", &reply).await.unwrap();
        assert_eq!(g.bodies()[0]["message"]["text"], BUTTONS_ONLY_TEXT);
    }

    #[tokio::test]
    async fn a_server_error_is_retried_until_it_succeeds() {
        let g = graph(vec![500]).await;
        g.api()
            .send("messenger:42", &Reply::text("hi"))
            .await
            .unwrap();
        assert_eq!(g.bodies().len(), 2);
    }

    #[tokio::test]
    async fn a_client_error_is_not_retried() {
        let g = graph(vec![400]).await;
        let err = g
            .api()
            .send("messenger:42", &Reply::text("hi"))
            .await
            .unwrap_err();
        assert_eq!(g.bodies().len(), 1);
        assert!(matches!(
            err,
            SendError::Graph {
                status: 400,
                code: Some(100),
                ..
            }
        ));
    }

    #[tokio::test]
    async fn set_get_started_posts_the_payload_to_the_profile() {
        let g = graph(vec![]).await;
        g.api().set_get_started("GetStarted").await.unwrap();
        let (path, _, body) = g.seen.lock().unwrap()[0].clone();
        assert_eq!(path, "/me/messenger_profile");
        assert_eq!(body, json!({ "get_started": { "payload": "GetStarted" } }));
    }

    #[test]
    fn splitting_prefers_paragraph_breaks_and_keeps_multibyte_chars() {
        let text = format!("{}\n\n{}", "é".repeat(8), "ü".repeat(8));
        assert_eq!(split_text(&text, 12), ["é".repeat(8), "ü".repeat(8)]);
        assert_eq!(split_text(&"ß".repeat(10), 4), ["ßßßß", "ßßßß", "ßß"]);
    }

    #[test]
    fn a_short_title_is_kept_and_a_long_one_cut_with_an_ellipsis() {
        assert_eq!(cut_title("Setup VPN"), "Setup VPN");
        assert_eq!(
            cut_title("Add a new WireGuard client"),
            "Add a new WireGuard…"
        );
    }
}
