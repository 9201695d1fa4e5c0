//! pagoPA payment notices (avviso di pagamento): the notice number, and the
//! two machine-readable forms printed on a notice.
//!
//! ```text
//! QR:          PAGOPA|002|301000000000012373|00514490010|2550
//!                     ver  notice number     creditor    cents (1-11 digits)
//!
//! Data Matrix (Poste), read by position, 256 characters nominal:
//!   offset 0   codfase=NBPA;
//!          13  18 + notice number (18)          -> number at 15
//!          33  12 + postal account (12)
//!          47  10 + amount in cents (10)        -> amount at 49
//!          59  3896  1P1
//!          66  creditor fiscal code (11)
//!          77  payer fiscal code (16), name (40), subject (110), filler (12), A
//! ```
//!
//! The payer's data in the Data Matrix is never kept: only the notice
//! number, the creditor and the amount leave the parser.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::digits::{all_digits, string_newtype_serde, strip_separators};
use crate::error::{sanitize_fragment, CodeError};
use crate::{Cents, CreditorFiscalCode};

/// An 18-digit pagoPA notice number (numero avviso) whose aux digit is
/// 0-3 and whose check digits (for aux 0, 2 and 3) are right.
///
/// | aux | layout                                           | IUV            |
/// |-----|--------------------------------------------------|----------------|
/// | 0   | `0` + application code (2) + IUV base (13) + check (2) | last 15 digits |
/// | 1   | `1` + IUV (17), no check digits                  | last 17 digits |
/// | 2   | `2` + IUV base (15) + check (2)                  | last 17 digits |
/// | 3   | `3` + segregation code (2) + IUV base (13) + check (2) | last 17 digits |
///
/// The check is the first 16 digits (aux included) read as one number, mod
/// 93, written with two digits. An aux-1 number carries no check at all, so
/// a typing error in it cannot be detected here (the backend's verify will
/// not find the notice).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NoticeNumber(String);

impl NoticeNumber {
    /// Parses a hand-keyed notice number. Surrounding and inner spaces are
    /// ignored: the printed notice groups the digits in fours.
    pub fn parse(text: &str) -> Result<Self, CodeError> {
        Self::parse_exact(&strip_separators(text, false))
    }

    /// Parses a field that must be exactly the 18 digits (inside a QR code
    /// or a Data Matrix).
    pub(crate) fn parse_exact(text: &str) -> Result<Self, CodeError> {
        if !all_digits(text) {
            if text.is_empty() {
                return Err(CodeError::BadLength(
                    "Numero avviso mancante: servono 18 cifre.".into(),
                ));
            }
            return Err(CodeError::BadFormat(
                "Numero avviso non valido: sono ammesse solo cifre (18).".into(),
            ));
        }
        if text.len() != 18 {
            return Err(CodeError::BadLength(format!(
                "Numero avviso non valido: ha {} cifre, ne servono 18.",
                text.len()
            )));
        }
        let aux = text.as_bytes()[0] - b'0';
        match aux {
            1 => {}
            0 | 2 | 3 => {
                // 16 digits fit in a u64 (< 10^16 < 2^64)
                let body: u64 = text[..16]
                    .parse()
                    .map_err(|_| CodeError::BadFormat("Numero avviso non valido.".into()))?;
                let check: u64 = text[16..]
                    .parse()
                    .map_err(|_| CodeError::BadFormat("Numero avviso non valido.".into()))?;
                if body % 93 != check {
                    return Err(CodeError::BadCheckDigit(
                        "Numero avviso non valido: le cifre di controllo non tornano. \
                         Ricontrollare il numero o inquadrare il QR dell'avviso."
                            .into(),
                    ));
                }
            }
            other => {
                return Err(CodeError::BadFormat(format!(
                    "Numero avviso non valido: deve iniziare con 0, 1, 2 o 3 (inizia con {other})."
                )));
            }
        }
        Ok(NoticeNumber(text.to_owned()))
    }

    /// The 18 digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The aux digit (0-3), the first digit.
    pub fn aux(&self) -> u8 {
        self.0.as_bytes()[0] - b'0'
    }

