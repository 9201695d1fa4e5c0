//! The `/v1` endpoints: thin adapters that read the request, check the
//! signature and the idempotency key, and apply it to the state in one lock.
//! In front of them, [`pipeline`] fires injected faults and logs requests.

use std::sync::Arc;

use axum::body::{to_bytes, Body};
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, Request, State as AxState};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;
use tokio::sync::Notify;

use super::auth;
use super::faults::{self, Fault};
use super::state::{format_time, Answer, State};
use super::{control, LoggedRequest, MockBackend};

/// Bodies larger than this are refused: nothing in the API comes close.
const MAX_BODY_BYTES: usize = 1 << 20;

impl IntoResponse for Answer {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = (status, Json(self.body)).into_response();
        if let Some(secs) = self.retry_after_secs {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

/// Put in every request's extensions by the accept loop: notifying it makes
/// the connection task drop the connection without an answer.
#[derive(Clone)]
pub(crate) struct ConnectionAbort(pub Arc<Notify>);

pub(crate) fn router(backend: MockBackend) -> Router {
    Router::new()
        .route("/v1/health", get(health))
        .route("/v1/terminals/enroll", post(enroll))
        .route("/v1/keys", get(keys))
        .route("/v1/payment-codes/{code}", get(payment_code))
        .route("/v1/payers/lookup", post(payers_lookup))
        .route("/v1/recharges", post(recharges))
        .route("/v1/notices/verify", post(notice_verify))
        .route("/v1/notices/activate", post(notice_activate))
        .route("/v1/notices/outcome", post(notice_outcome))
        .route("/v1/closures", post(closures))
        .merge(control::router())
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(
            backend.clone(),
            pipeline,
        ))
        .with_state(backend)
}

/// Faults and the request log, around every `/v1` request (the `/_mock`
/// control routes pass straight through).
async fn pipeline(AxState(b): AxState<MockBackend>, req: Request, next: Next) -> Response {
    let path = req.uri().path().to_string();
    if path.starts_with("/_mock") {
        return next.run(req).await;
    }
    let method = req.method().to_string();
    let target = auth::path_and_query(req.uri()).to_string();
    let idempotency_key = req
        .headers()
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let log = |status: u16| {
        tracing::info!(%method, path = %path, status, "mock backend request");
        b.lock().request_log.push(LoggedRequest {
            method: method.clone(),
            path: target.clone(),
            status,
            idempotency_key: idempotency_key.clone(),
        });
    };
    let fault = faults::take(&mut b.lock().faults, &path, idempotency_key.as_deref());
    let mut response = match fault {
        None => next.run(req).await,
        Some(Fault::Status {
            status,
            code,
            retry_after_secs,
        }) => {
            let mut answer = Answer::error(status, &code, "injected fault");
            answer.retry_after_secs = retry_after_secs;
            answer.into_response()
        }
        Some(Fault::ClockSkew) => Answer::error(
            401,
            "clock_skew",
            "X-Timestamp is more than 300 s away from the server clock",
        )
        .into_response(),
        Some(Fault::Delay(d)) => {
            tokio::time::sleep(d).await;
            next.run(req).await
        }
        Some(Fault::ApplyThenHang(d)) => {
            let response = next.run(req).await;
            // Logged now: the client will likely give up (and close) first.
            log(response.status().as_u16());
            tokio::time::sleep(d).await;
            return response;
        }
        Some(Fault::ApplyThenGarbage) => {
            let response = next.run(req).await;
            let status = response.status();
            let mut garbled = Response::new(Body::from("<html>Service OK</html>"));
            *garbled.status_mut() = status;
            garbled
        }
        Some(Fault::ConnectionReset) => {
            log(0);
            if let Some(abort) = req.extensions().get::<ConnectionAbort>().cloned() {
                abort.0.notify_one();
                // The connection task drops this future with the connection.
                std::future::pending::<()>().await;
            }
            // Only reached when the router runs outside our accept loop.
            return Answer::error(500, "connection_reset", "injected connection reset")
                .into_response();
        }
    };
    if response.status() == StatusCode::METHOD_NOT_ALLOWED {
        response = Answer::error(405, "method_not_allowed", "method not allowed").into_response();
    }
    log(response.status().as_u16());
    response
}

async fn read_body(body: Body) -> Result<axum::body::Bytes, Answer> {
    to_bytes(body, MAX_BODY_BYTES)
        .await
        .map_err(|e| Answer::bad_request(format!("cannot read the body: {e}")))
}

/// Whether an endpoint changes state, and so needs an `Idempotency-Key`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Idempotency {
    NotUsed,
    Required,
}

