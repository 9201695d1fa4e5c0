//! The bodies of the `pos-agent` subcommands, one file per command;
//! `main.rs` only parses the command line and calls them. Each returns the
//! process's exit code (an `Err` is printed as `pos-agent: ...`, exit 2).
//! What several commands share (the config, the logs, the journal opened
//! for writing or read-only) is in this file.
//!
//! | command | file |
//! |---|---|
//! | `run` | `run.rs` (opens the agent; `crate::runtime` runs it) |
//! | `sandbox` | `sandbox.rs` |
//! | `enroll` | `enroll.rs` |
//! | `operator add/list` | `operator.rs` |
//! | `config init/check` | `config.rs` |
//! | `journal verify/export` | `journal.rs`, the export in `export.rs` |
//! | `devices` | `devices.rs` |
//! | `doctor` | `doctor.rs` |
//! | `camera test/decode` | `camera.rs` |
//! | `printer test` | `printer.rs` |
//! | `inspect` | `inspect.rs` |
//! | `receipt show` | `receipt.rs` |
//! | `backup`, `restore` | `backup.rs` |

use std::path::Path;

use crate::datadir::DataDir;
use crate::store::Store;

use anyhow::anyhow;

pub mod backup;
pub mod camera;
pub mod config;
pub mod devices;
pub mod doctor;
pub mod enroll;
pub mod export;
pub mod inspect;
pub mod journal;
pub mod operator;
pub mod printer;
pub mod receipt;
pub mod run;
#[cfg(feature = "sandbox")]
pub mod sandbox;

/// `pos-agent sandbox` in a binary built without the `sandbox` feature
/// (the .deb's): it says so, exit 2.
#[cfg(not(feature = "sandbox"))]
pub mod sandbox {
    use std::net::SocketAddr;
    use std::path::Path;
    use std::process::ExitCode;

    pub fn command(_dir: &Path, _listen: SocketAddr) -> anyhow::Result<ExitCode> {
        eprintln!("pos-agent: {}", super::NO_SANDBOX);
        Ok(ExitCode::from(2))
    }
}

/// What a binary without the `sandbox` feature answers to `pos-agent sandbox`.
pub const NO_SANDBOX: &str = "this pos-agent was built without the sandbox (the service's package leaves the mock backend and devices out); to try the agent with mocks, build from the sources with the default features: cargo run --release -p pos-agent -- sandbox";

/// The log lines on standard error, at `[log] level` (or `POS_AGENT_LOG`),
/// as text or JSON (`[log] format`).
pub fn init_logging(config: &pos_config::Config) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("POS_AGENT_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(config.log.level.clone()));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match config.log.format {
        pos_config::LogFormat::Json => builder.json().try_init(),
        pos_config::LogFormat::Text => builder.try_init(),
    };
}

/// The journal of `data_dir`, opened for writing (created and migrated
/// when new).
pub fn open_store(config: &pos_config::Config) -> anyhow::Result<Store> {
    let data = DataDir::open(&config.data_dir)?;
    Ok(Store::open(&data.journal_path())?)
}

/// The journal for a read-only tool (`journal verify`/`export`, `receipt
/// show`): opened read-only, never created, nothing migrated.
pub fn open_store_read_only(
    config: &pos_config::Config,
    config_arg: Option<&Path>,
) -> anyhow::Result<Store> {
    let hint = pos_config::config_path(config_arg).display().to_string();
    backup::open_existing_read_only(&config.data_dir.join("journal.sqlite"), &hint)
}

/// The config file of `--config`, else `$POS_AGENT_CONFIG`, else the
/// system's, loaded and validated.
pub fn load_config(path: Option<&Path>) -> anyhow::Result<pos_config::Config> {
    let path = pos_config::config_path(path);
    pos_config::Config::load(&path).map_err(|e| anyhow!("{e}"))
}
