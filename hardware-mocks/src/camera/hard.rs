//! The hard set: counter frames as a cheap webcam really takes them.
//!
//! The easy frames of [`super::frame`] were made for a decoder that reads a
//! phone held square to the camera, filling a third of the picture. Real
//! frames at a counter are worse, and this module makes them, seeded like
//! the easy ones (same seed, same pixels, on every machine):
//!
//! ```text
//! module size   1.5-3.2 px at 480 lines (scaled with the frame height)
//! perspective   the phone's plane tilted 0-40 degrees in any direction,
//!               seen through a 58-degree lens (a real pinhole projection,
//!               foreshortening included), rotated in its plane
//! blur          defocus (Gaussian, sigma 0.2-0.8 px at 480 lines, 15 %
//!               0.8-1.3) and, in 25 %, motion blur (1-3 px, any direction)
//! glare         in 30 %, a specular streak across the glass (band of
//!               0.1-0.4 code sides, 40-90 % of the headroom: washed out)
//! screen        a fifth dimmed (white 90-150 of 255), a fifth of low
//!               contrast (25-45 %), rarely both; else white 150-250,
//!               contrast 45-90 %
//! moire         in 30 %, a beat between the screen's pixels and the
//!               sensor's: bands of 3-14 px, 4-15 % amplitude
//! JPEG          quality 40-85
//! lighting      uneven: a gradient across the frame and vignetting
//! occlusion     in 20 %, a thumb over the code's edge, up to 15 % in
//! framing       a quarter of the codes near or touching the frame's edge
//! clutter       shelves, slips, stripes and decoys: lone finders, and
//!               fake codes (three finders, timing patterns, random
//!               modules) on the wall and on phones; frames without a
//!               real code are mostly of this kind
//! ```
//!
//! Every pixel is the mean of 2x2 samples (a sensor integrates over its
//! pixel), so small modules alias as they do in a camera.

use image::GrayImage;

use super::{background, encode_jpeg, gaussian_blur, qr_modules, PhoneImage, Rng, SS};

/// Everything that varies from one hard frame to the next, drawn from the
/// seed. Public so that a failing frame can be described in a bug report.
#[derive(Debug, Clone)]
pub struct HardScene {
    /// Frame width in pixels.
    pub width: u32,
    /// Frame height in pixels.
    pub height: u32,
    /// Side of one module at the code's centre, in pixels (untilted).
    pub module_px: f32,
    /// Rotation of the code in the phone's plane, degrees.
    pub rotation_deg: f32,
    /// Tilt of the phone's plane away from the camera, degrees (0-40).
    pub tilt_deg: f32,
    /// Direction of the tilt axis, degrees (0-360).
    pub tilt_dir_deg: f32,
    /// Where the code's centre is, in frame pixels.
    pub center: (f32, f32),
    /// The code's bounding box touches (or nearly) the frame's edge.
    pub near_edge: bool,
    /// Screen white as the screen emits it (grey level: 90-150 dimmed,
    /// else 150-250).
    pub screen_white: f32,
    /// 0..1: share of the white the black modules leave out.
    pub contrast: f32,
    /// Specular streak: direction (degrees), offset from the code's centre
    /// and half-width (code sides), strength (0..1). Strength 0: none.
    pub glare: (f32, f32, f32, f32),
    /// Moire: period (px), direction (degrees), amplitude (0..1). 0: none.
    pub moire: (f32, f32, f32),
    /// Lighting gradient across the frame (x, y) and vignetting strength.
    pub lighting: (f32, f32, f32),
    /// Exposure gain (0.8-1.2) and offset (grey levels, -15..15).
    pub exposure: (f32, f32),
    /// Gaussian defocus sigma, in pixels (scaled with the frame height).
    pub defocus_sigma: f32,
    /// Motion blur length (px) and direction (degrees).
    pub motion: (f32, f32),
    /// Sensor noise sigma, in grey levels (2-6).
    pub noise_sigma: f32,
    /// JPEG quality of the final frame (40-85).
    pub jpeg_quality: u8,
    /// Thumb over the code: the side it comes from (0-3), how far it
    /// reaches in (code sides), its width (code sides) and where along the
    /// side (-0.5..0.5). Depth 0: no thumb.
    pub thumb: (u8, f32, f32, f32),
}

