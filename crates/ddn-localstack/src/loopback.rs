//! Servers on loopback: the one place where the stack, and the test tools built on it, bind a
//! socket and accept connections.
//!
//! [`bind`] binds 127.0.0.1 only. [`accept_loop`] accepts connections until it is told to stop; a
//! failed accept (out of file descriptors, a connection reset while queued) is logged and the
//! next attempt waits a little longer each time, from [`ACCEPT_RETRY_FIRST`] up to
//! [`ACCEPT_RETRY_MAX`], so a persistent failure neither spins a core nor goes unnoticed.
//! [`serve_http`] serves HTTP/1.1 over that loop and lets open connections finish at shutdown.

use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::{TcpListener, TcpStream};

/// The wait after the first failed accept; it doubles with each failure in a row.
pub const ACCEPT_RETRY_FIRST: Duration = Duration::from_millis(10);
/// The longest wait between failed accepts.
pub const ACCEPT_RETRY_MAX: Duration = Duration::from_secs(1);
/// How long open connections get to finish after a server is told to stop.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Binds `127.0.0.1:port` (0 picks a free port).
///
/// # Errors
/// The operating system's error when the port is taken or no socket can be made.
pub async fn bind(port: u16) -> std::io::Result<TcpListener> {
    TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, port))).await
}

/// Hands every connection accepted on `listener` to `on_connection` until `shutdown` completes.
/// A failed accept is logged and retried after a backoff (see the module's documentation).
pub async fn accept_loop(
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
    mut on_connection: impl FnMut(TcpStream),
) {
    let mut shutdown = std::pin::pin!(shutdown);
    let mut retry = ACCEPT_RETRY_FIRST;
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => return,
        };
        match accepted {
            Ok((stream, _)) => {
                retry = ACCEPT_RETRY_FIRST;
                on_connection(stream);
            }
            Err(error) => {
                tracing::warn!(%error, retry_in = ?retry, "accepting a connection failed");
                tokio::select! {
                    () = tokio::time::sleep(retry) => {}
                    () = &mut shutdown => return,
                }
                retry = retry.saturating_mul(2).min(ACCEPT_RETRY_MAX);
            }
        }
    }
}

/// Serves HTTP/1.1 on `listener` through [`accept_loop`], each connection by a service from
/// `make_service`, until `shutdown` completes; then gives open connections [`SHUTDOWN_GRACE`] to
/// finish.
pub async fn serve_http<M, S, B>(
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
    make_service: M,
) where
    M: Fn() -> S,
    S: hyper::service::Service<Request<Incoming>, Response = Response<B>> + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let graceful = GracefulShutdown::new();
    accept_loop(listener, shutdown, |stream| {
        let connection =
            http1::Builder::new().serve_connection(TokioIo::new(stream), make_service());
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%error, "connection ended with an error");
            }
        });
    })
    .await;
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(SHUTDOWN_GRACE) => {
            tracing::warn!("open connections did not finish in time after shutdown");
        }
    }
}
