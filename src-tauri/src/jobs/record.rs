//! The list's rows as they are saved in `transfers.json`: each row's [`Status`] and what it
//! remembers to pick up after a restart ([`Record`]), how a row's job can end ([`Ending`]), and
//! what the engine may still hold of a row that stops for good ([`Leftover`]).

use std::path::PathBuf;

use ddn_transfer::ResultOf;
use serde::{Deserialize, Serialize};

use crate::error::{CommandError, ErrorKind};

/// A row's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Queued.
    Waiting,
    /// Being sent.
    Uploading,
    /// Sent; the service is working on it and the app waits for the result.
    Processing,
    /// The result is being fetched.
    Downloading,
    /// The result is in the results folder.
    Ready,
    /// Stopped with an error; can be retried.
    Failed,
    /// Stopped by the user; can be retried.
    Cancelled,
    /// Stopped by the user for now: what the engine has sent or received is kept (a multipart
    /// upload's finished parts, a download's finished ranges) and Resume goes on from there. Stays
    /// paused across a restart; the job loop never starts it by itself.
    Paused,
}

impl Status {
    /// Whether work is still going on. A paused row is not: nothing moves until the user resumes
    /// it, so it keeps neither the batch's notice nor an update waiting.
    pub fn is_active(self) -> bool {
        matches!(
            self,
            Self::Waiting | Self::Uploading | Self::Processing | Self::Downloading
        )
    }

    /// Whether the row has not ended: it moves, or is paused and will go on. Such a row holds
    /// its name (a second row of that name would share its result) and can be cancelled.
    pub fn is_unfinished(self) -> bool {
        self.is_active() || self == Self::Paused
    }

    /// Whether the user can pause a row in this status: one that waits for its turn or moves
    /// bytes. A row whose file the service is processing has nothing of its own to pause.
    pub fn can_pause(self) -> bool {
        matches!(self, Self::Waiting | Self::Uploading | Self::Downloading)
    }

    /// Where a row saved in this status starts again after a restart: an upload back in the queue
    /// (Waiting; the engine goes on from what it kept of it), an uploaded file back to waiting for
    /// its result (Processing); a paused row stays paused and a finished row as it was.
    pub fn after_restart(self, uploaded: bool) -> Self {
        match self {
            Self::Waiting | Self::Uploading if !uploaded => Self::Waiting,
            Self::Waiting | Self::Uploading | Self::Processing | Self::Downloading => {
                Self::Processing
            }
            Self::Paused => Self::Paused,
            done => done,
        }
    }
}

/// One row of the list, as saved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Record {
    /// Stable across restarts.
    pub id: String,
    /// The name the file is sent under (and its result fetched by).
    pub name: String,
    /// The file to send; `None` for a result fetched from the results view. Kept exactly, even
    /// when its name is not valid Unicode (see [`saved_path`]).
    #[serde(default, with = "saved_path")]
    pub source: Option<PathBuf>,
    /// The file's size in bytes (the result's, for a fetched result).
    pub size: u64,
    /// Where it stands.
    pub status: Status,
    /// Whether the upload finished, so a retry only waits for the result again.
    pub uploaded: bool,
    /// Which upload the result must answer: set when the upload finishes, and passed to every
    /// wait and download, also after a restart. The default (lists saved before it existed, and
    /// results fetched from the results view) accepts whatever result is stored.
    #[serde(default)]
    pub result_of: ResultOf,
    /// Where the result was saved.
    #[serde(default, with = "saved_path")]
    pub result_path: Option<PathBuf>,
    /// Why it failed.
    pub error: Option<CommandError>,
}

impl Record {
    /// Puts a failed or cancelled row back to where its job starts again: a file already
    /// uploaded only waits for its result, unless its processing failed: then there is no result
    /// to wait for, and the file (when there is one) is uploaded again.
    pub fn retry(&mut self) {
        let processing_failed = self
            .error
            .as_ref()
            .is_some_and(|error| error.kind == ErrorKind::ProcessingFailed);
        if processing_failed && self.source.is_some() {
            self.uploaded = false;
            self.result_of = ResultOf::default();
        }
        self.error = None;
        self.status = self.queued_status();
    }

    /// Puts a paused row back in the queue where it stopped: a file not yet uploaded waits for
    /// its turn to upload (the engine goes on with what it kept), an uploaded one for its
    /// result and then its download.
    pub fn resume(&mut self) {
        self.status = self.queued_status();
    }

    /// The status a row that starts its job again has.
    fn queued_status(&self) -> Status {
        if self.uploaded {
            Status::Processing
        } else {
            Status::Waiting
        }
    }

