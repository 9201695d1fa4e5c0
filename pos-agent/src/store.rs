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

use std::path::Path;

use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::model::{SyncState, Transaction, TxState};
use crate::time_fmt::{parse_rfc3339, rfc3339};

/// The schema, one step per version. Applied in order; `PRAGMA user_version`
/// records how far a database has come. Never edit a released step: add one.
const MIGRATIONS: &[&str] = &[
    // 1: the first schema.
    r#"
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE transactions (
        id TEXT PRIMARY KEY,
        state TEXT NOT NULL,
        created_at TEXT NOT NULL,
        paid_at TEXT,
        receipt_number TEXT UNIQUE,
        sync TEXT,
        data TEXT NOT NULL
    );
    CREATE INDEX transactions_created ON transactions(created_at);
    CREATE INDEX transactions_paid ON transactions(paid_at);
    CREATE TABLE journal (
        seq INTEGER PRIMARY KEY,
        at TEXT NOT NULL,
        kind TEXT NOT NULL,
        tx_id TEXT,
        body TEXT NOT NULL,
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL
    );
    CREATE TABLE receipt_counters (
        year INTEGER PRIMARY KEY,
        last INTEGER NOT NULL
    );
    CREATE TABLE outbox (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        tx_id TEXT,
        purpose TEXT NOT NULL,
        created_at TEXT NOT NULL,
        method TEXT NOT NULL,
        path TEXT NOT NULL,
        idempotency_key TEXT NOT NULL UNIQUE,
        body BLOB NOT NULL,
        state TEXT NOT NULL DEFAULT 'pending',
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at TEXT,
        last_error TEXT,
        response TEXT
    );
    CREATE INDEX outbox_pending ON outbox(state, id);
    CREATE TABLE operators (
        name TEXT PRIMARY KEY,
        pin_hash TEXT NOT NULL,
        failed_attempts INTEGER NOT NULL DEFAULT 0,
        locked_until TEXT
    );
    CREATE TABLE closures (
        closure_id TEXT PRIMARY KEY,
        day TEXT NOT NULL,
        number INTEGER NOT NULL,
        from_at TEXT NOT NULL,
        to_at TEXT NOT NULL,
        paid_count INTEGER NOT NULL,
        report TEXT NOT NULL,
        status TEXT NOT NULL DEFAULT 'pending',
        answer TEXT
    );
    "#,
    // 2: the print queue. A document that could not be printed waits here
    // (it is re-rendered from the transaction or closure when printed).
    r#"
    CREATE TABLE print_jobs (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        kind TEXT NOT NULL,
        ref_id TEXT,
        created_at TEXT NOT NULL,
        state TEXT NOT NULL DEFAULT 'pending',
        attempts INTEGER NOT NULL DEFAULT 0,
        last_error TEXT,
        printed_at TEXT
    );
    CREATE INDEX print_jobs_pending ON print_jobs(state, id);
    "#,
    // 3: which day closure counted each payment. Membership by a column, not
    // by comparing paid_at with the period: a clock stepped back by NTP after
    // a close would otherwise leave payments in no closure at all.
    r#"
    ALTER TABLE transactions ADD COLUMN closure_id TEXT;
    CREATE INDEX transactions_unclosed ON transactions(closure_id, paid_at);
    "#,
    // 4: the journal for ten years (issues 14 and 17). Hashes as 32 raw
    // bytes and no `prev_hash` column (it always equalled the previous
    // row's hash): the chain and its hash formula are unchanged, so every
    // existing entry still verifies. `meta.journal_head` is written with
    // `journal_entries`, so an append can tell that rows were removed from
    // the end. `transactions.journal_seq` points at a payment's `paid`
    // entry, what a copy of its receipt is reproduced from. A transaction's
    // JSON is stored in `stored`; `data` (what every query reads) is
    // generated from it and the columns, so a settled payment's row need
    // not repeat its id, state, receipt number, payment time and sync
    // state (see `records::compact_settled`). Only unclosed payments are
    // indexed by time (the day close's query); `transactions_paid` was used
    // by no query.
    r#"
    CREATE TABLE journal_v4 (
        seq INTEGER PRIMARY KEY,
        at TEXT NOT NULL,
        kind TEXT NOT NULL,
        tx_id TEXT,
        body TEXT NOT NULL,
        hash BLOB NOT NULL
    );
    INSERT INTO journal_v4 (seq, at, kind, tx_id, body, hash)
        SELECT seq, at, kind, tx_id, body, unhex(hash) FROM journal ORDER BY seq;
    DROP TABLE journal;
    ALTER TABLE journal_v4 RENAME TO journal;
    INSERT INTO meta (key, value)
        SELECT 'journal_head', lower(hex(hash)) FROM journal WHERE true ORDER BY seq DESC LIMIT 1
        ON CONFLICT(key) DO UPDATE SET value = excluded.value;
    ALTER TABLE transactions ADD COLUMN journal_seq INTEGER;
    CREATE INDEX journal_migrate_tx ON journal(tx_id);
    UPDATE transactions SET journal_seq =
        (SELECT seq FROM journal WHERE journal.tx_id = transactions.id AND journal.kind = 'paid')
        WHERE state = 'paid';
    DROP INDEX journal_migrate_tx;
    ALTER TABLE transactions RENAME COLUMN data TO stored;
    ALTER TABLE transactions ADD COLUMN data TEXT GENERATED ALWAYS AS (
        json_insert(
            json_patch(stored, json_object('id', id, 'state', state,
                'receipt_number', receipt_number, 'paid_at', paid_at, 'sync', sync)),
            '$.created_at', created_at)
    ) VIRTUAL;
    DROP INDEX transactions_paid;
    DROP INDEX transactions_unclosed;
    CREATE INDEX transactions_unclosed ON transactions(paid_at) WHERE closure_id IS NULL;
    "#,
    // 5: why an outbox entry is stuck: it failed for a reason of its own
    // (not "backend unreachable"), so it is retried on its own backoff while
    // the entries behind it go on; shown in `status` and `doctor`.
    r#"
    ALTER TABLE outbox ADD COLUMN stuck_reason TEXT;
    "#,
];

