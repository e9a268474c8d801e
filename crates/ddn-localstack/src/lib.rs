//! The embedded local stack: everything the app and the tests need, in one process, on loopback.
//!
//! - an S3-compatible server (`s3s-fs`, storing objects as files) with the input and output buckets
//!   and credentials of its own; it checks SigV4 signatures, expiry and Content-MD5 like S3 does,
//!   and, through a strict layer (`strict`, test and development only), S3's multipart rules
//!   that s3s-fs leaves out (parts' digests, ETags and listing, uploads bound to their key,
//!   completions checked before anything is dropped, whole-object CRC-64/NVME, open uploads
//!   listed);
//! - the presign API, served over HTTP by the very `PresignService` that runs on AWS Lambda;
//! - a stand-in processor that follows the processing contract: after a configurable delay it copies
//!   each new input object, user metadata and all, to the output bucket under the same key, as the
//!   seed's test scripts simulated processing, or, for names it was told to fail, writes a failure
//!   marker instead.
//!
//! Both servers bind and accept through [`loopback`], the one accept loop of every loopback server
//! in the project (the test kit's servers use it too).
//!
//! Architecture invariant: every socket binds to a loopback address.

pub mod loopback;
pub mod processor;
mod s3_server;
mod strict;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use ddn_presign::auth::{Authenticator, TokenTable, token_hash_hex};
use ddn_presign::clock::SystemClock;
use ddn_presign::credentials::CredentialsCache;
use ddn_presign::presign::Presigner;
use ddn_presign::store::S3Store;
use ddn_presign::{Config, PresignService};
use hyper::Request;
use hyper::body::Incoming;
use hyper::service::service_fn;
use thiserror::Error;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// The region the local S3 server pretends to be in.
pub const REGION: &str = "us-east-1";
/// The seed's input bucket name.
pub const DEFAULT_IN_BUCKET: &str = "ddn-in-bucket";
/// The seed's output bucket name.
pub const DEFAULT_OUT_BUCKET: &str = "ddn-out-bucket";
/// The user the development token belongs to.
pub const DEFAULT_USER: &str = "dev";

/// How the stack is set up. [`Default`] gives ephemeral ports, a temporary data folder, one
/// development user with a random token, a one-second processing delay, and no file made to fail.
#[derive(Debug, Clone)]
pub struct LocalStackOptions {
    /// Where objects are stored; a temporary folder, removed at the end, when `None`.
    pub data_dir: Option<PathBuf>,
    /// Loopback port of the presign API; 0 picks a free one.
    pub api_port: u16,
    /// Loopback port of the S3 server; 0 picks a free one.
    pub s3_port: u16,
    /// Users and their tokens. Empty means one user, [`DEFAULT_USER`], with a random token.
    pub users: Vec<(String, String)>,
    /// How long the processor waits after first seeing an input object before copying it.
    pub processing_delay: Duration,
    /// How often the processor looks at the input bucket.
    pub poll_interval: Duration,
    /// Lifetime of presigned URLs.
    pub url_ttl: Duration,
    /// Input bucket name.
    pub in_bucket: String,
    /// Output bucket name.
    pub out_bucket: String,
    /// The S3 address written into presigned URLs, when clients must reach S3 through something
    /// else (a proxy that injects faults, in the tests); the S3 server's own address when `None`.
    pub s3_public_url: Option<String>,
    /// Files the processor fails (a failure marker, no result) instead of copying: those whose
    /// name matches this pattern. None fail when `None`.
    pub fail_matching: Option<processor::NamePattern>,
}

impl Default for LocalStackOptions {
    fn default() -> Self {
        Self {
            data_dir: None,
            api_port: 0,
            s3_port: 0,
            users: Vec::new(),
            processing_delay: Duration::from_secs(1),
            poll_interval: Duration::from_millis(100),
            url_ttl: ddn_presign::config::DEFAULT_URL_TTL,
            in_bucket: DEFAULT_IN_BUCKET.to_owned(),
            out_bucket: DEFAULT_OUT_BUCKET.to_owned(),
            s3_public_url: None,
            fail_matching: None,
        }
    }
}

