//! The transaction's rules, as functions of the transaction and the values
//! they need: no lock, no SQLite, no backend, no HTTP. `counter/mod.rs`
//! loads the transaction, reads what a rule needs (the offline total, the
//! clock), applies the rule and saves the result.

use time::OffsetDateTime;

use super::error::{CounterError, WrongState};
use super::{MAX_CHANGE_CENTS, PAYMENT_TOKEN_MARGIN};
use crate::model::{Limits, Transaction, TxKind, TxState};

/// What `[offline]` allows, and what already waits for the backend's
/// confirmation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OfflineBudget {
    pub max_transaction_cents: i64,
    pub max_total_cents: i64,
    pub pending_cents: i64,
}

/// Whether `amount` may be set now: a recharge (a notice's amount is the
/// creditor's), not paid or voided, within the code's limits.
pub fn check_amount(t: &Transaction, amount_cents: i64) -> Result<(), CounterError> {
    if t.kind != TxKind::Recharge {
        return Err(WrongState::NoticeAmountFixed.into());
    }
    if !matches!(
        t.state,
        TxState::Identified | TxState::AmountSet | TxState::AwaitingCash
    ) {
        return Err(WrongState::AmountLocked(t.state).into());
    }
    let limits = t.limits.unwrap_or(Limits {
        min_cents: 1,
        max_cents: i64::MAX,
    });
    if amount_cents < limits.min_cents || amount_cents > limits.max_cents {
        return Err(CounterError::AmountOutOfLimits {
            amount_cents,
            limits,
        });
    }
    Ok(())
}

/// An offline recharge stays within `[offline]`: per recharge, and in total
/// with what already waits for confirmation.
pub fn check_offline_amount(
    amount_cents: i64,
    fee_cents: i64,
    budget: OfflineBudget,
) -> Result<(), CounterError> {
    let total = amount_cents.saturating_add(fee_cents);
    if total > budget.max_transaction_cents
        || budget.pending_cents.saturating_add(total) > budget.max_total_cents
    {
        return Err(CounterError::OfflineLimitExceeded {
            max_transaction_cents: budget.max_transaction_cents,
            max_total_cents: budget.max_total_cents,
            pending_cents: budget.pending_cents,
        });
    }
    Ok(())
}

/// `identified`/`amount_set`/`awaiting_cash` → `amount_set` with the amount
/// and its fee (a new amount needs a new pre-receipt).
pub fn apply_amount(t: &mut Transaction, amount_cents: i64, fee_cents: i64) {
    t.amount_cents = Some(amount_cents);
    t.fee_cents = fee_cents;
    t.state = TxState::AmountSet;
}

/// Whether the pre-receipt can be printed now.
pub fn check_pre_receipt(t: &Transaction) -> Result<(), CounterError> {
    match t.state {
        TxState::AmountSet | TxState::AwaitingCash => Ok(()),
        TxState::Identified | TxState::ChooseCode => Err(WrongState::AmountMissing.into()),
        TxState::Voided => Err(WrongState::Voided.into()),
        s => Err(WrongState::PreReceiptUnavailable(s).into()),
    }
}

/// Whether `tendered_cents` pays `t` now; the total to pay when it does. A
/// paid transaction is the caller's (a repeated `pay` answers the first).
pub fn check_payment(t: &Transaction, tendered_cents: i64) -> Result<i64, CounterError> {
    if t.state != TxState::AwaitingCash {
        return Err(match t.state {
            TxState::Voided => WrongState::Voided,
            _ => WrongState::PreReceiptFirst,
        }
        .into());
    }
    let total = t.total_cents().ok_or(WrongState::AmountMissing)?;
    if tendered_cents < total {
        return Err(CounterError::TenderedTooLow {
            total_cents: total,
            tendered_cents,
        });
    }
    if tendered_cents - total > MAX_CHANGE_CENTS {
        return Err(CounterError::TenderedTooHigh {
            total_cents: total,
            tendered_cents,
        });
    }
    Ok(total)
}

/// Paying an offline recharge keeps what waits for confirmation within
/// `offline.max_total_cents`.
pub fn check_offline_total(total_cents: i64, budget: OfflineBudget) -> Result<(), CounterError> {
    if budget.pending_cents.saturating_add(total_cents) > budget.max_total_cents {
        return Err(CounterError::OfflineTotalExceeded {
            max_total_cents: budget.max_total_cents,
            pending_cents: budget.pending_cents,
        });
    }
    Ok(())
}

