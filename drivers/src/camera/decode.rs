//! Our own decoding of a sampled QR module grid: format information, data
//! mask, codewords, Reed–Solomon correction and the payload text.
//!
//! Why not rqrr's: its Reed–Solomon syndromes exponentiate per codeword and
//! syndrome (`block_syndromes`), about 1.7 ms for a 57x57 app token, twice
//! the whole fast pass's budget. Here syndromes are Horner evaluations over
//! log/antilog tables, a few microseconds per block.
//!
//! ```text
//! format    both 15-bit copies; the closest of the 32 valid words
//!           (BCH(15,5), masked with 0x5412), at most 3 bits off
//! codewords zig-zag from the bottom-right, two columns at a time,
//!           skipping finders, separators, timing, alignment patterns,
//!           format and (v >= 7) version information; data mask undone
//! blocks    de-interleaved per ISO/IEC 18004 table 9 (VERSIONS below)
//! RS        GF(256), x^8+x^4+x^3+x^2+1, roots a^0..a^(ec-1):
//!           syndromes, Berlekamp–Massey, Chien search, Forney; the
//!           corrected block is checked again (all syndromes zero)
//! payload   numeric, alphanumeric and byte segments, UTF-8 text
//! ```
//!
//! Anything else (ECI, Kanji, structured append, FNC1, too many errors, a
//! grid that is not a QR) gives `None`, and the caller falls back to rqrr,
//! so the hit rate never depends on this module being complete. The input
//! is untrusted (a camera grid): no index here depends on it unchecked.

