//! The ESC/POS interpreter: the bytes a printer received back into
//! documents of text lines, QR codes, drawer kicks and cuts. Pure: no I/O
//! but reading and writing files on request.

use std::fs;
use std::io;
use std::path::Path;

use crate::Error;

/// Upper half (0x80..=0xFF) of code page 858 (= 850 with `€` at 0xD5).
const CP858_HIGH: &str = "ÇüéâäàåçêëèïîìÄÅÉæÆôöòûùÿÖÜø£Ø×ƒáíóúñÑªº¿®¬½¼¡«»░▒▓│┤ÁÂÀ©╣║╗╝¢¥┐└┴┬├─┼ãÃ╚╔╩╦╠═╬¤ðÐÊËÈ€ÍÎÏ┘┌█▄¦Ì▀ÓßÔÒõÕµþÞÚÛÙýÝ¯´\u{ad}±‗¾¶§÷¸°¨·¹³²■\u{a0}";
/// Upper half of code page 437 (table 0, the printers' power-on default).
const CP437_HIGH: &str = "ÇüéâäàåçêëèïîìÄÅÉæÆôöòûùÿÖÜ¢£¥₧ƒáíóúñÑªº¿⌐¬½¼¡«»░▒▓│┤╡╢╖╕╣║╗╝╜╛┐└┴┬├─┼╞╟╚╔╩╦╠═╬╧╨╤╥╙╘╒╓╫╪┘┌█▄▌▐▀αßΓπΣσµτΦΘΩδ∞φε∩≡±≥≤⌠⌡÷≈°∙·√ⁿ²■\u{a0}";

/// ESC/POS table number of PC858 on Epson printers.
pub const TABLE_PC858: u8 = 19;
/// ESC/POS table number of PC437.
pub const TABLE_PC437: u8 = 0;

/// Decodes one byte through the selected code table. Tables this printer
/// does not have render their upper half as U+FFFD, as a printer without the
/// glyph prints garbage: a test that sees `�` picked the wrong table.
pub fn decode_byte(table: u8, byte: u8) -> char {
    if byte < 0x80 {
        return char::from(byte);
    }
    let high = match table {
        TABLE_PC858 => CP858_HIGH,
        TABLE_PC437 => CP437_HIGH,
        _ => return char::REPLACEMENT_CHARACTER,
    };
    high.chars()
        .nth(usize::from(byte - 0x80))
        .unwrap_or(char::REPLACEMENT_CHARACTER)
}

/// Horizontal alignment of a printed line or QR code (`ESC a`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Align {
    /// `ESC a 0`, and the state after `ESC @`.
    #[default]
    Left,
    /// `ESC a 1`.
    Center,
    /// `ESC a 2`.
    Right,
}

/// The print mode a character was printed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CharStyle {
    /// `ESC E 1` or `ESC ! 8`.
    pub bold: bool,
    /// Width multiplier, 1 to 8 (`GS !` high nibble + 1, `ESC !` bit 5).
    pub width: u8,
    /// Height multiplier, 1 to 8 (`GS !` low nibble + 1, `ESC !` bit 4).
    pub height: u8,
}

impl Default for CharStyle {
    fn default() -> Self {
        CharStyle {
            bold: false,
            width: 1,
            height: 1,
        }
    }
}

/// One line as it came out of the printer, with each character's style.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PrintedLine {
    /// The alignment in force when the line started.
    pub align: Align,
    /// The characters, decoded through the selected code page, each with the
    /// mode it was printed in.
    pub chars: Vec<(char, CharStyle)>,
}

/// What the paper shows, top to bottom: text lines and QR codes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrintItem {
    /// A line of text, ended by `LF` or a feed (`ESC d`).
    Line(PrintedLine),
    /// A QR code printed (`GS ( k` fn 81) with the data stored before it.
    Qr {
        /// The stored data (fn 80) as UTF-8, invalid bytes replaced.
        data: String,
        /// Dots per module (fn 67), 1 to 16; 3 until set.
        module_size: u8,
        /// The alignment in force when it was printed.
        align: Align,
    },
}

