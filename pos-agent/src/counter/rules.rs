//! The transaction's rules, as functions of the transaction and the values
//! they need: no lock, no SQLite, no backend, no HTTP. `counter/mod.rs`
//! loads the transaction, reads what a rule needs (the offline total, the
//! clock), applies the rule and saves the result.
//!
//! A transaction holds 1 to [`MAX_ITEMS`] items (agent-api.md, "Several
//! items in one payment"); rules about one code or notice take the
//! [`Item`], rules about the cash take the [`Transaction`].

use time::OffsetDateTime;

use pos_backend::PaymentCode;
use serde_json::Value;

use super::error::{BadAnswer, CounterError, WrongState};
use super::{MAX_AMOUNT_CENTS, MAX_CHANGE_CENTS, PAYMENT_TOKEN_MARGIN};
use crate::model::{
    Consumer, Creditor, Item, Limits, NoticeInfo, Service, SyncState, Transaction, TxKind, TxState,
    MAX_ITEMS,
};
use crate::store::{OutboxDraft, StoreError};

/// What `[offline]` allows, and what already waits for the backend's
/// confirmation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OfflineBudget {
    pub max_transaction_cents: i64,
    pub max_total_cents: i64,
    pub pending_cents: i64,
}

/// Fill a recharge item from the backend's payment code: an active code
/// whose limits the counter can handle (amount + fee can never overflow).
pub fn apply_payment_code(item: &mut Item, pc: &PaymentCode) -> Result<(), CounterError> {
    if !pc.is_active() {
        return Err(CounterError::CodeNotActive);
    }
    let bad = CounterError::BadBackendAnswer(BadAnswer::PaymentCode);
    let (Ok(min), Ok(max)) = (
        i64::try_from(pc.limits.min_cents),
        i64::try_from(pc.limits.max_cents),
    ) else {
        return Err(bad);
    };
    if max < min || max > MAX_AMOUNT_CENTS {
        return Err(bad);
    }
    item.kind = TxKind::Recharge;
    item.code = Some(pc.code.clone());
    item.service = Some(Service {
        id: pc.service.id.clone(),
        name: pc.service.name.clone(),
    });
    item.creditor = Some(Creditor {
        fiscal_code: pc.creditor.fiscal_code.clone(),
        name: pc.creditor.name.clone(),
    });
    item.consumer = Some(Consumer {
        display_name: pc.consumer.display_name.clone(),
        school: pc.consumer.school.clone(),
    });
    item.consumer_ref = Some(pc.consumer.consumer_ref.clone());
    item.limits = Some(Limits {
        min_cents: min,
        max_cents: max,
    });
    // The balance as the portal shows it ("Saldo"); a balance the counter
    // could not add to is left out rather than printed wrong.
    item.balance_cents = Some(pc.balance_cents).filter(|b| b.abs() <= MAX_AMOUNT_CENTS);
    Ok(())
}

/// An app token accepted while the backend cannot be reached: its signature
/// is enough to take the cash within `1 cent ..= offline.max_transaction_cents`
/// (the token carries no limits), and the recharge says it was offline.
pub fn accept_offline(item: &mut Item, token: &pos_codes::AppToken, max_transaction_cents: i64) {
    item.kind = TxKind::Recharge;
    item.offline = true;
    item.code = Some(token.as_str().to_string());
    item.service = Some(Service {
        id: token.service().to_string(),
        name: crate::printing::receipts::service_name(token.service()).to_string(),
    });
    item.creditor = Some(Creditor {
        fiscal_code: token.creditor().as_str().to_string(),
        name: String::new(),
    });
    item.consumer_ref = Some(token.consumer_ref().to_string());
    item.limits = Some(Limits {
        min_cents: 1,
        max_cents: max_transaction_cents,
    });
}

/// A notice the creditor verified: only `payable` goes on, at the verified
/// amount (1 cent to the 11 digits of the notice's amount field) plus the
/// notice fee.
pub fn apply_verified_notice(
    item: &mut Item,
    n: &pos_codes::Notice,
    v: &pos_backend::NoticeVerifyResponse,
    fee_cents: i64,
) -> Result<(), CounterError> {
    if v.status != pos_backend::NoticeStatus::Payable {
        return Err(CounterError::NoticeNotPayable { status: v.status });
    }
    let amount = i64::try_from(v.amount_cents)
        .ok()
        .filter(|a| (1..=MAX_AMOUNT_CENTS).contains(a))
        .ok_or(CounterError::BadBackendAnswer(BadAnswer::NoticeAmount))?;
    item.kind = TxKind::Notice;
    item.creditor = Some(Creditor {
        fiscal_code: v.creditor.fiscal_code.clone(),
        name: v.creditor.name.clone(),
    });
    item.notice = Some(NoticeInfo {
        notice_number: n.notice_number.as_str().to_string(),
        iuv: n.notice_number.iuv().to_string(),
        description: Some(v.description.clone()).filter(|d| !d.is_empty()),
        due_date: v.due_date.map(|d| d.to_string()),
    });
    item.amount_cents = Some(amount);
    item.fee_cents = fee_cents;
    Ok(())
}

/// Room for one more item: at most [`MAX_ITEMS`] (pagoPA's five notices
/// per payment).
pub fn check_room(t: &Transaction, adding: usize) -> Result<(), CounterError> {
    if t.items.len() + adding > MAX_ITEMS {
        return Err(CounterError::TooManyItems { max: MAX_ITEMS });
    }
    Ok(())
}

