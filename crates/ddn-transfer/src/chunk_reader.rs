//! Reads a file for upload on a thread of its own, in large chunks, ahead of the network: the
//! request body only takes ready chunks from a short queue.
//!
//! Each chunk is read straight into the buffer that is then sent, so a byte is copied once on its
//! way from the disk to the socket. The reader stops when the body is dropped (the request ended
//! or failed), at the end of the file, or on a read error, which ends the body with that error.

use bytes::{Bytes, BytesMut};
use futures_util::Stream;
use tokio::sync::mpsc;

/// Chunks read ahead at most: the memory an upload holds is about this times the chunk size.
const READ_AHEAD_CHUNKS: usize = 4;

/// Streams `file` from its current position to its end in chunks of `chunk_bytes`. Any reader
/// will do: a multipart upload's part is a file seeked to its offset and `take`n to its length.
pub(crate) fn read_chunks(
    mut file: impl std::io::Read + Send + 'static,
    chunk_bytes: usize,
) -> impl Stream<Item = std::io::Result<Bytes>> + Send + 'static {
    let (chunks, queue) = mpsc::channel(READ_AHEAD_CHUNKS);
    tokio::task::spawn_blocking(move || {
        loop {
            let mut buffer = BytesMut::zeroed(chunk_bytes);
            let mut filled = 0;
            // Fill the whole chunk unless the file ends: short reads would mean small sends.
            let outcome = loop {
                match file.read(&mut buffer[filled..]) {
                    Ok(0) => break Ok(()),
                    Ok(n) => {
                        filled += n;
                        if filled == chunk_bytes {
                            break Ok(());
                        }
                    }
                    Err(error) if error.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(error) => break Err(error),
                }
            };
            let at_end = filled < chunk_bytes;
            if filled > 0 {
                buffer.truncate(filled);
                if chunks.blocking_send(Ok(buffer.freeze())).is_err() {
                    return;
                }
            }
            if let Err(error) = outcome {
                let _ = chunks.blocking_send(Err(error));
                return;
            }
            if at_end {
                return;
            }
        }
    });
    futures_util::stream::unfold(queue, |mut queue| async move {
        queue.recv().await.map(|chunk| (chunk, queue))
    })
}

#[cfg(test)]
mod tests {
    use futures_util::StreamExt as _;

    use super::*;

    async fn read_all(content: &[u8], chunk_bytes: usize) -> Vec<Bytes> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, content).unwrap();
        let file = std::fs::File::open(&path).unwrap();
        read_chunks(file, chunk_bytes)
            .map(|chunk| chunk.unwrap())
            .collect()
            .await
    }

    #[tokio::test]
    async fn chunks_are_full_except_the_last_and_join_to_the_file() {
        let content: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
        let chunks = read_all(&content, 4096).await;
        let sizes: Vec<usize> = chunks.iter().map(Bytes::len).collect();
        assert_eq!(sizes, [4096, 4096, 1808]);
        assert_eq!(chunks.concat(), content);
    }

    #[tokio::test]
    async fn an_empty_file_is_an_empty_stream_and_an_exact_multiple_has_no_empty_tail() {
        assert!(read_all(b"", 16).await.is_empty());
        let sizes: Vec<usize> = read_all(&[1; 32], 16)
            .await
            .iter()
            .map(Bytes::len)
            .collect();
        assert_eq!(sizes, [16, 16]);
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn a_read_error_ends_the_body_with_that_error() {
        // A folder opens as a file on Unix, and reading it fails.
        let dir = tempfile::tempdir().unwrap();
        let folder = std::fs::File::open(dir.path()).unwrap();
        let items: Vec<std::io::Result<Bytes>> = read_chunks(folder, 16).collect().await;
        assert_eq!(items.len(), 1);
        assert!(items[0].is_err());
    }
}
