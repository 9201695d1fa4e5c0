//! Signed app payment tokens (the QR in the school-services app) and the
//! public keys that verify them offline.
//!
//! ```text
//! SSQR1.<payload>.<signature>
//! payload   = base64url, no padding, of compact JSON:
//!             {"v":1,"kid":"k1","cf":"00514490010","svc":"mensa","ref":"c_8f3a9b21","iat":1763800000}
//! signature = base64url, no padding, of the Ed25519 signature over the
//!             ASCII bytes of "SSQR1.<payload>"
//! ```
//!
//! Parsing ([`AppToken::parse`]) checks the structure and the payload; it
//! needs no key. Verifying ([`AppToken::verify`]) needs the key set from
//! `GET /v1/keys` and the current time. A token is refused, online or
//! offline, when either fails.

use std::fmt;

use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::digits::string_newtype_serde;
use crate::error::{sanitize_fragment, CodeError};
use crate::CreditorFiscalCode;

/// The prefix of version 1 tokens, dot included.
pub(crate) const TOKEN_PREFIX: &str = "SSQR1.";
/// Longest token accepted; real ones are about 200 characters.
const MAX_TOKEN_LEN: usize = 2048;
/// The only signature algorithm of the key set.
pub const ED25519: &str = "Ed25519";

/// A structurally valid app token: prefix, base64url parts, 64-byte
/// signature, and a version-1 payload whose fields are all present and
/// well-formed. Whether the signature is genuine is [`AppToken::verify`]'s
/// job.
///
/// Holds no personal data (`ref` is an opaque consumer reference).
#[derive(Clone, PartialEq, Eq)]
pub struct AppToken {
    text: String,
    kid: String,
    creditor: CreditorFiscalCode,
    service: String,
    consumer_ref: String,
    issued_at: OffsetDateTime,
    signature: [u8; 64],
}

/// The payload fields, as read: every field optional so that a missing one
/// gets a precise message; duplicate fields are refused by serde; unknown
/// fields are ignored.
#[derive(Deserialize)]
struct RawPayload {
    v: Option<serde_json::Value>,
    kid: Option<serde_json::Value>,
    cf: Option<serde_json::Value>,
    svc: Option<serde_json::Value>,
    #[serde(rename = "ref")]
    consumer_ref: Option<serde_json::Value>,
    iat: Option<serde_json::Value>,
}

/// The payload as written by [`AppToken::sign`], in the spec's field order.
#[derive(Serialize)]
struct PayloadOut<'a> {
    v: u8,
    kid: &'a str,
    cf: &'a str,
    svc: &'a str,
    #[serde(rename = "ref")]
    consumer_ref: &'a str,
    iat: i64,
}

/// What an issuer puts in a token, for [`AppToken::sign`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenClaims {
    /// The creditor (municipality) the service belongs to.
    pub creditor: CreditorFiscalCode,
    /// The service id, e.g. `mensa`.
    pub service: String,
    /// The opaque consumer reference, e.g. `c_8f3a9b21`.
    pub consumer_ref: String,
    /// Issued at, unix seconds.
    pub issued_at: i64,
}

fn malformed(what: &str) -> CodeError {
    CodeError::BadFormat(format!(
        "Codice dell'app non valido: {what}. Chiedere di mostrare di nuovo il QR dall'app \
         o usare il codice a 13 cifre."
    ))
}

/// A non-empty text field without control characters.
fn text_field(value: Option<serde_json::Value>, name: &str) -> Result<String, CodeError> {
    match value {
        Some(serde_json::Value::String(s)) if !s.is_empty() && !s.chars().any(char::is_control) => {
            Ok(s)
        }
        Some(_) => Err(malformed(&format!(
            "il campo «{name}» non è un testo valido"
        ))),
        None => Err(malformed(&format!("manca il campo «{name}»"))),
    }
}

