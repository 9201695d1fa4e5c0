//! The composition root: everything the running agent does in the
//! background is started here, and stopped here, in order.
//!
//! ```text
//! start:  devices (camera, card reader threads, each with a DeviceLink)
//!         print queue retry loop · outbox sender · signing keys refresh
//!         backend health probe · the API server
//! SIGTERM / ctrl-c:
//!   1. stop taking new work: the API accepts no connection, the devices
//!      stop reading (`intake` token)
//!   2. requests in flight get SHUTDOWN_GRACE to finish; a console's event
//!      stream is then cut. The work that follows a commit (`pay` and
//!      `day/close` themselves, the drawer kick and the receipt after a
//!      payment: `Agent::to_the_end`) runs to its end (STOP_TASKS at most)
//!   3. the background tasks stop (`tasks` token): the print queue's retry
//!      loop between two ticks, the keys refresh and the health probe; the
//!      outbox sender stops sending and records the answers in flight
//!      (sync::FLUSH)
//!   4. the device threads are joined (bounded), the agent is dropped:
//!      SQLite closes, the instance lock is released
//! ```
//!
//! Every write is committed before it is acknowledged, so stopping at any
//! point loses nothing; the order only keeps answers that already arrived
//! and ends the process promptly (systemd's stop timeout is far away).

use std::future::IntoFuture;
use std::net::SocketAddr;
use std::sync::{Arc, Weak};
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::Context;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::agent::Agent;
use crate::devices::device_state::{DeviceLink, ScanSink};

/// How long requests in flight get to finish after SIGTERM/SIGINT.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// How long the background tasks and device threads get to end once told.
pub const STOP_TASKS: Duration = Duration::from_secs(3);

/// The running agent's tasks and threads, and the two signals that stop
/// them.
pub struct Runtime {
    agent: Arc<Agent>,
    /// Stop taking new work: the API's listener, the devices.
    intake: CancellationToken,
    /// Stop the background tasks (after the API drained).
    tasks_stop: CancellationToken,
    tasks: JoinSet<()>,
    threads: Vec<JoinHandle<()>>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
    addr: SocketAddr,
}

impl Runtime {
    /// Start every background task and the API on `listener`.
    pub fn start(agent: Arc<Agent>, listener: tokio::net::TcpListener) -> anyhow::Result<Self> {
        let addr = listener.local_addr()?;
        let intake = CancellationToken::new();
        let tasks_stop = CancellationToken::new();

        // Devices: dedicated threads (reads block), holding a link only.
        let sink: Weak<dyn ScanSink> = Arc::downgrade(&agent) as Weak<dyn ScanSink>;
        let mut threads = Vec::new();
        let card = DeviceLink::new(agent.card_reader.clone(), sink.clone(), intake.clone());
        threads.extend(crate::devices::card_reader::spawn(
            &agent.config.card_reader.device,
            card,
        ));
        let camera = DeviceLink::new(agent.camera.clone(), sink, intake.clone());
        threads.extend(crate::devices::camera::spawn(&agent.config.camera, camera));

        let mut tasks = JoinSet::new();
        // Print jobs left by a previous run (paper out, crash) are retried.
        tasks.spawn(agent.print_queue.clone().run(tasks_stop.clone()));
        tasks.spawn(crate::sync::run(agent.clone(), tasks_stop.clone()));
        tasks.spawn(refresh_keys(Arc::downgrade(&agent), tasks_stop.clone()));
        tasks.spawn(probe_health(Arc::downgrade(&agent), tasks_stop.clone()));

        let stop_serving = intake.clone();
        let server = tokio::spawn(
            axum::serve(listener, crate::api::router(agent.clone()))
                .with_graceful_shutdown(async move { stop_serving.cancelled().await })
                .into_future(),
        );
        Ok(Runtime {
            agent,
            intake,
            tasks_stop,
            tasks,
            threads,
            server,
            addr,
        })
    }

    /// Where the API listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Run until `signal` completes (or the server fails), then stop in order.
    pub async fn run_until(
        mut self,
        signal: impl std::future::Future<Output = ()>,
    ) -> anyhow::Result<()> {
        let served = tokio::select! {
            r = &mut self.server => Some(r),
            _ = signal => None,
        };
        let result = match served {
            Some(r) => flatten(r),
            None => Ok(()),
        };
        self.shutdown().await;
        result
    }

    /// Stop in order: intake, requests in flight and the work after their
    /// commits, background tasks, device threads; then the agent (store,
    /// lock) is dropped.
    pub async fn shutdown(mut self) {
        // 1. No new connections, no new scans.
        self.intake.cancel();
        // 2. Requests in flight finish (bounded: an event stream never does).
        if !self.server.is_finished() {
            match tokio::time::timeout(SHUTDOWN_GRACE, &mut self.server).await {
                Ok(r) => {
                    if let Err(e) = flatten(r) {
                        warn!(error = %e, "the API server stopped with an error");
                    }
                }
                Err(_) => {
                    self.server.abort();
                    info!("connections still open after the grace period were closed");
                }
            }
        }
        // 2b. The work that follows a commit runs to its end: a receipt
        // owed is printed now rather than at the next start.
        self.agent.to_the_end.close();
        if tokio::time::timeout(STOP_TASKS, self.agent.to_the_end.wait())
            .await
            .is_err()
        {
            warn!("the work after a commit did not end in time; what it owes is on disk (a receipt not printed yet is printed at the next start)");
        }
        // 3. Background tasks: the outbox records what is in flight.
        self.tasks_stop.cancel();
        let joined = tokio::time::timeout(STOP_TASKS, async {
            while let Some(r) = self.tasks.join_next().await {
                if let Err(e) = r {
                    if e.is_panic() {
                        warn!(error = %e, "a background task panicked");
                    }
                }
            }
        })
        .await;
        if joined.is_err() {
            warn!("background tasks did not stop in time; aborted");
            self.tasks.abort_all();
        }
        // 4. Device threads notice the intake token within their poll.
        let threads = std::mem::take(&mut self.threads);
        let ended = tokio::time::timeout(
            STOP_TASKS,
            tokio::task::spawn_blocking(move || {
                for t in threads {
                    let _ = t.join();
                }
            }),
        )
        .await;
        if ended.is_err() {
            warn!("a device thread is still blocked in a read; leaving it");
        }
        let strong = Arc::strong_count(&self.agent);
        drop(self);
        info!(
            other_holders = strong.saturating_sub(1),
            "stopped; every payment was committed before it was acknowledged"
        );
    }
}

