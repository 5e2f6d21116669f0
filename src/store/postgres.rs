//! The PostgreSQL event log.
//!
//! # Why readers never skip an event (the sequence-gap problem)
//!
//! With a `bigserial` position, a transaction takes its number at insert but becomes visible at
//! commit, so position 11 can be visible while 10 is still in flight; a reader that moves past 11
//! never sees 10. We avoid the problem at its root: every append transaction first locks the
//! single `log_head` row (`SELECT … FOR UPDATE`), reads the head, numbers its events head+1…,
//! and writes the new head. The next appender waits on that row lock until the previous
//! transaction has committed, and PostgreSQL makes a transaction visible before it releases
//! its locks, so commit order *is* position order and a reader may simply read
//! `position > last_seen`. A rolled-back transaction rolls back its head update too, so
//! positions are also gap-free.
//!
//! The price of one lock is one commit at a time per database; we win the throughput back with
//! group commit ([`super::group_commit`]): one transaction carries every append waiting in this
//! process, so 16 writers share one WAL flush. We chose this over the xid8/snapshot-xmin fence
//! (Emmett) because the fence orders readers by (transaction id, position), which breaks the
//! "strictly increasing position" promise of our envelope, and over gap detection with a
//! timeout, which cannot tell a slow transaction from a rolled-back one.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use livesurgery_domain::envelope::{Actor, NewEvent, RecordedEvent};
use sqlx::postgres::{PgConnectOptions, PgListener, PgPool, PgPoolOptions, PgRow};
use sqlx::{Connection, Row};
use tokio::sync::watch;
use uuid::Uuid;

use super::group_commit::{BatchPlan, BatchWriter, GroupCommit, LogSnapshot, advance, plan_batch};
use super::{AppendRequest, AppendResult, EventStore, ExpectedVersion, StoreError, redact_url};

macro_rules! columns {
    () => {
        "position, id, stream, version, type, schema_version, data, actor, correlation_id, \
         causation_id, recorded_at, prev_hash, hash"
    };
}

/// The channel on which every append announces the new head to other processes.
const NOTIFY_CHANNEL: &str = "livesurgery_log";

/// A fallback poll, for notifications missed while the listener reconnects.
const FALLBACK_POLL: Duration = Duration::from_secs(1);

/// The PostgreSQL event log.
pub struct PostgresStore {
    pool: PgPool,
    writer: GroupCommit,
    listener: tokio::task::JoinHandle<()>,
}

struct Writer {
    pool: PgPool,
    cache: std::sync::Mutex<TailCache>,
}

impl PostgresStore {
    /// Connects to and migrates the log at `url`.
    pub async fn open(url: &str) -> anyhow::Result<PostgresStore> {
        use anyhow::Context;
        let options = PgConnectOptions::from_str(url)
            .with_context(|| format!("parsing PostgreSQL URL {}", redact_url(url)))?;
        let pool = PgPoolOptions::new()
            .max_connections(10)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await
            .with_context(|| format!("connecting to PostgreSQL at {}", redact_url(url)))?;
        sqlx::migrate!("schemas/migrations/postgres")
            .run(&pool)
            .await
            .context("running the PostgreSQL event-log migrations")?;
        let head = read_head(&pool).await?;
        let writer = GroupCommit::start(
            Arc::new(Writer {
                pool: pool.clone(),
                cache: Default::default(),
            }),
            head,
        );
        let listener = spawn_listener(pool.clone(), writer.head_sender());
        Ok(PostgresStore {
            pool,
            writer,
            listener,
        })
    }

    /// The connection pool.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

/// Creates an empty database named `<prefix>_<random>` on the server of `admin_url`, for tests
/// and benchmarks; returns its name and URL.
pub async fn create_scratch_database(
    admin_url: &str,
    prefix: &str,
) -> anyhow::Result<(String, String)> {
    use anyhow::Context;
    let name = format!("{prefix}_{}", Uuid::new_v4().simple());
    let mut admin = sqlx::PgConnection::connect(admin_url)
        .await
        .with_context(|| format!("connecting to PostgreSQL at {}", redact_url(admin_url)))?;
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut admin)
        .await
        .with_context(|| format!("creating database {name}"))?;
    let base = match admin_url.rfind('/') {
        Some(i) if i > admin_url.find("://").map_or(0, |s| s + 2) => &admin_url[..i],
        _ => admin_url,
    };
    Ok((name.clone(), format!("{base}/{name}")))
}

