//! SigV4 query-string presigning of S3 `PUT` and `GET` requests.
//!
//! Signing is pure computation (no network): the signature is an HMAC chain over the request's
//! canonical form and the credentials. This module signs with `aws-sigv4` directly instead of going
//! through the full `aws-sdk-s3` operation pipeline, which builds and runs a whole request
//! orchestration per URL; the direct path is several times faster (see BENCHMARKS.md) and lets the
//! service choose exactly which headers are signed (`content-length`, `content-md5`,
//! `content-type`, `x-amz-checksum-crc64nvme`), so S3 refuses any body other than the declared
//! one. A part of a multipart upload is a `PUT` whose URL also carries `partNumber` and
//! `uploadId` ([`Presigner::presign_with_query`]): they are in the signed canonical query, so a
//! URL for one part opens no other part and no other upload.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    PercentEncodingMode, SessionTokenMode, SignableBody, SignableRequest, SignatureLocation,
    SigningSettings, UriPathNormalizationMode, sign,
};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use ddn_api::HttpMethod;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use thiserror::Error;

/// Bytes left as they are in a key's path: RFC 3986 unreserved characters and `/`.
const KEY_PATH: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'/');

/// Bytes left as they are in a query value: RFC 3986 unreserved characters.
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// The longest a URL signed with temporary credentials of unknown expiry is said to live: one
/// hour, the shortest session AWS hands out by default (STS's default, and the limit for a role
/// assumed by another role). Lambda passes its role's credentials to the function as environment
/// variables without their expiry, and S3 refuses a URL once the credentials that signed it have
/// expired, whatever the URL says; so a longer lifetime would be a promise the function cannot
/// check. Static (long-term) keys, which have no session token, are not bounded.
pub const UNKNOWN_SESSION_TTL: Duration = Duration::from_secs(3600);

/// Why a URL could not be signed.
#[derive(Debug, Error)]
pub enum PresignError {
    /// The credentials had already expired at signing time.
    #[error("the signing credentials have expired")]
    CredentialsExpired,
    /// The signer refused the request (an internal bug; details for the log only).
    #[error("signing failed: {0}")]
    Signing(String),
}

/// Where S3 is and how bucket names go into URLs.
#[derive(Debug, Clone)]
pub struct Presigner {
    region: String,
    /// A custom endpoint (path-style addressing), or `None` for AWS S3 itself.
    endpoint: Option<String>,
}

/// What a URL is signed for.
#[derive(Debug, Clone, Copy)]
pub struct UrlRequest<'a> {
    /// The method the URL allows.
    pub method: HttpMethod,
    /// The bucket.
    pub bucket: &'a str,
    /// The full object key.
    pub key: &'a str,
    /// Lowercase header names with the values the client must send; signed into the URL.
    pub signed_headers: &'a [(&'static str, String)],
}

/// A signed URL with what the client needs to use it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedUrl {
    /// The URL, signature in the query string. A bearer secret until it expires.
    pub url: String,
    /// Headers that were signed and must be sent with exactly these values.
    pub headers: BTreeMap<String, String>,
    /// The moment S3 stops accepting the URL.
    pub expires_at: SystemTime,
}

impl Presigner {
    /// A presigner for AWS S3 in `region`, or for the S3-compatible server at `endpoint`.
    pub fn new(region: impl Into<String>, endpoint: Option<String>) -> Self {
        Self {
            region: region.into(),
            endpoint: endpoint.map(|e| e.trim_end_matches('/').to_owned()),
        }
    }

    /// The region URLs are signed for.
    pub fn region(&self) -> &str {
        &self.region
    }

    /// Signs `request`, valid for `ttl` from `now`.
    ///
    /// The request's headers are signed into the URL and returned in [`SignedUrl::headers`].
    /// When the credentials expire before `now + ttl`, the URL's lifetime is cut to theirs, so the
    /// advertised expiry is the real one; temporary credentials that do not say when they expire
    /// are taken to last at most [`UNKNOWN_SESSION_TTL`].
    ///
    /// # Errors
    /// [`PresignError::CredentialsExpired`] when the credentials are no longer valid at `now`.
    pub fn presign(
        &self,
        credentials: &Credentials,
        request: &UrlRequest<'_>,
        ttl: Duration,
        now: SystemTime,
    ) -> Result<SignedUrl, PresignError> {
        self.presign_with_query(credentials, request, &[], ttl, now)
    }

