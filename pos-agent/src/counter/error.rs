//! Why the counter refused a step, in the counter's own terms.
//!
//! The counter knows no HTTP: a refusal names what went wrong (an unknown
//! transaction, a step the state does not allow, an amount outside the
//! limits, a code the backend refused...). What the operator reads (the
//! HTTP status, the `error.code` a client branches on, the Italian message)
//! is decided in one place, `impl From<CounterError> for ApiError` in
//! `api/error.rs`.

use pos_backend::{BackendError, NoticeStatus};
use time::OffsetDateTime;

use crate::model::{Limits, TxState};
use crate::store::StoreError;

/// Which backend call a [`CounterError::Backend`] came from: it decides what
/// the operator is told still works without the backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendCall {
    /// `GET /v1/payment-codes/{code}` (a manual code or an app token).
    ResolveCode,
    /// `POST /v1/payers/lookup` (a health card's fiscal code).
    LookupPayer,
    /// `POST /v1/notices/verify`.
    VerifyNotice,
    /// `POST /v1/notices/activate`.
    ActivateNotice,
}

impl BackendCall {
    pub fn as_str(self) -> &'static str {
        match self {
            BackendCall::ResolveCode => "payment code resolution",
            BackendCall::LookupPayer => "payer lookup",
            BackendCall::VerifyNotice => "notice verification",
            BackendCall::ActivateNotice => "notice activation",
        }
    }
}

impl std::fmt::Display for BackendCall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A step the transaction's state does not allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WrongState {
    /// `amount` on a notice: the creditor fixed it.
    #[error("a notice's amount is fixed by its creditor")]
    NoticeAmountFixed,
    /// `amount` after the cash was taken or the transaction voided.
    #[error("the amount cannot change in state {}", .0.as_str())]
    AmountLocked(TxState),
    /// A step that needs the amount, before it is set.
    #[error("the amount is not set yet")]
    AmountMissing,
    /// A step on a voided transaction.
    #[error("the transaction is voided")]
    Voided,
    /// `pre-receipt` in a state that has none.
    #[error("no pre-receipt in state {}", .0.as_str())]
    PreReceiptUnavailable(TxState),
    /// `pay` before the pre-receipt.
    #[error("the pre-receipt comes before the payment")]
    PreReceiptFirst,
    /// `choose` after the choice was made.
    #[error("the payer's code was already chosen")]
    AlreadyChosen,
    /// `void` of a paid transaction.
    #[error("a paid transaction cannot be voided")]
    AlreadyPaid,
    /// Adding an item after the pre-receipt (the cash is being counted) or
    /// while a payer's codes wait to be chosen.
    #[error("no item can be added in state {}", .0.as_str())]
    ItemsLocked(TxState),
    /// Removing the only item left: that is a void.
    #[error("the last item cannot be removed")]
    LastItem,
}

/// A backend answer the counter cannot use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BadAnswer {
    /// A payment code without the fields a recharge needs, or with limits
    /// the counter cannot handle.
    PaymentCode,
    /// A notice whose amount is zero or beyond the 11 digits of cents.
    NoticeAmount,
}

/// Why the counter refused a step. Every variant says what went wrong; none
/// says how HTTP shows it (see `api/error.rs`).
#[derive(Debug, thiserror::Error)]
pub enum CounterError {
    #[error("no transaction with this id")]
    UnknownTransaction,
    #[error("no receipt with this number")]
    UnknownReceipt,
    #[error("the scan id is unknown or expired")]
    UnknownScan,
    #[error("date `{0}` is not YYYY-MM-DD")]
    BadDate(String),
    #[error("the data directory is (almost) full")]
    DiskFull,
    /// The input is not a code the counter knows (or its signature,
    /// check digit... is wrong).
    #[error("invalid code: {0}")]
    Code(#[from] pos_codes::CodeError),
    #[error("invalid state: {0}")]
    InvalidState(#[from] WrongState),
    #[error("amount {amount_cents} outside the limits {}..{}", .limits.min_cents, .limits.max_cents)]
    AmountOutOfLimits { amount_cents: i64, limits: Limits },
    /// An offline recharge beyond `[offline]`'s limits.
    #[error("offline limits exceeded (per recharge {max_transaction_cents}, in total {max_total_cents}, pending {pending_cents})")]
    OfflineLimitExceeded {
        max_transaction_cents: i64,
        max_total_cents: i64,
        pending_cents: i64,
    },
    /// Paying an offline recharge would pass `offline.max_total_cents`.
    #[error("offline total exceeded (at most {max_total_cents}, pending {pending_cents})")]
    OfflineTotalExceeded {
        max_total_cents: i64,
        pending_cents: i64,
    },
    #[error("cash {tendered_cents} below the total {total_cents}")]
    TenderedTooLow {
        total_cents: i64,
        tendered_cents: i64,
    },
    /// More change than [`super::MAX_CHANGE_CENTS`]: a keypad slip.
    #[error("cash {tendered_cents} gives too much change for {total_cents}")]
    TenderedTooHigh {
        total_cents: i64,
        tendered_cents: i64,
    },
    #[error("the notice's payment token expired")]
    PaymentTokenExpired,
    /// Less than [`super::PAYMENT_TOKEN_MARGIN`] left on the token.
    #[error("the notice's payment token expires soon")]
    PaymentTokenExpiring { expires_at: OffsetDateTime },
    #[error("the chosen code is not one of the payer's")]
    UnknownChoice,
    /// A sixth item: pagoPA collects at most five notices in one payment.
    #[error("at most {max} items in one transaction")]
    TooManyItems { max: usize },
    /// The same consumer and service, or the same notice, already is item `n`.
    #[error("already in the transaction as item {n}")]
    DuplicateItem { n: u32 },
    /// No item `n` in the transaction (never added, or removed).
    #[error("no item {n} in the transaction")]
    UnknownItem { n: u32 },
    /// `amount` without `item` when more than one item could be meant.
    #[error("`item` is needed: more than one item could take this amount")]
    ItemRequired,
    /// The backend knows the code, but it is not `active`.
    #[error("the payment code is not active")]
    CodeNotActive,
    #[error("the payer has no codes")]
    PayerWithoutCodes,
    #[error("the notice is not payable ({status:?})")]
    NoticeNotPayable { status: NoticeStatus },
    /// No signing keys cached, and the backend cannot be asked.
    #[error("no signing keys to verify app tokens")]
    NoSigningKeys,
    #[error("unusable backend answer: {0:?}")]
    BadBackendAnswer(BadAnswer),
    /// The backend refused, or could not be reached, during `call`.
    #[error("{call}: {error}")]
    Backend {
        call: BackendCall,
        error: BackendError,
    },
    /// A notice transaction without its notice, creditor or amount.
    #[error("incomplete notice transaction")]
    IncompleteNotice,
    /// A refusal about one item of the cart (its activation refused, its
    /// code revoked...): the API adds `"item": n` to the error object.
    #[error("item {n}: {error}")]
    Item { n: u32, error: Box<CounterError> },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl CounterError {
    pub fn backend(call: BackendCall, error: BackendError) -> Self {
        CounterError::Backend { call, error }
    }

    /// This refusal, about item `n`.
    pub fn for_item(self, n: u32) -> Self {
        CounterError::Item {
            n,
            error: Box::new(self),
        }
    }
}
