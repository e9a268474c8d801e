//! Test servers over HTTP/1.1 on loopback. Each answers every request with a function of it,
//! is served through the stack's shared accept loop ([`ddn_localstack::loopback`]), and stops
//! when dropped: the fake services and update servers of the tests, and the Runtime API emulator.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use ddn_localstack::loopback;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use tokio::task::JoinHandle;

pub use hyper::StatusCode;

/// A running test server; dropping it stops accepting connections, unless it was
/// [detached](TestServer::detach).
pub struct TestServer {
    address: SocketAddr,
    task: Option<JoinHandle<()>>,
}

impl TestServer {
    /// Starts a server on a free loopback port that answers each request with `answer(request)`.
    ///
    /// # Errors
    /// An I/O error when no port can be bound.
    pub async fn start<F, Fut>(answer: F) -> std::io::Result<Self>
    where
        F: Fn(Request<Incoming>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Response<Full<Bytes>>> + Send + 'static,
    {
        let listener = loopback::bind(0).await?;
        let address = listener.local_addr()?;
        let answer = Arc::new(answer);
        let task = tokio::spawn(loopback::serve_http(
            listener,
            std::future::pending(),
            move || {
                let answer = Arc::clone(&answer);
                service_fn(move |request| {
                    let answered = answer(request);
                    async move { Ok::<_, Infallible>(answered.await) }
                })
            },
        ));
        Ok(Self {
            address,
            task: Some(task),
        })
    }

    /// Starts a server that answers every request `200` with the same `body`.
    ///
    /// # Errors
    /// An I/O error when no port can be bound.
    pub async fn answering(body: impl Into<Bytes>) -> std::io::Result<Self> {
        let body = body.into();
        Self::start(move |_| {
            let body = body.clone();
            async move { response(StatusCode::OK, body) }
        })
        .await
    }

    /// The server's address, `127.0.0.1:PORT`.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The server's base URL, `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Leaves the server running as long as the runtime it was started on, and answers its URL:
    /// for a test that only hands the address on.
    pub fn detach(mut self) -> String {
        drop(self.task.take());
        self.url()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

/// A response with `status` and `body`, and no header but those hyper adds.
pub fn response(status: StatusCode, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    response
}