impl AppToken {
    /// Parses a token as scanned (surrounding whitespace trimmed). Every
    /// refusal says what was wrong: the prefix, the number of parts, the
    /// base64url encoding, the signature length, the JSON, a missing or
    /// mistyped field, or the version.
    pub fn parse(text: &str) -> Result<AppToken, CodeError> {
        let text = text.trim();
        if text.len() > MAX_TOKEN_LEN {
            return Err(CodeError::BadLength(format!(
                "Codice dell'app non valido: troppo lungo (oltre {MAX_TOKEN_LEN} caratteri)."
            )));
        }
        let Some(rest) = text.strip_prefix(TOKEN_PREFIX) else {
            return Err(prefix_error(text));
        };
        let parts: Vec<&str> = rest.split('.').collect();
        if parts.len() != 2 {
            return Err(malformed(&format!(
                "attese 3 parti separate da punti, lette {}",
                parts.len() + 1
            )));
        }
        let (payload_b64, signature_b64) = (parts[0], parts[1]);
        if payload_b64.is_empty() || signature_b64.is_empty() {
            return Err(malformed("una delle parti è vuota"));
        }
        let payload = URL_SAFE_NO_PAD
            .decode(payload_b64)
            .map_err(|_| malformed("i dati non sono in base64url senza padding"))?;
        let signature_bytes = URL_SAFE_NO_PAD
            .decode(signature_b64)
            .map_err(|_| malformed("la firma non è in base64url senza padding"))?;
        let signature: [u8; 64] = signature_bytes.as_slice().try_into().map_err(|_| {
            malformed(&format!(
                "la firma è di {} byte, ne servono 64",
                signature_bytes.len()
            ))
        })?;
        let raw: RawPayload = serde_json::from_slice(&payload)
            .map_err(|_| malformed("i dati non sono un oggetto JSON valido"))?;

        // The version decides the meaning of everything else: check it first.
        match raw.v {
            Some(serde_json::Value::Number(ref n)) if n.as_u64() == Some(1) => {}
            Some(serde_json::Value::Number(ref n)) => {
                return Err(CodeError::UnsupportedVersion(format!(
                    "Codice dell'app in versione {} non gestita (gestita: 1): aggiornare il \
                     programma o usare il codice a 13 cifre.",
                    sanitize_fragment(&n.to_string(), 12)
                )));
            }
            Some(_) => return Err(malformed("il campo «v» non è un numero")),
            None => return Err(malformed("manca il campo «v»")),
        }
        let kid = text_field(raw.kid, "kid")?;
        let cf = text_field(raw.cf, "cf")?;
        let creditor = CreditorFiscalCode::parse_exact(&cf)
            .map_err(|_| malformed("il campo «cf» non è un codice fiscale di ente valido"))?;
        let service = text_field(raw.svc, "svc")?;
        let consumer_ref = text_field(raw.consumer_ref, "ref")?;
        let iat = match raw.iat {
            Some(serde_json::Value::Number(n)) => n
                .as_i64()
                .filter(|s| *s >= 0)
                .ok_or_else(|| malformed("il campo «iat» non è un istante valido"))?,
            Some(_) => return Err(malformed("il campo «iat» non è un numero intero")),
            None => return Err(malformed("manca il campo «iat»")),
        };
        let issued_at = OffsetDateTime::from_unix_timestamp(iat)
            .map_err(|_| malformed("il campo «iat» non è un istante valido"))?;
        Ok(AppToken {
            text: text.to_owned(),
            kid,
            creditor,
            service,
            consumer_ref,
            issued_at,
            signature,
        })
    }

    /// Checks the signature with the key named by `kid`, and that `now` is
    /// within that key's validity (`not_before..=not_after`).
    ///
    /// Order of checks: unknown key, key algorithm, signature, validity, so
    /// that `key_expired` is only ever said of a genuine token.
    pub fn verify(&self, keys: &KeySet, now: OffsetDateTime) -> Result<(), CodeError> {
        let key = keys.get(&self.kid).ok_or_else(|| {
            CodeError::UnknownKey(format!(
                "Codice dell'app firmato con una chiave non nota («{}»): aggiornare le chiavi \
                 collegandosi al servizio, oppure usare il codice a 13 cifre.",
                sanitize_fragment(&self.kid, 16)
            ))
        })?;
        let verifying_key = key.verifying_key().ok_or_else(|| {
            CodeError::UnsupportedAlgorithm(format!(
                "Codice dell'app firmato con una chiave di tipo «{}», non gestito: aggiornare \
                 il programma o usare il codice a 13 cifre.",
                sanitize_fragment(key.alg(), 16)
            ))
        })?;
        let signature = Signature::from_bytes(&self.signature);
        verifying_key
            .verify_strict(self.signed_part().as_bytes(), &signature)
            .map_err(|_| {
                CodeError::BadSignature(
                    "Codice dell'app non valido: la firma non corrisponde. Il QR può essere \
                     alterato o contraffatto: chiedere di mostrarlo di nuovo dall'app o usare \
                     il codice a 13 cifre."
                        .into(),
                )
            })?;
        if now < key.not_before() {
            return Err(CodeError::KeyExpired(
                "Codice dell'app firmato con una chiave non ancora valida: controllare data e \
                 ora della cassa, oppure usare il codice a 13 cifre."
                    .into(),
            ));
        }
        if now > key.not_after() {
            return Err(CodeError::KeyExpired(
                "Codice dell'app firmato con una chiave scaduta: chiedere di aggiornare l'app e \
                 mostrare di nuovo il codice, oppure usare il codice a 13 cifre."
                    .into(),
            ));
        }
        Ok(())
    }

