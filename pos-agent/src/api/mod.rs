//! The local HTTP API of agent-api.md and the console page. Each handler is
//! a thin adapter: parse, call the counter, answer. All state lives in
//! [`Agent`].
//!
//! This file holds the router, the extractors every handler shares
//! ([`Operator`], [`Session`], the JSON body), the error-to-response
//! mapping and the middleware (JSON errors, the browser guard, requests
//! that run to their end); one file per resource holds the handlers:
//! `console.rs`, `login.rs`, `status.rs` (status and events),
//! `transactions.rs`, `receipts.rs`, `day.rs`, `scans.rs`. `error.rs` is
//! `ApiError`, the API's error body, and the one place that turns a
//! `CounterError` into a status, a code and an Italian message.

mod console;
mod day;
pub mod error;
mod login;
mod receipts;
mod scans;
mod status;
mod transactions;

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::de::DeserializeOwned;

use crate::agent::Agent;
use error::ApiError;

use console::{console, console_css, console_js};
use day::day_close;
use login::{login, logout};
use receipts::{receipt_copy_pdf, reprint};
use scans::scan;
use status::{events, status};
use transactions::{
    add_item, amount, choose, create, get_tx, list, pay, pre_receipt, remove_item, void,
};

type AppState = Arc<Agent>;

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (status, Json(self.to_json())).into_response()
    }
}

/// Parse a JSON body into `T`, or a 400 that names what is wrong.
fn parse_body<T: DeserializeOwned>(body: &Bytes) -> Result<T, ApiError> {
    if body.is_empty() {
        return Err(ApiError::bad_request(
            "Richiesta non valida: manca il corpo JSON (request body is empty)",
        ));
    }
    serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request(format!("Richiesta non valida (invalid JSON body): {e}"))
    })
}

/// The bearer token of a request: the `Authorization` header, or, for the
/// events stream only, `?access_token=` (EventSource cannot send headers).
fn bearer_token(parts: &Parts) -> Option<String> {
    let from_header = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_string);
    let from_query = || {
        if parts.uri.path() != "/api/v1/events" {
            return None;
        }
        parts.uri.query().and_then(|q| {
            q.split('&')
                .find_map(|kv| kv.strip_prefix("access_token="))
                .map(str::to_string)
        })
    };
    from_header.or_else(from_query)
}

/// The logged-in operator behind the bearer token.
pub struct Operator(pub String);

impl FromRequestParts<AppState> for Operator {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(Operator(
            Session::from_request_parts(parts, state).await?.operator,
        ))
    }
}

/// A logged-in session: the operator and the token it goes by.
pub struct Session {
    pub operator: String,
    pub token: String,
}

impl FromRequestParts<AppState> for Session {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = bearer_token(parts).ok_or_else(|| {
            ApiError::new(
                401,
                "unauthorized",
                "Accesso richiesto: inserire operatore e PIN.",
            )
        })?;
        let operator = state.sessions.check(&token).ok_or_else(|| {
            ApiError::new(
                401,
                "unauthorized",
                "Sessione scaduta o non valida: accedere di nuovo con il PIN.",
            )
        })?;
        Ok(Session { operator, token })
    }
}

