//! The virtual camera: counter frames of a phone screen showing a QR code,
//! generated deterministically from a payload and a seed.
//!
//! A frame is what a cheap USB webcam at a tobacconist's counter sees: a
//! cluttered background (shelves, lottery slips, stripes, decoy squares), a
//! phone held at an angle with the QR on its screen, and everything a real
//! picture adds: size, rotation (0–45° either way), perspective, blur, sensor
//! noise, low contrast, a glare gradient on the glass, exposure, and JPEG
//! artefacts. Frames without a QR (a phone showing something else, or no phone
//! at all) check that the decoder reports nothing when there is nothing.
//!
//! Frames are grayscale: the decoder only ever looks at luminance, so colour
//! would add generation time and nothing to the test.
//!
//! ```no_run
//! use hardware_mocks::camera::{self, VirtualCamera};
//!
//! // One frame, in memory (the same seed always gives the same pixels).
//! let token = hardware_mocks::demo::app_token("c_8f3a9b21", "mensa", 1_763_800_000);
//! let frame = camera::frame(Some(&token), 1280, 720, 7);
//! assert_eq!(frame.dimensions(), (1280, 720));
//!
//! // Served through a `dir:PATH` camera: each call writes a new file.
//! let mut cam = VirtualCamera::new("/tmp/camera").unwrap();
//! cam.show(Some(&token), 7).unwrap();
//! ```
//!
//! The benchmark set ([`bench_set`]) is fixed by its seed: the same frames on
//! every machine and every run. [`hard`] makes a second, harder set
//! ([`hard_bench_set`]): small modules, steep tilt, specular glare, moire,
//! a thumb, fake codes in the clutter.

use std::f32::consts::PI;
use std::io;
use std::path::{Path, PathBuf};

use image::GrayImage;
use qrcode::{EcLevel, QrCode};

use crate::backend::demo;

pub mod hard;
pub use hard::{hard_bench_set, hard_frame, hard_frame_of_modules, HardScene};

/// SplitMix64: tiny, fast and, unlike `rand`'s `StdRng`, guaranteed to give
/// the same numbers in every version, which a fixed benchmark set needs.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// The same seed gives the same sequence, on every machine and version.
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x5EED_CAFE_F00D_BEEF)
    }

    /// The next 64 uniformly distributed bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }

    /// Uniform in `[lo, hi)`.
    pub fn range(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * self.unit()
    }

    /// Uniform integer in `[lo, hi]`.
    pub fn int(&mut self, lo: i64, hi: i64) -> i64 {
        let span = (hi - lo + 1).max(1) as u64;
        lo + (self.next_u64() % span) as i64
    }

    /// True with probability `p` (0..1).
    pub fn chance(&mut self, p: f32) -> bool {
        self.unit() < p
    }

    /// Standard normal (Box–Muller).
    pub fn normal(&mut self) -> f32 {
        let u1 = self.unit().max(1e-7);
        let u2 = self.unit();
        (-2.0 * u1.ln()).sqrt() * (2.0 * PI * u2).cos()
    }
}

/// Everything that varies from one frame to the next, drawn from the seed.
/// Public so that a failing frame can be described in a bug report.
#[derive(Debug, Clone)]
pub struct Scene {
    /// Frame width in pixels.
    pub width: u32,
    /// Frame height in pixels.
    pub height: u32,
    /// Side of the QR symbol (without quiet zone) as a fraction of the frame
    /// height.
    pub qr_fraction: f32,
    /// Rotation in degrees, -45..45.
    pub rotation_deg: f32,
    /// Perspective: relative change of scale across the symbol, x and y.
    pub tilt: (f32, f32),
    /// Where the QR's centre is, in pixels.
    pub center: (f32, f32),
    /// Screen white as the screen emits it (grey level, 150..250).
    pub screen_white: f32,
    /// QR black as the screen emits it: `screen_white` less 35-90 %.
    pub screen_black: f32,
    /// Glare: centre (in QR side units from its centre), radius (QR sides)
    /// and strength (0..1, the share of the remaining headroom it eats).
    pub glare: (f32, f32, f32, f32),
    /// Exposure gain and offset applied to the whole frame.
    pub exposure: (f32, f32),
    /// Gaussian blur sigma, in pixels.
    pub blur_sigma: f32,
    /// Sensor noise sigma, in grey levels.
    pub noise_sigma: f32,
    /// JPEG quality of the final frame.
    pub jpeg_quality: u8,
    /// Whether a phone is in the picture at all (frames without a QR may
    /// have none).
    pub phone: bool,
}

