//! The outbox sender: one task that drains the outbox in order of payment.
//!
//! Invariants:
//! - Only one sender per data directory (the instance lock in `datadir.rs`).
//! - An entry is sent with exactly the bytes and the `Idempotency-Key` stored
//!   when it was queued, however many times it is retried, so the backend
//!   applies it at most once.
//! - Transient failures (network, 5xx, 429, timeouts, answers that cannot be
//!   read) are retried forever with jittered exponential backoff (at most
//!   `Tuning::sync_max` apart, honouring `Retry-After` up to that), and at
//!   every start; authentication failures likewise, with the code shown in
//!   `status.backend.error`. New payments do not cut a backoff short; the
//!   backend seen reachable again does (unless it asked to wait).
//! - Permanent refusals settle the entry as `rejected` (the cash must be handed
//!   back); `409 already_credited` settles it as `confirmed`.
//! - The head entry blocks the ones behind it: payments reach the backend in
//!   the order they were taken. Day closures are a lane of their own (see
//!   `Store::pending_heads`).

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use time::OffsetDateTime;
use tracing::{info, info_span, warn, Instrument};

use crate::agent::Agent;
use crate::model::SyncState;
use crate::store::OutboxEntry;
use crate::time_fmt::parse_rfc3339;

/// What one attempt at the head entry came to.
#[derive(Debug, PartialEq)]
pub enum Attempt {
    /// Answered for good: confirmed or rejected.
    Settled(SyncState),
    /// Not answered; retried after `delay` (recorded on the entry).
    /// `server` is the server's own `Retry-After`, capped at
    /// [`MAX_RETRY_AFTER`].
    RetryAfter {
        delay: Duration,
        server: Option<Duration>,
    },
    /// The answer or the retry time could not be written; resent later
    /// (idempotent).
    NotRecorded,
}

/// The longest wait the outbox accepts from a `Retry-After`.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(300);

pub async fn run(agent: Arc<Agent>) {
    let backoff = pos_backend::Backoff {
        base: agent.tuning.sync_base,
        max: agent.tuning.sync_max,
    };
    // At start the stored retry times are not waited for: the spec wants a
    // try at every start (a technician who fixed the clock or the
    // credentials restarts the agent and sees the result at once).
    let mut honour_stored = false;
    // A `Retry-After` from the server holds even when something wakes us.
    let mut server_not_before: Option<OffsetDateTime> = None;
    loop {
        let heads = agent.db(|s| s.pending_heads()).await;
        let heads = match heads {
            Ok(h) => h,
            Err(e) => {
                warn!(error = %e, "outbox: cannot read the queue");
                tokio::time::sleep(Duration::from_secs(5)).await;
                continue;
            }
        };
        // The lane head that is due first (retry times survive restarts).
        let due_at = |e: &OutboxEntry| {
            e.next_attempt_at
                .as_deref()
                .and_then(parse_rfc3339)
                .unwrap_or(OffsetDateTime::UNIX_EPOCH)
        };
        let Some(entry) = heads.into_iter().min_by_key(due_at) else {
            agent.sync_wake.notified().await;
            continue;
        };
        let now = OffsetDateTime::now_utc();
        let mut due = if honour_stored { due_at(&entry) } else { now };
        if let Some(nb) = server_not_before {
            due = due.max(nb);
        }
        let wait = due - now;
        if wait.is_positive() {
            let wait = Duration::from_millis(wait.whole_milliseconds().clamp(0, 3_600_000) as u64);
            let woken = tokio::select! {
                _ = tokio::time::sleep(wait) => false,
                _ = agent.sync_wake.notified() => true,
            };
            if woken {
                // New work does not cut a backoff short; the backend seen
                // reachable again does, unless the server asked us to wait.
                let backend_back = agent.take_retry_now();
                let server_says_wait =
                    server_not_before.is_some_and(|nb| nb > OffsetDateTime::now_utc());
                if !backend_back || server_says_wait {
                    continue;
                }
            }
        }
        honour_stored = true;
        let span = info_span!("sync", tx = entry.tx_id.as_deref().unwrap_or("-"), purpose = %entry.purpose);
        match attempt(&agent, &entry, &backoff).instrument(span).await {
            Attempt::Settled(_) => {
                server_not_before = None;
                agent.emit_outbox().await;
            }
            // The retry time is on the entry.
            Attempt::RetryAfter { server, .. } => {
                server_not_before = server.map(|ra| OffsetDateTime::now_utc() + ra);
            }
            // A failure to record it needs a pause here.
            Attempt::NotRecorded => tokio::time::sleep(Duration::from_secs(1)).await,
        }
    }
}