fn flatten(r: Result<std::io::Result<()>, tokio::task::JoinError>) -> anyhow::Result<()> {
    match r {
        Ok(r) => Ok(r?),
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(_) => Ok(()),
    }
}

/// Serve the API and run the background tasks until SIGINT/SIGTERM.
pub async fn serve(agent: Arc<Agent>, listen: SocketAddr) -> anyhow::Result<()> {
    if !listen.ip().is_loopback() {
        warn!(%listen, "the local API listens on a non-loopback address: anyone on the network can reach the login");
    }
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| {
            format!("cannot listen on {listen} (api.listen); is another program using it?")
        })?;
    let terminal = agent.terminal_id.clone();
    let text_logs = agent.config.log.format == pos_config::LogFormat::Text;
    let runtime = Runtime::start(agent, listener)?;
    let addr = runtime.addr();
    info!(%addr, %terminal, "pos-agent listening");
    if text_logs {
        // For people and scripts; with JSON logs the record above says it.
        eprintln!("pos-agent: listening on http://{addr}");
    }
    runtime.run_until(shutdown_signal()).await
}

/// SIGTERM (systemd's stop) or SIGINT (ctrl-c).
pub async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term => {}
    }
    info!("shutting down");
}

/// Fetch the signing keys at start and hourly.
async fn refresh_keys(agent: Weak<Agent>, stop: CancellationToken) {
    loop {
        let Some(a) = agent.upgrade() else { return };
        tokio::select! {
            _ = a.refresh_keys() => {}
            _ = stop.cancelled() => return,
        }
        drop(a);
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(3600)) => {}
            _ = stop.cancelled() => return,
        }
    }
}

/// While the backend is unreachable, probe its (unsigned, cheap) health
/// every 15-30 s: the outbox wakes as soon as it answers instead of waiting
/// out a backoff of up to 5 minutes. The jitter keeps a fleet of counters
/// from probing in step.
async fn probe_health(agent: Weak<Agent>, stop: CancellationToken) {
    loop {
        let pause = Duration::from_millis(15_000 + rand::random::<u64>() % 15_000);
        tokio::select! {
            _ = tokio::time::sleep(pause) => {}
            _ = stop.cancelled() => return,
        }
        let Some(a) = agent.upgrade() else { return };
        if a.backend_status().reachable {
            continue;
        }
        tokio::select! {
            r = a.backend.health() => if r.is_ok() { a.note_backend_healthy() },
            _ = stop.cancelled() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};

    use super::*;
    use crate::agent::{AgentParts, Tuning};

    /// An agent on a temporary data directory, no devices, a backend that
    /// refuses connections, a printer that prints nothing.
    fn agent(dir: &std::path::Path) -> Arc<Agent> {
        let mut config = pos_config::Config {
            data_dir: dir.to_path_buf(),
            ..Default::default()
        };
        config.backend.url = "http://127.0.0.1:9".into();
        config.camera.device = pos_config::CameraDevice::None;
        config.card_reader.device = pos_config::CardReaderDevice::None;
        let data = crate::datadir::DataDir::open(dir).unwrap();
        let store = crate::store::Store::open(&data.journal_path()).unwrap();
        use base64::Engine as _;
        Agent::new(AgentParts {
            config,
            data,
            lock: None,
            store,
            terminal: crate::datadir::TerminalFile {
                terminal_id: "T-000001".into(),
                secret: base64::engine::general_purpose::STANDARD.encode([7u8; 32]),
                psp: serde_json::Value::Null,
                location: serde_json::Value::Null,
                enrolled_at: None,
            },
            printer: Box::new(pos_drivers::NullPrinter),
            tuning: Tuning::default(),
        })
        .unwrap()
    }

    /// The work that follows a commit (the receipt after a payment) is not
    /// cut short by SIGTERM: the shutdown waits for it before it stops the
    /// background tasks and drops the agent.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn shutdown_lets_the_work_after_a_commit_end() {
        let dir = tempfile::tempdir().unwrap();
        let agent = agent(dir.path());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let runtime = Runtime::start(agent.clone(), listener).unwrap();
        let ended = Arc::new(AtomicBool::new(false));
        let flag = ended.clone();
        agent.to_the_end.spawn(async move {
            tokio::time::sleep(Duration::from_millis(800)).await;
            flag.store(true, Ordering::SeqCst);
        });
        runtime.shutdown().await;
        assert!(
            ended.load(Ordering::SeqCst),
            "the shutdown returned before the work after a commit ended"
        );
        assert!(agent.to_the_end.is_empty());
        assert_eq!(
            Arc::strong_count(&agent),
            1,
            "no task of the runtime holds the agent after the shutdown"
        );
    }
}
