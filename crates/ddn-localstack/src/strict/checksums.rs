//! The digests S3 keeps for a part and for a whole object: the algorithms a request can name, their
//! base64 form, the running digests of a part's bytes, and the whole-object CRC of a multipart
//! object, combined from its parts' CRCs without reading the data again.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use crc_fast::CrcAlgorithm;
use md5::{Digest as _, Md5};
use s3s::dto::ChecksumAlgorithm;
use sha1::Sha1;
use sha2::Sha256;

/// A checksum algorithm S3 accepts in `x-amz-checksum-*` headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(super) enum Algorithm {
    Crc32,
    Crc32c,
    Crc64Nvme,
    Sha1,
    Sha256,
}

impl Algorithm {
    /// Every algorithm, in the order answers list them.
    pub(super) const ALL: [Self; 5] = [
        Self::Crc32,
        Self::Crc32c,
        Self::Crc64Nvme,
        Self::Sha1,
        Self::Sha256,
    ];

    /// The algorithm a request names (`x-amz-checksum-algorithm`, `x-amz-sdk-checksum-algorithm`).
    pub(super) fn from_dto(algorithm: &ChecksumAlgorithm) -> Option<Self> {
        match algorithm.as_str() {
            ChecksumAlgorithm::CRC32 => Some(Self::Crc32),
            ChecksumAlgorithm::CRC32C => Some(Self::Crc32c),
            ChecksumAlgorithm::CRC64NVME => Some(Self::Crc64Nvme),
            ChecksumAlgorithm::SHA1 => Some(Self::Sha1),
            ChecksumAlgorithm::SHA256 => Some(Self::Sha256),
            _ => None,
        }
    }

    /// The algorithm as answers name it.
    pub(super) fn to_dto(self) -> ChecksumAlgorithm {
        ChecksumAlgorithm::from_static(match self {
            Self::Crc32 => ChecksumAlgorithm::CRC32,
            Self::Crc32c => ChecksumAlgorithm::CRC32C,
            Self::Crc64Nvme => ChecksumAlgorithm::CRC64NVME,
            Self::Sha1 => ChecksumAlgorithm::SHA1,
            Self::Sha256 => ChecksumAlgorithm::SHA256,
        })
    }

    /// The header (or trailer) that carries a value of this algorithm.
    pub(super) fn header(self) -> &'static str {
        match self {
            Self::Crc32 => "x-amz-checksum-crc32",
            Self::Crc32c => "x-amz-checksum-crc32c",
            Self::Crc64Nvme => "x-amz-checksum-crc64nvme",
            Self::Sha1 => "x-amz-checksum-sha1",
            Self::Sha256 => "x-amz-checksum-sha256",
        }
    }

    /// The algorithm whose value travels in `header` (a trailer name, lowercase).
    pub(super) fn from_header(header: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|algorithm| algorithm.header().eq_ignore_ascii_case(header.trim()))
    }

    /// The CRC parameters, for the three CRCs; `None` for the hashes, which do not combine.
    pub(super) fn crc(self) -> Option<CrcAlgorithm> {
        match self {
            Self::Crc32 => Some(CrcAlgorithm::Crc32IsoHdlc),
            Self::Crc32c => Some(CrcAlgorithm::Crc32Iscsi),
            Self::Crc64Nvme => Some(CrcAlgorithm::Crc64Nvme),
            Self::Sha1 | Self::Sha256 => None,
        }
    }

    /// How many bytes a value of this algorithm has.
    fn len(self) -> usize {
        match self {
            Self::Crc32 | Self::Crc32c => 4,
            Self::Crc64Nvme => 8,
            Self::Sha1 => 20,
            Self::Sha256 => 32,
        }
    }
}

/// The bytes of a base64 checksum value, when it is base64 of exactly the algorithm's length.
pub(super) fn decode(algorithm: Algorithm, value: &str) -> Option<Vec<u8>> {
    BASE64
        .decode(value.trim())
        .ok()
        .filter(|bytes| bytes.len() == algorithm.len())
}

