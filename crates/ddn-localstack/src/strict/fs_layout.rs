//! What the layer needs to know of how `s3s-fs` 0.14 keeps its files under the root, where it
//! cannot ask s3s-fs itself: where a part and an upload's record are, and the object's "internal
//! info" file, in which s3s-fs keeps the ETag and the checksums `HeadObject` and `GetObject`
//! answer. Writing the whole-object checksum there, rather than keeping it in memory, means it
//! survives a restart and goes along with `CopyObject`, as s3s-fs's own checksums do.
//!
//! These names are s3s-fs's private layout; the tests of the layer (`tests/strict_s3.rs`) fail if
//! a new s3s-fs moves them.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value};

use super::checksums::Algorithm;

/// The layout of one s3s-fs root.
#[derive(Debug)]
pub(super) struct FsLayout {
    root: PathBuf,
    temporary_files: AtomicU64,
}

impl FsLayout {
    /// The layout of `root`, canonicalized as s3s-fs does.
    pub(super) fn new(root: &Path) -> io::Result<Self> {
        Ok(Self {
            root: root.canonicalize()?,
            temporary_files: AtomicU64::new(0),
        })
    }

    /// Whether `bucket` exists. s3s has checked the name already, so it is one folder name.
    pub(super) fn bucket_exists(&self, bucket: &str) -> bool {
        self.root.join(bucket).is_dir()
    }

    /// Where s3s-fs keeps part `number` of upload `id`.
    pub(super) fn part_path(&self, id: &str, number: i32) -> PathBuf {
        self.root.join(format!(".upload_id-{id}.part-{number}"))
    }

    /// Whether s3s-fs still holds the upload `id` (it drops its record when a completion starts
    /// assembling, and when an abort ends).
    pub(super) fn upload_is_held(&self, id: &str) -> bool {
        self.root.join(format!(".upload-{id}.json")).exists()
    }

    fn internal_info_path(&self, bucket: &str, key: &str) -> PathBuf {
        let encode = |s: &str| URL_SAFE_NO_PAD.encode(s);
        self.root.join(format!(
            ".bucket-{}.object-{}.internal.json",
            encode(bucket),
            encode(key)
        ))
    }

    /// Makes `value` the object's only checksum, in the object's internal info, and drops any
    /// other: s3s-fs's completion keeps the checksums of the object the key held before.
    pub(super) async fn save_object_checksum(
        &self,
        bucket: &str,
        key: &str,
        algorithm: Algorithm,
        value: &str,
    ) -> io::Result<()> {
        let path = self.internal_info_path(bucket, key);
        let mut info: Map<String, Value> = match tokio::fs::read(&path).await {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(io::Error::other)?,
            Err(error) if error.kind() == io::ErrorKind::NotFound => Map::new(),
            Err(error) => return Err(error),
        };
        info.retain(|name, _| !name.starts_with("checksum_"));
        let name = algorithm
            .header()
            .trim_start_matches("x-amz-")
            .replace('-', "_");
        info.insert(name, Value::String(value.to_owned()));
        // Written aside and moved into place, as s3s-fs writes it, under a name s3s-fs removes
        // when it starts, should the stack stop in between.
        let temporary = self.root.join(format!(
            ".tmp.strict-{}.internal.part",
            self.temporary_files.fetch_add(1, Ordering::Relaxed)
        ));
        tokio::fs::write(
            &temporary,
            serde_json::to_vec(&info).map_err(io::Error::other)?,
        )
        .await?;
        tokio::fs::rename(&temporary, &path).await
    }

    /// Removes what s3s-fs keeps of multipart uploads (their records, parts and metadata), so a
    /// restarted stack, which knows no open upload, holds none either. Answers how many files
    /// were removed.
    pub(super) fn remove_uploads(&self) -> io::Result<usize> {
        let mut removed = 0;
        for entry in std::fs::read_dir(&self.root)? {
            let entry = entry?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if is_upload_file(name) && entry.file_type()?.is_file() {
                std::fs::remove_file(entry.path())?;
                removed += 1;
            }
        }
        Ok(removed)
    }
}

/// Whether a file in the root belongs to a multipart upload: `.upload-ID.json` (the record),
/// `.upload_id-ID.part-N` (a part) or `.bucket-B.object-K.upload-ID.metadata.json` (the
/// object's metadata until completion). Bucket and key are base64 there, which has no `.`, so an
/// object's own files never match.
fn is_upload_file(name: &str) -> bool {
    (name.starts_with(".upload-") && name.ends_with(".json"))
        || name.starts_with(".upload_id-")
        || (name.starts_with(".bucket-")
            && name.contains(".upload-")
            && name.ends_with(".metadata.json"))
}

#[cfg(test)]
mod tests {
    use super::is_upload_file;

    #[test]
    fn only_upload_files_are_taken_for_upload_files() {
        let id = "0b8e6c7e-8f7c-4b6a-9d55-1f0c2b7e4a11";
        for name in [
            format!(".upload-{id}.json"),
            format!(".upload_id-{id}.part-17"),
            format!(".bucket-YnVja2V0.object-a2V5.upload-{id}.metadata.json"),
        ] {
            assert!(is_upload_file(&name), "{name}");
        }
        for name in [
            ".bucket-YnVja2V0.object-a2V5.metadata.json",
            ".bucket-YnVja2V0.object-a2V5.internal.json",
            ".tmp.3.internal.part",
            "ddn-in-bucket",
        ] {
            assert!(!is_upload_file(name), "{name}");
        }
    }
}
