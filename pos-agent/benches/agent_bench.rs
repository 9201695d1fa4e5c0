//! Benchmarks of issue 8: numbers for the README, never asserted.
//!
//! ```text
//! cargo bench -p pos-agent --bench agent_bench                 # everything
//! cargo bench -p pos-agent --bench agent_bench -- pay drain    # some sections
//! ```
//!
//! Sections:
//! - `pay`: latency of `pay` (durable commit) and of a whole transaction's
//!   API round trip (create → amount → pre-receipt → pay, printer `none`),
//!   the REAL release binary against the in-process mock backend.
//! - `cart`: the same for a family's cart of five items (five children's
//!   codes added with `POST .../items`, an amount each): `pay` writes one
//!   receipt and five outbox entries in its one durable commit.
//! - `drain`: 10,000 recharges queued with `counter::commit_payment`, then the
//!   binary started: time until `status.outbox.pending` is 0.
//! - `journal`: `pos-agent journal verify` on a journal of 650,000 entries
//!   (325,000 payments, each `paid` + `confirmed`, written with the real
//!   `Store` in days of 500 payments, each day's receipts printed and the
//!   day closed, which compacts it), and its size on disk; then `pos-agent
//!   backup` (copy and verification) and `receipt show` on it.
//! - `idle`: time from process start to serving the API, and idle RSS.
//! - `fleet`: 500 agents' backlogs draining into one mock backend after an
//!   outage, with jittered backoff and, for contrast, without jitter.
//!
//! Knobs (environment): `BENCH_PAYMENTS` (600), `BENCH_CARTS` (300), `BENCH_DRAIN` (10000),
//! `BENCH_JOURNAL_ENTRIES` (650000), `BENCH_JOURNAL_DIR` (where to build it,
//! default /dev/shm when present), `BENCH_JOURNAL_KEEP` (a file: the journal
//! built is copied there, and reused by the next runs instead of building
//! one; delete it when done), `BENCH_FLEET_AGENTS` (500),
//! `BENCH_FLEET_BACKLOG` (10), `BENCH_FLEET_OUTAGE_S` (30).

#[path = "../../tests/support/mod.rs"]
mod support;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hardware_mocks::{demo, MockBackend};
use pos_agent::model::{Consumer, Creditor, Limits, Service, TxKind, TxState};
use pos_agent::store::{OutboxDraft, Store};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use support::Env;
use time::OffsetDateTime;

fn knob(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

fn summary(name: &str, mut v: Vec<Duration>) {
    v.sort();
    println!(
        "  {name:<28} n={:<5} p50 {:>10}  p90 {:>10}  p99 {:>10}  max {:>10}",
        v.len(),
        ms(percentile(&v, 0.50)),
        ms(percentile(&v, 0.90)),
        ms(percentile(&v, 0.99)),
        ms(*v.last().unwrap_or(&Duration::ZERO)),
    );
}

fn fs_type(p: &Path) -> String {
    Command::new("stat")
        .args(["-f", "-c", "%T"])
        .arg(p)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|_| "?".into())
}

// ---------------------------------------------------------------- pay

