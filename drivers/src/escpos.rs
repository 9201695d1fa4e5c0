//! A [`Document`] to ESC/POS bytes, for one paper width and one code page.
//!
//! The encoder is a pure function of the document and the [`PrinterProfile`]:
//! the same input always gives the same bytes, which is what makes the golden
//! tests below meaningful and lets the virtual printer check every receipt.
//!
//! It emits exactly this subset of ESC/POS, nothing else:
//!
//! ```text
//! ESC @          1B 40             initialise (start of every document)
//! ESC t n        1B 74 n           select the code page table (profile.code_page_table)
//! ESC E n        1B 45 0|1         bold off / on
//! ESC a n        1B 61 0|1|2       align left / centre / right
//! GS ! n         1D 21 00|01|11    normal / double height / double width+height
//! LF             0A                print the line
//! ESC d n        1B 64 n           feed n lines (Block::Feed, and 4 before the cut)
//! GS ( k ...     1D 28 6B ...      QR: model 2, module size, correction M, store (fn 80), print (fn 81)
//! GS V 1         1D 56 01          partial cut (end of every document)
//! ESC p 0 25 250 1B 70 00 19 FA    drawer kick (its own command, never inside a document)
//! ```
//!
//! Styles are tracked: `ESC a`, `ESC E` and `GS !` are sent only when they
//! change (after `ESC @` the printer is left-aligned, not bold, normal size).
//! Text never goes out as UTF-8: it is folded (typographic quotes and dashes
//! to ASCII, decomposed accents recomposed, `€` to `EUR` when the profile
//! says so), word-wrapped in characters, and encoded to CP858, one byte per
//! character, `?` for anything CP858 lacks. Control characters in the text
//! also become `?`, so data from outside (a creditor name, a description)
//! can never smuggle a printer command onto the paper.
//!
//! Why the bytes are written by hand rather than with the `escpos` crate
//! (escpos-rs 0.20), which was evaluated for this: its command bytes are only
//! reachable through `Printer<D: Driver>` with a capturing driver, and several
//! of them are not the ones our printers need. Its `page_code` sends a fixed
//! `ESC t` number per code page (19 for PC858), while ours must be
//! configurable per printer because clones number their tables differently;
//! its PC858 table has errors (no `¿`, `⌐` at 0xA9 where CP858 has `®`, `Ô`
//! twice instead of `Ô Ò`), and characters outside the table fall through to
//! an `encoding_rs` encoder that has no CP858, giving raw UTF-8 or `&#8364;`
//! references that break both the "never UTF-8" rule and the column count;
//! its `partial_cut` is `GS V 65 1` (a full cut with feed on Epson function
//! B) and its `cash_drawer` is `ESC p 0` without the two pulse times. Its
//! drivers turn every I/O error into a string, so "connection refused" and
//! "permission denied" can no longer be told apart for the operator, and its
//! network driver only accepts an IP address and keeps one connection open.
//! The QR sequence is the one place where it is right, and the tests use it
//! as an oracle for our `GS ( k` bytes.

use crate::document::{Align, Block, Document, TextSize};

const ESC: u8 = 0x1B;
const GS: u8 = 0x1D;
const LF: u8 = 0x0A;

/// Lines fed before the cut, so the last printed line clears the cutter.
const FEED_BEFORE_CUT: u8 = 4;

/// The largest QR payload (bytes) at error correction M, version 40.
const QR_MAX_BYTES: usize = 2331;

/// How a `€` is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EuroStyle {
    /// The code page's euro glyph (0xD5 in CP858).
    #[default]
    Glyph,
    /// The letters `EUR`, for printers whose font has no euro sign.
    Text,
}

/// What the encoder needs to know about the printer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PrinterProfile {
    /// Characters per line in the normal font: 32 for 58 mm, 48 for 80 mm.
    pub columns: usize,
    /// The `ESC t n` number of CP858 on this printer (19 on Epson).
    pub code_page_table: u8,
    /// Glyph or `EUR`.
    pub euro: EuroStyle,
}

impl PrinterProfile {
    /// Epson's number for the PC858 table.
    pub const EPSON_PC858_TABLE: u8 = 19;

    /// A 58 mm printer: 32 columns, Epson table numbering, euro glyph.
    pub fn paper_58mm() -> Self {
        Self {
            columns: 32,
            code_page_table: Self::EPSON_PC858_TABLE,
            euro: EuroStyle::Glyph,
        }
    }

