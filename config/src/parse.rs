//! From TOML text to a [`Config`]: the text is parsed into a `toml::Table`
//! and walked by hand, so every message can name the dotted key, echo the
//! value and say what is allowed, and so an unknown key is an error.

use std::net::SocketAddr;
use std::path::PathBuf;

use toml::{Table, Value};

use crate::error::ConfigError;
use crate::model::{defaults, CodePage, Config, DrawerKick, EuroMode, LogFormat, PaperWidth};
use crate::validate::{self, check_backend_url, invalid, quoted, Range};
use crate::{CameraDevice, CardReaderDevice, PrinterDevice};

/// The sections and their keys, in the order of the example file.
pub(crate) const SECTIONS: &[(&str, &[&str])] = &[
    ("terminal", &["shop_name", "address", "vat_number"]),
    ("backend", &["url", "timeout_ms", "ca_file"]),
    ("api", &["listen"]),
    (
        "printer",
        &[
            "device",
            "paper_width_mm",
            "code_page",
            "code_page_table",
            "euro",
        ],
    ),
    ("camera", &["device", "width", "height", "hold_off_ms"]),
    ("card_reader", &["device"]),
    ("drawer", &["kick"]),
    ("offline", &["max_transaction_cents", "max_total_cents"]),
    ("fees", &["recharge_cents", "notice_cents"]),
    ("security", &["lockout_minutes", "session_minutes"]),
    ("log", &["format", "level"]),
    ("backup", &["dir", "keep", "max_age_days"]),
];

/// Keys allowed outside any section.
pub(crate) const TOP_LEVEL_KEYS: &[&str] = &["data_dir"];

pub(crate) fn parse(text: &str, origin: &str) -> Result<Config, ConfigError> {
    // Windows editors like to start files with a byte-order mark.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let root: Table = text.parse().map_err(|e| syntax_error(origin, text, &e))?;
    refuse_unknown(origin, &root)?;

    let top = Section {
        origin,
        name: "",
        table: Some(&root),
    };
    let sec = |name: &'static str| Section {
        origin,
        name,
        table: root.get(name).and_then(Value::as_table),
    };

    let mut c = Config {
        data_dir: top
            .string("data_dir", defaults::DATA_DIR, "a directory path")?
            .into(),
        ..Config::default()
    };

    let s = sec("terminal");
    c.terminal.shop_name = s.string("shop_name", defaults::SHOP_NAME, "the shop's name")?;
    c.terminal.address = s.string("address", defaults::ADDRESS, "the shop's address")?;
    c.terminal.vat_number = match s.get("vat_number") {
        None => None,
        Some(_) => Some(
            s.string("vat_number", "", validate::VAT_NUMBER_FIX)?
                .chars()
                .filter(|c| !c.is_whitespace())
                .collect(),
        ),
    };

    let s = sec("backend");
    let url_fix = format!("the backend's address, e.g. \"{}\"", validate::URL_EXAMPLE);
    let url = s.string("url", "", &url_fix)?;
    if !url.is_empty() {
        check_backend_url(&url).map_err(|fix| invalid(origin, "backend.url", quoted(&url), fix))?;
    }
    // `/v1/...` is appended to the URL; "…/api/" would give "…/api//v1".
    c.backend.url = url.trim_end_matches('/').to_string();
    c.backend.timeout_ms = s.ranged("timeout_ms", defaults::TIMEOUT_MS, &validate::TIMEOUT_MS)?;
    c.backend.ca_file = match s.get("ca_file") {
        None => None,
        Some(_) => Some(PathBuf::from(s.string(
            "ca_file",
            "",
            "the path of a PEM file",
        )?)),
    };

    let s = sec("api");
    c.api.listen = s.parsed(
        "listen",
        c.api.listen,
        "use IP:PORT, e.g. \"127.0.0.1:7878\" (\"0.0.0.0:7878\" listens on every network)",
        |v| v.trim().parse::<SocketAddr>().map_err(|_| String::new()),
    )?;

    let s = sec("printer");
    c.printer.device = s.parsed("device", c.printer.device, PrinterDevice::ALLOWED, |v| {
        v.parse::<PrinterDevice>().map_err(|e| e.0)
    })?;
    c.printer.paper_width_mm = s.int(
        "paper_width_mm",
        PaperWidth::default(),
        validate::PAPER_WIDTH_FIX,
        PaperWidth::from_mm,
    )?;
    c.printer.code_page = s.word(
        "code_page",
        CodePage::default(),
        CodePage::ALLOWED,
        CodePage::from_word,
    )?;
    c.printer.code_page_table = s.ranged(
        "code_page_table",
        defaults::CODE_PAGE_TABLE,
        &validate::CODE_PAGE_TABLE,
    )?;
    c.printer.euro = s.word(
        "euro",
        EuroMode::default(),
        EuroMode::ALLOWED,
        EuroMode::from_word,
    )?;

    let s = sec("camera");
    c.camera.device = s.parsed("device", c.camera.device, CameraDevice::ALLOWED, |v| {
        v.parse::<CameraDevice>().map_err(|e| e.0)
    })?;
    c.camera.width = s.ranged("width", defaults::CAMERA_WIDTH, &validate::CAMERA_SIZE)?;
    c.camera.height = s.ranged("height", defaults::CAMERA_HEIGHT, &validate::CAMERA_SIZE)?;
    c.camera.hold_off_ms =
        s.ranged("hold_off_ms", defaults::HOLD_OFF_MS, &validate::HOLD_OFF_MS)?;

    let s = sec("card_reader");
    c.card_reader.device = s.parsed(
        "device",
        c.card_reader.device,
        CardReaderDevice::ALLOWED,
        |v| v.parse::<CardReaderDevice>().map_err(|e| e.0),
    )?;

    let s = sec("drawer");
    c.drawer.kick = s.word(
        "kick",
        DrawerKick::default(),
        DrawerKick::ALLOWED,
        DrawerKick::from_word,
    )?;

    let s = sec("offline");
    c.offline.max_transaction_cents = s.ranged(
        "max_transaction_cents",
        defaults::MAX_TRANSACTION_CENTS,
        &validate::OFFLINE_CENTS,
    )?;
    c.offline.max_total_cents = s.ranged(
        "max_total_cents",
        defaults::MAX_TOTAL_CENTS,
        &validate::OFFLINE_CENTS,
    )?;

    let s = sec("fees");
    c.fees.recharge_cents = s.ranged(
        "recharge_cents",
        defaults::RECHARGE_CENTS,
        &validate::FEE_CENTS,
    )?;
    c.fees.notice_cents = s.ranged("notice_cents", defaults::NOTICE_CENTS, &validate::FEE_CENTS)?;

    let s = sec("security");
    c.security.lockout_minutes = s.ranged(
        "lockout_minutes",
        defaults::LOCKOUT_MINUTES,
        &validate::MINUTES,
    )?;
    c.security.session_minutes = s.ranged(
        "session_minutes",
        defaults::SESSION_MINUTES,
        &validate::MINUTES,
    )?;

    let s = sec("log");
    c.log.format = s.word(
        "format",
        LogFormat::default(),
        LogFormat::ALLOWED,
        LogFormat::from_word,
    )?;
    c.log.level = s.string("level", defaults::LOG_LEVEL, "a level such as \"info\"")?;

    let s = sec("backup");
    c.backup.dir = match s.get("dir") {
        None => None,
        Some(_) => Some(PathBuf::from(s.string(
            "dir",
            "",
            "a directory path, e.g. \"/media/pos-backup\" (a USB stick or a mounted share)",
        )?)),
    };
    c.backup.keep = s.ranged("keep", defaults::BACKUP_KEEP, &validate::BACKUP_KEEP)?;
    c.backup.max_age_days = s.ranged(
        "max_age_days",
        defaults::BACKUP_MAX_AGE_DAYS,
        &validate::BACKUP_MAX_AGE_DAYS,
    )?;

    c.check(origin)?;
    Ok(c)
}

