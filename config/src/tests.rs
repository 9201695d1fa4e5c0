//! Tests of the public behaviour: the example, defaults, every rule's
//! message, unknown keys, syntax errors, round trips, and no panics.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use proptest::prelude::*;

use super::*;
use crate::parse::{SECTIONS, TOP_LEVEL_KEYS};

const ORIGIN: &str = "/etc/pos-agent/config.toml";
const URL: &str = "https://servizi-scuola.comune.example/api";

/// A valid file with `extra` inserted in `section` (or at the top level
/// when `section` is empty).
fn file_with(section: &str, extra: &str) -> String {
    let mut text = String::new();
    if section.is_empty() {
        text.push_str(extra);
        text.push('\n');
    }
    text.push_str(&format!("[backend]\nurl = \"{URL}\"\n"));
    if section == "backend" {
        text.push_str(extra);
        text.push('\n');
    } else if !section.is_empty() {
        text.push_str(&format!("[{section}]\n{extra}\n"));
    }
    text
}

fn parse_err(section: &str, extra: &str) -> ConfigError {
    match Config::parse(&file_with(section, extra), ORIGIN) {
        Ok(c) => panic!("[{section}] {extra} was accepted: {c:?}"),
        Err(e) => e,
    }
}

fn configured() -> Config {
    let mut c = Config::default();
    c.backend.url = URL.to_string();
    c
}

#[test]
fn the_example_parses_validates_and_equals_the_defaults() {
    let c = Config::parse(EXAMPLE, "example").expect("the example is valid");
    assert_eq!(c, configured(), "EXAMPLE and Config::default() disagree");
    assert_eq!(c.validate(), Ok(()));
}

#[test]
fn the_example_file_on_disk_is_the_example_constant() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/config.toml");
    let on_disk = std::fs::read_to_string(&path).expect("examples/config.toml exists");
    assert_eq!(on_disk, EXAMPLE);
    assert_eq!(Config::load(&path).expect("loads"), configured());
}

#[test]
fn the_example_documents_every_key() {
    for key in TOP_LEVEL_KEYS {
        assert!(
            EXAMPLE.contains(&format!("\n{key} = ")),
            "{key} missing from EXAMPLE"
        );
    }
    for (section, keys) in SECTIONS {
        let start = EXAMPLE.find(&format!("\n[{section}]\n")).expect(section);
        let body = &EXAMPLE[start + 1..];
        let body = &body[..body[1..].find("\n[").map_or(body.len(), |i| i + 1)];
        for key in *keys {
            assert!(
                body.contains(&format!("\n{key} = ")) || body.contains(&format!("\n# {key} = ")),
                "{section}.{key} missing from the example's [{section}]"
            );
        }
    }
}

#[test]
fn the_sandbox_example_parses() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/sandbox.toml");
    let c = Config::load(&path).expect("sandbox.toml is valid");
    assert_eq!(c.backend.url, "http://127.0.0.1:8787");
    assert!(matches!(c.printer.device, PrinterDevice::File { .. }));
    assert!(matches!(c.camera.device, CameraDevice::Dir { .. }));
    assert_eq!(c.drawer.kick, DrawerKick::None);
    assert_eq!(c.security, SecurityConfig::default());
    assert_eq!(c.terminal.vat_number.as_deref(), Some("01234567897"));
    assert!(c.warnings().is_empty(), "{:?}", c.warnings());
}

