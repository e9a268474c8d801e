//! What the page is told about the list: one [`UiEvent`] per change, in the order the changes
//! happen, through a [`Sink`] (in the app, [`super::batching`] gathers them into the page's
//! channel). The shapes are those `ui/src/transfers.js` applies; the scenarios in
//! `ui/tests/fixtures/row-events/` hold what the job loop sends, and the page's tests replay them.

use std::path::PathBuf;
use std::sync::Arc;

use serde::Serialize;

use super::record::{Ending, Record, Status};
use crate::error::{CommandError, ErrorKind};

/// What the page is told, one event per change (sent in batches, see [`super::batching`]).
/// Shapes match `ui/src/transfers.js`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(
    tag = "type",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum UiEvent {
    /// A row to show.
    Added {
        /// Row id.
        id: String,
        /// Shown name.
        name: String,
        /// Bytes.
        size: u64,
        /// Current status.
        status: Status,
        /// Why it failed, if it did.
        error: Option<CommandError>,
        /// The saved result, if ready.
        result_path: Option<PathBuf>,
    },
    /// A row left the list.
    Removed {
        /// Row id.
        id: String,
    },
    /// The upload started.
    Uploading {
        /// Row id.
        id: String,
        /// Bytes to send.
        total: u64,
    },
    /// The upload finished; waiting for the result.
    Processing {
        /// Row id.
        id: String,
    },
    /// The result's download started.
    Downloading {
        /// Row id.
        id: String,
        /// Bytes to fetch.
        total: u64,
    },
    /// Bytes moved in the current phase (cumulative).
    Progress {
        /// Row id.
        id: String,
        /// Bytes so far.
        transferred: u64,
        /// Bytes in all.
        total: u64,
        /// Recent speed.
        bytes_per_second: f64,
        /// Estimated seconds left.
        eta_seconds: Option<f64>,
    },
    /// An attempt failed and will be retried after a pause.
    Retrying {
        /// Row id.
        id: String,
        /// The failure's kind, for the page's wording.
        kind: ErrorKind,
        /// The failure in English.
        reason: String,
        /// Seconds until the next attempt.
        delay_seconds: f64,
    },
    /// The result is saved.
    Ready {
        /// Row id.
        id: String,
        /// Where.
        result_path: PathBuf,
    },
    /// The row stopped with an error.
    Failed {
        /// Row id.
        id: String,
        /// Why.
        error: CommandError,
    },
    /// The user stopped the row.
    Cancelled {
        /// Row id.
        id: String,
    },
    /// The row was put back in the queue.
    Retried {
        /// Row id.
        id: String,
    },
    /// The user paused the row; what the engine sent or received is kept.
    Paused {
        /// Row id.
        id: String,
    },
    /// The user resumed a paused row: it waits for its turn (or, uploaded, for its result) again.
    Unpaused {
        /// Row id.
        id: String,
    },
    /// The transfer goes on from an earlier attempt (after a pause, a restart or a crash):
    /// `already_sent` of `total` bytes need not move again. Progress starts from there.
    Resumed {
        /// Row id.
        id: String,
        /// Bytes kept from before (parts S3 holds, ranges on disk).
        already_sent: u64,
        /// Bytes in all.
        total: u64,
    },
    /// What was kept from an earlier attempt could not be used, and the transfer starts again
    /// from its first byte.
    StartedOver {
        /// Row id.
        id: String,
        /// Why, for the page's wording.
        reason: StartOverReason,
    },
}

/// Why a transfer started over instead of going on, as the page words it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum StartOverReason {
    /// The file changed since the earlier attempt (its size or modification time).
    FileChanged,
    /// S3 no longer holds what the earlier attempt left (the bucket's rule for abandoned
    /// uploads removed it).
    Expired,
    /// The engine's record of the earlier attempt was damaged, so nothing of it was trusted.
    RecordDamaged,
}

impl From<ddn_transfer::StartOverReason> for StartOverReason {
    fn from(reason: ddn_transfer::StartOverReason) -> Self {
        // Exhaustive, so a new reason of the engine does not compile until the page can word it.
        match reason {
            ddn_transfer::StartOverReason::FileChanged => Self::FileChanged,
            ddn_transfer::StartOverReason::Expired => Self::Expired,
            ddn_transfer::StartOverReason::RecordDamaged => Self::RecordDamaged,
        }
    }
}

impl UiEvent {
    /// The row `record` as the page first sees it.
    pub fn added(record: &Record) -> Self {
        Self::Added {
            id: record.id.clone(),
            name: record.name.clone(),
            size: record.size,
            status: record.status,
            error: record.error.clone(),
            result_path: record.result_path.clone(),
        }
    }

    /// The page's news that row `id` ended so.
    pub fn ended(id: &str, ending: &Ending) -> Self {
        let id = id.to_owned();
        match ending {
            Ending::Ready(path) => Self::Ready {
                id,
                result_path: path.clone(),
            },
            Ending::Failed(error) => Self::Failed {
                id,
                error: error.clone(),
            },
            Ending::Cancelled => Self::Cancelled { id },
        }
    }
}

/// Where the page's events go (its IPC channel in the app).
pub type Sink = Arc<dyn Fn(&UiEvent) + Send + Sync>;
