//! Counter hardware behind small traits: the receipt printer and the cash
//! drawer it drives.
//!
//! Code map:
//!
//! - [`document`]: what a receipt is ([`Document`], [`Block`]), built by a
//!   pure layout function elsewhere; knows nothing of printers.
//! - [`escpos`]: a document to ESC/POS bytes for one paper width and code
//!   page ([`EscPosEncoder`], [`encode_cp858`]); pure and deterministic.
//! - [`printer`]: the [`Printer`] trait the agent talks to, the byte
//!   [`Transport`] trait and [`open_printer`] which picks one from the
//!   configured [`PrinterDevice`] (`printer/mod.rs`); status bytes to
//!   states (`printer/status.rs`); one file per transport (`file.rs`,
//!   `tcp.rs`, `serial.rs`, `usb.rs`); and [`printer::expect`], a transport
//!   built from the exchanges a test expects, for driver tests without a
//!   socket.
//! - [`drawer`]: the cash drawer, kicked through the printer.
//! - [`camera`]: frame sources (V4L2 webcam, `dir:`), grayscale frames, the
//!   QR decoding pipeline around rqrr, and the debounce.
//! - [`card_reader`]: the serial card / barcode reader: bytes to lines
//!   ([`card_reader::LineSplitter`]), [`card_reader::SerialCardReader`].
//!
//! Architecture invariant: this crate knows nothing of HTTP, the backend or
//! the journal; it only moves bytes to devices and says what state they are
//! in.

#![warn(missing_docs)]

use std::path::PathBuf;
use std::time::Duration;

pub mod camera;
pub mod card_reader;
pub mod document;
pub mod drawer;
pub mod escpos;
pub mod layout;
pub mod printer;

pub use document::{Align, Block, Document, TextSize};
pub use drawer::{kick_drawer, DrawerKick};
pub use escpos::{encode_cp858, encode_drawer_kick, EscPosEncoder, EuroStyle, PrinterProfile};
pub use pos_config::PrinterDevice;
pub use printer::{
    open_printer, DeviceState, EscPosPrinter, FileTransport, NullPrinter, Printer, SerialTransport,
    TcpTransport, Transport, UsbLpTransport, DEFAULT_TIMEOUT,
};

/// Why the printer could not do what was asked. Every message names the
/// device as the configuration spells it (`tcp://10.0.0.5:9100`,
/// `usb:/dev/usb/lp0`, ...) and says what to check, because it ends up in
/// `pos-agent doctor` and in the technician's log.
#[derive(Debug, thiserror::Error)]
pub enum PrinterError {
    /// Could not connect or open: power, cable, network, wrong address.
    #[error(
        "printer {device} is not reachable: {reason} (timeout {}); check the cable and that the printer is on",
        human_duration(.timeout)
    )]
    Unreachable {
        /// The printer as the configuration spells it.
        device: String,
        /// What went wrong, e.g. `connection refused`.
        reason: String,
        /// The transport's I/O timeout.
        timeout: Duration,
    },
    /// The device file exists but this user may not open it.
    #[error(
        "printer {device}: permission denied opening {}; add the user to the {group} group (sudo usermod -aG {group} USER) and log in again",
        .path.display()
    )]
    PermissionDenied {
        /// The printer as the configuration spells it.
        device: String,
        /// The device node that could not be opened.
        path: PathBuf,
        /// The group that owns such nodes (`lp`, `dialout`), named in the fix.
        group: &'static str,
    },
    /// Another program (often CUPS) holds the device.
    #[error("printer {device} is in use by another program; stop it (e.g. CUPS) or wait")]
    InUse {
        /// The printer as the configuration spells it.
        device: String,
    },
    /// Connected, but the printer stopped taking bytes.
    #[error(
        "printer {device} stopped accepting data (timeout {}); check the paper, the cover and the error light",
        human_duration(.timeout)
    )]
    Stalled {
        /// The printer as the configuration spells it.
        device: String,
        /// The transport's I/O timeout, which ran out.
        timeout: Duration,
    },
    /// The printer reported that it has no paper.
    #[error("printer {device} is out of paper; load a new roll")]
    PaperOut {
        /// The printer as the configuration spells it.
        device: String,
    },
    /// The printer reported that its cover is open.
    #[error("printer {device} has its cover open; close it")]
    CoverOpen {
        /// The printer as the configuration spells it.
        device: String,
    },
    /// The printer reported that it cannot print now (offline after an
    /// error, busy, a mechanical fault).
    #[error("printer {device} reports {state}; check its lights and the paper, then switch it off and on")]
    NotReady {
        /// The printer as the configuration spells it.
        device: String,
        /// The state its status bytes reported.
        state: DeviceState,
    },
    /// Any other I/O failure.
    #[error("printer {device}: {action} failed: {source}")]
    Io {
        /// The printer as the configuration spells it.
        device: String,
        /// What was being done, e.g. `appending to the file`.
        action: &'static str,
        /// The underlying failure.
        #[source]
        source: std::io::Error,
    },
    /// The device cannot do this (e.g. raw bytes to a disabled printer).
    #[error("printer {device} cannot {what}")]
    Unsupported {
        /// The printer as the configuration spells it.
        device: String,
        /// What was asked, as a verb phrase after "cannot".
        what: &'static str,
    },
}

