//! The client against small axum servers started inside each test: what
//! goes on the wire (signature, headers, exact bytes, percent-encoding) and
//! how every kind of answer is classified.

mod common;

use std::time::Duration;

use common::*;
use pos_backend::*;
use serde_json::json;
use time::macros::datetime;

#[tokio::test]
async fn health_is_unsigned_and_gives_server_time() {
    let (base, seen) =
        serve(|_| Reply::json(200, json!({"status": "ok", "time": "2026-11-22T10:15:00Z"}))).await;
    let h = client(&base).health().await.unwrap();
    assert_eq!(h.status, "ok");
    assert_eq!(h.time, datetime!(2026-11-22 10:15:00 UTC));
    let seen = seen.lock().unwrap();
    assert_eq!(seen[0].target, "/v1/health");
    assert!(seen[0].headers.get("x-signature").is_none());
    assert!(seen[0].headers.get("x-terminal-id").is_none());
    assert_eq!(header(&seen[0], "user-agent"), Some("pos-agent/test"));
}

#[tokio::test]
async fn keys_signed_with_base_url_prefix_and_raw_text_kept() {
    let raw = r#"{"keys": [{"kid": "k1", "alg": "Ed25519", "public_key": "AAAA", "not_before": "2026-01-01T00:00:00Z", "not_after": "2027-12-31T23:59:59Z"}], "extra": 1}"#;
    let (base, seen) = serve(move |_| Reply {
        status: 200,
        headers: vec![],
        body: raw.to_string(),
        delay: Duration::ZERO,
    })
    .await;
    let c = client(&format!("{base}/api"));
    let keys = c.keys().await.unwrap();
    assert_eq!(keys.keys[0].kid, "k1");
    assert_eq!(c.keys_raw().await.unwrap(), raw);
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 2);
    for s in seen.iter() {
        assert_eq!(s.method, "GET");
        assert_eq!(s.target, "/api/v1/keys");
        assert!(s.body.is_empty());
        assert_signed(s);
    }
}

#[tokio::test]
async fn signed_call_without_credentials_is_config_error() {
    let (base, seen) = serve(|_| Reply::json(200, json!({"keys": []}))).await;
    let c = BackendClient::new(ClientOptions {
        base_url: base,
        timeout: Duration::from_secs(5),
        ca_file: None,
        user_agent: "t".into(),
    })
    .unwrap();
    assert_eq!(c.terminal_id(), None);
    assert!(matches!(c.keys().await, Err(BackendError::Config(_))));
    assert!(seen.lock().unwrap().is_empty());
}