async fn bench_pay() {
    let n = knob("BENCH_PAYMENTS", 600) as usize;
    println!(
        "== pay: {n} transactions, one client, printer none, data dir on {}",
        fs_type(&std::env::temp_dir())
    );
    let mut env = Env::new().await;
    env.set_printer_device("none");
    env.start_agent();
    let token = env.login().await;
    let codes: Vec<&str> = demo::CODES
        .iter()
        .filter(|c| !c.revoked)
        .map(|c| c.manual_code)
        .collect();
    let (mut create, mut amount, mut pre, mut pay, mut full) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let t_all = Instant::now();
    for i in 0..n {
        let t0 = Instant::now();
        let (s, t) = env
            .call(
                "POST",
                "/api/v1/transactions",
                Some(&token),
                Some(json!({"input": codes[i % codes.len()]})),
            )
            .await;
        assert_eq!(s, 201, "{t}");
        let id = t["id"].as_str().unwrap().to_string();
        let t1 = Instant::now();
        let (s, _) = env
            .call(
                "POST",
                &format!("/api/v1/transactions/{id}/amount"),
                Some(&token),
                Some(json!({"amount_cents": 1000})),
            )
            .await;
        assert_eq!(s, 200);
        let t2 = Instant::now();
        let (s, _) = env
            .call(
                "POST",
                &format!("/api/v1/transactions/{id}/pre-receipt"),
                Some(&token),
                None,
            )
            .await;
        assert_eq!(s, 200);
        let t3 = Instant::now();
        let (s, v) = env
            .call(
                "POST",
                &format!("/api/v1/transactions/{id}/pay"),
                Some(&token),
                Some(json!({"tendered_cents": 1000})),
            )
            .await;
        assert_eq!(s, 200, "{v}");
        let t4 = Instant::now();
        create.push(t1 - t0);
        amount.push(t2 - t1);
        pre.push(t3 - t2);
        pay.push(t4 - t3);
        full.push(t4 - t0);
    }
    let elapsed = t_all.elapsed();
    summary("create (resolves the code)", create);
    summary("amount", amount);
    summary("pre-receipt (no printer)", pre);
    summary("pay (durable commit)", pay);
    summary("full round trip", full);
    println!(
        "  {n} transactions in {:.2} s ({:.0}/s)",
        elapsed.as_secs_f64(),
        n as f64 / elapsed.as_secs_f64()
    );
    env.wait_outbox_drained(Duration::from_secs(60)).await;
}

// ---------------------------------------------------------------- cart

/// `pay` of a five-item cart (issue 15), beside the one-item figure of
/// [`bench_pay`].
async fn bench_cart() {
    let n = knob("BENCH_CARTS", 300) as usize;
    println!(
        "== cart: {n} transactions of 5 items, one client, printer none, data dir on {}",
        fs_type(&std::env::temp_dir())
    );
    let mut env = Env::new().await;
    env.set_printer_device("none");
    env.start_agent();
    let token = env.login().await;
    let codes: Vec<&str> = demo::CODES
        .iter()
        .filter(|c| !c.revoked)
        .map(|c| c.manual_code)
        .take(5)
        .collect();
    assert_eq!(codes.len(), 5, "five distinct demo codes");
    let (mut build, mut pre, mut pay) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..n {
        let t0 = Instant::now();
        let (s, t) = env
            .call(
                "POST",
                "/api/v1/transactions",
                Some(&token),
                Some(json!({"input": codes[0]})),
            )
            .await;
        assert_eq!(s, 201, "{t}");
        let id = t["id"].as_str().unwrap().to_string();
        for code in &codes[1..] {
            let (s, t) = env
                .act(&token, &id, "items", Some(json!({"input": code})))
                .await;
            assert_eq!(s, 200, "{t}");
        }
        for item in 1..=5 {
            let (s, t) = env
                .act(
                    &token,
                    &id,
                    "amount",
                    Some(json!({"amount_cents": 1000, "item": item})),
                )
                .await;
            assert_eq!(s, 200, "{t}");
        }
        let t1 = Instant::now();
        let (s, _) = env.act(&token, &id, "pre-receipt", None).await;
        assert_eq!(s, 200);
        let t2 = Instant::now();
        let (s, v) = env
            .act(&token, &id, "pay", Some(json!({"tendered_cents": 5000})))
            .await;
        assert_eq!(s, 200, "{v}");
        let t3 = Instant::now();
        build.push(t1 - t0);
        pre.push(t2 - t1);
        pay.push(t3 - t2);
    }
    summary("cart of 5 (create + 4 items + 5 amounts)", build);
    summary("pre-receipt (no printer)", pre);
    summary("pay of 5 items (durable commit)", pay);
    env.wait_outbox_drained(Duration::from_secs(120)).await;
}

// ---------------------------------------------------------------- drain

