//! Terminal credentials and request signing (`backend-api.md`, "Authentication").
//!
//! ```text
//! X-Terminal-Id: T-000123
//! X-Timestamp: 2026-11-22T10:15:00Z
//! X-Signature: v1=<lowercase hex of HMAC-SHA256(secret, string_to_sign)>
//!
//! string_to_sign = METHOD + "\n" + PATH_AND_QUERY + "\n" + X-Timestamp + "\n"
//!                  + lowercase hex SHA-256 of the raw body bytes (of "" when empty)
//! ```

use std::fmt;

use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Deserializer};
use sha2::{Digest, Sha256};
use time::{OffsetDateTime, UtcOffset};

use crate::error::BackendError;

/// Number of raw bytes in a terminal secret.
pub const SECRET_LEN: usize = 32;

/// The 32-byte terminal secret issued at enrollment.
///
/// Why a newtype: the secret must never reach a log, a receipt or command
/// output, so `Debug` and `Display` print `Secret(***)`, and the type has no
/// `Serialize` (storing it is an explicit `to_base64()`).
#[derive(Clone, PartialEq, Eq)]
pub struct Secret([u8; SECRET_LEN]);

impl Secret {
    /// Decodes the base64 string of the enrollment answer. Standard alphabet;
    /// missing padding is tolerated. Anything other than exactly 32 bytes is
    /// refused (the error never echoes the input).
    pub fn from_base64(text: &str) -> Result<Secret, BackendError> {
        let engine = base64::engine::GeneralPurpose::new(
            &base64::alphabet::STANDARD,
            base64::engine::GeneralPurposeConfig::new()
                .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
        );
        let bytes = engine
            .decode(text.trim())
            .map_err(|_| BackendError::Config("terminal secret is not valid base64".into()))?;
        let raw: [u8; SECRET_LEN] = bytes.try_into().map_err(|v: Vec<u8>| {
            BackendError::Config(format!(
                "terminal secret has {} bytes, {SECRET_LEN} expected",
                v.len()
            ))
        })?;
        Ok(Secret(raw))
    }

    /// Builds a secret from raw bytes (tests, key generation by a mock).
    pub fn from_bytes(raw: [u8; SECRET_LEN]) -> Secret {
        Secret(raw)
    }

    /// Standard padded base64, the form the agent stores on disk.
    pub fn to_base64(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(self.0)
    }

    /// The raw bytes, for a server (mock) that must verify signatures.
    pub fn expose_bytes(&self) -> &[u8; SECRET_LEN] {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl<'de> Deserialize<'de> for Secret {
    /// The enrollment answer carries the secret as base64 text.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Secret::from_base64(&text)
            .map_err(|_| serde::de::Error::custom("secret is not the base64 of 32 bytes"))
    }
}

/// What the agent needs to sign requests: its terminal id and secret.
/// `Debug` is safe to log (the secret prints as `Secret(***)`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credentials {
    /// `T-000123`, sent as `X-Terminal-Id` so the server knows whose secret
    /// checks the signature.
    pub terminal_id: String,
    /// Signs every request; never sent itself.
    pub secret: Secret,
}

/// Formats a time as the spec's `X-Timestamp`: UTC, whole seconds,
/// `YYYY-MM-DDTHH:MM:SSZ`. Sub-second parts are dropped, not rounded.
pub fn format_timestamp(at: OffsetDateTime) -> String {
    let utc = at.to_offset(UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        utc.year(),
        u8::from(utc.month()),
        utc.day(),
        utc.hour(),
        utc.minute(),
        utc.second()
    )
}

/// Lowercase hex SHA-256 of `body` (of `""` when empty).
pub fn body_hash(body: &[u8]) -> String {
    hex::encode(Sha256::digest(body))
}

/// The exact string the signature covers.
pub fn string_to_sign(method: &str, path_and_query: &str, timestamp: &str, body: &[u8]) -> String {
    format!(
        "{method}\n{path_and_query}\n{timestamp}\n{}",
        body_hash(body)
    )
}

/// Computes `X-Signature`: `v1=` + lowercase hex HMAC-SHA256 of the
/// string to sign. `path_and_query` must be the request target exactly as
/// sent (prefix from the base URL included, percent-encoded as on the wire).
pub fn sign(
    secret: &Secret,
    method: &str,
    path_and_query: &str,
    timestamp: &str,
    body: &[u8],
) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&secret.0)
        .expect("HMAC-SHA256 accepts keys of any length");
    mac.update(string_to_sign(method, path_and_query, timestamp, body).as_bytes());
    format!("v1={}", hex::encode(mac.finalize().into_bytes()))
}

