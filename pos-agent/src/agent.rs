//! The running agent: what every part shares (config, store, backend client,
//! printer, events, sessions, device states, scans) and the small helpers
//! on it. It starts nothing: `runtime.rs` starts and stops the background
//! tasks, and device threads see it only as a [`ScanSink`].

use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use serde_json::json;
use time::OffsetDateTime;
use tokio::sync::Notify;
use tokio_util::task::TaskTracker;
use tracing::{info, warn};

use crate::auth::Sessions;
use crate::datadir::{DataDir, InstanceLock};
use crate::devices::device_state::{DeviceCell, ScanSink};
use crate::events::EventBus;
use crate::model::Transaction;
use crate::printing::receipts::Header;
use crate::printing::{PrintQueue, PrintService};
use crate::store::{Store, StoreHandle};

/// What `status.backend` reports.
#[derive(Debug, Clone, Default)]
pub struct BackendStatus {
    pub reachable: bool,
    pub last_ok_at: Option<OffsetDateTime>,
    /// The code of the last authentication failure, cleared by the next
    /// signed request answered with anything but 401.
    pub error: Option<String>,
}

/// Knobs that tests and the sandbox turn; production uses the defaults.
#[derive(Debug, Clone)]
pub struct Tuning {
    /// First retry delay of the outbox.
    pub sync_base: Duration,
    /// Longest retry delay of the outbox (the spec says at most 5 minutes).
    pub sync_max: Duration,
    /// How long a receipt waits for the backend's confirmation.
    pub receipt_wait: Duration,
}

impl Default for Tuning {
    fn default() -> Self {
        Tuning {
            sync_base: Duration::from_secs(2),
            sync_max: Duration::from_secs(300),
            receipt_wait: Duration::from_millis(1500),
        }
    }
}

impl Tuning {
    /// Read `POS_AGENT_SYNC_BASE_MS`, `POS_AGENT_SYNC_MAX_MS` and
    /// `POS_AGENT_RECEIPT_WAIT_MS` (used by tests to make retries quick).
    pub fn from_env() -> Self {
        let mut t = Tuning::default();
        let ms = |k: &str| {
            std::env::var(k)
                .ok()
                .and_then(|v| v.parse::<u64>().ok())
                .map(Duration::from_millis)
        };
        if let Some(d) = ms("POS_AGENT_SYNC_BASE_MS") {
            t.sync_base = d;
        }
        if let Some(d) = ms("POS_AGENT_SYNC_MAX_MS") {
            t.sync_max = d;
        }
        if let Some(d) = ms("POS_AGENT_RECEIPT_WAIT_MS") {
            t.receipt_wait = d;
        }
        t
    }
}

pub struct Agent {
    pub me: Weak<Agent>,
    pub config: pos_config::Config,
    pub data: DataDir,
    pub terminal_id: String,
    pub store: StoreHandle,
    pub backend: pos_backend::BackendClient,
    pub events: EventBus,
    pub sessions: Sessions,
    pub printer: PrintService,
    /// The durable print queue (`printing/queue.rs`); its retry loop is a
    /// runtime task.
    pub print_queue: PrintQueue,
    /// The card reader's state, kept by its thread (`devices/card_reader.rs`).
    pub card_reader: DeviceCell,
    /// The camera's state, kept by its threads (`devices/camera.rs`).
    pub camera: DeviceCell,
    pub counter_lock: tokio::sync::Mutex<()>,
    /// Serializes logins (see `api::login`).
    pub login_lock: tokio::sync::Mutex<()>,
    pub sync_wake: Notify,
    /// Set when the backend is seen reachable again: the outbox retries at
    /// once instead of waiting out its backoff.
    pub retry_now: std::sync::atomic::AtomicBool,
    pub backend_status: Mutex<BackendStatus>,
    pub keys: Mutex<Option<pos_codes::KeySet>>,
    /// The reads behind `scan_id`s, bounded (`devices/scans.rs`).
    pub scans: crate::devices::scans::ScanStore,
    pub receipt_wait: Duration,
    pub tuning: Tuning,
    /// The work that follows a commit and must not be cut short by a
    /// client that goes away (`pay` and `day/close` themselves, the drawer
    /// kick and the receipt after a payment): spawned here, and waited for
    /// by the runtime's shutdown before the background tasks stop.
    pub to_the_end: TaskTracker,
    _lock: Option<InstanceLock>,
}

