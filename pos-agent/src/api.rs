//! The local HTTP API of agent-api.md and the console page. Each handler is
//! a thin adapter: parse, call the counter, answer. All state lives in
//! [`Agent`].

use std::convert::Infallible;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures::{Stream, StreamExt};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};
use tokio_stream::wrappers::BroadcastStream;

use crate::agent::Agent;
use crate::auth::LoginOutcome;
use crate::counter::CreateInput;
use crate::error::ApiError;
use crate::time_fmt::rfc3339;

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
        .route("/api/v1/transactions/{id}/choose", post(choose))
        .route("/api/v1/transactions/{id}/amount", post(amount))
        .route("/api/v1/transactions/{id}/pre-receipt", post(pre_receipt))
        .route(
            "/api/v1/transactions/{id}/pay",
            post(pay).layer(axum::middleware::from_fn(to_the_end)),
        )
        .route("/api/v1/transactions/{id}/void", post(void))
        .route("/api/v1/receipts/{receipt}/reprint", post(reprint))
        .route("/api/v1/receipts/{receipt}/copy.pdf", get(receipt_copy_pdf))
        .route(
            "/api/v1/day/close",
            post(day_close).layer(axum::middleware::from_fn(to_the_end)),
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
/// included.
async fn to_the_end(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    match tokio::spawn(next.run(req)).await {
        Ok(response) => response,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(_) => ApiError::internal("the agent is stopping").into_response(),
    }
}

/// The console's assets are embedded in the binary: no CDN, no build step,
/// nothing to install beside the agent. `no-store` so that an upgraded agent
/// never runs with a cached script of the previous version; the CSP keeps
/// the page from loading anything that is not served by the agent.
fn console_asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-store"),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
            ),
        ],
        body,
    )
        .into_response()
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

async fn console() -> Response {
    console_asset(
        "text/html; charset=utf-8",
        include_str!("console/index.html"),
    )
}

async fn console_css() -> Response {
    console_asset(
        "text/css; charset=utf-8",
        include_str!("console/console.css"),
    )
}

async fn console_js() -> Response {
    console_asset(
        "text/javascript; charset=utf-8",
        include_str!("console/console.js"),
    )
}

#[derive(Deserialize)]
struct LoginBody {
    operator: String,
    pin: String,
}

async fn login(State(agent): State<AppState>, body: Bytes) -> Result<Json<Value>, ApiError> {
    let b: LoginBody = parse_body(&body)?;
    let lockout = time::Duration::minutes(i64::from(agent.config.security.lockout_minutes));
    // Logins one at a time, so parallel guesses cannot slip past the count;
    // the slow hash check runs without holding the store, so a login never
    // delays a payment.
    let _one_login = agent.login_lock.lock().await;
    let op = b.operator.clone();
    let Some(row) = agent.db(move |s| s.operator(&op)).await? else {
        return Err(ApiError::new(
            401,
            "unauthorized",
            "Operatore sconosciuto: controllare il nome.",
        ));
    };
    let now = time::OffsetDateTime::now_utc();
    let outcome = if let Some(until) = crate::auth::locked(&row, now) {
        LoginOutcome::Locked { until }
    } else {
        let (pin, hash) = (b.pin, row.pin_hash.clone());
        let pin_ok = tokio::task::spawn_blocking(move || crate::auth::verify_pin(&pin, &hash))
            .await
            .unwrap_or(false);
        agent
            .db(move |s| crate::auth::record_login(s, &row, pin_ok, lockout, now))
            .await?
    };
    match outcome {
        LoginOutcome::Ok => {
            let token = agent.sessions.create(&b.operator);
            Ok(Json(json!({"token": token, "operator": b.operator})))
        }
        LoginOutcome::UnknownOperator => Err(ApiError::new(
            401,
            "unauthorized",
            "Operatore sconosciuto: controllare il nome.",
        )),
        LoginOutcome::WrongPin { attempts_left } => Err(ApiError::new(
            401,
            "wrong_pin",
            format!("PIN errato. Tentativi rimasti: {attempts_left}."),
        )
        .with("attempts_left", attempts_left)),
        LoginOutcome::Locked { until } => {
            let local = crate::time_fmt::local(until);
            Err(ApiError::new(
                423,
                "operator_locked",
                format!(
                    "Operatore bloccato per troppi PIN errati fino alle {:02}:{:02}.",
                    local.hour(),
                    local.minute()
                ),
            )
            .with("locked_until", rfc3339(until)))
        }
    }
}

