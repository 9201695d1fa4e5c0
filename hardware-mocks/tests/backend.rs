//! End-to-end tests of the mock backend over real HTTP, with a client-side
//! signer written here from the spec (independent of the server's code).

use std::time::{Duration, Instant};

use base64::Engine as _;
use hardware_mocks::{demo, Fault, MockBackend, Route, RunningBackend};
use hmac::{Hmac, Mac};
use reqwest::Method;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

const TERMINAL: &str = "T-000900";
const SECRET: [u8; 32] = [7u8; 32];

fn timestamp(offset_secs: i64) -> String {
    let t = time::OffsetDateTime::now_utc() + time::Duration::seconds(offset_secs);
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

/// HMAC-SHA256 signature per backend-api.md "Authentication".
fn sign(secret: &[u8], method: &str, target: &str, ts: &str, body: &[u8]) -> String {
    let body_hash = hex::encode(Sha256::digest(body));
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("any key length");
    mac.update(format!("{method}\n{target}\n{ts}\n{body_hash}").as_bytes());
    format!("v1={}", hex::encode(mac.finalize().into_bytes()))
}

struct Answer {
    status: u16,
    body: Value,
    retry_after: Option<String>,
}

impl Answer {
    fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }
}

struct Client {
    http: reqwest::Client,
    base: String,
    terminal: String,
    secret: Vec<u8>,
    /// Seconds added to the client's clock.
    skew: i64,
    /// Sign this target instead of the one sent (to test mismatches).
    sign_target: Option<String>,
}

impl Client {
    fn new(base: &str) -> Client {
        Client {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .expect("client"),
            base: base.to_string(),
            terminal: TERMINAL.into(),
            secret: SECRET.to_vec(),
            skew: 0,
            sign_target: None,
        }
    }

    async fn try_send(
        &self,
        method: Method,
        target: &str,
        body: Option<&str>,
        key: Option<&str>,
    ) -> reqwest::Result<Answer> {
        let ts = timestamp(self.skew);
        let bytes = body.unwrap_or("").as_bytes().to_vec();
        let signed_target = self.sign_target.as_deref().unwrap_or(target);
        let sig = sign(&self.secret, method.as_str(), signed_target, &ts, &bytes);
        let mut req = self
            .http
            .request(method, format!("{}{target}", self.base))
            .header("X-Terminal-Id", &self.terminal)
            .header("X-Timestamp", ts)
            .header("X-Signature", sig);
        if body.is_some() {
            req = req.header("Content-Type", "application/json").body(bytes);
        }
        if let Some(k) = key {
            req = req.header("Idempotency-Key", k);
        }
        let resp = req.send().await?;
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let text = resp.text().await?;
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Ok(Answer {
            status,
            body,
            retry_after,
        })
    }

    async fn send(
        &self,
        method: Method,
        target: &str,
        body: Option<&str>,
        key: Option<&str>,
    ) -> Answer {
        self.try_send(method, target, body, key)
            .await
            .expect("request answered")
    }

    async fn get(&self, target: &str) -> Answer {
        self.send(Method::GET, target, None, None).await
    }

    async fn post(&self, target: &str, body: &Value, key: Option<&str>) -> Answer {
        self.send(Method::POST, target, Some(&body.to_string()), key)
            .await
    }
}