    /// An 80 mm printer: 48 columns, Epson table numbering, euro glyph.
    pub fn paper_80mm() -> Self {
        Self {
            columns: 48,
            ..Self::paper_58mm()
        }
    }

    /// The columns of a paper width in millimetres (`printer.paper_width_mm`):
    /// 58 → 32, 80 → 48, anything else → `None`.
    pub fn columns_for_paper_width_mm(mm: u32) -> Option<usize> {
        match mm {
            58 => Some(32),
            80 => Some(48),
            _ => None,
        }
    }
}

impl Default for PrinterProfile {
    fn default() -> Self {
        Self::paper_80mm()
    }
}

/// Turns documents into ESC/POS bytes for one printer profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EscPosEncoder {
    profile: PrinterProfile,
}

/// The style the printer is in, so commands are sent only on change.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Style {
    align: Align,
    bold: bool,
    size: TextSize,
}

impl Style {
    /// The style right after `ESC @`.
    const INITIAL: Style = Style {
        align: Align::Left,
        bold: false,
        size: TextSize::Normal,
    };
}

/// The byte stream being built, with the style the printer is in.
struct Out {
    bytes: Vec<u8>,
    style: Style,
}

impl Out {
    fn set(&mut self, want: Style) {
        if want.align != self.style.align {
            let n = match want.align {
                Align::Left => 0,
                Align::Center => 1,
                Align::Right => 2,
            };
            self.bytes.extend_from_slice(&[ESC, b'a', n]);
        }
        if want.bold != self.style.bold {
            self.bytes
                .extend_from_slice(&[ESC, b'E', u8::from(want.bold)]);
        }
        if want.size != self.style.size {
            let n = match want.size {
                TextSize::Normal => 0x00,
                TextSize::DoubleHeight => 0x01,
                TextSize::Double => 0x11,
            };
            self.bytes.extend_from_slice(&[GS, b'!', n]);
        }
        self.style = want;
    }

    /// One already-wrapped line: CP858 bytes then LF.
    fn line(&mut self, line: &str) {
        self.bytes.extend(line.chars().map(|c| {
            // A non-breaking space kept words together while wrapping; on
            // paper it is a plain space.
            if c == '\u{00A0}' {
                b' '
            } else {
                cp858_byte(c)
            }
        }));
        self.bytes.push(LF);
    }
}

impl EscPosEncoder {
    /// An encoder for one printer: paper width, code page, euro style.
    pub fn new(profile: PrinterProfile) -> Self {
        Self { profile }
    }

    /// The profile the encoder was built with.
    pub fn profile(&self) -> &PrinterProfile {
        &self.profile
    }

    /// Characters per line at a text size (never 0).
    pub fn width(&self, size: TextSize) -> usize {
        let columns = match size {
            TextSize::Double => self.profile.columns / 2,
            TextSize::Normal | TextSize::DoubleHeight => self.profile.columns,
        };
        columns.max(1)
    }

    /// The whole document: initialise, select the code page, the blocks,
    /// feed, partial cut.
    pub fn encode(&self, doc: &Document) -> Vec<u8> {
        let mut out = self.start();
        for block in &doc.blocks {
            self.block(&mut out, block);
        }
        self.finish(out)
    }

    /// The code page test page of `pos-agent printer test --code-pages`:
    /// `€ à è é ì ò ù` once per candidate table, each line under its own
    /// `ESC t n` and labelled with `n`, so a technician can read off which
    /// table really is CP858 on this printer. The euro glyph is always sent
    /// here (that is what is being tested), whatever the profile says.
    pub fn encode_code_page_test(&self, tables: &[u8]) -> Vec<u8> {
        let mut out = self.start();
        for line in wrap(
            "Prova tabelle codici: la riga giusta mostra € à è é ì ò ù",
            self.width(TextSize::Normal),
        ) {
            out.line(&line);
        }
        for &table in tables {
            out.bytes.extend_from_slice(&[ESC, b't', table]);
            out.line(&format!("Tabella {table}: € à è é ì ò ù"));
        }
        out.bytes
            .extend_from_slice(&[ESC, b't', self.profile.code_page_table]);
        self.finish(out)
    }

    fn start(&self) -> Out {
        Out {
            bytes: vec![ESC, b'@', ESC, b't', self.profile.code_page_table],
            style: Style::INITIAL,
        }
    }

