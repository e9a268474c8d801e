//! Pause and resume in the real app, in a real window (Xvfb, tauri-driver, WebKitWebDriver),
//! against the local stack with S3 behind a slow line: a file large enough to go in parts is
//! paused mid-upload, the app is closed and started again, the row is still paused, and Resume
//! goes on from the parts S3 already holds (the row says how much was already sent, and the bytes
//! that cross the line after it are only the rest); the result comes back identical.

mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, Result, ensure};
use ddn_localstack::LocalStackOptions;
use ddn_testkit::desktop::Desktop;
use ddn_testkit::samples::write_sample_file;
use ddn_testkit::shaping_proxy::{Shape, ShapingProxy};
use serde_json::{Value, json};
use support::{Driver, LIMIT, ROWS_SCRIPT, Session, assert_same, screenshot_dir};

const MIB: u64 = 1024 * 1024;

/// Above the engine's multipart threshold (64 MiB): ten parts of the service's 8 MiB.
const FILE_SIZE: u64 = 80 * MIB;

/// Each connection to S3 moves at most this much a second, so an 8 MiB part takes seconds and
/// the test can pause between the first parts and the last.
const LINE_RATE: u64 = 2 * MIB;

/// The row of `name`, as `ROWS_SCRIPT` reads it.
async fn row_of(app: &Session, name: &str) -> Result<Value> {
    let rows = app.script(ROWS_SCRIPT, json!([])).await?;
    rows.as_array()
        .and_then(|rows| {
            rows.iter()
                .find(|row| row["name"].as_str().is_some_and(|n| n.starts_with(name)))
        })
        .cloned()
        .with_context(|| format!("no row {name}: {rows}"))
}

/// Waits until the row whose name starts with `name` has `status`.
async fn wait_row(app: &Session, name: &str, status: &str) -> Result<Value> {
    app.wait_for(
        &format!("{name} to be {status}"),
        &format!(
            "return [...document.querySelectorAll('#transfers .transfer')].some((row) =>
                row.querySelector('.transfer-name').textContent.startsWith({name:?})
                && row.dataset.status === {status:?})"
        ),
        LIMIT,
    )
    .await
}

/// Records every detail line the rows show, as the DOM changes, in `window.seenDetails`.
const WATCH_DETAILS_SCRIPT: &str = "
    window.seenDetails = [];
    const list = document.getElementById('transfers');
    const record = () => list.querySelectorAll('.transfer-detail').forEach((detail) => {
        const text = detail.textContent;
        if (window.seenDetails[window.seenDetails.length - 1] !== text) window.seenDetails.push(text);
    });
    new MutationObserver(record).observe(list, { subtree: true, childList: true, characterData: true });
    record();
    return true;";

/// Waits until nothing has crossed `line` towards S3 for a second, and answers the bytes it
/// carried by then.
async fn quiet(line: &ShapingProxy) -> Result<u64> {
    let started = std::time::Instant::now();
    let mut carried = line.upstream_bytes();
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let now = line.upstream_bytes();
        if now == carried {
            return Ok(now);
        }
        ensure!(started.elapsed() < LIMIT, "the line never went quiet");
        carried = now;
    }
}

/// The journal files the engine keeps under the app's data folder in `data_home` (in its folder
/// for resumable transfers and any folder inside it).
fn journals(data_home: &Path) -> Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    let mut folders = vec![data_home.join("com.ddn.transfer/resume")];
    while let Some(folder) = folders.pop() {
        if !folder.exists() {
            continue;
        }
        for entry in std::fs::read_dir(folder)? {
            let path = entry?.path();
            if path.is_dir() {
                folders.push(path);
            } else if path
                .extension()
                .is_some_and(|extension| extension == "journal")
            {
                found.push(path);
            }
        }
    }
    Ok(found)
}