    /// Signs `request` as [`Presigner::presign`] does, with the parameters `query` (names and
    /// unencoded values, such as a part's `partNumber` and `uploadId`) in the URL and in the
    /// signature. SigV4 signs the query sorted by encoded name; the URL keeps `query` first, in
    /// the order given, and the signature's own parameters after it.
    ///
    /// # Errors
    /// [`PresignError::CredentialsExpired`] when the credentials are no longer valid at `now`.
    pub fn presign_with_query(
        &self,
        credentials: &Credentials,
        request: &UrlRequest<'_>,
        query: &[(&str, String)],
        ttl: Duration,
        now: SystemTime,
    ) -> Result<SignedUrl, PresignError> {
        let UrlRequest {
            method,
            bucket,
            key,
            signed_headers,
        } = *request;
        // SigV4 dates have whole seconds; sign and report with the same truncated instant.
        let now = UNIX_EPOCH
            + Duration::from_secs(now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs());
        let ttl = match credentials.expiry() {
            Some(expiry) => {
                let left = expiry
                    .duration_since(now)
                    .map_err(|_| PresignError::CredentialsExpired)?;
                let left = Duration::from_secs(left.as_secs());
                if left.is_zero() {
                    return Err(PresignError::CredentialsExpired);
                }
                ttl.min(left)
            }
            None if credentials.session_token().is_some() => ttl.min(UNKNOWN_SESSION_TTL),
            None => ttl,
        };

        let mut base = self.object_url(bucket, key);
        for (i, (name, value)) in query.iter().enumerate() {
            base.push(if i == 0 { '?' } else { '&' });
            base.extend(utf8_percent_encode(name, QUERY_VALUE));
            base.push('=');
            base.extend(utf8_percent_encode(value, QUERY_VALUE));
        }
        let mut settings = SigningSettings::default();
        settings.signature_location = SignatureLocation::QueryParams;
        settings.expires_in = Some(ttl);
        // S3 signs the path as sent: no second encoding, no dot-segment normalization.
        settings.percent_encoding_mode = PercentEncodingMode::Single;
        settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
        settings.session_token_mode = SessionTokenMode::Include;

        let identity: Identity = credentials.clone().into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name("s3")
            .time(now)
            .settings(settings)
            .build()
            .map_err(|e| PresignError::Signing(e.to_string()))?
            .into();
        let signable = SignableRequest::new(
            method.as_str(),
            base.as_str(),
            signed_headers.iter().map(|(n, v)| (*n, v.as_str())),
            SignableBody::UnsignedPayload,
        )
        .map_err(|e| PresignError::Signing(e.to_string()))?;
        let (instructions, _signature) = sign(signable, &params)
            .map_err(|e| PresignError::Signing(e.to_string()))?
            .into_parts();
        let (_headers, signature_query) = instructions.into_parts();

        let mut url = base;
        for (i, (name, value)) in signature_query.iter().enumerate() {
            url.push(if i == 0 && query.is_empty() { '?' } else { '&' });
            url.push_str(name);
            url.push('=');
            url.extend(utf8_percent_encode(value, QUERY_VALUE));
        }
        Ok(SignedUrl {
            url,
            headers: signed_headers
                .iter()
                .map(|(n, v)| ((*n).to_owned(), v.clone()))
                .collect(),
            expires_at: now + ttl,
        })
    }

    /// The object's URL without a query string.
    fn object_url(&self, bucket: &str, key: &str) -> String {
        let key = utf8_percent_encode(key, KEY_PATH);
        match &self.endpoint {
            Some(endpoint) => format!("{endpoint}/{bucket}/{key}"),
            None => {
                let domain = if self.region.starts_with("cn-") {
                    "amazonaws.com.cn"
                } else {
                    "amazonaws.com"
                };
                // Buckets with dots break the wildcard TLS certificate of virtual-hosted URLs.
                if bucket.contains('.') {
                    format!("https://s3.{}.{domain}/{bucket}/{key}", self.region)
                } else {
                    format!("https://{bucket}.s3.{}.{domain}/{key}", self.region)
                }
            }
        }
    }
}