/// Per version 1..=40: total codewords, and per error-correction level in
/// format-bit order (M, L, H, Q): EC codewords per block, number of short
/// blocks, data codewords per short block. Long blocks (the rest of the
/// codewords) have one more data codeword. ISO/IEC 18004 table 9.
#[rustfmt::skip]
const VERSIONS: [(usize, [Blocks; 4]); 40] = [
    (26, [(10, 1, 16), (7, 1, 19), (17, 1, 9), (13, 1, 13)]), // v1
    (44, [(16, 1, 28), (10, 1, 34), (28, 1, 16), (22, 1, 22)]), // v2
    (70, [(26, 1, 44), (15, 1, 55), (22, 2, 13), (18, 2, 17)]), // v3
    (100, [(18, 2, 32), (20, 1, 80), (16, 4, 9), (26, 2, 24)]), // v4
    (134, [(24, 2, 43), (26, 1, 108), (22, 2, 11), (18, 2, 15)]), // v5
    (172, [(16, 4, 27), (18, 2, 68), (28, 4, 15), (24, 4, 19)]), // v6
    (196, [(18, 4, 31), (20, 2, 78), (26, 4, 13), (18, 2, 14)]), // v7
    (242, [(22, 2, 38), (24, 2, 97), (26, 4, 14), (22, 4, 18)]), // v8
    (292, [(22, 3, 36), (30, 2, 116), (24, 4, 12), (20, 4, 16)]), // v9
    (346, [(26, 4, 43), (18, 2, 68), (28, 6, 15), (24, 6, 19)]), // v10
    (404, [(30, 1, 50), (20, 4, 81), (24, 3, 12), (28, 4, 22)]), // v11
    (466, [(22, 6, 36), (24, 2, 92), (28, 7, 14), (26, 4, 20)]), // v12
    (532, [(22, 8, 37), (26, 4, 107), (22, 12, 11), (24, 8, 20)]), // v13
    (581, [(24, 4, 40), (30, 3, 115), (24, 11, 12), (20, 11, 16)]), // v14
    (655, [(24, 5, 41), (22, 5, 87), (24, 11, 12), (30, 5, 24)]), // v15
    (733, [(28, 7, 45), (24, 5, 98), (30, 3, 15), (24, 15, 19)]), // v16
    (815, [(28, 10, 46), (28, 1, 107), (28, 2, 14), (28, 1, 22)]), // v17
    (901, [(26, 9, 43), (30, 5, 120), (28, 2, 14), (28, 17, 22)]), // v18
    (991, [(26, 3, 44), (28, 3, 113), (26, 9, 13), (26, 17, 21)]), // v19
    (1085, [(26, 3, 41), (28, 3, 107), (28, 15, 15), (30, 15, 24)]), // v20
    (1156, [(26, 17, 42), (28, 4, 116), (30, 19, 16), (28, 17, 22)]), // v21
    (1258, [(28, 17, 46), (28, 2, 111), (24, 34, 13), (30, 7, 24)]), // v22
    (1364, [(28, 4, 47), (30, 4, 121), (30, 16, 15), (30, 11, 24)]), // v23
    (1474, [(28, 6, 45), (30, 6, 117), (30, 30, 16), (30, 11, 24)]), // v24
    (1588, [(28, 8, 47), (26, 8, 106), (30, 22, 15), (30, 7, 24)]), // v25
    (1706, [(28, 19, 46), (28, 10, 114), (30, 33, 16), (28, 28, 22)]), // v26
    (1828, [(28, 22, 45), (30, 8, 122), (30, 12, 15), (30, 8, 23)]), // v27
    (1921, [(28, 3, 45), (30, 3, 117), (30, 11, 15), (30, 4, 24)]), // v28
    (2051, [(28, 21, 45), (30, 7, 116), (30, 19, 15), (30, 1, 23)]), // v29
    (2185, [(28, 19, 47), (30, 5, 115), (30, 23, 15), (30, 15, 24)]), // v30
    (2323, [(28, 2, 46), (30, 13, 115), (30, 23, 15), (30, 42, 24)]), // v31
    (2465, [(28, 10, 46), (30, 17, 115), (30, 19, 15), (30, 10, 24)]), // v32
    (2611, [(28, 14, 46), (30, 17, 115), (30, 11, 15), (30, 29, 24)]), // v33
    (2761, [(28, 14, 46), (30, 13, 115), (30, 59, 16), (30, 44, 24)]), // v34
    (2876, [(28, 12, 47), (30, 12, 121), (30, 22, 15), (30, 39, 24)]), // v35
    (3034, [(28, 6, 47), (30, 6, 121), (30, 2, 15), (30, 46, 24)]), // v36
    (3196, [(28, 29, 46), (30, 17, 122), (30, 24, 15), (30, 49, 24)]), // v37
    (3362, [(28, 13, 46), (30, 4, 122), (30, 42, 15), (30, 48, 24)]), // v38
    (3532, [(28, 40, 47), (30, 20, 117), (30, 10, 15), (30, 43, 24)]), // v39
    (3706, [(28, 18, 47), (30, 19, 118), (30, 20, 15), (30, 34, 24)]), // v40
];

/// EC codewords per block, short blocks, data codewords per short block.
type Blocks = (usize, usize, usize);

/// GF(256) exponentials (doubled, so a product needs no `% 255`) and
/// logarithms, generator polynomial x^8+x^4+x^3+x^2+1.
struct Gf {
    exp: [u8; 512],
    log: [u8; 256],
}

static GF: Gf = {
    let mut exp = [0u8; 512];
    let mut log = [0u8; 256];
    let mut x: u16 = 1;
    let mut i = 0;
    while i < 255 {
        exp[i] = x as u8;
        exp[i + 255] = x as u8;
        log[x as usize] = i as u8;
        x <<= 1;
        if x & 0x100 != 0 {
            x ^= 0x11d;
        }
        i += 1;
    }
    exp[510] = exp[255];
    Gf { exp, log }
};

fn mul(a: u8, b: u8) -> u8 {
    if a == 0 || b == 0 {
        0
    } else {
        GF.exp[GF.log[a as usize] as usize + GF.log[b as usize] as usize]
    }
}

/// `a / b`, `b` non-zero.
fn div(a: u8, b: u8) -> u8 {
    if a == 0 {
        0
    } else {
        GF.exp[GF.log[a as usize] as usize + 255 - GF.log[b as usize] as usize]
    }
}

/// `a^e` for the generator `a`.
fn alpha(e: usize) -> u8 {
    GF.exp[e % 255]
}

