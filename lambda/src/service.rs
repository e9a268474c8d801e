//! The presign service: one request in, one JSON answer out, one log line written.
//!
//! Transport adapters ([`crate::event`] for Lambda, `crate::http_server` for plain HTTP) turn their
//! input into an [`ApiRequest`] and send back the [`ApiResponse`]; everything else happens here.
//! The `GET` routes (`/presign`, `/results`) are answered in this file, the `POST` multipart
//! routes in [`multipart`]; the router, authentication, failures and the log line are shared.

mod multipart;

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use aws_config::BehaviorVersion;
use base64::Engine as _;
use ddn_api::{
    ApiError, Checksum, ChecksumAlgorithm, DEFAULT_RESULTS_PAGE, ErrorCode, HttpMethod,
    MAX_SINGLE_PUT_BYTES, PRESIGN_PATH, PresignRequest, PresignResponse, RESULTS_PATH, ResultItem,
    ResultsPage, ResultsRequest, TransferMode, processing,
};
use serde::Serialize;
use thiserror::Error;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::auth::{AuthError, Authenticator, UserId};
use crate::clock::{Clock, SystemClock};
use crate::config::{self, Config};
use crate::credentials::CredentialsCache;
use crate::keys;
use crate::presign::{Presigner, UrlRequest};
use crate::store::{ObjectMeta, ObjectStore, S3Store, StoreError};

/// A transport-neutral HTTP request, as far as the service cares.
#[derive(Debug, Clone, Default)]
pub struct ApiRequest {
    /// `GET`, ... (upper case). Empty for a direct Lambda invocation, which is treated as `GET`.
    pub method: String,
    /// The path without the stage prefix. Empty for a direct invocation (the presign route).
    pub path: String,
    /// Decoded query parameters, in order.
    pub query: Vec<(String, String)>,
    /// The `Authorization` header's value.
    pub authorization: Option<String>,
    /// The body: JSON text for the `POST` routes, empty for `GET` and for a direct invocation.
    /// The transports refuse bodies above [`MAX_BODY_BYTES`] before they build a request.
    pub body: String,
    /// An id for this request, written in the log line.
    pub request_id: String,
}

/// The largest request body the service reads (2 MiB). The heaviest body the contract has, a
/// completion naming [`ddn_api::multipart::MAX_PARTS`] parts with their ETags and checksums, is
/// under 1 MiB; a larger one is refused before it is read whole.
pub const MAX_BODY_BYTES: usize = 2 * 1024 * 1024;

/// The refusal of a body above [`MAX_BODY_BYTES`], as both transports send it.
pub fn body_too_large() -> ApiError {
    ApiError::new(
        ErrorCode::TooLarge,
        format!(
            "The request body is larger than {} MiB.",
            MAX_BODY_BYTES / (1024 * 1024)
        ),
    )
}

/// The one method `path` answers (for an `Allow` header), or `None` for a path that is no route.
pub fn allowed_method(path: &str) -> Option<&'static str> {
    let path = path.trim_end_matches('/');
    match path {
        "" | PRESIGN_PATH | RESULTS_PATH => Some("GET"),
        _ if multipart::Route::at(path).is_some() => Some("POST"),
        _ => None,
    }
}

/// The service's answer: a status and a JSON body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiResponse {
    /// The HTTP status code.
    pub status: u16,
    /// A JSON document: a [`PresignResponse`] or an [`ddn_api::ErrorBody`].
    pub body: String,
}

impl ApiResponse {
    fn json(status: u16, value: &impl Serialize) -> Self {
        // Serializing these plain structs cannot fail; fall back to a fixed body all the same.
        let body = serde_json::to_string(value).unwrap_or_else(|_| {
            r#"{"error":{"code":"internal","message":"Internal error"}}"#.to_owned()
        });
        Self { status, body }
    }

    /// The answer for `error`: its code's status and the error body.
    pub fn error(error: ApiError) -> Self {
        Self::json(error.code.http_status(), &error.into_body())
    }
}

