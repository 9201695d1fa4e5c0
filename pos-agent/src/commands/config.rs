//! `pos-agent config init [--output FILE]` and `config check [FILE]`.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{anyhow, bail, Context};

/// Writes the commented example config to `output` (never over an
/// existing file), or to standard output.
pub fn init(output: Option<&Path>) -> anyhow::Result<ExitCode> {
    match output {
        Some(path) => {
            if path.exists() {
                bail!("{} already exists; not overwriting it", path.display());
            }
            std::fs::write(path, pos_config::EXAMPLE)
                .with_context(|| format!("writing {}", path.display()))?;
            eprintln!("Esempio di configurazione scritto in {}", path.display());
        }
        None => print!("{}", pos_config::EXAMPLE),
    }
    Ok(ExitCode::SUCCESS)
}

/// Validates `file` (else the config `--config` names, else the default).
pub fn check(file: Option<&Path>, config_arg: Option<&Path>) -> anyhow::Result<ExitCode> {
    let path = pos_config::config_path(file.or(config_arg));
    let config = pos_config::Config::load(&path).map_err(|e| anyhow!("{e}"))?;
    println!("{}: configurazione valida", path.display());
    // Accepted, but worth a look (e.g. a partita IVA with a wrong check
    // digit, printed on every receipt).
    for w in config.warnings() {
        eprintln!("{}: attenzione: {w}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}
