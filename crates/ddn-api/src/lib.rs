//! The wire contract between the DDN presign service and its clients.
//!
//! Both sides (the Lambda function and the desktop/CLI transfer engine) depend on these types, so a
//! change here is a change to the protocol. The crate holds types, constants and pure parsing only.
//!
//! Architecture invariant: this crate depends on `serde` alone and performs no I/O.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

pub mod multipart;

/// Path of the presign route, relative to the API's base address.
pub const PRESIGN_PATH: &str = "/presign";

/// Path of the results route: the caller's processed results, a page at a time.
pub const RESULTS_PATH: &str = "/results";

/// Results per page when the caller does not say.
pub const DEFAULT_RESULTS_PAGE: u32 = 100;

/// The most results one page may hold (S3 lists at most 1000 keys per call).
pub const MAX_RESULTS_PAGE: u32 = 1000;

/// The largest object S3 accepts in a single `PUT` (5 GiB). Bigger files need a multipart upload.
pub const MAX_SINGLE_PUT_BYTES: u64 = 5 * 1024 * 1024 * 1024;

/// The longest presigned URL lifetime SigV4 allows (7 days), in seconds.
pub const MAX_URL_TTL_SECONDS: u64 = 7 * 24 * 60 * 60;

/// An access token, as a client sends it in `Authorization: Bearer`. Its `Debug` never shows it
/// and it has no `Display`, `Serialize` or `Deserialize`, so a token cannot reach a log line, an
/// error message or a JSON document by accident: only [`Token::expose`] reads it.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl Token {
    /// Wraps a token.
    pub fn new(token: impl Into<String>) -> Self {
        Self(token.into())
    }

    /// The token itself, for the `Authorization` header and the keyring only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(<hidden>)")
    }
}

/// The processing contract: how a processor ties its result (or its failure) to the upload it
/// answers. See the README's "The processing contract".
pub mod processing {
    /// The user-metadata name (without S3's `x-amz-meta-` prefix) that carries an upload's id: on
    /// the input object, where S3 stores it from the signed upload header, and on the result, where
    /// the processor copies it.
    pub const UPLOAD_ID_META: &str = "ddn-upload-id";
    /// The request header that stores [`UPLOAD_ID_META`] on the input object. Signed into upload
    /// URLs that carry an id, so a client must send it with exactly the value in `headers`.
    pub const UPLOAD_ID_HEADER: &str = "x-amz-meta-ddn-upload-id";
    /// The user-metadata name of a failure marker's reason: percent-encoded UTF-8, at most
    /// [`MAX_FAILURE_MESSAGE_BYTES`] once decoded.
    pub const MESSAGE_META: &str = "ddn-message";
    /// A failed processing is marked by an empty object at this prefix plus the input's key, in
    /// the output bucket (`failed/users/alice/scan.png`).
    pub const FAILED_PREFIX: &str = "failed/";
    /// The longest failure reason passed on to the user, in bytes of UTF-8, after decoding.
    pub const MAX_FAILURE_MESSAGE_BYTES: usize = 1024;
    /// The longest upload id the service accepts back from a client.
    pub const MAX_UPLOAD_ID_LEN: usize = 64;

    /// Whether `id` can be an upload id: 1 to [`MAX_UPLOAD_ID_LEN`] ASCII letters, digits, `-`
    /// or `_`. Ids the service makes are 32 lowercase hex digits; the wider rule leaves room.
    pub fn is_valid_upload_id(id: &str) -> bool {
        !id.is_empty()
            && id.len() <= MAX_UPLOAD_ID_LEN
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    }
}

