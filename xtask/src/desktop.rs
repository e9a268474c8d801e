//! The desktop app: `cargo xtask run` builds it and opens it against a local stack started for the
//! occasion (and stopped when the window closes); the window tests get `tauri-driver` from here.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};

use crate::{cargo, step, system, target_dir};

/// The version of `tauri-driver` the window tests use.
const TAURI_DRIVER_VERSION: &str = "2.1.0";

/// Builds the app and the local stack, starts the stack, opens the app configured for it, and
/// stops the stack when the app exits. `args` go to the stack (`ddn-local`).
pub fn run(root: &Path, args: &[String]) -> Result<()> {
    system::ensure_packages(system::DESKTOP_PACKAGES)?;
    let mut build = cargo();
    build.args([
        "build",
        "--package",
        "ddn-desktop",
        "--package",
        "ddn-localstack",
        "--bin",
        "ddn-transfer",
        "--bin",
        "ddn-local",
    ]);
    step(root, "build the app and the local stack", build)?;

    let bin = target_dir(root).join("debug");
    let run_dir = std::env::temp_dir().join(format!("ddn-run-{}", std::process::id()));
    std::fs::create_dir_all(&run_dir)?;
    let ready_file = run_dir.join("ready.json");
    let stack = Command::new(bin.join("ddn-local"))
        .arg("--ready-file")
        .arg(&ready_file)
        .args(args)
        .spawn()
        .context("could not start the local stack")?;
    let mut stack = Stack(stack);
    let ready = wait_for_ready(&mut stack.0, &ready_file)?;
    let _ = std::fs::remove_dir_all(&run_dir);

    println!("==> opening DDN Transfer (close the window to stop)");
    let status = Command::new(bin.join("ddn-transfer"))
        .env("DDN_API_URL", &ready.0)
        .env("DDN_API_TOKEN", &ready.1)
        .status()
        .context("could not start the app")?;
    drop(stack);
    if !status.success() {
        bail!("the app exited with {status}");
    }
    Ok(())
}

/// Stops the stack when dropped: politely (SIGINT, so it removes its temporary data), then for
/// sure.
struct Stack(Child);

impl Drop for Stack {
    fn drop(&mut self) {
        let id = self.0.id().to_string();
        let interrupted = cfg!(unix)
            && Command::new("kill")
                .args(["-INT", &id])
                .status()
                .is_ok_and(|status| status.success());
        if interrupted {
            let started = Instant::now();
            while started.elapsed() < Duration::from_secs(5) {
                if matches!(self.0.try_wait(), Ok(Some(_))) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The stack's address and token, once it has written them.
fn wait_for_ready(stack: &mut Child, ready_file: &Path) -> Result<(String, String)> {
    let started = Instant::now();
    loop {
        if let Ok(text) = std::fs::read_to_string(ready_file)
            && let Ok(ready) = serde_json::from_str::<serde_json::Value>(&text)
            && let (Some(url), Some(token)) = (ready["apiUrl"].as_str(), ready["token"].as_str())
        {
            return Ok((url.to_owned(), token.to_owned()));
        }
        if let Some(status) = stack.try_wait()? {
            bail!("the local stack stopped before it was ready ({status})");
        }
        if started.elapsed() > Duration::from_secs(60) {
            bail!("the local stack did not get ready within a minute");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `tauri-driver` for the window tests, installed under `target/tools` when missing.
pub fn tauri_driver(root: &Path) -> Result<PathBuf> {
    let tools = target_dir(root).join("tools");
    let driver = tools.join("bin").join(if cfg!(windows) {
        "tauri-driver.exe"
    } else {
        "tauri-driver"
    });
    if driver.exists() {
        return Ok(driver);
    }
    let mut install = cargo();
    install
        .args([
            "install",
            "--locked",
            "--version",
            TAURI_DRIVER_VERSION,
            "--root",
        ])
        .arg(&tools)
        .arg("tauri-driver");
    step(root, "install tauri-driver", install)?;
    Ok(driver)
}