    /// `SSQR1.<payload>`: the bytes the signature covers.
    fn signed_part(&self) -> &str {
        // parse guarantees exactly two dots after the prefix
        let end = self.text.rfind('.').unwrap_or(self.text.len());
        &self.text[..end]
    }

    /// The whole token as scanned (trimmed): what is sent to the backend.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The key id.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The creditor (municipality) of the service.
    pub fn creditor(&self) -> &CreditorFiscalCode {
        &self.creditor
    }

    /// The service id (`svc`), e.g. `mensa`.
    pub fn service(&self) -> &str {
        &self.service
    }

    /// The opaque consumer reference (`ref`).
    pub fn consumer_ref(&self) -> &str {
        &self.consumer_ref
    }

    /// When the token was issued (`iat`).
    pub fn issued_at(&self) -> OffsetDateTime {
        self.issued_at
    }

    /// Builds a signed token. **For tests and mocks** (the mock backend,
    /// the agent's end-to-end tests): real tokens are issued by the
    /// school-services backend, never by the counter.
    pub fn sign(claims: &TokenClaims, kid: &str, key: &SigningKey) -> String {
        let payload = PayloadOut {
            v: 1,
            kid,
            cf: claims.creditor.as_str(),
            svc: &claims.service,
            consumer_ref: &claims.consumer_ref,
            iat: claims.issued_at,
        };
        let json = serde_json::to_vec(&payload)
            .expect("a struct of strings and integers always serialises");
        Self::sign_payload(&json, key)
    }

    /// Builds a token around any payload bytes, signed with `key`. **For
    /// tests and mocks** that need well-signed but malformed tokens (wrong
    /// version, missing field, not JSON).
    pub fn sign_payload(payload: &[u8], key: &SigningKey) -> String {
        let signed = format!("{TOKEN_PREFIX}{}", URL_SAFE_NO_PAD.encode(payload));
        let signature = key.sign(signed.as_bytes());
        format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature.to_bytes()))
    }
}

/// The refusal for text that does not start with `SSQR1.`.
fn prefix_error(text: &str) -> CodeError {
    let upper_head: String = text
        .chars()
        .take(6)
        .collect::<String>()
        .to_ascii_uppercase();
    if text.starts_with("ssqr") || text.starts_with("Ssqr") {
        // a keyboard-wedge scanner with Caps Lock on swaps the case of
        // every letter, which also ruins the base64 parts
        return malformed(
            "le lettere risultano invertite tra maiuscole e minuscole (Bloc Maiusc attivo \
             sulla cassa?)",
        );
    }
    if let Some(version) = upper_head.strip_prefix("SSQR") {
        let version = version.split('.').next().unwrap_or("");
        if !version.is_empty() && version != "1" && version.chars().all(|c| c.is_ascii_digit()) {
            return CodeError::UnsupportedVersion(format!(
                "Codice dell'app in un formato più recente (SSQR{version}) non gestito: \
                 aggiornare il programma o usare il codice a 13 cifre."
            ));
        }
    }
    malformed("deve iniziare con SSQR1.")
}

impl fmt::Debug for AppToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppToken")
            .field("kid", &self.kid)
            .field("creditor", &self.creditor.as_str())
            .field("service", &self.service)
            .field("consumer_ref", &self.consumer_ref)
            .field("iat", &self.issued_at.unix_timestamp())
            .finish()
    }
}

impl fmt::Display for AppToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

