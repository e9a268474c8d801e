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

/// A CRC-64/NVME as S3 and the contract write it: base64 of its 8 bytes, big-endian.
fn crc64nvme_base64(bytes: &[u8]) -> String {
    let crc = crc_fast::checksum(crc_fast::CrcAlgorithm::Crc64Nvme, bytes);
    base64::engine::general_purpose::STANDARD.encode(crc.to_be_bytes())
}

/// Posts `body` to a multipart route as `token`; answers the status and the JSON body.
async fn post_multipart(
    stack: &LocalStack,
    path: &str,
    token: &str,
    body: &serde_json::Value,
) -> (StatusCode, serde_json::Value) {
    let response = reqwest::Client::new()
        .post(format!("{}{path}", stack.api_url()))
        .bearer_auth(token)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    let json = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}: {text}"));
    (status, json)
}

/// The successful answer of a multipart route, read as the contract's type.
async fn multipart_ok<T: serde::de::DeserializeOwned>(
    stack: &LocalStack,
    path: &str,
    token: &str,
    body: serde_json::Value,
) -> T {
    let (status, json) = post_multipart(stack, path, token, &body).await;
    assert_eq!(status, StatusCode::OK, "{path}: {json}");
    serde_json::from_value(json).unwrap()
}

/// Sends one part to its presigned URL with exactly its signed headers; answers the response.
async fn put_part(part: &ddn_api::multipart::PartUrl, url: &str, body: &[u8]) -> reqwest::Response {
    let mut request = reqwest::Client::new().put(url);
    for (name, value) in &part.headers {
        if name != "content-length" {
            request = request.header(name, value);
        }
    }
    request
        .header("content-length", body.len())
        .body(body.to_vec())
        .send()
        .await
        .unwrap()
}

/// A file cut by the service's plan, its parts sent to S3 through the URLs the service signed,
/// completed; answers the start and completion answers and the file.
async fn multipart_upload(
    stack: &LocalStack,
    token: &str,
    name: &str,
    size: u64,
) -> (
    ddn_api::multipart::StartResponse,
    Vec<ddn_api::multipart::CompletedPart>,
    Vec<u8>,
) {
    use ddn_api::multipart::{START_PATH, StartResponse, URLS_PATH, UrlsResponse};

    let body = sample_bytes(usize::try_from(size).unwrap(), size);
    let started: StartResponse = multipart_ok(
        stack,
        START_PATH,
        token,
        serde_json::json!({"file": name, "size": size, "contentType": "application/octet-stream"}),
    )
    .await;
    let plan = started.plan;
    assert!(plan.part_count >= 2);
    let asked: Vec<serde_json::Value> = plan
        .parts()
        .map(|part| {
            let bytes = &body[part.offset as usize..(part.offset + part.length) as usize];
            serde_json::json!({"partNumber": part.number, "md5": md5_base64(bytes),
                               "crc64nvme": crc64nvme_base64(bytes)})
        })
        .collect();
    let urls: UrlsResponse = multipart_ok(
        stack,
        URLS_PATH,
        token,
        serde_json::json!({"file": name, "multipartUploadId": started.multipart_upload_id,
                           "size": size, "parts": asked}),
    )
    .await;
    let mut completed = Vec::new();
    for (part, range) in urls.parts.iter().zip(plan.parts()) {
        assert_eq!(part.part_number, range.number);
        let bytes = &body[range.offset as usize..(range.offset + range.length) as usize];
        let response = put_part(part, &part.url, bytes).await;
        assert_eq!(
            response.status(),
            StatusCode::OK,
            "part {}: {}",
            part.part_number,
            response.text().await.unwrap()
        );
        let etag = response.headers()["etag"]
            .to_str()
            .unwrap()
            .trim_matches('"')
            .to_owned();
        completed.push(ddn_api::multipart::CompletedPart {
            part_number: part.part_number,
            etag,
            crc64nvme: part.headers.get("x-amz-checksum-crc64nvme").cloned(),
        });
    }
    (started, completed, body)
}

