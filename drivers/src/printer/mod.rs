//! The receipt printer as the agent sees it, and the ways bytes reach it.
//!
//! The agent holds a `Box<dyn Printer>` from [`open_printer`] and never names
//! a port. An [`EscPosPrinter`] encodes a [`Document`] with the
//! [`EscPosEncoder`] and hands the bytes to a [`Transport`]:
//!
//! ```text
//! file:PATH        FileTransport    append, fsync; opened per document
//! tcp://HOST:PORT  TcpTransport     connect per document (timeout), write (timeout), close
//! serial:PATH      SerialTransport  kept open; reopened after an error
//! usb:/dev/usb/lpN UsbLpTransport   the kernel's usblp character device; opened per document
//! none             NullPrinter      state Disabled, documents dropped
//! ```
//!
//! Opening per document (file, TCP, USB) is deliberate: a printer that was
//! switched off, unplugged or rebooted between two receipts just works again,
//! with no stale handle to detect and recover.
//!
//! State: TCP and serial printers are asked for their real-time status
//! (`DLE EOT 1`, `2`, `4`; answered at once even mid-job) and the paper-out
//! and cover-open bits are mapped to [`DeviceState`]; a USB printer's status
//! byte is read with the `LPGETSTATUS` ioctl, which sends nothing to the
//! printer. A printer that does not answer is taken as ready when it could be
//! reached. Otherwise the state is the outcome of the last write.
//!
//! All calls block for at most about the configured timeout (a status query
//! can make up to three round trips); the agent calls them from a blocking
//! task, never on the async executor.

pub mod expect;
mod file;
mod serial;
mod status;
mod tcp;
mod usb;

pub use file::FileTransport;
pub use serial::SerialTransport;
pub(crate) use status::ready_or_error;
pub use tcp::TcpTransport;
pub use usb::UsbLpTransport;

use std::io::{self, ErrorKind};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::document::Document;
use crate::escpos::{encode_drawer_kick, EscPosEncoder, PrinterProfile};
use crate::PrinterError;
use pos_config::PrinterDevice;

/// Connect, write and open timeout when the config does not say otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(3);

/// What state a device is in, as the agent API reports it
/// (`"ready"`, `"paper_out"`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceState {
    /// Works: the next document or scan goes through.
    Ready,
    /// Held by another program, or connected but not taking data; try again,
    /// then check the paper and the error light.
    Busy,
    /// The printer's roll is empty; load paper.
    PaperOut,
    /// The printer's cover is open; close it.
    CoverOpen,
    /// Not reachable (unplugged, switched off, network); fixed by plugging
    /// it in or switching it on.
    Offline,
    /// Not configured (`device = "none"`).
    Disabled,
    /// Needs a technician (permissions, a fault the device reports, an
    /// unexpected I/O error); the error message says what.
    Error,
}

impl DeviceState {
    /// The same snake_case name serde uses.
    pub fn as_str(&self) -> &'static str {
        match self {
            DeviceState::Ready => "ready",
            DeviceState::Busy => "busy",
            DeviceState::PaperOut => "paper_out",
            DeviceState::CoverOpen => "cover_open",
            DeviceState::Offline => "offline",
            DeviceState::Disabled => "disabled",
            DeviceState::Error => "error",
        }
    }
}

impl std::fmt::Display for DeviceState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A receipt printer (and the cash drawer wired to it).
pub trait Printer: Send {
    /// Prints a whole document, ending with a feed and a cut.
    fn print(&mut self, doc: &Document) -> Result<(), PrinterError>;
    /// Pulses the drawer port (`ESC p 0 25 250`).
    fn open_drawer(&mut self) -> Result<(), PrinterError>;
    /// The state now (may ask the printer; blocks up to the timeout).
    fn state(&mut self) -> DeviceState;
    /// The device as the configuration spells it, e.g. `tcp://10.0.0.5:9100`.
    fn describe(&self) -> String;
    /// `pos-agent printer test --code-pages`: `€ à è é ì ò ù` under each of
    /// `tables` (see [`EscPosEncoder::encode_code_page_test`]). Printers that
    /// are not ESC/POS byte streams (mocks) may leave the default refusal.
    fn print_code_page_test(&mut self, tables: &[u8]) -> Result<(), PrinterError> {
        let _ = tables;
        Err(PrinterError::Unsupported {
            device: self.describe(),
            what: "print the code page test",
        })
    }
}