#[test]
fn defaults_are_the_spec_values() {
    let c = Config::default();
    assert_eq!(c.data_dir, PathBuf::from("/var/lib/pos-agent"));
    assert_eq!(c.terminal.shop_name, "Tabaccheria Rossi");
    assert_eq!(c.terminal.address, "Via Roma 1, Balangero");
    assert_eq!(c.backend.url, "");
    assert_eq!(c.backend.timeout_ms, 5000);
    assert_eq!(c.backend.ca_file, None);
    assert_eq!(
        c.api.listen,
        "127.0.0.1:7878".parse::<SocketAddr>().unwrap()
    );
    assert_eq!(
        c.printer.device,
        PrinterDevice::Usb {
            path: "/dev/usb/lp0".into()
        }
    );
    assert_eq!(c.printer.paper_width_mm, PaperWidth::Mm80);
    assert_eq!(c.printer.paper_width_mm.columns(), 48);
    assert_eq!(c.printer.code_page, CodePage::Cp858);
    assert_eq!(c.printer.code_page_table, 19);
    assert_eq!(c.printer.euro, EuroMode::Glyph);
    assert_eq!(c.camera.device, CameraDevice::Index(0));
    assert_eq!((c.camera.width, c.camera.height), (1280, 720));
    assert_eq!(c.camera.hold_off_ms, 3000);
    assert_eq!(c.card_reader.device, CardReaderDevice::None);
    assert_eq!(c.drawer.kick, DrawerKick::Printer);
    assert_eq!(c.offline.max_transaction_cents, 10_000);
    assert_eq!(c.offline.max_total_cents, 50_000);
    assert_eq!(c.fees.recharge_cents, 0);
    assert_eq!(c.fees.notice_cents, 100);
    assert_eq!(c.security.lockout_minutes, 15);
    assert_eq!(c.security.session_minutes, 30);
    assert_eq!(c.log.format, LogFormat::Text);
    assert_eq!(c.log.level, "info");
}

#[test]
fn the_default_config_needs_only_a_backend_url() {
    let e = Config::default().validate().unwrap_err();
    assert_eq!(e.key(), Some("backend.url"));
    assert!(
        e.to_string().starts_with("config: backend.url is required"),
        "{e}"
    );
    assert_eq!(configured().validate(), Ok(()));
}

#[test]
fn a_file_without_backend_url_is_refused_naming_the_file() {
    let e = Config::parse("[printer]\npaper_width_mm = 58\n", ORIGIN).unwrap_err();
    assert_eq!(e.key(), Some("backend.url"));
    let msg = e.to_string();
    assert!(
        msg.starts_with(&format!("{ORIGIN}: backend.url is required")),
        "{msg}"
    );
    assert!(msg.contains("https://"), "{msg}");
}

#[test]
fn the_spec_example_message_is_exact() {
    let e = parse_err("printer", "paper_width_mm = 70");
    assert_eq!(
        e.to_string(),
        "/etc/pos-agent/config.toml: printer.paper_width_mm = 70 is not allowed; use 58 or 80"
    );
}

