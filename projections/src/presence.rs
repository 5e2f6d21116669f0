//! The `presence` projection: one row per participant connection, open while present. The
//! participants present now are the open rows; the presence history is all of them.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use livesurgery_domain::events::Event;
use livesurgery_domain::roles::SessionRole;
use serde::{Deserialize, Serialize};
use sqlx::AnyConnection;
use sqlx::any::AnyRow;
use uuid::Uuid;

use crate::db::{
    Dialect, Sql, Val, enum_name, get_enum, get_opt_text, get_opt_time, get_opt_u64, get_time,
    get_u64, get_uuid, load_by_keys, opt_int,
};
use crate::error::ProjectionError;
use crate::fold::{Parsed, Write, rows_of};
use crate::schema::TableDef;
use crate::sessions::page_limit;
use crate::{Page, ReadModels};

pub(crate) const TABLES: &[TableDef] = &[TableDef {
    base: "rm_presence",
    columns: "participant_id TEXT NOT NULL, session_id TEXT NOT NULL, user_id TEXT NOT NULL, \
        role TEXT NOT NULL, device TEXT, joined_at {int} NOT NULL, joined_position {int} NOT NULL, \
        left_at {int}, leave_reason TEXT, left_position {int}",
    primary_key: "participant_id",
    // A rowid table: rows are appended in join order and a leave rewrites a recent row, while
    // keyed by a random participant id every join and leave would dirty a random page.
    without_rowid: false,
    indexes: &[
        ("session", "session_id, joined_position"),
        ("user", "user_id, joined_position"),
    ],
}];

/// The leave reason recorded for participants still present when their session ended or was
/// cancelled (the other reasons are the domain's `LeaveReason` names).
pub const SESSION_CLOSED: &str = "session_closed";

/// One participant's presence in a session: joined, and left unless still present.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PresenceRow {
    /// The participant (one connection of a user to a session).
    pub participant_id: Uuid,
    /// The session.
    pub session_id: Uuid,
    /// The user.
    pub user_id: Uuid,
    /// The role.
    pub role: SessionRole,
    /// A label of the device (never patient data).
    pub device: Option<String>,
    /// When the participant joined.
    pub joined_at: DateTime<Utc>,
    /// Log position of the join.
    pub joined_position: u64,
    /// When the participant left (`None`: present).
    pub left_at: Option<DateTime<Utc>>,
    /// `left`, `timed_out`, `kicked`, `disconnected`, `token_expired`, or [`SESSION_CLOSED`].
    pub leave_reason: Option<String>,
    /// Log position of the leave.
    pub left_position: Option<u64>,
}

const COLUMNS: &[&str] = &[
    "participant_id",
    "session_id",
    "user_id",
    "role",
    "device",
    "joined_at",
    "joined_position",
    "left_at",
    "leave_reason",
    "left_position",
];

impl PresenceRow {
    fn values(&self) -> Vec<Val> {
        vec![
            self.participant_id.into(),
            self.session_id.into(),
            self.user_id.into(),
            enum_name(&self.role).into(),
            self.device.clone().into(),
            self.joined_at.into(),
            self.joined_position.into(),
            self.left_at.into(),
            self.leave_reason.clone().into(),
            opt_int(self.left_position),
        ]
    }

    fn from_row(row: &AnyRow) -> Result<Self, ProjectionError> {
        Ok(PresenceRow {
            participant_id: get_uuid(row, "participant_id")?,
            session_id: get_uuid(row, "session_id")?,
            user_id: get_uuid(row, "user_id")?,
            role: get_enum(row, "role")?,
            device: get_opt_text(row, "device")?,
            joined_at: get_time(row, "joined_at")?,
            joined_position: get_u64(row, "joined_position")?,
            left_at: get_opt_time(row, "left_at")?,
            leave_reason: get_opt_text(row, "leave_reason")?,
            left_position: get_opt_u64(row, "left_position")?,
        })
    }
}

/// The presence rows a batch folds over. A rebuild keeps only the open ones between batches
/// (see [`compact`]): a closed row never changes again.
#[derive(Debug, Default)]
pub(crate) struct State {
    rows: HashMap<Uuid, PresenceRow>,
}

/// Drops the closed rows, already written, from a state kept across batches.
pub(crate) fn compact(state: &mut State) {
    state.rows.retain(|_, row| row.left_at.is_none());
}

