//! The reads kept for `scan_id` (agent-api.md: a `scan` event's id can
//! create a transaction for 10 minutes; the unmasked text stays in memory
//! only).
//!
//! Bounded, whatever reads pour in (a camera pointed at a screen of QR
//! codes, a script posting `/api/v1/scans` in a loop): at most
//! [`MAX_SCANS`] reads and [`MAX_TOTAL_BYTES`] of text; the oldest go
//! first. A read longer than [`MAX_TEXT_BYTES`] is kept cut to that length:
//! anything over 4 KiB is no code the counter knows, and the cut text is
//! refused by the classifier exactly as the whole one.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a `scan_id` can be used to create a transaction.
pub const SCAN_TTL: Duration = Duration::from_secs(600);
/// Reads kept at most: far more than one counter scans in ten minutes.
pub const MAX_SCANS: usize = 64;
/// Longest text kept for one read (the longest code, a Data Matrix, is 260
/// characters; the classifier refuses anything over 4096 bytes).
pub const MAX_TEXT_BYTES: usize = 8 * 1024;
/// Text kept for all reads together.
pub const MAX_TOTAL_BYTES: usize = 256 * 1024;

struct Scan {
    id: String,
    text: String,
    at: Instant,
}

#[derive(Default)]
struct Inner {
    /// Oldest first.
    scans: VecDeque<Scan>,
    bytes: usize,
}

impl Inner {
    fn pop_oldest(&mut self) {
        if let Some(old) = self.scans.pop_front() {
            self.bytes -= old.text.len();
        }
    }

    fn drop_expired(&mut self, now: Instant, ttl: Duration) {
        while self
            .scans
            .front()
            .is_some_and(|s| now.duration_since(s.at) >= ttl)
        {
            self.pop_oldest();
        }
    }
}

/// The reads behind `scan_id`s, bounded in number, size and age.
pub struct ScanStore {
    ttl: Duration,
    inner: Mutex<Inner>,
}

impl Default for ScanStore {
    fn default() -> Self {
        Self::new(SCAN_TTL)
    }
}

impl ScanStore {
    pub fn new(ttl: Duration) -> Self {
        ScanStore {
            ttl,
            inner: Mutex::new(Inner::default()),
        }
    }

    /// Keep `text` under a new id and return the id; the oldest reads make
    /// room when a bound would be passed.
    pub fn insert(&self, text: &str) -> String {
        let id = uuid::Uuid::new_v4().to_string();
        let text = cut(text, MAX_TEXT_BYTES).to_string();
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner.drop_expired(Instant::now(), self.ttl);
        while inner.scans.len() >= MAX_SCANS || inner.bytes + text.len() > MAX_TOTAL_BYTES {
            inner.pop_oldest();
        }
        inner.bytes += text.len();
        inner.scans.push_back(Scan {
            id: id.clone(),
            text,
            at: Instant::now(),
        });
        id
    }

    /// The text behind `id`, while it is fresh. It stays usable until it
    /// expires or is pushed out (a create that failed can be retried).
    pub fn get(&self, id: &str) -> Option<String> {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner.drop_expired(Instant::now(), self.ttl);
        inner
            .scans
            .iter()
            .find(|s| s.id == id)
            .map(|s| s.text.clone())
    }

    /// Reads kept and their total text size.
    pub fn usage(&self) -> (usize, usize) {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        (inner.scans.len(), inner.bytes)
    }
}

/// `text` cut to at most `max` bytes, at a character boundary.
fn cut(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scans_kept_for_scan_id_are_bounded_in_number() {
        let store = ScanStore::default();
        let ids: Vec<String> = (0..MAX_SCANS * 3)
            .map(|i| store.insert(&format!("read {i}")))
            .collect();
        assert_eq!(store.usage().0, MAX_SCANS);
        // The newest are kept, the oldest went first.
        let last = ids.last().unwrap();
        assert_eq!(
            store.get(last).as_deref(),
            Some(&*format!("read {}", MAX_SCANS * 3 - 1))
        );
        assert!(store.get(&ids[ids.len() - MAX_SCANS]).is_some());
        assert_eq!(store.get(&ids[ids.len() - MAX_SCANS - 1]), None);
        assert_eq!(store.get(&ids[0]), None);
    }

    #[test]
    fn scans_kept_for_scan_id_are_bounded_in_total_size() {
        let store = ScanStore::default();
        let big = "9".repeat(1024 * 1024);
        let mut ids = Vec::new();
        for _ in 0..MAX_SCANS {
            ids.push(store.insert(&big));
            let (_, bytes) = store.usage();
            assert!(bytes <= MAX_TOTAL_BYTES, "{bytes} bytes kept");
        }
        let (count, bytes) = store.usage();
        assert_eq!(count, MAX_TOTAL_BYTES / MAX_TEXT_BYTES);
        assert_eq!(bytes, count * MAX_TEXT_BYTES);
        assert_eq!(
            store.get(ids.last().unwrap()).unwrap().len(),
            MAX_TEXT_BYTES
        );
        assert_eq!(store.get(&ids[0]), None);
        // A small read still finds room, pushing out the oldest big one.
        let small = store.insert("PAGOPA|002|301000000000012373|00514490010|2550");
        assert!(store.get(&small).is_some());
        assert!(store.usage().1 <= MAX_TOTAL_BYTES);
    }

    #[test]
    fn a_read_cut_to_size_is_refused_like_the_whole_one() {
        let store = ScanStore::default();
        for whole in ["Z".repeat(100_000), "é".repeat(50_000)] {
            let kept = store.get(&store.insert(&whole)).unwrap();
            assert!(kept.len() <= MAX_TEXT_BYTES);
            assert!(whole.starts_with(&kept));
            assert_eq!(
                pos_codes::classify(&kept).unwrap_err().code(),
                pos_codes::classify(&whole).unwrap_err().code()
            );
        }
    }

    #[test]
    fn scans_expire() {
        let store = ScanStore::new(Duration::from_millis(0));
        let id = store.insert("x");
        assert_eq!(store.get(&id), None);
        assert_eq!(store.usage(), (0, 0));
    }
}
