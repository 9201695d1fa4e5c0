//! Device addresses as typed values: a device string from the config is parsed
//! once, here, and every other crate receives a value that is known to be valid.
//!
//! ```text
//! printer:      tcp://HOST:PORT | serial:/dev/ttyUSB0?baud=19200 | usb:/dev/usb/lpN | file:PATH | none
//! camera:       index:N | v4l:/dev/videoN | dir:PATH | none
//! card_reader:  serial:/dev/ttyACM0?baud=9600 | none
//! ```

use std::fmt;
use std::path::PathBuf;

/// Where the receipt printer is attached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrinterDevice {
    /// A network printer (raw TCP, usually port 9100).
    Tcp {
        /// Host name or IP address (IPv6 without its `[]`).
        host: String,
        /// TCP port, 1 to 65535; required in the string.
        port: u16,
    },
    /// A serial printer.
    Serial {
        /// The port's device node, e.g. `/dev/ttyUSB0`.
        path: PathBuf,
        /// Bits per second from `?baud=N`; 19200 when not given.
        baud: u32,
    },
    /// The kernel's USB printer class device, `/dev/usb/lpN`.
    Usb {
        /// The device node, e.g. `/dev/usb/lp0`.
        path: PathBuf,
    },
    /// Raw ESC/POS bytes appended to a file (sandbox, tests).
    File {
        /// The file the bytes are appended to; created if missing.
        path: PathBuf,
    },
    /// No printer: documents are logged and dropped.
    None,
}

/// Where camera frames come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CameraDevice {
    /// The Nth camera the OS reports.
    Index(u32),
    /// A V4L2 device node.
    V4l {
        /// The device node, e.g. `/dev/video0`.
        path: PathBuf,
    },
    /// A directory watched for new PNG/JPEG files (sandbox, tests).
    Dir {
        /// The directory watched; files already there are skipped.
        path: PathBuf,
    },
    /// No camera.
    None,
}

/// Where the card / barcode reader is attached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CardReaderDevice {
    /// A serial port.
    Serial {
        /// The port's device node, e.g. `/dev/ttyACM0`.
        path: PathBuf,
        /// Bits per second from `?baud=N`; 9600 when not given.
        baud: u32,
    },
    /// No card reader.
    None,
}

/// Why a device string was refused: the text says what is allowed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceParseError(pub String);

impl fmt::Display for DeviceParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for DeviceParseError {}

const PRINTER_ALLOWED: &str =
    "tcp://HOST:9100, serial:/dev/ttyUSB0?baud=19200, usb:/dev/usb/lp0, file:PATH or none";
const CAMERA_ALLOWED: &str = "index:N, v4l:/dev/videoN, dir:PATH or none";
const CARD_READER_ALLOWED: &str = "serial:/dev/ttyACM0?baud=9600 or none";

impl PrinterDevice {
    /// The accepted forms, for help texts and error messages.
    pub const ALLOWED: &'static str = PRINTER_ALLOWED;
}

impl CameraDevice {
    /// The accepted forms, for help texts and error messages.
    pub const ALLOWED: &'static str = CAMERA_ALLOWED;
}

impl CardReaderDevice {
    /// The accepted forms, for help texts and error messages.
    pub const ALLOWED: &'static str = CARD_READER_ALLOWED;
}

fn non_empty_path(rest: &str, allowed: &str) -> Result<PathBuf, DeviceParseError> {
    if rest.is_empty() {
        return Err(DeviceParseError(format!(
            "the path is empty; expected {allowed}"
        )));
    }
    Ok(PathBuf::from(rest))
}

/// `path?baud=N` → (path, baud).
fn serial_parts(
    rest: &str,
    default_baud: u32,
    allowed: &str,
) -> Result<(PathBuf, u32), DeviceParseError> {
    let (path, query) = match rest.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (rest, None),
    };
    let path = non_empty_path(path, allowed)?;
    let mut baud = default_baud;
    if let Some(query) = query {
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            match pair.split_once('=') {
                Some(("baud", v)) => {
                    baud = v.parse::<u32>().ok().filter(|b| *b > 0).ok_or_else(|| {
                        DeviceParseError(format!(
                            "baud `{v}` is not a positive whole number (e.g. 9600, 19200, 115200)"
                        ))
                    })?;
                }
                _ => {
                    return Err(DeviceParseError(format!(
                        "unknown option `{pair}`; the only option is baud=N"
                    )))
                }
            }
        }
    }
    Ok((path, baud))
}

