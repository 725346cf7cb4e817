//! The web chat's HTTP behaviour, driven through the router with `oneshot`.

use std::sync::Mutex;

use axum::body::Body;
use axum::http::Request as HttpRequest;
use tower::ServiceExt;

use super::*;
use crate::store::memory::MemoryStore;

/// A dispatcher that remembers what it was given.
#[derive(Default)]
struct Recorder(Mutex<Vec<Inbound>>);

impl Dispatch for Recorder {
    fn dispatch(&self, inbound: Inbound) {
        self.0.lock().unwrap().push(inbound);
    }
}

/// A bot over an empty conversation; these tests never reach it.
fn test_bot(store: Arc<dyn Store>) -> Bot {
    let config = crate::config::Config {
        path: "test.yaml".into(),
        permissions: Default::default(),
        roles: Default::default(),
        commands: Default::default(),
        groups: Default::default(),
        users: Default::default(),
        states: Default::default(),
        events: Default::default(),
        transitions: Vec::new(),
        initial_state: "Initial".into(),
        get_started_event: "GetStarted".into(),
    };
    let runner = crate::handler::Runner::prepare(&config).expect("no handlers to prepare");
    Bot::new(Arc::new(config), store, Arc::new(runner))
}

/// The pieces of a web chat under test.
struct Harness {
    app: axum::Router,
    key: WebKey,
    store: Arc<dyn Store>,
    inbox: Arc<WebInbox>,
    dispatched: Arc<Recorder>,
}

impl Harness {
    fn new() -> Harness {
        let store: Arc<dyn Store> = Arc::new(MemoryStore::default());
        let key = WebKey::generate();
        let inbox = Arc::new(WebInbox::new());
        let dispatched = Arc::new(Recorder::default());
        let bot = test_bot(store.clone());
        let state = WebState::new(
            bot,
            store.clone(),
            dispatched.clone(),
            inbox.clone(),
            key.clone(),
        )
        .with_poll_timeout(Duration::from_millis(20));
        Harness {
            app: routes(state),
            key,
            store,
            inbox,
            dispatched,
        }
    }

    async fn send(&self, request: HttpRequest<Body>) -> Response {
        self.app.clone().oneshot(request).await.unwrap()
    }

    /// A cookie header for a visitor id signed with the server's key.
    fn cookie(&self, id: &str) -> String {
        format!("{}={}", visitor::COOKIE_NAME, self.key.sign(id))
    }

    fn dispatched(&self) -> Vec<Inbound> {
        self.dispatched.0.lock().unwrap().clone()
    }
}

/// A same-origin JSON message from the page.
fn message(cookie: Option<&str>, body: &str) -> HttpRequest<Body> {
    let mut request = HttpRequest::post("/api/messages")
        .header("host", "127.0.0.1:8080")
        .header("origin", "http://127.0.0.1:8080")
        .header("content-type", "application/json");
    if let Some(cookie) = cookie {
        request = request.header("cookie", cookie);
    }
    request.body(Body::from(body.to_string())).unwrap()
}

fn get(uri: &str, cookie: Option<&str>) -> HttpRequest<Body> {
    let mut request = HttpRequest::get(uri);
    if let Some(cookie) = cookie {
        request = request.header("cookie", cookie);
    }
    request.body(Body::empty()).unwrap()
}

/// The visitor id a response's `Set-Cookie` gives, checked against `key`.
fn issued_id(response: &Response, key: &WebKey) -> Option<String> {
    let header = response.headers().get(header::SET_COOKIE)?.to_str().ok()?;
    let value = visitor::find_cookie(header.split(';').next()?)?;
    key.verify(value)
}

