//! The durable upload queue between the recorder and object storage. A recorded segment is
//! moved into the spool folder with a sidecar JSON (its key, content type and metadata); one
//! uploader task stores the items in order, retrying with backoff while the store is down; a
//! file leaves the spool only after its upload is confirmed AND [`OnStored`] (which records
//! the segment in the log) succeeded. After a crash, [`Spool::open`] finds what was left and
//! queues it again, in its original order.
//!
//! On disk, besides `spool.lock` (one spool per folder), per item `n`: `{n:020}.json` (the sidecar, written atomically first) and
//! `{n:020}.data` (the file, renamed in second); removed sidecar first. So at start-up a sidecar
//! with its data is an item to upload, a sidecar alone an enqueue that never finished, and data
//! alone an item whose removal was cut short. Delivery is at least once: after a crash between
//! `on_stored` and the removal, the item is uploaded and `on_stored` called again, so
//! `on_stored` must be idempotent (the key identifies the item).

use std::collections::VecDeque;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use async_trait::async_trait;
use futures::FutureExt;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use super::{BlobStore, PutReceipt, validate_key};
use crate::app::lock;

/// The first retry's delay; each further one doubles it, up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(200);
/// The longest wait between two attempts for the same item.
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// One file to store: where it is now, the key it gets, and what the caller wants back in
/// [`OnStored::stored`].
#[derive(Debug, Clone, PartialEq)]
pub struct SpoolItem {
    pub key: String,
    /// Before `enqueue`: the written, fsynced file (on the spool's filesystem, or it is copied);
    /// in `on_stored`: its copy inside the spool.
    pub file: PathBuf,
    pub content_type: String,
    /// The caller's data, kept in the sidecar (for the recorder: archive id, sequence, times).
    pub meta: serde_json::Value,
}

/// What happens once an item is stored; the item leaves the spool only when this succeeds,
/// and is retried (without uploading again) when it fails.
#[async_trait]
pub trait OnStored: Send + Sync {
    async fn stored(&self, item: &SpoolItem, receipt: &PutReceipt) -> anyhow::Result<()>;
}

/// The most recent failed attempt, until an item is delivered after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpoolError {
    pub key: String,
    /// Failed attempts so far for this item.
    pub attempts: u32,
    /// What failed (never a secret: storage errors carry none).
    pub message: String,
}

/// The sidecar of an item, as stored.
#[derive(Debug, Serialize, Deserialize)]
struct Sidecar {
    key: String,
    content_type: String,
    meta: serde_json::Value,
}

/// An item in the queue, its file already inside the spool.
#[derive(Debug, Clone)]
struct Entry {
    seq: u64,
    item: SpoolItem,
}

#[derive(Debug, Default)]
struct State {
    /// Waiting items in order; the front one is the one being delivered.
    queue: VecDeque<Entry>,
    next_seq: u64,
    last_error: Option<SpoolError>,
    /// Failed delivery attempts since the spool opened.
    failures: u64,
}

struct Shared {
    dir: PathBuf,
    state: Mutex<State>,
    /// Bumped whenever the queue changes: wakes the uploader and `flushed`.
    changes: watch::Sender<u64>,
    /// Held through an enqueue, so items enter the queue in the order of their numbers.
    enqueueing: tokio::sync::Mutex<()>,
}

impl Shared {
    fn changed(&self) {
        self.changes.send_modify(|n| *n = n.wrapping_add(1));
    }

    fn sidecar_path(&self, seq: u64) -> PathBuf {
        self.dir.join(format!("{seq:020}.json"))
    }

    fn data_path(&self, seq: u64) -> PathBuf {
        self.dir.join(format!("{seq:020}.data"))
    }
}

/// The durable upload queue: a file leaves the spool only after its upload is confirmed AND
/// `on_stored` succeeded; retries with backoff; leftovers are re-queued at start. Dropping it
/// stops the uploader (what was not delivered stays on disk for the next `open`).
pub struct Spool {
    shared: Arc<Shared>,
    uploader: tokio::task::JoinHandle<()>,
    /// `spool.lock`, locked while this spool is open: two spools over one folder would deliver
    /// everything twice.
    _lock: std::fs::File,
}

impl std::fmt::Debug for Spool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Spool")
            .field("dir", &self.shared.dir)
            .field("pending", &self.pending())
            .finish_non_exhaustive()
    }
}

