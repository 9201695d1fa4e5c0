//! The journal, the outbox and the rest of the agent's durable state, in one
//! SQLite database (`data_dir/journal.sqlite`).
//!
//! Why one database: a paid transaction, its receipt number and its outbox
//! entry must become durable together or not at all. SQLite gives that with
//! one transaction; WAL with `synchronous=FULL` makes the commit survive a
//! power cut once `pay` returns.
//!
//! The journal is append-only and hash-chained:
//!
//! ```text
//! hash(n) = sha256( seq | at | kind | tx_id | body | hash(n-1) )     hash(0) = 64 zeros
//! ```
//!
//! so an edited, deleted or reordered row breaks the chain at that row, and
//! `meta.journal_entries` (written in the same SQLite transaction) catches a
//! truncated tail.
//!
//! One file per table family, each an `impl Store` on the one connection
//! (so a payment, its journal entry, its outbox entries and its print job
//! stay one SQLite transaction):
//!
//! | file | tables |
//! |---|---|
//! | `backup.rs` | the online backup of one snapshot; a restored copy readied |
//! | `schema.rs` | the migrations (`PRAGMA user_version`) |
//! | `transactions.rs` | `transactions`, `receipt_counters`: a payment and a void committed |
//! | `journal.rs` | `journal`: append, head, `journal verify` |
//! | `journal_verify.rs` | the hashing half of `journal verify`: batches hashed on every core |
//! | `handle.rs` | `StoreHandle`: the one open store shared by the running agent's parts, each operation on a blocking thread |
//! | `export.rs` | the reads of `journal export` (journal and sync state, one snapshot) |
//! | `outbox.rs` | `outbox`: what waits for the backend, settled answers |
//! | `closures.rs` | `closures`: day closes |
//! | `operators.rs` | `operators`: PIN hashes and lockouts |
//! | `print_jobs.rs` | `print_jobs`: the durable print queue's rows |
//! | `records.rs` | a receipt as its journal entry recorded it; compacting settled, closed rows (issue 17) |

mod backup;
mod closures;
mod export;
mod handle;
mod journal;
mod journal_verify;
mod operators;
mod outbox;
mod print_jobs;
mod records;
mod schema;
mod transactions;

use std::path::Path;

use rusqlite::{params, Connection, OptionalExtension};

pub use closures::ClosureRow;
pub use export::ExportedEntry;
pub use handle::StoreHandle;
pub(crate) use journal::entry_hash;
pub use journal::{ChainError, JournalEntry, VerifyReport};
pub use operators::OperatorRow;
pub use outbox::{OutboxDraft, OutboxEntry, OutboxResult, StuckEntry};
pub use print_jobs::{PrintJob, PrintKind};
pub use records::ReceiptRecord;
pub(crate) use transactions::COLUMN_FIELDS;
pub use transactions::{offset_of_payment, Payment};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the disk is full: {0}")]
    DiskFull(String),
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("corrupt record: {0}")]
    Corrupt(String),
    #[error("journal tampered with: {0}")]
    JournalTampered(String),
    #[error("the database at {path} was written by a newer pos-agent (schema {found}, this one knows {known}); install the newer version")]
    TooNew {
        path: String,
        found: i64,
        known: i64,
    },
}

impl StoreError {
    pub fn is_disk_full(&self) -> bool {
        match self {
            StoreError::DiskFull(_) => true,
            StoreError::Sqlite(rusqlite::Error::SqliteFailure(e, _)) => {
                e.code == rusqlite::ErrorCode::DiskFull
            }
            _ => false,
        }
    }
}

pub(crate) fn map_full(e: rusqlite::Error) -> StoreError {
    if let rusqlite::Error::SqliteFailure(ref f, _) = e {
        if f.code == rusqlite::ErrorCode::DiskFull {
            return StoreError::DiskFull(e.to_string());
        }
    }
    StoreError::Sqlite(e)
}

pub struct Store {
    pub(crate) conn: Connection,
}

impl Store {
    /// Open (creating if needed) and migrate the database.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let conn = Connection::open(path).map_err(map_full)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        let mut store = Store { conn };
        store.migrate(path)?;
        // Readable by the agent's user only, like the terminal secret: the
        // journal holds every payment. SQLite creates files with the umask.
        for suffix in ["", "-wal", "-shm"] {
            let mut p = path.as_os_str().to_owned();
            p.push(suffix);
            let _ = std::fs::set_permissions(
                std::path::Path::new(&p),
                std::os::unix::fs::PermissionsExt::from_mode(0o600),
            );
        }
        Ok(store)
    }

    /// Open an existing database read-only: no migration, no new file. For
    /// `doctor` and `journal export`, which may run beside the agent.
    pub fn open_read_only(path: &Path) -> Result<Store, StoreError> {
        let conn = Connection::open_with_flags(
            path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        Ok(Store { conn })
    }

    // ----- meta -----

    pub fn meta(&self, key: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .conn
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()?)
    }

    pub fn set_meta(&self, key: &str, value: &str) -> Result<(), StoreError> {
        self.conn
            .execute(
                "INSERT INTO meta (key, value) VALUES (?1, ?2)
                 ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                params![key, value],
            )
            .map_err(map_full)?;
        Ok(())
    }
}

/// What the tests of every table family start from.
#[cfg(test)]
pub(crate) mod testing {
    use time::OffsetDateTime;

    use super::{OutboxDraft, Store};
    use crate::model::{Limits, Transaction, TxKind, TxState};

    pub(crate) fn sample(id: &str) -> Transaction {
        let mut t = Transaction::new(id.into(), "op1", OffsetDateTime::now_utc());
        t.state = TxState::AwaitingCash;
        let item = t.push_item(TxKind::Recharge);
        item.amount_cents = Some(2000);
        item.limits = Some(Limits {
            min_cents: 500,
            max_cents: 30000,
        });
        item.code = Some("123456789012".into());
        item.consumer_ref = Some("c_1".into());
        t
    }

    pub(crate) fn draft(key: &str) -> OutboxDraft {
        OutboxDraft {
            purpose: "recharge".into(),
            method: "POST".into(),
            path: "/v1/recharges".into(),
            idempotency_key: key.into(),
            body: b"{}".to_vec(),
            item: 1,
        }
    }

    /// `sample(id)` paid with 50 € through the counter's own rules, with
    /// one outbox entry keyed by its id.
    pub(crate) fn pay(store: &mut Store, id: &str) -> Transaction {
        let mut t = sample(id);
        store.save_unpaid(&t).unwrap();
        let key = t.id.clone();
        try_pay(store, &mut t, &key).unwrap();
        t
    }

    /// Pay `t` (saved unpaid) with 50 € now, its one outbox entry keyed
    /// `key`, through the counter's own rules.
    pub(crate) fn try_pay(
        store: &mut Store,
        t: &mut Transaction,
        key: &str,
    ) -> Result<i64, super::StoreError> {
        crate::counter::commit_payment(
            store,
            t,
            "T-000001",
            OffsetDateTime::now_utc(),
            5000,
            |_| Ok(vec![draft(key)]),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_database_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.sqlite");
        Store::open(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
