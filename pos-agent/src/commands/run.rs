//! `pos-agent run`: the counter agent (devices, local API and console,
//! sync) until it is stopped; the agent is started by [`crate::cli::run`].

use std::path::Path;
use std::process::ExitCode;

use crate::cli;

pub fn run(config_arg: Option<&Path>) -> anyhow::Result<ExitCode> {
    let config = super::load_config(config_arg)?;
    cli::init_logging(&config);
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(cli::run(config, crate::agent::Tuning::from_env()))?;
    Ok(ExitCode::SUCCESS)
}
