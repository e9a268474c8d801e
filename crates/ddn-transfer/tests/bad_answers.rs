//! Servers that answer badly: an S3 error body or a presign answer that stops half way, one of
//! 100 MiB, a results list whose cursor never moves. Each ends the call with a clear error, within
//! the stall timeout, promptly on cancel, and without reading more than a small cap.
//!
//! The bad servers answer raw bytes written here (on the shared loopback accept loop), since no
//! real server misbehaves on demand; everything else (the engine, reqwest, hyper) is the real
//! thing.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::cancel_after;
use ddn_api::{HttpMethod, PresignRequest, PresignResponse, ResultsRequest, TransferMode};
use ddn_testkit::http::{StatusCode, TestServer, response};
use ddn_testkit::loopback;
use ddn_transfer::retry::RetryPolicy;
use ddn_transfer::{
    ApiClient, CancellationToken, Engine, EngineOptions, ResultOf, TransferError, http_client,
};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

const MIB: u64 = 1024 * 1024;

/// What the bad server sends after its status line and headers.
#[derive(Clone)]
enum Body {
    /// These bytes, then nothing more while the connection stays open.
    StallAfter(&'static [u8]),
    /// `len` bytes: `start`, then filler, as fast as the client takes them.
    Huge { start: &'static [u8], len: u64 },
}

/// How a bad server's answer went: the body bytes it wrote, and whether the client closed the
/// connection before the body's end.
#[derive(Debug)]
struct Served {
    written: u64,
    closed_early: bool,
}

/// A raw HTTP/1.1 server on loopback answering every request with `status` and `body` (its
/// `Content-Length` the full length). Answers its address and a channel of how each answer went.
async fn bad_server(status: &'static str, body: Body) -> (String, mpsc::UnboundedReceiver<Served>) {
    let listener = loopback::bind(0).await.unwrap();
    let address = listener.local_addr().unwrap();
    let (served, outcomes) = mpsc::unbounded_channel();
    tokio::spawn(loopback::accept_loop(
        listener,
        std::future::pending(),
        move |stream| {
            let body = body.clone();
            let served = served.clone();
            tokio::spawn(async move {
                if let Some(outcome) = answer(stream, status, body).await {
                    let _ = served.send(outcome);
                }
            });
        },
    ));
    (format!("http://{address}"), outcomes)
}

async fn answer(mut stream: TcpStream, status: &str, body: Body) -> Option<Served> {
    read_request(&mut stream).await?;
    let len = match &body {
        Body::StallAfter(_) => 1000,
        Body::Huge { len, .. } => *len,
    };
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/xml\r\nContent-Length: {len}\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.ok()?;
    match body {
        Body::StallAfter(start) => {
            stream.write_all(start).await.ok()?;
            // Hold the connection open, silent, until the client gives up on it.
            let mut rest = [0u8; 1];
            let _ = stream.read(&mut rest).await;
            Some(Served {
                written: start.len() as u64,
                closed_early: true,
            })
        }
        Body::Huge { start, len } => {
            let filler = vec![b' '; 64 * 1024];
            let mut written = 0;
            if stream.write_all(start).await.is_err() {
                return Some(Served {
                    written,
                    closed_early: true,
                });
            }
            written += start.len() as u64;
            while written < len {
                let n = filler.len().min((len - written) as usize);
                if stream.write_all(&filler[..n]).await.is_err() {
                    return Some(Served {
                        written,
                        closed_early: true,
                    });
                }
                written += n as u64;
            }
            Some(Served {
                written,
                closed_early: false,
            })
        }
    }
}

/// Reads one request: its head, then as many body bytes as its `Content-Length` says.
async fn read_request(stream: &mut TcpStream) -> Option<()> {
    let mut received = Vec::new();
    let mut buffer = [0u8; 64 * 1024];
    let head_end = loop {
        let n = stream.read(&mut buffer).await.ok()?;
        if n == 0 {
            return None;
        }
        received.extend_from_slice(&buffer[..n]);
        if let Some(end) = received.windows(4).position(|w| w == b"\r\n\r\n") {
            break end + 4;
        }
    };
    let head = String::from_utf8_lossy(&received[..head_end]).to_ascii_lowercase();
    let length: usize = head
        .lines()
        .find_map(|line| line.strip_prefix("content-length:"))
        .map_or(0, |value| value.trim().parse().unwrap());
    let mut body = received.len() - head_end;
    while body < length {
        let n = stream.read(&mut buffer).await.ok()?;
        if n == 0 {
            return None;
        }
        body += n;
    }
    Some(())
}

/// A presign API that answers every request with `url`. The engine sends a `PUT` or a `GET` to it
/// whatever `method` says, so one answer serves uploads and downloads.
async fn presign_api(url: &str) -> String {
    let answer = PresignResponse {
        url: url.to_owned(),
        method: HttpMethod::Put,
        key: "users/alice/scan.bin".into(),
        headers: BTreeMap::new(),
        expires_at: "2099-01-01T00:00:00Z".into(),
        size: Some(10),
        etag: None,
        upload_id: None,
        checksum: None,
    };
    json_api(move |_| serde_json::to_string(&answer).unwrap()).await
}

/// An API over real HTTP whose every answer is `200` with the JSON `answer(query)` makes.
async fn json_api(answer: impl Fn(&str) -> String + Send + Sync + 'static) -> String {
    TestServer::start(move |request| {
        let body = answer(request.uri().query().unwrap_or_default());
        async move { response(StatusCode::OK, body) }
    })
    .await
    .unwrap()
    .detach()
}

fn engine(api_url: &str, stall_timeout: Duration) -> Engine {
    Engine::new(
        ApiClient::new(http_client().unwrap(), api_url, None),
        EngineOptions {
            retry: RetryPolicy {
                max_attempts: 1,
                ..RetryPolicy::default()
            },
            stall_timeout,
            ..EngineOptions::default()
        },
    )
}

/// Runs an upload of a small file and a download through `engine`, each with its own token from
/// `cancel`; answers each one's error and how long it took.
async fn upload_and_download(
    engine: &Engine,
    cancel: impl Fn() -> CancellationToken,
) -> [(TransferError, Duration); 2] {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("scan.bin");
    std::fs::write(&path, b"0123456789").unwrap();
    // A bound of our own, so a transfer that hangs fails the test instead of hanging it.
    let bound = Duration::from_secs(20);
    let started = Instant::now();
    let upload = tokio::time::timeout(bound, engine.upload(&path, "scan.bin", &cancel(), &|_| {}))
        .await
        .expect("the upload ends")
        .unwrap_err();
    let upload_took = started.elapsed();
    let started = Instant::now();
    let out = dir.path().join("out");
    let download = tokio::time::timeout(
        bound,
        engine.download("scan.bin", &ResultOf::default(), &out, &cancel(), &|_| {}),
    )
    .await
    .expect("the download ends")
    .unwrap_err();
    let download_took = started.elapsed();
    // A failed download leaves nothing behind, not even its part file.
    assert_eq!(
        std::fs::read_dir(dir.path().join("out")).unwrap().count(),
        0
    );
    [(upload, upload_took), (download, download_took)]
}

/// An engine whose every URL, for an upload or a download, leads to a server answering `status`
/// and `body`.
async fn engine_towards(
    status: &'static str,
    body: Body,
    stall_timeout: Duration,
) -> (Engine, mpsc::UnboundedReceiver<Served>) {
    let (s3, served) = bad_server(status, body).await;
    let engine = engine(&presign_api(&s3).await, stall_timeout);
    (engine, served)
}

#[tokio::test]
async fn an_s3_error_body_that_stops_ends_as_a_stall() {
    let stall = Duration::from_millis(300);
    let (engine, _) = engine_towards(
        "503 Service Unavailable",
        Body::StallAfter(b"<Error><Code>Slow"),
        stall,
    )
    .await;
    for (error, took) in upload_and_download(&engine, CancellationToken::new).await {
        assert!(
            matches!(error, TransferError::Stalled(s) if s == stall),
            "{error:?}"
        );
        assert!(took >= stall && took < Duration::from_secs(5), "{took:?}");
    }
}

#[tokio::test]
async fn a_huge_s3_error_body_is_not_read_whole() {
    let (engine, mut served) = engine_towards(
        "503 Service Unavailable",
        Body::Huge {
            start: b"<?xml version=\"1.0\"?><Error><Code>SlowDown</Code>",
            len: 100 * MIB,
        },
        Duration::from_secs(30),
    )
    .await;
    for (error, took) in upload_and_download(&engine, CancellationToken::new).await {
        // The start of the body still gives S3's code.
        assert!(
            matches!(&error, TransferError::Storage { status: 503, code: Some(c) } if c == "SlowDown"),
            "{error:?}"
        );
        assert!(took < Duration::from_secs(5), "{took:?}");
    }
    for _ in 0..2 {
        let outcome = tokio::time::timeout(Duration::from_secs(10), served.recv())
            .await
            .expect("the client closed the connection")
            .unwrap();
        // What the kernel's socket buffers took, not the 100 MiB.
        assert!(
            outcome.closed_early && outcome.written < 32 * MIB,
            "{outcome:?}"
        );
    }
}

#[tokio::test]
async fn cancelling_during_a_stalled_s3_error_body_is_prompt() {
    let (engine, _) = engine_towards(
        "500 Internal Server Error",
        Body::StallAfter(b"<Error>"),
        Duration::from_secs(120),
    )
    .await;
    let cancel_soon = || cancel_after(Duration::from_millis(300));
    for (error, took) in upload_and_download(&engine, cancel_soon).await {
        assert!(matches!(error, TransferError::Cancelled), "{error:?}");
        assert!(took < Duration::from_secs(3), "{took:?}");
    }
}

fn download_request() -> PresignRequest {
    PresignRequest {
        file: "scan.bin".into(),
        mode: TransferMode::Download,
        ..PresignRequest::default()
    }
}

fn first_page() -> ResultsRequest {
    ResultsRequest {
        cursor: None,
        limit: Some(1000),
    }
}

#[tokio::test]
async fn an_api_answer_that_stops_ends_as_a_stall() {
    let stall = Duration::from_millis(300);
    for status in ["200 OK", "404 Not Found"] {
        let (api_url, _) = bad_server(status, Body::StallAfter(b"{\"url\":\"http")).await;
        let api = ApiClient::new(http_client().unwrap(), &api_url, None).with_stall_timeout(stall);
        let started = Instant::now();
        let error = api.presign(&download_request()).await.unwrap_err();
        assert!(
            matches!(error, TransferError::Stalled(s) if s == stall),
            "{error:?}"
        );
        let error = api.results(&first_page()).await.unwrap_err();
        assert!(matches!(error, TransferError::Stalled(_)), "{error:?}");
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}

#[tokio::test]
async fn a_huge_api_answer_is_refused_without_reading_it_whole() {
    let (api_url, mut served) = bad_server(
        "200 OK",
        Body::Huge {
            start: b"{\"results\":[",
            len: 100 * MIB,
        },
    )
    .await;
    let api = ApiClient::new(http_client().unwrap(), &api_url, None);
    let error = api.presign(&download_request()).await.unwrap_err();
    assert!(matches!(error, TransferError::Service(200)), "{error:?}");
    let error = api.all_results().await.unwrap_err();
    assert!(matches!(error, TransferError::Service(200)), "{error:?}");
    for _ in 0..2 {
        let outcome = tokio::time::timeout(Duration::from_secs(10), served.recv())
            .await
            .expect("the client closed the connection")
            .unwrap();
        // The results cap (8 MiB) and the socket buffers, not the 100 MiB.
        assert!(
            outcome.closed_early && outcome.written < 40 * MIB,
            "{outcome:?}"
        );
    }
}

#[tokio::test]
async fn cancelling_during_a_stalled_api_answer_is_prompt() {
    let (api_url, _) = bad_server("200 OK", Body::StallAfter(b"{")).await;
    let api = ApiClient::new(http_client().unwrap(), &api_url, None)
        .with_stall_timeout(Duration::from_secs(120));
    let started = Instant::now();
    let cancel = cancel_after(Duration::from_millis(300));
    let error = api
        .presign_cancellable(&download_request(), &cancel)
        .await
        .unwrap_err();
    assert!(matches!(error, TransferError::Cancelled), "{error:?}");
    let cancel = cancel_after(Duration::from_millis(300));
    let error = api.all_results_cancellable(&cancel).await.unwrap_err();
    assert!(matches!(error, TransferError::Cancelled), "{error:?}");
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn a_results_cursor_that_does_not_move_forward_stops_the_listing() {
    // The same cursor forever, and a cursor that goes back to an earlier name.
    let cases: [fn(&str) -> &'static str; 2] = [
        |_| "m.png",
        |query| {
            if query.contains("cursor") {
                "c.png"
            } else {
                "m.png"
            }
        },
    ];
    for next_cursor in cases {
        let requests = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&requests);
        let api_url = json_api(move |query| {
            counter.fetch_add(1, Ordering::Relaxed);
            serde_json::json!({
                "results": [{"name": "a.png", "size": 1, "lastModified": "2026-01-01T00:00:00Z"}],
                "nextCursor": next_cursor(query),
            })
            .to_string()
        })
        .await;
        let api = ApiClient::new(http_client().unwrap(), &api_url, None);
        let error = tokio::time::timeout(Duration::from_secs(10), api.all_results())
            .await
            .expect("the listing ends")
            .unwrap_err();
        assert!(
            matches!(&error, TransferError::Refused { message, .. } if message.contains("does not move forward")),
            "{error:?}"
        );
        assert_eq!(requests.load(Ordering::Relaxed), 2);
    }
}
