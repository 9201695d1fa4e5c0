//! The outbox: the state-changing requests waiting to reach the backend,
//! in order, and the answers they got (settled with the transaction's sync
//! state and a journal entry, in one SQLite transaction).

use rusqlite::{params, OptionalExtension};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;

use super::journal::append_journal;
use super::transactions::{row_to_tx, upsert_tx};
use super::{map_full, Store, StoreError};
use crate::model::{SyncState, Transaction};
use crate::time_fmt::rfc3339;

/// A state-changing request waiting to reach the backend.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxEntry {
    pub id: i64,
    pub tx_id: Option<String>,
    pub purpose: String,
    pub created_at: String,
    pub method: String,
    pub path: String,
    pub idempotency_key: String,
    pub body: Vec<u8>,
    /// The item of the transaction it is for (1 for a one-item transaction
    /// and for entries that are no item's, such as a closure).
    pub item: u32,
    pub state: String,
    pub attempts: i64,
    pub next_attempt_at: Option<String>,
    pub last_error: Option<String>,
}

/// What is queued when a transaction is paid or voided.
#[derive(Debug, Clone)]
pub struct OutboxDraft {
    pub purpose: String,
    pub method: String,
    pub path: String,
    pub idempotency_key: String,
    pub body: Vec<u8>,
    /// Which item of the transaction it settles (see [`OutboxEntry::item`]).
    pub item: u32,
}

impl OutboxDraft {
    /// The draft of a prepared request (its key and bytes are final: it is
    /// sent, and resent, unchanged); `purpose` says what it is for
    /// (`recharge`, `outcome_ok`, `outcome_ko`, `activate_for_ko`,
    /// `closure`). For item 1 until [`OutboxDraft::for_item`] says otherwise.
    pub fn from_request(purpose: &str, req: pos_backend::PreparedRequest) -> Self {
        OutboxDraft {
            purpose: purpose.into(),
            method: req.method,
            path: req.path,
            idempotency_key: req.idempotency_key,
            body: req.body,
            item: 1,
        }
    }

    /// The same draft, for item `n` of its transaction.
    pub fn for_item(mut self, n: u32) -> Self {
        self.item = n;
        self
    }
}

pub(super) fn insert_outbox(
    tx: &rusqlite::Transaction<'_>,
    tx_id: Option<&str>,
    d: &OutboxDraft,
) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO outbox (tx_id, purpose, created_at, method, path, idempotency_key, body, item)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            tx_id,
            d.purpose,
            rfc3339(OffsetDateTime::now_utc()),
            d.method,
            d.path,
            d.idempotency_key,
            d.body,
            d.item
        ],
    )?;
    Ok(())
}

const OUTBOX_COLS: &str = "id, tx_id, purpose, created_at, method, path, idempotency_key, body, state, attempts, next_attempt_at, last_error, item";

fn outbox_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<OutboxEntry> {
    Ok(OutboxEntry {
        id: r.get(0)?,
        tx_id: r.get(1)?,
        purpose: r.get(2)?,
        created_at: r.get(3)?,
        method: r.get(4)?,
        path: r.get(5)?,
        idempotency_key: r.get(6)?,
        body: r.get(7)?,
        state: r.get(8)?,
        attempts: r.get(9)?,
        next_attempt_at: r.get(10)?,
        last_error: r.get(11)?,
        item: r.get(12)?,
    })
}

