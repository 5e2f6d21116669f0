//! Replaying a session as it was at a point in time: what `livesurgery replay --session ID --at T`
//! prints, and what a compliance reviewer reads.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use crate::envelope::RecordedEvent;
use crate::events::{Event, MediaKind, Panel, UnknownEvent};
use crate::roles::SessionRole;
use crate::session::{self, RecordingStatus, SessionState, SessionStatus};
use crate::teaching::TeachingView;

/// The most video slots a replayed subscriber shows (the SFU allows far fewer; older logs may
/// hold more than it now allows, but not this many).
pub const MAX_REPLAYED_SLOTS: usize = 1024;

/// A member and their session role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MemberView {
    pub user_id: Uuid,
    pub role: SessionRole,
}

/// A participant present at the replayed time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ParticipantView {
    pub participant_id: Uuid,
    pub user_id: Uuid,
    /// The session role they joined with.
    pub role: SessionRole,
    pub device: Option<String>,
    /// When they joined (the `recorded_at` of their `ParticipantJoined`).
    pub joined_at: Option<DateTime<Utc>>,
}

/// The layout at the replayed time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LayoutView {
    pub version: u64,
    pub panels: Vec<Panel>,
}

/// The recording at the replayed time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecordingView {
    pub state: RecordingStatus,
    pub recording_id: Option<Uuid>,
}

/// One track of a published source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TrackView {
    pub kind: MediaKind,
    pub codec: String,
    pub mid: String,
}

/// A source being published at the replayed time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MediaSourceView {
    pub source: String,
    /// The publisher's WHIP resource.
    pub resource_id: Uuid,
    pub participant_id: Uuid,
    pub user_id: Uuid,
    /// Its tracks, in publish order.
    pub tracks: Vec<TrackView>,
    /// Its video stopped arriving (`SourceStalled`) and has not resumed.
    pub stalled: bool,
}

/// A subscriber connected at the replayed time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SubscriberView {
    /// The subscriber's WHEP resource.
    pub resource_id: Uuid,
    pub user_id: Uuid,
    pub participant_id: Uuid,
    /// The source each video slot shows, in slot order (`None`: nothing).
    pub slots: Vec<Option<String>>,
}

/// The media at the replayed time, folded from the SFU's events (which the session aggregate
/// ignores).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct MediaView {
    /// In publish order.
    pub sources: Vec<MediaSourceView>,
    /// In connection order.
    pub subscribers: Vec<SubscriberView>,
}

impl MediaView {
    /// Folds one event of the session's stream; any other event changes nothing.
    ///
    /// The session's end clears everything: no media flows in an ended session, although the
    /// SFU appends its disconnects just after `SessionEnded` (or never, if it crashed).
    pub fn apply(&mut self, event: &Event) {
        match event {
            Event::PublisherConnected(e) => {
                self.sources.retain(|s| s.resource_id != e.resource_id);
                self.sources.push(MediaSourceView {
                    source: e.source.clone(),
                    resource_id: e.resource_id,
                    participant_id: e.participant_id,
                    user_id: e.user_id,
                    tracks: Vec::new(),
                    stalled: false,
                });
            }
            Event::PublisherDisconnected(e) => {
                self.sources.retain(|s| s.resource_id != e.resource_id);
            }
            Event::TrackPublished(e) => {
                if let Some(source) = self.source_mut(e.resource_id) {
                    let track = TrackView {
                        kind: e.kind,
                        codec: e.codec.clone(),
                        mid: e.mid.clone(),
                    };
                    match source.tracks.iter_mut().find(|t| t.mid == e.mid) {
                        Some(known) => *known = track,
                        None => source.tracks.push(track),
                    }
                }
            }
            Event::TrackUnpublished(e) => {
                if let Some(source) = self.source_mut(e.resource_id) {
                    source.tracks.retain(|t| t.mid != e.mid);
                }
            }
            Event::SourceStalled(e) => {
                if let Some(source) = self.source_mut(e.resource_id) {
                    source.stalled = true;
                }
            }
            Event::SourceResumed(e) => {
                if let Some(source) = self.source_mut(e.resource_id) {
                    source.stalled = false;
                }
            }
            Event::SubscriberConnected(e) => {
                self.subscribers.retain(|s| s.resource_id != e.resource_id);
                self.subscribers.push(SubscriberView {
                    resource_id: e.resource_id,
                    user_id: e.user_id,
                    participant_id: e.participant_id,
                    // The count comes from the log: a tampered or corrupt row must not make
                    // a replay allocate gigabytes and abort; no real offer has this many.
                    slots: vec![None; (e.video_slots as usize).min(MAX_REPLAYED_SLOTS)],
                });
            }
            Event::SubscriptionChanged(e) => {
                if let Some(subscriber) = self
                    .subscribers
                    .iter_mut()
                    .find(|s| s.resource_id == e.resource_id)
                {
                    subscriber.slots = e.slots.clone();
                }
            }
            Event::SubscriberDisconnected(e) => {
                self.subscribers.retain(|s| s.resource_id != e.resource_id);
            }
            Event::SessionEnded(_) | Event::SessionCancelled(_) => *self = MediaView::default(),
            _ => {}
        }
    }

