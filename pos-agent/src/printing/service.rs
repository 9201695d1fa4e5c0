//! The printer as the agent sees it: one blocking driver behind a mutex,
//! driven from blocking threads so a slow or dead printer never stalls the
//! API, its state published as `device` events and in `/api/v1/status`.
//!
//! Receipts do not go straight to [`PrintService::print`]: they are print
//! jobs in SQLite (`crate::printing::queue`), printed from there and retried by
//! a background loop until the printer takes them. This module only knows
//! how to put one document on paper and what state the printer is in; it
//! also holds the count of jobs still waiting, so the operator can be told.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use pos_drivers::{DeviceState, Document, Printer, PrinterError};
use serde_json::{json, Value};
use tracing::warn;

use crate::events::EventBus;

#[derive(Clone)]
pub struct PrintService {
    printer: Arc<Mutex<Box<dyn Printer>>>,
    state: Arc<Mutex<DeviceState>>,
    /// Print jobs not printed yet (kept up to date by the queue).
    pending: Arc<AtomicUsize>,
    /// Why the last job could not be printed, until one is.
    last_error: Arc<Mutex<Option<String>>>,
    events: EventBus,
}

/// How the config's `[printer]` section says documents are encoded:
/// columns, code page, how the euro sign is printed.
pub fn printer_profile(config: &pos_config::Config) -> pos_drivers::PrinterProfile {
    pos_drivers::PrinterProfile {
        columns: config.printer.paper_width_mm.columns(),
        code_page_table: config.printer.code_page_table,
        euro: match config.printer.euro {
            pos_config::EuroMode::Glyph => pos_drivers::EuroStyle::Glyph,
            pos_config::EuroMode::Eur => pos_drivers::EuroStyle::Text,
        },
    }
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
    /// the print queue instead ([`crate::printing::PrintQueue::print`]).
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