impl Drop for Spool {
    fn drop(&mut self) {
        self.uploader.abort();
    }
}

impl Spool {
    /// Opens the spool in `dir` (created if missing), queues what a previous process left
    /// there, and starts the uploader.
    pub async fn open(
        dir: PathBuf,
        store: Arc<dyn BlobStore>,
        on_stored: Arc<dyn OnStored>,
    ) -> anyhow::Result<Spool> {
        let scanned = dir.clone();
        let (lock_file, state) = tokio::task::spawn_blocking(move || {
            std::fs::create_dir_all(&scanned)?;
            let lock_file = lock_folder(&scanned)?;
            Ok::<_, anyhow::Error>((lock_file, recover(&scanned)?))
        })
        .await
        .context("scanning the spool")?
        .with_context(|| format!("opening the upload spool {}", dir.display()))?;
        if !state.queue.is_empty() {
            tracing::info!(
                dir = %dir.display(),
                items = state.queue.len(),
                "spool: re-queued items left by a previous run"
            );
        }
        let shared = Arc::new(Shared {
            dir,
            state: Mutex::new(state),
            changes: watch::Sender::new(0),
            enqueueing: tokio::sync::Mutex::new(()),
        });
        let uploader = tokio::spawn(upload_in_order(shared.clone(), store, on_stored));
        Ok(Spool {
            shared,
            uploader,
            _lock: lock_file,
        })
    }

    /// Moves `file` (already written and fsynced, in any folder on the same filesystem as
    /// the spool) into the spool with its key and metadata, then queues it.
    pub async fn enqueue(&self, item: SpoolItem) -> anyhow::Result<()> {
        validate_key(&item.key)?;
        let _order = self.shared.enqueueing.lock().await;
        let seq = {
            let mut state = lock(&self.shared.state);
            state.next_seq += 1;
            state.next_seq - 1
        };
        let (sidecar, data) = (self.shared.sidecar_path(seq), self.shared.data_path(seq));
        let record = Sidecar {
            key: item.key.clone(),
            content_type: item.content_type.clone(),
            meta: item.meta.clone(),
        };
        let (source, dir) = (item.file.clone(), self.shared.dir.clone());
        let data_in_spool = data.clone();
        tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
            write_sidecar(&sidecar, &record)?;
            if let Err(error) = move_into(&source, &data_in_spool) {
                let _ = std::fs::remove_file(&sidecar);
                return Err(error)
                    .with_context(|| format!("moving {} into the spool", source.display()));
            }
            sync_folder(&dir)
        })
        .await
        .context("enqueueing")??;
        let queued = SpoolItem { file: data, ..item };
        lock(&self.shared.state)
            .queue
            .push_back(Entry { seq, item: queued });
        self.shared.changed();
        Ok(())
    }

    /// Resolves once nothing whose key starts with `prefix` is waiting or uploading.
    pub async fn flushed(&self, prefix: &str) {
        let mut changes = self.shared.changes.subscribe();
        loop {
            changes.borrow_and_update();
            let waiting = lock(&self.shared.state)
                .queue
                .iter()
                .any(|entry| entry.item.key.starts_with(prefix));
            if !waiting || changes.changed().await.is_err() {
                return;
            }
        }
    }

    /// Items waiting or being uploaded.
    pub fn pending(&self) -> usize {
        lock(&self.shared.state).queue.len()
    }

    /// Failed delivery attempts since the spool opened (each is retried).
    pub fn failures(&self) -> u64 {
        lock(&self.shared.state).failures
    }

    /// The most recent failure, while the spool has not delivered an item since.
    pub fn last_error(&self) -> Option<SpoolError> {
        lock(&self.shared.state).last_error.clone()
    }

    /// The spool's folder.
    pub fn dir(&self) -> &Path {
        &self.shared.dir
    }
}

/// The uploader: delivers the front item, then removes it, forever.
async fn upload_in_order(
    shared: Arc<Shared>,
    store: Arc<dyn BlobStore>,
    on_stored: Arc<dyn OnStored>,
) {
    let mut changes = shared.changes.subscribe();
    loop {
        changes.borrow_and_update();
        let front = lock(&shared.state).queue.front().cloned();
        let Some(Entry { seq, item }) = front else {
            if changes.changed().await.is_err() {
                return;
            }
            continue;
        };
        deliver(&shared, &*store, &*on_stored, &item).await;
        // The sidecar first: without it, what is left is only an orphan file (see the module
        // documentation).
        for path in [shared.sidecar_path(seq), shared.data_path(seq)] {
            if let Err(error) = tokio::fs::remove_file(&path).await
                && error.kind() != io::ErrorKind::NotFound
            {
                tracing::error!(key = %item.key, path = %path.display(), %error,
                    "spool: cannot remove a delivered item; it will be delivered again at the next start");
            }
        }
        {
            let mut state = lock(&shared.state);
            state.queue.pop_front();
            state.last_error = None;
        }
        shared.changed();
    }
}

