//! The QR benchmark: the camera pipeline against zxing-cpp, the decoder
//! most scanning apps use, on the same fixed, seeded virtual-camera frames
//! in the same run.
//!
//! ```text
//! pip install zxing-cpp                                  # the yardstick (prebuilt wheels)
//! cargo bench -p pos-drivers --bench qr                  # easy and hard sets, 640x480 and 1280x720
//! cargo bench -p pos-drivers --bench qr -- --set hard --size 640x480
//! cargo bench -p pos-drivers --bench qr -- --own         # our own passes alone too (no zxing-cpp)
//! cargo bench -p pos-drivers --bench qr -- --rqrr        # stock rqrr too
//! cargo bench -p pos-drivers --bench qr -- --budget 1000 # another per-frame budget for ours
//! cargo bench -p pos-drivers --bench qr -- --verbose     # one line per frame, and the frames only one side reads
//! cargo bench -p pos-drivers --bench qr -- --dump /tmp/frames   # also write the frames as PNG
//! cargo bench -p pos-drivers --bench qr -- --set hard --size 640x480 --debug 20012  # what each pass sees on one frame
//! cargo bench -p pos-drivers --bench qr -- --set hard --size 640x480 --verbose --fast  # our locator alone, misses explained
//! cargo bench -p pos-drivers --bench qr -- --rqrr-cost   # rqrr's and our decoding of a perfect grid
//! ```
//!
//! Sets: `easy` ([`bench_set`]: 120 frames with a QR, 30 without) and
//! `hard` ([`hard_bench_set`]: 200 with, 50 without: small modules, steep
//! tilt, glare, moire, a thumb, fake codes). Per set and size: hit rate
//! (the exact payload), wrong reads (another text on a frame with a QR),
//! false positives (anything on a frame without one), median, p95 and worst
//! milliseconds per frame on one thread; ours (the shipped pipeline:
//! zxing-cpp, then our own passes) with a fresh decoder per frame
//! (no help from a previous hit) and its per-frame budget, as the agent runs
//! it.
//!
//! zxing-cpp runs in `benches/zxing_decode.py` (its Python bindings) on
//! the frames this bench writes to a temporary directory, timed around the
//! decoding call alone: the same library as the pipeline's first pass (the
//! `zxing-cpp` crate), built independently, with its default options.
//! Without python3 or the `zxing-cpp` package the bench still runs, ours
//! only, and says so.

use std::time::Instant;

use hardware_mocks::camera::{bench_set, hard_bench_set, BenchFrame};
use pos_drivers::camera::{decode_stock, GrayFrame, QrDecoder};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Set {
    Easy,
    Hard,
}

impl Set {
    fn name(self) -> &'static str {
        match self {
            Set::Easy => "easy",
            Set::Hard => "hard",
        }
    }

    fn frames(self, w: u32, h: u32, with_qr: usize, without: usize) -> Vec<BenchFrame> {
        match self {
            Set::Easy => bench_set(w, h, with_qr, without),
            Set::Hard => hard_bench_set(w, h, with_qr, without),
        }
    }

    /// Frames with and without a QR when not given on the command line.
    fn default_counts(self) -> (usize, usize) {
        match self {
            Set::Easy => (120, 30),
            Set::Hard => (200, 50),
        }
    }
}

enum Mode {
    Table,
    Still,
    RqrrCost,
    Fast,
    Debug(u64),
}

struct Args {
    frames: Option<usize>,
    empty: Option<usize>,
    dump: Option<std::path::PathBuf>,
    sizes: Vec<(u32, u32)>,
    sets: Vec<Set>,
    verbose: bool,
    rqrr: bool,
    /// `--own`: also our own passes alone, without zxing-cpp (the pipeline
    /// before zxing-cpp was its first pass).
    own: bool,
    mode: Mode,
    /// Per-frame budget of our decoder (`--budget MS`; default the
    /// decoder's own).
    budget: std::time::Duration,
}

impl Args {
    fn counts(&self, set: Set) -> (usize, usize) {
        let (a, b) = set.default_counts();
        (self.frames.unwrap_or(a), self.empty.unwrap_or(b))
    }
}

