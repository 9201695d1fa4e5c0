//! A person's codice fiscale (read from the Tessera Sanitaria or typed), its
//! masking, and finding it inside magnetic-stripe track text.
//!
//! ```text
//! R S S M R A 8 5 T 1 0 A 5 6 2 S
//! └─surname─┘ └name┘ │ │ │ │ └─place─┘ └ check letter (odd/even tables)
//!             year ──┴─┘ │ └─┴ day (+40 for women)
//!               month ───┘ (A B C D E H L M P R S T)
//! ```
//!
//! Omocodia: when two people would get the same code, the revenue agency
//! replaces digits (right to left) with the letters `L M N P Q R S T U V`
//! (for 0-9). The spec accepts the replacement in any of the 7 digit
//! positions, and the check letter is computed over the code as written.
//!
//! A fiscal code is personal data: `Debug` and `Display` print the masked
//! form (`RSS***********2S`), so a stray `{:?}` in a log never leaks it;
//! only [`FiscalCode::as_str`] and serde give the full code (for the backend
//! lookup, which carries it in a request body).

use std::fmt;

use crate::digits::string_newtype_serde;
use crate::error::CodeError;

/// Values of characters in odd positions (1st, 3rd, ... counting from 1),
/// indexed by letter A-Z; the digits 0-9 take the values of A-J.
const ODD_VALUES: [u8; 26] = [
    1, 0, 5, 7, 9, 13, 15, 17, 19, 21, 2, 4, 18, 20, 11, 3, 6, 8, 12, 14, 16, 10, 22, 25, 24, 23,
];

/// Month letters, January to December.
const MONTH_LETTERS: &[u8; 12] = b"ABCDEHLMPRST";

/// Omocodia letters standing for the digits 0-9.
const OMOCODIA_LETTERS: &[u8; 10] = b"LMNPQRSTUV";

/// Positions (0-based) that hold digits, or omocodia letters.
const DIGIT_POSITIONS: [usize; 7] = [6, 7, 9, 10, 12, 13, 14];

/// The shape of one position of the code.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Slot {
    Letter,
    Digit,
}

const LAYOUT: [Slot; 16] = {
    let mut layout = [Slot::Letter; 16];
    let mut i = 0;
    while i < DIGIT_POSITIONS.len() {
        layout[DIGIT_POSITIONS[i]] = Slot::Digit;
        i += 1;
    }
    layout
};

/// The digit an omocodia-capable position stands for: a digit as itself,
/// an omocodia letter as its digit. Expects an upper-case ASCII byte.
fn digit_value(b: u8) -> Option<u8> {
    if b.is_ascii_digit() {
        Some(b - b'0')
    } else {
        OMOCODIA_LETTERS
            .iter()
            .position(|&l| l == b)
            .map(|p| p as u8)
    }
}

/// The official check letter for the first 15 characters (upper-case ASCII
/// letters and digits; the caller has checked that).
pub(crate) fn check_letter(first15: &[u8]) -> u8 {
    let mut sum: u32 = 0;
    for (i, &b) in first15.iter().enumerate() {
        let index = if b.is_ascii_digit() {
            b - b'0'
        } else {
            b - b'A'
        } as usize;
        // i is 0-based: i even is an odd position in the official 1-based count
        sum += if i % 2 == 0 {
            u32::from(ODD_VALUES[index])
        } else {
            index as u32
        };
    }
    b'A' + (sum % 26) as u8
}

/// True when 16 characters have the letter/digit layout of a fiscal code
/// (letters of either case; omocodia letters allowed in digit positions).
fn looks_like_fiscal_code(window: &[char]) -> bool {
    window.len() == 16
        && window.iter().zip(LAYOUT.iter()).all(|(&c, slot)| {
            if !c.is_ascii_alphanumeric() {
                return false;
            }
            let upper = c.to_ascii_uppercase() as u8;
            match slot {
                Slot::Letter => upper.is_ascii_alphabetic(),
                Slot::Digit => digit_value(upper).is_some(),
            }
        })
}

/// The masked form of 16 characters: first 3, 11 stars, last 2.
fn mask_chars(window: &[char]) -> String {
    let mut out: String = window.iter().take(3).collect();
    out.push_str("***********");
    out.extend(window.iter().skip(14));
    out
}

/// A valid codice fiscale of a person, upper case, exactly as written
/// (omocodia letters kept: the code is the person's identifier as issued).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct FiscalCode(String);

