//! State-changing requests, prepared once and replayed byte for byte.
//!
//! A request that timed out may have been applied, so the agent stores the
//! exact method, path, Idempotency-Key and body bytes of its first attempt
//! and sends those again until an answer arrives (`backend-api.md`,
//! "Conventions"). The server answers a repeat of the same key and body
//! with its first answer; a different body under the same key would get
//! 409 `idempotency_conflict`, which is why the body is never rebuilt.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::idempotency::{idempotency_key, KeyPurpose};
use crate::types::{ActivateRequest, ClosureRequest, OutcomeRequest, RechargeRequest};

/// Path of `POST /v1/recharges`, relative to the base URL.
pub const RECHARGES_PATH: &str = "/v1/recharges";
/// Path of `POST /v1/notices/activate`.
pub const ACTIVATE_PATH: &str = "/v1/notices/activate";
/// Path of `POST /v1/notices/outcome`.
pub const OUTCOME_PATH: &str = "/v1/notices/outcome";
/// Path of `POST /v1/closures`.
pub const CLOSURES_PATH: &str = "/v1/closures";

/// One state-changing request, frozen. Serializable so the agent can keep it
/// in its outbox; `body` is stored as a JSON string when it is UTF-8 (it
/// always is when built here) so the stored form stays readable.
///
/// `Debug` shows the body's length only.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreparedRequest {
    /// `POST` for every request prepared here.
    pub method: String,
    /// Relative to the base URL, e.g. `/v1/recharges`.
    pub path: String,
    /// Sent as `Idempotency-Key`: the server applies it at most once.
    pub idempotency_key: String,
    /// The exact JSON bytes of the first attempt, sent again on every retry
    /// (a rebuilt body could differ and get `idempotency_conflict`).
    #[serde(serialize_with = "ser_body", deserialize_with = "de_body")]
    pub body: Vec<u8>,
}

impl fmt::Debug for PreparedRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PreparedRequest")
            .field("method", &self.method)
            .field("path", &self.path)
            .field("idempotency_key", &self.idempotency_key)
            .field("body_len", &self.body.len())
            .finish()
    }
}

fn to_json<T: Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value)
        .expect("request bodies are plain structs with string keys: serialization cannot fail")
}

impl PreparedRequest {
    /// `POST /v1/recharges` for item `req.item` of `req.transaction_id`:
    /// Idempotency-Key `<tx>` for item 1, `<tx>:<n>` for item n >= 2
    /// ([`idempotency_key`]).
    pub fn recharge(req: &RechargeRequest) -> PreparedRequest {
        PreparedRequest {
            method: "POST".into(),
            path: RECHARGES_PATH.into(),
            idempotency_key: idempotency_key(&req.transaction_id, req.item, KeyPurpose::Recharge),
            body: to_json(req),
        }
    }

    /// `POST /v1/notices/activate` for item 1 (or a one-item transaction),
    /// Idempotency-Key `<tx_id>:activate`. Same as
    /// [`PreparedRequest::activate_item`] with item 1.
    pub fn activate(tx_id: &str, req: &ActivateRequest) -> PreparedRequest {
        PreparedRequest::activate_item(tx_id, 1, req)
    }

    /// `POST /v1/notices/activate` for item `item` of transaction `tx_id`:
    /// Idempotency-Key `<tx_id>:activate` for item 1,
    /// `<tx_id>:<n>:activate` for item n >= 2. The body names no transaction
    /// or item: the key is what tells the server which item it activates.
    pub fn activate_item(tx_id: &str, item: u32, req: &ActivateRequest) -> PreparedRequest {
        PreparedRequest {
            method: "POST".into(),
            path: ACTIVATE_PATH.into(),
            idempotency_key: idempotency_key(tx_id, item, KeyPurpose::Activate),
            body: to_json(req),
        }
    }

    /// `POST /v1/notices/outcome` for item 1 (or a one-item transaction),
    /// Idempotency-Key `<tx_id>:outcome`. Same as
    /// [`PreparedRequest::outcome_item`] with item 1.
    pub fn outcome(tx_id: &str, req: &OutcomeRequest) -> PreparedRequest {
        PreparedRequest::outcome_item(tx_id, 1, req)
    }

    /// `POST /v1/notices/outcome` (`OK` or `KO`) for item `item` of
    /// transaction `tx_id`: Idempotency-Key `<tx_id>:outcome` for item 1,
    /// `<tx_id>:<n>:outcome` for item n >= 2. Use the item number the
    /// notice was activated under: the outcome answers that activation.
    pub fn outcome_item(tx_id: &str, item: u32, req: &OutcomeRequest) -> PreparedRequest {
        PreparedRequest {
            method: "POST".into(),
            path: OUTCOME_PATH.into(),
            idempotency_key: idempotency_key(tx_id, item, KeyPurpose::Outcome),
            body: to_json(req),
        }
    }

    /// `POST /v1/closures`, Idempotency-Key = the closure id.
    pub fn closure(req: &ClosureRequest) -> PreparedRequest {
        PreparedRequest {
            method: "POST".into(),
            path: CLOSURES_PATH.into(),
            idempotency_key: req.closure_id.clone(),
            body: to_json(req),
        }
    }
}

