//! The multipart routes ([`ddn_api::multipart`]): start, sign part URLs, list parts, complete,
//! abort. Every route is a `POST` with a JSON body, authenticated as `/presign` is, and its key is
//! rebuilt from `file` and the caller ([`keys::object_key`]), never taken from the caller.
//!
//! S3 binds a multipart upload id to the key it was created for, so an id used with another key
//! (another user's, whose prefix differs) is one S3 does not hold: `NoSuchUpload`, answered
//! `no_such_upload`. Signing part URLs asks S3 first (a one-part `ListParts`), so a URL is never
//! signed for an upload that is not the caller's. The function still never touches object bytes:
//! parts go from the client to S3 through the URLs signed here, and the other routes are S3's
//! bookkeeping calls (`CreateMultipartUpload`, `ListParts`, `CompleteMultipartUpload`,
//! `AbortMultipartUpload`).

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use ddn_api::multipart::{
    self, AbortRequest, AbortResponse, CompleteRequest, CompleteResponse, MAX_OBJECT_SIZE,
    MAX_PARTS, MAX_PARTS_PAGE, MAX_URLS_PER_REQUEST, MIN_MULTIPART_SIZE, PART_URL_TTL_SECONDS,
    PartPlan, PartToSign, PartUrl, PartsPage, PartsRequest, StartRequest, StartResponse,
    StoredPart, UploadRef, UrlsRequest, UrlsResponse,
};
use ddn_api::{ChecksumAlgorithm, ErrorCode, HttpMethod, processing};
use serde::Serialize;
use serde::de::DeserializeOwned;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::{
    Failure, PresignService, RequestFacts, is_valid_content_type, new_upload_id, unauthorized,
};
use crate::auth::UserId;
use crate::keys;
use crate::presign::UrlRequest;
use crate::store::{ObjectStore, StoreError};

/// The longest multipart upload id the service passes on to S3. S3's own are a few hundred
/// characters at most.
const MAX_MULTIPART_UPLOAD_ID_LEN: usize = 1024;

/// The longest part ETag the service passes on to S3 (an MD5 in hex is 32 characters).
const MAX_ETAG_LEN: usize = 128;

/// The header a part's CRC-64/NVME is signed in as.
const CRC64NVME_HEADER: &str = "x-amz-checksum-crc64nvme";

/// Headers to sign into a URL, with the values the client must send.
type SignedHeaders = Vec<(&'static str, String)>;

/// One multipart route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Route {
    Start,
    Urls,
    Parts,
    Complete,
    Abort,
}

impl Route {
    /// The route at `path` (without a trailing `/`), if it is a multipart one.
    pub(super) fn at(path: &str) -> Option<Self> {
        Some(match path {
            multipart::START_PATH => Self::Start,
            multipart::URLS_PATH => Self::Urls,
            multipart::PARTS_PATH => Self::Parts,
            multipart::COMPLETE_PATH => Self::Complete,
            multipart::ABORT_PATH => Self::Abort,
            _ => return None,
        })
    }
}

/// A successful answer of a multipart route.
#[derive(Serialize)]
#[serde(untagged)]
pub(super) enum MultipartAnswer {
    Start(StartResponse),
    Urls(UrlsResponse),
    Parts(PartsPage),
    Complete(CompleteResponse),
    Abort(AbortResponse),
}

impl<S: ObjectStore> PresignService<S> {
    /// Authenticates the caller and answers the multipart `route` from the request's body.
    pub(super) async fn multipart(
        &self,
        route: Route,
        authorization: Option<&str>,
        body: &str,
        facts: &mut RequestFacts,
    ) -> Result<MultipartAnswer, Failure> {
        let user = self
            .config
            .auth
            .authenticate(authorization)
            .map_err(unauthorized)?;
        facts.user = Some(user.clone());
        match route {
            Route::Start => self
                .start(&user, parse(body, route)?, facts)
                .await
                .map(MultipartAnswer::Start),
            Route::Urls => self
                .part_urls(&user, parse(body, route)?, facts)
                .await
                .map(MultipartAnswer::Urls),
            Route::Parts => self
                .parts(&user, parse(body, route)?, facts)
                .await
                .map(MultipartAnswer::Parts),
            Route::Complete => self
                .complete(&user, parse(body, route)?, facts)
                .await
                .map(MultipartAnswer::Complete),
            Route::Abort => self
                .abort(&user, parse(body, route)?, facts)
                .await
                .map(MultipartAnswer::Abort),
        }
    }

