//! `cargo xtask bundle`: the Linux packages (`.deb` and `.rpm`), built by the Tauri bundler from the
//! release build. Both formats are written by the bundler itself, so nothing is downloaded; the
//! AppImage, Windows and macOS installers need tools the bundler downloads and are built by the
//! release pipeline (`.github/workflows/release.yml`).

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};

use crate::{npm_tools, step, system, target_dir};

/// The packages of one bundle run.
pub struct Packages {
    pub deb: PathBuf,
    pub rpm: PathBuf,
}

/// The bundler's configuration for packages without updater artifacts, which are signed with the
/// release key that only the release pipeline holds.
const WITHOUT_UPDATER_ARTIFACTS: &str = r#"{"bundle":{"createUpdaterArtifacts":false}}"#;

/// Builds the `.deb` and `.rpm` of the workspace's version and answers where they are.
pub fn run(root: &Path) -> Result<Packages> {
    system::ensure_packages(system::DESKTOP_PACKAGES)?;
    let mut build = npm_tools::tauri(root)?;
    build
        .args(["build", "--ci", "--bundles", "deb,rpm"])
        .env("CARGO_TARGET_DIR", target_dir(root));
    if std::env::var_os("TAURI_SIGNING_PRIVATE_KEY").is_none() {
        build.args(["--config", WITHOUT_UPDATER_ARTIFACTS]);
    }
    step(
        root,
        "build the Linux packages (tauri build: deb, rpm)",
        build,
    )?;

    let packages = packages_in(root, &target_dir(root).join("release").join("bundle"))?;
    for package in [&packages.deb, &packages.rpm] {
        let size = std::fs::metadata(package)?.len();
        println!(
            "    {} ({:.2} MiB)",
            package.display(),
            size as f64 / 1024.0 / 1024.0
        );
    }
    Ok(packages)
}

/// Packages for the install tests, made in seconds by the same bundler and configuration from the
/// debug build the window tests use (stripped of its debug information), instead of a release
/// build that takes about 25 minutes on two cores from cold. What the install tests check (the
/// dependencies apt resolves, the files and where they go, the window from the installed path,
/// a clean removal) does not depend on how the binary was optimized; the release packages are
/// built by [`run`] and by the release pipeline, and their sizes are in BENCHMARKS.md.
///
/// With `build` false the debug binary is taken as `cargo test --workspace` left it: building it
/// again alone would unify other features and rebuild Tauri for nothing.
pub fn for_tests(root: &Path, build: bool) -> Result<Packages> {
    system::ensure_packages(system::DESKTOP_PACKAGES)?;
    if build {
        let mut build = crate::cargo();
        build.args([
            "build",
            "--locked",
            "-p",
            "ddn-desktop",
            "--bin",
            "ddn-transfer",
        ]);
        step(root, "build the app (debug) for the package tests", build)?;
    }
    let binary = target_dir(root).join("debug").join("ddn-transfer");
    if !binary.is_file() {
        bail!("no debug build of the app at {}", binary.display());
    }
    let staging = target_dir(root).join("package-test");
    let staged = staging.join("debug");
    if staging.exists() {
        std::fs::remove_dir_all(&staging)
            .with_context(|| format!("clearing {}", staging.display()))?;
    }
    std::fs::create_dir_all(&staged)?;
    let mut strip = std::process::Command::new("strip");
    strip
        .arg("--strip-debug")
        .arg(&binary)
        .arg("-o")
        .arg(staged.join("ddn-transfer"));
    step(root, "strip a copy of the debug build", strip)?;

    let mut bundle = npm_tools::tauri(root)?;
    bundle
        .args(["bundle", "--ci", "--debug", "--bundles", "deb,rpm"])
        .args(["--config", WITHOUT_UPDATER_ARTIFACTS])
        .env("CARGO_TARGET_DIR", &staging);
    step(
        root,
        "bundle the test packages (tauri bundle: deb, rpm)",
        bundle,
    )?;
    packages_in(root, &staged.join("bundle"))
}

/// The `.deb` and `.rpm` of the workspace's version in the bundler's output folder `bundle`.
fn packages_in(root: &Path, bundle: &Path) -> Result<Packages> {
    let version = workspace_version(root)?;
    Ok(Packages {
        deb: only_package(&bundle.join("deb"), &version, "deb")?,
        rpm: only_package(&bundle.join("rpm"), &version, "rpm")?,
    })
}

/// The version in the root `Cargo.toml`'s `[workspace.package]`, the one every crate inherits.
pub fn workspace_version(root: &Path) -> Result<String> {
    let manifest =
        std::fs::read_to_string(root.join("Cargo.toml")).context("reading Cargo.toml")?;
    let mut in_package = false;
    for line in manifest.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_package = line == "[workspace.package]";
        } else if in_package && let Some(value) = line.strip_prefix("version") {
            let value = value.trim_start().trim_start_matches('=').trim();
            return Ok(value.trim_matches('"').to_owned());
        }
    }
    bail!("no version in the [workspace.package] of Cargo.toml")
}

/// The one package of `version` with extension `extension` in `dir` (older builds may lie beside it).
fn only_package(dir: &Path, version: &str, extension: &str) -> Result<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| {
            path.extension().is_some_and(|ext| ext == extension)
                && path
                    .file_name()
                    .is_some_and(|name| name.to_string_lossy().contains(version))
        })
        .collect();
    match found.len() {
        1 => Ok(found.remove(0)),
        0 => bail!(
            "the bundler wrote no .{extension} of version {version} in {}",
            dir.display()
        ),
        _ => bail!(
            "more than one .{extension} of version {version} in {}: {found:?}",
            dir.display()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_workspace_version_is_the_one_every_crate_inherits() {
        let root = crate::workspace_root();
        let version = workspace_version(&root).expect("a version");
        assert_eq!(version, env!("CARGO_PKG_VERSION"));
        let config: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(root.join("src-tauri/tauri.conf.json")).expect("config"),
        )
        .expect("json");
        // Without a version of its own, the app takes its crate's, so there is one place to bump.
        assert!(
            config.get("version").is_none(),
            "tauri.conf.json has a version of its own"
        );
        let mut members = vec![
            root.join("lambda"),
            root.join("src-tauri"),
            root.join("xtask"),
        ];
        for entry in std::fs::read_dir(root.join("crates")).expect("crates") {
            members.push(entry.expect("entry").path());
        }
        for member in members {
            let manifest = std::fs::read_to_string(member.join("Cargo.toml")).expect("manifest");
            assert!(
                manifest.contains("\nversion.workspace = true\n"),
                "{} has a version of its own",
                member.display()
            );
        }
    }
}