/// The same consumer's service, or the same notice, is paid once per
/// transaction: twice is a double scan, not a wish to pay twice.
pub fn check_not_duplicate(t: &Transaction, candidate: &Item) -> Result<(), CounterError> {
    let same = |i: &Item| match (&i.notice, &candidate.notice) {
        (Some(a), Some(b)) => a.notice_number == b.notice_number,
        (None, None) => {
            i.consumer_ref.is_some()
                && i.consumer_ref == candidate.consumer_ref
                && i.service.as_ref().map(|s| &s.id) == candidate.service.as_ref().map(|s| &s.id)
        }
        _ => false,
    };
    match t.items.iter().find(|i| same(i)) {
        Some(i) => Err(CounterError::DuplicateItem { n: i.n }),
        None => Ok(()),
    }
}

/// Add a resolved item: room for it, not a duplicate; it gets the next
/// number, and the transaction's state follows its items ([`settle_state`]).
pub fn add_item(t: &mut Transaction, mut item: Item) -> Result<u32, CounterError> {
    check_room(t, 1)?;
    check_not_duplicate(t, &item)?;
    t.last_item += 1;
    item.n = t.last_item;
    t.items.push(item);
    settle_state(t);
    Ok(t.last_item)
}

/// `amount_set` while every item has its amount, `identified` otherwise
/// (a changed cart needs a new pre-receipt).
pub fn settle_state(t: &mut Transaction) {
    t.state = if !t.items.is_empty() && t.items.iter().all(|i| i.amount_cents.is_some()) {
        TxState::AmountSet
    } else {
        TxState::Identified
    };
}

/// Whether items may be added now: before the pre-receipt's cash is taken.
pub fn check_can_add(t: &Transaction) -> Result<(), CounterError> {
    match t.state {
        TxState::Identified | TxState::AmountSet => Ok(()),
        TxState::Voided => Err(WrongState::Voided.into()),
        TxState::Paid => Err(WrongState::AlreadyPaid.into()),
        s => Err(WrongState::ItemsLocked(s).into()),
    }
}

/// A payer's codes: the transaction waits in `choose_code`; the API shows
/// each code without the backend's consumer reference.
pub fn offer_choices(t: &mut Transaction, codes: Vec<PaymentCode>) {
    t.state = TxState::ChooseCode;
    t.choices.clear();
    t.resolved_choices.clear();
    for code in codes {
        let mut shown = serde_json::to_value(&code).unwrap_or(Value::Null);
        if let Some(c) = shown.get_mut("consumer").and_then(Value::as_object_mut) {
            c.remove("ref");
        }
        t.choices.push(shown);
        t.resolved_choices.push(code);
    }
}

/// `choose_code` → `identified` with one item per chosen code of the
/// payer's, all or nothing.
pub fn choose(t: &mut Transaction, codes: &[&str]) -> Result<(), CounterError> {
    check_choose(t)?;
    if codes.is_empty() {
        // None of the payer's codes: a health card read by mistake in a
        // cart leaves the cart as it was; a transaction with nothing else
        // in it is voided instead.
        if t.items.is_empty() {
            return Err(CounterError::UnknownChoice);
        }
        t.choices.clear();
        t.resolved_choices.clear();
        settle_state(t);
        return Ok(());
    }
    check_room(t, codes.len())?;
    let mut next = t.clone();
    for code in codes {
        let picked = next
            .resolved_choices
            .iter()
            .find(|c| c.code == *code)
            .cloned()
            .ok_or(CounterError::UnknownChoice)?;
        let mut item = Item::new(0, TxKind::Recharge);
        apply_payment_code(&mut item, &picked)?;
        add_item(&mut next, item)?;
    }
    next.choices.clear();
    next.resolved_choices.clear();
    settle_state(&mut next);
    *t = next;
    Ok(())
}

/// The activation of notice item `item`: the same bytes and key every
/// time, so a replay gets the first answer back.
pub fn activate_request(
    tx_id: &str,
    item: &Item,
) -> Result<pos_backend::PreparedRequest, CounterError> {
    let (Some(n), Some(c), Some(amount)) = (&item.notice, &item.creditor, item.amount_cents) else {
        return Err(CounterError::IncompleteNotice);
    };
    Ok(pos_backend::PreparedRequest::activate_item(
        tx_id,
        item.n,
        &pos_backend::ActivateRequest {
            creditor_fiscal_code: c.fiscal_code.clone(),
            notice_number: n.notice_number.clone(),
            amount_cents: amount.max(0) as u64,
        },
    ))
}

/// The requests that tell the backend about a payment, one per item: the
/// recharge, or the notice's `OK` outcome. Built once, stored in the outbox
/// with the payment, and replayed byte for byte.
pub fn payment_drafts(t: &Transaction) -> Result<Vec<OutboxDraft>, StoreError> {
    t.items.iter().map(|i| payment_draft(t, i)).collect()
}