/// Everything `Agent::start` needs.
pub struct AgentParts {
    pub config: pos_config::Config,
    pub data: DataDir,
    pub lock: Option<InstanceLock>,
    pub store: Store,
    pub terminal: crate::datadir::TerminalFile,
    pub printer: Box<dyn pos_drivers::Printer>,
    pub tuning: Tuning,
}

/// A signed request answered with anything but 401 (a 5xx included) clears
/// an authentication failure (agent-api.md); a timeout or a connection
/// error proves nothing.
fn answered_without_401(e: &pos_backend::BackendError) -> bool {
    e.status().is_some_and(|s| s != 401)
}

impl Agent {
    pub fn new(parts: AgentParts) -> anyhow::Result<Arc<Agent>> {
        let AgentParts {
            config,
            data,
            lock,
            store,
            terminal,
            printer,
            tuning,
        } = parts;
        let secret = pos_backend::Secret::from_base64(&terminal.secret).map_err(|e| {
            anyhow::anyhow!(
                "the terminal secret in {} is not valid ({e}); enrol again",
                data.terminal_path().display()
            )
        })?;
        let backend = pos_backend::BackendClient::new(pos_backend::ClientOptions {
            base_url: config.backend.url.clone(),
            timeout: Duration::from_millis(config.backend.timeout_ms),
            ca_file: config.backend.ca_file.clone(),
            user_agent: format!("pos-agent/{}", env!("CARGO_PKG_VERSION")),
        })?
        .with_credentials(pos_backend::Credentials {
            terminal_id: terminal.terminal_id.clone(),
            secret,
        });
        let events = EventBus::new();
        let card_reader = DeviceCell::card_reader(&config.card_reader.device, events.clone());
        let camera = DeviceCell::camera(&config.camera.device, events.clone());
        let printer = PrintService::new(printer, events.clone());
        let store = StoreHandle::new(store);
        let print_queue = PrintQueue::new(
            store.clone(),
            printer.clone(),
            Header::for_terminal(&config, &terminal),
        );
        let keys = std::fs::read_to_string(data.keys_path())
            .ok()
            .and_then(|text| pos_codes::KeySet::from_json(&text).ok());
        let sessions = Sessions::new(Duration::from_secs(
            u64::from(config.security.session_minutes) * 60,
        ));
        Ok(Arc::new_cyclic(|me| Agent {
            me: me.clone(),
            receipt_wait: tuning.receipt_wait,
            tuning,
            config,
            data,
            terminal_id: terminal.terminal_id,
            store,
            backend,
            events,
            sessions,
            printer,
            print_queue,
            card_reader,
            camera,
            counter_lock: tokio::sync::Mutex::new(()),
            login_lock: tokio::sync::Mutex::new(()),
            sync_wake: Notify::new(),
            retry_now: std::sync::atomic::AtomicBool::new(false),
            backend_status: Mutex::new(BackendStatus::default()),
            keys: Mutex::new(keys),
            scans: crate::devices::scans::ScanStore::default(),
            to_the_end: TaskTracker::new(),
            _lock: lock,
        }))
    }

    /// Run a store operation off the async runtime (SQLite commits fsync).
    pub async fn db<T, F>(&self, f: F) -> T
    where
        F: FnOnce(&mut Store) -> T + Send + 'static,
        T: Send + 'static,
    {
        self.store.run(f).await
    }

    /// The shop and terminal printed at the top of every document.
    pub fn receipt_header(&self) -> Header {
        self.print_queue.header().clone()
    }

    /// Keep `status.backend` true to the last answer.
    pub fn note_backend_result<T>(&self, r: &Result<T, pos_backend::BackendError>) {
        let mut s = self
            .backend_status
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let was_reachable = s.reachable;
        match r {
            Ok(_) => {
                s.reachable = true;
                s.last_ok_at = Some(OffsetDateTime::now_utc());
                s.error = None;
            }
            Err(pos_backend::BackendError::Auth { code, .. }) => {
                s.reachable = true;
                s.error = Some(code.clone());
            }
            Err(e) if e.is_transient() => {
                s.reachable = false;
                if answered_without_401(e) {
                    s.error = None;
                }
            }
            Err(_) => {
                s.reachable = true;
                s.last_ok_at = Some(OffsetDateTime::now_utc());
                s.error = None;
            }
        }
        if s.reachable && !was_reachable {
            // The backend is back: let the outbox try at once.
            self.wake_outbox_now();
        }
    }

