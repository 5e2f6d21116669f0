//! Retention: archives past their `expires_at` (and not on legal hold) are deleted from the
//! archive store, then `ArchiveExpired` is appended through the session's rules.
//!
//! Idempotent and safe to cut off at any point: the objects go first, the event after, so a
//! sweep cut off between the two finds the archive still due next time, deletes what is left
//! (nothing) and appends the event. Just before deleting, the archive is checked against the
//! session's folded state (legal hold, expiry, status), not only the read model, so a legal hold
//! set since the read model was read still wins; the domain checks again on append.

use std::sync::Arc;

use anyhow::Context;
use chrono::{DateTime, Utc};
use livesurgery_domain::aggregate::Session;
use livesurgery_domain::events::{ArchiveStatus, session_stream};
use livesurgery_domain::roles::OrgRole;
use livesurgery_domain::session::{SessionCommand, fold};
use livesurgery_domain::{CommandContext, Event};
use livesurgery_projections::ReadModels;
use uuid::Uuid;

use crate::app::commands::{CommandError, execute};
use crate::storage::BlobStore;
use crate::store::{EventStore, read_whole_stream};

use super::lifecycle::archive_prefix;

/// One archive a sweep expired (or, dry, would expire).
#[derive(Debug, Clone)]
pub struct Expired {
    pub archive_id: Uuid,
    pub session_id: Uuid,
    pub source: String,
    pub expires_at: DateTime<Utc>,
    /// Objects deleted (0 in a dry run).
    pub objects_deleted: u32,
}

/// Expires every archive due at `now`; with `dry_run`, only lists them.
pub async fn sweep(
    store: &dyn EventStore,
    read_models: &ReadModels,
    blobs: &dyn BlobStore,
    now: DateTime<Utc>,
    dry_run: bool,
) -> anyhow::Result<Vec<Expired>> {
    let due = read_models
        .archives_due_for_expiry(now, 500)
        .await
        .context("listing the archives due to expire")?;
    let mut expired = Vec::with_capacity(due.len());
    for archive in due {
        let mut item = Expired {
            archive_id: archive.archive_id,
            session_id: archive.session_id,
            source: archive.source.clone(),
            expires_at: archive.expires_at,
            objects_deleted: 0,
        };
        if dry_run {
            expired.push(item);
            continue;
        }
        if !still_due(store, archive.session_id, archive.archive_id, now).await? {
            continue;
        }
        item.objects_deleted = delete_objects(blobs, archive.archive_id).await?;
        let ctx = CommandContext::new(Uuid::nil(), OrgRole::Admin, now);
        let command = SessionCommand::ExpireArchive {
            archive_id: archive.archive_id,
            objects_deleted: item.objects_deleted,
        };
        match execute::<Session>(store, archive.session_id, &command, &ctx, Uuid::now_v7()).await {
            Ok(_) => {
                tracing::info!(archive = %archive.archive_id, objects = item.objects_deleted, "archive expired");
                expired.push(item);
            }
            // Another sweep got there first.
            Err(CommandError::Domain(error)) => {
                tracing::info!(archive = %archive.archive_id, %error, "archive not expired");
            }
            Err(other) => return Err(other).context("appending ArchiveExpired"),
        }
    }
    Ok(expired)
}

/// Whether the session's log, folded now, still lets the archive expire.
async fn still_due(
    store: &dyn EventStore,
    session_id: Uuid,
    archive_id: Uuid,
    now: DateTime<Utc>,
) -> anyhow::Result<bool> {
    let recorded = read_whole_stream(store, &session_stream(session_id)).await?;
    let events: Vec<Event> = recorded
        .iter()
        .filter_map(|r| Event::from_stored(&r.event_type, r.schema_version, &r.data).ok())
        .collect();
    let state = fold(&events);
    Ok(state.archives.get(&archive_id).is_some_and(|a| {
        matches!(
            a.status,
            ArchiveStatus::Ready | ArchiveStatus::Incomplete | ArchiveStatus::Failed
        ) && !a.legal_hold
            && a.expires_at <= now
    }))
}

/// Deletes every object of an archive; how many there were.
async fn delete_objects(blobs: &dyn BlobStore, archive_id: Uuid) -> anyhow::Result<u32> {
    let keys = blobs.list(&archive_prefix(archive_id)).await?;
    for key in &keys {
        blobs.delete(key).await?;
    }
    Ok(keys.len() as u32)
}

/// Sweeps every `interval` until the process ends.
pub fn spawn_sweeper(
    store: Arc<dyn EventStore>,
    read_models: ReadModels,
    blobs: Arc<dyn BlobStore>,
    interval: std::time::Duration,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            if let Err(error) = sweep(&*store, &read_models, &*blobs, Utc::now(), false).await {
                tracing::warn!(
                    error = format!("{error:#}"),
                    "archive retention sweep failed; retrying at the next"
                );
            }
        }
    })
}
