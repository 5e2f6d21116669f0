//! Sessions and their members (`/v1/sessions…`, `/v1/sessions/{id}/members…`).

use chrono::{DateTime, Utc};
use livesurgery_domain::roles::SessionRole;
use livesurgery_projections::{MemberRow, RecordingState, SessionRow, SessionStatus};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::double_option;

/// A member's role in one session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MemberRole {
    Host,
    Surgeon,
    Observer,
}

impl From<SessionRole> for MemberRole {
    fn from(r: SessionRole) -> MemberRole {
        match r {
            SessionRole::Host => MemberRole::Host,
            SessionRole::Surgeon => MemberRole::Surgeon,
            SessionRole::Observer => MemberRole::Observer,
        }
    }
}

impl From<MemberRole> for SessionRole {
    fn from(r: MemberRole) -> SessionRole {
        match r {
            MemberRole::Host => SessionRole::Host,
            MemberRole::Surgeon => SessionRole::Surgeon,
            MemberRole::Observer => SessionRole::Observer,
        }
    }
}

/// Where a session is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Scheduled,
    Live,
    Ended,
    Cancelled,
}

impl From<SessionStatus> for Status {
    fn from(s: SessionStatus) -> Status {
        match s {
            SessionStatus::Scheduled => Status::Scheduled,
            SessionStatus::Live => Status::Live,
            SessionStatus::Ended => Status::Ended,
            SessionStatus::Cancelled => Status::Cancelled,
        }
    }
}

impl From<Status> for SessionStatus {
    fn from(s: Status) -> SessionStatus {
        match s {
            Status::Scheduled => SessionStatus::Scheduled,
            Status::Live => SessionStatus::Live,
            Status::Ended => SessionStatus::Ended,
            Status::Cancelled => SessionStatus::Cancelled,
        }
    }
}

/// Whether the session is being recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Recording {
    Idle,
    Requested,
    Recording,
    Stopped,
}

impl From<RecordingState> for Recording {
    fn from(s: RecordingState) -> Recording {
        match s {
            RecordingState::Idle => Recording::Idle,
            RecordingState::Requested => Recording::Requested,
            RecordingState::Recording => Recording::Recording,
            RecordingState::Stopped => Recording::Stopped,
        }
    }
}

/// A live surgery session.
#[derive(Debug, Serialize, ToSchema)]
pub struct Session {
    pub id: Uuid,
    pub title: String,
    pub procedure: Option<String>,
    pub scheduled_start: Option<DateTime<Utc>>,
    pub status: Status,
    pub created_by: Uuid,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    pub cancelled_at: Option<DateTime<Utc>>,
    pub cancel_reason: Option<String>,
    pub recording: Recording,
    pub recording_id: Option<Uuid>,
    pub member_count: u64,
    pub updated_at: DateTime<Utc>,
}

impl From<SessionRow> for Session {
    fn from(s: SessionRow) -> Session {
        Session {
            id: s.session_id,
            title: s.title,
            procedure: s.procedure,
            scheduled_start: s.scheduled_start,
            status: s.status.into(),
            created_by: s.created_by,
            created_at: s.created_at,
            started_at: s.started_at,
            ended_at: s.ended_at,
            cancelled_at: s.cancelled_at,
            cancel_reason: s.cancel_reason,
            recording: s.recording_state.into(),
            recording_id: s.recording_id,
            member_count: s.member_count,
            updated_at: s.updated_at,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateSessionRequest {
    /// 1-200 characters.
    pub title: String,
    pub procedure: Option<String>,
    pub scheduled_start: Option<DateTime<Utc>>,
}

/// Absent fields stay as they are; `null` clears `procedure` or `scheduled_start`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateSessionRequest {
    pub title: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub procedure: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<DateTime<Utc>>)]
    pub scheduled_start: Option<Option<DateTime<Utc>>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SessionPage {
    pub items: Vec<Session>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListSessionsQuery {
    pub status: Option<Status>,
    /// Created at or after this time (RFC 3339).
    pub from: Option<DateTime<Utc>>,
    /// Created before this time (RFC 3339).
    pub to: Option<DateTime<Utc>>,
    /// From the previous page's `next_cursor`.
    pub cursor: Option<String>,
    /// Page size, 1-1000 (default 50).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CancelQuery {
    /// Why the session is cancelled (kept in the log; no patient data).
    pub reason: Option<String>,
}

/// A member of a session.
#[derive(Debug, Serialize, ToSchema)]
pub struct Member {
    pub user_id: Uuid,
    pub role: MemberRole,
    pub added_at: DateTime<Utc>,
}

impl From<MemberRow> for Member {
    fn from(m: MemberRow) -> Member {
        Member {
            user_id: m.user_id,
            role: m.role.into(),
            added_at: m.added_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MemberList {
    pub items: Vec<Member>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutMemberRequest {
    pub role: MemberRole,
}
