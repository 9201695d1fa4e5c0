//! End-to-end test harness: a temp directory, the mock backend in this
//! process, and the REAL `pos-agent` binary started, stopped and killed as a
//! child process.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use hardware_mocks::{MockBackend, RenderedDocument, RunningBackend};
use serde_json::{json, Value};

pub const BIN: &str = env!("CARGO_BIN_EXE_pos-agent");
pub const OPERATOR: &str = "op1";
pub const PIN: &str = "4821";

pub struct Env {
    pub dir: tempfile::TempDir,
    pub config_path: PathBuf,
    pub data_dir: PathBuf,
    pub printer_file: PathBuf,
    pub mock: MockBackend,
    pub backend: Option<RunningBackend>,
    pub backend_addr: SocketAddr,
    pub agent: Option<Child>,
    pub api: String,
    pub logs: Arc<Mutex<Vec<String>>>,
    pub http: reqwest::Client,
}

/// Options for [`Env::with`].
pub struct Opts {
    pub backend_timeout_ms: u64,
    pub extra_config: String,
    /// `[card_reader] device`, e.g. `serial:/dev/pts/7` (default `none`).
    pub card_reader_device: String,
    /// `[camera] device`, e.g. `dir:/tmp/frames` (default `none`).
    pub camera_device: String,
}

impl Default for Opts {
    fn default() -> Self {
        Opts {
            backend_timeout_ms: 2000,
            extra_config: String::new(),
            card_reader_device: "none".into(),
            camera_device: "none".into(),
        }
    }
}

impl Env {
    /// A fresh counter: mock backend up, terminal enrolled, operator added.
    pub async fn new() -> Env {
        Self::with(Opts::default()).await
    }

