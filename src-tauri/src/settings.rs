//! The user's settings: the service address, the results folder and the language in a JSON file in
//! the app's config folder; the access token only in the OS keyring. `DDN_API_URL`,
//! `DDN_API_TOKEN` and `DDN_RESULTS_DIR`, when set, win over the saved values for this run (the
//! run command and the tests use them) and are never written back. The address from
//! `DDN_API_URL` obeys the same rule as a typed one (`https://`, or `http://` on this computer
//! only): a refused one is not used, and the settings say why.

use std::path::{Path, PathBuf};

use ddn_secrets::TokenStore;
use ddn_transfer::Token;
use serde::{Deserialize, Serialize};

use crate::error::{CommandError, ErrorKind};
use crate::json_file::JsonFile;

/// What is saved in `settings.json`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SavedSettings {
    /// The presign service's address, e.g. `https://abc.execute-api.eu-west-1.amazonaws.com`.
    pub api_url: String,
    /// Where results are saved; the system's downloads folder when `None`.
    pub results_dir: Option<PathBuf>,
    /// "en", "ko", or empty to follow the system.
    pub language: String,
}

/// Values from the environment that win over the saved ones.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `DDN_API_URL`.
    pub api_url: Option<String>,
    /// `DDN_API_TOKEN`.
    pub token: Option<String>,
    /// `DDN_RESULTS_DIR`.
    pub results_dir: Option<PathBuf>,
}

impl Overrides {
    /// Reads the overrides from the process environment; empty values count as unset.
    pub fn from_env() -> Self {
        let var = |name: &str| {
            std::env::var(name)
                .ok()
                .filter(|value| !value.trim().is_empty())
        };
        Self {
            api_url: var("DDN_API_URL"),
            token: var("DDN_API_TOKEN"),
            results_dir: var("DDN_RESULTS_DIR").map(PathBuf::from),
        }
    }
}

/// The settings as the page shows them. The token itself never leaves the Rust side: the page
/// only learns whether one is saved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SettingsView {
    /// The address in use.
    pub api_url: String,
    /// The results folder in use.
    pub results_dir: PathBuf,
    /// The chosen language ("" for the system's).
    pub language: String,
    /// Whether a token is available (saved in the keyring or given in the environment).
    pub has_token: bool,
    /// Whether the address comes from `DDN_API_URL` (so editing it here has no effect this run).
    pub api_url_from_environment: bool,
    /// Whether the token comes from `DDN_API_TOKEN`.
    pub token_from_environment: bool,
    /// Why the address from `DDN_API_URL` is not used, when it is refused.
    pub api_url_problem: Option<CommandError>,
    /// Whether the app has what it needs to send files.
    pub configured: bool,
}

/// A change to the settings from the page. `token` is only sent when the user typed a new one.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SettingsUpdate {
    /// The service address.
    pub api_url: String,
    /// The results folder.
    pub results_dir: Option<PathBuf>,
    /// The language ("", "en" or "ko").
    pub language: String,
    /// A new access token to save in the keyring.
    pub token: Option<String>,
}

/// What the transfers run with: the effective address, token and folder.
#[derive(Debug, Clone)]
pub struct Effective {
    /// The service address.
    pub api_url: String,
    /// The token, when there is one.
    pub token: Option<Token>,
    /// The results folder.
    pub results_dir: PathBuf,
    /// Why the address in effect may not be used (an unsafe `DDN_API_URL`); nothing is sent
    /// while there is one.
    pub api_url_problem: Option<CommandError>,
}

/// Reads and writes the settings.
#[derive(Debug, Clone)]
pub struct SettingsStore {
    file: JsonFile,
    default_results_dir: PathBuf,
    overrides: Overrides,
    tokens: TokenStore,
}

impl SettingsStore {
    /// Settings kept in `config_dir`, with results going to `default_results_dir` unless the user
    /// chose another folder.
    pub fn new(
        config_dir: &Path,
        default_results_dir: PathBuf,
        overrides: Overrides,
        tokens: TokenStore,
    ) -> Self {
        Self {
            file: JsonFile::new(config_dir.join("settings.json"), "the settings"),
            default_results_dir,
            overrides,
            tokens,
        }
    }

    /// The saved settings; defaults when none are saved yet. A damaged file is set aside as
    /// `settings.json.damaged` (so nothing the user typed is silently lost) and defaults are used.
    pub fn saved(&self) -> SavedSettings {
        self.file.load()
    }

    /// The settings in effect for this run: the saved ones under the environment's overrides,
    /// with the token read from the keyring (a blocking call: keep it off async threads).
    pub fn effective(&self) -> Effective {
        self.effective_from(&self.saved())
    }

