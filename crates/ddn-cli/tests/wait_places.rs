//! `ddn wait` holds no transfer place while a result is on its way: with one place (`--jobs 1`),
//! a name whose result is slow does not keep a ready one from downloading.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use ddn_localstack::{LocalStack, LocalStackOptions};

/// Runs `ddn ARGS` in `dir` against `stack`, with a record of uploads of its own under `state`.
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
async fn a_slow_result_does_not_hold_the_only_place_while_it_is_awaited() {
    let stack = LocalStack::start(LocalStackOptions {
        users: vec![("alice".into(), "alice-secret-token".into())],
        processing_delay: Duration::from_secs(2),
        poll_interval: Duration::from_millis(20),
        ..LocalStackOptions::default()
    })
    .await
    .unwrap();
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
