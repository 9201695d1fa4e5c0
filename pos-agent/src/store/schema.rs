//! The schema and its migrations: one step per version, applied in order.

use std::path::Path;

use super::{map_full, Store, StoreError};

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
    // 6: items (issue 15). Each outbox entry names the item of its
    // transaction it credits (1 for every entry written before items);
    // every stored transaction is rewritten in the items shape by
    // `items_shape` in the same SQLite transaction.
    r#"
    ALTER TABLE outbox ADD COLUMN item INTEGER NOT NULL DEFAULT 1;
    "#,
];

/// The migration after which every transaction row is rewritten as a
/// transaction with items (the model reads the shape before items as one
/// item; the rewrite makes the stored rows say so too).
const ITEMS_MIGRATION: usize = 6;

/// Rewrites every stored transaction in the items shape: read through the
/// model (which reads the shape before items as a one-item transaction)
/// and written back. Rows already in the items shape come back unchanged.
fn items_shape(tx: &rusqlite::Transaction<'_>) -> Result<(), StoreError> {
    let rows: Vec<String> = tx
        .prepare("SELECT data FROM transactions")?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    for data in rows {
        let t = super::transactions::row_to_tx(data)?;
        super::transactions::upsert_tx(tx, &t)?;
    }
    Ok(())
}

impl Store {
    pub(super) fn migrate(&mut self, path: &Path) -> Result<(), StoreError> {
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
            if i + 1 == ITEMS_MIGRATION {
                items_shape(&tx)?;
            }
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{SyncState, TxState};
    use crate::store::journal::{entry_hash, ZERO_HASH};
    use crate::store::testing::{pay, sample};
    use crate::time_fmt::rfc3339;
    use rusqlite::{params, Connection};
    use time::OffsetDateTime;

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
            t.items[0].sync = Some(SyncState::Pending);
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
        assert_eq!(r.tx.amount_cents(), Some(2000));
        assert_eq!(r.seq, 1);
        // And the chain goes on from there.
        pay(&mut s, "b");
        assert_eq!(s.verify_journal().unwrap().entries, 2);
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
