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
    let (s, _) = env.act(&token, &void_id, "void", Some(json!({}))).await;
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

/// Finding 3 of issue 14: a payment still pending at a close and rejected
/// afterwards used to appear in no later report. Every close lists every
/// rejected payment no earlier close listed, with its receipt number, and
/// the cash expected in the drawer accounts for it; each refund is listed
/// once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refund_never_vanishes_from_the_reports() {
    let mut env = Env::new().await;
    env.start_agent();
    let token = env.login().await;
    // The backend cannot be reached for the payment before the close.
    env.mock
        .inject(Route::prefix("/v1/recharges"), Fault::unavailable(), 10_000);
    let id = env
        .ready_to_pay(&token, demo::MANUAL_CODE_MENSA_1, 2000)
        .await;
    let paid = env.pay(&token, &id, 2000).await;
    let receipt = paid["receipt_number"].as_str().unwrap().to_string();
    let first = close(&env, &token).await;
    assert_eq!(first["count"], 1, "{first}");
    assert_eq!(first["pending"].as_array().unwrap().len(), 1, "{first}");
    assert_eq!(first["rejected"].as_array().unwrap().len(), 0, "{first}");
    assert_eq!(first["cash_expected_cents"], 2000);

    // After the close, the backend refuses it for good: a refund is owed.
    env.mock.clear_faults();
    env.mock.inject(
        Route::prefix("/v1/recharges"),
        Fault::Status {
            status: 422,
            code: "amount_out_of_range".into(),
            retry_after_secs: None,
        },
        1,
    );
    env.wait_sync(&token, &id, "rejected", WAIT).await;

    // Nothing paid since, but a refund to list: a new closure lists it.
    let second = close(&env, &token).await;
    assert_ne!(second["closure_id"], first["closure_id"], "{second}");
    assert!(
        second["closure_id"].as_str().unwrap().ends_with("/2"),
        "{second}"
    );
    assert_eq!(second["from"], first["to"], "periods are contiguous");
    assert_eq!(second["count"], 0);
    assert_eq!(second["total_cents"], 0);
    let rejected = second["rejected"].as_array().unwrap();
    assert_eq!(rejected.len(), 1, "{second}");
    assert_eq!(rejected[0]["id"], id.as_str());
    assert_eq!(rejected[0]["receipt_number"], receipt.as_str());
    assert_eq!(rejected[0]["earlier_period"], true);
    assert_eq!(second["refund_total_cents"], 2000);
    assert_eq!(
        second["cash_expected_cents"], -2000,
        "the refund leaves the drawer: {second}"
    );
    // The closure as sent counts what the municipality should receive in
    // its own period: nothing (the refunded payment belongs to the first).
    wait_closures(&env, 2).await;
    let sent = &env.mock.closures()[1];
    assert_eq!(sent.closure_id, second["closure_id"].as_str().unwrap());
    assert_eq!((sent.count, sent.total_cents), (0, 0));
    assert!(sent.matched);
    // The printed report names it.
    let deadline = std::time::Instant::now() + WAIT;
    let report = loop {
        let docs = env.printed();
        let text = docs.last().map(doc_text).unwrap_or_default();
        if text.contains(second["closure_id"].as_str().unwrap()) {
            break text;
        }
        assert!(std::time::Instant::now() < deadline, "report not printed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    for needle in [
        "Da rimborsare",
        receipt.as_str(),
        "€ -20,00",
        "CONTANTI ATTESI",
    ] {
        assert!(report.contains(needle), "{needle:?} missing:\n{report}");
    }

    // Listed once: closing again returns the same closure, and the next
    // period's close does not list it again.
    let again = close(&env, &token).await;
    assert_eq!(again["closure_id"], second["closure_id"]);
    let id2 = env
        .ready_to_pay(&token, demo::MANUAL_CODE_MENSA_2, 1000)
        .await;
    env.pay(&token, &id2, 1000).await;
    env.wait_sync(&token, &id2, "confirmed", WAIT).await;
    let third = close(&env, &token).await;
    assert!(
        third["closure_id"].as_str().unwrap().ends_with("/3"),
        "{third}"
    );
    assert_eq!(third["rejected"].as_array().unwrap().len(), 0, "{third}");
    assert_eq!(third["cash_expected_cents"], 1000);

    // A restart changes nothing: the list comes from the stored closures.
    env.kill_agent();
    env.start_agent();
    let token = env.login().await;
    let after = close(&env, &token).await;
    assert_eq!(after["closure_id"], third["closure_id"]);
}
