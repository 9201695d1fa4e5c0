//! A device's state (camera, card reader), shared by the thread that drives
//! the device and by `GET /api/v1/status`; every change is published as a
//! `device` event, so the console's status bar follows it live.

use std::sync::{Arc, Mutex};

use pos_drivers::DeviceState;
use serde_json::json;

use crate::events::EventBus;

#[derive(Clone)]
pub struct DeviceCell {
    device: &'static str,
    state: Arc<Mutex<DeviceState>>,
    events: EventBus,
}

impl DeviceCell {
    /// `disabled` when the device is not configured; `offline` until it is
    /// opened.
    pub fn new(device: &'static str, configured: bool, events: EventBus) -> Self {
        let initial = if configured {
            DeviceState::Offline
        } else {
            DeviceState::Disabled
        };
        DeviceCell {
            device,
            state: Arc::new(Mutex::new(initial)),
            events,
        }
    }

    pub fn get(&self) -> DeviceState {
        *self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sets the state; true (and a `device` event) when it changed.
    pub fn set(&self, new: DeviceState) -> bool {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if *s == new {
            return false;
        }
        *s = new;
        self.events.emit(
            "device",
            json!({"device": self.device, "state": new.as_str()}),
        );
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_is_published_once() {
        let events = EventBus::new();
        let mut rx = events.subscribe();
        let cell = DeviceCell::new("camera", true, events);
        assert_eq!(cell.get(), DeviceState::Offline);
        assert!(cell.set(DeviceState::Ready));
        assert!(!cell.set(DeviceState::Ready), "no event without a change");
        let e = rx.try_recv().unwrap();
        assert_eq!(e.name, "device");
        assert_eq!(e.data, json!({"device": "camera", "state": "ready"}));
        assert!(rx.try_recv().is_err());
        assert_eq!(
            DeviceCell::new("card_reader", false, EventBus::new()).get(),
            DeviceState::Disabled
        );
    }
}
