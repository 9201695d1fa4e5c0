//! `pos-agent enroll --activation-code CODE [--force]`: registers this
//! terminal with the backend (the exchange itself is [`enroll_terminal`],
//! which the sandbox reuses).

use std::path::Path;
use std::process::ExitCode;

use std::time::Duration;

use anyhow::{anyhow, bail};
use serde_json::Value;

use crate::datadir::{DataDir, TerminalFile};

pub fn enroll(
    config_arg: Option<&Path>,
    activation_code: &str,
    force: bool,
) -> anyhow::Result<ExitCode> {
    let config = super::load_config(config_arg)?;
    let rt = tokio::runtime::Runtime::new()?;
    let t = rt.block_on(enroll_terminal(&config, activation_code, force))?;
    println!(
        "Terminale registrato: {} (credenziali in {})",
        t.terminal_id,
        config.data_dir.join("terminal.json").display()
    );
    Ok(ExitCode::SUCCESS)
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
pub async fn enroll_terminal(
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
