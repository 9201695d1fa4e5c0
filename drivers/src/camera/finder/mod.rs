//! Our own QR locator and module sampler: the fast pass of the pipeline.
//!
//! rqrr's detector is thorough but slow on a camera frame: it flood-fills
//! every dark region, and for each grid it finds it fits the perspective by
//! trial (tens of fitness evaluations of the whole grid), several
//! milliseconds whatever the image size. A phone screen is a well-behaved
//! target, so we locate the code the way ZXing does and sample it
//! ourselves, and decode the bits ourselves too (`super::decode`); rqrr's
//! grid decoding (`rqrr::Grid<SimpleGrid>`) is only the fallback, as its
//! Reed–Solomon step alone costs up to 1.7 ms.
//!
//! ```text
//! 1. thresholds  mean of 8x8 blocks, then the mean of a window of blocks
//!                about 1/8 of the frame wide (two passes over the pixels)
//! 2. finders     every third row: runs dark:light:dark:light:dark in the
//!                ratio 1:1:3:1:1, confirmed on the column through the centre,
//!                the row again and the diagonal; candidates merged into
//!                clusters. When no code comes of them: again on every row
//!                with looser tolerances (blur, glare), best 4 triples only
//! 3. triples     three clusters of similar module size forming a right
//!                angle with two sides of similar length; the corner is the
//!                top-left finder, the sign of the cross product orients it
//! 4. size        module size measured along the lines between finders;
//!                dimension = distance / module + 7, snapped to 4k+17
//! 5. geometry    projective guess from the three centres, the far corner
//!                weighted by the finders' apparent sizes (a further finder
//!                looks smaller); the finders re-found, then the alignment
//!                patterns, nearest first, by template correlation near
//!                their guessed places, refitting a least-squares
//!                homography after each
//! 6. sampling    each module's centre first; on failure the mean of five
//!                bilinear samples per module; dark when below the mean of
//!                the 7x7 modules around it (glare and low contrast vary
//!                slowly across the code)
//! 7. decoding    our own format/Reed-Solomon/payload decoding (`decode`),
//!                rqrr::Grid::new(SimpleGrid).decode() when it gives up; on
//!                failure other threshold windows and up to three
//!                neighbouring dimensions
//! ```

//!
//! Files: `binarize` (step 1), `search` (2-4), `geometry` (the homography
//! of 5), `sample` (anchor refinement of 5, and 6); this file ties them
//! together. The QR spec tables (alignment positions, block structure) are
//! in `super::decode`, which knows nothing of the locator.

use std::cmp::Ordering;
use std::time::Instant;

mod binarize;
mod geometry;
mod sample;
mod search;

use super::decode::alignment_positions;
use binarize::Bin;
pub(crate) use binarize::{Gray, Thresholds};
use geometry::{fourth_centre, persp_weight, Homography, Pair};
use sample::{refine_anchor, sample_grid, threshold_grid, timing_score};
use search::{find_finders, module_along, triples, Cluster};

/// A code read by the fast pass.
pub(crate) struct FastHit {
    pub text: String,
    /// Corners of the symbol (top-left, top-right, bottom-right,
    /// bottom-left) in image pixels.
    pub corners: [(i32, i32); 4],
}

/// Limits of the search, so a busy background cannot make one frame slow.
const MAX_CLUSTERS: usize = 16;
const MAX_TRIPLES: usize = 12;
/// The relaxed retry lets more clutter through: only its best triples are
/// worth the time (a frame without a code pays for them).
const MAX_TRIPLES_RELAXED: usize = 4;

