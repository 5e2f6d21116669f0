//! The REST reads of the sessions projection: sessions, members and recordings.

use chrono::{DateTime, Utc};
use livesurgery_domain::roles::SessionRole;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::db::{Sql, enum_name};
use crate::error::ProjectionError;
use crate::{Page, ReadModels};

use super::{MemberRow, RecordingRow, SessionRow, SessionStatus};

/// Which sessions [`ReadModels::list_sessions`] returns, newest first.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SessionFilter {
    /// Where the session is in its life.
    pub status: Option<SessionStatus>,
    /// Created at or after this time.
    pub created_from: Option<DateTime<Utc>>,
    /// Created before this time.
    pub created_to: Option<DateTime<Utc>>,
    /// Cursor: only sessions created before this log position (the previous page's `next`).
    pub before_position: Option<u64>,
    /// Only sessions this user is a current member of.
    pub member: Option<Uuid>,
    /// Page size; 0 means the default (50), capped at 1,000.
    pub limit: u32,
}

pub(crate) fn page_limit(limit: u32) -> u32 {
    match limit {
        0 => 50,
        n => n.min(1_000),
    }
}

impl ReadModels {
    /// Sessions matching `filter`, newest first; `next` is the cursor of the following page.
    pub async fn list_sessions(
        &self,
        filter: &SessionFilter,
    ) -> Result<Page<SessionRow>, ProjectionError> {
        let limit = page_limit(filter.limit);
        let mut sql = Sql::new("SELECT * FROM rm_sessions WHERE 1 = 1");
        if let Some(status) = &filter.status {
            sql.push(" AND status = ?", enum_name(status));
        }
        if let Some(from) = filter.created_from {
            sql.push(" AND created_at >= ?", from);
        }
        if let Some(to) = filter.created_to {
            sql.push(" AND created_at < ?", to);
        }
        if let Some(before) = filter.before_position {
            sql.push(" AND created_position < ?", before);
        }
        if let Some(member) = filter.member {
            sql.push(
                " AND session_id IN (SELECT session_id FROM rm_session_members \
                 WHERE user_id = ? AND removed_at IS NULL)",
                member,
            );
        }
        sql.push(
            " ORDER BY created_position DESC LIMIT ?",
            i64::from(limit) + 1,
        );
        let rows = sql
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(SessionRow::from_row)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_rows(rows, limit, |r| r.created_position))
    }

    /// One session, if it exists.
    pub async fn get_session(
        &self,
        session_id: Uuid,
    ) -> Result<Option<SessionRow>, ProjectionError> {
        let mut sql = Sql::new("SELECT * FROM rm_sessions WHERE ");
        sql.push("session_id = ?", session_id);
        sql.fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(SessionRow::from_row)
            .transpose()
    }

    /// The current members of a session (removed members left out), in the order they joined.
    pub async fn session_members(
        &self,
        session_id: Uuid,
    ) -> Result<Vec<MemberRow>, ProjectionError> {
        let mut sql = Sql::new("SELECT * FROM rm_session_members WHERE ");
        sql.push("session_id = ?", session_id)
            .raw(" AND removed_at IS NULL ORDER BY position, user_id");
        sql.fetch_all(&self.pool)
            .await?
            .iter()
            .map(MemberRow::from_row)
            .collect()
    }

    /// The session role of a current member; `None` for a non-member (or no such session).
    pub async fn member_role(
        &self,
        session_id: Uuid,
        user_id: Uuid,
    ) -> Result<Option<SessionRole>, ProjectionError> {
        let mut sql = Sql::new("SELECT * FROM rm_session_members WHERE ");
        sql.push("session_id = ?", session_id)
            .push(" AND user_id = ?", user_id)
            .raw(" AND removed_at IS NULL");
        sql.fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(MemberRow::from_row)
            .transpose()
            .map(|row| row.map(|m| m.role))
    }

    /// Every recording of a session, oldest first.
    pub async fn session_recordings(
        &self,
        session_id: Uuid,
    ) -> Result<Vec<RecordingRow>, ProjectionError> {
        let mut sql = Sql::new("SELECT * FROM rm_recordings WHERE ");
        sql.push("session_id = ?", session_id)
            .raw(" ORDER BY requested_at, position");
        sql.fetch_all(&self.pool)
            .await?
            .iter()
            .map(RecordingRow::from_row)
            .collect()
    }
}
