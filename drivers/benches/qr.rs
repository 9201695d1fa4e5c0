//! The QR benchmark: the camera pipeline against stock rqrr on a fixed,
//! seeded set of virtual-camera frames.
//!
//! ```text
//! cargo bench -p pos-drivers --bench qr                 # 120 QR + 30 empty frames, 640x480 and 1280x720
//! cargo bench -p pos-drivers --bench qr -- --frames 300 --empty 60
//! cargo bench -p pos-drivers --bench qr -- --dump /tmp/frames   # also write the frames as PNG
//! cargo bench -p pos-drivers --bench qr -- --size 640x480 --verbose   # one line per frame
//! cargo bench -p pos-drivers --bench qr -- --size 640x480 --debug 1012  # what each pass sees on one frame
//! cargo bench -p pos-drivers --bench qr -- --size 640x480 --verbose --fast  # our locator alone, misses explained
//! cargo bench -p pos-drivers --bench qr -- --rqrr-cost   # rqrr's and our decoding of a perfect grid
//! ```
//!
//! Per resolution: hit rate (the exact payload), false positives (anything
//! reported on a frame without a QR), median and p95 milliseconds per frame
//! on one thread, for the pipeline (fresh decoder per frame: no help from a
//! previous hit) and for stock rqrr (`PreparedImage` on the full frame), in
//! the same run. A last line times the "phone held still" case (a second
//! frame of the same scene, read from the region of the previous hit).

use std::time::Instant;

use hardware_mocks::camera::{bench_set, BenchFrame};
use pos_drivers::camera::{decode_stock, GrayFrame, Pass, QrDecoder};

struct Args {
    frames: usize,
    empty: usize,
    dump: Option<std::path::PathBuf>,
    sizes: Vec<(u32, u32)>,
    verbose: bool,
}

