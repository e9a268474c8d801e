//! The stand-in processor: follows the processing contract (README, "The processing contract") as
//! the simplest real processor would.
//!
//! Every new or changed input object, after a delay, gets one of two answers in the output bucket:
//! - a result: the object copied under the same key with all its user metadata, so the result
//!   carries the upload's `ddn-upload-id`, like `aws s3 cp s3://IN/KEY s3://OUT/KEY` in the seed's
//!   test scripts;
//! - or, for a name matching [`Processor::fail_matching`], a failure marker: an empty object at
//!   `failed/KEY` with the input's `ddn-upload-id` (none when the input has none) and a
//!   percent-encoded `ddn-message` saying why.
//!
//! It leaves whatever an earlier upload of the key left behind (an older result, an older marker)
//! where it is, as the contract allows, so clients are always tested against stale answers.
//!
//! It polls the input bucket (`ListObjectsV2`, and `HeadObject` for what a listing does not show)
//! rather than hooking into the S3 server, so it talks to the store exactly as an external
//! processing service would.

use std::collections::{HashMap, HashSet};
use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::str::FromStr;
use std::time::{Duration, Instant};

use aws_sdk_s3::primitives::{ByteStream, DateTime};
use ddn_api::processing::{FAILED_PREFIX, MAX_FAILURE_MESSAGE_BYTES, MESSAGE_META, UPLOAD_ID_META};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// The processor's settings.
#[derive(Debug, Clone)]
pub struct Processor {
    /// A client for the S3 server.
    pub client: aws_sdk_s3::Client,
    /// Where uploads arrive.
    pub in_bucket: String,
    /// Where results go, under the same key.
    pub out_bucket: String,
    /// How long after first seeing an object it is answered.
    pub delay: Duration,
    /// How often the input bucket is listed.
    pub poll_interval: Duration,
    /// Files whose name (the key after `users/<id>/`) matches get a failure marker instead of a
    /// result; none do when `None`.
    pub fail_matching: Option<NamePattern>,
}

/// A pattern for file names: `*` stands for any run of characters, `/` included (so `*.bad`
/// also matches `2026/scan.bad`), `?` for exactly one character, anything else for itself.
/// Matching is on the whole name: `reject-*` matches `reject-1.png`, not `old/reject-1.png`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamePattern(String);

impl NamePattern {
    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `name` matches the whole pattern.
    pub fn matches(&self, name: &str) -> bool {
        let pattern: Vec<char> = self.0.chars().collect();
        let name: Vec<char> = name.chars().collect();
        let (mut p, mut n) = (0, 0);
        // Where the last `*` was, and how much of the name it has taken so far: on a mismatch,
        // that star takes one more character and matching resumes after it.
        let mut last_star: Option<(usize, usize)> = None;
        while n < name.len() {
            match pattern.get(p) {
                Some('*') => {
                    last_star = Some((p, n));
                    p += 1;
                }
                Some(&c) if c == '?' || c == name[n] => {
                    p += 1;
                    n += 1;
                }
                _ => match last_star {
                    Some((star, taken)) => {
                        last_star = Some((star, taken + 1));
                        p = star + 1;
                        n = taken + 1;
                    }
                    None => return false,
                },
            }
        }
        pattern[p..].iter().all(|&c| c == '*')
    }
}

impl FromStr for NamePattern {
    type Err = Infallible;

    fn from_str(pattern: &str) -> Result<Self, Self::Err> {
        Ok(Self(pattern.to_owned()))
    }
}

impl fmt::Display for NamePattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The name a user chose for an input object: its key without the `users/<id>/` prefix (the
/// whole key when it has none).
pub fn file_name(key: &str) -> &str {
    key.strip_prefix("users/")
        .and_then(|rest| rest.split_once('/'))
        .map_or(key, |(_, name)| name)
}

/// A failure reason as a `ddn-message` value: cut to [`MAX_FAILURE_MESSAGE_BYTES`] on a character
/// boundary, then percent-encoded (everything but ASCII letters, digits and `-._~`), so any UTF-8
/// fits in a header.
pub fn encode_failure_message(reason: &str) -> String {
    let mut end = reason.len().min(MAX_FAILURE_MESSAGE_BYTES);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    const KEEP: &AsciiSet = &NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'.')
        .remove(b'_')
        .remove(b'~');
    utf8_percent_encode(&reason[..end], KEEP).to_string()
}

/// What tells one upload of a key from another: a re-upload changes at least one of them. Size
/// and modification time come from the listing; the ETag (the content) and the upload id (a
/// re-upload of the same bytes) from `HeadObject`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Version {
    size: i64,
    last_modified: Option<DateTime>,
    e_tag: Option<String>,
    upload_id: Option<String>,
}

struct Seen {
    version: Version,
    /// When the listing first showed this size and modification time.
    listed_since: Instant,
    /// When this version was first seen: it is answered [`Processor::delay`] later.
    since: Instant,
    answered: bool,
}

/// How long after the listing first shows an object's size and modification time the object is
/// still looked at with `HeadObject` on every pass. The store keeps modification times to the
/// second (S3) or finer (s3s-fs), and a later upload gets a later one, which the listing shows:
/// only an upload within the same second as the listed one, so within a second of when it was
/// first listed, can list alike. Past that, listing alone tells every change.
const RECHECK_WINDOW: Duration = Duration::from_secs(2);

