//! pos-agent: the counter agent.
//!
//! Where to start: `counter/` (the life of a transaction: `mod.rs` loads,
//! locks, asks the backend and saves; `rules.rs` decides, including what a
//! payment is), then `store/` (`mod.rs` says why one SQLite database;
//! `transactions.rs` commits a payment with its journal entry, outbox
//! entries and print job, durable before it is acknowledged), then
//! `sync.rs` (how the outbox reaches the backend exactly once), then
//! `runtime.rs` (what runs, and how it stops).
//!
//! The rooms: `api/` (the local HTTP API, one file per resource, and its
//! errors), `printing/` (layouts, the durable print queue, the printer
//! service), `store/` (one file per table family), `devices/` (camera and
//! card reader threads, device states, the reads behind `scan_id`),
//! `commands/` (the technician's commands; `main.rs` only parses and
//! dispatches). ARCHITECTURE.md has the code map.

pub mod agent;
pub mod api;
pub mod auth;
pub mod commands;
pub mod counter;
pub mod datadir;
pub mod day;
pub mod devices;
pub mod events;
pub mod model;
pub mod printing;
pub mod runtime;
pub mod status;
pub mod store;
pub mod sync;
pub mod time_fmt;
