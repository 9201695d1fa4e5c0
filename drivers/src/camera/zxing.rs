//! zxing-cpp, the decoder most scanning apps use, through its official Rust
//! bindings (the `zxing-cpp` crate, C++ library built from source by its
//! `bundled` feature): the first pass of the pipeline (see [`super::qr`]).
//!
//! Chosen by measurement against rxing (pure Rust) and our own passes on
//! the `qr` bench's hard set: it reads the most frames at both sizes and is
//! the fastest; rxing read fewer (41.0 % / 64.5 % against 46.5 % / 73.0 %)
//! and took twice as long (see ARCHITECTURE.md, Decisions).
//!
//! Options: QR codes only; no inverted codes (a phone shows dark modules on
//! a light screen), no rotation (it matters only to linear codes) and no
//! downscaled retries: on the hard set these read nothing more and cost a
//! quarter of the time of a frame without a readable code.
//! Symbols that zxing-cpp locates but cannot decode (`return_errors`) are
//! reported too, without text: they tell the pipeline that a code is in
//! front of the camera, worth its slower passes.

use super::GrayFrame;

/// A symbol zxing-cpp found in a frame.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Symbol {
    /// The decoded text; `None` when the symbol was located but not read
    /// (too damaged, blurred, cut off).
    pub text: Option<String>,
    /// Corners in frame pixels: top-left, top-right, bottom-right,
    /// bottom-left.
    pub corners: [(i32, i32); 4],
}

/// Every QR symbol zxing-cpp finds in `frame`. An error of the library
/// (it reports none for a well-formed grayscale frame) counts as nothing
/// found.
pub(super) fn read(frame: &GrayFrame) -> Vec<Symbol> {
    let Ok(view) = zxingcpp::ImageView::from_slice(
        frame.pixels(),
        frame.width(),
        frame.height(),
        zxingcpp::ImageFormat::Lum,
    ) else {
        return Vec::new();
    };
    let found = zxingcpp::read()
        .formats([zxingcpp::BarcodeFormat::QRCode])
        .try_invert(false)
        .try_rotate(false)
        .try_downscale(false)
        .return_errors(true)
        .from(view)
        .unwrap_or_default();
    found
        .iter()
        .map(|b| {
            let p = b.position();
            Symbol {
                // A symbol with an error (failed checksum, bad format) is
                // never a text: only what Reed-Solomon fully corrected.
                text: b.is_valid().then(|| b.text()),
                corners: [p.top_left, p.top_right, p.bottom_right, p.bottom_left]
                    .map(|q| (q.x, q.y)),
            }
        })
        .collect()
}

/// For the tests: zxing-cpp on a perfect rendering of a module grid
/// (`modules[y][x]`, `true` = dark): 4 pixels a module, a 4-module quiet
/// zone. Only fully corrected texts.
#[cfg(test)]
pub(super) fn read_modules(modules: &[Vec<bool>]) -> Vec<String> {
    const SCALE: usize = 4;
    let n = modules.len();
    let side = (n + 8) * SCALE;
    let mut px = vec![255u8; side * side];
    for (y, row) in modules.iter().enumerate() {
        for (x, &dark) in row.iter().enumerate() {
            if dark {
                for dy in 0..SCALE {
                    let start = ((y + 4) * SCALE + dy) * side + (x + 4) * SCALE;
                    px[start..start + SCALE].fill(0);
                }
            }
        }
    }
    let frame = GrayFrame::new(side as u32, side as u32, px).expect("rendered size");
    read(&frame).into_iter().filter_map(|s| s.text).collect()
}
