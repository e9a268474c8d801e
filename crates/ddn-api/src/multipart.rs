//! Multipart uploads: the routes, their JSON bodies and the part plan both sides compute.
//!
//! A file too large for one presigned `PUT` (or large enough to gain from parallel parts) is sent
//! in parts. The service starts the upload on S3 itself (so it alone decides the key, the part
//! size and the processing contract's upload id), signs short-lived URLs for batches of parts,
//! lists the parts S3 holds, and completes or aborts the upload. Every route is a `POST` with a
//! JSON body, because a completion names up to [`MAX_PARTS`] parts with their ETags, far more than
//! a query string carries.
//!
//! The part plan is a pure function of the file's size ([`PartPlan::for_size`]): the service
//! signs each part's exact `Content-Length` from it and the client cuts the file by it, so the two
//! cannot disagree about where a part starts.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Starts a multipart upload: [`StartRequest`] in, [`StartResponse`] out.
pub const START_PATH: &str = "/multipart/start";
/// Signs URLs for a batch of parts: [`UrlsRequest`] in, [`UrlsResponse`] out.
pub const URLS_PATH: &str = "/multipart/urls";
/// Lists the parts S3 holds, a page at a time: [`PartsRequest`] in, [`PartsPage`] out.
pub const PARTS_PATH: &str = "/multipart/parts";
/// Completes the upload: [`CompleteRequest`] in, [`CompleteResponse`] out.
pub const COMPLETE_PATH: &str = "/multipart/complete";
/// Aborts the upload and frees what S3 holds of it: [`AbortRequest`] in, [`AbortResponse`] out.
pub const ABORT_PATH: &str = "/multipart/abort";

/// Every multipart route, for routers and descriptions.
pub const PATHS: [&str; 5] = [START_PATH, URLS_PATH, PARTS_PATH, COMPLETE_PATH, ABORT_PATH];

const MIB: u64 = 1024 * 1024;

/// The smallest part the service plans (S3's own floor is 5 MiB; 8 MiB halves the request count
/// for little memory).
pub const MIN_PART_SIZE: u64 = 8 * MIB;
/// The largest part S3 accepts (5 GiB).
pub const MAX_PART_SIZE: u64 = 5 * 1024 * MIB;
/// The most parts one upload may have (S3's limit).
pub const MAX_PARTS: u32 = 10_000;
/// The largest file a multipart upload can carry: [`MAX_PARTS`] parts of [`MAX_PART_SIZE`].
pub const MAX_OBJECT_SIZE: u64 = MAX_PARTS as u64 * MAX_PART_SIZE;
/// Files below this size are sent in one presigned `PUT`; the service refuses to start a
/// multipart upload for them. Clients may choose a higher threshold, never a lower one.
pub const MIN_MULTIPART_SIZE: u64 = 2 * MIN_PART_SIZE;
/// The most part URLs one [`UrlsRequest`] may ask for.
pub const MAX_URLS_PER_REQUEST: usize = 100;
/// The most parts one [`PartsPage`] holds (S3 lists at most 1000 per call).
pub const MAX_PARTS_PAGE: u32 = 1000;
/// The longest life of a part URL, in seconds. Part URLs are asked for just before they are
/// used, so a long upload never runs on URLs signed hours earlier.
pub const PART_URL_TTL_SECONDS: u64 = 15 * 60;

/// How a file of a given size is cut into parts. Part `n` (from 1) starts at
/// `(n - 1) * part_size`; every part but the last is exactly `part_size` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PartPlan {
    /// The file's size in bytes.
    pub size: u64,
    /// The size of every part but the last: at least [`MIN_PART_SIZE`], a multiple of 1 MiB.
    pub part_size: u64,
    /// How many parts: at most [`MAX_PARTS`].
    pub part_count: u32,
}

impl PartPlan {
    /// The plan for a file of `size` bytes: the smallest whole number of MiB, from
    /// [`MIN_PART_SIZE`] up, that keeps the count at or under [`MAX_PARTS`]. `None` for an
    /// empty file or one above [`MAX_OBJECT_SIZE`].
    pub fn for_size(size: u64) -> Option<Self> {
        if size == 0 || size > MAX_OBJECT_SIZE {
            return None;
        }
        let per_part = size.div_ceil(u64::from(MAX_PARTS));
        let part_size = per_part
            .div_ceil(MIB)
            .saturating_mul(MIB)
            .max(MIN_PART_SIZE);
        let part_count = u32::try_from(size.div_ceil(part_size)).ok()?;
        Some(Self {
            size,
            part_size,
            part_count,
        })
    }