/// Locate, sample and decode QR codes in `g` (only rows and columns of
/// `rect`), returning the first text `accept` takes.
pub(crate) fn decode_fast(
    g: Gray<'_>,
    t: &Thresholds,
    rect: (usize, usize, usize, usize),
    accept: &dyn Fn(&str) -> bool,
    deadline: Instant,
) -> Option<FastHit> {
    let bin = Bin { g, t };
    for relaxed in [false, true] {
        if Instant::now() >= deadline {
            return None;
        }
        let clusters = find_finders(&bin, rect, if relaxed { 1 } else { 3 }, relaxed);
        let clusters: Vec<Cluster> = clusters.into_iter().take(MAX_CLUSTERS).collect();
        let most = if relaxed {
            MAX_TRIPLES_RELAXED
        } else {
            MAX_TRIPLES
        };
        for (tl, tr, bl) in triples(&clusters).into_iter().take(most) {
            if Instant::now() >= deadline {
                return None;
            }
            if let Some(hit) = decode_triple(
                &mut None,
                &bin,
                &clusters[tl],
                &clusters[tr],
                &clusters[bl],
                accept,
                deadline,
            ) {
                return Some(hit);
            }
        }
    }
    None
}

/// For tuning: the clusters and triples the locator sees.
pub(crate) fn debug(g: Gray<'_>, t: &Thresholds, truth: Option<&[Vec<bool>]>) -> String {
    let bin = Bin { g, t };
    let mut clusters = find_finders(&bin, (0, 0, g.w, g.h), 3, false);
    if triples(&clusters).is_empty() {
        clusters = find_finders(&bin, (0, 0, g.w, g.h), 1, true);
    }
    let n = clusters.len();
    let clusters: Vec<Cluster> = clusters.into_iter().take(MAX_CLUSTERS).collect();
    let tr = triples(&clusters);
    let mut out = format!("{n} clusters, {} triples\n", tr.len());
    for c in &clusters {
        out += &format!(
            "  cluster ({:.1},{:.1}) m {:.2} x{}\n",
            c.x, c.y, c.m, c.count
        );
    }
    for &(a, b, c) in tr.iter().take(MAX_TRIPLES) {
        out += &format!("  triple {a} {b} {c}\n");
        let mut log = Some((String::new(), truth));
        let r = decode_triple(
            &mut log,
            &bin,
            &clusters[a],
            &clusters[b],
            &clusters[c],
            &|_| true,
            Instant::now() + std::time::Duration::from_secs(5),
        );
        out += &log.map(|l| l.0).unwrap_or_default();
        out += &format!("   -> {:?}\n", r.map(|h| h.text.len()));
    }
    out
}

