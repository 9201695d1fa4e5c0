//! Transactions: the rows the counter saves at each step, a payment (with
//! its receipt number, journal entry, outbox entries and print job) and a
//! void, each committed as one SQLite transaction.

use rusqlite::{params, Connection, OptionalExtension};
use serde_json::Value;

use super::journal::append_journal;
use super::outbox::{insert_outbox, OutboxDraft};
use super::{map_full, Store, StoreError};
use crate::model::{SyncState, Transaction, TxState};
use crate::time_fmt::rfc3339;

fn tx_to_row(t: &Transaction) -> Result<String, StoreError> {
    let mut v = serde_json::to_value(t).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    strip_defaults(&mut v);
    // Kept in their own columns; the generated `data` column puts them back.
    if let Value::Object(map) = &mut v {
        for k in COLUMN_FIELDS {
            map.remove(*k);
        }
    }
    Ok(v.to_string())
}

/// Fields of a transaction that `transactions` keeps in columns, and the
/// generated `data` column merges back into the stored JSON (schema 4).
pub(crate) const COLUMN_FIELDS: &[&str] = &["id", "state", "receipt_number", "paid_at", "sync"];

/// Drops what reads back the same when absent: `null`s (objects only, and
/// each item's, not inside other arrays), the empty `choices` lists and a
/// false `activation_sent`. A stored transaction is about 20% smaller
/// (issue 17: ten years of rows).
fn strip_defaults(v: &mut Value) {
    if let Value::Object(map) = v {
        map.retain(|k, v| {
            !(v.is_null()
                || (matches!(k.as_str(), "choices" | "resolved_choices")
                    && v.as_array().is_some_and(Vec::is_empty))
                || (k == "activation_sent" && v == &Value::Bool(false)))
        });
        for (k, inner) in map.iter_mut() {
            if inner.is_object() {
                strip_defaults(inner);
            } else if let (true, Value::Array(items)) = (k == "items", inner) {
                items.iter_mut().for_each(strip_defaults);
            }
        }
    }
}

/// The body of a `paid` journal entry: what the receipt printed, and no
/// more (issue 14 finding 4, issue 17). The transaction id is the entry's
/// `tx_id`; the payment codes, the backend's consumer references, the
/// limits and the choices are not on a receipt and stay out of the
/// journal. The counter's UTC offset at the payment (`utc_offset`) is kept
/// so a copy shows the time the original showed, whatever the offset is
/// when the copy is made.
pub(crate) fn paid_record(t: &Transaction) -> Value {
    let mut v = serde_json::to_value(t).unwrap_or(Value::Null);
    if let Value::Object(map) = &mut v {
        for k in [
            "id",
            "state",
            "created_at",
            "choices",
            "resolved_choices",
            "void_reason",
        ] {
            map.remove(k);
        }
        if let Some(Value::Array(items)) = map.get_mut("items") {
            for item in items.iter_mut().filter_map(Value::as_object_mut) {
                for k in [
                    "sync",
                    "limits",
                    "code",
                    "consumer_ref",
                    "activation_sent",
                    "payment_token_expires_at",
                    "credited_balance_cents",
                ] {
                    item.remove(k);
                }
                if let Some(Value::Object(c)) = item.get_mut("consumer") {
                    c.remove("school");
                }
            }
        }
    }
    strip_defaults(&mut v);
    v
}

/// The counter's UTC offset when `t` was paid, as its journal entry
/// recorded it (`None` for a transaction that is not paid).
pub fn offset_of_payment(t: &Transaction) -> Option<time::UtcOffset> {
    t.utc_offset
        .as_deref()
        .and_then(crate::time_fmt::parse_offset)
        .or_else(|| t.paid_at.map(|p| crate::time_fmt::local(p).offset()))
}

/// A payment as the counter decided it, for [`Store::commit_payment`]:
/// the transaction marked paid and the requests the backend is owed for it.
#[derive(Debug)]
pub struct Payment {
    pub paid: Transaction,
    pub outbox: Vec<OutboxDraft>,
}

pub(super) fn row_to_tx(data: String) -> Result<Transaction, StoreError> {
    serde_json::from_str(&data).map_err(|e| StoreError::Corrupt(format!("transaction record: {e}")))
}

