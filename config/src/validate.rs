//! The rules a configuration must follow, on the typed [`Config`].
//!
//! The parser enforces what the types already say (a paper width is 58 or
//! 80, a device string is well formed); the rules here are the ranges and
//! the relations between keys. Both the parser and a `Config` built in code
//! (tests, sandbox) go through [`Config::validate`], so one place decides.

use std::fmt::Display;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::error::ConfigError;
use crate::model::{Config, DrawerKick};
use crate::PrinterDevice;

/// An inclusive range of whole numbers, with the unit for the message.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Range {
    pub lo: i64,
    pub hi: i64,
    /// Appended to "use LO to HI", e.g. " (milliseconds)".
    pub unit: &'static str,
}

impl Range {
    pub fn allows(&self, v: i64) -> bool {
        (self.lo..=self.hi).contains(&v)
    }

    /// What to write instead, for the error message.
    pub fn fix(&self) -> String {
        if self.hi == i64::MAX {
            format!("use {} or more{}", self.lo, self.unit)
        } else {
            format!("use {} to {}{}", self.lo, self.hi, self.unit)
        }
    }
}

pub(crate) const TIMEOUT_MS: Range = Range {
    lo: 100,
    hi: 120_000,
    unit: " (milliseconds)",
};
pub(crate) const CODE_PAGE_TABLE: Range = Range {
    lo: 0,
    hi: 255,
    unit: " (the printer's ESC t number for the code page)",
};
pub(crate) const CAMERA_SIZE: Range = Range {
    lo: 160,
    hi: 4096,
    unit: " (pixels)",
};
pub(crate) const HOLD_OFF_MS: Range = Range {
    lo: 0,
    hi: 60_000,
    unit: " (milliseconds)",
};
pub(crate) const OFFLINE_CENTS: Range = Range {
    lo: 0,
    hi: i64::MAX,
    unit: " (cents; 0 refuses offline payments)",
};
pub(crate) const FEE_CENTS: Range = Range {
    lo: 0,
    hi: 100_000,
    unit: " (cents: 100 = 1,00 EUR)",
};
pub(crate) const BACKUP_KEEP: Range = Range {
    lo: 1,
    hi: 3650,
    unit: " (copies)",
};
pub(crate) const BACKUP_MAX_AGE_DAYS: Range = Range {
    lo: 1,
    hi: 365,
    unit: " (days)",
};
pub(crate) const MINUTES: Range = Range {
    lo: 1,
    hi: 1440,
    unit: " (minutes; 1440 = one day)",
};

pub(crate) const PAPER_WIDTH_FIX: &str = "use 58 or 80";
pub(crate) const URL_EXAMPLE: &str = "https://servizi-scuola.comune.example/api";
const LOG_LEVELS: [&str; 6] = ["trace", "debug", "info", "warn", "error", "off"];
pub(crate) const LOG_LEVEL_FIX: &str = "use trace, debug, info, warn, error or off, \
     optionally with per-module levels such as info,pos_agent=debug";

/// Builds the "KEY = VALUE is not allowed; FIX" error.
pub(crate) fn invalid(
    origin: &str,
    key: &str,
    value: impl Display,
    fix: impl Into<String>,
) -> ConfigError {
    ConfigError::Invalid {
        origin: origin.to_string(),
        key: key.to_string(),
        value: one_line(&value.to_string()),
        fix: fix.into(),
    }
}

/// A string as it would look in the file (quoted, escapes visible).
pub(crate) fn quoted(s: &str) -> String {
    format!("{s:?}")
}

/// Keeps an echoed value on one short line: a technician needs to recognise
/// it, not to read a pasted certificate back.
pub(crate) fn one_line(s: &str) -> String {
    const MAX: usize = 80;
    let flat: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if flat.chars().count() > MAX {
        let cut: String = flat.chars().take(MAX).collect();
        format!("{cut}…")
    } else {
        flat
    }
}

fn range(origin: &str, key: &str, v: i64, r: &Range) -> Result<(), ConfigError> {
    if r.allows(v) {
        Ok(())
    } else {
        Err(invalid(origin, key, v, r.fix()))
    }
}