/// Each rule: (section, line, key, texts the message must contain).
#[test]
fn every_rule_refuses_a_bad_value_naming_key_value_and_what_is_allowed() {
    let cases: &[(&str, &str, &str, &[&str])] = &[
        (
            "",
            "data_dir = \"\"",
            "data_dir",
            &["\"\"", "/var/lib/pos-agent"],
        ),
        ("", "data_dir = 5", "data_dir", &["= 5", "double quotes"]),
        (
            "terminal",
            "shop_name = \"\"",
            "terminal.shop_name",
            &["receipts"],
        ),
        (
            "terminal",
            "address = \"a\\nb\"",
            "terminal.address",
            &["one line"],
        ),
        (
            "terminal",
            "vat_number = \"0123456789\"",
            "terminal.vat_number",
            &["\"0123456789\"", "11 digits"],
        ),
        (
            "terminal",
            "vat_number = \"IT0123456789A\"",
            "terminal.vat_number",
            &["11 digits"],
        ),
        (
            "terminal",
            "vat_number = 1234567890",
            "terminal.vat_number",
            &["double quotes", "11 digits"],
        ),
        (
            "backend",
            "timeout_ms = 99",
            "backend.timeout_ms",
            &["= 99", "100 to 120000"],
        ),
        (
            "backend",
            "timeout_ms = 120001",
            "backend.timeout_ms",
            &["100 to 120000"],
        ),
        (
            "backend",
            "timeout_ms = \"5000\"",
            "backend.timeout_ms",
            &["\"5000\"", "without quotes"],
        ),
        ("backend", "ca_file = \"\"", "backend.ca_file", &["PEM"]),
        (
            "api",
            "listen = \"localhost\"",
            "api.listen",
            &["\"localhost\"", "IP:PORT"],
        ),
        (
            "api",
            "listen = 7878",
            "api.listen",
            &["IP:PORT", "double quotes"],
        ),
        (
            "printer",
            "device = \"lpt1\"",
            "printer.device",
            &["\"lpt1\"", "tcp://HOST:9100", "none"],
        ),
        (
            "printer",
            "device = \"tcp://host\"",
            "printer.device",
            &["no port", "usb:/dev/usb/lp0"],
        ),
        (
            "printer",
            "paper_width_mm = 80.0",
            "printer.paper_width_mm",
            &["58 or 80"],
        ),
        (
            "printer",
            "code_page = \"cp437\"",
            "printer.code_page",
            &["\"cp437\"", "\"cp858\""],
        ),
        (
            "printer",
            "code_page_table = 256",
            "printer.code_page_table",
            &["= 256", "0 to 255"],
        ),
        (
            "printer",
            "code_page_table = -1",
            "printer.code_page_table",
            &["0 to 255"],
        ),
        (
            "printer",
            "euro = \"€\"",
            "printer.euro",
            &["\"glyph\" or \"EUR\""],
        ),
        (
            "camera",
            "device = \"webcam\"",
            "camera.device",
            &["index:N", "dir:PATH"],
        ),
        (
            "camera",
            "device = \"index:x\"",
            "camera.device",
            &["index:0", "v4l:/dev/videoN"],
        ),
        (
            "camera",
            "width = 100",
            "camera.width",
            &["= 100", "160 to 4096"],
        ),
        ("camera", "height = 5000", "camera.height", &["160 to 4096"]),
        (
            "camera",
            "hold_off_ms = -1",
            "camera.hold_off_ms",
            &["0 to 60000"],
        ),
        (
            "card_reader",
            "device = \"usb:/x\"",
            "card_reader.device",
            &["serial:/dev/ttyACM0"],
        ),
        (
            "drawer",
            "kick = \"always\"",
            "drawer.kick",
            &["\"always\"", "\"printer\" or \"none\""],
        ),
        (
            "offline",
            "max_total_cents = -1",
            "offline.max_total_cents",
            &["0 or more"],
        ),
        (
            "offline",
            "max_transaction_cents = 60000",
            "offline.max_transaction_cents",
            &["= 60000", "offline.max_total_cents (50000)"],
        ),
        (
            "fees",
            "recharge_cents = -50",
            "fees.recharge_cents",
            &["0 to 100000"],
        ),
        (
            "fees",
            "notice_cents = 100001",
            "fees.notice_cents",
            &["0 to 100000"],
        ),
        (
            "security",
            "lockout_minutes = 0",
            "security.lockout_minutes",
            &["1 to 1440"],
        ),
        (
            "security",
            "session_minutes = 1441",
            "security.session_minutes",
            &["1 to 1440"],
        ),
        (
            "log",
            "format = \"xml\"",
            "log.format",
            &["\"text\" or \"json\""],
        ),
        (
            "log",
            "level = \"debgu\"",
            "log.level",
            &["trace, debug, info"],
        ),
    ];
    for (section, line, key, needles) in cases {
        let e = parse_err(section, line);
        let msg = e.to_string();
        assert_eq!(e.key(), Some(*key), "{line}: {msg}");
        assert!(
            msg.starts_with(&format!("{ORIGIN}: {key} = ")),
            "{line}: {msg}"
        );
        assert!(msg.contains(" is not allowed; "), "{line}: {msg}");
        assert!(!msg.contains('\n'), "{line}: {msg}");
        for needle in *needles {
            assert!(msg.contains(needle), "{line}: {msg:?} lacks {needle:?}");
        }
    }
}

