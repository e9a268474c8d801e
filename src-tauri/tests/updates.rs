//! Updates for real, in a real window: a server on loopback offers a newer version, signed with
//! throwaway keys made by the Tauri CLI. The app finds it at start and offers it; an update signed
//! by another key, one whose bytes were changed after signing, and one signed for another version
//! are each refused in plain words and leave the installed app as it was; a good one waits for the
//! transfer that is moving, then is verified and installed. The app runs as if started from an
//! AppImage (`APPIMAGE`), which is the file the updater replaces.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context as _, Result, ensure};
use ddn_testkit::desktop::Desktop;
use ddn_testkit::http::{StatusCode, TestServer, response};
use serde_json::json;
use support::{Driver, LIMIT, Session, screenshot_dir};

/// The version the server offers (the app is 0.1.x).
const NEW_VERSION: &str = "9.9.9";

/// The Tauri CLI: from `TAURI_CLI`, else where `cargo xtask` installs it.
fn tauri_cli() -> Result<PathBuf> {
    if let Some(path) = std::env::var_os("TAURI_CLI") {
        return Ok(PathBuf::from(path));
    }
    let installed =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/tools/npm/node_modules/.bin/tauri");
    ensure!(
        installed.exists(),
        "the Tauri CLI is not installed: run `cargo xtask test` (it installs it)"
    );
    Ok(installed)
}

/// A minisign key pair made by `tauri signer generate`, without a password.
struct SigningKey {
    private: PathBuf,
    public: String,
}

impl SigningKey {
    fn generate(cli: &Path, path: PathBuf) -> Result<Self> {
        let status = Command::new(cli)
            .args([
                "signer",
                "generate",
                "--ci",
                "--password",
                "",
                "--write-keys",
            ])
            .arg(&path)
            .stdout(std::process::Stdio::null())
            .status()?;
        ensure!(status.success(), "tauri signer generate: {status}");
        let public = std::fs::read_to_string(path.with_extension("key.pub"))
            .or_else(|_| std::fs::read_to_string(format!("{}.pub", path.display())))?;
        Ok(Self {
            private: path,
            public: public.trim().to_owned(),
        })
    }

    /// The updater's signature of `file`, bound to `version`.
    fn sign(&self, cli: &Path, file: &Path, version: &str) -> Result<String> {
        let status = Command::new(cli)
            .args(["signer", "sign", "--password", "", "--app-version", version])
            .arg("--private-key-path")
            .arg(&self.private)
            .arg(file)
            .stdout(std::process::Stdio::null())
            .status()?;
        ensure!(status.success(), "tauri signer sign: {status}");
        let signature = std::fs::read_to_string(format!("{}.sig", file.display()))?;
        Ok(signature.trim().to_owned())
    }
}

/// What the update server hands out: the manifest and the artifact, changed between steps.
#[derive(Default)]
struct Offer {
    manifest: Vec<u8>,
    artifact: Vec<u8>,
}

/// A small HTTP server on loopback serving `/latest.json` and `/update.AppImage` from `offer`.
async fn serve(offer: Arc<Mutex<Offer>>) -> Result<TestServer> {
    Ok(TestServer::start(move |request| {
        let answer = {
            let offer = offer
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            match request.uri().path() {
                "/latest.json" => response(StatusCode::OK, offer.manifest.clone()),
                "/update.AppImage" => response(StatusCode::OK, offer.artifact.clone()),
                _ => response(StatusCode::NOT_FOUND, Vec::new()),
            }
        };
        async move { answer }
    })
    .await?)
}

/// A file the updater takes for an AppImage (an ELF executable), different for each `label`.
fn fake_appimage(label: &str) -> Vec<u8> {
    let mut bytes = b"\x7fELF\x02\x01\x01".to_vec();
    bytes.extend_from_slice(label.as_bytes());
    bytes.resize(4096, 0);
    bytes
}

fn manifest(address: &str, version: &str, signature: &str) -> Vec<u8> {
    let platform = format!("linux-{}", std::env::consts::ARCH);
    serde_json::to_vec(&json!({
        "version": version,
        "notes": "Faster uploads.",
        "pub_date": "2026-12-01T00:00:00Z",
        "platforms": { platform: { "url": format!("{address}/update.AppImage"), "signature": signature } },
    }))
    .unwrap_or_default()
}

async fn banner_says(app: &Session, text: &str) -> Result<()> {
    app.wait_for(
        &format!("the banner to say {text:?}"),
        &format!(
            "const banner = document.getElementById('update-banner');
             return !banner.hidden && document.getElementById('update-banner-text').textContent === {text:?}"
        ),
        LIMIT,
    )
    .await
    .map(|_| ())
}

/// Opens About, checks for updates there, and waits until it offers `version`; closes About.
async fn check_again(app: &Session, version: &str) -> Result<()> {
    app.click("#open-about").await?;
    app.click("#update-check").await?;
    app.wait_for(
        "About to offer the update",
        &format!(
            "return document.getElementById('about-update-status').textContent === 'Version {version} is available.'
                && !document.getElementById('update-install').hidden"
        ),
        LIMIT,
    )
    .await?;
    app.click("#about-close").await
}

