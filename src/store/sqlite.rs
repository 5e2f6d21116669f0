//! The embedded event log: a SQLite file (WAL, `synchronous=FULL`: an acknowledged append is on
//! disk). One writer task per process; `BEGIN IMMEDIATE` serialises writers across processes.

use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use livesurgery_domain::envelope::{Actor, RecordedEvent};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{Connection, QueryBuilder, Row, Sqlite};
use tokio::sync::watch;

use super::group_commit::{BatchWriter, GroupCommit, LogSnapshot, advance, plan_batch};
use super::{AppendRequest, AppendResult, EventStore, ExpectedVersion, StoreError};
use livesurgery_domain::envelope::NewEvent;

macro_rules! columns {
    () => {
        "position, id, stream, version, type, schema_version, data, actor, correlation_id, \
         causation_id, recorded_at, prev_hash, hash"
    };
}

/// How often a subscriber looks for appends made by another process (this process's own
/// appends wake it at once).
const CROSS_PROCESS_POLL: Duration = Duration::from_millis(200);
/// How long an append waits for SQLite's write lock before it fails (every connection's busy
/// timeout; the writer's own wait in `LockWait`).
const WRITE_LOCK_WAIT: Duration = Duration::from_secs(10);
/// How long the writer asks again at once for a write lock the projector holds, before it
/// waits a millisecond between attempts.
const WRITE_LOCK_SPIN: Duration = Duration::from_millis(2);
/// Rows per multi-row INSERT: 13 parameters each stays well under SQLite's 32,766.
const ROWS_PER_INSERT: usize = 1000;

/// The SQLite event log.
pub struct SqliteStore {
    pool: SqlitePool,
    writer: GroupCommit,
    poller: tokio::task::JoinHandle<()>,
}

struct Writer {
    pool: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating file and folder when missing) and migrates the log at `url`.
    pub async fn open(url: &str) -> anyhow::Result<SqliteStore> {
        use anyhow::Context;
        let pool = connect(url).await?;
        sqlx::migrate!("schemas/migrations/sqlite")
            .run(&pool)
            .await
            .context("running the SQLite event-log migrations")?;
        let head = read_head(&pool).await?;
        // The writer's own connection, which asks for the write lock without SQLite's busy
        // handler (see `LockWait`).
        let writer_pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options(url)?)
            .await
            .with_context(|| format!("opening the log's writer connection to {url}"))?;
        let writer = GroupCommit::start(Arc::new(Writer { pool: writer_pool }), head);
        let poller = spawn_head_poller(pool.clone(), writer.head_sender());
        Ok(SqliteStore {
            pool,
            writer,
            poller,
        })
    }

    /// The connection pool, for the read models that live in the same file.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }
}

/// The settings the log needs on every connection.
fn options(url: &str) -> anyhow::Result<SqliteConnectOptions> {
    use anyhow::Context;
    Ok(SqliteConnectOptions::from_str(url)
        .with_context(|| format!("parsing SQLite URL {url}"))?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .busy_timeout(WRITE_LOCK_WAIT)
        .foreign_keys(true))
}

/// Opens a pool on a SQLite URL with the settings the log needs.
pub async fn connect(url: &str) -> anyhow::Result<SqlitePool> {
    use anyhow::Context;
    let options = options(url)?;
    if let Some(parent) = options.get_filename().parent()
        && !parent.as_os_str().is_empty()
    {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating the data folder {}", parent.display()))?;
    }
    let file = options.get_filename().to_owned();
    owner_only(&file)?;
    let pool = SqlitePoolOptions::new()
        .max_connections(8)
        .connect_with(options)
        .await
        .with_context(|| format!("opening SQLite database {url}"))?;
    // The first connection made the WAL and shared-memory files (with the database's mode).
    owner_only(&file)?;
    Ok(pool)
}

