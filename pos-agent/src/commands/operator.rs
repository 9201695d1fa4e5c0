//! `pos-agent operator add NAME [--pin-stdin]` and `operator list`.

use std::io::{Read, Write};
use std::path::Path;
use std::process::ExitCode;

use crate::cli;

/// Adds an operator, or sets a new PIN; the PIN is asked for on the
/// terminal, or read from standard input.
pub fn add(config_arg: Option<&Path>, name: &str, pin_stdin: bool) -> anyhow::Result<ExitCode> {
    let config = super::load_config(config_arg)?;
    let pin = read_pin(pin_stdin)?;
    cli::add_operator(&config, name, &pin)?;
    println!("Operatore {name} salvato.");
    Ok(ExitCode::SUCCESS)
}

/// The operators' names, one a line.
pub fn list(config_arg: Option<&Path>) -> anyhow::Result<ExitCode> {
    let config = super::load_config(config_arg)?;
    for name in cli::open_store(&config)?.operator_names()? {
        println!("{name}");
    }
    Ok(ExitCode::SUCCESS)
}

fn read_pin(from_stdin: bool) -> anyhow::Result<String> {
    let mut pin = String::new();
    if from_stdin {
        std::io::stdin().read_to_string(&mut pin)?;
    } else {
        eprint!("PIN (4-8 cifre): ");
        std::io::stderr().flush()?;
        std::io::stdin().read_line(&mut pin)?;
    }
    Ok(pin.trim().to_string())
}