fn payment_draft(t: &Transaction, item: &Item) -> Result<OutboxDraft, StoreError> {
    let missing = |what: &str| StoreError::Corrupt(format!("payment without {what}"));
    let paid_at = t.paid_at.ok_or_else(|| missing("paid_at"))?;
    let receipt_number = t.receipt_number.clone().ok_or_else(|| missing("receipt"))?;
    let (purpose, req) = match item.kind {
        TxKind::Recharge => (
            "recharge",
            pos_backend::PreparedRequest::recharge(&pos_backend::RechargeRequest {
                transaction_id: t.id.clone(),
                item: item.n,
                code: item.code.clone().ok_or_else(|| missing("code"))?,
                service_id: item
                    .service
                    .as_ref()
                    .map(|s| s.id.clone())
                    .ok_or_else(|| missing("service"))?,
                consumer_ref: item
                    .consumer_ref
                    .clone()
                    .ok_or_else(|| missing("consumer"))?,
                creditor_fiscal_code: item
                    .creditor
                    .as_ref()
                    .map(|c| c.fiscal_code.clone())
                    .ok_or_else(|| missing("creditor"))?,
                amount_cents: item.amount_cents.ok_or_else(|| missing("amount"))?.max(0) as u64,
                fee_cents: item.fee_cents.max(0) as u64,
                paid_at,
                receipt_number,
                operator_id: t.operator.clone(),
                offline: item.offline,
            }),
        ),
        TxKind::Notice => (
            "outcome_ok",
            pos_backend::PreparedRequest::outcome_item(
                &t.id,
                item.n,
                &pos_backend::OutcomeRequest::Ok {
                    payment_token: item
                        .payment_token
                        .clone()
                        .ok_or_else(|| missing("payment token"))?,
                    paid_at,
                    receipt_number,
                    fee_cents: item.fee_cents.max(0) as u64,
                },
            ),
        ),
    };
    Ok(OutboxDraft::from_request(purpose, req).for_item(item.n))
}

/// What a void owes the backend, queued with it: every notice item's KO
/// ([`item_void_requests`]). Nothing for recharges.
pub fn void_requests(t: &Transaction, reason: Option<&str>) -> Vec<OutboxDraft> {
    t.items
        .iter()
        .flat_map(|i| item_void_requests(&t.id, i, reason))
        .collect()
}

/// What dropping one notice item owes the backend: the KO outcome for its
/// payment token (every activation gets an outcome), or, when the
/// activation's answer was lost, the activation replayed (same key and
/// bytes) so its KO can follow. Nothing for a recharge or a notice never
/// activated.
pub fn item_void_requests(tx_id: &str, item: &Item, reason: Option<&str>) -> Vec<OutboxDraft> {
    let mut queued = vec![];
    if item.kind != TxKind::Notice {
        return queued;
    }
    if let Some(token) = item.payment_token.clone() {
        let req = pos_backend::PreparedRequest::outcome_item(
            tx_id,
            item.n,
            &pos_backend::OutcomeRequest::Ko {
                payment_token: token,
                reason: reason.filter(|r| !r.is_empty()).map(str::to_string),
            },
        );
        queued.push(OutboxDraft::from_request("outcome_ko", req).for_item(item.n));
    } else if item.activation_sent {
        // The activation's answer was lost: replay it from the outbox
        // (same key and bytes: the backend answers with the first
        // activation, if it applied one), then the KO follows.
        if let Ok(req) = activate_request(tx_id, item) {
            queued.push(OutboxDraft::from_request("activate_for_ko", req).for_item(item.n));
        }
    }
    queued
}

/// Item `n` leaves unpaid `t`: the transaction without it (back to
/// `identified` or `amount_set`: a new pre-receipt is needed) and what that
/// owes the backend (an activated notice's KO). The last item cannot be
/// removed: that is a void.
pub fn remove_item(
    t: &Transaction,
    n: u32,
) -> Result<(Transaction, Vec<OutboxDraft>), CounterError> {
    match t.state {
        TxState::Paid => return Err(WrongState::AlreadyPaid.into()),
        TxState::Voided => return Err(WrongState::Voided.into()),
        _ => {}
    }
    let item = t.item(n).ok_or(CounterError::UnknownItem { n })?;
    if t.items.len() == 1 {
        return Err(WrongState::LastItem.into());
    }
    let queued = item_void_requests(&t.id, item, Some("voce tolta dal pagamento"));
    let mut next = t.clone();
    next.items.retain(|i| i.n != n);
    if next.state != TxState::ChooseCode {
        settle_state(&mut next);
    }
    Ok((next, queued))
}

/// The receipt series is per year of the counter's own calendar: a
/// payment at 00:30 on 1 January (CET) belongs to the new year.
pub fn receipt_year(paid_at: OffsetDateTime) -> i32 {
    crate::time_fmt::local(paid_at).year()
}

/// `T-000123/2026/000042`: the terminal, the year of the series, the
/// number in it (gapless: the store allocates it in the payment's own
/// SQLite transaction).
pub fn receipt_number(terminal_id: &str, year: i32, number: i64) -> String {
    format!("{terminal_id}/{year}/{number:06}")
}

/// `awaiting_cash` → `paid`: the receipt number, the time (whole seconds)
/// and the counter's UTC offset then (a copy shows the time the original
/// showed), the cash and the change, every item `sync: pending`. The caller
/// checked the payment ([`check_payment`]); a transaction without an
/// amount, or change that does not fit, is a corrupt record.
pub fn mark_paid(
    t: &Transaction,
    receipt_number: String,
    paid_at: OffsetDateTime,
    tendered_cents: i64,
) -> Result<Transaction, StoreError> {
    let total = t
        .total_cents()
        .ok_or_else(|| StoreError::Corrupt("paying a transaction without an amount".into()))?;
    let mut paid = t.clone();
    paid.state = TxState::Paid;
    paid.receipt_number = Some(receipt_number);
    paid.paid_at = Some(paid_at.replace_nanosecond(0).unwrap_or(paid_at));
    paid.tendered_cents = Some(tendered_cents);
    paid.change_cents = Some(
        tendered_cents
            .checked_sub(total)
            .ok_or_else(|| StoreError::Corrupt("change out of range".into()))?,
    );
    for item in &mut paid.items {
        item.sync = Some(SyncState::Pending);
    }
    paid.utc_offset = Some(crate::time_fmt::offset_text(
        crate::time_fmt::local(paid_at).offset(),
    ));
    Ok(paid)
}

