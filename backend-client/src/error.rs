//! The one error type of this crate, classified as `backend-api.md` says.
//!
//! ```text
//! 2xx                                   -> Ok (200 and 201 alike)
//! 408 429 500 502 503 504, other 5xx    -> Transient (Retry-After honoured)
//! timeouts, connect errors, resets      -> Transient
//! 401                                   -> Auth (bad_signature, unknown_terminal, clock_skew)
//! 400 404 409 410 422, any other 4xx    -> Permanent (code, message, whole error object)
//! JSON not shaped as the spec says      -> BadResponse (a bare 401 stays Auth "unauthorized")
//! ```
//!
//! Unknown error codes are classified by HTTP status, never by their text.

use std::time::Duration;

use reqwest::header::HeaderMap;
use serde::Deserialize;

/// Longest `Retry-After` honoured: a server asking for more is capped, so a
/// bad header cannot park the outbox for days.
pub const RETRY_AFTER_CAP: Duration = Duration::from_secs(3600);

/// Everything that can go wrong talking to the backend.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// Try again later with the same bytes: 408, 429, 5xx, timeouts,
    /// connection errors, a 2xx whose body was cut by a broken connection.
    #[error("backend temporarily unavailable: {reason}")]
    Transient {
        /// What went wrong, for logs and `status` (never a body).
        reason: String,
        /// From `Retry-After` (seconds), capped at [`RETRY_AFTER_CAP`].
        retry_after: Option<Duration>,
        /// The HTTP status when the server answered (5xx, 408, 429); `None`
        /// for timeouts and connection errors. A signed request answered with
        /// anything but 401 proves the credentials work.
        status: Option<u16>,
    },
    /// 401: the terminal's credentials or clock need fixing. Not retried
    /// blindly; the agent reports `code` in `backend.error`.
    #[error("backend refused authentication ({code}): {message}")]
    Auth {
        /// `bad_signature`, `unknown_terminal` or `clock_skew`: each needs
        /// a different fix, so the agent shows it.
        code: String,
        /// The server's message, as sent.
        message: String,
    },
    /// 400, 404, 409, 410, 422 and any other 4xx: the same request will get
    /// the same answer. `details` is the whole `error` object (for example
    /// `recharge_id` beside `already_credited`).
    #[error("backend refused the request: HTTP {status} {code}: {message}")]
    Permanent {
        /// The HTTP status (400, 404, 409, 410, 422, ...).
        status: u16,
        /// The spec's snake_case code (`amount_out_of_range`,
        /// `already_credited`, ...): what the agent branches on.
        code: String,
        /// The server's message, as sent.
        message: String,
        /// The whole `error` object, for fields beside `code`.
        details: serde_json::Value,
    },
    /// The answer's JSON is not what the spec says (a 2xx body that does not
    /// parse, or a 4xx without the `{"error": {...}}` object, e.g. a proxy's
    /// HTML page). Chosen policy: this counts as transient (see
    /// [`BackendError::is_transient`]): for a state-changing call the request
    /// may or may not have been applied, and replaying the same
    /// Idempotency-Key and bytes later is always safe, whereas calling it a
    /// refusal would send the cash back for a credit that may exist.
    /// `reason` never contains the body (it may hold fiscal codes).
    #[error("unexpected answer from backend (HTTP {status}): {reason}")]
    BadResponse {
        /// The HTTP status the unexpected answer came with.
        status: u16,
        /// What did not fit the spec (never the body itself).
        reason: String,
    },
    /// The client cannot work as configured (bad URL, plain HTTP to a
    /// non-loopback host, unreadable CA file, not enrolled, bad secret).
    #[error("backend client configuration: {0}")]
    Config(String),
    /// The caller gave a value that cannot be sent as asked (an empty or
    /// dot-only payment code, an Idempotency-Key that is not a valid header
    /// value). Nothing was sent.
    #[error("invalid request: {0}")]
    Invalid(String),
}

