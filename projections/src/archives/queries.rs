//! The reads of the archives projection: a session's archives for the REST API, and the
//! archives the recorder's lifecycle task and restart recovery look for.

use chrono::{DateTime, Utc};
use livesurgery_domain::events::ArchiveStatus;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::db::{Sql, enum_name};
use crate::error::ProjectionError;
use crate::sessions::page_limit;
use crate::{Page, ReadModels};

use super::{ArchiveRow, SegmentRow};

/// Which archives [`ReadModels::list_archives`] returns, in recording order (oldest first).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ArchiveFilter {
    /// The session they were recorded in.
    pub session_id: Option<Uuid>,
    /// Cursor: only archives opened after this log position (the previous page's `next`).
    pub after_position: Option<u64>,
    /// Page size; 0 means the default (50), capped at 1,000.
    pub limit: u32,
}

/// The statuses whose archives the lifecycle task may expire: the recording is over.
const EXPIRABLE: [ArchiveStatus; 3] = [
    ArchiveStatus::Ready,
    ArchiveStatus::Incomplete,
    ArchiveStatus::Failed,
];

fn rows(rows: Vec<sqlx::any::AnyRow>) -> Result<Vec<ArchiveRow>, ProjectionError> {
    rows.iter().map(ArchiveRow::from_row).collect()
}

/// Appends ` AND status IN (…)` for `statuses` (nothing matches an empty list).
fn status_in(sql: &mut Sql, statuses: &[ArchiveStatus]) {
    if statuses.is_empty() {
        sql.raw(" AND 1 = 0");
        return;
    }
    sql.raw(" AND status IN (");
    for (i, status) in statuses.iter().enumerate() {
        sql.push(if i == 0 { "?" } else { ", ?" }, enum_name(status));
    }
    sql.raw(")");
}

impl ReadModels {
    /// Archives matching `filter`, in recording order; `next` is the cursor of the next page.
    pub async fn list_archives(
        &self,
        filter: &ArchiveFilter,
    ) -> Result<Page<ArchiveRow>, ProjectionError> {
        let limit = page_limit(filter.limit);
        let mut sql = Sql::new("SELECT * FROM rm_archives WHERE 1 = 1");
        if let Some(session_id) = filter.session_id {
            sql.push(" AND session_id = ?", session_id);
        }
        if let Some(after) = filter.after_position {
            sql.push(" AND opened_position > ?", after);
        }
        sql.push(" ORDER BY opened_position LIMIT ?", i64::from(limit) + 1);
        let rows = rows(sql.fetch_all(&self.pool).await?)?;
        Ok(Page::from_rows(rows, limit, |r| r.opened_position))
    }

    /// One archive, if it exists.
    pub async fn get_archive(
        &self,
        archive_id: Uuid,
    ) -> Result<Option<ArchiveRow>, ProjectionError> {
        let mut sql = Sql::new("SELECT * FROM rm_archives WHERE ");
        sql.push("archive_id = ?", archive_id);
        sql.fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(ArchiveRow::from_row)
            .transpose()
    }

    /// Up to `limit` (0: 50; at most 1,000) archives the lifecycle task should delete at
    /// `now`: expired, not on legal hold, and `ready`, `incomplete` or `failed`; the longest
    /// expired first.
    pub async fn archives_due_for_expiry(
        &self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<ArchiveRow>, ProjectionError> {
        let mut sql = Sql::new("SELECT * FROM rm_archives WHERE ");
        sql.push("expires_at <= ?", now)
            .push(" AND legal_hold = ?", false);
        status_in(&mut sql, &EXPIRABLE);
        sql.push(
            " ORDER BY expires_at, archive_id LIMIT ?",
            i64::from(page_limit(limit)),
        );
        rows(sql.fetch_all(&self.pool).await?)
    }

    /// Every archive in one of `statuses`, oldest first: at start, the recorder finds the
    /// archives a stopped server left `recording` or `processing`.
    pub async fn archives_with_status(
        &self,
        statuses: &[ArchiveStatus],
    ) -> Result<Vec<ArchiveRow>, ProjectionError> {
        let mut sql = Sql::new("SELECT * FROM rm_archives WHERE 1 = 1");
        status_in(&mut sql, statuses);
        sql.raw(" ORDER BY opened_position");
        rows(sql.fetch_all(&self.pool).await?)
    }

    /// The segments stored for an archive, in recording order.
    pub async fn archive_segments(
        &self,
        archive_id: Uuid,
    ) -> Result<Vec<SegmentRow>, ProjectionError> {
        let mut sql = Sql::new("SELECT * FROM rm_archive_segments WHERE ");
        sql.push("archive_id = ?", archive_id)
            .raw(" ORDER BY seq, position");
        sql.fetch_all(&self.pool)
            .await?
            .iter()
            .map(SegmentRow::from_row)
            .collect()
    }
}
