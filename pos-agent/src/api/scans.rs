//! `POST /api/v1/scans`: a read reported by a keyboard-wedge scanner or a
//! script.

use axum::body::Bytes;
use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{parse_body, AppState, Operator};
use crate::api::error::ApiError;

#[derive(Deserialize)]
struct ScanBody {
    input: String,
    #[serde(default)]
    source: Option<String>,
}

/// A keyboard-wedge scanner or a script reporting a read: it becomes a
/// `scan` event with a `scan_id`, exactly like a camera or card-reader read.
pub(super) async fn scan(
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
