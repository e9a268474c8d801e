//! Writes a download's chunks to its part file and hashes them on a thread of their own, so the
//! task receiving from the network only hands batches of chunks over and goes back to the socket.
//!
//! Invariant: when [`ChunkWriter::finish`] returns, the hasher has seen exactly the bytes in the
//! file; without an error, those are every chunk [`ChunkWriter::send`] accepted, in order.

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

/// What the writer thread gives back: the file and the hasher, whatever happened, and the first
/// write error.
struct Outcome {
    file: std::fs::File,
    hasher: Hasher,
    result: std::io::Result<()>,
}

/// A running writer for one part file.
pub(crate) struct ChunkWriter {
    batches: mpsc::Sender<Vec<Bytes>>,
    thread: JoinHandle<Outcome>,
    path: PathBuf,
}

impl ChunkWriter {
    /// Starts writing at the file's current position, gathering chunks into writes of
    /// `buffer_bytes`, and hashing on from `hasher`'s state.
    pub(crate) async fn start(
        file: tokio::fs::File,
        hasher: Hasher,
        buffer_bytes: usize,
        path: PathBuf,
    ) -> Self {
        let file = file.into_std().await;
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
                let mut out = std::io::BufWriter::with_capacity(buffer_bytes, file);
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
                let (file, _) = out.into_parts();
                Outcome {
                    file,
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

    /// Waits for every accepted chunk to be written and flushed; gives back the file and the
    /// hasher (also after a write error, so the caller can clean up), and the first error.
    pub(crate) async fn finish(
        self,
    ) -> Result<(tokio::fs::File, Hasher, Result<(), TransferError>), TransferError> {
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
        Ok((
            tokio::fs::File::from_std(outcome.file),
            outcome.hasher,
            result,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_accepted_chunk_is_written_in_order_and_hashed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.part");
        std::fs::write(&path, b"head:").unwrap();
        let mut file = tokio::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .await
            .unwrap();
        tokio::io::AsyncWriteExt::flush(&mut file).await.unwrap();
        let expected = crate::integrity::Expected::from_answer(Some(&ddn_api::Checksum {
            algorithm: ddn_api::ChecksumAlgorithm::Md5,
            value: "0".repeat(32),
        }))
        .unwrap();
        let mut hasher = Hasher::for_expected(Some(&expected));
        hasher.update(b"head:");

        let writer = ChunkWriter::start(file, hasher, 7, path.clone()).await;
        let mut expected = b"head:".to_vec();
        for i in 0..200u32 {
            let chunk = format!("chunk {i};").into_bytes();
            expected.extend_from_slice(&chunk);
            let batch = vec![Bytes::from(chunk), Bytes::from_static(b"+")];
            expected.push(b'+');
            assert!(writer.send(batch).await);
        }
        let (_file, hasher, result) = writer.finish().await.unwrap();
        result.unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), expected);
        let digest = <md5::Md5 as md5::Digest>::digest(&expected);
        let whole = crate::integrity::Expected::from_answer(Some(&ddn_api::Checksum {
            algorithm: ddn_api::ChecksumAlgorithm::Md5,
            value: hex::encode(digest),
        }))
        .unwrap();
        assert!(hasher.matches(&whole));
    }

    #[tokio::test]
    async fn a_write_error_is_reported_and_later_chunks_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("read-only");
        std::fs::write(&path, b"").unwrap();
        // A file opened for reading only: every write fails.
        let file = tokio::fs::File::open(&path).await.unwrap();
        let writer = ChunkWriter::start(file, Hasher::default(), 4, path.clone()).await;
        let mut refused = false;
        for _ in 0..(QUEUE_BATCHES * 4) {
            if !writer.send(vec![Bytes::from_static(b"data")]).await {
                refused = true;
                break;
            }
        }
        assert!(refused, "the writer kept accepting chunks after failing");
        let (_file, _hasher, result) = writer.finish().await.unwrap();
        let error = result.unwrap_err();
        assert!(error.to_string().contains("Could not write"), "{error}");
    }
}
