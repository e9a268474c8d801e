//! Writes a download's chunks to its part file and hashes them on a thread of their own, so the
//! task receiving from the network only hands batches of chunks over and goes back to the socket.
//!
//! Every write is positioned ([`write_all_at`]): a writer starts at an offset and never uses the
//! file's cursor, so the ranges of one download write into one file at once, each through its own
//! handle, and a single stream resumes at the length it had.
//!
//! Invariant: when [`ChunkWriter::finish`] returns, the hasher has seen exactly the bytes written
//! (its `written` count, from the start offset on); without an error, those are every chunk
//! [`ChunkWriter::send`] accepted, in order, written to the file (not yet synced: a caller that
//! needs them on disk syncs the file, once for all the writers that finished).

use std::io::Write as _;
use std::path::PathBuf;

use bytes::Bytes;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::error::TransferError;
use crate::integrity::Hasher;

/// Batches waiting for the writer at most. With batches of about [`BATCH_BYTES`] this bounds the
/// memory in flight to a few MiB, and back-pressure reaches the socket when the disk is slower
/// than the network.
const QUEUE_BATCHES: usize = 8;

/// About how many bytes of network chunks the receiver gathers before handing them over: one
/// hand-over (a thread wake-up) per batch instead of one per chunk of 4 to 64 KiB.
pub(crate) const BATCH_BYTES: usize = 256 * 1024;

/// After about this many bytes, written data is pushed to the disk in the background, while the
/// download goes on. The kernel would otherwise hold it all in memory (up to gigabytes) and the
/// final `fsync` before the rename would wait seconds for it.
const EARLY_SYNC_BYTES: usize = 16 * 1024 * 1024;

