//! `pos-agent`: the counter agent and the technician's commands. This file
//! is the command line (clap) and the dispatch only; the bodies are in
//! `pos_agent::commands`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use pos_agent::commands;

#[derive(Parser)]
#[command(
    name = "pos-agent",
    version,
    about = "Counter agent for school-service top-ups and pagoPA notices"
)]
struct Cli {
    /// Config file (else $POS_AGENT_CONFIG, else /etc/pos-agent/config.toml).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the counter agent: devices, local API and console, sync.
    Run,
    /// Everything in one process with mock devices and a mock backend.
    Sandbox {
        /// Where the sandbox keeps its data and receipts.
        #[arg(long, default_value = "pos-agent-sandbox")]
        dir: PathBuf,
        /// Address of the console and API.
        #[arg(long, default_value = "127.0.0.1:7878")]
        listen: std::net::SocketAddr,
    },
    /// Enrol this terminal with the backend (one-time activation code).
    Enroll {
        #[arg(long)]
        activation_code: String,
        /// Replace an existing enrollment.
        #[arg(long)]
        force: bool,
    },
    /// Manage operators.
    Operator {
        #[command(subcommand)]
        command: OperatorCommand,
    },
    /// Write or check a config file.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Check or export the journal.
    Journal {
        #[command(subcommand)]
        command: JournalCommand,
    },
    /// List the cameras, serial ports and USB printers on this machine,
    /// with the config line for each.
    Devices {
        #[arg(long)]
        json: bool,
    },
    /// Check the configured devices, the backend, the clock, the disk, the
    /// journal and the outbox; say what to fix. Safe while the agent runs.
    Doctor {
        #[arg(long)]
        json: bool,
    },
    /// The receipt printer.
    Printer {
        #[command(subcommand)]
        command: PrinterCommand,
    },
    /// The camera that reads QR codes.
    Camera {
        #[command(subcommand)]
        command: CameraCommand,
    },
    /// Copies of receipts, from the journal.
    Receipt {
        #[command(subcommand)]
        command: ReceiptCommand,
    },
    /// A verified copy of the journal (safe while the agent runs), with its
    /// manifest FILE.json; prints the copy's path.
    Backup {
        /// Where to write it (else `[backup] dir` of the config).
        #[arg(long)]
        to: Option<PathBuf>,
        /// Copies to keep in that directory (else `[backup] keep`).
        #[arg(long)]
        keep: Option<u32>,
    },
    /// Install a backup as the journal of a data directory that has none
    /// (a new PC). Terminal credentials are not in a backup.
    Restore {
        #[arg(long)]
        from: PathBuf,
    },
    /// Classify and validate a scanned or typed input.
    Inspect {
        input: String,
        #[arg(long)]
        json: bool,
        /// Show fiscal codes unmasked (the technician has the card in hand).
        #[arg(long)]
        reveal: bool,
    },
}

#[derive(Subcommand)]
enum ReceiptCommand {
    /// Any receipt of the journal, as it was printed, marked as a copy.
    Show {
        /// The receipt number, e.g. T-000123/2026/000042.
        number: String,
        /// pdf (default), png or txt.
        #[arg(long, default_value = "pdf")]
        format: String,
        /// Where to write it (else standard output).
        #[arg(long)]
        output: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum CameraCommand {
    /// Open the configured camera, report its format and fps, decode for a
    /// few seconds printing each read, and save the last frame as PNG.
    Test {
        /// How long to read.
        #[arg(long, default_value_t = 5)]
        seconds: u64,
        /// Where to save the last frame.
        #[arg(long, default_value = "camera-test.png")]
        save: PathBuf,
    },
    /// Run the decoding pipeline on saved images (PNG/JPEG): one line per
    /// file, `FILE<TAB>text<TAB>milliseconds`.
    Decode {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

#[derive(Subcommand)]
enum PrinterCommand {
    /// Print the test page on the configured printer and report its state.
    Test {
        /// Print `€ à è é ì ò ù` under each candidate code page table instead.
        #[arg(long)]
        code_pages: bool,
        /// The tables to try with --code-pages, e.g. `0,16,19`.
        #[arg(long, value_delimiter = ',')]
        tables: Option<Vec<u8>>,
    },
}

#[derive(Subcommand)]
enum OperatorCommand {
    /// Add an operator (or set a new PIN); the PIN is asked for, or read from stdin.
    Add {
        name: String,
        #[arg(long)]
        pin_stdin: bool,
    },
    /// List the operators.
    List,
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Write a commented example config (to FILE, or standard output).
    Init {
        #[arg(long)]
        output: Option<PathBuf>,
    },
    /// Validate a config file.
    Check { file: Option<PathBuf> },
}

#[derive(Subcommand)]
enum JournalCommand {
    /// Check the hash chain of the journal.
    Verify,
    /// Export the journal.
    Export {
        #[arg(long)]
        from: Option<String>,
        #[arg(long)]
        to: Option<String>,
        #[arg(long, default_value = "json")]
        format: String,
        #[arg(long)]
        output: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match real_main(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("pos-agent: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// Dispatch: each command's body is in `pos_agent::commands`.
fn real_main(cli: Cli) -> anyhow::Result<ExitCode> {
    let config_arg = cli.config.as_deref();
    match cli.command {
        Command::Run => commands::run::run(config_arg),
        Command::Sandbox { dir, listen } => commands::sandbox::command(&dir, listen),
        Command::Enroll {
            activation_code,
            force,
        } => commands::enroll::enroll(config_arg, &activation_code, force),
        Command::Operator { command } => match command {
            OperatorCommand::Add { name, pin_stdin } => {
                commands::operator::add(config_arg, &name, pin_stdin)
            }
            OperatorCommand::List => commands::operator::list(config_arg),
        },
        Command::Config { command } => match command {
            ConfigCommand::Init { output } => commands::config::init(output.as_deref()),
            ConfigCommand::Check { file } => commands::config::check(file.as_deref(), config_arg),
        },
        Command::Journal { command } => {
            let action = match command {
                JournalCommand::Verify => commands::journal::Action::Verify,
                JournalCommand::Export {
                    from,
                    to,
                    format,
                    output,
                } => commands::journal::Action::Export {
                    from,
                    to,
                    format,
                    output,
                },
            };
            commands::journal::journal(config_arg, action)
        }
        Command::Devices { json } => commands::devices::command(json),
        Command::Doctor { json } => commands::doctor::command(config_arg, json),
        Command::Camera {
            command: CameraCommand::Test { seconds, save },
        } => commands::camera::test(config_arg, seconds, &save),
        Command::Camera {
            command: CameraCommand::Decode { files },
        } => commands::camera::decode(&files),
        Command::Printer {
            command: PrinterCommand::Test { code_pages, tables },
        } => commands::printer::test(config_arg, code_pages, tables),
        Command::Inspect {
            input,
            json,
            reveal,
        } => Ok(commands::inspect::command(&input, json, reveal)),
        Command::Receipt {
            command:
                ReceiptCommand::Show {
                    number,
                    format,
                    output,
                },
        } => commands::receipt::show(config_arg, &number, &format, output.as_deref()),
        Command::Backup { to, keep } => commands::backup::command(config_arg, to.as_deref(), keep),
        Command::Restore { from } => commands::backup::restore_command(config_arg, &from),
    }
}
