//! The backend's state and what each endpoint does to it.
//!
//! Everything here is synchronous and runs under the one lock of
//! [`super::MockBackend`]: a handler parses, applies and answers in one go, so
//! two concurrent requests can never both credit the same transaction.

use std::collections::HashMap;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use ed25519_dalek::{Signature, Verifier as _, VerifyingKey};
use rand::RngCore as _;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use sha2::{Digest as _, Sha256};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::demo::{self, NoticeStatus};
use super::faults::FaultRule;
use super::{ClosureRecord, LoggedRequest, NoticeOutcomeRecord, RechargeRecord};

/// How long a payment token lives (backend-api.md: at most 30 minutes).
const PAYMENT_TOKEN_LIFETIME: time::Duration = time::Duration::minutes(30);

/// What an endpoint answers: kept whole so that an idempotent repeat can get
/// exactly the same status and body.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Answer {
    pub status: u16,
    pub body: Value,
    pub retry_after_secs: Option<u64>,
}

impl Answer {
    /// 200 with `body`.
    pub fn ok(body: Value) -> Answer {
        Answer {
            status: 200,
            body,
            retry_after_secs: None,
        }
    }

    /// 201 with `body`: what a first enrollment or credit answers (a repeat
    /// replays it as it was).
    pub fn created(body: Value) -> Answer {
        Answer {
            status: 201,
            body,
            retry_after_secs: None,
        }
    }

    /// The spec's error body `{"error": {"code", "message", "retryable"}}`.
    pub fn error(status: u16, code: &str, message: impl Into<String>) -> Answer {
        Answer::error_with(status, code, message, Map::new())
    }

    /// An error with extra fields beside `code` (e.g. `recharge_id`).
    pub fn error_with(
        status: u16,
        code: &str,
        message: impl Into<String>,
        extra: Map<String, Value>,
    ) -> Answer {
        let retryable = matches!(status, 408 | 429 | 500 | 502 | 503 | 504);
        let mut error = Map::new();
        error.insert("code".into(), Value::from(code));
        error.insert("message".into(), Value::from(message.into()));
        error.insert("retryable".into(), Value::from(retryable));
        error.extend(extra);
        Answer {
            status,
            body: json!({ "error": error }),
            retry_after_secs: None,
        }
    }

    /// 400 `bad_request`: the message says what was wrong, so an agent
    /// bug shows in the test that caused it.
    pub fn bad_request(message: impl Into<String>) -> Answer {
        Answer::error(400, "bad_request", message)
    }
}

