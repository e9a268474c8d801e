//! The in-process S3-compatible server: `s3s-fs`, behind the strict layer that adds S3's multipart
//! rules ([`crate::strict`]) and SigV4 authentication with the stack's own credentials, served over
//! HTTP/1.1 on loopback by the shared loop ([`crate::loopback`]).
//!
//! Like S3, it refuses a presigned request that carries an `x-amz-*` header its signature does not
//! cover ([`SignedAmzHeadersOnly`]). s3s checks only the headers a URL lists as signed and acts on
//! the others, so without this an unsigned `x-amz-copy-source` would turn one user's upload URL
//! into a copy of any object the server holds, another user's included.

use std::future::Future;
use std::path::Path;

use aws_credential_types::Credentials;
use percent_encoding::percent_decode_str;
use s3s::access::{S3Access, S3AccessContext};
use s3s::auth::SimpleAuth;
use s3s::service::{S3Service, S3ServiceBuilder};
use s3s::{S3Result, s3_error};
use tokio::net::TcpListener;

use crate::StartError;
use crate::strict::StrictS3;

/// Builds the S3 service storing objects under `root` (one folder per bucket). Multipart uploads
/// a previous run left open there are removed: the strict layer remembers uploads in memory.
pub(crate) fn build(root: &Path, credentials: &Credentials) -> Result<S3Service, StartError> {
    let store = StrictS3::new(root).map_err(|e| StartError::S3(e.to_string()))?;
    let mut builder = S3ServiceBuilder::new(store);
    builder.set_auth(SimpleAuth::from_single(
        credentials.access_key_id(),
        credentials.secret_access_key(),
    ));
    builder.set_access(SignedAmzHeadersOnly);
    Ok(builder.build())
}

/// Serves until `shutdown` resolves, then gives open transfers a few seconds to finish.
pub(crate) async fn serve(
    listener: TcpListener,
    service: S3Service,
    shutdown: impl Future<Output = ()>,
) {
    crate::loopback::serve_http(listener, shutdown, move || service.clone()).await;
}

/// The access hook: signed requests only (s3s's default), and no unsigned `x-amz-*` header on a
/// SigV4 presigned request. s3s runs it after the signature is verified, so the signed header
/// list it reads from the query string (`X-Amz-SignedHeaders`) is the one the signer wrote.
///
/// Header-signed requests (the SDK's) need no such check: their `Authorization` header names the
/// signed headers and s3s verifies exactly those, and the SDK signs every `x-amz-*` header it
/// sends. SigV2 presigned URLs sign every `x-amz-*` header by definition.
struct SignedAmzHeadersOnly;

#[async_trait::async_trait]
impl S3Access for SignedAmzHeadersOnly {
    async fn check(&self, cx: &mut S3AccessContext<'_>) -> S3Result<()> {
        if cx.credentials().is_none() {
            return Err(s3_error!(AccessDenied, "Signature is required"));
        }
        let unsigned =
            unsigned_amz_headers(cx.uri().query(), cx.headers().keys().map(|n| n.as_str()));
        if unsigned.is_empty() {
            Ok(())
        } else {
            // S3's own words for this refusal, with the headers it names in HeadersNotSigned.
            Err(s3_error!(
                AccessDenied,
                "There were headers present in the request which were not signed: {}",
                unsigned.join(", ")
            ))
        }
    }
}

/// The `x-amz-*` header names (lowercase, as `http` keeps them) that a SigV4 presigned request
/// with this query sends without signing them; none for a request that is not presigned so.
fn unsigned_amz_headers<'a>(
    query: Option<&str>,
    header_names: impl Iterator<Item = &'a str>,
) -> Vec<&'a str> {
    let Some(query) = query else {
        return Vec::new();
    };
    let mut presigned = false;
    let mut signed = Vec::new();
    for pair in query.split('&') {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        match form_decode(name).as_str() {
            // The parameter by which s3s, like S3, tells a SigV4 presigned request.
            "X-Amz-Signature" => presigned = true,
            "X-Amz-SignedHeaders" => {
                signed.extend(form_decode(value).split(';').map(str::to_ascii_lowercase));
            }
            _ => {}
        }
    }
    if !presigned {
        return Vec::new();
    }
    header_names
        .filter(|name| name.starts_with("x-amz-") && !signed.iter().any(|s| s == name))
        .collect()
}

/// Decodes a query-string component as s3s does (`application/x-www-form-urlencoded`).
fn form_decode(component: &str) -> String {
    percent_decode_str(&component.replace('+', " "))
        .decode_utf8_lossy()
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::unsigned_amz_headers;

    const PRESIGNED: &str = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=k%2F20260101%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20260101T000000Z&X-Amz-Expires=300&X-Amz-SignedHeaders=content-length%3Bhost%3Bx-amz-meta-ddn-upload-id&X-Amz-Signature=00";

    #[test]
    fn a_presigned_request_may_send_only_the_amz_headers_it_signed() {
        let headers = ["host", "content-length", "x-amz-meta-ddn-upload-id"];
        assert!(unsigned_amz_headers(Some(PRESIGNED), headers.into_iter()).is_empty());
        let headers = [
            "host",
            "x-amz-meta-ddn-upload-id",
            "x-amz-copy-source",
            "x-amz-meta-note",
            "content-type",
        ];
        assert_eq!(
            unsigned_amz_headers(Some(PRESIGNED), headers.into_iter()),
            ["x-amz-copy-source", "x-amz-meta-note"]
        );
    }

    #[test]
    fn other_requests_are_left_to_their_own_signature() {
        let headers = ["x-amz-copy-source", "x-amz-content-sha256"];
        assert!(unsigned_amz_headers(None, headers.into_iter()).is_empty());
        assert!(
            unsigned_amz_headers(Some("list-type=2&prefix=users%2F"), headers.into_iter())
                .is_empty()
        );
    }

    #[test]
    fn a_presigned_request_without_a_signed_header_list_may_send_no_amz_header() {
        let query = "X-Amz-Signature=00&X-Amz-Expires=300";
        assert_eq!(
            unsigned_amz_headers(Some(query), ["x-amz-date"].into_iter()),
            ["x-amz-date"]
        );
    }
}
