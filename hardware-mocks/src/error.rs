//! The one error type of this crate.

use std::path::PathBuf;

/// Errors of the mocks' own API (the HTTP errors the mock backend answers are
/// data, not Rust errors, and live in `backend`).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A fault description sent to `POST /_mock/faults` (or parsed elsewhere)
    /// that does not name a known fault or lacks a field it needs.
    #[error("invalid fault specification: {0}")]
    InvalidFault(String),
    /// Writing a rendered printer document failed.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file that was being written (text or PNG rendering).
        path: PathBuf,
        /// The underlying failure.
        #[source]
        source: std::io::Error,
    },
}