    /// [`Self::effective`] for settings already read.
    fn effective_from(&self, saved: &SavedSettings) -> Effective {
        let api_url = self
            .overrides
            .api_url
            .as_deref()
            .map_or_else(|| saved.api_url.clone(), normalize_api_url);
        let api_url_problem = self
            .overrides
            .api_url
            .as_ref()
            .and_then(|_| check_api_url(&api_url).err())
            .map(|error| {
                CommandError::new(
                    ErrorKind::InvalidSettings,
                    format!("The address in DDN_API_URL is not used. {}", error.message),
                )
            });
        // No token is looked up for a refused address, so none can be sent to it.
        let token = match (&api_url_problem, &self.overrides.token) {
            (Some(_), _) => None,
            (None, Some(token)) => Some(Token::new(token.clone())),
            (None, None) => self.keyring_token(&api_url),
        };
        let results_dir = self
            .overrides
            .results_dir
            .clone()
            .or_else(|| saved.results_dir.clone())
            .unwrap_or_else(|| self.default_results_dir.clone());
        Effective {
            api_url,
            token,
            results_dir,
            api_url_problem,
        }
    }

    /// The token kept for `api_url` (blocking: reads the keyring): the environment's when
    /// `api_url` is the address in effect, else the keyring's entry for exactly that address.
    /// A token is never lent to another address than its own.
    pub fn token_for(&self, api_url: &str) -> Option<Token> {
        let saved = self.saved();
        let in_effect = self
            .overrides
            .api_url
            .as_deref()
            .unwrap_or(&saved.api_url)
            .trim_end_matches('/');
        match &self.overrides.token {
            Some(token) if in_effect == api_url => Some(Token::new(token.clone())),
            _ => self.keyring_token(api_url),
        }
    }

    fn keyring_token(&self, api_url: &str) -> Option<Token> {
        if api_url.is_empty() {
            return None;
        }
        self.tokens.load(api_url).unwrap_or_else(|error| {
            tracing::warn!(%error, "could not read the token from the keyring");
            None
        })
    }

    /// The settings as the page shows them (blocking: reads the keyring).
    pub fn view(&self) -> SettingsView {
        self.read().1
    }

    /// Reads the settings once: those in effect, and the page's view of them (blocking: reads
    /// the keyring).
    pub fn read(&self) -> (Effective, SettingsView) {
        let saved = self.saved();
        let effective = self.effective_from(&saved);
        let view = SettingsView {
            configured: !effective.api_url.is_empty()
                && effective.token.is_some()
                && effective.api_url_problem.is_none(),
            api_url_problem: effective.api_url_problem.clone(),
            has_token: effective.token.is_some(),
            api_url: effective.api_url.clone(),
            results_dir: effective.results_dir.clone(),
            language: saved.language,
            api_url_from_environment: self.overrides.api_url.is_some(),
            token_from_environment: self.overrides.token.is_some(),
        };
        (effective, view)
    }

    /// Checks and saves `update`: the file atomically, a new token in the keyring (blocking).
    ///
    /// # Errors
    /// `invalid_settings` for an unusable address, language or folder; `keyring` when the token
    /// cannot be stored; `io` when the file cannot be written.
    pub fn save(&self, update: SettingsUpdate) -> Result<(), CommandError> {
        let api_url = normalize_api_url(&update.api_url);
        if !api_url.is_empty() {
            check_api_url(&api_url)?;
        }
        if !matches!(update.language.as_str(), "" | "en" | "ko") {
            return Err(CommandError::new(
                ErrorKind::InvalidSettings,
                "The language must be English or Korean.",
            ));
        }
        if let Some(dir) = &update.results_dir
            && !dir.is_absolute()
        {
            return Err(CommandError::new(
                ErrorKind::InvalidSettings,
                "The results folder must be a full path.",
            ));
        }
        if let Some(token) = update.token.as_deref().map(str::trim)
            && !token.is_empty()
        {
            let url = self.overrides.api_url.as_deref().unwrap_or(&api_url);
            if url.is_empty() {
                return Err(CommandError::new(
                    ErrorKind::InvalidSettings,
                    "Enter the service address before the access token.",
                ));
            }
            self.tokens
                .save(url, &Token::new(token))
                .map_err(|error| CommandError::new(ErrorKind::Keyring, error.to_string()))?;
        }
        // Values from the environment show in the form but are not the user's to save.
        let previous = self.saved();
        let saved = SavedSettings {
            api_url: if self.overrides.api_url.is_some() {
                previous.api_url
            } else {
                api_url
            },
            results_dir: if self.overrides.results_dir.is_some() {
                previous.results_dir
            } else {
                update.results_dir
            },
            language: update.language,
        };
        self.file
            .save(&serde_json::to_vec_pretty(&saved).unwrap_or_default())
            .map_err(|error| {
                CommandError::new(
                    ErrorKind::Io,
                    format!("The settings could not be saved: {error}"),
                )
            })
    }
}

/// An address as typed, without surrounding spaces or a trailing `/`.
pub fn normalize_api_url(api_url: &str) -> String {
    api_url.trim().trim_end_matches('/').to_owned()
}

