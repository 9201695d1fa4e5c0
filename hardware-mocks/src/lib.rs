//! Mocks of everything around the counter, for the sandbox and the tests.
//!
//! - [`backend`]: the municipal backend of `backend-api.md` (server side), with
//!   deterministic demo data ([`demo`]), inspection helpers and fault injection.
//! - [`printer`]: a virtual ESC/POS printer (TCP 9100, pty, file) and an interpreter that
//!   turns the bytes it received back into text, QR payloads, drawer kicks and
//!   cuts.
//! - [`camera`]: the virtual camera: seeded counter frames of a phone showing
//!   a QR, in memory or written into a `dir:PATH` camera's directory.
//! - [`serial`]: virtual serial devices on pty pairs, and a virtual card
//!   reader (Tessera Sanitaria tracks, Code 39, garbage, split lines).
//!
//! ```no_run
//! # async fn example() -> std::io::Result<()> {
//! use hardware_mocks::{demo, Fault, MockBackend, Route};
//!
//! let backend = MockBackend::with_demo_data();
//! let running = backend.serve("127.0.0.1:0".parse().unwrap()).await?;
//! // point the agent at running.url, then:
//! backend.inject(Route::prefix("/v1/recharges"), Fault::ConnectionReset, 1);
//! assert_eq!(backend.credits_for("0b7c-some-transaction"), 0);
//! # let _ = demo::MANUAL_CODE_MENSA_1;
//! running.shutdown().await;
//! # Ok(()) }
//! ```

#![warn(missing_docs)]

pub mod backend;
pub mod camera;
pub mod error;
pub mod printer;
pub mod printer_png;
#[cfg(unix)]
pub mod serial;

pub use backend::demo;
pub use backend::{
    ClosureRecord, Fault, LoggedRequest, MockBackend, NoticeOutcomeRecord, RechargeRecord, Route,
    RunningBackend,
};
pub use error::Error;
pub use printer::{
    render_file, render_text, PrinterControl, RenderedDocument, RunningPrinter, SerialPrinter,
    VirtualPrinter,
};
pub use printer_png::{render_png, write_documents_png, write_png};