    /// Starts the upload on S3 with a fresh processing upload id stored as its metadata.
    async fn start(
        &self,
        user: &UserId,
        request: StartRequest,
        facts: &mut RequestFacts,
    ) -> Result<StartResponse, Failure> {
        let key = object_key(user, &request.file)?;
        let size = request.size;
        if size < MIN_MULTIPART_SIZE {
            return Err(Failure::new(
                ErrorCode::InvalidParameter,
                format!(
                    "The file is {size} bytes; a multipart upload takes at least \
                     {MIN_MULTIPART_SIZE} bytes. Send smaller files in one upload: use /presign."
                ),
            ));
        }
        let plan = PartPlan::for_size(size).ok_or_else(|| {
            Failure::new(
                ErrorCode::TooLarge,
                format!(
                    "The file is {size} bytes; an upload takes at most {MAX_OBJECT_SIZE} bytes \
                     (10,000 parts of 5 GiB)."
                ),
            )
        })?;
        if let Some(content_type) = &request.content_type
            && !is_valid_content_type(content_type)
        {
            return Err(Failure::new(
                ErrorCode::InvalidParameter,
                "contentType must be a media type such as image/png",
            ));
        }
        let upload_id = new_upload_id().map_err(Failure::internal)?;
        let metadata = BTreeMap::from([(processing::UPLOAD_ID_META.to_owned(), upload_id.clone())]);
        let multipart_upload_id = self
            .store
            .create_multipart_upload(
                &self.config.in_bucket,
                &key,
                request.content_type.as_deref(),
                &metadata,
            )
            .await
            .map_err(Failure::from_store)?;
        facts.multipart_upload_id = Some(multipart_upload_id.clone());
        Ok(StartResponse {
            key,
            multipart_upload_id,
            upload_id,
            plan,
            checksum_algorithm: ChecksumAlgorithm::Crc64nvme,
        })
    }

    /// Signs a URL for each part asked for, once S3 confirms the upload is open for this key.
    async fn part_urls(
        &self,
        user: &UserId,
        request: UrlsRequest,
        facts: &mut RequestFacts,
    ) -> Result<UrlsResponse, Failure> {
        let key = self.upload_key(user, &request.upload, facts)?;
        let id = request.upload.multipart_upload_id.as_str();
        let plan = plan_of_started(request.size)?;
        let signed = parts_to_sign(&plan, &request.parts)?;
        facts.parts = Some(signed.len());

        // S3 holds the id for the key it was created for only: another key's id, another
        // user's included, is refused here, before anything is signed.
        self.store
            .list_parts(&self.config.in_bucket, &key, id, None, 1)
            .await
            .map_err(Failure::from_store)?;

        let now = self.clock.now();
        let ttl = self
            .config
            .url_ttl
            .min(Duration::from_secs(PART_URL_TTL_SECONDS));
        let credentials = self
            .credentials
            .get(now)
            .await
            .map_err(|e| Failure::internal(e.to_string()))?;
        let mut parts = Vec::with_capacity(signed.len());
        for (number, headers) in signed {
            let query = [
                ("partNumber", number.to_string()),
                ("uploadId", id.to_owned()),
            ];
            let url = self
                .presigner
                .presign_with_query(
                    &credentials,
                    &UrlRequest {
                        method: HttpMethod::Put,
                        bucket: &self.config.in_bucket,
                        key: &key,
                        signed_headers: &headers,
                    },
                    &query,
                    ttl,
                    now,
                )
                .map_err(|e| Failure::internal(e.to_string()))?;
            parts.push(PartUrl {
                part_number: number,
                url: url.url,
                headers: url.headers,
                expires_at: rfc3339(url.expires_at)?,
            });
        }
        Ok(UrlsResponse { parts })
    }

