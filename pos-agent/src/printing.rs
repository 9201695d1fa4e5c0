//! The printer as the agent sees it: one blocking driver behind a mutex,
//! driven from blocking threads so a slow or dead printer never stalls the
//! API, its state published as `device` events and in `/api/v1/status`.
//!
//! Receipts do not go straight to [`PrintService::print`]: they are print
//! jobs in SQLite (`crate::print_queue`), printed from there and retried by
//! a background loop until the printer takes them. This module only knows
//! how to put one document on paper and what state the printer is in; it
//! also holds the count of jobs still waiting, so the operator can be told.
//!
//! It also has the body of `pos-agent printer test` ([`printer_test`]).

use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use pos_drivers::{DeviceState, Document, Printer, PrinterError};
use serde_json::{json, Value};
use tracing::warn;

use crate::events::EventBus;

/// The `ESC t` numbers `pos-agent printer test --code-pages` tries when
/// none are given: Epson's PC437 (0), PC850 (2), PC858 (19) and WPC1252
/// (16), and numbers clones are known to use for their euro tables.
pub const CANDIDATE_TABLES: &[u8] = &[0, 2, 13, 16, 17, 19, 39, 40, 45, 47, 255];

#[derive(Clone)]
pub struct PrintService {
    printer: Arc<Mutex<Box<dyn Printer>>>,
    state: Arc<Mutex<DeviceState>>,
    /// Print jobs not printed yet (kept up to date by the queue).
    pending: Arc<AtomicUsize>,
    /// Why the last job could not be printed, until one is.
    last_error: Arc<Mutex<Option<String>>>,
    /// Set once the retry loop runs (`print_queue::start`).
    pub(crate) worker_started: Arc<AtomicBool>,
    /// One drain of the queue at a time, so jobs print in order.
    pub(crate) drain_lock: Arc<tokio::sync::Mutex<()>>,
    /// Jobs being held back for a moment (the receipt waiting for the
    /// backend's confirmation); ids of `print_jobs`.
    pub(crate) held: Arc<Mutex<std::collections::HashSet<i64>>>,
    events: EventBus,
}

fn locked<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl PrintService {
    /// Asks the printer for its state once (blocking, up to the driver's
    /// timeout): the status is right from the first request.
    pub fn new(printer: Box<dyn Printer>, events: EventBus) -> Self {
        let mut printer = printer;
        let state = printer.state();
        PrintService {
            printer: Arc::new(Mutex::new(printer)),
            state: Arc::new(Mutex::new(state)),
            pending: Arc::new(AtomicUsize::new(0)),
            last_error: Arc::new(Mutex::new(None)),
            worker_started: Arc::new(AtomicBool::new(false)),
            drain_lock: Arc::new(tokio::sync::Mutex::new(())),
            held: Arc::new(Mutex::new(std::collections::HashSet::new())),
            events,
        }
    }

    pub fn state(&self) -> DeviceState {
        *locked(&self.state)
    }

    /// Print jobs waiting for the printer.
    pub fn pending_jobs(&self) -> usize {
        self.pending.load(Ordering::SeqCst)
    }

    /// Why the oldest waiting job was not printed (`None` once one is).
    pub fn last_error(&self) -> Option<String> {
        locked(&self.last_error).clone()
    }

    /// `status.devices.printer`: `{"state", "pending_jobs", "last_error"}`.
    pub fn status_json(&self) -> Value {
        json!({
            "state": self.state().as_str(),
            "pending_jobs": self.pending_jobs(),
            "last_error": self.last_error(),
        })
    }

    fn publish(&self, new: DeviceState) {
        let mut s = locked(&self.state);
        if *s != new {
            *s = new;
            self.events.emit(
                "device",
                json!({"device": "printer", "state": new.as_str()}),
            );
        }
    }

    /// Records how many jobs wait and why; a `print` event
    /// `{"pending", "last_error"}` when either changed.
    pub(crate) fn set_pending(&self, pending: usize, error: Option<String>) {
        let before = self.pending.swap(pending, Ordering::SeqCst);
        let changed_error = {
            let mut e = locked(&self.last_error);
            let changed = *e != error;
            *e = error.clone();
            changed
        };
        if before != pending || changed_error {
            self.events
                .emit("print", json!({"pending": pending, "last_error": error}));
        }
    }

    /// Puts one document on paper now, or says why not. The state follows
    /// the outcome: ready after a print, the error's state after a failure.
    pub(crate) async fn try_print(&self, doc: Document) -> Result<(), PrinterError> {
        let me = self.clone();
        let r = tokio::task::spawn_blocking(move || {
            let mut p = locked(&me.printer);
            p.print(&doc)
        })
        .await;
        match r {
            Ok(Ok(())) => {
                self.publish(DeviceState::Ready);
                Ok(())
            }
            Ok(Err(e)) => {
                self.publish(e.device_state());
                Err(e)
            }
            Err(e) => {
                self.publish(DeviceState::Error);
                Err(PrinterError::Io {
                    device: "printer".into(),
                    action: "printing",
                    source: std::io::Error::other(e.to_string()),
                })
            }
        }
    }

    /// Prints a document once, not durably: nothing is kept when it fails
    /// (it is logged and shows in the device state). Receipts go through
    /// the print queue instead (`Agent::print_job`).
    pub async fn print(&self, doc: Document, kick_drawer: bool) -> bool {
        let ok = match self.try_print(doc).await {
            Ok(()) => true,
            Err(e) => {
                warn!(error = %e, "printing failed");
                false
            }
        };
        if ok && kick_drawer {
            self.open_drawer().await;
        }
        ok
    }

    /// Asks the printer for its state (blocking thread) and publishes it.
    pub async fn poll_state(&self) -> DeviceState {
        let me = self.clone();
        match tokio::task::spawn_blocking(move || locked(&me.printer).state()).await {
            Ok(state) => {
                self.publish(state);
                state
            }
            Err(_) => self.state(),
        }
    }

    /// Sends the drawer kick and returns at once: the drawer must never hold
    /// up the payment, whatever the printer is doing. A failure is logged
    /// and shows in the device state. Returns false only when the kick
    /// could not even be scheduled.
    pub async fn open_drawer(&self) -> bool {
        let me = self.clone();
        let spawned = tokio::task::spawn_blocking(move || {
            let r = locked(&me.printer).open_drawer();
            if let Err(e) = r {
                warn!(error = %e, "could not open the drawer");
                me.publish(e.device_state());
            }
        });
        drop(spawned);
        true
    }

    /// The code page test (`--code-pages`), printed now.
    pub async fn print_code_page_test(&self, tables: Vec<u8>) -> Result<(), PrinterError> {
        let me = self.clone();
        let r =
            tokio::task::spawn_blocking(move || locked(&me.printer).print_code_page_test(&tables))
                .await
                .unwrap_or_else(|e| {
                    Err(PrinterError::Io {
                        device: "printer".into(),
                        action: "printing the code page test",
                        source: std::io::Error::other(e.to_string()),
                    })
                });
        match &r {
            Ok(()) => self.publish(DeviceState::Ready),
            Err(e) => self.publish(e.device_state()),
        }
        r
    }
}