async fn body_json(response: Response) -> serde_json::Value {
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

#[tokio::test]
async fn a_new_visitor_gets_a_signed_cookie() {
    let h = Harness::new();
    let response = h.send(get("/api/updates?after=0", None)).await;

    assert_eq!(response.status(), StatusCode::OK);
    let cookie = response.headers()[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    assert!(issued_id(&response, &h.key).is_some());
}

#[tokio::test]
async fn a_known_visitor_keeps_their_cookie() {
    let h = Harness::new();
    let cookie = h.cookie(&visitor::new_visitor_id());
    let response = h.send(get("/api/updates?after=0", Some(&cookie))).await;
    assert!(response.headers().get(header::SET_COOKIE).is_none());
}

#[tokio::test]
async fn a_forged_cookie_is_replaced_by_a_new_visitor() {
    let h = Harness::new();
    let victim = visitor::new_visitor_id();
    let forged = format!(
        "{}={}",
        visitor::COOKIE_NAME,
        WebKey::generate().sign(&victim)
    );

    let response = h.send(message(Some(&forged), r#"{"text":"hi"}"#)).await;

    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let fresh = issued_id(&response, &h.key).expect("a new cookie");
    assert_ne!(fresh, victim);
    assert_eq!(h.dispatched()[0].address, format!("web:{fresh}"));
}

#[tokio::test]
async fn a_message_reaches_the_bot_from_the_visitor_address() {
    let h = Harness::new();
    let id = visitor::new_visitor_id();
    let response = h
        .send(message(Some(&h.cookie(&id)), r#"{"payload":"GetStarted"}"#))
        .await;

    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let expected = Inbound {
        address: format!("web:{id}"),
        message_id: None,
        input: Some(Input::Payload("GetStarted".into())),
    };
    assert_eq!(h.dispatched(), vec![expected]);
}

#[tokio::test]
async fn a_cross_origin_message_is_refused() {
    let h = Harness::new();
    let mut request = message(None, r#"{"text":"hi"}"#);
    request
        .headers_mut()
        .insert("origin", HeaderValue::from_static("http://evil.example"));

    let response = h.send(request).await;

    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(h.dispatched().is_empty());
}

#[tokio::test]
async fn a_message_without_origin_is_refused() {
    let h = Harness::new();
    let mut request = message(None, r#"{"text":"hi"}"#);
    request.headers_mut().remove("origin");
    assert_eq!(h.send(request).await.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_cross_site_fetch_is_refused_even_with_a_matching_origin() {
    let h = Harness::new();
    let mut request = message(None, r#"{"text":"hi"}"#);
    request
        .headers_mut()
        .insert("sec-fetch-site", HeaderValue::from_static("cross-site"));
    assert_eq!(h.send(request).await.status(), StatusCode::FORBIDDEN);
}

/// DNS rebinding: a page on another name that now points at this server
/// sends a request whose Origin and Host agree but name the attacker.
#[tokio::test]
async fn a_message_for_an_unknown_host_name_is_refused() {
    let h = Harness::new();
    let mut request = message(None, r#"{"text":"hi"}"#);
    let headers = request.headers_mut();
    headers.insert("host", HeaderValue::from_static("evil.example:8080"));
    headers.insert(
        "origin",
        HeaderValue::from_static("http://evil.example:8080"),
    );
    assert_eq!(h.send(request).await.status(), StatusCode::FORBIDDEN);
    assert!(h.dispatched().is_empty());
}

#[test]
fn ip_addresses_localhost_and_listed_names_are_known_hosts() {
    let with = |host: &'static str| {
        let mut headers = axum::http::HeaderMap::new();
        headers.insert("host", HeaderValue::from_static(host));
        headers
    };
    let listed = vec!["chat.example.org".to_string()];
    for host in [
        "127.0.0.1:8080",
        "[::1]:8080",
        "localhost:8080",
        "Chat.example.org",
    ] {
        assert!(super::known_host(&with(host), &listed), "{host}");
    }
    assert!(!super::known_host(&with("evil.example"), &listed));
}

/// Dropping the cookie makes a new visitor each time; the peer address
/// still runs out of messages.
#[tokio::test]
async fn a_client_without_cookies_is_limited_by_its_address() {
    let h = Harness::new();
    let peer: std::net::SocketAddr = "192.0.2.7:5555".parse().unwrap();
    let mut statuses = Vec::new();
    for _ in 0..70 {
        let mut request = message(None, r#"{"text":"hi"}"#);
        request
            .extensions_mut()
            .insert(axum::extract::ConnectInfo(peer));
        statuses.push(h.send(request).await.status());
    }
    let accepted = statuses
        .iter()
        .filter(|s| **s == StatusCode::ACCEPTED)
        .count();
    // A burst of 60; a slow machine may refill a token or two meanwhile.
    assert!((60..65).contains(&accepted), "{accepted} accepted");
    assert_eq!(statuses.last(), Some(&StatusCode::TOO_MANY_REQUESTS));
}

#[tokio::test]
async fn a_message_that_is_not_json_is_refused() {
    let h = Harness::new();
    let mut request = message(None, r#"{"text":"hi"}"#);
    request
        .headers_mut()
        .insert("content-type", HeaderValue::from_static("text/plain"));

    let response = h.send(request).await;

    assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert!(h.dispatched().is_empty());
}

#[tokio::test]
async fn an_oversize_message_is_refused() {
    let h = Harness::new();
    let body = serde_json::json!({ "text": "x".repeat(MAX_BODY) }).to_string();

    let response = h.send(message(None, &body)).await;

    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert!(h.dispatched().is_empty());
}

#[tokio::test]
async fn a_message_with_both_text_and_payload_is_refused() {
    let h = Harness::new();
    let response = h.send(message(None, r#"{"text":"a","payload":"b"}"#)).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_burst_past_ten_messages_is_rate_limited() {
    let h = Harness::new();
    let cookie = h.cookie(&visitor::new_visitor_id());
    for _ in 0..BURST {
        let response = h.send(message(Some(&cookie), r#"{"text":"hi"}"#)).await;
        assert_eq!(response.status(), StatusCode::ACCEPTED);
    }

    let response = h.send(message(Some(&cookie), r#"{"text":"hi"}"#)).await;

    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(h.dispatched().len(), BURST as usize);
    // Another visitor is not affected.
    let other = h.cookie(&visitor::new_visitor_id());
    let response = h.send(message(Some(&other), r#"{"text":"hi"}"#)).await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
}

#[tokio::test]
async fn updates_return_only_this_visitors_replies() {
    let h = Harness::new();
    let (mine, theirs) = (visitor::new_visitor_id(), visitor::new_visitor_id());
    let after = h.inbox.last_seq();
    h.inbox
        .push(&format!("web:{theirs}"), Reply::text("<script>x</script>"));
    h.inbox.push(&format!("web:{mine}"), Reply::text("hello"));

    let uri = format!("/api/updates?after={after}");
    let body = body_json(h.send(get(&uri, Some(&h.cookie(&mine)))).await).await;

    let texts: Vec<_> = body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| &m["reply"]["text"])
        .collect();
    assert_eq!(texts, vec!["hello"]);
}

#[tokio::test]
async fn a_login_link_binds_the_visitor_once() {
    let h = Harness::new();
    let id = visitor::new_visitor_id();
    let cookie = h.cookie(&id);
    let expires = crate::store::now() + 600;
    h.store
        .insert_login_token("tok123", "alice", expires)
        .unwrap();

    let first = h.send(get("/login/tok123", Some(&cookie))).await;
    let second = h.send(get("/login/tok123", Some(&cookie))).await;

    assert_eq!(first.status(), StatusCode::SEE_OTHER);
    assert_eq!(first.headers()[header::LOCATION], "/");
    assert_eq!(
        h.store.bound_user(&format!("web:{id}")).unwrap().as_deref(),
        Some("alice")
    );
    assert_eq!(second.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn an_unknown_login_token_binds_nothing() {
    let h = Harness::new();
    let id = visitor::new_visitor_id();
    let response = h.send(get("/login/nope", Some(&h.cookie(&id)))).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(h.store.bound_user(&format!("web:{id}")).unwrap(), None);
}

#[tokio::test]
async fn the_page_is_served_with_a_strict_policy_and_no_cookie() {
    let h = Harness::new();
    let response = h.send(get("/", None)).await;

    assert_eq!(response.status(), StatusCode::OK);
    let headers = response.headers();
    assert!(
        headers[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap()
            .starts_with("default-src 'self'")
    );
    assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
    assert!(headers.get(header::SET_COOKIE).is_none());
}

#[test]
fn the_page_script_never_assigns_markup() {
    assert!(!CHAT_JS.contains("innerHTML"));
    assert!(!CHAT_JS.contains("outerHTML"));
    assert!(!CHAT_JS.contains("insertAdjacentHTML"));
}
