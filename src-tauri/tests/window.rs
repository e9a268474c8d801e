//! The real app in a real window under Xvfb, driven through tauri-driver and WebKitWebDriver,
//! against the local stack: files go in, rows move through every status, results come back
//! byte for byte; a failure reads plainly and Retry works; the interface switches to Korean; the
//! list survives a restart; the results view fetches a result; on a Korean system the first
//! paint is Korean; long lists (transfers, and results page by page) draw only the rows in view.
//! Screenshots of each state are saved under `target/tmp/screenshots/`.

mod support;

use std::path::Path;
use std::time::Duration;

use anyhow::{Context as _, Result, ensure};
use ddn_desktop::error::CommandError;
use ddn_desktop::jobs::Status;
use ddn_localstack::LocalStackOptions;
use ddn_testkit::desktop::Desktop;
use ddn_testkit::s3::{self, Bucket};
use ddn_transfer::TransferError;
use serde_json::{Value, json};
use support::desktop_bus::{DesktopBus, Shown};
use support::{
    Driver, LIMIT, ROWS_SCRIPT, Session, WATCH_STATUSES_SCRIPT, assert_same, ready_rows,
    screenshot_dir, write_records,
};

/// Sends `paths` the way a drop does: the drop handler hands the dropped paths to this command.
/// (`drag_drop.rs` drags files onto the window for real; here the files go straight to it.)
async fn drop_paths(app: &Session, paths: &[&Path]) -> Result<Value> {
    app.invoke("start_uploads", json!({ "paths": paths })).await
}

async fn rows_of(app: &Session) -> Result<Vec<Value>> {
    Ok(app
        .script(ROWS_SCRIPT, json!([]))
        .await?
        .as_array()
        .cloned()
        .unwrap_or_default())
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

fn pseudo_random(size: usize, seed: u8) -> Vec<u8> {
    (0..size)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) ^ ((i >> 9) as u8))
        .collect()
}

