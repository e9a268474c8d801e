//! The engine on a bad network: a fault proxy sits between it and the S3 server and cuts, stalls,
//! delays or refuses connections. Every transfer ends with identical bytes, or with a clear error
//! and no file at all; never with a partial file under the final name.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::Recorder;
use ddn_localstack::fault_proxy::{Direction, Fault, FaultProxy};
use ddn_localstack::samples::sample_bytes as sample;
use ddn_localstack::{LocalStack, LocalStackOptions};
use ddn_transfer::retry::RetryPolicy;
use ddn_transfer::{
    ApiClient, CancellationToken, Engine, EngineOptions, ErrorKind, ResultOf, Token, TransferEvent,
    http_client,
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
    stack
        .s3_client()
        .put_object()
        .bucket(stack.out_bucket())
        .key(format!("users/alice/{name}"))
        .body(bytes.to_vec().into())
        .send()
        .await
        .unwrap();
}

/// A token that fires by itself after `delay`, as a user pressing Cancel mid-transfer.
fn cancel_after(delay: Duration) -> CancellationToken {
    let cancel = CancellationToken::new();
    let trigger = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(delay).await;
        trigger.cancel();
    });
    cancel
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn an_upload_survives_a_cut_and_a_slow_down() {
    let (stack, proxy) = stack_behind_proxy(Duration::from_secs(3600)).await;
    let engine = engine(&stack, Duration::from_secs(10), 4);
    let dir = tempfile::tempdir().unwrap();
    let body = sample(1024 * KIB, 1);
    let path = dir.path().join("scan.bin");
    std::fs::write(&path, &body).unwrap();
    proxy.plan([
        Fault::CutAfter {
            direction: Direction::Upstream,
            bytes: 300 * KIB as u64,
        },
        Fault::Respond {
            status: 503,
            code: "SlowDown".into(),
        },
    ]);

    let recorder = Recorder::default();
    let uploaded = engine
        .upload(
            &path,
            "scan.bin",
            &CancellationToken::new(),
            &recorder.sink(),
        )
        .await
        .unwrap();
    let reasons = recorder.retry_reasons();
    assert_eq!(reasons.len(), 2, "{reasons:?}");
    assert!(reasons[1].contains("SlowDown"), "{reasons:?}");
    assert!(proxy.connections() >= 3);

    let stored = stack
        .s3_client()
        .get_object()
        .bucket(stack.in_bucket())
        .key(&uploaded.key)
        .send()
        .await
        .unwrap();
    let stored = stored.body.collect().await.unwrap().into_bytes();
    assert!(stored[..] == body[..], "the stored object differs");
}

#[tokio::test]
async fn a_cut_download_resumes_where_it_stopped() {
    let (stack, proxy) = stack_behind_proxy(Duration::from_secs(3600)).await;
    let engine = engine(&stack, Duration::from_secs(10), 4);
    let body = sample(2048 * KIB, 2);
    put_result(&stack, "photo.raw", &body).await;
    proxy.plan([Fault::CutAfter {
        direction: Direction::Downstream,
        bytes: 700 * KIB as u64,
    }]);

    let results = tempfile::tempdir().unwrap();
    let recorder = Recorder::default();
    let downloaded = engine
        .download(
            "photo.raw",
            &ResultOf::default(),
            results.path(),
            &CancellationToken::new(),
            &recorder.sink(),
        )
        .await
        .unwrap();
    assert_eq!(recorder.retry_reasons().len(), 1);
    assert!(std::fs::read(&downloaded.path).unwrap() == body);
    assert_eq!(downloaded.checksum, Some(ddn_api::ChecksumAlgorithm::Md5));
    // Resumed, not restarted: the cumulative count never went back.
    let progress = recorder.progress();
    assert!(progress.windows(2).all(|w| w[0] <= w[1]), "{progress:?}");
    assert_eq!(files_in(results.path()), ["photo.raw"]);
}

