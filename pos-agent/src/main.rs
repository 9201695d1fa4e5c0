//! `pos-agent`: the counter agent and the technician's commands.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{anyhow, bail, Context};
use clap::{Parser, Subcommand};

use pos_agent::cli;

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

fn load_config(path: Option<&Path>) -> anyhow::Result<pos_config::Config> {
    let path = pos_config::config_path(path);
    pos_config::Config::load(&path).map_err(|e| anyhow!("{e}"))
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

fn real_main(cli: Cli) -> anyhow::Result<ExitCode> {
    let config_arg = cli.config.as_deref();
    match cli.command {
        Command::Run => {
            let config = load_config(config_arg)?;
            cli::init_logging(&config);
            let rt = tokio::runtime::Runtime::new()?;
            rt.block_on(cli::run(config, pos_agent::agent::Tuning::from_env()))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Sandbox { dir, listen } => {
            let rt = tokio::runtime::Runtime::new()?;
            rt.block_on(pos_agent::commands::sandbox::run(&dir, listen))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Enroll {
            activation_code,
            force,
        } => {
            let config = load_config(config_arg)?;
            let rt = tokio::runtime::Runtime::new()?;
            let t = rt.block_on(cli::enroll(&config, &activation_code, force))?;
            println!(
                "Terminale registrato: {} (credenziali in {})",
                t.terminal_id,
                config.data_dir.join("terminal.json").display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Operator { command } => {
            let config = load_config(config_arg)?;
            match command {
                OperatorCommand::Add { name, pin_stdin } => {
                    let pin = read_pin(pin_stdin)?;
                    cli::add_operator(&config, &name, &pin)?;
                    println!("Operatore {name} salvato.");
                }
                OperatorCommand::List => {
                    for name in cli::open_store(&config)?.operator_names()? {
                        println!("{name}");
                    }
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Config { command } => match command {
            ConfigCommand::Init { output } => {
                match output {
                    Some(path) => {
                        if path.exists() {
                            bail!("{} already exists; not overwriting it", path.display());
                        }
                        std::fs::write(&path, pos_config::EXAMPLE)
                            .with_context(|| format!("writing {}", path.display()))?;
                        eprintln!("Esempio di configurazione scritto in {}", path.display());
                    }
                    None => print!("{}", pos_config::EXAMPLE),
                }
                Ok(ExitCode::SUCCESS)
            }
            ConfigCommand::Check { file } => {
                let path = pos_config::config_path(file.as_deref().or(config_arg));
                pos_config::Config::load(&path).map_err(|e| anyhow!("{e}"))?;
                println!("{}: configurazione valida", path.display());
                Ok(ExitCode::SUCCESS)
            }
        },
        Command::Journal { command } => {
            let config = load_config(config_arg)?;
            // Read-only, and never a new journal (issue 14 finding 5).
            let store = cli::open_store_read_only(&config, config_arg)?;
            match command {
                JournalCommand::Verify => match store.verify_journal() {
                    Ok(r) => {
                        println!("journal OK: {} entries, head {}", r.entries, r.head);
                        Ok(ExitCode::SUCCESS)
                    }
                    Err(e) => {
                        eprintln!("pos-agent: journal verify FAILED: {e}");
                        Ok(ExitCode::from(1))
                    }
                },
                JournalCommand::Export {
                    from,
                    to,
                    format,
                    output,
                } => {
                    cli::export_journal(
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
        Command::Devices { json } => {
            let list = pos_agent::commands::devices::list();
            if json {
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else {
                print!("{}", pos_agent::commands::devices::render_text(&list));
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Doctor { json } => {
            let report = pos_agent::commands::doctor::run(&pos_config::config_path(config_arg));
            if json {
                println!("{}", serde_json::to_string_pretty(&report.to_json())?);
            } else {
                print!("{}", report.render_text());
            }
            if report.ok() {
                Ok(ExitCode::SUCCESS)
            } else {
                eprintln!("pos-agent: doctor: {} check(s) failed", report.failures());
                Ok(ExitCode::from(1))
            }
        }
        Command::Camera {
            command: CameraCommand::Test { seconds, save },
        } => {
            let config = load_config(config_arg)?;
            cli::init_logging(&config);
            pos_agent::camera::camera_test(&config, seconds, &save, &mut std::io::stdout())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Camera {
            command: CameraCommand::Decode { files },
        } => {
            let ok = pos_agent::camera::decode_files(&files, &mut std::io::stdout())?;
            Ok(if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        Command::Printer {
            command: PrinterCommand::Test { code_pages, tables },
        } => {
            let config = load_config(config_arg)?;
            cli::init_logging(&config);
            pos_agent::printing::printer_test(&config, code_pages, tables)
        }
        Command::Inspect {
            input,
            json,
            reveal,
        } => Ok(cli::inspect(&input, json, reveal)),
        Command::Receipt {
            command:
                ReceiptCommand::Show {
                    number,
                    format,
                    output,
                },
        } => {
            let config = load_config(config_arg)?;
            cli::receipt_show(&config, config_arg, &number, &format, output.as_deref())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Backup { to, keep } => {
            let config = load_config(config_arg)?;
            let hint = pos_config::config_path(config_arg).display().to_string();
            let r = pos_agent::commands::backup::backup(&config, &hint, to.as_deref(), keep)?;
            eprintln!(
                "Copia verificata: {} voci, ultima {} ({} copie vecchie rimosse)",
                r.manifest.entries,
                &r.manifest.head[..12.min(r.manifest.head.len())],
                r.removed.len()
            );
            println!("{}", r.path.display());
            Ok(ExitCode::SUCCESS)
        }
        Command::Restore { from } => {
            let config = load_config(config_arg)?;
            let r = pos_agent::commands::backup::restore(&config, &from)?;
            println!(
                "Giornale ripristinato in {}: {} voci verificate, {} richieste ancora da inviare al backend.",
                config.data_dir.display(),
                r.entries,
                r.outbox_pending
            );
            if !r.enrolled {
                println!(
                    "Le credenziali del terminale non sono nella copia: registra questo PC (pos-agent enroll) o copia terminal.json dal vecchio PC, poi avvia il servizio."
                );
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