    /// Where part `number` (1-based) starts and how long it is; `None` outside
    /// `1..=part_count`.
    pub fn part(&self, number: u32) -> Option<PartRange> {
        if number == 0 || number > self.part_count {
            return None;
        }
        let offset = u64::from(number - 1) * self.part_size;
        let length = self.part_size.min(self.size - offset);
        Some(PartRange {
            number,
            offset,
            length,
        })
    }

    /// Every part, in order.
    pub fn parts(&self) -> impl Iterator<Item = PartRange> + '_ {
        (1..=self.part_count).filter_map(|n| self.part(n))
    }
}

/// One part of a [`PartPlan`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartRange {
    /// The part number, from 1.
    pub number: u32,
    /// The offset of its first byte in the file.
    pub offset: u64,
    /// Its length in bytes.
    pub length: u64,
}

/// The body of [`START_PATH`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StartRequest {
    /// The object name, as `file` on `/presign`: checked and placed under the caller's prefix.
    pub file: String,
    /// The file's exact size in bytes, from [`MIN_MULTIPART_SIZE`] to [`MAX_OBJECT_SIZE`].
    pub size: u64,
    /// The file's media type, stored with the object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
}

/// The answer of [`START_PATH`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StartResponse {
    /// The full object key (with the caller's prefix).
    pub key: String,
    /// S3's id of the multipart upload, to pass to every other multipart route.
    pub multipart_upload_id: String,
    /// The processing contract's id of this upload, stored on the object at creation (the
    /// `ddn-upload-id` metadata): pass it as `uploadId` when asking for the result.
    pub upload_id: String,
    /// How the file is cut: the service's [`PartPlan::for_size`] of the declared size.
    #[serde(flatten)]
    pub plan: PartPlan,
    /// The whole-object checksum S3 will hold for the object, which [`CompleteRequest::crc64nvme`]
    /// is checked against.
    pub checksum_algorithm: super::ChecksumAlgorithm,
}

/// Names the upload a request is about. The service rebuilds the key from `file` and the
/// caller's identity, and asks S3 whether `multipart_upload_id` belongs to that key: an id of
/// another key (another user's included) is refused as [`super::ErrorCode::NoSuchUpload`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UploadRef {
    /// The object name, as given to [`START_PATH`].
    pub file: String,
    /// S3's id of the multipart upload.
    pub multipart_upload_id: String,
}

/// One part a URL is asked for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PartToSign {
    /// The part number, from 1.
    pub part_number: u32,
    /// Base64 of the part's MD5 digest; signed in as `Content-MD5`, so S3 refuses other bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub md5: Option<String>,
    /// Base64 of the part's CRC-64/NVME (big-endian); signed in as `x-amz-checksum-crc64nvme`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crc64nvme: Option<String>,
}

/// The body of [`URLS_PATH`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UrlsRequest {
    /// The upload.
    #[serde(flatten)]
    pub upload: UploadRef,
    /// The file's size, as given to [`START_PATH`]: each part's `Content-Length` is signed from
    /// its plan.
    pub size: u64,
    /// The parts, 1 to [`MAX_URLS_PER_REQUEST`] of them, each number at most once.
    pub parts: Vec<PartToSign>,
}

/// A presigned URL for one part.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PartUrl {
    /// The part number.
    pub part_number: u32,
    /// The presigned `PUT` URL. A bearer secret until it expires: never log it whole.
    pub url: String,
    /// Every header to send with exactly these values (`content-length`, and `content-md5` and
    /// `x-amz-checksum-crc64nvme` when given).
    pub headers: BTreeMap<String, String>,
    /// When the URL stops working, RFC 3339 in UTC.
    pub expires_at: String,
}

/// The answer of [`URLS_PATH`]: one URL per part asked for, in the order asked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UrlsResponse {
    /// The URLs.
    pub parts: Vec<PartUrl>,
}

/// The body of [`PARTS_PATH`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PartsRequest {
    /// The upload.
    #[serde(flatten)]
    pub upload: UploadRef,
    /// Continue after this part number (the previous page's [`PartsPage::next_cursor`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<u32>,
}

