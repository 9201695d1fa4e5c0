//! The outbox sender: one task that drains the outbox to the backend.
//!
//! Invariants:
//! - Only one sender per data directory (the instance lock in `datadir.rs`).
//! - An entry is sent with exactly the bytes and the `Idempotency-Key` stored
//!   when it was queued, however many times it is retried, so the backend
//!   applies it at most once. An entry is never in flight twice at once.
//! - Entries of one ordering key (the transaction id; a closure's own id)
//!   go strictly one after the other, in the order they were queued: a
//!   notice's KO never overtakes the activation it answers, nor the items of
//!   a transaction each other. Entries of different keys are independent
//!   (credits for different payments).
//! - Any 2xx settles the entry as `confirmed`, keeping the answer's raw body
//!   (a body the agent cannot read does not make it resend a credit the
//!   backend applied); `409 already_credited` likewise. Other 4xx settle it
//!   as `rejected` (the cash must be handed back).
//! - "Backend unreachable" (no answer, 408, 429, 502, 503, 504, a 401 of
//!   the terminal's credentials) pauses every entry for that endpoint
//!   (`/v1/recharges`, `/v1/closures`, ...: a recharge service answering 503
//!   does not hold back the day's closure) with jittered exponential backoff
//!   (at most `Tuning::sync_max`, honouring `Retry-After` up to
//!   [`MAX_RETRY_AFTER`]); then one entry probes the endpoint before the
//!   others follow. New payments do not cut a pause short; the backend seen
//!   reachable again does (unless it asked to wait).
//! - Any other failure (a 500 for one body, an answer that is not shaped as
//!   the spec says) is the entry's own: it is retried on its own backoff and
//!   the entries behind it go on. After [`STUCK_AFTER`] such attempts it is
//!   shown as stuck, with its reason, in `status` and `doctor`.
//! - A short queue goes one entry at a time, oldest first; a backlog of more
//!   than [`BACKLOG`] due entries is sent up to [`WINDOW`] at a time
//!   (independent keys only), and the answers that arrive together are recorded in ONE
//!   SQLite transaction. Recording later than the answer is safe: a crash in
//!   between resends the same key and bytes, and the backend answers it
//!   again without applying it twice.
//! - Besides being woken, the sender looks for due entries every [`TICK`].
//! - On shutdown (the runtime's stop token) nothing new is sent; the
//!   requests in flight get up to [`FLUSH`] to answer, and their answers
//!   are recorded. One still unanswered is sent again at the next start,
//!   with the same key and bytes.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use time::OffsetDateTime;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::agent::Agent;
use crate::model::SyncState;
use crate::store::{OutboxEntry, OutboxResult};

/// The longest wait the outbox accepts from a `Retry-After`.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(300);

/// At most this many requests in flight while draining a backlog: enough
/// that the answers arriving during one durable write make the next batch.
pub const WINDOW: usize = 64;

/// More due entries than this make a backlog, sent [`WINDOW`] at a time;
/// fewer go one by one in the order they were paid.
pub const BACKLOG: usize = 16;

/// An entry failing for a reason of its own this many times is shown as
/// stuck in `status` and `doctor`.
pub const STUCK_AFTER: i64 = 3;

/// The sender looks for due entries at least this often, even when nothing
/// woke it (a wake-up lost with a request that went away, a clock step).
pub const TICK: Duration = Duration::from_secs(2);

/// On shutdown, how long the requests in flight get to answer.
pub const FLUSH: Duration = Duration::from_secs(2);

/// What one answer (or its absence) means for the entry and the outbox.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Answered for good. `answer` is the body as JSON (a JSON string of it
    /// when it is not JSON), `raw` the body as it came.
    Settled {
        outcome: SyncState,
        answer: Value,
        raw: String,
    },
    /// The backend as a whole cannot be reached (or refuses the terminal):
    /// every entry waits. `retry_after` is the server's own, capped.
    BackendDown {
        reason: String,
        retry_after: Option<Duration>,
    },
    /// This entry failed for a reason of its own; the others go on.
    OwnFailure { reason: String },
}