/// What a signed request gives its endpoint: who sent it, under which key,
/// and the raw body.
struct Call<'a> {
    terminal_id: &'a str,
    /// The `Idempotency-Key`, trimmed; empty for endpoints that use none.
    key: &'a str,
    body: &'a [u8],
}

/// Authenticates, then applies `f` (once per idempotency key when
/// `Required`). Endpoints whose key names an item (recharges, notice steps)
/// read it from [`Call::key`].
async fn signed(
    b: &MockBackend,
    req: Request,
    idempotency: Idempotency,
    f: impl FnOnce(&mut State, Call<'_>) -> Answer,
) -> Answer {
    let (parts, body) = req.into_parts();
    let body = match read_body(body).await {
        Ok(b) => b,
        Err(a) => return a,
    };
    let mut st = b.lock();
    let now = st.now();
    let terminal_id = match auth::verify(
        &st.terminals,
        &parts.method,
        &parts.uri,
        &parts.headers,
        &body,
        now,
    ) {
        Ok(t) => t,
        Err(a) => return a,
    };
    if idempotency == Idempotency::NotUsed {
        let call = Call {
            terminal_id: &terminal_id,
            key: "",
            body: &body,
        };
        return f(&mut st, call);
    }
    let key = parts
        .headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|k| !k.is_empty());
    let Some(key) = key else {
        return Answer::bad_request("missing Idempotency-Key header");
    };
    st.idempotent(
        &terminal_id,
        key,
        parts.method.as_str(),
        parts.uri.path(),
        &body,
        |st| {
            let call = Call {
                terminal_id: &terminal_id,
                key,
                body: &body,
            };
            f(st, call)
        },
    )
}

async fn health(AxState(b): AxState<MockBackend>) -> Answer {
    let now = b.lock().now();
    Answer::ok(json!({"status": "ok", "time": format_time(now)}))
}

async fn enroll(AxState(b): AxState<MockBackend>, req: Request) -> Answer {
    match read_body(req.into_body()).await {
        Ok(body) => b.lock().enroll(&body),
        Err(a) => a,
    }
}

async fn keys(AxState(b): AxState<MockBackend>, req: Request) -> Answer {
    signed(&b, req, Idempotency::NotUsed, |st, _| st.keys()).await
}

async fn payment_code(
    AxState(b): AxState<MockBackend>,
    code: Result<Path<String>, PathRejection>,
    req: Request,
) -> Answer {
    let code = match code {
        Ok(Path(c)) => c,
        Err(e) => return Answer::bad_request(format!("bad code in path: {e}")),
    };
    signed(&b, req, Idempotency::NotUsed, |st, _| {
        st.payment_code(&code)
    })
    .await
}

async fn payers_lookup(AxState(b): AxState<MockBackend>, req: Request) -> Answer {
    signed(&b, req, Idempotency::NotUsed, |st, c| {
        st.payers_lookup(c.body)
    })
    .await
}

async fn recharges(AxState(b): AxState<MockBackend>, req: Request) -> Answer {
    signed(&b, req, Idempotency::Required, |st, c| {
        st.recharge(c.terminal_id, c.key, c.body)
    })
    .await
}

async fn notice_verify(AxState(b): AxState<MockBackend>, req: Request) -> Answer {
    signed(&b, req, Idempotency::NotUsed, |st, c| {
        st.notice_verify(c.body)
    })
    .await
}

async fn notice_activate(AxState(b): AxState<MockBackend>, req: Request) -> Answer {
    signed(&b, req, Idempotency::Required, |st, c| {
        st.notice_activate(c.key, c.body)
    })
    .await
}

async fn notice_outcome(AxState(b): AxState<MockBackend>, req: Request) -> Answer {
    signed(&b, req, Idempotency::Required, |st, c| {
        st.notice_outcome(c.terminal_id, c.key, c.body)
    })
    .await
}

async fn closures(AxState(b): AxState<MockBackend>, req: Request) -> Answer {
    signed(&b, req, Idempotency::Required, |st, c| {
        st.closure(c.terminal_id, c.body)
    })
    .await
}

async fn not_found() -> Answer {
    Answer::error(404, "not_found", "no such endpoint")
}