async fn logout(State(agent): State<AppState>, session: Session) -> Json<Value> {
    agent.sessions.remove(&session.token);
    Json(json!({"status": "ok"}))
}

async fn status(State(agent): State<AppState>) -> Result<Json<Value>, ApiError> {
    Ok(Json(agent.status().await?))
}

/// The event stream lives as long as the session that opened it: a logout
/// or the session's idle expiry ends it, so a console left open after its
/// operator went away stops receiving scans and payments.
async fn events(
    State(agent): State<AppState>,
    session: Session,
) -> Sse<impl Stream<Item = Result<SseEvent, Infallible>>> {
    let ended = {
        let agent = agent.clone();
        async move { agent.sessions.ended(&session.token).await }
    };
    let stream = BroadcastStream::new(agent.events.subscribe())
        .filter_map(|e| async move {
            e.ok()
                .map(|e| Ok(SseEvent::default().event(e.name).data(e.data.to_string())))
        })
        .take_until(ended);
    Sse::new(stream).keep_alive(KeepAlive::default())
}

#[derive(Deserialize)]
struct CreateBody {
    input: Option<String>,
    scan_id: Option<String>,
}

async fn create(
    State(agent): State<AppState>,
    Operator(op): Operator,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let b: CreateBody = parse_body(&body)?;
    let input = match (b.input, b.scan_id) {
        (Some(t), None) => CreateInput::Text(t),
        (None, Some(id)) => CreateInput::ScanId(id),
        _ => {
            return Err(ApiError::bad_request(
                "Richiesta non valida: serve esattamente uno tra `input` e `scan_id`",
            ))
        }
    };
    let t = agent.create(&op, input).await?;
    Ok((StatusCode::CREATED, Json(t.to_api())))
}

#[derive(Deserialize)]
struct ListQuery {
    date: Option<String>,
}

/// Days the transaction list can be asked for. Nothing outside is a day of
/// this counter's life, and the bounds keep the day arithmetic (midnight to
/// midnight in the local time zone) far from the calendar's ends.
const LIST_FIRST_YEAR: i32 = 2000;
const LIST_LAST_YEAR: i32 = 2199;

/// `?date=YYYY-MM-DD`, checked: a real calendar day within the years above.
fn list_date(text: &str) -> Result<(), ApiError> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    let day = time::Date::parse(text, format).map_err(|_| {
        ApiError::bad_request(format!(
            "Data non valida: «{}». Usare il formato AAAA-MM-GG, per esempio 2026-11-22 \
             (query parameter `date`).",
            pos_codes::masked_excerpt(text)
        ))
    })?;
    if !(LIST_FIRST_YEAR..=LIST_LAST_YEAR).contains(&day.year()) {
        return Err(ApiError::bad_request(format!(
            "Data fuori intervallo: {text}. Sono ammessi i giorni dal {LIST_FIRST_YEAR}-01-01 \
             al {LIST_LAST_YEAR}-12-31 (query parameter `date`)."
        )));
    }
    Ok(())
}

async fn list(
    State(agent): State<AppState>,
    _op: Operator,
    Query(q): Query<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    if let Some(d) = q.date.as_deref() {
        list_date(d)?;
    }
    let txs = agent.list(q.date.as_deref()).await?;
    Ok(Json(
        json!({"transactions": txs.iter().map(|t| t.to_api()).collect::<Vec<_>>()}),
    ))
}

async fn get_tx(
    State(agent): State<AppState>,
    _op: Operator,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(agent.get(&id).await?.to_api()))
}

#[derive(Deserialize)]
struct ChooseBody {
    code: String,
}

async fn choose(
    State(agent): State<AppState>,
    _op: Operator,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let b: ChooseBody = parse_body(&body)?;
    Ok(Json(agent.choose(&id, &b.code).await?.to_api()))
}

