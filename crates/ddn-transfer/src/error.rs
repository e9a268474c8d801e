//! Every way a transfer can fail, each with a message a person can act on.
//!
//! Invariant: no variant carries a URL, a query string or a token. Errors from `reqwest` are
//! classified, never displayed, because their text includes the request URL (a presigned URL is a
//! password until it expires).

use std::path::PathBuf;
use std::time::Duration;

use ddn_api::ErrorCode;
use serde::Serialize;
use thiserror::Error;

/// A failed transfer.
#[derive(Debug, Error)]
pub enum TransferError {
    /// The network connection could not be made or dropped.
    #[error("The connection failed. Check the network and try again.")]
    Connection,
    /// A request got no answer in time.
    #[error("The server took too long to answer.")]
    Timeout,
    /// No bytes moved for too long in the middle of a transfer.
    #[error("The transfer stalled: no data moved for {} s.", .0.as_secs())]
    Stalled(Duration),
    /// The presign service refused the token.
    #[error("The access token was not accepted.")]
    Unauthorized,
    /// The presign service refused the request for a reason of its own (bad name, too large, ...).
    #[error("{message}")]
    Refused {
        /// The service's error code.
        code: ErrorCode,
        /// The service's plain-language message.
        message: String,
    },
    /// The processed result does not exist yet.
    #[error("The result is not ready yet.")]
    NotReady,
    /// The processor gave up on this upload; the text is its reason (control characters
    /// removed by the service). Uploading the file again is the way forward.
    #[error("The file could not be processed: {0}")]
    ProcessingFailed(String),
    /// The result did not appear within the waiting limit.
    #[error("The result did not arrive within {} minutes.", .0.as_secs().div_ceil(60))]
    WaitTimedOut(Duration),
    /// The presign service failed (5xx or an unreadable answer).
    #[error("The service had a problem (HTTP {0}). Try again later.")]
    Service(u16),
    /// S3 refused or failed the transfer.
    #[error("The storage service refused the transfer (HTTP {status}{}).", code.as_deref().map(|c| format!(", {c}")).unwrap_or_default())]
    Storage {
        /// HTTP status from S3.
        status: u16,
        /// S3's error code (`SlowDown`, `AccessDenied`, ...), when it sent one.
        code: Option<String>,
    },
    /// What arrived is not what was stored (length or checksum differs).
    #[error("The downloaded data is damaged ({0}); it was not saved.")]
    Integrity(String),
    /// S3 acknowledged other bytes than were sent (a part's ETag is not the MD5 of the part), so
    /// that part was not taken as uploaded.
    #[error("The storage service received damaged data ({0}).")]
    UploadDamaged(String),
    /// A file could not be read or written.
    #[error("Could not {action} {}: {source}", path.display())]
    Io {
        /// What was being done: "read", "write", ...
        action: &'static str,
        /// The file concerned.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The file is larger than one upload can take.
    #[error("The file is too large to upload: S3 stores objects of at most 48.8 TiB.")]
    TooLarge,
    /// The transfer was cancelled.
    #[error("Cancelled.")]
    Cancelled,
}

/// A stable, serializable classification of [`TransferError`], for programs (the UI, `--json`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// [`TransferError::Connection`].
    Connection,
    /// [`TransferError::Timeout`].
    Timeout,
    /// [`TransferError::Stalled`].
    Stalled,
    /// [`TransferError::Unauthorized`].
    Unauthorized,
    /// [`TransferError::Refused`].
    Refused,
    /// [`TransferError::NotReady`].
    NotReady,
    /// [`TransferError::ProcessingFailed`].
    ProcessingFailed,
    /// [`TransferError::WaitTimedOut`].
    WaitTimedOut,
    /// [`TransferError::Service`].
    Service,
    /// [`TransferError::Storage`].
    Storage,
    /// [`TransferError::Integrity`] and [`TransferError::UploadDamaged`].
    Integrity,
    /// [`TransferError::Io`].
    Io,
    /// [`TransferError::TooLarge`].
    TooLarge,
    /// [`TransferError::Cancelled`].
    Cancelled,
}