/// Names of the query parameters of [`PRESIGN_PATH`].
pub mod query {
    /// The object name chosen by the caller (required). The seed's parameter name.
    pub const FILE: &str = "file";
    /// `upload` or `download` (default `download`, as in the seed).
    pub const MODE: &str = "mode";
    /// Upload only: the exact body length in bytes; signed into the URL.
    pub const SIZE: &str = "size";
    /// Upload only: base64 of the body's MD5 digest (`Content-MD5`); signed into the URL.
    pub const MD5: &str = "md5";
    /// Upload only: the body's media type; signed into the URL.
    pub const CONTENT_TYPE: &str = "contentType";
    /// Results only: continue after this name (the previous page's `nextCursor`).
    pub const CURSOR: &str = "cursor";
    /// Results only: how many results per page, 1 to [`super::MAX_RESULTS_PAGE`].
    pub const LIMIT: &str = "limit";
    /// Download only: the id of the upload whose result is wanted (the upload answer's
    /// `uploadId`). Only a result of that upload is handed out.
    pub const UPLOAD_ID: &str = "uploadId";
    /// Download only, with [`UPLOAD_ID`]: when that upload was stored, RFC 3339 (the `Date` S3
    /// sent with its answer to the `PUT`). A result without an upload id is accepted only when it
    /// was written no earlier than this.
    pub const UPLOADED_AT: &str = "uploadedAt";
}

/// What the caller wants a URL for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum TransferMode {
    /// A `PUT` into the input bucket.
    Upload,
    /// A `GET` from the output bucket (the seed's default).
    #[default]
    Download,
}

impl TransferMode {
    /// The mode as it appears on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Upload => "upload",
            Self::Download => "download",
        }
    }

    /// Parses the wire form. Anything but `upload` or `download` is refused (the seed silently
    /// treated any other value as a download).
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "upload" => Some(Self::Upload),
            "download" => Some(Self::Download),
            _ => None,
        }
    }
}

impl fmt::Display for TransferMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The HTTP method a presigned URL is valid for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum HttpMethod {
    /// Upload the body.
    Put,
    /// Fetch the body.
    Get,
}

impl HttpMethod {
    /// The method name as HTTP spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Put => "PUT",
            Self::Get => "GET",
        }
    }
}

/// A request for a presigned URL, as carried by the query string of [`PRESIGN_PATH`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PresignRequest {
    /// The object name chosen by the caller. The service validates it and places it under the
    /// caller's own prefix; it is never used as a raw key.
    pub file: String,
    /// Upload or download.
    pub mode: TransferMode,
    /// Upload only: the exact body length.
    pub size: Option<u64>,
    /// Upload only: base64 `Content-MD5` of the body.
    pub md5: Option<String>,
    /// Upload only: the body's media type.
    pub content_type: Option<String>,
    /// Download only: hand out only the result of this upload.
    pub upload_id: Option<String>,
    /// Download only, with `upload_id`: when that upload was stored (RFC 3339), for results that
    /// carry no upload id.
    pub uploaded_at: Option<String>,
}

impl PresignRequest {
    /// Reads a request from decoded query pairs. The first occurrence of a parameter wins; unknown
    /// parameters are ignored so that older services accept newer clients.
    ///
    /// # Errors
    /// [`ErrorCode::MissingFile`] when `file` is absent or empty, [`ErrorCode::InvalidMode`] for an
    /// unknown mode, [`ErrorCode::InvalidParameter`] for a `size` that is not a whole number or an
    /// `uploadId` that cannot be one. `uploadedAt` is checked by the service, which reads dates.
    pub fn from_query_pairs<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, ApiError> {
        let mut file = None;
        let mut mode = None;
        let mut size = None;
        let mut md5 = None;
        let mut content_type = None;
        let mut upload_id = None;
        let mut uploaded_at = None;
        for (name, value) in pairs {
            let slot = match name {
                query::FILE => &mut file,
                query::MODE => &mut mode,
                query::SIZE => &mut size,
                query::MD5 => &mut md5,
                query::CONTENT_TYPE => &mut content_type,
                query::UPLOAD_ID => &mut upload_id,
                query::UPLOADED_AT => &mut uploaded_at,
                _ => continue,
            };
            if slot.is_none() {
                *slot = Some(value);
            }
        }

        let file = match file {
            Some(file) if !file.is_empty() => file.to_owned(),
            _ => return Err(ApiError::new(ErrorCode::MissingFile, MISSING_FILE_MESSAGE)),
        };
        let mode = match mode {
            None => TransferMode::Download,
            Some(text) => TransferMode::parse(text).ok_or_else(|| {
                ApiError::new(
                    ErrorCode::InvalidMode,
                    "mode must be \"upload\" or \"download\"",
                )
            })?,
        };
        let size = size
            .map(|text| {
                text.parse::<u64>().map_err(|_| {
                    ApiError::new(
                        ErrorCode::InvalidParameter,
                        "size must be a whole number of bytes",
                    )
                })
            })
            .transpose()?;
        if let Some(id) = upload_id
            && !processing::is_valid_upload_id(id)
        {
            return Err(ApiError::new(
                ErrorCode::InvalidParameter,
                "uploadId must be the uploadId of an upload answer",
            ));
        }
        Ok(Self {
            file,
            mode,
            size,
            md5: md5.map(str::to_owned),
            content_type: content_type.map(str::to_owned),
            upload_id: upload_id.map(str::to_owned),
            uploaded_at: uploaded_at.map(str::to_owned),
        })
    }

