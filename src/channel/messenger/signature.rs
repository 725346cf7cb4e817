//! Webhook signatures: proof that a POST came from Facebook.
//!
//! Facebook signs the raw body with the app secret and sends the HMAC in
//! `X-Hub-Signature-256: sha256=<hex>`, and for older apps also in
//! `X-Hub-Signature: sha1=<hex>`. The SHA-256 header wins when both are
//! present; the SHA-1 one is accepted only when it is the only one sent.
//! Tags are compared in constant time by the `hmac` crate.

use axum::http::HeaderMap;
use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;
use sha2::Sha256;

/// The header carrying `sha256=<hex>`.
pub const SIGNATURE_256_HEADER: &str = "x-hub-signature-256";

/// The legacy header carrying `sha1=<hex>`.
pub const SIGNATURE_SHA1_HEADER: &str = "x-hub-signature";

/// Why a webhook body was not accepted as signed by Facebook.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// Neither signature header was sent.
    #[error("missing signature header")]
    Missing,
    /// The app secret is empty, so no signature can prove anything.
    #[error("app secret is empty")]
    NoSecret,
    /// The header value is not `algorithm=hex` in visible ASCII.
    #[error("malformed signature header {header}")]
    Malformed {
        /// The header that was malformed.
        header: &'static str,
    },
    /// The header names an algorithm other than the one it should carry.
    #[error("signature header {header} expects {expected}, got {found}")]
    WrongAlgorithm {
        /// The header that carried it.
        header: &'static str,
        /// The algorithm that header must use.
        expected: &'static str,
        /// The algorithm that was named (cut to a few characters).
        found: String,
    },
    /// The tag is not valid hexadecimal.
    #[error("signature in {header} is not valid hex")]
    BadHex {
        /// The header that carried it.
        header: &'static str,
    },
    /// The tag does not match the body under the app secret.
    #[error("signature in {header} does not match the body")]
    Mismatch {
        /// The header that carried it.
        header: &'static str,
    },
}

/// Check that `body` was signed with `secret`, as the headers claim.
///
/// Uses `X-Hub-Signature-256` when present, else `X-Hub-Signature`.
pub fn verify_signature(
    secret: &[u8],
    body: &[u8],
    headers: &HeaderMap,
) -> Result<(), SignatureError> {
    if secret.is_empty() {
        return Err(SignatureError::NoSecret);
    }
    if let Some(value) = headers.get(SIGNATURE_256_HEADER) {
        let tag = tag_of(SIGNATURE_256_HEADER, "sha256", value.as_bytes())?;
        return check::<Hmac<Sha256>>(SIGNATURE_256_HEADER, secret, body, &tag);
    }
    if let Some(value) = headers.get(SIGNATURE_SHA1_HEADER) {
        let tag = tag_of(SIGNATURE_SHA1_HEADER, "sha1", value.as_bytes())?;
        return check::<Hmac<Sha1>>(SIGNATURE_SHA1_HEADER, secret, body, &tag);
    }
    Err(SignatureError::Missing)
}

/// Split `algorithm=hex`, check the algorithm and decode the tag.
fn tag_of(
    header: &'static str,
    expected: &'static str,
    value: &[u8],
) -> Result<Vec<u8>, SignatureError> {
    let malformed = SignatureError::Malformed { header };
    let value = std::str::from_utf8(value).map_err(|_| malformed.clone())?;
    let (algorithm, hex_tag) = value.trim().split_once('=').ok_or(malformed)?;
    if !algorithm.eq_ignore_ascii_case(expected) {
        // Cut what we echo back: the value came from whoever sent the POST.
        let found = algorithm.chars().take(16).collect();
        return Err(SignatureError::WrongAlgorithm {
            header,
            expected,
            found,
        });
    }
    hex::decode(hex_tag).map_err(|_| SignatureError::BadHex { header })
}

