//! The HTTP client: URL building, signing, sending, classifying answers.
//!
//! Every call goes through [`BackendClient::execute`], which
//! 1. builds the URL from the base URL (prefix kept) and the `/v1/...` path,
//! 2. signs the request target exactly as it will go on the wire,
//! 3. reads the answer (bounded) and classifies it (`error.rs`),
//! 4. logs method, a path safe to log, status and duration: never the
//!    secret, the signature, a body or a fiscal code.

use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use reqwest::header::{HeaderMap, HeaderValue, ACCEPT, CONTENT_TYPE};
use reqwest::{Method, Url};
use serde::de::DeserializeOwned;
use serde::Serialize;
use time::OffsetDateTime;

use crate::auth::{format_timestamp, sign, Credentials};
use crate::error::{classify_error, describe_json_error, BackendError};
use crate::prepared::PreparedRequest;
use crate::types::{
    EnrollRequest, EnrollResponse, HealthResponse, KeysResponse, NoticeVerifyRequest,
    NoticeVerifyResponse, PayerLookup, PayerLookupRequest, PaymentCode,
};

/// Largest answer body read; a bigger one is a `BadResponse`, so a broken
/// server cannot exhaust the counter's memory.
pub const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

/// Everything in a path segment except RFC 3986 unreserved characters
/// (`A-Z a-z 0-9 - . _ ~`) is percent-encoded: a token's `.` stays, `/`,
/// `?`, `%`, `#`, space and non-ASCII do not.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Encodes `value` as one path segment.
pub fn encode_path_segment(value: &str) -> String {
    utf8_percent_encode(value, SEGMENT).to_string()
}

/// How to reach the backend (`[backend]` of the config).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientOptions {
    /// e.g. `https://servizi-scuola.comune.example/api`; `/v1/...` is
    /// appended. Plain `http` only for loopback hosts.
    pub base_url: String,
    /// Whole-request timeout (connect, send, read the answer).
    pub timeout: Duration,
    /// Extra PEM root certificates, added to the built-in ones.
    pub ca_file: Option<PathBuf>,
    /// Sent as `User-Agent` (`pos-agent/0.3.0`), so the municipality can
    /// tell which agent versions its counters run.
    pub user_agent: String,
}

/// A 2xx answer to a [`PreparedRequest`]: 200 and 201 are alike.
#[derive(Clone, Debug, PartialEq)]
pub struct Answer {
    /// 200 or 201 (or another 2xx): callers treat them alike, since a repeat
    /// of a first 201 may come back as 200.
    pub status: u16,
    /// The answer as JSON (`Null` for an empty body), kept untyped so the
    /// outbox can store it whole and parse it later with [`Answer::parse`].
    pub body: serde_json::Value,
}

impl Answer {
    /// Parses the body as one of the typed answers (`RechargeResponse`,
    /// `ActivateResponse`, `OutcomeResponse`, `ClosureResponse`). A body not
    /// shaped as the spec says is `BadResponse` (transient by policy: the
    /// request may have been applied; replaying the key is safe).
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T, BackendError> {
        T::deserialize(&self.body).map_err(|e| BackendError::BadResponse {
            status: self.status,
            reason: describe_json_error(&e),
        })
    }
}

/// Client of the municipal backend. Cheap to clone (the connection pool and
/// credentials are shared).
#[derive(Clone)]
pub struct BackendClient {
    http: reqwest::Client,
    /// Base URL without a trailing slash, e.g. `http://127.0.0.1:8080/api`.
    base: Arc<str>,
    credentials: Option<Arc<Credentials>>,
}

impl fmt::Debug for BackendClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BackendClient")
            .field("base", &self.base)
            .field("terminal_id", &self.terminal_id())
            .finish()
    }
}

/// True for `localhost` and loopback IP literals (127.0.0.0/8, `[::1]`).
fn is_loopback(url: &Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// The request target as it goes on the wire: path, then `?query`.
fn path_and_query(url: &Url) -> String {
    match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_string(),
    }
}