/// The function could not start.
#[derive(Debug, Error)]
pub enum StartError {
    /// A setting is missing or malformed.
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    /// No AWS region is configured.
    #[error("no AWS region: set AWS_REGION (Lambda sets it for you)")]
    NoRegion,
    /// No credentials provider is configured.
    #[error("no AWS credentials provider is configured")]
    NoCredentials,
}

/// A refusal or failure, with what the caller sees and what only the log sees.
struct Failure {
    error: ApiError,
    /// Internal detail for the log line; never sent to the caller.
    detail: Option<String>,
}

impl Failure {
    fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            error: ApiError::new(code, message),
            detail: None,
        }
    }

    fn internal(detail: impl Into<String>) -> Self {
        Self {
            error: ApiError::new(ErrorCode::Internal, "Error generating presigned URL"),
            detail: Some(detail.into()),
        }
    }

    /// A failed call to S3: a multipart upload S3 does not hold is `no_such_upload`, parts it
    /// refuses `invalid_part` (S3's words in the log only); anything else is an `internal`
    /// answer, with a missing permission named in the log as the configuration error it is.
    fn from_store(error: StoreError) -> Self {
        match error {
            StoreError::NoSuchUpload => Self::new(ErrorCode::NoSuchUpload, NO_SUCH_UPLOAD_MESSAGE),
            StoreError::InvalidPart(detail) => Self {
                error: ApiError::new(
                    ErrorCode::InvalidPart,
                    "S3 does not hold every part as named (one is missing, differs from its ETag \
                     or checksum, or is too small); list the parts and send the missing ones again.",
                ),
                detail: Some(detail),
            },
            StoreError::AccessDenied => Self::internal(format!("configuration error: {error}")),
            StoreError::Other(_) => Self::internal(error.to_string()),
        }
    }
}

impl From<ApiError> for Failure {
    fn from(error: ApiError) -> Self {
        Self {
            error,
            detail: None,
        }
    }
}

/// What a caller is told about a multipart upload S3 does not hold for their key (the contract's
/// `error_no_such_upload.json`).
const NO_SUCH_UPLOAD_MESSAGE: &str =
    "This upload is no longer open on the service; it starts over.";

/// A successful answer of any route.
#[derive(Serialize)]
#[serde(untagged)]
enum Answer {
    Presign(PresignResponse),
    Results(ResultsPage),
    Multipart(multipart::MultipartAnswer),
}

/// What the log line says about a request besides its outcome.
#[derive(Default)]
struct RequestFacts {
    mode: Option<TransferMode>,
    user: Option<UserId>,
    /// S3's id of the multipart upload the request is about (not a secret: it opens nothing
    /// without a signature).
    multipart_upload_id: Option<String>,
    /// How many parts the request signed, listed or completed.
    parts: Option<usize>,
}

/// Authenticates, validates and presigns. Built once per process and shared by every request.
pub struct PresignService<S> {
    config: Config,
    presigner: Presigner,
    credentials: CredentialsCache,
    store: S,
    clock: Arc<dyn Clock>,
}

impl PresignService<S3Store> {
    /// Builds the service from the environment: the service's variables (see [`Config`]) and the
    /// standard AWS ones (region, credentials, endpoint). Warnings about risky settings are logged
    /// here, once.
    ///
    /// # Errors
    /// A [`StartError`] naming the setting at fault.
    pub async fn from_env() -> Result<Self, StartError> {
        let config = Config::from_env()?;
        let sdk = aws_config::defaults(BehaviorVersion::latest()).load().await;
        let region = sdk.region().ok_or(StartError::NoRegion)?.to_string();
        let provider = sdk
            .credentials_provider()
            .ok_or(StartError::NoCredentials)?;
        let mut s3 = aws_sdk_s3::config::Builder::from(&sdk);
        if let Some(endpoint) = &config.endpoint {
            s3 = s3.endpoint_url(endpoint).force_path_style(true);
        }
        let store = S3Store::new(aws_sdk_s3::Client::from_conf(s3.build()));
        let presigner = Presigner::new(region, config.endpoint.clone());
        Ok(Self::new(
            config,
            presigner,
            CredentialsCache::new(provider),
            store,
            Arc::new(SystemClock),
        ))
    }
}

