//! The realtime protocol's messages (version [`PROTOCOL_VERSION`]): JSON objects with a `type`.
//! Their JSON Schemas are in `schemas/ws/`; the README describes the protocol.

use chrono::{DateTime, Utc};
use livesurgery_domain::envelope::{Actor, RecordedEvent};
use livesurgery_domain::events::{
    ClearScope, FramePoint, PlacementReason, PointerSample, StrokeKind,
};
use livesurgery_domain::layout::LayoutChanges;
use livesurgery_domain::replay::{LayoutView, MemberView};
use livesurgery_domain::roles::SessionRole;
use livesurgery_domain::session::{MediaPlacement, RecordingStatus, SessionState, SessionStatus};
use livesurgery_domain::teaching::TeachingView;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::app::placement::MediaLocation;
use crate::auth::MediaPermission;

/// The version in every `welcome`.
pub const PROTOCOL_VERSION: u32 = 1;
/// The WebSocket subprotocol a client may offer (with `bearer.<token>` beside it).
pub const SUBPROTOCOL: &str = "livesurgery.v1";
/// The prefix of the subprotocol entry that carries the token.
pub const TOKEN_SUBPROTOCOL_PREFIX: &str = "bearer.";
/// The longest `ref` a client may send.
pub const MAX_REF_LEN: usize = 64;

/// Close codes the server uses (besides the standard 1001, 1009 and 1011).
pub mod close {
    /// The join token expired: join again.
    pub const TOKEN_EXPIRED: u16 = 4001;
    /// The participant was kicked, its member removed, or the user deactivated.
    pub const REMOVED: u16 = 4003;
    /// The outgoing queue overflowed; the client may resume.
    pub const SLOW_CONSUMER: u16 = 4008;
    /// Another connection of the same participant connected to this server.
    pub const REPLACED: u16 = 4009;
    /// Nothing received for the heartbeat timeout.
    pub const HEARTBEAT_TIMEOUT: u16 = 4010;
}

/// A client's correlation reference, echoed in `ack` and `error`: 1 to 64 characters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String")]
pub struct Ref(pub String);

impl TryFrom<String> for Ref {
    type Error = String;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        if value.is_empty() || value.chars().count() > MAX_REF_LEN {
            Err(format!("ref must have 1 to {MAX_REF_LEN} characters"))
        } else {
            Ok(Ref(value))
        }
    }
}

