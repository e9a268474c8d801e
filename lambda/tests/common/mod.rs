//! Helpers shared by the offline handler tests: an in-memory store, a fixed clock, fixtures.

#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, UNIX_EPOCH};

use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use ddn_api::multipart::CompletedPart;
use ddn_api::{ErrorBody, ErrorCode, PresignResponse};
use ddn_presign::auth::{Authenticator, TokenTable, token_hash_hex};
use ddn_presign::clock::FixedClock;
use ddn_presign::credentials::CredentialsCache;
use ddn_presign::event::ProxyResponse;
use ddn_presign::presign::Presigner;
use ddn_presign::store::{
    ListedObject, ListedPart, Listing, ObjectMeta, ObjectStore, PartListing, StoreError,
};
use ddn_presign::{ApiRequest, Config, PresignService};
use serde_json::Value;

/// 2026-11-24T12:00:00Z.
pub const NOW: u64 = 1_795_521_600;

/// Objects in the output bucket, or a failure every call returns; and multipart uploads kept
/// as S3 keeps them, each bound to the bucket and key it was created for.
#[derive(Default)]
pub struct MemoryStore {
    /// Objects by key, in whichever bucket is asked.
    pub objects: HashMap<String, ObjectMeta>,
    pub failure: Option<fn() -> StoreError>,
    /// Every `HeadObject`, as bucket and key.
    pub calls: Mutex<Vec<(String, String)>>,
    /// Open multipart uploads by S3's id.
    pub uploads: Mutex<HashMap<String, MemoryUpload>>,
    /// Objects completed from multipart uploads, by bucket and key.
    pub completed: Mutex<HashMap<(String, String), ObjectMeta>>,
    /// Every multipart call, as `operation key id` (no id for a creation).
    pub multipart_calls: Mutex<Vec<String>>,
    /// How many uploads were created, for their ids.
    pub next_upload: AtomicU64,
}

/// A multipart upload the memory store holds.
#[derive(Debug, Clone)]
pub struct MemoryUpload {
    pub bucket: String,
    pub key: String,
    pub content_type: Option<String>,
    pub metadata: BTreeMap<String, String>,
    pub parts: BTreeMap<u32, ListedPart>,
}

/// S3's smallest part but the last (5 MiB).
const S3_MIN_PART: u64 = 5 * 1024 * 1024;

impl MemoryStore {
    /// Stores a part as a client's presigned `PUT` would, and answers its ETag (made up from the
    /// number and size: the store holds no bytes).
    pub fn put_part(&self, id: &str, number: u32, size: u64, crc64nvme: Option<&str>) -> String {
        let etag = format!("{:016x}{:016x}", u64::from(number) * 0x9e37_79b9, size);
        let mut uploads = self.uploads.lock().unwrap();
        let upload = uploads.get_mut(id).expect("an open upload");
        upload.parts.insert(
            number,
            ListedPart {
                number,
                size,
                etag: Some(etag.clone()),
                crc64nvme: crc64nvme.map(str::to_owned),
            },
        );
        etag
    }

