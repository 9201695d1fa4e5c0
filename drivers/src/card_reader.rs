//! The card reader: a magnetic-stripe or Code 39 barcode reader on a serial
//! port (often a USB CDC-ACM device, `/dev/ttyACM0`) that sends one line of
//! ASCII text per read.
//!
//! ```text
//! %BRSSMRA85T10A562SROSSI  MARIO^^^?\r      track 1 of a Tessera Sanitaria
//! ;80380001800012345678=2912?\r             track 2 (the card number)
//! RSSMRA85T10A562S\r\n                      the Code 39 barcode on the back
//! ```
//!
//! This module only turns bytes into lines; it knows nothing of fiscal codes
//! (the agent extracts and classifies them with `pos_codes`), so a line here
//! is whatever the reader sent, personal data included: callers must not log
//! it unmasked.
//!
//! [`LineSplitter`] is the pure part: lines end at CR or LF (so CRLF, LF
//! and CR readers all work and an empty line is never produced); a line may
//! arrive in several reads; anything that is not printable ASCII (line noise
//! at a wrong baud rate, NUL, STX/ETX framing, bytes of invalid UTF-8) is
//! dropped; a line longer than [`MAX_LINE_LEN`] is discarded whole up to its
//! end, because a cut track could still hold a plausible but wrong code.
//!
//! [`SerialCardReader`] is the real reader over `serialport`. It opens the
//! port lazily, and after an error (unplugged, permission, EIO) it drops the
//! handle and returns the error; the next [`CardReader::read_line`] opens the
//! port again, so the caller's retry loop is the reconnect loop:
//!
//! ```no_run
//! use std::time::Duration;
//! use pos_drivers::card_reader::{CardReader, SerialCardReader};
//!
//! let mut reader = SerialCardReader::new("/dev/ttyACM0", 9600);
//! loop {
//!     match reader.read_line(Duration::from_millis(500)) {
//!         Ok(Some(line)) => { /* classify it; never log it unmasked */ let _ = line; }
//!         Ok(None) => {}                                          // nothing read: still ready
//!         Err(e) => std::thread::sleep(Duration::from_secs(1)),   // e.device_state() is offline/error
//!     }
//! }
//! ```
//!
//! Readers must be set to end each read with CR and/or LF (the factory
//! setting of almost all of them); a reader that sends no terminator never
//! produces a line.

use std::collections::VecDeque;
use std::io::{self, ErrorKind, Read};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::printer::DeviceState;
use pos_config::CardReaderDevice;

/// The longest line kept. A track 1 holds at most 79 characters, a track 2
/// 40, a Code 39 fiscal code 16 (plus framing); anything longer is not a
/// card read.
pub const MAX_LINE_LEN: usize = 256;

/// Why the card reader could not be read. Its own enum rather than
/// variants of `PrinterError`: a reader has no paper or cover, and the agent
/// should not have to handle states that cannot happen. Every message names
/// the device as the configuration spells it and says what to check.
#[derive(Debug, thiserror::Error)]
pub enum CardReaderError {
    /// The port could not be opened: not plugged in, wrong path.
    #[error("card reader {device} is not reachable: {reason}; check that it is plugged in and the path is right")]
    Unreachable {
        /// The reader as the configuration spells it.
        device: String,
        /// What went wrong, e.g. `/dev/ttyACM0 does not exist`.
        reason: String,
    },
    /// The device file exists but this user may not open it.
    #[error(
        "card reader {device}: permission denied opening {}; add the user to the {group} group (sudo usermod -aG {group} USER) and log in again",
        .path.display()
    )]
    PermissionDenied {
        /// The reader as the configuration spells it.
        device: String,
        /// The device node that could not be opened.
        path: PathBuf,
        /// The group that owns serial ports (`dialout`), named in the fix.
        group: &'static str,
    },
    /// Another program holds the port (serial ports are opened exclusively).
    #[error("card reader {device} is in use by another program; stop it (e.g. ModemManager or a second agent)")]
    InUse {
        /// The reader as the configuration spells it.
        device: String,
    },
    /// The port was open and went away (unplugged, hung up, I/O error).
    #[error(
        "card reader {device} was disconnected: {reason}; it is reopened as soon as it is back"
    )]
    Disconnected {
        /// The reader as the configuration spells it.
        device: String,
        /// Why the read failed, e.g. `Broken pipe`.
        reason: String,
    },
    /// Any other failure while opening or setting up the port.
    #[error("card reader {device}: {action} failed: {source}")]
    Io {
        /// The reader as the configuration spells it.
        device: String,
        /// What was being done, e.g. `opening the serial port`.
        action: &'static str,
        /// The underlying failure.
        #[source]
        source: io::Error,
    },
}

