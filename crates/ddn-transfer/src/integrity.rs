//! Checking a download against the checksum the service vouches for, and its length against the
//! one announced: [`check_download`], the only maker of the [`Verified`] a part file needs to take
//! its final name.
//!
//! The service names one whole-object checksum per result (see [`ddn_api::Checksum`]): the MD5 when
//! the ETag is one, else a checksum S3 computed (CRC-64/NVME on every new object, or the one its
//! writer asked for). The ETag itself is never taken for an MD5 here: objects stored with a KMS or
//! customer-provided key, and multipart objects, have ETags that are not.
//!
//! A download in several ranges is checked by [`check_ranges`]: the ranges must cover the object
//! exactly and the part file must have its length; then, for a CRC, the ranges' CRCs (computed as
//! each was written) are combined in order, with no second read; for MD5 and SHA, which do not
//! combine, the finished part file is read once, from start to end. When the service names no
//! checksum (a multipart result without a full-object checksum: its ETag is an MD5 of the parts'
//! MD5s, not of the content), only the length is checked here, and the download itself sees to it
//! that every range came from the same object (each asked with `If-Match` on the ETag, and an
//! answer naming another ETag refused).

use std::io::{Read as _, Seek as _};
use std::path::Path;

use base64::Engine as _;
use ddn_api::{Checksum, ChecksumAlgorithm};
use md5::{Digest as _, Md5};

use crate::error::TransferError;

/// The digest a download must match, decoded from the service's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Expected {
    algorithm: ChecksumAlgorithm,
    digest: Vec<u8>,
}

impl Expected {
    /// Decodes the answer's checksum; `None` when there is none, or it is of an algorithm this
    /// client does not know or malformed (nothing to check against, so only the length is).
    pub(crate) fn from_answer(checksum: Option<&Checksum>) -> Option<Self> {
        let checksum = checksum?;
        let (digest, length) = match checksum.algorithm {
            ChecksumAlgorithm::Md5 => (hex::decode(checksum.value.trim_matches('"')).ok()?, 16),
            ChecksumAlgorithm::Unknown => return None,
            algorithm => {
                let digest = base64::engine::general_purpose::STANDARD
                    .decode(&checksum.value)
                    .ok()?;
                let length = match algorithm {
                    ChecksumAlgorithm::Crc32 | ChecksumAlgorithm::Crc32c => 4,
                    ChecksumAlgorithm::Crc64nvme => 8,
                    ChecksumAlgorithm::Sha1 => 20,
                    _ => 32,
                };
                (digest, length)
            }
        };
        (digest.len() == length).then_some(Self {
            algorithm: checksum.algorithm,
            digest,
        })
    }

    /// The algorithm.
    pub(crate) fn algorithm(&self) -> ChecksumAlgorithm {
        self.algorithm
    }

    /// The CRC this checksum is, when it is one: CRCs of consecutive ranges combine into the
    /// whole object's without reading the bytes again.
    pub(crate) fn crc_algorithm(&self) -> Option<crc_fast::CrcAlgorithm> {
        match self.algorithm {
            ChecksumAlgorithm::Crc32 => Some(crc_fast::CrcAlgorithm::Crc32IsoHdlc),
            ChecksumAlgorithm::Crc32c => Some(crc_fast::CrcAlgorithm::Crc32Iscsi),
            ChecksumAlgorithm::Crc64nvme => Some(crc_fast::CrcAlgorithm::Crc64Nvme),
            _ => None,
        }
    }

    /// Whether the CRC `value` (as `crc_fast` gives it) is this checksum. S3 sends CRCs as their
    /// big-endian bytes: 4 for the 32-bit ones, 8 for CRC-64.
    fn is_crc(&self, value: u64) -> bool {
        let value = value.to_be_bytes();
        value[value.len() - self.digest.len().min(8)..] == self.digest[..]
    }

    /// The algorithm's usual name, for messages.
    pub(crate) fn algorithm_name(&self) -> &'static str {
        match self.algorithm {
            ChecksumAlgorithm::Md5 => "MD5",
            ChecksumAlgorithm::Crc32 => "CRC-32",
            ChecksumAlgorithm::Crc32c => "CRC-32C",
            ChecksumAlgorithm::Crc64nvme => "CRC-64/NVME",
            ChecksumAlgorithm::Sha1 => "SHA-1",
            ChecksumAlgorithm::Sha256 => "SHA-256",
            ChecksumAlgorithm::Unknown => "unknown",
        }
    }
}