fn args() -> Args {
    let mut a = Args {
        frames: 120,
        empty: 30,
        dump: None,
        sizes: vec![(640, 480), (1280, 720)],
        verbose: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--frames" => a.frames = it.next().and_then(|v| v.parse().ok()).unwrap_or(a.frames),
            "--empty" => a.empty = it.next().and_then(|v| v.parse().ok()).unwrap_or(a.empty),
            "--dump" => a.dump = it.next().map(Into::into),
            "--verbose" | "-v" => a.verbose = true,
            "--still" => {
                let (w, h) = a.sizes[0];
                let set = bench_set(w, h, 40, 0);
                for f in &set {
                    let g = GrayFrame::new(w, h, f.image.as_raw().clone()).expect("size");
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
                std::process::exit(0);
            }
            "--rqrr-cost" => {
                // What rqrr's own decoding (format, Reed-Solomon, payload)
                // of a perfect module grid costs: the floor of any pipeline
                // that hands rqrr the bits.
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
                std::process::exit(0);
            }
            "--fast" => {
                // The fast pass alone, one line per frame.
                let (w, h) = a.sizes[0];
                let set = bench_set(w, h, a.frames, a.empty);
                let mut times = Vec::new();
                let mut hits = 0;
                for f in &set {
                    let g = GrayFrame::new(w, h, f.image.as_raw().clone()).expect("size");
                    let truth = f
                        .payload
                        .as_deref()
                        .and_then(hardware_mocks::camera::qr_modules);
                    let (text, t_thr, mut t_all, info) =
                        pos_drivers::camera::qr::debug_fast(&g, truth.as_deref());
                    // The fastest of three runs: less noise from other load
                    // when comparing two versions of the locator.
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
                    set.len(),
                    percentile(&times, 0.5),
                    percentile(&times, 0.95)
                );
                std::process::exit(0);
            }
            "--debug" => {
                let seed: u64 = it.next().and_then(|v| v.parse().ok()).unwrap_or(1000);
                let (w, h) = a.sizes[0];
                let i = (seed - 1000) as usize;
                let set = bench_set(w, h, i + 1, 0);
                let g = GrayFrame::new(w, h, set[i].image.as_raw().clone()).expect("size");
                let (lines, bin) = pos_drivers::camera::qr::debug_passes(&g);
                for l in lines {
                    println!("{l}");
                }
                let bin: Vec<u8> = bin.iter().map(|b| if *b != 0 { 0 } else { 255 }).collect();
                GrayFrame::new(w, h, bin)
                    .expect("size")
                    .save_png(&std::env::temp_dir().join("qr-debug-bin.png"))
                    .expect("save");
                let img =
                    image::GrayImage::from_raw(w, h, set[i].image.as_raw().clone()).expect("size");
                let crop = image::imageops::crop_imm(&img, w / 4, h / 4, w / 3, h / 3).to_image();
                let big = image::imageops::resize(
                    &crop,
                    w / 3 * 3,
                    h / 3 * 3,
                    image::imageops::FilterType::Nearest,
                );
                big.save(std::env::temp_dir().join("qr-debug-zoom.png"))
                    .expect("save");
                println!("{:?}", hardware_mocks::camera::Scene::random(w, h, seed));
                std::process::exit(0);
            }
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

struct Stats {
    hits: usize,
    with_qr: usize,
    false_pos: usize,
    without_qr: usize,
    ms: Vec<f64>,
}

impl Stats {
    fn new() -> Stats {
        Stats {
            hits: 0,
            with_qr: 0,
            false_pos: 0,
            without_qr: 0,
            ms: Vec::new(),
        }
    }

    fn add(&mut self, f: &BenchFrame, got: &[String], ms: f64) {
        self.ms.push(ms);
        match &f.payload {
            Some(p) => {
                self.with_qr += 1;
                if got.iter().any(|g| g == p) {
                    self.hits += 1;
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

    fn row(&mut self, size: &str, name: &str) -> (String, f64) {
        self.ms.sort_by(|a, b| a.total_cmp(b));
        let median = percentile(&self.ms, 0.5);
        (
            format!(
                "| {size} | {name} | {}/{} ({:.1} %) | {}/{} | {:.2} | {:.2} |",
                self.hits,
                self.with_qr,
                100.0 * self.hits as f64 / self.with_qr.max(1) as f64,
                self.false_pos,
                self.without_qr,
                median,
                percentile(&self.ms, 0.95),
            ),
            median,
        )
    }
}

fn main() {
    let a = args();
    println!(
        "QR benchmark: {} frames with a QR + {} without, per size; one thread{}",
        a.frames,
        a.empty,
        if cfg!(debug_assertions) {
            " (DEBUG BUILD: timings mean nothing)"
        } else {
            ""
        }
    );
    println!();
    println!("| frames | decoder | hit rate | false positives | median ms | p95 ms |");
    println!("|---|---|---|---|---|---|");
    let mut notes = Vec::new();
    for &(w, h) in &a.sizes {
        let set = bench_set(w, h, a.frames, a.empty);
        let frames: Vec<GrayFrame> = set
            .iter()
            .map(|f| GrayFrame::new(w, h, f.image.as_raw().clone()).expect("generated size"))
            .collect();
        if let Some(dir) = &a.dump {
            std::fs::create_dir_all(dir).expect("dump dir");
            for (f, g) in set.iter().zip(&frames) {
                let tag = if f.payload.is_some() { "qr" } else { "empty" };
                g.save_png(&dir.join(format!("{w}x{h}-{:04}-{tag}.png", f.seed)))
                    .expect("dump frame");
            }
        }
        let size = format!("{w}x{h}");
        let mut ours = Stats::new();
        let mut stock = Stats::new();
        let mut passes = std::collections::BTreeMap::new();
        for (f, g) in set.iter().zip(&frames) {
            let mut dec = QrDecoder::new(accept);
            let t = Instant::now();
            let got = dec.decode(g);
            let ms = t.elapsed().as_secs_f64() * 1e3;
            if let Some(d) = &got {
                *passes.entry(d.pass.as_str()).or_insert(0) += 1;
            }
            let got: Vec<String> = got.map(|d| d.text).into_iter().collect();
            let t = Instant::now();
            let st = decode_stock(g);
            let sms = t.elapsed().as_secs_f64() * 1e3;
            if a.verbose {
                println!(
                    "  {size} seed {} {}: ours {} {:.1} ms, stock {} {:.1} ms",
                    f.seed,
                    if f.payload.is_some() { "qr" } else { "empty" },
                    if f.payload.as_ref().is_some_and(|p| got.contains(p)) {
                        "HIT "
                    } else if got.is_empty() {
                        "miss"
                    } else {
                        "FP  "
                    },
                    ms,
                    if f.payload.as_ref().is_some_and(|p| st.contains(p)) {
                        "HIT "
                    } else if st.is_empty() {
                        "miss"
                    } else {
                        "FP  "
                    },
                    sms
                );
            }
            ours.add(f, &got, ms);
            stock.add(f, &st, sms);
        }
        let (row, m_ours) = ours.row(&size, "pipeline");
        println!("{row}");
        let (row, m_stock) = stock.row(&size, "stock rqrr");
        println!("{row}");
        // The phone held still: the second frame is read around the first hit.
        let mut still = Vec::new();
        let mut still_missed = 0;
        for g in frames.iter().take(a.frames) {
            let mut dec = QrDecoder::new(accept);
            if dec.decode(g).is_some() {
                let t = Instant::now();
                let again = dec.decode(g);
                still.push(t.elapsed().as_secs_f64() * 1e3);
                if !again.is_some_and(|d| d.pass == Pass::LastHit) {
                    still_missed += 1;
                }
            }
        }
        still.sort_by(|a, b| a.total_cmp(b));
        notes.push(format!(
            "{size}: speed-up of the median {:.1}x; passes {:?}; phone held still (next frame from the last hit's region): median {:.2} ms, {} not re-read there",
            m_stock / m_ours.max(1e-9),
            passes,
            percentile(&still, 0.5),
            still_missed
        ));
    }
    println!();
    for n in notes {
        println!("{n}");
    }
}
