//! A crash-safe, append-only record of one job's progress (a multipart upload's finished parts, a
//! ranged download's finished ranges), kept in a folder the caller chooses, so a job cut by a
//! crash, a kill or a closed laptop continues where it stopped instead of starting again.
//!
//! One file per job, named by a hash of what identifies the job (so any name, path or address
//! makes a plain file name). It holds JSON lines: first a header (what the job is, written once),
//! then one line per finished item, each written in one `write` and followed by `sync_data`, so an
//! item is on disk before the caller counts it as done.
//!
//! Invariants:
//! - a journal is created whole or not at all: the header goes to a temporary file, which is
//!   synced and renamed into place (and the folder synced on Unix);
//! - on opening, a torn or unparsable **last** line is what a crash during an append leaves, so it
//!   is dropped (and cut off the file, so the next append starts on a fresh line); any other
//!   damage (the header, a line before the last, another job's header under this name, another
//!   format version) makes the whole journal [`Opened::Unusable`]: the caller starts over and
//!   never trusts part of it;
//! - while a process has a journal open it holds an exclusive lock on its file, so a second
//!   process sees [`Opened::Busy`] instead of running the same job at the same time.
//!
//! The calls block (they write and sync files); async callers run them on the blocking pool.

use std::fs::{File, OpenOptions};
use std::io::{Read as _, Seek as _, SeekFrom, Write as _};
use std::marker::PhantomData;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

/// The format of the journal files this version writes; a file of another version is unusable.
const FORMAT_VERSION: u32 = 1;

/// The extension of journal files.
const EXTENSION: &str = "journal";

/// The first line of a journal file: the format, the full hash of the job's identity (the file
/// name holds only part of it), and the caller's header.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct HeaderLine<H> {
    journal: u32,
    job: String,
    header: H,
}

/// The identity of one job: the parts that tell it from every other job, hashed into its file
/// name. The parts are hashed with their lengths, so `("ab", "c")` and `("a", "bc")` differ.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobId {
    hash: String,
}

impl JobId {
    /// The job identified by `parts`, in order (for an upload: the service address, the file's
    /// absolute path and the name it is sent under).
    pub fn new<P: AsRef<[u8]>>(parts: impl IntoIterator<Item = P>) -> Self {
        let mut hasher = Sha256::new();
        for part in parts {
            let part = part.as_ref();
            hasher.update((part.len() as u64).to_be_bytes());
            hasher.update(part);
        }
        Self {
            hash: hex::encode(hasher.finalize()),
        }
    }

    /// The journal file's name in its folder: 128 bits of the hash are plenty to tell jobs apart,
    /// and the header line holds the rest.
    fn file_name(&self) -> String {
        format!("{}.{EXTENSION}", &self.hash[..32])
    }
}

/// What [`Journal::open`] found.
#[derive(Debug)]
pub enum Opened<H, I> {
    /// A journal of this job, with what it recorded.
    Found(Journal<H, I>),
    /// No journal of this job.
    Absent,
    /// A journal whose content cannot be trusted (damaged, another version, another job's); the
    /// caller removes it ([`Journal::discard`]) and starts the job over.
    Unusable,
    /// Another process has this job's journal open.
    Busy,
}

/// An open journal of one job: its header, the items recorded so far, and the file, locked, to
/// append to. Generic over the header `H` and the item `I`, both JSON through serde.
#[derive(Debug)]
pub struct Journal<H, I> {
    path: PathBuf,
    file: File,
    header: H,
    items: Vec<I>,
    _item: PhantomData<fn(I)>,
}