    /// The IUV (identificativo univoco di versamento): the last 15 digits
    /// for aux 0, the last 17 for aux 1, 2 and 3.
    pub fn iuv(&self) -> &str {
        match self.aux() {
            0 => &self.0[3..],
            _ => &self.0[1..],
        }
    }

    /// The application code (2 digits), aux 0 only.
    pub fn application_code(&self) -> Option<&str> {
        (self.aux() == 0).then(|| &self.0[1..3])
    }

    /// The segregation code (2 digits), aux 3 only.
    pub fn segregation_code(&self) -> Option<&str> {
        (self.aux() == 3).then(|| &self.0[1..3])
    }

    /// The two check digits (mod 93), none for aux 1.
    pub fn check_digits(&self) -> Option<&str> {
        (self.aux() != 1).then(|| &self.0[16..])
    }

    /// The number grouped as printed on notices: `3010 0000 0000 1237 3`.
    pub fn display_grouped(&self) -> String {
        group_digits(&self.0, 4)
    }
}

/// Groups digits by `size` with spaces.
pub(crate) fn group_digits(digits: &str, size: usize) -> String {
    let mut out = String::with_capacity(digits.len() + digits.len() / size);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && i % size == 0 {
            out.push(' ');
        }
        out.push(c);
    }
    out
}

impl fmt::Display for NoticeNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for NoticeNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NoticeNumber({})", self.0)
    }
}

string_newtype_serde!(NoticeNumber);

/// A payment notice as read from its QR code, its Data Matrix, or keyed in
/// by hand. Holds no personal data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notice {
    /// The notice number (numero avviso).
    pub notice_number: NoticeNumber,
    /// The creditor body's fiscal code.
    pub creditor: CreditorFiscalCode,
    /// The amount printed in the code; informative only: the amount
    /// charged is the one `POST /v1/notices/verify` returns. `None` when
    /// keyed in by hand.
    pub amount: Option<Cents>,
    /// The character that stood for every `|` of the QR text, when a
    /// handheld scanner in keyboard mode typed the separators as another
    /// character (`§` on an Italian layout); `None` when they were `|`, and
    /// for the Data Matrix and hand-keyed fields.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qr_separator: Option<char>,
}

/// The only QR version pagoPA defines.
const QR_VERSION: &str = "002";
/// Start of the Poste Data Matrix text.
pub(crate) const DATA_MATRIX_PREFIX: &str = "codfase=NBPA;";
/// Accepted Data Matrix lengths: 256 nominal, printed notices in the wild
/// are a character short or long in the payer part.
const DATA_MATRIX_LEN: std::ops::RangeInclusive<usize> = 250..=260;

impl Notice {
    /// A notice keyed in by hand: the two fields of the counter's form.
    pub fn from_fields(notice_number: &str, creditor: &str) -> Result<Notice, CodeError> {
        Ok(Notice {
            notice_number: NoticeNumber::parse(notice_number)?,
            creditor: CreditorFiscalCode::parse(creditor)?,
            amount: None,
            qr_separator: None,
        })
    }

    /// Reads either machine-readable form (QR text starting `PAGOPA|`,
    /// Data Matrix text starting `codfase=`), prefixes matched without
    /// regard to case. The text is trimmed first.
    pub fn parse(text: &str) -> Result<Notice, CodeError> {
        let text = text.trim();
        if qr_separator(text).is_some() {
            Notice::from_qr(text)
        } else if starts_with_ignore_case(text, "codfase=") {
            Notice::from_data_matrix(text)
        } else {
            Err(CodeError::BadFormat(
                "Avviso non riconosciuto: il QR deve iniziare con PAGOPA| e il Data Matrix \
                 con codfase=NBPA;."
                    .into(),
            ))
        }
    }

