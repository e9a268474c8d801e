//! The engine against the real local stack: the presign API, the `s3s-fs` server and the stand-in
//! processor. Files go up, come back processed, and land with identical bytes under safe names.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::Recorder;
use ddn_api::ChecksumAlgorithm;
use ddn_localstack::{LocalStack, LocalStackOptions};
use ddn_testkit::s3::{self, Bucket};
use ddn_testkit::samples::write_sample_file;
use ddn_transfer::{
    ApiClient, CancellationToken, Engine, EngineOptions, ErrorKind, ResultOf, Token, TransferError,
    TransferEvent, http_client,
};

async fn start_stack(delay_ms: u64) -> LocalStack {
    LocalStack::start(LocalStackOptions {
        users: vec![("alice".into(), "alice-token".into())],
        processing_delay: Duration::from_millis(delay_ms),
        poll_interval: Duration::from_millis(20),
        ..LocalStackOptions::default()
    })
    .await
    .unwrap()
}

fn engine(stack: &LocalStack) -> Engine {
    let api = ApiClient::new(
        http_client().unwrap(),
        stack.api_url(),
        Some(Token::new("alice-token")),
    );
    Engine::new(
        api,
        EngineOptions {
            wait_initial: Duration::from_millis(50),
            wait_max_interval: Duration::from_millis(200),
            wait_limit: Duration::from_secs(30),
            ..EngineOptions::default()
        },
    )
}

/// Writes `len` pseudo-random bytes to `dir/name`.
fn write_sample(dir: &Path, name: &str, len: usize, seed: u64) -> PathBuf {
    let path = dir.join(name);
    write_sample_file(&path, len as u64, seed).unwrap();
    path
}

fn ignore(_: TransferEvent) {}