    pub async fn with(opts: Opts) -> Env {
        let dir = tempfile::tempdir().expect("temp dir");
        let mock = MockBackend::with_demo_data();
        let backend = mock
            .serve("127.0.0.1:0".parse().expect("addr"))
            .await
            .expect("mock backend");
        let data_dir = dir.path().join("data");
        let printer_file = dir.path().join("printer.bin");
        let config_path = dir.path().join("config.toml");
        let config = format!(
            r#"data_dir = "{data}"

[terminal]
shop_name = "Tabaccheria Rossi"
address = "Via Roma 1, Balangero"

[backend]
url = "{url}"
timeout_ms = {timeout}

[api]
listen = "127.0.0.1:0"

[printer]
device = "file:{printer}"
paper_width_mm = 80

[camera]
device = "{camera}"

[card_reader]
device = "{card_reader}"

[log]
level = "info"
{extra}
"#,
            data = data_dir.display(),
            url = backend.url,
            timeout = opts.backend_timeout_ms,
            printer = printer_file.display(),
            extra = opts.extra_config,
            card_reader = opts.card_reader_device,
            camera = opts.camera_device,
        );
        std::fs::write(&config_path, config).expect("write config");
        let backend_addr = backend.addr;
        let env = Env {
            dir,
            config_path,
            data_dir,
            printer_file,
            mock,
            backend: Some(backend),
            backend_addr,
            agent: None,
            api: String::new(),
            logs: Arc::new(Mutex::new(Vec::new())),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(20))
                .build()
                .expect("client"),
        };
        let out = env.cli(&[
            "enroll",
            "--activation-code",
            hardware_mocks::demo::ACTIVATION_CODE,
        ]);
        assert!(
            out.status.success(),
            "enroll failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let out = env.cli_stdin(&["operator", "add", OPERATOR, "--pin-stdin"], PIN);
        assert!(
            out.status.success(),
            "operator add failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        env
    }

    /// Run a pos-agent command with this counter's config.
    pub fn cli(&self, args: &[&str]) -> Output {
        Command::new(BIN)
            .arg("--config")
            .arg(&self.config_path)
            .args(args)
            .output()
            .expect("run pos-agent")
    }

    pub fn cli_stdin(&self, args: &[&str], stdin: &str) -> Output {
        let mut child = Command::new(BIN)
            .arg("--config")
            .arg(&self.config_path)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run pos-agent");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(stdin.as_bytes())
            .expect("write stdin");
        child.wait_with_output().expect("wait")
    }

    /// Start `pos-agent run` and wait until it serves the API.
    pub fn start_agent(&mut self) {
        assert!(self.agent.is_none(), "agent already running");
        let mut child = Command::new(BIN)
            .arg("--config")
            .arg(&self.config_path)
            .arg("run")
            .env("POS_AGENT_SYNC_BASE_MS", "100")
            .env("POS_AGENT_SYNC_MAX_MS", "400")
            .env("POS_AGENT_RECEIPT_WAIT_MS", "1500")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start pos-agent run");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, rx) = mpsc::channel();
        let logs = self.logs.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(addr) = line.strip_prefix("pos-agent: listening on ") {
                    let _ = tx.send(addr.trim().to_string());
                } else if line.contains("pos-agent listening") {
                    // JSON logs: the record carries the address.
                    if let Some(addr) = serde_json::from_str::<Value>(&line)
                        .ok()
                        .and_then(|v| v["fields"]["addr"].as_str().map(str::to_string))
                    {
                        let _ = tx.send(format!("http://{addr}"));
                    }
                }
                logs.lock().unwrap().push(line);
            }
        });
        match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(url) => self.api = url,
            Err(_) => {
                let _ = child.kill();
                let status = child.wait().ok();
                panic!(
                    "pos-agent did not start ({status:?}); logs:\n{}",
                    self.logs.lock().unwrap().join("\n")
                );
            }
        }
        self.agent = Some(child);
    }

    /// SIGKILL: no shutdown code runs, exactly like a power cut for the process.
    pub fn kill_agent(&mut self) {
        if let Some(mut c) = self.agent.take() {
            c.kill().expect("kill");
            c.wait().expect("wait");
        }
    }

    pub fn stop_backend_blocking(&mut self) {}

    pub async fn stop_backend(&mut self) {
        if let Some(b) = self.backend.take() {
            b.shutdown().await;
        }
    }

    pub async fn start_backend(&mut self) {
        assert!(self.backend.is_none());
        let mut last = None;
        for _ in 0..50 {
            match self.mock.serve(self.backend_addr).await {
                Ok(b) => {
                    self.backend = Some(b);
                    return;
                }
                Err(e) => last = Some(e),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("backend could not restart: {last:?}");
    }

    pub fn logs(&self) -> String {
        self.logs.lock().unwrap().join("\n")
    }

    pub async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let url = format!("{}{}", self.api, path);
        let mut req = match method {
            "GET" => self.http.get(url),
            "POST" => self.http.post(url),
            other => panic!("method {other}"),
        };
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        let text = resp.text().await.expect("body");
        let v = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, v)
    }

    /// `POST /api/v1/transactions/{id}/{action}`: the counter's transitions
    /// (`choose`, `amount`, `pre-receipt`, `pay`, `void`) as the console calls them.
    pub async fn act(
        &self,
        token: &str,
        id: &str,
        action: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let path = format!("/api/v1/transactions/{id}/{action}");
        self.call("POST", &path, Some(token), body).await
    }

    pub async fn post_raw(&self, path: &str, token: &str, body: &'static str) -> (u16, Value) {
        let resp = self
            .http
            .post(format!("{}{}", self.api, path))
            .bearer_auth(token)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("request");
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    pub async fn login(&self) -> String {
        let (s, v) = self
            .call(
                "POST",
                "/api/v1/login",
                None,
                Some(json!({"operator": OPERATOR, "pin": PIN})),
            )
            .await;
        assert_eq!(s, 200, "login: {v}");
        v["token"].as_str().expect("token").to_string()
    }

    /// create → amount → pre-receipt; returns the transaction id.
    pub async fn ready_to_pay(&self, token: &str, input: &str, amount_cents: i64) -> String {
        let (s, t) = self
            .call(
                "POST",
                "/api/v1/transactions",
                Some(token),
                Some(json!({"input": input})),
            )
            .await;
        assert_eq!(s, 201, "create: {t}");
        let id = t["id"].as_str().expect("id").to_string();
        let (s, t) = self
            .act(
                token,
                &id,
                "amount",
                Some(json!({"amount_cents": amount_cents})),
            )
            .await;
        assert_eq!(s, 200, "amount: {t}");
        let (s, t) = self.act(token, &id, "pre-receipt", None).await;
        assert_eq!(s, 200, "pre-receipt: {t}");
        assert_eq!(t["state"], "awaiting_cash");
        id
    }

    pub async fn pay(&self, token: &str, id: &str, tendered: i64) -> Value {
        let (s, v) = self
            .act(token, id, "pay", Some(json!({"tendered_cents": tendered})))
            .await;
        assert_eq!(s, 200, "pay: {v}");
        v
    }

    pub async fn tx(&self, token: &str, id: &str) -> Value {
        let (s, v) = self
            .call(
                "GET",
                &format!("/api/v1/transactions/{id}"),
                Some(token),
                None,
            )
            .await;
        assert_eq!(s, 200, "get: {v}");
        v
    }

    /// Poll until the transaction's sync state is `want`.
    pub async fn wait_sync(&self, token: &str, id: &str, want: &str, within: Duration) -> Value {
        let deadline = Instant::now() + within;
        loop {
            let t = self.tx(token, id).await;
            if t["sync"] == want {
                return t;
            }
            if Instant::now() > deadline {
                panic!(
                    "transaction {id} never reached sync={want}: {t}\nlogs:\n{}",
                    self.logs()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The documents the printer finished (cut) so far, decoded by the
    /// virtual printer. A drawer kick alone is not a document.
    pub fn printed(&self) -> Vec<RenderedDocument> {
        let bytes = std::fs::read(&self.printer_file).unwrap_or_default();
        hardware_mocks::render_text(&bytes)
            .into_iter()
            .filter(|d| d.cut)
            .collect()
    }

    /// Poll until at least `n` documents were printed.
    pub async fn wait_printed(&self, n: usize, within: Duration) -> Vec<RenderedDocument> {
        let deadline = Instant::now() + within;
        loop {
            let docs = self.printed();
            if docs.len() >= n {
                return docs;
            }
            if Instant::now() > deadline {
                panic!("only {} documents printed, wanted {n}", docs.len());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub fn journal_path(&self) -> PathBuf {
        self.data_dir.join("journal.sqlite")
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        if let Some(mut c) = self.agent.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

pub fn doc_text(d: &RenderedDocument) -> String {
    d.lines.join("\n")
}

pub fn path_exists(p: &Path) -> bool {
    p.exists()
}

// ---------------------------------------------------------------------------
// Helpers for the crash, fault and security tests (appended; the functions
// above keep their behaviour).

impl Env {
    /// Point the printer at another device (`none`, `tcp://127.0.0.1:PORT`,
    /// ...) by rewriting the `device = "file:..."` line of the config. Takes
    /// effect at the next `start_agent`.
    pub fn set_printer_device(&self, device: &str) {
        let text = std::fs::read_to_string(&self.config_path).expect("read config");
        let old = format!("device = \"file:{}\"", self.printer_file.display());
        assert!(text.contains(&old), "printer line not found in the config");
        let text = text.replace(&old, &format!("device = \"{device}\""));
        std::fs::write(&self.config_path, text).expect("write config");
    }

    /// The pid of the running agent.
    pub fn agent_pid(&self) -> Option<u32> {
        self.agent.as_ref().map(|c| c.id())
    }

    /// `GET /api/v1/status`, asserting 200.
    pub async fn status(&self) -> Value {
        let (s, v) = self.call("GET", "/api/v1/status", None, None).await;
        assert_eq!(s, 200, "status: {v}");
        v
    }

    /// Poll `status` until the outbox has nothing pending; returns the last
    /// status seen.
    pub async fn wait_outbox_drained(&self, within: Duration) -> Value {
        let deadline = Instant::now() + within;
        loop {
            let st = self.status().await;
            if st["outbox"]["pending"] == 0 {
                return st;
            }
            if Instant::now() > deadline {
                panic!("outbox never drained: {st}\nlogs:\n{}", self.logs());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// `pos-agent journal verify`; panics with its output when it fails.
    pub fn assert_journal_verifies(&self) -> String {
        let out = self.cli(&["journal", "verify"]);
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(
            out.status.success(),
            "journal verify failed: {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        stdout
    }

    /// Every transaction row of the journal database, read-only while the
    /// agent may be running: `(id, state, receipt_number, sync)`.
    pub fn db_transactions(&self) -> Vec<(String, String, Option<String>, Option<String>)> {
        let conn = rusqlite::Connection::open_with_flags(
            self.journal_path(),
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .expect("open journal read-only");
        let mut st = conn
            .prepare("SELECT id, state, receipt_number, sync FROM transactions")
            .expect("prepare");
        let rows = st
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .expect("query");
        rows.map(|r| r.expect("row")).collect()
    }
}

/// Assert that receipt numbers `TERMINAL/YEAR/NNNNNN` are unique and, per
/// year, exactly 1..=n with no gap.
pub fn assert_gapless_receipts(numbers: &[String]) {
    use std::collections::BTreeMap;
    let mut by_year: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for rn in numbers {
        let parts: Vec<&str> = rn.split('/').collect();
        assert_eq!(parts.len(), 3, "receipt number {rn} is not TERMINAL/YEAR/N");
        let n: u64 = parts[2].parse().expect("receipt sequence is a number");
        by_year
            .entry(format!("{}/{}", parts[0], parts[1]))
            .or_default()
            .push(n);
    }
    for (year, mut ns) in by_year {
        ns.sort_unstable();
        let expected: Vec<u64> = (1..=ns.len() as u64).collect();
        assert_eq!(
            ns, expected,
            "receipt numbers of {year} are not gapless and unique"
        );
    }
}

// ---------------------------------------------------------------------------
// Server-Sent Events and device states, shared by the device tests.

/// A Server-Sent Events stream (`GET /api/v1/events`), read event by event.
pub struct EventStream {
    resp: reqwest::Response,
    buf: String,
    /// Everything received, to check that no fiscal code ever went out.
    pub all: String,
}

impl EventStream {
    pub async fn open(env: &Env, token: &str) -> EventStream {
        // No overall timeout: the stream stays open for the whole test.
        let resp = reqwest::Client::new()
            .get(format!("{}/api/v1/events?access_token={token}", env.api))
            .send()
            .await
            .expect("open the event stream");
        assert_eq!(resp.status(), 200, "events endpoint");
        EventStream {
            resp,
            buf: String::new(),
            all: String::new(),
        }
    }

    /// The next event (name, data); panics after `within`.
    pub async fn next(&mut self, within: Duration) -> (String, Value) {
        let deadline = Instant::now() + within;
        loop {
            if let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                let mut name = String::from("message");
                let mut data = String::new();
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("event:") {
                        name = v.trim().to_string();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.trim_start());
                    }
                }
                if data.is_empty() {
                    continue; // keep-alive comment
                }
                let value = serde_json::from_str(&data).expect("event data is JSON");
                return (name, value);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            let chunk = tokio::time::timeout(left, self.resp.chunk())
                .await
                .unwrap_or_else(|_| panic!("no event within {within:?}; got so far:\n{}", self.all))
                .expect("event stream")
                .expect("event stream ended");
            let text = String::from_utf8_lossy(&chunk);
            self.all.push_str(&text);
            self.buf.push_str(&text);
        }
    }

    /// The next event called `name`, skipping others; panics after `within`.
    pub async fn next_named(&mut self, name: &str, within: Duration) -> Value {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let (n, v) = self.next(left).await;
            if n == name {
                return v;
            }
        }
    }

    /// The next `device` event about `device`: its new state.
    pub async fn next_device_state(&mut self, device: &str, within: Duration) -> String {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let v = self.next_named("device", left).await;
            if v["device"] == device {
                return v["state"].as_str().expect("state").to_string();
            }
        }
    }
}

impl Env {
    /// `status.devices.<device>.state`.
    pub async fn device_state(&self, device: &str) -> String {
        let (s, v) = self.call("GET", "/api/v1/status", None, None).await;
        assert_eq!(s, 200, "status: {v}");
        v["devices"][device]["state"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// Poll until `status.devices.<device>.state` is `want`.
    pub async fn wait_device_state(&self, device: &str, want: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let state = self.device_state(device).await;
            if state == want {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{device} stayed {state}, wanted {want}; logs:\n{}",
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