pub(super) fn upsert_tx(conn: &Connection, t: &Transaction) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO transactions (id, state, created_at, paid_at, receipt_number, sync, stored)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT(id) DO UPDATE SET state = excluded.state, paid_at = excluded.paid_at,
            receipt_number = excluded.receipt_number, sync = excluded.sync, stored = excluded.stored",
        params![
            t.id,
            t.state.as_str(),
            rfc3339(t.created_at),
            t.paid_at.map(rfc3339),
            t.receipt_number,
            t.sync().map(|s| s.as_str()),
            tx_to_row(t)?
        ],
    )
    .map_err(map_full)?;
    Ok(())
}

impl Store {
    // ----- transactions -----

    /// Save a transaction that is not paid (creation and every step before pay).
    pub fn save_unpaid(&self, t: &Transaction) -> Result<(), StoreError> {
        debug_assert!(t.state != TxState::Paid);
        upsert_tx(&self.conn, t)
    }

    pub fn transaction(&self, id: &str) -> Result<Option<Transaction>, StoreError> {
        let data: Option<String> = self
            .conn
            .query_row("SELECT data FROM transactions WHERE id = ?1", [id], |r| {
                r.get(0)
            })
            .optional()?;
        data.map(row_to_tx).transpose()
    }

    pub fn transaction_by_receipt(&self, receipt: &str) -> Result<Option<Transaction>, StoreError> {
        let data: Option<String> = self
            .conn
            .query_row(
                "SELECT data FROM transactions WHERE receipt_number = ?1",
                [receipt],
                |r| r.get(0),
            )
            .optional()?;
        data.map(row_to_tx).transpose()
    }

    /// Transactions created in `[from, to)` (RFC 3339 strings compare as times: all are UTC `Z`).
    pub fn transactions_created_between(
        &self,
        from: &str,
        to: &str,
    ) -> Result<Vec<Transaction>, StoreError> {
        let mut st = self.conn.prepare(
            "SELECT data FROM transactions WHERE created_at >= ?1 AND created_at < ?2 ORDER BY created_at, id",
        )?;
        let rows = st.query_map([from, to], |r| r.get::<_, String>(0))?;
        rows.map(|r| row_to_tx(r?)).collect()
    }

    /// Paid transactions not yet counted by a day closure, in receipt order.
    pub fn unclosed_paid(&self) -> Result<Vec<Transaction>, StoreError> {
        let mut st = self.conn.prepare(
            "SELECT data FROM transactions WHERE paid_at IS NOT NULL AND closure_id IS NULL ORDER BY receipt_number",
        )?;
        let rows = st.query_map([], |r| r.get::<_, String>(0))?;
        rows.map(|r| row_to_tx(r?)).collect()
    }

    /// Paid transactions with items rejected by the backend (to refund)
    /// that no day closure has listed as a refund yet, in receipt order,
    /// each holding only those items. What a closure listed is its stored
    /// report's `rejected` array (`id` and `item`, item 1 when a report
    /// before items has none), so an item still pending at one close and
    /// rejected afterwards is listed by the next close, once, with no extra
    /// column to keep in step.
    pub fn unlisted_refunds(&self) -> Result<Vec<Transaction>, StoreError> {
        let listed: std::collections::HashSet<(String, i64)> = self
            .conn
            .prepare(
                "SELECT json_extract(j.value, '$.id'), coalesce(json_extract(j.value, '$.item'), 1)
                 FROM closures c, json_each(c.report, '$.rejected') j
                 WHERE json_extract(j.value, '$.id') IS NOT NULL",
            )?
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?;
        let mut st = self.conn.prepare(
            "SELECT data FROM transactions
             WHERE sync = 'rejected' AND paid_at IS NOT NULL
             ORDER BY receipt_number",
        )?;
        let rows = st.query_map([], |r| r.get::<_, String>(0))?;
        let mut refunds = vec![];
        for r in rows {
            let mut t = row_to_tx(r?)?;
            t.items.retain(|i| {
                i.sync == Some(SyncState::Rejected) && !listed.contains(&(t.id.clone(), i.n as i64))
            });
            if !t.items.is_empty() {
                refunds.push(t);
            }
        }
        Ok(refunds)
    }

    pub fn first_transaction_created_at(&self) -> Result<Option<String>, StoreError> {
        Ok(self
            .conn
            .query_row("SELECT MIN(created_at) FROM transactions", [], |r| r.get(0))?)
    }

