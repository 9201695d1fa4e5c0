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

use std::cmp::Ordering;

/// A grayscale image borrowed from a frame.
#[derive(Clone, Copy)]
pub(crate) struct Gray<'a> {
    pub px: &'a [u8],
    pub w: usize,
    pub h: usize,
}

impl Gray<'_> {
    /// Bilinear sample at `(x, y)` (pixel centres at integer + 0.5),
    /// clamped to the image.
    fn sample(&self, x: f64, y: f64) -> f64 {
        let x = (x - 0.5).clamp(0.0, (self.w - 1) as f64);
        let y = (y - 0.5).clamp(0.0, (self.h - 1) as f64);
        let (x0, y0) = (x as usize, y as usize);
        let (fx, fy) = (x - x0 as f64, y - y0 as f64);
        // The hottest function of the fast pass (five samples per module):
        // one index, four reads; on the last row or column the neighbour
        // is the pixel itself (its weight is 0 there anyway).
        let i = y0 * self.w + x0;
        let dx = usize::from(x0 + 1 < self.w);
        let dy = if y0 + 1 < self.h { self.w } else { 0 };
        let p = |i: usize| self.px[i] as f64;
        let (a, b, c, d) = (p(i), p(i + dx), p(i + dy), p(i + dy + dx));
        let top = a + (b - a) * fx;
        let bottom = c + (d - c) * fx;
        top + (bottom - top) * fy
    }
}

/// Side of a threshold block, as a shift (8 pixels).
const BLOCK_SHIFT: usize = 3;
/// A pixel is dark when it is this many grey levels below its threshold.
const MARGIN: u8 = 2;

/// Local thresholds, one per 8x8 block: the mean of the blocks in a window
/// about 1/8 of the frame wide, wider than any finder's dark centre, so the
/// centre is never "the background".
pub(crate) struct Thresholds {
    bw: usize,
    t: Vec<u8>,
}

impl Thresholds {
    pub(crate) fn new(g: Gray<'_>) -> Thresholds {
        let b = 1usize << BLOCK_SHIFT;
        let bw = g.w.div_ceil(b);
        let bh = g.h.div_ceil(b);
        let mut sums = vec![0u32; bw * bh];
        let mut counts = vec![0u32; bw * bh];
        for y in 0..g.h {
            let brow = (y >> BLOCK_SHIFT) * bw;
            for (bx, chunk) in g.px[y * g.w..(y + 1) * g.w].chunks(b).enumerate() {
                sums[brow + bx] += chunk.iter().map(|&p| p as u32).sum::<u32>();
                counts[brow + bx] += chunk.len() as u32;
            }
        }
        // Integral image of the block means.
        let iw = bw + 1;
        let mut integral = vec![0u32; iw * (bh + 1)];
        for by in 0..bh {
            let mut row = 0u32;
            for bx in 0..bw {
                let i = by * bw + bx;
                row += sums[i] / counts[i].max(1);
                integral[(by + 1) * iw + bx + 1] = integral[by * iw + bx + 1] + row;
            }
        }
        let k = ((g.w.max(g.h) >> BLOCK_SHIFT) / 16).max(2);
        let mut t = vec![0u8; bw * bh];
        for by in 0..bh {
            let (y0, y1) = (by.saturating_sub(k), (by + k + 1).min(bh));
            for bx in 0..bw {
                let (x0, x1) = (bx.saturating_sub(k), (bx + k + 1).min(bw));
                let s = integral[y1 * iw + x1] + integral[y0 * iw + x0]
                    - integral[y0 * iw + x1]
                    - integral[y1 * iw + x0];
                t[by * bw + bx] = (s / ((x1 - x0) * (y1 - y0)) as u32) as u8;
            }
        }
        Thresholds { bw, t }
    }

    #[inline]
    fn at(&self, x: usize, y: usize) -> u8 {
        self.t[(y >> BLOCK_SHIFT) * self.bw + (x >> BLOCK_SHIFT)]
    }
}

/// The binarised view the locator scans.
struct Bin<'a> {
    g: Gray<'a>,
    t: &'a Thresholds,
}

