//! End-to-end: nothing delayed, nothing hidden (issue 14, findings 1, 2, 6
//! and 7). The real `pos-agent` binary against the mock backend.

mod support;

use std::io::Write;
use std::time::{Duration, Instant};

use hardware_mocks::{demo, Fault, Route};
use serde_json::{json, Value};
use support::{doc_text, Env, Opts};

const SYNC_WAIT: Duration = Duration::from_secs(20);

fn notice_qr(number: &str, amount: &str) -> String {
    format!("PAGOPA|002|{number}|{}|{amount}", demo::CREDITOR_CF)
}

/// Send one request on a raw connection and close it after `linger`,
/// without reading the answer: a reloaded tab, a script that timed out.
fn post_and_go_away(env: &Env, path: &str, token: &str, body: &str, linger: Duration) {
    let addr = env.api.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(addr).expect("connect to the agent");
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).expect("send");
    std::thread::sleep(linger);
    stream
        .shutdown(std::net::Shutdown::Both)
        .expect("close the connection");
}

/// Requests the mock backend saw with this idempotency key.
fn attempts_for(env: &Env, key: &str) -> Vec<u16> {
    env.mock
        .request_log()
        .into_iter()
        .filter(|r| r.idempotency_key.as_deref() == Some(key))
        .map(|r| r.status)
        .collect()
}

