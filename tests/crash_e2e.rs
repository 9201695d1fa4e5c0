//! Crash loop: "nothing lost, nothing twice".
//!
//! The REAL `pos-agent` binary runs against the mock backend and a slow
//! virtual network printer while several client tasks drive payments through
//! the local API. A killer loop SIGKILLs the agent at random moments (seeded
//! schedule) and restarts it: at random, while a `pay` call is in flight,
//! while the outbox sender waits for a slowed-down backend, after the
//! backend applied a recharge but before the agent read the answer, and
//! while the printer is in the middle of a job.
//!
//! At the end, with the outbox drained:
//! - every transaction whose `pay` answered 200 is `paid` in the journal with
//!   the receipt number it was given, and credited exactly once;
//! - a `pay` whose HTTP call died with the agent is either paid and credited
//!   once, or not paid and not credited;
//! - the backend credited nothing that is not paid in the journal;
//! - receipt numbers are unique and gapless;
//! - `pos-agent journal verify` passes.
//!
//! Bounded: about 220 payments and a few dozen kills, well under two
//! minutes on two cores. `CRASH_SEED=<u64>` replays another schedule (the
//! timing of a real machine still varies from run to run).

mod support;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hardware_mocks::{demo, Fault, Route};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use support::{assert_gapless_receipts, Env, Opts};

/// Payments answered 200 before the clients stop.
const TARGET_PAID: usize = 220;
/// Concurrent API clients (counters share one agent: think several browser
/// tabs plus a script).
const CLIENTS: usize = 4;
/// The whole loop must end within this; a hang is a failure, not a wait.
const LOOP_BUDGET: Duration = Duration::from_secs(150);

const CODES: [&str; 8] = [
    demo::MANUAL_CODE_MENSA_1,
    demo::MANUAL_CODE_TRASPORTO_1,
    demo::MANUAL_CODE_MENSA_2,
    demo::MANUAL_CODE_TRASPORTO_2,
    demo::MANUAL_CODE_MENSA_3,
    demo::MANUAL_CODE_TRASPORTO_3,
    demo::MANUAL_CODE_MENSA_4,
    demo::MANUAL_CODE_TRASPORTO_4,
];

/// Where the agent is now, as the clients see it. `up` is false from just
/// before a kill until the restarted agent has a fresh login token.
#[derive(Clone, Debug)]
struct Conn {
    api: String,
    token: String,
    epoch: u64,
    up: bool,
}

#[derive(Default)]
struct Ledger {
    /// Transactions the clients created (and got the id of).
    created: HashSet<String>,
    /// `pay` answered 200: id → the answer.
    paid: HashMap<String, Value>,
    /// `pay` was sent but the connection died with the agent; removed if a
    /// later retry of `pay` answers 200.
    uncertain: HashSet<String>,
    /// Pay calls that died with the agent (whatever happened next).
    pay_calls_cut: usize,
    /// Of those, retried after the restart and answered 200.
    pay_retried_ok: usize,
}

struct Shared {
    conn: Mutex<Conn>,
    ledger: Mutex<Ledger>,
    pays_in_flight: AtomicUsize,
    done: AtomicBool,
}

impl Shared {
    fn conn(&self) -> Conn {
        self.conn.lock().unwrap().clone()
    }

    fn paid_count(&self) -> usize {
        self.ledger.lock().unwrap().paid.len()
    }
}

/// The call never got an answer: the agent died under it.
struct Lost;

