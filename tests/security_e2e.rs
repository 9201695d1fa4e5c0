//! Security end to end: loopback by default, every call but status and
//! login needs a token, tokens end (logout, restart, idle expiry), private
//! files, and no fiscal code, secret or token in the agent's logs, events or
//! error bodies during a full run.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use hardware_mocks::demo;
use serde_json::{json, Value};
use support::{Env, Opts};

const SYNC_WAIT: Duration = Duration::from_secs(20);

/// A call that returns the raw body text (to search it for leaks).
async fn raw(
    env: &Env,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, String) {
    let url = format!("{}{}", env.api, path);
    let mut req = match method {
        "GET" => env.http.get(url),
        _ => env.http.post(url),
    };
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.expect("request");
    let status = resp.status().as_u16();
    (status, resp.text().await.expect("body"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_listens_on_loopback_by_default() {
    let default = pos_config::Config::default();
    assert!(
        default.api.listen.ip().is_loopback(),
        "{}",
        default.api.listen
    );
    assert_eq!(default.api.listen.to_string(), "127.0.0.1:7878");
    // A config that does not name api.listen gets the default too.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.toml");
    std::fs::write(
        &path,
        format!(
            "data_dir = \"{}\"\n[backend]\nurl = \"https://comune.example/api\"\n",
            dir.path().join("d").display()
        ),
    )
    .unwrap();
    let c = pos_config::Config::load(&path).expect("minimal config loads");
    assert_eq!(c.api.listen.to_string(), "127.0.0.1:7878");

    let mut env = Env::new().await;
    env.start_agent();
    let addr: std::net::SocketAddr = env
        .api
        .trim_start_matches("http://")
        .parse()
        .expect("listening address");
    assert!(addr.ip().is_loopback(), "{addr}");
    env.kill_agent();

    // Listening on every interface is possible, but warned about.
    let text = std::fs::read_to_string(&env.config_path).unwrap();
    std::fs::write(
        &env.config_path,
        text.replace("listen = \"127.0.0.1:0\"", "listen = \"0.0.0.0:0\""),
    )
    .unwrap();
    env.start_agent();
    let logs = env.logs();
    assert!(
        logs.contains("non-loopback"),
        "no warning for 0.0.0.0:\n{logs}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_call_but_status_and_login_needs_a_valid_token() {
    let mut env = Env::new().await;
    env.start_agent();
    let token = env.login().await;
    // A real transaction and receipt, so that a refusal cannot be a 404.
    let paid = env
        .ready_to_pay(&token, demo::MANUAL_CODE_MENSA_1, 1000)
        .await;
    let receipt = env.pay(&token, &paid, 1000).await["receipt_number"]
        .as_str()
        .unwrap()
        .to_string();
    env.wait_sync(&token, &paid, "confirmed", SYNC_WAIT).await;
    let open = env
        .ready_to_pay(&token, demo::MANUAL_CODE_MENSA_2, 1000)
        .await;
    env.wait_printed(3, Duration::from_secs(10)).await;
    let printed_before = env.printed().len();
    let journal_before = env.status().await["journal"]["entries"].clone();
    let rn = percent_encoding::utf8_percent_encode(&receipt, percent_encoding::NON_ALPHANUMERIC)
        .to_string();

    // Every route of agent-api.md except status and login (plus /scans).
    let today = time::OffsetDateTime::now_utc().date().to_string();
    let routes: Vec<(&str, String, Option<Value>)> = vec![
        ("POST", "/api/v1/logout".into(), None),
        ("GET", "/api/v1/events".into(), None),
        (
            "POST",
            "/api/v1/transactions".into(),
            Some(json!({"input": demo::MANUAL_CODE_MENSA_3})),
        ),
        ("GET", format!("/api/v1/transactions?date={today}"), None),
        ("GET", format!("/api/v1/transactions/{open}"), None),
        (
            "POST",
            format!("/api/v1/transactions/{open}/choose"),
            Some(json!({"code": demo::MANUAL_CODE_MENSA_2})),
        ),
        (
            "POST",
            format!("/api/v1/transactions/{open}/amount"),
            Some(json!({"amount_cents": 2000})),
        ),
        (
            "POST",
            format!("/api/v1/transactions/{open}/pre-receipt"),
            None,
        ),
        (
            "POST",
            format!("/api/v1/transactions/{open}/pay"),
            Some(json!({"tendered_cents": 5000})),
        ),
        (
            "POST",
            format!("/api/v1/transactions/{open}/void"),
            Some(json!({"reason": "x"})),
        ),
        ("POST", format!("/api/v1/receipts/{rn}/reprint"), None),
        ("POST", "/api/v1/day/close".into(), None),
        (
            "POST",
            "/api/v1/scans".into(),
            Some(json!({"input": demo::MANUAL_CODE_MENSA_4})),
        ),
    ];
    let bad_tokens = [
        None,
        Some("not-a-token".to_string()),
        Some(format!("{token}x")),
        Some(token[..token.len() - 1].to_string()),
    ];
    for (method, path, body) in &routes {
        for bad in &bad_tokens {
            let (s, text) = raw(&env, method, path, bad.as_deref(), body.clone()).await;
            assert_eq!(s, 401, "{method} {path} with {bad:?}: {text}");
            let v: Value = serde_json::from_str(&text).expect("JSON error");
            assert_eq!(v["error"]["code"], "unauthorized", "{text}");
        }
    }
    // `?access_token=` is for the events stream only.
    let (s, _) = raw(
        &env,
        "GET",
        &format!("/api/v1/transactions/{open}?access_token={token}"),
        None,
        None,
    )
    .await;
    assert_eq!(s, 401);
    let resp = env
        .http
        .get(format!("{}/api/v1/events?access_token={token}", env.api))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    drop(resp);

    // The refused calls changed nothing.
    assert_eq!(env.tx(&token, &open).await["state"], "awaiting_cash");
    assert_eq!(env.status().await["journal"]["entries"], journal_before);
    assert_eq!(env.printed().len(), printed_before);
    assert_eq!(env.mock.recharges().len(), 1);
    let (_, list) = env
        .call(
            "GET",
            &format!("/api/v1/transactions?date={today}"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(list["transactions"].as_array().unwrap().len(), 2, "{list}");

    // Status and login need none.
    let (s, _) = raw(&env, "GET", "/api/v1/status", None, None).await;
    assert_eq!(s, 200);
    let (s, text) = raw(
        &env,
        "POST",
        "/api/v1/login",
        None,
        Some(json!({"operator": support::OPERATOR, "pin": support::PIN})),
    )
    .await;
    assert_eq!(s, 200, "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_end_at_logout_and_at_restart() {
    let mut env = Env::new().await;
    env.start_agent();
    let a = env.login().await;
    let b = env.login().await;
    assert_ne!(a, b);
    let (s, _) = env.call("POST", "/api/v1/logout", Some(&a), None).await;
    assert_eq!(s, 200);
    let (s, v) = env
        .call(
            "POST",
            "/api/v1/transactions",
            Some(&a),
            Some(json!({"input": demo::MANUAL_CODE_MENSA_1})),
        )
        .await;
    assert_eq!(s, 401, "a logged-out token: {v}");
    // The other session is untouched.
    let (s, v) = env
        .call(
            "POST",
            "/api/v1/transactions",
            Some(&b),
            Some(json!({"input": demo::MANUAL_CODE_MENSA_1})),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    // A restart forgets every session.
    env.kill_agent();
    env.start_agent();
    let (s, _) = env
        .call(
            "GET",
            "/api/v1/transactions?date=2026-01-01",
            Some(&b),
            None,
        )
        .await;
    assert_eq!(s, 401);
}

/// `security.session_minutes` cannot go below 1, so this test idles for a
/// minute (it costs no CPU and runs beside the others of this file).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_token_expires() {
    let mut env = Env::with(Opts {
        extra_config: "\n[security]\nsession_minutes = 1\n".into(),
        ..Opts::default()
    })
    .await;
    env.start_agent();
    let idle = env.login().await;
    let active = env.login().await;
    // Each has a console's event stream open; an open stream is no activity.
    let mut idle_stream = open_events(&env, &idle).await;
    let mut active_stream = open_events(&env, &active).await;
    // `active` keeps being used: its idle timer restarts with each call.
    for _ in 0..7 {
        tokio::time::sleep(Duration::from_secs(9)).await;
        let (s, _) = env
            .call("GET", "/api/v1/transactions", Some(&active), None)
            .await;
        assert_eq!(s, 200);
    }
    // 63 s later, `idle` has expired.
    let (s, v) = env
        .call("GET", "/api/v1/transactions", Some(&idle), None)
        .await;
    assert_eq!(s, 401, "{v}");
    assert_eq!(v["error"]["code"], "unauthorized");
    // Its event stream ended with it (issue 14, finding 8); the active
    // session's stream is still open.
    assert!(
        stream_ends_within(&mut idle_stream, Duration::from_secs(5)).await,
        "the stream of an expired session must end"
    );
    assert!(
        !stream_ends_within(&mut active_stream, Duration::from_millis(500)).await,
        "the stream of a live session stays open"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secret_files_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let mut env = Env::new().await;
    env.start_agent();
    let token = env.login().await;
    // Keys are cached once an app token needs them (or at start).
    let app = demo::app_token(demo::CONSUMER_3, demo::SERVICE_MENSA, now_iat());
    let (s, v) = env
        .call(
            "POST",
            "/api/v1/transactions",
            Some(&token),
            Some(json!({"input": app})),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    let mode = |p: &std::path::Path| {
        std::fs::metadata(p)
            .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(mode(&env.data_dir), 0o700, "data dir");
    assert_eq!(mode(&env.data_dir.join("terminal.json")), 0o600);
    assert_eq!(mode(&env.data_dir.join("keys.json")), 0o600);
    assert_eq!(mode(&env.data_dir.join("agent.lock")) & 0o077, 0);
    // journal.sqlite itself is created by SQLite with the umask (0644 here):
    // the 0700 directory is what keeps others out of it.
}

fn now_iat() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp() - 60
}

/// The fiscal code in the forms a log line or a body could carry it.
fn fiscal_code_forms() -> Vec<String> {
    let cf = demo::PAYER_FISCAL_CODE;
    vec![
        cf.to_string(),
        cf.to_lowercase(),
        // Partly masked is still a leak if the middle shows.
        cf[3..13].to_string(),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_fiscal_code_secret_or_token_leaks_in_a_full_run() {
    let mut env = Env::new().await;
    // As talkative as it gets: every crate at debug.
    let text = std::fs::read_to_string(&env.config_path).unwrap();
    std::fs::write(
        &env.config_path,
        text.replace("level = \"info\"", "level = \"debug\""),
    )
    .unwrap();
    env.start_agent();
    let token = env.login().await;

    // Everything the console would see on the event stream.
    let events = Arc::new(Mutex::new(String::new()));
    let mut stream = env
        .http
        .get(format!("{}/api/v1/events?access_token={token}", env.api))
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status().as_u16(), 200);
    let ev = events.clone();
    let reader = tokio::spawn(async move {
        while let Ok(Some(chunk)) = stream.chunk().await {
            ev.lock()
                .unwrap()
                .push_str(&String::from_utf8_lossy(&chunk));
        }
    });

    let mut bodies = Vec::new();
    let cf = demo::PAYER_FISCAL_CODE;
    // The health card is read: a scan event, then a transaction from it.
    let (s, b) = raw(
        &env,
        "POST",
        "/api/v1/scans",
        Some(&token),
        Some(json!({"input": cf, "source": "card_reader"})),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    let scan_id = serde_json::from_str::<Value>(&b).unwrap()["scan_id"]
        .as_str()
        .unwrap()
        .to_string();
    bodies.push(b);
    let (s, b) = raw(
        &env,
        "POST",
        "/api/v1/transactions",
        Some(&token),
        Some(json!({"scan_id": scan_id})),
    )
    .await;
    bodies.push(b.clone());
    // Typed by hand too, with and without spaces, and inside garbage.
    for input in [
        cf.to_string(),
        cf.to_lowercase(),
        format!("{} {} {}", &cf[..6], &cf[6..11], &cf[11..]),
        format!("xx{cf}yy"),
        "RSSMRA85T10A562X".to_string(),
    ] {
        let (_, b) = raw(
            &env,
            "POST",
            "/api/v1/transactions",
            Some(&token),
            Some(json!({"input": input})),
        )
        .await;
        bodies.push(b);
    }
    // If the health-card path is there, go all the way to a payment.
    if s == 201 {
        let t: Value = serde_json::from_str(&b).unwrap();
        let id = t["id"].as_str().unwrap().to_string();
        let code = t["choices"][0]["code"].as_str().unwrap_or_default();
        let (s, b) = raw(
            &env,
            "POST",
            &format!("/api/v1/transactions/{id}/choose"),
            Some(&token),
            Some(json!({"code": code})),
        )
        .await;
        assert_eq!(s, 200, "{b}");
        bodies.push(b);
        for (path, body) in [
            ("amount", Some(json!({"amount_cents": 1500}))),
            ("pre-receipt", None),
            ("pay", Some(json!({"tendered_cents": 2000}))),
        ] {
            let (s, b) = raw(
                &env,
                "POST",
                &format!("/api/v1/transactions/{id}/{path}"),
                Some(&token),
                body,
            )
            .await;
            assert_eq!(s, 200, "{path}: {b}");
            bodies.push(b);
        }
        env.wait_sync(&token, &id, "confirmed", SYNC_WAIT).await;
    } else {
        eprintln!("health-card path answered {s} (not implemented yet?): {b}");
    }
    // A whole ordinary recharge, a reprint, a day close and a wrong PIN.
    let id = env
        .ready_to_pay(&token, demo::MANUAL_CODE_MENSA_1, 2000)
        .await;
    let paid = env.pay(&token, &id, 2000).await;
    env.wait_sync(&token, &id, "confirmed", SYNC_WAIT).await;
    let rn = percent_encoding::utf8_percent_encode(
        paid["receipt_number"].as_str().unwrap(),
        percent_encoding::NON_ALPHANUMERIC,
    )
    .to_string();
    let (_, b) = raw(
        &env,
        "POST",
        &format!("/api/v1/receipts/{rn}/reprint"),
        Some(&token),
        None,
    )
    .await;
    bodies.push(b);
    let (_, b) = raw(&env, "POST", "/api/v1/day/close", Some(&token), None).await;
    bodies.push(b);
    let (_, b) = raw(
        &env,
        "POST",
        "/api/v1/login",
        None,
        Some(json!({"operator": support::OPERATOR, "pin": "0000"})),
    )
    .await;
    bodies.push(b);
    for path in ["/api/v1/status", "/api/v1/transactions"] {
        let (_, b) = raw(&env, "GET", path, Some(&token), None).await;
        bodies.push(b);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    env.kill_agent();
    reader.abort();

    let logs = env.logs();
    let events = events.lock().unwrap().clone();
    let bodies = bodies.join("\n");
    let terminal: Value =
        serde_json::from_str(&std::fs::read_to_string(env.data_dir.join("terminal.json")).unwrap())
            .unwrap();
    let secret_b64 = terminal["secret"].as_str().unwrap().to_string();
    let secret_hex = hex_of(&secret_b64);
    let mut forbidden = fiscal_code_forms();
    forbidden.push(secret_b64.clone());
    forbidden.push(secret_hex);
    forbidden.push(token.clone());
    for (what, text) in [
        ("stderr logs", &logs),
        ("SSE events", &events),
        ("API bodies", &bodies),
    ] {
        for needle in &forbidden {
            assert!(
                !text.contains(needle.as_str()),
                "{what} contain {needle:?}:\n{text}"
            );
        }
    }
    // The run did produce output to search.
    assert!(events.contains("event: scan"), "{events}");
    assert!(events.contains("RSS***********2S"), "masked scan: {events}");
    assert!(logs.lines().count() > 10, "{logs}");
    // And the printed documents.
    for d in env.printed() {
        let t = support::doc_text(&d);
        for needle in fiscal_code_forms() {
            assert!(!t.contains(&needle), "printed {needle}:\n{t}");
        }
    }
}

/// Lowercase hex of a base64 secret (as a log might print the raw bytes).
fn hex_of(b64: &str) -> String {
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .expect("secret is base64");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_web_pages_cannot_drive_the_api() {
    let mut env = Env::new().await;
    env.start_agent();
    let http = reqwest::Client::new();
    // A form or text/plain POST (what a page may send cross-origin without
    // asking) never reaches the login, so it cannot lock the operators.
    for content_type in ["application/x-www-form-urlencoded", "text/plain"] {
        for _ in 0..3 {
            let r = http
                .post(format!("{}/api/v1/login", env.api))
                .header("content-type", content_type)
                .body(r#"{"operator":"op1","pin":"0000"}"#)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 415, "{content_type}");
        }
    }
    let token = env.login().await;
    assert!(!token.is_empty(), "the operator was not locked");
    // A DNS-rebinding page talks to 127.0.0.1 under its own host name.
    let r = http
        .get(format!("{}/api/v1/status", env.api))
        .header("host", "evil.example:7878")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "forbidden_host");
    let r = http
        .get(format!("{}/api/v1/status", env.api))
        .header("host", "localhost:7878")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_wrong_pins_cannot_slip_past_the_lockout() {
    let mut env = Env::new().await;
    env.start_agent();
    let mut calls = Vec::new();
    for i in 0..8 {
        let http = reqwest::Client::new();
        let url = format!("{}/api/v1/login", env.api);
        calls.push(tokio::spawn(async move {
            let r = http
                .post(url)
                .json(&serde_json::json!({"operator": "op1", "pin": format!("{:04}", 9000 + i)}))
                .send()
                .await
                .unwrap();
            r.status().as_u16()
        }));
    }
    let mut statuses = Vec::new();
    for c in calls {
        statuses.push(c.await.unwrap());
    }
    statuses.sort();
    assert_eq!(
        statuses.iter().filter(|s| **s == 401).count(),
        2,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 423).count(),
        6,
        "{statuses:?}"
    );
}

/// Reads the SSE body until the server ends it; false if it is still open
/// after `within`.
async fn stream_ends_within(resp: &mut reqwest::Response, within: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, resp.chunk()).await {
            Err(_) => return false,
            Ok(Ok(Some(_))) => continue,
            Ok(Ok(None)) | Ok(Err(_)) => return true,
        }
    }
}

async fn open_events(env: &Env, token: &str) -> reqwest::Response {
    let resp = reqwest::Client::new()
        .get(format!("{}/api/v1/events?access_token={token}", env.api))
        .send()
        .await
        .expect("open the event stream");
    assert_eq!(resp.status(), 200);
    resp
}

/// Finding 8 of issue 14: the event stream stayed open after its session
/// logged out, so a console left open kept receiving scans and payments.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_event_stream_ends_when_its_session_logs_out() {
    let mut env = Env::new().await;
    env.start_agent();
    let gone = env.login().await;
    let stays = env.login().await;
    let mut gone_stream = open_events(&env, &gone).await;
    let mut other = support::EventStream::open(&env, &stays).await;
    assert!(
        !stream_ends_within(&mut gone_stream, Duration::from_millis(500)).await,
        "a live session's stream stays open"
    );
    let (s, _) = env
        .call("POST", "/api/v1/logout", Some(&gone), Some(json!({})))
        .await;
    assert_eq!(s, 200);
    assert!(
        stream_ends_within(&mut gone_stream, Duration::from_secs(10)).await,
        "the stream of a logged-out session must end"
    );
    // A new stream with the old token is refused; the other session's
    // stream goes on.
    let (s, _) = raw(
        &env,
        "GET",
        &format!("/api/v1/events?access_token={gone}"),
        None,
        None,
    )
    .await;
    assert_eq!(s, 401);
    let (s, _) = env
        .call(
            "POST",
            "/api/v1/scans",
            Some(&stays),
            Some(json!({"input": demo::MANUAL_CODE_MENSA_1})),
        )
        .await;
    assert_eq!(s, 200);
    let scan = other.next_named("scan", Duration::from_secs(10)).await;
    assert_eq!(scan["kind"], "manual_code");
}

/// Finding 8 of issue 14: the texts kept for `scan_id` grew without bound.
/// The oldest reads make room; the newest keep working.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scans_kept_for_scan_id_are_bounded_in_number() {
    let mut env = Env::new().await;
    env.start_agent();
    let token = env.login().await;
    let mut ids = Vec::new();
    for _ in 0..(pos_agent::devices::scans::MAX_SCANS + 1) {
        let (s, v) = env
            .call(
                "POST",
                "/api/v1/scans",
                Some(&token),
                Some(json!({"input": demo::MANUAL_CODE_MENSA_1, "source": "scanner"})),
            )
            .await;
        assert_eq!(s, 200, "{v}");
        ids.push(v["scan_id"].as_str().unwrap().to_string());
    }
    let (s, v) = env
        .call(
            "POST",
            "/api/v1/transactions",
            Some(&token),
            Some(json!({"scan_id": ids[0]})),
        )
        .await;
    assert_eq!(s, 404, "the oldest read was pushed out: {v}");
    assert_eq!(v["error"]["code"], "not_found");
    let (s, v) = env
        .call(
            "POST",
            "/api/v1/transactions",
            Some(&token),
            Some(json!({"scan_id": ids.last().unwrap()})),
        )
        .await;
    assert_eq!(s, 201, "the newest read still works: {v}");
    // A huge read is kept cut and refused as what it is, not as a code.
    let (s, v) = env
        .call(
            "POST",
            "/api/v1/scans",
            Some(&token),
            Some(json!({"input": "9".repeat(200_000)})),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let (s, v) = env
        .call(
            "POST",
            "/api/v1/transactions",
            Some(&token),
            Some(json!({"scan_id": v["scan_id"]})),
        )
        .await;
    assert_eq!(s, 422, "{v}");
    assert_eq!(v["error"]["code"], "unknown_input");
}

/// Finding 8 of issue 14: `camera decode` masked any 16 letters and digits
/// shaped like a fiscal code, so an app token's text came out rewritten.
/// Only a real fiscal code (right check letter) is masked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn camera_decode_masks_only_what_is_a_fiscal_code() {
    use hardware_mocks::camera::VirtualCamera;
    use pos_drivers::camera::{GrayFrame, QrDecoder};

    let env = Env::new().await;
    // A structurally valid token whose signature text starts with 16
    // characters in a fiscal code's layout but with the wrong check letter
    // (the all-`A` tail keeps it 64 canonical base64url bytes).
    let run = "RSSMRA85T10A562X";
    assert!(pos_codes::FiscalCode::parse(run).is_err());
    let app = demo::app_token(demo::CONSUMER_2, demo::SERVICE_TRASPORTO, demo::DEMO_IAT);
    let (signed, _) = app.rsplit_once('.').unwrap();
    let token = format!("{signed}.{run}{}", "A".repeat(86 - run.len()));
    assert_eq!(
        pos_codes::classify(&token).map(|i| i.kind()),
        Ok("app_token"),
        "{token}"
    );

    let dir = tempfile::tempdir().unwrap();
    let mut cam = VirtualCamera::new(dir.path()).unwrap();
    cam.width = 640;
    cam.height = 480;
    let accept = |t: &str| pos_codes::classify(t).is_ok();
    let readable_seed = |payload: &str| {
        (1..40)
            .find(|&seed| {
                let bytes = hardware_mocks::camera::frame_jpeg(Some(payload), 640, 480, seed);
                let frame = GrayFrame::from_jpeg(&bytes).unwrap();
                QrDecoder::new(accept)
                    .decode(&frame)
                    .is_some_and(|d| d.text == payload)
            })
            .expect("some frame is readable")
    };
    let with_token = cam.show(Some(&token), readable_seed(&token)).unwrap();
    // A real fiscal code (a Tessera Sanitaria's barcode text) is masked.
    let card = demo::PAYER_FISCAL_CODE;
    let with_card = cam.show(Some(card), readable_seed(card)).unwrap();
    let out = env.cli(&[
        "camera",
        "decode",
        with_token.to_str().unwrap(),
        with_card.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<Vec<&str>> = text.lines().map(|l| l.split('\t').collect()).collect();
    assert_eq!(
        lines[0][1], token,
        "the token text is not rewritten: {text}"
    );
    assert_eq!(lines[1][1], "RSS***********2S", "{text}");
    assert!(!text.contains(card), "{text}");
}
