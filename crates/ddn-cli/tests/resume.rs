//! `ddn upload` of a large file across runs: a run killed half-way (SIGKILL, no chance to tidy
//! up) is continued by the next run of the same command, which sends only the parts S3 lacks (the
//! bytes a proxy in front of S3 sees say so); `--restart` drops what the killed run left and sends
//! the file whole.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::process::{Output, Stdio};
use std::time::Duration;

use ddn_localstack::{LocalStack, LocalStackOptions};
use ddn_testkit::fault_proxy::{Direction, Fault, FaultProxy};
use ddn_testkit::samples::write_sample_file;
use tokio::io::{AsyncBufReadExt as _, BufReader};

const MIB: u64 = 1024 * 1024;

/// The part size the service plans for these files.
const PART: u64 = 8 * MIB;

/// The file: above `ddn`'s multipart threshold (64 MiB), nine parts.
const SIZE: u64 = 9 * PART;

/// Room for the requests' heads in the bytes the proxy counts.
const HEADS: u64 = 64 * 1024;

struct Setup {
    stack: LocalStack,
    proxy: FaultProxy,
    dir: tempfile::TempDir,
    state: tempfile::TempDir,
}

async fn setup() -> Setup {
    let proxy = FaultProxy::start().await.unwrap();
    let stack = LocalStack::start(LocalStackOptions {
        users: vec![("alice".into(), "alice-secret-token".into())],
        processing_delay: Duration::from_secs(3600),
        s3_public_url: Some(proxy.url()),
        ..LocalStackOptions::default()
    })
    .await
    .unwrap();
    proxy.set_upstream(stack.s3_url());
    let setup = Setup {
        stack,
        proxy,
        dir: tempfile::tempdir().unwrap(),
        state: tempfile::tempdir().unwrap(),
    };
    write_sample_file(&setup.dir.path().join("big.bin"), SIZE, 21).unwrap();
    setup
}

impl Setup {
    fn command(&self, args: &[&str]) -> tokio::process::Command {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_ddn"));
        command
            .args(args)
            .current_dir(self.dir.path())
            .env("DDN_API_URL", self.stack.api_url())
            .env("DDN_API_TOKEN", "alice-secret-token")
            .env("DDN_STATE_DIR", self.state.path());
        command
    }

    /// Runs `ddn ARGS` to its end; answers its output and the bytes the proxy passed to S3.
    async fn run(&self, args: &[&str]) -> (Output, u64) {
        let before = self.proxy.bytes_upstream();
        let output = self.command(args).output().await.unwrap();
        (output, self.proxy.bytes_upstream() - before)
    }

