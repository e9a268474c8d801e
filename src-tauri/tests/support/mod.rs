//! The real app in a real window: a private X server (Xvfb), a private Secret Service, and
//! `tauri-driver` in front of WebKitWebDriver, all torn down when the test ends.

#![allow(
    dead_code,
    reason = "each test binary uses its own part of the harness"
)]

pub mod desktop_bus;
pub mod webdriver;

use std::io::{BufRead as _, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail, ensure};
use ddn_desktop::jobs::{Record, Status};
use ddn_localstack::LocalStack;
use ddn_localstack::session_keyring::SessionKeyring;

pub use webdriver::Session;

/// How long any one step of a window test may take.
pub const LIMIT: Duration = Duration::from_secs(120);

/// The app binary cargo built for these tests.
pub const APP: &str = env!("CARGO_BIN_EXE_ddn-transfer");

/// Where screenshots are saved (kept after the run, as test artifacts).
pub fn screenshot_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("screenshots")
}

/// A private X display.
pub struct Display {
    number: u32,
    server: Child,
}

impl Display {
    /// Starts Xvfb on a free display number, which the server picks itself and reports when it
    /// is ready (`-displayfd`), so tests that start displays at the same time never share one.
    pub fn start() -> Result<Self> {
        let mut server = Command::new("Xvfb")
            .args([
                "-displayfd",
                "1",
                "-screen",
                "0",
                "1024x768x24",
                "-nolisten",
                "tcp",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .context(
                "could not start Xvfb (Debian package: xvfb; `cargo xtask test` installs it)",
            )?;
        let stdout = server.stdout.take().context("Xvfb's output")?;
        let mut display = Self { number: 0, server };
        match first_line(stdout, Duration::from_secs(10)).map(|line| line.parse::<u32>()) {
            Some(Ok(number)) => {
                display.number = number;
                Ok(display)
            }
            _ => bail!("Xvfb did not start: {:?}", display.server.try_wait()),
        }
    }

    /// `:N`.
    pub fn name(&self) -> String {
        format!(":{}", self.number)
    }
}

impl Drop for Display {
    fn drop(&mut self) {
        let _ = self.server.kill();
        let _ = self.server.wait();
    }
}

/// The first line a program writes to `stdout`, without its line end, if it comes within `limit`.
pub fn first_line(stdout: ChildStdout, limit: Duration) -> Option<String> {
    let (sent, line) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = sent.send(line.trim().to_owned());
    });
    line.recv_timeout(limit).ok()
}

/// The environment that points the app at `stack`, saving results in `results`, in English.
pub fn stack_env(stack: &LocalStack, results: &Path) -> Vec<(&'static str, String)> {
    vec![
        ("DDN_API_URL", stack.api_url().to_owned()),
        ("DDN_API_TOKEN", stack.token().to_owned()),
        ("DDN_RESULTS_DIR", results.display().to_string()),
        ("LANG", "C.UTF-8".to_owned()),
    ]
}

/// Fails unless the file at `result` holds exactly the bytes of `source`.
pub fn assert_same(result: &Path, source: &Path) -> Result<()> {
    let got = std::fs::read(result).with_context(|| format!("no result {}", result.display()))?;
    let expected = std::fs::read(source)?;
    ensure!(
        got == expected,
        "{} differs from {}",
        result.display(),
        source.display()
    );
    Ok(())
}

/// `tauri-driver`: from `TAURI_DRIVER`, else the workspace's `target/tools/bin`, else `PATH`.
pub fn tauri_driver_path() -> Result<PathBuf> {
    if let Some(path) = std::env::var_os("TAURI_DRIVER") {
        return Ok(PathBuf::from(path));
    }
    let tools = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/tools/bin/tauri-driver");
    if tools.exists() {
        return Ok(tools);
    }
    let on_path = std::env::var_os("PATH")
        .map(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join("tauri-driver"))
                .find(|candidate| candidate.exists())
        })
        .unwrap_or_default();
    on_path.context(
        "tauri-driver is not installed: run `cargo xtask test` (it installs it), \
         or `cargo install tauri-driver --locked`",
    )
}

fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// A running `tauri-driver`, whose apps get the given environment.
pub struct Driver {
    child: Child,
    url: String,
}

impl Driver {
    /// Starts the driver on `display`, with the keyring session's bus and home and `env`.
    pub async fn start(
        display: &Display,
        keyring: &SessionKeyring,
        env: &[(&str, String)],
    ) -> Result<Self> {
        let port = free_port()?;
        let native_port = free_port()?;
        let mut command = Command::new(tauri_driver_path()?);
        keyring.apply(&mut command);
        command
            .args([
                "--port",
                &port.to_string(),
                "--native-port",
                &native_port.to_string(),
            ])
            .env("DISPLAY", display.name())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        for (name, value) in env {
            command.env(name, value);
        }
        let child = command.spawn().context("could not start tauri-driver")?;
        let driver = Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        let http = reqwest::Client::new();
        let started = Instant::now();
        loop {
            if http
                .get(format!("{}/status", driver.url))
                .send()
                .await
                .is_ok()
            {
                return Ok(driver);
            }
            if started.elapsed() > Duration::from_secs(20) {
                bail!("tauri-driver did not start listening");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Launches the app (one session) without waiting for its page: what it shows first.
    pub async fn launch(&self) -> Result<Session> {
        Session::start(&self.url, Path::new(APP)).await
    }

    /// Launches the app (one session) and waits until its page is ready.
    pub async fn open(&self) -> Result<Session> {
        let app = self.launch().await?;
        app.wait_for(
            "the page",
            "return document.body.dataset.ready === 'true'",
            LIMIT,
        )
        .await?;
        Ok(app)
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The rows of the list as `[{ name, status, detail }]`.
pub const ROWS_SCRIPT: &str =
    "return [...document.querySelectorAll('#transfers .transfer')].map((row) => ({
    name: row.querySelector('.transfer-name').textContent,
    status: row.dataset.status,
    detail: row.querySelector('.transfer-detail').textContent,
    actions: [...row.querySelectorAll('button[data-action]')].map((b) => b.dataset.action),
}));";

/// `count` finished rows (`scan-000.pdf`, ...), as the app saves them.
pub fn ready_rows(count: usize) -> Vec<Record> {
    (0..count)
        .map(|i| Record {
            id: format!("t{i:04}"),
            name: format!("scan-{i:03}.pdf"),
            source: Some(PathBuf::from(format!("/data/scans/scan-{i:03}.pdf"))),
            size: 1_000_000 + i as u64,
            status: Status::Ready,
            uploaded: true,
            result_of: ddn_transfer::ResultOf::default(),
            result_path: Some(PathBuf::from(format!("/data/results/scan-{i:03}.pdf"))),
            error: None,
        })
        .collect()
}

/// Writes `records` as the app's saved list into the data folder under `data_home` (the app's
/// `XDG_DATA_HOME`).
pub fn write_records(data_home: &Path, records: &[Record]) -> Result<()> {
    let dir = data_home.join("com.ddn.transfer");
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join("transfers.json"), serde_json::to_vec(records)?)?;
    Ok(())
}

/// Writes a list of `count` finished rows (`scan-000.pdf`, ...), as the app saves it, into the
/// data folder under `data_home` (the app's `XDG_DATA_HOME`).
pub fn write_list(data_home: &Path, count: usize) -> Result<()> {
    write_records(data_home, &ready_rows(count))
}

/// Records every status each row shows, as the DOM changes, in `window.seenStatuses`.
pub const WATCH_STATUSES_SCRIPT: &str = "
    window.seenStatuses = {};
    const record = (row) => {
        const name = row.querySelector('.transfer-name').textContent.split(' · ')[0];
        const seen = (window.seenStatuses[name] ??= []);
        if (seen[seen.length - 1] !== row.dataset.status) seen.push(row.dataset.status);
    };
    const list = document.getElementById('transfers');
    new MutationObserver(() => list.querySelectorAll('.transfer').forEach(record))
        .observe(list, { subtree: true, attributes: true, childList: true, attributeFilter: ['data-status'] });
    return true;";
