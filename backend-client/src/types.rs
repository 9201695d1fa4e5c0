//! Request and response bodies of every endpoint in `backend-api.md`.
//!
//! Responses ignore fields they do not know (serde's default), so a newer
//! server can add fields. Money is integer euro cents; times are RFC 3339,
//! sent in UTC with whole seconds (`2026-11-22T10:16:03Z`).

use serde::{Deserialize, Serialize};
use time::{Date, OffsetDateTime};

use crate::auth::{Credentials, Secret};

/// Serde for times: written as `YYYY-MM-DDTHH:MM:SSZ` (UTC, whole seconds,
/// so stored request bytes are stable and readable), read as any RFC 3339.
pub mod rfc3339_utc {
    use serde::{Deserialize, Deserializer, Serializer};
    use time::format_description::well_known::Rfc3339;
    use time::OffsetDateTime;

    /// Writes `t` in UTC, whole seconds: the form stored request bytes use.
    pub fn serialize<S: Serializer>(t: &OffsetDateTime, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&crate::auth::format_timestamp(*t))
    }

    /// Reads any RFC 3339 time (a server may send offsets or fractions).
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<OffsetDateTime, D::Error> {
        let text = String::deserialize(d)?;
        OffsetDateTime::parse(&text, &Rfc3339)
            .map_err(|_| serde::de::Error::custom("time is not RFC 3339"))
    }
}

time::serde::format_description!(iso_date, Date, "[year]-[month]-[day]");

/// The item number of a request written before transactions had items.
fn first_item() -> u32 {
    1
}

/// `GET /v1/health`. The server's clock is exposed so the agent can report
/// skew (the server refuses signatures more than 300 s off).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthResponse {
    /// `ok` in the spec; any answer at all means the backend is reachable.
    pub status: String,
    /// The server's clock, compared with the local one ([`Self::skew_from`]).
    #[serde(with = "rfc3339_utc")]
    pub time: OffsetDateTime,
}

impl HealthResponse {
    /// Server time minus `local_now`: positive when the local clock is
    /// behind. Compare against 300 s.
    pub fn skew_from(&self, local_now: OffsetDateTime) -> time::Duration {
        self.time - local_now
    }
}

/// `POST /v1/terminals/enroll` request. Unsigned.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnrollRequest {
    /// The one-time code the municipality issued for this counter
    /// (`K7QF-2M9X-HT4P`), typed by the field technician; single use.
    pub activation_code: String,
    /// The agent's version, so the municipality knows what each counter runs.
    pub agent_version: String,
    /// The machine's host name, to tell counters of one shop apart.
    pub hostname: String,
}

/// `POST /v1/terminals/enroll` answer (201). `Debug` hides the secret.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct EnrollResponse {
    /// `T-000123`: signs every later request and prefixes receipt numbers.
    pub terminal_id: String,
    /// The signing secret; stored readable by the agent's user only.
    pub secret: Secret,
    /// The payment service provider the counter collects for.
    pub psp: Psp,
    /// The shop, as the municipality registered it.
    pub location: Location,
}

impl EnrollResponse {
    /// The credentials to store and sign with from now on.
    pub fn credentials(&self) -> Credentials {
        Credentials {
            terminal_id: self.terminal_id.clone(),
            secret: self.secret.clone(),
        }
    }
}

/// The payment service provider the counter collects for (pagoPA's PSP):
/// receipts name it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Psp {
    /// `PSP-LIS`: stable, for machines.
    pub id: String,
    /// `PuntoLIS`: what receipts print.
    pub name: String,
}

/// The shop the counter stands in, as registered by the municipality.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Location {
    /// `Tabaccheria Rossi`.
    pub name: String,
    /// `Via Roma 1, Balangero`.
    pub address: String,
}

/// `GET /v1/keys` answer: keys that verify app payment tokens offline.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeysResponse {
    /// Every key currently published; a token names its key by `kid`, and
    /// more than one is valid while keys rotate.
    pub keys: Vec<PublicKey>,
}

impl KeysResponse {
    /// Parses a cached `keys` answer (the text `BackendClient::keys_raw`
    /// returned).
    pub fn from_json(text: &str) -> Result<KeysResponse, serde_json::Error> {
        serde_json::from_str(text)
    }
}

/// One token-verification key. `public_key` stays base64 text: decoding
/// and checking it belongs to the codes crate.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicKey {
    /// The id a token's payload names (`k1`).
    pub kid: String,
    /// `Ed25519`; a key of another algorithm verifies nothing.
    pub alg: String,
    /// Base64 of the 32-byte public key.
    pub public_key: String,
    /// Tokens are accepted with this key only from this time...
    #[serde(with = "rfc3339_utc")]
    pub not_before: OffsetDateTime,
    /// ...until this one, also offline: a cached key does not live forever.
    #[serde(with = "rfc3339_utc")]
    pub not_after: OffsetDateTime,
}

