//! The handler, driven by stored Lambda events and by plain requests, offline: S3 metadata comes
//! from an in-memory store, time from a fixed clock. Each case names an input and the answer it
//! must get.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

use common::*;
use ddn_api::{ErrorBody, ErrorCode, HttpMethod, PresignResponse};
use ddn_presign::ApiRequest;
use ddn_presign::auth::Authenticator;
use ddn_presign::store::StoreError;
use serde_json::Value;

#[tokio::test]
async fn every_event_shape_gets_a_presigned_url() {
    let service = service_with(tokens(), store_with_alice_result());
    // (fixture, method, key, signed headers)
    let cases = [
        (
            "apigw_v1_rest.json",
            HttpMethod::Put,
            "users/alice/scan 01.png",
            "host",
        ),
        (
            "apigw_v2_http.json",
            HttpMethod::Get,
            "users/alice/scan 01.png",
            "host",
        ),
        (
            "function_url.json",
            HttpMethod::Put,
            "users/alice/scan 01.png",
            "content-length%3Bcontent-md5%3Bcontent-type%3Bhost%3Bx-amz-meta-ddn-upload-id",
        ),
        (
            "apigw_v2_named_stage.json",
            HttpMethod::Put,
            "users/bob/scan 01.png",
            "host",
        ),
    ];
    for (name, method, key, signed) in cases {
        let response = invoke(&service, fixture(name)).await;
        assert_eq!(
            response.headers["content-type"], "application/json",
            "{name}"
        );
        assert_eq!(response.headers["cache-control"], "no-store", "{name}");
        assert!(!response.is_base64_encoded);
        let answer = ok_body(&response);
        assert_eq!(answer.method, method, "{name}");
        assert_eq!(answer.key, key, "{name}");
        assert_eq!(answer.expires_at, "2026-11-24T13:00:00Z", "{name}");
        assert_eq!(
            query_value(&answer.url, "X-Amz-SignedHeaders"),
            Some(signed),
            "{name}"
        );
        let bucket = if method == HttpMethod::Put {
            "ddn-in-bucket"
        } else {
            "ddn-out-bucket"
        };
        assert!(
            answer.url.starts_with(&format!(
                "https://{bucket}.s3.us-east-1.amazonaws.com/users/"
            )),
            "{name}: {}",
            answer.url
        );
    }
}

#[tokio::test]
async fn answers_have_the_contract_fixtures_shape() {
    let service = service_with(tokens(), store_with_alice_result());
    let keys = |value: &Value| {
        let mut keys: Vec<String> = value.as_object().unwrap().keys().cloned().collect();
        keys.sort();
        keys
    };
    for (event, contract) in [
        ("function_url.json", "presign_upload_response.json"),
        ("apigw_v2_http.json", "presign_download_response.json"),
    ] {
        let response = invoke(&service, fixture(event)).await;
        let actual: Value = serde_json::from_str(&response.body).unwrap();
        let expected = contract_fixture(contract);
        assert_eq!(keys(&actual), keys(&expected), "{event}");
        assert_eq!(actual["key"], expected["key"]);
        assert_eq!(actual["expiresAt"], expected["expiresAt"]);
    }
    let download = ok_body(&invoke(&service, fixture("apigw_v2_http.json")).await);
    assert_eq!(download.size, Some(1_048_576));
    assert_eq!(
        download.etag.as_deref(),
        Some("b5175b52497cbf770484662801d5c82a")
    );
    let upload = ok_body(&invoke(&service, fixture("function_url.json")).await);
    assert_eq!(upload.headers["content-length"], "5");
    assert_eq!(upload.headers["content-md5"], "XUFAKrxLKna5cZ2REBfFkg==");
    assert_eq!(upload.headers["content-type"], "image/png");
}

#[tokio::test]
async fn the_seed_direct_invoke_payload_still_works_with_open_access() {
    let store = Arc::new(MemoryStore::default());
    let service = service_with(Authenticator::Open, store.clone());
    let response = invoke(&service, fixture("direct_invoke_upload.json")).await;
    // The seed's test script reads json.loads(resp["body"])["url"].
    let proxy = serde_json::to_value(&response).unwrap();
    assert_eq!(proxy["statusCode"], 200);
    let body: Value = serde_json::from_str(proxy["body"].as_str().unwrap()).unwrap();
    assert!(
        body["url"]
            .as_str()
            .unwrap()
            .contains("/users/anonymous/test.png?")
    );
    assert_eq!(body["method"], "PUT");

    let response = invoke(&service, fixture("direct_invoke_no_file.json")).await;
    assert_eq!(
        error_of(&response),
        (
            400,
            ErrorCode::MissingFile,
            "file parameter is required".into()
        )
    );

    let response = invoke(&service, fixture("direct_invoke_download.json")).await;
    assert_eq!(error_of(&response).1, ErrorCode::NotReady);
    assert_eq!(
        store.calls.lock().unwrap().as_slice(),
        [(
            "ddn-out-bucket".to_owned(),
            "users/anonymous/test.png".to_owned()
        )]
    );
}

