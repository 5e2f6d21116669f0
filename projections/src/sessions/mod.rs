//! The `sessions` projection: sessions (list and detail, with recording state), their members
//! and their recordings.

mod queries;
mod rows;

use std::collections::{BTreeSet, HashMap};

use livesurgery_domain::events::Event;
use sqlx::AnyConnection;
use uuid::Uuid;

use crate::db::{Dialect, load_by_keys};
use crate::error::ProjectionError;
use crate::fold::{Parsed, Write, rows_of};
use crate::schema::TableDef;
use rows::{MEMBER_COLUMNS, RECORDING_COLUMNS, SESSION_COLUMNS};

pub use queries::SessionFilter;
pub(crate) use queries::page_limit;
pub use rows::{MemberRow, RecordingRow, RecordingState, SessionRow, SessionStatus};

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
