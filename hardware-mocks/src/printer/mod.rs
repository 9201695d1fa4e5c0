//! A virtual ESC/POS receipt printer, and an interpreter that turns what it
//! received back into text ([`render_text`]) and pictures
//! ([`crate::printer_png`]).
//!
//! The printer accepts bytes on TCP (port 9100 style, [`VirtualPrinter::start`]),
//! on a pseudo-terminal like a serial printer ([`VirtualPrinter::start_serial`])
//! and from a file ([`render_file`], what a `file:` printer wrote). It keeps
//! every byte received, answers `DLE EOT n` status queries like an Epson TM
//! does, and on command goes offline (the port closes, open connections are
//! dropped), runs out of paper (now, or after N more bytes: in the middle of
//! a document) or has its cover opened; then it still answers status
//! queries but prints nothing, so a document sent meanwhile never reaches
//! the paper ([`PrinterControl::documents`]) and must be sent again. It runs
//! on plain threads, so it works from sync and async tests alike.
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
//!
//! The interpreter (bytes to documents, no I/O) is `escpos.rs`; the device
//! (TCP, pty, the switches a test turns) is `device.rs`.

mod device;
mod escpos;

pub use device::{PrinterControl, RunningPrinter, SerialPrinter, VirtualPrinter};
pub use escpos::*;
