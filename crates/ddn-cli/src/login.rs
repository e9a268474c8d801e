//! The access token in the system keyring: `ddn login`, `ddn logout`, and the saved token every
//! other command falls back on when neither `--token` nor `DDN_API_TOKEN` gives one.
//!
//! The entry is the one the desktop app uses (`ddn-secrets`), so signing in once serves both.

use std::io::{BufRead as _, IsTerminal as _};

use anyhow::{Context as _, bail};
use ddn_api::ResultsRequest;
use ddn_secrets::{SecretError, TokenStore};
use ddn_transfer::{ApiClient, ErrorKind, Token};
use serde_json::json;

/// The token saved for `api_url`, or `None` (with a note on standard error when the keyring could
/// not be read, since the command will then most likely be refused).
pub async fn saved_token(api_url: &str) -> Option<Token> {
    match with_keyring(api_url, TokenStore::load).await {
        Ok(token) => token,
        Err(error) => {
            eprintln!("ddn: no saved token: {error:#}");
            None
        }
    }
}

/// Runs one keyring operation for `api_url` off the async threads (the platform store blocks).
async fn with_keyring<T: Send + 'static>(
    api_url: &str,
    operation: impl FnOnce(&TokenStore, &str) -> Result<T, SecretError> + Send + 'static,
) -> anyhow::Result<T> {
    let url = api_url.to_owned();
    let result = tokio::task::spawn_blocking(move || operation(&TokenStore::default(), &url))
        .await
        .context("the keyring task failed")?;
    Ok(result?)
}

/// `ddn login`: takes the token (from `--token`/`DDN_API_TOKEN`, else the terminal or standard
/// input), checks it with the service unless told not to, and saves it. Nothing is saved when the
/// service refuses it.
pub async fn login(
    http: reqwest::Client,
    api_url: &str,
    given: Option<Token>,
    no_check: bool,
    json_output: bool,
) -> anyhow::Result<bool> {
    let token = match given {
        Some(token) => token,
        None => tokio::task::spawn_blocking(read_token)
            .await
            .context("could not read the token")??,
    };
    if !no_check {
        let api = ApiClient::new(http, api_url, Some(token.clone()));
        let probe = ResultsRequest {
            cursor: None,
            limit: Some(1),
        };
        if let Err(error) = api.results(&probe).await {
            if error.kind() == ErrorKind::Unauthorized {
                bail!("the service did not accept this token; nothing was saved");
            }
            bail!(
                "could not check the token with the service ({error}); nothing was saved \
                 (use --no-check to save it anyway)"
            );
        }
    }
    with_keyring(api_url, move |store, url| store.save(url, &token)).await?;
    if json_output {
        println!(
            "{}",
            json!({"type": "login", "apiUrl": api_url, "saved": true})
        );
    } else {
        println!("Token saved in the system keyring for {api_url}.");
    }
    Ok(true)
}

/// `ddn logout`: removes the saved token. Having none is not an error.
pub async fn logout(api_url: &str, json_output: bool) -> anyhow::Result<bool> {
    let removed = with_keyring(api_url, TokenStore::delete).await?;
    if json_output {
        println!(
            "{}",
            json!({"type": "logout", "apiUrl": api_url, "removed": removed})
        );
    } else if removed {
        println!("Token for {api_url} removed from the system keyring.");
    } else {
        println!("No token was saved for {api_url}.");
    }
    Ok(true)
}

/// Reads the token without echo on a terminal, or as the first line of standard input.
fn read_token() -> anyhow::Result<Token> {
    let raw = if std::io::stdin().is_terminal() {
        rpassword::prompt_password("Access token: ").context("could not read from the terminal")?
    } else {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("could not read standard input")?;
        line
    };
    let token = raw.trim();
    if token.is_empty() {
        bail!("no token given");
    }
    Ok(Token::new(token))
}