    /// Sum of `total_cents` of offline-accepted payments not yet confirmed.
    pub fn offline_unconfirmed_total(&self) -> Result<i64, StoreError> {
        let mut st = self
            .conn
            .prepare("SELECT data FROM transactions WHERE state = 'paid' AND sync IN ('pending', 'rejected')")?;
        let rows = st.query_map([], |r| r.get::<_, String>(0))?;
        let mut total = 0;
        for r in rows {
            let t = row_to_tx(r?)?;
            total += t
                .items
                .iter()
                .filter(|i| i.offline && i.sync == Some(SyncState::Pending))
                .map(|i| i.total_cents().unwrap_or(0))
                .sum::<i64>();
        }
        Ok(total)
    }

    /// Store a payment as the counter decided it, in ONE SQLite
    /// transaction: the next number of the receipt series of
    /// `receipt_year` (drawn here, so the series is gapless), the paid
    /// transaction `decide` makes with it, its journal entry, its outbox
    /// entries and the receipt's print job. When this returns Ok, the
    /// payment is on disk, and so is the promise to print its receipt.
    /// An error (from `decide` too) leaves nothing written and the counter
    /// where it was. Returns the paid transaction and the print job's id.
    ///
    /// What a payment is (state, receipt number, time, change) is the
    /// counter's rule (`counter::rules::mark_paid`); the store only checks
    /// that it is given a paid transaction with its receipt number.
    pub fn commit_payment(
        &mut self,
        receipt_year: i32,
        decide: impl FnOnce(i64) -> Result<Payment, StoreError>,
    ) -> Result<(Transaction, i64), StoreError> {
        let tx = self.conn.transaction().map_err(map_full)?;
        let last: i64 = tx
            .query_row(
                "SELECT last FROM receipt_counters WHERE year = ?1",
                [receipt_year],
                |r| r.get(0),
            )
            .optional()?
            .unwrap_or(0);
        let number = last + 1;
        tx.execute(
            "INSERT INTO receipt_counters (year, last) VALUES (?1, ?2)
             ON CONFLICT(year) DO UPDATE SET last = excluded.last",
            params![receipt_year, number],
        )
        .map_err(map_full)?;
        let Payment { paid, outbox } = decide(number)?;
        let (TxState::Paid, Some(_), Some(paid_at)) =
            (paid.state, paid.receipt_number.as_ref(), paid.paid_at)
        else {
            return Err(StoreError::Corrupt(
                "a payment must be paid, with its receipt number and time".into(),
            ));
        };
        upsert_tx(&tx, &paid)?;
        let (seq, _) = append_journal(&tx, "paid", Some(&paid.id), &paid_record(&paid)).map_err(
            |e| match e {
                StoreError::Sqlite(s) => map_full(s),
                o => o,
            },
        )?;
        tx.execute(
            "UPDATE transactions SET journal_seq = ?2 WHERE id = ?1",
            params![paid.id, seq],
        )
        .map_err(map_full)?;
        for d in &outbox {
            insert_outbox(&tx, Some(&paid.id), d).map_err(|e| match e {
                StoreError::Sqlite(s) => map_full(s),
                o => o,
            })?;
        }
        tx.execute(
            "INSERT INTO print_jobs (kind, ref_id, created_at, state) VALUES ('receipt', ?1, ?2, 'pending')",
            params![paid.id, rfc3339(paid_at)],
        )
        .map_err(map_full)?;
        let print_job = tx.last_insert_rowid();
        tx.commit().map_err(map_full)?;
        Ok((paid, print_job))
    }

    /// Void an unpaid transaction; queue the given requests (a notice's KO outcome).
    pub fn commit_void(
        &mut self,
        t: &mut Transaction,
        reason: Option<String>,
        outbox: Vec<OutboxDraft>,
    ) -> Result<(), StoreError> {
        let mut voided = t.clone();
        voided.state = TxState::Voided;
        voided.void_reason = reason;
        let body = serde_json::json!({"reason": voided.void_reason, "kind": voided.kind(), "amount_cents": voided.amount_cents()});
        self.commit_step(&voided, "voided", &body, &outbox)?;
        *t = voided;
        Ok(())
    }

    /// Item `n` was removed from unpaid `t` (already without it): the
    /// transaction, a journal entry and what the removal owes the backend
    /// (an activated notice's KO), in ONE SQLite transaction.
    pub fn commit_item_removal(
        &mut self,
        t: &Transaction,
        n: u32,
        outbox: Vec<OutboxDraft>,
    ) -> Result<(), StoreError> {
        self.commit_step(t, "item_removed", &serde_json::json!({"item": n}), &outbox)
    }

