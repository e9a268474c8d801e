//! The presign service's client: one shared HTTP client, the bearer token, the contract's types.
//!
//! Invariant: an answer is read under a size cap and the stall rule (the `body` module), so a
//! service that sends too much, or stops sending, fails the call instead of filling memory or
//! holding it forever.

use std::fmt;
use std::time::Duration;

use ddn_api::multipart::{
    ABORT_PATH, AbortRequest, AbortResponse, COMPLETE_PATH, CompleteRequest, CompleteResponse,
    PARTS_PATH, PartsPage, PartsRequest, START_PATH, StartRequest, StartResponse, StoredPart,
    URLS_PATH, UploadRef, UrlsRequest, UrlsResponse,
};
use ddn_api::{
    ErrorBody, ErrorCode, MAX_RESULTS_PAGE, PRESIGN_PATH, PresignRequest, PresignResponse,
    RESULTS_PATH, ResultItem, ResultsPage, ResultsRequest,
};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use tokio_util::sync::CancellationToken;

/// The bearer token, defined with the contract so the keyring crate can hold one without the
/// engine; re-exported here, where it has always been found.
pub use ddn_api::Token;

use crate::body::read_capped;
use crate::error::TransferError;

/// Query values keep only RFC 3986 unreserved characters; a space becomes `%20`, never `+`, which
/// the service (like API Gateway) reads as a plus sign.
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// How long connecting may take before it counts as a failure.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long one presign request may take in all.
pub const API_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a multipart completion may take in all: S3 takes up to minutes to assemble a large
/// object before it answers.
pub const COMPLETE_TIMEOUT: Duration = Duration::from_secs(15 * 60);

/// How long an answer may go without a byte before the call fails with
/// [`TransferError::Stalled`], unless [`ApiClient::with_stall_timeout`] says otherwise. The same as
/// a transfer's default.
pub const DEFAULT_STALL_TIMEOUT: Duration = Duration::from_secs(30);

/// The largest presign answer read (the URL, the key and the signed headers take a few KiB even
/// for a 1024-byte key with every byte escaped); an error answer is read under the same cap.
pub const MAX_PRESIGN_ANSWER_BYTES: usize = 64 * 1024;

/// The largest page of results read. A full page is [`MAX_RESULTS_PAGE`] items whose names are S3
/// keys of up to 1024 bytes; JSON writes a control character as six bytes (`\u0001`), so the
/// worst page S3 can list is about 6.3 MB (tested). Ordinary pages weigh about 100 KB.
pub const MAX_RESULTS_ANSWER_BYTES: usize = 8 * 1024 * 1024;

/// The largest answer to a batch of part URLs:
/// [`MAX_URLS_PER_REQUEST`](ddn_api::multipart::MAX_URLS_PER_REQUEST) URLs of a few KiB each
/// (a 1024-byte key escaped in the path, the signed query, three headers); tested against the
/// heaviest batch.
pub const MAX_URLS_ANSWER_BYTES: usize = 2 * 1024 * 1024;

/// The largest page of stored parts: [`ddn_api::multipart::MAX_PARTS_PAGE`] parts of about
/// 150 bytes each; tested against the heaviest page.
pub const MAX_PARTS_ANSWER_BYTES: usize = 512 * 1024;

/// Builds the HTTP client every request of a process shares: rustls, connection pooling, a connect
/// timeout. There is no overall timeout here, since a large transfer may rightly take hours; stalls
/// are detected by the transfers themselves.
///
/// # Errors
/// [`TransferError::Connection`] when the TLS backend cannot start.
pub fn http_client() -> Result<reqwest::Client, TransferError> {
    reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .pool_idle_timeout(Duration::from_secs(60))
        .tcp_nodelay(true)
        .user_agent(concat!("ddn-transfer/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|_| TransferError::Connection)
}

/// A client of the presign service.
#[derive(Clone)]
pub struct ApiClient {
    http: reqwest::Client,
    base_url: String,
    token: Option<Token>,
    stall_timeout: Duration,
}

impl fmt::Debug for ApiClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiClient")
            .field("base_url", &self.base_url)
            .field("token", &self.token)
            .field("stall_timeout", &self.stall_timeout)
            .finish_non_exhaustive()
    }
}

