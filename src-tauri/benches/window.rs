//! The desktop app's targets, measured on this machine in a real window under Xvfb:
//!
//! 1. time from launch until the window is interactive (the page has wired its handlers and asked
//!    for the list: the app logs "the window is interactive");
//! 2. memory: the app and its WebKit helper processes together (sum of PSS), idle with 200 files in
//!    the list, against an empty Tauri window measured the same way (`examples/empty_window.rs`);
//! 3. frames: the page's frame intervals while 200 files transfer, against the same page idle.
//!
//! Run with `cargo xtask bench` (or `cargo bench -p ddn-desktop --bench window` after building the
//! example: `cargo build --release -p ddn-desktop --example empty_window`).

#[path = "../tests/support/mod.rs"]
mod support;

use std::collections::HashMap;
use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use ddn_testkit::desktop::Desktop;
use serde_json::json;
use support::{APP, Driver, write_list};

const ROUNDS: usize = 5;
const FILES: usize = 200;
const IDLE: Duration = Duration::from_secs(5);

fn main() -> Result<()> {
    if std::env::args().any(|arg| arg == "--list") {
        return Ok(());
    }
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(bench())
}

/// A launch of `program` tied to the private display and keyring, with its own XDG folders
/// under `home`, configured for the local stack.
fn command(setup: &Desktop, program: &Path, home: &Path) -> Command {
    let mut command = setup.display.command(program);
    setup.keyring.apply(&mut command);
    command
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("XDG_DATA_HOME", home.join("data"))
        .env("DDN_API_URL", setup.stack.api_url())
        .env("DDN_API_TOKEN", setup.stack.token())
        .env("DDN_RESULTS_DIR", setup.path("results"))
        .stdin(Stdio::null())
        .stderr(Stdio::null());
    command
}

async fn bench() -> Result<()> {
    let setup = Desktop::with_processing_delay(Duration::from_millis(300)).await?;
    let empty_window = Path::new(APP)
        .parent()
        .context("the app's folder")?
        .join("examples/empty_window");
    if !empty_window.exists() {
        bail!(
            "build the baseline first: cargo build --profile {} -p ddn-desktop --example empty_window",
            if cfg!(debug_assertions) {
                "dev"
            } else {
                "release"
            }
        );
    }
    println!("app: {APP}");

    // 1. Launch to interactive.
    let mut startups = Vec::new();
    for round in 0..ROUNDS {
        let home = setup.path(format!("startup-{round}"));
        let mut app = Launched::start(command(&setup, Path::new(APP), &home))?;
        startups.push(app.wait_interactive()?);
        app.stop();
    }
    startups.sort();
    println!(
        "launch to interactive: median {} ms, max {} ms over {ROUNDS} launches (target < 1000 ms)",
        startups[ROUNDS / 2].as_millis(),
        startups[ROUNDS - 1].as_millis()
    );

    // 2. Memory, idle: an empty Tauri window (as Tauri draws by default, and with WebKit's CPU
    //    renderer, which the app picks on machines without a GPU), then the app with 200 files.
    let mut empty = Vec::new();
    let mut empty_cpu = Vec::new();
    for round in 0..3 {
        for (cpu, samples) in [(false, &mut empty), (true, &mut empty_cpu)] {
            let home = setup.path(format!("empty-{round}-{cpu}"));
            let mut command = command(&setup, &empty_window, &home);
            if cpu {
                command.env(ddn_desktop::rendering::CPU_RENDERING, "1");
            }
            let mut window = Launched::start(command)?;
            std::thread::sleep(IDLE);
            samples.push(pss_of_tree(window.child.id())?);
            window.stop();
        }
    }
    let mut full = Vec::new();
    for round in 0..3 {
        let home = setup.path(format!("full-{round}"));
        write_list(&home.join("data"), FILES)?;
        let mut app = Launched::start(command(&setup, Path::new(APP), &home))?;
        app.wait_interactive()?;
        std::thread::sleep(IDLE);
        full.push(pss_of_tree(app.child.id())?);
        app.stop();
    }
    empty.sort_unstable();
    empty_cpu.sort_unstable();
    full.sort_unstable();
    let (empty, empty_cpu, full) = (empty[1], empty_cpu[1], full[1]);
    println!(
        "PSS, idle (app + WebKit processes, median of 3): empty Tauri window {:.1} MiB (with CPU rendering {:.1} MiB), app with {FILES} files {:.1} MiB: {:.2}x ({:.2}x against CPU rendering; target at most 1.25x)",
        mib(empty),
        mib(empty_cpu),
        mib(full),
        full as f64 / empty as f64,
        full as f64 / empty_cpu as f64
    );
    println!(
        "the app draws with {} on this machine",
        if ddn_desktop::rendering::wants_cpu_rendering(
            |name| std::env::var(name).ok(),
            Path::new("/dev/dri")
        ) {
            "WebKit's CPU renderer"
        } else {
            "the GPU"
        }
    );

    // 3. Frames while 200 files transfer.
    let inputs = setup.path("inputs");
    std::fs::create_dir_all(&inputs)?;
    let mut paths = Vec::new();
    for i in 0..FILES {
        let path = inputs.join(format!("file-{i:03}.bin"));
        std::fs::write(&path, vec![i as u8; 256 * 1024])?;
        paths.push(path);
    }
    let driver = Driver::start(&setup, &setup.app_env(&setup.path("frame-results"))).await?;
    let app = driver.open().await?;
    // Each frame's interval and when it ended, so long frames can be placed in time.
    // Each recording has a loop of its own, which ends once the recording is collected.
    let record = "const frames = []; window.frameGaps = frames; let last = performance.now();
        const tick = (now) => { if (window.frameGaps !== frames) return;
            frames.push([now - last, now]); last = now; requestAnimationFrame(tick); };
        requestAnimationFrame(tick); return true;";
    let collect = "const frames = window.frameGaps; window.frameGaps = null; return frames;";
    app.script(record, json!([])).await?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let idle = frame_stats(&app.script(collect, json!([])).await?);
    app.script(record, json!([])).await?;
    let started = Instant::now();
    let sent_at = app.eval("performance.now()").await?.as_f64().unwrap_or(0.0);
    let sent = app
        .invoke("start_uploads", json!({ "paths": paths }))
        .await?;
    if !sent["ok"].is_array() {
        bail!("start_uploads: {sent}");
    }
    app.wait_for(
        "every file ready",
        &format!("return document.getElementById('totals').dataset.ready === '{FILES}'"),
        Duration::from_secs(600),
    )
    .await?;
    let elapsed = started.elapsed();
    let busy = frame_stats(&app.script(collect, json!([])).await?);
    println!("frames, page idle:               {idle}");
    println!(
        "frames, {FILES} files transferring: {busy} ({FILES} x 256 KiB round trips in {:.1} s)",
        elapsed.as_secs_f64()
    );
    for (gap, ended) in &busy.long {
        println!(
            "  a {gap:.0} ms frame ended {:.2} s after the files were sent",
            (ended - sent_at) / 1000.0
        );
    }
    app.close().await?;
    setup.stack.stop().await;
    Ok(())
}

