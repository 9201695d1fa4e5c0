//! The journal: append-only and hash-chained (see the formula in
//! [`crate::store`]); its head, its entries, and `journal verify`.

use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use super::{map_full, Store, StoreError};
use crate::time_fmt::rfc3339;

pub(super) const ZERO_HASH: &str =
    "0000000000000000000000000000000000000000000000000000000000000000";

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
pub(super) fn append_journal(
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

impl Store {
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
    /// `store/journal_verify.rs`).
    fn verify_in_read_tx(&self, walked: impl FnOnce()) -> Result<VerifyReport, ChainError> {
        let sql_err = |e: rusqlite::Error| ChainError::Other(e.to_string());
        // Read `meta` first: it starts the read snapshot the walk then sees.
        let (recorded, recorded_head) = recorded_head(&self.conn).map_err(sql_err)?;
        let mut st = self
            .conn
            .prepare("SELECT seq, at, kind, tx_id, body, hash FROM journal ORDER BY seq")
            .map_err(sql_err)?;
        let mut rows = st.query([]).map_err(sql_err)?;
        let ((read, last), bad) = super::journal_verify::hash_in_parallel(|hasher| {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::TxState;
    use crate::store::testing::{pay, sample, try_pay};

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
        let err = try_pay(&mut s, &mut t, "d").unwrap_err();
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
}
