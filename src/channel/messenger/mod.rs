//! Facebook Messenger: webhook verification, signed event intake and the
//! Send API.
//!
//! - [`signature`]: checks that a webhook body was signed with the app
//!   secret (`X-Hub-Signature-256`, or the legacy `X-Hub-Signature`).
//! - [`events`]: turns webhook JSON into [`Inbound`](crate::channel::Inbound)
//!   messages addressed `messenger:<psid>`.
//! - [`webhook`]: the axum routes at `/webhooks/messenger` and
//!   `/fb/webhook`.
//! - [`send`]: the Send API client, an [`Outbox`](crate::channel::Outbox).
//!
//! # Messenger's limits
//!
//! A message holds at most 2000 characters; longer replies are sent as
//! several messages, split at paragraph, line or word boundaries. Buttons
//! are sent as quick replies on the last of them: at most 13, with titles
//! of at most 20 characters (longer ones are cut and end in `…`). A reply
//! with more than 13 buttons shows the first 13 in order and logs a
//! warning; the rest cannot be tapped, though typing an event's id still
//! works. Button templates are not used yet.

pub mod events;
pub mod send;
pub mod signature;
pub mod webhook;

pub use events::{ParseError, parse_events};
pub use send::{DEFAULT_GRAPH_URL, SendApi, SendError};
pub use signature::{
    SIGNATURE_256_HEADER, SIGNATURE_SHA1_HEADER, SignatureError, verify_signature,
};
pub use webhook::{BODY_LIMIT, LEGACY_WEBHOOK_PATH, MessengerState, WEBHOOK_PATH, routes};

/// Fixtures and signing shared by this module's tests.
#[cfg(test)]
pub(crate) mod test_support {
    use hmac::{Hmac, KeyInit, Mac};

    /// The app secret the tests sign with.
    pub const SECRET: &[u8] = b"test-app-secret";

    /// Every webhook body in `tests/fixtures/messenger`.
    pub fn fixture_names() -> [&'static str; 8] {
        [
            "attachment_only.json",
            "batch_two_users.json",
            "delivery_and_read.json",
            "message_echo.json",
            "message_quick_reply.json",
            "message_text.json",
            "message_unicode.json",
            "postback_get_started.json",
        ]
    }

    /// The exact bytes of one fixture body.
    pub fn fixture(name: &str) -> Vec<u8> {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/messenger");
        std::fs::read(format!("{dir}/{name}")).unwrap()
    }

    /// `sha256=<hex>` for `body` under `secret`.
    pub fn sign_sha256(secret: &[u8], body: &[u8]) -> String {
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret).unwrap();
        mac.update(body);
        format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
    }

    /// `sha1=<hex>` for `body` under `secret`.
    pub fn sign_sha1(secret: &[u8], body: &[u8]) -> String {
        let mut mac = Hmac::<sha1::Sha1>::new_from_slice(secret).unwrap();
        mac.update(body);
        format!("sha1={}", hex::encode(mac.finalize().into_bytes()))
    }
}
