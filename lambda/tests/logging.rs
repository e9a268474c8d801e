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