fn args() -> Args {
    let mut a = Args {
        frames: None,
        empty: None,
        dump: None,
        sizes: vec![(640, 480), (1280, 720)],
        sets: vec![Set::Easy, Set::Hard],
        verbose: false,
        rqrr: false,
        own: false,
        mode: Mode::Table,
        budget: pos_drivers::camera::qr::DEFAULT_BUDGET,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--frames" => a.frames = it.next().and_then(|v| v.parse().ok()),
            "--empty" => a.empty = it.next().and_then(|v| v.parse().ok()),
            "--dump" => a.dump = it.next().map(Into::into),
            "--verbose" | "-v" => a.verbose = true,
            "--rqrr" => a.rqrr = true,
            "--own" => a.own = true,
            "--budget" => {
                if let Some(ms) = it.next().and_then(|v| v.parse().ok()) {
                    a.budget = std::time::Duration::from_millis(ms);
                }
            }
            "--still" => a.mode = Mode::Still,
            "--rqrr-cost" => a.mode = Mode::RqrrCost,
            "--fast" => a.mode = Mode::Fast,
            "--debug" => {
                a.mode = Mode::Debug(it.next().and_then(|v| v.parse().ok()).unwrap_or(1000))
            }
            "--set" => match it.next().as_deref() {
                Some("easy") => a.sets = vec![Set::Easy],
                Some("hard") => a.sets = vec![Set::Hard],
                _ => a.sets = vec![Set::Easy, Set::Hard],
            },
            "--size" => {
                if let Some((w, h)) = it.next().as_deref().and_then(|v| v.split_once('x')) {
                    if let (Ok(w), Ok(h)) = (w.parse(), h.parse()) {
                        a.sizes = vec![(w, h)];
                    }
                }
            }
            // `cargo bench` passes `--bench`.
            _ => {}
        }
    }
    a
}

fn gray(f: &BenchFrame) -> GrayFrame {
    let (w, h) = f.image.dimensions();
    GrayFrame::new(w, h, f.image.as_raw().clone()).expect("generated size")
}

/// `--still`: a second frame of the same scene, read from the last hit.
fn still(a: &Args) {
    let (w, h) = a.sizes[0];
    for f in &a.sets[0].frames(w, h, 40, 0) {
        let g = gray(f);
        let mut dec = QrDecoder::new(accept);
        if let Some(d) = dec.decode(&g) {
            let again = dec.decode(&g);
            println!(
                "seed {} first {:?} {:?} again {:?}",
                f.seed,
                d.pass,
                d.corners,
                again.map(|d| d.pass)
            );
        }
    }
}

/// `--rqrr-cost`: what rqrr's own decoding (format, Reed-Solomon, payload)
/// of a perfect module grid costs, against ours.
fn rqrr_cost() {
    for p in hardware_mocks::camera::demo_payloads().iter().step_by(8) {
        let m = hardware_mocks::camera::qr_modules(p).expect("encodable");
        let n = m.len();
        let grid = rqrr::Grid::new(rqrr::SimpleGrid::from_func(n, |x, y| m[y][x]));
        let t = Instant::now();
        for _ in 0..50 {
            assert!(grid.decode().is_ok());
        }
        let rqrr_ms = t.elapsed().as_secs_f64() * 1e3 / 50.0;
        let t = Instant::now();
        for _ in 0..50 {
            let text = pos_drivers::camera::qr::decode_modules(&m);
            assert_eq!(text.as_deref(), Some(p.as_str()));
        }
        println!(
            "{n}x{n} modules ({} chars): rqrr decode {rqrr_ms:.3} ms, ours {:.3} ms",
            p.len(),
            t.elapsed().as_secs_f64() * 1e3 / 50.0
        );
    }
}

