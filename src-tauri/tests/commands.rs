//! The commands through Tauri's IPC on the mock runtime (no window), against the local stack:
//! the settings round trip, error kinds, start, cancel and retry, results tied to their upload,
//! processing failures, the results list page by page, and what Test connection sends where.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ddn_desktop::jobs::{Jobs, Record, Status};
use ddn_desktop::settings::Overrides;
use ddn_desktop::{AppPaths, manage_state, with_commands};
use ddn_localstack::{LocalStack, LocalStackOptions};
use ddn_secrets::TokenStore;
use ddn_testkit::http::{StatusCode, TestServer, response};
use ddn_testkit::s3::{self, Bucket};
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
        Self::reopen(tempfile::tempdir().expect("temp dir"), overrides)
    }

    /// An app on the folders in `dir` (those of an earlier app, after a restart).
    fn reopen(dir: tempfile::TempDir, overrides: Overrides) -> Self {
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
            // Holds no token in these tests (the token comes from the environment's override or
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

    fn record(&self, id: &str) -> Record {
        self.jobs
            .records()
            .into_iter()
            .find(|record| record.id == id)
            .expect("the row")
    }

    /// Starts sending `path` and answers its row's id.
    fn send(&self, path: &Path) -> String {
        let ids = self
            .invoke("start_uploads", json!({ "paths": [path] }))
            .expect("started");
        ids[0].as_str().expect("an id").to_owned()
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
            // A row that finished otherwise will not change by itself.
            assert!(
                record.status.is_active(),
                "{id} turned {:?} (error {:?}), expected {status:?}",
                record.status,
                record.error
            );
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
    stack_with(LocalStackOptions {
        processing_delay,
        ..LocalStackOptions::default()
    })
}

fn stack_with(options: LocalStackOptions) -> (tokio::runtime::Runtime, LocalStack) {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let stack = runtime
        .block_on(LocalStack::start(options))
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
    assert!(
        error["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("The service address must start with https://")),
        "{error}"
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

/// Every request a server on this computer received, as text (request line and headers),
/// answered `401` (a stand-in for a service at another address than the one in effect).
struct Recorder {
    server: TestServer,
    requests: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Recorder {
    fn start(runtime: &tokio::runtime::Runtime) -> Self {
        let requests = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = std::sync::Arc::clone(&requests);
        let server = runtime
            .block_on(TestServer::start(move |request| {
                let mut head = format!("{} {}\r\n", request.method(), request.uri());
                for (name, value) in request.headers() {
                    let value = String::from_utf8_lossy(value.as_bytes());
                    head.push_str(&format!("{name}: {value}\r\n"));
                }
                seen.lock().expect("requests").push(head);
                async { response(StatusCode::UNAUTHORIZED, Vec::new()) }
            }))
            .expect("a server on loopback");
        Self { server, requests }
    }

    fn url(&self) -> String {
        self.server.url()
    }

    fn requests(&self) -> Vec<String> {
        self.requests.lock().expect("requests").clone()
    }
}

#[test]
fn test_connection_never_lends_a_token_to_another_address() {
    const SECRET: &str = "token-for-the-address-in-effect";
    let (runtime, stack) = stack(Duration::from_millis(200));
    let harness = Harness::new(Overrides {
        api_url: Some(stack.api_url().to_owned()),
        token: Some(SECRET.to_owned()),
        results_dir: None,
    });
    // The form shows another address, and its token field is empty.
    let elsewhere = Recorder::start(&runtime);
    let error = harness
        .invoke(
            "test_connection",
            json!({ "apiUrl": elsewhere.url(), "token": null }),
        )
        .expect_err("no token is kept for that address");
    assert_eq!(kind(&error), "invalid_settings", "{error}");
    let sent = elsewhere.requests();
    assert!(
        sent.iter().all(|request| !request.contains(SECRET)),
        "the token in effect went to another address: {sent:?}"
    );
    assert!(sent.is_empty(), "nothing is sent without a token: {sent:?}");

    // The address in effect is tested with its own token, from the environment here.
    let harness = Harness::new(configured(&stack, None));
    let listed = harness
        .invoke(
            "test_connection",
            json!({ "apiUrl": format!("{}/", stack.api_url()), "token": null }),
        )
        .expect("the token in effect is the one for this address");
    assert_eq!(listed, json!(0));
}

#[test]
fn an_unsafe_address_from_the_environment_is_refused_with_its_reason() {
    let harness = Harness::new(Overrides {
        api_url: Some("http://ddn.example.com".to_owned()),
        token: Some("a-token-that-must-not-travel-in-clear".to_owned()),
        results_dir: None,
    });
    let settings = harness.invoke("load_settings", json!({})).expect("loads");
    assert_eq!(settings["configured"], json!(false), "{settings}");
    assert_eq!(settings["hasToken"], json!(false), "{settings}");
    assert_eq!(
        kind(&settings["apiUrlProblem"]),
        "invalid_settings",
        "{settings}"
    );
    let reason = settings["apiUrlProblem"]["message"]
        .as_str()
        .unwrap_or_default();
    assert!(
        reason.contains("DDN_API_URL") && reason.contains("https://"),
        "{reason}"
    );
    let file = harness.dir.path().join("a.txt");
    std::fs::write(&file, b"a").expect("write");
    for (command, args) in [
        ("start_uploads", json!({ "paths": [file] })),
        ("list_results", json!({ "cursor": null })),
    ] {
        let error = harness.invoke(command, args).expect_err(command);
        assert_eq!(kind(&error), "invalid_settings", "{command}: {error}");
        assert_eq!(error["message"].as_str(), Some(reason), "{command}");
    }
    assert!(harness.jobs.records().is_empty(), "nothing was added");

    // Plain http:// to this computer is the local stack, and stays allowed.
    for local in [
        "http://localhost:1",
        "http://127.0.0.2:1",
        "http://[::1]:1/",
    ] {
        let harness = Harness::new(Overrides {
            api_url: Some(local.to_owned()),
            token: Some("t".to_owned()),
            results_dir: None,
        });
        let settings = harness.invoke("load_settings", json!({})).expect("loads");
        assert_eq!(settings["configured"], json!(true), "{local}: {settings}");
        assert_eq!(settings["apiUrlProblem"], Value::Null, "{local}");
    }
}

#[test]
fn a_changed_file_sent_again_gets_its_own_result_not_the_old_one() {
    let (_runtime, stack) = stack(Duration::from_secs(2));
    let results = tempfile::tempdir().expect("results");
    let harness = Harness::new(configured(&stack, Some(results.path().to_path_buf())));
    let scan = harness.dir.path().join("scan.png");
    let version_a = vec![b'A'; 70_000];
    let version_b = vec![b'B'; 50_000];

    std::fs::write(&scan, &version_a).expect("write A");
    let first = harness.send(&scan);
    harness.wait_status(&first, Status::Ready);
    let first_result = harness.record(&first).result_path.expect("a result");
    assert_eq!(std::fs::read(&first_result).expect("A's result"), version_a);

    // The same name again, with new content: A's result is still on the server under it.
    std::fs::write(&scan, &version_b).expect("write B");
    let second = harness.send(&scan);
    // It waits for its own result (the stand-in processor takes 2 s), not A's.
    harness.wait_status(&second, Status::Processing);
    let upload_b = harness.record(&second).result_of;
    assert!(
        upload_b.upload_id.is_some(),
        "the service gave the upload an id: {upload_b:?}"
    );
    assert_ne!(upload_b, harness.record(&first).result_of);
    harness.wait_status(&second, Status::Ready);
    let second_result = harness.record(&second).result_path.expect("a result");
    assert_ne!(second_result, first_result, "A's result is left alone");
    assert_eq!(
        std::fs::read(&second_result).expect("B's result"),
        version_b,
        "the second row turned ready with the result of its own upload"
    );
    assert_eq!(std::fs::read(&first_result).expect("A's result"), version_a);
}

#[test]
fn a_restarted_app_waits_for_the_result_of_the_upload_it_made() {
    let (runtime, stack) = stack(Duration::from_secs(2));
    let results = tempfile::tempdir().expect("results");
    let harness = Harness::new(configured(&stack, Some(results.path().to_path_buf())));
    let scan = harness.dir.path().join("scan.png");
    std::fs::write(&scan, vec![b'A'; 10_000]).expect("write A");
    let first = harness.send(&scan);
    harness.wait_status(&first, Status::Ready);

    // B is uploaded; the app stops before its result exists, and the saved row says which
    // upload it waits for.
    std::fs::write(&scan, vec![b'B'; 20_000]).expect("write B");
    let second = harness.send(&scan);
    harness.wait_status(&second, Status::Processing);
    let waiting_for = harness.record(&second).result_of;
    harness.jobs.flush();
    let saved: Vec<Record> = serde_json::from_slice(
        &std::fs::read(harness.dir.path().join("data/transfers.json")).expect("the list"),
    )
    .expect("a list");
    let saved_row = saved.iter().find(|r| r.id == second).expect("saved row");
    assert_eq!(saved_row.result_of, waiting_for);
    assert!(waiting_for.upload_id.is_some());

    // An app started on that list (with results going elsewhere, apart from the first app's)
    // resumes the row and takes only B's result, although A's is on the server under the name.
    let restarted_dir = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir_all(restarted_dir.path().join("data")).expect("data folder");
    std::fs::write(
        restarted_dir.path().join("data/transfers.json"),
        serde_json::to_vec(&saved).expect("json"),
    )
    .expect("the list");
    let later_results = tempfile::tempdir().expect("results");
    let restarted = Harness::reopen(
        restarted_dir,
        configured(&stack, Some(later_results.path().to_path_buf())),
    );
    restarted.wait_status(&second, Status::Ready);
    let result = restarted.record(&second).result_path.expect("a result");
    assert_eq!(
        std::fs::read(result).expect("B's result"),
        vec![b'B'; 20_000]
    );
    drop(runtime);
}

#[test]
fn a_paused_row_stays_paused_after_a_restart_and_resume_sends_it() {
    let (runtime, stack) = stack(Duration::from_millis(300));
    let dir = tempfile::tempdir().expect("temp dir");
    let results = dir.path().join("results");
    let file = dir.path().join("paused.bin");
    std::fs::write(&file, vec![b'P'; 30_000]).expect("write");
    // The list an app saved with the row paused before its upload was done.
    let paused = Record {
        id: "t1".into(),
        name: "paused.bin".into(),
        source: Some(file.clone()),
        size: 30_000,
        status: Status::Paused,
        uploaded: false,
        result_of: ddn_transfer::ResultOf::default(),
        result_path: None,
        error: None,
    };
    std::fs::create_dir_all(dir.path().join("data")).expect("data folder");
    std::fs::write(
        dir.path().join("data/transfers.json"),
        serde_json::to_vec(&[paused]).expect("json"),
    )
    .expect("the list");
    let harness = Harness::reopen(dir, configured(&stack, Some(results.clone())));
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(harness.record("t1").status, Status::Paused, "not started");
    let stored = runtime.block_on(s3::keys(&stack, Bucket::Input));
    assert!(stored.is_empty(), "nothing was sent: {stored:?}");

    let error = harness
        .invoke("resume_transfer", json!({ "id": "no-such-row" }))
        .expect_err("unknown row");
    assert_eq!(kind(&error), "not_found");
    harness
        .invoke("resume_transfer", json!({ "id": "t1" }))
        .expect("resumed");
    harness.wait_status("t1", Status::Ready);
    assert_eq!(
        std::fs::read(results.join("paused.bin")).expect("the result"),
        vec![b'P'; 30_000]
    );
    // A row that does not move has nothing to pause.
    harness
        .invoke("pause_transfer", json!({ "id": "t1" }))
        .expect("a ready row is left as it is");
    assert_eq!(harness.record("t1").status, Status::Ready);
    let error = harness
        .invoke("pause_transfer", json!({ "id": "no-such-row" }))
        .expect_err("unknown row");
    assert_eq!(kind(&error), "not_found");
}

#[test]
fn a_file_the_processor_fails_says_why_and_retry_uploads_it_again() {
    let (runtime, stack) = stack_with(LocalStackOptions {
        processing_delay: Duration::from_millis(300),
        fail_matching: Some("*.bad".parse().expect("a pattern")),
        ..LocalStackOptions::default()
    });
    let results = tempfile::tempdir().expect("results");
    let harness = Harness::new(configured(&stack, Some(results.path().to_path_buf())));
    let file = harness.dir.path().join("scan.bad");
    std::fs::write(&file, b"the processor refuses this").expect("write");
    // The id the service gave the stored input object, as the processor sees it.
    let stored_upload_id = || {
        let input = runtime
            .block_on(s3::get(&stack, Bucket::Input, "users/dev/scan.bad"))
            .expect("the input object");
        input
            .metadata
            .get("ddn-upload-id")
            .cloned()
            .expect("an upload id on the input")
    };

    let id = harness.send(&file);
    harness.wait_status(&id, Status::Failed);
    let failed = harness.record(&id);
    let error = failed.error.expect("why");
    assert_eq!(error.kind, "processing_failed");
    let reason = error.detail.expect("the processor's reason");
    assert!(reason.contains("*.bad"), "{reason}");
    assert_eq!(
        error.message,
        format!("The file could not be processed: {reason}")
    );
    let first_upload = failed.result_of.upload_id.expect("the upload's id");
    assert_eq!(stored_upload_id(), first_upload);

    // Retry sends the file again (a new upload, with a new id), then waits for that one.
    harness
        .invoke("retry_transfer", json!({ "id": id }))
        .expect("retried");
    harness.wait_status(&id, Status::Failed);
    let again = harness.record(&id);
    let second_upload = again.result_of.upload_id.expect("the new upload's id");
    assert_ne!(second_upload, first_upload, "uploaded again");
    assert_eq!(stored_upload_id(), second_upload);
    assert_eq!(
        again.error.map(|error| error.kind.as_str()),
        Some("processing_failed")
    );
    assert!(
        std::fs::read_dir(results.path()).map_or(true, |mut entries| entries.next().is_none()),
        "nothing was downloaded"
    );
}

#[test]
fn the_results_list_comes_page_by_page_until_the_last() {
    const RESULTS: usize = 401;
    let (runtime, stack) = stack(Duration::from_millis(200));
    runtime.block_on(async {
        for i in 0..RESULTS {
            let key = format!("users/dev/page-{i:03}.txt");
            s3::put(&stack, Bucket::Output, &key, format!("result {i}")).await;
        }
    });
    let harness = Harness::new(configured(&stack, None));
    let mut cursor = Value::Null;
    let mut sizes = Vec::new();
    let mut names = Vec::new();
    loop {
        let page = harness
            .invoke("list_results", json!({ "cursor": cursor }))
            .expect("a page");
        let results = page["results"].as_array().expect("results").clone();
        sizes.push(results.len());
        names.extend(
            results
                .iter()
                .map(|r| r["name"].as_str().expect("a name").to_owned()),
        );
        assert!(
            page.as_object()
                .is_some_and(|p| p.contains_key("nextCursor")),
            "the last page says so with null: {page}"
        );
        cursor = page["nextCursor"].clone();
        if cursor.is_null() {
            break;
        }
        assert!(sizes.len() < 10, "the pages never end");
    }
    assert_eq!(sizes, [200, 200, 1]);
    let expected: Vec<String> = (0..RESULTS).map(|i| format!("page-{i:03}.txt")).collect();
    assert_eq!(names, expected);
}