/// The answer body: JSON when it parses, else the text itself as a JSON
/// string, so nothing the backend said is lost.
fn answer_value(body: &[u8]) -> (Value, String) {
    let raw = String::from_utf8_lossy(body).into_owned();
    let value = if body.iter().all(u8::is_ascii_whitespace) {
        Value::Null
    } else {
        serde_json::from_slice(body).unwrap_or_else(|_| Value::String(raw.clone()))
    };
    (value, raw)
}

/// Classify what one attempt at `entry` came to.
pub fn verdict(
    entry: &OutboxEntry,
    result: &Result<pos_backend::RawAnswer, pos_backend::BackendError>,
) -> Verdict {
    use pos_backend::BackendError as B;
    match result {
        Ok(answer) => {
            let (answer, raw) = answer_value(&answer.body);
            Verdict::Settled {
                outcome: SyncState::Confirmed,
                answer,
                raw,
            }
        }
        Err(B::Permanent { code, details, .. })
            if code == "already_credited" && entry.purpose == "recharge" =>
        {
            let answer = json!({"already_credited": details});
            Verdict::Settled {
                outcome: SyncState::Confirmed,
                raw: answer.to_string(),
                answer,
            }
        }
        Err(B::Permanent {
            status,
            code,
            message,
            details,
        }) => {
            let answer =
                json!({"status": status, "code": code, "message": message, "error": details});
            Verdict::Settled {
                outcome: SyncState::Rejected,
                raw: answer.to_string(),
                answer,
            }
        }
        Err(e @ B::Transient { status, .. }) => match status {
            None | Some(408 | 429 | 502 | 503 | 504) => Verdict::BackendDown {
                reason: e.to_string(),
                retry_after: e.retry_after().map(|r| r.min(MAX_RETRY_AFTER)),
            },
            Some(_) => Verdict::OwnFailure {
                reason: e.to_string(),
            },
        },
        Err(B::BadResponse { status, reason }) if (200..300).contains(status) => {
            // A 2xx whose body could not even be kept (too large): applied
            // all the same.
            let answer = json!({"status": status, "unreadable_answer": reason});
            Verdict::Settled {
                outcome: SyncState::Confirmed,
                raw: answer.to_string(),
                answer,
            }
        }
        Err(e @ (B::Auth { .. } | B::Config(_))) => Verdict::BackendDown {
            reason: e.to_string(),
            retry_after: None,
        },
        Err(e @ (B::BadResponse { .. } | B::Invalid(_))) => Verdict::OwnFailure {
            reason: e.to_string(),
        },
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
    let Some(token) = answer.get("payment_token").and_then(Value::as_str) else {
        warn!("the replayed activation's answer has no payment token: no KO can be sent; the activation expires at the backend");
        return None;
    };
    let tx_id = entry.tx_id.as_deref()?;
    let req = pos_backend::PreparedRequest::outcome_item(
        tx_id,
        entry.item,
        &pos_backend::OutcomeRequest::Ko {
            payment_token: token.to_string(),
            reason: Some("annullata dopo un'attivazione senza risposta".into()),
        },
    );
    Some(crate::store::OutboxDraft::from_request("outcome_ko", req).for_item(entry.item))
}

/// The ordering key: entries with the same key go one after the other.
/// Each item of a transaction is credited on its own, so its entries (an
/// activation replayed, then its KO) are ordered among themselves only.
fn ordering_key(e: &OutboxEntry) -> (&str, u32) {
    (e.tx_id.as_deref().unwrap_or(&e.idempotency_key), e.item)
}

struct Queued {
    entry: OutboxEntry,
    /// Its own backoff after a failure of its own.
    not_before: Option<Instant>,
}

type SendResult = (
    i64,
    Result<pos_backend::RawAnswer, pos_backend::BackendError>,
);

struct Sender {
    agent: Arc<Agent>,
    backoff: pos_backend::Backoff,
    /// The pending entries, by id (= order queued).
    queue: BTreeMap<i64, Queued>,
    /// The highest id read so far: later reads fetch only what is newer.
    last_id: i64,
    /// Entries in flight or waiting for their answer to be recorded.
    busy: HashSet<i64>,
    /// "Backend unreachable" pauses, per endpoint (`/v1/recharges`,
    /// `/v1/closures`, ...): a recharge service answering 503 does not hold
    /// back the day's closure.
    endpoints: HashMap<String, Pause>,
}

/// Where one endpoint stands after "backend unreachable".
#[derive(Debug, Default)]
struct Pause {
    /// Its entries wait until then.
    until: Option<Instant>,
    /// The server's own `Retry-After`: holds even when something wakes us.
    server_not_before: Option<Instant>,
    /// Failures in a row, for the backoff.
    in_a_row: u32,
    /// One entry probes before the rest follow.
    probing: bool,
}

impl Pause {
    fn active(&self, now: Instant) -> bool {
        self.until.is_some_and(|t| t > now)
    }
}

impl Sender {
    fn new(agent: Arc<Agent>) -> Sender {
        let backoff = pos_backend::Backoff {
            base: agent.tuning.sync_base,
            max: agent.tuning.sync_max,
        };
        Sender {
            agent,
            backoff,
            queue: BTreeMap::new(),
            last_id: 0,
            busy: HashSet::new(),
            endpoints: HashMap::new(),
        }
    }

    /// Read the entries queued since the last read. The stored retry times
    /// are not waited for: the spec wants a try at every start.
    async fn refresh(&mut self) -> Result<(), crate::store::StoreError> {
        let after = self.last_id;
        let new = self
            .agent
            .db(move |s| s.pending_outbox_after(after))
            .await?;
        for entry in new {
            self.last_id = self.last_id.max(entry.id);
            self.queue.insert(
                entry.id,
                Queued {
                    entry,
                    not_before: None,
                },
            );
        }
        Ok(())
    }

    fn paused(&self, path: &str, now: Instant) -> bool {
        self.endpoints.get(path).is_some_and(|p| p.active(now))
    }

    /// The entries to send now, oldest first: the first pending entry of
    /// each key, if it is due, its endpoint not paused and not already in
    /// flight; an endpoint being probed gets one request at a time.
    fn pick(&self, in_flight: usize, now: Instant) -> Vec<OutboxEntry> {
        let mut per_endpoint: HashMap<&str, usize> = HashMap::new();
        for id in &self.busy {
            if let Some(q) = self.queue.get(id) {
                *per_endpoint.entry(q.entry.path.as_str()).or_default() += 1;
            }
        }
        let mut seen_keys = HashSet::new();
        let mut due = Vec::new();
        for q in self.queue.values() {
            if !seen_keys.insert(ordering_key(&q.entry)) {
                continue;
            }
            let path = q.entry.path.as_str();
            if self.busy.contains(&q.entry.id)
                || q.not_before.is_some_and(|t| t > now)
                || self.paused(path, now)
            {
                continue;
            }
            let probing = self.endpoints.get(path).is_some_and(|p| p.probing);
            let sending = per_endpoint.entry(path).or_default();
            if probing && *sending > 0 {
                continue;
            }
            *sending += 1;
            due.push(&q.entry);
            if due.len() >= WINDOW {
                break;
            }
        }
        // One at a time, in order, unless a backlog is waiting.
        let window = if due.len() <= BACKLOG { 1 } else { WINDOW };
        due.into_iter()
            .take(window.saturating_sub(in_flight))
            .cloned()
            .collect()
    }

    /// When something becomes due without being woken.
    fn next_due(&self, now: Instant) -> Option<Instant> {
        let pauses = self
            .endpoints
            .values()
            .filter(|p| p.active(now))
            .filter_map(|p| p.until);
        let own = self
            .queue
            .values()
            .filter(|q| !self.busy.contains(&q.entry.id))
            .filter_map(|q| q.not_before)
            .filter(|t| *t > now);
        pauses.chain(own).min()
    }

    /// A wake-up: new work does not cut a pause short; the backend seen
    /// reachable again does, unless the server asked us to wait.
    fn woken(&mut self) {
        if !self.agent.take_retry_now() {
            return;
        }
        let now = Instant::now();
        for p in self.endpoints.values_mut() {
            if p.server_not_before.is_none_or(|t| t <= now) {
                p.until = None;
            }
        }
    }

    /// Record the answers that arrived, in one SQLite transaction.
    async fn record(&mut self, results: Vec<SendResult>) {
        let now = Instant::now();
        let wall = OffsetDateTime::now_utc();
        let mut items = Vec::with_capacity(results.len());
        let mut own_delays = HashMap::new();
        // Per endpoint: the longest Retry-After among the "unreachable"
        // answers, or None when it answered.
        let mut down: HashMap<String, Option<Duration>> = HashMap::new();
        let mut answered: HashSet<String> = HashSet::new();
        for (id, result) in &results {
            let Some(q) = self.queue.get(id) else {
                continue;
            };
            let entry = &q.entry;
            match verdict(entry, result) {
                Verdict::Settled {
                    outcome,
                    answer,
                    raw,
                } => {
                    answered.insert(entry.path.clone());
                    let follow_up = ko_after_recovered_activation(entry, outcome, &answer);
                    if outcome == SyncState::Rejected {
                        warn!(tx = entry.tx_id.as_deref().unwrap_or("-"), purpose = %entry.purpose,
                            answer = %pos_codes::mask_fiscal_codes(&raw), "outbox entry refused for good");
                    }
                    items.push(OutboxResult::Settled {
                        entry: Box::new(entry.clone()),
                        outcome,
                        answer,
                        raw,
                        follow_up,
                    });
                }
                Verdict::OwnFailure { reason } => {
                    answered.insert(entry.path.clone());
                    let attempts = u32::try_from(entry.attempts)
                        .unwrap_or(u32::MAX)
                        .saturating_add(1);
                    let delay = self.backoff.delay(attempts, None, &mut rand::thread_rng());
                    warn!(tx = entry.tx_id.as_deref().unwrap_or("-"), purpose = %entry.purpose,
                        error = %reason, attempts, retry_in_ms = delay.as_millis() as u64,
                        "outbox entry failed on its own; the others go on");
                    own_delays.insert(*id, delay);
                    items.push(OutboxResult::Retry {
                        id: *id,
                        error: reason,
                        next_attempt_at: Some(wall + delay),
                        stuck: true,
                    });
                }
                Verdict::BackendDown {
                    reason,
                    retry_after,
                } => {
                    let longest = down.entry(entry.path.clone()).or_default();
                    *longest = (*longest).max(retry_after);
                    warn!(tx = entry.tx_id.as_deref().unwrap_or("-"), path = %entry.path,
                        error = %reason, "outbox: backend unreachable; will retry");
                    items.push(OutboxResult::Retry {
                        id: *id,
                        error: reason,
                        next_attempt_at: None,
                        stuck: false,
                    });
                }
            }
        }
        for (path, retry_after) in &down {
            let backoff = self.backoff;
            let pause = self.endpoints.entry(path.clone()).or_default();
            pause.in_a_row = pause.in_a_row.saturating_add(1);
            let delay = backoff.delay(pause.in_a_row, *retry_after, &mut rand::thread_rng());
            pause.until = Some(now + delay);
            pause.server_not_before = retry_after.map(|ra| now + ra);
            pause.probing = true;
            // The retry time is stored on the entries, for `journal export`.
            for item in items.iter_mut() {
                if let OutboxResult::Retry {
                    id,
                    next_attempt_at,
                    stuck: false,
                    ..
                } = item
                {
                    if self.queue.get(id).is_some_and(|q| &q.entry.path == path) {
                        *next_attempt_at = Some(wall + delay);
                    }
                }
            }
        }
        for path in answered.difference(&down.keys().cloned().collect()) {
            self.endpoints.remove(path);
        }
        let agent = self.agent.clone();
        let recorded = agent
            .db(move |s| s.record_outbox_batch(&items).map(|t| (t, items)))
            .await;
        for (id, _) in &results {
            self.busy.remove(id);
        }
        match recorded {
            Ok((updated, items)) => {
                let mut settled = 0;
                for item in &items {
                    match item {
                        OutboxResult::Settled { entry, outcome, .. } => {
                            settled += 1;
                            info!(tx = entry.tx_id.as_deref().unwrap_or("-"), purpose = %entry.purpose,
                                outcome = outcome.as_str(), "outbox entry settled");
                            self.queue.remove(&entry.id);
                        }
                        OutboxResult::Retry { id, .. } => {
                            if let Some(q) = self.queue.get_mut(id) {
                                q.entry.attempts += 1;
                                q.not_before = own_delays.get(id).map(|d| now + *d);
                            }
                        }
                    }
                }
                for t in &updated {
                    self.agent.emit_tx(t);
                }
                if settled > 0 {
                    self.agent.emit_outbox().await;
                }
            }
            Err(e) => {
                // Resent later with the same key and bytes (idempotent).
                warn!(error = %e, "outbox: could not record the answers; they will be resent");
                for (id, _) in &results {
                    if let Some(q) = self.queue.get_mut(id) {
                        q.not_before = Some(now + Duration::from_secs(1));
                    }
                }
            }
        }
    }
}

/// The sender, until `stop` is cancelled; then what is in flight is given
/// [`FLUSH`] to answer, and recorded.
pub async fn run(agent: Arc<Agent>, stop: CancellationToken) {
    let mut s = Sender::new(agent.clone());
    let mut in_flight: JoinSet<SendResult> = JoinSet::new();
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while !stop.is_cancelled() {
        if let Err(e) = s.refresh().await {
            warn!(error = %e, "outbox: cannot read the queue");
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(5)) => {}
                _ = stop.cancelled() => {}
            }
            continue;
        }
        let now = Instant::now();
        for entry in s.pick(in_flight.len(), now) {
            s.busy.insert(entry.id);
            let agent = agent.clone();
            in_flight.spawn(async move {
                let req = pos_backend::PreparedRequest {
                    method: entry.method,
                    path: entry.path,
                    idempotency_key: entry.idempotency_key,
                    body: entry.body,
                };
                let result = agent.backend.send_raw(&req).await;
                agent.note_backend_result(&result);
                (entry.id, result)
            });
        }
        let next_due = s.next_due(now);
        let sleep = async {
            match next_due {
                Some(t) => tokio::time::sleep_until(t).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            Some(first) = in_flight.join_next(), if !in_flight.is_empty() => {
                let mut results = Vec::new();
                let mut collect = |r: Result<SendResult, tokio::task::JoinError>| match r {
                    Ok(v) => results.push(v),
                    Err(e) => warn!(error = %e, "outbox: a send task failed"),
                };
                collect(first);
                while let Some(r) = in_flight.try_join_next() {
                    collect(r);
                }
                s.record(results).await;
            }
            _ = agent.sync_wake.notified() => s.woken(),
            _ = sleep => {}
            _ = tick.tick() => {}
            _ = stop.cancelled() => {}
        }
    }
    flush(&mut s, in_flight).await;
}