string_newtype_serde!(AppToken);

/// One public key of the key set.
#[derive(Clone, PartialEq, Eq)]
pub struct VerificationKey {
    kid: String,
    alg: String,
    public_key: String,
    verifying_key: Option<VerifyingKey>,
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
}

impl VerificationKey {
    /// An Ed25519 key (for tests, mocks, and building a set by hand).
    pub fn ed25519(
        kid: &str,
        key: &VerifyingKey,
        not_before: OffsetDateTime,
        not_after: OffsetDateTime,
    ) -> VerificationKey {
        VerificationKey {
            kid: kid.to_owned(),
            alg: ED25519.to_owned(),
            public_key: STANDARD.encode(key.as_bytes()),
            verifying_key: Some(*key),
            not_before,
            not_after,
        }
    }

    /// The key id.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The algorithm as the backend named it.
    pub fn alg(&self) -> &str {
        &self.alg
    }

    /// The public key, base64 standard, as the backend sent it.
    pub fn public_key_base64(&self) -> &str {
        &self.public_key
    }

    /// The Ed25519 key; `None` when the algorithm is another one (kept in
    /// the set so that a newer backend does not break older agents, but
    /// unusable).
    pub fn verifying_key(&self) -> Option<&VerifyingKey> {
        self.verifying_key.as_ref()
    }

    /// Start of validity, inclusive.
    pub fn not_before(&self) -> OffsetDateTime {
        self.not_before
    }

    /// End of validity, inclusive.
    pub fn not_after(&self) -> OffsetDateTime {
        self.not_after
    }
}

impl fmt::Debug for VerificationKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerificationKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("public_key", &self.public_key)
            .field("not_before", &self.not_before)
            .field("not_after", &self.not_after)
            .finish()
    }
}

/// The keys that verify app tokens, as returned by `GET /v1/keys`:
///
/// ```text
/// {"keys": [{"kid": "k1", "alg": "Ed25519", "public_key": "<base64 of 32 bytes>",
///            "not_before": "2026-01-01T00:00:00Z", "not_after": "2027-12-31T23:59:59Z"}]}
/// ```
///
/// Serde reads and writes exactly this shape (for the agent's on-disk
/// cache). Reading is strict (a malformed Ed25519 key, a duplicate kid or a
/// validity that ends before it starts refuses the whole set), so that a
/// bad answer from the backend is noticed and the previous cached set kept,
/// rather than tokens failing one by one. Keys of another algorithm are
/// kept but can verify nothing.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KeySet {
    keys: Vec<VerificationKey>,
}

#[derive(Serialize, Deserialize)]
struct RawKeySet {
    keys: Vec<RawKey>,
}

#[derive(Serialize, Deserialize)]
struct RawKey {
    kid: String,
    alg: String,
    public_key: String,
    #[serde(with = "time::serde::rfc3339")]
    not_before: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    not_after: OffsetDateTime,
}

fn bad_key_set(what: String) -> CodeError {
    CodeError::BadFormat(format!("Elenco delle chiavi non valido: {what}."))
}

impl KeySet {
    /// A set from keys built by hand; refuses duplicate kids and validity
    /// windows that end before they start.
    pub fn new(keys: Vec<VerificationKey>) -> Result<KeySet, CodeError> {
        for (i, key) in keys.iter().enumerate() {
            if key.kid.is_empty() {
                return Err(bad_key_set("una chiave non ha kid".into()));
            }
            if keys[..i].iter().any(|k| k.kid == key.kid) {
                return Err(bad_key_set(format!(
                    "la chiave «{}» compare due volte",
                    sanitize_fragment(&key.kid, 16)
                )));
            }
            // Every key must be writable back to the cache in the
            // backend's format (RFC 3339: years 0-9999, whole-minute offsets).
            let rfc3339 = &time::format_description::well_known::Rfc3339;
            if key.not_before.format(rfc3339).is_err() || key.not_after.format(rfc3339).is_err() {
                return Err(bad_key_set(format!(
                    "la validità della chiave «{}» non è esprimibile in RFC 3339",
                    sanitize_fragment(&key.kid, 16)
                )));
            }
            if key.not_after < key.not_before {
                return Err(bad_key_set(format!(
                    "la chiave «{}» scade prima di iniziare",
                    sanitize_fragment(&key.kid, 16)
                )));
            }
        }
        Ok(KeySet { keys })
    }