/// One printed document: what came out between two cuts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RenderedDocument {
    /// Text lines, decoded through the selected code page (styles dropped).
    pub lines: Vec<String>,
    /// Data of every QR code stored (`GS ( k` fn 80).
    pub qr_codes: Vec<String>,
    /// How many `ESC p` drawer kicks it contained.
    pub drawer_kicks: usize,
    /// True when it ended with `GS V`; false for trailing bytes not yet cut
    /// (or a document the paper ran out in the middle of).
    pub cut: bool,
    /// The same lines with their styles, and the QR codes where they were
    /// printed: what the PNG rendering draws.
    pub items: Vec<PrintItem>,
}

impl RenderedDocument {
    fn is_empty(&self) -> bool {
        self.lines.is_empty() && self.qr_codes.is_empty() && self.drawer_kicks == 0
    }

    /// The lines joined with `\n`, for `contains` checks.
    pub fn text(&self) -> String {
        self.lines.join("\n")
    }

    /// A plain-text view: the lines, then `[QR] data`, `[CASSETTO]` and
    /// `[TAGLIO]` markers.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        for l in &self.lines {
            out.push_str(l);
            out.push('\n');
        }
        for q in &self.qr_codes {
            out.push_str(&format!("[QR] {q}\n"));
        }
        for _ in 0..self.drawer_kicks {
            out.push_str("[CASSETTO]\n");
        }
        if self.cut {
            out.push_str("[TAGLIO]\n");
        }
        out
    }
}

/// Interpreter state while walking the bytes.
struct Renderer {
    docs: Vec<RenderedDocument>,
    doc: RenderedDocument,
    line: PrintedLine,
    table: u8,
    style: CharStyle,
    align: Align,
    qr_module_size: u8,
    qr_data: String,
}

impl Renderer {
    fn new() -> Self {
        Renderer {
            docs: Vec::new(),
            doc: RenderedDocument::default(),
            line: PrintedLine::default(),
            table: TABLE_PC437,
            style: CharStyle::default(),
            align: Align::Left,
            qr_module_size: 3,
            qr_data: String::new(),
        }
    }

    /// `ESC @`: everything back to the power-on state (the buffer stays).
    fn initialise(&mut self) {
        self.table = TABLE_PC437;
        self.style = CharStyle::default();
        self.align = Align::Left;
        self.qr_module_size = 3;
    }

    fn push_char(&mut self, c: char) {
        if self.line.chars.is_empty() {
            self.line.align = self.align;
        }
        self.line.chars.push((c, self.style));
    }

    fn end_line(&mut self) {
        let mut line = std::mem::take(&mut self.line);
        if line.chars.is_empty() {
            line.align = self.align;
        }
        self.doc
            .lines
            .push(line.chars.iter().map(|(c, _)| *c).collect());
        self.doc.items.push(PrintItem::Line(line));
    }

    fn cut(&mut self) {
        if !self.line.chars.is_empty() {
            self.end_line();
        }
        let mut doc = std::mem::take(&mut self.doc);
        doc.cut = true;
        self.docs.push(doc);
    }

    /// `GS ( k` with cn = 49 (QR code).
    fn qr(&mut self, params: &[u8]) {
        match params {
            [49, 67, n, ..] => self.qr_module_size = (*n).clamp(1, 16),
            [49, 80, 48, data @ ..] => {
                self.qr_data = String::from_utf8_lossy(data).into_owned();
                self.doc.qr_codes.push(self.qr_data.clone());
            }
            [49, 81, 48, ..] => {
                if !self.line.chars.is_empty() {
                    self.end_line();
                }
                self.doc.items.push(PrintItem::Qr {
                    data: self.qr_data.clone(),
                    module_size: self.qr_module_size,
                    align: self.align,
                });
            }
            _ => {}
        }
    }
}

pub(crate) const ESC: u8 = 0x1b;
pub(crate) const GS: u8 = 0x1d;
pub(crate) const DLE: u8 = 0x10;
pub(crate) const FS: u8 = 0x1c;
pub(crate) const LF: u8 = 0x0a;

fn align_of(n: u8) -> Align {
    match n % 48 {
        1 => Align::Center,
        2 => Align::Right,
        _ => Align::Left,
    }
}