impl<H, I> Journal<H, I>
where
    H: Serialize + DeserializeOwned,
    I: Serialize + DeserializeOwned,
{
    /// Creates the journal of `job` in `dir` (created if needed) with `header` and no items,
    /// replacing any journal the job had. The file appears whole or not at all.
    ///
    /// # Errors
    /// The file system's error; nothing is left behind but, at worst, a temporary file.
    pub fn create(dir: &Path, job: &JobId, header: H) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join(job.file_name());
        let mut line = serde_json::to_vec(&HeaderLine {
            journal: FORMAT_VERSION,
            job: job.hash.clone(),
            header: &header,
        })
        .map_err(std::io::Error::other)?;
        line.push(b'\n');
        // A name of its own, so two writers never share a temporary file.
        let temp = dir.join(format!(
            ".{}.{}-{:016x}.tmp",
            job.file_name(),
            std::process::id(),
            fastrand::u64(..)
        ));
        let written = (|| {
            let mut file = File::create(&temp)?;
            file.write_all(&line)?;
            file.sync_all()?;
            drop(file);
            std::fs::rename(&temp, &path)
        })();
        if let Err(error) = written {
            let _ = std::fs::remove_file(&temp);
            return Err(error);
        }
        sync_folder(dir)?;
        let file = OpenOptions::new().read(true).append(true).open(&path)?;
        // Just created: only another process creating the same job at this instant holds it.
        lock(&file)?.then_some(()).ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::WouldBlock,
                "another process is running this job",
            )
        })?;
        Ok(Self {
            path,
            file,
            header,
            items: Vec::new(),
            _item: PhantomData,
        })
    }

    /// Opens the journal of `job` in `dir`, if there is one, and reads what it recorded.
    ///
    /// # Errors
    /// The file system's error when an existing file cannot be read or locked (a journal that
    /// is there but damaged is [`Opened::Unusable`], not an error).
    pub fn open(dir: &Path, job: &JobId) -> std::io::Result<Opened<H, I>> {
        let path = dir.join(job.file_name());
        let mut file = match OpenOptions::new().read(true).append(true).open(&path) {
            Ok(file) => file,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Opened::Absent);
            }
            Err(error) => return Err(error),
        };
        if !lock(&file)? {
            return Ok(Opened::Busy);
        }
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        let Some(parsed) = parse::<H, I>(&bytes, job) else {
            return Ok(Opened::Unusable);
        };
        if parsed.good_len < bytes.len() {
            // Cut the torn line off, so the next append starts a line of its own.
            file.set_len(parsed.good_len as u64)?;
            file.sync_data()?;
        }
        file.seek(SeekFrom::End(0))?;
        Ok(Opened::Found(Self {
            path,
            file,
            header: parsed.header,
            items: parsed.items,
            _item: PhantomData,
        }))
    }

    /// Removes the journal of `job` from `dir`, whether it is usable or not; nothing when there
    /// is none.
    ///
    /// # Errors
    /// The file system's error when the file exists and cannot be removed.
    pub fn discard(dir: &Path, job: &JobId) -> std::io::Result<()> {
        match std::fs::remove_file(dir.join(job.file_name())) {
            Err(error) if error.kind() != std::io::ErrorKind::NotFound => Err(error),
            _ => Ok(()),
        }
    }

    /// The header the journal was created with.
    pub fn header(&self) -> &H {
        &self.header
    }

    /// Every item recorded, in the order appended.
    pub fn items(&self) -> &[I] {
        &self.items
    }

    /// Records `item`: one line, written at once and synced before this returns.
    ///
    /// # Errors
    /// The file system's error; the item then does not count as recorded (a line written in
    /// part is what [`Self::open`] drops).
    pub fn append(&mut self, item: I) -> std::io::Result<()> {
        let mut line = serde_json::to_vec(&item).map_err(std::io::Error::other)?;
        line.push(b'\n');
        self.file.write_all(&line)?;
        self.file.sync_data()?;
        self.items.push(item);
        Ok(())
    }

    /// Removes the journal (the job is done, or given up).
    ///
    /// # Errors
    /// The file system's error when the file cannot be removed.
    pub fn remove(self) -> std::io::Result<()> {
        match std::fs::remove_file(&self.path) {
            Err(error) if error.kind() != std::io::ErrorKind::NotFound => Err(error),
            _ => Ok(()),
        }
    }
}

/// A journal file's content, as far as it is whole.
struct Parsed<H, I> {
    header: H,
    items: Vec<I>,
    /// The length of the part kept: everything but a torn last line.
    good_len: usize,
}