impl CardReaderError {
    /// The device state this error means, for the agent's status report:
    /// `offline` when plugging it (back) in fixes it, `error` when a
    /// technician must do something.
    pub fn device_state(&self) -> DeviceState {
        match self {
            CardReaderError::Unreachable { .. } | CardReaderError::Disconnected { .. } => {
                DeviceState::Offline
            }
            CardReaderError::InUse { .. } => DeviceState::Busy,
            CardReaderError::PermissionDenied { .. } | CardReaderError::Io { .. } => {
                DeviceState::Error
            }
        }
    }
}

/// A device that delivers one line of text per card swipe or barcode read.
pub trait CardReader: Send {
    /// Waits up to `timeout` for the next complete line. `Ok(None)`: nothing
    /// complete arrived (the device is fine). `Err`: the device is gone or
    /// unusable; calling again retries (a real reader reopens its port).
    fn read_line(&mut self, timeout: Duration) -> Result<Option<String>, CardReaderError>;
    /// The device as the configuration spells it, e.g. `serial:/dev/ttyACM0?baud=9600`.
    fn describe(&self) -> String;
}

impl<R: CardReader + ?Sized> CardReader for Box<R> {
    fn read_line(&mut self, timeout: Duration) -> Result<Option<String>, CardReaderError> {
        (**self).read_line(timeout)
    }
    fn describe(&self) -> String {
        (**self).describe()
    }
}

/// The reader for the configured device, or `None` when the config says
/// `none` (the agent then reports the reader as `disabled`). Nothing is
/// opened yet: the first `read_line` opens the port.
pub fn open_card_reader(device: &CardReaderDevice) -> Option<Box<dyn CardReader>> {
    match device {
        CardReaderDevice::Serial { path, baud } => {
            Some(Box::new(SerialCardReader::new(path.clone(), *baud)))
        }
        CardReaderDevice::None => None,
    }
}

/// Bytes in, complete lines out; see the module doc for the rules.
#[derive(Debug, Clone)]
pub struct LineSplitter {
    buf: String,
    max_len: usize,
    /// In the middle of an over-long line: drop until its end.
    discarding: bool,
    dropped_bytes: u64,
    overlong_lines: u64,
}

impl Default for LineSplitter {
    fn default() -> Self {
        Self::new(MAX_LINE_LEN)
    }
}

impl LineSplitter {
    /// A splitter that keeps lines of at most `max_len` characters (at least 1).
    pub fn new(max_len: usize) -> Self {
        LineSplitter {
            buf: String::new(),
            max_len: max_len.max(1),
            discarding: false,
            dropped_bytes: 0,
            overlong_lines: 0,
        }
    }