/// A data dir with `n` paid recharges queued, for a terminal registered in
/// `mock`; returns the config path.
fn queued_data_dir(dir: &Path, mock: &MockBackend, backend_url: &str, n: usize) -> PathBuf {
    let terminal_id = "T-000900";
    let secret = [7u8; 32];
    mock.register_terminal(terminal_id, secret);
    let data = pos_agent::datadir::DataDir::open(&dir.join("data")).expect("data dir");
    data.write_terminal(&pos_agent::datadir::TerminalFile {
        terminal_id: terminal_id.into(),
        secret: pos_backend::Secret::from_bytes(secret).to_base64(),
        psp: Value::Null,
        location: Value::Null,
        enrolled_at: None,
    })
    .expect("terminal.json");
    let mut store = Store::open(&data.journal_path()).expect("store");
    fill_payments(&mut store, terminal_id, n, false);
    drop(store);
    let config = dir.join("config.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = \"{}\"\n[terminal]\nshop_name = \"Bench\"\naddress = \"Via Roma 1\"\n\
             [backend]\nurl = \"{backend_url}\"\ntimeout_ms = 5000\n[api]\nlisten = \"127.0.0.1:0\"\n\
             [printer]\ndevice = \"none\"\n[camera]\ndevice = \"none\"\n[card_reader]\ndevice = \"none\"\n\
             [log]\nlevel = \"warn\"\n",
            data.path.display()
        ),
    )
    .expect("config");
    config
}

/// `n` payments through the real `counter::commit_payment`, each with the
/// outbox entry the counter queues; with `settle`, each is also confirmed
/// through `settle_outbox` (two journal entries per payment).
fn fill_payments(store: &mut Store, terminal_id: &str, n: usize, settle: bool) {
    let codes: Vec<&demo::DemoCode> = demo::CODES.iter().filter(|c| !c.revoked).collect();
    let started = Instant::now();
    for i in 0..n {
        let c = codes[i % codes.len()];
        let mut t = pos_agent::model::Transaction::new(
            uuid::Uuid::new_v4().to_string(),
            "op1",
            OffsetDateTime::now_utc(),
        );
        t.state = TxState::AwaitingCash;
        let item = t.push_item(TxKind::Recharge);
        item.service = Some(Service {
            id: c.service_id.into(),
            name: "Refezione scolastica".into(),
        });
        item.creditor = Some(Creditor {
            fiscal_code: demo::CREDITOR_CF.into(),
            name: demo::CREDITOR_NAME.into(),
        });
        item.consumer = Some(Consumer {
            display_name: c.display_name.into(),
            school: Some(c.school.into()),
        });
        item.limits = Some(Limits {
            min_cents: 500,
            max_cents: 30000,
        });
        item.code = Some(c.manual_code.into());
        item.consumer_ref = Some(c.consumer_ref.into());
        item.amount_cents = Some(500 + (i as i64 % 100) * 10);
        let paid_at = OffsetDateTime::now_utc();
        pos_agent::counter::commit_payment(store, &mut t, terminal_id, paid_at, 5000, |p| {
            let it = &p.items[0];
            let body = json!({
                "transaction_id": p.id, "item": 1, "code": it.code, "service_id": c.service_id,
                "consumer_ref": it.consumer_ref, "creditor_fiscal_code": demo::CREDITOR_CF,
                "amount_cents": it.amount_cents, "fee_cents": 0,
                "paid_at": pos_backend::format_timestamp(paid_at),
                "receipt_number": p.receipt_number, "operator_id": "op1", "offline": false,
            });
            Ok(vec![OutboxDraft {
                purpose: "recharge".into(),
                method: "POST".into(),
                path: "/v1/recharges".into(),
                idempotency_key: p.id.clone(),
                body: serde_json::to_vec(&body).unwrap_or_default(),
                item: 1,
            }])
        })
        .expect("commit_payment");
        if settle {
            let entry = store
                .next_pending()
                .expect("outbox")
                .expect("entry just queued");
            store
                .settle_outbox(
                    &entry,
                    pos_agent::model::SyncState::Confirmed,
                    &json!({"recharge_id": format!("R-{i}"), "status": "credited", "balance_cents": 1000 + i}),
                )
                .expect("settle");
        }
        if (i + 1) % 50_000 == 0 {
            eprintln!(
                "  ... {} payments written ({:.0}/s)",
                i + 1,
                (i + 1) as f64 / started.elapsed().as_secs_f64()
            );
        }
    }
}

