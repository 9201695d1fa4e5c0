//! The creditor's fiscal code (codice fiscale dell'ente creditore).

use std::fmt;

use crate::digits::{all_digits, luhn_valid, string_newtype_serde, strip_separators};
use crate::CodeError;

/// The 11-digit fiscal code of a creditor body (a municipality), checked
/// with the standard Italian check digit (the partita IVA algorithm, which
/// is Luhn over the 11 digits).
///
/// Not personal data: it names a public body, so it is shown and printed
/// in full.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CreditorFiscalCode(String);

impl CreditorFiscalCode {
    /// Parses a hand-keyed or scanned creditor code. Surrounding and inner
    /// spaces are ignored (the code is sometimes printed grouped).
    pub fn parse(text: &str) -> Result<Self, CodeError> {
        Self::parse_exact(&strip_separators(text, false))
    }

    /// Parses a field that must be exactly the 11 digits (inside a QR code,
    /// a Data Matrix or an app token), with no spaces tolerated.
    pub(crate) fn parse_exact(text: &str) -> Result<Self, CodeError> {
        if !all_digits(text) {
            if text.is_empty() {
                return Err(CodeError::BadLength(
                    "Codice fiscale dell'ente mancante: servono 11 cifre.".into(),
                ));
            }
            return Err(CodeError::BadFormat(
                "Codice fiscale dell'ente non valido: sono ammesse solo cifre (11).".into(),
            ));
        }
        if text.len() != 11 {
            return Err(CodeError::BadLength(format!(
                "Codice fiscale dell'ente non valido: ha {} cifre, ne servono 11.",
                text.len()
            )));
        }
        if !luhn_valid(text) {
            return Err(CodeError::BadCheckDigit(
                "Codice fiscale dell'ente non valido: la cifra di controllo non torna. \
                 Ricontrollare il codice."
                    .into(),
            ));
        }
        Ok(CreditorFiscalCode(text.to_owned()))
    }

    /// The 11 digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CreditorFiscalCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for CreditorFiscalCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CreditorFiscalCode({})", self.0)
    }
}

string_newtype_serde!(CreditorFiscalCode);

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::digits::luhn_check_digit;
    use proptest::prelude::*;

    /// A valid creditor code from 10 payload digits.
    pub(crate) fn creditor_strategy() -> impl Strategy<Value = String> {
        "[0-9]{10}".prop_map(|p| {
            let check = luhn_check_digit(&p);
            format!("{p}{check}")
        })
    }

    #[test]
    fn spec_examples() {
        for code in ["00514490010", "00085240950"] {
            let cf = CreditorFiscalCode::parse(code).unwrap();
            assert_eq!(cf.as_str(), code);
        }
        assert_eq!(
            CreditorFiscalCode::parse(" 005 1449 0010 ")
                .unwrap()
                .as_str(),
            "00514490010"
        );
    }

    #[test]
    fn refusals_are_precise() {
        let e = CreditorFiscalCode::parse("00514490011").unwrap_err();
        assert_eq!(e.code(), "bad_check_digit");
        let e = CreditorFiscalCode::parse("0051449001").unwrap_err();
        assert_eq!(e.code(), "bad_length");
        assert!(e.message().contains("10 cifre"), "{e}");
        let e = CreditorFiscalCode::parse("0051449001A").unwrap_err();
        assert_eq!(e.code(), "bad_format");
        assert_eq!(
            CreditorFiscalCode::parse("").unwrap_err().code(),
            "bad_length"
        );
        // exact parsing (inside QR codes) tolerates no spaces
        assert!(CreditorFiscalCode::parse_exact("00514 490010").is_err());
    }

    #[test]
    fn serde_validates() {
        let cf: CreditorFiscalCode = serde_json::from_str("\"00514490010\"").unwrap();
        assert_eq!(serde_json::to_string(&cf).unwrap(), "\"00514490010\"");
        assert!(serde_json::from_str::<CreditorFiscalCode>("\"00514490011\"").is_err());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]
        #[test]
        fn valid_codes_round_trip(code in creditor_strategy()) {
            let cf = CreditorFiscalCode::parse(&code).unwrap();
            prop_assert_eq!(cf.as_str(), code.as_str());
            let json = serde_json::to_string(&cf).unwrap();
            prop_assert_eq!(serde_json::from_str::<CreditorFiscalCode>(&json).unwrap(), cf);
        }

        /// Luhn catches every single-digit error; any other character is
        /// refused as a format error.
        #[test]
        fn every_single_substitution_is_refused(code in creditor_strategy()) {
            for pos in 0..code.len() {
                for sub in "0123456789AZ-./|x".chars() {
                    if code.as_bytes()[pos] == sub as u8 {
                        continue;
                    }
                    let mut changed: Vec<char> = code.chars().collect();
                    changed[pos] = sub;
                    let changed: String = changed.into_iter().collect();
                    prop_assert!(CreditorFiscalCode::parse(&changed).is_err(), "{} accepted", changed);
                }
            }
        }
    }
}
