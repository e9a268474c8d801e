//! Request bodies through both transports, offline: Lambda events of every shape carrying a body
//! as text or as base64, and the HTTP adapter reading one under its cap (a body it refuses is
//! never read whole: an endless body is cut off at the cap).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};

use base64::Engine as _;
use bytes::Bytes;
use common::*;
use ddn_api::multipart::{AbortResponse, MIN_MULTIPART_SIZE, START_PATH, StartResponse};
use ddn_api::{ErrorBody, ErrorCode};
use ddn_presign::http_server;
use ddn_presign::service::MAX_BODY_BYTES;
use http_body_util::{BodyExt as _, Full};
use hyper::body::{Body, Frame};
use serde_json::{Value, json};

fn base64(text: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(text)
}

#[tokio::test]
async fn every_event_shape_carries_its_body() {
    let store = Arc::new(MemoryStore::default());
    let service = service_with(tokens(), store.clone());
    // HTTP API with a base64 body, REST with a text body (on a named stage), Function URL with
    // a base64 body.
    for name in [
        "apigw_v2_multipart_start_base64.json",
        "apigw_v1_multipart_start.json",
    ] {
        let response = invoke(&service, fixture(name)).await;
        assert_eq!(response.status_code, 200, "{name}: {}", response.body);
        let started: StartResponse = serde_json::from_str(&response.body).unwrap();
        assert_eq!(started.key, "users/alice/scans/survey 2026.tif", "{name}");
        assert_eq!(started.plan.part_count, 256, "{name}");
    }
    let response = invoke(
        &service,
        fixture("function_url_multipart_abort_base64.json"),
    )
    .await;
    assert_eq!(response.status_code, 200, "{}", response.body);
    let aborted: AbortResponse = serde_json::from_str(&response.body).unwrap();
    assert!(!aborted.aborted);
    let calls = store.multipart_calls.lock().unwrap().clone();
    assert_eq!(
        calls,
        [
            "create users/alice/scans/survey 2026.tif",
            "create users/alice/scans/survey 2026.tif",
            "abort users/alice/scans/survey 2026.tif \
             VXBsb2FkIElEIGZvciBlbHZpbmcncyBteS1tb3ZpZS5tMnRzIHVwbG9hZA",
        ]
    );
}

#[tokio::test]
async fn event_bodies_that_cannot_be_read_are_refused() {
    let service = service_with(tokens(), Arc::new(MemoryStore::default()));
    let with_body = |body: Value, base64: bool| {
        let mut event = fixture("apigw_v2_multipart_start_base64.json");
        event["body"] = body;
        event["isBase64Encoded"] = json!(base64);
        event
    };
    let oversized = format!(
        r#"{{"file":"a.bin","size":{MIN_MULTIPART_SIZE},"pad":"{}"}}"#,
        "x".repeat(MAX_BODY_BYTES)
    );
    let not_text = base64::engine::general_purpose::STANDARD.encode([0xFF, 0xFE, b'{']);
    let cases = [
        (
            with_body(json!("not base64!"), true),
            400,
            ErrorCode::InvalidParameter,
        ),
        (
            with_body(json!(not_text), true),
            400,
            ErrorCode::InvalidParameter,
        ),
        (
            with_body(json!(oversized.clone()), false),
            413,
            ErrorCode::TooLarge,
        ),
        (
            with_body(json!(base64(&oversized)), true),
            413,
            ErrorCode::TooLarge,
        ),
        // No body at all, on a route that needs one.
        (
            with_body(Value::Null, false),
            400,
            ErrorCode::InvalidParameter,
        ),
    ];
    for (event, status, code) in cases {
        let response = invoke(&service, event).await;
        let (actual_status, actual_code, _) = error_of(&response);
        assert_eq!((actual_status, actual_code), (status, code));
    }
    // Exactly at the cap is read.
    let padding = MAX_BODY_BYTES - r#"{"file":"a.bin","size":16777216,"p":""}"#.len();
    let at_cap = format!(
        r#"{{"file":"a.bin","size":{MIN_MULTIPART_SIZE},"p":"{}"}}"#,
        "x".repeat(padding)
    );
    assert_eq!(at_cap.len(), MAX_BODY_BYTES);
    let response = invoke(&service, with_body(json!(base64(&at_cap)), true)).await;
    assert_eq!(response.status_code, 200, "{}", response.body);
}

