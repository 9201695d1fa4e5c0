//! `pos-agent receipt show`: any receipt of the journal again, as it was
//! printed, marked `COPIA - DUPLICATO` (receipts.md, "Copies kept for ten
//! years"), as text, PNG or PDF.
//!
//! The receipt is rebuilt from its `paid` journal entry
//! ([`Store::receipt_record`]) by the same layout the printer uses
//! ([`crate::printing::receipts::receipt_in`]), with times in the UTC offset of the
//! payment, and laid out on the 80 mm paper's 48 columns
//! ([`pos_drivers::layout::lay_out`]). Text, picture and PDF are three
//! renderings of those same lines:
//!
//! - text: the lines, the QR code as `[QR: <receipt number>|<transaction id>]`;
//! - PNG: the lines drawn with DejaVu Sans Mono (embedded, it has `€` and
//!   every Italian accent) and the QR code drawn module by module, so the
//!   picture's QR can be scanned back;
//! - PDF: an A4 page (what a parent can print or keep from an e-mail) with
//!   the receipt centred in a column, real text in the embedded font (so it
//!   can be searched and copied) and the QR code as vector squares. Made
//!   with `krilla` (see ARCHITECTURE.md, "Decisions", for why).

use pos_drivers::layout::{lay_out, Laid};
use pos_drivers::{Document, TextSize};

use crate::printing::receipts::Header;
use crate::store::ReceiptRecord;
use crate::store::{Store, StoreError};

/// DejaVu Sans Mono (Bitstream Vera licence, see `assets/fonts/`).
pub static FONT: &[u8] = include_bytes!("../../assets/fonts/DejaVuSansMono.ttf");

/// Columns of the copy: the 80 mm paper.
pub const COLUMNS: usize = 48;

/// `--format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Pdf,
    Png,
    Txt,
}

