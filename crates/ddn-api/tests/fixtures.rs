//! The stored examples of every answer shape parse into the contract types and serialize back to
//! the same JSON, so the fixtures the function's and the clients' tests read stay true to the types.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use ddn_api::{
    ChecksumAlgorithm, ErrorBody, ErrorCode, HttpMethod, PresignResponse, ResultsPage, processing,
};
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
    // The upload's id is both in the answer and among the headers to send, so S3 stores it.
    let id = answer.upload_id.as_deref().unwrap();
    assert!(processing::is_valid_upload_id(id));
    assert_eq!(answer.headers[processing::UPLOAD_ID_HEADER], id);
}

#[test]
fn download_answer_carries_size_and_etag() {
    let answer: PresignResponse = check_round_trip("presign_download_response.json");
    assert_eq!(answer.method, HttpMethod::Get);
    assert_eq!(answer.size, Some(1_048_576));
    assert!(answer.headers.is_empty());
    let checksum = answer.checksum.unwrap();
    assert_eq!(checksum.algorithm, ChecksumAlgorithm::Md5);
    assert_eq!(Some(checksum.value), answer.etag);
    assert!(answer.upload_id.is_some());
}

#[test]
fn an_encrypted_result_names_a_checksum_other_than_its_etag() {
    let answer: PresignResponse = check_round_trip("presign_download_kms_response.json");
    let checksum = answer.checksum.unwrap();
    assert_eq!(checksum.algorithm, ChecksumAlgorithm::Crc64nvme);
    assert_ne!(Some(checksum.value), answer.etag);
    assert_eq!(answer.upload_id, None);
}

#[test]
fn unknown_checksums_from_a_newer_service_still_parse() {
    let mut json = fixture("presign_download_kms_response.json");
    json["checksum"]["algorithm"] = "blake3".into();
    let answer: PresignResponse = serde_json::from_value(json).unwrap();
    assert_eq!(
        answer.checksum.unwrap().algorithm,
        ChecksumAlgorithm::Unknown
    );
}

#[test]
fn error_bodies_round_trip() {
    let not_ready: ErrorBody = check_round_trip("error_not_ready.json");
    assert_eq!(not_ready.error.code, ErrorCode::NotReady);
    let missing: ErrorBody = check_round_trip("error_missing_file.json");
    assert_eq!(missing.error.message, ddn_api::MISSING_FILE_MESSAGE);
    let failed: ErrorBody = check_round_trip("error_processing_failed.json");
    assert_eq!(failed.error.code, ErrorCode::ProcessingFailed);
    assert_eq!(failed.error.code.http_status(), 422);
    assert!(!failed.error.code.is_retryable());
}

#[test]
fn results_pages_round_trip() {
    let page: ResultsPage = check_round_trip("results_page.json");
    assert_eq!(page.results.len(), 2);
    assert_eq!(page.results[0].name, "2026/11/scan 01.png");
    assert_eq!(page.next_cursor.as_deref(), Some("사진.png"));
}

#[test]
fn multipart_bodies_round_trip() {
    use ddn_api::multipart::{
        AbortRequest, AbortResponse, CompleteRequest, CompleteResponse, PartPlan, PartsPage,
        PartsRequest, StartRequest, StartResponse, UrlsRequest, UrlsResponse,
    };
    let start: StartRequest = check_round_trip("multipart_start_request.json");
    let started: StartResponse = check_round_trip("multipart_start_response.json");
    // The answer's plan is the one both sides compute from the declared size.
    assert_eq!(Some(started.plan), PartPlan::for_size(start.size));
    assert!(processing::is_valid_upload_id(&started.upload_id));
    assert_eq!(started.checksum_algorithm, ChecksumAlgorithm::Crc64nvme);

    let urls: UrlsRequest = check_round_trip("multipart_urls_request.json");
    assert_eq!(urls.upload.multipart_upload_id, started.multipart_upload_id);
    let signed: UrlsResponse = check_round_trip("multipart_urls_response.json");
    assert_eq!(signed.parts.len(), urls.parts.len());
    for (asked, answer) in urls.parts.iter().zip(&signed.parts) {
        assert_eq!(asked.part_number, answer.part_number);
        assert_eq!(answer.headers.get("content-md5"), asked.md5.as_ref());
        assert_eq!(
            answer.headers.get("x-amz-checksum-crc64nvme"),
            asked.crc64nvme.as_ref()
        );
        let length = started.plan.part(asked.part_number).unwrap().length;
        assert_eq!(answer.headers["content-length"], length.to_string());
    }

    let list: PartsRequest = check_round_trip("multipart_parts_request.json");
    let page: PartsPage = check_round_trip("multipart_parts_page.json");
    assert!(page.parts.iter().all(|p| Some(p.part_number) > list.cursor));
    assert_eq!(page.next_cursor, page.parts.last().map(|p| p.part_number));

    let complete: CompleteRequest = check_round_trip("multipart_complete_request.json");
    assert!(
        complete
            .parts
            .windows(2)
            .all(|w| w[0].part_number < w[1].part_number)
    );
    let completed: CompleteResponse = check_round_trip("multipart_complete_response.json");
    assert!(
        completed
            .etag
            .ends_with(&format!("-{}", complete.parts.len()))
    );
    let _: AbortRequest = check_round_trip("multipart_abort_request.json");
    let aborted: AbortResponse = check_round_trip("multipart_abort_response.json");
    assert!(aborted.aborted);

    let gone: ErrorBody = check_round_trip("error_no_such_upload.json");
    assert_eq!(gone.error.code, ErrorCode::NoSuchUpload);
    assert_eq!(gone.error.code.http_status(), 404);
}