/// Focal length as a share of the frame width: a 58-degree webcam lens.
const FOCAL: f32 = 0.9;

impl HardScene {
    /// Draw a scene for a code of `n` modules (a fake one for frames
    /// without a code) in a frame of `width`x`height`, from `seed`.
    pub fn random(width: u32, height: u32, n: usize, seed: u64) -> HardScene {
        let mut r = Rng::new(seed ^ 0x4A5D_0000_0000_0001);
        let (w, h) = (width as f32, height as f32);
        let scale = h / 480.0;
        let mut module_px = r.range(1.5, 3.2) * scale;
        let rotation_deg = r.range(-180.0, 180.0);
        let tilt_deg = r.range(0.0, 40.0);
        let tilt_dir_deg = r.range(0.0, 360.0);
        let near_edge = r.chance(0.25);
        // Dimmed or of low contrast, rarely both.
        let dimmed = r.chance(0.2);
        let low_contrast = r.chance(if dimmed { 0.1 } else { 0.2 });
        let mut scene = HardScene {
            width,
            height,
            module_px,
            rotation_deg,
            tilt_deg,
            tilt_dir_deg,
            center: (w / 2.0, h / 2.0),
            near_edge,
            // A fifth of the screens dimmed, a fifth of low contrast.
            screen_white: if dimmed {
                r.range(90.0, 150.0)
            } else {
                r.range(150.0, 250.0)
            },
            contrast: if low_contrast {
                r.range(0.25, 0.45)
            } else {
                r.range(0.45, 0.9)
            },
            glare: (
                r.range(0.0, 180.0),
                r.range(-0.5, 0.5),
                r.range(0.1, 0.4),
                if r.chance(0.3) {
                    r.range(0.4, 0.9)
                } else {
                    0.0
                },
            ),
            moire: (
                r.range(3.0, 14.0) * scale,
                r.range(0.0, 180.0),
                if r.chance(0.3) {
                    r.range(0.04, 0.15)
                } else {
                    0.0
                },
            ),
            lighting: (r.range(-0.5, 0.5), r.range(-0.5, 0.5), r.range(0.0, 0.5)),
            exposure: (r.range(0.8, 1.2), r.range(-15.0, 15.0)),
            // Out of focus now and then; always a little soft.
            defocus_sigma: if r.chance(0.15) {
                r.range(0.8, 1.3)
            } else {
                r.range(0.2, 0.8)
            } * scale.sqrt(),
            motion: if r.chance(0.25) {
                (r.range(1.0, 3.0) * scale.sqrt(), r.range(0.0, 180.0))
            } else {
                (0.0, 0.0)
            },
            noise_sigma: r.range(2.0, 6.0),
            jpeg_quality: r.int(40, 85) as u8,
            thumb: if r.chance(0.2) {
                (
                    r.int(0, 3) as u8,
                    r.range(0.03, 0.15),
                    r.range(0.25, 0.4),
                    r.range(-0.3, 0.3),
                )
            } else {
                (0, 0.0, 0.0, 0.0)
            },
        };
        // Place the code (and a quiet zone of 2 modules, 0.5 near the edge)
        // inside the frame; a code too large for it gets smaller modules.
        let quiet = if near_edge { 0.5 } else { 2.0 };
        for _ in 0..20 {
            scene.module_px = module_px;
            scene.center = (w / 2.0, h / 2.0);
            let (x0, y0, x1, y1) = scene.extent(n as f32 + 2.0 * quiet);
            let (cx0, cy0) = (w / 2.0 - x0, h / 2.0 - y0);
            let (cx1, cy1) = (w / 2.0 + (w - x1), h / 2.0 + (h - y1));
            if cx0 <= cx1 && cy0 <= cy1 {
                let pick = |r: &mut Rng, lo: f32, hi: f32| {
                    if near_edge {
                        if r.chance(0.5) {
                            lo
                        } else {
                            hi
                        }
                    } else {
                        r.range(lo, hi)
                    }
                };
                let cx = pick(&mut r, cx0, cx1);
                let cy = if near_edge && r.chance(0.5) {
                    pick(&mut r, cy0, cy1)
                } else {
                    r.range(cy0, cy1)
                };
                scene.center = (cx, cy);
                // Off the axis the projection is not a mere shift: nudge
                // the code back inside until it fits.
                let side = n as f32 + 2.0 * quiet;
                for _ in 0..8 {
                    let (x0, y0, x1, y1) = scene.extent(side);
                    let dx = (-x0).max(0.0) - (x1 - w).max(0.0);
                    let dy = (-y0).max(0.0) - (y1 - h).max(0.0);
                    scene.center.0 += dx;
                    scene.center.1 += dy;
                    if dx.abs() + dy.abs() < 0.01 {
                        break;
                    }
                }
                let (x0, y0, x1, y1) = scene.extent(side);
                if x0 >= 0.0 && y0 >= 0.0 && x1 <= w && y1 <= h {
                    break;
                }
            }
            module_px *= 0.9;
        }
        scene
    }

