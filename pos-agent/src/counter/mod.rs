//! The counter: one transaction's life from the input a parent shows to the
//! cash in the drawer.
//!
//! ```text
//! create ─► identified ─► amount_set ─► awaiting_cash ─► paid
//!   │ (fiscal code: choose_code ─choose─► identified)        │
//!   └──────────── void (any step before paid) ◄──────────────┘
//! ```
//!
//! Every state-changing call takes `Agent::counter_lock` first, so two
//! concurrent calls on a transaction (a double click on "pay") run one after
//! the other: the second finds the transaction paid and returns the same
//! answer. Each step is written to SQLite before it is answered; `pay` writes
//! the transaction, its receipt number, its journal entry and its outbox
//! entry in one SQLite transaction (see [`commit_payment`] and
//! `store/transactions.rs`).
//!
//! The rules themselves (what each state allows, the limits, the change,
//! the token's margin) are functions of the transaction in `rules.rs`, with
//! tests of their own; this file loads, locks, asks the backend, applies
//! the rules and saves. A refusal is a [`CounterError`]: the counter knows
//! no HTTP (`api/error.rs` turns it into the API's answer).

mod day_close;
mod error;
pub mod rules;

pub use error::{BackendCall, BadAnswer, CounterError, WrongState};
pub use rules::OfflineBudget;

use serde_json::{json, Value};
use time::OffsetDateTime;
use tracing::{info, instrument, warn};

use crate::agent::Agent;
use crate::model::{Item, SyncState, Transaction, TxKind, TxState};
use crate::printing::queue::HeldJob;
use crate::store::{OutboxDraft, Payment, PrintKind, Store, StoreError};
use crate::time_fmt::rfc3339;

/// Below this much free space in `data_dir` the counter refuses new work
/// before any cash is taken.
pub const MIN_FREE_BYTES: u64 = 8 * 1024 * 1024;

/// The largest amount the counter handles: the 11 digits of a pagoPA
/// notice's amount field. A backend answer beyond it is refused as malformed,
/// so amount + fee can never overflow.
pub const MAX_AMOUNT_CENTS: i64 = 99_999_999_999;

/// The largest change a counter hands back (500 €): more is a keypad slip
/// (5000,00 typed for 50,00), and a paid transaction cannot be corrected.
pub const MAX_CHANGE_CENTS: i64 = 50_000;

/// `pay` refuses a notice whose payment token has less than this left: the
/// OK outcome must reach the backend before the token expires (see
/// ARCHITECTURE.md, "Decisions").
pub const PAYMENT_TOKEN_MARGIN: time::Duration = time::Duration::minutes(5);

/// What `POST /api/v1/transactions` (or `.../items`) received.
pub enum CreateInput {
    Text(String),
    ScanId(String),
}

/// What an input resolves to.
enum Resolved {
    /// One item, filled from the backend's answer (not numbered yet).
    Item(Box<Item>),
    /// A payer's codes (a health card): the operator chooses.
    Choices(Vec<pos_backend::PaymentCode>),
}

impl Resolved {
    /// `t` with what the input resolved to: the item added, or the payer's
    /// codes offered (the transaction waits in `choose_code`, with room
    /// left for at least one of them).
    fn apply_to(self, t: &mut Transaction) -> Result<(), CounterError> {
        match self {
            Resolved::Item(item) => rules::add_item(t, *item).map(|_| ()),
            Resolved::Choices(codes) => {
                rules::check_room(t, 1)?;
                rules::offer_choices(t, codes);
                Ok(())
            }
        }
    }
}

/// Pay `t` in `store`: the counter's rules decide what the payment is
/// ([`rules::mark_paid`], with the receipt number the store draws in the
/// same SQLite transaction) and which requests the backend is owed
/// (`make_outbox`); [`Store::commit_payment`] writes it all in ONE SQLite
/// transaction. On Ok, `t` is the paid transaction, durable, and the
/// receipt's print job id is returned; on an error nothing was written and
/// `t` is untouched. The caller checked the payment
/// ([`rules::check_payment`]) under the counter lock.
pub fn commit_payment(
    store: &mut Store,
    t: &mut Transaction,
    terminal_id: &str,
    paid_at: OffsetDateTime,
    tendered_cents: i64,
    make_outbox: impl FnOnce(&Transaction) -> Result<Vec<OutboxDraft>, StoreError>,
) -> Result<i64, StoreError> {
    let year = rules::receipt_year(paid_at);
    let (paid, job) = store.commit_payment(year, |number| {
        let receipt = rules::receipt_number(terminal_id, year, number);
        let paid = rules::mark_paid(t, receipt, paid_at, tendered_cents)?;
        let outbox = make_outbox(&paid)?;
        Ok(Payment { paid, outbox })
    })?;
    *t = paid;
    Ok(job)
}

