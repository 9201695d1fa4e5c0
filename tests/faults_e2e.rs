//! Backend fault matrix, disk full and double-click on pay: the real
//! `pos-agent` binary against the mock backend with injected faults.
//!
//! Every case ends reconciled (`confirmed` or `rejected`) and no transaction
//! is credited more than once.

mod support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use hardware_mocks::{demo, Fault, Route};
use serde_json::json;
use support::{Env, Opts};

const SYNC_WAIT: Duration = Duration::from_secs(20);

fn status_fault(status: u16, code: &str, retry_after_secs: Option<u64>) -> Fault {
    Fault::Status {
        status,
        code: code.into(),
        retry_after_secs,
    }
}

/// A fresh counter with `faults` queued on `/v1/recharges` (in order), and
/// one 20 € recharge paid; returns the env, a token and the transaction id.
async fn paid_under(opts: Opts, faults: Vec<(Fault, u32)>) -> (Env, String, String) {
    let mut env = Env::with(opts).await;
    env.start_agent();
    let token = env.login().await;
    let id = env
        .ready_to_pay(&token, demo::MANUAL_CODE_MENSA_1, 2000)
        .await;
    for (f, times) in faults {
        env.mock.inject(Route::prefix("/v1/recharges"), f, times);
    }
    let paid = env.pay(&token, &id, 2000).await;
    assert_eq!(paid["state"], "paid");
    (env, token, id)
}

/// Statuses the backend answered to this transaction's recharge, in order
/// (0 = connection closed without an answer).
fn recharge_attempts(env: &Env, id: &str) -> Vec<u16> {
    env.mock
        .request_log()
        .into_iter()
        .filter(|r| r.path.starts_with("/v1/recharges"))
        .inspect(|r| {
            assert_eq!(
                r.idempotency_key.as_deref(),
                Some(id),
                "a recharge without this transaction's key: {r:?}"
            )
        })
        .map(|r| r.status)
        .collect()
}