/// A notice's payment token must outlive the OK outcome's delivery: expired,
/// or less than [`PAYMENT_TOKEN_MARGIN`] left, refuses the cash.
pub fn check_payment_token(t: &Transaction, now: OffsetDateTime) -> Result<(), CounterError> {
    let Some(exp) = t.payment_token_expires_at else {
        return Ok(());
    };
    let left = exp - now;
    if !left.is_positive() {
        return Err(CounterError::PaymentTokenExpired);
    }
    if left < PAYMENT_TOKEN_MARGIN {
        // The OK outcome must reach the backend before the token
        // expires, or the payment is refused after the cash is in
        // the drawer and the parent must be refunded.
        return Err(CounterError::PaymentTokenExpiring { expires_at: exp });
    }
    Ok(())
}

/// A paid transaction cannot be voided (the cash is in the drawer and the
/// backend is told); any other can, a voided one again (nothing happens).
pub fn check_void(t: &Transaction) -> Result<(), CounterError> {
    if t.state == TxState::Paid {
        return Err(WrongState::AlreadyPaid.into());
    }
    Ok(())
}

/// `choose` is for a payer's transaction still waiting for its code.
pub fn check_choose(t: &Transaction) -> Result<(), CounterError> {
    if t.state != TxState::ChooseCode {
        return Err(WrongState::AlreadyChosen.into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tx(kind: TxKind, state: TxState) -> Transaction {
        let mut t = Transaction::new("t".into(), kind, "op", OffsetDateTime::UNIX_EPOCH);
        t.state = state;
        t
    }

    fn recharge(state: TxState, amount: Option<i64>, fee: i64) -> Transaction {
        let mut t = tx(TxKind::Recharge, state);
        t.limits = Some(Limits {
            min_cents: 500,
            max_cents: 30_000,
        });
        t.amount_cents = amount;
        t.fee_cents = fee;
        t
    }

    #[test]
    fn the_amount_is_a_recharges_within_its_limits_until_paid() {
        let t = recharge(TxState::Identified, None, 0);
        assert!(check_amount(&t, 500).is_ok());
        assert!(check_amount(&t, 30_000).is_ok());
        assert!(matches!(
            check_amount(&t, 499),
            Err(CounterError::AmountOutOfLimits {
                amount_cents: 499,
                ..
            })
        ));
        assert!(matches!(
            check_amount(&t, 30_001),
            Err(CounterError::AmountOutOfLimits { .. })
        ));
        for state in [TxState::AmountSet, TxState::AwaitingCash] {
            assert!(check_amount(&recharge(state, Some(900), 0), 1000).is_ok());
        }
        for state in [TxState::Paid, TxState::Voided, TxState::ChooseCode] {
            assert!(matches!(
                check_amount(&recharge(state, Some(900), 0), 1000),
                Err(CounterError::InvalidState(WrongState::AmountLocked(s))) if s == state
            ));
        }
        assert!(matches!(
            check_amount(&tx(TxKind::Notice, TxState::AmountSet), 1000),
            Err(CounterError::InvalidState(WrongState::NoticeAmountFixed))
        ));
        // Without limits (never from the backend), at least one cent.
        let mut open = recharge(TxState::Identified, None, 0);
        open.limits = None;
        assert!(check_amount(&open, 0).is_err());
        assert!(check_amount(&open, i64::MAX).is_ok());

        let mut t = recharge(TxState::AwaitingCash, Some(900), 0);
        apply_amount(&mut t, 1000, 50);
        assert_eq!(
            (t.state, t.amount_cents, t.total_cents()),
            (TxState::AmountSet, Some(1000), Some(1050)),
            "a new amount needs a new pre-receipt"
        );
    }

    #[test]
    fn offline_amounts_stay_within_both_limits() {
        let budget = OfflineBudget {
            max_transaction_cents: 5_000,
            max_total_cents: 20_000,
            pending_cents: 14_000,
        };
        assert!(check_offline_amount(4_950, 50, budget).is_ok());
        assert!(matches!(
            check_offline_amount(4_951, 50, budget),
            Err(CounterError::OfflineLimitExceeded {
                max_transaction_cents: 5_000,
                max_total_cents: 20_000,
                pending_cents: 14_000
            })
        ));
        let full = OfflineBudget {
            pending_cents: 16_000,
            ..budget
        };
        assert!(check_offline_amount(4_000, 0, full).is_ok());
        assert!(check_offline_amount(4_001, 0, full).is_err());
        assert!(check_offline_total(4_000, full).is_ok());
        assert!(matches!(
            check_offline_total(4_001, full),
            Err(CounterError::OfflineTotalExceeded {
                max_total_cents: 20_000,
                pending_cents: 16_000
            })
        ));
    }

    #[test]
    fn the_pre_receipt_needs_an_amount_and_a_live_transaction() {
        for ok in [TxState::AmountSet, TxState::AwaitingCash] {
            assert!(check_pre_receipt(&recharge(ok, Some(1000), 0)).is_ok());
        }
        let refused = |s| check_pre_receipt(&recharge(s, None, 0)).unwrap_err();
        assert!(matches!(
            refused(TxState::Identified),
            CounterError::InvalidState(WrongState::AmountMissing)
        ));
        assert!(matches!(
            refused(TxState::ChooseCode),
            CounterError::InvalidState(WrongState::AmountMissing)
        ));
        assert!(matches!(
            refused(TxState::Voided),
            CounterError::InvalidState(WrongState::Voided)
        ));
        assert!(matches!(
            refused(TxState::Paid),
            CounterError::InvalidState(WrongState::PreReceiptUnavailable(TxState::Paid))
        ));
    }

    #[test]
    fn cash_pays_the_total_after_the_pre_receipt_with_bounded_change() {
        let t = recharge(TxState::AwaitingCash, Some(1000), 50);
        assert_eq!(check_payment(&t, 1050).unwrap(), 1050);
        assert_eq!(check_payment(&t, 1050 + MAX_CHANGE_CENTS).unwrap(), 1050);
        assert!(matches!(
            check_payment(&t, 1049),
            Err(CounterError::TenderedTooLow {
                total_cents: 1050,
                tendered_cents: 1049
            })
        ));
        assert!(matches!(
            check_payment(&t, 1051 + MAX_CHANGE_CENTS),
            Err(CounterError::TenderedTooHigh {
                total_cents: 1050,
                ..
            })
        ));
        assert!(matches!(
            check_payment(&recharge(TxState::AmountSet, Some(1000), 0), 2000),
            Err(CounterError::InvalidState(WrongState::PreReceiptFirst))
        ));
        assert!(matches!(
            check_payment(&recharge(TxState::Voided, Some(1000), 0), 2000),
            Err(CounterError::InvalidState(WrongState::Voided))
        ));
        assert!(matches!(
            check_payment(&recharge(TxState::AwaitingCash, None, 0), 2000),
            Err(CounterError::InvalidState(WrongState::AmountMissing))
        ));
    }

    #[test]
    fn a_notice_token_must_have_five_minutes_left() {
        let now = OffsetDateTime::UNIX_EPOCH + time::Duration::days(1);
        let mut t = tx(TxKind::Notice, TxState::AwaitingCash);
        assert!(check_payment_token(&t, now).is_ok(), "no token, no check");
        t.payment_token_expires_at = Some(now + PAYMENT_TOKEN_MARGIN);
        assert!(check_payment_token(&t, now).is_ok());
        let soon = now + PAYMENT_TOKEN_MARGIN - time::Duration::SECOND;
        t.payment_token_expires_at = Some(soon);
        assert!(matches!(
            check_payment_token(&t, now),
            Err(CounterError::PaymentTokenExpiring { expires_at }) if expires_at == soon
        ));
        t.payment_token_expires_at = Some(now);
        assert!(matches!(
            check_payment_token(&t, now),
            Err(CounterError::PaymentTokenExpired)
        ));
    }

    #[test]
    fn only_unpaid_transactions_are_voided_and_only_payers_choose() {
        assert!(matches!(
            check_void(&recharge(TxState::Paid, Some(1000), 0)),
            Err(CounterError::InvalidState(WrongState::AlreadyPaid))
        ));
        for s in [
            TxState::ChooseCode,
            TxState::Identified,
            TxState::AmountSet,
            TxState::AwaitingCash,
            TxState::Voided,
        ] {
            assert!(check_void(&recharge(s, None, 0)).is_ok(), "{s:?}");
        }
        assert!(check_choose(&recharge(TxState::ChooseCode, None, 0)).is_ok());
        assert!(matches!(
            check_choose(&recharge(TxState::Identified, None, 0)),
            Err(CounterError::InvalidState(WrongState::AlreadyChosen))
        ));
    }
}
