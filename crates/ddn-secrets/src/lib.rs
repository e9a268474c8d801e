//! The API token in the operating system's keyring: the Secret Service on Linux (GNOME Keyring,
//! KWallet), the Keychain on macOS, the Credential Manager on Windows.
//!
//! One entry per service address, under the service name [`KEYRING_SERVICE`], so `ddn` and the
//! desktop app find each other's token, and a token for one deployment is never sent to another.
//! The token never touches a file of ours; errors never carry it.
//!
//! Every call blocks on the platform store (a D-Bus round trip on Linux): from async code, call it
//! through `spawn_blocking`.

use ddn_api::Token;

/// The service name every entry is saved under.
pub const KEYRING_SERVICE: &str = "DDN Transfer";

/// Why the keyring could not be used. Messages are plain language and never contain the token.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// No keyring is running or it refused access (locked, or no Secret Service on this desktop).
    #[error("the system keyring is not available ({0})")]
    Unavailable(String),
    /// The keyring answered with an error.
    #[error("the system keyring failed ({0})")]
    Failed(String),
    /// The service address is empty.
    #[error("no service address is set, so there is no saved token to use")]
    NoAddress,
}

/// The tokens saved in the keyring, one per service address.
#[derive(Debug, Clone)]
pub struct TokenStore {
    service: String,
}

impl Default for TokenStore {
    fn default() -> Self {
        Self::new(KEYRING_SERVICE)
    }
}

impl TokenStore {
    /// A store whose entries are saved under `service` (tests use their own name; the apps use
    /// [`TokenStore::default`]).
    pub fn new(service: impl Into<String>) -> Self {
        Self {
            service: service.into(),
        }
    }

    /// The token saved for `api_url`, if there is one.
    ///
    /// # Errors
    /// [`SecretError`] when the keyring cannot be reached or the address is empty.
    pub fn load(&self, api_url: &str) -> Result<Option<Token>, SecretError> {
        match self.entry(api_url)?.get_password() {
            Ok(token) => Ok(Some(Token::new(token))),
            Err(keyring::Error::NoEntry) => Ok(None),
            Err(error) => Err(to_secret_error(error)),
        }
    }

    /// Saves `token` for `api_url`, replacing any earlier one.
    ///
    /// # Errors
    /// [`SecretError`] when the keyring cannot be reached or the address is empty.
    pub fn save(&self, api_url: &str, token: &Token) -> Result<(), SecretError> {
        self.entry(api_url)?
            .set_password(token.expose())
            .map_err(to_secret_error)
    }

    /// Removes the token saved for `api_url`. Returns whether there was one.
    ///
    /// # Errors
    /// [`SecretError`] when the keyring cannot be reached or the address is empty.
    pub fn delete(&self, api_url: &str) -> Result<bool, SecretError> {
        match self.entry(api_url)?.delete_credential() {
            Ok(()) => Ok(true),
            Err(keyring::Error::NoEntry) => Ok(false),
            Err(error) => Err(to_secret_error(error)),
        }
    }

    fn entry(&self, api_url: &str) -> Result<keyring::Entry, SecretError> {
        let account = account_for(api_url).ok_or(SecretError::NoAddress)?;
        keyring::Entry::new(&self.service, &account).map_err(to_secret_error)
    }
}

/// The entry's account name for a service address: the address without surrounding spaces or
/// trailing slashes, with its scheme and host in lower case, so spellings of one address share a
/// token. `None` for an empty address.
pub fn account_for(api_url: &str) -> Option<String> {
    let trimmed = api_url.trim().trim_end_matches('/');
    if trimmed.is_empty() {
        return None;
    }
    // Scheme and host are case-insensitive; the path is not.
    let (authority_end, rest) = match trimmed.find("://") {
        Some(scheme_end) => {
            let after = scheme_end + 3;
            let path_start = trimmed[after..]
                .find('/')
                .map_or(trimmed.len(), |i| after + i);
            (path_start, &trimmed[path_start..])
        }
        None => (trimmed.len(), ""),
    };
    Some(format!(
        "{}{rest}",
        trimmed[..authority_end].to_ascii_lowercase()
    ))
}

/// Keeps only the kind of failure: platform messages are plain, but a store may echo what it was
/// given, so nothing of the entry's content is passed on.
fn to_secret_error(error: keyring::Error) -> SecretError {
    match error {
        keyring::Error::NoStorageAccess(cause) => SecretError::Unavailable(cause.to_string()),
        keyring::Error::PlatformFailure(cause) => SecretError::Failed(cause.to_string()),
        keyring::Error::BadEncoding(_) => {
            SecretError::Failed("the saved token is not valid text".to_owned())
        }
        keyring::Error::TooLong(what, limit) => SecretError::Failed(format!(
            "the {what} is longer than the store allows ({limit})"
        )),
        keyring::Error::Ambiguous(_) => SecretError::Failed(
            "several entries match this address; remove them with the system's keyring tool"
                .to_owned(),
        ),
        other => SecretError::Failed(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_of_one_address_share_an_account() {
        for spelling in [
            "https://API.example.com/prod",
            " https://api.example.com/prod/ ",
            "HTTPS://api.EXAMPLE.com/prod//",
        ] {
            assert_eq!(
                account_for(spelling).as_deref(),
                Some("https://api.example.com/prod"),
                "{spelling}"
            );
        }
    }

    #[test]
    fn paths_keep_their_case_and_addresses_stay_apart() {
        assert_eq!(
            account_for("http://127.0.0.1:8787/Stage").as_deref(),
            Some("http://127.0.0.1:8787/Stage")
        );
        assert_ne!(
            account_for("http://127.0.0.1:8787"),
            account_for("http://127.0.0.1:8788")
        );
    }

    #[test]
    fn an_empty_address_has_no_account() {
        assert_eq!(account_for("  /  "), None);
        let error = TokenStore::default().load("").unwrap_err();
        assert!(matches!(error, SecretError::NoAddress));
    }
}
