//! Replaying a session as it was at a point in time: what `livesurgery replay --session ID --at T`
//! prints, and what a compliance reviewer reads.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use crate::envelope::RecordedEvent;
use crate::events::{Event, Panel, UnknownEvent};
use crate::roles::SessionRole;
use crate::session::{self, RecordingStatus, SessionState, SessionStatus};

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

/// A session as it was at a point in time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
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
    /// The view of a folded state; `joined_at` gives each present participant's join time.
    pub fn from_state(
        state: &SessionState,
        joined_at: &BTreeMap<Uuid, DateTime<Utc>>,
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
            at: None,
            last_position: 0,
            last_version: 0,
            last_recorded_at: None,
        }
    }
}

/// Folds a session stream's events (in stream order) recorded at or before `at` (all when
/// `None`) into the view of the session at that time. Fails on an event this build cannot read.
pub fn replay_session(
    events: &[RecordedEvent],
    at: Option<DateTime<Utc>>,
) -> Result<SessionView, UnknownEvent> {
    let mut state = SessionState::default();
    let mut joined_at = BTreeMap::new();
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
        state = session::evolve(state, &event);
        last = Some(recorded);
    }
    joined_at.retain(|id, _| state.participants.contains_key(id));
    let mut view = SessionView::from_state(&state, &joined_at);
    view.at = at;
    if let Some(last) = last {
        view.last_position = last.position;
        view.last_version = last.version;
        view.last_recorded_at = Some(last.recorded_at);
    }
    Ok(view)
}
