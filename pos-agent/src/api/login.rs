//! `POST /api/v1/login` and `POST /api/v1/logout`: operator sessions.

use axum::body::Bytes;
use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{parse_body, AppState, Session};
use crate::api::error::ApiError;
use crate::auth::LoginOutcome;
use crate::time_fmt::rfc3339;

#[derive(Deserialize)]
struct LoginBody {
    operator: String,
    pin: String,
}

pub(super) async fn login(
    State(agent): State<AppState>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
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

pub(super) async fn logout(State(agent): State<AppState>, session: Session) -> Json<Value> {
    agent.sessions.remove(&session.token);
    Json(json!({"status": "ok"}))
}
