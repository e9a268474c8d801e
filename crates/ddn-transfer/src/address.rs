//! Which service addresses a client may send a token to: the one rule every client applies.
//!
//! The rule: `https://` anywhere, or `http://` only to this computer (`localhost`, `127.0.0.0/8`,
//! `[::1]`), where the local stack runs. Over plain HTTP to any other host the bearer token would
//! cross the network readable by anyone on the way.
//!
//! The host is the one a URL parser finds, never a prefix of the text, so
//! `http://127.0.0.1.evil.com` (a domain) and `http://localhost@evil.com` (a user name before
//! the real host) are refused.

use std::net::IpAddr;

use reqwest::Url;
use thiserror::Error;

/// Why an address was refused. Each message says what to type instead, and never repeats the
/// address (it may carry a user name or a password).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AddressError {
    /// Not a URL with a host at all.
    #[error(
        "The service address is not a web address; it looks like https://abc123.execute-api.eu-west-1.amazonaws.com"
    )]
    NotAUrl,
    /// A scheme other than `https` or `http`.
    #[error("The service address must start with https://")]
    UnsupportedScheme,
    /// `http://` to a host other than this computer.
    #[error(
        "The service address must start with https:// (plain http:// is only for a local stack on this computer: localhost, 127.0.0.1 or [::1]), so the access token is never sent unencrypted"
    )]
    PlainHttpToRemoteHost,
}

/// Checks that a token may be sent to the service at `url`.
///
/// # Errors
/// An [`AddressError`] saying why not.
pub fn check_service_url(url: &str) -> Result<(), AddressError> {
    let parsed = Url::parse(url.trim()).map_err(|_| AddressError::NotAUrl)?;
    let host = parsed.host_str().ok_or(AddressError::NotAUrl)?;
    match parsed.scheme() {
        "https" => Ok(()),
        "http" if is_loopback_host(host) => Ok(()),
        "http" => Err(AddressError::PlainHttpToRemoteHost),
        _ => Err(AddressError::UnsupportedScheme),
    }
}

/// Whether a parsed URL's host is this computer. The parser has already lower-cased domains and
/// written IPv4 addresses in dotted form (`127.1` is `127.0.0.1`); IPv6 keeps its brackets.
fn is_loopback_host(host: &str) -> bool {
    if host == "localhost" {
        return true;
    }
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_anywhere_and_plain_http_only_on_this_computer() {
        use AddressError::{NotAUrl, PlainHttpToRemoteHost as Remote, UnsupportedScheme};

        let accepted = [
            "https://abc123.execute-api.eu-west-1.amazonaws.com",
            "https://abc123.execute-api.eu-west-1.amazonaws.com/prod/",
            "https://example.com:8443",
            "https://10.0.0.5",
            "HTTPS://EXAMPLE.COM",
            "http://localhost:4566",
            "http://LOCALHOST:4566/",
            "http://127.0.0.1:4566",
            "http://127.5.6.7",
            "http://127.1:4566",
            "http://[::1]:4566",
            "http://[0:0:0:0:0:0:0:1]/",
            " http://127.0.0.1:4566 ",
        ];
        for url in accepted {
            assert_eq!(check_service_url(url), Ok(()), "{url}");
        }
        let refused = [
            ("http://example.com", Remote),
            ("http://10.0.0.5:4566", Remote),
            ("http://192.168.1.10", Remote),
            ("http://0.0.0.0:4566", Remote),
            ("http://[::]:4566", Remote),
            ("http://[::ffff:127.0.0.1]", Remote),
            ("http://127.0.0.1.evil.com", Remote),
            ("http://localhost.evil.com", Remote),
            ("http://localhost@evil.com", Remote),
            ("http://127.0.0.1:80@evil.com", Remote),
            ("http://evil.com#@localhost", Remote),
            ("http://evil.com/?localhost", Remote),
            ("ftp://example.com", UnsupportedScheme),
            ("file:///etc/passwd", NotAUrl),
            ("example.com", NotAUrl),
            ("localhost:4566", NotAUrl),
            ("https://", NotAUrl),
            ("", NotAUrl),
        ];
        for (url, error) in refused {
            assert_eq!(check_service_url(url), Err(error), "{url}");
        }
    }

    #[test]
    fn messages_never_repeat_the_address() {
        let url = "http://user:secret@example.com";
        let message = check_service_url(url).unwrap_err().to_string();
        assert!(!message.contains("secret"), "{message}");
        assert!(message.contains("https://"), "{message}");
    }
}