async fn start() -> (MockBackend, RunningBackend, Client) {
    let backend = MockBackend::with_demo_data();
    backend.register_terminal(TERMINAL, SECRET);
    let running = backend
        .serve("127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("serve");
    assert!(running.url.starts_with("http://127.0.0.1:"));
    assert!(!running.url.ends_with('/'));
    let client = Client::new(&running.url);
    (backend, running, client)
}

fn recharge_body(
    tx: &str,
    code: &str,
    consumer: &str,
    service: &str,
    amount: u64,
    paid_at: &str,
) -> Value {
    json!({
        "transaction_id": tx, "code": code, "service_id": service,
        "consumer_ref": consumer, "creditor_fiscal_code": demo::CREDITOR_CF,
        "amount_cents": amount, "fee_cents": 0, "paid_at": paid_at,
        "receipt_number": "T-000900/2026/000001", "operator_id": "op1", "offline": false
    })
}

fn mensa_1(tx: &str, amount: u64) -> Value {
    recharge_body(
        tx,
        demo::MANUAL_CODE_MENSA_1,
        demo::CONSUMER_1,
        demo::SERVICE_MENSA,
        amount,
        "2026-11-22T10:16:03Z",
    )
}

#[tokio::test]
async fn health_and_enrollment() {
    let (backend, running, _) = start().await;
    let http = reqwest::Client::new();
    let health: Value = http
        .get(format!("{}/v1/health", running.url))
        .send()
        .await
        .expect("health")
        .json()
        .await
        .expect("json");
    assert_eq!(health["status"], "ok");
    assert_eq!(health["time"].as_str().map(str::len), Some(20));

    let enroll = |code: &str| {
        let req = http
            .post(format!("{}/v1/terminals/enroll", running.url))
            .json(&json!({"activation_code": code, "agent_version": "0.3.0", "hostname": "t"}));
        async move {
            let r = req.send().await.expect("enroll");
            (r.status().as_u16(), r.json::<Value>().await.expect("json"))
        }
    };
    let (status, body) = enroll(demo::ACTIVATION_CODE).await;
    assert_eq!(status, 201);
    assert_eq!(body["terminal_id"], demo::FIRST_TERMINAL_ID);
    assert_eq!(body["psp"]["id"], "PSP-LIS");
    let secret = base64::engine::general_purpose::STANDARD
        .decode(body["secret"].as_str().expect("secret"))
        .expect("base64");
    assert_eq!(secret.len(), 32);
    let (status, body) = enroll(demo::ACTIVATION_CODE).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("activation_code_used"))
    );
    let (status, body) = enroll("ZZZZ-ZZZZ-ZZZZ").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("unknown_activation_code"))
    );
    let (_, body) = enroll(demo::ACTIVATION_CODES[1]).await;
    assert_eq!(body["terminal_id"], "T-000124");

    // The enrolled secret signs requests.
    let mut client = Client::new(&running.url);
    client.terminal = demo::FIRST_TERMINAL_ID.into();
    client.secret = secret;
    let keys = client.get("/v1/keys").await;
    assert_eq!(keys.status, 200);
    assert_eq!(keys.body["keys"][0]["kid"], "k1");
    assert_eq!(keys.body["keys"][0]["public_key"], demo::public_key_b64());
    assert!(backend.terminals().contains(&"T-000123".to_string()));
}

#[tokio::test]
async fn signatures_are_checked() {
    let (backend, running, mut client) = start().await;
    assert_eq!(client.get("/v1/keys").await.status, 200);

    // The raw target is signed: percent-encoded as sent, query included.
    let encoded = "/v1/payment-codes/4001%3000000186";
    let a = client.get(encoded).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body["code"], demo::MANUAL_CODE_MENSA_1);
    client.sign_target = Some(format!("/v1/payment-codes/{}", demo::MANUAL_CODE_MENSA_1));
    assert_eq!(client.get(encoded).await.code(), "bad_signature");
    client.sign_target = Some("/v1/keys".into());
    assert_eq!(client.get("/v1/keys?x=1").await.code(), "bad_signature");
    client.sign_target = Some("/v1/keys?x=1".into());
    assert_eq!(client.get("/v1/keys?x=1").await.status, 200);
    client.sign_target = None;

    // Body tampering: sign one body, send another.
    let ts = timestamp(0);
    let sig = sign(&SECRET, "POST", "/v1/payers/lookup", &ts, b"{}");
    let r = reqwest::Client::new()
        .post(format!("{}/v1/payers/lookup", running.url))
        .header("X-Terminal-Id", TERMINAL)
        .header("X-Timestamp", ts)
        .header("X-Signature", sig)
        .body(json!({"fiscal_code": demo::PAYER_FISCAL_CODE}).to_string())
        .send()
        .await
        .expect("answer");
    assert_eq!(r.status().as_u16(), 401);
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["error"]["code"], "bad_signature");
    assert_eq!(body["error"]["retryable"], false);

    client.secret = vec![8u8; 32];
    let a = client.get("/v1/keys").await;
    assert_eq!((a.status, a.code()), (401, "bad_signature"));
    client.secret = SECRET.to_vec();
    client.terminal = "T-999999".into();
    assert_eq!(client.get("/v1/keys").await.code(), "unknown_terminal");

    // Unsigned request.
    let r = reqwest::get(format!("{}/v1/keys", running.url))
        .await
        .expect("answer");
    assert_eq!(r.status().as_u16(), 401);
    drop(backend);
}

