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
//! The queue is a [`PrintQueue`] the agent owns: a handle on the store, the
//! printer service and the documents' header, and nothing of the agent.
//! Its retry loop ([`PrintQueue::run`]) is one of the runtime's tasks.
//!
//! `POS_AGENT_PRINT_RETRY_MS` shortens the loop's interval (tests).

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pos_drivers::{DeviceState, Document};
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::receipts::Header;
use super::PrintService;
use crate::model::TxState;
use crate::store::{PrintJob, PrintKind, StoreHandle};
use crate::time_fmt::{parse_rfc3339, rfc3339};

/// What rendering a job gave.
enum Rendered {
    Doc(Document),
    /// Closed without printing: (`skipped` | `failed`, why).
    Close(&'static str, String),
}

/// A job held back from printing until it is dropped or printed with
/// [`PrintQueue::print_held`]; dropping it lets the retry loop print it.
pub struct HeldJob {
    pub id: i64,
    queue: Arc<Shared>,
}

impl Drop for HeldJob {
    fn drop(&mut self) {
        self.queue.held().remove(&self.id);
    }
}

/// What the queue's clones share.
#[derive(Default)]
struct Shared {
    /// One drain of the queue at a time, so jobs print in order.
    drain_lock: tokio::sync::Mutex<()>,
    /// Jobs being held back for a moment (the receipt waiting for the
    /// backend's confirmation); ids of `print_jobs`.
    held: Mutex<HashSet<i64>>,
}

impl Shared {
    fn held(&self) -> std::sync::MutexGuard<'_, HashSet<i64>> {
        self.held.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The durable print queue: print jobs stored in `print_jobs`, rendered
/// from what is stored at print time, printed in order by the printer
/// service. Cheap to clone (its clones are one queue).
#[derive(Clone)]
pub struct PrintQueue {
    store: StoreHandle,
    printer: PrintService,
    header: Header,
    shared: Arc<Shared>,
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

impl PrintQueue {
    /// The queue of the jobs in `store`, printed on `printer` with
    /// `header` at the top of every document.
    pub fn new(store: StoreHandle, printer: PrintService, header: Header) -> Self {
        PrintQueue {
            store,
            printer,
            header,
            shared: Arc::default(),
        }
    }

    /// The shop and terminal printed at the top of every document.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// Stores a job and prints what is pending, this job included, in order.
    /// True when this job is on paper; otherwise it stays pending and the
    /// retry loop prints it when the printer is back. Never fails: a job
    /// that cannot even be stored is logged and printed once, best effort.
    pub async fn print(&self, kind: PrintKind, ref_id: &str) -> bool {
        let r = ref_id.to_string();
        let id = match self
            .store
            .run(move |s| s.enqueue_print_job(kind, &r, OffsetDateTime::now_utc()))
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
        self.drain().await;
        self.job_printed(id).await
    }

    /// Holds back a job that is already stored: the receipt's job, written
    /// with the payment itself, waits a moment for the backend's
    /// confirmation. It is printed by [`PrintQueue::print_held`], or by the
    /// retry loop once the guard is dropped (or after a restart).
    pub fn hold(&self, id: i64) -> HeldJob {
        self.shared.held().insert(id);
        HeldJob {
            id,
            queue: self.shared.clone(),
        }
    }

    /// Releases a held job and prints what is pending; true when it is on paper.
    pub async fn print_held(&self, job: HeldJob) -> bool {
        let id = job.id;
        drop(job);
        self.drain().await;
        self.job_printed(id).await
    }

    async fn job_printed(&self, id: i64) -> bool {
        matches!(
            self.store.run(move |s| s.print_job(id)).await,
            Ok(Some(j)) if j.state == "printed"
        )
    }

    /// The retry loop, until `stop`: polls the printer's state (so
    /// `status` and the `device` events follow it) and prints what is
    /// pending when the printer is ready (or every [`FORCE_RETRY_TICKS`]
    /// ticks, for printers that cannot report a state). Jobs left by a
    /// previous run (paper out, a crash) are printed from the first tick.
    /// `stop` is looked at between ticks only, never during a print: a job
    /// put on paper is always recorded as printed.
    pub async fn run(self, stop: CancellationToken) {
        let interval = retry_interval();
        let mut ticks_since_try = 0u32;
        self.refresh_pending_count().await;
        loop {
            let state = self.printer.poll_state().await;
            ticks_since_try += 1;
            if ticks_since_try >= FORCE_RETRY_TICKS {
                // Jobs committed by a request whose own printing never
                // ran (the client went away, a crash) are found here.
                self.refresh_pending_count().await;
            }
            let pending = self.printer.pending_jobs() > 0;
            let can_print = matches!(state, DeviceState::Ready | DeviceState::Disabled);
            if pending && (can_print || ticks_since_try >= FORCE_RETRY_TICKS) {
                ticks_since_try = 0;
                self.drain().await;
            }
            tokio::select! {
                _ = tokio::time::sleep(interval) => {}
                _ = stop.cancelled() => return,
            }
        }
    }