    /// The query pairs that carry this request, in a stable order. The caller percent-encodes them.
    pub fn to_query_pairs(&self) -> Vec<(&'static str, String)> {
        let mut pairs = vec![
            (query::FILE, self.file.clone()),
            (query::MODE, self.mode.as_str().to_owned()),
        ];
        if let Some(size) = self.size {
            pairs.push((query::SIZE, size.to_string()));
        }
        if let Some(md5) = &self.md5 {
            pairs.push((query::MD5, md5.clone()));
        }
        if let Some(content_type) = &self.content_type {
            pairs.push((query::CONTENT_TYPE, content_type.clone()));
        }
        if let Some(upload_id) = &self.upload_id {
            pairs.push((query::UPLOAD_ID, upload_id.clone()));
        }
        if let Some(uploaded_at) = &self.uploaded_at {
            pairs.push((query::UPLOADED_AT, uploaded_at.clone()));
        }
        pairs
    }
}

/// A request for a page of the caller's results, as carried by the query string of
/// [`RESULTS_PATH`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ResultsRequest {
    /// Continue after this name: the previous page's [`ResultsPage::next_cursor`].
    pub cursor: Option<String>,
    /// Results per page; [`DEFAULT_RESULTS_PAGE`] when `None`.
    pub limit: Option<u32>,
}

impl ResultsRequest {
    /// Reads a request from decoded query pairs (first occurrence wins, unknown ones ignored).
    ///
    /// # Errors
    /// [`ErrorCode::InvalidParameter`] for a `limit` that is not a whole number from 1 to
    /// [`MAX_RESULTS_PAGE`].
    pub fn from_query_pairs<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, ApiError> {
        let mut request = Self::default();
        let mut limit = None;
        for (name, value) in pairs {
            match name {
                query::CURSOR if request.cursor.is_none() && !value.is_empty() => {
                    request.cursor = Some(value.to_owned());
                }
                query::LIMIT if limit.is_none() => limit = Some(value),
                _ => {}
            }
        }
        if let Some(text) = limit {
            let value = text
                .parse::<u32>()
                .ok()
                .filter(|n| (1..=MAX_RESULTS_PAGE).contains(n))
                .ok_or_else(|| {
                    ApiError::new(
                        ErrorCode::InvalidParameter,
                        format!("limit must be a whole number from 1 to {MAX_RESULTS_PAGE}"),
                    )
                })?;
            request.limit = Some(value);
        }
        Ok(request)
    }

    /// The query pairs that carry this request. The caller percent-encodes them.
    pub fn to_query_pairs(&self) -> Vec<(&'static str, String)> {
        let mut pairs = Vec::new();
        if let Some(cursor) = &self.cursor {
            pairs.push((query::CURSOR, cursor.clone()));
        }
        if let Some(limit) = self.limit {
            pairs.push((query::LIMIT, limit.to_string()));
        }
        pairs
    }
}

