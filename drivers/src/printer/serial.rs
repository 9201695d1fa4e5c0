//! `serial:PATH?baud=N`: a printer on a serial port (or a USB-serial adapter).

use std::io::{self, ErrorKind, Write};
use std::path::PathBuf;
use std::time::Duration;

use super::status::{query_realtime_status, ready_or_error, status_timeout};
use super::{is_timeout, nonzero, DeviceState, Transport};
use crate::PrinterError;

/// `serial:PATH?baud=N`: kept open between documents (opening resets some
/// USB-serial adapters), dropped after any error and reopened next time.
pub struct SerialTransport {
    path: PathBuf,
    baud: u32,
    timeout: Duration,
    port: Option<Box<dyn serialport::SerialPort>>,
    /// Whether the printer answered its last status query (`None`: not
    /// asked yet). One that never answers is not asked before documents.
    answers_status: Option<bool>,
}

impl SerialTransport {
    /// Opens nothing yet: the port is opened at the first exchange.
    /// `timeout` bounds each read and write on the port (0 counts as 1 ms).
    pub fn new(path: impl Into<PathBuf>, baud: u32, timeout: Duration) -> Self {
        Self {
            path: path.into(),
            baud,
            timeout: nonzero(timeout),
            port: None,
            answers_status: None,
        }
    }

    fn open_error(&self, e: serialport::Error) -> PrinterError {
        match e.kind() {
            serialport::ErrorKind::Io(ErrorKind::PermissionDenied) => {
                PrinterError::PermissionDenied {
                    device: self.describe(),
                    path: self.path.clone(),
                    group: "dialout",
                }
            }
            serialport::ErrorKind::NoDevice | serialport::ErrorKind::Io(ErrorKind::NotFound) => {
                PrinterError::Unreachable {
                    device: self.describe(),
                    reason: format!("cannot open {}: {}", self.path.display(), e.description),
                    timeout: self.timeout,
                }
            }
            _ => PrinterError::Io {
                device: self.describe(),
                action: "opening the serial port",
                source: io::Error::other(e.description),
            },
        }
    }

    fn port(&mut self) -> Result<&mut Box<dyn serialport::SerialPort>, PrinterError> {
        if self.port.is_none() {
            let port = serialport::new(self.path.to_string_lossy(), self.baud)
                .timeout(self.timeout)
                .open()
                .map_err(|e| self.open_error(e))?;
            self.port = Some(port);
        }
        self.port.as_mut().ok_or_else(|| PrinterError::Io {
            device: format!("serial:{}?baud={}", self.path.display(), self.baud),
            action: "opening the serial port",
            source: io::Error::other("the port was not kept"),
        })
    }

    fn io_error(&mut self, action: &'static str, e: io::Error) -> PrinterError {
        // Whatever went wrong, start from a fresh handle next time.
        self.port = None;
        if is_timeout(&e) {
            PrinterError::Stalled {
                device: self.describe(),
                timeout: self.timeout,
            }
        } else {
            PrinterError::Io {
                device: self.describe(),
                action,
                source: e,
            }
        }
    }
}

impl Transport for SerialTransport {
    /// Status, document, status, on the open port; a printer that never
    /// answered a status query is not asked (it would cost the status
    /// timeout twice per document).
    fn write_document(&mut self, bytes: &[u8]) -> Result<(), PrinterError> {
        if self.answers_status != Some(false) {
            if let Some(state) = self.read_status()? {
                ready_or_error(state, self.describe())?;
            }
        }
        self.write_all(bytes)?;
        if self.answers_status != Some(false) {
            if let Some(state) = self.read_status()? {
                ready_or_error(state, self.describe())?;
            }
        }
        Ok(())
    }

    fn write_all(&mut self, bytes: &[u8]) -> Result<(), PrinterError> {
        let port = self.port()?;
        let written = port.write_all(bytes).and_then(|()| port.flush());
        written.map_err(|e| self.io_error("writing to the serial port", e))
    }

    fn read_status(&mut self) -> Result<Option<DeviceState>, PrinterError> {
        let timeout = self.timeout;
        let port = self.port()?;
        // Stale bytes would be taken for an answer.
        let _ = port.clear(serialport::ClearBuffer::Input);
        let asked = port
            .set_timeout(status_timeout(timeout))
            .map_err(|e| io::Error::other(e.description))
            .and_then(|()| query_realtime_status(port));
        let _ = port.set_timeout(timeout);
        let state = asked.map_err(|e| self.io_error("asking the printer for its status", e))?;
        self.answers_status = Some(state.is_some());
        Ok(state)
    }

    fn describe(&self) -> String {
        format!("serial:{}?baud={}", self.path.display(), self.baud)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::escpos::PrinterProfile;
    use crate::printer::{open_printer, EscPosPrinter, Printer, DEFAULT_TIMEOUT};
    use crate::Document;
    use pos_config::PrinterDevice;

    fn doc() -> Document {
        Document::new().text("Però € 1,00")
    }

    /// The real serial driver against the virtual printer on a pty: the
    /// document arrives whole, and the state follows the paper.
    #[cfg(unix)]
    #[test]
    fn serial_printer_on_a_pty_prints_and_reports_paper_out() {
        let printer = hardware_mocks::VirtualPrinter::start_serial().expect("pty printer");
        let mut p = EscPosPrinter::new(
            SerialTransport::new(printer.path(), 19200, Duration::from_secs(2)),
            PrinterProfile::paper_58mm(),
        );
        assert_eq!(p.state(), DeviceState::Ready);
        p.print(&doc()).expect("print");
        let docs = printer.cut_documents();
        assert_eq!(docs.len(), 1, "{docs:?}");
        assert_eq!(docs[0].lines[0], "Però € 1,00");

        printer.set_paper_out(true);
        assert_eq!(p.state(), DeviceState::PaperOut);
        let e = p.print(&doc()).expect_err("no paper");
        assert_eq!(e.device_state(), DeviceState::PaperOut);
        printer.set_cover_open(true);
        printer.set_paper_out(false);
        assert_eq!(p.state(), DeviceState::CoverOpen);
        printer.set_cover_open(false);
        assert_eq!(p.state(), DeviceState::Ready);
        p.print(&doc()).expect("print again");
        assert_eq!(printer.cut_documents().len(), 2);
    }

    #[test]
    fn serial_port_that_does_not_exist_is_offline() {
        let mut p = open_printer(
            &PrinterDevice::Serial {
                path: "/dev/pos-agent-no-such-tty".into(),
                baud: 19200,
            },
            PrinterProfile::default(),
            DEFAULT_TIMEOUT,
        );
        let e = p.print(&doc()).expect_err("no port");
        assert!(
            e.to_string()
                .contains("serial:/dev/pos-agent-no-such-tty?baud=19200"),
            "{e}"
        );
        assert_eq!(p.state(), e.device_state());
    }
}