#[tokio::test]
async fn files_of_every_size_come_back_identical() {
    let stack = start_stack(50).await;
    let engine = engine(&stack);
    let source = tempfile::tempdir().unwrap();
    let results = tempfile::tempdir().unwrap();
    let cancel = CancellationToken::new();
    // Past its MD5 limit an upload is only length-checked: a second engine with a low limit makes
    // that path run without a huge file.
    let unhashed = Engine::new(
        ApiClient::new(
            http_client().unwrap(),
            stack.api_url(),
            Some(Token::new("alice-token")),
        ),
        EngineOptions {
            md5_limit: 1024 * 1024,
            ..EngineOptions::default()
        },
    );
    // 0 bytes, 1 byte, one read buffer and a bit, and above the second engine's MD5 limit.
    let cases = [
        ("empty.bin", 0),
        ("one.bin", 1),
        ("스캔 결과 #1.png", 256 * 1024 + 7),
        ("large.bin", 3 * 1024 * 1024 + 11),
    ];
    for (name, len) in cases {
        let path = write_sample(source.path(), name, len, len as u64);
        let uploader = if name == "large.bin" {
            &unhashed
        } else {
            &engine
        };
        let recorder = Recorder::default();
        let uploaded = uploader
            .upload(&path, name, &cancel, &recorder.sink())
            .await
            .unwrap();
        assert_eq!(uploaded.key, format!("users/alice/{name}"));
        assert_eq!(uploaded.size, len as u64);
        assert_eq!(uploaded.md5_checked, name != "large.bin");
        let progress = recorder.progress();
        assert_eq!(progress.last(), Some(&(len as u64, len as u64)), "{name}");
        assert!(
            progress.windows(2).all(|w| w[0].0 <= w[1].0),
            "cumulative: {progress:?}"
        );

        let recorder = Recorder::default();
        let downloaded = engine
            .wait_and_download(
                name,
                &uploaded.result_of(),
                results.path(),
                &cancel,
                &recorder.sink(),
            )
            .await
            .unwrap();
        assert_eq!(
            recorder.progress().last(),
            Some(&(len as u64, len as u64)),
            "{name}: the last download report is the whole file"
        );
        assert_eq!(downloaded.path, results.path().join(name));
        assert_eq!(downloaded.size, len as u64);
        assert_eq!(
            downloaded.checksum,
            Some(ChecksumAlgorithm::Md5),
            "single-part ETags of unencrypted objects are MD5s"
        );
        assert!(std::fs::read(&downloaded.path).unwrap() == std::fs::read(&path).unwrap());
    }
    let leftovers: Vec<_> = std::fs::read_dir(results.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".part"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    stack.stop().await;
}

#[tokio::test]
async fn an_existing_file_is_never_overwritten() {
    let stack = start_stack(20).await;
    let engine = engine(&stack);
    let source = tempfile::tempdir().unwrap();
    let results = tempfile::tempdir().unwrap();
    let cancel = CancellationToken::new();
    let path = write_sample(source.path(), "report.pdf", 1000, 1);
    let of = engine
        .upload(&path, "report.pdf", &cancel, &ignore)
        .await
        .unwrap()
        .result_of();
    std::fs::write(results.path().join("report.pdf"), b"mine").unwrap();
    std::fs::write(results.path().join("report (1).pdf"), b"mine too").unwrap();

    let first = engine
        .wait_and_download("report.pdf", &of, results.path(), &cancel, &ignore)
        .await
        .unwrap();
    let second = engine
        .download("report.pdf", &of, results.path(), &cancel, &ignore)
        .await
        .unwrap();
    assert_eq!(first.path, results.path().join("report (2).pdf"));
    assert_eq!(second.path, results.path().join("report (3).pdf"));
    assert_eq!(
        std::fs::read(results.path().join("report.pdf")).unwrap(),
        b"mine"
    );
    assert_eq!(
        std::fs::read(results.path().join("report (1).pdf")).unwrap(),
        b"mine too"
    );
    assert_eq!(
        std::fs::read(&second.path).unwrap(),
        std::fs::read(&path).unwrap()
    );
    stack.stop().await;
}

#[tokio::test]
async fn a_missing_result_fails_at_once_and_waiting_has_a_limit() {
    let stack = start_stack(60_000).await;
    let results = tempfile::tempdir().unwrap();
    let cancel = CancellationToken::new();
    let engine = engine(&stack);
    let error = engine
        .download(
            "nothing.png",
            &ResultOf::default(),
            results.path(),
            &cancel,
            &ignore,
        )
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::NotReady);

    let patient = Engine::new(
        ApiClient::new(
            http_client().unwrap(),
            stack.api_url(),
            Some(Token::new("alice-token")),
        ),
        EngineOptions {
            wait_initial: Duration::from_millis(50),
            wait_max_interval: Duration::from_millis(100),
            wait_limit: Duration::from_millis(600),
            ..EngineOptions::default()
        },
    );
    let recorder = Recorder::default();
    let started = std::time::Instant::now();
    let error = patient
        .wait_and_download(
            "nothing.png",
            &ResultOf::default(),
            results.path(),
            &cancel,
            &recorder.sink(),
        )
        .await
        .unwrap_err();
    assert!(matches!(error, TransferError::WaitTimedOut(_)), "{error:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
    let waits = recorder
        .0
        .lock()
        .unwrap()
        .iter()
        .filter(|e| matches!(e, TransferEvent::WaitingForResult { .. }))
        .count();
    assert!(waits >= 3, "{waits} looks");
    assert_eq!(std::fs::read_dir(results.path()).unwrap().count(), 0);
    stack.stop().await;
}

#[tokio::test]
async fn refusals_are_typed_and_not_retried() {
    let stack = start_stack(20).await;
    let source = tempfile::tempdir().unwrap();
    let cancel = CancellationToken::new();
    let path = write_sample(source.path(), "a.bin", 10, 3);

    let intruder = Engine::new(
        ApiClient::new(
            http_client().unwrap(),
            stack.api_url(),
            Some(Token::new("wrong")),
        ),
        EngineOptions::default(),
    );
    let started = std::time::Instant::now();
    let error = intruder
        .upload(&path, "a.bin", &cancel, &ignore)
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Unauthorized);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "an auth failure is not retried"
    );

    let error = engine(&stack)
        .upload(&path, "../escape.bin", &cancel, &ignore)
        .await
        .unwrap_err();
    match error {
        TransferError::Refused { code, message } => {
            assert_eq!(code, ddn_api::ErrorCode::InvalidKey);
            assert!(message.contains(".."), "{message}");
        }
        other => panic!("{other:?}"),
    }

    let unreachable = Engine::new(
        ApiClient::new(http_client().unwrap(), "http://127.0.0.1:9", None),
        EngineOptions {
            retry: ddn_transfer::retry::RetryPolicy {
                max_attempts: 2,
                initial_delay: Duration::from_millis(10),
                max_delay: Duration::from_millis(10),
            },
            ..EngineOptions::default()
        },
    );
    let recorder = Recorder::default();
    let error = unreachable
        .upload(&path, "a.bin", &cancel, &recorder.sink())
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Connection);
    assert!(!error.to_string().contains("127.0.0.1"), "{error}");
    let retries = recorder
        .0
        .lock()
        .unwrap()
        .iter()
        .filter(|e| matches!(e, TransferEvent::Retrying { .. }))
        .count();
    assert_eq!(retries, 1);
    stack.stop().await;
}

