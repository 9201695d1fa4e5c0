//! Unsigned `/_mock/...` routes, so that the binary and the sandbox can be
//! driven with curl the way tests drive [`MockBackend`] in-process:
//!
//! ```text
//! GET    /_mock/state                      everything the inspection methods return
//! POST   /_mock/faults                     {"route": "/v1/recharges", "times": 1,
//!                                           "fault": {"kind": "connection_reset"}}
//! DELETE /_mock/faults
//! POST   /_mock/clock                      {"offset_secs": -600}
//! POST   /_mock/forget-idempotency-keys
//! POST   /_mock/expire-payment-tokens
//! POST   /_mock/revoke                     {"code": "4001000000186"}
//! POST   /_mock/terminals                  {"terminal_id": "T-000900", "secret": "<base64 of 32 bytes>"}
//! ```

use axum::extract::rejection::JsonRejection;
use axum::extract::{Json, State as AxState};
use axum::routing::{get, post};
use axum::Router;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde::Deserialize;
use serde_json::{json, Value};

use super::faults::{Fault, FaultSpec, Route};
use super::state::Answer;
use super::MockBackend;

pub(crate) fn router() -> Router<MockBackend> {
    Router::new()
        .route("/_mock/state", get(state))
        .route("/_mock/faults", post(add_fault).delete(clear_faults))
        .route("/_mock/clock", post(clock))
        .route("/_mock/forget-idempotency-keys", post(forget_keys))
        .route("/_mock/expire-payment-tokens", post(expire_tokens))
        .route("/_mock/revoke", post(revoke))
        .route("/_mock/terminals", post(register))
}

fn json_body<T>(body: Result<Json<T>, JsonRejection>) -> Result<T, Answer> {
    body.map(|Json(t)| t)
        .map_err(|e| Answer::bad_request(e.body_text()))
}

async fn state(AxState(b): AxState<MockBackend>) -> Answer {
    Answer::ok(b.state_json())
}

#[derive(Deserialize)]
struct AddFault {
    #[serde(default)]
    route: Option<String>,
    /// One entry's requests only (its `Idempotency-Key`); wins over `route`.
    #[serde(default)]
    key: Option<String>,
    #[serde(default = "one")]
    times: u32,
    fault: FaultSpec,
}

fn one() -> u32 {
    1
}

async fn add_fault(
    AxState(b): AxState<MockBackend>,
    body: Result<Json<AddFault>, JsonRejection>,
) -> Answer {
    let req = match json_body(body) {
        Ok(r) => r,
        Err(a) => return a,
    };
    let fault = match Fault::try_from(req.fault) {
        Ok(f) => f,
        Err(e) => return Answer::bad_request(e.to_string()),
    };
    let route = match req.key {
        Some(k) => Route::Key(k),
        None => req.route.as_deref().map_or(Route::Any, Route::from),
    };
    b.inject(route, fault, req.times);
    Answer::created(json!({"status": "injected"}))
}

async fn clear_faults(AxState(b): AxState<MockBackend>) -> Answer {
    b.clear_faults();
    Answer::ok(json!({"status": "cleared"}))
}

#[derive(Deserialize)]
struct Clock {
    offset_secs: i64,
}

async fn clock(
    AxState(b): AxState<MockBackend>,
    body: Result<Json<Clock>, JsonRejection>,
) -> Answer {
    match json_body(body) {
        Ok(c) => {
            b.set_clock_offset_secs(c.offset_secs);
            Answer::ok(json!({"offset_secs": c.offset_secs}))
        }
        Err(a) => a,
    }
}

async fn forget_keys(AxState(b): AxState<MockBackend>) -> Answer {
    b.forget_idempotency_keys();
    Answer::ok(json!({"status": "forgotten"}))
}

async fn expire_tokens(AxState(b): AxState<MockBackend>) -> Answer {
    b.expire_payment_tokens();
    Answer::ok(json!({"status": "expired"}))
}

#[derive(Deserialize)]
struct Revoke {
    code: String,
}

async fn revoke(
    AxState(b): AxState<MockBackend>,
    body: Result<Json<Revoke>, JsonRejection>,
) -> Answer {
    match json_body(body) {
        Ok(r) if b.revoke_code(&r.code) => Answer::ok(json!({"status": "revoked"})),
        Ok(_) => Answer::error(404, "unknown_code", "unknown payment code"),
        Err(a) => a,
    }
}

#[derive(Deserialize)]
struct Register {
    terminal_id: String,
    secret: String,
}

async fn register(
    AxState(b): AxState<MockBackend>,
    body: Result<Json<Register>, JsonRejection>,
) -> Answer {
    let req = match json_body(body) {
        Ok(r) => r,
        Err(a) => return a,
    };
    let secret: Option<[u8; 32]> = STANDARD
        .decode(req.secret.trim())
        .ok()
        .and_then(|v| v.try_into().ok());
    match secret {
        Some(s) => {
            b.register_terminal(&req.terminal_id, s);
            Answer::created(json!({"terminal_id": req.terminal_id}))
        }
        None => Answer::bad_request("secret must be the base64 of 32 bytes"),
    }
}

/// Used by `state_json` to show pending faults.
pub(crate) fn fault_json(route: &Route, fault: &Fault, remaining: u32) -> Value {
    match route {
        Route::Key(k) => json!({"key": k, "times": remaining, "fault": FaultSpec::from(fault)}),
        Route::Any | Route::Prefix(_) => json!({
            "route": match route { Route::Prefix(p) => p.clone(), _ => "*".to_string() },
            "times": remaining,
            "fault": FaultSpec::from(fault),
        }),
    }
}
