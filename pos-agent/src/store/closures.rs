//! Day closures: stored with their journal entry, their request to the
//! backend and their report's print job, atomically.

use rusqlite::{params, OptionalExtension};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;

use super::journal::append_journal;
use super::outbox::{insert_outbox, OutboxDraft};
use super::{map_full, Store, StoreError};
use crate::time_fmt::rfc3339;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClosureRow {
    pub closure_id: String,
    pub day: String,
    pub number: i64,
    pub from_at: String,
    pub to_at: String,
    pub paid_count: i64,
    pub report: Value,
    pub status: String,
    pub answer: Option<Value>,
}

impl Store {
    // ----- closures -----

    pub fn last_closure(&self) -> Result<Option<ClosureRow>, StoreError> {
        self.conn
            .query_row(
                "SELECT closure_id, day, number, from_at, to_at, paid_count, report, status, answer
                 FROM closures ORDER BY to_at DESC, number DESC LIMIT 1",
                [],
                closure_from_row,
            )
            .optional()?
            .transpose()
    }

    pub fn closures_on(&self, day: &str) -> Result<i64, StoreError> {
        Ok(self
            .conn
            .query_row("SELECT COUNT(*) FROM closures WHERE day = ?1", [day], |r| {
                r.get(0)
            })?)
    }

    pub fn closure(&self, id: &str) -> Result<Option<ClosureRow>, StoreError> {
        self.conn
            .query_row(
                "SELECT closure_id, day, number, from_at, to_at, paid_count, report, status, answer
                 FROM closures WHERE closure_id = ?1",
                [id],
                closure_from_row,
            )
            .optional()?
            .transpose()
    }

    /// Store a closure, journal it, queue it for the backend and queue its
    /// report's print job, atomically.
    /// `counted` are the ids of the payments the closure covers; they are
    /// marked as closed by it in the same SQLite transaction.
    pub fn commit_closure(
        &mut self,
        row: &ClosureRow,
        draft: &OutboxDraft,
        counted: &[String],
    ) -> Result<(), StoreError> {
        let tx = self.conn.transaction().map_err(map_full)?;
        for id in counted {
            tx.execute(
                "UPDATE transactions SET closure_id = ?1 WHERE id = ?2 AND closure_id IS NULL",
                params![row.closure_id, id],
            )
            .map_err(map_full)?;
        }
        tx.execute(
            "INSERT INTO closures (closure_id, day, number, from_at, to_at, paid_count, report, status)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'pending')",
            params![
                row.closure_id,
                row.day,
                row.number,
                row.from_at,
                row.to_at,
                row.paid_count,
                row.report.to_string()
            ],
        )?;
        append_journal(&tx, "day_closed", None, &row.report)?;
        insert_outbox(&tx, None, draft)?;
        // The report's print job is part of the closure: printed even if
        // the request that closed the day goes away right after the commit.
        tx.execute(
            "INSERT INTO print_jobs (kind, ref_id, created_at, state) VALUES ('day_report', ?1, ?2, 'pending')",
            params![row.closure_id, rfc3339(OffsetDateTime::now_utc())],
        )
        .map_err(map_full)?;
        tx.commit().map_err(map_full)?;
        Ok(())
    }
}

fn closure_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Result<ClosureRow, StoreError>> {
    let report: String = r.get(6)?;
    let answer: Option<String> = r.get(8)?;
    let row = (|| {
        Ok(ClosureRow {
            closure_id: r.get(0)?,
            day: r.get(1)?,
            number: r.get(2)?,
            from_at: r.get(3)?,
            to_at: r.get(4)?,
            paid_count: r.get(5)?,
            report: Value::Null,
            status: r.get(7)?,
            answer: None,
        })
    })();
    Ok(row.map(|mut c: ClosureRow| {
        c.report = serde_json::from_str(&report).unwrap_or(Value::Null);
        c.answer = answer.and_then(|a| serde_json::from_str(&a).ok());
        c
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::SyncState;
    use crate::store::testing::{draft, pay};

    #[test]
    fn closures_have_their_own_lane() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(&dir.path().join("j.sqlite")).unwrap();
        pay(&mut s, "a");
        pay(&mut s, "b");
        let row = ClosureRow {
            closure_id: "T-1/2026-11-23/1".into(),
            day: "2026-11-23".into(),
            number: 1,
            from_at: "2026-11-23T00:00:00Z".into(),
            to_at: "2026-11-23T20:00:00Z".into(),
            paid_count: 2,
            report: serde_json::json!({}),
            status: "pending".into(),
            answer: None,
        };
        let mut d = draft("T-1/2026-11-23/1");
        d.purpose = "closure".into();
        s.commit_closure(&row, &d, &["a".to_string()]).unwrap();
        assert_eq!(
            s.unclosed_paid()
                .unwrap()
                .iter()
                .map(|t| t.id.as_str())
                .collect::<Vec<_>>(),
            vec!["b"],
            "a counted payment is not counted again"
        );
        let heads: Vec<String> = s
            .pending_heads()
            .unwrap()
            .into_iter()
            .map(|e| e.idempotency_key)
            .collect();
        assert_eq!(heads, vec!["a".to_string(), "T-1/2026-11-23/1".to_string()]);
    }

    #[test]
    fn a_refund_is_unlisted_until_a_closure_lists_it() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(&dir.path().join("j.sqlite")).unwrap();
        pay(&mut s, "a");
        pay(&mut s, "b");
        let ids = |s: &Store| -> Vec<String> {
            s.unlisted_refunds()
                .unwrap()
                .into_iter()
                .map(|t| t.id)
                .collect()
        };
        assert!(ids(&s).is_empty(), "nothing rejected yet");
        let closure = |n: i64, report: Value| ClosureRow {
            closure_id: format!("T-1/2026-11-23/{n}"),
            day: "2026-11-23".into(),
            number: n,
            from_at: "2026-11-23T00:00:00Z".into(),
            to_at: format!("2026-11-23T2{n}:00:00Z"),
            paid_count: 0,
            report,
            status: "pending".into(),
            answer: None,
        };
        let closure_draft = |n: i64| {
            let mut d = draft(&format!("T-1/2026-11-23/{n}"));
            d.purpose = "closure".into();
            d
        };
        // A close counts both while pending: no refund listed.
        let ab = ["a".to_string(), "b".to_string()];
        s.commit_closure(
            &closure(1, serde_json::json!({"rejected": []})),
            &closure_draft(1),
            &ab,
        )
        .unwrap();
        // Rejected after the close: still to be listed.
        let entry = s
            .outbox_entries()
            .unwrap()
            .into_iter()
            .find(|e| e.idempotency_key == "a")
            .unwrap();
        s.settle_outbox(&entry, SyncState::Rejected, &serde_json::json!({}))
            .unwrap();
        assert_eq!(ids(&s), ["a"]);
        // Listed by the next closure: never again.
        s.commit_closure(
            &closure(2, serde_json::json!({"rejected": [{"id": "a"}]})),
            &closure_draft(2),
            &[],
        )
        .unwrap();
        assert!(ids(&s).is_empty());
    }
}