impl Bin<'_> {
    #[inline]
    fn dark(&self, x: usize, y: usize) -> bool {
        self.g.px[y * self.g.w + x].saturating_add(MARGIN) < self.t.at(x, y)
    }

    /// Dark at a real-valued point; outside the image is light.
    fn dark_f(&self, x: f64, y: f64) -> bool {
        if x < 0.0 || y < 0.0 {
            return false;
        }
        let (x, y) = (x as usize, y as usize);
        x < self.g.w && y < self.g.h && self.dark(x, y)
    }
}

/// Runs of dark:light:dark:light:dark in the ratio 1:1:3:1:1, within `tol`
/// modules on each run (three on the centre)?
fn finder_ratio_within(c: &[usize; 5], tol: f64) -> bool {
    let total: usize = c.iter().sum();
    if total < 7 || c.contains(&0) {
        return false;
    }
    let m = total as f64 / 7.0;
    let v = m * tol;
    (c[0] as f64 - m).abs() < v
        && (c[1] as f64 - m).abs() < v
        && (c[2] as f64 - 3.0 * m).abs() < 3.0 * v
        && (c[3] as f64 - m).abs() < v
        && (c[4] as f64 - m).abs() < v
}

/// A finder pattern seen (possibly several times).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Cluster {
    pub x: f64,
    pub y: f64,
    /// Module size estimate, pixels.
    pub m: f64,
    pub count: u32,
}

/// The runs through `(x, y)` along `(dx, dy)` (one pixel steps): the centre
/// dark run, then light, dark both ways. Returns the five counts and the
/// offset of the pattern's centre from `(x, y)` in steps.
fn cross_check(
    b: &Bin<'_>,
    x: usize,
    y: usize,
    (dx, dy): (isize, isize),
    max: usize,
    tol: f64,
) -> Option<([usize; 5], f64)> {
    if !b.dark(x, y) {
        return None;
    }
    let (w, h) = (b.g.w as isize, b.g.h as isize);
    let mut c = [0usize; 5];
    // Backwards: centre (c[2]), light (c[1]), dark (c[0]).
    let walk = |sign: isize, c: &mut [usize; 5], idx: [usize; 3]| -> bool {
        let (mut px, mut py) = (x as isize, y as isize);
        let mut stage = 0;
        loop {
            px += sign * dx;
            py += sign * dy;
            if px < 0 || py < 0 || px >= w || py >= h {
                return stage == 2 && c[idx[2]] > 0;
            }
            let d = b.dark(px as usize, py as usize);
            let want_dark = stage != 1;
            if d == want_dark {
                c[idx[stage]] += 1;
                if c[idx[stage]] > max {
                    return false;
                }
            } else {
                if stage == 2 {
                    return true;
                }
                stage += 1;
                c[idx[stage]] += 1;
            }
        }
    };
    c[2] = 1;
    if !walk(-1, &mut c, [2, 1, 0]) || !walk(1, &mut c, [2, 3, 4]) {
        return None;
    }
    if !finder_ratio_within(&c, tol) {
        return None;
    }
    // Steps from (x, y) back to the start of the centre run, and the centre.
    let mut back = 0usize;
    let (mut px, mut py) = (x as isize, y as isize);
    loop {
        px -= dx;
        py -= dy;
        if px < 0 || py < 0 || px >= w || py >= h || !b.dark(px as usize, py as usize) {
            break;
        }
        back += 1;
    }
    let centre = -(back as f64) + c[2] as f64 / 2.0 - 0.5;
    Some((c, centre))
}

