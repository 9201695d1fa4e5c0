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

/// The most items one transaction holds: pagoPA lets a PSP collect up to
/// five notices in one payment, and a family's children fit well within.
pub const MAX_ITEMS: usize = 5;

/// One thing paid in a transaction: a recharge of one consumer's service or
/// one pagoPA notice (agent-api.md, "Several items in one payment"). Each
/// item is credited at the backend on its own, under its own key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Item {
    /// 1, 2, ... in the order added; never reused within a transaction (a
    /// removed item leaves a hole), because the backend keys item `n`'s
    /// credit by it.
    pub n: u32,
    pub kind: TxKind,
    pub service: Option<Service>,
    pub creditor: Option<Creditor>,
    pub consumer: Option<Consumer>,
    pub notice: Option<NoticeInfo>,
    pub amount_cents: Option<i64>,
    pub limits: Option<Limits>,
    pub fee_cents: i64,
    pub offline: bool,
    /// The balance the backend reported when the code was resolved (null
    /// offline and for notices): the portal's "Saldo".
    #[serde(default)]
    pub balance_cents: Option<i64>,
    pub sync: Option<SyncState>,
    /// Internal: the balance the backend answered when it credited this
    /// recharge, printed on the receipt when it came before printing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credited_balance_cents: Option<i64>,
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
}

impl Item {
    /// An empty item `n` of `kind`, filled by the counter's rules.
    pub fn new(n: u32, kind: TxKind) -> Self {
        Item {
            n,
            kind,
            service: None,
            creditor: None,
            consumer: None,
            notice: None,
            amount_cents: None,
            limits: None,
            fee_cents: 0,
            offline: false,
            balance_cents: None,
            sync: None,
            credited_balance_cents: None,
            code: None,
            consumer_ref: None,
            payment_token: None,
            activation_sent: false,
            payment_token_expires_at: None,
        }
    }

    /// Amount plus fee; `None` until the amount is known.
    pub fn total_cents(&self) -> Option<i64> {
        self.amount_cents
            .and_then(|a| a.checked_add(self.fee_cents))
    }

    /// The item object of agent-api.md (internal fields left out).
    pub fn to_api(&self) -> Value {
        json!({
            "n": self.n,
            "kind": self.kind,
            "service": self.service,
            "creditor": self.creditor,
            "consumer": self.consumer,
            "notice": self.notice,
            "amount_cents": self.amount_cents,
            "limits": self.limits,
            "fee_cents": self.fee_cents,
            "offline": self.offline,
            "balance_cents": self.balance_cents,
            "sync": self.sync,
        })
    }
}

/// One transaction at the counter: 1 to [`MAX_ITEMS`] items (none while a
/// payer's codes wait to be chosen), one cash take, one receipt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(from = "StoredTransaction")]
pub struct Transaction {
    pub id: String,
    pub state: TxState,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    pub operator: String,
    /// In the order added.
    pub items: Vec<Item>,
    /// The highest item number ever given in this transaction.
    pub last_item: u32,
    #[serde(default)]
    pub choices: Vec<Value>,
    pub receipt_number: Option<String>,
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub paid_at: Option<OffsetDateTime>,
    pub tendered_cents: Option<i64>,
    pub change_cents: Option<i64>,
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

/// A transaction as stored: today's shape (`items`), or the shape written
/// before items (schema 5 and the journal entries of that time), whose
/// item fields sat at the top level. Journal entries are hash-chained and
/// never rewritten, so a receipt copy of an old payment reads this shape
/// for as long as the journal is kept.
#[derive(Deserialize)]
struct StoredTransaction {
    id: String,
    state: TxState,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
    operator: String,
    #[serde(default)]
    items: Option<Vec<Item>>,
    #[serde(default)]
    last_item: Option<u32>,
    #[serde(default)]
    choices: Vec<Value>,
    #[serde(default)]
    receipt_number: Option<String>,
    #[serde(with = "time::serde::rfc3339::option", default)]
    paid_at: Option<OffsetDateTime>,
    #[serde(default)]
    tendered_cents: Option<i64>,
    #[serde(default)]
    change_cents: Option<i64>,
    #[serde(default)]
    resolved_choices: Vec<pos_backend::PaymentCode>,
    #[serde(default)]
    void_reason: Option<String>,
    #[serde(default)]
    utc_offset: Option<String>,
    // The single item of the shape before items.
    #[serde(default)]
    kind: Option<TxKind>,
    #[serde(default)]
    service: Option<Service>,
    #[serde(default)]
    creditor: Option<Creditor>,
    #[serde(default)]
    consumer: Option<Consumer>,
    #[serde(default)]
    notice: Option<NoticeInfo>,
    #[serde(default)]
    amount_cents: Option<i64>,
    #[serde(default)]
    limits: Option<Limits>,
    #[serde(default)]
    fee_cents: i64,
    #[serde(default)]
    offline: bool,
    #[serde(default)]
    sync: Option<SyncState>,
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    consumer_ref: Option<String>,
    #[serde(default)]
    payment_token: Option<String>,
    #[serde(default)]
    activation_sent: bool,
    #[serde(with = "time::serde::rfc3339::option", default)]
    payment_token_expires_at: Option<OffsetDateTime>,
}

impl From<StoredTransaction> for Transaction {
    fn from(s: StoredTransaction) -> Self {
        let items = match s.items {
            Some(items) => items,
            // Before items: one item, unless the payer's codes were still
            // waiting to be chosen (nothing identified yet).
            None if s.service.is_some()
                || s.notice.is_some()
                || s.creditor.is_some()
                || s.code.is_some() =>
            {
                vec![Item {
                    n: 1,
                    kind: s.kind.unwrap_or(TxKind::Recharge),
                    service: s.service,
                    creditor: s.creditor,
                    consumer: s.consumer,
                    notice: s.notice,
                    amount_cents: s.amount_cents,
                    limits: s.limits,
                    fee_cents: s.fee_cents,
                    offline: s.offline,
                    balance_cents: None,
                    sync: s.sync,
                    credited_balance_cents: None,
                    code: s.code,
                    consumer_ref: s.consumer_ref,
                    payment_token: s.payment_token,
                    activation_sent: s.activation_sent,
                    payment_token_expires_at: s.payment_token_expires_at,
                }]
            }
            None => vec![],
        };
        let last_item = s
            .last_item
            .unwrap_or(0)
            .max(items.iter().map(|i| i.n).max().unwrap_or(0));
        Transaction {
            id: s.id,
            state: s.state,
            created_at: s.created_at,
            operator: s.operator,
            items,
            last_item,
            choices: s.choices,
            receipt_number: s.receipt_number,
            paid_at: s.paid_at,
            tendered_cents: s.tendered_cents,
            change_cents: s.change_cents,
            resolved_choices: s.resolved_choices,
            void_reason: s.void_reason,
            utc_offset: s.utc_offset,
        }
    }
}

impl Transaction {
    /// A new transaction at `identified`, with no item yet.
    pub fn new(id: String, operator: &str, created_at: OffsetDateTime) -> Self {
        Transaction {
            id,
            state: TxState::Identified,
            created_at,
            operator: operator.to_string(),
            items: vec![],
            last_item: 0,
            choices: vec![],
            receipt_number: None,
            paid_at: None,
            tendered_cents: None,
            change_cents: None,
            resolved_choices: vec![],
            void_reason: None,
            utc_offset: None,
        }
    }