/// Interprets ESC/POS bytes into documents, one per cut (`GS V`); bytes
/// after the last cut make a final document with `cut == false`. Never
/// panics: unknown commands are skipped, truncated ones end the input.
pub fn render_text(bytes: &[u8]) -> Vec<RenderedDocument> {
    let mut r = Renderer::new();
    let at = |i: usize| bytes.get(i).copied();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        match b {
            LF => {
                r.end_line();
                i += 1;
            }
            ESC => {
                let Some(cmd) = at(i + 1) else { break };
                match cmd {
                    b'@' => {
                        r.initialise();
                        i += 2;
                    }
                    b't' => {
                        let Some(n) = at(i + 2) else { break };
                        r.table = n;
                        i += 3;
                    }
                    b'd' => {
                        let Some(n) = at(i + 2) else { break };
                        // Print the buffer and feed n lines: n line ends.
                        for _ in 0..n {
                            r.end_line();
                        }
                        i += 3;
                    }
                    b'p' => {
                        if bytes.len() < i + 5 {
                            break;
                        }
                        r.doc.drawer_kicks += 1;
                        i += 5;
                    }
                    b'E' => {
                        let Some(n) = at(i + 2) else { break };
                        r.style.bold = n & 1 == 1;
                        i += 3;
                    }
                    b'!' => {
                        let Some(n) = at(i + 2) else { break };
                        r.style = CharStyle {
                            bold: n & 0x08 != 0,
                            height: if n & 0x10 != 0 { 2 } else { 1 },
                            width: if n & 0x20 != 0 { 2 } else { 1 },
                        };
                        i += 3;
                    }
                    b'a' => {
                        let Some(n) = at(i + 2) else { break };
                        r.align = align_of(n);
                        i += 3;
                    }
                    // Other one-parameter commands: spacing, underline...
                    b'-' | b'3' | b'G' | b'J' | b'M' | b'R' | b'V' | b'{' | b'r' | b'U' | b' '
                    | b'c' => {
                        i += if cmd == b'c' { 4 } else { 3 };
                    }
                    b'$' | b'\\' => i += 4,
                    b'*' => {
                        // Bit image: ESC * m nL nH, then nL+256*nH columns
                        // of 1 (m 0, 1) or 3 (m 32, 33) bytes.
                        let (Some(m), Some(nl), Some(nh)) = (at(i + 2), at(i + 3), at(i + 4))
                        else {
                            break;
                        };
                        let columns = usize::from(nl) + 256 * usize::from(nh);
                        let per_column = if m >= 32 { 3 } else { 1 };
                        i += 5 + columns * per_column;
                    }
                    // ESC 2 (default spacing) and anything unknown: 2 bytes.
                    _ => i += 2,
                }
            }
            GS => {
                let Some(cmd) = at(i + 1) else { break };
                match cmd {
                    b'V' => {
                        let Some(m) = at(i + 2) else { break };
                        // Function B (65, 66) and C/D take an extra n.
                        let len = if matches!(m, 65 | 66 | 97 | 98 | 103 | 104) {
                            4
                        } else {
                            3
                        };
                        r.cut();
                        i += len;
                    }
                    b'(' => {
                        let (Some(sub), Some(pl), Some(ph)) = (at(i + 2), at(i + 3), at(i + 4))
                        else {
                            break;
                        };
                        let len = usize::from(pl) + 256 * usize::from(ph);
                        let start = i + 5;
                        let Some(params) = bytes.get(start..start + len) else {
                            break;
                        };
                        if sub == b'k' {
                            r.qr(params);
                        }
                        i = start + len;
                    }
                    b'!' => {
                        let Some(n) = at(i + 2) else { break };
                        r.style.width = (n >> 4) + 1;
                        r.style.height = (n & 0x0f).min(7) + 1;
                        i += 3;
                    }
                    b'B' | b'H' | b'h' | b'w' | b'f' | b'a' | b'b' | b'r' | b'I' => i += 3,
                    b'L' | b'W' | b'$' | b'\\' => i += 4,
                    b'k' => {
                        // Barcode: m 0..6 is NUL-terminated, m 65.. has a length.
                        let Some(m) = at(i + 2) else { break };
                        if m <= 6 {
                            match bytes[i + 3..].iter().position(|&x| x == 0) {
                                Some(p) => i += 3 + p + 1,
                                None => break,
                            }
                        } else {
                            let Some(n) = at(i + 3) else { break };
                            i += 4 + usize::from(n);
                        }
                    }
                    b'v' => {
                        // GS v 0 m xL xH yL yH d1..dk, k = (xL + xH*256) * (yL + yH*256).
                        if bytes.len() < i + 8 {
                            break;
                        }
                        let x = usize::from(bytes[i + 4]) + 256 * usize::from(bytes[i + 5]);
                        let y = usize::from(bytes[i + 6]) + 256 * usize::from(bytes[i + 7]);
                        i += 8 + x * y;
                    }
                    _ => i += 2,
                }
            }
            DLE => match at(i + 1) {
                // DLE EOT n / DLE ENQ n: real-time status, no output.
                Some(0x04) | Some(0x05) => i += 3,
                // DLE DC4 fn a b: real-time request (e.g. pulse).
                Some(0x14) => i += 5,
                Some(_) => i += 2,
                None => break,
            },
            FS => match at(i + 1) {
                Some(b'p') => i += 4,
                Some(_) => i += 2,
                None => break,
            },
            b'\t' => {
                r.push_char(' ');
                i += 1;
            }
            0x00..=0x1f | 0x7f => i += 1,
            _ => {
                let c = decode_byte(r.table, b);
                r.push_char(c);
                i += 1;
            }
        }
    }
    if !r.line.chars.is_empty() {
        r.end_line();
    }
    if !r.doc.is_empty() {
        let doc = std::mem::take(&mut r.doc);
        r.docs.push(doc);
    }
    r.docs
}