    /// Feeds the bytes of one read; returns the lines they completed, in
    /// order. Never panics, whatever the bytes.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<String> {
        let mut lines = Vec::new();
        for &b in bytes {
            match b {
                b'\r' | b'\n' => {
                    let line = std::mem::take(&mut self.buf);
                    if !self.discarding && !line.trim().is_empty() {
                        lines.push(line);
                    }
                    self.discarding = false;
                }
                0x20..=0x7e => {
                    if self.discarding {
                        continue;
                    }
                    if self.buf.len() >= self.max_len {
                        self.buf.clear();
                        self.discarding = true;
                        self.overlong_lines += 1;
                    } else {
                        self.buf.push(char::from(b));
                    }
                }
                _ => self.dropped_bytes += 1,
            }
        }
        lines
    }

    /// Forgets a half-received line (after a disconnection, so that its
    /// start is never glued to the first line read after reconnecting).
    pub fn reset(&mut self) {
        self.buf.clear();
        self.discarding = false;
    }

    /// True while part of a line is waiting for its end.
    pub fn has_partial(&self) -> bool {
        !self.buf.is_empty() || self.discarding
    }

    /// Bytes dropped as garbage so far (not printable ASCII, not CR/LF).
    pub fn dropped_bytes(&self) -> u64 {
        self.dropped_bytes
    }

    /// Lines discarded so far for being longer than the cap.
    pub fn overlong_lines(&self) -> u64 {
        self.overlong_lines
    }
}

/// A card reader on a serial port, read with the `serialport` crate (8N1,
/// no flow control, opened exclusively).
pub struct SerialCardReader {
    path: PathBuf,
    baud: u32,
    port: Option<Box<dyn serialport::SerialPort>>,
    splitter: LineSplitter,
    ready: VecDeque<String>,
}

impl SerialCardReader {
    /// A reader for `path` at `baud`; the port is opened by the first read
    /// (or [`SerialCardReader::open`]).
    pub fn new(path: impl Into<PathBuf>, baud: u32) -> Self {
        SerialCardReader {
            path: path.into(),
            baud,
            port: None,
            splitter: LineSplitter::default(),
            ready: VecDeque::new(),
        }
    }

    /// The port's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// True while the port is open.
    pub fn is_open(&self) -> bool {
        self.port.is_some()
    }

    /// The splitter's counters (garbage bytes, over-long lines), for logs.
    pub fn splitter(&self) -> &LineSplitter {
        &self.splitter
    }

    /// Opens the port now if it is not open.
    pub fn open(&mut self) -> Result<(), CardReaderError> {
        if self.port.is_none() {
            let port = serialport::new(self.path.to_string_lossy(), self.baud)
                .timeout(Duration::from_millis(100))
                .open()
                .map_err(|e| self.open_error(e))?;
            self.splitter.reset();
            self.port = Some(port);
        }
        Ok(())
    }

    fn open_error(&self, e: serialport::Error) -> CardReaderError {
        let device = self.describe();
        match e.kind() {
            serialport::ErrorKind::Io(ErrorKind::PermissionDenied) => {
                CardReaderError::PermissionDenied {
                    device,
                    path: self.path.clone(),
                    group: "dialout",
                }
            }
            serialport::ErrorKind::Io(ErrorKind::NotFound) => CardReaderError::Unreachable {
                device,
                reason: format!("{} does not exist", self.path.display()),
            },
            // EBUSY from TIOCEXCL or a held flock: someone else has it.
            serialport::ErrorKind::NoDevice => CardReaderError::InUse { device },
            _ => CardReaderError::Io {
                device,
                action: "opening the serial port",
                source: io::Error::other(e.description),
            },
        }
    }

    /// Drops the handle and any half line: the next read starts afresh.
    fn lost(&mut self, reason: String) -> CardReaderError {
        self.port = None;
        self.splitter.reset();
        CardReaderError::Disconnected {
            device: self.describe(),
            reason,
        }
    }
}