/// Drops a database made by [`create_scratch_database`], closing its connections.
pub async fn drop_scratch_database(admin_url: &str, name: &str) -> anyhow::Result<()> {
    let mut admin = sqlx::PgConnection::connect(admin_url).await?;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
    )))
    .execute(&mut admin)
    .await?;
    Ok(())
}

async fn read_head(pool: &PgPool) -> Result<u64, StoreError> {
    let head: i64 = sqlx::query_scalar("SELECT position FROM log_head WHERE id = 1")
        .fetch_one(pool)
        .await?;
    Ok(head as u64)
}

/// Learns of other processes' appends through LISTEN/NOTIFY, with a slow poll as a safety net.
fn spawn_listener(pool: PgPool, head: watch::Sender<u64>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut listener = match PgListener::connect_with(&pool).await {
            Ok(mut l) => match l.listen(NOTIFY_CHANNEL).await {
                Ok(()) => Some(l),
                Err(error) => {
                    tracing::warn!(%error, "LISTEN failed; polling instead");
                    None
                }
            },
            Err(error) => {
                tracing::warn!(%error, "listener connection failed; polling instead");
                None
            }
        };
        loop {
            let notified = match listener.as_mut() {
                Some(l) => tokio::time::timeout(FALLBACK_POLL, l.try_recv()).await,
                None => {
                    tokio::time::sleep(FALLBACK_POLL).await;
                    Ok(Ok(None))
                }
            };
            match notified {
                Ok(Ok(Some(n))) => {
                    if let Ok(position) = n.payload().parse::<u64>() {
                        advance(&head, position);
                    }
                }
                // A time-out, a reconnect (None) or an error: poll the head.
                _ => {
                    if let Ok(position) = read_head(&pool).await {
                        advance(&head, position);
                    }
                }
            }
        }
    })
}

/// The writer's memory of the log's tail, as of its own last commit. It may be stale when
/// another process appends; see [`Writer::try_fast`] for why that is safe.
#[derive(Default)]
struct TailCache {
    head: Option<u64>,
    streams: HashMap<String, (u64, String)>,
}

/// Stream heads remembered at most; past this the cache starts afresh.
const MAX_CACHED_STREAMS: usize = 100_000;

impl TailCache {
    fn remember(&mut self, head: u64, streams: impl IntoIterator<Item = (String, u64, String)>) {
        if self.streams.len() > MAX_CACHED_STREAMS {
            self.streams.clear();
        }
        self.head = Some(head);
        for (stream, version, hash) in streams {
            self.streams.insert(stream, (version, hash));
        }
    }
}

impl Writer {
    /// The fast path: one autocommit statement planned from the cache, no lock, no read.
    ///
    /// Positions and per-stream versions are contiguous and unique in the table, so a plan made
    /// from a stale cache (another process appended meanwhile) always collides with a stored
    /// row: the statement fails whole and the locked path decides again. A statement that
    /// succeeds numbered its events right after a head that was committed and visible, so commit
    /// order is still position order. Returns `None` when the locked path must decide: no cache
    /// yet, a request the cache would refuse (a refusal is only trusted from fresh data), or a
    /// collision (stale cache, or a retried append whose ids are stored).
    async fn try_fast(
        &self,
        requests: &[AppendRequest],
    ) -> Result<Option<(Vec<Result<AppendResult, StoreError>>, u64)>, StoreError> {
        let plan = {
            let cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
            let Some(head) = cache.head else {
                return Ok(None);
            };
            let snapshot = LogSnapshot {
                head,
                existing_ids: HashMap::new(),
                stream_heads: requests
                    .iter()
                    .filter_map(|r| {
                        cache
                            .streams
                            .get(&r.stream)
                            .map(|h| (r.stream.clone(), h.clone()))
                    })
                    .collect(),
            };
            plan_batch(requests, &snapshot, Utc::now())
        };
        if plan.rows.is_empty() || plan.results.iter().any(Result::is_err) {
            return Ok(None);
        }
        match write_rows(&plan).execute(&self.pool).await {
            Ok(_) => {
                self.cache
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remember(plan.new_head, plan.stream_heads);
                Ok(Some((plan.results, plan.new_head)))
            }
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Ok(None),
            Err(other) => {
                // The commit may or may not have happened: forget the tail, so the next batch
                // takes the locked path and reads it afresh.
                *self.cache.lock().unwrap_or_else(|p| p.into_inner()) = TailCache::default();
                Err(other.into())
            }
        }
    }