/// Refuses unknown sections, unknown keys, and sections written as values.
fn refuse_unknown(origin: &str, root: &Table) -> Result<(), ConfigError> {
    for (name, value) in root {
        if TOP_LEVEL_KEYS.contains(&name.as_str()) {
            continue;
        }
        let Some((section, keys)) = SECTIONS.iter().find(|(s, _)| *s == name) else {
            return Err(match value {
                Value::Table(_) => ConfigError::UnknownSection {
                    origin: origin.to_string(),
                    section: show_key(name),
                    allowed: section_list(),
                },
                _ => ConfigError::UnknownKey {
                    origin: origin.to_string(),
                    key: show_key(name),
                    scope: "the top level (before the first [section])".to_string(),
                    allowed: format!(
                        "{}; sections: {}",
                        TOP_LEVEL_KEYS.join(", "),
                        section_list()
                    ),
                },
            });
        };
        let Value::Table(table) = value else {
            return Err(invalid(
                origin,
                section,
                show(value),
                format!("[{section}] is a section: write [{section}] on a line of its own and its keys below it"),
            ));
        };
        if let Some(unknown) = table.keys().find(|k| !keys.contains(&k.as_str())) {
            return Err(ConfigError::UnknownKey {
                origin: origin.to_string(),
                key: format!("{section}.{}", show_key(unknown)),
                scope: format!("[{section}]"),
                allowed: keys.join(", "),
            });
        }
    }
    Ok(())
}