    /// Pending jobs not held back (a held receipt is not waiting for the
    /// printer, it is waiting for the backend).
    fn waiting(&self, pending: usize) -> usize {
        pending.saturating_sub(self.shared.held().len())
    }

    async fn refresh_pending_count(&self) {
        if let Ok(n) = self.store.run(|s| s.pending_print_job_count()).await {
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
    pub async fn drain(&self) {
        let _one_at_a_time = self.shared.drain_lock.lock().await;
        let jobs = match self.store.run(|s| s.pending_print_jobs()).await {
            Ok(j) => j,
            Err(e) => {
                warn!(error = %e, "cannot read the print queue");
                return;
            }
        };
        let mut error = None;
        for job in jobs {
            if self.shared.held().contains(&job.id) {
                continue;
            }
            let id = job.id;
            match self.render_job(&job).await {
                Rendered::Close(state, why) => {
                    info!(job = id, kind = %job.kind, %why, "print job closed without printing");
                    let _ = self
                        .store
                        .run(move |s| s.close_print_job(id, state, &why))
                        .await;
                }
                Rendered::Doc(doc) => match self.printer.try_print(doc).await {
                    Ok(()) => {
                        info!(job = id, kind = %job.kind, "printed");
                        if let Err(e) = self
                            .store
                            .run(move |s| s.mark_print_job_printed(id, OffsetDateTime::now_utc()))
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
                            .store
                            .run(move |s| s.mark_print_job_attempt_failed(id, &m))
                            .await;
                        error = Some(msg);
                        break;
                    }
                },
            }
        }
        let n = self
            .store
            .run(|s| s.pending_print_job_count())
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
        let header = &self.header;
        let ref_id = job.ref_id.clone();
        if kind == PrintKind::DayReport {
            return match self.store.run(move |s| s.closure(&ref_id)).await {
                Ok(Some(c)) => Rendered::Doc(super::day_report::report_document(header, &c.report)),
                Ok(None) => Rendered::Close("failed", "closure not found".into()),
                Err(e) => Rendered::Close("failed", e.to_string()),
            };
        }
        let t = match self.store.run(move |s| s.transaction(&ref_id)).await {
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
                    header, &t, at, offset,
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
                    header,
                    &t,
                    kind == PrintKind::Duplicate,
                    offset,
                ))
            }
            PrintKind::DayReport => Rendered::Close("failed", "unreachable".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queue(dir: &std::path::Path) -> PrintQueue {
        let store = crate::store::Store::open(&dir.join("j.sqlite")).unwrap();
        let events = crate::events::EventBus::new();
        let printer = PrintService::new(Box::new(pos_drivers::NullPrinter), events);
        let header = Header {
            shop_name: "Tabaccheria".into(),
            address: "Via Roma 1".into(),
            terminal_id: "T-000001".into(),
            ..Header::default()
        };
        PrintQueue::new(StoreHandle::new(store), printer, header)
    }

    /// The retry loop is a runtime task like the others: it ends when its
    /// token is cancelled (a bounded wait, not a timing).
    #[tokio::test]
    async fn the_retry_loop_ends_when_told() {
        let dir = tempfile::tempdir().unwrap();
        let stop = CancellationToken::new();
        let looping = tokio::spawn(queue(dir.path()).run(stop.clone()));
        tokio::task::yield_now().await;
        assert!(!looping.is_finished());
        stop.cancel();
        tokio::time::timeout(Duration::from_secs(10), looping)
            .await
            .expect("the loop ended")
            .unwrap();
    }

    /// A held job is printed by `print_held`, not by a drain meanwhile;
    /// a job whose transaction is gone is closed as failed, not retried.
    #[tokio::test]
    async fn a_held_job_waits_for_its_release() {
        let dir = tempfile::tempdir().unwrap();
        let q = queue(dir.path());
        let id = q
            .store
            .run(|s| s.enqueue_print_job(PrintKind::Receipt, "tx-gone", OffsetDateTime::now_utc()))
            .await
            .unwrap();
        let state = || async {
            let job = q.store.run(move |s| s.print_job(id)).await.unwrap();
            job.map(|j| j.state)
        };
        let held = q.hold(id);
        q.drain().await;
        assert_eq!(state().await.as_deref(), Some("pending"), "held back");
        assert!(!q.print_held(held).await, "its transaction does not exist");
        assert_eq!(state().await.as_deref(), Some("failed"));
    }
}
