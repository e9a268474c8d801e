//! A TCP proxy on loopback that misbehaves on purpose, for testing how clients survive a bad
//! network: it cuts connections after a chosen number of bytes, delays them, stalls them, or answers
//! a request itself with an error such as S3's `503 SlowDown`.
//!
//! Each new connection takes the next [`Fault`] from the plan; once the plan is empty, connections
//! pass through untouched. Presigned URLs are signed for the proxy's address (see
//! [`ddn_localstack::LocalStackOptions::s3_public_url`]), so the S3 server behind it checks them
//! as usual. Connections are accepted by the shared loop, [`ddn_localstack::loopback`].

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ddn_localstack::loopback;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;

/// Which way bytes flow through the proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// From the client to the server (an upload's body).
    Upstream,
    /// From the server to the client (a download's body).
    Downstream,
}

/// What the proxy does to one connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Forwards faithfully.
    Pass,
    /// Closes both sides after `bytes` have gone through in `direction`.
    CutAfter {
        /// Where the cut happens.
        direction: Direction,
        /// Bytes let through before it.
        bytes: u64,
    },
    /// Waits this long before connecting to the server.
    Delay(Duration),
    /// Forwards `bytes` in `direction`, then moves nothing for `pause`, then closes.
    StallAfter {
        /// Where the stall happens.
        direction: Direction,
        /// Bytes let through before it.
        bytes: u64,
        /// How long nothing moves.
        pause: Duration,
    },
    /// Reads the whole request, answers it with this status and S3 error code, and closes.
    Respond {
        /// The HTTP status, e.g. 503.
        status: u16,
        /// The S3 error code in the XML body, e.g. `SlowDown`.
        code: String,
    },
}

/// A running proxy. Dropping it stops accepting connections.
pub struct FaultProxy {
    address: SocketAddr,
    state: Arc<Mutex<State>>,
    upstream_bytes: Arc<AtomicU64>,
    task: JoinHandle<()>,
}

#[derive(Default)]
struct State {
    upstream: Option<SocketAddr>,
    plan: VecDeque<Fault>,
    connections: usize,
}

impl FaultProxy {
    /// Binds a free loopback port. Connections are refused until [`Self::set_upstream`].
    ///
    /// # Errors
    /// An I/O error when no port can be bound.
    pub async fn start() -> std::io::Result<Self> {
        let listener = loopback::bind(0).await?;
        let address = listener.local_addr()?;
        let state = Arc::new(Mutex::new(State::default()));
        let shared = Arc::clone(&state);
        let upstream_bytes = Arc::new(AtomicU64::new(0));
        let counted = Arc::clone(&upstream_bytes);
        let task = tokio::spawn(loopback::accept_loop(
            listener,
            std::future::pending(),
            move |client| {
                let (upstream, fault) = {
                    let mut state = lock(&shared);
                    state.connections += 1;
                    (
                        state.upstream,
                        state.plan.pop_front().unwrap_or(Fault::Pass),
                    )
                };
                if let Some(upstream) = upstream {
                    tokio::spawn(handle(client, upstream, fault, Arc::clone(&counted)));
                }
            },
        ));
        Ok(Self {
            address,
            state,
            upstream_bytes,
            task,
        })
    }

    /// `http://127.0.0.1:PORT`, the address to advertise in URLs.
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Where connections are forwarded to.
    pub fn set_upstream(&self, url: &str) {
        let address = url
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .parse()
            .ok();
        lock(&self.state).upstream = address;
    }

    /// Appends faults for the next connections, in order.
    pub fn plan(&self, faults: impl IntoIterator<Item = Fault>) {
        lock(&self.state).plan.extend(faults);
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        lock(&self.state).connections
    }

