//! `pos-agent doctor`: everything a counter needs, checked one line at a
//! time, each failure with the fix, in Italian (technicians are Italian and
//! have nobody to ask).
//!
//! ```text
//! ✓ configurazione: /etc/pos-agent/config.toml valida
//! ✓ cartella dati: /var/lib/pos-agent scrivibile, 12.3 GB liberi
//! ✗ orologio: 95 s avanti rispetto al backend → sincronizza l'ora: sudo timedatectl set-ntp true
//! ```
//!
//! `✓` fine, `!` worth knowing but the counter works, `✗` must be fixed
//! (exit status 1), `-` not checked because an earlier line failed.
//!
//! Doctor runs beside a live agent: it never takes the instance lock, opens
//! the journal read-only (a read-only connection also cannot migrate or
//! create a database by mistake), and opens devices only for a moment. Run
//! as root on a data directory owned by the service user it refuses to touch
//! the journal, because SQLite would create `-wal`/`-shm` files the service
//! could then not open.

use std::fmt::Write as _;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::json;

use crate::datadir::{DataDir, DataDirError, TerminalFile};
use crate::store::Store;

/// Below this much free space in `data_dir`, doctor warns.
pub const LOW_DISK_BYTES: u64 = 100 * 1024 * 1024;
/// A pending outbox entry older than this means sync is stuck.
pub const OUTBOX_MAX_AGE: Duration = Duration::from_secs(3600);
/// Clock skew doctor accepts; the backend refuses signatures beyond 300 s,
/// so anything over a minute is fixed before it becomes an outage.
pub const MAX_SKEW_SECS: i64 = 60;

/// How one check went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Ok,
    Warn,
    Fail,
    Skip,
}

impl Status {
    pub fn symbol(self) -> &'static str {
        match self {
            Status::Ok => "✓",
            Status::Warn => "!",
            Status::Fail => "✗",
            Status::Skip => "-",
        }
    }
}

/// One line of the report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Check {
    /// Short Italian name (`backend`, `stampante`, ...).
    pub check: &'static str,
    pub status: Status,
    pub message: String,
    /// What to do about it, when something is to be done.
    pub fix: Option<String>,
}

/// Every check, in the order they ran.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Report {
    pub checks: Vec<Check>,
}

impl Report {
    fn push(&mut self, check: &'static str, status: Status, message: impl Into<String>) {
        self.checks.push(Check {
            check,
            status,
            message: message.into(),
            fix: None,
        });
    }

    fn push_fix(
        &mut self,
        check: &'static str,
        status: Status,
        message: impl Into<String>,
        fix: impl Into<String>,
    ) {
        self.checks.push(Check {
            check,
            status,
            message: message.into(),
            fix: Some(fix.into()),
        });
    }

    /// True when nothing failed (warnings do not count).
    pub fn ok(&self) -> bool {
        !self.checks.iter().any(|c| c.status == Status::Fail)
    }

    pub fn failures(&self) -> usize {
        self.checks
            .iter()
            .filter(|c| c.status == Status::Fail)
            .count()
    }

    /// One line per check, then a one-line verdict.
    pub fn render_text(&self) -> String {
        let mut s = String::new();
        for c in &self.checks {
            let _ = write!(s, "{} {}: {}", c.status.symbol(), c.check, c.message);
            if let Some(fix) = &c.fix {
                let _ = write!(s, " → {fix}");
            }
            s.push('\n');
        }
        match self.failures() {
            0 => s.push_str("Tutto a posto.\n"),
            1 => s.push_str("1 problema da risolvere.\n"),
            n => {
                let _ = writeln!(s, "{n} problemi da risolvere.");
            }
        }
        s
    }

    pub fn to_json(&self) -> serde_json::Value {
        json!({"ok": self.ok(), "checks": self.checks})
    }
}

/// Runs every check with the config at `config_path`.
pub fn run(config_path: &Path) -> Report {
    let mut r = Report::default();
    let config = match pos_config::Config::load(config_path).and_then(|c| c.validate().map(|()| c))
    {
        Ok(c) => {
            r.push(
                "configurazione",
                Status::Ok,
                format!("{} valida", config_path.display()),
            );
            // What the config accepts but a technician should look at
            // (a partita IVA whose check digit is wrong, ...).
            for w in c.warnings() {
                r.push_fix(
                    "configurazione",
                    Status::Warn,
                    w,
                    format!("correggi {}", config_path.display()),
                );
            }
            c
        }
        Err(e) => {
            r.push_fix(
                "configurazione",
                Status::Fail,
                e.to_string(),
                "correggi il file e controllalo con `pos-agent config check` (`pos-agent config init` scrive un esempio commentato)",
            );
            return r;
        }
    };
    let data = check_data_dir(&mut r, &config);
    let terminal = check_terminal(&mut r, &config, data);
    check_journal(&mut r, &config, data);
    check_backup(&mut r, &config);
    check_backend(&mut r, &config, terminal.as_ref());
    check_printer(&mut r, &config);
    check_camera(&mut r, &config);
    check_card_reader(&mut r, &config);
    check_service(&mut r, &config);
    r
}

