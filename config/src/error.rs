//! The one error type of this crate.
//!
//! Every message is one line a technician can act on without reading code:
//! the file, the dotted key, the bad value and what to write instead.
//!
//! ```text
//! /etc/pos-agent/config.toml: printer.paper_width_mm = 70 is not allowed; use 58 or 80
//! /etc/pos-agent/config.toml: unknown key printer.widht; allowed keys in [printer]: device, paper_width_mm, code_page, code_page_table, euro
//! /etc/pos-agent/config.toml: TOML syntax error at line 12, column 9: unclosed string, expected `"`
//! ```

use std::io;

/// Why a configuration was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read (missing, no permission, not UTF-8, ...).
    #[error("{path}: cannot read the config file: {reason}{}", read_hint(*kind))]
    Read {
        /// The file as given.
        path: String,
        /// What kind of I/O failure, so callers can tell "missing" apart.
        kind: io::ErrorKind,
        /// The operating system's explanation.
        reason: String,
    },

    /// The text is not valid TOML.
    #[error("{origin}: TOML syntax error at line {line}, column {column}: {message}")]
    Syntax {
        /// The file path (or the name given to `Config::parse`) that opens
        /// the message.
        origin: String,
        /// 1-based line of the offending character.
        line: usize,
        /// 1-based column (in characters) of the offending character.
        column: usize,
        /// The TOML parser's explanation, e.g. `unclosed string`.
        message: String,
    },

    /// A key that this version does not know, inside a known section or at
    /// the top level. Refused because a typo must not be silently ignored.
    #[error("{origin}: unknown key {key}; allowed keys in {scope}: {allowed}")]
    UnknownKey {
        /// The file path (or the name given to `Config::parse`) that opens
        /// the message.
        origin: String,
        /// Dotted, e.g. `printer.widht`.
        key: String,
        /// `[printer]`, or `the top level` for keys outside any section.
        scope: String,
        /// The keys this version knows in that scope, comma-separated.
        allowed: String,
    },

    /// A `[section]` that this version does not know.
    #[error("{origin}: unknown section [{section}]; allowed sections: {allowed}")]
    UnknownSection {
        /// The file path (or the name given to `Config::parse`) that opens
        /// the message.
        origin: String,
        /// The section name without brackets; quoted if it is not a bare
        /// key, so an invisible character shows.
        section: String,
        /// The sections this version knows: `[terminal], [backend], ...`.
        allowed: String,
    },

    /// A key whose value is of the wrong type or outside what is allowed.
    #[error("{origin}: {key} = {value} is not allowed; {fix}")]
    Invalid {
        /// The file path (or the name given to `Config::parse`) that opens
        /// the message.
        origin: String,
        /// Dotted, e.g. `printer.paper_width_mm`.
        key: String,
        /// The value as written in TOML (strings quoted), shortened if long.
        value: String,
        /// What is allowed, and why when it is not obvious.
        fix: String,
    },

    /// A key that has no usable default and was not given.
    #[error("{origin}: {key} is required; {hint}")]
    Missing {
        /// The file path (or the name given to `Config::parse`) that opens
        /// the message.
        origin: String,
        /// Dotted, e.g. `backend.url`.
        key: String,
        /// What to add and where, with an example value.
        hint: String,
    },
}

impl ConfigError {
    /// The dotted key (or section name) the error is about, if it is about
    /// one: `Some("printer.paper_width_mm")`, `Some("printer.widht")`,
    /// `Some("printerr")` for an unknown section; `None` for read and
    /// syntax errors.
    pub fn key(&self) -> Option<&str> {
        match self {
            ConfigError::Read { .. } | ConfigError::Syntax { .. } => None,
            ConfigError::UnknownKey { key, .. }
            | ConfigError::Invalid { key, .. }
            | ConfigError::Missing { key, .. } => Some(key),
            ConfigError::UnknownSection { section, .. } => Some(section),
        }
    }

    /// True when the file does not exist, so `pos-agent` can suggest
    /// `pos-agent config init` or fall back to defaults in the sandbox.
    pub fn is_not_found(&self) -> bool {
        matches!(
            self,
            ConfigError::Read {
                kind: io::ErrorKind::NotFound,
                ..
            }
        )
    }
}

fn read_hint(kind: io::ErrorKind) -> &'static str {
    match kind {
        io::ErrorKind::NotFound => {
            " (`pos-agent config init` writes a commented example; \
             --config FILE or POS_AGENT_CONFIG choose another file)"
        }
        io::ErrorKind::PermissionDenied => {
            " (the file must be readable by the user pos-agent runs as)"
        }
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_one_line_and_name_the_file_and_key() {
        let e = ConfigError::Invalid {
            origin: "/etc/pos-agent/config.toml".into(),
            key: "printer.paper_width_mm".into(),
            value: "70".into(),
            fix: "use 58 or 80".into(),
        };
        assert_eq!(
            e.to_string(),
            "/etc/pos-agent/config.toml: printer.paper_width_mm = 70 is not allowed; use 58 or 80"
        );
        assert_eq!(e.key(), Some("printer.paper_width_mm"));
    }

    #[test]
    fn a_missing_file_says_how_to_create_one() {
        let e = ConfigError::Read {
            path: "/nope.toml".into(),
            kind: io::ErrorKind::NotFound,
            reason: "No such file or directory".into(),
        };
        assert!(e.is_not_found());
        assert!(e.to_string().contains("pos-agent config init"), "{e}");
        assert_eq!(e.key(), None);
    }
}
