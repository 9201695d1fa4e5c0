//! `pos-agent journal export`: the journal as CSV or JSON, for the shop's
//! accountant, an audit, or the municipality.
//!
//! One row per journal entry, in journal order:
//!
//! ```text
//! seq,at,kind,tx_id,receipt_number,operation,service,operator,amount_cents,fee_cents,
//!     total_cents,tendered_cents,change_cents,offline,sync,hash,items
//! 7,2026-11-22T10:15:03Z,paid,0b6c…,T-000123/2026/000007,recharge,mensa,op1,2000,0,2000,5000,3000,false,confirmed,9f2c…,1
//! ```
//!
//! `sync` is the transaction's state *now* (the journal entry was written
//! when it was still `pending`). A payment of several items (issue 15) is
//! one row: `amount_cents`, `fee_cents` and `total_cents` are the sums over
//! its items, `operation` is their kind (`mixed` when recharges and notices
//! are paid together), `service` the distinct service ids joined by `+`,
//! and `items` how many items it holds (empty for entries of no payment). The row never carries the payment code, the
//! backend's consumer reference or a fiscal code: every text is passed
//! through [`pos_codes::mask_fiscal_codes`] even though the journal bodies
//! hold none, so a future body field cannot leak one through an export.
//!
//! The range: `--from D` and `--to D` take a date (`2026-11-22`, a whole day
//! of the counter's local time, `--to` included) or an RFC 3339 instant
//! (`--from` included, `--to` excluded).

use std::io::{IsTerminal, Write};
use std::path::Path;

use serde::Serialize;
use serde_json::Value;
use time::macros::format_description;
use time::{Date, OffsetDateTime};

use crate::store::Store;
use crate::time_fmt::{parse_rfc3339, rfc3339};

/// Rows above which a progress bar is worth drawing (on a terminal only).
const PROGRESS_FROM_ROWS: u64 = 2000;

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("--format {0} is not supported; use csv or json")]
    Format(String),
    #[error(
        "--{flag} {value} is not a date (YYYY-MM-DD) or an RFC 3339 time (2026-11-22T10:15:00Z)"
    )]
    Bound { flag: &'static str, value: String },
    #[error("--from {from} is after --to {to}: nothing to export")]
    EmptyRange { from: String, to: String },
    #[error("reading the journal: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("writing {target}: {source}")]
    Write {
        target: String,
        source: std::io::Error,
    },
    #[error("writing CSV: {0}")]
    Csv(#[from] csv::Error),
}

/// `--format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Json,
}

impl std::str::FromStr for Format {
    type Err = ExportError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "csv" => Ok(Format::Csv),
            "json" => Ok(Format::Json),
            _ => Err(ExportError::Format(s.to_string())),
        }
    }
}

/// Entries with `from <= at < to`, as UTC RFC 3339 text (how `at` is stored,
/// so the comparison is the database's string order).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Range {
    pub from: Option<String>,
    pub to: Option<String>,
}

impl Range {
    /// From the command line's `--from` / `--to`.
    pub fn parse(from: Option<&str>, to: Option<&str>) -> Result<Range, ExportError> {
        let from_t = from.map(|v| parse_bound("from", v, false)).transpose()?;
        let to_t = to.map(|v| parse_bound("to", v, true)).transpose()?;
        if let (Some(f), Some(t)) = (from_t, to_t) {
            if f >= t {
                return Err(ExportError::EmptyRange {
                    from: from.unwrap_or_default().to_string(),
                    to: to.unwrap_or_default().to_string(),
                });
            }
        }
        Ok(Range {
            from: from_t.map(rfc3339),
            to: to_t.map(rfc3339),
        })
    }
}

/// A date is a day of the counter's local time (the system's time zone, so
/// the day has 23 or 25 hours at a daylight-saving change); `end` moves it
/// to the start of the next day, so `--to 2026-11-22` includes the 22nd.
fn parse_bound(flag: &'static str, value: &str, end: bool) -> Result<OffsetDateTime, ExportError> {
    parse_bound_in(flag, value, end, &jiff::tz::TimeZone::system())
}

