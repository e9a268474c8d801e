//! Checking a download against the checksum the service vouches for, and its length against the
//! one announced: [`check_download`], the only maker of the [`Verified`] a part file needs to take
//! its final name.
//!
//! The service names one whole-object checksum per result (see [`ddn_api::Checksum`]): the MD5 when
//! the ETag is one, else a checksum S3 computed (CRC-64/NVME on every new object, or the one its
//! writer asked for). The ETag itself is never taken for an MD5 here: objects stored with a KMS or
//! customer-provided key, and multipart objects, have ETags that are not.

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
        match expected.algorithm {
            ChecksumAlgorithm::Md5 => Self::Md5(Md5::new()),
            ChecksumAlgorithm::Crc32 => {
                Self::Crc(crc_fast::Digest::new(crc_fast::CrcAlgorithm::Crc32IsoHdlc))
            }
            ChecksumAlgorithm::Crc32c => {
                Self::Crc(crc_fast::Digest::new(crc_fast::CrcAlgorithm::Crc32Iscsi))
            }
            ChecksumAlgorithm::Crc64nvme => {
                Self::Crc(crc_fast::Digest::new(crc_fast::CrcAlgorithm::Crc64Nvme))
            }
            ChecksumAlgorithm::Sha1 => Self::Sha1(sha1::Sha1::new()),
            ChecksumAlgorithm::Sha256 => Self::Sha256(sha2::Sha256::new()),
            ChecksumAlgorithm::Unknown => Self::Off,
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
            // S3 sends CRCs as their big-endian bytes: 4 for the 32-bit ones, 8 for CRC-64.
            Self::Crc(digest) => {
                let value = digest.finalize().to_be_bytes();
                value[value.len() - expected.digest.len().min(8)..].to_vec()
            }
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
}
