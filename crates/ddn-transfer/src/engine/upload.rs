//! Uploads: the file streamed through a presigned `PUT` with `Content-Length` and every signed
//! header (the content type from the name, the MD5 up to the engine's limit, the upload id), and
//! answered with the upload's id and the time S3 stored it.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use base64::Engine as _;
use ddn_api::{MAX_SINGLE_PUT_BYTES, PresignRequest, PresignResponse, TransferMode};
use futures_util::StreamExt as _;
use md5::{Digest, Md5};
use reqwest::header::{CONTENT_LENGTH, DATE};
use serde::Serialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::io::AsyncReadExt as _;
use tokio_util::sync::CancellationToken;

use super::{Engine, EventSink, READ_BUFFER_BYTES, ResultOf, TransferEvent};
use crate::chunk_reader::read_chunks;
use crate::error::TransferError;
use crate::progress::ProgressMeter;

/// A finished upload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Uploaded {
    /// The object key the service chose.
    pub key: String,
    /// Bytes uploaded.
    pub size: u64,
    /// Whether S3 checked the content's MD5 (for a multipart upload: every part's, and the
    /// whole file's CRC-64/NVME).
    pub md5_checked: bool,
    /// The id the service gave this upload; `None` from a service without the processing
    /// contract.
    pub upload_id: Option<String>,
    /// When S3 stored it, RFC 3339: S3's own `Date` on its answer to the `PUT`, or this
    /// computer's clock when S3 sent none.
    pub uploaded_at: Option<String>,
}

impl Uploaded {
    /// What a wait for this upload's result must ask for.
    pub fn result_of(&self) -> ResultOf {
        ResultOf {
            upload_id: self.upload_id.clone(),
            uploaded_at: self.uploaded_at.clone(),
        }
    }
}

impl Engine {
    /// Uploads the file at `path` under the name `name`, retrying transient failures with a fresh
    /// URL each time. Holds a place in the engine's queue, if it has one, from the first read of
    /// the file to S3's answer.
    ///
    /// A file of at least [`EngineOptions::multipart_threshold`](super::EngineOptions) (and any
    /// file above the single-`PUT` limit) goes multipart, several parts at once; with a resume
    /// folder, an upload of the same unchanged file continues one that stopped earlier, sending
    /// only the parts S3 lacks ([`TransferEvent::Resumed`], or [`TransferEvent::StartedOver`]
    /// when it cannot). Smaller files go in one `PUT`.
    ///
    /// # Errors
    /// A [`TransferError`] when the file cannot be read, the service refuses, or the transfer
    /// fails after its retries; [`TransferError::Cancelled`] when `cancel` fires.
    pub async fn upload(
        &self,
        path: &Path,
        name: &str,
        cancel: &CancellationToken,
        events: &dyn EventSink,
    ) -> Result<Uploaded, TransferError> {
        self.in_turn(cancel, self.upload_now(path, name, cancel, events))
            .await
    }

    /// [`Self::upload`], once it is the upload's turn.
    async fn upload_now(
        &self,
        path: &Path,
        name: &str,
        cancel: &CancellationToken,
        events: &dyn EventSink,
    ) -> Result<Uploaded, TransferError> {
        let size = tokio::fs::metadata(path)
            .await
            .map_err(|e| TransferError::io("read", path, e))?
            .len();
        if size > MAX_SINGLE_PUT_BYTES || size >= self.options.effective_multipart_threshold() {
            return self.upload_multipart(path, name, cancel, events).await;
        }
        let md5 = if size <= self.options.md5_limit {
            Some(md5_of_file(path, cancel).await?)
        } else {
            None
        };
        let md5_checked = md5.is_some();
        let request = PresignRequest {
            file: name.to_owned(),
            mode: TransferMode::Upload,
            size: Some(size),
            md5,
            content_type: Some(content_type_for(name)),
            ..PresignRequest::default()
        };
        let mut meter = ProgressMeter::new(size, self.clock.now());
        let mut attempts = self.attempts(cancel, events);
        let (answer, stored_at) = loop {
            let attempt = self.upload_once(&request, path, size, &mut meter, cancel, events);
            if let Some(sent) = attempts.attempt(attempt).await? {
                break sent;
            }
        };
        events.send(TransferEvent::Progress(meter.finish(self.clock.now())));
        Ok(Uploaded {
            key: answer.key,
            size,
            md5_checked,
            uploaded_at: answer
                .upload_id
                .is_some()
                .then(|| rfc3339(stored_at))
                .flatten(),
            upload_id: answer.upload_id,
        })
    }