impl CardReader for SerialCardReader {
    fn read_line(&mut self, timeout: Duration) -> Result<Option<String>, CardReaderError> {
        if let Some(line) = self.ready.pop_front() {
            return Ok(Some(line));
        }
        self.open()?;
        let deadline = Instant::now() + timeout;
        let mut buf = [0u8; 256];
        loop {
            // Wait at least a millisecond, so a zero timeout still polls once.
            let left = deadline
                .saturating_duration_since(Instant::now())
                .max(Duration::from_millis(1));
            let result = match self.port.as_mut() {
                Some(port) => port
                    .set_timeout(left)
                    .map_err(io::Error::from)
                    .and_then(|()| port.read(&mut buf)),
                None => Err(io::Error::other("the port was not kept open")),
            };
            match result {
                Ok(0) => return Err(self.lost("the port reported end of data".into())),
                Ok(n) => {
                    self.ready.extend(self.splitter.push(&buf[..n]));
                    if let Some(line) = self.ready.pop_front() {
                        return Ok(Some(line));
                    }
                    if Instant::now() >= deadline {
                        return Ok(None);
                    }
                }
                Err(e) if matches!(e.kind(), ErrorKind::TimedOut | ErrorKind::WouldBlock) => {
                    return Ok(None)
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(self.lost(e.to_string())),
            }
        }
    }

    fn describe(&self) -> String {
        format!("serial:{}?baud={}", self.path.display(), self.baud)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn split_all(chunks: &[&[u8]]) -> Vec<String> {
        let mut s = LineSplitter::default();
        chunks.iter().flat_map(|c| s.push(c)).collect()
    }

    #[test]
    fn cr_lf_and_crlf_all_end_a_line_without_empty_lines() {
        assert_eq!(
            split_all(&[b"AAA\rBBB\nCCC\r\nDDD\n\r\r\n"]),
            ["AAA", "BBB", "CCC", "DDD"]
        );
    }

    #[test]
    fn a_line_split_across_reads_is_joined() {
        let track = b"%BRSSMRA85T10A562SROSSI  MARIO^^^?\r";
        for cut in 0..track.len() {
            let (a, b) = track.split_at(cut);
            assert_eq!(
                split_all(&[a, b]),
                ["%BRSSMRA85T10A562SROSSI  MARIO^^^?"],
                "cut at {cut}"
            );
        }
        // One byte per read, and a CRLF split between two reads.
        let bytes: Vec<&[u8]> = b"RSSMRA85T10A562S\r\nX\r".chunks(1).collect::<Vec<_>>();
        assert_eq!(split_all(&bytes), ["RSSMRA85T10A562S", "X"]);
    }

    #[test]
    fn partial_line_waits_for_its_end() {
        let mut s = LineSplitter::default();
        assert!(s.push(b"%BRSSMRA85T").is_empty());
        assert!(s.has_partial());
        assert_eq!(s.push(b"10A562S^?\r;8038"), ["%BRSSMRA85T10A562S^?"]);
        assert!(s.has_partial());
        s.reset();
        assert!(!s.has_partial());
        assert_eq!(s.push(b"RSSMRA85T10A562S\n"), ["RSSMRA85T10A562S"]);
    }

    #[test]
    fn garbage_bytes_are_dropped_and_counted() {
        let mut s = LineSplitter::default();
        let lines = s.push(b"\x00\xff\xfe\x02RSS\xc3\xa9MRA85T10A562S\x03\x1b\r");
        assert_eq!(lines, ["RSSMRA85T10A562S"]);
        assert_eq!(s.dropped_bytes(), 8);
        // A line of nothing but garbage produces nothing.
        assert!(s.push(b"\x80\x81\x00\x7f\r\n").is_empty());
        // Blank lines neither.
        assert!(s.push(b"   \r").is_empty());
    }

    #[test]
    fn overlong_line_is_discarded_whole_and_the_next_line_survives() {
        let mut s = LineSplitter::new(16);
        assert_eq!(s.push(b"0123456789ABCDEF\r"), ["0123456789ABCDEF"]);
        let mut long = vec![b'A'; 40];
        long.extend_from_slice(b"\rRSSMRA85T10A562S\r");
        assert_eq!(s.push(&long), ["RSSMRA85T10A562S"]);
        assert_eq!(s.overlong_lines(), 1);
        // Over-long across reads: the tail after the cap is dropped too.
        assert!(s.push(&[b'B'; 10]).is_empty());
        assert!(s.push(&[b'B'; 10]).is_empty());
        assert!(s.push(b"TAIL").is_empty());
        assert_eq!(s.push(b"\rOK\r"), ["OK"]);
        assert_eq!(s.overlong_lines(), 2);
    }

    #[test]
    fn errors_map_to_device_states_and_say_what_to_do() {
        let e = CardReaderError::PermissionDenied {
            device: "serial:/dev/ttyACM0?baud=9600".into(),
            path: "/dev/ttyACM0".into(),
            group: "dialout",
        };
        assert_eq!(e.device_state(), DeviceState::Error);
        assert!(e.to_string().contains("dialout"), "{e}");
        let e = CardReaderError::Disconnected {
            device: "serial:/dev/ttyACM0?baud=9600".into(),
            reason: "Broken pipe".into(),
        };
        assert_eq!(e.device_state(), DeviceState::Offline);
        assert!(e
            .to_string()
            .starts_with("card reader serial:/dev/ttyACM0?baud=9600"));
    }

    #[test]
    fn a_missing_port_is_unreachable_and_offline() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("ttyACM9");
        let mut r = SerialCardReader::new(&path, 9600);
        let e = r
            .read_line(Duration::from_millis(10))
            .expect_err("no such port");
        assert!(matches!(e, CardReaderError::Unreachable { .. }), "{e}");
        assert_eq!(e.device_state(), DeviceState::Offline);
        assert!(!r.is_open());
        assert_eq!(r.describe(), format!("serial:{}?baud=9600", path.display()));
    }

    #[test]
    fn none_is_no_reader() {
        assert!(open_card_reader(&CardReaderDevice::None).is_none());
        let r = open_card_reader(&CardReaderDevice::Serial {
            path: "/dev/ttyACM0".into(),
            baud: 9600,
        })
        .expect("a serial reader");
        assert_eq!(r.describe(), "serial:/dev/ttyACM0?baud=9600");
    }

    /// Reads lines until `n` arrived; panics after `limit` polls, so a
    /// wedged reader fails the test instead of hanging it.
    #[cfg(unix)]
    fn read_lines(r: &mut SerialCardReader, n: usize) -> Vec<String> {
        let mut lines = Vec::new();
        for _ in 0..100 {
            if lines.len() == n {
                return lines;
            }
            if let Some(line) = r.read_line(Duration::from_millis(100)).expect("read") {
                lines.push(line);
            }
        }
        panic!("only {} of {n} lines arrived: {lines:?}", lines.len());
    }

    #[cfg(unix)]
    #[test]
    fn serial_reader_reads_a_virtual_card_reader_on_a_pty() {
        use hardware_mocks::serial::{LineEnding, Tessera, VirtualCardReader};

        let mut dev = VirtualCardReader::open().expect("pty");
        let mut r = SerialCardReader::new(dev.path(), 9600);
        // Nothing sent yet: a timeout, not an error, and the port is open.
        assert_eq!(r.read_line(Duration::from_millis(20)).expect("idle"), None);
        assert!(r.is_open());

        let card = Tessera::demo();
        dev.swipe(&card).expect("swipe");
        assert_eq!(read_lines(&mut r, 2), [card.track1(), card.track2()]);

        dev.set_ending(LineEnding::CrLf);
        dev.send_garbage().expect("garbage");
        dev.scan_barcode(&card).expect("barcode");
        let lines = read_lines(&mut r, 3);
        assert_eq!(lines[2], "RSSMRA85T10A562S");
        assert!(
            lines[..2].iter().all(|l| !l.contains("RSSMRA")),
            "garbage lines: {lines:?}"
        );
        assert!(r.splitter().dropped_bytes() >= 8);

        dev.set_ending(LineEnding::Lf);
        dev.send_split(&card.track1(), 11, Duration::from_millis(30))
            .expect("split");
        assert_eq!(read_lines(&mut r, 1), [card.track1()]);

        // An over-long line (a stuck key, noise) is dropped whole.
        dev.send_line(&"9".repeat(MAX_LINE_LEN + 50)).expect("long");
        dev.scan_barcode(&card).expect("barcode");
        assert_eq!(read_lines(&mut r, 1), ["RSSMRA85T10A562S"]);
        assert_eq!(r.splitter().overlong_lines(), 1);
    }

    #[cfg(unix)]
    #[test]
    fn unplug_is_reported_and_the_reader_reconnects_when_it_is_back() {
        use hardware_mocks::serial::{Tessera, VirtualCardReader};

        // The configured path is a symlink, like /dev/serial/by-id/...: the
        // "re-plugged" reader is a new pty behind the same path.
        let dir = tempfile::tempdir().expect("temp dir");
        let link = dir.path().join("ttyACM0");
        let mut dev = VirtualCardReader::open().expect("pty");
        std::os::unix::fs::symlink(dev.path(), &link).expect("symlink");
        let mut r = SerialCardReader::new(&link, 9600);
        let card = Tessera::demo();
        dev.scan_barcode(&card).expect("barcode");
        assert_eq!(read_lines(&mut r, 1), ["RSSMRA85T10A562S"]);

        // Half a line, then the cable is pulled.
        dev.send_raw(b"%BRSSMRA85").expect("half");
        assert_eq!(r.read_line(Duration::from_millis(50)).expect("half"), None);
        dev.unplug();
        let mut seen = None;
        for _ in 0..50 {
            match r.read_line(Duration::from_millis(100)) {
                Err(e) => {
                    seen = Some(e);
                    break;
                }
                Ok(line) => assert_eq!(line, None),
            }
        }
        let e = seen.expect("the unplug is reported");
        assert!(matches!(e, CardReaderError::Disconnected { .. }), "{e}");
        assert_eq!(e.device_state(), DeviceState::Offline);
        assert!(!r.is_open());
        // Still out: the retry says so.
        let e = r
            .read_line(Duration::from_millis(10))
            .expect_err("still out");
        assert_eq!(e.device_state(), DeviceState::Offline, "{e}");

        // Plugged back in: the next read reopens, and the half line from
        // before is not glued to the new one.
        let mut dev = VirtualCardReader::open().expect("pty");
        std::fs::remove_file(&link).expect("unlink");
        std::os::unix::fs::symlink(dev.path(), &link).expect("symlink");
        dev.swipe(&card).expect("swipe");
        assert_eq!(read_lines(&mut r, 2), [card.track1(), card.track2()]);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// Arbitrary bytes in arbitrary chunks: no panic, no line over the
        /// cap, only printable ASCII, never an empty line.
        #[test]
        fn arbitrary_bytes_never_panic_nor_exceed_the_cap(
            chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..64), 0..16),
            cap in 1usize..40,
        ) {
            let mut s = LineSplitter::new(cap);
            for chunk in &chunks {
                for line in s.push(chunk) {
                    prop_assert!(line.len() <= cap, "{} > {cap}", line.len());
                    prop_assert!(!line.trim().is_empty());
                    prop_assert!(line.bytes().all(|b| (0x20..=0x7e).contains(&b)));
                }
            }
        }

        /// Splitting the stream differently never changes the lines.
        #[test]
        fn chunking_does_not_change_the_lines(
            bytes in proptest::collection::vec(any::<u8>(), 0..300),
            cuts in proptest::collection::vec(0usize..300, 0..8),
        ) {
            let whole = LineSplitter::default().push(&bytes);
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(bytes.len())).collect();
            cuts.sort_unstable();
            let mut s = LineSplitter::default();
            let mut got = Vec::new();
            let mut from = 0;
            for c in cuts.into_iter().chain([bytes.len()]) {
                got.extend(s.push(&bytes[from..c]));
                from = c;
            }
            prop_assert_eq!(got, whole);
        }
    }
}