impl Scene {
    /// Draw a scene for a frame of `width`×`height` from `seed`.
    pub fn random(width: u32, height: u32, seed: u64) -> Scene {
        let mut r = Rng::new(seed);
        let (w, h) = (width as f32, height as f32);
        // A low-resolution camera is held closer: the operator moves the
        // phone until it fills more of the picture.
        let scale = (h / 480.0).clamp(0.5, 3.0);
        let qr_fraction = r.range(0.36, 0.72);
        let rotation_deg = r.range(-45.0, 45.0);
        let tilt = (r.range(-0.18, 0.18), r.range(-0.18, 0.18));
        // Keep the whole symbol (and a little quiet zone) in the frame: a
        // code cut by the frame edge is not a code the operator shows.
        let spread = 1.5 * (1.0 + tilt.0.abs() + tilt.1.abs());
        let qr_fraction = qr_fraction.min(w.min(h) / h / spread);
        let side = qr_fraction * h;
        let half_diag = side * 0.5 * spread;
        let cx = if w > 2.0 * half_diag {
            r.range(half_diag, w - half_diag)
        } else {
            w / 2.0
        };
        let cy = if h > 2.0 * half_diag {
            r.range(half_diag, h - half_diag)
        } else {
            h / 2.0
        };
        let screen_white = r.range(150.0, 250.0);
        let contrast = r.range(0.35, 0.9);
        let screen_black = screen_white * (1.0 - contrast);
        let glare = (
            r.range(-0.8, 0.8),
            r.range(-0.8, 0.8),
            r.range(0.3, 1.0),
            if r.chance(0.6) {
                r.range(0.2, 0.7)
            } else {
                0.0
            },
        );
        let exposure = (r.range(0.7, 1.25), r.range(-25.0, 25.0));
        let blur_sigma = r.range(0.0, 1.0) * scale.sqrt();
        let noise_sigma = r.range(1.0, 7.0);
        let jpeg_quality = r.int(40, 90) as u8;
        Scene {
            width,
            height,
            qr_fraction,
            rotation_deg,
            tilt,
            center: (cx, cy),
            screen_white,
            screen_black,
            glare,
            exposure,
            blur_sigma,
            noise_sigma,
            jpeg_quality,
            phone: true,
        }
    }
}

/// The QR modules of `payload` (error correction level M, as phone apps and
/// pagoPA notices use), as rows of `true` = dark.
pub fn qr_modules(payload: &str) -> Option<Vec<Vec<bool>>> {
    let code = QrCode::with_error_correction_level(payload.as_bytes(), EcLevel::M).ok()?;
    let n = code.width();
    let colors = code.to_colors();
    Some(
        (0..n)
            .map(|y| {
                (0..n)
                    .map(|x| colors[y * n + x] == qrcode::Color::Dark)
                    .collect()
            })
            .collect(),
    )
}

/// A frame showing `payload` as a QR on a phone, or (`None`) a frame with no
/// QR at all. Deterministic in all its arguments.
pub fn frame(payload: Option<&str>, width: u32, height: u32, seed: u64) -> GrayImage {
    let scene = Scene::random(width, height, seed);
    render(&scene, payload, seed)
}

