//! The mock backend and transactions of several items (issue 15): each
//! `(transaction_id, item)` is credited once, notice steps are keyed per
//! item, closures count items and keep the journal witness. Over real HTTP,
//! with a signer written here from `backend-api.md`.

use std::time::Duration;

use hardware_mocks::{demo, Fault, MockBackend, Route, RunningBackend};
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

const TERMINAL: &str = "T-000901";
const SECRET: [u8; 32] = [9u8; 32];

struct Client {
    http: reqwest::Client,
    base: String,
}

struct Answer {
    status: u16,
    body: Value,
}

impl Answer {
    fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }
    fn message(&self) -> &str {
        self.body["error"]["message"].as_str().unwrap_or("")
    }
}

fn now_timestamp() -> String {
    let t = time::OffsetDateTime::now_utc();
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

impl Client {
    /// A signed POST that may go unanswered (a client timeout).
    async fn try_post(&self, path: &str, body: &Value, key: &str) -> reqwest::Result<Answer> {
        let bytes = body.to_string().into_bytes();
        let ts = now_timestamp();
        let sts = format!(
            "POST\n{path}\n{ts}\n{}",
            hex::encode(Sha256::digest(&bytes))
        );
        let mut mac = Hmac::<Sha256>::new_from_slice(&SECRET).expect("any key length");
        mac.update(sts.as_bytes());
        let sig = format!("v1={}", hex::encode(mac.finalize().into_bytes()));
        let resp = self
            .http
            .post(format!("{}{path}", self.base))
            .header("X-Terminal-Id", TERMINAL)
            .header("X-Timestamp", ts)
            .header("X-Signature", sig)
            .header("Content-Type", "application/json")
            .header("Idempotency-Key", key)
            .body(bytes)
            .send()
            .await?;
        let status = resp.status().as_u16();
        let body = resp.json().await.unwrap_or(Value::Null);
        Ok(Answer { status, body })
    }

    /// A signed POST (backend-api.md "Authentication") with this key.
    async fn post(&self, path: &str, body: &Value, key: &str) -> Answer {
        self.try_post(path, body, key).await.expect("answered")
    }
}

async fn start() -> (MockBackend, RunningBackend, Client) {
    let backend = MockBackend::with_demo_data();
    backend.register_terminal(TERMINAL, SECRET);
    let running = backend
        .serve("127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("serve");
    let client = Client {
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .expect("client"),
        base: running.url.clone(),
    };
    (backend, running, client)
}

/// A recharge body of item `item` for one of the demo family's children.
fn recharge(tx: &str, item: u32, code: &str, consumer: &str, amount: u64) -> Value {
    json!({
        "transaction_id": tx, "item": item, "code": code, "service_id": demo::SERVICE_MENSA,
        "consumer_ref": consumer, "creditor_fiscal_code": demo::CREDITOR_CF,
        "amount_cents": amount, "fee_cents": 0, "paid_at": "2026-11-22T10:16:03Z",
        "receipt_number": "T-000901/2026/000001", "operator_id": "op1", "offline": false
    })
}

fn child_1(tx: &str, item: u32, amount: u64) -> Value {
    recharge(
        tx,
        item,
        demo::MANUAL_CODE_MENSA_1,
        demo::CONSUMER_1,
        amount,
    )
}

fn child_2(tx: &str, item: u32, amount: u64) -> Value {
    recharge(
        tx,
        item,
        demo::MANUAL_CODE_MENSA_2,
        demo::CONSUMER_2,
        amount,
    )
}

#[tokio::test]
async fn each_item_of_a_transaction_is_credited_once_on_its_own() {
    let (backend, _running, client) = start().await;
    let one = client
        .post("/v1/recharges", &child_1("tx-a", 1, 2000), "tx-a")
        .await;
    assert_eq!(one.status, 201, "{}", one.body);
    // Another item of the same transaction is a credit of its own.
    let two = client
        .post("/v1/recharges", &child_2("tx-a", 2, 1500), "tx-a:2")
        .await;
    assert_eq!(two.status, 201, "{}", two.body);
    assert_ne!(one.body["recharge_id"], two.body["recharge_id"]);
    assert_eq!(two.body["balance_cents"], 800 + 1500);
    assert_eq!(
        backend.balance_of(demo::CONSUMER_1, demo::SERVICE_MENSA),
        Some(1250 + 2000)
    );
    assert_eq!(backend.credits_for("tx-a"), 2);
    assert_eq!(backend.credits_for_item("tx-a", 1), 1);
    assert_eq!(backend.credits_for_item("tx-a", 2), 1);

    // A repeat of item 2's key: the first answer again, nothing applied.
    let again = client
        .post("/v1/recharges", &child_2("tx-a", 2, 1500), "tx-a:2")
        .await;
    assert_eq!((again.status, &again.body), (201, &two.body));

    // The same (tx, item) under another key: already credited, with the
    // item's own recharge id.
    let other_key = client
        .post("/v1/recharges", &child_2("tx-a", 2, 1500), "tx-a:2:again")
        .await;
    assert_eq!(
        (other_key.status, other_key.code()),
        (409, "already_credited")
    );
    assert_eq!(
        other_key.body["error"]["recharge_id"],
        two.body["recharge_id"]
    );
    assert!(other_key.message().contains("item 2"), "{}", other_key.body);

    // After the server forgot its keys, each item still answers with its own
    // credit.
    backend.forget_idempotency_keys();
    for (body, key, first) in [
        (child_1("tx-a", 1, 2000), "tx-a", &one),
        (child_2("tx-a", 2, 1500), "tx-a:2", &two),
    ] {
        let late = client.post("/v1/recharges", &body, key).await;
        assert_eq!((late.status, late.code()), (409, "already_credited"));
        assert_eq!(late.body["error"]["recharge_id"], first.body["recharge_id"]);
    }
    assert_eq!(backend.credits_for_item("tx-a", 1), 1);
    assert_eq!(backend.credits_for_item("tx-a", 2), 1);
    assert_eq!(
        backend.balance_of(demo::CONSUMER_2, demo::SERVICE_MENSA),
        Some(800 + 1500)
    );
    let items: Vec<(String, u32)> = backend
        .recharges()
        .into_iter()
        .map(|r| (r.transaction_id, r.item))
        .collect();
    assert_eq!(items, [("tx-a".into(), 1), ("tx-a".into(), 2)]);
}

#[tokio::test]
async fn a_recharge_under_a_key_other_than_its_items_is_refused_and_credits_nothing() {
    let (backend, _running, client) = start().await;
    for (body, key) in [
        // Item 2 under item 1's key, item 1 under a numbered key.
        (child_2("tx-b", 2, 1500), "tx-b"),
        (child_1("tx-b", 1, 2000), "tx-b:1"),
        (child_2("tx-b", 3, 1500), "tx-b:2"),
        // Items are numbered from 1.
        (child_1("tx-b", 0, 2000), "tx-b:0"),
    ] {
        let a = client.post("/v1/recharges", &body, key).await;
        assert_eq!((a.status, a.code()), (400, "bad_request"), "{key}");
    }
    let a = client
        .post("/v1/recharges", &child_2("tx-b2", 2, 1500), "tx-b2")
        .await;
    assert!(a.message().contains("\"tx-b2:2\""), "{}", a.body);
    assert_eq!(backend.credits_for("tx-b"), 0);
    assert_eq!(backend.credits_for("tx-b2"), 0);
    assert_eq!(
        backend.balance_of(demo::CONSUMER_2, demo::SERVICE_MENSA),
        Some(800)
    );
    // Under the spec's key the same item goes through.
    let ok = client
        .post("/v1/recharges", &child_2("tx-b2", 2, 1500), "tx-b2:2")
        .await;
    assert_eq!(ok.status, 201, "{}", ok.body);
}

#[tokio::test]
async fn a_recharge_body_without_item_is_item_1() {
    let (backend, _running, client) = start().await;
    // As an outbox entry written before items existed would replay it.
    let mut old = child_1("tx-c", 1, 2000);
    old.as_object_mut().expect("object").remove("item");
    let a = client.post("/v1/recharges", &old, "tx-c").await;
    assert_eq!(a.status, 201, "{}", a.body);
    assert_eq!(backend.recharges()[0].item, 1);
    // The same item sent with `"item": 1` under another key is that credit.
    let b = client
        .post("/v1/recharges", &child_1("tx-c", 1, 2000), "tx-c-new")
        .await;
    assert_eq!((b.status, b.code()), (409, "already_credited"));
    assert_eq!(b.body["error"]["recharge_id"], a.body["recharge_id"]);
    assert_eq!(backend.credits_for("tx-c"), 1);
}

#[tokio::test]
async fn notice_steps_are_keyed_per_item() {
    let (backend, _running, client) = start().await;
    let activate = |n: &str, amount: u64| json!({"creditor_fiscal_code": demo::CREDITOR_CF, "notice_number": n, "amount_cents": amount});
    let ok = |token: &Value| {
        json!({"payment_token": token, "outcome": "OK", "paid_at": "2026-11-22T10:20:00Z",
               "receipt_number": "T-000901/2026/000002", "fee_cents": 100})
    };
    // Items 2 and 3 of one transaction, each a notice.
    let a2 = client
        .post(
            "/v1/notices/activate",
            &activate(demo::NOTICE_PAYABLE, 2550),
            "tx-n:2:activate",
        )
        .await;
    let a3 = client
        .post(
            "/v1/notices/activate",
            &activate(demo::NOTICE_PAYABLE_2, 4200),
            "tx-n:3:activate",
        )
        .await;
    assert_eq!((a2.status, a3.status), (200, 200));
    let (t2, t3) = (&a2.body["payment_token"], &a3.body["payment_token"]);
    assert_ne!(t2, t3);
    // Each item's activation is its own key: a repeat gives its own token.
    let again = client
        .post(
            "/v1/notices/activate",
            &activate(demo::NOTICE_PAYABLE_2, 4200),
            "tx-n:3:activate",
        )
        .await;
    assert_eq!(&again.body["payment_token"], t3);

    let o3 = client
        .post("/v1/notices/outcome", &ok(t3), "tx-n:3:outcome")
        .await;
    assert_eq!(o3.status, 200, "{}", o3.body);
    let o2 = client
        .post("/v1/notices/outcome", &ok(t2), "tx-n:2:outcome")
        .await;
    assert_eq!(o2.status, 200, "{}", o2.body);

    // An outcome under another item's key than its activation's is refused,
    // naming both.
    let wrong = client
        .post("/v1/notices/outcome", &ok(t3), "tx-n:outcome")
        .await;
    assert_eq!((wrong.status, wrong.code()), (400, "bad_request"));
    assert!(
        wrong.message().contains("item 3 of transaction tx-n")
            && wrong.message().contains("item 1 of transaction tx-n"),
        "{}",
        wrong.body
    );
    let wrong = client
        .post("/v1/notices/outcome", &ok(t2), "tx-other:2:outcome")
        .await;
    assert_eq!((wrong.status, wrong.code()), (400, "bad_request"));

    let recorded: Vec<(Option<String>, Option<u32>, String)> = backend
        .notice_outcomes()
        .into_iter()
        .map(|o| (o.transaction_id, o.item, o.idempotency_key))
        .collect();
    assert_eq!(
        recorded,
        [
            (Some("tx-n".into()), Some(3), "tx-n:3:outcome".into()),
            (Some("tx-n".into()), Some(2), "tx-n:2:outcome".into()),
        ]
    );

    // Item 1's keys carry no number; its KO is recorded as item 1.
    let a1 = client
        .post(
            "/v1/notices/activate",
            &activate(demo::NOTICE_PAYABLE_3, 1575),
            "tx-m:activate",
        )
        .await;
    assert_eq!(a1.status, 200);
    let ko = json!({"payment_token": a1.body["payment_token"], "outcome": "KO"});
    let k = client
        .post("/v1/notices/outcome", &ko, "tx-m:outcome")
        .await;
    assert_eq!(k.status, 200, "{}", k.body);
    let last = backend.notice_outcomes().pop().expect("the KO");
    assert_eq!(
        (
            last.transaction_id.as_deref(),
            last.item,
            last.outcome.as_str()
        ),
        (Some("tx-m"), Some(1), "KO")
    );
}

#[tokio::test]
async fn closures_count_items_and_keep_the_journal_witness() {
    let (backend, running, client) = start().await;
    // One transaction of three items: two children and a notice.
    for (body, key) in [
        (child_1("tx-f", 1, 2000), "tx-f"),
        (child_2("tx-f", 2, 1500), "tx-f:2"),
    ] {
        assert_eq!(client.post("/v1/recharges", &body, key).await.status, 201);
    }
    let act = client
        .post(
            "/v1/notices/activate",
            &json!({"creditor_fiscal_code": demo::CREDITOR_CF,
                    "notice_number": demo::NOTICE_PAYABLE, "amount_cents": 2550}),
            "tx-f:3:activate",
        )
        .await;
    let ok = json!({"payment_token": act.body["payment_token"], "outcome": "OK",
                    "paid_at": "2026-11-22T10:16:03Z", "receipt_number": "T-000901/2026/000001",
                    "fee_cents": 100});
    assert_eq!(
        client
            .post("/v1/notices/outcome", &ok, "tx-f:3:outcome")
            .await
            .status,
        200
    );
    let closure = |id: &str, count: u64| {
        json!({"closure_id": id, "from": "2026-11-22T06:00:00Z", "to": "2026-11-22T18:00:00Z",
               "count": count, "total_cents": 2000 + 1500 + 2550,
               "first_receipt": "T-000901/2026/000001", "last_receipt": "T-000901/2026/000001",
               "journal_entries": 1204, "journal_head": "9f2c00e1"})
    };
    // Counted as items: 3, not 1 transaction.
    let items = client
        .post(
            "/v1/closures",
            &closure("T-000901/2026-11-22/1", 3),
            "T-000901/2026-11-22/1",
        )
        .await;
    assert_eq!(items.body, json!({"status": "matched"}));
    let txs = client
        .post(
            "/v1/closures",
            &closure("T-000901/2026-11-22/2", 1),
            "T-000901/2026-11-22/2",
        )
        .await;
    assert_eq!(
        txs.body,
        json!({"status": "mismatch", "server_count": 3, "server_total_cents": 6050})
    );

    // The witness is stored and shown to the tests and over /_mock/state.
    let stored = backend.closures();
    assert_eq!(stored[0].journal_entries, Some(1204));
    assert_eq!(stored[0].journal_head.as_deref(), Some("9f2c00e1"));
    let state: Value = reqwest::get(format!("{}/_mock/state", running.url))
        .await
        .expect("state")
        .json()
        .await
        .expect("json");
    assert_eq!(state["closures"][0]["journal_entries"], 1204);
    assert_eq!(state["closures"][0]["journal_head"], "9f2c00e1");
    assert_eq!(state["recharges"][1]["item"], 2);
    assert_eq!(state["notice_outcomes"][0]["item"], 3);
}

#[tokio::test]
async fn the_demo_family_is_one_health_card_with_two_children() {
    let (_backend, _running, client) = start().await;
    let a = client
        .post(
            "/v1/payers/lookup",
            &json!({"fiscal_code": demo::PAYER_FISCAL_CODE}),
            "unused",
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let codes = a.body["codes"].as_array().expect("codes");
    let family = demo::payer_codes();
    assert_eq!(codes.len(), family.len());
    for (got, want) in codes.iter().zip(&family) {
        assert_eq!(got["code"], want.manual_code);
        assert_eq!(got["consumer"]["ref"], want.consumer_ref);
        assert_eq!(got["service"]["id"], demo::SERVICE_MENSA);
    }
    assert_ne!(codes[0]["consumer"]["ref"], codes[1]["consumer"]["ref"]);
}

/// The backend applies item 2's recharge but the answer never arrives in
/// time; the retry under the same key gets the first answer, and neither
/// item is credited twice. A fault aimed at item 2's key leaves item 1 alone.
#[tokio::test]
async fn a_retry_after_item_2_was_applied_gets_its_first_answer() {
    let (backend, _running, client) = start().await;
    backend.inject(
        Route::Key("tx-t:2".into()),
        Fault::ApplyThenHang(Duration::from_secs(3)),
        1,
    );
    let one = client
        .post("/v1/recharges", &child_1("tx-t", 1, 2000), "tx-t")
        .await;
    assert_eq!(one.status, 201, "item 1 is not hit by item 2's fault");
    let quick = Client {
        http: reqwest::Client::builder()
            .timeout(Duration::from_millis(300))
            .build()
            .expect("client"),
        base: client.base.clone(),
    };
    let lost = quick
        .try_post("/v1/recharges", &child_2("tx-t", 2, 1500), "tx-t:2")
        .await;
    assert!(lost.is_err(), "the answer was held back past the timeout");
    assert_eq!(backend.credits_for_item("tx-t", 2), 1, "applied anyway");
    let retry = client
        .post("/v1/recharges", &child_2("tx-t", 2, 1500), "tx-t:2")
        .await;
    assert_eq!(retry.status, 201, "{}", retry.body);
    assert_eq!(retry.body["balance_cents"], 800 + 1500);
    assert_eq!(backend.credits_for_item("tx-t", 1), 1);
    assert_eq!(backend.credits_for_item("tx-t", 2), 1);
    assert_eq!(
        backend.balance_of(demo::CONSUMER_2, demo::SERVICE_MENSA),
        Some(800 + 1500)
    );
}
