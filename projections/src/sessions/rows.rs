//! The rows of the sessions projection and their mapping to and from table columns.

use chrono::{DateTime, Utc};
use livesurgery_domain::roles::SessionRole;
use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use uuid::Uuid;

use crate::db::{
    Val, enum_name, get_enum, get_i64, get_opt_text, get_opt_time, get_opt_uuid, get_text,
    get_time, get_u64, get_uuid,
};
use crate::error::ProjectionError;

/// Where a session is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionStatus {
    /// Created, not started yet.
    Scheduled,
    /// Started and not ended.
    Live,
    /// Ended normally.
    Ended,
    /// Cancelled (before or after starting).
    Cancelled,
}

/// Where a session's (or one recording's) recording is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordingState {
    /// Not recording (never, or the last recording stopped).
    Idle,
    /// Asked for; the recorder has not confirmed yet.
    Requested,
    /// Recording now.
    Recording,
    /// A recording that has stopped (only on [`RecordingRow`]).
    Stopped,
}

/// One session, as listed and shown in detail.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionRow {
    /// The session.
    pub session_id: Uuid,
    /// The session title.
    pub title: String,
    /// The planned procedure, if given.
    pub procedure: Option<String>,
    /// The planned start, if given.
    pub scheduled_start: Option<DateTime<Utc>>,
    /// The user who created the session.
    pub created_by: Uuid,
    /// When the session was created.
    pub created_at: DateTime<Utc>,
    /// Log position of `SessionCreated`: the list order and its cursor.
    pub created_position: u64,
    /// Where the session is in its life.
    pub status: SessionStatus,
    /// When it started.
    pub started_at: Option<DateTime<Utc>>,
    /// When it ended.
    pub ended_at: Option<DateTime<Utc>>,
    /// When it was cancelled.
    pub cancelled_at: Option<DateTime<Utc>>,
    /// Why it was cancelled, if said.
    pub cancel_reason: Option<String>,
    /// Whether the session is being recorded.
    pub recording_state: RecordingState,
    /// The current recording, or the last one when idle.
    pub recording_id: Option<Uuid>,
    /// Members not removed.
    pub member_count: u64,
    /// When the last change was recorded.
    pub updated_at: DateTime<Utc>,
    /// Log position of the last event that changed this row.
    pub position: u64,
}

/// A member of a session (removed members keep their row with `removed_at`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemberRow {
    /// The session.
    pub session_id: Uuid,
    /// The user.
    pub user_id: Uuid,
    /// The role.
    pub role: SessionRole,
    /// When the member was added (last time).
    pub added_at: DateTime<Utc>,
    /// When the member was removed (`None`: still a member).
    pub removed_at: Option<DateTime<Utc>>,
    /// Log position of the last event that changed this row.
    pub position: u64,
}

/// One recording of a session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordingRow {
    /// The recording.
    pub recording_id: Uuid,
    /// The session.
    pub session_id: Uuid,
    /// Where the recording is.
    pub state: RecordingState,
    /// The user who asked for the recording.
    pub requested_by: Option<Uuid>,
    /// When it was requested.
    pub requested_at: Option<DateTime<Utc>>,
    /// When it started.
    pub started_at: Option<DateTime<Utc>>,
    /// When it stopped.
    pub stopped_at: Option<DateTime<Utc>>,
    /// Log position of the last event that changed this row.
    pub position: u64,
}

pub(super) const SESSION_COLUMNS: &[&str] = &[
    "session_id",
    "title",
    "procedure",
    "scheduled_start",
    "created_by",
    "created_at",
    "created_position",
    "status",
    "started_at",
    "ended_at",
    "cancelled_at",
    "cancel_reason",
    "recording_state",
    "recording_id",
    "member_count",
    "updated_at",
    "position",
];

impl SessionRow {
    pub(super) fn values(&self) -> Vec<Val> {
        vec![
            self.session_id.into(),
            self.title.clone().into(),
            self.procedure.clone().into(),
            self.scheduled_start.into(),
            self.created_by.into(),
            self.created_at.into(),
            self.created_position.into(),
            enum_name(&self.status).into(),
            self.started_at.into(),
            self.ended_at.into(),
            self.cancelled_at.into(),
            self.cancel_reason.clone().into(),
            enum_name(&self.recording_state).into(),
            self.recording_id.into(),
            self.member_count.into(),
            self.updated_at.into(),
            self.position.into(),
        ]
    }

    pub(super) fn from_row(row: &AnyRow) -> Result<Self, ProjectionError> {
        Ok(SessionRow {
            session_id: get_uuid(row, "session_id")?,
            title: get_text(row, "title")?,
            procedure: get_opt_text(row, "procedure")?,
            scheduled_start: get_opt_time(row, "scheduled_start")?,
            created_by: get_uuid(row, "created_by")?,
            created_at: get_time(row, "created_at")?,
            created_position: get_u64(row, "created_position")?,
            status: get_enum(row, "status")?,
            started_at: get_opt_time(row, "started_at")?,
            ended_at: get_opt_time(row, "ended_at")?,
            cancelled_at: get_opt_time(row, "cancelled_at")?,
            cancel_reason: get_opt_text(row, "cancel_reason")?,
            recording_state: get_enum(row, "recording_state")?,
            recording_id: get_opt_uuid(row, "recording_id")?,
            member_count: u64::try_from(get_i64(row, "member_count")?).unwrap_or(0),
            updated_at: get_time(row, "updated_at")?,
            position: get_u64(row, "position")?,
        })
    }
}

pub(super) const MEMBER_COLUMNS: &[&str] = &[
    "session_id",
    "user_id",
    "role",
    "added_at",
    "removed_at",
    "position",
];

impl MemberRow {
    pub(super) fn values(&self) -> Vec<Val> {
        vec![
            self.session_id.into(),
            self.user_id.into(),
            enum_name(&self.role).into(),
            self.added_at.into(),
            self.removed_at.into(),
            self.position.into(),
        ]
    }

    pub(super) fn from_row(row: &AnyRow) -> Result<Self, ProjectionError> {
        Ok(MemberRow {
            session_id: get_uuid(row, "session_id")?,
            user_id: get_uuid(row, "user_id")?,
            role: get_enum(row, "role")?,
            added_at: get_time(row, "added_at")?,
            removed_at: get_opt_time(row, "removed_at")?,
            position: get_u64(row, "position")?,
        })
    }
}

pub(super) const RECORDING_COLUMNS: &[&str] = &[
    "recording_id",
    "session_id",
    "state",
    "requested_by",
    "requested_at",
    "started_at",
    "stopped_at",
    "position",
];

impl RecordingRow {
    pub(super) fn values(&self) -> Vec<Val> {
        vec![
            self.recording_id.into(),
            self.session_id.into(),
            enum_name(&self.state).into(),
            self.requested_by.into(),
            self.requested_at.into(),
            self.started_at.into(),
            self.stopped_at.into(),
            self.position.into(),
        ]
    }

    pub(super) fn from_row(row: &AnyRow) -> Result<Self, ProjectionError> {
        Ok(RecordingRow {
            recording_id: get_uuid(row, "recording_id")?,
            session_id: get_uuid(row, "session_id")?,
            state: get_enum(row, "state")?,
            requested_by: get_opt_uuid(row, "requested_by")?,
            requested_at: get_opt_time(row, "requested_at")?,
            started_at: get_opt_time(row, "started_at")?,
            stopped_at: get_opt_time(row, "stopped_at")?,
            position: get_u64(row, "position")?,
        })
    }
}
