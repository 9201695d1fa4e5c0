//! End-to-end: the real `pos-agent` binary against the mock backend.
//! One test per promise of the walking skeleton.

mod support;

use std::time::Duration;

use hardware_mocks::demo;
use hardware_mocks::{Fault, Route};
use serde_json::json;
use support::{doc_text, Env};

const SYNC_WAIT: Duration = Duration::from_secs(20);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_recharge_credits_once_and_prints_both_receipts() {
    let mut env = Env::new().await;
    env.start_agent();
    let token = env.login().await;

    // Typed with the spaces the app shows.
    let (s, t) = env
        .call(
            "POST",
            "/api/v1/transactions",
            Some(&token),
            Some(json!({"input": "4001 0000 0018 6"})),
        )
        .await;
    assert_eq!(s, 201, "{t}");
    assert_eq!(t["state"], "identified");
    assert_eq!(t["service"]["id"], "mensa");
    assert_eq!(t["consumer"]["display_name"], "M*** R***");
    assert!(
        t.get("consumer_ref").is_none(),
        "internal fields must not leak: {t}"
    );
    let id = t["id"].as_str().unwrap().to_string();

    let (s, t) = env
        .act(&token, &id, "amount", Some(json!({"amount_cents": 2000})))
        .await;
    assert_eq!(s, 200, "{t}");
    assert_eq!(t["state"], "amount_set");
    assert_eq!(t["total_cents"], 2000);
    let (s, t) = env.act(&token, &id, "pre-receipt", None).await;
    assert_eq!(s, 200, "{t}");
    assert_eq!(t["state"], "awaiting_cash");

    let paid = env.pay(&token, &id, 5000).await;
    assert_eq!(paid["state"], "paid");
    assert_eq!(paid["change_cents"], 3000);
    let receipt = paid["receipt_number"].as_str().unwrap().to_string();
    assert!(receipt.starts_with("T-000123/"), "{receipt}");
    assert!(receipt.ends_with("/000001"), "{receipt}");

    env.wait_sync(&token, &id, "confirmed", SYNC_WAIT).await;
    let credits = env.mock.recharges();
    assert_eq!(credits.len(), 1);
    let c = &credits[0];
    assert_eq!(c.transaction_id, id);
    assert_eq!(c.amount_cents, 2000);
    assert_eq!(c.fee_cents, 0);
    assert_eq!(c.code, demo::MANUAL_CODE_MENSA_1);
    assert_eq!(c.service_id, "mensa");
    assert_eq!(c.consumer_ref, demo::CONSUMER_1);
    assert_eq!(c.creditor_fiscal_code, demo::CREDITOR_CF);
    assert_eq!(c.receipt_number, receipt);
    assert_eq!(c.operator_id, "op1");
    assert!(!c.offline);

    // Paying again answers the same and prints nothing more.
    let again = env.pay(&token, &id, 5000).await;
    assert_eq!(again["receipt_number"], paid["receipt_number"]);

    let docs = env.wait_printed(2, Duration::from_secs(10)).await;
    let pre = doc_text(&docs[0]);
    for needle in [
        "Tabaccheria Rossi",
        "Via Roma 1, Balangero",
        "T-000123",
        "PRE-SCONTRINO - NON VALIDO COME RICEVUTA",
        "Refezione scolastica",
        "Comune di Balangero",
        "€ 20,00",
        "Verificare i dati prima di pagare",
        &id[..8],
    ] {
        assert!(pre.contains(needle), "pre-receipt lacks {needle:?}:\n{pre}");
    }
    let rec = doc_text(&docs[1]);
    for needle in [
        "RICEVUTA DI PAGAMENTO",
        receipt.as_str(),
        "op1",
        "Comune di Balangero",
        demo::CREDITOR_CF,
        "€ 20,00",
        "€ 50,00",
        "€ 30,00",
        "Conservare la ricevuta per 6 anni",
    ] {
        assert!(rec.contains(needle), "receipt lacks {needle:?}:\n{rec}");
    }
    assert!(
        rec.contains("CONFERMATO") || rec.contains("IN ATTESA DI CONFERMA"),
        "{rec}"
    );
    assert_eq!(docs[1].qr_codes, vec![format!("{receipt}|{id}")]);
    assert!(docs.iter().all(|d| d.cut), "every document ends with a cut");
    assert_eq!(
        docs.iter().map(|d| d.drawer_kicks).sum::<usize>(),
        1,
        "the drawer opens once"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        env.printed().len(),
        2,
        "a repeated pay must not print again"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backend_down_at_pay_is_paid_offline_then_confirmed_once() {
    let mut env = Env::new().await;
    env.start_agent();
    let token = env.login().await;
    let id = env
        .ready_to_pay(&token, demo::MANUAL_CODE_TRASPORTO_1, 1500)
        .await;

    env.stop_backend().await;
    let paid = env.pay(&token, &id, 1500).await;
    assert_eq!(paid["state"], "paid");
    assert_eq!(paid["sync"], "pending");
    let docs = env.wait_printed(2, Duration::from_secs(10)).await;
    let rec = doc_text(&docs[1]);
    assert!(
        rec.contains("IN ATTESA DI CONFERMA"),
        "receipt:\n{rec}\nall: {docs:?}"
    );
    let (_, status) = env.call("GET", "/api/v1/status", None, None).await;
    assert_eq!(status["outbox"]["pending"], 1);
    assert_eq!(status["backend"]["reachable"], false);

    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(env.mock.credits_for(&id), 0);
    env.start_backend().await;
    env.wait_sync(&token, &id, "confirmed", SYNC_WAIT).await;
    assert_eq!(env.mock.credits_for(&id), 1);
    assert_eq!(env.mock.recharges().len(), 1);
    let (_, status) = env.call("GET", "/api/v1/status", None, None).await;
    assert_eq!(status["outbox"]["pending"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeout_after_the_backend_applied_is_not_credited_twice() {
    let mut env = Env::with(support::Opts {
        backend_timeout_ms: 500,
        ..Default::default()
    })
    .await;
    env.start_agent();
    let token = env.login().await;
    let id = env
        .ready_to_pay(&token, demo::MANUAL_CODE_MENSA_2, 3000)
        .await;
    env.mock.inject(
        Route::prefix("/v1/recharges"),
        Fault::ApplyThenHang(Duration::from_secs(2)),
        1,
    );
    env.pay(&token, &id, 3000).await;
    env.wait_sync(&token, &id, "confirmed", SYNC_WAIT).await;
    assert_eq!(env.mock.credits_for(&id), 1);
    let sent: Vec<_> = env
        .mock
        .request_log()
        .into_iter()
        .filter(|r| r.path.starts_with("/v1/recharges"))
        .collect();
    assert!(sent.len() >= 2, "the agent must have retried: {sent:?}");
    assert!(sent
        .iter()
        .all(|r| r.idempotency_key.as_deref() == Some(id.as_str())));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_after_pay_loses_nothing_and_syncs_once() {
    let mut env = Env::new().await;
    env.start_agent();
    let token = env.login().await;
    // Keep the backend from confirming, so the kill lands with the outbox full.
    env.mock
        .inject(Route::prefix("/v1/recharges"), Fault::unavailable(), 1000);
    let mut ids = Vec::new();
    for code in [
        demo::MANUAL_CODE_MENSA_3,
        demo::MANUAL_CODE_TRASPORTO_3,
        demo::MANUAL_CODE_MENSA_4,
    ] {
        let id = env.ready_to_pay(&token, code, 1000).await;
        let paid = env.pay(&token, &id, 1000).await;
        assert_eq!(paid["state"], "paid");
        ids.push(id);
    }
    env.kill_agent();

    env.mock.clear_faults();
    env.start_agent();
    let token = env.login().await;
    let mut receipts = Vec::new();
    for id in &ids {
        let t = env.wait_sync(&token, id, "confirmed", SYNC_WAIT).await;
        receipts.push(t["receipt_number"].as_str().unwrap().to_string());
        assert_eq!(env.mock.credits_for(id), 1);
    }
    let numbers: Vec<u32> = receipts
        .iter()
        .map(|r| r.rsplit('/').next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(
        numbers,
        vec![1, 2, 3],
        "gapless, no duplicates: {receipts:?}"
    );
    // The next payment continues the series.
    let id = env
        .ready_to_pay(&token, demo::MANUAL_CODE_TRASPORTO_4, 1000)
        .await;
    let paid = env.pay(&token, &id, 1000).await;
    assert!(paid["receipt_number"]
        .as_str()
        .unwrap()
        .ends_with("/000004"));
    env.wait_sync(&token, &id, "confirmed", SYNC_WAIT).await;
    assert_eq!(env.mock.recharges().len(), 4);
    let out = env.cli(&["journal", "verify"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permanent_rejection_is_kept_and_listed_as_a_refund() {
    let mut env = Env::new().await;
    env.start_agent();
    let token = env.login().await;
    let id = env
        .ready_to_pay(&token, demo::MANUAL_CODE_MENSA_1, 2500)
        .await;
    env.mock.inject(
        Route::prefix("/v1/recharges"),
        Fault::Status {
            status: 422,
            code: "amount_out_of_range".into(),
            retry_after_secs: None,
        },
        1,
    );
    env.pay(&token, &id, 3000).await;
    env.wait_sync(&token, &id, "rejected", SYNC_WAIT).await;
    assert_eq!(env.mock.credits_for(&id), 0);
    let (_, status) = env.call("GET", "/api/v1/status", None, None).await;
    assert_eq!(status["outbox"]["rejected"], 1);
    assert_eq!(status["outbox"]["pending"], 0);

    let (s, report) = env
        .call("POST", "/api/v1/day/close", Some(&token), None)
        .await;
    assert_eq!(s, 200, "{report}");
    assert_eq!(
        report["count"], 0,
        "a rejected payment is not counted: {report}"
    );
    assert_eq!(report["rejected"][0]["id"], id.as_str());
    assert_eq!(report["refund_total_cents"], 2500);
    let docs = env.wait_printed(3, Duration::from_secs(10)).await;
    let day = doc_text(docs.last().unwrap());
    assert!(day.contains("Da rimborsare"), "{day}");
    assert!(day.contains("€ 25,00"), "{day}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn third_wrong_pin_locks_the_operator_across_a_restart() {
    let mut env = Env::new().await;
    env.start_agent();
    let login = |pin: &'static str| {
        let env = &env;
        async move {
            env.call(
                "POST",
                "/api/v1/login",
                None,
                Some(json!({"operator": "op1", "pin": pin})),
            )
            .await
        }
    };
    let (s, v) = login("0000").await;
    assert_eq!((s, v["error"]["code"].as_str()), (401, Some("wrong_pin")));
    assert_eq!(v["error"]["attempts_left"], 2);
    let (s, v) = login("1111").await;
    assert_eq!(v["error"]["attempts_left"], 1);
    assert_eq!(s, 401);
    let (s, v) = login("2222").await;
    assert_eq!(s, 423, "{v}");
    assert_eq!(v["error"]["code"], "operator_locked");
    assert!(v["error"]["locked_until"].is_string());
    let (s, _) = login(support::PIN).await;
    assert_eq!(s, 423, "the right PIN is refused while locked");

    env.kill_agent();
    env.start_agent();
    let (s, v) = env
        .call(
            "POST",
            "/api/v1/login",
            None,
            Some(json!({"operator": "op1", "pin": support::PIN})),
        )
        .await;
    assert_eq!(s, 423, "the lock survives a restart: {v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn journal_verify_detects_an_edited_row() {
    let mut env = Env::new().await;
    env.start_agent();
    let token = env.login().await;
    for code in [demo::MANUAL_CODE_MENSA_1, demo::MANUAL_CODE_MENSA_2] {
        let id = env.ready_to_pay(&token, code, 1000).await;
        env.pay(&token, &id, 1000).await;
        env.wait_sync(&token, &id, "confirmed", SYNC_WAIT).await;
    }
    env.kill_agent();
    let out = env.cli(&["journal", "verify"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("journal OK: 4 entries"));

    let conn = rusqlite::Connection::open(env.journal_path()).unwrap();
    let n = conn
        .execute(
            "UPDATE journal SET body = replace(body, '1000', '100') WHERE seq = 2",
            [],
        )
        .unwrap();
    assert_eq!(n, 1);
    drop(conn);
    let out = env.cli(&["journal", "verify"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("journal entry 2"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_clear_errors_and_changes_nothing() {
    let mut env = Env::new().await;

    // A bad config names the key.
    let bad = env.dir.path().join("bad.toml");
    std::fs::write(&bad, "[printer]\npaper_width_mm = 70\n").unwrap();
    let out = env.cli(&["config", "check", bad.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("printer.paper_width_mm"), "{err}");

    env.start_agent();
    let token = env.login().await;
    let (s, v) = env
        .post_raw("/api/v1/transactions", &token, "{not json")
        .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (400, Some("bad_request")),
        "{v}"
    );
    let (s, v) = env
        .post_raw("/api/v1/transactions", &token, r#"{"input": 42}"#)
        .await;
    assert_eq!(s, 400, "{v}");
    let (s, v) = env
        .call(
            "POST",
            "/api/v1/transactions",
            Some(&token),
            Some(json!({"input": "hello world"})),
        )
        .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (422, Some("unknown_input")),
        "{v}"
    );
    let (s, v) = env
        .call(
            "POST",
            "/api/v1/transactions",
            Some(&token),
            Some(json!({"input": "4001000000187"})),
        )
        .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (422, Some("bad_check_digit")),
        "{v}"
    );
    let (s, v) = env
        .call(
            "POST",
            "/api/v1/transactions",
            Some(&token),
            Some(json!({"input": demo::MANUAL_CODE_UNKNOWN})),
        )
        .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (422, Some("unknown_code")),
        "{v}"
    );

    let id = env
        .ready_to_pay(&token, demo::MANUAL_CODE_MENSA_1, 1000)
        .await;
    let (s, v) = env
        .post_raw(
            &format!("/api/v1/transactions/{id}/pay"),
            &token,
            r#"{"tendered_cents": "lots"}"#,
        )
        .await;
    assert_eq!(s, 400, "{v}");
    let (s, v) = env
        .act(&token, &id, "pay", Some(json!({"tendered_cents": 500})))
        .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (422, Some("tendered_too_low")),
        "{v}"
    );
    let (s, v) = env
        .act(
            &token,
            &id,
            "pay",
            Some(json!({"tendered_cents": i64::MAX})),
        )
        .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (422, Some("tendered_too_high")),
        "a keypad slip is refused: {v}"
    );
    let (s, v) = env
        .act(&token, &id, "amount", Some(json!({"amount_cents": 100})))
        .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (422, Some("amount_out_of_range")),
        "{v}"
    );
    let (s, v) = env
        .call("GET", "/api/v1/transactions/nope", Some(&token), None)
        .await;
    assert_eq!(s, 404, "{v}");
    let (s, _) = env.call("GET", "/api/v1/transactions", None, None).await;
    assert_eq!(s, 401);

    // Errors axum answers by itself are JSON too.
    let r = env
        .http
        .put(format!("{}/api/v1/transactions", env.api))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "method_not_allowed", "{v}");
    let huge = format!(r#"{{"input": "{}"}}"#, "x".repeat(3 * 1024 * 1024));
    // Its own client: the server answers 413 and closes the connection
    // without reading the rest, which must not poison env.http's pool.
    let r = reqwest::Client::new()
        .post(format!("{}/api/v1/transactions", env.api))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body(huge)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "payload_too_large", "{v}");

    // Nothing changed: still awaiting cash, nothing journaled, nothing queued.
    let t = env.tx(&token, &id).await;
    assert_eq!(t["state"], "awaiting_cash");
    assert_eq!(t["amount_cents"], 1000);
    let (_, status) = env.call("GET", "/api/v1/status", None, None).await;
    assert_eq!(status["journal"]["entries"], 0);
    assert_eq!(status["outbox"]["pending"], 0);
    assert!(env.mock.recharges().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_agent_on_the_same_data_dir_refuses_to_start() {
    let mut env = Env::new().await;
    env.start_agent();
    let out = env.cli(&["run"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("already running"), "{err}");
    // Nor can the credentials be swapped under it.
    let out = env.cli(&[
        "enroll",
        "--activation-code",
        hardware_mocks::demo::ACTIVATION_CODES[1],
        "--force",
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("already running"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reprint_is_marked_as_a_duplicate_and_journaled() {
    let mut env = Env::new().await;
    env.start_agent();
    let token = env.login().await;
    let id = env
        .ready_to_pay(&token, demo::MANUAL_CODE_MENSA_1, 2000)
        .await;
    let paid = env.pay(&token, &id, 2000).await;
    let receipt = paid["receipt_number"].as_str().unwrap().to_string();
    env.wait_printed(2, Duration::from_secs(10)).await;

    // The receipt number travels percent-encoded as one path segment.
    let encoded = receipt.replace('/', "%2F");
    let (s, t) = env
        .call(
            "POST",
            &format!("/api/v1/receipts/{encoded}/reprint"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(s, 200, "{t}");
    assert_eq!(t["id"], id.as_str());
    let docs = env.wait_printed(3, Duration::from_secs(10)).await;
    let copy = doc_text(&docs[2]);
    assert!(copy.contains("COPIA - DUPLICATO"), "{copy}");
    assert!(copy.contains(&receipt), "{copy}");
    assert!(
        !doc_text(&docs[1]).contains("DUPLICATO"),
        "the original is not a copy"
    );

    let (s, _) = env
        .call(
            "POST",
            "/api/v1/receipts/T-000123%2F2026%2F999999/reprint",
            Some(&token),
            None,
        )
        .await;
    assert_eq!(s, 404);
    env.kill_agent();
    let conn = rusqlite::Connection::open(env.journal_path()).unwrap();
    let reprints: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM journal WHERE kind = 'reprint'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(reprints, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_the_agent_even_with_a_console_listening() {
    let mut env = Env::new().await;
    env.start_agent();
    let token = env.login().await;
    // An open event stream, as every console holds.
    let events = reqwest::Client::new()
        .get(format!("{}/api/v1/events?access_token={token}", env.api))
        .send()
        .await
        .unwrap();
    assert_eq!(events.status(), 200);
    // Before: graceful shutdown waited for the stream forever (and systemd
    // killed the agent 20 s later).
    let status = sigterm(&mut env, "with a console open").await;
    assert!(status.success(), "{status:?}");
    drop(events);
}

/// SIGTERM to the running agent; its exit status. A bounded wait (15 s),
/// not a timing measurement.
async fn sigterm(env: &mut Env, when: &str) -> std::process::ExitStatus {
    let mut child = env.agent.take().expect("a running agent");
    // SAFETY: sending a signal to our own child process.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("pos-agent ignored SIGTERM {when}; logs:\n{}", env.logs());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The designed shutdown (runtime.rs): SIGTERM while a recharge is in
/// flight. The agent stops taking work, lets the outbox record the answer
/// that arrives (it is not dropped half-way), exits 0, and releases the
/// instance lock; a new agent starts on the same data directory and sends
/// nothing again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_records_the_answer_in_flight_exits_0_and_releases_the_lock() {
    let mut env = Env::new().await;
    env.start_agent();
    let token = env.login().await;
    let id = env
        .ready_to_pay(&token, demo::MANUAL_CODE_MENSA_1, 2000)
        .await;
    // The backend applies the recharge, then answers 800 ms later (well
    // within the agent's 2 s backend timeout and its shutdown flush).
    env.mock.inject(
        Route::prefix("/v1/recharges"),
        Fault::ApplyThenHang(Duration::from_millis(800)),
        1,
    );
    let paid = env.pay(&token, &id, 2000).await;
    assert_eq!(paid["state"], "paid");
    // Wait until the backend applied it: the answer is now on its way.
    let deadline = std::time::Instant::now() + SYNC_WAIT;
    while env.mock.credits_for(&id) == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the recharge never reached the backend"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let status = sigterm(&mut env, "with a recharge in flight").await;
    assert!(status.success(), "{status:?}\n{}", env.logs());
    // The answer that arrived while stopping was recorded before the exit.
    let rows = env.db_transactions();
    let row = rows.iter().find(|r| r.0 == id).expect("the payment");
    assert_eq!(row.1, "paid");
    assert_eq!(
        row.3.as_deref(),
        Some("confirmed"),
        "the answer in flight was lost at shutdown; logs:\n{}",
        env.logs()
    );
    // The lock is released: a new agent starts on the same data directory.
    env.start_agent();
    let token = env.login().await;
    let t = env.tx(&token, &id).await;
    assert_eq!(t["sync"], "confirmed");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let sent = env
        .mock
        .request_log()
        .into_iter()
        .filter(|r| r.path.starts_with("/v1/recharges"))
        .count();
    assert_eq!(sent, 1, "nothing is sent twice");
    assert_eq!(env.mock.credits_for(&id), 1);
}
