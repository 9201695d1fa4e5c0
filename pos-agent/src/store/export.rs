//! The reads of `pos-agent journal export`: journal entries in a time
//! range, each with its transaction's sync state now, streamed in journal
//! order inside one read snapshot.

use super::Store;

/// One journal entry as the export reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportedEntry {
    pub seq: i64,
    pub at: String,
    pub kind: String,
    pub tx_id: Option<String>,
    /// The stored JSON text.
    pub body: String,
    /// Lowercase hex.
    pub hash: String,
    /// The transaction's sync state now (`None` for entries of no
    /// transaction).
    pub sync: Option<String>,
}

impl Store {
    /// Runs `f` inside one read transaction, so everything it reads is the
    /// same snapshot, whatever the agent commits meanwhile (issue 14
    /// finding 5).
    pub fn in_read_snapshot<T>(&self, f: impl FnOnce() -> T) -> Result<T, rusqlite::Error> {
        self.conn.execute_batch("BEGIN DEFERRED")?;
        let result = f();
        let _ = self.conn.execute_batch("COMMIT");
        Ok(result)
    }

    /// How many entries were written in `[from, to)` (RFC 3339 UTC text;
    /// `None`: unbounded).
    pub fn journal_count_between(
        &self,
        from: Option<&str>,
        to: Option<&str>,
    ) -> Result<i64, rusqlite::Error> {
        self.conn.query_row(
            "SELECT COUNT(*) FROM journal
         WHERE (?1 IS NULL OR at >= ?1) AND (?2 IS NULL OR at < ?2)",
            rusqlite::params![from, to],
            |r| r.get(0),
        )
    }

    /// Calls `each` with every entry written in `[from, to)`, in journal
    /// order, streaming (a year of a busy counter is never held in memory
    /// at once).
    pub fn for_each_journal_entry_between<E: From<rusqlite::Error>>(
        &self,
        from: Option<&str>,
        to: Option<&str>,
        mut each: impl FnMut(ExportedEntry) -> Result<(), E>,
    ) -> Result<(), E> {
        let mut st = self.conn.prepare(
            "SELECT j.seq, j.at, j.kind, j.tx_id, j.body, lower(hex(j.hash)), t.sync
         FROM journal j LEFT JOIN transactions t ON t.id = j.tx_id
         WHERE (?1 IS NULL OR j.at >= ?1) AND (?2 IS NULL OR j.at < ?2)
         ORDER BY j.seq",
        )?;
        let mut rows = st.query(rusqlite::params![from, to])?;
        while let Some(r) = rows.next()? {
            each(ExportedEntry {
                seq: r.get(0)?,
                at: r.get(1)?,
                kind: r.get(2)?,
                tx_id: r.get(3)?,
                body: r.get(4)?,
                hash: r.get(5)?,
                sync: r.get(6)?,
            })?;
        }
        Ok(())
    }
}