/// One page of the caller's results, in name order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResultsPage {
    /// The results on this page.
    pub results: Vec<ResultItem>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// One processed result of the caller.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResultItem {
    /// The file name, without the caller's prefix: what `file` takes on [`PRESIGN_PATH`].
    pub name: String,
    /// Size in bytes.
    pub size: u64,
    /// When the result was written, RFC 3339 in UTC.
    pub last_modified: String,
}

/// The seed's exact message for a request without `file`, kept so that its users see the same words.
pub const MISSING_FILE_MESSAGE: &str = "file parameter is required";

/// The successful answer of [`PRESIGN_PATH`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PresignResponse {
    /// The presigned URL. A bearer secret until it expires: never log it whole.
    pub url: String,
    /// The method the URL is signed for.
    pub method: HttpMethod,
    /// The full object key (with the caller's prefix) the URL points at.
    pub key: String,
    /// Every header the client must send, with exactly these values, or S3 refuses the signature.
    pub headers: BTreeMap<String, String>,
    /// When the URL stops working, RFC 3339 in UTC.
    pub expires_at: String,
    /// Download only: the object's size in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// Download only: the object's ETag, without quotes, for `If-Match` when resuming. Not
    /// necessarily an MD5 (multipart uploads, SSE-KMS and SSE-C make other ETags): check
    /// [`Self::checksum`] instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    /// Upload: the id this upload is known by (sent only for uploads that declare their `size`),
    /// to pass as `uploadId` when asking for its result. Download: the upload id the result
    /// carries, when it carries one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upload_id: Option<String>,
    /// Download only: a checksum of the whole object that S3 vouches for, when one is known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum: Option<Checksum>,
}

/// A checksum of a whole object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checksum {
    /// How it is computed.
    pub algorithm: ChecksumAlgorithm,
    /// The digest: lowercase hex for [`ChecksumAlgorithm::Md5`], base64 (as S3 reports them) for
    /// the others.
    pub value: String,
}

/// The checksums a download answer may carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChecksumAlgorithm {
    /// MD5, from an ETag known to be one (a single-part object, no KMS or customer key).
    Md5,
    /// S3's CRC-32 (`x-amz-checksum-crc32`), big-endian.
    Crc32,
    /// S3's CRC-32C (`x-amz-checksum-crc32c`), big-endian.
    Crc32c,
    /// S3's SHA-1 (`x-amz-checksum-sha1`).
    Sha1,
    /// S3's SHA-256 (`x-amz-checksum-sha256`).
    Sha256,
    /// S3's CRC-64/NVME (`x-amz-checksum-crc64nvme`), the checksum S3 adds to new objects.
    Crc64nvme,
    /// A checksum this client does not know (from a newer service); it cannot be checked.
    #[serde(other)]
    Unknown,
}

/// The body of every error answer: `{"error":{"code":"...","message":"..."}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// The error itself.
    pub error: ApiError,
}

/// A machine-readable code and a plain-language message. Clients branch on the code, never on the
/// message. Messages never contain URLs, tokens or internal details.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiError {
    /// What went wrong, for programs.
    pub code: ErrorCode,
    /// What went wrong, for people.
    pub message: String,
}

impl ApiError {
    /// Builds an error from a code and a message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    /// Wraps the error in the body the service sends.
    pub fn into_body(self) -> ErrorBody {
        ErrorBody { error: self }
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.message, self.code.as_str())
    }
}

impl std::error::Error for ApiError {}

/// Every error code the service sends. Unknown codes from a newer service read as [`Self::Unknown`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// 400: the request has no `file`.
    MissingFile,
    /// 400: the object name breaks the key rules.
    InvalidKey,
    /// 400: `mode` is neither `upload` nor `download`.
    InvalidMode,
    /// 400: another parameter (`size`, `md5`, `contentType`) is malformed.
    InvalidParameter,
    /// 401: no bearer token, or one the service does not know.
    Unauthorized,
    /// 404: the route does not exist.
    NotFound,
    /// 404: the processed result is not in the output bucket yet; ask again later.
    NotReady,
    /// 405: the route exists but not for this method.
    MethodNotAllowed,
    /// 404: the multipart upload is not one S3 holds for this caller's key: completed, aborted
    /// (by the client or by the bucket's lifecycle rule), or another key's. Start over.
    NoSuchUpload,
    /// 400: a completion names a part S3 does not hold, or with another ETag; list the parts and
    /// send the missing ones again.
    InvalidPart,
    /// 413: the declared size is above the single-`PUT` limit.
    TooLarge,
    /// 422: the processor could not process this upload; the message is its reason. Uploading
    /// the file again is the way forward.
    ProcessingFailed,
    /// 500: something failed inside the service; details are only in its log.
    Internal,
    /// A code this client does not know (sent by a newer service).
    #[serde(other)]
    Unknown,
}

