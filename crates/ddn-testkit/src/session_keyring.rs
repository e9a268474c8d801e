//! A private Secret Service for tests: a D-Bus session bus of its own with GNOME Keyring on it,
//! unlocked, its keyring files in a temporary folder.
//!
//! Programs started with [`SessionKeyring::apply`] on their `Command` save to and read from this
//! keyring, exactly as they would on a desktop, while the user's own keyring is never touched.
//! Both daemons stop when the value is dropped.
//!
//! What the Secret Service holds is read back with libsecret's own `secret-tool`
//! ([`SessionKeyring::saved_token`]), not through the code under test.
//!
//! Needs `dbus-daemon`, `dbus-send` and `gnome-keyring-daemon` (Debian: `dbus-daemon`,
//! `gnome-keyring`), and `secret-tool` (`libsecret-tools`) to read entries back.

use std::io::{BufRead as _, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use ddn_secrets::{KEYRING_SERVICE, account_for};

/// How long the daemons may take to come up.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// A running private D-Bus session with an unlocked GNOME Keyring.
#[derive(Debug)]
pub struct SessionKeyring {
    bus: Child,
    keyring: Child,
    address: String,
    home: tempfile::TempDir,
}

impl SessionKeyring {
    /// Starts the bus and the keyring daemon, and waits until the Secret Service answers.
    ///
    /// # Errors
    /// When a daemon is not installed or does not come up in time; the message names the package.
    pub fn start() -> Result<Self> {
        let home = tempfile::Builder::new().prefix("ddn-keyring-").tempdir()?;
        for dir in ["data", "config", "run"] {
            std::fs::create_dir_all(home.path().join(dir))?;
        }
        set_private(&home.path().join("run"))?;

        let mut bus = Command::new("dbus-daemon")
            .args(["--session", "--nofork", "--print-address=1"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .context("could not start dbus-daemon (Debian package: dbus-daemon)")?;
        let mut first_line = String::new();
        let stdout = bus.stdout.take().context("dbus-daemon has no stdout")?;
        BufReader::new(stdout).read_line(&mut first_line)?;
        let address = first_line.trim().to_owned();
        if address.is_empty() {
            let _ = bus.kill();
            bail!("dbus-daemon did not print its address");
        }

        let keyring = Command::new("gnome-keyring-daemon")
            .args(["--foreground", "--unlock", "--components=secrets"])
            .env_clear()
            .envs(environment(&address, home.path()))
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let mut keyring = match keyring {
            Ok(child) => child,
            Err(_) => {
                let _ = bus.kill();
                let _ = bus.wait();
                bail!("could not start gnome-keyring-daemon (Debian package: gnome-keyring)");
            }
        };
        // The password that unlocks (and first creates) the login keyring, read until end of input.
        if let Some(mut stdin) = keyring.stdin.take() {
            stdin.write_all(b"ddn-test-keyring-password")?;
        }

        let session = Self {
            bus,
            keyring,
            address,
            home,
        };
        session.wait_for_secret_service()?;
        Ok(session)
    }

    /// Points `command` at this keyring: the bus address and a home of its own, so nothing of
    /// the caller's desktop session leaks in.
    pub fn apply<'c>(&self, command: &'c mut Command) -> &'c mut Command {
        command.envs(environment(&self.address, self.home.path()))
    }

    /// The folder holding the keyring files (and the home of the programs started with
    /// [`SessionKeyring::apply`]), for checks that nothing is stored in plain text.
    pub fn home(&self) -> &Path {
        self.home.path()
    }

    /// The token the Secret Service holds for the service address `api_url`, in the entry
    /// `ddn-secrets` writes for it, read with `secret-tool`; `None` when there is no such entry.
    ///
    /// # Errors
    /// When `api_url` names no entry (it is empty) or `secret-tool` cannot be run; the message
    /// names its package.
    pub fn saved_token(&self, api_url: &str) -> Result<Option<String>> {
        let account =
            account_for(api_url).context("no keyring entry is named for an empty address")?;
        let mut command = Command::new("secret-tool");
        let output = self
            .apply(&mut command)
            .args(["lookup", "service", KEYRING_SERVICE, "username", &account])
            .output()
            .context("could not run secret-tool (Debian package: libsecret-tools)")?;
        Ok(output
            .status
            .success()
            .then(|| String::from_utf8_lossy(&output.stdout).into_owned()))
    }

    /// Every file under [`SessionKeyring::home`] whose bytes contain `needle`: where a secret
    /// would be if something stored it in plain text. Files that cannot be read are passed over.
    pub fn files_containing(&self, needle: &[u8]) -> Vec<PathBuf> {
        let mut found = Vec::new();
        let mut pending = vec![self.home().to_path_buf()];
        while let Some(dir) = pending.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.filter_map(Result::ok) {
                let path = entry.path();
                match entry.file_type() {
                    Ok(kind) if kind.is_dir() => pending.push(path),
                    Ok(kind)
                        if kind.is_file()
                            && std::fs::read(&path).is_ok_and(|bytes| contains(&bytes, needle)) =>
                    {
                        found.push(path);
                    }
                    _ => {}
                }
            }
        }
        found
    }

    /// Whether some program on this session's bus owns `name` (a service is up once it does).
    ///
    /// # Errors
    /// When `dbus-send` cannot be run; the message names its package.
    pub fn name_has_owner(&self, name: &str) -> Result<bool> {
        name_has_owner(&self.address, name)
    }

    /// The address of this session's bus (for [`name_has_owner`] where the keyring itself is out
    /// of reach).
    pub fn bus_address(&self) -> &str {
        &self.address
    }

    fn wait_for_secret_service(&self) -> Result<()> {
        let started = Instant::now();
        while started.elapsed() < START_TIMEOUT {
            if self.name_has_owner("org.freedesktop.secrets")? {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        bail!("the Secret Service did not appear on the private bus within {START_TIMEOUT:?}")
    }
}

impl Drop for SessionKeyring {
    fn drop(&mut self) {
        for child in [&mut self.keyring, &mut self.bus] {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Whether `needle` occurs in `haystack` (an empty needle occurs everywhere).
fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty()
        || haystack
            .windows(needle.len())
            .any(|window| window == needle)
}

/// The environment that ties a program to the private bus and home.
fn environment(address: &str, home: &Path) -> Vec<(&'static str, PathBuf)> {
    vec![
        ("DBUS_SESSION_BUS_ADDRESS", PathBuf::from(address)),
        ("HOME", home.to_path_buf()),
        ("XDG_DATA_HOME", home.join("data")),
        ("XDG_CONFIG_HOME", home.join("config")),
        ("XDG_RUNTIME_DIR", home.join("run")),
        ("PATH", std::env::var_os("PATH").unwrap_or_default().into()),
    ]
}

#[cfg(unix)]
fn set_private(dir: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    Ok(())
}

#[cfg(not(unix))]
fn set_private(_dir: &Path) -> Result<()> {
    Ok(())
}

/// Whether some program on the bus at `address` owns `name`.
///
/// # Errors
/// When `dbus-send` cannot be run; the message names its package.
pub fn name_has_owner(address: &str, name: &str) -> Result<bool> {
    let answer = Command::new("dbus-send")
        .args([
            "--session",
            "--print-reply",
            "--dest=org.freedesktop.DBus",
            "/org/freedesktop/DBus",
            "org.freedesktop.DBus.NameHasOwner",
            &format!("string:{name}"),
        ])
        .env("DBUS_SESSION_BUS_ADDRESS", address)
        .output()
        .context("could not run dbus-send (Debian package: dbus-bin)")?;
    Ok(String::from_utf8_lossy(&answer.stdout).contains("boolean true"))
}
