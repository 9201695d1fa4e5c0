//! A grayscale frame: the only thing the QR pipeline ever looks at.
//!
//! Webcams deliver YUYV (luminance is every other byte: taken as is, no
//! colour conversion), MJPEG (decoded straight to luminance, skipping RGB),
//! NV12 (the Y plane comes first), or plain gray; the `dir:` camera and
//! `camera decode` read PNG and JPEG files.

use std::path::Path;

use super::CameraError;

/// An 8-bit grayscale picture, row after row, no padding.
#[derive(Clone, PartialEq, Eq)]
pub struct GrayFrame {
    width: u32,
    height: u32,
    pixels: Vec<u8>,
}

impl std::fmt::Debug for GrayFrame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "GrayFrame({}x{})", self.width, self.height)
    }
}

/// Frames larger than this are refused: no webcam delivers them, and a
/// corrupt header must not make us allocate gigabytes.
pub const MAX_SIDE: u32 = 8192;

impl GrayFrame {
    /// A frame from raw pixels; `pixels.len()` must be `width * height`.
    pub fn new(width: u32, height: u32, pixels: Vec<u8>) -> Result<GrayFrame, CameraError> {
        if width == 0 || height == 0 || width > MAX_SIDE || height > MAX_SIDE {
            return Err(CameraError::BadFrame(format!(
                "size {width}x{height} is not between 1x1 and {MAX_SIDE}x{MAX_SIDE}"
            )));
        }
        if pixels.len() != width as usize * height as usize {
            return Err(CameraError::BadFrame(format!(
                "{} bytes for a {width}x{height} gray frame (want {})",
                pixels.len(),
                width as usize * height as usize
            )));
        }
        Ok(GrayFrame {
            width,
            height,
            pixels,
        })
    }

    /// Width in pixels (1 to [`MAX_SIDE`]).
    pub fn width(&self) -> u32 {
        self.width
    }

    /// Height in pixels (1 to [`MAX_SIDE`]).
    pub fn height(&self) -> u32 {
        self.height
    }

    /// Row-major luminance, `width * height` bytes.
    pub fn pixels(&self) -> &[u8] {
        &self.pixels
    }

    /// YUYV 4:2:2 (`Y0 U Y1 V`): the luminance is every other byte.
    pub fn from_yuyv(width: u32, height: u32, data: &[u8]) -> Result<GrayFrame, CameraError> {
        let n = width as usize * height as usize;
        if data.len() < 2 * n {
            return Err(CameraError::BadFrame(format!(
                "YUYV frame of {} bytes is too short for {width}x{height}",
                data.len()
            )));
        }
        GrayFrame::new(
            width,
            height,
            data[..2 * n].iter().step_by(2).copied().collect(),
        )
    }

    /// NV12 / planar formats whose first plane is the luminance.
    pub fn from_y_plane(width: u32, height: u32, data: &[u8]) -> Result<GrayFrame, CameraError> {
        let n = width as usize * height as usize;
        match data.get(..n) {
            Some(y) => GrayFrame::new(width, height, y.to_vec()),
            None => Err(CameraError::BadFrame(format!(
                "frame of {} bytes is too short for {width}x{height}",
                data.len()
            ))),
        }
    }

    /// Packed 8-bit RGB (or BGR: the weights are nearly symmetric for our
    /// purpose, and a QR is black and white).
    pub fn from_rgb(width: u32, height: u32, data: &[u8]) -> Result<GrayFrame, CameraError> {
        let n = width as usize * height as usize;
        if data.len() < 3 * n {
            return Err(CameraError::BadFrame(format!(
                "RGB frame of {} bytes is too short for {width}x{height}",
                data.len()
            )));
        }
        let pixels = data[..3 * n]
            .chunks_exact(3)
            .map(|p| ((77 * p[0] as u32 + 150 * p[1] as u32 + 29 * p[2] as u32) >> 8) as u8)
            .collect();
        GrayFrame::new(width, height, pixels)
    }

