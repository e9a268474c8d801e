//! System packages the tests and the app need beyond Rust itself.
//!
//! On Debian and Ubuntu the missing ones are installed with apt when running as root; otherwise the
//! exact command to run is printed and the task stops. Elsewhere nothing is checked: each test names
//! the tool it could not find.

use std::process::{Command, Stdio};

use anyhow::{Context as _, Result, bail};

/// Debian packages the whole test suite needs: a private Secret Service for the keyring tests, and
/// for the deploy scripts shellcheck, curl (the test scripts) and binutils (objdump, to check the
/// glibc versions the Lambda binary needs).
pub const TEST_PACKAGES: &[&str] = &[
    "dbus-daemon",
    "gnome-keyring",
    "libsecret-tools",
    "shellcheck",
    "curl",
    "binutils",
];

/// Debian packages the desktop app needs to build and run: WebKitGTK 4.1 (which brings GTK 3 and
/// libsoup 3) and pkg-config to find them.
pub const DESKTOP_PACKAGES: &[&str] = &["libwebkit2gtk-4.1-dev", "pkg-config", "build-essential"];

/// Debian packages the real-window tests need beyond [`DESKTOP_PACKAGES`]: an X server without a
/// screen, WebKit's WebDriver, fonts with Korean glyphs for the Korean screenshots, a notification
/// daemon to receive the app's notifications, `dbus-monitor` to see them arrive, and for dragging
/// files onto the window a GTK drag source (Python's GTK bindings) and xdotool to move the pointer.
pub const WINDOW_TEST_PACKAGES: &[&str] = &[
    "xvfb",
    "xauth",
    "webkit2gtk-driver",
    "fonts-noto-cjk",
    "dunst",
    "dbus-bin",
    "xdotool",
    "python3-gi",
    "gir1.2-gtk-3.0",
];

/// Makes sure every package in `packages` is installed, installing the missing ones when it can.
pub fn ensure_packages(packages: &[&str]) -> Result<()> {
    if !is_debian_like() {
        return Ok(());
    }
    let missing: Vec<&str> = packages
        .iter()
        .copied()
        .filter(|package| !is_installed(package))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let list = missing.join(" ");
    if !is_root() {
        bail!(
            "missing system packages: {list}\n\
             install them, then run again:\n    sudo apt-get install -y {list}"
        );
    }
    println!("==> installing system packages: {list}");
    run_apt(&["update", "-qq"])?;
    let mut install = vec!["install", "-y", "-qq", "--no-install-recommends"];
    install.extend(missing.iter().copied());
    run_apt(&install)
}

fn is_debian_like() -> bool {
    std::path::Path::new("/etc/debian_version").exists()
        && Command::new("dpkg-query")
            .arg("--version")
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|status| status.success())
}

fn is_installed(package: &str) -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", package])
        .stderr(Stdio::null())
        .output()
        .is_ok_and(|output| output.stdout.ends_with(b"install ok installed"))
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|output| output.stdout.trim_ascii() == b"0")
}

fn run_apt(args: &[&str]) -> Result<()> {
    let status = Command::new("apt-get")
        .args(args)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .status()
        .context("could not start apt-get")?;
    if !status.success() {
        bail!("apt-get {} failed ({status})", args.join(" "));
    }
    Ok(())
}