/// [`frame`] encoded as the camera would deliver it (JPEG, the scene's
/// quality). Decoding these bytes gives exactly [`frame`]'s pixels.
pub fn frame_jpeg(payload: Option<&str>, width: u32, height: u32, seed: u64) -> Vec<u8> {
    let scene = Scene::random(width, height, seed);
    let raw = render_raw(&scene, payload, seed);
    encode_jpeg(&raw, scene.jpeg_quality)
}

/// Render `scene`: the picture, then a JPEG round trip.
pub fn render(scene: &Scene, payload: Option<&str>, seed: u64) -> GrayImage {
    let raw = render_raw(scene, payload, seed);
    let bytes = encode_jpeg(&raw, scene.jpeg_quality);
    match image::load_from_memory_with_format(&bytes, image::ImageFormat::Jpeg) {
        Ok(img) => img.to_luma8(),
        // Our own encoder's output always decodes; fall back to the raw
        // picture rather than panic in a mock.
        Err(_) => raw,
    }
}

fn encode_jpeg(img: &GrayImage, quality: u8) -> Vec<u8> {
    let mut out = Vec::new();
    let mut enc = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, quality);
    if enc
        .encode(
            img.as_raw(),
            img.width(),
            img.height(),
            image::ExtendedColorType::L8,
        )
        .is_err()
    {
        out.clear();
    }
    out
}

/// What the phone's screen shows, in its own coordinates (one unit = one QR
/// module), rasterised at `SS` pixels per unit and sampled bilinearly.
struct PhoneImage {
    w: usize,
    h: usize,
    /// Screen brightness 0..1 (1 = screen white), or negative outside the phone.
    px: Vec<f32>,
    /// The QR's centre in phone pixels.
    qr_center: (f32, f32),
}

const SS: usize = 6;

impl PhoneImage {
    fn build(r: &mut Rng, modules: Option<&[Vec<bool>]>, qr_units: f32) -> PhoneImage {
        let n = modules.map(|m| m.len()).unwrap_or(qr_units as usize);
        let margin = r.range(3.0, 7.0);
        let screen_w = n as f32 + 2.0 * margin;
        let screen_h = screen_w * r.range(1.7, 2.1);
        let bezel = r.range(1.0, 3.0);
        let phone_w = screen_w + 2.0 * bezel;
        let phone_h = screen_h + 2.0 * bezel * 2.5;
        let w = (phone_w * SS as f32) as usize;
        let h = (phone_h * SS as f32) as usize;
        let mut px = vec![-1.0f32; w * h];
        let corner = bezel * 2.5 * SS as f32;
        let body = r.range(0.02, 0.15);
        for y in 0..h {
            for x in 0..w {
                // Rounded corners: outside them is background.
                let (fx, fy) = (x as f32, y as f32);
                let dx = (corner - fx).max(fx - (w as f32 - corner)).max(0.0);
                let dy = (corner - fy).max(fy - (h as f32 - corner)).max(0.0);
                if dx * dx + dy * dy <= corner * corner {
                    px[y * w + x] = body;
                }
            }
        }
        let sx0 = bezel * SS as f32;
        let sy0 = bezel * 2.5 * SS as f32;
        let (sw, sh) = (screen_w * SS as f32, screen_h * SS as f32);
        let fill = |px: &mut Vec<f32>, x0: f32, y0: f32, x1: f32, y1: f32, v: f32| {
            let (x0, x1) = (x0.max(0.0) as usize, (x1.max(0.0) as usize).min(w));
            let (y0, y1) = (y0.max(0.0) as usize, (y1.max(0.0) as usize).min(h));
            for y in y0..y1 {
                for x in x0..x1 {
                    px[y * w + x] = v;
                }
            }
        };
        fill(&mut px, sx0, sy0, sx0 + sw, sy0 + sh, 1.0);
        // App chrome: a header bar and some text lines.
        let bar = r.range(0.3, 0.7);
        fill(
            &mut px,
            sx0,
            sy0,
            sx0 + sw,
            sy0 + r.range(4.0, 7.0) * SS as f32,
            bar,
        );
        let qr_top = sy0 + r.range(0.25, 0.4) * sh - n as f32 * SS as f32 / 2.0;
        let qr_top = qr_top.max(sy0 + 8.0 * SS as f32);
        let qr_left = sx0 + margin * SS as f32;
        let mut ty = qr_top + (n as f32 + 3.0) * SS as f32;
        while ty + 2.0 * SS as f32 <= sy0 + sh - SS as f32 {
            let len = r.range(0.3, 0.9) * (sw - 2.0 * margin * SS as f32);
            fill(
                &mut px,
                qr_left,
                ty,
                qr_left + len,
                ty + 1.2 * SS as f32,
                r.range(0.1, 0.5),
            );
            ty += r.range(2.5, 4.0) * SS as f32;
        }
        match modules {
            Some(m) => {
                for (my, row) in m.iter().enumerate() {
                    for (mx, dark) in row.iter().enumerate() {
                        if *dark {
                            let x0 = qr_left + (mx * SS) as f32;
                            let y0 = qr_top + (my * SS) as f32;
                            fill(&mut px, x0, y0, x0 + SS as f32, y0 + SS as f32, 0.0);
                        }
                    }
                }
            }
            None => {
                // Something else on the screen: a picture made of blocks.
                for _ in 0..r.int(3, 12) {
                    let bx = qr_left + r.range(0.0, 0.8) * n as f32 * SS as f32;
                    let by = qr_top + r.range(0.0, 0.8) * n as f32 * SS as f32;
                    let bw = r.range(2.0, 0.5 * n as f32) * SS as f32;
                    let bh = r.range(2.0, 0.5 * n as f32) * SS as f32;
                    fill(&mut px, bx, by, bx + bw, by + bh, r.range(0.0, 0.8));
                }
            }
        }
        let qr_center = (
            qr_left + n as f32 * SS as f32 / 2.0,
            qr_top + n as f32 * SS as f32 / 2.0,
        );
        PhoneImage {
            w,
            h,
            px,
            qr_center,
        }
    }

