//! Sampling: anchors (finders, alignment patterns) re-found by template
//! correlation, the module grid sampled through the homography and
//! thresholded against its neighbours, the timing-pattern check.

use super::binarize::Gray;
use super::geometry::Homography;

/// Template of a finder (7x7) or alignment pattern (5x5): `true` = dark.
pub(super) fn template_dark(kind_finder: bool, i: i32, j: i32) -> bool {
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
pub(super) fn refine_anchor(
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
pub(super) fn sample_grid(g: Gray<'_>, h: &Homography, n: usize, fine: bool) -> Vec<f32> {
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
pub(super) fn threshold_grid(vals: &[f32], n: usize, k: usize) -> Vec<bool> {
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
pub(super) fn timing_score(bits: &[bool], n: usize) -> f64 {
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