    /// The upload `id` when it is open for `bucket` and `key`, as S3 finds it.
    fn bound<'a>(
        uploads: &'a mut HashMap<String, MemoryUpload>,
        bucket: &str,
        key: &str,
        id: &str,
    ) -> Result<&'a mut MemoryUpload, StoreError> {
        uploads
            .get_mut(id)
            .filter(|upload| upload.bucket == bucket && upload.key == key)
            .ok_or(StoreError::NoSuchUpload)
    }

    fn record(&self, call: String) -> Result<(), StoreError> {
        self.multipart_calls.lock().unwrap().push(call);
        match self.failure {
            Some(failure) => Err(failure()),
            None => Ok(()),
        }
    }
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
        let completed = self.completed.lock().unwrap();
        if let Some(meta) = completed.get(&(bucket.to_owned(), key.to_owned())) {
            return Ok(Some(meta.clone()));
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

    async fn create_multipart_upload(
        &self,
        bucket: &str,
        key: &str,
        content_type: Option<&str>,
        metadata: &BTreeMap<String, String>,
    ) -> Result<String, StoreError> {
        self.record(format!("create {key}"))?;
        let n = self.next_upload.fetch_add(1, Ordering::Relaxed) + 1;
        let id = format!("mpu-{n}.Xy_z~");
        self.uploads.lock().unwrap().insert(
            id.clone(),
            MemoryUpload {
                bucket: bucket.to_owned(),
                key: key.to_owned(),
                content_type: content_type.map(str::to_owned),
                metadata: metadata.clone(),
                parts: BTreeMap::new(),
            },
        );
        Ok(id)
    }

    async fn list_parts(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        after: Option<u32>,
        max_parts: u32,
    ) -> Result<PartListing, StoreError> {
        self.record(format!("list_parts {key} {upload_id}"))?;
        let mut uploads = self.uploads.lock().unwrap();
        let upload = Self::bound(&mut uploads, bucket, key, upload_id)?;
        let mut following = upload
            .parts
            .range(after.unwrap_or(0) + 1..)
            .map(|(_, part)| part.clone());
        let parts: Vec<ListedPart> = following.by_ref().take(max_parts as usize).collect();
        let truncated = following.next().is_some();
        Ok(PartListing {
            next_marker: parts.last().map(|p| p.number).filter(|_| truncated),
            parts,
            truncated,
        })
    }

    async fn complete_multipart_upload(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        parts: &[CompletedPart],
        _crc64nvme: Option<&str>,
    ) -> Result<String, StoreError> {
        self.record(format!("complete {key} {upload_id}"))?;
        let mut uploads = self.uploads.lock().unwrap();
        let upload = Self::bound(&mut uploads, bucket, key, upload_id)?;
        let mut size = 0;
        for (i, named) in parts.iter().enumerate() {
            let held = upload
                .parts
                .get(&named.part_number)
                .filter(|held| held.etag.as_deref() == Some(named.etag.as_str()))
                .ok_or_else(|| StoreError::InvalidPart(format!("part {}", named.part_number)))?;
            if named.crc64nvme.is_some() && named.crc64nvme != held.crc64nvme {
                return Err(StoreError::InvalidPart(format!(
                    "part {} checksum",
                    named.part_number
                )));
            }
            if i + 1 < parts.len() && held.size < S3_MIN_PART {
                return Err(StoreError::InvalidPart("EntityTooSmall".into()));
            }
            size += held.size;
        }
        let etag = format!("3858f62230ac3c915f300c664312c11f-{}", parts.len());
        let meta = ObjectMeta {
            size,
            etag: Some(etag.clone()),
            last_modified: Some(UNIX_EPOCH + Duration::from_secs(NOW - 30)),
            metadata: upload.metadata.clone(),
            ..ObjectMeta::default()
        };
        uploads.remove(upload_id);
        self.completed
            .lock()
            .unwrap()
            .insert((bucket.to_owned(), key.to_owned()), meta);
        Ok(etag)
    }

    async fn abort_multipart_upload(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
    ) -> Result<(), StoreError> {
        self.record(format!("abort {key} {upload_id}"))?;
        let mut uploads = self.uploads.lock().unwrap();
        Self::bound(&mut uploads, bucket, key, upload_id)?;
        uploads.remove(upload_id);
        Ok(())
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

/// A `POST` to `path` with `body` (a multipart route's JSON).
pub fn post(path: &str, body: &Value, authorization: Option<&str>) -> ApiRequest {
    ApiRequest {
        method: "POST".into(),
        path: path.into(),
        query: Vec::new(),
        authorization: authorization.map(str::to_owned),
        body: body.to_string(),
        request_id: "req-1".into(),
    }
}

/// The names of a JSON object's fields, sorted.
pub fn field_names(value: &Value) -> Vec<String> {
    let mut names: Vec<String> = value
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {value}"))
        .keys()
        .cloned()
        .collect();
    names.sort();
    names
}
