//! The presign service over plain HTTP/1.1, for the local stack. The same [`PresignService`] that
//! answers Lambda events answers here; this module only converts requests and responses
//! ([`answer`]), and the local stack serves it on loopback from its own accept loop.
//!
//! Query strings are decoded like API Gateway does: `%XX` escapes are decoded and `+` stays a plus
//! sign, so clients encode spaces as `%20`. Bodies are read under a cap of
//! [`MAX_BODY_BYTES`]: a declared `Content-Length` above it is refused before a byte is read, and
//! a body without one is refused as soon as it passes the cap, so no request fills memory.

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full, LengthLimitError, Limited};
use hyper::body::Body;
use hyper::{Request, Response};
use percent_encoding::percent_decode_str;

use ddn_api::{ApiError, ErrorCode};

use crate::service::{self, ApiRequest, MAX_BODY_BYTES, PresignService, body_too_large};
use crate::store::ObjectStore;

/// Answers one HTTP request with `service`: the request converted to an [`ApiRequest`] (with the
/// request id `local-{id}`), the service's answer converted back. A query string or body that
/// is not UTF-8 once decoded is answered `invalid_parameter`, a body above [`MAX_BODY_BYTES`]
/// `too_large` (413). A 405 answer names the route's method in `Allow`.
pub async fn answer<S, B>(
    service: &PresignService<S>,
    request: Request<B>,
    id: u64,
) -> Response<Full<Bytes>>
where
    S: ObjectStore,
    B: Body,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let request_id = format!("local-{id}");
    let (parts, body) = request.into_parts();
    let path = parts.uri.path().to_owned();
    let response = match api_request(&parts, body, &request_id).await {
        Ok(api_request) => service.handle(&api_request).await,
        Err((error, detail)) => service.refuse(&request_id, Some(&path), error, detail),
    };
    let mut builder = Response::builder()
        .status(response.status)
        .header("content-type", "application/json")
        .header("cache-control", "no-store");
    if response.status == 405 {
        builder = builder.header("allow", service::allowed_method(&path).unwrap_or("GET"));
    }
    builder
        .body(Full::new(Bytes::from(response.body)))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
}

/// The request as the service reads it, or the refusal to send with its detail for the log.
async fn api_request<B>(
    parts: &http::request::Parts,
    body: B,
    request_id: &str,
) -> Result<ApiRequest, (ApiError, &'static str)>
where
    B: Body,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let query = parts
        .uri
        .query()
        .unwrap_or_default()
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            Some((decode(name)?, decode(value)?))
        })
        .collect::<Option<Vec<_>>>()
        .ok_or((
            ApiError::new(
                ErrorCode::InvalidParameter,
                "The query string is not valid UTF-8.",
            ),
            "query string not UTF-8",
        ))?;
    let authorization = parts
        .headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = read_body(parts, body).await?;
    Ok(ApiRequest {
        method: parts.method.as_str().to_owned(),
        path: parts.uri.path().to_owned(),
        query,
        authorization,
        body,
        request_id: request_id.to_owned(),
    })
}

/// The body as text, read under [`MAX_BODY_BYTES`].
async fn read_body<B>(
    parts: &http::request::Parts,
    body: B,
) -> Result<String, (ApiError, &'static str)>
where
    B: Body,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let declared = parts
        .headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|length| length > MAX_BODY_BYTES as u64) {
        return Err((body_too_large(), "declared body above the cap"));
    }
    let bytes = match Limited::new(body, MAX_BODY_BYTES).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(error) if error.is::<LengthLimitError>() => {
            return Err((body_too_large(), "body above the cap"));
        }
        Err(_) => {
            return Err((
                ApiError::new(
                    ErrorCode::InvalidParameter,
                    "The request body could not be read.",
                ),
                "body read failed",
            ));
        }
    };
    String::from_utf8(bytes.to_vec()).map_err(|_| {
        (
            ApiError::new(
                ErrorCode::InvalidParameter,
                "The request body must be JSON text.",
            ),
            "body not UTF-8",
        )
    })
}

fn decode(text: &str) -> Option<String> {
    percent_decode_str(text)
        .decode_utf8()
        .map(|s| s.into_owned())
        .ok()
}