/// Removes the query string (where the signature lives) from a URL, for logs and messages.
pub fn redact_url(url: &str) -> &str {
    url.split_once('?').map_or(url, |(base, _)| base)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn credentials(expiry: Option<SystemTime>) -> Credentials {
        Credentials::new(
            "AKIDEXAMPLE",
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            None,
            expiry,
            "test",
        )
    }

    fn at(seconds: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(seconds)
    }

    fn query_value<'a>(url: &'a str, name: &str) -> Option<&'a str> {
        let (_, query) = url.split_once('?')?;
        query
            .split('&')
            .find_map(|pair| pair.strip_prefix(name)?.strip_prefix('='))
    }

    #[test]
    fn aws_urls_are_virtual_hosted_and_encode_the_key() {
        let presigner = Presigner::new("eu-west-1", None);
        let signed = presigner
            .presign(
                &credentials(None),
                &UrlRequest {
                    method: HttpMethod::Get,
                    bucket: "ddn-out-bucket",
                    key: "users/alice/scan 01 사진+?.png",
                    signed_headers: &[],
                },
                Duration::from_secs(3600),
                at(1_795_000_000),
            )
            .unwrap();
        let base = redact_url(&signed.url);
        assert_eq!(
            base,
            "https://ddn-out-bucket.s3.eu-west-1.amazonaws.com/users/alice/scan%2001%20%EC%82%AC%EC%A7%84%2B%3F.png"
        );
        assert_eq!(query_value(&signed.url, "X-Amz-Expires"), Some("3600"));
        assert_eq!(
            query_value(&signed.url, "X-Amz-SignedHeaders"),
            Some("host")
        );
        assert_eq!(
            query_value(&signed.url, "X-Amz-Credential"),
            Some("AKIDEXAMPLE%2F20261118%2Feu-west-1%2Fs3%2Faws4_request")
        );
        assert_eq!(
            query_value(&signed.url, "X-Amz-Signature").map(str::len),
            Some(64)
        );
        assert_eq!(signed.expires_at, at(1_795_003_600));
    }

    #[test]
    fn custom_endpoints_and_dotted_buckets_use_path_style() {
        let local = Presigner::new("us-east-1", Some("http://127.0.0.1:9000/".into()));
        let url = local.object_url("in", "users/a/x.png");
        assert_eq!(url, "http://127.0.0.1:9000/in/users/a/x.png");

        let aws = Presigner::new("us-east-1", None);
        assert_eq!(
            aws.object_url("my.bucket", "k"),
            "https://s3.us-east-1.amazonaws.com/my.bucket/k"
        );
        let china = Presigner::new("cn-north-1", None);
        assert_eq!(
            china.object_url("b", "k"),
            "https://b.s3.cn-north-1.amazonaws.com.cn/k"
        );
    }

    #[test]
    fn upload_headers_are_signed_and_returned() {
        let presigner = Presigner::new("us-east-1", None);
        let headers = [
            ("content-length", "5".to_owned()),
            ("content-md5", "XUFAKrxLKna5cZ2REBfFkg==".to_owned()),
        ];
        let signed = presigner
            .presign(
                &credentials(None),
                &UrlRequest {
                    method: HttpMethod::Put,
                    bucket: "in",
                    key: "users/a/x",
                    signed_headers: &headers,
                },
                Duration::from_secs(60),
                at(1_795_000_000),
            )
            .unwrap();
        assert_eq!(
            query_value(&signed.url, "X-Amz-SignedHeaders"),
            Some("content-length%3Bcontent-md5%3Bhost")
        );
        assert_eq!(signed.headers["content-length"], "5");
        assert_eq!(signed.headers.len(), 2);
    }

    #[test]
    fn the_signature_depends_on_every_signed_input() {
        let presigner = Presigner::new("us-east-1", None);
        let sign = |method, key: &str, size: &str, now| {
            let signed = presigner
                .presign(
                    &credentials(None),
                    &UrlRequest {
                        method,
                        bucket: "in",
                        key,
                        signed_headers: &[("content-length", size.to_owned())],
                    },
                    Duration::from_secs(60),
                    at(now),
                )
                .unwrap();
            query_value(&signed.url, "X-Amz-Signature")
                .unwrap()
                .to_owned()
        };
        let reference = sign(HttpMethod::Put, "k", "1", 1_795_000_000);
        assert_eq!(reference, sign(HttpMethod::Put, "k", "1", 1_795_000_000));
        assert_ne!(reference, sign(HttpMethod::Get, "k", "1", 1_795_000_000));
        assert_ne!(reference, sign(HttpMethod::Put, "k2", "1", 1_795_000_000));
        assert_ne!(reference, sign(HttpMethod::Put, "k", "2", 1_795_000_000));
        assert_ne!(reference, sign(HttpMethod::Put, "k", "1", 1_795_000_001));
    }

    #[test]
    fn a_parts_number_and_upload_id_are_in_the_url_and_the_signature() {
        let presigner = Presigner::new("us-east-1", None);
        let headers = [("content-length", "8388608".to_owned())];
        let sign = |number: &str, upload: &str| {
            presigner
                .presign_with_query(
                    &credentials(None),
                    &UrlRequest {
                        method: HttpMethod::Put,
                        bucket: "in",
                        key: "users/a/big.bin",
                        signed_headers: &headers,
                    },
                    &[
                        ("partNumber", number.to_owned()),
                        ("uploadId", upload.to_owned()),
                    ],
                    Duration::from_secs(900),
                    at(1_795_000_000),
                )
                .unwrap()
                .url
        };
        let url = sign("7", "Up+load/Id=");
        // The part's parameters come first, encoded; the signature's own follow.
        assert!(
            url.starts_with(
                "https://in.s3.us-east-1.amazonaws.com/users/a/big.bin\
                 ?partNumber=7&uploadId=Up%2Bload%2FId%3D&X-Amz-Algorithm=AWS4-HMAC-SHA256&"
            ),
            "{}",
            redact_url(&url)
        );
        assert_eq!(query_value(&url, "X-Amz-Expires"), Some("900"));
        let signature = |url: &str| query_value(url, "X-Amz-Signature").unwrap().to_owned();
        assert_eq!(signature(&url), signature(&sign("7", "Up+load/Id=")));
        assert_ne!(signature(&url), signature(&sign("8", "Up+load/Id=")));
        assert_ne!(signature(&url), signature(&sign("7", "Up+load/Id")));
        // Without parameters it is the plain URL of `presign`.
        let plain = presigner
            .presign(
                &credentials(None),
                &UrlRequest {
                    method: HttpMethod::Put,
                    bucket: "in",
                    key: "users/a/big.bin",
                    signed_headers: &headers,
                },
                Duration::from_secs(900),
                at(1_795_000_000),
            )
            .unwrap();
        assert!(plain.url.contains("/big.bin?X-Amz-Algorithm="));
        assert_ne!(signature(&plain.url), signature(&url));
    }

    #[test]
    fn lifetime_is_cut_to_the_credentials_expiry() {
        let presigner = Presigner::new("us-east-1", None);
        let now = at(1_795_000_000);
        let session = Credentials::new(
            "AKID",
            "secret",
            Some("TOKEN/+=".into()),
            Some(at(1_795_000_600)),
            "test",
        );
        let signed = presigner
            .presign(
                &session,
                &UrlRequest {
                    method: HttpMethod::Get,
                    bucket: "out",
                    key: "k",
                    signed_headers: &[],
                },
                Duration::from_secs(3600),
                now,
            )
            .unwrap();
        assert_eq!(signed.expires_at, at(1_795_000_600));
        assert_eq!(query_value(&signed.url, "X-Amz-Expires"), Some("600"));
        assert_eq!(
            query_value(&signed.url, "X-Amz-Security-Token"),
            Some("TOKEN%2F%2B%3D")
        );

        let expired = credentials(Some(now));
        let error = presigner
            .presign(
                &expired,
                &UrlRequest {
                    method: HttpMethod::Get,
                    bucket: "out",
                    key: "k",
                    signed_headers: &[],
                },
                Duration::from_secs(60),
                now,
            )
            .unwrap_err();
        assert!(matches!(error, PresignError::CredentialsExpired));
    }

    #[test]
    fn temporary_credentials_of_unknown_expiry_get_at_most_an_hour() {
        let presigner = Presigner::new("us-east-1", None);
        let now = at(1_795_000_000);
        let request = UrlRequest {
            method: HttpMethod::Get,
            bucket: "out",
            key: "k",
            signed_headers: &[],
        };
        let day = Duration::from_secs(86_400);
        // As Lambda passes them: a session token, no expiry.
        let lambda = Credentials::new("ASIA", "secret", Some("TOKEN".into()), None, "env");
        let signed = presigner.presign(&lambda, &request, day, now).unwrap();
        assert_eq!(signed.expires_at, at(1_795_003_600));
        assert_eq!(query_value(&signed.url, "X-Amz-Expires"), Some("3600"));
        // A shorter configured lifetime is kept.
        let short = presigner
            .presign(&lambda, &request, Duration::from_secs(900), now)
            .unwrap();
        assert_eq!(short.expires_at, at(1_795_000_900));
        // Long-term keys have no session and keep the configured lifetime.
        let keys = presigner
            .presign(&credentials(None), &request, day, now)
            .unwrap();
        assert_eq!(keys.expires_at, at(1_795_086_400));
    }

    #[test]
    fn redaction_drops_the_whole_query() {
        assert_eq!(
            redact_url("https://b.s3/k?X-Amz-Signature=abc&X-Amz-Credential=AKID"),
            "https://b.s3/k"
        );
        assert_eq!(redact_url("https://b.s3/k"), "https://b.s3/k");
    }
}