#[tokio::test]
async fn payment_code_is_one_percent_encoded_segment_and_signed_as_sent() {
    let (base, seen) = serve(|s| Reply::json(200, payment_code_json(&s.target))).await;
    let c = client(&format!("{base}/api/"));
    let code = "eyJ.ab/c?d%e#f g.h";
    let p = c.payment_code(code).await.unwrap();
    assert!(p.is_active());
    assert_eq!(p.consumer.display_name, "M*** R***");
    {
        let seen = seen.lock().unwrap();
        assert_eq!(
            seen[0].target,
            "/api/v1/payment-codes/eyJ.ab%2Fc%3Fd%25e%23f%20g.h"
        );
        assert_signed(&seen[0]);
    }
    // A plain manual code goes as is.
    c.payment_code("1234567890123").await.unwrap();
    assert_eq!(
        seen.lock().unwrap()[1].target,
        "/api/v1/payment-codes/1234567890123"
    );
    // Dot segments would be normalized away: refused before sending.
    for bad in ["", ".", ".."] {
        assert!(matches!(
            c.payment_code(bad).await,
            Err(BackendError::Invalid(_))
        ));
    }
    assert_eq!(seen.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn payer_lookup_sends_fiscal_code_in_body_only() {
    let (base, seen) = serve(|_| {
        Reply::json(
            200,
            json!({"payer": {"display_name": "M*** R***"}, "codes": [payment_code_json("1234567890123")]}),
        )
    })
    .await;
    let r = client(&base)
        .lookup_payer("RSSMRA85T10A562S")
        .await
        .unwrap();
    assert_eq!(r.payer.display_name, "M*** R***");
    assert_eq!(r.codes.len(), 1);
    let seen = seen.lock().unwrap();
    assert_eq!(seen[0].method, "POST");
    assert_eq!(seen[0].target, "/v1/payers/lookup");
    assert!(!seen[0].target.contains("RSSMRA"));
    assert_eq!(header(&seen[0], "content-type"), Some("application/json"));
    let body: serde_json::Value = serde_json::from_slice(&seen[0].body).unwrap();
    assert_eq!(body, json!({"fiscal_code": "RSSMRA85T10A562S"}));
    assert_signed(&seen[0]);
}

#[tokio::test]
async fn verify_notice_has_no_idempotency_key() {
    let (base, seen) = serve(|_| {
        Reply::json(
            200,
            json!({"status": "payable", "amount_cents": 2550, "description": "Mensa novembre 2026",
                "due_date": "2026-12-15", "creditor": {"fiscal_code": "00514490010", "name": "Comune di Balangero"}}),
        )
    })
    .await;
    let n = client(&base)
        .verify_notice(&NoticeVerifyRequest {
            creditor_fiscal_code: "00514490010".into(),
            notice_number: "301000000000012373".into(),
        })
        .await
        .unwrap();
    assert_eq!(n.status, NoticeStatus::Payable);
    assert_eq!(n.amount_cents, 2550);
    let seen = seen.lock().unwrap();
    assert_eq!(seen[0].target, "/v1/notices/verify");
    assert!(seen[0].headers.get("idempotency-key").is_none());
    assert_signed(&seen[0]);
}

#[tokio::test]
async fn enroll_is_unsigned() {
    let secret = Secret::from_bytes([5; 32]);
    let b64 = secret.to_base64();
    let (base, seen) = serve(move |_| {
        Reply::json(
            201,
            json!({"terminal_id": "T-000123", "secret": b64,
                "psp": {"id": "PSP-LIS", "name": "PuntoLIS"},
                "location": {"name": "Tabaccheria Rossi", "address": "Via Roma 1, Balangero"}}),
        )
    })
    .await;
    let c = BackendClient::new(ClientOptions {
        base_url: base,
        timeout: Duration::from_secs(5),
        ca_file: None,
        user_agent: "t".into(),
    })
    .unwrap();
    let e = c
        .enroll(&EnrollRequest {
            activation_code: "K7QF-2M9X-HT4P".into(),
            agent_version: "0.3.0".into(),
            hostname: "tabacchi-rossi".into(),
        })
        .await
        .unwrap();
    assert_eq!(e.credentials().secret, secret);
    assert_eq!(e.location.name, "Tabaccheria Rossi");
    let c = c.with_credentials(e.credentials());
    assert_eq!(c.terminal_id(), Some("T-000123"));
    let seen = seen.lock().unwrap();
    assert_eq!(seen[0].target, "/v1/terminals/enroll");
    assert!(seen[0].headers.get("x-signature").is_none());
}

#[tokio::test]
async fn send_replays_identical_bytes_and_key_and_treats_201_200_alike() {
    let (base, seen) = serve(|_| {
        Reply::json(
            201,
            json!({"recharge_id": "R-99812", "status": "credited", "balance_cents": 3250}),
        )
    })
    .await;
    // Second server answering 200, as a repeat may.
    let (base200, seen200) = serve(|_| {
        Reply::json(
            200,
            json!({"recharge_id": "R-99812", "status": "credited", "balance_cents": 3250}),
        )
    })
    .await;
    let prepared = PreparedRequest::recharge(&recharge_request());
    // Stored and reloaded, as the outbox does.
    let stored = serde_json::to_string(&prepared).unwrap();
    let reloaded: PreparedRequest = serde_json::from_str(&stored).unwrap();

    let c = client(&format!("{base}/api"));
    let a1 = c.send(&prepared).await.unwrap();
    let a2 = c.send(&reloaded).await.unwrap();
    assert_eq!(a1.status, 201);
    let r1: RechargeResponse = a1.parse().unwrap();
    let r2: RechargeResponse = a2.parse().unwrap();
    assert_eq!(r1, r2);
    assert_eq!(r1.balance_cents, 3250);

    let a3 = client(&base200).send(&prepared).await.unwrap();
    assert_eq!(a3.status, 200);
    assert_eq!(a3.parse::<RechargeResponse>().unwrap(), r1);

    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 2);
    for s in seen.iter() {
        assert_eq!(s.method, "POST");
        assert_eq!(s.target, "/api/v1/recharges");
        assert_eq!(&s.body[..], &prepared.body[..]);
        assert_eq!(
            header(s, "idempotency-key"),
            Some("0b7c1d2e-0000-4000-8000-00000000002a")
        );
        assert_eq!(header(s, "content-type"), Some("application/json"));
        assert_signed(s);
    }
    assert_eq!(seen[0].body, seen[1].body);
    assert_eq!(seen200.lock().unwrap()[0].body, seen[0].body);
}

#[tokio::test]
async fn notice_steps_and_closure_answers_parse() {
    let (base, seen) = serve(|s| match s.target.as_str() {
        "/v1/notices/activate" => Reply::json(
            200,
            json!({"payment_token": "pt_7f1c", "expires_at": "2026-11-22T10:31:00Z"}),
        ),
        "/v1/notices/outcome" => Reply::json(200, json!({"status": "recorded"})),
        "/v1/closures" => Reply::json(
            200,
            json!({"status": "mismatch", "server_count": 36, "server_total_cents": 89500}),
        ),
        _ => Reply::error(404, "not_found"),
    })
    .await;
    let c = client(&base);
    let act = c
        .send(&PreparedRequest::activate(
            "tx9",
            &ActivateRequest {
                creditor_fiscal_code: "00514490010".into(),
                notice_number: "301000000000012373".into(),
                amount_cents: 2550,
            },
        ))
        .await
        .unwrap()
        .parse::<ActivateResponse>()
        .unwrap();
    assert_eq!(act.payment_token, "pt_7f1c");
    assert_eq!(act.expires_at, datetime!(2026-11-22 10:31:00 UTC));
    let out = c
        .send(&PreparedRequest::outcome(
            "tx9",
            &OutcomeRequest::Ko {
                payment_token: act.payment_token.clone(),
                reason: None,
            },
        ))
        .await
        .unwrap()
        .parse::<OutcomeResponse>()
        .unwrap();
    assert_eq!(out.status, "recorded");
    let clo = c
        .send(&PreparedRequest::closure(&ClosureRequest {
            closure_id: "T-000123/2026-11-22/1".into(),
            from: datetime!(2026-11-22 07:00 UTC),
            to: datetime!(2026-11-22 19:00 UTC),
            count: 37,
            total_cents: 91500,
            first_receipt: Some("T-000123/2026/000006".into()),
            last_receipt: Some("T-000123/2026/000042".into()),
            journal_entries: 1204,
            journal_head: "9f2c00e1".into(),
        }))
        .await
        .unwrap()
        .parse::<ClosureResponse>()
        .unwrap();
    assert_eq!(
        clo,
        ClosureResponse::Mismatch {
            server_count: 36,
            server_total_cents: 89500
        }
    );
    let seen = seen.lock().unwrap();
    assert_eq!(header(&seen[0], "idempotency-key"), Some("tx9:activate"));
    assert_eq!(header(&seen[1], "idempotency-key"), Some("tx9:outcome"));
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&seen[1].body).unwrap(),
        json!({"outcome": "KO", "payment_token": "pt_7f1c"})
    );
    assert_eq!(
        header(&seen[2], "idempotency-key"),
        Some("T-000123/2026-11-22/1")
    );
    for s in seen.iter() {
        assert_signed(s);
    }
}

