//! The real app in a real window: `tauri-driver` in front of WebKitWebDriver, launching the built
//! app on a private desktop (the local stack, a private Secret Service and an X display, from
//! `ddn_testkit::desktop`), all torn down when the test ends.

#![allow(
    dead_code,
    reason = "each test binary uses its own part of the harness"
)]

pub mod desktop_bus;
pub mod webdriver;

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail, ensure};
use ddn_desktop::jobs::{Record, Status};
use ddn_testkit::desktop::Desktop;
use ddn_testkit::loopback;
use ddn_testkit::session_keyring;

pub use webdriver::Session;

/// How long any one step of a window test may take.
pub const LIMIT: Duration = Duration::from_secs(120);

/// The app binary cargo built for these tests.
pub const APP: &str = env!("CARGO_BIN_EXE_ddn-transfer");

/// Where screenshots are saved (kept after the run, as test artifacts).
pub fn screenshot_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("screenshots")
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

/// A loopback port free a moment ago, for a program that must be told which port to take.
async fn free_port() -> Result<u16> {
    Ok(loopback::bind(0).await?.local_addr()?.port())
}

/// A running `tauri-driver`, whose apps get the given environment.
pub struct Driver {
    child: Child,
    url: String,
    /// The bus of the desktop the apps run on.
    bus: String,
}

/// The name the app holds on the session bus while it runs (the single-instance plugin's: the
/// identifier in `tauri.conf.json` and `.SingleInstance`).
const INSTANCE_NAME: &str = "com.ddn.transfer.SingleInstance";

impl Driver {
    /// Starts the driver on the desktop's display, with its keyring session's bus and home and
    /// `env`.
    pub async fn start(desktop: &Desktop, env: &[(&str, String)]) -> Result<Self> {
        let port = free_port().await?;
        let native_port = free_port().await?;
        let mut command = desktop.display.command(tauri_driver_path()?);
        desktop.keyring.apply(&mut command);
        command
            .args([
                "--port",
                &port.to_string(),
                "--native-port",
                &native_port.to_string(),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        for (name, value) in env {
            command.env(name, value);
        }
        let child = command.spawn().context("could not start tauri-driver")?;
        let driver = Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
            bus: desktop.keyring.bus_address().to_owned(),
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

    /// Ends `app`'s session and waits until the app has quit (it lets go of its name on the bus
    /// last), so that the next launch on this desktop is the one instance and not a second one
    /// handing its arguments to an app on its way out.
    pub async fn close(&self, app: Session) -> Result<()> {
        app.close().await?;
        let started = Instant::now();
        while session_keyring::name_has_owner(&self.bus, INSTANCE_NAME)? {
            if started.elapsed() > LIMIT {
                bail!("the app still runs {LIMIT:?} after its session ended");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(())
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
