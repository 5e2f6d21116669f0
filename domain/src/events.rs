//! Every domain event, past tense, with its schema version.
//!
//! Serialised as the envelope's `type` and `data`: `Event::SessionCreated(SessionCreated{..})`
//! has type `"SessionCreated"` and `data` the struct's fields. Times are not in `data`: the
//! envelope's `recorded_at` says when; `data` holds only what the command decided.
//! A change to a struct's shape bumps its schema version and adds an upcaster in
//! [`Event::from_stored`].

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::envelope::{Actor, NewEvent};
use crate::permissions::Action;
use crate::roles::{OrgRole, SessionRole};

/// The layout grid: panels live on a grid of this many columns and rows.
pub const GRID_COLUMNS: u32 = 12;
/// See [`GRID_COLUMNS`].
pub const GRID_ROWS: u32 = 12;

/// One panel of the shared workspace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Panel {
    pub id: String,
    pub x: u32,
    pub y: u32,
    pub w: u32,
    pub h: u32,
    pub z: i32,
    /// The media source this panel shows, if any.
    pub source_id: Option<String>,
}

/// Why a participant left.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LeaveReason {
    /// The participant closed its connection.
    Left,
    /// Its connection sent no heartbeat for the configured time.
    TimedOut,
    /// A host removed it (or its member).
    Kicked,
    /// Its connection dropped without a close (network cut, too slow a reader, server shutdown).
    Disconnected,
    /// Its join token expired; the client joins again.
    TokenExpired,
}

/// One field of the layout that a write set: a property of one panel (`x`, `y`, `w`, `h`, `z`,
/// `source_id`), or the panel set itself (`panel_id` null, `field` `"panels"`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayoutFieldChange {
    pub panel_id: Option<String>,
    pub field: String,
    pub value: serde_json::Value,
}

/// A field that a write based on an older layout version touched although another writer had
/// changed it since that version. Last write wins: `winner` is this write's actor; `loser` is the
/// actor whose change (made at `loser_version`) was overwritten.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayoutConflict {
    pub panel_id: Option<String>,
    pub field: String,
    pub winner: Actor,
    pub loser: Actor,
    pub loser_version: u64,
}

// ---- session aggregate, stream `session-<uuid>` ----

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionCreated {
    pub session_id: Uuid,
    pub title: String,
    pub procedure: Option<String>,
    pub scheduled_start: Option<chrono::DateTime<chrono::Utc>>,
    pub created_by: Uuid,
}

