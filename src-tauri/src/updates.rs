//! Updates of the installed app, through `tauri-plugin-updater`: the app looks for a newer
//! version when it starts and when the user asks (in About), says what it found in plain words,
//! and installs only when the user agrees. An update never interrupts a transfer: installing waits
//! until nothing moves, and so does the restart that puts the new version in place. An update is
//! taken only when its signature verifies against the public key built into the app (and names
//! the version it announces); anything else is refused and the installed app stays as it was.
//!
//! Where to look (`plugins.updater.endpoints`) is set when the release pipeline builds the app; a
//! build without it (a developer's) says that it checks for no updates. Debug builds also take
//! `DDN_UPDATE_ENDPOINT` and `DDN_UPDATE_PUBKEY`, so the tests can serve a signed update from
//! loopback; release builds ignore both, so nothing in the environment can change which updates
//! an installed app trusts.

use serde::Serialize;
use tauri::{AppHandle, Runtime};
use tauri_plugin_updater::{Update, UpdaterExt as _};

use crate::error::{CommandError, ErrorKind};
use crate::jobs::Jobs;

/// What a check for updates found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "camelCase")]
pub enum UpdateCheck {
    /// This build was made without an update address: it never looks for updates.
    NotConfigured,
    /// The installed version is the newest.
    UpToDate,
    /// A newer version can be installed.
    Available {
        /// Its version.
        version: String,
        /// What is new in it, as the release says.
        notes: Option<String>,
    },
    /// A newer version is installed and takes effect when the app restarts.
    Installed {
        /// Its version.
        version: String,
    },
}

/// What [`install`] is doing, as the page shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "phase", rename_all = "camelCase")]
pub enum InstallPhase {
    /// Transfers are moving; the install starts when they are done.
    WaitingForTransfers,
    /// The update is being fetched.
    Downloading {
        /// Bytes so far.
        done: u64,
        /// All of it, when the server said.
        total: Option<u64>,
    },
    /// The update was fetched and verified and is being put in place.
    Installing,
}

/// The update found by the last check, and the version installed since the app started.
#[derive(Default)]
pub struct Updates {
    found: tokio::sync::Mutex<Option<Update>>,
    installed: std::sync::Mutex<Option<String>>,
}

