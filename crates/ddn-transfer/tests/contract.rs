//! The processing contract from the client's side, against the real local stack: a wait for an
//! upload's result gets that upload's result (never one an earlier upload of the name left), ends
//! at once when the processor gives up on it, and checks a download against the checksum the
//! service names, not against an ETag that may not be an MD5.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{Recorder, fake_api};
use ddn_api::{Checksum, ChecksumAlgorithm, HttpMethod, PresignResponse, processing};
use ddn_localstack::{LocalStack, LocalStackOptions};
use ddn_testkit::s3::{self, Bucket};
use ddn_transfer::retry::RetryPolicy;
use ddn_transfer::{
    ApiClient, CancellationToken, Engine, EngineOptions, ResultOf, Token, TransferError,
    TransferEvent, http_client,
};

async fn start_stack(delay: Duration, fail_matching: Option<&str>) -> LocalStack {
    LocalStack::start(LocalStackOptions {
        users: vec![("alice".into(), "alice-token".into())],
        processing_delay: delay,
        poll_interval: Duration::from_millis(20),
        fail_matching: fail_matching.map(|pattern| pattern.parse().unwrap()),
        ..LocalStackOptions::default()
    })
    .await
    .unwrap()
}

fn engine(api_url: &str, wait_limit: Duration) -> Engine {
    Engine::new(
        ApiClient::new(
            http_client().unwrap(),
            api_url,
            Some(Token::new("alice-token")),
        ),
        EngineOptions {
            wait_initial: Duration::from_millis(50),
            wait_max_interval: Duration::from_millis(200),
            wait_limit,
            retry: RetryPolicy {
                max_attempts: 2,
                initial_delay: Duration::from_millis(10),
                max_delay: Duration::from_millis(20),
            },
            ..EngineOptions::default()
        },
    )
}

fn waits(recorder: &Recorder) -> usize {
    recorder
        .0
        .lock()
        .unwrap()
        .iter()
        .filter(|event| matches!(event, TransferEvent::WaitingForResult { .. }))
        .count()
}

/// The bug this contract fixes: with a processor that takes two seconds, the second upload of a
/// name was answered at once with the first upload's result.
#[tokio::test]
async fn a_second_upload_of_a_name_waits_for_its_own_result() {
    let stack = start_stack(Duration::from_secs(2), None).await;
    let engine = engine(stack.api_url(), Duration::from_secs(60));
    let source = tempfile::tempdir().unwrap();
    let results = tempfile::tempdir().unwrap();
    let path = source.path().join("scan.png");
    let cancel = CancellationToken::new();

    // Version A, and its result.
    std::fs::write(&path, b"version A of the scan").unwrap();
    let first = engine
        .upload(&path, "scan.png", &cancel, &|_| {})
        .await
        .unwrap();
    assert!(first.upload_id.is_some() && first.uploaded_at.is_some());
    let a = engine
        .wait_and_download(
            "scan.png",
            &first.result_of(),
            results.path(),
            &cancel,
            &|_| {},
        )
        .await
        .unwrap();
    assert_eq!(std::fs::read(&a.path).unwrap(), b"version A of the scan");

    // Version B, of the same size, while A's result is still stored under the name.
    std::fs::write(&path, b"version B of the scan").unwrap();
    let second = engine
        .upload(&path, "scan.png", &cancel, &|_| {})
        .await
        .unwrap();
    assert_ne!(second.upload_id, first.upload_id);
    let recorder = Recorder::default();
    let b = engine
        .wait_and_download(
            "scan.png",
            &second.result_of(),
            results.path(),
            &cancel,
            &recorder.sink(),
        )
        .await
        .unwrap();
    assert_eq!(std::fs::read(&b.path).unwrap(), b"version B of the scan");
    assert!(
        waits(&recorder) >= 3,
        "B's result takes the processor two seconds; A's was there at once"
    );
    stack.stop().await;
}

#[tokio::test]
async fn a_failed_processing_ends_the_wait_at_once_with_the_processors_reason() {
    let stack = start_stack(Duration::from_millis(100), Some("*.bad")).await;
    let engine = engine(stack.api_url(), Duration::from_secs(600));
    let source = tempfile::tempdir().unwrap();
    let results = tempfile::tempdir().unwrap();
    let path = source.path().join("photo.bad");
    std::fs::write(&path, b"unreadable").unwrap();
    let cancel = CancellationToken::new();
    let uploaded = engine
        .upload(&path, "photo.bad", &cancel, &|_| {})
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let error = engine
        .wait_and_download(
            "photo.bad",
            &uploaded.result_of(),
            results.path(),
            &cancel,
            &|_| {},
        )
        .await
        .unwrap_err();
    let TransferError::ProcessingFailed(reason) = &error else {
        panic!("{error:?}");
    };
    assert!(reason.contains("*.bad"), "{reason}");
    assert_eq!(
        error.to_string(),
        format!("The file could not be processed: {reason}")
    );
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "the wait ended at the marker, not at its limit"
    );
    assert_eq!(std::fs::read_dir(results.path()).unwrap().count(), 0);

    // The same name uploaded again with a processor that succeeds is not held back by the
    // marker of the failed upload.
    let input = s3::get(&stack, Bucket::Input, "users/alice/photo.bad")
        .await
        .unwrap();
    assert_eq!(
        input.metadata.get(processing::UPLOAD_ID_META).cloned(),
        uploaded.upload_id,
        "S3 stored the signed upload id on the input"
    );
    stack.stop().await;
}