/// Reads a journal file: `None` when it cannot be trusted.
fn parse<H: DeserializeOwned, I: DeserializeOwned>(
    bytes: &[u8],
    job: &JobId,
) -> Option<Parsed<H, I>> {
    let header_end = bytes.iter().position(|b| *b == b'\n')?;
    let header: HeaderLine<H> = serde_json::from_slice(&bytes[..header_end]).ok()?;
    if header.journal != FORMAT_VERSION || header.job != job.hash {
        return None;
    }
    let mut items = Vec::new();
    let mut start = header_end + 1;
    let mut good_len = start;
    while start < bytes.len() {
        let (line, next, whole) = match bytes[start..].iter().position(|b| *b == b'\n') {
            Some(end) => (&bytes[start..start + end], start + end + 1, true),
            None => (&bytes[start..], bytes.len(), false),
        };
        let is_last = next == bytes.len();
        match serde_json::from_slice::<I>(line) {
            Ok(item) if whole => {
                items.push(item);
                good_len = next;
            }
            // A line with no end, or garbage at the very end: a crash during an append.
            _ if is_last => break,
            _ => return None,
        }
        start = next;
    }
    Some(Parsed {
        header: header.header,
        items,
        good_len,
    })
}

/// Takes the exclusive lock on `file`: `false` when another process holds it.
fn lock(file: &File) -> std::io::Result<bool> {
    match file.try_lock() {
        Ok(()) => Ok(true),
        Err(std::fs::TryLockError::WouldBlock) => Ok(false),
        Err(std::fs::TryLockError::Error(error)) => Err(error),
    }
}