impl<S: ObjectStore> PresignService<S> {
    /// Assembles a service from its parts and logs the warnings its settings call for.
    pub fn new(
        config: Config,
        presigner: Presigner,
        credentials: CredentialsCache,
        store: S,
        clock: Arc<dyn Clock>,
    ) -> Self {
        if matches!(config.auth, Authenticator::Open) {
            tracing::warn!(
                "DDN_AUTH=none: authentication is off, anyone who can reach this API gets URLs"
            );
        }
        if config.url_ttl_clamped {
            tracing::warn!(
                ttl_seconds = config.url_ttl.as_secs(),
                "DDN_URL_TTL_SECONDS is above the 7-day maximum of SigV4; using 7 days"
            );
        }
        Self {
            config,
            presigner,
            credentials,
            store,
            clock,
        }
    }

    /// The settings the service runs with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The answer to a request a transport could not read (a body too large or not text, an
    /// event of no known shape), with its log line: `route` when the transport knows it, and
    /// `detail` for the log only.
    pub fn refuse(
        &self,
        request_id: &str,
        route: Option<&str>,
        error: ApiError,
        detail: &str,
    ) -> ApiResponse {
        tracing::info!(
            request_id,
            route,
            status = error.code.http_status(),
            code = error.code.as_str(),
            detail,
            "request refused"
        );
        ApiResponse::error(error)
    }

    /// Answers one request and writes its log line. Never fails: every failure is an answer.
    pub async fn handle(&self, request: &ApiRequest) -> ApiResponse {
        let started = Instant::now();
        let mut facts = RequestFacts::default();
        let result = self.route(request, &mut facts).await;
        let latency_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        let mode = facts.mode.map(TransferMode::as_str);
        let user = facts.user.as_ref().map(UserId::as_str);
        let multipart_upload_id = facts.multipart_upload_id.as_deref();
        let parts = facts.parts;
        let route = if request.path.is_empty() {
            PRESIGN_PATH
        } else {
            request.path.as_str()
        };
        match result {
            Ok(answer) => {
                tracing::info!(
                    request_id = %request.request_id,
                    route,
                    mode,
                    user,
                    multipart_upload_id,
                    parts,
                    status = 200,
                    latency_us,
                    "answered"
                );
                ApiResponse::json(200, &answer)
            }
            Err(failure) => {
                let status = failure.error.code.http_status();
                let code = failure.error.code.as_str();
                if status >= 500 {
                    tracing::error!(
                        request_id = %request.request_id,
                        route,
                        mode,
                        user,
                        multipart_upload_id,
                        parts,
                        status,
                        code,
                        latency_us,
                        detail = failure.detail.as_deref().unwrap_or(""),
                        "request failed"
                    );
                } else {
                    tracing::info!(
                        request_id = %request.request_id,
                        route,
                        mode,
                        user,
                        multipart_upload_id,
                        parts,
                        status,
                        code,
                        latency_us,
                        detail = failure.detail.as_deref(),
                        "request refused"
                    );
                }
                ApiResponse::error(failure.error)
            }
        }
    }