/// Which item an `amount` call sets: the one named, or, when none is, the
/// only item, or the only item without an amount yet.
pub fn amount_target(t: &Transaction, item: Option<u32>) -> Result<u32, CounterError> {
    // The state first: while a payer's codes wait to be chosen, or once
    // paid or voided, no item takes an amount, whichever is named.
    if !matches!(
        t.state,
        TxState::Identified | TxState::AmountSet | TxState::AwaitingCash
    ) {
        return Err(WrongState::AmountLocked(t.state).into());
    }
    if let Some(n) = item {
        return t
            .item(n)
            .map(|i| i.n)
            .ok_or(CounterError::UnknownItem { n });
    }
    if let [only] = t.items.as_slice() {
        return Ok(only.n);
    }
    let mut without = t.items.iter().filter(|i| i.amount_cents.is_none());
    match (without.next(), without.next()) {
        (Some(i), None) => Ok(i.n),
        _ => Err(CounterError::ItemRequired),
    }
}

/// Whether item `n`'s amount may be set now: a recharge (a notice's amount
/// is the creditor's), not paid or voided, within the code's limits.
pub fn check_amount(t: &Transaction, n: u32, amount_cents: i64) -> Result<(), CounterError> {
    if !matches!(
        t.state,
        TxState::Identified | TxState::AmountSet | TxState::AwaitingCash
    ) {
        return Err(WrongState::AmountLocked(t.state).into());
    }
    let item = t.item(n).ok_or(CounterError::UnknownItem { n })?;
    if item.kind != TxKind::Recharge {
        return Err(WrongState::NoticeAmountFixed.into());
    }
    let limits = item.limits.unwrap_or(Limits {
        min_cents: 1,
        max_cents: i64::MAX,
    });
    if amount_cents < limits.min_cents || amount_cents > limits.max_cents {
        return Err(CounterError::AmountOutOfLimits {
            amount_cents,
            limits,
        });
    }
    Ok(())
}

/// The items accepted offline stay within `[offline]`: their sum in one
/// transaction (`offline_cents`, amount and fee), and in total with what
/// already waits for confirmation.
pub fn check_offline_amount(offline_cents: i64, budget: OfflineBudget) -> Result<(), CounterError> {
    if offline_cents > budget.max_transaction_cents
        || budget.pending_cents.saturating_add(offline_cents) > budget.max_total_cents
    {
        return Err(CounterError::OfflineLimitExceeded {
            max_transaction_cents: budget.max_transaction_cents,
            max_total_cents: budget.max_total_cents,
            pending_cents: budget.pending_cents,
        });
    }
    Ok(())
}

/// Item `n` gets its amount and fee; the transaction is `amount_set` once
/// every item has one (a new amount needs a new pre-receipt).
pub fn apply_amount(t: &mut Transaction, n: u32, amount_cents: i64, fee_cents: i64) {
    if let Some(item) = t.item_mut(n) {
        item.amount_cents = Some(amount_cents);
        item.fee_cents = fee_cents;
    }
    settle_state(t);
}

/// Whether the pre-receipt can be printed now.
pub fn check_pre_receipt(t: &Transaction) -> Result<(), CounterError> {
    match t.state {
        TxState::AmountSet | TxState::AwaitingCash => Ok(()),
        TxState::Identified | TxState::ChooseCode => Err(WrongState::AmountMissing.into()),
        TxState::Voided => Err(WrongState::Voided.into()),
        s => Err(WrongState::PreReceiptUnavailable(s).into()),
    }
}

/// Whether `tendered_cents` pays `t` now; the total to pay when it does. A
/// paid transaction is the caller's (a repeated `pay` answers the first).
pub fn check_payment(t: &Transaction, tendered_cents: i64) -> Result<i64, CounterError> {
    if t.state != TxState::AwaitingCash {
        return Err(match t.state {
            TxState::Voided => WrongState::Voided,
            _ => WrongState::PreReceiptFirst,
        }
        .into());
    }
    let total = t.total_cents().ok_or(WrongState::AmountMissing)?;
    if tendered_cents < total {
        return Err(CounterError::TenderedTooLow {
            total_cents: total,
            tendered_cents,
        });
    }
    if tendered_cents - total > MAX_CHANGE_CENTS {
        return Err(CounterError::TenderedTooHigh {
            total_cents: total,
            tendered_cents,
        });
    }
    Ok(total)
}

/// Paying the offline items keeps what waits for confirmation within
/// `offline.max_total_cents`.
pub fn check_offline_total(offline_cents: i64, budget: OfflineBudget) -> Result<(), CounterError> {
    if budget.pending_cents.saturating_add(offline_cents) > budget.max_total_cents {
        return Err(CounterError::OfflineTotalExceeded {
            max_total_cents: budget.max_total_cents,
            pending_cents: budget.pending_cents,
        });
    }
    Ok(())
}

/// Every notice item's payment token must outlive the OK outcome's
/// delivery: expired, or less than [`PAYMENT_TOKEN_MARGIN`] left, refuses
/// the cash.
pub fn check_payment_token(t: &Transaction, now: OffsetDateTime) -> Result<(), CounterError> {
    for exp in t.items.iter().filter_map(|i| i.payment_token_expires_at) {
        let left = exp - now;
        if !left.is_positive() {
            return Err(CounterError::PaymentTokenExpired);
        }
        if left < PAYMENT_TOKEN_MARGIN {
            // The OK outcome must reach the backend before the token
            // expires, or the payment is refused after the cash is in
            // the drawer and the parent must be refunded.
            return Err(CounterError::PaymentTokenExpiring { expires_at: exp });
        }
    }
    Ok(())
}

