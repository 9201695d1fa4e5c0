//! The typed configuration: one struct per TOML section, field names exactly
//! as the keys in `config-and-cli.md`. Defaults are the values of the spec's
//! example, so a file only needs the keys that differ on this counter
//! (and `backend.url`, which has no sensible default).

use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;

use crate::device::{CameraDevice, CardReaderDevice, PrinterDevice};

/// The whole `config.toml`.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// `data_dir`: journal, outbox, keys cache and terminal secret live
    /// here; default `/var/lib/pos-agent`. One agent per directory.
    pub data_dir: PathBuf,
    /// `[terminal]`.
    pub terminal: TerminalConfig,
    /// `[backend]`.
    pub backend: BackendConfig,
    /// `[api]`.
    pub api: ApiConfig,
    /// `[printer]`.
    pub printer: PrinterConfig,
    /// `[camera]`.
    pub camera: CameraConfig,
    /// `[card_reader]`.
    pub card_reader: CardReaderConfig,
    /// `[drawer]`.
    pub drawer: DrawerConfig,
    /// `[offline]`.
    pub offline: OfflineConfig,
    /// `[fees]`.
    pub fees: FeesConfig,
    /// `[security]`.
    pub security: SecurityConfig,
    /// `[log]`.
    pub log: LogConfig,
    /// `[backup]`.
    pub backup: BackupConfig,
}

/// `[terminal]`: what the receipt header says about the shop.
#[derive(Debug, Clone, PartialEq)]
pub struct TerminalConfig {
    /// `shop_name`: first line of every receipt's header; default
    /// `"Tabaccheria Rossi"` (the spec's example).
    pub shop_name: String,
    /// `address`: the header's second line; default `"Via Roma 1, Balangero"`.
    pub address: String,
    /// The shop's partita IVA (11 digits), printed in the header of every
    /// document when set. Its check digit is only warned about (see
    /// [`Config::warnings`](crate::Config::warnings)): the spec's own example
    /// value fails it, and a refused config would stop the counter.
    pub vat_number: Option<String>,
}

/// `[backend]`: the school-services backend.
#[derive(Debug, Clone, PartialEq)]
pub struct BackendConfig {
    /// Base URL without a trailing slash; `/v1/...` is appended. Empty means
    /// "not configured", which [`Config::validate`](crate::Config::validate)
    /// refuses.
    pub url: String,
    /// `timeout_ms`: per-request timeout in milliseconds, 100 to 120000;
    /// default 5000.
    pub timeout_ms: u64,
    /// Extra CA certificate (PEM) to trust, for a backend with a private CA.
    pub ca_file: Option<PathBuf>,
}

/// `[api]`: where the local API and the operator console listen.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiConfig {
    /// `listen`: address and port of the API and console; default
    /// `127.0.0.1:7878`. A non-loopback address is allowed but warned about
    /// ([`Config::warnings`](crate::Config::warnings)).
    pub listen: SocketAddr,
}

/// `[printer]`: the ESC/POS receipt printer.
#[derive(Debug, Clone, PartialEq)]
pub struct PrinterConfig {
    /// `device`: where the bytes go (`usb:`, `tcp://`, `serial:`, `file:`,
    /// `none`); default `usb:/dev/usb/lp0`.
    pub device: PrinterDevice,
    /// `paper_width_mm`: 58 or 80 (default 80); sets the columns per line.
    pub paper_width_mm: PaperWidth,
    /// `code_page`: the character set receipts are encoded to; default and
    /// only value `cp858`.
    pub code_page: CodePage,
    /// `code_page_table`: the `ESC t n` number under which *this* printer
    /// has `code_page`; models disagree (Epson: PC858 is 19, the default),
    /// hence configurable.
    pub code_page_table: u8,
    /// `euro`: `glyph` (default) or `EUR` for printers without a `€`.
    pub euro: EuroMode,
}

/// `[camera]`: the camera that reads app QR codes and notice codes.
#[derive(Debug, Clone, PartialEq)]
pub struct CameraConfig {
    /// `device`: `index:N`, `v4l:/dev/videoN`, `dir:PATH` or `none`; default
    /// `index:0`.
    pub device: CameraDevice,
    /// `width`: requested frame width in pixels, 160 to 4096; default 1280.
    /// A webcam uses the nearest size it offers.
    pub width: u32,
    /// `height`: requested frame height in pixels, 160 to 4096; default 720.
    pub height: u32,
    /// `hold_off_ms`: for how long the same decoded text is not reported
    /// again, so a code held in front of the camera produces one scan, not
    /// thirty a second; 0 to 60000 ms, default 3000.
    pub hold_off_ms: u64,
}