impl ApiClient {
    /// A client for the service at `base_url` (`https://abc.execute-api.../`, trailing slash
    /// optional), sending `token` as a bearer token when given.
    pub fn new(http: reqwest::Client, base_url: &str, token: Option<Token>) -> Self {
        Self {
            http,
            base_url: base_url.trim_end_matches('/').to_owned(),
            token,
            stall_timeout: DEFAULT_STALL_TIMEOUT,
        }
    }

    /// The same client, failing a call whose answer sends no byte for `stall_timeout`.
    #[must_use]
    pub fn with_stall_timeout(mut self, stall_timeout: Duration) -> Self {
        self.stall_timeout = stall_timeout;
        self
    }

    /// The service's address, without a trailing slash.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The shared HTTP client, also used for the S3 transfers themselves.
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// Asks for a presigned URL. Cancelled by dropping the future; see
    /// [`Self::presign_cancellable`] to cancel with a token.
    ///
    /// # Errors
    /// As [`Self::presign_cancellable`].
    pub async fn presign(
        &self,
        request: &PresignRequest,
    ) -> Result<PresignResponse, TransferError> {
        self.presign_cancellable(request, &CancellationToken::new())
            .await
    }

    /// Asks for a presigned URL, giving up when `cancel` fires.
    ///
    /// # Errors
    /// [`TransferError::NotReady`] for a download whose result does not exist yet,
    /// [`TransferError::Unauthorized`], [`TransferError::Refused`] for other refusals,
    /// [`TransferError::Service`] for server failures and for an answer over
    /// [`MAX_PRESIGN_ANSWER_BYTES`], [`TransferError::Stalled`] when the answer stops,
    /// [`TransferError::Cancelled`], and the connection errors.
    pub async fn presign_cancellable(
        &self,
        request: &PresignRequest,
        cancel: &CancellationToken,
    ) -> Result<PresignResponse, TransferError> {
        let pairs = request.to_query_pairs();
        self.get_json(PRESIGN_PATH, &pairs, MAX_PRESIGN_ANSWER_BYTES, cancel)
            .await
    }

    /// One page of the caller's results on the server. Cancelled by dropping the future.
    ///
    /// # Errors
    /// As [`Self::results_cancellable`].
    pub async fn results(&self, request: &ResultsRequest) -> Result<ResultsPage, TransferError> {
        self.results_cancellable(request, &CancellationToken::new())
            .await
    }

    /// One page of the caller's results on the server, giving up when `cancel` fires.
    ///
    /// # Errors
    /// As [`Self::presign_cancellable`], with [`MAX_RESULTS_ANSWER_BYTES`] as the cap.
    pub async fn results_cancellable(
        &self,
        request: &ResultsRequest,
        cancel: &CancellationToken,
    ) -> Result<ResultsPage, TransferError> {
        let pairs = request.to_query_pairs();
        self.get_json(RESULTS_PATH, &pairs, MAX_RESULTS_ANSWER_BYTES, cancel)
            .await
    }

    /// Every result of the caller, following the pages to the end. Cancelled by dropping the
    /// future.
    ///
    /// # Errors
    /// As [`Self::all_results_cancellable`].
    pub async fn all_results(&self) -> Result<Vec<ResultItem>, TransferError> {
        self.all_results_cancellable(&CancellationToken::new())
            .await
    }

    /// Every result of the caller, following the pages to the end, giving up when `cancel` fires.
    ///
    /// Results come in name order and each cursor is the last name of its page, so every cursor
    /// must sort after the one before. A service that answers a cursor that does not move forward
    /// would otherwise be followed forever.
    ///
    /// # Errors
    /// As [`Self::results_cancellable`]; [`TransferError::Refused`] (code
    /// [`ErrorCode::Internal`]) when a cursor repeats or goes backwards.
    pub async fn all_results_cancellable(
        &self,
        cancel: &CancellationToken,
    ) -> Result<Vec<ResultItem>, TransferError> {
        let mut request = ResultsRequest {
            cursor: None,
            limit: Some(MAX_RESULTS_PAGE),
        };
        let mut all = Vec::new();
        loop {
            let page = self.results_cancellable(&request, cancel).await?;
            all.extend(page.results);
            match page.next_cursor {
                None => return Ok(all),
                Some(next) if request.cursor.as_ref().is_some_and(|last| next <= *last) => {
                    return Err(TransferError::Refused {
                        code: ErrorCode::Internal,
                        message: "The service's list of results does not move forward (it \
                                  answered a page it had already sent), so listing stopped. \
                                  Try again later."
                            .to_owned(),
                    });
                }
                Some(next) => request.cursor = Some(next),
            }
        }
    }