/// `--fast`: the fast pass alone, one line per frame.
fn fast(a: &Args) {
    let (w, h) = a.sizes[0];
    let set = a.sets[0];
    let (n, e) = a.counts(set);
    let frames = set.frames(w, h, n, e);
    let mut times = Vec::new();
    let mut hits = 0;
    for f in &frames {
        let g = gray(f);
        let truth = f
            .payload
            .as_deref()
            .and_then(hardware_mocks::camera::qr_modules);
        let (text, t_thr, mut t_all, info) =
            pos_drivers::camera::qr::debug_fast(&g, truth.as_deref());
        // The fastest of three runs: less noise from other load when
        // comparing two versions of the locator.
        for _ in 0..2 {
            t_all = t_all.min(pos_drivers::camera::qr::debug_fast(&g, None).2);
        }
        let ok = text.is_some() && text == f.payload;
        hits += ok as usize;
        times.push(t_all);
        println!(
            "seed {} {} thr {t_thr:.2} ms all {t_all:.2} ms",
            f.seed,
            if ok {
                "HIT "
            } else if text.is_some() {
                "WRONG"
            } else {
                "miss"
            },
        );
        if a.verbose && !ok {
            print!("{info}");
        }
    }
    times.sort_by(|a, b| a.total_cmp(b));
    println!(
        "fast pass: {hits}/{} hits, median {:.2} ms, p95 {:.2} ms",
        frames.len(),
        percentile(&times, 0.5),
        percentile(&times, 0.95)
    );
}

/// `--debug SEED`: what each pass sees on one frame; the binarised image
/// and a zoomed crop are written to the temporary directory.
fn debug(a: &Args, seed: u64) {
    let (w, h) = a.sizes[0];
    let set = a.sets[0];
    let base = if set == Set::Hard { 20_000 } else { 1000 };
    let i = seed.saturating_sub(base) as usize;
    let frames = set.frames(w, h, i + 1, 0);
    let f = &frames[i];
    let g = gray(f);
    let (lines, bin) = pos_drivers::camera::qr::debug_passes(&g);
    for l in lines {
        println!("{l}");
    }
    let dir = std::env::temp_dir();
    let bin: Vec<u8> = bin.iter().map(|b| if *b != 0 { 0 } else { 255 }).collect();
    GrayFrame::new(w, h, bin)
        .expect("size")
        .save_png(&dir.join("qr-debug-bin.png"))
        .expect("save");
    g.save_png(&dir.join("qr-debug-frame.png")).expect("save");
    let truth = f
        .payload
        .as_deref()
        .and_then(hardware_mocks::camera::qr_modules);
    let (text, _, ms, info) = pos_drivers::camera::qr::debug_fast(&g, truth.as_deref());
    println!(
        "fast pass: {:?} in {ms:.2} ms\n{info}",
        text.map(|t| t.len())
    );
    match set {
        Set::Easy => println!("{:?}", hardware_mocks::camera::Scene::random(w, h, seed)),
        Set::Hard => println!(
            "{:?}",
            hardware_mocks::camera::hard::hard_scene(f.payload.as_deref(), w, h, seed)
        ),
    }
    println!("frame: {}", dir.join("qr-debug-frame.png").display());
}

fn accept(text: &str) -> bool {
    pos_codes::classify(text).is_ok()
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i]
}

#[derive(Default)]
struct Stats {
    hits: usize,
    wrong: usize,
    with_qr: usize,
    false_pos: usize,
    without_qr: usize,
    ms: Vec<f64>,
}

impl Stats {
    fn add(&mut self, f: &BenchFrame, got: &[String], ms: f64) {
        self.ms.push(ms);
        match &f.payload {
            Some(p) => {
                self.with_qr += 1;
                if got.iter().any(|g| g == p) {
                    self.hits += 1;
                }
                if got.iter().any(|g| g != p) {
                    self.wrong += 1;
                }
            }
            None => {
                self.without_qr += 1;
                if !got.is_empty() {
                    self.false_pos += 1;
                }
            }
        }
    }

    fn median(&mut self) -> f64 {
        self.ms.sort_by(|a, b| a.total_cmp(b));
        percentile(&self.ms, 0.5)
    }

    fn row(&mut self, set: &str, size: &str, name: &str) -> String {
        let median = self.median();
        format!(
            "| {set} | {size} | {name} | {}/{} ({:.1} %) | {} | {}/{} | {:.2} | {:.2} | {:.2} |",
            self.hits,
            self.with_qr,
            100.0 * self.hits as f64 / self.with_qr.max(1) as f64,
            self.wrong,
            self.false_pos,
            self.without_qr,
            median,
            percentile(&self.ms, 0.95),
            self.ms.last().copied().unwrap_or(0.0),
        )
    }
}

