//! The S3 backend, through `rust-s3`: AWS S3, MinIO, Ceph or any S3-compatible server. Files
//! are streamed (one PUT below 8 MiB, multipart above, at most two parts in memory at once),
//! hashed as they are read for the upload; playback is a presigned GET URL.
//!
//! TLS: `rust-s3` builds its reqwest client with the process's default rustls provider when one
//! is installed and with ring otherwise, so nothing needs installing here.

use std::io;
use std::path::Path;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use anyhow::Context;
use async_trait::async_trait;
use s3::error::S3Error;
use s3::{Bucket, Region, creds::Credentials};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, AsyncWriteExt, ReadBuf};

use super::{BlobStore, Playback, PutReceipt, StorageError, temp_beside, validate_key};
use crate::settings::{ApiSettings, Credential};

/// Multipart parts (8 MiB each) an upload may hold in memory at once.
const PARTS_IN_FLIGHT: usize = 2;
/// The longest a presigned URL may live (S3's limit: one week).
const MAX_PRESIGN_SECS: u64 = 7 * 24 * 3600;

/// Where the S3 backend connects, from the `s3_*` settings.
#[derive(Debug, Clone)]
pub struct S3Config {
    /// The endpoint URL (`http://minio:9000`); `None`: AWS S3 in `region`.
    pub endpoint: Option<String>,
    pub region: String,
    /// The bucket, which must exist.
    pub bucket: String,
    pub access_key: String,
    pub secret_key: Credential,
    /// `endpoint/bucket/key` (MinIO, Ceph) rather than `bucket.endpoint/key` (AWS).
    pub path_style: bool,
}

impl S3Config {
    /// The S3 settings, or an error naming the first one missing.
    pub fn from_settings(settings: &ApiSettings) -> anyhow::Result<S3Config> {
        fn required<T: Clone>(value: &Option<T>, flag: &str) -> anyhow::Result<T> {
            let env = format!("LIVESURGERY_{}", flag.to_uppercase().replace('-', "_"));
            value
                .clone()
                .with_context(|| format!("storage = s3 needs --{flag} (or {env})"))
        }
        Ok(S3Config {
            endpoint: settings.s3_endpoint.clone(),
            region: settings.s3_region.clone(),
            bucket: required(&settings.s3_bucket, "s3-bucket")?,
            access_key: required(&settings.s3_access_key, "s3-access-key")?,
            secret_key: required(&settings.s3_secret_key, "s3-secret-key")?,
            path_style: settings.s3_path_style,
        })
    }
}

/// Objects in one S3 bucket.
pub struct S3Store {
    bucket: Box<Bucket>,
    /// Kept only to make sure no error text ever repeats it.
    secret_key: Credential,
}

impl std::fmt::Debug for S3Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Store")
            .field("bucket", &self.bucket.name())
            .field("url", &self.bucket.url())
            .finish_non_exhaustive()
    }
}

impl S3Store {
    /// A store on an existing bucket (nothing is sent until the first request).
    pub fn new(config: S3Config) -> anyhow::Result<S3Store> {
        let region = match &config.endpoint {
            Some(endpoint) => {
                anyhow::ensure!(
                    endpoint.starts_with("http://") || endpoint.starts_with("https://"),
                    "the S3 endpoint must be an http:// or https:// URL, not {endpoint:?}"
                );
                Region::Custom {
                    region: config.region.clone(),
                    endpoint: endpoint.trim_end_matches('/').to_owned(),
                }
            }
            None => config
                .region
                .parse()
                .with_context(|| format!("unknown S3 region {:?}", config.region))?,
        };
        let credentials = Credentials::new(
            Some(&config.access_key),
            Some(config.secret_key.expose()),
            None,
            None,
            None,
        )
        .context("S3 credentials")?;
        let mut bucket =
            Bucket::new(&config.bucket, region, credentials).context("S3 bucket settings")?;
        if config.path_style {
            bucket.set_path_style();
        }
        Ok(S3Store {
            bucket,
            secret_key: config.secret_key,
        })
    }