fn completion(
    name: &str,
    started: &ddn_api::multipart::StartResponse,
    parts: &[ddn_api::multipart::CompletedPart],
    body: &[u8],
) -> serde_json::Value {
    serde_json::to_value(ddn_api::multipart::CompleteRequest {
        upload: ddn_api::multipart::UploadRef {
            file: name.to_owned(),
            multipart_upload_id: started.multipart_upload_id.clone(),
        },
        upload_id: started.upload_id.clone(),
        parts: parts.to_vec(),
        crc64nvme: Some(crc64nvme_base64(body)),
    })
    .unwrap()
}

#[tokio::test]
async fn a_multipart_upload_reaches_s3_part_by_part_through_signed_urls() {
    use ddn_api::multipart::{COMPLETE_PATH, CompleteResponse, MIN_MULTIPART_SIZE, URLS_PATH};

    let stack = start_stack().await;
    let name = "large/스캔 묶음 #2.bin";
    // 8 MiB, 8 MiB and 1 MiB + 3 bytes.
    let size = MIN_MULTIPART_SIZE + 1024 * 1024 + 3;

    // A part URL opens that part of that upload only: another part number or upload id in it
    // breaks the signature. (Checked on a URL of its own, before the parts are sent.)
    let probe: ddn_api::multipart::StartResponse = multipart_ok(
        &stack,
        ddn_api::multipart::START_PATH,
        "alice-token",
        serde_json::json!({"file": "probe.bin", "size": MIN_MULTIPART_SIZE}),
    )
    .await;
    let urls: ddn_api::multipart::UrlsResponse = multipart_ok(
        &stack,
        URLS_PATH,
        "alice-token",
        serde_json::json!({"file": "probe.bin", "multipartUploadId": probe.multipart_upload_id,
                           "size": MIN_MULTIPART_SIZE, "parts": [{"partNumber": 1}]}),
    )
    .await;
    let part = &urls.parts[0];
    let bytes = sample_bytes(8 * 1024 * 1024, 5);
    for (from, to) in [
        ("partNumber=1&", "partNumber=2&"),
        ("uploadId=", "uploadId=0"),
    ] {
        let tampered = part.url.replacen(from, to, 1);
        assert_ne!(tampered, part.url);
        let response = put_part(part, &tampered, &bytes).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{from} -> {to}");
    }

    let (started, parts, body) = multipart_upload(&stack, "alice-token", name, size).await;
    assert_eq!(started.key, format!("users/alice/{name}"));
    assert_eq!(started.plan.part_count, 3);
    let completed: CompleteResponse = multipart_ok(
        &stack,
        COMPLETE_PATH,
        "alice-token",
        completion(name, &started, &parts, &body),
    )
    .await;
    assert_eq!(completed.key, started.key);
    assert_eq!(completed.upload_id, started.upload_id);
    assert!(completed.etag.ends_with("-3"), "{}", completed.etag);

    // The object is the file, with the upload's id stored at creation.
    let head = stack
        .s3_client()
        .head_object()
        .bucket(stack.in_bucket())
        .key(&started.key)
        .send()
        .await
        .unwrap();
    assert_eq!(head.content_length(), Some(i64::try_from(size).unwrap()));
    assert_eq!(
        head.metadata()
            .and_then(|m| m.get(ddn_api::processing::UPLOAD_ID_META)),
        Some(&started.upload_id)
    );
    assert_eq!(
        head.e_tag().map(|t| t.trim_matches('"')),
        Some(completed.etag.as_str())
    );
    let stored = s3::get(&stack, Bucket::Input, &started.key).await.unwrap();
    assert!(
        stored.body == body,
        "the assembled object differs from the file"
    );
    stack.stop().await;
}

