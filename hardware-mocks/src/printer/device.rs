//! The virtual printer as a device: a TCP port and a pty that take bytes,
//! answer status queries, and the switches a test turns (offline, paper
//! out, cover open).

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use super::escpos::*;

/// The paper and the switches of one virtual printer, shared by its
/// front ends (TCP, pty) and the test that controls it.
#[derive(Default)]
struct Shared {
    /// Every byte received, status queries included.
    received: Mutex<Vec<u8>>,
    /// What reached the paper: one segment per stretch of paper, a new one
    /// after each paper out (the part printed before is torn off).
    paper: Mutex<Vec<Vec<u8>>>,
    /// Bytes thrown away because the printer could not print.
    dropped: AtomicUsize,
    /// Paper runs out after this many more printed bytes (`usize::MAX`: never).
    paper_left: AtomicUsize,
    offline: AtomicBool,
    paper_out: AtomicBool,
    cover_open: AtomicBool,
    stop: AtomicBool,
    connections: AtomicUsize,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Shared {
    fn new() -> Self {
        Shared {
            paper_left: AtomicUsize::new(usize::MAX),
            ..Shared::default()
        }
    }

    fn can_print(&self) -> bool {
        !self.paper_out.load(Ordering::SeqCst) && !self.cover_open.load(Ordering::SeqCst)
    }

    /// Bytes that arrived from the host: kept, printed when the printer
    /// can print (else dropped, as a printer that is out of paper does
    /// once its buffer is full), with `DLE EOT n` answered either way.
    /// Returns the status bytes to send back.
    fn receive(&self, data: &[u8], dle_state: &mut u8) -> Vec<u8> {
        lock(&self.received).extend_from_slice(data);
        let mut replies = Vec::new();
        let mut paper = lock(&self.paper);
        for &b in data {
            *dle_state = match (*dle_state, b) {
                (_, DLE) => 1,
                (1, 0x04) => 2,
                (2, n) => {
                    replies.push(self.status_byte(n));
                    0
                }
                _ => 0,
            };
            if !self.can_print() {
                self.dropped.fetch_add(1, Ordering::SeqCst);
                continue;
            }
            if paper.is_empty() {
                paper.push(Vec::new());
            }
            if let Some(segment) = paper.last_mut() {
                segment.push(b);
            }
            let left = self.paper_left.load(Ordering::SeqCst);
            if left != usize::MAX {
                if left <= 1 {
                    self.paper_left.store(usize::MAX, Ordering::SeqCst);
                    self.paper_out.store(true, Ordering::SeqCst);
                    paper.push(Vec::new());
                } else {
                    self.paper_left.store(left - 1, Ordering::SeqCst);
                }
            }
        }
        replies
    }

    /// The byte an Epson TM answers to `DLE EOT n`: bits 1 and 4 always
    /// set; n=1 bit 3 offline; n=2 bit 2 cover open, bit 5 paper end;
    /// n=4 bits 5-6 paper end.
    fn status_byte(&self, n: u8) -> u8 {
        let paper_out = self.paper_out.load(Ordering::SeqCst);
        let cover_open = self.cover_open.load(Ordering::SeqCst);
        let mut b = 0x12;
        match n {
            1 if paper_out || cover_open => b |= 0x08,
            2 => {
                if cover_open {
                    b |= 0x04;
                }
                if paper_out {
                    b |= 0x20;
                }
            }
            4 if paper_out => b |= 0x60,
            _ => {}
        }
        b
    }
}

/// Constructor of the virtual printer.
pub struct VirtualPrinter;

/// The controls and the paper of a virtual printer, whatever it is
/// attached by. [`RunningPrinter`] and [`SerialPrinter`] dereference to it.
pub struct PrinterControl {
    shared: Arc<Shared>,
}

/// A virtual network printer listening on [`RunningPrinter::addr`].
/// Dropping it stops it.
pub struct RunningPrinter {
    /// The bound address (the real port when 0 was asked); point
    /// `printer.device = "tcp://ADDR"` at it.
    pub addr: SocketAddr,
    control: PrinterControl,
    accept_thread: Option<JoinHandle<()>>,
}

impl VirtualPrinter {
    /// Listens on `addr` (port 0 picks a free one) and starts accepting.
    pub fn start(addr: SocketAddr) -> io::Result<RunningPrinter> {
        let listener = TcpListener::bind(addr)?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared::new());
        let thread_shared = shared.clone();
        let accept_thread = thread::Builder::new()
            .name("virtual-printer".into())
            .spawn(move || accept_loop(Some(listener), addr, &thread_shared))?;
        Ok(RunningPrinter {
            addr,
            control: PrinterControl { shared },
            accept_thread: Some(accept_thread),
        })
    }