#[tokio::test]
async fn error_classes_from_statuses() {
    let (base, _seen) = serve(|s| {
        let tail = s.target.rsplit('/').next().unwrap_or("").to_string();
        match tail.as_str() {
            "c429" => {
                let mut r = Reply::error(429, "rate_limited");
                r.headers.push(("retry-after", "7".into()));
                r
            }
            "c429date" => {
                let mut r = Reply::error(429, "rate_limited");
                r.headers
                    .push(("retry-after", "Wed, 21 Oct 2015 07:28:00 GMT".into()));
                r
            }
            "c503" => Reply {
                status: 503,
                headers: vec![],
                body: "<html>maintenance</html>".into(),
                delay: Duration::ZERO,
            },
            "c401" => Reply::error(401, "clock_skew"),
            "c404" => Reply::error(404, "unknown_code"),
            "c410" => Reply::error(410, "code_revoked"),
            "c418" => Reply::error(418, "teapot_rule"),
            "c302" => {
                let mut r = Reply::json(302, json!({}));
                r.headers.push(("location", "http://127.0.0.1:1/".into()));
                r
            }
            _ => Reply::error(500, "boom"),
        }
    })
    .await;
    let c = client(&base);

    let e = c.payment_code("c429").await.unwrap_err();
    assert!(e.is_transient());
    assert!(
        matches!(&e, BackendError::Transient { retry_after: Some(d), .. } if *d == Duration::from_secs(7))
    );

    let e = c.payment_code("c429date").await.unwrap_err();
    assert!(matches!(
        &e,
        BackendError::Transient {
            retry_after: None,
            ..
        }
    ));

    let e = c.payment_code("c503").await.unwrap_err();
    assert!(matches!(&e, BackendError::Transient { .. }), "{e:?}");

    let e = c.payment_code("c500").await.unwrap_err();
    assert!(matches!(&e, BackendError::Transient { .. }), "{e:?}");

    let e = c.payment_code("c401").await.unwrap_err();
    assert!(matches!(&e, BackendError::Auth { code, .. } if code == "clock_skew"));
    assert_eq!(e.code(), Some("clock_skew"));
    assert!(!e.is_transient());

    let e = c.payment_code("c404").await.unwrap_err();
    assert!(
        matches!(&e, BackendError::Permanent { status: 404, code, .. } if code == "unknown_code")
    );
    let e = c.payment_code("c410").await.unwrap_err();
    assert_eq!((e.status(), e.code()), (Some(410), Some("code_revoked")));
    // Unknown code, unlisted 4xx: permanent by status.
    let e = c.payment_code("c418").await.unwrap_err();
    assert!(matches!(&e, BackendError::Permanent { status: 418, .. }));

    // Redirects are not followed (the signature covers one path).
    let e = c.payment_code("c302").await.unwrap_err();
    assert!(
        matches!(&e, BackendError::BadResponse { status: 302, .. }),
        "{e:?}"
    );
}

