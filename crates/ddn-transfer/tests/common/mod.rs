//! Helpers shared by the engine's integration tests.

#![allow(dead_code)]

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use ddn_api::{HttpMethod, PresignResponse};
use ddn_localstack::LocalStack;
use ddn_presign::presign::{Presigner, UrlRequest};
use ddn_transfer::TransferEvent;
use http_body_util::Full;
use hyper::Response;
use hyper::service::service_fn;
use tokio::net::TcpListener;

/// A fake presign API that serves `answer` to every request; answers its base address. For
/// answers the real service never gives (hostile keys, checksums that do not match).
pub async fn fake_api(answer: &PresignResponse) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let body = Bytes::from(serde_json::to_string(answer).unwrap());
    tokio::spawn(ddn_presign::http_server::serve_connections(
        listener,
        std::future::pending(),
        move || {
            let body = body.clone();
            service_fn(move |_| {
                let body = body.clone();
                async move { Ok::<_, Infallible>(Response::new(Full::new(body))) }
            })
        },
    ));
    format!("http://{address}")
}

/// A real, working download URL for `key` in the stack's output bucket.
pub fn presigned_get(stack: &LocalStack, key: &str) -> String {
    Presigner::new(ddn_localstack::REGION, Some(stack.s3_url().to_owned()))
        .presign(
            stack.s3_credentials(),
            &UrlRequest {
                method: HttpMethod::Get,
                bucket: stack.out_bucket(),
                key,
                signed_headers: &[],
            },
            Duration::from_secs(600),
            SystemTime::now(),
        )
        .unwrap()
        .url
}

/// Keeps every event the engine reports, for assertions afterwards.
#[derive(Default, Clone)]
pub struct Recorder(pub Arc<Mutex<Vec<TransferEvent>>>);

impl Recorder {
    /// A sink that records into this recorder.
    pub fn sink(&self) -> impl Fn(TransferEvent) + Send + Sync + use<> {
        let events = Arc::clone(&self.0);
        move |event| events.lock().unwrap().push(event)
    }

    /// Every progress report, as (transferred, total).
    pub fn progress(&self) -> Vec<(u64, u64)> {
        let events = self.0.lock().unwrap();
        events
            .iter()
            .filter_map(|e| match e {
                TransferEvent::Progress(p) => Some((p.transferred, p.total)),
                _ => None,
            })
            .collect()
    }

    /// The reason of every retry, in order.
    pub fn retry_reasons(&self) -> Vec<String> {
        let events = self.0.lock().unwrap();
        events
            .iter()
            .filter_map(|e| match e {
                TransferEvent::Retrying { reason, .. } => Some(reason.clone()),
                _ => None,
            })
            .collect()
    }
}