/// The database file and its `-wal` and `-shm` files readable by their owner only (0600): they
/// hold password hashes and patient data. Creates the database file so when it is missing
/// (SQLite would make it 0644, and its `-wal` and `-shm` files copy its mode); tightens the mode
/// of files left more open by an older version.
fn owner_only(file: &std::path::Path) -> anyhow::Result<()> {
    use anyhow::Context;
    if file.as_os_str().is_empty() || file == std::path::Path::new(":memory:") {
        return Ok(());
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        if !file.exists() {
            std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(false)
                .mode(0o600)
                .open(file)
                .with_context(|| format!("creating the database file {}", file.display()))?;
        }
        let mut names = vec![file.to_owned()];
        for suffix in ["-wal", "-shm", "-journal"] {
            let mut name = file.as_os_str().to_owned();
            name.push(suffix);
            names.push(name.into());
        }
        for name in names {
            let Ok(metadata) = std::fs::metadata(&name) else {
                continue;
            };
            if metadata.permissions().mode() & 0o077 != 0 {
                std::fs::set_permissions(&name, std::fs::Permissions::from_mode(0o600))
                    .with_context(|| format!("making {} private (0600)", name.display()))?;
            }
        }
    }
    Ok(())
}

async fn read_head(pool: &SqlitePool) -> Result<u64, StoreError> {
    let head: i64 = sqlx::query_scalar("SELECT position FROM log_head WHERE id = 1")
        .fetch_one(pool)
        .await?;
    Ok(head as u64)
}

fn spawn_head_poller(pool: SqlitePool, head: watch::Sender<u64>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(CROSS_PROCESS_POLL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Ok(position) = read_head(&pool).await {
                advance(&head, position);
            }
        }
    })
}

/// Waits between attempts at the file's write lock. The projector holds it briefly after each
/// commit (its read models live in the same file), so under steady writes the next batch finds
/// it taken about once per batch; SQLite's busy handler would then sleep 1 ms, then 2, 5, 10...
/// (measured: one sleep per `PATCH .../layout` with one client, about 0.6 ms of its 2.6 ms). The
/// writer turns its connection's handler off for `BEGIN IMMEDIATE` and asks again at once while
/// the wait is short, then every millisecond, for up to [`WRITE_LOCK_WAIT`] as before; once the
/// lock is held the handler is back on, for the rare busy read of a WAL file that another
/// connection is recovering or checkpointing.
struct LockWait {
    started: Instant,
    attempts: u32,
}

impl LockWait {
    const HANDLER_OFF: &str = "PRAGMA busy_timeout = 0";
    /// [`WRITE_LOCK_WAIT`] in milliseconds.
    const HANDLER_ON: &str = "PRAGMA busy_timeout = 10000";
    const _SAME_WAIT: () = assert!(WRITE_LOCK_WAIT.as_millis() == 10_000);

    fn new() -> LockWait {
        LockWait {
            started: Instant::now(),
            attempts: 0,
        }
    }

