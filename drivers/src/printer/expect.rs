//! A [`Transport`] built from the exchanges a test expects, as
//! `embedded-hal-mock` does for serial ports: every call must be the next
//! expected one, with the expected bytes, and [`ExpectTransport::done`]
//! fails the test if any expectation was not met. Driver logic (what is
//! asked before and after a document, what an answer leads to) is then
//! tested without a socket, a pty or a thread.
//!
//! ```
//! use pos_drivers::printer::expect::{ExpectTransport, Exchange, Fault};
//! use pos_drivers::{DeviceState, Document, EscPosEncoder, EscPosPrinter, Printer, PrinterProfile};
//!
//! let doc = Document::new().text("Ricarica");
//! let bytes = EscPosEncoder::new(PrinterProfile::default()).encode(&doc);
//! let transport = ExpectTransport::new([
//!     Exchange::status(DeviceState::Ready),
//!     Exchange::write(bytes.clone()),
//!     Exchange::status(DeviceState::Ready),
//!     // The roll ends before the next document: nothing of it is written.
//!     Exchange::status(DeviceState::PaperOut),
//! ]);
//! let mut printer = EscPosPrinter::new(transport, PrinterProfile::default());
//! printer.print(&doc).expect("ready");
//! let err = printer.print(&doc).expect_err("paper out");
//! assert_eq!(err.device_state(), DeviceState::PaperOut);
//! printer.into_transport().done();
//! ```

use std::collections::VecDeque;
use std::time::Duration;

use super::{DeviceState, Transport};
use crate::PrinterError;

/// How the device to be written to fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// It cannot be reached (off, unplugged, wrong address).
    Unreachable,
    /// It stopped taking data before the timeout.
    Stalled,
    /// The roll ended.
    PaperOut,
    /// The cover is open.
    CoverOpen,
}

/// One call the test expects the driver to make, and what it answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exchange {
    /// `write_all` with exactly these bytes; answered `Ok` or with a fault.
    Write(Vec<u8>, Option<Fault>),
    /// `read_status`; answered with a state (`None`: the device cannot
    /// tell) or with a fault.
    Status(Result<Option<DeviceState>, Fault>),
}

impl Exchange {
    /// A write of exactly `bytes` that succeeds.
    pub fn write(bytes: impl Into<Vec<u8>>) -> Self {
        Exchange::Write(bytes.into(), None)
    }

    /// A write of exactly `bytes` that fails with `fault`.
    pub fn write_error(bytes: impl Into<Vec<u8>>, fault: Fault) -> Self {
        Exchange::Write(bytes.into(), Some(fault))
    }

    /// A status query answered with `state`.
    pub fn status(state: DeviceState) -> Self {
        Exchange::Status(Ok(Some(state)))
    }

    /// A status query the device does not answer.
    pub fn status_unknown() -> Self {
        Exchange::Status(Ok(None))
    }

    /// A status query that fails with `fault`.
    pub fn status_error(fault: Fault) -> Self {
        Exchange::Status(Err(fault))
    }
}

/// The mock transport. Panics (failing the test) on a call that was not
/// the next expected one; [`ExpectTransport::done`] panics if some were
/// never made.
#[derive(Debug)]
pub struct ExpectTransport {
    expected: VecDeque<Exchange>,
    made: usize,
}

/// What the mock calls itself in errors.
const DEVICE: &str = "mock:expect";

impl ExpectTransport {
    /// The exchanges the test expects, in the order they must happen.
    pub fn new(expected: impl IntoIterator<Item = Exchange>) -> Self {
        Self {
            expected: expected.into_iter().collect(),
            made: 0,
        }
    }

    /// Checks that every expected exchange was made.
    pub fn done(self) {
        assert!(
            self.expected.is_empty(),
            "{} exchange(s) made, but these were still expected: {:?}",
            self.made,
            self.expected
        );
    }

    fn next(&mut self, call: &str) -> Exchange {
        let next = self.expected.pop_front().unwrap_or_else(|| {
            panic!("unexpected {call} after {} expected exchange(s)", self.made)
        });
        self.made += 1;
        next
    }
}

fn error(fault: Fault) -> PrinterError {
    let device = DEVICE.to_string();
    match fault {
        Fault::Unreachable => PrinterError::Unreachable {
            device,
            reason: "connection refused".to_string(),
            timeout: Duration::from_secs(3),
        },
        Fault::Stalled => PrinterError::Stalled {
            device,
            timeout: Duration::from_secs(3),
        },
        Fault::PaperOut => PrinterError::PaperOut { device },
        Fault::CoverOpen => PrinterError::CoverOpen { device },
    }
}

