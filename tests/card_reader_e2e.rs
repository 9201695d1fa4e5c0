//! End-to-end: the real `pos-agent` binary reading a virtual card reader on
//! a pty pair (`hardware_mocks::serial`), and the `scan` events it
//! publishes on `GET /api/v1/events` (Server-Sent Events).

mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use hardware_mocks::serial::{LineEnding, Tessera, VirtualCardReader};
use serde_json::Value;
use support::{Env, EventStream, Opts};

const FULL_CF: &str = "RSSMRA85T10A562S";
const MASKED_CF: &str = "RSS***********2S";
const WAIT: Duration = Duration::from_secs(20);

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
    let mut events = EventStream::open(&env, &token).await;
    env.wait_device_state("card_reader", "ready").await;

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
    assert_eq!(
        events.next_device_state("card_reader", WAIT).await,
        "offline"
    );
    eprintln!(
        "measured: unplug to offline event {:?}",
        unplugged.elapsed()
    );
    assert_eq!(env.device_state("card_reader").await, "offline");

    // Plugged back in: ready again, and a swipe works without a restart.
    let mut dev = VirtualCardReader::open().expect("virtual card reader");
    let replugged = Instant::now();
    point(&link, dev.path());
    assert_eq!(events.next_device_state("card_reader", WAIT).await, "ready");
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
    assert_eq!(env.device_state("card_reader").await, "disabled");
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
    assert_eq!(env.device_state("card_reader").await, "offline");
    // Plugged in later: picked up without a restart.
    let dev = VirtualCardReader::open().expect("virtual card reader");
    point(&missing, dev.path());
    env.wait_device_state("card_reader", "ready").await;
}
