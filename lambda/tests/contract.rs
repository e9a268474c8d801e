//! The processing contract, as the service keeps it: upload ids signed into sized uploads only,
//! and a download asked for with an upload id answered only with that upload's result, its
//! failure, or "not ready". Offline: metadata from an in-memory store, time from a fixed clock.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use common::*;
use ddn_api::{ChecksumAlgorithm, ErrorCode, processing};
use ddn_presign::store::ObjectMeta;

const KEY: &str = "users/alice/scan.png";
const MARKER: &str = "failed/users/alice/scan.png";

fn at(seconds: u64) -> Option<std::time::SystemTime> {
    Some(UNIX_EPOCH + Duration::from_secs(seconds))
}

fn object(upload_id: Option<&str>, written: u64, extra: &[(&str, &str)]) -> ObjectMeta {
    let mut metadata: BTreeMap<String, String> = extra
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    if let Some(id) = upload_id {
        metadata.insert(processing::UPLOAD_ID_META.to_owned(), id.to_owned());
    }
    ObjectMeta {
        size: 7,
        etag: Some("0123456789abcdef0123456789abcdef".into()),
        last_modified: at(written),
        metadata,
        ..ObjectMeta::default()
    }
}

fn store(objects: Vec<(&str, ObjectMeta)>) -> Arc<MemoryStore> {
    let mut store = MemoryStore::default();
    for (key, meta) in objects {
        store.objects.insert(key.to_owned(), meta);
    }
    Arc::new(store)
}

/// Asks alice's download of `scan.png` with these extra parameters; answers (status, code or
/// the answer's upload id, message).
async fn download(objects: Vec<(&str, ObjectMeta)>, extra: &[(&str, &str)]) -> (u16, String) {
    let service = service_with(tokens(), store(objects));
    let mut query = vec![("file", "scan.png"), ("mode", "download")];
    query.extend_from_slice(extra);
    let response = service
        .handle(&request(&query, Some("Bearer alice-token")))
        .await;
    if response.status == 200 {
        let answer: ddn_api::PresignResponse = serde_json::from_str(&response.body).unwrap();
        return (200, answer.upload_id.unwrap_or_default());
    }
    let body: ddn_api::ErrorBody = serde_json::from_str(&response.body).unwrap();
    (
        response.status,
        format!("{}: {}", body.error.code.as_str(), body.error.message),
    )
}

#[tokio::test]
async fn sized_uploads_get_an_id_signed_in_and_the_seed_shape_gets_none() {
    let service = service_with(tokens(), store(vec![]));
    let sized = |size: &'static str| {
        request(
            &[("file", "scan.png"), ("mode", "upload"), ("size", size)],
            Some("Bearer alice-token"),
        )
    };
    let first = ok_body(&to_proxy(service.handle(&sized("7")).await));
    let second = ok_body(&to_proxy(service.handle(&sized("7")).await));
    let id = first.upload_id.clone().unwrap();
    assert!(processing::is_valid_upload_id(&id));
    assert_ne!(
        Some(id.clone()),
        second.upload_id,
        "every upload has its own id"
    );
    assert_eq!(first.headers[processing::UPLOAD_ID_HEADER], id);
    let signed = query_value(&first.url, "X-Amz-SignedHeaders").unwrap();
    assert!(signed.contains("x-amz-meta-ddn-upload-id"), "{signed}");

    // The seed's request: no size, so no header its client would not send, and no id.
    let seed = service
        .handle(&request(
            &[("mode", "upload"), ("file", "scan.png")],
            Some("Bearer alice-token"),
        ))
        .await;
    let seed = ok_body(&to_proxy(seed));
    assert_eq!(seed.upload_id, None);
    assert!(seed.headers.is_empty(), "{:?}", seed.headers);
    assert_eq!(query_value(&seed.url, "X-Amz-SignedHeaders"), Some("host"));
}