    /// The plane-to-frame homography: plane coordinates in modules, the
    /// code's centre at the origin, to frame pixels.
    fn homography(&self) -> [[f32; 3]; 3] {
        let (w, h) = (self.width as f32, self.height as f32);
        let f = FOCAL * w;
        let z = f / self.module_px;
        let (sr, cr) = self.rotation_deg.to_radians().sin_cos();
        let t = self.tilt_deg.to_radians();
        let d = self.tilt_dir_deg.to_radians();
        // Tilt about the axis (cos d, sin d, 0) by t (Rodrigues).
        let (ax, ay) = (d.cos(), d.sin());
        let (st, ct) = t.sin_cos();
        let rot = |v: [f32; 3]| -> [f32; 3] {
            // k x v, k . v with k = (ax, ay, 0)
            let kxv = [ay * v[2], -ax * v[2], ax * v[1] - ay * v[0]];
            let kdv = ax * v[0] + ay * v[1];
            [
                v[0] * ct + kxv[0] * st + ax * kdv * (1.0 - ct),
                v[1] * ct + kxv[1] * st + ay * kdv * (1.0 - ct),
                v[2] * ct + kxv[2] * st,
            ]
        };
        let ex = rot([cr, sr, 0.0]);
        let ey = rot([-sr, cr, 0.0]);
        let c = [
            (self.center.0 - w / 2.0) * z / f,
            (self.center.1 - h / 2.0) * z / f,
            z,
        ];
        // K [ex ey c]
        let col = |v: [f32; 3]| [f * v[0] + w / 2.0 * v[2], f * v[1] + h / 2.0 * v[2], v[2]];
        let (a, b, cc) = (col(ex), col(ey), col(c));
        [
            [a[0], b[0], cc[0]],
            [a[1], b[1], cc[1]],
            [a[2], b[2], cc[2]],
        ]
    }

    /// Where plane point `(u, v)` (modules from the code's centre) lands.
    pub fn project(&self, u: f32, v: f32) -> (f32, f32) {
        let m = self.homography();
        let x = m[0][0] * u + m[0][1] * v + m[0][2];
        let y = m[1][0] * u + m[1][1] * v + m[1][2];
        let z = m[2][0] * u + m[2][1] * v + m[2][2];
        (x / z, y / z)
    }