/// No transaction credited twice, and nothing credited but `expected`.
fn assert_credited_only(env: &Env, expected: &[&str]) {
    let mut ids: Vec<String> = env
        .mock
        .recharges()
        .into_iter()
        .map(|r| r.transaction_id)
        .collect();
    ids.sort();
    let mut want: Vec<String> = expected.iter().map(|s| s.to_string()).collect();
    want.sort();
    assert_eq!(ids, want, "credits at the backend");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors_are_retried_until_confirmed_once() {
    let (env, token, id) = paid_under(
        Opts::default(),
        vec![
            (status_fault(500, "internal", None), 1),
            (status_fault(502, "bad_gateway", None), 1),
            (Fault::unavailable(), 1),
            (status_fault(504, "gateway_timeout", None), 1),
            (status_fault(408, "request_timeout", None), 1),
        ],
    )
    .await;
    env.wait_sync(&token, &id, "confirmed", SYNC_WAIT).await;
    assert_eq!(
        recharge_attempts(&env, &id),
        vec![500, 502, 503, 504, 408, 201]
    );
    assert_credited_only(&env, &[&id]);
    let st = env.wait_outbox_drained(SYNC_WAIT).await;
    assert_eq!(st["outbox"]["rejected"], 0);
    assert_eq!(st["backend"]["reachable"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limit_retry_after_is_honoured() {
    // The harness caps the backoff at 400 ms: a retry a second later can only
    // come from the Retry-After header.
    let before = Instant::now();
    let (env, token, id) = paid_under(
        Opts::default(),
        vec![(status_fault(429, "rate_limited", Some(1)), 1)],
    )
    .await;
    env.wait_sync(&token, &id, "confirmed", SYNC_WAIT).await;
    assert!(
        before.elapsed() >= Duration::from_secs(1),
        "retried before Retry-After: {:?}",
        before.elapsed()
    );
    assert_eq!(recharge_attempts(&env, &id), vec![429, 201]);
    assert_credited_only(&env, &[&id]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_answer_within_the_timeout_is_sent_once() {
    let (env, token, id) = paid_under(
        Opts {
            backend_timeout_ms: 3000,
            ..Opts::default()
        },
        vec![(Fault::Delay(Duration::from_millis(1200)), 1)],
    )
    .await;
    env.wait_sync(&token, &id, "confirmed", SYNC_WAIT).await;
    assert_eq!(recharge_attempts(&env, &id), vec![201], "no resend");
    assert_credited_only(&env, &[&id]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_answer_beyond_the_timeout_is_retried_and_credited_once() {
    let (env, token, id) = paid_under(
        Opts {
            backend_timeout_ms: 600,
            ..Opts::default()
        },
        vec![(Fault::Delay(Duration::from_millis(2000)), 2)],
    )
    .await;
    env.wait_sync(&token, &id, "confirmed", SYNC_WAIT).await;
    // Let the slow requests the agent gave up on finish on the server side.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert!(recharge_attempts(&env, &id).contains(&201));
    assert_credited_only(&env, &[&id]);
    assert_eq!(env.tx(&token, &id).await["sync"], "confirmed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeouts_after_the_backend_applied_are_credited_once() {
    // Applied by the first attempt; the next two repeats hang too (the
    // server answers the stored result, late); the fourth gets it.
    let (env, token, id) = paid_under(
        Opts {
            backend_timeout_ms: 500,
            ..Opts::default()
        },
        vec![(Fault::ApplyThenHang(Duration::from_millis(1500)), 3)],
    )
    .await;
    let t = env.wait_sync(&token, &id, "confirmed", SYNC_WAIT).await;
    assert_eq!(t["state"], "paid");
    assert!(recharge_attempts(&env, &id).len() >= 4);
    assert_credited_only(&env, &[&id]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_resets_are_retried_and_credited_once() {
    let (env, token, id) = paid_under(Opts::default(), vec![(Fault::ConnectionReset, 3)]).await;
    env.wait_sync(&token, &id, "confirmed", SYNC_WAIT).await;
    assert_eq!(recharge_attempts(&env, &id), vec![0, 0, 0, 201]);
    assert_credited_only(&env, &[&id]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clock_skew_is_reported_while_it_lasts_and_cleared_after() {
    let mut env = Env::new().await;
    env.start_agent();
    let token = env.login().await;
    let id = env
        .ready_to_pay(&token, demo::MANUAL_CODE_TRASPORTO_2, 1200)
        .await;
    let st = env.status().await;
    assert_eq!(st["backend"]["error"], serde_json::Value::Null);

    // The backend's clock runs 20 minutes ahead: every signed call is 401.
    env.mock.set_clock_offset_secs(1200);
    env.pay(&token, &id, 1200).await;
    let deadline = Instant::now() + SYNC_WAIT;
    loop {
        let st = env.status().await;
        if st["backend"]["error"] == "clock_skew" {
            break;
        }
        assert!(Instant::now() < deadline, "clock_skew never shown: {st}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // It keeps retrying and keeps the entry while the skew lasts.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let st = env.status().await;
    assert_eq!(st["backend"]["error"], "clock_skew", "{st}");
    assert_eq!(st["outbox"]["pending"], 1, "{st}");
    assert_eq!(env.tx(&token, &id).await["sync"], "pending");
    assert_eq!(env.mock.credits_for(&id), 0);
    let attempts = recharge_attempts(&env, &id);
    assert!(
        attempts.len() >= 2 && attempts.iter().all(|s| *s == 401),
        "{attempts:?}"
    );

    // The technician fixes the clock: confirmed once, error back to null.
    env.mock.set_clock_offset_secs(0);
    env.wait_sync(&token, &id, "confirmed", SYNC_WAIT).await;
    let st = env.wait_outbox_drained(SYNC_WAIT).await;
    assert_eq!(st["backend"]["error"], serde_json::Value::Null, "{st}");
    assert_credited_only(&env, &[&id]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permanent_refusals_are_rejected_without_retry() {
    for (status, code) in [(422, "amount_out_of_range"), (410, "code_revoked")] {
        let (env, token, id) =
            paid_under(Opts::default(), vec![(status_fault(status, code, None), 1)]).await;
        let t = env.wait_sync(&token, &id, "rejected", SYNC_WAIT).await;
        assert_eq!(t["state"], "paid", "the cash was taken: {t}");
        // Give a (wrong) retry the time to happen.
        tokio::time::sleep(Duration::from_millis(800)).await;
        assert_eq!(recharge_attempts(&env, &id), vec![status], "{code}");
        assert_credited_only(&env, &[]);
        let st = env.status().await;
        assert_eq!(st["outbox"]["rejected"], 1, "{st}");
        assert_eq!(st["outbox"]["pending"], 0, "{st}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn already_credited_is_confirmed_not_a_failure() {
    let (env, token, id) = paid_under(
        Opts::default(),
        vec![(status_fault(409, "already_credited", None), 1)],
    )
    .await;
    env.wait_sync(&token, &id, "confirmed", SYNC_WAIT).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(recharge_attempts(&env, &id), vec![409], "not resent");
    assert_eq!(env.status().await["outbox"]["rejected"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backlog_through_mixed_faults_drains_in_order_once() {
    let mut env = Env::with(Opts {
        backend_timeout_ms: 700,
        ..Opts::default()
    })
    .await;
    env.start_agent();
    let token = env.login().await;
    env.mock.inject(
        Route::prefix("/v1/recharges"),
        status_fault(503, "unavailable", None),
        4,
    );
    env.mock
        .inject(Route::prefix("/v1/recharges"), Fault::ConnectionReset, 2);
    env.mock.inject(
        Route::prefix("/v1/recharges"),
        Fault::ApplyThenHang(Duration::from_millis(1200)),
        2,
    );
    env.mock.inject(
        Route::prefix("/v1/recharges"),
        status_fault(429, "rate_limited", Some(1)),
        1,
    );
    env.mock
        .inject(Route::prefix("/v1/recharges"), Fault::ClockSkew, 2);
    let mut ids = Vec::new();
    for (i, code) in [
        demo::MANUAL_CODE_MENSA_1,
        demo::MANUAL_CODE_TRASPORTO_1,
        demo::MANUAL_CODE_MENSA_2,
        demo::MANUAL_CODE_MENSA_3,
        demo::MANUAL_CODE_TRASPORTO_3,
        demo::MANUAL_CODE_MENSA_4,
    ]
    .into_iter()
    .enumerate()
    {
        let id = env.ready_to_pay(&token, code, 600 + i as i64).await;
        env.pay(&token, &id, 5000).await;
        ids.push(id);
    }
    for id in &ids {
        env.wait_sync(&token, id, "confirmed", Duration::from_secs(40))
            .await;
    }
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    assert_credited_only(&env, &refs);
    let order: Vec<String> = env
        .mock
        .recharges()
        .into_iter()
        .map(|r| r.transaction_id)
        .collect();
    assert_eq!(order, ids, "credited in the order paid");
    env.assert_journal_verifies();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_concurrent_pays_make_one_payment() {
    let mut env = Env::new().await;
    env.start_agent();
    let token = env.login().await;
    let id = env
        .ready_to_pay(&token, demo::MANUAL_CODE_MENSA_3, 2500)
        .await;
    let path = format!("/api/v1/transactions/{id}/pay");
    let calls = (0..10).map(|_| {
        env.call(
            "POST",
            &path,
            Some(&token),
            Some(json!({"tendered_cents": 5000})),
        )
    });
    let answers = futures::future::join_all(calls).await;
    let receipt = answers[0].1["receipt_number"].clone();
    assert!(receipt.is_string(), "{:?}", answers[0]);
    for (s, v) in &answers {
        assert_eq!(*s, 200, "{v}");
        assert_eq!(v["state"], "paid");
        assert_eq!(v["receipt_number"], receipt, "one receipt number");
        assert_eq!(v["change_cents"], 2500);
    }
    env.wait_sync(&token, &id, "confirmed", SYNC_WAIT).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_credited_only(&env, &[&id]);
    assert_eq!(recharge_attempts(&env, &id), vec![201]);
    let paid_rows: Vec<_> = env
        .db_transactions()
        .into_iter()
        .filter(|r| r.1 == "paid")
        .collect();
    assert_eq!(paid_rows.len(), 1);
    assert!(receipt.as_str().unwrap().ends_with("/000001"));
    // One receipt printed (plus the pre-receipt), one drawer kick.
    let docs = env.wait_printed(2, Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(env.printed().len(), 2, "{docs:?}");
    assert_eq!(
        env.printed().iter().map(|d| d.drawer_kicks).sum::<usize>(),
        1
    );
}

// ---------------------------------------------------------------- disk full

/// A tmpfs mounted over a directory; unmounted on drop, lazily if the agent
/// still holds files there.
struct Tmpfs {
    at: PathBuf,
}

impl Tmpfs {
    /// Mount a `size`-byte tmpfs over `dir`, carrying its current files
    /// over (modes included). `Err` says why it cannot be done here.
    fn mount_over(dir: &Path, size: u64) -> Result<Tmpfs, String> {
        if unsafe { libc::geteuid() } != 0 {
            return Err("not running as root".into());
        }
        let staging = dir.with_extension("staging");
        std::fs::create_dir_all(&staging).map_err(|e| e.to_string())?;
        let entries: Vec<_> = std::fs::read_dir(dir)
            .map_err(|e| e.to_string())?
            .filter_map(Result::ok)
            .filter(|e| e.file_type().map(|t| t.is_file()).unwrap_or(false))
            .collect();
        for e in &entries {
            std::fs::copy(e.path(), staging.join(e.file_name())).map_err(|e| e.to_string())?;
        }
        let out = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size},mode=0700")])
            .arg("tmpfs")
            .arg(dir)
            .output()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "mount failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        let guard = Tmpfs {
            at: dir.to_path_buf(),
        };
        for e in &entries {
            std::fs::copy(staging.join(e.file_name()), dir.join(e.file_name()))
                .map_err(|e| e.to_string())?;
        }
        Ok(guard)
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let ok = std::process::Command::new("umount")
            .arg(&self.at)
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if !ok {
            let _ = std::process::Command::new("umount")
                .arg("-l")
                .arg(&self.at)
                .status();
        }
    }
}

/// Fill the file system of `dir` until `leave` bytes are free.
fn fill(dir: &Path, leave: u64) -> PathBuf {
    use std::io::Write;
    let path = dir.join("filler.bin");
    let mut f = std::fs::File::create(&path).expect("filler");
    let chunk = vec![0xA5u8; 64 * 1024];
    loop {
        let free = pos_agent::datadir::free_bytes(dir).expect("statvfs");
        if free <= leave {
            break;
        }
        let n = (free - leave).min(chunk.len() as u64) as usize;
        if f.write_all(&chunk[..n]).is_err() {
            break;
        }
    }
    let _ = f.sync_all();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disk_full_refuses_before_the_cash_and_loses_nothing() {
    let mut env = Env::new().await;
    // 24 MiB: room for the journal above the agent's 8 MiB threshold.
    let tmpfs = match Tmpfs::mount_over(&env.data_dir, 24 * 1024 * 1024) {
        Ok(t) => t,
        Err(why) => {
            eprintln!("SKIPPED disk_full test: {why} (needs root and mount -t tmpfs)");
            return;
        }
    };
    env.start_agent();
    let token = env.login().await;

    // Healthy: one payment goes through.
    let first = env
        .ready_to_pay(&token, demo::MANUAL_CODE_MENSA_1, 2000)
        .await;
    let paid = env.pay(&token, &first, 2000).await;
    env.wait_sync(&token, &first, "confirmed", SYNC_WAIT).await;
    // One at the till, waiting for the cash.
    let waiting = env
        .ready_to_pay(&token, demo::MANUAL_CODE_MENSA_2, 1500)
        .await;

    // The disk fills up (logs, a runaway file...): 1 MiB left.
    let filler = fill(&env.data_dir, 1024 * 1024);
    assert!(
        pos_agent::datadir::free_bytes(&env.data_dir).unwrap() < pos_agent::counter::MIN_FREE_BYTES
    );

    // The cash is not taken: pay is refused with a clear message.
    let (s, v) = env
        .act(
            &token,
            &waiting,
            "pay",
            Some(json!({"tendered_cents": 1500})),
        )
        .await;
    assert_eq!(s, 507, "{v}");
    assert_eq!(v["error"]["code"], "disk_full");
    let msg = v["error"]["message"].as_str().unwrap_or_default();
    assert!(
        msg.contains("Disco pieno") && msg.contains("NON incassare"),
        "{msg}"
    );
    assert_eq!(env.tx(&token, &waiting).await["state"], "awaiting_cash");
    // No new transaction either.
    let (s, v) = env
        .call(
            "POST",
            "/api/v1/transactions",
            Some(&token),
            Some(json!({"input": demo::MANUAL_CODE_MENSA_3})),
        )
        .await;
    assert_eq!(s, 507, "{v}");
    assert_eq!(v["error"]["code"], "disk_full");

    // What was paid is intact, and the API still answers.
    let t = env.tx(&token, &first).await;
    assert_eq!(t["state"], "paid");
    assert_eq!(t["receipt_number"], paid["receipt_number"]);
    assert_eq!(t["sync"], "confirmed");
    let st = env.status().await;
    assert_eq!(st["outbox"]["pending"], 0);

    // Space is freed: the waiting payment goes through, numbered next.
    std::fs::remove_file(&filler).expect("remove filler");
    let paid2 = env.pay(&token, &waiting, 1500).await;
    assert!(paid2["receipt_number"]
        .as_str()
        .unwrap()
        .ends_with("/000002"));
    env.wait_sync(&token, &waiting, "confirmed", SYNC_WAIT)
        .await;
    assert_credited_only(&env, &[&first, &waiting]);
    env.kill_agent();
    env.assert_journal_verifies();
    drop(tmpfs);
}

/// Every payment wakes the outbox sender; a `Retry-After` must hold anyway,
/// or a busy counter hammers a backend that asked it to slow down.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_payments_do_not_cut_a_retry_after_short() {
    let mut env = Env::new().await;
    env.start_agent();
    let token = env.login().await;
    env.mock.inject(
        Route::prefix("/v1/recharges"),
        status_fault(429, "rate_limited", Some(5)),
        1000,
    );
    let sent = |env: &Env| {
        env.mock
            .request_log()
            .iter()
            .filter(|r| r.path.starts_with("/v1/recharges"))
            .count()
    };
    let first = env
        .ready_to_pay(&token, demo::MANUAL_CODE_MENSA_1, 1000)
        .await;
    env.pay(&token, &first, 1000).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while sent(&env) == 0 {
        assert!(
            Instant::now() < deadline,
            "the first recharge was never sent"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut ids = vec![first];
    for code in [demo::MANUAL_CODE_MENSA_2, demo::MANUAL_CODE_MENSA_3] {
        let id = env.ready_to_pay(&token, code, 1000).await;
        env.pay(&token, &id, 1000).await;
        ids.push(id);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        sent(&env),
        1,
        "payments made the agent resend before Retry-After"
    );
    env.mock.clear_faults();
    for id in &ids {
        env.wait_sync(&token, id, "confirmed", Duration::from_secs(30))
            .await;
        assert_eq!(env.mock.credits_for(id), 1);
    }
}
