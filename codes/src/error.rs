//! The one error type of this crate.
//!
//! Every refusal carries a stable snake_case code (the `error.code` of the
//! agent's API, see `agent-api.md`) and an Italian message for the counter
//! operator that says what was wrong and what to do. Messages never contain
//! an unmasked fiscal code: they are built from fixed text, counts and
//! positions, masked codes and sanitised excerpts only.

/// Why an input was refused.
///
/// `Display` (and [`CodeError::message`]) is the Italian message for the
/// operator; [`CodeError::code`] is the code a client branches on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodeError {
    /// Not any kind of input the counter knows (`unknown_input`).
    #[error("{0}")]
    UnknownInput(String),
    /// The right kind and shape, but a check digit or letter does not match
    /// (`bad_check_digit`): almost always a typing or reading error.
    #[error("{0}")]
    BadCheckDigit(String),
    /// Too few or too many characters (`bad_length`).
    #[error("{0}")]
    BadLength(String),
    /// Wrong characters or structure (`bad_format`).
    #[error("{0}")]
    BadFormat(String),
    /// A format version this agent does not handle (`unsupported_version`).
    #[error("{0}")]
    UnsupportedVersion(String),
    /// An app token whose signature does not verify (`bad_signature`).
    #[error("{0}")]
    BadSignature(String),
    /// An app token signed with a key id that is not in the key set
    /// (`unknown_key`).
    #[error("{0}")]
    UnknownKey(String),
    /// An app token whose key is outside its validity window at the time of
    /// the check (`key_expired`), either expired or not yet valid.
    #[error("{0}")]
    KeyExpired(String),
    /// A key whose algorithm is not Ed25519 (`unsupported_algorithm`).
    #[error("{0}")]
    UnsupportedAlgorithm(String),
    /// Card data that holds no person's fiscal code, such as track 2 of the
    /// Tessera Sanitaria (`not_a_fiscal_code`).
    #[error("{0}")]
    NotAFiscalCode(String),
}

impl CodeError {
    /// The snake_case code used in API errors and events.
    pub fn code(&self) -> &'static str {
        match self {
            CodeError::UnknownInput(_) => "unknown_input",
            CodeError::BadCheckDigit(_) => "bad_check_digit",
            CodeError::BadLength(_) => "bad_length",
            CodeError::BadFormat(_) => "bad_format",
            CodeError::UnsupportedVersion(_) => "unsupported_version",
            CodeError::BadSignature(_) => "bad_signature",
            CodeError::UnknownKey(_) => "unknown_key",
            CodeError::KeyExpired(_) => "key_expired",
            CodeError::UnsupportedAlgorithm(_) => "unsupported_algorithm",
            CodeError::NotAFiscalCode(_) => "not_a_fiscal_code",
        }
    }

    /// The Italian message for the operator (same text as `Display`).
    pub fn message(&self) -> &str {
        match self {
            CodeError::UnknownInput(m)
            | CodeError::BadCheckDigit(m)
            | CodeError::BadLength(m)
            | CodeError::BadFormat(m)
            | CodeError::UnsupportedVersion(m)
            | CodeError::BadSignature(m)
            | CodeError::UnknownKey(m)
            | CodeError::KeyExpired(m)
            | CodeError::UnsupportedAlgorithm(m)
            | CodeError::NotAFiscalCode(m) => m,
        }
    }
}

/// Makes text that came from outside (a key id, a version field) safe to
/// put inside an operator message: printable characters only, at most
/// `max` of them, with an ellipsis when cut.
pub(crate) fn sanitize_fragment(text: &str, max: usize) -> String {
    let mut out = String::new();
    for (count, c) in text.chars().enumerate() {
        if count == max {
            out.push('…');
            return out;
        }
        out.push(printable_or_placeholder(c));
    }
    out
}

/// Keeps a character an operator can read on screen; control characters,
/// the replacement character left by a lossy UTF-8 conversion and other
/// invisible code points become `?`.
pub(crate) fn printable_or_placeholder(c: char) -> char {
    if c == ' ' || c.is_ascii_graphic() || (!c.is_ascii() && c.is_alphanumeric()) {
        c
    } else {
        '?'
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_the_api_codes() {
        assert_eq!(
            CodeError::BadCheckDigit("x".into()).code(),
            "bad_check_digit"
        );
        assert_eq!(
            CodeError::NotAFiscalCode("x".into()).code(),
            "not_a_fiscal_code"
        );
        assert_eq!(CodeError::UnknownInput("m".into()).to_string(), "m");
        assert_eq!(CodeError::KeyExpired("m".into()).message(), "m");
    }

    #[test]
    fn fragments_are_cut_and_cleaned() {
        assert_eq!(sanitize_fragment("ab\u{0}c", 10), "ab?c");
        assert_eq!(sanitize_fragment("abcdef", 3), "abc…");
        assert_eq!(sanitize_fragment("\u{FFFD}à", 3), "?à");
    }
}