    /// Bounding box in frame pixels of a square of `side` modules around
    /// the code's centre.
    fn extent(&self, side: f32) -> (f32, f32, f32, f32) {
        let s = side / 2.0;
        let pts = [(-s, -s), (s, -s), (s, s), (-s, s)].map(|(u, v)| self.project(u, v));
        pts.iter().fold(
            (f32::MAX, f32::MAX, f32::MIN, f32::MIN),
            |(a, b, c, d), p| (a.min(p.0), b.min(p.1), c.max(p.0), d.max(p.1)),
        )
    }
}

fn invert(m: [[f32; 3]; 3]) -> Option<[[f32; 3]; 3]> {
    let det = m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1])
        - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
        + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0]);
    if det.abs() < 1e-12 {
        return None;
    }
    let i = 1.0 / det;
    Some([
        [
            (m[1][1] * m[2][2] - m[1][2] * m[2][1]) * i,
            (m[0][2] * m[2][1] - m[0][1] * m[2][2]) * i,
            (m[0][1] * m[1][2] - m[0][2] * m[1][1]) * i,
        ],
        [
            (m[1][2] * m[2][0] - m[1][0] * m[2][2]) * i,
            (m[0][0] * m[2][2] - m[0][2] * m[2][0]) * i,
            (m[0][2] * m[1][0] - m[0][0] * m[1][2]) * i,
        ],
        [
            (m[1][0] * m[2][1] - m[1][1] * m[2][0]) * i,
            (m[0][1] * m[2][0] - m[0][0] * m[2][1]) * i,
            (m[0][0] * m[1][1] - m[0][1] * m[1][0]) * i,
        ],
    ])
}

/// A fake code: finder patterns, separators and timing patterns where a
/// QR has them, random modules elsewhere. No decoder may read text in it.
pub fn fake_modules(r: &mut Rng, n: usize) -> Vec<Vec<bool>> {
    let mut m: Vec<Vec<bool>> = (0..n)
        .map(|_| (0..n).map(|_| r.chance(0.5)).collect())
        .collect();
    for (ox, oy) in [(0, 0), (n - 7, 0), (0, n - 7)] {
        for y in 0..9usize {
            for x in 0..9usize {
                let (px, py) = (ox as i64 + x as i64 - 1, oy as i64 + y as i64 - 1);
                if px < 0 || py < 0 || px >= n as i64 || py >= n as i64 {
                    continue;
                }
                let (dx, dy) = (x as i64 - 4, y as i64 - 4);
                let ring = dx.abs().max(dy.abs());
                m[py as usize][px as usize] = ring != 2 && ring != 4;
            }
        }
    }
    for (i, cell) in m[6].iter_mut().enumerate().take(n - 8).skip(8) {
        *cell = i % 2 == 0;
    }
    for (i, row) in m.iter_mut().enumerate().take(n - 8).skip(8) {
        row[6] = i % 2 == 0;
    }
    m
}

/// Draw 1-3 fake codes (flat, in the wall's plane) onto the background.
fn fake_codes_on_wall(r: &mut Rng, px: &mut [f32], w: usize, h: usize, module: f32) {
    for _ in 0..r.int(1, 3) {
        let n = 17 + 4 * r.int(1, 8) as usize;
        let m = fake_modules(r, n);
        let size = module * r.range(0.8, 1.6);
        let side = size * n as f32;
        if side + 4.0 >= w as f32 || side + 4.0 >= h as f32 {
            continue;
        }
        let x0 = r.range(0.0, w as f32 - side);
        let y0 = r.range(0.0, h as f32 - side);
        let (dark, light) = (r.range(10.0, 80.0), r.range(150.0, 240.0));
        for y in (y0 as usize)..((y0 + side) as usize).min(h) {
            for x in (x0 as usize)..((x0 + side) as usize).min(w) {
                let (mx, my) = (
                    ((x as f32 - x0) / size) as usize,
                    ((y as f32 - y0) / size) as usize,
                );
                if mx < n && my < n {
                    px[y * w + x] = if m[my][mx] { dark } else { light };
                }
            }
        }
    }
}

