//! End-to-end: the technician's tools (`doctor`, `devices`, `journal
//! export`), the logs of a full run, and the .deb, with the real binary.

mod support;

use std::process::Command;
use std::time::Duration;

use hardware_mocks::demo;
use serde_json::{json, Value};
use support::{Env, BIN};

const SYNC_WAIT: Duration = Duration::from_secs(20);

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The doctor line for `check` (the first one), e.g. `✓ backend: ...`.
fn line<'a>(report: &'a str, check: &str) -> &'a str {
    report
        .lines()
        .find(|l| {
            l.split_once(' ')
                .is_some_and(|(_, rest)| rest.starts_with(&format!("{check}:")))
        })
        .unwrap_or_else(|| panic!("no `{check}` line in:\n{report}"))
}

/// Two recharges paid and confirmed; returns their receipt numbers.
async fn two_paid_recharges(env: &Env) -> Vec<String> {
    let token = env.login().await;
    let mut receipts = Vec::new();
    for (code, cents) in [
        (demo::MANUAL_CODE_MENSA_1, 2000),
        (demo::MANUAL_CODE_TRASPORTO_1, 1500),
    ] {
        let id = env.ready_to_pay(&token, code, cents).await;
        let paid = env.pay(&token, &id, 5000).await;
        receipts.push(paid["receipt_number"].as_str().unwrap().to_string());
        env.wait_sync(&token, &id, "confirmed", SYNC_WAIT).await;
    }
    receipts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_is_all_green_on_a_healthy_counter_while_the_agent_runs() {
    let mut env = Env::new().await;
    env.start_agent();
    two_paid_recharges(&env).await;
    // A healthy counter has a recent verified backup (issue 17).
    let usb = env.dir.path().join("usb");
    let out = env.cli(&["backup", "--to", usb.to_str().unwrap()]);
    assert!(out.status.success(), "backup: {}", stderr(&out));

    let out = env.cli(&["doctor"]);
    let report = stdout(&out);
    assert!(out.status.success(), "{report}\n{}", stderr(&out));
    assert!(!report.contains('✗'), "{report}");
    for check in [
        "configurazione",
        "cartella dati",
        "terminale",
        "giornale",
        "schema",
        "operatori",
        "coda di invio",
        "backend",
        "orologio",
        "firma",
        "stampante",
        "fotocamera",
        "lettore tessera",
        "servizio",
        "copia di sicurezza",
    ] {
        assert!(
            line(&report, check).starts_with('✓'),
            "{check} is not ✓:\n{report}"
        );
    }
    assert!(
        line(&report, "giornale").contains("integro, 4 voci"),
        "{report}"
    );
    assert!(line(&report, "terminale").contains("T-000123"), "{report}");
    assert!(line(&report, "firma").contains("accettata"), "{report}");
    assert!(
        line(&report, "servizio").contains("in esecuzione"),
        "{report}"
    );
    assert!(report.ends_with("Tutto a posto.\n"), "{report}");

    // The agent was not disturbed: still running, still serving.
    let agent = env.agent.as_mut().unwrap();
    assert!(
        agent.try_wait().unwrap().is_none(),
        "doctor stopped the agent"
    );
    env.login().await;
    let out = env.cli(&["doctor", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v: Value = serde_json::from_slice(&out.stdout).expect("doctor --json is JSON");
    assert_eq!(v["ok"], true);
    let checks = v["checks"].as_array().unwrap();
    assert!(checks.len() >= 14, "{v}");
    assert!(checks.iter().all(|c| c["status"] == "ok"), "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_says_what_to_fix_when_the_backend_is_down() {
    let mut env = Env::new().await;
    env.stop_backend().await;
    let out = env.cli(&["doctor"]);
    let report = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{report}");
    let backend = line(&report, "backend");
    assert!(
        backend.starts_with("✗ backend: non raggiungibile"),
        "{report}"
    );
    assert!(backend.contains("→ controlla la rete"), "{report}");
    assert!(line(&report, "firma").starts_with("- "), "{report}");
    assert!(line(&report, "orologio").starts_with("- "), "{report}");
    // Everything local is still checked and fine.
    assert!(line(&report, "giornale").starts_with('✓'), "{report}");
    assert!(line(&report, "terminale").starts_with('✓'), "{report}");
    assert!(stderr(&out).contains("check(s) failed"), "{}", stderr(&out));
    let out = env.cli(&["doctor", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["ok"], false);
    let backend = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == "backend")
        .unwrap();
    assert_eq!(backend["status"], "fail");
    assert!(
        backend["fix"].as_str().unwrap().contains("rete"),
        "{backend}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_names_a_tampered_journal() {
    let env = Env::new().await;
    {
        let mut store = pos_agent::store::Store::open(&env.journal_path()).unwrap();
        for n in 0..3 {
            store
                .journal_event("reprint", None, &json!({"receipt_number": format!("R{n}")}))
                .unwrap();
        }
    }
    let out = env.cli(&["doctor"]);
    assert!(out.status.success(), "{}", stdout(&out));
    let conn = rusqlite::Connection::open(env.journal_path()).unwrap();
    let n = conn
        .execute(
            "UPDATE journal SET body = replace(body, 'R1', 'R9') WHERE seq = 2",
            [],
        )
        .unwrap();
    assert_eq!(n, 1);
    drop(conn);
    let out = env.cli(&["doctor"]);
    let report = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{report}");
    let journal = line(&report, "giornale");
    assert!(
        journal.starts_with("✗ giornale: catena di hash interrotta"),
        "{report}"
    );
    assert!(journal.contains("2"), "names the entry: {journal}");
    assert!(journal.contains("→ non modificare"), "{journal}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_wants_the_terminal_enrolled_and_its_secret_private() {
    use std::os::unix::fs::PermissionsExt;
    let env = Env::new().await;
    let terminal = env.data_dir.join("terminal.json");
    std::fs::set_permissions(&terminal, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = env.cli(&["doctor"]);
    let report = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{report}");
    let t = line(&report, "terminale");
    assert!(t.starts_with('✗') && t.contains("→ chmod 600"), "{report}");

    std::fs::remove_file(&terminal).unwrap();
    let out = env.cli(&["doctor"]);
    let report = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{report}");
    let t = line(&report, "terminale");
    assert!(t.starts_with("✗ terminale: non registrato"), "{report}");
    assert!(t.contains("enroll --activation-code"), "{report}");
    assert!(
        line(&report, "firma").contains("terminale non registrato"),
        "{report}"
    );
    // The reachable backend is still reported as such.
    assert!(line(&report, "backend").starts_with('✓'), "{report}");
}

#[test]
fn devices_lists_three_sections_on_any_machine() {
    let out = Command::new(BIN).arg("devices").output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let sections: Vec<&str> = text.lines().filter(|l| !l.starts_with(' ')).collect();
    assert_eq!(
        &sections[..3],
        ["Fotocamere:", "Porte seriali:", "Stampanti USB:"],
        "{text}"
    );
    // Every entry comes with a config line (or says there is none).
    for l in text.lines().filter(|l| l.starts_with("  /dev/usb/lp")) {
        assert!(!l.is_empty());
        assert!(text.contains("[printer]      device = \"usb:"), "{text}");
    }
    let out = Command::new(BIN)
        .args(["devices", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    for key in ["cameras", "serial_ports", "usb_printers"] {
        assert!(v[key].is_array(), "{v}");
    }
    for p in v["serial_ports"].as_array().unwrap() {
        let line = p["config_card_reader"].as_str().unwrap();
        let device = line
            .strip_prefix("device = \"")
            .and_then(|s| s.strip_suffix('"'))
            .unwrap();
        assert!(
            device.parse::<pos_config::CardReaderDevice>().is_ok(),
            "{line}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn journal_export_round_trips_as_csv_and_json() {
    let mut env = Env::new().await;
    env.start_agent();
    let receipts = two_paid_recharges(&env).await;
    // Exporting while the agent runs is fine; the counts must match verify.
    let verify = stdout(&env.cli(&["journal", "verify"]));
    assert!(verify.contains("journal OK: 4 entries"), "{verify}");

    let out = env.cli(&["journal", "export", "--format", "csv"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let mut csv = csv::Reader::from_reader(out.stdout.as_slice());
    let header: Vec<String> = csv.headers().unwrap().iter().map(String::from).collect();
    assert_eq!(header, pos_agent::commands::export::COLUMNS);
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    let rows: Vec<csv::StringRecord> = csv.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 4);
    let paid: Vec<&csv::StringRecord> = rows.iter().filter(|r| &r[col("kind")] == "paid").collect();
    assert_eq!(paid.len(), 2);
    assert_eq!(&paid[0][col("receipt_number")], receipts[0]);
    assert_eq!(&paid[0][col("amount_cents")], "2000");
    assert_eq!(&paid[0][col("tendered_cents")], "5000");
    assert_eq!(&paid[0][col("change_cents")], "3000");
    assert_eq!(
        &paid[0][col("sync")],
        "confirmed",
        "the state now, not at payment"
    );
    assert_eq!(&paid[1][col("receipt_number")], receipts[1]);
    assert_eq!(&paid[1][col("service")], demo::SERVICE_TRASPORTO);
    assert_eq!(paid[0][col("hash")].len(), 64);

    let file = env.dir.path().join("export.json");
    let out = env.cli(&[
        "journal",
        "export",
        "--format",
        "json",
        "--output",
        file.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        out.stdout.is_empty(),
        "--output keeps standard output clean"
    );
    let v: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    let arr = v.as_array().unwrap();
    assert_eq!(arr.len(), rows.len());
    for (j, c) in arr.iter().zip(&rows) {
        assert_eq!(j["seq"].to_string(), &c[col("seq")]);
        assert_eq!(j["hash"], &c[col("hash")]);
    }
    let text = std::fs::read_to_string(&file).unwrap();
    for secret in [demo::MANUAL_CODE_MENSA_1, demo::CONSUMER_1] {
        assert!(!text.contains(secret), "export leaks {secret}");
    }

    // Ranges: everything is from today; nothing is from tomorrow on.
    let today = time::OffsetDateTime::now_utc().date();
    let day = |d: time::Date| format!("{d}");
    let out = env.cli(&[
        "journal",
        "export",
        "--from",
        &day(today.previous_day().unwrap()),
        "--to",
        &day(today.next_day().unwrap()),
    ]);
    assert_eq!(
        serde_json::from_slice::<Value>(&out.stdout)
            .unwrap()
            .as_array()
            .unwrap()
            .len(),
        4
    );
    let out = env.cli(&[
        "journal",
        "export",
        "--from",
        &day(today.next_day().unwrap().next_day().unwrap()),
        "--format",
        "csv",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        csv::Reader::from_reader(out.stdout.as_slice())
            .records()
            .count(),
        0
    );
    let out = env.cli(&["journal", "export", "--from", "22/11/2026"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("YYYY-MM-DD"), "{}", stderr(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_of_a_full_run_are_json_and_hold_no_personal_data_or_secret() {
    const FISCAL_CODE: &str = "RSSMRA85T10A562S";
    const PIN: &str = "80417362";
    const WRONG_PIN: &str = "80417369";
    let mut env = Env::new().await;
    let config = std::fs::read_to_string(&env.config_path).unwrap();
    let config = config.replace("level = \"info\"", "level = \"debug\"\nformat = \"json\"");
    std::fs::write(&env.config_path, config).unwrap();
    let out = env.cli_stdin(&["operator", "add", "mario", "--pin-stdin"], PIN);
    assert!(out.status.success(), "{}", stderr(&out));
    env.start_agent();

    let (s, _) = env
        .call(
            "POST",
            "/api/v1/login",
            None,
            Some(json!({"operator": "mario", "pin": WRONG_PIN})),
        )
        .await;
    assert_eq!(s, 401);
    let (s, v) = env
        .call(
            "POST",
            "/api/v1/login",
            None,
            Some(json!({"operator": "mario", "pin": PIN})),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let token = v["token"].as_str().unwrap().to_string();
    // The health card path: whatever the answer, the code must not be logged.
    let (s, v) = env
        .call(
            "POST",
            "/api/v1/transactions",
            Some(&token),
            Some(json!({"input": FISCAL_CODE})),
        )
        .await;
    assert!(s < 500, "{s} {v}");
    let id = env
        .ready_to_pay(&token, demo::MANUAL_CODE_MENSA_1, 2000)
        .await;
    env.pay(&token, &id, 2000).await;
    env.wait_sync(&token, &id, "confirmed", SYNC_WAIT).await;
    env.kill_agent();

    let terminal: Value =
        serde_json::from_slice(&std::fs::read(env.data_dir.join("terminal.json")).unwrap())
            .unwrap();
    let secret = terminal["secret"].as_str().unwrap().to_string();
    assert!(secret.len() >= 40);
    let logs = env.logs();
    let lines: Vec<&str> = logs.lines().collect();
    assert!(lines.len() > 5, "{logs}");
    let mut debug = 0;
    for l in &lines {
        let v: Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}"));
        assert!(v["level"].is_string() && v["timestamp"].is_string(), "{l}");
        if v["level"] == "DEBUG" {
            debug += 1;
        }
    }
    assert!(debug > 0, "log.level = debug took effect:\n{logs}");
    assert!(logs.contains(&id), "the logs are about this run:\n{logs}");
    for (what, needle) in [
        ("fiscal code", FISCAL_CODE),
        ("terminal secret", secret.as_str()),
        ("part of the terminal secret", &secret[..12]),
        ("PIN", PIN),
        ("wrong PIN", WRONG_PIN),
    ] {
        assert!(!logs.contains(needle), "the logs hold the {what}:\n{logs}");
    }
}

#[test]
fn the_deb_has_the_binary_the_unit_the_rules_and_the_config() {
    if Command::new("dpkg-deb").arg("--version").output().is_err() {
        eprintln!("dpkg-deb is not installed: .deb check skipped");
        return;
    }
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let out_dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("deb-check");
    let _ = std::fs::remove_dir_all(&out_dir);
    let out = Command::new(root.join("packaging/build-deb.sh"))
        .args(["--binary", BIN, "--fast", "--out"])
        .arg(&out_dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "build-deb.sh: {}", stderr(&out));
    let deb = stdout(&out).trim().to_string();
    assert!(deb.ends_with(".deb"), "{deb}");

    let listing = Command::new("dpkg-deb")
        .args(["-c", &deb])
        .output()
        .unwrap();
    let listing = stdout(&listing);
    for path in [
        "./usr/bin/pos-agent",
        "./usr/lib/systemd/system/pos-agent.service",
        "./usr/lib/udev/rules.d/60-pos-agent.rules",
        "./etc/pos-agent/config.toml",
        "./usr/share/doc/pos-agent/README.md",
        "./usr/share/doc/pos-agent/copyright",
    ] {
        assert!(
            listing.lines().any(|l| l.ends_with(&format!(" {path}"))),
            "{path} missing from:\n{listing}"
        );
    }
    let field = |name: &str| {
        let out = Command::new("dpkg-deb")
            .args(["-f", &deb, name])
            .output()
            .unwrap();
        stdout(&out).trim().to_string()
    };
    assert_eq!(field("Package"), "pos-agent");
    assert_eq!(field("Version"), env!("CARGO_PKG_VERSION"));
    assert!(field("Depends").contains("adduser"));

    // The whole check script: file list, control fields, maintainer scripts,
    // the shipped config, and systemd-analyze verify where available.
    let out = Command::new(root.join("packaging/check-deb.sh"))
        .arg(&deb)
        .env("POS_AGENT_BIN", BIN)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "check-deb.sh: {}{}",
        stdout(&out),
        stderr(&out)
    );
    let _ = std::fs::remove_dir_all(&out_dir);
}
