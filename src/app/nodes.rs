//! The media nodes: which server processes hold media now, in the `media_nodes` table beside
//! the log (operational state, not history: a heartbeat every two seconds has no place in an
//! audited log). One SQL statement per function, through `sqlx::any`; times are microseconds
//! since the Unix epoch on the writer's clock, so the nodes' clocks must agree (NTP) well
//! within a heartbeat's lifetime.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use chrono::Utc;
use sha2::{Digest, Sha256};
use sqlx::{AnyPool, Row};
use uuid::Uuid;

/// This server process as a media node.
#[derive(Debug, Clone)]
pub struct MediaNode {
    /// Kept in the data folder per URL ([`MediaNode::in_data_dir`]): a process that restarts
    /// with the same folder and URL is the same node, so the sessions placed on it stay (their
    /// clients reconnect to the same URLs, and start-up recovery closes what the previous run
    /// left open); another URL, or another folder, is another node.
    pub id: String,
    /// Its base URL for WHIP/WHEP, as `MediaPlaced` records it.
    pub url: String,
    /// Whether `url` was configured (`--media-url` or `--public-url`); when not, a join or a
    /// push served by this node names this node by the request's own base instead, as a single
    /// server always did (the bound address may not be what clients reach).
    pub configured: bool,
    /// Whether sessions' media may be placed here (`--media-node`); an API-only node neither
    /// registers nor takes placements.
    pub holds_media: bool,
}

impl MediaNode {
    /// The node at `url` whose id is kept in `data_dir` (made at its first start there).
    pub fn in_data_dir(
        data_dir: &Path,
        url: String,
        configured: bool,
        holds_media: bool,
    ) -> anyhow::Result<MediaNode> {
        let url = url.trim_end_matches('/').to_owned();
        let digest = hex::encode(Sha256::digest(url.as_bytes()));
        let path = data_dir.join(format!("node-{}.id", &digest[..16]));
        let id = match std::fs::read_to_string(&path) {
            Ok(kept) if Uuid::parse_str(kept.trim()).is_ok() => kept.trim().to_owned(),
            _ => {
                std::fs::create_dir_all(data_dir)
                    .with_context(|| format!("creating {}", data_dir.display()))?;
                let id = Uuid::now_v7().to_string();
                std::fs::write(&path, &id)
                    .with_context(|| format!("writing {}", path.display()))?;
                id
            }
        };
        Ok(MediaNode {
            id,
            url,
            configured,
            holds_media,
        })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_node_keeps_its_id_across_restarts_at_the_same_url_and_not_at_another() {
        let dir = tempfile::tempdir().expect("a folder");
        let node = |url: &str| {
            MediaNode::in_data_dir(dir.path(), url.to_owned(), false, true).expect("a node")
        };
        let first = node("http://10.0.0.1:8080/");
        assert_eq!(first.url, "http://10.0.0.1:8080");
        assert_eq!(node("http://10.0.0.1:8080").id, first.id);
        assert_ne!(node("http://10.0.0.1:8081").id, first.id);
    }
}
