//! Read-model rows kept between requests, each valid while its aggregate's change counter
//! (bumped by the projector after it applies a batch) stands still.

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::Mutex;

use super::{AppError, lock};

/// Caches stay bounded: past this many entries they start over.
const MAX_ENTRIES: usize = 50_000;

/// Values with the change counter they were read at.
pub struct EpochCache<K, V> {
    entries: Mutex<HashMap<K, (u64, V)>>,
}

impl<K, V> Default for EpochCache<K, V> {
    fn default() -> Self {
        EpochCache {
            entries: Mutex::new(HashMap::new()),
        }
    }
}

impl<K: Hash + Eq, V: Clone> EpochCache<K, V> {
    /// The value cached under `key` if it was read at `epoch` (the key's change counter now),
    /// else `load`ed and kept.
    pub async fn get_or_load<E, Fut>(
        &self,
        key: K,
        epoch: u64,
        load: impl FnOnce() -> Fut,
    ) -> Result<V, AppError>
    where
        Fut: Future<Output = Result<V, E>>,
        AppError: From<E>,
    {
        if let Some((seen, value)) = lock(&self.entries).get(&key)
            && *seen == epoch
        {
            return Ok(value.clone());
        }
        // The counter was read before the load: a change projected meanwhile makes this entry
        // stale at once, never a stale entry look fresh.
        let value = load().await?;
        let mut entries = lock(&self.entries);
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(key, (epoch, value.clone()));
        Ok(value)
    }
}
