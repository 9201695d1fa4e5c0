//! `pos-agent receipt show NUMBER [--format pdf|png|txt] [--output FILE]`:
//! a copy of any receipt of the journal, made by
//! [`crate::printing::receipt_copy`] from its `paid` journal entry.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;

use crate::printing::receipt_copy;
use crate::printing::receipts::Header;

pub fn show(
    config_arg: Option<&Path>,
    number: &str,
    format: &str,
    output: Option<&Path>,
) -> anyhow::Result<ExitCode> {
    let config = super::load_config(config_arg)?;
    let format: receipt_copy::Format = format.parse()?;
    receipt_copy::check_number(number)?;
    let store = super::open_store_read_only(&config, config_arg)?;
    // The PSP is the one this terminal was enrolled with; a data directory
    // without its terminal file (a journal copied for an inspection) gives
    // the copy without it rather than no copy.
    let data = crate::datadir::DataDir {
        path: config.data_dir.clone(),
    };
    let header = match data.read_terminal() {
        Ok(t) => Header::for_terminal(&config, &t),
        Err(_) => Header::from_config(&config, ""),
    };
    let bytes = receipt_copy::render(&store, &header, number, format)?;
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
    Ok(ExitCode::SUCCESS)
}