    /// Waits before the next attempt; `false` once the time is up.
    async fn again(&mut self) -> bool {
        let waited = self.started.elapsed();
        if waited >= WRITE_LOCK_WAIT {
            tracing::warn!(
                attempts = self.attempts,
                waited_ms = waited.as_millis() as u64,
                "the event log could not take SQLite's write lock"
            );
            return false;
        }
        self.attempts += 1;
        if waited < WRITE_LOCK_SPIN {
            tokio::task::yield_now().await;
        } else {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        true
    }
}

/// SQLite's `SQLITE_BUSY`, with any of its extended codes.
fn is_busy(error: &sqlx::Error) -> bool {
    error
        .as_database_error()
        .and_then(|e| e.code())
        .and_then(|code| code.parse::<i32>().ok())
        .is_some_and(|code| code & 0xff == 5)
}

#[async_trait]
impl BatchWriter for Writer {
    async fn commit_batch(
        &self,
        requests: &[AppendRequest],
    ) -> Result<(Vec<Result<AppendResult, StoreError>>, u64), StoreError> {
        let mut conn = self.pool.acquire().await?;
        sqlx::query(LockWait::HANDLER_OFF)
            .execute(&mut *conn)
            .await?;
        let mut wait = LockWait::new();
        let mut tx = loop {
            match conn.begin_with("BEGIN IMMEDIATE").await {
                Ok(tx) => break tx,
                Err(error) if is_busy(&error) && wait.again().await => {}
                Err(error) => return Err(error.into()),
            }
        };
        sqlx::query(LockWait::HANDLER_ON).execute(&mut *tx).await?;

        let mut snapshot = LogSnapshot {
            head: sqlx::query_scalar::<_, i64>("SELECT position FROM log_head WHERE id = 1")
                .fetch_one(&mut *tx)
                .await? as u64,
            ..LogSnapshot::default()
        };
        let ids: Vec<String> = requests
            .iter()
            .flat_map(|r| r.events.iter().map(|e| e.id.to_string()))
            .collect();
        let ids_json = serde_json::to_string(&ids).unwrap_or_else(|_| "[]".into());
        for row in sqlx::query(
            "SELECT id, stream, version, position FROM events \
             WHERE id IN (SELECT value FROM json_each($1))",
        )
        .bind(&ids_json)
        .fetch_all(&mut *tx)
        .await?
        {
            let id: String = row.get(0);
            if let Ok(id) = uuid::Uuid::parse_str(&id) {
                snapshot.existing_ids.insert(
                    id,
                    (
                        row.get(1),
                        row.get::<i64, _>(2) as u64,
                        row.get::<i64, _>(3) as u64,
                    ),
                );
            }
        }
        let streams: Vec<&str> = requests.iter().map(|r| r.stream.as_str()).collect();
        let streams_json = serde_json::to_string(&streams).unwrap_or_else(|_| "[]".into());
        for row in sqlx::query(
            "SELECT stream, version, hash FROM streams \
             WHERE stream IN (SELECT value FROM json_each($1))",
        )
        .bind(&streams_json)
        .fetch_all(&mut *tx)
        .await?
        {
            snapshot.stream_heads.insert(
                row.get(0),
                (row.get::<i64, _>(1) as u64, row.get::<String, _>(2)),
            );
        }

        let plan = plan_batch(requests, &snapshot, Utc::now());
        // Multi-row statements: one round trip to SQLite's worker thread per chunk, not
        // one per event (a batch can hold hundreds of appends).
        for chunk in plan.rows.chunks(ROWS_PER_INSERT) {
            let mut insert = QueryBuilder::<Sqlite>::new(
                "INSERT INTO events (position, id, stream, version, type, schema_version, data, \
                 actor, correlation_id, causation_id, recorded_at, prev_hash, hash) ",
            );
            insert.push_values(chunk, |mut row, event| {
                row.push_bind(event.position as i64)
                    .push_bind(event.id.to_string())
                    .push_bind(&event.stream)
                    .push_bind(event.version as i64)
                    .push_bind(&event.event_type)
                    .push_bind(event.schema_version as i64)
                    .push_bind(event.data.to_string())
                    .push_bind(serde_json::to_string(&event.actor).unwrap_or_default())
                    .push_bind(event.correlation_id.to_string())
                    .push_bind(event.causation_id.map(|c| c.to_string()))
                    .push_bind(format_time(event.recorded_at))
                    .push_bind(&event.prev_hash)
                    .push_bind(&event.hash);
            });
            insert.build().execute(&mut *tx).await?;
        }
        for chunk in plan.stream_heads.chunks(ROWS_PER_INSERT) {
            let mut upsert =
                QueryBuilder::<Sqlite>::new("INSERT INTO streams (stream, version, hash) ");
            upsert.push_values(chunk, |mut row, (stream, version, hash)| {
                row.push_bind(stream)
                    .push_bind(*version as i64)
                    .push_bind(hash);
            });
            upsert.push(
                " ON CONFLICT (stream) DO UPDATE SET version = excluded.version, hash = excluded.hash",
            );
            upsert.build().execute(&mut *tx).await?;
        }
        if plan.new_head != snapshot.head {
            sqlx::query("UPDATE log_head SET position = $1 WHERE id = 1")
                .bind(plan.new_head as i64)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok((plan.results, plan.new_head))
    }
}

/// Times are stored as RFC 3339 with microseconds and `Z`, so text order is time order.
pub(crate) fn format_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

fn decode(row: &SqliteRow) -> Result<RecordedEvent, StoreError> {
    let position = row.get::<i64, _>(0) as u64;
    let corrupt = |reason: String| StoreError::Corrupt { position, reason };
    let uuid = |s: String| uuid::Uuid::parse_str(&s).map_err(|e| corrupt(e.to_string()));
    let data: String = row.get(6);
    let actor: String = row.get(7);
    let recorded_at: String = row.get(10);
    Ok(RecordedEvent {
        position,
        id: uuid(row.get(1))?,
        stream: row.get(2),
        version: row.get::<i64, _>(3) as u64,
        event_type: row.get(4),
        schema_version: row.get::<i64, _>(5) as u32,
        data: serde_json::from_str(&data).map_err(|e| corrupt(format!("data: {e}")))?,
        actor: serde_json::from_str::<Actor>(&actor).map_err(|e| corrupt(format!("actor: {e}")))?,
        correlation_id: uuid(row.get(8))?,
        causation_id: row.get::<Option<String>, _>(9).map(uuid).transpose()?,
        recorded_at: DateTime::parse_from_rfc3339(&recorded_at)
            .map_err(|e| corrupt(format!("recorded_at: {e}")))?
            .with_timezone(&Utc),
        prev_hash: row.get(11),
        hash: row.get(12),
    })
}

#[async_trait]
impl EventStore for SqliteStore {
    async fn append(
        &self,
        stream: &str,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> Result<AppendResult, StoreError> {
        self.writer
            .append(AppendRequest {
                stream: stream.to_owned(),
                expected,
                events,
            })
            .await
    }

    async fn read_stream(
        &self,
        stream: &str,
        from_version: u64,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        sqlx::query(concat!(
            "SELECT ",
            columns!(),
            " FROM events WHERE stream = $1 AND version >= $2 ORDER BY version LIMIT $3"
        ))
        .bind(stream)
        .bind(from_version as i64)
        .bind(limit as i64)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(decode)
        .collect()
    }

    async fn read_all(
        &self,
        after_position: u64,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        // SQLite has one writer at a time and positions are assigned under its lock, so
        // commit order is position order: reading by position cannot skip anything.
        sqlx::query(concat!(
            "SELECT ",
            columns!(),
            " FROM events WHERE position > $1 ORDER BY position LIMIT $2"
        ))
        .bind(after_position as i64)
        .bind(limit as i64)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(decode)
        .collect()
    }

    async fn read_positions(&self, positions: &[u64]) -> Result<Vec<RecordedEvent>, StoreError> {
        if positions.is_empty() {
            return Ok(Vec::new());
        }
        // One statement for any number of positions: they travel as a JSON array.
        let list = serde_json::to_string(positions).unwrap_or_else(|_| "[]".to_owned());
        sqlx::query(concat!(
            "SELECT ",
            columns!(),
            " FROM events WHERE position IN (SELECT value FROM json_each($1)) ORDER BY position"
        ))
        .bind(list)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(decode)
        .collect()
    }

    async fn head_position(&self) -> Result<u64, StoreError> {
        read_head(&self.pool).await
    }

    async fn stream_head(&self, stream: &str) -> Result<Option<(u64, String)>, StoreError> {
        let row = sqlx::query("SELECT version, hash FROM streams WHERE stream = $1")
            .bind(stream)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| (r.get::<i64, _>(0) as u64, r.get::<String, _>(1))))
    }

    async fn stream_names(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT stream FROM streams WHERE substr(stream, 1, length($1)) = $1 ORDER BY stream",
        )
        .bind(prefix)
        .fetch_all(&self.pool)
        .await?)
    }

    fn head_watch(&self) -> watch::Receiver<u64> {
        self.writer.head_watch()
    }

    async fn close(&self) {
        self.writer.close().await;
        self.poller.abort();
    }
}
