//! The hashing half of `journal verify` (`Store::verify_journal` reads the
//! rows, in one read snapshot, and hands them here in batches).
//!
//! Each entry's hash covers its own fields and the stored hash of the entry
//! before it, so every entry can be checked on its own once both are read:
//! the batches are hashed on every core. Helper threads take them from a
//! short queue; when the queue is full the reading thread hashes the batch
//! itself instead of waiting, so reading and hashing share the cores
//! whichever of the two is the slower. The entry reported is still the
//! FIRST one whose content does not match its hash, whatever thread found
//! it and in whatever order the batches were done.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::Mutex;

use sha2::{Digest, Sha256};

/// Entries read, waiting to be hashed: each one's hash input but the
/// previous hash (`seq|at|kind|tx_id|body|`, in `buf`), the stored hash of
/// the entry before it, and its own stored hash.
#[derive(Default)]
pub(crate) struct HashBatch {
    buf: Vec<u8>,
    rows: Vec<HashRow>,
}

struct HashRow {
    seq: i64,
    start: usize,
    end: usize,
    prev: [u8; 32],
    stored: Option<[u8; 32]>,
}

impl HashBatch {
    /// Rows per batch: large enough that the queue costs nothing, small
    /// enough that the work spreads evenly (and, in tests, small enough
    /// that a few entries make several batches).
    const ROWS: usize = if cfg!(test) { 2 } else { 4096 };

    /// Start an entry: its number, then [`HashBatch::field`] for each of
    /// `at`, `kind`, `tx_id` and `body`, then [`HashBatch::end_entry`].
    pub(crate) fn begin_entry(&mut self, seq: i64) -> usize {
        let start = self.buf.len();
        self.buf
            .extend_from_slice(itoa::Buffer::new().format(seq).as_bytes());
        start
    }

    pub(crate) fn field(&mut self, text: &[u8]) {
        self.buf.push(b'|');
        self.buf.extend_from_slice(text);
    }

    /// `prev`: the stored hash of the entry before (zeros for the first);
    /// `stored`: this entry's stored hash (`None` when unreadable, which
    /// never matches).
    pub(crate) fn end_entry(
        &mut self,
        seq: i64,
        start: usize,
        prev: [u8; 32],
        stored: Option<[u8; 32]>,
    ) {
        self.buf.push(b'|');
        self.rows.push(HashRow {
            seq,
            start,
            end: self.buf.len(),
            prev,
            stored,
        });
    }

    pub(crate) fn is_full(&self) -> bool {
        self.rows.len() >= Self::ROWS
    }

    fn clear(&mut self) {
        self.buf.clear();
        self.rows.clear();
    }

    /// The first entry whose hash is not what `store::entry_hash` gives.
    fn first_mismatch(&self) -> Option<i64> {
        let mut prev_hex = [0u8; 64];
        for row in &self.rows {
            // A 32-byte input always fits the 64-byte buffer.
            let _ = hex::encode_to_slice(row.prev, &mut prev_hex);
            let mut h = Sha256::new();
            h.update(&self.buf[row.start..row.end]);
            h.update(prev_hex);
            let computed: [u8; 32] = h.finalize().into();
            if row.stored != Some(computed) {
                return Some(row.seq);
            }
        }
        None
    }
}

/// No mismatch found (yet).
const NONE: i64 = i64::MAX;

/// Hash one batch unless a mismatch before it is already known; keep the
/// smallest mismatching entry number.
fn check(batch: &HashBatch, first_bad: &AtomicI64) {
    let Some(first) = batch.rows.first() else {
        return;
    };
    if first.seq > first_bad.load(Ordering::Relaxed) {
        return;
    }
    if let Some(seq) = batch.first_mismatch() {
        first_bad.fetch_min(seq, Ordering::Relaxed);
    }
}

/// What the reading side hands its batches to (see [`hash_in_parallel`]).
pub(crate) struct Hasher<'a> {
    queue: Option<SyncSender<HashBatch>>,
    spare: &'a Mutex<Vec<HashBatch>>,
    first_bad: &'a AtomicI64,
}

