//! Browser tests of the operator console: headless Chromium, driven over
//! WebDriver (chromedriver) by `fantoccini`, against the REAL `pos-agent`
//! binary and the mock backend (tests/support).
//!
//! Needs Debian's `chromium` and `chromium-driver` (`scripts/install-deps.sh`
//! installs them; CI runs it). Without them every test FAILS with that hint:
//! a console that is never exercised must not pass silently.
//!
//! Every step saves a screenshot under `target/console-screenshots/<test>/`
//! (the test artefacts). Waits are explicit (poll an element or the page
//! state until a deadline), never fixed sleeps. The tests take turns on one
//! lock so that at most one Chromium runs at a time on a 2-core machine.

mod support;

use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use fantoccini::actions::{InputSource, KeyAction, KeyActions};
use fantoccini::{Client, ClientBuilder, Locator};
use hardware_mocks::{demo, VirtualPrinter};
use serde_json::{json, Value};
use support::Env;

/// How long any one element or state is waited for.
const WAIT: Duration = Duration::from_secs(15);
/// The console's target screen.
const WIDTH: u32 = 1024;
const HEIGHT: u32 = 600;

const ENTER: char = '\u{e007}';
const ESC: char = '\u{e00c}';
const F4: char = '\u{e034}';
const F5: char = '\u{e035}';
const F6: char = '\u{e036}';
const F8: char = '\u{e038}';
const ARROW_UP: char = '\u{e013}';
const ARROW_DOWN: char = '\u{e015}';
const DELETE: char = '\u{e017}';

/// One browser at a time: each test holds this while its Chromium runs.
fn turn() -> &'static tokio::sync::Mutex<()> {
    static LOCK: OnceLock<tokio::sync::Mutex<()>> = OnceLock::new();
    LOCK.get_or_init(|| tokio::sync::Mutex::new(()))
}

/// `$VAR`, else the first of `names` found on `PATH` or in `extra_dirs`.
fn find_tool(var: &str, names: &[&str], extra_dirs: &[&str]) -> Option<PathBuf> {
    if let Some(p) = std::env::var_os(var) {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut dirs: Vec<PathBuf> = std::env::split_paths(&path).collect();
    dirs.extend(extra_dirs.iter().map(PathBuf::from));
    dirs.iter()
        .flat_map(|d| names.iter().map(move |n| d.join(n)))
        .find(|p| p.is_file())
}

fn screenshots_dir(test: &str) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    target.join("console-screenshots").join(test)
}

/// Headless Chromium behind a chromedriver of our own, on a free port.
struct Browser {
    client: Client,
    driver: Child,
    shots: PathBuf,
    step: usize,
    _profile: tempfile::TempDir,
}

