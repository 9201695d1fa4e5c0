//! The day close (`POST /api/v1/day/close`): the report of the period since
//! the previous close, stored, journaled and queued for `POST /v1/closures`
//! in one SQLite transaction, then printed.
//!
//! A close with nothing paid since the previous one, and no refund to list,
//! returns that closure again and sends nothing, so pressing the button
//! twice is harmless. The report's numbers are `crate::day`, its printed
//! layout `printing/day_report.rs`.

use serde_json::{json, Value};
use time::OffsetDateTime;

use super::CounterError;
use crate::agent::Agent;
use crate::day::build_report;
use crate::printing::receipts::eur;
use crate::store::{ClosureRow, OutboxDraft};
use crate::time_fmt::{local, parse_rfc3339, rfc3339};

impl Agent {
    /// `POST /api/v1/day/close`.
    pub async fn close_day(&self) -> Result<Value, CounterError> {
        let _guard = self.counter_lock.lock().await;
        // Times are whole seconds, so the period ends at the next whole
        // second; the counter lock is held until then, so a later payment
        // always falls in the next period.
        let now = OffsetDateTime::now_utc();
        let end = (now + time::Duration::SECOND)
            .replace_nanosecond(0)
            .unwrap_or(now);
        let to = rfc3339(end);
        let terminal = self.terminal_id.clone();
        let outcome = self
            .db(move |s| -> Result<Result<Value, Value>, crate::store::StoreError> {
                let last = s.last_closure()?;
                let from = match &last {
                    Some(c) => c.to_at.clone(),
                    None => s.first_transaction_created_at()?.unwrap_or_else(|| to.clone()),
                };
                let paid = s.unclosed_paid()?;
                let refunds = s.unlisted_refunds()?;
                if let (Some(c), true, true) = (&last, paid.is_empty(), refunds.is_empty()) {
                    // Nothing new: the same closure again, nothing sent.
                    let mut report = c.report.clone();
                    report["status"] = json!(c.status);
                    if let Some(a) = &c.answer {
                        report["answer"] = a.clone();
                    }
                    return Ok(Err(report));
                }
                let created = s.transactions_created_between(&from, &to)?;
                let day = {
                    let d = local(parse_rfc3339(&to).unwrap_or(now)).date();
                    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
                };
                let number = s.closures_on(&day)? + 1;
                let closure_id = format!("{terminal}/{day}/{number}");
                let report = build_report(&closure_id, &from, &to, &paid, &created, &refunds);
                // The journal just before the closure's own entry: the
                // municipality keeps it as a witness (issue 14 finding 4).
                let (journal_entries, journal_head) = s.journal_head()?;
                let body = json!({
                    "closure_id": closure_id, "from": from, "to": to,
                    "count": report["count"], "total_cents": report["total_cents"],
                    "first_receipt": report["first_receipt"], "last_receipt": report["last_receipt"],
                    "journal_entries": journal_entries, "journal_head": journal_head,
                });
                let row = ClosureRow {
                    closure_id: closure_id.clone(),
                    day,
                    number,
                    from_at: from,
                    to_at: to,
                    paid_count: paid.len() as i64,
                    report: report.clone(),
                    status: "pending".into(),
                    answer: None,
                };
                let draft = OutboxDraft {
                    purpose: "closure".into(),
                    method: "POST".into(),
                    path: "/v1/closures".into(),
                    idempotency_key: closure_id,
                    body: serde_json::to_vec(&body).unwrap_or_default(),
                    item: 1,
                };
                let counted: Vec<String> = paid.iter().map(|t| t.id.clone()).collect();
                s.commit_closure(&row, &draft, &counted)?;
                // What settled, closed payments no longer need (issue 17).
                if let Err(e) = s.compact_settled() {
                    tracing::warn!(error = %e, "could not compact settled payments");
                }
                Ok(Ok(report))
            })
            .await?;
        let mut report = match outcome {
            Err(previous) => return Ok(previous),
            Ok(r) => r,
        };
        let left = end - OffsetDateTime::now_utc();
        if left.is_positive() {
            tokio::time::sleep(left.unsigned_abs()).await;
        }
        // Payments may go on while the report prints and the backend answers.
        drop(_guard);
        self.sync_wake.notify_one();
        self.emit_outbox().await;
        // The report's print job was committed with the closure.
        self.print_queue.drain().await;
        // Give the backend a moment to answer so the operator sees matched/mismatch.
        let id = report["closure_id"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let deadline = tokio::time::Instant::now() + self.receipt_wait;
        loop {
            let idc = id.clone();
            let row = self.db(move |s| s.closure(&idc)).await?;
            if let Some(row) = row {
                if row.status != "pending" || tokio::time::Instant::now() >= deadline {
                    report["status"] = json!(row.status);
                    if let Some(a) = row.answer {
                        report["answer"] = a;
                    }
                    break;
                }
            } else {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        tracing::info!(closure = %id, total = %eur(report["total_cents"].as_i64().unwrap_or(0)), "day closed");
        Ok(report)
    }
}