const UNVERIFIED: &str =
    "The update could not be verified, so it was not installed. The app is unchanged.";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn updates_are_verified_and_wait_for_the_transfers_before_they_are_installed() -> Result<()> {
    let cli = tauri_cli()?;
    let work = tempfile::tempdir()?;
    let trusted = SigningKey::generate(&cli, work.path().join("trusted.key"))?;
    let stranger = SigningKey::generate(&cli, work.path().join("stranger.key"))?;
    let new_build = work.path().join("update.AppImage");
    std::fs::write(&new_build, fake_appimage("9.9.9"))?;
    let good_signature = trusted.sign(&cli, &new_build, NEW_VERSION)?;
    let strangers_signature = stranger.sign(&cli, &new_build, NEW_VERSION)?;
    let older_signature = trusted.sign(&cli, &new_build, "9.9.8")?;

    let installed = work.path().join("DDN_Transfer.AppImage");
    let installed_bytes = fake_appimage("0.1.0 as installed");
    std::fs::write(&installed, &installed_bytes)?;
    let unchanged = |why: &str| -> Result<()> {
        ensure!(
            std::fs::read(&installed)? == installed_bytes,
            "the installed app changed: {why}"
        );
        Ok(())
    };

    let offer = Arc::new(Mutex::new(Offer::default()));
    let server = serve(Arc::clone(&offer)).await?;
    let address = server.url();
    let set_offer = |signature: &str, artifact: Vec<u8>| {
        let mut offer = offer
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        offer.manifest = manifest(&address, NEW_VERSION, signature);
        offer.artifact = artifact;
    };
    // First offer: the right bytes, signed by a key the app does not trust.
    set_offer(&strangers_signature, fake_appimage("9.9.9"));

    let desktop = Desktop::with_processing_delay(Duration::from_secs(6)).await?;
    let results = work.path().join("results");
    let mut env = desktop.app_env(&results);
    env.push(("DDN_UPDATE_ENDPOINT", format!("{address}/latest.json")));
    env.push(("DDN_UPDATE_PUBKEY", trusted.public.clone()));
    env.push(("APPIMAGE", installed.display().to_string()));
    let driver = Driver::start(&desktop, &env).await?;
    let shots = screenshot_dir();
    let app = driver.open().await?;

    // Found at start, offered in plain words.
    banner_says(&app, &format!("Version {NEW_VERSION} is available.")).await?;
    app.screenshot(&shots.join("update-available.png")).await?;
    app.click("#update-banner-install").await?;
    banner_says(&app, UNVERIFIED).await?;
    app.screenshot(&shots.join("update-refused.png")).await?;
    unchanged("signed by another key")?;

    // Signed by the trusted key, but its bytes were changed after signing.
    let mut tampered = fake_appimage("9.9.9");
    tampered[100] ^= 1;
    set_offer(&good_signature, tampered);
    check_again(&app, NEW_VERSION).await?;
    app.click("#update-banner-install").await?;
    banner_says(&app, UNVERIFIED).await?;
    unchanged("tampered bytes")?;

    // A genuine signature of another version, announced as the new one (a downgrade in disguise).
    set_offer(&older_signature, fake_appimage("9.9.9"));
    check_again(&app, NEW_VERSION).await?;
    app.click("#update-banner-install").await?;
    banner_says(&app, UNVERIFIED).await?;
    unchanged("signed for another version")?;

    // The good update, while a file is on its way: it waits for the transfer.
    set_offer(&good_signature, fake_appimage("9.9.9"));
    check_again(&app, NEW_VERSION).await?;
    let input = work.path().join("scan.txt");
    std::fs::write(&input, b"a file on its way while the update waits")?;
    app.invoke("start_uploads", json!({ "paths": [&input] }))
        .await?;
    app.wait_for(
        "the file to be processed",
        "return document.querySelector('#transfers .transfer')?.dataset.status === 'processing'",
        LIMIT,
    )
    .await?;
    app.click("#update-banner-install").await?;
    banner_says(
        &app,
        "The update will be installed when the transfers are done.",
    )
    .await?;
    app.screenshot(&shots.join("update-waiting.png")).await?;
    unchanged("while a transfer moves")?;
    let still_moving = app
        .eval("document.querySelector('#transfers .transfer').dataset.status")
        .await?;
    ensure!(
        still_moving != json!("ready"),
        "the transfer ended before the check that the update waited: {still_moving}"
    );

    banner_says(
        &app,
        &format!("Version {NEW_VERSION} is installed. Restart the app to use it."),
    )
    .await?;
    app.screenshot(&shots.join("update-installed.png")).await?;
    let status = app
        .eval("document.querySelector('#transfers .transfer').dataset.status")
        .await?;
    ensure!(
        status == json!("ready"),
        "installed before the transfer was done: {status}"
    );
    ensure!(
        std::fs::read(&installed)? == fake_appimage("9.9.9"),
        "the installed app is not the new build"
    );
    let restart_offered = app
        .eval("!document.getElementById('update-banner-restart').hidden")
        .await?;
    ensure!(restart_offered == json!(true), "no restart offered");
    std::fs::metadata(results.join("scan.txt")).context("the result")?;

    app.close().await?;
    desktop.stack.stop().await;
    Ok(())
}
