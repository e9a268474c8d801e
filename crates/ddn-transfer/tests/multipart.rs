//! Multipart uploads against the local stack, its S3 server behind the fault proxy: files sent in
//! parts arrive identical; a cut part is sent again alone; an upload stopped half-way continues
//! with only the parts S3 lacks (the bytes the proxy sees say so); a changed file, an upload S3
//! no longer knows and a discarded upload each leave nothing open on S3.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{Read as _, Seek as _, SeekFrom, Write as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use common::Recorder;
use ddn_localstack::{LocalStack, LocalStackOptions};
use ddn_testkit::fault_proxy::{Direction, Fault, FaultProxy};
use ddn_testkit::http::{StatusCode, TestServer, response};
use ddn_testkit::samples::write_sample_file;
use ddn_transfer::retry::RetryPolicy;
use ddn_transfer::{
    ApiClient, CancellationToken, Engine, EngineOptions, ErrorKind, StartOverReason, Token,
    TransferError, TransferEvent, Uploaded, http_client,
};
use sha2::{Digest as _, Sha256};

const MIB: u64 = 1024 * 1024;

/// The part size the service plans for every file in these tests but the largest.
const PART: u64 = 8 * MIB;

/// Room for the requests' heads in the bytes the proxy counts: each part's request sends a head
/// of about a kilobyte besides its body.
const HEADS: u64 = 64 * 1024;

/// The stack, its S3 server reached through the proxy, and folders for the files and journals.
struct Setup {
    stack: LocalStack,
    proxy: FaultProxy,
    files: tempfile::TempDir,
    resume: tempfile::TempDir,
}

async fn setup() -> Setup {
    let proxy = FaultProxy::start().await.unwrap();
    let stack = LocalStack::start(LocalStackOptions {
        users: vec![("alice".into(), "alice-token".into())],
        processing_delay: Duration::from_secs(3600),
        s3_public_url: Some(proxy.url()),
        ..LocalStackOptions::default()
    })
    .await
    .unwrap();
    proxy.set_upstream(stack.s3_url());
    Setup {
        stack,
        proxy,
        files: tempfile::tempdir().unwrap(),
        resume: tempfile::tempdir().unwrap(),
    }
}

impl Setup {
    /// An engine of its own (its own connections), sending files from 16 MiB up in parts,
    /// `parts_in_flight` at once, with journals in the setup's folder when `resume`.
    fn engine(&self, parts_in_flight: usize, resume: bool) -> Engine {
        self.engine_at(self.stack.api_url(), parts_in_flight, resume)
    }

    /// [`Self::engine`], asking the presign API at `api_url`.
    fn engine_at(&self, api_url: &str, parts_in_flight: usize, resume: bool) -> Engine {
        Engine::new(
            ApiClient::new(
                http_client().unwrap(),
                api_url,
                Some(Token::new("alice-token")),
            ),
            EngineOptions {
                retry: RetryPolicy {
                    max_attempts: 4,
                    initial_delay: Duration::from_millis(20),
                    max_delay: Duration::from_millis(50),
                },
                stall_timeout: Duration::from_secs(20),
                multipart_threshold: 0,
                parts_in_flight,
                resume_dir: resume.then(|| self.resume.path().to_owned()),
                ..EngineOptions::default()
            },
        )
    }

    /// A file of `size` sample bytes from `seed` in the setup's folder.
    fn file(&self, name: &str, size: u64, seed: u64) -> PathBuf {
        let path = self.files.path().join(name);
        write_sample_file(&path, size, seed).unwrap();
        path
    }

    /// The journals in the resume folder.
    fn journals(&self) -> Vec<PathBuf> {
        std::fs::read_dir(self.resume.path())
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .filter(|path| path.extension().is_some_and(|e| e == "journal"))
            .collect()
    }

