//! What the function logs: one JSON line per request, errors at ERROR level, never a URL,
//! signature or token.
//!
//! This test has a binary of its own: `tracing` caches which call sites are enabled process-wide,
//! so a scoped logger races with tests on other threads that run without one.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::{Arc, Mutex};

use common::*;
use ddn_api::PresignResponse;
use ddn_presign::store::StoreError;
use serde_json::Value;

/// A writer that keeps everything the logger writes, for reading back in the test.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn one_json_log_line_per_request_without_secrets() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let failing = Arc::new(MemoryStore {
        failure: Some(|| StoreError::AccessDenied),
        ..MemoryStore::default()
    });
    let service = service_with(tokens(), store_with_alice_result());
    let broken = service_with(tokens(), failing);
    let ok = service
        .handle(&request(
            &[("file", "scan 01.png")],
            Some("Bearer alice-token"),
        ))
        .await;
    let denied = service
        .handle(&request(&[("file", "a")], Some("Bearer stolen-token")))
        .await;
    let failed = broken
        .handle(&request(&[("file", "a")], Some("Bearer alice-token")))
        .await;
    assert_eq!((ok.status, denied.status, failed.status), (200, 401, 500));

    let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|l: &Value| l["request_id"] == "req-1")
        .collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert_eq!(lines[0]["level"], "INFO");
    assert_eq!(lines[0]["status"], 200);
    assert_eq!(lines[0]["user"], "alice");
    assert_eq!(lines[0]["mode"], "download");
    assert_eq!(lines[0]["route"], "/presign");
    assert!(lines[0]["latency_us"].is_u64());
    assert_eq!(lines[1]["status"], 401);
    assert_eq!(lines[1]["code"], "unauthorized");
    // The seed's `--filter-pattern ERROR` finds failures.
    assert_eq!(lines[2]["level"], "ERROR");
    assert!(
        lines[2]["detail"]
            .as_str()
            .unwrap()
            .contains("configuration error")
    );

    let answer: PresignResponse = serde_json::from_str(&ok.body).unwrap();
    let signature = query_value(&answer.url, "X-Amz-Signature").unwrap();
    for secret in [
        signature,
        "alice-token",
        "stolen-token",
        "X-Amz-Credential",
        "secret-key",
    ] {
        assert!(!text.contains(secret), "the log carries {secret}: {text}");
    }
}

#[tokio::test]
async fn multipart_requests_log_one_line_each_with_the_upload_and_no_url() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let store = Arc::new(MemoryStore::default());
    let service = service_with(tokens(), store.clone());
    let alice = Some("Bearer alice-token");
    let tagged = |path: &str, body: serde_json::Value, id: &str| {
        let mut request = post(path, &body, alice);
        request.request_id = id.to_owned();
        request
    };
    let start = service
        .handle(&tagged(
            ddn_api::multipart::START_PATH,
            serde_json::json!({"file": "big.bin", "size": 16 * 1024 * 1024}),
            "mp-1",
        ))
        .await;
    let started: ddn_api::multipart::StartResponse = serde_json::from_str(&start.body).unwrap();
    let id = started.multipart_upload_id.clone();
    let urls = service
        .handle(&tagged(
            ddn_api::multipart::URLS_PATH,
            serde_json::json!({"file": "big.bin", "multipartUploadId": id,
                               "size": 16 * 1024 * 1024,
                               "parts": [{"partNumber": 1}, {"partNumber": 2}]}),
            "mp-2",
        ))
        .await;
    let etag = store.put_part(&id, 1, 8 * 1024 * 1024, None);
    let refused = service
        .handle(&tagged(
            ddn_api::multipart::COMPLETE_PATH,
            serde_json::json!({"file": "big.bin", "multipartUploadId": id,
                               "uploadId": started.upload_id,
                               "parts": [{"partNumber": 1, "etag": etag},
                                         {"partNumber": 2, "etag": etag}]}),
            "mp-3",
        ))
        .await;
    assert_eq!((start.status, urls.status, refused.status), (200, 200, 400));

    let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|l: &Value| {
            l["request_id"]
                .as_str()
                .is_some_and(|id| id.starts_with("mp-"))
        })
        .collect();
    assert_eq!(lines.len(), 3, "{text}");
    let routes: Vec<&str> = lines.iter().map(|l| l["route"].as_str().unwrap()).collect();
    assert_eq!(
        routes,
        ["/multipart/start", "/multipart/urls", "/multipart/complete"]
    );
    for line in &lines {
        assert_eq!(line["user"], "alice");
        assert_eq!(line["multipart_upload_id"], id.as_str());
    }
    assert_eq!(lines[1]["parts"], 2);
    assert_eq!(lines[2]["code"], "invalid_part");
    // S3's reason is in the log, for whoever reads it; it is not in the answer.
    assert!(lines[2]["detail"].as_str().unwrap().contains("part 2"));
    assert!(!refused.body.contains("part 2"), "{}", refused.body);

    let answer: ddn_api::multipart::UrlsResponse = serde_json::from_str(&urls.body).unwrap();
    for part in &answer.parts {
        let signature = query_value(&part.url, "X-Amz-Signature").unwrap();
        assert!(
            !text.contains(signature),
            "the log carries a signature: {text}"
        );
    }
    for secret in ["alice-token", "X-Amz-", "https://", "secret-key"] {
        assert!(!text.contains(secret), "the log carries {secret}: {text}");
    }
}

/// Lines as the function's layer writes them with `RUST_LOG=rust_log`, for one line from each of
/// these targets and levels: the function's own, and crates that log raw events and requests.
fn shown_with(rust_log: &str) -> Vec<String> {
    use tracing_subscriber::layer::SubscriberExt;

    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::Registry::default().with(
        ddn_presign::logging::json_layer(Some(rust_log), move || writer.clone()),
    );
    tracing::subscriber::with_default(subscriber, || {
        tracing::trace!(target: "lambda_runtime::layers::api_response", body = "Bearer raw-event-token", "raw JSON event received from Lambda");
        tracing::debug!(target: "lambda_runtime", "runtime debug");
        tracing::info!(target: "lambda_runtime", "runtime info");
        tracing::trace!(target: "lambda_runtime_api_client", "client trace");
        tracing::trace!(target: "aws_sigv4::http_request::sign", request = "x-amz-security-token: session-token", "signing request");
        tracing::debug!(target: "aws_smithy_runtime::client::orchestrator", "sdk debug");
        tracing::warn!(target: "aws_smithy_runtime::client::orchestrator", "sdk warn");
        tracing::trace!(target: "ddn_presign::service", "own trace");
        tracing::debug!(target: "ddn_presign::service", "own debug");
        tracing::info!(target: "ddn_presign::service", "own info");
    });
    let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    text.lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["message"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect()
}

#[test]
fn rust_log_opens_only_the_functions_own_lines_below_info() {
    let cases: [(&str, &[&str]); 5] = [
        ("info", &["runtime info", "sdk warn", "own info"]),
        (
            "trace",
            &[
                "runtime info",
                "sdk warn",
                "own trace",
                "own debug",
                "own info",
            ],
        ),
        (
            "lambda_runtime=trace,lambda_runtime::layers=trace,aws_sigv4=trace,aws_smithy_runtime=trace,ddn_presign=debug",
            &["runtime info", "sdk warn", "own debug", "own info"],
        ),
        ("warn", &["sdk warn"]),
        (
            "lambda_runtime=loud",
            &["runtime info", "sdk warn", "own info"],
        ),
    ];
    for (rust_log, expected) in cases {
        assert_eq!(shown_with(rust_log), expected, "RUST_LOG={rust_log}");
    }
}