/// zxing-cpp's texts and milliseconds per frame, through the Python
/// script; `Err` says why it could not run.
fn zxing(frames: &[BenchFrame]) -> Result<Vec<(Vec<String>, f64)>, String> {
    use std::io::Write;
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let mut bin = std::io::BufWriter::new(
        std::fs::File::create(dir.path().join("frames.bin")).map_err(|e| e.to_string())?,
    );
    let mut index = String::new();
    let mut off = 0usize;
    for (i, f) in frames.iter().enumerate() {
        let (w, h) = f.image.dimensions();
        bin.write_all(f.image.as_raw()).map_err(|e| e.to_string())?;
        index += &format!("{i} {w} {h} {off}\n");
        off += f.image.as_raw().len();
    }
    bin.flush().map_err(|e| e.to_string())?;
    drop(bin);
    std::fs::write(dir.path().join("frames.tsv"), index).map_err(|e| e.to_string())?;
    let python = std::env::var("ZXING_PYTHON").unwrap_or_else(|_| "python3".into());
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/zxing_decode.py");
    let out = std::process::Command::new(&python)
        .arg(script)
        .arg(dir.path())
        .output()
        .map_err(|e| format!("{python}: {e}"))?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).trim().to_string());
    }
    let mut res = vec![(Vec::new(), 0.0); frames.len()];
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let v: serde_json::Value = serde_json::from_str(line).map_err(|e| e.to_string())?;
        let i = v["i"].as_u64().ok_or("no index")? as usize;
        let texts = v["texts"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|t| t.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        if let Some(slot) = res.get_mut(i) {
            *slot = (texts, v["ms"].as_f64().unwrap_or(0.0));
        }
    }
    Ok(res)
}

fn verdict(f: &BenchFrame, got: &[String]) -> &'static str {
    match &f.payload {
        Some(p) if got.iter().any(|g| g != p) => "WRONG",
        Some(p) if got.contains(p) => "HIT",
        None if !got.is_empty() => "FP",
        _ => "miss",
    }
}

