//! `pos-agent journal verify` and `journal export` (the export itself is
//! [`super::export`]). Both open the journal read-only and never create
//! one (issue 14 finding 5).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// What to do with the journal.
pub enum Action {
    /// Check the hash chain: exit 0 when it holds, 1 naming the first bad entry.
    Verify,
    /// Export a range (`--from`, `--to`) as `csv` or `json`.
    Export {
        from: Option<String>,
        to: Option<String>,
        format: String,
        output: Option<PathBuf>,
    },
}

pub fn journal(config_arg: Option<&Path>, action: Action) -> anyhow::Result<ExitCode> {
    let config = super::load_config(config_arg)?;
    // Read-only, and never a new journal (issue 14 finding 5).
    let store = super::open_store_read_only(&config, config_arg)?;
    match action {
        Action::Verify => match store.verify_journal() {
            Ok(r) => {
                println!("journal OK: {} entries, head {}", r.entries, r.head);
                Ok(ExitCode::SUCCESS)
            }
            Err(e) => {
                eprintln!("pos-agent: journal verify FAILED: {e}");
                Ok(ExitCode::from(1))
            }
        },
        Action::Export {
            from,
            to,
            format,
            output,
        } => {
            super::export::run(
                &store,
                from.as_deref(),
                to.as_deref(),
                &format,
                output.as_deref(),
            )?;
            Ok(ExitCode::SUCCESS)
        }
    }
}