    /// Starts a multipart upload of `request.size` bytes under `request.file`.
    ///
    /// # Errors
    /// As [`Self::presign_cancellable`]; [`TransferError::TooLarge`] above the service's limit.
    pub async fn start_multipart(
        &self,
        request: &StartRequest,
        cancel: &CancellationToken,
    ) -> Result<StartResponse, TransferError> {
        self.post_json(START_PATH, request, API_TIMEOUT, cancel)
            .await
    }

    /// Presigned URLs for a batch of parts (at most
    /// [`MAX_URLS_PER_REQUEST`](ddn_api::multipart::MAX_URLS_PER_REQUEST)), one per part, in the
    /// order asked.
    ///
    /// # Errors
    /// As [`Self::presign_cancellable`], with [`MAX_URLS_ANSWER_BYTES`] as the cap;
    /// [`TransferError::Refused`] with [`ErrorCode::NoSuchUpload`] when S3 no longer holds the
    /// upload; [`TransferError::Service`] when the answer does not hold one URL for each part
    /// asked, in order.
    pub async fn part_urls(
        &self,
        request: &UrlsRequest,
        cancel: &CancellationToken,
    ) -> Result<UrlsResponse, TransferError> {
        let answer: UrlsResponse = self
            .post_json_capped(
                URLS_PATH,
                request,
                MAX_URLS_ANSWER_BYTES,
                API_TIMEOUT,
                cancel,
            )
            .await?;
        let matches = answer.parts.len() == request.parts.len()
            && answer
                .parts
                .iter()
                .zip(&request.parts)
                .all(|(url, asked)| url.part_number == asked.part_number);
        if !matches {
            // A URL used for the wrong part would put bytes where they do not belong.
            return Err(TransferError::Service(200));
        }
        Ok(answer)
    }

    /// One page of the parts S3 holds of an upload.
    ///
    /// # Errors
    /// As [`Self::part_urls`], with [`MAX_PARTS_ANSWER_BYTES`] as the cap.
    pub async fn parts_page(
        &self,
        request: &PartsRequest,
        cancel: &CancellationToken,
    ) -> Result<PartsPage, TransferError> {
        self.post_json_capped(
            PARTS_PATH,
            request,
            MAX_PARTS_ANSWER_BYTES,
            API_TIMEOUT,
            cancel,
        )
        .await
    }

    /// Every part S3 holds of `upload`, following the pages to the end.
    ///
    /// Parts come in number order and each cursor is the last number of its page, so every cursor
    /// must be above the one before; a service whose cursor does not move forward would otherwise
    /// be followed forever.
    ///
    /// # Errors
    /// As [`Self::parts_page`]; [`TransferError::Refused`] (code [`ErrorCode::Internal`]) when a
    /// cursor repeats or goes backwards.
    pub async fn list_parts(
        &self,
        upload: &UploadRef,
        cancel: &CancellationToken,
    ) -> Result<Vec<StoredPart>, TransferError> {
        let mut request = PartsRequest {
            upload: upload.clone(),
            cursor: None,
        };
        let mut all = Vec::new();
        loop {
            let page = self.parts_page(&request, cancel).await?;
            all.extend(page.parts);
            match page.next_cursor {
                None => return Ok(all),
                Some(next) if request.cursor.is_some_and(|last| next <= last) => {
                    return Err(TransferError::Refused {
                        code: ErrorCode::Internal,
                        message: "The service's list of uploaded parts does not move forward                                   (it answered a page it had already sent), so listing stopped.                                   Try again later."
                            .to_owned(),
                    });
                }
                Some(next) => request.cursor = Some(next),
            }
        }
    }

