//! The stand-in processor keeps the processing contract (README, "The processing contract"), in
//! both its modes, against the real local S3 server: a result carries its input's user metadata
//! (so its `ddn-upload-id`), a file it was told to fail gets exactly a failure marker and no
//! result, and every re-upload is answered again, even one that a listing cannot tell apart.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::time::{Duration, Instant};

use ddn_api::processing::{MAX_FAILURE_MESSAGE_BYTES, MESSAGE_META, UPLOAD_ID_META};
use ddn_localstack::processor::{NamePattern, encode_failure_message, file_name};
use ddn_localstack::{LocalStack, LocalStackOptions};
use ddn_testkit::s3::{self, Bucket, PutOptions};
use percent_encoding::percent_decode_str;

async fn stack_failing(pattern: Option<&str>) -> LocalStack {
    LocalStack::start(LocalStackOptions {
        processing_delay: Duration::from_millis(100),
        poll_interval: Duration::from_millis(20),
        fail_matching: pattern.map(|p| p.parse().unwrap()),
        ..LocalStackOptions::default()
    })
    .await
    .expect("the local stack starts")
}

/// Stores an input object as an upload URL would: the body, and the upload id as user metadata.
async fn put_input(stack: &LocalStack, key: &str, body: &[u8], upload_id: Option<&str>) {
    let metadata = upload_id.map(|id| (UPLOAD_ID_META, id));
    s3::put_with(
        stack,
        Bucket::Input,
        key,
        body,
        PutOptions {
            metadata: metadata.as_slice(),
            content_type: Some("image/png"),
        },
    )
    .await;
}

/// An output object's bytes and user metadata.
type Found = (Vec<u8>, HashMap<String, String>);

/// Whether an object has the metadata value `name`. s3s-fs writes an object's metadata just after
/// its data, so a read can catch a new object without it: a poll waits for what it expects.
fn has(name: &'static str) -> impl Fn(&Found) -> bool {
    move |(_, metadata)| metadata.contains_key(name)
}

/// Puts a new version of `key` as if in the same second as the one stored. S3 keeps modification
/// times to the second, so two uploads of one size in the same second list exactly alike; s3s-fs
/// keeps finer times, so the new file is given the old one's to match.
async fn put_input_in_the_same_second(stack: &LocalStack, key: &str, body: &[u8], upload_id: &str) {
    let stored = stack.data_dir().join(stack.in_bucket()).join(key);
    let first_modified = std::fs::metadata(&stored).unwrap().modified().unwrap();
    put_input(stack, key, body, Some(upload_id)).await;
    std::fs::File::options()
        .write(true)
        .open(&stored)
        .unwrap()
        .set_modified(first_modified)
        .unwrap();
}

/// Whether an object carries the upload id `id` (the bytes are in place by then).
fn carries(id: &'static str) -> impl Fn(&Found) -> bool {
    move |(_, metadata)| metadata.get(UPLOAD_ID_META).map(String::as_str) == Some(id)
}

/// An object of the output bucket: its bytes and user metadata, when it is there (and, during a
/// replacement, readable whole: the caller polls on until it is).
async fn output(stack: &LocalStack, key: &str) -> Option<Found> {
    let object = s3::get(stack, Bucket::Output, key).await?;
    Some((object.body, object.metadata))
}

