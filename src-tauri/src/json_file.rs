//! A JSON file the app keeps its state in (`settings.json`, `transfers.json`): read whole, with
//! a damaged copy set aside rather than lost, and written atomically, so that a crash or a full
//! disk leaves the old file or the new one under its name, never part of one.

use std::ffi::OsString;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

/// One JSON file and what it holds, for the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonFile {
    path: PathBuf,
    what: &'static str,
}

impl JsonFile {
    /// The file at `path`, holding `what` ("the settings", "the transfer list").
    pub fn new(path: PathBuf, what: &'static str) -> Self {
        Self { path, what }
    }

    /// Where the file is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Where a damaged file is set aside: its name with `.damaged` added
    /// (`settings.json.damaged`).
    pub fn damaged_path(&self) -> PathBuf {
        let mut name = self
            .path
            .file_name()
            .map_or_else(OsString::new, ToOwned::to_owned);
        name.push(".damaged");
        self.path.with_file_name(name)
    }

    /// What the file holds; the default when there is no file or it cannot be read. A file that
    /// is not the JSON of a `T` is moved to [`Self::damaged_path`] (replacing an earlier one), so
    /// nothing in it is lost and the next save does not write over it.
    pub fn load<T: DeserializeOwned + Default>(&self) -> T {
        let what = self.what;
        let bytes = match std::fs::read(&self.path) {
            Ok(bytes) => bytes,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return T::default(),
            Err(error) => {
                tracing::warn!(%error, "could not read {what}; using the default");
                return T::default();
            }
        };
        serde_json::from_slice(&bytes).unwrap_or_else(|error| {
            tracing::warn!(%error, "{what} was damaged; set aside, using the default");
            if let Err(error) = std::fs::rename(&self.path, self.damaged_path()) {
                tracing::warn!(%error, "could not set aside the damaged copy of {what}");
            }
            T::default()
        })
    }

    /// Replaces the file with `bytes`, atomically (see [`write_atomically`]).
    ///
    /// # Errors
    /// When the folder cannot be made or the file cannot be written; the old file is then kept.
    pub fn save(&self, bytes: &[u8]) -> std::io::Result<()> {
        write_atomically(&self.path, |file| file.write_all(bytes))
    }
}

/// Writes a file at `path` through `write`, atomically: into a temporary file in the same folder,
/// synced to disk, renamed over `path`, then the folder synced so the rename itself survives a
/// power cut. Until the rename, `path` keeps its old contents; when `write` or anything before
/// the rename fails, the temporary file is removed and `path` is untouched.
///
/// # Errors
/// The first I/O error, `write`'s included.
pub fn write_atomically(
    path: &Path,
    write: impl FnOnce(&mut std::fs::File) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir)?;
    let mut temp = tempfile::NamedTempFile::new_in(dir)?;
    write(temp.as_file_mut())?;
    temp.as_file().sync_all()?;
    temp.persist(path).map_err(|error| error.error)?;
    sync_folder(dir)
}

/// Makes a rename in `dir` durable. Only Unix lets a folder be opened and synced; elsewhere the
/// rename is as durable as the system makes it.
fn sync_folder(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    std::fs::File::open(dir)?.sync_all()?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file_in(dir: &Path) -> JsonFile {
        JsonFile::new(dir.join("state.json"), "the test state")
    }

    /// The names in `dir`, sorted.
    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .expect("the folder")
            .map(|entry| {
                entry
                    .expect("an entry")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        names.sort();
        names
    }

    #[test]
    fn no_file_gives_the_default_and_a_saved_value_reads_back() {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = file_in(dir.path());
        assert_eq!(file.load::<Vec<u32>>(), Vec::<u32>::new());
        file.save(b"[1,2,3]").expect("saved");
        assert_eq!(file.load::<Vec<u32>>(), [1, 2, 3]);
        assert_eq!(
            names(dir.path()),
            ["state.json"],
            "no temporary file is left"
        );
    }

    #[test]
    fn a_damaged_file_is_set_aside_and_the_default_used() {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = file_in(dir.path());
        std::fs::write(file.path(), b"{ not json").expect("write");
        assert_eq!(file.load::<Vec<u32>>(), Vec::<u32>::new());
        assert_eq!(
            std::fs::read(dir.path().join("state.json.damaged")).expect("kept"),
            b"{ not json"
        );
        assert!(!file.path().exists(), "the next save starts afresh");
        // JSON of another shape is damaged too.
        std::fs::write(file.path(), br#"{"a": 1}"#).expect("write");
        assert_eq!(file.load::<Vec<u32>>(), Vec::<u32>::new());
        assert_eq!(
            std::fs::read(file.damaged_path()).expect("kept"),
            br#"{"a": 1}"#
        );
    }

    #[test]
    fn a_save_that_fails_midway_leaves_the_old_file_whole() {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = file_in(dir.path());
        file.save(b"[1]").expect("saved");
        let failed = write_atomically(file.path(), |out| {
            out.write_all(b"[1, 2, ")?;
            Err(std::io::Error::other("the disk is full"))
        });
        assert_eq!(
            failed.expect_err("the write failed").to_string(),
            "the disk is full"
        );
        assert_eq!(std::fs::read(file.path()).expect("the file"), b"[1]");
        assert_eq!(
            names(dir.path()),
            ["state.json"],
            "the partial copy is gone"
        );
    }

    #[test]
    fn a_reader_never_sees_a_partial_file_under_the_final_name() {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = file_in(dir.path());
        // Large enough that a write in place would be seen half done.
        let lists: Vec<Vec<u8>> = (0..2u32)
            .map(|n| serde_json::to_vec(&vec![n; 200_000]).expect("json"))
            .collect();
        file.save(&lists[0]).expect("saved");
        let writer = {
            let file = file.clone();
            let lists = lists.clone();
            std::thread::spawn(move || {
                for round in 0..20 {
                    file.save(&lists[round % 2]).expect("saved");
                }
            })
        };
        let mut reads = 0;
        while !writer.is_finished() || reads == 0 {
            let bytes = std::fs::read(file.path()).expect("always there");
            assert!(
                lists.contains(&bytes),
                "read {} bytes of neither list",
                bytes.len()
            );
            reads += 1;
        }
        writer.join().expect("the writer");
    }
}
