//! What the transfer benchmarks share: the local stack in a process of its own (optionally behind
//! a shaping proxy), the pinning of server and clients to cores, `ddn` and `curl` runs measured
//! from `/proc` (wall time, CPU time, peak resident memory), and the presign and wait calls a
//! `curl` run needs.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ddn_localstack::{LocalStack, LocalStackOptions};
use ddn_testkit::shaping_proxy::{Shape, ShapingProxy};

/// A mebibyte.
pub const MIB: u64 = 1024 * 1024;
/// The bench user's token on the bench stack.
pub const TOKEN: &str = "bench-token";
/// Set in the environment of the server-role child: the folder the S3 server stores objects in.
const SERVER_ROLE: &str = "DDN_BENCH_SERVE_DIR";
/// Set in the environment of the server-role child for a shaped S3 server: `DELAY_MS,BYTES_PER_S`.
const SHAPE_ROLE: &str = "DDN_BENCH_SERVE_SHAPE";

/// The server role: the local stack on loopback until standard input closes, its S3 server behind
/// a shaping proxy when [`SHAPE_ROLE`] says so. Prints the presign API's address as its first
/// line. Runs when [`SERVER_ROLE`] is set; answers whether it ran.
pub fn serve_if_asked() -> bool {
    let Some(dir) = std::env::var_os(SERVER_ROLE) else {
        return false;
    };
    let shape = std::env::var(SHAPE_ROLE).ok().map(|text| {
        let (delay, rate) = text.split_once(',').unwrap();
        Shape {
            delay: Duration::from_millis(delay.parse().unwrap()),
            bytes_per_second: rate.parse().unwrap(),
        }
    });
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (stack, proxy) = runtime.block_on(async {
        let proxy = match shape {
            Some(shape) => Some(ShapingProxy::start(shape).await.unwrap()),
            None => None,
        };
        let stack = LocalStack::start(LocalStackOptions {
            data_dir: Some(PathBuf::from(dir)),
            users: vec![("bench".into(), TOKEN.into())],
            processing_delay: Duration::from_millis(100),
            poll_interval: Duration::from_millis(50),
            s3_public_url: proxy.as_ref().map(ShapingProxy::url),
            // The sparse files of the memory runs are not copied to the output bucket: they are
            // failed by the processor, which costs an empty marker instead of gigabytes.
            fail_matching: Some("sparse*".parse().unwrap()),
            ..LocalStackOptions::default()
        })
        .await
        .unwrap();
        if let Some(proxy) = &proxy {
            proxy.set_upstream(stack.s3_url()).unwrap();
        }
        (stack, proxy)
    });
    println!("{}", stack.api_url());
    let mut line = String::new();
    while std::io::stdin().read_line(&mut line).is_ok_and(|n| n > 0) {}
    runtime.block_on(stack.stop());
    drop(proxy);
    true
}

/// The local stack in its own process.
pub struct Server {
    child: Child,
    /// The presign API's address.
    pub api_url: String,
}

impl Server {
    /// Starts the server role of this benchmark binary, storing objects under `dir`, its S3
    /// server behind a shaping proxy when `shape` is given (URLs are then signed for the proxy).
    pub fn start(dir: &Path, pinning: &Pinning, shape: Option<Shape>) -> Self {
        let mut command = pinning.server_command(std::env::current_exe().unwrap());
        if let Some(shape) = shape {
            command.env(
                SHAPE_ROLE,
                format!("{},{}", shape.delay.as_millis(), shape.bytes_per_second),
            );
        }
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
pub struct Pinning {
    server: Option<String>,
    clients: Option<String>,
}

impl Pinning {
    pub fn detect() -> Self {
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

    /// No pinning: server and clients share every core. For runs whose limit is a shaped line
    /// rather than a core, where a core of its own would only starve the server.
    pub fn none() -> Self {
        Self {
            server: None,
            clients: None,
        }
    }

    pub fn describe(&self) -> String {
        match (&self.server, &self.clients) {
            (Some(server), Some(clients)) => {
                format!("Server pinned to core {server}, clients to cores {clients}.")
            }
            _ => "Nothing pinned (one core, or no taskset): the tools share cores with the server."
                .into(),
        }
    }

    pub fn server_command(&self, program: PathBuf) -> Command {
        pinned(self.server.as_deref(), program)
    }

    pub fn client_command(&self, program: impl Into<PathBuf>) -> Command {
        pinned(self.clients.as_deref(), program.into())
    }
}

pub fn pinned(cores: Option<&str>, program: PathBuf) -> Command {
    match cores {
        Some(cores) => {
            let mut command = Command::new("taskset");
            command.args(["-c", cores]).arg(program);
            command
        }
        None => Command::new(program),
    }
}

/// One process's run: wall time, CPU time (user + system) and peak resident memory.
pub struct Run {
    /// From start to exit.
    pub wall: Duration,
    /// User plus system time.
    pub cpu: Duration,
    /// The largest resident set seen (VmHWM), in bytes.
    pub peak_rss: u64,
}

pub fn list(values: &[f64]) -> String {
    values
        .iter()
        .map(|v| format!("{v:.2}x"))
        .collect::<Vec<_>>()
        .join(", ")
}

pub fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.len().is_multiple_of(2) {
        f64::midpoint(values[mid - 1], values[mid])
    } else {
        values[mid]
    }
}

pub fn ddn(server: &Server, pinning: &Pinning) -> Command {
    let mut command = pinning.client_command(env!("CARGO_BIN_EXE_ddn"));
    command
        .env("DDN_API_URL", &server.api_url)
        .env("DDN_API_TOKEN", TOKEN)
        .arg("--json");
    command
}

/// Runs a command to its end; answers its wall time, and its CPU time and peak resident memory
/// as last sampled from `/proc` (every 5 ms, until the process exits).
pub fn run_measured(command: &mut Command) -> Run {
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
pub fn cpu_time(stat: &str) -> Option<Duration> {
    let after_name = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10))
}

pub fn high_water_mark(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

pub fn rate(bytes: u64, elapsed: Duration) -> f64 {
    bytes as f64 / MIB as f64 / elapsed.as_secs_f64()
}

pub fn assert_same_size(path: &Path, bytes: u64) {
    assert_eq!(
        std::fs::metadata(path).unwrap().len(),
        bytes,
        "{}",
        path.display()
    );
}

pub fn presign(
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

pub fn wait_for_result(runtime: &tokio::runtime::Runtime, server: &Server, name: &str) {
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