/// A running digest of a download's bytes, of the kind its [`Expected`] checksum needs (or none).
#[derive(Clone, Default)]
pub(crate) enum Hasher {
    /// Nothing to check: bytes are only counted.
    #[default]
    Off,
    /// MD5.
    Md5(Md5),
    /// One of the CRCs S3 offers (CRC-32, CRC-32C, CRC-64/NVME).
    Crc(crc_fast::Digest),
    /// SHA-1.
    Sha1(sha1::Sha1),
    /// SHA-256.
    Sha256(sha2::Sha256),
}

impl Hasher {
    /// A fresh digest for checking against `expected`.
    pub(crate) fn for_expected(expected: Option<&Expected>) -> Self {
        let Some(expected) = expected else {
            return Self::Off;
        };
        if let Some(crc) = expected.crc_algorithm() {
            return Self::Crc(crc_fast::Digest::new(crc));
        }
        match expected.algorithm {
            ChecksumAlgorithm::Md5 => Self::Md5(Md5::new()),
            ChecksumAlgorithm::Sha1 => Self::Sha1(sha1::Sha1::new()),
            ChecksumAlgorithm::Sha256 => Self::Sha256(sha2::Sha256::new()),
            _ => Self::Off,
        }
    }

    /// A digest for one range of a download in ranges: a CRC when `expected` is one (the ranges'
    /// CRCs combine into the whole object's), else none (MD5 and SHA do not combine: the finished
    /// file is read once instead, by [`check_ranges`]).
    pub(crate) fn for_range(expected: Option<&Expected>) -> Self {
        match expected.and_then(Expected::crc_algorithm) {
            Some(crc) => Self::Crc(crc_fast::Digest::new(crc)),
            None => Self::Off,
        }
    }

    /// The CRC of the bytes so far, for a CRC digest.
    pub(crate) fn crc(&self) -> Option<u64> {
        match self {
            Self::Crc(digest) => Some(digest.finalize()),
            _ => None,
        }
    }

    /// Starts over, for data that will be received again from its start.
    pub(crate) fn reset(&mut self) {
        match self {
            Self::Off => {}
            Self::Md5(hasher) => *hasher = Md5::new(),
            Self::Crc(digest) => digest.reset(),
            Self::Sha1(hasher) => *hasher = sha1::Sha1::new(),
            Self::Sha256(hasher) => *hasher = sha2::Sha256::new(),
        }
    }

    /// Adds bytes.
    pub(crate) fn update(&mut self, bytes: &[u8]) {
        match self {
            Self::Off => {}
            Self::Md5(hasher) => hasher.update(bytes),
            Self::Crc(digest) => digest.update(bytes),
            Self::Sha1(hasher) => hasher.update(bytes),
            Self::Sha256(hasher) => hasher.update(bytes),
        }
    }

    /// Whether the bytes so far have the `expected` digest.
    pub(crate) fn matches(&self, expected: &Expected) -> bool {
        let actual: Vec<u8> = match self {
            Self::Off => return false,
            Self::Md5(hasher) => hasher.clone().finalize().to_vec(),
            Self::Sha1(hasher) => hasher.clone().finalize().to_vec(),
            Self::Sha256(hasher) => hasher.clone().finalize().to_vec(),
            Self::Crc(digest) => return expected.is_crc(digest.finalize()),
        };
        actual == expected.digest
    }
}

/// Proof that a download was checked complete and intact ([`check_download`]).
#[derive(Debug)]
pub(crate) struct Verified(());

/// Checks what a download wrote: `written` must be the `total` the service announced, and the
/// content must match the checksum it named, when it named one.
///
/// # Errors
/// [`TransferError::Integrity`] saying which differs.
pub(crate) fn check_download(
    written: u64,
    total: u64,
    expected: Option<&Expected>,
    hasher: &Hasher,
) -> Result<Verified, TransferError> {
    if written != total {
        return Err(TransferError::Integrity(format!(
            "{written} of {total} bytes arrived"
        )));
    }
    if let Some(expected) = expected
        && !hasher.matches(expected)
    {
        return Err(TransferError::Integrity(format!(
            "the {} checksum differs",
            expected.algorithm_name()
        )));
    }
    Ok(Verified(()))
}

/// One range of a download in ranges that is on disk: where it starts, how long it is, and its
/// CRC when the whole object's checksum is a CRC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RangeOnDisk {
    /// Its first byte's offset in the object.
    pub(crate) offset: u64,
    /// Its length.
    pub(crate) length: u64,
    /// Its CRC, computed as it was written.
    pub(crate) crc: Option<u64>,
}