/// `GET /v1/payment-codes/{code}` answer; also the items of a payer lookup.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentCode {
    /// The code as the agent sent it (manual code or app token); it is what
    /// the recharge sends back.
    pub code: String,
    /// `active` in the spec; any other value means the code cannot be used.
    pub status: String,
    /// What the code pays for: canteen, bus.
    pub service: Service,
    /// The municipality the money goes to.
    pub creditor: Creditor,
    /// The child, masked.
    pub consumer: Consumer,
    /// Can be negative on a canteen account that went into debt.
    pub balance_cents: i64,
    /// The recharge amounts the backend accepts for this code; checked at
    /// the counter before the cash is taken, not after.
    pub limits: Limits,
}

impl PaymentCode {
    /// True when the code can be recharged (`status` is `active`).
    pub fn is_active(&self) -> bool {
        self.status == "active"
    }
}

/// A school service with a prepaid balance.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Service {
    /// `mensa`, `trasporto`: sent back as a recharge's `service_id`.
    pub id: String,
    /// `Refezione scolastica`: what the operator and the receipt show.
    pub name: String,
}

/// The public body owed the money (the municipality).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Creditor {
    /// 11 digits; sent back as `creditor_fiscal_code`. Not personal data.
    pub fiscal_code: String,
    /// `Comune di Balangero`, printed on receipts.
    pub name: String,
}

/// The child. `display_name` is already masked by the server; nothing more
/// is ever stored or printed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Consumer {
    /// Opaque id of the child (`ref` on the wire), sent back with the
    /// recharge; it identifies nobody outside the backend.
    #[serde(rename = "ref")]
    pub consumer_ref: String,
    /// Already masked (`M*** R***`).
    pub display_name: String,
    /// Shown in the spec; optional here because a bus service may have none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub school: Option<String>,
}

/// The recharge amounts the backend accepts for one code, both included;
/// anything outside gets 422 `amount_out_of_range`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Smallest accepted recharge, in cents.
    pub min_cents: u64,
    /// Largest accepted recharge, in cents.
    pub max_cents: u64,
}

/// `POST /v1/payers/lookup` answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PayerLookup {
    /// Who the health card belongs to, masked.
    pub payer: Payer,
    /// Every code the payer may pay for (one per child and service), to
    /// choose one or several from.
    pub codes: Vec<PaymentCode>,
}

/// The parent whose health card was read. Only a masked name comes back:
/// the fiscal code went in the request body and is never echoed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payer {
    /// Masked by the server.
    pub display_name: String,
}

/// `POST /v1/payers/lookup` request. Built inside the client only, so the
/// fiscal code never sits in a type that someone might `Debug`-log.
#[derive(Serialize)]
pub(crate) struct PayerLookupRequest<'a> {
    pub fiscal_code: &'a str,
}

/// `POST /v1/notices/verify` request (reads only, no Idempotency-Key).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoticeVerifyRequest {
    /// The creditor printed on the notice (its QR's fourth field).
    pub creditor_fiscal_code: String,
    /// The 18-digit notice number, already checked (mod 93) by the agent.
    pub notice_number: String,
}

/// `POST /v1/notices/verify` answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoticeVerifyResponse {
    /// Only `payable` can go on.
    pub status: NoticeStatus,
    /// The amount charged: this one, not the QR's (which is informative).
    pub amount_cents: u64,
    /// `Mensa novembre 2026`: what the notice is for, printed on receipts.
    pub description: String,
    /// Optional: not every notice has one.
    #[serde(default, with = "iso_date::option")]
    pub due_date: Option<Date>,
    /// The creditor, with the name the receipt prints.
    pub creditor: Creditor,
}

/// Only `Payable` can go on. A status this client does not know is
/// `Unknown` (and so not payable) rather than a parse failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoticeStatus {
    /// Can be activated and paid.
    Payable,
    /// Paid already (here or elsewhere): paying again would pay twice.
    Paid,
    /// Past its validity; the creditor must issue a new one.
    Expired,
    /// Withdrawn by the creditor.
    Cancelled,
    /// A status newer than this client: treated as not payable.
    #[serde(other)]
    Unknown,
}