/// A hard frame showing `payload` as a QR on a phone, or (`None`) a frame
/// with no code, mostly finder-like clutter. Deterministic in its
/// arguments.
pub fn hard_frame(payload: Option<&str>, width: u32, height: u32, seed: u64) -> GrayImage {
    let modules = payload.and_then(qr_modules);
    render(modules, width, height, seed)
}

/// A hard frame of a phone showing the module grid `modules` (`true` =
/// dark) as it is, for codes damaged on purpose (flipped modules,
/// scratches) that no decoder may read as another text.
pub fn hard_frame_of_modules(
    modules: Vec<Vec<bool>>,
    width: u32,
    height: u32,
    seed: u64,
) -> GrayImage {
    render(Some(modules), width, height, seed)
}

fn render(modules: Option<Vec<Vec<bool>>>, width: u32, height: u32, seed: u64) -> GrayImage {
    let (raw, scene) = hard_frame_raw_of(modules, width, height, seed);
    let bytes = encode_jpeg(&raw, scene.jpeg_quality);
    match image::load_from_memory_with_format(&bytes, image::ImageFormat::Jpeg) {
        Ok(img) => img.to_luma8(),
        Err(_) => raw,
    }
}

/// The side in modules of a frame's code; frames without one draw a fake
/// code of a size fixed by the seed.
fn side_for(modules: Option<&Vec<Vec<bool>>>, seed: u64) -> usize {
    modules
        .map(|m| m.len())
        .unwrap_or(17 + 4 * (seed % 9) as usize + 4)
}

/// The scene of [`hard_frame`] with these arguments.
pub fn hard_scene(payload: Option<&str>, width: u32, height: u32, seed: u64) -> HardScene {
    let modules = payload.and_then(qr_modules);
    HardScene::random(width, height, side_for(modules.as_ref(), seed), seed)
}

/// The picture of [`hard_frame`] before the JPEG round trip, and its scene.
pub fn hard_frame_raw(
    payload: Option<&str>,
    width: u32,
    height: u32,
    seed: u64,
) -> (GrayImage, HardScene) {
    hard_frame_raw_of(payload.and_then(qr_modules), width, height, seed)
}

fn hard_frame_raw_of(
    modules: Option<Vec<Vec<bool>>>,
    width: u32,
    height: u32,
    seed: u64,
) -> (GrayImage, HardScene) {
    let has_code = modules.is_some();
    let scene = HardScene::random(width, height, side_for(modules.as_ref(), seed), seed);
    let mut r = Rng::new(seed.wrapping_mul(131).wrapping_add(7));
    let (w, h) = (width as usize, height as usize);
    let mut px = background(&mut r, w, h);
    // Finder-like clutter: fake codes on the wall, always for frames
    // without a code, sometimes behind a real one.
    if !has_code || r.chance(0.3) {
        fake_codes_on_wall(&mut r, &mut px, w, h, scene.module_px);
    }
    let modules = match modules {
        Some(m) => Some(m),
        // A phone showing something that looks like a code but is not one.
        None if r.chance(0.6) => Some(fake_modules(&mut r, side_for(None, seed))),
        None => None,
    };
    let show_phone = has_code || r.chance(0.8);
    if show_phone {
        let n = modules.as_ref().map(|m| m.len()).unwrap_or(41);
        let phone = PhoneImage::build(&mut r, modules.as_deref(), n as f32);
        draw_phone(&scene, &phone, n as f32, &mut px, w, h);
    }
    if scene.defocus_sigma > 0.2 {
        gaussian_blur(&mut px, w, h, scene.defocus_sigma);
    }
    if scene.motion.0 > 0.5 {
        motion_blur(&mut px, w, h, scene.motion.0, scene.motion.1);
    }
    let (gx, gy, vig) = scene.lighting;
    let (gain, offset) = scene.exposure;
    let mut out = GrayImage::new(scene.width, scene.height);
    let (hw, hh) = (w as f32 / 2.0, h as f32 / 2.0);
    for (i, p) in out.as_mut().iter_mut().enumerate() {
        let (x, y) = ((i % w) as f32, (i / w) as f32);
        let (nx, ny) = ((x - hw) / hw, (y - hh) / hh);
        let light = (1.0 + gx * nx + gy * ny) * (1.0 - vig * 0.5 * (nx * nx + ny * ny));
        let v = px[i] * light * gain + offset + r.normal() * scene.noise_sigma;
        *p = v.round().clamp(0.0, 255.0) as u8;
    }
    (out, scene)
}