/// What the data directory checks learnt, for the checks after them.
#[derive(Debug, Clone, Copy, PartialEq)]
enum DataAccess {
    /// Readable and writable by this user.
    Usable,
    /// Missing or unreadable: the checks that read it are skipped.
    Unusable,
    /// Root on a directory owned by someone else: read files, never SQLite.
    RootOnServiceDir,
}

fn euid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// The account name of `uid` from /etc/passwd, else the number.
fn user_name(uid: u32) -> String {
    std::fs::read_to_string("/etc/passwd")
        .ok()
        .and_then(|text| {
            text.lines().find_map(|l| {
                let mut f = l.split(':');
                let name = f.next()?;
                let _pw = f.next()?;
                (f.next()?.parse::<u32>().ok()? == uid).then(|| name.to_string())
            })
        })
        .unwrap_or_else(|| uid.to_string())
}

fn check_data_dir(r: &mut Report, config: &pos_config::Config) -> DataAccess {
    let dir = &config.data_dir;
    let meta = match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => m,
        Ok(_) => {
            r.push_fix(
                "cartella dati",
                Status::Fail,
                format!("{} non è una cartella", dir.display()),
                "correggi data_dir nella configurazione",
            );
            return DataAccess::Unusable;
        }
        Err(e) => {
            r.push_fix(
                "cartella dati",
                Status::Fail,
                format!("{}: {}", dir.display(), io_reason(&e)),
                format!(
                    "sudo install -d -o pos-agent -g pos-agent -m 0700 {}",
                    dir.display()
                ),
            );
            return DataAccess::Unusable;
        }
    };
    let owner = meta.uid();
    let me = euid();
    let access = if me == 0 && owner != 0 {
        r.push_fix(
            "cartella dati",
            Status::Fail,
            format!(
                "doctor è eseguito come root ma {} appartiene a {}: il giornale non viene aperto per non creare file di root che il servizio non potrebbe usare",
                dir.display(),
                user_name(owner)
            ),
            format!("sudo -u {} pos-agent doctor", user_name(owner)),
        );
        DataAccess::RootOnServiceDir
    } else {
        let probe = dir.join(format!(".doctor-{}", std::process::id()));
        let created = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&probe);
        match created {
            Ok(_) => {
                let _ = std::fs::remove_file(&probe);
                DataAccess::Usable
            }
            Err(e) => {
                let fix = if owner != me {
                    format!(
                        "la cartella è di {}: esegui come l'utente del servizio (sudo -u {} pos-agent doctor)",
                        user_name(owner),
                        user_name(owner)
                    )
                } else {
                    format!("sudo chown -R pos-agent:pos-agent {}", dir.display())
                };
                r.push_fix(
                    "cartella dati",
                    Status::Fail,
                    format!("{} non è scrivibile: {}", dir.display(), io_reason(&e)),
                    fix,
                );
                return DataAccess::Unusable;
            }
        }
    };
    // Files the service must write, owned by someone else (typically
    // `sudo pos-agent enroll` leaving a root-owned terminal.json).
    let foreign: Vec<String> = [
        "terminal.json",
        "journal.sqlite",
        "journal.sqlite-wal",
        "journal.sqlite-shm",
        "keys.json",
        "agent.lock",
    ]
    .iter()
    .filter_map(|name| {
        let m = std::fs::symlink_metadata(dir.join(name)).ok()?;
        (m.uid() != owner).then(|| format!("{name} ({})", user_name(m.uid())))
    })
    .collect();
    if !foreign.is_empty() {
        r.push_fix(
            "permessi",
            Status::Fail,
            format!(
                "in {} non appartengono a {}: {}",
                dir.display(),
                user_name(owner),
                foreign.join(", ")
            ),
            format!(
                "sudo chown -R {}: {} (e usa sempre sudo -u {} per enroll e operator)",
                user_name(owner),
                dir.display(),
                user_name(owner)
            ),
        );
    }
    match free_bytes(dir) {
        Some(free) if free < LOW_DISK_BYTES => r.push_fix(
            "cartella dati",
            Status::Warn,
            format!(
                "{} scrivibile, ma solo {} liberi",
                dir.display(),
                human_bytes(free)
            ),
            "libera spazio sul disco (journalctl --vacuum-size=100M, vecchi file in /var/log); con il disco pieno i pagamenti vengono rifiutati",
        ),
        Some(free) if access == DataAccess::Usable => r.push(
            "cartella dati",
            Status::Ok,
            format!("{} scrivibile, {} liberi", dir.display(), human_bytes(free)),
        ),
        Some(free) => r.push(
            "spazio su disco",
            Status::Ok,
            format!("{} liberi", human_bytes(free)),
        ),
        None => r.push(
            "spazio su disco",
            Status::Warn,
            "spazio libero non misurabile",
        ),
    }
    access
}

fn free_bytes(dir: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    // SAFETY: statvfs writes into the zeroed struct we own; the path is a
    // valid NUL-terminated string.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::statvfs(c.as_ptr(), &mut st) };
    (rc == 0).then(|| (st.f_bavail as u64).saturating_mul(st.f_frsize as u64))
}