/// Describes a transport error without its URL (a payment code may be in
/// the path) and with its causes (why the connection failed).
fn describe_transport(e: reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else if e.is_body() || e.is_decode() {
        "connection broken while reading the answer"
    } else {
        "connection error"
    };
    let e = e.without_url();
    let mut text = kind.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

impl BackendClient {
    /// Builds a client. Refuses URLs that are not http(s), carry a query,
    /// a fragment or user info, plain http to a non-loopback host, a zero
    /// timeout, and a CA file that cannot be read or holds no certificate.
    pub fn new(opts: ClientOptions) -> Result<BackendClient, BackendError> {
        let url = Url::parse(opts.base_url.trim())
            .map_err(|e| BackendError::Config(format!("backend.url {:?}: {e}", opts.base_url)))?;
        let loopback = is_loopback(&url);
        match url.scheme() {
            "https" => {}
            "http" if loopback => {}
            "http" => {
                return Err(BackendError::Config(format!(
                "backend.url {:?}: plain http is allowed only for loopback addresses; use https",
                opts.base_url
            )))
            }
            other => {
                return Err(BackendError::Config(format!(
                    "backend.url {:?}: scheme {other:?} is not http or https",
                    opts.base_url
                )))
            }
        }
        if url.host().is_none() {
            return Err(BackendError::Config(format!(
                "backend.url {:?}: no host",
                opts.base_url
            )));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(BackendError::Config(format!(
                "backend.url {:?}: must not have a query or fragment",
                opts.base_url
            )));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(BackendError::Config(format!(
                "backend.url {:?}: must not carry user credentials",
                url.host_str().unwrap_or_default()
            )));
        }
        if opts.timeout.is_zero() {
            return Err(BackendError::Config(
                "backend.timeout_ms must be more than 0".into(),
            ));
        }

        let mut builder = reqwest::Client::builder()
            .use_rustls_tls()
            .timeout(opts.timeout)
            .connect_timeout(opts.timeout)
            .user_agent(opts.user_agent.clone())
            // A redirect would be signed for the wrong path and could carry
            // the request elsewhere: a 3xx is an unexpected answer instead.
            .redirect(reqwest::redirect::Policy::none());
        if loopback {
            builder = builder.no_proxy();
        }
        if let Some(path) = &opts.ca_file {
            let pem = std::fs::read(path).map_err(|e| {
                BackendError::Config(format!("backend.ca_file {}: {e}", path.display()))
            })?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
                BackendError::Config(format!("backend.ca_file {}: {e}", path.display()))
            })?;
            if certs.is_empty() {
                return Err(BackendError::Config(format!(
                    "backend.ca_file {}: no PEM certificate found",
                    path.display()
                )));
            }
            for cert in certs {
                builder = builder.add_root_certificate(cert);
            }
        }
        let http = builder
            .build()
            .map_err(|e| BackendError::Config(format!("HTTP client: {e}")))?;

        let base = url.as_str().trim_end_matches('/').to_string();
        Ok(BackendClient {
            http,
            base: base.into(),
            credentials: None,
        })
    }

    /// Signs every request (except health and enroll) with these
    /// credentials from now on.
    pub fn with_credentials(mut self, credentials: Credentials) -> Self {
        self.credentials = Some(Arc::new(credentials));
        self
    }

    /// The enrolled terminal's id, if credentials were given.
    pub fn terminal_id(&self) -> Option<&str> {
        self.credentials.as_deref().map(|c| c.terminal_id.as_str())
    }

    /// The base URL in use (no trailing slash).
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// Full URL for a path relative to the base URL.
    fn url_for(&self, path: &str) -> Result<Url, BackendError> {
        if !path.starts_with('/') {
            return Err(BackendError::Invalid(format!(
                "path {path:?} does not start with '/'"
            )));
        }
        Url::parse(&format!("{}{path}", self.base))
            .map_err(|e| BackendError::Invalid(format!("cannot build URL: {e}")))
    }

    /// Sends one request and returns the status and body of a 2xx answer;
    /// any other outcome is classified into a [`BackendError`].
    /// `log_path` is what the logs show instead of the real path.
    async fn execute(
        &self,
        method: Method,
        path: &str,
        log_path: &str,
        body: Option<Vec<u8>>,
        idempotency_key: Option<&str>,
        signed: bool,
    ) -> Result<(u16, Vec<u8>), BackendError> {
        let url = self.url_for(path)?;
        let body_bytes: &[u8] = body.as_deref().unwrap_or(&[]);

        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        if body.is_some() {
            headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        }
        if let Some(key) = idempotency_key {
            let value = HeaderValue::from_str(key).map_err(|_| {
                BackendError::Invalid("idempotency key is not a valid header value".into())
            })?;
            headers.insert("idempotency-key", value);
        }
        if signed {
            let creds = self.credentials.as_deref().ok_or_else(|| {
                BackendError::Config("terminal not enrolled: no credentials to sign with".into())
            })?;
            let timestamp = format_timestamp(OffsetDateTime::now_utc());
            let signature = sign(
                &creds.secret,
                method.as_str(),
                &path_and_query(&url),
                &timestamp,
                body_bytes,
            );
            let terminal = HeaderValue::from_str(&creds.terminal_id).map_err(|_| {
                BackendError::Config("terminal id is not a valid header value".into())
            })?;
            headers.insert("x-terminal-id", terminal);
            headers.insert(
                "x-timestamp",
                HeaderValue::from_str(&timestamp)
                    .expect("timestamp is ASCII digits and punctuation"),
            );
            let mut sig =
                HeaderValue::from_str(&signature).expect("signature is ASCII hex with a prefix");
            sig.set_sensitive(true);
            headers.insert("x-signature", sig);
        }

        let mut request = self.http.request(method.clone(), url).headers(headers);
        if let Some(b) = body {
            request = request.body(b);
        }

        let started = Instant::now();
        let mut response = match request.send().await {
            Ok(r) => r,
            Err(e) => {
                let elapsed_ms = started.elapsed().as_millis() as u64;
                if e.is_builder() {
                    return Err(BackendError::Config(format!(
                        "cannot build request: {}",
                        e.without_url()
                    )));
                }
                let reason = describe_transport(e);
                tracing::warn!(method = %method, path = log_path, elapsed_ms, error = %reason, "backend request failed");
                return Err(BackendError::Transient {
                    reason,
                    retry_after: None,
                    status: None,
                });
            }
        };
        let status = response.status().as_u16();
        let answer_headers = response.headers().clone();

        let mut bytes = Vec::new();
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    if bytes.len() + chunk.len() > MAX_BODY_BYTES {
                        tracing::warn!(method = %method, path = log_path, status, "backend answer too large");
                        return Err(BackendError::BadResponse {
                            status,
                            reason: format!("answer larger than {MAX_BODY_BYTES} bytes"),
                        });
                    }
                    bytes.extend_from_slice(&chunk);
                }
                Ok(None) => break,
                Err(e) => {
                    let elapsed_ms = started.elapsed().as_millis() as u64;
                    let reason = format!("HTTP {status}, then {}", describe_transport(e));
                    tracing::warn!(method = %method, path = log_path, status, elapsed_ms, error = %reason, "backend answer cut");
                    // The status came, the body did not: the answer was lost.
                    return Err(BackendError::Transient {
                        reason,
                        retry_after: None,
                        status: None,
                    });
                }
            }
        }
        let elapsed_ms = started.elapsed().as_millis() as u64;

        if (200..300).contains(&status) {
            tracing::info!(method = %method, path = log_path, status, elapsed_ms, "backend request");
            Ok((status, bytes))
        } else {
            let err = classify_error(status, &answer_headers, &bytes);
            tracing::warn!(
                method = %method,
                path = log_path,
                status,
                elapsed_ms,
                code = err.code().unwrap_or(""),
                transient = err.is_transient(),
                "backend request refused"
            );
            Err(err)
        }
    }

    /// GET or POST a JSON endpoint and parse its 2xx answer.
    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        log_path: &str,
        body: Option<Vec<u8>>,
        signed: bool,
    ) -> Result<T, BackendError> {
        let (status, bytes) = self
            .execute(method, path, log_path, body, None, signed)
            .await?;
        parse_body(status, &bytes)
    }

    /// `GET /v1/health` (unsigned). `time` is the server's clock, for
    /// reporting skew; requests are still signed with the local clock.
    pub async fn health(&self) -> Result<HealthResponse, BackendError> {
        self.call(Method::GET, "/v1/health", "/v1/health", None, false)
            .await
    }

    /// `POST /v1/terminals/enroll` (unsigned). Not idempotent on the server
    /// (codes are single use): do not replay blindly after a timeout.
    pub async fn enroll(&self, req: &EnrollRequest) -> Result<EnrollResponse, BackendError> {
        let body = json_body(req);
        self.call(
            Method::POST,
            "/v1/terminals/enroll",
            "/v1/terminals/enroll",
            Some(body),
            false,
        )
        .await
    }

    /// `GET /v1/keys`, parsed.
    pub async fn keys(&self) -> Result<KeysResponse, BackendError> {
        Ok(self.keys_with_raw().await?.0)
    }

    /// `GET /v1/keys` as the exact JSON text, for the agent's disk cache.
    /// The text is checked to parse as [`KeysResponse`] first, so a garbage
    /// answer never replaces a good cache.
    pub async fn keys_raw(&self) -> Result<String, BackendError> {
        Ok(self.keys_with_raw().await?.1)
    }

    /// `GET /v1/keys`: both the parsed answer and its exact text.
    pub async fn keys_with_raw(&self) -> Result<(KeysResponse, String), BackendError> {
        let (status, bytes) = self
            .execute(Method::GET, "/v1/keys", "/v1/keys", None, None, true)
            .await?;
        let parsed: KeysResponse = parse_body(status, &bytes)?;
        let text = String::from_utf8(bytes).map_err(|_| BackendError::BadResponse {
            status,
            reason: "answer is not UTF-8".into(),
        })?;
        Ok((parsed, text))
    }

    /// `GET /v1/payment-codes/{code}`: `code` (app token or 13-digit manual
    /// code) travels percent-encoded as one path segment, and the signature
    /// covers the encoded path. The code is not logged.
    pub async fn payment_code(&self, code: &str) -> Result<PaymentCode, BackendError> {
        if code.is_empty() || code == "." || code == ".." {
            // An empty or dot segment would address another resource once
            // URL normalization removes it.
            return Err(BackendError::Invalid(
                "payment code is empty or a dot segment".into(),
            ));
        }
        let path = format!("/v1/payment-codes/{}", encode_path_segment(code));
        self.call(Method::GET, &path, "/v1/payment-codes/{code}", None, true)
            .await
    }

    /// `POST /v1/payers/lookup`: the fiscal code travels in the body only,
    /// and is never logged.
    pub async fn lookup_payer(&self, fiscal_code: &str) -> Result<PayerLookup, BackendError> {
        let body = json_body(&PayerLookupRequest { fiscal_code });
        self.call(
            Method::POST,
            "/v1/payers/lookup",
            "/v1/payers/lookup",
            Some(body),
            true,
        )
        .await
    }

    /// `POST /v1/notices/verify` (reads only, no Idempotency-Key).
    pub async fn verify_notice(
        &self,
        req: &NoticeVerifyRequest,
    ) -> Result<NoticeVerifyResponse, BackendError> {
        let body = json_body(req);
        self.call(
            Method::POST,
            "/v1/notices/verify",
            "/v1/notices/verify",
            Some(body),
            true,
        )
        .await
    }

    /// Sends a prepared state-changing request, signed, with its
    /// Idempotency-Key and exactly its stored bytes. Any 2xx is an
    /// [`Answer`] (200 and 201 alike); parse it with [`Answer::parse`].
    /// An empty 2xx body is `Answer { body: Null }`; a 2xx body that is not
    /// JSON is `BadResponse` (use [`BackendClient::send_raw`] to keep it).
    pub async fn send(&self, req: &PreparedRequest) -> Result<Answer, BackendError> {
        let raw = self.send_raw(req).await?;
        raw.json()
    }

    /// [`BackendClient::send`] without reading the body: any 2xx is a
    /// [`RawAnswer`] holding the exact bytes. The outbox uses it: a 2xx means
    /// the server applied the request, whatever its body looks like, so the
    /// answer is recorded as it came instead of being retried forever.
    pub async fn send_raw(&self, req: &PreparedRequest) -> Result<RawAnswer, BackendError> {
        let method = Method::from_bytes(req.method.as_bytes())
            .map_err(|_| BackendError::Invalid(format!("method {:?}", req.method)))?;
        let (status, body) = self
            .execute(
                method,
                &req.path,
                &req.path,
                Some(req.body.clone()),
                Some(&req.idempotency_key),
                true,
            )
            .await?;
        Ok(RawAnswer { status, body })
    }
}

