//! Durable print jobs: a receipt that cannot be printed is never lost.
//!
//! Every document the counter owes a parent (pre-receipt, receipt,
//! duplicate) and the day report is a row of `print_jobs` before it is
//! printed. The row holds only what to print (`kind`, `ref_id`); the
//! document is rendered from the transaction (or the closure) at print
//! time, so a receipt printed late shows the sync state of that moment.
//!
//! ```text
//! print_job(kind, ref_id)   INSERT pending ─┐
//!                                           ├─ drain: oldest first, until one fails
//! retry loop (every 2 s)   printer ready? ──┘      printed → state 'printed'
//!                                                  printer error → stays 'pending', attempts+1, last_error
//!                                                  nothing to print any more → 'skipped'
//! ```
//!
//! The loop also polls the printer's state, so `status.devices.printer`
//! and the `device` events follow a printer that runs out of paper or comes
//! back; a `print` event `{"pending", "last_error"}` tells the console how
//! many jobs wait. Printing happens on blocking threads behind the
//! printer's mutex and never under the counter lock of `pay`.
//!
//! `POS_AGENT_PRINT_RETRY_MS` shortens the loop's interval (tests).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use pos_drivers::{DeviceState, Document};
use time::OffsetDateTime;
use tracing::{info, warn};

use crate::agent::Agent;
use crate::model::TxState;
pub use crate::store::{PrintJob, PrintKind};
use crate::time_fmt::{parse_rfc3339, rfc3339};

/// What rendering a job gave.
enum Rendered {
    Doc(Document),
    /// Closed without printing: (`skipped` | `failed`, why).
    Close(&'static str, String),
}

/// A job held back from printing until it is dropped or printed with
/// [`Agent::print_held`]; dropping it lets the retry loop print it.
pub struct HeldJob {
    pub id: i64,
    service: crate::printing::PrintService,
}

impl Drop for HeldJob {
    fn drop(&mut self) {
        self.service
            .held
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.id);
    }
}