/// Evaluate `p` (coefficients lowest degree first) at `x`.
fn eval_low_first(p: &[u8], x: u8) -> u8 {
    p.iter().rev().fold(0, |acc, &c| mul(acc, x) ^ c)
}

/// Syndromes of a block (first codeword = highest degree), by Horner with
/// the multiplier's logarithm fixed: `r(a^j)` for `j in 0..ec`.
fn syndromes(block: &[u8], ec: usize, out: &mut [u8]) -> bool {
    let mut all_zero = true;
    for (j, s) in out.iter_mut().enumerate().take(ec) {
        let mut acc = 0u8;
        for &c in block {
            acc = if acc == 0 {
                c
            } else {
                GF.exp[GF.log[acc as usize] as usize + j] ^ c
            };
        }
        *s = acc;
        all_zero &= acc == 0;
    }
    all_zero
}

/// Correct `block` in place (`ec` codewords of Reed–Solomon at its end),
/// at most `max_errors` errors. `false` when it cannot be corrected.
fn correct(block: &mut [u8], ec: usize, max_errors: usize) -> bool {
    let mut s = [0u8; 68];
    if ec == 0 || ec > s.len() || block.len() > 255 || block.len() <= ec {
        return false;
    }
    if syndromes(block, ec, &mut s) {
        return true;
    }
    // Berlekamp–Massey: the error locator `lambda` (lowest degree first).
    let mut lambda = [0u8; 69];
    let mut prev = [0u8; 69];
    lambda[0] = 1;
    prev[0] = 1;
    let mut l = 0usize;
    let mut m = 1usize;
    let mut b = 1u8;
    for n in 0..ec {
        let mut d = s[n];
        for i in 1..=l {
            d ^= mul(lambda[i], s[n - i]);
        }
        if d == 0 {
            m += 1;
            continue;
        }
        let coef = div(d, b);
        if 2 * l <= n {
            let saved = lambda;
            for i in 0..lambda.len() - m {
                lambda[i + m] ^= mul(coef, prev[i]);
            }
            l = n + 1 - l;
            prev = saved;
            b = d;
            m = 1;
        } else {
            for i in 0..lambda.len() - m {
                lambda[i + m] ^= mul(coef, prev[i]);
            }
            m += 1;
        }
    }
    if l == 0 || l > max_errors || 2 * l > ec {
        return false;
    }
    // Omega = S(x) * Lambda(x) mod x^ec.
    let mut omega = [0u8; 68];
    for i in 0..ec {
        let mut v = 0u8;
        for j in 0..=i.min(l) {
            v ^= mul(lambda[j], s[i - j]);
        }
        omega[i] = v;
    }
    // Chien search over the block's positions, then Forney.
    let len = block.len();
    let mut found = 0usize;
    for p in 0..len {
        // X = a^p, locator root at X^-1.
        let x_inv = alpha(255 - p % 255);
        if eval_low_first(&lambda[..=l], x_inv) != 0 {
            continue;
        }
        // Formal derivative: odd terms only, in characteristic 2.
        let mut deriv = 0u8;
        let mut i = 1;
        while i <= l {
            deriv ^= mul(
                lambda[i],
                GF.exp[(GF.log[x_inv as usize] as usize * (i - 1)) % 255],
            );
            i += 2;
        }
        if deriv == 0 {
            return false;
        }
        let magnitude = mul(alpha(p), div(eval_low_first(&omega[..ec], x_inv), deriv));
        block[len - 1 - p] ^= magnitude;
        found += 1;
    }
    found == l && syndromes(block, ec, &mut s)
}

/// The 15-bit format word for 5 data bits (EC level, mask), masked.
fn format_word(data: u16) -> u16 {
    let mut rem = data << 10;
    for i in (10..15).rev() {
        if rem & (1 << i) != 0 {
            rem ^= 0x537 << (i - 10);
        }
    }
    ((data << 10) | rem) ^ 0x5412
}

