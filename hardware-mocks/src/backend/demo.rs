//! Deterministic demo data: the same codes, children, notices and keys every
//! time, so that the sandbox, the docs and the tests of every crate can name
//! them.
//!
//! Formats follow `payment-codes.md`: manual codes are 12 digits plus a Luhn
//! check digit, notice numbers pass the mod-93 check, app tokens are
//! `SSQR1.<payload>.<signature>` signed with the Ed25519 key `k1` derived from
//! [`SIGNING_SEED`].

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use ed25519_dalek::Signer as _;
/// Re-exported so that callers of [`token_with_key`] need not name the crate.
pub use ed25519_dalek::SigningKey;
use serde::Serialize;

/// Codice fiscale of the creditor (the municipality). Valid check digit.
pub const CREDITOR_CF: &str = "00514490010";
/// Name of the creditor.
pub const CREDITOR_NAME: &str = "Comune di Balangero";

/// Service id of the school canteen.
pub const SERVICE_MENSA: &str = "mensa";
/// Display name of the school canteen service.
pub const SERVICE_MENSA_NAME: &str = "Refezione scolastica";
/// Service id of the school bus.
pub const SERVICE_TRASPORTO: &str = "trasporto";
/// Display name of the school bus service.
pub const SERVICE_TRASPORTO_NAME: &str = "Trasporto scolastico";

/// Smallest recharge accepted for every demo code, in cents.
pub const MIN_CENTS: u64 = 500;
/// Largest recharge accepted for every demo code, in cents.
pub const MAX_CENTS: u64 = 30000;

/// Key id of the app-token signing key.
pub const KEY_ID: &str = "k1";
/// Fixed seed of the `k1` Ed25519 key: deterministic so that tokens minted by
/// tests verify against the key the mock publishes on `GET /v1/keys`.
pub const SIGNING_SEED: [u8; 32] = *b"pos-agent demo k1 signing seed!!";
/// Seed of a key the backend does not know (for "unknown key" tests).
pub const UNKNOWN_SIGNING_SEED: [u8; 32] = *b"pos-agent demo: an unknown key!!";
/// Validity of `k1` as published by `GET /v1/keys`.
pub const KEY_NOT_BEFORE: &str = "2026-01-01T00:00:00Z";
/// Validity of `k1` as published by `GET /v1/keys`.
pub const KEY_NOT_AFTER: &str = "2027-12-31T23:59:59Z";
/// `iat` used for the demo app tokens printed by the binary (2025-11-22).
pub const DEMO_IAT: i64 = 1_763_800_000;

/// Consumer references (opaque ids of the children).
pub const CONSUMER_1: &str = "c_8f3a9b21";
/// Second child, sibling of [`CONSUMER_1`] (both belong to the demo payer).
pub const CONSUMER_2: &str = "c_2d7e4c90";
/// Third child.
pub const CONSUMER_3: &str = "c_5b1f0a3e";
/// Fourth child.
pub const CONSUMER_4: &str = "c_9c4d2e17";
/// Child whose only code is revoked.
pub const CONSUMER_REVOKED: &str = "c_0a6b3c58";

/// Manual codes: 12 digits + Luhn check digit.
pub const MANUAL_CODE_MENSA_1: &str = "4001000000186";
/// Bus code of child 1.
pub const MANUAL_CODE_TRASPORTO_1: &str = "4001000000269";
/// Canteen code of child 2.
pub const MANUAL_CODE_MENSA_2: &str = "4002000000150";
/// Bus code of child 2.
pub const MANUAL_CODE_TRASPORTO_2: &str = "4002000000234";
/// Canteen code of child 3.
pub const MANUAL_CODE_MENSA_3: &str = "4003000000125";
/// Bus code of child 3.
pub const MANUAL_CODE_TRASPORTO_3: &str = "4003000000208";
/// Canteen code of child 4.
pub const MANUAL_CODE_MENSA_4: &str = "4004000000198";
/// Bus code of child 4.
pub const MANUAL_CODE_TRASPORTO_4: &str = "4004000000271";
/// A well-formed code that the municipality revoked (410 `code_revoked`).
pub const MANUAL_CODE_REVOKED: &str = "4005000000161";
/// Well-formed (valid Luhn) but unknown to the backend (404 `unknown_code`).
pub const MANUAL_CODE_UNKNOWN: &str = "4009000000122";