#[tokio::test]
async fn clock_skew_beyond_300_seconds() {
    let (backend, _running, mut client) = start().await;
    client.skew = -290;
    assert_eq!(client.get("/v1/keys").await.status, 200);
    client.skew = -400;
    let a = client.get("/v1/keys").await;
    assert_eq!((a.status, a.code()), (401, "clock_skew"));
    client.skew = 0;
    backend.set_clock_offset_secs(1000);
    assert_eq!(client.get("/v1/keys").await.code(), "clock_skew");
    client.skew = 1000;
    assert_eq!(client.get("/v1/keys").await.status, 200);
}

#[tokio::test]
async fn payment_codes_and_payers() {
    let (backend, _running, client) = start().await;
    let a = client
        .get(&format!("/v1/payment-codes/{}", demo::MANUAL_CODE_MENSA_1))
        .await;
    assert_eq!(a.status, 200);
    assert_eq!(a.body["status"], "active");
    assert_eq!(
        a.body["service"],
        json!({"id": "mensa", "name": "Refezione scolastica"})
    );
    assert_eq!(a.body["creditor"]["fiscal_code"], "00514490010");
    assert_eq!(a.body["consumer"]["ref"], demo::CONSUMER_1);
    assert_eq!(a.body["consumer"]["display_name"], "M*** R***");
    assert_eq!(a.body["balance_cents"], 1250);
    assert_eq!(
        a.body["limits"],
        json!({"min_cents": 500, "max_cents": 30000})
    );

    let token = demo::app_token(demo::CONSUMER_3, demo::SERVICE_TRASPORTO, demo::DEMO_IAT);
    let a = client.get(&format!("/v1/payment-codes/{token}")).await;
    assert_eq!(a.status, 200);
    assert_eq!(a.body["code"], token.as_str());
    assert_eq!(a.body["consumer"]["ref"], demo::CONSUMER_3);
    assert_eq!(a.body["service"]["id"], "trasporto");

    let payload = demo::token_payload("k1", demo::CREDITOR_CF, "mensa", demo::CONSUMER_1, 1);
    let forged = demo::token_with_key(&demo::unknown_signing_key(), &payload);
    assert_eq!(
        client
            .get(&format!("/v1/payment-codes/{forged}"))
            .await
            .code(),
        "unknown_code"
    );
    let bad_json = demo::token_with_key(&demo::signing_key(), "{not json");
    assert_eq!(
        client
            .get(&format!("/v1/payment-codes/{bad_json}"))
            .await
            .code(),
        "unknown_code"
    );
    let a = client
        .get(&format!("/v1/payment-codes/{}", demo::MANUAL_CODE_UNKNOWN))
        .await;
    assert_eq!((a.status, a.code()), (404, "unknown_code"));
    let a = client
        .get(&format!("/v1/payment-codes/{}", demo::MANUAL_CODE_REVOKED))
        .await;
    assert_eq!((a.status, a.code()), (410, "code_revoked"));

    // Revoking the token form revokes the manual code of the same entry.
    assert!(backend.revoke_code(&token));
    let a = client
        .get(&format!(
            "/v1/payment-codes/{}",
            demo::MANUAL_CODE_TRASPORTO_3
        ))
        .await;
    assert_eq!(a.status, 410);

    let a = client
        .post(
            "/v1/payers/lookup",
            &json!({"fiscal_code": demo::PAYER_FISCAL_CODE}),
            None,
        )
        .await;
    assert_eq!(a.status, 200);
    assert_eq!(a.body["payer"]["display_name"], "M*** R***");
    let codes: Vec<&str> = a.body["codes"]
        .as_array()
        .expect("codes")
        .iter()
        .filter_map(|c| c["code"].as_str())
        .collect();
    assert_eq!(codes, demo::PAYER_CODES.to_vec());
    let a = client
        .post(
            "/v1/payers/lookup",
            &json!({"fiscal_code": "BNCGVN80A01L219X"}),
            None,
        )
        .await;
    assert_eq!((a.status, a.code()), (404, "unknown_payer"));
}