const ZERO_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

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

fn map_full(e: rusqlite::Error) -> StoreError {
    if let rusqlite::Error::SqliteFailure(ref f, _) = e {
        if f.code == rusqlite::ErrorCode::DiskFull {
            return StoreError::DiskFull(e.to_string());
        }
    }
    StoreError::Sqlite(e)
}

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
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperatorRow {
    pub name: String,
    pub pin_hash: String,
    pub failed_attempts: i64,
    pub locked_until: Option<OffsetDateTime>,
}

#[derive(Debug, Clone, Serialize)]
pub struct JournalEntry {
    pub seq: i64,
    pub at: String,
    pub kind: String,
    pub tx_id: Option<String>,
    pub body: Value,
    pub hash: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    pub entries: i64,
    pub head: String,
}

/// Why `journal verify` failed, naming the first bad entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainError {
    #[error("journal entry {seq}: {reason}")]
    Entry { seq: i64, reason: String },
    #[error("journal: {0}")]
    Other(String),
}

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

pub struct Store {
    pub(crate) conn: Connection,
}

pub(crate) fn entry_hash(
    seq: i64,
    at: &str,
    kind: &str,
    tx_id: Option<&str>,
    body: &str,
    prev: &[u8; 32],
) -> [u8; 32] {
    // The formula of the first schema, hashes as lowercase hex text: every
    // entry ever written verifies the same way.
    let mut prev_hex = [0u8; 64];
    // A 32-byte input always fits the 64-byte buffer.
    let _ = hex::encode_to_slice(prev, &mut prev_hex);
    let mut h = Sha256::new();
    h.update(seq.to_string());
    h.update(b"|");
    h.update(at);
    h.update(b"|");
    h.update(kind);
    h.update(b"|");
    h.update(tx_id.unwrap_or(""));
    h.update(b"|");
    h.update(body);
    h.update(b"|");
    h.update(prev_hex);
    h.finalize().into()
}

/// A stored hash as 32 bytes; anything else is not a hash.
fn hash_bytes(v: &[u8]) -> Option<[u8; 32]> {
    v.try_into().ok()
}

/// The journal's last entry, `(0, zeros)` when it is empty.
fn last_entry(conn: &Connection) -> Result<(i64, [u8; 32]), StoreError> {
    let row: Option<(i64, Vec<u8>)> = conn
        .query_row(
            "SELECT seq, hash FROM journal ORDER BY seq DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    match row {
        None => Ok((0, [0; 32])),
        Some((seq, h)) => hash_bytes(&h)
            .map(|h| (seq, h))
            .ok_or_else(|| StoreError::JournalTampered(format!("entry {seq} has no valid hash"))),
    }
}

/// What `meta` says the journal holds: `(journal_entries, journal_head)`.
fn recorded_head(conn: &Connection) -> Result<(i64, String), rusqlite::Error> {
    let get = |key: &str| -> Result<Option<String>, rusqlite::Error> {
        conn.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()
    };
    let entries = get("journal_entries")?
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let head = get("journal_head")?.unwrap_or_else(|| ZERO_HASH.to_string());
    Ok((entries, head))
}

