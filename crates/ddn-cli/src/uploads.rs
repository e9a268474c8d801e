//! The uploads `ddn` made from this computer, remembered between runs, so that `ddn wait NAME`
//! (a later run) waits for the result of the last upload of NAME and never takes the result an
//! earlier upload of the same name left behind.
//!
//! The record is a small JSON file in the user's local data folder (`~/.local/share/ddn` on Linux,
//! `%LOCALAPPDATA%\ddn` on Windows, `~/Library/Application Support/ddn` on macOS): one entry per
//! service address and name, holding the upload's id and time. Nothing in it is secret (an upload
//! id grants nothing without the token). Writers take an exclusive lock on a file beside it and
//! replace the record atomically, so two `ddn` runs at once never lose each other's entries.

use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};

use ddn_transfer::{ResultOf, Uploaded};
use serde::{Deserialize, Serialize};

/// Entries kept at most; the oldest go first. A name is uploaded again long before this many
/// others have been.
const MAX_ENTRIES: usize = 10_000;

/// `ddn`'s folder in the user's local data folder, or `DDN_STATE_DIR` when that variable is set:
/// the record of uploads and the journals of unfinished multipart uploads live there. `None`
/// when the system names no such folder.
pub fn state_dir() -> Option<PathBuf> {
    match std::env::var_os("DDN_STATE_DIR") {
        Some(dir) if !dir.is_empty() => Some(PathBuf::from(dir)),
        _ => Some(dirs::data_local_dir()?.join("ddn")),
    }
}

/// Where the engine keeps the journals of multipart uploads, so `ddn upload` of a file whose
/// last upload stopped half-way continues it.
pub fn resume_dir() -> Option<PathBuf> {
    Some(state_dir()?.join("resume"))
}

/// One remembered upload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Entry {
    /// The service address it was sent to, as given (without a trailing slash).
    api_url: String,
    /// The name it was sent under.
    name: String,
    /// What a wait for its result asks for.
    result_of: ResultOf,
}

/// The record of uploads, at a path of its own.
#[derive(Debug, Clone)]
pub struct UploadLog {
    path: PathBuf,
}

impl UploadLog {
    /// The record in `ddn`'s state folder ([`state_dir`]: the user's local data folder, or
    /// `DDN_STATE_DIR` for tests or a script that wants a record of its own). `None` when the
    /// system names no such folder.
    pub fn for_user() -> Option<Self> {
        Some(Self::at(state_dir()?.join("uploads.json")))
    }

    /// The record kept in the file `path`.
    pub fn at(path: PathBuf) -> Self {
        Self { path }
    }

    /// What a wait for the result of the last upload of `name` to `api_url` must ask for, when
    /// this computer made one. An unreadable record reads as empty.
    pub fn result_of(&self, api_url: &str, name: &str) -> Option<ResultOf> {
        let api_url = api_url.trim_end_matches('/');
        read_entries(&self.path)
            .into_iter()
            .find(|entry| entry.api_url == api_url && entry.name == name)
            .map(|entry| entry.result_of)
    }

    /// Remembers `uploaded` as the last upload of `name` to `api_url`.
    ///
    /// # Errors
    /// The file system's error when the record cannot be written.
    pub fn remember(&self, api_url: &str, name: &str, uploaded: &Uploaded) -> std::io::Result<()> {
        let api_url = api_url.trim_end_matches('/');
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(self.path.with_extension("lock"))?;
        lock.lock()?;
        let mut entries = read_entries(&self.path);
        entries.retain(|entry| !(entry.api_url == api_url && entry.name == name));
        // Newest first, so lookups find recent uploads early and trimming drops the oldest.
        entries.insert(
            0,
            Entry {
                api_url: api_url.to_owned(),
                name: name.to_owned(),
                result_of: uploaded.result_of(),
            },
        );
        entries.truncate(MAX_ENTRIES);
        let bytes = serde_json::to_vec(&entries).map_err(std::io::Error::other)?;
        let written = write_atomically(&self.path, &bytes);
        drop(lock);
        written
    }
}

fn read_entries(path: &Path) -> Vec<Entry> {
    std::fs::read(path)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default()
}

/// Writes `bytes` to a temporary file beside `path`, flushes it and renames it over `path`, so a
/// reader sees the old record or the new one, never half of one.
fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let temp = path.with_extension("json.tmp");
    let mut file = File::create(&temp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&temp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uploaded(id: &str) -> Uploaded {
        Uploaded {
            key: "users/dev/scan.png".into(),
            size: 1,
            md5_checked: true,
            upload_id: Some(id.into()),
            uploaded_at: Some("2026-12-01T10:00:00Z".into()),
        }
    }

    #[test]
    fn the_last_upload_of_a_name_is_the_one_remembered() {
        let dir = tempfile::tempdir().unwrap();
        let log = UploadLog::at(dir.path().join("state/uploads.json"));
        assert_eq!(log.result_of("http://127.0.0.1:1", "scan.png"), None);
        log.remember("http://127.0.0.1:1/", "scan.png", &uploaded("a"))
            .unwrap();
        log.remember("http://127.0.0.1:1", "other.png", &uploaded("o"))
            .unwrap();
        log.remember("http://127.0.0.1:1", "scan.png", &uploaded("b"))
            .unwrap();
        let of = log.result_of("http://127.0.0.1:1", "scan.png").unwrap();
        assert_eq!(of.upload_id.as_deref(), Some("b"));
        assert_eq!(
            log.result_of("http://127.0.0.1:1/", "other.png")
                .unwrap()
                .upload_id
                .as_deref(),
            Some("o")
        );
        // Another service's uploads are apart.
        assert_eq!(log.result_of("https://other.example", "scan.png"), None);
    }

    #[test]
    fn a_damaged_record_reads_as_empty_and_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("uploads.json");
        std::fs::write(&path, b"{not json").unwrap();
        let log = UploadLog::at(path);
        assert_eq!(log.result_of("http://h", "x"), None);
        log.remember("http://h", "x", &uploaded("c")).unwrap();
        assert!(log.result_of("http://h", "x").is_some());
    }
}
