//! First run in a real window: the setup screen, "Test connection" with a wrong and a right token,
//! the token saved in a real Secret Service (GNOME Keyring on a private bus) and nowhere on disk in
//! plain text, and found again by the restarted app, which then sends a file with it.

mod support;

use std::time::Duration;

use anyhow::{Result, ensure};
use ddn_testkit::desktop::Desktop;
use serde_json::json;
use support::{Driver, LIMIT, screenshot_dir};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setup_saves_the_token_in_the_keyring_and_a_restart_uses_it() -> Result<()> {
    let desktop = Desktop::with_processing_delay(Duration::from_millis(300)).await?;
    let stack = &desktop.stack;
    let results = desktop.path("results");
    // Nothing configured: no address or token in the environment.
    let driver = Driver::start(
        &desktop,
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
    driver.close(app).await?;

    ensure!(
        desktop.keyring.saved_token(stack.api_url())?.as_deref() == Some(stack.token()),
        "the Secret Service holds the token"
    );
    let leaks = desktop.keyring.files_containing(stack.token().as_bytes());
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
    let file = desktop.path("after-restart.txt");
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
    desktop.stack.stop().await;
    Ok(())
}