/// A processor that writes its result without copying the upload id: the result is taken when it
/// was written no earlier than the upload, and one written before is not.
#[tokio::test]
async fn results_without_an_upload_id_are_matched_by_when_they_were_written() {
    // A processor too slow to matter: the test writes the results itself, as such a processor.
    let stack = start_stack(Duration::from_secs(3600), None).await;
    let engine = engine(stack.api_url(), Duration::from_millis(1500));
    let source = tempfile::tempdir().unwrap();
    let results = tempfile::tempdir().unwrap();
    let path = source.path().join("plain.txt");
    std::fs::write(&path, b"input").unwrap();
    let cancel = CancellationToken::new();
    let put_result = async |body: &'static [u8]| {
        s3::put(&stack, Bucket::Output, "users/alice/plain.txt", body).await
    };

    // A result written before the upload, a whole second earlier (S3 dates have seconds).
    put_result(b"stale result").await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let uploaded = engine
        .upload(&path, "plain.txt", &cancel, &|_| {})
        .await
        .unwrap();
    let error = engine
        .wait_and_download(
            "plain.txt",
            &uploaded.result_of(),
            results.path(),
            &cancel,
            &|_| {},
        )
        .await
        .unwrap_err();
    assert!(matches!(error, TransferError::WaitTimedOut(_)), "{error:?}");

    // Written after the upload: taken.
    put_result(b"fresh result").await;
    let downloaded = engine
        .wait_and_download(
            "plain.txt",
            &uploaded.result_of(),
            results.path(),
            &cancel,
            &|_| {},
        )
        .await
        .unwrap();
    assert_eq!(std::fs::read(&downloaded.path).unwrap(), b"fresh result");
    stack.stop().await;
}

/// Downloads `body` into `dir` as the service answers it for an object whose ETag is not its MD5
/// (SSE-KMS, which the local S3 server cannot store, so a fake service answers for a real
/// object): a real URL, a KMS-like ETag, and `checksum`.
async fn download_with_checksum(
    stack: &LocalStack,
    body: &[u8],
    checksum: Checksum,
    dir: &std::path::Path,
) -> Result<ddn_transfer::Downloaded, TransferError> {
    let key = "users/dev/encrypted.bin";
    s3::put(stack, Bucket::Output, key, body).await;
    let answer = PresignResponse {
        url: s3::presigned_get(stack, Bucket::Output, key),
        method: HttpMethod::Get,
        key: key.to_owned(),
        headers: BTreeMap::new(),
        expires_at: "2099-01-01T00:00:00Z".into(),
        size: Some(body.len() as u64),
        // As KMS ETags are: 32 hex digits that are not the data's MD5.
        etag: Some("9d1a8c1f0e2b4a7c6d5e4f3a2b1c0d9e".into()),
        upload_id: None,
        checksum: Some(checksum),
    };
    engine(&fake_api(&answer).await, Duration::from_secs(5))
        .download(
            "encrypted.bin",
            &ResultOf::default(),
            dir,
            &CancellationToken::new(),
            &|_| {},
        )
        .await
}

#[tokio::test]
async fn an_etag_that_is_not_an_md5_is_not_checked_as_one() {
    let stack = LocalStack::start(LocalStackOptions::default())
        .await
        .unwrap();
    let results = tempfile::tempdir().unwrap();
    let body = b"hello world";
    // CRC-64/NVME of "hello world", as S3 reports it.
    let good = Checksum {
        algorithm: ChecksumAlgorithm::Crc64nvme,
        value: "jSnVw/bqjr4=".into(),
    };
    let downloaded = download_with_checksum(&stack, body, good, results.path())
        .await
        .unwrap();
    assert_eq!(downloaded.checksum, Some(ChecksumAlgorithm::Crc64nvme));
    assert_eq!(std::fs::read(&downloaded.path).unwrap(), body);

    // The checksum is really checked: a wrong one is damage, and nothing is saved.
    let wrong = Checksum {
        algorithm: ChecksumAlgorithm::Sha256,
        value: "uU0nuZNNPgilLlLX2n2r+sSE7+N6U4DukIj3rOLvzeA=".into(),
    };
    let error = download_with_checksum(&stack, body, wrong, results.path())
        .await
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "The downloaded data is damaged (the SHA-256 checksum differs); it was not saved."
    );
    let names: Vec<_> = std::fs::read_dir(results.path())
        .unwrap()
        .map(|entry| entry.unwrap().file_name())
        .collect();
    assert_eq!(names, ["encrypted.bin"], "only the first, good download");
    stack.stop().await;
}