/// The stack could not start.
#[derive(Debug, Error)]
pub enum StartError {
    /// A port is taken or a folder cannot be created.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The S3 server refused its data folder.
    #[error("the S3 server cannot use its data folder: {0}")]
    S3(String),
    /// A user name or token is unusable.
    #[error(transparent)]
    Users(#[from] ddn_presign::auth::ConfigError),
    /// The operating system has no random numbers to make a token from.
    #[error("no randomness available for the development token: {0}")]
    Random(String),
}

fn io_error(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> StartError {
    let what = what.into();
    move |source| StartError::Io { what, source }
}

/// A running stack. Dropping it stops the servers; [`LocalStack::stop`] also waits for them.
pub struct LocalStack {
    api_url: String,
    s3_url: String,
    users: Vec<(String, String)>,
    credentials: Credentials,
    in_bucket: String,
    out_bucket: String,
    data_dir: PathBuf,
    s3_client: aws_sdk_s3::Client,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    // Removed last, after the servers stopped.
    _temp_dir: Option<tempfile::TempDir>,
}

impl LocalStack {
    /// Starts the S3 server, the presign API and the processor.
    ///
    /// # Errors
    /// A [`StartError`] when a port is taken, the data folder is unusable or a user is malformed.
    pub async fn start(options: LocalStackOptions) -> Result<Self, StartError> {
        let (temp_dir, data_dir) = match &options.data_dir {
            Some(dir) => (None, dir.clone()),
            None => {
                let temp = tempfile::Builder::new()
                    .prefix("ddn-local-")
                    .tempdir()
                    .map_err(io_error("creating a temporary data folder"))?;
                let path = temp.path().to_owned();
                (Some(temp), path)
            }
        };
        for bucket in [&options.in_bucket, &options.out_bucket] {
            std::fs::create_dir_all(data_dir.join(bucket))
                .map_err(io_error(format!("creating bucket folder {bucket}")))?;
        }

        let users = if options.users.is_empty() {
            vec![(DEFAULT_USER.to_owned(), random_hex(24)?)]
        } else {
            options.users.clone()
        };
        let credentials =
            Credentials::new("ddn-local", random_hex(20)?, None, None, "ddn-localstack");
        let (shutdown, shutdown_rx) = watch::channel(false);
        let mut tasks = Vec::new();

        let s3_listener = bind(options.s3_port, "S3 server").await?;
        let s3_url = format!("http://{}", local_addr(&s3_listener)?);
        let s3_service = s3_server::build(&data_dir, &credentials)?;
        tasks.push(tokio::spawn(s3_server::serve(
            s3_listener,
            s3_service,
            wait_for(shutdown_rx.clone()),
        )));

        let s3_client = s3_client(&s3_url, &credentials);
        let table = TokenTable::parse(
            &users
                .iter()
                .map(|(user, token)| format!("{user}:{}", token_hash_hex(token)))
                .collect::<Vec<_>>()
                .join(","),
        )?;
        let public_url = options
            .s3_public_url
            .clone()
            .unwrap_or_else(|| s3_url.clone());
        let config = Config {
            in_bucket: options.in_bucket.clone(),
            out_bucket: options.out_bucket.clone(),
            url_ttl: options.url_ttl,
            url_ttl_clamped: false,
            auth: Authenticator::Tokens(table),
            endpoint: Some(public_url.clone()),
            require_size: false,
        };
        let service = Arc::new(PresignService::new(
            config,
            Presigner::new(REGION, Some(public_url)),
            CredentialsCache::new(SharedCredentialsProvider::new(credentials.clone())),
            S3Store::new(s3_client.clone()),
            Arc::new(SystemClock),
        ));
        let api_listener = bind(options.api_port, "presign API").await?;
        let api_url = format!("http://{}", local_addr(&api_listener)?);
        tasks.push(tokio::spawn(serve_presign_api(
            api_listener,
            service,
            wait_for(shutdown_rx.clone()),
        )));

        let processor = processor::Processor {
            client: s3_client.clone(),
            in_bucket: options.in_bucket.clone(),
            out_bucket: options.out_bucket.clone(),
            delay: options.processing_delay,
            poll_interval: options.poll_interval,
            fail_matching: options.fail_matching.clone(),
        };
        tasks.push(tokio::spawn(processor.run(wait_for(shutdown_rx))));

        Ok(Self {
            api_url,
            s3_url,
            users,
            credentials,
            in_bucket: options.in_bucket,
            out_bucket: options.out_bucket,
            data_dir,
            s3_client,
            shutdown,
            tasks,
            _temp_dir: temp_dir,
        })
    }

    /// The presign API's base address, `http://127.0.0.1:PORT`.
    pub fn api_url(&self) -> &str {
        &self.api_url
    }

    /// The S3 server's address, `http://127.0.0.1:PORT`.
    pub fn s3_url(&self) -> &str {
        &self.s3_url
    }

    /// The first user's token (the development token).
    pub fn token(&self) -> &str {
        &self.users[0].1
    }

    /// Every user and their token.
    pub fn users(&self) -> &[(String, String)] {
        &self.users
    }

    /// The S3 server's credentials (region [`REGION`]).
    pub fn s3_credentials(&self) -> &Credentials {
        &self.credentials
    }

    /// Input bucket name.
    pub fn in_bucket(&self) -> &str {
        &self.in_bucket
    }

    /// Output bucket name.
    pub fn out_bucket(&self) -> &str {
        &self.out_bucket
    }

    /// Where the S3 server keeps its files.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// An S3 client for the local server, for tests and tools.
    pub fn s3_client(&self) -> &aws_sdk_s3::Client {
        &self.s3_client
    }

    /// Stops every server and waits for them to finish.
    pub async fn stop(mut self) {
        let _ = self.shutdown.send(true);
        for task in self.tasks.drain(..) {
            let _ = task.await;
        }
    }
}

impl Drop for LocalStack {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
    }
}

/// An S3 client for an S3-compatible server at `endpoint` (path-style addressing).
pub fn s3_client(endpoint: &str, credentials: &Credentials) -> aws_sdk_s3::Client {
    let config = aws_sdk_s3::Config::builder()
        .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
        .region(aws_sdk_s3::config::Region::new(REGION))
        .credentials_provider(credentials.clone())
        .endpoint_url(endpoint)
        .force_path_style(true)
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

async fn bind(port: u16, what: &str) -> Result<TcpListener, StartError> {
    loopback::bind(port)
        .await
        .map_err(io_error(format!("binding the {what} to 127.0.0.1:{port}")))
}

/// The presign API: the function's own service answering HTTP requests, each with a request id
/// of its own, until `shutdown` resolves.
async fn serve_presign_api(
    listener: TcpListener,
    service: Arc<PresignService<S3Store>>,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let requests = Arc::new(AtomicU64::new(0));
    loopback::serve_http(listener, shutdown, move || {
        let service = Arc::clone(&service);
        let requests = Arc::clone(&requests);
        service_fn(move |request: Request<Incoming>| {
            let service = Arc::clone(&service);
            let id = requests.fetch_add(1, Ordering::Relaxed);
            async move {
                Ok::<_, Infallible>(ddn_presign::http_server::answer(&service, request, id).await)
            }
        })
    })
    .await;
}

fn local_addr(listener: &TcpListener) -> Result<SocketAddr, StartError> {
    listener
        .local_addr()
        .map_err(io_error("reading a listener's address"))
}

/// Resolves when the shutdown flag turns true (or its sender is gone).
async fn wait_for(mut shutdown: watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}

fn random_hex(bytes: usize) -> Result<String, StartError> {
    let mut buffer = vec![0u8; bytes];
    getrandom::fill(&mut buffer).map_err(|e| StartError::Random(e.to_string()))?;
    Ok(hex::encode(buffer))
}
