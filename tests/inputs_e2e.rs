//! End-to-end: every input a parent brings, through the real binary and the
//! mock backend: pagoPA notices, the health card, app tokens online and
//! offline, forged tokens.

mod support;

use std::time::Duration;

use hardware_mocks::demo;
use serde_json::{json, Value};
use support::{doc_text, Env, Opts};

const SYNC_WAIT: Duration = Duration::from_secs(20);

fn notice_qr(number: &str, amount: &str) -> String {
    format!("PAGOPA|002|{number}|{}|{amount}", demo::CREDITOR_CF)
}

/// A notice read, verified and activated (pre-receipt printed): its id.
async fn activated_notice(env: &Env, token: &str, number: &str, amount: &str) -> String {
    let (s, t) = create(env, token, &notice_qr(number, amount)).await;
    assert_eq!(s, 201, "{t}");
    let id = t["id"].as_str().unwrap().to_string();
    let (s, t) = env.act(token, &id, "pre-receipt", None).await;
    assert_eq!(s, 200, "{t}");
    assert_eq!(t["state"], "awaiting_cash");
    id
}

async fn create(env: &Env, token: &str, input: &str) -> (u16, Value) {
    env.call(
        "POST",
        "/api/v1/transactions",
        Some(token),
        Some(json!({"input": input})),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notice_is_verified_activated_paid_and_reported_once() {
    let mut env = Env::new().await;
    env.start_agent();
    let token = env.login().await;
    // The QR amount is informative: the verified amount is charged.
    let (s, t) = create(&env, &token, &notice_qr(demo::NOTICE_PAYABLE, "0000000001")).await;
    assert_eq!(s, 201, "{t}");
    assert_eq!(t["kind"], "notice");
    assert_eq!(t["state"], "amount_set", "a notice has its amount at once");
    assert_eq!(t["amount_cents"], 2550);
    assert_eq!(t["fee_cents"], 100, "fees.notice_cents default");
    assert_eq!(t["total_cents"], 2650);
    assert_eq!(t["notice"]["notice_number"], demo::NOTICE_PAYABLE);
    assert_eq!(t["notice"]["iuv"], &demo::NOTICE_PAYABLE[1..]);
    assert_eq!(t["notice"]["description"], "Mensa novembre 2026");
    assert_eq!(t["creditor"]["name"], demo::CREDITOR_NAME);
    let id = t["id"].as_str().unwrap().to_string();

    // The amount of a notice cannot be changed.
    let (s, _) = env
        .act(&token, &id, "amount", Some(json!({"amount_cents": 100})))
        .await;
    assert_eq!(s, 409);

    let (s, t) = env.act(&token, &id, "pre-receipt", None).await;
    assert_eq!(s, 200, "{t}");
    assert_eq!(t["state"], "awaiting_cash");
    assert!(
        t.get("payment_token").is_none(),
        "the payment token stays inside the agent"
    );
    assert_eq!(
        env.mock.notice_status(demo::NOTICE_PAYABLE),
        Some("payable")
    );

    let paid = env.pay(&token, &id, 3000).await;
    assert_eq!(paid["change_cents"], 350);
    env.wait_sync(&token, &id, "confirmed", SYNC_WAIT).await;
    let outcomes = env.mock.notice_outcomes();
    assert_eq!(outcomes.len(), 1, "{outcomes:?}");
    assert_eq!(outcomes[0].outcome, "OK");
    assert_eq!(outcomes[0].amount_cents, 2550);
    assert_eq!(outcomes[0].fee_cents, Some(100));
    assert_eq!(
        outcomes[0].receipt_number.as_deref(),
        paid["receipt_number"].as_str()
    );
    assert_eq!(env.mock.notice_status(demo::NOTICE_PAYABLE), Some("paid"));
    assert!(
        env.mock.recharges().is_empty(),
        "a notice is not a recharge"
    );

    let docs = env.wait_printed(2, Duration::from_secs(10)).await;
    let rec = doc_text(&docs[1]);
    assert!(rec.contains(demo::NOTICE_PAYABLE), "{rec}");
    assert!(
        rec.contains(&demo::NOTICE_PAYABLE[1..]),
        "IUV on the receipt: {rec}"
    );

    // The same notice again is refused before any cash.
    let (s, v) = create(&env, &token, &notice_qr(demo::NOTICE_PAYABLE, "2550")).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (422, Some("notice_not_payable")),
        "{v}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn voiding_an_activated_notice_sends_ko_and_frees_it() {
    let mut env = Env::new().await;
    env.start_agent();
    let token = env.login().await;
    let id = activated_notice(&env, &token, demo::NOTICE_PAYABLE_2, "4200").await;
    let (s, t) = env
        .act(
            &token,
            &id,
            "void",
            Some(json!({"reason": "genitore senza contanti"})),
        )
        .await;
    assert_eq!(s, 200, "{t}");
    assert_eq!(t["state"], "voided");
    let deadline = std::time::Instant::now() + SYNC_WAIT;
    while env.mock.notice_outcomes().is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "no KO outcome reached the backend"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let outcomes = env.mock.notice_outcomes();
    assert_eq!(outcomes.len(), 1);
    assert_eq!(outcomes[0].outcome, "KO");
    assert_eq!(
        outcomes[0].reason.as_deref(),
        Some("genitore senza contanti")
    );
    assert_eq!(outcomes[0].receipt_number, None);
    // Freed: a new transaction can take the notice at once.
    let (s, t) = create(&env, &token, &notice_qr(demo::NOTICE_PAYABLE_2, "4200")).await;
    assert_eq!(s, 201, "{t}");
    let id2 = t["id"].as_str().unwrap();
    let (s, t) = env.act(&token, id2, "pre-receipt", None).await;
    assert_eq!(s, 200, "{t}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paid_expired_and_cancelled_notices_are_refused_before_cash() {
    let mut env = Env::new().await;
    env.start_agent();
    let token = env.login().await;
    for (number, status) in [
        (demo::NOTICE_PAID, "paid"),
        (demo::NOTICE_EXPIRED, "expired"),
        (demo::NOTICE_CANCELLED, "cancelled"),
    ] {
        let (s, v) = create(&env, &token, &notice_qr(number, "100")).await;
        assert_eq!(s, 422, "{number}: {v}");
        assert_eq!(v["error"]["code"], "notice_not_payable");
        assert_eq!(v["error"]["notice_status"], status);
    }
    let (s, v) = create(&env, &token, &notice_qr(demo::NOTICE_UNKNOWN, "100")).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (422, Some("unknown_notice")),
        "{v}"
    );
    // A mistyped notice number never reaches the backend.
    let (s, v) = create(&env, &token, &notice_qr("301000000000012374", "100")).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (422, Some("bad_check_digit")),
        "{v}"
    );
    let (_, list) = env
        .call("GET", "/api/v1/transactions", Some(&token), None)
        .await;
    assert_eq!(
        list["transactions"].as_array().unwrap().len(),
        0,
        "refused inputs create nothing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_card_lists_the_payers_codes_then_pays_the_chosen_one() {
    let mut env = Env::new().await;
    env.start_agent();
    let token = env.login().await;
    let (s, t) = create(&env, &token, demo::PAYER_FISCAL_CODE).await;
    assert_eq!(s, 201, "{t}");
    assert_eq!(t["state"], "choose_code");
    let choices = t["choices"].as_array().unwrap();
    assert_eq!(choices.len(), 2);
    assert!(
        choices.iter().all(|c| c["consumer"].get("ref").is_none()),
        "no consumer.ref in choices: {t}"
    );
    assert!(
        !t.to_string().contains(demo::PAYER_FISCAL_CODE),
        "the fiscal code is not echoed"
    );
    let id = t["id"].as_str().unwrap().to_string();

    // Nothing else before the choice.
    let (s, _) = env
        .act(&token, &id, "amount", Some(json!({"amount_cents": 1000})))
        .await;
    assert_eq!(s, 409);
    let (s, _) = env
        .act(
            &token,
            &id,
            "choose",
            Some(json!({"code": "4001000000269"})),
        )
        .await;
    assert_eq!(s, 422, "a code that is not the payer's is refused");

    let (s, t) = env
        .act(
            &token,
            &id,
            "choose",
            Some(json!({"code": demo::MANUAL_CODE_MENSA_2})),
        )
        .await;
    assert_eq!(s, 200, "{t}");
    assert_eq!(t["state"], "identified");
    assert_eq!(t["consumer"]["display_name"], "L*** R***");
    for (path, body) in [
        ("amount", json!({"amount_cents": 1200})),
        ("pre-receipt", Value::Null),
    ] {
        let (s, v) = env
            .call(
                "POST",
                &format!("/api/v1/transactions/{id}/{path}"),
                Some(&token),
                Some(body).filter(|b| !b.is_null()),
            )
            .await;
        assert_eq!(s, 200, "{path}: {v}");
    }
    env.pay(&token, &id, 1200).await;
    env.wait_sync(&token, &id, "confirmed", SYNC_WAIT).await;
    let credits = env.mock.recharges();
    assert_eq!(credits.len(), 1);
    assert_eq!(credits[0].code, demo::MANUAL_CODE_MENSA_2);
    assert_eq!(credits[0].consumer_ref, demo::CONSUMER_2);
    assert!(
        !env.logs().contains(demo::PAYER_FISCAL_CODE),
        "fiscal code in the logs"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn app_tokens_are_paid_offline_within_limits_and_refused_beyond() {
    let mut env = Env::with(Opts {
        extra_config: "\n[offline]\nmax_transaction_cents = 10000\nmax_total_cents = 15000\n"
            .into(),
        ..Default::default()
    })
    .await;
    env.start_agent();
    let token = env.login().await;
    // The agent caches the signing keys at start.
    let keys = env.data_dir.join("keys.json");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !keys.exists() {
        assert!(std::time::Instant::now() < deadline, "keys never cached");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let qr1 = demo::app_token(demo::CONSUMER_3, demo::SERVICE_MENSA, now);
    let qr2 = demo::app_token(demo::CONSUMER_4, demo::SERVICE_TRASPORTO, now);

    env.stop_backend().await;
    // A manual code cannot be resolved offline, and says what still works.
    let (s, v) = create(&env, &token, demo::MANUAL_CODE_MENSA_1).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (503, Some("backend_unreachable")),
        "{v}"
    );
    assert!(
        v["error"]["message"].as_str().unwrap().contains("QR"),
        "{v}"
    );

    let (s, t) = create(&env, &token, &qr1).await;
    assert_eq!(s, 201, "{t}");
    assert_eq!(t["offline"], true);
    let id1 = t["id"].as_str().unwrap().to_string();
    let (s, v) = env
        .act(&token, &id1, "amount", Some(json!({"amount_cents": 10001})))
        .await;
    assert_eq!(s, 422, "over the per-transaction offline limit: {v}");
    let (s, _) = env
        .act(&token, &id1, "amount", Some(json!({"amount_cents": 10000})))
        .await;
    assert_eq!(s, 200);
    let (s, _) = env.act(&token, &id1, "pre-receipt", None).await;
    assert_eq!(s, 200);
    let paid = env.pay(&token, &id1, 10000).await;
    assert_eq!(paid["sync"], "pending");

    let (s, t) = create(&env, &token, &qr2).await;
    assert_eq!(s, 201, "{t}");
    let id2 = t["id"].as_str().unwrap().to_string();
    let (s, v) = env
        .act(&token, &id2, "amount", Some(json!({"amount_cents": 6000})))
        .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (422, Some("offline_limit_exceeded")),
        "{v}"
    );
    let (s, _) = env
        .act(&token, &id2, "amount", Some(json!({"amount_cents": 5000})))
        .await;
    assert_eq!(s, 200, "within the total");

    env.start_backend().await;
    env.wait_sync(&token, &id1, "confirmed", SYNC_WAIT).await;
    let credits = env.mock.recharges();
    assert_eq!(credits.len(), 1);
    assert!(
        credits[0].offline,
        "the recharge says it was accepted offline"
    );
    assert_eq!(credits[0].amount_cents, 10000);
    assert_eq!(credits[0].consumer_ref, demo::CONSUMER_3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_and_unknown_key_tokens_are_refused_before_the_backend() {
    let mut env = Env::new().await;
    env.start_agent();
    let token = env.login().await;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let payload = demo::token_payload("k1", demo::CREDITOR_CF, "mensa", demo::CONSUMER_1, now);
    let forged = demo::token_with_key(&demo::unknown_signing_key(), &payload);
    let (s, v) = create(&env, &token, &forged).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (422, Some("bad_signature")),
        "{v}"
    );

    let payload = demo::token_payload("k9", demo::CREDITOR_CF, "mensa", demo::CONSUMER_1, now);
    let unknown = demo::token_with_key(&demo::signing_key(), &payload);
    let (s, v) = create(&env, &token, &unknown).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (422, Some("unknown_key")),
        "{v}"
    );

    let before = env
        .mock
        .request_log()
        .iter()
        .filter(|r| r.path.starts_with("/v1/payment-codes"))
        .count();
    assert_eq!(before, 0, "refused tokens never reach the backend");

    // A genuine token is resolved online.
    let good = demo::app_token(demo::CONSUMER_1, demo::SERVICE_MENSA, now);
    let (s, t) = create(&env, &token, &good).await;
    assert_eq!(s, 201, "{t}");
    assert_eq!(t["offline"], false);
    assert_eq!(t["limits"]["max_cents"], 30000);
}

#[test]
fn inspect_explains_any_input_and_masks_fiscal_codes() {
    let run = |args: &[&str]| {
        std::process::Command::new(support::BIN)
            .arg("inspect")
            .args(args)
            .output()
            .expect("run inspect")
    };
    let out = run(&["4001 0000 0018 6", "--json"]);
    assert!(out.status.success());
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["kind"], "manual_code");
    assert_eq!(v["code"], "4001000000186");

    let out = run(&[&notice_qr(demo::NOTICE_PAYABLE, "2550"), "--json"]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["kind"], "notice");
    assert_eq!(v["iuv"], &demo::NOTICE_PAYABLE[1..]);
    assert_eq!(v["amount_cents"], 2550);

    let out = run(&[demo::PAYER_FISCAL_CODE, "--json"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        !text.contains(demo::PAYER_FISCAL_CODE),
        "masked by default: {text}"
    );
    assert!(text.contains("RSS***********2S"), "{text}");
    let out = run(&[demo::PAYER_FISCAL_CODE, "--json", "--reveal"]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["fiscal_code"], demo::PAYER_FISCAL_CODE);
    assert_eq!(v["birth"]["sex"], "M");
    assert_eq!(v["birth"]["place_code"], "A562");

    let out = run(&["4001000000187", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["error"]["code"], "bad_check_digit");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "one-line reason on stderr: {err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outcome_refused_for_an_expired_token_is_kept_as_rejected() {
    let mut env = Env::new().await;
    env.start_agent();
    let token = env.login().await;
    let id = activated_notice(&env, &token, demo::NOTICE_PAYABLE_3, "1575").await;
    // The backend forgets the activation before the outcome reaches it.
    env.mock.inject(
        hardware_mocks::Route::prefix("/v1/notices/outcome"),
        hardware_mocks::Fault::unavailable(),
        1000,
    );
    env.pay(&token, &id, 2000).await;
    env.mock.expire_payment_tokens();
    env.mock.clear_faults();
    let t = env.wait_sync(&token, &id, "rejected", SYNC_WAIT).await;
    assert_eq!(
        t["state"], "paid",
        "the cash was taken: it stays paid, to be refunded"
    );
    let (_, status) = env.call("GET", "/api/v1/status", None, None).await;
    assert_eq!(status["outbox"]["rejected"], 1);
    assert!(env.mock.notice_outcomes().iter().all(|o| o.outcome != "OK"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_activation_whose_answer_was_lost_still_gets_its_ko_on_void() {
    let mut env = Env::with(Opts {
        backend_timeout_ms: 500,
        ..Default::default()
    })
    .await;
    env.start_agent();
    let token = env.login().await;
    let (s, t) = create(&env, &token, &notice_qr(demo::NOTICE_PAYABLE, "2550")).await;
    assert_eq!(s, 201, "{t}");
    let id = t["id"].as_str().unwrap().to_string();
    // The backend applies the activation, but its answers never arrive.
    env.mock.inject(
        hardware_mocks::Route::prefix("/v1/notices/activate"),
        hardware_mocks::Fault::ApplyThenHang(Duration::from_secs(1)),
        3,
    );
    let (s, v) = env.act(&token, &id, "pre-receipt", None).await;
    assert_eq!(s, 503, "{v}");
    // The notice is now held at the backend by an activation the counter
    // never saw; voiding must still release it with a KO outcome.
    let (s, t) = env.act(&token, &id, "void", Some(json!({}))).await;
    assert_eq!(s, 200, "{t}");
    let deadline = std::time::Instant::now() + SYNC_WAIT;
    while env.mock.notice_outcomes().is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "no KO for the lost activation:\n{}",
            env.logs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let outcomes = env.mock.notice_outcomes();
    assert_eq!(outcomes.len(), 1);
    assert_eq!(outcomes[0].outcome, "KO");
    // Released: a new transaction can activate it at once.
    let (s, t) = create(&env, &token, &notice_qr(demo::NOTICE_PAYABLE, "2550")).await;
    assert_eq!(s, 201, "{t}");
    let id2 = t["id"].as_str().unwrap();
    let (s, t) = env.act(&token, id2, "pre-receipt", None).await;
    assert_eq!(s, 200, "{t}");
}

/// Finding 9 of issue 14: a handheld scanner in keyboard mode on an Italian
/// layout types every `|` of a notice QR as `§`. Such a read is the same
/// notice; mixed separators or a digit typed as something else are still
/// refused; `inspect` says what happened.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notice_qr_typed_by_a_scanner_on_an_italian_layout_is_accepted() {
    let mut env = Env::new().await;
    env.start_agent();
    let token = env.login().await;
    let typed = notice_qr(demo::NOTICE_PAYABLE, "0000002550").replace('|', "§");
    // Through the scanner's path: a scan event, then its scan_id.
    let mut events = support::EventStream::open(&env, &token).await;
    let (s, v) = env
        .call(
            "POST",
            "/api/v1/scans",
            Some(&token),
            Some(json!({"input": format!("{typed}\r\n"), "source": "scanner"})),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let scan = events.next_named("scan", Duration::from_secs(10)).await;
    assert_eq!(scan["kind"], "notice", "{scan}");
    let (s, t) = env
        .call(
            "POST",
            "/api/v1/transactions",
            Some(&token),
            Some(json!({"scan_id": v["scan_id"]})),
        )
        .await;
    assert_eq!(s, 201, "{t}");
    assert_eq!(t["kind"], "notice");
    assert_eq!(t["notice"]["notice_number"], demo::NOTICE_PAYABLE);
    assert_eq!(t["amount_cents"], 2550);
    assert_eq!(t["state"], "amount_set");

    for (text, code) in [
        // one separator left as `|`
        (
            format!(
                "PAGOPA§002§{}|{}§2550",
                demo::NOTICE_PAYABLE_2,
                demo::CREDITOR_CF
            ),
            "bad_format",
        ),
        // a digit of the creditor's code changed: its check digit catches it
        (
            format!("PAGOPA§002§{}§00514490011§2550", demo::NOTICE_PAYABLE_2),
            "bad_check_digit",
        ),
        // a digit typed as a letter
        (
            format!("PAGOPA§002§30100000000001277A§{}§2550", demo::CREDITOR_CF),
            "bad_format",
        ),
    ] {
        let (s, v) = create(&env, &token, &text).await;
        assert_eq!(s, 422, "{text}: {v}");
        assert_eq!(v["error"]["code"], code, "{text}: {v}");
    }

    let out = std::process::Command::new(support::BIN)
        .arg("inspect")
        .arg(&typed)
        .arg("--json")
        .output()
        .expect("run inspect");
    assert!(out.status.success());
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["kind"], "notice");
    assert_eq!(v["notice_number"], demo::NOTICE_PAYABLE);
    assert_eq!(v["qr_separator"], "§", "{v}");
}

/// Finding 8 of issue 14: `?date=9999-12-31` killed its connection with a
/// panic in the day arithmetic. Every date and number a client sends is
/// range-checked into a 4xx that says what was wrong; the agent goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_date_and_number_from_outside_is_range_checked_into_a_4xx() {
    let mut env = Env::new().await;
    env.start_agent();
    let token = env.login().await;
    for date in [
        "9999-12-31",
        "0000-01-01",
        "1999-12-31",
        "2200-01-01",
        "-0001-01-01",
        "+10000-01-01",
        "2026-02-30",
        "2026-13-01",
        "2026-1-1",
        "oggi",
        "",
    ] {
        let (s, v) = env
            .call(
                "GET",
                &format!("/api/v1/transactions?date={date}"),
                Some(&token),
                None,
            )
            .await;
        assert_eq!(s, 400, "date={date}: {v}");
        assert_eq!(v["error"]["code"], "bad_request", "date={date}: {v}");
        assert!(
            v["error"]["message"].as_str().unwrap().contains("date"),
            "names the parameter: {v}"
        );
    }
    for date in ["2000-01-01", "2026-11-22", "2199-12-31"] {
        let (s, v) = env
            .call(
                "GET",
                &format!("/api/v1/transactions?date={date}"),
                Some(&token),
                None,
            )
            .await;
        assert_eq!(s, 200, "date={date}: {v}");
    }

    // Amounts and cash: out of range, negative, fractional, too big for
    // any integer, or not a number.
    let id = env
        .ready_to_pay(&token, demo::MANUAL_CODE_MENSA_1, 2000)
        .await;
    let amount = format!("/api/v1/transactions/{id}/amount");
    let pay = format!("/api/v1/transactions/{id}/pay");
    for (path, body) in [
        (&amount, json!({"amount_cents": i64::MAX})),
        (&amount, json!({"amount_cents": i64::MIN})),
        (&amount, json!({"amount_cents": -1})),
        (&amount, json!({"amount_cents": 0})),
        (&amount, json!({"amount_cents": 20.5})),
        (&amount, json!({"amount_cents": u64::MAX})),
        (&amount, json!({"amount_cents": "2000"})),
        (&pay, json!({"tendered_cents": i64::MAX})),
        (&pay, json!({"tendered_cents": i64::MIN})),
        (&pay, json!({"tendered_cents": -1})),
        (&pay, json!({"tendered_cents": u64::MAX})),
        (&pay, json!({"tendered_cents": 1e300})),
    ] {
        let (s, v) = env
            .call("POST", path, Some(&token), Some(body.clone()))
            .await;
        assert!((400..500).contains(&s), "{path} {body}: {s} {v}");
        assert!(v["error"]["code"].is_string(), "{path} {body}: {v}");
    }
    for body in [
        r#"{"amount_cents": 1e400}"#,
        r#"{"amount_cents": 99999999999999999999999999}"#,
    ] {
        let (s, v) = env.post_raw(&amount, &token, body).await;
        assert_eq!(s, 400, "{body}: {v}");
    }
    let (s, v) = env
        .act(
            &token,
            &id,
            "void",
            Some(json!({"reason": "x".repeat(100_000)})),
        )
        .await;
    assert_eq!(s, 400, "an endless void reason: {v}");
    assert!(v["error"]["message"].as_str().unwrap().contains("reason"));
    // Nothing was changed by the refusals: the transaction still pays.
    let t = env.tx(&token, &id).await;
    assert_eq!(t["amount_cents"], 2000);
    let paid = env.pay(&token, &id, 2000).await;
    assert_eq!(paid["state"], "paid");
    let (s, _) = env.call("GET", "/api/v1/status", None, None).await;
    assert_eq!(s, 200);
}