impl TransferError {
    /// The error's kind, for programs to branch on.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Connection => ErrorKind::Connection,
            Self::Timeout => ErrorKind::Timeout,
            Self::Stalled(_) => ErrorKind::Stalled,
            Self::Unauthorized => ErrorKind::Unauthorized,
            Self::Refused { .. } => ErrorKind::Refused,
            Self::NotReady => ErrorKind::NotReady,
            Self::ProcessingFailed(_) => ErrorKind::ProcessingFailed,
            Self::WaitTimedOut(_) => ErrorKind::WaitTimedOut,
            Self::Service(_) => ErrorKind::Service,
            Self::Storage { .. } => ErrorKind::Storage,
            Self::Integrity(_) | Self::UploadDamaged(_) => ErrorKind::Integrity,
            Self::Io { .. } => ErrorKind::Io,
            Self::TooLarge => ErrorKind::TooLarge,
            Self::Cancelled => ErrorKind::Cancelled,
        }
    }

    /// Whether trying the same transfer again, unchanged, may succeed: dropped connections,
    /// timeouts, stalls, server errors, throttling and damaged downloads.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Connection
            | Self::Timeout
            | Self::Stalled(_)
            | Self::Integrity(_)
            | Self::UploadDamaged(_) => true,
            Self::Service(status) => *status >= 500 || *status == 429,
            Self::Storage { status, code } => {
                *status >= 500
                    || *status == 429
                    || matches!(
                        code.as_deref(),
                        Some("SlowDown" | "RequestTimeout" | "InternalError")
                    )
            }
            _ => false,
        }
    }

    /// Whether S3 refused the URL because it has expired, so a fresh one should be asked for.
    pub fn is_expired_url(&self) -> bool {
        matches!(
            self,
            Self::Storage { status: 403, code } if matches!(code.as_deref(), None | Some("AccessDenied" | "ExpiredToken" | "TokenRefreshRequired"))
        )
    }

    /// Classifies a `reqwest` error without keeping its text (which contains the URL).
    pub(crate) fn from_http(error: &reqwest::Error) -> Self {
        if error.is_timeout() {
            Self::Timeout
        } else {
            Self::Connection
        }
    }

    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        Self::Io {
            action,
            path: path.into(),
            source,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn storage(status: u16, code: Option<&str>) -> TransferError {
        TransferError::Storage {
            status,
            code: code.map(str::to_owned),
        }
    }

    #[test]
    fn retryable_failures_are_the_transient_ones() {
        let retryable = [
            TransferError::Connection,
            TransferError::Timeout,
            TransferError::Stalled(Duration::from_secs(30)),
            TransferError::Service(502),
            TransferError::Service(429),
            storage(503, Some("SlowDown")),
            storage(500, None),
            storage(400, Some("RequestTimeout")),
            TransferError::Integrity("length".into()),
            TransferError::UploadDamaged("part 3's ETag".into()),
        ];
        for error in retryable {
            assert!(error.is_retryable(), "{error:?}");
        }
        let final_ = [
            TransferError::Unauthorized,
            TransferError::Service(400),
            storage(403, Some("AccessDenied")),
            storage(400, Some("BadDigest")),
            TransferError::TooLarge,
            TransferError::Cancelled,
            TransferError::NotReady,
            TransferError::ProcessingFailed("unsupported format".into()),
        ];
        for error in final_ {
            assert!(!error.is_retryable(), "{error:?}");
        }
    }

    #[test]
    fn expired_urls_are_recognised() {
        assert!(storage(403, Some("AccessDenied")).is_expired_url());
        assert!(storage(403, None).is_expired_url());
        assert!(!storage(403, Some("SignatureDoesNotMatch")).is_expired_url());
        assert!(!storage(404, Some("NoSuchKey")).is_expired_url());
    }

    #[test]
    fn messages_are_plain_language() {
        assert_eq!(
            storage(503, Some("SlowDown")).to_string(),
            "The storage service refused the transfer (HTTP 503, SlowDown)."
        );
        assert_eq!(
            TransferError::WaitTimedOut(Duration::from_secs(90)).to_string(),
            "The result did not arrive within 2 minutes."
        );
    }
}