/// What S3 itself enforces about multipart uploads, as the service relies on it: an upload id
/// opens its own key only, ListParts names each part's ETag, a completion is checked against the
/// whole file's CRC-64/NVME, and a completed upload is gone (a completion sent again is
/// recognised by the object it made).
#[tokio::test]
async fn s3_binds_multipart_uploads_to_their_key_and_checks_the_whole_file() {
    use ddn_api::multipart::{
        ABORT_PATH, AbortResponse, COMPLETE_PATH, CompleteResponse, MIN_MULTIPART_SIZE, PARTS_PATH,
        PartsPage, URLS_PATH,
    };

    let stack = start_stack().await;
    let name = "shared name.bin";
    let size = MIN_MULTIPART_SIZE + 7;
    let (started, parts, body) = multipart_upload(&stack, "alice-token", name, size).await;
    let reference =
        serde_json::json!({"file": name, "multipartUploadId": started.multipart_upload_id});

    // S3 lists what it holds, with the ETags the parts were answered with.
    let page: PartsPage = multipart_ok(&stack, PARTS_PATH, "alice-token", reference.clone()).await;
    let listed: Vec<(u32, String)> = page
        .parts
        .iter()
        .map(|p| (p.part_number, p.etag.clone()))
        .collect();
    let sent: Vec<(u32, String)> = parts
        .iter()
        .map(|p| (p.part_number, p.etag.clone()))
        .collect();
    assert_eq!(listed, sent);
    assert_eq!(page.parts[0].size, started.plan.part_size);
    assert_eq!(page.next_cursor, None);

    // Bob, with the same name and alice's id: his key, which S3 holds no such upload for.
    for (path, request) in [
        (
            URLS_PATH,
            serde_json::json!({"file": name, "multipartUploadId": started.multipart_upload_id,
                               "size": size, "parts": [{"partNumber": 1}]}),
        ),
        (PARTS_PATH, reference.clone()),
        (COMPLETE_PATH, completion(name, &started, &parts, &body)),
    ] {
        let (status, answer) = post_multipart(&stack, path, "bob-token", &request).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {answer}");
        assert_eq!(answer["error"]["code"], "no_such_upload", "{path}");
    }
    let aborted: AbortResponse =
        multipart_ok(&stack, ABORT_PATH, "bob-token", reference.clone()).await;
    assert!(!aborted.aborted);

    // A whole-file checksum the parts do not add up to is refused, and the upload stays open.
    let mut wrong = completion(name, &started, &parts, &body);
    wrong["crc64nvme"] = serde_json::json!(crc64nvme_base64(b"another file"));
    let (status, answer) = post_multipart(&stack, COMPLETE_PATH, "alice-token", &wrong).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert_eq!(answer["error"]["code"], "invalid_part");

    let request = completion(name, &started, &parts, &body);
    let completed: CompleteResponse =
        multipart_ok(&stack, COMPLETE_PATH, "alice-token", request.clone()).await;
    // The same completion again, as a client whose first answer was lost sends it.
    let again: CompleteResponse = multipart_ok(&stack, COMPLETE_PATH, "alice-token", request).await;
    assert_eq!((&again.key, &again.etag), (&completed.key, &completed.etag));
    assert_eq!(again.upload_id, started.upload_id);
    let aborted: AbortResponse = multipart_ok(&stack, ABORT_PATH, "alice-token", reference).await;
    assert!(!aborted.aborted);

    // The object keeps the whole file's CRC-64/NVME, which a download can check.
    let head = stack
        .s3_client()
        .head_object()
        .bucket(stack.in_bucket())
        .key(&started.key)
        .checksum_mode(aws_sdk_s3::types::ChecksumMode::Enabled)
        .send()
        .await
        .unwrap();
    assert_eq!(
        head.checksum_crc64_nvme(),
        Some(crc64nvme_base64(&body).as_str())
    );
    assert_eq!(
        s3::get(&stack, Bucket::Input, &started.key)
            .await
            .unwrap()
            .body,
        body
    );
    stack.stop().await;
}