/// Makes a rename in `dir` durable: on Unix the folder's entry is only on disk once the folder
/// itself is synced. Windows has no such call (and needs none for `MoveFileEx`'s rename).
fn sync_folder(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    File::open(dir)?.sync_all()?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    struct Header {
        upload: String,
        size: u64,
    }

    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    struct Item {
        number: u32,
        etag: String,
    }

    type TestJournal = Journal<Header, Item>;

    fn header() -> Header {
        Header {
            upload: "mp-1".into(),
            size: 42,
        }
    }

    fn item(number: u32) -> Item {
        Item {
            number,
            etag: format!("etag-{number}"),
        }
    }

    fn job() -> JobId {
        JobId::new(["http://127.0.0.1:9", "/home/me/big.bin", "big.bin"])
    }

    fn found(opened: Opened<Header, Item>) -> TestJournal {
        match opened {
            Opened::Found(journal) => journal,
            other => panic!("expected a journal, found {other:?}"),
        }
    }

    fn file_of(dir: &Path) -> PathBuf {
        dir.join(job().file_name())
    }

    #[test]
    fn what_was_recorded_is_read_back() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            TestJournal::open(dir.path(), &job()).unwrap(),
            Opened::Absent
        ));
        let mut journal = TestJournal::create(&dir.path().join("sub"), &job(), header()).unwrap();
        journal.append(item(1)).unwrap();
        journal.append(item(3)).unwrap();
        assert_eq!(journal.items(), [item(1), item(3)]);
        drop(journal);
        let journal = found(TestJournal::open(&dir.path().join("sub"), &job()).unwrap());
        assert_eq!(journal.header(), &header());
        assert_eq!(journal.items(), [item(1), item(3)]);
        journal.remove().unwrap();
        assert!(matches!(
            TestJournal::open(&dir.path().join("sub"), &job()).unwrap(),
            Opened::Absent
        ));
        // Only the journal was ever in the folder: no temporary file stays behind.
        assert_eq!(
            std::fs::read_dir(dir.path().join("sub")).unwrap().count(),
            0
        );
    }

    #[test]
    fn appends_after_reopening_follow_the_earlier_ones() {
        let dir = tempfile::tempdir().unwrap();
        let mut journal = TestJournal::create(dir.path(), &job(), header()).unwrap();
        journal.append(item(1)).unwrap();
        drop(journal);
        let mut journal = found(TestJournal::open(dir.path(), &job()).unwrap());
        journal.append(item(2)).unwrap();
        drop(journal);
        let journal = found(TestJournal::open(dir.path(), &job()).unwrap());
        assert_eq!(journal.items(), [item(1), item(2)]);
    }

    #[test]
    fn a_torn_last_line_is_dropped_and_the_next_append_starts_clean() {
        for torn in [
            &b"{\"number\":2,\"et"[..],
            b"{\"number\":2,\"etag\":\"etag-2\"}",
            b"\0\0\0\0",
            b"garbage\n",
        ] {
            let dir = tempfile::tempdir().unwrap();
            let mut journal = TestJournal::create(dir.path(), &job(), header()).unwrap();
            journal.append(item(1)).unwrap();
            drop(journal);
            let mut file = OpenOptions::new()
                .append(true)
                .open(file_of(dir.path()))
                .unwrap();
            file.write_all(torn).unwrap();
            drop(file);

            let mut journal = found(TestJournal::open(dir.path(), &job()).unwrap());
            // A whole item without its line end is still not trusted: its write did not finish.
            assert_eq!(journal.items(), [item(1)], "{torn:?}");
            journal.append(item(3)).unwrap();
            drop(journal);
            let journal = found(TestJournal::open(dir.path(), &job()).unwrap());
            assert_eq!(journal.items(), [item(1), item(3)], "{torn:?}");
        }
    }

    #[test]
    fn damage_anywhere_but_the_last_line_makes_it_unusable() {
        let header_line = |header: &str| {
            format!(
                "{{\"journal\":1,\"job\":\"{}\",\"header\":{header}}}\n",
                job().hash
            )
        };
        let good = header_line("{\"upload\":\"mp-1\",\"size\":42}");
        let item_line = "{\"number\":1,\"etag\":\"etag-1\"}\n";
        let cases = [
            // The header torn, missing or not a header.
            "{\"journal\":1,\"job\"".to_owned(),
            String::new(),
            "\n".to_owned(),
            header_line("{\"upload\":7}"),
            // Another format version, another job's journal under this name.
            good.replace("\"journal\":1", "\"journal\":2"),
            good.replace(&job().hash, &"0".repeat(64)),
            // A damaged item before the last one.
            format!("{good}garbage\n{item_line}"),
            format!("{good}{{\"number\":\"x\"}}\n{item_line}"),
        ];
        for content in cases {
            let dir = tempfile::tempdir().unwrap();
            std::fs::write(file_of(dir.path()), &content).unwrap();
            assert!(
                matches!(
                    TestJournal::open(dir.path(), &job()).unwrap(),
                    Opened::Unusable
                ),
                "{content:?}"
            );
            TestJournal::discard(dir.path(), &job()).unwrap();
            assert!(!file_of(dir.path()).exists());
        }
        // The same header with whole items is fine.
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(file_of(dir.path()), format!("{good}{item_line}")).unwrap();
        let journal = found(TestJournal::open(dir.path(), &job()).unwrap());
        assert_eq!(journal.items(), [item(1)]);
    }

    #[test]
    fn creating_again_starts_the_job_over() {
        let dir = tempfile::tempdir().unwrap();
        let mut journal = TestJournal::create(dir.path(), &job(), header()).unwrap();
        journal.append(item(1)).unwrap();
        journal.remove().unwrap();
        let other = Header {
            upload: "mp-2".into(),
            size: 43,
        };
        drop(TestJournal::create(dir.path(), &job(), other.clone()).unwrap());
        let journal = found(TestJournal::open(dir.path(), &job()).unwrap());
        assert_eq!(journal.header(), &other);
        assert!(journal.items().is_empty());
    }

    #[test]
    fn an_open_journal_is_busy_for_everyone_else() {
        let dir = tempfile::tempdir().unwrap();
        let journal = TestJournal::create(dir.path(), &job(), header()).unwrap();
        // Another open file description, as another process would have.
        assert!(matches!(
            TestJournal::open(dir.path(), &job()).unwrap(),
            Opened::Busy
        ));
        drop(journal);
        found(TestJournal::open(dir.path(), &job()).unwrap());
    }

    #[test]
    fn jobs_are_told_apart_by_every_part_of_their_identity() {
        let names = [
            JobId::new(["a", "bc"]).file_name(),
            JobId::new(["ab", "c"]).file_name(),
            JobId::new(["a", "bc", ""]).file_name(),
            JobId::new(["a", "bd"]).file_name(),
        ];
        for (i, a) in names.iter().enumerate() {
            assert!(a.ends_with(".journal") && a.len() == 32 + 8, "{a}");
            for b in &names[i + 1..] {
                assert_ne!(a, b);
            }
        }
        assert_eq!(JobId::new(["a", "bc"]), JobId::new(["a", "bc"]));
    }
}
