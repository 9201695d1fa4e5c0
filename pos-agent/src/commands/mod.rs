//! The technician's commands (`pos-agent doctor`, `backup`, `journal
//! export`, ...): one file per command. `main.rs` only parses the command
//! line and calls them; the counter agent itself (`pos-agent run`) is
//! `crate::cli`.

pub mod backup;
pub mod devices;
pub mod doctor;
pub mod export;
pub mod inspect;
pub mod sandbox;
