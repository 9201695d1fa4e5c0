//! `pos-agent backup` and `pos-agent restore` (issue 17,
//! config-and-cli.md): a copy of the journal a technician can trust, and
//! putting it on a new PC.
//!
//! Backup, while the agent runs:
//!
//! 1. one read transaction on the live journal (read-only connection: the
//!    backup never writes to the data directory's database, and the agent
//!    keeps paying meanwhile, WAL readers do not block the writer): the
//!    journal's length and head are read, then SQLite's online backup API
//!    copies every page of that same snapshot in one step (never a file
//!    copy of a live database);
//! 2. the copy is switched to a self-contained file (no `-wal`), synced,
//!    and verified: its hash chain walks (`journal verify` on it) and its
//!    entries and head equal the source's at the copy;
//! 3. only then is it renamed to `journal-YYYYMMDDTHHMMSSZ.sqlite`, with
//!    its manifest `FILE.json` (time, entries, head, agent version, schema,
//!    size, SHA-256 of the file) beside it; the oldest copies beyond `keep`
//!    are removed; `data_dir/last-backup.json` records it for `status` and
//!    `doctor`.
//!
//! Restore, on a new PC: refuses when the data directory already has a
//! journal (nothing is changed), takes the instance lock (no agent may
//! start meanwhile), checks the file against its manifest (SHA-256, entries,
//! head) when there is one and always walks its chain, then installs it
//! atomically (copy to a temporary name, sync, rename). The outbox comes
//! back exactly as it was: entries already confirmed stay confirmed and are
//! never sent again; pending ones are retried with their stored bytes and
//! idempotency keys, so the backend credits each at most once. The
//! terminal's credentials are not in a backup: the technician enrols the
//! new PC or copies `terminal.json` explicitly.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context};
use rusqlite::Connection;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::datadir::{LastBackup, Manifest, LAST_BACKUP};
use crate::store::Store;
use crate::time_fmt::rfc3339;

const PREFIX: &str = "journal-";
const SUFFIX: &str = ".sqlite";

fn journal_path(config: &pos_config::Config) -> PathBuf {
    config.data_dir.join("journal.sqlite")
}

/// Opens an existing journal read-only; never creates one (a mistyped
/// `data_dir` must not look like an empty, valid journal).
pub fn open_existing_read_only(path: &Path, config_hint: &str) -> anyhow::Result<Store> {
    if !path.is_file() {
        bail!(
            "no journal at {}: check data_dir in {config_hint} (nothing was created)",
            path.display()
        );
    }
    Store::open_read_only(path).map_err(|e| anyhow!("opening {}: {e}", path.display()))
}

fn sha256_file(path: &Path) -> anyhow::Result<String> {
    let mut f = File::open(path).with_context(|| format!("reading {}", path.display()))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex::encode(h.finalize()))
}

fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

