//! A download's `.part` file and the final name it is given.
//!
//! Invariant: a download never takes its final name before it is complete, checked and on disk, and
//! never replaces an existing file. This module is the only code that gives a downloaded file its
//! name, so the invariant is kept here:
//! - the bytes are written to `NAME.part` (or `NAME (1).part`, ... when another download owns that
//!   one), a file this download created itself;
//! - [`PartFile::finish`], the only way to the final name, takes a [`Verified`], which only
//!   [`check_download`](crate::integrity::check_download) makes (every byte arrived and the
//!   checksum the service named matches);
//! - `finish` syncs the data to disk, then hard-links the part file to the first free name of
//!   `NAME`, `NAME (1)`, ...: a link fails rather than replace an existing file, even one a racing
//!   writer has just made;
//! - a part file that is not finished is removed: by [`PartFile::discard`], and otherwise when it
//!   is dropped (an error, or a download future dropped half-way), unless a resume journal
//!   records it ([`PartFile::keep`]): then it stays for the next run to go on with
//!   ([`PartFile::reopen`]), until that run finishes it or the download is discarded
//!   ([`remove_kept`]).

use std::path::{Path, PathBuf};

use tokio::io::{AsyncSeekExt as _, AsyncWriteExt as _};

use crate::error::TransferError;
use crate::integrity::Verified;
use crate::names::{child_path, numbered_candidates};

/// How many numbered names are tried before a download gives up on finding a free one.
const MAX_CANDIDATES: usize = 10_000;

/// A download's `.part` file: removed unless it is given its final name.
pub(super) struct PartFile {
    path: PathBuf,
    file: Option<tokio::fs::File>,
    /// Whether `path` is still this download's file, to be removed if it is not finished. Cleared
    /// once removed or renamed, so a later download that reuses the name is never touched.
    owned: bool,
    /// Whether a journal records the file, so that it survives being dropped (a crash, a pause)
    /// for the next run.
    kept: bool,
}