impl Agent {
    fn check_disk(&self) -> Result<(), CounterError> {
        match crate::datadir::free_bytes(&self.data.path) {
            Some(free) if free < MIN_FREE_BYTES => Err(CounterError::DiskFull),
            _ => Ok(()),
        }
    }

    fn new_transaction(&self, operator: &str) -> Transaction {
        let now = OffsetDateTime::now_utc();
        Transaction::new(
            uuid::Uuid::new_v4().to_string(),
            operator,
            now.replace_nanosecond(0).unwrap_or(now),
        )
    }

    async fn resolve_code(
        &self,
        code: &str,
    ) -> Result<pos_backend::PaymentCode, pos_backend::BackendError> {
        let r = self.backend.payment_code(code).await;
        self.note_backend_result(&r);
        r
    }

    fn input_text(&self, input: CreateInput) -> Result<String, CounterError> {
        match input {
            CreateInput::Text(t) => Ok(t),
            CreateInput::ScanId(id) => self.take_scan(&id).ok_or(CounterError::UnknownScan),
        }
    }

    /// What an input resolves to: one item, or a payer's codes to choose
    /// from. Calls the backend (up to `backend.timeout_ms`), so it runs
    /// without the counter lock: a slow backend must not hold up `pay` of
    /// another transaction.
    async fn resolve_input(&self, tx_id: &str, text: &str) -> Result<Resolved, CounterError> {
        let input = pos_codes::classify(text)?;
        let mut item = Item::new(0, TxKind::Recharge);
        match input {
            pos_codes::Input::ManualCode(m) => {
                let pc = self
                    .resolve_code(m.as_str())
                    .await
                    .map_err(|e| CounterError::backend(BackendCall::ResolveCode, e))?;
                rules::apply_payment_code(&mut item, &pc)?;
            }
            pos_codes::Input::AppToken(token) => {
                let keys = self.signing_keys().await;
                let Some(keys) = keys else {
                    return Err(CounterError::NoSigningKeys);
                };
                token.verify(&keys, OffsetDateTime::now_utc())?;
                match self.resolve_code(token.as_str()).await {
                    Ok(pc) => rules::apply_payment_code(&mut item, &pc)?,
                    Err(e) if e.is_transient() => {
                        // Offline: the signed token is enough to take the cash
                        // within the configured limits.
                        info!(tx = %tx_id, "backend unreachable: app token accepted offline");
                        rules::accept_offline(
                            &mut item,
                            &token,
                            self.config.offline.max_transaction_cents,
                        );
                    }
                    Err(e) => return Err(CounterError::backend(BackendCall::ResolveCode, e)),
                }
            }
            pos_codes::Input::FiscalCode(cf) => {
                let r = self.backend.lookup_payer(cf.as_str()).await;
                self.note_backend_result(&r);
                let found = r.map_err(|e| CounterError::backend(BackendCall::LookupPayer, e))?;
                if found.codes.is_empty() {
                    return Err(CounterError::PayerWithoutCodes);
                }
                return Ok(Resolved::Choices(found.codes));
            }
            pos_codes::Input::Notice(n) => {
                let req = pos_backend::NoticeVerifyRequest {
                    creditor_fiscal_code: n.creditor.as_str().to_string(),
                    notice_number: n.notice_number.as_str().to_string(),
                };
                let r = self.backend.verify_notice(&req).await;
                self.note_backend_result(&r);
                let v = r.map_err(|e| CounterError::backend(BackendCall::VerifyNotice, e))?;
                rules::apply_verified_notice(&mut item, &n, &v, self.config.fees.notice_cents)?;
            }
        }
        Ok(Resolved::Item(Box::new(item)))
    }

