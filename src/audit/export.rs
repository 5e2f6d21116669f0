//! Audit records for export, shaped like IHE ATNA (RFC 3881 / DICOM PS3.15 A.5) records: who,
//! what, when, where and the outcome. One JSON line per event of the log.
//!
//! An event's `data` is not copied: it may hold patient data (a session's title). The record
//! names the object (session, user, archive) by id only.

use chrono::{DateTime, Utc};
use livesurgery_domain::envelope::RecordedEvent;
use livesurgery_projections::AuditRow;
use serde::Serialize;
use uuid::Uuid;

/// One exported audit record.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AtnaRecord {
    /// The event's id in the log.
    pub event_id: Uuid,
    /// The event's global position in the log (the order of the records).
    pub position: u64,
    pub who: Who,
    pub what: What,
    /// When the event was recorded (UTC).
    pub when: DateTime<Utc>,
    #[serde(rename = "where")]
    pub at: Where,
    pub outcome: Outcome,
}

/// Who acted (ATNA ActiveParticipant).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Who {
    /// The acting user; `null` for the server itself.
    pub user_id: Option<Uuid>,
    /// The organisation role (`admin`, `surgeon`, …), or `system`.
    pub role: Option<String>,
    /// The participant (one connection of a user to a session), when the event names one.
    pub participant_id: Option<Uuid>,
    /// The network address the request came from, when the event kept it.
    pub client_address: Option<String>,
}

/// What was done to what (ATNA EventIdentification and ParticipantObjectIdentification).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct What {
    /// The event type (`ParticipantJoined`, `AuditTrailRead`, …).
    pub action: String,
    /// ATNA EventActionCode: `C` create, `R` read, `U` update, `D` delete, `E` execute.
    pub action_code: &'static str,
    pub object: Object,
    /// The request that caused the event (its `X-Request-Id`).
    pub correlation_id: Uuid,
}

/// The object acted on.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Object {
    /// The kind of object: the stream's kind (`session`, `user`, `access`, `archive`, …).
    #[serde(rename = "type")]
    pub kind: String,
    /// The stream the event belongs to (`session-<uuid>`).
    pub stream: String,
    /// The session concerned, if any.
    pub session_id: Option<Uuid>,
}

/// Where (ATNA AuditSourceIdentification).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Where {
    /// The node that exported the record.
    pub node: String,
    /// The audit source: always `livesurgery`.
    pub source: &'static str,
}

/// The outcome (ATNA EventOutcomeIndicator).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Outcome {
    /// `0` success, `4` minor failure (a refused request).
    pub indicator: u8,
    /// `success` or `minor_failure`.
    pub class: &'static str,
}

/// The ATNA action code of an event type.
fn action_code(action: &str) -> &'static str {
    const READS: &[&str] = &["AuditTrailRead", "ArchiveAccessed"];
    const CREATES: &[&str] = &[
        "Created",
        "Added",
        "Joined",
        "Registered",
        "Opened",
        "Requested",
        "Stored",
        "Initialized",
    ];
    const DELETES: &[&str] = &["Removed", "Expired", "Cancelled", "Deactivated"];
    if READS.contains(&action) {
        "R"
    } else if CREATES.iter().any(|s| action.ends_with(s)) {
        "C"
    } else if DELETES.iter().any(|s| action.ends_with(s)) {
        "D"
    } else if action.ends_with("Changed") || action.ends_with("Updated") {
        "U"
    } else {
        "E"
    }
}

/// The record of one audited event; `event` is the event itself, read only for its id and the
/// client address its data may hold.
pub fn record(row: AuditRow, event: Option<&RecordedEvent>, node: &str) -> AtnaRecord {
    let client_address = event
        .and_then(|e| e.data.get("client_address"))
        .and_then(serde_json::Value::as_str)
        .map(str::to_owned);
    let kind = row
        .stream
        .split_once('-')
        .map_or(row.stream.as_str(), |(kind, _)| kind)
        .to_owned();
    let denied = row.outcome == "denied";
    AtnaRecord {
        event_id: event.map_or(Uuid::nil(), |e| e.id),
        position: row.position,
        who: Who {
            user_id: row.actor_user_id,
            role: row.actor_role,
            participant_id: row.participant_id,
            client_address,
        },
        what: What {
            action_code: action_code(&row.action),
            action: row.action,
            object: Object {
                kind,
                stream: row.stream,
                session_id: row.session_id,
            },
            correlation_id: row.correlation_id,
        },
        when: row.recorded_at,
        at: Where {
            node: node.to_owned(),
            source: "livesurgery",
        },
        outcome: if denied {
            Outcome {
                indicator: 4,
                class: "minor_failure",
            }
        } else {
            Outcome {
                indicator: 0,
                class: "success",
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::action_code;

    #[test]
    fn action_codes_follow_the_event_names() {
        assert_eq!(action_code("AuditTrailRead"), "R");
        assert_eq!(action_code("SessionCreated"), "C");
        assert_eq!(action_code("MemberRemoved"), "D");
        assert_eq!(action_code("LayoutUpdated"), "U");
        assert_eq!(action_code("SessionStarted"), "E");
    }
}