    /// A step of an unpaid transaction that owes the backend something (a
    /// notice's KO): the transaction as `t` is, its journal entry
    /// (`kind`, `body`) and the outbox entries, in ONE SQLite transaction.
    fn commit_step(
        &mut self,
        t: &Transaction,
        kind: &str,
        body: &Value,
        outbox: &[OutboxDraft],
    ) -> Result<(), StoreError> {
        let tx = self.conn.transaction().map_err(map_full)?;
        upsert_tx(&tx, t)?;
        append_journal(&tx, kind, Some(&t.id), body)?;
        for d in outbox {
            insert_outbox(&tx, Some(&t.id), d)?;
        }
        tx.commit().map_err(map_full)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing::{draft, pay, sample, try_pay};
    use time::OffsetDateTime;

    #[test]
    fn payment_gets_gapless_receipts_and_one_outbox_entry_each() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(&dir.path().join("j.sqlite")).unwrap();
        let a = pay(&mut s, "a");
        let b = pay(&mut s, "b");
        let year = OffsetDateTime::now_utc().year();
        assert_eq!(a.receipt_number.unwrap(), format!("T-000001/{year}/000001"));
        assert_eq!(b.receipt_number.unwrap(), format!("T-000001/{year}/000002"));
        assert_eq!(b.change_cents, Some(3000));
        assert_eq!(s.outbox_pending_count().unwrap(), 2);
        assert_eq!(s.next_pending().unwrap().unwrap().idempotency_key, "a");
        // The receipt's print job is written with the payment.
        let jobs = s.pending_print_jobs().unwrap();
        let refs: Vec<(&str, &str)> = jobs
            .iter()
            .map(|j| (j.kind.as_str(), j.ref_id.as_str()))
            .collect();
        assert_eq!(refs, vec![("receipt", "a"), ("receipt", "b")]);
    }

    #[test]
    fn a_failed_outbox_insert_rolls_back_the_payment() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(&dir.path().join("j.sqlite")).unwrap();
        pay(&mut s, "a");
        let mut t = sample("b");
        s.save_unpaid(&t).unwrap();
        // Same idempotency key as "a": the UNIQUE constraint fails the insert.
        let err = try_pay(&mut s, &mut t, "a");
        assert!(err.is_err());
        assert_eq!(t.state, TxState::AwaitingCash);
        assert_eq!(
            s.transaction("b").unwrap().unwrap().state,
            TxState::AwaitingCash
        );
        // The receipt counter did not move: the next payment takes number 2.
        let c = pay(&mut s, "c");
        assert!(c.receipt_number.unwrap().ends_with("/000002"));
        s.verify_journal().unwrap();
    }

    #[test]
    fn the_store_commits_only_a_paid_transaction_and_draws_the_number() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(&dir.path().join("j.sqlite")).unwrap();
        let t = sample("a");
        s.save_unpaid(&t).unwrap();
        // What is not a payment (here: the unpaid transaction) is refused
        // and nothing is written, not even the drawn number.
        let err = s
            .commit_payment(2026, |n| {
                assert_eq!(n, 1, "the first number of the series");
                Ok(Payment {
                    paid: t.clone(),
                    outbox: vec![],
                })
            })
            .unwrap_err();
        assert!(matches!(err, StoreError::Corrupt(_)), "{err}");
        assert_eq!(
            s.transaction("a").unwrap().unwrap().state,
            TxState::AwaitingCash
        );
        // A paid transaction is stored as given; the number drawn is the
        // next of the year's series, per year.
        let mut paid = t.clone();
        paid.state = TxState::Paid;
        paid.receipt_number = Some("R-2026-1".into());
        paid.paid_at = Some(OffsetDateTime::now_utc());
        let (stored, job) = s
            .commit_payment(2026, |n| {
                assert_eq!(n, 1, "the refused commit drew nothing");
                Ok(Payment {
                    paid,
                    outbox: vec![draft("a")],
                })
            })
            .unwrap();
        assert_eq!(stored.receipt_number.as_deref(), Some("R-2026-1"));
        assert_eq!(
            s.transaction_by_receipt("R-2026-1").unwrap().unwrap().id,
            "a"
        );
        assert!(s.pending_print_jobs().unwrap().iter().any(|j| j.id == job));
        let mut b = sample("b");
        b.state = TxState::Paid;
        b.receipt_number = Some("R-2027-1".into());
        b.paid_at = Some(OffsetDateTime::now_utc());
        s.commit_payment(2027, |n| {
            assert_eq!(n, 1, "another year, another series");
            Ok(Payment {
                paid: b,
                outbox: vec![],
            })
        })
        .unwrap();
        s.verify_journal().unwrap();
    }
}
