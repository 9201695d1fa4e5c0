//! End-to-end: the real `pos-agent` binary with a `dir:` camera fed by the
//! virtual camera (`hardware_mocks::camera`): a phone showing a payment
//! token becomes a `scan` event on `GET /api/v1/events`, and the
//! transaction is created from its `scan_id`.

mod support;

use std::time::Duration;

use hardware_mocks::camera::VirtualCamera;
use hardware_mocks::demo;
use pos_drivers::camera::{GrayFrame, QrDecoder};
use serde_json::json;
use support::{Env, EventStream, Opts};

const WAIT: Duration = Duration::from_secs(30);
/// Small frames: the agent under test is a debug build.
const W: u32 = 640;
const H: u32 = 480;

/// The first seed whose frame showing `payload` the camera pipeline reads,
/// so the test does not depend on how hard one particular frame is.
fn readable_seed(cam: &VirtualCamera, payload: &str) -> u64 {
    let accept = |t: &str| pos_codes::classify(t).is_ok();
    (1..40)
        .find(|&seed| {
            let bytes =
                hardware_mocks::camera::frame_jpeg(Some(payload), cam.width, cam.height, seed);
            let frame = GrayFrame::from_jpeg(&bytes).expect("a JPEG");
            QrDecoder::new(accept)
                .decode(&frame)
                .is_some_and(|d| d.text == payload)
        })
        .expect("some frame is readable")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_shown_to_the_camera_becomes_a_scan_and_a_transaction() {
    let frames = tempfile::tempdir().expect("temp dir");
    // The directory appears only after the agent started: the camera is
    // offline until then, and retried.
    let cam_dir = frames.path().join("camera");
    let mut env = Env::with(Opts {
        camera_device: format!("dir:{}", cam_dir.display()),
        ..Opts::default()
    })
    .await;
    env.start_agent();
    assert_eq!(env.device_state("camera").await, "offline");
    let mut cam = VirtualCamera::new(&cam_dir).expect("camera dir");
    cam.width = W;
    cam.height = H;
    env.wait_device_state("camera", "ready").await;

    let token = env.login().await;
    let mut events = EventStream::open(&env, &token).await;

    // A parent shows the app's QR code.
    let app = demo::app_token(demo::CONSUMER_1, demo::SERVICE_MENSA, demo::DEMO_IAT);
    let seed = readable_seed(&cam, &app);
    cam.show(Some(&app), seed).expect("frame");
    let scan = events.next_named("scan", WAIT).await;
    assert_eq!(scan["source"], "camera", "{scan}");
    assert_eq!(scan["kind"], "app_token", "{scan}");
    let scan_id = scan["scan_id"].as_str().expect("scan_id").to_string();

    // Still held in front of the camera (two more frames), then a notice:
    // the token is not reported again within the hold-off, the notice at once.
    cam.show(Some(&app), seed).expect("frame");
    cam.show(Some(&app), seed).expect("frame");
    let notice = format!(
        "PAGOPA|002|{}|{}|{}",
        demo::NOTICE_PAYABLE,
        demo::CREDITOR_CF,
        demo::NOTICE_PAYABLE_AMOUNT_CENTS
    );
    let notice_seed = readable_seed(&cam, &notice);
    cam.show(Some(&notice), notice_seed).expect("frame");
    let next = events.next_named("scan", WAIT).await;
    assert_eq!(
        next["kind"], "notice",
        "the token was reported twice: {next}"
    );
    assert_eq!(next["source"], "camera");

    // The operator starts the transaction from the camera's scan.
    let (s, t) = env
        .call(
            "POST",
            "/api/v1/transactions",
            Some(&token),
            Some(json!({"scan_id": scan_id})),
        )
        .await;
    assert_eq!(s, 201, "create from scan_id: {t}");
    assert_eq!(t["kind"], "recharge");
    assert_eq!(t["state"], "identified");
    assert!(!t["service"].is_null(), "{t}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn camera_decode_prints_one_line_per_file() {
    let env = Env::new().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let mut cam = VirtualCamera::new(dir.path()).expect("camera dir");
    cam.width = W;
    cam.height = H;
    let app = demo::app_token(demo::CONSUMER_2, demo::SERVICE_TRASPORTO, demo::DEMO_IAT);
    let seed = readable_seed(&cam, &app);
    let with_qr = cam.show(Some(&app), seed).expect("frame");
    let without = cam.show(None, 3).expect("frame");
    let out = env.cli(&[
        "camera",
        "decode",
        with_qr.to_str().expect("utf8 path"),
        without.to_str().expect("utf8 path"),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("utf8");
    let lines: Vec<Vec<&str>> = text.lines().map(|l| l.split('\t').collect()).collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert_eq!(
        lines[0],
        [
            with_qr.to_str().unwrap_or_default(),
            app.as_str(),
            lines[0][2]
        ]
    );
    assert!(lines[0][2].parse::<f64>().is_ok(), "milliseconds: {text}");
    assert_eq!(lines[1][1], "", "no QR, no text: {text}");

    let missing = dir.path().join("missing.png");
    let out = env.cli(&["camera", "decode", missing.to_str().expect("utf8 path")]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing.png"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_camera_unplugged_mid_transaction_changes_nothing_but_its_state() {
    let frames = tempfile::tempdir().expect("temp dir");
    let cam_dir = frames.path().join("camera");
    std::fs::create_dir_all(&cam_dir).unwrap();
    let mut env = Env::with(Opts {
        camera_device: format!("dir:{}", cam_dir.display()),
        ..Opts::default()
    })
    .await;
    env.start_agent();
    env.wait_device_state("camera", "ready").await;
    let token = env.login().await;
    let mut events = EventStream::open(&env, &token).await;
    let id = env
        .ready_to_pay(&token, demo::MANUAL_CODE_MENSA_1, 2000)
        .await;

    // Unplugged: the operator is told (a device event, the status bar)...
    std::fs::remove_dir_all(&cam_dir).unwrap();
    let state = events.next_device_state("camera", WAIT).await;
    assert_ne!(state, "ready");
    env.wait_device_state("camera", "offline").await;

    // ...and the transaction goes on as if nothing happened.
    let paid = env.pay(&token, &id, 2000).await;
    assert_eq!(paid["state"], "paid");
    env.wait_sync(&token, &id, "confirmed", WAIT).await;
    assert_eq!(env.mock.credits_for(&id), 1);

    // Plugged back: ready again.
    std::fs::create_dir_all(&cam_dir).unwrap();
    env.wait_device_state("camera", "ready").await;
}