fn check_terminal(
    r: &mut Report,
    config: &pos_config::Config,
    access: DataAccess,
) -> Option<pos_backend::Credentials> {
    if access == DataAccess::Unusable {
        r.push(
            "terminale",
            Status::Skip,
            "non verificato: cartella dati non usabile",
        );
        return None;
    }
    let data = DataDir {
        path: config.data_dir.clone(),
    };
    let path = data.terminal_path();
    let t: TerminalFile = match data.read_terminal() {
        Ok(t) => t,
        Err(DataDirError::NotEnrolled(p)) => {
            r.push_fix(
                "terminale",
                Status::Fail,
                format!("non registrato ({p} non esiste)"),
                "sudo -u pos-agent pos-agent enroll --activation-code CODICE (il codice lo dà il Comune)",
            );
            return None;
        }
        Err(e) => {
            r.push_fix(
                "terminale",
                Status::Fail,
                e.to_string(),
                "registra di nuovo: sudo -u pos-agent pos-agent enroll --force --activation-code CODICE",
            );
            return None;
        }
    };
    let secret = match pos_backend::Secret::from_base64(&t.secret) {
        Ok(s) => s,
        Err(_) => {
            r.push_fix(
                "terminale",
                Status::Fail,
                format!("il segreto in {} non è valido", path.display()),
                "registra di nuovo: sudo -u pos-agent pos-agent enroll --force --activation-code CODICE",
            );
            return None;
        }
    };
    let mode = std::fs::metadata(&path)
        .map(|m| m.permissions().mode() & 0o777)
        .unwrap_or(0);
    if mode & 0o077 != 0 {
        r.push_fix(
            "terminale",
            Status::Fail,
            format!(
                "registrato come {}, ma {} è leggibile da altri (permessi {mode:04o})",
                t.terminal_id,
                path.display()
            ),
            format!("chmod 600 {}", path.display()),
        );
    } else {
        r.push(
            "terminale",
            Status::Ok,
            format!(
                "registrato come {}, segreto protetto ({mode:04o})",
                t.terminal_id
            ),
        );
    }
    Some(pos_backend::Credentials {
        terminal_id: t.terminal_id,
        secret,
    })
}

/// The schema version this binary creates (an empty in-memory database,
/// migrated): what a journal should be at once the service has started.
fn known_schema_version() -> Option<i64> {
    Store::open(Path::new(":memory:"))
        .ok()?
        .schema_version()
        .ok()
}

fn check_journal(r: &mut Report, config: &pos_config::Config, access: DataAccess) {
    const NAMES: [&str; 4] = ["giornale", "schema", "operatori", "coda di invio"];
    let skip_from = |r: &mut Report, from: usize, why: &str| {
        for n in &NAMES[from..] {
            r.push(n, Status::Skip, format!("non verificato: {why}"));
        }
    };
    match access {
        DataAccess::Usable => {}
        DataAccess::Unusable => return skip_from(r, 0, "cartella dati non usabile"),
        DataAccess::RootOnServiceDir => return skip_from(r, 0, "eseguito come root"),
    }
    let path = config.data_dir.join("journal.sqlite");
    if !path.exists() {
        r.push_fix(
            "giornale",
            Status::Fail,
            format!("{} non esiste ancora", path.display()),
            "aggiungi un operatore (sudo -u pos-agent pos-agent operator add NOME) o avvia il servizio",
        );
        return skip_from(r, 1, "nessun giornale");
    }
    let store = match Store::open_read_only(&path) {
        Ok(s) => s,
        Err(e) => {
            r.push_fix(
                "giornale",
                Status::Fail,
                format!("{} non si apre: {e}", path.display()),
                "conserva una copia della cartella dati e contatta l'assistenza",
            );
            return;
        }
    };
    // Every reading below is one snapshot: a payment committed meanwhile
    // cannot make the count and the chain disagree (issue 14 finding 5).
    let _ = store.conn.execute_batch("BEGIN DEFERRED");
    check_journal_snapshot(r, &store, &path);
    let _ = store.conn.execute_batch("COMMIT");
}

fn check_journal_snapshot(r: &mut Report, store: &Store, path: &Path) {
    match store.verify_journal() {
        Ok(v) => r.push(
            "giornale",
            Status::Ok,
            format!("integro, {} voci", v.entries),
        ),
        Err(e) => r.push_fix(
            "giornale",
            Status::Fail,
            format!("catena di hash interrotta: {e}"),
            format!(
                "non modificare né cancellare {}: conservane una copia (con i file -wal e -shm) e contatta l'assistenza",
                path.display()
            ),
        ),
    }
    let known = known_schema_version();
    match (store.schema_version(), known) {
        (Ok(found), Some(known)) if found == known => {
            r.push("schema", Status::Ok, format!("versione {found}"))
        }
        (Ok(found), Some(known)) if found < known => r.push_fix(
            "schema",
            Status::Warn,
            format!("versione {found}, questo pos-agent usa la {known}"),
            "viene aggiornato da solo al prossimo avvio del servizio (sudo systemctl restart pos-agent)",
        ),
        (Ok(found), Some(known)) => r.push_fix(
            "schema",
            Status::Fail,
            format!("versione {found}, più recente di quella che questo pos-agent conosce ({known})"),
            "installa la versione di pos-agent che ha scritto questo giornale (non tornare indietro di versione)",
        ),
        (Err(e), _) => r.push("schema", Status::Fail, format!("illeggibile: {e}")),
        (Ok(found), None) => r.push("schema", Status::Warn, format!("versione {found}")),
    }
    match store.operator_names() {
        Ok(names) if names.is_empty() => r.push_fix(
            "operatori",
            Status::Fail,
            "nessun operatore: nessuno può accedere alla console",
            "sudo -u pos-agent pos-agent operator add NOME",
        ),
        Ok(names) => r.push(
            "operatori",
            Status::Ok,
            format!("{} ({})", names.join(", "), names.len()),
        ),
        Err(e) => r.push("operatori", Status::Fail, format!("illeggibili: {e}")),
    }
    check_outbox(r, store);
    check_stuck_outbox(r, store);
}