fn write_file_atomic(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let tmp = path.with_extension("json.tmp");
    {
        let mut f = OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .mode(0o600)
            .open(&tmp)
            .with_context(|| format!("writing {}", tmp.display()))?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// What a backup did.
#[derive(Debug, Clone)]
pub struct BackupReport {
    pub path: PathBuf,
    pub manifest: Manifest,
    pub removed: Vec<PathBuf>,
}

/// `pos-agent backup --to DIR [--keep N]`.
pub fn backup(
    config: &pos_config::Config,
    config_hint: &str,
    to: Option<&Path>,
    keep: Option<u32>,
) -> anyhow::Result<BackupReport> {
    let dir = to.map(Path::to_path_buf).or_else(|| config.backup.dir.clone()).ok_or_else(|| {
        anyhow!("where to? give --to DIR (a USB stick or a mounted share), or set dir in the [backup] section of {config_hint}")
    })?;
    let keep = keep.unwrap_or(config.backup.keep);
    if keep == 0 {
        bail!("--keep 0 would remove the copy just made; keep at least 1");
    }
    let source_path = journal_path(config);
    let source = open_existing_read_only(&source_path, config_hint)?;
    fs::create_dir_all(&dir).with_context(|| {
        format!(
            "cannot create {}: is the stick mounted and writable?",
            dir.display()
        )
    })?;
    let now = OffsetDateTime::now_utc();
    let stamp = format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second()
    );
    let mut name = format!("{PREFIX}{stamp}{SUFFIX}");
    let mut n = 1;
    while dir.join(&name).exists() {
        n += 1;
        name = format!("{PREFIX}{stamp}-{n}{SUFFIX}");
    }
    let final_path = dir.join(&name);
    let tmp = dir.join(format!(".{name}.partial"));
    let _ = fs::remove_file(&tmp);
    let result = copy_and_verify(&source, &tmp);
    let (entries, head, schema) = match result {
        Ok(v) => v,
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            return Err(e);
        }
    };
    drop(source);
    let bytes = fs::metadata(&tmp)?.len();
    let manifest = Manifest {
        created_at: rfc3339(now),
        file: name.clone(),
        entries,
        head,
        agent_version: env!("CARGO_PKG_VERSION").to_string(),
        schema_version: schema,
        bytes,
        sha256: sha256_file(&tmp)?,
    };
    fs::rename(&tmp, &final_path)
        .with_context(|| format!("renaming the copy to {}", final_path.display()))?;
    let json = serde_json::to_vec_pretty(&manifest)?;
    write_file_atomic(&manifest_path(&final_path), &json)?;
    sync_dir(&dir);
    let removed = prune(&dir, keep as usize)?;
    let last = LastBackup {
        path: final_path.display().to_string(),
        manifest: manifest.clone(),
    };
    // The data directory may not be writable by whoever ran the backup
    // (root on the service's directory): the copy itself is what matters.
    if let Err(e) = write_file_atomic(
        &config.data_dir.join(LAST_BACKUP),
        &serde_json::to_vec_pretty(&last)?,
    ) {
        tracing::warn!(error = %e, "could not record the last backup in the data directory");
    }
    Ok(BackupReport {
        path: final_path,
        manifest,
        removed,
    })
}

/// `FILE.json` for `FILE`.
pub fn manifest_path(copy: &Path) -> PathBuf {
    let mut s = copy.as_os_str().to_owned();
    s.push(".json");
    PathBuf::from(s)
}

/// The copy, taken in one read snapshot of the source, then verified.
/// Returns the entries, head and schema version.
fn copy_and_verify(source: &Store, tmp: &Path) -> anyhow::Result<(i64, String, i64)> {
    let taken = source.in_read_snapshot(|| -> anyhow::Result<(i64, String, i64)> {
        // The first read starts the snapshot the backup then copies.
        let (entries, head) = source.journal_head()?;
        let schema = source.schema_version()?;
        let mut dst = Connection::open(tmp).with_context(|| {
            format!(
                "cannot write {}: is the stick full or read-only?",
                tmp.display()
            )
        })?;
        source.copy_pages_into(&mut dst)?;
        // One self-contained file, on the medium before it is trusted.
        dst.pragma_update(None, "journal_mode", "DELETE")?;
        drop(dst);
        File::open(tmp)?.sync_all()?;
        Ok((entries, head, schema))
    })?;
    let (entries, head, schema) = taken?;
    let copy = Store::open_read_only(tmp)?;
    let v = copy.verify_journal().map_err(|e| {
        anyhow!("the copy does not verify ({e}): it was not kept; check the medium and try again")
    })?;
    if v.entries != entries || v.head != head {
        bail!(
            "the copy holds {} entries ending {} but the journal held {entries} ending {} when it was taken: it was not kept; check the medium and try again",
            v.entries,
            &v.head[..12.min(v.head.len())],
            &head[..12.min(head.len())]
        );
    }
    Ok((entries, head, schema))
}

/// Removes the oldest copies (and their manifests) beyond `keep`.
fn prune(dir: &Path, keep: usize) -> anyhow::Result<Vec<PathBuf>> {
    let mut copies: Vec<PathBuf> = fs::read_dir(dir)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(PREFIX) && n.ends_with(SUFFIX))
        })
        .collect();
    // The names hold the UTC time (and `-N` for a second copy within the
    // same second): that order is time order.
    let key = |p: &PathBuf| -> (String, u32) {
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        let stem = &name[PREFIX.len()..name.len() - SUFFIX.len()];
        match stem.split_once('-') {
            Some((stamp, n)) => (stamp.to_string(), n.parse().unwrap_or(0)),
            None => (stem.to_string(), 1),
        }
    };
    copies.sort_by_key(key);
    let mut removed = Vec::new();
    while copies.len() > keep {
        let old = copies.remove(0);
        fs::remove_file(&old).with_context(|| format!("removing {}", old.display()))?;
        let _ = fs::remove_file(manifest_path(&old));
        removed.push(old);
    }
    Ok(removed)
}