/// Append one hash-chained journal entry inside an open SQLite transaction.
///
/// Refuses (and logs an error) when the journal's last entry is not the
/// one `meta` recorded with the previous append: rows were deleted or
/// rewritten behind the agent's back, and continuing the chain from what
/// is left would hide it (issue 14, finding 4).
fn append_journal(
    tx: &rusqlite::Transaction<'_>,
    kind: &str,
    tx_id: Option<&str>,
    body: &Value,
) -> Result<(i64, String), StoreError> {
    let (last_seq, prev) = last_entry(tx)?;
    let (recorded_entries, recorded_head) = recorded_head(tx)?;
    let prev_hex = hex::encode(prev);
    if recorded_entries != last_seq || recorded_head != prev_hex {
        let why = format!(
            "the journal ends at entry {last_seq} ({}) but {recorded_entries} entries ending with {} were recorded: entries were removed or rewritten",
            short(&prev_hex),
            short(&recorded_head)
        );
        tracing::error!(reason = %why, "journal tampering detected: nothing more is written until a technician checks it");
        return Err(StoreError::JournalTampered(why));
    }
    let seq = last_seq + 1;
    let at = rfc3339(OffsetDateTime::now_utc());
    let body = serde_json::to_string(body).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let hash = entry_hash(seq, &at, kind, tx_id, &body, &prev);
    tx.execute(
        "INSERT INTO journal (seq, at, kind, tx_id, body, hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![seq, at, kind, tx_id, body, &hash[..]],
    )?;
    let hash = hex::encode(hash);
    tx.execute(
        "INSERT INTO meta (key, value) VALUES ('journal_entries', ?1), ('journal_head', ?2)
         ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        params![seq.to_string(), hash],
    )?;
    Ok((seq, hash))
}

fn short(hash: &str) -> &str {
    hash.get(..12).unwrap_or(hash)
}

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

/// Drops what reads back the same when absent: `null`s (objects only, not
/// inside arrays), the empty `choices` lists and a false `activation_sent`.
/// A stored transaction is about 20% smaller (issue 17: ten years of rows).
fn strip_defaults(v: &mut Value) {
    if let Value::Object(map) = v {
        map.retain(|k, v| {
            !(v.is_null()
                || (matches!(k.as_str(), "choices" | "resolved_choices")
                    && v.as_array().is_some_and(Vec::is_empty))
                || (k == "activation_sent" && v == &Value::Bool(false)))
        });
        for (_, inner) in map.iter_mut() {
            if inner.is_object() {
                strip_defaults(inner);
            }
        }
    }
}

/// The body of a `paid` journal entry: what the receipt printed, and no
/// more (issue 14 finding 4, issue 17). The transaction id is the entry's
/// `tx_id`; the payment code, the backend's consumer reference, the limits
/// and the choices are not on a receipt and stay out of the journal. The
/// counter's UTC offset at the payment (`utc_offset`) is kept so a copy
/// shows the time the original showed, whatever the offset is when the
/// copy is made.
pub(crate) fn paid_record(t: &Transaction) -> Value {
    let mut v = serde_json::to_value(t).unwrap_or(Value::Null);
    if let Value::Object(map) = &mut v {
        for k in [
            "id",
            "state",
            "sync",
            "created_at",
            "limits",
            "choices",
            "resolved_choices",
            "code",
            "consumer_ref",
            "activation_sent",
            "payment_token_expires_at",
            "void_reason",
        ] {
            map.remove(k);
        }
        if let Some(Value::Object(c)) = map.get_mut("consumer") {
            c.remove("school");
        }
    }
    strip_defaults(&mut v);
    v
}

/// `+01:00`.
pub(crate) fn offset_text(o: time::UtcOffset) -> String {
    let (h, m, _) = o.as_hms();
    let sign = if o.is_negative() { '-' } else { '+' };
    format!("{sign}{:02}:{:02}", h.unsigned_abs(), m.unsigned_abs())
}

/// The inverse of [`offset_text`].
pub(crate) fn parse_offset(s: &str) -> Option<time::UtcOffset> {
    let (sign, rest) = match s.as_bytes().first()? {
        b'+' => (1, &s[1..]),
        b'-' => (-1, &s[1..]),
        _ => return None,
    };
    let (h, m) = rest.split_once(':')?;
    let h: i8 = h.parse().ok()?;
    let m: i8 = m.parse().ok()?;
    time::UtcOffset::from_hms(sign * h, sign * m, 0).ok()
}

fn row_to_tx(data: String) -> Result<Transaction, StoreError> {
    serde_json::from_str(&data).map_err(|e| StoreError::Corrupt(format!("transaction record: {e}")))
}

