//! A private X display (Xvfb) for programs with windows, stopped when dropped.
//!
//! This file uses only the standard library and `anyhow`, because `xtask` compiles it too (by
//! path) for its package install test: the automation cannot take the test kit as a dependency.

use std::io::{BufRead as _, BufReader};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::Duration;

use anyhow::{Context as _, Result, bail};

/// How long Xvfb may take to come up.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// A running private X server.
#[derive(Debug)]
pub struct Display {
    number: u32,
    server: Child,
}

impl Display {
    /// Starts Xvfb on a free display number, which the server picks itself and reports when it
    /// is ready (`-displayfd`), so programs that start displays at the same time never share one.
    ///
    /// # Errors
    /// When Xvfb is not installed (the message names its package) or does not come up in time.
    pub fn start() -> Result<Self> {
        let mut server = Command::new("Xvfb")
            .args([
                "-displayfd",
                "1",
                "-screen",
                "0",
                "1024x768x24",
                "-nolisten",
                "tcp",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .context(
                "could not start Xvfb (Debian package: xvfb; `cargo xtask test` installs it)",
            )?;
        let stdout = server.stdout.take().context("Xvfb's output")?;
        let mut display = Self { number: 0, server };
        match first_line(stdout, START_TIMEOUT).map(|line| line.parse::<u32>()) {
            Some(Ok(number)) => {
                display.number = number;
                Ok(display)
            }
            _ => bail!("Xvfb did not start: {:?}", display.server.try_wait()),
        }
    }

    /// The display's name, `:N`, for `DISPLAY`.
    pub fn name(&self) -> String {
        format!(":{}", self.number)
    }

    /// A command for `program` that draws on this display.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut command = Command::new(program);
        command.env("DISPLAY", self.name());
        command
    }
}

impl Drop for Display {
    fn drop(&mut self) {
        let _ = self.server.kill();
        let _ = self.server.wait();
    }
}

/// The first line a program writes to `stdout`, without its line end, if it comes within `limit`.
pub fn first_line(stdout: ChildStdout, limit: Duration) -> Option<String> {
    let (sent, line) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = sent.send(line.trim().to_owned());
    });
    line.recv_timeout(limit).ok()
}
