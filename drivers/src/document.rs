//! What a printed document is, independent of any printer.
//!
//! A pure layout function (receipt, pre-receipt, day report) builds a
//! [`Document`]; the encoder in [`crate::escpos`] turns it into bytes for a
//! given paper width. Keeping the two apart means the layout never counts
//! columns or bytes, and the encoder is the single place that guarantees that
//! no line overflows the paper and that text reaches the printer in its code
//! page.
//!
//! ```
//! use pos_drivers::{Align, Document, TextSize};
//!
//! let doc = Document::new()
//!     .text_with("Tabaccheria Rossi", Align::Center, true, TextSize::Double)
//!     .rule()
//!     .columns("Importo", "€ 12,50")
//!     .qr("T-000123/2026/000042|0b7c", 6)
//!     .feed(1);
//! assert_eq!(doc.blocks.len(), 5);
//! ```

/// A whole document: printed top to bottom, then fed and cut.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Document {
    /// In print order; built with the methods below or pushed directly.
    pub blocks: Vec<Block>,
}

/// One piece of a document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Block {
    /// Free text, word-wrapped to the paper width. A `'\n'` starts a new line.
    Text {
        /// Unicode text; the encoder folds it to the code page.
        text: String,
        /// Where each wrapped line sits.
        align: Align,
        /// Emphasised (ESC E).
        bold: bool,
        /// Character size; `Double` halves the columns.
        size: TextSize,
    },
    /// A label on the left and an amount right-aligned on the same line.
    /// When they do not fit, the left side wraps and the right side goes on
    /// the last line (or on a line of its own); nothing ever overflows.
    Columns {
        /// The label; wraps when the line is too narrow.
        left: String,
        /// The amount or value, flush right on the label's last line.
        right: String,
        /// Emphasised (ESC E), both sides.
        bold: bool,
        /// Character size, both sides.
        size: TextSize,
    },
    /// A full-width line of `-`.
    Rule,
    /// A QR code (model 2, error correction M), centred. `module_size` is the
    /// dot size of one module, 1 to 16 (values outside are clamped).
    Qr {
        /// The payload, as UTF-8 bytes; one too long for a symbol prints as text.
        data: String,
        /// Printer dots per module.
        module_size: u8,
    },
    /// Blank lines.
    Feed(u8),
}

/// Horizontal alignment of a text block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Align {
    /// Flush left, the printer's default.
    #[default]
    Left,
    /// Centred.
    Center,
    /// Flush right.
    Right,
}

/// Character size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TextSize {
    /// Font A, one column per character.
    #[default]
    Normal,
    /// Double height, normal width: the line holds as many columns as normal.
    DoubleHeight,
    /// Double width and height: the line holds half the columns.
    Double,
}

impl Document {
    /// An empty document.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends any block.
    pub fn push(mut self, block: Block) -> Self {
        self.blocks.push(block);
        self
    }

    /// Left-aligned, normal text.
    pub fn text(self, text: impl Into<String>) -> Self {
        self.text_with(text, Align::Left, false, TextSize::Normal)
    }

    /// Centred, normal text.
    pub fn center(self, text: impl Into<String>) -> Self {
        self.text_with(text, Align::Center, false, TextSize::Normal)
    }

    /// Text with every style chosen.
    pub fn text_with(
        self,
        text: impl Into<String>,
        align: Align,
        bold: bool,
        size: TextSize,
    ) -> Self {
        self.push(Block::Text {
            text: text.into(),
            align,
            bold,
            size,
        })
    }

    /// A label and a right-aligned amount, normal style.
    pub fn columns(self, left: impl Into<String>, right: impl Into<String>) -> Self {
        self.columns_with(left, right, false, TextSize::Normal)
    }

    /// A label and a right-aligned amount with style.
    pub fn columns_with(
        self,
        left: impl Into<String>,
        right: impl Into<String>,
        bold: bool,
        size: TextSize,
    ) -> Self {
        self.push(Block::Columns {
            left: left.into(),
            right: right.into(),
            bold,
            size,
        })
    }

    /// A full-width line of `-`.
    pub fn rule(self) -> Self {
        self.push(Block::Rule)
    }

    /// A centred QR code.
    pub fn qr(self, data: impl Into<String>, module_size: u8) -> Self {
        self.push(Block::Qr {
            data: data.into(),
            module_size,
        })
    }

    /// `lines` blank lines.
    pub fn feed(self, lines: u8) -> Self {
        self.push(Block::Feed(lines))
    }
}