/// Bytes read at once when a part file is read back.
const READ_BACK_BYTES: usize = 1024 * 1024;

/// Feeds `length` bytes of the file at `path` from `offset` on into `hasher`, in large reads.
/// Answers how many there were (fewer when the file is shorter).
///
/// # Errors
/// The file system's error.
pub(crate) fn read_into(
    path: &Path,
    offset: u64,
    length: u64,
    hasher: &mut Hasher,
) -> std::io::Result<u64> {
    let mut file = std::fs::File::open(path)?;
    file.seek(std::io::SeekFrom::Start(offset))?;
    let mut file = file.take(length);
    let mut buffer = vec![0; READ_BACK_BYTES];
    let mut read = 0;
    loop {
        match file.read(&mut buffer) {
            Ok(0) => return Ok(read),
            Ok(n) => {
                hasher.update(&buffer[..n]);
                read += n as u64;
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// Whether the bytes of `range` in the part file at `path` still have the CRC recorded for it
/// (a range kept from an earlier run is checked so before it is trusted). `false` for a range
/// with no CRC, or a checksum that is not a CRC.
///
/// # Errors
/// The file system's error.
pub(crate) fn range_intact(
    path: &Path,
    range: &RangeOnDisk,
    expected: Option<&Expected>,
) -> std::io::Result<bool> {
    let (Some(recorded), Some(crc)) = (range.crc, expected.and_then(Expected::crc_algorithm))
    else {
        return Ok(false);
    };
    let mut hasher = Hasher::Crc(crc_fast::Digest::new(crc));
    let read = read_into(path, range.offset, range.length, &mut hasher)?;
    Ok(read == range.length && hasher.crc() == Some(recorded))
}

/// The whole-object digest of a download in ranges whose checksum does not combine (MD5, SHA),
/// computed by reading the part file back in order: while the download runs, as far as its
/// ranges are on disk from the first byte on, and the rest at the end ([`check_ranges`]), so the
/// check after the last range reads only what arrived last.
pub(crate) struct ReadBack {
    hasher: Hasher,
    /// Bytes hashed from the start of the file.
    hashed: u64,
}

impl ReadBack {
    /// A digest from the first byte, for `expected` when it is neither absent nor a CRC.
    pub(crate) fn new(expected: Option<&Expected>) -> Option<Self> {
        let expected = expected.filter(|e| e.crc_algorithm().is_none())?;
        Some(Self {
            hasher: Hasher::for_expected(Some(expected)),
            hashed: 0,
        })
    }

    /// Bytes hashed so far, from the start of the file.
    pub(crate) fn hashed(&self) -> u64 {
        self.hashed
    }

    /// Reads the part file at `path` on from where the digest stands up to `upto`. Blocking.
    ///
    /// # Errors
    /// The file system's error (the digest is then of no further use).
    pub(crate) fn advance(&mut self, path: &Path, upto: u64) -> std::io::Result<()> {
        let length = upto.saturating_sub(self.hashed);
        let read = read_into(path, self.hashed, length, &mut self.hasher)?;
        self.hashed += read;
        Ok(())
    }
}

/// Where the ranges in `ranges` reach from the first byte on without a gap.
pub(crate) fn contiguous_end(ranges: &[RangeOnDisk]) -> u64 {
    let mut offsets: Vec<(u64, u64)> = ranges.iter().map(|r| (r.offset, r.length)).collect();
    offsets.sort_unstable();
    let mut end = 0u64;
    for (offset, length) in offsets {
        if offset != end {
            break;
        }
        end = end.saturating_add(length);
    }
    end
}

/// Checks a download made in ranges, from the part file at `path`: the ranges must cover the
/// `total` bytes exactly, once each, and the file must hold that many; then, when the service
/// named a checksum, the content must match it: a CRC is combined from the ranges' CRCs, any
/// other checksum (or a range without its CRC) is computed by reading the file: on from
/// `read_back`, the digest made while the ranges arrived, when there is one. Blocking.
///
/// # Errors
/// [`TransferError::Integrity`] saying what differs; [`TransferError::Io`] when the file cannot
/// be read.
pub(crate) fn check_ranges(
    path: &Path,
    total: u64,
    ranges: &[RangeOnDisk],
    expected: Option<&Expected>,
    read_back: Option<ReadBack>,
) -> Result<Verified, TransferError> {
    let mut ranges = ranges.to_vec();
    ranges.sort_by_key(|range| range.offset);
    let mut covered = 0u64;
    for range in &ranges {
        if range.offset != covered {
            // A gap or an overlap: count only what is covered from the start.
            break;
        }
        covered = covered.saturating_add(range.length);
    }
    if covered != total {
        return Err(TransferError::Integrity(format!(
            "{covered} of {total} bytes arrived"
        )));
    }
    let read_error = |e| TransferError::io("read", path, e);
    let on_disk = std::fs::metadata(path).map_err(read_error)?.len();
    if on_disk != total {
        return Err(TransferError::Integrity(format!(
            "the partial file holds {on_disk} of {total} bytes"
        )));
    }
    let Some(expected) = expected else {
        return Ok(Verified(()));
    };
    let crcs: Option<Vec<(u64, u64)>> = ranges
        .iter()
        .map(|range| range.crc.map(|crc| (crc, range.length)))
        .collect();
    let matches = match (expected.crc_algorithm(), crcs) {
        (Some(algorithm), Some(crcs)) => {
            let whole = crcs
                .into_iter()
                .reduce(|(a, _), (b, length)| {
                    (crc_fast::checksum_combine(algorithm, a, b, length), 0)
                })
                .map_or(0, |(crc, _)| crc);
            expected.is_crc(whole)
        }
        _ => {
            let mut read_back = read_back.unwrap_or(ReadBack {
                hasher: Hasher::for_expected(Some(expected)),
                hashed: 0,
            });
            read_back.advance(path, total).map_err(read_error)?;
            read_back.hashed == total && read_back.hasher.matches(expected)
        }
    };
    if matches {
        Ok(Verified(()))
    } else {
        Err(TransferError::Integrity(format!(
            "the {} checksum differs",
            expected.algorithm_name()
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn md5_checksum(data: &[u8]) -> Expected {
        Expected::from_answer(Some(&ddn_api::Checksum {
            algorithm: ChecksumAlgorithm::Md5,
            value: hex::encode(Md5::digest(data)),
        }))
        .unwrap()
    }

    #[test]
    fn downloads_are_checked_for_length_and_checksum() {
        let md5 = md5_checksum(b"hello");
        let mut hasher = Hasher::for_expected(Some(&md5));
        hasher.update(b"hello");
        assert!(check_download(5, 5, Some(&md5), &hasher).is_ok());
        assert!(check_download(5, 5, None, &hasher).is_ok());
        let short = check_download(4, 5, Some(&md5), &hasher).unwrap_err();
        assert_eq!(
            short.to_string(),
            "The downloaded data is damaged (4 of 5 bytes arrived); it was not saved."
        );
        let other = check_download(5, 5, Some(&md5_checksum(b"hellO")), &hasher).unwrap_err();
        assert_eq!(
            other.to_string(),
            "The downloaded data is damaged (the MD5 checksum differs); it was not saved."
        );
    }

    fn expected(algorithm: ChecksumAlgorithm, value: &str) -> Option<Expected> {
        Expected::from_answer(Some(&Checksum {
            algorithm,
            value: value.to_owned(),
        }))
    }

    fn check(algorithm: ChecksumAlgorithm, value: &str, data: &[u8]) -> bool {
        let expected = expected(algorithm, value).expect("a usable checksum");
        let mut hasher = Hasher::for_expected(Some(&expected));
        // Fed in two pieces, as chunks arrive.
        let (a, b) = data.split_at(data.len() / 2);
        hasher.update(a);
        hasher.update(b);
        hasher.matches(&expected)
    }

    /// Digests of "hello world" as S3 reports them (base64 of the big-endian bytes; MD5 in hex).
    #[test]
    fn every_algorithm_s3_reports_is_checked() {
        let data = b"hello world";
        let table = [
            (ChecksumAlgorithm::Md5, "5eb63bbbe01eeed093cb22bb8f5acdc3"),
            (ChecksumAlgorithm::Crc32, "DUoRhQ=="),
            (ChecksumAlgorithm::Crc32c, "yZRlqg=="),
            (ChecksumAlgorithm::Crc64nvme, "jSnVw/bqjr4="),
            (ChecksumAlgorithm::Sha1, "Kq5sNclPz7QV2+lfQIuc6R7oRu0="),
            (
                ChecksumAlgorithm::Sha256,
                "uU0nuZNNPgilLlLX2n2r+sSE7+N6U4DukIj3rOLvzek=",
            ),
        ];
        for (algorithm, value) in table {
            assert!(check(algorithm, value, data), "{algorithm:?}");
            assert!(!check(algorithm, value, b"hello World"), "{algorithm:?}");
        }
    }

    #[test]
    fn unusable_checksums_are_not_trusted() {
        assert_eq!(expected(ChecksumAlgorithm::Md5, "xyz"), None);
        assert_eq!(expected(ChecksumAlgorithm::Md5, "5eb63bbb"), None);
        assert_eq!(expected(ChecksumAlgorithm::Crc32, "not base64!"), None);
        assert_eq!(expected(ChecksumAlgorithm::Sha256, "DUoRhQ=="), None);
        assert_eq!(expected(ChecksumAlgorithm::Unknown, "DUoRhQ=="), None);
        assert_eq!(Expected::from_answer(None), None);
    }

    /// `data` cut into ranges of `size` bytes, each with the CRC `for_range` computes for it.
    fn ranges_of(data: &[u8], size: usize, expected: Option<&Expected>) -> Vec<RangeOnDisk> {
        data.chunks(size)
            .enumerate()
            .map(|(i, chunk)| {
                let mut hasher = Hasher::for_range(expected);
                hasher.update(chunk);
                RangeOnDisk {
                    offset: (i * size) as u64,
                    length: chunk.len() as u64,
                    crc: hasher.crc(),
                }
            })
            .collect()
    }

    /// A part file holding `data`.
    fn part_file(data: &[u8]) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("object.part");
        std::fs::write(&path, data).unwrap();
        (dir, path)
    }

    fn damaged(message: &str) -> String {
        format!("The downloaded data is damaged ({message}); it was not saved.")
    }

    #[test]
    fn the_crcs_of_ranges_combine_into_the_whole_objects() {
        let data = sample_data(100_003);
        for algorithm in [
            ChecksumAlgorithm::Crc32,
            ChecksumAlgorithm::Crc32c,
            ChecksumAlgorithm::Crc64nvme,
        ] {
            let expected = whole_crc(algorithm, &data);
            // Ranges out of order, as they finish: they are combined in the object's order.
            let mut ranges = ranges_of(&data, 7_000, Some(&expected));
            ranges.reverse();
            // The file is not read: zeros of the right length pass, so a CRC check costs no
            // second pass over a large file (a range kept from an earlier run is checked apart,
            // by `range_intact`).
            let (_dir, zeros) = part_file(&vec![0; data.len()]);
            let total = data.len() as u64;
            assert!(check_ranges(&zeros, total, &ranges, Some(&expected), None).is_ok());
            ranges[3].crc = ranges[3].crc.map(|crc| crc ^ 1);
            let error = check_ranges(&zeros, total, &ranges, Some(&expected), None).unwrap_err();
            let name = expected.algorithm_name();
            assert_eq!(
                error.to_string(),
                damaged(&format!("the {name} checksum differs"))
            );
        }
    }

    #[test]
    fn checksums_that_do_not_combine_are_computed_from_the_finished_file() {
        let data = sample_data(50_001);
        let md5 = md5_checksum(&data);
        let ranges = ranges_of(&data, 4_096, Some(&md5));
        assert!(ranges.iter().all(|range| range.crc.is_none()));
        let (_dir, path) = part_file(&data);
        let total = data.len() as u64;
        assert!(check_ranges(&path, total, &ranges, Some(&md5), None).is_ok());
        let mut corrupt = data.clone();
        corrupt[40_000] ^= 0x20;
        std::fs::write(&path, &corrupt).unwrap();
        let error = check_ranges(&path, total, &ranges, Some(&md5), None).unwrap_err();
        assert_eq!(error.to_string(), damaged("the MD5 checksum differs"));
        // With no checksum named, only the length is checked.
        assert!(check_ranges(&path, total, &ranges, None, None).is_ok());
    }

    #[test]
    fn a_digest_read_back_while_ranges_arrive_ends_the_same() {
        let data = sample_data(30_000);
        let md5 = md5_checksum(&data);
        let (_dir, path) = part_file(&data);
        let ranges = ranges_of(&data, 4_000, Some(&md5));
        // The ranges that came first, out of order: the digest goes as far as they reach.
        let mut read_back = ReadBack::new(Some(&md5)).unwrap();
        let first = [ranges[1], ranges[0], ranges[3]];
        assert_eq!(contiguous_end(&first), 8_000);
        read_back.advance(&path, contiguous_end(&first)).unwrap();
        assert_eq!(read_back.hashed(), 8_000);
        let total = data.len() as u64;
        assert!(check_ranges(&path, total, &ranges, Some(&md5), Some(read_back)).is_ok());
        // What was hashed early is not read again: damage behind it goes unseen by the check,
        // so the digest must only ever go over bytes that are final (whole ranges on disk).
        let mut read_back = ReadBack::new(Some(&md5)).unwrap();
        read_back.advance(&path, 8_000).unwrap();
        damage_at(&path, 100);
        assert!(check_ranges(&path, total, &ranges, Some(&md5), Some(read_back)).is_ok());
        let error = check_ranges(&path, total, &ranges, Some(&md5), None).unwrap_err();
        assert_eq!(error.to_string(), damaged("the MD5 checksum differs"));
        // CRCs combine, and nothing is read back for them.
        let crc = whole_crc(ChecksumAlgorithm::Crc32c, &data);
        assert!(ReadBack::new(Some(&crc)).is_none());
        assert!(ReadBack::new(None).is_none());
    }

    fn damage_at(path: &std::path::Path, offset: usize) {
        let mut bytes = std::fs::read(path).unwrap();
        bytes[offset] ^= 1;
        std::fs::write(path, bytes).unwrap();
    }

    #[test]
    fn ranges_must_cover_the_object_once_and_the_file_hold_it() {
        let data = sample_data(10_000);
        let (_dir, path) = part_file(&data);
        let ranges = ranges_of(&data, 3_000, None);
        let total = data.len() as u64;
        let check = |ranges: &[RangeOnDisk], total| {
            check_ranges(&path, total, ranges, None, None)
                .map(drop)
                .map_err(|e| e.to_string())
        };
        assert_eq!(check(&ranges, total), Ok(()));
        let missing = [ranges[0], ranges[2], ranges[3]];
        assert_eq!(
            check(&missing, total),
            Err(damaged("3000 of 10000 bytes arrived"))
        );
        let twice = [ranges[0], ranges[0], ranges[1], ranges[2], ranges[3]];
        assert_eq!(
            check(&twice, total),
            Err(damaged("3000 of 10000 bytes arrived"))
        );
        std::fs::write(&path, [&data[..], b"tail"].concat()).unwrap();
        assert_eq!(
            check(&ranges, total),
            Err(damaged("the partial file holds 10004 of 10000 bytes"))
        );
    }

    #[test]
    fn a_kept_range_is_trusted_only_while_its_bytes_have_its_crc() {
        let data = sample_data(9_000);
        let expected = whole_crc(ChecksumAlgorithm::Crc64nvme, &data);
        let ranges = ranges_of(&data, 4_000, Some(&expected));
        let (_dir, path) = part_file(&data);
        for range in &ranges {
            assert!(range_intact(&path, range, Some(&expected)).unwrap());
        }
        let mut corrupt = data.clone();
        corrupt[5_000] ^= 1;
        std::fs::write(&path, &corrupt).unwrap();
        let intact: Vec<bool> = ranges
            .iter()
            .map(|range| range_intact(&path, range, Some(&expected)).unwrap())
            .collect();
        assert_eq!(intact, [true, false, true]);
        // A file cut short, or a checksum that is not a CRC: nothing to trust the range by.
        std::fs::write(&path, &data[..8_000]).unwrap();
        assert!(!range_intact(&path, &ranges[2], Some(&expected)).unwrap());
        assert!(!range_intact(&path, &ranges[0], Some(&md5_checksum(&data))).unwrap());
    }

    /// Pseudo-random bytes (a simple LCG: the checks need varied data, not good randomness).
    fn sample_data(len: usize) -> Vec<u8> {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        (0..len)
            .map(|_| {
                state = state
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1);
                (state >> 56) as u8
            })
            .collect()
    }

    /// The checksum of `data` by `algorithm`, as S3 reports it.
    fn whole_crc(algorithm: ChecksumAlgorithm, data: &[u8]) -> Expected {
        let crc = match algorithm {
            ChecksumAlgorithm::Crc32 => crc_fast::CrcAlgorithm::Crc32IsoHdlc,
            ChecksumAlgorithm::Crc32c => crc_fast::CrcAlgorithm::Crc32Iscsi,
            _ => crc_fast::CrcAlgorithm::Crc64Nvme,
        };
        let value = crc_fast::checksum(crc, data).to_be_bytes();
        let bytes = if algorithm == ChecksumAlgorithm::Crc64nvme {
            &value[..]
        } else {
            &value[4..]
        };
        expected(
            algorithm,
            &base64::engine::general_purpose::STANDARD.encode(bytes),
        )
        .unwrap()
    }
}