/// What `restore` installed.
#[derive(Debug, Clone)]
pub struct RestoreReport {
    pub entries: i64,
    pub head: String,
    pub outbox_pending: i64,
    pub enrolled: bool,
}

/// Checks a copy: its manifest when there is one (SHA-256, entries,
/// head), and always its hash chain. Returns the verified entries/head.
pub fn verify_copy(file: &Path) -> anyhow::Result<(i64, String)> {
    if !file.is_file() {
        bail!("{} does not exist", file.display());
    }
    let manifest: Option<Manifest> = match fs::read(manifest_path(file)) {
        Ok(bytes) => Some(serde_json::from_slice(&bytes).map_err(|e| {
            anyhow!(
                "{} is not a backup manifest ({e})",
                manifest_path(file).display()
            )
        })?),
        Err(_) => None,
    };
    if let Some(m) = &manifest {
        let sha = sha256_file(file)?;
        if sha != m.sha256 {
            bail!(
                "{} is damaged: its content is not what was copied (SHA-256 differs from {}); use another copy",
                file.display(),
                manifest_path(file).display()
            );
        }
    }
    let store = Store::open_read_only(file)
        .map_err(|e| anyhow!("{} is not a pos-agent journal: {e}", file.display()))?;
    let v = store
        .verify_journal()
        .map_err(|e| anyhow!("{} does not verify: {e}; use another copy", file.display()))?;
    if let Some(m) = &manifest {
        if v.entries != m.entries || v.head != m.head {
            bail!(
                "{} holds {} entries but its manifest says {}: use another copy",
                file.display(),
                v.entries,
                m.entries
            );
        }
    }
    Ok((v.entries, v.head))
}

/// `pos-agent restore --from FILE`.
pub fn restore(config: &pos_config::Config, from: &Path) -> anyhow::Result<RestoreReport> {
    let target = journal_path(config);
    let refuse = || {
        anyhow!(
            "{} already has a journal: restore only onto a data directory without one (a new PC); nothing was changed",
            config.data_dir.display()
        )
    };
    let exists = |p: &Path| p.exists();
    let wal = config.data_dir.join("journal.sqlite-wal");
    if exists(&target) || exists(&wal) {
        return Err(refuse());
    }
    let (entries, head) = verify_copy(from)?;
    let data = crate::datadir::DataDir::open(&config.data_dir)?;
    // No agent may start (and create a journal) while the copy goes in.
    let _lock = data.lock()?;
    if exists(&target) || exists(&wal) {
        return Err(refuse());
    }
    let tmp = config.data_dir.join(".journal.sqlite.restoring");
    let _ = fs::remove_file(&tmp);
    let installed = (|| -> anyhow::Result<i64> {
        {
            let mut src = File::open(from)?;
            let mut dst = OpenOptions::new()
                .create_new(true)
                .write(true)
                .mode(0o600)
                .open(&tmp)?;
            std::io::copy(&mut src, &mut dst)?;
            dst.sync_all()?;
        }
        let pending = Store::prepare_restored_copy(&tmp)?;
        File::open(&tmp)?.sync_all()?;
        Ok(pending)
    })();
    let pending = match installed {
        Ok(p) => p,
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            return Err(e.context("installing the copy (nothing was changed)"));
        }
    };
    fs::rename(&tmp, &target).with_context(|| format!("installing {}", target.display()))?;
    sync_dir(&config.data_dir);
    Ok(RestoreReport {
        entries,
        head,
        outbox_pending: pending,
        enrolled: data.terminal_path().exists(),
    })
}

/// `pos-agent backup [--to DIR] [--keep N]`: prints the copy's path.
pub fn command(
    config_arg: Option<&Path>,
    to: Option<&Path>,
    keep: Option<u32>,
) -> anyhow::Result<std::process::ExitCode> {
    let config = super::load_config(config_arg)?;
    let hint = pos_config::config_path(config_arg).display().to_string();
    let r = backup(&config, &hint, to, keep)?;
    eprintln!(
        "Copia verificata: {} voci, ultima {} ({} copie vecchie rimosse)",
        r.manifest.entries,
        &r.manifest.head[..12.min(r.manifest.head.len())],
        r.removed.len()
    );
    println!("{}", r.path.display());
    Ok(std::process::ExitCode::SUCCESS)
}

