//! The audit trail: its events, the moment to replay a session to, and the hash-chain check
//! (`/v1/audit`, `/v1/sessions/{id}/events`, `…/state`, `…/audit:verify`).

use chrono::{DateTime, Utc};
use livesurgery_projections::AuditRow;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// One event of the audit trail.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEvent {
    /// The event's log position.
    pub position: u64,
    pub recorded_at: DateTime<Utc>,
    /// The event type (`LayoutUpdated`, `AccessDenied`, ...).
    #[serde(rename = "type")]
    pub event_type: String,
    pub actor_user_id: Option<Uuid>,
    pub actor_role: Option<String>,
    pub participant_id: Option<Uuid>,
    pub session_id: Option<Uuid>,
    pub stream: String,
    /// `ok`, or `denied` for refused requests.
    pub outcome: String,
    pub correlation_id: Uuid,
    /// The event's `data`, as appended (`null` if the log no longer has it).
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
}

impl From<AuditRow> for AuditEvent {
    fn from(a: AuditRow) -> AuditEvent {
        AuditEvent {
            position: a.position,
            recorded_at: a.recorded_at,
            event_type: a.action,
            actor_user_id: a.actor_user_id,
            actor_role: a.actor_role,
            participant_id: a.participant_id,
            session_id: a.session_id,
            stream: a.stream,
            outcome: a.outcome,
            correlation_id: a.correlation_id,
            data: serde_json::Value::Null,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditPage {
    pub items: Vec<AuditEvent>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Only events of this user.
    pub actor: Option<Uuid>,
    /// Only events of these types: one type, or several separated by commas
    /// (`MemberAdded,MemberRemoved`).
    #[serde(rename = "type")]
    #[param(rename = "type")]
    pub event_type: Option<String>,
    /// `ok` or `denied`.
    pub outcome: Option<String>,
    /// Recorded at or after (RFC 3339).
    pub from: Option<DateTime<Utc>>,
    /// Recorded before (RFC 3339).
    pub to: Option<DateTime<Utc>>,
    /// Only this session (for `GET /v1/audit`).
    pub session_id: Option<Uuid>,
    pub cursor: Option<String>,
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
}

impl AuditQuery {
    /// The types `type` names (empty: every type); blanks around commas are ignored.
    pub fn event_types(&self) -> Vec<String> {
        self.event_type
            .iter()
            .flat_map(|types| types.split(','))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
            .collect()
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StateQuery {
    /// The moment to replay to (RFC 3339); default: now.
    pub at: Option<DateTime<Utc>>,
}

/// The outcome of a hash-chain check.
#[derive(Debug, Serialize, ToSchema)]
pub struct VerifyResult {
    /// True when every chain holds and ends where the log says it does.
    pub ok: bool,
    pub streams_checked: u64,
    pub events_checked: u64,
    pub broken: Option<BrokenLink>,
}

/// The first event whose chain link does not hold.
#[derive(Debug, Serialize, ToSchema)]
pub struct BrokenLink {
    pub stream: String,
    pub version: u64,
    pub position: u64,
    pub event_id: Uuid,
    pub reason: String,
}
