//! Helpers shared by the offline handler tests: an in-memory store, a fixed clock, fixtures.

#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, UNIX_EPOCH};

use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use ddn_api::{ErrorBody, ErrorCode, PresignResponse};
use ddn_presign::auth::{Authenticator, TokenTable, token_hash_hex};
use ddn_presign::clock::FixedClock;
use ddn_presign::credentials::CredentialsCache;
use ddn_presign::event::ProxyResponse;
use ddn_presign::presign::Presigner;
use ddn_presign::store::{ListedObject, Listing, ObjectMeta, ObjectStore, StoreError};
use ddn_presign::{ApiRequest, Config, PresignService};
use serde_json::Value;

/// 2026-11-24T12:00:00Z.
pub const NOW: u64 = 1_795_521_600;

/// Objects in the output bucket, or a failure every call returns.
#[derive(Default)]
pub struct MemoryStore {
    pub objects: HashMap<String, ObjectMeta>,
    pub failure: Option<fn() -> StoreError>,
    pub calls: Mutex<Vec<(String, String)>>,
}

impl ObjectStore for MemoryStore {
    async fn head_object(&self, bucket: &str, key: &str) -> Result<Option<ObjectMeta>, StoreError> {
        self.calls
            .lock()
            .unwrap()
            .push((bucket.to_owned(), key.to_owned()));
        if let Some(failure) = self.failure {
            return Err(failure());
        }
        Ok(self.objects.get(key).cloned())
    }

    async fn list_objects(
        &self,
        _bucket: &str,
        prefix: &str,
        start_after: Option<&str>,
        limit: u32,
    ) -> Result<Listing, StoreError> {
        if let Some(failure) = self.failure {
            return Err(failure());
        }
        let mut keys: Vec<&String> = self
            .objects
            .keys()
            .filter(|k| k.starts_with(prefix) && start_after.is_none_or(|after| k.as_str() > after))
            .collect();
        keys.sort();
        let truncated = keys.len() > limit as usize;
        let objects = keys
            .into_iter()
            .take(limit as usize)
            .map(|key| ListedObject {
                key: key.clone(),
                size: self.objects[key].size,
                last_modified: Some(UNIX_EPOCH + Duration::from_secs(NOW)),
            })
            .collect();
        Ok(Listing { objects, truncated })
    }
}

pub fn service_with(
    auth: Authenticator,
    store: Arc<MemoryStore>,
) -> PresignService<Arc<MemoryStore>> {
    service_configured(auth, store, |_| {})
}

/// A service like [`service_with`]'s, with its settings changed by `change` first.
pub fn service_configured(
    auth: Authenticator,
    store: Arc<MemoryStore>,
    change: impl FnOnce(&mut Config),
) -> PresignService<Arc<MemoryStore>> {
    let mut config = Config {
        in_bucket: "ddn-in-bucket".into(),
        out_bucket: "ddn-out-bucket".into(),
        url_ttl: Duration::from_secs(3600),
        url_ttl_clamped: false,
        auth,
        endpoint: None,
        require_size: false,
    };
    change(&mut config);
    let credentials = Credentials::new("AKIDEXAMPLE", "secret-key", None, None, "test");
    PresignService::new(
        config,
        Presigner::new("us-east-1", None),
        CredentialsCache::new(SharedCredentialsProvider::new(credentials)),
        store,
        Arc::new(FixedClock(UNIX_EPOCH + Duration::from_secs(NOW))),
    )
}

pub fn tokens() -> Authenticator {
    let spec = format!(
        "alice:{},bob:{}",
        token_hash_hex("alice-token"),
        token_hash_hex("bob-token")
    );
    Authenticator::Tokens(TokenTable::parse(&spec).unwrap())
}

/// The upload id alice's stored `scan 01.png` result carries.
pub const ALICE_UPLOAD_ID: &str = "5f0c6e1b9a2d4c3e8f7a6b5c4d3e2f10";

/// A store where alice's `scan 01.png` result exists.
pub fn store_with_alice_result() -> Arc<MemoryStore> {
    let mut store = MemoryStore::default();
    store.objects.insert(
        "users/alice/scan 01.png".into(),
        ObjectMeta {
            size: 1_048_576,
            etag: Some("b5175b52497cbf770484662801d5c82a".into()),
            metadata: [(
                ddn_api::processing::UPLOAD_ID_META.to_owned(),
                ALICE_UPLOAD_ID.to_owned(),
            )]
            .into(),
            ..Default::default()
        },
    );
    Arc::new(store)
}

pub fn fixture(name: &str) -> Value {
    let path = format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

pub fn contract_fixture(name: &str) -> Value {
    let path = format!(
        "{}/../crates/ddn-api/tests/data/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

pub async fn invoke(service: &PresignService<Arc<MemoryStore>>, event: Value) -> ProxyResponse {
    service.handle_event(event, "req-1").await
}

/// The proxy response a transport would send for `response`.
pub fn to_proxy(response: ddn_presign::ApiResponse) -> ProxyResponse {
    ProxyResponse::from(response)
}

pub fn ok_body(response: &ProxyResponse) -> PresignResponse {
    assert_eq!(response.status_code, 200, "body: {}", response.body);
    serde_json::from_str(&response.body).unwrap()
}

pub fn error_of(response: &ProxyResponse) -> (u16, ErrorCode, String) {
    let body: ErrorBody = serde_json::from_str(&response.body)
        .unwrap_or_else(|e| panic!("not an error body ({e}): {}", response.body));
    (response.status_code, body.error.code, body.error.message)
}

pub fn query_value<'a>(url: &'a str, name: &str) -> Option<&'a str> {
    let (_, query) = url.split_once('?')?;
    query
        .split('&')
        .find_map(|pair| pair.strip_prefix(name)?.strip_prefix('='))
}

pub fn request(query: &[(&str, &str)], authorization: Option<&str>) -> ApiRequest {
    ApiRequest {
        method: "GET".into(),
        path: "/presign".into(),
        query: query
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        authorization: authorization.map(str::to_owned),
        body: String::new(),
        request_id: "req-1".into(),
    }
}
