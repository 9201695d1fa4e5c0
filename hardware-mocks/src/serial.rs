//! Virtual serial devices on pseudo-terminal pairs, so the real `serialport`
//! drivers can be tested without hardware: the driver opens the slave side
//! by its path (`/dev/pts/N`) exactly as it would open `/dev/ttyACM0`, and
//! the test plays the device on the master side.
//!
//! ```text
//! test ── VirtualSerial (master fd) ══ pty ══ /dev/pts/N ── driver (serialport)
//! ```
//!
//! [`VirtualCardReader`] plays a magnetic-stripe / Code 39 reader: a Tessera
//! Sanitaria swipe (track 1 then track 2), a barcode read, garbage bytes,
//! a line cut in two writes, with CR, LF or CRLF endings.
//!
//! Dropping the device (or [`VirtualSerial::unplug`]) closes the master,
//! which the driver sees as a hang-up, like a USB reader being pulled out;
//! the slave path then disappears.
//!
//! ```no_run
//! use hardware_mocks::serial::{Tessera, VirtualCardReader};
//!
//! let mut reader = VirtualCardReader::open()?;
//! // configure the agent with format!("serial:{}", reader.path().display()), then:
//! reader.swipe(&Tessera::demo())?;
//! # Ok::<(), std::io::Error>(())
//! ```

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::fcntl::OFlag;
use nix::poll::{poll, PollFd, PollFlags};
use nix::pty::{grantpt, posix_openpt, ptsname_r, unlockpt};
use nix::sys::termios::{self, SetArg};

/// One pseudo-terminal pair: the master end held here, the slave end
/// reachable by [`VirtualSerial::path`].
#[derive(Debug)]
pub struct VirtualSerial {
    master: File,
    /// Kept open so that bytes written before the driver opens the path are
    /// queued for it (not lost) and the pair is not hung up in between.
    _slave: File,
    path: PathBuf,
}

impl VirtualSerial {
    /// A new pair, the slave in raw mode (no echo, no CR/LF translation:
    /// bytes arrive exactly as written, like on a real serial line).
    pub fn open() -> io::Result<VirtualSerial> {
        // Both ends close-on-exec from the start (not openpty(3), whose
        // descriptors would leak into every child spawned meanwhile, such
        // as the agent under test, keeping the "cable" plugged in there).
        let master = posix_openpt(OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC)
            .map_err(io::Error::from)?;
        grantpt(&master).map_err(io::Error::from)?;
        unlockpt(&master).map_err(io::Error::from)?;
        let path = PathBuf::from(ptsname_r(&master).map_err(io::Error::from)?);
        // SAFETY: the descriptor was just taken out of its only owner.
        let master = unsafe { File::from_raw_fd(master.into_raw_fd()) };
        // std opens with O_CLOEXEC.
        let slave = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(nix::libc::O_NOCTTY)
            .open(&path)?;
        let mut t = termios::tcgetattr(slave.as_raw_fd()).map_err(io::Error::from)?;
        termios::cfmakeraw(&mut t);
        termios::tcsetattr(slave.as_raw_fd(), SetArg::TCSANOW, &t).map_err(io::Error::from)?;
        Ok(VirtualSerial {
            master,
            _slave: slave,
            path,
        })
    }

    /// The path a driver opens, e.g. `/dev/pts/7`.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Sends bytes to the driver, as the device would.
    pub fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.master.write_all(bytes)?;
        self.master.flush()
    }

    /// The bytes the driver sent to the device within `wait` (returns as
    /// soon as some arrived; empty when none did).
    pub fn receive(&mut self, wait: Duration) -> io::Result<Vec<u8>> {
        let ms = i32::try_from(wait.as_millis()).unwrap_or(i32::MAX);
        let mut fds = [PollFd::new(self.master.as_raw_fd(), PollFlags::POLLIN)];
        let ready = poll(&mut fds, ms).map_err(io::Error::from)?;
        if ready == 0 {
            return Ok(Vec::new());
        }
        let mut buf = vec![0u8; 4096];
        let n = self.master.read(&mut buf)?;
        buf.truncate(n);
        Ok(buf)
    }

    /// Pulls the cable: closes both ends. The driver's next read fails and
    /// the path goes away.
    pub fn unplug(self) {
        drop(self);
    }
}

impl Write for VirtualSerial {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.master.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.master.flush()
    }
}

/// How the reader ends each read (readers can be set to any of these).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LineEnding {
    /// `\r`, the factory setting of most magnetic-stripe readers.
    #[default]
    Cr,
    /// `\n`.
    Lf,
    /// `\r\n`, usual for barcode scanners.
    CrLf,
}

impl LineEnding {
    /// The terminator the virtual reader appends to each read.
    pub fn bytes(self) -> &'static [u8] {
        match self {
            LineEnding::Cr => b"\r",
            LineEnding::Lf => b"\n",
            LineEnding::CrLf => b"\r\n",
        }
    }
}

/// What is printed and encoded on a Tessera Sanitaria, as far as a reader
/// sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tessera {
    /// The holder's codice fiscale (16 characters).
    pub fiscal_code: String,
    /// Surname in capitals, as on track 1.
    pub surname: String,
    /// Given name in capitals, as on track 1.
    pub name: String,
    /// The 20-digit card number, starting `80380`.
    pub card_number: String,
    /// Expiry as `YYMM`.
    pub expiry: String,
}

impl Tessera {
    /// Mario Rossi's card; his fiscal code is the mock backend's demo payer
    /// ([`crate::demo::PAYER_FISCAL_CODE`]).
    pub fn demo() -> Tessera {
        Tessera {
            fiscal_code: crate::demo::PAYER_FISCAL_CODE.to_string(),
            surname: "ROSSI".into(),
            name: "MARIO".into(),
            card_number: "80380001800012345678".into(),
            expiry: "2912".into(),
        }
    }