fn section_list() -> String {
    SECTIONS
        .iter()
        .map(|(s, _)| format!("[{s}]"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A key as the technician would write it; quoted if it is not a bare key,
/// so an invisible character or a newline cannot hide in the message.
fn show_key(key: &str) -> String {
    if !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        key.to_string()
    } else {
        quoted(key)
    }
}

/// A value as written in TOML, on one line.
fn show(value: &Value) -> String {
    match value {
        Value::String(s) => quoted(s),
        other => other.to_string(),
    }
}

fn syntax_error(origin: &str, text: &str, e: &toml::de::Error) -> ConfigError {
    let (line, column) = match e.span() {
        Some(span) => line_column(text, span.start),
        // Without a position, point past the end: the parser reached it.
        None => line_column(text, text.len()),
    };
    let mut message = e.message().trim().to_string();
    // "duplicate key" alone does not say which; the span holds its name.
    if message.starts_with("duplicate") {
        if let Some(name) = e
            .span()
            .and_then(|s| text.get(s))
            .filter(|n| !n.trim().is_empty())
        {
            message = format!(
                "{message} `{}` (a key or section may appear only once)",
                name.trim()
            );
        }
    }
    ConfigError::Syntax {
        origin: origin.to_string(),
        line,
        column,
        message: validate::one_line(&message),
    }
}

/// 1-based line and column (in characters) of a byte offset.
pub(crate) fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let mut line = 1;
    let mut column = 1;
    for (i, c) in text.char_indices() {
        if i >= offset {
            break;
        }
        if c == '\n' {
            line += 1;
            column = 1;
        } else {
            column += 1;
        }
    }
    (line, column)
}

/// One section of the file (or the top level, `name == ""`); a section that
/// is absent reads as all defaults.
struct Section<'a> {
    origin: &'a str,
    name: &'static str,
    table: Option<&'a Table>,
}

impl<'a> Section<'a> {
    fn get(&self, key: &str) -> Option<&'a Value> {
        self.table.and_then(|t| t.get(key))
    }

    fn dotted(&self, key: &str) -> String {
        if self.name.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.name)
        }
    }

    fn wrong(&self, key: &str, value: &Value, fix: impl Into<String>) -> ConfigError {
        invalid(self.origin, &self.dotted(key), show(value), fix)
    }

    /// A string key; `what` describes it for a value of the wrong type.
    fn string(&self, key: &str, default: &str, what: &str) -> Result<String, ConfigError> {
        match self.get(key) {
            None => Ok(default.to_string()),
            Some(Value::String(s)) => Ok(s.clone()),
            Some(v) => Err(self.wrong(key, v, format!("use text in double quotes: {what}"))),
        }
    }

    /// A string key turned into a typed value by `parse`, whose `Err` (if not
    /// empty) explains the problem; `allowed` is always added to the message.
    fn parsed<T>(
        &self,
        key: &str,
        default: T,
        allowed: &str,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Result<T, ConfigError> {
        match self.get(key) {
            None => Ok(default),
            Some(Value::String(s)) => parse(s).map_err(|why| {
                let fix = if why.is_empty() {
                    allowed.to_string()
                } else if why.contains(allowed) {
                    why
                } else {
                    format!("{why} (allowed: {allowed})")
                };
                self.wrong(key, &Value::String(s.clone()), fix)
            }),
            Some(v) => Err(self.wrong(key, v, format!("{allowed} (text in double quotes)"))),
        }
    }

    /// A key that is one word out of a fixed list.
    fn word<T>(
        &self,
        key: &str,
        default: T,
        allowed: &str,
        parse: impl Fn(&str) -> Option<T>,
    ) -> Result<T, ConfigError> {
        let fix = format!("use {allowed}");
        self.parsed(key, default, &fix, |v| {
            parse(v.trim()).ok_or_else(String::new)
        })
    }

    /// A whole-number key accepted by `accept`; `fix` says what is allowed.
    fn int<T>(
        &self,
        key: &str,
        default: T,
        fix: &str,
        accept: impl Fn(i64) -> Option<T>,
    ) -> Result<T, ConfigError> {
        match self.get(key) {
            None => Ok(default),
            Some(v @ Value::Integer(n)) => accept(*n).ok_or_else(|| self.wrong(key, v, fix)),
            Some(v) => Err(self.wrong(key, v, format!("{fix} (a whole number, without quotes)"))),
        }
    }

    /// A whole-number key within `range`, converted to the field's type.
    fn ranged<T: TryFrom<i64>>(
        &self,
        key: &str,
        default: T,
        range: &Range,
    ) -> Result<T, ConfigError> {
        self.int(key, default, &range.fix(), |n| {
            if range.allows(n) {
                T::try_from(n).ok()
            } else {
                None
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_and_column_count_characters() {
        assert_eq!(line_column("abc", 0), (1, 1));
        assert_eq!(line_column("ab\ncd", 4), (2, 2));
        assert_eq!(line_column("€x", "€".len()), (1, 2));
        assert_eq!(line_column("a\n", 99), (2, 1));
    }
}
