//! The deploy scripts' checks (`lambda/deploy`): shellcheck, then their Python test suite, which
//! runs the scripts against an AWS emulator and the local stack, all on loopback, and tests the
//! scripts' Python helper (`ddn_deploy.py`) on its own.
//!
//! The suite's packages (the emulator, the AWS CLI, boto3) are pinned in
//! `lambda/deploy/tests/requirements.txt` and installed from PyPI into a virtual environment under
//! the target folder, made once and reused until the requirements change.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, Result, bail};

const DEPLOY_DIR: &str = "lambda/deploy";
/// The parts of `lib.sh`, which it sources.
const LIB_DIR: &str = "lambda/deploy/lib";
const TESTS_DIR: &str = "lambda/deploy/tests";
const REQUIREMENTS: &str = "lambda/deploy/tests/requirements.txt";

/// Runs shellcheck on every script and every part of `lib.sh`, then the deploy test suite.
pub fn test(root: &Path) -> Result<()> {
    let mut shellcheck = Command::new("shellcheck");
    shellcheck
        .args(["--external-sources", "--severity=style"])
        .args(scripts(root)?);
    super::step(root, "shellcheck lambda/deploy", shellcheck)?;

    let python = virtual_env(root)?;
    let mut suite = Command::new(&python);
    suite
        .args(["-m", "unittest", "discover", "--verbose"])
        .args([
            "--start-directory",
            TESTS_DIR,
            "--top-level-directory",
            TESTS_DIR,
        ])
        // Keep compiled files out of the source tree.
        .env("PYTHONDONTWRITEBYTECODE", "1");
    super::step(root, "deploy scripts (AWS emulator, local stack)", suite)
}

/// The scripts, then the parts of `lib.sh`, as paths relative to the workspace root, in a stable
/// order.
fn scripts(root: &Path) -> Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    for folder in [DEPLOY_DIR, LIB_DIR] {
        let folder = root.join(folder);
        let mut in_folder: Vec<PathBuf> = fs::read_dir(&folder)
            .with_context(|| format!("reading {}", folder.display()))?
            .filter_map(|entry| entry.ok().map(|entry| entry.path()))
            .filter(|path| path.extension().is_some_and(|extension| extension == "sh"))
            .filter_map(|path| path.strip_prefix(root).ok().map(Path::to_path_buf))
            .collect();
        if in_folder.is_empty() {
            bail!("no scripts found in {}", folder.display());
        }
        in_folder.sort();
        found.append(&mut in_folder);
    }
    Ok(found)
}

/// The virtual environment's Python, after making the environment if it is missing or was made
/// from other requirements.
fn virtual_env(root: &Path) -> Result<PathBuf> {
    let venv = crate::target_dir(root).join("deploy-venv");
    let python = venv.join("bin").join("python");
    // The requirements the environment was made from, written once everything is installed.
    let installed = venv.join("installed-requirements.txt");
    let wanted =
        fs::read(root.join(REQUIREMENTS)).with_context(|| format!("reading {REQUIREMENTS}"))?;
    if python.exists() && fs::read(&installed).is_ok_and(|have| have == wanted) {
        println!("==> Python environment {} is up to date", venv.display());
        return Ok(python);
    }

    if venv.exists() {
        fs::remove_dir_all(&venv).with_context(|| format!("removing {}", venv.display()))?;
    }
    let mut create = Command::new("python3");
    create.arg("-m").arg("venv").arg(&venv);
    super::step(root, "python3 -m venv target/deploy-venv", create).context(
        "could not make a Python virtual environment: install Python 3 with venv \
         (Debian: apt-get install python3-venv)",
    )?;
    let mut install = Command::new(&python);
    install
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
        ])
        .args(["--no-input", "--requirement", REQUIREMENTS]);
    super::step(root, "pip install (deploy test requirements)", install)?;
    fs::write(&installed, &wanted).with_context(|| format!("writing {}", installed.display()))?;
    Ok(python)
}