    /// A page of the parts S3 holds, with their ETags.
    async fn parts(
        &self,
        user: &UserId,
        request: PartsRequest,
        facts: &mut RequestFacts,
    ) -> Result<PartsPage, Failure> {
        let key = self.upload_key(user, &request.upload, facts)?;
        if request.cursor.is_some_and(|cursor| cursor > MAX_PARTS) {
            return Err(Failure::new(
                ErrorCode::InvalidParameter,
                "cursor must be the nextCursor of a parts page",
            ));
        }
        let listing = self
            .store
            .list_parts(
                &self.config.in_bucket,
                &key,
                &request.upload.multipart_upload_id,
                request.cursor,
                MAX_PARTS_PAGE,
            )
            .await
            .map_err(Failure::from_store)?;
        let last_listed = listing.parts.last().map(|part| part.number);
        // A part S3 lists without an ETag cannot be named in a completion; leaving it out makes
        // the client send it again, which replaces it.
        let parts: Vec<StoredPart> = listing
            .parts
            .into_iter()
            .filter_map(|part| {
                Some(StoredPart {
                    part_number: part.number,
                    size: part.size,
                    etag: part.etag?,
                    crc64nvme: part.crc64nvme,
                })
            })
            .collect();
        facts.parts = Some(parts.len());
        let next_cursor = if listing.truncated {
            listing.next_marker.or(last_listed)
        } else {
            None
        };
        Ok(PartsPage { parts, next_cursor })
    }

    /// Completes the upload; a completion S3 no longer knows the upload of is answered as done
    /// when the object it made is there with this upload's id.
    async fn complete(
        &self,
        user: &UserId,
        request: CompleteRequest,
        facts: &mut RequestFacts,
    ) -> Result<CompleteResponse, Failure> {
        let key = self.upload_key(user, &request.upload, facts)?;
        if !processing::is_valid_upload_id(&request.upload_id) {
            return Err(Failure::new(
                ErrorCode::InvalidParameter,
                "uploadId must be the uploadId of the start answer",
            ));
        }
        check_completed_parts(&request)?;
        facts.parts = Some(request.parts.len());
        let bucket = &self.config.in_bucket;
        let completed = self
            .store
            .complete_multipart_upload(
                bucket,
                &key,
                &request.upload.multipart_upload_id,
                &request.parts,
                request.crc64nvme.as_deref(),
            )
            .await;
        match completed {
            Ok(etag) => Ok(CompleteResponse {
                key,
                upload_id: request.upload_id,
                etag,
                uploaded_at: rfc3339(whole_seconds(self.clock.now()))?,
            }),
            Err(StoreError::NoSuchUpload) => {
                // An earlier completion may have succeeded and its answer been lost: only that
                // completion can have written an object carrying this upload's id.
                let object = self.head(bucket, &key).await?;
                match object {
                    Some(meta)
                        if meta.metadata.get(processing::UPLOAD_ID_META)
                            == Some(&request.upload_id) =>
                    {
                        // S3's own time of the completion, not this retry's.
                        let written = meta.last_modified.unwrap_or_else(|| self.clock.now());
                        Ok(CompleteResponse {
                            key,
                            upload_id: request.upload_id,
                            etag: meta.etag.unwrap_or_default(),
                            uploaded_at: rfc3339(whole_seconds(written))?,
                        })
                    }
                    _ => Err(Failure::from_store(StoreError::NoSuchUpload)),
                }
            }
            Err(error) => Err(Failure::from_store(error)),
        }
    }

    /// Aborts the upload; one S3 no longer holds is answered `aborted: false`.
    async fn abort(
        &self,
        user: &UserId,
        request: AbortRequest,
        facts: &mut RequestFacts,
    ) -> Result<AbortResponse, Failure> {
        let key = self.upload_key(user, &request.upload, facts)?;
        let aborted = self
            .store
            .abort_multipart_upload(
                &self.config.in_bucket,
                &key,
                &request.upload.multipart_upload_id,
            )
            .await;
        match aborted {
            Ok(()) => Ok(AbortResponse { aborted: true }),
            Err(StoreError::NoSuchUpload) => Ok(AbortResponse { aborted: false }),
            Err(error) => Err(Failure::from_store(error)),
        }
    }