/// Uploads `item` and calls `on_stored` until both have succeeded (uploading once: a failing
/// `on_stored` is retried with the receipt it was given). Gives up only on an item whose file
/// has vanished from the spool.
async fn deliver(
    shared: &Shared,
    store: &dyn BlobStore,
    on_stored: &dyn OnStored,
    item: &SpoolItem,
) {
    let mut receipt: Option<PutReceipt> = None;
    let mut attempts = 0u32;
    loop {
        let message = match &receipt {
            None if !tokio::fs::try_exists(&item.file).await.unwrap_or(true) => {
                tracing::error!(key = %item.key, file = %item.file.display(),
                    "spool: the file of an item vanished from the spool; dropping the item");
                return;
            }
            None => match store
                .put_file(&item.key, &item.file, &item.content_type)
                .await
            {
                Ok(stored) => {
                    receipt = Some(stored);
                    continue;
                }
                Err(error) => format!("upload: {error}"),
            },
            Some(stored) => {
                let called = std::panic::AssertUnwindSafe(on_stored.stored(item, stored));
                match called.catch_unwind().await {
                    Ok(Ok(())) => return,
                    Ok(Err(error)) => format!("after the upload: {error:#}"),
                    Err(_) => "after the upload: on_stored panicked".to_owned(),
                }
            }
        };
        attempts += 1;
        let delay = backoff(attempts);
        tracing::warn!(key = %item.key, attempt = attempts, retry_in_ms = delay.as_millis() as u64,
            error = %message, "spool: delivery failed; retrying");
        {
            let mut state = lock(&shared.state);
            state.failures += 1;
            state.last_error = Some(SpoolError {
                key: item.key.clone(),
                attempts,
                message,
            });
        }
        shared.changed();
        tokio::time::sleep(delay).await;
    }
}

/// The wait after the `attempts`-th failure: 200 ms, 400 ms, ... up to 10 s.
fn backoff(attempts: u32) -> Duration {
    let doublings = attempts.saturating_sub(1).min(16);
    (FIRST_BACKOFF * 2u32.pow(doublings)).min(MAX_BACKOFF)
}

/// Locks `dir/spool.lock` for this process, or says who cannot have it.
fn lock_folder(dir: &Path) -> anyhow::Result<std::fs::File> {
    let path = dir.join("spool.lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => anyhow::bail!(
            "another spool (in this or another server process) already uses this folder"
        ),
        Err(std::fs::TryLockError::Error(error)) => {
            Err(error).with_context(|| format!("locking {}", path.display()))
        }
    }
}

/// The queue a previous process left in `dir`, tidying what it cannot use.
fn recover(dir: &Path) -> anyhow::Result<State> {
    let (mut sidecars, mut data) = (Vec::new(), std::collections::BTreeSet::new());
    // Numbers are never reused, not even those of files set aside.
    let mut next_seq = 0;
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if let Some(Ok(seq)) = name.split('.').next().map(str::parse::<u64>) {
            next_seq = next_seq.max(seq + 1);
        }
        let seq = |suffix: &str| {
            name.strip_suffix(suffix)
                .and_then(|n| n.parse::<u64>().ok())
        };
        if let Some(seq) = seq(".json") {
            sidecars.push(seq);
        } else if let Some(seq) = seq(".data") {
            data.insert(seq);
        } else if name.ends_with(".tmp") {
            std::fs::remove_file(&path)?;
        }
    }
    sidecars.sort_unstable();
    let mut state = State {
        next_seq,
        ..State::default()
    };
    for seq in sidecars {
        let (sidecar, file) = (
            dir.join(format!("{seq:020}.json")),
            dir.join(format!("{seq:020}.data")),
        );
        if !data.remove(&seq) {
            tracing::warn!(sidecar = %sidecar.display(), "spool: an enqueue was cut short; forgetting it");
            std::fs::remove_file(&sidecar)?;
            continue;
        }
        let read: anyhow::Result<Sidecar> = std::fs::read(&sidecar)
            .map_err(anyhow::Error::from)
            .and_then(|bytes| Ok(serde_json::from_slice(&bytes)?));
        match read {
            Ok(Sidecar {
                key,
                content_type,
                meta,
            }) if validate_key(&key).is_ok() => state.queue.push_back(Entry {
                seq,
                item: SpoolItem {
                    key,
                    file,
                    content_type,
                    meta,
                },
            }),
            // Never uploaded nor deleted: set aside for an operator to look at.
            _ => {
                tracing::error!(sidecar = %sidecar.display(),
                    "spool: unreadable sidecar; set aside with its file (*.unreadable)");
                std::fs::rename(&file, file.with_extension("data.unreadable"))?;
                std::fs::rename(&sidecar, sidecar.with_extension("json.unreadable"))?;
            }
        }
    }
    // Data without a sidecar: delivered items whose removal was cut short.
    for seq in data {
        std::fs::remove_file(dir.join(format!("{seq:020}.data")))?;
    }
    Ok(state)
}