    /// Track 1 as readers report it: `%B<codice fiscale><SURNAME>  <NAME>^^^?`.
    pub fn track1(&self) -> String {
        format!("%B{}{}  {}^^^?", self.fiscal_code, self.surname, self.name)
    }

    /// Track 2: the card number and the expiry, `;80380...=YYMM?`.
    pub fn track2(&self) -> String {
        format!(";{}={}?", self.card_number, self.expiry)
    }
}

/// Bytes a reader sends when something goes wrong on the line: NULs, bytes
/// that are not UTF-8, an escape sequence, the `%E?` of a failed stripe
/// read, a lone UTF-8 lead byte. Two "lines" of it, neither holding a code.
pub const GARBAGE: &[u8] = b"\x00\xff\xfe\x1b[2J\x80\x81 %E?\r\xc3\x28 noise \xf0\x9f\r\n";

/// A magnetic-stripe and Code 39 reader on a virtual serial port.
#[derive(Debug)]
pub struct VirtualCardReader {
    port: VirtualSerial,
    ending: LineEnding,
}

impl VirtualCardReader {
    /// A reader on a new pty pair, ending reads with CR.
    pub fn open() -> io::Result<VirtualCardReader> {
        Ok(VirtualCardReader {
            port: VirtualSerial::open()?,
            ending: LineEnding::default(),
        })
    }

    /// Ends the following reads with `ending`.
    pub fn set_ending(&mut self, ending: LineEnding) {
        self.ending = ending;
    }

    /// The path to configure: `serial:<path>`.
    pub fn path(&self) -> &Path {
        self.port.path()
    }

    /// One swipe: track 1 then track 2, each ended, in one write (as a
    /// reader that sends both tracks does).
    pub fn swipe(&mut self, card: &Tessera) -> io::Result<()> {
        let mut bytes = card.track1().into_bytes();
        bytes.extend_from_slice(self.ending.bytes());
        bytes.extend_from_slice(card.track2().as_bytes());
        bytes.extend_from_slice(self.ending.bytes());
        self.port.send(&bytes)
    }

    /// A swipe on a reader set to send track 2 only: the card number, no
    /// fiscal code.
    pub fn swipe_track2_only(&mut self, card: &Tessera) -> io::Result<()> {
        self.send_line(&card.track2())
    }

    /// The Code 39 barcode on the back of the card, read by the scanner
    /// head: the bare fiscal code.
    pub fn scan_barcode(&mut self, card: &Tessera) -> io::Result<()> {
        self.send_line(&card.fiscal_code)
    }

    /// Any text as one read, with the current ending.
    pub fn send_line(&mut self, text: &str) -> io::Result<()> {
        let mut bytes = text.as_bytes().to_vec();
        bytes.extend_from_slice(self.ending.bytes());
        self.port.send(&bytes)
    }

    /// [`GARBAGE`].
    pub fn send_garbage(&mut self) -> io::Result<()> {
        self.port.send(GARBAGE)
    }

    /// One read delivered in two writes `pause` apart, cut after `cut`
    /// bytes (clamped): the driver must join them.
    pub fn send_split(&mut self, text: &str, cut: usize, pause: Duration) -> io::Result<()> {
        let mut bytes = text.as_bytes().to_vec();
        bytes.extend_from_slice(self.ending.bytes());
        let (a, b) = bytes.split_at(cut.min(bytes.len()));
        self.port.send(a)?;
        std::thread::sleep(pause);
        self.port.send(b)
    }

    /// Raw bytes, exactly.
    pub fn send_raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.port.send(bytes)
    }

    /// Pulls the reader out.
    pub fn unplug(self) {
        self.port.unplug();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tracks_look_like_a_real_tessera() {
        let t = Tessera::demo();
        assert_eq!(t.track1(), "%BRSSMRA85T10A562SROSSI  MARIO^^^?");
        assert_eq!(t.track2(), ";80380001800012345678=2912?");
        assert_eq!(t.card_number.len(), 20);
    }

    #[test]
    fn bytes_written_on_the_master_arrive_on_the_slave_unchanged() {
        let mut port = VirtualSerial::open().expect("pty");
        assert!(
            port.path().starts_with("/dev/pts"),
            "{}",
            port.path().display()
        );
        let mut driver = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(nix::libc::O_NOCTTY)
            .open(port.path())
            .expect("open slave path");
        port.send(b"A\r\nB\xff\x00").expect("send");
        let mut got = [0u8; 6];
        driver.read_exact(&mut got).expect("read");
        assert_eq!(&got, b"A\r\nB\xff\x00", "raw mode: no CR/LF translation");
        driver.write_all(b"ping").expect("write");
        let back = port.receive(Duration::from_secs(5)).expect("receive");
        assert_eq!(back, b"ping");
    }

    #[test]
    fn unplug_removes_the_path_and_hangs_up_the_driver() {
        let port = VirtualSerial::open().expect("pty");
        let path = port.path().to_path_buf();
        // A child started meanwhile (like the agent under test) must not
        // inherit the master, or the cable would stay plugged in there.
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .expect("spawn a child");
        let mut driver = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(nix::libc::O_NOCTTY)
            .open(&path)
            .expect("open slave path");
        port.unplug();
        let mut buf = [0u8; 8];
        // Linux answers EIO (or end of file) on a hung-up terminal.
        match driver.read(&mut buf) {
            Ok(n) => assert_eq!(n, 0),
            Err(e) => assert_eq!(e.raw_os_error(), Some(nix::libc::EIO), "{e}"),
        }
        drop(driver);
        let gone = !path.exists();
        let _ = child.kill();
        let _ = child.wait();
        assert!(gone, "{} still exists", path.display());
    }
}