    /// One attempt: a fresh URL, then the file. Answers the URL's answer and when S3 stored the
    /// file (this computer's clock at sending when S3 sent no `Date`).
    async fn upload_once(
        &self,
        request: &PresignRequest,
        path: &Path,
        size: u64,
        meter: &mut ProgressMeter,
        cancel: &CancellationToken,
        events: &dyn EventSink,
    ) -> Result<(PresignResponse, SystemTime), TransferError> {
        let answer = self.api.presign_cancellable(request, cancel).await?;
        let sent_at = SystemTime::now();
        let stored_at = self
            .put_file(path, size, &answer, meter, cancel, events)
            .await?;
        Ok((answer, stored_at.unwrap_or(sent_at)))
    }

    /// Sends the file once through a presigned `PUT`; answers S3's `Date` on its acceptance,
    /// when it sent a readable one.
    async fn put_file(
        &self,
        path: &Path,
        size: u64,
        answer: &PresignResponse,
        meter: &mut ProgressMeter,
        cancel: &CancellationToken,
        events: &dyn EventSink,
    ) -> Result<Option<SystemTime>, TransferError> {
        let file = tokio::fs::File::open(path)
            .await
            .map_err(|e| TransferError::io("read", path, e))?
            .into_std()
            .await;
        let sent = Arc::new(AtomicU64::new(0));
        let counter = Arc::clone(&sent);
        let stream = read_chunks(file, READ_BUFFER_BYTES).inspect(move |chunk| {
            if let Ok(chunk) = chunk {
                counter.fetch_add(chunk.len() as u64, Ordering::Relaxed);
            }
        });
        let mut request = self
            .api
            .http()
            .put(&answer.url)
            // Always the length: S3 refuses a streamed body without one, and it is signed.
            .header(CONTENT_LENGTH, size);
        for (name, value) in &answer.headers {
            if !name.eq_ignore_ascii_case("content-length") {
                request = request.header(name, value);
            }
        }
        let send = request.body(reqwest::Body::wrap_stream(stream)).send();
        let response = self
            .watch(send, &sent, meter, cancel, events)
            .await?
            .map_err(|e| TransferError::from_http(&e))?;
        let status = response.status().as_u16();
        if status == 200 {
            meter.set(size, self.clock.now());
            let stored_at = response
                .headers()
                .get(DATE)
                .and_then(|value| value.to_str().ok())
                .and_then(|text| httpdate::parse_http_date(text).ok());
            return Ok(stored_at);
        }
        Err(crate::body::storage_error(status, response, self.options.stall_timeout, cancel).await)
    }
}

/// The media type an upload is signed for, from its name (`application/octet-stream` when the
/// extension says nothing).
pub(super) fn content_type_for(name: &str) -> String {
    mime_guess::from_path(name)
        .first_or_octet_stream()
        .essence_str()
        .to_owned()
}

/// `time` as RFC 3339 in UTC, whole seconds (S3's dates have no more).
fn rfc3339(time: SystemTime) -> Option<String> {
    let seconds = time.duration_since(SystemTime::UNIX_EPOCH).ok()?.as_secs();
    OffsetDateTime::from_unix_timestamp(i64::try_from(seconds).ok()?)
        .ok()?
        .format(&Rfc3339)
        .ok()
}

/// Base64 of the file's MD5, read in large chunks.
async fn md5_of_file(path: &Path, cancel: &CancellationToken) -> Result<String, TransferError> {
    let mut file = tokio::fs::File::open(path)
        .await
        .map_err(|e| TransferError::io("read", path, e))?;
    let mut hasher = Md5::new();
    let mut buffer = vec![0u8; READ_BUFFER_BYTES];
    loop {
        if cancel.is_cancelled() {
            return Err(TransferError::Cancelled);
        }
        let n = file
            .read(&mut buffer)
            .await
            .map_err(|e| TransferError::io("read", path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
    }
    Ok(base64::engine::general_purpose::STANDARD.encode(hasher.finalize()))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn uploads_are_signed_for_the_type_their_name_says() {
        assert_eq!(content_type_for("scan 01.PNG"), "image/png");
        assert_eq!(content_type_for("2026/report.pdf"), "application/pdf");
        assert_eq!(content_type_for("data"), "application/octet-stream");
        assert_eq!(
            content_type_for("archive.unknownext"),
            "application/octet-stream"
        );
    }

    #[test]
    fn upload_times_are_whole_seconds_in_utc() {
        let time = SystemTime::UNIX_EPOCH + Duration::from_millis(1_795_521_600_900);
        assert_eq!(rfc3339(time).as_deref(), Some("2026-11-24T12:00:00Z"));
    }
}
