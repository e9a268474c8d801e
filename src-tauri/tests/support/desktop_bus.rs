//! What the app asks of the desktop's services, seen on the bus as a desktop sees it: a real
//! notification daemon (dunst) owns `org.freedesktop.Notifications` on the test's private bus and
//! display, and `dbus-monitor` records every `Notify` call and every request to a file manager to
//! show files (`org.freedesktop.FileManager1.ShowItems`) made on that bus.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use ddn_testkit::desktop::Desktop;
use ddn_testkit::session_keyring::SessionKeyring;

/// How long the daemon and the monitor may take to come up.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// One notification as the daemon received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shown {
    pub title: String,
    pub body: String,
}

impl Shown {
    pub fn new(title: &str, body: &str) -> Self {
        Self {
            title: title.to_owned(),
            body: body.to_owned(),
        }
    }
}

/// A child process stopped when dropped.
struct Stopped(Child);

impl Drop for Stopped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A notification daemon and a monitor of the calls made to the desktop, both stopped when
/// dropped.
pub struct DesktopBus {
    _monitor: Stopped,
    _daemon: Stopped,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl DesktopBus {
    /// Starts both on the desktop's keyring session bus and display, and waits until the monitor
    /// listens and the daemon owns its name.
    pub fn start(desktop: &Desktop) -> Result<Self> {
        let keyring = &desktop.keyring;
        let dir = tempfile::tempdir()?;
        let log = dir.path().join("notify.log");
        let mut monitor = Command::new("dbus-monitor");
        keyring.apply(&mut monitor);
        let monitor = Stopped(
            monitor
                .args([
                    "--monitor",
                    "type='method_call',interface='org.freedesktop.Notifications',member='Notify'",
                    "type='method_call',interface='org.freedesktop.FileManager1',member='ShowItems'",
                ])
                .stdin(Stdio::null())
                .stdout(std::fs::File::create(&log)?)
                .stderr(Stdio::null())
                .spawn()
                .context("could not start dbus-monitor (Debian package: dbus-bin)")?,
        );
        let mut daemon = desktop.display.command("dunst");
        keyring.apply(&mut daemon);
        let daemon = Stopped(
            daemon
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .context(
                    "could not start dunst (Debian package: dunst; `cargo xtask test` installs it)",
                )?,
        );
        let bus = Self {
            _monitor: monitor,
            _daemon: daemon,
            log,
            _dir: dir,
        };
        bus.wait_until_ready(keyring)?;
        Ok(bus)
    }

    fn wait_until_ready(&self, keyring: &SessionKeyring) -> Result<()> {
        let started = Instant::now();
        while started.elapsed() < START_TIMEOUT {
            // A monitor gives up its name on the bus once it listens.
            let listening = self.log()?.contains("member=NameLost");
            if listening && keyring.name_has_owner("org.freedesktop.Notifications")? {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        bail!("the notification daemon or the monitor did not start within {START_TIMEOUT:?}")
    }

    /// Every notification sent so far, in order.
    pub fn notifications(&self) -> Result<Vec<Shown>> {
        Ok(calls(&self.log()?, "Notify")
            .into_iter()
            .filter(|strings| strings.len() >= 4)
            .map(|strings| Shown {
                // The application's name and the icon come first.
                title: strings[2].clone(),
                body: strings[3].clone(),
            })
            .collect())
    }

    /// The files each request to a file manager asked it to show, in order.
    pub fn shown_items(&self) -> Result<Vec<Vec<String>>> {
        Ok(calls(&self.log()?, "ShowItems")
            .into_iter()
            .map(|mut strings| {
                // The last string is the startup id; the URIs come before it.
                strings.pop();
                strings
            })
            .collect())
    }

    fn log(&self) -> Result<String> {
        Ok(std::fs::read_to_string(&self.log)?)
    }

    /// Waits until at least `count` notifications were sent, and returns them all.
    pub async fn wait_for_notifications(
        &self,
        count: usize,
        limit: Duration,
    ) -> Result<Vec<Shown>> {
        wait_for_count("notifications", count, limit, || self.notifications()).await
    }

    /// Waits until a file manager was asked to show files at least `count` times, and returns
    /// every request.
    pub async fn wait_for_shown_items(
        &self,
        count: usize,
        limit: Duration,
    ) -> Result<Vec<Vec<String>>> {
        wait_for_count("requests to show files", count, limit, || {
            self.shown_items()
        })
        .await
    }
}

async fn wait_for_count<T: std::fmt::Debug>(
    what: &str,
    count: usize,
    limit: Duration,
    seen: impl Fn() -> Result<Vec<T>>,
) -> Result<Vec<T>> {
    let started = Instant::now();
    loop {
        let seen = seen()?;
        if seen.len() >= count {
            return Ok(seen);
        }
        if started.elapsed() > limit {
            bail!(
                "{} {what} after {limit:?}, expected {count}: {seen:?}",
                seen.len()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The string arguments of each call to `member` in `dbus-monitor`'s output, in order. A call's
/// arguments follow its header line, one a line, indented (arrays open a nested block).
fn calls(log: &str, member: &str) -> Vec<Vec<String>> {
    let header = format!("member={member}");
    let mut calls: Vec<Vec<String>> = Vec::new();
    let mut in_call = false;
    for line in log.lines() {
        if !line.starts_with(' ') {
            in_call = line.starts_with("method call") && line.ends_with(&header);
            if in_call {
                calls.push(Vec::new());
            }
            continue;
        }
        let argument = line.trim_start().strip_prefix("string \"");
        if let (true, Some(argument), Some(call)) = (in_call, argument, calls.last_mut()) {
            call.push(argument.strip_suffix('"').unwrap_or(argument).to_owned());
        }
    }
    calls
}
