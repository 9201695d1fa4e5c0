//! The one classifier every input goes through, whatever read it (camera,
//! handheld scanner, card reader, keyboard).
//!
//! ```text
//! SSQR...              -> app token          (AppToken::parse)
//! PAGOPA|... (or one other separator throughout) -> notice, QR (Notice::from_qr)
//! codfase=...          -> notice, Data Matrix (Notice::from_data_matrix)
//! %... or ;...         -> card track text    (fiscal_code_from_track)
//! 13 digits (spaces, dashes ignored)        -> manual code
//! 16 letters/digits in the fiscal code layout -> fiscal code
//! anything else        -> unknown_input, with a short masked excerpt
//! ```
//!
//! Near misses get the precise error of the kind they nearly are (12
//! digits: a manual code a digit short; 15 characters shaped like a fiscal
//! code: a fiscal code a character short), not `unknown_input`.

use crate::error::{sanitize_fragment, CodeError};
use crate::fiscal_code::{contains_card_number, fiscal_code_from_track, mask_fiscal_codes};
use crate::notice::{qr_separator, starts_with_ignore_case};
use crate::{AppToken, FiscalCode, ManualCode, Notice};

/// What was shown at the counter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// The signed QR of the school-services app.
    AppToken(AppToken),
    /// The 13-digit code of the app.
    ManualCode(ManualCode),
    /// A pagoPA notice (QR or Poste Data Matrix).
    Notice(Notice),
    /// A person's fiscal code (Tessera Sanitaria or typed).
    FiscalCode(FiscalCode),
}

impl Input {
    /// The kind as named in the API's `scan` event: `app_token`,
    /// `manual_code`, `notice` or `fiscal_code`.
    pub fn kind(&self) -> &'static str {
        match self {
            Input::AppToken(_) => "app_token",
            Input::ManualCode(_) => "manual_code",
            Input::Notice(_) => "notice",
            Input::FiscalCode(_) => "fiscal_code",
        }
    }

    /// The input as it may appear in events and logs: fiscal codes masked
    /// (`RSS***********2S`), a notice as its number, creditor and amount
    /// only (so the payer data of a Data Matrix never appears), app tokens
    /// and manual codes as read (they carry no personal data).
    pub fn masked_text(&self) -> String {
        match self {
            Input::AppToken(token) => token.as_str().to_owned(),
            Input::ManualCode(code) => code.as_str().to_owned(),
            Input::Notice(notice) => notice.summary(),
            Input::FiscalCode(code) => code.masked(),
        }
    }
}

/// Inputs longer than this are no code the counter knows (the longest, a
/// Data Matrix, is 260 characters; a token about 200).
const MAX_INPUT_CHARS: usize = 4096;

/// Classifies and parses what was read. Surrounding whitespace and control
/// characters (the Enter a keyboard-wedge scanner sends, STX/ETX of a serial
/// one) are trimmed. Never panics, whatever the text: for invalid UTF-8
/// pass the lossy conversion.
pub fn classify(text: &str) -> Result<Input, CodeError> {
    let text = text.trim_matches(|c: char| c.is_whitespace() || c.is_control());
    if text.is_empty() {
        return Err(CodeError::UnknownInput(
            "Nessun dato letto: inquadrare di nuovo il codice o digitarlo.".into(),
        ));
    }
    if text.len() > MAX_INPUT_CHARS {
        return Err(unknown(text));
    }
    if starts_with_ignore_case(text, "SSQR") {
        return AppToken::parse(text).map(Input::AppToken);
    }
    if qr_separator(text).is_some() {
        // `PAGOPA|`, or `PAGOPA§` from a scanner typing on an Italian layout
        return Notice::from_qr(text).map(Input::Notice);
    }
    if starts_with_ignore_case(text, "codfase=") {
        return Notice::from_data_matrix(text).map(Input::Notice);
    }
    if text.starts_with('%') || text.starts_with(';') {
        return fiscal_code_from_track(text).map(Input::FiscalCode);
    }

    let compact: String = text
        .chars()
        .filter(|c| !(c.is_whitespace() || *c == '-'))
        .collect();
    if !compact.is_empty() && compact.bytes().all(|b| b.is_ascii_digit()) {
        return match compact.len() {
            12..=14 => ManualCode::parse(text).map(Input::ManualCode),
            20 if contains_card_number(&compact) => {
                fiscal_code_from_track(&compact).map(Input::FiscalCode)
            }
            18 => Err(CodeError::UnknownInput(format!(
                "«{}» sembra un numero avviso pagoPA: inserirlo nel modulo dell'avviso insieme \
                 al codice fiscale dell'ente, oppure inquadrare il QR dell'avviso.",
                masked_excerpt(text)
            ))),
            11 => Err(CodeError::UnknownInput(format!(
                "«{}» sembra il codice fiscale di un ente: da solo non basta. Inquadrare il QR \
                 dell'avviso o inserire anche il numero avviso.",
                masked_excerpt(text)
            ))),
            _ => Err(unknown(text)),
        };
    }

    if text.bytes().all(|b| b.is_ascii_alphanumeric()) {
        let len = text.len();
        if len == 16 && layout_matches(text) >= 13 {
            return FiscalCode::parse(text).map(Input::FiscalCode);
        }
        if (14..=18).contains(&len) && looks_like_fiscal_code_start(text) {
            // a character missing or extra: FiscalCode::parse says which
            return FiscalCode::parse(text).map(Input::FiscalCode);
        }
    }
    Err(unknown(text))
}

