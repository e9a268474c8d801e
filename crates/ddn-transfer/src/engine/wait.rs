//! Waiting for a result: the service is asked for the result of one upload ([`ResultOf`]) at a
//! growing interval until it is there, the processor gives up on the upload, or the waiting limit
//! passes. A wait holds no place in the engine's queue.

use std::path::Path;

use ddn_api::{ErrorCode, PresignRequest, PresignResponse, TransferMode};
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use super::{Downloaded, Engine, EventSink, TransferEvent, sleep_or_cancel};
use crate::error::TransferError;

/// Which upload a result must answer. [`ResultOf::default`] accepts whatever result is stored
/// under the name (the seed's behaviour, for results fetched by name from a list of results).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResultOf {
    /// The upload's id ([`Uploaded::upload_id`](super::Uploaded::upload_id)).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upload_id: Option<String>,
    /// When it was stored ([`Uploaded::uploaded_at`](super::Uploaded::uploaded_at)), for results
    /// whose processor does not copy the upload's id onto them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uploaded_at: Option<String>,
}

impl Engine {
    /// Waits until the result for `name` exists (polling with a growing interval, up to the
    /// waiting limit), then downloads it into `dir`. Only the download holds a place in the
    /// engine's queue: the wait takes none, so slow results never keep other transfers waiting.
    ///
    /// # Errors
    /// [`TransferError::WaitTimedOut`] when the result does not come in time,
    /// [`TransferError::ProcessingFailed`] as soon as the processor gives up on the upload, and
    /// the errors of [`Self::download`].
    pub async fn wait_and_download(
        &self,
        name: &str,
        of: &ResultOf,
        dir: &Path,
        cancel: &CancellationToken,
        events: &dyn EventSink,
    ) -> Result<Downloaded, TransferError> {
        let answer = self.wait_for_result(name, of, cancel, events).await?;
        self.download_answer(name, of, answer, dir, cancel, events)
            .await
    }

    /// Polls for the result of `name` that answers `of` until it exists, answering its download
    /// URL. A result of another upload of the same name is not ready, however new. Takes no
    /// place in the engine's queue.
    ///
    /// # Errors
    /// [`TransferError::WaitTimedOut`] after the waiting limit;
    /// [`TransferError::ProcessingFailed`] at once when the processor marked the upload as
    /// failed; other errors as they come.
    pub async fn wait_for_result(
        &self,
        name: &str,
        of: &ResultOf,
        cancel: &CancellationToken,
        events: &dyn EventSink,
    ) -> Result<PresignResponse, TransferError> {
        let started = self.clock.now();
        let mut interval = self.options.wait_initial;
        loop {
            match self.presign_download(name, of, cancel, events).await {
                Err(TransferError::NotReady) => {}
                other => return other,
            }
            let waited = self.clock.now().duration_since(started);
            if waited + interval > self.options.wait_limit {
                return Err(TransferError::WaitTimedOut(self.options.wait_limit));
            }
            events.send(TransferEvent::WaitingForResult { delay: interval });
            sleep_or_cancel(interval, cancel).await?;
            interval = interval.mul_f64(1.5).min(self.options.wait_max_interval);
        }
    }

    /// Asks for a download URL of the result answering `of`, retrying transient failures.
    ///
    /// # Errors
    /// [`TransferError::NotReady`] when there is no such result yet,
    /// [`TransferError::ProcessingFailed`] when the processor gave up on the upload, and the
    /// errors of [`crate::ApiClient::presign_cancellable`] that are not retried or outlast the
    /// retries.
    pub(super) async fn presign_download(
        &self,
        name: &str,
        of: &ResultOf,
        cancel: &CancellationToken,
        events: &dyn EventSink,
    ) -> Result<PresignResponse, TransferError> {
        let request = PresignRequest {
            file: name.to_owned(),
            mode: TransferMode::Download,
            upload_id: of.upload_id.clone(),
            uploaded_at: of.upload_id.as_ref().and(of.uploaded_at.clone()),
            ..PresignRequest::default()
        };
        let mut attempts = self.attempts(cancel, events);
        loop {
            if let Some(answer) = attempts
                .attempt(self.presign_result(&request, cancel))
                .await?
            {
                return Ok(answer);
            }
        }
    }

    /// One request for a result's download URL; a processing failure is its own error.
    async fn presign_result(
        &self,
        request: &PresignRequest,
        cancel: &CancellationToken,
    ) -> Result<PresignResponse, TransferError> {
        let answer = self.api.presign_cancellable(request, cancel).await;
        answer.map_err(|error| match error {
            TransferError::Refused {
                code: ErrorCode::ProcessingFailed,
                message,
            } => TransferError::ProcessingFailed(message),
            other => other,
        })
    }
}
