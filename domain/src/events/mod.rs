//! Every domain event, past tense, with its schema version.
//!
//! Serialised as the envelope's `type` and `data`: `Event::SessionCreated(SessionCreated{..})`
//! has type `"SessionCreated"` and `data` the struct's fields. Times are not in `data`: the
//! envelope's `recorded_at` says when; `data` holds only what the command decided.
//! A change to a struct's shape bumps its schema version and adds an upcaster in
//! [`Event::from_stored`].
//!
//! One file per stream: `session` (the session's life, members, participants, layout and
//! recording), `media` (the SFU's events, on the session stream too), `teaching` (strokes,
//! pointer, chat, questions and hands, on the session stream too), `user` and `access`. Every
//! type is re-exported here: `events::X` is the one path to name it by.

mod access;
mod media;
mod recording;
mod session;
mod teaching;
mod user;

pub use access::*;
pub use media::*;
pub use recording::*;
pub use session::*;
pub use teaching::*;
pub use user::*;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::envelope::{Actor, NewEvent};

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
    ArchiveOpened(ArchiveOpened),
    SegmentStored(SegmentStored),
    RecordingOverrun(RecordingOverrun),
    ArchiveClosed(ArchiveClosed),
    ArchiveFinalised(ArchiveFinalised),
    ArchiveAccessed(ArchiveAccessed),
    ArchiveRetentionChanged(ArchiveRetentionChanged),
    ArchiveExpired(ArchiveExpired),
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
    SourceStalled(SourceStalled),
    SourceResumed(SourceResumed),
    MediaPlaced(MediaPlaced),
    AnnotationStroke(AnnotationStroke),
    AnnotationCleared(AnnotationCleared),
    PointerMoved(PointerMoved),
    ChatMessagePosted(ChatMessagePosted),
    QuestionAsked(QuestionAsked),
    QuestionAnswered(QuestionAnswered),
    HandRaised(HandRaised),
    HandLowered(HandLowered),
    TeachingSettingsChanged(TeachingSettingsChanged),
    UserRegistered(UserRegistered),
    UserRoleChanged(UserRoleChanged),
    UserDisplayNameChanged(UserDisplayNameChanged),
    UserDeactivated(UserDeactivated),
    UserReactivated(UserReactivated),
    AccessDenied(AccessDenied),
    AuditTrailRead(AuditTrailRead),
    RefreshTokenReused(RefreshTokenReused),
    SignInThrottled(SignInThrottled),
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
        "ArchiveOpened",
        "SegmentStored",
        "RecordingOverrun",
        "ArchiveClosed",
        "ArchiveFinalised",
        "ArchiveAccessed",
        "ArchiveRetentionChanged",
        "ArchiveExpired",
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
        "SourceStalled",
        "SourceResumed",
        "MediaPlaced",
        "AnnotationStroke",
        "AnnotationCleared",
        "PointerMoved",
        "ChatMessagePosted",
        "QuestionAsked",
        "QuestionAnswered",
        "HandRaised",
        "HandLowered",
        "TeachingSettingsChanged",
        "UserRegistered",
        "UserRoleChanged",
        "UserDisplayNameChanged",
        "UserDeactivated",
        "UserReactivated",
        "AccessDenied",
        "AuditTrailRead",
        "RefreshTokenReused",
        "SignInThrottled",
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
            Event::ArchiveOpened(_) => "ArchiveOpened",
            Event::SegmentStored(_) => "SegmentStored",
            Event::RecordingOverrun(_) => "RecordingOverrun",
            Event::ArchiveClosed(_) => "ArchiveClosed",
            Event::ArchiveFinalised(_) => "ArchiveFinalised",
            Event::ArchiveAccessed(_) => "ArchiveAccessed",
            Event::ArchiveRetentionChanged(_) => "ArchiveRetentionChanged",
            Event::ArchiveExpired(_) => "ArchiveExpired",
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
            Event::SourceStalled(_) => "SourceStalled",
            Event::SourceResumed(_) => "SourceResumed",
            Event::MediaPlaced(_) => "MediaPlaced",
            Event::AnnotationStroke(_) => "AnnotationStroke",
            Event::AnnotationCleared(_) => "AnnotationCleared",
            Event::PointerMoved(_) => "PointerMoved",
            Event::ChatMessagePosted(_) => "ChatMessagePosted",
            Event::QuestionAsked(_) => "QuestionAsked",
            Event::QuestionAnswered(_) => "QuestionAnswered",
            Event::HandRaised(_) => "HandRaised",
            Event::HandLowered(_) => "HandLowered",
            Event::TeachingSettingsChanged(_) => "TeachingSettingsChanged",
            Event::UserRegistered(_) => "UserRegistered",
            Event::UserRoleChanged(_) => "UserRoleChanged",
            Event::UserDisplayNameChanged(_) => "UserDisplayNameChanged",
            Event::UserDeactivated(_) => "UserDeactivated",
            Event::UserReactivated(_) => "UserReactivated",
            Event::AccessDenied(_) => "AccessDenied",
            Event::AuditTrailRead(_) => "AuditTrailRead",
            Event::RefreshTokenReused(_) => "RefreshTokenReused",
            Event::SignInThrottled(_) => "SignInThrottled",
        }
    }

    /// Whether this event changes who is a member of a session, or in which role: caches of
    /// membership are invalidated by these events only.
    pub fn changes_membership(&self) -> bool {
        // Exhaustive on purpose: a new event type must be classified here before it compiles.
        match self {
            Event::SessionCreated(_)
            | Event::MemberAdded(_)
            | Event::MemberRoleChanged(_)
            | Event::MemberRemoved(_) => true,
            Event::SessionDetailsChanged(_)
            | Event::SessionStarted(_)
            | Event::SessionEnded(_)
            | Event::SessionCancelled(_)
            | Event::ParticipantJoined(_)
            | Event::ParticipantLeft(_)
            | Event::LayoutInitialized(_)
            | Event::LayoutUpdated(_)
            | Event::SourceSelected(_)
            | Event::RecordingRequested(_)
            | Event::RecordingStarted(_)
            | Event::RecordingStopped(_)
            | Event::ArchiveOpened(_)
            | Event::SegmentStored(_)
            | Event::RecordingOverrun(_)
            | Event::ArchiveClosed(_)
            | Event::ArchiveFinalised(_)
            | Event::ArchiveAccessed(_)
            | Event::ArchiveRetentionChanged(_)
            | Event::ArchiveExpired(_)
            | Event::PublisherConnected(_)
            | Event::PublisherDisconnected(_)
            | Event::TrackPublished(_)
            | Event::TrackUnpublished(_)
            | Event::SubscriberConnected(_)
            | Event::SubscriberDisconnected(_)
            | Event::SubscriptionChanged(_)
            | Event::KeyframeRequested(_)
            | Event::FirstFrameDelivered(_)
            | Event::FirstFrameDecoded(_)
            | Event::MediaQualitySampled(_)
            | Event::SourceStalled(_)
            | Event::SourceResumed(_)
            | Event::MediaPlaced(_)
            | Event::AnnotationStroke(_)
            | Event::AnnotationCleared(_)
            | Event::PointerMoved(_)
            | Event::ChatMessagePosted(_)
            | Event::QuestionAsked(_)
            | Event::QuestionAnswered(_)
            | Event::HandRaised(_)
            | Event::HandLowered(_)
            | Event::TeachingSettingsChanged(_)
            | Event::UserRegistered(_)
            | Event::UserRoleChanged(_)
            | Event::UserDisplayNameChanged(_)
            | Event::UserDeactivated(_)
            | Event::UserReactivated(_)
            | Event::AccessDenied(_)
            | Event::AuditTrailRead(_)
            | Event::RefreshTokenReused(_)
            | Event::SignInThrottled(_) => false,
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
        // The tag goes first and the data is borrowed: serde reads an adjacently tagged enum
        // without buffering when its tag comes before its content, and nothing is copied (a
        // `json!` object would clone the data and, sorted, put "data" before "type").
        let tag = serde_json::Value::String(event_type.to_owned());
        let fields = [("type", &tag), ("data", data)];
        let map =
            serde::de::value::MapDeserializer::<_, serde_json::Error>::new(fields.into_iter());
        Event::deserialize(map).map_err(|e| unknown(e.to_string()))
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
    use std::collections::BTreeMap;

    use super::*;
    use crate::permissions::Action;
    use crate::roles::{OrgRole, SessionRole};
    use crate::session::{SessionState, evolve};

    /// What a membership cache holds for a session: whether it exists, and who is in which role.
    fn membership(state: &SessionState) -> (bool, BTreeMap<Uuid, SessionRole>) {
        (state.session_id.is_some(), state.members.clone())
    }

    /// A session's life, touching every kind of session-stream event but media.
    fn session_life(session_id: Uuid, host: Uuid, guest: Uuid) -> Vec<Event> {
        let participant_id = Uuid::from_u128(0xa1);
        let recording_id = Uuid::from_u128(0xc1);
        vec![
            Event::SessionCreated(SessionCreated {
                session_id,
                title: "Lap chole".into(),
                procedure: None,
                scheduled_start: None,
                created_by: host,
            }),
            Event::MemberAdded(MemberAdded {
                session_id,
                user_id: host,
                role: SessionRole::Host,
            }),
            Event::LayoutInitialized(LayoutInitialized {
                session_id,
                version: 1,
                panels: Vec::new(),
            }),
            Event::MemberAdded(MemberAdded {
                session_id,
                user_id: guest,
                role: SessionRole::Observer,
            }),
            Event::SessionDetailsChanged(SessionDetailsChanged {
                session_id,
                title: Some("Lap chole (2)".into()),
                procedure: None,
                scheduled_start: None,
            }),
            Event::SessionStarted(SessionStarted { session_id }),
            Event::ParticipantJoined(ParticipantJoined {
                session_id,
                participant_id,
                user_id: guest,
                role: SessionRole::Observer,
                device: None,
            }),
            Event::MemberRoleChanged(MemberRoleChanged {
                session_id,
                user_id: guest,
                from: SessionRole::Observer,
                to: SessionRole::Surgeon,
            }),
            Event::RecordingRequested(RecordingRequested {
                session_id,
                recording_id,
            }),
            Event::RecordingStarted(RecordingStarted {
                session_id,
                recording_id,
            }),
            Event::SourceSelected(SourceSelected {
                session_id,
                panel_id: "p1".into(),
                source_id: Some("endoscope".into()),
                layout_version: 2,
                changed_by: Actor::system(),
            }),
            Event::RecordingStopped(RecordingStopped {
                session_id,
                recording_id,
            }),
            Event::ParticipantLeft(ParticipantLeft {
                session_id,
                participant_id,
                user_id: guest,
                reason: LeaveReason::Kicked,
            }),
            Event::MemberRemoved(MemberRemoved {
                session_id,
                user_id: guest,
            }),
            Event::SessionEnded(SessionEnded { session_id }),
        ]
    }

    #[test]
    fn exactly_the_events_that_change_who_is_a_member_in_which_role_change_membership() {
        let (session_id, host, guest) =
            (Uuid::from_u128(1), Uuid::from_u128(2), Uuid::from_u128(3));
        let mut state = SessionState::default();
        let mut flagged = Vec::new();
        for event in session_life(session_id, host, guest) {
            let before = membership(&state);
            state = evolve(state, &event);
            let changed = before != membership(&state);
            assert_eq!(
                event.changes_membership(),
                changed,
                "{} changes membership: {changed}",
                event.event_type()
            );
            if changed {
                flagged.push(event.event_type());
            }
        }
        flagged.dedup();
        assert_eq!(
            flagged,
            [
                "SessionCreated",
                "MemberAdded",
                "MemberRoleChanged",
                "MemberRemoved"
            ]
        );
    }

    #[test]
    fn events_of_other_streams_never_change_a_sessions_membership() {
        let user_id = Uuid::from_u128(2);
        let others = [
            Event::UserRegistered(UserRegistered {
                user_id,
                username: "ada".into(),
                display_name: "Ada".into(),
                role: OrgRole::Surgeon,
            }),
            Event::UserRoleChanged(UserRoleChanged {
                user_id,
                from: OrgRole::Surgeon,
                to: OrgRole::Observer,
            }),
            Event::UserDeactivated(UserDeactivated { user_id }),
            Event::AccessDenied(AccessDenied {
                user_id,
                session_id: Some(Uuid::from_u128(1)),
                action: Action::AddMember,
                method: "PUT".into(),
                route: "/v1/sessions/{id}/members/{user_id}".into(),
                status: 403,
                reason: "not a host".into(),
            }),
        ];
        for event in others {
            assert!(!event.changes_membership(), "{}", event.event_type());
        }
    }
}