struct FrameStats {
    frames: usize,
    median: f64,
    p99: f64,
    max: f64,
    over_50ms: usize,
    /// The frames over 50 ms: interval and when it ended, in page time (ms).
    long: Vec<(f64, f64)>,
}

impl std::fmt::Display for FrameStats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} frames, interval median {:.1} ms, p99 {:.1} ms, max {:.1} ms, {} over 50 ms",
            self.frames, self.median, self.p99, self.max, self.over_50ms
        )
    }
}

fn frame_stats(frames: &serde_json::Value) -> FrameStats {
    let mut frames: Vec<(f64, f64)> = frames
        .as_array()
        .map(|list| {
            list.iter()
                .filter_map(|frame| Some((frame[0].as_f64()?, frame[1].as_f64()?)))
                .collect()
        })
        .unwrap_or_default();
    // The first interval spans the script's own start.
    if !frames.is_empty() {
        frames.remove(0);
    }
    let long: Vec<(f64, f64)> = frames
        .iter()
        .copied()
        .filter(|(gap, _)| *gap > 50.0)
        .collect();
    let mut gaps: Vec<f64> = frames.iter().map(|(gap, _)| *gap).collect();
    gaps.sort_by(f64::total_cmp);
    let at = |q: f64| {
        gaps.get(((gaps.len() as f64 - 1.0) * q).round() as usize)
            .copied()
            .unwrap_or(0.0)
    };
    FrameStats {
        frames: gaps.len(),
        median: at(0.5),
        p99: at(0.99),
        max: gaps.last().copied().unwrap_or(0.0),
        over_50ms: long.len(),
        long,
    }
}

/// A launched process whose standard output is read for the app's log.
struct Launched {
    child: Child,
    started: Instant,
}

impl Launched {
    fn start(mut command: Command) -> Result<Self> {
        let started = Instant::now();
        let child = command.stdout(Stdio::piped()).spawn()?;
        Ok(Self { child, started })
    }

    /// Time from launch to the app's "the window is interactive".
    fn wait_interactive(&mut self) -> Result<Duration> {
        let stdout = self.child.stdout.take().context("stdout")?;
        let (found, wait) = std::sync::mpsc::channel();
        let started = self.started;
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line.contains("the window is interactive") {
                    let _ = found.send(started.elapsed());
                }
            }
        });
        wait.recv_timeout(Duration::from_secs(60))
            .context("the window did not become interactive within a minute")
    }

    fn stop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sum of the proportional set size (KiB) of `root` and every process below it.
fn pss_of_tree(root: u32) -> Result<u64> {
    let mut parents: HashMap<u32, u32> = HashMap::new();
    for entry in std::fs::read_dir("/proc")?.filter_map(Result::ok) {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // The parent is the second field after the command name, which may contain spaces.
        let Some(after) = stat.rsplit_once(')').map(|(_, rest)| rest) else {
            continue;
        };
        if let Some(parent) = after.split_whitespace().nth(1).and_then(|p| p.parse().ok()) {
            parents.insert(pid, parent);
        }
    }
    let in_tree = |mut pid: u32| loop {
        if pid == root {
            return true;
        }
        match parents.get(&pid) {
            Some(&parent) if parent != 0 && parent != pid => pid = parent,
            _ => return false,
        }
    };
    let mut total = 0;
    for &pid in parents.keys().filter(|&&pid| in_tree(pid)) {
        let Ok(rollup) = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")) else {
            continue;
        };
        if let Some(kib) = rollup
            .lines()
            .find_map(|line| line.strip_prefix("Pss:"))
            .and_then(|rest| {
                rest.trim()
                    .trim_end_matches("kB")
                    .trim()
                    .parse::<u64>()
                    .ok()
            })
        {
            total += kib;
        }
    }
    Ok(total)
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}
