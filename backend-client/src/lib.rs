//! Client of the municipal school-services backend (`backend-api.md`, v1).
//!
//! What this crate does, and what it never does:
//! - signs every request except health and enroll with HMAC-SHA256 over
//!   the request target exactly as sent ([`sign`]);
//! - prepares each state-changing request once ([`PreparedRequest`]) so the
//!   agent can replay the same Idempotency-Key and bytes until it gets an
//!   answer ([`BackendClient::send`]);
//! - classifies every failure as the spec says ([`BackendError`]), and
//!   spaces retries ([`Backoff`]);
//! - never logs or prints the secret, a signature, a body or a fiscal code.
//!
//! Architecture invariant: this crate knows nothing of the journal, the
//! outbox or the devices; it only speaks HTTP to the backend.
//!
//! ```no_run
//! # async fn demo() -> Result<(), pos_backend::BackendError> {
//! use std::time::Duration;
//! use pos_backend::{BackendClient, ClientOptions, Credentials, Secret};
//!
//! let client = BackendClient::new(ClientOptions {
//!     base_url: "https://servizi-scuola.comune.example/api".into(),
//!     timeout: Duration::from_millis(5000),
//!     ca_file: None,
//!     user_agent: "pos-agent/0.3.0".into(),
//! })?
//! .with_credentials(Credentials {
//!     terminal_id: "T-000123".into(),
//!     secret: Secret::from_base64("MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=")?,
//! });
//! let code = client.payment_code("1234567890123").await?;
//! println!("{} {}", code.consumer.display_name, code.balance_cents);
//! # Ok(()) }
//! ```

#![warn(missing_docs)]

mod auth;
mod backoff;
mod client;
mod error;
mod idempotency;
mod prepared;
mod types;

pub use auth::{
    body_hash, format_timestamp, sign, string_to_sign, verify, Credentials, Secret, SECRET_LEN,
};
pub use backoff::Backoff;
pub use client::{
    encode_path_segment, Answer, BackendClient, ClientOptions, RawAnswer, MAX_BODY_BYTES,
};
pub use error::{parse_retry_after, BackendError, RETRY_AFTER_CAP};
pub use idempotency::{idempotency_key, item_of_key, KeyPurpose};
pub use prepared::{PreparedRequest, ACTIVATE_PATH, CLOSURES_PATH, OUTCOME_PATH, RECHARGES_PATH};
pub use types::{
    rfc3339_utc, ActivateRequest, ActivateResponse, ClosureRequest, ClosureResponse, Consumer,
    Creditor, EnrollRequest, EnrollResponse, HealthResponse, KeysResponse, Limits, Location,
    NoticeStatus, NoticeVerifyRequest, NoticeVerifyResponse, OutcomeRequest, OutcomeResponse,
    Payer, PayerLookup, PaymentCode, Psp, PublicKey, RechargeRequest, RechargeResponse, Service,
};