/// What a client may send.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "type", deny_unknown_fields)]
pub enum ClientMessage {
    /// Only as the first message: send the events after this position.
    #[serde(rename = "resume")]
    Resume { after_position: u64 },
    /// A layout write based on `base_version`.
    #[serde(rename = "layout.update")]
    LayoutUpdate {
        #[serde(rename = "ref")]
        reference: Ref,
        base_version: u64,
        changes: LayoutChanges,
    },
    /// Show a source (or nothing) in a panel.
    #[serde(rename = "source.select")]
    SourceSelect {
        #[serde(rename = "ref")]
        reference: Ref,
        panel_id: String,
        source_id: Option<String>,
    },
    /// Choose the sources of this participant's subscription (WHEP) slots; answered with
    /// `media.subscribed`.
    #[serde(rename = "media.subscribe")]
    MediaSubscribe {
        #[serde(rename = "ref")]
        reference: Ref,
        slots: Vec<Option<String>>,
    },
    /// The client decoded its first frame; stored as `FirstFrameDecoded`, answered with `ack`.
    #[serde(rename = "media.first_frame")]
    MediaFirstFrame {
        #[serde(rename = "ref")]
        reference: Ref,
        #[serde(default)]
        source_id: Option<String>,
        join_to_first_frame_ms: u64,
    },
    /// Start recording the session (a new recording); answered with `ack` (with the
    /// `recording_id`) or `error`.
    #[serde(rename = "recording.start")]
    RecordingStart {
        #[serde(rename = "ref")]
        reference: Ref,
    },
    /// Stop the session's running recording; answered with `ack` (with the `recording_id`) or
    /// `error`.
    #[serde(rename = "recording.stop")]
    RecordingStop {
        #[serde(rename = "ref")]
        reference: Ref,
    },
    /// A finished stroke on a panel's picture (`AnnotationStroke`), before simplification.
    #[serde(rename = "annotation.stroke")]
    AnnotationStroke {
        #[serde(rename = "ref")]
        reference: Ref,
        stroke_id: Uuid,
        panel_id: String,
        source_id: Option<String>,
        media_time_ms: Option<u64>,
        kind: StrokeKind,
        points: Vec<FramePoint>,
        color: String,
        width: f64,
        pinned: bool,
    },
    /// Clear one's own strokes or everyone's (`AnnotationCleared`).
    #[serde(rename = "annotation.clear")]
    AnnotationClear {
        #[serde(rename = "ref")]
        reference: Ref,
        scope: ClearScope,
        panel_id: Option<String>,
    },
    /// A batch of laser-pointer samples (`PointerMoved`).
    #[serde(rename = "pointer.move")]
    PointerMove {
        #[serde(rename = "ref")]
        reference: Ref,
        panel_id: String,
        source_id: Option<String>,
        points: Vec<PointerSample>,
    },
    /// A chat message (`ChatMessagePosted`).
    #[serde(rename = "chat.post")]
    ChatPost {
        #[serde(rename = "ref")]
        reference: Ref,
        message_id: Uuid,
        text: String,
        mentions: Vec<Uuid>,
    },
    /// A question to the host (`QuestionAsked`).
    #[serde(rename = "question.ask")]
    QuestionAsk {
        #[serde(rename = "ref")]
        reference: Ref,
        question_id: Uuid,
        text: String,
    },
    /// Mark a question answered (`QuestionAnswered`).
    #[serde(rename = "question.answer")]
    QuestionAnswer {
        #[serde(rename = "ref")]
        reference: Ref,
        question_id: Uuid,
    },
    /// Raise one's hand (`HandRaised`).
    #[serde(rename = "hand.raise")]
    HandRaise {
        #[serde(rename = "ref")]
        reference: Ref,
    },
    /// Lower one's own hand, or (the host) anyone's (`HandLowered`).
    #[serde(rename = "hand.lower")]
    HandLower {
        #[serde(rename = "ref")]
        reference: Ref,
        #[serde(default)]
        user_id: Option<Uuid>,
    },
    /// The host's teaching switches (`TeachingSettingsChanged`); absent fields are unchanged.
    #[serde(rename = "teaching.settings")]
    TeachingSettings {
        #[serde(rename = "ref")]
        reference: Ref,
        #[serde(default)]
        observers_may_annotate: Option<bool>,
        #[serde(default)]
        observer_chat: Option<bool>,
        #[serde(default)]
        stroke_fade_ms: Option<u32>,
    },
    /// Liveness; answered with `pong`.
    #[serde(rename = "ping")]
    Ping {
        #[serde(rename = "ref", default)]
        reference: Option<Ref>,
    },
}

impl ClientMessage {
    /// The message's `type`.
    pub fn kind(&self) -> &'static str {
        match self {
            ClientMessage::Resume { .. } => "resume",
            ClientMessage::LayoutUpdate { .. } => "layout.update",
            ClientMessage::SourceSelect { .. } => "source.select",
            ClientMessage::MediaSubscribe { .. } => "media.subscribe",
            ClientMessage::MediaFirstFrame { .. } => "media.first_frame",
            ClientMessage::RecordingStart { .. } => "recording.start",
            ClientMessage::RecordingStop { .. } => "recording.stop",
            ClientMessage::AnnotationStroke { .. } => "annotation.stroke",
            ClientMessage::AnnotationClear { .. } => "annotation.clear",
            ClientMessage::PointerMove { .. } => "pointer.move",
            ClientMessage::ChatPost { .. } => "chat.post",
            ClientMessage::QuestionAsk { .. } => "question.ask",
            ClientMessage::QuestionAnswer { .. } => "question.answer",
            ClientMessage::HandRaise { .. } => "hand.raise",
            ClientMessage::HandLower { .. } => "hand.lower",
            ClientMessage::TeachingSettings { .. } => "teaching.settings",
            ClientMessage::Ping { .. } => "ping",
        }
    }
}

/// The client message types, for metric labels (anything else counts as `invalid`).
pub const CLIENT_TYPES: [&str; 17] = [
    "resume",
    "layout.update",
    "source.select",
    "media.subscribe",
    "media.first_frame",
    "recording.start",
    "recording.stop",
    "annotation.stroke",
    "annotation.clear",
    "pointer.move",
    "chat.post",
    "question.ask",
    "question.answer",
    "hand.raise",
    "hand.lower",
    "teaching.settings",
    "ping",
];

