//! `pos-agent inspect`: what the classifier makes of an input, as JSON.
//! Fiscal codes are masked unless the technician asks with `--reveal`.

use std::process::ExitCode;

use serde_json::{json, Value};

use crate::time_fmt::rfc3339;

pub fn describe(input: &pos_codes::Input, reveal: bool) -> Value {
    use pos_codes::Input;
    match input {
        Input::AppToken(t) => json!({
            "kind": "app_token",
            "kid": t.kid(),
            "creditor_fiscal_code": t.creditor().as_str(),
            "service": t.service(),
            "consumer_ref": t.consumer_ref(),
            "issued_at": rfc3339(t.issued_at()),
            "signature": "not checked offline by inspect (keys come from the backend)",
        }),
        Input::ManualCode(m) => json!({
            "kind": "manual_code",
            "code": m.as_str(),
            "display": m.display(),
        }),
        Input::Notice(n) => {
            let mut v = json!({
                "kind": "notice",
                "notice_number": n.notice_number.as_str(),
                "aux_digit": n.notice_number.aux(),
                "iuv": n.notice_number.iuv(),
                "creditor_fiscal_code": n.creditor.as_str(),
                "amount_cents": n.amount.map(|c| c.0),
            });
            if let Some(sep) = n.qr_separator {
                // payment-codes.md: a scanner typed every `|` as another symbol.
                v["qr_separator"] = json!(sep.to_string());
                v["note"] = json!(format!(
                    "separators read as «{sep}» instead of «|» (scanner in keyboard mode on a non-US layout)"
                ));
            }
            v
        }
        Input::FiscalCode(f) => {
            let b = f.decode();
            let mut v = json!({
                "kind": "fiscal_code",
                "fiscal_code": if reveal { f.as_str().to_string() } else { f.masked() },
                "omocodic": f.is_omocodic(),
            });
            if reveal {
                v["birth"] = json!({
                    "year_2_digits": b.year,
                    "month": b.month,
                    "day": b.day,
                    "sex": b.sex.to_string(),
                    "place_code": b.place_code,
                });
            } else {
                v["birth"] = json!("masked; use --reveal to show birth date, sex and place");
            }
            v
        }
    }
}

/// `pos-agent inspect INPUT [--json] [--reveal]`: exit 0 and the parsed
/// fields, or exit 1 and the error.
pub fn command(input: &str, as_json: bool, reveal: bool) -> ExitCode {
    match pos_codes::classify(input) {
        Ok(parsed) => {
            let v = describe(&parsed, reveal);
            if as_json {
                println!("{v}");
            } else {
                println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            let v = json!({"error": {"code": e.code(), "message": e.to_string()}});
            println!("{v}");
            eprintln!("pos-agent: {}: {}", e.code(), e);
            ExitCode::from(1)
        }
    }
}
