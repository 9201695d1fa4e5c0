//! End-to-end: the day close through the real binary and the mock backend.

mod support;

use std::time::Duration;

use hardware_mocks::demo;
use hardware_mocks::{Fault, Route};
use serde_json::{json, Value};
use support::{doc_text, Env};

const WAIT: Duration = Duration::from_secs(20);

async fn close(env: &Env, token: &str) -> Value {
    let (s, r) = env
        .call("POST", "/api/v1/day/close", Some(token), None)
        .await;
    assert_eq!(s, 200, "{r}");
    r
}

/// Poll the backend until it has `n` closures.
async fn wait_closures(env: &Env, n: usize) {
    let deadline = std::time::Instant::now() + WAIT;
    while env.mock.closures().len() < n {
        assert!(
            std::time::Instant::now() < deadline,
            "closure never reached the backend"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn day_close_reports_matches_and_is_idempotent() {
    let mut env = Env::new().await;
    env.start_agent();
    let token = env.login().await;
    for (code, amount) in [
        (demo::MANUAL_CODE_MENSA_1, 2000),
        (demo::MANUAL_CODE_TRASPORTO_1, 1500),
    ] {
        let id = env.ready_to_pay(&token, code, amount).await;
        env.pay(&token, &id, 5000).await;
        env.wait_sync(&token, &id, "confirmed", WAIT).await;
    }
    // A voided one is counted as a void, not as money.
    let (_, t) = env
        .call(
            "POST",
            "/api/v1/transactions",
            Some(&token),
            Some(json!({"input": demo::MANUAL_CODE_MENSA_2})),
        )
        .await;
    let void_id = t["id"].as_str().unwrap().to_string();
    let (s, _) = env
        .call(
            "POST",
            &format!("/api/v1/transactions/{void_id}/void"),
            Some(&token),
            Some(json!({})),
        )
        .await;
    assert_eq!(s, 200);

    let r = close(&env, &token).await;
    let year = time::OffsetDateTime::now_utc().year();
    assert_eq!(r["count"], 2);
    assert_eq!(r["total_cents"], 3500);
    assert_eq!(r["cash_expected_cents"], 3500);
    assert_eq!(r["voids"], 1);
    assert_eq!(r["first_receipt"], format!("T-000123/{year}/000001"));
    assert_eq!(r["last_receipt"], format!("T-000123/{year}/000002"));
    assert_eq!(r["by_service"].as_array().unwrap().len(), 2);
    assert!(r["closure_id"].as_str().unwrap().starts_with("T-000123/"));
    assert!(r["closure_id"].as_str().unwrap().ends_with("/1"));
    assert_eq!(r["status"], "matched", "{r}");
    wait_closures(&env, 1).await;
    let sent = &env.mock.closures()[0];
    assert_eq!((sent.count, sent.total_cents), (2, 3500));
    assert!(sent.matched);

    // Closing again with nothing new returns the same closure and sends nothing.
    let again = close(&env, &token).await;
    assert_eq!(again["closure_id"], r["closure_id"]);
    assert_eq!(again["total_cents"], 3500);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(env.mock.closures().len(), 1);

    // The printed report.
    let docs = env.printed();
    let report = doc_text(docs.last().unwrap());
    for needle in [
        "CHIUSURA GIORNALIERA",
        "CONTANTI ATTESI",
        "€ 35,00",
        "Annullate",
    ] {
        assert!(report.contains(needle), "{needle:?} missing:\n{report}");
    }

    // A new payment after the close opens a second period.
    let id = env
        .ready_to_pay(&token, demo::MANUAL_CODE_MENSA_3, 1000)
        .await;
    env.pay(&token, &id, 1000).await;
    env.wait_sync(&token, &id, "confirmed", WAIT).await;
    let second = close(&env, &token).await;
    assert!(
        second["closure_id"].as_str().unwrap().ends_with("/2"),
        "{second}"
    );
    assert_eq!(second["count"], 1);
    assert_eq!(second["from"], r["to"], "periods are contiguous");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mismatch_is_shown_and_kept() {
    let mut env = Env::new().await;
    env.start_agent();
    let token = env.login().await;
    let id = env
        .ready_to_pay(&token, demo::MANUAL_CODE_MENSA_1, 2000)
        .await;
    env.pay(&token, &id, 2000).await;
    env.wait_sync(&token, &id, "confirmed", WAIT).await;
    // The second payment cannot reach the backend before the close: the
    // backend counts one, the counter two.
    env.mock
        .inject(Route::prefix("/v1/recharges"), Fault::unavailable(), 10_000);
    let id2 = env
        .ready_to_pay(&token, demo::MANUAL_CODE_MENSA_2, 1000)
        .await;
    env.pay(&token, &id2, 1000).await;
    let r = close(&env, &token).await;
    assert_eq!(r["count"], 2);
    assert_eq!(
        r["pending"].as_array().unwrap().len(),
        1,
        "the pending one explains it: {r}"
    );
    assert_eq!(r["status"], "mismatch", "{r}");
    assert_eq!(r["answer"]["server_count"], 1);
    assert_eq!(r["answer"]["server_total_cents"], 2000);

    // Kept: a restart and a second close still show the mismatch.
    env.kill_agent();
    env.start_agent();
    let token = env.login().await;
    let again = close(&env, &token).await;
    assert_eq!(again["closure_id"], r["closure_id"]);
    assert_eq!(again["status"], "mismatch");
    env.mock.clear_faults();
    env.wait_sync(&token, &id2, "confirmed", WAIT).await;
}