    /// The backend is reachable again: the outbox retries at once.
    pub fn wake_outbox_now(&self) {
        self.retry_now
            .store(true, std::sync::atomic::Ordering::SeqCst);
        self.sync_wake.notify_one();
    }

    /// True (once) when the outbox should retry without waiting.
    pub fn take_retry_now(&self) -> bool {
        self.retry_now
            .swap(false, std::sync::atomic::Ordering::SeqCst)
    }

    /// The cached signing keys, fetched when there are none yet.
    pub async fn signing_keys(&self) -> Option<pos_codes::KeySet> {
        if let Some(k) = self.keys.lock().unwrap_or_else(|p| p.into_inner()).clone() {
            return Some(k);
        }
        self.refresh_keys().await;
        self.keys.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Fetch `/v1/keys` and cache it on disk.
    pub async fn refresh_keys(&self) {
        let r = self.backend.keys_raw().await;
        self.note_backend_result(&r);
        match r {
            Ok(text) => match pos_codes::KeySet::from_json(&text) {
                Ok(set) => {
                    if let Err(e) =
                        crate::datadir::write_private(&self.data.keys_path(), text.as_bytes())
                    {
                        warn!(error = %e, "could not cache the signing keys");
                    }
                    *self.keys.lock().unwrap_or_else(|p| p.into_inner()) = Some(set);
                    info!("signing keys refreshed");
                }
                Err(e) => {
                    warn!(error = %e, "the backend's keys answer is not valid; keeping the cached keys")
                }
            },
            Err(e) => warn!(error = %e, "could not refresh the signing keys"),
        }
    }

    /// Remember a scanned text for `scan_id`; the event carries the masked text only.
    pub fn record_scan(&self, source: &str, text: &str) -> String {
        let (kind, shown) = match pos_codes::classify(text) {
            Ok(input) => (input.kind(), input.masked_text()),
            // A short excerpt with fiscal codes masked, even partial ones.
            Err(_) => ("unknown", pos_codes::masked_excerpt(text)),
        };
        let id = self.scans.insert(text);
        self.events.emit(
            "scan",
            json!({"source": source, "kind": kind, "input": shown, "scan_id": id}),
        );
        id
    }

    pub fn take_scan(&self, id: &str) -> Option<String> {
        self.scans.get(id)
    }

    pub async fn emit_outbox(&self) {
        let pending = self.db(|s| s.outbox_pending_count()).await.unwrap_or(0);
        self.events.emit("outbox", json!({"pending": pending}));
    }

    /// A transaction changed: the `transaction` event.
    pub fn emit_tx(&self, t: &Transaction) {
        self.events.emit(
            "transaction",
            json!({"id": t.id, "state": t.state, "sync": t.sync(), "receipt_number": t.receipt_number}),
        );
    }

    /// The backend as `status.backend` last saw it.
    pub fn backend_status(&self) -> BackendStatus {
        self.backend_status
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The backend answered its (unsigned) health probe: reachable again.
    /// `error` is left alone: only a signed answer can clear an
    /// authentication failure.
    pub fn note_backend_healthy(&self) {
        let mut s = self
            .backend_status
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        s.reachable = true;
        s.last_ok_at = Some(OffsetDateTime::now_utc());
        drop(s);
        self.wake_outbox_now();
    }
}

/// Device threads hand their reads to the agent through this, and see
/// nothing else of it.
impl ScanSink for Agent {
    fn scan(&self, source: &str, text: &str) -> String {
        self.record_scan(source, text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pos_backend::BackendError as B;

    #[test]
    fn only_an_answer_other_than_401_clears_an_auth_error() {
        let answered = B::Transient {
            reason: "HTTP 503".into(),
            retry_after: None,
            status: Some(503),
        };
        let timeout = B::Transient {
            reason: "timeout".into(),
            retry_after: None,
            status: None,
        };
        let auth = B::Auth {
            code: "clock_skew".into(),
            message: String::new(),
        };
        assert!(answered_without_401(&answered));
        assert!(!answered_without_401(&timeout));
        assert!(!answered_without_401(&auth));
    }
}