/// Writes all of `bytes` into `file` at `offset`, without moving (or reading) the file's cursor,
/// so several writers can share one file through handles of their own. The one place that knows
/// how each platform says it.
///
/// # Errors
/// The operating system's error; part of `bytes` may then be written.
pub(crate) fn write_all_at(file: &std::fs::File, bytes: &[u8], offset: u64) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        std::os::unix::fs::FileExt::write_all_at(file, bytes, offset)
    }
    #[cfg(windows)]
    {
        let (mut bytes, mut offset) = (bytes, offset);
        while !bytes.is_empty() {
            match std::os::windows::fs::FileExt::seek_write(file, bytes, offset) {
                Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    bytes = &bytes[n..];
                    offset += n as u64;
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

/// A file seen as a stream that starts at `offset`: each write goes at the next position, by
/// [`write_all_at`], so a `BufWriter` can gather chunks into large positioned writes.
struct WriterAt {
    file: std::fs::File,
    /// Where the next byte goes.
    offset: u64,
}

impl std::io::Write for WriterAt {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        write_all_at(&self.file, bytes, self.offset)?;
        self.offset += bytes.len() as u64;
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Where a writer puts its bytes.
pub(crate) struct Destination {
    /// A handle on the part file, the writer's alone while it runs.
    pub(crate) file: std::fs::File,
    /// The part file's path, for error messages.
    pub(crate) path: PathBuf,
    /// Where the first byte goes.
    pub(crate) offset: u64,
}

/// What a writer did, given back by [`ChunkWriter::finish`].
pub(crate) struct Written {
    /// The handle the writer was given.
    pub(crate) file: std::fs::File,
    /// The running digest, on from the one the writer was given by exactly `written` bytes.
    pub(crate) hasher: Hasher,
    /// Bytes written from the start offset on.
    pub(crate) written: u64,
    /// The first write error, if any.
    pub(crate) result: Result<(), TransferError>,
}

/// What the writer thread gives back: the file and the hasher, whatever happened, and the first
/// write error.
struct Outcome {
    file: std::fs::File,
    hasher: Hasher,
    written: u64,
    result: std::io::Result<()>,
}

/// A running writer for one part file (or one range of it).
pub(crate) struct ChunkWriter {
    batches: mpsc::Sender<Vec<Bytes>>,
    thread: JoinHandle<Outcome>,
    path: PathBuf,
}

impl ChunkWriter {
    /// Starts writing at `destination`'s offset, gathering chunks into writes of
    /// `buffer_bytes`, and hashing on from `hasher`'s state.
    pub(crate) fn start(destination: Destination, hasher: Hasher, buffer_bytes: usize) -> Self {
        let Destination { file, path, offset } = destination;
        let (batches, mut queue) = mpsc::channel::<Vec<Bytes>>(QUEUE_BATCHES);
        let thread = tokio::task::spawn_blocking(move || {
            // A second handle on the file, for the thread that pushes written data to the disk.
            let sync_handle = file.try_clone().ok();
            std::thread::scope(|scope| {
                let (wake, wakes) = std::sync::mpsc::sync_channel::<()>(1);
                if let Some(handle) = sync_handle {
                    scope.spawn(move || {
                        // Best effort: the final `sync_all` reports the truth.
                        while wakes.recv().is_ok() {
                            let _ = handle.sync_data();
                        }
                    });
                }
                let mut hasher = hasher;
                let mut out =
                    std::io::BufWriter::with_capacity(buffer_bytes, WriterAt { file, offset });
                let mut result = Ok(());
                let mut unsynced = 0;
                'batches: while let Some(batch) = queue.blocking_recv() {
                    for chunk in batch {
                        if let Err(error) = out.write_all(&chunk) {
                            result = Err(error);
                            break 'batches;
                        }
                        hasher.update(&chunk);
                        unsynced += chunk.len();
                    }
                    if unsynced >= EARLY_SYNC_BYTES {
                        unsynced = 0;
                        // Skipped while a sync is still running: the next one covers it.
                        let _ = wake.try_send(());
                    }
                }
                drop(wake);
                let flushed = out.flush();
                let (target, _) = out.into_parts();
                Outcome {
                    written: target.offset - offset,
                    file: target.file,
                    hasher,
                    result: result.and(flushed),
                }
            })
        });
        Self {
            batches,
            thread,
            path,
        }
    }

    /// Hands a batch of chunks to the writer; waits while the queue is full. `false` when the
    /// writer has stopped on an error (which [`ChunkWriter::finish`] reports): the batch was not
    /// taken.
    pub(crate) async fn send(&self, batch: Vec<Bytes>) -> bool {
        self.batches.send(batch).await.is_ok()
    }

    /// Waits for every accepted chunk to be written and flushed; gives back the file and the hasher (also after a write error, so the caller can
    /// clean up), the count written, and the first error.
    ///
    /// # Errors
    /// [`TransferError::Io`] when the writer thread itself was lost (the file with it).
    pub(crate) async fn finish(self) -> Result<Written, TransferError> {
        drop(self.batches);
        let outcome = self.thread.await.map_err(|_| {
            TransferError::io(
                "write",
                &self.path,
                std::io::Error::other("the writer stopped unexpectedly"),
            )
        })?;
        let result = outcome
            .result
            .map_err(|error| TransferError::io("write", &self.path, error));
        Ok(Written {
            file: outcome.file,
            hasher: outcome.hasher,
            written: outcome.written,
            result,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn md5_of(data: &[u8]) -> crate::integrity::Expected {
        let digest = <md5::Md5 as md5::Digest>::digest(data);
        crate::integrity::Expected::from_answer(Some(&ddn_api::Checksum {
            algorithm: ddn_api::ChecksumAlgorithm::Md5,
            value: hex::encode(digest),
        }))
        .unwrap()
    }

    fn destination(path: &std::path::Path, offset: u64) -> Destination {
        let file = std::fs::OpenOptions::new().write(true).open(path).unwrap();
        Destination {
            file,
            path: path.to_owned(),
            offset,
        }
    }

    #[tokio::test]
    async fn every_accepted_chunk_is_written_in_order_and_hashed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.part");
        std::fs::write(&path, b"head:").unwrap();
        let mut hasher = Hasher::for_expected(Some(&md5_of(b"")));
        hasher.update(b"head:");

        let writer = ChunkWriter::start(destination(&path, 5), hasher, 7);
        let mut expected = b"head:".to_vec();
        for i in 0..200u32 {
            let chunk = format!("chunk {i};").into_bytes();
            expected.extend_from_slice(&chunk);
            let batch = vec![Bytes::from(chunk), Bytes::from_static(b"+")];
            expected.push(b'+');
            assert!(writer.send(batch).await);
        }
        let written = writer.finish().await.unwrap();
        written.result.unwrap();
        assert_eq!(written.written, expected.len() as u64 - 5);
        assert_eq!(std::fs::read(&path).unwrap(), expected);
        assert!(written.hasher.matches(&md5_of(&expected)));
    }

    #[tokio::test]
    async fn writers_at_their_own_offsets_share_one_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ranges.part");
        std::fs::write(&path, b"").unwrap();
        // The second range is written first and the first is sent in many small chunks: each
        // lands at its own offset whatever the order, the file's cursor playing no part.
        let second = ChunkWriter::start(destination(&path, 6), Hasher::Off, 4);
        assert!(second.send(vec![Bytes::from_static(b"world!")]).await);
        let first = ChunkWriter::start(destination(&path, 0), Hasher::Off, 4);
        for byte in b"hello " {
            assert!(first.send(vec![Bytes::copy_from_slice(&[*byte])]).await);
        }
        let (a, b) = (
            first.finish().await.unwrap(),
            second.finish().await.unwrap(),
        );
        a.result.unwrap();
        b.result.unwrap();
        assert_eq!((a.written, b.written), (6, 6));
        assert_eq!(std::fs::read(&path).unwrap(), b"hello world!");
    }

    #[tokio::test]
    async fn a_write_error_is_reported_and_later_chunks_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("read-only");
        std::fs::write(&path, b"").unwrap();
        // A file opened for reading only: every write fails.
        let file = std::fs::File::open(&path).unwrap();
        let destination = Destination {
            file,
            path: path.clone(),
            offset: 0,
        };
        let writer = ChunkWriter::start(destination, Hasher::default(), 4);
        let mut refused = false;
        for _ in 0..(QUEUE_BATCHES * 4) {
            if !writer.send(vec![Bytes::from_static(b"data")]).await {
                refused = true;
                break;
            }
        }
        assert!(refused, "the writer kept accepting chunks after failing");
        let written = writer.finish().await.unwrap();
        assert_eq!(written.written, 0);
        let error = written.result.unwrap_err();
        assert!(error.to_string().contains("Could not write"), "{error}");
    }
}