impl PrinterError {
    /// The device state this error means, for the agent's status report.
    pub fn device_state(&self) -> DeviceState {
        match self {
            PrinterError::Unreachable { .. } => DeviceState::Offline,
            PrinterError::PermissionDenied { .. } => DeviceState::Error,
            PrinterError::InUse { .. } | PrinterError::Stalled { .. } => DeviceState::Busy,
            PrinterError::PaperOut { .. } => DeviceState::PaperOut,
            PrinterError::CoverOpen { .. } => DeviceState::CoverOpen,
            PrinterError::NotReady { state, .. } => *state,
            PrinterError::Io { .. } | PrinterError::Unsupported { .. } => DeviceState::Error,
        }
    }

    /// The device the error is about, as the configuration spells it.
    pub fn device(&self) -> &str {
        match self {
            PrinterError::Unreachable { device, .. }
            | PrinterError::PermissionDenied { device, .. }
            | PrinterError::InUse { device }
            | PrinterError::Stalled { device, .. }
            | PrinterError::PaperOut { device }
            | PrinterError::CoverOpen { device }
            | PrinterError::NotReady { device, .. }
            | PrinterError::Io { device, .. }
            | PrinterError::Unsupported { device, .. } => device,
        }
    }
}

/// `3 s`, `1.5 s`, `250 ms`: how a timeout reads in a message.
fn human_duration(d: &Duration) -> String {
    let ms = d.as_millis();
    if ms >= 1000 && d.subsec_millis() == 0 {
        format!("{} s", ms / 1000)
    } else if ms >= 1000 {
        format!("{:.1} s", d.as_secs_f64())
    } else {
        format!("{ms} ms")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unreachable_message_names_device_reason_and_timeout() {
        let e = PrinterError::Unreachable {
            device: "tcp://10.0.0.5:9100".into(),
            reason: "connection refused".into(),
            timeout: Duration::from_secs(3),
        };
        assert_eq!(
            e.to_string(),
            "printer tcp://10.0.0.5:9100 is not reachable: connection refused (timeout 3 s); check the cable and that the printer is on"
        );
        assert_eq!(e.device_state(), DeviceState::Offline);
        assert_eq!(e.device(), "tcp://10.0.0.5:9100");
    }

    #[test]
    fn permission_message_says_which_group() {
        let e = PrinterError::PermissionDenied {
            device: "usb:/dev/usb/lp0".into(),
            path: "/dev/usb/lp0".into(),
            group: "lp",
        };
        assert!(
            e.to_string().contains("add the user to the lp group"),
            "{e}"
        );
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(human_duration(&Duration::from_secs(3)), "3 s");
        assert_eq!(human_duration(&Duration::from_millis(1500)), "1.5 s");
        assert_eq!(human_duration(&Duration::from_millis(250)), "250 ms");
    }
}
