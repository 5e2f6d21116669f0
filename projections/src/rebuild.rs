//! Rebuilds: refold a projection from position 0 into `__next` tables beside the live ones,
//! then swap them in with one short transaction, so REST reads never see a half-built table.
//!
//! 1. Claim: under the checkpoint row lock, record a fresh token in `rm_rebuilds`, drop any
//!    `__next` tables left by a crashed rebuild, create empty ones (primary keys only: secondary
//!    indexes are cheaper to build once at the end than to maintain row by row).
//! 2. Fold `0..head` into `__next` in big batches, one transaction each; every batch first
//!    checks the token, so a rebuild superseded by a newer one stops instead of writing into the
//!    newer one's tables.
//! 3. Index `__next`.
//! 4. Swap, in one transaction holding the checkpoint row lock (the same lock the live
//!    [`ReadModels::apply`] takes first, so a server applying live events in another process
//!    waits, then continues from the swapped checkpoint): catch up the events appended since,
//!    drop the live tables, rename `__next` to the live names, write checkpoint and generation.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::Utc;
use livesurgery_domain::envelope::RecordedEvent;
use livesurgery_domain::events::Event;
use serde::{Deserialize, Serialize};
use sqlx::{Any, AnyConnection, Connection, Transaction};
use uuid::Uuid;

use crate::db::{Dialect, Sql, bind_all, get_text};
use crate::error::{BoxError, ProjectionError};
use crate::fold::{Parsed, Projection, State, Write, check_order, execute, parse_all};
use crate::schema::NEXT;
use crate::{ReadModels, lock_checkpoint, write_checkpoint};

/// Events per rebuild batch (one read, one fold, one transaction).
const REBUILD_BATCH: usize = 5_000;

/// The event log as a rebuild reads it; the server adapts its event store to this.
#[async_trait]
pub trait EventSource: Send + Sync {
    /// Up to `limit` events with position greater than `after_position`, in position order.
    async fn read_all(
        &self,
        after_position: u64,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, BoxError>;

    /// The position of the last event in the log (0 when empty).
    async fn head_position(&self) -> Result<u64, BoxError>;
}

/// How far a rebuild is, reported after every batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RebuildProgress {
    /// The last position folded into the new tables.
    pub position: u64,
    /// The log head when the rebuild started (the catch-up may go past it).
    pub head: u64,
    /// Events folded so far.
    pub events_applied: u64,
}

/// The outcome of a completed rebuild.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RebuildReport {
    /// The projections rebuilt.
    pub projections: Vec<String>,
    /// The generation of the tables now live.
    pub generation: u64,
    /// The checkpoint the projections were swapped in at.
    pub position: u64,
    /// Events folded so far.
    pub events_applied: u64,
    /// Wall-clock time of the whole rebuild.
    pub elapsed: Duration,
    /// Of which reading and folding the log into the new tables.
    pub fold_elapsed: Duration,
    /// Of which building their secondary indexes (the swap is the rest).
    pub index_elapsed: Duration,
}

