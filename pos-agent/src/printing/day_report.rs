//! The printed day report (`receipts.md`), laid out from the report a
//! closure stored (`crate::day::build_report` made it): a pure function,
//! printed by the queue from the closure at print time.

use pos_drivers::{Align, Document, TextSize};
use serde_json::Value;

use super::receipts::{money, Header};

/// The printed day report.
pub fn report_document(h: &Header, r: &Value) -> Document {
    let s = |k: &str| r.get(k).and_then(Value::as_str).unwrap_or("-").to_string();
    let n = |k: &str| r.get(k).and_then(Value::as_i64).unwrap_or(0);
    let mut doc = Document::new()
        .text_with(
            h.shop_name.clone(),
            Align::Center,
            true,
            TextSize::DoubleHeight,
        )
        .center(format!("Terminale {}", h.terminal_id))
        .rule()
        .text_with(
            "CHIUSURA GIORNALIERA",
            Align::Center,
            true,
            TextSize::Normal,
        )
        .columns("Chiusura", s("closure_id"))
        .columns("Dal", s("from"))
        .columns("Al", s("to"))
        .rule();
    if let Some(groups) = r.get("by_service").and_then(Value::as_array) {
        for g in groups {
            let service = g.get("service").and_then(Value::as_str).unwrap_or("");
            let creditor = g.get("creditor").and_then(Value::as_str).unwrap_or("");
            doc = doc
                .text_with(
                    format!("{service} - {creditor}"),
                    Align::Left,
                    true,
                    TextSize::Normal,
                )
                .columns(
                    format!(
                        "  n. {}",
                        g.get("count").and_then(Value::as_i64).unwrap_or(0)
                    ),
                    money(g.get("total_cents").and_then(Value::as_i64).unwrap_or(0)),
                );
        }
    }
    doc = doc
        .rule()
        .columns(
            format!("Operazioni: {}", n("count")),
            money(n("total_cents")),
        )
        .columns("Commissioni", money(n("fees_cents")))
        .columns("Contanti incassati", money(n("cash_taken_cents")))
        .columns("Rimborsi", money(-n("refund_total_cents")))
        .columns_with(
            "CONTANTI ATTESI",
            money(n("cash_expected_cents")),
            true,
            TextSize::Normal,
        )
        .columns("Prima ricevuta", s("first_receipt"))
        .columns("Ultima ricevuta", s("last_receipt"))
        .rule();
    let pending = r
        .get("pending")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    doc = doc.columns("In attesa di conferma", pending.len().to_string());
    let rejected = r
        .get("rejected")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    doc = doc.columns("Da rimborsare", rejected.len().to_string());
    for t in &rejected {
        doc = doc.columns(
            format!(
                "  {}",
                t.get("receipt_number")
                    .and_then(Value::as_str)
                    .unwrap_or("")
            ),
            money(t.get("total_cents").and_then(Value::as_i64).unwrap_or(0)),
        );
        if t.get("earlier_period").and_then(Value::as_bool) == Some(true) {
            doc = doc.text("    (incassata prima di una chiusura precedente)");
        }
    }
    doc.columns("Annullate", n("voids").to_string())
}
