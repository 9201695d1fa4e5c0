//! `/api/v1/receipts/{receipt}`: a reprint (`COPIA - DUPLICATO`) and the
//! PDF copy from the journal.

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::Value;

use super::{AppState, Operator};
use crate::api::error::ApiError;

pub(super) async fn reprint(
    State(agent): State<AppState>,
    _op: Operator,
    Path(receipt): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(agent.reprint(&receipt).await?.to_api()))
}

/// `GET /api/v1/receipts/{receipt}/copy.pdf`: the copy of `receipt show`
/// (issue 17), for the console's download.
pub(super) async fn receipt_copy_pdf(
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