/// What is stored, what is asked, the status and what the answer says.
type Case = (
    &'static str,
    Vec<(&'static str, ObjectMeta)>,
    Vec<(&'static str, &'static str)>,
    u16,
    &'static str,
);

#[tokio::test]
async fn a_result_is_handed_out_only_for_the_upload_it_answers() {
    let cases: Vec<Case> = vec![
        (
            "its own result",
            vec![(KEY, object(Some("b"), 100, &[]))],
            vec![("uploadId", "b")],
            200,
            "b",
        ),
        (
            "an earlier upload's result is not ready, however new",
            vec![(KEY, object(Some("a"), 500, &[]))],
            vec![("uploadId", "b"), ("uploadedAt", "1970-01-01T00:03:20Z")],
            404,
            "not_ready: The result is not ready yet; ask again in a few seconds.",
        ),
        (
            "nothing stored yet",
            vec![],
            vec![("uploadId", "b")],
            404,
            "not_ready: The result is not ready yet; ask again in a few seconds.",
        ),
        (
            "a result without an id, written after the upload",
            vec![(KEY, object(None, 201, &[]))],
            vec![("uploadId", "b"), ("uploadedAt", "1970-01-01T00:03:20Z")],
            200,
            "",
        ),
        (
            "a result without an id, written in the upload's second",
            vec![(KEY, object(None, 200, &[]))],
            vec![("uploadId", "b"), ("uploadedAt", "1970-01-01T00:03:20Z")],
            200,
            "",
        ),
        (
            "a result without an id, written before the upload",
            vec![(KEY, object(None, 199, &[]))],
            vec![("uploadId", "b"), ("uploadedAt", "1970-01-01T00:03:20Z")],
            404,
            "not_ready: The result is not ready yet; ask again in a few seconds.",
        ),
        (
            "a result without an id, and no upload time to compare with",
            vec![(KEY, object(None, 999, &[]))],
            vec![("uploadId", "b")],
            404,
            "not_ready: The result is not ready yet; ask again in a few seconds.",
        ),
        (
            "without an upload id, any stored result (the seed's behaviour)",
            vec![(KEY, object(Some("a"), 100, &[]))],
            vec![],
            200,
            "a",
        ),
    ];
    for (what, objects, extra, status, expected) in cases {
        assert_eq!(
            download(objects, &extra).await,
            (status, expected.to_owned()),
            "{what}"
        );
    }
}

#[tokio::test]
async fn a_failure_marker_for_the_upload_ends_the_wait_with_its_reason() {
    let marker = |id: &str, message: Option<&str>| {
        let extra: Vec<(&str, &str)> = message
            .map(|m| (processing::MESSAGE_META, m))
            .into_iter()
            .collect();
        object(Some(id), 300, &extra)
    };
    assert_eq!(
        download(
            vec![(
                MARKER,
                marker("b", Some("Unsupported%20format%3A%20%EC%82%AC%EC%A7%84%0A"))
            )],
            &[("uploadId", "b")]
        )
        .await,
        (
            422,
            "processing_failed: Unsupported format: 사진".to_owned()
        )
    );
    assert_eq!(
        download(vec![(MARKER, marker("b", None))], &[("uploadId", "b")]).await,
        (
            422,
            "processing_failed: The processor could not process this file.".to_owned()
        )
    );
    // Another upload's failure says nothing about this one.
    assert_eq!(
        download(
            vec![(MARKER, marker("a", Some("no")))],
            &[("uploadId", "b")]
        )
        .await
        .0,
        404
    );
    // The upload's own result wins over a marker (a processor that failed, then succeeded).
    assert_eq!(
        download(
            vec![
                (KEY, object(Some("b"), 400, &[])),
                (MARKER, marker("b", Some("no")))
            ],
            &[("uploadId", "b")]
        )
        .await,
        (200, "b".to_owned())
    );
    // Without an upload id, markers are not looked at: the answer is as it always was.
    assert_eq!(
        download(vec![(MARKER, marker("b", Some("no")))], &[])
            .await
            .0,
        404
    );
}

#[tokio::test]
async fn the_marker_is_looked_up_beside_the_callers_own_prefix_only() {
    let store = store(vec![]);
    let service = service_with(tokens(), store.clone());
    let response = service
        .handle(&request(
            &[("file", "scan.png"), ("uploadId", "b")],
            Some("Bearer bob-token"),
        ))
        .await;
    assert_eq!(response.status, 404);
    let calls = store.calls.lock().unwrap().clone();
    assert_eq!(
        calls,
        [
            ("ddn-out-bucket".to_owned(), "users/bob/scan.png".to_owned()),
            (
                "ddn-out-bucket".to_owned(),
                "failed/users/bob/scan.png".to_owned()
            ),
        ]
    );
}

#[tokio::test]
async fn malformed_upload_ids_and_times_are_refused() {
    for extra in [
        vec![("uploadId", "../x")],
        vec![("uploadId", "b"), ("uploadedAt", "yesterday")],
    ] {
        let (status, text) = download(vec![(KEY, object(Some("b"), 1, &[]))], &extra).await;
        assert_eq!(status, 400, "{extra:?}");
        assert!(text.starts_with("invalid_parameter"), "{text}");
    }
}

#[tokio::test]
async fn encrypted_results_name_a_checksum_s3_vouches_for_instead_of_their_etag() {
    let mut kms = object(Some("b"), 100, &[]);
    kms.encryption = Some("aws:kms".into());
    kms.checksums = vec![(ChecksumAlgorithm::Crc64nvme, "jSnVw/bqjr4=".into())];
    let service = service_with(tokens(), store(vec![(KEY, kms)]));
    let response = service
        .handle(&request(
            &[("file", "scan.png")],
            Some("Bearer alice-token"),
        ))
        .await;
    let answer = ok_body(&to_proxy(response));
    let checksum = answer.checksum.unwrap();
    assert_eq!(checksum.algorithm, ChecksumAlgorithm::Crc64nvme);
    assert_eq!(checksum.value, "jSnVw/bqjr4=");
    assert_eq!(
        answer.etag.as_deref(),
        Some("0123456789abcdef0123456789abcdef")
    );

    let plain = service_with(tokens(), store(vec![(KEY, object(None, 1, &[]))]));
    let response = plain
        .handle(&request(
            &[("file", "scan.png")],
            Some("Bearer alice-token"),
        ))
        .await;
    let checksum = ok_body(&to_proxy(response)).checksum.unwrap();
    assert_eq!(checksum.algorithm, ChecksumAlgorithm::Md5);
}

#[tokio::test]
async fn a_deployment_can_refuse_unsized_uploads() {
    let service = service_configured(tokens(), store(vec![]), |config| {
        config.require_size = true;
    });
    let (status, code, message) = error_of(&to_proxy(
        service
            .handle(&request(
                &[("mode", "upload"), ("file", "scan.png")],
                Some("Bearer alice-token"),
            ))
            .await,
    ));
    assert_eq!((status, code), (400, ErrorCode::InvalidParameter));
    assert!(message.contains("size"), "{message}");
    let sized = service
        .handle(&request(
            &[("mode", "upload"), ("file", "scan.png"), ("size", "1")],
            Some("Bearer alice-token"),
        ))
        .await;
    assert_eq!(sized.status, 200);
}
