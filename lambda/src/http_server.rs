//! The presign service over plain HTTP/1.1, for the local stack. The same [`PresignService`] that
//! answers Lambda events answers here; this module only converts requests and responses.
//!
//! Query strings are decoded like API Gateway does: `%XX` escapes are decoded and `+` stays a plus
//! sign, so clients encode spaces as `%20`.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use percent_encoding::percent_decode_str;
use tokio::net::TcpListener;

use crate::service::{ApiRequest, ApiResponse, PresignService};
use crate::store::ObjectStore;

/// How long open connections get to finish after shutdown is asked for.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Serves `service` on `listener` until `shutdown` completes, then lets open requests finish.
///
/// # Errors
/// Never in practice: accept errors are logged and the loop goes on.
pub async fn serve<S: ObjectStore>(
    listener: TcpListener,
    service: Arc<PresignService<S>>,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let counter = Arc::new(AtomicU64::new(0));
    serve_connections(listener, shutdown, move || {
        let service = Arc::clone(&service);
        let counter = Arc::clone(&counter);
        service_fn(move |request: Request<Incoming>| {
            let service = Arc::clone(&service);
            let id = counter.fetch_add(1, Ordering::Relaxed);
            async move { Ok::<_, Infallible>(answer(&service, &request, id).await) }
        })
    })
    .await;
    Ok(())
}

/// Accepts HTTP/1.1 connections on `listener`, each served by a service from `make_service`, until
/// `shutdown` completes; then gives open connections [`SHUTDOWN_GRACE`] to finish. Shared by every
/// loopback server of the project (the presign API, the local S3 server).
pub async fn serve_connections<M, S, B>(
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
    make_service: M,
) where
    M: Fn() -> S,
    S: hyper::service::Service<Request<Incoming>, Response = Response<B>> + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(error) => {
                    tracing::warn!(%error, "accepting a connection failed");
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let connection =
            http1::Builder::new().serve_connection(TokioIo::new(stream), make_service());
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%error, "connection ended with an error");
            }
        });
    }
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(SHUTDOWN_GRACE) => {
            tracing::warn!("open connections did not finish in time after shutdown");
        }
    }
}

/// Answers one HTTP request with `service`: the request converted to an [`ApiRequest`] (with the
/// request id `local-{id}`), the service's answer converted back. A query string that is not
/// UTF-8 once decoded is answered `invalid_parameter`.
pub async fn answer<S: ObjectStore>(
    service: &PresignService<S>,
    request: &Request<Incoming>,
    id: u64,
) -> Response<Full<Bytes>> {
    let response = match api_request(request, id) {
        Ok(api_request) => service.handle(&api_request).await,
        Err(()) => ApiResponse::error(ddn_api::ApiError::new(
            ddn_api::ErrorCode::InvalidParameter,
            "The query string is not valid UTF-8.",
        )),
    };
    let mut builder = Response::builder()
        .status(response.status)
        .header("content-type", "application/json")
        .header("cache-control", "no-store");
    if response.status == 405 {
        builder = builder.header("allow", "GET");
    }
    builder
        .body(Full::new(Bytes::from(response.body)))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
}

fn api_request(request: &Request<Incoming>, id: u64) -> Result<ApiRequest, ()> {
    let query = request
        .uri()
        .query()
        .unwrap_or_default()
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            Ok((decode(name)?, decode(value)?))
        })
        .collect::<Result<Vec<_>, ()>>()?;
    let authorization = request
        .headers()
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    Ok(ApiRequest {
        method: request.method().as_str().to_owned(),
        path: request.uri().path().to_owned(),
        query,
        authorization,
        request_id: format!("local-{id}"),
    })
}

fn decode(text: &str) -> Result<String, ()> {
    percent_decode_str(text)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| ())
}
