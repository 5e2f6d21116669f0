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

// ---- media, appended by the SFU to the session stream ----

/// What a track carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MediaKind {
    Audio,
    Video,
}

/// Why a publisher, a subscriber or a track ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MediaEndReason {
    /// Its owner deleted the WHIP/WHEP resource (`DELETE`).
    Deleted,
    /// ICE or DTLS was lost.
    Disconnected,
    /// Its member was removed, its participant kicked, or its user deactivated.
    Removed,
    /// The session ended (or was cancelled).
    SessionEnded,
    /// The server shut down.
    Shutdown,
    /// The peer failed (a media or protocol error on the server's side).
    Failed,
}

/// How the SFU asked a publisher for a keyframe (RTCP).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyframeKind {
    /// Picture Loss Indication.
    Pli,
    /// Full Intra Request.
    Fir,
}

/// Why the SFU asked a publisher for a keyframe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyframeCause {
    /// A subscriber asked for one (its own PLI/FIR, forwarded).
    Subscriber,
    /// A subscriber's slot switched to this source.
    Switch,
    /// Packets of this source were lost.
    Loss,
    /// A new subscriber waits for its first frame of this source.
    FirstFrame,
}

/// A publisher's WHIP session is up: it may now publish tracks under `source`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PublisherConnected {
    pub session_id: Uuid,
    /// The WHIP resource (`/v1/sessions/{id}/whip/{resource_id}`).
    pub resource_id: Uuid,
    pub participant_id: Uuid,
    pub user_id: Uuid,
    /// The source label (`endoscope`, `room-cam`); unique among the session's publishers.
    pub source: String,
}

/// A publisher's WHIP session ended; its source is no longer published.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PublisherDisconnected {
    pub session_id: Uuid,
    pub resource_id: Uuid,
    pub participant_id: Uuid,
    pub user_id: Uuid,
    pub source: String,
    pub reason: MediaEndReason,
}

/// A publisher's track is received and forwarded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrackPublished {
    pub session_id: Uuid,
    /// The publisher's WHIP resource.
    pub resource_id: Uuid,
    pub source: String,
    pub kind: MediaKind,
    /// The negotiated codec, lowercase (`vp8`, `h264`, `opus`).
    pub codec: String,
    /// The SDP media id of the track's transceiver.
    pub mid: String,
}

/// A publisher's track ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrackUnpublished {
    pub session_id: Uuid,
    pub resource_id: Uuid,
    pub source: String,
    pub kind: MediaKind,
    pub mid: String,
    pub reason: MediaEndReason,
}

/// A subscriber's WHEP session is up, with this many receive slots.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SubscriberConnected {
    pub session_id: Uuid,
    /// The WHEP resource (`/v1/sessions/{id}/whep/{resource_id}`).
    pub resource_id: Uuid,
    pub participant_id: Uuid,
    pub user_id: Uuid,
    /// Video transceivers in its offer: each shows one source at a time.
    pub video_slots: u32,
    /// Audio transceivers in its offer.
    pub audio_slots: u32,
}

/// A subscriber's WHEP session ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SubscriberDisconnected {
    pub session_id: Uuid,
    pub resource_id: Uuid,
    pub participant_id: Uuid,
    pub user_id: Uuid,
    pub reason: MediaEndReason,
}

/// The sources a subscriber's video slots show changed (no renegotiation).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SubscriptionChanged {
    pub session_id: Uuid,
    /// The subscriber's WHEP resource.
    pub resource_id: Uuid,
    pub participant_id: Uuid,
    pub user_id: Uuid,
    /// The source each video slot now shows, in slot order (`None`: nothing).
    pub slots: Vec<Option<String>>,
    /// What they showed before.
    pub previous: Vec<Option<String>>,
}

/// The SFU asked a publisher for a keyframe.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyframeRequested {
    pub session_id: Uuid,
    /// The publisher's WHIP resource.
    pub resource_id: Uuid,
    pub source: String,
    pub kind: KeyframeKind,
    pub cause: KeyframeCause,
}

