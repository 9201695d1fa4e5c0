//! What `pos-agent backup` and `restore` do to the database itself: the
//! online backup of one read snapshot, and the copy readied for a new PC.
//! (The files, manifests and checks around them are `commands/backup.rs`.)

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use super::Store;

impl Store {
    /// Copies every page of the database into `dst` with SQLite's online
    /// backup API, in one step: inside [`Store::in_read_snapshot`], the
    /// whole copy is that snapshot.
    pub fn copy_pages_into(&self, dst: &mut Connection) -> Result<(), rusqlite::Error> {
        let src = &self.conn;
        let backup = rusqlite::backup::Backup::new(src, dst)?;
        // Every page in one step: the whole copy is one snapshot.
        loop {
            match backup.step(-1)? {
                rusqlite::backup::StepResult::Done => break,
                rusqlite::backup::StepResult::More => continue,
                rusqlite::backup::StepResult::Busy | rusqlite::backup::StepResult::Locked => {
                    std::thread::sleep(Duration::from_millis(50))
                }
                _ => std::thread::sleep(Duration::from_millis(50)),
            }
        }
        Ok(())
    }

    /// Readies a restored copy (not yet installed) for this PC; returns the
    /// requests still to send.
    pub fn prepare_restored_copy(path: &Path) -> Result<i64, rusqlite::Error> {
        let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_WRITE)?;
        conn.pragma_update(None, "journal_mode", "DELETE")?;
        // Receipts that were waiting for the old PC's printer are not
        // printed hours or months later on the new one.
        conn.execute(
            "UPDATE print_jobs SET state = 'skipped', last_error = 'restored from a backup'
             WHERE state = 'pending'",
            [],
        )?;
        // Pending requests go out as soon as the agent starts.
        conn.execute(
            "UPDATE outbox SET next_attempt_at = NULL WHERE state = 'pending'",
            [],
        )?;
        let pending: i64 = conn.query_row(
            "SELECT COUNT(*) FROM outbox WHERE state = 'pending'",
            [],
            |r| r.get(0),
        )?;
        drop(conn);
        Ok(pending)
    }
}
