//! Helpers shared by the integration tests: an axum server that records
//! what it saw and answers what the test says, and sample bodies.
#![allow(dead_code)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use hmac::{Hmac, Mac};
use pos_backend::*;
use serde_json::json;
use sha2::{Digest, Sha256};
use time::macros::datetime;
use time::OffsetDateTime;

pub const SECRET_BYTES: [u8; 32] = *b"s3cr3t-bytes-for-tests-0123456xy";

/// What the server saw of one request.
#[derive(Clone, Debug)]
pub struct Seen {
    pub method: String,
    /// Request target as received: path (still percent-encoded) and query.
    pub target: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// What the server answers.
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: String,
    pub delay: Duration,
}

impl Reply {
    pub fn json(status: u16, body: serde_json::Value) -> Reply {
        Reply {
            status,
            headers: vec![("content-type", "application/json".into())],
            body: body.to_string(),
            delay: Duration::ZERO,
        }
    }

    pub fn error(status: u16, code: &str) -> Reply {
        Reply::json(
            status,
            json!({"error": {"code": code, "message": "messaggio", "retryable": false}}),
        )
    }
}

pub type Responder = Arc<dyn Fn(&Seen) -> Reply + Send + Sync>;

#[derive(Clone)]
struct Srv {
    seen: Arc<Mutex<Vec<Seen>>>,
    responder: Responder,
}

async fn handler(State(srv): State<Srv>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let seen = Seen {
        method: parts.method.to_string(),
        target: parts
            .uri
            .path_and_query()
            .map(|p| p.as_str().to_string())
            .unwrap_or_default(),
        headers: parts.headers,
        body,
    };
    srv.seen.lock().unwrap().push(seen.clone());
    let reply = (srv.responder)(&seen);
    if !reply.delay.is_zero() {
        tokio::time::sleep(reply.delay).await;
    }
    let mut resp = (StatusCode::from_u16(reply.status).unwrap(), reply.body).into_response();
    for (k, v) in reply.headers {
        resp.headers_mut().insert(k, v.parse().unwrap());
    }
    resp
}

/// Starts a server on a free loopback port; returns its origin
/// (`http://127.0.0.1:PORT`) and the log of requests it saw.
pub async fn serve(
    responder: impl Fn(&Seen) -> Reply + Send + Sync + 'static,
) -> (String, Arc<Mutex<Vec<Seen>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let srv = Srv {
        seen: seen.clone(),
        responder: Arc::new(responder),
    };
    let app = Router::new().fallback(handler).with_state(srv);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}"), seen)
}

pub fn credentials() -> Credentials {
    Credentials {
        terminal_id: "T-000123".into(),
        secret: Secret::from_bytes(SECRET_BYTES),
    }
}

pub fn client_with_timeout(base_url: &str, timeout: Duration) -> BackendClient {
    BackendClient::new(ClientOptions {
        base_url: base_url.into(),
        timeout,
        ca_file: None,
        user_agent: "pos-agent/test".into(),
    })
    .unwrap()
    .with_credentials(credentials())
}

pub fn client(base_url: &str) -> BackendClient {
    client_with_timeout(base_url, Duration::from_secs(5))
}

pub fn header<'a>(seen: &'a Seen, name: &str) -> Option<&'a str> {
    seen.headers.get(name).and_then(|v| v.to_str().ok())
}

/// Server-side check, computed independently of the crate's `sign`.
pub fn assert_signed(seen: &Seen) {
    assert_eq!(header(seen, "x-terminal-id"), Some("T-000123"));
    let ts = header(seen, "x-timestamp").expect("x-timestamp");
    assert_eq!(ts.len(), 20, "{ts}");
    assert!(ts.ends_with('Z') && !ts.contains('.'), "{ts}");
    let at = OffsetDateTime::parse(ts, &time::format_description::well_known::Rfc3339).unwrap();
    assert!((OffsetDateTime::now_utc() - at).whole_seconds().abs() <= 5);
    let sts = format!(
        "{}\n{}\n{}\n{}",
        seen.method,
        seen.target,
        ts,
        hex::encode(Sha256::digest(&seen.body))
    );
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&SECRET_BYTES).unwrap();
    mac.update(sts.as_bytes());
    let expected = format!("v1={}", hex::encode(mac.finalize().into_bytes()));
    assert_eq!(header(seen, "x-signature"), Some(expected.as_str()));
}

pub fn payment_code_json(code: &str) -> serde_json::Value {
    json!({"code": code, "status": "active",
        "service": {"id": "mensa", "name": "Refezione scolastica"},
        "creditor": {"fiscal_code": "00514490010", "name": "Comune di Balangero"},
        "consumer": {"ref": "c_8f3a9b21", "display_name": "M*** R***", "school": "Primaria G. Rodari"},
        "balance_cents": 1250,
        "limits": {"min_cents": 500, "max_cents": 30000},
        "new_field": true})
}

pub fn recharge_request() -> RechargeRequest {
    RechargeRequest {
        transaction_id: "0b7c1d2e-0000-4000-8000-00000000002a".into(),
        item: 1,
        code: "1234567890123".into(),
        service_id: "mensa".into(),
        consumer_ref: "c_8f3a9b21".into(),
        creditor_fiscal_code: "00514490010".into(),
        amount_cents: 2000,
        fee_cents: 0,
        paid_at: datetime!(2026-11-22 10:16:03 UTC),
        receipt_number: "T-000123/2026/000042".into(),
        operator_id: "op1".into(),
        offline: false,
    }
}
