//! The presign service's client: one shared HTTP client, the bearer token, the contract's types.

use std::fmt;
use std::time::Duration;

use ddn_api::{
    ErrorBody, ErrorCode, MAX_RESULTS_PAGE, PRESIGN_PATH, PresignRequest, PresignResponse,
    RESULTS_PATH, ResultItem, ResultsPage, ResultsRequest,
};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

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

/// An access token. Its `Debug` and `Display` never show it.
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
}

impl fmt::Debug for ApiClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiClient")
            .field("base_url", &self.base_url)
            .field("token", &self.token)
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
        }
    }

    /// The shared HTTP client, also used for the S3 transfers themselves.
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// Asks for a presigned URL.
    ///
    /// # Errors
    /// [`TransferError::NotReady`] for a download whose result does not exist yet,
    /// [`TransferError::Unauthorized`], [`TransferError::Refused`] for other refusals,
    /// [`TransferError::Service`] for server failures, and the connection errors.
    pub async fn presign(
        &self,
        request: &PresignRequest,
    ) -> Result<PresignResponse, TransferError> {
        self.get_json(PRESIGN_PATH, &request.to_query_pairs()).await
    }

    /// One page of the caller's results on the server.
    ///
    /// # Errors
    /// As [`Self::presign`].
    pub async fn results(&self, request: &ResultsRequest) -> Result<ResultsPage, TransferError> {
        self.get_json(RESULTS_PATH, &request.to_query_pairs()).await
    }

    /// Every result of the caller, following the pages to the end.
    ///
    /// # Errors
    /// As [`Self::presign`].
    pub async fn all_results(&self) -> Result<Vec<ResultItem>, TransferError> {
        let mut request = ResultsRequest {
            cursor: None,
            limit: Some(MAX_RESULTS_PAGE),
        };
        let mut all = Vec::new();
        loop {
            let page = self.results(&request).await?;
            all.extend(page.results);
            match page.next_cursor {
                Some(cursor) => request.cursor = Some(cursor),
                None => return Ok(all),
            }
        }
    }

    /// `GET path?pairs` with the token; the JSON answer, or the service's error as a
    /// [`TransferError`].
    async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        pairs: &[(&'static str, String)],
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
        let response = call
            .send()
            .await
            .map_err(|e| TransferError::from_http(&e))?;
        let status = response.status().as_u16();
        let body = response
            .bytes()
            .await
            .map_err(|e| TransferError::from_http(&e))?;
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
        let client = ApiClient::new(reqwest::Client::new(), "http://x/", Some(token));
        let text = format!("{client:?}");
        assert!(!text.contains("very-secret"), "{text}");
        assert!(text.contains("http://x"));
    }

    #[test]
    fn spaces_are_encoded_as_percent_twenty() {
        let encoded: String = utf8_percent_encode("a b+c/사진.png", QUERY_VALUE).collect();
        assert_eq!(encoded, "a%20b%2Bc%2F%EC%82%AC%EC%A7%84.png");
    }
}
