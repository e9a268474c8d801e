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

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ddn_localstack::{LocalStack, LocalStackOptions};
use ddn_testkit::samples::write_sample_file;

const MIB: u64 = 1024 * 1024;
const TOKEN: &str = "bench-token";
/// Set in the environment of the server-role child: the folder the S3 server stores objects in.
const SERVER_ROLE: &str = "DDN_BENCH_SERVE_DIR";

fn main() {
    if let Some(dir) = std::env::var_os(SERVER_ROLE) {
        serve(PathBuf::from(dir));
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
    let server = Server::start(&work.path().join("s3"), &pinning);
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

/// The server role: the local stack on loopback until standard input closes. Prints the presign
/// API's address as its first line.
fn serve(dir: PathBuf) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let stack = runtime.block_on(async {
        LocalStack::start(LocalStackOptions {
            data_dir: Some(dir),
            users: vec![("bench".into(), TOKEN.into())],
            processing_delay: Duration::from_millis(100),
            poll_interval: Duration::from_millis(50),
            ..LocalStackOptions::default()
        })
        .await
        .unwrap()
    });
    println!("{}", stack.api_url());
    let mut line = String::new();
    while std::io::stdin().read_line(&mut line).is_ok_and(|n| n > 0) {}
    runtime.block_on(stack.stop());
}

/// The local stack in its own process.
struct Server {
    child: Child,
    api_url: String,
}

impl Server {
    fn start(dir: &Path, pinning: &Pinning) -> Self {
        let mut command = pinning.server_command(std::env::current_exe().unwrap());
        let mut child = command
            .env(SERVER_ROLE, dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut api_url = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut api_url)
            .unwrap();
        Self {
            child,
            api_url: api_url.trim().to_owned(),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}

/// Which cores the server and the clients run on.
struct Pinning {
    server: Option<String>,
    clients: Option<String>,
}

impl Pinning {
    fn detect() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        let taskset = Command::new("taskset")
            .arg("--version")
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if cores < 2 || !taskset {
            return Self {
                server: None,
                clients: None,
            };
        }
        Self {
            server: Some("0".into()),
            clients: Some(format!("1-{}", cores - 1)),
        }
    }

    fn describe(&self) -> String {
        match (&self.server, &self.clients) {
            (Some(server), Some(clients)) => {
                format!("Server pinned to core {server}, clients to cores {clients}.")
            }
            _ => "Nothing pinned (one core, or no taskset): the tools share cores with the server."
                .into(),
        }
    }

    fn server_command(&self, program: PathBuf) -> Command {
        pinned(self.server.as_deref(), program)
    }

    fn client_command(&self, program: impl Into<PathBuf>) -> Command {
        pinned(self.clients.as_deref(), program.into())
    }
}

fn pinned(cores: Option<&str>, program: PathBuf) -> Command {
    match cores {
        Some(cores) => {
            let mut command = Command::new("taskset");
            command.args(["-c", cores]).arg(program);
            command
        }
        None => Command::new(program),
    }
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

/// One process's run: wall time, CPU time (user + system) and peak resident memory.
struct Run {
    wall: Duration,
    cpu: Duration,
    peak_rss: u64,
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

fn list(values: &[f64]) -> String {
    values
        .iter()
        .map(|v| format!("{v:.2}x"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.len().is_multiple_of(2) {
        f64::midpoint(values[mid - 1], values[mid])
    } else {
        values[mid]
    }
}

fn ddn(server: &Server, pinning: &Pinning) -> Command {
    let mut command = pinning.client_command(env!("CARGO_BIN_EXE_ddn"));
    command
        .env("DDN_API_URL", &server.api_url)
        .env("DDN_API_TOKEN", TOKEN)
        .arg("--json");
    command
}

/// Runs a command to its end; answers its wall time, and its CPU time and peak resident memory
/// as last sampled from `/proc` (every 5 ms, until the process exits).
fn run_measured(command: &mut Command) -> Run {
    let started = Instant::now();
    let mut child = command
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let pid = child.id();
    let mut peak = 0;
    let mut cpu = Duration::ZERO;
    loop {
        if let Some(hwm) = std::fs::read_to_string(format!("/proc/{pid}/status"))
            .ok()
            .and_then(|status| high_water_mark(&status))
        {
            peak = peak.max(hwm);
        }
        if let Some(used) = std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|stat| cpu_time(&stat))
        {
            cpu = cpu.max(used);
        }
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "{command:?} failed: {status}");
            return Run {
                wall: started.elapsed(),
                cpu,
                peak_rss: peak,
            };
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// User plus system time from a `/proc/PID/stat` line (fields 14 and 15, in clock ticks of
/// 1/100 s on Linux).
fn cpu_time(stat: &str) -> Option<Duration> {
    let after_name = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10))
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
    server: &Server,
    name: &str,
    size: Option<u64>,
) -> ddn_api::PresignResponse {
    let api = ddn_transfer::ApiClient::new(
        ddn_transfer::http_client().unwrap(),
        &server.api_url,
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
    runtime.block_on(api.presign(&request)).unwrap()
}

fn wait_for_result(runtime: &tokio::runtime::Runtime, server: &Server, name: &str) {
    let api = ddn_transfer::ApiClient::new(
        ddn_transfer::http_client().unwrap(),
        &server.api_url,
        Some(ddn_transfer::Token::new(TOKEN)),
    );
    let engine = ddn_transfer::Engine::new(api, ddn_transfer::EngineOptions::default());
    runtime
        .block_on(engine.wait_for_result(
            name,
            &ddn_transfer::ResultOf::default(),
            &ddn_transfer::CancellationToken::new(),
            &|_| {},
        ))
        .unwrap();
}
