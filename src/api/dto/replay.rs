//! A session replayed from the log at a moment (`GET /v1/sessions/{id}/state`).
//!
//! The domain's `replay::SessionView`, as the OpenAPI document describes it: the domain stays free
//! of the API's schema machinery, so this mirrors it field for field (the conversion below names
//! every field, so a field added there without being added here fails to compile).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{MemberRole, Panel, Recording, Status};

/// A session as it was at a moment, folded from the log (`GET /v1/sessions/{id}/state`).
#[derive(Debug, Serialize, ToSchema)]
pub struct Replay {
    pub session_id: Option<Uuid>,
    /// `null` if the session did not exist yet at that time.
    pub status: Option<Status>,
    pub title: String,
    pub procedure: Option<String>,
    pub scheduled_start: Option<DateTime<Utc>>,
    pub members: Vec<ReplayMember>,
    /// Participants present at that time.
    pub participants: Vec<ReplayParticipant>,
    pub layout: ReplayLayout,
    /// Panel id -> the source it shows (`null`: nothing).
    pub sources: BTreeMap<String, Option<String>>,
    pub recording: ReplayRecording,
    /// Sources published and subscribers connected at that time.
    pub media: ReplayMedia,
    /// Strokes shown then (unpinned ones older than the fade time left out), chat, questions,
    /// raised hands and the host's switches.
    pub teaching: ReplayTeaching,
    /// The time replayed to (`null`: the end of the log).
    pub at: Option<DateTime<Utc>>,
    /// Global position of the last event folded (0: none).
    pub last_position: u64,
    /// Stream version of the last event folded (0: none).
    pub last_version: u64,
    /// When the last event folded was recorded.
    pub last_recorded_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReplayMember {
    pub user_id: Uuid,
    pub role: MemberRole,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReplayParticipant {
    pub participant_id: Uuid,
    pub user_id: Uuid,
    /// The session role they joined with.
    pub role: MemberRole,
    pub device: Option<String>,
    /// When they joined.
    pub joined_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReplayLayout {
    pub version: u64,
    pub panels: Vec<Panel>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReplayRecording {
    pub state: Recording,
    pub recording_id: Option<Uuid>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReplayMedia {
    /// In publish order.
    pub sources: Vec<ReplaySource>,
    /// In connection order.
    pub subscribers: Vec<ReplaySubscriber>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReplaySource {
    pub source: String,
    /// The publisher's WHIP resource.
    pub resource_id: Uuid,
    pub user_id: Uuid,
    /// In publish order.
    pub tracks: Vec<ReplayTrack>,
    /// Its video had stopped arriving (`SourceStalled` without `SourceResumed` yet).
    pub stalled: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReplayTrack {
    /// `audio` or `video`.
    pub kind: String,
    pub codec: String,
    pub mid: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReplaySubscriber {
    /// The subscriber's WHEP resource.
    pub resource_id: Uuid,
    pub user_id: Uuid,
    pub participant_id: Uuid,
    /// The source each video slot shows, in slot order (`null`: nothing).
    pub slots: Vec<Option<String>>,
}

/// The teaching tools at the replayed time.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReplayTeaching {
    pub settings: ReplayTeachingSettings,
    /// Not cleared and not faded at that time (at most 500), in drawing order.
    pub strokes: Vec<ReplayStroke>,
    /// The last 200 messages, oldest first. The text may hold patient data.
    pub chat: Vec<ReplayChatMessage>,
    /// At most 200, oldest first.
    pub questions: Vec<ReplayQuestion>,
    /// Raised hands in the order raised.
    pub hands: Vec<ReplayHand>,
}

/// The host's teaching switches.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReplayTeachingSettings {
    pub observers_may_annotate: bool,
    pub observer_chat: bool,
    /// How long an unpinned stroke stays, in ms.
    pub stroke_fade_ms: u32,
}

/// `freehand`, `arrow` (`[tail, head]`) or `circle` (`[centre, rim]`).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StrokeKind {
    Freehand,
    Arrow,
    Circle,
}

/// A stroke on a panel's video; coordinates normalised to the video frame (0-1, top-left).
#[derive(Debug, Serialize, ToSchema)]
pub struct ReplayStroke {
    pub stroke_id: Uuid,
    pub user_id: Uuid,
    pub participant_id: Uuid,
    pub drawn_at: Option<DateTime<Utc>>,
    pub panel_id: String,
    /// The source the panel showed when drawn.
    pub source_id: Option<String>,
    /// The media time of the frame drawn on, when the browser knew it.
    pub media_time_ms: Option<u64>,
    pub kind: StrokeKind,
    /// `[x, y]` pairs.
    #[schema(value_type = Vec<Vec<f64>>)]
    pub points: Vec<[f64; 2]>,
    /// `#rrggbb`.
    pub color: String,
    /// A share of the frame's width.
    pub width: f64,
    pub pinned: bool,
}

/// A chat message.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReplayChatMessage {
    pub message_id: Uuid,
    pub user_id: Uuid,
    pub text: String,
    pub mentions: Vec<Uuid>,
    pub posted_at: Option<DateTime<Utc>>,
}

/// A question to the host.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReplayQuestion {
    pub question_id: Uuid,
    pub user_id: Uuid,
    pub text: String,
    pub asked_at: Option<DateTime<Utc>>,
    /// `null` while open.
    pub answered_at: Option<DateTime<Utc>>,
}

/// A raised hand.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReplayHand {
    pub user_id: Uuid,
    pub raised_at: Option<DateTime<Utc>>,
}

impl From<livesurgery_domain::teaching::TeachingView> for ReplayTeaching {
    fn from(v: livesurgery_domain::teaching::TeachingView) -> ReplayTeaching {
        use livesurgery_domain::events::StrokeKind as Kind;
        use livesurgery_domain::teaching::{
            ChatMessage, Hand, Question, Stroke, TeachingSettings, TeachingView,
        };
        let TeachingView {
            settings:
                TeachingSettings {
                    observers_may_annotate,
                    observer_chat,
                    stroke_fade_ms,
                },
            strokes,
            chat,
            questions,
            hands,
        } = v;
        ReplayTeaching {
            settings: ReplayTeachingSettings {
                observers_may_annotate,
                observer_chat,
                stroke_fade_ms,
            },
            strokes: strokes
                .into_iter()
                .map(
                    |Stroke {
                         stroke_id,
                         user_id,
                         participant_id,
                         drawn_at,
                         panel_id,
                         source_id,
                         media_time_ms,
                         kind,
                         points,
                         color,
                         width,
                         pinned,
                     }| ReplayStroke {
                        stroke_id,
                        user_id,
                        participant_id,
                        drawn_at,
                        panel_id,
                        source_id,
                        media_time_ms,
                        kind: match kind {
                            Kind::Freehand => StrokeKind::Freehand,
                            Kind::Arrow => StrokeKind::Arrow,
                            Kind::Circle => StrokeKind::Circle,
                        },
                        points,
                        color,
                        width,
                        pinned,
                    },
                )
                .collect(),
            chat: chat
                .into_iter()
                .map(
                    |ChatMessage {
                         message_id,
                         user_id,
                         text,
                         mentions,
                         posted_at,
                     }| ReplayChatMessage {
                        message_id,
                        user_id,
                        text,
                        mentions,
                        posted_at,
                    },
                )
                .collect(),
            questions: questions
                .into_iter()
                .map(
                    |Question {
                         question_id,
                         user_id,
                         text,
                         asked_at,
                         answered_at,
                         answered: _,
                     }| ReplayQuestion {
                        question_id,
                        user_id,
                        text,
                        asked_at,
                        answered_at,
                    },
                )
                .collect(),
            hands: hands
                .into_iter()
                .map(|Hand { user_id, raised_at }| ReplayHand { user_id, raised_at })
                .collect(),
        }
    }
}

impl From<livesurgery_domain::replay::SessionView> for Replay {
    fn from(v: livesurgery_domain::replay::SessionView) -> Replay {
        use livesurgery_domain::events::MediaKind;
        use livesurgery_domain::replay::{
            LayoutView, MediaSourceView, MediaView, MemberView, ParticipantView, RecordingView,
            SessionView, SubscriberView, TrackView,
        };
        use livesurgery_domain::session::{RecordingStatus, SessionStatus as DomainStatus};
        let SessionView {
            session_id,
            status,
            title,
            procedure,
            scheduled_start,
            members,
            participants,
            layout: LayoutView { version, panels },
            sources,
            recording:
                RecordingView {
                    state,
                    recording_id,
                },
            media:
                MediaView {
                    sources: published,
                    subscribers,
                },
            teaching,
            at,
            last_position,
            last_version,
            last_recorded_at,
        } = v;
        let track = |TrackView { kind, codec, mid }: TrackView| ReplayTrack {
            kind: match kind {
                MediaKind::Audio => "audio",
                MediaKind::Video => "video",
            }
            .to_owned(),
            codec,
            mid,
        };
        Replay {
            session_id,
            status: status.map(|s| match s {
                DomainStatus::Scheduled => Status::Scheduled,
                DomainStatus::Live => Status::Live,
                DomainStatus::Ended => Status::Ended,
                DomainStatus::Cancelled => Status::Cancelled,
            }),
            title,
            procedure,
            scheduled_start,
            members: members
                .into_iter()
                .map(|MemberView { user_id, role }| ReplayMember {
                    user_id,
                    role: role.into(),
                })
                .collect(),
            participants: participants
                .into_iter()
                .map(
                    |ParticipantView {
                         participant_id,
                         user_id,
                         role,
                         device,
                         joined_at,
                     }| ReplayParticipant {
                        participant_id,
                        user_id,
                        role: role.into(),
                        device,
                        joined_at,
                    },
                )
                .collect(),
            layout: ReplayLayout {
                version,
                panels: panels.into_iter().map(Panel::from).collect(),
            },
            sources,
            recording: ReplayRecording {
                state: match state {
                    RecordingStatus::Idle => Recording::Idle,
                    RecordingStatus::Requested => Recording::Requested,
                    RecordingStatus::Recording => Recording::Recording,
                    RecordingStatus::Stopped => Recording::Stopped,
                },
                recording_id,
            },
            media: ReplayMedia {
                sources: published
                    .into_iter()
                    .map(
                        |MediaSourceView {
                             source,
                             resource_id,
                             participant_id: _,
                             user_id,
                             tracks,
                             stalled,
                         }| ReplaySource {
                            source,
                            resource_id,
                            user_id,
                            tracks: tracks.into_iter().map(track).collect(),
                            stalled,
                        },
                    )
                    .collect(),
                subscribers: subscribers
                    .into_iter()
                    .map(
                        |SubscriberView {
                             resource_id,
                             user_id,
                             participant_id,
                             slots,
                         }| ReplaySubscriber {
                            resource_id,
                            user_id,
                            participant_id,
                            slots,
                        },
                    )
                    .collect(),
            },
            teaching: teaching.into(),
            at,
            last_position,
            last_version,
            last_recorded_at,
        }
    }
}
