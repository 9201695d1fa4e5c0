//! The camera: frames in, QR texts out.
//!
//! - [`FrameSource`]: where frames come from. [`open_camera`] picks the
//!   implementation from the configured [`CameraDevice`]: a V4L2 webcam
//!   through nokhwa (`index:N`, `v4l:/dev/videoN`, see [`webcam`]) or a
//!   directory of image files (`dir:PATH`, see [`dir`]).
//! - [`GrayFrame`]: what every source delivers, luminance only.
//! - [`QrDecoder`]: the decoding pipeline: zxing-cpp first, then our own
//!   locator and rqrr (see [`qr`] for its passes and why).
//! - [`Debounce`]: one report per code held in front of the camera.
//!
//! All calls block; the agent runs them on dedicated threads.
//!
//! ```
//! use pos_drivers::camera::{Debounce, GrayFrame, QrDecoder};
//! use std::time::{Duration, Instant};
//!
//! let mut decoder = QrDecoder::new(|text| text.starts_with("PAGOPA|"));
//! let blank = GrayFrame::new(640, 480, vec![200; 640 * 480]).unwrap();
//! assert!(decoder.decode(&blank).is_none());
//!
//! let mut debounce = Debounce::new(Duration::from_secs(3));
//! let now = Instant::now();
//! assert!(debounce.accept("A", now));
//! assert!(!debounce.accept("A", now + Duration::from_millis(100)));
//! assert!(debounce.accept("B", now + Duration::from_millis(200)));
//! ```

use std::path::PathBuf;

pub use pos_config::CameraDevice;

mod debounce;
mod decode;
pub mod dir;
mod finder;
mod frame;
pub mod qr;
pub mod webcam;
mod zxing;

pub use debounce::Debounce;
pub use dir::DirSource;
pub use frame::{GrayFrame, MAX_SIDE};
pub use qr::{decode_stock, Decoded, Pass, QrDecoder};

use crate::DeviceState;

/// Why the camera could not deliver a frame. Every message names the device
/// as the configuration spells it and says what to check.
#[derive(Debug, thiserror::Error)]
pub enum CameraError {
    /// No such camera (unplugged, wrong index, missing directory).
    #[error("camera {device} not found: {reason}; check the cable or the configured device")]
    NotFound {
        /// The camera as the configuration spells it.
        device: String,
        /// What is missing, e.g. `/dev/video2 does not exist`.
        reason: String,
    },
    /// The device node exists but this user may not open it.
    #[error(
        "camera {device}: permission denied opening {}; add the user to the video group (sudo usermod -aG video USER) and log in again",
        .path.display()
    )]
    PermissionDenied {
        /// The camera as the configuration spells it.
        device: String,
        /// The device node that could not be opened.
        path: PathBuf,
    },
    /// Another program holds the camera.
    #[error(
        "camera {device} is in use by another program; close it (browser, video call) and wait"
    )]
    Busy {
        /// The camera as the configuration spells it.
        device: String,
    },
    /// The camera offers nothing we can read.
    #[error("camera {device} cannot be used: {reason}")]
    Unsupported {
        /// The camera as the configuration spells it.
        device: String,
        /// What it offers and why none of it fits.
        reason: String,
    },
    /// The camera was open and stopped delivering frames.
    #[error("camera {device}: {action} failed: {source}")]
    Io {
        /// The camera as the configuration spells it.
        device: String,
        /// What was being done, e.g. `reading a frame`.
        action: &'static str,
        /// The underlying failure.
        #[source]
        source: std::io::Error,
    },
    /// Any other failure of the capture library.
    #[error("camera {device}: {reason}")]
    Backend {
        /// The camera as the configuration spells it.
        device: String,
        /// The capture library's own message.
        reason: String,
    },
    /// A frame or image file that cannot be decoded.
    #[error("bad frame: {0}")]
    BadFrame(String),
}

impl CameraError {
    /// The device state this error means, for the agent's status report.
    pub fn device_state(&self) -> DeviceState {
        match self {
            CameraError::NotFound { .. } | CameraError::Io { .. } => DeviceState::Offline,
            CameraError::PermissionDenied { .. }
            | CameraError::Busy { .. }
            | CameraError::Unsupported { .. }
            | CameraError::Backend { .. }
            | CameraError::BadFrame(_) => DeviceState::Error,
        }
    }
}

/// What an open source delivers, for `camera test` and the logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceInfo {
    /// The device as configured (`index:0`, `dir:/tmp/cam`).
    pub device: String,
    /// The camera's name, or `directory`.
    pub name: String,
    /// `MJPEG 1280x720 @ 30 fps`, `PNG/JPEG files`.
    pub format: String,
}

/// A camera: something that delivers grayscale frames, one at a time.
///
/// Implementations block for at most about a second per call, so that the
/// capture thread notices quickly when the agent stops.
pub trait FrameSource {
    /// What was opened: device, name and format; cheap, no I/O.
    fn info(&self) -> SourceInfo;

    /// The next frame; `Ok(None)` when none arrived in time (a `dir:`
    /// camera with no new file). An error means the source is broken and
    /// must be reopened.
    fn next_frame(&mut self) -> Result<Option<GrayFrame>, CameraError>;
}

/// Open the configured camera at about `width`×`height` (`None` for
/// `device = "none"`).
pub fn open_camera(
    device: &CameraDevice,
    width: u32,
    height: u32,
) -> Result<Option<Box<dyn FrameSource>>, CameraError> {
    Ok(match device {
        CameraDevice::None => None,
        CameraDevice::Dir { path } => Some(Box::new(DirSource::open(path)?)),
        CameraDevice::Index(n) => Some(webcam::open_index(*n, width, height)?),
        CameraDevice::V4l { path } => Some(webcam::open_path(path, width, height)?),
    })
}
