//! Round trips through the real local stack: the presign API over HTTP, the `s3s-fs` server (which
//! checks SigV4 signatures, expiry and Content-MD5) and the stand-in processor.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, SystemTime};

use base64::Engine as _;
use ddn_api::{ErrorBody, ErrorCode, HttpMethod, PresignResponse};
use ddn_localstack::{LocalStack, LocalStackOptions};
use ddn_presign::presign::{Presigner, UrlRequest};
use ddn_testkit::s3::{self, Bucket, put_presigned};
use ddn_testkit::samples::sample_bytes;
use md5::{Digest, Md5};
use reqwest::StatusCode;

async fn start_stack() -> LocalStack {
    LocalStack::start(LocalStackOptions {
        users: vec![
            ("alice".into(), "alice-token".into()),
            ("bob".into(), "bob-token".into()),
        ],
        processing_delay: Duration::from_millis(200),
        poll_interval: Duration::from_millis(50),
        ..LocalStackOptions::default()
    })
    .await
    .expect("the local stack starts")
}

fn md5_base64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(Md5::digest(bytes))
}

/// Asks the presign API. Values are percent-encoded with `%20` for spaces, as clients must.
async fn presign(
    stack: &LocalStack,
    token: &str,
    query: &[(&str, &str)],
) -> Result<PresignResponse, (StatusCode, ErrorBody)> {
    s3::presign(stack.api_url(), token, query).await
}

async fn put(answer: &PresignResponse, body: Vec<u8>) -> reqwest::Response {
    put_presigned(answer, body, &[]).await
}

async fn upload(stack: &LocalStack, token: &str, name: &str, body: &[u8]) -> PresignResponse {
    let size = body.len().to_string();
    let md5 = md5_base64(body);
    let answer = presign(
        stack,
        token,
        &[
            ("file", name),
            ("mode", "upload"),
            ("size", &size),
            ("md5", &md5),
            ("contentType", "application/octet-stream"),
        ],
    )
    .await
    .unwrap();
    let response = put(&answer, body.to_vec()).await;
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "{name}: {}",
        response.text().await.unwrap()
    );
    answer
}

