//! A mock of the municipal backend: the server side of `backend-api.md`.
//!
//! Transactions of several items (issue 15) are served as the spec says:
//! each `(transaction_id, item)` is credited once (a recharge without
//! `item` is item 1, as bodies written before items were), activations and
//! outcomes are matched per item through their keys (`<tx>:<n>:activate`),
//! and closures count items.
//!
//! [`MockBackend`] is a cheap handle on shared state. Tests serve it on
//! `127.0.0.1:0`, point the agent at [`RunningBackend::url`], inject faults,
//! and inspect what the backend applied (recharges credited, notice outcomes,
//! closures, the request log). Stopping a [`RunningBackend`] and serving the
//! same handle again on the same address simulates "backend down, then back"
//! with the state kept.
//!
//! Code map: `state` (what each endpoint does, under one lock), `routes` (HTTP
//! adapters, signature and idempotency, the fault/log pipeline), `auth`
//! (signatures), `faults`, `control` (`/_mock` routes), `server` (accept loop),
//! `demo` (the fixed demo data).

mod auth;
mod control;
pub mod demo;
mod faults;
mod routes;
mod server;
mod state;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use serde::Serialize;
use serde_json::{json, Value};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use faults::{Fault, Route};
use state::State;

/// A recharge the backend credited: one item of one transaction.
///
/// Kept whole (every field of the request as received) so that a test can
/// check what the agent actually sent, not only that something arrived.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RechargeRecord {
    /// The terminal that sent it (from the signature).
    pub terminal_id: String,
    /// The agent's id for the whole transaction; the items of one
    /// transaction share it.
    pub transaction_id: String,
    /// The item's number in its transaction (1 for a one-item transaction,
    /// and for a body sent without `item`, as before items existed). Each
    /// (`transaction_id`, `item`) is credited at most once.
    pub item: u32,
    /// The manual code or app token, as sent.
    pub code: String,
    /// `mensa` or `trasporto` in the demo data.
    pub service_id: String,
    /// The child credited.
    pub consumer_ref: String,
    /// The municipality the money is owed to.
    pub creditor_fiscal_code: String,
    /// The credit, in cents; it is what the closure counts.
    pub amount_cents: u64,
    /// The counter's own fee for this item; never counted in closures.
    pub fee_cents: u64,
    /// As sent (RFC 3339); closures pick their period's credits by it.
    pub paid_at: String,
    /// Shared by every item of the transaction.
    pub receipt_number: String,
    /// The operator logged in at the counter.
    pub operator_id: String,
    /// True when the agent accepted an app token without resolving it.
    pub offline: bool,
    /// The id the backend gave the credit (`R-10001`, ...), also sent back
    /// in a later `already_credited`.
    pub recharge_id: String,
}

/// An outcome recorded for an activated notice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NoticeOutcomeRecord {
    /// The terminal that sent it (from the signature).
    pub terminal_id: String,
    /// The transaction named by the activation's `Idempotency-Key`
    /// (`<tx>:activate`, `<tx>:<n>:activate`), or by the outcome's when the
    /// activation's key had another shape; `None` when neither had the
    /// spec's shape. The body carries no transaction id: the keys are the
    /// only place it travels.
    pub transaction_id: Option<String>,
    /// The item those keys name: 1 for `<tx>:activate`, n for
    /// `<tx>:<n>:activate`.
    pub item: Option<u32>,
    /// The outcome's `Idempotency-Key` as received, e.g. `<tx>:3:outcome`.
    pub idempotency_key: String,
    /// The token the activation gave; the outcome answers it.
    pub payment_token: String,
    /// The notice activated (18 digits).
    pub notice_number: String,
    /// The creditor of the notice.
    pub creditor_fiscal_code: String,
    /// The activated amount.
    pub amount_cents: u64,
    /// `"OK"` or `"KO"`.
    pub outcome: String,
    /// Only on `OK`, as sent; closures pick their period's notices by it.
    pub paid_at: Option<String>,
    /// Only on `OK`.
    pub receipt_number: Option<String>,
    /// Only on `OK`: the counter's fee, never counted in closures.
    pub fee_cents: Option<u64>,
    /// Only on `KO`, when the agent gave one.
    pub reason: Option<String>,
}

