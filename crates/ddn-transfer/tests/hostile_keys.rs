//! Whatever key a service answers with, a download lands inside the chosen folder under a plain
//! name. A fake presign API (the real one never sends such keys) returns hostile keys with a real,
//! working URL from the local S3 server.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;

use common::fake_api;
use ddn_api::{HttpMethod, PresignResponse};
use ddn_localstack::{LocalStack, LocalStackOptions};
use ddn_testkit::s3::{self, Bucket};
use ddn_transfer::{ApiClient, CancellationToken, Engine, EngineOptions, ResultOf, http_client};

#[tokio::test]
async fn hostile_keys_never_leave_the_results_folder() {
    let stack = LocalStack::start(LocalStackOptions::default())
        .await
        .unwrap();
    let content = b"result bytes".to_vec();
    let real_key = "users/dev/result.txt";
    s3::put(&stack, Bucket::Output, real_key, content.clone()).await;
    let url = s3::presigned_get(&stack, Bucket::Output, real_key);

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
            .download(
                "anything",
                &ResultOf::default(),
                &results,
                &CancellationToken::new(),
                &|_| {},
            )
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