/// A 2xx answer to a [`PreparedRequest`] as it came: status and body bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawAnswer {
    /// The 2xx status as received.
    pub status: u16,
    /// The body bytes, not parsed: a 2xx means the request was applied
    /// even when the body is garbled, so the caller records it whatever it
    /// holds.
    pub body: Vec<u8>,
}

impl RawAnswer {
    /// The body as JSON: `Null` when empty, `BadResponse` when not JSON.
    pub fn json(&self) -> Result<Answer, BackendError> {
        let body = if self.body.iter().all(u8::is_ascii_whitespace) {
            serde_json::Value::Null
        } else {
            serde_json::from_slice(&self.body).map_err(|e| BackendError::BadResponse {
                status: self.status,
                reason: describe_json_error(&e),
            })?
        };
        Ok(Answer {
            status: self.status,
            body,
        })
    }
}

fn json_body<T: Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value)
        .expect("request bodies are plain structs with string keys: serialization cannot fail")
}

fn parse_body<T: DeserializeOwned>(status: u16, bytes: &[u8]) -> Result<T, BackendError> {
    serde_json::from_slice(bytes).map_err(|e| BackendError::BadResponse {
        status,
        reason: describe_json_error(&e),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(url: &str) -> ClientOptions {
        ClientOptions {
            base_url: url.into(),
            timeout: Duration::from_secs(5),
            ca_file: None,
            user_agent: "pos-agent/test".into(),
        }
    }

    #[test]
    fn segment_encoding() {
        assert_eq!(encode_path_segment("1234567890123"), "1234567890123");
        assert_eq!(
            encode_path_segment("eyJhbGc.eyJzdWI.sig-_~"),
            "eyJhbGc.eyJzdWI.sig-_~"
        );
        assert_eq!(encode_path_segment("a/b?c%d#e f"), "a%2Fb%3Fc%25d%23e%20f");
        assert_eq!(encode_path_segment("x+y=z&è"), "x%2By%3Dz%26%C3%A8");
    }

    #[test]
    fn http_only_for_loopback() {
        for ok in [
            "http://127.0.0.1:8080/api",
            "http://localhost:1",
            "http://[::1]:9/",
            "http://127.3.4.5",
            "https://servizi-scuola.comune.example/api",
        ] {
            assert!(BackendClient::new(opts(ok)).is_ok(), "{ok}");
        }
        for bad in [
            "http://servizi-scuola.comune.example/api",
            "http://10.0.0.1",
            "ftp://127.0.0.1",
            "not a url",
            "https://h/api?x=1",
            "https://user:pw@h/api",
        ] {
            assert!(
                matches!(BackendClient::new(opts(bad)), Err(BackendError::Config(_))),
                "{bad}"
            );
        }
        let mut o = opts("https://h");
        o.timeout = Duration::ZERO;
        assert!(BackendClient::new(o).is_err());
    }

    #[test]
    fn base_url_prefix_and_trailing_slash() {
        let c = BackendClient::new(opts("http://127.0.0.1:8080/api/")).unwrap();
        assert_eq!(c.base_url(), "http://127.0.0.1:8080/api");
        let u = c.url_for("/v1/keys").unwrap();
        assert_eq!(path_and_query(&u), "/api/v1/keys");
        let c = BackendClient::new(opts("http://127.0.0.1:8080")).unwrap();
        assert_eq!(path_and_query(&c.url_for("/v1/keys").unwrap()), "/v1/keys");
        let u = c
            .url_for(&format!(
                "/v1/payment-codes/{}",
                encode_path_segment("a/b c")
            ))
            .unwrap();
        assert_eq!(path_and_query(&u), "/v1/payment-codes/a%2Fb%20c");
    }

    #[test]
    fn ca_file_errors() {
        let dir = std::env::temp_dir().join(format!("pos-backend-ca-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "no certificate here\n").unwrap();
        let mut o = opts("https://h");
        o.ca_file = Some(empty);
        assert!(matches!(
            BackendClient::new(o),
            Err(BackendError::Config(_))
        ));
        let mut o = opts("https://h");
        o.ca_file = Some(dir.join("missing.pem"));
        let err = BackendClient::new(o).unwrap_err().to_string();
        assert!(err.contains("missing.pem"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn debug_shows_no_secret() {
        let c = BackendClient::new(opts("http://127.0.0.1:1"))
            .unwrap()
            .with_credentials(Credentials {
                terminal_id: "T-000123".into(),
                secret: crate::auth::Secret::from_bytes([9; 32]),
            });
        let d = format!("{c:?}");
        assert!(d.contains("T-000123"));
        assert!(!d.contains(&crate::auth::Secret::from_bytes([9; 32]).to_base64()));
        assert_eq!(c.terminal_id(), Some("T-000123"));
    }
}
