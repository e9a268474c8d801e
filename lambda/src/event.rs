//! Lambda events in, proxy responses out.
//!
//! The function meets four event shapes and reads all of them with one lenient structure:
//! API Gateway REST (v1) proxy events (`httpMethod`, `path`), HTTP API (v2) and Lambda Function URL
//! events (`rawPath`, `requestContext.http`), and the seed's bare direct-invoke payload
//! (`{"queryStringParameters":{...}}` and nothing else), which is treated as `GET /presign`.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use crate::service::{ApiRequest, ApiResponse};

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

/// The event is not JSON of any shape the function understands.
#[derive(Debug, thiserror::Error)]
#[error("unrecognized event: {0}")]
pub struct EventError(String);

/// Reads an event into a request.
///
/// # Errors
/// [`EventError`] when the event is not a JSON object of a supported shape.
pub fn request_from_event(
    event: serde_json::Value,
    request_id: &str,
) -> Result<ApiRequest, EventError> {
    let event: IncomingEvent =
        serde_json::from_value(event).map_err(|e| EventError(e.to_string()))?;
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

    Ok(ApiRequest {
        method,
        path,
        query,
        authorization,
        request_id: request_id.to_owned(),
    })
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
    /// Answers one Lambda event. An event of no known shape gets a 400 answer, not a crash.
    pub async fn handle_event(&self, event: serde_json::Value, request_id: &str) -> ProxyResponse {
        match request_from_event(event, request_id) {
            Ok(request) => self.handle(&request).await.into(),
            Err(error) => {
                tracing::info!(request_id, status = 400, code = "invalid_parameter", %error, "request refused");
                ApiResponse::error(ddn_api::ApiError::new(
                    ddn_api::ErrorCode::InvalidParameter,
                    "The event is not an HTTP request this function understands.",
                ))
                .into()
            }
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