/// u64 values larger than i64::MAX are out of every range anyway.
fn wide(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// Checks a backend base URL; `Err` holds the fix for the message.
///
/// Plain `http://` is accepted only for a backend on this machine: payments
/// and the terminal's signed requests must not cross a network unencrypted.
/// A trailing slash is accepted here (the parser strips it).
pub(crate) fn check_backend_url(url: &str) -> Result<(), String> {
    let need = format!("use an absolute https:// URL, e.g. {URL_EXAMPLE}");
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("remove the spaces; {need}"));
    }
    let lower = url.to_ascii_lowercase();
    let (secure, rest) = if lower.starts_with("https://") {
        (true, &url["https://".len()..])
    } else if lower.starts_with("http://") {
        (false, &url["http://".len()..])
    } else {
        return Err(need);
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    if path.contains(['?', '#']) {
        return Err(format!(
            "remove the ?query or #fragment: /v1/... is appended to this URL; {need}"
        ));
    }
    if authority.contains('@') {
        return Err(format!(
            "remove the user name and password: the agent authenticates with its own signature; {need}"
        ));
    }
    let (host, port) = if let Some(bracketed) = authority.strip_prefix('[') {
        let Some((inner, after)) = bracketed.split_once(']') else {
            return Err(format!("the IPv6 address has no closing ]; {need}"));
        };
        let port = match after {
            "" => None,
            p => Some(
                p.strip_prefix(':')
                    .ok_or_else(|| format!("bad text after ]; {need}"))?,
            ),
        };
        if inner.parse::<Ipv6Addr>().is_err() {
            return Err(format!("[{inner}] is not an IPv6 address; {need}"));
        }
        (inner, port)
    } else {
        match authority.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return Err(format!("the URL has no host name; {need}"));
    }
    if !authority.starts_with('[')
        && !host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.' || c == '_')
    {
        return Err(format!("`{host}` is not a host name or IP address; {need}"));
    }
    if let Some(port) = port {
        if port.parse::<u16>().ok().filter(|p| *p > 0).is_none() {
            return Err(format!(
                "the port `{port}` is not a number from 1 to 65535; {need}"
            ));
        }
    }
    if !secure && !is_loopback_host(host) {
        return Err(format!(
            "http:// is allowed only for a backend on this machine (127.0.0.1, ::1, localhost), \
             because payments and the terminal's signed requests must not cross the network \
             unencrypted; {need}"
        ));
    }
    Ok(())
}

fn is_loopback_host(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<Ipv4Addr>().is_ok_and(|a| a.is_loopback())
        || host.parse::<Ipv6Addr>().is_ok_and(|a| a.is_loopback())
}

/// Checks a `tracing` filter; catches `level = "debgu"`, which the filter
/// syntax would silently read as "trace for a module called debgu".
pub(crate) fn check_log_level(level: &str) -> bool {
    !level.trim().is_empty()
        && level.split(',').all(|directive| {
            let directive = directive.trim();
            let word = match directive.rsplit_once('=') {
                Some((target, word)) if !target.trim().is_empty() => word,
                Some(_) => return false,
                None => directive,
            };
            LOG_LEVELS
                .iter()
                .any(|l| word.trim().eq_ignore_ascii_case(l))
        })
}

/// What `terminal.vat_number` must look like.
pub(crate) const VAT_NUMBER_FIX: &str =
    "the shop's partita IVA: 11 digits, e.g. \"01234567890\" (or remove the key if there is none)";

/// The partita IVA's check digit (the 11th), computed from the first ten:
/// digits in odd places are added, those in even places doubled (minus 9
/// when over 9) and added, and the check digit brings the sum to a multiple
/// of 10.
pub(crate) fn vat_check_digit_ok(digits: &str) -> bool {
    let d: Vec<u32> = digits.chars().filter_map(|c| c.to_digit(10)).collect();
    if d.len() != 11 || digits.len() != 11 {
        return false;
    }
    let sum: u32 = d[..10]
        .iter()
        .enumerate()
        .map(|(i, &x)| match i % 2 {
            0 => x,
            _ if x * 2 > 9 => x * 2 - 9,
            _ => x * 2,
        })
        .sum();
    (10 - sum % 10) % 10 == d[10]
}