    /// Reads the pagoPA QR text `PAGOPA|002|<notice>|<creditor>|<cents>`.
    ///
    /// A handheld scanner in keyboard mode on a non-US layout types `|` as
    /// another character (`§` on an Italian one). A text whose four
    /// separators are all one and the same character other than a letter,
    /// a digit or a space is read as if they were `|`
    /// ([`Notice::qr_separator`] says which); every other rule still
    /// applies, so a text whose digits changed is still refused.
    pub fn from_qr(text: &str) -> Result<Notice, CodeError> {
        let text = text.trim();
        let Some(sep) = qr_separator(text) else {
            return Err(CodeError::BadFormat(
                "QR dell'avviso non valido: deve iniziare con PAGOPA|.".into(),
            ));
        };
        if sep != '|' {
            // Consistently one substitute: anything else that is not a
            // letter or a digit means the text was read wrong.
            if text.chars().any(|c| c != sep && !c.is_ascii_alphanumeric()) {
                return Err(CodeError::BadFormat(
                    "QR dell'avviso non valido: i 4 separatori devono essere tutti | (o tutti \
                     uno stesso altro simbolo, se il lettore li scrive diversamente) e i campi \
                     solo cifre. Rileggere il QR o inserire a mano numero avviso e codice \
                     fiscale dell'ente."
                        .into(),
                ));
            }
        }
        let fields: Vec<&str> = text.split(sep).collect();
        // The version decides the layout, so it is checked before the count.
        let Some(&version) = fields.get(1) else {
            return Err(CodeError::BadFormat(
                "QR dell'avviso non valido: manca la versione dopo PAGOPA|.".into(),
            ));
        };
        if version != QR_VERSION {
            return Err(CodeError::UnsupportedVersion(format!(
                "QR dell'avviso pagoPA in versione «{}» non gestita: è gestita solo la \
                 versione 002. Inserire a mano numero avviso e codice fiscale dell'ente.",
                sanitize_fragment(version, 8)
            )));
        }
        if fields.len() != 5 {
            return Err(CodeError::BadFormat(format!(
                "QR dell'avviso non valido: attesi 5 campi separati da |, letti {}.",
                fields.len()
            )));
        }
        let notice_number = NoticeNumber::parse_exact(fields[2])?;
        let creditor = CreditorFiscalCode::parse_exact(fields[3])?;
        let amount = parse_amount(fields[4], 11).ok_or_else(|| {
            CodeError::BadFormat(
                "QR dell'avviso non valido: l'importo deve essere di 1-11 cifre (in centesimi)."
                    .into(),
            )
        })?;
        Ok(Notice {
            notice_number,
            creditor,
            amount: Some(amount),
            qr_separator: (sep != '|').then_some(sep),
        })
    }

    /// Reads the Poste Data Matrix text by position (see the module doc).
    /// The payer's fiscal code, name and the subject in it are skipped and
    /// never kept.
    pub fn from_data_matrix(text: &str) -> Result<Notice, CodeError> {
        let text = text.trim();
        if !starts_with_ignore_case(text, DATA_MATRIX_PREFIX) {
            return Err(CodeError::BadFormat(
                "Data Matrix non riconosciuto: è gestito solo quello degli avvisi pagoPA \
                 di Poste (codfase=NBPA;)."
                    .into(),
            ));
        }
        let len = text.chars().count();
        if !DATA_MATRIX_LEN.contains(&len) {
            return Err(CodeError::BadLength(format!(
                "Data Matrix dell'avviso non valido: ha {len} caratteri, ne servono tra 250 e \
                 260. Inquadrare il QR dell'avviso o inserire i dati a mano."
            )));
        }
        // The fixed part up to the creditor is ASCII; anything else there
        // means the fields are not where they should be.
        let head = text
            .get(..77)
            .filter(|h| h.is_ascii())
            .ok_or_else(misplaced)?;
        if &head[13..15] != "18" || &head[33..35] != "12" || &head[47..49] != "10" {
            return Err(misplaced());
        }
        let notice_number = NoticeNumber::parse_exact(&head[15..33])?;
        let amount = parse_amount(&head[49..59], 10).ok_or_else(|| {
            CodeError::BadFormat(
                "Data Matrix dell'avviso non valido: l'importo non è di 10 cifre.".into(),
            )
        })?;
        let creditor = CreditorFiscalCode::parse_exact(&head[66..77])?;
        Ok(Notice {
            notice_number,
            creditor,
            amount: Some(amount),
            qr_separator: None,
        })
    }