/// `pos-agent printer test [--code-pages] [--tables 0,16,19]`: prints the
/// test page (or the code page tables) on the configured printer and
/// reports its state. Exit 0 when printed, 1 when the printer refused, with
/// the reason on standard error; the state goes to standard output.
pub fn printer_test(
    config: &pos_config::Config,
    code_pages: bool,
    tables: Option<Vec<u8>>,
) -> anyhow::Result<ExitCode> {
    let profile = crate::cli::printer_profile(config);
    let device = config.printer.device.to_string();
    let mut printer = pos_drivers::open_printer(
        &config.printer.device,
        profile,
        std::time::Duration::from_secs(3),
    );
    let before = printer.state();
    println!("Stampante {device}: stato {before}");
    let result = if code_pages {
        let tables = tables.unwrap_or_else(|| {
            let mut t = vec![config.printer.code_page_table];
            t.extend(
                CANDIDATE_TABLES
                    .iter()
                    .filter(|&&n| n != config.printer.code_page_table),
            );
            t
        });
        println!(
            "Stampo € à è é ì ò ù con le tabelle {}: impostare printer.code_page_table al numero della riga giusta.",
            tables
                .iter()
                .map(u8::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        );
        printer.print_code_page_test(&tables)
    } else {
        let terminal_id = crate::datadir::DataDir::open(&config.data_dir)
            .ok()
            .and_then(|d| d.read_terminal().ok())
            .map(|t| t.terminal_id)
            .unwrap_or_else(|| "non registrato".to_string());
        let header = crate::receipts::Header {
            shop_name: config.terminal.shop_name.clone(),
            address: config.terminal.address.clone(),
            terminal_id,
        };
        let info = crate::receipts::TestPageInfo {
            device: device.clone(),
            paper_width_mm: config.printer.paper_width_mm.mm(),
            columns: profile.columns,
            code_page_table: config.printer.code_page_table,
            euro_as_text: profile.euro == pos_drivers::EuroStyle::Text,
        };
        let now = time::OffsetDateTime::now_utc();
        let doc = crate::receipts::test_page(&header, &info, now, crate::receipts::local_offset());
        printer.print(&doc)
    };
    let after = printer.state();
    match result {
        Ok(()) => {
            println!("Pagina di prova inviata. Stato: {after}");
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            println!("Stato: {}", e.device_state());
            eprintln!("pos-agent: {e}");
            Ok(ExitCode::from(1))
        }
    }
}
