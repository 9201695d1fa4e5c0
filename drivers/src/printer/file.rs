//! `file:PATH`: the sandbox's and the tests' printer.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use super::{DeviceState, Transport};
use crate::PrinterError;

/// `file:PATH`: raw ESC/POS bytes appended to a file, for the sandbox and
/// tests. Opened per document and fsynced, so a reader sees whole documents.
#[derive(Debug, Clone)]
pub struct FileTransport {
    path: PathBuf,
}

impl FileTransport {
    /// Nothing is opened until the first write or status check; the file is
    /// created then, its directory is not.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    /// The file the bytes are appended to.
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::escpos::{encode_drawer_kick, EscPosEncoder, PrinterProfile};
    use crate::printer::{open_printer, EscPosPrinter, Printer, DEFAULT_TIMEOUT};
    use crate::Document;
    use pos_config::PrinterDevice;

    fn doc() -> Document {
        Document::new().text("Però € 1,00")
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
}