async fn wait_for(within: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    cond()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pay_whose_client_went_away_is_still_credited_and_printed() {
    let mut env = Env::new().await;
    env.start_agent();
    let token = env.login().await;
    let id = env
        .ready_to_pay(&token, demo::MANUAL_CODE_MENSA_1, 2000)
        .await;
    env.wait_printed(1, SYNC_WAIT).await; // the pre-receipt
                                          // The counter is busy (a day close holds the counter lock until the
                                          // next whole second): the client gives up before `pay` answers.
    let close = {
        let http = env.http.clone();
        let url = format!("{}/api/v1/day/close", env.api);
        let tok = token.clone();
        tokio::spawn(async move { http.post(url).bearer_auth(tok).send().await })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    post_and_go_away(
        &env,
        &format!("/api/v1/transactions/{id}/pay"),
        &token,
        r#"{"tendered_cents": 2000}"#,
        Duration::from_millis(100),
    );
    assert_eq!(close.await.unwrap().expect("close").status(), 200);
    // Nothing else happens at the counter: no later payment, no restart.
    let t = env.wait_sync(&token, &id, "confirmed", SYNC_WAIT).await;
    assert_eq!(t["state"], "paid");
    assert_eq!(env.mock.credits_for(&id), 1);
    let receipt_number = t["receipt_number"].as_str().unwrap();
    let deadline = Instant::now() + SYNC_WAIT;
    while !env
        .printed()
        .iter()
        .any(|d| doc_text(d).contains(receipt_number))
    {
        assert!(Instant::now() < deadline, "the receipt was never printed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_day_close_whose_client_went_away_still_prints_its_report_and_sends_it() {
    let mut env = Env::new().await;
    env.start_agent();
    let token = env.login().await;
    let id = env
        .ready_to_pay(&token, demo::MANUAL_CODE_MENSA_1, 2000)
        .await;
    env.pay(&token, &id, 2000).await;
    env.wait_sync(&token, &id, "confirmed", SYNC_WAIT).await;
    let printed = env.wait_printed(2, SYNC_WAIT).await.len();
    // The close holds the counter lock until the next whole second: the
    // client gives up before the answer.
    post_and_go_away(
        &env,
        "/api/v1/day/close",
        &token,
        "",
        Duration::from_millis(200),
    );
    let docs = env.wait_printed(printed + 1, SYNC_WAIT).await;
    assert!(
        docs.iter()
            .any(|d| doc_text(d).contains("CHIUSURA GIORNALIERA")),
        "no day report printed"
    );
    assert!(
        wait_for(SYNC_WAIT, || env.mock.closures().len() == 1).await,
        "the closure never reached the backend"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadable_2xx_is_applied_once_and_its_raw_body_kept() {
    let mut env = Env::new().await;
    env.start_agent();
    let token = env.login().await;
    let id = env
        .ready_to_pay(&token, demo::MANUAL_CODE_MENSA_1, 2000)
        .await;
    env.mock
        .inject(Route::Key(id.clone()), Fault::ApplyThenGarbage, 1);
    env.pay(&token, &id, 2000).await;
    env.wait_sync(&token, &id, "confirmed", SYNC_WAIT).await;
    assert_eq!(env.mock.credits_for(&id), 1);
    assert_eq!(
        attempts_for(&env, &id),
        vec![201],
        "a 2xx must not be sent again"
    );
    let conn = rusqlite::Connection::open_with_flags(
        env.journal_path(),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .expect("open the journal");
    let (state, response): (String, String) = conn
        .query_row(
            "SELECT state, response FROM outbox WHERE idempotency_key = ?1",
            [&id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .expect("the outbox entry");
    assert_eq!(state, "confirmed");
    assert_eq!(
        response, "<html>Service OK</html>",
        "the raw answer is kept"
    );
    env.assert_journal_verifies();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_entry_the_backend_keeps_failing_does_not_hold_back_the_others_and_is_shown_stuck() {
    let mut env = Env::new().await;
    env.start_agent();
    let token = env.login().await;
    let stuck = env
        .ready_to_pay(&token, demo::MANUAL_CODE_MENSA_1, 2000)
        .await;
    env.mock.inject(
        Route::Key(stuck.clone()),
        Fault::Status {
            status: 500,
            code: "internal".into(),
            retry_after_secs: None,
        },
        10_000,
    );
    let paid = env.pay(&token, &stuck, 2000).await;
    let stuck_receipt = paid["receipt_number"].as_str().unwrap().to_string();
    let mut others = Vec::new();
    for code in [demo::MANUAL_CODE_TRASPORTO_1, demo::MANUAL_CODE_MENSA_2] {
        let id = env.ready_to_pay(&token, code, 1500).await;
        env.pay(&token, &id, 1500).await;
        others.push(id);
    }
    for id in &others {
        env.wait_sync(&token, id, "confirmed", SYNC_WAIT).await;
        assert_eq!(env.mock.credits_for(id), 1);
    }
    assert_eq!(env.tx(&token, &stuck).await["sync"], "pending");

    // The operator sees it in `status`, with its receipt and the reason.
    let deadline = Instant::now() + SYNC_WAIT;
    let shown = loop {
        let st = env.status().await;
        let list = st["outbox"]["stuck"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if let Some(e) = list
            .iter()
            .find(|e| e["transaction_id"] == json!(stuck))
            .cloned()
        {
            break e;
        }
        assert!(Instant::now() < deadline, "never shown as stuck: {st}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(shown["receipt_number"], json!(stuck_receipt));
    assert!(
        shown["reason"].as_str().unwrap_or("").contains("500"),
        "{shown}"
    );
    assert!(shown["attempts"].as_i64().unwrap_or(0) >= 3, "{shown}");

    // The technician too.
    let out = env.cli(&["doctor"]);
    let report = String::from_utf8_lossy(&out.stdout);
    let line = report
        .lines()
        .find(|l| l.contains("bloccat"))
        .unwrap_or_else(|| panic!("doctor does not show the stuck entry:\n{report}"));
    assert!(line.contains(&stuck_receipt), "{line}");
    assert!(line.contains("500"), "{line}");

    // Once the backend takes it, it is credited once and no longer shown.
    env.mock.clear_faults();
    env.wait_sync(&token, &stuck, "confirmed", Duration::from_secs(40))
        .await;
    assert_eq!(env.mock.credits_for(&stuck), 1);
    let st = env.wait_outbox_drained(SYNC_WAIT).await;
    assert_eq!(st["outbox"]["stuck"], json!([]));
    env.assert_journal_verifies();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_backend_does_not_hold_up_another_payment() {
    let mut env = Env::with(Opts {
        backend_timeout_ms: 10_000,
        ..Opts::default()
    })
    .await;
    env.start_agent();
    let token = env.login().await;
    let waiting = env
        .ready_to_pay(&token, demo::MANUAL_CODE_MENSA_1, 2000)
        .await;
    let (s, notice) = env
        .call(
            "POST",
            "/api/v1/transactions",
            Some(&token),
            Some(json!({"input": notice_qr(demo::NOTICE_PAYABLE, "2550")})),
        )
        .await;
    assert_eq!(s, 201, "{notice}");
    let notice_id = notice["id"].as_str().unwrap().to_string();

    // Each slow call reaches the backend, then another transaction is paid.
    let slow = Fault::Delay(Duration::from_millis(5000));
    for (route, call) in [
        (
            "/v1/notices/activate",
            (
                "pre-receipt",
                format!("/api/v1/transactions/{notice_id}/pre-receipt"),
                None,
            ),
        ),
        (
            "/v1/payment-codes",
            (
                "create",
                "/api/v1/transactions".to_string(),
                Some(json!({"input": demo::MANUAL_CODE_MENSA_2})),
            ),
        ),
    ] {
        env.mock.inject(Route::prefix(route), slow.clone(), 1);
        let (what, path, body) = call;
        let url = format!("{}{}", env.api, path);
        let http = env.http.clone();
        let tok = token.clone();
        let slow_call = tokio::spawn(async move {
            let mut req = http.post(url).bearer_auth(tok);
            if let Some(b) = body {
                req = req.json(&b);
            }
            req.send().await.expect("slow call").status().as_u16()
        });
        // The slow request has reached the backend (its fault was taken).
        assert!(
            wait_for(SYNC_WAIT, || env.mock.state_json()["faults"] == json!([])).await,
            "{what} never reached the backend"
        );
        if what == "pre-receipt" {
            let paid = env.pay(&token, &waiting, 2000).await;
            assert_eq!(paid["state"], "paid");
        } else {
            let id = env
                .ready_to_pay(&token, demo::MANUAL_CODE_TRASPORTO_1, 1000)
                .await;
            // ready_to_pay itself went through create/amount/pre-receipt.
            env.pay(&token, &id, 1000).await;
        }
        assert!(
            !slow_call.is_finished(),
            "the payment waited for the slow {what} to finish"
        );
        let status = slow_call.await.expect("slow call");
        assert!(status == 200 || status == 201, "{what}: {status}");
    }
    let t = env.tx(&token, &notice_id).await;
    assert_eq!(t["state"], "awaiting_cash", "{t}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pay_refuses_a_notice_whose_payment_token_is_about_to_expire() {
    let mut env = Env::new().await;
    env.start_agent();
    let token = env.login().await;
    env.mock
        .set_payment_token_lifetime(Duration::from_secs(120));
    let (s, t) = env
        .call(
            "POST",
            "/api/v1/transactions",
            Some(&token),
            Some(json!({"input": notice_qr(demo::NOTICE_PAYABLE, "2550")})),
        )
        .await;
    assert_eq!(s, 201, "{t}");
    let id = t["id"].as_str().unwrap().to_string();
    let (s, t) = env.act(&token, &id, "pre-receipt", None).await;
    assert_eq!(s, 200, "{t}");
    let (s, v) = env
        .act(&token, &id, "pay", Some(json!({"tendered_cents": 5000})))
        .await;
    assert_eq!(s, 409, "{v}");
    assert_eq!(v["error"]["code"], "payment_token_expiring", "{v}");
    let message = v["error"]["message"].as_str().unwrap_or("");
    assert!(message.contains("non incassare"), "{message}");
    assert!(message.contains("Annullare"), "{message}");
    // Nothing was taken: no receipt number, no outcome sent.
    let t: Value = env.tx(&token, &id).await;
    assert_eq!(t["state"], "awaiting_cash");
    assert_eq!(t["receipt_number"], Value::Null);
    assert!(env.mock.notice_outcomes().is_empty());
    // The operator voids it; the activation gets its KO.
    let (s, v) = env
        .act(
            &token,
            &id,
            "void",
            Some(json!({"reason": "attivazione in scadenza"})),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert!(
        wait_for(SYNC_WAIT, || env.mock.notice_outcomes().len() == 1).await,
        "the KO outcome never reached the backend"
    );
}