impl ErrorCode {
    /// The code as it appears on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::MissingFile => "missing_file",
            Self::InvalidKey => "invalid_key",
            Self::InvalidMode => "invalid_mode",
            Self::InvalidParameter => "invalid_parameter",
            Self::Unauthorized => "unauthorized",
            Self::NotFound => "not_found",
            Self::NotReady => "not_ready",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::NoSuchUpload => "no_such_upload",
            Self::InvalidPart => "invalid_part",
            Self::TooLarge => "too_large",
            Self::ProcessingFailed => "processing_failed",
            Self::Internal => "internal",
            Self::Unknown => "unknown",
        }
    }

    /// The HTTP status that goes with the code.
    pub fn http_status(self) -> u16 {
        match self {
            Self::MissingFile
            | Self::InvalidKey
            | Self::InvalidMode
            | Self::InvalidParameter
            | Self::InvalidPart => 400,
            Self::Unauthorized => 401,
            Self::NotFound | Self::NotReady | Self::NoSuchUpload => 404,
            Self::MethodNotAllowed => 405,
            Self::TooLarge => 413,
            Self::ProcessingFailed => 422,
            Self::Internal | Self::Unknown => 500,
        }
    }

    /// Whether asking again later, unchanged, may succeed.
    pub fn is_retryable(self) -> bool {
        matches!(self, Self::NotReady | Self::Internal)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_never_print() {
        let token = Token::new("very-secret");
        assert_eq!(format!("{token:?}"), "Token(<hidden>)");
        assert_eq!(format!("{:?}", Some(&token)), "Some(Token(<hidden>))");
        assert_eq!(token.expose(), "very-secret");
        assert_eq!(token.clone(), Token::new("very-secret"));
    }

    fn parse(pairs: &[(&str, &str)]) -> Result<PresignRequest, ApiError> {
        PresignRequest::from_query_pairs(pairs.iter().copied())
    }

    #[test]
    fn mode_defaults_to_download_like_the_seed() {
        let request = parse(&[("file", "a.png")]).unwrap();
        assert_eq!(request.mode, TransferMode::Download);
        assert_eq!(request.file, "a.png");
    }

    #[test]
    fn missing_or_empty_file_keeps_the_seed_message() {
        for pairs in [&[][..], &[("file", "")][..], &[("mode", "upload")][..]] {
            let error = parse(pairs).unwrap_err();
            assert_eq!(error.code, ErrorCode::MissingFile);
            assert_eq!(error.message, "file parameter is required");
        }
    }

    #[test]
    fn unknown_mode_is_refused_not_downloaded() {
        for mode in ["Upload", "put", "", "download "] {
            let error = parse(&[("file", "a"), ("mode", mode)]).unwrap_err();
            assert_eq!(error.code, ErrorCode::InvalidMode, "mode {mode:?}");
        }
    }

    #[test]
    fn size_must_be_a_whole_number() {
        for size in ["-1", "1.5", "", "ten", "18446744073709551616"] {
            let error = parse(&[("file", "a"), ("mode", "upload"), ("size", size)]).unwrap_err();
            assert_eq!(error.code, ErrorCode::InvalidParameter, "size {size:?}");
        }
        let request = parse(&[("file", "a"), ("size", "42")]).unwrap();
        assert_eq!(request.size, Some(42));
    }

    #[test]
    fn upload_ids_are_checked_before_use() {
        for bad in ["", "a b", "../x", "é", &"a".repeat(65)] {
            let error = parse(&[("file", "a"), ("uploadId", bad)]).unwrap_err();
            assert_eq!(error.code, ErrorCode::InvalidParameter, "{bad:?}");
        }
        let request = parse(&[("file", "a"), ("uploadId", "Ab-_9")]).unwrap();
        assert_eq!(request.upload_id.as_deref(), Some("Ab-_9"));
        assert!(processing::is_valid_upload_id(&"f".repeat(64)));
    }

    #[test]
    fn first_occurrence_wins_and_unknown_parameters_are_ignored() {
        let request = parse(&[
            ("file", "first"),
            ("file", "second"),
            ("future", "x"),
            ("mode", "upload"),
        ])
        .unwrap();
        assert_eq!(request.file, "first");
        assert_eq!(request.mode, TransferMode::Upload);
    }

    #[test]
    fn query_pairs_round_trip() {
        let request = PresignRequest {
            file: "사진 1.png".into(),
            mode: TransferMode::Upload,
            size: Some(7),
            md5: Some("1B2M2Y8AsgTpgAmY7PhCfg==".into()),
            content_type: Some("image/png".into()),
            upload_id: Some("0123456789abcdef0123456789abcdef".into()),
            uploaded_at: Some("2026-11-24T12:00:00Z".into()),
        };
        let pairs = request.to_query_pairs();
        let back =
            PresignRequest::from_query_pairs(pairs.iter().map(|(k, v)| (*k, v.as_str()))).unwrap();
        assert_eq!(back, request);
    }

    #[test]
    fn results_requests_check_their_limit() {
        let parse =
            |pairs: &[(&str, &str)]| ResultsRequest::from_query_pairs(pairs.iter().copied());
        assert_eq!(parse(&[]).unwrap(), ResultsRequest::default());
        let request = parse(&[("cursor", "2026/a.png"), ("limit", "1000")]).unwrap();
        assert_eq!(request.cursor.as_deref(), Some("2026/a.png"));
        assert_eq!(request.limit, Some(1000));
        for bad in ["0", "1001", "-1", "x", ""] {
            let error = parse(&[("limit", bad)]).unwrap_err();
            assert_eq!(error.code, ErrorCode::InvalidParameter, "{bad:?}");
        }
        let back = ResultsRequest::from_query_pairs(
            request
                .to_query_pairs()
                .iter()
                .map(|(k, v)| (*k, v.as_str())),
        )
        .unwrap();
        assert_eq!(back, request);
    }

    #[test]
    fn every_code_maps_to_its_status_and_wire_name() {
        let table = [
            (ErrorCode::MissingFile, 400, "missing_file"),
            (ErrorCode::InvalidKey, 400, "invalid_key"),
            (ErrorCode::InvalidMode, 400, "invalid_mode"),
            (ErrorCode::InvalidParameter, 400, "invalid_parameter"),
            (ErrorCode::Unauthorized, 401, "unauthorized"),
            (ErrorCode::NotFound, 404, "not_found"),
            (ErrorCode::NotReady, 404, "not_ready"),
            (ErrorCode::MethodNotAllowed, 405, "method_not_allowed"),
            (ErrorCode::NoSuchUpload, 404, "no_such_upload"),
            (ErrorCode::InvalidPart, 400, "invalid_part"),
            (ErrorCode::TooLarge, 413, "too_large"),
            (ErrorCode::ProcessingFailed, 422, "processing_failed"),
            (ErrorCode::Internal, 500, "internal"),
        ];
        for (code, status, name) in table {
            assert_eq!(code.http_status(), status, "{name}");
            assert_eq!(code.as_str(), name);
            let json = serde_json::to_string(&code).unwrap();
            assert_eq!(json, format!("\"{name}\""));
        }
    }

    #[test]
    fn unknown_codes_from_a_newer_service_still_parse() {
        let body: ErrorBody =
            serde_json::from_str(r#"{"error":{"code":"quota_exceeded","message":"Slow down"}}"#)
                .unwrap();
        assert_eq!(body.error.code, ErrorCode::Unknown);
        assert_eq!(body.error.message, "Slow down");
    }
}