/// One payment code (child + service) of the demo data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DemoCode {
    /// The 13-digit code (Luhn-valid) the app shows under the QR.
    pub manual_code: &'static str,
    /// The child; an app token for this child and service resolves to the
    /// same entry ([`app_token`]).
    pub consumer_ref: &'static str,
    /// Already masked, as the backend sends it.
    pub display_name: &'static str,
    /// Shown by the backend beside the name, to tell children apart.
    pub school: &'static str,
    /// [`SERVICE_MENSA`] or [`SERVICE_TRASPORTO`].
    pub service_id: &'static str,
    /// Balance when the backend starts; recharges add to it.
    pub balance_cents: u64,
    /// Revoked codes answer 410 `code_revoked` (only [`MANUAL_CODE_REVOKED`]).
    pub revoked: bool,
}

const RODARI: &str = "Primaria G. Rodari";

/// Every payment code the demo backend knows, with its starting balance.
pub const CODES: &[DemoCode] = &[
    code(
        MANUAL_CODE_MENSA_1,
        CONSUMER_1,
        "M*** R***",
        RODARI,
        SERVICE_MENSA,
        1250,
    ),
    code(
        MANUAL_CODE_TRASPORTO_1,
        CONSUMER_1,
        "M*** R***",
        RODARI,
        SERVICE_TRASPORTO,
        4000,
    ),
    code(
        MANUAL_CODE_MENSA_2,
        CONSUMER_2,
        "L*** R***",
        RODARI,
        SERVICE_MENSA,
        800,
    ),
    code(
        MANUAL_CODE_TRASPORTO_2,
        CONSUMER_2,
        "L*** R***",
        RODARI,
        SERVICE_TRASPORTO,
        0,
    ),
    code(
        MANUAL_CODE_MENSA_3,
        CONSUMER_3,
        "G*** B***",
        "Secondaria di I grado D. Alighieri",
        SERVICE_MENSA,
        3200,
    ),
    code(
        MANUAL_CODE_TRASPORTO_3,
        CONSUMER_3,
        "G*** B***",
        "Secondaria di I grado D. Alighieri",
        SERVICE_TRASPORTO,
        1500,
    ),
    code(
        MANUAL_CODE_MENSA_4,
        CONSUMER_4,
        "S*** F***",
        "Infanzia Il Girasole",
        SERVICE_MENSA,
        0,
    ),
    code(
        MANUAL_CODE_TRASPORTO_4,
        CONSUMER_4,
        "S*** F***",
        "Infanzia Il Girasole",
        SERVICE_TRASPORTO,
        2500,
    ),
    DemoCode {
        revoked: true,
        ..code(
            MANUAL_CODE_REVOKED,
            CONSUMER_REVOKED,
            "A*** M***",
            RODARI,
            SERVICE_MENSA,
            600,
        )
    },
];

const fn code(
    manual_code: &'static str,
    consumer_ref: &'static str,
    display_name: &'static str,
    school: &'static str,
    service_id: &'static str,
    balance_cents: u64,
) -> DemoCode {
    DemoCode {
        manual_code,
        consumer_ref,
        display_name,
        school,
        service_id,
        balance_cents,
        revoked: false,
    }
}

/// Codice fiscale of the demo payer, read from a Tessera Sanitaria at the
/// counter (valid check letter, see [`fiscal_code_check_letter`]). The
/// parent of the demo family: two children, [`CONSUMER_1`] and
/// [`CONSUMER_2`], each with a canteen code ([`PAYER_CODES`]). It is fake
/// data, so the sandbox may print it whole; the agent still masks it in
/// its logs, events and receipts.
pub const PAYER_FISCAL_CODE: &str = "RSSMRA85T10A562S";
/// Masked name of the demo payer.
pub const PAYER_DISPLAY_NAME: &str = "M*** R***";
/// The codes `POST /v1/payers/lookup` returns for [`PAYER_FISCAL_CODE`]:
/// the canteen codes of the two children, in this order. Tests pin this
/// answer (two choices; the bus code of child 1 is not among them), so a
/// bus service is left out of the family rather than changing it.
pub const PAYER_CODES: [&str; 2] = [MANUAL_CODE_MENSA_1, MANUAL_CODE_MENSA_2];

/// The demo family's payment codes as [`DemoCode`]s (child, school, service,
/// starting balance), in [`PAYER_CODES`] order: what a sandbox banner or a
/// test needs to name each child without looking the codes up.
pub fn payer_codes() -> Vec<DemoCode> {
    PAYER_CODES
        .iter()
        .filter_map(|code| CODES.iter().find(|c| c.manual_code == *code).copied())
        .collect()
}