/// The base64 form S3 uses for a checksum's bytes.
pub(super) fn encode(bytes: &[u8]) -> String {
    BASE64.encode(bytes)
}

/// The bytes of a `Content-MD5` value, when it is base64 of 16 bytes.
pub(super) fn decode_md5(value: &str) -> Option<[u8; 16]> {
    BASE64.decode(value.trim()).ok()?.try_into().ok()
}

/// A CRC value as S3 writes it: big-endian, four bytes for the CRC-32s, eight for CRC-64/NVME.
fn crc_bytes(algorithm: Algorithm, crc: u64) -> Vec<u8> {
    match algorithm {
        Algorithm::Crc64Nvme => crc.to_be_bytes().to_vec(),
        // The CRC-32s fill the low half of crc-fast's u64.
        _ => crc.to_be_bytes()[4..].to_vec(),
    }
}

/// What was computed over one part's bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Sums {
    pub(super) size: u64,
    pub(super) md5: [u8; 16],
    pub(super) crc32: u64,
    pub(super) crc32c: u64,
    pub(super) crc64nvme: u64,
    /// Only computed when the request or the upload asks for it: the hashes cost far more than
    /// the CRCs.
    pub(super) sha1: Option<Vec<u8>>,
    pub(super) sha256: Option<Vec<u8>>,
}

impl Sums {
    /// The ETag S3 gives a part (unencrypted or SSE-S3): the hex MD5 of its bytes.
    pub(super) fn etag(&self) -> String {
        hex::encode(self.md5)
    }

    /// A CRC's value as a number, for combining.
    pub(super) fn crc(&self, algorithm: Algorithm) -> Option<u64> {
        match algorithm {
            Algorithm::Crc32 => Some(self.crc32),
            Algorithm::Crc32c => Some(self.crc32c),
            Algorithm::Crc64Nvme => Some(self.crc64nvme),
            Algorithm::Sha1 | Algorithm::Sha256 => None,
        }
    }

    /// The checksum's bytes, when it was computed.
    pub(super) fn value(&self, algorithm: Algorithm) -> Option<Vec<u8>> {
        match algorithm {
            Algorithm::Sha1 => self.sha1.clone(),
            Algorithm::Sha256 => self.sha256.clone(),
            crc => self.crc(crc).map(|value| crc_bytes(crc, value)),
        }
    }

    /// The checksum in base64, when it was computed.
    pub(super) fn encoded(&self, algorithm: Algorithm) -> Option<String> {
        self.value(algorithm).map(|bytes| encode(&bytes))
    }
}

/// The running digests of a part as its bytes go by.
pub(super) struct Hasher {
    size: u64,
    md5: Md5,
    crc32: crc_fast::Digest,
    crc32c: crc_fast::Digest,
    crc64nvme: crc_fast::Digest,
    sha1: Option<Sha1>,
    sha256: Option<Sha256>,
}

impl Hasher {
    /// MD5 and the three CRCs always; the hashes only when `with_sha1` or `with_sha256`.
    pub(super) fn new(with_sha1: bool, with_sha256: bool) -> Self {
        Self {
            size: 0,
            md5: Md5::new(),
            crc32: crc_fast::Digest::new(CrcAlgorithm::Crc32IsoHdlc),
            crc32c: crc_fast::Digest::new(CrcAlgorithm::Crc32Iscsi),
            crc64nvme: crc_fast::Digest::new(CrcAlgorithm::Crc64Nvme),
            sha1: with_sha1.then(Sha1::new),
            sha256: with_sha256.then(Sha256::new),
        }
    }

    pub(super) fn update(&mut self, bytes: &[u8]) {
        self.size += bytes.len() as u64;
        self.md5.update(bytes);
        self.crc32.update(bytes);
        self.crc32c.update(bytes);
        self.crc64nvme.update(bytes);
        if let Some(sha1) = &mut self.sha1 {
            sha1.update(bytes);
        }
        if let Some(sha256) = &mut self.sha256 {
            sha256.update(bytes);
        }
    }