impl PartFile {
    /// Creates `NAME.part` in `dir` for the final name `file_name` (or `NAME (1).part`, ... when
    /// another download owns that one), creating `dir` if needed.
    ///
    /// # Errors
    /// [`TransferError::Io`] when the folder or the file cannot be created.
    pub(super) async fn create(dir: &Path, file_name: &str) -> Result<Self, TransferError> {
        tokio::fs::create_dir_all(dir)
            .await
            .map_err(|e| TransferError::io("create", dir, e))?;
        for candidate in numbered_candidates(file_name).take(MAX_CANDIDATES) {
            let Some(path) = child_path(dir, &format!("{candidate}.part")) else {
                break;
            };
            match tokio::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
                .await
            {
                Ok(file) => {
                    return Ok(Self {
                        path,
                        file: Some(file),
                        owned: true,
                        kept: false,
                    });
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(TransferError::io("create", path, e)),
            }
        }
        Err(TransferError::io(
            "create",
            dir.join(file_name),
            std::io::Error::other("no free name for the partial file"),
        ))
    }

    /// Opens the part file `part_name` in `dir` that an earlier run of this download kept, for
    /// this run to go on with; `None` when it is gone (or `part_name` is not a part file's name).
    /// It is kept again when dropped.
    ///
    /// # Errors
    /// [`TransferError::Io`] when it is there but cannot be opened.
    pub(super) async fn reopen(dir: &Path, part_name: &str) -> Result<Option<Self>, TransferError> {
        let Some(path) = kept_path(dir, part_name) else {
            return Ok(None);
        };
        match tokio::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .await
        {
            Ok(file) => Ok(Some(Self {
                path,
                file: Some(file),
                owned: true,
                kept: true,
            })),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(TransferError::io("open", path, e)),
        }
    }

    /// Where the partial file is.
    pub(super) fn path(&self) -> &Path {
        &self.path
    }

    /// The partial file's name in its folder, for the journal that records it.
    pub(super) fn name(&self) -> String {
        self.path
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_default()
    }

    /// Whether the file survives being dropped unfinished: `true` while a journal records it.
    pub(super) fn keep(&mut self, kept: bool) {
        self.kept = kept;
    }

    /// A handle of its own on the file, for a writer of one range (its writes are positioned, so
    /// handles share no cursor).
    ///
    /// # Errors
    /// [`TransferError::Io`] when the handle cannot be made.
    pub(super) async fn handle(&self) -> Result<std::fs::File, TransferError> {
        let file = self.file.as_ref().ok_or_else(|| closed(&self.path))?;
        let clone = file.try_clone().await;
        let clone = clone.map_err(|e| TransferError::io("write", &self.path, e))?;
        Ok(clone.into_std().await)
    }

    /// Sets the file's length: the object's size for a download in ranges, whose ranges land at
    /// their offsets in any order (the file is sparse where nothing was written yet).
    ///
    /// # Errors
    /// [`TransferError::Io`] when the length cannot be set.
    pub(super) async fn set_len(&mut self, length: u64) -> Result<(), TransferError> {
        let file = self.file.as_mut().ok_or_else(|| closed(&self.path))?;
        let error_at = |e| TransferError::io("write", &self.path, e);
        file.set_len(length).await.map_err(error_at)
    }

    /// Takes the open file out, for a writer that gives it back ([`Self::put_back`]).
    pub(super) fn take_file(&mut self) -> Result<tokio::fs::File, TransferError> {
        self.file.take().ok_or_else(|| closed(&self.path))
    }

    /// Gives back the file [`Self::take_file`] took.
    pub(super) fn put_back(&mut self, file: tokio::fs::File) {
        self.file = Some(file);
    }

    /// The bytes written so far, where a resumed download goes on from.
    pub(super) async fn len(&mut self) -> Result<u64, TransferError> {
        let file = self.file.as_mut().ok_or_else(|| closed(&self.path))?;
        let length = async {
            file.flush().await?;
            file.metadata().await.map(|m| m.len())
        };
        let error_at = |e| TransferError::io("write", &self.path, e);
        length.await.map_err(error_at)
    }

    /// Empties the file, for a download that starts over.
    pub(super) async fn truncate(&mut self) -> Result<(), TransferError> {
        let file = self.file.as_mut().ok_or_else(|| closed(&self.path))?;
        let emptied = async {
            file.set_len(0).await?;
            file.seek(std::io::SeekFrom::Start(0)).await.map(drop)
        };
        let error_at = |e| TransferError::io("write", &self.path, e);
        emptied.await.map_err(error_at)
    }

    /// Flushes the data to disk and gives the file its final name: `name` in `dir`, or
    /// `name (1)`, ... when that exists. An existing file is never replaced, even by a racing
    /// writer. On an error the part file is removed.
    ///
    /// # Errors
    /// [`TransferError::Io`] when the data cannot be synced or no name can be taken;
    /// [`TransferError::Integrity`] when `name` is not a single file name.
    pub(super) async fn finish(
        mut self,
        _verified: Verified,
        dir: &Path,
        name: &str,
    ) -> Result<PathBuf, TransferError> {
        if let Some(file) = self.file.take() {
            file.sync_all()
                .await
                .map_err(|e| TransferError::io("write", &self.path, e))?;
        }
        for candidate in numbered_candidates(name).take(MAX_CANDIDATES) {
            let target = child_path(dir, &candidate)
                .ok_or_else(|| TransferError::Integrity("unusable file name".into()))?;
            match link_without_replacing(&self.path, &target).await {
                Ok(()) => {
                    // Also when the fallback renamed it: then there is nothing left to remove.
                    let _ = tokio::fs::remove_file(&self.path).await;
                    self.owned = false;
                    sync_dir(dir).await;
                    return Ok(target);
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(TransferError::io("save", target, e)),
            }
        }
        Err(TransferError::io(
            "save",
            dir.join(name),
            std::io::Error::other("too many files with this name"),
        ))
    }

    /// Closes and removes the partial file.
    pub(super) async fn discard(mut self) {
        self.file = None;
        if self.owned {
            self.owned = false;
            let _ = tokio::fs::remove_file(&self.path).await;
        }
    }
}

impl Drop for PartFile {
    /// Removes a part file that was neither finished nor discarded, unless a journal records it.
    /// A blocking call, but one `unlink` only.
    fn drop(&mut self) {
        self.file = None;
        if self.owned && !self.kept {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Removes the part file `part_name` in `dir` that a journal recorded, for a download discarded
/// or started over; nothing when it is gone or `part_name` is not a part file's name (a journal
/// never makes this remove anything else).
///
/// # Errors
/// [`TransferError::Io`] when it is there and cannot be removed.
pub(super) async fn remove_kept(dir: &Path, part_name: &str) -> Result<(), TransferError> {
    let Some(path) = kept_path(dir, part_name) else {
        return Ok(());
    };
    match tokio::fs::remove_file(&path).await {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(TransferError::io("remove", path, e))
        }
        _ => Ok(()),
    }
}

/// The path of the part file `part_name` in `dir`, when it is one file name ending in `.part`.
fn kept_path(dir: &Path, part_name: &str) -> Option<PathBuf> {
    part_name
        .strip_suffix(".part")
        .filter(|stem| !stem.is_empty())
        .and_then(|_| child_path(dir, part_name))
}

/// The error of an operation on a part file whose file a writer has taken.
fn closed(path: &Path) -> TransferError {
    let error = std::io::Error::other("the file is closed");
    TransferError::io("write", path, error)
}

/// Gives `from` the name `to` unless `to` exists. A hard link fails atomically when the target
/// exists; where links are not supported (FAT, some network shares), an existence check and a
/// rename is the best the file system allows.
async fn link_without_replacing(from: &Path, to: &Path) -> std::io::Result<()> {
    match tokio::fs::hard_link(from, to).await {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Err(e),
        Err(_) => {
            if tokio::fs::try_exists(to).await? {
                return Err(std::io::ErrorKind::AlreadyExists.into());
            }
            tokio::fs::rename(from, to).await
        }
    }
}

/// Makes a rename in `dir` durable (POSIX needs the directory itself synced).
async fn sync_dir(dir: &Path) {
    #[cfg(unix)]
    if let Ok(handle) = tokio::fs::File::open(dir).await {
        let _ = handle.sync_all().await;
    }
    #[cfg(not(unix))]
    let _ = dir;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::integrity::{Hasher, check_download};

    /// Every file in `dir` as `NAME: CONTENT`, sorted.
    fn files_in(dir: &Path) -> Vec<String> {
        let mut files: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|entry| {
                let path = entry.unwrap().path();
                let content = String::from_utf8(std::fs::read(&path).unwrap()).unwrap();
                let name = path.file_name().unwrap().to_string_lossy().into_owned();
                format!("{name}: {content}")
            })
            .collect();
        files.sort();
        files
    }

    /// A part file for `name` in `dir` holding `content`.
    async fn part_with(dir: &Path, name: &str, content: &str) -> PartFile {
        let part = PartFile::create(dir, name).await.unwrap();
        std::fs::write(part.path(), content).unwrap();
        part
    }

    /// A download checked complete (the checks themselves are tested with them).
    fn verified() -> Verified {
        check_download(0, 0, None, &Hasher::for_expected(None)).unwrap()
    }

    #[tokio::test]
    async fn the_data_is_written_beside_the_final_name_then_takes_it() {
        let dir = tempfile::tempdir().unwrap();
        let mut part = part_with(dir.path(), "scan.png", "stale bytes").await;
        assert_eq!(part.path(), dir.path().join("scan.png.part"));
        // A download that starts over empties the file first.
        part.truncate().await.unwrap();
        let file = part.file.as_mut().unwrap();
        file.write_all(b"result").await.unwrap();
        assert_eq!(part.len().await.unwrap(), 6);
        assert_eq!(files_in(dir.path()), ["scan.png.part: result"]);
        let path = part.finish(verified(), dir.path(), "scan.png").await;
        assert_eq!(path.unwrap(), dir.path().join("scan.png"));
        assert_eq!(files_in(dir.path()), ["scan.png: result"]);
        // The next download of the name takes the part name the first one gave up.
        let next = part_with(dir.path(), "scan.png", "second").await;
        assert_eq!(next.path(), dir.path().join("scan.png.part"));
    }

    #[tokio::test]
    async fn an_existing_file_is_never_replaced() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("scan.png"), "mine").unwrap();
        std::fs::write(dir.path().join("scan (1).png"), "mine too").unwrap();
        let part = part_with(dir.path(), "scan.png", "result").await;
        let path = part.finish(verified(), dir.path(), "scan.png").await;
        assert_eq!(path.unwrap(), dir.path().join("scan (2).png"));
        let expected = [
            "scan (1).png: mine too",
            "scan (2).png: result",
            "scan.png: mine",
        ];
        assert_eq!(files_in(dir.path()), expected);
    }

    #[tokio::test]
    async fn a_part_name_in_use_is_left_to_its_download() {
        let dir = tempfile::tempdir().unwrap();
        let _first = part_with(dir.path(), "scan.png", "first").await;
        let second = part_with(dir.path(), "scan.png", "second").await;
        assert_eq!(second.path(), dir.path().join("scan (1).png.part"));
        // The second finishes first and removes only its own part file.
        let path = second.finish(verified(), dir.path(), "scan.png").await;
        assert_eq!(path.unwrap(), dir.path().join("scan.png"));
        let expected = ["scan.png.part: first", "scan.png: second"];
        assert_eq!(files_in(dir.path()), expected);
    }

    #[tokio::test]
    async fn an_unfinished_part_file_is_removed_discarded_or_dropped() {
        let dir = tempfile::tempdir().unwrap();
        part_with(dir.path(), "a.bin", "half").await.discard().await;
        drop(part_with(dir.path(), "b.bin", "half").await);
        // Dropped with its file taken out, as when a download is dropped mid-write.
        let mut taken = part_with(dir.path(), "c.bin", "half").await;
        let file = taken.take_file().unwrap();
        drop(taken);
        drop(file);
        assert!(files_in(dir.path()).is_empty());
    }

    #[tokio::test]
    async fn a_name_that_is_not_one_file_name_is_refused_and_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let part = part_with(dir.path(), "scan.png", "result").await;
        let error = part.finish(verified(), dir.path(), "../scan.png").await;
        assert!(
            matches!(error, Err(TransferError::Integrity(_))),
            "{error:?}"
        );
        assert!(files_in(dir.path()).is_empty());
        assert!(!dir.path().parent().unwrap().join("scan.png").exists());
    }

