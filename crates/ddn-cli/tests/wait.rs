//! `ddn wait` across runs, as a person at a terminal uses it: the result it fetches is the one of
//! the last upload from this computer, never one an earlier upload of the same name left on the
//! server; a file the processor gives up on ends the wait at once with its reason; and a wait holds
//! no transfer place.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

use ddn_localstack::{LocalStack, LocalStackOptions};

async fn start_stack(delay: Duration) -> LocalStack {
    LocalStack::start(LocalStackOptions {
        users: vec![("alice".into(), "alice-secret-token".into())],
        processing_delay: delay,
        poll_interval: Duration::from_millis(20),
        fail_matching: Some("*.bad".parse().unwrap()),
        ..LocalStackOptions::default()
    })
    .await
    .unwrap()
}

/// Runs `ddn ARGS` in `dir`, with the stack's address and token, and a record of uploads of its
/// own under `state` (so runs share it, as on one computer, and the user's own is left alone).
async fn ddn(stack: &LocalStack, dir: &Path, state: &Path, args: &[&str]) -> Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_ddn"))
        .args(args)
        .current_dir(dir)
        .env("DDN_API_URL", stack.api_url())
        .env("DDN_API_TOKEN", "alice-secret-token")
        .env("DDN_STATE_DIR", state)
        .output()
        .await
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs `ddn ARGS` and fails the test unless it succeeds; answers its standard output.
async fn ddn_ok(stack: &LocalStack, dir: &Path, state: &Path, args: &[&str]) -> String {
    let output = ddn(stack, dir, state, args).await;
    assert!(
        output.status.success(),
        "ddn {args:?}: {}",
        text(&output.stderr)
    );
    text(&output.stdout)
}

#[tokio::test]
async fn a_second_upload_is_waited_for_and_never_answered_with_the_first_result() {
    let stack = start_stack(Duration::from_secs(2)).await;
    let dir = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    let scan = dir.path().join("scan.png");

    std::fs::write(&scan, b"version A").unwrap();
    let output = ddn(&stack, dir.path(), state.path(), &["upload", "scan.png"]).await;
    assert!(output.status.success(), "{}", text(&output.stderr));
    let output = ddn(
        &stack,
        dir.path(),
        state.path(),
        &["wait", "scan.png", "-o", "a"],
    )
    .await;
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(
        std::fs::read(dir.path().join("a/scan.png")).unwrap(),
        b"version A"
    );

    std::fs::write(&scan, b"version B").unwrap();
    let output = ddn(&stack, dir.path(), state.path(), &["upload", "scan.png"]).await;
    assert!(output.status.success(), "{}", text(&output.stderr));
    let started = Instant::now();
    let output = ddn(
        &stack,
        dir.path(),
        state.path(),
        &["wait", "scan.png", "-o", "b"],
    )
    .await;
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(
        std::fs::read(dir.path().join("b/scan.png")).unwrap(),
        b"version B",
        "the second wait got the first upload's result"
    );
    assert!(
        started.elapsed() >= Duration::from_millis(1000),
        "it waited for the processor, which takes 2 s"
    );

    // Asked without the record (another computer), it says so and takes what is stored.
    let elsewhere = tempfile::tempdir().unwrap();
    let output = ddn(
        &stack,
        dir.path(),
        elsewhere.path(),
        &["download", "scan.png", "-o", "c"],
    )
    .await;
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(
        text(&output.stderr).contains("no upload of it from this computer is known"),
        "{}",
        text(&output.stderr)
    );
    stack.stop().await;
}

#[tokio::test]
async fn a_failed_processing_ends_the_wait_with_the_reason_and_exit_status_1() {
    let stack = start_stack(Duration::from_millis(100)).await;
    let dir = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("photo.bad"), b"cannot be read").unwrap();
    let output = ddn(
        &stack,
        dir.path(),
        state.path(),
        &["upload", "photo.bad", "--json"],
    )
    .await;
    assert!(output.status.success(), "{}", text(&output.stderr));
    let uploaded: serde_json::Value = serde_json::from_str(
        text(&output.stdout)
            .lines()
            .find(|line| line.contains("\"uploaded\""))
            .unwrap(),
    )
    .unwrap();
    let id = uploaded["uploadId"].as_str().unwrap().to_owned();

    let started = Instant::now();
    let output = ddn(
        &stack,
        dir.path(),
        state.path(),
        &["wait", "photo.bad", "-o", "out", "--timeout", "600"],
    )
    .await;
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("The file could not be processed") && stderr.contains("*.bad"),
        "{stderr}"
    );
    assert!(started.elapsed() < Duration::from_secs(60));
    assert!(!dir.path().join("out/photo.bad").exists());

    // The id printed by `upload --json` names the same upload from anywhere.
    let elsewhere = tempfile::tempdir().unwrap();
    let output = ddn(
        &stack,
        dir.path(),
        elsewhere.path(),
        &["wait", "photo.bad", "--upload-id", &id, "--json"],
    )
    .await;
    assert_eq!(output.status.code(), Some(1));
    assert!(
        text(&output.stdout).contains("\"kind\":\"processing_failed\""),
        "{}",
        text(&output.stdout)
    );
    stack.stop().await;
}

/// `ddn wait` holds no transfer place while a result is on its way: with one place (`--jobs 1`),
/// a name whose result is slow does not keep a ready one from downloading.
#[tokio::test]
async fn a_slow_result_does_not_hold_the_only_place_while_it_is_awaited() {
    let stack = start_stack(Duration::from_secs(2)).await;
    let dir = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("ready.txt"), b"processed already").unwrap();
    std::fs::write(dir.path().join("slow.txt"), b"still processing").unwrap();

    // `ready.txt` is processed before `slow.txt` is even sent.
    ddn_ok(&stack, dir.path(), state.path(), &["upload", "ready.txt"]).await;
    ddn_ok(
        &stack,
        dir.path(),
        state.path(),
        &["wait", "ready.txt", "-o", "first"],
    )
    .await;
    ddn_ok(&stack, dir.path(), state.path(), &["upload", "slow.txt"]).await;

    // `slow.txt` comes first, so it would take the only place if waiting took one.
    let stdout = ddn_ok(
        &stack,
        dir.path(),
        state.path(),
        &[
            "--jobs",
            "1",
            "--json",
            "wait",
            "slow.txt",
            "ready.txt",
            "-o",
            "out",
        ],
    )
    .await;
    let downloaded: Vec<String> = stdout
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|record| record["type"] == "downloaded")
        .map(|record| record["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        downloaded,
        ["ready.txt", "slow.txt"],
        "the ready result waited for the slow one: {stdout}"
    );
    assert_eq!(
        std::fs::read(dir.path().join("out/ready.txt")).unwrap(),
        b"processed already"
    );
    assert_eq!(
        std::fs::read(dir.path().join("out/slow.txt")).unwrap(),
        b"still processing"
    );
    stack.stop().await;
}