/// Polls the output bucket until `key` satisfies `done`, for at most ten seconds.
async fn wait_for(stack: &LocalStack, key: &str, done: impl Fn(&Found) -> bool) -> Found {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(found) = output(stack, key).await
            && done(&found)
        {
            return found;
        }
        assert!(
            Instant::now() < deadline,
            "{key} never appeared as expected"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_result_carries_every_user_metadata_value_of_its_input() {
    let stack = stack_failing(None).await;
    let key = "users/dev/scan.png";
    s3::put_with(
        &stack,
        Bucket::Input,
        key,
        b"png bytes",
        PutOptions {
            metadata: &[
                (UPLOAD_ID_META, "0f1e2d3c4b5a69788796a5b4c3d2e1f0"),
                ("note", "kept too"),
            ],
            content_type: Some("image/png"),
        },
    )
    .await;

    let (bytes, _) = wait_for(&stack, key, has(UPLOAD_ID_META)).await;
    assert_eq!(bytes, b"png bytes");
    let result = s3::get(&stack, Bucket::Output, key).await.unwrap();
    let metadata = &result.metadata;
    assert_eq!(
        metadata.get(UPLOAD_ID_META).map(String::as_str),
        Some("0f1e2d3c4b5a69788796a5b4c3d2e1f0")
    );
    assert_eq!(metadata.get("note").map(String::as_str), Some("kept too"));
    assert_eq!(result.content_type.as_deref(), Some("image/png"));
    stack.stop().await;
}

#[tokio::test]
async fn a_file_told_to_fail_gets_exactly_a_failure_marker_and_no_result() {
    let stack = stack_failing(Some("*.bad")).await;
    put_input(
        &stack,
        "users/dev/2026/scan.bad",
        b"doomed",
        Some("id-of-the-bad-one"),
    )
    .await;
    put_input(&stack, "users/dev/anonymous.bad", b"doomed", None).await;
    put_input(
        &stack,
        "users/dev/fine.png",
        b"fine",
        Some("id-of-the-fine-one"),
    )
    .await;

    let (body, metadata) =
        wait_for(&stack, "failed/users/dev/2026/scan.bad", has(MESSAGE_META)).await;
    assert!(body.is_empty(), "a marker is empty");
    let reason = "The stand-in processor was told to fail files matching *.bad.";
    assert_eq!(
        metadata,
        HashMap::from([
            (UPLOAD_ID_META.to_owned(), "id-of-the-bad-one".to_owned()),
            (MESSAGE_META.to_owned(), encode_failure_message(reason)),
        ])
    );
    let message = percent_decode_str(&metadata[MESSAGE_META])
        .decode_utf8()
        .unwrap();
    assert_eq!(message, reason);

    // An input without an upload id gets a marker without one.
    let (body, metadata) =
        wait_for(&stack, "failed/users/dev/anonymous.bad", has(MESSAGE_META)).await;
    assert!(body.is_empty());
    assert_eq!(
        metadata.keys().collect::<Vec<_>>(),
        vec![MESSAGE_META],
        "no upload id to copy"
    );

    // Files that do not match are processed as usual, and by then the failed ones would have
    // been too: they have no result, and nothing else lands under failed/.
    let (bytes, metadata) = wait_for(&stack, "users/dev/fine.png", has(UPLOAD_ID_META)).await;
    assert_eq!(bytes, b"fine");
    assert_eq!(metadata[UPLOAD_ID_META], "id-of-the-fine-one");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(output(&stack, "users/dev/2026/scan.bad").await.is_none());
    assert!(output(&stack, "users/dev/anonymous.bad").await.is_none());
    let mut keys = s3::keys(&stack, Bucket::Output).await;
    keys.sort_unstable();
    assert_eq!(
        keys,
        vec![
            "failed/users/dev/2026/scan.bad",
            "failed/users/dev/anonymous.bad",
            "users/dev/fine.png"
        ]
    );
    stack.stop().await;
}

#[tokio::test]
async fn a_same_size_re_upload_within_the_same_second_is_processed_again() {
    let stack = stack_failing(None).await;
    let key = "users/dev/again.txt";
    put_input(&stack, key, b"version A", Some("upload-a")).await;
    let (bytes, _) = wait_for(&stack, key, carries("upload-a")).await;
    assert_eq!(bytes, b"version A");

    put_input_in_the_same_second(&stack, key, b"version B", "upload-b").await;

    let (bytes, _) = wait_for(&stack, key, carries("upload-b")).await;
    assert_eq!(bytes, b"version B");
    stack.stop().await;
}

#[tokio::test]
async fn a_re_upload_of_the_same_bytes_under_a_new_upload_id_is_answered_again() {
    let stack = stack_failing(None).await;
    let key = "users/dev/same.txt";
    put_input(&stack, key, b"same bytes", Some("first-upload")).await;
    wait_for(&stack, key, carries("first-upload")).await;

    put_input_in_the_same_second(&stack, key, b"same bytes", "second-upload").await;

    let (bytes, _) = wait_for(&stack, key, carries("second-upload")).await;
    assert_eq!(bytes, b"same bytes");
    stack.stop().await;
}

#[test]
fn a_pattern_matches_the_whole_name_with_star_and_question_mark() {
    let check = |pattern: &str, name: &str, expected: bool| {
        let parsed: NamePattern = pattern.parse().unwrap();
        assert_eq!(parsed.matches(name), expected, "{pattern:?} on {name:?}");
    };
    check("*.bad", "scan.bad", true);
    check("*.bad", "2026/scan.bad", true);
    check("*.bad", "scan.bad.png", false);
    check("*.bad", ".bad", true);
    check("reject-*", "reject-1.png", true);
    check("reject-*", "old/reject-1.png", false);
    check("scan?.png", "scan1.png", true);
    check("scan?.png", "scan.png", false);
    check("사진 ?.png", "사진 1.png", true);
    check("a*b*c", "aXbYbZc", true);
    check("a*b*c", "aXbYbZ", false);
    check("**", "", true);
    check("exact.txt", "exact.txt", true);
    check("exact.txt", "exact.txt2", false);
}

#[test]
fn the_name_matched_is_the_key_after_the_users_folder() {
    assert_eq!(file_name("users/alice/2026/scan.png"), "2026/scan.png");
    assert_eq!(file_name("users/alice/scan.png"), "scan.png");
    assert_eq!(file_name("elsewhere/scan.png"), "elsewhere/scan.png");
}

#[test]
fn a_failure_message_is_percent_encoded_and_cut_to_the_contract_limit() {
    assert_eq!(
        encode_failure_message("Too dark: 50% 사진"),
        "Too%20dark%3A%2050%25%20%EC%82%AC%EC%A7%84"
    );
    let long = "가".repeat(MAX_FAILURE_MESSAGE_BYTES); // three bytes each
    let decoded = percent_decode_str(&encode_failure_message(&long))
        .decode_utf8()
        .unwrap()
        .into_owned();
    assert!(decoded.len() <= MAX_FAILURE_MESSAGE_BYTES);
    assert!(decoded.len() > MAX_FAILURE_MESSAGE_BYTES - 3);
    assert!(decoded.chars().all(|c| c == '가'));
}
