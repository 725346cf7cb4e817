//! The built-in web chat, served by `sandbot serve` so the bot can be tried
//! without a Facebook app.
//!
//! `GET /` is one page (HTML, script and style built into the binary) that
//! talks to a small JSON API:
//!
//! | route | what it does |
//! | --- | --- |
//! | `GET /api/state` | the visitor's current reply, and the message number to poll after |
//! | `POST /api/messages` | `{"text": …}` or `{"payload": …}`; answered 202, the bot replies later |
//! | `GET /api/updates?after=N` | the replies numbered after `N`, waiting up to 25 s for one |
//! | `GET /login/{token}` | binds this browser to a configured user, then redirects to `/` |
//!
//! Every browser is a visitor with address `web:<id>`, the id kept in a
//! signed cookie (see [`visitor`]). Visitors are guests until they open a
//! one-time link made by `sandbot web-login`. Replies reach them through
//! the [`WebInbox`], the `web` channel's [`Outbox`](super::Outbox), so
//! replies caused elsewhere (an approval decided on Messenger or from the
//! shell) show up on the page too.
//!
//! Safety: the page renders every string as text, never as markup, under a
//! strict content security policy. Requests that change anything must come
//! from the page itself (a same-origin `Origin` or `Sec-Fetch-Site`) and be
//! JSON; messages are limited to 4 KiB and to 10 per 10 seconds per
//! visitor. Behind a reverse proxy that rewrites `Host`, the origin check
//! refuses every message; pass the original `Host` through.

pub mod inbox;
pub mod visitor;

use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{ConnectInfo, DefaultBodyLimit, Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Extension, Json};
use governor::{DefaultKeyedRateLimiter, Quota};
use serde::{Deserialize, Serialize};

pub use inbox::{Message, WebInbox};
pub use visitor::{KeyError, WebKey};

use crate::bot::Bot;
use crate::channel::{Dispatch, Inbound, Input, Reply};
use crate::store::Store;

/// The largest request body accepted, in bytes.
const MAX_BODY: usize = 4 * 1024;

/// Messages a visitor may send in a burst; one more is allowed per second.
const BURST: u32 = 10;

/// How long `GET /api/updates` waits for a reply before answering empty.
const POLL_TIMEOUT: Duration = Duration::from_secs(25);

/// The page's content security policy: nothing but our own files.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
    img-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'self'; \
    frame-ancestors 'none'";

const INDEX_HTML: &str = include_str!("assets/index.html");
const CHAT_JS: &str = include_str!("assets/chat.js");
const CHAT_CSS: &str = include_str!("assets/chat.css");

/// Everything the web chat's handlers share.
#[derive(Clone)]
pub struct WebState {
    inner: Arc<Shared>,
    poll_timeout: Duration,
}

struct Shared {
    bot: Bot,
    store: Arc<dyn Store>,
    dispatch: Arc<dyn Dispatch>,
    inbox: Arc<WebInbox>,
    key: WebKey,
    limiter: DefaultKeyedRateLimiter<String>,
    /// Messages per peer address, across visitors.
    peer_limiter: DefaultKeyedRateLimiter<std::net::IpAddr>,
    /// Host names (besides IP addresses and `localhost`) the page may be
    /// reached under, from `SANDBOT_WEB_HOSTS`.
    hosts: Vec<String>,
}

impl WebState {
    /// The web chat's state. `dispatch` hands messages to the bot in order;
    /// `inbox` must also be registered as the `web` channel's outbox in
    /// the server's [`Router`](super::Router), or replies never arrive.
    pub fn new(
        bot: Bot,
        store: Arc<dyn Store>,
        dispatch: Arc<dyn Dispatch>,
        inbox: Arc<WebInbox>,
        key: WebKey,
    ) -> WebState {
        let burst = NonZeroU32::new(BURST).expect("burst is not zero");
        let quota = Quota::per_second(NonZeroU32::MIN).allow_burst(burst);
        let limiter = DefaultKeyedRateLimiter::keyed(quota);
        let shared = Shared {
            bot,
            store,
            dispatch,
            inbox,
            key,
            limiter,
            peer_limiter: DefaultKeyedRateLimiter::keyed(peer_quota()),
            hosts: hosts_from_env(),
        };
        WebState {
            inner: Arc::new(shared),
            poll_timeout: POLL_TIMEOUT,
        }
    }

    /// The same state with another long-poll wait. Default: 25 seconds.
    pub fn with_poll_timeout(self, poll_timeout: Duration) -> WebState {
        WebState {
            poll_timeout,
            ..self
        }
    }
}