    /// Bilinear sample at phone pixel coordinates; negative = not the phone.
    fn sample(&self, x: f32, y: f32) -> f32 {
        if x < 0.0 || y < 0.0 || x >= (self.w - 1) as f32 || y >= (self.h - 1) as f32 {
            return -1.0;
        }
        let (x0, y0) = (x as usize, y as usize);
        let (fx, fy) = (x - x0 as f32, y - y0 as f32);
        let i = y0 * self.w + x0;
        let (a, b, c, d) = (
            self.px[i],
            self.px[i + 1],
            self.px[i + self.w],
            self.px[i + self.w + 1],
        );
        if a < 0.0 || b < 0.0 || c < 0.0 || d < 0.0 {
            // Edge of the phone: no blending with "outside".
            return if fx < 0.5 && fy < 0.5 { a } else { d.max(a) };
        }
        let top = a + (b - a) * fx;
        let bottom = c + (d - c) * fx;
        top + (bottom - top) * fy
    }
}

/// A busy background: shelves, slips, stripes, text and decoy squares.
fn background(r: &mut Rng, w: usize, h: usize) -> Vec<f32> {
    let base = r.range(60.0, 180.0);
    let (gx, gy) = (
        r.range(-60.0, 60.0) / w as f32,
        r.range(-60.0, 60.0) / h as f32,
    );
    let mut px: Vec<f32> = (0..w * h)
        .map(|i| base + gx * (i % w) as f32 + gy * (i / w) as f32)
        .collect();
    let scale = h as f32 / 480.0;
    let count = r.int(25, 60);
    for _ in 0..count {
        let kind = r.int(0, 5);
        let x0 = r.range(-0.1, 1.0) * w as f32;
        let y0 = r.range(-0.1, 1.0) * h as f32;
        let bw = r.range(10.0, 160.0) * scale;
        let bh = r.range(10.0, 120.0) * scale;
        let v = r.range(0.0, 255.0);
        let v2 = r.range(0.0, 255.0);
        let period = r.range(2.0, 9.0) * scale;
        for y in (y0.max(0.0) as usize)..((y0 + bh).max(0.0) as usize).min(h) {
            for x in (x0.max(0.0) as usize)..((x0 + bw).max(0.0) as usize).min(w) {
                let (lx, ly) = (x as f32 - x0, y as f32 - y0);
                let value = match kind {
                    // Solid box (packs, slips).
                    0 | 1 => Some(v),
                    // Ellipse.
                    2 => {
                        let (ex, ey) = (lx / bw * 2.0 - 1.0, ly / bh * 2.0 - 1.0);
                        (ex * ex + ey * ey <= 1.0).then_some(v)
                    }
                    // Stripes (shelf edges, barcodes).
                    3 => Some(if ((lx / period) as i64) % 2 == 0 {
                        v
                    } else {
                        v2
                    }),
                    // Checkerboard (patterned packaging).
                    4 => Some(
                        if (((lx / period) as i64) + ((ly / period) as i64)) % 2 == 0 {
                            v
                        } else {
                            v2
                        },
                    ),
                    // Decoy: nested squares, like a lone QR finder pattern.
                    _ => {
                        let s = bw.min(bh);
                        if lx > s || ly > s {
                            None
                        } else {
                            let d = (lx.min(ly).min(s - lx).min(s - ly) / s * 7.0) as i64;
                            Some(if d == 1 { v.max(v2) } else { v.min(v2) })
                        }
                    }
                };
                if let Some(value) = value {
                    px[y * w + x] = value;
                }
            }
        }
    }
    px
}