    async fn route(
        &self,
        request: &ApiRequest,
        facts: &mut RequestFacts,
    ) -> Result<Answer, Failure> {
        let path = request.path.trim_end_matches('/');
        if let Some(route) = multipart::Route::at(path) {
            if !request.method.eq_ignore_ascii_case("POST") {
                return Err(Failure::new(
                    ErrorCode::MethodNotAllowed,
                    "Use POST for this route.",
                ));
            }
            // Boxed: the multipart routes' futures nest deeply enough to overflow the
            // compiler's layout depth for the runtime's handler future.
            return Box::pin(self.multipart(
                route,
                request.authorization.as_deref(),
                &request.body,
                facts,
            ))
            .await
            .map(Answer::Multipart);
        }
        let results = match path {
            "" | PRESIGN_PATH => false,
            RESULTS_PATH => true,
            _ => return Err(Failure::new(ErrorCode::NotFound, "There is no such route.")),
        };
        if !(request.method.is_empty() || request.method.eq_ignore_ascii_case("GET")) {
            return Err(Failure::new(
                ErrorCode::MethodNotAllowed,
                "Use GET for this route.",
            ));
        }

        let user = self
            .config
            .auth
            .authenticate(request.authorization.as_deref())
            .map_err(unauthorized)?;
        facts.user = Some(user.clone());
        let pairs = request.query.iter().map(|(k, v)| (k.as_str(), v.as_str()));
        if results {
            let query = ResultsRequest::from_query_pairs(pairs)?;
            return self.list_results(&user, &query).await.map(Answer::Results);
        }

        let query = PresignRequest::from_query_pairs(pairs)?;
        facts.mode = Some(query.mode);
        let key = keys::object_key(&user, &query.file)
            .map_err(|e| Failure::new(ErrorCode::InvalidKey, e.to_string()))?;

        let now = self.clock.now();
        let answer = match query.mode {
            TransferMode::Upload => self.presign_upload(&query, key, now).await,
            TransferMode::Download => self.presign_download(&query, key, now).await,
        };
        answer.map(Answer::Presign)
    }

    /// A page of the user's objects in the output bucket, names relative to their prefix.
    async fn list_results(
        &self,
        user: &UserId,
        query: &ResultsRequest,
    ) -> Result<ResultsPage, Failure> {
        let prefix = keys::user_prefix(user);
        let start_after = query
            .cursor
            .as_ref()
            .map(|cursor| format!("{prefix}{cursor}"));
        let limit = query.limit.unwrap_or(DEFAULT_RESULTS_PAGE);
        let listing = self
            .store
            .list_objects(
                &self.config.out_bucket,
                &prefix,
                start_after.as_deref(),
                limit,
            )
            .await
            .map_err(Failure::from_store)?;
        let results: Vec<ResultItem> = listing
            .objects
            .into_iter()
            .filter_map(|object| {
                let name = object.key.strip_prefix(&prefix)?.to_owned();
                let last_modified = object
                    .last_modified
                    .and_then(|t| OffsetDateTime::from(t).format(&Rfc3339).ok())
                    .unwrap_or_default();
                Some(ResultItem {
                    name,
                    size: object.size,
                    last_modified,
                })
            })
            .collect();
        let next_cursor = if listing.truncated {
            results.last().map(|item| item.name.clone())
        } else {
            None
        };
        Ok(ResultsPage {
            results,
            next_cursor,
        })
    }

    async fn presign_upload(
        &self,
        query: &PresignRequest,
        key: String,
        now: SystemTime,
    ) -> Result<PresignResponse, Failure> {
        let mut headers = Vec::with_capacity(4);
        if query.size.is_none() && self.config.require_size {
            return Err(Failure::new(
                ErrorCode::InvalidParameter,
                "This service needs the exact size of every upload: add size=<bytes>.",
            ));
        }
        if let Some(size) = query.size {
            if size > MAX_SINGLE_PUT_BYTES {
                return Err(Failure::new(
                    ErrorCode::TooLarge,
                    format!(
                        "The file is {size} bytes; a single upload takes at most 5 GiB \
                         ({MAX_SINGLE_PUT_BYTES} bytes). Larger files need a multipart upload."
                    ),
                ));
            }
            headers.push(("content-length", size.to_string()));
        }
        if let Some(md5) = &query.md5 {
            let valid = base64::engine::general_purpose::STANDARD
                .decode(md5)
                .is_ok_and(|digest| digest.len() == 16);
            if !valid {
                return Err(Failure::new(
                    ErrorCode::InvalidParameter,
                    "md5 must be the base64 encoding of a 16-byte MD5 digest",
                ));
            }
            headers.push(("content-md5", md5.clone()));
        }
        if let Some(content_type) = &query.content_type {
            if !is_valid_content_type(content_type) {
                return Err(Failure::new(
                    ErrorCode::InvalidParameter,
                    "contentType must be a media type such as image/png",
                ));
            }
            headers.push(("content-type", content_type.clone()));
        }
        // Only a client that declares the size gets an upload id: one that does not (the seed's
        // scripts, `requests.put(url, data=f)`) sends no extra header, and a signed header it
        // does not send would make S3 refuse its PUT. Its results are matched by name alone.
        let upload_id = match query.size {
            Some(_) => {
                let id = new_upload_id().map_err(Failure::internal)?;
                headers.push((processing::UPLOAD_ID_HEADER, id.clone()));
                Some(id)
            }
            None => None,
        };
        let mut answer = self
            .sign(
                HttpMethod::Put,
                &self.config.in_bucket,
                key,
                &headers,
                now,
                None,
            )
            .await?;
        answer.upload_id = upload_id;
        Ok(answer)
    }

