//! `tcp://HOST:PORT`: a network printer's raw port.

use std::io::{self, Write};
use std::net::{Shutdown, TcpStream, ToSocketAddrs};
use std::time::Duration;

use super::status::{query_realtime_status, ready_or_error, status_timeout};
use super::{is_timeout, nonzero, reason, DeviceState, Transport};
use crate::PrinterError;

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
    /// Connects to nothing yet. `timeout` bounds the connect and each write
    /// (0 counts as 1 ms).
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

#[cfg(test)]
mod tests {
    use super::super::status::{DLE, EOT};
    use super::*;
    use crate::escpos::{EscPosEncoder, EuroStyle, PrinterProfile};
    use crate::printer::{open_printer, EscPosPrinter, Printer, DEFAULT_TIMEOUT};
    use crate::Document;
    use pos_config::PrinterDevice;
    use std::io::Read;
    use std::net::TcpListener;
    use std::thread;
    use std::time::Instant;

    fn doc() -> Document {
        Document::new().text("Però € 1,00")
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
}