    /// `POST /api/v1/transactions`.
    #[instrument(skip_all)]
    pub async fn create(
        &self,
        operator: &str,
        input: CreateInput,
    ) -> Result<Transaction, CounterError> {
        let text = self.input_text(input)?;
        self.check_disk()?;
        let mut t = self.new_transaction(operator);
        // Nothing else can see this transaction before it is saved, so
        // there is nothing to revalidate after the backend answered.
        self.resolve_input(&t.id, &text).await?.apply_to(&mut t)?;
        self.save(t).await
    }

    /// `POST /api/v1/transactions/{id}/items`: one more item, resolved
    /// exactly like the input of a new transaction.
    #[instrument(skip(self, input), fields(tx = %id))]
    pub async fn add_item(
        &self,
        id: &str,
        input: CreateInput,
    ) -> Result<Transaction, CounterError> {
        let text = self.input_text(input)?;
        self.check_disk()?;
        // Checked before the backend is asked (a refused call changes
        // nothing), and again under the lock once it answered.
        let before = self.load(id).await?;
        rules::check_can_add(&before)?;
        rules::check_room(&before, 1)?;
        let resolved = self.resolve_input(id, &text).await?;
        let _guard = self.counter_lock.lock().await;
        let mut t = self.load(id).await?;
        rules::check_can_add(&t)?;
        resolved.apply_to(&mut t)?;
        self.save(t).await
    }

    /// `POST /api/v1/transactions/{id}/items/{n}/remove`: before `paid`;
    /// the cart needs a new pre-receipt, and an activated notice gets its
    /// `KO` (queued with the removal, in one SQLite transaction).
    #[instrument(skip(self), fields(tx = %id))]
    pub async fn remove_item(&self, id: &str, n: u32) -> Result<Transaction, CounterError> {
        let _guard = self.counter_lock.lock().await;
        let t = self.load(id).await?;
        let (t, queued) = rules::remove_item(&t, n)?;
        let has_outbox = !queued.is_empty();
        let t = self
            .db(move |s| s.commit_item_removal(&t, n, queued).map(|_| t))
            .await?;
        if has_outbox {
            self.sync_wake.notify_one();
            self.emit_outbox().await;
        }
        self.emit_tx(&t);
        Ok(t)
    }

    async fn load(&self, id: &str) -> Result<Transaction, CounterError> {
        let id = id.to_string();
        self.db(move |s| s.transaction(&id))
            .await?
            .ok_or(CounterError::UnknownTransaction)
    }

    pub async fn get(&self, id: &str) -> Result<Transaction, CounterError> {
        self.load(id).await
    }

    /// `POST /api/v1/transactions/{id}/amount`, for `item` (see
    /// [`rules::amount_target`] when it is left out).
    pub async fn set_amount(
        &self,
        id: &str,
        amount_cents: i64,
        item: Option<u32>,
    ) -> Result<Transaction, CounterError> {
        let _guard = self.counter_lock.lock().await;
        let mut t = self.load(id).await?;
        let n = rules::amount_target(&t, item)?;
        rules::check_amount(&t, n, amount_cents)?;
        let fee = self.config.fees.recharge_cents;
        rules::apply_amount(&mut t, n, amount_cents, fee);
        if t.item(n).is_some_and(|i| i.offline) {
            let budget = self.offline_budget().await?;
            rules::check_offline_amount(t.offline_total_cents(), budget)?;
        }
        self.save(t).await
    }

    /// What `[offline]` allows and what already waits for confirmation.
    async fn offline_budget(&self) -> Result<OfflineBudget, CounterError> {
        let pending = self.db(|s| s.offline_unconfirmed_total()).await?;
        Ok(OfflineBudget {
            max_transaction_cents: self.config.offline.max_transaction_cents,
            max_total_cents: self.config.offline.max_total_cents,
            pending_cents: pending,
        })
    }

    async fn save(&self, t: Transaction) -> Result<Transaction, CounterError> {
        let t = self.db(move |s| s.save_unpaid(&t).map(|_| t)).await?;
        self.emit_tx(&t);
        Ok(t)
    }