    /// Completes a multipart upload from its parts.
    ///
    /// # Errors
    /// As [`Self::part_urls`] (with [`MAX_PRESIGN_ANSWER_BYTES`] as the cap);
    /// [`TransferError::Refused`] with [`ErrorCode::InvalidPart`] when S3 lacks a part named, or
    /// holds it with another ETag.
    pub async fn complete_multipart(
        &self,
        request: &CompleteRequest,
        cancel: &CancellationToken,
    ) -> Result<CompleteResponse, TransferError> {
        self.post_json(COMPLETE_PATH, request, COMPLETE_TIMEOUT, cancel)
            .await
    }

    /// Aborts a multipart upload, so S3 keeps nothing of it; an upload S3 no longer knows is not
    /// an error (the answer says `aborted: false`).
    ///
    /// # Errors
    /// As [`Self::presign_cancellable`].
    pub async fn abort_multipart(
        &self,
        upload: &UploadRef,
        cancel: &CancellationToken,
    ) -> Result<AbortResponse, TransferError> {
        let request = AbortRequest {
            upload: upload.clone(),
        };
        self.post_json(ABORT_PATH, &request, API_TIMEOUT, cancel)
            .await
    }

    /// `POST path` with `body` as JSON and the token, its answer capped as a presign answer.
    async fn post_json<B: serde::Serialize, T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
        timeout: Duration,
        cancel: &CancellationToken,
    ) -> Result<T, TransferError> {
        self.post_json_capped(path, body, MAX_PRESIGN_ANSWER_BYTES, timeout, cancel)
            .await
    }

    /// `POST path` with `body` as JSON and the token; the JSON answer (at most `cap` bytes, within
    /// `timeout`), as [`Self::get_json`].
    async fn post_json_capped<B: serde::Serialize, T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
        cap: usize,
        timeout: Duration,
        cancel: &CancellationToken,
    ) -> Result<T, TransferError> {
        // The contract's types always serialize; a failure here is a bug, not the network's.
        let body = serde_json::to_vec(body).map_err(|_| TransferError::Service(0))?;
        let call = self
            .http
            .post(format!("{}{path}", self.base_url))
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body)
            .timeout(timeout);
        self.call(call, cap, cancel).await
    }

    /// `GET path?pairs` with the token; the JSON answer (at most `cap` bytes, read under the stall
    /// rule), or the service's error as a [`TransferError`].
    async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        pairs: &[(&'static str, String)],
        cap: usize,
        cancel: &CancellationToken,
    ) -> Result<T, TransferError> {
        let mut url = format!("{}{path}", self.base_url);
        for (i, (name, value)) in pairs.iter().enumerate() {
            url.push(if i == 0 { '?' } else { '&' });
            url.push_str(name);
            url.push('=');
            url.extend(utf8_percent_encode(value, QUERY_VALUE));
        }
        self.call(self.http.get(url).timeout(API_TIMEOUT), cap, cancel)
            .await
    }

    /// Sends `call` (its timeout set) with the token; the JSON answer (at most `cap` bytes, read
    /// under the stall rule), or the service's error as a [`TransferError`].
    async fn call<T: serde::de::DeserializeOwned>(
        &self,
        call: reqwest::RequestBuilder,
        cap: usize,
        cancel: &CancellationToken,
    ) -> Result<T, TransferError> {
        let mut call = call;
        if let Some(token) = &self.token {
            call = call.bearer_auth(token.expose());
        }
        let response = tokio::select! {
            biased;
            () = cancel.cancelled() => return Err(TransferError::Cancelled),
            response = call.send() => response.map_err(|e| TransferError::from_http(&e))?,
        };
        let status = response.status().as_u16();
        let body = read_capped(response, cap, self.stall_timeout, cancel).await?;
        if body.truncated {
            // Not the service's answer: nothing it sends is this long.
            return Err(TransferError::Service(status));
        }
        let body = body.bytes;
        if status == 200 {
            return serde_json::from_slice(&body).map_err(|_| TransferError::Service(status));
        }
        let Ok(error) = serde_json::from_slice::<ErrorBody>(&body) else {
            return Err(TransferError::Service(status));
        };
        Err(match error.error.code {
            ErrorCode::NotReady => TransferError::NotReady,
            ErrorCode::Unauthorized => TransferError::Unauthorized,
            ErrorCode::TooLarge => TransferError::TooLarge,
            ErrorCode::Internal | ErrorCode::Unknown if status >= 500 => {
                TransferError::Service(status)
            }
            code => TransferError::Refused {
                code,
                message: error.error.message,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_never_print() {
        let token = Token::new("very-secret");
        assert_eq!(format!("{token:?}"), "Token(<hidden>)");
        // The client prints its address and hides its token.
        let client = ApiClient::new(reqwest::Client::new(), "http://x/", Some(token));
        let text = format!("{client:?}");
        assert!(!text.contains("very-secret"), "{text}");
        assert!(text.contains("http://x"));
    }

    /// The results cap is proven against the heaviest page S3 can list: every name a 1024-byte key
    /// of control characters, each written by JSON as six bytes, and a cursor as heavy.
    #[test]
    fn the_heaviest_results_page_fits_under_the_cap() {
        let name = "\u{1}".repeat(1024);
        let page = ResultsPage {
            results: (0..MAX_RESULTS_PAGE)
                .map(|_| ResultItem {
                    name: name.clone(),
                    size: u64::MAX,
                    last_modified: "2026-12-31T23:59:59.999999999Z".into(),
                })
                .collect(),
            next_cursor: Some(name.clone()),
        };
        let weight = serde_json::to_vec(&page).unwrap().len();
        assert!(weight > 6_000_000, "{weight}");
        assert!(weight < MAX_RESULTS_ANSWER_BYTES, "{weight}");
    }

    /// The heaviest batch of part URLs: every URL for a 1024-byte key with every byte escaped,
    /// an upload id far longer than S3's, and every header signed.
    #[test]
    fn the_heaviest_batch_of_part_urls_fits_under_the_cap() {
        let url = format!(
            "https://ddn-in-bucket.s3.us-east-1.amazonaws.com/{}?partNumber=10000&uploadId={}\
             &X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential={}&X-Amz-Date=20261124T120000Z\
             &X-Amz-Expires=900&X-Amz-SignedHeaders=content-length%3Bcontent-md5%3Bhost%3B\
             x-amz-checksum-crc64nvme&X-Amz-Security-Token={}&X-Amz-Signature={}",
            "%E2".repeat(1024),
            "u".repeat(1024),
            "c".repeat(128),
            "t".repeat(2048),
            "s".repeat(64)
        );
        let part = ddn_api::multipart::PartUrl {
            part_number: 10_000,
            url,
            headers: [
                ("content-length", "5368709120"),
                ("content-md5", "tRdbUkl8v3cEhGYoAT1cgg=="),
                ("x-amz-checksum-crc64nvme", "Wqs5g1Y7yKM="),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect(),
            expires_at: "2026-11-24T12:15:00Z".into(),
        };
        let batch = UrlsResponse {
            parts: vec![part; ddn_api::multipart::MAX_URLS_PER_REQUEST],
        };
        let weight = serde_json::to_vec(&batch).unwrap().len();
        assert!(weight > 600_000, "{weight}");
        assert!(weight < MAX_URLS_ANSWER_BYTES, "{weight}");
    }

    /// The heaviest page of stored parts: the most parts a page holds, each with the largest
    /// number, size, an ETag longer than an MD5's and a CRC.
    #[test]
    fn the_heaviest_page_of_parts_fits_under_the_cap() {
        let page = PartsPage {
            parts: (0..ddn_api::multipart::MAX_PARTS_PAGE)
                .map(|_| StoredPart {
                    part_number: ddn_api::multipart::MAX_PARTS,
                    size: ddn_api::multipart::MAX_PART_SIZE,
                    etag: "f".repeat(64),
                    crc64nvme: Some("Wqs5g1Y7yKM=".into()),
                })
                .collect(),
            next_cursor: Some(ddn_api::multipart::MAX_PARTS),
        };
        let weight = serde_json::to_vec(&page).unwrap().len();
        assert!(weight > 100_000, "{weight}");
        assert!(weight < MAX_PARTS_ANSWER_BYTES, "{weight}");
    }

    #[test]
    fn spaces_are_encoded_as_percent_twenty() {
        let encoded: String = utf8_percent_encode("a b+c/사진.png", QUERY_VALUE).collect();
        assert_eq!(encoded, "a%20b%2Bc%2F%EC%82%AC%EC%A7%84.png");
    }
}
