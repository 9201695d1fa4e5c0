//! The day report's numbers ([`build_report`]), a pure function of the
//! transactions. The close itself (`POST /api/v1/day/close`) is a counter
//! step, `counter/day_close.rs`; the printed layout is
//! `printing/day_report.rs`.
//!
//! Every rejected payment is listed as a refund by exactly one closure: the
//! first close after it was rejected.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::model::{Item, SyncState, Transaction, TxState};
use crate::time_fmt::rfc3339;

/// The report's numbers: the payments of the period (`paid`, those no
/// closure has counted yet), the transactions created in it, and every
/// rejected payment no earlier closure has listed as a refund (`refunds`,
/// from [`crate::store::Store::unlisted_refunds`]): those paid in the
/// period and rejected already, and those a previous close counted while
/// still pending that the backend rejected since. Each refund is listed by
/// exactly one closure, and the cash expected in the drawer is the cash
/// taken in the period less the refunds it lists.
pub fn build_report(
    closure_id: &str,
    from: &str,
    to: &str,
    paid: &[Transaction],
    created: &[Transaction],
    refunds: &[Transaction],
) -> Value {
    // Items are what the municipality receives and what is refunded: a
    // transaction with three items counts 3 (backend-api.md, closures).
    let paid_items = items_of(paid);
    let counted: Vec<(&Transaction, &Item)> = paid_items
        .iter()
        .copied()
        .filter(|(_, i)| i.sync != Some(SyncState::Rejected))
        .collect();
    let refunded: Vec<(&Transaction, &Item)> = items_of(refunds)
        .into_iter()
        .filter(|(_, i)| i.sync == Some(SyncState::Rejected))
        .collect();
    let total: i64 = counted
        .iter()
        .map(|(_, i)| i.amount_cents.unwrap_or(0))
        .sum();
    let fees: i64 = counted.iter().map(|(_, i)| i.fee_cents).sum();
    let cash_in: i64 = paid.iter().map(|t| t.total_cents().unwrap_or(0)).sum();
    let refund_total: i64 = refunded
        .iter()
        .map(|(_, i)| i.total_cents().unwrap_or(0))
        .sum();
    let mut groups: BTreeMap<(String, String), (i64, i64)> = BTreeMap::new();
    for (_, i) in &counted {
        let service = i
            .service
            .as_ref()
            .map(|s| s.name.clone())
            .or_else(|| i.notice.as_ref().map(|_| "Avviso pagoPA".to_string()))
            .unwrap_or_default();
        let creditor = i
            .creditor
            .as_ref()
            .map(|c| {
                if c.name.is_empty() {
                    c.fiscal_code.clone()
                } else {
                    c.name.clone()
                }
            })
            .unwrap_or_default();
        let e = groups.entry((service, creditor)).or_default();
        e.0 += 1;
        e.1 += i.amount_cents.unwrap_or(0);
    }
    let receipts: Vec<&str> = paid
        .iter()
        .filter_map(|t| t.receipt_number.as_deref())
        .collect();
    let first = receipts.iter().min().map(|s| s.to_string());
    let last = receipts.iter().max().map(|s| s.to_string());
    let brief = |t: &Transaction, i: &Item| {
        json!({"id": t.id, "item": i.n, "receipt_number": t.receipt_number,
               "amount_cents": i.amount_cents, "fee_cents": i.fee_cents,
               "total_cents": i.total_cents(),
               "service": i.service.as_ref().map(|s| s.name.clone())})
    };
    let refund = |(t, i): &(&Transaction, &Item)| {
        let mut b = brief(t, i);
        b["paid_at"] = json!(t.paid_at.map(rfc3339));
        // Paid before this period: an earlier close counted it as pending.
        b["earlier_period"] = json!(!paid.iter().any(|p| p.id == t.id));
        b
    };
    let voids = created
        .iter()
        .filter(|t| t.state == TxState::Voided)
        .count();
    json!({
        "closure_id": closure_id,
        "from": from,
        "to": to,
        "count": counted.len(),
        "total_cents": total,
        "fees_cents": fees,
        "cash_expected_cents": cash_in - refund_total,
        "cash_taken_cents": cash_in,
        "first_receipt": first,
        "last_receipt": last,
        "by_service": groups.iter().map(|((s, c), (n, tot))| json!({"service": s, "creditor": c, "count": n, "total_cents": tot})).collect::<Vec<_>>(),
        "pending": paid_items.iter().filter(|(_, i)| i.sync == Some(SyncState::Pending)).map(|(t, i)| brief(t, i)).collect::<Vec<_>>(),
        "rejected": refunded.iter().map(refund).collect::<Vec<_>>(),
        "refund_total_cents": refund_total,
        "voids": voids,
    })
}

/// Every item of the transactions, with its transaction.
fn items_of(ts: &[Transaction]) -> Vec<(&Transaction, &Item)> {
    ts.iter()
        .flat_map(|t| t.items.iter().map(move |i| (t, i)))
        .collect()
}
