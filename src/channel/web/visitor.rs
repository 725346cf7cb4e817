//! Who a browser is: a random id in a signed cookie.
//!
//! Each visitor gets a random 128-bit id, kept in the `sandbot_visitor`
//! cookie as `<id>.<mac>`, where `mac` is HMAC-SHA256 of the id under the
//! server's [`WebKey`]. A cookie whose mac does not verify is ignored and
//! the browser becomes a new visitor; ids cannot be guessed or forged, so
//! one visitor cannot take over another's conversation.
//!
//! The cookie is `HttpOnly; SameSite=Strict; Path=/` and carries no
//! `Secure` flag, because the web chat is usually served over plain HTTP on
//! localhost; put it behind a TLS proxy for anything else.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// The cookie's name.
pub const COOKIE_NAME: &str = "sandbot_visitor";

/// The environment variable holding the cookie key, in hex.
pub const KEY_ENV: &str = "SANDBOT_WEB_KEY";

/// The shortest key accepted, in bytes.
const MIN_KEY_BYTES: usize = 32;

/// Why a configured key was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyError {
    /// The value is not hex.
    #[error("web cookie key {KEY_ENV} is not valid hex")]
    NotHex,
    /// The value is too short to be safe.
    #[error("web cookie key {KEY_ENV} must be at least {MIN_KEY_BYTES} bytes (64 hex digits)")]
    TooShort,
}

/// The secret that signs visitor cookies.
#[derive(Clone)]
pub struct WebKey(Vec<u8>);

impl std::fmt::Debug for WebKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebKey(..)")
    }
}

impl WebKey {
    /// The key from `SANDBOT_WEB_KEY`, or a fresh random one when the
    /// variable is unset. A random key lives only as long as the process,
    /// so every visitor becomes a new visitor after a restart.
    pub fn from_env() -> Result<WebKey, KeyError> {
        match std::env::var(KEY_ENV) {
            Ok(hex) if !hex.trim().is_empty() => WebKey::from_hex(hex.trim()),
            _ => {
                tracing::info!("no {KEY_ENV} set; web chat sessions reset on restart");
                Ok(WebKey::generate())
            }
        }
    }

    /// A key from hex digits; at least 32 bytes.
    pub fn from_hex(hex: &str) -> Result<WebKey, KeyError> {
        let bytes = hex::decode(hex).map_err(|_| KeyError::NotHex)?;
        if bytes.len() < MIN_KEY_BYTES {
            return Err(KeyError::TooShort);
        }
        Ok(WebKey(bytes))
    }

    /// A random 256-bit key.
    pub fn generate() -> WebKey {
        WebKey(rand::random::<[u8; 32]>().to_vec())
    }

    /// The cookie value for a visitor id: `<id>.<mac>`.
    pub fn sign(&self, id: &str) -> String {
        let mac = self.mac(id).finalize().into_bytes();
        format!("{id}.{}", hex::encode(mac))
    }

    /// The visitor id in a cookie value, if its mac verifies.
    pub fn verify(&self, value: &str) -> Option<String> {
        let (id, mac) = value.split_once('.')?;
        if !is_visitor_id(id) {
            return None;
        }
        let mac = hex::decode(mac).ok()?;
        // verify_slice compares in constant time.
        self.mac(id).verify_slice(&mac).ok()?;
        Some(id.to_string())
    }

    fn mac(&self, id: &str) -> Hmac<Sha256> {
        // HMAC takes keys of any length, so this cannot fail.
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("hmac accepts any key");
        mac.update(id.as_bytes());
        mac
    }
}

/// A fresh random visitor id: 128 bits as 32 lowercase hex digits.
pub fn new_visitor_id() -> String {
    hex::encode(rand::random::<[u8; 16]>())
}

/// Whether `id` looks like an id from [`new_visitor_id`].
fn is_visitor_id(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The `Set-Cookie` value that gives a browser its visitor cookie.
pub fn set_cookie(key: &WebKey, id: &str) -> String {
    format!(
        "{COOKIE_NAME}={}; HttpOnly; SameSite=Strict; Path=/; Max-Age=31536000",
        key.sign(id)
    )
}

/// The value of our cookie in a `Cookie` request header, if present.
pub fn find_cookie(header: &str) -> Option<&str> {
    header
        .split(';')
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE_NAME)
        .map(|(_, value)| value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signed_id_verifies_under_the_same_key() {
        let key = WebKey::generate();
        let id = new_visitor_id();
        assert_eq!(key.verify(&key.sign(&id)), Some(id));
    }

    #[test]
    fn a_cookie_signed_by_another_key_is_rejected() {
        let id = new_visitor_id();
        let forged = WebKey::generate().sign(&id);
        assert_eq!(WebKey::generate().verify(&forged), None);
    }

    #[test]
    fn a_tampered_id_is_rejected() {
        let key = WebKey::generate();
        let value = key.sign(&"0".repeat(32));
        let tampered = value.replacen('0', "1", 1);
        assert_eq!(key.verify(&tampered), None);
    }

    #[test]
    fn values_that_are_not_cookies_are_rejected() {
        let key = WebKey::generate();
        for value in ["", ".", "abc", "abc.def", &format!("{}.zz", "a".repeat(32))] {
            assert_eq!(key.verify(value), None, "{value:?}");
        }
    }

    #[test]
    fn short_or_malformed_keys_are_refused() {
        assert_eq!(WebKey::from_hex("00ff").unwrap_err(), KeyError::TooShort);
        assert_eq!(WebKey::from_hex("xyz").unwrap_err(), KeyError::NotHex);
        assert!(WebKey::from_hex(&"ab".repeat(32)).is_ok());
    }

    #[test]
    fn the_cookie_is_found_among_others() {
        let header = "a=1; sandbot_visitor=abc.def; b=2";
        assert_eq!(find_cookie(header), Some("abc.def"));
        assert_eq!(find_cookie("a=1"), None);
    }

    #[test]
    fn the_cookie_is_http_only_and_same_site_strict() {
        let cookie = set_cookie(&WebKey::generate(), &new_visitor_id());
        assert!(cookie.contains("HttpOnly"));
        assert!(cookie.contains("SameSite=Strict"));
        assert!(cookie.contains("Path=/"));
    }
}
