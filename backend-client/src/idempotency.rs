//! The `Idempotency-Key` of each state-changing request about one item of a
//! transaction, exactly as `backend-api.md` spells it.
//!
//! A transaction holds 1 to 5 items, each credited at the backend on its own
//! (`agent-api.md`, "Several items in one payment"). Item 1 keeps the key a
//! one-item transaction always had, so a journal written before items
//! existed replays its pending requests under the keys the server already
//! remembers; items 2 and up insert their number:
//!
//! ```text
//!              item 1                item n >= 2
//! recharge     <tx>                  <tx>:<n>
//! activate     <tx>:activate         <tx>:<n>:activate
//! outcome      <tx>:outcome          <tx>:<n>:outcome
//! ```
//!
//! Closures are keyed by their closure id, not by a transaction, so they are
//! not here (see [`crate::PreparedRequest::closure`]).

/// Which request of an item the key is for: it picks the key's suffix.
///
/// One enum rather than three functions so that a caller that handles the
/// outbox generically (purpose in a column) cannot pair the wrong suffix
/// with an item number by hand.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeyPurpose {
    /// `POST /v1/recharges`: no suffix.
    Recharge,
    /// `POST /v1/notices/activate`: suffix `:activate`.
    Activate,
    /// `POST /v1/notices/outcome` (both `OK` and `KO`): suffix `:outcome`.
    Outcome,
}

impl KeyPurpose {
    /// The suffix the spec appends after the transaction id (and the item
    /// number, for items 2 and up); empty for a recharge.
    pub fn suffix(self) -> &'static str {
        match self {
            KeyPurpose::Recharge => "",
            KeyPurpose::Activate => ":activate",
            KeyPurpose::Outcome => ":outcome",
        }
    }
}

/// The `Idempotency-Key` for item `item` of transaction `transaction_id`.
///
/// Item numbers start at 1 and are never reused within a transaction, and
/// the key of item `n` does not depend on whether item 1 is still in the
/// transaction, so a key, once sent, names the same credit forever.
///
/// `0` is not an item number. It is not mapped onto item 1 (that would make
/// two different requests share a key, and the server would answer the
/// second with the first's answer); it gets the general form `<tx>:0`,
/// which no real item's key equals, and the backend refuses its body.
///
/// ```
/// use pos_backend::{idempotency_key, KeyPurpose};
/// assert_eq!(idempotency_key("0b7c", 1, KeyPurpose::Recharge), "0b7c");
/// assert_eq!(idempotency_key("0b7c", 3, KeyPurpose::Outcome), "0b7c:3:outcome");
/// ```
pub fn idempotency_key(transaction_id: &str, item: u32, purpose: KeyPurpose) -> String {
    if item == 1 {
        format!("{transaction_id}{}", purpose.suffix())
    } else {
        format!("{transaction_id}:{item}{}", purpose.suffix())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TX: &str = "0b7c0000-0000-4000-8000-000000000001";

    #[test]
    fn recharge_keys() {
        assert_eq!(idempotency_key(TX, 1, KeyPurpose::Recharge), TX);
        assert_eq!(
            idempotency_key(TX, 2, KeyPurpose::Recharge),
            format!("{TX}:2")
        );
        assert_eq!(
            idempotency_key(TX, 5, KeyPurpose::Recharge),
            format!("{TX}:5")
        );
    }

    #[test]
    fn activate_keys() {
        assert_eq!(
            idempotency_key(TX, 1, KeyPurpose::Activate),
            format!("{TX}:activate")
        );
        assert_eq!(
            idempotency_key(TX, 2, KeyPurpose::Activate),
            format!("{TX}:2:activate")
        );
        assert_eq!(
            idempotency_key(TX, 4, KeyPurpose::Activate),
            format!("{TX}:4:activate")
        );
    }

    #[test]
    fn outcome_keys() {
        assert_eq!(
            idempotency_key(TX, 1, KeyPurpose::Outcome),
            format!("{TX}:outcome")
        );
        assert_eq!(
            idempotency_key(TX, 3, KeyPurpose::Outcome),
            format!("{TX}:3:outcome")
        );
        assert_eq!(
            idempotency_key(TX, 12, KeyPurpose::Outcome),
            format!("{TX}:12:outcome")
        );
    }

    #[test]
    fn item_zero_never_collides_with_item_one() {
        for purpose in [
            KeyPurpose::Recharge,
            KeyPurpose::Activate,
            KeyPurpose::Outcome,
        ] {
            let zero = idempotency_key(TX, 0, purpose);
            assert_ne!(zero, idempotency_key(TX, 1, purpose), "{purpose:?}");
            assert_eq!(zero, format!("{TX}:0{}", purpose.suffix()));
        }
    }

    #[test]
    fn every_key_of_a_five_item_transaction_is_distinct() {
        let mut keys = std::collections::HashSet::new();
        for item in 1..=5 {
            for purpose in [
                KeyPurpose::Recharge,
                KeyPurpose::Activate,
                KeyPurpose::Outcome,
            ] {
                assert!(keys.insert(idempotency_key(TX, item, purpose)));
            }
        }
        assert_eq!(keys.len(), 15);
    }
}