/// `[card_reader]`: the health-card (tessera sanitaria) reader.
#[derive(Debug, Clone, PartialEq)]
pub struct CardReaderConfig {
    /// `device`: `serial:PATH?baud=N` or `none` (default).
    pub device: CardReaderDevice,
}

/// `[drawer]`: how the cash drawer is opened.
#[derive(Debug, Clone, PartialEq)]
pub struct DrawerConfig {
    /// `kick`: `printer` (default) or `none`.
    pub kick: DrawerKick,
}

/// `[offline]`: limits for signed app tokens accepted while the backend is
/// unreachable; the risk the shop carries until the outbox is confirmed.
#[derive(Debug, Clone, PartialEq)]
pub struct OfflineConfig {
    /// `max_transaction_cents`: the most one offline payment may take,
    /// amount plus fee, in cents; default 10000. 0 refuses offline payments;
    /// never above `max_total_cents`.
    pub max_transaction_cents: i64,
    /// `max_total_cents`: the most all offline payments not yet confirmed by
    /// the backend may add up to, in cents; default 50000.
    pub max_total_cents: i64,
}

/// `[fees]`: the shop's fee added to each payment, in cents.
#[derive(Debug, Clone, PartialEq)]
pub struct FeesConfig {
    /// `recharge_cents`: fee on a balance top-up, 0 to 100000 cents;
    /// default 0.
    pub recharge_cents: i64,
    /// `notice_cents`: fee on a pagoPA notice, 0 to 100000 cents; default
    /// 100.
    pub notice_cents: i64,
}

/// `[security]`: operator login rules.
#[derive(Debug, Clone, PartialEq)]
pub struct SecurityConfig {
    /// `lockout_minutes`: how long an operator stays locked after three
    /// wrong PINs in a row; 1 to 1440, default 15.
    pub lockout_minutes: u32,
    /// `session_minutes`: inactivity after which a console session expires;
    /// 1 to 1440, default 30.
    pub session_minutes: u32,
}

/// `[backup]` (issue 17): where `pos-agent backup` writes its verified
/// copies of the journal, how many it keeps, and when `doctor` and
/// `status` call the last one too old.
#[derive(Debug, Clone, PartialEq)]
pub struct BackupConfig {
    /// A USB stick or a mounted share; `None`: `pos-agent backup --to DIR`
    /// only, and the warning says how to set it.
    pub dir: Option<PathBuf>,
    /// `keep`: copies kept (the oldest go first), 1 to 3650; default 14.
    pub keep: u32,
    /// `max_age_days`: days after which the last verified copy is too old,
    /// 1 to 365; default 2.
    pub max_age_days: u32,
}

impl Default for BackupConfig {
    fn default() -> Self {
        BackupConfig {
            dir: None,
            keep: defaults::BACKUP_KEEP,
            max_age_days: defaults::BACKUP_MAX_AGE_DAYS,
        }
    }
}

/// `[log]` (not in the spec's example): how the agent logs.
#[derive(Debug, Clone, PartialEq)]
pub struct LogConfig {
    /// `format`: `text` (default) or `json`.
    pub format: LogFormat,
    /// `level`: a `tracing` filter: a level (`info`, the default),
    /// optionally with per-module levels (`info,pos_agent=debug`).
    pub level: String,
}

/// Paper roll width; decides how many characters fit on a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum PaperWidth {
    /// 58 mm paper, 32 columns in font A.
    Mm58,
    /// 80 mm paper, 48 columns in font A.
    #[default]
    Mm80,
}

impl PaperWidth {
    /// Characters per line in the printer's standard font (font A, 12x24).
    pub fn columns(self) -> usize {
        match self {
            PaperWidth::Mm58 => 32,
            PaperWidth::Mm80 => 48,
        }
    }

    /// The width as written in the config (58 or 80).
    pub fn mm(self) -> u32 {
        match self {
            PaperWidth::Mm58 => 58,
            PaperWidth::Mm80 => 80,
        }
    }

