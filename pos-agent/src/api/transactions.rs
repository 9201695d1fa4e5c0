//! `/api/v1/transactions`: create, list, read, add and remove items,
//! choose, amount, pre-receipt, pay, void. Each handler parses, calls the counter, answers.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{parse_body, AppState, Operator};
use crate::api::error::ApiError;
use crate::counter::CreateInput;

#[derive(Deserialize)]
struct CreateBody {
    input: Option<String>,
    scan_id: Option<String>,
}

/// `{"input"}` or `{"scan_id"}`, exactly one: the body of a new transaction
/// and of a new item alike (an item is resolved exactly like the input of a
/// new transaction).
fn create_input(body: &Bytes) -> Result<CreateInput, ApiError> {
    let b: CreateBody = parse_body(body)?;
    match (b.input, b.scan_id) {
        (Some(t), None) => Ok(CreateInput::Text(t)),
        (None, Some(id)) => Ok(CreateInput::ScanId(id)),
        _ => Err(ApiError::bad_request(
            "Richiesta non valida: serve esattamente uno tra `input` e `scan_id`",
        )),
    }
}

pub(super) async fn create(
    State(agent): State<AppState>,
    Operator(op): Operator,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let input = create_input(&body)?;
    let t = agent.create(&op, input).await?;
    Ok((StatusCode::CREATED, Json(t.to_api())))
}

/// `POST /api/v1/transactions/{id}/items`: another child's code or notice
/// in the same payment.
pub(super) async fn add_item(
    State(agent): State<AppState>,
    _op: Operator,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let input = create_input(&body)?;
    Ok(Json(agent.add_item(&id, input).await?.to_api()))
}

/// `POST /api/v1/transactions/{id}/items/{n}/remove`.
pub(super) async fn remove_item(
    State(agent): State<AppState>,
    _op: Operator,
    Path((id, n)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let n: u32 = n
        .parse()
        .ok()
        .filter(|n| (1..=1000).contains(n))
        .ok_or_else(|| {
            ApiError::bad_request(format!(
                "Numero di voce non valido: «{}». Indicare il numero `n` di una voce \
             della transazione (1, 2, ...).",
                pos_codes::masked_excerpt(&n)
            ))
        })?;
    Ok(Json(agent.remove_item(&id, n).await?.to_api()))
}

#[derive(Deserialize)]
pub(super) struct ListQuery {
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

pub(super) async fn list(
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

pub(super) async fn get_tx(
    State(agent): State<AppState>,
    _op: Operator,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(agent.get(&id).await?.to_api()))
}

/// `{"code": ...}` (one, as before items) or `{"codes": [...]}` (one item
/// per chosen code).
#[derive(Deserialize)]
struct ChooseBody {
    code: Option<String>,
    codes: Option<Vec<String>>,
}

pub(super) async fn choose(
    State(agent): State<AppState>,
    _op: Operator,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let b: ChooseBody = parse_body(&body)?;
    let codes: Vec<String> = match (b.code, b.codes) {
        (Some(c), None) => vec![c],
        // An empty list leaves a cart's health card without adding any of
        // its codes (the counter refuses it when nothing else is there).
        (None, Some(cs)) => cs,
        _ => {
            return Err(ApiError::bad_request(
                "Richiesta non valida: indicare `code` (un codice) oppure `codes` \
                 (uno o più codici tra quelli proposti).",
            ))
        }
    };
    let codes: Vec<&str> = codes.iter().map(String::as_str).collect();
    Ok(Json(agent.choose(&id, &codes).await?.to_api()))
}

#[derive(Deserialize)]
struct AmountBody {
    amount_cents: i64,
    item: Option<u32>,
}

pub(super) async fn amount(
    State(agent): State<AppState>,
    _op: Operator,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let b: AmountBody = parse_body(&body)?;
    Ok(Json(
        agent
            .set_amount(&id, b.amount_cents, b.item)
            .await?
            .to_api(),
    ))
}

pub(super) async fn pre_receipt(
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

pub(super) async fn pay(
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

pub(super) async fn void(
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