fn ser_body<S: Serializer>(body: &[u8], s: S) -> Result<S::Ok, S::Error> {
    match std::str::from_utf8(body) {
        Ok(text) => s.serialize_str(text),
        Err(_) => s.collect_seq(body),
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum StoredBody {
    Text(String),
    Bytes(Vec<u8>),
}

fn de_body<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
    Ok(match StoredBody::deserialize(d)? {
        StoredBody::Text(t) => t.into_bytes(),
        StoredBody::Bytes(b) => b,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use time::macros::datetime;

    fn recharge() -> RechargeRequest {
        RechargeRequest {
            transaction_id: "0b7c0000-0000-4000-8000-000000000001".into(),
            item: 1,
            code: "1234567890123".into(),
            service_id: "mensa".into(),
            consumer_ref: "c_8f3a9b21".into(),
            creditor_fiscal_code: "00514490010".into(),
            amount_cents: 2000,
            fee_cents: 0,
            paid_at: datetime!(2026-11-22 10:16:03 UTC),
            receipt_number: "T-000123/2026/000042".into(),
            operator_id: "op1".into(),
            offline: false,
        }
    }

    #[test]
    fn recharge_prepared() {
        let p = PreparedRequest::recharge(&recharge());
        assert_eq!(p.method, "POST");
        assert_eq!(p.path, "/v1/recharges");
        assert_eq!(p.idempotency_key, "0b7c0000-0000-4000-8000-000000000001");
        let v: serde_json::Value = serde_json::from_slice(&p.body).unwrap();
        assert_eq!(
            v,
            json!({"transaction_id": "0b7c0000-0000-4000-8000-000000000001", "item": 1, "code": "1234567890123",
                "service_id": "mensa", "consumer_ref": "c_8f3a9b21", "creditor_fiscal_code": "00514490010",
                "amount_cents": 2000, "fee_cents": 0, "paid_at": "2026-11-22T10:16:03Z",
                "receipt_number": "T-000123/2026/000042", "operator_id": "op1", "offline": false})
        );
        // Deterministic: preparing twice gives the same bytes.
        assert_eq!(PreparedRequest::recharge(&recharge()).body, p.body);
    }

    /// The one-item wire is the spec's example byte for byte: the fields of
    /// the day before items, in the same order, with `"item":1` right after
    /// `transaction_id`.
    #[test]
    fn one_item_recharge_bytes_follow_the_spec_example() {
        let p = PreparedRequest::recharge(&recharge());
        assert_eq!(
            std::str::from_utf8(&p.body).unwrap(),
            concat!(
                r#"{"transaction_id":"0b7c0000-0000-4000-8000-000000000001","item":1,"#,
                r#""code":"1234567890123","service_id":"mensa","consumer_ref":"c_8f3a9b21","#,
                r#""creditor_fiscal_code":"00514490010","amount_cents":2000,"fee_cents":0,"#,
                r#""paid_at":"2026-11-22T10:16:03Z","receipt_number":"T-000123/2026/000042","#,
                r#""operator_id":"op1","offline":false}"#
            )
        );
    }

    #[test]
    fn recharge_of_a_later_item_has_its_own_key_and_item() {
        let second = RechargeRequest {
            item: 2,
            ..recharge()
        };
        let p = PreparedRequest::recharge(&second);
        assert_eq!(p.idempotency_key, "0b7c0000-0000-4000-8000-000000000001:2");
        let v: serde_json::Value = serde_json::from_slice(&p.body).unwrap();
        assert_eq!(v["item"], 2);
        assert_eq!(v["transaction_id"], "0b7c0000-0000-4000-8000-000000000001");
        let fifth = PreparedRequest::recharge(&RechargeRequest {
            item: 5,
            ..recharge()
        });
        assert_eq!(
            fifth.idempotency_key,
            "0b7c0000-0000-4000-8000-000000000001:5"
        );
    }

    /// A recharge body stored in an outbox before items existed has no
    /// `item`: it reads as item 1, the only item it could have been.
    #[test]
    fn a_body_stored_before_items_reads_as_item_1() {
        let old = r#"{"transaction_id":"tx-old","code":"1234567890123","service_id":"mensa",
            "consumer_ref":"c_8f3a9b21","creditor_fiscal_code":"00514490010","amount_cents":2000,
            "fee_cents":0,"paid_at":"2026-11-22T10:16:03Z","receipt_number":"T-000123/2026/000042",
            "operator_id":"op1","offline":false}"#;
        let r: RechargeRequest = serde_json::from_str(old).unwrap();
        assert_eq!(r.item, 1);
        assert_eq!(PreparedRequest::recharge(&r).idempotency_key, "tx-old");
    }

    #[test]
    fn notice_steps_of_later_items_have_their_own_keys() {
        let act = ActivateRequest {
            creditor_fiscal_code: "00514490010".into(),
            notice_number: "301000000000012373".into(),
            amount_cents: 2550,
        };
        assert_eq!(
            PreparedRequest::activate_item("tx1", 1, &act),
            PreparedRequest::activate("tx1", &act)
        );
        let a3 = PreparedRequest::activate_item("tx1", 3, &act);
        assert_eq!(
            (a3.path.as_str(), a3.idempotency_key.as_str()),
            (ACTIVATE_PATH, "tx1:3:activate")
        );
        // The body is the same whatever the item: only the key differs.
        assert_eq!(a3.body, PreparedRequest::activate("tx1", &act).body);
        let ok = OutcomeRequest::Ok {
            payment_token: "pt_1".into(),
            paid_at: datetime!(2026-11-22 10:16:03 UTC),
            receipt_number: "T-000123/2026/000042".into(),
            fee_cents: 100,
        };
        assert_eq!(
            PreparedRequest::outcome_item("tx1", 1, &ok),
            PreparedRequest::outcome("tx1", &ok)
        );
        let o3 = PreparedRequest::outcome_item("tx1", 3, &ok);
        assert_eq!(
            (o3.path.as_str(), o3.idempotency_key.as_str()),
            (OUTCOME_PATH, "tx1:3:outcome")
        );
        let ko2 = PreparedRequest::outcome_item(
            "tx1",
            2,
            &OutcomeRequest::Ko {
                payment_token: "pt_2".into(),
                reason: None,
            },
        );
        assert_eq!(ko2.idempotency_key, "tx1:2:outcome");
    }

    /// The closure body carries the journal witness and the item counts
    /// under the spec's names, in the spec's order.
    #[test]
    fn closure_body_carries_the_journal_witness() {
        let c = PreparedRequest::closure(&ClosureRequest {
            closure_id: "T-000123/2026-11-22/1".into(),
            from: datetime!(2026-11-22 07:00 UTC),
            to: datetime!(2026-11-22 19:00 UTC),
            count: 3,
            total_cents: 6550,
            first_receipt: Some("T-000123/2026/000006".into()),
            last_receipt: None,
            journal_entries: 1204,
            journal_head: "9f2ce1".into(),
        });
        assert_eq!(
            std::str::from_utf8(&c.body).unwrap(),
            concat!(
                r#"{"closure_id":"T-000123/2026-11-22/1","from":"2026-11-22T07:00:00Z","#,
                r#""to":"2026-11-22T19:00:00Z","count":3,"total_cents":6550,"#,
                r#""first_receipt":"T-000123/2026/000006","last_receipt":null,"#,
                r#""journal_entries":1204,"journal_head":"9f2ce1"}"#
            )
        );
    }

    #[test]
    fn keys_of_notice_steps_and_closure() {
        let a = PreparedRequest::activate(
            "tx1",
            &ActivateRequest {
                creditor_fiscal_code: "00514490010".into(),
                notice_number: "301000000000012373".into(),
                amount_cents: 2550,
            },
        );
        assert_eq!(
            (a.path.as_str(), a.idempotency_key.as_str()),
            ("/v1/notices/activate", "tx1:activate")
        );
        let o = PreparedRequest::outcome(
            "tx1",
            &OutcomeRequest::Ko {
                payment_token: "pt_1".into(),
                reason: None,
            },
        );
        assert_eq!(
            (o.path.as_str(), o.idempotency_key.as_str()),
            ("/v1/notices/outcome", "tx1:outcome")
        );
        assert_eq!(
            serde_json::from_slice::<serde_json::Value>(&o.body).unwrap(),
            json!({"outcome": "KO", "payment_token": "pt_1"})
        );
        let c = PreparedRequest::closure(&ClosureRequest {
            closure_id: "T-000123/2026-11-22/1".into(),
            from: datetime!(2026-11-22 00:00 UTC),
            to: datetime!(2026-11-22 19:00 UTC),
            count: 1,
            total_cents: 2000,
            first_receipt: Some("T-000123/2026/000001".into()),
            last_receipt: Some("T-000123/2026/000001".into()),
            journal_entries: 1204,
            journal_head: "9f2c00e1".into(),
        });
        assert_eq!(
            (c.path.as_str(), c.idempotency_key.as_str()),
            ("/v1/closures", "T-000123/2026-11-22/1")
        );
    }

    #[test]
    fn stored_form_roundtrips_exact_bytes() {
        let p = PreparedRequest::recharge(&recharge());
        let stored = serde_json::to_string(&p).unwrap();
        assert!(
            stored.contains(r#""body":"{\"transaction_id\""#),
            "{stored}"
        );
        let back: PreparedRequest = serde_json::from_str(&stored).unwrap();
        assert_eq!(back, p);
        // Non-UTF-8 bodies survive as a byte array.
        let odd = PreparedRequest {
            body: vec![0xff, 0x00, b'{'],
            ..p.clone()
        };
        let back: PreparedRequest =
            serde_json::from_str(&serde_json::to_string(&odd).unwrap()).unwrap();
        assert_eq!(back.body, vec![0xff, 0x00, b'{']);
    }

    #[test]
    fn debug_hides_body() {
        let p = PreparedRequest::recharge(&recharge());
        let d = format!("{p:?}");
        assert!(!d.contains("1234567890123"), "{d}");
        assert!(d.contains("body_len"));
    }
}
