//! Everything that ends on paper (or in a copy of it):
//!
//! | file | job |
//! |---|---|
//! | `receipts.rs` | the layouts of `receipts.md` (pre-receipt, receipt, duplicate, test page) as pure functions → `pos_drivers::Document` |
//! | `day_report.rs` | the printed day report, from the report a closure stored |
//! | `queue.rs` | `PrintQueue`, durable print jobs: stored with what they print, printed in order, retried until the printer takes them |
//! | `service.rs` | the printer behind a mutex, driven off the async runtime; its state and the `print` events; the printer profile the config describes |
//! | `receipt_copy.rs` | a receipt's copy from the journal as text, PNG or PDF (`receipt show`, the console's PDF) |
//!
//! The rows of `print_jobs` are in `crate::store` (`store/print_jobs.rs`).

pub mod day_report;
pub mod queue;
pub mod receipt_copy;
pub mod receipts;
pub mod service;

pub use queue::PrintQueue;
pub use service::{printer_profile, PrintService};