/// Loads into `state` the rows of the tables with `suffix` that `items` touch: the participants
/// who leave, and those still present in sessions that close.
pub(crate) async fn load(
    conn: &mut AnyConnection,
    dialect: Dialect,
    suffix: &str,
    items: &[Parsed<'_>],
    state: &mut State,
) -> Result<(), ProjectionError> {
    let mut left = BTreeSet::new();
    let mut closed_sessions = BTreeSet::new();
    for item in items {
        match &item.event {
            Some(Event::ParticipantLeft(e)) => {
                left.insert(e.participant_id.to_string());
            }
            Some(Event::SessionEnded(e)) => {
                closed_sessions.insert(e.session_id.to_string());
            }
            Some(Event::SessionCancelled(e)) => {
                closed_sessions.insert(e.session_id.to_string());
            }
            _ => {}
        }
    }
    if left.is_empty() && closed_sessions.is_empty() {
        return Ok(());
    }
    let table = TABLES[0].name(suffix);
    let select = format!("SELECT * FROM {table} WHERE");
    let left: Vec<String> = left.into_iter().collect();
    let closed: Vec<String> = closed_sessions.into_iter().collect();
    let loaded = [
        load_by_keys(conn, dialect, &select, "participant_id", &left, "").await?,
        load_by_keys(
            conn,
            dialect,
            &select,
            "session_id",
            &closed,
            "AND left_at IS NULL",
        )
        .await?,
    ];
    for row in loaded.iter().flatten() {
        let row = PresenceRow::from_row(row)?;
        state.rows.insert(row.participant_id, row);
    }
    Ok(())
}

/// Folds `items` over `state`; returns the writes of every row that changed.
pub(crate) fn fold(state: &mut State, items: &[Parsed<'_>]) -> Vec<Write> {
    let rows = &mut state.rows;
    let mut dirty = BTreeSet::new();
    for item in items {
        let at = item.ev.recorded_at;
        let position = item.ev.position;
        match &item.event {
            Some(Event::ParticipantJoined(e)) => {
                rows.insert(
                    e.participant_id,
                    PresenceRow {
                        participant_id: e.participant_id,
                        session_id: e.session_id,
                        user_id: e.user_id,
                        role: e.role,
                        device: e.device.clone(),
                        joined_at: at,
                        joined_position: position,
                        left_at: None,
                        leave_reason: None,
                        left_position: None,
                    },
                );
                dirty.insert(e.participant_id);
            }
            Some(Event::ParticipantLeft(e)) => {
                if let Some(row) = rows
                    .get_mut(&e.participant_id)
                    .filter(|r| r.left_at.is_none())
                {
                    row.left_at = Some(at);
                    row.leave_reason = Some(enum_name(&e.reason));
                    row.left_position = Some(position);
                    dirty.insert(e.participant_id);
                }
            }
            Some(Event::SessionEnded(e)) => {
                close_session(rows, &mut dirty, e.session_id, at, position)
            }
            Some(Event::SessionCancelled(e)) => {
                close_session(rows, &mut dirty, e.session_id, at, position)
            }
            _ => {}
        }
    }
    vec![Write {
        table: &TABLES[0],
        columns: COLUMNS,
        keys: Some(&["participant_id"]),
        rows: rows_of(&dirty, rows, PresenceRow::values),
    }]
}

/// Nobody stays present in a closed session, even if the log has no `ParticipantLeft` for them.
fn close_session(
    rows: &mut HashMap<Uuid, PresenceRow>,
    dirty: &mut BTreeSet<Uuid>,
    session_id: Uuid,
    at: DateTime<Utc>,
    position: u64,
) {
    for row in rows.values_mut() {
        if row.session_id == session_id && row.left_at.is_none() {
            row.left_at = Some(at);
            row.leave_reason = Some(SESSION_CLOSED.to_owned());
            row.left_position = Some(position);
            dirty.insert(row.participant_id);
        }
    }
}

/// Which presence rows [`ReadModels::presence_history`] returns, in join order.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PresenceFilter {
    /// The session.
    pub session_id: Option<Uuid>,
    /// The user.
    pub user_id: Option<Uuid>,
    /// Cursor: only joins after this log position (the previous page's `next`).
    pub after_position: Option<u64>,
    /// Page size; 0 means the default (50), capped at 1,000.
    pub limit: u32,
}

impl ReadModels {
    /// The participants present in a session now, in join order.
    pub async fn participants_present(
        &self,
        session_id: Uuid,
    ) -> Result<Vec<PresenceRow>, ProjectionError> {
        let mut sql = Sql::new("SELECT * FROM rm_presence WHERE ");
        sql.push("session_id = ?", session_id)
            .raw(" AND left_at IS NULL ORDER BY joined_position");
        sql.fetch_all(&self.pool)
            .await?
            .iter()
            .map(PresenceRow::from_row)
            .collect()
    }

    /// Joins and leaves matching `filter`, in join order.
    pub async fn presence_history(
        &self,
        filter: &PresenceFilter,
    ) -> Result<Page<PresenceRow>, ProjectionError> {
        let limit = page_limit(filter.limit);
        let mut sql = Sql::new("SELECT * FROM rm_presence WHERE 1 = 1");
        if let Some(session_id) = filter.session_id {
            sql.push(" AND session_id = ?", session_id);
        }
        if let Some(user_id) = filter.user_id {
            sql.push(" AND user_id = ?", user_id);
        }
        if let Some(after) = filter.after_position {
            sql.push(" AND joined_position > ?", after);
        }
        sql.push(" ORDER BY joined_position LIMIT ?", i64::from(limit) + 1);
        let rows = sql
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(PresenceRow::from_row)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_rows(rows, limit, |r| r.joined_position))
    }
}
