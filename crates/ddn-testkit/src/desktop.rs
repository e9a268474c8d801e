//! A private desktop for the tests and benchmarks that run the app in a real window: the local
//! stack, a Secret Service on a private bus, an X display and a work folder, started together
//! and stopped when dropped. What launches the app on it (`tauri-driver`, the built binary) is
//! the app crate's own.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Result;
use ddn_localstack::{LocalStack, LocalStackOptions};

use crate::display::Display;
use crate::session_keyring::SessionKeyring;

/// A running private desktop. Its parts are public so that a test can hand each to what needs
/// it (and stop the stack itself at the end).
pub struct Desktop {
    /// Scratch space for the test's files, removed when dropped.
    pub work: tempfile::TempDir,
    /// The X display the app's windows go to.
    pub display: Display,
    /// The Secret Service (and session bus) the app's keyring calls reach.
    pub keyring: SessionKeyring,
    /// The service the app is pointed at.
    pub stack: LocalStack,
}

impl Desktop {
    /// Starts the stack with `options`, then the keyring and the display.
    ///
    /// # Errors
    /// When any part does not start (a missing program's message names its package).
    pub async fn start(options: LocalStackOptions) -> Result<Self> {
        let stack = LocalStack::start(options).await?;
        let keyring = SessionKeyring::start()?;
        let display = Display::start()?;
        Ok(Self {
            work: tempfile::tempdir()?,
            display,
            keyring,
            stack,
        })
    }

    /// [`Desktop::start`] with a stack whose processor takes `processing_delay`.
    ///
    /// # Errors
    /// As for [`Desktop::start`].
    pub async fn with_processing_delay(processing_delay: Duration) -> Result<Self> {
        Self::start(LocalStackOptions {
            processing_delay,
            ..LocalStackOptions::default()
        })
        .await
    }

    /// `name` inside the work folder.
    pub fn path(&self, name: impl AsRef<Path>) -> PathBuf {
        self.work.path().join(name)
    }

    /// The environment that points the app at the stack, saving results in `results`, in
    /// English (`LANG=C.UTF-8`).
    pub fn app_env(&self, results: &Path) -> Vec<(&'static str, String)> {
        vec![
            ("DDN_API_URL", self.stack.api_url().to_owned()),
            ("DDN_API_TOKEN", self.stack.token().to_owned()),
            ("DDN_RESULTS_DIR", results.display().to_string()),
            ("LANG", "C.UTF-8".to_owned()),
        ]
    }
}
