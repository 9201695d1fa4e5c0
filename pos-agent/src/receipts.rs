//! What the printer prints (receipts.md), as pure functions from data to a
//! [`Document`]. The encoder in `pos-drivers` turns it into ESC/POS bytes for
//! the configured paper width and code page.

use pos_drivers::{Align, Document, TextSize};
use time::OffsetDateTime;

use crate::model::{SyncState, Transaction, TxKind};
use crate::time_fmt::receipt_datetime;

/// The shop and terminal printed at the top of every document.
#[derive(Debug, Clone)]
pub struct Header {
    pub shop_name: String,
    pub address: String,
    pub terminal_id: String,
}

/// `2000` → `20,00`; negative amounts keep their sign.
pub fn eur(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let c = cents.unsigned_abs();
    let euros = c / 100;
    // Thousands separator: 1.234,50
    let digits = euros.to_string();
    let mut grouped = String::new();
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            grouped.push('.');
        }
        grouped.push(ch);
    }
    format!("{sign}{grouped},{:02}", c % 100)
}

/// `€ 20,00` (the encoder turns `€` into `EUR` on printers without the glyph).
pub fn money(cents: i64) -> String {
    format!("€ {}", eur(cents))
}

/// Names of the services the app issues tokens for, used when a token is
/// accepted offline and the backend could not say.
pub fn service_name(id: &str) -> &str {
    match id {
        "mensa" => "Refezione scolastica",
        "trasporto" => "Trasporto scolastico",
        other => other,
    }
}

fn header(doc: Document, h: &Header) -> Document {
    let mut doc = doc.text_with(
        h.shop_name.clone(),
        Align::Center,
        true,
        TextSize::DoubleHeight,
    );
    if !h.address.is_empty() {
        doc = doc.center(h.address.clone());
    }
    doc.center(format!("Terminale {}", h.terminal_id)).rule()
}

fn what_is_paid(mut doc: Document, t: &Transaction, with_creditor_cf: bool) -> Document {
    match t.kind {
        TxKind::Recharge => {
            if let Some(s) = &t.service {
                doc = doc.columns("Servizio", s.name.clone());
            }
            if let Some(c) = &t.creditor {
                if !c.name.is_empty() {
                    doc = doc.columns("Ente", c.name.clone());
                }
                if with_creditor_cf {
                    doc = doc.columns("C.F. ente", c.fiscal_code.clone());
                }
            }
            if let Some(c) = &t.consumer {
                if !c.display_name.is_empty() {
                    doc = doc.columns("Utente", c.display_name.clone());
                }
            }
        }
        TxKind::Notice => {
            if let Some(c) = &t.creditor {
                doc = doc.columns("Ente", c.name.clone());
                if with_creditor_cf {
                    doc = doc.columns("C.F. ente", c.fiscal_code.clone());
                }
            }
            if let Some(n) = &t.notice {
                doc = doc.columns("Avviso", n.notice_number.clone());
                if with_creditor_cf {
                    doc = doc.columns("IUV", n.iuv.clone());
                }
                if let Some(d) = &n.description {
                    doc = doc.text(d.clone());
                }
            }
        }
    }
    doc
}

fn amounts(doc: Document, t: &Transaction) -> Document {
    let amount = t.amount_cents.unwrap_or(0);
    doc.rule()
        .columns("Importo", money(amount))
        .columns("Commissione", money(t.fee_cents))
        .columns_with(
            "TOTALE",
            money(amount + t.fee_cents),
            true,
            TextSize::DoubleHeight,
        )
}

/// Printed before the cash is taken, so the parent can check.
pub fn pre_receipt(h: &Header, t: &Transaction, now: OffsetDateTime) -> Document {
    let doc = header(Document::new(), h)
        .text_with(
            "PRE-SCONTRINO - NON VALIDO COME RICEVUTA",
            Align::Center,
            true,
            TextSize::Normal,
        )
        .rule();
    let doc = what_is_paid(doc, t, false);
    amounts(doc, t)
        .rule()
        .columns("Data", receipt_datetime(now))
        .columns("Transazione", t.short_id().to_string())
        .feed(1)
        .text_with(
            "Verificare i dati prima di pagare",
            Align::Center,
            true,
            TextSize::Normal,
        )
}

/// The receipt, after the cash was taken; `duplicate` for a reprint.
pub fn receipt(h: &Header, t: &Transaction, duplicate: bool) -> Document {
    let mut doc = Document::new();
    if duplicate {
        doc = doc.text_with("COPIA - DUPLICATO", Align::Center, true, TextSize::Double);
    }
    let receipt_number = t.receipt_number.clone().unwrap_or_default();
    let doc = header(doc, h)
        .text_with(
            "RICEVUTA DI PAGAMENTO",
            Align::Center,
            true,
            TextSize::Normal,
        )
        .rule()
        .columns("Ricevuta n.", receipt_number.clone())
        .columns("Data", t.paid_at.map(receipt_datetime).unwrap_or_default())
        .columns("Operatore", t.operator.clone())
        .rule();
    let doc = what_is_paid(doc, t, true);
    let sync = match t.sync {
        Some(SyncState::Confirmed) => "CONFERMATO",
        Some(SyncState::Rejected) => "RIFIUTATO - DA RIMBORSARE",
        _ => "IN ATTESA DI CONFERMA",
    };
    amounts(doc, t)
        .columns("Contanti", money(t.tendered_cents.unwrap_or(0)))
        .columns("Resto", money(t.change_cents.unwrap_or(0)))
        .rule()
        .text_with(sync, Align::Center, true, TextSize::Normal)
        .qr(format!("{receipt_number}|{}", t.id), 6)
        .center(format!("Transazione {}", t.id))
        .feed(1)
        .center("Conservare la ricevuta per 6 anni")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn euro_amounts_are_italian() {
        assert_eq!(eur(0), "0,00");
        assert_eq!(eur(5), "0,05");
        assert_eq!(eur(2000), "20,00");
        assert_eq!(eur(123456), "1.234,56");
        assert_eq!(eur(-250), "-2,50");
        assert_eq!(money(100), "€ 1,00");
    }
}
