//! The upload spool against real stores: a file leaves it only after its upload is confirmed
//! and `on_stored` succeeded; an S3 outage keeps items on disk, retried until the server is
//! back; a new spool over the folder a dropped one left (a crash) delivers the rest in order.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use livesurgery::storage::{
    BlobStore, FsStore, OnStored, Playback, PutReceipt, Spool, SpoolItem, StorageError,
};

use super::support::{S3Server, content, s3_ready, sha256_hex, wait_until};

const DELIVERY: Duration = Duration::from_secs(30);

/// One call of `on_stored`, with what was true while it ran.
#[derive(Debug, Clone)]
struct Call {
    key: String,
    receipt: PutReceipt,
    /// The object's length in the store at that moment.
    stored_bytes: Option<u64>,
    /// The item's file was still in the spool.
    file_in_spool: bool,
    meta: serde_json::Value,
}

/// An `on_stored` that records its calls, fails the first calls for some keys, and never
/// returns for one key (a process stuck, then killed).
#[derive(Default)]
struct Recorder {
    store: Option<Arc<dyn BlobStore>>,
    calls: Mutex<Vec<Call>>,
    failures_left: Mutex<HashMap<String, u32>>,
    hang_on: Option<String>,
}

impl Recorder {
    fn new(store: Arc<dyn BlobStore>) -> Recorder {
        Recorder {
            store: Some(store),
            ..Recorder::default()
        }
    }

    fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap().clone()
    }

    fn keys(&self) -> Vec<String> {
        self.calls().into_iter().map(|c| c.key).collect()
    }
}

#[async_trait]
impl OnStored for Recorder {
    async fn stored(&self, item: &SpoolItem, receipt: &PutReceipt) -> anyhow::Result<()> {
        let stored_bytes = match &self.store {
            Some(store) => store.size(&item.key).await?,
            None => None,
        };
        self.calls.lock().unwrap().push(Call {
            key: item.key.clone(),
            receipt: receipt.clone(),
            stored_bytes,
            file_in_spool: item.file.exists(),
            meta: item.meta.clone(),
        });
        if let Some(left) = self.failures_left.lock().unwrap().get_mut(&item.key)
            && *left > 0
        {
            *left -= 1;
            anyhow::bail!("the log is not reachable (test)");
        }
        if self.hang_on.as_deref() == Some(item.key.as_str()) {
            std::future::pending::<()>().await;
        }
        Ok(())
    }
}

/// A real store that counts its uploads.
struct Counting {
    inner: Arc<dyn BlobStore>,
    puts: AtomicUsize,
}

#[async_trait]
impl BlobStore for Counting {
    fn kind(&self) -> &'static str {
        self.inner.kind()
    }
    async fn put_file(&self, key: &str, path: &Path, ct: &str) -> Result<PutReceipt, StorageError> {
        self.puts.fetch_add(1, Ordering::SeqCst);
        self.inner.put_file(key, path, ct).await
    }
    async fn put_bytes(&self, key: &str, b: Vec<u8>, ct: &str) -> Result<PutReceipt, StorageError> {
        self.inner.put_bytes(key, b, ct).await
    }
    async fn get_to_file(&self, key: &str, path: &Path) -> Result<u64, StorageError> {
        self.inner.get_to_file(key, path).await
    }
    async fn size(&self, key: &str) -> Result<Option<u64>, StorageError> {
        self.inner.size(key).await
    }
    async fn delete(&self, key: &str) -> Result<(), StorageError> {
        self.inner.delete(key).await
    }
    async fn list(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        self.inner.list(prefix).await
    }
    async fn playback(&self, key: &str, ttl: Duration) -> Result<Playback, StorageError> {
        self.inner.playback(key, ttl).await
    }
}

/// A folder with the spool and, beside it on the same filesystem, where segments are written.
struct Folders {
    _root: tempfile::TempDir,
    spool: PathBuf,
    recording: PathBuf,
}

fn folders() -> Folders {
    let root = tempfile::tempdir().unwrap();
    let (spool, recording) = (root.path().join("spool"), root.path().join("recording"));
    std::fs::create_dir_all(&recording).unwrap();
    Folders {
        _root: root,
        spool,
        recording,
    }
}

/// Writes segment `n` of `archive` into the recording folder; the item and its content.
fn segment(folders: &Folders, archive: &str, n: u64, len: usize) -> (SpoolItem, Vec<u8>) {
    let bytes = content(n + 1000 * archive.len() as u64, len);
    let file = folders.recording.join(format!("{archive}-{n}.tmp"));
    std::fs::write(&file, &bytes).unwrap();
    let item = SpoolItem {
        key: format!("archives/{archive}/segments/{n:08}.webm"),
        file,
        content_type: "video/webm".into(),
        meta: serde_json::json!({"archive": archive, "seq": n}),
    };
    (item, bytes)
}