/// What the server sends.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type")]
pub enum ServerMessage {
    #[serde(rename = "welcome")]
    Welcome(Box<Welcome>),
    #[serde(rename = "resumed")]
    Resumed {
        after_position: u64,
        position: u64,
        replayed: u64,
    },
    #[serde(rename = "ack")]
    Ack {
        #[serde(rename = "ref")]
        reference: Ref,
        /// Present when the write changed the layout.
        #[serde(skip_serializing_if = "Option::is_none")]
        layout_version: Option<u64>,
        /// Present for `recording.start` (the new recording) and `recording.stop`.
        #[serde(skip_serializing_if = "Option::is_none")]
        recording_id: Option<Uuid>,
        position: u64,
    },
    /// The answer to `media.subscribe`: the participant's subscriptions as they now are.
    #[serde(rename = "media.subscribed")]
    MediaSubscribed {
        #[serde(rename = "ref")]
        reference: Ref,
        resources: Vec<crate::sfu::SubscriptionView>,
    },
    #[serde(rename = "error")]
    Error {
        #[serde(rename = "ref")]
        reference: Option<Ref>,
        code: String,
        message: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        current_version: Option<u64>,
    },
    #[serde(rename = "pong")]
    Pong {
        #[serde(rename = "ref")]
        reference: Option<Ref>,
        time: DateTime<Utc>,
    },
    /// Right after the `event` of a `MediaPlaced`: the session's media is now on this node;
    /// a client whose media is on another node publishes and subscribes again at these URLs
    /// (with the SFU token it has: every node takes it).
    #[serde(rename = "media.placed")]
    MediaPlaced {
        /// The position of the `MediaPlaced` event.
        position: u64,
        reason: PlacementReason,
        #[serde(flatten)]
        location: MediaLocation,
    },
}

impl ServerMessage {
    /// The message's `type`.
    pub fn kind(&self) -> &'static str {
        match self {
            ServerMessage::Welcome(_) => "welcome",
            ServerMessage::Resumed { .. } => "resumed",
            ServerMessage::Ack { .. } => "ack",
            ServerMessage::MediaSubscribed { .. } => "media.subscribed",
            ServerMessage::Error { .. } => "error",
            ServerMessage::Pong { .. } => "pong",
            ServerMessage::MediaPlaced { .. } => "media.placed",
        }
    }

    /// An `error` answer.
    pub fn error(reference: Option<Ref>, code: &str, message: impl Into<String>) -> Self {
        ServerMessage::Error {
            reference,
            code: code.to_owned(),
            message: message.into(),
            current_version: None,
        }
    }

    /// The message as JSON text.
    pub fn to_text(&self) -> String {
        // Plain structs of strings, numbers and ids always serialise.
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// Why a `welcome` was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WelcomeReason {
    /// A new connection that did not resume.
    Connect,
    /// The `resume` position was further behind than the resume window.
    ResumeTooFarBehind,
    /// The `resume` position is ahead of anything this session has (a client of another log).
    ResumeUnknownPosition,
}

/// The first message of a connection that does not resume: who the client is and the session
/// as of `position`.
#[derive(Debug, Clone, Serialize)]
pub struct Welcome {
    pub protocol: u32,
    pub reason: WelcomeReason,
    pub participant_id: Uuid,
    pub user_id: Uuid,
    pub role: SessionRole,
    pub permissions: Vec<MediaPermission>,
    /// The log position of the snapshot: every event of the session after it follows.
    pub position: u64,
    pub heartbeat_interval_ms: u64,
    pub heartbeat_timeout_ms: u64,
    pub session: SessionSnapshot,
    /// Whether the session is being recorded as of `position` (people must know).
    pub recording: RecordingFlag,
}

/// Whether a session is being recorded, and the recording running.
#[derive(Debug, Clone, Serialize)]
pub struct RecordingFlag {
    pub active: bool,
    /// `None` when no recording is running.
    pub recording_id: Option<Uuid>,
}

impl RecordingFlag {
    /// The flag of a folded session.
    pub fn of(state: &SessionState) -> RecordingFlag {
        let active = state.recording.status == RecordingStatus::Recording;
        RecordingFlag {
            active,
            recording_id: state.recording.recording_id.filter(|_| active),
        }
    }
}