    /// `POST /api/v1/transactions/{id}/pre-receipt`: every notice item not
    /// yet activated is activated, in order; a refusal names its item, and
    /// the items activated before it keep their payment tokens.
    pub async fn pre_receipt(&self, id: &str) -> Result<Transaction, CounterError> {
        let mut guard = self.counter_lock.lock().await;
        self.check_disk()?;
        let mut t = self.load(id).await?;
        rules::check_pre_receipt(&t)?;
        let to_activate: Vec<u32> = t
            .items
            .iter()
            .filter(|i| i.kind == TxKind::Notice && i.payment_token.is_none())
            .map(|i| i.n)
            .collect();
        for n in to_activate {
            let Some(item) = t.item_mut(n) else { continue };
            if !item.activation_sent {
                // On disk before the request leaves: if its answer is lost,
                // a void still knows it owes the backend an outcome.
                item.activation_sent = true;
                t = self.save(t).await?;
            }
            let Some(item) = t.item(n).cloned() else {
                continue;
            };
            // The backend is called without the counter lock (up to three
            // attempts of `backend.timeout_ms` each): a slow backend must not
            // hold up `pay` of another transaction.
            drop(guard);
            let activation = self.activate_notice(&t.id, &item).await;
            guard = self.counter_lock.lock().await;
            let activation = match activation {
                Ok(a) => a,
                Err(e) => {
                    if let CounterError::Backend {
                        error: pos_backend::BackendError::Permanent { .. },
                        ..
                    } = &e
                    {
                        // Refused: the backend holds no activation for this
                        // item, so removing it owes no outcome.
                        let mut now = self.load(id).await?;
                        if let Some(item) = now.item_mut(n).filter(|i| i.payment_token.is_none()) {
                            item.activation_sent = false;
                            self.save(now).await?;
                        }
                    }
                    return Err(e.for_item(n));
                }
            };
            // Revalidate: the transaction may have changed meanwhile. A void
            // saw `activation_sent` without a token and queued the
            // activation's replay and its KO; a concurrent pre-receipt got
            // the same activation (same key and bytes) and saved it; the
            // item may have been removed.
            t = self.load(id).await?;
            rules::check_pre_receipt(&t)?;
            if let Some(item) = t.item_mut(n).filter(|i| i.payment_token.is_none()) {
                item.payment_token = Some(activation.payment_token);
                item.payment_token_expires_at = Some(activation.expires_at);
                // The token is on disk before anything else happens: a void
                // from now on owes the backend a KO outcome.
                t = self.save(t).await?;
            }
        }
        if t.state != TxState::AwaitingCash {
            t.state = TxState::AwaitingCash;
            t = self.save(t).await?;
        }
        // Printed outside the counter lock: a printer that hangs until its
        // timeout must not hold up the next payment.
        drop(guard);
        self.print_queue.print(PrintKind::PreReceipt, &t.id).await;
        Ok(t)
    }

    /// `POST /v1/notices/activate` with the item's key (`<id>:activate`, or
    /// `<id>:<n>:activate` for item n >= 2): a retry after a lost answer
    /// gets the first activation back.
    async fn activate_notice(
        &self,
        tx_id: &str,
        item: &Item,
    ) -> Result<pos_backend::ActivateResponse, CounterError> {
        let failed = |e| CounterError::backend(BackendCall::ActivateNotice, e);
        let req = rules::activate_request(tx_id, item)?;
        let mut last = None;
        for attempt in 0..3u32 {
            if attempt > 0 {
                tokio::time::sleep(std::time::Duration::from_millis(300 * u64::from(attempt)))
                    .await;
            }
            let r = self.backend.send(&req).await;
            self.note_backend_result(&r);
            match r {
                Ok(answer) => {
                    let a: pos_backend::ActivateResponse = answer.parse().map_err(failed)?;
                    info!(tx = %tx_id, item = item.n, "notice activated");
                    return Ok(a);
                }
                Err(e) if e.is_transient() => last = Some(e),
                // A refusal (already paid, in progress elsewhere, amount
                // changed) or a failure that a retry cannot mend.
                Err(e) => return Err(failed(e)),
            }
        }
        Err(failed(last.unwrap_or(
            pos_backend::BackendError::Transient {
                reason: "no answer".into(),
                retry_after: None,
                status: None,
            },
        )))
    }

