//! A small AWS Lambda Runtime API emulator on loopback, so the real `bootstrap` binary can be run
//! and invoked locally, as `aws lambda invoke` would on AWS.
//!
//! It implements the four routes a custom runtime uses (version `2018-06-01`): `invocation/next`
//! (long-poll for the next event), `invocation/{id}/response`, `invocation/{id}/error` and
//! `init/error`. Start the binary with `AWS_LAMBDA_RUNTIME_API` set to [`RuntimeEmulator::address`].
//! It is a [`TestServer`], so it accepts connections through the stack's shared loop.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use thiserror::Error;
use tokio::sync::{Notify, oneshot};

use crate::http::{TestServer, response as reply};

const PREFIX: &str = "/2018-06-01/runtime/";

/// What the function answered to one invocation.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The function returned this JSON document.
    Response(serde_json::Value),
    /// The function reported an error with this JSON document.
    Error(serde_json::Value),
}

/// An invocation did not get an answer.
#[derive(Debug, Error)]
pub enum InvokeError {
    /// No answer within the time limit (the function is not running or hangs).
    #[error("the function did not answer within {0:?}")]
    Timeout(Duration),
    /// The emulator was stopped before the answer came.
    #[error("the emulator stopped")]
    Stopped,
}

#[derive(Default)]
struct State {
    queue: VecDeque<(String, serde_json::Value)>,
    waiting: HashMap<String, oneshot::Sender<Outcome>>,
    init_errors: Vec<serde_json::Value>,
    next_id: u64,
}

struct Shared {
    state: Mutex<State>,
    arrived: Notify,
}

/// A running emulator. Dropping it stops the server.
pub struct RuntimeEmulator {
    shared: Arc<Shared>,
    server: TestServer,
}

impl RuntimeEmulator {
    /// Starts the emulator on a free loopback port.
    ///
    /// # Errors
    /// An I/O error when no port can be bound.
    pub async fn start() -> std::io::Result<Self> {
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            arrived: Notify::new(),
        });
        let server_shared = Arc::clone(&shared);
        let server = TestServer::start(move |request| {
            let shared = Arc::clone(&server_shared);
            async move { route(&shared, request).await }
        })
        .await?;
        Ok(Self { shared, server })
    }

    /// The value for `AWS_LAMBDA_RUNTIME_API` (`127.0.0.1:PORT`).
    pub fn address(&self) -> String {
        self.server.address().to_string()
    }

    /// Queues an event and waits up to `timeout` for the function's answer.
    ///
    /// # Errors
    /// [`InvokeError::Timeout`] when no answer comes in time.
    pub async fn invoke(
        &self,
        event: serde_json::Value,
        timeout: Duration,
    ) -> Result<Outcome, InvokeError> {
        let (sender, receiver) = oneshot::channel();
        {
            let mut state = lock(&self.shared);
            state.next_id += 1;
            let id = format!("emulated-{:08}", state.next_id);
            state.waiting.insert(id.clone(), sender);
            state.queue.push_back((id, event));
        }
        self.shared.arrived.notify_one();
        match tokio::time::timeout(timeout, receiver).await {
            Ok(Ok(outcome)) => Ok(outcome),
            Ok(Err(_)) => Err(InvokeError::Stopped),
            Err(_) => Err(InvokeError::Timeout(timeout)),
        }
    }

    /// Errors the function reported through `init/error`.
    pub fn init_errors(&self) -> Vec<serde_json::Value> {
        lock(&self.shared).init_errors.clone()
    }
}

fn lock(shared: &Shared) -> std::sync::MutexGuard<'_, State> {
    // A panic while holding the lock leaves plain data behind; keep serving it.
    shared.state.lock().unwrap_or_else(|e| e.into_inner())
}

async fn route(shared: &Shared, request: Request<Incoming>) -> Response<Full<Bytes>> {
    let path = request.uri().path().to_owned();
    let Some(rest) = path.strip_prefix(PREFIX) else {
        return reply(StatusCode::NOT_FOUND, Bytes::new());
    };
    match (request.method().clone(), rest) {
        (Method::GET, "invocation/next") => next_event(shared).await,
        (Method::POST, "init/error") => {
            let body = read_json(request).await;
            lock(shared).init_errors.push(body);
            reply(StatusCode::ACCEPTED, Bytes::new())
        }
        (Method::POST, rest) => {
            let Some((id, kind)) = rest
                .strip_prefix("invocation/")
                .and_then(|r| r.split_once('/'))
            else {
                return reply(StatusCode::NOT_FOUND, Bytes::new());
            };
            let (id, kind) = (id.to_owned(), kind.to_owned());
            let body = read_json(request).await;
            let outcome = match kind.as_str() {
                "response" => Outcome::Response(body),
                "error" => Outcome::Error(body),
                _ => return reply(StatusCode::NOT_FOUND, Bytes::new()),
            };
            match lock(shared).waiting.remove(&id) {
                Some(sender) => {
                    let _ = sender.send(outcome);
                    reply(StatusCode::ACCEPTED, Bytes::new())
                }
                None => reply(StatusCode::BAD_REQUEST, Bytes::from_static(b"unknown id")),
            }
        }
        _ => reply(StatusCode::NOT_FOUND, Bytes::new()),
    }
}

async fn next_event(shared: &Shared) -> Response<Full<Bytes>> {
    loop {
        // Register interest before looking, so an event queued in between is not missed.
        let arrived = shared.arrived.notified();
        let next = lock(shared).queue.pop_front();
        if let Some((id, event)) = next {
            let deadline = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .as_millis()
                + 30_000;
            return Response::builder()
                .status(StatusCode::OK)
                .header("content-type", "application/json")
                .header("lambda-runtime-aws-request-id", &id)
                .header("lambda-runtime-deadline-ms", deadline.to_string())
                .header(
                    "lambda-runtime-invoked-function-arn",
                    "arn:aws:lambda:us-east-1:000000000000:function:ddn-presign-lambda",
                )
                .header("lambda-runtime-trace-id", format!("Root=1-{id}"))
                .body(Full::new(Bytes::from(event.to_string())))
                .unwrap_or_else(|_| reply(StatusCode::INTERNAL_SERVER_ERROR, Bytes::new()));
        }
        arrived.await;
    }
}

async fn read_json(request: Request<Incoming>) -> serde_json::Value {
    let bytes = request
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| serde_json::Value::String(String::from_utf8_lossy(&bytes).into_owned()))
}
