//! The one error shape the page receives: `{ kind, message }`, plus `detail` when there is
//! something the page must show as it came (the processor's reason for `processing_failed`). The
//! page words it from `kind` in the user's language; `message` is the English text, plain and free
//! of URLs and tokens.
//!
//! Every [`ErrorKind`] has its words in `ui/src/i18n.js`: the list of kinds is kept in
//! `ui/tests/fixtures/error-kinds.json`, which a test here compares with the enum and the page's
//! tests check against its messages.

use ddn_transfer::TransferError;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Declares [`ErrorKind`] from one table of variants and the names the page knows them by, so
/// the enum, its names and [`ErrorKind::ALL`] cannot disagree.
macro_rules! error_kinds {
    ($($(#[doc = $doc:literal])+ $variant:ident => $name:literal,)+) => {
        /// A stable name for the kind of a failure, spelled on the wire as the page knows it
        /// (`wait_timed_out`, ...): the engine's kinds and the app's own.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ErrorKind {
            $($(#[doc = $doc])+ $variant,)+
        }

        impl ErrorKind {
            /// Every kind, in the order declared.
            pub const ALL: &[Self] = &[$(Self::$variant,)+];

            /// The kind as the page spells it.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $name,)+
                }
            }
        }
    };
}

error_kinds! {
    /// The connection failed or dropped.
    Connection => "connection",
    /// The server took too long to answer.
    Timeout => "timeout",
    /// A transfer stopped moving.
    Stalled => "stalled",
    /// The token was refused.
    Unauthorized => "unauthorized",
    /// The service refused the request; its message is the service's reason.
    Refused => "refused",
    /// The result is not there yet.
    NotReady => "not_ready",
    /// The processor gave up on the upload; its reason is in `detail`.
    ProcessingFailed => "processing_failed",
    /// The result did not come within the waiting limit.
    WaitTimedOut => "wait_timed_out",
    /// The service answered with an error.
    Service => "service",
    /// S3 refused a transfer.
    Storage => "storage",
    /// Downloaded data did not check out.
    Integrity => "integrity",
    /// A local file could not be read or written.
    Io => "io",
    /// The file is larger than one upload takes.
    TooLarge => "too_large",
    /// The user cancelled.
    Cancelled => "cancelled",
    /// No service address or no token yet.
    NotConfigured => "not_configured",
    /// A setting is unusable; the message says which and why.
    InvalidSettings => "invalid_settings",
    /// The system's keyring refused the token.
    Keyring => "keyring",
    /// The row or result asked for is not there.
    NotFound => "not_found",
    /// Another row is sending the same name.
    Duplicate => "duplicate",
    /// The row is still moving.
    Busy => "busy",
    /// The app lost a task it had started.
    Internal => "internal",
    /// An update's signature did not verify.
    UpdateUnverified => "update_unverified",
    /// The update server could not be used.
    UpdateUnreachable => "update_unreachable",
    /// An update could not be put in place.
    UpdateFailed => "update_failed",
    /// A restart was asked for while transfers move.
    TransfersMoving => "transfers_moving",
    /// A kind this version does not know (read from a list saved by a newer one).
    Unknown => "unknown",
}

impl ErrorKind {
    /// The kind named `name`; [`Self::Unknown`] for a name this version does not know.
    pub fn from_name(name: &str) -> Self {
        Self::ALL
            .iter()
            .copied()
            .find(|kind| kind.as_str() == name)
            .unwrap_or(Self::Unknown)
    }
}

impl From<ddn_transfer::ErrorKind> for ErrorKind {
    fn from(kind: ddn_transfer::ErrorKind) -> Self {
        use ddn_transfer::ErrorKind as Engine;
        match kind {
            Engine::Connection => Self::Connection,
            Engine::Timeout => Self::Timeout,
            Engine::Stalled => Self::Stalled,
            Engine::Unauthorized => Self::Unauthorized,
            Engine::Refused => Self::Refused,
            Engine::NotReady => Self::NotReady,
            Engine::ProcessingFailed => Self::ProcessingFailed,
            Engine::WaitTimedOut => Self::WaitTimedOut,
            Engine::Service => Self::Service,
            Engine::Storage => Self::Storage,
            Engine::Integrity => Self::Integrity,
            Engine::Io => Self::Io,
            Engine::TooLarge => Self::TooLarge,
            Engine::Cancelled => Self::Cancelled,
        }
    }
}

impl std::fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A kind equals its name.
impl PartialEq<&str> for ErrorKind {
    fn eq(&self, name: &&str) -> bool {
        self.as_str() == *name
    }
}

impl Serialize for ErrorKind {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ErrorKind {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // Owned, so kinds read from a `Value` or an escaped string are found too.
        Ok(Self::from_name(&String::deserialize(deserializer)?))
    }
}

/// A failed command or transfer, as the page sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{message}")]
pub struct CommandError {
    /// What kind of failure it is: the page's words are chosen by it.
    pub kind: ErrorKind,
    /// What happened, in plain English.
    pub message: String,
    /// Words the page shows as they are, inside its own sentence: the processor's reason for a
    /// `processing_failed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl CommandError {
    /// An error of the app's own `kind`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            detail: None,
        }
    }

    /// Nothing to talk to yet: no service address or no token.
    pub fn not_configured() -> Self {
        Self::new(
            ErrorKind::NotConfigured,
            "Set the service address and access token in the settings first.",
        )
    }

    /// The transfer or row `id` is not in the list.
    pub fn not_found() -> Self {
        Self::new(ErrorKind::NotFound, "That file is no longer in the list.")
    }
}

