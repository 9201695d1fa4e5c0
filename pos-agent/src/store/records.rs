//! Records kept for ten years (issue 17): a receipt reproduced from the
//! journal, and what a settled, closed payment no longer needs.
//!
//! A copy of a receipt is made from the payment's `paid` journal entry (see
//! [`crate::store`]), which is inside the hash chain, never from the
//! `transactions` row, which is not: an edited row cannot change a copy, and
//! an edited entry fails `journal verify` (and the copy itself, which checks
//! the entry against its hash). The sync state printed on the receipt comes
//! from the `confirmed` / `rejected` entry journaled for the payment.

use rusqlite::{params, OptionalExtension};
use serde_json::Value;
use time::UtcOffset;

use crate::model::{SyncState, Transaction};
use crate::store::{Store, StoreError};

/// A paid transaction as the journal recorded it.
#[derive(Debug, Clone)]
pub struct ReceiptRecord {
    pub tx: Transaction,
    /// The counter's UTC offset when it was paid: the time the original
    /// receipt showed.
    pub offset: UtcOffset,
    /// The `paid` journal entry.
    pub seq: i64,
}

impl Store {
    /// The receipt `receipt_number` as its journal entries recorded it;
    /// `None` when no paid transaction has that number (a pre-receipt is
    /// not a receipt).
    pub fn receipt_record(
        &self,
        receipt_number: &str,
    ) -> Result<Option<ReceiptRecord>, StoreError> {
        let row: Option<(String, Option<i64>)> = self
            .conn
            .query_row(
                "SELECT id, journal_seq FROM transactions WHERE receipt_number = ?1 AND state = 'paid'",
                [receipt_number],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let Some((id, seq)) = row else {
            return Ok(None);
        };
        self.record_of(&id, seq).map(Some)
    }

    /// The receipt of transaction `id` as the journal recorded it; `None`
    /// when it is not paid.
    pub fn receipt_record_of_tx(&self, id: &str) -> Result<Option<ReceiptRecord>, StoreError> {
        let row: Option<Option<i64>> = self
            .conn
            .query_row(
                "SELECT journal_seq FROM transactions WHERE id = ?1 AND state = 'paid'",
                [id],
                |r| r.get(0),
            )
            .optional()?;
        match row {
            None => Ok(None),
            Some(seq) => self.record_of(id, seq).map(Some),
        }
    }

    fn record_of(&self, id: &str, seq: Option<i64>) -> Result<ReceiptRecord, StoreError> {
        let corrupt = |why: String| StoreError::Corrupt(format!("receipt of {id}: {why}"));
        // Payments journaled before schema 4 have no pointer: look for it.
        let seq = match seq {
            Some(s) => s,
            None => self
                .conn
                .query_row(
                    "SELECT seq FROM journal WHERE tx_id = ?1 AND kind = 'paid' ORDER BY seq LIMIT 1",
                    [id],
                    |r| r.get(0),
                )
                .optional()?
                .ok_or_else(|| corrupt("no `paid` journal entry".into()))?,
        };
        let (at, kind, tx_id, body, hash): (String, String, Option<String>, String, Vec<u8>) = self
            .conn
            .query_row(
                "SELECT at, kind, tx_id, body, hash FROM journal WHERE seq = ?1",
                [seq],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
            )
            .optional()?
            .ok_or_else(|| corrupt(format!("journal entry {seq} is missing")))?;
        if kind != "paid" || tx_id.as_deref() != Some(id) {
            return Err(corrupt(format!(
                "journal entry {seq} is not its payment (kind {kind})"
            )));
        }
        // The entry must still be the one its hash was made from.
        let prev: [u8; 32] = if seq == 1 {
            [0; 32]
        } else {
            let p: Vec<u8> =
                self.conn
                    .query_row("SELECT hash FROM journal WHERE seq = ?1", [seq - 1], |r| {
                        r.get(0)
                    })?;
            p.as_slice()
                .try_into()
                .map_err(|_| corrupt(format!("journal entry {} has no valid hash", seq - 1)))?
        };
        if crate::store::entry_hash(seq, &at, &kind, Some(id), &body, &prev)[..] != hash[..] {
            return Err(corrupt(format!(
                "journal entry {seq} does not match its hash: it was edited (run `pos-agent journal verify`)"
            )));
        }
        let mut v: Value =
            serde_json::from_str(&body).map_err(|e| corrupt(format!("entry {seq}: {e}")))?;
        if let Value::Object(map) = &mut v {
            // Not journaled (the receipt does not show it): the payment time.
            if !map.contains_key("created_at") {
                let paid_at = map.get("paid_at").cloned().unwrap_or(Value::Null);
                map.insert("created_at".into(), paid_at);
            }
            map.insert("id".into(), Value::String(id.to_string()));
            map.insert("state".into(), Value::String("paid".into()));
            map.remove("sync");
        }
        let mut tx: Transaction =
            serde_json::from_value(v).map_err(|e| corrupt(format!("entry {seq}: {e}")))?;
        // Each item settles on its own: the first `confirmed` or `rejected`
        // answer to the item's credit (a recharge, or a notice's OK
        // outcome) after the payment. The item comes from the entry's
        // idempotency key, so entries journaled before items (key = the
        // transaction id) settle item 1.
        let mut stmt = self.conn.prepare(
            "SELECT kind, body FROM journal WHERE seq > ?1 AND tx_id = ?2
             AND kind IN ('confirmed', 'rejected') ORDER BY seq",
        )?;
        let answers = stmt
            .query_map(params![seq, id], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        for item in tx.items.iter_mut() {
            item.sync = Some(SyncState::Pending);
        }
        let mut settled = std::collections::HashSet::new();
        for (kind, body) in answers {
            let body: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
            let purpose = body.get("purpose").and_then(Value::as_str);
            let key_purpose = match purpose {
                Some("recharge") => pos_backend::KeyPurpose::Recharge,
                Some("outcome_ok") => pos_backend::KeyPurpose::Outcome,
                _ => continue,
            };
            let Some((_, n)) = body
                .get("idempotency_key")
                .and_then(Value::as_str)
                .and_then(|k| pos_backend::item_of_key(k, key_purpose))
            else {
                continue;
            };
            if !settled.insert(n) {
                continue;
            }
            if let Some(item) = tx.item_mut(n) {
                item.sync = Some(if kind == "confirmed" {
                    SyncState::Confirmed
                } else {
                    SyncState::Rejected
                });
                // The new balance the backend answered, as a receipt printed
                // after the confirmation shows it.
                if kind == "confirmed" && key_purpose == pos_backend::KeyPurpose::Recharge {
                    item.credited_balance_cents = body
                        .get("answer")
                        .and_then(|answer| answer.get("balance_cents"))
                        .and_then(Value::as_i64);
                }
            }
        }
        // Entries written before the offset was recorded: the offset the
        // time-zone database gives for that instant.
        let offset = crate::store::offset_of_payment(&tx).unwrap_or(UtcOffset::UTC);
        Ok(ReceiptRecord { tx, offset, seq })
    }

    /// Drops what settled payments counted by a day closure no longer need,
    /// so ten years of a busy counter stay small (issue 17): their outbox
    /// entries once confirmed (the request bytes and the answer: the answer
    /// is in the journal, and the UNIQUE idempotency key is the transaction
    /// id, which can never be paid again), their printed print jobs, and
    /// in the transaction row the payment code, the backend's consumer
    /// reference, the limits and the payer's choices. Every receipt is still
    /// reproduced from the journal, and the chain is untouched.
    ///
    /// Runs in one SQLite transaction; cheap enough for every day close
    /// (each confirmed entry is looked at once, then deleted).
    pub fn compact_settled(&mut self) -> Result<usize, StoreError> {
        let tx = self.conn.transaction()?;
        // Each confirmed outbox entry of a closed payment is seen once: its
        // transaction is compacted, then the entry goes.
        let done: Vec<(i64, String, String)> = {
            let mut st = tx.prepare(
                "SELECT o.id, t.id, t.stored FROM outbox o JOIN transactions t ON t.id = o.tx_id
                 WHERE o.state = 'confirmed' AND o.purpose != 'closure' AND t.closure_id IS NOT NULL",
            )?;
            let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
            rows.collect::<Result<_, _>>()?
        };
        // The stored columns (not the generated ones), whatever later
        // schemas add.
        let columns = {
            let mut st =
                tx.prepare("SELECT name FROM pragma_table_xinfo('transactions') WHERE hidden = 0")?;
            let names = st.query_map([], |r| r.get::<_, String>(0))?;
            names.collect::<Result<Vec<_>, _>>()?.join(", ")
        };
        let mut changed = 0;
        for (outbox_id, tx_id, stored) in done {
            if let Ok(mut v) = serde_json::from_str::<Value>(&stored) {
                if let Value::Object(map) = &mut v {
                    // In the columns (the generated `data` puts them back)...
                    for k in crate::store::COLUMN_FIELDS {
                        map.remove(*k);
                    }
                    // (whole seconds there: a settled payment needs no more)
                    map.remove("created_at");
                    // ...or no longer needed once the payment is settled.
                    for k in [
                        "code",
                        "consumer_ref",
                        "limits",
                        "choices",
                        "resolved_choices",
                        "payment_token_expires_at",
                    ] {
                        map.remove(k);
                    }
                    // Each item once its credit is confirmed (a rejected
                    // item keeps everything: it is refunded).
                    if let Some(Value::Array(items)) = map.get_mut("items") {
                        for item in items.iter_mut().filter_map(Value::as_object_mut) {
                            if item.get("sync").and_then(Value::as_str) == Some("confirmed") {
                                for k in
                                    ["code", "consumer_ref", "limits", "payment_token_expires_at"]
                                {
                                    item.remove(k);
                                }
                            }
                        }
                    }
                }
                // Moved to the end of the table rather than shrunk in place:
                // rows shrunk in place leave their pages a third empty for
                // good, moved rows pack densely and free whole pages, which
                // the next days' rows reuse.
                tx.execute(
                    "CREATE TEMP TABLE IF NOT EXISTS compact_row AS SELECT * FROM transactions WHERE 0",
                    [],
                )?;
                tx.execute("DELETE FROM temp.compact_row", [])?;
                tx.execute(
                    &format!(
                        "INSERT INTO temp.compact_row ({cols}) SELECT {cols} FROM transactions WHERE id = ?1",
                        cols = columns
                    ),
                    [&tx_id],
                )?;
                tx.execute("DELETE FROM transactions WHERE id = ?1", [&tx_id])?;
                tx.execute(
                    &format!(
                        "INSERT INTO transactions ({cols}) SELECT {cols} FROM temp.compact_row",
                        cols = columns
                    ),
                    [],
                )?;
                changed += tx.execute(
                    "UPDATE transactions SET stored = ?2 WHERE id = ?1",
                    params![tx_id, v.to_string()],
                )?;
            }
            changed += tx.execute("DELETE FROM outbox WHERE id = ?1", [outbox_id])?;
        }
        changed += tx.execute(
            "DELETE FROM print_jobs WHERE state != 'pending' AND kind != 'day_report' AND ref_id IN
                (SELECT id FROM transactions WHERE closure_id IS NOT NULL OR state = 'voided')",
            [],
        )?;
        tx.commit()?;
        Ok(changed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Consumer, Creditor, Limits, Service, TxKind, TxState};
    use crate::store::{ClosureRow, OutboxDraft};
    use time::OffsetDateTime;

    fn pay(s: &mut Store, id: &str, paid_at: OffsetDateTime) -> Transaction {
        let mut t = Transaction::new(id.into(), "op1", paid_at);
        t.state = TxState::AwaitingCash;
        t.push_item(TxKind::Recharge);
        t.items[0].amount_cents = Some(2000);
        t.items[0].fee_cents = 50;
        t.items[0].service = Some(Service {
            id: "mensa".into(),
            name: "Refezione scolastica".into(),
        });
        t.items[0].creditor = Some(Creditor {
            fiscal_code: "00514490010".into(),
            name: "Comune di Ciriè".into(),
        });
        t.items[0].consumer = Some(Consumer {
            display_name: "M*** R***".into(),
            school: Some("Primaria".into()),
        });
        t.items[0].limits = Some(Limits {
            min_cents: 500,
            max_cents: 30000,
        });
        t.items[0].code = Some("4001000000186".into());
        t.items[0].consumer_ref = Some("c_1".into());
        s.save_unpaid(&t).unwrap();
        crate::counter::commit_payment(s, &mut t, "T-000001", paid_at, 5000, |p| {
            Ok(vec![OutboxDraft {
                purpose: "recharge".into(),
                method: "POST".into(),
                path: "/v1/recharges".into(),
                idempotency_key: p.id.clone(),
                body: b"{\"code\":\"4001000000186\"}".to_vec(),
                item: 1,
            }])
        })
        .unwrap();
        t
    }

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(&dir.path().join("j.sqlite")).unwrap();
        (dir, s)
    }

    #[test]
    fn a_receipt_is_reproduced_from_its_journal_entry_not_from_the_row() {
        let (_d, mut s) = store();
        let t = pay(&mut s, "a", OffsetDateTime::now_utc());
        let number = t.receipt_number.clone().unwrap();
        // The row (outside the chain) is edited: the copy does not follow it.
        s.conn
            .execute(
                "UPDATE transactions SET stored = replace(stored, '2000', '9900') WHERE id = 'a'",
                [],
            )
            .unwrap();
        let r = s.receipt_record(&number).unwrap().unwrap();
        assert_eq!(r.tx.amount_cents(), Some(2000));
        assert_eq!(r.tx.id, "a");
        assert_eq!(r.tx.receipt_number.as_deref(), Some(number.as_str()));
        assert_eq!(r.tx.sync(), Some(SyncState::Pending));
        assert_eq!(
            r.tx.items[0].consumer.as_ref().unwrap().display_name,
            "M*** R***"
        );
        // No payment code or consumer reference in the journal.
        let body: String = s
            .conn
            .query_row("SELECT body FROM journal WHERE seq = ?1", [r.seq], |x| {
                x.get(0)
            })
            .unwrap();
        assert!(
            !body.contains("4001000000186") && !body.contains("c_1"),
            "{body}"
        );
        // The journal entry edited: the copy is refused, not made from it.
        s.conn
            .execute(
                "UPDATE journal SET body = replace(body, '2000', '9900') WHERE seq = ?1",
                [r.seq],
            )
            .unwrap();
        let err = s.receipt_record(&number).unwrap_err().to_string();
        assert!(err.contains("does not match its hash"), "{err}");
        assert!(s.receipt_record("T-000001/1999/000001").unwrap().is_none());
    }

    #[test]
    fn the_receipt_keeps_the_offset_of_its_payment_and_its_sync_state() {
        let (_d, mut s) = store();
        let t = pay(&mut s, "a", OffsetDateTime::now_utc());
        let e = s.next_pending().unwrap().unwrap();
        s.settle_outbox(
            &e,
            SyncState::Confirmed,
            &serde_json::json!({"status": "credited", "balance_cents": 4_200}),
        )
        .unwrap();
        let r = s
            .receipt_record(t.receipt_number.as_deref().unwrap())
            .unwrap()
            .unwrap();
        assert_eq!(r.tx.sync(), Some(SyncState::Confirmed));
        assert_eq!(r.tx.items[0].sync, Some(SyncState::Confirmed));
        assert_eq!(
            r.tx.items[0].credited_balance_cents,
            Some(4_200),
            "the new balance the backend answered"
        );
        assert_eq!(
            r.offset,
            crate::time_fmt::local(t.paid_at.unwrap()).offset()
        );
    }

    #[test]
    fn compaction_keeps_every_receipt_and_the_chain() {
        let (_d, mut s) = store();
        let a = pay(&mut s, "a", OffsetDateTime::now_utc());
        let b = pay(&mut s, "b", OffsetDateTime::now_utc());
        let e = s.next_pending().unwrap().unwrap();
        s.settle_outbox(
            &e,
            SyncState::Confirmed,
            &serde_json::json!({"status": "credited"}),
        )
        .unwrap();
        let before_a = s
            .receipt_record(a.receipt_number.as_deref().unwrap())
            .unwrap()
            .unwrap();
        let row = ClosureRow {
            closure_id: "T-000001/2026-11-23/1".into(),
            day: "2026-11-23".into(),
            number: 1,
            from_at: "2026-11-23T00:00:00Z".into(),
            to_at: "2026-11-23T20:00:00Z".into(),
            paid_count: 2,
            report: serde_json::json!({}),
            status: "pending".into(),
            answer: None,
        };
        let d = OutboxDraft {
            purpose: "closure".into(),
            method: "POST".into(),
            path: "/v1/closures".into(),
            idempotency_key: row.closure_id.clone(),
            body: b"{}".to_vec(),
            item: 1,
        };
        s.commit_closure(&row, &d, &["a".to_string(), "b".to_string()])
            .unwrap();
        assert!(s.compact_settled().unwrap() > 0);
        // a: confirmed and closed, compacted; b: still pending, untouched.
        let keys: Vec<String> = s
            .outbox_entries()
            .unwrap()
            .into_iter()
            .map(|e| e.idempotency_key)
            .collect();
        assert_eq!(keys, vec!["b".to_string(), row.closure_id.clone()]);
        let data: String = s
            .conn
            .query_row("SELECT stored FROM transactions WHERE id = 'a'", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert!(!data.contains("4001000000186"), "{data}");
        let ta = s.transaction("a").unwrap().unwrap();
        assert_eq!(ta.amount_cents(), Some(2000));
        assert_eq!(ta.sync(), Some(SyncState::Confirmed));
        assert!(s.transaction("b").unwrap().unwrap().items[0].code.is_some());
        let after_a = s
            .receipt_record(a.receipt_number.as_deref().unwrap())
            .unwrap()
            .unwrap();
        assert_eq!(
            serde_json::to_value(&before_a.tx).unwrap(),
            serde_json::to_value(&after_a.tx).unwrap()
        );
        assert!(s
            .receipt_record(b.receipt_number.as_deref().unwrap())
            .unwrap()
            .is_some());
        s.verify_journal().unwrap();
    }
}
