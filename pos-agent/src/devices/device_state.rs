//! A device's state (camera, card reader), shared by the thread that drives
//! the device and by `GET /api/v1/status`; every change is published as a
//! `device` event, so the console's status bar follows it live.
//!
//! A device thread gets a [`DeviceLink`], never the agent: its own state,
//! a [`ScanSink`] for what it reads, and the runtime's stop signal.

use std::sync::{Arc, Mutex, Weak};

use pos_drivers::DeviceState;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::events::EventBus;

/// Where a device delivers what it read: the sink keeps the text for
/// `scan_id` and publishes a `scan` event (masked); it returns the id.
pub trait ScanSink: Send + Sync {
    fn scan(&self, source: &str, text: &str) -> String;
}

/// All a device thread may touch.
#[derive(Clone)]
pub struct DeviceLink {
    /// The device's state, shown by `status` and the `device` events.
    pub state: DeviceCell,
    sink: Weak<dyn ScanSink>,
    stop: CancellationToken,
}

impl DeviceLink {
    /// The thread runs until `stop` is cancelled or the sink is gone.
    pub fn new(state: DeviceCell, sink: Weak<dyn ScanSink>, stop: CancellationToken) -> Self {
        DeviceLink { state, sink, stop }
    }

    /// False once the agent stops (or is gone): the thread ends.
    pub fn running(&self) -> bool {
        !self.stop.is_cancelled() && self.sink.strong_count() > 0
    }

    /// Hand a read over; its `scan_id`, or `None` when the agent is gone.
    pub fn scan(&self, source: &str, text: &str) -> Option<String> {
        if self.stop.is_cancelled() {
            return None;
        }
        self.sink.upgrade().map(|sink| sink.scan(source, text))
    }
}

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

    /// The camera's: `disabled` for `none`.
    pub fn camera(device: &pos_config::CameraDevice, events: EventBus) -> Self {
        DeviceCell::new("camera", *device != pos_config::CameraDevice::None, events)
    }

    /// The card reader's: `disabled` for `none`.
    pub fn card_reader(device: &pos_config::CardReaderDevice, events: EventBus) -> Self {
        DeviceCell::new(
            "card_reader",
            !matches!(device, pos_config::CardReaderDevice::None),
            events,
        )
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

    struct Kept(Mutex<Vec<String>>);

    impl ScanSink for Kept {
        fn scan(&self, source: &str, text: &str) -> String {
            let mut k = self.0.lock().unwrap();
            k.push(format!("{source}:{text}"));
            k.len().to_string()
        }
    }

    #[test]
    fn a_link_delivers_until_stopped_or_the_sink_is_gone() {
        let sink: Arc<dyn ScanSink> = Arc::new(Kept(Mutex::new(vec![])));
        let stop = CancellationToken::new();
        let cell = DeviceCell::new("camera", true, EventBus::new());
        let link = DeviceLink::new(cell, Arc::downgrade(&sink), stop.clone());
        assert!(link.running());
        assert_eq!(link.scan("camera", "A").as_deref(), Some("1"));
        stop.cancel();
        assert!(!link.running());
        assert_eq!(link.scan("camera", "B"), None, "nothing after the stop");

        let other = DeviceLink::new(
            DeviceCell::new("card_reader", true, EventBus::new()),
            Arc::downgrade(&sink),
            CancellationToken::new(),
        );
        assert!(other.running());
        drop(sink);
        assert!(!other.running(), "the agent is gone");
        assert_eq!(other.scan("card_reader", "C"), None);
    }

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