/// The QR text of [`NOTICE_PAYABLE`] as printed on its pagoPA notice
/// (`payment-codes.md` §3): a newcomer can type or scan it to try the
/// notice path, alone or beside the family's codes in one payment.
pub const NOTICE_PAYABLE_QR: &str = "PAGOPA|002|301000000000012373|00514490010|2550";

/// The QR text of a pagoPA notice owed to [`CREDITOR_CF`]:
/// `PAGOPA|002|<notice number>|<creditor>|<amount in cents>`. The amount in
/// a QR is informative (the backend's `verify` answer is charged), so tests
/// can put any amount here.
pub fn notice_qr(notice_number: &str, amount_cents: u64) -> String {
    format!("PAGOPA|002|{notice_number}|{CREDITOR_CF}|{amount_cents}")
}

/// Payable notice of the spec's example: 2550 cents, "Mensa novembre 2026".
pub const NOTICE_PAYABLE: &str = "301000000000012373";
/// Amount of [`NOTICE_PAYABLE`].
pub const NOTICE_PAYABLE_AMOUNT_CENTS: u64 = 2550;
/// A second payable notice (4200 cents, "Trasporto dicembre 2026").
pub const NOTICE_PAYABLE_2: &str = "301000000000012777";
/// A third payable notice (1575 cents, "Mensa dicembre 2026").
pub const NOTICE_PAYABLE_3: &str = "301000000000012878";
/// Already paid (409 `notice_already_paid` on activate).
pub const NOTICE_PAID: &str = "301000000000012474";
/// Expired.
pub const NOTICE_EXPIRED: &str = "301000000000012575";
/// Cancelled by the creditor.
pub const NOTICE_CANCELLED: &str = "301000000000012676";
/// Valid mod-93 check but unknown to the backend (404 `unknown_notice`).
pub const NOTICE_UNKNOWN: &str = "301000000000099919";

/// State of a demo notice, as `POST /v1/notices/verify` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoticeStatus {
    /// Can be activated and paid; becomes `Paid` on an `OK` outcome.
    Payable,
    /// Activation answers 409 `notice_already_paid`.
    Paid,
    /// Activation answers 409 `notice_expired`.
    Expired,
    /// Activation answers 409 `notice_cancelled`.
    Cancelled,
}

impl NoticeStatus {
    /// The wire name of the status.
    pub fn as_str(self) -> &'static str {
        match self {
            NoticeStatus::Payable => "payable",
            NoticeStatus::Paid => "paid",
            NoticeStatus::Expired => "expired",
            NoticeStatus::Cancelled => "cancelled",
        }
    }
}

/// One pagoPA notice of the demo data (all owed to [`CREDITOR_CF`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DemoNotice {
    /// 18 digits, aux digit 3, valid mod-93 check.
    pub notice_number: &'static str,
    /// What `verify` answers and `activate` requires.
    pub amount_cents: u64,
    /// `verify`'s description, printed on the receipt.
    pub description: &'static str,
    /// `YYYY-MM-DD`, as `verify` answers it.
    pub due_date: &'static str,
    /// The status when the backend starts.
    pub status: NoticeStatus,
}

/// Every notice the demo backend knows.
pub const NOTICES: &[DemoNotice] = &[
    DemoNotice {
        notice_number: NOTICE_PAYABLE,
        amount_cents: NOTICE_PAYABLE_AMOUNT_CENTS,
        description: "Mensa novembre 2026",
        due_date: "2026-12-15",
        status: NoticeStatus::Payable,
    },
    DemoNotice {
        notice_number: NOTICE_PAYABLE_2,
        amount_cents: 4200,
        description: "Trasporto dicembre 2026",
        due_date: "2026-12-31",
        status: NoticeStatus::Payable,
    },
    DemoNotice {
        notice_number: NOTICE_PAYABLE_3,
        amount_cents: 1575,
        description: "Mensa dicembre 2026",
        due_date: "2027-01-15",
        status: NoticeStatus::Payable,
    },
    DemoNotice {
        notice_number: NOTICE_PAID,
        amount_cents: 3100,
        description: "Mensa ottobre 2026",
        due_date: "2026-11-15",
        status: NoticeStatus::Paid,
    },
    DemoNotice {
        notice_number: NOTICE_EXPIRED,
        amount_cents: 1800,
        description: "Mensa settembre 2026",
        due_date: "2026-10-15",
        status: NoticeStatus::Expired,
    },
    DemoNotice {
        notice_number: NOTICE_CANCELLED,
        amount_cents: 2200,
        description: "Trasporto settembre 2026",
        due_date: "2026-10-31",
        status: NoticeStatus::Cancelled,
    },
];

