//! `pos-agent receipt show NUMBER [--format pdf|png|txt] [--output FILE]`:
//! a copy of any receipt of the journal (made by [`crate::cli::receipt_show`]
//! with [`crate::printing::receipt_copy`]).

use std::path::Path;
use std::process::ExitCode;

use crate::cli;

pub fn show(
    config_arg: Option<&Path>,
    number: &str,
    format: &str,
    output: Option<&Path>,
) -> anyhow::Result<ExitCode> {
    let config = super::load_config(config_arg)?;
    cli::receipt_show(&config, config_arg, number, format, output)?;
    Ok(ExitCode::SUCCESS)
}