/// Start `pos-agent run`; returns the child, the API URL and the time from
/// spawn to the "listening" line.
fn spawn_agent(config: &Path) -> (std::process::Child, String, Duration) {
    let t0 = Instant::now();
    let mut child = Command::new(support::BIN)
        .arg("--config")
        .arg(config)
        .arg("run")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn pos-agent");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(a) = line.strip_prefix("pos-agent: listening on ") {
                let _ = tx.send(a.trim().to_string());
            }
        }
    });
    let url = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("agent did not start");
    (child, url, t0.elapsed())
}

async fn outbox_pending(http: &reqwest::Client, url: &str) -> i64 {
    let v: Value = http
        .get(format!("{url}/api/v1/status"))
        .send()
        .await
        .expect("status")
        .json()
        .await
        .expect("status json");
    v["outbox"]["pending"].as_i64().unwrap_or(-1)
}

async fn bench_drain() {
    let n = knob("BENCH_DRAIN", 10_000) as usize;
    for (label, base) in [
        ("disk", std::env::temp_dir()),
        ("tmpfs", PathBuf::from("/dev/shm")),
    ] {
        if !base.exists() {
            continue;
        }
        let dir = tempfile::tempdir_in(&base).expect("temp dir");
        println!(
            "== drain: {n} queued recharges, data dir on {} ({label})",
            fs_type(dir.path())
        );
        let mock = MockBackend::with_demo_data();
        let backend = mock.serve("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let t = Instant::now();
        let config = queued_data_dir(dir.path(), &mock, &backend.url, n);
        println!(
            "  queue built in {:.1} s (commit_payment x {n})",
            t.elapsed().as_secs_f64()
        );
        let http = reqwest::Client::new();
        let t0 = Instant::now();
        let (mut child, url, _) = spawn_agent(&config);
        let mut last = n as i64;
        let mut samples = Vec::new();
        loop {
            let p = outbox_pending(&http, &url).await;
            if p != last {
                samples.push((t0.elapsed(), p));
                last = p;
            }
            if p == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let elapsed = t0.elapsed();
        let _ = child.kill();
        let _ = child.wait();
        let credited = mock.recharges().len();
        println!(
            "  drained {n} in {:.2} s from process start: {:.0} recharges/s (backend credited {credited})",
            elapsed.as_secs_f64(),
            n as f64 / elapsed.as_secs_f64()
        );
        backend.shutdown().await;
    }
}

// ---------------------------------------------------------------- journal

fn bench_journal() {
    let entries = knob("BENCH_JOURNAL_ENTRIES", 650_000) as usize;
    let payments = entries / 2;
    let base = std::env::var("BENCH_JOURNAL_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            if Path::new("/dev/shm").exists() {
                PathBuf::from("/dev/shm")
            } else {
                std::env::temp_dir()
            }
        });
    println!(
        "== journal: {payments} payments (paid + confirmed = {} entries), built on {}",
        payments * 2,
        fs_type(&base)
    );
    let build = tempfile::tempdir_in(&base).expect("temp dir");
    let mut path = build.path().join("journal.sqlite");
    // A journal kept from an earlier run (building one takes minutes).
    let keep = std::env::var_os("BENCH_JOURNAL_KEEP").map(PathBuf::from);
    match &keep {
        Some(kept) if kept.is_file() => {
            println!("  reusing {}", kept.display());
            path = kept.clone();
        }
        _ => {
            let t = Instant::now();
            {
                let mut store = Store::open(&path).expect("store");
                fill_days(&mut store, "T-000123", payments);
            }
            println!("  built in {:.1} s", t.elapsed().as_secs_f64());
            if let Some(kept) = &keep {
                std::fs::copy(&path, kept).expect("keep the journal");
            }
        }
    }
    // Verify on the ordinary disk, as on a counter.
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::copy(&path, data.join("journal.sqlite")).expect("copy journal");
    drop(build);
    let size = std::fs::metadata(data.join("journal.sqlite"))
        .unwrap()
        .len();
    let journal_bytes = sqlite_table_bytes(&data.join("journal.sqlite"));
    println!(
        "  journal.sqlite: {:.1} MiB on disk ({} bytes; {:.0} bytes per journal entry incl. transactions and outbox{})",
        size as f64 / 1048576.0,
        size,
        size as f64 / (payments * 2) as f64,
        journal_bytes
    );
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = \"{}\"\n[backend]\nurl = \"http://127.0.0.1:9\"\n",
            data.display()
        ),
    )
    .unwrap();
    for run in 1..=3 {
        let t = Instant::now();
        let out = Command::new(support::BIN)
            .arg("--config")
            .arg(&config)
            .args(["journal", "verify"])
            .output()
            .expect("journal verify");
        let took = t.elapsed();
        println!(
            "  run {run}: `pos-agent journal verify` {:.2} s, exit {}: {}",
            took.as_secs_f64(),
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).trim()
        );
    }
    bench_records(&config, &data);
}