/// One-time activation codes for `POST /v1/terminals/enroll`. Enrollments get
/// `T-000123`, `T-000124`, ... in the order they happen, whatever the code.
pub const ACTIVATION_CODES: &[&str] = &[
    "K7QF-2M9X-HT4P",
    "P3WD-8KJ2-NV6R",
    "X9LM-4TQ7-BC2H",
    "R5HY-7ZD3-MK8W",
    "C2NV-6PX9-QJ4T",
];
/// The first activation code (the one of the spec's example).
pub const ACTIVATION_CODE: &str = "K7QF-2M9X-HT4P";
/// Terminal id given to the first enrollment.
pub const FIRST_TERMINAL_ID: &str = "T-000123";
/// Number of the first terminal id; the next enrollments count up from it.
pub const FIRST_TERMINAL_NUMBER: u32 = 123;

/// PSP returned at enrollment.
pub const PSP_ID: &str = "PSP-LIS";
/// PSP name returned at enrollment.
pub const PSP_NAME: &str = "PuntoLIS";
/// Shop returned at enrollment.
pub const LOCATION_NAME: &str = "Tabaccheria Rossi";
/// Shop address returned at enrollment.
pub const LOCATION_ADDRESS: &str = "Via Roma 1, Balangero";

/// The `k1` key that signs the demo app tokens.
pub fn signing_key() -> SigningKey {
    SigningKey::from_bytes(&SIGNING_SEED)
}

/// A key the backend does not publish: tokens signed with it must be refused.
pub fn unknown_signing_key() -> SigningKey {
    SigningKey::from_bytes(&UNKNOWN_SIGNING_SEED)
}

/// Standard base64 of the `k1` public key, as `GET /v1/keys` publishes it.
pub fn public_key_b64() -> String {
    STANDARD.encode(signing_key().verifying_key().as_bytes())
}

/// Field order matters only for readability: the signature covers the
/// encoded bytes, whatever their order.
#[derive(Serialize)]
struct Payload<'a> {
    v: u8,
    kid: &'a str,
    cf: &'a str,
    svc: &'a str,
    #[serde(rename = "ref")]
    consumer_ref: &'a str,
    iat: i64,
}

/// The compact JSON payload of an app token, e.g.
/// `{"v":1,"kid":"k1","cf":"00514490010","svc":"mensa","ref":"c_8f3a9b21","iat":1763800000}`.
pub fn token_payload(
    kid: &str,
    cf: &str,
    service_id: &str,
    consumer_ref: &str,
    iat: i64,
) -> String {
    let payload = Payload {
        v: 1,
        kid,
        cf,
        svc: service_id,
        consumer_ref,
        iat,
    };
    serde_json::to_string(&payload).expect("a struct of strings and integers always serializes")
}

/// A valid app token for a child and service, signed with `k1`.
pub fn app_token(consumer_ref: &str, service_id: &str, iat: i64) -> String {
    token_with_key(
        &signing_key(),
        &token_payload(KEY_ID, CREDITOR_CF, service_id, consumer_ref, iat),
    )
}

/// Mints `SSQR1.<b64url(payload)>.<b64url(sig)>` from any payload bytes and
/// any key: tests use it for unknown keys, wrong `kid`s and malformed JSON.
pub fn token_with_key(key: &SigningKey, payload: &str) -> String {
    let signed = format!("SSQR1.{}", URL_SAFE_NO_PAD.encode(payload.as_bytes()));
    let signature = key.sign(signed.as_bytes());
    format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature.to_bytes()))
}

/// Luhn check digit of a string of decimal digits (the 12 digits of a manual
/// code); `None` if it holds anything else or is empty.
pub fn luhn_check_digit(digits: &str) -> Option<u8> {
    if digits.is_empty() {
        return None;
    }
    let mut sum = 0u32;
    // Walking from the right, the digit next to the (future) check digit is
    // doubled first.
    for (i, c) in digits.chars().rev().enumerate() {
        let mut d = c.to_digit(10)?;
        if i % 2 == 0 {
            d *= 2;
            if d > 9 {
                d -= 9;
            }
        }
        sum += d;
    }
    u8::try_from((10 - sum % 10) % 10).ok()
}

