//! Object storage for archives: one trait, [`BlobStore`], with a filesystem backend (the
//! embedded default, under `DATA_DIR/archives`) and an S3 backend (`rust-s3`: AWS S3, MinIO,
//! Ceph), and [`Spool`], the durable local queue through which recorded segments reach it.
//!
//! Object keys are ids only (`archives/{archive_id}/segments/{seq:08}.webm`), never names or
//! titles: every backend refuses a key that is not a plain relative path of such segments.

mod fs;
mod s3;
mod spool;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use async_trait::async_trait;

use crate::settings::{ApiSettings, StorageKind};

pub use fs::FsStore;
pub use s3::{S3Config, S3Store};
pub use spool::{OnStored, Spool, SpoolError, SpoolItem};

/// What a stored object turned out to be: its length and the SHA-256 of exactly the bytes
/// that were stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PutReceipt {
    pub bytes: u64,
    /// Lowercase hex.
    pub sha256: String,
}

/// Where a client fetches an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Playback {
    /// An absolute URL that needs no other header (a presigned S3 GET), valid for the ttl asked.
    Url(String),
    /// A local file, which the API serves itself behind a short-lived token.
    Local(PathBuf),
}

/// Errors of object storage. None of them ever carries a secret key.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The key is not a plain relative path of ids (empty segment, `..`, leading `/`, a name).
    #[error("invalid object key {key:?}: {reason}")]
    InvalidKey { key: String, reason: &'static str },
    /// No object has this key.
    #[error("no object {key}")]
    NotFound { key: String },
    /// The object store refused the credentials or the request's signature.
    #[error(
        "the object store refused to {operation} {key}: {detail} (check the S3 access key and secret key)"
    )]
    Denied {
        operation: &'static str,
        key: String,
        detail: String,
    },
    /// The object store could not be reached or failed on its side (worth retrying).
    #[error("the object store is unavailable to {operation} {key}: {detail}")]
    Unavailable {
        operation: &'static str,
        key: String,
        detail: String,
    },
    /// Any other answer of the object store.
    #[error("the object store failed to {operation} {key}: {detail}")]
    Backend {
        operation: &'static str,
        key: String,
        detail: String,
    },
    /// A local file could not be read or written.
    #[error("cannot {operation} {}: {source}", path.display())]
    Io {
        operation: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl StorageError {
    fn io(operation: &'static str, path: &Path, source: std::io::Error) -> StorageError {
        StorageError::Io {
            operation,
            path: path.to_owned(),
            source,
        }
    }
}

/// Object storage for archives. Implemented by every backend; one conformance suite
/// (`tests/integration/storage/`) runs against each.
#[async_trait]
pub trait BlobStore: Send + Sync + 'static {
    /// `"filesystem"` or `"s3"`.
    fn kind(&self) -> &'static str;

    /// Stores a local file under `key` (replacing any object there), streaming it.
    async fn put_file(
        &self,
        key: &str,
        path: &Path,
        content_type: &str,
    ) -> Result<PutReceipt, StorageError>;

    /// Stores `bytes` under `key` (replacing any object there).
    async fn put_bytes(
        &self,
        key: &str,
        bytes: Vec<u8>,
        content_type: &str,
    ) -> Result<PutReceipt, StorageError>;

    /// Writes the object to a local file (replaced whole, or left as it was on failure);
    /// returns its length.
    async fn get_to_file(&self, key: &str, path: &Path) -> Result<u64, StorageError>;

    /// The object's length, `None` when there is none.
    async fn size(&self, key: &str) -> Result<Option<u64>, StorageError>;

    /// Deletes the object; an absent one is fine (idempotent).
    async fn delete(&self, key: &str) -> Result<(), StorageError>;

    /// Keys starting with `prefix` (`""` or ending in `/`, or a key's beginning), sorted.
    async fn list(&self, prefix: &str) -> Result<Vec<String>, StorageError>;

    /// Where a client fetches `key` for `ttl`: a presigned absolute URL (S3) or a local file the
    /// API serves itself behind a short-lived token (filesystem). `NotFound` when absent.
    async fn playback(&self, key: &str, ttl: Duration) -> Result<Playback, StorageError>;
}

/// The store the settings name: the filesystem under `DATA_DIR/archives`, or S3.
pub fn open(settings: &ApiSettings) -> anyhow::Result<Arc<dyn BlobStore>> {
    match settings.storage {
        StorageKind::Filesystem => {
            let root = settings.data_dir.join("archives");
            let store = FsStore::open(&root)
                .with_context(|| format!("opening archive storage at {}", root.display()))?;
            Ok(Arc::new(store))
        }
        StorageKind::S3 => {
            let store = S3Store::new(S3Config::from_settings(settings)?)?;
            Ok(Arc::new(store))
        }
    }
}

