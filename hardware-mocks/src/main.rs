//! `hardware-mocks`: run the mock backend or the virtual printer by hand
//! (sandbox, demos, manual tests of the agent).
//!
//! ```text
//! hardware-mocks backend --listen 127.0.0.1:8080
//! hardware-mocks printer --listen 127.0.0.1:9100 --out /tmp/receipts
//! ```

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use hardware_mocks::printer::write_documents;
use hardware_mocks::{demo, MockBackend, VirtualPrinter};

#[derive(Parser)]
#[command(
    name = "hardware-mocks",
    version,
    about = "Mocks of the municipal backend and of the receipt printer"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the mock municipal backend (backend-api.md) with the demo data.
    Backend {
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
    },
    /// Run a virtual ESC/POS network printer.
    Printer {
        #[arg(long, default_value = "127.0.0.1:9100")]
        listen: SocketAddr,
        /// Write each printed document (up to its cut) as a text file here.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Show a code to a `dir:` camera: write one realistic counter frame
    /// (phone screen, tilt, blur, glare) with the QR of PAYLOAD into DIR.
    Camera {
        /// The camera's directory (`camera.device = "dir:DIR"`).
        #[arg(long)]
        dir: PathBuf,
        /// The text in the QR; default: the demo app token of the first child.
        #[arg(long)]
        payload: Option<String>,
        /// Seed of the frame's look (angle, blur, background).
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    match Cli::parse().command {
        Command::Backend { listen } => run_backend(listen).await,
        Command::Printer { listen, out } => run_printer(listen, out).await,
        Command::Camera { dir, payload, seed } => show_to_camera(&dir, payload, seed),
    }
}

fn show_to_camera(dir: &std::path::Path, payload: Option<String>, seed: u64) -> anyhow::Result<()> {
    let payload = payload.unwrap_or_else(|| {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(demo::DEMO_IAT);
        demo::app_token(demo::CONSUMER_1, demo::SERVICE_MENSA, now)
    });
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let bytes = hardware_mocks::camera::frame_jpeg(Some(&payload), 1280, 720, seed);
    // Named by time, so each frame sorts after the ones already there; written
    // under a temporary name first so the camera never reads half a file.
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    let name = format!("frame-{millis:015}.jpg");
    let tmp = dir.join(format!(".{name}.part"));
    std::fs::write(&tmp, bytes).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, dir.join(&name))?;
    println!("{}", dir.join(name).display());
    Ok(())
}

async fn run_backend(listen: SocketAddr) -> anyhow::Result<()> {
    let backend = MockBackend::with_demo_data();
    let running = backend
        .serve(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    println!("mock backend: {}", running.url);
    println!(
        "control:      {}/_mock/state (faults: POST {}/_mock/faults)",
        running.url, running.url
    );
    println!("activation codes: {}", demo::ACTIVATION_CODES.join(", "));
    println!("creditor: {} {}", demo::CREDITOR_CF, demo::CREDITOR_NAME);
    println!("payment codes (manual code / app token):");
    for c in demo::CODES {
        let state = if c.revoked { "REVOKED" } else { "active" };
        println!(
            "  {} {:<9} {} {:<10} {:>6} cents {}",
            c.manual_code, c.service_id, c.consumer_ref, c.display_name, c.balance_cents, state
        );
        println!(
            "    {}",
            demo::app_token(c.consumer_ref, c.service_id, demo::DEMO_IAT)
        );
    }
    println!(
        "payer fiscal code: {} (owns {})",
        demo::PAYER_FISCAL_CODE,
        demo::PAYER_CODES.join(", ")
    );
    println!("notices:");
    for n in demo::NOTICES {
        println!(
            "  {} {:<9} {:>6} cents {}  QR: PAGOPA|002|{}|{}|{}",
            n.notice_number,
            n.status.as_str(),
            n.amount_cents,
            n.description,
            n.notice_number,
            demo::CREDITOR_CF,
            n.amount_cents
        );
    }
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    running.shutdown().await;
    Ok(())
}

async fn run_printer(listen: SocketAddr, out: Option<PathBuf>) -> anyhow::Result<()> {
    if let Some(dir) = &out {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let printer =
        VirtualPrinter::start(listen).with_context(|| format!("cannot listen on {listen}"))?;
    println!("virtual printer listening on {}", printer.addr);
    let mut written = 0usize;
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            r = tokio::signal::ctrl_c() => { r.context("waiting for Ctrl-C")?; break; }
        }
        let done: Vec<_> = printer.documents().into_iter().filter(|d| d.cut).collect();
        if done.len() > written {
            let new = &done[written..];
            for (k, doc) in new.iter().enumerate() {
                println!("---- document {} ----\n{}", written + 1 + k, doc.to_text());
            }
            if let Some(dir) = &out {
                write_documents(dir, new, written + 1)?;
            }
            written = done.len();
        }
    }
    printer.shutdown();
    Ok(())
}