impl From<TransferError> for CommandError {
    fn from(error: TransferError) -> Self {
        let detail = match &error {
            TransferError::ProcessingFailed(reason) => Some(reason.clone()),
            _ => None,
        };
        Self {
            kind: error.kind().into(),
            message: error.to_string(),
            detail,
        }
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
        assert_eq!(error.kind, ErrorKind::WaitTimedOut);
        assert_eq!(
            error.message,
            "The result did not arrive within 10 minutes."
        );
        assert_eq!(
            CommandError::from(TransferError::Unauthorized).kind,
            ErrorKind::Unauthorized
        );
    }

    #[test]
    fn engine_kinds_keep_the_names_the_engine_gives_them() {
        use ddn_transfer::ErrorKind as Engine;
        for engine in [
            Engine::Connection,
            Engine::Timeout,
            Engine::Stalled,
            Engine::Unauthorized,
            Engine::Refused,
            Engine::NotReady,
            Engine::ProcessingFailed,
            Engine::WaitTimedOut,
            Engine::Service,
            Engine::Storage,
            Engine::Integrity,
            Engine::Io,
            Engine::TooLarge,
            Engine::Cancelled,
        ] {
            let named_by_engine = serde_json::to_value(engine).expect("serializes");
            assert_eq!(
                named_by_engine,
                ErrorKind::from(engine).as_str(),
                "{engine:?}"
            );
        }
    }

    #[test]
    fn kinds_go_on_the_wire_by_name_and_come_back() {
        for &kind in ErrorKind::ALL {
            let json = serde_json::to_value(kind).expect("serializes");
            assert_eq!(json, kind.as_str());
            assert_eq!(
                serde_json::from_value::<ErrorKind>(json).expect("reads"),
                kind
            );
        }
        // A kind from a newer version reads as unknown rather than losing the saved list.
        let newer: CommandError =
            serde_json::from_str(r#"{"kind":"from_the_future","message":"x"}"#).expect("reads");
        assert_eq!(newer.kind, ErrorKind::Unknown);
        // A kind equals its name.
        assert_eq!(ErrorKind::WaitTimedOut, "wait_timed_out");
        assert_ne!(ErrorKind::NotFound, "not found");
    }

    #[test]
    fn the_pages_list_of_kinds_is_the_enums() {
        let names: Vec<&str> = ErrorKind::ALL.iter().map(|kind| kind.as_str()).collect();
        crate::fixtures::check("error-kinds.json", &names);
    }

    #[test]
    fn a_processing_failure_carries_the_processors_reason_as_it_came() {
        let error = CommandError::from(TransferError::ProcessingFailed(
            "스캔이 비어 있습니다 (page 0)".into(),
        ));
        assert_eq!(error.kind, ErrorKind::ProcessingFailed);
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
        assert_eq!(old.kind, ErrorKind::Io);
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