impl std::str::FromStr for Format {
    type Err = CopyError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "pdf" => Ok(Format::Pdf),
            "png" => Ok(Format::Png),
            "txt" | "text" => Ok(Format::Txt),
            _ => Err(CopyError::Format(s.to_string())),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error("--format {0} is not supported; use pdf, png or txt")]
    Format(String),
    #[error("no receipt {0} in the journal (a pre-receipt is not a receipt: only paid transactions have one); check the number, e.g. T-000123/2026/000042")]
    NotFound(String),
    #[error("{0} is not a receipt number; it looks like T-000123/2026/000042")]
    BadNumber(String),
    #[error("reading the journal: {0}")]
    Store(#[from] StoreError),
    #[error("making the {0}: {1}")]
    Render(&'static str, String),
}

/// A receipt number as printed: `TERMINAL/YEAR/NNNNNN`.
pub fn check_number(n: &str) -> Result<&str, CopyError> {
    let n = n.trim();
    let parts: Vec<&str> = n.split('/').collect();
    let ok = parts.len() == 3
        && !parts[0].is_empty()
        && parts[0].len() <= 32
        && parts[1].len() == 4
        && parts[1].bytes().all(|b| b.is_ascii_digit())
        && !parts[2].is_empty()
        && parts[2].len() <= 9
        && parts[2].bytes().all(|b| b.is_ascii_digit());
    if ok {
        Ok(n)
    } else {
        Err(CopyError::BadNumber(n.to_string()))
    }
}

/// The copy's document: the receipt as printed, marked as a copy.
pub fn document(h: &Header, r: &ReceiptRecord) -> Document {
    crate::printing::receipts::receipt_in(h, &r.tx, true, r.offset)
}

/// The receipt `number` of `store`, rendered as `format`.
pub fn render(
    store: &Store,
    shop: &Header,
    number: &str,
    format: Format,
) -> Result<Vec<u8>, CopyError> {
    let number = check_number(number)?;
    let record = store
        .receipt_record(number)?
        .ok_or_else(|| CopyError::NotFound(number.to_string()))?;
    // The terminal is the one that issued the receipt (its number says so).
    let mut h = shop.clone();
    if let Some((terminal, _)) = number.split_once('/') {
        h.terminal_id = terminal.to_string();
    }
    let doc = document(&h, &record);
    match format {
        Format::Txt => Ok(to_text(&doc).into_bytes()),
        Format::Png => to_png(&doc),
        Format::Pdf => to_pdf(&doc, number),
    }
}

/// The lines of the copy, QR code as `[QR: data]`.
pub fn to_text(doc: &Document) -> String {
    let mut out = String::new();
    for l in lay_out(doc, COLUMNS) {
        match l {
            Laid::Text { text, size, .. } => {
                if size == TextSize::Double {
                    // Double width: each character takes two columns.
                    let wide: String = text
                        .chars()
                        .flat_map(|c| [c, ' '])
                        .collect::<String>()
                        .trim_end()
                        .to_string();
                    out.push_str(&wide);
                } else {
                    out.push_str(text.trim_end());
                }
            }
            Laid::Qr(data) => {
                out.push_str("[QR: ");
                out.push_str(&data);
                out.push(']');
            }
            Laid::Blank => {}
        }
        out.push('\n');
    }
    out
}

fn qr_modules(data: &str) -> Result<(usize, Vec<bool>), CopyError> {
    let code = qrcode::QrCode::with_error_correction_level(data.as_bytes(), qrcode::EcLevel::M)
        .map_err(|e| CopyError::Render("QR code", e.to_string()))?;
    let width = code.width();
    let dark = code
        .to_colors()
        .into_iter()
        .map(|c| c == qrcode::Color::Dark)
        .collect();
    Ok((width, dark))
}

// ----------------------------------------------------------------- PNG

/// Pixels of one character cell at normal size.
const PX_FONT: f32 = 22.0;
const PX_LINE: usize = 28;
const PX_MARGIN: usize = 24;
/// Pixels of one QR module (and 4 modules of quiet zone around it).
const PX_MODULE: usize = 5;

/// The copy as a grayscale PNG.
pub fn to_png(doc: &Document) -> Result<Vec<u8>, CopyError> {
    use ab_glyph::{Font, FontRef, PxScale, ScaleFont};
    let font =
        FontRef::try_from_slice(FONT).map_err(|e| CopyError::Render("PNG", e.to_string()))?;
    let advance = font
        .as_scaled(PxScale::from(PX_FONT))
        .h_advance(font.glyph_id('0'));
    let width = (advance * COLUMNS as f32).ceil() as usize + 2 * PX_MARGIN;
    let lines = lay_out(doc, COLUMNS);
    // First pass: heights.
    let mut qrs = Vec::new();
    let mut height = PX_MARGIN;
    for l in &lines {
        height += match l {
            Laid::Text { size, .. } if *size != TextSize::Normal => 2 * PX_LINE,
            Laid::Text { .. } | Laid::Blank => PX_LINE,
            Laid::Qr(data) => {
                let (n, _) = qr_modules(data)?;
                (n + 8) * PX_MODULE
            }
        };
    }
    height += PX_MARGIN;
    let mut img = vec![255u8; width * height];
    let mut y = PX_MARGIN;
    for l in &lines {
        match l {
            Laid::Text { text, size, bold } => {
                let (sx, sy, h) = match size {
                    TextSize::Normal => (1.0, 1.0, PX_LINE),
                    TextSize::DoubleHeight => (1.0, 2.0, 2 * PX_LINE),
                    TextSize::Double => (2.0, 2.0, 2 * PX_LINE),
                };
                let scale = PxScale {
                    x: PX_FONT * sx,
                    y: PX_FONT * sy,
                };
                let scaled = font.as_scaled(scale);
                let baseline = y as f32 + scaled.ascent() + (h as f32 - scaled.height()) / 2.0;
                let mut x = PX_MARGIN as f32;
                for c in text.chars() {
                    let strokes: &[f32] = if *bold { &[0.0, 1.0] } else { &[0.0] };
                    for dx in strokes {
                        let glyph = font
                            .glyph_id(c)
                            .with_scale_and_position(scale, ab_glyph::point(x + dx, baseline));
                        if let Some(o) = font.outline_glyph(glyph) {
                            let b = o.px_bounds();
                            o.draw(|gx, gy, cov| {
                                let px = b.min.x as i64 + i64::from(gx);
                                let py = b.min.y as i64 + i64::from(gy);
                                if px >= 0
                                    && py >= 0
                                    && (px as usize) < width
                                    && (py as usize) < height
                                {
                                    let p = &mut img[py as usize * width + px as usize];
                                    let v = 255.0 * (1.0 - cov.clamp(0.0, 1.0));
                                    *p = (*p).min(v as u8);
                                }
                            });
                        }
                    }
                    x += advance * sx;
                }
                y += h;
            }
            Laid::Blank => y += PX_LINE,
            Laid::Qr(data) => {
                let (n, dark) = qr_modules(data)?;
                let side = n * PX_MODULE;
                let x0 = (width - side) / 2;
                let y0 = y + 4 * PX_MODULE;
                for (i, d) in dark.iter().enumerate() {
                    if !d {
                        continue;
                    }
                    let (mx, my) = (i % n, i / n);
                    for py in 0..PX_MODULE {
                        let row = (y0 + my * PX_MODULE + py) * width;
                        let start = row + x0 + mx * PX_MODULE;
                        img[start..start + PX_MODULE].fill(0);
                    }
                }
                qrs.push(data.clone());
                y += (n + 8) * PX_MODULE;
            }
        }
    }
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, width as u32, height as u32);
        enc.set_color(png::ColorType::Grayscale);
        enc.set_depth(png::BitDepth::Eight);
        let mut w = enc
            .write_header()
            .map_err(|e| CopyError::Render("PNG", e.to_string()))?;
        w.write_image_data(&img)
            .map_err(|e| CopyError::Render("PNG", e.to_string()))?;
    }
    Ok(out)
}

