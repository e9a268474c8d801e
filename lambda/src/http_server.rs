//! The presign service over plain HTTP/1.1, for the local stack. The same [`PresignService`] that
//! answers Lambda events answers here; this module only converts requests and responses
//! ([`answer`]), and the local stack serves it on loopback from its own accept loop.
//!
//! Query strings are decoded like API Gateway does: `%XX` escapes are decoded and `+` stays a plus
//! sign, so clients encode spaces as `%20`.

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response};
use percent_encoding::percent_decode_str;

use crate::service::{ApiRequest, ApiResponse, PresignService};
use crate::store::ObjectStore;

/// Answers one HTTP request with `service`: the request converted to an [`ApiRequest`] (with the
/// request id `local-{id}`), the service's answer converted back. A query string that is not
/// UTF-8 once decoded is answered `invalid_parameter`.
pub async fn answer<S: ObjectStore>(
    service: &PresignService<S>,
    request: &Request<Incoming>,
    id: u64,
) -> Response<Full<Bytes>> {
    let response = match api_request(request, id) {
        Ok(api_request) => service.handle(&api_request).await,
        Err(()) => ApiResponse::error(ddn_api::ApiError::new(
            ddn_api::ErrorCode::InvalidParameter,
            "The query string is not valid UTF-8.",
        )),
    };
    let mut builder = Response::builder()
        .status(response.status)
        .header("content-type", "application/json")
        .header("cache-control", "no-store");
    if response.status == 405 {
        builder = builder.header("allow", "GET");
    }
    builder
        .body(Full::new(Bytes::from(response.body)))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
}

fn api_request(request: &Request<Incoming>, id: u64) -> Result<ApiRequest, ()> {
    let query = request
        .uri()
        .query()
        .unwrap_or_default()
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            Ok((decode(name)?, decode(value)?))
        })
        .collect::<Result<Vec<_>, ()>>()?;
    let authorization = request
        .headers()
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    Ok(ApiRequest {
        method: request.method().as_str().to_owned(),
        path: request.uri().path().to_owned(),
        query,
        authorization,
        request_id: format!("local-{id}"),
    })
}

fn decode(text: &str) -> Result<String, ()> {
    percent_decode_str(text)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| ())
}