/// Entries the backend answers but keeps failing for a reason of their own
/// (the others are sent past them): each with its receipt and the reason.
fn check_stuck_outbox(r: &mut Report, store: &Store) {
    // A journal not yet migrated by the agent has no stuck entries to show.
    let Ok(stuck) = store.stuck_outbox(crate::sync::STUCK_AFTER) else {
        return;
    };
    if stuck.is_empty() {
        return;
    }
    let list: Vec<String> = stuck
        .iter()
        .map(|e| {
            format!(
                "{} {} ({} tentativi): {}",
                e.purpose,
                e.receipt_number.as_deref().unwrap_or("-"),
                e.attempts,
                pos_codes::mask_fiscal_codes(&e.reason)
            )
        })
        .collect();
    r.push_fix(
        "coda di invio",
        Status::Warn,
        format!("{} invii bloccati: {}", stuck.len(), list.join("; ")),
        "il backend risponde ma rifiuta sempre queste voci con un errore inatteso; le altre vengono inviate lo stesso: segnala ricevuta e motivo all'assistenza del Comune",
    );
}

/// The last verified copy of the journal (issue 17): a warning, not a
/// failure, when there is none or it is older than `backup.max_age_days`.
fn check_backup(r: &mut Report, config: &pos_config::Config) {
    let fix = match &config.backup.dir {
        Some(dir) => format!(
            "collega il disco di backup ({}) e controlla il timer: systemctl status pos-agent-backup.timer; a mano: sudo -u pos-agent pos-agent backup",
            dir.display()
        ),
        None => "imposta dir nella sezione [backup] della configurazione (una chiavetta USB o una cartella di rete) e attiva il timer: sudo systemctl enable --now pos-agent-backup.timer".to_string(),
    };
    match crate::datadir::backup_warning(config, time::OffsetDateTime::now_utc()) {
        Some(why) => r.push_fix("copia di sicurezza", Status::Warn, why, fix),
        None => {
            let last = crate::datadir::last_backup(&config.data_dir);
            let text = last
                .map(|b| {
                    format!(
                        "ultima copia verificata {} ({} voci): {}",
                        b.manifest.created_at, b.manifest.entries, b.path
                    )
                })
                .unwrap_or_default();
            r.push("copia di sicurezza", Status::Ok, text)
        }
    }
}

fn check_outbox(r: &mut Report, store: &Store) {
    let pending = match store.outbox_pending_count() {
        Ok(n) => n,
        Err(e) => return r.push("coda di invio", Status::Fail, format!("illeggibile: {e}")),
    };
    let rejected = store.rejected_count().unwrap_or(0);
    if pending == 0 {
        r.push(
            "coda di invio",
            Status::Ok,
            "vuota: tutto inviato al backend",
        );
    } else {
        let age = store
            .outbox_oldest_pending()
            .ok()
            .flatten()
            .and_then(|at| crate::time_fmt::parse_rfc3339(&at))
            .map(|at| (crate::time_fmt::now() - at).whole_seconds().max(0) as u64)
            .map(Duration::from_secs);
        let last_error = store
            .next_pending()
            .ok()
            .flatten()
            .and_then(|e| e.last_error)
            .map(|e| format!("; ultimo errore: {}", pos_codes::mask_fiscal_codes(&e)))
            .unwrap_or_default();
        let age_text = age.map(human_age).unwrap_or_else(|| "?".into());
        let message = format!("{pending} in attesa, il più vecchio da {age_text}{last_error}");
        if age.is_some_and(|a| a > OUTBOX_MAX_AGE) {
            r.push_fix(
                "coda di invio",
                Status::Fail,
                message,
                "i pagamenti non arrivano al backend: risolvi le righe backend/orologio/firma, poi il servizio li invia da solo (log: journalctl -u pos-agent)",
            );
        } else {
            r.push("coda di invio", Status::Ok, message);
        }
    }
    if rejected > 0 {
        r.push_fix(
            "coda di invio",
            Status::Warn,
            format!("{rejected} pagamenti rifiutati dal backend"),
            "vanno rimborsati al cliente: sono elencati nella chiusura di cassa",
        );
    }
}