/// How many of the 16 positions have the right kind of character for a
/// fiscal code (letter or digit-like), out of 16.
fn layout_matches(text: &str) -> usize {
    const DIGITS: [usize; 7] = [6, 7, 9, 10, 12, 13, 14];
    text.bytes()
        .enumerate()
        .filter(|(i, b)| {
            let b = b.to_ascii_uppercase();
            if DIGITS.contains(i) {
                b.is_ascii_digit() || b"LMNPQRSTUV".contains(&b)
            } else {
                b.is_ascii_alphabetic()
            }
        })
        .count()
}

/// Six letters then two digits: how every (non-omocodic-in-the-year)
/// fiscal code begins.
fn looks_like_fiscal_code_start(text: &str) -> bool {
    let b = text.as_bytes();
    b.len() >= 8
        && b[..6].iter().all(u8::is_ascii_alphabetic)
        && b[6..8].iter().all(u8::is_ascii_digit)
}

fn unknown(text: &str) -> CodeError {
    CodeError::UnknownInput(format!(
        "Codice non riconosciuto: «{}». Si accettano il QR o il codice a 13 cifre dell'app, \
         il QR o il Data Matrix dell'avviso pagoPA e la tessera sanitaria.",
        masked_excerpt(text)
    ))
}

/// A short excerpt of raw input that is safe to show and log: at most 12
/// characters (plus `…` when cut), fiscal codes masked, anything that
/// starts like one (six letters and two digits, as in a partial read)
/// masked after its first three characters, non-printable characters
/// replaced by `?`.
pub fn masked_excerpt(text: &str) -> String {
    let text = text.trim_matches(|c: char| c.is_whitespace() || c.is_control());
    // Enough context for masking around the first 12 characters.
    let head: String = text.chars().take(64).collect();
    let masked = mask_fiscal_code_starts(&mask_fiscal_codes(&head));
    sanitize_fragment(&masked, 12)
}

