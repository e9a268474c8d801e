//! The real `bootstrap` binary, started as a process against the Lambda Runtime API emulator, with
//! an S3-compatible server as its store: what `aws lambda invoke` does on AWS, here on loopback.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use ddn_localstack::{LocalStack, LocalStackOptions};
use ddn_testkit::runtime_emulator::{Outcome, RuntimeEmulator};
use serde_json::{Value, json};

const INVOKE_TIMEOUT: Duration = Duration::from_secs(20);

/// The Lambda environment plus the function's own settings. The environment is cleared first so
/// that nothing from the machine (a `~/.aws` profile, a stray endpoint) leaks in.
fn bootstrap_command(emulator: &RuntimeEmulator, stack: &LocalStack) -> Command {
    let credentials = stack.s3_credentials();
    let mut command = Command::new(env!("CARGO_BIN_EXE_bootstrap"));
    command
        .env_clear()
        .env("AWS_LAMBDA_RUNTIME_API", emulator.address())
        .env("AWS_LAMBDA_FUNCTION_NAME", "ddn-presign-lambda")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env(
            "AWS_LAMBDA_LOG_GROUP_NAME",
            "/aws/lambda/ddn-presign-lambda",
        )
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "2026/11/24/[$LATEST]emulated")
        .env("AWS_REGION", ddn_localstack::REGION)
        .env("AWS_ACCESS_KEY_ID", credentials.access_key_id())
        .env("AWS_SECRET_ACCESS_KEY", credentials.secret_access_key())
        .env("AWS_ENDPOINT_URL_S3", stack.s3_url())
        .env("AWS_CONFIG_FILE", "/nonexistent")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
        .env("DDN_IN_BUCKET", stack.in_bucket())
        .env("DDN_OUT_BUCKET", stack.out_bucket())
        .env("DDN_AUTH", "none")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

fn finish(mut child: Child) -> (String, String) {
    let _ = child.kill();
    let output = child.wait_with_output().unwrap();
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn body_of(outcome: &Outcome) -> (u64, Value) {
    let Outcome::Response(response) = outcome else {
        panic!("the function reported an error: {outcome:?}");
    };
    let status = response["statusCode"].as_u64().unwrap();
    let body = serde_json::from_str(response["body"].as_str().unwrap()).unwrap();
    (status, body)
}

#[tokio::test]
async fn bootstrap_answers_the_seed_direct_invoke_payload() {
    let stack = LocalStack::start(LocalStackOptions {
        processing_delay: Duration::from_millis(100),
        poll_interval: Duration::from_millis(50),
        ..LocalStackOptions::default()
    })
    .await
    .unwrap();
    let emulator = RuntimeEmulator::start().await.unwrap();
    let child = bootstrap_command(&emulator, &stack).spawn().unwrap();

    // The seed's lambda_51 payload, exactly.
    let seed_upload = json!({"queryStringParameters": {"mode": "upload", "file": "test.png"}});
    let outcome = emulator.invoke(seed_upload, INVOKE_TIMEOUT).await;
    let outcome = match outcome {
        Ok(outcome) => outcome,
        Err(error) => panic!("{error}; function output: {:?}", finish(child)),
    };
    let (status, body) = body_of(&outcome);
    assert_eq!(status, 200, "{body}");
    let url = body["url"].as_str().unwrap();
    assert_eq!(body["key"], "users/anonymous/test.png");

    // The URL is real: S3 takes the upload, the processor copies it.
    let put = reqwest::Client::new()
        .put(url)
        .header("content-length", "5")
        .body("image")
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 200);

    // The seed's lambda_52 payload: not ready at first, then a URL for the processed copy.
    let seed_download = json!({"queryStringParameters": {"mode": "download", "file": "test.png"}});
    let mut attempts = 0;
    let body = loop {
        let (status, body) = body_of(
            &emulator
                .invoke(seed_download.clone(), INVOKE_TIMEOUT)
                .await
                .unwrap(),
        );
        if status == 200 {
            break body;
        }
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (404, Some("not_ready"))
        );
        attempts += 1;
        assert!(attempts < 100, "the result never appeared");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(body["size"], 5);
    let bytes = reqwest::get(body["url"].as_str().unwrap())
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(&bytes[..], b"image");

    let (stdout, stderr) = finish(child);
    let lines: Vec<Value> = stdout
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    assert!(
        lines.iter().any(|l| l["level"] == "WARN"
            && l["message"]
                .as_str()
                .unwrap_or("")
                .contains("DDN_AUTH=none")),
        "open access must be announced: {stdout}"
    );
    let requests: Vec<&Value> = lines
        .iter()
        .filter(|l| l["request_id"].is_string())
        .collect();
    assert!(requests.len() >= 2, "{stdout}");
    assert!(
        requests
            .iter()
            .all(|l| l["request_id"].as_str().unwrap().starts_with("emulated-"))
    );
    for secret in [
        "X-Amz-Signature",
        stack.s3_credentials().secret_access_key(),
    ] {
        assert!(
            !stdout.contains(secret) && !stderr.contains(secret),
            "output carries {secret}"
        );
    }
}