impl std::str::FromStr for PrinterDevice {
    type Err = DeviceParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s == "none" {
            return Ok(PrinterDevice::None);
        }
        if let Some(rest) = s.strip_prefix("tcp://") {
            let (host, port) = rest.rsplit_once(':').ok_or_else(|| {
                DeviceParseError(format!("`{s}` has no port; write tcp://HOST:9100"))
            })?;
            let port = port.parse::<u16>().ok().filter(|p| *p > 0).ok_or_else(|| {
                DeviceParseError(format!("port `{port}` is not a number from 1 to 65535"))
            })?;
            // `[::1]` is how an IPv6 address is written next to a port.
            let host = match host.strip_prefix('[') {
                Some(inner) => inner.strip_suffix(']').ok_or_else(|| {
                    DeviceParseError(format!(
                        "`{s}` has an unclosed `[`; write tcp://[IPV6]:9100"
                    ))
                })?,
                None => host,
            };
            if host.is_empty() {
                return Err(DeviceParseError(format!(
                    "`{s}` has no host; write tcp://HOST:9100"
                )));
            }
            // A path, a space or a stray bracket is always a typo, never a printer's name.
            if host
                .chars()
                .any(|c| c.is_whitespace() || c.is_control() || "/?#@[]".contains(c))
            {
                return Err(DeviceParseError(format!(
                    "`{host}` is not a host name or IP address; write tcp://HOST:9100"
                )));
            }
            return Ok(PrinterDevice::Tcp {
                host: host.to_string(),
                port,
            });
        }
        if let Some(rest) = s.strip_prefix("serial:") {
            let (path, baud) = serial_parts(rest, 19200, PRINTER_ALLOWED)?;
            return Ok(PrinterDevice::Serial { path, baud });
        }
        if let Some(rest) = s.strip_prefix("usb:") {
            return Ok(PrinterDevice::Usb {
                path: non_empty_path(rest, PRINTER_ALLOWED)?,
            });
        }
        if let Some(rest) = s.strip_prefix("file:") {
            return Ok(PrinterDevice::File {
                path: non_empty_path(rest, PRINTER_ALLOWED)?,
            });
        }
        Err(DeviceParseError(format!(
            "`{s}` is not a printer device; expected {PRINTER_ALLOWED}"
        )))
    }
}

impl std::str::FromStr for CameraDevice {
    type Err = DeviceParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s == "none" {
            return Ok(CameraDevice::None);
        }
        if let Some(rest) = s.strip_prefix("index:") {
            let n = rest.parse::<u32>().map_err(|_| {
                DeviceParseError(format!(
                    "`{rest}` is not a camera number (index:0, index:1, ...)"
                ))
            })?;
            return Ok(CameraDevice::Index(n));
        }
        if let Some(rest) = s.strip_prefix("v4l:") {
            return Ok(CameraDevice::V4l {
                path: non_empty_path(rest, CAMERA_ALLOWED)?,
            });
        }
        if let Some(rest) = s.strip_prefix("dir:") {
            return Ok(CameraDevice::Dir {
                path: non_empty_path(rest, CAMERA_ALLOWED)?,
            });
        }
        Err(DeviceParseError(format!(
            "`{s}` is not a camera device; expected {CAMERA_ALLOWED}"
        )))
    }
}

impl std::str::FromStr for CardReaderDevice {
    type Err = DeviceParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s == "none" {
            return Ok(CardReaderDevice::None);
        }
        if let Some(rest) = s.strip_prefix("serial:") {
            let (path, baud) = serial_parts(rest, 9600, CARD_READER_ALLOWED)?;
            return Ok(CardReaderDevice::Serial { path, baud });
        }
        Err(DeviceParseError(format!(
            "`{s}` is not a card reader device; expected {CARD_READER_ALLOWED}"
        )))
    }
}