// ----------------------------------------------------------------- PDF

/// A4 in points.
const A4: (f32, f32) = (595.0, 842.0);
const PT_FONT: f32 = 9.0;
const PT_LINE: f32 = 12.0;
const PT_MODULE: f32 = 2.5;

/// The copy as a one-page A4 PDF (more pages if it ever gets that long).
pub fn to_pdf(doc: &Document, title: &str) -> Result<Vec<u8>, CopyError> {
    use krilla::geom::{PathBuilder, Point, Rect, Transform};
    use krilla::page::PageSettings;
    use krilla::text::{Font, TextDirection};

    let font = Font::new(FONT.to_vec().into(), 0)
        .ok_or_else(|| CopyError::Render("PDF", "the embedded font does not load".into()))?;
    // DejaVu Sans Mono: every glyph advances 0.602 em.
    let column = PT_FONT * 0.602;
    let x0 = (A4.0 - column * COLUMNS as f32) / 2.0;
    let top = 56.0;
    let bottom = A4.1 - 56.0;
    let mut document = krilla::Document::new();
    document.set_metadata(
        krilla::metadata::Metadata::new()
            .title(format!("Ricevuta {title} - COPIA"))
            .creator(format!("pos-agent {}", env!("CARGO_PKG_VERSION"))),
    );
    let lines = lay_out(doc, COLUMNS);
    let mut i = 0;
    while i < lines.len() {
        let settings = PageSettings::from_wh(A4.0, A4.1)
            .ok_or_else(|| CopyError::Render("PDF", "page size".into()))?;
        let mut page = document.start_page_with(settings);
        let mut surface = page.surface();
        let mut y = top;
        while i < lines.len() {
            let need = match &lines[i] {
                Laid::Text { size, .. } if *size != TextSize::Normal => 2.0 * PT_LINE,
                Laid::Text { .. } | Laid::Blank => PT_LINE,
                Laid::Qr(data) => (qr_modules(data)?.0 as f32 + 4.0) * PT_MODULE,
            };
            if y + need > bottom && y > top {
                break;
            }
            match &lines[i] {
                Laid::Text { text, size, .. } => {
                    let (sx, sy) = match size {
                        TextSize::Normal => (1.0, 1.0),
                        TextSize::DoubleHeight => (1.0, 2.0),
                        TextSize::Double => (2.0, 2.0),
                    };
                    let baseline = y + need * 0.78;
                    surface.push_transform(&Transform::from_row(sx, 0.0, 0.0, sy, x0, baseline));
                    surface.draw_text(
                        Point::from_xy(0.0, 0.0),
                        font.clone(),
                        PT_FONT,
                        text,
                        false,
                        TextDirection::LeftToRight,
                    );
                    surface.pop();
                }
                Laid::Blank => {}
                Laid::Qr(data) => {
                    let (n, dark) = qr_modules(data)?;
                    let side = n as f32 * PT_MODULE;
                    let qx = (A4.0 - side) / 2.0;
                    let qy = y + 2.0 * PT_MODULE;
                    let mut pb = PathBuilder::new();
                    for (k, d) in dark.iter().enumerate() {
                        if *d {
                            let (mx, my) = ((k % n) as f32, (k / n) as f32);
                            if let Some(r) = Rect::from_xywh(
                                qx + mx * PT_MODULE,
                                qy + my * PT_MODULE,
                                PT_MODULE,
                                PT_MODULE,
                            ) {
                                pb.push_rect(r);
                            }
                        }
                    }
                    if let Some(path) = pb.finish() {
                        surface.set_fill(Some(krilla::paint::Fill::default()));
                        surface.draw_path(&path);
                    }
                }
            }
            y += need;
            i += 1;
        }
        surface.finish();
        page.finish();
    }
    document
        .finish()
        .map_err(|e| CopyError::Render("PDF", format!("{e:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn receipt_numbers_are_checked() {
        assert!(check_number("T-000123/2026/000042").is_ok());
        for bad in [
            "",
            "T-1",
            "T-1/26/1",
            "T-1/2026/x",
            "../../etc/passwd",
            "T/2026/1/2",
        ] {
            assert!(
                matches!(check_number(bad), Err(CopyError::BadNumber(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn formats_parse_and_name_the_fix() {
        assert_eq!("PDF".parse::<Format>().unwrap(), Format::Pdf);
        assert_eq!("txt".parse::<Format>().unwrap(), Format::Txt);
        let e = "docx".parse::<Format>().unwrap_err().to_string();
        assert!(e.contains("pdf, png or txt"), "{e}");
    }
}