#[tokio::test]
async fn a_missing_bucket_stops_the_start_with_one_clear_error() {
    let stack = LocalStack::start(LocalStackOptions::default())
        .await
        .unwrap();
    let emulator = RuntimeEmulator::start().await.unwrap();
    let output = tokio::task::spawn_blocking({
        let mut command = bootstrap_command(&emulator, &stack);
        command.env_remove("DDN_IN_BUCKET");
        move || command.output().unwrap()
    })
    .await
    .unwrap();
    assert!(!output.status.success());
    let stdout = String::from_utf8_lossy(&output.stdout);
    let error: Value = stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|l| l["level"] == "ERROR")
        .unwrap_or_else(|| panic!("no ERROR line in {stdout}"));
    assert!(
        error["error"]
            .as_str()
            .unwrap()
            .contains("DDN_IN_BUCKET is not set"),
        "{error}"
    );
}

#[tokio::test]
async fn rust_log_trace_never_puts_a_token_in_the_log() {
    // `lambda_runtime` logs every raw event at trace, and the AWS SDK logs whole signed requests:
    // whatever RUST_LOG asks, only the function's own lines go below info.
    let stack = LocalStack::start(LocalStackOptions::default())
        .await
        .unwrap();
    let emulator = RuntimeEmulator::start().await.unwrap();
    let token = "trace-test-token-7Qm2vX9";
    let mut command = bootstrap_command(&emulator, &stack);
    command
        .env("RUST_LOG", "trace")
        .env("DDN_AUTH", "token")
        .env(
            "DDN_TOKENS",
            format!("alice:{}", ddn_presign::auth::token_hash_hex(token)),
        );
    let child = command.spawn().unwrap();

    let mut event: Value = serde_json::from_str(include_str!("data/apigw_v2_http.json")).unwrap();
    event["headers"]["authorization"] = json!(format!("Bearer {token}"));
    // A download asks S3 first (a signed HeadObject), an upload only signs a URL.
    let mut statuses = Vec::new();
    for mode in ["download", "upload"] {
        event["rawQueryString"] = json!(format!("file=scan%2001.png&mode={mode}"));
        event["queryStringParameters"]["mode"] = json!(mode);
        let outcome = match emulator.invoke(event.clone(), INVOKE_TIMEOUT).await {
            Ok(outcome) => outcome,
            Err(error) => panic!("{error}; function output: {:?}", finish(child)),
        };
        statuses.push(body_of(&outcome).0);
    }
    assert_eq!(statuses, [404, 200], "the token was accepted both times");

    let (stdout, stderr) = finish(child);
    for secret in [token, stack.s3_credentials().secret_access_key()] {
        assert!(
            !stdout.contains(secret) && !stderr.contains(secret),
            "the output carries {secret}: {stdout}{stderr}"
        );
    }
    let lines: Vec<Value> = stdout
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let served: Vec<(u64, &str)> = lines
        .iter()
        .filter(|l| l["request_id"].is_string())
        .map(|l| (l["status"].as_u64().unwrap(), l["user"].as_str().unwrap()))
        .collect();
    assert_eq!(
        served,
        [(404, "alice"), (200, "alice")],
        "the service's own lines are still there: {stdout}"
    );
}