/// A part S3 holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredPart {
    /// The part number.
    pub part_number: u32,
    /// Its size in bytes.
    pub size: u64,
    /// Its ETag without quotes (the MD5 of its bytes in hex, unless the bucket encrypts with KMS).
    pub etag: String,
    /// Its CRC-64/NVME as S3 reports it, when it does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crc64nvme: Option<String>,
}

/// The answer of [`PARTS_PATH`]: up to [`MAX_PARTS_PAGE`] parts in number order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PartsPage {
    /// The parts on this page.
    pub parts: Vec<StoredPart>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<u32>,
}

/// A finished part, as the completion names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CompletedPart {
    /// The part number.
    pub part_number: u32,
    /// The ETag S3 answered the part's upload with, without quotes.
    pub etag: String,
    /// The part's CRC-64/NVME, base64, as signed into its URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crc64nvme: Option<String>,
}

/// The body of [`COMPLETE_PATH`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CompleteRequest {
    /// The upload.
    #[serde(flatten)]
    pub upload: UploadRef,
    /// The processing contract's id from the start answer. When S3 no longer holds the multipart
    /// upload because an earlier completion of it succeeded (and its answer was lost on the way),
    /// the object carrying this id is answered as completed instead of `no_such_upload`.
    pub upload_id: String,
    /// Every part of the plan, in number order.
    pub parts: Vec<CompletedPart>,
    /// The whole file's CRC-64/NVME, base64: S3 refuses the completion when the parts it holds
    /// add up to anything else.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crc64nvme: Option<String>,
}

/// The answer of [`COMPLETE_PATH`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CompleteResponse {
    /// The full object key.
    pub key: String,
    /// The processing contract's id of the upload (as in [`StartResponse::upload_id`]).
    pub upload_id: String,
    /// The object's ETag, without quotes (not an MD5: `<hex>-<parts>`).
    pub etag: String,
    /// When the upload was completed, RFC 3339 in UTC: the `uploadedAt` of the result's request.
    pub uploaded_at: String,
}

/// The body of [`ABORT_PATH`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AbortRequest {
    /// The upload.
    #[serde(flatten)]
    pub upload: UploadRef,
}

/// The answer of [`ABORT_PATH`]. Aborting an upload S3 no longer knows is not an error: the
/// point, nothing left on S3, holds either way.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AbortResponse {
    /// Whether S3 still held the upload and has now dropped it.
    pub aborted: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_cover_the_file_exactly_once() {
        let sizes = [
            MIN_MULTIPART_SIZE,
            MIN_PART_SIZE * 3 + 1,
            5 * 1024 * MIB + 7,
            20 * 1024 * MIB,
            80_000 * MIB + 1,
            MAX_OBJECT_SIZE,
        ];
        for size in sizes {
            let plan = PartPlan::for_size(size).unwrap();
            assert!(plan.part_size >= MIN_PART_SIZE && plan.part_size <= MAX_PART_SIZE);
            assert_eq!(plan.part_size % MIB, 0, "{size}");
            assert!(plan.part_count <= MAX_PARTS, "{size}");
            let mut next = 0;
            for part in plan.parts() {
                assert_eq!(part.offset, next, "{size} part {}", part.number);
                assert!(part.length > 0);
                next += part.length;
            }
            assert_eq!(next, size);
            assert_eq!(plan.part(0), None);
            assert_eq!(plan.part(plan.part_count + 1), None);
        }
    }

    #[test]
    fn plans_use_the_smallest_part_that_fits() {
        let plan = PartPlan::for_size(2 * 1024 * MIB).unwrap();
        assert_eq!((plan.part_size, plan.part_count), (MIN_PART_SIZE, 256));
        // 100 GiB in 8 MiB parts would be 12,800 parts: 11 MiB keeps it under 10,000.
        let plan = PartPlan::for_size(100 * 1024 * MIB).unwrap();
        assert_eq!((plan.part_size, plan.part_count), (11 * MIB, 9310));
        let plan = PartPlan::for_size(MAX_OBJECT_SIZE).unwrap();
        assert_eq!(
            (plan.part_size, plan.part_count),
            (MAX_PART_SIZE, MAX_PARTS)
        );
        assert_eq!(PartPlan::for_size(0), None);
        assert_eq!(PartPlan::for_size(MAX_OBJECT_SIZE + 1), None);
    }
}