    /// 58 or 80, anything else is `None`.
    pub fn from_mm(mm: i64) -> Option<Self> {
        match mm {
            58 => Some(PaperWidth::Mm58),
            80 => Some(PaperWidth::Mm80),
            _ => None,
        }
    }
}

/// Defines a config enum written as a word in TOML: `as_str` gives the
/// canonical spelling, `from_word` accepts it in any letter case (an operator
/// writing `eur` clearly means `EUR`), `ALLOWED` is for messages.
macro_rules! word_enum {
    ($ty:ident { $($variant:ident => $word:literal),+ $(,)? } allowed $allowed:literal) => {
        impl $ty {
            /// The allowed spellings, for help texts and error messages.
            pub const ALLOWED: &'static str = $allowed;

            /// The canonical spelling used in the config file.
            pub fn as_str(self) -> &'static str {
                match self { $($ty::$variant => $word),+ }
            }

            /// Parses the config word, ignoring letter case.
            pub fn from_word(word: &str) -> Option<Self> {
                $(if word.eq_ignore_ascii_case($word) { return Some($ty::$variant); })+
                None
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

/// The character set receipts are encoded to. Only CP858 (CP850 with `€`
/// at 0xD5) for now: it has the euro sign and every Italian accented letter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum CodePage {
    /// IBM code page 858 (`cp858`).
    #[default]
    Cp858,
}
word_enum!(CodePage { Cp858 => "cp858" } allowed "\"cp858\"");

/// How the euro sign is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum EuroMode {
    /// The `€` glyph of the code page.
    #[default]
    Glyph,
    /// The text `EUR`, for printers whose font has no euro sign.
    Eur,
}
word_enum!(EuroMode { Glyph => "glyph", Eur => "EUR" } allowed "\"glyph\" or \"EUR\"");

impl EuroMode {
    /// What to write where a receipt shows the currency.
    pub fn symbol(self) -> &'static str {
        match self {
            EuroMode::Glyph => "€",
            EuroMode::Eur => "EUR",
        }
    }
}

/// How the cash drawer is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum DrawerKick {
    /// A drawer-kick pulse through the receipt printer's RJ11 port.
    #[default]
    Printer,
    /// No drawer, or one opened by hand.
    None,
}
word_enum!(DrawerKick { Printer => "printer", None => "none" } allowed "\"printer\" or \"none\"");

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum LogFormat {
    /// Human-readable lines, for a terminal or journald.
    #[default]
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}
word_enum!(LogFormat { Text => "text", Json => "json" } allowed "\"text\" or \"json\"");

/// The spec's example values (see the module doc for `backend.url`).
pub(crate) mod defaults {
    pub const DATA_DIR: &str = "/var/lib/pos-agent";
    pub const SHOP_NAME: &str = "Tabaccheria Rossi";
    pub const ADDRESS: &str = "Via Roma 1, Balangero";
    pub const TIMEOUT_MS: u64 = 5000;
    pub const LISTEN_PORT: u16 = 7878;
    pub const CODE_PAGE_TABLE: u8 = 19;
    pub const CAMERA_WIDTH: u32 = 1280;
    pub const CAMERA_HEIGHT: u32 = 720;
    pub const HOLD_OFF_MS: u64 = 3000;
    pub const MAX_TRANSACTION_CENTS: i64 = 10_000;
    pub const MAX_TOTAL_CENTS: i64 = 50_000;
    pub const RECHARGE_CENTS: i64 = 0;
    pub const NOTICE_CENTS: i64 = 100;
    pub const LOCKOUT_MINUTES: u32 = 15;
    pub const SESSION_MINUTES: u32 = 30;
    pub const LOG_LEVEL: &str = "info";
    pub const BACKUP_KEEP: u32 = 14;
    pub const BACKUP_MAX_AGE_DAYS: u32 = 2;
}

