//! The real app in a real window: a private X server (Xvfb), a private Secret Service, and
//! `tauri-driver` in front of WebKitWebDriver, all torn down when the test ends.

#![allow(
    dead_code,
    reason = "each test binary uses its own part of the harness"
)]

pub mod webdriver;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
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
    /// Starts Xvfb on the first free display number from 90.
    pub fn start() -> Result<Self> {
        for number in 90..190 {
            let socket = PathBuf::from(format!("/tmp/.X11-unix/X{number}"));
            let lock = PathBuf::from(format!("/tmp/.X{number}-lock"));
            if socket.exists() || lock.exists() {
                continue;
            }
            let server = Command::new("Xvfb")
                .args([
                    &format!(":{number}"),
                    "-screen",
                    "0",
                    "1024x768x24",
                    "-nolisten",
                    "tcp",
                ])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .context(
                    "could not start Xvfb (Debian package: xvfb; `cargo xtask test` installs it)",
                )?;
            let mut display = Self { number, server };
            let started = Instant::now();
            while !socket.exists() {
                if let Some(status) = display.server.try_wait()? {
                    bail!("Xvfb :{number} exited: {status}");
                }
                if started.elapsed() > Duration::from_secs(10) {
                    bail!("Xvfb :{number} did not start");
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            display.number = number;
            return Ok(display);
        }
        bail!("no free X display number")
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

    /// Launches the app (one session) and waits until its page is ready.
    pub async fn open(&self) -> Result<Session> {
        let app = Session::start(&self.url, Path::new(APP)).await?;
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
