//! pos-agent: the counter agent.
//!
//! Start with `counter.rs` (the life of a transaction), `store.rs` (journal
//! and outbox, and why a payment is durable before it is acknowledged) and
//! `sync.rs` (how the outbox reaches the backend exactly once).

pub mod agent;
pub mod api;
pub mod auth;
pub mod backup;
pub mod camera;
pub mod card_reader;
pub mod cli;
pub mod counter;
pub mod datadir;
pub mod day;
pub mod device_state;
pub mod devices;
pub mod doctor;
pub mod error;
pub mod events;
pub mod export;
pub mod inspect;
mod journal_verify;
pub mod model;
pub mod print_queue;
pub mod printing;
pub mod receipt_copy;
pub mod receipts;
pub mod records;
pub mod sandbox;
pub mod scans;
pub mod store;
pub mod sync;
pub mod time_fmt;
