//! What the virtual printer's paper looks like: a [`RenderedDocument`] drawn
//! as a PNG, one image pixel per printer dot (8 dots/mm, like a TM-T20).
//!
//! ```text
//! font A cell   12 x 24 dots; double width/height multiply it
//! glyph         8 x 8 bitmap (font8x8, public domain) drawn 8 x 16; bold one dot wider
//! line pitch    cell height + 6 dots (Epson's default 30-dot spacing)
//! QR code       rebuilt from the stored data with the `qrcode` crate, one
//!               module = `module_size` dots, error correction M, as the printer does
//! cut           a dashed line across the paper
//! ```
//!
//! The picture is meant for people (the sandbox, the README) and for tests
//! that read the QR code back; the text itself is checked on
//! [`RenderedDocument::lines`].

use std::fs;
use std::path::{Path, PathBuf};

use image::{GrayImage, ImageFormat, Luma};

use crate::printer::{Align, CharStyle, PrintItem, RenderedDocument};
use crate::Error;

/// Dots of one character cell of font A.
const CELL_W: u32 = 12;
const CELL_H: u32 = 24;
/// Dots between two lines (30-dot line spacing).
const LINE_GAP: u32 = 6;
/// White margin around the printable area.
const MARGIN: u32 = 16;

const INK: Luma<u8> = Luma([0]);
const PAPER: Luma<u8> = Luma([255]);
const CUT: Luma<u8> = Luma([150]);

/// The euro sign, missing from font8x8 (bit 0 is the leftmost dot).
const EURO: [u8; 8] = [0x3C, 0x66, 0x3F, 0x06, 0x3F, 0x66, 0x3C, 0x00];
/// Drawn for a character the font lacks: a box, never a blank.
const MISSING: [u8; 8] = [0x7E, 0x42, 0x42, 0x42, 0x42, 0x42, 0x7E, 0x00];

/// The 8x8 bitmap of a character.
fn glyph(c: char) -> [u8; 8] {
    use font8x8::legacy::{BASIC_LEGACY, BLOCK_LEGACY, BOX_LEGACY, LATIN_LEGACY};
    let cp = c as usize;
    let found = match c {
        '€' => Some(EURO),
        '\u{00A0}' | '\u{00AD}' => Some([0; 8]),
        _ if cp < 0x80 => BASIC_LEGACY.get(cp).copied(),
        _ if (0xA0..=0xFF).contains(&cp) => LATIN_LEGACY.get(cp - 0xA0).copied(),
        _ if (0x2500..0x2580).contains(&cp) => BOX_LEGACY.get(cp - 0x2500).copied(),
        _ if (0x2580..0x25A0).contains(&cp) => BLOCK_LEGACY.get(cp - 0x2580).copied(),
        _ => None,
    };
    match found {
        // A printable character the font draws as nothing: the box.
        Some(g) if g == [0; 8] && !c.is_whitespace() && c != '\u{00AD}' => MISSING,
        Some(g) => g,
        None => MISSING,
    }
}

/// Draws a picture of `doc` on paper `columns` characters wide (32 for
/// 58 mm, 48 for 80 mm). Lines longer than the paper wrap, as on a printer.
pub fn render_png(doc: &RenderedDocument, columns: usize) -> GrayImage {
    let columns = u32::try_from(columns.clamp(8, 200)).unwrap_or(48);
    let width = columns * CELL_W + 2 * MARGIN;
    let mut ops = Vec::new();
    let mut y = MARGIN;
    for item in &doc.items {
        match item {
            PrintItem::Line(line) => {
                for row in wrap_line(&line.chars, columns * CELL_W) {
                    let height = row
                        .iter()
                        .map(|(_, s)| u32::from(s.height.max(1)) * CELL_H)
                        .max()
                        .unwrap_or(CELL_H);
                    let used: u32 = row
                        .iter()
                        .map(|(_, s)| u32::from(s.width.max(1)) * CELL_W)
                        .sum();
                    let x = MARGIN + offset(line.align, columns * CELL_W, used);
                    ops.push(Op::Text { x, y, height, row });
                    y += height + LINE_GAP;
                }
            }
            PrintItem::Qr {
                data,
                module_size,
                align,
            } => {
                let Ok(code) = qrcode::QrCode::with_error_correction_level(
                    data.as_bytes(),
                    qrcode::EcLevel::M,
                ) else {
                    continue;
                };
                let modules = u32::try_from(code.width()).unwrap_or(0);
                let dot = u32::from((*module_size).clamp(1, 16));
                // The printer leaves no quiet zone of its own; the paper
                // around it is white, a few modules are enough.
                let size = modules * dot;
                let x = MARGIN + offset(*align, columns * CELL_W, size);
                y += 2 * dot;
                ops.push(Op::Qr { x, y, dot, code });
                y += size + 2 * dot + LINE_GAP;
            }
        }
    }
    let cut_y = y + 8;
    let height = if doc.cut { cut_y + 12 } else { y + MARGIN };
    let mut img = GrayImage::from_pixel(width, height, PAPER);
    for op in ops {
        match op {
            Op::Text { x, y, height, row } => draw_row(&mut img, x, y, height, &row),
            Op::Qr { x, y, dot, code } => {
                let w = code.width();
                for (i, color) in code.to_colors().iter().enumerate() {
                    if *color == qrcode::Color::Dark {
                        let mx = u32::try_from(i % w).unwrap_or(0);
                        let my = u32::try_from(i / w).unwrap_or(0);
                        fill(&mut img, x + mx * dot, y + my * dot, dot, dot, INK);
                    }
                }
            }
        }
    }
    if doc.cut {
        let mut x = 0;
        while x < width {
            fill(&mut img, x, cut_y, 8.min(width - x), 2, CUT);
            x += 14;
        }
    }
    img
}