#[tokio::test]
async fn recharge_refusals_keep_details() {
    let (base, _seen) = serve(|s| {
        let body: serde_json::Value = serde_json::from_slice(&s.body).unwrap();
        if body["amount_cents"] == 2000 {
            Reply::json(
                409,
                json!({"error": {"code": "already_credited", "message": "gia' accreditata",
                    "retryable": false, "recharge_id": "R-99812"}}),
            )
        } else {
            Reply::error(422, "amount_out_of_range")
        }
    })
    .await;
    let c = client(&base);
    let e = c
        .send(&PreparedRequest::recharge(&recharge_request()))
        .await
        .unwrap_err();
    assert_eq!(e.already_credited_recharge_id(), Some("R-99812"));
    match &e {
        BackendError::Permanent {
            status,
            code,
            details,
            ..
        } => {
            assert_eq!(*status, 409);
            assert_eq!(code, "already_credited");
            assert_eq!(details["recharge_id"], "R-99812");
        }
        other => panic!("{other:?}"),
    }
    let mut big = recharge_request();
    big.amount_cents = 999_999;
    let e = c.send(&PreparedRequest::recharge(&big)).await.unwrap_err();
    assert!(
        matches!(&e, BackendError::Permanent { status: 422, code, .. } if code == "amount_out_of_range")
    );
    assert!(!e.is_transient());
    assert_eq!(e.already_credited_recharge_id(), None);
}

#[tokio::test]
async fn timeout_is_transient() {
    let (base, _seen) = serve(|_| {
        let mut r = Reply::json(200, json!({"status": "ok", "time": "2026-11-22T10:15:00Z"}));
        r.delay = Duration::from_secs(3);
        r
    })
    .await;
    let c = client_with_timeout(&base, Duration::from_millis(300));
    let started = std::time::Instant::now();
    let e = c.health().await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(matches!(&e, BackendError::Transient { .. }), "{e:?}");
    assert!(e.to_string().contains("timed out"), "{e}");
    // Same for a state-changing request.
    let e = c
        .send(&PreparedRequest::recharge(&recharge_request()))
        .await
        .unwrap_err();
    assert!(e.is_transient());
}

