//! The printed day report (`receipts.md`), laid out from the report a
//! closure stored (`crate::day::build_report` made it): a pure function,
//! printed by the queue from the closure at print time.
//!
//! Counts and totals are of items (a transaction paying three children
//! counts 3); a rejected item to refund is named by its receipt number and
//! its item number, `voce n`, the `Voce n` heading of a receipt with
//! several items. Reports stored before items (no `item` in a refund) print
//! the receipt number alone, as they did.

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
            format!("Voci pagate: {}", n("count")),
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
    // Each item still waiting, by receipt and item number: what the
    // operator looks up if the parent asks tomorrow.
    for t in &pending {
        doc = doc.columns(
            item_label(t),
            money(t.get("total_cents").and_then(Value::as_i64).unwrap_or(0)),
        );
    }
    let rejected = r
        .get("rejected")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    doc = doc.columns("Da rimborsare", rejected.len().to_string());
    for t in &rejected {
        doc = doc.columns(
            item_label(t),
            money(t.get("total_cents").and_then(Value::as_i64).unwrap_or(0)),
        );
        if t.get("earlier_period").and_then(Value::as_bool) == Some(true) {
            doc = doc.text("    (incassata prima di una chiusura precedente)");
        }
    }
    doc.columns("Annullate", n("voids").to_string())
}

/// `  <receipt> voce n`, or the receipt alone for a report stored before
/// items.
fn item_label(t: &Value) -> String {
    let receipt = t
        .get("receipt_number")
        .and_then(Value::as_str)
        .unwrap_or("");
    match t.get("item").and_then(Value::as_u64) {
        Some(item) => format!("  {receipt} voce {item}"),
        None => format!("  {receipt}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hardware_mocks::printer::render_text;
    use pos_drivers::{EscPosEncoder, PrinterProfile};
    use serde_json::json;

    fn header() -> Header {
        Header {
            shop_name: "Tabaccheria Rossi".into(),
            terminal_id: "T-000123".into(),
            ..Header::default()
        }
    }

    /// A close with a family's cart partly refused: item 2 of receipt 44
    /// in this period, item 1 of receipt 40 paid before an earlier close.
    fn report() -> Value {
        json!({
            "closure_id": "T-000123/2026-03-14/1",
            "from": "2026-03-14T07:00:00Z", "to": "2026-03-14T18:00:00Z",
            "count": 2, "total_cents": 14845, "fees_cents": 100,
            "cash_taken_cents": 18945, "cash_expected_cents": 12445,
            "refund_total_cents": 6500,
            "first_receipt": "T-000123/2026/000041", "last_receipt": "T-000123/2026/000044",
            "by_service": [
                {"service": "Refezione scolastica", "creditor": "Comune di Ciriè", "count": 1, "total_cents": 2500},
                {"service": "Avviso pagoPA", "creditor": "Comune di Ciriè", "count": 1, "total_cents": 12345}
            ],
            "pending": [
                {"id": "7a6c", "item": 3, "receipt_number": "T-000123/2026/000043",
                 "total_cents": 1575}
            ],
            "rejected": [
                {"id": "7a6b", "item": 2, "receipt_number": "T-000123/2026/000044",
                 "amount_cents": 4000, "fee_cents": 0, "total_cents": 4000,
                 "service": "Refezione scolastica", "earlier_period": false},
                {"id": "5d1e", "item": 1, "receipt_number": "T-000123/2026/000040",
                 "amount_cents": 2500, "fee_cents": 0, "total_cents": 2500,
                 "service": "Refezione scolastica", "earlier_period": true}
            ],
            "voids": 1
        })
    }

    fn lines(r: &Value, columns: usize) -> Vec<String> {
        let profile = PrinterProfile {
            columns,
            ..PrinterProfile::paper_80mm()
        };
        let bytes = EscPosEncoder::new(profile).encode(&report_document(&header(), r));
        let d = render_text(&bytes).remove(0);
        for l in &d.lines {
            assert!(
                l.chars().count() <= columns,
                "over {columns} columns: {l:?}"
            );
        }
        d.lines
    }

    /// Each rejected item is listed with its receipt number and item
    /// number, on both papers, in Italian.
    #[test]
    fn each_rejected_item_is_named_by_receipt_and_item_number() {
        let l = lines(&report(), 48);
        let text = l.join("\n");
        assert!(
            l.iter()
                .any(|l| l.starts_with("  T-000123/2026/000044 voce 2") && l.ends_with("€ 40,00")),
            "{text}"
        );
        assert!(
            l.iter()
                .any(|l| l.starts_with("  T-000123/2026/000040 voce 1") && l.ends_with("€ 25,00")),
            "{text}"
        );
        assert!(
            text.contains("(incassata prima di una chiusura precedente)"),
            "{text}"
        );
        assert!(
            l.iter()
                .any(|l| l.starts_with("Da rimborsare") && l.ends_with('2')),
            "{text}"
        );
        assert!(l.iter().any(|l| l.starts_with("Voci pagate: 2")), "{text}");
        // An item still waiting is named the same way.
        assert!(
            l.iter()
                .any(|l| l.starts_with("In attesa di conferma") && l.ends_with('1')),
            "{text}"
        );
        assert!(
            l.iter()
                .any(|l| l.starts_with("  T-000123/2026/000043 voce 3") && l.ends_with("€ 15,75")),
            "{text}"
        );
        assert!(
            l.iter()
                .any(|l| l.starts_with("  n. 1") && l.ends_with("€ 123,45")),
            "{text}"
        );
        // 58 mm: the number and the item stay together, the amount follows.
        let l = lines(&report(), 32);
        let text = l.join("\n");
        assert!(text.contains("T-000123/2026/000044 voce 2"), "{text}");
        assert!(l.iter().any(|l| l.ends_with("€ 40,00")), "{text}");
    }

    /// A report stored before items has no item number in its refunds: the
    /// receipt number alone, as it was printed then.
    #[test]
    fn a_refund_without_an_item_number_prints_the_receipt_alone() {
        let mut r = report();
        for list in ["rejected", "pending"] {
            for t in r[list].as_array_mut().expect("a list") {
                t.as_object_mut().expect("an object").remove("item");
            }
        }
        let l = lines(&r, 48);
        let text = l.join("\n");
        assert!(!text.contains("voce"), "{text}");
        assert!(
            l.iter()
                .any(|l| l.starts_with("  T-000123/2026/000044 ") && l.ends_with("€ 40,00")),
            "{text}"
        );
    }
}
