//! `pos-agent operator add NAME [--pin-stdin]` and `operator list`.

use std::io::{Read, Write};
use std::path::Path;
use std::process::ExitCode;

use anyhow::{anyhow, bail};

/// Adds an operator, or sets a new PIN; the PIN is asked for on the
/// terminal, or read from standard input.
pub fn add(config_arg: Option<&Path>, name: &str, pin_stdin: bool) -> anyhow::Result<ExitCode> {
    let config = super::load_config(config_arg)?;
    let pin = read_pin(pin_stdin)?;
    add_operator(&config, name, &pin)?;
    println!("Operatore {name} salvato.");
    Ok(ExitCode::SUCCESS)
}

/// The operators' names, one a line.
pub fn list(config_arg: Option<&Path>) -> anyhow::Result<ExitCode> {
    let config = super::load_config(config_arg)?;
    for name in super::open_store(&config)?.operator_names()? {
        println!("{name}");
    }
    Ok(ExitCode::SUCCESS)
}

/// Checks the name and the PIN's format, and stores the PIN's hash
/// (the sandbox reuses it for its demo operator).
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
    super::open_store(config)?.add_operator(name, &hash)?;
    Ok(())
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