/// Payments as a counter makes them over days: each day's payments (500,
/// a busy counter) confirmed, their receipts printed, then the day closed
/// (which compacts what settled, closed payments no longer need).
fn fill_days(store: &mut Store, terminal_id: &str, payments: usize) {
    const PER_DAY: usize = 500;
    let mut done = 0;
    let mut day = 0;
    while done < payments {
        let n = PER_DAY.min(payments - done);
        fill_payments(store, terminal_id, n, true);
        for job in store.pending_print_jobs().expect("print jobs") {
            store
                .mark_print_job_printed(job.id, OffsetDateTime::now_utc())
                .expect("printed");
        }
        let paid: Vec<String> = store
            .unclosed_paid()
            .expect("unclosed")
            .into_iter()
            .map(|t| t.id)
            .collect();
        day += 1;
        let id = format!("{terminal_id}/day/{day}");
        let row = pos_agent::store::ClosureRow {
            closure_id: id.clone(),
            day: format!("{day}"),
            number: 1,
            from_at: format!("{day:08}"),
            to_at: format!("{day:08}"),
            paid_count: paid.len() as i64,
            report: json!({}),
            status: "matched".into(),
            answer: None,
        };
        let draft = OutboxDraft {
            purpose: "closure".into(),
            method: "POST".into(),
            path: "/v1/closures".into(),
            idempotency_key: id,
            body: b"{}".to_vec(),
            item: 1,
        };
        store.commit_closure(&row, &draft, &paid).expect("closure");
        store.compact_settled().expect("compaction");
        done += n;
    }
}

