//! End-to-end: the real `pos-agent` binary reading a virtual card reader on
//! a pty pair (`hardware_mocks::serial`), and the `scan` events it
//! publishes on `GET /api/v1/events` (Server-Sent Events).

mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use hardware_mocks::serial::{LineEnding, Tessera, VirtualCardReader};
use serde_json::Value;
use support::{Env, Opts};

const FULL_CF: &str = "RSSMRA85T10A562S";
const MASKED_CF: &str = "RSS***********2S";
const WAIT: Duration = Duration::from_secs(20);

/// A Server-Sent Events stream, read event by event.
struct Events {
    resp: reqwest::Response,
    buf: String,
    /// Everything received, to check that no fiscal code ever went out.
    all: String,
}

impl Events {
    async fn open(env: &Env, token: &str) -> Events {
        // No overall timeout: the stream stays open for the whole test.
        let client = reqwest::Client::new();
        let resp = client
            .get(format!("{}/api/v1/events?access_token={token}", env.api))
            .send()
            .await
            .expect("open the event stream");
        assert_eq!(resp.status(), 200, "events endpoint");
        Events {
            resp,
            buf: String::new(),
            all: String::new(),
        }
    }

    /// The next event (name, data); panics after `within`.
    async fn next(&mut self, within: Duration) -> (String, Value) {
        let deadline = Instant::now() + within;
        loop {
            if let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                let mut name = String::from("message");
                let mut data = String::new();
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("event:") {
                        name = v.trim().to_string();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.trim_start());
                    }
                }
                if data.is_empty() {
                    continue; // keep-alive comment
                }
                let value = serde_json::from_str(&data).expect("event data is JSON");
                return (name, value);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            let chunk = tokio::time::timeout(left, self.resp.chunk())
                .await
                .unwrap_or_else(|_| panic!("no event within {within:?}; got so far:\n{}", self.all))
                .expect("event stream")
                .expect("event stream ended");
            let text = String::from_utf8_lossy(&chunk);
            self.all.push_str(&text);
            self.buf.push_str(&text);
        }
    }

    /// The next event called `name`, skipping others.
    async fn next_named(&mut self, name: &str, within: Duration) -> Value {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let (n, v) = self.next(left).await;
            if n == name {
                return v;
            }
        }
    }

    /// The next `device` event about the card reader.
    async fn next_reader_state(&mut self, within: Duration) -> String {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let v = self.next_named("device", left).await;
            if v["device"] == "card_reader" {
                return v["state"].as_str().expect("state").to_string();
            }
        }
    }
}

async fn reader_state(env: &Env) -> String {
    let (s, v) = env.call("GET", "/api/v1/status", None, None).await;
    assert_eq!(s, 200, "status: {v}");
    v["devices"]["card_reader"]["state"]
        .as_str()
        .expect("card reader state")
        .to_string()
}