/// One line of printable text (it goes on a receipt header).
fn check_line(origin: &str, key: &str, value: &str, required: bool) -> Result<(), ConfigError> {
    if required && value.trim().is_empty() {
        return Err(invalid(
            origin,
            key,
            quoted(value),
            "write it as it should appear on receipts, e.g. \"Tabaccheria Rossi\"",
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(invalid(
            origin,
            key,
            quoted(value),
            "use one line of plain text without tabs or control characters \
             (receipts wrap long text themselves)",
        ));
    }
    Ok(())
}

impl Config {
    /// Checks every rule; `load` and `parse` call it, and so should code that
    /// builds a `Config` by hand. Errors name the origin `config`.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.check("config")
    }

    /// [`validate`](Self::validate) with the file name to put in messages.
    pub(crate) fn check(&self, origin: &str) -> Result<(), ConfigError> {
        if self.data_dir.as_os_str().is_empty() {
            return Err(invalid(
                origin,
                "data_dir",
                quoted(""),
                "give the directory for the journal, outbox and keys, e.g. \"/var/lib/pos-agent\"",
            ));
        }

        check_line(origin, "terminal.shop_name", &self.terminal.shop_name, true)?;
        check_line(origin, "terminal.address", &self.terminal.address, false)?;
        if let Some(vat) = &self.terminal.vat_number {
            if vat.len() != 11 || !vat.bytes().all(|b| b.is_ascii_digit()) {
                return Err(invalid(
                    origin,
                    "terminal.vat_number",
                    quoted(vat),
                    VAT_NUMBER_FIX,
                ));
            }
        }

        let url = &self.backend.url;
        if url.is_empty() {
            return Err(ConfigError::Missing {
                origin: origin.to_string(),
                key: "backend.url".to_string(),
                hint: format!(
                    "add url = \"{URL_EXAMPLE}\" (the address the comune gave you) under [backend]"
                ),
            });
        }
        check_backend_url(url).map_err(|fix| invalid(origin, "backend.url", quoted(url), fix))?;
        if url.ends_with('/') {
            return Err(invalid(
                origin,
                "backend.url",
                quoted(url),
                "remove the trailing / (/v1/... is appended)",
            ));
        }
        range(
            origin,
            "backend.timeout_ms",
            wide(self.backend.timeout_ms),
            &TIMEOUT_MS,
        )?;
        if let Some(ca) = &self.backend.ca_file {
            if ca.as_os_str().is_empty() {
                return Err(invalid(
                    origin,
                    "backend.ca_file",
                    quoted(""),
                    "give the path of a PEM file, e.g. \"/etc/pos-agent/ca.pem\", or remove the key",
                ));
            }
        }

        // printer: paper width, code page and euro mode are valid by type;
        // the table is a u8, so 0..=255 holds by type too.
        range(
            origin,
            "printer.code_page_table",
            i64::from(self.printer.code_page_table),
            &CODE_PAGE_TABLE,
        )?;

        range(
            origin,
            "camera.width",
            i64::from(self.camera.width),
            &CAMERA_SIZE,
        )?;
        range(
            origin,
            "camera.height",
            i64::from(self.camera.height),
            &CAMERA_SIZE,
        )?;
        range(
            origin,
            "camera.hold_off_ms",
            wide(self.camera.hold_off_ms),
            &HOLD_OFF_MS,
        )?;

        let off = &self.offline;
        range(
            origin,
            "offline.max_transaction_cents",
            off.max_transaction_cents,
            &OFFLINE_CENTS,
        )?;
        range(
            origin,
            "offline.max_total_cents",
            off.max_total_cents,
            &OFFLINE_CENTS,
        )?;
        if off.max_transaction_cents > off.max_total_cents {
            return Err(invalid(
                origin,
                "offline.max_transaction_cents",
                off.max_transaction_cents,
                format!(
                    "use at most offline.max_total_cents ({}): one payment cannot exceed the \
                     total allowed offline",
                    off.max_total_cents
                ),
            ));
        }

        range(
            origin,
            "fees.recharge_cents",
            self.fees.recharge_cents,
            &FEE_CENTS,
        )?;
        range(
            origin,
            "fees.notice_cents",
            self.fees.notice_cents,
            &FEE_CENTS,
        )?;

        range(
            origin,
            "security.lockout_minutes",
            i64::from(self.security.lockout_minutes),
            &MINUTES,
        )?;
        range(
            origin,
            "security.session_minutes",
            i64::from(self.security.session_minutes),
            &MINUTES,
        )?;

        if !check_log_level(&self.log.level) {
            return Err(invalid(
                origin,
                "log.level",
                quoted(&self.log.level),
                LOG_LEVEL_FIX,
            ));
        }
        Ok(())
    }

    /// True when the API listens only on this machine. A non-loopback
    /// address is allowed (a second screen may need the console) but the
    /// agent should log a warning: the API is then reachable from the shop's
    /// network, protected only by operator PINs.
    pub fn api_is_loopback(&self) -> bool {
        match self.api.listen.ip() {
            IpAddr::V4(a) => a.is_loopback(),
            IpAddr::V6(a) => {
                a.is_loopback() || a.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
            }
        }
    }

    /// Settings that are valid but probably not what the technician wants,
    /// one English sentence each, for the log at start-up and for
    /// `pos-agent config check` / `doctor`.
    pub fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        if !self.api_is_loopback() {
            out.push(format!(
                "api.listen = \"{}\" accepts connections from the network, protected only by \
                 operator PINs; use \"127.0.0.1:{}\" unless another device needs the console",
                self.api.listen,
                self.api.listen.port()
            ));
        }
        if self.drawer.kick == DrawerKick::Printer && self.printer.device == PrinterDevice::None {
            out.push(
                "drawer.kick = \"printer\" but printer.device = \"none\": the cash drawer \
                 will not open; set drawer.kick = \"none\" or configure the printer"
                    .to_string(),
            );
        }
        if let Some(vat) = &self.terminal.vat_number {
            if !vat_check_digit_ok(vat) {
                out.push(format!(
                    "terminal.vat_number = \"{vat}\" fails the partita IVA check digit: \
                     it is printed on every receipt, so check it against the shop's registration"
                ));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backend_urls() {
        for ok in [
            "https://servizi-scuola.comune.example/api",
            "https://servizi-scuola.comune.example/api/",
            "HTTPS://host:8443",
            "https://[2001:db8::1]:443/x",
            "http://127.0.0.1:8787",
            "http://127.9.9.9/api",
            "http://localhost:8787/api",
            "http://[::1]:8787",
        ] {
            assert_eq!(check_backend_url(ok), Ok(()), "{ok}");
        }
        for (bad, why) in [
            ("servizi-scuola.comune.example/api", "https://"),
            ("ftp://host/api", "https://"),
            (
                "http://192.168.1.10:8787/api",
                "only for a backend on this machine",
            ),
            (
                "http://backend.example/api",
                "only for a backend on this machine",
            ),
            ("http://[::2]:80", "only for a backend on this machine"),
            ("https://", "no host"),
            ("https://host:0/", "port"),
            ("https://host:99999/", "port"),
            ("https://host/api?x=1", "query"),
            ("https://user:pw@host/api", "password"),
            ("https://ho st/api", "spaces"),
            ("https://[::1/api", "closing ]"),
            ("https://h*st/api", "not a host name"),
        ] {
            let fix = check_backend_url(bad).expect_err(bad);
            assert!(fix.contains(why), "{bad}: {fix}");
            assert!(fix.contains("https://"), "{bad}: {fix}");
        }
    }

    #[test]
    fn log_levels() {
        for ok in [
            "info",
            "DEBUG",
            "info,pos_agent=debug",
            "warn, pos_drivers::printer=trace",
        ] {
            assert!(check_log_level(ok), "{ok}");
        }
        for bad in [
            "",
            "debgu",
            "info,",
            "=debug",
            "pos_agent=loud",
            "info pos_agent",
        ] {
            assert!(!check_log_level(bad), "{bad}");
        }
    }

    #[test]
    fn long_values_are_shortened_to_one_line() {
        let s = one_line(&format!("a\nb{}", "x".repeat(200)));
        assert!(!s.contains('\n'));
        assert!(s.chars().count() <= 81);
    }

    #[test]
    fn partita_iva_check_digit() {
        // Real registrations (the same check as a creditor's fiscal code).
        assert!(vat_check_digit_ok("00514490010"));
        assert!(vat_check_digit_ok("00085240950"));
        assert!(!vat_check_digit_ok("00514490011"));
        assert!(!vat_check_digit_ok("01234567890"));
        assert!(!vat_check_digit_ok("0051449001"));
        assert!(!vat_check_digit_ok("0051449001x"));
    }

    #[test]
    fn loopback_detection() {
        let mut c = Config::default();
        assert!(c.api_is_loopback());
        assert!(c.warnings().is_empty());
        c.api.listen = "0.0.0.0:7878".parse().unwrap();
        assert!(!c.api_is_loopback());
        c.api.listen = "[::ffff:127.0.0.1]:7878".parse().unwrap();
        assert!(c.api_is_loopback());
        c.api.listen = "[::]:7878".parse().unwrap();
        c.printer.device = PrinterDevice::None;
        let w = c.warnings();
        assert_eq!(w.len(), 2, "{w:?}");
        assert!(w[0].contains("api.listen"));
        assert!(w[1].contains("drawer.kick"));
    }
}