/// Every error code, from the request that provokes it.
#[tokio::test]
async fn every_error_code_has_its_status() {
    let service = service_with(tokens(), store_with_alice_result());
    let alice = Some("Bearer alice-token");
    let too_big = (5u64 * 1024 * 1024 * 1024 + 1).to_string();
    let mut cases: Vec<(ApiRequest, u16, ErrorCode)> = vec![
        (
            request(&[("mode", "upload")], alice),
            400,
            ErrorCode::MissingFile,
        ),
        (
            request(&[("file", "../x"), ("mode", "upload")], alice),
            400,
            ErrorCode::InvalidKey,
        ),
        (
            request(&[("file", "a"), ("mode", "delete")], alice),
            400,
            ErrorCode::InvalidMode,
        ),
        (
            request(&[("file", "a"), ("mode", "upload"), ("size", "x")], alice),
            400,
            ErrorCode::InvalidParameter,
        ),
        (
            request(&[("file", "a"), ("mode", "upload"), ("md5", "abc")], alice),
            400,
            ErrorCode::InvalidParameter,
        ),
        (
            request(
                &[("file", "a"), ("mode", "upload"), ("contentType", "png")],
                alice,
            ),
            400,
            ErrorCode::InvalidParameter,
        ),
        (
            request(&[("file", "a")], None),
            401,
            ErrorCode::Unauthorized,
        ),
        (
            request(&[("file", "a")], Some("Bearer wrong")),
            401,
            ErrorCode::Unauthorized,
        ),
        (
            request(&[("file", "a")], Some("alice-token")),
            401,
            ErrorCode::Unauthorized,
        ),
        (
            request(&[("file", "not-yet.png")], alice),
            404,
            ErrorCode::NotReady,
        ),
        (
            request(
                &[("file", "a"), ("mode", "upload"), ("size", &too_big)],
                alice,
            ),
            413,
            ErrorCode::TooLarge,
        ),
    ];
    let mut other_route = request(&[("file", "a")], alice);
    other_route.path = "/admin".into();
    cases.push((other_route, 404, ErrorCode::NotFound));
    let mut post = request(&[("file", "a")], alice);
    post.method = "POST".into();
    cases.push((post, 405, ErrorCode::MethodNotAllowed));

    for (request, status, code) in cases {
        let response = service.handle(&request).await;
        let body: ErrorBody = serde_json::from_str(&response.body).unwrap();
        assert_eq!(
            (response.status, body.error.code),
            (status, code),
            "{request:?}"
        );
        assert!(!body.error.message.is_empty());
    }
}

#[tokio::test]
async fn the_size_limit_is_exactly_five_gib() {
    let service = service_with(tokens(), store_with_alice_result());
    let limit = (5u64 * 1024 * 1024 * 1024).to_string();
    let response = service
        .handle(&request(
            &[("file", "big.bin"), ("mode", "upload"), ("size", &limit)],
            Some("Bearer alice-token"),
        ))
        .await;
    assert_eq!(response.status, 200);
    let over = (5u64 * 1024 * 1024 * 1024 + 1).to_string();
    let response = service
        .handle(&request(
            &[("file", "big.bin"), ("mode", "upload"), ("size", &over)],
            Some("Bearer alice-token"),
        ))
        .await;
    let body: ErrorBody = serde_json::from_str(&response.body).unwrap();
    assert!(
        body.error.message.contains("multipart"),
        "{}",
        body.error.message
    );
}

#[tokio::test]
async fn store_failures_are_internal_errors_with_the_seed_message() {
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
        let response = service
            .handle(&request(&[("file", "a.png")], Some("Bearer alice-token")))
            .await;
        let body: ErrorBody = serde_json::from_str(&response.body).unwrap();
        assert_eq!(
            (response.status, body.error.code),
            (500, ErrorCode::Internal)
        );
        // Details stay in the log, as in the seed.
        assert_eq!(body.error.message, "Error generating presigned URL");
    }
}