type PassError = Box<dyn std::error::Error + Send + Sync>;

impl Processor {
    /// Runs until `shutdown` resolves. Failures are logged and retried on the next pass.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let mut shutdown = std::pin::pin!(shutdown);
        let mut seen: HashMap<String, Seen> = HashMap::new();
        loop {
            if let Err(error) = self.pass(&mut seen).await {
                tracing::warn!(error = %aws_sdk_s3::error::DisplayErrorContext(&*error), "processor pass failed");
            }
            tokio::select! {
                () = &mut shutdown => return,
                () = tokio::time::sleep(self.poll_interval) => {}
            }
        }
    }

    async fn pass(&self, seen: &mut HashMap<String, Seen>) -> Result<(), PassError> {
        let now = Instant::now();
        // A pass that starts late must still look again at what was listed a second before.
        let recheck_window = RECHECK_WINDOW + self.poll_interval;
        let mut present = HashSet::new();
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(&self.in_bucket)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            for object in page?.contents() {
                let Some(key) = object.key() else { continue };
                present.insert(key.to_owned());
                let size = object.size().unwrap_or(0);
                let last_modified = object.last_modified().copied();
                let listed_since = seen
                    .get(key)
                    .filter(|entry| {
                        entry.version.size == size && entry.version.last_modified == last_modified
                    })
                    .map(|entry| entry.listed_since);
                if listed_since.is_some_and(|since| now.duration_since(since) >= recheck_window) {
                    continue;
                }
                let Some((e_tag, upload_id)) = self.identity(key).await? else {
                    continue;
                };
                let version = Version {
                    size,
                    last_modified,
                    e_tag,
                    upload_id,
                };
                if seen.get(key).is_none_or(|entry| entry.version != version) {
                    seen.insert(
                        key.to_owned(),
                        Seen {
                            version,
                            listed_since: listed_since.unwrap_or(now),
                            since: now,
                            answered: false,
                        },
                    );
                }
            }
        }
        seen.retain(|key, _| present.contains(key.as_str()));

        for (key, entry) in seen.iter_mut() {
            if entry.answered || now.duration_since(entry.since) < self.delay {
                continue;
            }
            let answered = match &self.fail_matching {
                Some(pattern) if pattern.matches(file_name(key)) => {
                    self.write_failure(key, pattern, entry.version.upload_id.as_deref())
                        .await
                }
                _ => self.write_result(key).await,
            };
            // One object that cannot be answered now (removed meanwhile, say) does not hold up
            // the others; it is tried again on the next pass.
            match answered {
                Ok(()) => entry.answered = true,
                Err(error) => {
                    tracing::warn!(key, error = %aws_sdk_s3::error::DisplayErrorContext(&*error), "processor: not answered yet");
                }
            }
        }
        Ok(())
    }

    /// The ETag and upload id of an input object, or `None` when it is gone already.
    async fn identity(
        &self,
        key: &str,
    ) -> Result<Option<(Option<String>, Option<String>)>, PassError> {
        match self
            .client
            .head_object()
            .bucket(&self.in_bucket)
            .key(key)
            .send()
            .await
        {
            Ok(head) => Ok(Some((
                head.e_tag().map(str::to_owned),
                head.metadata()
                    .and_then(|metadata| metadata.get(UPLOAD_ID_META))
                    .cloned(),
            ))),
            Err(error) if error.as_service_error().is_some_and(|e| e.is_not_found()) => Ok(None),
            Err(error) => Err(error.into()),
        }
    }

    async fn write_result(&self, key: &str) -> Result<(), PassError> {
        // Read and write rather than CopyObject: s3s-fs copies in place, so a large copy would
        // be visible half-written, while its PutObject appears at once, as S3's writes do. The
        // user metadata and content type go along, as CopyObject would take them.
        let object = self
            .client
            .get_object()
            .bucket(&self.in_bucket)
            .key(key)
            .send()
            .await?;
        self.client
            .put_object()
            .bucket(&self.out_bucket)
            .key(key)
            .set_content_length(object.content_length())
            .set_content_type(object.content_type().map(str::to_owned))
            .set_metadata(object.metadata().cloned())
            .body(object.body)
            .send()
            .await?;
        tracing::info!(key, "processor: copied to the output bucket");
        Ok(())
    }

    async fn write_failure(
        &self,
        key: &str,
        pattern: &NamePattern,
        upload_id: Option<&str>,
    ) -> Result<(), PassError> {
        let reason = format!("The stand-in processor was told to fail files matching {pattern}.");
        let mut marker = self
            .client
            .put_object()
            .bucket(&self.out_bucket)
            .key(format!("{FAILED_PREFIX}{key}"))
            .content_length(0)
            .body(ByteStream::from_static(b""))
            .metadata(MESSAGE_META, encode_failure_message(&reason));
        if let Some(upload_id) = upload_id {
            marker = marker.metadata(UPLOAD_ID_META, upload_id);
        }
        marker.send().await?;
        tracing::info!(key, "processor: failed as told");
        Ok(())
    }
}