/// The web chat's routes: the page, its assets, the API and the login link.
pub fn routes(state: WebState) -> axum::Router {
    let visitor_routes = axum::Router::new()
        .route("/api/state", get(current_state))
        .route("/api/messages", post(send_message))
        .route("/api/updates", get(updates))
        .route("/login/{token}", get(login))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(middleware::from_fn_with_state(state.clone(), identify));

    // The page and its assets never touch the cookie, so a login link
    // opened from another site (which may not send our SameSite=Strict
    // cookie on the redirect) cannot lose the cookie it just set.
    axum::Router::new()
        .route("/", get(page))
        .route("/assets/chat.js", get(script))
        .route("/assets/chat.css", get(style))
        .merge(visitor_routes)
        .layer(middleware::from_fn(security_headers))
        .with_state(state)
}

/// The browser a request came from.
#[derive(Debug, Clone)]
struct Visitor {
    id: String,
}

impl Visitor {
    fn address(&self) -> String {
        format!("web:{}", self.id)
    }
}

/// Work out the visitor from the cookie, giving new browsers (and forged
/// cookies) a fresh id and cookie.
async fn identify(State(state): State<WebState>, mut req: Request, next: Next) -> Response {
    let known = req
        .headers()
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(visitor::find_cookie)
        .find_map(|value| state.inner.key.verify(value));
    let (id, fresh) = match known {
        Some(id) => (id, false),
        None => (visitor::new_visitor_id(), true),
    };
    req.extensions_mut().insert(Visitor { id: id.clone() });

    let mut response = next.run(req).await;
    if fresh {
        let value = visitor::set_cookie(&state.inner.key, &id);
        let value = HeaderValue::from_str(&value).expect("the cookie is ascii");
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

/// Headers every web chat response carries.
async fn security_headers(req: Request, next: Next) -> Response {
    let mut response = next.run(req).await;
    let headers = response.headers_mut();
    let fixed = [
        (header::CONTENT_SECURITY_POLICY, CSP),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::CACHE_CONTROL, "no-store"),
    ];
    for (name, value) in fixed {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

async fn page() -> Html<&'static str> {
    Html(INDEX_HTML)
}

async fn script() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        CHAT_JS,
    )
}

async fn style() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        CHAT_CSS,
    )
}

/// What the page shows when it opens.
#[derive(Debug, Serialize)]
struct StateBody {
    /// The current state's message and buttons.
    reply: Reply,
    /// Poll for messages numbered after this.
    seq: u64,
    /// The configured user this browser is bound to, if any.
    user: Option<String>,
}

async fn current_state(
    State(state): State<WebState>,
    Extension(visitor): Extension<Visitor>,
) -> Response {
    let address = visitor.address();
    // Read the number first: a reply that lands meanwhile is then polled
    // again rather than missed.
    let seq = state.inner.inbox.last_seq();
    let user = match state.inner.store.bound_user(&address) {
        Ok(user) => user,
        Err(error) => return internal_error("read web binding", &error),
    };
    let reply = state.inner.bot.current_reply(&address);
    Json(StateBody { reply, seq, user }).into_response()
}

/// A message from the page: typed text or a tapped button's payload.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Outgoing {
    text: Option<String>,
    payload: Option<String>,
}

impl Outgoing {
    fn into_input(self) -> Option<Input> {
        match (self.text, self.payload) {
            (Some(text), None) if !text.trim().is_empty() => Some(Input::Text(text)),
            (None, Some(payload)) if !payload.is_empty() => Some(Input::Payload(payload)),
            _ => None,
        }
    }
}

async fn send_message(
    State(state): State<WebState>,
    Extension(visitor): Extension<Visitor>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    body: Result<Json<Outgoing>, axum::extract::rejection::JsonRejection>,
) -> Response {
    if !same_origin(&headers) {
        tracing::warn!("web message refused: not same-origin");
        return refuse(StatusCode::FORBIDDEN, "cross-origin request refused");
    }
    if !known_host(&headers, &state.inner.hosts) {
        tracing::warn!("web message refused: unknown Host");
        return refuse(StatusCode::FORBIDDEN, "unknown host; see SANDBOT_WEB_HOSTS");
    }
    // Check the rate before the body, so a flood of bad bodies is
    // limited too.
    // A client that drops its cookie is a new visitor each time, so
    // the peer address has a (more generous) limit of its own.
    let peer_limited = peer.is_some_and(|Extension(ConnectInfo(addr))| {
        state.inner.peer_limiter.check_key(&addr.ip()).is_err()
    });
    if peer_limited || state.inner.limiter.check_key(&visitor.id).is_err() {
        tracing::warn!("web message refused: rate limited");
        return refuse(
            StatusCode::TOO_MANY_REQUESTS,
            "too many messages; wait a moment",
        );
    }
    let body = match body {
        Ok(Json(body)) => body,
        Err(rejection) => return refuse(rejection.status(), &rejection.body_text()),
    };
    let Some(input) = body.into_input() else {
        return refuse(
            StatusCode::BAD_REQUEST,
            "send exactly one of text or payload",
        );
    };
    forget_idle_visitors(&state.inner);
    let address = visitor.address();
    tracing::debug!(%address, "web message received");
    state.inner.dispatch.dispatch(Inbound {
        address,
        message_id: None,
        input: Some(input),
    });
    StatusCode::ACCEPTED.into_response()
}