/// `POST /v1/recharges` request: credits one item of a transaction.
///
/// Idempotency-Key: `transaction_id` for item 1, `<transaction_id>:<item>`
/// for item 2 and up ([`crate::idempotency_key`]; [`crate::PreparedRequest::recharge`]
/// picks it). The fields go on the wire in this order, `item` right after
/// `transaction_id` as in the spec's example:
///
/// ```text
/// {"transaction_id":"0b7c..","item":1,"code":"..","service_id":"mensa",
///  "consumer_ref":"c_8f3a9b21","creditor_fiscal_code":"00514490010",
///  "amount_cents":2000,"fee_cents":0,"paid_at":"2026-11-22T10:16:03Z",
///  "receipt_number":"T-000123/2026/000042","operator_id":"op1","offline":false}
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RechargeRequest {
    /// The agent's UUID for the whole transaction; every item of it sends
    /// the same one. The server credits each (`transaction_id`, `item`)
    /// once, however late a repeat comes.
    pub transaction_id: String,
    /// The item's number in its transaction: 1 for a one-item transaction,
    /// 1 to 5 otherwise, never reused (a removed item leaves a hole). Always
    /// sent; a body stored before items existed has none and reads as 1,
    /// which is what it was.
    #[serde(default = "first_item")]
    pub item: u32,
    /// The code the item was resolved from (manual code or app token), as
    /// read: the backend resolves it again and refuses a mismatch.
    pub code: String,
    /// The resolved code's `service.id`.
    pub service_id: String,
    /// The resolved code's `consumer.ref`: the child credited.
    pub consumer_ref: String,
    /// The resolved code's `creditor.fiscal_code`.
    pub creditor_fiscal_code: String,
    /// The credit for this item alone, in cents (within its `limits`).
    pub amount_cents: u64,
    /// This item's own fee (`[fees] recharge_cents`); the counter keeps it.
    pub fee_cents: u64,
    /// When the cash was taken; the same for every item of the transaction.
    #[serde(with = "rfc3339_utc")]
    pub paid_at: OffsetDateTime,
    /// The transaction's receipt number, shared by all its items.
    pub receipt_number: String,
    /// The operator logged in at the counter when it was paid.
    pub operator_id: String,
    /// True when the code was accepted offline (signed app token verified
    /// against cached keys).
    pub offline: bool,
}

/// `POST /v1/recharges` answer (201, or 200 on a repeat).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RechargeResponse {
    /// The backend's id of the credit (`R-99812`); a later
    /// `already_credited` names the same one.
    pub recharge_id: String,
    /// `credited` in the spec.
    pub status: String,
    /// The child's balance after this credit: the receipt's new balance.
    pub balance_cents: i64,
}

/// `POST /v1/notices/activate` request, sent before the cash is taken so
/// the notice cannot be paid twice. Idempotency-Key: `<tx>:activate` for
/// item 1, `<tx>:<n>:activate` for item n >= 2
/// ([`crate::PreparedRequest::activate_item`]); the body names no item.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActivateRequest {
    /// The notice's creditor.
    pub creditor_fiscal_code: String,
    /// The 18-digit notice number.
    pub notice_number: String,
    /// The amount `verify` returned; any other gets 422 `amount_mismatch`.
    pub amount_cents: u64,
}

/// `POST /v1/notices/activate` answer. The token lives at most 30 minutes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActivateResponse {
    /// Names this activation in the outcome; printed on the receipt.
    pub payment_token: String,
    /// After this the outcome `OK` gets 409 `token_expired`.
    #[serde(with = "rfc3339_utc")]
    pub expires_at: OffsetDateTime,
}

/// `POST /v1/notices/outcome` request. Idempotency-Key: `<tx>:outcome` for
/// item 1, `<tx>:<n>:outcome` for item n >= 2: the item its activation
/// was for ([`crate::PreparedRequest::outcome_item`]).
///
/// ```text
/// {"outcome":"OK","payment_token":"pt_..","paid_at":"..","receipt_number":"..","fee_cents":100}
/// {"outcome":"KO","payment_token":"pt_..","reason":"voided"}     (reason optional)
/// ```
/// A `KO` cannot carry the `OK` fields: the type has nowhere to put them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome")]
pub enum OutcomeRequest {
    /// The cash was taken.
    #[serde(rename = "OK")]
    Ok {
        /// The activation's token.
        payment_token: String,
        /// When the cash was taken.
        #[serde(with = "rfc3339_utc")]
        paid_at: OffsetDateTime,
        /// The transaction's receipt number.
        receipt_number: String,
        /// This item's own fee (`[fees] notice_cents`).
        fee_cents: u64,
    },
    /// The operator voided an activated notice.
    #[serde(rename = "KO")]
    Ko {
        /// The activation's token: every activation gets an outcome.
        payment_token: String,
        /// Why, when the operator said; left out of the body when `None`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
}

/// `POST /v1/notices/outcome` answer: `{"status": "recorded"}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutcomeResponse {
    /// `recorded`: the outcome is the backend's now.
    pub status: String,
}