    /// The locked path: four round trips (lock, read, write, commit), decided on fresh data.
    async fn commit_locked(
        &self,
        requests: &[AppendRequest],
    ) -> Result<(Vec<Result<AppendResult, StoreError>>, u64), StoreError> {
        // 1. The append lock (module documentation), sent with BEGIN. Every lookup below is a
        //    point lookup by a unique key: forbid sequential scans, which the planner picks
        //    for young tables without statistics and which grow with the log.
        let mut conn = self.pool.acquire().await?;
        let mut tx = conn
            .begin_with(
                "BEGIN; SET LOCAL enable_seqscan = off; \
                 SELECT 1 FROM log_head WHERE id = 1 FOR UPDATE",
            )
            .await?;
        // 2. Head, already stored ids, stream heads: one statement, whose snapshot is taken
        //    after the lock was granted, so it sees every earlier append.
        let ids: Vec<Uuid> = requests
            .iter()
            .flat_map(|r| r.events.iter().map(|e| e.id))
            .collect();
        let streams: Vec<&str> = requests.iter().map(|r| r.stream.as_str()).collect();
        let mut snapshot = LogSnapshot::default();
        for row in sqlx::query(
            "SELECT 0 AS kind, NULL::text AS key, NULL::text AS extra, position AS version, \
                    NULL::bigint AS position FROM log_head WHERE id = 1 \
             UNION ALL SELECT 1, id::text, stream, version, position FROM events \
                    WHERE id = ANY($1) \
             UNION ALL SELECT 2, stream, hash, version, NULL FROM streams \
                    WHERE stream = ANY($2)",
        )
        .bind(&ids)
        .bind(&streams)
        .fetch_all(&mut *tx)
        .await?
        {
            let version = row.get::<i64, _>(3) as u64;
            match row.get::<i32, _>(0) {
                0 => snapshot.head = version,
                1 => {
                    if let Ok(id) = Uuid::parse_str(row.get::<&str, _>(1)) {
                        let position = row.get::<i64, _>(4) as u64;
                        snapshot
                            .existing_ids
                            .insert(id, (row.get(2), version, position));
                    }
                }
                _ => {
                    snapshot
                        .stream_heads
                        .insert(row.get(1), (version, row.get(2)));
                }
            }
        }
        let plan = plan_batch(requests, &snapshot, Utc::now());
        // 3. Write.
        if !plan.rows.is_empty() {
            write_rows(&plan).execute(&mut *tx).await?;
        }
        // 4. Commit.
        tx.commit().await?;
        let fresh = snapshot
            .stream_heads
            .into_iter()
            .map(|(stream, (version, hash))| (stream, version, hash))
            .chain(plan.stream_heads);
        self.cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remember(plan.new_head, fresh);
        Ok((plan.results, plan.new_head))
    }
}