enum Op {
    Text {
        x: u32,
        y: u32,
        height: u32,
        row: Vec<(char, CharStyle)>,
    },
    Qr {
        x: u32,
        y: u32,
        dot: u32,
        code: qrcode::QrCode,
    },
}

fn offset(align: Align, room: u32, used: u32) -> u32 {
    let free = room.saturating_sub(used);
    match align {
        Align::Left => 0,
        Align::Center => free / 2,
        Align::Right => free,
    }
}

/// Splits a line where it would run past `room` dots.
fn wrap_line(chars: &[(char, CharStyle)], room: u32) -> Vec<Vec<(char, CharStyle)>> {
    let mut rows = vec![Vec::new()];
    let mut used = 0;
    for &(c, s) in chars {
        let w = u32::from(s.width.max(1)) * CELL_W;
        if used + w > room && used > 0 {
            rows.push(Vec::new());
            used = 0;
        }
        used += w;
        if let Some(row) = rows.last_mut() {
            row.push((c, s));
        }
    }
    rows
}

/// One row of characters, each cell standing on the row's baseline.
fn draw_row(img: &mut GrayImage, mut x: u32, y: u32, height: u32, row: &[(char, CharStyle)]) {
    for &(c, style) in row {
        let sw = u32::from(style.width.max(1));
        let sh = u32::from(style.height.max(1));
        let cell_w = CELL_W * sw;
        let cell_h = CELL_H * sh;
        let top = y + height - cell_h;
        let bits = glyph(c);
        // The 8x8 glyph in the middle of the 12x24 cell, 8 x 16 dots.
        let (gx, gy) = (x + 2 * sw, top + 4 * sh);
        // font8x8 already has 2-dot vertical strokes; bold adds one.
        let stroke = sw + u32::from(style.bold);
        for (r, byte) in bits.iter().enumerate() {
            for col in 0..8u32 {
                if byte & (1 << col) != 0 {
                    let r = u32::try_from(r).unwrap_or(0);
                    fill(img, gx + col * sw, gy + r * 2 * sh, stroke, 2 * sh, INK);
                }
            }
        }
        x += cell_w;
    }
}

fn fill(img: &mut GrayImage, x: u32, y: u32, w: u32, h: u32, color: Luma<u8>) {
    let (iw, ih) = img.dimensions();
    for yy in y..(y + h).min(ih) {
        for xx in x..(x + w).min(iw) {
            img.put_pixel(xx, yy, color);
        }
    }
}

/// [`render_png`] encoded as PNG bytes.
pub fn png_bytes(doc: &RenderedDocument, columns: usize) -> Result<Vec<u8>, image::ImageError> {
    let mut out = std::io::Cursor::new(Vec::new());
    render_png(doc, columns).write_to(&mut out, ImageFormat::Png)?;
    Ok(out.into_inner())
}

/// Reads a PNG (e.g. one written by [`write_png`]) back as grey pixels.
pub fn decode_png(bytes: &[u8]) -> Result<GrayImage, image::ImageError> {
    Ok(image::load_from_memory_with_format(bytes, ImageFormat::Png)?.to_luma8())
}

/// Writes one document as a PNG file.
pub fn write_png(path: &Path, doc: &RenderedDocument, columns: usize) -> Result<(), Error> {
    let bytes = png_bytes(doc, columns).map_err(|e| Error::Write {
        path: path.to_path_buf(),
        source: std::io::Error::other(e),
    })?;
    fs::write(path, bytes).map_err(|source| Error::Write {
        path: path.to_path_buf(),
        source,
    })
}

