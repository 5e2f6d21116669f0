//! The `sessions` projection: sessions (list and detail, with recording state), their members
//! and their recordings.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use livesurgery_domain::events::Event;
use livesurgery_domain::roles::SessionRole;
use serde::{Deserialize, Serialize};
use sqlx::AnyConnection;
use sqlx::any::AnyRow;
use uuid::Uuid;

use crate::db::{
    Dialect, Sql, Val, enum_name, get_enum, get_i64, get_opt_text, get_opt_time, get_opt_uuid,
    get_text, get_time, get_u64, get_uuid, load_by_keys,
};
use crate::error::ProjectionError;
use crate::fold::{Parsed, Write, rows_of};
use crate::schema::TableDef;
use crate::{Page, ReadModels};

pub(crate) const TABLES: &[TableDef] = &[
    TableDef {
        base: "rm_sessions",
        columns: "session_id TEXT NOT NULL, title TEXT NOT NULL, procedure TEXT, \
            scheduled_start {int}, created_by TEXT NOT NULL, created_at {int} NOT NULL, \
            created_position {int} NOT NULL, status TEXT NOT NULL, started_at {int}, \
            ended_at {int}, cancelled_at {int}, cancel_reason TEXT, recording_state TEXT NOT NULL, \
            recording_id TEXT, member_count {int} NOT NULL, updated_at {int} NOT NULL, \
            position {int} NOT NULL",
        primary_key: "session_id",
        without_rowid: true,
        indexes: &[
            ("created", "created_position"),
            ("status", "status, created_position"),
        ],
    },
    TableDef {
        base: "rm_session_members",
        columns: "session_id TEXT NOT NULL, user_id TEXT NOT NULL, role TEXT NOT NULL, \
            added_at {int} NOT NULL, removed_at {int}, position {int} NOT NULL",
        primary_key: "session_id, user_id",
        without_rowid: true,
        indexes: &[("user", "user_id")],
    },
    TableDef {
        base: "rm_recordings",
        columns: "recording_id TEXT NOT NULL, session_id TEXT NOT NULL, state TEXT NOT NULL, \
            requested_by TEXT, requested_at {int}, started_at {int}, stopped_at {int}, \
            position {int} NOT NULL",
        primary_key: "recording_id",
        without_rowid: true,
        indexes: &[("session", "session_id, position")],
    },
];

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

