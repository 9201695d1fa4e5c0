//! The camera as the agent sees it: frames in, `scan` events out, without
//! ever slowing the API down.
//!
//! ```text
//! capture thread ──latest frame only──▶ decode thread ──▶ Debounce ──▶ DeviceLink::scan ─▶ `scan` event
//!  (opens the camera,                   (QrDecoder: only what
//!   reopens it when it breaks)           pos_codes::classify accepts)
//! ```
//!
//! Decisions:
//!
//! - Two OS threads, not tasks: capture and decoding block (V4L2 reads,
//!   tens of milliseconds of pixel work), and on the async runtime they
//!   would take worker threads from the API.
//! - Between them a one-frame slot: a new frame replaces one not decoded
//!   yet. When decoding is slower than the camera, frames are dropped, never
//!   queued, so what is decoded is always what is in front of the camera
//!   now, and memory stays flat.
//! - Each frame is decoded within the decoder's time budget
//!   (`pos_drivers::camera::qr::DEFAULT_BUDGET`, about one frame period); a
//!   frame it cannot read in time is given up and the newest frame is taken
//!   next (`cargo bench -p pos-agent --bench camera_latency` measures a code
//!   appearing in a `dir:` camera to its `scan` event).
//! - One `scan` per code shown ([`Debounce`], `camera.hold_off_ms`); a
//!   different code is reported at once.
//! - State: `disabled` (`device = "none"`, no thread), `offline` until the
//!   camera opens and whenever it is unplugged or missing, `error` when it
//!   is busy, forbidden or unusable, `ready` while frames arrive. Every
//!   change is a `device` event. The capture thread retries from 200 ms
//!   doubling up to 5 s, so a re-plugged camera works within 5 s, and the
//!   rest of the agent never waits for it.
//! - Both threads hold only a [`DeviceLink`] (the camera's state, a scan
//!   sink, the stop signal), never the agent, and stop when the runtime
//!   stops or the agent is gone.

use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use pos_config::CameraDevice;
use pos_drivers::camera::{open_camera, Debounce, FrameSource, GrayFrame, QrDecoder};
use pos_drivers::DeviceState;
use tracing::{debug, info, warn};

use super::device_state::{DeviceCell, DeviceLink};
use crate::events::EventBus;

/// Retry delays after the camera failed to open or broke: first, and at most.
const RETRY_FIRST: Duration = Duration::from_millis(200);
const RETRY_MAX: Duration = Duration::from_secs(5);

/// The camera's state, shared by its threads and `GET /api/v1/status`;
/// every change is published as a `device` event.
pub type CameraState = DeviceCell;

/// `disabled` for `none`; `offline` for a camera not opened yet.
pub fn new_state(device: &CameraDevice, events: EventBus) -> CameraState {
    DeviceCell::camera(device, events)
}

/// The one-frame hand-over between the capture and the decode thread.
#[derive(Default)]
pub struct LatestFrame {
    slot: Mutex<Option<GrayFrame>>,
    ready: Condvar,
}

impl LatestFrame {
    /// Offer a frame; true when it replaced one that was never decoded
    /// (a dropped frame).
    pub fn put(&self, frame: GrayFrame) -> bool {
        let mut slot = self.slot.lock().unwrap_or_else(|p| p.into_inner());
        let dropped = slot.replace(frame).is_some();
        self.ready.notify_one();
        dropped
    }

    /// The newest frame, waiting up to `timeout` for one.
    pub fn take(&self, timeout: Duration) -> Option<GrayFrame> {
        let slot = self.slot.lock().unwrap_or_else(|p| p.into_inner());
        let (mut slot, _) = self
            .ready
            .wait_timeout_while(slot, timeout, |s| s.is_none())
            .unwrap_or_else(|p| p.into_inner());
        slot.take()
    }
}

/// The acceptor: only what the counter can use is a hit.
pub fn accept(text: &str) -> bool {
    pos_codes::classify(text).is_ok()
}

/// Starts the capture and decode threads when a camera is configured;
/// `None` for `device = "none"`.
pub fn spawn(
    cfg: &pos_config::CameraConfig,
    link: DeviceLink,
) -> Option<std::thread::JoinHandle<()>> {
    let cfg = cfg.clone();
    if cfg.device == CameraDevice::None {
        return None;
    }
    let state = link.state.clone();
    let latest = Arc::new(LatestFrame::default());
    let hold_off = Duration::from_millis(cfg.hold_off_ms);

    let decode_link = link.clone();
    let slot = latest.clone();
    let decoder = std::thread::Builder::new()
        .name("camera-decode".into())
        .spawn(move || {
            let mut decoder = QrDecoder::new(accept);
            let mut debounce = Debounce::new(hold_off);
            loop {
                let frame = slot.take(Duration::from_millis(500));
                if !decode_link.running() {
                    return;
                }
                let Some(frame) = frame else { continue };
                let t = Instant::now();
                let Some(hit) = decoder.decode(&frame) else {
                    continue;
                };
                if !debounce.accept(&hit.text, Instant::now()) {
                    continue;
                }
                let Some(scan_id) = decode_link.scan("camera", &hit.text) else {
                    return;
                };
                info!(%scan_id, pass = hit.pass.as_str(), ms = t.elapsed().as_millis() as u64, "camera: scan");
            }
        });
    if let Err(e) = decoder {
        warn!(error = %e, "camera: could not start the decode thread");
        state.set(DeviceState::Error);
        return None;
    }

    let capture_link = link.clone();
    let capture = std::thread::Builder::new()
        .name("camera-capture".into())
        .spawn(move || {
            let alive = || capture_link.running();
            capture_loop(
                || open_camera(&cfg.device, cfg.width, cfg.height),
                &state,
                &latest,
                alive,
            )
        });
    match capture {
        Ok(h) => Some(h),
        Err(e) => {
            warn!(error = %e, "camera: could not start the capture thread");
            link.state.set(DeviceState::Error);
            None
        }
    }
}