/// Masks, inside each run of ASCII letters and digits, everything after the
/// first three characters of a "six letters, two digits" start.
fn mask_fiscal_code_starts(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out: Vec<char> = chars.clone();
    let mut i = 0;
    while i < chars.len() {
        if !chars[i].is_ascii_alphanumeric() {
            i += 1;
            continue;
        }
        let start = i;
        while i < chars.len() && chars[i].is_ascii_alphanumeric() {
            i += 1;
        }
        let run = &chars[start..i];
        if let Some(at) = (0..run.len().saturating_sub(7)).find(|&k| {
            run[k..k + 6].iter().all(char::is_ascii_alphabetic)
                && run[k + 6..k + 8].iter().all(char::is_ascii_digit)
        }) {
            for c in &mut out[start + at + 3..i] {
                *c = '*';
            }
        }
    }
    out.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notice::tests::data_matrix_example;
    use crate::token::tests::{claims, signing_key};
    use proptest::prelude::*;

    #[test]
    fn each_kind() {
        let token = AppToken::sign(&claims(), "k1", &signing_key(1));
        let cases = [
            (format!("{token}\r\n"), "app_token"),
            ("1234 5678 9012 8\r".into(), "manual_code"),
            ("1234-5678-9012-8".into(), "manual_code"),
            (
                "PAGOPA|002|301000000000012373|00514490010|2550\n".into(),
                "notice",
            ),
            (data_matrix_example(40), "notice"),
            ("RSSMRA85T10A562S\r\n".into(), "fiscal_code"),
            ("rssmra85t10a562s".into(), "fiscal_code"),
            ("%BRSSMRA85T10A562SROSSI  MARIO^^?".into(), "fiscal_code"),
            ("\u{2}RSSMRA85T10A562S\u{3}".into(), "fiscal_code"),
        ];
        for (text, kind) in cases {
            let input = classify(&text).unwrap_or_else(|e| panic!("{text:?}: {e}"));
            assert_eq!(input.kind(), kind, "{text:?}");
        }
    }

    #[test]
    fn masked_text_hides_personal_data() {
        let cf = classify("RSSMRA85T10A562S").unwrap();
        assert_eq!(cf.masked_text(), "RSS***********2S");
        assert!(!format!("{cf:?}").contains("MRA85"));
        let dm = classify(&data_matrix_example(40)).unwrap();
        let text = dm.masked_text();
        assert_eq!(
            text,
            "avviso 300715700000000032, ente 00085240950, importo 0,01 €"
        );
        assert!(!format!("{dm:?}").contains("BSCMTT"));
        let mc = classify("1234 5678 9012 8").unwrap();
        assert_eq!(mc.masked_text(), "1234567890128");
    }

    #[test]
    fn errors_are_precise() {
        let cases = [
            ("", "unknown_input"),
            ("\r\n", "unknown_input"),
            ("1234 5678 9012 3", "bad_check_digit"),
            ("1234 5678 9012", "bad_length"),
            ("1234 5678 9012 34", "bad_length"),
            ("RSSMRA85T10A562X", "bad_check_digit"),
            ("RSSMRA85T10A562", "bad_length"),
            ("RSSMRA85F10A562S", "bad_format"),
            (
                "PAGOPA|001|301000000000012373|00514490010|2550",
                "unsupported_version",
            ),
            ("SSQR2.a.b", "unsupported_version"),
            (";80380000001234567890=2912?", "not_a_fiscal_code"),
            ("80380000001234567890", "not_a_fiscal_code"),
            ("301000000000012373", "unknown_input"),
            ("00514490010", "unknown_input"),
            ("https://example.org/x", "unknown_input"),
            ("8001234567890123", "unknown_input"),
            ("ABC123XYZ7890QWE", "unknown_input"),
        ];
        for (text, code) in cases {
            let err = classify(text).unwrap_err();
            assert_eq!(err.code(), code, "{text:?}: {err}");
        }
        let err = classify("301000000000012373").unwrap_err();
        assert!(err.message().contains("numero avviso"), "{err}");
    }

    #[test]
    fn unknown_input_excerpt_is_short_and_masked() {
        let err = classify("https://example.org/very/long/path").unwrap_err();
        assert!(err.message().contains("«https://exam…»"), "{err}");
        let err = classify("xx RSSMRA85T10A562S yy").unwrap_err();
        assert_eq!(err.code(), "unknown_input");
        assert!(!err.message().contains("MRA85"), "{err}");
        assert!(err.message().contains("«xx RSS******…»"), "{err}");
        let err = classify("a\u{0}b\u{7}c\u{FFFD}").unwrap_err();
        assert!(err.message().contains("«a?b?c?»"), "{err}");
        // a partial read of a fiscal code glued to other text
        assert_eq!(masked_excerpt("RSSMRA85T10A5/x"), "RSS*********…");
        assert_eq!(masked_excerpt("ciao mondo"), "ciao mondo");
        let huge = "Z".repeat(100_000);
        assert_eq!(classify(&huge).unwrap_err().code(), "unknown_input");
    }

    #[test]
    fn nasty_inputs_do_not_panic() {
        for text in [
            "PAGOPA|",
            "PAGOPA||||",
            "codfase=",
            "codfase=NBPA;",
            &format!("codfase=NBPA;{}", "é".repeat(250)),
            &format!("codfase=NBPA;{}", "9".repeat(300)),
            "%",
            ";",
            "%B",
            "SSQR1...",
            "SSQR1.é.é",
            "ssqr",
            "-",
            "- - -",
            "é",
            "ÀÀÀÀÀÀ12ÀÀÀÀÀÀÀÀÀ",
            "\u{FEFF}RSSMRA85T10A562S",
        ] {
            let _ = classify(text);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]

        #[test]
        fn never_panics_on_strings(text in any::<String>()) {
            match classify(&text) {
                Ok(input) => { let _ = input.masked_text(); }
                Err(e) => prop_assert!(!e.code().is_empty()),
            }
        }

        #[test]
        fn never_panics_on_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            let text = String::from_utf8_lossy(&bytes);
            let _ = classify(&text);
        }

        /// Inputs built from the alphabet of real codes reach the deeper
        /// parsers, which random Unicode rarely does.
        #[test]
        fn never_panics_on_code_like_text(
            prefix in prop_oneof![
                Just(""), Just("SSQR1."), Just("PAGOPA|002|"), Just("codfase=NBPA;18"),
                Just("%B"), Just(";80380")
            ],
            body in "[A-Z0-9a-z|.;=%^?_ -]{0,300}",
        ) {
            let _ = classify(&format!("{prefix}{body}"));
        }

        /// Whatever the input, an error message never carries 16
        /// characters in the fiscal code layout unmasked.
        #[test]
        fn errors_never_leak_fiscal_codes(
            code in crate::fiscal_code::tests::fiscal_code_strategy(),
            before in "[ -~]{0,8}",
            after in "[ -~]{0,8}",
        ) {
            let text = format!("{before}{code}{after}");
            if let Err(e) = classify(&text) {
                prop_assert!(!e.message().contains(&code[3..14]), "{}", e);
                prop_assert_eq!(mask_fiscal_codes(e.message()), e.message());
            }
        }
    }
}