/// `POST /v1/closures` request: the counter's account of a period, so the
/// municipality can reconcile. Idempotency-Key: `closure_id`.
///
/// Counts are of **items**, not transactions: a transaction that paid two
/// recharges and a notice counts 3 (`backend-api.md`, `POST /v1/closures`).
/// The server counts the credits and OK outcomes it received the same way,
/// which is what makes `matched` possible.
///
/// ```text
/// {"closure_id":"T-000123/2026-11-22/1","from":"..","to":"..","count":37,
///  "total_cents":91500,"first_receipt":"T-000123/2026/000006",
///  "last_receipt":"T-000123/2026/000042","journal_entries":1204,"journal_head":"9f2c..e1"}
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClosureRequest {
    /// `<terminal id>/<local date>/<number in that day>`, e.g.
    /// `T-000123/2026-11-22/1`: a counter may close more than once a day.
    pub closure_id: String,
    /// Start of the period, included: the previous closure's `to`, or the
    /// creation time of the first transaction ever.
    #[serde(with = "rfc3339_utc")]
    pub from: OffsetDateTime,
    /// End of the period, excluded: the moment of the close.
    #[serde(with = "rfc3339_utc")]
    pub to: OffsetDateTime,
    /// Items paid in the period that the municipality should receive:
    /// recharges credited or still pending, and paid notices. Rejected
    /// items (to refund) and voided transactions are not counted.
    pub count: u64,
    /// Sum of the counted items' `amount_cents`; fees excluded (they stay
    /// with the counter).
    pub total_cents: u64,
    /// Lowest receipt number issued in the period, rejected items' receipts
    /// included; sent as `null` when none.
    pub first_receipt: Option<String>,
    /// Highest receipt number issued in the period; `null` when none.
    pub last_receipt: Option<String>,
    /// The agent's journal length just before the closure's own journal
    /// entry: with `journal_head`, a witness the municipality keeps, so a
    /// journal later cut short or rewritten no longer matches it.
    pub journal_entries: u64,
    /// Lowercase hex hash of the journal's last entry just before the
    /// closure's own entry.
    pub journal_head: String,
}

