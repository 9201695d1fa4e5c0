//! A virtual network receipt printer (raw TCP, port 9100 style) and an
//! ESC/POS interpreter that turns what it received back into text.
//!
//! The printer keeps every byte received, answers `DLE EOT n` status queries
//! like an Epson TM does, and can be switched offline (the port closes, open
//! connections are dropped) or out of paper (reported in the status bytes).
//! It runs on plain threads, so it works from sync and async tests alike.
//!
//! ```
//! use hardware_mocks::printer::render_text;
//!
//! // ESC @, ESC t 19 (PC858), "Totale € 20,00" LF, GS V 66 0 (cut)
//! let mut bytes = vec![0x1b, b'@', 0x1b, b't', 19];
//! bytes.extend_from_slice(b"Totale \xd5 20,00\n");
//! bytes.extend_from_slice(&[0x1d, b'V', 66, 0]);
//! let docs = render_text(&bytes);
//! assert_eq!(docs[0].lines, vec!["Totale € 20,00"]);
//! assert!(docs[0].cut);
//! ```

use std::fs;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::Duration;

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

/// One printed document: what came out between two cuts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RenderedDocument {
    /// Text lines, decoded through the selected code page (styles dropped).
    pub lines: Vec<String>,
    /// Data of every QR code stored (`GS ( k` fn 80).
    pub qr_codes: Vec<String>,
    /// How many `ESC p` drawer kicks it contained.
    pub drawer_kicks: usize,
    /// True when it ended with `GS V`; false for trailing bytes not yet cut.
    pub cut: bool,
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
    line: String,
    table: u8,
}

impl Renderer {
    fn end_line(&mut self) {
        self.doc.lines.push(std::mem::take(&mut self.line));
    }

    fn cut(&mut self) {
        if !self.line.is_empty() {
            self.end_line();
        }
        let mut doc = std::mem::take(&mut self.doc);
        doc.cut = true;
        self.docs.push(doc);
    }
}

const ESC: u8 = 0x1b;
const GS: u8 = 0x1d;
const DLE: u8 = 0x10;
const FS: u8 = 0x1c;
const LF: u8 = 0x0a;

/// Interprets ESC/POS bytes into documents, one per cut (`GS V`); bytes
/// after the last cut make a final document with `cut == false`. Never
/// panics: unknown commands are skipped, truncated ones end the input.
pub fn render_text(bytes: &[u8]) -> Vec<RenderedDocument> {
    let mut r = Renderer {
        docs: Vec::new(),
        doc: RenderedDocument::default(),
        line: String::new(),
        table: TABLE_PC437,
    };
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
                        r.table = TABLE_PC437;
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
                    // One-parameter commands: styles, spacing, alignment...
                    b'!' | b'E' | b'a' | b'-' | b'3' | b'G' | b'J' | b'M' | b'R' | b'V' | b'{'
                    | b'r' | b'U' | b' ' | b'c' => {
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
                        // GS ( k pL pH cn=49 fn=80 m=48 d1..dk: store QR data.
                        if sub == b'k' && params.len() >= 3 && params[..3] == [49, 80, 48] {
                            r.doc
                                .qr_codes
                                .push(String::from_utf8_lossy(&params[3..]).into_owned());
                        }
                        i = start + len;
                    }
                    b'!' | b'B' | b'H' | b'h' | b'w' | b'f' | b'a' | b'b' | b'r' | b'I' => i += 3,
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
                r.line.push(' ');
                i += 1;
            }
            0x00..=0x1f | 0x7f => i += 1,
            _ => {
                r.line.push(decode_byte(r.table, b));
                i += 1;
            }
        }
    }
    if !r.line.is_empty() {
        r.end_line();
    }
    if !r.doc.is_empty() {
        let doc = std::mem::take(&mut r.doc);
        r.docs.push(doc);
    }
    r.docs
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

#[derive(Default)]
struct Shared {
    received: Mutex<Vec<u8>>,
    offline: AtomicBool,
    paper_out: AtomicBool,
    stop: AtomicBool,
    connections: AtomicUsize,
}

impl Shared {
    fn received(&self) -> MutexGuard<'_, Vec<u8>> {
        self.received.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Constructor of the virtual printer.
pub struct VirtualPrinter;

/// A virtual printer listening on [`RunningPrinter::addr`]. Dropping it
/// stops it.
pub struct RunningPrinter {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    accept_thread: Option<JoinHandle<()>>,
}

impl VirtualPrinter {
    /// Listens on `addr` (port 0 picks a free one) and starts accepting.
    pub fn start(addr: SocketAddr) -> io::Result<RunningPrinter> {
        let listener = TcpListener::bind(addr)?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared::default());
        let thread_shared = shared.clone();
        let accept_thread = thread::Builder::new()
            .name("virtual-printer".into())
            .spawn(move || accept_loop(Some(listener), addr, &thread_shared))?;
        Ok(RunningPrinter {
            addr,
            shared,
            accept_thread: Some(accept_thread),
        })
    }
}

const POLL: Duration = Duration::from_millis(10);