    fn finish(&self, mut out: Out) -> Vec<u8> {
        out.bytes
            .extend_from_slice(&[ESC, b'd', FEED_BEFORE_CUT, GS, b'V', 1]);
        out.bytes
    }

    fn block(&self, out: &mut Out, block: &Block) {
        match block {
            Block::Text {
                text,
                align,
                bold,
                size,
            } => {
                out.set(Style {
                    align: *align,
                    bold: *bold,
                    size: *size,
                });
                let text = fold_text(text, self.profile.euro);
                for line in wrap(&text, self.width(*size)) {
                    out.line(&line);
                }
            }
            Block::Columns {
                left,
                right,
                bold,
                size,
            } => {
                out.set(Style {
                    align: Align::Left,
                    bold: *bold,
                    size: *size,
                });
                let left = fold_text(left, self.profile.euro);
                let right = fold_text(right, self.profile.euro);
                for line in columns(&left, &right, self.width(*size)) {
                    out.line(&line);
                }
            }
            Block::Rule => {
                out.set(Style::INITIAL);
                out.line(&"-".repeat(self.width(TextSize::Normal)));
            }
            Block::Qr { data, module_size } => {
                if data.is_empty() {
                    return;
                }
                if data.len() > QR_MAX_BYTES {
                    // Too long for any QR symbol: print it as text rather
                    // than lose it.
                    self.block(
                        out,
                        &Block::Text {
                            text: data.clone(),
                            align: Align::Left,
                            bold: false,
                            size: TextSize::Normal,
                        },
                    );
                    return;
                }
                out.set(Style {
                    align: Align::Center,
                    ..Style::INITIAL
                });
                out.bytes.extend(qr_commands(data.as_bytes(), *module_size));
            }
            Block::Feed(lines) => {
                if *lines > 0 {
                    out.bytes.extend_from_slice(&[ESC, b'd', *lines]);
                }
            }
        }
    }
}

/// The drawer kick: `ESC p 0 25 250`, a pulse on pin 2 of 50 ms on, 500 ms
/// off (the units are 2 ms). Sent on its own, not as part of a document.
pub fn encode_drawer_kick() -> Vec<u8> {
    vec![ESC, b'p', 0, 25, 250]
}

/// The five `GS ( k` commands of one QR code.
///
/// The data is stored as bytes (QR byte mode); our payloads are ASCII, and a
/// scanner reads any other text as UTF-8, which is what QR readers assume.
fn qr_commands(data: &[u8], module_size: u8) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(data.len() + 40);
    // Model 2.
    bytes.extend_from_slice(&[GS, b'(', b'k', 4, 0, 0x31, 0x41, 0x32, 0x00]);
    // Module size, 1..=16 dots.
    bytes.extend_from_slice(&[GS, b'(', b'k', 3, 0, 0x31, 0x43, module_size.clamp(1, 16)]);
    // Error correction M.
    bytes.extend_from_slice(&[GS, b'(', b'k', 3, 0, 0x31, 0x45, 0x31]);
    // Store the data (fn 80): the length counts the 3 bytes cn fn m.
    // `data.len() <= QR_MAX_BYTES`, so it always fits in two bytes.
    let len = data.len() + 3;
    let [pl, ph] = u16::try_from(len).unwrap_or(u16::MAX).to_le_bytes();
    bytes.extend_from_slice(&[GS, b'(', b'k', pl, ph, 0x31, 0x50, 0x30]);
    bytes.extend_from_slice(data);
    // Print the stored symbol (fn 81).
    bytes.extend_from_slice(&[GS, b'(', b'k', 3, 0, 0x31, 0x51, 0x30]);
    bytes
}