/// Events, stream heads, log head and the notification in one statement (data-modifying CTEs
/// always run to completion). The main query reads `new_log_head`, so PostgreSQL runs that
/// UPDATE first and the statement takes the `log_head` row lock before inserting anything: it
/// queues behind a locked-path append instead of deadlocking with it (checked by hand with two
/// psql sessions; the conformance suite mixes both paths across processes).
fn write_rows(
    plan: &BatchPlan,
) -> sqlx::query::Query<'static, sqlx::Postgres, sqlx::postgres::PgArguments> {
    let rows = &plan.rows;
    let heads = &plan.stream_heads;
    sqlx::query(
        "WITH new_events AS ( \
           INSERT INTO events (position, id, stream, version, type, schema_version, \
             data, actor, correlation_id, causation_id, recorded_at, prev_hash, hash) \
           SELECT * FROM UNNEST($1::bigint[], $2::uuid[], $3::text[], $4::bigint[], \
             $5::text[], $6::int[], $7::text[], $8::text[], $9::uuid[], $10::uuid[], \
             $11::timestamptz[], $12::text[], $13::text[]) \
           RETURNING 1), \
         new_heads AS ( \
           INSERT INTO streams (stream, version, hash) \
           SELECT * FROM UNNEST($14::text[], $15::bigint[], $16::text[]) \
           ON CONFLICT (stream) DO UPDATE \
             SET version = excluded.version, hash = excluded.hash \
           RETURNING 1), \
         new_log_head AS ( \
           UPDATE log_head SET position = $17 WHERE id = 1 RETURNING position) \
         SELECT pg_notify($18, position::text) FROM new_log_head",
    )
    .bind(rows.iter().map(|e| e.position as i64).collect::<Vec<_>>())
    .bind(rows.iter().map(|e| e.id).collect::<Vec<_>>())
    .bind(rows.iter().map(|e| e.stream.clone()).collect::<Vec<_>>())
    .bind(rows.iter().map(|e| e.version as i64).collect::<Vec<_>>())
    .bind(
        rows.iter()
            .map(|e| e.event_type.clone())
            .collect::<Vec<_>>(),
    )
    .bind(
        rows.iter()
            .map(|e| e.schema_version as i32)
            .collect::<Vec<_>>(),
    )
    .bind(rows.iter().map(|e| e.data.to_string()).collect::<Vec<_>>())
    .bind(
        rows.iter()
            .map(|e| serde_json::to_string(&e.actor).unwrap_or_default())
            .collect::<Vec<_>>(),
    )
    .bind(rows.iter().map(|e| e.correlation_id).collect::<Vec<_>>())
    .bind(rows.iter().map(|e| e.causation_id).collect::<Vec<_>>())
    .bind(rows.iter().map(|e| e.recorded_at).collect::<Vec<_>>())
    .bind(rows.iter().map(|e| e.prev_hash.clone()).collect::<Vec<_>>())
    .bind(rows.iter().map(|e| e.hash.clone()).collect::<Vec<_>>())
    .bind(heads.iter().map(|h| h.0.clone()).collect::<Vec<_>>())
    .bind(heads.iter().map(|h| h.1 as i64).collect::<Vec<_>>())
    .bind(heads.iter().map(|h| h.2.clone()).collect::<Vec<_>>())
    .bind(plan.new_head as i64)
    .bind(NOTIFY_CHANNEL)
}

#[async_trait]
impl BatchWriter for Writer {
    async fn commit_batch(
        &self,
        requests: &[AppendRequest],
    ) -> Result<(Vec<Result<AppendResult, StoreError>>, u64), StoreError> {
        if let Some(done) = self.try_fast(requests).await? {
            return Ok(done);
        }
        self.commit_locked(requests).await
    }
}

fn decode(row: &PgRow) -> Result<RecordedEvent, StoreError> {
    let position = row.get::<i64, _>(0) as u64;
    let corrupt = |reason: String| StoreError::Corrupt { position, reason };
    let data: String = row.get(6);
    let actor: String = row.get(7);
    Ok(RecordedEvent {
        position,
        id: row.get(1),
        stream: row.get(2),
        version: row.get::<i64, _>(3) as u64,
        event_type: row.get(4),
        schema_version: row.get::<i32, _>(5) as u32,
        data: serde_json::from_str(&data).map_err(|e| corrupt(format!("data: {e}")))?,
        actor: serde_json::from_str::<Actor>(&actor).map_err(|e| corrupt(format!("actor: {e}")))?,
        correlation_id: row.get(8),
        causation_id: row.get(9),
        recorded_at: row.get::<DateTime<Utc>, _>(10),
        prev_hash: row.get(11),
        hash: row.get(12),
    })
}

#[async_trait]
impl EventStore for PostgresStore {
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
        // Safe to read by position alone: appends commit in position order (module docs).
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
        let positions: Vec<i64> = positions.iter().map(|p| *p as i64).collect();
        sqlx::query(concat!(
            "SELECT ",
            columns!(),
            " FROM events WHERE position = ANY($1) ORDER BY position"
        ))
        .bind(positions)
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
            "SELECT stream FROM streams WHERE left(stream, length($1)) = $1 ORDER BY stream",
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
        self.listener.abort();
    }
}