/// The phone through the scene's homography, 2x2 samples per pixel, with
/// the screen's contrast, moire, the glare streak and the thumb.
fn draw_phone(scene: &HardScene, phone: &PhoneImage, n: f32, px: &mut [f32], w: usize, h: usize) {
    let Some(inv) = invert(scene.homography()) else {
        return;
    };
    let black = scene.screen_white * (1.0 - scene.contrast);
    let white = scene.screen_white;
    let (gdir, goff, gwidth, gstr) = scene.glare;
    let (gs, gc) = gdir.to_radians().sin_cos();
    let (mper, mdir, mamp) = scene.moire;
    let (ms, mc) = mdir.to_radians().sin_cos();
    let (tside, tdepth, twidth, talong) = scene.thumb;
    let thumb_lum = 90.0 + (scene.screen_white * 0.3);
    for y in 0..h {
        for x in 0..w {
            let mut acc = 0.0;
            let mut hits = 0;
            for (sx, sy) in [(0.25, 0.25), (0.75, 0.25), (0.25, 0.75), (0.75, 0.75)] {
                let (fx, fy) = (x as f32 + sx, y as f32 + sy);
                let a = inv[0][0] * fx + inv[0][1] * fy + inv[0][2];
                let b = inv[1][0] * fx + inv[1][1] * fy + inv[1][2];
                let c = inv[2][0] * fx + inv[2][1] * fy + inv[2][2];
                if c.abs() < 1e-9 {
                    continue;
                }
                let (u, v) = (a / c, b / c);
                // In code sides from the code's centre.
                let (cu, cv) = (u / n, v / n);
                // The thumb, in front of everything.
                if tdepth > 0.0 {
                    let (along, into) = match tside {
                        0 => (cu, cv + 0.5),
                        1 => (cv, 0.5 - cu),
                        2 => (cu, 0.5 - cv),
                        _ => (cv, cu + 0.5),
                    };
                    // An ellipse reaching `tdepth` into the code from its
                    // side, and far beyond it (the hand).
                    let ex = (along - talong) / (twidth / 2.0);
                    let ey = (into - tdepth + 0.6) / 0.6;
                    if ex * ex + ey * ey <= 1.0 {
                        acc += thumb_lum * (1.0 - 0.25 * ex * ex);
                        hits += 1;
                        continue;
                    }
                }
                let s = phone.sample(
                    u * SS as f32 + phone.qr_center.0,
                    v * SS as f32 + phone.qr_center.1,
                );
                if s < 0.0 {
                    acc += px[y * w + x];
                    hits += 1;
                    continue;
                }
                let mut lum = black + s * (white - black);
                if mamp > 0.0 {
                    let t = (fx * mc + fy * ms) / mper;
                    lum *= 1.0 + mamp * (t * std::f32::consts::TAU).sin();
                }
                if gstr > 0.0 {
                    let d = (cu * gc + cv * gs - goff) / gwidth;
                    lum += (-d * d).exp() * gstr * (255.0 - lum);
                }
                acc += lum;
                hits += 1;
            }
            if hits > 0 {
                px[y * w + x] = acc / hits as f32;
            }
        }
    }
}

