//! The events of `GET /api/v1/events`: a broadcast bus that the API streams
//! as Server-Sent Events. Payloads never hold an unmasked fiscal code.

use serde_json::Value;
use tokio::sync::broadcast;

#[derive(Debug, Clone)]
pub struct Event {
    /// `scan`, `device`, `outbox` or `transaction`.
    pub name: &'static str,
    pub data: Value,
}

#[derive(Clone)]
pub struct EventBus {
    tx: broadcast::Sender<Event>,
}

impl Default for EventBus {
    fn default() -> Self {
        Self::new()
    }
}

impl EventBus {
    pub fn new() -> Self {
        let (tx, _) = broadcast::channel(256);
        EventBus { tx }
    }

    pub fn emit(&self, name: &'static str, data: Value) {
        // No subscriber is not an error.
        let _ = self.tx.send(Event { name, data });
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.tx.subscribe()
    }
}
