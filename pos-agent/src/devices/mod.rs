//! The devices a parent's code comes from, as the agent sees them: each
//! driven by its own thread that holds a [`DeviceLink`] (its state, a scan
//! sink, the stop signal), never the agent.
//!
//! | file | job |
//! |---|---|
//! | `camera.rs` | the camera's capture and decode threads: one-frame slot, debounce, reopen with backoff |
//! | `card_reader.rs` | the serial card reader's thread: lines → the fiscal code of track 1 / Code 39, reconnect with backoff |
//! | `device_state.rs` | `DeviceCell` (a device's state, every change a `device` event), `DeviceLink`, `ScanSink` |
//! | `scans.rs` | the reads behind `scan_id`, bounded (64 reads, 256 KiB, 10 minutes) |
//!
//! The drivers themselves (V4L2 frames, the QR decoder, serial lines) are
//! in `pos-drivers`; the runtime (`crate::runtime`) starts and stops the
//! threads.

pub mod camera;
pub mod card_reader;
pub mod device_state;
pub mod scans;

pub use device_state::{DeviceCell, DeviceLink, ScanSink};