pub fn router(agent: Arc<Agent>) -> Router {
    Router::new()
        .route("/", get(console))
        .route("/console/console.css", get(console_css))
        .route("/console/console.js", get(console_js))
        .route("/api/v1/login", post(login))
        .route("/api/v1/logout", post(logout))
        .route("/api/v1/status", get(status))
        .route("/api/v1/events", get(events))
        .route("/api/v1/transactions", post(create).get(list))
        .route("/api/v1/transactions/{id}", get(get_tx))
        .route("/api/v1/transactions/{id}/items", post(add_item))
        .route(
            "/api/v1/transactions/{id}/items/{n}/remove",
            post(remove_item),
        )
        .route("/api/v1/transactions/{id}/choose", post(choose))
        .route("/api/v1/transactions/{id}/amount", post(amount))
        .route("/api/v1/transactions/{id}/pre-receipt", post(pre_receipt))
        .route(
            "/api/v1/transactions/{id}/pay",
            post(pay).layer(axum::middleware::from_fn_with_state(
                agent.clone(),
                to_the_end,
            )),
        )
        .route("/api/v1/transactions/{id}/void", post(void))
        .route("/api/v1/receipts/{receipt}/reprint", post(reprint))
        .route("/api/v1/receipts/{receipt}/copy.pdf", get(receipt_copy_pdf))
        .route(
            "/api/v1/day/close",
            post(day_close).layer(axum::middleware::from_fn_with_state(
                agent.clone(),
                to_the_end,
            )),
        )
        .route("/api/v1/scans", post(scan))
        .fallback(|| async { ApiError::not_found("Risorsa") })
        .layer(axum::middleware::from_fn(json_errors))
        .layer(axum::middleware::from_fn_with_state(
            agent.clone(),
            browser_guard,
        ))
        .with_state(agent)
}

/// A call whose commit must be followed by other work (`pay`, `day/close`)
/// runs on a task of its own from the moment it is received: when the client
/// goes away, axum drops the request's future, but the call still runs to
/// its end, extractors, counter lock, commit, drawer, receipt and outbox
/// included. The task is the agent's (`Agent::to_the_end`): the runtime's
/// shutdown waits for it.
async fn to_the_end(
    State(agent): State<Arc<Agent>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    match agent.to_the_end.spawn(next.run(req)).await {
        Ok(response) => response,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(_) => ApiError::internal("the agent is stopping").into_response(),
    }
}

/// Every error of the API is JSON shaped as agent-api.md says, including
/// the ones axum answers by itself (a bad path segment, a wrong method, a
/// body over the size limit), which are plain text otherwise.
async fn json_errors(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let response = next.run(req).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let text = axum::body::to_bytes(response.into_body(), 4096)
        .await
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    let code = match status.as_u16() {
        400 | 422 => "bad_request",
        401 => "unauthorized",
        404 => "not_found",
        405 => "method_not_allowed",
        413 => "payload_too_large",
        415 => "unsupported_media_type",
        _ => "internal_error",
    };
    let message = if text.trim().is_empty() {
        format!("Richiesta non valida ({status})")
    } else {
        format!("Richiesta non valida: {}", text.trim())
    };
    let mut e = ApiError::new(status.as_u16(), code, message);
    if status.as_u16() == 422 {
        // axum's own 422 is a body that does not fit; the API says 400.
        e.status = 400;
    }
    e.into_response()
}

/// Keeps other web pages open on the counter PC away from the API:
/// - a POST must carry JSON (`Content-Type: application/json`) or nothing:
///   a page can send a form or `text/plain` cross-origin without asking,
///   never JSON, so it cannot, say, lock every operator with wrong PINs;
/// - on a loopback listen address, the `Host` must be loopback too, so a
///   DNS-rebinding page cannot read the answers.
async fn browser_guard(
    State(agent): State<AppState>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    if req.method() == axum::http::Method::POST {
        let content_type = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok());
        let has_body = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v != "0")
            || req.headers().contains_key(header::TRANSFER_ENCODING);
        let json = content_type.is_some_and(|ct| {
            ct.split(';')
                .next()
                .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
        });
        if (content_type.is_some() || has_body) && !json {
            return ApiError::new(
                415,
                "unsupported_media_type",
                "Richiesta non valida: il corpo deve essere JSON (Content-Type: application/json).",
            )
            .into_response();
        }
    }
    if agent.config.api.listen.ip().is_loopback() {
        let host = req
            .headers()
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let name = match host.rsplit_once(':') {
            Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
            _ => host,
        };
        let name = name.trim_start_matches('[').trim_end_matches(']');
        let loopback = name.eq_ignore_ascii_case("localhost")
            || name
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback());
        if !host.is_empty() && !loopback {
            return ApiError::new(
                403,
                "forbidden_host",
                "Accesso consentito solo da questo computer (http://127.0.0.1).",
            )
            .into_response();
        }
    }
    next.run(req).await
}
