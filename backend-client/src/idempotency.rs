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

/// The (transaction id, item) a key of this purpose names: the inverse of
/// [`idempotency_key`]. `None` when the key does not end with the
/// purpose's suffix, or has an empty transaction id.
///
/// For code that holds only a stored key and must send the item's next
/// request: the `KO` that follows an activation replayed from the outbox
/// goes under the outcome key of the same item.
///
/// Transaction ids are the agent's UUIDs, which hold no `:`; a `:<n>` just
/// before the suffix is read as the item number only when `n >= 2` (item 1
/// never carries a number), otherwise it stays part of the id.
///
/// ```
/// use pos_backend::{idempotency_key, item_of_key, KeyPurpose};
/// let activation = "0b7c:3:activate";
/// let (tx, item) = item_of_key(activation, KeyPurpose::Activate).unwrap();
/// assert_eq!(idempotency_key(&tx, item, KeyPurpose::Outcome), "0b7c:3:outcome");
/// ```
pub fn item_of_key(key: &str, purpose: KeyPurpose) -> Option<(String, u32)> {
    let rest = key.strip_suffix(purpose.suffix())?;
    let numbered = rest.rsplit_once(':').and_then(|(tx, n)| {
        let n: u32 = n.parse().ok().filter(|n| *n >= 2)?;
        // `u32::from_str` takes a leading `+`; a key this module wrote never has one.
        let canonical = n.to_string() == rest[tx.len() + 1..];
        Some((tx, n)).filter(|(tx, _)| !tx.is_empty() && canonical)
    });
    let (tx, item) = numbered.unwrap_or((rest, 1));
    (!tx.is_empty()).then(|| (tx.to_string(), item))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const PURPOSES: [KeyPurpose; 3] = [
        KeyPurpose::Recharge,
        KeyPurpose::Activate,
        KeyPurpose::Outcome,
    ];

    proptest! {
        /// Every key this module writes for items 1..=5 reads back as the
        /// same transaction and item.
        #[test]
        fn keys_read_back(tx in "[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}", item in 1u32..=5, p in 0usize..3) {
            let purpose = PURPOSES[p];
            let key = idempotency_key(&tx, item, purpose);
            prop_assert_eq!(item_of_key(&key, purpose), Some((tx, item)));
        }
    }

    #[test]
    fn keys_of_another_shape_do_not_read() {
        assert_eq!(item_of_key("tx:outcome", KeyPurpose::Activate), None);
        assert_eq!(item_of_key(":activate", KeyPurpose::Activate), None);
        assert_eq!(item_of_key("", KeyPurpose::Recharge), None);
        // `:1` is no item number (item 1 has none): it stays in the id.
        assert_eq!(
            item_of_key("tx:1:outcome", KeyPurpose::Outcome),
            Some(("tx:1".into(), 1))
        );
        assert_eq!(
            item_of_key("tx:+2", KeyPurpose::Recharge),
            Some(("tx:+2".into(), 1))
        );
    }

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