impl<P: Printer + ?Sized> Printer for Box<P> {
    fn print(&mut self, doc: &Document) -> Result<(), PrinterError> {
        (**self).print(doc)
    }
    fn open_drawer(&mut self) -> Result<(), PrinterError> {
        (**self).open_drawer()
    }
    fn state(&mut self) -> DeviceState {
        (**self).state()
    }
    fn describe(&self) -> String {
        (**self).describe()
    }
    fn print_code_page_test(&mut self, tables: &[u8]) -> Result<(), PrinterError> {
        (**self).print_code_page_test(tables)
    }
}

/// How bytes reach a printer.
pub trait Transport: Send {
    /// Sends one whole document or command; either all of it was handed to
    /// the device or an error says why not.
    fn write_all(&mut self, bytes: &[u8]) -> Result<(), PrinterError>;
    /// Asks the device for its state. `Ok(None)` when this transport cannot
    /// tell (the printer's state is then the last write's outcome).
    fn read_status(&mut self) -> Result<Option<DeviceState>, PrinterError> {
        Ok(None)
    }
    /// Sends one whole document, refusing when the printer says before it
    /// that it cannot print, and failing when it says right after it that it
    /// could not (paper ran out, cover opened): then the caller keeps the
    /// document and prints it again later. A transport that cannot read the
    /// state just writes.
    ///
    /// The default asks [`Transport::read_status`] before and after
    /// [`Transport::write_all`]; TCP does all three on one connection.
    fn write_document(&mut self, bytes: &[u8]) -> Result<(), PrinterError> {
        if let Some(state) = self.read_status()? {
            ready_or_error(state, self.describe())?;
        }
        self.write_all(bytes)?;
        if let Some(state) = self.read_status()? {
            ready_or_error(state, self.describe())?;
        }
        Ok(())
    }
    /// The device as the configuration spells it.
    fn describe(&self) -> String;
}

/// An ESC/POS printer behind any transport.
pub struct EscPosPrinter<T: Transport> {
    transport: T,
    encoder: EscPosEncoder,
    last: DeviceState,
}

impl<T: Transport> EscPosPrinter<T> {
    /// Nothing is sent yet; the state counts as `Ready` until the first
    /// exchange says otherwise.
    pub fn new(transport: T, profile: PrinterProfile) -> Self {
        Self {
            transport,
            encoder: EscPosEncoder::new(profile),
            last: DeviceState::Ready,
        }
    }

    /// The encoder for this printer's paper width and code page.
    pub fn encoder(&self) -> &EscPosEncoder {
        &self.encoder
    }

    /// The transport, e.g. for a test to look at what it received.
    pub fn transport(&self) -> &T {
        &self.transport
    }

    /// Gives the transport back, e.g. to call `ExpectTransport::done`.
    pub fn into_transport(self) -> T {
        self.transport
    }

    /// The state the last exchange left, without asking the device.
    pub fn last_state(&self) -> DeviceState {
        self.last
    }

    /// A document: checked against the printer's state before and after.
    fn send_document(&mut self, what: &str, bytes: &[u8]) -> Result<(), PrinterError> {
        let sent = self.transport.write_document(bytes);
        self.outcome(what, bytes.len(), sent)
    }

    /// A command (the drawer kick): just written.
    fn send(&mut self, what: &str, bytes: &[u8]) -> Result<(), PrinterError> {
        let sent = self.transport.write_all(bytes);
        self.outcome(what, bytes.len(), sent)
    }

    fn outcome(
        &mut self,
        what: &str,
        len: usize,
        sent: Result<(), PrinterError>,
    ) -> Result<(), PrinterError> {
        match sent {
            Ok(()) => {
                tracing::debug!(device = %self.transport.describe(), bytes = len, "{what} sent");
                self.last = DeviceState::Ready;
                Ok(())
            }
            Err(e) => {
                tracing::warn!(error = %e, "{what} not sent");
                self.last = e.device_state();
                Err(e)
            }
        }
    }
}

impl<T: Transport> Printer for EscPosPrinter<T> {
    fn print(&mut self, doc: &Document) -> Result<(), PrinterError> {
        let bytes = self.encoder.encode(doc);
        self.send_document("document", &bytes)
    }

    fn open_drawer(&mut self) -> Result<(), PrinterError> {
        self.send("drawer kick", &encode_drawer_kick())
    }

    fn state(&mut self) -> DeviceState {
        match self.transport.read_status() {
            Ok(Some(state)) => self.last = state,
            Ok(None) => {}
            Err(e) => {
                tracing::debug!(error = %e, "printer status");
                self.last = e.device_state();
            }
        }
        self.last
    }

    fn describe(&self) -> String {
        self.transport.describe()
    }

