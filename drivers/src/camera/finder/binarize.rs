//! Binarisation: the grayscale view the locator scans, and its local
//! thresholds (one per 8x8 block).

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
    pub(super) fn sample(&self, x: f64, y: f64) -> f64 {
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
pub(super) const BLOCK_SHIFT: usize = 3;
/// A pixel is dark when it is this many grey levels below its threshold.
pub(super) const MARGIN: u8 = 2;

/// Local thresholds, one per 8x8 block: the mean of the blocks in a window
/// about 1/8 of the frame wide, wider than any finder's dark centre, so the
/// centre is never "the background".
pub(crate) struct Thresholds {
    pub(super) bw: usize,
    pub(super) t: Vec<u8>,
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
    pub(super) fn at(&self, x: usize, y: usize) -> u8 {
        self.t[(y >> BLOCK_SHIFT) * self.bw + (x >> BLOCK_SHIFT)]
    }
}

/// The binarised view the locator scans.
pub(super) struct Bin<'a> {
    pub(super) g: Gray<'a>,
    pub(super) t: &'a Thresholds,
}

impl Bin<'_> {
    #[inline]
    pub(super) fn dark(&self, x: usize, y: usize) -> bool {
        self.g.px[y * self.g.w + x].saturating_add(MARGIN) < self.t.at(x, y)
    }

    /// Dark at a real-valued point; outside the image is light.
    pub(super) fn dark_f(&self, x: f64, y: f64) -> bool {
        if x < 0.0 || y < 0.0 {
            return false;
        }
        let (x, y) = (x as usize, y as usize);
        x < self.g.w && y < self.g.h && self.dark(x, y)
    }
}