/// Both copies of the format information, most significant bit first.
fn read_format(n: usize, dark: impl Fn(usize, usize) -> bool) -> (u16, u16) {
    let mut a = 0u16;
    let push = |v: &mut u16, bit: bool| *v = (*v << 1) | bit as u16;
    // (row, column): row 8 left to right, then column 8 upwards.
    for x in [0, 1, 2, 3, 4, 5, 7, 8] {
        push(&mut a, dark(8, x));
    }
    for y in [7, 5, 4, 3, 2, 1, 0] {
        push(&mut a, dark(y, 8));
    }
    let mut b = 0u16;
    for y in (n - 7..n).rev() {
        push(&mut b, dark(y, 8));
    }
    for x in n - 8..n {
        push(&mut b, dark(8, x));
    }
    (a, b)
}

/// EC level index (format-bit order M, L, H, Q) and mask of the closest
/// valid format word to either copy, if at most 3 bits off.
fn decode_format(a: u16, b: u16) -> Option<(usize, usize)> {
    let mut best = (u32::MAX, 0u16);
    for data in 0..32u16 {
        let w = format_word(data);
        let d = (w ^ a).count_ones().min((w ^ b).count_ones());
        if d < best.0 {
            best = (d, data);
        }
    }
    (best.0 <= 3).then_some(((best.1 >> 3) as usize, (best.1 & 7) as usize))
}

fn mask_bit(mask: usize, y: usize, x: usize) -> bool {
    match mask {
        0 => (y + x).is_multiple_of(2),
        1 => y.is_multiple_of(2),
        2 => x.is_multiple_of(3),
        3 => (y + x).is_multiple_of(3),
        4 => (y / 2 + x / 3).is_multiple_of(2),
        // (y x) % 2 + (y x) % 3 == 0
        5 => (y * x).is_multiple_of(6),
        6 => ((y * x) % 2 + (y * x) % 3).is_multiple_of(2),
        _ => ((y + x) % 2 + (y * x) % 3).is_multiple_of(2),
    }
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

/// `true` for every module that carries no data (row-major, `n` x `n`).
fn function_modules(version: usize, n: usize) -> Vec<bool> {
    let mut f = vec![false; n * n];
    let mut fill = |y0: usize, x0: usize, h: usize, w: usize| {
        for y in y0..y0 + h {
            for x in x0..x0 + w {
                f[y * n + x] = true;
            }
        }
    };
    // Finders with separators and format information.
    fill(0, 0, 9, 9);
    fill(0, n - 8, 9, 8);
    fill(n - 8, 0, 8, 9);
    // Timing.
    fill(6, 0, 1, n);
    fill(0, 6, n, 1);
    let centres = alignment_positions(version);
    let last = centres.len().saturating_sub(1);
    for (i, &cy) in centres.iter().enumerate() {
        for (j, &cx) in centres.iter().enumerate() {
            // Under a finder.
            if (i == 0 && (j == 0 || j == last)) || (i == last && j == 0) {
                continue;
            }
            fill(cy - 2, cx - 2, 5, 5);
        }
    }
    if version >= 7 {
        fill(0, n - 11, 6, 3);
        fill(n - 11, 0, 3, 6);
    }
    f
}

/// Reads the payload of a bit stream, segment by segment.
struct Bits<'a> {
    data: &'a [u8],
    pos: usize,
}

impl Bits<'_> {
    fn left(&self) -> usize {
        self.data.len() * 8 - self.pos
    }

    fn take(&mut self, n: usize) -> Option<u32> {
        if n > self.left() {
            return None;
        }
        let mut v = 0u32;
        for _ in 0..n {
            let bit = self.data[self.pos / 8] >> (7 - self.pos % 8) & 1;
            v = (v << 1) | bit as u32;
            self.pos += 1;
        }
        Some(v)
    }
}

const ALNUM: &[u8; 45] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:";

