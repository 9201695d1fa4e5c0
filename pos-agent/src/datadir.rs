//! The agent's data directory: the single-instance lock, the terminal's
//! credentials, the cached signing keys, and the record of the last
//! verified backup (`last-backup.json`).
//!
//! Only one agent may run on a data directory: two senders of one outbox are
//! how point-of-sale systems credit twice. `run` and `sandbox` hold an
//! exclusive `flock` on `agent.lock` for their whole life; the kernel drops
//! it when the process dies, even by SIGKILL, so a crash never leaves a stale
//! lock behind.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::time_fmt::parse_rfc3339;

#[derive(Debug, thiserror::Error)]
pub enum DataDirError {
    #[error("data directory {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("another pos-agent is already running on {0} (it holds agent.lock); stop it first: two agents on one data directory could credit a payment twice")]
    Locked(String),
    #[error("this terminal is not enrolled ({0} is missing); run `pos-agent enroll --activation-code CODE`")]
    NotEnrolled(String),
    #[error("{path} is not a valid terminal file: {reason}; enrol again with `pos-agent enroll`")]
    BadTerminal { path: String, reason: String },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> DataDirError + '_ {
    move |source| DataDirError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// The terminal's identity, from enrollment. The secret is kept as the base64
/// text of the enrollment answer; it is only decoded by the backend client.
#[derive(Clone, Serialize, Deserialize)]
pub struct TerminalFile {
    pub terminal_id: String,
    pub secret: String,
    #[serde(default)]
    pub psp: serde_json::Value,
    #[serde(default)]
    pub location: serde_json::Value,
    #[serde(default)]
    pub enrolled_at: Option<String>,
}

impl std::fmt::Debug for TerminalFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TerminalFile")
            .field("terminal_id", &self.terminal_id)
            .field("secret", &"***")
            .finish()
    }
}

#[derive(Debug, Clone)]
pub struct DataDir {
    pub path: PathBuf,
}

/// Held for the life of the agent; dropping it releases the lock.
#[derive(Debug)]
pub struct InstanceLock {
    _file: File,
}

impl DataDir {
    /// Create the directory (mode 0700) if needed.
    pub fn open(path: &Path) -> Result<DataDir, DataDirError> {
        fs::create_dir_all(path).map_err(io(path))?;
        let _ = fs::set_permissions(path, fs::Permissions::from_mode(0o700));
        Ok(DataDir {
            path: path.to_path_buf(),
        })
    }

    pub fn journal_path(&self) -> PathBuf {
        self.path.join("journal.sqlite")
    }

    pub fn terminal_path(&self) -> PathBuf {
        self.path.join("terminal.json")
    }

    pub fn keys_path(&self) -> PathBuf {
        self.path.join("keys.json")
    }

    /// Take the single-instance lock or fail at once.
    pub fn lock(&self) -> Result<InstanceLock, DataDirError> {
        let path = self.path.join("agent.lock");
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(&path)
            .map_err(io(&path))?;
        // SAFETY: flock on a valid, owned file descriptor.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc != 0 {
            let err = std::io::Error::last_os_error();
            if err.raw_os_error() == Some(libc::EWOULDBLOCK) {
                return Err(DataDirError::Locked(self.path.display().to_string()));
            }
            return Err(io(&path)(err));
        }
        let mut f = &file;
        let _ = f.set_len(0);
        let _ = writeln!(f, "{}", std::process::id());
        Ok(InstanceLock { _file: file })
    }

    pub fn read_terminal(&self) -> Result<TerminalFile, DataDirError> {
        let path = self.terminal_path();
        let text = match fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(DataDirError::NotEnrolled(path.display().to_string()))
            }
            Err(e) => return Err(io(&path)(e)),
        };
        serde_json::from_str(&text).map_err(|e| DataDirError::BadTerminal {
            path: path.display().to_string(),
            reason: e.to_string(),
        })
    }

    pub fn write_terminal(&self, t: &TerminalFile) -> Result<(), DataDirError> {
        let text = serde_json::to_vec_pretty(t).map_err(|e| DataDirError::BadTerminal {
            path: self.terminal_path().display().to_string(),
            reason: e.to_string(),
        })?;
        write_private(&self.terminal_path(), &text)
    }
}