/// Motion blur: the mean along a line of `len` pixels at `deg` degrees.
fn motion_blur(px: &mut [f32], w: usize, h: usize, len: f32, deg: f32) {
    let (s, c) = deg.to_radians().sin_cos();
    let taps = (len.ceil() as usize).max(2) + 1;
    let src = px.to_vec();
    let at = |x: f32, y: f32| {
        let xi = (x.round() as i64).clamp(0, w as i64 - 1) as usize;
        let yi = (y.round() as i64).clamp(0, h as i64 - 1) as usize;
        src[yi * w + xi]
    };
    for y in 0..h {
        for x in 0..w {
            let mut acc = 0.0;
            for k in 0..taps {
                let t = (k as f32 / (taps - 1) as f32 - 0.5) * len;
                acc += at(x as f32 + t * c, y as f32 + t * s);
            }
            px[y * w + x] = acc / taps as f32;
        }
    }
}

/// The fixed hard benchmark set: `with_qr` frames showing one of
/// [`super::demo_payloads`], then `without_qr` frames with no code, at
/// `width`x`height`. Same arguments, same pixels.
pub fn hard_bench_set(
    width: u32,
    height: u32,
    with_qr: usize,
    without_qr: usize,
) -> Vec<super::BenchFrame> {
    let payloads = super::demo_payloads();
    (0..with_qr + without_qr)
        .map(|i| {
            let seed = 20_000 + i as u64;
            let payload = (i < with_qr).then(|| payloads[i % payloads.len()].clone());
            let image = hard_frame(payload.as_deref(), width, height, seed);
            super::BenchFrame {
                seed,
                payload,
                image,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::camera::demo_payloads;

    #[test]
    fn hard_frames_are_deterministic_and_differ_by_seed() {
        let p = demo_payloads();
        let a = hard_frame(Some(&p[0]), 320, 240, 5);
        let b = hard_frame(Some(&p[0]), 320, 240, 5);
        let c = hard_frame(Some(&p[0]), 320, 240, 6);
        assert_eq!(a.as_raw(), b.as_raw());
        assert_ne!(a.as_raw(), c.as_raw());
        assert_eq!(a.dimensions(), (320, 240));
    }

    #[test]
    fn scenes_cover_every_degradation_within_the_stated_ranges() {
        let (mut tilt, mut small, mut glare, mut moire, mut thumb, mut edge, mut motion) =
            (0f32, f32::MAX, 0, 0, 0, 0, 0);
        let mut q = u8::MAX;
        for seed in 0..300 {
            let s = HardScene::random(640, 480, 57, seed);
            assert!(s.tilt_deg <= 40.0 && s.module_px <= 3.2);
            assert!((40..=85).contains(&s.jpeg_quality));
            tilt = tilt.max(s.tilt_deg);
            small = small.min(s.module_px);
            q = q.min(s.jpeg_quality);
            glare += (s.glare.3 > 0.0) as usize;
            moire += (s.moire.2 > 0.0) as usize;
            thumb += (s.thumb.1 > 0.0) as usize;
            edge += s.near_edge as usize;
            motion += (s.motion.0 > 0.0) as usize;
            // The whole code is in the frame.
            let (x0, y0, x1, y1) = s.extent(57.0);
            assert!(x0 >= -0.5 && y0 >= -0.5, "seed {seed}: {s:?}");
            assert!(x1 <= 640.5 && y1 <= 480.5, "seed {seed}: {s:?}");
        }
        assert!(tilt > 38.0 && small < 1.6 && q <= 42, "{tilt} {small} {q}");
        for (what, count) in [
            ("glare", glare),
            ("moire", moire),
            ("thumb", thumb),
            ("edge", edge),
            ("motion", motion),
        ] {
            assert!(count > 30, "{what}: {count} of 300");
        }
    }

    #[test]
    fn fake_codes_have_finders_but_no_valid_format() {
        let mut r = Rng::new(1);
        let m = fake_modules(&mut r, 29);
        // Finder corners dark, separators light.
        assert!(m[0][0] && m[0][28] && m[28][0] && m[3][3]);
        assert!(!m[7][7] && !m[1][1]);
        assert!(m[6][8] && !m[6][9]);
    }
}
