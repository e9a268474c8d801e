//! The one error shape the page receives: `{ kind, message }`, plus `detail` when there is
//! something the page must show as it came (the processor's reason for `processing_failed`). The
//! page words it from `kind` in the user's language; `message` is the English text, plain and free
//! of URLs and tokens.

use ddn_transfer::{ErrorKind, TransferError};
use serde::{Deserialize, Serialize};

/// A failed command or transfer, as the page sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{message}")]
pub struct CommandError {
    /// A stable name for the kind of failure: the engine's kinds (`connection`, `unauthorized`,
    /// ...) and the app's own (`not_configured`, `invalid_settings`, `keyring`, `not_found`,
    /// `duplicate`, `io`).
    pub kind: String,
    /// What happened, in plain English.
    pub message: String,
    /// Words the page shows as they are, inside its own sentence: the processor's reason for a
    /// `processing_failed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl CommandError {
    /// An error of the app's own `kind`.
    pub fn new(kind: &str, message: impl Into<String>) -> Self {
        Self {
            kind: kind.to_owned(),
            message: message.into(),
            detail: None,
        }
    }

    /// Nothing to talk to yet: no service address or no token.
    pub fn not_configured() -> Self {
        Self::new(
            "not_configured",
            "Set the service address and access token in the settings first.",
        )
    }

    /// The transfer or row `id` is not in the list.
    pub fn not_found() -> Self {
        Self::new("not_found", "That file is no longer in the list.")
    }
}

impl From<TransferError> for CommandError {
    fn from(error: TransferError) -> Self {
        let detail = match &error {
            TransferError::ProcessingFailed(reason) => Some(reason.clone()),
            _ => None,
        };
        Self {
            kind: kind_name(error.kind()),
            message: error.to_string(),
            detail,
        }
    }
}

/// The engine's kind as the page spells it (`wait_timed_out`, ...).
pub fn kind_name(kind: ErrorKind) -> String {
    match serde_json::to_value(kind) {
        Ok(serde_json::Value::String(name)) => name,
        _ => "unknown".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_errors_keep_their_kind_and_plain_message() {
        let error = CommandError::from(TransferError::WaitTimedOut(
            std::time::Duration::from_secs(600),
        ));
        assert_eq!(error.kind, "wait_timed_out");
        assert_eq!(
            error.message,
            "The result did not arrive within 10 minutes."
        );
        assert_eq!(
            CommandError::from(TransferError::Unauthorized).kind,
            "unauthorized"
        );
    }

    #[test]
    fn a_processing_failure_carries_the_processors_reason_as_it_came() {
        let error = CommandError::from(TransferError::ProcessingFailed(
            "스캔이 비어 있습니다 (page 0)".into(),
        ));
        assert_eq!(error.kind, "processing_failed");
        assert_eq!(
            error.message,
            "The file could not be processed: 스캔이 비어 있습니다 (page 0)"
        );
        assert_eq!(
            error.detail.as_deref(),
            Some("스캔이 비어 있습니다 (page 0)")
        );
        let json = serde_json::to_value(&error).expect("serializes");
        assert_eq!(json["detail"], "스캔이 비어 있습니다 (page 0)");
        // Saved lists from before `detail` existed still load.
        let old: CommandError =
            serde_json::from_str(r#"{"kind":"io","message":"x"}"#).expect("old shape");
        assert_eq!(old.detail, None);
    }

    #[test]
    fn serializes_as_kind_and_message_only() {
        let json = serde_json::to_value(CommandError::not_found()).expect("serializes");
        assert_eq!(
            json,
            serde_json::json!({ "kind": "not_found", "message": "That file is no longer in the list." })
        );
    }
}
