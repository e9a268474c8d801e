//! Project automation, run as `cargo xtask <command>` (an alias in `.cargo/config.toml`).
//!
//! - `run`: builds the desktop app and opens it against the embedded local stack.
//! - `stack`: starts the embedded local stack alone, in the foreground (Ctrl-C stops it).
//! - `test`: the whole suite: the invariants (`tidy`), formatting, clippy with warnings as
//!   errors, every test, the packages installed into a fresh Debian root (`test --packages`:
//!   that part alone).
//! - `bench`: the benchmarks recorded in BENCHMARKS.md.
//! - `bundle`: the Linux packages (`.deb`, `.rpm`) with the Tauri bundler.
//! - `icons`: makes every app icon from `icons/source.svg` into `icons/`.
//! - `tidy`: checks the architecture's invariants on the tree (`test` runs it first).
//!
//! Written in Rust rather than shell so it runs the same on every platform the project builds on.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context as _, Result, bail};

mod bundle;
mod deploy;
mod desktop;
mod icons;
mod npm_tools;
mod packages;
mod system;
mod tidy;
mod workflows;

const USAGE: &str = "\
usage: cargo xtask <command> [args]

commands:
  run [ARGS]   build the desktop app and open it against a local stack started for it
               (stopped when the window closes); ARGS go to ddn-local
  stack [ARGS] start the local stack alone (S3 server, presign API, processor) on
               loopback; ARGS go to ddn-local (try: cargo xtask stack --help)
  test         check the invariants (tidy) and formatting, run clippy (-D warnings) and
               every test, then the packages (installed into a fresh Debian root: needs
               root and mounts)
  test --packages  only the packages: bundle them from the debug build, install the
               .deb into a fresh Debian root, open the installed app, remove it
  bench        run the benchmarks recorded in BENCHMARKS.md
  bundle       build the Linux packages (.deb and .rpm) into target/release/bundle
  icons        make every app icon from icons/source.svg into icons/ (Tauri CLI)
  tidy         check the architecture's invariants (ARCHITECTURE.md) on the tree: the
               contract's dependencies, no Tauri in the engine, no object bytes in the
               function, loopback binds, the four lists of commands, module docs
               (test runs it first)";

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let command = args.next();
    let rest: Vec<String> = args.collect();
    let root = workspace_root();
    match command.as_deref() {
        Some("run") => desktop::run(&root, &rest),
        Some("stack") => run_stack(&root, &rest),
        Some("test") if rest.iter().any(|arg| arg == "--packages") => {
            packages::test(&root, &bundle::for_tests(&root, true)?)
        }
        Some("test") => test_all(&root),
        Some("bench") => bench(&root),
        Some("bundle") => bundle::run(&root).map(|_| ()),
        Some("icons") => icons::run(&root),
        Some("tidy") => tidy::run(&root),
        Some("help" | "-h" | "--help") => {
            println!("{USAGE}");
            Ok(())
        }
        Some(other) => bail!("unknown command {other:?}\n\n{USAGE}"),
        None => bail!("no command given\n\n{USAGE}"),
    }
}

/// The workspace root: the parent of this crate's folder.
fn workspace_root() -> PathBuf {
    let manifest_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest_dir
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or(manifest_dir)
}

/// The build folder: `CARGO_TARGET_DIR`, else `target/` in the workspace.
fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from)
}

