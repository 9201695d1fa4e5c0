//! What a printer says about itself: the real-time status bytes of
//! ESC/POS (`DLE EOT n`) and the IEEE 1284 status byte of a USB `lp`
//! device, mapped to a [`DeviceState`], and the error that tells the
//! technician what to do about a state that cannot print.

use std::io::{self, Read, Write};
use std::time::Duration;

use super::{is_timeout, nonzero, DeviceState};
use crate::PrinterError;

pub(super) const DLE: u8 = 0x10;
pub(super) const EOT: u8 = 0x04;

/// A real-time status byte has bits 1 and 4 set and bits 0 and 7 clear.
pub(super) fn valid_status(b: u8) -> bool {
    b & 0x93 == 0x12
}

/// The answers to `DLE EOT 1` (printer), `2` (offline cause) and `4` (roll
/// paper sensor) to a state. Invalid or missing answers are ignored.
pub(super) fn state_from_status(
    printer: Option<u8>,
    offline: Option<u8>,
    paper: Option<u8>,
) -> DeviceState {
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
pub(super) fn query_realtime_status<S: Read + Write>(
    stream: &mut S,
) -> io::Result<Option<DeviceState>> {
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
pub(super) fn status_timeout(timeout: Duration) -> Duration {
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

/// IEEE 1284 status lines: 0x20 paper empty, 0x10 selected, 0x08 no error.
pub(super) fn state_from_lp_status(status: u8) -> DeviceState {
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
}