impl Hasher<'_> {
    /// An empty batch to fill (a used one when there is one: its buffers
    /// are already grown).
    pub(crate) fn batch(&self) -> HashBatch {
        self.spare
            .lock()
            .ok()
            .and_then(|mut s| s.pop())
            .unwrap_or_default()
    }

    /// Queue a batch, or hash it here when every helper is busy. `false`
    /// once an entry that does not match its hash has been found: reading
    /// further is useless.
    pub(crate) fn submit(&mut self, batch: HashBatch) -> bool {
        let batch = match self.queue.as_ref().map(|q| q.try_send(batch)) {
            Some(Ok(())) => None,
            Some(Err(TrySendError::Full(b) | TrySendError::Disconnected(b))) => Some(b),
            None => None,
        };
        if let Some(mut b) = batch {
            check(&b, self.first_bad);
            b.clear();
            if let Ok(mut s) = self.spare.lock() {
                s.push(b);
            }
        }
        self.first_bad.load(Ordering::Relaxed) == NONE
    }
}

/// Run `read` on this thread (it owns the SQLite connection) while helper
/// threads hash what it submits; returns what `read` returned and the
/// first entry whose content does not match its stored hash.
pub(crate) fn hash_in_parallel<R>(read: impl FnOnce(&mut Hasher<'_>) -> R) -> (R, Option<i64>) {
    let helpers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .saturating_sub(1)
        .max(1);
    let first_bad = AtomicI64::new(NONE);
    let spare = Mutex::new(Vec::new());
    let (queue, batches) = sync_channel::<HashBatch>(2 * helpers);
    let batches: Mutex<Receiver<HashBatch>> = Mutex::new(batches);
    let result = std::thread::scope(|scope| {
        for _ in 0..helpers {
            scope.spawn(|| loop {
                let next = match batches.lock() {
                    Ok(rx) => rx.recv(),
                    Err(_) => return,
                };
                let Ok(mut batch) = next else {
                    return; // the reader is done and the queue is empty
                };
                check(&batch, &first_bad);
                batch.clear();
                if let Ok(mut s) = spare.lock() {
                    s.push(batch);
                }
            });
        }
        let mut hasher = Hasher {
            queue: Some(queue),
            spare: &spare,
            first_bad: &first_bad,
        };
        let result = read(&mut hasher);
        // Closing the queue lets the helpers finish what is in it and stop.
        hasher.queue = None;
        result
    });
    let bad = first_bad.load(Ordering::Relaxed);
    (result, (bad != NONE).then_some(bad))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::entry_hash;

    /// `n` entries chained like the journal's, with `edited` entries' bodies
    /// changed after hashing; returns the first mismatch found.
    fn walk(n: i64, edited: &[i64]) -> Option<i64> {
        let mut entries = Vec::new();
        let mut prev = [0u8; 32];
        for seq in 1..=n {
            let body = format!("{{\"n\":{seq}}}");
            let hash = entry_hash(seq, "2026-01-01T00:00:00Z", "paid", None, &body, &prev);
            let body = if edited.contains(&seq) {
                body.replace('}', ",\"x\":1}")
            } else {
                body
            };
            entries.push((seq, body, prev, hash));
            prev = hash;
        }
        let ((), bad) = hash_in_parallel(|h| {
            let mut batch = h.batch();
            for (seq, body, prev, hash) in &entries {
                let start = batch.begin_entry(*seq);
                for f in [&b"2026-01-01T00:00:00Z"[..], b"paid", b"", body.as_bytes()] {
                    batch.field(f);
                }
                batch.end_entry(*seq, start, *prev, Some(*hash));
                if batch.is_full() {
                    let full = std::mem::replace(&mut batch, h.batch());
                    if !h.submit(full) {
                        return;
                    }
                }
            }
            h.submit(batch);
        });
        bad
    }

    #[test]
    fn an_intact_chain_of_many_batches_has_no_mismatch() {
        assert_eq!(walk(101, &[]), None);
    }

    #[test]
    fn the_first_edited_entry_is_reported_whatever_thread_hashes_it() {
        for _ in 0..20 {
            assert_eq!(walk(101, &[97, 40, 41, 7]), Some(7));
            assert_eq!(walk(101, &[101]), Some(101));
            assert_eq!(walk(101, &[1, 100]), Some(1));
        }
    }
}
