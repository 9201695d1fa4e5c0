//! Finder search: 1:1:3:1:1 runs on the rows, confirmed on the column
//! and the diagonal, merged into clusters; the module size between two
//! finders; triples of finders that can be one code.

use std::cmp::Ordering;

use super::binarize::{Bin, BLOCK_SHIFT, MARGIN};

/// Runs of dark:light:dark:light:dark in the ratio 1:1:3:1:1, within `tol`
/// modules on each run (three on the centre)?
pub(super) fn finder_ratio_within(c: &[usize; 5], tol: f64) -> bool {
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
pub(super) fn cross_check(
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
pub(super) fn find_finders(
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

/// Module size measured from finder centre `a` towards `b`: the distance
/// to the end of the third run (dark, light, dark: 3.5 modules) both ways.
pub(super) fn module_along(bin: &Bin<'_>, a: &Cluster, b: &Cluster) -> Option<f64> {
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

/// Plausible (top-left, top-right, bottom-left) triples, best first.
pub(super) fn triples(cl: &[Cluster]) -> Vec<(usize, usize, usize)> {
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
