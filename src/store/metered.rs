//! The event log with its appends timed: every backend's `append`, from the call to the
//! durable commit, observed in `livesurgery_event_append_duration_seconds` (failed appends
//! too: a slow refusal is as slow for the caller).

use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use livesurgery_domain::envelope::RecordedEvent;
use prometheus::Histogram;

use super::{AppendResult, EventStore, ExpectedVersion, NewEvent, StoreError};

/// An [`EventStore`] that times its appends.
pub struct Metered {
    inner: Arc<dyn EventStore>,
    append_duration: Histogram,
}

/// `store`, its appends observed in `append_duration`.
pub fn metered(store: Arc<dyn EventStore>, append_duration: Histogram) -> Arc<dyn EventStore> {
    Arc::new(Metered {
        inner: store,
        append_duration,
    })
}

#[async_trait]
impl EventStore for Metered {
    async fn append(
        &self,
        stream: &str,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> Result<AppendResult, StoreError> {
        let started = Instant::now();
        let result = self.inner.append(stream, expected, events).await;
        self.append_duration
            .observe(started.elapsed().as_secs_f64());
        result
    }

    async fn read_stream(
        &self,
        stream: &str,
        from_version: u64,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        self.inner.read_stream(stream, from_version, limit).await
    }

    async fn read_all(
        &self,
        after_position: u64,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        self.inner.read_all(after_position, limit).await
    }

    async fn read_positions(&self, positions: &[u64]) -> Result<Vec<RecordedEvent>, StoreError> {
        self.inner.read_positions(positions).await
    }

    async fn head_position(&self) -> Result<u64, StoreError> {
        self.inner.head_position().await
    }

    async fn stream_head(&self, stream: &str) -> Result<Option<(u64, String)>, StoreError> {
        self.inner.stream_head(stream).await
    }

    async fn stream_names(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        self.inner.stream_names(prefix).await
    }

    fn head_watch(&self) -> tokio::sync::watch::Receiver<u64> {
        self.inner.head_watch()
    }

    async fn close(&self) {
        self.inner.close().await
    }
}