/// Only the fields that changed are `Some`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionDetailsChanged {
    pub session_id: Uuid,
    pub title: Option<String>,
    /// `Some(None)` clears the procedure.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "double_option"
    )]
    pub procedure: Option<Option<String>>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "double_option"
    )]
    pub scheduled_start: Option<Option<chrono::DateTime<chrono::Utc>>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionStarted {
    pub session_id: Uuid,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionEnded {
    pub session_id: Uuid,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionCancelled {
    pub session_id: Uuid,
    pub reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemberAdded {
    pub session_id: Uuid,
    pub user_id: Uuid,
    pub role: SessionRole,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemberRoleChanged {
    pub session_id: Uuid,
    pub user_id: Uuid,
    pub from: SessionRole,
    pub to: SessionRole,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemberRemoved {
    pub session_id: Uuid,
    pub user_id: Uuid,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParticipantJoined {
    pub session_id: Uuid,
    pub participant_id: Uuid,
    pub user_id: Uuid,
    pub role: SessionRole,
    /// A label for the device ("OR camera 2", "laptop"); never patient data.
    pub device: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParticipantLeft {
    pub session_id: Uuid,
    pub participant_id: Uuid,
    pub user_id: Uuid,
    pub reason: LeaveReason,
}

/// The default layout a new session starts with (version 1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LayoutInitialized {
    pub session_id: Uuid,
    pub version: u64,
    pub panels: Vec<Panel>,
}

/// An accepted layout write: a new version with the whole resulting panel set, what the write
/// changed, and which fields were contested.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LayoutUpdated {
    pub session_id: Uuid,
    pub version: u64,
    pub base_version: u64,
    pub changes: Vec<LayoutFieldChange>,
    pub conflicts: Vec<LayoutConflict>,
    pub panels: Vec<Panel>,
    /// Who made this write: folded into the per-field last-writer record, which `evolve` sees
    /// without the envelope.
    pub changed_by: Actor,
}

/// A panel now shows another media source; this is a layout change too (new layout version).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceSelected {
    pub session_id: Uuid,
    pub panel_id: String,
    pub source_id: Option<String>,
    pub layout_version: u64,
    /// Who selected it (see [`LayoutUpdated::changed_by`]).
    pub changed_by: Actor,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordingRequested {
    pub session_id: Uuid,
    pub recording_id: Uuid,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordingStarted {
    pub session_id: Uuid,
    pub recording_id: Uuid,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordingStopped {
    pub session_id: Uuid,
    pub recording_id: Uuid,
}

// ---- user aggregate, stream `user-<uuid>` ----

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserRegistered {
    pub user_id: Uuid,
    pub username: String,
    pub display_name: String,
    pub role: OrgRole,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserRoleChanged {
    pub user_id: Uuid,
    pub from: OrgRole,
    pub to: OrgRole,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserDisplayNameChanged {
    pub user_id: Uuid,
    pub display_name: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserDeactivated {
    pub user_id: Uuid,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserReactivated {
    pub user_id: Uuid,
}

// ---- access log, stream `access-<user uuid>`: no aggregate folds these ----

/// A write (or a read of something the caller may not see) was refused by the API: who tried
/// what.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccessDenied {
    pub user_id: Uuid,
    /// The session concerned, when the request named one.
    pub session_id: Option<Uuid>,
    /// The permission that was missing.
    pub action: Action,
    /// HTTP method (`"POST"`); with `route`, never a raw URL or query (they may carry ids a
    /// caller was not allowed to learn about, or patient data).
    pub method: String,
    /// The route template (`"/v1/sessions/{id}:start"`).
    pub route: String,
    /// The HTTP status answered: 403, or 404 when the caller may not know the session exists.
    pub status: u16,
    /// Why, in words.
    pub reason: String,
}

/// What part of an audit trail was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditReadKind {
    /// The events themselves (`GET /v1/sessions/{id}/events`, `GET /v1/audit`).
    Events,
    /// A session replayed at a point in time (`GET /v1/sessions/{id}/state`).
    Replay,
    /// The hash chain verified (`POST /v1/sessions/{id}/audit:verify`).
    Verify,
}

/// Someone read an audit trail (compliance: who looked at what, when).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditTrailRead {
    pub user_id: Uuid,
    /// The session whose trail was read; `None` for a read across sessions (`GET /v1/audit`).
    pub session_id: Option<Uuid>,
    pub kind: AuditReadKind,
    /// The filter parameters given, by name (`{"actor": "<uuid>", "type": "LayoutUpdated"}`).
    pub query: std::collections::BTreeMap<String, String>,
}

/// Every event of the domain. The serde tag is the envelope `type`; the content its `data`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum Event {
    SessionCreated(SessionCreated),
    SessionDetailsChanged(SessionDetailsChanged),
    SessionStarted(SessionStarted),
    SessionEnded(SessionEnded),
    SessionCancelled(SessionCancelled),
    MemberAdded(MemberAdded),
    MemberRoleChanged(MemberRoleChanged),
    MemberRemoved(MemberRemoved),
    ParticipantJoined(ParticipantJoined),
    ParticipantLeft(ParticipantLeft),
    LayoutInitialized(LayoutInitialized),
    LayoutUpdated(LayoutUpdated),
    SourceSelected(SourceSelected),
    RecordingRequested(RecordingRequested),
    RecordingStarted(RecordingStarted),
    RecordingStopped(RecordingStopped),
    UserRegistered(UserRegistered),
    UserRoleChanged(UserRoleChanged),
    UserDisplayNameChanged(UserDisplayNameChanged),
    UserDeactivated(UserDeactivated),
    UserReactivated(UserReactivated),
    AccessDenied(AccessDenied),
    AuditTrailRead(AuditTrailRead),
}

/// A stored event whose type or schema version this build does not know.
#[derive(Debug, thiserror::Error)]
#[error("cannot read event {event_type} v{schema_version}: {reason}")]
pub struct UnknownEvent {
    pub event_type: String,
    pub schema_version: u32,
    pub reason: String,
}

impl Event {
    /// Every event type name, in declaration order (used by the schema test and the docs).
    pub const TYPES: &'static [&'static str] = &[
        "SessionCreated",
        "SessionDetailsChanged",
        "SessionStarted",
        "SessionEnded",
        "SessionCancelled",
        "MemberAdded",
        "MemberRoleChanged",
        "MemberRemoved",
        "ParticipantJoined",
        "ParticipantLeft",
        "LayoutInitialized",
        "LayoutUpdated",
        "SourceSelected",
        "RecordingRequested",
        "RecordingStarted",
        "RecordingStopped",
        "UserRegistered",
        "UserRoleChanged",
        "UserDisplayNameChanged",
        "UserDeactivated",
        "UserReactivated",
        "AccessDenied",
        "AuditTrailRead",
    ];

    /// The envelope `type` of this event.
    pub fn event_type(&self) -> &'static str {
        match self {
            Event::SessionCreated(_) => "SessionCreated",
            Event::SessionDetailsChanged(_) => "SessionDetailsChanged",
            Event::SessionStarted(_) => "SessionStarted",
            Event::SessionEnded(_) => "SessionEnded",
            Event::SessionCancelled(_) => "SessionCancelled",
            Event::MemberAdded(_) => "MemberAdded",
            Event::MemberRoleChanged(_) => "MemberRoleChanged",
            Event::MemberRemoved(_) => "MemberRemoved",
            Event::ParticipantJoined(_) => "ParticipantJoined",
            Event::ParticipantLeft(_) => "ParticipantLeft",
            Event::LayoutInitialized(_) => "LayoutInitialized",
            Event::LayoutUpdated(_) => "LayoutUpdated",
            Event::SourceSelected(_) => "SourceSelected",
            Event::RecordingRequested(_) => "RecordingRequested",
            Event::RecordingStarted(_) => "RecordingStarted",
            Event::RecordingStopped(_) => "RecordingStopped",
            Event::UserRegistered(_) => "UserRegistered",
            Event::UserRoleChanged(_) => "UserRoleChanged",
            Event::UserDisplayNameChanged(_) => "UserDisplayNameChanged",
            Event::UserDeactivated(_) => "UserDeactivated",
            Event::UserReactivated(_) => "UserReactivated",
            Event::AccessDenied(_) => "AccessDenied",
            Event::AuditTrailRead(_) => "AuditTrailRead",
        }
    }

    /// The schema version this build writes for this event's type.
    pub fn schema_version(&self) -> u32 {
        1
    }

    /// The envelope `data` of this event.
    pub fn data(&self) -> serde_json::Value {
        // Serialising plain structs of strings, numbers and ids cannot fail.
        let mut tagged = serde_json::to_value(self).unwrap_or(serde_json::Value::Null);
        tagged
            .get_mut("data")
            .map(serde_json::Value::take)
            .unwrap_or(serde_json::Value::Null)
    }

    /// Reads a stored event back, upcasting older schema versions to the current shape.
    pub fn from_stored(
        event_type: &str,
        schema_version: u32,
        data: &serde_json::Value,
    ) -> Result<Event, UnknownEvent> {
        let unknown = |reason: String| UnknownEvent {
            event_type: event_type.to_owned(),
            schema_version,
            reason,
        };
        if schema_version != 1 {
            return Err(unknown("no upcaster for this schema version".into()));
        }
        serde_json::from_value(serde_json::json!({"type": event_type, "data": data}))
            .map_err(|e| unknown(e.to_string()))
    }

    /// Wraps this event for appending, with a writer-chosen id (see [`NewEvent`]).
    pub fn into_new_event(
        self,
        id: Uuid,
        actor: Actor,
        correlation_id: Uuid,
        causation_id: Option<Uuid>,
    ) -> NewEvent {
        NewEvent {
            id,
            event_type: self.event_type().to_owned(),
            schema_version: self.schema_version(),
            data: self.data(),
            actor,
            correlation_id,
            causation_id,
        }
    }
}

/// The stream of a session aggregate.
pub fn session_stream(session_id: Uuid) -> String {
    format!("session-{session_id}")
}

/// The session whose stream this is (the inverse of [`session_stream`]); `None` for any other
/// stream.
pub fn session_of_stream(stream: &str) -> Option<Uuid> {
    Uuid::parse_str(stream.strip_prefix("session-")?).ok()
}

/// The stream of a user aggregate.
pub fn user_stream(user_id: Uuid) -> String {
    format!("user-{user_id}")
}

/// The stream of a user's access log: refused requests and audit-trail reads.
pub fn access_stream(user_id: Uuid) -> String {
    format!("access-{user_id}")
}

/// serde for `Option<Option<T>>`: absent = `None`, `null` = `Some(None)`.
pub(crate) mod double_option {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<T: Serialize, S: Serializer>(
        value: &Option<Option<T>>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(inner) => inner.serialize(serializer),
            None => serializer.serialize_none(),
        }
    }

    pub fn deserialize<'de, T: Deserialize<'de>, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Option<T>>, D::Error> {
        Option::<T>::deserialize(deserializer).map(Some)
    }
}