#[tokio::test]
async fn recharge_is_idempotent_and_never_credited_twice() {
    let (backend, _running, client) = start().await;
    let body = mensa_1("tx-1", 2000);
    let first = client.post("/v1/recharges", &body, Some("tx-1")).await;
    assert_eq!(first.status, 201, "{}", first.body);
    assert_eq!(first.body["status"], "credited");
    assert_eq!(first.body["balance_cents"], 3250);
    assert_eq!(
        backend.balance_of(demo::CONSUMER_1, demo::SERVICE_MENSA),
        Some(3250)
    );

    let again = client.post("/v1/recharges", &body, Some("tx-1")).await;
    assert_eq!((again.status, &again.body), (201, &first.body));
    assert_eq!(backend.credits_for("tx-1"), 1);

    let other = client
        .post("/v1/recharges", &mensa_1("tx-1", 2500), Some("tx-1"))
        .await;
    assert_eq!((other.status, other.code()), (409, "idempotency_conflict"));

    // Same transaction under a new key, then after the server forgot keys.
    let new_key = client
        .post("/v1/recharges", &body, Some("another-key"))
        .await;
    assert_eq!((new_key.status, new_key.code()), (409, "already_credited"));
    backend.forget_idempotency_keys();
    let late = client.post("/v1/recharges", &body, Some("tx-1")).await;
    assert_eq!((late.status, late.code()), (409, "already_credited"));
    assert_eq!(late.body["error"]["recharge_id"], first.body["recharge_id"]);
    assert_eq!(backend.credits_for("tx-1"), 1);
    assert_eq!(
        backend.balance_of(demo::CONSUMER_1, demo::SERVICE_MENSA),
        Some(3250)
    );

    let rec = &backend.recharges()[0];
    assert_eq!(rec.transaction_id, "tx-1");
    assert_eq!(rec.terminal_id, TERMINAL);
    assert_eq!(rec.amount_cents, 2000);
    assert_eq!(
        Some(rec.recharge_id.as_str()),
        first.body["recharge_id"].as_str()
    );

    // Refusals.
    let a = client
        .post("/v1/recharges", &mensa_1("tx-2", 499), Some("tx-2"))
        .await;
    assert_eq!((a.status, a.code()), (422, "amount_out_of_range"));
    let a = client
        .post("/v1/recharges", &mensa_1("tx-3", 30001), Some("tx-3"))
        .await;
    assert_eq!(a.code(), "amount_out_of_range");
    let revoked = recharge_body(
        "tx-4",
        demo::MANUAL_CODE_REVOKED,
        demo::CONSUMER_REVOKED,
        "mensa",
        1000,
        "2026-11-22T10:16:03Z",
    );
    let a = client.post("/v1/recharges", &revoked, Some("tx-4")).await;
    assert_eq!((a.status, a.code()), (410, "code_revoked"));
    let mut unknown = mensa_1("tx-5", 1000);
    unknown["code"] = json!(demo::MANUAL_CODE_UNKNOWN);
    let a = client.post("/v1/recharges", &unknown, Some("tx-5")).await;
    assert_eq!((a.status, a.code()), (404, "unknown_code"));
    let a = client
        .send(
            Method::POST,
            "/v1/recharges",
            Some("{\"transaction_id\":"),
            Some("tx-6"),
        )
        .await;
    assert_eq!((a.status, a.code()), (400, "bad_request"));
    let a = client
        .post("/v1/recharges", &mensa_1("tx-7", 1000), None)
        .await;
    assert_eq!((a.status, a.code()), (400, "bad_request"));
    for tx in ["tx-2", "tx-3", "tx-4", "tx-5", "tx-6", "tx-7"] {
        assert_eq!(backend.credits_for(tx), 0);
    }

    // An app token credits the same balance.
    let token = demo::app_token(demo::CONSUMER_1, demo::SERVICE_MENSA, demo::DEMO_IAT);
    let mut by_token = mensa_1("tx-8", 1000);
    by_token["code"] = json!(token);
    by_token["offline"] = json!(true);
    let a = client.post("/v1/recharges", &by_token, Some("tx-8")).await;
    assert_eq!((a.status, &a.body["balance_cents"]), (201, &json!(4250)));
    assert!(backend.recharges()[1].offline);

    let log = backend.request_log();
    assert!(log.iter().any(|r| r.method == "POST"
        && r.path == "/v1/recharges"
        && r.status == 201
        && r.idempotency_key.as_deref() == Some("tx-1")));
}