impl Transport for ExpectTransport {
    fn write_all(&mut self, bytes: &[u8]) -> Result<(), PrinterError> {
        match self.next("write") {
            Exchange::Write(want, fault) => {
                assert_eq!(
                    bytes,
                    want.as_slice(),
                    "exchange {}: written bytes differ from the expected ones",
                    self.made
                );
                fault.map_or(Ok(()), |f| Err(error(f)))
            }
            other => panic!(
                "exchange {}: a write of {} byte(s), but {other:?} was expected",
                self.made,
                bytes.len()
            ),
        }
    }

    fn read_status(&mut self) -> Result<Option<DeviceState>, PrinterError> {
        match self.next("status query") {
            Exchange::Status(answer) => answer.map_err(error),
            other => panic!(
                "exchange {}: a status query, but {other:?} was expected",
                self.made
            ),
        }
    }

    fn describe(&self) -> String {
        DEVICE.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::escpos::{encode_drawer_kick, EscPosEncoder, PrinterProfile};
    use crate::printer::{EscPosPrinter, Printer};
    use crate::Document;

    fn doc() -> Document {
        Document::new().text("Però € 1,00")
    }

    fn bytes() -> Vec<u8> {
        EscPosEncoder::new(PrinterProfile::default()).encode(&doc())
    }

    fn printer(expected: impl IntoIterator<Item = Exchange>) -> EscPosPrinter<ExpectTransport> {
        EscPosPrinter::new(ExpectTransport::new(expected), PrinterProfile::default())
    }

    #[test]
    fn a_document_is_framed_by_two_status_queries() {
        let mut p = printer([
            Exchange::status(DeviceState::Ready),
            Exchange::write(bytes()),
            Exchange::status(DeviceState::Ready),
        ]);
        p.print(&doc()).expect("printed");
        p.into_transport().done();
    }

    #[test]
    fn a_cover_open_before_the_document_writes_nothing_of_it() {
        let mut p = printer([Exchange::status(DeviceState::CoverOpen)]);
        let e = p.print(&doc()).expect_err("cover open");
        assert_eq!(e.device_state(), DeviceState::CoverOpen);
        assert_eq!(p.last_state(), DeviceState::CoverOpen);
        p.into_transport().done();
    }

    #[test]
    fn paper_out_right_after_the_document_is_an_error_to_print_it_again() {
        let mut p = printer([
            Exchange::status(DeviceState::Ready),
            Exchange::write(bytes()),
            Exchange::status(DeviceState::PaperOut),
        ]);
        let e = p.print(&doc()).expect_err("the roll ended in it");
        assert!(matches!(e, PrinterError::PaperOut { .. }), "{e}");
        p.into_transport().done();
    }

    #[test]
    fn a_device_that_cannot_tell_its_state_is_just_written_to() {
        let mut p = printer([
            Exchange::status_unknown(),
            Exchange::write(bytes()),
            Exchange::status_unknown(),
            Exchange::status_unknown(),
        ]);
        p.print(&doc()).expect("printed");
        assert_eq!(p.state(), DeviceState::Ready, "the last write's outcome");
        p.into_transport().done();
    }

    #[test]
    fn the_drawer_kick_is_written_without_asking_the_state() {
        let mut p = printer([Exchange::write_error(encode_drawer_kick(), Fault::Stalled)]);
        let e = p.open_drawer().expect_err("stalled");
        assert_eq!(e.device_state(), DeviceState::Busy);
        assert_eq!(p.last_state(), DeviceState::Busy);
        p.into_transport().done();
    }

    #[test]
    fn a_failed_status_query_is_the_printer_state() {
        let mut p = printer([Exchange::status_error(Fault::Unreachable)]);
        assert_eq!(p.state(), DeviceState::Offline);
        p.into_transport().done();
    }

    #[test]
    #[should_panic(expected = "still expected")]
    fn done_fails_when_an_expected_exchange_was_not_made() {
        ExpectTransport::new([Exchange::status(DeviceState::Ready)]).done();
    }

    #[test]
    #[should_panic(expected = "written bytes differ")]
    fn other_bytes_than_expected_fail_the_test() {
        let mut t = ExpectTransport::new([Exchange::write(b"abc".to_vec())]);
        let _ = t.write_all(b"abd");
    }
}