/// Issue 17: `backup` (copy + verify) and `receipt show` on the same journal.
fn bench_records(config: &Path, data: &Path) {
    let to = data.parent().expect("dir").join("usb");
    for run in 1..=2 {
        let t = Instant::now();
        let out = Command::new(support::BIN)
            .arg("--config")
            .arg(config)
            .args(["backup", "--to"])
            .arg(&to)
            .output()
            .expect("backup");
        println!(
            "  run {run}: `pos-agent backup` (copy + verify + SHA-256) {:.2} s, exit {}: {}",
            t.elapsed().as_secs_f64(),
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let conn = rusqlite::Connection::open_with_flags(
        data.join("journal.sqlite"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .expect("journal");
    let last: String = conn
        .query_row(
            "SELECT receipt_number FROM transactions WHERE receipt_number IS NOT NULL ORDER BY rowid LIMIT 1",
            [],
            |r| r.get(0),
        )
        .expect("a receipt");
    for format in ["txt", "png", "pdf"] {
        let t = Instant::now();
        let out = Command::new(support::BIN)
            .arg("--config")
            .arg(config)
            .args(["receipt", "show", &last, "--format", format])
            .output()
            .expect("receipt show");
        println!(
            "  `pos-agent receipt show {last} --format {format}`: {:.3} s, {} bytes, exit {}",
            t.elapsed().as_secs_f64(),
            out.stdout.len(),
            out.status.code().unwrap_or(-1)
        );
    }
}

/// "; journal table N MiB" via SQLite's dbstat, when compiled in.
fn sqlite_table_bytes(path: &Path) -> String {
    let Ok(conn) =
        rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
    else {
        return String::new();
    };
    let mut parts = Vec::new();
    for table in ["journal", "transactions", "outbox"] {
        let r: Result<i64, _> = conn.query_row(
            "SELECT SUM(pgsize) FROM dbstat WHERE name = ?1",
            [table],
            |r| r.get(0),
        );
        if let Ok(b) = r {
            parts.push(format!("{table} {:.1} MiB", b as f64 / 1048576.0));
        }
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!("; {}", parts.join(", "))
    }
}

// ---------------------------------------------------------------- idle

fn rss_kib(pid: u32) -> (u64, u64) {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

async fn bench_idle() {
    println!("== idle: start time and RSS (printer none, card reader none; camera none, then dir: at 720p)");
    let mut env = Env::new().await;
    env.set_printer_device("none");
    let http = reqwest::Client::new();
    let mut starts = Vec::new();
    let mut serving = Vec::new();
    for _ in 0..5 {
        let (mut child, url, to_listen) = spawn_agent(&env.config_path);
        let t0 = Instant::now() - to_listen;
        loop {
            if let Ok(r) = http.get(format!("{url}/api/v1/status")).send().await {
                if r.status().is_success() {
                    break;
                }
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        starts.push(to_listen);
        serving.push(t0.elapsed());
        let _ = child.kill();
        let _ = child.wait();
    }
    summary("spawn -> listening line", starts);
    summary("spawn -> first status 200", serving);
    env.start_agent();
    let token = env.login().await;
    // A little real work first, then idle.
    for _ in 0..20 {
        let id = env
            .ready_to_pay(&token, demo::MANUAL_CODE_MENSA_1, 1000)
            .await;
        env.pay(&token, &id, 1000).await;
    }
    env.wait_outbox_drained(Duration::from_secs(30)).await;
    let pid = env.agent_pid().expect("pid");
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (rss, hwm) = rss_kib(pid);
    println!(
        "  idle after 20 transactions, no camera: VmRSS {:.1} MiB, VmHWM {:.1} MiB",
        rss as f64 / 1024.0,
        hwm as f64 / 1024.0
    );
    drop(env);

    // The same with the camera running: a dir: camera fed 1280x720 JPEG
    // frames at 10 fps by the virtual camera (a quarter of them with a QR).
    let frames = tempfile::tempdir().expect("temp dir");
    let cam_dir = frames.path().join("camera");
    std::fs::create_dir_all(&cam_dir).expect("camera dir");
    let mut env = Env::with(support::Opts {
        camera_device: format!("dir:{}", cam_dir.display()),
        ..Default::default()
    })
    .await;
    env.set_printer_device("none");
    env.start_agent();
    let payload = demo::app_token(demo::CONSUMER_1, demo::SERVICE_MENSA, demo::DEMO_IAT);
    let jpegs: Vec<Vec<u8>> = (0..20u64)
        .map(|i| {
            let p = (i % 4 == 0).then_some(payload.as_str());
            hardware_mocks::camera::frame_jpeg(p, 1280, 720, i)
        })
        .collect();
    let pid = env.agent_pid().expect("pid");
    let mut peak_rss = 0;
    for k in 0..100usize {
        let tmp = cam_dir.join(format!(".f{k:06}.part"));
        std::fs::write(&tmp, &jpegs[k % jpegs.len()]).expect("frame");
        std::fs::rename(&tmp, cam_dir.join(format!("f{k:06}.jpg"))).expect("frame");
        tokio::time::sleep(Duration::from_millis(100)).await;
        if k % 10 == 9 {
            peak_rss = peak_rss.max(rss_kib(pid).0);
        }
    }
    let (rss, hwm) = rss_kib(pid);
    println!(
        "  camera at 720p, 10 fps for 10 s: VmRSS {:.1} MiB (highest sampled {:.1} MiB), VmHWM {:.1} MiB",
        rss as f64 / 1024.0,
        peak_rss as f64 / 1024.0,
        hwm as f64 / 1024.0
    );
}

// ---------------------------------------------------------------- fleet

#[derive(Clone, Copy, Debug)]
enum Policy {
    Jittered,
    NoJitter,
}

struct FleetStats {
    /// Attempts by 100 ms bucket since the start of the run.
    buckets: Mutex<Vec<u32>>,
    done: AtomicUsize,
    last_success: Mutex<Duration>,
}

impl FleetStats {
    fn record(&self, at: Duration) {
        let i = (at.as_millis() / 100) as usize;
        let mut b = self.buckets.lock().unwrap();
        if b.len() <= i {
            b.resize(i + 1, 0);
        }
        b[i] += 1;
    }
}

async fn bench_fleet() {
    let agents = knob("BENCH_FLEET_AGENTS", 500) as usize;
    let backlog = knob("BENCH_FLEET_BACKLOG", 10) as usize;
    let outage = Duration::from_secs(knob("BENCH_FLEET_OUTAGE_S", 30));
    let tuning = pos_agent::agent::Tuning::default();
    let backoff = pos_backend::Backoff {
        base: tuning.sync_base,
        max: tuning.sync_max,
    };
    println!(
        "== fleet: {agents} agents x {backlog} queued recharges, backend down {} s, backoff base {:?} max {:?} (the agent's defaults)",
        outage.as_secs(),
        backoff.base,
        backoff.max
    );
    for policy in [Policy::Jittered, Policy::NoJitter] {
        fleet_run(policy, agents, backlog, outage, backoff).await;
    }
}

async fn fleet_run(
    policy: Policy,
    agents: usize,
    backlog: usize,
    outage: Duration,
    backoff: pos_backend::Backoff,
) {
    let mock = MockBackend::with_demo_data();
    // A free port to serve on later.
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let base_url = format!("http://{addr}");
    let codes: Vec<&demo::DemoCode> = demo::CODES.iter().filter(|c| !c.revoked).collect();
    let stats = Arc::new(FleetStats {
        buckets: Mutex::new(Vec::new()),
        done: AtomicUsize::new(0),
        last_success: Mutex::new(Duration::ZERO),
    });
    let start = Instant::now();
    let mut tasks = Vec::new();
    for a in 0..agents {
        let terminal_id = format!("T-{:06}", 100_000 + a);
        let mut secret = [0u8; 32];
        secret[..8].copy_from_slice(&(a as u64).to_le_bytes());
        mock.register_terminal(&terminal_id, secret);
        let client = pos_backend::BackendClient::new(pos_backend::ClientOptions {
            base_url: base_url.clone(),
            timeout: Duration::from_secs(10),
            ca_file: None,
            user_agent: "fleet-bench".into(),
        })
        .expect("client")
        .with_credentials(pos_backend::Credentials {
            terminal_id: terminal_id.clone(),
            secret: pos_backend::Secret::from_bytes(secret),
        });
        let queue: Vec<pos_backend::PreparedRequest> = (0..backlog)
            .map(|i| {
                let c = codes[(a + i) % codes.len()];
                pos_backend::PreparedRequest::recharge(&pos_backend::RechargeRequest {
                    transaction_id: uuid::Uuid::new_v4().to_string(),
                    item: 1,
                    code: c.manual_code.into(),
                    service_id: c.service_id.into(),
                    consumer_ref: c.consumer_ref.into(),
                    creditor_fiscal_code: demo::CREDITOR_CF.into(),
                    amount_cents: 1000,
                    fee_cents: 0,
                    paid_at: OffsetDateTime::now_utc(),
                    receipt_number: format!("{terminal_id}/2026/{:06}", i + 1),
                    operator_id: "op1".into(),
                    offline: false,
                })
            })
            .collect();
        let stats = stats.clone();
        let mut rng = StdRng::seed_from_u64(a as u64);
        tasks.push(tokio::spawn(async move {
            // The first payment after the outage began: spread over 5 s.
            tokio::time::sleep(Duration::from_millis(rng.gen_range(0..5000))).await;
            for req in queue {
                let mut attempt = 0u32;
                loop {
                    stats.record(start.elapsed());
                    match client.send(&req).await {
                        Ok(_) => {
                            *stats.last_success.lock().unwrap() = start.elapsed();
                            break;
                        }
                        Err(e) if e.is_transient() => {
                            let retry_after = match &e {
                                pos_backend::BackendError::Transient { retry_after, .. } => {
                                    *retry_after
                                }
                                _ => None,
                            };
                            let d = match policy {
                                Policy::Jittered => backoff.delay(attempt, retry_after, &mut rng),
                                Policy::NoJitter => backoff.ceiling(attempt),
                            };
                            attempt += 1;
                            tokio::time::sleep(d).await;
                        }
                        Err(e) => panic!("fleet: unexpected {e}"),
                    }
                }
            }
            stats.done.fetch_add(1, Ordering::SeqCst);
        }));
    }
    tokio::time::sleep(outage.saturating_sub(start.elapsed())).await;
    let restored = start.elapsed();
    let running = mock.serve(addr).await.expect("serve the backend again");
    for t in tasks {
        t.await.expect("sender");
    }
    let last = *stats.last_success.lock().unwrap();
    let buckets = stats.buckets.lock().unwrap().clone();
    let first_after = (restored.as_millis() / 100) as usize;
    let during: u32 = buckets[..first_after.min(buckets.len())].iter().sum();
    let after = &buckets[first_after.min(buckets.len())..];
    let peak_100ms = after.iter().copied().max().unwrap_or(0);
    let peak_1s = after
        .windows(10)
        .map(|w| w.iter().sum::<u32>())
        .max()
        .unwrap_or_else(|| after.iter().sum());
    let total_after: u32 = after.iter().sum();
    let credited = mock.recharges().len();
    println!(
        "  {policy:?}: drained {credited} recharges {:.1} s after the backend came back; \
         peak {peak_1s} req/s over 1 s, {} req/s over 100 ms; {total_after} requests after, \
         {during} refused connections during the outage",
        (last - restored).as_secs_f64(),
        peak_100ms * 10
    );
    // Requests per second after the restore, as a coarse profile.
    let per_s: Vec<u32> = after.chunks(10).map(|c| c.iter().sum()).collect();
    println!("    req/s by second after restore: {per_s:?}");
    running.shutdown().await;
}

// ---------------------------------------------------------------- main

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let all = ["pay", "cart", "drain", "journal", "idle", "fleet"];
    let wanted: Vec<&str> = if args.is_empty() {
        all.to_vec()
    } else {
        all.iter()
            .copied()
            .filter(|s| args.iter().any(|a| a == s))
            .collect()
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    println!(
        "pos-agent benchmarks ({} CPUs): {wanted:?}",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    for s in wanted {
        let t = Instant::now();
        match s {
            "pay" => rt.block_on(bench_pay()),
            "cart" => rt.block_on(bench_cart()),
            "drain" => rt.block_on(bench_drain()),
            "journal" => bench_journal(),
            "idle" => rt.block_on(bench_idle()),
            "fleet" => rt.block_on(bench_fleet()),
            _ => {}
        }
        println!("  (section took {:.1} s)\n", t.elapsed().as_secs_f64());
    }
}