#[tokio::test]
async fn notice_flow() {
    let (backend, _running, client) = start().await;
    let cf = demo::CREDITOR_CF;
    let verify = |n: &str| json!({"creditor_fiscal_code": cf, "notice_number": n});
    let a = client
        .post("/v1/notices/verify", &verify(demo::NOTICE_PAYABLE), None)
        .await;
    assert_eq!(a.status, 200);
    assert_eq!(a.body["status"], "payable");
    assert_eq!(a.body["amount_cents"], 2550);
    assert_eq!(a.body["description"], "Mensa novembre 2026");
    assert_eq!(a.body["due_date"], "2026-12-15");
    for (n, s) in [
        (demo::NOTICE_PAID, "paid"),
        (demo::NOTICE_EXPIRED, "expired"),
        (demo::NOTICE_CANCELLED, "cancelled"),
    ] {
        assert_eq!(
            client
                .post("/v1/notices/verify", &verify(n), None)
                .await
                .body["status"],
            s
        );
    }
    let a = client
        .post("/v1/notices/verify", &verify(demo::NOTICE_UNKNOWN), None)
        .await;
    assert_eq!((a.status, a.code()), (404, "unknown_notice"));

    let activate = |n: &str, amount: u64| json!({"creditor_fiscal_code": cf, "notice_number": n, "amount_cents": amount});
    let a = client
        .post(
            "/v1/notices/activate",
            &activate(demo::NOTICE_PAYABLE, 2500),
            Some("n0:activate"),
        )
        .await;
    assert_eq!((a.status, a.code()), (422, "amount_mismatch"));
    let act = client
        .post(
            "/v1/notices/activate",
            &activate(demo::NOTICE_PAYABLE, 2550),
            Some("n1:activate"),
        )
        .await;
    assert_eq!(act.status, 200, "{}", act.body);
    let token = act.body["payment_token"]
        .as_str()
        .expect("token")
        .to_string();
    assert!(token.starts_with("pt_"));
    assert_eq!(act.body["expires_at"].as_str().map(str::len), Some(20));
    let repeat = client
        .post(
            "/v1/notices/activate",
            &activate(demo::NOTICE_PAYABLE, 2550),
            Some("n1:activate"),
        )
        .await;
    assert_eq!(repeat.body, act.body);
    let busy = client
        .post(
            "/v1/notices/activate",
            &activate(demo::NOTICE_PAYABLE, 2550),
            Some("n2:activate"),
        )
        .await;
    assert_eq!((busy.status, busy.code()), (409, "notice_in_progress"));

    let ok = json!({"payment_token": token, "outcome": "OK", "paid_at": "2026-11-22T10:20:00Z",
                    "receipt_number": "T-000900/2026/000043", "fee_cents": 100});
    let a = client
        .post("/v1/notices/outcome", &ok, Some("n1:outcome"))
        .await;
    assert_eq!((a.status, &a.body), (200, &json!({"status": "recorded"})));
    assert_eq!(
        client
            .post("/v1/notices/outcome", &ok, Some("n1:outcome"))
            .await
            .status,
        200
    );
    assert_eq!(backend.notice_outcomes().len(), 1);
    assert_eq!(backend.notice_status(demo::NOTICE_PAYABLE), Some("paid"));
    let a = client
        .post(
            "/v1/notices/activate",
            &activate(demo::NOTICE_PAYABLE, 2550),
            Some("n3:activate"),
        )
        .await;
    assert_eq!((a.status, a.code()), (409, "notice_already_paid"));

    // Expired token: OK refused, notice free again.
    let act = client
        .post(
            "/v1/notices/activate",
            &activate(demo::NOTICE_PAYABLE_2, 4200),
            Some("n4:activate"),
        )
        .await;
    let token2 = act.body["payment_token"]
        .as_str()
        .expect("token")
        .to_string();
    backend.expire_payment_tokens();
    let ok2 = json!({"payment_token": token2, "outcome": "OK", "paid_at": "2026-11-22T10:50:00Z",
                     "receipt_number": "T-000900/2026/000044", "fee_cents": 100});
    let a = client
        .post("/v1/notices/outcome", &ok2, Some("n4:outcome"))
        .await;
    assert_eq!((a.status, a.code()), (409, "token_expired"));
    assert_eq!(
        backend.notice_status(demo::NOTICE_PAYABLE_2),
        Some("payable")
    );

    // KO frees the notice; a KO with OK's fields is malformed.
    let act = client
        .post(
            "/v1/notices/activate",
            &activate(demo::NOTICE_PAYABLE_2, 4200),
            Some("n5:activate"),
        )
        .await;
    assert_eq!(act.status, 200);
    let token3 = act.body["payment_token"]
        .as_str()
        .expect("token")
        .to_string();
    let bad_ko = json!({"payment_token": token3, "outcome": "KO", "fee_cents": 100});
    let a = client
        .post("/v1/notices/outcome", &bad_ko, Some("n5:outcome"))
        .await;
    assert_eq!((a.status, a.code()), (400, "bad_request"));
    let ko = json!({"payment_token": token3, "outcome": "KO", "reason": "annullata"});
    let a = client
        .post("/v1/notices/outcome", &ko, Some("n5:outcome-2"))
        .await;
    assert_eq!(a.status, 200);
    let a = client
        .post(
            "/v1/notices/activate",
            &activate(demo::NOTICE_PAYABLE_2, 4200),
            Some("n6:activate"),
        )
        .await;
    assert_eq!(a.status, 200);
    let outcomes = backend.notice_outcomes();
    assert_eq!(outcomes.len(), 2);
    assert_eq!(outcomes[1].outcome, "KO");
    assert_eq!(outcomes[1].reason.as_deref(), Some("annullata"));
}

