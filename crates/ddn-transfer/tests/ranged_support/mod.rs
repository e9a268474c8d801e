//! What the tests of downloads in ranges share: the local stack behind two proxies (one that
//! counts the bytes served to the engine and can slow each connection, one that cuts
//! connections), engines set up for small ranges, the results folder's files, the journals in a
//! resume folder, and test servers standing in for S3 and the presign API where the test's point
//! is an answer the local S3 server never gives.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ddn_api::{Checksum, ChecksumAlgorithm, HttpMethod, PresignResponse};
use ddn_localstack::{LocalStack, LocalStackOptions};
use ddn_testkit::fault_proxy::FaultProxy;
use ddn_testkit::http::{StatusCode, TestServer, response};
use ddn_testkit::s3::{self, Bucket};
use ddn_testkit::shaping_proxy::{Shape, ShapingProxy};
use ddn_transfer::retry::RetryPolicy;
use ddn_transfer::{ApiClient, Engine, EngineOptions, Token, TransferEvent, http_client};
use md5::Digest as _;

pub const KIB: usize = 1024;
pub const MIB: usize = 1024 * 1024;

/// A rate no test reaches: the counting proxy then only counts.
pub const UNSHAPED: u64 = 64 * 1024 * 1024 * 1024;

/// The local stack, its presigned URLs pointing at a counting proxy, which forwards to a proxy
/// that misbehaves on plan, in front of the S3 server: engine → `counter` → `faults` → S3. The
/// counter sees exactly what reached the engine (a cut made behind it is passed on as the close
/// of its connection).
pub struct Net {
    pub stack: LocalStack,
    pub counter: ShapingProxy,
    pub faults: FaultProxy,
}

/// Starts a [`Net`] whose connections each move at most `bytes_per_second`.
pub async fn net(bytes_per_second: u64) -> Net {
    let counter = ShapingProxy::start(Shape {
        delay: Duration::ZERO,
        bytes_per_second,
    })
    .await
    .unwrap();
    let faults = FaultProxy::start().await.unwrap();
    let stack = LocalStack::start(LocalStackOptions {
        users: vec![("alice".into(), "alice-token".into())],
        processing_delay: Duration::from_secs(3600),
        s3_public_url: Some(counter.url()),
        ..LocalStackOptions::default()
    })
    .await
    .unwrap();
    counter.set_upstream(&faults.url()).unwrap();
    faults.set_upstream(stack.s3_url());
    Net {
        stack,
        counter,
        faults,
    }
}

/// Options for downloads in ranges of `range_size` bytes (from 1 MiB up), four at once, quick
/// retries, journals in `resume_dir` when given.
pub fn ranged(range_size: usize, resume_dir: Option<&Path>) -> EngineOptions {
    EngineOptions {
        retry: RetryPolicy {
            max_attempts: 4,
            initial_delay: Duration::from_millis(20),
            max_delay: Duration::from_millis(50),
        },
        stall_timeout: Duration::from_secs(10),
        ranged_threshold: MIB as u64,
        range_size: range_size as u64,
        ranges_in_flight: 4,
        resume_dir: resume_dir.map(Path::to_owned),
        ..EngineOptions::default()
    }
}

/// An engine for alice on the presign API at `api_url`.
pub fn engine(api_url: &str, options: EngineOptions) -> Engine {
    let api = ApiClient::new(
        http_client().unwrap(),
        api_url,
        Some(Token::new("alice-token")),
    );
    Engine::new(api, options)
}

/// Stores a processed result for alice directly (not through the proxies).
pub async fn put_result(stack: &LocalStack, name: &str, bytes: &[u8]) {
    s3::put(stack, Bucket::Output, &format!("users/alice/{name}"), bytes).await;
}

/// The names in `dir`, sorted.
pub fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

/// The journals in `resume_dir`.
pub fn journals(resume_dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(resume_dir) else {
        return Vec::new();
    };
    entries
        .map(|e| e.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "journal"))
        .collect()
}

/// The ranges the journals in `resume_dir` record (their lines after the header).
pub fn recorded_ranges(resume_dir: &Path) -> usize {
    journals(resume_dir)
        .iter()
        .map(|path| {
            let text = std::fs::read_to_string(path).unwrap_or_default();
            text.lines().count().saturating_sub(1)
        })
        .sum()
}

/// The MD5 of `data`, in hex, as an S3 ETag.
pub fn md5_hex(data: &[u8]) -> String {
    hex::encode(md5::Md5::digest(data))
}

/// The progress reports, `Resumed` and `StartedOver` events, in order.
#[derive(Default, Clone)]
pub struct Events(pub Arc<Mutex<Vec<TransferEvent>>>);