/// Formats a time as the spec's `YYYY-MM-DDTHH:MM:SSZ`.
pub(crate) fn format_time(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
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

fn parse_rfc3339(field: &str, s: &str) -> Result<OffsetDateTime, Answer> {
    OffsetDateTime::parse(s, &Rfc3339)
        .map_err(|e| Answer::bad_request(format!("{field} is not an RFC 3339 time ({s:?}): {e}")))
}

/// The item number of a body written before transactions had items.
fn first_item() -> u32 {
    1
}

fn parse_body<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Result<T, Answer> {
    serde_json::from_slice(body)
        .map_err(|e| Answer::bad_request(format!("malformed JSON body: {e}")))
}

/// One child + service: what a manual code or an app token resolves to.
#[derive(Debug, Clone)]
pub(crate) struct CodeEntry {
    pub manual_code: String,
    pub consumer_ref: String,
    pub display_name: String,
    pub school: String,
    pub service_id: String,
    pub balance_cents: u64,
    pub min_cents: u64,
    pub max_cents: u64,
    pub revoked: bool,
}

#[derive(Debug, Clone)]
struct Payer {
    display_name: String,
    codes: Vec<String>,
}

#[derive(Debug, Clone)]
struct NoticeEntry {
    creditor_cf: String,
    amount_cents: u64,
    description: String,
    due_date: String,
    status: NoticeStatus,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OutcomeKind {
    Ok,
    Ko,
}

#[derive(Debug, Clone)]
struct Activation {
    notice_number: String,
    creditor_cf: String,
    amount_cents: u64,
    expires_at: OffsetDateTime,
    outcome: Option<OutcomeKind>,
    /// The (transaction, item) its `Idempotency-Key` named, when the key has
    /// the spec's shape: the outcome must name the same one.
    item: Option<ItemRef>,
}

/// One item of one transaction, as an `Idempotency-Key` names it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct ItemRef {
    /// The agent's id of the whole transaction.
    pub transaction_id: String,
    /// 1 for a one-item transaction; never 0.
    pub item: u32,
}

impl ItemRef {
    /// Reads the (transaction, item) out of a notice step's key:
    /// `<tx><suffix>` is item 1, `<tx>:<n><suffix>` with n >= 2 is item n
    /// (`backend-api.md`, "Payment notices"). `None` when the key does not
    /// end with `suffix`: the spec only forbids reusing a key, so a key of
    /// another shape is served, just not checked against its activation.
    pub fn from_notice_key(key: &str, suffix: &str) -> Option<ItemRef> {
        let rest = key.strip_suffix(suffix).filter(|r| !r.is_empty())?;
        let numbered = rest.rsplit_once(':').and_then(|(tx, n)| {
            let n: u32 = n.parse().ok().filter(|n| *n >= 2)?;
            Some((tx, n)).filter(|(tx, _)| !tx.is_empty())
        });
        Some(match numbered {
            Some((tx, n)) => ItemRef {
                transaction_id: tx.to_string(),
                item: n,
            },
            None => ItemRef {
                transaction_id: rest.to_string(),
                item: 1,
            },
        })
    }

    /// The recharge key the spec gives this item: `<tx>` for item 1,
    /// `<tx>:<n>` for item n >= 2.
    pub fn recharge_key(&self) -> String {
        if self.item == 1 {
            self.transaction_id.clone()
        } else {
            format!("{}:{}", self.transaction_id, self.item)
        }
    }

    /// `item 2 of transaction tx-1`, for error messages.
    fn describe(&self) -> String {
        format!("item {} of transaction {}", self.item, self.transaction_id)
    }
}

/// What the server remembers of an `Idempotency-Key`.
#[derive(Debug, Clone)]
struct Remembered {
    /// SHA-256 of method, path and body: a repeat must match it exactly.
    fingerprint: [u8; 32],
    answer: Answer,
}

/// Everything the backend knows: terminals, balances, notices, what it
/// applied and what it remembers of each `Idempotency-Key`.
pub(crate) struct State {
    pub clock_offset_secs: i64,
    /// How long new payment tokens live; `None`: 30 minutes.
    pub payment_token_lifetime: Option<time::Duration>,
    activation_codes: Vec<(String, bool)>,
    next_terminal_number: u32,
    pub terminals: HashMap<String, [u8; 32]>,
    pub codes: Vec<CodeEntry>,
    keys: Vec<(String, VerifyingKey)>,
    payers: HashMap<String, Payer>,
    notices: HashMap<String, NoticeEntry>,
    activations: HashMap<String, Activation>,
    idempotency: HashMap<(String, String), Remembered>,
    /// (transaction_id, item) -> recharge_id, never forgotten: an item is
    /// never credited twice, however late the repeat, while another item of
    /// the same transaction is a credit of its own.
    credited: HashMap<ItemRef, String>,
    next_recharge_number: u64,
    pub recharges: Vec<RechargeRecord>,
    pub notice_outcomes: Vec<NoticeOutcomeRecord>,
    pub closures: Vec<ClosureRecord>,
    pub request_log: Vec<LoggedRequest>,
    pub faults: Vec<FaultRule>,
}

impl State {
    /// The [`demo`] data, nothing applied yet.
    pub fn demo() -> State {
        let codes = demo::CODES
            .iter()
            .map(|c| CodeEntry {
                manual_code: c.manual_code.into(),
                consumer_ref: c.consumer_ref.into(),
                display_name: c.display_name.into(),
                school: c.school.into(),
                service_id: c.service_id.into(),
                balance_cents: c.balance_cents,
                min_cents: demo::MIN_CENTS,
                max_cents: demo::MAX_CENTS,
                revoked: c.revoked,
            })
            .collect();
        let payers = HashMap::from([(
            demo::PAYER_FISCAL_CODE.to_string(),
            Payer {
                display_name: demo::PAYER_DISPLAY_NAME.into(),
                codes: demo::PAYER_CODES.iter().map(|c| c.to_string()).collect(),
            },
        )]);
        let notices = demo::NOTICES
            .iter()
            .map(|n| {
                (
                    n.notice_number.to_string(),
                    NoticeEntry {
                        creditor_cf: demo::CREDITOR_CF.into(),
                        amount_cents: n.amount_cents,
                        description: n.description.into(),
                        due_date: n.due_date.into(),
                        status: n.status,
                    },
                )
            })
            .collect();
        State {
            clock_offset_secs: 0,
            payment_token_lifetime: None,
            activation_codes: demo::ACTIVATION_CODES
                .iter()
                .map(|c| (c.to_string(), false))
                .collect(),
            next_terminal_number: demo::FIRST_TERMINAL_NUMBER,
            terminals: HashMap::new(),
            codes,
            keys: vec![(
                demo::KEY_ID.to_string(),
                demo::signing_key().verifying_key(),
            )],
            payers,
            notices,
            activations: HashMap::new(),
            idempotency: HashMap::new(),
            credited: HashMap::new(),
            next_recharge_number: 10001,
            recharges: Vec::new(),
            notice_outcomes: Vec::new(),
            closures: Vec::new(),
            request_log: Vec::new(),
            faults: Vec::new(),
        }
    }

    /// The mock's clock: the real UTC time shifted by the test's offset.
    pub fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc() + time::Duration::seconds(self.clock_offset_secs)
    }

    /// As after 30 days: repeats are no longer replayed, but credited items
    /// stay credited (`already_credited`).
    pub fn forget_idempotency_keys(&mut self) {
        self.idempotency.clear();
    }

    /// Makes every open activation expire now (as if 30 minutes had passed).
    pub fn expire_payment_tokens(&mut self) {
        let past = self.now() - time::Duration::seconds(1);
        for a in self.activations.values_mut() {
            if a.outcome.is_none() {
                a.expires_at = past;
            }
        }
    }

    /// Revokes the entry `code` resolves to; false when it resolves to none.
    pub fn revoke_code(&mut self, code: &str) -> bool {
        match self.resolve(code) {
            Some(i) => {
                self.codes[i].revoked = true;
                true
            }
            None => false,
        }
    }

    /// The wire name of a notice's current status.
    pub fn notice_status(&self, notice_number: &str) -> Option<&'static str> {
        self.notices.get(notice_number).map(|n| n.status.as_str())
    }

    /// Runs `apply` at most once per (terminal, key): a repeat with the same
    /// method, path and body gets the first answer again, a repeat with
    /// anything else gets 409 `idempotency_conflict`.
    pub fn idempotent(
        &mut self,
        terminal_id: &str,
        key: &str,
        method: &str,
        path: &str,
        body: &[u8],
        apply: impl FnOnce(&mut State) -> Answer,
    ) -> Answer {
        let mut hasher = Sha256::new();
        hasher.update(method.as_bytes());
        hasher.update(b"\n");
        hasher.update(path.as_bytes());
        hasher.update(b"\n");
        hasher.update(body);
        let fingerprint: [u8; 32] = hasher.finalize().into();
        let slot = (terminal_id.to_string(), key.to_string());
        if let Some(r) = self.idempotency.get(&slot) {
            if r.fingerprint == fingerprint {
                return r.answer.clone();
            }
            return Answer::error(
                409,
                "idempotency_conflict",
                format!("Idempotency-Key {key:?} was already used with a different request"),
            );
        }
        let answer = apply(self);
        self.idempotency.insert(
            slot,
            Remembered {
                fingerprint,
                answer: answer.clone(),
            },
        );
        answer
    }

    // ---- code resolution -------------------------------------------------

    /// Index of the entry a manual code or a valid app token resolves to.
    fn resolve(&self, code: &str) -> Option<usize> {
        if code.starts_with("SSQR1.") {
            let (consumer_ref, service_id) = self.verify_app_token(code)?;
            self.codes
                .iter()
                .position(|c| c.consumer_ref == consumer_ref && c.service_id == service_id)
        } else {
            self.codes.iter().position(|c| c.manual_code == code)
        }
    }

    /// Checks an app token as `payment-codes.md` §1 defines it and returns
    /// its (ref, svc); `None` for a bad signature, unknown key, wrong
    /// creditor or malformed payload.
    fn verify_app_token(&self, token: &str) -> Option<(String, String)> {
        #[derive(Deserialize)]
        struct Payload {
            v: u8,
            kid: String,
            cf: String,
            svc: String,
            #[serde(rename = "ref")]
            consumer_ref: String,
            #[allow(dead_code)]
            iat: i64,
        }
        let mut parts = token.split('.');
        let (prefix, payload_b64, sig_b64) = (parts.next()?, parts.next()?, parts.next()?);
        if prefix != "SSQR1" || parts.next().is_some() {
            return None;
        }
        let payload_bytes = URL_SAFE_NO_PAD.decode(payload_b64).ok()?;
        let sig = Signature::from_slice(&URL_SAFE_NO_PAD.decode(sig_b64).ok()?).ok()?;
        let payload: Payload = serde_json::from_slice(&payload_bytes).ok()?;
        let (_, key) = self.keys.iter().find(|(kid, _)| *kid == payload.kid)?;
        let signed_len = prefix.len() + 1 + payload_b64.len();
        key.verify(token.get(..signed_len)?.as_bytes(), &sig).ok()?;
        if payload.v != 1 || payload.cf != demo::CREDITOR_CF {
            return None;
        }
        Some((payload.consumer_ref, payload.svc))
    }

    fn code_json(&self, index: usize, code_as_given: &str) -> Value {
        let c = &self.codes[index];
        let service_name = match c.service_id.as_str() {
            demo::SERVICE_MENSA => demo::SERVICE_MENSA_NAME,
            demo::SERVICE_TRASPORTO => demo::SERVICE_TRASPORTO_NAME,
            other => other,
        };
        json!({
            "code": code_as_given,
            "status": if c.revoked { "revoked" } else { "active" },
            "service": {"id": c.service_id, "name": service_name},
            "creditor": {"fiscal_code": demo::CREDITOR_CF, "name": demo::CREDITOR_NAME},
            "consumer": {"ref": c.consumer_ref, "display_name": c.display_name, "school": c.school},
            "balance_cents": c.balance_cents,
            "limits": {"min_cents": c.min_cents, "max_cents": c.max_cents},
        })
    }

    // ---- endpoints -------------------------------------------------------

    /// `POST /v1/terminals/enroll`: each activation code works once and
    /// gives the next terminal id and a fresh random secret.
    pub fn enroll(&mut self, body: &[u8]) -> Answer {
        #[derive(Deserialize)]
        struct Req {
            activation_code: String,
        }
        let req: Req = match parse_body(body) {
            Ok(r) => r,
            Err(a) => return a,
        };
        // A technician types it: ignore case, spaces and dashes.
        let norm = |s: &str| -> String {
            s.chars()
                .filter(|c| !c.is_whitespace() && *c != '-')
                .flat_map(char::to_uppercase)
                .collect()
        };
        let wanted = norm(&req.activation_code);
        let Some(slot) = self
            .activation_codes
            .iter_mut()
            .find(|(c, _)| norm(c) == wanted)
        else {
            return Answer::error(404, "unknown_activation_code", "unknown activation code");
        };
        if slot.1 {
            return Answer::error(409, "activation_code_used", "activation code already used");
        }
        slot.1 = true;
        let terminal_id = format!("T-{:06}", self.next_terminal_number);
        self.next_terminal_number += 1;
        let mut secret = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut secret);
        self.terminals.insert(terminal_id.clone(), secret);
        Answer::created(json!({
            "terminal_id": terminal_id,
            "secret": STANDARD.encode(secret),
            "psp": {"id": demo::PSP_ID, "name": demo::PSP_NAME},
            "location": {"name": demo::LOCATION_NAME, "address": demo::LOCATION_ADDRESS},
        }))
    }

    /// `GET /v1/keys`: the demo key `k1` that signs the demo app tokens.
    pub fn keys(&self) -> Answer {
        let keys: Vec<Value> = self
            .keys
            .iter()
            .map(|(kid, key)| {
                json!({
                    "kid": kid,
                    "alg": "Ed25519",
                    "public_key": STANDARD.encode(key.as_bytes()),
                    "not_before": demo::KEY_NOT_BEFORE,
                    "not_after": demo::KEY_NOT_AFTER,
                })
            })
            .collect();
        Answer::ok(json!({ "keys": keys }))
    }

    /// `GET /v1/payment-codes/{code}`: a manual code or a valid app token.
    pub fn payment_code(&self, code: &str) -> Answer {
        match self.resolve(code) {
            None => Answer::error(404, "unknown_code", "unknown payment code"),
            Some(i) if self.codes[i].revoked => {
                Answer::error(410, "code_revoked", "payment code revoked")
            }
            Some(i) => Answer::ok(self.code_json(i, code)),
        }
    }

    /// `POST /v1/payers/lookup`: the payer's codes, one per child and
    /// service; the fiscal code is read from the body and never echoed.
    pub fn payers_lookup(&self, body: &[u8]) -> Answer {
        #[derive(Deserialize)]
        struct Req {
            fiscal_code: String,
        }
        let req: Req = match parse_body(body) {
            Ok(r) => r,
            Err(a) => return a,
        };
        let fiscal_code = req.fiscal_code.trim().to_uppercase();
        let Some(payer) = self.payers.get(&fiscal_code) else {
            return Answer::error(404, "unknown_payer", "no payer with that fiscal code");
        };
        let codes: Vec<Value> = payer
            .codes
            .iter()
            .filter_map(|c| self.resolve(c).map(|i| self.code_json(i, c)))
            .collect();
        Answer::ok(json!({
            "payer": {"display_name": payer.display_name},
            "codes": codes,
        }))
    }

    /// `POST /v1/recharges`: credits item `item` of `transaction_id` once.
    /// `key` is the request's `Idempotency-Key`: a repeat of it never gets
    /// here (the first answer is replayed); any other key for an item
    /// already credited gets 409 `already_credited` with its `recharge_id`;
    /// a new credit under a key other than the spec's (`<tx>`, `<tx>:<n>`)
    /// is refused, since it is an agent bug that would let a retry under the
    /// right key look like a new request.
    pub fn recharge(&mut self, terminal_id: &str, key: &str, body: &[u8]) -> Answer {
        #[derive(Deserialize)]
        struct Req {
            transaction_id: String,
            /// Absent in bodies written before transactions had items:
            /// those were item 1.
            #[serde(default = "first_item")]
            item: u32,
            code: String,
            service_id: String,
            consumer_ref: String,
            creditor_fiscal_code: String,
            amount_cents: u64,
            fee_cents: u64,
            paid_at: String,
            receipt_number: String,
            operator_id: String,
            offline: bool,
        }
        let req: Req = match parse_body(body) {
            Ok(r) => r,
            Err(a) => return a,
        };
        if req.transaction_id.is_empty() {
            return Answer::bad_request("transaction_id is empty");
        }
        if let Err(a) = parse_rfc3339("paid_at", &req.paid_at) {
            return a;
        }
        if req.item == 0 {
            return Answer::bad_request("item must be 1 or more (items are numbered from 1)");
        }
        let item = ItemRef {
            transaction_id: req.transaction_id.clone(),
            item: req.item,
        };
        if let Some(recharge_id) = self.credited.get(&item) {
            let mut extra = Map::new();
            extra.insert("recharge_id".into(), Value::from(recharge_id.clone()));
            return Answer::error_with(
                409,
                "already_credited",
                format!("{} was already credited", item.describe()),
                extra,
            );
        }
        let expected_key = item.recharge_key();
        if key != expected_key {
            return Answer::bad_request(format!(
                "Idempotency-Key {key:?} does not match {}: it must be {expected_key:?}",
                item.describe()
            ));
        }
        let Some(i) = self.resolve(&req.code) else {
            return Answer::error(404, "unknown_code", "unknown payment code");
        };
        let entry = &self.codes[i];
        if entry.revoked {
            return Answer::error(410, "code_revoked", "payment code revoked");
        }
        // The agent copies these from the resolved code: a mismatch is a bug
        // on its side, better caught here than credited to the wrong child.
        if entry.service_id != req.service_id
            || entry.consumer_ref != req.consumer_ref
            || req.creditor_fiscal_code != demo::CREDITOR_CF
        {
            return Answer::bad_request(
                "service_id, consumer_ref or creditor_fiscal_code do not match the code",
            );
        }
        if req.amount_cents < entry.min_cents || req.amount_cents > entry.max_cents {
            return Answer::error(
                422,
                "amount_out_of_range",
                format!(
                    "amount must be between {} and {} cents",
                    entry.min_cents, entry.max_cents
                ),
            );
        }
        let recharge_id = format!("R-{}", self.next_recharge_number);
        self.next_recharge_number += 1;
        let entry = &mut self.codes[i];
        entry.balance_cents += req.amount_cents;
        let balance_cents = entry.balance_cents;
        self.credited.insert(item, recharge_id.clone());
        self.recharges.push(RechargeRecord {
            terminal_id: terminal_id.to_string(),
            transaction_id: req.transaction_id,
            item: req.item,
            code: req.code,
            service_id: req.service_id,
            consumer_ref: req.consumer_ref,
            creditor_fiscal_code: req.creditor_fiscal_code,
            amount_cents: req.amount_cents,
            fee_cents: req.fee_cents,
            paid_at: req.paid_at,
            receipt_number: req.receipt_number,
            operator_id: req.operator_id,
            offline: req.offline,
            recharge_id: recharge_id.clone(),
        });
        Answer::created(json!({
            "recharge_id": recharge_id,
            "status": "credited",
            "balance_cents": balance_cents,
        }))
    }

    fn find_notice(&self, creditor_cf: &str, notice_number: &str) -> Option<&NoticeEntry> {
        self.notices
            .get(notice_number)
            .filter(|n| n.creditor_cf == creditor_cf)
    }

    /// `POST /v1/notices/verify`: reads only.
    pub fn notice_verify(&self, body: &[u8]) -> Answer {
        #[derive(Deserialize)]
        struct Req {
            creditor_fiscal_code: String,
            notice_number: String,
        }
        let req: Req = match parse_body(body) {
            Ok(r) => r,
            Err(a) => return a,
        };
        let Some(n) = self.find_notice(&req.creditor_fiscal_code, &req.notice_number) else {
            return Answer::error(404, "unknown_notice", "unknown payment notice");
        };
        Answer::ok(json!({
            "status": n.status.as_str(),
            "amount_cents": n.amount_cents,
            "description": n.description,
            "due_date": n.due_date,
            "creditor": {"fiscal_code": n.creditor_cf, "name": demo::CREDITOR_NAME},
        }))
    }

    /// `POST /v1/notices/activate`. `key` (`<tx>:activate`,
    /// `<tx>:<n>:activate`) names the item the activation is for; its
    /// outcome must come under the same item's key.
    pub fn notice_activate(&mut self, key: &str, body: &[u8]) -> Answer {
        #[derive(Deserialize)]
        struct Req {
            creditor_fiscal_code: String,
            notice_number: String,
            amount_cents: u64,
        }
        let req: Req = match parse_body(body) {
            Ok(r) => r,
            Err(a) => return a,
        };
        let now = self.now();
        let Some(n) = self.find_notice(&req.creditor_fiscal_code, &req.notice_number) else {
            return Answer::error(404, "unknown_notice", "unknown payment notice");
        };
        match n.status {
            NoticeStatus::Payable => {}
            NoticeStatus::Paid => {
                return Answer::error(409, "notice_already_paid", "notice already paid")
            }
            NoticeStatus::Expired => return Answer::error(409, "notice_expired", "notice expired"),
            NoticeStatus::Cancelled => {
                return Answer::error(409, "notice_cancelled", "notice cancelled by the creditor")
            }
        }
        let busy = self.activations.values().any(|a| {
            a.notice_number == req.notice_number && a.outcome.is_none() && a.expires_at > now
        });
        if busy {
            return Answer::error(
                409,
                "notice_in_progress",
                "another activation holds this notice",
            );
        }
        if req.amount_cents != n.amount_cents {
            return Answer::error(
                422,
                "amount_mismatch",
                format!("the notice amount is {} cents", n.amount_cents),
            );
        }
        let mut random = [0u8; 16];
        rand::thread_rng().fill_bytes(&mut random);
        let token = format!("pt_{}", hex::encode(random));
        let expires_at = now
            + self
                .payment_token_lifetime
                .unwrap_or(PAYMENT_TOKEN_LIFETIME);
        self.activations.insert(
            token.clone(),
            Activation {
                notice_number: req.notice_number,
                creditor_cf: req.creditor_fiscal_code,
                amount_cents: req.amount_cents,
                expires_at,
                outcome: None,
                item: ItemRef::from_notice_key(key, ":activate"),
            },
        );
        Answer::ok(json!({
            "payment_token": token,
            "expires_at": format_time(expires_at),
        }))
    }

    /// `POST /v1/notices/outcome`. When both the outcome's `key` and its
    /// activation's key have the spec's shape they must name the same
    /// (transaction, item): an outcome sent under another item's key would
    /// collide with that item's own outcome.
    pub fn notice_outcome(&mut self, terminal_id: &str, key: &str, body: &[u8]) -> Answer {
        #[derive(Deserialize)]
        struct Req {
            payment_token: String,
            outcome: String,
            paid_at: Option<String>,
            receipt_number: Option<String>,
            fee_cents: Option<u64>,
            reason: Option<String>,
        }
        let req: Req = match parse_body(body) {
            Ok(r) => r,
            Err(a) => return a,
        };
        let kind = match req.outcome.as_str() {
            "OK" => {
                let (Some(paid_at), Some(_), Some(_)) =
                    (&req.paid_at, &req.receipt_number, req.fee_cents)
                else {
                    return Answer::bad_request(
                        "an OK outcome needs paid_at, receipt_number and fee_cents",
                    );
                };
                if let Err(a) = parse_rfc3339("paid_at", paid_at) {
                    return a;
                }
                OutcomeKind::Ok
            }
            "KO" => {
                if req.paid_at.is_some() || req.receipt_number.is_some() || req.fee_cents.is_some()
                {
                    return Answer::bad_request(
                        "a KO outcome carries only payment_token, outcome and reason",
                    );
                }
                OutcomeKind::Ko
            }
            other => {
                return Answer::bad_request(format!("outcome must be OK or KO, not {other:?}"))
            }
        };
        let now = self.now();
        let Some(activation) = self.activations.get(&req.payment_token).cloned() else {
            return Answer::error(404, "unknown_payment_token", "unknown payment token");
        };
        let outcome_item = ItemRef::from_notice_key(key, ":outcome");
        if let (Some(activated), Some(reported)) = (&activation.item, &outcome_item) {
            if activated != reported {
                return Answer::bad_request(format!(
                    "this payment token was activated for {}, but the outcome's Idempotency-Key {key:?} names {}",
                    activated.describe(),
                    reported.describe()
                ));
            }
        }
        if let Some(previous) = activation.outcome {
            // Reported already (under another key): same outcome is harmless.
            return if previous == kind {
                Answer::ok(json!({"status": "recorded"}))
            } else {
                Answer::error(
                    409,
                    "outcome_conflict",
                    "a different outcome was already recorded for this token",
                )
            };
        }
        if kind == OutcomeKind::Ok && activation.expires_at <= now {
            return Answer::error(409, "token_expired", "payment token expired");
        }
        // A KO on an expired token is accepted: the notice is free either way.
        if let Some(a) = self.activations.get_mut(&req.payment_token) {
            a.outcome = Some(kind);
        }
        if kind == OutcomeKind::Ok {
            if let Some(n) = self.notices.get_mut(&activation.notice_number) {
                n.status = NoticeStatus::Paid;
            }
        }
        let item = activation.item.or(outcome_item);
        self.notice_outcomes.push(NoticeOutcomeRecord {
            terminal_id: terminal_id.to_string(),
            transaction_id: item.as_ref().map(|i| i.transaction_id.clone()),
            item: item.map(|i| i.item),
            idempotency_key: key.to_string(),
            payment_token: req.payment_token,
            notice_number: activation.notice_number,
            creditor_fiscal_code: activation.creditor_cf,
            amount_cents: activation.amount_cents,
            outcome: req.outcome,
            paid_at: req.paid_at,
            receipt_number: req.receipt_number,
            fee_cents: req.fee_cents,
            reason: req.reason,
        });
        Answer::ok(json!({"status": "recorded"}))
    }

    /// `POST /v1/closures`: counts what this terminal had applied in
    /// `[from, to)` by `paid_at` (one per credited recharge item, one per
    /// `OK` outcome: items, as the counter must count them), answers
    /// `matched` or `mismatch`, and keeps the closure with its journal
    /// witness.
    pub fn closure(&mut self, terminal_id: &str, body: &[u8]) -> Answer {
        #[derive(Deserialize)]
        struct Req {
            closure_id: String,
            from: String,
            to: String,
            count: u64,
            total_cents: u64,
            first_receipt: Option<String>,
            last_receipt: Option<String>,
            #[serde(default)]
            journal_entries: Option<u64>,
            #[serde(default)]
            journal_head: Option<String>,
        }
        let req: Req = match parse_body(body) {
            Ok(r) => r,
            Err(a) => return a,
        };
        let (from, to) = match (
            parse_rfc3339("from", &req.from),
            parse_rfc3339("to", &req.to),
        ) {
            (Ok(f), Ok(t)) => (f, t),
            (Err(a), _) | (_, Err(a)) => return a,
        };
        let in_period = |paid_at: &str| {
            OffsetDateTime::parse(paid_at, &Rfc3339).is_ok_and(|t| t >= from && t < to)
        };
        let mut server_count = 0u64;
        let mut server_total_cents = 0u64;
        for r in self
            .recharges
            .iter()
            .filter(|r| r.terminal_id == terminal_id && in_period(&r.paid_at))
        {
            server_count += 1;
            server_total_cents += r.amount_cents;
        }
        for o in self.notice_outcomes.iter().filter(|o| {
            o.terminal_id == terminal_id
                && o.outcome == "OK"
                && o.paid_at.as_deref().is_some_and(in_period)
        }) {
            server_count += 1;
            server_total_cents += o.amount_cents;
        }
        let matched = server_count == req.count && server_total_cents == req.total_cents;
        self.closures.push(ClosureRecord {
            terminal_id: terminal_id.to_string(),
            closure_id: req.closure_id,
            from: req.from,
            to: req.to,
            count: req.count,
            total_cents: req.total_cents,
            first_receipt: req.first_receipt,
            last_receipt: req.last_receipt,
            matched,
            server_count,
            server_total_cents,
            journal_entries: req.journal_entries,
            journal_head: req.journal_head,
        });
        if matched {
            Answer::ok(json!({"status": "matched"}))
        } else {
            Answer::ok(json!({
                "status": "mismatch",
                "server_count": server_count,
                "server_total_cents": server_total_cents,
            }))
        }
    }
}