/// What a fiscal code says about its holder, with omocodia resolved.
///
/// Personal data: `Debug` does not print the values.
#[derive(Clone, PartialEq, Eq)]
pub struct BirthData {
    /// Last two digits of the birth year (the code does not say the century).
    pub year: u8,
    /// Month, 1-12.
    pub month: u8,
    /// Day of the month, 1-31 (the +40 for women already removed).
    pub day: u8,
    /// `'M'` or `'F'`.
    pub sex: char,
    /// Cadastral code of the municipality, or `Z` + country code for people
    /// born abroad, e.g. `A562` (omocodia letters turned back into digits).
    pub place_code: String,
}

impl fmt::Debug for BirthData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BirthData(<personal data>)")
    }
}

impl FiscalCode {
    /// Parses a person's fiscal code: trimmed and upper-cased, then 16
    /// characters with the official layout, month letter, day and check
    /// letter. Each refusal says precisely what is wrong, never echoing the
    /// code unmasked.
    pub fn parse(text: &str) -> Result<Self, CodeError> {
        let upper = text.trim().to_ascii_uppercase();
        let count = upper.chars().count();
        if count != 16 {
            return Err(CodeError::BadLength(format!(
                "Codice fiscale non valido: ha {count} caratteri, ne servono 16."
            )));
        }
        if !upper.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(CodeError::BadFormat(
                "Codice fiscale non valido: contiene caratteri diversi da lettere e cifre.".into(),
            ));
        }
        let bytes = upper.as_bytes();
        for (i, (&b, slot)) in bytes.iter().zip(LAYOUT.iter()).enumerate() {
            match slot {
                Slot::Letter if !b.is_ascii_alphabetic() => {
                    return Err(CodeError::BadFormat(format!(
                        "Codice fiscale non valido: il {}° carattere deve essere una lettera.",
                        i + 1
                    )));
                }
                Slot::Digit if digit_value(b).is_none() => {
                    return Err(CodeError::BadFormat(format!(
                        "Codice fiscale non valido: il {}° carattere deve essere una cifra \
                         (o una lettera di omocodia L M N P Q R S T U V).",
                        i + 1
                    )));
                }
                _ => {}
            }
        }
        if !MONTH_LETTERS.contains(&bytes[8]) {
            return Err(CodeError::BadFormat(
                "Codice fiscale non valido: la lettera del mese (9° carattere) deve essere \
                 una tra A B C D E H L M P R S T."
                    .into(),
            ));
        }
        let day = day_field(bytes);
        if !((1..=31).contains(&day) || (41..=71).contains(&day)) {
            return Err(CodeError::BadFormat(
                "Codice fiscale non valido: il giorno di nascita (10° e 11° carattere) deve \
                 essere tra 01 e 31, o tra 41 e 71 per le donne."
                    .into(),
            ));
        }
        if check_letter(&bytes[..15]) != bytes[15] {
            return Err(CodeError::BadCheckDigit(format!(
                "Codice fiscale non valido ({}): la lettera di controllo non torna. \
                 Ricontrollare il codice o rileggere la tessera.",
                mask_chars(&upper.chars().collect::<Vec<_>>())
            )));
        }
        Ok(FiscalCode(upper))
    }

    /// The full code. Personal data: send it to the backend in a request
    /// body, never log it (use [`FiscalCode::masked`]).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The masked form for logs, events, errors and receipts:
    /// `RSS***********2S` (first 3 characters, 11 stars, last 2).
    pub fn masked(&self) -> String {
        mask_chars(&self.0.chars().collect::<Vec<_>>())
    }

    /// Birth data encoded in the code, with omocodia resolved.
    pub fn decode(&self) -> BirthData {
        let b = self.0.as_bytes();
        let digit = |i: usize| digit_value(b[i]).unwrap_or(0);
        let month = MONTH_LETTERS
            .iter()
            .position(|&m| m == b[8])
            .map_or(0, |p| p as u8 + 1);
        let raw_day = day_field(b);
        let (day, sex) = if raw_day > 40 {
            (raw_day - 40, 'F')
        } else {
            (raw_day, 'M')
        };
        let place_code = format!(
            "{}{}{}{}",
            char::from(b[11]),
            digit(12),
            digit(13),
            digit(14)
        );
        BirthData {
            year: digit(6) * 10 + digit(7),
            month,
            day,
            sex,
            place_code,
        }
    }

    /// True when omocodia letters replace some of the digits.
    pub fn is_omocodic(&self) -> bool {
        let b = self.0.as_bytes();
        DIGIT_POSITIONS.iter().any(|&i| !b[i].is_ascii_digit())
    }
}