/// The picture before the JPEG round trip.
pub fn render_raw(scene: &Scene, payload: Option<&str>, seed: u64) -> GrayImage {
    render_raw_modules(scene, payload.and_then(qr_modules), seed)
}

/// A frame (easy set, JPEG round trip included) of a phone showing the
/// module grid `modules` as it is (`true` = dark): for codes damaged on
/// purpose, which no decoder may read as another text.
pub fn frame_of_modules(modules: Vec<Vec<bool>>, width: u32, height: u32, seed: u64) -> GrayImage {
    let scene = Scene::random(width, height, seed);
    let raw = render_raw_modules(&scene, Some(modules), seed);
    let bytes = encode_jpeg(&raw, scene.jpeg_quality);
    match image::load_from_memory_with_format(&bytes, image::ImageFormat::Jpeg) {
        Ok(img) => img.to_luma8(),
        Err(_) => raw,
    }
}

fn render_raw_modules(scene: &Scene, modules: Option<Vec<Vec<bool>>>, seed: u64) -> GrayImage {
    let mut r = Rng::new(seed.wrapping_mul(31).wrapping_add(17));
    let (w, h) = (scene.width as usize, scene.height as usize);
    let mut px = background(&mut r, w, h);
    let show_phone = modules.is_some() || r.chance(0.7);
    if show_phone {
        // The side of the symbol in modules decides the scale; a phone
        // without a QR gets a QR-sized picture instead.
        let n = modules.as_ref().map(|m| m.len()).unwrap_or(45) as f32;
        let phone = PhoneImage::build(&mut r, modules.as_deref(), n);
        let side_px = scene.qr_fraction * scene.height as f32;
        // Frame pixels per phone pixel.
        let s = side_px / (n * SS as f32);
        let (sin, cos) = scene.rotation_deg.to_radians().sin_cos();
        let px_x = scene.tilt.0 / side_px;
        let px_y = scene.tilt.1 / side_px;
        let (gcx, gcy, grad, gstr) = scene.glare;
        let glare_c = (gcx * side_px, gcy * side_px);
        let glare_r = grad * side_px;
        for y in 0..h {
            for x in 0..w {
                // Frame → rotated plane (undo the perspective divide) →
                // phone pixels.
                let xp = x as f32 + 0.5 - scene.center.0;
                let yp = y as f32 + 0.5 - scene.center.1;
                let denom = 1.0 - px_x * xp - px_y * yp;
                if denom <= 0.05 {
                    continue;
                }
                let wgt = 1.0 / denom;
                let (bx, by) = (xp * wgt, yp * wgt);
                let ux = (cos * bx + sin * by) / s + phone.qr_center.0;
                let uy = (-sin * bx + cos * by) / s + phone.qr_center.1;
                let v = phone.sample(ux, uy);
                if v < 0.0 {
                    continue;
                }
                let mut lum = scene.screen_black + v * (scene.screen_white - scene.screen_black);
                if gstr > 0.0 {
                    let (dx, dy) = (bx - glare_c.0, by - glare_c.1);
                    let g = (-(dx * dx + dy * dy) / (2.0 * glare_r * glare_r)).exp();
                    lum += g * gstr * (255.0 - lum);
                }
                px[y * w + x] = lum;
            }
        }
    }
    if scene.blur_sigma > 0.2 {
        gaussian_blur(&mut px, w, h, scene.blur_sigma);
    }
    let (gain, offset) = scene.exposure;
    let mut out = GrayImage::new(scene.width, scene.height);
    for (i, p) in out.as_mut().iter_mut().enumerate() {
        let v = px[i] * gain + offset + r.normal() * scene.noise_sigma;
        *p = v.round().clamp(0.0, 255.0) as u8;
    }
    out
}