    /// A one-line description for logs and events, with no payer data:
    /// `avviso 301000000000012373, ente 00514490010, importo 25,50 €`.
    pub fn summary(&self) -> String {
        let mut out = format!("avviso {}, ente {}", self.notice_number, self.creditor);
        if let Some(amount) = self.amount {
            out.push_str(&format!(", importo {amount}"));
        }
        out
    }
}

fn misplaced() -> CodeError {
    CodeError::BadFormat(
        "Data Matrix dell'avviso non valido: i campi non sono nella posizione attesa. \
         Inquadrare il QR dell'avviso o inserire i dati a mano."
            .into(),
    )
}

/// An amount field of 1 to `max_digits` digits, leading zeros allowed.
fn parse_amount(field: &str, max_digits: usize) -> Option<Cents> {
    if !all_digits(field) || field.len() > max_digits {
        return None;
    }
    // at most 11 digits: always fits in an i64
    field.parse::<i64>().ok().map(Cents)
}

/// The separator of a notice QR text: the character right after `PAGOPA`
/// (any case), when it is `|` or could stand for it (a character that is
/// not a letter, a digit, a space or a control character). `None` when the
/// text is no notice QR.
pub(crate) fn qr_separator(text: &str) -> Option<char> {
    if !starts_with_ignore_case(text, "PAGOPA") {
        return None;
    }
    let sep = text.get(6..)?.chars().next()?;
    let substitute = !(sep.is_alphanumeric() || sep.is_whitespace() || sep.is_control());
    (sep == '|' || substitute).then_some(sep)
}

