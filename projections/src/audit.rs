//! The `audit` projection: one row per event of the log, indexed for the compliance queries
//! (by session, actor, event type and time). Unlike the other projections it indexes every
//! event, including types this build cannot read.

use chrono::{DateTime, Utc};
use livesurgery_domain::envelope::RecordedEvent;
use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use uuid::Uuid;

use crate::db::{Sql, Val, get_opt_text, get_opt_uuid, get_text, get_time, get_u64, get_uuid};
use crate::error::ProjectionError;
use crate::fold::{Parsed, Write};
use crate::schema::TableDef;
use crate::sessions::page_limit;
use crate::{Page, ReadModels};

pub(crate) const TABLES: &[TableDef] = &[TableDef {
    base: "rm_audit",
    columns: "position {int} NOT NULL, recorded_at {int} NOT NULL, actor_user_id TEXT, \
        actor_role TEXT, participant_id TEXT, action TEXT NOT NULL, session_id TEXT, \
        stream TEXT NOT NULL, outcome TEXT NOT NULL, correlation_id TEXT NOT NULL",
    primary_key: "position",
    without_rowid: false,
    indexes: &[
        ("session", "session_id, position"),
        ("actor", "actor_user_id, position"),
        ("action", "action, position"),
        ("time", "recorded_at"),
    ],
}];

/// The outcome of an audited action: `"denied"` for the denial events that later issues append
/// (a type ending in `Denied`, or `data.outcome == "denied"`), else `"ok"`.
pub fn audit_outcome(event_type: &str, data: &serde_json::Value) -> &'static str {
    let denied_by_data = data.get("outcome").and_then(serde_json::Value::as_str) == Some("denied");
    if event_type.ends_with("Denied") || denied_by_data {
        "denied"
    } else {
        "ok"
    }
}

/// The session an event concerns: its stream `session-<uuid>`, else `data.session_id`.
pub fn audit_session_id(event: &RecordedEvent) -> Option<Uuid> {
    livesurgery_domain::events::session_of_stream(&event.stream).or_else(|| {
        event
            .data
            .get("session_id")
            .and_then(serde_json::Value::as_str)
            .and_then(|id| Uuid::parse_str(id).ok())
    })
}

/// One audited event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRow {
    /// The event's log position: its identity for replay and for `GET /events`.
    pub position: u64,
    /// When the event was recorded.
    pub recorded_at: DateTime<Utc>,
    /// The acting user, if any.
    pub actor_user_id: Option<Uuid>,
    /// The acting role (`system` for the server).
    pub actor_role: Option<String>,
    /// The participant (one connection of a user to a session).
    pub participant_id: Option<Uuid>,
    /// The event type.
    pub action: String,
    /// The session.
    pub session_id: Option<Uuid>,
    /// The event's stream.
    pub stream: String,
    /// See [`audit_outcome`].
    pub outcome: String,
    /// The request that caused the event.
    pub correlation_id: Uuid,
}

const COLUMNS: &[&str] = &[
    "position",
    "recorded_at",
    "actor_user_id",
    "actor_role",
    "participant_id",
    "action",
    "session_id",
    "stream",
    "outcome",
    "correlation_id",
];

fn values(ev: &RecordedEvent) -> Vec<Val> {
    vec![
        ev.position.into(),
        ev.recorded_at.into(),
        ev.actor.user_id.into(),
        ev.actor.role.clone().into(),
        ev.actor.participant_id.into(),
        ev.event_type.as_str().into(),
        audit_session_id(ev).into(),
        ev.stream.as_str().into(),
        audit_outcome(&ev.event_type, &ev.data).into(),
        ev.correlation_id.into(),
    ]
}

impl AuditRow {
    fn from_row(row: &AnyRow) -> Result<Self, ProjectionError> {
        Ok(AuditRow {
            position: get_u64(row, "position")?,
            recorded_at: get_time(row, "recorded_at")?,
            actor_user_id: get_opt_uuid(row, "actor_user_id")?,
            actor_role: get_opt_text(row, "actor_role")?,
            participant_id: get_opt_uuid(row, "participant_id")?,
            action: get_text(row, "action")?,
            session_id: get_opt_uuid(row, "session_id")?,
            stream: get_text(row, "stream")?,
            outcome: get_text(row, "outcome")?,
            correlation_id: get_uuid(row, "correlation_id")?,
        })
    }
}

/// One audit row per event. A position already present fails the batch (no `keys`): the
/// checkpoint guarantees it cannot happen, so it means the read model is corrupt.
pub(crate) fn fold(items: &[Parsed<'_>]) -> Vec<Write> {
    vec![Write {
        table: &TABLES[0],
        columns: COLUMNS,
        keys: None,
        rows: items.iter().map(|item| values(item.ev)).collect(),
    }]
}

/// Which events [`ReadModels::audit`] returns, in log order.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct AuditFilter {
    /// The session.
    pub session_id: Option<Uuid>,
    /// The acting user, if any.
    pub actor_user_id: Option<Uuid>,
    /// Event types, e.g. `ParticipantJoined`: events of any of them (empty: every type).
    pub actions: Vec<String>,
    /// `ok` or `denied`.
    pub outcome: Option<String>,
    /// Recorded at or after this time.
    pub from: Option<DateTime<Utc>>,
    /// Recorded before this time.
    pub to: Option<DateTime<Utc>>,
    /// Cursor: only positions after this one (the previous page's `next`).
    pub after_position: Option<u64>,
    /// Page size; 0 means the default (50), capped at 1,000.
    pub limit: u32,
}

impl ReadModels {
    /// Audited events matching `filter`, in log order; `next` is the following page's cursor.
    pub async fn audit(&self, filter: &AuditFilter) -> Result<Page<AuditRow>, ProjectionError> {
        let limit = page_limit(filter.limit);
        let mut sql = Sql::new("SELECT * FROM rm_audit WHERE 1 = 1");
        if let Some(session_id) = filter.session_id {
            sql.push(" AND session_id = ?", session_id);
        }
        if let Some(actor) = filter.actor_user_id {
            sql.push(" AND actor_user_id = ?", actor);
        }
        if let Some((first, rest)) = filter.actions.split_first() {
            sql.push(" AND action IN (?", first.as_str());
            for action in rest {
                sql.push(", ?", action.as_str());
            }
            sql.raw(")");
        }
        if let Some(outcome) = &filter.outcome {
            sql.push(" AND outcome = ?", outcome.as_str());
        }
        if let Some(from) = filter.from {
            sql.push(" AND recorded_at >= ?", from);
        }
        if let Some(to) = filter.to {
            sql.push(" AND recorded_at < ?", to);
        }
        if let Some(after) = filter.after_position {
            sql.push(" AND position > ?", after);
        }
        sql.push(" ORDER BY position LIMIT ?", i64::from(limit) + 1);
        let rows = sql
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(AuditRow::from_row)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_rows(rows, limit, |r| r.position))
    }
}
