//! Small shared helpers: digit normalisation, the Luhn check, and the serde
//! glue for string newtypes.

/// Removes spaces, and dashes too when `dashes` is set, from hand-keyed
/// numbers (a printed code is grouped for reading, e.g. `1234 5678 9012 3`).
pub(crate) fn strip_separators(text: &str, dashes: bool) -> String {
    text.chars()
        .filter(|c| !(c.is_whitespace() || (dashes && *c == '-')))
        .collect()
}

/// True when the text is non-empty and made of ASCII digits only.
pub(crate) fn all_digits(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit())
}

/// Luhn (mod 10) check over a string of ASCII digits, the last being the
/// check digit. The Italian partita IVA / creditor fiscal code uses the very
/// same computation on 11 digits. Caller guarantees digits only.
pub(crate) fn luhn_valid(digits: &str) -> bool {
    let mut sum = 0u32;
    for (i, b) in digits.bytes().rev().enumerate() {
        let mut d = u32::from(b - b'0');
        if i % 2 == 1 {
            d *= 2;
            if d > 9 {
                d -= 9;
            }
        }
        sum += d;
    }
    sum % 10 == 0
}

/// The Luhn check digit to append to `payload` (ASCII digits only).
pub(crate) fn luhn_check_digit(payload: &str) -> char {
    let mut sum = 0u32;
    for (i, b) in payload.bytes().rev().enumerate() {
        let mut d = u32::from(b - b'0');
        // positions counted from the right of the final number: the check
        // digit will be position 0, so the payload's last digit is doubled
        if i % 2 == 0 {
            d *= 2;
            if d > 9 {
                d -= 9;
            }
        }
        sum += d;
    }
    char::from(b'0' + ((10 - sum % 10) % 10) as u8)
}

/// Implements `Serialize` (as the string), `Deserialize` (a string that
/// must pass `parse`), `FromStr` and `AsRef<str>` for a string newtype with
/// `parse(&str) -> Result<Self, CodeError>` and `as_str(&self) -> &str`.
macro_rules! string_newtype_serde {
    ($ty:ident) => {
        impl serde::Serialize for $ty {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
                $ty::parse(&text).map_err(serde::de::Error::custom)
            }
        }

        impl std::str::FromStr for $ty {
            type Err = $crate::CodeError;
            fn from_str(text: &str) -> Result<Self, Self::Err> {
                $ty::parse(text)
            }
        }

        impl AsRef<str> for $ty {
            fn as_ref(&self) -> &str {
                self.as_str()
            }
        }
    };
}
pub(crate) use string_newtype_serde;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luhn_known_values() {
        assert!(luhn_valid("00514490010"));
        assert!(luhn_valid("00085240950"));
        assert!(luhn_valid("79927398713"));
        assert!(!luhn_valid("79927398710"));
        assert_eq!(luhn_check_digit("7992739871"), '3');
        assert_eq!(luhn_check_digit("0051449001"), '0');
    }

    #[test]
    fn separators() {
        assert_eq!(strip_separators(" 12 34-5 ", true), "12345");
        assert_eq!(strip_separators("12 34-5", false), "1234-5");
    }
}