fn check_backend(
    r: &mut Report,
    config: &pos_config::Config,
    credentials: Option<&pos_backend::Credentials>,
) {
    let client = match pos_backend::BackendClient::new(pos_backend::ClientOptions {
        base_url: config.backend.url.clone(),
        timeout: Duration::from_millis(config.backend.timeout_ms),
        ca_file: config.backend.ca_file.clone(),
        user_agent: format!("pos-agent/{} doctor", env!("CARGO_PKG_VERSION")),
    }) {
        Ok(c) => c,
        Err(e) => {
            r.push_fix(
                "backend",
                Status::Fail,
                e.to_string(),
                "correggi backend.url / backend.ca_file nella configurazione",
            );
            r.push(
                "orologio",
                Status::Skip,
                "non verificato: backend non configurato",
            );
            r.push(
                "firma",
                Status::Skip,
                "non verificata: backend non configurato",
            );
            return;
        }
    };
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return r.push("backend", Status::Fail, format!("runtime: {e}")),
    };
    let url = config.backend.url.clone();
    let started = Instant::now();
    let health = rt.block_on(client.health());
    let elapsed = started.elapsed();
    match &health {
        Ok(h) => {
            r.push(
                "backend",
                Status::Ok,
                format!(
                    "raggiungibile ({url}) in {} ms, stato {}",
                    elapsed.as_millis(),
                    h.status
                ),
            );
            let skew = h.skew_from(crate::time_fmt::now()).whole_seconds();
            // Positive skew: the server is ahead, the local clock is behind.
            let side = if skew > 0 { "indietro" } else { "avanti" };
            if skew.abs() > MAX_SKEW_SECS {
                r.push_fix(
                    "orologio",
                    Status::Fail,
                    format!("{} s {side} rispetto al backend", skew.abs()),
                    "sincronizza l'ora: sudo timedatectl set-ntp true (oltre 300 s il backend rifiuta ogni richiesta)",
                );
            } else {
                r.push(
                    "orologio",
                    Status::Ok,
                    format!("scarto di {} s dal backend", skew.abs()),
                );
            }
        }
        Err(e) => {
            let fix = match e {
                pos_backend::BackendError::Config(_) => {
                    "correggi backend.url / backend.ca_file nella configurazione"
                }
                pos_backend::BackendError::BadResponse { .. } => {
                    "a quell'indirizzo risponde un altro servizio (proxy, portale Wi-Fi?): controlla backend.url"
                }
                _ => "controlla la rete (cavo, Wi-Fi, firewall) e backend.url; se la rete funziona, il backend del Comune è fermo: i pagamenti con QR dell'app restano possibili entro i limiti offline",
            };
            r.push_fix(
                "backend",
                Status::Fail,
                format!("non raggiungibile ({url}): {e}"),
                fix,
            );
            r.push(
                "orologio",
                Status::Skip,
                "non verificato: backend non raggiungibile",
            );
        }
    }
    let Some(creds) = credentials else {
        r.push(
            "firma",
            Status::Skip,
            "non verificata: terminale non registrato",
        );
        return;
    };
    if health.is_err() {
        r.push(
            "firma",
            Status::Skip,
            "non verificata: backend non raggiungibile",
        );
        return;
    }
    let signed = client.with_credentials(creds.clone());
    match rt.block_on(signed.keys()) {
        Ok(keys) => r.push(
            "firma",
            Status::Ok,
            format!(
                "accettata dal backend (terminale {}; chiavi di firma: {})",
                creds.terminal_id,
                keys.keys.len()
            ),
        ),
        Err(e) if e.code() == Some("clock_skew") => r.push_fix(
            "firma",
            Status::Fail,
            format!("rifiutata: {e}"),
            "sincronizza l'ora: sudo timedatectl set-ntp true",
        ),
        Err(e @ pos_backend::BackendError::Auth { .. }) => r.push_fix(
            "firma",
            Status::Fail,
            format!("rifiutata: {e}"),
            "le credenziali del terminale non sono più valide: chiedi un nuovo codice al Comune e registra di nuovo (sudo -u pos-agent pos-agent enroll --force --activation-code CODICE)",
        ),
        Err(e) => r.push_fix(
            "firma",
            Status::Fail,
            format!("non verificata: {e}"),
            "riprova tra poco; se resta, controlla la rete e backend.url",
        ),
    }
}

/// Existence and permission of a device node, before anything opens it.
fn node_problem(path: &Path, group: &str) -> Option<(String, String)> {
    use std::os::unix::ffi::OsStrExt;
    if !path.exists() {
        return Some((
            format!("{} non esiste", path.display()),
            "collega il dispositivo (cavo, alimentazione); `pos-agent devices` elenca quelli presenti con la riga di configurazione".to_string(),
        ));
    }
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    // SAFETY: a valid NUL-terminated path; access() only reads it.
    let rc = unsafe { libc::access(c.as_ptr(), libc::R_OK | libc::W_OK) };
    (rc != 0).then(|| {
        (
            format!("permesso negato su {}", path.display()),
            format!(
                "l'utente deve essere nel gruppo {group} (sudo usermod -aG {group} pos-agent) e il dispositivo del gruppo {group} (regole udev del pacchetto: sudo udevadm trigger)"
            ),
        )
    })
}

