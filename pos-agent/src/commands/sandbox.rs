//! `pos-agent sandbox`: the whole counter in one process, with the mock
//! backend and mock devices, for trying it out and for demos.
//!
//! Everything lives under `--dir`: `data/` (journal, terminal), `config.toml`
//! (the config the sandbox runs with, to read and copy), `printer.bin` (the
//! raw ESC/POS bytes) and `receipts/` (each printed document as text and as
//! a PNG picture of the paper, `NNNN.txt` and `NNNN.png`).

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use base64::Engine;
use hardware_mocks::demo;
use pos_config::{CameraDevice, CardReaderDevice, Config, PrinterDevice};

use crate::agent::Tuning;
use crate::datadir::DataDir;

pub const SANDBOX_OPERATOR: &str = "op1";
pub const SANDBOX_PIN: &str = "1234";

pub fn sandbox_config(dir: &Path, backend_url: &str, listen: SocketAddr) -> Config {
    let mut c = Config {
        data_dir: dir.join("data"),
        ..Config::default()
    };
    c.terminal.shop_name = demo::LOCATION_NAME.to_string();
    c.terminal.address = demo::LOCATION_ADDRESS.to_string();
    c.backend.url = backend_url.to_string();
    c.backend.timeout_ms = 3000;
    c.api.listen = listen;
    c.printer.device = PrinterDevice::File {
        path: dir.join("printer.bin"),
    };
    c.camera.device = CameraDevice::Dir {
        path: dir.join("camera"),
    };
    c.card_reader.device = CardReaderDevice::None;
    // The mock backend's own request log would drown the agent's.
    c.log.level = "info,hardware_mocks=warn".into();
    c
}

/// Render every new document of the printer file into `receipts/NNNN.txt`
/// and `receipts/NNNN.png`.
async fn render_receipts(printer_file: std::path::PathBuf, out_dir: std::path::PathBuf) {
    let mut written = 0usize;
    let mut last_len = 0u64;
    loop {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let len = std::fs::metadata(&printer_file)
            .map(|m| m.len())
            .unwrap_or(0);
        if len == last_len {
            continue;
        }
        last_len = len;
        let bytes = std::fs::read(&printer_file).unwrap_or_default();
        let docs = hardware_mocks::render_text(&bytes);
        for (i, d) in docs.iter().enumerate().skip(written) {
            if !d.cut {
                break;
            }
            let path = out_dir.join(format!("{:04}.txt", i + 1));
            let _ = std::fs::write(&path, d.to_text());
            let png = out_dir.join(format!("{:04}.png", i + 1));
            let columns = Config::default().printer.paper_width_mm.columns();
            if let Err(e) = hardware_mocks::write_png(&png, d, columns) {
                tracing::warn!(error = %e, "could not draw the receipt");
            }
            written = i + 1;
        }
    }
}

pub async fn run(dir: &Path, listen: SocketAddr) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let dir = dir.canonicalize()?;
    let receipts = dir.join("receipts");
    std::fs::create_dir_all(&receipts)?;
    std::fs::create_dir_all(dir.join("camera"))?;

    let mock = hardware_mocks::MockBackend::with_demo_data();
    let backend = mock
        .serve("127.0.0.1:0".parse().expect("literal address"))
        .await
        .context("starting the mock backend")?;
    let config = sandbox_config(&dir, &backend.url, listen);
    std::fs::write(dir.join("config.toml"), config.to_toml())?;
    super::init_logging(&config);

    let data = DataDir::open(&config.data_dir)?;
    match data.read_terminal() {
        // A sandbox started before: the new mock learns the old terminal.
        Ok(t) => {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(t.secret.as_bytes())
                .ok()
                .and_then(|b| <[u8; 32]>::try_from(b).ok())
                .context("the sandbox terminal file is damaged; delete the sandbox directory")?;
            mock.register_terminal(&t.terminal_id, bytes);
        }
        Err(_) => {
            super::enroll::enroll_terminal(&config, demo::ACTIVATION_CODE, false).await?;
        }
    }
    let store = super::open_store(&config)?;
    if store.operator(SANDBOX_OPERATOR)?.is_none() {
        drop(store);
        super::operator::add_operator(&config, SANDBOX_OPERATOR, SANDBOX_PIN)?;
    } else {
        drop(store);
    }

    let agent = super::run::open_agent(config, Tuning::default())?;
    tokio::spawn(render_receipts(dir.join("printer.bin"), receipts.clone()));

    let token = demo::app_token(
        demo::CONSUMER_3,
        demo::SERVICE_MENSA,
        time::OffsetDateTime::now_utc().unix_timestamp(),
    );
    print!(
        "{}",
        banner(&Banner {
            listen,
            app_token: &token,
            receipts: &receipts,
            dir: &dir,
            backend_url: &backend.url,
        })
    );
    let r = crate::runtime::serve(agent, listen).await;
    backend.shutdown().await;
    r
}

