//! The function's settings, read once at start from the environment.
//!
//! A missing or malformed setting stops the start with one clear log line, instead of failing every
//! request later. The standard AWS variables (region, credentials, endpoint) are read by `aws-config`;
//! this module reads the service's own.

use std::time::Duration;

use thiserror::Error;

use crate::auth::{self, Authenticator, TokenTable};

/// Input bucket name (uploads go here). Same name as in the seed.
pub const ENV_IN_BUCKET: &str = "DDN_IN_BUCKET";
/// Output bucket name (results are read from here). Same name as in the seed.
pub const ENV_OUT_BUCKET: &str = "DDN_OUT_BUCKET";
/// Lifetime of a presigned URL, in seconds.
pub const ENV_URL_TTL_SECONDS: &str = "DDN_URL_TTL_SECONDS";
/// `token` (the default) or `none`.
pub const ENV_AUTH: &str = "DDN_AUTH";
/// `user:sha256hex,...`: the accepted tokens, as hashes.
pub const ENV_TOKENS: &str = "DDN_TOKENS";
/// `true` to refuse upload requests without `size` (the seed's shape); `false` (the default) to
/// accept them.
pub const ENV_REQUIRE_SIZE: &str = "DDN_REQUIRE_SIZE";
/// A custom S3 endpoint for S3 only (standard AWS variable).
pub const ENV_ENDPOINT_URL_S3: &str = "AWS_ENDPOINT_URL_S3";
/// A custom endpoint for every AWS service (standard AWS variable).
pub const ENV_ENDPOINT_URL: &str = "AWS_ENDPOINT_URL";

/// The URL lifetime when none is configured, as in the seed.
pub const DEFAULT_URL_TTL: Duration = Duration::from_secs(3600);