/// The day field (positions 10-11), omocodia resolved. The caller has
/// checked the layout.
fn day_field(bytes: &[u8]) -> u8 {
    digit_value(bytes[9]).unwrap_or(0) * 10 + digit_value(bytes[10]).unwrap_or(0)
}

/// Masked, so that formatting a fiscal code into a log line is harmless.
impl fmt::Display for FiscalCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

/// Masked: `FiscalCode(RSS***********2S)`.
impl fmt::Debug for FiscalCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FiscalCode({})", self.masked())
    }
}

string_newtype_serde!(FiscalCode);

/// Masks every person's fiscal code in free text, for logs, events and
/// `camera decode`: `"cf RSSMRA85T10A562S ok"` becomes
/// `"cf RSS***********2S ok"`.
///
/// Only what is a fiscal code is masked: 16 letters and digits (either
/// case, omocodia included) with the code's layout, month letter, day and a
/// right check letter. Codes glued to other letters (as in track data,
/// `%BRSSMRA85T10A562SROSSI`) are found too. Any other run of 16 letters
/// and digits (inside an app token's base64 text, say) is left as it is,
/// even when it has the layout: a token, a hash or an id shown with stars
/// in it can no longer be looked up or compared.
pub fn mask_fiscal_codes(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        if i + 16 <= chars.len() && is_fiscal_code(&chars[i..i + 16]) {
            out.push_str(&mask_chars(&chars[i..i + 16]));
            i += 16;
        } else {
            out.push(chars[i]);
            i += 1;
        }
    }
    out
}

/// True when 16 characters are a valid fiscal code (either case).
fn is_fiscal_code(window: &[char]) -> bool {
    looks_like_fiscal_code(window) && FiscalCode::parse(&window.iter().collect::<String>()).is_ok()
}

/// Longest track text worth scanning; a magnetic stripe holds far less.
const MAX_TRACK_LEN: usize = 1024;

