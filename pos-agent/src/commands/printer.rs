//! `pos-agent printer test [--code-pages] [--tables 0,16,19]`.

use std::path::Path;
use std::process::ExitCode;

pub fn test(
    config_arg: Option<&Path>,
    code_pages: bool,
    tables: Option<Vec<u8>>,
) -> anyhow::Result<ExitCode> {
    let config = super::load_config(config_arg)?;
    super::init_logging(&config);
    printer_test(&config, code_pages, tables)
}

/// The `ESC t` numbers `pos-agent printer test --code-pages` tries when
/// none are given: Epson's PC437 (0), PC850 (2), PC858 (19) and WPC1252
/// (16), and numbers clones are known to use for their euro tables.
pub const CANDIDATE_TABLES: &[u8] = &[0, 2, 13, 16, 17, 19, 39, 40, 45, 47, 255];

/// `pos-agent printer test [--code-pages] [--tables 0,16,19]`: prints the
/// test page (or the code page tables) on the configured printer and
/// reports its state. Exit 0 when printed, 1 when the printer refused, with
/// the reason on standard error; the state goes to standard output.
pub fn printer_test(
    config: &pos_config::Config,
    code_pages: bool,
    tables: Option<Vec<u8>>,
) -> anyhow::Result<ExitCode> {
    let profile = crate::printing::printer_profile(config);
    let device = config.printer.device.to_string();
    let mut printer = pos_drivers::open_printer(
        &config.printer.device,
        profile,
        std::time::Duration::from_secs(3),
    );
    let before = printer.state();
    println!("Stampante {device}: stato {before}");
    let result = if code_pages {
        let tables = tables.unwrap_or_else(|| {
            let mut t = vec![config.printer.code_page_table];
            t.extend(
                CANDIDATE_TABLES
                    .iter()
                    .filter(|&&n| n != config.printer.code_page_table),
            );
            t
        });
        println!(
            "Stampo € à è é ì ò ù con le tabelle {}: impostare printer.code_page_table al numero della riga giusta.",
            tables
                .iter()
                .map(u8::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        );
        printer.print_code_page_test(&tables)
    } else {
        let terminal_id = crate::datadir::DataDir::open(&config.data_dir)
            .ok()
            .and_then(|d| d.read_terminal().ok())
            .map(|t| t.terminal_id)
            .unwrap_or_else(|| "non registrato".to_string());
        let header = crate::printing::receipts::Header::from_config(config, &terminal_id);
        let info = crate::printing::receipts::TestPageInfo {
            device: device.clone(),
            paper_width_mm: config.printer.paper_width_mm.mm(),
            columns: profile.columns,
            code_page_table: config.printer.code_page_table,
            euro_as_text: profile.euro == pos_drivers::EuroStyle::Text,
        };
        let now = time::OffsetDateTime::now_utc();
        let doc = crate::printing::receipts::test_page(
            &header,
            &info,
            now,
            crate::printing::receipts::local_offset(),
        );
        printer.print(&doc)
    };
    let after = printer.state();
    match result {
        Ok(()) => {
            println!("Pagina di prova inviata. Stato: {after}");
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            println!("Stato: {}", e.device_state());
            eprintln!("pos-agent: {e}");
            Ok(ExitCode::from(1))
        }
    }
}