    /// A JPEG (or MJPEG webcam frame), decoded straight to luminance.
    pub fn from_jpeg(data: &[u8]) -> Result<GrayFrame, CameraError> {
        use zune_core::bytestream::ZCursor;
        use zune_core::colorspace::ColorSpace;
        use zune_core::options::DecoderOptions;
        let options = DecoderOptions::default()
            .jpeg_set_out_colorspace(ColorSpace::Luma)
            .set_max_width(MAX_SIDE as usize)
            .set_max_height(MAX_SIDE as usize);
        let mut dec = zune_jpeg::JpegDecoder::new_with_options(ZCursor::new(data), options);
        let pixels = dec
            .decode()
            .map_err(|e| CameraError::BadFrame(format!("JPEG: {e:?}")))?;
        let info = dec
            .info()
            .ok_or_else(|| CameraError::BadFrame("JPEG without a header".into()))?;
        let (w, h) = (info.width as u32, info.height as u32);
        let n = w as usize * h as usize;
        if pixels.len() == n {
            return GrayFrame::new(w, h, pixels);
        }
        // Some decoders ignore the requested colour space for odd inputs.
        match pixels.len() / n.max(1) {
            3 => GrayFrame::from_rgb(w, h, &pixels),
            4 => GrayFrame::new(w, h, pixels.chunks_exact(4).map(|p| p[1]).collect()),
            _ => Err(CameraError::BadFrame(format!(
                "JPEG decoded to {} bytes for {w}x{h}",
                pixels.len()
            ))),
        }
    }

    /// A PNG or JPEG file's bytes (told apart by their magic numbers).
    pub fn from_image_bytes(data: &[u8]) -> Result<GrayFrame, CameraError> {
        if data.starts_with(&[0xFF, 0xD8]) {
            return GrayFrame::from_jpeg(data);
        }
        if !data.starts_with(b"\x89PNG") {
            return Err(CameraError::BadFrame("neither a PNG nor a JPEG".into()));
        }
        let mut reader =
            image::ImageReader::with_format(std::io::Cursor::new(data), image::ImageFormat::Png);
        let mut limits = image::Limits::default();
        limits.max_image_width = Some(MAX_SIDE);
        limits.max_image_height = Some(MAX_SIDE);
        reader.limits(limits);
        let img = reader
            .decode()
            .map_err(|e| CameraError::BadFrame(format!("PNG: {e}")))?
            .into_luma8();
        let (w, h) = img.dimensions();
        GrayFrame::new(w, h, img.into_raw())
    }

    /// Load a PNG or JPEG file.
    pub fn load(path: &Path) -> Result<GrayFrame, CameraError> {
        let data = std::fs::read(path).map_err(|e| CameraError::Io {
            device: path.display().to_string(),
            action: "reading the image",
            source: e,
        })?;
        GrayFrame::from_image_bytes(&data)
            .map_err(|e| CameraError::BadFrame(format!("{}: {e}", path.display())))
    }

    /// Save as PNG (for a technician to look at what the camera sees).
    pub fn save_png(&self, path: &Path) -> Result<(), CameraError> {
        let img = image::GrayImage::from_raw(self.width, self.height, self.pixels.clone())
            .ok_or_else(|| CameraError::BadFrame("frame size does not match".into()))?;
        img.save_with_format(path, image::ImageFormat::Png)
            .map_err(|e| CameraError::Io {
                device: path.display().to_string(),
                action: "writing the PNG",
                source: std::io::Error::other(e.to_string()),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yuyv_keeps_the_luminance_bytes() {
        let f = GrayFrame::from_yuyv(2, 1, &[10, 128, 20, 128]).expect("frame");
        assert_eq!(f.pixels(), &[10, 20]);
        assert!(GrayFrame::from_yuyv(2, 2, &[0; 4]).is_err());
    }

    #[test]
    fn wrong_sizes_are_refused() {
        assert!(GrayFrame::new(2, 2, vec![0; 3]).is_err());
        assert!(GrayFrame::new(0, 2, vec![]).is_err());
        assert!(GrayFrame::from_y_plane(4, 4, &[0; 15]).is_err());
    }

    #[test]
    fn png_round_trip() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("f.png");
        let f = GrayFrame::new(3, 2, vec![0, 50, 100, 150, 200, 250]).expect("frame");
        f.save_png(&path).expect("save");
        assert_eq!(GrayFrame::load(&path).expect("load"), f);
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(GrayFrame::from_image_bytes(b"hello").is_err());
        assert!(GrayFrame::from_image_bytes(&[0xFF, 0xD8, 0xFF, 0xE0, 0, 0]).is_err());
        assert!(GrayFrame::from_image_bytes(b"\x89PNG\r\n\x1a\n\0\0").is_err());
    }
}