    /// A download URL for the result at `key`: any stored result without `uploadId` (as the seed
    /// did); with it, only the result of that upload (see [`answers_upload`]), and a
    /// `processing_failed` refusal when the processor marked that upload as failed.
    async fn presign_download(
        &self,
        query: &PresignRequest,
        key: String,
        now: SystemTime,
    ) -> Result<PresignResponse, Failure> {
        let uploaded_at = query
            .uploaded_at
            .as_deref()
            .map(|text| {
                OffsetDateTime::parse(text, &Rfc3339)
                    .map(SystemTime::from)
                    .map_err(|_| {
                        Failure::new(
                            ErrorCode::InvalidParameter,
                            "uploadedAt must be a date such as 2026-11-24T12:00:00Z",
                        )
                    })
            })
            .transpose()?;
        let out = &self.config.out_bucket;
        let result = self.head(out, &key).await?;
        let accepted = match (&query.upload_id, result) {
            (None, result) => result,
            (Some(id), result) => result.filter(|meta| answers_upload(meta, id, uploaded_at)),
        };
        if let Some(meta) = accepted {
            return self
                .sign(HttpMethod::Get, out, key, &[], now, Some(meta))
                .await;
        }
        if let Some(id) = &query.upload_id {
            let marker_key = format!("{}{key}", processing::FAILED_PREFIX);
            if let Some(marker) = self.head(out, &marker_key).await?
                && marker.metadata.get(processing::UPLOAD_ID_META) == Some(id)
            {
                let reason = marker
                    .metadata
                    .get(processing::MESSAGE_META)
                    .map(|raw| failure_reason(raw))
                    .filter(|reason| !reason.is_empty())
                    .unwrap_or_else(|| "The processor could not process this file.".to_owned());
                return Err(Failure::new(ErrorCode::ProcessingFailed, reason));
            }
        }
        Err(Failure::new(
            ErrorCode::NotReady,
            "The result is not ready yet; ask again in a few seconds.",
        ))
    }

    /// The metadata of `key` in `bucket`, `None` when there is no such object.
    async fn head(&self, bucket: &str, key: &str) -> Result<Option<ObjectMeta>, Failure> {
        self.store
            .head_object(bucket, key)
            .await
            .map_err(Failure::from_store)
    }

