//! The error of this crate's boundary.

/// The error type of an [`EventSource`](crate::EventSource): whatever the store adapter returns.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Why a read-model operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ProjectionError {
    /// The database refused or failed a statement; the transaction was rolled back.
    #[error("read-model database: {0}")]
    Database(#[from] sqlx::Error),
    /// The URL is neither `sqlite:` nor `postgres:`.
    #[error("unsupported read-model database URL {0:?} (expected sqlite:… or postgres:…)")]
    UnsupportedUrl(String),
    /// No projection has this name; see `ReadModels::names()`.
    #[error("unknown projection {0:?}")]
    UnknownProjection(String),
    /// A batch was not in strictly increasing position order.
    #[error("events out of order: position {position} follows {previous}")]
    OutOfOrder {
        /// The position before it.
        previous: u64,
        /// The position that does not follow.
        position: u64,
    },
    /// `migrate()` has not been run on this database.
    #[error("projection {0:?} has no checkpoint: run migrate() first")]
    NotMigrated(String),
    /// Reading the event log for a rebuild failed.
    #[error("reading the event log: {0}")]
    Source(BoxError),
    /// Another rebuild of the same projection started after this one; this one gave way.
    #[error("the rebuild of {0:?} was superseded by a newer rebuild")]
    RebuildSuperseded(String),
    /// A task of this crate failed unexpectedly (a panic).
    #[error("internal: {0}")]
    Internal(String),
    /// A stored read-model value could not be read back.
    #[error("read-model column {column}: {reason}")]
    Corrupt {
        /// The column.
        column: String,
        /// What was wrong.
        reason: String,
    },
}