const SESSION_COLUMNS: &[&str] = &[
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
    fn values(&self) -> Vec<Val> {
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

    fn from_row(row: &AnyRow) -> Result<Self, ProjectionError> {
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

const MEMBER_COLUMNS: &[&str] = &[
    "session_id",
    "user_id",
    "role",
    "added_at",
    "removed_at",
    "position",
];

impl MemberRow {
    fn values(&self) -> Vec<Val> {
        vec![
            self.session_id.into(),
            self.user_id.into(),
            enum_name(&self.role).into(),
            self.added_at.into(),
            self.removed_at.into(),
            self.position.into(),
        ]
    }

    fn from_row(row: &AnyRow) -> Result<Self, ProjectionError> {
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

const RECORDING_COLUMNS: &[&str] = &[
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
    fn values(&self) -> Vec<Val> {
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

    fn from_row(row: &AnyRow) -> Result<Self, ProjectionError> {
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

fn keys(set: &BTreeSet<Uuid>) -> Vec<String> {
    set.iter().map(Uuid::to_string).collect()
}

/// The rows a batch folds over, keyed as in their tables.
#[derive(Debug, Default)]
pub(crate) struct State {
    sessions: HashMap<Uuid, SessionRow>,
    members: HashMap<(Uuid, Uuid), MemberRow>,
    recordings: HashMap<Uuid, RecordingRow>,
}

/// Loads into `state` the rows of the tables with `suffix` that `items` touch.
pub(crate) async fn load(
    conn: &mut AnyConnection,
    dialect: Dialect,
    suffix: &str,
    items: &[Parsed<'_>],
    state: &mut State,
) -> Result<(), ProjectionError> {
    let mut session_ids = BTreeSet::new();
    let mut member_sessions = BTreeSet::new();
    let mut recording_ids = BTreeSet::new();
    for item in items {
        match &item.event {
            Some(Event::SessionCreated(e)) => {
                session_ids.insert(e.session_id);
            }
            Some(Event::SessionDetailsChanged(e)) => {
                session_ids.insert(e.session_id);
            }
            Some(Event::SessionStarted(e)) => {
                session_ids.insert(e.session_id);
            }
            Some(Event::SessionEnded(e)) => {
                session_ids.insert(e.session_id);
            }
            Some(Event::SessionCancelled(e)) => {
                session_ids.insert(e.session_id);
            }
            Some(Event::MemberAdded(e)) => {
                session_ids.insert(e.session_id);
                member_sessions.insert(e.session_id);
            }
            Some(Event::MemberRoleChanged(e)) => {
                member_sessions.insert(e.session_id);
            }
            Some(Event::MemberRemoved(e)) => {
                session_ids.insert(e.session_id);
                member_sessions.insert(e.session_id);
            }
            Some(Event::RecordingRequested(e)) => {
                session_ids.insert(e.session_id);
                recording_ids.insert(e.recording_id);
            }
            Some(Event::RecordingStarted(e)) => {
                session_ids.insert(e.session_id);
                recording_ids.insert(e.recording_id);
            }
            Some(Event::RecordingStopped(e)) => {
                session_ids.insert(e.session_id);
                recording_ids.insert(e.recording_id);
            }
            _ => {}
        }
    }
    if session_ids.is_empty() && member_sessions.is_empty() && recording_ids.is_empty() {
        return Ok(());
    }

    let sessions_table = TABLES[0].name(suffix);
    let members_table = TABLES[1].name(suffix);
    let recordings_table = TABLES[2].name(suffix);

    for row in load_by_keys(
        conn,
        dialect,
        &format!("SELECT * FROM {sessions_table} WHERE"),
        "session_id",
        &keys(&session_ids),
        "",
    )
    .await?
    {
        let row = SessionRow::from_row(&row)?;
        state.sessions.insert(row.session_id, row);
    }
    for row in load_by_keys(
        conn,
        dialect,
        &format!("SELECT * FROM {members_table} WHERE"),
        "session_id",
        &keys(&member_sessions),
        "",
    )
    .await?
    {
        let row = MemberRow::from_row(&row)?;
        state.members.insert((row.session_id, row.user_id), row);
    }
    for row in load_by_keys(
        conn,
        dialect,
        &format!("SELECT * FROM {recordings_table} WHERE"),
        "recording_id",
        &keys(&recording_ids),
        "",
    )
    .await?
    {
        let row = RecordingRow::from_row(&row)?;
        state.recordings.insert(row.recording_id, row);
    }
    Ok(())
}

/// Folds `items` over `state`; returns the writes of every row that changed.
pub(crate) fn fold(state: &mut State, items: &[Parsed<'_>]) -> Vec<Write> {
    let State {
        sessions,
        members,
        recordings,
    } = state;
    let mut dirty_sessions = BTreeSet::new();
    let mut dirty_members = BTreeSet::new();
    let mut dirty_recordings = BTreeSet::new();
    for item in items {
        let Some(event) = &item.event else { continue };
        let at = item.ev.recorded_at;
        let position = item.ev.position;
        // Every arm below touches at most one session row; `touch` marks it changed.
        let mut touch = |sessions: &mut HashMap<Uuid, SessionRow>,
                         id: Uuid,
                         change: &mut dyn FnMut(&mut SessionRow)| {
            if let Some(row) = sessions.get_mut(&id) {
                change(row);
                row.updated_at = at;
                row.position = position;
                dirty_sessions.insert(id);
            }
        };
        match event {
            Event::SessionCreated(e) => {
                sessions.insert(
                    e.session_id,
                    SessionRow {
                        session_id: e.session_id,
                        title: e.title.clone(),
                        procedure: e.procedure.clone(),
                        scheduled_start: e.scheduled_start,
                        created_by: e.created_by,
                        created_at: at,
                        created_position: position,
                        status: SessionStatus::Scheduled,
                        started_at: None,
                        ended_at: None,
                        cancelled_at: None,
                        cancel_reason: None,
                        recording_state: RecordingState::Idle,
                        recording_id: None,
                        member_count: 0,
                        updated_at: at,
                        position,
                    },
                );
                dirty_sessions.insert(e.session_id);
            }
            Event::SessionDetailsChanged(e) => touch(sessions, e.session_id, &mut |row| {
                if let Some(title) = &e.title {
                    row.title = title.clone();
                }
                if let Some(procedure) = &e.procedure {
                    row.procedure = procedure.clone();
                }
                if let Some(start) = e.scheduled_start {
                    row.scheduled_start = start;
                }
            }),
            Event::SessionStarted(e) => touch(sessions, e.session_id, &mut |row| {
                row.status = SessionStatus::Live;
                row.started_at = Some(at);
            }),
            Event::SessionEnded(e) => touch(sessions, e.session_id, &mut |row| {
                row.status = SessionStatus::Ended;
                row.ended_at = Some(at);
            }),
            Event::SessionCancelled(e) => touch(sessions, e.session_id, &mut |row| {
                row.status = SessionStatus::Cancelled;
                row.cancelled_at = Some(at);
                row.cancel_reason = e.reason.clone();
            }),
            Event::MemberAdded(e) => {
                let key = (e.session_id, e.user_id);
                let was_member = members.get(&key).is_some_and(|m| m.removed_at.is_none());
                members.insert(
                    key,
                    MemberRow {
                        session_id: e.session_id,
                        user_id: e.user_id,
                        role: e.role,
                        added_at: at,
                        removed_at: None,
                        position,
                    },
                );
                dirty_members.insert(key);
                if !was_member {
                    touch(sessions, e.session_id, &mut |row| row.member_count += 1);
                }
            }
            Event::MemberRoleChanged(e) => {
                let key = (e.session_id, e.user_id);
                if let Some(member) = members.get_mut(&key) {
                    member.role = e.to;
                    member.position = position;
                    dirty_members.insert(key);
                }
            }
            Event::MemberRemoved(e) => {
                let key = (e.session_id, e.user_id);
                if let Some(member) = members.get_mut(&key).filter(|m| m.removed_at.is_none()) {
                    member.removed_at = Some(at);
                    member.position = position;
                    dirty_members.insert(key);
                    touch(sessions, e.session_id, &mut |row| {
                        row.member_count = row.member_count.saturating_sub(1);
                    });
                }
            }
            Event::RecordingRequested(e) => {
                recordings.insert(
                    e.recording_id,
                    RecordingRow {
                        recording_id: e.recording_id,
                        session_id: e.session_id,
                        state: RecordingState::Requested,
                        requested_by: item.ev.actor.user_id,
                        requested_at: Some(at),
                        started_at: None,
                        stopped_at: None,
                        position,
                    },
                );
                dirty_recordings.insert(e.recording_id);
                touch(sessions, e.session_id, &mut |row| {
                    row.recording_state = RecordingState::Requested;
                    row.recording_id = Some(e.recording_id);
                });
            }
            Event::RecordingStarted(e) => {
                let recording = recordings.entry(e.recording_id).or_insert_with(|| {
                    // Started without a request we know of (e.g. the recorder started it).
                    RecordingRow {
                        recording_id: e.recording_id,
                        session_id: e.session_id,
                        state: RecordingState::Requested,
                        requested_by: None,
                        requested_at: None,
                        started_at: None,
                        stopped_at: None,
                        position,
                    }
                });
                recording.state = RecordingState::Recording;
                recording.started_at = Some(at);
                recording.position = position;
                dirty_recordings.insert(e.recording_id);
                touch(sessions, e.session_id, &mut |row| {
                    row.recording_state = RecordingState::Recording;
                    row.recording_id = Some(e.recording_id);
                });
            }
            Event::RecordingStopped(e) => {
                if let Some(recording) = recordings.get_mut(&e.recording_id) {
                    recording.state = RecordingState::Stopped;
                    recording.stopped_at = Some(at);
                    recording.position = position;
                    dirty_recordings.insert(e.recording_id);
                }
                touch(sessions, e.session_id, &mut |row| {
                    if row.recording_id == Some(e.recording_id) {
                        row.recording_state = RecordingState::Idle;
                    }
                });
            }
            _ => {}
        }
    }

    vec![
        Write {
            table: &TABLES[0],
            columns: SESSION_COLUMNS,
            keys: Some(&["session_id"]),
            rows: rows_of(&dirty_sessions, sessions, SessionRow::values),
        },
        Write {
            table: &TABLES[1],
            columns: MEMBER_COLUMNS,
            keys: Some(&["session_id", "user_id"]),
            rows: rows_of(&dirty_members, members, MemberRow::values),
        },
        Write {
            table: &TABLES[2],
            columns: RECORDING_COLUMNS,
            keys: Some(&["recording_id"]),
            rows: rows_of(&dirty_recordings, recordings, RecordingRow::values),
        },
    ]
}

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