#[test]
fn backend_url_rules() {
    let bad = [
        (
            "http://backend.example/api",
            "only for a backend on this machine",
        ),
        ("http://10.0.0.5:8787", "only for a backend on this machine"),
        ("servizi-scuola.comune.example", "absolute https://"),
        ("https://host/api?token=1", "query"),
    ];
    for (url, why) in bad {
        let e = Config::parse(&format!("[backend]\nurl = {url:?}\n"), ORIGIN).unwrap_err();
        let msg = e.to_string();
        assert_eq!(e.key(), Some("backend.url"), "{msg}");
        assert!(msg.contains(&format!("{url:?}")), "{msg}");
        assert!(msg.contains(why), "{msg}");
    }
    // The spec's loopback exceptions, and the trailing slash is stripped.
    for (url, stored) in [
        ("http://127.0.0.1:8787/", "http://127.0.0.1:8787"),
        ("http://localhost:8787/api", "http://localhost:8787/api"),
        ("http://[::1]:8787", "http://[::1]:8787"),
        ("https://servizi-scuola.comune.example/api///", URL),
    ] {
        let text = format!("[backend]\nurl = {url:?}\n");
        let c = Config::parse(&text, ORIGIN).unwrap_or_else(|e| panic!("{url}: {e}"));
        assert_eq!(c.backend.url, stored);
    }
    // A hand-built config keeps the invariant too.
    let mut c = configured();
    c.backend.url.push('/');
    assert_eq!(c.validate().unwrap_err().key(), Some("backend.url"));
}

#[test]
fn values_within_the_rules_are_accepted() {
    let text = format!(
        r#"
data_dir = "/srv/pos"
[terminal]
shop_name = "Bar Tabacchi Sant'Anna"
address = ""
[backend]
url = "{URL}"
timeout_ms = 120000
ca_file = "/etc/pos-agent/ca.pem"
[api]
listen = "[::]:9000"
[printer]
device = "tcp://192.168.1.50:9100"
paper_width_mm = 58
code_page = "CP858"
code_page_table = 0
euro = "eur"
[camera]
device = "v4l:/dev/video2"
width = 160
height = 4096
hold_off_ms = 0
[card_reader]
device = "serial:/dev/ttyACM0?baud=115200"
[drawer]
kick = "none"
[offline]
max_transaction_cents = 0
max_total_cents = 0
[fees]
recharge_cents = 100000
notice_cents = 0
[security]
lockout_minutes = 1
session_minutes = 1440
[log]
format = "json"
level = "warn,pos_agent=debug"
"#
    );
    let c = Config::parse(&text, ORIGIN).expect("valid");
    assert_eq!(c.data_dir, PathBuf::from("/srv/pos"));
    assert_eq!(
        c.backend.ca_file,
        Some(PathBuf::from("/etc/pos-agent/ca.pem"))
    );
    assert!(!c.api_is_loopback());
    assert_eq!(
        c.printer.device,
        PrinterDevice::Tcp {
            host: "192.168.1.50".into(),
            port: 9100
        }
    );
    assert_eq!(c.printer.paper_width_mm, PaperWidth::Mm58);
    assert_eq!(c.printer.euro, EuroMode::Eur);
    assert_eq!(
        c.card_reader.device,
        CardReaderDevice::Serial {
            path: "/dev/ttyACM0".into(),
            baud: 115_200
        }
    );
    assert_eq!(c.log.format, LogFormat::Json);
    assert_eq!(Config::parse(&c.to_toml(), "again"), Ok(c));
}