impl Browser {
    async fn start(test: &str) -> Browser {
        const HINT: &str = "run scripts/install-deps.sh (it installs Debian's `chromium` and \
                            `chromium-driver`; CI runs it), or point $CHROME_BIN and \
                            $CHROMEDRIVER at them";
        let chromium = find_tool(
            "CHROME_BIN",
            &["chromium", "chromium-browser", "google-chrome"],
            &["/usr/lib/chromium"],
        )
        .unwrap_or_else(|| panic!("headless Chromium not found: {HINT}"));
        let chromedriver = find_tool("CHROMEDRIVER", &["chromedriver"], &["/usr/lib/chromium"])
            .unwrap_or_else(|| panic!("chromedriver not found: {HINT}"));

        let port = {
            let l = TcpListener::bind("127.0.0.1:0").expect("free port");
            l.local_addr().expect("addr").port()
        };
        let shots = screenshots_dir(test);
        let _ = std::fs::remove_dir_all(&shots);
        std::fs::create_dir_all(&shots).expect("screenshots dir");
        let log = std::fs::File::create(shots.join("chromedriver.log")).expect("driver log");
        let driver = Command::new(&chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(log)
            // Its own process group, so that Drop can end chromedriver and
            // the Chromium it started together, even after a panic.
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}; {HINT}", chromedriver.display()));
        let deadline = Instant::now() + WAIT;
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "chromedriver did not listen on {port}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }

        let profile = tempfile::tempdir().expect("profile dir");
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": chromium,
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync",
                    "--disable-dev-shm-usage", "--hide-scrollbars",
                    format!("--window-size={WIDTH},{HEIGHT}"),
                    format!("--user-data-dir={}", profile.path().display()),
                ],
            }),
        );
        // chromedriver is plain HTTP on loopback: no TLS stack needed.
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = ClientBuilder::new(connector)
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .unwrap_or_else(|e| panic!("cannot open a Chromium session ({e}); {HINT}"));
        let mut b = Browser {
            client,
            driver,
            shots,
            step: 0,
            _profile: profile,
        };
        b.fit_viewport().await;
        b
    }

    /// Make the page area (not the window) exactly the console's screen:
    /// headless Chromium counts its invisible window frame in --window-size.
    async fn fit_viewport(&mut self) {
        let v = self
            .js("return [window.outerWidth - window.innerWidth, window.outerHeight - window.innerHeight];")
            .await;
        let dw = v[0].as_u64().unwrap_or(0) as u32;
        let dh = v[1].as_u64().unwrap_or(0) as u32;
        self.client
            .set_window_size(WIDTH + dw, HEIGHT + dh)
            .await
            .expect("window size");
        let inner = self
            .js("return [window.innerWidth, window.innerHeight];")
            .await;
        assert_eq!(inner, json!([WIDTH, HEIGHT]), "viewport size");
    }

    async fn open(&mut self, url: &str) {
        self.client.goto(url).await.expect("open the console");
        self.wait_js("document.readyState === 'complete'", "the page to load")
            .await;
    }

    async fn js(&self, script: &str) -> Value {
        self.client
            .execute(script, vec![])
            .await
            .unwrap_or_else(|e| panic!("script {script:?} failed: {e}"))
    }

    /// Save `NN-name.png` and check that nothing overflows the screen.
    async fn shot(&mut self, name: &str) {
        self.step += 1;
        let png = self.client.screenshot().await.expect("screenshot");
        let path = self.shots.join(format!("{:02}-{name}.png", self.step));
        std::fs::write(&path, png).expect("write screenshot");
        let overflow = self
            .js("const m = document.querySelector('main');
                 const a = document.getElementById('actions');
                 const s = document.getElementById('statusbar');
                 return [m.scrollHeight - m.clientHeight, m.scrollWidth - m.clientWidth,
                         a.scrollWidth - a.clientWidth, s.scrollWidth - s.clientWidth,
                         document.documentElement.scrollHeight - window.innerHeight];")
            .await;
        assert_eq!(
            overflow,
            json!([0, 0, 0, 0, 0]),
            "step {name}: the console overflows a {WIDTH}x{HEIGHT} screen (see {})",
            path.display()
        );
    }

    /// Keys as a keyboard (or a keyboard-wedge scanner) types them, into
    /// whatever has the focus.
    async fn keys(&self, text: &str) {
        let mut seq = KeyActions::new("keyboard".into());
        for c in text.chars() {
            seq = seq
                .then(KeyAction::Down { value: c })
                .then(KeyAction::Up { value: c });
        }
        self.client.perform_actions(seq).await.expect("type keys");
    }

    async fn click(&self, css: &str) {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no {css}: {e}"))
            .click()
            .await
            .unwrap_or_else(|e| panic!("click {css}: {e}"));
    }

    /// Poll `expr` (a JS expression) until it is truthy.
    async fn wait_js(&mut self, expr: &str, what: &str) -> Value {
        let deadline = Instant::now() + WAIT;
        let script = format!("return ({expr});");
        loop {
            let v = self.js(&script).await;
            if !(v.is_null() || v == json!(false) || v == json!("")) {
                return v;
            }
            if Instant::now() > deadline {
                self.fail(&format!("waited {WAIT:?} for {what}")).await;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn wait_screen(&mut self, screen: &str) {
        self.wait_js(
            &format!("document.body.dataset.screen === '{screen}' && !document.getElementById('busy').offsetParent"),
            &format!("the {screen} screen"),
        )
        .await;
    }

    /// The visible text of `#id` once `pred` holds for it.
    async fn wait_text(&mut self, id: &str, pred: impl Fn(&str) -> bool, what: &str) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let v = self
                .js(&format!(
                    "const e = document.getElementById('{id}'); return e ? e.innerText : null;"
                ))
                .await;
            let text = v.as_str().unwrap_or_default().to_string();
            if pred(&text) {
                return text;
            }
            if Instant::now() > deadline {
                self.fail(&format!("#{id} never showed {what}; it shows {text:?}"))
                    .await;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn fail(&mut self, why: &str) -> ! {
        if let Ok(png) = self.client.screenshot().await {
            let _ = std::fs::write(self.shots.join("FAILED.png"), png);
        }
        let page = self.js("return document.body.innerText;").await;
        panic!(
            "{why}\n--- page text ---\n{}\n--- screenshots in {} ---",
            page.as_str().unwrap_or_default(),
            self.shots.display()
        );
    }

    /// Operator and PIN typed, Enter after each (keyboard only).
    async fn login(&mut self, pin: &str) {
        self.wait_screen("login").await;
        self.wait_js(
            "document.activeElement && document.activeElement.id.startsWith('login-')",
            "the login field to have the focus",
        )
        .await;
        let focused = self.js("return document.activeElement.id;").await;
        if focused == json!("login-operator") {
            self.keys(&format!("{}{ENTER}", support::OPERATOR)).await;
        }
        self.keys(&format!("{pin}{ENTER}")).await;
    }

    async fn close(mut self) {
        let _ = self.client.clone().close().await;
        self.kill_driver();
    }

    fn kill_driver(&mut self) {
        let pgid = self.driver.id() as i32;
        // SAFETY: kill(2) on the process group we created for chromedriver.
        unsafe {
            libc::kill(-pgid, libc::SIGKILL);
        }
        let _ = self.driver.wait();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        self.kill_driver();
    }
}

async fn agent_and_browser(test: &str) -> (Env, Browser) {
    let mut env = Env::new().await;
    env.start_agent();
    let mut browser = Browser::start(test).await;
    browser.open(&format!("{}/", env.api)).await;
    (env, browser)
}

/// Log in with the right PIN and wait for the idle screen with live events.
async fn log_in(b: &mut Browser) {
    b.login(support::PIN).await;
    b.wait_screen("idle").await;
    b.wait_js(
        "document.body.dataset.live === '1'",
        "the live event stream",
    )
    .await;
    b.wait_js(
        "document.activeElement.id === 'scan-input'",
        "the focus on the code field",
    )
    .await;
}

/// No browser needed: the page and its assets come from the agent itself,
/// with a policy that forbids loading anything from elsewhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_assets_are_served_by_the_agent_only() {
    let mut env = Env::new().await;
    env.start_agent();
    for (path, kind) in [
        ("/", "text/html"),
        ("/console/console.css", "text/css"),
        ("/console/console.js", "text/javascript"),
    ] {
        let r = env
            .http
            .get(format!("{}{path}", env.api))
            .send()
            .await
            .expect("request");
        assert_eq!(r.status(), 200, "{path}");
        let h = r.headers().clone();
        let ct = h["content-type"].to_str().unwrap_or_default().to_string();
        assert!(ct.starts_with(kind), "{path}: {ct}");
        let csp = h["content-security-policy"].to_str().unwrap_or_default();
        assert!(csp.contains("default-src 'self'"), "{path}: {csp}");
        let body = r.text().await.expect("body");
        assert!(
            !body.contains("http://") && !body.contains("https://") && !body.contains("//cdn"),
            "{path} refers to something outside the agent"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_wrong_pins_show_the_lock_with_the_time_left() {
    let _turn = turn().lock().await;
    let (_env, mut b) = agent_and_browser("wrong_pin_lock").await;
    b.shot("login").await;

    b.login("0000").await;
    let msg = b
        .wait_text("error-title", |t| t == "PIN errato", "PIN errato")
        .await;
    assert_eq!(msg, "PIN errato");
    b.wait_text("error-msg", |t| t.contains('2'), "2 attempts left")
        .await;
    b.shot("wrong-pin-1").await;

    b.login("0001").await;
    b.wait_text("error-msg", |t| t.contains('1'), "1 attempt left")
        .await;
    b.wait_text(
        "error-hint",
        |t| t.contains("ancora un PIN errato"),
        "the last-attempt warning",
    )
    .await;
    b.shot("wrong-pin-2").await;

    b.login("0002").await;
    let lock = b
        .wait_text(
            "login-lock",
            |t| t.contains("Operatore bloccato") && t.contains("Riprovare tra"),
            "the lock with the time left",
        )
        .await;
    assert!(
        b.js("return document.getElementById('error').hidden;")
            .await
            == json!(true),
        "the lock is said once, in the lock box"
    );
    // "Riprovare tra 14:59 (alle HH:MM)": minutes and seconds of the 15-minute lock.
    let left = lock
        .split("Riprovare tra ")
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .unwrap_or_default()
        .to_string();
    let (m, s) = left.split_once(':').expect("mm:ss");
    let secs = m.parse::<u32>().expect("minutes") * 60 + s.parse::<u32>().expect("seconds");
    assert!(
        (14 * 60..=15 * 60).contains(&secs),
        "lock of 15 minutes, shown {left}"
    );
    assert!(lock.contains("(alle "), "{lock}");
    b.shot("locked").await;

    // Even the right PIN is refused while locked, and the lock stays shown.
    b.login(support::PIN).await;
    b.wait_js(
        "document.body.dataset.logins === '4'",
        "the answer to the 4th login",
    )
    .await;
    b.wait_text(
        "login-lock",
        |t| t.contains("Operatore bloccato"),
        "the lock again",
    )
    .await;
    assert_eq!(b.js("return document.body.dataset.screen;").await, "login");
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recharge_from_a_scan_to_the_done_screen_then_the_day_close() {
    let _turn = turn().lock().await;
    let (env, mut b) = agent_and_browser("recharge").await;
    log_in(&mut b).await;
    b.wait_text("st-printer", |t| t.contains("pronta"), "printer ready")
        .await;
    b.wait_text("st-outbox", |t| t.ends_with(": 0"), "empty outbox")
        .await;
    b.shot("idle").await;

    // A handheld scanner posted through the API: the console gets the `scan`
    // event and starts the transaction by itself.
    let token = env.login().await;
    let (s, v) = env
        .call(
            "POST",
            "/api/v1/scans",
            Some(&token),
            Some(json!({"input": demo::MANUAL_CODE_MENSA_1, "source": "scanner"})),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    b.wait_screen("tx").await;
    b.wait_text("tx-name", |t| t == "M*** R***", "the masked name")
        .await;
    let svc = b
        .wait_text("tx-service", |t| !t.is_empty(), "the service")
        .await;
    assert_eq!(svc, demo::SERVICE_MENSA_NAME);
    let creditor = b
        .wait_text("tx-creditor", |t| !t.is_empty(), "the creditor")
        .await;
    assert!(creditor.contains(demo::CREDITOR_NAME), "{creditor}");
    let limits = b
        .wait_text("amount-limits", |t| !t.is_empty(), "the limits")
        .await;
    assert!(
        limits.contains("5,00 €") && limits.contains("300,00 €"),
        "{limits}"
    );
    // What was read is shown beside who it resolved to.
    b.wait_text(
        "tx-read",
        |t| t.contains("Letto da lettore: codice manuale"),
        "what the scanner read",
    )
    .await;

    // F6 = 20 €, Enter = amount + pre-receipt.
    b.keys(&F6.to_string()).await;
    b.wait_text("tx-total", |t| t == "20,00 €", "the total")
        .await;
    b.shot("amount").await;
    b.keys(&ENTER.to_string()).await;
    b.wait_screen("cash").await;
    b.wait_text("cash-total", |t| t == "20,00 €", "the total to take")
        .await;
    env.wait_printed(1, WAIT).await;

    // 50 € handed over: the change is shown before paying.
    b.keys("50").await;
    b.wait_text("cash-change", |t| t == "Resto: 30,00 €", "the change")
        .await;
    b.shot("cash").await;
    b.keys(&ENTER.to_string()).await;
    b.wait_screen("done").await;
    let year = time::OffsetDateTime::now_utc().year();
    let receipt = b
        .wait_text("done-receipt", |t| !t.is_empty(), "the receipt number")
        .await;
    assert!(
        receipt.starts_with("T-000123/") && receipt.ends_with("/000001"),
        "{receipt}"
    );
    assert!(
        receipt.contains(&format!("/{year}/")) || receipt.contains(&format!("/{}/", year + 1)),
        "{receipt}"
    );
    b.wait_text("done-change", |t| t == "30,00 €", "the change")
        .await;
    // The backend's confirmation arrives while the done screen is shown.
    b.wait_js(
        "document.getElementById('done-sync').dataset.sync === 'confirmed'",
        "the backend's confirmation on the done screen",
    )
    .await;
    b.shot("done").await;
    let credits = env.mock.recharges();
    assert_eq!(credits.len(), 1);
    assert_eq!(credits[0].amount_cents, 2000);
    assert_eq!(credits[0].receipt_number, receipt);

    // The next parent: a keyboard-wedge scanner types the code straight
    // onto the done screen; then touch only (quick button, keypad).
    b.keys(&format!("{}{ENTER}", demo::MANUAL_CODE_MENSA_2))
        .await;
    b.wait_screen("tx").await;
    b.click("button[data-quick='5000']").await;
    b.wait_text("tx-total", |t| t == "50,00 €", "the total")
        .await;
    b.click("#actions button[data-key='Invio']").await;
    b.wait_screen("cash").await;
    b.click("#cash-quick button[data-key='F5']").await; // exact amount
    b.wait_text("cash-change", |t| t == "Resto: 0,00 €", "no change")
        .await;
    b.click("#screen-cash .keypad button.primary").await;
    b.wait_screen("done").await;
    b.wait_text("done-receipt", |t| t.ends_with("/000002"), "receipt 2")
        .await;

    // Day close: F4, Enter; the report and the backend's answer.
    b.keys(&F4.to_string()).await;
    b.wait_js(
        "!document.getElementById('modal').hidden",
        "the day close dialog",
    )
    .await;
    b.keys(&ENTER.to_string()).await;
    b.wait_screen("close").await;
    let facts = b
        .wait_text("close-facts", |t| t.contains("70,00 €"), "the total")
        .await;
    assert!(
        facts.contains("Operazioni\t2") || facts.contains("Operazioni 2"),
        "{facts}"
    );
    let services = b.wait_text("close-services", |t| !t.is_empty(), "").await;
    assert!(services.contains(demo::SERVICE_MENSA_NAME), "{services}");
    for _ in 0..10 {
        let st = b
            .js("return document.getElementById('close-status').dataset.status;")
            .await;
        if st != "pending" {
            break;
        }
        b.keys(&F5.to_string()).await; // "Aggiorna esito": closing again is idempotent
        b.wait_screen("close").await;
    }
    b.wait_text(
        "close-status",
        |t| t.contains("Quadratura con il Comune: OK"),
        "matched",
    )
    .await;
    b.shot("day-close").await;
    assert_eq!(env.mock.closures().len(), 1);
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notice_payment_typed_like_a_scanner() {
    let _turn = turn().lock().await;
    let (env, mut b) = agent_and_browser("notice").await;
    log_in(&mut b).await;

    b.keys(&format!(
        "PAGOPA|002|{}|{}|2550{ENTER}",
        demo::NOTICE_PAYABLE,
        demo::CREDITOR_CF
    ))
    .await;
    b.wait_screen("tx").await;
    b.wait_text(
        "tx-notice",
        |t| t == demo::NOTICE_PAYABLE,
        "the notice number",
    )
    .await;
    b.wait_text("tx-name", |t| t == "Mensa novembre 2026", "the description")
        .await;
    b.wait_text(
        "amount-fixed-value",
        |t| t == "25,50 €",
        "the verified amount",
    )
    .await;
    let total = b
        .wait_text("tx-total", |t| !t.is_empty(), "the total")
        .await;
    b.shot("notice").await;
    b.keys(&ENTER.to_string()).await;
    b.wait_screen("cash").await;
    b.wait_text("cash-total", |t| t == total, "the total").await;
    b.keys(&F5.to_string()).await; // exact amount
    b.wait_text("cash-change", |t| t == "Resto: 0,00 €", "no change")
        .await;
    b.keys(&ENTER.to_string()).await;
    b.wait_screen("done").await;
    let receipt = b
        .wait_text("done-receipt", |t| t.ends_with("/000001"), "the receipt")
        .await;
    b.shot("done").await;
    let deadline = Instant::now() + WAIT;
    while env.mock.notice_outcomes().is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let outcomes = env.mock.notice_outcomes();
    assert_eq!(outcomes.len(), 1, "one outcome sent");
    assert_eq!(outcomes[0].outcome, "OK");
    assert_eq!(outcomes[0].notice_number, demo::NOTICE_PAYABLE);
    assert_eq!(
        outcomes[0].receipt_number.as_deref(),
        Some(receipt.as_str())
    );
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_bar_shows_the_printer_out_of_paper() {
    let _turn = turn().lock().await;
    let printer = VirtualPrinter::start("127.0.0.1:0".parse().expect("addr")).expect("printer");
    let mut env = Env::new().await;
    env.set_printer_device(&format!("tcp://{}", printer.addr));
    env.start_agent();
    let mut b = Browser::start("paper_out").await;
    b.open(&format!("{}/", env.api)).await;
    log_in(&mut b).await;

    // A first print makes sure the agent talks to this printer.
    let token = env.login().await;
    env.ready_to_pay(&token, demo::MANUAL_CODE_MENSA_1, 1000)
        .await;
    b.wait_text("st-printer", |t| t.contains("pronta"), "printer ready")
        .await;
    b.shot("printer-ready").await;

    printer.set_paper_out(true);
    // The agent learns it at the latest at the next print (a reprint of
    // the pre-receipt, as an operator would do).
    let (s, v) = env
        .call(
            "POST",
            "/api/v1/transactions",
            Some(&token),
            Some(json!({"input": demo::MANUAL_CODE_MENSA_2})),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    let id = v["id"].as_str().expect("id").to_string();
    env.call(
        "POST",
        &format!("/api/v1/transactions/{id}/amount"),
        Some(&token),
        Some(json!({"amount_cents": 1000})),
    )
    .await;
    env.call(
        "POST",
        &format!("/api/v1/transactions/{id}/pre-receipt"),
        Some(&token),
        None,
    )
    .await;
    b.wait_text(
        "st-printer",
        |t| t.contains("CARTA ESAURITA"),
        "paper out in the status bar",
    )
    .await;
    assert_eq!(
        b.js("return document.getElementById('st-printer').dataset.state;")
            .await,
        "bad"
    );
    b.shot("paper-out").await;

    printer.set_paper_out(false);
    env.call(
        "POST",
        &format!("/api/v1/transactions/{id}/pre-receipt"),
        Some(&token),
        None,
    )
    .await;
    b.wait_text(
        "st-printer",
        |t| t.contains("pronta"),
        "printer ready again",
    )
    .await;
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_card_choose_a_code_then_void_with_the_keyboard() {
    let _turn = turn().lock().await;
    let (env, mut b) = agent_and_browser("health_card").await;
    log_in(&mut b).await;

    // The fiscal code typed (or swiped): the payer's codes to choose from.
    b.keys(&format!("{}{ENTER}", demo::PAYER_FISCAL_CODE)).await;
    b.wait_screen("choose").await;
    let list = b
        .wait_text("choose-list", |t| t.contains("2"), "the payer's codes")
        .await;
    assert!(list.contains(demo::SERVICE_MENSA_NAME), "{list}");
    assert!(
        !list.contains(demo::PAYER_FISCAL_CODE),
        "the fiscal code is never shown"
    );
    b.shot("choose").await;
    b.keys("1").await;
    b.wait_screen("tx").await;
    b.wait_text("tx-service", |t| !t.is_empty(), "the chosen service")
        .await;
    let id = b
        .js("return sessionStorage.getItem('pos.tx');")
        .await
        .as_str()
        .expect("open transaction")
        .to_string();

    // Esc asks, Enter confirms: voided, back to the idle screen.
    b.keys(&ESC.to_string()).await;
    b.wait_js(
        "!document.getElementById('modal').hidden",
        "the void dialog",
    )
    .await;
    b.shot("void").await;
    b.keys(&ENTER.to_string()).await;
    b.wait_screen("idle").await;
    let token = env.login().await;
    assert_eq!(env.tx(&token, &id).await["state"], "voided");
    b.close().await;
}

/// The items table of the transaction screen: per row its `n` and the
/// visible text of each cell; the TOTALE row's text last.
async fn items_table(b: &Browser) -> (Vec<(String, Vec<String>)>, String) {
    let v = b
        .js("const t = document.getElementById('items-table');
             const rows = Array.from(t.querySelectorAll('tr[data-n]'))
               .map((tr) => [tr.dataset.n, Array.from(tr.cells).map((c) => c.innerText)]);
             const total = t.querySelector('tr.total');
             return [rows, total ? total.innerText : null];")
        .await;
    let rows = serde_json::from_value(v[0].clone()).expect("rows");
    (rows, v[1].as_str().unwrap_or_default().to_string())
}

/// Cents as the console shows them: 6150 -> "61,50 €" (below 1000 €).
fn eur(cents: i64) -> String {
    format!("{},{:02} €", cents / 100, cents % 100)
}

/// The id of the transaction the console has open.
async fn open_tx_id(b: &Browser) -> String {
    b.js("return sessionStorage.getItem('pos.tx');")
        .await
        .as_str()
        .expect("an open transaction")
        .to_string()
}

/// Waits until the backend got `n` recharges of transaction `id`.
async fn wait_recharges(env: &Env, id: &str, n: usize) -> Vec<hardware_mocks::RechargeRecord> {
    let deadline = Instant::now() + WAIT;
    loop {
        let got: Vec<_> = env
            .mock
            .recharges()
            .into_iter()
            .filter(|r| r.transaction_id == id)
            .collect();
        if got.len() >= n || Instant::now() > deadline {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Issue 15: a parent's health card, both children ticked at once, a
/// pagoPA notice added by typing its QR while the transaction is open;
/// the portal's table with TOTALE; one pre-receipt, one cash take, one
/// receipt number for the three items.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_family_pays_two_children_and_a_notice_with_one_receipt() {
    let _turn = turn().lock().await;
    let (env, mut b) = agent_and_browser("family").await;
    log_in(&mut b).await;
    let family = demo::payer_codes();
    assert_eq!(family.len(), 2, "the demo parent has two children");

    b.keys(&format!("{}{ENTER}", demo::PAYER_FISCAL_CODE)).await;
    b.wait_screen("choose").await;
    b.wait_js(
        "document.querySelectorAll('#choose-list .choice').length === 2",
        "the two children's codes",
    )
    .await;
    // Space ticks the first row; once ticking started, a number ticks its row.
    b.keys(" 2").await;
    b.wait_js(
        "document.querySelectorAll('#choose-list .choice.ticked').length === 2",
        "both children ticked",
    )
    .await;
    b.wait_text(
        "actions",
        |t| t.contains("Conferma i 2 scelti"),
        "the confirm key for two",
    )
    .await;
    b.shot("choose-both").await;
    b.keys(&ENTER.to_string()).await;
    b.wait_screen("tx").await;
    b.wait_js(
        "document.querySelectorAll('#items-table tr[data-n]').length === 2",
        "a row per child",
    )
    .await;
    let id = open_tx_id(&b).await;

    // The notice's QR typed like a keyboard-wedge scanner, into the field
    // that has the focus: it joins the open transaction.
    b.keys(&format!("{}{ENTER}", demo::NOTICE_PAYABLE_QR)).await;
    b.wait_js(
        "document.querySelectorAll('#items-table tr[data-n]').length === 3",
        "the notice's row",
    )
    .await;
    assert_eq!(open_tx_id(&b).await, id, "still the same transaction");
    b.shot("three-items").await;

    // The first child's amount, Enter; the second's is typed next.
    b.wait_js(
        "document.querySelector('#items-table tr.sel').dataset.n === '1'",
        "the first child chosen",
    )
    .await;
    b.keys(&format!("20{ENTER}")).await;
    b.wait_js(
        "document.querySelector('#items-table tr.sel').dataset.n === '2'",
        "the second child chosen",
    )
    .await;
    b.keys("15").await;
    // The counter's fees (`[fees]`, per item) come on top of the amounts.
    let token = env.login().await;
    let fees: i64 = env.tx(&token, &id).await["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i["fee_cents"].as_i64().unwrap_or(0))
        .sum();
    let want = eur(2000 + 1500 + 2550 + fees);
    let total = b
        .wait_text(
            "items-table",
            |t| t.contains("TOTALE") && t.contains(&want),
            "TOTALE",
        )
        .await;
    let (rows, total_row) = items_table(&b).await;
    assert_eq!(rows.len(), 3, "{total}");
    let cells = |i: usize| rows[i].1[2..].to_vec();
    assert_eq!(rows[0].0, "1");
    assert!(rows[0].1[1].contains(family[0].display_name), "{rows:?}");
    assert!(rows[0].1[1].contains(demo::SERVICE_MENSA_NAME), "{rows:?}");
    assert_eq!(cells(0), ["12,50 €", "20,00 €", "32,50 €"], "{rows:?}");
    assert_eq!(rows[1].0, "2");
    assert!(rows[1].1[1].contains(family[1].display_name), "{rows:?}");
    assert_eq!(cells(1), ["8,00 €", "15,00 €", "23,00 €"], "{rows:?}");
    assert_eq!(rows[2].0, "3");
    assert!(rows[2].1[1].contains("Mensa novembre 2026"), "{rows:?}");
    assert!(rows[2].1[1].contains(demo::NOTICE_PAYABLE), "{rows:?}");
    assert_eq!(cells(2), ["–", "25,50 €", "–"], "{rows:?}");
    assert!(
        total_row.starts_with("TOTALE") && total_row.contains(&want),
        "{total_row}"
    );
    b.wait_text("tx-total", |t| t == want, "the total to take")
        .await;
    b.shot("table").await;

    // Enter: the last amount, then the one pre-receipt.
    b.keys(&ENTER.to_string()).await;
    b.wait_screen("cash").await;
    b.wait_text("cash-total", |t| t == want, "the total to take")
        .await;
    let lines = b
        .wait_text("cash-items", |t| t.lines().count() == 3, "the three items")
        .await;
    assert!(lines.contains("Mensa novembre 2026"), "{lines}");
    b.shot("cash").await;
    b.keys(&F5.to_string()).await; // exact amount
    b.wait_text("cash-change", |t| t == "Resto: 0,00 €", "no change")
        .await;
    b.keys(&ENTER.to_string()).await;
    b.wait_screen("done").await;
    let receipt = b
        .wait_text("done-receipt", |t| t.ends_with("/000001"), "one receipt")
        .await;
    b.wait_text("done-what", |t| t.contains("3 voci"), "three items paid")
        .await;
    b.shot("done").await;

    // The agent: one paid transaction of three items under that receipt.
    let t = env.tx(&token, &id).await;
    assert_eq!(t["state"], "paid", "{t}");
    assert_eq!(t["receipt_number"], json!(receipt), "{t}");
    assert_eq!(t["total_cents"], 6050 + fees, "{t}");
    let amounts: Vec<(u64, String, i64)> = t["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| {
            (
                i["n"].as_u64().expect("n"),
                i["kind"].as_str().expect("kind").to_string(),
                i["amount_cents"].as_i64().expect("amount"),
            )
        })
        .collect();
    assert_eq!(
        amounts,
        [
            (1, "recharge".into(), 2000),
            (2, "recharge".into(), 1500),
            (3, "notice".into(), 2550)
        ]
    );
    // The backend: each child credited once, the notice paid, one receipt.
    let mut credits = wait_recharges(&env, &id, 2).await;
    credits.sort_by_key(|r| r.item);
    let got: Vec<(u32, &str, u64, &str)> = credits
        .iter()
        .map(|r| {
            (
                r.item,
                r.consumer_ref.as_str(),
                r.amount_cents,
                r.receipt_number.as_str(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (1, family[0].consumer_ref, 2000, receipt.as_str()),
            (2, family[1].consumer_ref, 1500, receipt.as_str())
        ]
    );
    let deadline = Instant::now() + WAIT;
    while env.mock.notice_outcomes().is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let outcomes = env.mock.notice_outcomes();
    assert_eq!(outcomes.len(), 1, "{outcomes:?}");
    assert_eq!(outcomes[0].outcome, "OK");
    assert_eq!(outcomes[0].item, Some(3));
    assert_eq!(outcomes[0].notice_number, demo::NOTICE_PAYABLE);
    assert_eq!(
        outcomes[0].receipt_number.as_deref(),
        Some(receipt.as_str())
    );
    b.close().await;
}

/// Issue 15: three children's codes typed one after the other join one
/// transaction (a code read twice is refused and changes nothing); the
/// chosen row leaves with one key (Canc), TOTALE follows, and the payment
/// holds the remaining items only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_item_is_removed_with_one_key_and_the_rest_is_paid() {
    let _turn = turn().lock().await;
    let (env, mut b) = agent_and_browser("remove_item").await;
    log_in(&mut b).await;

    b.keys(&format!("{}{ENTER}", demo::MANUAL_CODE_MENSA_1))
        .await;
    b.wait_screen("tx").await;
    b.wait_text("tx-name", |t| t == "M*** R***", "the first child")
        .await;
    let id = open_tx_id(&b).await;
    for (code, rows) in [
        (demo::MANUAL_CODE_MENSA_2, 2),
        (demo::MANUAL_CODE_MENSA_3, 3),
    ] {
        b.keys(&format!("{code}{ENTER}")).await;
        b.wait_js(
            &format!("document.querySelectorAll('#items-table tr[data-n]').length === {rows}"),
            &format!("{rows} rows"),
        )
        .await;
    }
    // The same code again: refused, said in Italian, nothing changes.
    b.keys(&format!("{}{ENTER}", demo::MANUAL_CODE_MENSA_2))
        .await;
    b.wait_text(
        "error-title",
        |t| t == "Codice già nel pagamento",
        "the duplicate refused",
    )
    .await;
    b.wait_text("error-msg", |t| t.contains("voce 2"), "which item it is")
        .await;
    b.shot("duplicate").await;
    assert_eq!(items_table(&b).await.0.len(), 3);

    b.keys(&format!("10{ENTER}")).await;
    b.wait_js(
        "document.querySelector('#items-table tr.sel').dataset.n === '2'",
        "the second row chosen",
    )
    .await;
    b.keys(&format!("20{ENTER}")).await;
    b.wait_js(
        "document.querySelector('#items-table tr.sel').dataset.n === '3'",
        "the third row chosen",
    )
    .await;
    b.wait_text("items-table", |t| t.contains("30,00 €"), "TOTALE so far")
        .await;
    let (_, total) = items_table(&b).await;
    assert!(
        total.starts_with("TOTALE") && total.contains("30,00 €"),
        "{total}"
    );

    // Up to the second child; the key hint names it; Canc removes it.
    b.keys(&ARROW_UP.to_string()).await;
    b.wait_js(
        "document.querySelector('#items-table tr.sel').dataset.n === '2'",
        "the second row chosen again",
    )
    .await;
    b.wait_text(
        "actions",
        |t| t.contains("Canc") && t.contains("Togli la voce 2"),
        "the remove key's hint",
    )
    .await;
    b.shot("chosen").await;
    b.keys(&DELETE.to_string()).await;
    b.wait_js(
        "document.querySelectorAll('#items-table tr[data-n]').length === 2",
        "the row gone",
    )
    .await;
    let (rows, total) = items_table(&b).await;
    let ns: Vec<&str> = rows.iter().map(|r| r.0.as_str()).collect();
    assert_eq!(ns, ["1", "3"], "{rows:?}");
    assert!(rows[0].1[1].contains("M*** R***"), "{rows:?}");
    assert!(rows[1].1[1].contains("G*** B***"), "{rows:?}");
    assert!(
        total.starts_with("TOTALE") && total.contains("10,00 €"),
        "{total}"
    );
    b.wait_js(
        "document.querySelector('#items-table tr.sel').dataset.n === '3'",
        "the row still without an amount chosen",
    )
    .await;
    b.shot("removed").await;
    let token = env.login().await;
    let t = env.tx(&token, &id).await;
    assert_eq!(t["items"].as_array().map(Vec::len), Some(2), "{t}");

    b.keys(&format!("30{ENTER}")).await;
    b.wait_screen("cash").await;
    b.wait_text("cash-total", |t| t == "40,00 €", "the total to take")
        .await;
    b.keys(&F5.to_string()).await;
    b.wait_text("cash-change", |t| t == "Resto: 0,00 €", "no change")
        .await;
    b.keys(&ENTER.to_string()).await;
    b.wait_screen("done").await;
    let receipt = b
        .wait_text("done-receipt", |t| t.ends_with("/000001"), "the receipt")
        .await;
    b.shot("done").await;

    let t = env.tx(&token, &id).await;
    assert_eq!(t["state"], "paid", "{t}");
    assert_eq!(t["total_cents"], 4000, "{t}");
    let items: Vec<(u64, i64)> = t["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| {
            (
                i["n"].as_u64().expect("n"),
                i["amount_cents"].as_i64().expect("amount"),
            )
        })
        .collect();
    assert_eq!(items, [(1, 1000), (3, 3000)], "{t}");
    let mut credits = wait_recharges(&env, &id, 2).await;
    credits.sort_by_key(|r| r.item);
    let got: Vec<(u32, &str, u64, &str)> = credits
        .iter()
        .map(|r| {
            (
                r.item,
                r.code.as_str(),
                r.amount_cents,
                r.receipt_number.as_str(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (1, demo::MANUAL_CODE_MENSA_1, 1000, receipt.as_str()),
            (3, demo::MANUAL_CODE_MENSA_3, 3000, receipt.as_str())
        ]
    );
    b.close().await;
}

/// Issue 15: codes read by a scanner (scan events) join the open
/// transaction up to five items, a sixth is refused in Italian; once the
/// pre-receipt is printed a code is not added, but Canc on the cash screen
/// still removes the chosen item (back to the table, a new pre-receipt).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scans_join_the_open_transaction_up_to_five_items() {
    let _turn = turn().lock().await;
    let (env, mut b) = agent_and_browser("five_items").await;
    log_in(&mut b).await;
    let token = env.login().await;

    b.keys(&format!("{}{ENTER}", demo::MANUAL_CODE_MENSA_1))
        .await;
    b.wait_screen("tx").await;
    b.wait_text("tx-name", |t| t == "M*** R***", "the first child")
        .await;
    let id = open_tx_id(&b).await;
    let scanned = [
        demo::MANUAL_CODE_MENSA_2,
        demo::MANUAL_CODE_MENSA_3,
        demo::MANUAL_CODE_MENSA_4,
        demo::MANUAL_CODE_TRASPORTO_1,
    ];
    for (k, code) in scanned.iter().enumerate() {
        let (s, v) = env
            .call(
                "POST",
                "/api/v1/scans",
                Some(&token),
                Some(json!({"input": code, "source": "scanner"})),
            )
            .await;
        assert_eq!(s, 200, "{v}");
        let rows = k + 2;
        b.wait_js(
            &format!("document.querySelectorAll('#items-table tr[data-n]').length === {rows}"),
            &format!("{rows} rows"),
        )
        .await;
    }
    b.wait_text(
        "toast",
        |t| t.contains("Aggiunta la voce 5") && t.contains("Letto da lettore"),
        "what was read and added",
    )
    .await;
    assert_eq!(open_tx_id(&b).await, id, "still the same transaction");

    // A sixth: refused, nothing changes.
    b.keys(&format!("{}{ENTER}", demo::MANUAL_CODE_TRASPORTO_2))
        .await;
    b.wait_text(
        "error-title",
        |t| t == "Troppe voci in un pagamento",
        "too many items",
    )
    .await;
    b.wait_text("error-msg", |t| t.contains('5'), "the API's message")
        .await;
    b.shot("five-items").await;
    assert_eq!(items_table(&b).await.0.len(), 5);
    assert_eq!(
        env.tx(&token, &id).await["items"].as_array().map(Vec::len),
        Some(5)
    );

    for n in 1..=5 {
        b.wait_js(
            &format!("document.querySelector('#items-table tr.sel').dataset.n === '{n}'"),
            &format!("row {n} chosen"),
        )
        .await;
        b.keys(&format!("10{ENTER}")).await;
    }
    b.wait_screen("cash").await;
    b.wait_text("cash-total", |t| t == "50,00 €", "the total to take")
        .await;
    b.wait_text("cash-items", |t| t.lines().count() == 5, "five lines")
        .await;
    b.shot("cash-five").await;

    // The pre-receipt is printed: a code typed now is not added.
    b.keys(&format!("{}{ENTER}", demo::MANUAL_CODE_TRASPORTO_2))
        .await;
    b.wait_text(
        "error-msg",
        |t| t.contains("pre-scontrino è già stampato"),
        "no item after the pre-receipt",
    )
    .await;
    assert_eq!(b.js("return document.body.dataset.screen;").await, "cash");

    // Up to the fourth line, Canc: back to the table without it.
    b.keys(&ARROW_UP.to_string()).await;
    b.wait_js(
        "document.querySelector('#cash-items div.sel').dataset.n === '4'",
        "the fourth item chosen",
    )
    .await;
    b.wait_text(
        "actions",
        |t| t.contains("Togli la voce 4"),
        "the remove key's hint",
    )
    .await;
    b.keys(&DELETE.to_string()).await;
    b.wait_screen("tx").await;
    b.wait_js(
        "document.querySelectorAll('#items-table tr[data-n]').length === 4",
        "four rows",
    )
    .await;
    let (rows, total) = items_table(&b).await;
    let ns: Vec<&str> = rows.iter().map(|r| r.0.as_str()).collect();
    assert_eq!(ns, ["1", "2", "3", "5"], "{rows:?}");
    assert!(
        total.starts_with("TOTALE") && total.contains("40,00 €"),
        "{total}"
    );
    assert_eq!(env.tx(&token, &id).await["state"], "amount_set");
    b.shot("removed-from-cash").await;

    // Enter: a new pre-receipt; the cash; one receipt for four items.
    b.keys(&ENTER.to_string()).await;
    b.wait_screen("cash").await;
    b.wait_text("cash-total", |t| t == "40,00 €", "the new total")
        .await;
    b.keys(&F5.to_string()).await;
    b.wait_text("cash-change", |t| t == "Resto: 0,00 €", "no change")
        .await;
    b.keys(&ENTER.to_string()).await;
    b.wait_screen("done").await;
    let receipt = b
        .wait_text("done-receipt", |t| t.ends_with("/000001"), "the receipt")
        .await;
    let t = env.tx(&token, &id).await;
    assert_eq!(t["state"], "paid", "{t}");
    let ns: Vec<u64> = t["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i["n"].as_u64().expect("n"))
        .collect();
    assert_eq!(ns, [1, 2, 3, 5], "{t}");
    let credits = wait_recharges(&env, &id, 4).await;
    assert_eq!(credits.len(), 4, "{credits:?}");
    assert!(
        credits.iter().all(|r| r.receipt_number == receipt),
        "{credits:?}"
    );
    assert!(
        !credits.iter().any(|r| r.code == demo::MANUAL_CODE_MENSA_4),
        "the removed item is not credited: {credits:?}"
    );
    b.close().await;
}

/// Issue 15: the backend refuses the activation of the cart's notice at the
/// pre-receipt; the console shows that row and says to remove it with Canc;
/// after Canc the rest is paid.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_notice_is_shown_on_its_row_and_removed_with_one_key() {
    let _turn = turn().lock().await;
    let (env, mut b) = agent_and_browser("refused_notice").await;
    log_in(&mut b).await;

    b.keys(&format!("{}{ENTER}", demo::MANUAL_CODE_MENSA_1))
        .await;
    b.wait_screen("tx").await;
    let id = open_tx_id(&b).await;
    env.mock.inject(
        hardware_mocks::Route::Key(format!("{id}:2:activate")),
        hardware_mocks::Fault::Status {
            status: 409,
            code: "notice_already_paid".into(),
            retry_after_secs: None,
        },
        1,
    );
    let qr = demo::notice_qr(demo::NOTICE_PAYABLE_2, 4200);
    b.keys(&format!("{qr}{ENTER}")).await;
    b.wait_js(
        "document.querySelectorAll('#items-table tr[data-n]').length === 2",
        "the notice's row",
    )
    .await;
    // The child's amount, Enter: no amount is missing, so the pre-receipt,
    // which the backend refuses for item 2.
    b.keys(&format!("10{ENTER}")).await;
    b.wait_text(
        "error-hint",
        |t| t.contains("Voce 2") && t.contains("Canc"),
        "the refused item named",
    )
    .await;
    b.wait_js(
        "document.querySelector('#items-table tr.sel').dataset.n === '2'",
        "the refused row chosen",
    )
    .await;
    b.shot("refused").await;
    let token = env.login().await;
    assert_eq!(env.tx(&token, &id).await["state"], "amount_set");

    b.keys(&DELETE.to_string()).await;
    // One item left: the one-item card again, its amount kept.
    b.wait_text("tx-name", |t| t == "M*** R***", "the child alone")
        .await;
    b.wait_text("tx-total", |t| t == "10,00 €", "the child's amount")
        .await;
    b.keys(&ENTER.to_string()).await;
    b.wait_screen("cash").await;
    b.wait_text("cash-total", |t| t == "10,00 €", "the total to take")
        .await;
    b.keys(&format!("{F5}{ENTER}")).await;
    b.wait_screen("done").await;
    let t = env.tx(&token, &id).await;
    assert_eq!(t["state"], "paid", "{t}");
    assert_eq!(t["items"].as_array().map(Vec::len), Some(1), "{t}");
    assert_eq!(t["items"][0]["n"], 1, "{t}");
    assert_eq!(wait_recharges(&env, &id, 1).await.len(), 1);
    b.close().await;
}

/// Issue 15: a health card read while a transaction is open offers the
/// payer's codes beside what is already in the payment; F5 ticks them all,
/// Enter adds them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_health_card_read_during_an_operation_adds_the_ticked_codes() {
    let _turn = turn().lock().await;
    let (env, mut b) = agent_and_browser("health_card_added").await;
    log_in(&mut b).await;

    b.keys(&format!("{}{ENTER}", demo::MANUAL_CODE_MENSA_3))
        .await;
    b.wait_text("tx-name", |t| t == "G*** B***", "the first child")
        .await;
    let id = open_tx_id(&b).await;
    // A card read by mistake: Esc chooses none of its codes, and the
    // payment stays as it was (nothing voided).
    b.keys(&format!("{}{ENTER}", demo::PAYER_FISCAL_CODE)).await;
    b.wait_screen("choose").await;
    b.keys(&ESC.to_string()).await;
    b.wait_screen("tx").await;
    b.wait_text(
        "tx-name",
        |t| t == "G*** B***",
        "the first child, still there",
    )
    .await;
    let token = env.login().await;
    let t = env.tx(&token, &id).await;
    assert_eq!(
        (t["state"].as_str(), t["items"].as_array().map(Vec::len)),
        (Some("identified"), Some(1)),
        "{t}"
    );
    b.keys(&format!("{}{ENTER}", demo::PAYER_FISCAL_CODE)).await;
    b.wait_screen("choose").await;
    b.wait_text(
        "choose-cart",
        |t| t.contains("Già nel pagamento") && t.contains("G*** B***"),
        "what the payment already holds",
    )
    .await;
    b.keys(&F5.to_string()).await;
    b.wait_js(
        "document.querySelectorAll('#choose-list .choice.ticked').length === 2",
        "every code ticked",
    )
    .await;
    b.shot("choose-added").await;
    b.keys(&ENTER.to_string()).await;
    b.wait_screen("tx").await;
    b.wait_js(
        "document.querySelectorAll('#items-table tr[data-n]').length === 3",
        "three rows",
    )
    .await;
    let (rows, _) = items_table(&b).await;
    let family = demo::payer_codes();
    assert!(rows[0].1[1].contains("G*** B***"), "{rows:?}");
    assert!(rows[1].1[1].contains(family[0].display_name), "{rows:?}");
    assert!(rows[2].1[1].contains(family[1].display_name), "{rows:?}");
    assert!(
        !b.js("return document.body.innerText;")
            .await
            .as_str()
            .unwrap_or_default()
            .contains(demo::PAYER_FISCAL_CODE),
        "the fiscal code is never shown"
    );
    let t = env.tx(&token, &id).await;
    assert_eq!(t["state"], "identified", "{t}");
    assert_eq!(t["items"].as_array().map(Vec::len), Some(3), "{t}");
    b.close().await;
}

/// The text of a PDF (`pdftotext` from poppler-utils, which
/// scripts/install-deps.sh installs).
fn pdf_text(pdf: &Path) -> String {
    let out = Command::new("pdftotext")
        .args(["-layout"])
        .arg(pdf)
        .arg("-")
        .output()
        .expect("pdftotext (poppler-utils, installed by scripts/install-deps.sh)");
    assert!(
        out.status.success(),
        "pdftotext: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The `n`th download the console started (counted by the hooks the test
/// put into the page): its file name is the receipt's, its bytes a PDF;
/// returns the PDF's text.
async fn downloaded(b: &mut Browser, n: usize, receipt: &str, dir: &Path) -> String {
    b.wait_js(
        &format!("window.__downloads.length === {n}"),
        &format!("download {n}"),
    )
    .await;
    let name = b
        .js(&format!("return window.__downloads[{}].name;", n - 1))
        .await;
    assert_eq!(
        name,
        json!(format!("ricevuta-{}.pdf", receipt.replace('/', "-")))
    );
    let bytes = b
        .client
        .execute_async(
            &format!(
                "const done = arguments[arguments.length - 1];
                 window.__downloads[{}].blob.arrayBuffer()
                   .then((a) => done(Array.from(new Uint8Array(a))), (e) => done(String(e)));",
                n - 1
            ),
            vec![],
        )
        .await
        .expect("the downloaded bytes");
    let bytes: Vec<u8> = serde_json::from_value(bytes).expect("bytes");
    assert!(bytes.starts_with(b"%PDF-"), "download {n} is not a PDF");
    let path = dir.join(format!("{n}.pdf"));
    std::fs::write(&path, bytes).expect("write the PDF");
    pdf_text(&path)
}

/// Issue 17: today's list offers the copy of every paid receipt as a PDF
/// download (touch: the row's button; keyboard: arrows and Enter), and
/// nothing for a transaction that has no receipt.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn todays_list_downloads_the_pdf_copy_of_each_paid_receipt() {
    let _turn = turn().lock().await;
    let (env, mut b) = agent_and_browser("today_pdf").await;
    let token = env.login().await;
    // Two payments, then a transaction voided before any payment.
    let mut paid = Vec::new();
    for (code, cents) in [
        (demo::MANUAL_CODE_MENSA_1, 2000),
        (demo::MANUAL_CODE_MENSA_2, 3500),
    ] {
        let id = env.ready_to_pay(&token, code, cents).await;
        let p = env.pay(&token, &id, 5000).await;
        let receipt = p["receipt_number"].as_str().expect("receipt").to_string();
        paid.push((id, receipt));
    }
    let (s, t) = env
        .call(
            "POST",
            "/api/v1/transactions",
            Some(&token),
            Some(json!({"input": demo::MANUAL_CODE_MENSA_3})),
        )
        .await;
    assert_eq!(s, 201, "{t}");
    let voided = t["id"].as_str().expect("id").to_string();
    let (s, v) = env
        .call(
            "POST",
            &format!("/api/v1/transactions/{voided}/void"),
            Some(&token),
            Some(json!({"reason": "test"})),
        )
        .await;
    assert_eq!(s, 200, "{v}");

    log_in(&mut b).await;
    b.keys(&F8.to_string()).await;
    b.wait_screen("today").await;
    b.wait_js(
        "document.querySelectorAll('#today-list tr[data-tx]').length === 3",
        "today's three transactions",
    )
    .await;
    b.shot("today").await;
    // Each row: [transaction, its text, its button's text and URL].
    let rows = b
        .js("return Array.from(document.querySelectorAll('#today-list tr[data-tx]')).map((tr) => {
               const b = tr.querySelector('button.copy-pdf');
               return [tr.dataset.tx, tr.innerText, b ? b.innerText : null, b ? b.dataset.url : null];
             });")
        .await;
    let rows = rows.as_array().expect("rows").clone();
    let row_of = |id: &str| {
        rows.iter()
            .find(|r| r[0] == json!(id))
            .unwrap_or_else(|| panic!("no row for {id}: {rows:?}"))
            .clone()
    };
    let row = row_of(&voided);
    assert!(
        row[1].as_str().unwrap_or_default().contains("Annullata"),
        "{row:?}"
    );
    assert_eq!(row[2], Value::Null, "a voided transaction has no receipt");
    for (id, receipt) in &paid {
        let row = row_of(id);
        let text = row[1].as_str().unwrap_or_default();
        assert!(text.contains(receipt.as_str()), "{text}");
        assert!(text.contains("Pagata"), "{text}");
        assert_eq!(row[2], json!("Copia PDF"), "{row:?}");
        assert_eq!(
            row[3],
            json!(format!(
                "/api/v1/receipts/{}/copy.pdf",
                receipt.replace('/', "%2F")
            )),
            "{row:?}"
        );
    }

    // What the console hands to the browser's download: the file's name
    // and its bytes (a download is not a file the test can wait for).
    b.js("window.__downloads = [];
          const blobs = new Map();
          const make = URL.createObjectURL.bind(URL);
          URL.createObjectURL = (blob) => { const u = make(blob); blobs.set(u, blob); return u; };
          HTMLAnchorElement.prototype.click = function () {
            window.__downloads.push({ name: this.download, blob: blobs.get(this.href) });
          };
          return null;")
        .await;
    let dir = tempfile::tempdir().expect("temp dir");

    // Touch: the older receipt's own button.
    let (id1, r1) = &paid[0];
    let (_, r2) = &paid[1];
    b.click(&format!("#today-list tr[data-tx='{id1}'] button.copy-pdf"))
        .await;
    let text = downloaded(&mut b, 1, r1, dir.path()).await;
    assert!(text.contains(r1.as_str()), "{text}");
    assert!(!text.contains(r2.as_str()), "{text}");
    assert!(text.contains("COPIA - DUPLICATO"), "{text}");
    assert!(text.contains("€ 20,00"), "{text}");
    b.wait_text(
        "toast",
        |t| t.contains(r1.as_str()) && t.contains("scaricata"),
        "the download said",
    )
    .await;

    // Keyboard: up to the newest receipt, Enter; down again, Enter.
    b.keys(&ARROW_UP.to_string()).await;
    b.wait_js(
        &format!(
            "document.querySelector('#today-list tr.sel').dataset.tx === '{}'",
            paid[1].0
        ),
        "the newest receipt chosen",
    )
    .await;
    b.keys(&ENTER.to_string()).await;
    let text = downloaded(&mut b, 2, r2, dir.path()).await;
    assert!(text.contains(r2.as_str()), "{text}");
    assert!(text.contains("€ 35,00"), "{text}");
    b.keys(&format!("{ARROW_DOWN}{ENTER}")).await;
    let text = downloaded(&mut b, 3, r1, dir.path()).await;
    assert!(text.contains(r1.as_str()), "{text}");
    b.shot("downloaded").await;

    // F8 again: any receipt by its number.
    b.keys(&F8.to_string()).await;
    b.wait_js(
        "!document.getElementById('modal').hidden",
        "the receipt number dialog",
    )
    .await;
    b.keys(&format!("{r2}{ENTER}")).await;
    let text = downloaded(&mut b, 4, r2, dir.path()).await;
    assert!(text.contains(r2.as_str()), "{text}");

    // Esc: back to the counter.
    b.keys(&ESC.to_string()).await;
    b.wait_screen("idle").await;
    b.close().await;
}
