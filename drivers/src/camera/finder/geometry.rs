//! Geometry: the projective map from module coordinates to pixels, its
//! least-squares fit, and the perspective guess for the far corner.

use std::cmp::Ordering;

/// A point in module coordinates and where it is in the image.
pub(super) type Pair = ((f64, f64), (f64, f64));

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
    pub(super) fn map_with_jacobian(&self, u: f64, v: f64) -> ((f64, f64), [f64; 4]) {
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
    pub(super) fn fit(pairs: &[Pair], su: f64) -> Option<Homography> {
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
pub(super) fn solve8(mut a: [[f64; 9]; 8]) -> Option<[f64; 8]> {
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

/// The homogeneous weight of a finder of module size `m` relative to the
/// top-left one's (`m0`): a projective map shrinks what is further away, so
/// the smaller finder gets the larger weight. Clamped: the module sizes of
/// the clusters are rough.
pub(super) fn persp_weight(m0: f64, m: f64) -> f64 {
    (m0 / m).powf(PERSP_EXP).clamp(0.7, 1.45)
}

/// In one dimension a projective map's scale goes as 1/w², so the weight
/// goes as the square root of the module size ratio (1.0 and 0.75 read the
/// same benchmark frames; 0.5 is the one that follows from the model).
pub(super) const PERSP_EXP: f64 = 0.5;

/// The centre of the bottom-right finder-sized square from the other three
/// finders' centres and their homogeneous weights (`depth` for top-right and
/// bottom-left, top-left's being 1): the four points are a parallelogram in
/// module space, so their homogeneous image points are too. Equal weights
/// give the plain parallelogram.
pub(super) fn fourth_centre(
    tl: (f64, f64),
    tr: (f64, f64),
    bl: (f64, f64),
    depth: (f64, f64),
) -> (f64, f64) {
    let (wr, wb) = depth;
    let w = wr + wb - 1.0;
    (
        (tr.0 * wr + bl.0 * wb - tl.0) / w,
        (tr.1 * wr + bl.1 * wb - tl.1) / w,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