fn parse_payload(data: &[u8], version: usize) -> Option<String> {
    let class = if version <= 9 {
        0
    } else if version <= 26 {
        1
    } else {
        2
    };
    let mut r = Bits { data, pos: 0 };
    let mut out = Vec::new();
    while r.left() >= 4 {
        match r.take(4)? {
            0 => break,
            1 => {
                let mut count = r.take([10, 12, 14][class])? as usize;
                while count >= 3 {
                    let v = r.take(10)?;
                    if v > 999 {
                        return None;
                    }
                    out.extend_from_slice(format!("{v:03}").as_bytes());
                    count -= 3;
                }
                if count > 0 {
                    let v = r.take(if count == 2 { 7 } else { 4 })?;
                    if v >= 10u32.pow(count as u32) {
                        return None;
                    }
                    out.extend_from_slice(format!("{v:0count$}").as_bytes());
                }
            }
            2 => {
                let mut count = r.take([9, 11, 13][class])? as usize;
                while count >= 2 {
                    let v = r.take(11)? as usize;
                    out.push(*ALNUM.get(v / 45)?);
                    out.push(ALNUM[v % 45]);
                    count -= 2;
                }
                if count == 1 {
                    out.push(*ALNUM.get(r.take(6)? as usize)?);
                }
            }
            4 => {
                let count = r.take([8, 16, 16][class])?;
                for _ in 0..count {
                    out.push(r.take(8)? as u8);
                }
            }
            // ECI, Kanji, structured append, FNC1: rqrr's job.
            _ => return None,
        }
    }
    String::from_utf8(out).ok()
}

/// Why [`read`] gave up, which decides whether rqrr is worth asking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum GiveUp {
    /// rqrr may still read it: a segment we do not parse (ECI, Kanji,
    /// ...), or a symbol with misdecode-protection codewords (versions 1-3,
    /// where rqrr corrects a little more).
    TryRqrr,
    /// Either way round (rqrr also tries the grid mirrored), no format word
    /// within 3 bits of a valid one or more errors than Reed–Solomon can
    /// correct: rqrr would run the same corrections on the same bits (a
    /// millisecond or more for Reed–Solomon) and fail too. The usual
    /// outcome of a wrong threshold or dimension.
    Unreadable,
}

/// Decode a module grid (`bits[y * n + x]`, `true` = dark, `n` = 17 + 4v),
/// as printed or mirrored.
pub(crate) fn read(n: usize, bits: &[bool]) -> Result<String, GiveUp> {
    if n < 21 || !(n - 17).is_multiple_of(4) || bits.len() != n * n {
        return Err(GiveUp::TryRqrr);
    }
    let first = read_oriented(n, bits);
    if first.is_ok() {
        return first;
    }
    // A mirrored code (some webcams flip the image) is the transposed grid
    // read the right way.
    let mut transposed = vec![false; n * n];
    for y in 0..n {
        for x in 0..n {
            transposed[x * n + y] = bits[y * n + x];
        }
    }
    match (first, read_oriented(n, &transposed)) {
        (_, Ok(text)) => Ok(text),
        (Err(GiveUp::TryRqrr), _) | (_, Err(GiveUp::TryRqrr)) => Err(GiveUp::TryRqrr),
        _ => Err(GiveUp::Unreadable),
    }
}

/// [`read`] with `None` for any give-up.
#[cfg(test)]
pub(crate) fn decode(n: usize, bits: &[bool]) -> Option<String> {
    read(n, bits).ok()
}