    /// The header of the only journal: the upload it records.
    fn journal_header(&self) -> serde_json::Value {
        let journals = self.journals();
        assert_eq!(journals.len(), 1, "{journals:?}");
        let text = std::fs::read_to_string(&journals[0]).unwrap();
        let first = text.lines().next().unwrap();
        serde_json::from_str::<serde_json::Value>(first).unwrap()["header"].clone()
    }

    /// The ids of the multipart uploads S3 holds open in the input bucket.
    async fn open_uploads(&self) -> Vec<String> {
        let listed = self
            .stack
            .s3_client()
            .list_multipart_uploads()
            .bucket(self.stack.in_bucket())
            .send()
            .await
            .unwrap();
        listed
            .uploads()
            .iter()
            .filter_map(|upload| upload.upload_id().map(str::to_owned))
            .collect()
    }

    /// The length and SHA-256 of the object at `key` in the input bucket, read as a stream.
    async fn stored_digest(&self, key: &str) -> (u64, Vec<u8>) {
        let mut body = self
            .stack
            .s3_client()
            .get_object()
            .bucket(self.stack.in_bucket())
            .key(key)
            .send()
            .await
            .unwrap()
            .body;
        let mut hasher = Sha256::new();
        let mut length = 0;
        while let Some(chunk) = body.next().await {
            let chunk = chunk.unwrap();
            length += chunk.len() as u64;
            hasher.update(&chunk);
        }
        (length, hasher.finalize().to_vec())
    }

    /// Asserts the object S3 holds for `uploaded` is the file at `path`, byte for byte.
    async fn assert_stored(&self, uploaded: &Uploaded, path: &Path) {
        let stored = self.stored_digest(&uploaded.key).await;
        assert_eq!(stored, file_digest(path), "the stored object differs");
        assert_eq!(uploaded.size, stored.0);
    }
}

/// The length and SHA-256 of the file at `path`, read 1 MiB at a time.
fn file_digest(path: &Path) -> (u64, Vec<u8>) {
    let mut file = std::fs::File::open(path).unwrap();
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; MIB as usize];
    let mut length = 0;
    loop {
        let n = file.read(&mut buffer).unwrap();
        if n == 0 {
            return (length, hasher.finalize().to_vec());
        }
        length += n as u64;
        hasher.update(&buffer[..n]);
    }
}

/// Asserts the proxy passed on `body` bytes of parts and their requests' heads: nothing more.
fn assert_sent(sent: u64, body: u64) {
    assert!(
        (body..body + HEADS).contains(&sent),
        "{sent} bytes went to S3 for {body} bytes of parts"
    );
}

/// Every start-over reason the engine reported.
fn started_over(recorder: &Recorder) -> Vec<StartOverReason> {
    recorder
        .0
        .lock()
        .unwrap()
        .iter()
        .filter_map(|event| match event {
            TransferEvent::StartedOver { reason } => Some(*reason),
            _ => None,
        })
        .collect()
}

/// Every resume the engine reported, as (already sent, total).
fn resumed(recorder: &Recorder) -> Vec<(u64, u64)> {
    recorder
        .0
        .lock()
        .unwrap()
        .iter()
        .filter_map(|event| match event {
            TransferEvent::Resumed {
                already_sent,
                total,
            } => Some((*already_sent, *total)),
            _ => None,
        })
        .collect()
}

/// Asserts the progress reports never go back and end at the whole file.
fn assert_progress_ends_whole(recorder: &Recorder, size: u64) {
    let progress = recorder.progress();
    assert!(
        progress.windows(2).all(|w| w[0].0 <= w[1].0),
        "progress went back: {progress:?}"
    );
    assert_eq!(progress.last(), Some(&(size, size)));
}

