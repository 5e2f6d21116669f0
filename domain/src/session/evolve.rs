//! The session's fold: what the events say, recorded without checking any rule.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::events::Event;
use crate::layout::LayoutState;

use crate::events::ArchiveStatus;

use super::{
    ArchiveState, MediaPlacement, Presence, RecordingState, RecordingStatus, SessionState,
    SessionStatus,
};

/// Folds one event into the state. Events of other aggregates, or of another session, are
/// ignored. No rule is checked here: the log is the truth.
///
/// Without the envelope, the teaching part's times (`drawn_at`, `posted_at`, …) stay unknown:
/// the rules never read them. Readers that show them fold with [`evolve_recorded`].
pub fn evolve(state: SessionState, event: &Event) -> SessionState {
    evolve_at(state, event, None)
}

/// [`evolve`], with the event's envelope time (`recorded_at`), which the teaching part keeps
/// for display (when a stroke was drawn, so it fades; when a message was posted).
pub fn evolve_recorded(
    state: SessionState,
    event: &Event,
    recorded_at: DateTime<Utc>,
) -> SessionState {
    evolve_at(state, event, Some(recorded_at))
}

fn evolve_at(
    mut state: SessionState,
    event: &Event,
    recorded_at: Option<DateTime<Utc>>,
) -> SessionState {
    if let (Some(id), Some(event_session)) = (state.session_id, session_id_of(event))
        && id != event_session
    {
        return state;
    }
    match event {
        Event::SessionCreated(e) => {
            state.session_id = Some(e.session_id);
            state.status = Some(SessionStatus::Scheduled);
            state.title = e.title.clone();
            state.procedure = e.procedure.clone();
            state.scheduled_start = e.scheduled_start;
            state.created_by = Some(e.created_by);
        }
        Event::SessionDetailsChanged(e) => {
            if let Some(title) = &e.title {
                state.title = title.clone();
            }
            if let Some(procedure) = &e.procedure {
                state.procedure = procedure.clone();
            }
            if let Some(scheduled_start) = e.scheduled_start {
                state.scheduled_start = scheduled_start;
            }
        }
        Event::SessionStarted(_) => state.status = Some(SessionStatus::Live),
        Event::SessionEnded(_) => state.status = Some(SessionStatus::Ended),
        Event::SessionCancelled(_) => state.status = Some(SessionStatus::Cancelled),
        Event::MemberAdded(e) => {
            state.members.insert(e.user_id, e.role);
        }
        Event::MemberRoleChanged(e) => {
            state.members.insert(e.user_id, e.to);
        }
        Event::MemberRemoved(e) => {
            state.members.remove(&e.user_id);
            state.teaching.apply(event, recorded_at);
        }
        Event::ParticipantJoined(e) => {
            state.participants.insert(
                e.participant_id,
                Presence {
                    user_id: e.user_id,
                    role: e.role,
                    device: e.device.clone(),
                },
            );
        }
        Event::ParticipantLeft(e) => {
            state.participants.remove(&e.participant_id);
        }
        Event::LayoutInitialized(e) => {
            state.layout = LayoutState {
                version: e.version,
                panels: e.panels.clone(),
                ..LayoutState::default()
            };
        }
        Event::LayoutUpdated(e) => state.layout.apply_updated(e),
        Event::SourceSelected(e) => state.layout.apply_source_selected(e),
        Event::RecordingRequested(e) => {
            state.recording = RecordingState {
                status: RecordingStatus::Requested,
                recording_id: Some(e.recording_id),
            };
        }
        Event::RecordingStarted(e) => {
            state.recording = RecordingState {
                status: RecordingStatus::Recording,
                recording_id: Some(e.recording_id),
            };
        }
        Event::RecordingStopped(e) => {
            state.recording = RecordingState {
                status: RecordingStatus::Stopped,
                recording_id: Some(e.recording_id),
            };
        }
        Event::ArchiveOpened(e) => {
            state.archives.insert(
                e.archive_id,
                ArchiveState {
                    recording_id: e.recording_id,
                    source: e.source.clone(),
                    status: ArchiveStatus::Recording,
                    expires_at: e.expires_at,
                    legal_hold: false,
                },
            );
        }
        Event::ArchiveClosed(e) => {
            if let Some(archive) = state.archives.get_mut(&e.archive_id) {
                archive.status = ArchiveStatus::Processing;
            }
        }
        Event::ArchiveFinalised(e) => {
            if let Some(archive) = state.archives.get_mut(&e.archive_id) {
                archive.status = e.status;
            }
        }
        Event::ArchiveRetentionChanged(e) => {
            if let Some(archive) = state.archives.get_mut(&e.archive_id) {
                archive.expires_at = e.expires_at;
                archive.legal_hold = e.legal_hold;
            }
        }
        Event::ArchiveExpired(e) => {
            if let Some(archive) = state.archives.get_mut(&e.archive_id) {
                archive.status = ArchiveStatus::Expired;
            }
        }
        Event::MediaPlaced(e) => {
            state.media = Some(MediaPlacement {
                node_id: e.node_id.clone(),
                url: e.url.clone(),
            });
        }
        Event::AnnotationStroke(_)
        | Event::AnnotationCleared(_)
        | Event::PointerMoved(_)
        | Event::ChatMessagePosted(_)
        | Event::QuestionAsked(_)
        | Event::QuestionAnswered(_)
        | Event::HandRaised(_)
        | Event::HandLowered(_)
        | Event::TeachingSettingsChanged(_) => state.teaching.apply(event, recorded_at),
        // Media facts are the SFU's record, not the session's state: no command depends on them
        // (the replay view folds them itself).
        Event::PublisherConnected(_)
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
        | Event::SegmentStored(_)
        | Event::RecordingOverrun(_)
        | Event::ArchiveAccessed(_)
        | Event::UserRegistered(_)
        | Event::UserRoleChanged(_)
        | Event::UserDisplayNameChanged(_)
        | Event::UserDeactivated(_)
        | Event::UserReactivated(_)
        | Event::AccessDenied(_)
        | Event::AuditTrailRead(_)
        | Event::RefreshTokenReused(_)
        | Event::SignInThrottled(_) => {}
    }
    state
}