/// Writes the sidecar atomically: a temporary file, fsynced, renamed into place.
fn write_sidecar(path: &Path, sidecar: &Sidecar) -> anyhow::Result<()> {
    let temp = path.with_extension("json.tmp");
    let mut file =
        std::fs::File::create(&temp).with_context(|| format!("creating {}", temp.display()))?;
    serde_json::to_writer(&mut file, sidecar)?;
    file.flush()?;
    file.sync_all()?;
    std::fs::rename(&temp, path).with_context(|| format!("writing {}", path.display()))
}

/// Renames `from` to `to`; across filesystems, copies (fsynced) and removes the original.
fn move_into(from: &Path, to: &Path) -> io::Result<()> {
    match std::fs::rename(from, to) {
        Err(error) if error.kind() == io::ErrorKind::CrossesDevices => {
            let temp = to.with_extension("data.tmp");
            std::fs::copy(from, &temp)?;
            std::fs::File::open(&temp)?.sync_all()?;
            std::fs::rename(&temp, to)?;
            std::fs::remove_file(from)
        }
        other => other,
    }
}

/// Makes the renames in `dir` durable.
fn sync_folder(dir: &Path) -> anyhow::Result<()> {
    std::fs::File::open(dir)
        .and_then(|folder| folder.sync_all())
        .with_context(|| format!("syncing {}", dir.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_200_ms_up_to_10_s() {
        let waits: Vec<u128> = (1..=8).map(|n| backoff(n).as_millis()).collect();
        assert_eq!(waits, [200, 400, 800, 1600, 3200, 6400, 10_000, 10_000]);
        assert_eq!(backoff(u32::MAX), MAX_BACKOFF);
    }

    #[test]
    fn recovery_keeps_complete_items_in_order_and_tidies_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, text: &str| std::fs::write(dir.path().join(name), text).unwrap();
        let sidecar =
            |key: &str| format!(r#"{{"key":"{key}","content_type":"video/webm","meta":{{}}}}"#);
        write(&format!("{:020}.json", 7), &sidecar("a/7"));
        write(&format!("{:020}.data", 7), "seven");
        write(&format!("{:020}.json", 3), &sidecar("a/3"));
        write(&format!("{:020}.data", 3), "three");
        write(&format!("{:020}.json", 9), &sidecar("a/9")); // its enqueue was cut short
        write(&format!("{:020}.data", 12), "delivered"); // its removal was cut short
        write(&format!("{:020}.json.tmp", 13), "{");
        write(&format!("{:020}.json", 5), "not json");
        write(&format!("{:020}.data", 5), "five");
        let state = recover(dir.path()).unwrap();
        let keys: Vec<&str> = state.queue.iter().map(|e| e.item.key.as_str()).collect();
        assert_eq!(keys, ["a/3", "a/7"]);
        assert_eq!(
            state.next_seq, 14,
            "after every number seen, even a temporary file's"
        );
        let mut left: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        let expected = [
            format!("{:020}.data", 3),
            format!("{:020}.json", 3),
            format!("{:020}.data.unreadable", 5),
            format!("{:020}.json.unreadable", 5),
            format!("{:020}.data", 7),
            format!("{:020}.json", 7),
        ];
        assert_eq!(left, expected);
    }
}
