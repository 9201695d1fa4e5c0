//! `pos-agent enroll --activation-code CODE [--force]`: registers this
//! terminal with the backend (the exchange itself is [`crate::cli::enroll`]).

use std::path::Path;
use std::process::ExitCode;

use crate::cli;

pub fn enroll(
    config_arg: Option<&Path>,
    activation_code: &str,
    force: bool,
) -> anyhow::Result<ExitCode> {
    let config = super::load_config(config_arg)?;
    let rt = tokio::runtime::Runtime::new()?;
    let t = rt.block_on(cli::enroll(&config, activation_code, force))?;
    println!(
        "Terminale registrato: {} (credenziali in {})",
        t.terminal_id,
        config.data_dir.join("terminal.json").display()
    );
    Ok(ExitCode::SUCCESS)
}
