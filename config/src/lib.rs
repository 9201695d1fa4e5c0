//! The pos-agent configuration: `config.toml` as typed values.
//!
//! One file configures a counter (see `config-and-cli.md`). It is parsed
//! once, here, into a [`Config`] whose values are already checked, so the
//! rest of the agent never re-validates a device string or a URL. Errors are
//! written for the technician at the counter: one line naming the file, the
//! dotted key, the bad value and what is allowed.
//!
//! ```
//! use pos_config::{Config, PaperWidth};
//!
//! let config = Config::parse(
//!     r#"
//!     [backend]
//!     url = "https://servizi-scuola.comune.example/api/"
//!     [printer]
//!     paper_width_mm = 58
//!     "#,
//!     "config.toml",
//! )?;
//! assert_eq!(config.backend.url, "https://servizi-scuola.comune.example/api");
//! assert_eq!(config.printer.paper_width_mm, PaperWidth::Mm58);
//! assert_eq!(config.printer.paper_width_mm.columns(), 32);
//!
//! let err = Config::parse("[printer]\npaper_width_mm = 70\n", "config.toml").unwrap_err();
//! assert_eq!(err.key(), Some("printer.paper_width_mm"));
//! assert_eq!(err.to_string(), "config.toml: printer.paper_width_mm = 70 is not allowed; use 58 or 80");
//! # Ok::<(), pos_config::ConfigError>(())
//! ```

#![warn(missing_docs)]

pub mod device;
mod error;
mod model;
mod parse;
mod render;
mod validate;

use std::ffi::OsString;
use std::io;
use std::path::{Path, PathBuf};

pub use device::{CameraDevice, CardReaderDevice, DeviceParseError, PrinterDevice};
pub use error::ConfigError;
pub use model::{
    ApiConfig, BackendConfig, BackupConfig, CameraConfig, CardReaderConfig, CodePage, Config,
    DrawerConfig, DrawerKick, EuroMode, FeesConfig, LogConfig, LogFormat, OfflineConfig,
    PaperWidth, PrinterConfig, SecurityConfig, TerminalConfig,
};

/// Where the config is read from when neither `--config` nor
/// [`CONFIG_ENV`] says otherwise.
pub const DEFAULT_CONFIG_PATH: &str = "/etc/pos-agent/config.toml";

/// The environment variable that names the config file.
pub const CONFIG_ENV: &str = "POS_AGENT_CONFIG";

/// A complete, commented example configuration: every key, what it does and
/// what is allowed. It parses and validates; `pos-agent config init` writes
/// it. The same text is shipped as `config/examples/config.toml`.
pub const EXAMPLE: &str = include_str!("../examples/config.toml");

/// The config file to use: `--config FILE` if given, else
/// `$POS_AGENT_CONFIG` if set and not empty, else
/// `/etc/pos-agent/config.toml`.
pub fn config_path(cli: Option<&Path>) -> PathBuf {
    resolve_path(cli, std::env::var_os(CONFIG_ENV))
}

fn resolve_path(cli: Option<&Path>, env: Option<OsString>) -> PathBuf {
    if let Some(path) = cli {
        return path.to_path_buf();
    }
    match env {
        Some(value) if !value.is_empty() => PathBuf::from(value),
        _ => PathBuf::from(DEFAULT_CONFIG_PATH),
    }
}

impl Config {
    /// Reads, parses and validates the file at `path`; messages name it as
    /// given.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let origin = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|e| ConfigError::Read {
            path: origin.clone(),
            kind: e.kind(),
            reason: e.to_string(),
        })?;
        let text = String::from_utf8(bytes).map_err(|e| {
            let (line, column) = parse::line_column(
                &String::from_utf8_lossy(e.as_bytes()),
                e.utf8_error().valid_up_to(),
            );
            ConfigError::Read {
                path: origin.clone(),
                kind: io::ErrorKind::InvalidData,
                reason: format!(
                    "the file is not UTF-8 text (first bad byte at line {line}, column {column}); \
                     save it as UTF-8"
                ),
            }
        })?;
        Config::parse(&text, &origin)
    }

    /// Parses and validates TOML text. `origin` names the text in messages
    /// (usually the file name).
    pub fn parse(text: &str, origin: &str) -> Result<Config, ConfigError> {
        parse::parse(text, origin)
    }
}

#[cfg(test)]
mod tests;
