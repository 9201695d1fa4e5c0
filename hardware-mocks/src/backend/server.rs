//! The accept loop. Served by hand with hyper rather than `axum::serve`
//! because the mock must be able to (1) drop one connection without an
//! answer ([`super::Fault::ConnectionReset`]) and (2) on shutdown close every
//! open connection at once, as a backend that goes down does.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::{oneshot, Notify};
use tokio::task::JoinSet;
use tower::ServiceExt as _;

use super::routes::ConnectionAbort;

/// Binds with SO_REUSEADDR so that a test can serve the same address again
/// right after stopping (connections of the previous run may linger in
/// TIME_WAIT).
pub(crate) fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(1024)
}

pub(crate) async fn accept_loop(
    listener: TcpListener,
    router: Router,
    mut stop: oneshot::Receiver<()>,
) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            // A send or the sender's drop: stop either way.
            _ = &mut stop => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let _ = stream.set_nodelay(true);
                    connections.spawn(serve_connection(stream, router.clone()));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "mock backend accept failed");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drop(listener);
    // Aborts every connection task (closing its socket) and waits for them.
    connections.shutdown().await;
}

async fn serve_connection(stream: TcpStream, router: Router) {
    let abort = Arc::new(Notify::new());
    let abort_handle = ConnectionAbort(abort.clone());
    let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
        req.extensions_mut().insert(abort_handle.clone());
        router.clone().oneshot(req)
    });
    let connection =
        hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service);
    tokio::select! {
        result = connection => {
            if let Err(e) = result {
                tracing::debug!(error = %e, "mock backend connection ended with an error");
            }
        }
        // Dropping the connection future closes the socket with no answer.
        _ = abort.notified() => {}
    }
}