/// The names of the items' files in the spool folder (all but its lock).
fn spool_files(folders: &Folders) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(&folders.spool)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name != "spool.lock")
        .collect();
    names.sort();
    names
}

fn fs_store(folders: &Folders) -> Arc<dyn BlobStore> {
    Arc::new(FsStore::open(folders.spool.with_file_name("archives")).unwrap())
}

#[tokio::test]
async fn a_file_leaves_the_spool_only_after_its_upload_is_confirmed_and_recorded() {
    if !s3_ready("storage::spool::confirmed") {
        return;
    }
    let server = S3Server::start().await;
    let store = server.store();
    let folders = folders();
    let recorder = Arc::new(Recorder::new(store.clone()));
    let spool = Spool::open(folders.spool.clone(), store.clone(), recorder.clone())
        .await
        .unwrap();

    let mut written = Vec::new();
    for n in 0..5 {
        let (item, bytes) = segment(&folders, "a", n, 200_000 + n as usize);
        let source = item.file.clone();
        spool.enqueue(item).await.unwrap();
        assert!(!source.exists(), "the file is moved into the spool");
        written.push(bytes);
    }
    tokio::time::timeout(DELIVERY, spool.flushed("archives/a/"))
        .await
        .expect("delivered");

    let calls = recorder.calls();
    let keys: Vec<_> = calls.iter().map(|c| c.key.clone()).collect();
    let expected: Vec<_> = (0..5)
        .map(|n| format!("archives/a/segments/{n:08}.webm"))
        .collect();
    assert_eq!(keys, expected, "in order, once each");
    for (call, bytes) in calls.iter().zip(&written) {
        assert_eq!(call.receipt.sha256, sha256_hex(bytes), "{}", call.key);
        assert_eq!(
            call.stored_bytes,
            Some(bytes.len() as u64),
            "stored before on_stored"
        );
        assert!(call.file_in_spool, "still spooled while on_stored runs");
    }
    assert_eq!(calls[3].meta, serde_json::json!({"archive": "a", "seq": 3}));
    assert_eq!(spool.pending(), 0);
    assert!(
        spool_files(&folders).is_empty(),
        "{:?}",
        spool_files(&folders)
    );
    assert_eq!(spool.last_error(), None);
}

#[tokio::test]
async fn while_s3_is_down_items_stay_on_disk_and_are_retried_until_it_is_back() {
    if !s3_ready("storage::spool::outage") {
        return;
    }
    let mut server = S3Server::start().await;
    let store = server.store();
    let folders = folders();
    let recorder = Arc::new(Recorder::new(store.clone()));
    let spool = Spool::open(folders.spool.clone(), store.clone(), recorder.clone())
        .await
        .unwrap();
    server.stop().await;

    let mut written = Vec::new();
    for n in 0..3 {
        let (item, bytes) = segment(&folders, "b", n, 50_000);
        spool.enqueue(item).await.unwrap();
        written.push(bytes);
    }
    // Failed, retried (200 ms, then 400 ms), and still waiting.
    wait_until("a second failed attempt", DELIVERY, || {
        spool.last_error().is_some_and(|e| e.attempts >= 2)
    })
    .await;
    let error = spool.last_error().unwrap();
    assert_eq!(error.key, "archives/b/segments/00000000.webm");
    assert!(error.message.contains("unavailable"), "{}", error.message);
    assert_eq!(spool.pending(), 3);
    assert_eq!(spool_files(&folders).len(), 6, "3 files and 3 sidecars");
    assert!(recorder.calls().is_empty());
    // Another archive has nothing waiting; this one has.
    tokio::time::timeout(Duration::from_millis(100), spool.flushed("archives/other/"))
        .await
        .expect("nothing of that archive is waiting");
    assert!(
        tokio::time::timeout(Duration::from_millis(300), spool.flushed("archives/b/"))
            .await
            .is_err(),
        "archive b is not flushed while S3 is down"
    );

    server.restart().await;
    tokio::time::timeout(DELIVERY, spool.flushed("archives/b/"))
        .await
        .expect("delivered once S3 is back");
    assert_eq!(recorder.keys().len(), 3);
    for (n, bytes) in written.iter().enumerate() {
        let back = folders.recording.join(format!("back-{n}"));
        let key = format!("archives/b/segments/{n:08}.webm");
        store.get_to_file(&key, &back).await.unwrap();
        assert!(std::fs::read(&back).unwrap() == *bytes, "{key}");
    }
    assert!(spool_files(&folders).is_empty());
    assert_eq!(spool.last_error(), None, "cleared by a delivery");
}