fn check_printer(r: &mut Report, config: &pos_config::Config) {
    use pos_config::PrinterDevice;
    use pos_drivers::DeviceState;
    let device = &config.printer.device;
    let node = match device {
        PrinterDevice::Usb { path } => Some((path, "lp")),
        PrinterDevice::Serial { path, .. } => Some((path, "dialout")),
        _ => None,
    };
    if let Some((message, fix)) = node.and_then(|(p, g)| node_problem(p, g)) {
        return r.push_fix(
            "stampante",
            Status::Fail,
            format!("{device}: {message}"),
            fix,
        );
    }
    let mut printer = pos_drivers::open_printer(
        device,
        crate::printing::printer_profile(config),
        pos_drivers::DEFAULT_TIMEOUT,
    );
    let state = printer.state();
    let (status, what, fix) = match state {
        DeviceState::Ready => (Status::Ok, "pronta", None),
        DeviceState::Disabled => (
            Status::Warn,
            "non configurata: le ricevute non vengono stampate",
            Some("imposta printer.device; `pos-agent devices` elenca le stampanti collegate"),
        ),
        DeviceState::PaperOut => (Status::Fail, "carta esaurita", Some("inserisci un rotolo nuovo")),
        DeviceState::CoverOpen => (Status::Fail, "coperchio aperto", Some("chiudi il coperchio")),
        DeviceState::Offline => (
            Status::Fail,
            "non risponde",
            Some("controlla che sia accesa, il cavo o la rete, e l'indirizzo in printer.device"),
        ),
        DeviceState::Busy => (
            Status::Fail,
            "occupata da un altro programma",
            Some("ferma il programma che la usa (spesso CUPS: sudo systemctl disable --now cups) e riprova"),
        ),
        DeviceState::Error => (
            Status::Fail,
            "in errore",
            Some("spegni e riaccendi la stampante; controlla la spia di errore e printer.device"),
        ),
    };
    let message = format!("{device} {what}");
    match fix {
        Some(f) => r.push_fix("stampante", status, message, f),
        None => r.push("stampante", status, message),
    }
}

fn check_camera(r: &mut Report, config: &pos_config::Config) {
    use pos_config::CameraDevice;
    let device = &config.camera.device;
    let path: PathBuf = match device {
        CameraDevice::None => {
            return r.push(
                "fotocamera",
                Status::Ok,
                "non configurata (codici digitati o dal lettore a pistola)",
            )
        }
        CameraDevice::Dir { path } => {
            return if path.is_dir() {
                r.push(
                    "fotocamera",
                    Status::Ok,
                    format!("{device}: la cartella esiste"),
                )
            } else {
                r.push_fix(
                    "fotocamera",
                    Status::Fail,
                    format!("{device}: la cartella non esiste"),
                    format!("mkdir -p {} o correggi camera.device", path.display()),
                )
            }
        }
        CameraDevice::Index(n) => PathBuf::from(format!("/dev/video{n}")),
        CameraDevice::V4l { path } => path.clone(),
    };
    if let Some((message, fix)) = node_problem(&path, "video") {
        return r.push_fix(
            "fotocamera",
            Status::Fail,
            format!("{device}: {message}"),
            fix,
        );
    }
    let opened = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags_nonblock()
        .open(&path);
    match opened {
        Err(e) => r.push_fix(
            "fotocamera",
            Status::Fail,
            format!(
                "{device}: {} non si apre: {}",
                path.display(),
                io_reason(&e)
            ),
            "scollega e ricollega la fotocamera; `pos-agent devices` elenca quelle presenti",
        ),
        Ok(_) => match crate::commands::devices::query_capture(&path) {
            Some(false) => r.push_fix(
                "fotocamera",
                Status::Fail,
                format!(
                    "{device}: {} non acquisisce video (è il nodo dei metadati)",
                    path.display()
                ),
                "usa l'altro nodo della stessa fotocamera: `pos-agent devices` lo indica",
            ),
            _ => r.push(
                "fotocamera",
                Status::Ok,
                format!("{device}: {} si apre", path.display()),
            ),
        },
    }
}

/// `O_NONBLOCK` on an `OpenOptions`, so opening a device never waits.
trait NonBlocking {
    fn custom_flags_nonblock(&mut self) -> &mut Self;
}

impl NonBlocking for std::fs::OpenOptions {
    fn custom_flags_nonblock(&mut self) -> &mut Self {
        use std::os::unix::fs::OpenOptionsExt;
        self.custom_flags(libc::O_NONBLOCK)
    }
}

fn check_card_reader(r: &mut Report, config: &pos_config::Config) {
    use pos_config::CardReaderDevice;
    let device = &config.card_reader.device;
    let (path, baud) = match device {
        CardReaderDevice::None => {
            return r.push(
                "lettore tessera",
                Status::Ok,
                "non configurato (il codice fiscale si digita)",
            )
        }
        CardReaderDevice::Serial { path, baud } => (path, *baud),
    };
    if let Some((message, fix)) = node_problem(path, "dialout") {
        return r.push_fix(
            "lettore tessera",
            Status::Fail,
            format!("{device}: {message}"),
            fix,
        );
    }
    let opened = serialport::new(path.to_string_lossy(), baud)
        .timeout(Duration::from_millis(200))
        .open();
    match opened {
        Ok(_) => r.push(
            "lettore tessera",
            Status::Ok,
            format!("{device}: la porta si apre"),
        ),
        Err(e) if is_busy(&e) && agent_pid(config).is_some() => r.push(
            "lettore tessera",
            Status::Ok,
            format!("{device}: in uso dal servizio pos-agent"),
        ),
        Err(e) if is_busy(&e) => r.push_fix(
            "lettore tessera",
            Status::Fail,
            format!("{device}: occupato da un altro programma"),
            "spesso è ModemManager: sudo systemctl disable --now ModemManager",
        ),
        Err(e) => r.push_fix(
            "lettore tessera",
            Status::Fail,
            format!("{device}: non si apre: {e}"),
            "scollega e ricollega il lettore; controlla la velocità (?baud=) in card_reader.device",
        ),
    }
}

