//! The stored examples of every answer shape parse into the contract types and serialize back to
//! the same JSON, so the fixtures the function's and the clients' tests read stay true to the types.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use ddn_api::{ErrorBody, ErrorCode, HttpMethod, PresignResponse, ResultsPage};
use serde::Serialize;
use serde::de::DeserializeOwned;

fn fixture(name: &str) -> serde_json::Value {
    let path = format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap()
}

fn check_round_trip<T: DeserializeOwned + Serialize>(name: &str) -> T {
    let json = fixture(name);
    let typed: T = serde_json::from_value(json.clone()).unwrap();
    assert_eq!(serde_json::to_value(&typed).unwrap(), json, "{name}");
    typed
}

#[test]
fn upload_answer_carries_the_headers_to_send() {
    let answer: PresignResponse = check_round_trip("presign_upload_response.json");
    assert_eq!(answer.method, HttpMethod::Put);
    assert_eq!(answer.headers["content-length"], "1048576");
    assert_eq!(answer.size, None);
}

#[test]
fn download_answer_carries_size_and_etag() {
    let answer: PresignResponse = check_round_trip("presign_download_response.json");
    assert_eq!(answer.method, HttpMethod::Get);
    assert_eq!(answer.size, Some(1_048_576));
    assert!(answer.headers.is_empty());
}

#[test]
fn error_bodies_round_trip() {
    let not_ready: ErrorBody = check_round_trip("error_not_ready.json");
    assert_eq!(not_ready.error.code, ErrorCode::NotReady);
    let missing: ErrorBody = check_round_trip("error_missing_file.json");
    assert_eq!(missing.error.message, ddn_api::MISSING_FILE_MESSAGE);
}

#[test]
fn results_pages_round_trip() {
    let page: ResultsPage = check_round_trip("results_page.json");
    assert_eq!(page.results.len(), 2);
    assert_eq!(page.results[0].name, "2026/11/scan 01.png");
    assert_eq!(page.next_cursor.as_deref(), Some("사진.png"));
}
