//! Test data: pseudo-random, incompressible bytes from a seed, so that a shifted, truncated or
//! mixed-up copy never compares equal by accident, and no layer can shrink it.

use std::io::Write as _;
use std::path::Path;

/// One xorshift64 stream, eight bytes a step.
struct Stream(u64);

impl Stream {
    fn new(seed: u64) -> Self {
        // Never zero: xorshift would stay at zero forever.
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn fill(&mut self, buffer: &mut [u8]) {
        for chunk in buffer.chunks_mut(8) {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            chunk.copy_from_slice(&self.0.to_le_bytes()[..chunk.len()]);
        }
    }
}

/// `len` bytes of the stream for `seed`.
pub fn sample_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut bytes = vec![0u8; len];
    Stream::new(seed).fill(&mut bytes);
    bytes
}

/// Writes `len` bytes of the stream for `seed` to `path`, 1 MiB at a time (never the whole file
/// in memory). The same seed gives the same bytes as [`sample_bytes`].
///
/// # Errors
/// Any error creating or writing the file.
pub fn write_sample_file(path: &Path, len: u64, seed: u64) -> std::io::Result<()> {
    const BLOCK: usize = 1024 * 1024;
    let mut file = std::io::BufWriter::new(std::fs::File::create(path)?);
    let mut stream = Stream::new(seed);
    let mut block = vec![0u8; BLOCK];
    let mut left = len;
    while left > 0 {
        let n = usize::try_from(left).unwrap_or(BLOCK).min(BLOCK);
        stream.fill(&mut block[..BLOCK]);
        file.write_all(&block[..n])?;
        left -= n as u64;
    }
    file.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_give_different_streams_and_files_match_memory() {
        let a = sample_bytes(4096, 1);
        assert_eq!(a, sample_bytes(4096, 1));
        assert_ne!(a, sample_bytes(4096, 2));
        assert_ne!(&a[..2048], &a[2048..]);
        assert_eq!(sample_bytes(3, 1), a[..3]);

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sample.bin");
        write_sample_file(&path, 4096, 1).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), a);
    }
}