#[tokio::test]
async fn a_user_never_reaches_another_users_objects() {
    let store = store_with_alice_result();
    let service = service_with(tokens(), store.clone());
    // Alice's result exists, but bob asking for the same name looks under his own prefix.
    let response = service
        .handle(&request(
            &[("file", "scan 01.png")],
            Some("Bearer bob-token"),
        ))
        .await;
    assert_eq!(response.status, 404);
    assert_eq!(
        store.calls.lock().unwrap().last().unwrap().1,
        "users/bob/scan 01.png"
    );
    // Climbing out of his prefix by name is refused before S3 is asked.
    for name in [
        "../alice/scan 01.png",
        "x/../../alice/scan 01.png",
        "/users/alice/scan 01.png",
    ] {
        let response = service
            .handle(&request(&[("file", name)], Some("Bearer bob-token")))
            .await;
        assert_eq!(response.status, 400, "{name}");
    }
    assert_eq!(store.calls.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn decomposed_korean_names_map_to_the_same_key() {
    let service = service_with(tokens(), store_with_alice_result());
    let nfc = service
        .handle(&request(
            &[("file", "한.png"), ("mode", "upload")],
            Some("Bearer alice-token"),
        ))
        .await;
    let nfd = service
        .handle(&request(
            &[("file", "\u{1112}\u{1161}\u{11AB}.png"), ("mode", "upload")],
            Some("Bearer alice-token"),
        ))
        .await;
    let nfc: PresignResponse = serde_json::from_str(&nfc.body).unwrap();
    let nfd: PresignResponse = serde_json::from_str(&nfd.body).unwrap();
    assert_eq!(nfc.key, "users/alice/한.png");
    assert_eq!(nfd.key, nfc.key);
    assert_eq!(nfd.url, nfc.url);
}

fn store_with_results(user: &str, names: &[&str]) -> Arc<MemoryStore> {
    let mut store = MemoryStore::default();
    for name in names {
        store.objects.insert(
            format!("users/{user}/{name}"),
            ddn_presign::store::ObjectMeta {
                size: name.len() as u64,
                etag: None,
                ..Default::default()
            },
        );
    }
    store.objects.insert(
        "users/bob/bobs-secret.png".into(),
        ddn_presign::store::ObjectMeta {
            size: 1,
            etag: None,
            ..Default::default()
        },
    );
    Arc::new(store)
}

#[tokio::test]
async fn results_are_listed_a_page_at_a_time_for_their_owner_only() {
    let store = store_with_results("alice", &["a.png", "b/c.png", "사진.png"]);
    let service = service_with(tokens(), store);
    let response = invoke(&service, fixture("apigw_v2_results.json")).await;
    assert_eq!(response.status_code, 200, "{}", response.body);
    let page: ddn_api::ResultsPage = serde_json::from_str(&response.body).unwrap();
    let names: Vec<&str> = page.results.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["a.png", "b/c.png"]);
    assert_eq!(page.results[0].size, 5);
    assert_eq!(page.results[0].last_modified, "2026-11-24T12:00:00Z");
    assert_eq!(page.next_cursor.as_deref(), Some("b/c.png"));

    let mut next = request(
        &[("limit", "2"), ("cursor", "b/c.png")],
        Some("Bearer alice-token"),
    );
    next.path = "/results".into();
    let response = service.handle(&next).await;
    let page: ddn_api::ResultsPage = serde_json::from_str(&response.body).unwrap();
    let names: Vec<&str> = page.results.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["사진.png"]);
    assert_eq!(page.next_cursor, None);

    let mut bob = request(&[], Some("Bearer bob-token"));
    bob.path = "/results".into();
    let page: ddn_api::ResultsPage =
        serde_json::from_str(&service.handle(&bob).await.body).unwrap();
    let names: Vec<&str> = page.results.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["bobs-secret.png"]);
}

#[tokio::test]
async fn the_results_route_checks_its_caller_and_parameters() {
    let service = service_with(tokens(), store_with_results("alice", &["a.png"]));
    let cases = [
        (request(&[], None), 401, ErrorCode::Unauthorized),
        (
            request(&[("limit", "0")], Some("Bearer alice-token")),
            400,
            ErrorCode::InvalidParameter,
        ),
        (
            request(&[("limit", "5000")], Some("Bearer alice-token")),
            400,
            ErrorCode::InvalidParameter,
        ),
    ];
    for (mut request, status, code) in cases {
        request.path = "/results".into();
        let response = service.handle(&request).await;
        let body: ErrorBody = serde_json::from_str(&response.body).unwrap();
        assert_eq!(
            (response.status, body.error.code),
            (status, code),
            "{request:?}"
        );
    }
}