impl Events {
    /// A sink recording into this.
    pub fn sink(&self) -> impl Fn(TransferEvent) + Send + Sync + use<> {
        let events = Arc::clone(&self.0);
        move |event| events.lock().unwrap().push(event)
    }

    /// Every progress count, in order.
    pub fn progress(&self) -> Vec<u64> {
        let events = self.0.lock().unwrap();
        events
            .iter()
            .filter_map(|e| match e {
                TransferEvent::Progress(p) => Some(p.transferred),
                _ => None,
            })
            .collect()
    }

    /// Every `Resumed`'s bytes already there.
    pub fn resumed(&self) -> Vec<u64> {
        let events = self.0.lock().unwrap();
        events
            .iter()
            .filter_map(|e| match e {
                TransferEvent::Resumed { already_sent, .. } => Some(*already_sent),
                _ => None,
            })
            .collect()
    }

    /// How many `StartedOver` events came.
    pub fn started_over(&self) -> usize {
        let events = self.0.lock().unwrap();
        events
            .iter()
            .filter(|e| matches!(e, TransferEvent::StartedOver { .. }))
            .count()
    }

    /// How many `Retrying` events came.
    pub fn retries(&self) -> usize {
        let events = self.0.lock().unwrap();
        events
            .iter()
            .filter(|e| matches!(e, TransferEvent::Retrying { .. }))
            .count()
    }
}

/// A presign answer for an object served by a test server at `url`: its ETag, size and MD5.
pub fn answer_for(url: &str, name: &str, data: &[u8], etag: &str) -> PresignResponse {
    PresignResponse {
        url: format!("{url}/object"),
        method: HttpMethod::Get,
        key: format!("users/alice/{name}"),
        headers: Default::default(),
        expires_at: "2099-01-01T00:00:00Z".into(),
        upload_id: None,
        etag: Some(etag.to_owned()),
        size: Some(data.len() as u64),
        checksum: Some(Checksum {
            algorithm: ChecksumAlgorithm::Md5,
            value: md5_hex(data),
        }),
    }
}

/// A presign API that answers each request with `answer()`, as JSON.
pub async fn api_answering(
    answer: impl Fn() -> PresignResponse + Send + Sync + 'static,
) -> TestServer {
    TestServer::start(move |_| {
        let body = serde_json::to_string(&answer()).unwrap();
        async move { response(StatusCode::OK, body) }
    })
    .await
    .unwrap()
}

/// A presign API in front of the stack's that rewrites each answer with `rewrite` (for what
/// S3 reports on objects the local server cannot make: a full-object CRC, no checksum at all).
pub async fn api_rewriting(
    api_url: &str,
    rewrite: impl Fn(&mut PresignResponse) + Send + Sync + 'static,
) -> TestServer {
    let api_url = api_url.to_owned();
    let rewrite = Arc::new(rewrite);
    let http = http_client().unwrap();
    TestServer::start(move |request| {
        let address = format!(
            "{api_url}{}",
            request.uri().path_and_query().map_or("", |p| p.as_str())
        );
        let authorization = request
            .headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let (http, rewrite) = (http.clone(), Arc::clone(&rewrite));
        async move {
            let answered = http
                .get(&address)
                .header("authorization", authorization)
                .send()
                .await
                .unwrap();
            let status = answered.status().as_u16();
            let body = answered.text().await.unwrap();
            if status != 200 {
                return response(StatusCode::from_u16(status).unwrap(), body);
            }
            let mut answer: PresignResponse = serde_json::from_str(&body).unwrap();
            rewrite(&mut answer);
            response(StatusCode::OK, serde_json::to_string(&answer).unwrap())
        }
    })
    .await
    .unwrap()
}

/// The checksum S3 reports for `data` by the CRC `algorithm` (base64 of its big-endian bytes).
pub fn crc_checksum(algorithm: ChecksumAlgorithm, data: &[u8]) -> Checksum {
    use base64::Engine as _;
    let (crc, width) = match algorithm {
        ChecksumAlgorithm::Crc32 => (crc_fast::CrcAlgorithm::Crc32IsoHdlc, 4),
        ChecksumAlgorithm::Crc32c => (crc_fast::CrcAlgorithm::Crc32Iscsi, 4),
        _ => (crc_fast::CrcAlgorithm::Crc64Nvme, 8),
    };
    let value = crc_fast::checksum(crc, data).to_be_bytes();
    Checksum {
        algorithm,
        value: base64::engine::general_purpose::STANDARD.encode(&value[8 - width..]),
    }
}
