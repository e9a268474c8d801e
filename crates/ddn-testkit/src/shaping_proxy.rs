//! A TCP proxy on loopback that behaves like a distant server on an ordinary network: every byte
//! arrives a fixed delay after it was sent, and each connection moves at most a fixed rate in each
//! direction (real S3 serves each connection at a limited rate, which is why parallel parts and
//! ranges pay off). The benchmarks compare the engine with `curl` through it; it also counts the
//! bytes it carried, so tests can tell what a client sent.
//!
//! Each direction of a connection is two tasks joined by a bounded queue: one reads and stamps each
//! chunk with the time it may be delivered, the other waits for that time and for the rate's
//! allowance, then writes. The queue holds a little more than the rate times the delay, so a
//! connection is never held below its rate by the delay itself, as with TCP's window on a long
//! line. Connections are accepted by the shared loop, [`ddn_localstack::loopback`].

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ddn_localstack::loopback;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// How the proxy shapes each connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    /// Added to every byte's trip, in each direction.
    pub delay: Duration,
    /// The most bytes per second one connection moves in one direction.
    pub bytes_per_second: u64,
}

/// Where the proxy forwards to, and the bytes it has carried, by direction, over all connections.
#[derive(Debug, Default)]
struct Counters {
    upstream: Mutex<Option<SocketAddr>>,
    up_bytes: AtomicU64,
    down_bytes: AtomicU64,
    connections: AtomicUsize,
}

/// A running proxy. Dropping it stops accepting connections.
pub struct ShapingProxy {
    address: SocketAddr,
    counters: Arc<Counters>,
    task: JoinHandle<()>,
}

/// The size of one read, and so of one delivered chunk.
const CHUNK_BYTES: usize = 64 * 1024;

impl ShapingProxy {
    /// Binds a free loopback port. Connections are refused until [`Self::set_upstream`] (the
    /// stack is started after its proxy, so that it signs URLs for the proxy's address).
    ///
    /// # Errors
    /// An I/O error when no port can be bound.
    pub async fn start(shape: Shape) -> std::io::Result<Self> {
        let listener = loopback::bind(0).await?;
        let address = listener.local_addr()?;
        let counters = Arc::new(Counters::default());
        let shared = Arc::clone(&counters);
        let task = tokio::spawn(loopback::accept_loop(
            listener,
            std::future::pending(),
            move |client| {
                let upstream = *shared
                    .upstream
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                if let Some(upstream) = upstream {
                    shared.connections.fetch_add(1, Ordering::Relaxed);
                    tokio::spawn(forward(client, upstream, shape, Arc::clone(&shared)));
                }
            },
        ));
        Ok(Self {
            address,
            counters,
            task,
        })
    }

    /// Where connections are forwarded to: an `http://127.0.0.1:PORT` address.
    ///
    /// # Errors
    /// [`std::io::ErrorKind::InvalidInput`] when `url` is not such an address.
    pub fn set_upstream(&self, url: &str) -> std::io::Result<()> {
        let address: SocketAddr = url
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .parse()
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
        *self
            .counters
            .upstream
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(address);
        Ok(())
    }

    /// `http://127.0.0.1:PORT`, the address to advertise in URLs.
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Bytes carried from clients to the server so far (requests and upload bodies).
    pub fn upstream_bytes(&self) -> u64 {
        self.counters.up_bytes.load(Ordering::Relaxed)
    }

    /// Bytes carried from the server to clients so far (answers and download bodies).
    pub fn downstream_bytes(&self) -> u64 {
        self.counters.down_bytes.load(Ordering::Relaxed)
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.counters.connections.load(Ordering::Relaxed)
    }
}

impl Drop for ShapingProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn forward(client: TcpStream, upstream: SocketAddr, shape: Shape, counters: Arc<Counters>) {
    let Ok(server) = TcpStream::connect(upstream).await else {
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    let up = shaped(client_read, server_write, shape, &counters.up_bytes);
    let down = shaped(server_read, client_write, shape, &counters.down_bytes);
    tokio::join!(up, down);
}

/// Copies `from` to `to`, each chunk delivered `shape.delay` after it was read and no faster than
/// the rate; passes the close on when `from` ends.
async fn shaped(
    mut from: impl AsyncRead + Unpin,
    mut to: impl AsyncWrite + Unpin,
    shape: Shape,
    carried: &AtomicU64,
) {
    // The chunks in flight on the "line": the rate times the delay, and a few more.
    let in_flight = (shape.bytes_per_second as f64 * shape.delay.as_secs_f64()) as usize;
    let capacity = in_flight / CHUNK_BYTES + 4;
    let (sender, mut receiver) = mpsc::channel::<(Instant, Vec<u8>)>(capacity);
    let read = async move {
        loop {
            let mut chunk = vec![0u8; CHUNK_BYTES];
            match from.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    chunk.truncate(n);
                    if sender
                        .send((Instant::now() + shape.delay, chunk))
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
            }
        }
    };
    let write = async {
        let rate = shape.bytes_per_second.max(1) as f64;
        let mut sent: u64 = 0;
        let mut started: Option<Instant> = None;
        while let Some((due, chunk)) = receiver.recv().await {
            tokio::time::sleep_until(due).await;
            // The rate is kept over the time the line has been busy: after an idle spell (the
            // client thinking between requests) the clock starts again rather than allowing a
            // burst that makes up for the idle time.
            let now = Instant::now();
            let start = match started {
                Some(start) if now.duration_since(start).as_secs_f64() <= sent as f64 / rate => {
                    start
                }
                _ => {
                    sent = 0;
                    now
                }
            };
            started = Some(start);
            let allowed_at = start + Duration::from_secs_f64(sent as f64 / rate);
            tokio::time::sleep_until(allowed_at).await;
            if to.write_all(&chunk).await.is_err() {
                return;
            }
            sent += chunk.len() as u64;
            carried.fetch_add(chunk.len() as u64, Ordering::Relaxed);
        }
        let _ = to.shutdown().await;
    };
    tokio::join!(read, write);
}