/// A void of a notice whose activation answer was lost queues the
/// activation again (`activate_for_ko`); once the backend answers it, the KO
/// outcome owed for that activation is queued with the settlement.
fn ko_after_recovered_activation(
    entry: &OutboxEntry,
    outcome: SyncState,
    answer: &Value,
) -> Option<crate::store::OutboxDraft> {
    if entry.purpose != "activate_for_ko" || outcome != SyncState::Confirmed {
        return None;
    }
    let token = answer.get("payment_token")?.as_str()?.to_string();
    let tx_id = entry.tx_id.as_deref()?;
    let req = pos_backend::PreparedRequest::outcome(
        tx_id,
        &pos_backend::OutcomeRequest::Ko {
            payment_token: token,
            reason: Some("annullata dopo un'attivazione senza risposta".into()),
        },
    );
    Some(crate::store::OutboxDraft {
        purpose: "outcome_ko".into(),
        method: req.method,
        path: req.path,
        idempotency_key: req.idempotency_key,
        body: req.body,
    })
}

/// Send the entry once and record what happened.
pub async fn attempt(
    agent: &Agent,
    entry: &OutboxEntry,
    backoff: &pos_backend::Backoff,
) -> Attempt {
    let req = pos_backend::PreparedRequest {
        method: entry.method.clone(),
        path: entry.path.clone(),
        idempotency_key: entry.idempotency_key.clone(),
        body: entry.body.clone(),
    };
    let result = agent.backend.send(&req).await;
    agent.note_backend_result(&result);
    use pos_backend::BackendError as B;
    let settle = |outcome: SyncState, answer: Value| async move {
        let e = entry.clone();
        let a = answer.clone();
        let follow_up = ko_after_recovered_activation(entry, outcome, &answer);
        match agent
            .db(move |s| s.settle_outbox_with(&e, outcome, &a, follow_up.as_ref()))
            .await
        {
            Ok(updated) => {
                if let Some(t) = updated {
                    agent.emit_tx(&t);
                }
                info!(outcome = outcome.as_str(), "outbox entry settled");
                Attempt::Settled(outcome)
            }
            Err(err) => {
                warn!(error = %err, "outbox: could not record the answer; will resend (idempotent)");
                Attempt::NotRecorded
            }
        }
    };
    match result {
        Ok(answer) => settle(SyncState::Confirmed, answer.body).await,
        Err(B::Permanent { code, details, .. })
            if code == "already_credited" && entry.purpose == "recharge" =>
        {
            settle(SyncState::Confirmed, json!({"already_credited": details})).await
        }
        Err(B::Permanent {
            status,
            code,
            message,
            details,
        }) => {
            warn!(status, code = %code, "outbox entry refused for good");
            settle(
                SyncState::Rejected,
                json!({"status": status, "code": code, "message": message, "error": details}),
            )
            .await
        }
        Err(e) => {
            let attempts = entry.attempts as u32 + 1;
            // The spec wants a try at least every 5 minutes: a longer
            // Retry-After is capped there.
            let retry_after = match &e {
                B::Transient { retry_after, .. } => retry_after.map(|r| r.min(MAX_RETRY_AFTER)),
                _ => None,
            };
            let delay = backoff.delay(attempts, retry_after, &mut rand::thread_rng());
            let next = OffsetDateTime::now_utc() + delay;
            let reason = e.to_string();
            warn!(error = %reason, retry_in_ms = delay.as_millis() as u64, "outbox: will retry");
            let id = entry.id;
            if let Err(err) = agent
                .db(move |s| s.record_attempt(id, &reason, Some(next)))
                .await
            {
                warn!(error = %err, "outbox: could not record the attempt");
                return Attempt::NotRecorded;
            }
            Attempt::RetryAfter {
                delay,
                server: retry_after,
            }
        }
    }
}