    /// The caller's key for `upload`, once its multipart id is one the service passes on (and
    /// names in the log line).
    fn upload_key(
        &self,
        user: &UserId,
        upload: &UploadRef,
        facts: &mut RequestFacts,
    ) -> Result<String, Failure> {
        let key = object_key(user, &upload.file)?;
        if !is_valid_multipart_upload_id(&upload.multipart_upload_id) {
            return Err(Failure::new(
                ErrorCode::InvalidParameter,
                "multipartUploadId must be the multipartUploadId of the start answer",
            ));
        }
        facts.multipart_upload_id = Some(upload.multipart_upload_id.clone());
        Ok(key)
    }
}

/// The route's body, or an `invalid_parameter` refusal that says where it went wrong without
/// repeating any of it.
fn parse<T: DeserializeOwned>(body: &str, route: Route) -> Result<T, Failure> {
    serde_json::from_str(body).map_err(|error| {
        let path = match route {
            Route::Start => multipart::START_PATH,
            Route::Urls => multipart::URLS_PATH,
            Route::Parts => multipart::PARTS_PATH,
            Route::Complete => multipart::COMPLETE_PATH,
            Route::Abort => multipart::ABORT_PATH,
        };
        let what = match error.classify() {
            serde_json::error::Category::Data => "a field is missing or of the wrong type",
            _ => "it is not JSON",
        };
        Failure::new(
            ErrorCode::InvalidParameter,
            format!(
                "The request body is not what {path} takes: {what} (line {}, column {}).",
                error.line(),
                error.column()
            ),
        )
    })
}

fn object_key(user: &UserId, file: &str) -> Result<String, Failure> {
    if file.is_empty() {
        return Err(Failure::new(
            ErrorCode::MissingFile,
            ddn_api::MISSING_FILE_MESSAGE,
        ));
    }
    keys::object_key(user, file).map_err(|e| Failure::new(ErrorCode::InvalidKey, e.to_string()))
}

/// The plan of a file the start route would have taken: `size` as given to it.
fn plan_of_started(size: u64) -> Result<PartPlan, Failure> {
    PartPlan::for_size(size)
        .filter(|_| size >= MIN_MULTIPART_SIZE)
        .ok_or_else(|| {
            Failure::new(
                ErrorCode::InvalidParameter,
                "size must be the size given to /multipart/start",
            )
        })
}

/// Each part's number with the headers to sign for it: its exact length from the plan, and its
/// MD5 and CRC-64/NVME when given. Numbers must be within the plan and each asked once.
fn parts_to_sign(
    plan: &PartPlan,
    parts: &[PartToSign],
) -> Result<Vec<(u32, SignedHeaders)>, Failure> {
    if parts.is_empty() || parts.len() > MAX_URLS_PER_REQUEST {
        return Err(Failure::new(
            ErrorCode::InvalidParameter,
            format!("Ask for 1 to {MAX_URLS_PER_REQUEST} parts at a time."),
        ));
    }
    let mut seen = std::collections::BTreeSet::new();
    parts
        .iter()
        .map(|part| {
            let number = part.part_number;
            let range = plan.part(number).ok_or_else(|| {
                Failure::new(
                    ErrorCode::InvalidParameter,
                    format!(
                        "Part {number} is not in the plan: this file has parts 1 to {}.",
                        plan.part_count
                    ),
                )
            })?;
            if !seen.insert(number) {
                return Err(Failure::new(
                    ErrorCode::InvalidParameter,
                    format!("Part {number} is asked for twice."),
                ));
            }
            let mut headers = vec![("content-length", range.length.to_string())];
            if let Some(md5) = &part.md5 {
                if !is_base64_of(md5, 16) {
                    return Err(Failure::new(
                        ErrorCode::InvalidParameter,
                        "md5 must be the base64 encoding of a 16-byte MD5 digest",
                    ));
                }
                headers.push(("content-md5", md5.clone()));
            }
            if let Some(crc) = &part.crc64nvme {
                check_crc64nvme(crc)?;
                headers.push((CRC64NVME_HEADER, crc.clone()));
            }
            Ok((number, headers))
        })
        .collect()
}