fn gaussian_blur(px: &mut [f32], w: usize, h: usize, sigma: f32) {
    let radius = (sigma * 3.0).ceil() as i64;
    let kernel: Vec<f32> = (-radius..=radius)
        .map(|i| (-(i * i) as f32 / (2.0 * sigma * sigma)).exp())
        .collect();
    let sum: f32 = kernel.iter().sum();
    let kernel: Vec<f32> = kernel.iter().map(|k| k / sum).collect();
    let mut tmp = vec![0.0f32; px.len()];
    for y in 0..h {
        for x in 0..w {
            let mut acc = 0.0;
            for (k, kv) in kernel.iter().enumerate() {
                let sx = (x as i64 + k as i64 - radius).clamp(0, w as i64 - 1) as usize;
                acc += px[y * w + sx] * kv;
            }
            tmp[y * w + x] = acc;
        }
    }
    for y in 0..h {
        for x in 0..w {
            let mut acc = 0.0;
            for (k, kv) in kernel.iter().enumerate() {
                let sy = (y as i64 + k as i64 - radius).clamp(0, h as i64 - 1) as usize;
                acc += tmp[sy * w + x] * kv;
            }
            px[y * w + x] = acc;
        }
    }
}

/// The payloads a counter camera reads: signed app tokens of the demo
/// children for both services, and pagoPA notice QR strings.
pub fn demo_payloads() -> Vec<String> {
    let mut out = Vec::new();
    for consumer in [
        demo::CONSUMER_1,
        demo::CONSUMER_2,
        demo::CONSUMER_3,
        demo::CONSUMER_4,
    ] {
        for service in [demo::SERVICE_MENSA, demo::SERVICE_TRASPORTO] {
            out.push(demo::app_token(consumer, service, demo::DEMO_IAT));
        }
    }
    for (notice, cents) in [
        (demo::NOTICE_PAYABLE, demo::NOTICE_PAYABLE_AMOUNT_CENTS),
        (demo::NOTICE_PAYABLE_2, 4000),
        (demo::NOTICE_PAYABLE_3, 1200),
    ] {
        out.push(format!("PAGOPA|002|{notice}|{}|{cents}", demo::CREDITOR_CF));
    }
    out
}

