//! Everything a parent brings to the counter, parsed (see
//! `shared/spec/payment-codes.md`, the contract this crate follows).
//!
//! A pure library: no network, no I/O, no clock (the caller passes `now`).
//!
//! - [`classify`]: the one entry point for whatever was read; returns an
//!   [`Input`] or a [`CodeError`] whose `code()` is the API error code and
//!   whose message is Italian text for the operator.
//! - Newtypes that can only hold valid values: [`FiscalCode`],
//!   [`CreditorFiscalCode`], [`NoticeNumber`], [`ManualCode`],
//!   [`AppToken`] (structurally valid; [`AppToken::verify`] checks the
//!   signature against a [`KeySet`]).
//! - [`Notice`] from the pagoPA QR, the Poste Data Matrix or two hand-keyed
//!   fields; [`fiscal_code_from_track`] for card reader text.
//! - [`Cents`] for money, [`mask_fiscal_codes`] and [`masked_excerpt`] for
//!   logs.
//!
//! Personal data rule: a fiscal code prints masked through `Debug` and
//! `Display` (`RSS***********2S`); error messages never contain one
//! unmasked; the payer data inside a Data Matrix is never kept.
//!
//! ```
//! use pos_codes::{classify, Input};
//!
//! let input = classify("PAGOPA|002|301000000000012373|00514490010|2550\r\n").unwrap();
//! assert_eq!(input.kind(), "notice");
//! let Input::Notice(notice) = input else { unreachable!() };
//! assert_eq!(notice.notice_number.iuv(), "01000000000012373");
//!
//! let err = classify("1234 5678 9012 3").unwrap_err();
//! assert_eq!(err.code(), "bad_check_digit");
//!
//! let cf = classify("RSSMRA85T10A562S").unwrap();
//! assert_eq!(cf.masked_text(), "RSS***********2S");
//! ```

#![warn(missing_docs)]

mod cents;
mod classify;
mod creditor;
mod digits;
mod error;
mod fiscal_code;
mod manual;
mod notice;
mod token;

pub use cents::Cents;
pub use classify::{classify, masked_excerpt, Input};
pub use creditor::CreditorFiscalCode;
pub use error::CodeError;
pub use fiscal_code::{fiscal_code_from_track, mask_fiscal_codes, BirthData, FiscalCode};
pub use manual::ManualCode;
pub use notice::{Notice, NoticeNumber};
pub use token::{AppToken, KeySet, TokenClaims, VerificationKey, ED25519};

/// Re-exported so that callers of [`AppToken::sign`] and
/// [`VerificationKey::ed25519`] use the same version of the key types.
pub use ed25519_dalek;