    fn source_mut(&mut self, resource_id: Uuid) -> Option<&mut MediaSourceView> {
        self.sources
            .iter_mut()
            .find(|s| s.resource_id == resource_id)
    }
}

/// A session as it was at a point in time.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SessionView {
    pub session_id: Option<Uuid>,
    /// `None` if the session did not exist yet at that time.
    pub status: Option<SessionStatus>,
    pub title: String,
    pub procedure: Option<String>,
    pub scheduled_start: Option<DateTime<Utc>>,
    pub members: Vec<MemberView>,
    pub participants: Vec<ParticipantView>,
    pub layout: LayoutView,
    /// Panel id -> the source it shows (`None`: nothing).
    pub sources: BTreeMap<String, Option<String>>,
    pub recording: RecordingView,
    /// Sources published and subscribers connected.
    pub media: MediaView,
    /// Strokes shown (faded ones left out), chat, questions, raised hands and the switches.
    pub teaching: TeachingView,
    /// The time replayed to (`None`: the end of the log).
    pub at: Option<DateTime<Utc>>,
    /// Global position of the last event folded (0: none).
    pub last_position: u64,
    /// Stream version of the last event folded (0: none).
    pub last_version: u64,
    /// When the last event folded was recorded.
    pub last_recorded_at: Option<DateTime<Utc>>,
}

impl SessionView {
    /// The view of a folded state; `joined_at` gives each present participant's join time, and
    /// strokes faded by `now` are left out (`None`: none are).
    pub fn from_state(
        state: &SessionState,
        joined_at: &BTreeMap<Uuid, DateTime<Utc>>,
        now: Option<DateTime<Utc>>,
    ) -> SessionView {
        SessionView {
            session_id: state.session_id,
            status: state.status,
            title: state.title.clone(),
            procedure: state.procedure.clone(),
            scheduled_start: state.scheduled_start,
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
                .map(|(participant_id, p)| ParticipantView {
                    participant_id: *participant_id,
                    user_id: p.user_id,
                    role: p.role,
                    device: p.device.clone(),
                    joined_at: joined_at.get(participant_id).copied(),
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
                .map(|p| (p.id.clone(), p.source_id.clone()))
                .collect(),
            recording: RecordingView {
                state: state.recording.status,
                recording_id: state.recording.recording_id,
            },
            media: MediaView::default(),
            teaching: state.teaching.view(now),
            at: None,
            last_position: 0,
            last_version: 0,
            last_recorded_at: None,
        }
    }
}

/// Folds a session stream's events (in stream order) recorded at or before `at` (all when
/// `None`) into the view of the session at that time. Fails on an event this build cannot read.
///
/// Strokes are shown as they were at `at`, or, replaying to the end, at the last event's time
/// (the replay has no clock): unpinned ones older than the fade time then are left out.
pub fn replay_session(
    events: &[RecordedEvent],
    at: Option<DateTime<Utc>>,
) -> Result<SessionView, UnknownEvent> {
    let mut state = SessionState::default();
    let mut joined_at = BTreeMap::new();
    let mut media = MediaView::default();
    let mut last: Option<&RecordedEvent> = None;
    for recorded in events
        .iter()
        .filter(|e| at.is_none_or(|at| e.recorded_at <= at))
    {
        let event = Event::from_stored(
            &recorded.event_type,
            recorded.schema_version,
            &recorded.data,
        )?;
        if let Event::ParticipantJoined(e) = &event {
            joined_at.insert(e.participant_id, recorded.recorded_at);
        }
        media.apply(&event);
        state = session::evolve_recorded(state, &event, recorded.recorded_at);
        last = Some(recorded);
    }
    joined_at.retain(|id, _| state.participants.contains_key(id));
    let now = at.or(last.map(|e| e.recorded_at));
    let mut view = SessionView::from_state(&state, &joined_at, now);
    view.media = media;
    view.at = at;
    if let Some(last) = last {
        view.last_position = last.position;
        view.last_version = last.version;
        view.last_recorded_at = Some(last.recorded_at);
    }
    Ok(view)
}