/// Find finder patterns in rows `y0..y1` (every `step`-th) and columns
/// `x0..x1`.
fn find_finders(
    b: &Bin<'_>,
    rect: (usize, usize, usize, usize),
    step: usize,
    relaxed: bool,
) -> Vec<Cluster> {
    let (x0, y0, x1, y1) = rect;
    // The relaxed scan (a retry when the strict one led nowhere) forgives
    // blur and glare eating into the runs; wrong candidates it lets through
    // fail the triple geometry, the timing patterns or Reed-Solomon.
    let (tol, dtol, row_tol) = if relaxed {
        (0.75, 1.0, 0.7)
    } else {
        (0.5, 0.75, 0.5)
    };
    let mut clusters: Vec<Cluster> = Vec::new();
    let consider = |c: &[usize; 5], end: usize, y: usize, clusters: &mut Vec<Cluster>| {
        let cx = end as f64 - (c[4] + c[3]) as f64 - c[2] as f64 / 2.0;
        let htotal: usize = c.iter().sum();
        let max = c[2] * 3;
        let Some((vc, off)) = cross_check(b, cx as usize, y, (0, 1), max, tol) else {
            return;
        };
        let vtotal: usize = vc.iter().sum();
        if 5 * htotal.abs_diff(vtotal) >= 3 * htotal {
            return;
        }
        let cy = y as f64 + 0.5 + off;
        if cy < 0.0 {
            return;
        }
        let Some((hc, hoff)) = cross_check(b, cx as usize, cy as usize, (1, 0), max, tol) else {
            return;
        };
        let cx = (cx as usize) as f64 + 0.5 + hoff;
        let htotal: usize = hc.iter().sum();
        // Any line through the centre of concentric squares crosses them
        // 1:1:3:1:1, whatever the rotation; a checkerboard or stripes do not
        // along the diagonal.
        let Some((dc, _)) = cross_check(b, cx as usize, cy as usize, (1, 1), max, dtol) else {
            return;
        };
        let dtotal: usize = dc.iter().sum();
        if dtotal * 3 < htotal || dtotal > htotal * 3 {
            return;
        }
        let m = (htotal + vtotal) as f64 / 14.0;
        for k in clusters.iter_mut() {
            if (k.x - cx).abs() <= 2.0 * k.m.max(m)
                && (k.y - cy).abs() <= 2.0 * k.m.max(m)
                && (k.m - m).abs() <= 0.5 * k.m.max(m)
            {
                let n = k.count as f64;
                k.x = (k.x * n + cx) / (n + 1.0);
                k.y = (k.y * n + cy) / (n + 1.0);
                k.m = (k.m * n + m) / (n + 1.0);
                k.count += 1;
                return;
            }
        }
        if clusters.len() < 64 {
            clusters.push(Cluster {
                x: cx,
                y: cy,
                m,
                count: 1,
            });
        }
    };
    // The scan works on runs, not pixels: the per-pixel loop is only a
    // comparison, and the 1:1:3:1:1 state machine runs once per run.
    // `state` is the index in `c` of the run being counted.
    let feed = |dark: bool,
                len: usize,
                start: usize,
                y: usize,
                c: &mut [usize; 5],
                state: &mut usize,
                clusters: &mut Vec<Cluster>| {
        if dark {
            if *state & 1 == 1 {
                *state += 1;
            }
            c[*state] += len;
        } else if *state == 4 {
            if finder_ratio_within(c, row_tol) {
                consider(c, start, y, clusters);
            }
            *c = [c[2], c[3], c[4], len, 0];
            *state = 3;
        } else {
            // Runs alternate, so a light run follows a dark one (even
            // state) or starts the row (state 0).
            *state += 1;
            c[*state] += len;
        }
    };
    let w = b.g.w;
    let mut y = y0;
    while y < y1 && x0 < x1 {
        let mut c = [0usize; 5];
        let mut state = 0usize;
        let row = &b.g.px[y * w..(y + 1) * w];
        let trow = &b.t.t[(y >> BLOCK_SHIFT) * b.t.bw..];
        let dark_at = |x: usize| row[x].saturating_add(MARGIN) < trow[x >> BLOCK_SHIFT];
        let mut cur = dark_at(x0);
        let mut start = x0;
        for x in x0 + 1..x1 {
            let d = dark_at(x);
            if d != cur {
                feed(cur, x - start, start, y, &mut c, &mut state, &mut clusters);
                cur = d;
                start = x;
            }
        }
        feed(cur, x1 - start, start, y, &mut c, &mut state, &mut clusters);
        if state == 4 && finder_ratio_within(&c, row_tol) {
            consider(&c, x1, y, &mut clusters);
        }
        y += step;
    }
    clusters.sort_by_key(|c| std::cmp::Reverse(c.count));
    clusters
}

/// A point in module coordinates and where it is in the image.
type Pair = ((f64, f64), (f64, f64));

/// A projective map from module coordinates (u, v) to image pixels.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Homography {
    /// x = (m0 u + m1 v + m2) / (m6 u + m7 v + 1) + o.0, y likewise with
    /// m3..m5 + o.1. The fit is done on scaled coordinates (module
    /// coordinates divided by `su`, pixels relative to `o` divided by `s`,
    /// which keeps it well conditioned); the scales are folded into `m`
    /// because `map` runs some 25 000 times per located code.
    m: [f64; 8],
    o: (f64, f64),
}