#[tokio::test]
async fn a_new_spool_over_the_folder_of_a_crashed_one_delivers_the_rest_in_order() {
    let folders = folders();
    let store = fs_store(&folders);
    // The first process is stuck in on_stored for segment 2 (uploaded, not yet recorded) when
    // it dies.
    let stuck = "archives/c/segments/00000002.webm";
    let first = Arc::new(Recorder {
        hang_on: Some(stuck.to_owned()),
        ..Recorder::new(store.clone())
    });
    let spool = Spool::open(folders.spool.clone(), store.clone(), first.clone())
        .await
        .unwrap();
    for n in 0..5 {
        spool
            .enqueue(segment(&folders, "c", n, 1000).0)
            .await
            .unwrap();
    }
    wait_until("segment 2 in on_stored", DELIVERY, || {
        first.keys().len() == 3
    })
    .await;
    assert_eq!(spool.pending(), 3);
    drop(spool);
    assert_eq!(spool_files(&folders).len(), 6, "segments 2, 3 and 4 stay");

    let second = Arc::new(Recorder::new(store.clone()));
    let spool = Spool::open(folders.spool.clone(), store.clone(), second.clone())
        .await
        .unwrap();
    assert_eq!(spool.pending(), 3, "re-queued at open");
    // New items go after the leftovers.
    spool
        .enqueue(segment(&folders, "c", 5, 1000).0)
        .await
        .unwrap();
    tokio::time::timeout(DELIVERY, spool.flushed("archives/c/"))
        .await
        .expect("delivered");
    let keys: Vec<_> = (2..6)
        .map(|n| format!("archives/c/segments/{n:08}.webm"))
        .collect();
    assert_eq!(second.keys(), keys, "at least once, in the original order");
    assert_eq!(store.list("archives/c/").await.unwrap().len(), 6);
    assert!(spool_files(&folders).is_empty());
}

#[tokio::test]
async fn a_failing_on_stored_is_retried_without_uploading_again() {
    let folders = folders();
    let store = Arc::new(Counting {
        inner: fs_store(&folders),
        puts: AtomicUsize::new(0),
    });
    let recorder = Arc::new(Recorder::new(store.clone()));
    let key = "archives/d/segments/00000000.webm";
    recorder.failures_left.lock().unwrap().insert(key.into(), 2);
    let spool = Spool::open(folders.spool.clone(), store.clone(), recorder.clone())
        .await
        .unwrap();
    spool
        .enqueue(segment(&folders, "d", 0, 1000).0)
        .await
        .unwrap();

    wait_until("a failed on_stored", DELIVERY, || {
        spool.last_error().is_some()
    })
    .await;
    let error = spool.last_error().unwrap();
    assert!(
        error.message.contains("the log is not reachable"),
        "{error:?}"
    );
    assert_eq!(spool.pending(), 1);
    assert_eq!(spool_files(&folders).len(), 2, "kept while on_stored fails");

    tokio::time::timeout(DELIVERY, spool.flushed("archives/d/"))
        .await
        .expect("delivered");
    assert_eq!(recorder.keys().len(), 3, "two failures, then success");
    assert_eq!(store.puts.load(Ordering::SeqCst), 1, "uploaded once");
    let receipts: Vec<_> = recorder.calls().into_iter().map(|c| c.receipt).collect();
    assert!(
        receipts.windows(2).all(|w| w[0] == w[1]),
        "the same receipt each time"
    );
    assert!(spool_files(&folders).is_empty());
}

#[tokio::test]
async fn an_enqueue_with_a_bad_key_is_refused_and_leaves_the_file_where_it_was() {
    let folders = folders();
    let store = fs_store(&folders);
    let spool = Spool::open(folders.spool.clone(), store, Arc::new(Recorder::default()))
        .await
        .unwrap();
    let (mut item, _) = segment(&folders, "e", 0, 10);
    item.key = "archives/../../etc/passwd".into();
    let file = item.file.clone();
    let error = spool.enqueue(item).await.unwrap_err();
    assert!(error.to_string().contains("invalid object key"), "{error}");
    assert!(file.exists());
    let (mut item, _) = segment(&folders, "e", 1, 10);
    item.file = folders.recording.join("missing");
    assert!(spool.enqueue(item).await.is_err(), "a missing file");
    assert_eq!(spool.pending(), 0);
    assert!(
        spool_files(&folders).is_empty(),
        "{:?}",
        spool_files(&folders)
    );
}

#[tokio::test]
async fn a_second_spool_over_the_same_folder_is_refused_until_the_first_is_dropped() {
    let folders = folders();
    let store = fs_store(&folders);
    let open = || {
        Spool::open(
            folders.spool.clone(),
            store.clone(),
            Arc::new(Recorder::default()),
        )
    };
    let first = open().await.unwrap();
    let error = open().await.unwrap_err();
    assert!(format!("{error:#}").contains("another spool"), "{error:#}");
    drop(first);
    open().await.expect("free again once the first is dropped");
}
