//! End-to-end: several items in one payment (issue 15, agent-api.md
//! "Several items in one payment"), through the real binary and the mock
//! backend: a family's two children and a notice, faults and kills between
//! the items' credits, a refused activation, and the day close.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use hardware_mocks::demo;
use hardware_mocks::{Fault, Route};
use serde_json::{json, Value};
use support::{assert_gapless_receipts, doc_text, Env, Opts};

const WAIT: Duration = Duration::from_secs(30);

/// `12,34`: how receipts print cents.
fn euros(cents: i64) -> String {
    format!("{},{:02}", cents / 100, cents % 100)
}

/// A counter with the agent running and an operator logged in.
async fn counter() -> (Env, String) {
    let mut env = Env::new().await;
    env.start_agent();
    let token = env.login().await;
    (env, token)
}

/// A new transaction with `inputs` as its items; returns its id.
async fn cart(env: &Env, token: &str, inputs: &[&str]) -> String {
    let t = create(env, token, inputs[0]).await;
    let id = t["id"].as_str().unwrap().to_string();
    for input in &inputs[1..] {
        add(env, token, &id, input).await;
    }
    id
}

async fn create(env: &Env, token: &str, input: &str) -> Value {
    let (s, t) = env
        .call(
            "POST",
            "/api/v1/transactions",
            Some(token),
            Some(json!({"input": input})),
        )
        .await;
    assert_eq!(s, 201, "create {input}: {t}");
    t
}

async fn add(env: &Env, token: &str, id: &str, input: &str) -> Value {
    let (s, t) = env
        .act(token, id, "items", Some(json!({"input": input})))
        .await;
    assert_eq!(s, 200, "add {input}: {t}");
    t
}

async fn amount(env: &Env, token: &str, id: &str, item: u64, cents: i64) -> Value {
    let (s, t) = env
        .act(
            token,
            id,
            "amount",
            Some(json!({"amount_cents": cents, "item": item})),
        )
        .await;
    assert_eq!(s, 200, "amount of item {item}: {t}");
    t
}

/// The family at the counter: the parent's health card with both children
/// chosen at once, then the notice added by its QR, amounts typed.
/// Returns the transaction (state `amount_set`).
async fn family_cart(env: &Env, token: &str) -> Value {
    let t = create(env, token, demo::PAYER_FISCAL_CODE).await;
    assert_eq!(t["state"], "choose_code", "{t}");
    assert_eq!(t["choices"].as_array().map(Vec::len), Some(2), "{t}");
    let id = t["id"].as_str().unwrap().to_string();
    let (s, t) = env
        .act(
            token,
            &id,
            "choose",
            Some(json!({"codes": demo::PAYER_CODES})),
        )
        .await;
    assert_eq!(s, 200, "choose both children: {t}");
    assert_eq!(t["items"].as_array().map(Vec::len), Some(2), "{t}");
    let t = add(env, token, &id, demo::NOTICE_PAYABLE_QR).await;
    assert_eq!(t["items"][2]["n"], 3);
    assert_eq!(t["items"][2]["kind"], "notice");
    assert_eq!(
        t["state"], "identified",
        "the children have no amount yet: {t}"
    );
    // Two items without an amount: `item` must be named, and nothing changes.
    let (s, e) = env
        .act(token, &id, "amount", Some(json!({"amount_cents": 1500})))
        .await;
    assert_eq!(s, 400, "{e}");
    assert!(
        e["error"]["message"].as_str().unwrap().contains("item"),
        "{e}"
    );
    amount(env, token, &id, 1, 1500).await;
    let t = amount(env, token, &id, 2, 2000).await;
    assert_eq!(t["state"], "amount_set", "{t}");
    t
}