/// A setting that keeps the function from starting.
#[derive(Debug, Error)]
pub enum ConfigError {
    /// A required variable is unset or empty.
    #[error("{0} is not set: the function needs it to know its buckets")]
    Missing(&'static str),
    /// `DDN_URL_TTL_SECONDS` is not a positive whole number.
    #[error("{ENV_URL_TTL_SECONDS} must be a whole number of seconds from 1 to {max}, got {0:?}", max = ddn_api::MAX_URL_TTL_SECONDS)]
    BadTtl(String),
    /// `DDN_AUTH` has an unknown value.
    #[error("{ENV_AUTH} must be \"token\" or \"none\", got {0:?}")]
    BadAuthMode(String),
    /// `DDN_TOKENS` is malformed or empty.
    #[error(transparent)]
    Tokens(#[from] auth::ConfigError),
    /// `DDN_REQUIRE_SIZE` is neither `true` nor `false`.
    #[error("{ENV_REQUIRE_SIZE} must be \"true\" or \"false\", got {0:?}")]
    BadRequireSize(String),
    /// The custom endpoint is not an http(s) URL.
    #[error("{0} must be an http:// or https:// URL")]
    BadEndpoint(&'static str),
}

/// The service's settings.
#[derive(Debug)]
pub struct Config {
    /// Where uploads go.
    pub in_bucket: String,
    /// Where results are read from.
    pub out_bucket: String,
    /// How long a URL is valid, at most 7 days.
    pub url_ttl: Duration,
    /// Whether the configured TTL was above the 7-day limit and has been lowered to it.
    pub url_ttl_clamped: bool,
    /// How callers are identified.
    pub auth: Authenticator,
    /// A custom S3 endpoint (`AWS_ENDPOINT_URL_S3`, else `AWS_ENDPOINT_URL`), without a trailing
    /// slash. When set, URLs use path-style addressing.
    pub endpoint: Option<String>,
    /// Whether upload requests must declare their `size`. An unsized URL accepts any body of up
    /// to 5 GiB at its key until it expires, and carries no upload id.
    pub require_size: bool,
}

impl Config {
    /// Reads the settings from the process environment.
    ///
    /// # Errors
    /// A [`ConfigError`] for the first setting that is missing or malformed.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the settings through `lookup`, which answers a variable's value by name.
    ///
    /// # Errors
    /// A [`ConfigError`] for the first setting that is missing or malformed.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let in_bucket = get(ENV_IN_BUCKET).ok_or(ConfigError::Missing(ENV_IN_BUCKET))?;
        let out_bucket = get(ENV_OUT_BUCKET).ok_or(ConfigError::Missing(ENV_OUT_BUCKET))?;

        let (url_ttl, url_ttl_clamped) = match get(ENV_URL_TTL_SECONDS) {
            None => (DEFAULT_URL_TTL, false),
            Some(text) => {
                let seconds: u64 = text
                    .trim()
                    .parse()
                    .ok()
                    .filter(|&s| s > 0)
                    .ok_or_else(|| ConfigError::BadTtl(text.clone()))?;
                let max = ddn_api::MAX_URL_TTL_SECONDS;
                (Duration::from_secs(seconds.min(max)), seconds > max)
            }
        };

        let auth = match get(ENV_AUTH).as_deref().map(str::trim) {
            None | Some("token") => {
                Authenticator::Tokens(TokenTable::parse(&get(ENV_TOKENS).unwrap_or_default())?)
            }
            Some("none") => Authenticator::Open,
            Some(other) => return Err(ConfigError::BadAuthMode(other.to_owned())),
        };

        let require_size = match get(ENV_REQUIRE_SIZE).as_deref().map(str::trim) {
            None | Some("false") => false,
            Some("true") => true,
            Some(other) => return Err(ConfigError::BadRequireSize(other.to_owned())),
        };

        let endpoint = match (get(ENV_ENDPOINT_URL_S3), get(ENV_ENDPOINT_URL)) {
            (Some(url), _) => Some(check_endpoint(url, ENV_ENDPOINT_URL_S3)?),
            (None, Some(url)) => Some(check_endpoint(url, ENV_ENDPOINT_URL)?),
            (None, None) => None,
        };

        Ok(Self {
            in_bucket: in_bucket.trim().to_owned(),
            out_bucket: out_bucket.trim().to_owned(),
            url_ttl,
            url_ttl_clamped,
            auth,
            endpoint,
            require_size,
        })
    }
}

fn check_endpoint(url: String, name: &'static str) -> Result<String, ConfigError> {
    let url = url.trim().trim_end_matches('/');
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or(ConfigError::BadEndpoint(name))?;
    if rest.is_empty() || rest.contains(['?', '#']) {
        return Err(ConfigError::BadEndpoint(name));
    }
    Ok(url.to_owned())
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Config::from_lookup(|name| map.get(name).cloned())
    }

    const BUCKETS: [(&str, &str); 2] = [("DDN_IN_BUCKET", "in"), ("DDN_OUT_BUCKET", "out")];

    fn with_buckets(extra: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
        let mut vars = BUCKETS.to_vec();
        vars.extend_from_slice(extra);
        vars
    }

    #[test]
    fn missing_buckets_stop_the_start() {
        let error = config(&[("DDN_OUT_BUCKET", "out")]).unwrap_err();
        assert!(matches!(error, ConfigError::Missing("DDN_IN_BUCKET")));
        let error = config(&[("DDN_IN_BUCKET", "in"), ("DDN_OUT_BUCKET", " ")]).unwrap_err();
        assert!(matches!(error, ConfigError::Missing("DDN_OUT_BUCKET")));
        assert!(error.to_string().contains("DDN_OUT_BUCKET is not set"));
    }

    #[test]
    fn tokens_are_required_unless_auth_is_explicitly_off() {
        let error = config(&with_buckets(&[])).unwrap_err();
        assert!(error.to_string().contains("no tokens configured"));

        let open = config(&with_buckets(&[("DDN_AUTH", "none")])).unwrap();
        assert!(matches!(open.auth, Authenticator::Open));

        let error = config(&with_buckets(&[("DDN_AUTH", "off")])).unwrap_err();
        assert!(matches!(error, ConfigError::BadAuthMode(_)));
    }

    #[test]
    fn ttl_defaults_to_an_hour_and_is_bounded_to_seven_days() {
        let with_ttl = |ttl: Option<&'static str>| {
            let mut vars = with_buckets(&[("DDN_AUTH", "none")]);
            vars.extend(ttl.map(|t| ("DDN_URL_TTL_SECONDS", t)));
            config(&vars)
        };
        assert_eq!(with_ttl(None).unwrap().url_ttl, Duration::from_secs(3600));
        assert_eq!(
            with_ttl(Some("900")).unwrap().url_ttl,
            Duration::from_secs(900)
        );

        let clamped = with_ttl(Some("999999999")).unwrap();
        assert_eq!(clamped.url_ttl, Duration::from_secs(604_800));
        assert!(clamped.url_ttl_clamped);

        for bad in ["0", "-5", "1h", "1.5"] {
            assert!(
                matches!(with_ttl(Some(bad)), Err(ConfigError::BadTtl(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn unsized_uploads_are_accepted_unless_refused_by_setting() {
        let open = |extra: &[(&'static str, &'static str)]| {
            let mut vars = with_buckets(&[("DDN_AUTH", "none")]);
            vars.extend_from_slice(extra);
            config(&vars)
        };
        assert!(!open(&[]).unwrap().require_size);
        assert!(!open(&[("DDN_REQUIRE_SIZE", "false")]).unwrap().require_size);
        assert!(
            open(&[("DDN_REQUIRE_SIZE", " true ")])
                .unwrap()
                .require_size
        );
        for bad in ["1", "yes", "TRUE"] {
            assert!(
                matches!(
                    open(&[("DDN_REQUIRE_SIZE", bad)]),
                    Err(ConfigError::BadRequireSize(_))
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn the_s3_specific_endpoint_wins_over_the_global_one() {
        let vars = with_buckets(&[
            ("DDN_AUTH", "none"),
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:9000"),
            ("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:9001/"),
        ]);
        assert_eq!(
            config(&vars).unwrap().endpoint.as_deref(),
            Some("http://127.0.0.1:9001")
        );
        let vars = with_buckets(&[("DDN_AUTH", "none"), ("AWS_ENDPOINT_URL", "ftp://x")]);
        assert!(matches!(
            config(&vars),
            Err(ConfigError::BadEndpoint("AWS_ENDPOINT_URL"))
        ));
    }
}