#[test]
fn an_unknown_key_in_a_section_is_refused_listing_the_allowed_keys() {
    let e = parse_err("printer", "widht = 58");
    assert_eq!(e.key(), Some("printer.widht"));
    assert_eq!(
        e.to_string(),
        "/etc/pos-agent/config.toml: unknown key printer.widht; allowed keys in [printer]: \
         device, paper_width_mm, code_page, code_page_table, euro"
    );
    // A known key in the wrong section is unknown there.
    let e = parse_err("api", "timeout_ms = 5000");
    assert_eq!(e.key(), Some("api.timeout_ms"));
    // A sub-table is an unknown key of its section.
    let e = parse_err("camera", "[camera.extra]\nx = 1");
    assert_eq!(e.key(), Some("camera.extra"));
}

#[test]
fn an_unknown_top_level_key_or_section_is_refused() {
    let e = parse_err("", "data_dri = \"/x\"");
    assert_eq!(e.key(), Some("data_dri"));
    let msg = e.to_string();
    assert!(msg.contains("unknown key data_dri"), "{msg}");
    assert!(msg.contains("data_dir"), "{msg}");

    let e = parse_err("printr", "device = \"none\"");
    assert_eq!(e.key(), Some("printr"));
    let msg = e.to_string();
    assert!(
        msg.starts_with(&format!("{ORIGIN}: unknown section [printr]")),
        "{msg}"
    );
    assert!(msg.contains("[printer]") && msg.contains("[log]"), "{msg}");

    // Odd key names are quoted so nothing hides in the message.
    let e = parse_err("", "\"bad\\nkey\" = 1");
    assert!(!e.to_string().contains('\n'), "{e}");
}

#[test]
fn a_section_written_as_a_value_is_refused() {
    let e = parse_err("", "printer = \"usb:/dev/usb/lp0\"");
    assert_eq!(e.key(), Some("printer"));
    assert!(e.to_string().contains("[printer] is a section"), "{e}");
}

#[test]
fn a_syntax_error_names_line_and_column() {
    let text = "data_dir = \"/var/lib/pos-agent\"\n\n[printer]\npaper_width_mm = = 80\n";
    let e = Config::parse(text, ORIGIN).unwrap_err();
    let ConfigError::Syntax { line, column, .. } = &e else {
        panic!("{e:?}")
    };
    assert_eq!((*line, *column), (4, 18), "{e}");
    let msg = e.to_string();
    assert!(
        msg.starts_with(&format!(
            "{ORIGIN}: TOML syntax error at line 4, column 18: "
        )),
        "{msg}"
    );
    assert!(!msg.contains('\n'), "{msg}");
    assert_eq!(e.key(), None);

    let dup = "[api]\nlisten = \"127.0.0.1:1\"\nlisten = \"127.0.0.1:2\"\n";
    let msg = Config::parse(dup, ORIGIN).unwrap_err().to_string();
    assert!(
        msg.contains("line 3, column 1: duplicate key `listen`"),
        "{msg}"
    );

    for bad in [
        "[printer\n",
        "a = \"unclosed\n",
        "[api]\nlisten = 1\nlisten = 2\n",
        "x = \u{1}",
    ] {
        let e = Config::parse(bad, ORIGIN).unwrap_err();
        assert!(matches!(e, ConfigError::Syntax { .. }), "{bad:?}: {e:?}");
        assert!(!e.to_string().contains('\n'), "{e}");
    }
}

#[test]
fn a_byte_order_mark_is_tolerated() {
    let text = format!("\u{feff}[backend]\nurl = \"{URL}\"\n");
    assert_eq!(Config::parse(&text, ORIGIN), Ok(configured()));
}