    pub(super) fn finish(self) -> Sums {
        Sums {
            size: self.size,
            md5: self.md5.finalize().into(),
            crc32: self.crc32.finalize(),
            crc32c: self.crc32c.finalize(),
            crc64nvme: self.crc64nvme.finalize(),
            sha1: self.sha1.map(|sha1| sha1.finalize().to_vec()),
            sha256: self.sha256.map(|sha256| sha256.finalize().to_vec()),
        }
    }
}

/// The CRC of the parts' bytes one after the other, from each part's CRC and size alone; `None`
/// for a hash algorithm or no parts.
pub(super) fn combined<'a>(
    algorithm: Algorithm,
    parts: impl IntoIterator<Item = &'a Sums>,
) -> Option<Vec<u8>> {
    let crc_algorithm = algorithm.crc()?;
    let mut parts = parts.into_iter();
    let first = parts.next()?.crc(algorithm)?;
    let whole = parts.try_fold(first, |whole, part| {
        Some(crc_fast::checksum_combine(
            crc_algorithm,
            whole,
            part.crc(algorithm)?,
            part.size,
        ))
    })?;
    Some(crc_bytes(algorithm, whole))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn sums(bytes: &[u8]) -> Sums {
        let mut hasher = Hasher::new(true, true);
        // In uneven pieces, as a body arrives.
        for piece in bytes.chunks(7) {
            hasher.update(piece);
        }
        hasher.finish()
    }

    #[test]
    fn combined_parts_give_the_crc_of_the_whole() {
        let whole: Vec<u8> = (0..10_000u32).map(|i| (i * 31 % 251) as u8).collect();
        let parts: Vec<Sums> = [0..1, 1..4096, 4096..4097, 4097..10_000]
            .into_iter()
            .map(|range| sums(&whole[range]))
            .collect();
        let expected = sums(&whole);
        for algorithm in [Algorithm::Crc32, Algorithm::Crc32c, Algorithm::Crc64Nvme] {
            assert_eq!(
                combined(algorithm, &parts),
                expected.value(algorithm),
                "{algorithm:?}"
            );
        }
        assert_eq!(combined(Algorithm::Sha256, &parts), None);
        assert_eq!(combined(Algorithm::Crc32, &[]), None);
    }

    #[test]
    fn values_are_written_as_s3_writes_them() {
        // The published check values of "123456789", in S3's base64 of big-endian bytes.
        let check = sums(b"123456789");
        assert_eq!(
            check.value(Algorithm::Crc32).unwrap(),
            0xcbf4_3926u32.to_be_bytes()
        );
        assert_eq!(
            check.value(Algorithm::Crc32c).unwrap(),
            0xe306_9283u32.to_be_bytes()
        );
        assert_eq!(
            check.value(Algorithm::Crc64Nvme).unwrap(),
            0xae8b_1486_0a79_9888u64.to_be_bytes()
        );
        assert_eq!(check.etag(), "25f9e794323b453885f5181f1b624d0b");
        let encoded = check.encoded(Algorithm::Crc64Nvme).unwrap();
        assert_eq!(
            decode(Algorithm::Crc64Nvme, &encoded),
            check.value(Algorithm::Crc64Nvme)
        );
        // A value of another algorithm's length is not taken for this one.
        assert_eq!(decode(Algorithm::Crc32, &encoded), None);
        assert_eq!(decode_md5("not base64!"), None);
    }

    #[test]
    fn trailer_names_map_to_their_algorithms() {
        for algorithm in Algorithm::ALL {
            assert_eq!(Algorithm::from_header(algorithm.header()), Some(algorithm));
            assert_eq!(Algorithm::from_dto(&algorithm.to_dto()), Some(algorithm));
        }
        assert_eq!(Algorithm::from_header("x-amz-meta-crc"), None);
    }
}