    /// A new, empty item with the next number, added at the end; its
    /// number is returned. The caller checked [`MAX_ITEMS`].
    pub fn push_item(&mut self, kind: TxKind) -> &mut Item {
        self.last_item += 1;
        self.items.push(Item::new(self.last_item, kind));
        let last = self.items.len() - 1;
        &mut self.items[last]
    }

    /// Item `n`, if it is (still) in the transaction.
    pub fn item(&self, n: u32) -> Option<&Item> {
        self.items.iter().find(|i| i.n == n)
    }

    /// Item `n`, to change it.
    pub fn item_mut(&mut self, n: u32) -> Option<&mut Item> {
        self.items.iter_mut().find(|i| i.n == n)
    }

    /// The first item still present: what the top-level fields show.
    pub fn first(&self) -> Option<&Item> {
        self.items.first()
    }

    /// The first item's kind (`recharge` while none is chosen yet).
    pub fn kind(&self) -> TxKind {
        self.first().map_or(TxKind::Recharge, |i| i.kind)
    }

    /// The sum of the items' amounts; `None` while an item has none.
    pub fn amount_cents(&self) -> Option<i64> {
        if self.items.is_empty() {
            return None;
        }
        self.items
            .iter()
            .try_fold(0i64, |sum, i| sum.checked_add(i.amount_cents?))
    }

    /// The sum of the items' fees.
    pub fn fee_cents(&self) -> i64 {
        self.items.iter().map(|i| i.fee_cents).sum()
    }

    /// Amounts plus fees; `None` until every item has its amount (or if the
    /// sum would overflow, which the counter's bounds rule out).
    pub fn total_cents(&self) -> Option<i64> {
        self.amount_cents()
            .and_then(|a| a.checked_add(self.fee_cents()))
    }

    /// Whether any item was accepted offline.
    pub fn offline(&self) -> bool {
        self.items.iter().any(|i| i.offline)
    }

    /// What the items accepted offline add up to (amount and fee).
    pub fn offline_total_cents(&self) -> i64 {
        self.items
            .iter()
            .filter(|i| i.offline)
            .map(|i| i.total_cents().unwrap_or(0))
            .sum()
    }

    /// The transaction's sync state, derived from its items': `rejected`
    /// when any item is, `confirmed` when every item is, otherwise
    /// `pending`; `None` until paid.
    pub fn sync(&self) -> Option<SyncState> {
        if self.state != TxState::Paid {
            return None;
        }
        let states: Vec<SyncState> = self.items.iter().filter_map(|i| i.sync).collect();
        if states.contains(&SyncState::Rejected) {
            Some(SyncState::Rejected)
        } else if !states.is_empty()
            && states.len() == self.items.len()
            && states.iter().all(|s| *s == SyncState::Confirmed)
        {
            Some(SyncState::Confirmed)
        } else {
            Some(SyncState::Pending)
        }
    }