/// ASCII case-insensitive prefix test that never slices inside a character.
pub(crate) fn starts_with_ignore_case(text: &str, prefix: &str) -> bool {
    text.as_bytes()
        .get(..prefix.len())
        .is_some_and(|head| head.eq_ignore_ascii_case(prefix.as_bytes()))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    pub(crate) const VALID: [&str; 5] = [
        "002160020399398578",
        "322201151398574181",
        "300715700000000032",
        "330161072745098448",
        "301000000000012373",
    ];

    /// The spec's Data Matrix example completed to 255 characters (39-char
    /// name field, as published).
    pub(crate) fn data_matrix_example(name_len: usize) -> String {
        let mut s = String::from("codfase=NBPA;18300715700000000032120000163020931000000000013896");
        s.push_str("1P100085240950BSCMTT83A12L719R");
        s.push_str(&format!("{:<name_len$}", "BIANCHI MATTEO"));
        s.push_str(&format!("{:<110}", "TARI 2026 RATA UNICA"));
        s.push_str(&" ".repeat(12));
        s.push('A');
        s
    }

    /// A valid notice number of any aux digit.
    pub(crate) fn notice_number_strategy() -> impl Strategy<Value = String> {
        (0u8..4, "[0-9]{15}", "[0-9]{2}").prop_map(|(aux, body, tail)| {
            let first16 = format!("{aux}{body}");
            if aux == 1 {
                format!("{first16}{tail}")
            } else {
                let check = first16.parse::<u64>().unwrap() % 93;
                format!("{first16}{check:02}")
            }
        })
    }

    #[test]
    fn spec_vectors() {
        for n in VALID {
            let nn = NoticeNumber::parse(n).unwrap();
            assert_eq!(nn.as_str(), n);
        }
        let err = NoticeNumber::parse("044012345678901200").unwrap_err();
        assert_eq!(err.code(), "bad_check_digit");
        // the worked example: 3010000000000123 mod 93 = 73
        let nn = NoticeNumber::parse("301000000000012373").unwrap();
        assert_eq!(nn.aux(), 3);
        assert_eq!(nn.segregation_code(), Some("01"));
        assert_eq!(nn.check_digits(), Some("73"));
        assert_eq!(nn.iuv(), "01000000000012373");
        assert_eq!(nn.display_grouped(), "3010 0000 0000 0123 73");
    }

    #[test]
    fn iuv_per_aux_digit() {
        let n0 = NoticeNumber::parse("002160020399398578").unwrap();
        assert_eq!(n0.aux(), 0);
        assert_eq!(n0.application_code(), Some("02"));
        assert_eq!(n0.iuv(), "160020399398578");
        assert_eq!(n0.iuv().len(), 15);
        let n1 = NoticeNumber::parse("112345678901234567").unwrap();
        assert_eq!(n1.aux(), 1);
        assert_eq!(n1.iuv(), "12345678901234567");
        assert_eq!(n1.check_digits(), None);
        let n2 = NoticeNumber::parse(&{
            let first = "2123456789012345";
            format!("{first}{:02}", first.parse::<u64>().unwrap() % 93)
        })
        .unwrap();
        assert_eq!(n2.aux(), 2);
        assert_eq!(n2.iuv().len(), 17);
        assert_eq!(n2.segregation_code(), None);
    }

    #[test]
    fn refusals() {
        let e = NoticeNumber::parse("401000000000012373").unwrap_err();
        assert_eq!(e.code(), "bad_format");
        assert!(e.message().contains("0, 1, 2 o 3"), "{e}");
        assert_eq!(
            NoticeNumber::parse("30100000000001237").unwrap_err().code(),
            "bad_length"
        );
        assert_eq!(
            NoticeNumber::parse("30100000000001237X")
                .unwrap_err()
                .code(),
            "bad_format"
        );
        assert_eq!(NoticeNumber::parse("").unwrap_err().code(), "bad_length");
        assert_eq!(
            NoticeNumber::parse(" 3010 0000 0000 0123 73 ")
                .unwrap()
                .as_str(),
            "301000000000012373"
        );
        // aux 0/2/3 check digits 93-99 can never be right
        assert_eq!(
            NoticeNumber::parse("301000000000012399")
                .unwrap_err()
                .code(),
            "bad_check_digit"
        );
    }

    #[test]
    fn qr_spec_example() {
        let n = Notice::from_qr("PAGOPA|002|301000000000012373|00514490010|2550").unwrap();
        assert_eq!(n.notice_number.as_str(), "301000000000012373");
        assert_eq!(n.creditor.as_str(), "00514490010");
        assert_eq!(n.amount, Some(Cents(2550)));
        for (field, cents) in [
            ("0000002550", 2550),
            ("01", 1),
            ("99999999999", 99_999_999_999),
        ] {
            let n = Notice::from_qr(&format!(
                "PAGOPA|002|301000000000012373|00514490010|{field}"
            ))
            .unwrap();
            assert_eq!(n.amount, Some(Cents(cents)));
        }
    }

    #[test]
    fn qr_refusals() {
        let cases = [
            (
                "PAGOPA|001|301000000000012373|00514490010|2550",
                "unsupported_version",
            ),
            (
                "PAGOPA|003|301000000000012373|00514490010|2550",
                "unsupported_version",
            ),
            ("PAGOPA", "bad_format"),
            ("PAGOPA|", "unsupported_version"),
            ("PAGOPA|002|301000000000012373|00514490010", "bad_format"),
            (
                "PAGOPA|002|301000000000012373|00514490010|2550|",
                "bad_format",
            ),
            ("PAGOPA|002|301000000000012373|00514490010|", "bad_format"),
            (
                "PAGOPA|002|301000000000012373|00514490010|123456789012",
                "bad_format",
            ),
            (
                "PAGOPA|002|301000000000012373|00514490010|25,50",
                "bad_format",
            ),
            (
                "PAGOPA|002|301000000000012374|00514490010|2550",
                "bad_check_digit",
            ),
            (
                "PAGOPA|002|301000000000012373|00514490011|2550",
                "bad_check_digit",
            ),
            (
                "PAGOPA|002|3010 0000 0000 1237 3|00514490010|2550",
                "bad_format",
            ),
            ("PAGOPA|002||00514490010|2550", "bad_length"),
        ];
        for (qr, code) in cases {
            let err = Notice::from_qr(qr).unwrap_err();
            assert_eq!(err.code(), code, "{qr}: {err}");
        }
        let err = Notice::from_qr("PAGOPA|001|x|y|z").unwrap_err();
        assert!(err.message().contains("versione «001»"), "{err}");
        assert!(err.message().contains("002"), "{err}");
    }

    #[test]
    fn a_qr_typed_by_a_scanner_on_an_italian_layout_is_read() {
        // `|` typed by a US-mode scanner on an Italian keyboard comes out as `§`.
        for sep in ['§', '#', '!', '°', '¦', '-'] {
            let qr = format!("PAGOPA{sep}002{sep}301000000000012373{sep}00514490010{sep}2550");
            let n = Notice::from_qr(&qr).unwrap_or_else(|e| panic!("{qr}: {e}"));
            assert_eq!(n.notice_number.as_str(), "301000000000012373");
            assert_eq!(n.creditor.as_str(), "00514490010");
            assert_eq!(n.amount, Some(Cents(2550)));
            assert_eq!(n.qr_separator, Some(sep));
            assert_eq!(Notice::parse(&qr).unwrap(), n);
            assert_eq!(
                crate::classify(&format!("{qr}\r\n")).unwrap().kind(),
                "notice"
            );
        }
        let plain = Notice::from_qr("pagopa|002|301000000000012373|00514490010|2550").unwrap();
        assert_eq!(plain.qr_separator, None);
        // The serde shape of a QR read with `|` is unchanged.
        assert!(!serde_json::to_string(&plain)
            .unwrap()
            .contains("qr_separator"));
    }

    #[test]
    fn a_qr_whose_separators_are_mixed_or_letters_is_refused() {
        for qr in [
            // two different substitutes, or one left as `|`
            "PAGOPA§002§301000000000012373#00514490010§2550",
            "PAGOPA§002§301000000000012373|00514490010§2550",
            "PAGOPA#002#301000000000012373#00514490010#25,50",
            // the digits grouped with spaces
            "PAGOPA§002§3010 0000 0000 1237 3§00514490010§2550",
        ] {
            assert_eq!(
                Notice::from_qr(qr).unwrap_err().code(),
                "bad_format",
                "{qr}"
            );
            assert!(crate::classify(qr).is_err(), "{qr}");
        }
        // a letter or a space is never a separator
        for qr in [
            "PAGOPAù002ù301000000000012373ù00514490010ù2550",
            "PAGOPA 002 301000000000012373 00514490010 2550",
            "PAGOPAX002X301000000000012373X00514490010X2550",
        ] {
            assert_eq!(
                crate::classify(qr).unwrap_err().code(),
                "unknown_input",
                "{qr}"
            );
        }
        // a digit typed as another character: the check digit still catches it
        let err = Notice::from_qr("PAGOPA§002§301000000000012374§00514490010§2550").unwrap_err();
        assert_eq!(err.code(), "bad_check_digit");
    }

    #[test]
    fn data_matrix_spec_example() {
        for name_len in [34, 39, 40, 44] {
            let dm = data_matrix_example(name_len);
            let n = Notice::from_data_matrix(&dm).unwrap();
            assert_eq!(n.notice_number.as_str(), "300715700000000032");
            assert_eq!(n.creditor.as_str(), "00085240950");
            assert_eq!(n.amount, Some(Cents(1)));
            let debug = format!("{n:?}");
            assert!(!debug.contains("BSCMTT"), "{debug}");
            assert!(!debug.contains("BIANCHI"), "{debug}");
            assert!(!n.summary().contains("BSCMTT"));
        }
        assert_eq!(data_matrix_example(39).len(), 255);
    }

    #[test]
    fn data_matrix_refusals() {
        let short = data_matrix_example(32); // 248 characters
        assert_eq!(
            Notice::from_data_matrix(&short).unwrap_err().code(),
            "bad_length"
        );
        let long = data_matrix_example(45); // 261 characters
        assert_eq!(
            Notice::from_data_matrix(&long).unwrap_err().code(),
            "bad_length"
        );
        let shifted = data_matrix_example(40).replacen("NBPA;18", "NBPA;1", 1) + " ";
        assert_eq!(
            Notice::from_data_matrix(&shifted).unwrap_err().code(),
            "bad_format"
        );
        let bad_check = data_matrix_example(40).replacen("000032", "000033", 1);
        assert_eq!(
            Notice::from_data_matrix(&bad_check).unwrap_err().code(),
            "bad_check_digit"
        );
        let bad_cf = data_matrix_example(40).replacen("00085240950", "00085240951", 1);
        assert_eq!(
            Notice::from_data_matrix(&bad_cf).unwrap_err().code(),
            "bad_check_digit"
        );
        let other = data_matrix_example(40).replacen("NBPA", "XXXX", 1);
        assert_eq!(
            Notice::from_data_matrix(&other).unwrap_err().code(),
            "bad_format"
        );
        // multi-byte characters in the fixed part must not panic
        let weird = data_matrix_example(40).replacen("1P1", "1è", 1);
        assert_eq!(
            Notice::from_data_matrix(&weird).unwrap_err().code(),
            "bad_format"
        );
    }

    #[test]
    fn hand_keyed_fields() {
        let n = Notice::from_fields("3010 0000 0000 0123 73", " 00514490010 ").unwrap();
        assert_eq!(n.notice_number.as_str(), "301000000000012373");
        assert_eq!(n.amount, None);
        assert!(Notice::from_fields("301000000000012373", "00514490011").is_err());
        assert_eq!(n.summary(), "avviso 301000000000012373, ente 00514490010");
    }

    #[test]
    fn serde_shape() {
        let n = Notice::from_qr("PAGOPA|002|301000000000012373|00514490010|2550").unwrap();
        let json = serde_json::to_string(&n).unwrap();
        assert_eq!(
            json,
            r#"{"notice_number":"301000000000012373","creditor":"00514490010","amount":2550}"#
        );
        assert_eq!(serde_json::from_str::<Notice>(&json).unwrap(), n);
        assert!(serde_json::from_str::<Notice>(&json.replace("73\"", "74\"")).is_err());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1000))]

        #[test]
        fn valid_numbers_round_trip(n in notice_number_strategy()) {
            let nn = NoticeNumber::parse(&n).unwrap();
            prop_assert_eq!(nn.as_str(), n.as_str());
            prop_assert_eq!(NoticeNumber::parse(&nn.display_grouped()).unwrap(), nn.clone());
            let json = serde_json::to_string(&nn).unwrap();
            prop_assert_eq!(serde_json::from_str::<NoticeNumber>(&json).unwrap(), nn.clone());
            let expected_iuv_len = if nn.aux() == 0 { 15 } else { 17 };
            prop_assert_eq!(nn.iuv().len(), expected_iuv_len);
            prop_assert!(n.ends_with(nn.iuv()));
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        /// What the spec implies for single-digit substitutions:
        /// - aux 0, 2, 3: a change in any of the 16 checked digits moves the
        ///   number by d * 10^k, never a multiple of 93 (93 = 3 * 31 is
        ///   coprime with 10 and d < 10), so it is always caught; a change
        ///   in the check digits is caught too. The one exception is the
        ///   aux digit becoming `1`: that is an aux-1 number, which has no
        ///   check and is accepted.
        /// - aux 1: no check digits, so a change in positions 2-18 is always
        ///   accepted; the aux digit becoming 0, 2 or 3 is accepted only
        ///   when the digits happen to satisfy the mod-93 check; 4-9 never.
        /// - any non-digit is refused.
        #[test]
        fn single_substitutions_follow_the_spec(n in notice_number_strategy()) {
            let original = NoticeNumber::parse(&n).unwrap();
            for pos in 0..18 {
                for sub in "0123456789A -".chars() {
                    if n.as_bytes()[pos] as char == sub {
                        continue;
                    }
                    let mut changed: Vec<char> = n.chars().collect();
                    changed[pos] = sub;
                    let changed: String = changed.into_iter().collect();
                    let result = NoticeNumber::parse_exact(&changed);
                    if original.aux() != 1 && pos == 0 && "023".contains(sub) {
                        // a changed aux digit is inside the checked number
                        prop_assert!(result.is_err(), "{} -> {}", n, changed);
                    }
                    let expect_ok = if !sub.is_ascii_digit() {
                        false
                    } else if pos == 0 {
                        match sub {
                            '1' => true,
                            '0' | '2' | '3' => {
                                changed[..16].parse::<u64>().unwrap() % 93
                                    == changed[16..].parse::<u64>().unwrap()
                            }
                            _ => false,
                        }
                    } else {
                        original.aux() == 1
                    };
                    prop_assert_eq!(result.is_ok(), expect_ok, "{} -> {}", n, changed);
                }
            }
        }
    }

    /// A character a keyboard layout may type for `|`: a few seen on real
    /// layouts and any other symbol.
    fn separator_strategy() -> impl Strategy<Value = char> {
        prop_oneof![
            prop::sample::select(vec![
                '|', '§', '#', '!', '°', '¦', '-', '/', '<', '>', '~', '^'
            ]),
            any::<char>().prop_filter("a symbol", |c| {
                !(c.is_alphanumeric() || c.is_whitespace() || c.is_control())
            }),
        ]
    }

    fn qr_with(sep: char, number: &str, creditor: &str, amount: &str) -> String {
        format!("PAGOPA{sep}002{sep}{number}{sep}{creditor}{sep}{amount}")
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(500))]

        /// Every separator typed as one and the same other symbol reads
        /// exactly the notice the `|` form reads.
        #[test]
        fn a_qr_whose_separators_all_became_one_symbol_reads_the_same_notice(
            number in notice_number_strategy(),
            creditor in crate::creditor::tests::creditor_strategy(),
            amount in "[0-9]{1,11}",
            sep in separator_strategy(),
        ) {
            let original = Notice::from_qr(&qr_with('|', &number, &creditor, &amount)).unwrap();
            let typed = qr_with(sep, &number, &creditor, &amount);
            let read = Notice::from_qr(&typed).unwrap();
            prop_assert_eq!(&read.notice_number, &original.notice_number);
            prop_assert_eq!(&read.creditor, &original.creditor);
            prop_assert_eq!(read.amount, original.amount);
            prop_assert_eq!(read.qr_separator, (sep != '|').then_some(sep));
            let classified = crate::classify(&typed).unwrap();
            prop_assert_eq!(classified.kind(), "notice");
        }

        /// A digit typed as anything that is not a digit (a letter, a symbol,
        /// the separator itself) is refused, whatever the separators.
        #[test]
        fn a_qr_whose_digit_became_another_character_is_refused(
            number in notice_number_strategy(),
            creditor in crate::creditor::tests::creditor_strategy(),
            amount in "[0-9]{1,11}",
            sep in separator_strategy(),
            which in any::<prop::sample::Index>(),
            sub in any::<char>().prop_filter("typed", |c| {
                !(c.is_ascii_digit() || c.is_whitespace() || c.is_control())
            }),
        ) {
            let text = qr_with(sep, &number, &creditor, &amount);
            let digits: Vec<usize> = text
                .char_indices()
                .filter(|(_, c)| c.is_ascii_digit())
                .map(|(i, _)| i)
                .collect();
            let at = digits[which.index(digits.len())];
            let changed = format!("{}{}{}", &text[..at], sub, &text[at + 1..]);
            prop_assert!(Notice::from_qr(&changed).is_err(), "{} accepted", changed);
            prop_assert!(crate::classify(&changed).is_err(), "{} accepted", changed);
        }

        /// One separator different from the others is refused.
        #[test]
        fn a_qr_with_mixed_separators_is_refused(
            number in notice_number_strategy(),
            creditor in crate::creditor::tests::creditor_strategy(),
            amount in "[0-9]{1,11}",
            sep in separator_strategy(),
            other in separator_strategy(),
            odd in 0usize..4,
        ) {
            prop_assume!(sep != other);
            let mut seps = [sep; 4];
            seps[odd] = other;
            let text = format!(
                "PAGOPA{}002{}{number}{}{creditor}{}{amount}",
                seps[0], seps[1], seps[2], seps[3]
            );
            prop_assert!(Notice::from_qr(&text).is_err(), "{} accepted", text);
            prop_assert!(crate::classify(&text).is_err(), "{} accepted", text);
        }
    }
}
