//! Latency of the camera: from a QR appearing in front of a `dir:` camera
//! (a frame file renamed into its directory by the virtual camera) to the
//! `scan` event on `GET /api/v1/events`, through the REAL release binary.
//! Numbers for the README, never asserted.
//!
//! ```text
//! cargo bench -p pos-agent --bench camera_latency
//! BENCH_CAMERA_SHOWS=60 cargo bench -p pos-agent --bench camera_latency
//! ```
//!
//! Each show is a frame our decoder reads (checked beforehand, so the
//! number is the latency of a read, not the hit rate), of a payload other
//! than the previous one (a different code is reported at once), 300 ms
//! after the previous scan, written again every 33 ms until it is read (a
//! camera keeps delivering the phone it sees; a frame the decoder gives up
//! on, over its time budget, is followed by the next). Per frame size: p50,
//! p95 and worst, from the first frame.

#[path = "../../tests/support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use hardware_mocks::camera::{demo_payloads, frame_jpeg};
use pos_drivers::camera::{GrayFrame, QrDecoder};
use support::{Env, EventStream, Opts};

fn accept(t: &str) -> bool {
    pos_codes::classify(t).is_ok()
}

/// `n` JPEG frames our decoder reads, alternating payloads.
fn readable_frames(w: u32, h: u32, n: usize) -> Vec<Vec<u8>> {
    let payloads = demo_payloads();
    let mut out = Vec::new();
    let mut seed = 1000u64;
    while out.len() < n {
        let p = &payloads[out.len() % payloads.len()];
        seed += 1;
        let bytes = frame_jpeg(Some(p), w, h, seed);
        let Ok(frame) = GrayFrame::from_jpeg(&bytes) else {
            continue;
        };
        if QrDecoder::new(accept)
            .decode(&frame)
            .is_some_and(|d| &d.text == p)
        {
            out.push(bytes);
        }
    }
    out
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let shows: usize = std::env::var("BENCH_CAMERA_SHOWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(40);
    println!(
        "camera latency: file renamed into a dir: camera -> `scan` event, {shows} shows per size{}",
        if cfg!(debug_assertions) {
            " (DEBUG BUILD: timings mean nothing)"
        } else {
            ""
        }
    );
    for (w, h) in [(640u32, 480u32), (1280, 720)] {
        let frames = readable_frames(w, h, shows);
        let tmp = tempfile::tempdir().expect("temp dir");
        let cam_dir = tmp.path().join("camera");
        std::fs::create_dir_all(&cam_dir).expect("camera dir");
        let mut env = Env::with(Opts {
            camera_device: format!("dir:{}", cam_dir.display()),
            ..Opts::default()
        })
        .await;
        env.set_printer_device("none");
        env.start_agent();
        env.wait_device_state("camera", "ready").await;
        let token = env.login().await;
        let mut events = EventStream::open(&env, &token).await;
        let mut ms = Vec::new();
        let mut file = 0usize;
        let mut repeats = 0usize;
        for bytes in &frames {
            // A phone in front of a camera is in every frame until it is
            // read: the same picture again every 33 ms (30 fps) until the
            // scan, the latency counted from the first one.
            let t = Instant::now();
            let scan = loop {
                let part = cam_dir.join(format!(".f{file:06}.part"));
                std::fs::write(&part, bytes).expect("frame");
                std::fs::rename(&part, cam_dir.join(format!("f{file:06}.jpg"))).expect("frame");
                file += 1;
                let wait = events.next_named("scan", Duration::from_secs(10));
                match tokio::time::timeout(Duration::from_millis(33), wait).await {
                    Ok(scan) => break scan,
                    Err(_) if t.elapsed() < Duration::from_secs(10) => repeats += 1,
                    Err(_) => panic!("no scan within 10 s"),
                }
            };
            ms.push(t.elapsed().as_secs_f64() * 1e3);
            assert_eq!(scan["source"], "camera", "{scan}");
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        ms.sort_by(|a, b| a.total_cmp(b));
        println!(
            "  {w}x{h}: p50 {:.1} ms, p95 {:.1} ms, worst {:.1} ms ({} scans, {repeats} frames shown again)",
            pct(&ms, 0.5),
            pct(&ms, 0.95),
            ms.last().copied().unwrap_or(0.0),
            ms.len()
        );
        drop(env);
    }
}