/// The SFU forwarded the first frame of a source to a subscriber's slot (server-measured).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FirstFrameDelivered {
    pub session_id: Uuid,
    /// The subscriber's WHEP resource.
    pub resource_id: Uuid,
    pub participant_id: Uuid,
    pub user_id: Uuid,
    pub source: String,
    /// The video slot, from 0.
    pub slot: u32,
    /// From the participant's `participants:join` (the join time in its SFU token) to this
    /// keyframe's forwarding; 0 when the token carried no join time.
    pub join_to_first_frame_ms: u64,
}

/// A client reports it decoded its first frame (client-measured, over the WebSocket).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FirstFrameDecoded {
    pub session_id: Uuid,
    pub participant_id: Uuid,
    pub user_id: Uuid,
    /// The source whose frame it was, if the client said.
    pub source: Option<String>,
    /// From `participants:join` to the client's first decoded frame, as the client measured it.
    pub join_to_first_frame_ms: u64,
}

/// One published track's reception over the last `interval_ms` (every 10 s per track).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MediaQualitySampled {
    pub session_id: Uuid,
    /// The publisher's WHIP resource.
    pub resource_id: Uuid,
    pub source: String,
    pub kind: MediaKind,
    pub mid: String,
    /// Received bits per second over the interval.
    pub bitrate_bps: u64,
    /// Packets received in the interval.
    pub packets: u64,
    /// Packets lost in the interval.
    pub packets_lost: u64,
    /// Interarrival jitter (RTCP), if known.
    pub jitter_us: Option<u64>,
    /// Round-trip time to the publisher, if known.
    pub rtt_ms: Option<u64>,
    pub interval_ms: u64,
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
    PublisherConnected(PublisherConnected),
    PublisherDisconnected(PublisherDisconnected),
    TrackPublished(TrackPublished),
    TrackUnpublished(TrackUnpublished),
    SubscriberConnected(SubscriberConnected),
    SubscriberDisconnected(SubscriberDisconnected),
    SubscriptionChanged(SubscriptionChanged),
    KeyframeRequested(KeyframeRequested),
    FirstFrameDelivered(FirstFrameDelivered),
    FirstFrameDecoded(FirstFrameDecoded),
    MediaQualitySampled(MediaQualitySampled),
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
        "PublisherConnected",
        "PublisherDisconnected",
        "TrackPublished",
        "TrackUnpublished",
        "SubscriberConnected",
        "SubscriberDisconnected",
        "SubscriptionChanged",
        "KeyframeRequested",
        "FirstFrameDelivered",
        "FirstFrameDecoded",
        "MediaQualitySampled",
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
            Event::PublisherConnected(_) => "PublisherConnected",
            Event::PublisherDisconnected(_) => "PublisherDisconnected",
            Event::TrackPublished(_) => "TrackPublished",
            Event::TrackUnpublished(_) => "TrackUnpublished",
            Event::SubscriberConnected(_) => "SubscriberConnected",
            Event::SubscriberDisconnected(_) => "SubscriberDisconnected",
            Event::SubscriptionChanged(_) => "SubscriptionChanged",
            Event::KeyframeRequested(_) => "KeyframeRequested",
            Event::FirstFrameDelivered(_) => "FirstFrameDelivered",
            Event::FirstFrameDecoded(_) => "FirstFrameDecoded",
            Event::MediaQualitySampled(_) => "MediaQualitySampled",
            Event::UserRegistered(_) => "UserRegistered",
            Event::UserRoleChanged(_) => "UserRoleChanged",
            Event::UserDisplayNameChanged(_) => "UserDisplayNameChanged",
            Event::UserDeactivated(_) => "UserDeactivated",
            Event::UserReactivated(_) => "UserReactivated",
            Event::AccessDenied(_) => "AccessDenied",
            Event::AuditTrailRead(_) => "AuditTrailRead",
        }
    }

    /// Whether this event changes who is a member of a session, in which role (creation
    /// included: it makes the creator the host).
    pub fn changes_membership(&self) -> bool {
        matches!(
            self,
            Event::SessionCreated(_)
                | Event::MemberAdded(_)
                | Event::MemberRoleChanged(_)
                | Event::MemberRemoved(_)
        )
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

/// The user whose aggregate stream this is, if it is one.
pub fn user_of_stream(stream: &str) -> Option<Uuid> {
    Uuid::parse_str(stream.strip_prefix("user-")?).ok()
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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::session::session_id_of;

    const SESSION: &str = "0190d7a2-8c4e-7b3a-9f10-5e5500000001";
    const WHIP: &str = "0190d7a2-8c4e-7b3a-9f10-0000000000b1";
    const WHEP: &str = "0190d7a2-8c4e-7b3a-9f10-0000000000b2";
    const PARTICIPANT: &str = "0190d7a2-8c4e-7b3a-9f10-0000000000a1";
    const USER: &str = "0190d7a2-8c4e-7b3a-9f10-000000000001";

    fn id(s: &str) -> Uuid {
        Uuid::parse_str(s).expect("test ids are uuids")
    }

    /// Each media event as the SFU contract spells its `data`, and the event it reads as.
    fn media_wire_samples() -> Vec<(serde_json::Value, Event)> {
        let (s, whip, whep, p, u) = (id(SESSION), id(WHIP), id(WHEP), id(PARTICIPANT), id(USER));
        vec![
            (
                json!({"session_id": SESSION, "resource_id": WHIP, "participant_id": PARTICIPANT,
                       "user_id": USER, "source": "endoscope"}),
                Event::PublisherConnected(PublisherConnected {
                    session_id: s,
                    resource_id: whip,
                    participant_id: p,
                    user_id: u,
                    source: "endoscope".into(),
                }),
            ),
            (
                json!({"session_id": SESSION, "resource_id": WHIP, "participant_id": PARTICIPANT,
                       "user_id": USER, "source": "endoscope", "reason": "session_ended"}),
                Event::PublisherDisconnected(PublisherDisconnected {
                    session_id: s,
                    resource_id: whip,
                    participant_id: p,
                    user_id: u,
                    source: "endoscope".into(),
                    reason: MediaEndReason::SessionEnded,
                }),
            ),
            (
                json!({"session_id": SESSION, "resource_id": WHIP, "source": "endoscope",
                       "kind": "video", "codec": "vp8", "mid": "0"}),
                Event::TrackPublished(TrackPublished {
                    session_id: s,
                    resource_id: whip,
                    source: "endoscope".into(),
                    kind: MediaKind::Video,
                    codec: "vp8".into(),
                    mid: "0".into(),
                }),
            ),
            (
                json!({"session_id": SESSION, "resource_id": WHIP, "source": "endoscope",
                       "kind": "audio", "mid": "1", "reason": "disconnected"}),
                Event::TrackUnpublished(TrackUnpublished {
                    session_id: s,
                    resource_id: whip,
                    source: "endoscope".into(),
                    kind: MediaKind::Audio,
                    mid: "1".into(),
                    reason: MediaEndReason::Disconnected,
                }),
            ),
            (
                json!({"session_id": SESSION, "resource_id": WHEP, "participant_id": PARTICIPANT,
                       "user_id": USER, "video_slots": 2, "audio_slots": 1}),
                Event::SubscriberConnected(SubscriberConnected {
                    session_id: s,
                    resource_id: whep,
                    participant_id: p,
                    user_id: u,
                    video_slots: 2,
                    audio_slots: 1,
                }),
            ),
            (
                json!({"session_id": SESSION, "resource_id": WHEP, "participant_id": PARTICIPANT,
                       "user_id": USER, "reason": "removed"}),
                Event::SubscriberDisconnected(SubscriberDisconnected {
                    session_id: s,
                    resource_id: whep,
                    participant_id: p,
                    user_id: u,
                    reason: MediaEndReason::Removed,
                }),
            ),
            (
                json!({"session_id": SESSION, "resource_id": WHEP, "participant_id": PARTICIPANT,
                       "user_id": USER, "slots": ["room-cam", null],
                       "previous": ["endoscope", "room-cam"]}),
                Event::SubscriptionChanged(SubscriptionChanged {
                    session_id: s,
                    resource_id: whep,
                    participant_id: p,
                    user_id: u,
                    slots: vec![Some("room-cam".into()), None],
                    previous: vec![Some("endoscope".into()), Some("room-cam".into())],
                }),
            ),
            (
                json!({"session_id": SESSION, "resource_id": WHIP, "source": "endoscope",
                       "kind": "pli", "cause": "first_frame"}),
                Event::KeyframeRequested(KeyframeRequested {
                    session_id: s,
                    resource_id: whip,
                    source: "endoscope".into(),
                    kind: KeyframeKind::Pli,
                    cause: KeyframeCause::FirstFrame,
                }),
            ),
            (
                json!({"session_id": SESSION, "resource_id": WHEP, "participant_id": PARTICIPANT,
                       "user_id": USER, "source": "endoscope", "slot": 1,
                       "join_to_first_frame_ms": 312}),
                Event::FirstFrameDelivered(FirstFrameDelivered {
                    session_id: s,
                    resource_id: whep,
                    participant_id: p,
                    user_id: u,
                    source: "endoscope".into(),
                    slot: 1,
                    join_to_first_frame_ms: 312,
                }),
            ),
            (
                json!({"session_id": SESSION, "participant_id": PARTICIPANT, "user_id": USER,
                       "source": null, "join_to_first_frame_ms": 420}),
                Event::FirstFrameDecoded(FirstFrameDecoded {
                    session_id: s,
                    participant_id: p,
                    user_id: u,
                    source: None,
                    join_to_first_frame_ms: 420,
                }),
            ),
            (
                json!({"session_id": SESSION, "resource_id": WHIP, "source": "endoscope",
                       "kind": "video", "mid": "0", "bitrate_bps": 2_500_000, "packets": 2_300,
                       "packets_lost": 4, "jitter_us": 1_800, "rtt_ms": null,
                       "interval_ms": 10_000}),
                Event::MediaQualitySampled(MediaQualitySampled {
                    session_id: s,
                    resource_id: whip,
                    source: "endoscope".into(),
                    kind: MediaKind::Video,
                    mid: "0".into(),
                    bitrate_bps: 2_500_000,
                    packets: 2_300,
                    packets_lost: 4,
                    jitter_us: Some(1_800),
                    rtt_ms: None,
                    interval_ms: 10_000,
                }),
            ),
        ]
    }

    #[test]
    fn media_events_read_and_write_the_data_the_sfu_contract_names() {
        let samples = media_wire_samples();
        let start = Event::TYPES
            .iter()
            .position(|t| *t == "PublisherConnected")
            .expect("media types are listed");
        for (i, (data, event)) in samples.iter().enumerate() {
            let event_type = event.event_type();
            assert_eq!(Event::TYPES[start + i], event_type, "declaration order");
            let read = Event::from_stored(event_type, 1, data)
                .unwrap_or_else(|e| panic!("{event_type}: {e}"));
            assert_eq!(&read, event, "{event_type} reads the contract's data");
            assert_eq!(
                &read.data(),
                data,
                "{event_type} writes the contract's data"
            );
            assert_eq!(session_id_of(&read), Some(id(SESSION)), "{event_type}");
        }
        assert_eq!(samples.len(), 11);
    }

    #[test]
    fn media_enums_spell_every_value_of_the_contract() {
        assert_eq!(
            json!([MediaKind::Audio, MediaKind::Video]),
            json!(["audio", "video"])
        );
        assert_eq!(
            json!([
                MediaEndReason::Deleted,
                MediaEndReason::Disconnected,
                MediaEndReason::Removed,
                MediaEndReason::SessionEnded,
                MediaEndReason::Shutdown,
                MediaEndReason::Failed,
            ]),
            json!([
                "deleted",
                "disconnected",
                "removed",
                "session_ended",
                "shutdown",
                "failed"
            ])
        );
        assert_eq!(
            json!([KeyframeKind::Pli, KeyframeKind::Fir]),
            json!(["pli", "fir"])
        );
        assert_eq!(
            json!([
                KeyframeCause::Subscriber,
                KeyframeCause::Switch,
                KeyframeCause::Loss,
                KeyframeCause::FirstFrame,
            ]),
            json!(["subscriber", "switch", "loss", "first_frame"])
        );
    }

    #[test]
    fn a_media_event_missing_a_field_or_with_an_unknown_value_is_unreadable() {
        let (data, _) = &media_wire_samples()[0];
        let mut missing = data.clone();
        missing.as_object_mut().unwrap().remove("source");
        assert!(Event::from_stored("PublisherConnected", 1, &missing).is_err());
        let (data, _) = &media_wire_samples()[7];
        let mut unknown = data.clone();
        unknown["cause"] = "whim".into();
        assert!(Event::from_stored("KeyframeRequested", 1, &unknown).is_err());
    }
}