fn read_oriented(n: usize, bits: &[bool]) -> Result<String, GiveUp> {
    use GiveUp::{TryRqrr, Unreadable};
    let version = (n - 17) / 4;
    let &(total, levels) = VERSIONS.get(version - 1).ok_or(TryRqrr)?;
    let dark = |y: usize, x: usize| bits[y * n + x];
    let (a, b) = read_format(n, dark);
    let (level, mask) = decode_format(a, b).ok_or(Unreadable)?;
    let (ec, short_blocks, short_data) = levels[level];

    // Codewords in placement order.
    let function = function_modules(version, n);
    let mut raw = Vec::with_capacity(total);
    let (mut byte, mut nbits) = (0u8, 0);
    let mut x = n - 1;
    let mut upward = true;
    loop {
        for i in 0..n {
            let y = if upward { n - 1 - i } else { i };
            for xx in [x, x - 1] {
                if function[y * n + xx] {
                    continue;
                }
                byte = (byte << 1) | (dark(y, xx) ^ mask_bit(mask, y, xx)) as u8;
                nbits += 1;
                if nbits == 8 {
                    raw.push(byte);
                    nbits = 0;
                }
            }
        }
        upward = !upward;
        if x < 3 {
            break;
        }
        x -= 2;
        if x == 6 {
            x = 5;
        }
    }
    if raw.len() < total {
        return Err(TryRqrr);
    }

    // De-interleave: data codewords round-robin (long blocks have one
    // more, taken last), then EC codewords round-robin.
    let short_len = short_data + ec;
    let long_blocks = (total - short_blocks * short_len) / (short_len + 1);
    let nblocks = short_blocks + long_blocks;
    let data_len = |k: usize| short_data + usize::from(k >= short_blocks);
    let mut blocks: Vec<Vec<u8>> = (0..nblocks)
        .map(|k| Vec::with_capacity(data_len(k) + ec))
        .collect();
    let mut it = raw.iter().copied();
    for i in 0..=short_data {
        for (k, block) in blocks.iter_mut().enumerate() {
            if i < data_len(k) {
                block.push(it.next().ok_or(TryRqrr)?);
            }
        }
    }
    for _ in 0..ec {
        for block in blocks.iter_mut() {
            block.push(it.next().ok_or(TryRqrr)?);
        }
    }

    // Misdecode-protection codewords of the smallest symbols (table 9's
    // "p"): fewer corrections allowed there.
    let p = match (version, level) {
        (1, 1) => 3,
        (1, 0) | (2, 1) => 2,
        (1, _) | (3, 1) => 1,
        _ => 0,
    };
    let mut data = Vec::with_capacity(total);
    for (k, block) in blocks.iter_mut().enumerate() {
        if !correct(block, ec, (ec - p) / 2) {
            return Err(if p > 0 { TryRqrr } else { Unreadable });
        }
        data.extend_from_slice(&block[..data_len(k)]);
    }
    parse_payload(&data, version).ok_or(TryRqrr)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use qrcode::canvas::{Canvas, MaskPattern};
    use qrcode::{EcLevel, Version};

    const MASKS: [MaskPattern; 8] = [
        MaskPattern::Checkerboard,
        MaskPattern::HorizontalLines,
        MaskPattern::VerticalLines,
        MaskPattern::DiagonalLines,
        MaskPattern::LargeCheckerboard,
        MaskPattern::Fields,
        MaskPattern::Diamonds,
        MaskPattern::Meadow,
    ];

    /// `payload` encoded by the `qrcode` crate at exactly `version`,
    /// `level` and `mask`: the module grid, row-major, `true` = dark.
    fn encode(payload: &str, version: i16, level: EcLevel, mask: usize) -> (usize, Vec<bool>) {
        let v = Version::Normal(version);
        let mut bits = qrcode::bits::Bits::new(v);
        bits.push_optimal_data(payload.as_bytes()).unwrap();
        bits.push_terminator(level).unwrap();
        let (data, ec) = qrcode::ec::construct_codewords(&bits.into_bytes(), v, level).unwrap();
        let mut canvas = Canvas::new(v, level);
        canvas.draw_all_functional_patterns();
        canvas.draw_data(&data, &ec);
        canvas.apply_mask(MASKS[mask]);
        let n = (version * 4 + 17) as usize;
        let dark = canvas
            .into_colors()
            .into_iter()
            .map(|c| c == qrcode::Color::Dark);
        (n, dark.collect())
    }

    fn rqrr_reads(n: usize, bits: &[bool]) -> Option<String> {
        let grid = rqrr::Grid::new(rqrr::SimpleGrid::from_func(n, |x, y| bits[y * n + x]));
        grid.decode().ok().map(|(_, text)| text)
    }

    /// A deterministic scatter of `count` distinct data-region positions.
    fn flip(n: usize, bits: &mut [bool], count: usize, seed: u64) {
        let function = function_modules((n - 17) / 4, n);
        let mut s = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
        let mut done = 0;
        while done < count {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            let i = (s % (n * n) as u64) as usize;
            if !function[i] {
                bits[i] = !bits[i];
                done += 1;
            }
        }
    }

    const TOKEN: &str = "PAGOPA|002|123456789012345678|01234567890|12345";

    #[test]
    fn reads_every_mask_and_level_and_agrees_with_rqrr() {
        let levels = [EcLevel::L, EcLevel::M, EcLevel::Q, EcLevel::H];
        for (version, payload) in [
            (1, "HELLO"),
            (2, "pos/t/42"),
            (3, "PAGOPA|002|1234|5678"),
            (7, "0123456789012345678901234567890123456789"),
            (10, TOKEN),
            (15, "x"),
        ] {
            for level in levels {
                for mask in 0..8 {
                    let (n, bits) = encode(payload, version, level, mask);
                    let ours = decode(n, &bits);
                    assert_eq!(
                        ours.as_deref(),
                        Some(payload),
                        "v{version} {level:?} mask {mask}"
                    );
                    assert_eq!(
                        ours,
                        rqrr_reads(n, &bits),
                        "v{version} {level:?} mask {mask}"
                    );
                }
            }
        }
    }

    #[test]
    fn reads_the_mocks_codes_of_every_demo_payload() {
        for payload in hardware_mocks::camera::demo_payloads() {
            let m = hardware_mocks::camera::qr_modules(&payload).unwrap();
            let n = m.len();
            let bits: Vec<bool> = m.concat();
            assert_eq!(decode(n, &bits).as_deref(), Some(payload.as_str()));
        }
    }

    #[test]
    fn numeric_alphanumeric_and_mixed_segments() {
        for payload in [
            "31415926535897932384626",
            "ABC $%*+-./:XYZ 42",
            "ab12345678901234cdEF GH",
            "è€",
        ] {
            let (n, bits) = encode(payload, 5, EcLevel::M, 3);
            assert_eq!(decode(n, &bits).as_deref(), Some(payload));
        }
    }

    #[test]
    fn corrects_flipped_modules_exactly() {
        // v10-M: 4 blocks of 26 EC codewords; v3-M: 1 block of 26... (2 x
        // 13 per block? see VERSIONS). A few scattered modules are a few
        // codewords, well within any block's capacity.
        for (version, payload) in [(3, "PAGOPA|002|1234|5678"), (10, TOKEN), (6, "hello world")] {
            for seed in 1..20u64 {
                let (n, mut bits) = encode(payload, version, EcLevel::M, (seed % 8) as usize);
                flip(n, &mut bits, 6, seed);
                assert_eq!(
                    decode(n, &bits).as_deref(),
                    Some(payload),
                    "v{version} seed {seed}"
                );
            }
        }
    }

    #[test]
    fn a_damaged_format_copy_is_outvoted() {
        let (n, mut bits) = encode(TOKEN, 10, EcLevel::M, 5);
        // Spoil three bits of the first copy.
        for x in [0, 2, 4] {
            bits[8 * n + x] = !bits[8 * n + x];
        }
        assert_eq!(decode(n, &bits).as_deref(), Some(TOKEN));
    }

    #[test]
    fn too_many_errors_give_up_instead_of_guessing() {
        let (n, mut bits) = encode(TOKEN, 10, EcLevel::M, 2);
        flip(n, &mut bits, 600, 7);
        // The format is intact: rqrr would fail the same way.
        assert_eq!(read(n, &bits), Err(GiveUp::Unreadable));
        assert_eq!(rqrr_reads(n, &bits), None);
        // No format information (all light: at least 4 bits from every
        // valid word, either way round): nor would rqrr read it.
        let (n, mut bits) = encode(TOKEN, 10, EcLevel::M, 2);
        for i in 0..8 {
            bits[8 * n + i] = false;
            bits[i * n + 8] = false;
            bits[8 * n + n - 1 - i] = false;
            bits[(n - 1 - i) * n + 8] = false;
        }
        bits[8 * n + 8] = false;
        bits[(n - 8) * n + 8] = true;
        assert_eq!(read(n, &bits), Err(GiveUp::Unreadable));
        assert_eq!(rqrr_reads(n, &bits), None);
    }

    #[test]
    fn what_we_do_not_parse_is_left_to_rqrr() {
        // An ECI designator (UTF-8) before a byte segment.
        let v = Version::Normal(4);
        let mut bits = qrcode::bits::Bits::new(v);
        bits.push_eci_designator(26).unwrap();
        bits.push_byte_data(TOKEN.as_bytes()).unwrap();
        bits.push_terminator(EcLevel::M).unwrap();
        let (data, ec) =
            qrcode::ec::construct_codewords(&bits.into_bytes(), v, EcLevel::M).unwrap();
        let mut canvas = Canvas::new(v, EcLevel::M);
        canvas.draw_all_functional_patterns();
        canvas.draw_data(&data, &ec);
        canvas.apply_mask(MaskPattern::Checkerboard);
        let n = 33;
        let grid: Vec<bool> = canvas
            .into_colors()
            .into_iter()
            .map(|c| c == qrcode::Color::Dark)
            .collect();
        assert_eq!(read(n, &grid), Err(GiveUp::TryRqrr));
        assert_eq!(rqrr_reads(n, &grid).as_deref(), Some(TOKEN));
    }

    #[test]
    fn reads_a_mirrored_code() {
        for mask in 0..8 {
            let (n, bits) = encode(TOKEN, 10, EcLevel::M, mask);
            let mut mirrored = vec![false; n * n];
            for y in 0..n {
                for x in 0..n {
                    mirrored[x * n + y] = bits[y * n + x];
                }
            }
            assert_eq!(read(n, &mirrored).as_deref(), Ok(TOKEN), "mask {mask}");
        }
    }

    #[test]
    fn reed_solomon_corrects_up_to_half_the_ec_codewords() {
        // A v5-M block: 43 data codewords + 24 EC (qrcode's encoder as
        // the oracle), `k` codeword errors at varied positions.
        let data: Vec<u8> = (0..43u8).map(|i| i.wrapping_mul(37) ^ 0x5a).collect();
        let ec = qrcode::ec::create_error_correction_code(&data, 24);
        let clean: Vec<u8> = data.iter().chain(ec.iter()).copied().collect();
        for k in 0..=12usize {
            let mut block = clean.clone();
            for e in 0..k {
                block[(e * 11 + k) % clean.len()] ^= (e as u8).wrapping_mul(29) | 1;
            }
            assert!(correct(&mut block, 24, 12), "{k} errors");
            assert_eq!(block, clean, "{k} errors");
        }
    }

    #[test]
    fn format_words_match_the_standard() {
        // ISO/IEC 18004 annex C: L, mask 0 (data 01000) and M, mask 0.
        assert_eq!(format_word(0b01000), 0b111011111000100);
        assert_eq!(format_word(0b00000), 0b101010000010010);
        assert_eq!(decode_format(0b111011111000100, 0), Some((1, 0)));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]
        #[test]
        fn random_grids_never_panic(version in 1usize..=40, seed in any::<u64>(), dense in any::<bool>()) {
            let n = version * 4 + 17;
            let mut s = seed | 1;
            let bits: Vec<bool> = (0..n * n)
                .map(|_| {
                    s ^= s << 13;
                    s ^= s >> 7;
                    s ^= s << 17;
                    if dense { s & 1 == 1 } else { s % 5 == 0 }
                })
                .collect();
            let _ = decode(n, &bits);
        }

        #[test]
        fn any_size_and_length_is_refused_or_read(n in 0usize..200, len in 0usize..40_000) {
            let bits = vec![true; len];
            let _ = decode(n, &bits);
        }
    }

    #[test]
    fn random_codes_with_their_format_intact_never_panic() {
        // Valid format and finders, garbage data: exercises RS and parsing.
        for seed in 1..200u64 {
            let version = 1 + (seed % 15) as i16;
            let (n, mut bits) = encode("seed", version, EcLevel::L, (seed % 8) as usize);
            flip(n, &mut bits, n * 3, seed);
            let _ = decode(n, &bits);
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