/// True when `code` is 13 digits whose last is the Luhn check digit of the
/// first 12.
pub fn is_valid_manual_code(code: &str) -> bool {
    code.len() == 13
        && code.is_ascii()
        && luhn_check_digit(&code[..12]).is_some_and(|d| code.as_bytes()[12] == b'0' + d)
}

/// The two pagoPA check digits of a notice number: the 16 preceding digits
/// (aux digit included) read as one number, mod 93. `None` unless exactly 16
/// decimal digits.
pub fn notice_check_digits(first16: &str) -> Option<u8> {
    if first16.len() != 16 || !first16.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u64 = first16.parse().ok()?;
    u8::try_from(n % 93).ok()
}

/// True when an 18-digit notice number with aux digit 0, 2 or 3 carries the
/// right mod-93 check digits.
pub fn is_valid_notice_number(number: &str) -> bool {
    number.len() == 18
        && number.is_ascii()
        && matches!(number.as_bytes()[0], b'0' | b'2' | b'3')
        && notice_check_digits(&number[..16]).is_some_and(|c| format!("{c:02}") == number[16..])
}

/// The check letter of a person's codice fiscale from its first 15
/// characters (official odd/even tables; omocodia letters count as the
/// letters they are). `None` unless 15 ASCII letters or digits. Only the
/// check: month, day and place are the classifier's business (`pos-codes`),
/// here it keeps the demo data honest.
pub fn fiscal_code_check_letter(first15: &str) -> Option<char> {
    /// Values of `0`-`9` / `A`-`Z` in odd positions (1st, 3rd, ...).
    const ODD: [u32; 26] = [
        1, 0, 5, 7, 9, 13, 15, 17, 19, 21, 2, 4, 18, 20, 11, 3, 6, 8, 12, 14, 16, 10, 22, 25, 24,
        23,
    ];
    if first15.len() != 15 {
        return None;
    }
    let mut sum = 0;
    for (i, c) in first15.bytes().enumerate() {
        let v = match c {
            b'0'..=b'9' => u32::from(c - b'0'),
            b'A'..=b'Z' => u32::from(c - b'A'),
            _ => return None,
        };
        // 1-based odd positions are the even 0-based indexes.
        sum += if i % 2 == 0 { ODD[v as usize] } else { v };
    }
    char::from_u32(u32::from(b'A') + sum % 26)
}

/// True when `cf` is 16 characters whose last is the check letter of the
/// first 15.
pub fn is_valid_fiscal_code(cf: &str) -> bool {
    cf.len() == 16
        && cf.is_ascii()
        && fiscal_code_check_letter(&cf[..15]).is_some_and(|c| cf.ends_with(c))
}