/// A completion names every part of the plan once, in order (1, 2, 3, ...), each with an ETag
/// and, when given, a well-formed checksum.
fn check_completed_parts(request: &CompleteRequest) -> Result<(), Failure> {
    let count = request.parts.len();
    if count == 0 || count > MAX_PARTS as usize {
        return Err(Failure::new(
            ErrorCode::InvalidParameter,
            format!("A completion names 1 to {MAX_PARTS} parts."),
        ));
    }
    for (expected, part) in (1u32..).zip(&request.parts) {
        if part.part_number != expected {
            return Err(Failure::new(
                ErrorCode::InvalidParameter,
                format!(
                    "parts must name every part once, in order from 1: part {expected} is \
                     missing or out of place."
                ),
            ));
        }
        let etag_ok = !part.etag.is_empty()
            && part.etag.len() <= MAX_ETAG_LEN
            && part.etag.bytes().all(|b| b.is_ascii_graphic() && b != b'"');
        if !etag_ok {
            return Err(Failure::new(
                ErrorCode::InvalidParameter,
                format!("Part {expected}'s etag must be the ETag S3 answered, without quotes."),
            ));
        }
        if let Some(crc) = &part.crc64nvme {
            check_crc64nvme(crc)?;
        }
    }
    if let Some(crc) = &request.crc64nvme {
        check_crc64nvme(crc)?;
    }
    Ok(())
}

fn check_crc64nvme(value: &str) -> Result<(), Failure> {
    if is_base64_of(value, 8) {
        Ok(())
    } else {
        Err(Failure::new(
            ErrorCode::InvalidParameter,
            "crc64nvme must be the base64 encoding of an 8-byte CRC-64/NVME",
        ))
    }
}

/// Whether `value` is standard base64 of exactly `len` bytes.
fn is_base64_of(value: &str, len: usize) -> bool {
    base64::engine::general_purpose::STANDARD
        .decode(value)
        .is_ok_and(|bytes| bytes.len() == len)
}

/// Whether `id` can be one of S3's multipart upload ids: 1 to [`MAX_MULTIPART_UPLOAD_ID_LEN`]
/// characters of URL-safe or standard base64 and `.`, `~`. Anything else is refused before it
/// reaches S3 or the log.
fn is_valid_multipart_upload_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_MULTIPART_UPLOAD_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.~+/=".contains(&b))
}

/// `at` without its fraction of a second. An `uploadedAt` is compared with S3's whole-second
/// times, where the same second counts as no earlier.
fn whole_seconds(at: SystemTime) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(at.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs())
}

fn rfc3339(at: SystemTime) -> Result<String, Failure> {
    OffsetDateTime::from(at)
        .format(&Rfc3339)
        .map_err(|e| Failure::internal(format!("formatting a time: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multipart_upload_ids_are_checked_before_use() {
        for good in [
            "VXBsb2FkIElEIGZvciBlbHZpbmcncyBteS1tb3ZpZS5tMnRzIHVwbG9hZA",
            "2~abc.DEF_ghi-jkl",
            "6f1c2e3d-8a9b-4c5d-9e0f-112233445566",
            "a+b/c==",
        ] {
            assert!(is_valid_multipart_upload_id(good), "{good}");
        }
        for bad in ["", "a b", "a&b", "a\nb", "é", &"a".repeat(1025)] {
            assert!(!is_valid_multipart_upload_id(bad), "{bad:?}");
        }
    }

    #[test]
    fn uploaded_at_has_whole_seconds() {
        let at = UNIX_EPOCH + Duration::from_millis(1_795_521_600_999);
        assert_eq!(
            rfc3339(whole_seconds(at)).ok().as_deref(),
            Some("2026-11-24T12:00:00Z")
        );
    }

    #[test]
    fn checksums_must_have_their_length() {
        assert!(is_base64_of("Wqs5g1Y7yKM=", 8));
        assert!(!is_base64_of("Wqs5g1Y7yKM", 8));
        assert!(!is_base64_of("tRdbUkl8v3cEhGYoAT1cgg==", 8));
        assert!(is_base64_of("tRdbUkl8v3cEhGYoAT1cgg==", 16));
    }
}
