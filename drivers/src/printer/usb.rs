//! `usb:/dev/usb/lpN`: the kernel's USB printer class driver.

use std::fs::{File, OpenOptions};
use std::io::{self, ErrorKind, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::status::state_from_lp_status;
use super::{is_timeout, nonzero, DeviceState, Transport};
use crate::PrinterError;

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
    /// Opens nothing yet. `timeout` is the deadline for a whole document's
    /// write (0 counts as 1 ms).
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::escpos::PrinterProfile;
    use crate::printer::{open_printer, Printer, DEFAULT_TIMEOUT};
    use crate::Document;
    use pos_config::PrinterDevice;
    use std::io::Read;
    use std::path::Path;
    use std::thread;

    fn doc() -> Document {
        Document::new().text("Però € 1,00")
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
}