fn cargo() -> Command {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

/// Runs a command (in the workspace root unless it has a folder of its own), failing with its name
/// when it fails.
fn step(root: &Path, name: &str, mut command: Command) -> Result<()> {
    println!("==> {name}");
    let started = Instant::now();
    if command.get_current_dir().is_none() {
        command.current_dir(root);
    }
    let status = command
        .status()
        .with_context(|| format!("could not start: {name}"))?;
    if !status.success() {
        bail!("failed: {name} ({status})");
    }
    println!("==> {name}: ok in {:.1} s", started.elapsed().as_secs_f64());
    Ok(())
}

fn run_stack(root: &Path, args: &[String]) -> Result<()> {
    let mut command = cargo();
    command
        .args([
            "run",
            "--quiet",
            "--package",
            "ddn-localstack",
            "--bin",
            "ddn-local",
            "--",
        ])
        .args(args);
    step(root, "local stack", command)
}

fn test_all(root: &Path) -> Result<()> {
    let started = Instant::now();
    // The invariants first: they need no build, so a broken rule fails in seconds.
    let tidy_started = Instant::now();
    println!("==> tidy (the architecture's invariants)");
    tidy::run(root)?;
    println!(
        "==> tidy: ok in {:.1} s",
        tidy_started.elapsed().as_secs_f64()
    );
    system::ensure_packages(
        &[
            system::TEST_PACKAGES,
            system::DESKTOP_PACKAGES,
            system::WINDOW_TEST_PACKAGES,
        ]
        .concat(),
    )?;
    let tauri_driver = desktop::tauri_driver(root)?;
    // The updater test signs its updates with throwaway keys made by the pinned Tauri CLI.
    let tauri_cli = npm_tools::install(root)?.join("tauri");

    let mut fmt = cargo();
    fmt.args(["fmt", "--all", "--", "--check"]);
    step(root, "cargo fmt --check", fmt)?;

    let mut clippy = cargo();
    clippy.args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--locked",
        "--",
        "-D",
        "warnings",
    ]);
    step(root, "cargo clippy -D warnings", clippy)?;

    step(root, "UI logic (node --test)", ui_tests(root)?)?;

    let workflows_started = Instant::now();
    println!("==> GitHub workflows (actionlint, action-validator)");
    workflows::check(root)?;
    println!(
        "==> GitHub workflows: ok in {:.1} s",
        workflows_started.elapsed().as_secs_f64()
    );

    let mut tests = cargo();
    tests
        .args(["test", "--workspace", "--locked"])
        .env("TAURI_DRIVER", &tauri_driver)
        .env("TAURI_CLI", &tauri_cli);
    step(root, "cargo test", tests)?;

    deploy::test(root)?;

    // The debug build `cargo test` made above, bundled and installed as users install it.
    packages::test(root, &bundle::for_tests(root, false)?)?;

    println!(
        "All checks passed in {:.0} s.",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Node's own test runner on the interface's logic (`ui/tests/*.test.js`), no browser involved.
/// The files are listed here because Node versions differ in how they read a folder argument.
fn ui_tests(root: &Path) -> Result<Command> {
    let node_ok = Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|output| output.status.success());
    if !node_ok {
        bail!("Node.js 18 or newer is needed for the UI tests: install it, then run again");
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(root.join("ui/tests"))
        .context("reading ui/tests")?
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| path.to_string_lossy().ends_with(".test.js"))
        .collect();
    files.sort();
    if files.is_empty() {
        bail!("no UI tests found in ui/tests");
    }
    let mut command = Command::new("node");
    command.arg("--test").args(files);
    Ok(command)
}

fn bench(root: &Path) -> Result<()> {
    let mut presign = cargo();
    presign.args([
        "bench",
        "--locked",
        "-p",
        "ddn-presign",
        "--bench",
        "presign",
    ]);
    step(root, "warm presign (criterion)", presign)?;

    let mut cold = cargo();
    cold.args([
        "bench",
        "--locked",
        "-p",
        "ddn-presign",
        "--bench",
        "cold_start",
    ]);
    step(root, "cold start", cold)?;

    let mut transfer = cargo();
    transfer.args(["bench", "--locked", "-p", "ddn-cli", "--bench", "transfer"]);
    step(
        root,
        "transfer throughput and memory, against curl",
        transfer,
    )?;

    system::ensure_packages(&[system::DESKTOP_PACKAGES, system::WINDOW_TEST_PACKAGES].concat())?;
    let tauri_driver = desktop::tauri_driver(root)?;
    let mut baseline = cargo();
    baseline.args([
        "build",
        "--locked",
        "--release",
        "-p",
        "ddn-desktop",
        "--example",
        "empty_window",
    ]);
    step(root, "build the empty-window baseline", baseline)?;
    let mut window = cargo();
    window
        .args([
            "bench",
            "--locked",
            "-p",
            "ddn-desktop",
            "--bench",
            "window",
        ])
        .env("TAURI_DRIVER", &tauri_driver);
    step(
        root,
        "desktop window: launch time, memory against an empty window, frames",
        window,
    )
}
