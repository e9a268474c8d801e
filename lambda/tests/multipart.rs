//! The multipart routes, offline: S3's multipart bookkeeping from the in-memory store (which binds
//! every upload id to the key it was created for, as S3 does), time from a fixed clock. Each test
//! names a request and the answer it must get; answers are read with the contract's own types and
//! compared field by field with its fixtures.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use ddn_api::multipart::{
    ABORT_PATH, AbortResponse, COMPLETE_PATH, CompleteResponse, MAX_OBJECT_SIZE,
    MIN_MULTIPART_SIZE, PARTS_PATH, PATHS, PartsPage, START_PATH, StartResponse, URLS_PATH,
    UrlsResponse,
};
use ddn_api::{ChecksumAlgorithm, ErrorBody, ErrorCode, processing};
use ddn_presign::PresignService;
use ddn_presign::store::StoreError;
use serde_json::{Value, json};

const ALICE: Option<&str> = Some("Bearer alice-token");
const BOB: Option<&str> = Some("Bearer bob-token");
const FILE: &str = "scans/survey 2026.tif";
const MIB: u64 = 1024 * 1024;

type Service = PresignService<Arc<MemoryStore>>;

/// Posts `body` to `path`; answers the status and the JSON body.
async fn call(service: &Service, path: &str, body: Value, auth: Option<&str>) -> (u16, Value) {
    let response = service.handle(&post(path, &body, auth)).await;
    let json = serde_json::from_str(&response.body)
        .unwrap_or_else(|e| panic!("{path}: not JSON ({e}): {}", response.body));
    (response.status, json)
}

/// The answer of a route that must succeed, read as the contract's type.
async fn ok<T: serde::de::DeserializeOwned>(
    service: &Service,
    path: &str,
    body: Value,
    auth: Option<&str>,
) -> T {
    let (status, json) = call(service, path, body, auth).await;
    assert_eq!(status, 200, "{path}: {json}");
    serde_json::from_value(json).unwrap()
}

/// The refusal of a route that must fail: status, code and message.
async fn refused(
    service: &Service,
    path: &str,
    body: Value,
    auth: Option<&str>,
) -> (u16, ErrorCode, String) {
    let (status, json) = call(service, path, body, auth).await;
    let body: ErrorBody = serde_json::from_value(json.clone())
        .unwrap_or_else(|e| panic!("{path}: not an error ({e}): {json}"));
    (status, body.error.code, body.error.message)
}

async fn start(service: &Service, auth: Option<&str>, file: &str, size: u64) -> StartResponse {
    ok(
        service,
        START_PATH,
        json!({"file": file, "size": size}),
        auth,
    )
    .await
}

/// A fresh service over a fresh store, and the store.
fn fresh() -> (Service, Arc<MemoryStore>) {
    let store = Arc::new(MemoryStore::default());
    (service_with(tokens(), store.clone()), store)
}

/// The value of query parameter `name` in `url`, still percent-encoded.
fn query<'a>(url: &'a str, name: &str) -> &'a str {
    query_value(url, name).unwrap_or_else(|| panic!("no {name} in the URL"))
}

