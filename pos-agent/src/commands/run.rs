//! `pos-agent run`: the counter agent (devices, local API and console,
//! sync) until it is stopped: [`open_agent`] opens and checks everything,
//! [`crate::runtime`] runs it.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::anyhow;

use crate::agent::{Agent, AgentParts, Tuning};
use crate::datadir::DataDir;
use crate::store::Store;

pub fn run(config_arg: Option<&Path>) -> anyhow::Result<ExitCode> {
    let config = super::load_config(config_arg)?;
    super::init_logging(&config);
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(serve(config, Tuning::from_env()))?;
    Ok(ExitCode::SUCCESS)
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

/// Open the agent of `config` and serve until SIGINT/SIGTERM.
pub async fn serve(config: pos_config::Config, tuning: Tuning) -> anyhow::Result<()> {
    let listen = config.api.listen;
    let agent = open_agent(config, tuning)?;
    crate::runtime::serve(agent, listen).await
}