/// `seen` holds every status in `expected`, in that order.
fn went_through(seen: &Value, expected: &[&str]) -> bool {
    let seen: Vec<&str> = seen
        .as_array()
        .map(|list| list.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let mut position = 0;
    for status in expected {
        match seen[position..].iter().position(|s| s == status) {
            Some(found) => position += found + 1,
            None => return false,
        }
    }
    true
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_go_through_every_status_and_come_back_identical() -> Result<()> {
    let desktop = Desktop::with_processing_delay(Duration::from_millis(1500)).await?;
    let bus = DesktopBus::start(&desktop)?;
    let inputs = desktop.path("inputs");
    let results = desktop.path("results");
    std::fs::create_dir_all(inputs.join("batch/nested"))?;
    let big = inputs.join("report.pdf");
    std::fs::write(&big, pseudo_random(48 * 1024 * 1024, 7))?;
    let korean = inputs.join("스캔 1.txt");
    std::fs::write(&korean, "안녕하세요".repeat(1000))?;
    std::fs::write(inputs.join("batch/a.csv"), pseudo_random(70_000, 1))?;
    std::fs::write(inputs.join("batch/nested/b.csv"), pseudo_random(90_000, 2))?;

    let driver = Driver::start(&desktop, &desktop.app_env(&results)).await?;
    let shots = screenshot_dir();
    let app = driver.open().await?;
    let welcome_hidden = app
        .eval("document.getElementById('welcome').hidden")
        .await?;
    ensure!(
        welcome_hidden == json!(true),
        "configured by the environment, so no setup screen"
    );
    app.screenshot(&shots.join("en-empty.png")).await?;
    app.script(WATCH_STATUSES_SCRIPT, json!([])).await?;

    let answer = drop_paths(&app, &[&big, &korean, &inputs.join("batch")]).await?;
    ensure!(answer["ok"].is_array(), "start_uploads: {answer}");
    wait_row(&app, "report.pdf", "uploading").await?;
    app.screenshot(&shots.join("en-uploading.png")).await?;
    wait_row(&app, "report.pdf", "processing").await?;
    app.screenshot(&shots.join("en-processing.png")).await?;
    for name in [
        "report.pdf",
        "스캔 1.txt",
        "batch/a.csv",
        "batch/nested/b.csv",
    ] {
        wait_row(&app, name, "ready").await?;
    }
    app.screenshot(&shots.join("en-ready.png")).await?;

    assert_same(&results.join("report.pdf"), &big)?;
    assert_same(&results.join("스캔 1.txt"), &korean)?;
    assert_same(&results.join("a.csv"), &inputs.join("batch/a.csv"))?;
    assert_same(&results.join("b.csv"), &inputs.join("batch/nested/b.csv"))?;
    let leftovers: Vec<_> = std::fs::read_dir(&results)?
        .filter_map(Result::ok)
        .filter(|entry| entry.file_name().to_string_lossy().ends_with(".part"))
        .collect();
    ensure!(
        leftovers.is_empty(),
        "no partial file is left: {leftovers:?}"
    );

    let seen = app.eval("window.seenStatuses").await?;
    ensure!(
        went_through(
            &seen["report.pdf"],
            &["uploading", "processing", "downloading", "ready"]
        ),
        "report.pdf showed {}",
        seen["report.pdf"]
    );
    let totals = app
        .eval("document.getElementById('totals').textContent")
        .await?;
    ensure!(
        totals == json!("4 files · 4 ready · 0 in progress · 0 failed"),
        "totals: {totals}"
    );
    // The batch ends in one notification, which the system's notification daemon received.
    let shown = bus.wait_for_notifications(1, LIMIT).await?;
    ensure!(
        shown == [Shown::new("DDN Transfer", "4 results are ready.")],
        "notifications: {shown:?}"
    );
    // Show in folder asks the desktop's file manager to show that one result.
    app.click("button[data-action=\"show\"][aria-label$=\"report.pdf\"]")
        .await?;
    let expected = vec![format!("file://{}", results.join("report.pdf").display())];
    let asked = bus.wait_for_shown_items(1, LIMIT).await?;
    ensure!(asked == [expected], "asked to show {asked:?}");

    // A failure explains itself, and Retry sends the file once it can be read.
    let later = inputs.join("later.txt");
    drop_paths(&app, &[&later]).await?;
    wait_row(&app, "later.txt", "failed").await?;
    let failed = rows_of(&app)
        .await?
        .into_iter()
        .find(|row| {
            row["name"]
                .as_str()
                .is_some_and(|n| n.starts_with("later.txt"))
        })
        .context("the failed row")?;
    ensure!(
        failed["detail"] == json!("The file could not be read or written."),
        "failed row: {failed}"
    );
    ensure!(
        failed["actions"] == json!(["retry", "remove"]),
        "failed row: {failed}"
    );
    app.screenshot(&shots.join("en-failed.png")).await?;
    std::fs::write(&later, b"now it exists")?;
    app.click(".transfer[data-status=\"failed\"] button[data-action=\"retry\"]")
        .await?;
    wait_row(&app, "later.txt", "ready").await?;
    assert_same(&results.join("later.txt"), &later)?;
    bus.wait_for_notifications(2, LIMIT).await?;

    // Korean, chosen in the settings.
    app.click("#open-settings").await?;
    app.click("#language option[value=\"ko\"]").await?;
    app.click("#settings-save").await?;
    app.wait_for(
        "Korean",
        "return document.documentElement.lang === 'ko'",
        LIMIT,
    )
    .await?;
    let missing = inputs.join("없는 파일.txt");
    drop_paths(&app, &[&missing]).await?;
    wait_row(&app, "없는 파일.txt", "failed").await?;
    let korean_rows = rows_of(&app).await?;
    let texts: Vec<String> = app.eval("[...document.querySelectorAll('#transfers .transfer-status')].map((s) => s.textContent)").await?
        .as_array()
        .context("statuses")?
        .iter()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect();
    ensure!(
        texts.iter().filter(|t| *t == "완료").count() == 5 && texts.contains(&"실패".to_owned()),
        "Korean statuses: {texts:?}"
    );
    ensure!(
        korean_rows
            .iter()
            .any(|row| row["detail"] == json!("파일을 읽거나 쓸 수 없습니다.")),
        "Korean failure: {korean_rows:?}"
    );
    app.screenshot(&shots.join("ko-list.png")).await?;

    // The results view lists what the server holds and fetches one again.
    app.click("#nav-results").await?;
    app.wait_for(
        "the results",
        "return document.querySelectorAll('#results .transfer').length === 5",
        LIMIT,
    )
    .await?;
    app.screenshot(&shots.join("ko-results.png")).await?;
    app.click("#results button[aria-label$=\"later.txt\"]")
        .await?;
    app.click("#nav-transfers").await?;
    app.wait_for(
        "the fetched result",
        "return document.querySelectorAll('#transfers .transfer[data-status=\"ready\"]').length === 6",
        LIMIT,
    )
    .await?;
    assert_same(&results.join("later (1).txt"), &later)?;
    // Every batch that went to the service was told once, in the language of the moment. Files
    // that could not be read fail as they are dropped, in front of the user: no notification.
    let shown = bus.wait_for_notifications(3, LIMIT).await?;
    ensure!(
        shown
            == [
                Shown::new("DDN Transfer", "4 results are ready."),
                Shown::new("DDN Transfer", "The result of later.txt is ready."),
                Shown::new("DDN 전송", "later.txt: 결과가 준비되었습니다."),
            ],
        "notifications: {shown:?}"
    );

    // The list survives a restart.
    let before = rows_of(&app).await?;
    driver.close(app).await?;
    let app = driver.open().await?;
    app.wait_for(
        "the list after a restart",
        "return document.querySelectorAll('#transfers .transfer').length > 0",
        LIMIT,
    )
    .await?;
    let after = rows_of(&app).await?;
    let statuses = |rows: &[Value]| -> Vec<(String, String)> {
        rows.iter()
            .map(|row| {
                (
                    row["name"].as_str().unwrap_or_default().to_owned(),
                    row["status"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect()
    };
    ensure!(
        statuses(&before) == statuses(&after),
        "before {before:?}\nafter {after:?}"
    );
    app.screenshot(&shots.join("ko-after-restart.png")).await?;
    app.close().await?;
    desktop.stack.stop().await;
    Ok(())
}

/// Words of the page in English, none of which may show when Korean is the language.
const ENGLISH_WORDS: &[&str] = &[
    "Transfers",
    "Results on the server",
    "Settings",
    "Drop files here",
    "Choose files",
    "Choose a folder",
    "Refresh",
    "Welcome",
    "files ·",
    "ready",
];

/// The page's text as drawn (hidden elements have none), and whether it is ready.
const SHOWN_TEXT_SCRIPT: &str = "return {
    text: document.body ? document.body.innerText : '',
    ready: document.body?.dataset.ready === 'true',
};";

/// The app's page loaded in a frame that may run no script, and the text it shows at once.
const UNSCRIPTED_TEXT_SCRIPT: &str = "
    const done = arguments[arguments.length - 1];
    const frame = document.createElement('iframe');
    frame.setAttribute('sandbox', 'allow-same-origin');
    frame.style.cssText = 'position: fixed; inset: 0; width: 100%; height: 100%; border: 0';
    frame.addEventListener('load', () => {
        const body = frame.contentDocument?.body;
        done({ loaded: Boolean(body?.querySelector('#drop-zone')), text: body ? body.innerText.trim() : null });
        frame.remove();
    });
    frame.src = 'index.html';
    document.body.append(frame);";

/// With Korean chosen, the first paint is already Korean. A list of hundreds draws only the rows
/// in view: the page stays light however long the list grows, and scrolling brings the other
/// rows in, in order and with their place in the list; a row whose processing failed gives the
/// processor's reason and offers Retry. The results on the server come page by page as the user
/// scrolls, drawn the same way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_lists_draw_only_the_rows_in_view_in_the_users_language() -> Result<()> {
    const ROWS: usize = 500;
    const RESULTS: usize = 450;
    let desktop = Desktop::start(LocalStackOptions::default()).await?;
    // More results than one page, straight into the output bucket.
    for i in 0..RESULTS {
        let key = format!("users/dev/결과-{i:03}.pdf");
        s3::put(&desktop.stack, Bucket::Output, &key, format!("result {i}")).await;
    }
    let data_home = desktop.path("data");
    let mut rows = ready_rows(ROWS);
    rows[0].status = Status::Failed;
    rows[0].result_path = None;
    rows[0].error = Some(CommandError::from(TransferError::ProcessingFailed(
        "the scan has no pages".into(),
    )));
    write_records(&data_home, &rows)?;
    // Korean chosen in the settings, on an English system.
    let config_home = desktop.path("config");
    std::fs::create_dir_all(config_home.join("com.ddn.transfer"))?;
    std::fs::write(
        config_home.join("com.ddn.transfer/settings.json"),
        br#"{ "language": "ko" }"#,
    )?;
    let mut env = desktop.app_env(&desktop.path("results"));
    env.push(("XDG_DATA_HOME", data_home.display().to_string()));
    env.push(("XDG_CONFIG_HOME", config_home.display().to_string()));
    let driver = Driver::start(&desktop, &env).await?;
    let shots = screenshot_dir();

    // What the window shows first, before the page has even said it is ready.
    let app = driver.launch().await?;
    app.screenshot(&shots.join("ko-first-paint.png")).await?;
    let mut reads = 0;
    loop {
        let shown = app.script(SHOWN_TEXT_SCRIPT, json!([])).await?;
        let text = shown["text"].as_str().unwrap_or_default();
        let english: Vec<&&str> = ENGLISH_WORDS
            .iter()
            .filter(|word| text.contains(**word))
            .collect();
        ensure!(
            english.is_empty(),
            "read {reads}: English with Korean chosen: {english:?} in {text:?}"
        );
        reads += 1;
        if shown["ready"] == json!(true) {
            ensure!(
                text.contains("전송"),
                "the page is Korean once ready: {text:?}"
            );
            break;
        }
        ensure!(reads < 2000, "the page never became ready");
    }
    // The page as it is before any script of it has run (in a frame that may run none): what a
    // window could paint while the page's script waits for the settings. It shows nothing.
    let unscripted = app.script_async(UNSCRIPTED_TEXT_SCRIPT, json!([])).await?;
    ensure!(
        unscripted["loaded"] == json!(true),
        "the page loaded in a frame: {unscripted}"
    );
    ensure!(
        unscripted["text"] == json!(""),
        "the page shows text before its words are chosen: {unscripted}"
    );
    app.wait_for(
        "the restored list",
        &format!("return document.getElementById('totals').dataset.count === '{ROWS}'"),
        LIMIT,
    )
    .await?;
    let totals = app
        .eval("document.getElementById('totals').textContent")
        .await?;
    ensure!(
        totals == json!("파일 500개 · 완료 499 · 진행 중 0 · 실패 1"),
        "totals: {totals}"
    );
    let failed = rows_of(&app).await?;
    let failed = failed.first().context("the first row")?;
    ensure!(
        failed["detail"] == json!("파일을 처리할 수 없습니다: the scan has no pages")
            && failed["actions"] == json!(["retry", "remove"]),
        "the failed row: {failed}"
    );
    app.screenshot(&shots.join("ko-long-list.png")).await?;

    let drawn = |list: &str| {
        format!(
            "return [...document.querySelectorAll('#{list} .transfer')].map((row) => ({{
                name: row.querySelector('.transfer-name').textContent.split(' · ')[0],
                position: Number(row.getAttribute('aria-posinset')),
                size: Number(row.getAttribute('aria-setsize')),
                visible: row.getBoundingClientRect().top < window.innerHeight,
            }}));"
        )
    };
    let check = |rows: &Value,
                 count: usize,
                 name_at: &dyn Fn(usize) -> String,
                 first_name: &str|
     -> Result<()> {
        let rows = rows.as_array().context("rows")?;
        ensure!(
            (4..=30).contains(&rows.len()),
            "drew {} rows for a list of {count}",
            rows.len()
        );
        ensure!(
            rows.iter().all(|row| row["size"] == json!(count)),
            "{rows:?}"
        );
        for pair in rows.windows(2) {
            ensure!(
                pair[1]["position"].as_u64() == pair[0]["position"].as_u64().map(|p| p + 1),
                "drawn rows are consecutive and in order: {pair:?}"
            );
        }
        for row in rows {
            let position = row["position"].as_u64().context("position")? as usize;
            ensure!(row["name"] == json!(name_at(position - 1)), "{row}");
        }
        ensure!(
            rows.iter()
                .any(|row| row["name"] == json!(first_name) && row["visible"] == json!(true)),
            "{first_name} is drawn and in view: {rows:?}"
        );
        Ok(())
    };
    let scan = |i: usize| format!("scan-{i:03}.pdf");
    check(
        &app.script(&drawn("transfers"), json!([])).await?,
        ROWS,
        &scan,
        "scan-000.pdf",
    )?;

    app.script(
        "window.scrollTo(0, document.documentElement.scrollHeight); return true",
        json!([]),
    )
    .await?;
    app.wait_for(
        "the last row",
        "return [...document.querySelectorAll('#transfers .transfer')].some((row) =>
            row.getAttribute('aria-posinset') === '500')",
        LIMIT,
    )
    .await?;
    check(
        &app.script(&drawn("transfers"), json!([])).await?,
        ROWS,
        &scan,
        "scan-499.pdf",
    )?;

    // Removing a row from the end of the list keeps the count and positions true.
    app.click(".transfer[aria-posinset=\"500\"] button[data-action=\"remove\"]")
        .await?;
    app.wait_for(
        "the row gone",
        "return document.getElementById('totals').dataset.count === '499'",
        LIMIT,
    )
    .await?;
    let rows = app.script(&drawn("transfers"), json!([])).await?;
    ensure!(
        rows.as_array()
            .is_some_and(|rows| rows.iter().all(|row| row["size"] == json!(ROWS - 1))),
        "{rows}"
    );

    // The results: one page first, the next ones as the list scrolls to its end.
    app.click("#nav-results").await?;
    app.wait_for(
        "the first page of results",
        "return document.querySelector('#results .transfer[aria-setsize]')?.getAttribute('aria-setsize') === '200'",
        LIMIT,
    )
    .await?;
    let result = |i: usize| format!("결과-{i:03}.pdf");
    app.script("window.scrollTo(0, 0); return true", json!([]))
        .await?;
    app.wait_for(
        "the top of the results",
        "return [...document.querySelectorAll('#results .transfer')].some((row) =>
            row.getAttribute('aria-posinset') === '1')",
        LIMIT,
    )
    .await?;
    check(
        &app.script(&drawn("results"), json!([])).await?,
        200,
        &result,
        "결과-000.pdf",
    )?;
    let status = app
        .eval("document.getElementById('results-status').textContent")
        .await?;
    ensure!(
        status == json!("지금까지 결과 200개 · 스크롤하면 더 불러옵니다"),
        "{status}"
    );
    app.screenshot(&shots.join("ko-results-first-page.png"))
        .await?;
    app.wait_for(
        "every result, page by page",
        &format!(
            "window.scrollTo(0, document.documentElement.scrollHeight);
            return document.getElementById('results-status').textContent === '결과 {RESULTS}개'
                && [...document.querySelectorAll('#results .transfer')].some((row) =>
                    row.getAttribute('aria-posinset') === '{RESULTS}')"
        ),
        LIMIT,
    )
    .await?;
    check(
        &app.script(&drawn("results"), json!([])).await?,
        RESULTS,
        &result,
        &result(RESULTS - 1),
    )?;
    app.screenshot(&shots.join("ko-results-end.png")).await?;
    app.close().await?;
    desktop.stack.stop().await;
    Ok(())
}
