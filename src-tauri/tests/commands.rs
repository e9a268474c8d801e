//! The commands through Tauri's IPC on the mock runtime (no window), against the local stack:
//! the settings round trip, error kinds, start, cancel and retry.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ddn_desktop::jobs::{Jobs, Status};
use ddn_desktop::settings::Overrides;
use ddn_desktop::{AppPaths, manage_state, with_commands};
use ddn_localstack::{LocalStack, LocalStackOptions};
use ddn_secrets::TokenStore;
use ddn_transfer::EngineOptions;
use serde_json::{Value, json};
use tauri::Manager as _;
use tauri::ipc::{CallbackFn, InvokeBody};
use tauri::test::{
    INVOKE_KEY, MockRuntime, get_ipc_response, mock_builder, mock_context, noop_assets,
};
use tauri::webview::InvokeRequest;

struct Harness {
    _app: tauri::App<MockRuntime>,
    webview: tauri::WebviewWindow<MockRuntime>,
    jobs: Jobs,
    dir: tempfile::TempDir,
}

impl Harness {
    fn new(overrides: Overrides) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let app = with_commands(mock_builder())
            .build(mock_context(noop_assets()))
            .expect("the mock app builds");
        let paths = AppPaths {
            config_dir: dir.path().join("config"),
            data_dir: dir.path().join("data"),
            default_results_dir: dir.path().join("results"),
        };
        let options = EngineOptions {
            wait_initial: Duration::from_millis(100),
            wait_max_interval: Duration::from_millis(200),
            ..EngineOptions::default()
        };
        manage_state(
            &app,
            Instant::now(),
            &paths,
            overrides,
            // Never reached in these tests (the token comes from the environment's override or
            // is absent); its own service name keeps it apart from a real one regardless.
            TokenStore::new("DDN Transfer command tests"),
            Box::new(|_| {}),
            options,
        )
        .expect("state");
        let webview = tauri::WebviewWindowBuilder::new(&app, "main", Default::default())
            .build()
            .expect("a mock window");
        let jobs = app.state::<Jobs>().inner().clone();
        Self {
            _app: app,
            webview,
            jobs,
            dir,
        }
    }

    fn invoke(&self, command: &str, args: Value) -> Result<Value, Value> {
        get_ipc_response(
            &self.webview,
            InvokeRequest {
                cmd: command.into(),
                callback: CallbackFn(0),
                error: CallbackFn(1),
                url: "tauri://localhost".parse().expect("url"),
                body: InvokeBody::Json(args),
                headers: Default::default(),
                invoke_key: INVOKE_KEY.to_string(),
            },
        )
        .map(|body| body.deserialize::<Value>().expect("JSON"))
    }

    fn wait_status(&self, id: &str, status: Status) {
        let started = Instant::now();
        loop {
            let record = self
                .jobs
                .records()
                .into_iter()
                .find(|record| record.id == id)
                .expect("the row");
            if record.status == status {
                return;
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "{id} stayed {:?} (error {:?}), expected {status:?}",
                record.status,
                record.error
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn stack(processing_delay: Duration) -> (tokio::runtime::Runtime, LocalStack) {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let stack = runtime
        .block_on(LocalStack::start(LocalStackOptions {
            processing_delay,
            ..LocalStackOptions::default()
        }))
        .expect("local stack");
    (runtime, stack)
}

fn configured(stack: &LocalStack, results: Option<PathBuf>) -> Overrides {
    Overrides {
        api_url: Some(stack.api_url().to_owned()),
        token: Some(stack.token().to_owned()),
        results_dir: results,
    }
}

fn kind(error: &Value) -> &str {
    error["kind"].as_str().unwrap_or("(no kind)")
}

#[test]
fn settings_round_trip_through_the_commands() {
    let harness = Harness::new(Overrides::default());
    let first = harness.invoke("load_settings", json!({})).expect("loads");
    assert_eq!(first["configured"], json!(false));
    assert_eq!(first["hasToken"], json!(false));
    assert_eq!(first["apiUrl"], json!(""));

    let results = harness.dir.path().join("my results");
    let saved = harness
        .invoke(
            "save_settings",
            json!({ "update": { "apiUrl": "https://ddn.example.com/", "resultsDir": results, "language": "ko" } }),
        )
        .expect("saves");
    assert_eq!(saved["apiUrl"], json!("https://ddn.example.com"));
    assert_eq!(saved["language"], json!("ko"));
    assert_eq!(saved["resultsDir"], json!(results));

    let again = harness.invoke("load_settings", json!({})).expect("loads");
    assert_eq!(again, saved);
    let file = std::fs::read_to_string(harness.dir.path().join("config/settings.json"))
        .expect("the settings file");
    assert!(file.contains("https://ddn.example.com") && file.contains("my results"));
}

#[test]
fn refusals_carry_a_kind_and_a_plain_message() {
    let harness = Harness::new(Overrides::default());
    let error = harness
        .invoke(
            "save_settings",
            json!({ "update": { "apiUrl": "http://ddn.example.com" } }),
        )
        .expect_err("plain http to another machine is refused");
    assert_eq!(kind(&error), "invalid_settings");
    assert_eq!(
        error["message"],
        json!("The service address must start with https://.")
    );

    let error = harness
        .invoke("start_uploads", json!({ "paths": ["/etc/hostname"] }))
        .expect_err("nothing configured");
    assert_eq!(kind(&error), "not_configured");
    assert!(harness.jobs.records().is_empty(), "nothing was added");

    let error = harness
        .invoke("cancel_transfer", json!({ "id": "no-such-row" }))
        .expect_err("unknown row");
    assert_eq!(kind(&error), "not_found");
}

#[test]
fn test_connection_tells_a_wrong_token_from_a_right_one() {
    let (_runtime, stack) = stack(Duration::from_millis(200));
    let harness = Harness::new(Overrides::default());
    let error = harness
        .invoke(
            "test_connection",
            json!({ "apiUrl": stack.api_url(), "token": "wrong" }),
        )
        .expect_err("refused");
    assert_eq!(kind(&error), "unauthorized");
    assert!(
        !error.to_string().contains(stack.api_url()),
        "no address in errors: {error}"
    );
    let listed = harness
        .invoke(
            "test_connection",
            json!({ "apiUrl": stack.api_url(), "token": stack.token() }),
        )
        .expect("accepted");
    assert_eq!(listed, json!(0));
}

#[test]
fn a_started_upload_comes_back_and_a_cancelled_one_can_be_retried() {
    let (_runtime, stack) = stack(Duration::from_millis(1500));
    let results = tempfile::tempdir().expect("results");
    let harness = Harness::new(configured(&stack, Some(results.path().to_path_buf())));
    let file = harness.dir.path().join("sample.bin");
    std::fs::write(&file, (0..200_000u32).map(|i| i as u8).collect::<Vec<_>>()).expect("write");

    let ids = harness
        .invoke("start_uploads", json!({ "paths": [file] }))
        .expect("started");
    let id = ids[0].as_str().expect("an id").to_owned();
    // Cancelled while the service works on it...
    harness.wait_status(&id, Status::Processing);
    harness
        .invoke("cancel_transfer", json!({ "id": id }))
        .expect("cancelled");
    harness.wait_status(&id, Status::Cancelled);
    std::thread::sleep(Duration::from_millis(2500));
    assert!(
        !results.path().join("sample.bin").exists(),
        "a cancelled row downloads nothing"
    );
    let error = harness
        .invoke("remove_transfer", json!({ "id": "t0" }))
        .expect_err("unknown");
    assert_eq!(kind(&error), "not_found");

    // ...and Retry only waits for the result again: it was uploaded already.
    harness
        .invoke("retry_transfer", json!({ "id": id }))
        .expect("retried");
    harness.wait_status(&id, Status::Ready);
    assert_eq!(
        std::fs::read(results.path().join("sample.bin")).expect("the result"),
        std::fs::read(&file).expect("the source")
    );
    let record = harness
        .jobs
        .records()
        .into_iter()
        .find(|record| record.id == id)
        .expect("row");
    assert!(record.uploaded);
    assert_eq!(
        record.result_path.as_deref(),
        Some(results.path().join("sample.bin").as_path())
    );
    harness
        .invoke("remove_transfer", json!({ "id": id }))
        .expect("removed");
    assert!(harness.jobs.records().is_empty());
    assert!(
        Path::new(&results.path().join("sample.bin")).exists(),
        "the result stays"
    );
}