    /// `POST /api/v1/transactions/{id}/choose`: one item per chosen code of
    /// the payer's.
    pub async fn choose(&self, id: &str, codes: &[&str]) -> Result<Transaction, CounterError> {
        let _guard = self.counter_lock.lock().await;
        let mut t = self.load(id).await?;
        rules::choose(&mut t, codes)?;
        self.save(t).await
    }

    fn pay_answer(t: &Transaction) -> Value {
        json!({
            "state": t.state,
            "receipt_number": t.receipt_number,
            "change_cents": t.change_cents,
            "sync": t.sync(),
            "transaction": t.to_api(),
        })
    }

    /// `POST /api/v1/transactions/{id}/pay`. When this returns Ok, the payment
    /// is on disk; the drawer kick and the receipt follow.
    #[instrument(skip(self), fields(tx = %id))]
    pub async fn pay(&self, id: &str, tendered_cents: i64) -> Result<Value, CounterError> {
        let _guard = self.counter_lock.lock().await;
        let t = self.load(id).await?;
        if t.state == TxState::Paid {
            return Ok(Self::pay_answer(&t));
        }
        rules::check_payment(&t, tendered_cents)?;
        if t.offline() {
            rules::check_offline_total(t.offline_total_cents(), self.offline_budget().await?)?;
        }
        rules::check_payment_token(&t, OffsetDateTime::now_utc())?;
        self.check_disk()?;
        let terminal_id = self.terminal_id.clone();
        let (paid, receipt_job) = self
            .db(move |s| {
                let mut t = t;
                commit_payment(
                    s,
                    &mut t,
                    &terminal_id,
                    OffsetDateTime::now_utc(),
                    tendered_cents,
                    rules::payment_drafts,
                )
                .map(|job| (t, job))
            })
            .await?;
        info!(
            receipt = paid.receipt_number.as_deref().unwrap_or(""),
            "paid"
        );
        self.after_payment(&paid, receipt_job);
        Ok(Self::pay_answer(&paid))
    }

    /// What follows a committed payment belongs to the agent, not to the
    /// request: the outbox is woken, and the drawer kick and the receipt run
    /// on a task of their own (`Agent::to_the_end`, which the runtime waits
    /// for at shutdown), so they happen even if the client that asked for
    /// `pay` went away (axum then drops the request's future).
    fn after_payment(&self, paid: &Transaction, receipt_job: i64) {
        // Hold the receipt back at once: it waits a moment for the backend.
        let held = self.print_queue.hold(receipt_job);
        self.emit_tx(paid);
        self.sync_wake.notify_one();
        let Some(agent) = self.me.upgrade() else {
            return;
        };
        let tx_id = paid.id.clone();
        let to_the_end = agent.to_the_end.clone();
        to_the_end.spawn(async move {
            agent.emit_outbox().await;
            if agent.config.drawer.kick == pos_config::DrawerKick::Printer {
                agent.printer.open_drawer().await;
            }
            agent.print_receipt_when_confirmed(tx_id, held).await;
        });
    }