/// Writes documents as `0001.png`, `0002.png`, ... (numbered from
/// `first_number`) in `dir`, next to the text files the sandbox writes;
/// returns the paths written.
pub fn write_documents_png(
    dir: &Path,
    docs: &[RenderedDocument],
    first_number: usize,
    columns: usize,
) -> Result<Vec<PathBuf>, Error> {
    let mut written = Vec::with_capacity(docs.len());
    for (k, doc) in docs.iter().enumerate() {
        let path = dir.join(format!("{:04}.png", first_number + k));
        write_png(&path, doc, columns)?;
        written.push(path);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::printer::render_text;

    fn decode_qr(img: &GrayImage) -> Vec<String> {
        let mut prepared = rqrr::PreparedImage::prepare_from_greyscale(
            img.width() as usize,
            img.height() as usize,
            |x, y| img.get_pixel(x as u32, y as u32).0[0],
        );
        prepared
            .detect_grids()
            .iter()
            .filter_map(|g| g.decode().ok().map(|(_, text)| text))
            .collect()
    }

    fn sample() -> Vec<u8> {
        let mut b = vec![0x1b, b'@', 0x1b, b't', 19, 0x1b, b'a', 1, 0x1d, b'!', 0x11];
        b.extend_from_slice(b"Tabaccheria\n");
        b.extend_from_slice(&[0x1b, b'a', 0, 0x1d, b'!', 0, 0x1b, b'E', 1]);
        b.extend_from_slice(b"Totale \xd5 20,00 Citt\x85\n");
        b.extend_from_slice(&[0x1b, b'E', 0, 0x1b, b'a', 1]);
        let data = b"T-000123/2026/000042|0b7c1f2e-1111-4222-8333-944455556666";
        b.extend_from_slice(&[0x1d, b'(', b'k', 3, 0, 49, 67, 6]);
        let len = data.len() + 3;
        b.extend_from_slice(&[0x1d, b'(', b'k', len as u8, 0, 49, 80, 48]);
        b.extend_from_slice(data);
        b.extend_from_slice(&[0x1d, b'(', b'k', 3, 0, 49, 81, 48]);
        b.extend_from_slice(&[0x1b, b'd', 4, 0x1d, b'V', 1]);
        b
    }

    #[test]
    fn qr_in_the_picture_decodes_to_the_stored_data() {
        let docs = render_text(&sample());
        let img = render_png(&docs[0], 48);
        assert_eq!(img.width(), 48 * CELL_W + 2 * MARGIN);
        assert_eq!(
            decode_qr(&img),
            vec!["T-000123/2026/000042|0b7c1f2e-1111-4222-8333-944455556666"]
        );
        // 58 mm paper: narrower, same code.
        let img = render_png(&docs[0], 32);
        assert_eq!(img.width(), 32 * CELL_W + 2 * MARGIN);
        assert_eq!(decode_qr(&img).len(), 1);
    }

    #[test]
    fn styles_change_the_ink() {
        let ink = |bytes: &[u8]| {
            let docs = render_text(bytes);
            let img = render_png(&docs[0], 32);
            img.pixels().filter(|p| p.0[0] == 0).count()
        };
        let normal = ink(b"Totale\n");
        let bold = ink(b"\x1bE\x01Totale\n");
        let double = ink(b"\x1d!\x11Totale\n");
        assert!(normal > 0);
        assert!(bold > normal, "{bold} > {normal}");
        // Four times the area; strokes overlap a little, so a bit less ink.
        assert!(double > 3 * normal, "{double} > 3 * {normal}");
    }

    #[test]
    fn euro_and_accents_have_glyphs_and_unknown_characters_a_box() {
        for c in ['€', 'à', 'è', 'é', 'ì', 'ò', 'ù', 'A', '░', '┤'] {
            assert_ne!(glyph(c), [0; 8], "{c}");
            assert_ne!(glyph(c), MISSING, "{c}");
        }
        assert_eq!(glyph('\u{FFFD}'), MISSING);
        assert_eq!(glyph(' '), [0; 8]);
    }

    #[test]
    fn a_cut_document_ends_with_the_cut_line_and_pictures_are_written() {
        let docs = render_text(&sample());
        let img = render_png(&docs[0], 48);
        let cut_row = img.height() - 12;
        assert!((0..img.width()).any(|x| img.get_pixel(x, cut_row).0[0] == CUT.0[0]));
        let dir = tempfile::tempdir().expect("tempdir");
        let paths = write_documents_png(dir.path(), &docs, 3, 48).expect("write");
        assert_eq!(paths, vec![dir.path().join("0003.png")]);
        let back = image::open(&paths[0]).expect("a PNG").to_luma8();
        assert_eq!(back.dimensions(), img.dimensions());
    }

    #[test]
    fn long_lines_wrap_inside_the_paper() {
        let docs = render_text(&[b"x".repeat(40).as_slice(), b"\n"].concat());
        let img = render_png(&docs[0], 32);
        // Two rows of text: taller than one.
        let one = render_png(&render_text(b"x\n")[0], 32);
        assert!(img.height() > one.height());
    }
}
