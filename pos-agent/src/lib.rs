//! pos-agent: the counter agent.
//!
//! Where to start: `counter.rs` (the life of a transaction), then
//! `store/` (`mod.rs` says why one SQLite database; `transactions.rs`
//! commits a payment with its journal entry, outbox entries and print job,
//! durable before it is acknowledged), then `sync.rs` (how the outbox
//! reaches the backend exactly once).
//!
//! The rooms: `api/` (the local HTTP API, one file per resource),
//! `printing/` (layouts, the durable print queue, the printer service),
//! `store/` (one file per table family), `commands/` (the technician's
//! commands; `main.rs` only parses and dispatches). ARCHITECTURE.md has the
//! code map.

pub mod agent;
pub mod api;
pub mod auth;
pub mod commands;
pub mod counter;
pub mod datadir;
pub mod day;
pub mod devices;
pub mod events;
mod journal_verify;
pub mod model;
pub mod printing;
pub mod runtime;
pub mod status;
pub mod store;
pub mod sync;
pub mod time_fmt;