impl Homography {
    /// [`Homography::map`] and its derivatives there (dx/du, dx/dv, dy/du,
    /// dy/dv): the points a fraction of a module around follow without a
    /// division each (the second-order error is far below a pixel).
    fn map_with_jacobian(&self, u: f64, v: f64) -> ((f64, f64), [f64; 4]) {
        let m = &self.m;
        let inv = 1.0 / (m[6] * u + m[7] * v + 1.0);
        let x = (m[0] * u + m[1] * v + m[2]) * inv;
        let y = (m[3] * u + m[4] * v + m[5]) * inv;
        (
            (x + self.o.0, y + self.o.1),
            [
                (m[0] - x * m[6]) * inv,
                (m[1] - x * m[7]) * inv,
                (m[3] - y * m[6]) * inv,
                (m[4] - y * m[7]) * inv,
            ],
        )
    }

    pub(crate) fn map(&self, u: f64, v: f64) -> (f64, f64) {
        let m = &self.m;
        let inv = 1.0 / (m[6] * u + m[7] * v + 1.0);
        (
            (m[0] * u + m[1] * v + m[2]) * inv + self.o.0,
            (m[3] * u + m[4] * v + m[5]) * inv + self.o.1,
        )
    }

    /// Least-squares fit through `(u, v) -> (x, y)` pairs (at least 4).
    fn fit(pairs: &[Pair], su: f64) -> Option<Homography> {
        if pairs.len() < 4 {
            return None;
        }
        let n = pairs.len() as f64;
        let o = (
            pairs.iter().map(|p| p.1 .0).sum::<f64>() / n,
            pairs.iter().map(|p| p.1 .1).sum::<f64>() / n,
        );
        let s = pairs
            .iter()
            .map(|p| (p.1 .0 - o.0).abs().max((p.1 .1 - o.1).abs()))
            .fold(1.0, f64::max);
        let mut ata = [[0.0f64; 9]; 8];
        for &((u, v), (x, y)) in pairs {
            let (u, v) = (u / su, v / su);
            let (x, y) = ((x - o.0) / s, (y - o.1) / s);
            let rows = [
                ([u, v, 1.0, 0.0, 0.0, 0.0, -u * x, -v * x], x),
                ([0.0, 0.0, 0.0, u, v, 1.0, -u * y, -v * y], y),
            ];
            for (r, b) in rows {
                for i in 0..8 {
                    for j in 0..8 {
                        ata[i][j] += r[i] * r[j];
                    }
                    ata[i][8] += r[i] * b;
                }
            }
        }
        let h = solve8(ata)?;
        let m = [
            s * h[0] / su,
            s * h[1] / su,
            s * h[2],
            s * h[3] / su,
            s * h[4] / su,
            s * h[5],
            h[6] / su,
            h[7] / su,
        ];
        Some(Homography { m, o })
    }
}

/// Gaussian elimination with partial pivoting on an augmented 8x9 system.
fn solve8(mut a: [[f64; 9]; 8]) -> Option<[f64; 8]> {
    for col in 0..8 {
        let piv = (col..8).max_by(|&i, &j| {
            a[i][col]
                .abs()
                .partial_cmp(&a[j][col].abs())
                .unwrap_or(Ordering::Equal)
        })?;
        if a[piv][col].abs() < 1e-12 {
            return None;
        }
        a.swap(col, piv);
        let pivot_row = a[col];
        for (r, row) in a.iter_mut().enumerate() {
            if r != col {
                let f = row[col] / pivot_row[col];
                for (x, p) in row.iter_mut().zip(pivot_row.iter()).skip(col) {
                    *x -= f * p;
                }
            }
        }
    }
    let mut x = [0.0; 8];
    for i in 0..8 {
        x[i] = a[i][8] / a[i][i];
        if !x[i].is_finite() {
            return None;
        }
    }
    Some(x)
}