/// True when an 11-digit codice fiscale of a legal person (partita IVA
/// algorithm) carries the right check digit.
pub fn is_valid_creditor_cf(cf: &str) -> bool {
    if cf.len() != 11 || !cf.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    let digits: Vec<u32> = cf.bytes().map(|b| u32::from(b - b'0')).collect();
    let mut sum = 0;
    for (i, d) in digits[..10].iter().enumerate() {
        if i % 2 == 0 {
            sum += d;
        } else {
            let x = d * 2;
            sum += if x > 9 { x - 9 } else { x };
        }
    }
    (10 - sum % 10) % 10 == digits[10]
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::{Signature, Verifier as _};

    #[test]
    fn luhn_known_values() {
        // Classic example: 7992739871 has check digit 3.
        assert_eq!(luhn_check_digit("7992739871"), Some(3));
        assert_eq!(luhn_check_digit("400100000018"), Some(6));
        assert_eq!(luhn_check_digit("12a"), None);
        assert_eq!(luhn_check_digit(""), None);
        assert!(is_valid_manual_code("4001000000186"));
        assert!(!is_valid_manual_code("4001000000187"));
        assert!(!is_valid_manual_code("400100000018"));
    }

    #[test]
    fn every_demo_manual_code_passes_luhn() {
        for c in CODES {
            assert!(is_valid_manual_code(c.manual_code), "{}", c.manual_code);
        }
        assert!(is_valid_manual_code(MANUAL_CODE_UNKNOWN));
        assert!(CODES.iter().all(|c| c.manual_code != MANUAL_CODE_UNKNOWN));
    }

    #[test]
    fn notice_numbers_pass_mod_93() {
        assert_eq!(notice_check_digits("3010000000000123"), Some(73));
        for n in NOTICES {
            assert!(
                is_valid_notice_number(n.notice_number),
                "{}",
                n.notice_number
            );
        }
        assert!(is_valid_notice_number(NOTICE_UNKNOWN));
        // From payment-codes.md.
        for ok in [
            "002160020399398578",
            "322201151398574181",
            "300715700000000032",
            "330161072745098448",
        ] {
            assert!(is_valid_notice_number(ok), "{ok}");
        }
        assert!(!is_valid_notice_number("044012345678901200"));
    }

    #[test]
    fn fiscal_code_check_letters() {
        // The spec's Data Matrix example, and a well-known sample code.
        assert_eq!(fiscal_code_check_letter("BSCMTT83A12L719"), Some('R'));
        assert_eq!(fiscal_code_check_letter("MRTMTT25D09F205"), Some('Z'));
        assert!(is_valid_fiscal_code(PAYER_FISCAL_CODE));
        assert!(!is_valid_fiscal_code("RSSMRA85T10A562T"));
        assert!(!is_valid_fiscal_code("RSSMRA85T10A562"));
        assert!(!is_valid_fiscal_code("rssmra85t10a562s"));
        assert_eq!(fiscal_code_check_letter("RSSMRA85T10A56è"), None);
    }

    #[test]
    fn the_demo_family_is_two_children_each_with_a_canteen_code() {
        let codes = payer_codes();
        assert_eq!(codes.len(), PAYER_CODES.len());
        assert_eq!(codes.len(), 2);
        assert_ne!(codes[0].consumer_ref, codes[1].consumer_ref);
        assert_eq!(
            [codes[0].consumer_ref, codes[1].consumer_ref],
            [CONSUMER_1, CONSUMER_2]
        );
        assert!(codes
            .iter()
            .all(|c| c.service_id == SERVICE_MENSA && !c.revoked));
    }

    #[test]
    fn the_sandbox_notice_qr_is_a_payable_notice() {
        assert_eq!(
            NOTICE_PAYABLE_QR,
            notice_qr(NOTICE_PAYABLE, NOTICE_PAYABLE_AMOUNT_CENTS)
        );
        let fields: Vec<&str> = NOTICE_PAYABLE_QR.split('|').collect();
        assert_eq!(fields[..2], ["PAGOPA", "002"]);
        assert!(is_valid_notice_number(fields[2]));
        assert!(is_valid_creditor_cf(fields[3]));
        let notice = NOTICES
            .iter()
            .find(|n| n.notice_number == fields[2])
            .expect("a demo notice");
        assert_eq!(notice.status, NoticeStatus::Payable);
        assert_eq!(fields[4], notice.amount_cents.to_string());
    }

    #[test]
    fn creditor_cf_is_valid() {
        assert!(is_valid_creditor_cf(CREDITOR_CF));
        assert!(!is_valid_creditor_cf("00514490011"));
    }

    #[test]
    fn app_token_has_the_spec_shape_and_verifies() {
        let token = app_token(CONSUMER_1, SERVICE_MENSA, DEMO_IAT);
        let parts: Vec<&str> = token.split('.').collect();
        assert_eq!(parts.len(), 3);
        assert_eq!(parts[0], "SSQR1");
        let payload = URL_SAFE_NO_PAD.decode(parts[1]).expect("payload b64url");
        assert_eq!(
            String::from_utf8(payload).expect("utf8"),
            r#"{"v":1,"kid":"k1","cf":"00514490010","svc":"mensa","ref":"c_8f3a9b21","iat":1763800000}"#
        );
        let sig = URL_SAFE_NO_PAD.decode(parts[2]).expect("sig b64url");
        let sig = Signature::from_slice(&sig).expect("64 bytes");
        let signed = format!("SSQR1.{}", parts[1]);
        signing_key()
            .verifying_key()
            .verify(signed.as_bytes(), &sig)
            .expect("signature verifies");
        assert!(unknown_signing_key()
            .verifying_key()
            .verify(signed.as_bytes(), &sig)
            .is_err());
        // Deterministic.
        assert_eq!(token, app_token(CONSUMER_1, SERVICE_MENSA, DEMO_IAT));
    }
}
