//! The engine on a bad network: a fault proxy sits between it and the S3 server and cuts, stalls,
//! delays or refuses connections. Every transfer ends with identical bytes, or with a clear error
//! and no file at all; never with a partial file under the final name.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Recorder, cancel_after};
use ddn_api::ChecksumAlgorithm;
use ddn_localstack::{LocalStack, LocalStackOptions};
use ddn_testkit::fault_proxy::{Direction, Fault, FaultProxy};
use ddn_testkit::s3::{self, Bucket};
use ddn_testkit::samples::sample_bytes as sample;
use ddn_transfer::retry::RetryPolicy;
use ddn_transfer::{
    ApiClient, CancellationToken, Downloaded, Engine, EngineOptions, ErrorKind, ResultOf, Token,
    TransferEvent, http_client,
};

const KIB: usize = 1024;

/// A stack whose presigned URLs point at the proxy, and the proxy in front of its S3 server.
async fn stack_behind_proxy(url_ttl: Duration) -> (LocalStack, FaultProxy) {
    let proxy = FaultProxy::start().await.unwrap();
    let stack = LocalStack::start(LocalStackOptions {
        users: vec![("alice".into(), "alice-token".into())],
        processing_delay: Duration::from_secs(3600),
        s3_public_url: Some(proxy.url()),
        url_ttl,
        ..LocalStackOptions::default()
    })
    .await
    .unwrap();
    proxy.set_upstream(stack.s3_url());
    (stack, proxy)
}

fn engine(stack: &LocalStack, stall_timeout: Duration, max_attempts: u32) -> Engine {
    Engine::new(
        ApiClient::new(
            http_client().unwrap(),
            stack.api_url(),
            Some(Token::new("alice-token")),
        ),
        EngineOptions {
            retry: RetryPolicy {
                max_attempts,
                initial_delay: Duration::from_millis(20),
                max_delay: Duration::from_millis(50),
            },
            stall_timeout,
            ..EngineOptions::default()
        },
    )
}

/// Stores a processed result directly (not through the proxy).
async fn put_result(stack: &LocalStack, name: &str, bytes: &[u8]) {
    s3::put(stack, Bucket::Output, &format!("users/alice/{name}"), bytes).await;
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

/// Which way a [`Case`]'s bytes go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Transfer {
    /// A file of the case's name is uploaded.
    Upload,
    /// A result of the case's name is stored, then downloaded.
    Download,
}

/// One transfer through the fault proxy that must get through: what is sent, what the network
/// does to it, and which failures the engine must retry on the way (their kinds, in order).
struct Case {
    transfer: Transfer,
    name: &'static str,
    /// The data's size, in KiB, and the seed it is made from.
    kib: usize,
    seed: u64,
    /// What the proxy does to the first connections, one fault each, in order.
    faults: Vec<Fault>,
    /// The kind of each `Retrying` event the transfer reports, in order.
    retried: &'static [ErrorKind],
    /// How long presigned URLs live.
    url_ttl: Duration,
    stall_timeout: Duration,
    max_attempts: u32,
}

impl Default for Case {
    fn default() -> Self {
        Self {
            transfer: Transfer::Download,
            name: "file.bin",
            kib: 64,
            seed: 0,
            faults: Vec::new(),
            retried: &[],
            url_ttl: Duration::from_secs(3600),
            stall_timeout: Duration::from_secs(10),
            max_attempts: 4,
        }
    }
}

/// How a [`Case`] went, for the checks particular to it.
struct Run {
    proxy: FaultProxy,
    /// The download, for a download.
    downloaded: Option<Downloaded>,
    took: Duration,
}

