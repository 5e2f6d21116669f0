#![warn(missing_docs)]
//! Read models of LiveSurgery: folds of the event log into SQL tables (SQLite or PostgreSQL,
//! through one `sqlx::any` code path), each with a checkpoint written in the same transaction
//! as its rows, so every event is applied exactly once.
//!
//! - [`ReadModels::apply`] / [`ReadModels::apply_all`] fold a batch from the log subscription;
//!   re-delivered events (at or below the checkpoint) are skipped.
//! - [`ReadModels::rebuild`] refolds a projection from position 0 into fresh tables beside the
//!   live ones and swaps them in, so reads keep working meanwhile.
//! - The query functions (`list_sessions`, `audit`, `list_archives`, …) serve the REST reads
//!   from the live tables; `archives_due_for_expiry` and `archives_with_status` serve the
//!   recorder's lifecycle task and its restart recovery.
//!
//! Each batch is folded in memory (load the rows it touches, fold, write each changed row once
//! with multi-row statements): per-event statements would be far too slow for rebuilds.

mod archives;
mod audit;
mod db;
mod error;
mod fold;
mod layout;
mod presence;
mod rebuild;
mod schema;
mod sessions;
mod users;

use chrono::{DateTime, Utc};
use livesurgery_domain::envelope::RecordedEvent;
use serde::{Deserialize, Serialize};
use sqlx::{Any, AnyConnection, AnyPool, Transaction};

pub use archives::{ArchiveFilter, ArchiveRow, SegmentRow};
pub use audit::{AuditFilter, AuditRow, audit_outcome, audit_session_id};
pub use db::Dialect;
pub use error::{BoxError, ProjectionError};
pub use layout::{LayoutRow, LayoutVersionRow, SourceSelectionRow};
pub use presence::{PresenceFilter, PresenceRow, SESSION_CLOSED};
pub use rebuild::{EventSource, RebuildProgress, RebuildReport};
pub use sessions::{
    MemberRow, RecordingRow, RecordingState, SessionFilter, SessionRow, SessionStatus,
};
pub use users::{UserFilter, UserRow};

use db::{Sql, get_opt_u64, get_text, get_time, get_u64, micros};
use fold::{Parsed, Projection, after, check_order};
use schema::{CHECKPOINTS_DDL, REBUILDS_DDL};

/// The read models of one database, and the only way to write them.
#[derive(Debug, Clone)]
pub struct ReadModels {
    pool: AnyPool,
    dialect: Dialect,
}

/// Where a projection is: its checkpoint (last applied log position) and generation (the number
/// of completed rebuilds plus one). Lag is the log head minus `position`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProjectionStatus {
    /// Projection name, as in `ReadModels::names()`.
    pub name: String,
    /// The checkpoint: the last log position its tables reflect.
    pub position: u64,
    /// Number of completed rebuilds plus one.
    pub generation: u64,
    /// When the last change was recorded.
    pub updated_at: DateTime<Utc>,
    /// Position reached by a rebuild in progress (or abandoned by a crash), if any.
    pub rebuild_position: Option<u64>,
}

/// One page of a list, in the list's order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Page<T> {
    /// The rows of this page.
    pub items: Vec<T>,
    /// The cursor to pass for the next page; `None` on the last page.
    pub next: Option<u64>,
}

impl<T> Page<T> {
    /// `rows` was fetched with `limit + 1`: a row beyond `limit` proves there is a next page.
    fn from_rows(mut rows: Vec<T>, limit: u32, cursor: impl Fn(&T) -> u64) -> Page<T> {
        let limit = limit as usize;
        let next = if rows.len() > limit {
            rows.truncate(limit);
            rows.last().map(cursor)
        } else {
            None
        };
        Page { items: rows, next }
    }
}

/// A PostgreSQL advisory-lock key: `migrate()` in two processes at once must not race on
/// `CREATE TABLE IF NOT EXISTS`.
const MIGRATE_LOCK_KEY: i64 = 0x4c53_524d_4d49_4752; // "LSRMMIGR"