impl RebuildReport {
    /// Events folded per second.
    pub fn events_per_second(&self) -> f64 {
        self.events_applied as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

impl ReadModels {
    /// Rebuilds projection `name` from the whole log while its live tables keep serving reads.
    pub async fn rebuild(
        &self,
        name: &str,
        source: Arc<dyn EventSource>,
        progress: impl FnMut(RebuildProgress) + Send,
    ) -> Result<RebuildReport, ProjectionError> {
        let projection = Projection::from_name(name)?;
        self.rebuild_projections(&[projection], source, progress)
            .await
    }

    /// Rebuilds every projection in one pass over the log.
    pub async fn rebuild_all(
        &self,
        source: Arc<dyn EventSource>,
        progress: impl FnMut(RebuildProgress) + Send,
    ) -> Result<RebuildReport, ProjectionError> {
        self.rebuild_projections(&Projection::ALL, source, progress)
            .await
    }

    async fn rebuild_projections(
        &self,
        projections: &[Projection],
        source: Arc<dyn EventSource>,
        mut progress: impl FnMut(RebuildProgress) + Send,
    ) -> Result<RebuildReport, ProjectionError> {
        let started = Instant::now();
        let mut projections = projections.to_vec();
        projections.sort();
        let token = Uuid::new_v4().to_string();
        let generations = self.claim(&projections, &token).await?;
        let generation = generations.iter().copied().max().unwrap_or(1);
        // One connection for the whole rebuild: SQLite drops a connection's page cache whenever
        // another connection wrote, so rotating through the pool would re-read every page. It
        // is detached from the pool because its durability is lowered for the batches below.
        let mut conn = self.pool.acquire().await?.detach();
        // Nobody reads `__next` before the swap and a crash abandons the rebuild anyway, so the
        // batches need not wait for the disk; the swap transaction is fully durable again.
        set_durable(&mut conn, self.dialect, false).await?;
        if self.dialect == Dialect::Sqlite {
            // The new tables' B-trees and the index sorts stay in memory (256 MiB, for the
            // duration of the rebuild: the connection is closed afterwards).
            sqlx::query("PRAGMA cache_size = -262144")
                .execute(&mut conn)
                .await?;
        }

        let head = source
            .head_position()
            .await
            .map_err(ProjectionError::Source)?;
        // The rebuild is the only writer of `__next`, so its in-memory state is the truth:
        // batches are folded without reading anything back from the database.
        let mut states: Vec<State> = projections.iter().map(|p| p.new_state()).collect();
        // A pipeline of three tasks: one reads and parses, this one folds, one writes; so the
        // source, the fold and the database each work on their own batch at the same time.
        let (read_tx, mut read_rx) = tokio::sync::mpsc::channel(2);
        let reader = tokio::spawn(read_batches(
            source.clone(),
            head,
            projections.clone(),
            read_tx,
        ));
        let (batches, batches_rx) = tokio::sync::mpsc::channel::<Batch>(2);
        let (acks_tx, mut acks) = tokio::sync::mpsc::unbounded_channel::<(u64, u64)>();
        let writer = tokio::spawn(write_batches(
            conn,
            self.dialect,
            projections.clone(),
            token.clone(),
            batches_rx,
            acks_tx,
        ));
        let mut position = 0u64;
        let mut folded = 0u64;
        while let Some((events, parsed)) = read_rx.recv().await {
            let Some(last) = events.last().map(|e: &RecordedEvent| e.position) else {
                break;
            };
            folded += events.len() as u64;
            let items = Parsed::zip(&events, parsed);
            let mut writes = Vec::new();
            for (projection, state) in projections.iter().zip(&mut states) {
                writes.extend(projection.fold(state, &items));
                state.compact();
            }
            drop(items);
            drop(events);
            let batch = Batch {
                writes,
                last,
                applied: folded,
            };
            if batches.send(batch).await.is_err() {
                break; // The writer failed; its error comes out of the join below.
            }
            position = last;
            while let Ok((position, applied)) = acks.try_recv() {
                progress(RebuildProgress {
                    position,
                    head,
                    events_applied: applied,
                });
            }
        }
        drop(batches);
        drop(read_rx);
        reader
            .await
            .map_err(|e| ProjectionError::Internal(format!("rebuild reader task: {e}")))??;
        let mut conn = writer
            .await
            .map_err(|e| ProjectionError::Internal(format!("rebuild writer task: {e}")))??;
        while let Ok((position, applied)) = acks.try_recv() {
            progress(RebuildProgress {
                position,
                head,
                events_applied: applied,
            });
        }
        let mut applied = folded;
        let folded_at = started.elapsed();

        let mut tx = begin_on(&mut conn, self.dialect).await?;
        for (&projection, &generation) in projections.iter().zip(&generations) {
            check_token(&mut tx, self.dialect, projection, &token).await?;
            for table in projection.tables() {
                for statement in table.create_indexes(NEXT, generation) {
                    sqlx::query(sqlx::AssertSqlSafe(statement))
                        .execute(&mut *tx)
                        .await?;
                }
            }
        }
        tx.commit().await?;
        let indexed_at = started.elapsed();

        set_durable(&mut conn, self.dialect, true).await?;
        // The swap. Live appliers block on the checkpoint rows from here to the commit.
        let mut tx = begin_on(&mut conn, self.dialect).await?;
        for &projection in &projections {
            lock_checkpoint(&mut tx, self.dialect, projection).await?;
            check_token(&mut tx, self.dialect, projection, &token).await?;
        }
        loop {
            let events = read(source.as_ref(), position).await?;
            let Some(last) = events.last().map(|e| e.position) else {
                break;
            };
            let items = Parsed::zip(&events, parse_all(&events));
            for (projection, state) in projections.iter().zip(&mut states) {
                let writes = projection.fold(state, &items);
                execute(&mut tx, self.dialect, NEXT, writes).await?;
            }
            position = last;
            applied += events.len() as u64;
        }
        for (&projection, &generation) in projections.iter().zip(&generations) {
            for table in projection.tables() {
                let live = table.name("");
                let next = table.name(NEXT);
                for statement in [
                    format!("DROP TABLE IF EXISTS {live}"),
                    format!("ALTER TABLE {next} RENAME TO {live}"),
                ] {
                    sqlx::query(sqlx::AssertSqlSafe(statement))
                        .execute(&mut *tx)
                        .await?;
                }
            }
            write_checkpoint(&mut tx, projection, position, generation).await?;
            sqlx::query("DELETE FROM rm_rebuilds WHERE name = $1")
                .bind(projection.name())
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        progress(RebuildProgress {
            position,
            head,
            events_applied: applied,
        });
        tracing::info!(
            projections = ?projections,
            generation,
            position,
            events = applied,
            "read models rebuilt and swapped in"
        );
        Ok(RebuildReport {
            projections: projections.iter().map(|p| p.name().to_owned()).collect(),
            generation,
            position,
            events_applied: applied,
            elapsed: started.elapsed(),
            fold_elapsed: folded_at,
            index_elapsed: indexed_at - folded_at,
        })
    }

    /// Step 1: takes ownership of the `__next` tables with `token` and creates them empty;
    /// returns the generation each projection's new tables will have.
    async fn claim(
        &self,
        projections: &[Projection],
        token: &str,
    ) -> Result<Vec<u64>, ProjectionError> {
        let mut tx = self.begin_write().await?;
        let mut generations = Vec::with_capacity(projections.len());
        let now = Utc::now();
        for &projection in projections {
            let (_, live_generation) = lock_checkpoint(&mut tx, self.dialect, projection).await?;
            let generation = live_generation + 1;
            let mut sql = Sql::new(
                "INSERT INTO rm_rebuilds (name, token, generation, position, started_at, updated_at) \
                 VALUES (",
            );
            sql.push("?, ", projection.name())
                .push("?, ", token)
                .push("?, 0, ", generation)
                .push("?, ", now)
                .push("?)", now)
                .raw(
                    " ON CONFLICT (name) DO UPDATE SET token = excluded.token, \
                     generation = excluded.generation, position = 0, \
                     started_at = excluded.started_at, updated_at = excluded.updated_at",
                );
            bind_all(sql.text, sql.args).execute(&mut *tx).await?;
            for table in projection.tables() {
                // Secondary indexes come after the fold: building one from sorted keys at the
                // end costs about half of maintaining it row by row (measured).
                for statement in [
                    format!("DROP TABLE IF EXISTS {}", table.name(NEXT)),
                    table.create_table(self.dialect, NEXT, generation),
                ] {
                    sqlx::query(sqlx::AssertSqlSafe(statement))
                        .execute(&mut *tx)
                        .await?;
                }
            }
            generations.push(generation);
        }
        tx.commit().await?;
        Ok(generations)
    }
}

async fn read(source: &dyn EventSource, after: u64) -> Result<Vec<RecordedEvent>, ProjectionError> {
    let events = source
        .read_all(after, REBUILD_BATCH)
        .await
        .map_err(ProjectionError::Source)?;
    check_order(&events)?;
    if let Some(first) = events.first().filter(|e| e.position <= after) {
        return Err(ProjectionError::OutOfOrder {
            previous: after,
            position: first.position,
        });
    }
    Ok(events)
}

/// Switches commit durability of `conn`: `synchronous` FULL or NORMAL on SQLite (in WAL mode,
/// NORMAL loses the last commits on power loss but never corrupts), `synchronous_commit` on
/// PostgreSQL.
async fn set_durable(
    conn: &mut AnyConnection,
    dialect: Dialect,
    durable: bool,
) -> Result<(), ProjectionError> {
    let statement = match (dialect, durable) {
        (Dialect::Sqlite, true) => "PRAGMA synchronous = FULL",
        (Dialect::Sqlite, false) => "PRAGMA synchronous = NORMAL",
        (Dialect::Postgres, true) => "SET synchronous_commit = on",
        (Dialect::Postgres, false) => "SET synchronous_commit = off",
    };
    sqlx::query(statement).execute(&mut *conn).await?;
    Ok(())
}

/// A write transaction on `conn` (see `ReadModels::begin_write`).
async fn begin_on(
    conn: &mut AnyConnection,
    dialect: Dialect,
) -> Result<Transaction<'_, Any>, ProjectionError> {
    Ok(match dialect {
        Dialect::Sqlite => conn.begin_with("BEGIN IMMEDIATE").await?,
        Dialect::Postgres => conn.begin().await?,
    })
}

/// Step 2, the reader: reads the log up to `head` (at least) and parses what `projections`
/// need, off the folding task.
async fn read_batches(
    source: Arc<dyn EventSource>,
    head: u64,
    projections: Vec<Projection>,
    out: tokio::sync::mpsc::Sender<(Vec<RecordedEvent>, Vec<Option<Event>>)>,
) -> Result<(), ProjectionError> {
    let mut position = 0;
    while position < head {
        let events = read(source.as_ref(), position).await?;
        let Some(last) = events.last().map(|e| e.position) else {
            break;
        };
        let parsed = events
            .iter()
            .map(|ev| {
                projections
                    .iter()
                    .any(|p| p.wants(&ev.event_type))
                    .then(|| Event::from_stored(&ev.event_type, ev.schema_version, &ev.data).ok())
                    .flatten()
            })
            .collect();
        position = last;
        if out.send((events, parsed)).await.is_err() {
            break; // The fold stopped; its error is reported there.
        }
    }
    Ok(())
}

/// One folded batch on its way to the writer task.
struct Batch {
    writes: Vec<Write>,
    last: u64,
    /// Events folded so far, this batch included.
    applied: u64,
}

/// Step 2, the writer: each batch in one transaction on `conn`, if this rebuild still owns the
/// `__next` tables; reports `(position, events applied)` after each commit. Returns the
/// connection for the next steps.
async fn write_batches(
    mut conn: AnyConnection,
    dialect: Dialect,
    projections: Vec<Projection>,
    token: String,
    mut batches: tokio::sync::mpsc::Receiver<Batch>,
    acks: tokio::sync::mpsc::UnboundedSender<(u64, u64)>,
) -> Result<AnyConnection, ProjectionError> {
    while let Some(batch) = batches.recv().await {
        let mut tx = begin_on(&mut conn, dialect).await?;
        for &projection in &projections {
            check_token(&mut tx, dialect, projection, &token).await?;
        }
        execute(&mut tx, dialect, NEXT, batch.writes).await?;
        for &projection in &projections {
            let mut sql = Sql::new("UPDATE rm_rebuilds SET ");
            sql.push("position = ?", batch.last)
                .push(", updated_at = ?", Utc::now())
                .push(" WHERE name = ?", projection.name());
            bind_all(sql.text, sql.args).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        // The receiver is gone only if the rebuild itself stopped.
        let _ = acks.send((batch.last, batch.applied));
    }
    Ok(conn)
}

/// Fails with [`ProjectionError::RebuildSuperseded`] unless this rebuild still owns the
/// projection's `__next` tables; locks the claim until the end of the transaction.
async fn check_token(
    conn: &mut AnyConnection,
    dialect: Dialect,
    projection: Projection,
    token: &str,
) -> Result<(), ProjectionError> {
    let sql = match dialect {
        Dialect::Sqlite => "SELECT token FROM rm_rebuilds WHERE name = $1",
        Dialect::Postgres => "SELECT token FROM rm_rebuilds WHERE name = $1 FOR UPDATE",
    };
    let row = sqlx::query(sql)
        .bind(projection.name())
        .fetch_optional(&mut *conn)
        .await?;
    match row.map(|r| get_text(&r, "token")).transpose()? {
        Some(current) if current == token => Ok(()),
        _ => Err(ProjectionError::RebuildSuperseded(
            projection.name().to_owned(),
        )),
    }
}