impl Default for Config {
    /// The spec's example with `backend.url` empty: usable in tests and the
    /// sandbox (which set the URL), refused by `validate()` as is.
    fn default() -> Self {
        Config {
            data_dir: PathBuf::from(defaults::DATA_DIR),
            terminal: TerminalConfig::default(),
            backend: BackendConfig::default(),
            api: ApiConfig::default(),
            printer: PrinterConfig::default(),
            camera: CameraConfig::default(),
            card_reader: CardReaderConfig::default(),
            drawer: DrawerConfig::default(),
            offline: OfflineConfig::default(),
            fees: FeesConfig::default(),
            security: SecurityConfig::default(),
            log: LogConfig::default(),
            backup: BackupConfig::default(),
        }
    }
}

impl Default for TerminalConfig {
    fn default() -> Self {
        TerminalConfig {
            shop_name: defaults::SHOP_NAME.to_string(),
            address: defaults::ADDRESS.to_string(),
            vat_number: None,
        }
    }
}

impl Default for BackendConfig {
    fn default() -> Self {
        BackendConfig {
            url: String::new(),
            timeout_ms: defaults::TIMEOUT_MS,
            ca_file: None,
        }
    }
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, defaults::LISTEN_PORT)),
        }
    }
}

impl Default for PrinterConfig {
    fn default() -> Self {
        PrinterConfig {
            device: PrinterDevice::Usb {
                path: PathBuf::from("/dev/usb/lp0"),
            },
            paper_width_mm: PaperWidth::Mm80,
            code_page: CodePage::Cp858,
            code_page_table: defaults::CODE_PAGE_TABLE,
            euro: EuroMode::Glyph,
        }
    }
}

impl Default for CameraConfig {
    fn default() -> Self {
        CameraConfig {
            device: CameraDevice::Index(0),
            width: defaults::CAMERA_WIDTH,
            height: defaults::CAMERA_HEIGHT,
            hold_off_ms: defaults::HOLD_OFF_MS,
        }
    }
}

impl Default for CardReaderConfig {
    fn default() -> Self {
        CardReaderConfig {
            device: CardReaderDevice::None,
        }
    }
}

impl Default for DrawerConfig {
    fn default() -> Self {
        DrawerConfig {
            kick: DrawerKick::Printer,
        }
    }
}

impl Default for OfflineConfig {
    fn default() -> Self {
        OfflineConfig {
            max_transaction_cents: defaults::MAX_TRANSACTION_CENTS,
            max_total_cents: defaults::MAX_TOTAL_CENTS,
        }
    }
}

impl Default for FeesConfig {
    fn default() -> Self {
        FeesConfig {
            recharge_cents: defaults::RECHARGE_CENTS,
            notice_cents: defaults::NOTICE_CENTS,
        }
    }
}

impl Default for SecurityConfig {
    fn default() -> Self {
        SecurityConfig {
            lockout_minutes: defaults::LOCKOUT_MINUTES,
            session_minutes: defaults::SESSION_MINUTES,
        }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            format: LogFormat::Text,
            level: defaults::LOG_LEVEL.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paper_widths_have_the_spec_columns() {
        assert_eq!(PaperWidth::Mm58.columns(), 32);
        assert_eq!(PaperWidth::Mm80.columns(), 48);
        assert_eq!(PaperWidth::from_mm(58), Some(PaperWidth::Mm58));
        assert_eq!(PaperWidth::from_mm(80).map(PaperWidth::mm), Some(80));
        assert_eq!(PaperWidth::from_mm(70), None);
    }

    #[test]
    fn words_parse_in_any_case_and_print_canonically() {
        assert_eq!(EuroMode::from_word("eur"), Some(EuroMode::Eur));
        assert_eq!(EuroMode::Eur.to_string(), "EUR");
        assert_eq!(EuroMode::Eur.symbol(), "EUR");
        assert_eq!(EuroMode::Glyph.symbol(), "€");
        assert_eq!(CodePage::from_word("CP858"), Some(CodePage::Cp858));
        assert_eq!(DrawerKick::from_word("none"), Some(DrawerKick::None));
        assert_eq!(LogFormat::from_word("JSON"), Some(LogFormat::Json));
        assert_eq!(LogFormat::from_word("xml"), None);
    }

    #[test]
    fn the_default_printer_matches_its_device_string() {
        let p = PrinterConfig::default();
        assert_eq!(p.device.to_string(), "usb:/dev/usb/lp0");
        assert_eq!(CameraConfig::default().device.to_string(), "index:0");
        assert_eq!(CardReaderConfig::default().device.to_string(), "none");
    }
}