/// Centres (module index) of the alignment patterns of `version`, per axis.
pub(crate) fn alignment_positions(version: usize) -> Vec<usize> {
    if version < 2 {
        return Vec::new();
    }
    let size = version * 4 + 17;
    let count = version / 7 + 2;
    let step = if version == 32 {
        26
    } else {
        (version * 4 + count * 2 + 1) / (count * 2 - 2) * 2
    };
    let mut out = vec![6usize; count];
    let mut pos = size - 7;
    for i in (1..count).rev() {
        out[i] = pos;
        pos = pos.saturating_sub(step);
    }
    out
}

/// Template of a finder (7x7) or alignment pattern (5x5): `true` = dark.
fn template_dark(kind_finder: bool, i: i32, j: i32) -> bool {
    let r = i.abs().max(j.abs());
    if kind_finder {
        r != 2
    } else {
        r != 1
    }
}

/// Where the pattern whose centre is at module coordinates `c` really is:
/// the offset within `radius` modules (grid of `step`) whose samples
/// correlate best with the template. Returns the image point of `c` and the
/// normalised score (0..1).
fn refine_anchor(
    g: Gray<'_>,
    h: &Homography,
    c: (f64, f64),
    finder: bool,
    radius: f64,
    step: f64,
) -> Option<((f64, f64), f64)> {
    let half: i32 = if finder { 3 } else { 2 };
    // Generic (not `&dyn Fn`) so the cell lookups inline: the coarse search
    // of the first alignment pattern scores hundreds of offsets.
    fn score_of(finder: bool, half: i32, off: (f64, f64), v: impl Fn(i32, i32) -> f64) -> f64 {
        let (mut dark_sum, mut light_sum) = (0.0, 0.0);
        let (mut nd, mut nl) = (0.0, 0.0);
        let (mut lo, mut hi) = (255.0f64, 0.0f64);
        for j in -half..=half {
            for i in -half..=half {
                let v = v(i, j);
                lo = lo.min(v);
                hi = hi.max(v);
                if template_dark(finder, i, j) {
                    dark_sum += v;
                    nd += 1.0;
                } else {
                    light_sum += v;
                    nl += 1.0;
                }
            }
        }
        let contrast = light_sum / nl - dark_sum / nd;
        contrast / (hi - lo).max(8.0) - 0.02 * (off.0 * off.0 + off.1 * off.1).sqrt()
    }
    let mut best: Option<((f64, f64), f64)> = None;
    // Coarse: every offset on a lattice of `step`; the template's cells
    // fall on the same lattice, so each point is sampled once.
    let per = (1.0 / step).round() as i32;
    let n = (radius / step).round() as i32;
    let reach = n + half * per;
    let side = (2 * reach + 1) as usize;
    let mut lattice = vec![0f64; side * side];
    for b in -reach..=reach {
        for a in -reach..=reach {
            let (x, y) = h.map(c.0 + a as f64 * step, c.1 + b as f64 * step);
            lattice[(b + reach) as usize * side + (a + reach) as usize] = g.sample(x, y);
        }
    }
    for b in -n..=n {
        for a in -n..=n {
            let off = (a as f64 * step, b as f64 * step);
            let score = score_of(finder, half, off, |i, j| {
                lattice[(b + j * per + reach) as usize * side + (a + i * per + reach) as usize]
            });
            if best.is_none_or(|x| score > x.1) {
                best = Some((off, score));
            }
        }
    }
    let search = |centre: (f64, f64), step: f64, best: &mut Option<((f64, f64), f64)>| {
        for b in -1..=1 {
            for a in -1..=1 {
                if a == 0 && b == 0 {
                    continue;
                }
                let off = (centre.0 + a as f64 * step, centre.1 + b as f64 * step);
                let score = score_of(finder, half, off, |i, j| {
                    let (x, y) = h.map(c.0 + off.0 + i as f64, c.1 + off.1 + j as f64);
                    g.sample(x, y)
                });
                if best.is_none_or(|x| score > x.1) {
                    *best = Some((off, score));
                }
            }
        }
    };
    // Hill-climb to an eighth of a module.
    let mut fine = step / 2.0;
    while fine >= 0.124 {
        let (off, _) = best?;
        search(off, fine, &mut best);
        fine /= 2.0;
    }
    let (off, score) = best?;
    Some((h.map(c.0 + off.0, c.1 + off.1), score))
}