    /// Print the receipt once the sync had a moment to confirm it, so that a
    /// counter with a working network prints `CONFERMATO`.
    async fn print_receipt_when_confirmed(&self, tx_id: String, job: HeldJob) {
        // The job is on disk with the payment (printed later by the retry
        // loop if this task never gets to it).
        let mut rx = self.events.subscribe();
        let deadline = tokio::time::Instant::now() + self.receipt_wait;
        loop {
            let current = match self.load(&tx_id).await {
                Ok(t) => t,
                Err(_) => break,
            };
            if current.sync() != Some(SyncState::Pending) {
                break;
            }
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Ok(_)) | Ok(Err(tokio::sync::broadcast::error::RecvError::Lagged(_))) => {}
                _ => break,
            }
        }
        self.print_queue.print_held(job).await;
    }

    /// `POST /api/v1/transactions/{id}/void`.
    pub async fn void(
        &self,
        id: &str,
        reason: Option<String>,
    ) -> Result<Transaction, CounterError> {
        let _guard = self.counter_lock.lock().await;
        let t = self.load(id).await?;
        rules::check_void(&t)?;
        if t.state == TxState::Voided {
            return Ok(t);
        }
        let queued = rules::void_requests(&t, reason.as_deref());
        let has_outbox = !queued.is_empty();
        let t = self
            .db(move |s| {
                let mut t = t;
                s.commit_void(&mut t, reason, queued).map(|_| t)
            })
            .await?;
        if has_outbox {
            self.sync_wake.notify_one();
            self.emit_outbox().await;
        }
        self.emit_tx(&t);
        Ok(t)
    }

    /// `GET /api/v1/transactions?date=YYYY-MM-DD` (UTC day).
    pub async fn list(&self, date: Option<&str>) -> Result<Vec<Transaction>, CounterError> {
        let day = match date {
            Some(d) => {
                time::Date::parse(d, time::macros::format_description!("[year]-[month]-[day]"))
                    .map_err(|_| CounterError::BadDate(d.to_string()))?
            }
            None => crate::time_fmt::local(OffsetDateTime::now_utc()).date(),
        };
        // The counter's own calendar day, as UTC bounds.
        let offset = crate::time_fmt::local(day.midnight().assume_utc()).offset();
        let from = rfc3339(day.midnight().assume_offset(offset));
        let to = rfc3339((day.midnight() + time::Duration::days(1)).assume_offset(offset));
        Ok(self
            .db(move |s| s.transactions_created_between(&from, &to))
            .await?)
    }

    /// `POST /api/v1/receipts/{receipt_number}/reprint`.
    pub async fn reprint(&self, receipt_number: &str) -> Result<Transaction, CounterError> {
        let rn = receipt_number.to_string();
        let t = self
            .db(move |s| s.transaction_by_receipt(&rn))
            .await?
            .ok_or(CounterError::UnknownReceipt)?;
        self.print_queue.print(PrintKind::Duplicate, &t.id).await;
        let (id, rn) = (t.id.clone(), receipt_number.to_string());
        if let Err(e) = self
            .db(move |s| s.journal_event("reprint", Some(&id), &json!({"receipt_number": rn})))
            .await
        {
            warn!(error = %e, "could not journal a reprint");
        }
        Ok(t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::error::ApiError;
    use crate::model::Limits;

    #[test]
    fn payment_code_answer_is_mapped_and_validated() {
        let agent_tx = || Item::new(1, TxKind::Recharge);
        let good = json!({"code": "1234", "status": "active",
            "service": {"id": "mensa", "name": "Refezione scolastica"},
            "creditor": {"fiscal_code": "00514490010", "name": "Comune di Balangero"},
            "consumer": {"ref": "c_1", "display_name": "M*** R***", "school": "Rodari"},
            "balance_cents": 10, "limits": {"min_cents": 500, "max_cents": 30000}, "extra": 1});
        // The answer as the backend client hands it over: typed.
        let typed = |v: &Value| serde_json::from_value::<pos_backend::PaymentCode>(v.clone());
        let mut t = agent_tx();
        rules::apply_payment_code(&mut t, &typed(&good).unwrap()).unwrap();
        assert_eq!(t.consumer_ref.as_deref(), Some("c_1"));
        assert_eq!(t.balance_cents, Some(10));
        assert_eq!(
            t.limits,
            Some(Limits {
                min_cents: 500,
                max_cents: 30000
            })
        );

        let mut no_limits = good.clone();
        no_limits["limits"] = json!("lots");
        assert!(
            typed(&no_limits).is_err(),
            "limits that are not limits never reach the counter"
        );
        let mut huge = good.clone();
        huge["limits"]["max_cents"] = json!(i64::MAX);
        assert_eq!(
            ApiError::from(
                rules::apply_payment_code(&mut agent_tx(), &typed(&huge).unwrap()).unwrap_err()
            )
            .code,
            "bad_backend_answer",
            "limits that could overflow amount + fee are refused"
        );
        let mut revoked = good.clone();
        revoked["status"] = json!("revoked");
        assert_eq!(
            ApiError::from(
                rules::apply_payment_code(&mut agent_tx(), &typed(&revoked).unwrap()).unwrap_err()
            )
            .code,
            "code_revoked"
        );
    }
}
