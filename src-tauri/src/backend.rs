//! What the commands and the job loop share: the settings in effect, the HTTP client and the way
//! to tell the user that a batch ended.

use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use ddn_transfer::{ApiClient, Engine, EngineOptions};

use crate::error::CommandError;
use crate::jobs::{Backend, Notice};
use crate::settings::{Effective, SettingsStore, SettingsView};

/// Shows a [`Notice`] to the user (the system's notifications in the app).
pub type Notify = Box<dyn Fn(&Notice) + Send + Sync>;

/// The app's [`Backend`].
pub struct AppBackend {
    store: SettingsStore,
    http: reqwest::Client,
    current: RwLock<Effective>,
    notify: Notify,
    options: EngineOptions,
}

impl AppBackend {
    /// Reads the settings in effect (blocking: the keyring is asked for the token).
    ///
    /// # Errors
    /// `io` when no HTTP client can be made (no TLS roots on the system).
    pub fn new(
        store: SettingsStore,
        notify: Notify,
        options: EngineOptions,
    ) -> Result<Arc<Self>, CommandError> {
        let http = ddn_transfer::http_client().map_err(CommandError::from)?;
        let current = RwLock::new(store.effective());
        Ok(Arc::new(Self {
            store,
            http,
            current,
            notify,
            options,
        }))
    }

    /// The settings store.
    pub fn store(&self) -> &SettingsStore {
        &self.store
    }

    /// Reads the settings again after they changed and puts them in effect, answering the page's
    /// view of them (blocking, as [`Self::new`]).
    pub fn reload(&self) -> SettingsView {
        let (effective, view) = self.store.read();
        *self
            .current
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = effective;
        view
    }

    /// A client of the service at `api_url` with `token` (for "Test connection", before saving).
    pub fn client_for(&self, api_url: &str, token: Option<ddn_transfer::Token>) -> ApiClient {
        ApiClient::new(self.http.clone(), api_url, token)
    }

    /// A client for the settings in effect.
    ///
    /// # Errors
    /// `invalid_settings` when the address from `DDN_API_URL` is refused; `not_configured` when
    /// there is no address or no token.
    pub fn api(&self) -> Result<ApiClient, CommandError> {
        let current = self
            .current
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(problem) = &current.api_url_problem {
            return Err(problem.clone());
        }
        match (&current.api_url, &current.token) {
            (url, Some(token)) if !url.is_empty() => Ok(self.client_for(url, Some(token.clone()))),
            _ => Err(CommandError::not_configured()),
        }
    }
}

impl Backend for AppBackend {
    fn engine(&self) -> Result<Engine, CommandError> {
        Ok(Engine::new(self.api()?, self.options.clone()))
    }

    fn results_dir(&self) -> PathBuf {
        self.current
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .results_dir
            .clone()
    }

    fn notify(&self, notice: Notice) {
        (self.notify)(&notice);
    }
}