/// Wait until the agent is up; returns where it is.
async fn wait_up(shared: &Shared) -> Conn {
    loop {
        let c = shared.conn();
        if c.up {
            return c;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Wait until the agent was restarted after `epoch` (or, if no restart
/// comes within 3 s, carry on with what is there: the failure may not have
/// been a kill).
async fn wait_restart(shared: &Shared, epoch: u64) -> Conn {
    let since = Instant::now();
    loop {
        let c = shared.conn();
        if c.up && (c.epoch > epoch || since.elapsed() > Duration::from_secs(3)) {
            return c;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// One API call against the current agent. A 401 (the restarted agent forgot
/// the sessions: it changes nothing) waits for the next login and repeats;
/// a transport error is `Lost`.
async fn step(
    shared: &Shared,
    http: &reqwest::Client,
    path: &str,
    body: Option<Value>,
) -> Result<(u16, Value, u64), Lost> {
    loop {
        let c = wait_up(shared).await;
        let mut req = http
            .post(format!("{}{}", c.api, path))
            .bearer_auth(&c.token);
        if let Some(b) = &body {
            req = req.json(b);
        }
        let resp = match req.send().await {
            Ok(r) => r,
            Err(_) => return Err(Lost),
        };
        let status = resp.status().as_u16();
        let text = match resp.text().await {
            Ok(t) => t,
            Err(_) => return Err(Lost),
        };
        let v: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        if status == 401 {
            wait_restart(shared, c.epoch).await;
            continue;
        }
        return Ok((status, v, c.epoch));
    }
}

/// Repeat a step that is safe to repeat (amount, pre-receipt) until the
/// agent answers it.
async fn step_until_answered(
    shared: &Shared,
    http: &reqwest::Client,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    loop {
        let epoch = shared.conn().epoch;
        match step(shared, http, path, body.clone()).await {
            Ok((s, v, _)) => return (s, v),
            Err(Lost) => {
                wait_restart(shared, epoch).await;
            }
        }
    }
}

/// One counter: create → amount → pre-receipt → pay, again and again.
async fn client(shared: Arc<Shared>, seed: u64) {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .expect("client");
    let mut rng = StdRng::seed_from_u64(seed);
    while !shared.done.load(Ordering::SeqCst) && shared.paid_count() < TARGET_PAID {
        let code = CODES[rng.gen_range(0..CODES.len())];
        let amount: i64 = rng.gen_range(500..=30_000);
        let epoch = shared.conn().epoch;
        let id = match step(
            &shared,
            &http,
            "/api/v1/transactions",
            Some(json!({"input": code})),
        )
        .await
        {
            Ok((201, t, _)) => t["id"].as_str().expect("id").to_string(),
            Ok((s, v, _)) => panic!("create answered {s}: {v}"),
            Err(Lost) => {
                // It may exist, unpaid: that is fine. Start another one.
                wait_restart(&shared, epoch).await;
                continue;
            }
        };
        shared.ledger.lock().unwrap().created.insert(id.clone());
        let (s, v) = step_until_answered(
            &shared,
            &http,
            &format!("/api/v1/transactions/{id}/amount"),
            Some(json!({"amount_cents": amount})),
        )
        .await;
        assert_eq!(s, 200, "amount: {v}");
        let (s, v) = step_until_answered(
            &shared,
            &http,
            &format!("/api/v1/transactions/{id}/pre-receipt"),
            None,
        )
        .await;
        assert_eq!(s, 200, "pre-receipt: {v}");
        assert_eq!(v["state"], "awaiting_cash", "{v}");

        // Pay; if the agent dies under the call, the operator retries it
        // after the restart half of the time and walks away otherwise.
        let tendered = amount + rng.gen_range(0..5_000);
        let retry_if_cut = rng.gen_bool(0.5);
        let mut cut = false;
        loop {
            let epoch = shared.conn().epoch;
            shared.pays_in_flight.fetch_add(1, Ordering::SeqCst);
            let r = step(
                &shared,
                &http,
                &format!("/api/v1/transactions/{id}/pay"),
                Some(json!({"tendered_cents": tendered})),
            )
            .await;
            shared.pays_in_flight.fetch_sub(1, Ordering::SeqCst);
            match r {
                Ok((200, v, _)) => {
                    assert_eq!(v["state"], "paid", "{v}");
                    assert!(v["receipt_number"].is_string(), "{v}");
                    assert_eq!(v["change_cents"], tendered - amount, "{v}");
                    let mut l = shared.ledger.lock().unwrap();
                    if cut {
                        l.pay_retried_ok += 1;
                    }
                    l.uncertain.remove(&id);
                    l.paid.insert(id.clone(), v);
                    break;
                }
                Ok((s, v, _)) => panic!("pay answered {s}: {v}"),
                Err(Lost) => {
                    {
                        let mut l = shared.ledger.lock().unwrap();
                        l.pay_calls_cut += 1;
                        l.uncertain.insert(id.clone());
                    }
                    cut = true;
                    wait_restart(&shared, epoch).await;
                    if !retry_if_cut {
                        break;
                    }
                }
            }
        }
    }
}

/// A network printer that is sometimes slow to answer its status query
/// (`DLE EOT n`), so that a print job is in progress for a while and kills
/// can land in the middle of one. `busy` is true while it holds an answer.
struct SlowPrinter {
    addr: SocketAddr,
    busy: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
}

impl SlowPrinter {
    fn start(seed: u64) -> SlowPrinter {
        let listener = TcpListener::bind("127.0.0.1:0").expect("printer bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let addr = listener.local_addr().expect("addr");
        let busy = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(AtomicBool::new(false));
        let rng = Arc::new(Mutex::new(StdRng::seed_from_u64(seed)));
        let (b, s) = (busy.clone(), stop.clone());
        std::thread::spawn(move || {
            while !s.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let (b, rng) = (b.clone(), rng.clone());
                        std::thread::spawn(move || serve_printer(stream, &b, &rng));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        SlowPrinter { addr, busy, stop }
    }
}

impl Drop for SlowPrinter {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

fn serve_printer(mut stream: TcpStream, busy: &AtomicBool, rng: &Mutex<StdRng>) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut buf = [0u8; 4096];
    let mut dle = 0u8;
    let mut first = true;
    loop {
        let n = match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        let mut replies = Vec::new();
        for &b in &buf[..n] {
            dle = match (dle, b) {
                (_, 0x10) => 1,
                (1, 0x04) => 2,
                (2, _) => {
                    replies.push(0x12u8);
                    0
                }
                _ => 0,
            };
        }
        if replies.is_empty() {
            continue;
        }
        if first {
            first = false;
            // Well under the driver's 800 ms status timeout.
            let delay = {
                let mut r = rng.lock().unwrap();
                if r.gen_bool(0.5) {
                    r.gen_range(20..120)
                } else {
                    0
                }
            };
            if delay > 0 {
                busy.store(true, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(delay));
                busy.store(false, Ordering::SeqCst);
            }
        }
        if stream.write_all(&replies).is_err() {
            return;
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum KillMode {
    /// Any moment.
    Random,
    /// While a `pay` call is in flight.
    DuringPay,
    /// While the outbox sender waits for a backend slowed with `Delay`.
    DuringSync,
    /// After the backend applied a recharge, before the agent read the answer.
    AfterApply,
    /// While the printer holds a job.
    DuringPrint,
}

/// Poll `cond` every millisecond for at most `within`; true if it held.
async fn wait_for(within: Duration, cond: impl Fn() -> bool) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_loop_loses_nothing_and_credits_nothing_twice() {
    let seed: u64 = std::env::var("CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5EED_0008);
    eprintln!("crash loop seed: {seed} (CRASH_SEED to replay)");
    let started = Instant::now();
    let mut rng = StdRng::seed_from_u64(seed);
    let mut env = Env::with(Opts {
        backend_timeout_ms: 1500,
        ..Opts::default()
    })
    .await;
    let printer = SlowPrinter::start(seed ^ 0x9e37_79b9);
    env.set_printer_device(&format!("tcp://{}", printer.addr));
    tokio::task::block_in_place(|| env.start_agent());
    let token = env.login().await;
    let shared = Arc::new(Shared {
        conn: Mutex::new(Conn {
            api: env.api.clone(),
            token,
            epoch: 0,
            up: true,
        }),
        ledger: Mutex::new(Ledger::default()),
        pays_in_flight: AtomicUsize::new(0),
        done: AtomicBool::new(false),
    });
    let clients: Vec<_> = (0..CLIENTS)
        .map(|i| tokio::spawn(client(shared.clone(), seed.wrapping_add(i as u64 + 1))))
        .collect();

    let mut kills: BTreeMap<KillMode, usize> = BTreeMap::new();
    let mut kills_on_target: BTreeMap<KillMode, usize> = BTreeMap::new();
    while shared.paid_count() < TARGET_PAID {
        assert!(
            started.elapsed() < LOOP_BUDGET,
            "crash loop over budget: {} paid so far; logs:\n{}",
            shared.paid_count(),
            env.logs()
        );
        if clients.iter().all(|c| c.is_finished()) {
            break;
        }
        // Let the counters work a little before the next kill.
        tokio::time::sleep(Duration::from_millis(rng.gen_range(150..900))).await;
        let mode = match rng.gen_range(0..10) {
            0..=2 => KillMode::Random,
            3..=4 => KillMode::DuringPay,
            5..=6 => KillMode::DuringSync,
            7 => KillMode::AfterApply,
            _ => KillMode::DuringPrint,
        };
        let on_target = match mode {
            KillMode::Random => {
                tokio::time::sleep(Duration::from_millis(rng.gen_range(0..400))).await;
                true
            }
            KillMode::DuringPay => {
                let hit = wait_for(Duration::from_secs(3), || {
                    shared.pays_in_flight.load(Ordering::SeqCst) > 0
                })
                .await;
                // The commit (with its fsync) is a few milliseconds: land
                // before, inside or after it.
                tokio::time::sleep(Duration::from_micros(rng.gen_range(0..6_000))).await;
                hit
            }
            KillMode::DuringSync => {
                let ms = rng.gen_range(200..700);
                env.mock.inject(
                    Route::prefix("/v1/recharges"),
                    Fault::Delay(Duration::from_millis(ms)),
                    3,
                );
                tokio::time::sleep(Duration::from_millis(rng.gen_range(50..ms))).await;
                true
            }
            KillMode::AfterApply => {
                let before = env.mock.recharges().len();
                env.mock.inject(
                    Route::prefix("/v1/recharges"),
                    Fault::ApplyThenHang(Duration::from_secs(3)),
                    1,
                );
                wait_for(Duration::from_secs(3), || {
                    env.mock.recharges().len() > before
                })
                .await
            }
            KillMode::DuringPrint => {
                wait_for(Duration::from_secs(3), || {
                    printer.busy.load(Ordering::SeqCst)
                })
                .await
            }
        };
        shared.conn.lock().unwrap().up = false;
        env.kill_agent();
        *kills.entry(mode).or_default() += 1;
        if on_target {
            *kills_on_target.entry(mode).or_default() += 1;
        }
        // Sometimes the power comes back at once, sometimes a bit later.
        tokio::time::sleep(Duration::from_millis(rng.gen_range(0..150))).await;
        tokio::task::block_in_place(|| env.start_agent());
        let token = env.login().await;
        let mut c = shared.conn.lock().unwrap();
        c.api = env.api.clone();
        c.token = token;
        c.epoch += 1;
        c.up = true;
    }
    shared.done.store(true, Ordering::SeqCst);
    for c in clients {
        tokio::time::timeout(Duration::from_secs(60), c)
            .await
            .expect("a client hung")
            .expect("a client panicked");
    }
    let loop_time = started.elapsed();

    // Settle: no more faults, the outbox drains, then look at everything.
    env.mock.clear_faults();
    let token = shared.conn().token;
    env.wait_outbox_drained(Duration::from_secs(60)).await;
    let ledger = std::mem::take(&mut *shared.ledger.lock().unwrap());
    assert!(
        ledger.paid.len() >= 200,
        "only {} payments answered 200",
        ledger.paid.len()
    );

    // 1. Every pay answered 200 is paid in the journal, with its receipt
    //    number, confirmed, and credited exactly once.
    for (id, answer) in &ledger.paid {
        let t = env.tx(&token, id).await;
        assert_eq!(t["state"], "paid", "{id} answered 200 to pay: {t}");
        assert_eq!(t["receipt_number"], answer["receipt_number"], "{t}");
        assert_eq!(t["sync"], "confirmed", "{t}");
        assert_eq!(env.mock.credits_for(id), 1, "credits of paid {id}");
    }
    // 2. A pay cut by a kill: paid and credited once, or neither.
    let mut uncertain_paid = 0;
    for id in &ledger.uncertain {
        let t = env.tx(&token, id).await;
        if t["state"] == "paid" {
            uncertain_paid += 1;
            assert_eq!(env.mock.credits_for(id), 1, "cut pay {id} is paid: {t}");
            assert_eq!(t["sync"], "confirmed", "{t}");
        } else {
            assert_eq!(t["state"], "awaiting_cash", "cut pay {id}: {t}");
            assert_eq!(env.mock.credits_for(id), 0, "cut pay {id} is not paid");
        }
    }
    // 3. The journal's view: every paid row credited once, nothing credited
    //    that is not paid there, receipts unique and gapless.
    let rows = env.db_transactions();
    let paid_rows: HashMap<&str, &str> = rows
        .iter()
        .filter(|r| r.1 == "paid")
        .map(|r| (r.0.as_str(), r.2.as_deref().expect("paid without receipt")))
        .collect();
    for r in rows.iter().filter(|r| r.1 == "paid") {
        assert_eq!(r.3.as_deref(), Some("confirmed"), "{r:?}");
        assert_eq!(env.mock.credits_for(&r.0), 1, "paid row {r:?}");
        assert!(
            ledger.paid.contains_key(&r.0) || ledger.uncertain.contains(&r.0),
            "paid row {r:?} is neither answered nor cut"
        );
    }
    for r in rows.iter().filter(|r| r.1 != "paid") {
        assert!(r.2.is_none(), "unpaid row with a receipt number: {r:?}");
    }
    let credits = env.mock.recharges();
    let mut seen = HashSet::new();
    for c in &credits {
        assert!(
            seen.insert(c.transaction_id.as_str()),
            "credited twice: {}",
            c.transaction_id
        );
        let receipt = paid_rows.get(c.transaction_id.as_str()).unwrap_or_else(|| {
            panic!("credited but not paid in the journal: {}", c.transaction_id)
        });
        assert_eq!(*receipt, c.receipt_number);
    }
    assert_eq!(credits.len(), paid_rows.len());
    let receipts: Vec<String> = paid_rows.values().map(|r| r.to_string()).collect();
    assert_gapless_receipts(&receipts);
    // 4. The hash chain holds, and nothing panicked.
    let verify = env.assert_journal_verifies();
    let logs = env.logs();
    assert!(!logs.contains("panicked"), "the agent panicked:\n{logs}");

    eprintln!(
        "crash loop: {} paid (200), {} created, {} receipts, {} credits; \
         kills {:?} (on target {:?}); pay calls cut {} (retried ok {}, \
         left {} of which paid {}); loop {:.1}s, total {:.1}s; {}",
        ledger.paid.len(),
        ledger.created.len(),
        receipts.len(),
        credits.len(),
        kills,
        kills_on_target,
        ledger.pay_calls_cut,
        ledger.pay_retried_ok,
        ledger.uncertain.len(),
        uncertain_paid,
        loop_time.as_secs_f64(),
        started.elapsed().as_secs_f64(),
        verify.trim()
    );
}