/// A day close received, with the server's own count for the period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClosureRecord {
    /// The terminal that sent it (from the signature).
    pub terminal_id: String,
    /// `T-000123/2026-11-22/1`, also the `Idempotency-Key`.
    pub closure_id: String,
    /// Start of the period (included), as sent.
    pub from: String,
    /// End of the period (excluded), as sent.
    pub to: String,
    /// The counter's count of items paid in the period.
    pub count: u64,
    /// The counter's total of those items, fees excluded.
    pub total_cents: u64,
    /// Lowest receipt number of the period, as sent.
    pub first_receipt: Option<String>,
    /// Highest receipt number of the period, as sent.
    pub last_receipt: Option<String>,
    /// True when answered `matched`.
    pub matched: bool,
    /// What the backend counted for the same terminal and period: one per
    /// credited recharge item plus one per `OK` notice outcome, so a
    /// transaction of three items counts 3, as the counter's `count` must.
    pub server_count: u64,
    /// The sum of those items' `amount_cents`.
    pub server_total_cents: u64,
    /// The counter's journal length and head hash just before the
    /// closure's own entry: the server keeps them as a witness. `None` only
    /// when an older agent did not send them.
    pub journal_entries: Option<u64>,
    /// Lowercase hex hash of the journal's last entry before the closure's.
    pub journal_head: Option<String>,
}

/// One `/v1` request as the backend saw it (the `/_mock` routes are not
/// logged).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LoggedRequest {
    /// `GET` or `POST`.
    pub method: String,
    /// The request target as received (path and query).
    pub path: String,
    /// The status answered; 0 when the connection was closed without an
    /// answer ([`Fault::ConnectionReset`]).
    pub status: u16,
    /// The `Idempotency-Key` header as sent: how a test checks which key
    /// (`<tx>`, `<tx>:2`, `<tx>:3:outcome`, ...) each attempt carried.
    pub idempotency_key: Option<String>,
}

/// Handle on the mock backend's state; clones share it.
#[derive(Clone)]
pub struct MockBackend {
    inner: Arc<Mutex<State>>,
}

impl std::fmt::Debug for MockBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MockBackend").finish_non_exhaustive()
    }
}