    /// The store's error for what `rust-s3` said, with the secret key scrubbed from any text.
    fn error(&self, operation: &'static str, key: &str, error: S3Error) -> StorageError {
        let key = key.to_owned();
        let scrub = |text: String| {
            let text: String = text.chars().take(400).collect();
            text.replace(self.secret_key.expose(), "***")
        };
        match error {
            S3Error::HttpFailWithBody(404, _) => StorageError::NotFound { key },
            S3Error::HttpFailWithBody(status @ (401 | 403), body) => StorageError::Denied {
                operation,
                key,
                detail: scrub(summarise(status, &body)),
            },
            S3Error::HttpFailWithBody(status @ (408 | 429 | 500..), body) => {
                StorageError::Unavailable {
                    operation,
                    key,
                    detail: scrub(summarise(status, &body)),
                }
            }
            S3Error::HttpFailWithBody(status, body) => StorageError::Backend {
                operation,
                key,
                detail: scrub(summarise(status, &body)),
            },
            S3Error::Reqwest(error) => StorageError::Unavailable {
                operation,
                key,
                detail: scrub(causes(&error.without_url())),
            },
            other => StorageError::Backend {
                operation,
                key,
                detail: scrub(causes(&other)),
            },
        }
    }
}

#[async_trait]
impl BlobStore for S3Store {
    fn kind(&self) -> &'static str {
        "s3"
    }

    async fn put_file(
        &self,
        key: &str,
        path: &Path,
        content_type: &str,
    ) -> Result<PutReceipt, StorageError> {
        validate_key(key)?;
        let file = tokio::fs::File::open(path)
            .await
            .map_err(|e| StorageError::io("read", path, e))?;
        let mut reader = Hashing::new(file);
        let response = self
            .bucket
            .put_object_stream_builder(key)
            .with_content_type(content_type)
            .with_max_concurrent_chunks(PARTS_IN_FLIGHT)
            .execute_stream(&mut reader)
            .await
            .map_err(|e| self.error("store", key, e))?;
        let receipt = reader.receipt();
        if response.uploaded_bytes() as u64 != receipt.bytes {
            return Err(StorageError::Backend {
                operation: "store",
                key: key.to_owned(),
                detail: format!(
                    "uploaded {} bytes of {}",
                    response.uploaded_bytes(),
                    receipt.bytes
                ),
            });
        }
        Ok(receipt)
    }

    async fn put_bytes(
        &self,
        key: &str,
        bytes: Vec<u8>,
        content_type: &str,
    ) -> Result<PutReceipt, StorageError> {
        validate_key(key)?;
        let receipt = PutReceipt {
            bytes: bytes.len() as u64,
            sha256: hex::encode(Sha256::digest(&bytes)),
        };
        self.bucket
            .put_object_with_content_type(key, &bytes, content_type)
            .await
            .map_err(|e| self.error("store", key, e))?;
        Ok(receipt)
    }

    async fn get_to_file(&self, key: &str, path: &Path) -> Result<u64, StorageError> {
        validate_key(key)?;
        let (folder, temp) = temp_beside(path)?;
        let io_error = |e| StorageError::io("write", path, e);
        tokio::fs::create_dir_all(&folder).await.map_err(io_error)?;
        let mut file = tokio::fs::File::create_new(&temp).await.map_err(io_error)?;
        let fetched = self.bucket.get_object_to_writer(key, &mut file).await;
        let finished = async {
            file.flush().await?;
            file.sync_all().await?;
            let bytes = file.metadata().await?.len();
            drop(file);
            tokio::fs::rename(&temp, path).await?;
            Ok(bytes)
        };
        let result = match fetched {
            Ok(_) => finished.await.map_err(io_error),
            Err(e) => Err(self.error("fetch", key, e)),
        };
        if result.is_err() {
            let _ = tokio::fs::remove_file(&temp).await;
        }
        result
    }

    async fn size(&self, key: &str) -> Result<Option<u64>, StorageError> {
        validate_key(key)?;
        match self.bucket.head_object(key).await {
            Ok((head, _)) => Ok(Some(
                head.content_length
                    .and_then(|length| u64::try_from(length).ok())
                    .unwrap_or(0),
            )),
            Err(e) => match self.error("look up", key, e) {
                StorageError::NotFound { .. } => Ok(None),
                other => Err(other),
            },
        }
    }

    async fn delete(&self, key: &str) -> Result<(), StorageError> {
        validate_key(key)?;
        match self.bucket.delete_object(key).await {
            Ok(_) => Ok(()),
            Err(e) => match self.error("delete", key, e) {
                StorageError::NotFound { .. } => Ok(()),
                other => Err(other),
            },
        }
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        super::validate_prefix(prefix)?;
        let pages = self
            .bucket
            .list(prefix.to_owned(), None)
            .await
            .map_err(|e| self.error("list", prefix, e))?;
        let mut keys: Vec<String> = pages
            .into_iter()
            .flat_map(|page| page.contents)
            .map(|object| object.key)
            .collect();
        keys.sort();
        Ok(keys)
    }

    async fn playback(&self, key: &str, ttl: Duration) -> Result<Playback, StorageError> {
        if self.size(key).await?.is_none() {
            return Err(StorageError::NotFound {
                key: key.to_owned(),
            });
        }
        let expiry = ttl.as_secs().clamp(1, MAX_PRESIGN_SECS) as u32;
        let url = self
            .bucket
            .presign_get(key, expiry, None)
            .await
            .map_err(|e| self.error("sign a URL for", key, e))?;
        Ok(Playback::Url(url))
    }
}