#[derive(Deserialize)]
struct AmountBody {
    amount_cents: i64,
}

async fn amount(
    State(agent): State<AppState>,
    _op: Operator,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let b: AmountBody = parse_body(&body)?;
    Ok(Json(agent.set_amount(&id, b.amount_cents).await?.to_api()))
}

async fn pre_receipt(
    State(agent): State<AppState>,
    _op: Operator,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(agent.pre_receipt(&id).await?.to_api()))
}

#[derive(Deserialize)]
struct PayBody {
    tendered_cents: i64,
}

async fn pay(
    State(agent): State<AppState>,
    _op: Operator,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let b: PayBody = parse_body(&body)?;
    Ok(Json(agent.pay(&id, b.tendered_cents).await?))
}

/// A void's reason is journaled and sent with a notice's `KO`: a sentence,
/// not a document.
const MAX_VOID_REASON_CHARS: usize = 500;

#[derive(Deserialize, Default)]
struct VoidBody {
    reason: Option<String>,
}

async fn void(
    State(agent): State<AppState>,
    _op: Operator,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let b: VoidBody = if body.is_empty() {
        VoidBody::default()
    } else {
        parse_body(&body)?
    };
    if let Some(r) = &b.reason {
        let chars = r.chars().count();
        if chars > MAX_VOID_REASON_CHARS {
            return Err(ApiError::bad_request(format!(
                "Motivo dell'annullamento troppo lungo: {chars} caratteri, al massimo \
                 {MAX_VOID_REASON_CHARS} (field `reason`)."
            )));
        }
    }
    Ok(Json(agent.void(&id, b.reason).await?.to_api()))
}

async fn reprint(
    State(agent): State<AppState>,
    _op: Operator,
    Path(receipt): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(agent.reprint(&receipt).await?.to_api()))
}

/// `GET /api/v1/receipts/{receipt}/copy.pdf`: the copy of `receipt show`
/// (issue 17), for the console's download.
async fn receipt_copy_pdf(
    State(agent): State<AppState>,
    _op: Operator,
    Path(receipt): Path<String>,
) -> Result<Response, ApiError> {
    use crate::printing::receipt_copy::{render, CopyError, Format};
    let header = agent.receipt_header();
    let number = receipt.clone();
    let pdf = agent
        .db(move |s| render(s, &header, &number, Format::Pdf))
        .await
        .map_err(|e| match e {
            CopyError::NotFound(_) => ApiError::not_found("Ricevuta"),
            CopyError::BadNumber(n) => ApiError::bad_request(format!(
                "{n} non è un numero di ricevuta (es. T-000123/2026/000042)."
            )),
            CopyError::Store(e) => e.into(),
            other => {
                tracing::error!(error = %other, "receipt copy");
                ApiError::internal("copia della ricevuta non disponibile")
            }
        })?;
    let file = format!("ricevuta-{}.pdf", receipt.replace('/', "-"));
    Ok((
        [
            (header::CONTENT_TYPE, "application/pdf".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{file}\""),
            ),
        ],
        pdf,
    )
        .into_response())
}

async fn day_close(State(agent): State<AppState>, _op: Operator) -> Result<Json<Value>, ApiError> {
    Ok(Json(agent.close_day().await?))
}

#[derive(Deserialize)]
struct ScanBody {
    input: String,
    #[serde(default)]
    source: Option<String>,
}

/// A keyboard-wedge scanner or a script reporting a read: it becomes a
/// `scan` event with a `scan_id`, exactly like a camera or card-reader read.
async fn scan(
    State(agent): State<AppState>,
    _op: Operator,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let b: ScanBody = parse_body(&body)?;
    let source = match b.source.as_deref() {
        None | Some("scanner") => "scanner",
        Some("camera") => "camera",
        Some("card_reader") => "card_reader",
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "Richiesta non valida: source `{other}` must be scanner, camera or card_reader"
            )))
        }
    };
    let id = agent.record_scan(source, &b.input);
    Ok(Json(json!({"scan_id": id})))
}
