//! The commands behind `main.rs`, as functions the sandbox and tests reuse.

use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use serde_json::{json, Value};

use crate::agent::{Agent, AgentParts, Tuning};
use crate::datadir::{DataDir, TerminalFile};
use crate::store::Store;

pub fn init_logging(config: &pos_config::Config) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("POS_AGENT_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(config.log.level.clone()));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match config.log.format {
        pos_config::LogFormat::Json => builder.json().try_init(),
        pos_config::LogFormat::Text => builder.try_init(),
    };
}

pub fn open_store(config: &pos_config::Config) -> anyhow::Result<Store> {
    let data = DataDir::open(&config.data_dir)?;
    Ok(Store::open(&data.journal_path())?)
}

/// The journal for a read-only tool (`journal verify`/`export`, `receipt
/// show`): opened read-only, never created, nothing migrated.
pub fn open_store_read_only(
    config: &pos_config::Config,
    config_arg: Option<&Path>,
) -> anyhow::Result<Store> {
    let hint = pos_config::config_path(config_arg).display().to_string();
    crate::backup::open_existing_read_only(&config.data_dir.join("journal.sqlite"), &hint)
}

/// `pos-agent receipt show NUMBER [--format pdf|png|txt] [--output FILE]`.
pub fn receipt_show(
    config: &pos_config::Config,
    config_arg: Option<&Path>,
    number: &str,
    format: &str,
    output: Option<&Path>,
) -> anyhow::Result<()> {
    let format: crate::receipt_copy::Format = format.parse()?;
    crate::receipt_copy::check_number(number)?;
    let store = open_store_read_only(config, config_arg)?;
    let bytes = crate::receipt_copy::render(
        &store,
        &crate::printing::receipts::Header::from_config(config, ""),
        number,
        format,
    )?;
    match output {
        Some(path) => {
            std::fs::write(path, &bytes).with_context(|| format!("writing {}", path.display()))?
        }
        None => {
            use std::io::Write;
            let mut out = std::io::stdout().lock();
            out.write_all(&bytes)?;
            out.flush()?;
        }
    }
    Ok(())
}

pub fn add_operator(config: &pos_config::Config, name: &str, pin: &str) -> anyhow::Result<()> {
    if name.is_empty()
        || name.len() > 32
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.')
    {
        bail!("operator name `{name}` is not valid: use 1-32 letters, digits, '.', '_' or '-'");
    }
    crate::auth::check_pin_format(pin).map_err(|e| anyhow!(e))?;
    let hash = crate::auth::hash_pin(pin).map_err(|e| anyhow!("hashing the PIN: {e}"))?;
    open_store(config)?.add_operator(name, &hash)?;
    Ok(())
}

fn backend_client(config: &pos_config::Config) -> anyhow::Result<pos_backend::BackendClient> {
    Ok(pos_backend::BackendClient::new(
        pos_backend::ClientOptions {
            base_url: config.backend.url.clone(),
            timeout: Duration::from_millis(config.backend.timeout_ms),
            ca_file: config.backend.ca_file.clone(),
            user_agent: format!("pos-agent/{}", env!("CARGO_PKG_VERSION")),
        },
    )?)
}

/// `pos-agent enroll`: trade the activation code for the terminal id and secret.
pub async fn enroll(
    config: &pos_config::Config,
    activation_code: &str,
    force: bool,
) -> anyhow::Result<TerminalFile> {
    let data = DataDir::open(&config.data_dir)?;
    // Never swap the credentials under a running agent.
    let _lock = data.lock()?;
    if !force {
        if let Ok(t) = data.read_terminal() {
            bail!(
                "this terminal is already enrolled as {}; use --force to enrol it again",
                t.terminal_id
            );
        }
    }
    let client = backend_client(config)?;
    let hostname = std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "pos-agent".into());
    let answer = client
        .enroll(&pos_backend::EnrollRequest {
            activation_code: activation_code.trim().to_string(),
            agent_version: env!("CARGO_PKG_VERSION").to_string(),
            hostname,
        })
        .await
        .map_err(|e| match e {
            pos_backend::BackendError::Permanent { code, .. } if code == "unknown_activation_code" => {
                anyhow!("the backend does not know activation code {activation_code}: check it with the municipality")
            }
            pos_backend::BackendError::Permanent { code, .. } if code == "activation_code_used" => {
                anyhow!("activation code {activation_code} was already used: ask the municipality for a new one")
            }
            other => anyhow!("enrollment failed: {other}"),
        })?;
    let t = TerminalFile {
        terminal_id: answer.terminal_id.clone(),
        secret: answer.secret.to_base64(),
        psp: serde_json::to_value(&answer.psp).unwrap_or(Value::Null),
        location: serde_json::to_value(&answer.location).unwrap_or(Value::Null),
        enrolled_at: Some(crate::time_fmt::rfc3339(crate::time_fmt::now())),
    };
    data.write_terminal(&t)?;
    Ok(t)
}

/// Everything `run` needs, opened and checked: fails before serving anything.
pub fn open_agent(config: pos_config::Config, tuning: Tuning) -> anyhow::Result<Arc<Agent>> {
    config.validate().map_err(|e| anyhow!("{e}"))?;
    let data = DataDir::open(&config.data_dir)?;
    let lock = data.lock()?;
    let terminal = data.read_terminal()?;
    let store = Store::open(&data.journal_path())?;
    let printer = pos_drivers::open_printer(
        &config.printer.device,
        crate::printing::printer_profile(&config),
        Duration::from_secs(3),
    );
    Agent::new(AgentParts {
        config,
        data,
        lock: Some(lock),
        store,
        terminal,
        printer,
        tuning,
    })
}

/// Serve the API until SIGINT/SIGTERM: see [`crate::runtime`].
pub async fn serve(agent: Arc<Agent>, listen: SocketAddr) -> anyhow::Result<()> {
    crate::runtime::serve(agent, listen).await
}

pub async fn run(config: pos_config::Config, tuning: Tuning) -> anyhow::Result<()> {
    let listen = config.api.listen;
    let agent = open_agent(config, tuning)?;
    serve(agent, listen).await
}

/// `pos-agent journal export`: see [`crate::export`].
pub fn export_journal(
    store: &Store,
    from: Option<&str>,
    to: Option<&str>,
    format: &str,
    output: Option<&Path>,
) -> anyhow::Result<()> {
    crate::export::run(store, from, to, format, output).map(|_| ())
}

/// `pos-agent inspect`: exit 0 and the parsed fields, or exit 1 and the error.
pub fn inspect(input: &str, as_json: bool, reveal: bool) -> ExitCode {
    match pos_codes::classify(input) {
        Ok(parsed) => {
            let v = crate::inspect::describe(&parsed, reveal);
            if as_json {
                println!("{v}");
            } else {
                println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            let v = json!({"error": {"code": e.code(), "message": e.to_string()}});
            println!("{v}");
            eprintln!("pos-agent: {}: {}", e.code(), e);
            ExitCode::from(1)
        }
    }
}