/// Settle one outbox entry inside an open SQLite transaction: the entry
/// `confirmed` or `rejected` with the answer as it came (`raw`), the
/// transaction's sync state, the closure's status, a journal entry, and the
/// follow-up request if any.
fn settle_in(
    tx: &rusqlite::Transaction<'_>,
    entry: &OutboxEntry,
    outcome: SyncState,
    answer: &Value,
    raw: &str,
    follow_up: Option<&OutboxDraft>,
) -> Result<Option<Transaction>, StoreError> {
    if let Some(d) = follow_up {
        insert_outbox(tx, entry.tx_id.as_deref(), d)?;
    }
    tx.execute(
        "UPDATE outbox SET state = ?2, attempts = attempts + 1, response = ?3, stuck_reason = NULL WHERE id = ?1",
        params![entry.id, outcome.as_str(), raw],
    )
    .map_err(map_full)?;
    let mut updated = None;
    let pays_tx = matches!(entry.purpose.as_str(), "recharge" | "outcome_ok");
    if let (true, Some(tx_id)) = (pays_tx, entry.tx_id.as_deref()) {
        let data: Option<String> = tx
            .query_row(
                "SELECT data FROM transactions WHERE id = ?1",
                [tx_id],
                |r| r.get(0),
            )
            .optional()?;
        if let Some(data) = data {
            let mut t = row_to_tx(data)?;
            if let Some(item) = t.item_mut(entry.item) {
                item.sync = Some(outcome);
                if outcome == SyncState::Confirmed && entry.purpose == "recharge" {
                    item.credited_balance_cents =
                        answer.get("balance_cents").and_then(Value::as_i64);
                }
            }
            upsert_tx(tx, &t)?;
            updated = Some(t);
        }
    }
    if entry.purpose == "closure" {
        let status = answer
            .get("status")
            .and_then(Value::as_str)
            .unwrap_or(outcome.as_str())
            .to_string();
        tx.execute(
            "UPDATE closures SET status = ?2, answer = ?3 WHERE closure_id = ?1",
            params![entry.idempotency_key, status, answer.to_string()],
        )?;
    }
    append_journal(
        tx,
        outcome.as_str(),
        entry.tx_id.as_deref(),
        &serde_json::json!({"purpose": entry.purpose, "idempotency_key": entry.idempotency_key, "answer": answer}),
    )
    .map_err(|e| match e {
        StoreError::Sqlite(s) => map_full(s),
        o => o,
    })?;
    Ok(updated)
}

/// What one attempt at an outbox entry came to, for
/// [`Store::record_outbox_batch`].
#[derive(Debug, Clone)]
pub enum OutboxResult {
    /// Answered for good. `answer` is the body as JSON (for an unreadable
    /// body, a JSON string of it); `raw` is stored as the entry's response.
    Settled {
        entry: Box<OutboxEntry>,
        outcome: SyncState,
        answer: Value,
        raw: String,
        follow_up: Option<OutboxDraft>,
    },
    /// Not answered for good: retried after `next_attempt_at`. `stuck` when
    /// the failure is the entry's own (not "backend unreachable").
    Retry {
        id: i64,
        error: String,
        next_attempt_at: Option<OffsetDateTime>,
        stuck: bool,
    },
}

/// A pending outbox entry that keeps failing for a reason of its own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StuckEntry {
    pub id: i64,
    pub tx_id: Option<String>,
    pub purpose: String,
    pub created_at: String,
    pub attempts: i64,
    pub reason: String,
    pub receipt_number: Option<String>,
}

impl Store {
    // ----- outbox -----

    /// The oldest pending entry: the outbox drains in order of payment.
    pub fn next_pending(&self) -> Result<Option<OutboxEntry>, StoreError> {
        Ok(self
            .conn
            .query_row(
                &format!(
                    "SELECT {OUTBOX_COLS} FROM outbox WHERE state = 'pending' ORDER BY id LIMIT 1"
                ),
                [],
                outbox_from_row,
            )
            .optional()?)
    }

    /// The head of each lane of the outbox: payments (recharges and notice
    /// outcomes, strictly in order of payment) and day closures. Closures
    /// have their own lane so that a payment the backend keeps refusing
    /// does not hold back the day's reconciliation (the pending payment is
    /// what explains a mismatch).
    pub fn pending_heads(&self) -> Result<Vec<OutboxEntry>, StoreError> {
        let mut heads = Vec::with_capacity(2);
        for lane in ["purpose != 'closure'", "purpose = 'closure'"] {
            let head = self
                .conn
                .query_row(
                    &format!(
                        "SELECT {OUTBOX_COLS} FROM outbox WHERE state = 'pending' AND {lane} ORDER BY id LIMIT 1"
                    ),
                    [],
                    outbox_from_row,
                )
                .optional()?;
            heads.extend(head);
        }
        Ok(heads)
    }