fn is_busy(e: &serialport::Error) -> bool {
    let text = e.to_string().to_ascii_lowercase();
    text.contains("busy") || text.contains("in use")
}

/// The pid in `agent.lock`, when that process is a running pos-agent.
/// Read only: doctor never takes the lock, since even a moment's hold would
/// make a starting agent refuse to run.
fn agent_pid(config: &pos_config::Config) -> Option<u32> {
    let text = std::fs::read_to_string(config.data_dir.join("agent.lock")).ok()?;
    let pid: u32 = text.trim().parse().ok()?;
    if pid == std::process::id() {
        return None;
    }
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
    (comm.trim() == "pos-agent").then_some(pid)
}

fn check_service(r: &mut Report, config: &pos_config::Config) {
    match agent_pid(config) {
        Some(pid) => r.push(
            "servizio",
            Status::Ok,
            format!("pos-agent in esecuzione (pid {pid})"),
        ),
        None => r.push_fix(
            "servizio",
            Status::Warn,
            "pos-agent non è in esecuzione su questa cartella dati",
            "sudo systemctl enable --now pos-agent (log: journalctl -u pos-agent)",
        ),
    }
}

fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "non esiste".into(),
        std::io::ErrorKind::PermissionDenied => "permesso negato".into(),
        _ => e.to_string(),
    }
}

/// `512 KB`, `87.5 MB`, `12.3 GB`.
pub fn human_bytes(b: u64) -> String {
    const K: f64 = 1024.0;
    let f = b as f64;
    if f < K * K {
        format!("{:.0} KB", f / K)
    } else if f < K * K * K {
        format!("{:.1} MB", f / (K * K))
    } else {
        format!("{:.1} GB", f / (K * K * K))
    }
}

/// `45 s`, `12 min`, `3 h 5 min`, `2 giorni`.
pub fn human_age(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..=59 => format!("{s} s"),
        60..=3599 => format!("{} min", s / 60),
        3600..=86_399 => format!("{} h {} min", s / 3600, (s % 3600) / 60),
        _ if s < 2 * 86_400 => "1 giorno".into(),
        _ => format!("{} giorni", s / 86_400),
    }
}