    #[tokio::test]
    async fn a_kept_part_file_survives_its_drop_for_the_next_run_until_removed() {
        let dir = tempfile::tempdir().unwrap();
        let mut part = part_with(dir.path(), "scan.png", "half").await;
        part.keep(true);
        assert_eq!(part.name(), "scan.png.part");
        drop(part);
        assert_eq!(files_in(dir.path()), ["scan.png.part: half"]);
        // The next run opens it as it was, and a reopened file is kept again when dropped.
        let mut again = PartFile::reopen(dir.path(), "scan.png.part")
            .await
            .unwrap()
            .unwrap();
        again.set_len(8).await.unwrap();
        drop(again);
        assert_eq!(files_in(dir.path()), ["scan.png.part: half\0\0\0\0"]);
        remove_kept(dir.path(), "scan.png.part").await.unwrap();
        assert!(files_in(dir.path()).is_empty());
        // Gone, or never there: nothing to open, nothing to remove.
        assert!(
            PartFile::reopen(dir.path(), "scan.png.part")
                .await
                .unwrap()
                .is_none()
        );
        remove_kept(dir.path(), "scan.png.part").await.unwrap();
    }

    #[tokio::test]
    async fn a_journal_names_only_part_files_in_the_folder() {
        let dir = tempfile::tempdir().unwrap();
        let inner = dir.path().join("results");
        std::fs::create_dir(&inner).unwrap();
        std::fs::write(inner.join("scan.png"), "a finished result").unwrap();
        std::fs::write(dir.path().join("outside.part"), "not in the folder").unwrap();
        for name in ["scan.png", "../outside.part", ".part", "", "sub/x.part"] {
            remove_kept(&inner, name).await.unwrap();
            assert!(
                PartFile::reopen(&inner, name).await.unwrap().is_none(),
                "{name}"
            );
        }
        assert_eq!(files_in(&inner), ["scan.png: a finished result"]);
        assert!(dir.path().join("outside.part").exists());
    }
}
