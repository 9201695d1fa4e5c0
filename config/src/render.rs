//! From a [`Config`] back to TOML text, in the order of the example file,
//! with every key written out so the result says exactly what is in effect.

use std::fmt::Write as _;
use std::path::Path;

use toml::Value;

use crate::model::Config;

/// A TOML string literal, escaped by the toml crate itself.
fn s(text: &str) -> String {
    Value::String(text.to_string()).to_string()
}

fn p(path: &Path) -> String {
    s(&path.to_string_lossy())
}

impl Config {
    /// The configuration as TOML; `Config::parse(&c.to_toml(), ..)` gives
    /// back `c` for any valid `c`. Non-UTF-8 path bytes are replaced.
    pub fn to_toml(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail; the results are ignored on purpose.
        let _ = writeln!(out, "data_dir = {}", p(&self.data_dir));

        let t = &self.terminal;
        let _ = writeln!(out, "\n[terminal]");
        let _ = writeln!(out, "shop_name = {}", s(&t.shop_name));
        let _ = writeln!(out, "address = {}", s(&t.address));
        if let Some(vat) = &t.vat_number {
            let _ = writeln!(out, "vat_number = {}", s(vat));
        }

        let b = &self.backend;
        let _ = writeln!(out, "\n[backend]");
        let _ = writeln!(out, "url = {}", s(&b.url));
        let _ = writeln!(out, "timeout_ms = {}", b.timeout_ms);
        if let Some(ca) = &b.ca_file {
            let _ = writeln!(out, "ca_file = {}", p(ca));
        }

        let _ = writeln!(out, "\n[api]");
        let _ = writeln!(out, "listen = {}", s(&self.api.listen.to_string()));

        let pr = &self.printer;
        let _ = writeln!(out, "\n[printer]");
        let _ = writeln!(out, "device = {}", s(&pr.device.to_string()));
        let _ = writeln!(out, "paper_width_mm = {}", pr.paper_width_mm.mm());
        let _ = writeln!(out, "code_page = {}", s(pr.code_page.as_str()));
        let _ = writeln!(out, "code_page_table = {}", pr.code_page_table);
        let _ = writeln!(out, "euro = {}", s(pr.euro.as_str()));

        let c = &self.camera;
        let _ = writeln!(out, "\n[camera]");
        let _ = writeln!(out, "device = {}", s(&c.device.to_string()));
        let _ = writeln!(out, "width = {}", c.width);
        let _ = writeln!(out, "height = {}", c.height);
        let _ = writeln!(out, "hold_off_ms = {}", c.hold_off_ms);

        let _ = writeln!(out, "\n[card_reader]");
        let _ = writeln!(out, "device = {}", s(&self.card_reader.device.to_string()));

        let _ = writeln!(out, "\n[drawer]");
        let _ = writeln!(out, "kick = {}", s(self.drawer.kick.as_str()));

        let o = &self.offline;
        let _ = writeln!(out, "\n[offline]");
        let _ = writeln!(out, "max_transaction_cents = {}", o.max_transaction_cents);
        let _ = writeln!(out, "max_total_cents = {}", o.max_total_cents);

        let f = &self.fees;
        let _ = writeln!(out, "\n[fees]");
        let _ = writeln!(out, "recharge_cents = {}", f.recharge_cents);
        let _ = writeln!(out, "notice_cents = {}", f.notice_cents);

        let sec = &self.security;
        let _ = writeln!(out, "\n[security]");
        let _ = writeln!(out, "lockout_minutes = {}", sec.lockout_minutes);
        let _ = writeln!(out, "session_minutes = {}", sec.session_minutes);

        let _ = writeln!(out, "\n[log]");
        let _ = writeln!(out, "format = {}", s(self.log.format.as_str()));
        let _ = writeln!(out, "level = {}", s(&self.log.level));

        let b = &self.backup;
        let _ = writeln!(out, "\n[backup]");
        if let Some(dir) = &b.dir {
            let _ = writeln!(out, "dir = {}", p(dir));
        }
        let _ = writeln!(out, "keep = {}", b.keep);
        let _ = writeln!(out, "max_age_days = {}", b.max_age_days);
        out
    }
}
