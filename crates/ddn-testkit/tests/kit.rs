//! The test kit's own parts do what the tests built on them rely on: objects come back with
//! their metadata, presigned uploads send what was signed, test servers stop when dropped, the
//! fault proxy injects its faults in order, the keyring's entries and files can be read back,
//! and the display takes programs' windows.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;
use std::time::Duration;

use ddn_api::{ErrorCode, processing};
use ddn_localstack::{LocalStack, LocalStackOptions};
use ddn_testkit::display::Display;
use ddn_testkit::fault_proxy::{Fault, FaultProxy};
use ddn_testkit::http::{StatusCode, TestServer, response};
use ddn_testkit::s3::{self, Bucket, PutOptions};
use ddn_testkit::session_keyring::SessionKeyring;
use ddn_testkit::shaping_proxy::{Shape, ShapingProxy};

async fn stack() -> LocalStack {
    LocalStack::start(LocalStackOptions {
        // The processor stays away from these objects.
        processing_delay: Duration::from_secs(3600),
        ..LocalStackOptions::default()
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn objects_come_back_with_their_metadata_and_type_and_are_listed_in_order() {
    let stack = stack().await;
    s3::put_with(
        &stack,
        Bucket::Input,
        "users/dev/b.png",
        b"png",
        PutOptions {
            metadata: &[("note", "kept")],
            content_type: Some("image/png"),
        },
    )
    .await;
    s3::put(&stack, Bucket::Input, "users/dev/a.txt", "text").await;
    s3::put(&stack, Bucket::Output, "users/dev/elsewhere.txt", "x").await;

    let object = s3::get(&stack, Bucket::Input, "users/dev/b.png")
        .await
        .unwrap();
    assert_eq!(object.body, b"png");
    assert_eq!(
        object.metadata.get("note").map(String::as_str),
        Some("kept")
    );
    assert_eq!(object.content_type.as_deref(), Some("image/png"));
    assert_eq!(
        s3::get_bytes(&stack, Bucket::Input, "users/dev/a.txt").await,
        Some(b"text".to_vec())
    );
    assert_eq!(s3::get(&stack, Bucket::Input, "users/dev/none").await, None);
    assert_eq!(
        s3::keys(&stack, Bucket::Input).await,
        ["users/dev/a.txt", "users/dev/b.png"]
    );
    let url = s3::presigned_get(&stack, Bucket::Output, "users/dev/elsewhere.txt");
    assert_eq!(reqwest::get(&url).await.unwrap().text().await.unwrap(), "x");
    stack.stop().await;
}

#[tokio::test]
async fn a_presigned_upload_sends_the_signed_headers_and_a_refusal_keeps_its_error_body() {
    let stack = stack().await;
    let answer = s3::presign(
        stack.api_url(),
        stack.token(),
        &[("file", "a b.txt"), ("mode", "upload"), ("size", "5")],
    )
    .await
    .unwrap();
    assert_eq!(answer.key, "users/dev/a b.txt", "%20 is a space");
    let id = answer.upload_id.clone().unwrap();
    let stored = s3::put_presigned(&answer, "hello", &[]).await;
    assert_eq!(stored.status(), StatusCode::OK);
    let object = s3::get(&stack, Bucket::Input, &answer.key).await.unwrap();
    assert_eq!(object.body, b"hello");
    assert_eq!(object.metadata.get(processing::UPLOAD_ID_META), Some(&id));
    // The true length always goes, so a body of another length is refused.
    let refused = s3::put_presigned(&answer, "hello!", &[]).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);

    let (status, body) = s3::presign(stack.api_url(), "not-the-token", &[("file", "a")])
        .await
        .unwrap_err();
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body.error.code, ErrorCode::Unauthorized);
    stack.stop().await;
}

#[tokio::test]
async fn a_test_server_answers_until_dropped_unless_detached() {
    let server = TestServer::start(|request| {
        let path = request.uri().path().to_owned();
        async move { response(StatusCode::IM_A_TEAPOT, path) }
    })
    .await
    .unwrap();
    assert!(server.address().ip().is_loopback());
    let url = server.url();
    let answer = reqwest::get(format!("{url}/brew")).await.unwrap();
    assert_eq!(answer.status(), StatusCode::IM_A_TEAPOT);
    assert_eq!(answer.text().await.unwrap(), "/brew");
    drop(server);
    // The listener closes once the runtime has run the aborted task's end.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while reqwest::get(&url).await.is_ok() {
        assert!(
            std::time::Instant::now() < deadline,
            "still serving after drop"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    let detached = TestServer::answering("still here").await.unwrap().detach();
    let answer = reqwest::get(&detached).await.unwrap();
    assert_eq!(answer.text().await.unwrap(), "still here");
}

#[tokio::test]
async fn the_fault_proxy_injects_its_plan_in_order_then_passes_through() {
    let upstream = TestServer::answering("from upstream").await.unwrap();
    let proxy = FaultProxy::start().await.unwrap();
    proxy.set_upstream(&upstream.url());
    proxy.plan([Fault::Respond {
        status: 503,
        code: "SlowDown".into(),
    }]);
    // A fresh connection for each request, as the plan is one fault a connection.
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let refused = client.get(proxy.url()).send().await.unwrap();
    assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        refused
            .text()
            .await
            .unwrap()
            .contains("<Code>SlowDown</Code>")
    );
    let passed = client.get(proxy.url()).send().await.unwrap();
    assert_eq!(passed.text().await.unwrap(), "from upstream");
    assert_eq!(proxy.connections(), 2);
}

/// The proxy's shaping is checked from below only (a loaded machine can only make it slower):
/// a body of 2 MiB at 8 MiB/s takes at least a quarter of a second, an answer at least the delay
/// both ways, and every byte is counted.
#[tokio::test]
async fn the_shaping_proxy_delays_and_caps_each_connection_and_counts_what_it_carried() {
    let body = vec![7u8; 2 * 1024 * 1024];
    let upstream = TestServer::answering(body.clone()).await.unwrap();
    let shape = Shape {
        delay: Duration::from_millis(50),
        bytes_per_second: 8 * 1024 * 1024,
    };
    let proxy = ShapingProxy::start(shape).await.unwrap();
    proxy.set_upstream(&upstream.url()).unwrap();
    let started = std::time::Instant::now();
    let answer = reqwest::get(proxy.url()).await.unwrap();
    let first_byte = started.elapsed();
    let received = answer.bytes().await.unwrap();
    let whole = started.elapsed();
    assert_eq!(received.as_ref(), body.as_slice());
    assert!(first_byte >= Duration::from_millis(100), "{first_byte:?}");
    assert!(whole >= Duration::from_millis(250), "{whole:?}");
    assert!(proxy.downstream_bytes() >= body.len() as u64);
    assert!(proxy.upstream_bytes() > 0);
    assert_eq!(proxy.connections(), 1);
}

#[test]
fn the_session_keyring_reads_back_its_entries_and_finds_secrets_in_plain_files() {
    let keyring = SessionKeyring::start().unwrap();
    let address = "http://127.0.0.1:9/";
    assert_eq!(keyring.saved_token(address).unwrap(), None);

    // An entry as ddn-secrets names it: its service, and the normalized address as account.
    let account = ddn_secrets::account_for(address).unwrap();
    let secret = keyring.home().join("secret-input");
    std::fs::write(&secret, b"kit-token-7f3a").unwrap();
    let mut store = Command::new("secret-tool");
    let stored = keyring
        .apply(&mut store)
        .args(["store", "--label", "test entry", "service"])
        .args([ddn_secrets::KEYRING_SERVICE, "username", &account])
        .stdin(std::fs::File::open(&secret).unwrap())
        .status()
        .unwrap();
    assert!(stored.success());
    std::fs::remove_file(&secret).unwrap();
    assert_eq!(
        keyring.saved_token(address).unwrap().as_deref(),
        Some("kit-token-7f3a")
    );
    assert!(
        keyring.files_containing(b"kit-token-7f3a").is_empty(),
        "the keyring keeps it encrypted"
    );

    let planted = keyring.home().join("config/leak.txt");
    std::fs::write(&planted, b"a kit-token-7f3a in the clear").unwrap();
    assert_eq!(keyring.files_containing(b"kit-token-7f3a"), [planted]);
}

#[test]
fn the_display_takes_the_windows_of_programs_started_on_it() {
    let display = Display::start().unwrap();
    assert!(display.name().starts_with(':'), "{}", display.name());
    let output = display
        .command("xdotool")
        .arg("getdisplaygeometry")
        .output()
        .expect("xdotool (Debian package: xdotool)");
    assert!(output.status.success());
    assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "1024 768");
}