/// Uploads `path` one part at a time while the proxy lets the first connection carry exactly two
/// parts (and a little of the third) and then holds it; cancels once the two are acknowledged,
/// as a user pausing, or a process stopped half-way. Answers the bytes the proxy passed on.
async fn stop_after_two_parts(setup: &Setup, path: &Path, name: &str) -> u64 {
    let before = setup.proxy.bytes_upstream();
    setup.proxy.plan([Fault::StallAfter {
        direction: Direction::Upstream,
        bytes: 2 * (PART + 4096) + HEADS,
        pause: Duration::from_secs(60),
    }]);
    let cancel = CancellationToken::new();
    let trigger = cancel.clone();
    let sink = move |event: TransferEvent| {
        if matches!(&event, TransferEvent::Progress(p) if p.transferred >= 2 * PART) {
            trigger.cancel();
        }
    };
    let error = setup
        .engine(1, true)
        .upload(path, name, &cancel, &sink)
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Cancelled, "{error:?}");
    setup.proxy.bytes_upstream() - before
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_above_the_single_put_limit_goes_multipart_and_arrives_identical() {
    let setup = setup().await;
    // Sparse, with real bytes at the start, across the 5 GiB line and at the end, so a part
    // put at the wrong offset, dropped or sent twice shows.
    let size = ddn_api::MAX_SINGLE_PUT_BYTES + 5 * MIB + 3;
    let path = setup.files.path().join("huge.bin");
    let mut file = std::fs::File::create(&path).unwrap();
    file.set_len(size).unwrap();
    for (offset, seed) in [
        (0, 1),
        (2 * 1024 * MIB + 7, 2),
        (ddn_api::MAX_SINGLE_PUT_BYTES - MIB / 2, 3),
        (size - MIB, 4),
    ] {
        file.seek(SeekFrom::Start(offset)).unwrap();
        file.write_all(&ddn_testkit::samples::sample_bytes(MIB as usize, seed))
            .unwrap();
    }
    drop(file);

    let recorder = Recorder::default();
    let uploaded = setup
        .engine(4, false)
        .upload(
            &path,
            "huge.bin",
            &CancellationToken::new(),
            &recorder.sink(),
        )
        .await
        .unwrap();
    assert_eq!(uploaded.key, "users/alice/huge.bin");
    assert!(uploaded.md5_checked);
    assert!(uploaded.upload_id.is_some() && uploaded.uploaded_at.is_some());
    setup.assert_stored(&uploaded, &path).await;
    assert_progress_ends_whole(&recorder, size);
    // Each part went once: the file and the requests' heads (641 parts), nothing sent twice.
    let sent = setup.proxy.bytes_upstream();
    assert!((size..size + 641 * 2048).contains(&sent), "{sent}");
    assert!(setup.open_uploads().await.is_empty());
}

#[tokio::test]
async fn parts_go_out_several_at_once_and_progress_counts_acknowledged_parts() {
    let setup = setup().await;
    let size = 5 * PART + 1000;
    let path = setup.file("five.bin", size, 5);
    let recorder = Recorder::default();
    let uploaded = setup
        .engine(3, true)
        .upload(
            &path,
            "five.bin",
            &CancellationToken::new(),
            &recorder.sink(),
        )
        .await
        .unwrap();
    setup.assert_stored(&uploaded, &path).await;
    assert_progress_ends_whole(&recorder, size);
    // Only whole parts count: every report is a number of full parts, with or without the
    // short last one.
    for (transferred, _) in recorder.progress() {
        let whole = transferred % PART == 0 || (transferred - 1000) % PART == 0;
        assert!(whole, "{transferred} is not a sum of acknowledged parts");
    }
    // Three at a time: at least three connections to S3 were open.
    assert!(
        setup.proxy.connections() >= 3,
        "{}",
        setup.proxy.connections()
    );
    assert!(
        setup.journals().is_empty(),
        "the journal goes once the upload is complete"
    );
    assert!(resumed(&recorder).is_empty() && started_over(&recorder).is_empty());
    assert!(setup.open_uploads().await.is_empty());
}