/// `pos-agent doctor [--json]`: exit 0 when every check passed, else 1.
pub fn command(config_arg: Option<&Path>, json: bool) -> anyhow::Result<std::process::ExitCode> {
    let report = run(&pos_config::config_path(config_arg));
    if json {
        println!("{}", serde_json::to_string_pretty(&report.to_json())?);
    } else {
        print!("{}", report.render_text());
    }
    if report.ok() {
        Ok(std::process::ExitCode::SUCCESS)
    } else {
        eprintln!("pos-agent: doctor: {} check(s) failed", report.failures());
        Ok(std::process::ExitCode::from(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_report_is_one_line_per_check_and_fails_on_any_cross() {
        let mut r = Report::default();
        r.push("configurazione", Status::Ok, "valida");
        r.push_fix("spazio", Status::Warn, "poco", "libera spazio");
        assert!(r.ok(), "a warning is not a failure");
        r.push_fix(
            "backend",
            Status::Fail,
            "non raggiungibile",
            "controlla la rete",
        );
        r.push("firma", Status::Skip, "non verificata");
        assert!(!r.ok());
        assert_eq!(
            r.render_text(),
            "✓ configurazione: valida\n\
             ! spazio: poco → libera spazio\n\
             ✗ backend: non raggiungibile → controlla la rete\n\
             - firma: non verificata\n\
             1 problema da risolvere.\n"
        );
        let j = r.to_json();
        assert_eq!(j["ok"], false);
        assert_eq!(j["checks"][2]["status"], "fail");
        assert_eq!(j["checks"][2]["fix"], "controlla la rete");
    }

    #[test]
    fn a_missing_config_is_one_failure_with_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let r = run(&dir.path().join("nope.toml"));
        assert_eq!(r.checks.len(), 1);
        assert_eq!(r.checks[0].status, Status::Fail);
        assert!(r.checks[0].fix.as_deref().unwrap().contains("config init"));
    }

    /// A config that loads but has something to look at (here a partita
    /// IVA whose check digit is wrong) is a warning, not a failure.
    #[test]
    fn a_config_warning_is_shown_as_a_warning() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        let text = |vat: &str| {
            format!(
                "data_dir = \"{}\"\n[terminal]\nvat_number = \"{vat}\"\n[backend]\nurl = \"http://127.0.0.1:9\"\n[drawer]\nkick = \"none\"\n",
                dir.path().join("data").display()
            )
        };
        let config_checks = |r: &Report| -> Vec<(Status, String)> {
            r.checks
                .iter()
                .filter(|c| c.check == "configurazione")
                .map(|c| (c.status, c.message.clone()))
                .collect()
        };
        std::fs::write(&path, text("01234567890")).unwrap();
        let r = run(&path);
        let checks = config_checks(&r);
        assert_eq!(checks.len(), 2, "{}", r.render_text());
        assert_eq!(checks[0].0, Status::Ok);
        assert_eq!(checks[1].0, Status::Warn);
        assert!(checks[1].1.contains("terminal.vat_number"), "{checks:?}");

        std::fs::write(&path, text("01234567897")).unwrap();
        let r = run(&path);
        assert_eq!(config_checks(&r).len(), 1, "{}", r.render_text());
    }

    #[test]
    fn missing_devices_fail_with_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let cam = dir.path().join("frames");
        let config = pos_config::Config::parse(
            &format!(
                r#"
                [backend]
                url = "http://127.0.0.1:9"
                [printer]
                device = "usb:{d}/lp7"
                [camera]
                device = "dir:{cam}"
                [card_reader]
                device = "serial:{d}/ttyACM9?baud=9600"
                "#,
                d = dir.path().display(),
                cam = cam.display()
            ),
            "test.toml",
        )
        .unwrap();
        let mut r = Report::default();
        check_printer(&mut r, &config);
        check_camera(&mut r, &config);
        check_card_reader(&mut r, &config);
        let text = r.render_text();
        assert_eq!(r.failures(), 3, "{text}");
        assert!(
            text.contains("lp7 non esiste → collega il dispositivo"),
            "{text}"
        );
        assert!(text.contains("la cartella non esiste → mkdir -p"), "{text}");
        assert!(text.contains("ttyACM9 non esiste"), "{text}");

        std::fs::create_dir(&cam).unwrap();
        let mut r = Report::default();
        check_camera(&mut r, &config);
        assert_eq!(r.checks[0].status, Status::Ok, "{r:?}");
    }

    #[test]
    fn a_card_reader_whose_port_opens_is_fine() {
        let port = hardware_mocks::serial::VirtualSerial::open().unwrap();
        let config = pos_config::Config::parse(
            &format!(
                "[backend]\nurl = \"http://127.0.0.1:9\"\n[card_reader]\ndevice = \"serial:{}?baud=9600\"\n",
                port.path().display()
            ),
            "test.toml",
        )
        .unwrap();
        let mut r = Report::default();
        check_card_reader(&mut r, &config);
        assert_eq!(r.checks[0].status, Status::Ok, "{r:?}");
        assert!(r.checks[0].message.ends_with("la porta si apre"), "{r:?}");
    }

    #[test]
    fn a_file_printer_that_can_be_written_is_ready() {
        let dir = tempfile::tempdir().unwrap();
        let config = pos_config::Config::parse(
            &format!(
                "[backend]\nurl = \"http://127.0.0.1:9\"\n[printer]\ndevice = \"file:{}/p.bin\"\n",
                dir.path().display()
            ),
            "test.toml",
        )
        .unwrap();
        let mut r = Report::default();
        check_printer(&mut r, &config);
        assert_eq!(r.checks[0].status, Status::Ok, "{r:?}");
        assert!(r.checks[0].message.ends_with("pronta"), "{r:?}");
    }

    #[test]
    fn ages_and_sizes_read_naturally() {
        assert_eq!(human_age(Duration::from_secs(45)), "45 s");
        assert_eq!(human_age(Duration::from_secs(720)), "12 min");
        assert_eq!(human_age(Duration::from_secs(3 * 3600 + 300)), "3 h 5 min");
        assert_eq!(human_age(Duration::from_secs(3 * 86_400)), "3 giorni");
        assert_eq!(human_bytes(512 * 1024), "512 KB");
        assert_eq!(human_bytes(100 * 1024 * 1024 - 1), "100.0 MB");
        assert_eq!(human_bytes(5 * 1024 * 1024 * 1024), "5.0 GB");
    }

    #[test]
    fn the_known_schema_version_is_the_migrated_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.sqlite");
        let fresh = Store::open(&path).unwrap().schema_version().unwrap();
        assert_eq!(known_schema_version(), Some(fresh));
        assert!(fresh >= 1);
        // Read-only: verify works, writes are refused.
        let ro = Store::open_read_only(&path).unwrap();
        assert_eq!(ro.verify_journal().unwrap().entries, 0);
        assert!(ro.set_meta("x", "y").is_err());
    }

    #[test]
    fn a_stale_outbox_fails_with_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("j.sqlite")).unwrap();
        let mut r = Report::default();
        check_outbox(&mut r, &store);
        assert_eq!(r.checks[0].status, Status::Ok);
        store
            .conn
            .execute(
                "INSERT INTO outbox (purpose, created_at, method, path, idempotency_key, body, last_error)
                 VALUES ('recharge', '2020-01-01T00:00:00Z', 'POST', '/v1/recharges', 'k1', x'7b7d', 'cf RSSMRA85T10A562S')",
                [],
            )
            .unwrap();
        let mut r = Report::default();
        check_outbox(&mut r, &store);
        assert_eq!(r.checks[0].status, Status::Fail, "{r:?}");
        assert!(r.checks[0]
            .message
            .starts_with("1 in attesa, il più vecchio da "));
        assert!(r.checks[0].message.contains("RSS***********2S"), "{r:?}");
        assert!(!r.checks[0].message.contains("RSSMRA85T10A562S"));
    }
}