/// Polls the download route until the processed result exists.
async fn wait_for_result(stack: &LocalStack, token: &str, name: &str) -> PresignResponse {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        match presign(stack, token, &[("file", name)]).await {
            Ok(answer) => return answer,
            Err((status, body)) => {
                assert_eq!(status, StatusCode::NOT_FOUND);
                assert_eq!(body.error.code, ErrorCode::NotReady);
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{name} was never processed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn get(url: &str) -> (StatusCode, Vec<u8>) {
    let response = reqwest::get(url).await.unwrap();
    (response.status(), response.bytes().await.unwrap().to_vec())
}

#[tokio::test]
async fn upload_process_download_returns_identical_bytes() {
    let stack = start_stack().await;
    for (name, len) in [
        ("scan 01.png", 300_000),
        ("결과 사진 #1 (최종)+.png", 1),
        ("empty.txt", 0),
    ] {
        let body = sample_bytes(len, len as u64);
        let uploaded = upload(&stack, "alice-token", name, &body).await;
        assert!(uploaded.key.starts_with("users/alice/"));

        let result = wait_for_result(&stack, "alice-token", name).await;
        assert_eq!(result.key, uploaded.key);
        assert_eq!(result.size, Some(len as u64));
        assert_eq!(result.etag, Some(hex::encode(Md5::digest(&body))));
        let (status, bytes) = get(&result.url).await;
        assert_eq!(status, StatusCode::OK);
        assert!(bytes == body, "{name}: downloaded bytes differ");
    }
    stack.stop().await;
}

#[tokio::test]
async fn expired_tampered_and_foreign_signatures_are_refused_by_s3() {
    let stack = start_stack().await;
    let key = "users/alice/result.bin";
    s3::put(&stack, Bucket::Output, key, b"processed").await;
    let presigner = Presigner::new(ddn_localstack::REGION, Some(stack.s3_url().to_owned()));
    let sign = |credentials: &aws_credential_types::Credentials, key: &str, at: SystemTime| {
        presigner
            .presign(
                credentials,
                &UrlRequest {
                    method: HttpMethod::Get,
                    bucket: stack.out_bucket(),
                    key,
                    signed_headers: &[],
                },
                Duration::from_secs(3600),
                at,
            )
            .unwrap()
            .url
    };
    let credentials = stack.s3_credentials().clone();

    let fresh = sign(&credentials, key, SystemTime::now());
    assert_eq!(get(&fresh).await, (StatusCode::OK, b"processed".to_vec()));

    // Signed two hours ago with a one-hour lifetime.
    let expired = sign(
        &credentials,
        key,
        SystemTime::now() - Duration::from_secs(7200),
    );
    assert_eq!(get(&expired).await.0, StatusCode::FORBIDDEN);

    // One character of the signature changed.
    let mut tampered = fresh.clone();
    let last = tampered.pop().unwrap();
    tampered.push(if last == '0' { '1' } else { '0' });
    assert_eq!(get(&tampered).await.0, StatusCode::FORBIDDEN);

    // The signature of one key does not open another.
    let moved = fresh.replace("/users/alice/result.bin", "/users/bob/result.bin");
    assert_ne!(moved, fresh);
    assert_eq!(get(&moved).await.0, StatusCode::FORBIDDEN);

    // A URL signed with a secret S3 does not know.
    let stranger = aws_credential_types::Credentials::new(
        credentials.access_key_id(),
        "not-the-secret",
        None,
        None,
        "test",
    );
    assert_eq!(
        get(&sign(&stranger, key, SystemTime::now())).await.0,
        StatusCode::FORBIDDEN
    );
    stack.stop().await;
}

#[tokio::test]
async fn s3_refuses_a_body_other_than_the_declared_one() {
    let stack = start_stack().await;
    let body = sample_bytes(10, 7);
    let size = body.len().to_string();
    let md5 = md5_base64(&body);
    let answer = presign(
        &stack,
        "alice-token",
        &[
            ("file", "declared.bin"),
            ("mode", "upload"),
            ("size", &size),
            ("md5", &md5),
        ],
    )
    .await
    .unwrap();

    // Longer and shorter bodies carry another Content-Length than the signed one.
    for other_len in [11, 9, 0] {
        let response = put(&answer, sample_bytes(other_len, 7)).await;
        assert_eq!(
            response.status(),
            StatusCode::FORBIDDEN,
            "length {other_len}"
        );
    }
    let stored = s3::get(&stack, Bucket::Input, &answer.key).await;
    assert!(stored.is_none(), "a refused body must not be stored");

    // Same length, other bytes: Content-MD5 no longer matches. (s3s-fs moves the object into
    // place before it compares the digest, unlike S3, so only the refusal is checked here.)
    let mut altered = body.clone();
    altered[3] ^= 0xFF;
    let response = put(&answer, altered).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(response.text().await.unwrap().contains("BadDigest"));

    // The declared body goes through with the same URL.
    assert_eq!(put(&answer, body).await.status(), StatusCode::OK);
    stack.stop().await;
}

#[tokio::test]
async fn one_user_cannot_reach_another_users_objects() {
    let stack = start_stack().await;
    let secret = sample_bytes(64, 1);
    upload(&stack, "alice-token", "secret.png", &secret).await;
    let alice_result = wait_for_result(&stack, "alice-token", "secret.png").await;

    // Same name, other user: bob's own prefix, where nothing is.
    let (status, body) = presign(&stack, "bob-token", &[("file", "secret.png")])
        .await
        .unwrap_err();
    assert_eq!(
        (status, body.error.code),
        (StatusCode::NOT_FOUND, ErrorCode::NotReady)
    );
    let (status, body) = presign(&stack, "bob-token", &[("file", "../alice/secret.png")])
        .await
        .unwrap_err();
    assert_eq!(
        (status, body.error.code),
        (StatusCode::BAD_REQUEST, ErrorCode::InvalidKey)
    );

    // Bob's upload URL pointed at alice's key is refused, and her object stays as it was.
    let bob = presign(
        &stack,
        "bob-token",
        &[("file", "secret.png"), ("mode", "upload")],
    )
    .await
    .unwrap();
    let mut hijack = bob.clone();
    hijack.url = bob.url.replace("/users/bob/", "/users/alice/");
    assert_eq!(
        put(&hijack, b"overwritten".to_vec()).await.status(),
        StatusCode::FORBIDDEN
    );
    let (_, bytes) = get(&alice_result.url).await;
    assert!(bytes == secret);

    // No token, no URL.
    let response = reqwest::get(format!("{}/presign?file=secret.png", stack.api_url()))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    stack.stop().await;
}

#[tokio::test]
async fn the_http_adapter_decodes_like_api_gateway() {
    let stack = start_stack().await;
    let client = reqwest::Client::new();
    let ask = |path_and_query: &str| {
        client
            .get(format!("{}{path_and_query}", stack.api_url()))
            .bearer_auth("alice-token")
            .send()
    };
    // `+` is a plus sign, `%20` a space.
    let response = ask("/presign?file=a+b%20c.png&mode=upload").await.unwrap();
    let answer: PresignResponse = serde_json::from_str(&response.text().await.unwrap()).unwrap();
    assert_eq!(answer.key, "users/alice/a+b c.png");

    let response = ask("/presign?file=%FF&mode=upload").await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let response = ask("/nothing-here").await.unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(response.headers()["cache-control"], "no-store");

    let response = client
        .post(format!("{}/presign?file=a", stack.api_url()))
        .bearer_auth("alice-token")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(response.headers()["allow"], "GET");
    stack.stop().await;
}

#[tokio::test]
async fn the_upload_id_is_stored_by_s3_and_a_result_is_matched_to_it() {
    let stack = start_stack().await;
    let body = sample_bytes(4096, 7);
    let answer = upload(&stack, "alice-token", "tied.bin", &body).await;
    let id = answer.upload_id.clone().unwrap();
    let input = s3::get(&stack, Bucket::Input, "users/alice/tied.bin")
        .await
        .unwrap();
    assert_eq!(
        input.metadata.get(ddn_api::processing::UPLOAD_ID_META),
        Some(&id)
    );

    // The id is signed in: a client that leaves the header out is refused, so an input can
    // never be stored under an id other than the one the service handed out.
    let mut bare = answer.clone();
    bare.headers.remove(ddn_api::processing::UPLOAD_ID_HEADER);
    let refused = put(&bare, body.clone()).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);

    // The stand-in processor copies the id onto the result, so it is that upload's.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    let result = loop {
        match presign(
            &stack,
            "alice-token",
            &[("file", "tied.bin"), ("uploadId", &id)],
        )
        .await
        {
            Ok(result) => break result,
            Err((status, _)) => assert_eq!(status, StatusCode::NOT_FOUND),
        }
        assert!(tokio::time::Instant::now() < deadline, "never processed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(result.upload_id.as_deref(), Some(id.as_str()));
    assert_eq!(get(&result.url).await, (StatusCode::OK, body));
    // Another upload's id gets "not ready", though a result is stored under the name.
    let (status, error) = presign(
        &stack,
        "alice-token",
        &[("file", "tied.bin"), ("uploadId", "someotherupload")],
    )
    .await
    .unwrap_err();
    assert_eq!(
        (status, error.error.code),
        (StatusCode::NOT_FOUND, ErrorCode::NotReady)
    );
    stack.stop().await;
}

/// The seed's scripts ask without `size` and `PUT` with `requests.put(url, data=f)`: a body with
/// its length and no other header. That must keep working, and such an upload gets no id.
#[tokio::test]
async fn the_seeds_unsized_upload_and_plain_put_still_work() {
    let stack = start_stack().await;
    let body = sample_bytes(10_000, 3);
    let answer = presign(
        &stack,
        "alice-token",
        &[("mode", "upload"), ("file", "seed.png")],
    )
    .await
    .unwrap();
    assert_eq!(answer.upload_id, None);
    assert!(answer.headers.is_empty(), "{:?}", answer.headers);
    // With no header to send, the upload is a body and its length, as `requests.put` sends it.
    let response = put(&answer, body.clone()).await;
    assert_eq!(response.status(), StatusCode::OK);
    let result = wait_for_result(&stack, "alice-token", "seed.png").await;
    assert_eq!(result.upload_id, None);
    assert_eq!(get(&result.url).await, (StatusCode::OK, body));
    stack.stop().await;
}