async fn wait_reader_state(env: &Env, want: &str) {
    let deadline = Instant::now() + WAIT;
    loop {
        let state = reader_state(env).await;
        if state == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "card reader never became {want} (is {state}); logs:\n{}",
            env.logs()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn point(link: &Path, target: &Path) {
    let _ = std::fs::remove_file(link);
    std::os::unix::fs::symlink(target, link).expect("symlink to the pty");
}

fn assert_scan_of_demo_card(scan: &Value) {
    assert_eq!(scan["source"], "card_reader", "{scan}");
    assert_eq!(scan["kind"], "fiscal_code", "{scan}");
    assert_eq!(scan["input"], MASKED_CF, "{scan}");
    assert!(
        scan["scan_id"].as_str().is_some_and(|id| !id.is_empty()),
        "{scan}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swipes_arrive_as_masked_scans_through_garbage_and_replugging() {
    // The configured path is a symlink (like /dev/serial/by-id/...), so the
    // reader can be "re-plugged" as a new pty behind the same name.
    let links = tempfile::tempdir().expect("temp dir");
    let link = links.path().join("ttyACM0");
    let mut dev = VirtualCardReader::open().expect("virtual card reader");
    point(&link, dev.path());
    let mut env = Env::with(Opts {
        card_reader_device: format!("serial:{}?baud=9600", link.display()),
        ..Opts::default()
    })
    .await;
    env.start_agent();
    let token = env.login().await;
    let mut events = Events::open(&env, &token).await;
    wait_reader_state(&env, "ready").await;

    // Garbage first, then a real swipe (track 1 + track 2): exactly one
    // scan, for track 1; no event for the garbage nor for track 2.
    let card = Tessera::demo();
    dev.send_garbage().expect("garbage");
    let swiped = Instant::now();
    dev.swipe(&card).expect("swipe");
    let scan = events.next_named("scan", WAIT).await;
    // Reported, not asserted (no timing assertions in tests).
    eprintln!("measured: swipe to scan event {:?}", swiped.elapsed());
    assert_scan_of_demo_card(&scan);

    // The Code 39 barcode with start/stop characters and CRLF, then a
    // track 1 delivered in two writes: two more scans, and nothing else.
    dev.set_ending(LineEnding::CrLf);
    dev.send_line(&format!("*{FULL_CF}*")).expect("barcode");
    dev.set_ending(LineEnding::Lf);
    dev.send_split(&card.track1(), 9, Duration::from_millis(50))
        .expect("split swipe");
    let second = events.next_named("scan", WAIT).await;
    assert_scan_of_demo_card(&second);
    let third = events.next_named("scan", WAIT).await;
    assert_scan_of_demo_card(&third);
    assert_ne!(second["scan_id"], third["scan_id"]);

    // The scan starts the health-card path: the agent kept the code behind
    // the scan_id, the backend knows the payer, the operator chooses.
    let (s, t) = env
        .call(
            "POST",
            "/api/v1/transactions",
            Some(&token),
            Some(serde_json::json!({"scan_id": scan["scan_id"]})),
        )
        .await;
    assert_eq!(s, 201, "{t}");
    assert_eq!(t["state"], "choose_code", "{t}");
    assert!(!t.to_string().contains(FULL_CF), "{t}");

    // Pulled out: offline, and an event says so.
    let unplugged = Instant::now();
    dev.unplug();
    assert_eq!(events.next_reader_state(WAIT).await, "offline");
    eprintln!(
        "measured: unplug to offline event {:?}",
        unplugged.elapsed()
    );
    assert_eq!(reader_state(&env).await, "offline");

    // Plugged back in: ready again, and a swipe works without a restart.
    let mut dev = VirtualCardReader::open().expect("virtual card reader");
    let replugged = Instant::now();
    point(&link, dev.path());
    assert_eq!(events.next_reader_state(WAIT).await, "ready");
    eprintln!("measured: replug to ready event {:?}", replugged.elapsed());
    dev.swipe(&card).expect("swipe");
    assert_scan_of_demo_card(&events.next_named("scan", WAIT).await);

    // The full fiscal code never left the agent: not in any event, not in
    // its logs. (The logs do hold the scans, so they were captured.)
    assert!(!events.all.contains(FULL_CF), "events:\n{}", events.all);
    assert!(events.all.contains(MASKED_CF));
    let logs = env.logs();
    assert!(logs.contains("card reader: scan"), "logs:\n{logs}");
    assert!(!logs.contains(FULL_CF), "logs:\n{logs}");
    assert!(!logs.contains("ROSSI"), "the holder's name leaked:\n{logs}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_reader_configured_is_disabled_and_a_missing_one_offline() {
    let mut env = Env::new().await;
    env.start_agent();
    assert_eq!(reader_state(&env).await, "disabled");
    env.kill_agent();

    let links = tempfile::tempdir().expect("temp dir");
    let missing = links.path().join("ttyACM9");
    let mut env = Env::with(Opts {
        card_reader_device: format!("serial:{}", missing.display()),
        ..Opts::default()
    })
    .await;
    env.start_agent();
    // Not there: offline (and the agent runs regardless).
    assert_eq!(reader_state(&env).await, "offline");
    // Plugged in later: picked up without a restart.
    let dev = VirtualCardReader::open().expect("virtual card reader");
    point(&missing, dev.path());
    wait_reader_state(&env, "ready").await;
}
