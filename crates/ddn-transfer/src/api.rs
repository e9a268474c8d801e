//! The presign service's client: one shared HTTP client, the bearer token, the contract's types.
//!
//! Invariant: an answer is read under a size cap and the stall rule (the `body` module), so a
//! service that sends too much, or stops sending, fails the call instead of filling memory or
//! holding it forever.

use std::fmt;
use std::time::Duration;

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
        let mut call = self.http.get(url).timeout(API_TIMEOUT);
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

    #[test]
    fn spaces_are_encoded_as_percent_twenty() {
        let encoded: String = utf8_percent_encode("a b+c/사진.png", QUERY_VALUE).collect();
        assert_eq!(encoded, "a%20b%2Bc%2F%EC%82%AC%EC%A7%84.png");
    }
}