/// A backend being served. Dropping it stops the server too (without
/// waiting); [`RunningBackend::shutdown`] waits until the port is free.
#[derive(Debug)]
pub struct RunningBackend {
    /// `http://127.0.0.1:PORT`, no trailing slash.
    pub url: String,
    /// The bound address (the real port when `127.0.0.1:0` was asked), to
    /// serve the same handle again there after a shutdown.
    pub addr: SocketAddr,
    /// The handle being served, to inspect or inject faults while it runs.
    pub backend: MockBackend,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl RunningBackend {
    /// Stops accepting, closes every open connection (even one in the
    /// middle of a request) and returns once the listening socket is closed,
    /// so that the same address can be served again.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for RunningBackend {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

impl MockBackend {
    /// A backend holding the [`demo`] data, no terminal enrolled, clock in
    /// sync, no fault.
    pub fn with_demo_data() -> MockBackend {
        MockBackend {
            inner: Arc::new(Mutex::new(State::demo())),
        }
    }

    /// The state lock. A panic while holding it (a bug in a test) must not
    /// make every later call panic too, hence the poison recovery.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Binds `addr` (with SO_REUSEADDR, so the same port can be served again
    /// right after a shutdown) and serves on the current tokio runtime.
    pub async fn serve(&self, addr: SocketAddr) -> std::io::Result<RunningBackend> {
        let listener = server::bind(addr)?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(server::accept_loop(
            listener,
            routes::router(self.clone()),
            stopped,
        ));
        Ok(RunningBackend {
            url: format!("http://{addr}"),
            addr,
            backend: self.clone(),
            stop: Some(stop),
            task: Some(task),
        })
    }

    /// The axum router, to call in-process (e.g. with `tower::ServiceExt`).
    /// [`Fault::ConnectionReset`] becomes a 500 there, since there is no
    /// connection to drop.
    pub fn router(&self) -> axum::Router {
        routes::router(self.clone())
    }

    /// Makes a terminal known without enrollment.
    pub fn register_terminal(&self, terminal_id: &str, secret: [u8; 32]) {
        self.lock()
            .terminals
            .insert(terminal_id.to_string(), secret);
    }

    /// Ids of the terminals enrolled or registered.
    pub fn terminals(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.lock().terminals.keys().cloned().collect();
        ids.sort();
        ids
    }

    /// Shifts the mock's clock (used for `X-Timestamp` checks, payment token
    /// expiry and `health`'s `time`) by this many seconds from real time.
    pub fn set_clock_offset_secs(&self, secs: i64) {
        self.lock().clock_offset_secs = secs;
    }

    /// The mock's current time.
    pub fn now(&self) -> time::OffsetDateTime {
        self.lock().now()
    }

    /// Forgets every idempotency key, as after the 30 days the spec
    /// guarantees. Credited transaction ids are still remembered.
    pub fn forget_idempotency_keys(&self) {
        self.lock().forget_idempotency_keys();
    }

    /// New activations get payment tokens that live this long (a backend
    /// whose tokens are short, or an activation answered late).
    pub fn set_payment_token_lifetime(&self, lifetime: std::time::Duration) {
        self.lock().payment_token_lifetime =
            Some(time::Duration::try_from(lifetime).unwrap_or(time::Duration::MAX));
    }

    /// Expires every payment token without an outcome.
    pub fn expire_payment_tokens(&self) {
        self.lock().expire_payment_tokens();
    }

    /// Revokes the code (manual code or app token; both forms of that
    /// child + service). False when the code is unknown.
    pub fn revoke_code(&self, code: &str) -> bool {
        self.lock().revoke_code(code)
    }

    /// Adds a fault that fires on the next `times` requests matching `route`.
    /// Faults are tried in the order they were added; one fires per request.
    pub fn inject(&self, route: Route, fault: Fault, times: u32) {
        if times > 0 {
            self.lock().faults.push(faults::FaultRule {
                route,
                fault,
                remaining: times,
            });
        }
    }

    /// Removes every pending fault.
    pub fn clear_faults(&self) {
        self.lock().faults.clear();
    }

    /// Recharges credited, oldest first.
    pub fn recharges(&self) -> Vec<RechargeRecord> {
        self.lock().recharges.clone()
    }

    /// How many credits this transaction got, over all its items: 1 for a
    /// one-item recharge if the backend and its idempotency work, the number
    /// of recharge items for a transaction of several.
    pub fn credits_for(&self, transaction_id: &str) -> usize {
        self.lock()
            .recharges
            .iter()
            .filter(|r| r.transaction_id == transaction_id)
            .count()
    }

    /// How many times item `item` of this transaction was credited: never
    /// more than 1.
    pub fn credits_for_item(&self, transaction_id: &str, item: u32) -> usize {
        self.lock()
            .recharges
            .iter()
            .filter(|r| r.transaction_id == transaction_id && r.item == item)
            .count()
    }

    /// Notice outcomes recorded, oldest first.
    pub fn notice_outcomes(&self) -> Vec<NoticeOutcomeRecord> {
        self.lock().notice_outcomes.clone()
    }

    /// Closures received, oldest first (idempotent repeats not included).
    pub fn closures(&self) -> Vec<ClosureRecord> {
        self.lock().closures.clone()
    }

    /// Every `/v1` request seen, oldest first.
    pub fn request_log(&self) -> Vec<LoggedRequest> {
        self.lock().request_log.clone()
    }

    /// Current balance of a child for a service.
    pub fn balance_of(&self, consumer_ref: &str, service_id: &str) -> Option<u64> {
        self.lock()
            .codes
            .iter()
            .find(|c| c.consumer_ref == consumer_ref && c.service_id == service_id)
            .map(|c| c.balance_cents)
    }

    /// `payable`, `paid`, `expired` or `cancelled`; `None` if unknown.
    pub fn notice_status(&self, notice_number: &str) -> Option<&'static str> {
        self.lock().notice_status(notice_number)
    }

    /// Everything above as JSON (`GET /_mock/state`).
    pub fn state_json(&self) -> Value {
        let st = self.lock();
        let mut terminals: Vec<&String> = st.terminals.keys().collect();
        terminals.sort();
        let balances: Vec<Value> = st
            .codes
            .iter()
            .map(|c| {
                json!({
                    "code": c.manual_code,
                    "consumer_ref": c.consumer_ref,
                    "service_id": c.service_id,
                    "balance_cents": c.balance_cents,
                    "revoked": c.revoked,
                })
            })
            .collect();
        let faults: Vec<Value> = st
            .faults
            .iter()
            .map(|r| control::fault_json(&r.route, &r.fault, r.remaining))
            .collect();
        json!({
            "time": state::format_time(st.now()),
            "clock_offset_secs": st.clock_offset_secs,
            "terminals": terminals,
            "balances": balances,
            "recharges": st.recharges,
            "notice_outcomes": st.notice_outcomes,
            "closures": st.closures,
            "requests": st.request_log,
            "faults": faults,
        })
    }
}