    /// A serial printer on a new pseudo-terminal: configure the agent with
    /// `serial:{path}?baud=19200` (any baud works on a pty).
    #[cfg(unix)]
    pub fn start_serial() -> io::Result<SerialPrinter> {
        let port = crate::serial::VirtualSerial::open()?;
        let path = port.path().to_path_buf();
        let shared = Arc::new(Shared::new());
        let thread_shared = shared.clone();
        let thread = thread::Builder::new()
            .name("virtual-printer-serial".into())
            .spawn(move || serve_serial(port, &thread_shared))?;
        Ok(SerialPrinter {
            path,
            control: PrinterControl { shared },
            thread: Some(thread),
        })
    }
}

const POLL: Duration = Duration::from_millis(10);

fn accept_loop(mut listener: Option<TcpListener>, addr: SocketAddr, shared: &Arc<Shared>) {
    while !shared.stop.load(Ordering::SeqCst) {
        if shared.offline.load(Ordering::SeqCst) {
            // Closing the port makes new connections fail as "refused", as a
            // printer that is switched off does.
            listener = None;
            thread::sleep(POLL);
            continue;
        }
        let Some(l) = listener.as_ref() else {
            // Back online: listen again on the same address.
            listener = TcpListener::bind(addr)
                .and_then(|l| l.set_nonblocking(true).map(|()| l))
                .ok();
            if listener.is_none() {
                thread::sleep(POLL);
            }
            continue;
        };
        match l.accept() {
            Ok((stream, _)) => {
                let conn_shared = shared.clone();
                let spawned = thread::Builder::new()
                    .name("virtual-printer-conn".into())
                    .spawn(move || serve_connection(stream, &conn_shared));
                if let Err(e) = spawned {
                    tracing::warn!(error = %e, "virtual printer cannot spawn a connection thread");
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => thread::sleep(POLL),
            Err(e) => {
                tracing::warn!(error = %e, "virtual printer accept failed");
                thread::sleep(POLL);
            }
        }
    }
}

fn serve_connection(mut stream: TcpStream, shared: &Shared) {
    shared.connections.fetch_add(1, Ordering::SeqCst);
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(POLL * 2));
    let mut buf = [0u8; 4096];
    // Position in a `DLE EOT n` sequence that may be split across reads.
    let mut dle_state = 0u8;
    loop {
        if shared.stop.load(Ordering::SeqCst) || shared.offline.load(Ordering::SeqCst) {
            let _ = stream.shutdown(Shutdown::Both);
            return;
        }
        match stream.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => {
                let replies = shared.receive(&buf[..n], &mut dle_state);
                if !replies.is_empty() && stream.write_all(&replies).is_err() {
                    return;
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return,
        }
    }
}

/// The serial front end: reads what the driver writes to the pty, answers
/// status queries on it. Offline, it reads and drops everything without
/// answering, as a printer that is switched off (the line stays there).
#[cfg(unix)]
fn serve_serial(mut port: crate::serial::VirtualSerial, shared: &Shared) {
    let mut dle_state = 0u8;
    while !shared.stop.load(Ordering::SeqCst) {
        let data = match port.receive(POLL * 2) {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(error = %e, "virtual serial printer read failed");
                thread::sleep(POLL);
                continue;
            }
        };
        if data.is_empty() || shared.offline.load(Ordering::SeqCst) {
            continue;
        }
        let replies = shared.receive(&data, &mut dle_state);
        if !replies.is_empty() {
            if let Err(e) = port.send(&replies) {
                tracing::warn!(error = %e, "virtual serial printer write failed");
            }
        }
    }
}

impl PrinterControl {
    /// Every byte received so far, status queries included.
    pub fn bytes(&self) -> Vec<u8> {
        lock(&self.shared.received).clone()
    }

    /// The bytes that reached the paper, segment by segment.
    pub fn paper(&self) -> Vec<Vec<u8>> {
        lock(&self.shared.paper).clone()
    }

    /// The documents on the paper so far ([`render_text`] of each stretch
    /// of paper). A document the paper ran out in the middle of comes out
    /// with `cut == false`.
    pub fn documents(&self) -> Vec<RenderedDocument> {
        self.paper().iter().flat_map(|s| render_text(s)).collect()
    }

    /// The documents that were printed whole (ended with a cut).
    pub fn cut_documents(&self) -> Vec<RenderedDocument> {
        self.documents().into_iter().filter(|d| d.cut).collect()
    }

    /// How many bytes were dropped because the printer could not print.
    pub fn dropped(&self) -> usize {
        self.shared.dropped.load(Ordering::SeqCst)
    }

    /// Forgets the bytes received and printed so far.
    pub fn clear(&self) {
        lock(&self.shared.received).clear();
        lock(&self.shared.paper).clear();
    }

    /// Offline: the TCP port is closed (connections refused) and open
    /// connections are dropped; on a serial line nothing answers. Online
    /// again: it listens on the same address.
    pub fn set_offline(&self, offline: bool) {
        self.shared.offline.store(offline, Ordering::SeqCst);
    }

    /// Paper out: still reachable and answering `DLE EOT` (paper end), but
    /// what it receives is not printed. Paper back: a new stretch of paper.
    pub fn set_paper_out(&self, paper_out: bool) {
        if !paper_out {
            self.shared.paper_left.store(usize::MAX, Ordering::SeqCst);
            lock(&self.shared.paper).push(Vec::new());
        }
        self.shared.paper_out.store(paper_out, Ordering::SeqCst);
    }

    /// The paper runs out after `bytes` more printed bytes: in the middle
    /// of the next document, when it is longer.
    pub fn set_paper_out_after(&self, bytes: usize) {
        self.shared.paper_left.store(bytes.max(1), Ordering::SeqCst);
    }

    /// Cover open: like paper out, but `DLE EOT 2` says cover open.
    pub fn set_cover_open(&self, open: bool) {
        self.shared.cover_open.store(open, Ordering::SeqCst);
    }

    /// Whether the paper is out now (also after [`Self::set_paper_out_after`] ran out).
    pub fn is_paper_out(&self) -> bool {
        self.shared.paper_out.load(Ordering::SeqCst)
    }

    /// How many connections were accepted so far.
    pub fn connections(&self) -> usize {
        self.shared.connections.load(Ordering::SeqCst)
    }
}

impl std::ops::Deref for RunningPrinter {
    type Target = PrinterControl;
    fn deref(&self) -> &PrinterControl {
        &self.control
    }
}

impl RunningPrinter {
    /// `tcp://127.0.0.1:PORT`, as `printer.device` spells it.
    pub fn device(&self) -> String {
        format!("tcp://{}", self.addr)
    }

    /// Stops listening and drops the connections.
    pub fn shutdown(mut self) {
        self.stop_and_join();
    }

    fn stop_and_join(&mut self) {
        self.control.shared.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.accept_thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for RunningPrinter {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}

/// A virtual serial printer on a pty ([`VirtualPrinter::start_serial`]).
/// Dropping it closes the line.
pub struct SerialPrinter {
    path: std::path::PathBuf,
    control: PrinterControl,
    thread: Option<JoinHandle<()>>,
}

impl SerialPrinter {
    /// The pty the driver opens, e.g. `/dev/pts/7`.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `serial:/dev/pts/N?baud=19200`, as `printer.device` spells it.
    pub fn device(&self) -> String {
        format!("serial:{}?baud=19200", self.path.display())
    }
}

impl std::ops::Deref for SerialPrinter {
    type Target = PrinterControl;
    fn deref(&self) -> &PrinterControl {
        &self.control
    }
}

impl Drop for SerialPrinter {
    fn drop(&mut self) {
        self.control.shared.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    fn read_exact_timeout(s: &mut TcpStream, n: usize) -> Vec<u8> {
        s.set_read_timeout(Some(Duration::from_secs(2)))
            .expect("timeout");
        let mut v = vec![0u8; n];
        s.read_exact(&mut v).expect("status reply");
        v
    }

    fn wait_for(mut f: impl FnMut() -> bool) {
        for _ in 0..300 {
            if f() {
                return;
            }
            thread::sleep(Duration::from_millis(10));
        }
        panic!("condition not reached in 3 s");
    }

    #[test]
    fn virtual_printer_receives_answers_status_and_goes_offline() {
        let printer = VirtualPrinter::start("127.0.0.1:0".parse().expect("addr")).expect("start");
        let mut s = TcpStream::connect(printer.addr).expect("connect");
        s.write_all(b"ciao\n").expect("write");
        s.write_all(&[GS, b'V', 0]).expect("write");
        s.write_all(&[DLE, 0x04, 4]).expect("write");
        assert_eq!(read_exact_timeout(&mut s, 1), vec![0x12]);
        printer.set_paper_out(true);
        s.write_all(&[DLE, 0x04]).expect("write");
        s.write_all(&[4]).expect("write split query");
        assert_eq!(read_exact_timeout(&mut s, 1), vec![0x72]);
        wait_for(|| printer.documents().first().is_some_and(|d| d.cut));
        assert_eq!(printer.documents()[0].lines, vec!["ciao"]);

        printer.set_offline(true);
        // The open connection is dropped and new ones are refused.
        wait_for(|| {
            let mut b = [0u8; 1];
            matches!(s.read(&mut b), Ok(0) | Err(_))
        });
        wait_for(|| TcpStream::connect(printer.addr).is_err());

        printer.set_offline(false);
        wait_for(|| TcpStream::connect(printer.addr).is_ok());
        printer.clear();
        let mut s = TcpStream::connect(printer.addr).expect("connect again");
        s.write_all(b"di nuovo\n").expect("write");
        wait_for(|| printer.bytes() == b"di nuovo\n");
        printer.shutdown();
    }
}
