//! The filesystem backend: one file per object under a root folder (`DATA_DIR/archives`), the
//! key as its relative path. Writes are atomic (a temporary file beside the target, fsynced,
//! then renamed over it, then the folder fsynced), so a crash leaves the old object or the new
//! one, never half of one. The blocking file work runs on tokio's blocking pool.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use async_trait::async_trait;
use sha2::{Digest, Sha256};

use super::{
    BlobStore, Playback, PutReceipt, StorageError, TEMP_PREFIX, temp_beside, validate_key,
    validate_prefix,
};

/// Objects as files under a root folder.
#[derive(Debug, Clone)]
pub struct FsStore {
    root: PathBuf,
}

impl FsStore {
    /// A store rooted at `root`, created if missing.
    pub fn open(root: impl Into<PathBuf>) -> io::Result<FsStore> {
        let root = root.into();
        fs::create_dir_all(&root)?;
        Ok(FsStore { root })
    }

    /// The root folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The file of a (valid) key.
    fn path_of(&self, key: &str) -> Result<PathBuf, StorageError> {
        validate_key(key)?;
        Ok(self.root.join(key))
    }
}

#[async_trait]
impl BlobStore for FsStore {
    fn kind(&self) -> &'static str {
        "filesystem"
    }

    async fn put_file(
        &self,
        key: &str,
        path: &Path,
        _content_type: &str,
    ) -> Result<PutReceipt, StorageError> {
        let target = self.path_of(key)?;
        let source = path.to_owned();
        blocking(move || {
            let mut from = File::open(&source).map_err(|e| StorageError::io("read", &source, e))?;
            write_atomically(&target, &mut from)
        })
        .await
    }

    async fn put_bytes(
        &self,
        key: &str,
        bytes: Vec<u8>,
        _content_type: &str,
    ) -> Result<PutReceipt, StorageError> {
        let target = self.path_of(key)?;
        blocking(move || write_atomically(&target, &mut bytes.as_slice())).await
    }

    async fn get_to_file(&self, key: &str, path: &Path) -> Result<u64, StorageError> {
        let source = self.path_of(key)?;
        let (key, target) = (key.to_owned(), path.to_owned());
        blocking(move || {
            let mut from = match File::open(&source) {
                Ok(file) => file,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    return Err(StorageError::NotFound { key });
                }
                Err(e) => return Err(StorageError::io("read", &source, e)),
            };
            Ok(write_atomically(&target, &mut from)?.bytes)
        })
        .await
    }

    async fn size(&self, key: &str) -> Result<Option<u64>, StorageError> {
        let path = self.path_of(key)?;
        match tokio::fs::metadata(&path).await {
            Ok(meta) if meta.is_file() => Ok(Some(meta.len())),
            Ok(_) => Ok(None),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(StorageError::io("read", &path, e)),
        }
    }

    async fn delete(&self, key: &str) -> Result<(), StorageError> {
        let path = self.path_of(key)?;
        let root = self.root.clone();
        blocking(move || {
            match fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
                Err(e) => return Err(StorageError::io("delete", &path, e)),
            }
            // Folders emptied by deleting an archive's last object go too (best effort: a
            // folder that is not empty, or just got a new object, stays).
            let mut folder = path.parent();
            while let Some(dir) = folder.filter(|dir| *dir != root && dir.starts_with(&root)) {
                if fs::remove_dir(dir).is_err() {
                    break;
                }
                folder = dir.parent();
            }
            Ok(())
        })
        .await
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        validate_prefix(prefix)?;
        // Walk only the deepest folder the prefix names.
        let folder = prefix.rfind('/').map_or("", |end| &prefix[..end]);
        let (start, root, prefix) = (self.root.join(folder), self.root.clone(), prefix.to_owned());
        blocking(move || {
            let mut keys = Vec::new();
            collect_keys(&root, &start, &mut keys)?;
            keys.retain(|key| key.starts_with(&prefix));
            keys.sort();
            Ok(keys)
        })
        .await
    }

    async fn playback(&self, key: &str, _ttl: Duration) -> Result<Playback, StorageError> {
        match self.size(key).await? {
            Some(_) => Ok(Playback::Local(self.path_of(key)?)),
            None => Err(StorageError::NotFound {
                key: key.to_owned(),
            }),
        }
    }
}

