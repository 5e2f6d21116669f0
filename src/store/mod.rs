//! The event log: one trait, [`EventStore`], and its backends (SQLite, PostgreSQL).
//!
//! Appends from every task of a process go through one writer task ([`group_commit`]) that
//! commits waiting appends together in one transaction: each append is still decided and
//! answered on its own (its own version check, its own error), but many share one durable
//! commit. That is what lets 16 concurrent writers get near the disk's commit rate.

mod group_commit;
mod metered;
pub mod postgres;
pub mod sqlite;
mod subscription;

pub use metered::metered;

use std::sync::Arc;

use async_trait::async_trait;
use livesurgery_domain::envelope::{NewEvent, RecordedEvent};
use serde::Serialize;

pub use subscription::Subscription;

/// What the writer believes the stream's current version is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "version")]
pub enum ExpectedVersion {
    /// No check.
    Any,
    /// The stream must not exist yet.
    NoStream,
    /// The stream's last event must have exactly this version (0 = the stream is empty).
    Exact(u64),
}

impl ExpectedVersion {
    fn admits(self, current: u64) -> bool {
        match self {
            ExpectedVersion::Any => true,
            ExpectedVersion::NoStream => current == 0,
            ExpectedVersion::Exact(v) => current == v,
        }
    }
}

/// Where an accepted append landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct AppendResult {
    /// Version of the stream's last event after this append.
    pub last_version: u64,
    /// Global position of the append's first and last event. A read that waits for
    /// `last_position` sees this write.
    pub first_position: u64,
    pub last_position: u64,
}

/// Errors of the event log.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Optimistic concurrency: the stream moved on since the writer read it.
    #[error("version conflict on {stream}: expected {expected:?}, current version is {current}")]
    VersionConflict {
        stream: String,
        expected: ExpectedVersion,
        current: u64,
    },
    /// Some, but not all, of an append's event ids are already stored (or stored in another
    /// stream): this is not a retry of the same append.
    #[error("event id {id} is already stored in another append")]
    DuplicateEventId { id: uuid::Uuid },
    /// The request itself is unusable (empty append, bad stream name).
    #[error("invalid append: {0}")]
    Invalid(String),
    /// A stored row cannot be read back (a corrupted or tampered row).
    #[error("stored event at position {position} is unreadable: {reason}")]
    Corrupt { position: u64, reason: String },
    /// The database failed.
    #[error("event log database error: {0}")]
    Database(#[from] sqlx::Error),
    /// The store's writer task has stopped (the process is shutting down).
    #[error("event log is shut down")]
    Closed,
}

/// One append: events for one stream, with the version the writer expects.
#[derive(Debug, Clone)]
pub struct AppendRequest {
    pub stream: String,
    pub expected: ExpectedVersion,
    pub events: Vec<NewEvent>,
}

/// The event log. Implemented by every backend; a KurrentDB backend maps `append` to
/// `append_to_stream` with a stream revision, `read_all` to reading `$all` from a position and
/// `subscribe` to a catch-up subscription.
#[async_trait]
pub trait EventStore: Send + Sync + 'static {
    /// Appends events to one stream if its version is as expected; idempotent when retried
    /// with the same event ids.
    async fn append(
        &self,
        stream: &str,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> Result<AppendResult, StoreError>;

    /// Events of one stream with version >= `from_version`, in version order, at most `limit`.
    async fn read_stream(
        &self,
        stream: &str,
        from_version: u64,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError>;

    /// Events of the whole log with position > `after_position`, in position order, at most
    /// `limit`. Never skips an event that a later call could return before it.
    async fn read_all(
        &self,
        after_position: u64,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError>;

    /// The events at these positions, in position order (positions with no event are left
    /// out). For pages of an index such as the audit read model.
    async fn read_positions(&self, positions: &[u64]) -> Result<Vec<RecordedEvent>, StoreError>;

    /// The position of the last committed event (0 for an empty log).
    async fn head_position(&self) -> Result<u64, StoreError>;

    /// The version and hash (hex) of a stream's last event as recorded at append time, kept
    /// apart from the events themselves; `None` for a stream never appended to.
    async fn stream_head(&self, stream: &str) -> Result<Option<(u64, String)>, StoreError>;

    /// Names of the streams whose name starts with `prefix`, sorted.
    async fn stream_names(&self, prefix: &str) -> Result<Vec<String>, StoreError>;

    /// A receiver of the head position, updated when this process or (where the backend can
    /// tell) another process commits. Used to wake subscriptions.
    fn head_watch(&self) -> tokio::sync::watch::Receiver<u64>;

    /// Stops the writer after the appends already queued are committed.
    async fn close(&self);
}

/// Catch-up subscription: every event after `after_position`, then live ones, exactly once and
/// in strictly increasing position.
pub fn subscribe(store: Arc<dyn EventStore>, after_position: u64) -> Subscription {
    Subscription::start(store, after_position)
}

/// Reads a whole stream.
pub async fn read_whole_stream(
    store: &dyn EventStore,
    stream: &str,
) -> Result<Vec<RecordedEvent>, StoreError> {
    read_stream_after(store, stream, 0).await
}

/// Reads the events of a stream after `version`, to its end.
pub async fn read_stream_after(
    store: &dyn EventStore,
    stream: &str,
    version: u64,
) -> Result<Vec<RecordedEvent>, StoreError> {
    let mut events = Vec::new();
    loop {
        let from = version + events.len() as u64 + 1;
        let page = store.read_stream(stream, from, 1000).await?;
        let done = page.len() < 1000;
        events.extend(page);
        if done {
            return Ok(events);
        }
    }
}

/// Opens the event log named by a database URL (`sqlite://…` or `postgres://…`), running its
/// migrations.
pub async fn open(url: &str) -> anyhow::Result<Arc<dyn EventStore>> {
    if url.starts_with("sqlite:") {
        Ok(Arc::new(sqlite::SqliteStore::open(url).await?))
    } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        Ok(Arc::new(postgres::PostgresStore::open(url).await?))
    } else {
        anyhow::bail!(
            "unsupported database URL scheme (expected sqlite:// or postgres://): {}",
            redact_url(url)
        )
    }
}

/// A database URL with any password replaced, for log lines and errors.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            match userinfo.find(':') {
                Some(colon) => format!(
                    "{}{}:***{}",
                    &url[..scheme_end + 3],
                    &userinfo[..colon],
                    &url[at..]
                ),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

fn validate(request: &AppendRequest) -> Result<(), StoreError> {
    if request.events.is_empty() {
        return Err(StoreError::Invalid(
            "an append needs at least one event".into(),
        ));
    }
    if request.stream.is_empty() || request.stream.len() > 200 {
        return Err(StoreError::Invalid(
            "a stream name has 1 to 200 characters".into(),
        ));
    }
    let mut ids: Vec<_> = request.events.iter().map(|e| e.id).collect();
    ids.sort_unstable();
    ids.dedup();
    if ids.len() != request.events.len() {
        return Err(StoreError::Invalid(
            "the same event id appears twice in one append".into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redact_url_hides_the_password_only() {
        assert_eq!(
            redact_url("postgres://app:s3cret@db:5432/ls"),
            "postgres://app:***@db:5432/ls"
        );
        assert_eq!(redact_url("postgres://app@db/ls"), "postgres://app@db/ls");
        assert_eq!(redact_url("sqlite://data/x.db"), "sqlite://data/x.db");
    }
}