    /// Parses the JSON body of `GET /v1/keys` (unknown fields ignored).
    pub fn from_json(json: &str) -> Result<KeySet, CodeError> {
        let raw: RawKeySet = serde_json::from_str(json)
            .map_err(|e| bad_key_set(format!("JSON non conforme ({e})")))?;
        KeySet::try_from_raw(raw)
    }

    /// The set as the JSON of `GET /v1/keys`.
    pub fn to_json(&self) -> String {
        serde_json::to_string(&self.to_raw())
            .expect("KeySet::new admits only timestamps that RFC 3339 can write")
    }

    fn try_from_raw(raw: RawKeySet) -> Result<KeySet, CodeError> {
        let mut keys = Vec::with_capacity(raw.keys.len());
        for k in raw.keys {
            let verifying_key = if k.alg == ED25519 {
                let bytes = STANDARD
                    .decode(&k.public_key)
                    .or_else(|_| STANDARD_NO_PAD.decode(&k.public_key))
                    .map_err(|_| {
                        bad_key_set(format!(
                            "la chiave «{}» non è in base64",
                            sanitize_fragment(&k.kid, 16)
                        ))
                    })?;
                let bytes: [u8; 32] = bytes.as_slice().try_into().map_err(|_| {
                    bad_key_set(format!(
                        "la chiave «{}» non è di 32 byte",
                        sanitize_fragment(&k.kid, 16)
                    ))
                })?;
                Some(VerifyingKey::from_bytes(&bytes).map_err(|_| {
                    bad_key_set(format!(
                        "la chiave «{}» non è una chiave Ed25519 valida",
                        sanitize_fragment(&k.kid, 16)
                    ))
                })?)
            } else {
                None
            };
            keys.push(VerificationKey {
                kid: k.kid,
                alg: k.alg,
                public_key: k.public_key,
                verifying_key,
                not_before: k.not_before,
                not_after: k.not_after,
            });
        }
        KeySet::new(keys)
    }

    fn to_raw(&self) -> RawKeySet {
        RawKeySet {
            keys: self
                .keys
                .iter()
                .map(|k| RawKey {
                    kid: k.kid.clone(),
                    alg: k.alg.clone(),
                    public_key: k.public_key.clone(),
                    not_before: k.not_before,
                    not_after: k.not_after,
                })
                .collect(),
        }
    }

    /// The key with this kid.
    pub fn get(&self, kid: &str) -> Option<&VerificationKey> {
        self.keys.iter().find(|k| k.kid == kid)
    }

