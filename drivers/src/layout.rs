//! A [`Document`] laid out in lines of characters, as the encoder would
//! print it on a given paper width: for what is not a printer (a copy of a
//! receipt as text, PNG or PDF) to show exactly the lines a receipt had.

use crate::document::{Align, Block, Document, TextSize};
use crate::escpos::{columns, fold_text, wrap, EuroStyle};

/// One line of a laid-out document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Laid {
    /// Text already aligned with spaces; a `Double` line holds half the
    /// columns (each character is two columns wide).
    Text {
        /// The line's characters, padded for its alignment; no newline.
        text: String,
        /// Printed emphasised.
        bold: bool,
        /// The size it prints at.
        size: TextSize,
    },
    /// A QR code holding `data`, centred.
    Qr(String),
    /// A blank line.
    Blank,
}

/// The lines of `doc` on paper `columns` wide (`€` kept as the glyph).
pub fn lay_out(doc: &Document, columns_total: usize) -> Vec<Laid> {
    let columns_total = columns_total.max(2);
    let width = |size: TextSize| match size {
        TextSize::Double => (columns_total / 2).max(1),
        _ => columns_total,
    };
    let mut out = Vec::new();
    for block in &doc.blocks {
        match block {
            Block::Text {
                text,
                align,
                bold,
                size,
            } => {
                let w = width(*size);
                for line in wrap(&fold_text(text, EuroStyle::Glyph), w) {
                    let len = line.chars().count();
                    let pad = match align {
                        Align::Left => 0,
                        Align::Center => (w - len.min(w)) / 2,
                        Align::Right => w - len.min(w),
                    };
                    out.push(Laid::Text {
                        text: format!("{}{line}", " ".repeat(pad)),
                        bold: *bold,
                        size: *size,
                    });
                }
            }
            Block::Columns {
                left,
                right,
                bold,
                size,
            } => {
                let left = fold_text(left, EuroStyle::Glyph);
                let right = fold_text(right, EuroStyle::Glyph);
                for line in columns(&left, &right, width(*size)) {
                    out.push(Laid::Text {
                        text: line,
                        bold: *bold,
                        size: *size,
                    });
                }
            }
            Block::Rule => out.push(Laid::Text {
                text: "-".repeat(columns_total),
                bold: false,
                size: TextSize::Normal,
            }),
            Block::Qr { data, .. } => {
                if !data.is_empty() {
                    out.push(Laid::Qr(data.clone()));
                }
            }
            Block::Feed(n) => out.extend((0..*n).map(|_| Laid::Blank)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_never_overflow_and_keep_the_euro_sign() {
        let doc = Document::new()
            .text_with("COPIA - DUPLICATO", Align::Center, true, TextSize::Double)
            .columns("Importo", "€ 20,00")
            .rule()
            .qr("T-1/2026/000001|abc", 6)
            .feed(1);
        let lines = lay_out(&doc, 48);
        // Double width: 24 columns of two, the 17 letters centred.
        assert_eq!(
            lines[0],
            Laid::Text {
                text: "   COPIA - DUPLICATO".into(),
                bold: true,
                size: TextSize::Double
            }
        );
        match &lines[1] {
            Laid::Text { text, .. } => {
                assert_eq!(text.chars().count(), 48);
                assert!(text.ends_with("€ 20,00"), "{text}");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(lines[3], Laid::Qr("T-1/2026/000001|abc".into()));
        assert_eq!(lines[4], Laid::Blank);
        // On 58 mm paper the double-width mark wraps, as the printer does.
        let narrow = lay_out(&doc, 32);
        assert!(matches!(&narrow[0], Laid::Text { text, .. } if text.trim() == "COPIA -"));
        assert!(matches!(&narrow[1], Laid::Text { text, .. } if text.trim() == "DUPLICATO"));
    }
}
