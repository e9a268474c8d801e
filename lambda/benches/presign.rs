//! Warm presign latency: the whole handler (authentication, key rules, signing, JSON) for an upload
//! and a download URL, the signer alone, and the AWS SDK's own presigning for comparison.
//!
//! Run with `cargo bench -p ddn-presign --bench presign`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use criterion::{Criterion, criterion_group, criterion_main};
use ddn_api::HttpMethod;
use ddn_api::multipart::CompletedPart;
use ddn_presign::auth::{Authenticator, TokenTable, token_hash_hex};
use ddn_presign::clock::FixedClock;
use ddn_presign::credentials::CredentialsCache;
use ddn_presign::presign::{Presigner, UrlRequest};
use ddn_presign::store::{Listing, ObjectMeta, ObjectStore, PartListing, StoreError};
use ddn_presign::{ApiRequest, Config, PresignService};

/// Answers every `HeadObject` at once, so the download bench measures the function, not a network
/// (and every multipart call, for the same reason).
struct ReadyStore;

impl ObjectStore for ReadyStore {
    async fn head_object(&self, _: &str, _: &str) -> Result<Option<ObjectMeta>, StoreError> {
        Ok(Some(ObjectMeta {
            size: 1_048_576,
            etag: Some("b5175b52497cbf770484662801d5c82a".into()),
            ..Default::default()
        }))
    }

    async fn list_objects(
        &self,
        _: &str,
        _: &str,
        _: Option<&str>,
        _: u32,
    ) -> Result<Listing, StoreError> {
        Ok(Listing::default())
    }

    async fn create_multipart_upload(
        &self,
        _: &str,
        _: &str,
        _: Option<&str>,
        _: &BTreeMap<String, String>,
    ) -> Result<String, StoreError> {
        Ok("bench-multipart-upload".into())
    }

    async fn list_parts(
        &self,
        _: &str,
        _: &str,
        _: &str,
        _: Option<u32>,
        _: u32,
    ) -> Result<PartListing, StoreError> {
        Ok(PartListing::default())
    }

    async fn complete_multipart_upload(
        &self,
        _: &str,
        _: &str,
        _: &str,
        _: &[CompletedPart],
        _: Option<&str>,
    ) -> Result<String, StoreError> {
        Ok("3858f62230ac3c915f300c664312c11f-2".into())
    }

    async fn abort_multipart_upload(&self, _: &str, _: &str, _: &str) -> Result<(), StoreError> {
        Ok(())
    }
}

fn credentials() -> Credentials {
    Credentials::new(
        "AKIDEXAMPLE",
        "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        Some("session-token".into()),
        None,
        "bench",
    )
}

fn service() -> PresignService<ReadyStore> {
    // Ten users, so the constant-time token scan does real work.
    let spec: Vec<String> = (0..10)
        .map(|i| format!("user{i}:{}", token_hash_hex(&format!("token-{i}"))))
        .collect();
    let config = Config {
        in_bucket: "ddn-in-bucket".into(),
        out_bucket: "ddn-out-bucket".into(),
        url_ttl: Duration::from_secs(3600),
        url_ttl_clamped: false,
        auth: Authenticator::Tokens(TokenTable::parse(&spec.join(",")).unwrap()),
        endpoint: None,
        require_size: false,
    };
    PresignService::new(
        config,
        Presigner::new("us-east-1", None),
        CredentialsCache::new(SharedCredentialsProvider::new(credentials())),
        ReadyStore,
        Arc::new(FixedClock(SystemTime::now())),
    )
}

fn request(mode: &str) -> ApiRequest {
    let mut query = vec![
        ("file".to_owned(), "2026/11/scan 01 사진.png".to_owned()),
        ("mode".to_owned(), mode.to_owned()),
    ];
    if mode == "upload" {
        query.push(("size".into(), "1048576".into()));
        query.push(("md5".into(), "tRdbUkl8v3cEhGYoAT1cgg==".into()));
        query.push(("contentType".into(), "image/png".into()));
    }
    ApiRequest {
        method: "GET".into(),
        path: "/presign".into(),
        query,
        authorization: Some("Bearer token-7".into()),
        body: String::new(),
        request_id: "bench".into(),
    }
}

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let service = service();
    for mode in ["upload", "download"] {
        let request = request(mode);
        // Warm: credentials are fetched once, as on a warm Lambda.
        assert_eq!(runtime.block_on(service.handle(&request)).status, 200);
        c.bench_function(&format!("handler_{mode}"), |b| {
            b.iter(|| runtime.block_on(service.handle(black_box(&request))));
        });
    }

    let presigner = Presigner::new("us-east-1", None);
    let credentials = credentials();
    let headers = [("content-length", "1048576".to_owned())];
    c.bench_function("signer_only_put", |b| {
        b.iter(|| {
            presigner.presign(
                &credentials,
                &UrlRequest {
                    method: HttpMethod::Put,
                    bucket: "ddn-in-bucket",
                    key: black_box("users/user7/2026/11/scan 01 사진.png"),
                    signed_headers: &headers,
                },
                Duration::from_secs(3600),
                SystemTime::now(),
            )
        });
    });

    let sdk_config = aws_sdk_s3::Config::builder()
        .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
        .region(aws_sdk_s3::config::Region::new("us-east-1"))
        .credentials_provider(credentials.clone())
        .build();
    let client = aws_sdk_s3::Client::from_conf(sdk_config);
    let presigning =
        aws_sdk_s3::presigning::PresigningConfig::expires_in(Duration::from_secs(3600)).unwrap();
    c.bench_function("aws_sdk_s3_presigned_put_object", |b| {
        b.iter(|| {
            runtime
                .block_on(
                    client
                        .put_object()
                        .bucket("ddn-in-bucket")
                        .key(black_box("users/user7/2026/11/scan 01 사진.png"))
                        .content_length(1_048_576)
                        .presigned(presigning.clone()),
                )
                .is_ok()
        });
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