impl ReadModels {
    /// Connects to `sqlite://…` (file created when missing; WAL, `synchronous=FULL`, 5 s busy
    /// timeout) or `postgres://…`. Call [`ReadModels::migrate`] before anything else.
    pub async fn connect(url: &str) -> Result<ReadModels, ProjectionError> {
        let (pool, dialect) = db::connect(url).await?;
        Ok(ReadModels { pool, dialect })
    }

    /// [`ReadModels::connect`] for the process that applies events: its commits are not
    /// waited to be durable (SQLite `synchronous = NORMAL`, PostgreSQL `synchronous_commit =
    /// off`). Safe because every commit carries its checkpoint: a crash can only lose the last
    /// few, which rolls the checkpoint back with them, and the events are folded again from the
    /// log. Never use it for state that is not derived from the log.
    pub async fn connect_for_projection(url: &str) -> Result<ReadModels, ProjectionError> {
        let (pool, dialect) = db::connect_with(url, true).await?;
        Ok(ReadModels { pool, dialect })
    }

    /// Wraps an existing pool (install the `sqlx::any` drivers first). For SQLite, the pool's
    /// connections should use WAL and a busy timeout, as [`ReadModels::connect`] sets up.
    pub fn new(pool: AnyPool, dialect: Dialect) -> ReadModels {
        ReadModels { pool, dialect }
    }

    /// The pool, for callers that share it.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// The dialect of the database.
    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// The names of the projections, for [`ReadModels::apply`], [`ReadModels::rebuild`] and
    /// the CLI.
    pub fn names() -> &'static [&'static str] {
        &Projection::NAMES
    }

    /// Creates the checkpoint table and every missing read-model table and index. Idempotent,
    /// and safe to run from several processes at once.
    pub async fn migrate(&self) -> Result<(), ProjectionError> {
        let mut tx = self.begin_write().await?;
        if self.dialect == Dialect::Postgres {
            sqlx::query("SELECT pg_advisory_xact_lock($1)")
                .bind(MIGRATE_LOCK_KEY)
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query(CHECKPOINTS_DDL).execute(&mut *tx).await?;
        sqlx::query(REBUILDS_DDL).execute(&mut *tx).await?;
        let now = micros(&Utc::now());
        for projection in Projection::ALL {
            sqlx::query(
                "INSERT INTO rm_checkpoints (name, position, generation, updated_at) \
                 VALUES ($1, 0, 1, $2) ON CONFLICT (name) DO NOTHING",
            )
            .bind(projection.name())
            .bind(now)
            .execute(&mut *tx)
            .await?;
            let (_, generation) = lock_checkpoint(&mut tx, self.dialect, projection).await?;
            for table in projection.tables() {
                let ddl = std::iter::once(table.create_table(self.dialect, "", generation))
                    .chain(table.create_indexes("", generation));
                for statement in ddl {
                    sqlx::query(sqlx::AssertSqlSafe(statement))
                        .execute(&mut *tx)
                        .await?;
                }
            }
        }
        tx.commit().await?;
        Ok(())
    }

    /// Applies to projection `name` the events after its checkpoint, rows and checkpoint in one
    /// transaction; returns the new checkpoint. Events at or below the checkpoint (re-delivered
    /// after a reconnect) are skipped; unknown or irrelevant events just advance the checkpoint.
    pub async fn apply(
        &self,
        name: &str,
        events: &[RecordedEvent],
    ) -> Result<u64, ProjectionError> {
        let projection = Projection::from_name(name)?;
        let positions = self.apply_projections(&[projection], events).await?;
        Ok(positions.first().map_or(0, |(_, p)| *p))
    }

    /// [`ReadModels::apply`] for every projection, in one transaction; returns each projection's
    /// new checkpoint by name.
    pub async fn apply_all(
        &self,
        events: &[RecordedEvent],
    ) -> Result<Vec<(&'static str, u64)>, ProjectionError> {
        self.apply_projections(&Projection::ALL, events).await
    }

    async fn apply_projections(
        &self,
        projections: &[Projection],
        events: &[RecordedEvent],
    ) -> Result<Vec<(&'static str, u64)>, ProjectionError> {
        check_order(events)?;
        let items = Parsed::parse(events);
        let mut projections = projections.to_vec();
        projections.sort();
        let mut tx = self.begin_write().await?;
        let mut positions = Vec::with_capacity(projections.len());
        for projection in projections {
            // The row lock serialises this with a rebuild's swap, even from another process.
            let (position, generation) = lock_checkpoint(&mut tx, self.dialect, projection).await?;
            let todo = after(&items, position);
            let Some(last) = todo.last().map(|i| i.ev.position) else {
                positions.push((projection.name(), position));
                continue;
            };
            projection.apply(&mut tx, self.dialect, "", todo).await?;
            write_checkpoint(&mut tx, projection, last, generation).await?;
            positions.push((projection.name(), last));
        }
        tx.commit().await?;
        Ok(positions)
    }

    /// The checkpoint of every projection.
    pub async fn status(&self) -> Result<Vec<ProjectionStatus>, ProjectionError> {
        let rows = Sql::new(
            "SELECT c.name, c.position, c.generation, c.updated_at, r.position AS rebuild_position \
             FROM rm_checkpoints c LEFT JOIN rm_rebuilds r ON r.name = c.name ORDER BY c.name",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(ProjectionStatus {
                    name: get_text(row, "name")?,
                    position: get_u64(row, "position")?,
                    generation: get_u64(row, "generation")?,
                    updated_at: get_time(row, "updated_at")?,
                    rebuild_position: get_opt_u64(row, "rebuild_position")?,
                })
            })
            .collect()
    }

    /// The checkpoint of projection `name`: the last log position its tables reflect.
    pub async fn checkpoint(&self, name: &str) -> Result<u64, ProjectionError> {
        let projection = Projection::from_name(name)?;
        let mut sql = Sql::new("SELECT position FROM rm_checkpoints WHERE ");
        sql.push("name = ?", projection.name());
        match sql.fetch_optional(&self.pool).await? {
            Some(row) => get_u64(&row, "position"),
            None => Err(ProjectionError::NotMigrated(name.to_owned())),
        }
    }

    /// A write transaction. SQLite takes the write lock at `BEGIN IMMEDIATE`: a deferred
    /// transaction that reads first could fail with `SQLITE_BUSY` when it later writes, without
    /// waiting for the busy timeout.
    async fn begin_write(&self) -> Result<Transaction<'static, Any>, ProjectionError> {
        Ok(match self.dialect {
            Dialect::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Dialect::Postgres => self.pool.begin().await?,
        })
    }
}