impl fmt::Display for PrinterDevice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // An IPv6 address needs brackets, or its colons would be read as the port.
            PrinterDevice::Tcp { host, port } if host.contains(':') => {
                write!(f, "tcp://[{host}]:{port}")
            }
            PrinterDevice::Tcp { host, port } => write!(f, "tcp://{host}:{port}"),
            PrinterDevice::Serial { path, baud } => {
                write!(f, "serial:{}?baud={baud}", path.display())
            }
            PrinterDevice::Usb { path } => write!(f, "usb:{}", path.display()),
            PrinterDevice::File { path } => write!(f, "file:{}", path.display()),
            PrinterDevice::None => f.write_str("none"),
        }
    }
}

impl fmt::Display for CameraDevice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CameraDevice::Index(n) => write!(f, "index:{n}"),
            CameraDevice::V4l { path } => write!(f, "v4l:{}", path.display()),
            CameraDevice::Dir { path } => write!(f, "dir:{}", path.display()),
            CameraDevice::None => f.write_str("none"),
        }
    }
}

impl fmt::Display for CardReaderDevice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CardReaderDevice::Serial { path, baud } => {
                write!(f, "serial:{}?baud={baud}", path.display())
            }
            CardReaderDevice::None => f.write_str("none"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printer_devices_parse_and_round_trip() {
        for s in [
            "tcp://192.168.1.50:9100",
            "serial:/dev/ttyUSB0?baud=19200",
            "usb:/dev/usb/lp0",
            "file:/tmp/receipts.bin",
            "none",
        ] {
            let d: PrinterDevice = s.parse().unwrap();
            assert_eq!(d.to_string(), s);
        }
        assert_eq!(
            "serial:/dev/ttyS0".parse::<PrinterDevice>().unwrap(),
            PrinterDevice::Serial {
                path: "/dev/ttyS0".into(),
                baud: 19200
            }
        );
    }

    #[test]
    fn bad_printer_devices_say_what_is_allowed() {
        let e = "lpt1".parse::<PrinterDevice>().unwrap_err();
        assert!(e.0.contains("tcp://HOST:9100"), "{e}");
        assert!("tcp://host".parse::<PrinterDevice>().is_err());
        assert!("tcp://host:99999".parse::<PrinterDevice>().is_err());
        assert!("serial:/dev/ttyUSB0?baud=fast"
            .parse::<PrinterDevice>()
            .is_err());
        assert!("file:".parse::<PrinterDevice>().is_err());
        assert!("tcp://a b:9100".parse::<PrinterDevice>().is_err());
        assert!("tcp://host/x:9100".parse::<PrinterDevice>().is_err());
        assert!("tcp://[::1:9100".parse::<PrinterDevice>().is_err());
    }

    #[test]
    fn ipv6_printer_hosts_keep_their_brackets() {
        let d: PrinterDevice = "tcp://[fe80::1]:9100".parse().unwrap();
        assert_eq!(
            d,
            PrinterDevice::Tcp {
                host: "fe80::1".into(),
                port: 9100
            }
        );
        assert_eq!(d.to_string(), "tcp://[fe80::1]:9100");
    }

    #[test]
    fn camera_and_card_reader_devices_parse() {
        assert_eq!(
            "index:2".parse::<CameraDevice>().unwrap(),
            CameraDevice::Index(2)
        );
        assert_eq!(
            "dir:/tmp/frames".parse::<CameraDevice>().unwrap(),
            CameraDevice::Dir {
                path: "/tmp/frames".into()
            }
        );
        assert!("index:x".parse::<CameraDevice>().is_err());
        assert_eq!(
            "serial:/dev/ttyACM0".parse::<CardReaderDevice>().unwrap(),
            CardReaderDevice::Serial {
                path: "/dev/ttyACM0".into(),
                baud: 9600
            }
        );
        assert!("usb:/dev/x".parse::<CardReaderDevice>().is_err());
    }
}