/// `pos-agent restore --from FILE`.
pub fn restore_command(
    config_arg: Option<&Path>,
    from: &Path,
) -> anyhow::Result<std::process::ExitCode> {
    let config = super::load_config(config_arg)?;
    let r = restore(&config, from)?;
    println!(
        "Giornale ripristinato in {}: {} voci verificate, {} richieste ancora da inviare al backend.",
        config.data_dir.display(),
        r.entries,
        r.outbox_pending
    );
    if !r.enrolled {
        println!(
            "Le credenziali del terminale non sono nella copia: registra questo PC (pos-agent enroll) o copia terminal.json dal vecchio PC, poi avvia il servizio."
        );
    }
    Ok(std::process::ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datadir::{backup_warning, last_backup};

    fn config(dir: &Path) -> pos_config::Config {
        pos_config::Config {
            data_dir: dir.join("data"),
            ..pos_config::Config::default()
        }
    }

    fn journal_with_entries(config: &pos_config::Config, n: usize) {
        let data = crate::datadir::DataDir::open(&config.data_dir).unwrap();
        let mut s = Store::open(&data.journal_path()).unwrap();
        for i in 0..n {
            s.journal_event("test", None, &serde_json::json!({ "i": i }))
                .unwrap();
        }
    }

    #[test]
    fn a_backup_verifies_keeps_n_and_restores_elsewhere() {
        let dir = tempfile::tempdir().unwrap();
        let c = config(dir.path());
        journal_with_entries(&c, 5);
        let to = dir.path().join("usb");
        let mut made = Vec::new();
        for _ in 0..3 {
            let r = backup(&c, "config.toml", Some(&to), Some(2)).unwrap();
            assert_eq!(r.manifest.entries, 5);
            made.push(r.path);
        }
        // Only the last two are kept, each with its manifest.
        assert!(!made[0].exists() && !manifest_path(&made[0]).exists());
        assert!(made[1].exists() && made[2].exists());
        assert!(manifest_path(&made[2]).exists());
        assert_eq!(
            last_backup(&c.data_dir).unwrap().path,
            made[2].display().to_string()
        );
        assert!(backup_warning(&c, OffsetDateTime::now_utc()).is_none());
        let later = OffsetDateTime::now_utc() + time::Duration::days(3);
        assert!(backup_warning(&c, later).unwrap().contains("3 giorni"));

        // Restore onto another data directory.
        let other = pos_config::Config {
            data_dir: dir.path().join("new-pc"),
            ..pos_config::Config::default()
        };
        let r = restore(&other, &made[2]).unwrap();
        assert_eq!(r.entries, 5);
        assert!(!r.enrolled);
        let s = Store::open(&other.data_dir.join("journal.sqlite")).unwrap();
        assert_eq!(s.verify_journal().unwrap().entries, 5);
        // A second restore is refused.
        let err = restore(&other, &made[2]).unwrap_err().to_string();
        assert!(err.contains("already has a journal"), "{err}");
    }

    #[test]
    fn a_damaged_copy_is_reported_and_not_restored() {
        let dir = tempfile::tempdir().unwrap();
        let c = config(dir.path());
        journal_with_entries(&c, 3);
        let r = backup(&c, "config.toml", Some(&dir.path().join("usb")), None).unwrap();
        // One byte changed in the middle of the file.
        let mut bytes = fs::read(&r.path).unwrap();
        let mid = bytes.len() / 2;
        bytes[mid] ^= 0x55;
        fs::write(&r.path, bytes).unwrap();
        let err = verify_copy(&r.path).unwrap_err().to_string();
        assert!(err.contains("damaged"), "{err}");
        let other = pos_config::Config {
            data_dir: dir.path().join("new-pc"),
            ..pos_config::Config::default()
        };
        assert!(restore(&other, &r.path).is_err());
        assert!(!other.data_dir.join("journal.sqlite").exists());
    }

    #[test]
    fn no_journal_no_backup_and_nothing_created() {
        let dir = tempfile::tempdir().unwrap();
        let c = config(dir.path());
        let err = backup(&c, "config.toml", Some(&dir.path().join("usb")), None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("no journal at"), "{err}");
        assert!(!c.data_dir.exists());
    }
}
