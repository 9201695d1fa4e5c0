//! Fault injection: what a test makes the backend do wrong, and where.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::Error;

/// Something the backend does instead of (or on top of) answering normally.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Answer this error without applying the request. `code` goes in the
    /// error body; `retry_after_secs` becomes a `Retry-After` header. A status
    /// outside 100..=599 is answered as 500.
    Status {
        /// The HTTP status answered (503, 429, 422, ...).
        status: u16,
        /// The `error.code` answered, e.g. `unavailable`.
        code: String,
        /// Seconds for `Retry-After`, to test that the client honours it.
        retry_after_secs: Option<u64>,
    },
    /// Wait, then handle the request normally (a slow backend).
    Delay(Duration),
    /// Apply the request, then wait before answering: a client timeout fires
    /// after the server applied it (the case idempotency keys exist for).
    ApplyThenHang(Duration),
    /// Close the TCP connection without answering and without applying.
    ConnectionReset,
    /// Answer 401 `clock_skew` without applying.
    ClockSkew,
    /// Apply the request, then answer its status with a body that is not
    /// JSON (a proxy or a server bug garbling a success).
    ApplyThenGarbage,
}

impl Fault {
    /// Shorthand for a transient 503 `unavailable`.
    pub fn unavailable() -> Fault {
        Fault::Status {
            status: 503,
            code: "unavailable".into(),
            retry_after_secs: None,
        }
    }
}

/// Which requests a fault applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// Every `/v1/...` request.
    Any,
    /// Requests whose path starts with this prefix, e.g. `/v1/recharges`.
    Prefix(String),
    /// Requests carrying exactly this `Idempotency-Key` (one outbox entry):
    /// with items, one item's request, e.g. `<tx>:2` for item 2's recharge.
    Key(String),
}

impl Route {
    /// `Route::Prefix` from anything string-like.
    pub fn prefix(prefix: impl Into<String>) -> Route {
        Route::Prefix(prefix.into())
    }

    /// True when a request to `path` (without the query) carrying
    /// `idempotency_key` is concerned.
    pub fn matches(&self, path: &str, idempotency_key: Option<&str>) -> bool {
        match self {
            Route::Any => true,
            Route::Prefix(p) => path.starts_with(p.as_str()),
            Route::Key(k) => idempotency_key == Some(k.as_str()),
        }
    }
}

impl From<&str> for Route {
    /// `"*"` and `""` mean [`Route::Any`], anything else is a prefix.
    fn from(s: &str) -> Route {
        match s {
            "" | "*" => Route::Any,
            p => Route::Prefix(p.to_string()),
        }
    }
}

/// A fault waiting to fire `remaining` more times.
#[derive(Debug, Clone)]
pub(crate) struct FaultRule {
    pub route: Route,
    pub fault: Fault,
    pub remaining: u32,
}

/// JSON form of a fault, for `POST /_mock/faults` and `GET /_mock/state`:
///
/// ```text
/// {"route": "/v1/recharges", "times": 2, "fault": {"kind": "status", "status": 503,
///                                                   "code": "unavailable", "retry_after_secs": 1}}
/// {"fault": {"kind": "delay", "ms": 1500}}            route defaults to "*", times to 1
/// {"fault": {"kind": "apply_then_hang", "ms": 5000}}
/// {"fault": {"kind": "connection_reset"}}
/// {"fault": {"kind": "clock_skew"}}
/// {"fault": {"kind": "apply_then_garbage"}}
/// {"key": "<idempotency key>", "fault": {...}}       one entry's requests only
/// ```
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(crate) enum FaultSpec {
    Status {
        status: u16,
        #[serde(default = "default_code")]
        code: String,
        #[serde(default)]
        retry_after_secs: Option<u64>,
    },
    Delay {
        ms: u64,
    },
    ApplyThenHang {
        ms: u64,
    },
    ConnectionReset,
    ClockSkew,
    ApplyThenGarbage,
}

fn default_code() -> String {
    "injected_fault".into()
}