    /// All keys, in the backend's order.
    pub fn keys(&self) -> &[VerificationKey] {
        &self.keys
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// True when there is no key (nothing verifies: every token is refused
    /// with `unknown_key`).
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

impl Serialize for KeySet {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_raw().serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for KeySet {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = RawKeySet::deserialize(deserializer)?;
        KeySet::try_from_raw(raw).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use time::macros::datetime;

    pub(crate) fn signing_key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    pub(crate) fn claims() -> TokenClaims {
        TokenClaims {
            creditor: CreditorFiscalCode::parse("00514490010").unwrap(),
            service: "mensa".into(),
            consumer_ref: "c_8f3a9b21".into(),
            issued_at: 1_763_800_000,
        }
    }

    pub(crate) fn key_set_json(key: &SigningKey) -> String {
        format!(
            r#"{{"keys":[{{"kid":"k1","alg":"Ed25519","public_key":"{}","not_before":"2026-01-01T00:00:00Z","not_after":"2027-12-31T23:59:59Z","extra":true}},{{"kid":"r1","alg":"RS256","public_key":"AAAA","not_before":"2026-01-01T00:00:00Z","not_after":"2027-12-31T23:59:59Z"}}]}}"#,
            STANDARD.encode(key.verifying_key().as_bytes())
        )
    }

    const NOW: OffsetDateTime = datetime!(2026-11-22 10:15:00 UTC);

    fn b64(s: &str) -> String {
        URL_SAFE_NO_PAD.encode(s)
    }

    #[test]
    fn signed_token_parses_and_verifies() {
        let key = signing_key(7);
        let token = AppToken::sign(&claims(), "k1", &key);
        let payload = token.split('.').nth(1).unwrap();
        assert_eq!(
            URL_SAFE_NO_PAD.decode(payload).unwrap(),
            br#"{"v":1,"kid":"k1","cf":"00514490010","svc":"mensa","ref":"c_8f3a9b21","iat":1763800000}"#
        );
        let parsed = AppToken::parse(&format!("{token}\r\n")).unwrap();
        assert_eq!(parsed.as_str(), token);
        assert_eq!(parsed.kid(), "k1");
        assert_eq!(parsed.creditor().as_str(), "00514490010");
        assert_eq!(parsed.service(), "mensa");
        assert_eq!(parsed.consumer_ref(), "c_8f3a9b21");
        assert_eq!(parsed.issued_at(), datetime!(2025-11-22 08:26:40 UTC));
        let keys = KeySet::from_json(&key_set_json(&key)).unwrap();
        parsed.verify(&keys, NOW).unwrap();
        // the validity bounds are inclusive
        parsed
            .verify(&keys, datetime!(2026-01-01 00:00:00 UTC))
            .unwrap();
        parsed
            .verify(&keys, datetime!(2027-12-31 23:59:59 UTC))
            .unwrap();
    }

    #[test]
    fn verification_refusals() {
        let key = signing_key(7);
        let keys = KeySet::from_json(&key_set_json(&key)).unwrap();
        let token = AppToken::sign(&claims(), "k1", &key);

        // signed by another key
        let forged = AppToken::parse(&AppToken::sign(&claims(), "k1", &signing_key(8))).unwrap();
        assert_eq!(
            forged.verify(&keys, NOW).unwrap_err().code(),
            "bad_signature"
        );

        // payload changed after signing (another consumer)
        let (_, sig) = token.rsplit_once('.').unwrap();
        let other_claims = TokenClaims {
            consumer_ref: "c_other".into(),
            ..claims()
        };
        let other = AppToken::sign(&other_claims, "k1", &key);
        let (other_head, _) = other.rsplit_once('.').unwrap();
        let spliced = AppToken::parse(&format!("{other_head}.{sig}")).unwrap();
        assert_eq!(
            spliced.verify(&keys, NOW).unwrap_err().code(),
            "bad_signature"
        );

        let unknown = AppToken::parse(&AppToken::sign(&claims(), "k9", &key)).unwrap();
        let err = unknown.verify(&keys, NOW).unwrap_err();
        assert_eq!(err.code(), "unknown_key");
        assert!(err.message().contains("k9"));

        let rsa = AppToken::parse(&AppToken::sign(&claims(), "r1", &key)).unwrap();
        assert_eq!(
            rsa.verify(&keys, NOW).unwrap_err().code(),
            "unsupported_algorithm"
        );

        let parsed = AppToken::parse(&token).unwrap();
        let err = parsed
            .verify(&keys, datetime!(2028-01-01 00:00:00 UTC))
            .unwrap_err();
        assert_eq!(err.code(), "key_expired");
        assert!(err.message().contains("scaduta"));
        let err = parsed
            .verify(&keys, datetime!(2025-12-31 23:59:59 UTC))
            .unwrap_err();
        assert_eq!(err.code(), "key_expired");
        assert!(err.message().contains("non ancora valida"));

        assert_eq!(
            parsed.verify(&KeySet::default(), NOW).unwrap_err().code(),
            "unknown_key"
        );
    }

    #[test]
    fn structure_refusals() {
        let key = signing_key(7);
        let good = AppToken::sign(&claims(), "k1", &key);
        let (head, sig) = good.rsplit_once('.').unwrap();
        let payload = head.strip_prefix(TOKEN_PREFIX).unwrap();
        let cases: Vec<(String, &str, &str)> = vec![
            ("SSQR2.abc.def".into(), "unsupported_version", "SSQR2"),
            ("SSQR1.".into(), "bad_format", "3 parti"),
            (format!("SSQR1.{payload}"), "bad_format", "3 parti"),
            (format!("{good}.x"), "bad_format", "3 parti"),
            (format!("SSQR1..{sig}"), "bad_format", "vuota"),
            (format!("{head}."), "bad_format", "vuota"),
            (format!("{head}={sig}"), "bad_format", "3 parti"),
            (format!("{head}.{sig}=="), "bad_format", "base64url"),
            (format!("SSQR1.{payload}=.{sig}"), "bad_format", "base64url"),
            (format!("SSQR1.+{payload}.{sig}"), "bad_format", "base64url"),
            (format!("{head}.{}", &sig[..40]), "bad_format", "64"),
            (good.to_lowercase(), "bad_format", "Bloc Maiusc"),
            ("XSQR1.a.b".into(), "bad_format", "SSQR1."),
            (
                format!("SSQR1.{}.{sig}", b64("not json")),
                "bad_format",
                "JSON",
            ),
            (
                format!("SSQR1.{}.{sig}", b64("[1,2]")),
                "bad_format",
                "JSON",
            ),
            (
                format!(
                    "SSQR1.{}.{sig}",
                    b64(
                        r#"{"v":1,"v":1,"kid":"k1","cf":"00514490010","svc":"m","ref":"r","iat":1}"#
                    )
                ),
                "bad_format",
                "JSON",
            ),
            (
                format!(
                    "SSQR1.{}.{sig}",
                    b64(r#"{"v":2,"kid":"k1","cf":"00514490010","svc":"m","ref":"r","iat":1}"#)
                ),
                "unsupported_version",
                "versione 2",
            ),
            (
                format!(
                    "SSQR1.{}.{sig}",
                    b64(r#"{"v":"1","kid":"k1","cf":"00514490010","svc":"m","ref":"r","iat":1}"#)
                ),
                "bad_format",
                "«v»",
            ),
            (
                format!(
                    "SSQR1.{}.{sig}",
                    b64(r#"{"kid":"k1","cf":"00514490010","svc":"m","ref":"r","iat":1}"#)
                ),
                "bad_format",
                "manca il campo «v»",
            ),
            (
                format!(
                    "SSQR1.{}.{sig}",
                    b64(r#"{"v":1,"cf":"00514490010","svc":"m","ref":"r","iat":1}"#)
                ),
                "bad_format",
                "manca il campo «kid»",
            ),
            (
                format!(
                    "SSQR1.{}.{sig}",
                    b64(r#"{"v":1,"kid":"k1","cf":"00514490011","svc":"m","ref":"r","iat":1}"#)
                ),
                "bad_format",
                "«cf»",
            ),
            (
                format!(
                    "SSQR1.{}.{sig}",
                    b64(r#"{"v":1,"kid":"k1","cf":"00514490010","svc":"","ref":"r","iat":1}"#)
                ),
                "bad_format",
                "«svc»",
            ),
            (
                format!(
                    "SSQR1.{}.{sig}",
                    b64(r#"{"v":1,"kid":"k1","cf":"00514490010","svc":"m","ref":7,"iat":1}"#)
                ),
                "bad_format",
                "«ref»",
            ),
            (
                format!(
                    "SSQR1.{}.{sig}",
                    b64(r#"{"v":1,"kid":"k1","cf":"00514490010","svc":"m","ref":"r","iat":1.5}"#)
                ),
                "bad_format",
                "«iat»",
            ),
            (
                format!(
                    "SSQR1.{}.{sig}",
                    b64(r#"{"v":1,"kid":"k1","cf":"00514490010","svc":"m","ref":"r","iat":-1}"#)
                ),
                "bad_format",
                "«iat»",
            ),
            (
                format!(
                    "SSQR1.{}.{sig}",
                    b64(r#"{"v":1,"kid":"k1","cf":"00514490010","svc":"m","ref":"r","iat":"1"}"#)
                ),
                "bad_format",
                "«iat»",
            ),
            (format!("SSQR1.{}", "A".repeat(3000)), "bad_length", "lungo"),
        ];
        for (token, code, fragment) in cases {
            let err = AppToken::parse(&token).unwrap_err();
            assert_eq!(err.code(), code, "{token}: {err}");
            assert!(err.message().contains(fragment), "{token}: {err}");
        }
    }

    #[test]
    fn unknown_fields_are_ignored() {
        let key = signing_key(3);
        let token = AppToken::sign_payload(
            br#"{"v":1,"kid":"k1","cf":"00514490010","svc":"mensa","ref":"c_1","iat":1763800000,"new":{"x":[1]}}"#,
            &key,
        );
        let parsed = AppToken::parse(&token).unwrap();
        let keys = KeySet::from_json(&key_set_json(&key)).unwrap();
        parsed.verify(&keys, NOW).unwrap();
        assert_eq!(parsed.consumer_ref(), "c_1");
    }

    #[test]
    fn key_set_parsing() {
        let key = signing_key(7);
        let keys = KeySet::from_json(&key_set_json(&key)).unwrap();
        assert_eq!(keys.len(), 2);
        let k1 = keys.get("k1").unwrap();
        assert_eq!(k1.alg(), "Ed25519");
        assert_eq!(k1.verifying_key(), Some(&key.verifying_key()));
        assert_eq!(k1.not_after(), datetime!(2027-12-31 23:59:59 UTC));
        assert!(keys.get("r1").unwrap().verifying_key().is_none());
        // round trip through the cache format
        let again = KeySet::from_json(&keys.to_json()).unwrap();
        assert_eq!(again, keys);
        let via_serde: KeySet =
            serde_json::from_str(&serde_json::to_string(&keys).unwrap()).unwrap();
        assert_eq!(via_serde, keys);

        let good_b64 = STANDARD.encode(key.verifying_key().as_bytes());
        let one = |kid: &str, pk: &str, nb: &str, na: &str| {
            format!(
                r#"{{"kid":"{kid}","alg":"Ed25519","public_key":"{pk}","not_before":"{nb}","not_after":"{na}"}}"#
            )
        };
        let nb = "2026-01-01T00:00:00Z";
        let na = "2027-12-31T23:59:59Z";
        let bad_sets = [
            "not json".to_string(),
            r#"{"keys":{}}"#.to_string(),
            format!(r#"{{"keys":[{}]}}"#, one("k1", "AAAA", nb, na)),
            format!(r#"{{"keys":[{}]}}"#, one("k1", "!!!", nb, na)),
            format!(
                r#"{{"keys":[{},{}]}}"#,
                one("k1", &good_b64, nb, na),
                one("k1", &good_b64, nb, na)
            ),
            format!(r#"{{"keys":[{}]}}"#, one("k1", &good_b64, na, nb)),
            format!(r#"{{"keys":[{}]}}"#, one("k1", &good_b64, "2026-01-01", na)),
            format!(r#"{{"keys":[{}]}}"#, one("", &good_b64, nb, na)),
        ];
        for json in bad_sets {
            let err = KeySet::from_json(&json).unwrap_err();
            assert_eq!(err.code(), "bad_format", "{json}");
        }
        // unpadded base64 of the key is tolerated
        let unpadded = good_b64.trim_end_matches('=');
        assert!(
            KeySet::from_json(&format!(r#"{{"keys":[{}]}}"#, one("k1", unpadded, nb, na))).is_ok()
        );
        assert!(KeySet::from_json(r#"{"keys":[]}"#).unwrap().is_empty());
    }

    #[test]
    fn hand_built_key_set() {
        let key = signing_key(9);
        let vk = VerificationKey::ed25519(
            "k2",
            &key.verifying_key(),
            datetime!(2026-01-01 00:00:00 UTC),
            datetime!(2026-12-31 00:00:00 UTC),
        );
        let keys = KeySet::new(vec![vk.clone()]).unwrap();
        let token = AppToken::parse(&AppToken::sign(&claims(), "k2", &key)).unwrap();
        token.verify(&keys, NOW).unwrap();
        assert!(KeySet::new(vec![vk.clone(), vk]).is_err());
        let far = VerificationKey::ed25519(
            "k3",
            &key.verifying_key(),
            datetime!(2026-01-01 00:00:00 UTC),
            datetime!(2027-01-01 00:00:00 +01:00:30),
        );
        assert_eq!(KeySet::new(vec![far]).unwrap_err().code(), "bad_format");
    }

    #[test]
    fn serde_and_debug() {
        let key = signing_key(7);
        let token = AppToken::sign(&claims(), "k1", &key);
        let parsed: AppToken = serde_json::from_str(&format!("\"{token}\"")).unwrap();
        assert_eq!(
            serde_json::to_string(&parsed).unwrap(),
            format!("\"{token}\"")
        );
        assert!(serde_json::from_str::<AppToken>("\"SSQR1.x\"").is_err());
        let debug = format!("{parsed:?}");
        assert!(
            debug.contains("c_8f3a9b21") && debug.contains("k1"),
            "{debug}"
        );
    }
}