#[tokio::test]
async fn closures_match_or_mismatch() {
    let (backend, _running, client) = start().await;
    let r = client
        .post("/v1/recharges", &mensa_1("c-1", 2000), Some("c-1"))
        .await;
    assert_eq!(r.status, 201);
    let mut late = mensa_1("c-2", 1000);
    late["paid_at"] = json!("2026-11-22T18:00:00Z");
    assert_eq!(
        client
            .post("/v1/recharges", &late, Some("c-2"))
            .await
            .status,
        201
    );
    let act = client
        .post(
            "/v1/notices/activate",
            &json!({"creditor_fiscal_code": demo::CREDITOR_CF,
                    "notice_number": demo::NOTICE_PAYABLE, "amount_cents": 2550}),
            Some("c-3:activate"),
        )
        .await;
    let token = act.body["payment_token"].clone();
    let ok = json!({"payment_token": token, "outcome": "OK", "paid_at": "2026-11-22T11:00:00Z",
                    "receipt_number": "T-000900/2026/000003", "fee_cents": 100});
    assert_eq!(
        client
            .post("/v1/notices/outcome", &ok, Some("c-3:outcome"))
            .await
            .status,
        200
    );

    let closure = |count: u64, total: u64| {
        json!({"closure_id": "T-000900/2026-11-22/1", "from": "2026-11-22T06:00:00Z",
               "to": "2026-11-22T18:00:00Z", "count": count, "total_cents": total,
               "first_receipt": "T-000900/2026/000001", "last_receipt": "T-000900/2026/000003"})
    };
    // The 18:00 recharge is outside [from, to); fees are not counted.
    let a = client
        .post(
            "/v1/closures",
            &closure(2, 4550),
            Some("T-000900/2026-11-22/1"),
        )
        .await;
    assert_eq!((a.status, &a.body), (200, &json!({"status": "matched"})));
    let a = client
        .post(
            "/v1/closures",
            &closure(3, 5550),
            Some("T-000900/2026-11-22/2"),
        )
        .await;
    assert_eq!(
        a.body,
        json!({"status": "mismatch", "server_count": 2, "server_total_cents": 4550})
    );
    // Idempotent repeat: same answer, not recorded twice.
    let again = client
        .post(
            "/v1/closures",
            &closure(3, 5550),
            Some("T-000900/2026-11-22/2"),
        )
        .await;
    assert_eq!(again.body, a.body);
    let closures = backend.closures();
    assert_eq!(closures.len(), 2);
    assert!(closures[0].matched);
    assert!(!closures[1].matched);
    assert_eq!(closures[1].server_total_cents, 4550);
}

