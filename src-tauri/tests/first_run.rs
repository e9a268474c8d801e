//! First run in a real window: the setup screen, "Test connection" with a wrong and a right token,
//! the token saved in a real Secret Service (GNOME Keyring on a private bus) and nowhere on disk in
//! plain text, and found again by the restarted app, which then sends a file with it.

mod support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::{Context as _, Result, ensure};
use ddn_localstack::session_keyring::SessionKeyring;
use ddn_localstack::{LocalStack, LocalStackOptions};
use ddn_secrets::{KEYRING_SERVICE, account_for};
use serde_json::json;
use support::{Display, Driver, LIMIT, screenshot_dir};

fn stored_secret(keyring: &SessionKeyring, api_url: &str) -> Result<Option<String>> {
    let mut command = Command::new("secret-tool");
    keyring.apply(&mut command);
    let account = account_for(api_url).context("an address")?;
    let output = command
        .args(["lookup", "service", KEYRING_SERVICE, "username", &account])
        .output()
        .context("secret-tool (Debian package: libsecret-tools)")?;
    Ok(output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).into_owned()))
}

/// Every file under `dir` whose bytes contain `needle`.
fn files_containing(dir: &Path, needle: &[u8]) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return found;
    };
    for entry in entries.filter_map(Result::ok) {
        let path = entry.path();
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_dir() {
            found.extend(files_containing(&path, needle));
        } else if kind.is_file()
            && std::fs::read(&path)
                .is_ok_and(|bytes| bytes.windows(needle.len()).any(|window| window == needle))
        {
            found.push(path);
        }
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setup_saves_the_token_in_the_keyring_and_a_restart_uses_it() -> Result<()> {
    let stack = LocalStack::start(LocalStackOptions {
        processing_delay: Duration::from_millis(300),
        ..LocalStackOptions::default()
    })
    .await?;
    let keyring = SessionKeyring::start()?;
    let display = Display::start()?;
    let work = tempfile::tempdir()?;
    let results = work.path().join("results");
    // Nothing configured: no address or token in the environment.
    let driver = Driver::start(
        &display,
        &keyring,
        &[
            ("DDN_RESULTS_DIR", results.display().to_string()),
            ("LANG", "C.UTF-8".to_owned()),
        ],
    )
    .await?;
    let shots = screenshot_dir();

    let app = driver.open().await?;
    let welcome_shown = app
        .eval("!document.getElementById('welcome').hidden")
        .await?;
    ensure!(
        welcome_shown == json!(true),
        "the setup screen shows on first run"
    );
    app.screenshot(&shots.join("en-welcome.png")).await?;

    app.click("#welcome-setup").await?;
    app.type_into("#api-url", stack.api_url()).await?;
    app.type_into("#token", "not-the-token").await?;
    app.click("#test-connection").await?;
    let refused = app
        .wait_for(
            "the refusal",
            "const s = document.getElementById('settings-status');
             return s.classList.contains('is-error') && s.textContent",
            LIMIT,
        )
        .await?;
    ensure!(
        refused == json!("The access token was not accepted. Check it in the settings."),
        "wrong token: {refused}"
    );
    app.type_into("#token", stack.token()).await?;
    app.click("#test-connection").await?;
    app.wait_for(
        "the connection test",
        "return document.getElementById('settings-status').classList.contains('is-ok')",
        LIMIT,
    )
    .await?;
    app.screenshot(&shots.join("en-settings.png")).await?;
    app.click("#settings-save").await?;
    app.wait_for(
        "the setup screen to go",
        "return document.getElementById('welcome').hidden",
        LIMIT,
    )
    .await?;
    app.close().await?;

    ensure!(
        stored_secret(&keyring, stack.api_url())?.as_deref() == Some(stack.token()),
        "the Secret Service holds the token"
    );
    let leaks = files_containing(keyring.home(), stack.token().as_bytes());
    ensure!(leaks.is_empty(), "the token is in plain text in {leaks:?}");

    // A restart finds the token, and it works.
    let app = driver.open().await?;
    let settings = app.invoke("load_settings", json!({})).await?["ok"].take();
    ensure!(
        settings["hasToken"] == json!(true)
            && settings["configured"] == json!(true)
            && settings["tokenFromEnvironment"] == json!(false),
        "after a restart: {settings}"
    );
    ensure!(
        !settings.to_string().contains(stack.token()),
        "the page never sees the token"
    );
    let file = work.path().join("after-restart.txt");
    std::fs::write(&file, b"sent with the saved token")?;
    let sent = app
        .invoke("start_uploads", json!({ "paths": [file] }))
        .await?;
    ensure!(sent["ok"].is_array(), "start_uploads: {sent}");
    app.wait_for(
        "the result",
        "return document.querySelector('#transfers .transfer[data-status=\"ready\"]') !== null",
        LIMIT,
    )
    .await?;
    ensure!(std::fs::read(results.join("after-restart.txt"))? == b"sent with the saved token");
    app.close().await?;
    stack.stop().await;
    Ok(())
}