/// Runs `case` and checks what every case must end with: the bytes arrive identical (in the
/// input bucket, or as the only file in the results folder, the cumulative count never going
/// back), after exactly the retries the case expects.
async fn check(case: Case) -> Run {
    let name = case.name;
    let (stack, proxy) = stack_behind_proxy(case.url_ttl).await;
    let engine = engine(&stack, case.stall_timeout, case.max_attempts);
    let body = sample(case.kib * KIB, case.seed);
    let dir = tempfile::tempdir().unwrap();
    let recorder = Recorder::default();
    let cancel = CancellationToken::new();
    let mut downloaded = None;
    let started = Instant::now();
    match case.transfer {
        Transfer::Upload => {
            let path = dir.path().join(name);
            std::fs::write(&path, &body).unwrap();
            proxy.plan(case.faults);
            let uploaded = engine
                .upload(&path, name, &cancel, &recorder.sink())
                .await
                .unwrap();
            let stored = s3::get_bytes(&stack, Bucket::Input, &uploaded.key).await;
            assert!(stored == Some(body), "{name}: the stored object differs");
        }
        Transfer::Download => {
            put_result(&stack, name, &body).await;
            proxy.plan(case.faults);
            let download = engine
                .download(
                    name,
                    &ResultOf::default(),
                    dir.path(),
                    &cancel,
                    &recorder.sink(),
                )
                .await
                .unwrap();
            assert!(
                std::fs::read(&download.path).unwrap() == body,
                "{name}: the downloaded bytes differ"
            );
            assert_eq!(files_in(dir.path()), [name]);
            // Resumed, not restarted: the cumulative count never went back.
            let progress = recorder.progress();
            assert!(progress.windows(2).all(|w| w[0] <= w[1]), "{progress:?}");
            downloaded = Some(download);
        }
    }
    let took = started.elapsed();
    assert_eq!(recorder.retry_kinds(), case.retried, "{name}");
    Run {
        proxy,
        downloaded,
        took,
    }
}

#[tokio::test]
async fn an_upload_survives_a_cut_and_a_slow_down() {
    let run = check(Case {
        transfer: Transfer::Upload,
        name: "scan.bin",
        kib: 1024,
        seed: 1,
        faults: vec![
            Fault::CutAfter {
                direction: Direction::Upstream,
                bytes: 300 * KIB as u64,
            },
            Fault::Respond {
                status: 503,
                code: "SlowDown".into(),
            },
        ],
        retried: &[ErrorKind::Connection, ErrorKind::Storage],
        ..Case::default()
    })
    .await;
    assert!(run.proxy.connections() >= 3);
}

#[tokio::test]
async fn a_cut_download_resumes_where_it_stopped() {
    let run = check(Case {
        name: "photo.raw",
        kib: 2048,
        seed: 2,
        faults: vec![Fault::CutAfter {
            direction: Direction::Downstream,
            bytes: 700 * KIB as u64,
        }],
        retried: &[ErrorKind::Connection],
        ..Case::default()
    })
    .await;
    let downloaded = run.downloaded.unwrap();
    assert_eq!(downloaded.checksum, Some(ChecksumAlgorithm::Md5));
}

#[tokio::test]
async fn a_stall_is_detected_and_retried() {
    let run = check(Case {
        name: "stalled.bin",
        kib: 512,
        seed: 3,
        faults: vec![Fault::StallAfter {
            direction: Direction::Downstream,
            bytes: 100 * KIB as u64,
            pause: Duration::from_secs(60),
        }],
        retried: &[ErrorKind::Stalled],
        stall_timeout: Duration::from_millis(400),
        ..Case::default()
    })
    .await;
    assert!(run.took < Duration::from_secs(10), "{:?}", run.took);
}

#[tokio::test]
async fn a_delayed_connection_still_completes() {
    check(Case {
        name: "slow.bin",
        kib: 64,
        seed: 4,
        faults: vec![Fault::Delay(Duration::from_millis(500))],
        retried: &[],
        max_attempts: 2,
        ..Case::default()
    })
    .await;
}

#[tokio::test]
async fn an_expired_url_is_replaced_by_a_fresh_one() {
    // URLs live one second; the first connection reaches S3 after two, and S3 refuses it.
    check(Case {
        name: "late.bin",
        kib: 32,
        seed: 5,
        faults: vec![Fault::Delay(Duration::from_millis(2100))],
        retried: &[ErrorKind::Storage],
        url_ttl: Duration::from_secs(1),
        max_attempts: 3,
        ..Case::default()
    })
    .await;
}

#[tokio::test]
async fn endless_failures_end_in_a_clear_error_and_no_file() {
    let (stack, proxy) = stack_behind_proxy(Duration::from_secs(3600)).await;
    let engine = engine(&stack, Duration::from_secs(10), 3);
    let body = sample(512 * KIB, 6);
    put_result(&stack, "doomed.bin", &body).await;
    proxy.plan(std::iter::repeat_n(
        Fault::CutAfter {
            direction: Direction::Downstream,
            bytes: 50 * KIB as u64,
        },
        10,
    ));
    let results = tempfile::tempdir().unwrap();
    let error = engine
        .download(
            "doomed.bin",
            &ResultOf::default(),
            results.path(),
            &CancellationToken::new(),
            &|_| {},
        )
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Connection, "{error:?}");
    assert_eq!(
        error.to_string(),
        "The connection failed. Check the network and try again."
    );
    assert!(
        files_in(results.path()).is_empty(),
        "{:?}",
        files_in(results.path())
    );
}

