//! The webhook routes: subscription check (GET) and signed events (POST).
//!
//! Both routes are served at `/webhooks/messenger` and, for setups made
//! for the original bot, at `/fb/webhook`. A POST is answered as soon as
//! its events are queued; the bot works on them afterwards, so Facebook
//! never waits on a handler. Error bodies stay generic; the reason is
//! logged.

use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{DefaultBodyLimit, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Router, body::Bytes};
use serde::Deserialize;
use subtle::ConstantTimeEq;

use super::{SignatureError, parse_events, verify_signature};
use crate::channel::Dispatch;

/// Where Facebook is told to send webhooks.
pub const WEBHOOK_PATH: &str = "/webhooks/messenger";

/// The path the original bot used, still served for old setups.
pub const LEGACY_WEBHOOK_PATH: &str = "/fb/webhook";

/// The largest webhook body accepted: 1 MiB. Larger ones get 413.
pub const BODY_LIMIT: usize = 1024 * 1024;

/// What the webhook routes need.
#[derive(Clone)]
pub struct MessengerState {
    /// The app secret that signs webhook bodies (`FB_APP_SECRET`).
    pub app_secret: Vec<u8>,
    /// The token Facebook echoes when subscribing (`FB_VERIFY_TOKEN`);
    /// with none, every subscription attempt is refused.
    pub verify_token: Option<String>,
    /// Where inbound messages go.
    pub dispatch: Arc<dyn Dispatch>,
}

impl std::fmt::Debug for MessengerState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MessengerState")
            .field("app_secret", &"<redacted>")
            .field(
                "verify_token",
                &self.verify_token.as_ref().map(|_| "<redacted>"),
            )
            .finish_non_exhaustive()
    }
}

/// The Messenger webhook routes, ready to merge into the server's router.
pub fn routes(state: MessengerState) -> Router {
    Router::new()
        .route(WEBHOOK_PATH, get(subscribe).post(receive))
        .route(LEGACY_WEBHOOK_PATH, get(subscribe).post(receive))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(state)
}

/// The query Facebook sends to check a webhook subscription.
#[derive(Debug, Deserialize)]
struct Subscription {
    #[serde(rename = "hub.mode")]
    mode: Option<String>,
    #[serde(rename = "hub.verify_token")]
    token: Option<String>,
    #[serde(rename = "hub.challenge")]
    challenge: Option<String>,
}

/// GET: echo the challenge when the mode and token are right.
async fn subscribe(
    State(state): State<MessengerState>,
    query: Result<Query<Subscription>, QueryRejection>,
) -> Response {
    let Ok(Query(sub)) = query else {
        return StatusCode::FORBIDDEN.into_response();
    };
    let token_ok = matches!(
        (&state.verify_token, &sub.token),
        (Some(want), Some(got)) if tokens_equal(want, got)
    );
    match (sub.mode.as_deref(), sub.challenge) {
        (Some("subscribe"), Some(challenge)) if token_ok => {
            tracing::info!("messenger webhook subscription verified");
            let plain = [(header::CONTENT_TYPE, "text/plain; charset=utf-8")];
            (StatusCode::OK, plain, challenge).into_response()
        }
        _ => {
            tracing::warn!("messenger webhook subscription refused");
            StatusCode::FORBIDDEN.into_response()
        }
    }
}

/// Compare two tokens without leaking where they differ.
fn tokens_equal(want: &str, got: &str) -> bool {
    want.as_bytes().ct_eq(got.as_bytes()).into()
}

/// POST: check the signature, read the events, queue them, answer.
async fn receive(State(state): State<MessengerState>, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(err) = verify_signature(&state.app_secret, &body, &headers) {
        tracing::warn!(error = %err, "messenger webhook signature rejected");
        return signature_status(&err).into_response();
    }
    let inbound = match parse_events(&body) {
        Ok(inbound) => inbound,
        Err(err) => {
            tracing::warn!(error = %err, "messenger webhook body rejected");
            return StatusCode::BAD_REQUEST.into_response();
        }
    };
    tracing::debug!(count = inbound.len(), "messenger events received");
    for message in inbound {
        state.dispatch.dispatch(message);
    }
    (StatusCode::OK, "EVENT_RECEIVED").into_response()
}