#[tokio::test]
async fn a_part_whose_connection_is_cut_is_sent_again_alone() {
    let setup = setup().await;
    let size = 5 * PART;
    let path = setup.file("cut.bin", size, 6);
    let cut = 3 * MIB;
    setup.proxy.plan([Fault::CutAfter {
        direction: Direction::Upstream,
        bytes: cut,
    }]);
    let recorder = Recorder::default();
    let uploaded = setup
        .engine(2, false)
        .upload(
            &path,
            "cut.bin",
            &CancellationToken::new(),
            &recorder.sink(),
        )
        .await
        .unwrap();
    setup.assert_stored(&uploaded, &path).await;
    assert_eq!(recorder.retry_kinds(), [ErrorKind::Connection]);
    // The file once, the cut attempt's 3 MiB, and heads: any other part sent again would add
    // 8 MiB.
    let sent = setup.proxy.bytes_upstream();
    assert_sent(sent, size + cut);
    assert_progress_ends_whole(&recorder, size);
}

#[tokio::test]
async fn an_upload_stopped_half_way_continues_without_sending_its_finished_parts_again() {
    let setup = setup().await;
    let size = 6 * PART;
    let path = setup.file("paused.bin", size, 7);
    let first = stop_after_two_parts(&setup, &path, "paused.bin").await;
    assert!(first < 3 * PART, "{first}");
    // The pause keeps the upload on S3 and the journal of its two parts.
    assert_eq!(setup.open_uploads().await.len(), 1);
    assert_eq!(setup.journals().len(), 1);

    let before = setup.proxy.bytes_upstream();
    let recorder = Recorder::default();
    let uploaded = setup
        .engine(2, true)
        .upload(
            &path,
            "paused.bin",
            &CancellationToken::new(),
            &recorder.sink(),
        )
        .await
        .unwrap();
    let second = setup.proxy.bytes_upstream() - before;
    setup.assert_stored(&uploaded, &path).await;
    assert_eq!(resumed(&recorder), [(2 * PART, size)]);
    // Parts 3 to 6 only (part 3 had not been acknowledged, so it goes whole).
    assert_sent(second, 4 * PART);
    let progress = recorder.progress();
    assert!(progress.iter().all(|&(n, _)| n >= 2 * PART), "{progress:?}");
    assert_progress_ends_whole(&recorder, size);
    assert!(setup.journals().is_empty());
    assert!(setup.open_uploads().await.is_empty());
}

#[tokio::test]
async fn a_file_changed_between_runs_starts_over_and_its_old_upload_is_aborted() {
    let setup = setup().await;
    let size = 4 * PART;
    let path = setup.file("draft.bin", size, 8);
    stop_after_two_parts(&setup, &path, "draft.bin").await;
    let old = setup.journal_header();
    let old_upload = old["multipartUploadId"].as_str().unwrap().to_owned();
    assert_eq!(setup.open_uploads().await, [old_upload]);

    // Same size, other bytes, a later modification time.
    write_sample_file(&path, size, 9).unwrap();
    let file = std::fs::File::options().write(true).open(&path).unwrap();
    file.set_modified(SystemTime::now() + Duration::from_secs(10))
        .unwrap();
    drop(file);

    let before = setup.proxy.bytes_upstream();
    let recorder = Recorder::default();
    let uploaded = setup
        .engine(2, true)
        .upload(
            &path,
            "draft.bin",
            &CancellationToken::new(),
            &recorder.sink(),
        )
        .await
        .unwrap();
    setup.assert_stored(&uploaded, &path).await;
    assert_eq!(started_over(&recorder), [StartOverReason::FileChanged]);
    assert!(resumed(&recorder).is_empty());
    assert_ne!(uploaded.upload_id.as_deref(), old["uploadId"].as_str());
    // Sent whole.
    let sent = setup.proxy.bytes_upstream() - before;
    assert_sent(sent, size);
    assert!(setup.journals().is_empty());
    assert!(
        setup.open_uploads().await.is_empty(),
        "the old upload was aborted"
    );
}