/// Runs blocking file work off the async threads.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, StorageError> + Send + 'static,
) -> Result<T, StorageError> {
    tokio::task::spawn_blocking(work)
        .await
        .unwrap_or_else(|joined| {
            Err(StorageError::io(
                "run file work for",
                Path::new("object storage"),
                io::Error::other(joined),
            ))
        })
}

/// Copies `from` into a temporary file beside `target`, hashing what it writes, fsyncs it,
/// renames it over `target` and fsyncs the folder. On failure the temporary file is removed
/// and `target` is left as it was.
fn write_atomically(target: &Path, from: &mut dyn Read) -> Result<PutReceipt, StorageError> {
    let (folder, temp) = temp_beside(target)?;
    let create = || -> io::Result<File> {
        fs::create_dir_all(&folder)?;
        File::create_new(&temp)
    };
    // A concurrent delete may remove a folder it just emptied between the two steps: once more.
    let mut file = create()
        .or_else(|_| create())
        .map_err(|e| StorageError::io("write", &temp, e))?;
    let written = copy_hashing(from, &mut file).and_then(|receipt| {
        file.sync_all()?;
        drop(file);
        fs::rename(&temp, target)?;
        File::open(&folder)?.sync_all()?;
        Ok(receipt)
    });
    written.map_err(|e| {
        let _ = fs::remove_file(&temp);
        StorageError::io("write", target, e)
    })
}

/// Copies everything, returning the length and SHA-256 of what was written.
fn copy_hashing(from: &mut dyn Read, to: &mut File) -> io::Result<PutReceipt> {
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 256 * 1024];
    let mut bytes = 0u64;
    loop {
        let n = match from.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        to.write_all(&buffer[..n])?;
        hasher.update(&buffer[..n]);
        bytes += n as u64;
    }
    Ok(PutReceipt {
        bytes,
        sha256: hex::encode(hasher.finalize()),
    })
}

/// Adds the keys of the files under `folder` (relative to `root`, `/`-separated), skipping
/// temporary files. A missing folder holds no keys.
fn collect_keys(root: &Path, folder: &Path, keys: &mut Vec<String>) -> Result<(), StorageError> {
    let entries = match fs::read_dir(folder) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(StorageError::io("list", folder, e)),
    };
    for entry in entries {
        let entry = entry.map_err(|e| StorageError::io("list", folder, e))?;
        let path = entry.path();
        let kind = entry
            .file_type()
            .map_err(|e| StorageError::io("list", &path, e))?;
        if kind.is_dir() {
            collect_keys(root, &path, keys)?;
        } else if kind.is_file()
            && !entry.file_name().to_string_lossy().starts_with(TEMP_PREFIX)
            && let Ok(relative) = path.strip_prefix(root)
        {
            let segments: Vec<_> = relative.iter().map(|s| s.to_string_lossy()).collect();
            keys.push(segments.join("/"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_failed_write_leaves_the_old_object_and_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsStore::open(dir.path()).unwrap();
        store.put_bytes("a/b", b"old".to_vec(), "x").await.unwrap();
        let error = store
            .put_file("a/b", &dir.path().join("missing"), "x")
            .await
            .unwrap_err();
        assert!(matches!(error, StorageError::Io { .. }), "{error}");
        assert_eq!(fs::read(dir.path().join("a/b")).unwrap(), b"old");
        assert_eq!(fs::read_dir(dir.path().join("a")).unwrap().count(), 1);
    }

    #[tokio::test]
    async fn deleting_the_last_object_of_a_folder_removes_the_folder_but_not_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsStore::open(dir.path().join("archives")).unwrap();
        store.put_bytes("x/segments/1", vec![1], "x").await.unwrap();
        store.put_bytes("x/segments/2", vec![2], "x").await.unwrap();
        store.delete("x/segments/1").await.unwrap();
        assert!(dir.path().join("archives/x/segments").is_dir());
        store.delete("x/segments/2").await.unwrap();
        assert!(!dir.path().join("archives/x").exists());
        assert!(dir.path().join("archives").is_dir());
    }

    #[tokio::test]
    async fn listing_skips_temporary_files() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsStore::open(dir.path()).unwrap();
        store.put_bytes("a/1", vec![1], "x").await.unwrap();
        fs::write(dir.path().join("a/.tmp-crashed-2"), b"half").unwrap();
        assert_eq!(store.list("a/").await.unwrap(), vec!["a/1"]);
    }
}