/// `HTTP 403 SignatureDoesNotMatch: The request signature ...`: the status with the code and
/// message of an S3 XML error body, when there is one.
fn summarise(status: u16, body: &str) -> String {
    let element = |name: &str| {
        let start = body.find(&format!("<{name}>"))? + name.len() + 2;
        let end = start + body[start..].find(&format!("</{name}>"))?;
        Some(body[start..end].trim().to_owned())
    };
    match (element("Code"), element("Message")) {
        (Some(code), Some(message)) => format!("HTTP {status} {code}: {message}"),
        (Some(code), None) => format!("HTTP {status} {code}"),
        _ => format!("HTTP {status}"),
    }
}

/// An error with its causes, `outer: inner: innermost`.
fn causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// A reader that hashes and counts what is read through it: the receipt of exactly the bytes
/// handed to the upload.
struct Hashing<R> {
    inner: R,
    hasher: Sha256,
    bytes: u64,
}

impl<R> Hashing<R> {
    fn new(inner: R) -> Self {
        Hashing {
            inner,
            hasher: Sha256::new(),
            bytes: 0,
        }
    }

    fn receipt(self) -> PutReceipt {
        PutReceipt {
            bytes: self.bytes,
            sha256: hex::encode(self.hasher.finalize()),
        }
    }
}

impl<R: AsyncRead + Unpin> AsyncRead for Hashing<R> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = polled {
            let read = &buf.filled()[before..];
            self.hasher.update(read);
            self.bytes += read.len() as u64;
        }
        polled
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_s3_error_body_is_summarised_by_its_code_and_message() {
        let body = "<?xml version=\"1.0\"?><Error><Code>SignatureDoesNotMatch</Code>\
                    <Message>The request signature we calculated does not match</Message></Error>";
        assert_eq!(
            summarise(403, body),
            "HTTP 403 SignatureDoesNotMatch: The request signature we calculated does not match"
        );
        assert_eq!(summarise(502, "bad gateway"), "HTTP 502");
    }

    #[test]
    fn no_error_text_repeats_the_secret_key() {
        let store = S3Store::new(S3Config {
            endpoint: Some("http://127.0.0.1:9".into()),
            region: "us-east-1".into(),
            bucket: "archives".into(),
            access_key: "access".into(),
            secret_key: "hunter2-secret".parse().unwrap(),
            path_style: true,
        })
        .unwrap();
        let echoed = S3Error::HttpFailWithBody(
            403,
            "<Error><Code>Denied</Code><Message>bad key hunter2-secret</Message></Error>".into(),
        );
        let error = store.error("store", "a/b", echoed);
        let text = format!("{error} {error:?} {store:?}");
        assert!(!text.contains("hunter2"), "{text}");
        assert!(
            text.contains("check the S3 access key and secret key"),
            "{text}"
        );
    }

    #[tokio::test]
    async fn the_hashing_reader_hashes_what_it_reads() {
        use tokio::io::AsyncReadExt;
        let mut reader = Hashing::new(&b"abc"[..]);
        let mut out = Vec::new();
        reader.read_to_end(&mut out).await.unwrap();
        let receipt = reader.receipt();
        assert_eq!(receipt.bytes, 3);
        assert_eq!(
            receipt.sha256,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
