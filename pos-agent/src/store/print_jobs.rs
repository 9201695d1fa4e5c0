//! Print jobs (`print_jobs`): what the counter owes on paper, stored
//! before it is printed (see [`crate::printing::queue`] for the queue that
//! prints them).

use rusqlite::{params, OptionalExtension};
use time::OffsetDateTime;

use super::{Store, StoreError};
use crate::time_fmt::rfc3339;

/// What a print job prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrintKind {
    /// `ref_id` = transaction id; skipped once the transaction is paid or voided.
    PreReceipt,
    /// `ref_id` = transaction id.
    Receipt,
    /// A reprint marked `COPIA - DUPLICATO`; `ref_id` = transaction id.
    Duplicate,
    /// `ref_id` = closure id.
    DayReport,
}

impl PrintKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PrintKind::PreReceipt => "pre_receipt",
            PrintKind::Receipt => "receipt",
            PrintKind::Duplicate => "duplicate",
            PrintKind::DayReport => "day_report",
        }
    }

    pub fn parse(s: &str) -> Option<PrintKind> {
        Some(match s {
            "pre_receipt" => PrintKind::PreReceipt,
            "receipt" => PrintKind::Receipt,
            "duplicate" => PrintKind::Duplicate,
            "day_report" => PrintKind::DayReport,
            _ => return None,
        })
    }
}

/// One row of `print_jobs`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrintJob {
    pub id: i64,
    /// As stored; [`PrintKind::parse`] reads it.
    pub kind: String,
    pub ref_id: String,
    pub created_at: String,
    /// `pending`, `printed`, `skipped` or `failed`.
    pub state: String,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub printed_at: Option<String>,
}

fn row_to_job(r: &rusqlite::Row<'_>) -> rusqlite::Result<PrintJob> {
    Ok(PrintJob {
        id: r.get(0)?,
        kind: r.get(1)?,
        ref_id: r.get::<_, Option<String>>(2)?.unwrap_or_default(),
        created_at: r.get(3)?,
        state: r.get(4)?,
        attempts: r.get(5)?,
        last_error: r.get(6)?,
        printed_at: r.get(7)?,
    })
}

const JOB_COLUMNS: &str = "id, kind, ref_id, created_at, state, attempts, last_error, printed_at";

impl Store {
    /// A new pending job; its id.
    pub fn enqueue_print_job(
        &mut self,
        kind: PrintKind,
        ref_id: &str,
        now: OffsetDateTime,
    ) -> Result<i64, StoreError> {
        self.conn.execute(
            "INSERT INTO print_jobs (kind, ref_id, created_at, state) VALUES (?1, ?2, ?3, 'pending')",
            params![kind.as_str(), ref_id, rfc3339(now)],
        )?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Pending jobs, oldest first.
    pub fn pending_print_jobs(&self) -> Result<Vec<PrintJob>, StoreError> {
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {JOB_COLUMNS} FROM print_jobs WHERE state = 'pending' ORDER BY id"
        ))?;
        let jobs = stmt
            .query_map([], row_to_job)?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(jobs)
    }

    pub fn print_job(&self, id: i64) -> Result<Option<PrintJob>, StoreError> {
        Ok(self
            .conn
            .query_row(
                &format!("SELECT {JOB_COLUMNS} FROM print_jobs WHERE id = ?1"),
                [id],
                row_to_job,
            )
            .optional()?)
    }

    /// The jobs of one transaction or closure, oldest first.
    pub fn print_jobs_for(&self, ref_id: &str) -> Result<Vec<PrintJob>, StoreError> {
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {JOB_COLUMNS} FROM print_jobs WHERE ref_id = ?1 ORDER BY id"
        ))?;
        let jobs = stmt
            .query_map([ref_id], row_to_job)?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(jobs)
    }

    pub fn mark_print_job_printed(
        &mut self,
        id: i64,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE print_jobs SET state = 'printed', attempts = attempts + 1, printed_at = ?2, last_error = NULL WHERE id = ?1",
            params![id, rfc3339(now)],
        )?;
        Ok(())
    }

    /// The printer refused: the job stays pending, with why.
    pub fn mark_print_job_attempt_failed(
        &mut self,
        id: i64,
        error: &str,
    ) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE print_jobs SET attempts = attempts + 1, last_error = ?2 WHERE id = ?1",
            params![id, error],
        )?;
        Ok(())
    }

    /// Ends a job without printing: `skipped` (nothing to print any more)
    /// or `failed` (it can never be printed, e.g. its data is gone).
    pub fn close_print_job(&mut self, id: i64, state: &str, why: &str) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE print_jobs SET state = ?2, last_error = ?3 WHERE id = ?1",
            params![id, state, why],
        )?;
        Ok(())
    }

    pub fn pending_print_job_count(&self) -> Result<usize, StoreError> {
        let n: i64 = self.conn.query_row(
            "SELECT COUNT(*) FROM print_jobs WHERE state = 'pending'",
            [],
            |r| r.get(0),
        )?;
        Ok(usize::try_from(n).unwrap_or(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = Store::open(&dir.path().join("j.sqlite")).expect("store");
        (dir, s)
    }

    #[test]
    fn kinds_round_trip() {
        for k in [
            PrintKind::PreReceipt,
            PrintKind::Receipt,
            PrintKind::Duplicate,
            PrintKind::DayReport,
        ] {
            assert_eq!(PrintKind::parse(k.as_str()), Some(k));
        }
        assert_eq!(PrintKind::parse("x"), None);
    }

    #[test]
    fn jobs_stay_pending_until_printed_and_keep_why() {
        let (_d, mut s) = store();
        let now = OffsetDateTime::now_utc();
        let a = s
            .enqueue_print_job(PrintKind::Receipt, "tx-1", now)
            .expect("a");
        let b = s
            .enqueue_print_job(PrintKind::PreReceipt, "tx-2", now)
            .expect("b");
        assert_eq!(s.pending_print_job_count().expect("count"), 2);
        s.mark_print_job_attempt_failed(a, "printer tcp://x is out of paper")
            .expect("fail");
        let pending = s.pending_print_jobs().expect("pending");
        assert_eq!(pending.iter().map(|j| j.id).collect::<Vec<_>>(), vec![a, b]);
        assert_eq!(pending[0].attempts, 1);
        assert_eq!(
            pending[0].last_error.as_deref(),
            Some("printer tcp://x is out of paper")
        );
        s.mark_print_job_printed(a, now).expect("printed");
        s.close_print_job(b, "skipped", "paid").expect("skip");
        assert_eq!(s.pending_print_job_count().expect("count"), 0);
        let j = s.print_job(a).expect("read").expect("exists");
        assert_eq!(j.state, "printed");
        assert_eq!(j.attempts, 2);
        assert!(j.printed_at.is_some() && j.last_error.is_none());
        assert_eq!(s.print_jobs_for("tx-2").expect("for")[0].state, "skipped");
    }
}