/// Accepts `https://` addresses, and `http://` only on this computer (the local stack): a token
/// must never cross a network in clear. The rule is the one every client applies
/// ([`ddn_transfer::address`]); typed addresses and `DDN_API_URL` both go through it. The app also
/// refuses a query or a user name in the address.
///
/// # Errors
/// `invalid_settings` with the reason.
pub fn check_api_url(api_url: &str) -> Result<(), CommandError> {
    let invalid = |message: String| CommandError::new(ErrorKind::InvalidSettings, message);
    ddn_transfer::address::check_service_url(api_url)
        .map_err(|error| invalid(format!("{error}.")))?;
    let url = reqwest::Url::parse(api_url.trim())
        .map_err(|_| invalid("The service address is not a web address (https://...).".into()))?;
    if url.query().is_some() || !url.username().is_empty() || url.password().is_some() {
        return Err(invalid(
            "The service address must not contain a query or a user name.".into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_must_be_https_unless_local() {
        for good in [
            "https://abc.execute-api.eu-west-1.amazonaws.com",
            "https://example.com/prod",
            "http://127.0.0.1:8787",
            "http://localhost:8787",
            "http://[::1]:8787",
        ] {
            assert_eq!(check_api_url(good), Ok(()), "{good}");
        }
        for bad in [
            "http://example.com",
            "ftp://example.com",
            "example.com",
            "https://user:pw@example.com",
            "https://example.com/?token=x",
            "http://127.0.0.1.example.com",
        ] {
            let error = check_api_url(bad).expect_err(bad);
            assert_eq!(error.kind, ErrorKind::InvalidSettings, "{bad}");
        }
    }

    fn store(dir: &Path, overrides: Overrides) -> SettingsStore {
        SettingsStore::new(
            dir,
            dir.join("Downloads"),
            overrides,
            TokenStore::new("DDN Transfer unit tests"),
        )
    }

    #[test]
    fn saves_and_reads_back_without_the_token_in_the_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        let settings = store(dir.path(), Overrides::default());
        assert_eq!(settings.saved(), SavedSettings::default());
        settings
            .save(SettingsUpdate {
                api_url: "https://example.com/".into(),
                results_dir: Some(dir.path().join("results")),
                language: "ko".into(),
                token: None,
            })
            .expect("saved");
        let saved = settings.saved();
        assert_eq!(saved.api_url, "https://example.com");
        assert_eq!(saved.language, "ko");
        assert_eq!(saved.results_dir, Some(dir.path().join("results")));
        let view = settings.view();
        assert!(!view.configured, "no token yet");
    }

    #[test]
    fn environment_wins_and_is_not_written_back() {
        let dir = tempfile::tempdir().expect("temp dir");
        let settings = store(
            dir.path(),
            Overrides {
                api_url: Some("http://127.0.0.1:1".into()),
                token: Some("secret-from-env".into()),
                results_dir: Some(dir.path().join("env-results")),
            },
        );
        let view = settings.view();
        assert!(view.configured && view.has_token);
        assert!(view.api_url_from_environment && view.token_from_environment);
        assert_eq!(view.api_url, "http://127.0.0.1:1");
        assert_eq!(view.results_dir, dir.path().join("env-results"));
        // The form sends back what it shows, the environment's values included.
        settings
            .save(SettingsUpdate {
                api_url: "http://127.0.0.1:1".into(),
                results_dir: Some(dir.path().join("env-results")),
                language: "ko".into(),
                token: None,
            })
            .expect("saved");
        let file = std::fs::read_to_string(dir.path().join("settings.json")).expect("file");
        assert!(!file.contains("secret-from-env") && !file.contains("127.0.0.1"));
        assert!(!file.contains("env-results"));
        assert_eq!(settings.saved().language, "ko");
        assert_eq!(settings.view().api_url, "http://127.0.0.1:1");
    }

    #[test]
    fn bad_values_are_refused_and_nothing_is_written() {
        let dir = tempfile::tempdir().expect("temp dir");
        let settings = store(dir.path(), Overrides::default());
        for update in [
            SettingsUpdate {
                api_url: "http://example.com".into(),
                ..SettingsUpdate::default()
            },
            SettingsUpdate {
                language: "fr".into(),
                ..SettingsUpdate::default()
            },
            SettingsUpdate {
                results_dir: Some("relative/folder".into()),
                ..SettingsUpdate::default()
            },
            SettingsUpdate {
                token: Some("a token without an address".into()),
                ..SettingsUpdate::default()
            },
        ] {
            let error = settings.save(update).expect_err("refused");
            assert_eq!(error.kind, ErrorKind::InvalidSettings);
        }
        assert!(!dir.path().join("settings.json").exists());
    }

    #[test]
    fn a_damaged_file_is_set_aside_not_lost() {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("settings.json"), b"{ not json").expect("write");
        let settings = store(dir.path(), Overrides::default());
        assert_eq!(settings.saved(), SavedSettings::default());
        assert_eq!(
            std::fs::read(dir.path().join("settings.json.damaged")).expect("kept"),
            b"{ not json"
        );
    }
}