    /// Short id printed on receipts (first 8 hex digits of the UUID).
    pub fn short_id(&self) -> &str {
        self.id.get(..8).unwrap_or(&self.id)
    }

    /// The transaction object of agent-api.md: the items, their sums, and
    /// the first item's fields at the top level.
    pub fn to_api(&self) -> Value {
        let rfc = |t: &OffsetDateTime| crate::time_fmt::rfc3339(*t);
        let first = self.first();
        let mut v = json!({
            "id": self.id,
            "state": self.state,
            "kind": self.kind(),
            "created_at": rfc(&self.created_at),
            "operator": self.operator,
            "service": first.and_then(|i| i.service.as_ref()),
            "creditor": first.and_then(|i| i.creditor.as_ref()),
            "consumer": first.and_then(|i| i.consumer.as_ref()),
            "amount_cents": self.amount_cents(),
            "limits": first.and_then(|i| i.limits),
            "fee_cents": self.fee_cents(),
            "total_cents": self.total_cents(),
            "offline": first.is_some_and(|i| i.offline),
            "choices": self.choices,
            "receipt_number": self.receipt_number,
            "paid_at": self.paid_at.as_ref().map(rfc),
            "tendered_cents": self.tendered_cents,
            "change_cents": self.change_cents,
            "sync": self.sync(),
            "items": self.items.iter().map(Item::to_api).collect::<Vec<_>>(),
        });
        if let (Some(n), Some(obj)) = (first.and_then(|i| i.notice.as_ref()), v.as_object_mut()) {
            obj.insert("notice".into(), json!(n));
        }
        if let (Some(r), Some(obj)) = (&self.void_reason, v.as_object_mut()) {
            obj.insert("void_reason".into(), json!(r));
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_transaction_stored_before_items_reads_as_one_item() {
        let legacy = json!({
            "id": "t1", "state": "paid", "created_at": "2026-11-22T10:00:00Z",
            "operator": "op1", "kind": "notice", "amount_cents": 2550, "fee_cents": 100,
            "notice": {"notice_number": "301000000000012373", "iuv": "01000000000012373"},
            "creditor": {"fiscal_code": "00514490010", "name": "Comune"},
            "payment_token": "pt_1", "sync": "confirmed",
            "receipt_number": "T-1/2026/000001", "paid_at": "2026-11-22T10:01:00Z"
        });
        let t: Transaction = serde_json::from_value(legacy).unwrap();
        assert_eq!((t.items.len(), t.last_item), (1, 1));
        let i = &t.items[0];
        assert_eq!(
            (i.n, i.kind, i.amount_cents, i.fee_cents),
            (1, TxKind::Notice, Some(2550), 100)
        );
        assert_eq!(i.payment_token.as_deref(), Some("pt_1"));
        assert_eq!(t.sync(), Some(SyncState::Confirmed));
        // Written back in the items shape, it reads the same.
        let again: Transaction = serde_json::from_value(serde_json::to_value(&t).unwrap()).unwrap();
        assert_eq!(again, t);
        // A payer's transaction still waiting for its code has no item.
        let waiting = json!({"id": "t2", "state": "choose_code",
            "created_at": "2026-11-22T10:00:00Z", "operator": "op1"});
        let t: Transaction = serde_json::from_value(waiting).unwrap();
        assert!(t.items.is_empty());
    }

    #[test]
    fn sums_first_item_fields_and_sync_follow_the_items() {
        let mut t = Transaction::new("t".into(), "op", OffsetDateTime::UNIX_EPOCH);
        let a = t.push_item(TxKind::Recharge);
        a.amount_cents = Some(1_500);
        a.fee_cents = 50;
        a.service = Some(Service {
            id: "mensa".into(),
            name: "Mensa".into(),
        });
        t.push_item(TxKind::Notice);
        assert_eq!(t.amount_cents(), None, "item 2 has no amount yet");
        assert_eq!(t.to_api()["total_cents"], Value::Null);
        t.item_mut(2).unwrap().amount_cents = Some(2_550);
        let api = t.to_api();
        assert_eq!(
            (api["amount_cents"].as_i64(), api["total_cents"].as_i64()),
            (Some(4_050), Some(4_100))
        );
        assert_eq!(
            (api["kind"].as_str(), api["service"]["id"].as_str()),
            (Some("recharge"), Some("mensa"))
        );
        assert_eq!(api["items"][1]["n"], 2);
        assert_eq!(api["sync"], Value::Null, "not paid");
        t.state = TxState::Paid;
        t.items[0].sync = Some(SyncState::Confirmed);
        t.items[1].sync = Some(SyncState::Pending);
        assert_eq!(t.sync(), Some(SyncState::Pending));
        t.items[1].sync = Some(SyncState::Confirmed);
        assert_eq!(t.sync(), Some(SyncState::Confirmed));
        t.items[0].sync = Some(SyncState::Rejected);
        assert_eq!(t.sync(), Some(SyncState::Rejected), "any rejected item");
    }
}