    /// Starts `ddn upload big.bin --json --parts 1` with the proxy letting its first connection
    /// carry two parts and holding it there, and kills it with SIGKILL once it has reported the
    /// two parts sent. Answers what it printed.
    async fn killed_after_two_parts(&self) -> Vec<serde_json::Value> {
        self.proxy.plan([Fault::StallAfter {
            direction: Direction::Upstream,
            bytes: 2 * (PART + 4096) + HEADS,
            pause: Duration::from_secs(120),
        }]);
        let mut child = self
            .command(&["upload", "big.bin", "--json", "--parts", "1"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut printed = Vec::new();
        let waited = tokio::time::timeout(Duration::from_secs(120), async {
            while let Some(line) = lines.next_line().await.unwrap() {
                let record: serde_json::Value = serde_json::from_str(&line).unwrap();
                let two_sent = record["event"] == "progress"
                    && record["transferred"].as_u64().unwrap() >= 2 * PART;
                printed.push(record);
                if two_sent {
                    return;
                }
            }
            panic!("ddn ended before sending two parts: {printed:?}");
        })
        .await;
        assert!(waited.is_ok(), "no progress: {printed:?}");
        // SIGKILL: nothing of ddn's own runs after this.
        child.start_kill().unwrap();
        let status = child.wait().await.unwrap();
        assert!(!status.success());
        printed
    }

    fn journals(&self) -> Vec<PathBuf> {
        match std::fs::read_dir(self.state.path().join("resume")) {
            Err(_) => Vec::new(),
            Ok(entries) => entries
                .map(|entry| entry.unwrap().path())
                .filter(|path| path.extension().is_some_and(|e| e == "journal"))
                .collect(),
        }
    }

    async fn open_uploads(&self) -> usize {
        self.stack
            .s3_client()
            .list_multipart_uploads()
            .bucket(self.stack.in_bucket())
            .send()
            .await
            .unwrap()
            .uploads()
            .len()
    }

    /// Asserts S3 holds the file, byte for byte.
    async fn assert_stored(&self) {
        let stored = ddn_testkit::s3::get_bytes(
            &self.stack,
            ddn_testkit::s3::Bucket::Input,
            "users/alice/big.bin",
        )
        .await
        .unwrap();
        let file = std::fs::read(self.dir.path().join("big.bin")).unwrap();
        assert!(stored == file, "the stored object differs");
    }
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

fn events<'a>(lines: &'a [serde_json::Value], name: &str) -> Vec<&'a serde_json::Value> {
    lines
        .iter()
        .filter(|l| l["type"] == "event" && l["event"] == name)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_upload_is_continued_by_the_next_run_without_resending_finished_parts() {
    let setup = setup().await;
    setup.killed_after_two_parts().await;
    assert_eq!(setup.journals().len(), 1, "the journal survives the kill");
    assert_eq!(setup.open_uploads().await, 1);

    let (output, sent) = setup.run(&["upload", "big.bin", "--json"]).await;
    assert!(output.status.success(), "{}", text(&output.stderr));
    let lines = json_lines(&output);
    let resumed = events(&lines, "resumed");
    assert_eq!(resumed.len(), 1, "{lines:?}");
    assert_eq!(resumed[0]["alreadySent"], 2 * PART);
    assert_eq!(resumed[0]["total"], SIZE);
    // Parts 3 to 9 only, each once.
    assert!(
        (SIZE - 2 * PART..SIZE - 2 * PART + HEADS).contains(&sent),
        "the second run sent {sent} bytes"
    );
    assert!(
        lines
            .iter()
            .any(|l| l["type"] == "uploaded" && l["size"] == SIZE)
    );
    setup.assert_stored().await;
    assert!(setup.journals().is_empty());
    assert_eq!(setup.open_uploads().await, 0);

    // Said in words too, to a person.
    setup.killed_after_two_parts().await;
    let (output, _) = setup.run(&["upload", "big.bin"]).await;
    assert!(output.status.success(), "{}", text(&output.stderr));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("Resuming big.bin: 16.00 MiB of 72.00 MiB already sent"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_drops_what_the_killed_run_left_and_sends_the_file_whole() {
    let setup = setup().await;
    setup.killed_after_two_parts().await;
    assert_eq!(setup.open_uploads().await, 1);

    let (output, sent) = setup
        .run(&["upload", "big.bin", "--json", "--restart"])
        .await;
    assert!(output.status.success(), "{}", text(&output.stderr));
    let lines = json_lines(&output);
    assert!(events(&lines, "resumed").is_empty(), "{lines:?}");
    assert!(
        text(&output.stderr).contains("dropped the unfinished earlier upload"),
        "{}",
        text(&output.stderr)
    );
    assert!((SIZE..SIZE + HEADS).contains(&sent), "{sent}");
    setup.assert_stored().await;
    assert!(setup.journals().is_empty());
    // The killed run's upload was aborted, the new one completed.
    assert_eq!(setup.open_uploads().await, 0);
}

#[tokio::test]
async fn parts_in_flight_are_checked_before_anything_is_sent() {
    let setup = setup().await;
    for bad in ["0", "17", "many"] {
        let (output, sent) = setup.run(&["upload", "big.bin", "--parts", bad]).await;
        assert_eq!(output.status.code(), Some(2), "--parts {bad}");
        assert!(
            text(&output.stderr).contains("--parts"),
            "{}",
            text(&output.stderr)
        );
        assert_eq!(sent, 0);
    }
}