#[tokio::test]
async fn cancelling_a_download_leaves_nothing_behind() {
    let (stack, proxy) = stack_behind_proxy(Duration::from_secs(3600)).await;
    let engine = engine(&stack, Duration::from_secs(60), 3);
    put_result(&stack, "big.bin", &sample(1024 * KIB, 7)).await;
    proxy.plan([Fault::StallAfter {
        direction: Direction::Downstream,
        bytes: 200 * KIB as u64,
        pause: Duration::from_secs(60),
    }]);
    let results = tempfile::tempdir().unwrap();
    // Cancelled once the first bytes are reported: the download is then held mid-way by the
    // stall, so this needs no guess at how long the first bytes take.
    let cancel = CancellationToken::new();
    let recorder = Recorder::default();
    let record = recorder.sink();
    let trigger = cancel.clone();
    let sink = move |event: TransferEvent| {
        if matches!(&event, TransferEvent::Progress(progress) if progress.transferred > 0) {
            trigger.cancel();
        }
        record(event);
    };
    let error = engine
        .download(
            "big.bin",
            &ResultOf::default(),
            results.path(),
            &cancel,
            &sink,
        )
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Cancelled, "{error:?}");
    assert!(
        recorder.progress().iter().any(|&(n, _)| n > 0),
        "cancelled mid-transfer"
    );
    assert!(
        files_in(results.path()).is_empty(),
        "{:?}",
        files_in(results.path())
    );
}

#[tokio::test]
async fn cancelling_an_upload_stores_nothing() {
    let (stack, proxy) = stack_behind_proxy(Duration::from_secs(3600)).await;
    let engine = engine(&stack, Duration::from_secs(60), 3);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("draft.bin");
    std::fs::write(&path, sample(1024 * KIB, 8)).unwrap();
    proxy.plan([Fault::StallAfter {
        direction: Direction::Upstream,
        bytes: 300 * KIB as u64,
        pause: Duration::from_secs(60),
    }]);
    let cancel = cancel_after(Duration::from_millis(500));
    let error = engine
        .upload(&path, "draft.bin", &cancel, &|_| {})
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Cancelled);
    let stored = s3::get(&stack, Bucket::Input, "users/alice/draft.bin").await;
    assert!(stored.is_none(), "a cancelled upload must not be stored");
    assert!(path.exists(), "the source file is untouched");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_result_replaced_mid_download_is_fetched_anew() {
    let (stack, proxy) = stack_behind_proxy(Duration::from_secs(3600)).await;
    let engine = engine(&stack, Duration::from_secs(10), 4);
    let old = sample(512 * KIB, 9);
    let new = sample(300 * KIB, 10);
    put_result(&stack, "redo.bin", &old).await;
    proxy.plan([Fault::CutAfter {
        direction: Direction::Downstream,
        bytes: 200 * KIB as u64,
    }]);

    // When the first attempt fails, the processor "re-processes" the file.
    let replaced = Arc::new(Mutex::new(false));
    let flag = Arc::clone(&replaced);
    let stack_for_sink = &stack;
    let replacement = &new;
    let sink = move |event: TransferEvent| {
        if matches!(event, TransferEvent::Retrying { .. }) && !*flag.lock().unwrap() {
            tokio::task::block_in_place(|| {
                tokio::runtime::Handle::current().block_on(put_result(
                    stack_for_sink,
                    "redo.bin",
                    replacement,
                ));
            });
            *flag.lock().unwrap() = true;
        }
    };
    let results = tempfile::tempdir().unwrap();
    let downloaded = engine
        .download(
            "redo.bin",
            &ResultOf::default(),
            results.path(),
            &CancellationToken::new(),
            &sink,
        )
        .await
        .unwrap();
    assert!(*replaced.lock().unwrap());
    assert_eq!(downloaded.size, new.len() as u64);
    assert!(
        std::fs::read(&downloaded.path).unwrap() == new,
        "the new version, whole"
    );
    assert_eq!(files_in(results.path()), ["redo.bin"]);
}