impl Updates {
    fn installed(&self) -> Option<String> {
        self.installed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

/// The updater for this build, or `None` when the build has no update address.
fn updater<R: Runtime>(
    app: &AppHandle<R>,
) -> Result<Option<tauri_plugin_updater::Updater>, CommandError> {
    #[allow(unused_mut, reason = "only debug builds take the overrides")]
    let mut builder = app.updater_builder();
    #[cfg(debug_assertions)]
    {
        if let Some(endpoint) = std::env::var("DDN_UPDATE_ENDPOINT")
            .ok()
            .filter(|value| !value.is_empty())
        {
            let endpoint = url::Url::parse(&endpoint).map_err(|_| {
                CommandError::new(
                    ErrorKind::UpdateFailed,
                    "DDN_UPDATE_ENDPOINT is not an address.",
                )
            })?;
            builder = builder.endpoints(vec![endpoint]).map_err(update_error)?;
        }
        if let Some(key) = std::env::var("DDN_UPDATE_PUBKEY")
            .ok()
            .filter(|value| !value.is_empty())
        {
            builder = builder.pubkey(key);
        }
    }
    match builder.build() {
        Ok(updater) => Ok(Some(updater)),
        Err(tauri_plugin_updater::Error::EmptyEndpoints) => Ok(None),
        Err(error) => Err(update_error(error)),
    }
}

/// Looks for a newer version and remembers it for [`install`].
///
/// # Errors
/// `update_unreachable` when the update server cannot be reached or answers nonsense.
pub async fn check<R: Runtime>(
    app: &AppHandle<R>,
    updates: &Updates,
) -> Result<UpdateCheck, CommandError> {
    if let Some(version) = updates.installed() {
        return Ok(UpdateCheck::Installed { version });
    }
    let Some(updater) = updater(app)? else {
        return Ok(UpdateCheck::NotConfigured);
    };
    let found = updater.check().await.map_err(update_error)?;
    let answer = match &found {
        Some(update) => UpdateCheck::Available {
            version: update.version.clone(),
            notes: update.body.clone(),
        },
        None => UpdateCheck::UpToDate,
    };
    *updates.found.lock().await = found;
    Ok(answer)
}

/// Installs the update the last check found: waits until no transfer moves, fetches it, verifies
/// its signature, puts it in place. The new version runs after [`restart`].
///
/// # Errors
/// `not_found` when no check found an update; `update_unverified` when its signature does not
/// verify (nothing is installed); `update_unreachable` or `update_failed` when it cannot be
/// fetched or put in place (the installed app is left as it was).
pub async fn install(
    updates: &Updates,
    jobs: &Jobs,
    report: impl Fn(InstallPhase),
) -> Result<UpdateCheck, CommandError> {
    let found = updates.found.lock().await;
    let update = found.as_ref().ok_or_else(|| {
        CommandError::new(
            ErrorKind::NotFound,
            "There is no update to install. Check again.",
        )
    })?;
    if jobs.is_busy() {
        report(InstallPhase::WaitingForTransfers);
        jobs.until_idle().await;
    }
    let mut done = 0u64;
    report(InstallPhase::Downloading { done, total: None });
    // The download verifies the signature before it answers; `install` verifies it again.
    let bytes = update
        .download(
            |chunk, total| {
                done += chunk as u64;
                report(InstallPhase::Downloading { done, total });
            },
            || {},
        )
        .await
        .map_err(update_error)?;
    report(InstallPhase::Installing);
    // On Windows the installer takes over and the app exits here; no transfer is moving.
    update.install(&bytes).map_err(update_error)?;
    let version = update.version.clone();
    *updates
        .installed
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(version.clone());
    tracing::info!(%version, "update installed; it runs after a restart");
    Ok(UpdateCheck::Installed { version })
}

/// Restarts the app into the installed update, once no transfer moves. The list is saved first.
///
/// # Errors
/// `transfers_moving` while a transfer moves.
pub fn restart<R: Runtime>(app: &AppHandle<R>, jobs: &Jobs) -> Result<(), CommandError> {
    if jobs.is_busy() {
        return Err(CommandError::new(
            ErrorKind::TransfersMoving,
            "Transfers are still moving; restart when they are done.",
        ));
    }
    jobs.flush();
    app.restart()
}

/// The updater's error in the app's words: which kind of failure, never its details (they can
/// carry addresses).
fn update_error(error: tauri_plugin_updater::Error) -> CommandError {
    let (failure, class) = classify(&error);
    tracing::warn!(error = %class, "update failed");
    match failure {
        UpdateFailure::Unverified => CommandError::new(
            ErrorKind::UpdateUnverified,
            "The update could not be verified, so it was not installed. The app is unchanged.",
        ),
        UpdateFailure::Unreachable => CommandError::new(
            ErrorKind::UpdateUnreachable,
            "The update server could not be reached. Try again later.",
        ),
        UpdateFailure::Failed => CommandError::new(
            ErrorKind::UpdateFailed,
            "The update could not be installed. The app is unchanged.",
        ),
    }
}

/// How an update failed, as the page words it.
enum UpdateFailure {
    /// Its signature or its contents did not check out; nothing was installed.
    Unverified,
    /// The update server or its manifest could not be used.
    Unreachable,
    /// Anything else, such as the file system refusing the new version.
    Failed,
}

/// What kind of updater failure `error` is, and a short name for it in the log: one table, so
/// the page's words and the log never disagree.
fn classify(error: &tauri_plugin_updater::Error) -> (UpdateFailure, &'static str) {
    use UpdateFailure::{Failed, Unreachable, Unverified};
    use tauri_plugin_updater::Error;
    match error {
        Error::Minisign(_) => (Unverified, "signature does not verify"),
        Error::Base64(_) | Error::SignatureUtf8(_) => (Unverified, "signature unreadable"),
        Error::SignedVersionMismatch { .. } => (Unverified, "signed for another version"),
        Error::MissingSignedVersion => (Unverified, "signature names no version"),
        Error::InvalidUpdaterFormat => (Unverified, "not an installable package"),
        Error::Reqwest(_) | Error::Network(_) => (Unreachable, "network"),
        Error::ReleaseNotFound | Error::Serialization(_) | Error::Semver(_) => {
            (Unreachable, "bad release manifest")
        }
        Error::TargetNotFound(_) | Error::TargetsNotFound(_) => {
            (Unreachable, "no build for this platform")
        }
        Error::UrlParse(_) | Error::InsecureTransportProtocol => (Unreachable, "other"),
        Error::Io(_) => (Failed, "file system"),
        _ => (Failed, "other"),
    }
}