#[tokio::test]
async fn a_discarded_upload_leaves_nothing_open_on_s3() {
    let setup = setup().await;
    let path = setup.file("dropped.bin", 3 * PART, 10);
    stop_after_two_parts(&setup, &path, "dropped.bin").await;
    assert_eq!(setup.open_uploads().await.len(), 1);
    let engine = setup.engine(2, true);
    assert!(engine.discard_upload(&path, "dropped.bin").await.unwrap());
    assert!(setup.journals().is_empty());
    assert!(setup.open_uploads().await.is_empty());
    // Nothing more to discard, and without a resume folder never anything.
    assert!(!engine.discard_upload(&path, "dropped.bin").await.unwrap());
    assert!(
        !setup
            .engine(2, false)
            .discard_upload(&path, "dropped.bin")
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn a_cancelled_upload_without_a_resume_folder_is_aborted() {
    let setup = setup().await;
    let path = setup.file("gone.bin", 3 * PART, 11);
    setup.proxy.plan([Fault::StallAfter {
        direction: Direction::Upstream,
        bytes: PART + HEADS,
        pause: Duration::from_secs(60),
    }]);
    let cancel = CancellationToken::new();
    let trigger = cancel.clone();
    let sink = move |event: TransferEvent| {
        if matches!(&event, TransferEvent::Progress(p) if p.transferred >= PART) {
            trigger.cancel();
        }
    };
    let error = setup
        .engine(1, false)
        .upload(&path, "gone.bin", &cancel, &sink)
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Cancelled);
    assert!(setup.open_uploads().await.is_empty());
}

#[tokio::test]
async fn an_upload_s3_no_longer_knows_starts_over_once() {
    let setup = setup().await;
    let size = 3 * PART;
    let path = setup.file("expired.bin", size, 12);
    stop_after_two_parts(&setup, &path, "expired.bin").await;
    // The bucket's rule for abandoned uploads removes it behind the engine's back.
    let header = setup.journal_header();
    setup
        .stack
        .s3_client()
        .abort_multipart_upload()
        .bucket(setup.stack.in_bucket())
        .key(header["key"].as_str().unwrap())
        .upload_id(header["multipartUploadId"].as_str().unwrap())
        .send()
        .await
        .unwrap();

    let recorder = Recorder::default();
    let uploaded = setup
        .engine(2, true)
        .upload(
            &path,
            "expired.bin",
            &CancellationToken::new(),
            &recorder.sink(),
        )
        .await
        .unwrap();
    setup.assert_stored(&uploaded, &path).await;
    assert_eq!(started_over(&recorder), [StartOverReason::Expired]);
    assert!(resumed(&recorder).is_empty());
    assert!(setup.journals().is_empty());
    assert!(setup.open_uploads().await.is_empty());
}

/// A service that starts uploads and then never knows them: the engine starts over once, then
/// gives up with the service's answer. (The real service cannot be made to misbehave so.)
#[tokio::test]
async fn a_service_that_keeps_forgetting_uploads_ends_in_an_error_not_a_loop() {
    let starts = Arc::new(AtomicUsize::new(0));
    let paths = Arc::new(Mutex::new(Vec::new()));
    let (counted, seen) = (Arc::clone(&starts), Arc::clone(&paths));
    let server = TestServer::start(move |request| {
        let path = request.uri().path().to_owned();
        seen.lock().unwrap().push(path.clone());
        let answer = match path.as_str() {
            "/multipart/start" => {
                counted.fetch_add(1, Ordering::Relaxed);
                response(
                    StatusCode::OK,
                    r#"{"key":"users/alice/big.bin","multipartUploadId":"mp","uploadId":"0123456789abcdef0123456789abcdef","size":33554432,"partSize":8388608,"partCount":4,"checksumAlgorithm":"crc64nvme"}"#,
                )
            }
            "/multipart/abort" => response(StatusCode::OK, r#"{"aborted":false}"#),
            _ => response(
                StatusCode::NOT_FOUND,
                r#"{"error":{"code":"no_such_upload","message":"No such upload."}}"#,
            ),
        };
        async move { answer }
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.bin");
    write_sample_file(&path, 4 * PART, 13).unwrap();
    let engine = Engine::new(
        ApiClient::new(http_client().unwrap(), &server.url(), Some(Token::new("t"))),
        EngineOptions {
            multipart_threshold: 0,
            resume_dir: Some(dir.path().join("resume")),
            ..EngineOptions::default()
        },
    );
    let recorder = Recorder::default();
    let outcome = tokio::time::timeout(
        Duration::from_secs(60),
        engine.upload(
            &path,
            "big.bin",
            &CancellationToken::new(),
            &recorder.sink(),
        ),
    )
    .await
    .expect("the engine kept starting over");
    let error = outcome.unwrap_err();
    assert!(
        matches!(&error, TransferError::Refused { code, .. } if *code == ddn_api::ErrorCode::NoSuchUpload),
        "{error:?}"
    );
    assert_eq!(started_over(&recorder), [StartOverReason::Expired]);
    assert_eq!(
        starts.load(Ordering::Relaxed),
        2,
        "{:?}",
        paths.lock().unwrap()
    );
}

/// The presign API behind a test server that passes every request on to the real one, except
/// that it loses the answer to the first completion (S3 completed the upload all the same) and
/// answers the second itself with `no_such_upload`, as the service does while S3 is still
/// assembling the object of the first. The engine asks again, and the service recognises the
/// completed upload by its id: nothing is sent twice and nothing starts over.
#[tokio::test]
async fn a_completion_whose_answer_was_lost_is_recognised_and_not_started_over() {
    use http_body_util::BodyExt as _;

    let setup = setup().await;
    let upstream = setup.stack.api_url().to_owned();
    let forwarder = http_client().unwrap();
    let completions = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&completions);
    let server = TestServer::start(move |request| {
        let (http, upstream, counted) = (forwarder.clone(), upstream.clone(), Arc::clone(&counted));
        async move {
            let target = format!("{upstream}{}", request.uri());
            let completion = request.uri().path() == ddn_api::multipart::COMPLETE_PATH;
            let method = request.method().clone();
            let token = request.headers().get("authorization").cloned();
            let body = request.into_body().collect().await.unwrap().to_bytes();
            let nth = if completion {
                counted.fetch_add(1, Ordering::SeqCst) + 1
            } else {
                0
            };
            if nth == 2 {
                return response(
                    StatusCode::NOT_FOUND,
                    r#"{"error":{"code":"no_such_upload","message":"No such upload."}}"#,
                );
            }
            let mut call = http.request(method, target).body(body);
            if let Some(token) = token {
                call = call.header("authorization", token);
            }
            let answer = call.send().await.unwrap();
            let status = answer.status();
            let bytes = answer.bytes().await.unwrap();
            if nth == 1 {
                return response(StatusCode::BAD_GATEWAY, "");
            }
            response(status, bytes)
        }
    })
    .await
    .unwrap();

    let size = 3 * PART;
    let path = setup.file("lost.bin", size, 14);
    let recorder = Recorder::default();
    let uploaded = setup
        .engine_at(&server.url(), 2, true)
        .upload(
            &path,
            "lost.bin",
            &CancellationToken::new(),
            &recorder.sink(),
        )
        .await
        .unwrap();
    setup.assert_stored(&uploaded, &path).await;
    assert_eq!(completions.load(Ordering::SeqCst), 3);
    assert!(started_over(&recorder).is_empty());
    assert_eq!(recorder.retry_kinds(), [ErrorKind::Service]);
    assert_sent(setup.proxy.bytes_upstream(), size);
    assert!(setup.journals().is_empty());
    assert!(setup.open_uploads().await.is_empty());
}
