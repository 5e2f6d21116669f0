//! The media nodes: which server processes hold media now, in the `media_nodes` table beside
//! the log (operational state, not history: a heartbeat every two seconds has no place in an
//! audited log). One SQL statement per function, through `sqlx::any`; times are microseconds
//! since the Unix epoch on the writer's clock, so the nodes' clocks must agree (NTP) well
//! within a heartbeat's lifetime.

use std::collections::HashMap;
use std::time::Duration;

use chrono::Utc;
use sqlx::{AnyPool, Row};

/// This server process as a media node.
#[derive(Debug, Clone)]
pub struct MediaNode {
    /// New at every start: a restarted process is a new node, so the sessions placed on it
    /// before (whose peers died with it) are placed again and their clients reconnect.
    pub id: String,
    /// Its base URL for WHIP/WHEP, as `MediaPlaced` records it.
    pub url: String,
    /// Whether `url` was configured (`--media-url` or `--public-url`); when not, a join or a
    /// push served by this node names this node by the request's own base instead, as a single
    /// server always did (the bound address may not be what clients reach).
    pub configured: bool,
}

impl MediaNode {
    /// A new node id for this start, with its URL.
    pub fn new(url: String, configured: bool) -> MediaNode {
        MediaNode {
            id: uuid::Uuid::now_v7().to_string(),
            url: url.trim_end_matches('/').to_owned(),
            configured,
        }
    }
}

fn micros(at: chrono::DateTime<Utc>) -> i64 {
    at.timestamp_micros()
}

fn micros_of(duration: Duration) -> i64 {
    i64::try_from(duration.as_micros()).unwrap_or(i64::MAX)
}

/// The `media_nodes` table.
#[derive(Debug, Clone)]
pub struct MediaNodes {
    pool: AnyPool,
}

impl MediaNodes {
    /// Over the database the log lives in (the table comes with the log's migrations).
    pub fn new(pool: AnyPool) -> MediaNodes {
        MediaNodes { pool }
    }

    /// Writes or renews this node's row: live for `ttl` from now.
    #[tracing::instrument(level = "debug", skip_all, fields(node = %node.id))]
    pub async fn beat(&self, node: &MediaNode, ttl: Duration) -> Result<(), sqlx::Error> {
        let now = micros(Utc::now());
        sqlx::query(
            "INSERT INTO media_nodes (node_id, url, started_at, heartbeat_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (node_id) DO UPDATE SET url = excluded.url, \
             heartbeat_at = excluded.heartbeat_at, expires_at = excluded.expires_at",
        )
        .bind(&node.id)
        .bind(&node.url)
        .bind(now)
        .bind(now)
        .bind(now.saturating_add(micros_of(ttl)))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The nodes live now: node id -> base URL.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn live(&self) -> Result<HashMap<String, String>, sqlx::Error> {
        let rows = sqlx::query("SELECT node_id, url FROM media_nodes WHERE expires_at > $1")
            .bind(micros(Utc::now()))
            .fetch_all(&self.pool)
            .await?;
        Ok(rows
            .iter()
            .filter_map(|row| {
                let id: String = row.try_get("node_id").ok()?;
                let url: String = row.try_get("url").ok()?;
                Some((id, url))
            })
            .collect())
    }

    /// Deletes a node's row: it stops, and the other nodes place its sessions again at once.
    #[tracing::instrument(level = "debug", skip(self))]
    pub async fn remove(&self, node_id: &str) -> Result<(), sqlx::Error> {
        sqlx::query("DELETE FROM media_nodes WHERE node_id = $1")
            .bind(node_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Deletes the rows of nodes gone for longer than `after` (killed, so never removed).
    #[tracing::instrument(level = "debug", skip(self))]
    pub async fn forget_gone(&self, after: Duration) -> Result<u64, sqlx::Error> {
        let done = sqlx::query("DELETE FROM media_nodes WHERE expires_at < $1")
            .bind(micros(Utc::now()).saturating_sub(micros_of(after)))
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }
}