/// Characters 0x80..=0xFF of code page 858 (CP850 with `€` at 0xD5).
const CP858_HIGH: [char; 128] = [
    'Ç', 'ü', 'é', 'â', 'ä', 'à', 'å', 'ç', // 0x80
    'ê', 'ë', 'è', 'ï', 'î', 'ì', 'Ä', 'Å', // 0x88
    'É', 'æ', 'Æ', 'ô', 'ö', 'ò', 'û', 'ù', // 0x90
    'ÿ', 'Ö', 'Ü', 'ø', '£', 'Ø', '×', 'ƒ', // 0x98
    'á', 'í', 'ó', 'ú', 'ñ', 'Ñ', 'ª', 'º', // 0xA0
    '¿', '®', '¬', '½', '¼', '¡', '«', '»', // 0xA8
    '░', '▒', '▓', '│', '┤', 'Á', 'Â', 'À', // 0xB0
    '©', '╣', '║', '╗', '╝', '¢', '¥', '┐', // 0xB8
    '└', '┴', '┬', '├', '─', '┼', 'ã', 'Ã', // 0xC0
    '╚', '╔', '╩', '╦', '╠', '═', '╬', '¤', // 0xC8
    'ð', 'Ð', 'Ê', 'Ë', 'È', '€', 'Í', 'Î', // 0xD0
    'Ï', '┘', '┌', '█', '▄', '¦', 'Ì', '▀', // 0xD8
    'Ó', 'ß', 'Ô', 'Ò', 'õ', 'Õ', 'µ', 'þ', // 0xE0
    'Þ', 'Ú', 'Û', 'Ù', 'ý', 'Ý', '¯', '´', // 0xE8
    '\u{00AD}', '±', '‗', '¾', '¶', '§', '÷', '¸', // 0xF0
    '°', '¨', '·', '¹', '³', '²', '■', '\u{00A0}', // 0xF8
];

/// One character to its CP858 byte; `?` when CP858 has no such character
/// or when it is a control character.
fn cp858_byte(c: char) -> u8 {
    match c {
        ' '..='~' => c as u8,
        _ => CP858_HIGH
            .iter()
            .position(|&h| h == c)
            .and_then(|i| u8::try_from(i + 0x80).ok())
            .unwrap_or(b'?'),
    }
}

/// Text to CP858, one byte per character: printable ASCII as is, the upper
/// half of CP858 (`€` → 0xD5, `à` → 0x85, `è` → 0x8A, `é` → 0x82, `ì` →
/// 0x8D, `ò` → 0x95, `ù` → 0x97, ...), `?` for anything else, control
/// characters included. Never UTF-8.
pub fn encode_cp858(text: &str) -> Vec<u8> {
    text.chars().map(cp858_byte).collect()
}

/// Prepares text for wrapping and encoding: `€` to `EUR` when asked,
/// typographic punctuation to ASCII, decomposed accents (`e` + U+0300)
/// recomposed, other combining marks dropped, `\r` dropped, tabs and other
/// spaces to `' '`. After this every character is one column and one byte.
pub(crate) fn fold_text(text: &str, euro: EuroStyle) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '€' if euro == EuroStyle::Text => out.push_str("EUR"),
            '\r' => {}
            '\n' | '\u{00A0}' => out.push(c),
            '\u{2018}' | '\u{2019}' | '\u{201A}' | '\u{2032}' | '`' => out.push('\''),
            '\u{201C}' | '\u{201D}' | '\u{201E}' | '\u{2033}' => out.push('"'),
            '\u{2010}' | '\u{2011}' | '\u{2012}' | '\u{2013}' | '\u{2014}' | '\u{2212}' => {
                out.push('-')
            }
            '\u{2026}' => out.push_str("..."),
            '\u{2022}' => out.push('·'),
            '\u{0300}'..='\u{036F}' => {
                // Recompose with the base letter; a mark that does not
                // compose (or has no base) is dropped.
                if let Some(base) = out.pop() {
                    out.push(compose(base, c).unwrap_or(base));
                }
            }
            c if c.is_whitespace() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// A base letter and a combining mark to the precomposed letter, for the
/// marks Italian (and the names on Italian receipts) use.
fn compose(base: char, mark: char) -> Option<char> {
    let table: &[(char, &str, &str)] = &[
        // mark, bases, composed (same order)
        ('\u{0300}', "aeiouAEIOU", "àèìòùÀÈÌÒÙ"),
        ('\u{0301}', "aeiouyAEIOUY", "áéíóúýÁÉÍÓÚÝ"),
        ('\u{0302}', "aeiouAEIOU", "âêîôûÂÊÎÔÛ"),
        ('\u{0303}', "anoANO", "ãñõÃÑÕ"),
        ('\u{0308}', "aeiouyAEIOU", "äëïöüÿÄËÏÖÜ"),
        ('\u{0327}', "cC", "çÇ"),
    ];
    let (_, bases, composed) = table.iter().find(|(m, _, _)| *m == mark)?;
    let i = bases.chars().position(|b| b == base)?;
    composed.chars().nth(i)
}

