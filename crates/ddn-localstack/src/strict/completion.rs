//! Whether a `CompleteMultipartUpload` may go ahead, decided from the records alone before s3s-fs
//! is asked (s3s-fs drops the upload before it assembles, so a refusal it found itself could not
//! be retried), and what to keep of the object afterwards.

use std::collections::BTreeMap;

use s3s::dto::CompleteMultipartUploadInput;
use s3s::{S3Result, s3_error};

use super::checksums::{self, Algorithm};
use super::uploads::{ChecksumKind, OpenUpload, StoredPart};

/// The smallest part S3 accepts anywhere but last.
pub(super) const MIN_PART_SIZE: u64 = 5 * 1024 * 1024;

/// A completion that passed every check.
#[derive(Debug)]
pub(super) struct Completion {
    /// The whole-object checksum to keep with the object, and its base64 value.
    pub(super) checksum: Option<(Algorithm, String)>,
    /// Parts the upload holds that the completion leaves out: S3 discards them.
    pub(super) left_out: Vec<i32>,
}

/// The checks, in the order their refusals are answered.
///
/// # Errors
/// `MalformedXML` for no parts; `InvalidPartOrder` for numbers not ascending; `InvalidPart` for a
/// part the upload does not hold, with another ETag or another checksum; `EntityTooSmall` for a
/// part under 5 MiB before the last; `InvalidRequest` for a size or checksum type other than the
/// upload's, `BadDigest` for a whole-object checksum the parts do not add up to; `NotImplemented`
/// for what s3s-fs cannot assemble or this layer does not compute (numbers with gaps, composite
/// or SHA whole-object checksums).
pub(super) fn check(
    upload: &OpenUpload,
    stored: &BTreeMap<i32, StoredPart>,
    input: &CompleteMultipartUploadInput,
) -> S3Result<Completion> {
    let listed = input
        .multipart_upload
        .as_ref()
        .and_then(|upload| upload.parts.as_deref())
        .unwrap_or_default();
    if listed.is_empty() {
        return Err(s3_error!(
            MalformedXML,
            "A completion must name at least one part."
        ));
    }

    let mut numbers = Vec::with_capacity(listed.len());
    for part in listed {
        let number = part
            .part_number
            .ok_or_else(|| s3_error!(MalformedXML, "Every part needs a PartNumber."))?;
        if numbers.last().is_some_and(|&previous| number <= previous) {
            return Err(s3_error!(
                InvalidPartOrder,
                "The list of parts was not in ascending order. Parts must be ordered by part number."
            ));
        }
        numbers.push(number);
    }

    let mut parts = Vec::with_capacity(listed.len());
    for (listed_part, number) in listed.iter().zip(&numbers) {
        let invalid = || {
            s3_error!(
                InvalidPart,
                "Part {number} could not be found, or its entity tag or checksum does not match the part's."
            )
        };
        let part = stored.get(number).ok_or_else(invalid)?;
        let etag = listed_part.e_tag.as_ref().map(|etag| etag.value());
        if etag != Some(part.sums.etag().as_str()) {
            return Err(invalid());
        }
        let claimed = [
            (Algorithm::Crc32, &listed_part.checksum_crc32),
            (Algorithm::Crc32c, &listed_part.checksum_crc32c),
            (Algorithm::Crc64Nvme, &listed_part.checksum_crc64nvme),
            (Algorithm::Sha1, &listed_part.checksum_sha1),
            (Algorithm::Sha256, &listed_part.checksum_sha256),
        ];
        for (algorithm, value) in claimed {
            if let Some(value) = value
                && checksums::decode(algorithm, value) != part.sums.value(algorithm)
            {
                return Err(invalid());
            }
        }
        parts.push(part);
    }

    if let Some((_, before_last)) = parts.split_last()
        && let Some(small) = before_last.iter().find(|p| p.sums.size < MIN_PART_SIZE)
    {
        return Err(s3_error!(
            EntityTooSmall,
            "Part {} is {} bytes: every part but the last must be at least 5 MiB.",
            small.number,
            small.sums.size
        ));
    }

    let size: u64 = parts.iter().map(|p| p.sums.size).sum();
    if let Some(declared) = input.mpu_object_size
        && u64::try_from(declared).ok() != Some(size)
    {
        return Err(s3_error!(
            InvalidRequest,
            "The declared object size {declared} is not the {size} bytes of the parts."
        ));
    }

    let kind = match &input.checksum_type {
        None => upload.kind,
        Some(requested) => {
            let requested = ChecksumKind::from_dto(requested)
                .ok_or_else(|| s3_error!(InvalidRequest, "Unknown x-amz-checksum-type."))?;
            if upload.algorithm.is_some() && requested != upload.kind {
                return Err(s3_error!(
                    InvalidRequest,
                    "The upload was created with another checksum type; the completion must use the same."
                ));
            }
            requested
        }
    };
    let whole = [
        (Algorithm::Crc32, &input.checksum_crc32),
        (Algorithm::Crc32c, &input.checksum_crc32c),
        (Algorithm::Crc64Nvme, &input.checksum_crc64nvme),
        (Algorithm::Sha1, &input.checksum_sha1),
        (Algorithm::Sha256, &input.checksum_sha256),
    ];
    for (algorithm, value) in whole {
        let Some(value) = value else { continue };
        if upload
            .algorithm
            .is_some_and(|declared| declared != algorithm)
        {
            return Err(s3_error!(
                InvalidRequest,
                "The upload was created with another checksum algorithm than {}.",
                algorithm.header()
            ));
        }
        if kind == ChecksumKind::Composite || algorithm.crc().is_none() {
            return Err(s3_error!(
                NotImplemented,
                "The local test server checks full-object CRC checksums only."
            ));
        }
        let expected = checksums::combined(algorithm, parts.iter().map(|p| &p.sums));
        if checksums::decode(algorithm, value) != expected {
            return Err(s3_error!(
                BadDigest,
                "The {} you specified did not match the checksum of the parts.",
                algorithm.header()
            ));
        }
    }

    // s3s-fs assembles parts 1, 2, 3... only, and would refuse others halfway, upload dropped.
    if numbers
        .iter()
        .zip(1..)
        .any(|(&number, expected)| number != expected)
    {
        return Err(s3_error!(
            NotImplemented,
            "The local test server completes only parts numbered 1, 2, 3... without gaps."
        ));
    }

    // S3 keeps the full-object checksum the upload was created for, and CRC-64/NVME for an
    // upload created with none. A composite checksum is not kept here (see the module doc).
    let kept = match (upload.algorithm, upload.kind) {
        (None | Some(Algorithm::Crc64Nvme), _) => Some(Algorithm::Crc64Nvme),
        (Some(algorithm @ (Algorithm::Crc32 | Algorithm::Crc32c)), ChecksumKind::FullObject) => {
            Some(algorithm)
        }
        _ => None,
    };
    let checksum = kept.and_then(|algorithm| {
        let value = checksums::combined(algorithm, parts.iter().map(|p| &p.sums))?;
        Some((algorithm, checksums::encode(&value)))
    });
    let left_out = stored
        .keys()
        .filter(|number| numbers.binary_search(number).is_err())
        .copied()
        .collect();
    Ok(Completion { checksum, left_out })
}
