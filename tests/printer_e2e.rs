//! End-to-end: the real `pos-agent` binary printing to a virtual network
//! printer that runs out of paper or is not there. The promise under test:
//! a receipt that cannot be printed is never lost, and the printer never
//! holds up a payment.

mod support;

use std::net::TcpListener;
use std::time::{Duration, Instant};

use hardware_mocks::demo;
use hardware_mocks::{RenderedDocument, RunningPrinter, VirtualPrinter};
use serde_json::Value;
use support::Env;

const WAIT: Duration = Duration::from_secs(30);

/// `(kind, state, attempts, last_error)` of the print jobs of one
/// transaction, read-only while the agent runs.
fn print_jobs(env: &Env, ref_id: &str) -> Jobs {
    let conn = rusqlite::Connection::open_with_flags(
        env.journal_path(),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .expect("open journal read-only");
    let mut st = conn
        .prepare("SELECT kind, state, attempts, last_error FROM print_jobs WHERE ref_id = ?1 ORDER BY id")
        .expect("prepare");
    let rows = st
        .query_map([ref_id], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })
        .expect("query");
    rows.map(|r| r.expect("row")).collect()
}

async fn wait_status(env: &Env, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + WAIT;
    loop {
        let st = env.status().await;
        if pred(&st) {
            return st;
        }
        if Instant::now() > deadline {
            panic!("status never showed {what}: {st}\nlogs:\n{}", env.logs());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until the printer has a whole (cut) document containing `text`.
async fn wait_paper(env: &Env, printer: &RunningPrinter, text: &str) -> RenderedDocument {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(d) = printer
            .cut_documents()
            .into_iter()
            .find(|d| d.text().contains(text))
        {
            return d;
        }
        if Instant::now() > deadline {
            panic!(
                "{text:?} never printed; paper: {:?}\nlogs:\n{}",
                printer.documents(),
                env.logs()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

type Jobs = Vec<(String, String, i64, Option<String>)>;

/// Waits until the print jobs of `ref_id` satisfy `pred` (the database is
/// updated just after the paper comes out).
async fn wait_jobs(env: &Env, ref_id: &str, what: &str, pred: impl Fn(&Jobs) -> bool) -> Jobs {
    let deadline = Instant::now() + WAIT;
    loop {
        let jobs = print_jobs(env, ref_id);
        if pred(&jobs) {
            return jobs;
        }
        if Instant::now() > deadline {
            panic!(
                "print jobs never showed {what}: {jobs:?}\nlogs:\n{}",
                env.logs()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn journal_mentions(env: &Env, tx_id: &str) -> bool {
    let conn = rusqlite::Connection::open_with_flags(
        env.journal_path(),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .expect("open journal read-only");
    let n: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM journal WHERE tx_id = ?1",
            [tx_id],
            |r| r.get(0),
        )
        .expect("count");
    n > 0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paper_out_in_the_middle_of_the_receipt_keeps_it_until_paper_is_back() {
    let printer = VirtualPrinter::start("127.0.0.1:0".parse().expect("addr")).expect("printer");
    let mut env = Env::new().await;
    env.set_printer_device(&printer.device());
    env.start_agent();
    let token = env.login().await;

    let id = env
        .ready_to_pay(&token, demo::MANUAL_CODE_MENSA_1, 2000)
        .await;
    wait_paper(&env, &printer, "PRE-SCONTRINO").await;

    // The roll ends a few hundred bytes into the next document: the
    // receipt starts printing and stops half way.
    printer.set_paper_out_after(300);
    let paid = env.pay(&token, &id, 5000).await;
    assert_eq!(paid["state"], "paid");
    let receipt = paid["receipt_number"]
        .as_str()
        .expect("receipt number")
        .to_string();

    let st = wait_status(&env, "printer paper_out", |s| {
        s["devices"]["printer"]["state"] == "paper_out"
    })
    .await;
    assert_eq!(st["devices"]["printer"]["state"], "paper_out", "{st}");
    assert!(printer.is_paper_out());

    // The payment is safe whatever the printer does.
    assert_eq!(env.tx(&token, &id).await["state"], "paid");
    assert!(journal_mentions(&env, &id), "payment not journaled");
    env.assert_journal_verifies();

    // The receipt job waits, saying why.
    let jobs = wait_jobs(&env, &id, "a pending receipt job", |jobs| {
        jobs.iter()
            .any(|(k, s, a, _)| k == "receipt" && s == "pending" && *a >= 1)
    })
    .await;
    let (_, _, _, error) = jobs
        .iter()
        .find(|(k, ..)| k == "receipt")
        .expect("receipt job");
    let error = error.clone().unwrap_or_default();
    assert!(error.contains("out of paper"), "{error}");
    assert!(
        env.logs().contains("print job not printed"),
        "{}",
        env.logs()
    );
    // Only the torn-off start of the receipt is on the paper, no whole one.
    assert!(
        !printer
            .cut_documents()
            .iter()
            .any(|d| d.text().contains("RICEVUTA DI PAGAMENTO")),
        "{:?}",
        printer.documents()
    );

    // A new roll: the retry loop prints the whole receipt.
    printer.set_paper_out(false);
    let doc = wait_paper(&env, &printer, "RICEVUTA DI PAGAMENTO").await;
    assert!(doc.text().contains(&receipt), "{}", doc.text());
    assert_eq!(doc.qr_codes, vec![format!("{receipt}|{id}")]);
    // The PSP the terminal was enrolled with (the mock's enrolment answer).
    assert!(
        doc.lines
            .iter()
            .any(|l| l.starts_with("PSP") && l.ends_with(demo::PSP_NAME)),
        "{}",
        doc.text()
    );
    wait_status(&env, "printer ready", |s| {
        s["devices"]["printer"]["state"] == "ready"
    })
    .await;
    wait_jobs(
        &env,
        &id,
        "receipt printed after a failed attempt",
        |jobs| {
            jobs.iter()
                .any(|(k, s, a, e)| k == "receipt" && s == "printed" && *a >= 2 && e.is_none())
        },
    )
    .await;
    // Printed once, not once per retry.
    let whole = printer
        .cut_documents()
        .iter()
        .filter(|d| d.text().contains("RICEVUTA DI PAGAMENTO"))
        .count();
    assert_eq!(whole, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_printer_is_offline_never_blocks_pay_and_prints_when_back() {
    // A port nobody listens on: connections are refused.
    let addr = {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr")
    };
    let mut env = Env::new().await;
    env.set_printer_device(&format!("tcp://{addr}"));
    env.start_agent();
    let token = env.login().await;

    // The pre-receipt cannot print; the flow goes on.
    let id = env
        .ready_to_pay(&token, demo::MANUAL_CODE_MENSA_1, 2000)
        .await;
    let paid = env.pay(&token, &id, 2000).await;
    assert_eq!(paid["state"], "paid");
    let receipt = paid["receipt_number"]
        .as_str()
        .expect("receipt number")
        .to_string();

    let st = wait_status(&env, "printer offline", |s| {
        s["devices"]["printer"]["state"] == "offline"
    })
    .await;
    assert_eq!(st["devices"]["printer"]["state"], "offline");
    let logs = env.logs();
    assert!(
        logs.contains(&format!("printer tcp://{addr} is not reachable")),
        "{logs}"
    );
    assert!(journal_mentions(&env, &id));

    // The printer comes back on the same address: the receipt prints; the
    // pre-receipt is no use any more once paid, and is skipped.
    let printer = VirtualPrinter::start(addr).expect("printer on the same port");
    let doc = wait_paper(&env, &printer, "RICEVUTA DI PAGAMENTO").await;
    assert!(doc.text().contains(&receipt), "{}", doc.text());
    assert!(
        !printer
            .documents()
            .iter()
            .any(|d| d.text().contains("PRE-SCONTRINO")),
        "{:?}",
        printer.documents()
    );
    wait_jobs(&env, &id, "pre-receipt skipped, receipt printed", |jobs| {
        let states: Vec<(&str, &str)> = jobs
            .iter()
            .map(|(k, s, ..)| (k.as_str(), s.as_str()))
            .collect();
        states == vec![("pre_receipt", "skipped"), ("receipt", "printed")]
    })
    .await;
    wait_status(&env, "printer ready", |s| {
        s["devices"]["printer"]["state"] == "ready"
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn printer_test_command_prints_the_test_page_and_code_pages() {
    let printer = VirtualPrinter::start("127.0.0.1:0".parse().expect("addr")).expect("printer");
    let env = Env::new().await;
    env.set_printer_device(&printer.device());

    let out = env.cli(&["printer", "test"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("stato ready"), "{stdout}");
    let page = printer
        .cut_documents()
        .into_iter()
        .find(|d| d.text().contains("PROVA DI STAMPA"))
        .expect("test page");
    assert!(
        page.text().contains("Lettere: € à è é ì ò ù"),
        "{}",
        page.text()
    );
    assert!(page.text().contains(&printer.device()), "{}", page.text());
    assert_eq!(page.qr_codes, vec!["pos-agent printer test"]);

    let out = env.cli(&["printer", "test", "--code-pages", "--tables", "0,19"]);
    assert!(out.status.success());
    let tables = printer
        .cut_documents()
        .into_iter()
        .find(|d| d.text().contains("Tabella 19"))
        .expect("code page test");
    // The virtual printer has PC858 at 19 (Epson numbering): that line is
    // right, table 0 (PC437) shows other glyphs for the same bytes.
    assert!(tables
        .lines
        .contains(&"Tabella 19: € à è é ì ò ù".to_string()));
    assert!(!tables
        .lines
        .contains(&"Tabella 0: € à è é ì ò ù".to_string()));

    // Out of paper: exit 1, the state on stdout, the reason on stderr.
    printer.set_paper_out(true);
    let out = env.cli(&["printer", "test"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("paper_out"));
    assert!(String::from_utf8_lossy(&out.stderr).contains("out of paper"));
}