#[tokio::test]
async fn status_and_clock_skew_faults_answer_without_applying() {
    let (backend, _running, client) = start().await;
    backend.inject(
        Route::prefix("/v1/recharges"),
        Fault::Status {
            status: 503,
            code: "unavailable".into(),
            retry_after_secs: Some(7),
        },
        2,
    );
    // Other routes are not affected.
    assert_eq!(client.get("/v1/keys").await.status, 200);
    for _ in 0..2 {
        let a = client
            .post("/v1/recharges", &mensa_1("f-1", 1000), Some("f-1"))
            .await;
        assert_eq!((a.status, a.code()), (503, "unavailable"));
        assert_eq!(a.body["error"]["retryable"], true);
        assert_eq!(a.retry_after.as_deref(), Some("7"));
    }
    assert_eq!(backend.credits_for("f-1"), 0);
    let a = client
        .post("/v1/recharges", &mensa_1("f-1", 1000), Some("f-1"))
        .await;
    assert_eq!(a.status, 201);

    backend.inject(Route::Any, Fault::ClockSkew, 1);
    let a = client
        .post("/v1/recharges", &mensa_1("f-2", 1000), Some("f-2"))
        .await;
    assert_eq!((a.status, a.code()), (401, "clock_skew"));
    assert_eq!(backend.credits_for("f-2"), 0);

    backend.inject(Route::Any, Fault::unavailable(), 5);
    backend.clear_faults();
    assert_eq!(client.get("/v1/keys").await.status, 200);
}

#[tokio::test]
async fn delay_fault_slows_the_answer() {
    let (backend, _running, client) = start().await;
    backend.inject(
        Route::prefix("/v1/keys"),
        Fault::Delay(Duration::from_millis(400)),
        1,
    );
    let t = Instant::now();
    assert_eq!(client.get("/v1/keys").await.status, 200);
    assert!(t.elapsed() >= Duration::from_millis(400));
    let t = Instant::now();
    assert_eq!(client.get("/v1/keys").await.status, 200);
    assert!(t.elapsed() < Duration::from_millis(400));
}

#[tokio::test]
async fn apply_then_hang_applies_although_the_client_times_out() {
    let (backend, _running, mut client) = start().await;
    backend.inject(
        Route::prefix("/v1/recharges"),
        Fault::ApplyThenHang(Duration::from_secs(3)),
        1,
    );
    client.http = reqwest::Client::builder()
        .timeout(Duration::from_millis(500))
        .build()
        .expect("client");
    let body = mensa_1("h-1", 1000);
    let err = client
        .try_send(
            Method::POST,
            "/v1/recharges",
            Some(&body.to_string()),
            Some("h-1"),
        )
        .await
        .err()
        .expect("the client times out");
    assert!(err.is_timeout(), "{err}");
    assert_eq!(backend.credits_for("h-1"), 1);
    // The retry with the same key gets the first answer.
    let a = client.post("/v1/recharges", &body, Some("h-1")).await;
    assert_eq!(
        (a.status, a.body["status"].as_str()),
        (201, Some("credited"))
    );
    assert_eq!(backend.credits_for("h-1"), 1);
}

#[tokio::test]
async fn connection_reset_closes_without_answer_or_effect() {
    let (backend, _running, client) = start().await;
    backend.inject(Route::prefix("/v1/recharges"), Fault::ConnectionReset, 1);
    let body = mensa_1("r-1", 1000);
    let err = client
        .try_send(
            Method::POST,
            "/v1/recharges",
            Some(&body.to_string()),
            Some("r-1"),
        )
        .await
        .err()
        .expect("no answer");
    assert!(!err.is_timeout(), "{err}");
    assert!(err.status().is_none());
    assert_eq!(backend.credits_for("r-1"), 0);
    assert!(backend
        .request_log()
        .iter()
        .any(|r| r.path == "/v1/recharges" && r.status == 0));
    let a = client.post("/v1/recharges", &body, Some("r-1")).await;
    assert_eq!(a.status, 201);
    assert_eq!(backend.credits_for("r-1"), 1);
}