fn main() {
    let a = args();
    match a.mode {
        Mode::Still => return still(&a),
        Mode::RqrrCost => return rqrr_cost(),
        Mode::Fast => return fast(&a),
        Mode::Debug(seed) => return debug(&a, seed),
        Mode::Table => {}
    }
    println!(
        "QR benchmark: one thread, ours with a fresh decoder per frame and a {} ms budget{}",
        a.budget.as_millis(),
        if cfg!(debug_assertions) {
            " (DEBUG BUILD: timings mean nothing)"
        } else {
            ""
        }
    );
    let mut table = vec![
        "| set | frames | decoder | hit rate | wrong reads | false positives | median ms | p95 ms | worst ms |".to_string(),
        "|---|---|---|---|---|---|---|---|---|".to_string(),
    ];
    let mut notes = Vec::new();
    for &set in &a.sets {
        let (n_qr, n_empty) = a.counts(set);
        for &(w, h) in &a.sizes {
            let frames = set.frames(w, h, n_qr, n_empty);
            let grays: Vec<GrayFrame> = frames.iter().map(gray).collect();
            if let Some(dir) = &a.dump {
                std::fs::create_dir_all(dir).expect("dump dir");
                for (f, g) in frames.iter().zip(&grays) {
                    let tag = if f.payload.is_some() { "qr" } else { "empty" };
                    g.save_png(&dir.join(format!(
                        "{}-{w}x{h}-{:05}-{tag}.png",
                        set.name(),
                        f.seed
                    )))
                    .expect("dump frame");
                }
            }
            let size = format!("{w}x{h}");
            let mut ours = Stats::default();
            let mut ours_got = Vec::new();
            let mut passes = std::collections::BTreeMap::new();
            for (f, g) in frames.iter().zip(&grays) {
                let mut dec = QrDecoder::new(accept).with_budget(a.budget);
                let t = Instant::now();
                let got = dec.decode(g);
                let ms = t.elapsed().as_secs_f64() * 1e3;
                if let Some(d) = &got {
                    *passes.entry(d.pass.as_str()).or_insert(0) += 1;
                }
                let got: Vec<String> = got.map(|d| d.text).into_iter().collect();
                ours.add(f, &got, ms);
                ours_got.push((got, ms));
            }
            table.push(ours.row(set.name(), &size, "ours"));
            let zx = zxing(&frames);
            match &zx {
                Ok(res) => {
                    let mut z = Stats::default();
                    for (f, (got, ms)) in frames.iter().zip(res) {
                        z.add(f, got, *ms);
                    }
                    let zm = z.median();
                    table.push(z.row(set.name(), &size, "zxing-cpp"));
                    let only_z: Vec<u64> = frames
                        .iter()
                        .zip(res.iter().zip(&ours_got))
                        .filter(|(f, (z, o))| verdict(f, &z.0) == "HIT" && verdict(f, &o.0) != "HIT")
                        .map(|(f, _)| f.seed)
                        .collect();
                    let only_o: Vec<u64> = frames
                        .iter()
                        .zip(res.iter().zip(&ours_got))
                        .filter(|(f, (z, o))| verdict(f, &z.0) != "HIT" && verdict(f, &o.0) == "HIT")
                        .map(|(f, _)| f.seed)
                        .collect();
                    notes.push(format!(
                        "{} {size}: median ours/zxing-cpp {:.2}x; read by zxing-cpp only: {} {:?}; by ours only: {} {:?}",
                        set.name(),
                        ours.median() / zm.max(1e-9),
                        only_z.len(),
                        only_z,
                        only_o.len(),
                        only_o
                    ));
                }
                Err(e) => notes.push(format!(
                    "{} {size}: zxing-cpp NOT RUN ({e}); ours only. Install it with `pip install zxing-cpp`.",
                    set.name()
                )),
            }
            if a.own {
                let mut st = Stats::default();
                for (f, g) in frames.iter().zip(&grays) {
                    let mut dec = QrDecoder::new(accept)
                        .with_budget(a.budget)
                        .own_passes_only();
                    let t = Instant::now();
                    let got: Vec<String> = dec.decode(g).map(|d| d.text).into_iter().collect();
                    st.add(f, &got, t.elapsed().as_secs_f64() * 1e3);
                }
                table.push(st.row(set.name(), &size, "ours alone (no zxing-cpp)"));
            }
            if a.rqrr {
                let mut stock = Stats::default();
                for (f, g) in frames.iter().zip(&grays) {
                    let t = Instant::now();
                    let st = decode_stock(g);
                    stock.add(f, &st, t.elapsed().as_secs_f64() * 1e3);
                }
                table.push(stock.row(set.name(), &size, "stock rqrr"));
            }
            if a.verbose {
                for (i, f) in frames.iter().enumerate() {
                    let (o, oms) = &ours_got[i];
                    let z = zx.as_ref().ok().map(|r| &r[i]);
                    println!(
                        "  {} {size} seed {} {}: ours {} {oms:.1} ms, zxing-cpp {}",
                        set.name(),
                        f.seed,
                        if f.payload.is_some() { "qr" } else { "empty" },
                        verdict(f, o),
                        z.map(|(t, ms)| format!("{} {ms:.1} ms", verdict(f, t)))
                            .unwrap_or_else(|| "-".into()),
                    );
                }
            }
            // The phone held still: the same frame again, to the same decoder.
            let mut still = Vec::new();
            let mut still_missed = 0;
            for (f, g) in frames.iter().zip(&grays).take(n_qr) {
                let mut dec = QrDecoder::new(accept).with_budget(a.budget);
                if dec.decode(g).is_some() {
                    let t = Instant::now();
                    let again = dec.decode(g);
                    still.push(t.elapsed().as_secs_f64() * 1e3);
                    if again.map(|d| d.text) != f.payload {
                        still_missed += 1;
                    }
                }
            }
            still.sort_by(|a, b| a.total_cmp(b));
            notes.push(format!(
                "{} {size}: passes {:?}; phone held still (the same frame again): median {:.2} ms, {} not read again",
                set.name(),
                passes,
                percentile(&still, 0.5),
                still_missed
            ));
        }
    }
    println!();
    for row in table {
        println!("{row}");
    }
    println!();
    for n in notes {
        println!("{n}");
    }
}