/// The retry loop's interval (`POS_AGENT_PRINT_RETRY_MS`, default 2 s).
fn retry_interval() -> Duration {
    std::env::var("POS_AGENT_PRINT_RETRY_MS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .map(|ms| Duration::from_millis(ms.max(20)))
        .unwrap_or(Duration::from_secs(2))
}

/// The loop tries a pending job every this many ticks even when the
/// printer does not say it is ready (printers that cannot report a state).
const FORCE_RETRY_TICKS: u32 = 5;

impl Agent {
    /// Stores a job and prints what is pending, this job included, in order.
    /// True when this job is on paper; otherwise it stays pending and the
    /// retry loop prints it when the printer is back. Never fails: a job
    /// that cannot even be stored is logged and printed once, best effort.
    pub async fn print_job(&self, kind: PrintKind, ref_id: &str) -> bool {
        self.ensure_print_queue();
        let r = ref_id.to_string();
        let id = match self
            .db(move |s| s.enqueue_print_job(kind, &r, OffsetDateTime::now_utc()))
            .await
        {
            Ok(id) => id,
            Err(e) => {
                warn!(error = %e, kind = kind.as_str(), "could not store the print job; printing it once");
                let job = PrintJob {
                    id: 0,
                    kind: kind.as_str().into(),
                    ref_id: ref_id.into(),
                    created_at: rfc3339(OffsetDateTime::now_utc()),
                    state: "pending".into(),
                    attempts: 0,
                    last_error: None,
                    printed_at: None,
                };
                return match self.render_job(&job).await {
                    Rendered::Doc(doc) => self.printer.print(doc, false).await,
                    Rendered::Close(..) => false,
                };
            }
        };
        self.drain_print_queue().await;
        self.job_printed(id).await
    }

    /// Holds back a job that is already stored: the receipt's job, written
    /// with the payment itself, waits a moment for the backend's
    /// confirmation. It is printed by [`Agent::print_held`], or by the retry
    /// loop once the guard is dropped (or after a restart).
    pub fn hold_existing_print_job(&self, id: i64) -> HeldJob {
        self.printer
            .held
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id);
        HeldJob {
            id,
            service: self.printer.clone(),
        }
    }

    /// Prints what is pending, a job committed with other data (the day
    /// report with its closure) included.
    pub async fn print_committed_job(&self) {
        self.ensure_print_queue();
        self.drain_print_queue().await;
    }

    /// Releases a held job and prints what is pending; true when it is on paper.
    pub async fn print_held(&self, job: Option<HeldJob>) -> bool {
        let Some(job) = job else { return false };
        let id = job.id;
        drop(job);
        self.drain_print_queue().await;
        self.job_printed(id).await
    }

    async fn job_printed(&self, id: i64) -> bool {
        matches!(
            self.db(move |s| s.print_job(id)).await,
            Ok(Some(j)) if j.state == "printed"
        )
    }

    /// Starts the retry loop if it is not running (idempotent). Also called
    /// by the first print job, so a queue left by the previous run is
    /// printed even if nothing started it explicitly.
    pub fn start_print_queue(self: &Arc<Self>) {
        if self.printer.worker_started.swap(true, Ordering::SeqCst) {
            return;
        }
        let agent = Arc::downgrade(self);
        let interval = retry_interval();
        tokio::spawn(async move {
            let mut ticks_since_try = 0u32;
            if let Some(a) = agent.upgrade() {
                a.refresh_pending_count().await;
            }
            loop {
                let Some(a) = agent.upgrade() else { return };
                let state = a.printer.poll_state().await;
                ticks_since_try += 1;
                if ticks_since_try >= FORCE_RETRY_TICKS {
                    // Jobs committed by a request whose own printing never
                    // ran (the client went away, a crash) are found here.
                    a.refresh_pending_count().await;
                }
                let pending = a.printer.pending_jobs() > 0;
                let can_print = matches!(state, DeviceState::Ready | DeviceState::Disabled);
                if pending && (can_print || ticks_since_try >= FORCE_RETRY_TICKS) {
                    ticks_since_try = 0;
                    a.drain_print_queue().await;
                }
                drop(a);
                tokio::time::sleep(interval).await;
            }
        });
    }

    fn ensure_print_queue(&self) {
        if !self.printer.worker_started.load(Ordering::SeqCst) {
            if let Some(me) = self.me.upgrade() {
                me.start_print_queue();
            }
        }
    }

    /// Pending jobs not held back (a held receipt is not waiting for the
    /// printer, it is waiting for the backend).
    fn waiting(&self, pending: usize) -> usize {
        let held = self
            .printer
            .held
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .len();
        pending.saturating_sub(held)
    }

    async fn refresh_pending_count(&self) {
        if let Ok(n) = self.db(|s| s.pending_print_job_count()).await {
            let n = self.waiting(n);
            let error = if n == 0 {
                None
            } else {
                self.printer.last_error()
            };
            self.printer.set_pending(n, error);
        }
    }

    /// Prints pending jobs, oldest first, until the printer refuses one.
    /// One drain at a time; held jobs are left for later.
    pub async fn drain_print_queue(&self) {
        let _one_at_a_time = self.printer.drain_lock.lock().await;
        let jobs = match self.db(|s| s.pending_print_jobs()).await {
            Ok(j) => j,
            Err(e) => {
                warn!(error = %e, "cannot read the print queue");
                return;
            }
        };
        let mut error = None;
        for job in jobs {
            let held = self
                .printer
                .held
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .contains(&job.id);
            if held {
                continue;
            }
            let id = job.id;
            match self.render_job(&job).await {
                Rendered::Close(state, why) => {
                    info!(job = id, kind = %job.kind, %why, "print job closed without printing");
                    let _ = self.db(move |s| s.close_print_job(id, state, &why)).await;
                }
                Rendered::Doc(doc) => match self.printer.try_print(doc).await {
                    Ok(()) => {
                        info!(job = id, kind = %job.kind, "printed");
                        if let Err(e) = self
                            .db(move |s| s.mark_print_job_printed(id, OffsetDateTime::now_utc()))
                            .await
                        {
                            warn!(error = %e, job = id, "printed, but could not record it");
                        }
                    }
                    Err(e) => {
                        let msg = e.to_string();
                        warn!(error = %msg, job = id, kind = %job.kind, attempts = job.attempts + 1,
                            "print job not printed; kept, it is printed when the printer is back");
                        let m = msg.clone();
                        let _ = self
                            .db(move |s| s.mark_print_job_attempt_failed(id, &m))
                            .await;
                        error = Some(msg);
                        break;
                    }
                },
            }
        }
        let n = self
            .db(|s| s.pending_print_job_count())
            .await
            .map(|n| self.waiting(n))
            .unwrap_or_else(|_| self.printer.pending_jobs());
        self.printer.set_pending(
            n,
            if n == 0 {
                None
            } else {
                error.or_else(|| self.printer.last_error())
            },
        );
    }

    /// The document of a job, from what is stored now.
    async fn render_job(&self, job: &PrintJob) -> Rendered {
        let Some(kind) = PrintKind::parse(&job.kind) else {
            return Rendered::Close("failed", format!("unknown kind {}", job.kind));
        };
        let header = self.receipt_header();
        let ref_id = job.ref_id.clone();
        if kind == PrintKind::DayReport {
            return match self.db(move |s| s.closure(&ref_id)).await {
                Ok(Some(c)) => Rendered::Doc(crate::day::report_document(&header, &c.report)),
                Ok(None) => Rendered::Close("failed", "closure not found".into()),
                Err(e) => Rendered::Close("failed", e.to_string()),
            };
        }
        let t = match self.db(move |s| s.transaction(&ref_id)).await {
            Ok(Some(t)) => t,
            Ok(None) => return Rendered::Close("failed", "transaction not found".into()),
            Err(e) => return Rendered::Close("failed", e.to_string()),
        };
        let offset = crate::printing::receipts::local_offset();
        match kind {
            PrintKind::PreReceipt => {
                if !matches!(t.state, TxState::AmountSet | TxState::AwaitingCash) {
                    return Rendered::Close(
                        "skipped",
                        format!("the transaction is {} now", t.state.as_str()),
                    );
                }
                let at = parse_rfc3339(&job.created_at).unwrap_or_else(OffsetDateTime::now_utc);
                Rendered::Doc(crate::printing::receipts::pre_receipt_in(
                    &header, &t, at, offset,
                ))
            }
            PrintKind::Receipt | PrintKind::Duplicate => {
                if t.state != TxState::Paid {
                    return Rendered::Close("failed", "the transaction is not paid".into());
                }
                // A receipt shows the time in the UTC offset of its payment,
                // however much later it is printed (issue 14 finding 8).
                let offset = crate::store::offset_of_payment(&t).unwrap_or(offset);
                Rendered::Doc(crate::printing::receipts::receipt_in(
                    &header,
                    &t,
                    kind == PrintKind::Duplicate,
                    offset,
                ))
            }
            PrintKind::DayReport => Rendered::Close("failed", "unreachable".into()),
        }
    }
}
