//! The cash drawer. On our counters it hangs off the printer's drawer port
//! (RJ11/RJ12), so opening it is a pulse the printer sends
//! ([`Printer::open_drawer`], `ESC p 0 25 250`). `[drawer] kick = "none"` is a
//! drawer opened by hand: nothing is sent.

use crate::printer::Printer;
use crate::PrinterError;

/// `[drawer] kick`: how the drawer is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DrawerKick {
    /// A pulse through the receipt printer.
    #[default]
    Printer,
    /// Not opened by the agent.
    None,
}

/// Opens the drawer as configured. With [`DrawerKick::None`] this does
/// nothing and succeeds: the operator opens it by hand.
pub fn kick_drawer<P: Printer + ?Sized>(
    kick: DrawerKick,
    printer: &mut P,
) -> Result<(), PrinterError> {
    match kick {
        DrawerKick::Printer => printer.open_drawer(),
        DrawerKick::None => {
            tracing::debug!("drawer kick = none: not opening the drawer");
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{open_printer, EscPosEncoder, PrinterDevice, PrinterProfile};

    #[test]
    fn kick_goes_through_the_printer_only_when_configured() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("out.bin");
        let mut p = open_printer(
            &PrinterDevice::File { path: path.clone() },
            PrinterProfile::default(),
            crate::DEFAULT_TIMEOUT,
        );
        kick_drawer(DrawerKick::None, &mut p).expect("nothing to do");
        assert!(!path.exists());
        kick_drawer(DrawerKick::Printer, &mut *p).expect("kick");
        assert_eq!(
            std::fs::read(&path).expect("read"),
            crate::encode_drawer_kick()
        );
        // The kick is never part of a document.
        let doc = EscPosEncoder::new(PrinterProfile::default()).encode(&crate::Document::new());
        assert!(!doc.windows(2).any(|w| w == [0x1B, b'p']));
    }
}