/// Finds the holder's fiscal code in what a card reader or a barcode
/// scanner delivered for a Tessera Sanitaria:
///
/// ```text
/// track 1:  %BRSSMRA85T10A562SROSSI  MARIO^...?   (code right after %B, name glued on)
/// track 2:  ;80380000001234567890=...?            (card number only: not a fiscal code)
/// Code 39:  RSSMRA85T10A562S                      (the bare code)
/// ```
///
/// Sentinels (`%`, `;`, `?`) and separators (`^`, `=`) are never part of
/// the code. The text is searched for 16 characters in the code's layout
/// that pass all checks; if some have the layout but fail a check, that
/// precise error is returned; text holding only the 20-digit card number
/// (starting `80380`) gives `not_a_fiscal_code`.
pub fn fiscal_code_from_track(line: &str) -> Result<FiscalCode, CodeError> {
    let text = line.trim();
    if text.chars().count() > MAX_TRACK_LEN {
        return Err(CodeError::BadLength(
            "Dati della tessera troppo lunghi: non sembrano una lettura della banda magnetica."
                .into(),
        ));
    }
    // A bare code (Code 39 barcode, typed): parse it for the most precise
    // reason when it is wrong.
    if text.chars().count() == 16 && text.chars().all(|c| c.is_ascii_alphanumeric()) {
        return FiscalCode::parse(text);
    }
    let chars: Vec<char> = text.chars().map(|c| c.to_ascii_uppercase()).collect();
    let mut first_error = None;
    for start in 0..chars.len().saturating_sub(15) {
        let window = &chars[start..start + 16];
        if !looks_like_fiscal_code(window) {
            continue;
        }
        let candidate: String = window.iter().collect();
        match FiscalCode::parse(&candidate) {
            Ok(code) => return Ok(code),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    if let Some(e) = first_error {
        return Err(e);
    }
    if contains_card_number(text) {
        return Err(CodeError::NotAFiscalCode(
            "È stato letto il numero della tessera sanitaria (traccia 2), che non contiene il \
             codice fiscale: passare la tessera sulla traccia 1, leggere il codice a barre sul \
             retro o digitare il codice fiscale."
                .into(),
        ));
    }
    Err(CodeError::NotAFiscalCode(
        "Nei dati letti dalla tessera non c'è un codice fiscale: leggere il codice a barre \
         sul retro o digitare il codice fiscale."
            .into(),
    ))
}

/// True when the text has a run of exactly 20 digits starting `80380`
/// (the Tessera Sanitaria card number on track 2).
pub(crate) fn contains_card_number(text: &str) -> bool {
    text.split(|c: char| !c.is_ascii_digit())
        .any(|run| run.len() == 20 && run.starts_with("80380"))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Builds a valid code from its parts, computing the check letter.
    pub(crate) fn build(first15: &str) -> String {
        let check = check_letter(first15.as_bytes());
        format!("{first15}{}", char::from(check))
    }

    /// Strategy for valid, non-omocodic fiscal codes.
    pub(crate) fn fiscal_code_strategy() -> impl Strategy<Value = String> {
        (
            "[A-Z]{6}",
            0u8..100,
            0usize..12,
            prop_oneof![1u8..=31, 41u8..=71],
            "[A-Z][0-9]{3}",
        )
            .prop_map(|(letters, year, month, day, place)| {
                let month = char::from(MONTH_LETTERS[month]);
                build(&format!("{letters}{year:02}{month}{day:02}{place}"))
            })
    }

    /// Replaces the digits at the positions selected by `mask` (bit i for
    /// DIGIT_POSITIONS[i]) with omocodia letters and recomputes the check.
    pub(crate) fn omocodic(code: &str, mask: u8) -> String {
        let mut b = code.as_bytes()[..15].to_vec();
        for (bit, &pos) in DIGIT_POSITIONS.iter().enumerate() {
            if mask & (1 << bit) != 0 {
                b[pos] = OMOCODIA_LETTERS[usize::from(b[pos] - b'0')];
            }
        }
        build(std::str::from_utf8(&b).unwrap())
    }

    #[test]
    fn spec_vector_mario_rossi() {
        let cf = FiscalCode::parse("RSSMRA85T10A562S").unwrap();
        assert_eq!(cf.as_str(), "RSSMRA85T10A562S");
        assert_eq!(cf.masked(), "RSS***********2S");
        let d = cf.decode();
        assert_eq!(
            (d.year, d.month, d.day, d.sex, d.place_code.as_str()),
            (85, 12, 10, 'M', "A562")
        );
        assert!(!cf.is_omocodic());
    }

    #[test]
    fn data_matrix_payer_vector_is_valid() {
        // from the Poste Data Matrix example in the spec
        let cf = FiscalCode::parse("BSCMTT83A12L719R").unwrap();
        let d = cf.decode();
        assert_eq!((d.year, d.month, d.day, d.sex), (83, 1, 12, 'M'));
        assert_eq!(d.place_code, "L719");
    }

    #[test]
    fn trims_and_uppercases() {
        let cf = FiscalCode::parse("  rssmra85t10a562s\r\n").unwrap();
        assert_eq!(cf.as_str(), "RSSMRA85T10A562S");
    }

    #[test]
    fn woman_and_omocodia() {
        // female, born 3 March 1990 in Milano (F205); check letter computed
        let code = build("BNCLRA90C43F205");
        let cf = FiscalCode::parse(&code).unwrap();
        let d = cf.decode();
        assert_eq!((d.year, d.month, d.day, d.sex), (90, 3, 3, 'F'));
        // the usual first level of omocodia: the last digit replaced
        let omo = omocodic(&code, 0b100_0000);
        assert_eq!(&omo[..15], "BNCLRA90C43F20R");
        let omo_cf = FiscalCode::parse(&omo).unwrap();
        assert!(omo_cf.is_omocodic());
        assert_eq!(omo_cf.decode(), d);
        // all seven positions replaced
        let full = omocodic(&code, 0x7f);
        assert_eq!(&full[..15], "BNCLRAVLCQPFNLR");
        assert_eq!(FiscalCode::parse(&full).unwrap().decode(), d);
    }

    #[test]
    fn debug_and_display_are_masked() {
        let cf = FiscalCode::parse("RSSMRA85T10A562S").unwrap();
        assert_eq!(format!("{cf:?}"), "FiscalCode(RSS***********2S)");
        assert_eq!(format!("{cf}"), "RSS***********2S");
        assert!(!format!("{:?}", Some(&cf)).contains("MRA85"));
        assert!(!format!("{:?}", cf.decode()).contains("85"));
    }

    #[test]
    fn serde_is_the_full_code_and_validates() {
        let cf = FiscalCode::parse("RSSMRA85T10A562S").unwrap();
        assert_eq!(serde_json::to_string(&cf).unwrap(), "\"RSSMRA85T10A562S\"");
        let back: FiscalCode = serde_json::from_str("\"RSSMRA85T10A562S\"").unwrap();
        assert_eq!(back, cf);
        let err = serde_json::from_str::<FiscalCode>("\"RSSMRA85T10A562X\"").unwrap_err();
        assert!(!err.to_string().contains("RSSMRA85T10A562X"), "{err}");
    }

    #[test]
    fn refusals_are_precise_and_masked() {
        let cases = [
            ("RSSMRA85T10A562", "bad_length", "15 caratteri"),
            ("RSSMRA85T10A562SX", "bad_length", "17 caratteri"),
            ("RSSMRA85T10A56-S", "bad_format", "lettere e cifre"),
            (
                "RSSMR185T10A562S",
                "bad_format",
                "6° carattere deve essere una lettera",
            ),
            (
                "RSSMRA8AT10A562S",
                "bad_format",
                "8° carattere deve essere una cifra",
            ),
            ("RSSMRA85F10A562S", "bad_format", "mese"),
            ("RSSMRA85T00A562S", "bad_format", "giorno"),
            ("RSSMRA85T32A562S", "bad_format", "giorno"),
            ("RSSMRA85T72A562S", "bad_format", "giorno"),
            ("RSSMRA85T10A562X", "bad_check_digit", "RSS***********2X"),
        ];
        for (input, code, fragment) in cases {
            let err = FiscalCode::parse(input).unwrap_err();
            assert_eq!(err.code(), code, "{input}: {err}");
            assert!(err.message().contains(fragment), "{input}: {err}");
            assert!(!err.message().contains("MRA85"), "{input}: {err}");
        }
        // a non-ASCII character is counted as one character
        assert_eq!(
            FiscalCode::parse("RSSMRA85T10A562È").unwrap_err().code(),
            "bad_format"
        );
    }

    #[test]
    fn tables_are_permutations() {
        // Why a single substitution is always caught: in every position the
        // values of the allowed characters are distinct mod 26.
        let mut odd = ODD_VALUES.to_vec();
        odd.sort_unstable();
        assert_eq!(odd, (0..26).collect::<Vec<u8>>());
    }

    #[test]
    fn masks_codes_in_free_text() {
        assert_eq!(
            mask_fiscal_codes("cf RSSMRA85T10A562S ok"),
            "cf RSS***********2S ok"
        );
        assert_eq!(
            mask_fiscal_codes("%BRSSMRA85T10A562SROSSI  MARIO^x?"),
            "%BRSS***********2SROSSI  MARIO^x?"
        );
        assert_eq!(
            mask_fiscal_codes("a rssmra85t10a562s b"),
            "a rss***********2s b"
        );
        // omocodic, every digit replaced
        assert_eq!(mask_fiscal_codes("BNCLRAVLCQPFNLRW"), "BNC***********RW");
        assert_eq!(mask_fiscal_codes("nessun codice qui"), "nessun codice qui");
        assert_eq!(mask_fiscal_codes("àèì"), "àèì");
        let two = mask_fiscal_codes("RSSMRA85T10A562S,BSCMTT83A12L719R");
        assert_eq!(two, "RSS***********2S,BSC***********9R");
    }

    #[test]
    fn masking_leaves_alone_what_is_not_a_fiscal_code() {
        // 16 characters with the layout of a code but the wrong check
        // letter, as found inside an app token's base64 text: not a code.
        let run = "RSSMRA85T10A562X";
        assert!(FiscalCode::parse(run).is_err());
        let token = format!("SSQR1.eyJ2IjoxLCJraWQiOiJr{run}MSJ9.Q2hpYXZl{run}x");
        assert_eq!(mask_fiscal_codes(&token), token);
        assert_eq!(
            mask_fiscal_codes("a rssmra85t10a562x b"),
            "a rssmra85t10a562x b"
        );
        assert_eq!(mask_fiscal_codes("BNCLRAVLCQPFNLRZ"), "BNCLRAVLCQPFNLRZ");
        // layout right, month letter or day wrong
        assert_eq!(mask_fiscal_codes("RSSMRA85G10A562S"), "RSSMRA85G10A562S");
        assert_eq!(mask_fiscal_codes("RSSMRA85T99A562S"), "RSSMRA85T99A562S");
        // a real code glued to token text is still masked
        assert_eq!(
            mask_fiscal_codes("eyJ2RSSMRA85T10A562Sx"),
            "eyJ2RSS***********2Sx"
        );
    }

    #[test]
    fn track_one_gives_the_code() {
        let cf = fiscal_code_from_track("%BRSSMRA85T10A562SROSSI  MARIO^^?").unwrap();
        assert_eq!(cf.as_str(), "RSSMRA85T10A562S");
        // with track 2 after it and the Enter of a keyboard wedge
        let cf = fiscal_code_from_track(
            "%BRSSMRA85T10A562SROSSI  MARIO^20301231?;80380000001234567890=2912?\r\n",
        )
        .unwrap();
        assert_eq!(cf.as_str(), "RSSMRA85T10A562S");
        // lower case from a reader in the wrong keyboard mode
        let cf = fiscal_code_from_track("%brssmra85t10a562srossi  mario^?").unwrap();
        assert_eq!(cf.as_str(), "RSSMRA85T10A562S");
    }

    #[test]
    fn code_39_gives_the_bare_code() {
        assert_eq!(
            fiscal_code_from_track("RSSMRA85T10A562S\r")
                .unwrap()
                .as_str(),
            "RSSMRA85T10A562S"
        );
        assert_eq!(
            fiscal_code_from_track("RSSMRA85T10A562X")
                .unwrap_err()
                .code(),
            "bad_check_digit"
        );
    }

    #[test]
    fn track_two_is_not_a_fiscal_code() {
        for track in [
            ";80380000001234567890=2912?",
            "80380000001234567890",
            ";80380000001234567890?",
        ] {
            let err = fiscal_code_from_track(track).unwrap_err();
            assert_eq!(err.code(), "not_a_fiscal_code", "{track}");
            assert!(err.message().contains("traccia 2"), "{err}");
        }
        let err = fiscal_code_from_track("%B^^?").unwrap_err();
        assert_eq!(err.code(), "not_a_fiscal_code");
    }

    #[test]
    fn track_with_wrong_code_says_why() {
        let err = fiscal_code_from_track("%BRSSMRA85T10A562XROSSI  MARIO^?").unwrap_err();
        assert_eq!(err.code(), "bad_check_digit");
        assert!(!err.message().contains("MRA85"));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1000))]

        #[test]
        fn valid_codes_round_trip(code in fiscal_code_strategy()) {
            let cf = FiscalCode::parse(&code).unwrap();
            prop_assert_eq!(cf.as_str(), code.as_str());
            prop_assert_eq!(FiscalCode::parse(&code.to_lowercase()).unwrap(), cf.clone());
            let json = serde_json::to_string(&cf).unwrap();
            prop_assert_eq!(serde_json::from_str::<FiscalCode>(&json).unwrap(), cf.clone());
            let masked = cf.masked();
            prop_assert_eq!(masked.len(), 16);
            prop_assert_eq!(&masked[..3], &code[..3]);
            prop_assert_eq!(&masked[14..], &code[14..]);
            prop_assert_eq!(&masked[3..14], "***********");
            prop_assert_eq!(mask_fiscal_codes(&format!("x {code} y")), format!("x {masked} y"));
            let track = format!("%B{code}ROSSI  MARIO^^?");
            prop_assert_eq!(fiscal_code_from_track(&track).unwrap(), cf);
        }

        #[test]
        fn omocodic_variants_decode_the_same(code in fiscal_code_strategy(), mask in 1u8..128) {
            let base = FiscalCode::parse(&code).unwrap();
            let variant = omocodic(&code, mask);
            let cf = FiscalCode::parse(&variant).unwrap();
            prop_assert!(cf.is_omocodic());
            prop_assert_eq!(cf.decode(), base.decode());
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Any one character replaced by another (that is not the same after
        /// upper-casing) is refused, omocodic codes included.
        #[test]
        fn every_single_substitution_is_refused(code in fiscal_code_strategy(), mask in 0u8..128) {
            let code = omocodic(&code, mask);
            let alphabet: Vec<char> = ('A'..='Z').chain('0'..='9').chain("-*.%? ".chars()).collect();
            for pos in 0..16 {
                for &sub in &alphabet {
                    let original = code.as_bytes()[pos] as char;
                    if sub == original {
                        continue;
                    }
                    let mut changed: Vec<char> = code.chars().collect();
                    changed[pos] = sub;
                    let changed: String = changed.into_iter().collect();
                    prop_assert!(FiscalCode::parse(&changed).is_err(), "{} accepted", changed);
                }
            }
        }
    }
}