    /// Bytes passed on from clients to the server so far, on every connection (requests' heads
    /// and bodies): what a test reads to tell how much of an upload was sent.
    pub fn bytes_upstream(&self) -> u64 {
        self.upstream_bytes.load(Ordering::Relaxed)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn lock(state: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    state.lock().unwrap_or_else(|e| e.into_inner())
}

async fn handle(
    mut client: TcpStream,
    upstream: SocketAddr,
    fault: Fault,
    counted: Arc<AtomicU64>,
) {
    let limit = |direction: Direction| match &fault {
        Fault::CutAfter {
            direction: d,
            bytes,
        } if *d == direction => Some((*bytes, None)),
        Fault::StallAfter {
            direction: d,
            bytes,
            pause,
        } if *d == direction => Some((*bytes, Some(*pause))),
        _ => None,
    };
    match &fault {
        Fault::Respond { status, code } => {
            respond(&mut client, *status, code).await;
            return;
        }
        Fault::Delay(delay) => tokio::time::sleep(*delay).await,
        _ => {}
    }
    let Ok(server) = TcpStream::connect(upstream).await else {
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    let up = pump(
        client_read,
        server_write,
        limit(Direction::Upstream),
        Some(&counted),
    );
    let down = pump(
        server_read,
        client_write,
        limit(Direction::Downstream),
        None,
    );
    let (mut up, mut down) = (std::pin::pin!(up), std::pin::pin!(down));
    let (mut up_done, mut down_done) = (false, false);
    // A cut in either direction ends the whole connection; otherwise it ends when both sides have.
    while !(up_done && down_done) {
        let ended = tokio::select! {
            ended = &mut up, if !up_done => { up_done = true; ended }
            ended = &mut down, if !down_done => { down_done = true; ended }
        };
        if ended == Ended::Cut {
            return;
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Ended {
    /// The sender closed its side; the close was passed on.
    Closed,
    /// The fault's limit was reached.
    Cut,
}

/// Copies `from` to `to`, adding what it passes on to `counted`; with a limit, stops after that
/// many bytes (pausing first if asked).
async fn pump(
    mut from: impl AsyncRead + Unpin,
    mut to: impl AsyncWrite + Unpin,
    limit: Option<(u64, Option<Duration>)>,
    counted: Option<&AtomicU64>,
) -> Ended {
    let mut buffer = vec![0u8; 64 * 1024];
    let mut passed: u64 = 0;
    loop {
        let allowed = match limit {
            Some((bytes, _)) => (bytes - passed).min(buffer.len() as u64) as usize,
            None => buffer.len(),
        };
        if allowed == 0 {
            if let Some((_, Some(pause))) = limit {
                tokio::time::sleep(pause).await;
            }
            return Ended::Cut;
        }
        let n = match from.read(&mut buffer[..allowed]).await {
            Ok(0) | Err(_) => {
                // Pass the close on; the other direction stays open for the answer.
                let _ = to.shutdown().await;
                return Ended::Closed;
            }
            Ok(n) => n,
        };
        if to.write_all(&buffer[..n]).await.is_err() {
            return Ended::Cut;
        }
        passed += n as u64;
        if let Some(counted) = counted {
            counted.fetch_add(n as u64, Ordering::Relaxed);
        }
    }
}

/// Reads one request (head and `Content-Length` body) and answers it with an S3-style error.
async fn respond(client: &mut TcpStream, status: u16, code: &str) {
    let mut received = Vec::new();
    let mut buffer = [0u8; 16 * 1024];
    let head_end = loop {
        if let Some(end) = received.windows(4).position(|w| w == b"\r\n\r\n") {
            break end + 4;
        }
        match client.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(n) => received.extend_from_slice(&buffer[..n]),
        }
    };
    let head = String::from_utf8_lossy(&received[..head_end]).to_ascii_lowercase();
    let length: usize = head
        .lines()
        .find_map(|line| line.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    let mut remaining = length.saturating_sub(received.len() - head_end);
    while remaining > 0 {
        match client.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(n) => remaining = remaining.saturating_sub(n),
        }
    }
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>{code}</Code><Message>injected</Message></Error>"
    );
    let response = format!(
        "HTTP/1.1 {status} Injected\r\ncontent-type: application/xml\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = client.write_all(response.as_bytes()).await;
    let _ = client.shutdown().await;
}