/// [`render_text`] of a file of raw ESC/POS bytes (a `file:` printer's
/// output, a capture from a real printer port).
pub fn render_file(path: &Path) -> io::Result<Vec<RenderedDocument>> {
    Ok(render_text(&fs::read(path)?))
}

/// Writes documents as `doc-0001.txt`, `doc-0002.txt`, ... (numbered from
/// `first_number`) in `dir`, in their [`RenderedDocument::to_text`] form.
pub fn write_documents(
    dir: &Path,
    docs: &[RenderedDocument],
    first_number: usize,
) -> Result<(), Error> {
    for (k, doc) in docs.iter().enumerate() {
        let path = dir.join(format!("doc-{:04}.txt", first_number + k));
        fs::write(&path, doc.to_text()).map_err(|source| Error::Write { path, source })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn qr(data: &[u8]) -> Vec<u8> {
        let len = data.len() + 3;
        let mut v = vec![
            GS,
            b'(',
            b'k',
            (len % 256) as u8,
            (len / 256) as u8,
            49,
            80,
            48,
        ];
        v.extend_from_slice(data);
        v
    }

    #[test]
    fn euro_and_accents_through_pc858() {
        let mut b = vec![ESC, b'@', ESC, b't', 19];
        b.extend_from_slice(&[b'T', b'o', b't', b' ', 0xd5, b'\n']);
        b.extend_from_slice(&[0x85, 0x8a, 0x82, 0x8d, 0x95, 0x97, LF]);
        let docs = render_text(&b);
        assert_eq!(docs.len(), 1);
        assert_eq!(docs[0].lines, vec!["Tot €", "àèéìòù"]);
        assert!(!docs[0].cut);
    }

    #[test]
    fn cp858_table_is_complete_and_cp437_differs_at_the_euro() {
        assert_eq!(CP858_HIGH.chars().count(), 128);
        assert_eq!(CP437_HIGH.chars().count(), 128);
        assert_eq!(decode_byte(19, 0xd5), '€');
        assert_eq!(decode_byte(19, 0x9c), '£');
        assert_eq!(decode_byte(19, 0xff), '\u{a0}');
        assert_eq!(decode_byte(0, 0xd5), '╒');
        assert_eq!(decode_byte(0, 0x85), 'à');
        assert_eq!(decode_byte(7, 0xd5), char::REPLACEMENT_CHARACTER);
        assert_eq!(decode_byte(7, b'A'), 'A');
    }

    #[test]
    fn styles_alignment_and_feeds_are_not_text() {
        let mut b = vec![ESC, b'!', 0x38, ESC, b'E', 1, ESC, b'a', 1, GS, b'!', 0x11];
        b.extend_from_slice(b"RICEVUTA");
        b.extend_from_slice(&[ESC, b'd', 1, ESC, b'E', 0]);
        b.extend_from_slice(b"riga");
        b.extend_from_slice(&[ESC, b'd', 3, GS, b'V', 66, 0]);
        let docs = render_text(&b);
        assert_eq!(docs.len(), 1);
        assert_eq!(docs[0].lines, vec!["RICEVUTA", "riga", "", ""]);
        assert!(docs[0].cut);
    }

    #[test]
    fn documents_split_at_cuts_with_qr_and_drawer() {
        let mut b = b"uno\n".to_vec();
        b.extend_from_slice(&[GS, b'(', b'k', 4, 0, 49, 65, 50, 0]); // model
        b.extend_from_slice(&[GS, b'(', b'k', 3, 0, 49, 67, 6]); // size
        b.extend(qr(b"T-000123/2026/000042|0b7c"));
        b.extend_from_slice(&[GS, b'(', b'k', 3, 0, 49, 81, 48]); // print
        b.extend_from_slice(&[GS, b'V', 0]);
        b.extend_from_slice(&[ESC, b'p', 0, 25, 250]);
        b.extend_from_slice(b"due\n");
        b.extend_from_slice(&[DLE, 0x04, 1]);
        b.extend_from_slice(&[GS, b'V', 65, 3]);
        b.extend_from_slice(b"coda");
        let docs = render_text(&b);
        assert_eq!(docs.len(), 3);
        assert_eq!(docs[0].lines, vec!["uno"]);
        assert_eq!(docs[0].qr_codes, vec!["T-000123/2026/000042|0b7c"]);
        assert!(docs[0].cut);
        assert_eq!(docs[1].lines, vec!["due"]);
        assert_eq!(docs[1].drawer_kicks, 1);
        assert!(docs[1].cut);
        assert_eq!(docs[2].lines, vec!["coda"]);
        assert!(!docs[2].cut);
    }

    #[test]
    fn truncated_and_garbage_input_never_panics() {
        let samples: Vec<Vec<u8>> = vec![
            vec![ESC],
            vec![ESC, b't'],
            vec![GS, b'(', b'k', 200, 1, 49],
            vec![GS, b'V'],
            vec![GS, b'k', 4, b'1', b'2'],
            vec![GS, b'v', b'0', 0, 255, 255, 255, 255],
            vec![DLE],
            vec![ESC, b'p', 0],
            (0..=255u8).collect(),
            (0..=255u8).rev().collect(),
        ];
        for s in samples {
            let _ = render_text(&s);
        }
        // A simple deterministic pseudo-random sweep.
        let mut x: u32 = 12345;
        let mut bytes = Vec::new();
        for _ in 0..20000 {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            bytes.push((x >> 16) as u8);
        }
        for w in bytes.chunks(37) {
            let _ = render_text(w);
        }
        let _ = render_text(&bytes);
    }

    #[test]
    fn to_text_marks_qr_drawer_and_cut() {
        let doc = RenderedDocument {
            lines: vec!["a".into()],
            qr_codes: vec!["q".into()],
            drawer_kicks: 1,
            cut: true,
            items: Vec::new(),
        };
        assert_eq!(doc.to_text(), "a\n[QR] q\n[CASSETTO]\n[TAGLIO]\n");
    }

    #[test]
    fn documents_are_written_as_text_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let docs = render_text(b"a\n\x1dV\x00b\n\x1dV\x00");
        write_documents(dir.path(), &docs, 1).expect("write");
        let first = fs::read_to_string(dir.path().join("doc-0001.txt")).expect("read");
        assert_eq!(first, "a\n[TAGLIO]\n");
        assert!(dir.path().join("doc-0002.txt").exists());
    }
}
