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
            at,
            last_position,
            last_version,
            last_recorded_at,
        }
    }
}
