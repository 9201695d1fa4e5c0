//! The transaction as the agent keeps it, and as the local API shows it.
//!
//! One struct serves both: fields the API must not show (the consumer
//! reference, the code, the notice payment token) are skipped when it is
//! rendered with [`Transaction::to_api`].

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use time::OffsetDateTime;

/// Where a transaction is in the counter flow (agent-api.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TxState {
    ChooseCode,
    Identified,
    AmountSet,
    AwaitingCash,
    Paid,
    Voided,
}

impl TxState {
    pub fn as_str(self) -> &'static str {
        match self {
            TxState::ChooseCode => "choose_code",
            TxState::Identified => "identified",
            TxState::AmountSet => "amount_set",
            TxState::AwaitingCash => "awaiting_cash",
            TxState::Paid => "paid",
            TxState::Voided => "voided",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TxKind {
    Recharge,
    Notice,
}

/// The sync state of a paid transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SyncState {
    Pending,
    Confirmed,
    Rejected,
}

impl SyncState {
    pub fn as_str(self) -> &'static str {
        match self {
            SyncState::Pending => "pending",
            SyncState::Confirmed => "confirmed",
            SyncState::Rejected => "rejected",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Service {
    pub id: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Creditor {
    pub fiscal_code: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Consumer {
    pub display_name: String,
    #[serde(default)]
    pub school: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    pub min_cents: i64,
    pub max_cents: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoticeInfo {
    pub notice_number: String,
    pub iuv: String,
    pub description: Option<String>,
    pub due_date: Option<String>,
}

/// One transaction at the counter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Transaction {
    pub id: String,
    pub state: TxState,
    pub kind: TxKind,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    pub operator: String,
    pub service: Option<Service>,
    pub creditor: Option<Creditor>,
    pub consumer: Option<Consumer>,
    pub notice: Option<NoticeInfo>,
    pub amount_cents: Option<i64>,
    pub limits: Option<Limits>,
    pub fee_cents: i64,
    pub offline: bool,
    #[serde(default)]
    pub choices: Vec<Value>,
    pub receipt_number: Option<String>,
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub paid_at: Option<OffsetDateTime>,
    pub tendered_cents: Option<i64>,
    pub change_cents: Option<i64>,
    pub sync: Option<SyncState>,
    /// Internal: the payment code (app token or manual code) sent with the recharge.
    #[serde(default)]
    pub code: Option<String>,
    /// Internal: the backend's opaque consumer reference.
    #[serde(default)]
    pub consumer_ref: Option<String>,
    /// Internal: the pagoPA payment token of an activated notice.
    #[serde(default)]
    pub payment_token: Option<String>,
    /// Internal: an activation was sent (its answer may have been lost):
    /// a void then owes the backend a KO outcome all the same.
    #[serde(default)]
    pub activation_sent: bool,
    /// Internal: when that payment token expires.
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub payment_token_expires_at: Option<OffsetDateTime>,
    /// Internal: the payer's codes as the backend sent them (with the
    /// consumer reference), for `choose`. The API shows `choices` instead.
    #[serde(default)]
    pub resolved_choices: Vec<pos_backend::PaymentCode>,
    #[serde(default)]
    pub void_reason: Option<String>,
    /// Internal: the counter's UTC offset when it was paid (`+01:00`), so a
    /// copy printed months later shows the time the original showed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub utc_offset: Option<String>,
}

impl Transaction {
    /// A new transaction at `identified`, with nothing resolved yet.
    pub fn new(id: String, kind: TxKind, operator: &str, created_at: OffsetDateTime) -> Self {
        Transaction {
            id,
            state: TxState::Identified,
            kind,
            created_at,
            operator: operator.to_string(),
            service: None,
            creditor: None,
            consumer: None,
            notice: None,
            amount_cents: None,
            limits: None,
            fee_cents: 0,
            offline: false,
            choices: vec![],
            receipt_number: None,
            paid_at: None,
            tendered_cents: None,
            change_cents: None,
            sync: None,
            code: None,
            consumer_ref: None,
            payment_token: None,
            activation_sent: false,
            payment_token_expires_at: None,
            resolved_choices: vec![],
            void_reason: None,
            utc_offset: None,
        }
    }

    /// Amount plus fee; `None` until the amount is known (or if the sum
    /// would overflow, which the counter's bounds rule out).
    pub fn total_cents(&self) -> Option<i64> {
        self.amount_cents
            .and_then(|a| a.checked_add(self.fee_cents))
    }

    /// Short id printed on receipts (first 8 hex digits of the UUID).
    pub fn short_id(&self) -> &str {
        self.id.get(..8).unwrap_or(&self.id)
    }

    /// The transaction object of agent-api.md.
    pub fn to_api(&self) -> Value {
        let rfc = |t: &OffsetDateTime| crate::time_fmt::rfc3339(*t);
        let mut v = json!({
            "id": self.id,
            "state": self.state,
            "kind": self.kind,
            "created_at": rfc(&self.created_at),
            "operator": self.operator,
            "service": self.service,
            "creditor": self.creditor,
            "consumer": self.consumer,
            "amount_cents": self.amount_cents,
            "limits": self.limits,
            "fee_cents": self.fee_cents,
            "total_cents": self.total_cents(),
            "offline": self.offline,
            "choices": self.choices,
            "receipt_number": self.receipt_number,
            "paid_at": self.paid_at.as_ref().map(rfc),
            "tendered_cents": self.tendered_cents,
            "change_cents": self.change_cents,
            "sync": self.sync,
        });
        if let (Some(n), Some(obj)) = (&self.notice, v.as_object_mut()) {
            obj.insert("notice".into(), json!(n));
        }
        if let (Some(r), Some(obj)) = (&self.void_reason, v.as_object_mut()) {
            obj.insert("void_reason".into(), json!(r));
        }
        v
    }
}
