//! `GET /api/v1/status` and the event stream `GET /api/v1/events` (SSE).

use std::convert::Infallible;

use axum::extract::State;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::Json;
use futures::{Stream, StreamExt};
use serde_json::Value;
use tokio_stream::wrappers::BroadcastStream;

use super::{AppState, Session};
use crate::api::error::ApiError;

pub(super) async fn status(State(agent): State<AppState>) -> Result<Json<Value>, ApiError> {
    Ok(Json(agent.status().await?))
}

/// The event stream lives as long as the session that opened it: a logout
/// or the session's idle expiry ends it, so a console left open after its
/// operator went away stops receiving scans and payments.
pub(super) async fn events(
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