fn parse_bound_in(
    flag: &'static str,
    value: &str,
    end: bool,
    tz: &jiff::tz::TimeZone,
) -> Result<OffsetDateTime, ExportError> {
    let value = value.trim();
    if let Some(t) = parse_rfc3339(value) {
        return Ok(t);
    }
    let bad = || ExportError::Bound {
        flag,
        value: value.to_string(),
    };
    let date =
        Date::parse(value, format_description!("[year]-[month]-[day]")).map_err(|_| bad())?;
    let date = if end {
        date.next_day().ok_or_else(bad)?
    } else {
        date
    };
    let civil = jiff::civil::Date::new(
        i16::try_from(date.year()).map_err(|_| bad())?,
        u8::from(date.month()) as i8,
        date.day() as i8,
    )
    .map_err(|_| bad())?;
    let start = civil.to_zoned(tz.clone()).map_err(|_| bad())?;
    OffsetDateTime::from_unix_timestamp(start.timestamp().as_second()).map_err(|_| bad())
}

/// One exported row. Field order is the CSV column order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    pub seq: i64,
    pub at: String,
    pub kind: String,
    pub tx_id: Option<String>,
    pub receipt_number: Option<String>,
    /// `recharge` or `notice`, for entries about a transaction.
    pub operation: Option<String>,
    pub service: Option<String>,
    pub operator: Option<String>,
    pub amount_cents: Option<i64>,
    pub fee_cents: Option<i64>,
    pub total_cents: Option<i64>,
    pub tendered_cents: Option<i64>,
    pub change_cents: Option<i64>,
    pub offline: Option<bool>,
    /// The transaction's sync state now: `pending`, `confirmed`, `rejected`.
    pub sync: Option<String>,
    pub hash: String,
    /// How many items a payment holds (`None` for other entries).
    pub items: Option<i64>,
}

impl Row {
    /// The row of one journal entry: the fields its body has, by name.
    fn from_entry(
        seq: i64,
        at: String,
        kind: String,
        tx_id: Option<String>,
        body: &str,
        hash: String,
        sync: Option<String>,
    ) -> Row {
        let mut body: Value = serde_json::from_str(body).unwrap_or(Value::Null);
        let items = (kind == "paid").then(|| items_summary(&mut body));
        let text = |k: &str| body.get(k).and_then(Value::as_str).map(mask);
        let int = |k: &str| body.get(k).and_then(Value::as_i64);
        let amount = int("amount_cents");
        let fee = int("fee_cents");
        let total = int("total_cents").or(match (kind.as_str(), amount, fee) {
            ("paid", Some(a), Some(f)) => Some(a + f),
            _ => None,
        });
        Row {
            seq,
            at: mask(&at),
            receipt_number: text("receipt_number"),
            operation: text("kind"),
            service: body
                .get("service")
                .and_then(|s| s.get("id").or(Some(s)))
                .and_then(Value::as_str)
                .map(mask),
            operator: text("operator"),
            amount_cents: amount,
            fee_cents: fee,
            total_cents: total,
            tendered_cents: int("tendered_cents"),
            change_cents: int("change_cents"),
            offline: body.get("offline").and_then(Value::as_bool),
            sync: sync.as_deref().map(mask),
            kind: mask(&kind),
            tx_id: tx_id.as_deref().map(mask),
            hash,
            items,
        }
    }
}

/// A `paid` body with `items` (schema 6 on) gets the one-row fields a body
/// before items had at its top level: the sums, the kind (`mixed` when
/// they differ), the services joined by `+`, the offline flag of any item.
/// Returns the number of items (1 for a `paid` body before items).
fn items_summary(body: &mut Value) -> i64 {
    // Taken out, not copied: the row reads only the top-level fields.
    let Some(Value::Array(items)) = body.as_object_mut().and_then(|m| m.remove("items")) else {
        return 1;
    };
    let sum = |k: &str| -> Option<i64> {
        items
            .iter()
            .map(|i| i.get(k).and_then(Value::as_i64))
            .try_fold(0i64, |acc, v| acc.checked_add(v?))
    };
    let mut kinds: Vec<&str> = items
        .iter()
        .filter_map(|i| i.get("kind").and_then(Value::as_str))
        .collect();
    kinds.dedup();
    let kind = match kinds.as_slice() {
        [one] => one.to_string(),
        _ => "mixed".to_string(),
    };
    let mut services: Vec<&str> = vec![];
    for s in items
        .iter()
        .filter_map(|i| i.get("service")?.get("id")?.as_str())
    {
        if !services.contains(&s) {
            services.push(s);
        }
    }
    let offline = items
        .iter()
        .any(|i| i.get("offline").and_then(Value::as_bool) == Some(true));
    if let Value::Object(map) = body {
        map.insert("amount_cents".into(), sum("amount_cents").into());
        map.insert("fee_cents".into(), sum("fee_cents").unwrap_or(0).into());
        map.insert("kind".into(), kind.into());
        if !services.is_empty() {
            map.insert("service".into(), services.join("+").into());
        }
        map.insert("offline".into(), offline.into());
    }
    items.len() as i64
}