impl BackendError {
    /// True when retrying later (same bytes, same key) is the right move:
    /// `Transient` and, by the policy documented on it, `BadResponse`.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            BackendError::Transient { .. } | BackendError::BadResponse { .. }
        )
    }

    /// The backend's error code (`Auth` and `Permanent`), e.g.
    /// `clock_skew`, `already_credited`.
    pub fn code(&self) -> Option<&str> {
        match self {
            BackendError::Auth { code, .. } | BackendError::Permanent { code, .. } => Some(code),
            _ => None,
        }
    }

    /// HTTP status when there was an answer.
    pub fn status(&self) -> Option<u16> {
        match self {
            BackendError::Auth { .. } => Some(401),
            BackendError::Transient { status, .. } => *status,
            BackendError::Permanent { status, .. } | BackendError::BadResponse { status, .. } => {
                Some(*status)
            }
            _ => None,
        }
    }

    /// The server's `Retry-After`, when a transient error carried one.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            BackendError::Transient { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// For `409 already_credited`: the `recharge_id` the server remembered.
    /// The agent treats such a recharge as confirmed, never as a failure.
    pub fn already_credited_recharge_id(&self) -> Option<&str> {
        match self {
            BackendError::Permanent {
                status: 409,
                code,
                details,
                ..
            } if code == "already_credited" => details.get("recharge_id")?.as_str(),
            _ => None,
        }
    }

    /// Short code for the agent's `backend.error` field: the server's code
    /// when there is one, else a class name.
    pub fn report_code(&self) -> String {
        match self {
            BackendError::Auth { code, .. } | BackendError::Permanent { code, .. } => code.clone(),
            BackendError::Transient { .. } => "unreachable".into(),
            BackendError::BadResponse { .. } => "bad_response".into(),
            BackendError::Config(_) => "config".into(),
            BackendError::Invalid(_) => "invalid_request".into(),
        }
    }
}

/// True for the statuses the spec calls transient, and any other 5xx.
pub(crate) fn status_is_transient(status: u16) -> bool {
    matches!(status, 408 | 429) || (500..=599).contains(&status)
}

#[derive(Deserialize)]
struct ErrorEnvelope {
    error: ErrorObject,
}

#[derive(Deserialize)]
struct ErrorObject {
    code: String,
    #[serde(default)]
    message: String,
}

/// Parses `Retry-After` as whole seconds. An HTTP-date (or anything else)
/// is ignored rather than guessed at; the value is capped.
pub fn parse_retry_after(headers: &HeaderMap) -> Option<Duration> {
    let text = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    let secs: u64 = text.trim().parse().ok()?;
    Some(Duration::from_secs(secs).min(RETRY_AFTER_CAP))
}

/// Classifies a non-2xx answer from its status, headers and body.
pub(crate) fn classify_error(status: u16, headers: &HeaderMap, body: &[u8]) -> BackendError {
    let parsed: Option<(ErrorObject, serde_json::Value)> =
        serde_json::from_slice::<serde_json::Value>(body)
            .ok()
            .and_then(|v| {
                let obj = v.get("error")?.clone();
                let env: ErrorEnvelope = serde_json::from_value(v).ok()?;
                Some((env.error, obj))
            });

    if status_is_transient(status) {
        let reason = match &parsed {
            Some((e, _)) => format!("HTTP {status} {}", e.code),
            None => format!("HTTP {status}"),
        };
        return BackendError::Transient {
            reason,
            retry_after: parse_retry_after(headers),
            status: Some(status),
        };
    }
    match parsed {
        Some((e, _)) if status == 401 => BackendError::Auth {
            code: e.code,
            message: e.message,
        },
        Some((e, details)) if (400..=499).contains(&status) => BackendError::Permanent {
            status,
            code: e.code,
            message: e.message,
            details,
        },
        Some(_) => BackendError::BadResponse {
            status,
            reason: format!("unexpected HTTP status {status}"),
        },
        // The spec says 401 is always an authentication failure, so a 401
        // without the error object (a proxy's page) still is one.
        None if status == 401 => BackendError::Auth {
            code: "unauthorized".into(),
            message: "HTTP 401 without an error object".into(),
        },
        None => BackendError::BadResponse {
            status,
            reason: "error answer without the {\"error\": {\"code\", ...}} object".into(),
        },
    }
}

