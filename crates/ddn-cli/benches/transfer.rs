//! Transfer throughput and memory: `ddn upload` / `ddn download` of a large file against the local
//! S3 server, side by side with `curl -T` / `curl -o` on presigned URLs for the same objects, in the
//! same run; and the peak resident memory (VmHWM) of the `ddn` process.
//!
//! Run with `cargo bench -p ddn-cli --bench transfer`. `DDN_BENCH_SIZES_MIB` sets the file sizes
//! (default `1024,4096`); curl runs on the first size only. Needs `curl` on the PATH.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ddn_localstack::samples::write_sample_file;
use ddn_localstack::{LocalStack, LocalStackOptions};

const MIB: u64 = 1024 * 1024;
const TOKEN: &str = "bench-token";

fn main() {
    let sizes: Vec<u64> = std::env::var("DDN_BENCH_SIZES_MIB")
        .unwrap_or_else(|_| "1024,4096".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let work = tempfile::Builder::new()
        .prefix("ddn-bench-")
        .tempdir_in(
            std::env::var_os("DDN_BENCH_DIR").map_or_else(std::env::temp_dir, PathBuf::from),
        )
        .unwrap();
    let stack = runtime.block_on(async {
        LocalStack::start(LocalStackOptions {
            data_dir: Some(work.path().join("s3")),
            users: vec![("bench".into(), TOKEN.into())],
            processing_delay: Duration::from_millis(100),
            poll_interval: Duration::from_millis(50),
            ..LocalStackOptions::default()
        })
        .await
        .unwrap()
    });

    println!(
        "| file | tool | upload MiB/s | download MiB/s | peak RSS upload | peak RSS download |"
    );
    println!("| --- | --- | --- | --- | --- | --- |");
    for (index, &size_mib) in sizes.iter().enumerate() {
        let name = format!("bench-{size_mib}.bin");
        let source = work.path().join(&name);
        write_sample_file(&source, size_mib * MIB, size_mib).unwrap();
        let bytes = size_mib * MIB;

        // ddn: upload, wait for the processed copy, download.
        let (up, up_rss) = run_measured(ddn(&stack).args(["upload"]).arg(&source));
        wait_for_result(&runtime, &stack, &name);
        let out = work.path().join(format!("ddn-out-{size_mib}"));
        let (down, down_rss) = run_measured(ddn(&stack).args(["download", &name, "-o"]).arg(&out));
        assert_same_size(&out.join(&name), bytes);
        println!(
            "| {size_mib} MiB | ddn | {:.0} | {:.0} | {:.1} MiB | {:.1} MiB |",
            rate(bytes, up),
            rate(bytes, down),
            up_rss as f64 / MIB as f64,
            down_rss as f64 / MIB as f64,
        );
        std::fs::remove_dir_all(&out).unwrap();

        if index == 0 {
            // curl on URLs for the same objects, from the same service.
            let curl_name = format!("curl-{name}");
            let upload_url = presign(&runtime, &stack, &curl_name, Some(bytes));
            let (up, up_rss) = run_measured(
                Command::new("curl")
                    .args(["-sS", "--fail", "-o", "/dev/null", "-T"])
                    .arg(&source)
                    .arg(&upload_url),
            );
            wait_for_result(&runtime, &stack, &curl_name);
            let download_url = presign(&runtime, &stack, &curl_name, None);
            let target = work.path().join("curl-download.bin");
            let (down, down_rss) = run_measured(
                Command::new("curl")
                    .args(["-sS", "--fail", "-o"])
                    .arg(&target)
                    .arg(&download_url),
            );
            assert_same_size(&target, bytes);
            println!(
                "| {size_mib} MiB | curl | {:.0} | {:.0} | {:.1} MiB | {:.1} MiB |",
                rate(bytes, up),
                rate(bytes, down),
                up_rss as f64 / MIB as f64,
                down_rss as f64 / MIB as f64,
            );
            std::fs::remove_file(&target).unwrap();
        }
        std::fs::remove_file(&source).unwrap();
    }
    runtime.block_on(stack.stop());
}

fn ddn(stack: &LocalStack) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ddn"));
    command
        .env("DDN_API_URL", stack.api_url())
        .env("DDN_API_TOKEN", TOKEN)
        .arg("--json");
    command
}

/// Runs a command to its end; answers its wall time and its peak resident memory in bytes (the
/// kernel's high-water mark, sampled until the process exits).
fn run_measured(command: &mut Command) -> (Duration, u64) {
    let started = Instant::now();
    let mut child = command
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let status_path = format!("/proc/{}/status", child.id());
    let mut peak = 0;
    loop {
        if let Some(hwm) = std::fs::read_to_string(&status_path)
            .ok()
            .and_then(|status| high_water_mark(&status))
        {
            peak = peak.max(hwm);
        }
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "{command:?} failed: {status}");
            return (started.elapsed(), peak);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn high_water_mark(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

fn rate(bytes: u64, elapsed: Duration) -> f64 {
    bytes as f64 / MIB as f64 / elapsed.as_secs_f64()
}

fn assert_same_size(path: &Path, bytes: u64) {
    assert_eq!(
        std::fs::metadata(path).unwrap().len(),
        bytes,
        "{}",
        path.display()
    );
}

fn presign(
    runtime: &tokio::runtime::Runtime,
    stack: &LocalStack,
    name: &str,
    size: Option<u64>,
) -> String {
    let api = ddn_transfer::ApiClient::new(
        ddn_transfer::http_client().unwrap(),
        stack.api_url(),
        Some(ddn_transfer::Token::new(TOKEN)),
    );
    let request = ddn_api::PresignRequest {
        file: name.to_owned(),
        mode: if size.is_some() {
            ddn_api::TransferMode::Upload
        } else {
            ddn_api::TransferMode::Download
        },
        size,
        ..ddn_api::PresignRequest::default()
    };
    runtime.block_on(api.presign(&request)).unwrap().url
}

fn wait_for_result(runtime: &tokio::runtime::Runtime, stack: &LocalStack, name: &str) {
    let api = ddn_transfer::ApiClient::new(
        ddn_transfer::http_client().unwrap(),
        stack.api_url(),
        Some(ddn_transfer::Token::new(TOKEN)),
    );
    let engine = ddn_transfer::Engine::new(api, ddn_transfer::EngineOptions::default());
    runtime
        .block_on(engine.wait_for_result(name, &ddn_transfer::CancellationToken::new(), &|_| {}))
        .unwrap();
}