/// Stopping: the answers of the requests in flight are recorded, if they
/// come within [`FLUSH`]; the others are sent again at the next start.
async fn flush(s: &mut Sender, mut in_flight: JoinSet<SendResult>) {
    if in_flight.is_empty() {
        return;
    }
    let waiting = in_flight.len();
    let deadline = tokio::time::sleep(FLUSH);
    tokio::pin!(deadline);
    let mut results = Vec::new();
    loop {
        tokio::select! {
            r = in_flight.join_next() => match r {
                Some(Ok(v)) => results.push(v),
                Some(Err(e)) => warn!(error = %e, "outbox: a send task failed"),
                None => break,
            },
            _ = &mut deadline => {
                in_flight.abort_all();
                break;
            }
        }
    }
    info!(
        recorded = results.len(),
        unanswered = waiting.saturating_sub(results.len()),
        "outbox: stopping; unanswered requests are sent again at the next start"
    );
    if !results.is_empty() {
        s.record(results).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pos_backend::BackendError as B;

    fn entry(purpose: &str) -> OutboxEntry {
        OutboxEntry {
            id: 1,
            tx_id: Some("tx-1".into()),
            purpose: purpose.into(),
            created_at: "2026-11-22T10:00:00Z".into(),
            method: "POST".into(),
            path: "/v1/recharges".into(),
            idempotency_key: "tx-1".into(),
            body: b"{}".to_vec(),
            item: 1,
            state: "pending".into(),
            attempts: 0,
            next_attempt_at: None,
            last_error: None,
        }
    }

    fn transient(status: Option<u16>) -> B {
        B::Transient {
            reason: "x".into(),
            retry_after: None,
            status,
        }
    }

    #[test]
    fn any_2xx_is_confirmed_with_its_raw_body() {
        let e = entry("recharge");
        let garbled = Ok(pos_backend::RawAnswer {
            status: 200,
            body: b"{\"recharge_id\": ".to_vec(),
        });
        match verdict(&e, &garbled) {
            Verdict::Settled {
                outcome,
                answer,
                raw,
            } => {
                assert_eq!(outcome, SyncState::Confirmed);
                assert_eq!(raw, "{\"recharge_id\": ");
                assert_eq!(answer, Value::String(raw.clone()));
            }
            other => panic!("{other:?}"),
        }
        let good = Ok(pos_backend::RawAnswer {
            status: 201,
            body: br#"{"recharge_id":"R-1"}"#.to_vec(),
        });
        let too_large = Err(B::BadResponse {
            status: 200,
            reason: "answer larger than 4194304 bytes".into(),
        });
        assert!(matches!(
            verdict(&e, &too_large),
            Verdict::Settled {
                outcome: SyncState::Confirmed,
                ..
            }
        ));
        assert!(matches!(
            verdict(&e, &good),
            Verdict::Settled { outcome: SyncState::Confirmed, answer, .. } if answer["recharge_id"] == "R-1"
        ));
    }

    #[test]
    fn only_unreachable_backends_hold_back_every_entry() {
        let e = entry("recharge");
        for down in [
            transient(None),
            transient(Some(503)),
            transient(Some(429)),
            transient(Some(502)),
            transient(Some(504)),
            B::Auth {
                code: "clock_skew".into(),
                message: String::new(),
            },
        ] {
            assert!(
                matches!(verdict(&e, &Err(down)), Verdict::BackendDown { .. }),
                "should pause everything"
            );
        }
        for own in [
            transient(Some(500)),
            B::BadResponse {
                status: 418,
                reason: "no error object".into(),
            },
        ] {
            assert!(
                matches!(verdict(&e, &Err(own)), Verdict::OwnFailure { .. }),
                "should hold back only its entry"
            );
        }
    }

    #[test]
    fn already_credited_confirms_a_recharge_only() {
        let err = || {
            Err(B::Permanent {
                status: 409,
                code: "already_credited".into(),
                message: String::new(),
                details: json!({"recharge_id": "R-1"}),
            })
        };
        assert!(matches!(
            verdict(&entry("recharge"), &err()),
            Verdict::Settled {
                outcome: SyncState::Confirmed,
                ..
            }
        ));
        assert!(matches!(
            verdict(&entry("outcome_ok"), &err()),
            Verdict::Settled {
                outcome: SyncState::Rejected,
                ..
            }
        ));
    }
}
