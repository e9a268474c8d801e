//! Cold start: from exec of the `bootstrap` binary to its first answered invocation through the
//! Lambda Runtime API emulator, over many runs. When `python3` with `boto3` and the seed's handler
//! (`../shared/baselines/seed_lambda_function.py`, or `DDN_SEED_BASELINE`) are available, the seed is
//! measured in the same run: exec of `python3` to the handler's first answer, and its warm
//! per-call presign time.
//!
//! Run with `cargo bench -p ddn-presign --bench cold_start` (`DDN_BENCH_RUNS` sets the run count).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ddn_testkit::runtime_emulator::{Outcome, RuntimeEmulator};
use serde_json::json;

const ENV: [(&str, &str); 12] = [
    ("AWS_LAMBDA_FUNCTION_NAME", "ddn-presign-lambda"),
    ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256"),
    ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
    (
        "AWS_LAMBDA_LOG_GROUP_NAME",
        "/aws/lambda/ddn-presign-lambda",
    ),
    ("AWS_LAMBDA_LOG_STREAM_NAME", "bench"),
    ("AWS_REGION", "us-east-1"),
    ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
    (
        "AWS_SECRET_ACCESS_KEY",
        "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
    ),
    ("AWS_CONFIG_FILE", "/nonexistent"),
    ("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent"),
    ("DDN_IN_BUCKET", "ddn-in-bucket"),
    ("DDN_OUT_BUCKET", "ddn-out-bucket"),
];

fn main() {
    let runs: usize = std::env::var("DDN_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(30);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let rust = runtime.block_on(rust_cold_starts(runs));
    report("bootstrap (Rust): exec to first answer", &rust);

    let Some(seed) = seed_baseline() else {
        println!("seed baseline: skipped (no ../shared/baselines/seed_lambda_function.py)");
        return;
    };
    match python_cold_starts(&seed, runs.min(10)) {
        Ok(python) => {
            report("seed (Python + boto3): exec to first answer", &python);
            println!(
                "cold start ratio, seed / bootstrap (medians): {:.1}x",
                median(&python).as_secs_f64() / median(&rust).as_secs_f64()
            );
        }
        Err(reason) => println!("seed baseline: skipped ({reason})"),
    }
    match python_warm(&seed) {
        Ok(micros) => println!("seed (Python + boto3): warm presign {micros:.1} µs per call"),
        Err(reason) => println!("seed warm baseline: skipped ({reason})"),
    }
}

async fn rust_cold_starts(runs: usize) -> Vec<Duration> {
    let event = json!({"queryStringParameters": {"mode": "upload", "file": "test.png"}});
    let mut samples = Vec::with_capacity(runs);
    for _ in 0..runs {
        let emulator = RuntimeEmulator::start().await.unwrap();
        let mut command = Command::new(env!("CARGO_BIN_EXE_bootstrap"));
        command
            .env_clear()
            .envs(ENV)
            .env("DDN_AUTH", "none")
            .env("RUST_LOG", "warn")
            .env("AWS_LAMBDA_RUNTIME_API", emulator.address())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let started = Instant::now();
        let mut child = command.spawn().unwrap();
        let outcome = emulator
            .invoke(event.clone(), Duration::from_secs(10))
            .await
            .unwrap();
        let elapsed = started.elapsed();
        let _ = child.kill();
        let _ = child.wait();
        let Outcome::Response(response) = outcome else {
            panic!("bootstrap failed: {outcome:?}");
        };
        assert_eq!(response["statusCode"], 200);
        samples.push(elapsed);
    }
    samples
}

fn seed_baseline() -> Option<PathBuf> {
    let path = std::env::var_os("DDN_SEED_BASELINE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../../shared/baselines/seed_lambda_function.py")
        });
    path.is_file().then_some(path)
}

fn python(seed: &std::path::Path, script: &str) -> Command {
    let mut command = Command::new("python3");
    command
        .arg("-c")
        .arg(script)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", std::env::var_os("HOME").unwrap_or_default())
        .envs(ENV)
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("SEED_DIR", seed.parent().unwrap());
    command
}

const PYTHON_FIRST_ANSWER: &str = r#"
import os, sys
sys.path.insert(0, os.environ["SEED_DIR"])
import seed_lambda_function as seed
r = seed.lambda_handler({"queryStringParameters": {"mode": "upload", "file": "test.png"}}, None)
assert r["statusCode"] == 200, r
"#;

const PYTHON_WARM: &str = r#"
import os, sys, time
sys.path.insert(0, os.environ["SEED_DIR"])
import seed_lambda_function as seed
event = {"queryStringParameters": {"mode": "upload", "file": "test.png"}}
for _ in range(200):
    seed.lambda_handler(event, None)
n = 3000
t0 = time.perf_counter()
for _ in range(n):
    seed.lambda_handler(event, None)
print((time.perf_counter() - t0) / n * 1e6)
"#;

fn python_cold_starts(seed: &std::path::Path, runs: usize) -> Result<Vec<Duration>, String> {
    let mut samples = Vec::with_capacity(runs);
    for _ in 0..runs {
        let started = Instant::now();
        let output = python(seed, PYTHON_FIRST_ANSWER)
            .output()
            .map_err(|e| format!("python3: {e}"))?;
        let elapsed = started.elapsed();
        if !output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr);
            return Err(stderr.lines().last().unwrap_or("python3 failed").to_owned());
        }
        samples.push(elapsed);
    }
    Ok(samples)
}

fn python_warm(seed: &std::path::Path) -> Result<f64, String> {
    let output = python(seed, PYTHON_WARM)
        .output()
        .map_err(|e| format!("python3: {e}"))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(stderr.lines().last().unwrap_or("python3 failed").to_owned());
    }
    String::from_utf8_lossy(&output.stdout)
        .trim()
        .parse()
        .map_err(|e| format!("unreadable output: {e}"))
}

fn median(samples: &[Duration]) -> Duration {
    let mut sorted = samples.to_vec();
    sorted.sort();
    sorted[sorted.len() / 2]
}

fn report(what: &str, samples: &[Duration]) {
    let mut sorted = samples.to_vec();
    sorted.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let p90 = sorted[(sorted.len() * 9 / 10).min(sorted.len() - 1)];
    println!(
        "{what}: n={} min {:.1} ms, median {:.1} ms, p90 {:.1} ms, max {:.1} ms",
        sorted.len(),
        ms(sorted[0]),
        ms(median(samples)),
        ms(p90),
        ms(sorted[sorted.len() - 1]),
    );
}