type Opened = Result<Option<Box<dyn FrameSource>>, pos_drivers::camera::CameraError>;

/// Open, read into `latest`, reopen after errors with backoff, until
/// `alive` says the agent is gone.
pub fn capture_loop(
    mut open: impl FnMut() -> Opened,
    state: &CameraState,
    latest: &LatestFrame,
    alive: impl Fn() -> bool,
) {
    let mut delay = RETRY_FIRST;
    let mut last_error = String::new();
    while alive() {
        let mut source = match open() {
            Ok(Some(s)) => s,
            Ok(None) => {
                state.set(DeviceState::Disabled);
                return;
            }
            Err(e) => {
                state.set(e.device_state());
                let text = e.to_string();
                if text != last_error {
                    warn!(error = %text, "camera: not available; retrying");
                    last_error = text;
                }
                sleep_while(delay, &alive);
                delay = (delay * 2).min(RETRY_MAX);
                continue;
            }
        };
        let info = source.info();
        info!(device = %info.device, name = %info.name, format = %info.format, "camera: open");
        state.set(DeviceState::Ready);
        last_error.clear();
        delay = RETRY_FIRST;
        let mut dropped = 0u64;
        while alive() {
            match source.next_frame() {
                Ok(Some(frame)) => {
                    if latest.put(frame) {
                        dropped += 1;
                        if dropped.is_power_of_two() {
                            debug!(dropped, "camera: decoding is behind; frames dropped");
                        }
                    }
                }
                Ok(None) => {}
                Err(e) => {
                    warn!(error = %e, "camera: stopped delivering frames; reopening");
                    state.set(e.device_state());
                    break;
                }
            }
        }
        // A camera that opens but cannot read must not spin.
        sleep_while(RETRY_FIRST, &alive);
    }
}

/// Sleep `d` in small steps, returning early when the agent is gone.
fn sleep_while(d: Duration, alive: &impl Fn() -> bool) {
    let end = Instant::now() + d;
    while alive() && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(50).min(end - Instant::now()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pos_drivers::camera::{CameraError, SourceInfo};
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn the_slot_keeps_only_the_newest_frame() {
        let slot = LatestFrame::default();
        let f = |v: u8| GrayFrame::new(1, 1, vec![v]).expect("frame");
        assert!(!slot.put(f(1)));
        assert!(slot.put(f(2)), "frame 1 was dropped");
        assert_eq!(slot.take(Duration::ZERO).map(|f| f.pixels()[0]), Some(2));
        assert_eq!(slot.take(Duration::from_millis(10)), None);
    }

    /// A source that delivers `frames` frames, then breaks.
    struct Flaky {
        frames: usize,
    }

    impl FrameSource for Flaky {
        fn info(&self) -> SourceInfo {
            SourceInfo {
                device: "test".into(),
                name: "flaky".into(),
                format: "-".into(),
            }
        }
        fn next_frame(&mut self) -> Result<Option<GrayFrame>, CameraError> {
            if self.frames == 0 {
                return Err(CameraError::Io {
                    device: "test".into(),
                    action: "reading a frame",
                    source: std::io::Error::other("unplugged"),
                });
            }
            self.frames -= 1;
            Ok(Some(GrayFrame::new(1, 1, vec![0]).expect("frame")))
        }
    }

    #[test]
    fn an_unplugged_camera_goes_offline_and_is_reopened() {
        let events = EventBus::new();
        let mut rx = events.subscribe();
        let state = new_state(&CameraDevice::Index(0), events);
        let latest = LatestFrame::default();
        let opens = AtomicUsize::new(0);
        capture_loop(
            || {
                let n = opens.fetch_add(1, Ordering::SeqCst);
                match n {
                    // First try: not plugged in.
                    0 => Err(CameraError::NotFound {
                        device: "index:0".into(),
                        reason: "no such device".into(),
                    }),
                    // Then it works for two frames and is unplugged.
                    _ => Ok(Some(Box::new(Flaky { frames: 2 }) as Box<dyn FrameSource>)),
                }
            },
            &state,
            &latest,
            || opens.load(Ordering::SeqCst) < 3,
        );
        assert_eq!(
            opens.load(Ordering::SeqCst),
            3,
            "reopened after each failure"
        );
        let mut states = Vec::new();
        while let Ok(e) = rx.try_recv() {
            assert_eq!(e.name, "device");
            assert_eq!(e.data["device"], "camera");
            states.push(e.data["state"].as_str().unwrap_or_default().to_string());
        }
        // Offline at start (no event: not found is offline too), ready,
        // offline when unplugged, ready again after the reopen.
        assert_eq!(states, ["ready", "offline", "ready"]);
        assert!(latest.take(Duration::ZERO).is_some());
    }

    #[test]
    fn disabled_camera_has_no_thread() {
        let state = new_state(&CameraDevice::None, EventBus::new());
        assert_eq!(state.get(), DeviceState::Disabled);
    }
}