/// Sample the `n`x`n` module grid through `h`: each module's centre, or
/// (`fine`) the mean of five samples around it, which blur and noise
/// disturb less.
fn sample_grid(g: Gray<'_>, h: &Homography, n: usize, fine: bool) -> Vec<f32> {
    const D: f64 = 0.22;
    let mut vals = vec![0f32; n * n];
    for j in 0..n {
        for i in 0..n {
            let (u, v) = (i as f64 + 0.5, j as f64 + 0.5);
            if !fine {
                let (x, y) = h.map(u, v);
                vals[j * n + i] = g.sample(x, y) as f32;
                continue;
            }
            let ((x, y), d) = h.map_with_jacobian(u, v);
            let mut s = 0.0;
            for (du, dv) in [(0.0, 0.0), (-D, -D), (D, -D), (-D, D), (D, D)] {
                s += g.sample(x + d[0] * du + d[1] * dv, y + d[2] * du + d[3] * dv);
            }
            vals[j * n + i] = (s / 5.0) as f32;
        }
    }
    vals
}

/// Dark modules: below the mean of the `(2k+1)^2` modules around them.
fn threshold_grid(vals: &[f32], n: usize, k: usize) -> Vec<bool> {
    let iw = n + 1;
    let mut integral = vec![0f64; iw * (n + 1)];
    for y in 0..n {
        let mut row = 0.0;
        for x in 0..n {
            row += vals[y * n + x] as f64;
            integral[(y + 1) * iw + x + 1] = integral[y * iw + x + 1] + row;
        }
    }
    let mut out = vec![false; n * n];
    for y in 0..n {
        let (y0, y1) = (y.saturating_sub(k), (y + k + 1).min(n));
        for x in 0..n {
            let (x0, x1) = (x.saturating_sub(k), (x + k + 1).min(n));
            let s = integral[y1 * iw + x1] + integral[y0 * iw + x0]
                - integral[y0 * iw + x1]
                - integral[y1 * iw + x0];
            let mean = s / ((x1 - x0) * (y1 - y0)) as f64;
            out[y * n + x] = (vals[y * n + x] as f64) < mean;
        }
    }
    out
}

/// Share of the timing-pattern modules (row and column 6 between the
/// finders) that alternate as they must.
fn timing_score(bits: &[bool], n: usize) -> f64 {
    if n < 17 {
        return 0.0;
    }
    let mut ok = 0usize;
    for i in 8..n - 8 {
        let want = i % 2 == 0;
        ok += (bits[6 * n + i] == want) as usize + (bits[i * n + 6] == want) as usize;
    }
    ok as f64 / (2 * (n - 16)) as f64
}

/// Module size measured from finder centre `a` towards `b`: the distance
/// to the end of the third run (dark, light, dark: 3.5 modules) both ways.
fn module_along(bin: &Bin<'_>, a: &Cluster, b: &Cluster) -> Option<f64> {
    let (dx, dy) = (b.x - a.x, b.y - a.y);
    let len = (dx * dx + dy * dy).sqrt();
    if len < 1.0 {
        return None;
    }
    let (ux, uy) = (dx / len, dy / len);
    let limit = a.m * 8.0;
    let one_way = |sign: f64| -> Option<f64> {
        let mut stage = 0;
        let mut t = 0.0;
        while t < limit {
            t += 0.5;
            let d = bin.dark_f(a.x + sign * ux * t, a.y + sign * uy * t);
            if d != (stage != 1) {
                stage += 1;
                if stage == 3 {
                    return Some(t - 0.25);
                }
            }
        }
        None
    };
    let total = one_way(1.0)? + one_way(-1.0)?;
    // The line crosses the finder at an angle when the code is rotated.
    Some(total / 7.0)
}

/// The homogeneous weight of a finder of module size `m` relative to the
/// top-left one's (`m0`): a projective map shrinks what is further away, so
/// the smaller finder gets the larger weight. Clamped: the module sizes of
/// the clusters are rough.
fn persp_weight(m0: f64, m: f64) -> f64 {
    (m0 / m).powf(PERSP_EXP).clamp(0.7, 1.45)
}

/// In one dimension a projective map's scale goes as 1/w², so the weight
/// goes as the square root of the module size ratio (1.0 and 0.75 read the
/// same benchmark frames; 0.5 is the one that follows from the model).
const PERSP_EXP: f64 = 0.5;