impl TryFrom<FaultSpec> for Fault {
    type Error = Error;

    fn try_from(spec: FaultSpec) -> Result<Fault, Error> {
        Ok(match spec {
            FaultSpec::Status {
                status,
                code,
                retry_after_secs,
            } => {
                if !(100..=599).contains(&status) {
                    return Err(Error::InvalidFault(format!(
                        "status {status} is not an HTTP status"
                    )));
                }
                Fault::Status {
                    status,
                    code,
                    retry_after_secs,
                }
            }
            FaultSpec::Delay { ms } => Fault::Delay(Duration::from_millis(ms)),
            FaultSpec::ApplyThenHang { ms } => Fault::ApplyThenHang(Duration::from_millis(ms)),
            FaultSpec::ConnectionReset => Fault::ConnectionReset,
            FaultSpec::ClockSkew => Fault::ClockSkew,
            FaultSpec::ApplyThenGarbage => Fault::ApplyThenGarbage,
        })
    }
}

impl From<&Fault> for FaultSpec {
    fn from(f: &Fault) -> FaultSpec {
        let ms = |d: &Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        match f {
            Fault::Status {
                status,
                code,
                retry_after_secs,
            } => FaultSpec::Status {
                status: *status,
                code: code.clone(),
                retry_after_secs: *retry_after_secs,
            },
            Fault::Delay(d) => FaultSpec::Delay { ms: ms(d) },
            Fault::ApplyThenHang(d) => FaultSpec::ApplyThenHang { ms: ms(d) },
            Fault::ConnectionReset => FaultSpec::ConnectionReset,
            Fault::ClockSkew => FaultSpec::ClockSkew,
            Fault::ApplyThenGarbage => FaultSpec::ApplyThenGarbage,
        }
    }
}

/// Takes one shot of the first rule that matches `path`, dropping rules that
/// are used up.
pub(crate) fn take(
    rules: &mut Vec<FaultRule>,
    path: &str,
    idempotency_key: Option<&str>,
) -> Option<Fault> {
    let i = rules
        .iter()
        .position(|r| r.remaining > 0 && r.route.matches(path, idempotency_key))?;
    let fault = rules[i].fault.clone();
    rules[i].remaining -= 1;
    if rules[i].remaining == 0 {
        rules.remove(i);
    }
    Some(fault)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_fire_the_given_number_of_times_on_matching_paths() {
        let mut rules = vec![FaultRule {
            route: Route::prefix("/v1/recharges"),
            fault: Fault::ClockSkew,
            remaining: 2,
        }];
        assert_eq!(take(&mut rules, "/v1/keys", None), None);
        assert_eq!(
            take(&mut rules, "/v1/recharges", None),
            Some(Fault::ClockSkew)
        );
        assert_eq!(
            take(&mut rules, "/v1/recharges", None),
            Some(Fault::ClockSkew)
        );
        assert_eq!(take(&mut rules, "/v1/recharges", None), None);
        assert!(rules.is_empty());
    }

    #[test]
    fn spec_parses_and_rejects_bad_status() {
        let spec: FaultSpec =
            serde_json::from_str(r#"{"kind":"status","status":503,"retry_after_secs":2}"#)
                .expect("valid spec");
        assert_eq!(
            Fault::try_from(spec).expect("valid fault"),
            Fault::Status {
                status: 503,
                code: "injected_fault".into(),
                retry_after_secs: Some(2)
            }
        );
        let spec: FaultSpec =
            serde_json::from_str(r#"{"kind":"status","status":1000}"#).expect("parses");
        assert!(Fault::try_from(spec).is_err());
        let spec: FaultSpec =
            serde_json::from_str(r#"{"kind":"apply_then_hang","ms":250}"#).expect("parses");
        assert_eq!(
            Fault::try_from(spec).expect("valid"),
            Fault::ApplyThenHang(Duration::from_millis(250))
        );
        assert_eq!(Route::from("*"), Route::Any);
    }
}