/// Drop rate-limit entries of visitors who have been quiet a while, so
/// the table does not grow without bound.
fn forget_idle_visitors(state: &Shared) {
    if state.limiter.len() > 10_000 {
        state.limiter.retain_recent();
    }
    if state.peer_limiter.len() > 10_000 {
        state.peer_limiter.retain_recent();
    }
}

/// Messages one peer address may send: a burst of 60, then 5 a second,
/// enough for several people behind one address.
fn peer_quota() -> Quota {
    let burst = NonZeroU32::new(BURST * 6).expect("burst is not zero");
    Quota::per_second(NonZeroU32::new(5).expect("rate is not zero")).allow_burst(burst)
}

/// The comma-separated host names in `SANDBOT_WEB_HOSTS`, lowercase.
fn hosts_from_env() -> Vec<String> {
    let list = std::env::var("SANDBOT_WEB_HOSTS").unwrap_or_default();
    list.split(',')
        .map(|h| h.trim().to_ascii_lowercase())
        .filter(|h| !h.is_empty())
        .collect()
}

/// Whether the `Host` header names this server: an IP address,
/// `localhost`, or a name the operator listed. Same-origin checks alone
/// trust `Host`, so a web page whose name an attacker re-points at
/// 127.0.0.1 (DNS rebinding) would otherwise pass them.
fn known_host(headers: &HeaderMap, extra: &[String]) -> bool {
    let Some(host) = headers.get("host").and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let name = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => host.rsplit_once(':').map(|(h, _)| h).unwrap_or(host),
    };
    let name = name.to_ascii_lowercase();
    name.parse::<std::net::IpAddr>().is_ok() || name == "localhost" || extra.contains(&name)
}

/// Whether a state-changing request comes from our own page.
fn same_origin(headers: &HeaderMap) -> bool {
    let text = |name| {
        headers
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
    };
    if let Some(site) = text("sec-fetch-site") {
        return site == "same-origin";
    }
    let (Some(origin), Some(host)) = (text("origin"), text("host")) else {
        return false;
    };
    let origin_host = origin.split_once("://").map(|(_, rest)| rest);
    origin_host == Some(host)
}

/// How long a login link works.
pub const LOGIN_TTL: Duration = Duration::from_secs(10 * 60);

/// Make a one-time login token for a configured user, valid for
/// [`LOGIN_TTL`]; the link is `<base-url>/login/<token>`. The caller checks
/// that `user` is configured.
pub fn create_login_token(store: &dyn Store, user: &str) -> crate::store::Result<String> {
    let token = hex::encode(rand::random::<[u8; 32]>());
    let expires_at = crate::store::now() + LOGIN_TTL.as_secs() as i64;
    store.insert_login_token(&token, user, expires_at)?;
    Ok(token)
}

/// Which replies to fetch.
#[derive(Debug, Deserialize)]
struct UpdatesQuery {
    #[serde(default)]
    after: u64,
}

/// Replies for the page.
#[derive(Debug, Serialize)]
struct UpdatesBody {
    messages: Vec<Message>,
}

async fn updates(
    State(state): State<WebState>,
    Extension(visitor): Extension<Visitor>,
    Query(query): Query<UpdatesQuery>,
) -> Json<UpdatesBody> {
    let timeout = state.poll_timeout;
    let address = visitor.address();
    let messages = state.inner.inbox.wait(&address, query.after, timeout).await;
    Json(UpdatesBody { messages })
}

async fn login(
    State(state): State<WebState>,
    Extension(visitor): Extension<Visitor>,
    Path(token): Path<String>,
) -> Response {
    let store = &state.inner.store;
    let user = match store.take_login_token(&token, crate::store::now()) {
        Ok(Some(user)) => user,
        Ok(None) => return login_refused(),
        Err(error) => return internal_error("take login token", &error),
    };
    let address = visitor.address();
    if let Err(error) = store.bind_address(&address, &user) {
        return internal_error("bind web visitor", &error);
    }
    tracing::info!(%user, %address, "web visitor signed in");
    Redirect::to("/").into_response()
}

fn login_refused() -> Response {
    let body = "<!doctype html><title>sandbot</title>\
        <p>This sign-in link is not valid: it may have expired or been used \
        already. Ask for a new one with <code>sandbot web-login</code>.</p>";
    (StatusCode::NOT_FOUND, Html(body)).into_response()
}

/// A JSON error for the page.
fn refuse(status: StatusCode, message: &str) -> Response {
    (status, Json(serde_json::json!({ "error": message }))).into_response()
}

/// Log the real error once; tell the caller only that it failed.
fn internal_error(action: &str, error: &dyn std::fmt::Display) -> Response {
    tracing::error!(%error, "web chat failed to {action}");
    refuse(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
}

#[cfg(test)]
mod tests;