fn mask(s: &str) -> String {
    pos_codes::mask_fiscal_codes(s)
}

/// How many entries `range` holds.
pub fn count(store: &Store, range: &Range) -> Result<u64, ExportError> {
    let n = store.journal_count_between(range.from.as_deref(), range.to.as_deref())?;
    Ok(u64::try_from(n).unwrap_or(0))
}

/// Calls `each` with every row of `range`, in journal order, streaming
/// (a year of a busy counter is never held in memory at once).
pub fn for_each_row(
    store: &Store,
    range: &Range,
    mut each: impl FnMut(Row) -> Result<(), ExportError>,
) -> Result<(), ExportError> {
    store.for_each_journal_entry_between(range.from.as_deref(), range.to.as_deref(), |e| {
        each(Row::from_entry(
            e.seq, e.at, e.kind, e.tx_id, &e.body, e.hash, e.sync,
        ))
    })
}

/// Writes `range` to `out`; returns the number of rows.
pub fn write(
    store: &Store,
    range: &Range,
    format: Format,
    out: &mut dyn Write,
    target: &str,
    progress: &indicatif::ProgressBar,
) -> Result<u64, ExportError> {
    let werr = |source| ExportError::Write {
        target: target.to_string(),
        source,
    };
    let mut n = 0u64;
    match format {
        Format::Csv => {
            let mut w = csv::Writer::from_writer(&mut *out);
            for_each_row(store, range, |row| {
                w.serialize(&row)?;
                n += 1;
                progress.inc(1);
                Ok(())
            })?;
            if n == 0 {
                // `serialize` writes the header with the first row; an empty
                // export still says which columns it would have.
                w.write_record(COLUMNS)?;
            }
            w.flush().map_err(werr)?;
        }
        Format::Json => {
            out.write_all(b"[").map_err(werr)?;
            for_each_row(store, range, |row| {
                let sep: &[u8] = if n == 0 { b"\n  " } else { b",\n  " };
                out.write_all(sep).map_err(werr)?;
                serde_json::to_writer(&mut *out, &row)
                    .map_err(|e| werr(std::io::Error::other(e)))?;
                n += 1;
                progress.inc(1);
                Ok(())
            })?;
            out.write_all(if n == 0 { b"]\n" } else { b"\n]\n" })
                .map_err(werr)?;
        }
    }
    out.flush().map_err(werr)?;
    Ok(n)
}

/// The CSV header, in [`Row`]'s field order.
pub const COLUMNS: [&str; 17] = [
    "seq",
    "at",
    "kind",
    "tx_id",
    "receipt_number",
    "operation",
    "service",
    "operator",
    "amount_cents",
    "fee_cents",
    "total_cents",
    "tendered_cents",
    "change_cents",
    "offline",
    "sync",
    "hash",
    "items",
];

/// `pos-agent journal export`: to `output` (written whole, then renamed
/// into place, so a failed export never leaves half a file) or standard
/// output. A progress bar goes to standard error for long exports when it
/// is a terminal. Returns the number of rows.
pub fn run(
    store: &Store,
    from: Option<&str>,
    to: Option<&str>,
    format: &str,
    output: Option<&Path>,
) -> anyhow::Result<u64> {
    let format: Format = format.parse()?;
    let range = Range::parse(from, to)?;
    // One read transaction: the count and the rows are the same snapshot,
    // whatever the agent commits meanwhile (issue 14 finding 5).
    store.in_read_snapshot(|| run_in_snapshot(store, &range, format, output))?
}