    async fn sign(
        &self,
        method: HttpMethod,
        bucket: &str,
        key: String,
        headers: &[(&'static str, String)],
        now: SystemTime,
        meta: Option<ObjectMeta>,
    ) -> Result<PresignResponse, Failure> {
        let credentials = self
            .credentials
            .get(now)
            .await
            .map_err(|e| Failure::internal(e.to_string()))?;
        let signed = self
            .presigner
            .presign(
                &credentials,
                &UrlRequest {
                    method,
                    bucket,
                    key: &key,
                    signed_headers: headers,
                },
                self.config.url_ttl,
                now,
            )
            .map_err(|e| Failure::internal(e.to_string()))?;
        let expires_at = OffsetDateTime::from(signed.expires_at)
            .format(&Rfc3339)
            .map_err(|e| Failure::internal(format!("formatting the expiry: {e}")))?;
        Ok(PresignResponse {
            url: signed.url,
            method,
            key,
            headers: signed.headers,
            expires_at,
            size: meta.as_ref().map(|m| m.size),
            upload_id: meta
                .as_ref()
                .and_then(|m| m.metadata.get(processing::UPLOAD_ID_META).cloned()),
            checksum: meta.as_ref().and_then(whole_object_checksum),
            etag: meta.and_then(|m| m.etag),
        })
    }
}

/// Whether the stored result `meta` answers the upload `id`. A result that names its upload must
/// name this one. A result that names none (its processor does not copy the metadata) is taken
/// only when it was written no earlier than the upload was stored (`uploaded_at`, whole seconds,
/// from S3's own clock): it then cannot be the result of an upload finished before this one, but
/// it may still be an older upload's result that its processor finished after this upload
/// arrived. Without `uploaded_at`, such a result is never taken.
fn answers_upload(meta: &ObjectMeta, id: &str, uploaded_at: Option<SystemTime>) -> bool {
    match meta.metadata.get(processing::UPLOAD_ID_META) {
        Some(theirs) => theirs == id,
        None => match (meta.last_modified, uploaded_at) {
            (Some(written), Some(uploaded)) => written >= uploaded,
            _ => false,
        },
    }
}

/// A checksum of the whole object that S3 vouches for. The ETag is the MD5 of the data only for
/// a single-part object stored without a KMS or customer-provided key (no encryption or SSE-S3,
/// `AES256`); otherwise the first full-object checksum S3 reports, if any.
fn whole_object_checksum(meta: &ObjectMeta) -> Option<Checksum> {
    let etag_is_md5 = !meta.customer_key
        && meta.encryption.as_deref().is_none_or(|e| e == "AES256")
        && meta
            .etag
            .as_deref()
            .is_some_and(|etag| etag.len() == 32 && etag.bytes().all(|b| b.is_ascii_hexdigit()));
    if etag_is_md5 {
        return meta.etag.as_ref().map(|etag| Checksum {
            algorithm: ChecksumAlgorithm::Md5,
            value: etag.to_ascii_lowercase(),
        });
    }
    meta.checksums.first().map(|(algorithm, value)| Checksum {
        algorithm: *algorithm,
        value: value.clone(),
    })
}

/// A failure marker's `ddn-message` as the user may see it: percent-decoded (invalid UTF-8
/// replaced), control characters removed, surrounding space trimmed, at most
/// [`processing::MAX_FAILURE_MESSAGE_BYTES`] bytes (cut at a character boundary).
pub fn failure_reason(raw: &str) -> String {
    let decoded: String = percent_encoding::percent_decode_str(raw)
        .decode_utf8_lossy()
        .chars()
        .filter(|c| !c.is_control())
        .collect();
    let mut reason = decoded.trim().to_owned();
    if reason.len() > processing::MAX_FAILURE_MESSAGE_BYTES {
        let mut end = processing::MAX_FAILURE_MESSAGE_BYTES;
        while !reason.is_char_boundary(end) {
            end -= 1;
        }
        reason.truncate(end);
    }
    reason
}

/// A fresh upload id: 128 random bits as 32 lowercase hex digits.
fn new_upload_id() -> Result<String, String> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| format!("no randomness for an upload id: {e}"))?;
    Ok(hex::encode(bytes))
}

fn unauthorized(reason: AuthError) -> Failure {
    Failure {
        error: ApiError::new(
            ErrorCode::Unauthorized,
            "A valid access token is required (Authorization: Bearer <token>).",
        ),
        detail: Some(reason.to_string()),
    }
}