#[test]
fn load_reports_missing_and_non_utf8_files() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.toml");
    let e = Config::load(&missing).unwrap_err();
    assert!(e.is_not_found());
    assert!(
        e.to_string().starts_with(&missing.display().to_string()),
        "{e}"
    );

    let latin1 = dir.path().join("latin1.toml");
    std::fs::write(&latin1, b"[terminal]\nshop_name = \"Caff\xe8\"\n").unwrap();
    let e = Config::load(&latin1).unwrap_err();
    assert!(e.to_string().contains("not UTF-8"), "{e}");
    assert!(e.to_string().contains("line 2"), "{e}");

    let good = dir.path().join("config.toml");
    std::fs::write(&good, configured().to_toml()).unwrap();
    assert_eq!(Config::load(&good), Ok(configured()));

    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, file_with("fees", "notice_cents = -1")).unwrap();
    let e = Config::load(&bad).unwrap_err();
    assert!(
        e.to_string()
            .starts_with(&format!("{}: fees.notice_cents", bad.display())),
        "{e}"
    );
}

#[test]
fn config_path_precedence() {
    let cli = Path::new("/tmp/cli.toml");
    let env = Some("/tmp/env.toml".into());
    assert_eq!(resolve_path(Some(cli), env.clone()), cli);
    assert_eq!(resolve_path(None, env), PathBuf::from("/tmp/env.toml"));
    assert_eq!(
        resolve_path(None, Some("".into())),
        PathBuf::from(DEFAULT_CONFIG_PATH)
    );
    assert_eq!(
        resolve_path(None, None),
        PathBuf::from("/etc/pos-agent/config.toml")
    );
    assert_eq!(config_path(Some(cli)), cli);
}

#[test]
fn to_toml_round_trips() {
    let c = configured();
    assert_eq!(Config::parse(&c.to_toml(), "rendered"), Ok(c));

    let mut c = configured();
    c.data_dir = "/var/lib/pos \"agent\"\\x".into();
    c.terminal.shop_name = "Tabacchi “Il Gufo” – caffè".into();
    c.backend.url = "http://[::1]:8787".into();
    c.backend.ca_file = Some("/etc/ca.pem".into());
    c.api.listen = "[::1]:0".parse().unwrap();
    c.printer.device = PrinterDevice::Tcp {
        host: "fe80::1".into(),
        port: 9100,
    };
    c.printer.paper_width_mm = PaperWidth::Mm58;
    c.printer.euro = EuroMode::Eur;
    c.camera.device = CameraDevice::Dir {
        path: "/tmp/frames dir".into(),
    };
    c.card_reader.device = CardReaderDevice::Serial {
        path: "/dev/ttyACM1".into(),
        baud: 4800,
    };
    c.drawer.kick = DrawerKick::None;
    c.log = LogConfig {
        format: LogFormat::Json,
        level: "debug".into(),
    };
    assert_eq!(Config::parse(&c.to_toml(), "rendered"), Ok(c));
}

/// Values for the structured fuzz test: well-formed and not, of every type.
fn value_strategy() -> impl Strategy<Value = String> {
    prop_oneof![
        (-10i64..200_000).prop_map(|n| n.to_string()),
        any::<i64>().prop_map(|n| n.to_string()),
        "[ -~]{0,24}".prop_map(|s| format!("{s:?}")),
        prop::sample::select(vec![
            "58",
            "80",
            "19",
            "\"cp858\"",
            "\"EUR\"",
            "\"glyph\"",
            "\"none\"",
            "\"printer\"",
            "\"json\"",
            "\"debug\"",
            "\"index:1\"",
            "\"dir:/tmp/f\"",
            "\"file:/tmp/r.bin\"",
            "\"tcp://[::1]:9100\"",
            "\"serial:/dev/ttyACM0?baud=9600\"",
            "\"127.0.0.1:0\"",
            "\"/var/lib/x\"",
            "\"https://h.example/api/\"",
            "1.5",
            "true",
            "[1, 2]",
            "{ a = 1 }",
            "\"\"",
        ])
        .prop_map(str::to_string),
    ]
}

