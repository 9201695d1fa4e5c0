//! `POST /api/v1/day/close`: the day close.

use axum::extract::State;
use axum::Json;
use serde_json::Value;

use super::{AppState, Operator};
use crate::api::error::ApiError;

pub(super) async fn day_close(
    State(agent): State<AppState>,
    _op: Operator,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(agent.close_day().await?))
}
