//! The printer as the agent sees it: one blocking driver behind a mutex,
//! driven from a blocking thread so a slow or dead printer never stalls the
//! API, and its state published as `device` events.

use std::sync::{Arc, Mutex};

use pos_drivers::{DeviceState, Document, Printer};
use serde_json::json;
use tracing::warn;

use crate::events::EventBus;

#[derive(Clone)]
pub struct PrintService {
    printer: Arc<Mutex<Box<dyn Printer>>>,
    state: Arc<Mutex<DeviceState>>,
    events: EventBus,
}

impl PrintService {
    pub fn new(printer: Box<dyn Printer>, events: EventBus) -> Self {
        let mut printer = printer;
        let state = printer.state();
        PrintService {
            printer: Arc::new(Mutex::new(printer)),
            state: Arc::new(Mutex::new(state)),
            events,
        }
    }

    pub fn state(&self) -> DeviceState {
        *self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn publish(&self, new: DeviceState) {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if *s != new {
            *s = new;
            self.events.emit(
                "device",
                json!({"device": "printer", "state": new.as_str()}),
            );
        }
    }

    /// Print a document; failures are logged and shown as the device state
    /// (the transaction is already safe on disk, and can be reprinted).
    pub async fn print(&self, doc: Document, kick_drawer: bool) -> bool {
        let me = self.clone();
        let r = tokio::task::spawn_blocking(move || {
            let mut p = me.printer.lock().unwrap_or_else(|e| e.into_inner());
            let mut r = p.print(&doc);
            if r.is_ok() && kick_drawer {
                r = p.open_drawer();
            }
            let state = p.state();
            (r, state)
        })
        .await;
        match r {
            Ok((Ok(()), state)) => {
                self.publish(state);
                true
            }
            Ok((Err(e), state)) => {
                warn!(error = %e, "printing failed");
                self.publish(if state == DeviceState::Ready {
                    DeviceState::Error
                } else {
                    state
                });
                false
            }
            Err(e) => {
                warn!(error = %e, "printer task failed");
                self.publish(DeviceState::Error);
                false
            }
        }
    }

    pub async fn open_drawer(&self) -> bool {
        let me = self.clone();
        let r = tokio::task::spawn_blocking(move || {
            let mut p = me.printer.lock().unwrap_or_else(|e| e.into_inner());
            p.open_drawer()
        })
        .await;
        match r {
            Ok(Ok(())) => true,
            Ok(Err(e)) => {
                warn!(error = %e, "could not open the drawer");
                false
            }
            Err(_) => false,
        }
    }
}
