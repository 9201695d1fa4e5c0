//! Money as integer euro cents.
//!
//! Amounts travel as integer cents everywhere (API, backend, journal), so
//! no floating point ever touches money. Arithmetic is checked: an overflow
//! is a bug or an absurd input, never a silently wrong total.

use std::fmt;

use serde::{Deserialize, Serialize};

/// An amount of money in euro cents. Serialises as a plain JSON integer.
///
/// Any `i64` is a valid amount (negative amounts appear as refunds and
/// differences); whether an amount is acceptable for an operation (within
/// limits, positive) is the caller's business.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Cents(pub i64);

impl Cents {
    /// Zero euro.
    pub const ZERO: Cents = Cents(0);

    /// An amount from a number of cents.
    pub const fn new(cents: i64) -> Cents {
        Cents(cents)
    }

    /// The number of cents.
    pub const fn get(self) -> i64 {
        self.0
    }

    /// `self + other`, or `None` on overflow.
    pub fn checked_add(self, other: Cents) -> Option<Cents> {
        self.0.checked_add(other.0).map(Cents)
    }

    /// `self - other`, or `None` on overflow.
    pub fn checked_sub(self, other: Cents) -> Option<Cents> {
        self.0.checked_sub(other.0).map(Cents)
    }

    /// `self * factor`, or `None` on overflow (e.g. for counts in reports).
    pub fn checked_mul(self, factor: i64) -> Option<Cents> {
        self.0.checked_mul(factor).map(Cents)
    }

    /// True for amounts above zero.
    pub const fn is_positive(self) -> bool {
        self.0 > 0
    }

    /// True for amounts below zero.
    pub const fn is_negative(self) -> bool {
        self.0 < 0
    }

    /// The amount in Italian notation without currency: `20,00`,
    /// `1.234,56`, `-0,05` (dot for thousands, comma for decimals).
    pub fn format_eur(self) -> String {
        // unsigned_abs: i64::MIN has no positive i64 counterpart.
        let abs = self.0.unsigned_abs();
        let euros = (abs / 100).to_string();
        let cents = abs % 100;
        let mut grouped = String::with_capacity(euros.len() + euros.len() / 3 + 4);
        for (i, digit) in euros.chars().enumerate() {
            if i > 0 && (euros.len() - i) % 3 == 0 {
                grouped.push('.');
            }
            grouped.push(digit);
        }
        let sign = if self.0 < 0 { "-" } else { "" };
        format!("{sign}{grouped},{cents:02}")
    }

    /// The amount with a currency prefix: `€ 20,00`, or `EUR 20,00` for
    /// printers without a euro glyph (`printer.euro = "EUR"`).
    pub fn format_with_prefix(self, prefix: &str) -> String {
        format!("{prefix} {}", self.format_eur())
    }

    /// The amount as `€ 20,00` (euro sign first, as on receipts).
    pub fn format_eur_prefixed(self) -> String {
        self.format_with_prefix("€")
    }
}

/// `20,00 €`: the amount as Italian text with the euro sign after it.
impl fmt::Display for Cents {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} €", self.format_eur())
    }
}

impl From<i64> for Cents {
    fn from(cents: i64) -> Cents {
        Cents(cents)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn formats_italian_style() {
        assert_eq!(Cents(2000).format_eur(), "20,00");
        assert_eq!(Cents(2550).format_eur(), "25,50");
        assert_eq!(Cents(5).format_eur(), "0,05");
        assert_eq!(Cents(0).format_eur(), "0,00");
        assert_eq!(Cents(-5).format_eur(), "-0,05");
        assert_eq!(Cents(123_456).format_eur(), "1.234,56");
        assert_eq!(Cents(100_000_000).format_eur(), "1.000.000,00");
        assert_eq!(Cents(2000).to_string(), "20,00 €");
        assert_eq!(Cents(2000).format_eur_prefixed(), "€ 20,00");
        assert_eq!(Cents(2000).format_with_prefix("EUR"), "EUR 20,00");
        assert_eq!(Cents(i64::MIN).format_eur(), "-92.233.720.368.547.758,08");
    }

    #[test]
    fn arithmetic_is_checked() {
        assert_eq!(Cents(1).checked_add(Cents(2)), Some(Cents(3)));
        assert_eq!(Cents(i64::MAX).checked_add(Cents(1)), None);
        assert_eq!(Cents(i64::MIN).checked_sub(Cents(1)), None);
        assert_eq!(Cents(5).checked_sub(Cents(7)), Some(Cents(-2)));
        assert_eq!(Cents(250).checked_mul(3), Some(Cents(750)));
        assert_eq!(Cents(i64::MAX).checked_mul(2), None);
    }

    #[test]
    fn serde_is_a_plain_integer() {
        assert_eq!(serde_json::to_string(&Cents(2550)).unwrap(), "2550");
        assert_eq!(serde_json::from_str::<Cents>("-7").unwrap(), Cents(-7));
        assert!(serde_json::from_str::<Cents>("\"20,00\"").is_err());
        assert!(serde_json::from_str::<Cents>("1.5").is_err());
    }

    proptest! {
        #[test]
        fn formatting_round_trips(n in any::<i64>()) {
            let text = Cents(n).format_eur();
            let digits: String = text.chars().filter(|c| *c != '.' && *c != ',').collect();
            let back: i128 = digits.parse().unwrap();
            prop_assert_eq!(back, i128::from(n));
            // exactly two decimals after the only comma
            let (_, decimals) = text.split_once(',').unwrap();
            prop_assert_eq!(decimals.len(), 2);
        }

        #[test]
        fn add_then_sub_is_identity(a in any::<i64>(), b in any::<i64>()) {
            if let Some(sum) = Cents(a).checked_add(Cents(b)) {
                prop_assert_eq!(sum.checked_sub(Cents(b)), Some(Cents(a)));
            } else {
                prop_assert!(i128::from(a) + i128::from(b) > i128::from(i64::MAX)
                    || i128::from(a) + i128::from(b) < i128::from(i64::MIN));
            }
        }
    }
}