/// `type/subtype` with optional parameters, visible ASCII only, at most 255 bytes.
fn is_valid_content_type(value: &str) -> bool {
    let Some((kind, rest)) = value.split_once('/') else {
        return false;
    };
    value.len() <= 255
        && !kind.is_empty()
        && !rest.is_empty()
        && value.bytes().all(|b| (0x20..0x7F).contains(&b))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn result(upload_id: Option<&str>, written: u64) -> ObjectMeta {
        ObjectMeta {
            last_modified: Some(SystemTime::UNIX_EPOCH + Duration::from_secs(written)),
            metadata: upload_id
                .map(|id| (processing::UPLOAD_ID_META.to_owned(), id.to_owned()))
                .into_iter()
                .collect(),
            ..ObjectMeta::default()
        }
    }

    #[test]
    fn a_result_answers_only_its_own_upload() {
        let at = |secs: u64| Some(SystemTime::UNIX_EPOCH + Duration::from_secs(secs));
        assert!(answers_upload(&result(Some("b"), 100), "b", at(200)));
        // Another upload's result, however new, is not this one's.
        assert!(!answers_upload(&result(Some("a"), 300), "b", at(200)));
        // Without an id: only a result written no earlier than the upload (same second counts).
        assert!(answers_upload(&result(None, 200), "b", at(200)));
        assert!(answers_upload(&result(None, 201), "b", at(200)));
        assert!(!answers_upload(&result(None, 199), "b", at(200)));
        assert!(!answers_upload(&result(None, 300), "b", None));
    }

    #[test]
    fn the_etag_is_an_md5_only_without_kms_or_customer_keys() {
        let md5 = "b5175b52497cbf770484662801d5c82a";
        let meta = |encryption: Option<&str>, customer_key: bool, etag: &str| ObjectMeta {
            etag: Some(etag.to_owned()),
            encryption: encryption.map(str::to_owned),
            customer_key,
            checksums: vec![(ChecksumAlgorithm::Crc64nvme, "kL3S4u9c3QY=".to_owned())],
            ..ObjectMeta::default()
        };
        for (encryption, customer_key, etag, expected) in [
            (None, false, md5, ChecksumAlgorithm::Md5),
            (Some("AES256"), false, md5, ChecksumAlgorithm::Md5),
            (Some("aws:kms"), false, md5, ChecksumAlgorithm::Crc64nvme),
            (
                Some("aws:kms:dsse"),
                false,
                md5,
                ChecksumAlgorithm::Crc64nvme,
            ),
            (Some("AES256"), true, md5, ChecksumAlgorithm::Crc64nvme),
            (
                None,
                false,
                "b5175b52497cbf770484662801d5c82a-3",
                ChecksumAlgorithm::Crc64nvme,
            ),
        ] {
            let checksum = whole_object_checksum(&meta(encryption, customer_key, etag)).unwrap();
            assert_eq!(
                checksum.algorithm, expected,
                "{encryption:?} {customer_key} {etag}"
            );
        }
        let bare = ObjectMeta {
            encryption: Some("aws:kms".into()),
            etag: Some(md5.into()),
            ..ObjectMeta::default()
        };
        assert_eq!(whole_object_checksum(&bare), None);
    }

    #[test]
    fn failure_reasons_are_decoded_cleaned_and_bounded() {
        assert_eq!(
            failure_reason("Unsupported%20format%3A%20%ED%8C%8C%EC%9D%BC"),
            "Unsupported format: 파일"
        );
        assert_eq!(failure_reason("bad%0D%0Aline%1B[31m"), "badline[31m");
        assert_eq!(failure_reason("%FF%FEok"), "\u{fffd}\u{fffd}ok");
        let long = "%ED%95%9C".repeat(400); // 400 × "한" (3 bytes each)
        let reason = failure_reason(&long);
        assert!(
            reason.len() <= 1024 && reason.len() > 1020,
            "{}",
            reason.len()
        );
        assert!(reason.chars().all(|c| c == '한'));
    }

    #[test]
    fn upload_ids_are_random_hex() {
        let a = new_upload_id().unwrap();
        let b = new_upload_id().unwrap();
        assert_ne!(a, b);
        assert_eq!(a.len(), 32);
        assert!(processing::is_valid_upload_id(&a));
    }

    #[test]
    fn content_types_are_checked() {
        for good in [
            "image/png",
            "application/octet-stream",
            "text/plain; charset=utf-8",
        ] {
            assert!(is_valid_content_type(good), "{good}");
        }
        for bad in [
            "png",
            "/png",
            "image/",
            "image/png\r\nx-amz-acl: public",
            "image/pñg",
        ] {
            assert!(!is_valid_content_type(bad), "{bad:?}");
        }
        assert!(!is_valid_content_type(&format!("a/{}", "b".repeat(254))));
    }
}