/// Checks a signature in constant time (for servers and tests).
pub fn verify(
    secret: &Secret,
    method: &str,
    path_and_query: &str,
    timestamp: &str,
    body: &[u8],
    signature: &str,
) -> bool {
    let Some(hex_sig) = signature.strip_prefix("v1=") else {
        return false;
    };
    let Ok(raw) = hex::decode(hex_sig) else {
        return false;
    };
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&secret.0)
        .expect("HMAC-SHA256 accepts keys of any length");
    mac.update(string_to_sign(method, path_and_query, timestamp, body).as_bytes());
    mac.verify_slice(&raw).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use time::macros::datetime;

    fn secret() -> Secret {
        Secret::from_bytes(*b"0123456789abcdef0123456789abcdef")
    }

    /// Independent computation, straight from the spec's formula.
    fn reference(key: &[u8], sts: &str) -> String {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).unwrap();
        mac.update(sts.as_bytes());
        format!("v1={}", hex::encode(mac.finalize().into_bytes()))
    }

    #[test]
    fn signature_matches_spec_formula() {
        let body = br#"{"fiscal_code":"RSSMRA85T10A562S"}"#;
        let body_hex = hex::encode(Sha256::digest(body));
        let sts = format!("POST\n/v1/payers/lookup\n2026-11-22T10:15:00Z\n{body_hex}");
        let got = sign(
            &secret(),
            "POST",
            "/v1/payers/lookup",
            "2026-11-22T10:15:00Z",
            body,
        );
        assert_eq!(got, reference(b"0123456789abcdef0123456789abcdef", &sts));
        assert!(got.starts_with("v1="));
        assert_eq!(got.len(), 3 + 64);
        assert_eq!(got, got.to_lowercase());
    }

    #[test]
    fn empty_body_hashes_empty_string() {
        // Known SHA-256 of "".
        assert_eq!(
            body_hash(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        let sts = "GET\n/api/v1/keys\n2026-11-22T10:15:00Z\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        assert_eq!(
            sign(
                &secret(),
                "GET",
                "/api/v1/keys",
                "2026-11-22T10:15:00Z",
                b""
            ),
            reference(secret().expose_bytes(), sts)
        );
    }

    #[test]
    fn prefix_changes_signature() {
        let a = sign(&secret(), "GET", "/v1/keys", "2026-11-22T10:15:00Z", b"");
        let b = sign(
            &secret(),
            "GET",
            "/api/v1/keys",
            "2026-11-22T10:15:00Z",
            b"",
        );
        assert_ne!(a, b);
    }

    #[test]
    fn verify_accepts_own_and_rejects_tampered() {
        let s = sign(&secret(), "POST", "/v1/x", "2026-11-22T10:15:00Z", b"{}");
        assert!(verify(
            &secret(),
            "POST",
            "/v1/x",
            "2026-11-22T10:15:00Z",
            b"{}",
            &s
        ));
        assert!(!verify(
            &secret(),
            "POST",
            "/v1/x",
            "2026-11-22T10:15:01Z",
            b"{}",
            &s
        ));
        assert!(!verify(
            &secret(),
            "POST",
            "/v1/x",
            "2026-11-22T10:15:00Z",
            b"{ }",
            &s
        ));
        assert!(!verify(
            &secret(),
            "POST",
            "/v1/x",
            "2026-11-22T10:15:00Z",
            b"{}",
            "zz"
        ));
    }

    #[test]
    fn timestamp_is_whole_seconds_utc() {
        let t = datetime!(2026-11-22 11:15:00.987 +01:00);
        assert_eq!(format_timestamp(t), "2026-11-22T10:15:00Z");
        assert_eq!(
            format_timestamp(datetime!(2026-01-02 03:04:05 UTC)),
            "2026-01-02T03:04:05Z"
        );
    }

    #[test]
    fn secret_never_printed() {
        let s = secret();
        assert_eq!(format!("{s:?}"), "Secret(***)");
        assert_eq!(format!("{s}"), "Secret(***)");
        let c = Credentials {
            terminal_id: "T-000123".into(),
            secret: s.clone(),
        };
        let dbg = format!("{c:?}");
        assert!(dbg.contains("T-000123"));
        assert!(!dbg.contains("0123456789abcdef"));
        assert!(!dbg.contains(&s.to_base64()));
    }

    #[test]
    fn secret_base64_roundtrip_and_length_check() {
        let s = secret();
        let b64 = s.to_base64();
        assert_eq!(Secret::from_base64(&b64).unwrap(), s);
        assert_eq!(Secret::from_base64(b64.trim_end_matches('=')).unwrap(), s);
        assert!(Secret::from_base64("AAAA").is_err());
        assert!(Secret::from_base64("not base64!!").is_err());
        let err = Secret::from_base64("not base64!!").unwrap_err().to_string();
        assert!(!err.contains("not base64!!"));
    }

    proptest! {
        #[test]
        fn sign_equals_reference(
            key in proptest::array::uniform32(any::<u8>()),
            method in "(GET|POST)",
            path in "/[a-zA-Z0-9%._~/-]{0,40}",
            body in proptest::collection::vec(any::<u8>(), 0..200),
            secs in 0i64..4_000_000_000,
        ) {
            let ts = format_timestamp(OffsetDateTime::from_unix_timestamp(secs).unwrap());
            let sts = format!("{method}\n{path}\n{ts}\n{}", hex::encode(Sha256::digest(&body)));
            let got = sign(&Secret::from_bytes(key), &method, &path, &ts, &body);
            prop_assert_eq!(&got, &reference(&key, &sts));
            prop_assert!(verify(&Secret::from_bytes(key), &method, &path, &ts, &body, &got));
        }

        #[test]
        fn timestamp_parses_back(secs in 0i64..253_402_300_799) {
            let t = OffsetDateTime::from_unix_timestamp(secs).unwrap();
            let s = format_timestamp(t);
            prop_assert_eq!(s.len(), 20);
            let back = OffsetDateTime::parse(&s, &time::format_description::well_known::Rfc3339).unwrap();
            prop_assert_eq!(back, t);
        }
    }
}
