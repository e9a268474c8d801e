//! Whatever key a service answers with, a download lands inside the chosen folder under a plain
//! name. A fake presign API (the real one never sends such keys) returns hostile keys with a real,
//! working URL from the local S3 server.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use ddn_api::{HttpMethod, PresignResponse};
use ddn_localstack::{LocalStack, LocalStackOptions};
use ddn_presign::presign::{Presigner, UrlRequest};
use ddn_transfer::{ApiClient, CancellationToken, Engine, EngineOptions, http_client};
use http_body_util::Full;
use hyper::Response;
use hyper::service::service_fn;
use tokio::net::TcpListener;

/// Serves `answer` to every request; answers the base address.
async fn fake_api(answer: &PresignResponse) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let body = Bytes::from(serde_json::to_string(answer).unwrap());
    tokio::spawn(ddn_presign::http_server::serve_connections(
        listener,
        std::future::pending(),
        move || {
            let body = body.clone();
            service_fn(move |_| {
                let body = body.clone();
                async move { Ok::<_, Infallible>(Response::new(Full::new(body))) }
            })
        },
    ));
    format!("http://{address}")
}

#[tokio::test]
async fn hostile_keys_never_leave_the_results_folder() {
    let stack = LocalStack::start(LocalStackOptions::default())
        .await
        .unwrap();
    let content = b"result bytes".to_vec();
    let real_key = "users/dev/result.txt";
    stack
        .s3_client()
        .put_object()
        .bucket(stack.out_bucket())
        .key(real_key)
        .body(content.clone().into())
        .send()
        .await
        .unwrap();
    let url = Presigner::new(ddn_localstack::REGION, Some(stack.s3_url().to_owned()))
        .presign(
            stack.s3_credentials(),
            &UrlRequest {
                method: HttpMethod::Get,
                bucket: stack.out_bucket(),
                key: real_key,
                signed_headers: &[],
            },
            Duration::from_secs(600),
            SystemTime::now(),
        )
        .unwrap()
        .url;

    // A folder inside a folder, so that escaping one level would still be visible.
    let outer = tempfile::tempdir().unwrap();
    let results = outer.path().join("results");
    let cases = [
        ("users/dev/../../../../evil.txt", "evil.txt"),
        ("../evil.txt", "evil.txt"),
        ("/etc/passwd", "passwd"),
        ("..", "download"),
        ("C:\\Windows\\System32\\evil.dll", "evil.dll"),
        ("users/dev/CON", "_CON"),
        ("users/dev/a\u{0}b", "a_b"),
    ];
    for (key, expected) in cases {
        let answer = PresignResponse {
            url: url.clone(),
            method: HttpMethod::Get,
            key: key.to_owned(),
            headers: BTreeMap::new(),
            expires_at: "2099-01-01T00:00:00Z".into(),
            size: Some(content.len() as u64),
            etag: None,
            upload_id: None,
            checksum: None,
        };
        let api = ApiClient::new(http_client().unwrap(), &fake_api(&answer).await, None);
        let engine = Engine::new(api, EngineOptions::default());
        let downloaded = engine
            .download("anything", &results, &CancellationToken::new(), &|_| {})
            .await
            .unwrap();
        assert_eq!(downloaded.path, results.join(expected), "{key:?}");
        assert_eq!(std::fs::read(&downloaded.path).unwrap(), content);
        std::fs::remove_file(&downloaded.path).unwrap();
    }
    // Nothing was written next to the results folder or anywhere above it.
    let beside: Vec<_> = std::fs::read_dir(outer.path()).unwrap().collect();
    assert_eq!(beside.len(), 1, "only the results folder: {beside:?}");
    assert_eq!(std::fs::read_dir(&results).unwrap().count(), 0);
}