/// The centre of the bottom-right finder-sized square from the other three
/// finders' centres and their homogeneous weights (`depth` for top-right and
/// bottom-left, top-left's being 1): the four points are a parallelogram in
/// module space, so their homogeneous image points are too. Equal weights
/// give the plain parallelogram.
fn fourth_centre(tl: (f64, f64), tr: (f64, f64), bl: (f64, f64), depth: (f64, f64)) -> (f64, f64) {
    let (wr, wb) = depth;
    let w = wr + wb - 1.0;
    (
        (tr.0 * wr + bl.0 * wb - tl.0) / w,
        (tr.1 * wr + bl.1 * wb - tl.1) / w,
    )
}

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
) -> Option<FastHit> {
    let bin = Bin { g, t };
    for relaxed in [false, true] {
        let clusters = find_finders(&bin, rect, if relaxed { 1 } else { 3 }, relaxed);
        let clusters: Vec<Cluster> = clusters.into_iter().take(MAX_CLUSTERS).collect();
        let most = if relaxed {
            MAX_TRIPLES_RELAXED
        } else {
            MAX_TRIPLES
        };
        for (tl, tr, bl) in triples(&clusters).into_iter().take(most) {
            if let Some(hit) = decode_triple(
                &mut None,
                &bin,
                &clusters[tl],
                &clusters[tr],
                &clusters[bl],
                accept,
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
        );
        out += &log.map(|l| l.0).unwrap_or_default();
        out += &format!("   -> {:?}\n", r.map(|h| h.text.len()));
    }
    out
}

/// Plausible (top-left, top-right, bottom-left) triples, best first.
fn triples(cl: &[Cluster]) -> Vec<(usize, usize, usize)> {
    let mut out: Vec<((usize, usize, usize), f64)> = Vec::new();
    let n = cl.len();
    for a in 0..n {
        for b in a + 1..n {
            for c in b + 1..n {
                let idx = [a, b, c];
                let (ms, mx) = idx.iter().fold((f64::MAX, 0.0f64), |(lo, hi), &i| {
                    (lo.min(cl[i].m), hi.max(cl[i].m))
                });
                if mx > 1.8 * ms {
                    continue;
                }
                // The corner is opposite the longest side.
                let d = |i: usize, j: usize| {
                    ((cl[i].x - cl[j].x).powi(2) + (cl[i].y - cl[j].y).powi(2)).sqrt()
                };
                let sides = [(d(b, c), a, b, c), (d(a, c), b, a, c), (d(a, b), c, a, b)];
                let &(_, corner, p, q) = sides
                    .iter()
                    .max_by(|x, y| x.0.partial_cmp(&y.0).unwrap_or(Ordering::Equal))
                    .unwrap_or(&sides[0]);
                let (l1, l2) = (d(corner, p), d(corner, q));
                if l1.min(l2) < 0.7 * l1.max(l2) {
                    continue;
                }
                let m = (cl[a].m + cl[b].m + cl[c].m) / 3.0;
                let dim = (l1 + l2) / 2.0 / m + 7.0;
                if !(15.0..=190.0).contains(&dim) {
                    continue;
                }
                let (v1, v2) = (
                    (cl[p].x - cl[corner].x, cl[p].y - cl[corner].y),
                    (cl[q].x - cl[corner].x, cl[q].y - cl[corner].y),
                );
                let cos = (v1.0 * v2.0 + v1.1 * v2.1) / (l1 * l2);
                if cos.abs() > 0.4 {
                    continue;
                }
                let cross = v1.0 * v2.1 - v1.1 * v2.0;
                let (tr, bl) = if cross > 0.0 { (p, q) } else { (q, p) };
                let score = cos.abs() + (1.0 - l1.min(l2) / l1.max(l2))
                    - 0.02 * (cl[a].count + cl[b].count + cl[c].count).min(30) as f64;
                out.push(((corner, tr, bl), score));
            }
        }
    }
    out.sort_by(|x, y| x.1.partial_cmp(&y.1).unwrap_or(Ordering::Equal));
    out.into_iter().map(|x| x.0).collect()
}

fn decode_triple(
    log: &mut Option<(String, Option<&[Vec<bool>]>)>,
    bin: &Bin<'_>,
    tl: &Cluster,
    tr: &Cluster,
    bl: &Cluster,
    accept: &dyn Fn(&str) -> bool,
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
        decode_fast(g, &t, (0, 0, w, h), &|_| true)
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
    fn homography_fit_reproduces_a_projective_map() {
        // Points of a known map; the fit must reproduce other points.
        let truth = |u: f64, v: f64| {
            let d = 1.0 + 0.002 * u - 0.001 * v;
            (
                (3.0 * u + 0.5 * v + 40.0) / d,
                (-0.4 * u + 2.8 * v + 25.0) / d,
            )
        };
        let pairs: Vec<_> = [
            (3.5, 3.5),
            (53.5, 3.5),
            (3.5, 53.5),
            (50.5, 50.5),
            (28.5, 28.5),
        ]
        .iter()
        .map(|&(u, v)| ((u, v), truth(u, v)))
        .collect();
        let h = Homography::fit(&pairs, 57.0).expect("fit");
        for (u, v) in [(0.0, 0.0), (57.0, 57.0), (10.0, 40.0)] {
            let (a, b) = (h.map(u, v), truth(u, v));
            assert!(
                (a.0 - b.0).abs() < 1e-6 && (a.1 - b.1).abs() < 1e-6,
                "{a:?} vs {b:?}"
            );
            // The derivatives the sampler uses: central differences.
            let (p, d) = h.map_with_jacobian(u, v);
            assert!((p.0 - a.0).abs() < 1e-9 && (p.1 - a.1).abs() < 1e-9);
            let e = 1e-4;
            let (xu, yu) = (h.map(u + e, v), h.map(u - e, v));
            let (xv, yv) = (h.map(u, v + e), h.map(u, v - e));
            let numeric = [
                (xu.0 - yu.0) / (2.0 * e),
                (xv.0 - yv.0) / (2.0 * e),
                (xu.1 - yu.1) / (2.0 * e),
                (xv.1 - yv.1) / (2.0 * e),
            ];
            for (got, want) in d.iter().zip(numeric) {
                assert!((got - want).abs() < 1e-5, "{d:?} vs {numeric:?}");
            }
        }
    }

    #[test]
    fn the_far_finder_follows_the_perspective_of_the_other_three() {
        // A projective map and the homogeneous weights of its finders: the
        // fourth centre must be exact, where the parallelogram is not.
        let d = |u: f64, v: f64| 1.0 + 0.004 * u - 0.003 * v;
        let map = |u: f64, v: f64| {
            (
                (3.0 * u + 0.5 * v + 40.0) / d(u, v),
                (-0.4 * u + 2.8 * v + 25.0) / d(u, v),
            )
        };
        let (a, b) = (3.5, 53.5);
        let (tl, tr, bl, br) = (map(a, a), map(b, a), map(a, b), map(b, b));
        let depth = (d(b, a) / d(a, a), d(a, b) / d(a, a));
        let got = fourth_centre(tl, tr, bl, depth);
        assert!((got.0 - br.0).abs() < 1e-9 && (got.1 - br.1).abs() < 1e-9);
        let flat = fourth_centre(tl, tr, bl, (1.0, 1.0));
        assert_eq!(flat, (tr.0 + bl.0 - tl.0, tr.1 + bl.1 - tl.1));
        assert!((flat.0 - br.0).abs() + (flat.1 - br.1).abs() > 5.0);
        // Weights from module sizes: a smaller (further) finder weighs more.
        assert!(persp_weight(4.0, 3.0) > 1.0 && persp_weight(4.0, 5.0) < 1.0);
        assert_eq!(persp_weight(4.0, 1.0), 1.45);
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

    #[test]
    fn alignment_positions_match_the_standard_table() {
        assert_eq!(alignment_positions(1), Vec::<usize>::new());
        assert_eq!(alignment_positions(2), vec![6, 18]);
        assert_eq!(alignment_positions(7), vec![6, 22, 38]);
        assert_eq!(alignment_positions(10), vec![6, 28, 50]);
        assert_eq!(alignment_positions(32), vec![6, 34, 60, 86, 112, 138]);
        assert_eq!(alignment_positions(40), vec![6, 30, 58, 86, 114, 142, 170]);
    }
}