/// Compare `tag` with the MAC of `body` in constant time.
fn check<M: Mac + KeyInit>(
    header: &'static str,
    secret: &[u8],
    body: &[u8],
    tag: &[u8],
) -> Result<(), SignatureError> {
    let mismatch = SignatureError::Mismatch { header };
    let mut mac = <M as KeyInit>::new_from_slice(secret).map_err(|_| mismatch.clone())?;
    mac.update(body);
    mac.verify_slice(tag).map_err(|_| mismatch)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channel::messenger::test_support::{
        SECRET, fixture, fixture_names, sign_sha1, sign_sha256,
    };
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    #[test]
    fn every_fixture_body_is_accepted_with_its_sha256_signature() {
        for name in fixture_names() {
            let body = fixture(name);
            let sig = sign_sha256(SECRET, &body);
            let map = headers(&[(SIGNATURE_256_HEADER, &sig)]);
            assert_eq!(verify_signature(SECRET, &body, &map), Ok(()), "{name}");
        }
    }

    #[test]
    fn every_fixture_body_is_rejected_under_another_secret() {
        for name in fixture_names() {
            let body = fixture(name);
            let sig = sign_sha256(b"some other secret", &body);
            let map = headers(&[(SIGNATURE_256_HEADER, &sig)]);
            let err = verify_signature(SECRET, &body, &map).unwrap_err();
            assert!(matches!(err, SignatureError::Mismatch { .. }), "{name}");
        }
    }

    #[test]
    fn a_legacy_sha1_signature_is_accepted_alone() {
        let body = fixture("message_text.json");
        let map = headers(&[(SIGNATURE_SHA1_HEADER, &sign_sha1(SECRET, &body))]);
        assert_eq!(verify_signature(SECRET, &body, &map), Ok(()));
    }

    #[test]
    fn the_sha256_header_wins_over_a_valid_sha1_header() {
        let body = fixture("message_text.json");
        let map = headers(&[
            (SIGNATURE_256_HEADER, &sign_sha256(b"wrong", &body)),
            (SIGNATURE_SHA1_HEADER, &sign_sha1(SECRET, &body)),
        ]);
        let err = verify_signature(SECRET, &body, &map).unwrap_err();
        assert_eq!(
            err,
            SignatureError::Mismatch {
                header: SIGNATURE_256_HEADER
            }
        );
    }

    #[test]
    fn a_tampered_body_is_rejected() {
        let body = fixture("message_text.json");
        let sig = sign_sha256(SECRET, &body);
        let tampered = String::from_utf8(body).unwrap().replace("Setup", "Admin");
        let map = headers(&[(SIGNATURE_256_HEADER, &sig)]);
        let err = verify_signature(SECRET, tampered.as_bytes(), &map).unwrap_err();
        assert!(matches!(err, SignatureError::Mismatch { .. }));
    }

    #[test]
    fn a_sha1_value_under_the_sha256_header_is_the_wrong_algorithm() {
        let body = fixture("message_text.json");
        let map = headers(&[(SIGNATURE_256_HEADER, &sign_sha1(SECRET, &body))]);
        let err = verify_signature(SECRET, &body, &map).unwrap_err();
        assert!(
            matches!(err, SignatureError::WrongAlgorithm { ref found, .. }
            if found == "sha1")
        );
    }

    #[test]
    fn an_md5_prefix_is_the_wrong_algorithm() {
        let map = headers(&[(SIGNATURE_SHA1_HEADER, "md5=00ff")]);
        let err = verify_signature(SECRET, b"{}", &map).unwrap_err();
        assert!(matches!(err, SignatureError::WrongAlgorithm { .. }));
    }

    #[test]
    fn a_missing_header_is_reported_as_missing() {
        let err = verify_signature(SECRET, b"{}", &HeaderMap::new()).unwrap_err();
        assert_eq!(err, SignatureError::Missing);
    }

    #[test]
    fn a_non_hex_tag_is_bad_hex() {
        let map = headers(&[(SIGNATURE_256_HEADER, "sha256=not-hex")]);
        let err = verify_signature(SECRET, b"{}", &map).unwrap_err();
        assert!(matches!(err, SignatureError::BadHex { .. }));
    }

    #[test]
    fn a_value_without_an_algorithm_is_malformed() {
        let map = headers(&[(SIGNATURE_256_HEADER, "00ff00ff")]);
        let err = verify_signature(SECRET, b"{}", &map).unwrap_err();
        assert!(matches!(err, SignatureError::Malformed { .. }));
    }

    #[test]
    fn a_truncated_tag_is_rejected() {
        let body = fixture("message_text.json");
        let sig = sign_sha256(SECRET, &body);
        let map = headers(&[(SIGNATURE_256_HEADER, &sig[..sig.len() - 2])]);
        let err = verify_signature(SECRET, &body, &map).unwrap_err();
        assert!(matches!(err, SignatureError::Mismatch { .. }));
    }

    #[test]
    fn an_empty_secret_accepts_nothing() {
        let body = fixture("message_text.json");
        let map = headers(&[(SIGNATURE_256_HEADER, &sign_sha256(b"", &body))]);
        assert_eq!(
            verify_signature(b"", &body, &map),
            Err(SignatureError::NoSecret)
        );
    }
}
