//! A USB webcam through nokhwa's V4L2 backend (Linux): `index:N` or
//! `v4l:/dev/videoN`.
//!
//! Format: among what the camera offers in MJPEG, YUYV, GRAY or NV12, the
//! resolution closest to the configured one; at equal resolution the higher
//! frame rate (up to 30 fps), then YUYV (luminance for free) before MJPEG
//! (a JPEG decode per frame, straight to luminance). nokhwa's own RGB
//! conversion is never used: the raw buffer goes to [`GrayFrame`](super::GrayFrame).
//!
//! Before nokhwa, the device node is opened once by hand, so that a
//! missing, busy or forbidden camera gets a precise error (nokhwa only
//! reports strings).

use std::path::{Path, PathBuf};

use super::{CameraError, FrameSource};

/// How a requested size and what a camera offers are matched (pure, so it is
/// tested without a camera): `(width, height, fps, fourcc)` candidates, the
/// index of the best one.
pub fn choose_format(offers: &[(u32, u32, u32, &str)], width: u32, height: u32) -> Option<usize> {
    let rank = |fourcc: &str| match fourcc {
        "YUYV" => 0,
        "MJPEG" => 1,
        "GRAY" => 2,
        "NV12" => 3,
        _ => 9,
    };
    offers
        .iter()
        .enumerate()
        .filter(|(_, o)| rank(o.3) < 9)
        .min_by_key(|(_, &(w, h, fps, fourcc))| {
            let dist = (w as i64 - width as i64).pow(2) + (h as i64 - height as i64).pow(2);
            // Below 15 fps a phone moved into view smears: worse than a
            // slightly different resolution.
            let slow = u8::from(fps < 15);
            (slow, dist, std::cmp::Reverse(fps.min(30)), rank(fourcc))
        })
        .map(|(i, _)| i)
}

/// `/dev/videoN` (or a symlink to it, e.g. `/dev/v4l/by-id/...`) → N.
pub fn video_index(path: &Path) -> Option<u32> {
    let real = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    real.file_name()?
        .to_str()?
        .strip_prefix("video")?
        .parse()
        .ok()
}

/// Open the device node once to turn "missing", "busy" and "forbidden" into
/// precise errors.
fn probe(device: &str, path: &Path) -> Result<(), CameraError> {
    match std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(e) => Err(match e.kind() {
            std::io::ErrorKind::NotFound => CameraError::NotFound {
                device: device.into(),
                reason: format!("{} does not exist", path.display()),
            },
            std::io::ErrorKind::PermissionDenied => CameraError::PermissionDenied {
                device: device.into(),
                path: path.to_path_buf(),
            },
            _ if e.raw_os_error() == Some(16) => CameraError::Busy {
                device: device.into(),
            },
            _ if e.raw_os_error() == Some(19) => CameraError::NotFound {
                device: device.into(),
                reason: "the device is gone (unplugged?)".into(),
            },
            _ => CameraError::Io {
                device: device.into(),
                action: "opening the device",
                source: e,
            },
        }),
    }
}

/// `index:N`.
pub fn open_index(n: u32, width: u32, height: u32) -> Result<Box<dyn FrameSource>, CameraError> {
    let device = format!("index:{n}");
    let path = PathBuf::from(format!("/dev/video{n}"));
    open(device, n, &path, width, height)
}

/// `v4l:/dev/videoN`.
pub fn open_path(
    path: &Path,
    width: u32,
    height: u32,
) -> Result<Box<dyn FrameSource>, CameraError> {
    let device = format!("v4l:{}", path.display());
    let n = video_index(path).ok_or_else(|| CameraError::Unsupported {
        device: device.clone(),
        reason: format!("{} is not a /dev/videoN device", path.display()),
    })?;
    open(device, n, path, width, height)
}

#[cfg(target_os = "linux")]
fn open(
    device: String,
    n: u32,
    path: &Path,
    width: u32,
    height: u32,
) -> Result<Box<dyn FrameSource>, CameraError> {
    probe(&device, path)?;
    linux::Webcam::open(device, n, width, height).map(|c| Box::new(c) as Box<dyn FrameSource>)
}

#[cfg(not(target_os = "linux"))]
fn open(
    device: String,
    _n: u32,
    path: &Path,
    _width: u32,
    _height: u32,
) -> Result<Box<dyn FrameSource>, CameraError> {
    probe(&device, path)?;
    Err(CameraError::Unsupported {
        device,
        reason: "webcams are supported on Linux only".into(),
    })
}

#[cfg(target_os = "linux")]
mod linux {
    use nokhwa::utils::{
        CameraFormat, CameraIndex, FrameFormat, RequestedFormat, RequestedFormatType,
    };
    use nokhwa::{Camera, NokhwaError};

    use super::super::{CameraError, FrameSource, GrayFrame, SourceInfo};

    const FORMATS: &[FrameFormat] = &[
        FrameFormat::MJPEG,
        FrameFormat::YUYV,
        FrameFormat::GRAY,
        FrameFormat::NV12,
    ];

    pub struct Webcam {
        device: String,
        camera: Camera,
        format: CameraFormat,
    }