/// Describes a JSON parse failure without quoting the body: serde's
/// messages can embed values ("invalid type: string \"RSSMRA...\""), and
/// bodies may hold fiscal codes. "missing field `x`" names only the field.
pub(crate) fn describe_json_error(e: &serde_json::Error) -> String {
    let msg = e.to_string();
    if msg.starts_with("missing field") {
        return msg;
    }
    let kind = match e.classify() {
        serde_json::error::Category::Io => "read error",
        serde_json::error::Category::Syntax => "not valid JSON",
        serde_json::error::Category::Data => "JSON not shaped as the spec says",
        serde_json::error::Category::Eof => "truncated JSON",
    };
    format!("{kind} at line {} column {}", e.line(), e.column())
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderValue, RETRY_AFTER};
    use serde_json::json;

    fn headers(retry: Option<&str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Some(r) = retry {
            h.insert(RETRY_AFTER, HeaderValue::from_str(r).unwrap());
        }
        h
    }

    fn body(code: &str) -> Vec<u8> {
        serde_json::to_vec(&json!({"error": {"code": code, "message": "m", "retryable": false}}))
            .unwrap()
    }

    #[test]
    fn transient_statuses() {
        for s in [408, 429, 500, 502, 503, 504, 507, 599] {
            let e = classify_error(s, &headers(None), &body("x"));
            assert!(matches!(e, BackendError::Transient { .. }), "{s}: {e:?}");
            assert!(e.is_transient());
            // Even without a JSON body.
            let e = classify_error(s, &headers(None), b"<html>");
            assert!(matches!(e, BackendError::Transient { .. }), "{s}: {e:?}");
            assert_eq!(e.status(), Some(s), "an answered request keeps its status");
        }
    }

    #[test]
    fn retry_after_seconds_and_date() {
        let e = classify_error(429, &headers(Some("7")), &body("rate_limited"));
        assert_eq!(e.retry_after(), Some(Duration::from_secs(7)));
        let e = classify_error(503, &headers(Some("Wed, 21 Oct 2015 07:28:00 GMT")), b"");
        assert!(e.is_transient());
        assert_eq!(e.retry_after(), None);
        let e = classify_error(503, &headers(Some("999999")), b"");
        assert_eq!(e.retry_after(), Some(RETRY_AFTER_CAP));
        let e = classify_error(503, &headers(Some("-3")), b"");
        assert_eq!(e.retry_after(), None);
    }

    #[test]
    fn auth_codes() {
        for code in [
            "bad_signature",
            "unknown_terminal",
            "clock_skew",
            "future_code",
        ] {
            let e = classify_error(401, &headers(None), &body(code));
            assert!(matches!(&e, BackendError::Auth { code: c, .. } if c == code));
            assert_eq!(e.code(), Some(code));
            assert!(!e.is_transient());
        }
    }

    #[test]
    fn permanent_statuses_and_unknown_codes() {
        for s in [400, 403, 404, 409, 410, 418, 422] {
            let e = classify_error(s, &headers(None), &body("something_new"));
            assert!(
                matches!(&e, BackendError::Permanent { status, code, .. } if *status == s && code == "something_new"),
                "{s}: {e:?}"
            );
            assert!(!e.is_transient());
        }
    }

    #[test]
    fn already_credited_details() {
        let b = serde_json::to_vec(&json!({"error": {"code": "already_credited",
            "message": "m", "retryable": false, "recharge_id": "R-99812"}}))
        .unwrap();
        let e = classify_error(409, &headers(None), &b);
        assert_eq!(e.already_credited_recharge_id(), Some("R-99812"));
        match e {
            BackendError::Permanent { details, .. } => {
                assert_eq!(details["recharge_id"], "R-99812");
                assert_eq!(details["code"], "already_credited");
            }
            other => panic!("{other:?}"),
        }
        let e = classify_error(409, &headers(None), &body("idempotency_conflict"));
        assert_eq!(e.already_credited_recharge_id(), None);
    }

    #[test]
    fn non_json_4xx_is_bad_response() {
        let e = classify_error(404, &headers(None), b"<html>not found</html>");
        assert!(matches!(e, BackendError::BadResponse { status: 404, .. }));
        assert!(e.is_transient());
        let e = classify_error(401, &headers(None), b"");
        assert!(matches!(&e, BackendError::Auth { code, .. } if code == "unauthorized"));
        assert_eq!(e.report_code(), "unauthorized");
        // error object present but code missing
        let e = classify_error(422, &headers(None), br#"{"error": {"message": "x"}}"#);
        assert!(matches!(e, BackendError::BadResponse { status: 422, .. }));
    }

    #[test]
    fn json_error_description_hides_values() {
        #[derive(Debug, Deserialize)]
        #[allow(dead_code)]
        struct T {
            n: u64,
        }
        let e = serde_json::from_str::<T>(r#"{"n": "RSSMRA85T10A562S"}"#).unwrap_err();
        let d = describe_json_error(&e);
        assert!(!d.contains("RSSMRA"), "{d}");
        let e = serde_json::from_str::<T>(r#"{}"#).unwrap_err();
        assert!(describe_json_error(&e).contains("missing field `n`"));
    }
}