/// "Resuming: 33.6 of 83.9 MB already sent" (or "Resuming: 950 kB of 83.9 MB ...") as
/// (33.6e6, 83.9e6) bytes, to the figures' precision.
fn resuming_figures(text: &str) -> Option<(f64, f64)> {
    let rest = text
        .strip_prefix("Resuming: ")?
        .strip_suffix(" already sent")?;
    let (done, total) = rest.split_once(" of ")?;
    let scale = |unit: &str| match unit {
        "B" => Some(1.0),
        "kB" => Some(1e3),
        "MB" => Some(1e6),
        "GB" => Some(1e9),
        _ => None,
    };
    let (total_number, total_unit) = total.split_once(' ')?;
    // The part leaves out its unit when it is the whole's.
    let (done_number, done_unit) = done.split_once(' ').unwrap_or((done, total_unit));
    Some((
        done_number.parse::<f64>().ok()? * scale(done_unit)?,
        total_number.parse::<f64>().ok()? * scale(total_unit)?,
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_upload_stays_paused_across_a_restart_and_resumes_where_it_stopped() -> Result<()>
{
    // URLs are signed for the slow line's address, which passes every connection on to S3.
    let line = ShapingProxy::start(Shape {
        delay: Duration::from_millis(5),
        bytes_per_second: LINE_RATE,
    })
    .await?;
    let desktop = Desktop::start(LocalStackOptions {
        s3_public_url: Some(line.url()),
        processing_delay: Duration::from_millis(500),
        ..LocalStackOptions::default()
    })
    .await?;
    line.set_upstream(desktop.stack.s3_url())?;

    let inputs = desktop.path("inputs");
    std::fs::create_dir_all(&inputs)?;
    let source = inputs.join("volume.raw");
    write_sample_file(&source, FILE_SIZE, 14)?;
    let results = desktop.path("results");
    let data_home = desktop.path("data");
    let mut env = desktop.app_env(&results);
    env.push(("XDG_DATA_HOME", data_home.display().to_string()));
    let driver = Driver::start(&desktop, &env).await?;
    let shots = screenshot_dir();

    let app = driver.open().await?;
    let answer = app
        .invoke("start_uploads", json!({ "paths": [&source] }))
        .await?;
    ensure!(answer["ok"].is_array(), "start_uploads: {answer}");
    // Paused once S3 has acknowledged at least one part, well before the last.
    app.wait_for(
        "the first parts to be sent",
        "const bar = document.querySelector('.transfer[data-status=\"uploading\"] progress');
         return bar !== null && bar.value >= 10;",
        LIMIT,
    )
    .await?;
    app.click(".transfer[data-status=\"uploading\"] button[data-action=\"pause\"]")
        .await?;
    wait_row(&app, "volume.raw", "paused").await?;
    let paused = row_of(&app, "volume.raw").await?;
    ensure!(
        paused["actions"] == json!(["resume", "cancel", "remove"]),
        "the paused row: {paused}"
    );
    ensure!(
        paused["detail"] == json!("Paused. Resume goes on from where it stopped."),
        "the paused row: {paused}"
    );
    app.screenshot(&shots.join("en-paused.png")).await?;
    ensure!(
        journals(&data_home)?.len() == 1,
        "the engine keeps the upload's journal in the app's data folder: {:?}",
        journals(&data_home)?
    );

    // After a restart the row is still paused, and nothing is sent until the user resumes it.
    driver.close(app).await?;
    let app = driver.open().await?;
    wait_row(&app, "volume.raw", "paused").await?;
    let restored = row_of(&app, "volume.raw").await?;
    ensure!(
        restored["actions"] == json!(["resume", "cancel", "remove"]),
        "the paused row after a restart: {restored}"
    );
    // The line may still be delivering what the paused parts had handed to it before they were
    // cut; once it is quiet, nothing more crosses it while the row stays paused.
    let sent_before = quiet(&line).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    ensure!(
        line.upstream_bytes() == sent_before,
        "a paused row sends nothing"
    );
    ensure!(!results.join("volume.raw").exists(), "no result yet");

    app.script(WATCH_DETAILS_SCRIPT, json!([])).await?;
    app.click(".transfer[data-status=\"paused\"] button[data-action=\"resume\"]")
        .await?;
    let resuming = app
        .wait_for(
            "the row to say it is resuming",
            "return window.seenDetails.find((text) => text.startsWith('Resuming: ')) ?? null",
            LIMIT,
        )
        .await?;
    let resuming = resuming.as_str().context("the resuming line")?.to_owned();
    app.screenshot(&shots.join("en-resuming.png")).await?;
    let (already_sent, total) =
        resuming_figures(&resuming).with_context(|| format!("the resuming line: {resuming:?}"))?;
    ensure!(
        (total - FILE_SIZE as f64).abs() < 0.1e6,
        "the whole file's size: {resuming:?}"
    );
    ensure!(
        already_sent >= 8e6 && already_sent < total,
        "some parts, not all, were already sent: {resuming:?}"
    );

    wait_row(&app, "volume.raw", "ready").await?;
    assert_same(&results.join("volume.raw"), &source)?;
    // Only what S3 did not hold crossed the line again (plus the requests themselves).
    let sent_after_resume = line.upstream_bytes() - sent_before;
    ensure!(
        (sent_after_resume as f64) < FILE_SIZE as f64 - already_sent + MIB as f64,
        "sent {sent_after_resume} bytes after resuming with {already_sent} of {FILE_SIZE} kept"
    );
    ensure!(
        journals(&data_home)?.is_empty(),
        "a finished upload leaves no journal: {:?}",
        journals(&data_home)?
    );
    let seen: Value = app.eval("window.seenDetails").await?;
    ensure!(
        seen.as_array().is_some_and(|lines| lines
            .iter()
            .filter_map(Value::as_str)
            .any(|line| line.contains(" of ") && line.ends_with(" left"))),
        "after resuming the row showed its progress again: {seen}"
    );
    app.screenshot(&shots.join("en-resumed-ready.png")).await?;
    app.close().await?;
    desktop.stack.stop().await;
    Ok(())
}