#[tokio::test]
async fn connection_refused_is_transient() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let c = client(&format!("http://127.0.0.1:{port}"));
    let e = c.payment_code("1234567890123").await.unwrap_err();
    assert!(matches!(&e, BackendError::Transient { .. }), "{e:?}");
    // The transport error text does not carry the URL (the code is in it).
    assert!(!e.to_string().contains("1234567890123"), "{e}");
    let e = c
        .send(&PreparedRequest::recharge(&recharge_request()))
        .await
        .unwrap_err();
    assert!(e.is_transient());
}

#[tokio::test]
async fn garbage_json_is_bad_response_without_panic() {
    let (base, _seen) = serve(|s| {
        let body = match s.target.as_str() {
            "/v1/recharges" => "{\"recharge_id\": ",
            "/v1/closures" => "{\"status\": \"bizarre\"}",
            "/v1/payment-codes/wrongshape" => "{\"code\": 5}",
            _ => "<<<not json>>>",
        };
        Reply {
            status: 200,
            headers: vec![],
            body: body.into(),
            delay: Duration::ZERO,
        }
    })
    .await;
    let c = client(&base);
    let e = c.payment_code("1234567890123").await.unwrap_err();
    assert!(
        matches!(&e, BackendError::BadResponse { status: 200, .. }),
        "{e:?}"
    );
    assert!(e.is_transient());
    let e = c.payment_code("wrongshape").await.unwrap_err();
    assert!(
        matches!(&e, BackendError::BadResponse { status: 200, .. }),
        "{e:?}"
    );
    assert!(matches!(
        c.keys().await,
        Err(BackendError::BadResponse { .. })
    ));
    assert!(matches!(
        c.health().await,
        Err(BackendError::BadResponse { .. })
    ));
    let e = c
        .send(&PreparedRequest::recharge(&recharge_request()))
        .await
        .unwrap_err();
    assert!(
        matches!(&e, BackendError::BadResponse { status: 200, .. }),
        "{e:?}"
    );
    // JSON, but not a closure answer: the typed parse says BadResponse.
    let a = c
        .send(&PreparedRequest::closure(&ClosureRequest {
            closure_id: "T-000123/2026-11-22/2".into(),
            from: datetime!(2026-11-22 07:00 UTC),
            to: datetime!(2026-11-22 19:00 UTC),
            count: 0,
            total_cents: 0,
            first_receipt: None,
            last_receipt: None,
            journal_entries: 1204,
            journal_head: "9f2c00e1".into(),
        }))
        .await
        .unwrap();
    let e = a.parse::<ClosureResponse>().unwrap_err();
    assert!(
        matches!(&e, BackendError::BadResponse { status: 200, .. }),
        "{e:?}"
    );
    assert!(!e.to_string().contains("bizarre"), "{e}");
}

/// A 2xx whose body is cut by the connection closing: the request may have
/// been applied and the answer is lost, so it is transient.
#[tokio::test]
async fn broken_body_after_2xx_is_transient() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        for _ in 0..2 {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let mut buf = vec![0u8; 65536];
            // Read the request head and body (small), then answer half.
            let _ = tokio::time::timeout(Duration::from_millis(300), sock.read(&mut buf)).await;
            let _ = sock
                .write_all(
                    b"HTTP/1.1 201 Created\r\ncontent-type: application/json\r\ncontent-length: 200\r\n\r\n{\"recharge_id\": \"R-1\"",
                )
                .await;
            let _ = sock.flush().await;
            drop(sock);
        }
    });
    let c = client(&format!("http://{addr}"));
    let e = c
        .send(&PreparedRequest::recharge(&recharge_request()))
        .await
        .unwrap_err();
    assert!(matches!(&e, BackendError::Transient { .. }), "{e:?}");
}

#[test]
fn ca_file_with_pem_certificate_is_accepted() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/test-ca.pem");
    let c = BackendClient::new(ClientOptions {
        base_url: "https://servizi-scuola.comune.example/api".into(),
        timeout: Duration::from_secs(5),
        ca_file: Some(path),
        user_agent: "t".into(),
    });
    assert!(c.is_ok(), "{c:?}");
}
