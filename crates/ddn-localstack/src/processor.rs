//! The stand-in processor: copies every new or changed input object to the output bucket under the
//! same key, after a delay, like `aws s3 cp s3://IN/KEY s3://OUT/KEY` in the seed's test scripts.
//!
//! It polls the input bucket (`ListObjectsV2`) rather than hooking into the S3 server, so it talks to
//! the store exactly as an external processing service would.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::time::{Duration, Instant};

use aws_sdk_s3::primitives::DateTime;

/// The processor's settings.
#[derive(Debug, Clone)]
pub struct Processor {
    /// A client for the S3 server.
    pub client: aws_sdk_s3::Client,
    /// Where uploads arrive.
    pub in_bucket: String,
    /// Where results go, under the same key.
    pub out_bucket: String,
    /// How long after first seeing an object it is copied.
    pub delay: Duration,
    /// How often the input bucket is listed.
    pub poll_interval: Duration,
}

/// An object's identity as far as listing tells: a re-upload changes one of them.
type Version = (i64, Option<DateTime>);

struct Seen {
    version: Version,
    since: Instant,
    copied: bool,
}

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

    async fn pass(
        &self,
        seen: &mut HashMap<String, Seen>,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let now = Instant::now();
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
                let version = (object.size().unwrap_or(0), object.last_modified().copied());
                present.insert(key.to_owned());
                let entry = seen.entry(key.to_owned()).or_insert_with(|| Seen {
                    version,
                    since: now,
                    copied: false,
                });
                if entry.version != version {
                    *entry = Seen {
                        version,
                        since: now,
                        copied: false,
                    };
                }
            }
        }
        seen.retain(|key, _| present.contains(key.as_str()));

        for (key, entry) in seen.iter_mut() {
            if entry.copied || now.duration_since(entry.since) < self.delay {
                continue;
            }
            // Read and write rather than CopyObject: s3s-fs copies in place, so a large copy would
            // be visible half-written, while its PutObject appears at once, as S3's writes do.
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
                .body(object.body)
                .send()
                .await?;
            entry.copied = true;
            tracing::info!(key, "processor: copied to the output bucket");
        }
        Ok(())
    }
}