/// Greedy word wrap to `width` characters. Words are separated by spaces
/// (runs of spaces collapse); a word longer than the line is split; `'\n'`
/// starts a new line, and an empty paragraph is a blank line. No returned
/// line is longer than `width` (at least 1).
pub(crate) fn wrap(text: &str, width: usize) -> Vec<String> {
    let width = width.max(1);
    let mut lines = Vec::new();
    for paragraph in text.split('\n') {
        let mut line = String::new();
        let mut len = 0;
        for word in paragraph.split(' ').filter(|w| !w.is_empty()) {
            let word_len = word.chars().count();
            if len > 0 && len + 1 + word_len <= width {
                line.push(' ');
                line.push_str(word);
                len += 1 + word_len;
                continue;
            }
            if len > 0 {
                lines.push(std::mem::take(&mut line));
                len = 0;
            }
            if word_len <= width {
                line.push_str(word);
                len = word_len;
            } else {
                let chars: Vec<char> = word.chars().collect();
                let mut chunks = chars.chunks(width).peekable();
                while let Some(chunk) = chunks.next() {
                    let piece: String = chunk.iter().collect();
                    if chunks.peek().is_some() {
                        lines.push(piece);
                    } else {
                        len = chunk.len();
                        line = piece;
                    }
                }
            }
        }
        lines.push(line);
    }
    lines
}