#[tokio::test]
async fn faults_over_http_control_routes() {
    let (backend, running, client) = start().await;
    let http = reqwest::Client::new();
    let r = http
        .post(format!("{}/_mock/faults", running.url))
        .json(&json!({"route": "/v1/keys", "times": 1,
                      "fault": {"kind": "status", "status": 502, "code": "bad_gateway"}}))
        .send()
        .await
        .expect("control");
    assert_eq!(r.status().as_u16(), 201);
    let state: Value = http
        .get(format!("{}/_mock/state", running.url))
        .send()
        .await
        .expect("state")
        .json()
        .await
        .expect("json");
    assert_eq!(state["faults"][0]["fault"]["kind"], "status");
    assert_eq!(state["faults"][0]["route"], "/v1/keys");
    let a = client.get("/v1/keys").await;
    assert_eq!((a.status, a.code()), (502, "bad_gateway"));

    let r = http
        .post(format!("{}/_mock/faults", running.url))
        .json(&json!({"fault": {"kind": "status", "status": 1000}}))
        .send()
        .await
        .expect("control");
    assert_eq!(r.status().as_u16(), 400);

    http.post(format!("{}/_mock/faults", running.url))
        .json(&json!({"times": 3, "fault": {"kind": "connection_reset"}}))
        .send()
        .await
        .expect("control");
    http.delete(format!("{}/_mock/faults", running.url))
        .send()
        .await
        .expect("control");
    assert_eq!(client.get("/v1/keys").await.status, 200);

    http.post(format!("{}/_mock/clock", running.url))
        .json(&json!({"offset_secs": 3600}))
        .send()
        .await
        .expect("control");
    assert_eq!(client.get("/v1/keys").await.code(), "clock_skew");
    backend.set_clock_offset_secs(0);

    let secret = base64::engine::general_purpose::STANDARD.encode([9u8; 32]);
    let r = http
        .post(format!("{}/_mock/terminals", running.url))
        .json(&json!({"terminal_id": "T-000777", "secret": secret}))
        .send()
        .await
        .expect("control");
    assert_eq!(r.status().as_u16(), 201);
    let mut other = Client::new(&running.url);
    other.terminal = "T-000777".into();
    other.secret = vec![9u8; 32];
    assert_eq!(other.get("/v1/keys").await.status, 200);
    // Control requests are not in the request log.
    assert!(backend
        .request_log()
        .iter()
        .all(|r| !r.path.starts_with("/_mock")));
}

#[tokio::test]
async fn backend_restarts_on_the_same_port_with_its_state() {
    let (backend, running, client) = start().await;
    assert_eq!(
        client
            .post("/v1/recharges", &mensa_1("d-1", 1000), Some("d-1"))
            .await
            .status,
        201
    );
    let addr = running.addr;
    running.shutdown().await;
    let err = client
        .try_send(Method::GET, "/v1/keys", None, None)
        .await
        .err()
        .expect("backend down");
    assert!(err.is_connect() || err.is_request(), "{err}");

    let running = backend
        .serve(addr)
        .await
        .expect("serve again on the same port");
    assert_eq!(running.addr, addr);
    let a = client
        .post("/v1/recharges", &mensa_1("d-1", 1000), Some("d-1"))
        .await;
    assert_eq!(a.status, 201);
    assert_eq!(backend.credits_for("d-1"), 1);
    assert_eq!(
        backend.balance_of(demo::CONSUMER_1, demo::SERVICE_MENSA),
        Some(2250)
    );

    // Dropping also stops it; serving again still works.
    drop(running);
    let mut again = None;
    for _ in 0..50 {
        match backend.serve(addr).await {
            Ok(r) => {
                again = Some(r);
                break;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
    let again = again.expect("served again after drop");
    assert_eq!(client.get("/v1/keys").await.status, 200);
    again.shutdown().await;
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_the_error_shape() {
    let (_backend, _running, client) = start().await;
    let a = client.get("/v1/nothing").await;
    assert_eq!((a.status, a.code()), (404, "not_found"));
    let a = client.send(Method::DELETE, "/v1/keys", None, None).await;
    assert_eq!((a.status, a.code()), (405, "method_not_allowed"));
}