    /// What the engine may still hold of this row's transfers once it stops for good (cancelled
    /// or removed): the journal and open multipart upload of an upload that had not finished, or
    /// the journal and part file of a result's download. A ready row holds nothing.
    pub fn leftover(&self) -> Leftover {
        match (&self.source, self.uploaded, self.status) {
            (_, _, Status::Ready) => Leftover::Nothing,
            (Some(source), false, _) => Leftover::Upload {
                source: source.clone(),
                name: self.name.clone(),
            },
            (_, true, _) => Leftover::Download {
                name: self.name.clone(),
            },
            (None, false, _) => Leftover::Nothing,
        }
    }

    /// Records how the row's job ended.
    pub fn end(&mut self, ending: &Ending) {
        match ending {
            Ending::Ready(path) => {
                self.status = Status::Ready;
                self.result_path = Some(path.clone());
            }
            Ending::Failed(error) => {
                self.status = Status::Failed;
                self.error = Some(error.clone());
            }
            Ending::Cancelled => self.status = Status::Cancelled,
        }
    }
}

/// What the engine may still keep of a row's transfer so that it can go on later, which a row
/// stopped for good gives up (see [`Record::leftover`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Leftover {
    /// Nothing to give up.
    Nothing,
    /// An upload of `source` under `name` that had not finished: its journal, and the multipart
    /// upload it keeps open on S3.
    Upload {
        /// The file being sent.
        source: PathBuf,
        /// The name it is sent under.
        name: String,
    },
    /// The download of the result `name`: its journal and part file.
    Download {
        /// The result's name.
        name: String,
    },
}

/// How a row's job ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    /// The result is saved there.
    Ready(PathBuf),
    /// It stopped with this error.
    Failed(CommandError),
    /// It was cancelled.
    Cancelled,
}

impl Ending {
    /// How a job that answered `outcome` ended: a cancellation is not a failure.
    pub fn of(outcome: Result<PathBuf, CommandError>) -> Self {
        match outcome {
            Ok(path) => Self::Ready(path),
            Err(error) if error.kind == ErrorKind::Cancelled => Self::Cancelled,
            Err(error) => Self::Failed(error),
        }
    }
}

