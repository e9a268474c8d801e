//! Transfer throughput and memory: `ddn upload` / `ddn download` of a large file against the local
//! S3 server, side by side with `curl -T` / `curl -o` on presigned URLs for the same objects, in the
//! same run; and the peak resident memory (VmHWM) of the `ddn` process.
//!
//! The local stack runs in a process of its own (this binary again, in its server role), pinned to
//! the first core while the clients run on the others, so the tools do not compete with the server
//! for a core, as across a network. Each round runs both tools, the order alternating between
//! rounds; the ratios are of the medians.
//!
//! Run with `cargo bench -p ddn-cli --bench transfer`. `DDN_BENCH_SIZES_MIB` sets the file sizes
//! (default `1024,4096`); all rounds and curl run on the first size, the others are `ddn` once
//! (memory). `DDN_BENCH_ROUNDS` (default 3). Needs `curl`, and `taskset` for the pinning (without
//! it nothing is pinned, and the table says so).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::{Path, PathBuf};

use ddn_testkit::samples::write_sample_file;
use support::{
    MIB, Pinning, Run, Server, assert_same_size, ddn, list, median, presign, rate, run_measured,
    wait_for_result,
};

fn main() {
    if support::serve_if_asked() {
        return;
    }
    let sizes: Vec<u64> = std::env::var("DDN_BENCH_SIZES_MIB")
        .unwrap_or_else(|_| "1024,4096".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let rounds: usize = std::env::var("DDN_BENCH_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(3)
        .max(1);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let work = tempfile::Builder::new()
        .prefix("ddn-bench-")
        .tempdir_in(
            std::env::var_os("DDN_BENCH_DIR").map_or_else(std::env::temp_dir, PathBuf::from),
        )
        .unwrap();
    let pinning = Pinning::detect();
    let server = Server::start(&work.path().join("s3"), &pinning, None);
    println!("{}", pinning.describe());
    println!();
    println!(
        "| file | round | tool | upload MiB/s | download MiB/s | CPU s up / down | peak RSS up / down |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- |");
    for (index, &size_mib) in sizes.iter().enumerate() {
        let source = work.path().join(format!("source-{size_mib}.bin"));
        write_sample_file(&source, size_mib * MIB, size_mib).unwrap();
        let bytes = size_mib * MIB;
        let mut ratios_up = Vec::new();
        let mut ratios_down = Vec::new();
        for round in 1..=if index == 0 { rounds } else { 1 } {
            let ddn_first = !round.is_multiple_of(2);
            let mut tools: Vec<Tool> = if index == 0 {
                vec![Tool::Ddn, Tool::Curl]
            } else {
                vec![Tool::Ddn]
            };
            if !ddn_first {
                tools.reverse();
            }
            let mut measured = Vec::new();
            for tool in tools {
                let name = format!("{}-{size_mib}-{round}.bin", tool.label());
                let result = measure(
                    tool,
                    &runtime,
                    &server,
                    &pinning,
                    work.path(),
                    &source,
                    &name,
                    bytes,
                );
                println!(
                    "| {size_mib} MiB | {round} | {} | {:.0} | {:.0} | {:.2} / {:.2} | {:.1} / {:.1} MiB |",
                    tool.label(),
                    rate(bytes, result.upload.wall),
                    rate(bytes, result.download.wall),
                    result.upload.cpu.as_secs_f64(),
                    result.download.cpu.as_secs_f64(),
                    result.upload.peak_rss as f64 / MIB as f64,
                    result.download.peak_rss as f64 / MIB as f64,
                );
                measured.push((tool, result));
            }
            if let [(a, ra), (_, rb)] = measured.as_slice() {
                let (ddn, curl) = if *a == Tool::Ddn { (ra, rb) } else { (rb, ra) };
                ratios_up.push(curl.upload.wall.as_secs_f64() / ddn.upload.wall.as_secs_f64());
                ratios_down
                    .push(curl.download.wall.as_secs_f64() / ddn.download.wall.as_secs_f64());
            }
        }
        if !ratios_up.is_empty() {
            println!();
            println!(
                "{size_mib} MiB, throughput ddn / curl per round: upload {}, download {}; median upload {:.2}x, download {:.2}x",
                list(&ratios_up),
                list(&ratios_down),
                median(&mut ratios_up),
                median(&mut ratios_down),
            );
            println!();
        }
        std::fs::remove_file(&source).unwrap();
    }
    drop(server);
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tool {
    Ddn,
    Curl,
}

impl Tool {
    fn label(self) -> &'static str {
        match self {
            Self::Ddn => "ddn",
            Self::Curl => "curl",
        }
    }
}

struct RoundTrip {
    upload: Run,
    download: Run,
}

/// Uploads `source` as `name` with `tool`, waits for the processed copy, downloads it.
#[allow(clippy::too_many_arguments)]
fn measure(
    tool: Tool,
    runtime: &tokio::runtime::Runtime,
    server: &Server,
    pinning: &Pinning,
    work: &Path,
    source: &Path,
    name: &str,
    bytes: u64,
) -> RoundTrip {
    let out = work.join(format!("out-{name}"));
    std::fs::create_dir_all(&out).unwrap();
    let (upload, download) = match tool {
        Tool::Ddn => {
            let linked = work.join(name);
            std::fs::hard_link(source, &linked).unwrap();
            let upload = run_measured(ddn(server, pinning).arg("upload").arg(&linked));
            std::fs::remove_file(&linked).unwrap();
            wait_for_result(runtime, server, name);
            let download = run_measured(
                ddn(server, pinning)
                    .args(["download", name, "-o"])
                    .arg(&out),
            );
            (upload, download)
        }
        Tool::Curl => {
            // The upload's signed headers (its upload id) go with it, as the contract asks of
            // every client: without them S3 refuses the signature.
            let upload_grant = presign(runtime, server, name, Some(bytes));
            let mut upload_command = pinning.client_command("curl");
            upload_command.args(["-sS", "--fail", "-o", "/dev/null"]);
            for (header, value) in &upload_grant.headers {
                upload_command.arg("-H").arg(format!("{header}: {value}"));
            }
            let upload = run_measured(upload_command.arg("-T").arg(source).arg(&upload_grant.url));
            wait_for_result(runtime, server, name);
            let download_url = presign(runtime, server, name, None).url;
            let download = run_measured(
                pinning
                    .client_command("curl")
                    .args(["-sS", "--fail", "-o"])
                    .arg(out.join(name))
                    .arg(&download_url),
            );
            (upload, download)
        }
    };
    assert_same_size(&out.join(name), bytes);
    std::fs::remove_dir_all(&out).unwrap();
    RoundTrip { upload, download }
}