#[tokio::test]
async fn a_stall_is_detected_and_retried() {
    let (stack, proxy) = stack_behind_proxy(Duration::from_secs(3600)).await;
    let engine = engine(&stack, Duration::from_millis(400), 4);
    let body = sample(512 * KIB, 3);
    put_result(&stack, "stalled.bin", &body).await;
    proxy.plan([Fault::StallAfter {
        direction: Direction::Downstream,
        bytes: 100 * KIB as u64,
        pause: Duration::from_secs(60),
    }]);

    let results = tempfile::tempdir().unwrap();
    let recorder = Recorder::default();
    let started = Instant::now();
    let downloaded = engine
        .download(
            "stalled.bin",
            &ResultOf::default(),
            results.path(),
            &CancellationToken::new(),
            &recorder.sink(),
        )
        .await
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(std::fs::read(&downloaded.path).unwrap() == body);
    let reasons = recorder.retry_reasons();
    assert_eq!(reasons.len(), 1);
    assert!(reasons[0].contains("stalled"), "{reasons:?}");
}

#[tokio::test]
async fn a_delayed_connection_still_completes() {
    let (stack, proxy) = stack_behind_proxy(Duration::from_secs(3600)).await;
    let engine = engine(&stack, Duration::from_secs(10), 2);
    let body = sample(64 * KIB, 4);
    put_result(&stack, "slow.bin", &body).await;
    proxy.plan([Fault::Delay(Duration::from_millis(500))]);
    let results = tempfile::tempdir().unwrap();
    let recorder = Recorder::default();
    let downloaded = engine
        .download(
            "slow.bin",
            &ResultOf::default(),
            results.path(),
            &CancellationToken::new(),
            &recorder.sink(),
        )
        .await
        .unwrap();
    assert!(std::fs::read(&downloaded.path).unwrap() == body);
    assert!(recorder.retry_reasons().is_empty());
}

#[tokio::test]
async fn an_expired_url_is_replaced_by_a_fresh_one() {
    // URLs live one second; the first connection reaches S3 after two.
    let (stack, proxy) = stack_behind_proxy(Duration::from_secs(1)).await;
    let engine = engine(&stack, Duration::from_secs(10), 3);
    let body = sample(32 * KIB, 5);
    put_result(&stack, "late.bin", &body).await;
    proxy.plan([Fault::Delay(Duration::from_millis(2100))]);
    let results = tempfile::tempdir().unwrap();
    let recorder = Recorder::default();
    let downloaded = engine
        .download(
            "late.bin",
            &ResultOf::default(),
            results.path(),
            &CancellationToken::new(),
            &recorder.sink(),
        )
        .await
        .unwrap();
    assert!(std::fs::read(&downloaded.path).unwrap() == body);
    let reasons = recorder.retry_reasons();
    assert_eq!(reasons.len(), 1);
    assert!(reasons[0].contains("403"), "{reasons:?}");
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
    let stored = stack
        .s3_client()
        .head_object()
        .bucket(stack.in_bucket())
        .key("users/alice/draft.bin")
        .send()
        .await;
    assert!(stored.is_err(), "a cancelled upload must not be stored");
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
    let client = stack.s3_client().clone();
    let bucket = stack.out_bucket().to_owned();
    let replacement = new.clone();
    let replaced = Arc::new(Mutex::new(false));
    let flag = Arc::clone(&replaced);
    let sink = move |event: TransferEvent| {
        if matches!(event, TransferEvent::Retrying { .. }) && !*flag.lock().unwrap() {
            let put = client
                .put_object()
                .bucket(&bucket)
                .key("users/alice/redo.bin")
                .body(replacement.clone().into())
                .send();
            let stored = tokio::task::block_in_place(|| {
                tokio::runtime::Handle::current().block_on(put).is_ok()
            });
            assert!(stored, "the replacement was stored");
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