    pub fn outbox_entries(&self) -> Result<Vec<OutboxEntry>, StoreError> {
        let mut st = self
            .conn
            .prepare(&format!("SELECT {OUTBOX_COLS} FROM outbox ORDER BY id"))?;
        let rows = st.query_map([], outbox_from_row)?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    pub fn record_attempt(
        &self,
        id: i64,
        error: &str,
        next_attempt_at: Option<OffsetDateTime>,
    ) -> Result<(), StoreError> {
        self.conn
            .execute(
                "UPDATE outbox SET attempts = attempts + 1, last_error = ?2, next_attempt_at = ?3 WHERE id = ?1",
                params![id, error, next_attempt_at.map(crate::time_fmt::rfc3339_precise)],
            )
            .map_err(map_full)?;
        Ok(())
    }

    /// Close an outbox entry as answered (`confirmed`) or refused for good
    /// (`rejected`), update the transaction's sync state and journal it, in
    /// one SQLite transaction.
    pub fn settle_outbox(
        &mut self,
        entry: &OutboxEntry,
        outcome: SyncState,
        answer: &Value,
    ) -> Result<Option<Transaction>, StoreError> {
        self.settle_outbox_with(entry, outcome, answer, None)
    }

    /// [`Store::settle_outbox`], queueing `follow_up` in the same SQLite
    /// transaction (the KO outcome owed for an activation recovered by
    /// replaying it).
    pub fn settle_outbox_with(
        &mut self,
        entry: &OutboxEntry,
        outcome: SyncState,
        answer: &Value,
        follow_up: Option<&OutboxDraft>,
    ) -> Result<Option<Transaction>, StoreError> {
        let tx = self.conn.transaction().map_err(map_full)?;
        let updated = settle_in(&tx, entry, outcome, answer, &answer.to_string(), follow_up)?;
        tx.commit().map_err(map_full)?;
        Ok(updated)
    }

    /// The pending entries queued after entry `after` (0: all), oldest
    /// first. The outbox sender reads the queue once and then only what is
    /// new, so a long backlog costs one read, not one per entry.
    pub fn pending_outbox_after(&self, after: i64) -> Result<Vec<OutboxEntry>, StoreError> {
        let mut st = self.conn.prepare_cached(&format!(
            "SELECT {OUTBOX_COLS} FROM outbox WHERE state = 'pending' AND id > ?1 ORDER BY id"
        ))?;
        let rows = st.query_map([after], outbox_from_row)?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// Record what several attempts came to in ONE SQLite transaction (one
    /// durable write for a whole batch of confirmations). Each settled entry
    /// is settled exactly as [`Store::settle_outbox_with`] does; an entry
    /// already settled is left alone. Returns the transactions whose sync
    /// state changed.
    pub fn record_outbox_batch(
        &mut self,
        items: &[OutboxResult],
    ) -> Result<Vec<Transaction>, StoreError> {
        let tx = self.conn.transaction().map_err(map_full)?;
        let mut updated = Vec::new();
        for item in items {
            match item {
                OutboxResult::Settled {
                    entry,
                    outcome,
                    answer,
                    raw,
                    follow_up,
                } => {
                    let still_pending: bool = tx
                        .query_row(
                            "SELECT state = 'pending' FROM outbox WHERE id = ?1",
                            [entry.id],
                            |r| r.get(0),
                        )
                        .optional()?
                        .unwrap_or(false);
                    if !still_pending {
                        continue;
                    }
                    if let Some(t) =
                        settle_in(&tx, entry, *outcome, answer, raw, follow_up.as_ref())?
                    {
                        updated.push(t);
                    }
                }
                OutboxResult::Retry {
                    id,
                    error,
                    next_attempt_at,
                    stuck,
                } => {
                    tx.execute(
                        "UPDATE outbox SET attempts = attempts + 1, last_error = ?2, next_attempt_at = ?3,
                            stuck_reason = ?4 WHERE id = ?1 AND state = 'pending'",
                        params![
                            id,
                            error,
                            next_attempt_at.map(crate::time_fmt::rfc3339_precise),
                            stuck.then_some(error.as_str())
                        ],
                    )
                    .map_err(map_full)?;
                }
            }
        }
        tx.commit().map_err(map_full)?;
        Ok(updated)
    }

    /// Pending entries that failed for a reason of their own at least
    /// `min_attempts` times: what `status` and `doctor` show as stuck.
    pub fn stuck_outbox(&self, min_attempts: i64) -> Result<Vec<StuckEntry>, StoreError> {
        let mut st = self.conn.prepare(
            "SELECT o.id, o.tx_id, o.purpose, o.created_at, o.attempts, o.stuck_reason, t.receipt_number
             FROM outbox o LEFT JOIN transactions t ON t.id = o.tx_id
             WHERE o.state = 'pending' AND o.stuck_reason IS NOT NULL AND o.attempts >= ?1
             ORDER BY o.id",
        )?;
        let rows = st.query_map([min_attempts], |r| {
            Ok(StuckEntry {
                id: r.get(0)?,
                tx_id: r.get(1)?,
                purpose: r.get(2)?,
                created_at: r.get(3)?,
                attempts: r.get(4)?,
                reason: r.get(5)?,
                receipt_number: r.get(6)?,
            })
        })?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    pub fn outbox_pending_count(&self) -> Result<i64, StoreError> {
        Ok(self.conn.query_row(
            "SELECT COUNT(*) FROM outbox WHERE state = 'pending'",
            [],
            |r| r.get(0),
        )?)
    }

    pub fn outbox_oldest_pending(&self) -> Result<Option<String>, StoreError> {
        Ok(self.conn.query_row(
            "SELECT MIN(created_at) FROM outbox WHERE state = 'pending'",
            [],
            |r| r.get(0),
        )?)
    }

    pub fn rejected_count(&self) -> Result<i64, StoreError> {
        Ok(self.conn.query_row(
            "SELECT COUNT(*) FROM transactions WHERE sync = 'rejected'",
            [],
            |r| r.get(0),
        )?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing::pay;

    #[test]
    fn settle_confirms_and_journals() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(&dir.path().join("j.sqlite")).unwrap();
        pay(&mut s, "a");
        let e = s.next_pending().unwrap().unwrap();
        let t = s
            .settle_outbox(
                &e,
                SyncState::Confirmed,
                &serde_json::json!({"status": "credited"}),
            )
            .unwrap()
            .unwrap();
        assert_eq!(t.sync(), Some(SyncState::Confirmed));
        assert!(s.next_pending().unwrap().is_none());
        assert_eq!(s.verify_journal().unwrap().entries, 2);
    }

    #[test]
    fn a_batch_of_answers_is_recorded_together_and_once() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(&dir.path().join("j.sqlite")).unwrap();
        for id in ["a", "b", "c"] {
            pay(&mut s, id);
        }
        let pending = s.pending_outbox_after(0).unwrap();
        assert_eq!(pending.len(), 3);
        let settle = |e: &OutboxEntry| OutboxResult::Settled {
            entry: Box::new(e.clone()),
            outcome: SyncState::Confirmed,
            answer: Value::String("<html>".into()),
            raw: "<html>".into(),
            follow_up: None,
        };
        let batch = vec![
            settle(&pending[0]),
            settle(&pending[1]),
            OutboxResult::Retry {
                id: pending[2].id,
                error: "HTTP 500 internal".into(),
                next_attempt_at: Some(OffsetDateTime::now_utc()),
                stuck: true,
            },
        ];
        let updated = s.record_outbox_batch(&batch).unwrap();
        assert_eq!(updated.len(), 2);
        assert!(updated
            .iter()
            .all(|t| t.sync() == Some(SyncState::Confirmed)));
        // Recording the same answers again changes nothing (already settled).
        let again = s.record_outbox_batch(&batch[..2]).unwrap();
        assert!(again.is_empty());
        assert_eq!(s.verify_journal().unwrap().entries, 3 + 2);
        let left = s.pending_outbox_after(0).unwrap();
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].attempts, 1);
        assert_eq!(s.pending_outbox_after(left[0].id).unwrap().len(), 0);
        // Stuck once it failed on its own often enough, with its receipt.
        assert!(s.stuck_outbox(2).unwrap().is_empty());
        let stuck = s.stuck_outbox(1).unwrap();
        assert_eq!(stuck.len(), 1);
        assert_eq!(stuck[0].reason, "HTTP 500 internal");
        assert_eq!(stuck[0].tx_id.as_deref(), Some("c"));
        assert!(stuck[0].receipt_number.is_some());
        let response: String = s
            .conn
            .query_row(
                "SELECT response FROM outbox WHERE id = ?1",
                [pending[0].id],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(response, "<html>", "the raw answer is kept");
    }
}
