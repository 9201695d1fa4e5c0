//! Request signatures, exactly as `backend-api.md` "Authentication" defines
//! them:
//!
//! ```text
//! X-Terminal-Id: T-000123
//! X-Timestamp:   2026-11-22T10:15:00Z
//! X-Signature:   v1=<lowercase hex of HMAC-SHA256(secret, string_to_sign)>
//! string_to_sign = METHOD \n PATH_AND_QUERY \n X-Timestamp \n hex(sha256(body))
//! ```
//!
//! `PATH_AND_QUERY` is the request target as received, never re-encoded: a
//! client that signs a different encoding than it sends must fail here.

use std::collections::HashMap;

use axum::http::{HeaderMap, Method, Uri};
use hmac::{Hmac, Mac};
use sha2::{Digest as _, Sha256};
use time::OffsetDateTime;

use super::state::Answer;

/// Largest accepted distance between `X-Timestamp` and the server clock.
const MAX_SKEW_SECS: i64 = 300;

/// The string a terminal signs.
pub(crate) fn string_to_sign(
    method: &str,
    path_and_query: &str,
    timestamp: &str,
    body: &[u8],
) -> String {
    format!(
        "{method}\n{path_and_query}\n{timestamp}\n{}",
        hex::encode(Sha256::digest(body))
    )
}

/// Parses `YYYY-MM-DDTHH:MM:SSZ` (whole seconds, UTC, nothing else).
fn parse_timestamp(s: &str) -> Option<OffsetDateTime> {
    let format =
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    if s.len() != 20 {
        return None;
    }
    time::PrimitiveDateTime::parse(s, format)
        .ok()
        .map(time::PrimitiveDateTime::assume_utc)
}

fn unauthorized(code: &str, message: &str) -> Answer {
    Answer::error(401, code, message)
}

/// The raw request target: what the client put on the request line.
pub(crate) fn path_and_query(uri: &Uri) -> &str {
    uri.path_and_query()
        .map(|p| p.as_str())
        .unwrap_or_else(|| uri.path())
}

/// Checks the three headers against the terminal's secret and the mock
/// clock; returns the terminal id or the 401 to answer.
pub(crate) fn verify(
    terminals: &HashMap<String, [u8; 32]>,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
    now: OffsetDateTime,
) -> Result<String, Answer> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let Some(terminal_id) = header("x-terminal-id") else {
        return Err(unauthorized("unknown_terminal", "missing X-Terminal-Id"));
    };
    let Some(secret) = terminals.get(terminal_id) else {
        return Err(unauthorized("unknown_terminal", "unknown terminal"));
    };
    let Some(timestamp) = header("x-timestamp") else {
        return Err(unauthorized("bad_signature", "missing X-Timestamp"));
    };
    let Some(signed_at) = parse_timestamp(timestamp) else {
        return Err(unauthorized(
            "bad_signature",
            "X-Timestamp must be YYYY-MM-DDTHH:MM:SSZ",
        ));
    };
    let Some(signature) = header("x-signature").and_then(|s| s.strip_prefix("v1=")) else {
        return Err(unauthorized(
            "bad_signature",
            "missing or malformed X-Signature",
        ));
    };
    let Ok(signature) = hex::decode(signature) else {
        return Err(unauthorized("bad_signature", "X-Signature is not hex"));
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC accepts keys of any length");
    mac.update(string_to_sign(method.as_str(), path_and_query(uri), timestamp, body).as_bytes());
    // verify_slice compares in constant time.
    if mac.verify_slice(&signature).is_err() {
        return Err(unauthorized("bad_signature", "signature does not match"));
    }
    // Checked after the signature, so that clock_skew means "a genuine
    // terminal whose clock is wrong".
    if (now - signed_at).whole_seconds().abs() > MAX_SKEW_SECS {
        return Err(unauthorized(
            "clock_skew",
            "X-Timestamp is more than 300 s away from the server clock",
        ));
    }
    Ok(terminal_id.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_to_sign_of_an_empty_body() {
        assert_eq!(
            string_to_sign("GET", "/v1/keys", "2026-11-22T10:15:00Z", b""),
            "GET\n/v1/keys\n2026-11-22T10:15:00Z\n\
             e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn timestamps_are_strict() {
        assert!(parse_timestamp("2026-11-22T10:15:00Z").is_some());
        assert!(parse_timestamp("2026-11-22T10:15:00.5Z").is_none());
        assert!(parse_timestamp("2026-11-22T10:15:00+00:00").is_none());
        assert!(parse_timestamp("2026-11-22 10:15:00Z").is_none());
        assert!(parse_timestamp("").is_none());
    }
}