#[tokio::test]
async fn many_files_at_once() {
    let stack = start_stack(50).await;
    let engine = engine(&stack);
    let source = tempfile::tempdir().unwrap();
    let results = tempfile::tempdir().unwrap();
    let cancel = CancellationToken::new();
    let names: Vec<String> = (0..24).map(|i| format!("batch/file {i:02}.dat")).collect();
    let paths: Vec<PathBuf> = names
        .iter()
        .enumerate()
        .map(|(i, _)| write_sample(source.path(), &format!("{i}.dat"), 4096 + i * 100, i as u64))
        .collect();

    let uploads = names.iter().zip(&paths).map(|(name, path)| {
        let engine = engine.clone();
        let cancel = cancel.clone();
        async move { engine.upload(path, name, &cancel, &ignore).await }
    });
    let uploaded: Vec<ResultOf> = futures_util::future::join_all(uploads)
        .await
        .into_iter()
        .map(|result| result.unwrap().result_of())
        .collect();
    let downloads = names.iter().zip(&uploaded).map(|(name, of)| {
        let engine = engine.clone();
        let cancel = cancel.clone();
        let dir = results.path().to_owned();
        async move {
            engine
                .wait_and_download(name, of, &dir, &cancel, &ignore)
                .await
        }
    });
    for (result, path) in futures_util::future::join_all(downloads)
        .await
        .into_iter()
        .zip(&paths)
    {
        let downloaded = result.unwrap();
        assert!(std::fs::read(&downloaded.path).unwrap() == std::fs::read(path).unwrap());
    }
    stack.stop().await;
}

#[tokio::test]
async fn the_results_list_follows_every_page() {
    let stack = start_stack(10).await;
    // More results than one page holds, written straight into the output bucket.
    let names: Vec<String> = (0..1005).map(|i| format!("r/{i:04}.png")).collect();
    for name in &names {
        s3::put(&stack, Bucket::Output, &format!("users/alice/{name}"), b"x").await;
    }
    s3::put(&stack, Bucket::Output, "users/bob/not-yours.png", b"x").await;
    let api = ApiClient::new(
        http_client().unwrap(),
        stack.api_url(),
        Some(Token::new("alice-token")),
    );
    let first = api
        .results(&ddn_api::ResultsRequest {
            cursor: None,
            limit: Some(10),
        })
        .await
        .unwrap();
    assert_eq!(first.results.len(), 10);
    assert_eq!(first.next_cursor.as_deref(), Some("r/0009.png"));

    let all = api.all_results().await.unwrap();
    let listed: Vec<&str> = all.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(listed, names.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(
        all.iter()
            .all(|r| r.size == 1 && r.last_modified.ends_with('Z'))
    );
    stack.stop().await;
}

/// MD5 of a file, read in blocks.
fn md5_of(path: &Path) -> [u8; 16] {
    use md5::Digest as _;
    use std::io::Read as _;
    let mut file = std::fs::File::open(path).unwrap();
    let mut hasher = md5::Md5::new();
    let mut block = vec![0u8; 1024 * 1024];
    loop {
        let n = file.read(&mut block).unwrap();
        if n == 0 {
            return hasher.finalize().into();
        }
        hasher.update(&block[..n]);
    }
}

#[tokio::test]
async fn a_file_of_several_hundred_mebibytes_round_trips() {
    let stack = start_stack(50).await;
    let engine = engine(&stack);
    let source = tempfile::tempdir().unwrap();
    let results = tempfile::tempdir().unwrap();
    let path = source.path().join("scan-stack.tiff");
    let len = 300 * 1024 * 1024 + 3;
    write_sample_file(&path, len, 42).unwrap();
    let cancel = CancellationToken::new();

    let uploaded = engine
        .upload(&path, "scan-stack.tiff", &cancel, &ignore)
        .await
        .unwrap();
    assert_eq!(uploaded.size, len);
    assert!(
        uploaded.md5_checked,
        "a file this large goes multipart, each part's MD5 checked by S3"
    );
    let downloaded = engine
        .wait_and_download(
            "scan-stack.tiff",
            &uploaded.result_of(),
            results.path(),
            &cancel,
            &ignore,
        )
        .await
        .unwrap();
    assert_eq!(downloaded.size, len);
    assert_eq!(downloaded.checksum, Some(ChecksumAlgorithm::Md5));
    assert_eq!(md5_of(&downloaded.path), md5_of(&path));
    stack.stop().await;
}
