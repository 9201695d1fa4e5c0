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

use std::fs::{File, OpenOptions};
use std::io::{self, ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

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
    Ready,
    Busy,
    PaperOut,
    CoverOpen,
    Offline,
    /// Not configured (`device = "none"`).
    Disabled,
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
    pub fn new(transport: T, profile: PrinterProfile) -> Self {
        Self {
            transport,
            encoder: EscPosEncoder::new(profile),
            last: DeviceState::Ready,
        }
    }

    pub fn encoder(&self) -> &EscPosEncoder {
        &self.encoder
    }

    pub fn transport(&self) -> &T {
        &self.transport
    }

    pub fn into_transport(self) -> T {
        self.transport
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
fn nonzero(timeout: Duration) -> Duration {
    timeout.max(Duration::from_millis(1))
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(e.kind(), ErrorKind::TimedOut | ErrorKind::WouldBlock)
}

/// A connect/open error in words a technician can act on.
fn reason(e: &io::Error) -> String {
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

// ---------------------------------------------------------------- status

const DLE: u8 = 0x10;
const EOT: u8 = 0x04;

/// A real-time status byte has bits 1 and 4 set and bits 0 and 7 clear.
fn valid_status(b: u8) -> bool {
    b & 0x93 == 0x12
}

/// The answers to `DLE EOT 1` (printer), `2` (offline cause) and `4` (roll
/// paper sensor) to a state. Invalid or missing answers are ignored.
fn state_from_status(printer: Option<u8>, offline: Option<u8>, paper: Option<u8>) -> DeviceState {
    let printer = printer.filter(|b| valid_status(*b));
    let offline = offline.filter(|b| valid_status(*b));
    let paper = paper.filter(|b| valid_status(*b));
    if paper.is_some_and(|b| b & 0x60 != 0) || offline.is_some_and(|b| b & 0x20 != 0) {
        return DeviceState::PaperOut;
    }
    if offline.is_some_and(|b| b & 0x04 != 0) {
        return DeviceState::CoverOpen;
    }
    if offline.is_some_and(|b| b & 0x40 != 0) {
        return DeviceState::Error;
    }
    if printer.is_some_and(|b| b & 0x08 != 0) {
        return DeviceState::Offline;
    }
    DeviceState::Ready
}

/// Sends `DLE EOT 1`, `2`, `4` and reads one byte after each. `Ok(None)` if
/// the printer does not answer the first one (the stream's read timeout
/// must already be set).
fn query_realtime_status<S: Read + Write>(stream: &mut S) -> io::Result<Option<DeviceState>> {
    let mut answers = [None; 3];
    for (answer, n) in answers.iter_mut().zip([1u8, 2, 4]) {
        stream.write_all(&[DLE, EOT, n])?;
        stream.flush()?;
        let mut byte = [0u8; 1];
        match stream.read(&mut byte) {
            Ok(1) => *answer = Some(byte[0]),
            Ok(_) => break,
            Err(e) if is_timeout(&e) => break,
            Err(e) => return Err(e),
        }
    }
    if answers[0].is_none() {
        return Ok(None);
    }
    Ok(Some(state_from_status(answers[0], answers[1], answers[2])))
}

/// How long to wait for one status byte: short, a printer answers at once.
fn status_timeout(timeout: Duration) -> Duration {
    nonzero(timeout.min(Duration::from_millis(800)))
}

/// `Ok` when a printer in `state` can print; otherwise the error that says
/// what to do about it.
pub(crate) fn ready_or_error(state: DeviceState, device: String) -> Result<(), PrinterError> {
    match state {
        DeviceState::Ready | DeviceState::Disabled => Ok(()),
        DeviceState::PaperOut => Err(PrinterError::PaperOut { device }),
        DeviceState::CoverOpen => Err(PrinterError::CoverOpen { device }),
        DeviceState::Offline | DeviceState::Busy | DeviceState::Error => {
            Err(PrinterError::NotReady { device, state })
        }
    }
}

// ---------------------------------------------------------------- file

/// `file:PATH`: raw ESC/POS bytes appended to a file, for the sandbox and
/// tests. Opened per document and fsynced, so a reader sees whole documents.
#[derive(Debug, Clone)]
pub struct FileTransport {
    path: PathBuf,
}

impl FileTransport {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn open(&self) -> Result<File, PrinterError> {
        OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .map_err(|source| PrinterError::Io {
                device: self.describe(),
                action: "opening the file for appending",
                source,
            })
    }
}

impl Transport for FileTransport {
    fn write_all(&mut self, bytes: &[u8]) -> Result<(), PrinterError> {
        let mut file = self.open()?;
        file.write_all(bytes)
            .and_then(|()| file.sync_all())
            .map_err(|source| PrinterError::Io {
                device: self.describe(),
                action: "appending to the file",
                source,
            })
    }

    /// Ready when the file can be opened for appending.
    fn read_status(&mut self) -> Result<Option<DeviceState>, PrinterError> {
        self.open().map(|_| Some(DeviceState::Ready))
    }

    fn describe(&self) -> String {
        format!("file:{}", self.path.display())
    }
}

// ---------------------------------------------------------------- tcp

/// `tcp://HOST:PORT`: a network printer's raw port (usually 9100). A new
/// connection per document, with a connect and a write timeout.
#[derive(Debug, Clone)]
pub struct TcpTransport {
    host: String,
    port: u16,
    timeout: Duration,
    /// Whether the printer answered its last status query (`None`: not
    /// asked yet).
    answers_status: Option<bool>,
}

impl TcpTransport {
    pub fn new(host: impl Into<String>, port: u16, timeout: Duration) -> Self {
        Self {
            host: host.into(),
            port,
            timeout: nonzero(timeout),
            answers_status: None,
        }
    }

    fn unreachable(&self, reason: String) -> PrinterError {
        PrinterError::Unreachable {
            device: self.describe(),
            reason,
            timeout: self.timeout,
        }
    }

    /// Tries every address the host resolves to, each with the timeout.
    fn connect(&self) -> Result<TcpStream, PrinterError> {
        let addrs = (self.host.as_str(), self.port)
            .to_socket_addrs()
            .map_err(|e| self.unreachable(format!("cannot resolve {}: {e}", self.host)))?;
        let mut last = None;
        for addr in addrs {
            match TcpStream::connect_timeout(&addr, self.timeout) {
                Ok(stream) => return Ok(stream),
                Err(e) => last = Some(e),
            }
        }
        Err(self.unreachable(match last {
            Some(e) => reason(&e),
            None => format!("{} resolves to no address", self.host),
        }))
    }

    /// Asks for the real-time status on an open connection and refuses when
    /// the printer cannot print.
    fn checked_status(&mut self, stream: &mut TcpStream) -> Result<(), PrinterError> {
        let state = query_realtime_status(stream).map_err(|e| self.write_error(e))?;
        self.answers_status = Some(state.is_some());
        ready_or_error(state.unwrap_or(DeviceState::Ready), self.describe())
    }

    fn write_error(&self, e: io::Error) -> PrinterError {
        if is_timeout(&e) {
            PrinterError::Stalled {
                device: self.describe(),
                timeout: self.timeout,
            }
        } else {
            self.unreachable(reason(&e))
        }
    }
}

impl Transport for TcpTransport {
    /// One connection: status, the document, status again. A printer that
    /// never answered a status query is not asked again before each
    /// document (it would cost the status timeout every time); its state
    /// is then the write's outcome.
    fn write_document(&mut self, bytes: &[u8]) -> Result<(), PrinterError> {
        let mut stream = self.connect()?;
        let result = stream
            .set_write_timeout(Some(self.timeout))
            .and_then(|()| stream.set_read_timeout(Some(status_timeout(self.timeout))))
            .map_err(|e| self.write_error(e))
            .and_then(|()| {
                if self.answers_status != Some(false) {
                    self.checked_status(&mut stream)?;
                }
                stream
                    .write_all(bytes)
                    .and_then(|()| stream.flush())
                    .map_err(|e| self.write_error(e))?;
                if self.answers_status != Some(false) {
                    self.checked_status(&mut stream)?;
                }
                Ok(())
            });
        let _ = stream.shutdown(Shutdown::Write);
        result
    }

    fn write_all(&mut self, bytes: &[u8]) -> Result<(), PrinterError> {
        let mut stream = self.connect()?;
        stream
            .set_write_timeout(Some(self.timeout))
            .and_then(|()| stream.write_all(bytes))
            .and_then(|()| stream.flush())
            .map_err(|e| self.write_error(e))?;
        // Tell the printer the job is complete; it may already have closed.
        let _ = stream.shutdown(Shutdown::Write);
        Ok(())
    }

    fn read_status(&mut self) -> Result<Option<DeviceState>, PrinterError> {
        let mut stream = self.connect()?;
        let asked = stream
            .set_write_timeout(Some(self.timeout))
            .and_then(|()| stream.set_read_timeout(Some(status_timeout(self.timeout))))
            .and_then(|()| query_realtime_status(&mut stream));
        let _ = stream.shutdown(Shutdown::Both);
        match asked {
            Ok(state) => {
                self.answers_status = Some(state.is_some());
                // Reachable but silent about its status: as ready as we can tell.
                Ok(Some(state.unwrap_or(DeviceState::Ready)))
            }
            Err(e) => Err(self.write_error(e)),
        }
    }

    fn describe(&self) -> String {
        if self.host.contains(':') {
            format!("tcp://[{}]:{}", self.host, self.port)
        } else {
            format!("tcp://{}:{}", self.host, self.port)
        }
    }
}

// ---------------------------------------------------------------- serial

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

// ---------------------------------------------------------------- usb

/// `usb:/dev/usb/lpN`: the kernel's USB printer class driver (usblp). A
/// character device: opened per document and written like a file.
///
/// The write is non-blocking with a deadline, because a blocking write to
/// usblp waits for as long as the printer refuses data (out of paper, cover
/// open) and the counter would hang with it.
#[derive(Debug, Clone)]
pub struct UsbLpTransport {
    path: PathBuf,
    timeout: Duration,
}

impl UsbLpTransport {
    pub fn new(path: impl Into<PathBuf>, timeout: Duration) -> Self {
        Self {
            path: path.into(),
            timeout: nonzero(timeout),
        }
    }

    fn open(&self) -> Result<File, PrinterError> {
        let mut options = OpenOptions::new();
        // Never `create`: a missing device node must not become a file.
        options.write(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.custom_flags(libc::O_NONBLOCK);
        }
        options
            .open(&self.path)
            .map_err(|e| self.error("opening", e))
    }

    /// Waits until the device takes more data (usblp: the last transfer is
    /// complete), at most until `deadline`.
    fn wait_writable(&self, file: &File, deadline: Instant) -> Result<(), PrinterError> {
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(PrinterError::Stalled {
                    device: self.describe(),
                    timeout: self.timeout,
                });
            }
            match poll_writable(file, left) {
                Ok(true) => return Ok(()),
                Ok(false) => {}
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(self.error("waiting for the device", e)),
            }
        }
    }

    /// An open or write error to what the technician should do about it.
    fn error(&self, action: &'static str, e: io::Error) -> PrinterError {
        let device = self.describe();
        #[cfg(unix)]
        match e.raw_os_error() {
            Some(libc::ENOSPC) => return PrinterError::PaperOut { device },
            Some(libc::EBUSY) => return PrinterError::InUse { device },
            Some(libc::ENODEV | libc::ENXIO | libc::EIO) => {
                return PrinterError::Unreachable {
                    device,
                    reason: format!(
                        "{} does not answer (unplugged or off?)",
                        self.path.display()
                    ),
                    timeout: self.timeout,
                }
            }
            _ => {}
        }
        match e.kind() {
            ErrorKind::PermissionDenied => PrinterError::PermissionDenied {
                device,
                path: self.path.clone(),
                group: "lp",
            },
            ErrorKind::NotFound => PrinterError::Unreachable {
                device,
                reason: format!("{} does not exist", self.path.display()),
                timeout: self.timeout,
            },
            _ if is_timeout(&e) => PrinterError::Stalled {
                device,
                timeout: self.timeout,
            },
            _ => PrinterError::Io {
                device,
                action,
                source: e,
            },
        }
    }
}

impl Transport for UsbLpTransport {
    fn write_all(&mut self, bytes: &[u8]) -> Result<(), PrinterError> {
        let mut file = self.open()?;
        let deadline = Instant::now() + self.timeout;
        let mut rest = bytes;
        while !rest.is_empty() {
            match file.write(rest) {
                Ok(0) => {
                    return Err(self.error(
                        "writing",
                        io::Error::new(ErrorKind::WriteZero, "the device took no bytes"),
                    ))
                }
                Ok(n) => rest = &rest[n..],
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    self.wait_writable(&file, deadline)?;
                    // Ready can also mean "no paper": do not spin on it.
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err(e) => return Err(self.error("writing", e)),
            }
        }
        // usblp accepts a non-blocking write as soon as the transfer is
        // submitted, and kills a transfer still in flight when the device is
        // closed: wait until the last one has completed, or the end of the
        // receipt would be lost.
        self.wait_writable(&file, deadline)?;
        if lp_status(&file).map(state_from_lp_status) == Some(DeviceState::PaperOut) {
            return Err(PrinterError::PaperOut {
                device: self.describe(),
            });
        }
        Ok(())
    }

    /// The IEEE 1284 status byte via `LPGETSTATUS` (Linux): paper empty,
    /// selected, error. Sends nothing to the printer. `None` where the
    /// device has no such ioctl (e.g. a plain file used in tests).
    fn read_status(&mut self) -> Result<Option<DeviceState>, PrinterError> {
        let file = self.open()?;
        Ok(lp_status(&file).map(state_from_lp_status))
    }

    fn describe(&self) -> String {
        format!("usb:{}", self.path.display())
    }
}

/// `poll(POLLOUT)` with a timeout: `Ok(true)` when writable.
#[cfg(unix)]
fn poll_writable(file: &File, timeout: Duration) -> io::Result<bool> {
    use std::os::fd::AsRawFd;
    let mut fds = libc::pollfd {
        fd: file.as_raw_fd(),
        events: libc::POLLOUT,
        revents: 0,
    };
    let ms = libc::c_int::try_from(timeout.as_millis().max(1)).unwrap_or(libc::c_int::MAX);
    // SAFETY: one valid pollfd, for an fd that is open for the whole call.
    match unsafe { libc::poll(&mut fds, 1, ms) } {
        rc if rc < 0 => Err(io::Error::last_os_error()),
        0 => Ok(false),
        _ if fds.revents & (libc::POLLERR | libc::POLLHUP | libc::POLLNVAL) != 0 => {
            Err(io::Error::from_raw_os_error(libc::EIO))
        }
        _ => Ok(true),
    }
}

#[cfg(not(unix))]
fn poll_writable(_file: &File, timeout: Duration) -> io::Result<bool> {
    std::thread::sleep(timeout.min(Duration::from_millis(10)));
    Ok(true)
}

#[cfg(target_os = "linux")]
fn lp_status(file: &File) -> Option<u8> {
    use std::os::fd::AsRawFd;
    /// `LPGETSTATUS` from `<linux/lp.h>`.
    const LPGETSTATUS: libc::c_ulong = 0x060b;
    let mut status: libc::c_int = 0;
    // SAFETY: the fd is open for the whole call, and LPGETSTATUS writes one
    // int through the pointer, which points at a live c_int.
    let rc = unsafe { libc::ioctl(file.as_raw_fd(), LPGETSTATUS as _, &mut status) };
    (rc == 0).then_some((status & 0xFF) as u8)
}

#[cfg(not(target_os = "linux"))]
fn lp_status(_file: &File) -> Option<u8> {
    None
}

/// IEEE 1284 status lines: 0x20 paper empty, 0x10 selected, 0x08 no error.
fn state_from_lp_status(status: u8) -> DeviceState {
    if status & 0x20 != 0 {
        DeviceState::PaperOut
    } else if status & 0x08 == 0 {
        DeviceState::Error
    } else if status & 0x10 == 0 {
        DeviceState::Offline
    } else {
        DeviceState::Ready
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::escpos::EuroStyle;
    use std::net::TcpListener;
    use std::thread;

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

    #[test]
    fn file_transport_appends_whole_documents() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("receipts.bin");
        let device = PrinterDevice::File { path: path.clone() };
        let profile = PrinterProfile::paper_58mm();
        let mut p = open_printer(&device, profile, DEFAULT_TIMEOUT);
        assert_eq!(p.describe(), device.to_string());
        assert_eq!(p.state(), DeviceState::Ready);
        p.print(&doc()).expect("first");
        p.open_drawer().expect("kick");
        p.print(&doc()).expect("second");
        let one = EscPosEncoder::new(profile).encode(&doc());
        let mut want = one.clone();
        want.extend(encode_drawer_kick());
        want.extend(&one);
        assert_eq!(std::fs::read(&path).expect("read back"), want);
        assert!(
            !want.windows(2).any(|w| *w == "€".as_bytes()[..2]),
            "no UTF-8"
        );
    }

    #[test]
    fn file_transport_in_a_missing_directory_says_which_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("no-such-dir").join("r.bin");
        let mut p = EscPosPrinter::new(FileTransport::new(&path), PrinterProfile::default());
        let e = p.print(&doc()).expect_err("no directory");
        assert!(e.to_string().contains(&path.display().to_string()), "{e}");
        assert_eq!(p.state(), DeviceState::Error);
    }

    #[test]
    fn tcp_transport_delivers_the_exact_bytes() {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let server = thread::spawn(move || {
            let mut got = Vec::new();
            for _ in 0..2 {
                let (mut conn, _) = listener.accept().expect("accept");
                conn.read_to_end(&mut got).expect("read");
            }
            got
        });
        let profile = PrinterProfile {
            euro: EuroStyle::Text,
            ..PrinterProfile::paper_80mm()
        };
        let device = PrinterDevice::Tcp {
            host: "127.0.0.1".into(),
            port,
        };
        let mut p = open_printer(&device, profile, Duration::from_millis(300));
        assert_eq!(p.describe(), format!("tcp://127.0.0.1:{port}"));
        p.print(&doc()).expect("print");
        p.open_drawer().expect("kick");
        // This printer never answers `DLE EOT 1`: asked once, then taken
        // as ready, and not asked again after the document.
        let mut want = vec![DLE, EOT, 1];
        want.extend(EscPosEncoder::new(profile).encode(&doc()));
        want.extend([0x1B, 0x70, 0x00, 0x19, 0xFA]);
        assert_eq!(server.join().expect("server"), want);
    }

    #[test]
    fn tcp_transport_to_a_closed_port_fails_fast_naming_the_device() {
        let port = {
            let l = TcpListener::bind("127.0.0.1:0").expect("bind");
            l.local_addr().expect("addr").port()
        };
        let timeout = Duration::from_millis(1500);
        let mut p = EscPosPrinter::new(
            TcpTransport::new("127.0.0.1", port, timeout),
            PrinterProfile::default(),
        );
        let started = Instant::now();
        let e = p.print(&doc()).expect_err("nothing listens");
        assert!(started.elapsed() < timeout + Duration::from_millis(500));
        let msg = e.to_string();
        assert!(
            msg.starts_with(&format!("printer tcp://127.0.0.1:{port} is not reachable")),
            "{msg}"
        );
        assert!(
            msg.contains("connection refused") && msg.contains("1.5 s"),
            "{msg}"
        );
        assert_eq!(e.device_state(), DeviceState::Offline);
        assert_eq!(p.state(), DeviceState::Offline);
    }

    #[test]
    fn tcp_printer_that_stops_reading_stalls_within_the_timeout() {
        // Accepts, then never reads: the socket buffers fill up and the
        // write must give up after the timeout instead of hanging.
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
        let server = thread::spawn(move || {
            let (conn, _) = listener.accept().expect("accept");
            let _ = done_rx.recv();
            drop(conn);
        });
        let timeout = Duration::from_millis(300);
        let mut t = TcpTransport::new("127.0.0.1", port, timeout);
        let started = Instant::now();
        let e = t.write_all(&vec![b'x'; 64 << 20]).expect_err("never read");
        let elapsed = started.elapsed();
        let _ = done_tx.send(());
        server.join().expect("server");
        assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
        assert_eq!(e.device_state(), DeviceState::Busy, "{e}");
        assert!(
            e.to_string()
                .contains("stopped accepting data (timeout 300 ms)"),
            "{e}"
        );
    }

    /// A fake network printer that answers `DLE EOT n` with the given bytes.
    fn status_server(answers: [u8; 3]) -> (u16, thread::JoinHandle<Vec<u8>>) {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let handle = thread::spawn(move || {
            let (mut conn, _) = listener.accept().expect("accept");
            let mut asked = Vec::new();
            let mut req = [0u8; 3];
            while conn.read_exact(&mut req).is_ok() {
                asked.extend(req);
                let answer = match req {
                    [DLE, EOT, 1] => answers[0],
                    [DLE, EOT, 2] => answers[1],
                    [DLE, EOT, 4] => answers[2],
                    _ => break,
                };
                if conn.write_all(&[answer]).is_err() {
                    break;
                }
            }
            asked
        });
        (port, handle)
    }

    #[test]
    fn tcp_status_maps_cover_open_and_paper_out() {
        for (answers, want) in [
            ([0x12, 0x12, 0x12], DeviceState::Ready),
            ([0x1A, 0x16, 0x12], DeviceState::CoverOpen),
            ([0x1A, 0x32, 0x72], DeviceState::PaperOut),
            ([0x1A, 0x52, 0x12], DeviceState::Error),
        ] {
            let (port, server) = status_server(answers);
            let mut p = EscPosPrinter::new(
                TcpTransport::new("127.0.0.1", port, DEFAULT_TIMEOUT),
                PrinterProfile::default(),
            );
            assert_eq!(p.state(), want, "{answers:x?}");
            assert_eq!(
                server.join().expect("server"),
                vec![DLE, EOT, 1, DLE, EOT, 2, DLE, EOT, 4]
            );
        }
    }

    #[test]
    fn tcp_printer_that_does_not_answer_status_is_ready() {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let server = thread::spawn(move || {
            let (mut conn, _) = listener.accept().expect("accept");
            let mut got = Vec::new();
            let _ = conn.read_to_end(&mut got);
        });
        let mut t = TcpTransport::new("127.0.0.1", port, Duration::from_millis(200));
        assert_eq!(
            t.read_status().expect("reachable"),
            Some(DeviceState::Ready)
        );
        server.join().expect("server");
    }

    /// A fake network printer that answers every `DLE EOT n` from `answers`
    /// (the state it is in) and keeps the other bytes it receives.
    fn checking_server(answers: [u8; 3]) -> (u16, thread::JoinHandle<Vec<u8>>) {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let handle = thread::spawn(move || {
            let (mut conn, _) = listener.accept().expect("accept");
            let mut data = Vec::new();
            let mut byte = [0u8; 1];
            let mut dle = 0u8;
            while let Ok(1) = conn.read(&mut byte) {
                dle = match (dle, byte[0]) {
                    (_, DLE) => 1,
                    (1, EOT) => 2,
                    (2, n) => {
                        let i = match n {
                            1 => 0,
                            2 => 1,
                            _ => 2,
                        };
                        if conn.write_all(&[answers[i]]).is_err() {
                            break;
                        }
                        0
                    }
                    _ => {
                        data.push(byte[0]);
                        0
                    }
                };
            }
            data
        });
        (port, handle)
    }

    #[test]
    fn tcp_document_is_refused_when_the_printer_says_paper_out() {
        let (port, server) = checking_server([0x1A, 0x32, 0x72]);
        let mut p = EscPosPrinter::new(
            TcpTransport::new("127.0.0.1", port, DEFAULT_TIMEOUT),
            PrinterProfile::default(),
        );
        let e = p.print(&doc()).expect_err("paper out");
        assert!(matches!(e, PrinterError::PaperOut { .. }), "{e}");
        assert_eq!(e.device_state(), DeviceState::PaperOut);
        assert!(e.to_string().contains("load a new roll"), "{e}");
        // Not one byte of the document was sent.
        assert_eq!(server.join().expect("server"), Vec::<u8>::new());
    }

    #[test]
    fn tcp_document_checks_status_before_and_after_on_one_connection() {
        let (port, server) = checking_server([0x12, 0x12, 0x12]);
        let mut p = EscPosPrinter::new(
            TcpTransport::new("127.0.0.1", port, DEFAULT_TIMEOUT),
            PrinterProfile::default(),
        );
        p.print(&doc()).expect("ready printer");
        assert_eq!(
            server.join().expect("server"),
            EscPosEncoder::new(PrinterProfile::default()).encode(&doc())
        );
    }

    #[test]
    fn cover_open_and_other_states_refuse_with_what_to_do() {
        let e = ready_or_error(DeviceState::CoverOpen, "x".into()).expect_err("cover");
        assert_eq!(e.device_state(), DeviceState::CoverOpen);
        let e = ready_or_error(DeviceState::Offline, "tcp://p:9100".into()).expect_err("offline");
        assert_eq!(e.device_state(), DeviceState::Offline);
        assert!(
            e.to_string()
                .starts_with("printer tcp://p:9100 reports offline"),
            "{e}"
        );
        assert!(ready_or_error(DeviceState::Ready, "x".into()).is_ok());
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

    /// Paper running out in the middle of a document: the driver says so
    /// (status after the document), and the printed part is not a whole
    /// document on the virtual paper.
    #[test]
    fn tcp_paper_out_in_the_middle_of_a_document_is_an_error() {
        let printer = hardware_mocks::VirtualPrinter::start("127.0.0.1:0".parse().expect("addr"))
            .expect("printer");
        let mut p = EscPosPrinter::new(
            TcpTransport::new("127.0.0.1", printer.addr.port(), DEFAULT_TIMEOUT),
            PrinterProfile::paper_58mm(),
        );
        // The status query before it takes 9 bytes: the roll ends in the
        // first bytes of the document.
        printer.set_paper_out_after(18);
        let e = p.print(&doc()).expect_err("paper ran out");
        assert_eq!(e.device_state(), DeviceState::PaperOut, "{e}");
        assert!(printer.cut_documents().is_empty());
        assert!(printer.dropped() > 0);
        printer.set_paper_out(false);
        p.print(&doc()).expect("new roll");
        let docs = printer.documents();
        assert_eq!(docs.len(), 2, "the torn-off start, then the whole one");
        assert!(!docs[0].cut && docs[1].cut);
        // Cover open over TCP.
        printer.set_cover_open(true);
        assert_eq!(p.state(), DeviceState::CoverOpen);
        let e = p.print(&doc()).expect_err("cover open");
        assert!(e.to_string().contains("cover open"), "{e}");
    }

    #[test]
    fn status_bytes_map_to_states() {
        assert_eq!(
            state_from_status(Some(0x12), Some(0x12), Some(0x12)),
            DeviceState::Ready
        );
        assert_eq!(
            state_from_status(Some(0x12), None, Some(0x1E)),
            DeviceState::Ready,
            "near end only"
        );
        assert_eq!(
            state_from_status(Some(0x1A), Some(0x12), None),
            DeviceState::Offline
        );
        // Not a status byte (bit 7 set): ignored.
        assert_eq!(
            state_from_status(Some(0x92), Some(0xFF), Some(0xFF)),
            DeviceState::Ready
        );
        assert_eq!(state_from_lp_status(0x18), DeviceState::Ready);
        assert_eq!(state_from_lp_status(0x38), DeviceState::PaperOut);
        assert_eq!(state_from_lp_status(0x08), DeviceState::Offline);
        assert_eq!(state_from_lp_status(0x10), DeviceState::Error);
    }

    #[test]
    fn usb_lp_errors_say_what_to_do() {
        let t = UsbLpTransport::new("/dev/usb/lp7", DEFAULT_TIMEOUT);
        let e = t.error("opening", io::Error::from(ErrorKind::PermissionDenied));
        assert!(
            e.to_string().contains("add the user to the lp group"),
            "{e}"
        );
        assert!(e.to_string().contains("usb:/dev/usb/lp7"), "{e}");
        let e = t.error("writing", io::Error::from_raw_os_error(libc::ENOSPC));
        assert_eq!(e.device_state(), DeviceState::PaperOut);
        let e = t.error("opening", io::Error::from_raw_os_error(libc::EBUSY));
        assert_eq!(e.device_state(), DeviceState::Busy);
    }

    #[test]
    fn usb_lp_missing_device_is_offline_and_never_created() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("lp0");
        let mut p = open_printer(
            &PrinterDevice::Usb { path: path.clone() },
            PrinterProfile::default(),
            DEFAULT_TIMEOUT,
        );
        let e = p.print(&doc()).expect_err("no device");
        assert!(e.to_string().contains("does not exist"), "{e}");
        assert!(!path.exists());
        assert_eq!(p.state(), DeviceState::Offline);
    }

    #[test]
    fn usb_lp_writes_like_a_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("lp0");
        std::fs::write(&path, b"").expect("create");
        let mut t = UsbLpTransport::new(&path, DEFAULT_TIMEOUT);
        t.write_all(b"abc").expect("write");
        assert_eq!(std::fs::read(&path).expect("read"), b"abc");
        // A plain file has no LPGETSTATUS: the state stays the last write's.
        assert_eq!(t.read_status().expect("opens"), None);
    }

    #[cfg(unix)]
    fn fifo(dir: &Path) -> PathBuf {
        use std::os::unix::ffi::OsStrExt;
        let path = dir.join("lp0");
        let c = std::ffi::CString::new(path.as_os_str().as_bytes()).expect("no NUL");
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0, "mkfifo");
        path
    }

    /// A FIFO behaves like usblp for a non-blocking writer: it takes a
    /// bounded amount, then says EAGAIN until the reader catches up.
    #[cfg(unix)]
    #[test]
    fn usb_lp_waits_for_a_slow_device_and_delivers_everything() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = fifo(dir.path());
        let reader_path = path.clone();
        let reader = thread::spawn(move || {
            let mut f = File::open(reader_path).expect("open reader");
            let mut got = Vec::new();
            let mut buf = [0u8; 4096];
            loop {
                match f.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => got.extend_from_slice(&buf[..n]),
                    Err(e) => panic!("read: {e}"),
                }
                thread::sleep(Duration::from_micros(200));
            }
            got
        });
        // Let the reader open its end first (the writer's open fails
        // with ENXIO while there is none).
        let mut t = UsbLpTransport::new(&path, Duration::from_secs(10));
        let payload: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        let started = Instant::now();
        loop {
            match t.write_all(&payload) {
                Ok(()) => break,
                Err(PrinterError::Unreachable { .. })
                    if started.elapsed() < Duration::from_secs(5) =>
                {
                    thread::sleep(Duration::from_millis(10))
                }
                Err(e) => panic!("{e}"),
            }
        }
        assert_eq!(reader.join().expect("reader"), payload);
    }

    #[cfg(unix)]
    #[test]
    fn usb_lp_device_that_stops_taking_data_stalls_within_the_timeout() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = fifo(dir.path());
        // Held open (so the writer can open) but never read.
        let _reader = OpenOptions::new()
            .read(true)
            .custom_flags_nonblock()
            .open(&path)
            .expect("open reader");
        let timeout = Duration::from_millis(300);
        let mut t = UsbLpTransport::new(&path, timeout);
        let started = Instant::now();
        let e = t.write_all(&vec![0u8; 1 << 20]).expect_err("never read");
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(e.device_state(), DeviceState::Busy, "{e}");
    }

    #[cfg(unix)]
    #[test]
    fn usb_lp_device_nobody_listens_to_is_offline() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = fifo(dir.path());
        let e = UsbLpTransport::new(&path, DEFAULT_TIMEOUT)
            .write_all(b"x")
            .expect_err("no reader: ENXIO");
        assert_eq!(e.device_state(), DeviceState::Offline, "{e}");
        assert!(e.to_string().contains("does not answer"), "{e}");
    }

    #[cfg(unix)]
    trait NonBlock {
        fn custom_flags_nonblock(&mut self) -> &mut Self;
    }

    #[cfg(unix)]
    impl NonBlock for OpenOptions {
        fn custom_flags_nonblock(&mut self) -> &mut Self {
            use std::os::unix::fs::OpenOptionsExt;
            self.custom_flags(libc::O_NONBLOCK)
        }
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
