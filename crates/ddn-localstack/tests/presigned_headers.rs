//! The local S3 server refuses presigned requests that carry `x-amz-*` headers the URL's signature
//! does not cover, as S3 does: such a header changes what the request does (an unsigned
//! `x-amz-copy-source` turns an upload into a copy of any object the server can read), so a URL
//! handed to one user must not let them add one. Header-signed requests are unaffected.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use aws_sdk_s3::presigning::PresigningConfig;
use ddn_api::{HttpMethod, PresignResponse};
use ddn_localstack::{LocalStack, LocalStackOptions};
use ddn_testkit::s3::{self, Bucket, PutOptions, put_presigned};
use reqwest::StatusCode;

async fn two_user_stack() -> LocalStack {
    LocalStack::start(LocalStackOptions {
        users: vec![
            ("alice".into(), "alice-token".into()),
            ("bob".into(), "bob-token".into()),
        ],
        // Long enough that the processor does not touch these objects during a test.
        processing_delay: Duration::from_secs(60),
        ..LocalStackOptions::default()
    })
    .await
    .expect("the local stack starts")
}

/// Bob's real upload URL for `name`, from the stack's presign API.
async fn upload_url(stack: &LocalStack, token: &str, name: &str, size: usize) -> PresignResponse {
    let size = size.to_string();
    let answer = s3::presign(
        stack.api_url(),
        token,
        &[("file", name), ("mode", "upload"), ("size", &size)],
    )
    .await
    .expect("an upload URL");
    assert_eq!(answer.method, HttpMethod::Put);
    answer
}

async fn stored(stack: &LocalStack, key: &str) -> Option<Vec<u8>> {
    s3::get_bytes(stack, Bucket::Input, key).await
}

#[tokio::test]
async fn an_unsigned_copy_source_on_a_presigned_put_is_refused_and_copies_nothing() {
    let stack = two_user_stack().await;
    let secret = b"alice's secret";
    s3::put(&stack, Bucket::Input, "users/alice/secret.txt", secret).await;

    let body = b"bob's own file";
    let answer = upload_url(&stack, "bob-token", "x.txt", body.len()).await;
    assert_eq!(answer.key, "users/bob/x.txt");
    let copy_source = format!("{}/users/alice/secret.txt", stack.in_bucket());

    let refused = put_presigned(&answer, body, &[("x-amz-copy-source", &copy_source)]).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let text = refused.text().await.unwrap();
    assert!(text.contains("<Code>AccessDenied</Code>"), "{text}");
    assert!(text.contains("not signed"), "{text}");
    assert!(text.contains("x-amz-copy-source"), "{text}");
    assert_eq!(
        stored(&stack, "users/bob/x.txt").await,
        None,
        "nothing of alice's (nor anything else) lands in bob's folder"
    );

    // The very same URL, without the added header, is an ordinary upload.
    let accepted = put_presigned(&answer, body, &[]).await;
    assert_eq!(accepted.status(), StatusCode::OK);
    assert_eq!(
        stored(&stack, "users/bob/x.txt").await.as_deref(),
        Some(&body[..])
    );
    assert_eq!(
        stored(&stack, "users/alice/secret.txt").await.as_deref(),
        Some(&secret[..])
    );
    stack.stop().await;
}

#[tokio::test]
async fn any_unsigned_amz_header_on_a_presigned_request_is_refused() {
    let stack = two_user_stack().await;
    let body = b"hello";
    let answer = upload_url(&stack, "bob-token", "meta.txt", body.len()).await;
    let refused = put_presigned(&answer, body, &[("x-amz-meta-note", "added later")]).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let text = refused.text().await.unwrap();
    assert!(text.contains("x-amz-meta-note"), "{text}");
    assert_eq!(stored(&stack, "users/bob/meta.txt").await, None);
    stack.stop().await;
}

#[tokio::test]
async fn signed_amz_headers_on_a_presigned_request_pass() {
    let stack = two_user_stack().await;
    let body = b"signed metadata";
    // A URL that signs a user-metadata header, as upload URLs sign the upload id; made by the
    // SDK's own presigner, so the server is checked against a second signer.
    let presigned = stack
        .s3_client()
        .put_object()
        .bucket(stack.in_bucket())
        .key("users/bob/signed.txt")
        .metadata(ddn_api::processing::UPLOAD_ID_META, "0123abcd")
        .presigned(PresigningConfig::expires_in(Duration::from_secs(300)).unwrap())
        .await
        .unwrap();
    let answer = PresignResponse {
        url: presigned.uri().to_owned(),
        method: HttpMethod::Put,
        key: "users/bob/signed.txt".into(),
        headers: presigned
            .headers()
            .map(|(name, value)| (name.to_owned(), value.to_owned()))
            .collect(),
        expires_at: String::new(),
        size: None,
        etag: None,
        upload_id: None,
        checksum: None,
    };
    assert_eq!(
        answer.headers.get(ddn_api::processing::UPLOAD_ID_HEADER),
        Some(&"0123abcd".to_owned())
    );
    assert!(
        answer.url.contains("x-amz-meta-ddn-upload-id"),
        "the header is in X-Amz-SignedHeaders"
    );
    let accepted = put_presigned(&answer, body, &[]).await;
    assert_eq!(accepted.status(), StatusCode::OK);
    let stored = s3::get(&stack, Bucket::Input, "users/bob/signed.txt")
        .await
        .expect("the upload is stored");
    assert_eq!(
        stored.metadata.get(ddn_api::processing::UPLOAD_ID_META),
        Some(&"0123abcd".to_owned())
    );
    stack.stop().await;
}

#[tokio::test]
async fn header_signed_requests_keep_every_amz_header_they_sign() {
    // The SDK signs in the Authorization header, covering its x-amz-* headers: a copy between
    // keys and user metadata still work.
    let stack = two_user_stack().await;
    s3::put_with(
        &stack,
        Bucket::Input,
        "users/alice/a.txt",
        b"a",
        PutOptions {
            metadata: &[("note", "kept")],
            ..PutOptions::default()
        },
    )
    .await;
    stack
        .s3_client()
        .copy_object()
        .bucket(stack.in_bucket())
        .key("users/alice/b.txt")
        .copy_source(format!("{}/users/alice/a.txt", stack.in_bucket()))
        .send()
        .await
        .unwrap();
    assert_eq!(
        stored(&stack, "users/alice/b.txt").await.as_deref(),
        Some(&b"a"[..])
    );
    stack.stop().await;
}
