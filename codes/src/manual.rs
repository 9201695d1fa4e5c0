//! The 13-digit manual payment code shown by the school-services app for
//! when the camera cannot read the screen.

use std::fmt;

use crate::digits::{
    all_digits, luhn_check_digit, luhn_valid, string_newtype_serde, strip_separators,
};
use crate::error::CodeError;
use crate::notice::group_digits;

/// 12 digits and a Luhn check digit, shown as `1234 5678 9012 3`. Can only
/// be resolved online (`GET /v1/payment-codes/{code}`). Holds no personal
/// data.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ManualCode(String);

impl ManualCode {
    /// Parses a typed or scanned code; spaces and dashes are ignored.
    pub fn parse(text: &str) -> Result<Self, CodeError> {
        let digits = strip_separators(text, true);
        if digits.is_empty() {
            return Err(CodeError::BadLength(
                "Codice di pagamento mancante: servono 13 cifre.".into(),
            ));
        }
        if !all_digits(&digits) {
            return Err(CodeError::BadFormat(
                "Codice di pagamento non valido: sono ammesse solo cifre (spazi e trattini \
                 vengono ignorati)."
                    .into(),
            ));
        }
        if digits.len() != 13 {
            return Err(CodeError::BadLength(format!(
                "Codice di pagamento non valido: ha {} cifre, ne servono 13.",
                digits.len()
            )));
        }
        if !luhn_valid(&digits) {
            return Err(CodeError::BadCheckDigit(
                "Codice di pagamento non valido: la cifra di controllo non torna. \
                 Ricontrollare il codice o inquadrare il QR."
                    .into(),
            ));
        }
        Ok(ManualCode(digits))
    }

    /// Completes 12 digits with their Luhn check digit, for issuers and
    /// mocks that mint codes (the counter only ever parses them).
    pub fn from_payload(payload: &str) -> Result<Self, CodeError> {
        let digits = strip_separators(payload, true);
        if !all_digits(&digits) || digits.len() != 12 {
            return Err(CodeError::BadFormat(
                "Codice di pagamento: servono 12 cifre a cui aggiungere quella di controllo."
                    .into(),
            ));
        }
        let check = luhn_check_digit(&digits);
        Self::parse(&format!("{digits}{check}"))
    }

    /// The 13 digits, no separators (the form sent to the backend).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The code grouped as the app shows it: `1234 5678 9012 3`.
    pub fn display(&self) -> String {
        group_digits(&self.0, 4)
    }
}

impl fmt::Display for ManualCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for ManualCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ManualCode({})", self.0)
    }
}

string_newtype_serde!(ManualCode);

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    pub(crate) fn manual_code_strategy() -> impl Strategy<Value = String> {
        "[0-9]{12}".prop_map(|p| {
            let check = luhn_check_digit(&p);
            format!("{p}{check}")
        })
    }

    /// A valid example: Luhn check digit of 123456789012 is 8.
    pub(crate) const EXAMPLE: &str = "1234567890128";

    #[test]
    fn example_and_separators() {
        for input in [
            "1234567890128",
            "1234 5678 9012 8",
            "1234-5678-9012-8",
            " 1234 5678-9012 8\r\n",
        ] {
            let code = ManualCode::parse(input).unwrap();
            assert_eq!(code.as_str(), EXAMPLE);
            assert_eq!(code.display(), "1234 5678 9012 8");
        }
    }

    #[test]
    fn from_payload_appends_the_check_digit() {
        assert_eq!(
            ManualCode::from_payload("1234 5678 9012").unwrap().as_str(),
            EXAMPLE
        );
        assert!(ManualCode::from_payload("12345678901").is_err());
        assert!(ManualCode::from_payload("12345678901X").is_err());
    }

    #[test]
    fn refusals() {
        let e = ManualCode::parse("1234 5678 9012 3").unwrap_err();
        assert_eq!(e.code(), "bad_check_digit");
        assert_eq!(
            e.message(),
            "Codice di pagamento non valido: la cifra di controllo non torna. \
             Ricontrollare il codice o inquadrare il QR."
        );
        let e = ManualCode::parse("1234 5678 9012").unwrap_err();
        assert_eq!(e.code(), "bad_length");
        assert!(e.message().contains("12 cifre"));
        assert_eq!(
            ManualCode::parse("1234 5678 9012 X").unwrap_err().code(),
            "bad_format"
        );
        assert_eq!(ManualCode::parse(" - ").unwrap_err().code(), "bad_length");
    }

    #[test]
    fn serde_validates() {
        let code: ManualCode = serde_json::from_str("\"1234 5678 9012 8\"").unwrap();
        assert_eq!(serde_json::to_string(&code).unwrap(), "\"1234567890128\"");
        assert!(serde_json::from_str::<ManualCode>("\"1234567890123\"").is_err());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1000))]

        #[test]
        fn valid_codes_round_trip(code in manual_code_strategy()) {
            let parsed = ManualCode::parse(&code).unwrap();
            prop_assert_eq!(parsed.as_str(), code.as_str());
            prop_assert_eq!(ManualCode::parse(&parsed.display()).unwrap(), parsed.clone());
            let json = serde_json::to_string(&parsed).unwrap();
            prop_assert_eq!(serde_json::from_str::<ManualCode>(&json).unwrap(), parsed);
        }

        /// Luhn catches every single-digit substitution; a non-digit is a
        /// format error. (A space or dash is ignored, so it turns the code
        /// into 12 digits: a length error.)
        #[test]
        fn every_single_substitution_is_refused(code in manual_code_strategy()) {
            for pos in 0..13 {
                for sub in "0123456789A -.".chars() {
                    if code.as_bytes()[pos] as char == sub {
                        continue;
                    }
                    let mut changed: Vec<char> = code.chars().collect();
                    changed[pos] = sub;
                    let changed: String = changed.into_iter().collect();
                    prop_assert!(ManualCode::parse(&changed).is_err(), "{} accepted", changed);
                }
            }
        }
    }
}