/// `left` and `right` on one line of exactly `width` characters when they
/// fit; otherwise `left` wraps and `right` goes, right-aligned, on its last
/// line if there is room, else on a line of its own (wrapped too if it is
/// longer than the line). No line is longer than `width`.
pub(crate) fn columns(left: &str, right: &str, width: usize) -> Vec<String> {
    let width = width.max(1);
    let right = right.split_whitespace().collect::<Vec<_>>().join(" ");
    let right_len = right.chars().count();
    if right_len == 0 {
        return wrap(left, width);
    }
    let left_len = left.chars().count();
    let gap = usize::from(left_len > 0);
    if !left.contains('\n') && left_len + gap + right_len <= width {
        let spaces = width - left_len - right_len;
        return vec![format!("{left}{}{right}", " ".repeat(spaces))];
    }
    let mut lines = if left.trim().is_empty() {
        Vec::new()
    } else {
        wrap(left, width)
    };
    if right_len <= width {
        if let Some(last) = lines.last_mut() {
            let last_len = last.chars().count();
            if last_len + 1 + right_len <= width {
                let spaces = width - last_len - right_len;
                last.push_str(&" ".repeat(spaces));
                last.push_str(&right);
                return lines;
            }
        }
        lines.push(format!("{}{right}", " ".repeat(width - right_len)));
    } else {
        for piece in wrap(&right, width) {
            let pad = width - piece.chars().count();
            lines.push(format!("{}{piece}", " ".repeat(pad)));
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The lines between LFs in the text parts of `bytes`, skipping the
    /// commands of our subset. Fails on any byte sequence outside it.
    fn printed_lines(bytes: &[u8]) -> Vec<Vec<u8>> {
        let mut lines = Vec::new();
        let mut line = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                ESC => {
                    let n = match bytes[i + 1] {
                        b'@' => 2,
                        b't' | b'E' | b'a' | b'd' | b'!' => 3,
                        b'p' => 5,
                        other => panic!("ESC {other:#x} is outside the subset"),
                    };
                    i += n;
                }
                GS => match bytes[i + 1] {
                    b'!' => i += 3,
                    b'V' => i += if bytes[i + 2] == 66 { 4 } else { 3 },
                    b'(' => {
                        assert_eq!(bytes[i + 2], b'k');
                        let len = usize::from(bytes[i + 3]) + 256 * usize::from(bytes[i + 4]);
                        i += 5 + len;
                    }
                    other => panic!("GS {other:#x} is outside the subset"),
                },
                LF => {
                    lines.push(std::mem::take(&mut line));
                    i += 1;
                }
                b if b < 0x20 || b == 0x7F => panic!("control byte {b:#x} in text"),
                b => {
                    line.push(b);
                    i += 1;
                }
            }
        }
        assert!(line.is_empty(), "text after the last LF: {line:?}");
        lines
    }

    fn small_receipt() -> Document {
        Document::new()
            .text_with("Tabaccheria Rossi", Align::Center, true, TextSize::Double)
            .rule()
            .columns("Mensa scolastica", "€ 25,00")
            .columns_with("Totale", "€ 26,00", true, TextSize::DoubleHeight)
            .text("Però è così")
            .qr("T-1|ab", 4)
            .feed(2)
    }

    #[test]
    fn golden_bytes_at_32_columns() {
        let bytes = EscPosEncoder::new(PrinterProfile::paper_58mm()).encode(&small_receipt());
        let mut want: Vec<u8> = vec![0x1B, 0x40, 0x1B, 0x74, 19];
        // Centre, bold, double: 16 columns, so the name wraps.
        want.extend([0x1B, 0x61, 1, 0x1B, 0x45, 1, 0x1D, 0x21, 0x11]);
        want.extend(b"Tabaccheria\n");
        want.extend(b"Rossi\n");
        // Rule: back to left, not bold, normal; 32 dashes.
        want.extend([0x1B, 0x61, 0, 0x1B, 0x45, 0, 0x1D, 0x21, 0x00]);
        want.extend([b'-'; 32]);
        want.push(0x0A);
        // 16 + 9 spaces + 7 = 32.
        want.extend(b"Mensa scolastica         ");
        want.extend([0xD5]);
        want.extend(b" 25,00\n");
        want.extend([0x1B, 0x45, 1, 0x1D, 0x21, 0x01]);
        want.extend(b"Totale                   ");
        want.extend([0xD5]);
        want.extend(b" 26,00\n");
        want.extend([0x1B, 0x45, 0, 0x1D, 0x21, 0x00]);
        want.extend(b"Per");
        want.push(0x95);
        want.push(b' ');
        want.push(0x8A);
        want.extend(b" cos");
        want.push(0x8D);
        want.push(0x0A);
        // QR, centred.
        want.extend([0x1B, 0x61, 1]);
        want.extend([0x1D, 0x28, 0x6B, 4, 0, 0x31, 0x41, 0x32, 0]);
        want.extend([0x1D, 0x28, 0x6B, 3, 0, 0x31, 0x43, 4]);
        want.extend([0x1D, 0x28, 0x6B, 3, 0, 0x31, 0x45, 0x31]);
        want.extend([0x1D, 0x28, 0x6B, 9, 0, 0x31, 0x50, 0x30]);
        want.extend(b"T-1|ab");
        want.extend([0x1D, 0x28, 0x6B, 3, 0, 0x31, 0x51, 0x30]);
        // Feed 2, then feed 4 and partial cut.
        want.extend([0x1B, 0x64, 2, 0x1B, 0x64, 4, 0x1D, 0x56, 1]);
        assert_eq!(bytes, want);
    }

    #[test]
    fn golden_bytes_at_48_columns_with_eur_text_and_table_16() {
        let profile = PrinterProfile {
            code_page_table: 16,
            euro: EuroStyle::Text,
            ..PrinterProfile::paper_80mm()
        };
        let bytes = EscPosEncoder::new(profile).encode(&small_receipt());
        let mut want: Vec<u8> = vec![0x1B, 0x40, 0x1B, 0x74, 16];
        // 24 columns in double size: the name fits.
        want.extend([0x1B, 0x61, 1, 0x1B, 0x45, 1, 0x1D, 0x21, 0x11]);
        want.extend(b"Tabaccheria Rossi\n");
        want.extend([0x1B, 0x61, 0, 0x1B, 0x45, 0, 0x1D, 0x21, 0x00]);
        want.extend([b'-'; 48]);
        want.push(0x0A);
        // 16 + 23 spaces + 9 ("EUR 25,00") = 48.
        want.extend(b"Mensa scolastica                       EUR 25,00\n");
        want.extend([0x1B, 0x45, 1, 0x1D, 0x21, 0x01]);
        want.extend(b"Totale                                 EUR 26,00\n");
        want.extend([0x1B, 0x45, 0, 0x1D, 0x21, 0x00]);
        want.extend(b"Per\x95 \x8A cos\x8D\n");
        want.extend([0x1B, 0x61, 1]);
        want.extend([0x1D, 0x28, 0x6B, 4, 0, 0x31, 0x41, 0x32, 0]);
        want.extend([0x1D, 0x28, 0x6B, 3, 0, 0x31, 0x43, 4]);
        want.extend([0x1D, 0x28, 0x6B, 3, 0, 0x31, 0x45, 0x31]);
        want.extend([0x1D, 0x28, 0x6B, 9, 0, 0x31, 0x50, 0x30]);
        want.extend(b"T-1|ab");
        want.extend([0x1D, 0x28, 0x6B, 3, 0, 0x31, 0x51, 0x30]);
        want.extend([0x1B, 0x64, 2, 0x1B, 0x64, 4, 0x1D, 0x56, 1]);
        assert_eq!(bytes, want);
    }

    #[test]
    fn cp858_maps_euro_and_italian_letters() {
        assert_eq!(
            encode_cp858("€àèéìòù"),
            vec![0xD5, 0x85, 0x8A, 0x82, 0x8D, 0x95, 0x97]
        );
        assert_eq!(
            encode_cp858("ÀÈÉÌÒÙ"),
            vec![0xB7, 0xD4, 0x90, 0xDE, 0xE3, 0xEB]
        );
        assert_eq!(encode_cp858("Abc 123 ~"), b"Abc 123 ~".to_vec());
        assert_eq!(encode_cp858("£ ° ®"), vec![0x9C, b' ', 0xF8, b' ', 0xA9]);
        // Unmappable and control characters: one '?' each, never UTF-8.
        assert_eq!(encode_cp858("Ω中😀"), b"???".to_vec());
        assert_eq!(encode_cp858("a\x1B@b\n"), b"a?@b?".to_vec());
        // Every character of the upper half round-trips to its own byte.
        for (i, c) in CP858_HIGH.iter().enumerate() {
            assert_eq!(encode_cp858(&c.to_string()), vec![0x80 + i as u8], "{c}");
        }
    }

    #[test]
    fn euro_text_style_prints_eur_and_counts_three_columns() {
        let encoder = EscPosEncoder::new(PrinterProfile {
            columns: 10,
            euro: EuroStyle::Text,
            ..PrinterProfile::paper_58mm()
        });
        let bytes = encoder.encode(&Document::new().columns("Tot", "€ 1,00"));
        assert!(!bytes.contains(&0xD5));
        assert_eq!(
            printed_lines(&bytes),
            vec![b"Tot".to_vec(), b"  EUR 1,00".to_vec()]
        );
        let glyph = EscPosEncoder::new(PrinterProfile {
            columns: 10,
            ..PrinterProfile::paper_58mm()
        });
        let bytes = glyph.encode(&Document::new().columns("Tot", "€ 1,00"));
        assert_eq!(printed_lines(&bytes), vec![b"Tot \xD5 1,00".to_vec()]);
    }

    #[test]
    fn text_is_folded_before_counting() {
        // Decomposed è (e + U+0300) is one column and one byte.
        assert_eq!(fold_text("Pe\u{300}", EuroStyle::Glyph), "Pè");
        assert_eq!(fold_text("l’“a”…\t–", EuroStyle::Glyph), "l'\"a\"... -");
        assert_eq!(fold_text("\r€", EuroStyle::Text), "EUR");
        assert_eq!(fold_text("\u{301}x", EuroStyle::Glyph), "x");
    }

    #[test]
    fn wrap_splits_long_words_and_keeps_paragraphs() {
        assert_eq!(wrap("abcdefghij", 4), vec!["abcd", "efgh", "ij"]);
        assert_eq!(wrap("ab abcdefgh c", 4), vec!["ab", "abcd", "efgh", "c"]);
        assert_eq!(wrap("uno\n\ndue", 10), vec!["uno", "", "due"]);
        assert_eq!(wrap("", 10), vec![""]);
        assert_eq!(wrap("a  b", 0), vec!["a", "b"]);
    }

    #[test]
    fn columns_wrap_the_left_and_keep_the_right_on_the_last_line() {
        assert_eq!(columns("Tot", "5,00", 10), vec!["Tot   5,00"]);
        assert_eq!(
            columns("Mensa scolastica Balangero", "€ 5,00", 16),
            vec!["Mensa scolastica", "Balangero € 5,00"]
        );
        assert_eq!(
            columns("Mensa scolastica", "€ 5,00", 16),
            vec!["Mensa scolastica", "          € 5,00"]
        );
        assert_eq!(columns("", "1234", 4), vec!["1234"]);
        assert_eq!(columns("ab", "123456", 4), vec!["ab", "1234", "  56"]);
    }

    #[test]
    fn qr_matches_the_escpos_crate() {
        use ::escpos::driver::Driver;
        use ::escpos::utils::{Protocol, QRCodeCorrectionLevel, QRCodeModel, QRCodeOption};
        use std::sync::{Arc, Mutex};

        #[derive(Clone, Default)]
        struct Capture(Arc<Mutex<Vec<u8>>>);
        impl Driver for Capture {
            fn name(&self) -> String {
                "capture".into()
            }
            fn write(&self, data: &[u8]) -> ::escpos::errors::Result<()> {
                self.0.lock().expect("test mutex").extend_from_slice(data);
                Ok(())
            }
            fn read(&self, _buf: &mut [u8]) -> ::escpos::errors::Result<usize> {
                Ok(0)
            }
            fn flush(&self) -> ::escpos::errors::Result<()> {
                Ok(())
            }
        }

        let data = "T-000123/2026/000042|0b7c1f2e-1111-4222-8333-944455556666";
        let capture = Capture::default();
        let mut printer =
            ::escpos::printer::Printer::new(capture.clone(), Protocol::default(), None);
        printer
            .qrcode_option(
                data,
                QRCodeOption::new(QRCodeModel::Model2, 6, QRCodeCorrectionLevel::M),
            )
            .and_then(|p| p.print())
            .expect("escpos builds the QR commands");
        let theirs = capture.0.lock().expect("test mutex").clone();
        assert_eq!(qr_commands(data.as_bytes(), 6), theirs);
    }

    #[test]
    fn long_qr_data_is_printed_as_text_and_empty_qr_is_skipped() {
        let encoder = EscPosEncoder::new(PrinterProfile::paper_58mm());
        let long = "x".repeat(QR_MAX_BYTES + 1);
        let bytes = encoder.encode(&Document::new().qr(long, 4).qr("", 4));
        assert!(!bytes.windows(3).any(|w| w == [GS, b'(', b'k']));
        let lines = printed_lines(&bytes);
        assert_eq!(lines.iter().map(Vec::len).sum::<usize>(), QR_MAX_BYTES + 1);
    }

    #[test]
    fn drawer_kick_bytes() {
        assert_eq!(encode_drawer_kick(), vec![0x1B, 0x70, 0x00, 0x19, 0xFA]);
    }

    #[test]
    fn code_page_test_selects_each_table() {
        let bytes =
            EscPosEncoder::new(PrinterProfile::paper_58mm()).encode_code_page_test(&[0, 16, 19]);
        for table in [0u8, 16, 19] {
            let mut want = vec![ESC, b't', table];
            want.extend(format!("Tabella {table}: ").bytes());
            want.extend([
                0xD5, b' ', 0x85, b' ', 0x8A, b' ', 0x82, b' ', 0x8D, b' ', 0x95, b' ', 0x97, LF,
            ]);
            assert!(
                bytes.windows(want.len()).any(|w| w == want),
                "table {table}"
            );
        }
        assert!(printed_lines(&bytes).iter().all(|l| l.len() <= 32));
    }

    fn any_size() -> impl Strategy<Value = TextSize> {
        prop_oneof![
            Just(TextSize::Normal),
            Just(TextSize::DoubleHeight),
            Just(TextSize::Double)
        ]
    }

    proptest! {
        #[test]
        fn no_printed_line_overflows(
            words in proptest::collection::vec("[a-zA-Zàèéìòù€’ \t\n\u{300}]{0,40}", 0..12),
            right in "[0-9€,. a-z]{0,60}",
            columns in 1usize..64,
            size in any_size(),
            euro_text in any::<bool>(),
        ) {
            let euro = if euro_text { EuroStyle::Text } else { EuroStyle::Glyph };
            let encoder = EscPosEncoder::new(PrinterProfile { columns, code_page_table: 19, euro });
            let text = words.join(" ");
            let doc = Document::new()
                .text_with(text.clone(), Align::Right, false, size)
                .columns_with(text.clone(), right.clone(), true, size)
                .rule();
            let width = encoder.width(size);
            let bytes = encoder.encode(&doc);
            for line in printed_lines(&bytes) {
                prop_assert!(line.len() <= columns.max(1), "{line:?} > {columns}");
                prop_assert!(line.len() <= width || line.iter().all(|&b| b == b'-'));
            }
            // Nothing is lost: every non-space character of the input appears.
            let printed: usize = printed_lines(&bytes).iter().flatten().filter(|&&b| b != b' ' && b != b'-').count();
            let expected: usize = [&text, &text, &right].iter().map(|t| fold_text(t, euro).chars().filter(|c| !c.is_whitespace()).count()).sum();
            prop_assert_eq!(printed, expected);
        }
    }
}
