//! Small answer bodies (S3 error documents, the presign service's JSON) read with a size cap, under
//! the same stall rule and cancellation as a transfer.
//!
//! Invariant: no body is read past its cap, and no read waits longer than the stall timeout for a
//! byte, so a server that sends a huge body, or stops sending one, can neither fill memory nor
//! hold a transfer forever. Dropping the response after the cap closes its connection (it cannot
//! be reused with unread bytes in it), which is what stops the server.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::error::TransferError;

/// How much of an S3 error document is read: the `<Code>` S3 puts near its start fits many times
/// over (S3's own error documents are a few hundred bytes).
pub(crate) const STORAGE_ERROR_BODY_BYTES: usize = 4 * 1024;

/// A body read up to its cap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CappedBody {
    /// The bytes read: the whole body, or its first `cap` bytes.
    pub bytes: Vec<u8>,
    /// Whether the body went on past the cap (and was not read further).
    pub truncated: bool,
}

/// Reads `response`'s body chunk by chunk, at most `cap` bytes of it.
///
/// # Errors
/// [`TransferError::Stalled`] when no byte arrives for `stall_timeout`,
/// [`TransferError::Cancelled`] when `cancel` fires, and the connection errors.
pub(crate) async fn read_capped(
    mut response: reqwest::Response,
    cap: usize,
    stall_timeout: Duration,
    cancel: &CancellationToken,
) -> Result<CappedBody, TransferError> {
    let mut bytes = Vec::new();
    loop {
        let next = tokio::select! {
            biased;
            () = cancel.cancelled() => return Err(TransferError::Cancelled),
            next = tokio::time::timeout(stall_timeout, response.chunk()) => next,
        };
        let chunk = match next {
            Err(_elapsed) => return Err(TransferError::Stalled(stall_timeout)),
            Ok(Err(error)) => return Err(TransferError::from_http(&error)),
            Ok(Ok(None)) => {
                return Ok(CappedBody {
                    bytes,
                    truncated: false,
                });
            }
            Ok(Ok(Some(chunk))) => chunk,
        };
        let room = cap - bytes.len();
        if chunk.len() > room {
            bytes.extend_from_slice(&chunk[..room]);
            return Ok(CappedBody {
                bytes,
                truncated: true,
            });
        }
        bytes.extend_from_slice(&chunk);
    }
}

/// S3's refusal as a [`TransferError::Storage`], with the error code from the first
/// [`STORAGE_ERROR_BODY_BYTES`] of its XML answer (`<Code>SlowDown</Code>`). A longer body is not
/// an error: its start is used. A body cut by the network gives no code, as does a body with none.
///
/// # Errors
/// Answers [`TransferError::Stalled`] instead when the body stops for `stall_timeout`, and
/// [`TransferError::Cancelled`] when `cancel` fires while it is read.
pub(crate) async fn storage_error(
    status: u16,
    response: reqwest::Response,
    stall_timeout: Duration,
    cancel: &CancellationToken,
) -> TransferError {
    let body = match read_capped(response, STORAGE_ERROR_BODY_BYTES, stall_timeout, cancel).await {
        Ok(body) => body.bytes,
        Err(error @ (TransferError::Stalled(_) | TransferError::Cancelled)) => return error,
        // The status alone still says what happened; a code is a detail.
        Err(_) => Vec::new(),
    };
    TransferError::Storage {
        status,
        code: storage_error_code(&String::from_utf8_lossy(&body)),
    }
}

/// The `<Code>` of an S3 error document, when it has a plausible one.
fn storage_error_code(body: &str) -> Option<String> {
    body.split_once("<Code>")
        .and_then(|(_, rest)| rest.split_once("</Code>"))
        .map(|(code, _)| code.trim().to_owned())
        .filter(|code| !code.is_empty() && code.len() < 64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_codes_come_from_the_code_element() {
        let cases = [
            (
                "<?xml version=\"1.0\"?><Error><Code>SlowDown</Code><Message>x</Message></Error>",
                Some("SlowDown"),
            ),
            (
                "<Error><Code> AccessDenied </Code></Error>",
                Some("AccessDenied"),
            ),
            ("<Error><Code></Code></Error>", None),
            ("<Error><Code>NoEnd", None),
            ("not xml at all", None),
            ("", None),
        ];
        for (body, expected) in cases {
            assert_eq!(storage_error_code(body).as_deref(), expected, "{body:?}");
        }
        let long = format!("<Code>{}</Code>", "A".repeat(64));
        assert_eq!(storage_error_code(&long), None);
    }
}