/// One frame of the benchmark set and what it shows.
pub struct BenchFrame {
    /// The seed that draws the frame's [`Scene`]; name it in a bug report.
    pub seed: u64,
    /// `None`: the frame shows no QR, and nothing must be decoded.
    pub payload: Option<String>,
    /// The frame as the decoder gets it (already through JPEG).
    pub image: GrayImage,
}

/// The fixed benchmark set: `with_qr` frames showing one of
/// [`demo_payloads`], then `without_qr` frames with no QR, at
/// `width`×`height`. Same arguments, same pixels.
pub fn bench_set(width: u32, height: u32, with_qr: usize, without_qr: usize) -> Vec<BenchFrame> {
    let payloads = demo_payloads();
    (0..with_qr + without_qr)
        .map(|i| {
            let seed = 1000 + i as u64;
            let payload = (i < with_qr).then(|| payloads[i % payloads.len()].clone());
            let image = frame(payload.as_deref(), width, height, seed);
            BenchFrame {
                seed,
                payload,
                image,
            }
        })
        .collect()
}

/// A `dir:PATH` camera's other end: each [`VirtualCamera::show`] writes the
/// next frame into the directory, under a name that sorts after the previous
/// one, atomically (written under a temporary name, then renamed), so the
/// camera never reads half a file.
pub struct VirtualCamera {
    dir: PathBuf,
    next: u64,
    /// Width of the frames [`VirtualCamera::show`] writes, pixels; 1280 unless set.
    pub width: u32,
    /// Height of the frames [`VirtualCamera::show`] writes, pixels; 720 unless set.
    pub height: u32,
}

impl VirtualCamera {
    /// A camera writing 1280×720 frames into `dir` (created if missing).
    pub fn new(dir: impl AsRef<Path>) -> io::Result<VirtualCamera> {
        let dir = dir.as_ref().to_path_buf();
        std::fs::create_dir_all(&dir)?;
        Ok(VirtualCamera {
            dir,
            next: 1,
            width: 1280,
            height: 720,
        })
    }

    /// Write one JPEG frame showing `payload` (or no QR); returns its path.
    pub fn show(&mut self, payload: Option<&str>, seed: u64) -> io::Result<PathBuf> {
        let bytes = frame_jpeg(payload, self.width, self.height, seed);
        let name = format!("frame-{:06}.jpg", self.next);
        self.next += 1;
        let tmp = self.dir.join(format!(".{name}.part"));
        let path = self.dir.join(name);
        std::fs::write(&tmp, bytes)?;
        std::fs::rename(&tmp, &path)?;
        Ok(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_deterministic_and_differ_by_seed() {
        let p = demo_payloads();
        let a = frame(Some(&p[0]), 320, 240, 5);
        let b = frame(Some(&p[0]), 320, 240, 5);
        let c = frame(Some(&p[0]), 320, 240, 6);
        assert_eq!(a.as_raw(), b.as_raw());
        assert_ne!(a.as_raw(), c.as_raw());
        assert_eq!(a.dimensions(), (320, 240));
    }

    #[test]
    fn payloads_fit_in_a_qr_code() {
        for p in demo_payloads() {
            let m = qr_modules(&p).expect("encodable");
            assert!(m.len() >= 21 && m.len() <= 61, "{} modules", m.len());
        }
    }

    #[test]
    fn virtual_camera_writes_sorted_jpeg_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut cam = VirtualCamera::new(dir.path()).expect("camera");
        cam.width = 160;
        cam.height = 120;
        let a = cam.show(None, 1).expect("frame");
        let b = cam
            .show(Some("PAGOPA|002|301000000000012373|00514490010|2550"), 2)
            .expect("frame");
        assert!(a < b);
        let bytes = std::fs::read(&b).expect("read");
        assert_eq!(&bytes[..2], &[0xFF, 0xD8], "a JPEG");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .expect("dir")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names.len(), 2, "no temporary file left: {names:?}");
    }
}