fn run_in_snapshot(
    store: &Store,
    range: &Range,
    format: Format,
    output: Option<&Path>,
) -> anyhow::Result<u64> {
    let range = range.clone();
    let total = count(store, &range)?;
    let progress = if std::io::stderr().is_terminal() && total >= PROGRESS_FROM_ROWS {
        let bar = indicatif::ProgressBar::with_draw_target(
            Some(total),
            indicatif::ProgressDrawTarget::stderr(),
        );
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "esportazione {bar:40} {pos}/{len} voci ({eta} alla fine)",
        ) {
            bar.set_style(style);
        }
        bar
    } else {
        indicatif::ProgressBar::hidden()
    };
    let n = match output {
        Some(path) => {
            let tmp = path.with_extension("partial");
            let target = path.display().to_string();
            let file = std::fs::File::create(&tmp).map_err(|source| ExportError::Write {
                target: tmp.display().to_string(),
                source,
            })?;
            let mut buf = std::io::BufWriter::new(file);
            let written = write(store, &range, format, &mut buf, &target, &progress);
            let written = written.and_then(|n| {
                let file = buf.into_inner().map_err(|e| ExportError::Write {
                    target: target.clone(),
                    source: e.into_error(),
                })?;
                file.sync_all()
                    .and_then(|()| std::fs::rename(&tmp, path))
                    .map_err(|source| ExportError::Write {
                        target: target.clone(),
                        source,
                    })?;
                Ok(n)
            });
            if written.is_err() {
                let _ = std::fs::remove_file(&tmp);
            }
            written?
        }
        None => {
            let stdout = std::io::stdout();
            let mut lock = std::io::BufWriter::new(stdout.lock());
            write(
                store,
                &range,
                format,
                &mut lock,
                "standard output",
                &progress,
            )?
        }
    };
    progress.finish_and_clear();
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn store_with(entries: &[(&str, Option<&str>, Value)]) -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("journal.sqlite")).unwrap();
        for (kind, tx, body) in entries {
            store.journal_event(kind, *tx, body).unwrap();
        }
        (dir, store)
    }

    fn export(store: &Store, range: &Range, format: Format) -> String {
        let mut out = Vec::new();
        write(
            store,
            range,
            format,
            &mut out,
            "test",
            &indicatif::ProgressBar::hidden(),
        )
        .unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn csv_has_the_columns_and_quotes_what_needs_quoting() {
        let (_d, store) = store_with(&[
            (
                "paid",
                Some("tx-1"),
                json!({"kind": "recharge", "receipt_number": "T-1/2026/000001",
                       "service": {"id": "mensa", "name": "Mensa"}, "operator": "op,1",
                       "amount_cents": 2000, "fee_cents": 100, "tendered_cents": 5000,
                       "change_cents": 2900, "offline": false}),
            ),
            (
                "reprint",
                Some("tx-1"),
                json!({"receipt_number": "T-1/2026/000001"}),
            ),
        ]);
        let text = export(&store, &Range::default(), Format::Csv);
        let mut r = csv::Reader::from_reader(text.as_bytes());
        assert_eq!(r.headers().unwrap().iter().collect::<Vec<_>>(), COLUMNS);
        let rows: Vec<csv::StringRecord> = r.records().map(Result::unwrap).collect();
        assert_eq!(rows.len(), 2);
        assert_eq!(&rows[0][0], "1");
        assert_eq!(&rows[0][2], "paid");
        assert_eq!(&rows[0][4], "T-1/2026/000001");
        assert_eq!(&rows[0][6], "mensa");
        assert_eq!(&rows[0][7], "op,1", "a comma inside a field survives");
        assert_eq!(&rows[0][10], "2100", "total = amount + fee");
        assert_eq!(&rows[1][2], "reprint");
        assert_eq!(&rows[1][8], "", "no amount on a reprint");
        assert!(text.contains("\"op,1\""), "{text}");
    }

    #[test]
    fn a_payment_of_several_items_is_one_row_with_their_sums() {
        let (_d, store) = store_with(&[(
            "paid",
            Some("tx-1"),
            json!({"receipt_number": "T-1/2026/000002", "operator": "op1",
                   "tendered_cents": 10000, "change_cents": 450, "items": [
                {"n": 1, "kind": "recharge", "service": {"id": "mensa", "name": "Mensa"},
                 "amount_cents": 1500, "fee_cents": 0, "offline": false},
                {"n": 2, "kind": "recharge", "service": {"id": "mensa", "name": "Mensa"},
                 "amount_cents": 2000, "fee_cents": 0, "offline": true},
                {"n": 3, "kind": "notice", "amount_cents": 5500, "fee_cents": 50,
                 "offline": false}]}),
        )]);
        let v: Value =
            serde_json::from_str(&export(&store, &Range::default(), Format::Json)).unwrap();
        let row = &v[0];
        assert_eq!(row["amount_cents"], 9000);
        assert_eq!(row["fee_cents"], 50);
        assert_eq!(row["total_cents"], 9050);
        assert_eq!(row["operation"], "mixed");
        assert_eq!(row["service"], "mensa");
        assert_eq!(row["offline"], true);
        assert_eq!(row["items"], 3);
    }

    #[test]
    fn json_is_an_array_of_rows_and_empty_exports_are_valid() {
        let (_d, store) = store_with(&[]);
        let text = export(&store, &Range::default(), Format::Json);
        assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), json!([]));
        let text = export(&store, &Range::default(), Format::Csv);
        assert_eq!(text.trim_end(), COLUMNS.join(","));

        let (_d, store) = store_with(&[
            ("a", None, json!({})),
            ("b", None, json!({"total_cents": 7})),
        ]);
        let v: Value =
            serde_json::from_str(&export(&store, &Range::default(), Format::Json)).unwrap();
        let rows = v.as_array().unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[1]["kind"], "b");
        assert_eq!(rows[1]["total_cents"], 7);
        assert_eq!(rows[0]["seq"], 1);
    }

    #[test]
    fn fiscal_codes_never_reach_an_export() {
        let (_d, store) = store_with(&[(
            "note",
            None,
            json!({"operator": "RSSMRA85T10A562S", "receipt_number": "x RSSMRA85T10A562S"}),
        )]);
        for f in [Format::Csv, Format::Json] {
            let text = export(&store, &Range::default(), f);
            assert!(!text.contains("RSSMRA85T10A562S"), "{text}");
            assert!(text.contains("RSS***********2S"), "{text}");
        }
    }

    #[test]
    fn the_range_selects_by_time() {
        let (_d, store) = store_with(&[("a", None, json!({}))]);
        let all = Range::parse(Some("2000-01-01"), None).unwrap();
        assert_eq!(count(&store, &all).unwrap(), 1);
        let future = Range::parse(Some("2999-01-01T00:00:00Z"), None).unwrap();
        assert_eq!(count(&store, &future).unwrap(), 0);
        let past = Range::parse(None, Some("2000-01-01")).unwrap();
        assert_eq!(count(&store, &past).unwrap(), 0);
    }

    #[test]
    fn a_date_is_a_local_day_in_italy_even_across_daylight_saving() {
        let rome = jiff::tz::TimeZone::get("Europe/Rome").unwrap();
        let at = |v: &str, end: bool| rfc3339(parse_bound_in("from", v, end, &rome).unwrap());
        assert_eq!(at("2026-11-22", false), "2026-11-21T23:00:00Z");
        assert_eq!(at("2026-11-22", true), "2026-11-22T23:00:00Z");
        // 29 March 2026: clocks go forward, the day ends at 22:00 UTC.
        assert_eq!(at("2026-03-29", false), "2026-03-28T23:00:00Z");
        assert_eq!(at("2026-03-29", true), "2026-03-29T22:00:00Z");
    }

    #[test]
    fn bounds_parse_dates_and_instants() {
        let r = Range::parse(
            Some("2026-11-22T10:15:00+01:00"),
            Some("2026-11-23T00:00:00Z"),
        )
        .unwrap();
        assert_eq!(r.from.as_deref(), Some("2026-11-22T09:15:00Z"));
        assert_eq!(r.to.as_deref(), Some("2026-11-23T00:00:00Z"));
        // A date's `--to` includes that whole day.
        let r = Range::parse(Some("2026-11-22"), Some("2026-11-22")).unwrap();
        let (f, t) = (r.from.unwrap(), r.to.unwrap());
        let hours = (parse_rfc3339(&t).unwrap() - parse_rfc3339(&f).unwrap()).whole_hours();
        assert!((23..=25).contains(&hours), "{f} .. {t}");
        assert!(matches!(
            Range::parse(Some("22/11/2026"), None),
            Err(ExportError::Bound { flag: "from", .. })
        ));
        assert!(matches!(
            Range::parse(Some("2026-11-23"), Some("2026-11-22")),
            Err(ExportError::EmptyRange { .. })
        ));
        assert!(matches!(
            "xml".parse::<Format>(),
            Err(ExportError::Format(_))
        ));
        assert_eq!("CSV".parse::<Format>().unwrap(), Format::Csv);
    }
}