/// Reads a projection's checkpoint `(position, generation)` and locks its row until the end of
/// the transaction (`FOR UPDATE` on PostgreSQL; SQLite has one writer at a time anyway).
async fn lock_checkpoint(
    conn: &mut AnyConnection,
    dialect: Dialect,
    projection: Projection,
) -> Result<(u64, u64), ProjectionError> {
    let sql = match dialect {
        Dialect::Sqlite => "SELECT position, generation FROM rm_checkpoints WHERE name = $1",
        Dialect::Postgres => {
            "SELECT position, generation FROM rm_checkpoints WHERE name = $1 FOR UPDATE"
        }
    };
    let row = sqlx::query(sql)
        .bind(projection.name())
        .fetch_optional(&mut *conn)
        .await?
        .ok_or_else(|| ProjectionError::NotMigrated(projection.name().to_owned()))?;
    Ok((get_u64(&row, "position")?, get_u64(&row, "generation")?))
}

async fn write_checkpoint(
    conn: &mut AnyConnection,
    projection: Projection,
    position: u64,
    generation: u64,
) -> Result<(), ProjectionError> {
    let mut sql = Sql::new("UPDATE rm_checkpoints SET ");
    sql.push("position = ?", position)
        .push(", generation = ?", generation)
        .push(", updated_at = ?", Utc::now())
        .push(" WHERE name = ?", projection.name());
    db::bind_all(sql.text, sql.args).execute(&mut *conn).await?;
    Ok(())
}