fn keys_sent(env: &Env, path: &str) -> Vec<String> {
    env.mock
        .request_log()
        .into_iter()
        .filter(|r| r.path.starts_with(path) && (200..300).contains(&r.status))
        .filter_map(|r| r.idempotency_key)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_family_pays_two_children_and_a_notice_with_one_cash_take_and_one_receipt() {
    let (env, token) = counter().await;
    let t = family_cart(&env, &token).await;
    let id = t["id"].as_str().unwrap().to_string();
    let total = t["total_cents"]
        .as_i64()
        .expect("total once every item has its amount");
    let items = t["items"].as_array().unwrap();
    let sum: i64 = items
        .iter()
        .map(|i| i["amount_cents"].as_i64().unwrap() + i["fee_cents"].as_i64().unwrap())
        .sum();
    assert_eq!(total, sum, "TOTALE is every item's amount and fee: {t}");
    assert_eq!(
        items[2]["amount_cents"].as_u64(),
        Some(demo::NOTICE_PAYABLE_AMOUNT_CENTS)
    );

    let (s, t) = env.act(&token, &id, "pre-receipt", None).await;
    assert_eq!(s, 200, "{t}");
    assert_eq!(t["state"], "awaiting_cash");
    let pre = doc_text(&env.wait_printed(1, WAIT).await[0]);
    assert!(pre.contains("PRE-SCONTRINO"), "{pre}");
    assert!(
        pre.contains(demo::NOTICE_PAYABLE),
        "the notice is listed: {pre}"
    );
    assert!(pre.contains("TOTALE"), "{pre}");
    assert!(pre.contains(&euros(total)), "TOTALE {total}: {pre}");
    for a in [1500, 2000, demo::NOTICE_PAYABLE_AMOUNT_CENTS as i64] {
        assert!(pre.contains(&euros(a)), "item of {a} cents listed: {pre}");
    }

    let tendered = (total / 1000 + 1) * 1000;
    let paid = env.pay(&token, &id, tendered).await;
    let receipt = paid["receipt_number"].as_str().unwrap().to_string();
    assert_eq!(paid["change_cents"].as_i64(), Some(tendered - total));
    let t = env.wait_sync(&token, &id, "confirmed", WAIT).await;
    for i in t["items"].as_array().unwrap() {
        assert_eq!(i["sync"], "confirmed", "{t}");
    }

    // The backend: two recharges under `<tx>` and `<tx>:2`, one OK outcome
    // under `<tx>:3:outcome`, each credited once.
    let mut recharge_keys = keys_sent(&env, "/v1/recharges");
    recharge_keys.sort();
    assert_eq!(recharge_keys, vec![id.clone(), format!("{id}:2")]);
    assert_eq!(
        keys_sent(&env, "/v1/notices/activate"),
        vec![format!("{id}:3:activate")]
    );
    let outcomes = env.mock.notice_outcomes();
    assert_eq!(outcomes.len(), 1, "{outcomes:?}");
    assert_eq!(outcomes[0].idempotency_key, format!("{id}:3:outcome"));
    assert_eq!(outcomes[0].outcome, "OK");
    assert_eq!(
        outcomes[0].receipt_number.as_deref(),
        Some(receipt.as_str())
    );
    for (n, child) in [(1, demo::CONSUMER_1), (2, demo::CONSUMER_2)] {
        assert_eq!(env.mock.credits_for_item(&id, n), 1, "item {n}");
        let r = env
            .mock
            .recharges()
            .into_iter()
            .find(|r| r.transaction_id == id && r.item == n)
            .unwrap();
        assert_eq!(r.consumer_ref, child, "item {n} credits its own child");
        assert_eq!(r.receipt_number, receipt, "one receipt number for the cart");
    }

    // One receipt holds every item and the total.
    let docs = env.wait_printed(2, WAIT).await;
    assert_eq!(docs.len(), 2, "one pre-receipt, one receipt");
    let rec = doc_text(&docs[1]);
    assert!(rec.contains("RICEVUTA DI PAGAMENTO"), "{rec}");
    assert!(rec.contains(&receipt), "{rec}");
    assert!(rec.contains(demo::NOTICE_PAYABLE), "{rec}");
    assert!(rec.contains(&euros(total)), "{rec}");
    for a in [1500, 2000] {
        assert!(rec.contains(&euros(a)), "{rec}");
    }
    env.assert_journal_verifies();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_item_is_credited_once_through_a_timeout_and_a_kill() {
    let mut env = Env::with(Opts {
        backend_timeout_ms: 800,
        ..Opts::default()
    })
    .await;
    env.start_agent();
    let token = env.login().await;

    // Cart A: item 2's recharge is applied, then its answer never comes
    // (the client times out), and the agent is killed meanwhile.
    let a = family_cart(&env, &token).await;
    let a_id = a["id"].as_str().unwrap().to_string();
    env.mock.inject(
        Route::Key(format!("{a_id}:2")),
        Fault::ApplyThenHang(Duration::from_secs(3)),
        1,
    );
    let (s, _) = env.act(&token, &a_id, "pre-receipt", None).await;
    assert_eq!(s, 200);
    let paid_a = env.pay(&token, &a_id, 10_000).await;
    let deadline = std::time::Instant::now() + WAIT;
    while env.mock.credits_for_item(&a_id, 2) == 0 {
        assert!(std::time::Instant::now() < deadline, "item 2 never sent");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    env.kill_agent();

    // Cart B: killed right after its pay answered.
    env.start_agent();
    let token = env.login().await;
    let notice = demo::notice_qr(demo::NOTICE_PAYABLE_2, 4200);
    let b_id = cart(
        &env,
        &token,
        &[
            demo::MANUAL_CODE_MENSA_3,
            demo::MANUAL_CODE_MENSA_4,
            &notice,
        ],
    )
    .await;
    amount(&env, &token, &b_id, 1, 900).await;
    amount(&env, &token, &b_id, 2, 1100).await;
    let (s, t) = env.act(&token, &b_id, "pre-receipt", None).await;
    assert_eq!(s, 200, "{t}");
    let paid_b = env.pay(&token, &b_id, 10_000).await;
    env.kill_agent();

    env.start_agent();
    let token = env.login().await;
    for id in [&a_id, &b_id] {
        env.wait_sync(&token, id, "confirmed", WAIT).await;
    }
    for id in [&a_id, &b_id] {
        for n in [1, 2] {
            assert_eq!(
                env.mock.credits_for_item(id, n),
                1,
                "{id} item {n} credited exactly once"
            );
        }
    }
    let oks: BTreeMap<String, usize> =
        env.mock
            .notice_outcomes()
            .into_iter()
            .fold(BTreeMap::new(), |mut m, o| {
                *m.entry(o.idempotency_key).or_default() += 1;
                m
            });
    assert_eq!(
        oks,
        BTreeMap::from([
            (format!("{a_id}:3:outcome"), 1),
            (format!("{b_id}:3:outcome"), 1)
        ])
    );
    let receipts: Vec<String> = [paid_a, paid_b]
        .iter()
        .map(|p| p["receipt_number"].as_str().unwrap().to_string())
        .collect();
    assert_gapless_receipts(&receipts);
    env.assert_journal_verifies();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_second_notice_is_named_and_the_cart_pays_without_activating_the_first_again() {
    let (env, token) = counter().await;
    let second = demo::notice_qr(demo::NOTICE_PAYABLE_2, 4200);
    let id = cart(
        &env,
        &token,
        &[demo::NOTICE_PAYABLE_QR, &second, demo::MANUAL_CODE_MENSA_1],
    )
    .await;
    assert_eq!(env.tx(&token, &id).await["state"], "identified");
    let t = amount(&env, &token, &id, 3, 1200).await;
    assert_eq!(t["state"], "amount_set");

    env.mock.inject(
        Route::Key(format!("{id}:2:activate")),
        Fault::Status {
            status: 409,
            code: "notice_in_progress".into(),
            retry_after_secs: None,
        },
        1,
    );
    let (s, e) = env.act(&token, &id, "pre-receipt", None).await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (422, Some("notice_in_progress")),
        "the backend's refusal, as for a one-item notice: {e}"
    );
    assert_eq!(e["error"]["item"], 2, "the refusal names its item: {e}");
    let message = e["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.starts_with("Voce 2:") && message.contains("togliere"),
        "the operator reads which item and that it can be removed: {e}"
    );
    let t = env.tx(&token, &id).await;
    assert_eq!(t["state"], "amount_set", "{t}");
    assert_eq!(
        keys_sent(&env, "/v1/notices/activate"),
        vec![format!("{id}:activate")]
    );

    // The operator removes the refused notice; the rest is paid.
    let (s, t) = env.act(&token, &id, "items/2/remove", None).await;
    assert_eq!(s, 200, "{t}");
    let ns: Vec<u64> = t["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["n"].as_u64().unwrap())
        .collect();
    assert_eq!(ns, [1, 3], "numbers are never reused");
    let (s, t) = env.act(&token, &id, "pre-receipt", None).await;
    assert_eq!(s, 200, "{t}");
    let total = t["total_cents"].as_i64().unwrap();
    env.pay(&token, &id, total).await;
    env.wait_sync(&token, &id, "confirmed", WAIT).await;

    let activations: Vec<_> = env
        .mock
        .request_log()
        .into_iter()
        .filter(|r| r.path.starts_with("/v1/notices/activate"))
        .map(|r| r.idempotency_key.unwrap_or_default())
        .collect();
    assert_eq!(
        activations,
        vec![format!("{id}:activate"), format!("{id}:2:activate")],
        "the first notice was activated once, the refused one never again"
    );
    let outcomes: Vec<(String, String)> = env
        .mock
        .notice_outcomes()
        .into_iter()
        .map(|o| (o.idempotency_key, o.outcome))
        .collect();
    assert_eq!(outcomes, vec![(format!("{id}:outcome"), "OK".to_string())]);
    assert_eq!(env.mock.credits_for_item(&id, 3), 1);
    assert_eq!(env.mock.credits_for_item(&id, 2), 0);
}

async fn close(env: &Env, token: &str) -> Value {
    let (s, r) = env
        .call("POST", "/api/v1/day/close", Some(token), None)
        .await;
    assert_eq!(s, 200, "{r}");
    r
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_day_close_counts_items_and_a_rejected_item_is_refunded_in_a_later_close() {
    let (env, token) = counter().await;

    // Close 1: a family's three items, all confirmed.
    let a = family_cart(&env, &token).await;
    let a_id = a["id"].as_str().unwrap().to_string();
    env.act(&token, &a_id, "pre-receipt", None).await;
    env.pay(&token, &a_id, 10_000).await;
    env.wait_sync(&token, &a_id, "confirmed", WAIT).await;
    let r1 = close(&env, &token).await;
    let report = &r1;
    assert_eq!(report["count"], 3, "items, not transactions: {r1}");
    assert_eq!(
        report["total_cents"].as_u64(),
        Some(1500 + 2000 + demo::NOTICE_PAYABLE_AMOUNT_CENTS),
        "{r1}"
    );
    let deadline = std::time::Instant::now() + WAIT;
    while env.mock.closures().is_empty() {
        assert!(std::time::Instant::now() < deadline, "closure never sent");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let c = &env.mock.closures()[0];
    assert_eq!((c.count, c.server_count), (3, 3), "{c:?}");
    assert!(c.matched, "{c:?}");

    // Close 2: a two-child cart whose second credit fails on its own; it
    // is still pending at the close.
    let b_id = cart(
        &env,
        &token,
        &[demo::MANUAL_CODE_MENSA_3, demo::MANUAL_CODE_MENSA_4],
    )
    .await;
    amount(&env, &token, &b_id, 1, 900).await;
    amount(&env, &token, &b_id, 2, 1100).await;
    env.mock.inject(
        Route::Key(format!("{b_id}:2")),
        Fault::Status {
            status: 500,
            code: "internal".into(),
            retry_after_secs: None,
        },
        1_000,
    );
    env.act(&token, &b_id, "pre-receipt", None).await;
    let paid_b = env.pay(&token, &b_id, 2_000).await;
    let receipt_b = paid_b["receipt_number"].as_str().unwrap().to_string();
    let deadline = std::time::Instant::now() + WAIT;
    // The agent has recorded item 1's confirmation (the backend crediting
    // it comes a moment before the agent writes its answer down).
    while env.tx(&token, &b_id).await["items"][0]["sync"] != "confirmed" {
        assert!(
            std::time::Instant::now() < deadline,
            "item 1 never confirmed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(env.mock.credits_for_item(&b_id, 1), 1);
    let r2 = close(&env, &token).await;
    let report = &r2;
    assert_eq!(report["count"], 2, "{r2}");
    let pending: Vec<(String, u64)> = report["pending"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["id"].as_str().unwrap().to_string(),
                p["item"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(pending, vec![(b_id.clone(), 2)], "{r2}");
    assert!(report["rejected"].as_array().unwrap().is_empty(), "{r2}");

    // Item 2 is refused for good after that close: the next close lists it
    // as a refund, with its receipt and item number, and the cash expected
    // accounts for it.
    env.mock.clear_faults();
    env.mock.inject(
        Route::Key(format!("{b_id}:2")),
        Fault::Status {
            status: 422,
            code: "amount_out_of_range".into(),
            retry_after_secs: None,
        },
        1,
    );
    env.wait_sync(&token, &b_id, "rejected", WAIT).await;
    let t = env.tx(&token, &b_id).await;
    assert_eq!(t["items"][0]["sync"], "confirmed", "{t}");
    assert_eq!(t["items"][1]["sync"], "rejected", "{t}");
    let r3 = close(&env, &token).await;
    let report = &r3;
    let refunds = report["rejected"].as_array().unwrap();
    assert_eq!(refunds.len(), 1, "{r3}");
    assert_eq!(refunds[0]["id"], b_id.as_str());
    assert_eq!(refunds[0]["item"], 2);
    assert_eq!(refunds[0]["receipt_number"], receipt_b.as_str());
    assert_eq!(refunds[0]["earlier_period"], true);
    assert_eq!(
        report["refund_total_cents"].as_i64(),
        refunds[0]["total_cents"].as_i64()
    );
    assert_eq!(
        report["cash_expected_cents"].as_i64(),
        report["cash_taken_cents"]
            .as_i64()
            .map(|c| c - refunds[0]["total_cents"].as_i64().unwrap()),
        "{r3}"
    );
    // ...and only once: with nothing new, the same closure comes back.
    let r4 = close(&env, &token).await;
    assert_eq!(r4["closure_id"], r3["closure_id"], "{r4}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sixth_item_a_duplicate_and_a_late_add_are_refused_changing_nothing() {
    let (env, token) = counter().await;
    let t = create(&env, &token, demo::MANUAL_CODE_MENSA_1).await;
    let id = t["id"].as_str().unwrap().to_string();
    // The same child's canteen again, and the same notice twice.
    let (s, e) = env
        .act(
            &token,
            &id,
            "items",
            Some(json!({"input": demo::MANUAL_CODE_MENSA_1})),
        )
        .await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (409, Some("duplicate_item")),
        "{e}"
    );
    add(&env, &token, &id, demo::NOTICE_PAYABLE_QR).await;
    let (s, e) = env
        .act(
            &token,
            &id,
            "items",
            Some(json!({"input": demo::NOTICE_PAYABLE_QR})),
        )
        .await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (409, Some("duplicate_item")),
        "{e}"
    );
    for code in [
        demo::MANUAL_CODE_TRASPORTO_1,
        demo::MANUAL_CODE_MENSA_2,
        demo::MANUAL_CODE_MENSA_3,
    ] {
        add(&env, &token, &id, code).await;
    }
    let before = env.tx(&token, &id).await;
    assert_eq!(before["items"].as_array().map(Vec::len), Some(5));
    let (s, e) = env
        .act(
            &token,
            &id,
            "items",
            Some(json!({"input": demo::MANUAL_CODE_MENSA_4})),
        )
        .await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (422, Some("too_many_items")),
        "{e}"
    );
    assert_eq!(env.tx(&token, &id).await, before, "refusals change nothing");

    // A health card cannot bring a sixth either: both children chosen at
    // once into a cart of four are refused whole; one of them fits.
    let t = create(&env, &token, demo::MANUAL_CODE_TRASPORTO_2).await;
    let four = t["id"].as_str().unwrap().to_string();
    for code in [
        demo::MANUAL_CODE_MENSA_3,
        demo::MANUAL_CODE_MENSA_4,
        demo::NOTICE_PAYABLE_QR,
    ] {
        add(&env, &token, &four, code).await;
    }
    let t = add(&env, &token, &four, demo::PAYER_FISCAL_CODE).await;
    assert_eq!(t["state"], "choose_code", "{t}");
    let (s, e) = env
        .act(
            &token,
            &four,
            "choose",
            Some(json!({"codes": demo::PAYER_CODES})),
        )
        .await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (422, Some("too_many_items")),
        "{e}"
    );
    assert_eq!(env.tx(&token, &four).await, t, "refused whole");
    let (s, t) = env
        .act(
            &token,
            &four,
            "choose",
            Some(json!({"codes": [demo::PAYER_CODES[1]]})),
        )
        .await;
    assert_eq!(s, 200, "{t}");
    assert_eq!(t["items"].as_array().map(Vec::len), Some(5), "{t}");

    // The last item cannot be removed: that is a void.
    let t = create(&env, &token, demo::MANUAL_CODE_MENSA_4).await;
    let one = t["id"].as_str().unwrap().to_string();
    let (s, e) = env.act(&token, &one, "items/1/remove", None).await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (409, Some("invalid_state")),
        "{e}"
    );
    let (s, e) = env.act(&token, &one, "items/7/remove", None).await;
    assert_eq!(s, 404, "{e}");
    // After the pre-receipt, nothing is added (void or pay).
    amount(&env, &token, &one, 1, 1000).await;
    let (s, _) = env.act(&token, &one, "pre-receipt", None).await;
    assert_eq!(s, 200);
    let (s, e) = env
        .act(
            &token,
            &one,
            "items",
            Some(json!({"input": demo::MANUAL_CODE_TRASPORTO_4})),
        )
        .await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (409, Some("invalid_state")),
        "{e}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_activated_notice_removed_or_voided_gets_its_own_ko() {
    let (env, token) = counter().await;
    let (second, third) = (
        demo::notice_qr(demo::NOTICE_PAYABLE_2, 4200),
        demo::notice_qr(demo::NOTICE_PAYABLE_3, 1575),
    );
    let id = cart(&env, &token, &[demo::NOTICE_PAYABLE_QR, &second, &third]).await;
    let (s, t) = env.act(&token, &id, "pre-receipt", None).await;
    assert_eq!(s, 200, "{t}");
    // Item 2 leaves the cart: its activation gets a KO at once.
    let (s, t) = env.act(&token, &id, "items/2/remove", None).await;
    assert_eq!(s, 200, "{t}");
    assert_eq!(
        t["state"], "amount_set",
        "a changed cart needs a new pre-receipt"
    );
    // Then the parent changes their mind: every remaining activation too.
    let (s, t) = env
        .act(&token, &id, "void", Some(json!({"reason": "ripensamento"})))
        .await;
    assert_eq!(s, 200, "{t}");
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let mut kos: Vec<String> = env
            .mock
            .notice_outcomes()
            .into_iter()
            .filter(|o| o.outcome == "KO")
            .map(|o| o.idempotency_key)
            .collect();
        kos.sort();
        if kos.len() >= 3 {
            assert_eq!(
                kos,
                vec![
                    format!("{id}:2:outcome"),
                    format!("{id}:3:outcome"),
                    format!("{id}:outcome"),
                ]
            );
            break;
        }
        assert!(std::time::Instant::now() < deadline, "KOs sent: {kos:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for n in [
        demo::NOTICE_PAYABLE,
        demo::NOTICE_PAYABLE_2,
        demo::NOTICE_PAYABLE_3,
    ] {
        assert_eq!(env.mock.notice_status(n), Some("payable"), "{n} free again");
    }
}