/// What the sandbox banner names.
struct Banner<'a> {
    listen: SocketAddr,
    app_token: &'a str,
    receipts: &'a Path,
    dir: &'a Path,
    backend_url: &'a str,
}

/// The banner a newcomer reads first: where the console is, how to log in,
/// and a code for every path: manual codes, a revoked one, an app QR, a
/// pagoPA notice QR, and the health card of a parent with two children
/// (several items in one payment).
fn banner(b: &Banner<'_>) -> String {
    let family = demo::payer_codes()
        .iter()
        .map(|c| format!("{} ({})", c.display_name, c.manual_code))
        .collect::<Vec<_>>()
        .join(", ");
    let camera = b.dir.join("camera");
    format!(
        "\n  pos-agent sandbox\n\n  Console:   http://{listen}/\n  Operatore: {SANDBOX_OPERATOR}   PIN: {SANDBOX_PIN}\n\n  \
         Codici di prova:\n    manuale (mensa):      {mensa}\n    manuale (trasporto):  {bus}\n    \
         revocato:             {revoked}\n    QR dell'app (mensa):  {token}\n    \
         avviso pagoPA (QR):   {notice}\n    tessera sanitaria:    {cf}  (genitore di due figli: {family})\n\n  \
         Più voci in un pagamento: con un'operazione aperta, leggere o digitare un altro codice\n  \
         la aggiunge (per esempio la tessera, scegliendo entrambi i figli, e poi l'avviso).\n\n  \
         Ricevute stampate:  {receipts}\n  Fotocamera:         {camera}  (mostrare un QR: cargo run -p hardware-mocks -- camera --dir {camera})\n  \
         Backend di prova:   {url}  (guasti: POST {url}/_mock/faults)\n  Dati e config:      {dir}\n",
        listen = b.listen,
        mensa = demo::MANUAL_CODE_MENSA_1,
        bus = demo::MANUAL_CODE_TRASPORTO_1,
        revoked = demo::MANUAL_CODE_REVOKED,
        token = b.app_token,
        notice = demo::NOTICE_PAYABLE_QR,
        cf = demo::PAYER_FISCAL_CODE,
        receipts = b.receipts.display(),
        camera = camera.display(),
        url = b.backend_url,
        dir = b.dir.display(),
    )
}

/// `pos-agent sandbox [--dir DIR] [--listen ADDR]`: runs until stopped.
pub fn command(dir: &Path, listen: SocketAddr) -> anyhow::Result<std::process::ExitCode> {
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(run(dir, listen))?;
    Ok(std::process::ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_banner_names_a_code_for_every_path_including_a_family() {
        let dir = tempfile::tempdir().unwrap();
        let text = banner(&Banner {
            listen: "127.0.0.1:7878".parse().unwrap(),
            app_token: "TOKEN",
            receipts: &dir.path().join("receipts"),
            dir: dir.path(),
            backend_url: "http://127.0.0.1:9",
        });
        let value_of = |label: &str| -> String {
            let line = text
                .lines()
                .find(|l| l.trim_start().starts_with(label))
                .unwrap_or_else(|| panic!("no {label:?} line in:\n{text}"));
            line[line.find(':').unwrap() + 1..]
                .split_whitespace()
                .next()
                .unwrap()
                .to_string()
        };
        // What the banner offers is what the counter reads.
        assert!(matches!(
            pos_codes::classify(&value_of("avviso pagoPA")),
            Ok(pos_codes::Input::Notice(_))
        ));
        assert!(matches!(
            pos_codes::classify(&value_of("tessera sanitaria")),
            Ok(pos_codes::Input::FiscalCode(_))
        ));
        for child in demo::payer_codes() {
            assert!(text.contains(child.manual_code), "{text}");
        }
        assert!(text.contains("http://127.0.0.1:7878/"));
    }

    #[test]
    fn the_sandbox_config_is_valid_and_loopback() {
        let dir = tempfile::tempdir().unwrap();
        let c = sandbox_config(
            dir.path(),
            "http://127.0.0.1:9",
            "127.0.0.1:7878".parse().unwrap(),
        );
        c.validate().unwrap();
        assert!(c.api_is_loopback());
        // What the sandbox writes for the technician to read parses back.
        let again = Config::parse(&c.to_toml(), "sandbox.toml").unwrap();
        assert_eq!(again, c);
    }
}
