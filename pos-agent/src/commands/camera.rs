//! `pos-agent camera test` and `camera decode FILE...` (the bodies are in
//! [`crate::devices::camera`], next to the capture and decode threads they test).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Opens the configured camera, reads for `seconds`, saves the last frame.
pub fn test(config_arg: Option<&Path>, seconds: u64, save: &Path) -> anyhow::Result<ExitCode> {
    let config = super::load_config(config_arg)?;
    super::init_logging(&config);
    crate::devices::camera::camera_test(&config, seconds, save, &mut std::io::stdout())?;
    Ok(ExitCode::SUCCESS)
}

/// Decodes saved images: exit 0 when every file was read, else 1.
pub fn decode(files: &[PathBuf]) -> anyhow::Result<ExitCode> {
    let ok = crate::devices::camera::decode_files(files, &mut std::io::stdout())?;
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
