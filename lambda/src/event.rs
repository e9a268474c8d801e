//! Lambda events in, proxy responses out.
//!
//! The function meets four event shapes and reads all of them with one lenient structure:
//! API Gateway REST (v1) proxy events (`httpMethod`, `path`), HTTP API (v2) and Lambda Function URL
//! events (`rawPath`, `requestContext.http`), and the seed's bare direct-invoke payload
//! (`{"queryStringParameters":{...}}` and nothing else), which is treated as `GET /presign`.
//!
//! The body (the multipart routes' JSON) arrives as text in `body`, or base64 in it when
//! `isBase64Encoded` is true, which HTTP APIs and Function URLs choose for themselves by the
//! request's content type; a direct invocation has none. Bodies above
//! [`MAX_BODY_BYTES`](crate::service::MAX_BODY_BYTES) are refused here, as the HTTP adapter
//! refuses them, so both transports accept the same requests.

use std::collections::{BTreeMap, HashMap};

use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::service::{self, ApiRequest, ApiResponse, MAX_BODY_BYTES};

/// The fields of every supported event shape, all optional.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct IncomingEvent {
    /// v1 only.
    http_method: Option<String>,
    /// v1 only: the resource path, without the stage.
    path: Option<String>,
    /// v2 and Function URL: the path as requested, with the stage for a named stage.
    raw_path: Option<String>,
    query_string_parameters: Option<HashMap<String, Option<String>>>,
    headers: Option<HashMap<String, Option<String>>>,
    request_context: Option<RequestContext>,
    /// The body as text, or as base64 when `is_base64_encoded` is true.
    body: Option<String>,
    is_base64_encoded: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