#[tokio::test]
async fn every_route_answers_in_the_shape_of_the_contract_fixtures() {
    let (service, store) = fresh();

    // Start, with the contract's own request.
    let (status, answer) = call(
        &service,
        START_PATH,
        contract_fixture("multipart_start_request.json"),
        ALICE,
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    let expected = contract_fixture("multipart_start_response.json");
    assert_eq!(field_names(&answer), field_names(&expected));
    for same in ["key", "size", "partSize", "partCount", "checksumAlgorithm"] {
        assert_eq!(answer[same], expected[same], "{same}");
    }
    let started: StartResponse = serde_json::from_value(answer).unwrap();
    assert_eq!(started.checksum_algorithm, ChecksumAlgorithm::Crc64nvme);
    assert!(processing::is_valid_upload_id(&started.upload_id));
    assert_eq!(started.upload_id.len(), 32);
    {
        // S3 was asked for exactly this upload, bound to the caller's key in the input bucket,
        // with the processing contract's id stored at creation.
        let uploads = store.uploads.lock().unwrap();
        let upload = &uploads[&started.multipart_upload_id];
        assert_eq!(
            (upload.bucket.as_str(), upload.key.as_str()),
            ("ddn-in-bucket", "users/alice/scans/survey 2026.tif")
        );
        assert_eq!(upload.content_type.as_deref(), Some("image/tiff"));
        assert_eq!(
            upload.metadata.get(processing::UPLOAD_ID_META),
            Some(&started.upload_id)
        );
        assert_eq!(upload.metadata.len(), 1);
    }
    let id = started.multipart_upload_id.clone();

    // URLs, with the contract's request for this upload.
    let mut request = contract_fixture("multipart_urls_request.json");
    request["multipartUploadId"] = json!(id);
    let (status, answer) = call(&service, URLS_PATH, request, ALICE).await;
    assert_eq!(status, 200, "{answer}");
    let expected = contract_fixture("multipart_urls_response.json");
    assert_eq!(field_names(&answer), field_names(&expected));
    for (actual, expected) in answer["parts"]
        .as_array()
        .unwrap()
        .iter()
        .zip(expected["parts"].as_array().unwrap())
    {
        assert_eq!(field_names(actual), field_names(expected));
        for same in ["partNumber", "headers", "expiresAt"] {
            assert_eq!(actual[same], expected[same], "{same}");
        }
        let (url, fixture_url) = (
            actual["url"].as_str().unwrap(),
            expected["url"].as_str().unwrap(),
        );
        assert_eq!(
            url.split_once('?').unwrap().0,
            fixture_url.split_once('?').unwrap().0
        );
        for name in ["partNumber", "X-Amz-Expires", "X-Amz-SignedHeaders"] {
            assert_eq!(query(url, name), query(fixture_url, name), "{name}");
        }
        assert_eq!(query(url, "uploadId"), id);
    }
    let urls: UrlsResponse = serde_json::from_value(answer).unwrap();
    assert_eq!(urls.parts.len(), 2);

    // Parts: the fixture's page starts after part 1000.
    let etag_1 = store.put_part(&id, 1, 8 * MIB, Some("Wqs5g1Y7yKM="));
    let etag_2 = store.put_part(&id, 2, 8 * MIB, None);
    store.put_part(&id, 1001, 8 * MIB, Some("Wqs5g1Y7yKM="));
    let mut request = contract_fixture("multipart_parts_request.json");
    request["multipartUploadId"] = json!(id);
    let (status, answer) = call(&service, PARTS_PATH, request, ALICE).await;
    assert_eq!(status, 200, "{answer}");
    let expected = contract_fixture("multipart_parts_page.json");
    assert_eq!(
        field_names(&answer["parts"][0]),
        field_names(&expected["parts"][0])
    );
    let page: PartsPage = serde_json::from_value(answer).unwrap();
    assert_eq!(page.parts.len(), 1);
    assert_eq!(
        (page.parts[0].part_number, page.parts[0].size),
        (1001, 8 * MIB)
    );
    assert_eq!(page.next_cursor, None);

    // Complete, with the contract's request naming this upload's parts.
    store
        .uploads
        .lock()
        .unwrap()
        .get_mut(&id)
        .unwrap()
        .parts
        .remove(&1001);
    let mut request = contract_fixture("multipart_complete_request.json");
    request["multipartUploadId"] = json!(id);
    request["uploadId"] = json!(started.upload_id);
    request["parts"][0]["etag"] = json!(etag_1);
    request["parts"][0]["crc64nvme"] = json!("Wqs5g1Y7yKM=");
    request["parts"][1]["etag"] = json!(etag_2);
    request["parts"][1]
        .as_object_mut()
        .unwrap()
        .remove("crc64nvme");
    let (status, answer) = call(&service, COMPLETE_PATH, request, ALICE).await;
    assert_eq!(status, 200, "{answer}");
    let expected = contract_fixture("multipart_complete_response.json");
    assert_eq!(field_names(&answer), field_names(&expected));
    assert_eq!(answer["key"], expected["key"]);
    let completed: CompleteResponse = serde_json::from_value(answer).unwrap();
    assert_eq!(completed.upload_id, started.upload_id);
    assert_eq!(completed.etag, "3858f62230ac3c915f300c664312c11f-2");
    assert_eq!(completed.uploaded_at, "2026-11-24T12:00:00Z");
    let object = store.completed.lock().unwrap()[&(
        "ddn-in-bucket".to_owned(),
        "users/alice/scans/survey 2026.tif".to_owned(),
    )]
        .clone();
    assert_eq!(object.size, 16 * MIB);
    assert!(store.uploads.lock().unwrap().is_empty());

    // Abort, with the contract's request for a new upload.
    let second = start(&service, ALICE, FILE, MIN_MULTIPART_SIZE).await;
    let mut request = contract_fixture("multipart_abort_request.json");
    request["multipartUploadId"] = json!(second.multipart_upload_id);
    let (status, answer) = call(&service, ABORT_PATH, request, ALICE).await;
    assert_eq!(
        (status, answer),
        (200, contract_fixture("multipart_abort_response.json"))
    );
    assert!(store.uploads.lock().unwrap().is_empty());
}

#[tokio::test]
async fn another_users_multipart_upload_id_is_no_such_upload() {
    let (service, store) = fresh();
    let bobs = start(&service, BOB, FILE, 40 * MIB).await;
    assert_eq!(bobs.key, "users/bob/scans/survey 2026.tif");
    let etag = store.put_part(&bobs.multipart_upload_id, 1, 40 * MIB, None);
    let id = bobs.multipart_upload_id.as_str();
    let expected_message = contract_fixture("error_no_such_upload.json")["error"]["message"]
        .as_str()
        .unwrap()
        .to_owned();

    // Alice, with the same file name and bob's id: the key is hers, and S3 holds no upload of
    // that id for it.
    let reference = json!({"file": FILE, "multipartUploadId": id});
    let requests = [
        (
            URLS_PATH,
            json!({"file": FILE, "multipartUploadId": id, "size": 40 * MIB,
                   "parts": [{"partNumber": 1}]}),
        ),
        (PARTS_PATH, reference.clone()),
        (
            COMPLETE_PATH,
            json!({"file": FILE, "multipartUploadId": id, "uploadId": bobs.upload_id,
                   "parts": [{"partNumber": 1, "etag": etag}]}),
        ),
    ];
    for (path, body) in requests {
        assert_eq!(
            refused(&service, path, body, ALICE).await,
            (404, ErrorCode::NoSuchUpload, expected_message.clone()),
            "{path}"
        );
    }
    // Her abort finds nothing to abort, and leaves bob's upload alone.
    let aborted: AbortResponse = ok(&service, ABORT_PATH, reference.clone(), ALICE).await;
    assert!(!aborted.aborted);
    // No URL was signed for her: S3 was asked about her own key, and refused.
    let calls = store.multipart_calls.lock().unwrap().clone();
    assert!(
        calls.contains(&format!("list_parts users/alice/{FILE} {id}")),
        "{calls:?}"
    );
    assert!(
        calls
            .iter()
            .all(|c| !c.contains("users/bob/") || c.starts_with("create"))
    );
    assert!(
        store
            .completed
            .lock()
            .unwrap()
            .keys()
            .all(|(_, key)| !key.starts_with("users/alice/")),
        "nothing of bob's was completed under alice's name"
    );

    // Bob's upload is still open and completes.
    let page: PartsPage = ok(&service, PARTS_PATH, reference, BOB).await;
    assert_eq!(page.parts.len(), 1);
    let completed: CompleteResponse = ok(
        &service,
        COMPLETE_PATH,
        json!({"file": FILE, "multipartUploadId": id, "uploadId": bobs.upload_id,
               "parts": [{"partNumber": 1, "etag": etag}]}),
        BOB,
    )
    .await;
    assert_eq!(completed.key, bobs.key);
}

#[tokio::test]
async fn multipart_routes_take_post_only_and_the_get_routes_get_only() {
    let (service, store) = fresh();
    for path in PATHS {
        for method in ["GET", "PUT", "DELETE", ""] {
            let mut request = post(
                path,
                &json!({"file": FILE, "size": MIN_MULTIPART_SIZE}),
                ALICE,
            );
            request.method = method.into();
            let response = service.handle(&request).await;
            let body: ErrorBody = serde_json::from_str(&response.body).unwrap();
            assert_eq!(
                (response.status, body.error.code),
                (405, ErrorCode::MethodNotAllowed),
                "{method} {path}"
            );
        }
    }
    assert!(store.multipart_calls.lock().unwrap().is_empty());
    // A trailing slash is the same route.
    let answer: StartResponse = ok(
        &service,
        "/multipart/start/",
        json!({"file": FILE, "size": MIN_MULTIPART_SIZE}),
        ALICE,
    )
    .await;
    assert_eq!(answer.plan.part_count, 2);
    for path in ["/presign", "/results"] {
        let mut request = request(&[("file", "a.png")], ALICE);
        request.path = path.into();
        request.method = "POST".into();
        assert_eq!(service.handle(&request).await.status, 405, "{path}");
    }
    // Over Lambda, the refusal names the method the route takes.
    let mut event = fixture("apigw_v2_multipart_start_base64.json");
    event["requestContext"]["http"]["method"] = json!("GET");
    let response = invoke(&service, event).await;
    assert_eq!(response.status_code, 405);
    assert_eq!(response.headers["allow"], "POST");
    let mut event = fixture("apigw_v2_http.json");
    event["requestContext"]["http"]["method"] = json!("POST");
    let response = invoke(&service, event).await;
    assert_eq!(response.status_code, 405);
    assert_eq!(response.headers["allow"], "GET");
}

#[tokio::test]
async fn start_takes_sizes_from_the_threshold_to_the_largest_object() {
    let (service, store) = fresh();
    let size = |size: u64| json!({"file": "big.bin", "size": size});

    for small in [0, 1, MIN_MULTIPART_SIZE - 1] {
        let (status, code, message) = refused(&service, START_PATH, size(small), ALICE).await;
        assert_eq!(
            (status, code),
            (400, ErrorCode::InvalidParameter),
            "{small}"
        );
        assert!(message.contains("/presign"), "{message}");
    }
    let at_threshold: StartResponse =
        ok(&service, START_PATH, size(MIN_MULTIPART_SIZE), ALICE).await;
    assert_eq!(
        (at_threshold.plan.part_size, at_threshold.plan.part_count),
        (8 * MIB, 2)
    );
    let largest: StartResponse = ok(&service, START_PATH, size(MAX_OBJECT_SIZE), ALICE).await;
    assert_eq!(largest.plan.part_count, 10_000);
    let (status, code, _) = refused(&service, START_PATH, size(MAX_OBJECT_SIZE + 1), ALICE).await;
    assert_eq!((status, code), (413, ErrorCode::TooLarge));
    assert_eq!(store.uploads.lock().unwrap().len(), 2);

    // Every start gets an id of its own.
    assert_ne!(at_threshold.upload_id, largest.upload_id);
    assert_ne!(
        at_threshold.multipart_upload_id,
        largest.multipart_upload_id
    );
}

#[tokio::test]
async fn start_checks_its_caller_name_and_content_type_before_s3_is_asked() {
    let (service, store) = fresh();
    let ok_size = MIN_MULTIPART_SIZE;
    let cases = [
        (
            json!({"file": "a.bin", "size": ok_size}),
            None,
            401,
            ErrorCode::Unauthorized,
        ),
        (
            json!({"file": "a.bin", "size": ok_size}),
            Some("Bearer stolen"),
            401,
            ErrorCode::Unauthorized,
        ),
        (
            json!({"file": "", "size": ok_size}),
            ALICE,
            400,
            ErrorCode::MissingFile,
        ),
        (
            json!({"file": "../bob/a.bin", "size": ok_size}),
            ALICE,
            400,
            ErrorCode::InvalidKey,
        ),
        (
            json!({"file": "a.bin", "size": ok_size, "contentType": "tiff"}),
            ALICE,
            400,
            ErrorCode::InvalidParameter,
        ),
        (
            json!({"file": "a.bin", "size": ok_size, "contentType": "image/tiff\r\nx-amz-acl: x"}),
            ALICE,
            400,
            ErrorCode::InvalidParameter,
        ),
        (
            json!({"file": "a.bin"}),
            ALICE,
            400,
            ErrorCode::InvalidParameter,
        ),
        (
            json!({"file": "a.bin", "size": -1}),
            ALICE,
            400,
            ErrorCode::InvalidParameter,
        ),
        (json!([1, 2]), ALICE, 400, ErrorCode::InvalidParameter),
    ];
    for (body, auth, status, code) in cases {
        let (actual_status, actual_code, _) =
            refused(&service, START_PATH, body.clone(), auth).await;
        assert_eq!((actual_status, actual_code), (status, code), "{body}");
    }
    // A body that is not JSON is refused without being repeated.
    let mut request = post(START_PATH, &json!({}), ALICE);
    request.body = "file=secret-name.bin&size=99".into();
    let response = service.handle(&request).await;
    assert_eq!(response.status, 400);
    assert!(!response.body.contains("secret-name"), "{}", response.body);
    assert!(store.multipart_calls.lock().unwrap().is_empty());
}

#[tokio::test]
async fn part_urls_sign_the_part_its_length_and_its_digests() {
    let (service, store) = fresh();
    // Three parts: 8 MiB, 8 MiB and 5 bytes.
    let size = 16 * MIB + 5;
    let started = start(&service, ALICE, "사진 모음.zip", size).await;
    let id = started.multipart_upload_id.as_str();
    let md5 = "tRdbUkl8v3cEhGYoAT1cgg==";
    let crc = "Wqs5g1Y7yKM=";
    let urls: UrlsResponse = ok(
        &service,
        URLS_PATH,
        json!({"file": "사진 모음.zip", "multipartUploadId": id, "size": size, "parts": [
            {"partNumber": 3, "md5": md5, "crc64nvme": crc},
            {"partNumber": 1},
            {"partNumber": 2, "crc64nvme": crc},
        ]}),
        ALICE,
    )
    .await;
    // In the order asked, each with exactly its headers signed.
    let numbers: Vec<u32> = urls.parts.iter().map(|p| p.part_number).collect();
    assert_eq!(numbers, [3, 1, 2]);
    let expected = [
        (
            "5",
            "content-length%3Bcontent-md5%3Bhost%3Bx-amz-checksum-crc64nvme",
            3,
        ),
        ("8388608", "content-length%3Bhost", 1),
        (
            "8388608",
            "content-length%3Bhost%3Bx-amz-checksum-crc64nvme",
            2,
        ),
    ];
    for (part, (length, signed, headers)) in urls.parts.iter().zip(expected) {
        let url = part.url.as_str();
        assert!(
            url.starts_with(
                "https://ddn-in-bucket.s3.us-east-1.amazonaws.com/users/alice/\
                 %EC%82%AC%EC%A7%84%20%EB%AA%A8%EC%9D%8C.zip?"
            ),
            "{}",
            ddn_presign::presign::redact_url(url)
        );
        assert_eq!(part.headers["content-length"], length);
        assert_eq!(part.headers.len(), headers);
        assert_eq!(query(url, "X-Amz-SignedHeaders"), signed);
        assert_eq!(query(url, "partNumber"), part.part_number.to_string());
        assert_eq!(query(url, "uploadId"), id);
        assert_eq!(query(url, "X-Amz-Expires"), "900");
        assert_eq!(part.expires_at, "2026-11-24T12:15:00Z");
    }
    assert_eq!(urls.parts[0].headers["content-md5"], md5);
    assert_eq!(urls.parts[0].headers["x-amz-checksum-crc64nvme"], crc);
    // Parts 1 and 2 differ only in their number and checksum header; parts signed alike for two
    // numbers get two signatures.
    let again: UrlsResponse = ok(
        &service,
        URLS_PATH,
        json!({"file": "사진 모음.zip", "multipartUploadId": id, "size": size,
               "parts": [{"partNumber": 1}, {"partNumber": 2}]}),
        ALICE,
    )
    .await;
    assert_eq!(
        again.parts[0].url, urls.parts[1].url,
        "signing is deterministic"
    );
    assert_ne!(
        query(&again.parts[0].url, "X-Amz-Signature"),
        query(&again.parts[1].url, "X-Amz-Signature")
    );
    // S3 was asked whether the upload is open for this key before each batch was signed.
    let calls = store.multipart_calls.lock().unwrap().clone();
    let asked = format!("list_parts users/alice/사진 모음.zip {id}");
    assert_eq!(
        calls.iter().filter(|c| **c == asked).count(),
        2,
        "{calls:?}"
    );
}

#[tokio::test]
async fn part_urls_live_at_most_fifteen_minutes() {
    for (configured, expected, expires_at) in [
        (3600, "900", "2026-11-24T12:15:00Z"),
        (900, "900", "2026-11-24T12:15:00Z"),
        (300, "300", "2026-11-24T12:05:00Z"),
    ] {
        let store = Arc::new(MemoryStore::default());
        let service = service_configured(tokens(), store, |config| {
            config.url_ttl = Duration::from_secs(configured);
        });
        let started = start(&service, ALICE, "a.bin", MIN_MULTIPART_SIZE).await;
        let urls: UrlsResponse = ok(
            &service,
            URLS_PATH,
            json!({"file": "a.bin", "multipartUploadId": started.multipart_upload_id,
                   "size": MIN_MULTIPART_SIZE, "parts": [{"partNumber": 2}]}),
            ALICE,
        )
        .await;
        assert_eq!(query(&urls.parts[0].url, "X-Amz-Expires"), expected);
        assert_eq!(urls.parts[0].expires_at, expires_at);
    }
}

#[tokio::test]
async fn part_numbers_and_digests_are_checked_before_s3_is_asked() {
    let (service, store) = fresh();
    let size = 3 * 8 * MIB; // parts 1 to 3
    let started = start(&service, ALICE, "a.bin", size).await;
    let id = started.multipart_upload_id.clone();
    let urls = |parts: Value| json!({"file": "a.bin", "multipartUploadId": id, "size": size, "parts": parts});
    let hundred_and_one: Vec<Value> = (1..=101).map(|n| json!({"partNumber": n})).collect();
    let cases = [
        urls(json!([])),
        urls(json!([{"partNumber": 0}])),
        urls(json!([{"partNumber": 4}])),
        urls(json!([{"partNumber": 2}, {"partNumber": 2}])),
        urls(json!([{"partNumber": 1, "md5": "abc"}])),
        urls(json!([{"partNumber": 1, "md5": "Wqs5g1Y7yKM="}])),
        urls(json!([{"partNumber": 1, "crc64nvme": "tRdbUkl8v3cEhGYoAT1cgg=="}])),
        urls(Value::Array(hundred_and_one)),
        // A size the start route would not have taken.
        json!({"file": "a.bin", "multipartUploadId": id, "size": 5, "parts": [{"partNumber": 1}]}),
        json!({"file": "a.bin", "multipartUploadId": "a b", "size": size, "parts": [{"partNumber": 1}]}),
        json!({"file": "a.bin", "multipartUploadId": "", "size": size, "parts": [{"partNumber": 1}]}),
    ];
    for body in cases {
        let (status, code, _) = refused(&service, URLS_PATH, body.clone(), ALICE).await;
        assert_eq!((status, code), (400, ErrorCode::InvalidParameter), "{body}");
    }
    let complete = |parts: Value| {
        json!({"file": "a.bin", "multipartUploadId": id, "uploadId": started.upload_id,
               "parts": parts})
    };
    let part = |n: u32| json!({"partNumber": n, "etag": "b5175b52497cbf770484662801354e82"});
    let cases = [
        complete(json!([])),
        complete(json!([part(2), part(1)])),
        complete(json!([part(1), part(1)])),
        complete(json!([part(1), part(3)])),
        complete(json!([part(0)])),
        complete(json!([{"partNumber": 1, "etag": ""}])),
        complete(json!([{"partNumber": 1, "etag": "\"quoted\""}])),
        complete(json!([{"partNumber": 1, "etag": "e", "crc64nvme": "short"}])),
        json!({"file": "a.bin", "multipartUploadId": id, "uploadId": "not an id",
               "parts": [part(1)]}),
        json!({"file": "a.bin", "multipartUploadId": id, "uploadId": started.upload_id,
               "parts": [part(1)], "crc64nvme": "tRdbUkl8v3cEhGYoAT1cgg=="}),
    ];
    for body in cases {
        let (status, code, _) = refused(&service, COMPLETE_PATH, body.clone(), ALICE).await;
        assert_eq!((status, code), (400, ErrorCode::InvalidParameter), "{body}");
    }
    let (status, code, _) = refused(
        &service,
        PARTS_PATH,
        json!({"file": "a.bin", "multipartUploadId": id, "cursor": 10_001}),
        ALICE,
    )
    .await;
    assert_eq!((status, code), (400, ErrorCode::InvalidParameter));
    // Only the start reached S3.
    assert_eq!(
        store.multipart_calls.lock().unwrap().as_slice(),
        ["create users/alice/a.bin"]
    );
}

#[tokio::test]
async fn parts_come_a_page_at_a_time() {
    let (service, store) = fresh();
    let size = 20 * 1024 * MIB; // 2,560 parts of 8 MiB
    let started = start(&service, ALICE, "a.bin", size).await;
    let id = started.multipart_upload_id.as_str();
    for n in 1..=1001 {
        store.put_part(id, n, 8 * MIB, None);
    }
    let page = |cursor: Option<u32>| {
        let mut body = json!({"file": "a.bin", "multipartUploadId": id});
        if let Some(cursor) = cursor {
            body["cursor"] = json!(cursor);
        }
        body
    };
    let first: PartsPage = ok(&service, PARTS_PATH, page(None), ALICE).await;
    assert_eq!(first.parts.len(), 1000);
    assert_eq!(first.parts[0].part_number, 1);
    assert_eq!(first.next_cursor, Some(1000));
    let second: PartsPage = ok(&service, PARTS_PATH, page(first.next_cursor), ALICE).await;
    let numbers: Vec<u32> = second.parts.iter().map(|p| p.part_number).collect();
    assert_eq!(numbers, [1001]);
    assert_eq!(second.next_cursor, None);
    assert_eq!(
        second.parts[0].etag,
        store.put_part(id, 1001, 8 * MIB, None)
    );
}

#[tokio::test]
async fn a_completion_whose_answer_was_lost_is_answered_again() {
    let (service, store) = fresh();
    let started = start(&service, ALICE, "a.bin", MIN_MULTIPART_SIZE).await;
    let id = started.multipart_upload_id.clone();
    let first = store.put_part(&id, 1, 8 * MIB, None);
    let second = store.put_part(&id, 2, 8 * MIB, None);
    let body = json!({"file": "a.bin", "multipartUploadId": id, "uploadId": started.upload_id,
                      "parts": [{"partNumber": 1, "etag": first}, {"partNumber": 2, "etag": second}]});
    let completed: CompleteResponse = ok(&service, COMPLETE_PATH, body.clone(), ALICE).await;
    assert_eq!(completed.uploaded_at, "2026-11-24T12:00:00Z");

    // The same completion again: S3 no longer holds the upload, but the object it made carries
    // this upload's id. The answer is the same, with S3's own time of the completion.
    let again: CompleteResponse = ok(&service, COMPLETE_PATH, body.clone(), ALICE).await;
    assert_eq!(
        (&again.key, &again.upload_id, &again.etag),
        (&completed.key, &completed.upload_id, &completed.etag)
    );
    assert_eq!(again.uploaded_at, "2026-11-24T11:59:30Z");
    assert!(
        store
            .calls
            .lock()
            .unwrap()
            .contains(&("ddn-in-bucket".to_owned(), "users/alice/a.bin".to_owned()))
    );

    // Another upload's id, or the object replaced by another upload: not this upload's object.
    let mut other = body.clone();
    other["uploadId"] = json!("0123456789abcdef0123456789abcdef");
    let (status, code, _) = refused(&service, COMPLETE_PATH, other, ALICE).await;
    assert_eq!((status, code), (404, ErrorCode::NoSuchUpload));
    store
        .completed
        .lock()
        .unwrap()
        .values_mut()
        .for_each(|meta| {
            meta.metadata
                .insert(processing::UPLOAD_ID_META.to_owned(), "replaced".to_owned());
        });
    let (status, code, _) = refused(&service, COMPLETE_PATH, body, ALICE).await;
    assert_eq!((status, code), (404, ErrorCode::NoSuchUpload));
}

#[tokio::test]
async fn parts_s3_refuses_are_invalid_part_in_plain_words() {
    let (service, store) = fresh();
    let started = start(&service, ALICE, "a.bin", MIN_MULTIPART_SIZE).await;
    let id = started.multipart_upload_id.clone();
    let first = store.put_part(&id, 1, 8 * MIB, Some("Wqs5g1Y7yKM="));
    let complete = |parts: Value| {
        json!({"file": "a.bin", "multipartUploadId": id, "uploadId": started.upload_id,
               "parts": parts})
    };
    let cases = [
        // Part 2 was never sent.
        complete(json!([{"partNumber": 1, "etag": first}, {"partNumber": 2, "etag": first}])),
        // Part 1 with another ETag, or another checksum.
        complete(json!([{"partNumber": 1, "etag": "0f343b0931126a20f133d67c2b018a3b"}])),
        complete(json!([{"partNumber": 1, "etag": first, "crc64nvme": "kqL1iTqZ3mU="}])),
    ];
    for body in cases {
        let (status, code, message) = refused(&service, COMPLETE_PATH, body.clone(), ALICE).await;
        assert_eq!((status, code), (400, ErrorCode::InvalidPart), "{body}");
        assert!(message.contains("list the parts"), "{message}");
        assert!(
            !message.contains("part 1 checksum"),
            "S3's words stay in the log"
        );
    }
    // A part below S3's 5 MiB that is not the last.
    let small = start(&service, ALICE, "b.bin", MIN_MULTIPART_SIZE).await;
    let tiny = store.put_part(&small.multipart_upload_id, 1, MIB, None);
    let last = store.put_part(&small.multipart_upload_id, 2, 8 * MIB, None);
    let (status, code, _) = refused(
        &service,
        COMPLETE_PATH,
        json!({"file": "b.bin", "multipartUploadId": small.multipart_upload_id,
               "uploadId": small.upload_id,
               "parts": [{"partNumber": 1, "etag": tiny}, {"partNumber": 2, "etag": last}]}),
        ALICE,
    )
    .await;
    assert_eq!((status, code), (400, ErrorCode::InvalidPart));
    // The upload stays open for the parts to be sent again.
    assert_eq!(store.uploads.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn aborting_an_upload_s3_no_longer_holds_is_not_an_error() {
    let (service, store) = fresh();
    let started = start(&service, ALICE, "a.bin", MIN_MULTIPART_SIZE).await;
    let body = json!({"file": "a.bin", "multipartUploadId": started.multipart_upload_id});
    let first: AbortResponse = ok(&service, ABORT_PATH, body.clone(), ALICE).await;
    assert!(first.aborted);
    assert!(store.uploads.lock().unwrap().is_empty());
    let again: AbortResponse = ok(&service, ABORT_PATH, body, ALICE).await;
    assert!(!again.aborted);
    let unknown: AbortResponse = ok(
        &service,
        ABORT_PATH,
        json!({"file": "a.bin", "multipartUploadId": "never-started"}),
        ALICE,
    )
    .await;
    assert!(!unknown.aborted);
    // After an abort, the upload is gone for every route.
    let (status, code, _) = refused(
        &service,
        URLS_PATH,
        json!({"file": "a.bin", "multipartUploadId": started.multipart_upload_id,
               "size": MIN_MULTIPART_SIZE, "parts": [{"partNumber": 1}]}),
        ALICE,
    )
    .await;
    assert_eq!((status, code), (404, ErrorCode::NoSuchUpload));
}

#[tokio::test]
async fn s3_failures_are_internal_errors_with_the_seed_message() {
    let failures: [fn() -> StoreError; 2] = [
        || StoreError::AccessDenied,
        || StoreError::Other("dispatch failure: connection refused".into()),
    ];
    for failure in failures {
        let store = Arc::new(MemoryStore {
            failure: Some(failure),
            ..MemoryStore::default()
        });
        let service = service_with(tokens(), store);
        let reference = json!({"file": "a.bin", "multipartUploadId": "mpu-1"});
        let bodies = [
            (
                START_PATH,
                json!({"file": "a.bin", "size": MIN_MULTIPART_SIZE}),
            ),
            (
                URLS_PATH,
                json!({"file": "a.bin", "multipartUploadId": "mpu-1", "size": MIN_MULTIPART_SIZE,
                       "parts": [{"partNumber": 1}]}),
            ),
            (PARTS_PATH, reference.clone()),
            (
                COMPLETE_PATH,
                json!({"file": "a.bin", "multipartUploadId": "mpu-1",
                       "uploadId": "0123456789abcdef0123456789abcdef",
                       "parts": [{"partNumber": 1, "etag": "e"}]}),
            ),
            (ABORT_PATH, reference),
        ];
        for (path, body) in bodies {
            assert_eq!(
                refused(&service, path, body, ALICE).await,
                (
                    500,
                    ErrorCode::Internal,
                    "Error generating presigned URL".into()
                ),
                "{path}"
            );
        }
    }
}