/// Write a file readable by its owner only, atomically (temp file, fsync, rename).
pub fn write_private(path: &Path, bytes: &[u8]) -> Result<(), DataDirError> {
    let tmp = path.with_extension("tmp");
    {
        let mut f = OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(io(&tmp))?;
        f.set_permissions(fs::Permissions::from_mode(0o600))
            .map_err(io(&tmp))?;
        f.write_all(bytes).map_err(io(&tmp))?;
        f.sync_all().map_err(io(&tmp))?;
    }
    fs::rename(&tmp, path).map_err(io(path))?;
    if let Some(dir) = path.parent() {
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}

/// Free bytes on the file system that holds `path`.
pub fn free_bytes(path: &Path) -> Option<u64> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let c = CString::new(path.as_os_str().as_bytes()).ok()?;
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: c is a valid NUL-terminated path and st a valid out pointer.
    let rc = unsafe { libc::statvfs(c.as_ptr(), &mut st) };
    if rc != 0 {
        return None;
    }
    Some(st.f_bavail as u64 * st.f_frsize as u64)
}

// ----- the last verified backup (`last-backup.json`), for `status` and
// `doctor`; `pos-agent backup` (commands/backup.rs) writes it -----

/// `FILE.json` beside every copy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// When the copy was taken (UTC).
    pub created_at: String,
    /// The copy's file name, in the same directory.
    pub file: String,
    /// Journal entries in the copy, and the hex hash of the last one.
    pub entries: i64,
    pub head: String,
    pub agent_version: String,
    pub schema_version: i64,
    pub bytes: u64,
    /// SHA-256 of the whole file: a copy damaged later is told at once.
    pub sha256: String,
}

/// `data_dir/last-backup.json`: the last verified copy, for `status` and
/// `doctor`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastBackup {
    pub path: String,
    #[serde(flatten)]
    pub manifest: Manifest,
}

pub(crate) const LAST_BACKUP: &str = "last-backup.json";

/// The last verified backup, when one was recorded.
pub fn last_backup(data_dir: &Path) -> Option<LastBackup> {
    let bytes = fs::read(data_dir.join(LAST_BACKUP)).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Why the last backup is a concern, in Italian for the technician, or
/// `None` when it is recent enough.
pub fn backup_warning(config: &pos_config::Config, now: OffsetDateTime) -> Option<String> {
    let max = config.backup.max_age_days;
    match last_backup(&config.data_dir) {
        None => Some("nessuna copia di sicurezza verificata del giornale".into()),
        Some(b) => {
            let at = parse_rfc3339(&b.manifest.created_at)?;
            let age = now - at;
            if age > time::Duration::days(i64::from(max)) {
                Some(format!(
                    "l'ultima copia di sicurezza verificata ha {} giorni (più di {max})",
                    age.whole_days()
                ))
            } else {
                None
            }
        }
    }
}

/// `status.backup`.
pub fn status_json(config: &pos_config::Config) -> serde_json::Value {
    let last = last_backup(&config.data_dir);
    serde_json::json!({
        "last_at": last.as_ref().map(|b| b.manifest.created_at.clone()),
        "path": last.as_ref().map(|b| b.path.clone()),
        "entries": last.as_ref().map(|b| b.manifest.entries),
        "max_age_days": config.backup.max_age_days,
        "warning": backup_warning(config, OffsetDateTime::now_utc()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_lock_is_refused_and_released_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let d = DataDir::open(dir.path()).unwrap();
        let l = d.lock().unwrap();
        assert!(matches!(d.lock(), Err(DataDirError::Locked(_))));
        drop(l);
        d.lock().unwrap();
    }

    #[test]
    fn terminal_file_is_private_and_secret_never_debug_printed() {
        let dir = tempfile::tempdir().unwrap();
        let d = DataDir::open(dir.path()).unwrap();
        let t = TerminalFile {
            terminal_id: "T-1".into(),
            secret: "c2VjcmV0".into(),
            psp: serde_json::Value::Null,
            location: serde_json::Value::Null,
            enrolled_at: None,
        };
        d.write_terminal(&t).unwrap();
        let mode = fs::metadata(d.terminal_path())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(d.read_terminal().unwrap().terminal_id, "T-1");
        assert!(!format!("{t:?}").contains("c2VjcmV0"));
    }

    #[test]
    fn missing_terminal_says_how_to_enrol() {
        let dir = tempfile::tempdir().unwrap();
        let d = DataDir::open(dir.path()).unwrap();
        let e = d.read_terminal().unwrap_err().to_string();
        assert!(e.contains("pos-agent enroll"), "{e}");
    }
}