/// Renders `(section, key) -> value` entries as a TOML file, with a valid
/// `backend.url` when `url`; a key index past a section's keys becomes the
/// top-level `data_dir`.
fn render_entries(
    entries: &std::collections::BTreeMap<(usize, usize), String>,
    url: bool,
) -> String {
    let mut entries = entries.clone();
    if url {
        entries.insert((1, 0), "\"https://h.example/api\"".to_string());
    }
    let mut top = String::new();
    let mut body = String::new();
    let mut current = None;
    for ((section, key), value) in &entries {
        let (name, keys) = SECTIONS[*section];
        let Some(key) = keys.get(*key) else {
            if top.is_empty() {
                top = format!("data_dir = {value}\n");
            }
            continue;
        };
        if current != Some(*section) {
            body.push_str(&format!("[{name}]\n"));
            current = Some(*section);
        }
        body.push_str(&format!("{key} = {value}\n"));
    }
    top + &body
}

proptest! {
    #[test]
    fn parse_never_panics_on_any_text(text in "\\PC*") {
        let _ = Config::parse(&text, "fuzz");
    }

    #[test]
    fn known_keys_with_any_values_never_panic_and_accepted_ones_round_trip(
        entries in proptest::collection::btree_map(
            (0..SECTIONS.len(), 0usize..5),
            value_strategy(),
            0..16,
        ),
        with_url in any::<bool>(),
    ) {
        let text = render_entries(&entries, with_url);
        match Config::parse(&text, "fuzz") {
            Ok(c) => {
                // Whatever is accepted is valid and survives a round trip.
                prop_assert_eq!(c.validate(), Ok(()));
                prop_assert_eq!(Config::parse(&c.to_toml(), "again"), Ok(c));
            }
            Err(e) => {
                let msg = e.to_string();
                prop_assert!(!msg.contains('\n'), "{}", msg);
                prop_assert!(msg.starts_with("fuzz: "), "{}", msg);
                if let Some(key) = e.key() {
                    prop_assert!(msg.contains(key), "{}", msg);
                }
            }
        }
    }

    #[test]
    fn accepted_numbers_round_trip(
        width in 160u32..=4096,
        timeout in 100u64..=120_000,
        table in any::<u8>(),
        tx in 0i64..=1_000_000,
        extra in 0i64..=1_000_000,
    ) {
        let mut c = configured();
        c.camera.width = width;
        c.backend.timeout_ms = timeout;
        c.printer.code_page_table = table;
        c.offline.max_transaction_cents = tx;
        c.offline.max_total_cents = tx + extra;
        prop_assert_eq!(Config::parse(&c.to_toml(), "rendered"), Ok(c));
    }
}

/// `terminal.vat_number` (config-and-cli.md): optional, 11 digits, spaces
/// as a technician copies them from a registration are dropped; a wrong
/// check digit is a warning, not a refusal (the spec's own example value,
/// "01234567890", fails it).
#[test]
fn the_partita_iva_is_optional_checked_for_shape_and_warned_about_its_check_digit() {
    let base = "[backend]\nurl = \"https://b.example/api\"\n[terminal]\nshop_name = \"T\"\n";
    let c = Config::parse(base, "t").unwrap();
    assert_eq!(c.terminal.vat_number, None);

    let c = Config::parse(&format!("{base}vat_number = \"00514 490010\"\n"), "t").unwrap();
    assert_eq!(c.terminal.vat_number.as_deref(), Some("00514490010"));
    assert!(
        !c.warnings().iter().any(|w| w.contains("vat_number")),
        "a valid partita IVA gives no warning: {:?}",
        c.warnings()
    );
    // Round trip through the rendered TOML keeps it.
    assert_eq!(Config::parse(&c.to_toml(), "t").unwrap(), c);

    let c = Config::parse(&format!("{base}vat_number = \"01234567890\"\n"), "t").unwrap();
    assert_eq!(c.terminal.vat_number.as_deref(), Some("01234567890"));
    let w = c.warnings();
    assert!(
        w.iter()
            .any(|w| w.contains("terminal.vat_number") && w.contains("check digit")),
        "{w:?}"
    );
}