/// Refuses a key that is not a plain relative path: non-empty segments of ASCII letters,
/// digits, `-`, `_` and `.`, none starting with `.` (so no `..`, and no clash with the
/// filesystem backend's temporary files), at most 512 bytes.
pub fn validate_key(key: &str) -> Result<(), StorageError> {
    let refuse = |reason| {
        Err(StorageError::InvalidKey {
            key: key.chars().take(100).collect(),
            reason,
        })
    };
    if key.is_empty() {
        return refuse("empty");
    }
    if key.len() > 512 {
        return refuse("longer than 512 bytes");
    }
    if key.starts_with('/') {
        return refuse("absolute (starts with /)");
    }
    for segment in key.split('/') {
        if segment.is_empty() {
            return refuse("empty path segment");
        }
        if segment == ".." || segment == "." {
            return refuse("relative path segment (. or ..)");
        }
        if segment.starts_with('.') {
            return refuse("a segment starts with .");
        }
        if !segment
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        {
            return refuse("only ASCII letters, digits, -, _, . and / are allowed (ids only)");
        }
    }
    Ok(())
}

/// Temporary files start with this; keys never do (see [`validate_key`]), so the filesystem
/// backend's listing skips them.
const TEMP_PREFIX: &str = ".tmp-";

/// The folder of `target` and a fresh temporary path in it, for writing a file and then
/// renaming it over `target`.
fn temp_beside(target: &Path) -> Result<(PathBuf, PathBuf), StorageError> {
    let folder = match target.parent() {
        Some(folder) if !folder.as_os_str().is_empty() => folder,
        _ => Path::new("."),
    };
    let Some(name) = target.file_name() else {
        let not_a_file = std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a file name");
        return Err(StorageError::io("write", target, not_a_file));
    };
    let mut temp = std::ffi::OsString::from(format!("{TEMP_PREFIX}{}-", uuid::Uuid::new_v4()));
    temp.push(name);
    Ok((folder.to_owned(), folder.join(temp)))
}

/// Refuses a list prefix that no valid key could start with: `""`, or a key's beginning,
/// possibly ending in `/`.
fn validate_prefix(prefix: &str) -> Result<(), StorageError> {
    match prefix.strip_suffix('/').unwrap_or(prefix) {
        "" if prefix.is_empty() => Ok(()),
        "" => Err(StorageError::InvalidKey {
            key: prefix.to_owned(),
            reason: "absolute (starts with /)",
        }),
        // The last segment may be cut anywhere, but a cut segment is still a valid one.
        stem => validate_key(stem),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_made_of_ids_are_accepted() {
        for key in [
            "archives/0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b/segments/00000001.webm",
            "archives/x/playback.mp4",
            "a",
        ] {
            validate_key(key).unwrap_or_else(|e| panic!("{key}: {e}"));
        }
    }

    #[test]
    fn keys_that_could_escape_or_carry_names_are_refused() {
        for key in [
            "",
            "/etc/passwd",
            "archives/../jwt.key",
            "..",
            "archives//x",
            "archives/x/",
            "archives/./x",
            "archives/.tmp-1",
            "archives/Dr Smith.webm",
            "archives/x\\..\\y",
            "archives/\u{e9}",
        ] {
            assert!(
                matches!(validate_key(key), Err(StorageError::InvalidKey { .. })),
                "{key:?} was accepted"
            );
        }
        assert!(validate_key(&"a".repeat(513)).is_err());
    }

    #[test]
    fn a_prefix_is_empty_or_the_beginning_of_a_key() {
        for prefix in ["", "archives/", "archives/abc/segments/0000"] {
            validate_prefix(prefix).unwrap_or_else(|e| panic!("{prefix}: {e}"));
        }
        for prefix in ["/", "/archives", "archives/../", "archives//"] {
            assert!(validate_prefix(prefix).is_err(), "{prefix:?} was accepted");
        }
    }

    #[test]
    fn open_names_the_missing_s3_setting() {
        let settings = ApiSettings {
            storage: StorageKind::S3,
            s3_endpoint: Some("http://127.0.0.1:9".into()),
            s3_bucket: Some("archives".into()),
            ..ApiSettings::default()
        };
        let error = open(&settings).err().expect("no access key").to_string();
        assert!(error.contains("LIVESURGERY_S3_ACCESS_KEY"), "{error}");
    }
}
