//! The local stack as a user meets it: the `ddn-local` binary starts, tells where it is, serves, and
//! stops cleanly on Ctrl-C; `--fail-matching` and `DDN_LOCAL_FAIL_MATCHING` reach the processor;
//! the processor copies new and re-uploaded objects.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ddn_localstack::{LocalStack, LocalStackOptions};
use ddn_testkit::s3::{self, Bucket};

#[test]
fn ddn_local_prints_its_address_and_token_and_stops_on_ctrl_c() {
    let dir = tempfile::tempdir().unwrap();
    let (child, info) = start_ddn_local(dir.path(), &[], &[]);
    let ready = dir.path().join("ready.json");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&ready).unwrap().permissions().mode();
        assert_eq!(
            mode & 0o077,
            0,
            "the ready file holds the token: owner only"
        );
    }
    let api = info["apiUrl"].as_str().unwrap().to_owned();
    let token = info["token"].as_str().unwrap().to_owned();
    assert!(api.starts_with("http://127.0.0.1:"), "{api}");
    assert_eq!(token.len(), 48);

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let status = runtime.block_on(async {
        reqwest::Client::new()
            .get(format!("{api}/presign?file=hello.txt&mode=upload"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .status()
    });
    assert_eq!(status, 200);

    let stdout = interrupt_and_collect_stdout(child);
    assert!(stdout.contains(&format!("API:     {api}")), "{stdout}");
    assert!(stdout.contains(&format!("Token:   {token}")), "{stdout}");
    assert!(stdout.contains("Stopping..."), "{stdout}");
    assert!(
        !stdout.contains("Fails:"),
        "no file is failed unless asked: {stdout}"
    );
    // The data folder it was given is kept, with both buckets.
    assert!(dir.path().join("data/ddn-in-bucket").is_dir());
    assert!(dir.path().join("data/ddn-out-bucket").is_dir());
}

#[tokio::test]
async fn the_processor_copies_new_and_changed_objects_after_the_delay() {
    let stack = LocalStack::start(LocalStackOptions {
        processing_delay: Duration::from_millis(300),
        poll_interval: Duration::from_millis(20),
        ..LocalStackOptions::default()
    })
    .await
    .unwrap();
    let key = "users/dev/2026/사진 1.png";
    let put = |body: &'static [u8]| s3::put(&stack, Bucket::Input, key, body);
    // A read that fails (s3s-fs may fail one racing a replacement) is "not there yet".
    let output = || s3::get_bytes(&stack, Bucket::Output, key);
    let wait_for = |expected: &'static [u8]| async move {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if output().await.as_deref() == Some(expected) {
                return;
            }
            assert!(Instant::now() < deadline, "never copied {expected:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };

    let uploaded = Instant::now();
    put(b"first").await;
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(output().await, None, "copied before the delay");
    wait_for(b"first").await;
    assert!(uploaded.elapsed() >= Duration::from_millis(300));

    // A later upload under the same key (another size) is processed again.
    put(b"second version").await;
    wait_for(b"second version").await;
    stack.stop().await;
}

/// A running `ddn-local`, killed if a test fails before it stops it, so none outlives its test.
struct DdnLocal(Option<Child>);

impl Drop for DdnLocal {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Starts `ddn-local` on free ports with its data in `dir`, and waits for its ready file.
fn start_ddn_local(
    dir: &Path,
    args: &[&str],
    envs: &[(&str, &str)],
) -> (DdnLocal, serde_json::Value) {
    let ready = dir.join("ready.json");
    let child = Command::new(env!("CARGO_BIN_EXE_ddn-local"))
        .args([
            "--api-port",
            "0",
            "--s3-port",
            "0",
            "--processing-delay-ms",
            "50",
        ])
        .args(args)
        .envs(envs.iter().copied())
        .arg("--ready-file")
        .arg(&ready)
        .arg("--data-dir")
        .arg(dir.join("data"))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let child = DdnLocal(Some(child));
    let deadline = Instant::now() + Duration::from_secs(30);
    while !ready.exists() {
        assert!(Instant::now() < deadline, "ddn-local never became ready");
        std::thread::sleep(Duration::from_millis(20));
    }
    let info = serde_json::from_str(&std::fs::read_to_string(&ready).unwrap()).unwrap();
    (child, info)
}

/// Uploads `body` as `name` through the presign API and a presigned PUT, as a client does.
async fn upload(info: &serde_json::Value, name: &str, body: &[u8]) {
    let size = body.len().to_string();
    let answer = s3::presign(
        info["apiUrl"].as_str().unwrap(),
        info["token"].as_str().unwrap(),
        &[("file", name), ("mode", "upload"), ("size", &size)],
    )
    .await
    .unwrap();
    let status = s3::put_presigned(&answer, body, &[]).await.status();
    assert_eq!(status, 200, "upload of {name}");
}

/// Waits until the file at `path` exists (s3s-fs keeps each object as a file named by its key).
fn wait_for_file(path: &Path) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !path.is_file() {
        assert!(
            Instant::now() < deadline,
            "{} never appeared",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn interrupt_and_collect_stdout(mut running: DdnLocal) -> String {
    let child = running.0.take().unwrap();
    let interrupted = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(interrupted.success());
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "exit: {:?}", output.status);
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn ddn_local_fail_matching_makes_the_processor_fail_those_files() {
    for (args, envs) in [
        (&["--fail-matching", "reject-*"][..], &[][..]),
        (&[][..], &[("DDN_LOCAL_FAIL_MATCHING", "reject-*")][..]),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let (child, info) = start_ddn_local(dir.path(), args, envs);
        let runtime = tokio::runtime::Runtime::new().unwrap();
        runtime.block_on(async {
            upload(&info, "reject-me.txt", b"refused").await;
            upload(&info, "keep-me.txt", b"kept").await;
        });
        let out = dir.path().join("data/ddn-out-bucket");
        wait_for_file(&out.join("failed/users/dev/reject-me.txt"));
        wait_for_file(&out.join("users/dev/keep-me.txt"));
        assert_eq!(
            std::fs::read(out.join("failed/users/dev/reject-me.txt")).unwrap(),
            b"",
            "a failure marker is empty"
        );
        assert_eq!(
            std::fs::read(out.join("users/dev/keep-me.txt")).unwrap(),
            b"kept"
        );
        assert!(
            !out.join("users/dev/reject-me.txt").exists(),
            "no result for a failed file"
        );
        assert!(!out.join("failed/users/dev/keep-me.txt").exists());

        let stdout = interrupt_and_collect_stdout(child);
        assert!(
            stdout.contains("Fails:   files matching reject-*"),
            "{stdout}"
        );
    }
}