struct RequestContext {
    http: Option<HttpContext>,
    stage: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct HttpContext {
    method: Option<String>,
}

/// The event is not a request the function can read.
#[derive(Debug, thiserror::Error)]
pub enum EventError {
    /// Not JSON of any shape the function understands.
    #[error("unrecognized event: {0}")]
    Shape(String),
    /// `isBase64Encoded` is true but the body is not base64.
    #[error("the body is marked base64 but is not")]
    BodyNotBase64,
    /// The body is not UTF-8 text (every body the function reads is JSON).
    #[error("the body is not UTF-8 text")]
    BodyNotText,
    /// The body is larger than [`MAX_BODY_BYTES`].
    #[error("the body is larger than {MAX_BODY_BYTES} bytes")]
    BodyTooLarge,
}

impl EventError {
    /// What the caller is told.
    fn to_api_error(&self) -> ddn_api::ApiError {
        use ddn_api::{ApiError, ErrorCode};
        match self {
            Self::Shape(_) => ApiError::new(
                ErrorCode::InvalidParameter,
                "The event is not an HTTP request this function understands.",
            ),
            Self::BodyNotBase64 | Self::BodyNotText => ApiError::new(
                ErrorCode::InvalidParameter,
                "The request body must be JSON text.",
            ),
            Self::BodyTooLarge => service::body_too_large(),
        }
    }
}

/// Reads an event into a request.
///
/// # Errors
/// [`EventError`] when the event is not a JSON object of a supported shape.
pub fn request_from_event(
    event: serde_json::Value,
    request_id: &str,
) -> Result<ApiRequest, EventError> {
    let event: IncomingEvent =
        serde_json::from_value(event).map_err(|e| EventError::Shape(e.to_string()))?;
    let context = event.request_context.unwrap_or_default();

    let method = event
        .http_method
        .or_else(|| context.http.and_then(|h| h.method))
        .unwrap_or_default()
        .to_ascii_uppercase();
    let path = match (event.raw_path, event.path) {
        (Some(raw), _) => strip_stage(raw, context.stage.as_deref()),
        (None, Some(path)) => path,
        (None, None) => String::new(),
    };

    let mut query: Vec<(String, String)> = event
        .query_string_parameters
        .unwrap_or_default()
        .into_iter()
        .filter_map(|(name, value)| Some((name, value?)))
        .collect();
    // Maps have no order; sort so that the request (and its log line) is deterministic.
    query.sort();

    let authorization = event
        .headers
        .unwrap_or_default()
        .into_iter()
        .find_map(|(name, value)| {
            name.eq_ignore_ascii_case("authorization")
                .then_some(value)?
        });

    let body = body_text(event.body, event.is_base64_encoded.unwrap_or(false))?;

    Ok(ApiRequest {
        method,
        path,
        query,
        authorization,
        body,
        request_id: request_id.to_owned(),
    })
}

/// The body as text: decoded from base64 when the event says so, and at most
/// [`MAX_BODY_BYTES`] once decoded.
fn body_text(body: Option<String>, base64: bool) -> Result<String, EventError> {
    let Some(body) = body else {
        return Ok(String::new());
    };
    if !base64 {
        return if body.len() > MAX_BODY_BYTES {
            Err(EventError::BodyTooLarge)
        } else {
            Ok(body)
        };
    }
    // Base64 takes 4 characters for every 3 bytes: refuse before decoding what cannot fit.
    if body.len() / 4 * 3 > MAX_BODY_BYTES + 3 {
        return Err(EventError::BodyTooLarge);
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(body.trim_end())
        .map_err(|_| EventError::BodyNotBase64)?;
    if bytes.len() > MAX_BODY_BYTES {
        return Err(EventError::BodyTooLarge);
    }
    String::from_utf8(bytes).map_err(|_| EventError::BodyNotText)
}

/// A named stage (`/prod/presign` on stage `prod`) prefixes `rawPath`; `$default` does not.
fn strip_stage(raw_path: String, stage: Option<&str>) -> String {
    match stage {
        Some(stage) if stage != "$default" => {
            let prefix = format!("/{stage}");
            match raw_path.strip_prefix(&prefix) {
                Some(rest) if rest.is_empty() || rest.starts_with('/') => rest.to_owned(),
                _ => raw_path,
            }
        }
        _ => raw_path,
    }
}

/// The answer API Gateway and Function URLs expect, and what a direct invocation returns. The body
/// is a JSON string, so the seed's `json.loads(resp["body"])["url"]` keeps working.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProxyResponse {
    /// The HTTP status.
    pub status_code: u16,
    /// Response headers.
    pub headers: BTreeMap<String, String>,
    /// The JSON document, as a string.
    pub body: String,
    /// Always false: the body is text.
    pub is_base64_encoded: bool,
}

impl From<ApiResponse> for ProxyResponse {
    fn from(response: ApiResponse) -> Self {
        let headers = [
            ("content-type", "application/json"),
            // A presigned URL is a secret until it expires: no cache may keep one.
            ("cache-control", "no-store"),
        ]
        .into_iter()
        .map(|(n, v)| (n.to_owned(), v.to_owned()))
        .collect();
        Self {
            status_code: response.status,
            headers,
            body: response.body,
            is_base64_encoded: false,
        }
    }
}

impl<S: crate::store::ObjectStore> crate::service::PresignService<S> {
    /// Answers one Lambda event. An event of no known shape, or with a body the function cannot
    /// read, gets a 4xx answer, not a crash. A 405 answer names the route's method in `allow`.
    pub async fn handle_event(&self, event: serde_json::Value, request_id: &str) -> ProxyResponse {
        match request_from_event(event, request_id) {
            Ok(request) => {
                let mut response = ProxyResponse::from(self.handle(&request).await);
                if response.status_code == 405
                    && let Some(method) = service::allowed_method(&request.path)
                {
                    response
                        .headers
                        .insert("allow".to_owned(), method.to_owned());
                }
                response
            }
            Err(error) => self
                .refuse(request_id, None, error.to_api_error(), &error.to_string())
                .into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn named_stages_are_stripped_from_raw_paths() {
        let cases = [
            ("/prod/presign", Some("prod"), "/presign"),
            ("/presign", Some("$default"), "/presign"),
            ("/production/presign", Some("prod"), "/production/presign"),
            ("/prod", Some("prod"), ""),
            ("/presign", None, "/presign"),
        ];
        for (raw, stage, expected) in cases {
            assert_eq!(
                strip_stage(raw.to_owned(), stage),
                expected,
                "{raw} {stage:?}"
            );
        }
    }

    #[test]
    fn null_fields_and_null_values_are_tolerated() {
        let request = request_from_event(
            json!({"queryStringParameters": null, "headers": {"Authorization": null}}),
            "id",
        )
        .unwrap();
        assert!(request.query.is_empty());
        assert_eq!(request.authorization, None);

        let request =
            request_from_event(json!({"queryStringParameters": {"file": null}}), "id").unwrap();
        assert!(request.query.is_empty());
    }

    #[test]
    fn events_that_are_not_objects_are_refused() {
        for event in [
            json!("text"),
            json!([1, 2]),
            json!({"queryStringParameters": 5}),
        ] {
            assert!(request_from_event(event.clone(), "id").is_err(), "{event}");
        }
    }
}