/// The session an event belongs to, if it is a session event. An access event that names a
/// session (`AccessDenied`, `AuditTrailRead`) is not: it lives on the user's access stream.
pub fn session_id_of(event: &Event) -> Option<Uuid> {
    Some(match event {
        Event::SessionCreated(e) => e.session_id,
        Event::SessionDetailsChanged(e) => e.session_id,
        Event::SessionStarted(e) => e.session_id,
        Event::SessionEnded(e) => e.session_id,
        Event::SessionCancelled(e) => e.session_id,
        Event::MemberAdded(e) => e.session_id,
        Event::MemberRoleChanged(e) => e.session_id,
        Event::MemberRemoved(e) => e.session_id,
        Event::ParticipantJoined(e) => e.session_id,
        Event::ParticipantLeft(e) => e.session_id,
        Event::LayoutInitialized(e) => e.session_id,
        Event::LayoutUpdated(e) => e.session_id,
        Event::SourceSelected(e) => e.session_id,
        Event::RecordingRequested(e) => e.session_id,
        Event::RecordingStarted(e) => e.session_id,
        Event::RecordingStopped(e) => e.session_id,
        Event::ArchiveOpened(e) => e.session_id,
        Event::SegmentStored(e) => e.session_id,
        Event::RecordingOverrun(e) => e.session_id,
        Event::ArchiveClosed(e) => e.session_id,
        Event::ArchiveFinalised(e) => e.session_id,
        Event::ArchiveAccessed(e) => e.session_id,
        Event::ArchiveRetentionChanged(e) => e.session_id,
        Event::ArchiveExpired(e) => e.session_id,
        Event::PublisherConnected(e) => e.session_id,
        Event::PublisherDisconnected(e) => e.session_id,
        Event::TrackPublished(e) => e.session_id,
        Event::TrackUnpublished(e) => e.session_id,
        Event::SubscriberConnected(e) => e.session_id,
        Event::SubscriberDisconnected(e) => e.session_id,
        Event::SubscriptionChanged(e) => e.session_id,
        Event::KeyframeRequested(e) => e.session_id,
        Event::FirstFrameDelivered(e) => e.session_id,
        Event::FirstFrameDecoded(e) => e.session_id,
        Event::MediaQualitySampled(e) => e.session_id,
        Event::SourceStalled(e) => e.session_id,
        Event::SourceResumed(e) => e.session_id,
        Event::MediaPlaced(e) => e.session_id,
        Event::AnnotationStroke(e) => e.session_id,
        Event::AnnotationCleared(e) => e.session_id,
        Event::PointerMoved(e) => e.session_id,
        Event::ChatMessagePosted(e) => e.session_id,
        Event::QuestionAsked(e) => e.session_id,
        Event::QuestionAnswered(e) => e.session_id,
        Event::HandRaised(e) => e.session_id,
        Event::HandLowered(e) => e.session_id,
        Event::TeachingSettingsChanged(e) => e.session_id,
        Event::UserRegistered(_)
        | Event::UserRoleChanged(_)
        | Event::UserDisplayNameChanged(_)
        | Event::UserDeactivated(_)
        | Event::UserReactivated(_)
        | Event::AccessDenied(_)
        | Event::AuditTrailRead(_)
        | Event::RefreshTokenReused(_)
        | Event::SignInThrottled(_) => return None,
    })
}

/// Folds a whole stream from the empty state.
pub fn fold<'a>(events: impl IntoIterator<Item = &'a Event>) -> SessionState {
    events.into_iter().fold(SessionState::default(), evolve)
}