    /// nokhwa's errors are strings: map the OS error they quote.
    fn map_err(device: &str, e: NokhwaError) -> CameraError {
        let text = e.to_string();
        let has = |s: &str| text.contains(s);
        if has("os error 16") || has("busy") {
            CameraError::Busy {
                device: device.into(),
            }
        } else if has("os error 19") || has("os error 2)") || has("No such") {
            CameraError::NotFound {
                device: device.into(),
                reason: text,
            }
        } else if has("os error 5)") || has("Could not capture frame") {
            CameraError::Io {
                device: device.into(),
                action: "reading a frame",
                source: std::io::Error::other(text),
            }
        } else {
            CameraError::Backend {
                device: device.into(),
                reason: text,
            }
        }
    }

    impl Webcam {
        pub fn open(
            device: String,
            n: u32,
            width: u32,
            height: u32,
        ) -> Result<Webcam, CameraError> {
            let any = RequestedFormat::with_formats(RequestedFormatType::None, FORMATS);
            let mut camera =
                Camera::new(CameraIndex::Index(n), any).map_err(|e| map_err(&device, e))?;
            let offers = camera
                .compatible_camera_formats()
                .map_err(|e| map_err(&device, e))?;
            let described: Vec<(u32, u32, u32, String)> = offers
                .iter()
                .map(|f| {
                    (
                        f.width(),
                        f.height(),
                        f.frame_rate(),
                        f.format().to_string(),
                    )
                })
                .collect();
            let as_refs: Vec<(u32, u32, u32, &str)> = described
                .iter()
                .map(|(w, h, fps, f)| (*w, *h, *fps, f.as_str()))
                .collect();
            let best = super::choose_format(&as_refs, width, height).ok_or_else(|| {
                CameraError::Unsupported {
                    device: device.clone(),
                    reason: "it offers none of MJPEG, YUYV, GRAY, NV12".into(),
                }
            })?;
            let format = offers[best];
            let exact = [format.format()];
            camera
                .set_camera_requset(RequestedFormat::with_formats(
                    RequestedFormatType::Exact(format),
                    &exact,
                ))
                .map_err(|e| map_err(&device, e))?;
            camera.open_stream().map_err(|e| map_err(&device, e))?;
            let format = camera.camera_format();
            Ok(Webcam {
                device,
                camera,
                format,
            })
        }
    }

    impl FrameSource for Webcam {
        fn info(&self) -> SourceInfo {
            SourceInfo {
                device: self.device.clone(),
                name: self.camera.info().human_name(),
                format: format!(
                    "{} {}x{} @ {} fps",
                    self.format.format(),
                    self.format.width(),
                    self.format.height(),
                    self.format.frame_rate()
                ),
            }
        }

        fn next_frame(&mut self) -> Result<Option<GrayFrame>, CameraError> {
            let buf = self.camera.frame().map_err(|e| map_err(&self.device, e))?;
            let res = buf.resolution();
            let (w, h) = (res.width(), res.height());
            let data = buf.buffer();
            let frame = match buf.source_frame_format() {
                FrameFormat::YUYV => GrayFrame::from_yuyv(w, h, data),
                FrameFormat::MJPEG => GrayFrame::from_jpeg(data),
                FrameFormat::GRAY | FrameFormat::NV12 => GrayFrame::from_y_plane(w, h, data),
                FrameFormat::RAWRGB | FrameFormat::RAWBGR => GrayFrame::from_rgb(w, h, data),
            };
            match frame {
                Ok(f) => Ok(Some(f)),
                // A corrupt MJPEG frame happens on a weak USB link: skip it.
                Err(e) => {
                    tracing::debug!(device = %self.device, error = %e, "camera: bad frame skipped");
                    Ok(None)
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closest_resolution_then_fps_then_cheapest_format() {
        let offers = [
            (640, 480, 30, "MJPEG"),
            (1280, 720, 30, "MJPEG"),
            (1280, 720, 10, "YUYV"),
            (1920, 1080, 30, "MJPEG"),
        ];
        assert_eq!(choose_format(&offers, 1280, 720), Some(1));
        assert_eq!(choose_format(&offers, 640, 480), Some(0));
        let offers = [(1280, 720, 30, "MJPEG"), (1280, 720, 30, "YUYV")];
        assert_eq!(choose_format(&offers, 1280, 720), Some(1));
        let offers = [(1280, 720, 30, "H264")];
        assert_eq!(choose_format(&offers, 1280, 720), None);
    }

    #[test]
    fn slow_formats_lose_to_a_nearby_fast_one() {
        let offers = [(1280, 720, 5, "YUYV"), (1024, 576, 30, "YUYV")];
        assert_eq!(choose_format(&offers, 1280, 720), Some(1));
    }

    #[test]
    fn device_nodes_give_their_index() {
        assert_eq!(video_index(Path::new("/nonexistent/video3")), Some(3));
        assert_eq!(video_index(Path::new("/nonexistent/sda")), None);
    }

    #[test]
    fn a_missing_camera_is_offline() {
        let e = match open_path(Path::new("/nonexistent/video97"), 1280, 720) {
            Err(e) => e,
            Ok(_) => panic!("opened a missing camera"),
        };
        assert_eq!(e.device_state(), crate::DeviceState::Offline, "{e}");
        assert!(e.to_string().contains("v4l:/nonexistent/video97"), "{e}");
    }
}
