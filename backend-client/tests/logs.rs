//! Logs show method, path, status and duration; never the secret, the
//! signature, a body, a fiscal code or a payment code. In its own test
//! binary so no other test thread races the scoped subscriber.

mod common;

use std::sync::{Arc, Mutex};

use common::*;
use pos_backend::*;
use serde_json::json;

/// Shared buffer for captured log output.
#[derive(Clone, Default)]
struct LogBuf(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for LogBuf {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogBuf {
    type Writer = LogBuf;
    fn make_writer(&'a self) -> LogBuf {
        self.clone()
    }
}

/// Logs show method, path, status and duration; never the secret, the
/// signature, a body, a fiscal code or a payment code.
#[test]
fn logs_carry_no_secrets() {
    let buf = LogBuf::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(buf.clone())
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .finish();
    let signatures = Arc::new(Mutex::new(Vec::<String>::new()));
    let sigs = signatures.clone();
    tracing::subscriber::with_default(subscriber, || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let (base, seen) = serve(|s| match s.target.as_str() {
                "/v1/payers/lookup" => Reply::json(
                    200,
                    json!({"payer": {"display_name": "M*** R***"}, "codes": [payment_code_json("1234567890123")]}),
                ),
                "/v1/recharges" => Reply::error(503, "maintenance"),
                _ => Reply::json(200, payment_code_json("x")),
            })
            .await;
            let c = client(&base);
            c.lookup_payer("RSSMRA85T10A562S").await.unwrap();
            c.payment_code("eyJSECRETTOKEN.payload.sig").await.unwrap();
            let _ = c.send(&PreparedRequest::recharge(&recharge_request())).await;
            for s in seen.lock().unwrap().iter() {
                sigs.lock()
                    .unwrap()
                    .push(header(s, "x-signature").unwrap().to_string());
            }
        });
    });
    let logs = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("/v1/payers/lookup"), "{logs}");
    assert!(logs.contains("/v1/payment-codes/{code}"), "{logs}");
    assert!(logs.contains("status=200"), "{logs}");
    assert!(logs.contains("status=503"), "{logs}");
    assert!(logs.contains("elapsed_ms"), "{logs}");
    for forbidden in [
        "RSSMRA85T10A562S",
        "eyJSECRETTOKEN",
        "1234567890123",
        "transaction_id",
        &Secret::from_bytes(SECRET_BYTES).to_base64(),
        "s3cr3t",
    ] {
        assert!(!logs.contains(forbidden), "{forbidden} leaked: {logs}");
    }
    let sigs = signatures.lock().unwrap();
    assert_eq!(sigs.len(), 3);
    for sig in sigs.iter() {
        assert!(!logs.contains(&sig[3..]), "signature leaked");
    }
}