/// Paths in the saved list, kept exactly: as text when they are valid Unicode (as in every list
/// saved before), else as `{ "bytes": [...] }` (Unix) or `{ "wide": [...] }` (Windows' UTF-16
/// units), so one file name that is not Unicode can neither make the list unsavable nor be
/// changed on its way through the file.
mod saved_path {
    use std::path::{Path, PathBuf};

    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Serialize, Deserialize)]
    #[serde(untagged)]
    enum SavedPath {
        Text(String),
        Bytes { bytes: Vec<u8> },
        Wide { wide: Vec<u16> },
    }

    pub fn serialize<S: Serializer>(
        path: &Option<PathBuf>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        path.as_deref().map(to_saved).serialize(serializer)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<PathBuf>, D::Error> {
        Ok(Option::<SavedPath>::deserialize(deserializer)?.map(from_saved))
    }

    fn to_saved(path: &Path) -> SavedPath {
        if let Some(text) = path.to_str() {
            return SavedPath::Text(text.to_owned());
        }
        #[cfg(unix)]
        {
            use std::os::unix::ffi::OsStrExt as _;
            SavedPath::Bytes {
                bytes: path.as_os_str().as_bytes().to_vec(),
            }
        }
        #[cfg(windows)]
        {
            use std::os::windows::ffi::OsStrExt as _;
            SavedPath::Wide {
                wide: path.as_os_str().encode_wide().collect(),
            }
        }
        #[cfg(not(any(unix, windows)))]
        {
            SavedPath::Text(path.to_string_lossy().into_owned())
        }
    }

    fn from_saved(saved: SavedPath) -> PathBuf {
        match saved {
            SavedPath::Text(text) => PathBuf::from(text),
            #[cfg(unix)]
            SavedPath::Bytes { bytes } => {
                use std::os::unix::ffi::OsStringExt as _;
                PathBuf::from(std::ffi::OsString::from_vec(bytes))
            }
            #[cfg(windows)]
            SavedPath::Wide { wide } => {
                use std::os::windows::ffi::OsStringExt as _;
                PathBuf::from(std::ffi::OsString::from_wide(&wide))
            }
            // A list carried to another kind of system: the nearest readable name.
            #[cfg(not(unix))]
            SavedPath::Bytes { bytes } => {
                PathBuf::from(String::from_utf8_lossy(&bytes).into_owned())
            }
            #[cfg(not(windows))]
            SavedPath::Wide { wide } => PathBuf::from(String::from_utf16_lossy(&wide)),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use ddn_transfer::TransferError;

    use super::*;
    use crate::jobs::testing::record;

    #[test]
    fn lists_saved_before_the_upload_was_remembered_still_load() {
        let old = r#"[{"id":"t1","name":"a.txt","source":"/data/a.txt","size":3,
            "status":"processing","uploaded":true,"resultPath":null,
            "error":{"kind":"io","message":"x"}}]"#;
        let records: Vec<Record> = serde_json::from_str(old).expect("an old list");
        assert_eq!(records[0].result_of, ResultOf::default());
        assert_eq!(records[0].source.as_deref(), Some(Path::new("/data/a.txt")));
        // And what is saved now reads back the same.
        let mut now = record("b", Status::Processing, true);
        now.result_of = ResultOf {
            upload_id: Some("u-123".into()),
            uploaded_at: Some("2026-12-01T10:00:00Z".into()),
        };
        let json = serde_json::to_string(&vec![now.clone()]).expect("json");
        assert!(
            json.contains(r#""source":"/data/b.txt""#),
            "paths stay text: {json}"
        );
        assert_eq!(
            serde_json::from_str::<Vec<Record>>(&json).expect("read"),
            [now]
        );
    }

    #[test]
    fn a_row_resumes_from_where_it_can() {
        use Status::{
            Cancelled, Downloading, Failed, Paused, Processing, Ready, Uploading, Waiting,
        };
        for (saved, uploaded, resumed) in [
            (Paused, false, Paused),
            (Paused, true, Paused),
            (Waiting, false, Waiting),
            (Uploading, false, Waiting),
            (Uploading, true, Processing),
            (Processing, true, Processing),
            (Downloading, true, Processing),
            (Ready, true, Ready),
            (Failed, false, Failed),
            (Cancelled, true, Cancelled),
        ] {
            assert_eq!(saved.after_restart(uploaded), resumed, "{saved:?}");
        }
    }

    #[test]
    fn a_paused_row_goes_on_from_where_it_stopped_and_holds_its_name() {
        let mut upload = record("a", Status::Paused, false);
        assert!(!Status::Paused.is_active(), "nothing moves: not busy");
        assert!(Status::Paused.is_unfinished(), "its name stays taken");
        upload.resume();
        assert_eq!(upload.status, Status::Waiting);
        let mut download = record("b", Status::Paused, true);
        download.resume();
        assert_eq!(download.status, Status::Processing);
        let pausable: Vec<Status> = [
            Status::Waiting,
            Status::Uploading,
            Status::Processing,
            Status::Downloading,
            Status::Ready,
            Status::Failed,
            Status::Cancelled,
            Status::Paused,
        ]
        .into_iter()
        .filter(|status| status.can_pause())
        .collect();
        assert_eq!(
            pausable,
            [Status::Waiting, Status::Uploading, Status::Downloading]
        );
    }

    #[test]
    fn a_row_stopped_for_good_gives_up_what_the_engine_kept_of_its_transfer() {
        let upload = record("a", Status::Uploading, false);
        assert_eq!(
            upload.leftover(),
            Leftover::Upload {
                source: PathBuf::from("/data/a.txt"),
                name: "a.txt".into()
            }
        );
        for status in [Status::Downloading, Status::Processing, Status::Paused] {
            assert_eq!(
                record("b", status, true).leftover(),
                Leftover::Download {
                    name: "b.txt".into()
                },
                "{status:?}"
            );
        }
        assert_eq!(
            record("c", Status::Ready, true).leftover(),
            Leftover::Nothing
        );
        // A result fetched from the results view has no upload of its own.
        let mut fetched = record("d", Status::Failed, false);
        fetched.source = None;
        assert_eq!(fetched.leftover(), Leftover::Nothing);
    }

    #[test]
    fn a_cancellation_is_not_a_failure() {
        assert_eq!(
            Ending::of(Err(TransferError::Cancelled.into())),
            Ending::Cancelled
        );
        let failed = Ending::of(Err(TransferError::Unauthorized.into()));
        let mut row = record("a", Status::Uploading, false);
        row.end(&failed);
        assert_eq!(row.status, Status::Failed);
        assert_eq!(
            row.error.map(|error| error.kind),
            Some(ErrorKind::Unauthorized)
        );
        let mut row = record("b", Status::Downloading, true);
        row.end(&Ending::of(Ok(PathBuf::from("/results/b.txt"))));
        assert_eq!(
            (row.status, row.result_path),
            (Status::Ready, Some(PathBuf::from("/results/b.txt")))
        );
    }
}