    fn print_code_page_test(&mut self, tables: &[u8]) -> Result<(), PrinterError> {
        let bytes = self.encoder.encode_code_page_test(tables);
        self.send_document("code page test", &bytes)
    }
}

/// `device = "none"`: always `Disabled`; documents and drawer kicks are
/// logged and dropped, so a counter without a printer still works.
#[derive(Debug, Clone, Copy, Default)]
pub struct NullPrinter;

impl Printer for NullPrinter {
    fn print(&mut self, doc: &Document) -> Result<(), PrinterError> {
        tracing::info!(
            blocks = doc.blocks.len(),
            "no printer configured: document dropped"
        );
        Ok(())
    }

    fn open_drawer(&mut self) -> Result<(), PrinterError> {
        tracing::info!("no printer configured: drawer kick dropped");
        Ok(())
    }

    fn state(&mut self) -> DeviceState {
        DeviceState::Disabled
    }

    fn describe(&self) -> String {
        "none".to_string()
    }

    fn print_code_page_test(&mut self, _tables: &[u8]) -> Result<(), PrinterError> {
        Err(PrinterError::Unsupported {
            device: self.describe(),
            what: "print a test page: no printer is configured (printer.device = \"none\")",
        })
    }
}

/// The printer for a configured device. Nothing is opened yet (transports
/// open per document), so this cannot fail; a wrong address shows up in
/// [`Printer::state`] and in the first print's error.
pub fn open_printer(
    device: &PrinterDevice,
    profile: PrinterProfile,
    timeout: Duration,
) -> Box<dyn Printer> {
    match device {
        PrinterDevice::Tcp { host, port } => Box::new(EscPosPrinter::new(
            TcpTransport::new(host.clone(), *port, timeout),
            profile,
        )),
        PrinterDevice::Serial { path, baud } => Box::new(EscPosPrinter::new(
            SerialTransport::new(path.clone(), *baud, timeout),
            profile,
        )),
        PrinterDevice::Usb { path } => Box::new(EscPosPrinter::new(
            UsbLpTransport::new(path.clone(), timeout),
            profile,
        )),
        PrinterDevice::File { path } => Box::new(EscPosPrinter::new(
            FileTransport::new(path.clone()),
            profile,
        )),
        PrinterDevice::None => Box::new(NullPrinter),
    }
}

/// A zero timeout would mean "block forever" to some std calls and is an
/// error to others; the smallest we use is one millisecond.
pub(crate) fn nonzero(timeout: Duration) -> Duration {
    timeout.max(Duration::from_millis(1))
}

pub(crate) fn is_timeout(e: &io::Error) -> bool {
    matches!(e.kind(), ErrorKind::TimedOut | ErrorKind::WouldBlock)
}

/// A connect/open error in words a technician can act on.
pub(crate) fn reason(e: &io::Error) -> String {
    match e.kind() {
        ErrorKind::ConnectionRefused => "connection refused".to_string(),
        ErrorKind::TimedOut | ErrorKind::WouldBlock => "no answer".to_string(),
        ErrorKind::HostUnreachable => "host unreachable".to_string(),
        ErrorKind::NetworkUnreachable => "network unreachable".to_string(),
        ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted | ErrorKind::BrokenPipe => {
            "the connection was dropped".to_string()
        }
        ErrorKind::NotFound => "no such device".to_string(),
        _ => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc() -> Document {
        Document::new().text("Però € 1,00")
    }

    #[test]
    fn device_state_names_match_serde() {
        for state in [
            DeviceState::Ready,
            DeviceState::Busy,
            DeviceState::PaperOut,
            DeviceState::CoverOpen,
            DeviceState::Offline,
            DeviceState::Disabled,
            DeviceState::Error,
        ] {
            let json = format!("\"{}\"", state.as_str());
            assert_eq!(serde_json::to_string(&state).expect("serialize"), json);
            assert_eq!(
                serde_json::from_str::<DeviceState>(&json).expect("deserialize"),
                state
            );
        }
        assert_eq!(DeviceState::PaperOut.as_str(), "paper_out");
    }

    #[test]
    fn null_printer_is_disabled_and_drops_documents() {
        let mut p = open_printer(
            &PrinterDevice::None,
            PrinterProfile::default(),
            DEFAULT_TIMEOUT,
        );
        assert_eq!(p.state(), DeviceState::Disabled);
        assert_eq!(p.describe(), "none");
        p.print(&doc()).expect("dropped, not failed");
        p.open_drawer().expect("dropped, not failed");
        assert!(p.print_code_page_test(&[19]).is_err());
    }
}