/// A body that never ends, counting what it has handed out.
struct Endless {
    sent: Arc<AtomicUsize>,
}

impl Body for Endless {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        const CHUNK: usize = 64 * 1024;
        self.sent.fetch_add(CHUNK, Ordering::Relaxed);
        Poll::Ready(Some(Ok(Frame::data(Bytes::from(vec![b' '; CHUNK])))))
    }
}

fn http_request<B>(method: &str, path: &str, body: B) -> hyper::Request<B> {
    hyper::Request::builder()
        .method(method)
        .uri(path)
        .header("authorization", "Bearer alice-token")
        .body(body)
        .unwrap()
}

/// The status, `Allow` header and JSON body of an HTTP answer.
async fn read(response: hyper::Response<Full<Bytes>>) -> (u16, Option<String>, Value) {
    let status = response.status().as_u16();
    let allow = response
        .headers()
        .get("allow")
        .map(|v| v.to_str().unwrap().to_owned());
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, allow, serde_json::from_slice(&body).unwrap())
}

#[tokio::test]
async fn the_http_adapter_reads_bodies_under_a_cap() {
    let service = service_with(tokens(), Arc::new(MemoryStore::default()));
    let start = json!({"file": "a.bin", "size": MIN_MULTIPART_SIZE}).to_string();
    let (status, _, body) = read(
        http_server::answer(
            &service,
            http_request("POST", START_PATH, Full::<Bytes>::from(start)),
            1,
        )
        .await,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["partCount"], 2);

    // An endless body without a declared length is cut off just past the cap.
    let sent = Arc::new(AtomicUsize::new(0));
    let endless = Endless { sent: sent.clone() };
    let (status, _, body) =
        read(http_server::answer(&service, http_request("POST", START_PATH, endless), 2).await)
            .await;
    let error: ErrorBody = serde_json::from_value(body).unwrap();
    assert_eq!((status, error.error.code), (413, ErrorCode::TooLarge));
    let read_bytes = sent.load(Ordering::Relaxed);
    assert!(
        read_bytes > MAX_BODY_BYTES && read_bytes <= MAX_BODY_BYTES + 64 * 1024,
        "{read_bytes}"
    );

    // A declared length above the cap is refused before a byte is read.
    let sent = Arc::new(AtomicUsize::new(0));
    let mut request = http_request("POST", START_PATH, Endless { sent: sent.clone() });
    request.headers_mut().insert(
        "content-length",
        (MAX_BODY_BYTES + 1).to_string().parse().unwrap(),
    );
    let (status, _, _) = read(http_server::answer(&service, request, 3).await).await;
    assert_eq!(status, 413);
    assert_eq!(sent.load(Ordering::Relaxed), 0);

    // A body that is not UTF-8.
    let request = http_request("POST", START_PATH, Full::<Bytes>::from(vec![0xFF, 0xFE]));
    let (status, _, _) = read(http_server::answer(&service, request, 4).await).await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn the_http_adapter_names_each_routes_method() {
    let service = service_with(tokens(), store_with_alice_result());
    let cases = [
        ("GET", START_PATH, 405, Some("POST")),
        ("PUT", "/multipart/complete", 405, Some("POST")),
        ("POST", "/presign?file=a", 405, Some("GET")),
        ("DELETE", "/results", 405, Some("GET")),
        ("GET", "/presign?file=scan%2001.png", 200, None),
        ("GET", "/nothing", 404, None),
    ];
    for (method, path, status, allow) in cases {
        let response = http_server::answer(
            &service,
            http_request(method, path, Full::new(Bytes::new())),
            5,
        )
        .await;
        let (actual, actual_allow, _) = read(response).await;
        assert_eq!(
            (actual, actual_allow.as_deref()),
            (status, allow),
            "{method} {path}"
        );
    }
}