fn decode_triple(
    log: &mut Option<(String, Option<&[Vec<bool>]>)>,
    bin: &Bin<'_>,
    tl: &Cluster,
    tr: &Cluster,
    bl: &Cluster,
    accept: &dyn Fn(&str) -> bool,
    deadline: Instant,
) -> Option<FastHit> {
    let g = bin.g;
    let m_top = module_along(bin, tl, tr).zip(module_along(bin, tr, tl));
    let m_left = module_along(bin, tl, bl).zip(module_along(bin, bl, tl));
    let fallback = (tl.m + tr.m + bl.m) / 3.0;
    let mx = m_top.map(|(a, b)| (a + b) / 2.0).unwrap_or(fallback);
    let my = m_left.map(|(a, b)| (a + b) / 2.0).unwrap_or(fallback);
    let dx = ((tr.x - tl.x).powi(2) + (tr.y - tl.y).powi(2)).sqrt();
    let dy = ((bl.x - tl.x).powi(2) + (bl.y - tl.y).powi(2)).sqrt();
    let est = (dx / mx + dy / my) / 2.0 + 7.0;
    let v_est = ((est - 17.0) / 4.0).round().clamp(1.0, 40.0) as i64;
    // The nearest dimensions first; a far one is not worth the time.
    let mut versions: Vec<usize> = (v_est - 2..=v_est + 2)
        .filter(|v| (1..=40).contains(v))
        .map(|v| v as usize)
        .filter(|&v| ((v * 4 + 17) as f64 - est).abs() <= 5.0)
        .collect();
    versions.sort_by(|a, b| {
        let da = ((a * 4 + 17) as f64 - est).abs();
        let db = ((b * 4 + 17) as f64 - est).abs();
        da.partial_cmp(&db).unwrap_or(Ordering::Equal)
    });
    if let Some((l, _)) = log {
        *l += &format!("   est {est:.1} (mx {mx:.2} my {my:.2}) versions {versions:?}\n");
    }
    // Perspective cue: a finder further from the camera looks smaller.
    let depth = (persp_weight(tl.m, tr.m), persp_weight(tl.m, bl.m));
    for v in versions.into_iter().take(3) {
        if Instant::now() >= deadline {
            return None;
        }
        let n = v * 4 + 17;
        let nf = n as f64;
        let src = [(3.5, 3.5), (nf - 3.5, 3.5), (3.5, nf - 3.5)];
        let dst = [(tl.x, tl.y), (tr.x, tr.y), (bl.x, bl.y)];
        // Affine guess: the fourth point completes the parallelogram.
        let mut pairs: Vec<Pair> = src.iter().copied().zip(dst).collect();
        pairs.push((
            (nf - 3.5, nf - 3.5),
            fourth_centre((tl.x, tl.y), (tr.x, tr.y), (bl.x, bl.y), depth),
        ));
        let Some(mut h) = Homography::fit(&pairs, nf) else {
            continue;
        };
        let positions = alignment_positions(v);
        // Progressive refinement: the finders first, then the alignment
        // patterns nearest to what is already known, refitting after each,
        // so the perspective the parallelogram guess misses is learnt
        // before the far corner is searched.
        let mut todo: Vec<((f64, f64), bool)> = src.iter().map(|&c| (c, true)).collect();
        for &a in &positions {
            for &b in &positions {
                // Under a finder: (6, 6), (6, n-7), (n-7, 6).
                let corner = a.min(b) == 6 && (a == b || a.max(b) == n - 7);
                if !corner {
                    todo.push(((a as f64 + 0.5, b as f64 + 0.5), false));
                }
            }
        }
        let mut known: Vec<Pair> = Vec::with_capacity(todo.len());
        while !todo.is_empty() {
            // The anchor nearest (in modules) to a known one, or to a finder.
            let dist = |c: (f64, f64)| {
                known
                    .iter()
                    .map(|k| (k.0 .0 - c.0).abs().max((k.0 .1 - c.1).abs()))
                    .chain(src.iter().map(|s| (s.0 - c.0).abs().max((s.1 - c.1).abs())))
                    .fold(f64::MAX, f64::min)
            };
            let (i, _) = todo
                .iter()
                .enumerate()
                .map(|(i, t)| (i, if t.1 { 0.0 } else { dist(t.0) }))
                .fold((0, f64::MAX), |best, x| if x.1 < best.1 { x } else { best });
            let (c, finder) = todo.swap_remove(i);
            let radius = if finder {
                1.0
            } else if known.len() >= 4 {
                1.0 + dist(c) / 16.0
            } else {
                1.5 + nf / 20.0
            };
            if let Some((p, score)) = refine_anchor(g, &h, c, finder, radius, 0.5) {
                if let Some((l, _)) = log {
                    let q = h.map(c.0, c.1);
                    *l += &format!(
                        "    anchor {c:?} r {radius:.1} score {score:.2} moved ({:.1},{:.1}) px\n",
                        p.0 - q.0,
                        p.1 - q.1
                    );
                }
                if score > 0.3 {
                    known.push((c, p));
                    if known.len() >= 4 {
                        if let Some(h2) = Homography::fit(&known, nf) {
                            h = h2;
                        }
                    } else if known.len() == 3 && !todo.is_empty() {
                        // The finders, refined, with the parallelogram.
                        let mut with_guess = known.clone();
                        let (a, b, c) = (known[0].1, known[1].1, known[2].1);
                        with_guess.push(((nf - 3.5, nf - 3.5), fourth_centre(a, b, c, depth)));
                        if known.iter().all(|k| k.1 .0.is_finite()) && known[0].0 == src[0] {
                            if let Some(h2) = Homography::fit(&with_guess, nf) {
                                h = h2;
                            }
                        }
                    }
                }
            }
        }
        let refined = known;
        // The centre of each module first (a sharp, well-fitted code reads
        // from that alone, five times cheaper); five samples per module and
        // other threshold windows only when that fails.
        for fine in [false, true] {
            if fine && Instant::now() >= deadline {
                return None;
            }
            let vals = sample_grid(g, &h, n, fine);
            let windows: &[usize] = if fine { &[3, 5, 2] } else { &[3] };
            for &k in windows {
                let bits = threshold_grid(&vals, n, k);
                // A wrong dimension or a bad fit breaks the timing patterns;
                // rqrr's decoding (Reed-Solomon both ways round) is the
                // expensive step, so it only sees plausible grids.
                if let Some((l, truth)) = log {
                    *l += &format!(
                        "   v{v} k{k} timing {:.2} anchors {}",
                        timing_score(&bits, n),
                        refined.len()
                    );
                    if let Some(t) = truth.filter(|t| t.len() == n) {
                        // Errors per quadrant.
                        let mut q = [0usize; 4];
                        for y in 0..n {
                            for x in 0..n {
                                if t[y][x] != bits[y * n + x] {
                                    q[(y * 2 / n) * 2 + x * 2 / n] += 1;
                                }
                            }
                        }
                        *l += &format!(" errors by quadrant {q:?}");
                    }
                    *l += "\n";
                }
                if timing_score(&bits, n) < 0.75 {
                    continue;
                }
                // Our decoder first (microseconds); rqrr's (a millisecond or
                // two, see `decode`) only when ours gives up on something rqrr
                // might still read, not on bits both would fail to correct.
                let text = match super::decode::read(n, &bits) {
                    Ok(text) => Some(text),
                    Err(super::decode::GiveUp::Unreadable) => None,
                    Err(super::decode::GiveUp::TryRqrr) => {
                        let grid =
                            rqrr::Grid::new(rqrr::SimpleGrid::from_func(n, |x, y| bits[y * n + x]));
                        grid.decode().ok().map(|(_, text)| text)
                    }
                };
                if let Some(text) = text {
                    if accept(&text) {
                        let corner = |u: f64, v: f64| {
                            let (x, y) = h.map(u, v);
                            (x.round() as i32, y.round() as i32)
                        };
                        return Some(FastHit {
                            text,
                            corners: [
                                corner(0.0, 0.0),
                                corner(nf, 0.0),
                                corner(nf, nf),
                                corner(0.0, nf),
                            ],
                        });
                    }
                    // Read, but not for us: another dimension will not help.
                    return None;
                }
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use hardware_mocks::camera::{demo_payloads, qr_modules};

    /// `payload` as a QR, `scale` pixels per module, rotated by `deg`
    /// degrees about its centre, with a perspective `tilt` (relative change
    /// of scale across the symbol), on a mid-grey background of `w`x`h`.
    /// Pixels are supersampled 3x3, so edges are grey like a camera's.
    fn render(payload: &str, w: usize, h: usize, scale: f64, deg: f64, tilt: f64) -> Vec<u8> {
        let m = qr_modules(payload).expect("encodable");
        let n = m.len() as f64;
        let (sin, cos) = deg.to_radians().sin_cos();
        let (cx, cy) = (w as f64 / 2.0, h as f64 / 2.0);
        let side = n * scale;
        let mut out = vec![0u8; w * h];
        for y in 0..h {
            for x in 0..w {
                let mut acc = 0.0;
                for sy in 0..3 {
                    for sx in 0..3 {
                        let px = x as f64 + (sx as f64 + 0.5) / 3.0 - cx;
                        let py = y as f64 + (sy as f64 + 0.5) / 3.0 - cy;
                        // Undo the perspective divide, then the rotation.
                        let d = 1.0 - tilt * px / side;
                        let (bx, by) = (px / d, py / d);
                        let u = (cos * bx + sin * by) / scale + n / 2.0;
                        let v = (-sin * bx + cos * by) / scale + n / 2.0;
                        let quiet = 6.0;
                        acc += if u < -quiet || v < -quiet || u >= n + quiet || v >= n + quiet {
                            120.0
                        } else if u < 0.0 || v < 0.0 || u >= n || v >= n {
                            230.0
                        } else if m[v as usize][u as usize] {
                            30.0
                        } else {
                            230.0
                        };
                    }
                }
                out[y * w + x] = (acc / 9.0) as u8;
            }
        }
        out
    }

    fn read(px: &[u8], w: usize, h: usize) -> Option<FastHit> {
        let g = Gray { px, w, h };
        let t = Thresholds::new(g);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        decode_fast(g, &t, (0, 0, w, h), &|_| true, deadline)
    }

    fn explain(px: &[u8], w: usize, h: usize) -> String {
        let g = Gray { px, w, h };
        debug(g, &Thresholds::new(g), None)
    }

    #[test]
    fn locates_and_reads_a_rendered_code_at_any_rotation_and_scale() {
        let payloads = demo_payloads();
        // An app token (the largest payload) and a pagoPA notice.
        for p in [&payloads[0], &payloads[8]] {
            for (scale, deg, tilt) in [
                (4.0, 0.0, 0.0),
                (3.0, 10.0, 0.0),
                (5.0, 30.0, 0.1),
                (4.0, -45.0, -0.15),
                (6.5, 20.0, 0.0),
            ] {
                let (w, h) = (640, 480);
                let px = render(p, w, h, scale, deg, tilt);
                let hit = read(&px, w, h);
                assert_eq!(
                    hit.as_ref().map(|h| h.text.as_str()),
                    Some(p.as_str()),
                    "scale {scale} rotation {deg} tilt {tilt}: {}",
                    explain(&px, w, h)
                );
            }
        }
    }

    #[test]
    fn an_image_without_a_code_gives_nothing() {
        let (w, h) = (320, 240);
        // Flat, a gradient, and a checkerboard (1:1 runs everywhere).
        let flat = vec![128u8; w * h];
        let gradient: Vec<u8> = (0..w * h).map(|i| (i % w * 255 / w) as u8).collect();
        let checker: Vec<u8> = (0..w * h)
            .map(|i| {
                if ((i % w) / 6 + (i / w) / 6) % 2 == 0 {
                    20
                } else {
                    220
                }
            })
            .collect();
        for px in [flat, gradient, checker] {
            assert!(read(&px, w, h).is_none());
        }
    }

    #[test]
    fn a_lone_finder_pattern_is_not_a_code() {
        // A decoy: nested squares like one finder, many times over.
        let (w, h) = (320, 240);
        let mut px = vec![200u8; w * h];
        for (ox, oy) in [(20, 20), (150, 30), (40, 140), (200, 150)] {
            for y in 0..35 {
                for x in 0..35 {
                    let r = (x / 5).min(y / 5).min(6 - x / 5).min(6 - y / 5);
                    px[(oy + y) * w + ox + x] = if r == 1 { 200 } else { 20 };
                }
            }
        }
        assert!(read(&px, w, h).is_none());
    }

    #[test]
    fn noise_never_panics() {
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        for (w, h) in [(1, 1), (7, 300), (64, 48), (320, 240)] {
            for _ in 0..4 {
                let px: Vec<u8> = (0..w * h)
                    .map(|_| {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        if x.is_multiple_of(3) {
                            0
                        } else if x % 3 == 1 {
                            255
                        } else {
                            (x >> 9) as u8
                        }
                    })
                    .collect();
                let _ = read(&px, w, h);
            }
        }
    }

    #[test]
    fn a_steeply_tilted_code_is_read() {
        // A phone held at an angle: one side much nearer the camera.
        let p = &demo_payloads()[0];
        for (scale, deg, tilt) in [(4.0, 15.0, 0.35), (4.0, -30.0, -0.3)] {
            let (w, h) = (640, 480);
            let px = render(p, w, h, scale, deg, tilt);
            let hit = read(&px, w, h);
            assert_eq!(
                hit.as_ref().map(|h| h.text.as_str()),
                Some(p.as_str()),
                "scale {scale} rotation {deg} tilt {tilt}: {}",
                explain(&px, w, h)
            );
        }
    }
}