/// `POST /v1/closures` answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum ClosureResponse {
    /// The backend counted the same items and total.
    Matched,
    /// The backend counted otherwise; kept and shown. Items still pending
    /// at the counter explain part of it.
    Mismatch {
        /// Items the backend received for the period.
        server_count: u64,
        /// Their total, fees excluded.
        server_total_cents: u64,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use time::macros::{date, datetime};

    #[test]
    fn payment_code_from_spec_example_with_extra_fields() {
        let v = json!({"code": "1234567890123", "status": "active",
            "service": {"id": "mensa", "name": "Refezione scolastica"},
            "creditor": {"fiscal_code": "00514490010", "name": "Comune di Balangero"},
            "consumer": {"ref": "c_8f3a9b21", "display_name": "M*** R***", "school": "Primaria G. Rodari", "extra": 1},
            "balance_cents": 1250,
            "limits": {"min_cents": 500, "max_cents": 30000},
            "future_field": [1, 2]});
        let p: PaymentCode = serde_json::from_value(v).unwrap();
        assert!(p.is_active());
        assert_eq!(p.consumer.consumer_ref, "c_8f3a9b21");
        assert_eq!(p.limits.max_cents, 30000);
        assert_eq!(p.balance_cents, 1250);
    }

    #[test]
    fn outcome_ko_carries_only_its_fields() {
        let ko = OutcomeRequest::Ko {
            payment_token: "pt_1".into(),
            reason: None,
        };
        assert_eq!(
            serde_json::to_value(&ko).unwrap(),
            json!({"outcome": "KO", "payment_token": "pt_1"})
        );
        let ko = OutcomeRequest::Ko {
            payment_token: "pt_1".into(),
            reason: Some("annullata".into()),
        };
        assert_eq!(
            serde_json::to_value(&ko).unwrap(),
            json!({"outcome": "KO", "payment_token": "pt_1", "reason": "annullata"})
        );
        let ok = OutcomeRequest::Ok {
            payment_token: "pt_1".into(),
            paid_at: datetime!(2026-11-22 11:16:03.5 +01:00),
            receipt_number: "T-000123/2026/000043".into(),
            fee_cents: 100,
        };
        assert_eq!(
            serde_json::to_value(&ok).unwrap(),
            json!({"outcome": "OK", "payment_token": "pt_1", "paid_at": "2026-11-22T10:16:03Z",
                   "receipt_number": "T-000123/2026/000043", "fee_cents": 100})
        );
        let back: OutcomeRequest =
            serde_json::from_value(serde_json::to_value(&ok).unwrap()).unwrap();
        assert_eq!(
            back,
            OutcomeRequest::Ok {
                payment_token: "pt_1".into(),
                paid_at: datetime!(2026-11-22 10:16:03 UTC),
                receipt_number: "T-000123/2026/000043".into(),
                fee_cents: 100,
            }
        );
    }

    #[test]
    fn closure_answers() {
        let m: ClosureResponse = serde_json::from_str(r#"{"status":"matched"}"#).unwrap();
        assert_eq!(m, ClosureResponse::Matched);
        let m: ClosureResponse = serde_json::from_str(
            r#"{"status":"mismatch","server_count":36,"server_total_cents":89500,"x":1}"#,
        )
        .unwrap();
        assert_eq!(
            m,
            ClosureResponse::Mismatch {
                server_count: 36,
                server_total_cents: 89500
            }
        );
        assert!(serde_json::from_str::<ClosureResponse>(r#"{"status":"weird"}"#).is_err());
    }

    #[test]
    fn closure_request_sends_null_receipts() {
        let c = ClosureRequest {
            closure_id: "T-000123/2026-11-22/1".into(),
            from: datetime!(2026-11-22 00:00 UTC),
            to: datetime!(2026-11-22 19:00 UTC),
            count: 0,
            total_cents: 0,
            first_receipt: None,
            last_receipt: None,
            journal_entries: 1204,
            journal_head: "9f2c00e1".into(),
        };
        let v = serde_json::to_value(&c).unwrap();
        assert_eq!(v["first_receipt"], serde_json::Value::Null);
        assert!(v.as_object().unwrap().contains_key("last_receipt"));
        assert_eq!(v["to"], "2026-11-22T19:00:00Z");
    }

    #[test]
    fn notice_verify_parses_and_unknown_status() {
        let v = json!({"status": "payable", "amount_cents": 2550, "description": "Mensa novembre 2026",
            "due_date": "2026-12-15", "creditor": {"fiscal_code": "00514490010", "name": "Comune di Balangero"}});
        let n: NoticeVerifyResponse = serde_json::from_value(v).unwrap();
        assert_eq!(n.status, NoticeStatus::Payable);
        assert_eq!(n.due_date, Some(date!(2026 - 12 - 15)));
        let v = json!({"status": "suspended", "amount_cents": 1, "description": "",
            "creditor": {"fiscal_code": "x", "name": "y"}});
        let n: NoticeVerifyResponse = serde_json::from_value(v).unwrap();
        assert_eq!(n.status, NoticeStatus::Unknown);
        assert_eq!(n.due_date, None);
    }

    #[test]
    fn enroll_response_hides_secret() {
        let secret = Secret::from_bytes([7; 32]).to_base64();
        let v = json!({"terminal_id": "T-000123", "secret": secret,
            "psp": {"id": "PSP-LIS", "name": "PuntoLIS"},
            "location": {"name": "Tabaccheria Rossi", "address": "Via Roma 1, Balangero"}});
        let e: EnrollResponse = serde_json::from_value(v).unwrap();
        assert_eq!(e.credentials().secret, Secret::from_bytes([7; 32]));
        assert!(!format!("{e:?}").contains(&secret));
        let bad = json!({"terminal_id": "T", "secret": "AAAA", "psp": {"id": "a", "name": "b"},
            "location": {"name": "a", "address": "b"}});
        assert!(serde_json::from_value::<EnrollResponse>(bad).is_err());
    }

    #[test]
    fn keys_and_health_parse() {
        let k = KeysResponse::from_json(
            r#"{"keys": [{"kid": "k1", "alg": "Ed25519", "public_key": "AAAA",
               "not_before": "2026-01-01T00:00:00Z", "not_after": "2027-12-31T23:59:59Z"}]}"#,
        )
        .unwrap();
        assert_eq!(k.keys[0].not_after, datetime!(2027-12-31 23:59:59 UTC));
        let h: HealthResponse =
            serde_json::from_str(r#"{"status": "ok", "time": "2026-11-22T10:15:00Z"}"#).unwrap();
        assert_eq!(
            h.skew_from(datetime!(2026-11-22 10:14:00 UTC)),
            time::Duration::seconds(60)
        );
    }
}