/// A paid transaction cannot be voided (the cash is in the drawer and the
/// backend is told); any other can, a voided one again (nothing happens).
pub fn check_void(t: &Transaction) -> Result<(), CounterError> {
    if t.state == TxState::Paid {
        return Err(WrongState::AlreadyPaid.into());
    }
    Ok(())
}

/// `choose` is for a payer's transaction still waiting for its code.
pub fn check_choose(t: &Transaction) -> Result<(), CounterError> {
    if t.state != TxState::ChooseCode {
        return Err(WrongState::AlreadyChosen.into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tx(kind: TxKind, state: TxState) -> Transaction {
        let mut t = Transaction::new("t".into(), "op", OffsetDateTime::UNIX_EPOCH);
        t.push_item(kind);
        t.state = state;
        t
    }

    fn recharge_item(amount: Option<i64>, fee: i64) -> Item {
        let mut i = Item::new(0, TxKind::Recharge);
        i.limits = Some(Limits {
            min_cents: 500,
            max_cents: 30_000,
        });
        i.amount_cents = amount;
        i.fee_cents = fee;
        i
    }

    fn recharge(state: TxState, amount: Option<i64>, fee: i64) -> Transaction {
        let mut t = Transaction::new("t".into(), "op", OffsetDateTime::UNIX_EPOCH);
        let mut i = recharge_item(amount, fee);
        i.n = 1;
        t.items.push(i);
        t.last_item = 1;
        t.state = state;
        t
    }

    fn code(code: &str, max_cents: u64) -> PaymentCode {
        serde_json::from_value(serde_json::json!({"code": code, "status": "active",
            "service": {"id": "mensa", "name": "Refezione scolastica"},
            "creditor": {"fiscal_code": "00514490010", "name": "Comune di Balangero"},
            "consumer": {"ref": format!("ref_{code}"), "display_name": "M*** R***"},
            "balance_cents": 0, "limits": {"min_cents": 500, "max_cents": max_cents}}))
        .unwrap()
    }

    #[test]
    fn a_payers_codes_are_shown_without_the_reference_and_one_is_chosen() {
        let mut t = Transaction::new("t".into(), "op", OffsetDateTime::UNIX_EPOCH);
        offer_choices(&mut t, vec![code("A1", 30_000), code("B2", 20_000)]);
        assert_eq!(t.state, TxState::ChooseCode);
        assert_eq!(t.choices.len(), 2);
        assert!(t.choices.iter().all(|c| c["consumer"].get("ref").is_none()));
        assert_eq!(t.choices[1]["code"], "B2");
        assert_eq!(t.resolved_choices[1].consumer.consumer_ref, "ref_B2");

        assert!(matches!(
            choose(&mut t.clone(), &["C3"]),
            Err(CounterError::UnknownChoice)
        ));
        choose(&mut t, &["B2"]).unwrap();
        assert_eq!(t.state, TxState::Identified);
        assert_eq!(t.items.len(), 1);
        assert_eq!(t.items[0].consumer_ref.as_deref(), Some("ref_B2"));
        assert_eq!(t.items[0].limits.map(|l| l.max_cents), Some(20_000));
        assert!(matches!(
            choose(&mut t, &["A1"]),
            Err(CounterError::InvalidState(WrongState::AlreadyChosen))
        ));
        // A card read into a cart by mistake: choosing none leaves the cart.
        let before = t.clone();
        offer_choices(&mut t, vec![code("A1", 30_000)]);
        choose(&mut t, &[]).unwrap();
        assert_eq!(t, before);
        let mut only_card = Transaction::new("u".into(), "op", OffsetDateTime::UNIX_EPOCH);
        offer_choices(&mut only_card, vec![code("A1", 30_000)]);
        assert!(matches!(
            choose(&mut only_card, &[]),
            Err(CounterError::UnknownChoice)
        ));
        // A stored transaction reads back with its typed choices.
        let mut waiting = Transaction::new("t".into(), "op", OffsetDateTime::UNIX_EPOCH);
        offer_choices(&mut waiting, vec![code("A1", 30_000)]);
        let back: Transaction =
            serde_json::from_value(serde_json::to_value(&waiting).unwrap()).unwrap();
        assert_eq!(back, waiting);
    }

    fn notice(token: Option<&str>, activation_sent: bool) -> Transaction {
        let mut t = tx(TxKind::Notice, TxState::AwaitingCash);
        t.items[0] = notice_item(1, "301000000000000012", token, activation_sent);
        t
    }

    fn notice_item(n: u32, number: &str, token: Option<&str>, activation_sent: bool) -> Item {
        let mut t = Item::new(n, TxKind::Notice);
        t.notice = Some(NoticeInfo {
            notice_number: number.into(),
            iuv: number[1..].into(),
            description: None,
            due_date: None,
        });
        t.creditor = Some(Creditor {
            fiscal_code: "00514490010".into(),
            name: "Comune".into(),
        });
        t.amount_cents = Some(12_345);
        t.payment_token = token.map(str::to_string);
        t.activation_sent = activation_sent;
        t
    }

    #[test]
    fn a_void_owes_a_ko_for_every_activation_and_nothing_for_a_recharge() {
        assert!(void_requests(&recharge(TxState::AwaitingCash, Some(1), 0), Some("x")).is_empty());
        assert!(
            void_requests(&notice(None, false), None).is_empty(),
            "never activated: nothing owed"
        );

        let ko = void_requests(&notice(Some("pt_1"), true), Some("cambiato idea"));
        assert_eq!(ko.len(), 1);
        assert_eq!(
            (
                ko[0].purpose.as_str(),
                ko[0].path.as_str(),
                ko[0].idempotency_key.as_str()
            ),
            ("outcome_ko", pos_backend::OUTCOME_PATH, "t:outcome")
        );
        let body: Value = serde_json::from_slice(&ko[0].body).unwrap();
        assert_eq!(body["payment_token"], "pt_1");
        assert_eq!(body["reason"], "cambiato idea");
        let no_reason = void_requests(&notice(Some("pt_1"), true), Some(""));
        let body: Value = serde_json::from_slice(&no_reason[0].body).unwrap();
        assert!(
            body.get("reason").is_none(),
            "an empty reason is not sent: {body}"
        );

        // The activation's answer was lost: it is replayed, byte for byte.
        let lost = notice(None, true);
        let replay = void_requests(&lost, None);
        assert_eq!(replay.len(), 1);
        assert_eq!(replay[0].purpose, "activate_for_ko");
        let first = activate_request(&lost.id, &lost.items[0]).unwrap();
        assert_eq!(
            (replay[0].idempotency_key.as_str(), &replay[0].body),
            (first.idempotency_key.as_str(), &first.body)
        );
    }

    #[test]
    fn the_payment_request_is_the_recharge_or_the_notices_ok() {
        let mut t = recharge(TxState::Paid, Some(2_000), 50);
        assert!(
            payment_drafts(&t).is_err(),
            "a payment without its receipt and time is refused"
        );
        t.paid_at = Some(OffsetDateTime::UNIX_EPOCH);
        t.receipt_number = Some("T-1/2026/000001".into());
        let i = &mut t.items[0];
        i.code = Some("1234".into());
        i.consumer_ref = Some("c_1".into());
        i.service = Some(Service {
            id: "mensa".into(),
            name: "Mensa".into(),
        });
        i.creditor = Some(Creditor {
            fiscal_code: "00514490010".into(),
            name: String::new(),
        });
        let d = payment_drafts(&t).unwrap().remove(0);
        assert_eq!(
            (
                d.purpose.as_str(),
                d.path.as_str(),
                d.idempotency_key.as_str()
            ),
            ("recharge", pos_backend::RECHARGES_PATH, "t")
        );
        let body: Value = serde_json::from_slice(&d.body).unwrap();
        assert_eq!(
            (body["amount_cents"].as_u64(), body["fee_cents"].as_u64()),
            (Some(2_000), Some(50))
        );
        assert_eq!((d.item, body["item"].as_u64()), (1, Some(1)));

        let mut n = notice(Some("pt_9"), true);
        n.paid_at = t.paid_at;
        n.receipt_number = t.receipt_number.clone();
        let d = payment_drafts(&n).unwrap().remove(0);
        assert_eq!(
            (d.purpose.as_str(), d.idempotency_key.as_str()),
            ("outcome_ok", "t:outcome")
        );
        let body: Value = serde_json::from_slice(&d.body).unwrap();
        assert_eq!(body["payment_token"], "pt_9");

        // Several items: one request per item, each under its own key.
        let mut cart = t.clone();
        let mut second = cart.items[0].clone();
        second.n = 2;
        second.consumer_ref = Some("c_2".into());
        cart.items.push(second);
        cart.items
            .push(notice_item(3, "301000000000000029", Some("pt_3"), true));
        cart.last_item = 3;
        let drafts = payment_drafts(&cart).unwrap();
        let keys: Vec<(&str, u32)> = drafts
            .iter()
            .map(|d| (d.idempotency_key.as_str(), d.item))
            .collect();
        assert_eq!(keys, [("t", 1), ("t:2", 2), ("t:3:outcome", 3)]);
        let body: Value = serde_json::from_slice(&drafts[1].body).unwrap();
        assert_eq!(
            (body["item"].as_u64(), body["consumer_ref"].as_str()),
            (Some(2), Some("c_2"))
        );
    }

    #[test]
    fn paid_means_a_receipt_number_the_change_and_pending_sync() {
        assert_eq!(receipt_number("T-000123", 2026, 42), "T-000123/2026/000042");
        assert_eq!(receipt_number("T-1", 2027, 1_234_567), "T-1/2027/1234567");
        let at = OffsetDateTime::UNIX_EPOCH
            + time::Duration::days(20_000)
            + time::Duration::milliseconds(1_500);
        let t = recharge(TxState::AwaitingCash, Some(2_000), 50);
        let paid = mark_paid(&t, "T-1/2024/000007".into(), at, 5_000).unwrap();
        assert_eq!(paid.state, TxState::Paid);
        assert_eq!(paid.receipt_number.as_deref(), Some("T-1/2024/000007"));
        assert_eq!(
            paid.paid_at.map(|p| p.nanosecond()),
            Some(0),
            "whole seconds"
        );
        assert_eq!(
            paid.paid_at.map(|p| p.unix_timestamp()),
            Some(at.unix_timestamp())
        );
        assert_eq!(
            (paid.tendered_cents, paid.change_cents),
            (Some(5_000), Some(2_950))
        );
        assert_eq!(paid.sync(), Some(crate::model::SyncState::Pending));
        assert_eq!(paid.items[0].sync, Some(crate::model::SyncState::Pending));
        assert!(paid.utc_offset.is_some());
        assert_eq!(t.state, TxState::AwaitingCash, "the original is untouched");
        assert!(matches!(
            mark_paid(&recharge(TxState::AwaitingCash, None, 0), "x".into(), at, 1),
            Err(StoreError::Corrupt(_))
        ));
        assert!(matches!(
            mark_paid(&t, "x".into(), at, i64::MIN),
            Err(StoreError::Corrupt(_))
        ));
    }

    #[test]
    fn items_are_numbered_never_reused_and_the_state_follows_them() {
        let mut t = recharge(TxState::AmountSet, Some(1_000), 0);
        let mut child = recharge_item(None, 0);
        child.consumer_ref = Some("c_2".into());
        assert_eq!(add_item(&mut t, child.clone()).unwrap(), 2);
        assert_eq!(t.state, TxState::Identified, "item 2 has no amount yet");
        assert!(matches!(
            add_item(&mut t.clone(), child.clone()),
            Err(CounterError::DuplicateItem { n: 2 })
        ));
        assert_eq!(
            add_item(&mut t, notice_item(0, "301000000000000012", None, false)).unwrap(),
            3
        );
        // `amount` without `item`: the one item without an amount.
        assert_eq!(amount_target(&t, None).unwrap(), 2);
        apply_amount(&mut t, 2, 2_000, 50);
        assert_eq!(t.state, TxState::AmountSet);
        assert_eq!((t.amount_cents(), t.fee_cents()), (Some(15_345), 50));
        assert!(matches!(
            amount_target(&t, None),
            Err(CounterError::ItemRequired)
        ));
        assert!(matches!(
            amount_target(&t, Some(9)),
            Err(CounterError::UnknownItem { n: 9 })
        ));

        // Removing item 2 leaves a hole; the next item is 4.
        let (mut next, owed) = remove_item(&t, 2).unwrap();
        assert!(owed.is_empty(), "a recharge owes nothing");
        let ns: Vec<u32> = next.items.iter().map(|i| i.n).collect();
        assert_eq!(ns, [1, 3]);
        let mut other = recharge_item(Some(700), 0);
        other.consumer_ref = Some("c_9".into());
        assert_eq!(add_item(&mut next, other).unwrap(), 4);
        // An activated notice owes its KO, keyed by its own number.
        let mut activated = next.clone();
        activated.item_mut(3).unwrap().payment_token = Some("pt_3".into());
        let (_, owed) = remove_item(&activated, 3).unwrap();
        assert_eq!(owed.len(), 1);
        assert_eq!(
            (owed[0].idempotency_key.as_str(), owed[0].item),
            ("t:3:outcome", 3)
        );
        // Never the last one, never once paid; five at most.
        let single = recharge(TxState::AmountSet, Some(1_000), 0);
        assert!(matches!(
            remove_item(&single, 1),
            Err(CounterError::InvalidState(WrongState::LastItem))
        ));
        assert!(matches!(
            remove_item(&recharge(TxState::Paid, Some(1), 0), 1),
            Err(CounterError::InvalidState(WrongState::AlreadyPaid))
        ));
        let mut full = next.clone();
        for c in 10..12 {
            let mut i = recharge_item(Some(500), 0);
            i.consumer_ref = Some(format!("c_{c}"));
            add_item(&mut full, i).unwrap();
        }
        assert_eq!(full.items.len(), MAX_ITEMS);
        let mut sixth = recharge_item(Some(500), 0);
        sixth.consumer_ref = Some("c_6".into());
        assert!(matches!(
            add_item(&mut full.clone(), sixth),
            Err(CounterError::TooManyItems { max: MAX_ITEMS })
        ));
    }

    #[test]
    fn the_amount_is_a_recharges_within_its_limits_until_paid() {
        let t = recharge(TxState::Identified, None, 0);
        assert!(check_amount(&t, 1, 500).is_ok());
        assert!(check_amount(&t, 1, 30_000).is_ok());
        assert!(matches!(
            check_amount(&t, 1, 499),
            Err(CounterError::AmountOutOfLimits {
                amount_cents: 499,
                ..
            })
        ));
        assert!(matches!(
            check_amount(&t, 1, 30_001),
            Err(CounterError::AmountOutOfLimits { .. })
        ));
        for state in [TxState::AmountSet, TxState::AwaitingCash] {
            assert!(check_amount(&recharge(state, Some(900), 0), 1, 1000).is_ok());
        }
        for state in [TxState::Paid, TxState::Voided, TxState::ChooseCode] {
            assert!(matches!(
                check_amount(&recharge(state, Some(900), 0), 1, 1000),
                Err(CounterError::InvalidState(WrongState::AmountLocked(s))) if s == state
            ));
        }
        assert!(matches!(
            check_amount(&tx(TxKind::Notice, TxState::AmountSet), 1, 1000),
            Err(CounterError::InvalidState(WrongState::NoticeAmountFixed))
        ));
        // Without limits (never from the backend), at least one cent.
        let mut open = recharge(TxState::Identified, None, 0);
        open.items[0].limits = None;
        assert!(check_amount(&open, 1, 0).is_err());
        assert!(check_amount(&open, 1, i64::MAX).is_ok());

        let mut t = recharge(TxState::AwaitingCash, Some(900), 0);
        apply_amount(&mut t, 1, 1000, 50);
        assert_eq!(
            (t.state, t.amount_cents(), t.total_cents()),
            (TxState::AmountSet, Some(1000), Some(1050)),
            "a new amount needs a new pre-receipt"
        );
    }

    #[test]
    fn offline_amounts_stay_within_both_limits() {
        let budget = OfflineBudget {
            max_transaction_cents: 5_000,
            max_total_cents: 20_000,
            pending_cents: 14_000,
        };
        assert!(check_offline_amount(5_000, budget).is_ok());
        assert!(matches!(
            check_offline_amount(5_001, budget),
            Err(CounterError::OfflineLimitExceeded {
                max_transaction_cents: 5_000,
                max_total_cents: 20_000,
                pending_cents: 14_000
            })
        ));
        let full = OfflineBudget {
            pending_cents: 16_000,
            ..budget
        };
        assert!(check_offline_amount(4_000, full).is_ok());
        assert!(check_offline_amount(4_001, full).is_err());
        // The bound is on the sum of a cart's offline items (and only those).
        let mut cart = recharge(TxState::AmountSet, Some(3_000), 0);
        cart.items[0].offline = true;
        let mut second = recharge_item(Some(2_500), 0);
        second.n = 2;
        second.offline = true;
        cart.items.push(second);
        let mut online = recharge_item(Some(9_000), 0);
        online.n = 3;
        cart.items.push(online);
        assert_eq!(cart.offline_total_cents(), 5_500);
        assert!(check_offline_amount(cart.offline_total_cents(), budget).is_err());
        cart.items[1].amount_cents = Some(2_000);
        assert!(check_offline_amount(cart.offline_total_cents(), budget).is_ok());
        assert!(check_offline_total(4_000, full).is_ok());
        assert!(matches!(
            check_offline_total(4_001, full),
            Err(CounterError::OfflineTotalExceeded {
                max_total_cents: 20_000,
                pending_cents: 16_000
            })
        ));
    }

    #[test]
    fn the_pre_receipt_needs_an_amount_and_a_live_transaction() {
        for ok in [TxState::AmountSet, TxState::AwaitingCash] {
            assert!(check_pre_receipt(&recharge(ok, Some(1000), 0)).is_ok());
        }
        let refused = |s| check_pre_receipt(&recharge(s, None, 0)).unwrap_err();
        assert!(matches!(
            refused(TxState::Identified),
            CounterError::InvalidState(WrongState::AmountMissing)
        ));
        assert!(matches!(
            refused(TxState::ChooseCode),
            CounterError::InvalidState(WrongState::AmountMissing)
        ));
        assert!(matches!(
            refused(TxState::Voided),
            CounterError::InvalidState(WrongState::Voided)
        ));
        assert!(matches!(
            refused(TxState::Paid),
            CounterError::InvalidState(WrongState::PreReceiptUnavailable(TxState::Paid))
        ));
    }

    #[test]
    fn cash_pays_the_total_after_the_pre_receipt_with_bounded_change() {
        let t = recharge(TxState::AwaitingCash, Some(1000), 50);
        assert_eq!(check_payment(&t, 1050).unwrap(), 1050);
        assert_eq!(check_payment(&t, 1050 + MAX_CHANGE_CENTS).unwrap(), 1050);
        assert!(matches!(
            check_payment(&t, 1049),
            Err(CounterError::TenderedTooLow {
                total_cents: 1050,
                tendered_cents: 1049
            })
        ));
        assert!(matches!(
            check_payment(&t, 1051 + MAX_CHANGE_CENTS),
            Err(CounterError::TenderedTooHigh {
                total_cents: 1050,
                ..
            })
        ));
        assert!(matches!(
            check_payment(&recharge(TxState::AmountSet, Some(1000), 0), 2000),
            Err(CounterError::InvalidState(WrongState::PreReceiptFirst))
        ));
        assert!(matches!(
            check_payment(&recharge(TxState::Voided, Some(1000), 0), 2000),
            Err(CounterError::InvalidState(WrongState::Voided))
        ));
        assert!(matches!(
            check_payment(&recharge(TxState::AwaitingCash, None, 0), 2000),
            Err(CounterError::InvalidState(WrongState::AmountMissing))
        ));
    }

    #[test]
    fn a_notice_token_must_have_five_minutes_left() {
        let now = OffsetDateTime::UNIX_EPOCH + time::Duration::days(1);
        let mut t = tx(TxKind::Notice, TxState::AwaitingCash);
        assert!(check_payment_token(&t, now).is_ok(), "no token, no check");
        t.items[0].payment_token_expires_at = Some(now + PAYMENT_TOKEN_MARGIN);
        assert!(check_payment_token(&t, now).is_ok());
        let soon = now + PAYMENT_TOKEN_MARGIN - time::Duration::SECOND;
        t.items[0].payment_token_expires_at = Some(soon);
        assert!(matches!(
            check_payment_token(&t, now),
            Err(CounterError::PaymentTokenExpiring { expires_at }) if expires_at == soon
        ));
        t.items[0].payment_token_expires_at = Some(now);
        assert!(matches!(
            check_payment_token(&t, now),
            Err(CounterError::PaymentTokenExpired)
        ));
    }

    #[test]
    fn only_unpaid_transactions_are_voided_and_only_payers_choose() {
        assert!(matches!(
            check_void(&recharge(TxState::Paid, Some(1000), 0)),
            Err(CounterError::InvalidState(WrongState::AlreadyPaid))
        ));
        for s in [
            TxState::ChooseCode,
            TxState::Identified,
            TxState::AmountSet,
            TxState::AwaitingCash,
            TxState::Voided,
        ] {
            assert!(check_void(&recharge(s, None, 0)).is_ok(), "{s:?}");
        }
        assert!(check_choose(&recharge(TxState::ChooseCode, None, 0)).is_ok());
        assert!(matches!(
            check_choose(&recharge(TxState::Identified, None, 0)),
            Err(CounterError::InvalidState(WrongState::AlreadyChosen))
        ));
    }
}