/// The session as the log has it at a position.
#[derive(Debug, Clone, Serialize)]
pub struct SessionSnapshot {
    pub session_id: Uuid,
    pub title: String,
    pub status: SessionStatus,
    pub members: Vec<MemberView>,
    pub participants: Vec<ParticipantSnapshot>,
    pub layout: LayoutView,
    /// The panels that show a source.
    pub sources: Vec<SourceSnapshot>,
    pub recording: RecordingSnapshot,
    /// Strokes (faded ones left out), chat, questions, raised hands and the host's switches.
    pub teaching: TeachingView,
    /// Where the session's media is placed (`null`: nowhere yet; the first join places it).
    pub media: Option<MediaLocation>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ParticipantSnapshot {
    pub participant_id: Uuid,
    pub user_id: Uuid,
    pub role: SessionRole,
    pub device: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SourceSnapshot {
    pub panel_id: String,
    pub source_id: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct RecordingSnapshot {
    pub status: RecordingStatus,
    pub recording_id: Option<Uuid>,
}

impl SessionSnapshot {
    /// The snapshot of a folded session (`None` when the state is of no session); strokes
    /// faded by `now` are left out; `media` says where its placement's WHIP/WHEP are.
    pub fn of(
        state: &SessionState,
        now: DateTime<Utc>,
        media: impl FnOnce(&MediaPlacement) -> MediaLocation,
    ) -> Option<SessionSnapshot> {
        Some(SessionSnapshot {
            session_id: state.session_id?,
            title: state.title.clone(),
            status: state.status?,
            members: state
                .members
                .iter()
                .map(|(user_id, role)| MemberView {
                    user_id: *user_id,
                    role: *role,
                })
                .collect(),
            participants: state
                .participants
                .iter()
                .map(|(participant_id, p)| ParticipantSnapshot {
                    participant_id: *participant_id,
                    user_id: p.user_id,
                    role: p.role,
                    device: p.device.clone(),
                })
                .collect(),
            layout: LayoutView {
                version: state.layout.version,
                panels: state.layout.panels.clone(),
            },
            sources: state
                .layout
                .panels
                .iter()
                .filter_map(|p| {
                    p.source_id.as_ref().map(|s| SourceSnapshot {
                        panel_id: p.id.clone(),
                        source_id: s.clone(),
                    })
                })
                .collect(),
            recording: RecordingSnapshot {
                status: state.recording.status,
                recording_id: state.recording.recording_id,
            },
            teaching: state.teaching.view(Some(now)),
            media: state.media.as_ref().map(media),
        })
    }
}

/// An `event` message: one event as it was appended.
#[derive(Debug, Serialize)]
struct EventMessage<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    position: u64,
    stream: &'a str,
    version: u64,
    id: Uuid,
    event_type: &'a str,
    schema_version: u32,
    data: &'a serde_json::Value,
    actor: &'a Actor,
    time: DateTime<Utc>,
    correlation_id: Uuid,
}

/// The `event` message of a recorded event, as JSON text.
pub fn event_text(event: &RecordedEvent) -> String {
    serde_json::to_string(&EventMessage {
        kind: "event",
        position: event.position,
        stream: &event.stream,
        version: event.version,
        id: event.id,
        event_type: &event.event_type,
        schema_version: event.schema_version,
        data: &event.data,
        actor: &event.actor,
        time: event.recorded_at,
        correlation_id: event.correlation_id,
    })
    .unwrap_or_default()
}

#[cfg(test)]
mod fuzz;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_messages_parse_and_unknown_fields_are_refused() {
        let m: ClientMessage = serde_json::from_str(
            r#"{"type":"layout.update","ref":"c1","base_version":3,"changes":{"panels":{"p1":{"x":2}}}}"#,
        )
        .unwrap();
        assert_eq!(m.kind(), "layout.update");
        let ping: ClientMessage = serde_json::from_str(r#"{"type":"ping"}"#).unwrap();
        assert_eq!(ping, ClientMessage::Ping { reference: None });
        assert!(serde_json::from_str::<ClientMessage>(r#"{"type":"ping","x":1}"#).is_err());
        assert!(serde_json::from_str::<ClientMessage>(r#"{"type":"nope"}"#).is_err());
        assert!(
            serde_json::from_str::<ClientMessage>(
                r#"{"type":"source.select","ref":"","panel_id":"p1","source_id":null}"#
            )
            .is_err(),
            "an empty ref is refused"
        );
        assert!(
            serde_json::from_str::<ClientMessage>(
                r#"{"type":"layout.update","base_version":1,"changes":{}}"#
            )
            .is_err(),
            "a write needs a ref"
        );
    }

    #[test]
    fn server_messages_carry_their_type() {
        let text = ServerMessage::error(Some(Ref("r".into())), "forbidden", "no").to_text();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["type"], "error");
        assert_eq!(v["ref"], "r");
        assert!(v.get("current_version").is_none());
    }
}
