//! The `ddn` binary as a script would use it, against the real local stack.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use ddn_localstack::{LocalStack, LocalStackOptions};
use ddn_testkit::loopback;
use ddn_testkit::s3::{self, Bucket};

async fn start_stack() -> LocalStack {
    LocalStack::start(LocalStackOptions {
        users: vec![("alice".into(), "alice-secret-token".into())],
        processing_delay: Duration::from_millis(800),
        poll_interval: Duration::from_millis(20),
        ..LocalStackOptions::default()
    })
    .await
    .unwrap()
}

/// Runs `ddn ARGS` with the stack's address and token in the environment.
async fn ddn(stack: &LocalStack, dir: &Path, args: &[&str]) -> Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_ddn"))
        .args(args)
        .current_dir(dir)
        .env("DDN_API_URL", stack.api_url())
        .env("DDN_API_TOKEN", "alice-secret-token")
        // The record of uploads goes beside the test's files, not into the user's data folder.
        .env("DDN_STATE_DIR", dir.join(".ddn-state"))
        .output()
        .await
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn json_lines(output: &Output) -> Vec<serde_json::Value> {
    text(&output.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

#[tokio::test]
async fn upload_download_wait_and_results() {
    let stack = start_stack().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.txt"), b"first file").unwrap();
    std::fs::write(dir.path().join("사진 1.png"), vec![7u8; 300_000]).unwrap();

    let output = ddn(
        &stack,
        dir.path(),
        &["upload", "a.txt", "사진 1.png", "--json"],
    )
    .await;
    assert!(output.status.success(), "{}", text(&output.stderr));
    let lines = json_lines(&output);
    let uploaded: Vec<&serde_json::Value> =
        lines.iter().filter(|l| l["type"] == "uploaded").collect();
    assert_eq!(uploaded.len(), 2);
    assert!(
        uploaded
            .iter()
            .any(|l| l["key"] == "users/alice/사진 1.png")
    );
    assert!(
        lines
            .iter()
            .any(|l| l["type"] == "event" && l["event"] == "progress")
    );

    // Not processed yet: fails at once, non-zero, and says what to do.
    let output = ddn(&stack, dir.path(), &["download", "a.txt", "-o", "out"]).await;
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("not ready yet") && stderr.contains("ddn wait a.txt"),
        "{stderr}"
    );

    let output = ddn(
        &stack,
        dir.path(),
        &["wait", "a.txt", "사진 1.png", "-o", "out"],
    )
    .await;
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(text(&output.stdout).contains("downloaded a.txt"));
    assert_eq!(
        std::fs::read(dir.path().join("out/a.txt")).unwrap(),
        b"first file"
    );
    assert_eq!(
        std::fs::read(dir.path().join("out/사진 1.png")).unwrap(),
        vec![7u8; 300_000]
    );

    let output = ddn(&stack, dir.path(), &["results"]).await;
    assert!(output.status.success());
    let table = text(&output.stdout);
    assert!(table.starts_with("NAME"), "{table}");
    assert!(
        table.contains("a.txt") && table.contains("사진 1.png"),
        "{table}"
    );

    let output = ddn(&stack, dir.path(), &["results", "--json"]).await;
    let names: Vec<String> = json_lines(&output)
        .iter()
        .map(|l| l["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["a.txt", "사진 1.png"]);

    let all = format!("{}{}", text(&output.stdout), text(&output.stderr));
    assert!(!all.contains("alice-secret-token") && !all.contains("X-Amz-Signature"));
    stack.stop().await;
}

#[tokio::test]
async fn smoke_checks_the_whole_path() {
    let stack = start_stack().await;
    let dir = tempfile::tempdir().unwrap();
    let output = ddn(&stack, dir.path(), &["smoke"]).await;
    let stdout = text(&output.stdout);
    assert!(output.status.success(), "{stdout}{}", text(&output.stderr));
    for line in [
        "upload: ",
        "processing wait: ",
        "download: ",
        "bytes identical: yes",
    ] {
        assert!(stdout.contains(line), "{stdout}");
    }
    let output = ddn(&stack, dir.path(), &["smoke", "--json"]).await;
    let record = json_lines(&output)
        .into_iter()
        .find(|l| l["type"] == "smoke")
        .unwrap();
    assert_eq!(record["identical"], true);
    assert!(record["waitMs"].as_u64().unwrap() >= 500, "{record}");
    stack.stop().await;
}

#[tokio::test]
async fn configuration_mistakes_get_clear_messages() {
    let stack = start_stack().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.txt"), b"x").unwrap();

    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_ddn"))
        .args(["upload", "a.txt"])
        .current_dir(dir.path())
        .env_remove("DDN_API_URL")
        .output()
        .await
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(text(&output.stderr).contains("pass --api-url or set DDN_API_URL"));

    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_ddn"))
        .args(["upload", "a.txt", "--token", "not-the-token"])
        .current_dir(dir.path())
        .env("DDN_API_URL", stack.api_url())
        .output()
        .await
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("The access token was not accepted"),
        "{stderr}"
    );
    assert!(!stderr.contains("not-the-token"));

    let output = ddn(&stack, dir.path(), &["upload", "missing.txt"]).await;
    assert_eq!(output.status.code(), Some(1));
    assert!(
        text(&output.stderr).contains("Could not read"),
        "{}",
        text(&output.stderr)
    );
    stack.stop().await;
}

/// Runs `ddn ARGS` in `dir` with `env`, every proxy variable pointing at `trap` so that any request
/// the command makes lands on this computer, where the test sees it.
async fn ddn_with_proxy_trap(
    dir: &Path,
    trap: &tokio::net::TcpListener,
    env: &[(&str, &str)],
    args: &[&str],
) -> Output {
    let proxy = format!("http://{}", trap.local_addr().unwrap());
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_ddn"));
    command
        .args(args)
        .current_dir(dir)
        .env_remove("DDN_API_URL")
        .env_remove("NO_PROXY")
        .env_remove("no_proxy")
        // No keyring either: a token must not be saved anywhere by a refused command.
        .env(
            "DBUS_SESSION_BUS_ADDRESS",
            "unix:path=/nonexistent/ddn-test-bus",
        );
    for name in [
        "http_proxy",
        "HTTP_PROXY",
        "https_proxy",
        "HTTPS_PROXY",
        "ALL_PROXY",
    ] {
        command.env(name, &proxy);
    }
    for (name, value) in env {
        command.env(name, value);
    }
    command.output().await.unwrap()
}

/// Whether anything connected to `trap` (the command has already ended).
async fn was_contacted(trap: &tokio::net::TcpListener) -> bool {
    tokio::time::timeout(Duration::from_millis(200), trap.accept())
        .await
        .is_ok()
}

#[tokio::test]
async fn tokens_are_never_sent_over_plain_http_to_another_computer() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("f"), b"x").unwrap();
    let trap = loopback::bind(0).await.unwrap();
    let token = [("DDN_API_TOKEN", "alice-secret-token")];

    for address in [
        "http://example.com",
        "http://127.0.0.1.example.com",
        "http://localhost@example.com",
    ] {
        let output = ddn_with_proxy_trap(
            dir.path(),
            &trap,
            &token,
            &["--api-url", address, "upload", "f"],
        )
        .await;
        assert_eq!(output.status.code(), Some(2), "{address}");
        let stderr = text(&output.stderr);
        assert!(
            stderr.contains("must start with https://") && stderr.contains("local stack"),
            "{stderr}"
        );
        assert!(!stderr.contains("alice-secret-token"));
        assert!(!was_contacted(&trap).await, "{address}: a request was made");
    }

    // `ddn login` checks the token with the service first: refused the same way, before it.
    let output = ddn_with_proxy_trap(
        dir.path(),
        &trap,
        &token,
        &["--api-url", "http://example.com", "login"],
    )
    .await;
    assert_eq!(output.status.code(), Some(2));
    assert!(text(&output.stderr).contains("must start with https://"));
    assert!(!was_contacted(&trap).await, "login made a request");
    // And when told not to check, it still saves nothing for such an address.
    let output = ddn_with_proxy_trap(
        dir.path(),
        &trap,
        &token,
        &["--api-url", "http://example.com", "login", "--no-check"],
    )
    .await;
    assert_eq!(output.status.code(), Some(2));
    let stderr = text(&output.stderr);
    assert!(stderr.contains("must start with https://"), "{stderr}");
}

#[tokio::test]
async fn two_files_of_one_name_are_refused_before_anything_is_sent() {
    let stack = start_stack().await;
    let dir = tempfile::tempdir().unwrap();
    for (folder, content) in [("a", b"version a"), ("b", b"version b")] {
        std::fs::create_dir(dir.path().join(folder)).unwrap();
        std::fs::write(dir.path().join(folder).join("x.png"), content).unwrap();
    }
    std::fs::write(dir.path().join("other.png"), b"other").unwrap();

    let output = ddn(
        &stack,
        dir.path(),
        &["upload", "other.png", "a/x.png", "b/x.png"],
    )
    .await;
    assert_eq!(output.status.code(), Some(2));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("a/x.png") && stderr.contains("b/x.png") && stderr.contains("x.png"),
        "{stderr}"
    );
    assert!(stderr.contains("nothing was sent"), "{stderr}");
    // Not even the file without a twin went.
    let stored = s3::keys(&stack, Bucket::Input).await;
    assert!(stored.is_empty(), "{stored:?}");

    // The same file named twice is the same conflict.
    let output = ddn(&stack, dir.path(), &["upload", "a/x.png", "a/x.png"]).await;
    assert_eq!(output.status.code(), Some(2));
    stack.stop().await;
}