/// 401 when no signature was sent, 403 when one was sent and is wrong.
fn signature_status(err: &SignatureError) -> StatusCode {
    match err {
        SignatureError::Missing => StatusCode::UNAUTHORIZED,
        _ => StatusCode::FORBIDDEN,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channel::Inbound;
    use crate::channel::messenger::SIGNATURE_256_HEADER;
    use crate::channel::messenger::test_support::{SECRET, fixture, sign_sha256};
    use axum::body::Body;
    use axum::http::Request;
    use std::sync::Mutex;
    use tower::ServiceExt;

    const TOKEN: &str = "let-me-in";

    /// A dispatcher that only remembers what it was given.
    #[derive(Default)]
    struct Recorder(Mutex<Vec<Inbound>>);

    impl Dispatch for Recorder {
        fn dispatch(&self, inbound: Inbound) {
            self.0.lock().unwrap().push(inbound);
        }
    }

    fn app() -> (Router, Arc<Recorder>) {
        let recorder = Arc::new(Recorder::default());
        let state = MessengerState {
            app_secret: SECRET.to_vec(),
            verify_token: Some(TOKEN.to_string()),
            dispatch: recorder.clone(),
        };
        (routes(state), recorder)
    }

    async fn send(router: Router, request: Request<Body>) -> (StatusCode, String) {
        let response = router.oneshot(request).await.unwrap();
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        (status, String::from_utf8(bytes.to_vec()).unwrap())
    }

    fn get_req(query: &str) -> Request<Body> {
        let uri = format!("{WEBHOOK_PATH}?{query}");
        Request::get(uri).body(Body::empty()).unwrap()
    }

    fn post_req(path: &str, body: Vec<u8>, signature: Option<String>) -> Request<Body> {
        let mut builder = Request::post(path).header("content-type", "application/json");
        if let Some(sig) = signature {
            builder = builder.header(SIGNATURE_256_HEADER, sig);
        }
        builder.body(Body::from(body)).unwrap()
    }

    #[tokio::test]
    async fn get_with_the_right_token_echoes_the_challenge() {
        let (router, _) = app();
        let q = format!("hub.mode=subscribe&hub.verify_token={TOKEN}&hub.challenge=12%2034");
        let (status, body) = send(router, get_req(&q)).await;
        assert_eq!((status, body.as_str()), (StatusCode::OK, "12 34"));
    }

    #[tokio::test]
    async fn get_with_a_wrong_token_is_forbidden() {
        let (router, _) = app();
        let q = "hub.mode=subscribe&hub.verify_token=guess&hub.challenge=1";
        assert_eq!(send(router, get_req(q)).await.0, StatusCode::FORBIDDEN);
    }

    #[tokio::test]
    async fn get_with_another_mode_is_forbidden() {
        let (router, _) = app();
        let q = format!("hub.mode=unsubscribe&hub.verify_token={TOKEN}&hub.challenge=1");
        assert_eq!(send(router, get_req(&q)).await.0, StatusCode::FORBIDDEN);
    }

    #[tokio::test]
    async fn get_without_a_configured_token_is_forbidden() {
        let recorder = Arc::new(Recorder::default());
        let state = MessengerState {
            app_secret: SECRET.to_vec(),
            verify_token: None,
            dispatch: recorder,
        };
        let q = "hub.mode=subscribe&hub.verify_token=&hub.challenge=1";
        assert_eq!(
            send(routes(state), get_req(q)).await.0,
            StatusCode::FORBIDDEN
        );
    }

    #[tokio::test]
    async fn an_unsigned_post_is_unauthorized() {
        let (router, recorder) = app();
        let req = post_req(WEBHOOK_PATH, fixture("message_text.json"), None);
        assert_eq!(send(router, req).await.0, StatusCode::UNAUTHORIZED);
        assert!(recorder.0.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_forged_post_is_forbidden_and_dispatches_nothing() {
        let (router, recorder) = app();
        let body = fixture("message_text.json");
        let forged = sign_sha256(b"not the secret", &body);
        let req = post_req(WEBHOOK_PATH, body, Some(forged));
        assert_eq!(send(router, req).await.0, StatusCode::FORBIDDEN);
        assert!(recorder.0.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn an_oversized_post_is_too_large() {
        let (router, recorder) = app();
        let body = vec![b' '; BODY_LIMIT + 1];
        let sig = sign_sha256(SECRET, &body);
        let req = post_req(WEBHOOK_PATH, body, Some(sig));
        assert_eq!(send(router, req).await.0, StatusCode::PAYLOAD_TOO_LARGE);
        assert!(recorder.0.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_signed_post_of_bad_json_is_a_bad_request() {
        let (router, _) = app();
        let body = b"{\"object\":\"page\",".to_vec();
        let sig = sign_sha256(SECRET, &body);
        let req = post_req(WEBHOOK_PATH, body, Some(sig));
        assert_eq!(send(router, req).await.0, StatusCode::BAD_REQUEST);
    }

    #[tokio::test]
    async fn a_valid_post_is_received_and_dispatched_in_order() {
        let (router, recorder) = app();
        let body = fixture("batch_two_users.json");
        let sig = sign_sha256(SECRET, &body);
        let req = post_req(WEBHOOK_PATH, body, Some(sig));
        let (status, text) = send(router, req).await;
        assert_eq!((status, text.as_str()), (StatusCode::OK, "EVENT_RECEIVED"));
        let got = recorder.0.lock().unwrap();
        let ids: Vec<_> = got.iter().map(|i| i.message_id.clone().unwrap()).collect();
        assert_eq!(ids, ["m_pb_0101", "m_pb_0102"]);
    }

    #[tokio::test]
    async fn the_legacy_path_accepts_the_same_posts() {
        let (router, recorder) = app();
        let body = fixture("message_text.json");
        let sig = sign_sha256(SECRET, &body);
        let req = post_req(LEGACY_WEBHOOK_PATH, body, Some(sig));
        assert_eq!(send(router, req).await.0, StatusCode::OK);
        assert_eq!(recorder.0.lock().unwrap().len(), 1);
    }

    #[tokio::test]
    async fn receipts_are_acknowledged_without_dispatching() {
        let (router, recorder) = app();
        let body = fixture("delivery_and_read.json");
        let sig = sign_sha256(SECRET, &body);
        let req = post_req(WEBHOOK_PATH, body, Some(sig));
        assert_eq!(send(router, req).await.0, StatusCode::OK);
        assert!(recorder.0.lock().unwrap().is_empty());
    }
}
