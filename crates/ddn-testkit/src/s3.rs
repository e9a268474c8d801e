//! Objects on the local stack's S3 server, as the tests store, read and list them (with the
//! stack's own credentials, as the processor would), and the two requests a client makes around
//! them: asking the presign API for a URL, and sending a body to a presigned upload URL.
//!
//! The helpers panic, with the key and the error, when the server fails a request the test
//! depends on: they are for tests, where that is the failure to report.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use ddn_api::{ErrorBody, HttpMethod, PresignResponse};
use ddn_localstack::LocalStack;
use ddn_presign::presign::{Presigner, UrlRequest};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use reqwest::StatusCode;

/// One of the stack's two buckets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bucket {
    /// Where uploads land.
    Input,
    /// Where results (and failure markers) are written.
    Output,
}

impl Bucket {
    /// The bucket's name in `stack`.
    pub fn name(self, stack: &LocalStack) -> &str {
        match self {
            Self::Input => stack.in_bucket(),
            Self::Output => stack.out_bucket(),
        }
    }
}

/// What an object is stored with besides its bytes.
#[derive(Debug, Default, Clone, Copy)]
pub struct PutOptions<'a> {
    /// User metadata (`x-amz-meta-NAME`), as name and value.
    pub metadata: &'a [(&'a str, &'a str)],
    /// The `Content-Type`; S3's default when `None`.
    pub content_type: Option<&'a str>,
}

/// An object as read back from the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredObject {
    /// Its bytes.
    pub body: Vec<u8>,
    /// Its user metadata.
    pub metadata: HashMap<String, String>,
    /// Its `Content-Type`, when it has one.
    pub content_type: Option<String>,
}

/// Stores `body` under `key` in `bucket`.
///
/// # Panics
/// When the server refuses or fails the request.
pub async fn put(stack: &LocalStack, bucket: Bucket, key: &str, body: impl Into<Vec<u8>>) {
    put_with(stack, bucket, key, body, PutOptions::default()).await;
}

/// Stores `body` under `key` in `bucket` with the metadata and content type of `options`.
///
/// # Panics
/// When the server refuses or fails the request.
pub async fn put_with(
    stack: &LocalStack,
    bucket: Bucket,
    key: &str,
    body: impl Into<Vec<u8>>,
    options: PutOptions<'_>,
) {
    let mut request = stack
        .s3_client()
        .put_object()
        .bucket(bucket.name(stack))
        .key(key)
        .body(body.into().into())
        .set_content_type(options.content_type.map(str::to_owned));
    for (name, value) in options.metadata {
        request = request.metadata(*name, *value);
    }
    if let Err(error) = request.send().await {
        panic!("storing {key} in the {bucket:?} bucket failed: {error:?}");
    }
}

/// The object under `key` in `bucket`, or `None` when there is none. A read that fails is `None`
/// too: `s3s-fs` stores an object's checksum apart from its data, so a read racing a replacement
/// can fail its check, which for a test that polls means "not there yet".
pub async fn get(stack: &LocalStack, bucket: Bucket, key: &str) -> Option<StoredObject> {
    let object = stack
        .s3_client()
        .get_object()
        .bucket(bucket.name(stack))
        .key(key)
        .send()
        .await
        .ok()?;
    let metadata = object.metadata().cloned().unwrap_or_default();
    let content_type = object.content_type().map(str::to_owned);
    let body = object.body.collect().await.ok()?.into_bytes().to_vec();
    Some(StoredObject {
        body,
        metadata,
        content_type,
    })
}

/// The bytes of the object under `key` in `bucket`, or `None` as for [`get`].
pub async fn get_bytes(stack: &LocalStack, bucket: Bucket, key: &str) -> Option<Vec<u8>> {
    get(stack, bucket, key).await.map(|object| object.body)
}

/// Every key in `bucket` (one listing, so up to 1000), in S3's order (sorted).
///
/// # Panics
/// When the server fails the listing.
pub async fn keys(stack: &LocalStack, bucket: Bucket) -> Vec<String> {
    let listed = stack
        .s3_client()
        .list_objects_v2()
        .bucket(bucket.name(stack))
        .send()
        .await
        .unwrap_or_else(|error| panic!("listing the {bucket:?} bucket failed: {error:?}"));
    listed
        .contents()
        .iter()
        .filter_map(|object| object.key().map(str::to_owned))
        .collect()
}

/// A working download URL for `key` in `bucket`, signed with the stack's credentials for ten
/// minutes, as the presign service would sign it.
///
/// # Panics
/// When the key cannot be signed (it cannot, for any key the server accepts).
pub fn presigned_get(stack: &LocalStack, bucket: Bucket, key: &str) -> String {
    Presigner::new(ddn_localstack::REGION, Some(stack.s3_url().to_owned()))
        .presign(
            stack.s3_credentials(),
            &UrlRequest {
                method: HttpMethod::Get,
                bucket: bucket.name(stack),
                key,
                signed_headers: &[],
            },
            Duration::from_secs(600),
            SystemTime::now(),
        )
        .unwrap_or_else(|error| panic!("signing a URL for {key} failed: {error:?}"))
        .url
}

/// Asks the presign API at `api_url` (`GET /presign`) with the bearer `token` and `query`, its
/// values percent-encoded with `%20` for spaces, as clients must. The answer, or the status and
/// error body of a refusal.
///
/// # Panics
/// When the API cannot be reached or answers something that is neither.
pub async fn presign(
    api_url: &str,
    token: &str,
    query: &[(&str, &str)],
) -> Result<PresignResponse, (StatusCode, ErrorBody)> {
    let query: Vec<String> = query
        .iter()
        .map(|(name, value)| format!("{name}={}", utf8_percent_encode(value, NON_ALPHANUMERIC)))
        .collect();
    let response = reqwest::Client::new()
        .get(format!("{api_url}/presign?{}", query.join("&")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap_or_else(|error| panic!("the presign API did not answer: {error}"));
    let status = response.status();
    let text = response
        .text()
        .await
        .unwrap_or_else(|error| panic!("the presign API's answer was cut: {error}"));
    let unreadable = |error: serde_json::Error| -> ! {
        panic!("the presign API answered {status} with {text:?}: {error}")
    };
    if status == StatusCode::OK {
        Ok(serde_json::from_str(&text).unwrap_or_else(|error| unreadable(error)))
    } else {
        Err((
            status,
            serde_json::from_str(&text).unwrap_or_else(|error| unreadable(error)),
        ))
    }
}

/// Sends `body` to the presigned upload URL of `answer` as a client does: every header the
/// answer lists, `Content-Length` always the body's true length (also for an empty body, which
/// HTTP clients may send without one: a body of another length than the signed one must be
/// refused by S3, not sent dishonestly), then the `extra` headers.
///
/// # Panics
/// When `answer` is not an upload (`PUT`), or the request cannot be sent.
pub async fn put_presigned(
    answer: &PresignResponse,
    body: impl Into<Vec<u8>>,
    extra: &[(&str, &str)],
) -> reqwest::Response {
    assert_eq!(answer.method, HttpMethod::Put, "an upload URL");
    let body = body.into();
    let mut request = reqwest::Client::new().put(&answer.url);
    for (name, value) in &answer.headers {
        if name != "content-length" {
            request = request.header(name, value);
        }
    }
    request = request.header("content-length", body.len());
    for (name, value) in extra {
        request = request.header(*name, *value);
    }
    request
        .body(body)
        .send()
        .await
        .unwrap_or_else(|error| panic!("the upload could not be sent: {error}"))
}