fn upsert_tx(conn: &Connection, t: &Transaction) -> Result<(), StoreError> {
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
            t.sync.map(|s| s.as_str()),
            tx_to_row(t)?
        ],
    )
    .map_err(map_full)?;
    Ok(())
}

fn insert_outbox(
    tx: &rusqlite::Transaction<'_>,
    tx_id: Option<&str>,
    d: &OutboxDraft,
) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO outbox (tx_id, purpose, created_at, method, path, idempotency_key, body)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            tx_id,
            d.purpose,
            rfc3339(OffsetDateTime::now_utc()),
            d.method,
            d.path,
            d.idempotency_key,
            d.body
        ],
    )?;
    Ok(())
}

const OUTBOX_COLS: &str = "id, tx_id, purpose, created_at, method, path, idempotency_key, body, state, attempts, next_attempt_at, last_error";

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
            t.sync = Some(outcome);
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

    fn migrate(&mut self, path: &Path) -> Result<(), StoreError> {
        let version: i64 = self
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))?;
        let known = MIGRATIONS.len() as i64;
        if version > known {
            return Err(StoreError::TooNew {
                path: path.display().to_string(),
                found: version,
                known,
            });
        }
        for (i, step) in MIGRATIONS.iter().enumerate().skip(version as usize) {
            let tx = self.conn.transaction()?;
            tx.execute_batch(step).map_err(map_full)?;
            tx.pragma_update(None, "user_version", (i + 1) as i64)?;
            tx.commit().map_err(map_full)?;
        }
        Ok(())
    }

    pub fn schema_version(&self) -> Result<i64, StoreError> {
        Ok(self
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))?)
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

    // ----- operators -----

    pub fn add_operator(&self, name: &str, pin_hash: &str) -> Result<(), StoreError> {
        self.conn
            .execute(
                "INSERT INTO operators (name, pin_hash) VALUES (?1, ?2)
                 ON CONFLICT(name) DO UPDATE SET pin_hash = excluded.pin_hash,
                    failed_attempts = 0, locked_until = NULL",
                params![name, pin_hash],
            )
            .map_err(map_full)?;
        Ok(())
    }

    pub fn operator(&self, name: &str) -> Result<Option<OperatorRow>, StoreError> {
        let row = self
            .conn
            .query_row(
                "SELECT name, pin_hash, failed_attempts, locked_until FROM operators WHERE name = ?1",
                [name],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, i64>(2)?,
                        r.get::<_, Option<String>>(3)?,
                    ))
                },
            )
            .optional()?;
        Ok(
            row.map(|(name, pin_hash, failed_attempts, locked)| OperatorRow {
                name,
                pin_hash,
                failed_attempts,
                locked_until: locked.as_deref().and_then(parse_rfc3339),
            }),
        )
    }

    pub fn operator_names(&self) -> Result<Vec<String>, StoreError> {
        let mut st = self
            .conn
            .prepare("SELECT name FROM operators ORDER BY name")?;
        let names = st
            .query_map([], |r| r.get(0))?
            .collect::<Result<Vec<String>, _>>()?;
        Ok(names)
    }

    /// Record the outcome of a login attempt for an operator.
    pub fn set_login_failures(
        &self,
        name: &str,
        failed_attempts: i64,
        locked_until: Option<OffsetDateTime>,
    ) -> Result<(), StoreError> {
        self.conn
            .execute(
                "UPDATE operators SET failed_attempts = ?2, locked_until = ?3 WHERE name = ?1",
                params![name, failed_attempts, locked_until.map(rfc3339)],
            )
            .map_err(map_full)?;
        Ok(())
    }

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

    /// Paid transactions rejected by the backend (to refund) that no day
    /// closure has listed as a refund yet, in receipt order. What a closure
    /// listed is its stored report's `rejected` array, so a payment still
    /// pending at one close and rejected afterwards is listed by the next
    /// close, once, with no extra column to keep in step.
    pub fn unlisted_refunds(&self) -> Result<Vec<Transaction>, StoreError> {
        let mut st = self.conn.prepare(
            "SELECT data FROM transactions
             WHERE sync = 'rejected' AND paid_at IS NOT NULL AND id NOT IN (
                 SELECT json_extract(j.value, '$.id')
                 FROM closures c, json_each(c.report, '$.rejected') j
                 WHERE json_extract(j.value, '$.id') IS NOT NULL)
             ORDER BY receipt_number",
        )?;
        let rows = st.query_map([], |r| r.get::<_, String>(0))?;
        rows.map(|r| row_to_tx(r?)).collect()
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
            .prepare("SELECT data FROM transactions WHERE state = 'paid' AND sync = 'pending'")?;
        let rows = st.query_map([], |r| r.get::<_, String>(0))?;
        let mut total = 0;
        for r in rows {
            let t = row_to_tx(r?)?;
            if t.offline {
                total += t.total_cents().unwrap_or(0);
            }
        }
        Ok(total)
    }

    /// Mark a transaction paid: the receipt number, the transaction, its
    /// journal entry, its outbox entries and the receipt's print job are
    /// written in ONE SQLite transaction. When this returns Ok, the payment
    /// is on disk, and so is the promise to print its receipt. Returns the
    /// print job's id.
    pub fn commit_payment(
        &mut self,
        t: &mut Transaction,
        terminal_id: &str,
        paid_at: OffsetDateTime,
        tendered_cents: i64,
        make_outbox: impl FnOnce(&Transaction) -> Result<Vec<OutboxDraft>, StoreError>,
    ) -> Result<i64, StoreError> {
        let total = t
            .total_cents()
            .ok_or_else(|| StoreError::Corrupt("paying a transaction without an amount".into()))?;
        let tx = self.conn.transaction().map_err(map_full)?;
        // The receipt series is per year of the counter's own calendar: a
        // payment at 00:30 on 1 January (CET) belongs to the new year.
        let year = crate::time_fmt::local(paid_at).year();
        let last: i64 = tx
            .query_row(
                "SELECT last FROM receipt_counters WHERE year = ?1",
                [year],
                |r| r.get(0),
            )
            .optional()?
            .unwrap_or(0);
        let number = last + 1;
        tx.execute(
            "INSERT INTO receipt_counters (year, last) VALUES (?1, ?2)
             ON CONFLICT(year) DO UPDATE SET last = excluded.last",
            params![year, number],
        )
        .map_err(map_full)?;
        let mut paid = t.clone();
        paid.state = TxState::Paid;
        paid.receipt_number = Some(format!("{terminal_id}/{year}/{number:06}"));
        paid.paid_at = Some(paid_at.replace_nanosecond(0).unwrap_or(paid_at));
        paid.tendered_cents = Some(tendered_cents);
        paid.change_cents = Some(
            tendered_cents
                .checked_sub(total)
                .ok_or_else(|| StoreError::Corrupt("change out of range".into()))?,
        );
        paid.sync = Some(SyncState::Pending);
        paid.utc_offset = Some(offset_text(crate::time_fmt::local(paid_at).offset()));
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
        for d in make_outbox(&paid)? {
            insert_outbox(&tx, Some(&paid.id), &d).map_err(|e| match e {
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
        *t = paid;
        Ok(print_job)
    }

    /// Void an unpaid transaction; queue the given requests (a notice's KO outcome).
    pub fn commit_void(
        &mut self,
        t: &mut Transaction,
        reason: Option<String>,
        outbox: Vec<OutboxDraft>,
    ) -> Result<(), StoreError> {
        let tx = self.conn.transaction().map_err(map_full)?;
        let mut voided = t.clone();
        voided.state = TxState::Voided;
        voided.void_reason = reason;
        upsert_tx(&tx, &voided)?;
        append_journal(
            &tx,
            "voided",
            Some(&voided.id),
            &serde_json::json!({"reason": voided.void_reason, "kind": voided.kind, "amount_cents": voided.amount_cents}),
        )?;
        for d in &outbox {
            insert_outbox(&tx, Some(&voided.id), d)?;
        }
        tx.commit().map_err(map_full)?;
        *t = voided;
        Ok(())
    }

    /// Append a journal entry on its own (reprints, day closes, operator locks).
    pub fn journal_event(
        &mut self,
        kind: &str,
        tx_id: Option<&str>,
        body: &Value,
    ) -> Result<(), StoreError> {
        let tx = self.conn.transaction().map_err(map_full)?;
        append_journal(&tx, kind, tx_id, body)?;
        tx.commit().map_err(map_full)?;
        Ok(())
    }

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

    // ----- journal -----

    /// The last entry's number and hash (hex), `(0, zeros)` when empty.
    pub fn journal_head(&self) -> Result<(i64, String), StoreError> {
        let (seq, hash) = last_entry(&self.conn)?;
        Ok((seq, hex::encode(hash)))
    }

    pub fn journal_entries(&self) -> Result<Vec<JournalEntry>, StoreError> {
        let mut st = self
            .conn
            .prepare("SELECT seq, at, kind, tx_id, body, hash FROM journal ORDER BY seq")?;
        let rows = st.query_map([], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, Option<String>>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, Vec<u8>>(5)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (seq, at, kind, tx_id, body, hash) = row?;
            out.push(JournalEntry {
                seq,
                at,
                kind,
                tx_id,
                body: serde_json::from_str(&body).unwrap_or(Value::String(body)),
                hash: hex::encode(hash),
            });
        }
        Ok(out)
    }

    /// Walk the whole chain, in ONE read transaction (a payment committed
    /// meanwhile is simply not seen: it cannot look like a deletion).
    /// Reports the first entry that does not fit, and a journal whose end
    /// is not what `meta` recorded (rows deleted from the end).
    pub fn verify_journal(&self) -> Result<VerifyReport, ChainError> {
        self.verify_journal_with(|| {})
    }

    /// [`Store::verify_journal`], calling `walked` after the rows were read
    /// and before `meta` is (tests commit a payment there).
    pub(crate) fn verify_journal_with(
        &self,
        walked: impl FnOnce(),
    ) -> Result<VerifyReport, ChainError> {
        let sql_err = |e: rusqlite::Error| ChainError::Other(e.to_string());
        // Reading a long journal through memory maps instead of copies is
        // about a third faster; harmless when the platform refuses it.
        let _ = self.conn.pragma_update(None, "mmap_size", 1i64 << 32);
        // Inside the caller's read transaction when there is one (doctor).
        let own = self.conn.is_autocommit();
        if own {
            self.conn.execute_batch("BEGIN DEFERRED").map_err(sql_err)?;
        }
        let result = self.verify_in_read_tx(walked);
        if own {
            let _ = self.conn.execute_batch("COMMIT");
        }
        result
    }

    /// The walk: this thread reads the rows (and checks their numbering),
    /// the other cores hash them, batch by batch (each entry is checked
    /// against the stored hash of the entry before it, so the work splits;
    /// the first entry that does not fit is still the one reported; see
    /// `journal_verify.rs`).
    fn verify_in_read_tx(&self, walked: impl FnOnce()) -> Result<VerifyReport, ChainError> {
        let sql_err = |e: rusqlite::Error| ChainError::Other(e.to_string());
        // Read `meta` first: it starts the read snapshot the walk then sees.
        let (recorded, recorded_head) = recorded_head(&self.conn).map_err(sql_err)?;
        let mut st = self
            .conn
            .prepare("SELECT seq, at, kind, tx_id, body, hash FROM journal ORDER BY seq")
            .map_err(sql_err)?;
        let mut rows = st.query([]).map_err(sql_err)?;
        let ((read, last), bad) = crate::journal_verify::hash_in_parallel(|hasher| {
            let mut expected_seq = 1;
            let mut prev = [0u8; 32];
            let mut batch = hasher.batch();
            let read = (|| -> Result<(), ChainError> {
                while let Some(r) = rows.next().map_err(sql_err)? {
                    let seq: i64 = r.get(0).map_err(sql_err)?;
                    if seq != expected_seq {
                        return Err(ChainError::Entry {
                            seq: expected_seq,
                            reason: format!(
                                "missing (the next entry is {seq}): an entry was deleted"
                            ),
                        });
                    }
                    let stored = match r.get_ref(5).map_err(sql_err)? {
                        rusqlite::types::ValueRef::Blob(b) => hash_bytes(b),
                        _ => None,
                    };
                    let start = batch.begin_entry(seq);
                    for i in 1..=4 {
                        match r.get_ref(i).map_err(sql_err)? {
                            rusqlite::types::ValueRef::Text(t) => batch.field(t),
                            rusqlite::types::ValueRef::Null => batch.field(b""),
                            _ => {
                                return Err(ChainError::Entry {
                                    seq,
                                    reason: "a field has the wrong type: the entry was edited"
                                        .into(),
                                })
                            }
                        }
                    }
                    batch.end_entry(seq, start, prev, stored);
                    // An unreadable hash: the next entry is checked
                    // against zeros, and fails too; this one fails first.
                    prev = stored.unwrap_or([0; 32]);
                    expected_seq += 1;
                    if batch.is_full() {
                        let full = std::mem::replace(&mut batch, hasher.batch());
                        if !hasher.submit(full) {
                            break;
                        }
                    }
                }
                Ok(())
            })();
            hasher.submit(batch);
            (read, (expected_seq - 1, prev))
        });
        // The first entry whose content does not match its hash comes
        // before any numbering problem the reader stopped at.
        if let Some(seq) = bad {
            return Err(ChainError::Entry {
                seq,
                reason: "its content does not match its hash: the entry was edited".into(),
            });
        }
        read?;
        drop(rows);
        walked();
        let (entries, last_hash) = last;
        let head = hex::encode(last_hash);
        if recorded != entries {
            return Err(ChainError::Other(format!(
                "the journal should hold {recorded} entries but holds {entries}: entries at the end were deleted"
            )));
        }
        if recorded_head != head && entries > 0 {
            return Err(ChainError::Other(format!(
                "the journal's last entry is not the one recorded ({} instead of {}): entries at the end were replaced",
                short(&head),
                short(&recorded_head)
            )));
        }
        Ok(VerifyReport { entries, head })
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
    use crate::model::{Limits, TxKind};

    fn sample(id: &str) -> Transaction {
        let mut t = Transaction::new(
            id.into(),
            TxKind::Recharge,
            "op1",
            OffsetDateTime::now_utc(),
        );
        t.state = TxState::AwaitingCash;
        t.amount_cents = Some(2000);
        t.limits = Some(Limits {
            min_cents: 500,
            max_cents: 30000,
        });
        t.code = Some("123456789012".into());
        t.consumer_ref = Some("c_1".into());
        t
    }

    fn draft(key: &str) -> OutboxDraft {
        OutboxDraft {
            purpose: "recharge".into(),
            method: "POST".into(),
            path: "/v1/recharges".into(),
            idempotency_key: key.into(),
            body: b"{}".to_vec(),
        }
    }

    fn pay(store: &mut Store, id: &str) -> Transaction {
        let mut t = sample(id);
        store.save_unpaid(&t).unwrap();
        store
            .commit_payment(&mut t, "T-000001", OffsetDateTime::now_utc(), 5000, |p| {
                Ok(vec![draft(&p.id)])
            })
            .unwrap();
        t
    }

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
        let err = s.commit_payment(&mut t, "T-000001", OffsetDateTime::now_utc(), 5000, |_| {
            Ok(vec![draft("a")])
        });
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
    fn verify_names_the_edited_entry() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.sqlite");
        let mut s = Store::open(&path).unwrap();
        for id in ["a", "b", "c"] {
            pay(&mut s, id);
        }
        assert_eq!(s.verify_journal().unwrap().entries, 3);
        s.conn
            .execute(
                "UPDATE journal SET body = replace(body, '5000', '9000') WHERE seq = 2",
                [],
            )
            .unwrap();
        let err = s.verify_journal().unwrap_err();
        assert_eq!(
            err,
            ChainError::Entry {
                seq: 2,
                reason: "its content does not match its hash: the entry was edited".into()
            }
        );
    }

    #[test]
    fn verify_names_the_first_of_several_edited_entries_across_batches() {
        // Test batches hold 2 entries: 9 entries make 5 batches, hashed on
        // several threads; the first edited entry is reported, whichever
        // batch was hashed first.
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(&dir.path().join("j.sqlite")).unwrap();
        for i in 0..9 {
            pay(&mut s, &format!("t{i}"));
        }
        assert_eq!(s.verify_journal().unwrap().entries, 9);
        s.conn
            .execute(
                "UPDATE journal SET body = replace(body, '5000', '9000') WHERE seq IN (8, 3, 6)",
                [],
            )
            .unwrap();
        for _ in 0..10 {
            assert!(matches!(
                s.verify_journal(),
                Err(ChainError::Entry { seq: 3, .. })
            ));
        }
    }

    #[test]
    fn verify_detects_deleted_and_truncated_entries() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(&dir.path().join("j.sqlite")).unwrap();
        for id in ["a", "b", "c"] {
            pay(&mut s, id);
        }
        s.conn
            .execute("DELETE FROM journal WHERE seq = 3", [])
            .unwrap();
        assert!(matches!(s.verify_journal(), Err(ChainError::Other(_))));
        s.conn
            .execute("DELETE FROM journal WHERE seq = 1", [])
            .unwrap();
        assert!(matches!(
            s.verify_journal(),
            Err(ChainError::Entry { seq: 1, .. })
        ));
    }

    #[test]
    fn a_payment_committed_during_a_verify_is_not_taken_for_a_deletion() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.sqlite");
        let mut s = Store::open(&path).unwrap();
        pay(&mut s, "a");
        let reader = Store::open_read_only(&path).unwrap();
        // The payment commits after the rows were read, before meta is.
        let v = reader
            .verify_journal_with(|| {
                pay(&mut s, "b");
            })
            .unwrap();
        assert_eq!(v.entries, 1);
        assert_eq!(reader.verify_journal().unwrap().entries, 2);
    }

    #[test]
    fn appending_onto_a_truncated_journal_is_refused_and_stays_visible() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(&dir.path().join("j.sqlite")).unwrap();
        for id in ["a", "b", "c"] {
            pay(&mut s, id);
        }
        s.conn
            .execute("DELETE FROM journal WHERE seq = 3", [])
            .unwrap();
        let mut t = sample("d");
        s.save_unpaid(&t).unwrap();
        let err = s
            .commit_payment(&mut t, "T-000001", OffsetDateTime::now_utc(), 5000, |p| {
                Ok(vec![draft(&p.id)])
            })
            .unwrap_err();
        assert!(matches!(err, StoreError::JournalTampered(_)), "{err}");
        assert_eq!(t.state, TxState::AwaitingCash, "the payment was not taken");
        // Also with the count rewritten to match: the head gives it away.
        s.conn
            .execute(
                "UPDATE meta SET value = '2' WHERE key = 'journal_entries'",
                [],
            )
            .unwrap();
        assert!(matches!(
            s.journal_event("reprint", None, &serde_json::json!({})),
            Err(StoreError::JournalTampered(_))
        ));
        assert!(s.verify_journal().is_err());
    }

    #[test]
    fn a_schema_3_journal_migrates_and_still_verifies_with_the_same_head() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.sqlite");
        let t = {
            let mut t = sample("a");
            t.state = TxState::Paid;
            t.receipt_number = Some("T-000001/2026/000001".into());
            t.paid_at = Some(OffsetDateTime::now_utc().replace_nanosecond(0).unwrap());
            t.tendered_cents = Some(5000);
            t.change_cents = Some(3000);
            t.sync = Some(SyncState::Pending);
            t
        };
        let old_head = {
            let conn = Connection::open(&path).unwrap();
            for step in &MIGRATIONS[..3] {
                conn.execute_batch(step).unwrap();
            }
            conn.pragma_update(None, "user_version", 3).unwrap();
            let data = serde_json::to_string(&t).unwrap();
            conn.execute(
                "INSERT INTO transactions (id, state, created_at, paid_at, receipt_number, sync, data)
                 VALUES ('a', 'paid', ?1, ?2, 'T-000001/2026/000001', 'pending', ?3)",
                params![rfc3339(t.created_at), rfc3339(t.paid_at.unwrap()), data],
            )
            .unwrap();
            let at = rfc3339(t.paid_at.unwrap());
            let hash = hex::encode(entry_hash(1, &at, "paid", Some("a"), &data, &[0; 32]));
            conn.execute(
                "INSERT INTO journal (seq, at, kind, tx_id, body, prev_hash, hash)
                 VALUES (1, ?1, 'paid', 'a', ?2, ?3, ?4)",
                params![at, data, ZERO_HASH, hash],
            )
            .unwrap();
            conn.execute(
                "INSERT INTO meta (key, value) VALUES ('journal_entries', '1')",
                [],
            )
            .unwrap();
            let year = crate::time_fmt::local(t.paid_at.unwrap()).year();
            conn.execute(
                "INSERT INTO receipt_counters (year, last) VALUES (?1, 1)",
                [year],
            )
            .unwrap();
            hash
        };
        let mut s = Store::open(&path).unwrap();
        assert_eq!(s.schema_version().unwrap(), MIGRATIONS.len() as i64);
        let v = s.verify_journal().unwrap();
        assert_eq!((v.entries, v.head.clone()), (1, old_head));
        let back = s.transaction("a").unwrap().unwrap();
        assert_eq!(back, t, "the row reads back the same through `data`");
        let r = s.receipt_record("T-000001/2026/000001").unwrap().unwrap();
        assert_eq!(r.tx.amount_cents, Some(2000));
        assert_eq!(r.seq, 1);
        // And the chain goes on from there.
        pay(&mut s, "b");
        assert_eq!(s.verify_journal().unwrap().entries, 2);
    }

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
        assert_eq!(t.sync, Some(SyncState::Confirmed));
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
        assert!(updated.iter().all(|t| t.sync == Some(SyncState::Confirmed)));
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

    #[test]
    fn reopening_keeps_everything_and_does_not_remigrate() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.sqlite");
        {
            let mut s = Store::open(&path).unwrap();
            pay(&mut s, "a");
        }
        let s = Store::open(&path).unwrap();
        assert_eq!(s.schema_version().unwrap(), MIGRATIONS.len() as i64);
        assert_eq!(s.transaction("a").unwrap().unwrap().state, TxState::Paid);
    }

    #[test]
    fn the_database_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.sqlite");
        Store::open(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn a_newer_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.sqlite");
        {
            let s = Store::open(&path).unwrap();
            s.conn.pragma_update(None, "user_version", 99).unwrap();
        }
        assert!(matches!(
            Store::open(&path),
            Err(StoreError::TooNew { found: 99, .. })
        ));
    }
}
