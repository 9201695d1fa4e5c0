//! `pos-agent camera test` and `camera decode FILE...`: the camera's
//! pipeline (`pos_drivers::camera`, with the acceptor of
//! [`crate::devices::camera`]) run by hand, for the technician.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use pos_drivers::camera::{open_camera, Debounce, GrayFrame, QrDecoder};

use crate::devices::camera::accept;

/// Opens the configured camera, reads for `seconds`, saves the last frame.
pub fn test(config_arg: Option<&Path>, seconds: u64, save: &Path) -> anyhow::Result<ExitCode> {
    let config = super::load_config(config_arg)?;
    super::init_logging(&config);
    camera_test(&config, seconds, save, &mut std::io::stdout())?;
    Ok(ExitCode::SUCCESS)
}

/// Decodes saved images: exit 0 when every file was read, else 1.
pub fn decode(files: &[PathBuf]) -> anyhow::Result<ExitCode> {
    let ok = decode_files(files, &mut std::io::stdout())?;
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// `pos-agent camera decode FILE...`: the pipeline on saved images, one
/// thread, one line per file: `FILE<TAB>text<TAB>milliseconds` (loading not
/// counted). Returns false when a file could not be read (its reason went to
/// standard error).
pub fn decode_files(files: &[PathBuf], out: &mut impl std::io::Write) -> anyhow::Result<bool> {
    let mut all_read = true;
    for file in files {
        let frame = match GrayFrame::load(file) {
            Ok(f) => f,
            Err(e) => {
                eprintln!("pos-agent: {e}");
                all_read = false;
                continue;
            }
        };
        // A fresh decoder per file: each line is independent of the others.
        let mut decoder = QrDecoder::new(accept);
        let t = Instant::now();
        let hit = decoder.decode(&frame);
        let ms = t.elapsed().as_secs_f64() * 1e3;
        let text = hit
            .map(|h| pos_codes::mask_fiscal_codes(&h.text))
            .unwrap_or_default();
        writeln!(out, "{}\t{}\t{:.1}", file.display(), text, ms)?;
    }
    Ok(all_read)
}

/// `pos-agent camera test`: open the configured camera, say what it
/// delivers, decode for `seconds`, print each read with its decode time,
/// and save the last frame as PNG.
pub fn camera_test(
    config: &pos_config::Config,
    seconds: u64,
    save: &Path,
    out: &mut impl std::io::Write,
) -> anyhow::Result<()> {
    let cam = &config.camera;
    let mut source = match open_camera(&cam.device, cam.width, cam.height)? {
        Some(s) => s,
        None => bail!("nessuna fotocamera configurata (camera.device = \"none\")"),
    };
    let info = source.info();
    writeln!(
        out,
        "Fotocamera {} ({}): {}",
        info.device, info.name, info.format
    )?;
    writeln!(out, "Lettura per {seconds} s: mostrare un codice QR...")?;
    let start = Instant::now();
    let mut decoder = QrDecoder::new(accept);
    let mut debounce = Debounce::new(Duration::from_millis(cam.hold_off_ms));
    let (mut frames, mut hits) = (0u64, 0u64);
    let mut decode_ms = Vec::new();
    let mut last = None;
    while start.elapsed() < Duration::from_secs(seconds) {
        let Some(frame) = source.next_frame()? else {
            continue;
        };
        frames += 1;
        let t = Instant::now();
        let hit = decoder.decode(&frame);
        let ms = t.elapsed().as_secs_f64() * 1e3;
        decode_ms.push(ms);
        if let Some(hit) = hit {
            if debounce.accept(&hit.text, Instant::now()) {
                hits += 1;
                let (kind, shown) = match pos_codes::classify(&hit.text) {
                    Ok(i) => (i.kind(), i.masked_text()),
                    Err(_) => ("unknown", String::new()),
                };
                writeln!(
                    out,
                    "  {:6.2} s  {:6.1} ms  {:<11} {:<8} {}",
                    start.elapsed().as_secs_f64(),
                    ms,
                    kind,
                    hit.pass.as_str(),
                    shown
                )?;
            }
        }
        last = Some(frame);
    }
    let elapsed = start.elapsed().as_secs_f64();
    decode_ms.sort_by(|a, b| a.total_cmp(b));
    let median = decode_ms.get(decode_ms.len() / 2).copied().unwrap_or(0.0);
    writeln!(
        out,
        "Fotogrammi: {frames} ({:.1} fps misurati), decodifica mediana {median:.1} ms, letture: {hits}",
        frames as f64 / elapsed.max(1e-9)
    )?;
    match last {
        Some(frame) => {
            frame
                .save_png(save)
                .with_context(|| format!("salvataggio di {}", save.display()))?;
            writeln!(out, "Ultimo fotogramma salvato in {}", save.display())?;
        }
        None => bail!("nessun fotogramma ricevuto in {seconds} s"),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_files_prints_one_line_per_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let notice = "PAGOPA|002|301000000000012373|00514490010|2550";
        let qr = dir.path().join("a.png");
        let img = hardware_mocks::camera::frame(Some(notice), 640, 480, 1003);
        img.save(&qr).expect("save");
        let blank = dir.path().join("b.png");
        GrayFrame::new(64, 64, vec![200; 64 * 64])
            .expect("frame")
            .save_png(&blank)
            .expect("save");
        let missing = dir.path().join("c.png");
        let mut out = Vec::new();
        let ok = decode_files(&[qr.clone(), blank.clone(), missing], &mut out).expect("run");
        assert!(!ok, "the missing file is reported");
        let text = String::from_utf8(out).expect("utf8");
        let lines: Vec<Vec<&str>> = text.lines().map(|l| l.split('\t').collect()).collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert_eq!(lines[0][0], qr.display().to_string());
        assert_eq!(lines[0][1], notice);
        assert!(lines[0][2].parse::<f64>().is_ok(), "{text}");
        assert_eq!(lines[1][1], "");
    }
}