fn accept_loop(mut listener: Option<TcpListener>, addr: SocketAddr, shared: &Arc<Shared>) {
    while !shared.stop.load(Ordering::SeqCst) {
        if shared.offline.load(Ordering::SeqCst) {
            // Closing the port makes new connections fail as "refused", as a
            // printer that is switched off does.
            listener = None;
            thread::sleep(POLL);
            continue;
        }
        let Some(l) = listener.as_ref() else {
            // Back online: listen again on the same address.
            listener = TcpListener::bind(addr)
                .and_then(|l| l.set_nonblocking(true).map(|()| l))
                .ok();
            if listener.is_none() {
                thread::sleep(POLL);
            }
            continue;
        };
        match l.accept() {
            Ok((stream, _)) => {
                let conn_shared = shared.clone();
                let spawned = thread::Builder::new()
                    .name("virtual-printer-conn".into())
                    .spawn(move || serve_connection(stream, &conn_shared));
                if let Err(e) = spawned {
                    tracing::warn!(error = %e, "virtual printer cannot spawn a connection thread");
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => thread::sleep(POLL),
            Err(e) => {
                tracing::warn!(error = %e, "virtual printer accept failed");
                thread::sleep(POLL);
            }
        }
    }
}

/// Status byte a TM printer answers to `DLE EOT n` (bits 1 and 4 always
/// set; bit 3 = offline; paper end in bits 5 and 6 of n=4, bit 5 of n=2).
fn status_byte(n: u8, paper_out: bool) -> u8 {
    match (n, paper_out) {
        (1, false) => 0x12,
        (1, true) => 0x1a,
        (2, true) => 0x32,
        (4, true) => 0x72,
        _ => 0x12,
    }
}

fn serve_connection(mut stream: TcpStream, shared: &Shared) {
    shared.connections.fetch_add(1, Ordering::SeqCst);
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(POLL * 2));
    let mut buf = [0u8; 4096];
    // Position in a `DLE EOT n` sequence that may be split across reads.
    let mut dle_state = 0u8;
    loop {
        if shared.stop.load(Ordering::SeqCst) || shared.offline.load(Ordering::SeqCst) {
            let _ = stream.shutdown(Shutdown::Both);
            return;
        }
        match stream.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => {
                let data = &buf[..n];
                shared.received().extend_from_slice(data);
                let mut replies = Vec::new();
                for &b in data {
                    dle_state = match (dle_state, b) {
                        (_, DLE) => 1,
                        (1, 0x04) => 2,
                        (2, n) => {
                            replies.push(status_byte(n, shared.paper_out.load(Ordering::SeqCst)));
                            0
                        }
                        _ => 0,
                    };
                }
                if !replies.is_empty() && stream.write_all(&replies).is_err() {
                    return;
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return,
        }
    }
}

impl RunningPrinter {
    /// Every byte received so far, over all connections.
    pub fn bytes(&self) -> Vec<u8> {
        self.shared.received().clone()
    }

    /// [`render_text`] of everything received so far.
    pub fn documents(&self) -> Vec<RenderedDocument> {
        render_text(&self.bytes())
    }

    /// Forgets the bytes received so far.
    pub fn clear(&self) {
        self.shared.received().clear();
    }

    /// Offline: the port is closed (connections refused) and open
    /// connections are dropped. Online again: it listens on the same address.
    pub fn set_offline(&self, offline: bool) {
        self.shared.offline.store(offline, Ordering::SeqCst);
    }

    /// Paper out: still accepts bytes, but `DLE EOT` reports paper end.
    pub fn set_paper_out(&self, paper_out: bool) {
        self.shared.paper_out.store(paper_out, Ordering::SeqCst);
    }

    /// How many connections were accepted so far.
    pub fn connections(&self) -> usize {
        self.shared.connections.load(Ordering::SeqCst)
    }

    /// Stops listening and drops the connections.
    pub fn shutdown(mut self) {
        self.stop_and_join();
    }

    fn stop_and_join(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.accept_thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for RunningPrinter {
    fn drop(&mut self) {
        self.stop_and_join();
    }
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
        };
        assert_eq!(doc.to_text(), "a\n[QR] q\n[CASSETTO]\n[TAGLIO]\n");
    }

    fn read_exact_timeout(s: &mut TcpStream, n: usize) -> Vec<u8> {
        s.set_read_timeout(Some(Duration::from_secs(2)))
            .expect("timeout");
        let mut v = vec![0u8; n];
        s.read_exact(&mut v).expect("status reply");
        v
    }

    fn wait_for(mut f: impl FnMut() -> bool) {
        for _ in 0..300 {
            if f() {
                return;
            }
            thread::sleep(Duration::from_millis(10));
        }
        panic!("condition not reached in 3 s");
    }

    #[test]
    fn virtual_printer_receives_answers_status_and_goes_offline() {
        let printer = VirtualPrinter::start("127.0.0.1:0".parse().expect("addr")).expect("start");
        let mut s = TcpStream::connect(printer.addr).expect("connect");
        s.write_all(b"ciao\n").expect("write");
        s.write_all(&[GS, b'V', 0]).expect("write");
        s.write_all(&[DLE, 0x04, 4]).expect("write");
        assert_eq!(read_exact_timeout(&mut s, 1), vec![0x12]);
        printer.set_paper_out(true);
        s.write_all(&[DLE, 0x04]).expect("write");
        s.write_all(&[4]).expect("write split query");
        assert_eq!(read_exact_timeout(&mut s, 1), vec![0x72]);
        wait_for(|| printer.documents().first().is_some_and(|d| d.cut));
        assert_eq!(printer.documents()[0].lines, vec!["ciao"]);

        printer.set_offline(true);
        // The open connection is dropped and new ones are refused.
        wait_for(|| {
            let mut b = [0u8; 1];
            matches!(s.read(&mut b), Ok(0) | Err(_))
        });
        wait_for(|| TcpStream::connect(printer.addr).is_err());

        printer.set_offline(false);
        wait_for(|| TcpStream::connect(printer.addr).is_ok());
        printer.clear();
        let mut s = TcpStream::connect(printer.addr).expect("connect again");
        s.write_all(b"di nuovo\n").expect("write");
        wait_for(|| printer.bytes() == b"di nuovo\n");
        printer.shutdown();
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
