//! pos-agent: the counter agent.
//!
//! Start with `counter.rs` (the life of a transaction), `store.rs` (journal
//! and outbox, and why a payment is durable before it is acknowledged) and
//! `sync.rs` (how the outbox reaches the backend exactly once).

pub mod agent;
pub mod api;
pub mod auth;
pub mod camera;
pub mod card_reader;
pub mod cli;
pub mod commands;
pub mod counter;
pub mod datadir;
pub mod day;
pub mod device_state;
pub mod error;
pub mod events;
pub mod model;
pub mod printing;
pub mod scans;
pub mod store;
pub mod sync;
pub mod time_fmt;

// Modules at their old paths, for the code that names them there
// (agent.rs, cli.rs, counter.rs, the tests); new code uses the rooms'
// paths (`commands::...`, `printing::...`).
pub use commands::{backup, export, inspect};
pub use printing::{queue as print_queue, receipt_copy, receipts};
